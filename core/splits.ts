/**
 * Target splits: a class-balanced, seeded sample of labelled target examples for
 * fine-tuning and a disjoint one for validation (both from the target train
 * split), and a fixed held-out test sample from the target test split.
 * @module
 */
import type { Rng } from "./random.ts";
import type { Split } from "./dataset.ts";

/**
 * Pick `sizes[i]` examples for each of several disjoint samples, as class-balanced
 * as the data allows, in a seeded random order. Throws when the split is too small.
 */
export const balancedSamples = (
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
    const picked: number[] = [];
    // round-robin over classes keeps the sample balanced; exhausted classes are skipped
    let c = 0;
    let idle = 0;
    while (picked.length < size && idle < numClasses) {
      if (cursor[c] < byClass[c].length) {
        picked.push(byClass[c][cursor[c]++]);
        idle = 0;
      } else {
        idle++;
      }
      c = (c + 1) % numClasses;
    }
    // shuffle so that batches are not ordered by class
    const perm = rng.permutation(picked.length);
    return Int32Array.from(perm, (j) => picked[j]);
  });
};
