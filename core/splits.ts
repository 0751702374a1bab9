/**
 * Target splits: a stratified (class-proportional), seeded sample of labelled target examples for
 * fine-tuning and a disjoint one for validation (both from the target train
 * split), and a fixed held-out test sample from the target test split.
 * @module
 */
import type { Rng } from "./random.ts";
import type { Split } from "./dataset.ts";

/**
 * Pick `sizes[i]` examples for each of several disjoint samples, stratified by class:
 * each sample keeps the split's own class proportions (largest-remainder rounding),
 * so a shift that changes the class prior keeps it. Examples are drawn in a seeded
 * random order. Throws when the split is too small.
 */
export const stratifiedSamples = (
  split: Split,
  numClasses: number,
  sizes: ReadonlyArray<number>,
  rng: Rng,
): Int32Array[] => {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > split.count) {
    throw new RangeError(`asked for ${total} examples but the split has only ${split.count}`);
  }
  const order = rng.permutation(split.count);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (const i of order) byClass[split.labels[i]].push(i);
  const cursor = new Array<number>(numClasses).fill(0);
  return sizes.map((size) => {
    const remaining = byClass.map((members, c) => members.length - cursor[c]);
    const left = remaining.reduce((a, b) => a + b, 0);
    const quota = largestRemainder(remaining.map((n) => (size * n) / left), size, remaining);
    const picked: number[] = [];
    quota.forEach((q, c) => {
      for (let k = 0; k < q; k++) picked.push(byClass[c][cursor[c]++]);
    });
    // shuffle so that batches are not ordered by class
    const perm = rng.permutation(picked.length);
    return Int32Array.from(perm, (j) => picked[j]);
  });
};

/** Round `shares` to integers summing to `total` (largest remainder; ties to the lower index), capped by `caps`. */
export const largestRemainder = (
  shares: ReadonlyArray<number>,
  total: number,
  caps: ReadonlyArray<number>,
): number[] => {
  const out = shares.map((s, i) => Math.min(Math.floor(s), caps[i]));
  let missing = total - out.reduce((a, b) => a + b, 0);
  const order = shares.map((s, i) => [s - Math.floor(s), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  while (missing > 0) {
    let progressed = false;
    for (const [, i] of order) {
      if (missing === 0) break;
      if (out[i] < caps[i]) {
        out[i]++;
        missing--;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return out;
};
