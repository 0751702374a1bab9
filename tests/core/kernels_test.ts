/**
 * The wasm training kernels (core/kernels) checked against the cpu backend:
 * conv2d filter/input gradients over shapes, strides, paddings; Tile;
 * Mean/Sum gradients; whole training steps of small-cnn/resnet-like models;
 * no leaked tensors or heap buffers.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  batchMatMulWasmConfig,
  conv2DBackpropFilterWasmConfig,
  conv2DBackpropInputWasmConfig,
  maxPoolGradWasmConfig,
  meanGradWasmConfig,
  registerWasmTrainingKernels,
  sumGradWasmConfig,
  tileWasmConfig,
} from "../../core/kernels/mod.ts";
import { simplifyTile } from "../../core/kernels/tile.ts";
import { type BenchModel, type BnMode, lossOf, resnetMini, seededValues, smallCnn } from "../../bench/kernels_bench.ts";

// Registered before the wasm backend initialises (the "before setBackend"
// path); calling twice checks idempotence.
registerWasmTrainingKernels();
registerWasmTrainingKernels();

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];

/** Runs `fn` in a tidy on `backend`, returns its outputs' data. */
async function on(
  backend: "cpu" | "wasm",
  fn: () => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const data = await Promise.all(
    outs.map(async (t) => Float32Array.from(await t.data())),
  );
  tf.dispose(outs);
  return data;
}

/** max |a-b| / max(1, max |a|) < tol for each pair of outputs. */
function assertClose(
  ref: Float32Array[],
  got: Float32Array[],
  label: string,
  tol = 1e-4,
): void {
  assert.equal(got.length, ref.length, `${label}: output count`);
  ref.forEach((r, k) => {
    const g = got[k];
    assert.equal(g.length, r.length, `${label}[${k}]: size`);
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < r.length; i++) {
      scale = Math.max(scale, Math.abs(r[i]));
      const d = Math.abs(r[i] - g[i]);
      diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    }
    assert.ok(
      diff / scale < tol,
      `${label}[${k}]: max diff ${diff} (scale ${scale})`,
    );
  });
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** dL/dx and dL/dW of sum(conv2d(x, W) * r) with a fixed random r. */
function convGrads(
  xs: Shape4,
  ws: Shape4,
  strides: number | [number, number],
  pad: Pad,
  seed: number,
  roundingMode?: "floor" | "round" | "ceil",
): () => tf.Tensor[] {
  const xv = seededValues(size(xs), seed);
  const wv = seededValues(size(ws), seed + 1);
  return () => {
    const x = tf.tensor4d(xv, xs);
    const w = tf.tensor4d(wv, ws);
    const yShape = tf.conv2d(x, w, strides, pad, "NHWC", 1, roundingMode)
      .shape;
    const r = tf.tensor(seededValues(size(yShape), seed + 2), yShape);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.conv2d(
            a as tf.Tensor4D,
            b as tf.Tensor4D,
            strides,
            pad,
            "NHWC",
            1,
            roundingMode,
          ),
          r,
        ),
      );
    return tf.grads(f)([x, w]);
  };
}

interface ConvCase {
  x: Shape4;
  w: Shape4;
  s: number | [number, number];
  pad: Pad;
  round?: "floor" | "round" | "ceil";
}

const CONV_CASES: ConvCase[] = [
  { x: [1, 5, 5, 1], w: [3, 3, 1, 1], s: 1, pad: "same" },
  { x: [2, 7, 7, 3], w: [3, 3, 3, 4], s: 1, pad: "same" },
  { x: [2, 7, 7, 3], w: [3, 3, 3, 4], s: 1, pad: "valid" },
  { x: [2, 7, 7, 3], w: [3, 3, 3, 4], s: 2, pad: "same" },
  { x: [3, 8, 9, 2], w: [3, 3, 2, 5], s: 2, pad: "valid" },
  { x: [2, 9, 9, 2], w: [3, 3, 2, 3], s: 3, pad: "same" },
  { x: [2, 10, 11, 2], w: [2, 2, 2, 3], s: 3, pad: "valid" },
  { x: [1, 11, 13, 2], w: [5, 3, 2, 3], s: [2, 1], pad: "same" },
  { x: [2, 9, 7, 3], w: [3, 2, 3, 4], s: [1, 3], pad: "valid" },
  { x: [2, 9, 7, 3], w: [4, 4, 3, 2], s: [3, 2], pad: "same" },
  { x: [3, 9, 9, 1], w: [1, 1, 1, 4], s: 2, pad: "same" },
  { x: [2, 8, 8, 4], w: [1, 1, 4, 3], s: 1, pad: "valid" },
  { x: [1, 4, 4, 2], w: [5, 5, 2, 2], s: 1, pad: "same" },
  { x: [2, 6, 7, 3], w: [3, 3, 3, 2], s: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 8, 8, 2], w: [3, 3, 2, 2], s: 2, pad: [[0, 0], [2, 1], [1, 1], [0, 0]] },
  { x: [2, 9, 9, 2], w: [3, 3, 2, 3], s: 2, pad: 1 },
  { x: [2, 10, 10, 2], w: [3, 3, 2, 3], s: 3, pad: 1, round: "floor" },
  // Padding larger than the filter: input gradient uses the stock fallback.
  { x: [1, 4, 4, 2], w: [2, 2, 2, 3], s: 1, pad: [[0, 0], [3, 3], [2, 2], [0, 0]] },
  { x: [4, 28, 28, 16], w: [3, 3, 16, 32], s: 2, pad: "same" },
  // 1×1 kernels with many channels (resnet shortcuts): the patch-matrix path
  { x: [2, 9, 9, 32], w: [1, 1, 32, 8], s: 2, pad: "same" },
  { x: [3, 6, 7, 30], w: [1, 1, 30, 5], s: 1, pad: "valid" },
];

Deno.test("registerWasmTrainingKernels installs every kernel once", () => {
  for (
    const k of [
      conv2DBackpropFilterWasmConfig,
      conv2DBackpropInputWasmConfig,
      tileWasmConfig,
      maxPoolGradWasmConfig,
      batchMatMulWasmConfig,
    ]
  ) {
    assert.equal(tf.getKernel(k.kernelName, "wasm"), k);
  }
  assert.equal(tf.getGradient("Mean"), meanGradWasmConfig);
  assert.equal(tf.getGradient("Sum"), sumGradWasmConfig);
});

Deno.test("conv2d gradients match cpu", async (t) => {
  let i = 0;
  for (const c of CONV_CASES) {
    const name = `x${c.x} w${c.w} s${c.s} pad ${JSON.stringify(c.pad)}`;
    const seed = 100 + 10 * i++;
    await t.step(name, async () => {
      const fn = convGrads(c.x, c.w, c.s, c.pad, seed, c.round);
      assertClose(await on("cpu", fn), await on("wasm", fn), name);
    });
  }
});

Deno.test("Conv2DBackpropFilter rejects NCHW with a clear error", async () => {
  await tf.setBackend("wasm");
  const x = tf.zeros([1, 2, 4, 4]);
  const dy = tf.zeros([1, 2, 4, 4]);
  assert.throws(
    () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NCHW",
        filterShape: [3, 3, 2, 2],
      }),
    /NHWC/,
  );
  tf.dispose([x, dy]);
});

Deno.test("conv2d gradients match cpu on random shapes", async () => {
  const arb = fc.record({
    n: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 12 }),
    w: fc.integer({ min: 1, max: 12 }),
    ci: fc.integer({ min: 1, max: 6 }),
    co: fc.integer({ min: 1, max: 6 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    same: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 20 }),
  }).filter((p) => p.same || (p.kh <= p.h && p.kw <= p.w));
  await fc.assert(
    fc.asyncProperty(arb, async (p) => {
      const fn = convGrads(
        [p.n, p.h, p.w, p.ci],
        [p.kh, p.kw, p.ci, p.co],
        [p.sh, p.sw],
        p.same ? "same" : "valid",
        p.seed,
      );
      assertClose(await on("cpu", fn), await on("wasm", fn), JSON.stringify(p));
    }),
    { numRuns: 150, seed: 42 },
  );
});

/** dL/dx of sum(maxPool(x) * r), with x quantised to sevenths so that ties inside a window are common. */
const maxPoolGrad = (
  xs: Shape4,
  filter: number | [number, number],
  stride: number | [number, number],
  pad: "same" | "valid" | number,
  seed: number,
) =>
() => {
  const x = tf.tensor4d(seededValues(size(xs), seed).map((v) => Math.round(v * 3) / 7), xs);
  const f = (a: tf.Tensor) => {
    const y = tf.maxPool(a as tf.Tensor4D, filter, stride, pad);
    return tf.sum(tf.mul(y, tf.tensor(seededValues(size(y.shape), seed + 1), y.shape)));
  };
  return [tf.grad(f)(x)];
};

Deno.test("MaxPoolGrad matches cpu (ties in windows, exact 2×2 tiling and the general path)", async (t) => {
  const cases: Array<[Shape4, number | [number, number], number | [number, number], "same" | "valid" | number]> = [
    [[2, 8, 8, 3], 2, 2, "valid"], // the 2×2 fast path
    [[3, 28, 28, 16], 2, 2, "valid"], // small-cnn's first pooling
    [[2, 7, 7, 3], 2, 2, "valid"], // odd size: last row/column in no window
    [[2, 7, 9, 2], 2, 2, "same"], // padded
    [[2, 9, 9, 3], 3, 2, "same"], // overlapping windows
    [[1, 6, 6, 4], 3, 1, "valid"],
    [[2, 8, 10, 2], [2, 3], [2, 3], "valid"],
    [[1, 5, 5, 1], 2, 1, 1],
  ];
  for (const [xs, f, s, pad] of cases) {
    await t.step(`${xs} filter ${f} stride ${s} ${pad}`, async () => {
      const fn = maxPoolGrad(xs, f, s, pad, size(xs));
      assertClose(await on("cpu", fn), await on("wasm", fn), "maxPoolGrad", 1e-6);
    });
  }
  await t.step("random shapes", async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 2, max: 10 }),
      w: fc.integer({ min: 2, max: 10 }),
      c: fc.integer({ min: 1, max: 5 }),
      f: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 3 }),
      same: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    }).filter((p) => p.f <= p.h && p.f <= p.w);
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const fn = maxPoolGrad([p.n, p.h, p.w, p.c], p.f, p.s, p.same ? "same" : "valid", p.seed);
        assertClose(await on("cpu", fn), await on("wasm", fn), JSON.stringify(p), 1e-6);
      }),
      { numRuns: 80, seed: 11 },
    );
  });
});

Deno.test("BatchMatMul with transposed operands matches cpu (2-D and batched)", async () => {
  const arb = fc.record({
    batch: fc.constantFrom<number[]>([], [2], [3, 2]),
    m: fc.integer({ min: 1, max: 40 }),
    k: fc.integer({ min: 1, max: 70 }),
    n: fc.integer({ min: 1, max: 30 }),
    ta: fc.boolean(),
    tb: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 20 }),
  });
  await fc.assert(
    fc.asyncProperty(arb, async (p) => {
      const as = [...p.batch, ...(p.ta ? [p.k, p.m] : [p.m, p.k])];
      const bs = [...p.batch, ...(p.tb ? [p.n, p.k] : [p.k, p.n])];
      const fn = () => [
        tf.matMul(
          tf.tensor(seededValues(size(as), p.seed), as),
          tf.tensor(seededValues(size(bs), p.seed + 1), bs),
          p.ta,
          p.tb,
        ),
      ];
      assertClose(await on("cpu", fn), await on("wasm", fn), JSON.stringify(p), 1e-5);
    }),
    { numRuns: 80, seed: 5 },
  );
});

Deno.test("Tile matches cpu", async (t) => {
  const cases: [number[], number[], "float32" | "int32" | "bool"][] = [
    [[5], [3], "float32"],
    [[1, 1, 1, 16], [8, 7, 7, 1], "float32"],
    [[8, 7, 7, 1], [1, 1, 1, 16], "float32"],
    [[2, 3], [2, 3], "int32"],
    [[2, 1, 3], [1, 4, 1], "bool"],
    [[3, 1, 2, 1, 2], [2, 3, 1, 2, 5], "float32"],
    [[4, 5], [1, 1], "float32"],
    [[1, 1], [3, 4], "int32"],
    [[2, 0, 3], [2, 2, 2], "float32"],
  ];
  for (const [shape, reps, dtype] of cases) {
    await t.step(`${shape} × ${reps} ${dtype}`, async () => {
      const v = Array.from(
        seededValues(size(shape), size(shape) + 3),
        (x) => dtype === "bool" ? (x > 0 ? 1 : 0) : Math.round(x * 100),
      );
      const fn = () => [tf.cast(tf.tile(tf.tensor(v, shape, dtype), reps), "float32")];
      assertClose(await on("cpu", fn), await on("wasm", fn), "tile", 1e-7);
    });
  }
  await t.step("random shapes", async () => {
    const arb = fc.integer({ min: 1, max: 5 }).chain((rank) =>
      fc.tuple(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: rank, maxLength: rank }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: rank, maxLength: rank }),
      )
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, reps]) => {
        const v = seededValues(size(shape), 9);
        const fn = () => [tf.tile(tf.tensor(v, shape), reps)];
        assertClose(await on("cpu", fn), await on("wasm", fn), "tile", 1e-7);
      }),
      { numRuns: 60, seed: 7 },
    );
  });
  await t.step("simplifyTile merges dims", () => {
    const s = simplifyTile([1, 1, 1, 16], [8, 7, 7, 1]);
    assert.deepEqual(s, { shape: [16], reps: [392] });
  });
});

Deno.test("Sum matches cpu (pooled and fallback paths)", async (t) => {
  const cases: [number[], number | number[], boolean][] = [
    [[4, 6, 5, 3], [0, 1, 2], false],
    [[4, 6, 5, 3], [0, 1, 2], true],
    [[4, 6, 5, 3], [1, 2], false],
    [[4, 6, 5, 3], [-3, -2], true],
    [[7, 10], 0, false],
    [[2, 3, 4], 1, true],
    [[2, 3, 4], [2], false], // last axis: stock kernel
    [[2, 3, 4], [0, 2], false], // not contiguous: stock kernel
    [[3, 4, 5], [0, 1, 2], false],
    [[8, 28, 28, 16], [0, 1, 2], false],
  ];
  for (const [shape, axis, keepDims] of cases) {
    await t.step(`${shape} axis ${axis} keepDims ${keepDims}`, async () => {
      const v = seededValues(size(shape), size(shape));
      const fn = () => {
        const x = tf.tensor(v, shape);
        return [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)];
      };
      const ref = await on("cpu", fn);
      const got = await on("wasm", fn);
      assertClose(ref, got, "sum/mean", 1e-5);
    });
  }
  await t.step("int32 uses the stock kernel", async () => {
    const fn = () => [tf.cast(tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], "int32"), 0), "float32")];
    assertClose(await on("cpu", fn), await on("wasm", fn), "int sum", 1e-7);
  });
});

Deno.test("Mean/Sum/batchNorm gradients match cpu", async () => {
  const shape: Shape4 = [4, 6, 5, 3];
  const xv = seededValues(size(shape), 5);
  const fn = () => {
    const x = tf.tensor4d(xv, shape);
    const r = tf.tensor4d(seededValues(size(shape), 6), shape);
    const gamma = tf.tensor1d([0.5, 1.5, -2]);
    const beta = tf.tensor1d([0.1, 0.2, 0.3]);
    const f = (a: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      const bn = tf.batchNorm(a, mean, variance, beta, gamma, 1e-3);
      return tf.add(
        tf.sum(tf.mul(bn, r)),
        tf.add(tf.sum(tf.mul(tf.sum(a, [1, 2]), 0.5)), tf.sum(tf.mean(a, 3))),
      );
    };
    return [tf.grad(f)(x)];
  };
  assertClose(await on("cpu", fn), await on("wasm", fn), "reduce grads");
});

/** Variable gradients of one training step (fresh, identical init). */
function stepGrads(
  make: () => BenchModel,
  batch: number,
): () => tf.Tensor[] {
  const xv = seededValues(batch * 28 * 28, 3);
  const labels = Array.from({ length: batch }, (_, i) => (i * 3) % 10);
  return () => {
    const model = make();
    const x = tf.tensor4d(xv, [batch, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10).toFloat() as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(
      () => lossOf(model, x, y),
      model.vars,
    );
    const out = [value, ...model.vars.map((v) => grads[v.name])];
    tf.dispose(model.vars);
    return out;
  };
}

Deno.test("training-step gradients match cpu", async (t) => {
  const models: [string, () => BenchModel][] = [
    ["small-cnn", () => smallCnn(3)],
    ["resnet-like (moments BN)", () => resnetMini(5, "ops", [4, 8, 8])],
    [
      "resnet-like (tf.batchNorm)",
      () => resnetMini(5, "batchNorm" as BnMode, [4, 8, 8]),
    ],
    ["resnet-mini (full width)", () => resnetMini(9, "ops")],
  ];
  for (const [name, make] of models) {
    await t.step(name, async () => {
      const fn = stepGrads(make, name.includes("full") ? 4 : 6);
      assertClose(await on("cpu", fn), await on("wasm", fn), name);
    });
  }
});

Deno.test("kernels leak no tensors or wasm buffers", async () => {
  await tf.setBackend("wasm");
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const cases = [CONV_CASES[3], CONV_CASES[9], CONV_CASES[17]];
  const fns = cases.map((c) => convGrads(c.x, c.w, c.s, c.pad, 1));
  const step = stepGrads(() => resnetMini(2, "batchNorm", [4, 8, 8]), 2);
  const run = () =>
    tf.tidy(() => {
      for (const fn of fns) fn();
      step();
      tf.tile(tf.ones([2, 1, 3]), [1, 4, 2]);
    });
  run(); // warm-up (kernel setup, engine scalars)
  const tensors = tf.memory().numTensors;
  const ids = backend.numDataIds();
  run();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(backend.numDataIds(), ids);
});
