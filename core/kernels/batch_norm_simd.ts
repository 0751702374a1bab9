/**
 * Batch norm in train mode, in scalpel's SIMD kernel (core/kernels/c/batch_norm.c) on the
 * wasm backend and in tfjs ops everywhere else, with the same bits either way:
 *
 * - {@link batchNormMoments}: the batch mean and biased variance over N, H, W (`tf.moments`);
 * - {@link batchNormNormalize}: x̂ = (x − mean)·invStd and y = x̂·γ + β;
 * - {@link batchNormCentredGrad}: dx = ((dy − a) − x̂·b)·s, the closed-form gradient's
 *   elementwise part.
 *
 * On wasm each replaces several single-threaded elementwise kernels (tf.moments alone is a
 * Cast, a Sub, a Square and two Means) by one or two passes over the activations that add
 * four channels per instruction. The C source explains why the bits agree; the tests check
 * them against the ops on wasm and against float32 sums done by hand. Channel counts that
 * are not a multiple of four, and other backends, take the ops.
 *
 * The module has a memory of its own (core/kernels/simd_module.ts): inputs are copied in
 * and outputs copied out, a memcpy each.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BATCH_NORM_WASM } from "./batch_norm_wasm.ts";
import { simdModule } from "./simd_module.ts";
import { asWasmBackend, heapF32, WASM } from "./wasm_util.ts";

const module = simdModule(BATCH_NORM_WASM);

/** Kernel names of the three passes (registered for wasm by `registerWasmTrainingKernels`). */
export const BN_STATS = "ScalpelBatchNormStats";
/** See {@link BN_STATS}. */
export const BN_APPLY = "ScalpelBatchNormApply";
/** See {@link BN_STATS}. */
export const BN_GRAD_APPLY = "ScalpelBatchNormGradApply";

/** True when C is a positive multiple of four and every array has its expected length. */
const fits = (c: number, arrays: ReadonlyArray<readonly [Float32Array, number]>) =>
  c > 0 && c % 4 === 0 && arrays.every(([a, n]) => a.length === n);

/** mean[c] and biased var[c] of x [R, C] (C % 4 == 0), written into `mean` and `variance`. */
export function bnStatsSimd(x: Float32Array, mean: Float32Array, variance: Float32Array, r: number, c: number): void {
  if (!fits(c, [[x, r * c], [mean, c], [variance, c]])) {
    throw new Error(`bnStatsSimd: needs C % 4 == 0 and sizes R·C, C, C (got R ${r}, C ${c})`);
  }
  module().call("bn_stats", [x], [mean, variance], [r, c]);
}

/** x̂ = (x − mean)·invStd and y = x̂·gamma + beta over x [R, C] (C % 4 == 0), written into `xhat` and `y`. */
export function bnApplySimd(
  x: Float32Array,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  xhat: Float32Array,
  y: Float32Array,
  r: number,
  c: number,
): void {
  const n = r * c;
  if (!fits(c, [[x, n], [mean, c], [invStd, c], [gamma, c], [beta, c], [xhat, n], [y, n]])) {
    throw new Error(`bnApplySimd: needs C % 4 == 0 and sizes R·C for x, x̂, y and C for the rest (got R ${r}, C ${c})`);
  }
  module().call("bn_apply", [x, mean, invStd, gamma, beta], [xhat, y], [0, r, c]);
}

/** dx = ((dy − a) − x̂·b)·s over [R, C] (C % 4 == 0; a, b, s per channel), written into `dx`. */
export function bnGradApplySimd(
  dy: Float32Array,
  xhat: Float32Array,
  a: Float32Array,
  b: Float32Array,
  s: Float32Array,
  dx: Float32Array,
  r: number,
  c: number,
): void {
  const n = r * c;
  if (!fits(c, [[dy, n], [xhat, n], [a, c], [b, c], [s, c], [dx, n]])) {
    throw new Error(
      `bnGradApplySimd: needs C % 4 == 0 and sizes R·C for dy, x̂, dx and C for a, b, s (got R ${r}, C ${c})`,
    );
  }
  module().call("bn_grad_apply", [dy, xhat, a, b, s], [dx], [0, r, c]);
}

/** [R, C] of an NHWC tensor's shape (R = every axis but the last). */
const rowsAndChannels = (shape: readonly number[]): [number, number] => {
  const c = shape[shape.length - 1];
  return [shape.reduce((a, d) => a * d, 1) / c, c];
};

const statsWasm: KernelFunc = ({ inputs, backend: raw }) => {
  const backend = asWasmBackend(raw);
  const { x } = inputs as { x: TensorInfo };
  const [r, c] = rowsAndChannels(x.shape);
  const mean = backend.makeOutput([c], "float32");
  const variance = backend.makeOutput([c], "float32");
  bnStatsSimd(heapF32(backend, x), heapF32(backend, mean), heapF32(backend, variance), r, c);
  return [mean, variance];
};

const applyWasm: KernelFunc = ({ inputs, backend: raw }) => {
  const backend = asWasmBackend(raw);
  const { x, mean, invStd, gamma, beta } = inputs as Record<string, TensorInfo>;
  const [r, c] = rowsAndChannels(x.shape);
  const xhat = backend.makeOutput([...x.shape], "float32");
  const y = backend.makeOutput([...x.shape], "float32");
  const v = (t: TensorInfo) => heapF32(backend, t);
  bnApplySimd(v(x), v(mean), v(invStd), v(gamma), v(beta), v(xhat), v(y), r, c);
  return [xhat, y];
};

const gradApplyWasm: KernelFunc = ({ inputs, backend: raw }) => {
  const backend = asWasmBackend(raw);
  const { dy, xhat, a, b, s } = inputs as Record<string, TensorInfo>;
  const [r, c] = rowsAndChannels(dy.shape);
  const dx = backend.makeOutput([...dy.shape], "float32");
  const v = (t: TensorInfo) => heapF32(backend, t);
  bnGradApplySimd(v(dy), v(xhat), v(a), v(b), v(s), v(dx), r, c);
  return dx;
};

/** The three kernels for wasm (installed by `registerWasmTrainingKernels`). */
export const BATCH_NORM_WASM_KERNELS: readonly KernelConfig[] = [
  { kernelName: BN_STATS, backendName: WASM, kernelFunc: statsWasm },
  { kernelName: BN_APPLY, backendName: WASM, kernelFunc: applyWasm },
  { kernelName: BN_GRAD_APPLY, backendName: WASM, kernelFunc: gradApplyWasm },
];

let enabled = true;

/** Turns the SIMD path off (false) or back on, for before/after timings and the tests' comparisons. */
export const setBatchNormSimd = (on: boolean): void => {
  enabled = on;
};

/** True when `kernel` runs on the current backend for this tensor (float32, channels in fours). */
const useKernel = (kernel: string, x: tf.Tensor): boolean =>
  enabled && x.dtype === "float32" && x.shape[x.shape.length - 1] % 4 === 0 &&
  tf.getKernel(kernel, tf.getBackend()) != null;

/** The batch mean and biased variance of x over every axis but the last (`tf.moments`, same bits). */
export const batchNormMoments = (x: tf.Tensor4D): { mean: tf.Tensor1D; variance: tf.Tensor1D } => {
  if (useKernel(BN_STATS, x)) {
    const [mean, variance] = tf.engine().runKernel(BN_STATS, { x }, {}) as tf.Tensor1D[];
    return { mean, variance };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
};

/** x̂ = (x − mean)·invStd and y = x̂·gamma + beta (the tf ops' bits). */
export const batchNormNormalize = (
  x: tf.Tensor4D,
  mean: tf.Tensor1D,
  invStd: tf.Tensor1D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { xhat: tf.Tensor4D; y: tf.Tensor4D } => {
  if (useKernel(BN_APPLY, x)) {
    const [xhat, y] = tf.engine().runKernel(BN_APPLY, { x, mean, invStd, gamma, beta }, {}) as tf.Tensor4D[];
    return { xhat, y };
  }
  const xhat = tf.mul(tf.sub(x, mean), invStd) as tf.Tensor4D;
  return { xhat, y: tf.add(tf.mul(xhat, gamma), beta) };
};

/** dx = ((dy − a) − x̂·b)·s with a, b, s per channel (the tf ops' bits). */
export const batchNormCentredGrad = (
  dy: tf.Tensor4D,
  xhat: tf.Tensor4D,
  a: tf.Tensor1D,
  b: tf.Tensor1D,
  s: tf.Tensor1D,
): tf.Tensor4D => {
  if (useKernel(BN_GRAD_APPLY, dy)) {
    return tf.engine().runKernel(BN_GRAD_APPLY, { dy, xhat, a, b, s }, {}) as tf.Tensor4D;
  }
  return tf.mul(tf.sub(tf.sub(dy, a), tf.mul(xhat, b)), s);
};
