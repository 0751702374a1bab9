/**
 * Building blocks shared by the zoo's architectures, written with plain tf ops:
 * seeded initialisers, convolution, dense and batch-norm layers.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/random.ts";
import type { VariableBuilder } from "../../core/model.ts";

/** He (Kaiming) normal initialiser: N(0, 2 / fanIn), as PyTorch's kaiming_normal_. */
export const heNormal = (rng: Rng, shape: number[], fanIn: number): tf.Tensor =>
  tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1), Math.sqrt(2 / fanIn)), shape);

/** Glorot (Xavier) uniform initialiser: U(±sqrt(6 / (fanIn + fanOut))). */
export const glorotUniform = (rng: Rng, shape: number[], fanIn: number, fanOut: number): tf.Tensor => {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (rng.float() * 2 - 1) * limit;
  return tf.tensor(data, shape);
};

/** A conv kernel [k, k, cin, cout] with He-normal init. */
export const convKernel = (
  b: VariableBuilder,
  rng: Rng,
  name: string,
  group: string,
  k: number,
  cin: number,
  cout: number,
): tf.Variable => b.param(`${name}/kernel`, group, heNormal(rng, [k, k, cin, cout], k * k * cin));

/** A zero bias of length n. */
export const zeroBias = (b: VariableBuilder, name: string, group: string, n: number): tf.Variable =>
  b.param(`${name}/bias`, group, tf.zeros([n]));

/** A dense layer's kernel (Glorot uniform) and zero bias. */
export const denseParams = (
  b: VariableBuilder,
  rng: Rng,
  name: string,
  group: string,
  nin: number,
  nout: number,
): { kernel: tf.Variable; bias: tf.Variable } => ({
  kernel: b.param(`${name}/kernel`, group, glorotUniform(rng, [nin, nout], nin, nout)),
  bias: zeroBias(b, name, group, nout),
});

/** Batch-norm parameters (gamma, beta) and running statistics (mean, variance). */
export interface BatchNormVars {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
}

/** Create a batch-norm layer over `n` channels. */
export const batchNormVars = (b: VariableBuilder, name: string, group: string, n: number): BatchNormVars => ({
  gamma: b.param(`${name}/gamma`, group, tf.ones([n])),
  beta: b.param(`${name}/beta`, group, tf.zeros([n])),
  mean: b.stateVar(`${name}/moving_mean`, group, tf.zeros([n])),
  variance: b.stateVar(`${name}/moving_variance`, group, tf.ones([n])),
});

/** PyTorch's defaults: eps 1e-5, running-stat momentum 0.1. */
const BN_EPSILON = 1e-5;
const BN_MOMENTUM = 0.1;

/**
 * Apply batch norm. In `train` mode normalise with the batch statistics and push
 * the updated running statistics into `updates`; in `eval` mode use the running ones
 * (this is how fine-tuning keeps BN statistics frozen).
 */
export const batchNorm = (
  x: tf.Tensor4D,
  bn: BatchNormVars,
  train: boolean,
  updates: Array<readonly [tf.Variable, tf.Tensor]>,
): tf.Tensor4D => {
  const gamma = bn.gamma as tf.Tensor1D;
  const beta = bn.beta as tf.Tensor1D;
  if (!train) {
    return tf.batchNorm4d(x, bn.mean as tf.Tensor1D, bn.variance as tf.Tensor1D, beta, gamma, BN_EPSILON);
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  // running variance uses the unbiased estimate, as PyTorch does
  const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
  updates.push([bn.mean, tf.add(tf.mul(bn.mean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM))]);
  updates.push([
    bn.variance,
    tf.add(tf.mul(bn.variance, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)),
  ]);
  return tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, BN_EPSILON);
};

/**
 * `activation(batchNorm(conv2d(x, kernel, stride, "same")))`. In `eval` mode batch
 * norm is a fixed per-channel affine map (scale γ/√(var+ε), shift β − mean·scale),
 * so it is folded into the convolution: one fused conv with the scaled kernel, a
 * bias and the activation. That is the same function (up to float rounding) with
 * the same gradients for the kernel, γ, β and x, and it saves the separate
 * normalisation pass and its backward pass over every activation.
 */
export const convBatchNorm = (
  x: tf.Tensor4D,
  kernel: tf.Variable,
  stride: number,
  bn: BatchNormVars,
  train: boolean,
  updates: Array<readonly [tf.Variable, tf.Tensor]>,
  activation: "linear" | "relu" = "linear",
): tf.Tensor4D => {
  if (train) {
    const y = batchNorm(tf.conv2d(x, kernel as tf.Tensor4D, stride, "same"), bn, true, updates);
    return activation === "relu" ? tf.relu(y) : y;
  }
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.variance, BN_EPSILON)));
  return tf.fused.conv2d({
    x,
    filter: tf.mul(kernel, scale) as tf.Tensor4D,
    strides: stride,
    pad: "same",
    bias: tf.sub(bn.beta, tf.mul(bn.mean, scale)),
    activation,
  });
};
