/**
 * Batches: copy the rows at some indices of a split (uint8 images, float images or
 * cached float activations) into one float32 tensor, and their labels into an array.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Split } from "./dataset.ts";

/**
 * A float32 tensor [indices.length, ...rowShape] of the rows at `indices` of `data`.
 * uint8 data is scaled to [0, 1] here, per batch; float data is copied as is.
 */
export const batchRows = (
  data: Uint8Array | Float32Array,
  rowShape: ReadonlyArray<number>,
  indices: ArrayLike<number>,
): tf.Tensor => {
  const size = rowShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(indices.length * size);
  if (data instanceof Uint8Array) {
    for (let i = 0; i < indices.length; i++) {
      const base = indices[i] * size;
      const o = i * size;
      for (let k = 0; k < size; k++) out[o + k] = data[base + k] / 255;
    }
  } else {
    for (let i = 0; i < indices.length; i++) {
      out.set(data.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    }
  }
  return tf.tensor(out, [indices.length, ...rowShape]);
};

/** Float32 NHWC batch tensor for `indices` of a split. */
export const batchImages = (
  split: Split,
  shape: readonly [number, number, number],
  indices: ArrayLike<number>,
): tf.Tensor4D => batchRows(split.images, shape, indices) as tf.Tensor4D;

/** The labels at `indices` of a split. */
export const batchLabels = (split: Split, indices: ArrayLike<number>): Int32Array => {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = split.labels[indices[i]];
  return out;
};

/** Consecutive batches over `count` examples in order: the first index and the indices of each. */
export function* inOrder(count: number, batchSize: number): Generator<{ start: number; idx: Int32Array }> {
  for (let start = 0; start < count; start += batchSize) {
    const idx = new Int32Array(Math.min(batchSize, count - start));
    for (let i = 0; i < idx.length; i++) idx[i] = start + i;
    yield { start, idx };
  }
}
