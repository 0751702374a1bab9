/**
 * The Dataset value: images kept as uint8 NHWC (converted to float per batch),
 * integer labels and optional group ids, plus pure helpers that subset and split.
 * @module
 */

/** One split of a dataset: `count` images of `shape` [H, W, C], row-major NHWC. */
export interface Split {
  /** Pixel data, NHWC. uint8 in [0, 255] or float32 in [0, 1]. */
  readonly images: Uint8Array | Float32Array;
  /** One class index per image, in [0, numClasses). */
  readonly labels: Int32Array;
  /** Optional group id per image (e.g. label × spurious cue), for group metrics. */
  readonly groups?: Int32Array;
  /** Number of examples. */
  readonly count: number;
}

/** A labelled image dataset with a train and a test split. */
export interface Dataset {
  /** Short identifier, e.g. `mnist`. */
  readonly name: string;
  /** Image shape [H, W, C]. */
  readonly shape: readonly [number, number, number];
  /** Human-readable class names; its length is the number of classes. */
  readonly classNames: ReadonlyArray<string>;
  readonly train: Split;
  readonly test: Split;
}

/** Number of values in one image of `shape`. */
export const imageSize = (shape: readonly [number, number, number]): number => shape[0] * shape[1] * shape[2];

/** A new split holding the examples at `indices` (in that order). */
export const take = (
  split: Split,
  shape: readonly [number, number, number],
  indices: ArrayLike<number>,
): Split => {
  const size = imageSize(shape);
  const images = split.images instanceof Uint8Array
    ? new Uint8Array(indices.length * size)
    : new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  const groups = split.groups ? new Int32Array(indices.length) : undefined;
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (j < 0 || j >= split.count) {
      throw new RangeError(`take: index ${j} outside [0, ${split.count})`);
    }
    images.set(split.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = split.labels[j];
    if (groups && split.groups) groups[i] = split.groups[j];
  }
  return groups ? { images, labels, groups, count: indices.length } : { images, labels, count: indices.length };
};

/** Images of a split as float32 in [0, 1] (copies uint8 data; returns float data as is). */
export const toFloat = (split: Split): Float32Array => {
  if (split.images instanceof Float32Array) return split.images;
  const out = new Float32Array(split.images.length);
  for (let i = 0; i < out.length; i++) out[i] = split.images[i] / 255;
  return out;
};

/** Count of examples per class, length `numClasses`. */
export const classCounts = (split: Split, numClasses: number): number[] => {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < split.count; i++) counts[split.labels[i]]++;
  return counts;
};
