/**
 * Gradient statistics for adaptive layer selection: per trainable tensor, the norm
 * of the loss gradient on a few target batches relative to the tensor's norm
 * (Auto-RGN), and the signal-to-noise ratio of per-example gradients (Auto-SNR).
 * Computed with batch-norm in `eval` mode (running statistics frozen), as fine-tuning
 * runs; nothing is updated.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import "./gradients.ts";
import type { Model } from "./model.ts";
import type { Split } from "./dataset.ts";
import type { Rng } from "./random.ts";
import { batchImages } from "./batches.ts";
import { readAll, runRead } from "./read.ts";

/** Statistics of one trainable tensor. */
export interface TensorGradientStats {
  /** ‖g‖₂ of the mean-loss gradient over the sampled batches. */
  readonly gradNorm: number;
  /** ‖θ‖₂ of the tensor. */
  readonly paramNorm: number;
  /**
   * Signal-to-noise ratio of per-example gradients: the mean over the tensor's
   * entries of mean² / variance across examples (variance + 1e-12). Only when
   * per-example statistics were asked for.
   */
  readonly snr?: number;
  /**
   * Connection sensitivity (SNIP, Lee, Ajanthan & Torr, ICLR 2019): the mean over the
   * tensor's entries of |θ · g|, g the mean-loss gradient over the sampled batches.
   */
  readonly saliency: number;
}

/** What to measure. */
export interface GradientStatsRequest {
  /** Batches of the fine-tuning data whose gradients are averaged for gradNorm. */
  readonly batches: number;
  readonly batchSize: number;
  /** Examples for per-example gradients (SNR); 0 or absent = skip. */
  readonly perExample?: number;
  /** Chooses the batches and examples. */
  readonly rng: Rng;
}

const lossOf = (model: Model, x: tf.Tensor4D, labels: Int32Array): tf.Scalar => {
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), model.numClasses);
  return tf.losses.softmaxCrossEntropy(y, model.forward(x, "eval").logits) as tf.Scalar;
};

const labelsAt = (data: Split, idx: ArrayLike<number>) => Int32Array.from(idx, (i) => data.labels[i]);

/**
 * Compute units a request costs (see ComputeMeter in core/pipeline/trial.ts): every
 * example whose gradient is taken counts 1.
 */
export const gradientStatsUnits = (
  req: { readonly batches: number; readonly perExample?: number },
  batchSize: number,
  count: number,
): number => Math.min(req.batches * batchSize, count) + Math.min(req.perExample ?? 0, count);

/**
 * The gradient of the mean loss on examples `idx` for every trainable tensor, read
 * into JavaScript (in `model.params` order).
 */
const readGradients = (model: Model, data: Split, idx: ArrayLike<number>): Effect.Effect<Float32Array[]> => {
  const vars = model.params.map((p) => p.variable);
  const grads = tf.tidy(() => {
    const x = batchImages(data, model.inputShape, idx);
    const { grads } = tf.variableGrads(() => lossOf(model, x, labelsAt(data, idx)), vars);
    return model.params.map((p) => grads[p.variable.name]);
  });
  return readAll(grads).pipe(Effect.ensuring(Effect.sync(() => tf.dispose(grads))));
};

/** Gradient statistics of every trainable tensor of `model` on `data` (reads tensors on any backend, see core/read.ts). */
export const readGradientStats = (
  model: Model,
  data: Split,
  req: GradientStatsRequest,
): Effect.Effect<ReadonlyMap<string, TensorGradientStats>> =>
  Effect.gen(function* () {
    const order = req.rng.permutation(data.count);
    const sums = model.params.map((p) => new Float64Array(p.variable.size));
    let used = 0;
    for (let b = 0; b < req.batches; b++) {
      const idx = order.subarray(b * req.batchSize, Math.min((b + 1) * req.batchSize, data.count));
      if (idx.length === 0) break;
      const grads = yield* readGradients(model, data, idx);
      grads.forEach((g, i) => {
        const s = sums[i];
        for (let k = 0; k < g.length; k++) s[k] += g[k];
      });
      used++;
    }
    let snr: number[] | undefined;
    const n = Math.min(req.perExample ?? 0, data.count);
    if (n >= 2) {
      const mean = model.params.map((p) => new Float64Array(p.variable.size));
      const sq = model.params.map((p) => new Float64Array(p.variable.size));
      const examples = req.rng.permutation(data.count).subarray(0, n);
      for (const e of examples) {
        const grads = yield* readGradients(model, data, [e]);
        grads.forEach((g, i) => {
          for (let k = 0; k < g.length; k++) {
            mean[i][k] += g[k] / n;
            sq[i][k] += (g[k] * g[k]) / n;
          }
        });
      }
      snr = model.params.map((_, i) => {
        let total = 0;
        for (let k = 0; k < mean[i].length; k++) {
          const m = mean[i][k];
          const variance = Math.max(0, sq[i][k] - m * m) * (n / (n - 1));
          total += (m * m) / (variance + 1e-12);
        }
        return total / mean[i].length;
      });
    }
    const weights = yield* readAll(model.params.map((p) => p.variable));
    const out = new Map<string, TensorGradientStats>();
    model.params.forEach((p, i) => {
      let g2 = 0;
      for (const v of sums[i]) g2 += (v / Math.max(1, used)) ** 2;
      const w = weights[i];
      let w2 = 0;
      let saliency = 0;
      for (let k = 0; k < w.length; k++) {
        w2 += w[k] * w[k];
        saliency += Math.abs(w[k] * sums[i][k] / Math.max(1, used));
      }
      out.set(p.name, {
        gradNorm: Math.sqrt(g2),
        paramNorm: Math.sqrt(w2),
        saliency: saliency / Math.max(1, w.length),
        ...(snr ? { snr: snr[i] } : {}),
      });
    });
    return out;
  });

/** {@link readGradientStats}, synchronously: on a backend that reads synchronously (every one but webgpu). */
export const gradientStats = (
  model: Model,
  data: Split,
  req: GradientStatsRequest,
): ReadonlyMap<string, TensorGradientStats> => runRead("gradientStats", readGradientStats(model, data, req));
