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
  /**
   * Present on lazy splits (see `lazySplit`): the examples at `indices` computed without
   * computing the others. `take` uses it; reading `images` computes every example.
   */
  readonly select?: (indices: ArrayLike<number>) => Split;
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
  checkIndices(split, indices);
  if (split.select) return split.select(indices);
  const size = imageSize(shape);
  const images = split.images instanceof Uint8Array
    ? new Uint8Array(indices.length * size)
    : new Float32Array(indices.length * size);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(split.images.subarray(j * size, (j + 1) * size), i * size);
  }
  return { images, ...pickLabels(split, indices) };
};

/** The labels (and groups, when present) and count of the examples at `indices`. */
const pickLabels = (
  split: Pick<Split, "labels" | "groups">,
  indices: ArrayLike<number>,
): Pick<Split, "labels" | "groups" | "count"> => {
  const labels = new Int32Array(indices.length);
  const groups = split.groups ? new Int32Array(indices.length) : undefined;
  for (let i = 0; i < indices.length; i++) {
    labels[i] = split.labels[indices[i]];
    if (groups && split.groups) groups[i] = split.groups[indices[i]];
  }
  return groups ? { labels, groups, count: indices.length } : { labels, count: indices.length };
};

const checkIndices = (split: Split, indices: ArrayLike<number>): void => {
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < split.count)) throw new RangeError(`take: index ${j} outside [0, ${split.count})`);
  }
};

/**
 * A split of uint8 images computed one example at a time by `imageAt(i, out)` (which
 * fills `out`, one image): `take` computes only the examples it selects, and reading
 * `images` computes them all once. Example i must not depend on which others are
 * computed (a corruption draws its noise from a stream of its own per image).
 */
export const lazySplit = (
  base: Omit<Split, "images" | "select">,
  shape: readonly [number, number, number],
  imageAt: (index: number, out: Uint8Array) => void,
): Split => {
  const size = imageSize(shape);
  let all: Uint8Array | undefined;
  const compute = (indices: ArrayLike<number>): Uint8Array => {
    const out = new Uint8Array(indices.length * size);
    for (let i = 0; i < indices.length; i++) imageAt(indices[i], out.subarray(i * size, (i + 1) * size));
    return out;
  };
  // only the labels, groups and count of `base`: not its images, nor a `select` of its own
  const own: Omit<Split, "images" | "select"> = {
    labels: base.labels,
    count: base.count,
    ...(base.groups ? { groups: base.groups } : {}),
  };
  return {
    ...own,
    get images(): Uint8Array {
      all ??= compute(Int32Array.from({ length: base.count }, (_, i) => i));
      return all;
    },
    select: (indices) =>
      all ? take({ ...own, images: all }, shape, indices) : { images: compute(indices), ...pickLabels(base, indices) },
  };
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
