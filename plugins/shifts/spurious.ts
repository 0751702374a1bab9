/**
 * `spurious`: a Waterbirds-style spurious-correlation shift. A visual cue is drawn
 * into some images; the cue agrees with the example's label group on a fraction
 * `sourceCorrelation` of the SOURCE examples and `targetCorrelation` of the TARGET
 * examples, so a model pre-trained on the source learns to lean on the cue.
 *
 * - Task label (`labels`): `original` keeps the K classes; `binary` (default) maps
 *   class y to 0 when y < K/2 (the first half of the class list) and to 1 otherwise
 *   (for MNIST: digits 0–4 → 0, 5–9 → 1).
 * - Label group: the binary label above (also with `labels: original`, where the
 *   cue is associated with the second half of the classes).
 * - Agreement: an example agrees when cue-present = (label group is 1). In every
 *   split and for every ORIGINAL class c with n_c examples exactly round(p·n_c)
 *   examples, chosen at random, agree (p the domain's correlation); the others get
 *   the opposite cue. So the agreement fraction of each split is p up to rounding.
 * - Groups: every example carries `groups` = label·2 + cue (cue 1 = drawn), i.e.
 *   4 groups for binary labels, 2K for original labels.
 * - Cues (`cue`, `color`, `size`): `border` paints a frame `size` pixels wide,
 *   `patch` a `size`×`size` square in the top-left corner, `background` raises every
 *   pixel channel to at least the colour (dark background takes the colour, bright
 *   strokes stay). `color` is an intensity 0–255 or an [r, g, b] triple; a triple on
 *   a grayscale image uses its luminance (0.299 r + 0.587 g + 0.114 b), an intensity
 *   on an RGB image is gray. Default colour: 255 for border/patch, 96 for background.
 *
 * Images stay (or become) uint8. Both domains change, so `sourceKey` contains all
 * options (the shift's rng streams depend on all of them too).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import type { Dataset, Split } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";

const Channel = Schema.Int.pipe(Schema.between(0, 255));

/** The spurious options. */
export const SpuriousOptions = Schema.Struct({
  cue: Schema.optionalWith(
    Schema.Literal("border", "patch", "background").annotations({
      description: "Which cue is drawn: a `border` frame, a `patch` in the top-left corner, or a raised `background`.",
    }),
    { default: () => "border" as const },
  ),
  color: Schema.optional(
    Schema.Union(Channel, Schema.Tuple(Channel, Channel, Channel)).annotations({
      description: "Cue colour, an intensity 0–255 or an [r, g, b] triple; when absent 255 (border, patch) or 96 " +
        "(background).",
    }),
  ),
  size: Schema.optionalWith(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Border width or patch side in pixels (not used by `background`).",
    }),
    { default: () => 3 },
  ),
  labels: Schema.optionalWith(
    Schema.Literal("original", "binary").annotations({
      description: "Task label: `binary` (class y < K/2 → 0, else 1) or `original` (the K classes).",
    }),
    { default: () => "binary" as const },
  ),
  sourceCorrelation: Schema.optionalWith(
    Schema.Number.pipe(Schema.between(0, 1)).annotations({
      description: "Fraction of source examples whose cue agrees with the label group.",
    }),
    { default: () => 0.95 },
  ),
  targetCorrelation: Schema.optionalWith(
    Schema.Number.pipe(Schema.between(0, 1)).annotations({
      description: "Fraction of target examples whose cue agrees with the label group.",
    }),
    { default: () => 0.5 },
  ),
});

/** Decoded spurious options. */
export type SpuriousOptions = typeof SpuriousOptions.Type;

/** Label group of class y among k classes: 0 for y < k/2, else 1. */
export const labelGroup = (y: number, k: number): 0 | 1 => (y < k / 2 ? 0 : 1);

/** The cue colour per channel for images with `channels` channels. */
export const cueColor = (o: SpuriousOptions, channels: number): number[] => {
  const color = o.color ?? (o.cue === "background" ? 96 : 255);
  if (typeof color === "number") return new Array<number>(channels).fill(color);
  if (channels === 3) return [...color];
  if (channels === 1) return [Math.round(0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2])];
  throw new Error(
    `an [r, g, b] colour needs grayscale or RGB images, these have ${channels} channels; give an intensity`,
  );
};

/** Draw the cue into one image (in place), `shape` [H, W, C]. */
export const drawCue = (
  image: Uint8Array,
  shape: readonly [number, number, number],
  cue: SpuriousOptions["cue"],
  size: number,
  color: ReadonlyArray<number>,
): void => {
  const [h, w, ch] = shape;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (y * w + x) * ch;
      if (cue === "background") {
        for (let c = 0; c < ch; c++) image[at + c] = Math.max(image[at + c], color[c]);
        continue;
      }
      const inside = cue === "border" ? y < size || y >= h - size || x < size || x >= w - size : y < size && x < size;
      if (inside) { for (let c = 0; c < ch; c++) image[at + c] = color[c]; }
    }
  }
};

/**
 * Cue (0/1) per example of `labels` (original classes 0..k−1): for each class c,
 * exactly round(p·n_c) random examples agree with the label group.
 */
export const assignCues = (labels: Int32Array, k: number, p: number, rng: Rng): Uint8Array => {
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const cues = new Uint8Array(labels.length);
  for (let c = 0; c < k; c++) {
    const members = byClass[c];
    const agree = Math.round(p * members.length);
    const order = rng.permutation(members.length);
    const g = labelGroup(c, k);
    for (let j = 0; j < members.length; j++) cues[members[order[j]]] = j < agree ? g : 1 - g;
  }
  return cues;
};

const toUint8 = (images: Uint8Array | Float32Array): Uint8Array =>
  images instanceof Uint8Array
    ? new Uint8Array(images)
    : Uint8Array.from(images, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

/** One split with cues drawn at correlation `p`, task labels and groups. */
export const spuriousSplit = (
  split: Split,
  shape: readonly [number, number, number],
  k: number,
  o: SpuriousOptions,
  p: number,
  rng: Rng,
): Split => {
  const cues = assignCues(split.labels, k, p, rng);
  const images = toUint8(split.images);
  const size = shape[0] * shape[1] * shape[2];
  const color = cueColor(o, shape[2]);
  const labels = new Int32Array(split.count);
  const groups = new Int32Array(split.count);
  for (let i = 0; i < split.count; i++) {
    const y = split.labels[i];
    labels[i] = o.labels === "binary" ? labelGroup(y, k) : y;
    groups[i] = labels[i] * 2 + cues[i];
    if (cues[i] === 1) drawCue(images.subarray(i * size, (i + 1) * size), shape, o.cue, o.size, color);
  }
  return { images, labels, groups, count: split.count };
};

/** Short label of the options for tables. */
export const spuriousLabel = (o: SpuriousOptions): string =>
  `spurious-${o.cue}-${o.labels}-s${o.sourceCorrelation}-t${o.targetCorrelation}`;

/** The task's class names: the originals, or the two halves of the class list. */
export const spuriousClassNames = (names: ReadonlyArray<string>, labels: SpuriousOptions["labels"]): string[] => {
  if (labels === "original") return [...names];
  const k = names.length;
  const half = names.filter((_, y) => labelGroup(y, k) === 0);
  const rest = names.filter((_, y) => labelGroup(y, k) === 1);
  const span = (ns: string[]) => (ns.length === 1 ? ns[0] : `${ns[0]}..${ns[ns.length - 1]}`);
  return [span(half), span(rest)];
};

const checkShape = (base: Dataset, o: SpuriousOptions): void => {
  const k = base.classNames.length;
  if (k < 2) throw new Error(`the spurious shift needs at least 2 classes, the dataset has ${k}`);
  const [h, w] = base.shape;
  if (o.cue === "border" && 2 * o.size >= Math.min(h, w)) {
    throw new Error(`a ${o.size}-pixel border would cover the whole ${h}×${w} image; lower \`size\``);
  }
  if (o.cue === "patch" && o.size > Math.min(h, w)) {
    throw new Error(`a ${o.size}×${o.size} patch does not fit the ${h}×${w} image; lower \`size\``);
  }
};

/** The spurious shift plugin. */
export default defineShift({
  name: "spurious",
  description:
    "spurious-correlation shift (Waterbirds-style): a drawn cue agrees with the label on most source, fewer target examples; groups = label × cue",
  options: SpuriousOptions,
  make: (o) =>
    Effect.succeed({
      label: spuriousLabel(o),
      sourceKey: `spurious:${JSON.stringify(o)}`,
      apply: (base, rng) => {
        checkShape(base, o);
        const k = base.classNames.length;
        const domain = (which: "source" | "target", p: number): Dataset => ({
          name: `${base.name}/${spuriousLabel(o)}/${which}`,
          shape: base.shape,
          classNames: spuriousClassNames(base.classNames, o.labels),
          train: spuriousSplit(base.train, base.shape, k, o, p, rng([which, "train"])),
          test: spuriousSplit(base.test, base.shape, k, o, p, rng([which, "test"])),
        });
        return { source: domain("source", o.sourceCorrelation), target: domain("target", o.targetCorrelation) };
      },
    }),
});
