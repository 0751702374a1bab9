/**
 * scalpel's SIMD `Mean` (core/kernels/c/mean_rows.c) against a hand computation: the
 * inputs added one by one into a float32 in order, the sum divided by the count, which
 * is what the stock tfjs wasm `Mean` computes. Equal bit for bit, through the kernel
 * function and through `tf.mean` on the wasm backend; other reductions still agree with cpu.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import fc from "fast-check";
import { registerWasmTrainingKernels } from "../../core/kernels/mod.ts";
import { meanRowsSimd } from "../../core/kernels/mean_simd.ts";
import { seededValues } from "../../bench/kernels_bench.ts";

registerWasmTrainingKernels();

/** out[a, c] = fround(sequential float32 sum over r of x[a, r, c]) / R, rounded to float32. */
function byHand(x: Float32Array, a: number, r: number, c: number): Float32Array {
  const out = new Float32Array(a * c);
  for (let i = 0; i < a; i++) {
    for (let k = 0; k < c; k++) {
      let sum = 0;
      for (let j = 0; j < r; j++) sum = Math.fround(sum + x[(i * r + j) * c + k]);
      out[i * c + k] = Math.fround(sum / r);
    }
  }
  return out;
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  new Uint32Array(a.buffer, a.byteOffset, a.length).every((v, i) =>
    v === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]
  );

Deno.test("the SIMD mean equals the float32 sum in order divided by the count, bit for bit", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 20 }).map((k) => 4 * k),
      fc.integer({ min: 1, max: 1 << 20 }),
      (a, r, c, seed) => {
        const x = seededValues(a * r * c, seed).map((v) => 3 * v + 0.7);
        const got = new Float32Array(a * c).fill(Number.NaN);
        meanRowsSimd(x, got, a, r, c);
        assert.ok(sameBits(got, byHand(x, a, r, c)), `A ${a} R ${r} C ${c} seed ${seed}`);
      },
    ),
    { numRuns: 200, seed: 3 },
  );
});

Deno.test("tf.mean on wasm takes the SIMD kernel for batch and spatial axes, and the stock one elsewhere", async (t) => {
  await tf.setBackend("wasm");
  const cases: Array<[number[], number[], boolean, "simd" | "stock"]> = [
    [[16, 28, 28, 16], [0, 1, 2], false, "simd"], // batch-norm statistics
    [[8, 7, 7, 64], [1, 2], false, "simd"], // global average pooling
    [[4, 6, 5, 12], [0, 1, 2], true, "simd"],
    [[4, 6, 5, 3], [0, 1, 2], false, "stock"], // 3 channels
    [[2, 3, 4], [2], false, "stock"], // last axis
  ];
  for (const [shape, axes, keepDims, path] of cases) {
    await t.step(`${shape} axes ${axes}${keepDims ? " keepDims" : ""} (${path})`, async () => {
      const before = tf.memory().numTensors;
      const values = seededValues(shape.reduce((p, q) => p * q), 9).map((v) => 2 * v - 0.3);
      const x = tf.tensor(values, shape);
      const m = tf.mean(x, axes, keepDims);
      const got = Float32Array.from(await m.data());
      if (path === "simd") {
        const c = shape[shape.length - 1];
        const a = axes[0] === 0 ? 1 : shape[0];
        assert.ok(sameBits(got, byHand(values, a, values.length / a / c, c)), "not the in-order float32 mean");
      }
      await tf.setBackend("cpu");
      const cpu = tf.tidy(() => tf.mean(tf.tensor(values, shape), axes, keepDims));
      const ref = cpu.dataSync();
      assert.deepEqual(m.shape, cpu.shape);
      cpu.dispose();
      await tf.setBackend("wasm");
      ref.forEach((v, i) =>
        assert.ok(Math.abs(v - got[i]) < 1e-5 * Math.max(1, Math.abs(v)), `element ${i}: ${got[i]} vs cpu ${v}`)
      );
      tf.dispose([x, m]);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
    });
  }
});
