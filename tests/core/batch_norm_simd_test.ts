/**
 * scalpel's SIMD batch norm in train mode (core/kernels/c/batch_norm.c) against independent
 * facts: float32 arithmetic done by hand (Math.fround after every operation, sums in row
 * order) for each of the three passes, and, on the wasm backend, the tfjs ops it replaces,
 * bit for bit — for the passes alone and for a whole resnet-mini pre-training step
 * (loss, every gradient, the running statistics), with no tensor left behind.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect } from "effect";
import { registerWasmTrainingKernels } from "../../core/kernels/mod.ts";
import {
  batchNormCentredGrad,
  batchNormMoments,
  batchNormNormalize,
  bnApplySimd,
  bnGradApplySimd,
  bnStatsSimd,
  setBatchNormSimd,
} from "../../core/kernels/batch_norm_simd.ts";
import { seededValues } from "../../bench/kernels_bench.ts";
import { rngFor } from "../../core/random.ts";
import { disposeModel } from "../../core/model.ts";
import type { ModelImpl } from "../../core/plugin.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";

registerWasmTrainingKernels();

const f = Math.fround;

/** Per channel: the float32 sum in row order divided by R, then the same for the squared deviations. */
function statsByHand(x: Float32Array, r: number, c: number) {
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    let s = 0;
    for (let i = 0; i < r; i++) s = f(s + x[i * c + k]);
    const m = f(s / r);
    let q = 0;
    for (let i = 0; i < r; i++) {
      const d = f(x[i * c + k] - m);
      q = f(q + f(d * d));
    }
    mean[k] = m;
    variance[k] = f(q / r);
  }
  return { mean, variance };
}

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  const [u, v] = [a, b].map((t) => new Uint32Array(Float32Array.from(t).buffer));
  return u.length === v.length && u.every((bits, i) => bits === v[i]);
};

const sizes = fc.tuple(
  fc.integer({ min: 1, max: 400 }),
  fc.integer({ min: 1, max: 20 }).map((k) => 4 * k),
  fc.integer({ min: 1, max: 1 << 20 }),
);

Deno.test("bn_stats: the mean and biased variance of float32 sums in row order, bit for bit", () => {
  fc.assert(
    fc.property(sizes, ([r, c, seed]) => {
      const x = seededValues(r * c, seed).map((v) => 4 * v - 1.3);
      const mean = new Float32Array(c).fill(Number.NaN);
      const variance = new Float32Array(c).fill(Number.NaN);
      bnStatsSimd(x, mean, variance, r, c);
      const want = statsByHand(x, r, c);
      assert.ok(sameBits(mean, want.mean), `mean, R ${r} C ${c}`);
      assert.ok(sameBits(variance, want.variance), `variance, R ${r} C ${c}`);
    }),
    { numRuns: 150, seed: 5 },
  );
});

Deno.test("bn_apply and bn_grad_apply: each element's float32 operations in the ops' order, bit for bit", () => {
  fc.assert(
    fc.property(sizes, ([r, c, seed]) => {
      const n = r * c;
      const x = seededValues(n, seed).map((v) => 3 * v - 1);
      const dy = seededValues(n, seed + 1).map((v) => v - 0.5);
      const [m, k, g, b, pa, pb, ps] = [2, 3, 4, 5, 6, 7, 8].map((o) => seededValues(c, seed + o).map((v) => v - 0.4));
      const xhat = new Float32Array(n);
      const y = new Float32Array(n);
      bnApplySimd(x, m, k, g, b, xhat, y, r, c);
      const dx = new Float32Array(n);
      bnGradApplySimd(dy, xhat, pa, pb, ps, dx, r, c);
      for (let i = 0; i < n; i++) {
        const ch = i % c;
        const h = f(f(x[i] - m[ch]) * k[ch]);
        assert.ok(sameBits([xhat[i]], [h]), `x̂[${i}], R ${r} C ${c}`);
        assert.ok(sameBits([y[i]], [f(f(h * g[ch]) + b[ch])]), `y[${i}], R ${r} C ${c}`);
        const centred = f(f(dy[i] - pa[ch]) - f(h * pb[ch]));
        assert.ok(sameBits([dx[i]], [f(centred * ps[ch])]), `dx[${i}], R ${r} C ${c}`);
      }
    }),
    { numRuns: 60, seed: 6 },
  );
});

Deno.test("the passes refuse channel counts that are not a multiple of four", () => {
  const x = new Float32Array(6);
  assert.throws(() => bnStatsSimd(x, new Float32Array(3), new Float32Array(3), 2, 3), /C % 4 == 0/);
});

/** Runs `fn` with the SIMD passes on and off (on the current backend); both results, as arrays. */
const onAndOff = (fn: () => tf.Tensor[]): [Float32Array[], Float32Array[]] =>
  [true, false].map((on) => {
    setBatchNormSimd(on);
    try {
      const out = tf.tidy(fn);
      const data = out.map((t) => Float32Array.from(t.dataSync()));
      tf.dispose(out);
      return data;
    } finally {
      setBatchNormSimd(true);
    }
  }) as [Float32Array[], Float32Array[]];

Deno.test("on wasm the three passes give the tfjs ops' bits (and channels not in fours take the ops)", async (t) => {
  await tf.setBackend("wasm");
  const shapes: Array<[number, number, number, number]> = [[16, 28, 28, 16], [8, 7, 7, 64], [3, 5, 4, 12], [
    4,
    6,
    5,
    3,
  ]];
  for (const shape of shapes) {
    await t.step(`${shape}`, () => {
      const before = tf.memory().numTensors;
      const c = shape[3];
      const x = tf.tensor4d(seededValues(shape.reduce((p, q) => p * q), 11).map((v) => 5 * v - 2), shape);
      const dy = tf.tensor4d(seededValues(x.size, 12).map((v) => v - 0.5), shape);
      const [g, b, pa, pb, ps] = [13, 14, 15, 16, 17].map((s) => tf.tensor1d(seededValues(c, s).map((v) => v + 0.5)));
      const [on, off] = onAndOff(() => {
        const { mean, variance } = batchNormMoments(x);
        const invStd = tf.rsqrt(tf.add(variance, 1e-5)) as tf.Tensor1D;
        const { xhat, y } = batchNormNormalize(x, mean, invStd, g, b);
        return [mean, variance, xhat, y, batchNormCentredGrad(dy, xhat, pa, pb, ps)];
      });
      ["mean", "variance", "x̂", "y", "dx"].forEach((what, i) => assert.ok(sameBits(on[i], off[i]), what));
      const ref = tf.moments(x, [0, 1, 2]);
      assert.ok(sameBits(on[0], ref.mean.dataSync()), "mean against tf.moments");
      tf.dispose([x, dy, g, b, pa, pb, ps, ref.mean, ref.variance]);
      assert.equal(tf.memory().numTensors, before);
    });
  }
});

Deno.test("a resnet-mini pre-training step on wasm: loss, gradients and running statistics bit for bit the ops'", async () => {
  await tf.setBackend("wasm");
  const impl = await Effect.runPromise(resnetMini.make({}) as Effect.Effect<ModelImpl>);
  const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(0, ["bn-simd-test", "init"]));
  const x = tf.tensor4d(seededValues(32 * 28 * 28, 21), [32, 28, 28, 1]);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => (i * 7) % 10), "int32"), 10);
  const before = tf.memory().numTensors;
  const [on, off] = onAndOff(() => {
    const stats: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const { logits, stateUpdates } = model.forward(x, "train");
      stats.push(...stateUpdates.map(([, t]) => tf.keep(t)));
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, model.params.map((p) => p.variable));
    return [value, ...Object.values(grads), ...stats];
  });
  assert.equal(tf.memory().numTensors, before, "tensors left behind");
  assert.ok(on.length > 20);
  on.forEach((t, i) => assert.ok(sameBits(t, off[i]), `output ${i} of ${on.length} differs`));
  tf.dispose([x, labels]);
  disposeModel(model);
});
