/**
 * Training throughput of small-cnn and resnet-mini (batch 64, 28×28×1,
 * Adam, `tf.variableGrads`) on the wasm backend with the scalpel training
 * kernels, plus a `tf.profile` kernel-time breakdown of one resnet step.
 *
 *   deno run -A bench/kernels_bench.ts [--backend=wasm|cpu]
 *     [--kernels=ours|stock] [--bn=ops|batchNorm] [--reps=7] [--steps=3]
 *
 * `--kernels=stock` keeps the stock wasm kernels and only adds the (missing)
 * Conv2DBackpropFilter, which is the "before" configuration.
 *
 * The models are inline plain-op versions of the zoo models; they are also
 * used by tests/core/kernels_test.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { conv2DBackpropFilterWasmConfig, registerWasmTrainingKernels } from "../core/kernels/mod.ts";

/** A model: its trainable variables and a forward function to logits. */
export interface BenchModel {
  /** Model name. */
  name: string;
  /** Trainable variables (conv filters, dense weights, BN scale/offset). */
  vars: tf.Variable[];
  /** Forward pass [N,28,28,1] → logits [N,10]. */
  apply(x: tf.Tensor4D): tf.Tensor2D;
}

/** How batch norm is written in the models. */
export type BnMode = "ops" | "batchNorm";

/** Deterministic pseudo-random values (LCG) in [-scale, scale). */
export function seededValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

function makeVar(shape: number[], seed: number, fill?: number): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.length > 1 ? n / shape[shape.length - 1] : n;
  const values = fill === undefined ? seededValues(n, seed, Math.sqrt(6 / fanIn)) : new Float32Array(n).fill(fill);
  return tf.variable(tf.tensor(values, shape), true);
}

/** Batch norm over N,H,W in training mode (batch statistics). */
function batchNorm(
  x: tf.Tensor4D,
  gamma: tf.Variable,
  beta: tf.Variable,
  mode: BnMode,
): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  if (mode === "batchNorm") {
    return tf.batchNorm(
      x,
      mean,
      variance,
      beta as tf.Tensor1D,
      gamma as tf.Tensor1D,
      1e-5,
    ) as tf.Tensor4D;
  }
  return tf.add(
    tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma),
    beta,
  );
}

/**
 * small-cnn: conv3x3 same relu 16 → maxpool2 → conv3x3 same relu 32 →
 * maxpool2 → flatten → dense64 relu → dense10.
 */
export function smallCnn(seed = 1): BenchModel {
  const c1 = makeVar([3, 3, 1, 16], seed);
  const b1 = makeVar([16], 0, 0);
  const c2 = makeVar([3, 3, 16, 32], seed + 1);
  const b2 = makeVar([32], 0, 0);
  const d1 = makeVar([7 * 7 * 32, 64], seed + 2);
  const db1 = makeVar([64], 0, 0);
  const d2 = makeVar([64, 10], seed + 3);
  const db2 = makeVar([10], 0, 0);
  return {
    name: "small-cnn",
    vars: [c1, b1, c2, b2, d1, db1, d2, db2],
    apply: (x) => {
      let h = tf.relu(tf.add(tf.conv2d(x, c1 as tf.Tensor4D, 1, "same"), b1));
      h = tf.maxPool(h as tf.Tensor4D, 2, 2, "valid");
      h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, c2 as tf.Tensor4D, 1, "same"), b2));
      h = tf.maxPool(h as tf.Tensor4D, 2, 2, "valid");
      const flat = tf.reshape(h, [h.shape[0], -1]);
      const z = tf.relu(tf.add(tf.matMul(flat, d1 as tf.Tensor2D), db1));
      return tf.add(tf.matMul(z, d2 as tf.Tensor2D), db2) as tf.Tensor2D;
    },
  };
}

/**
 * resnet-mini: stem conv3x3x16 + BN + relu; basic residual blocks at 16,
 * 32 (stride 2, 1×1 projection) and 64 (stride 2, projection); global
 * average pool (mean over H,W); dense 10. `widths` can shrink it for tests.
 */
export function resnetMini(
  seed = 1,
  bn: BnMode = "ops",
  widths: readonly [number, number, number] = [16, 32, 64],
): BenchModel {
  const vars: tf.Variable[] = [];
  let k = seed;
  const v = (shape: number[], fill?: number): tf.Variable => {
    const t = makeVar(shape, k++, fill);
    vars.push(t);
    return t;
  };
  const convBn = (ci: number, co: number, ksize: number) => {
    const w = v([ksize, ksize, ci, co]);
    const g = v([co], 1);
    const b = v([co], 0);
    return (x: tf.Tensor4D, stride: number): tf.Tensor4D =>
      batchNorm(tf.conv2d(x, w as tf.Tensor4D, stride, "same"), g, b, bn);
  };
  const block = (ci: number, co: number, stride: number) => {
    const a = convBn(ci, co, 3);
    const b = convBn(co, co, 3);
    const proj = stride !== 1 || ci !== co ? convBn(ci, co, 1) : undefined;
    return (x: tf.Tensor4D): tf.Tensor4D => {
      const h = b(tf.relu(a(x, stride)), 1);
      const s = proj ? proj(x, stride) : x;
      return tf.relu(tf.add(h, s));
    };
  };
  const [w1, w2, w3] = widths;
  const stem = convBn(1, w1, 3);
  const blocks = [block(w1, w1, 1), block(w1, w2, 2), block(w2, w3, 2)];
  const dw = v([w3, 10]);
  const db = v([10], 0);
  return {
    name: "resnet-mini",
    vars,
    apply: (x) => {
      let h = tf.relu(stem(x, 1));
      for (const b of blocks) h = b(h);
      const pooled = tf.mean(h, [1, 2]);
      return tf.add(tf.matMul(pooled, dw as tf.Tensor2D), db) as tf.Tensor2D;
    },
  };
}

/** Softmax cross-entropy loss of the model on (x, one-hot y). */
export function lossOf(
  model: BenchModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(y, model.apply(x)) as tf.Scalar;
}

/** A deterministic batch of inputs [n,28,28,1] and one-hot labels. */
export function makeBatch(n: number, seed = 7): [tf.Tensor4D, tf.Tensor2D] {
  const x = tf.tensor4d(seededValues(n * 28 * 28, seed), [n, 28, 28, 1]);
  const labels = Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10).toFloat();
  return [x, y as tf.Tensor2D];
}

/** One Adam training step; returns the loss value. */
export function trainStep(
  model: BenchModel,
  opt: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => lossOf(model, x, y),
      model.vars,
    );
    opt.applyGradients(grads);
    return value;
  });
}

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Examples/s of `steps` training steps, median over `reps` repetitions. */
async function throughput(
  model: BenchModel,
  batch: number,
  reps: number,
  steps: number,
): Promise<number> {
  const opt = tf.train.adam(1e-3);
  const [x, y] = makeBatch(batch);
  const warm = trainStep(model, opt, x, y); // warm-up (excluded)
  await warm.data();
  warm.dispose();
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const loss = trainStep(model, opt, x, y);
      await loss.data();
      loss.dispose();
    }
    rates.push((batch * steps) / ((performance.now() - t0) / 1000));
  }
  tf.dispose([x, y]);
  opt.dispose();
  return median(rates);
}

/** Prints a per-kernel time breakdown of one resnet training step. */
async function profileStep(model: BenchModel, batch: number): Promise<void> {
  const opt = tf.train.adam(1e-3);
  const [x, y] = makeBatch(batch);
  for (let i = 0; i < 3; i++) trainStep(model, opt, x, y).dispose();
  const info = await tf.profile(() => {
    trainStep(model, opt, x, y).dispose();
  });
  const byName = new Map<string, { ms: number; n: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const e = byName.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n += 1;
    byName.set(k.name, e);
    total += ms;
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.log(
    `\n${model.name} step profile (batch ${batch}): ${total.toFixed(1)} ms kernel time`,
  );
  for (const [name, e] of rows.slice(0, 20)) {
    console.log(
      `  ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${
        (100 * e.ms / total).toFixed(1).padStart(5)
      }%  (${e.n} calls)`,
    );
  }
  tf.dispose([x, y]);
  opt.dispose();
}

function flag(name: string, dflt: string): string {
  const hit = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : dflt;
}

async function main(): Promise<void> {
  const backend = flag("backend", "wasm");
  const kernels = flag("kernels", "ours");
  const bn = flag("bn", "ops") as BnMode;
  const reps = Number(flag("reps", "7"));
  const steps = Number(flag("steps", "3"));
  const batch = 64;
  if (kernels === "ours") registerWasmTrainingKernels();
  else if (tf.getKernel("Conv2DBackpropFilter", "wasm") == null) {
    tf.registerKernel(conv2DBackpropFilterWasmConfig);
  }
  await tf.setBackend(backend);
  await tf.ready();
  console.log(
    `backend=${tf.getBackend()} kernels=${kernels} bn=${bn} batch=${batch} ` +
      `reps=${reps}×${steps} steps`,
  );
  for (const model of [smallCnn(), resnetMini(1, bn)]) {
    const eps = await throughput(model, batch, reps, steps);
    console.log(`${model.name.padEnd(12)} ${eps.toFixed(1)} examples/s`);
    tf.dispose(model.vars);
  }
  const model = resnetMini(1, bn);
  await profileStep(model, batch);
  tf.dispose(model.vars);
}

if (import.meta.main) await main();
