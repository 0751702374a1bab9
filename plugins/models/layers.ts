/**
 * Building blocks shared by the zoo's architectures, written with plain tf ops and
 * PyTorch's conventions (its default initialisation, its padding, its batch norm), so
 * that a zoo model and its PyTorch twin (bench/torch_twins.py) compute the same function
 * and the same gradients (tests/parity/).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/random.ts";
import type { VariableBuilder } from "../../core/model.ts";
import { batchNormCentredGrad, batchNormMoments, batchNormNormalize } from "../../core/kernels/batch_norm_simd.ts";

/**
 * PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear`: weights U(−b, b) with
 * b = 1/√fan_in (`kaiming_uniform_` with a = √5 gives exactly that bound), and biases
 * U(−b, b) with the same b. The paper's code and its users start from it; He-normal, which
 * the zoo used before, made fine-tuning results differ from PyTorch's by up to 33 points.
 */
export const torchUniform = (rng: Rng, shape: number[], fanIn: number): tf.Tensor => {
  const bound = 1 / Math.sqrt(fanIn);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (rng.float() * 2 - 1) * bound;
  return tf.tensor(data, shape);
};

/** A conv kernel [k, k, cin, cout], PyTorch's default initialisation (fan_in = k·k·cin). */
export const convKernel = (
  b: VariableBuilder,
  rng: Rng,
  name: string,
  group: string,
  k: number,
  cin: number,
  cout: number,
): tf.Variable => b.param(`${name}/kernel`, group, torchUniform(rng, [k, k, cin, cout], k * k * cin));

/** A conv bias of length n, PyTorch's default initialisation for the conv's fan_in. */
export const convBias = (b: VariableBuilder, rng: Rng, name: string, group: string, n: number, fanIn: number) =>
  b.param(`${name}/bias`, group, torchUniform(rng, [n], fanIn));

/** A dense layer's kernel [nin, nout] and bias, PyTorch's default initialisation (fan_in = nin). */
export const denseParams = (
  b: VariableBuilder,
  rng: Rng,
  name: string,
  group: string,
  nin: number,
  nout: number,
): { kernel: tf.Variable; bias: tf.Variable } => ({
  kernel: b.param(`${name}/kernel`, group, torchUniform(rng, [nin, nout], nin)),
  bias: b.param(`${name}/bias`, group, torchUniform(rng, [nout], nin)),
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
 * Batch norm in `train` mode over axes N, H, W with PyTorch's closed-form gradient:
 * dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), dγ = Σ dy · x̂, dβ = Σ dy, where x̂ = (x − μ)/σ
 * and σ = √(var + ε) of the batch. The same function as differentiating through the batch
 * moments, with fewer operations and fewer roundings (autodiff through `tf.moments` summed
 * the three terms of dx from separate graphs, several times less precisely than PyTorch).
 * Returns the output and the batch's mean and (biased) variance (kept: dispose them).
 */
const batchNormTrain = (x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D) => {
  let stats: { mean: tf.Tensor; variance: tf.Tensor } | undefined;
  const f = tf.customGrad(
    ((xs: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
      const { mean, variance } = batchNormMoments(xs);
      const invStd = tf.rsqrt(tf.add(variance, BN_EPSILON)) as tf.Tensor1D;
      const { xhat, y } = batchNormNormalize(xs, mean, invStd, g, b);
      // f runs in a scope of its own: keep the statistics past it (the caller releases them)
      stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
      save([xhat, invStd, g]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
          const [xh, inv, gam] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
          const n = xh.shape[0] * xh.shape[1] * xh.shape[2];
          const dbeta = tf.sum(dy, [0, 1, 2]) as tf.Tensor1D;
          const dgamma = tf.sum(tf.mul(dy, xh), [0, 1, 2]) as tf.Tensor1D;
          const dx = batchNormCentredGrad(dy, xh, tf.div(dbeta, n), tf.div(dgamma, n), tf.mul(gam, inv));
          return [dx, dgamma, dbeta];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const y = f(x, gamma, beta) as tf.Tensor4D;
  return { y, mean: stats!.mean, variance: stats!.variance };
};

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
  const { y, mean, variance } = batchNormTrain(x, gamma, beta);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
  updates.push([bn.mean, tf.add(tf.mul(bn.mean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM))]);
  updates.push([
    bn.variance,
    tf.add(tf.mul(bn.variance, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)),
  ]);
  mean.dispose();
  variance.dispose();
  return y;
};

/**
 * PyTorch's padding of a k×k convolution, `padding = k // 2` on every side, as explicit
 * padding. TensorFlow's "same" pads the same at stride 1, but at stride 2 on an even input
 * it pads only after (0 before, 1 after), which shifts every output by one pixel.
 */
export const torchPadding = (k: number): [[number, number], [number, number], [number, number], [number, number]] => {
  const p = Math.floor(k / 2);
  return [[0, 0], [p, p], [p, p], [0, 0]];
};

/**
 * `activation(batchNorm(conv2d(x, kernel, stride, k // 2)))`. In `eval` mode batch
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
    const y = batchNorm(tf.conv2d(x, kernel as tf.Tensor4D, stride, torchPadding(kernel.shape[0])), bn, true, updates);
    return activation === "relu" ? tf.relu(y) : y;
  }
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.variance, BN_EPSILON)));
  return tf.fused.conv2d({
    x,
    filter: tf.mul(kernel, scale) as tf.Tensor4D,
    strides: stride,
    pad: torchPadding(kernel.shape[0]),
    bias: tf.sub(bn.beta, tf.mul(bn.mean, scale)),
    activation,
  });
};
