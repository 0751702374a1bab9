/**
 * scalpel's SIMD filter-gradient kernel (core/kernels/c/filter_grad.c) against two
 * independent facts: a hand computation that adds each weight's terms one by one in
 * float32, output row by row, column by column, image by image (the kernel must equal
 * it bit for bit), and XNNPACK's conv computing the same gradient (the kernel it
 * replaced; same bits again), plus the cpu backend within rounding.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import fc from "fast-check";
import { registerWasmTrainingKernels } from "../../core/kernels/mod.ts";
import { setFilterGradPath } from "../../core/kernels/conv2d_backprop_filter.ts";
import { type FilterGradGeometry, filterGradSimd, setFilterGradThreads } from "../../core/kernels/filter_grad_simd.ts";
import { seededValues } from "../../bench/kernels_bench.ts";

registerWasmTrainingKernels();

/** dW by the definition, each term rounded to float32 and added in (i, j, n) order; padding terms skipped. */
function byHand(x: Float32Array, dy: Float32Array, g: FilterGradGeometry): Float32Array {
  const out = new Float32Array(g.kh * g.kw * g.ci * g.co);
  for (let a = 0; a < g.kh; a++) {
    for (let b = 0; b < g.kw; b++) {
      for (let c = 0; c < g.ci; c++) {
        for (let o = 0; o < g.co; o++) {
          let acc = 0;
          for (let i = 0; i < g.oh; i++) {
            for (let j = 0; j < g.ow; j++) {
              for (let n = 0; n < g.n; n++) {
                const y = i * g.sh + a - g.top;
                const xx = j * g.sw + b - g.left;
                if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue;
                const term = Math.fround(
                  x[((n * g.h + y) * g.w + xx) * g.ci + c] * dy[((n * g.oh + i) * g.ow + j) * g.co + o],
                );
                acc = Math.fround(acc + term);
              }
            }
          }
          out[((a * g.kw + b) * g.ci + c) * g.co + o] = acc;
        }
      }
    }
  }
  return out;
}

/** Index of the first element where a and b differ bitwise, or -1. */
const firstDifference = (a: Float32Array, b: Float32Array) => {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return ua.length === ub.length ? -1 : ua.length;
};

const geometry = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 10 }),
  w: fc.integer({ min: 1, max: 10 }),
  ci: fc.constantFrom(4, 8, 12),
  co: fc.constantFrom(8, 16, 24),
  kh: fc.integer({ min: 1, max: 4 }),
  kw: fc.integer({ min: 1, max: 4 }),
  sh: fc.integer({ min: 1, max: 3 }),
  sw: fc.integer({ min: 1, max: 3 }),
  pad: fc.constantFrom<"same" | "valid">("same", "valid"),
  seed: fc.integer({ min: 1, max: 1 << 20 }),
}).filter((p) => p.pad === "same" || (p.kh <= p.h && p.kw <= p.w));

Deno.test("the SIMD filter gradient equals the float32 sum in (row, column, image) order, bit for bit", async () => {
  await tf.setBackend("wasm");
  await fc.assert(
    fc.asyncProperty(geometry, (p) => {
      const info = tf.backend_util.computeConv2DInfo(
        [p.n, p.h, p.w, p.ci],
        [p.kh, p.kw, p.ci, p.co],
        [p.sh, p.sw],
        1,
        p.pad,
      );
      const g: FilterGradGeometry = {
        ...p,
        oh: info.outHeight,
        ow: info.outWidth,
        top: info.padInfo.top,
        left: info.padInfo.left,
      };
      const x = seededValues(p.n * p.h * p.w * p.ci, p.seed);
      const dy = seededValues(p.n * g.oh * g.ow * p.co, p.seed + 1);
      const got = new Float32Array(p.kh * p.kw * p.ci * p.co).fill(Number.NaN);
      filterGradSimd(x, dy, got, g);
      const at = firstDifference(got, byHand(x, dy, g));
      assert.equal(at, -1, `${JSON.stringify(p)}: element ${at} differs`);
    }),
    { numRuns: 120, seed: 7 },
  );
});

Deno.test("split with a helper thread, the SIMD filter gradient keeps the same bits", async () => {
  const cases: FilterGradGeometry[] = [
    { n: 4, h: 28, w: 28, ci: 16, oh: 28, ow: 28, co: 16, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, left: 1 },
    { n: 3, h: 14, w: 14, ci: 16, oh: 7, ow: 7, co: 24, kh: 3, kw: 3, sh: 2, sw: 2, top: 0, left: 0 },
    { n: 2, h: 7, w: 7, ci: 64, oh: 7, ow: 7, co: 64, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, left: 1 },
    { n: 2, h: 5, w: 5, ci: 4, oh: 5, ow: 5, co: 8, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, left: 1 }, // one block: no split
  ];
  await setFilterGradThreads(2);
  try {
    for (const g of cases) {
      const x = seededValues(g.n * g.h * g.w * g.ci, 21);
      const dy = seededValues(g.n * g.oh * g.ow * g.co, 22);
      const got = new Float32Array(g.kh * g.kw * g.ci * g.co).fill(Number.NaN);
      filterGradSimd(x, dy, got, g);
      const at = firstDifference(got, byHand(x, dy, g));
      assert.equal(at, -1, `${JSON.stringify(g)}: element ${at} differs`);
    }
  } finally {
    await setFilterGradThreads(1);
  }
});

Deno.test("the wasm Conv2DBackpropFilter gives XNNPACK's conv bits through the SIMD kernel, and cpu's values", async (t) => {
  const cases: Array<[number[], number[], number, "same" | "valid"]> = [
    [[2, 28, 28, 16], [3, 3, 16, 16], 1, "same"], // resnet-mini block 1
    [[2, 28, 28, 16], [3, 3, 16, 32], 2, "same"], // block 2's first conv
    [[3, 7, 7, 64], [3, 3, 64, 64], 1, "same"],
    [[2, 9, 11, 8], [2, 4, 8, 24], 3, "valid"],
  ];
  for (const [xs, fs, s, pad] of cases) {
    await t.step(`x${xs} w${fs} stride ${s} ${pad}`, async () => {
      const run = async (backend: "cpu" | "wasm", path: "simd" | "conv") => {
        await tf.setBackend(backend);
        setFilterGradPath(path);
        const x = tf.tensor4d(seededValues(xs.reduce((a, b) => a * b), 11), xs as [number, number, number, number]);
        const w = tf.zeros(fs as [number, number, number, number]);
        const y = tf.conv2d(x, w as tf.Tensor4D, s, pad);
        const dy = tf.tensor4d(seededValues(y.size, 12), y.shape);
        const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
          strides: s,
          pad,
          dataFormat: "NHWC",
          filterShape: fs,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const data = Float32Array.from(await dw.data());
        tf.dispose([x, w, y, dy, dw]);
        return data;
      };
      const before = tf.memory().numTensors;
      const simd = await run("wasm", "simd");
      const conv = await run("wasm", "conv");
      setFilterGradPath("simd");
      assert.equal(firstDifference(simd, conv), -1, "the SIMD kernel and the conv differ");
      const cpu = await run("cpu", "simd");
      const scale = Math.max(1, ...cpu.map(Math.abs));
      const worst = Math.max(...cpu.map((v, i) => Math.abs(v - simd[i])));
      assert.ok(worst / scale < 1e-5, `against cpu: max difference ${worst} at scale ${scale}`);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
    });
  }
});

Deno.test("the SIMD filter gradient refuses a geometry it does not fit, naming the channels", () => {
  const g = { n: 1, h: 3, w: 3, ci: 3, oh: 3, ow: 3, co: 8, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, left: 1 };
  assert.throws(
    () => filterGradSimd(new Float32Array(27), new Float32Array(72), new Float32Array(216), g),
    /Ci 3, Co 8/,
  );
});
