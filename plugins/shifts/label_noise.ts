/**
 * `label-noise`: an output-level shift on the labelled target examples. The source
 * domain and the target test split stay clean; only the TARGET TRAIN split (from
 * which the engine draws the fine-tuning and validation examples) gets noisy labels.
 *
 * Modes, each example decided independently (so the number of changed labels is
 * Binomial(n, rate) in the first two modes):
 * - `symmetric`: with probability `rate` the label is replaced by a uniformly random
 *   OTHER class (never the same one);
 * - `pairs`: with probability `rate` class y becomes (y+1) mod K (class-conditional
 *   pair flips);
 * - `matrix`: the new label of an example of class y is drawn from row y of the
 *   K×K transition matrix `matrix` (rows sum to 1; the diagonal is the chance to
 *   keep the label). `rate` is not used.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import type { Split } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";

/** Tolerance on a transition-matrix row sum. */
const ROW_SUM_TOLERANCE = 1e-6;

/** Why `matrix` is not a row-stochastic square matrix (of size `k` when given), or `undefined`. */
export const transitionMatrixProblem = (
  matrix: ReadonlyArray<ReadonlyArray<number>>,
  k?: number,
): string | undefined => {
  const n = matrix.length;
  if (n === 0) return "the transition matrix is empty";
  if (k !== undefined && n !== k) return `the transition matrix has ${n} rows but the dataset has ${k} classes`;
  for (let r = 0; r < n; r++) {
    const row = matrix[r];
    if (row.length !== n) {
      return `row ${r} of the transition matrix has ${row.length} entries, expected ${n} (a square matrix)`;
    }
    const bad = row.findIndex((v) => !Number.isFinite(v) || v < 0 || v > 1);
    if (bad >= 0) return `entry [${r}][${bad}] = ${row[bad]} of the transition matrix is not a probability in [0, 1]`;
    const sum = row.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) return `row ${r} of the transition matrix sums to ${sum}, not 1`;
  }
  return undefined;
};

/** The label-noise options. */
export const LabelNoiseOptions = Schema.Struct({
  mode: Schema.optionalWith(
    Schema.Literal("symmetric", "pairs", "matrix").annotations({
      description: "How labels change: `symmetric` (to a random other class), `pairs` (y → y+1 mod K) or `matrix` " +
        "(drawn from a transition matrix).",
    }),
    { default: () => "symmetric" as const },
  ),
  rate: Schema.optionalWith(
    Schema.Number.pipe(Schema.between(0, 1)).annotations({
      description: "Probability that a label is changed (symmetric and pairs modes).",
    }),
    { default: () => 0.2 },
  ),
  matrix: Schema.optional(
    Schema.Array(Schema.Array(Schema.Number)).annotations({
      description:
        "K×K row-stochastic transition matrix (row y: the new-label probabilities of class y), required by " +
        "and only allowed with `mode: matrix`.",
    }),
  ),
}).pipe(
  Schema.filter((o) => {
    if (o.mode === "matrix") {
      if (o.matrix === undefined) return "`mode: matrix` needs `matrix`, a K×K transition matrix whose rows sum to 1";
      return transitionMatrixProblem(o.matrix);
    }
    if (o.matrix !== undefined) return "`matrix` is only used with `mode: matrix`; remove it or set `mode: matrix`";
    return undefined;
  }),
);

/** Decoded label-noise options. */
export type LabelNoiseOptions = typeof LabelNoiseOptions.Type;

/**
 * The labels of `labels` (classes 0..k−1) after noise; pure in `rng`. One uniform
 * draw per example, plus one more draw for a symmetric flip.
 */
export const noisyLabels = (labels: Int32Array, k: number, o: LabelNoiseOptions, rng: Rng): Int32Array => {
  const out = new Int32Array(labels.length);
  if (o.mode === "matrix") {
    const matrix = o.matrix ?? [];
    const problem = transitionMatrixProblem(matrix, k);
    if (problem !== undefined) throw new Error(problem);
    for (let i = 0; i < labels.length; i++) {
      const row = matrix[labels[i]];
      const u = rng.float();
      let acc = 0;
      let c = 0;
      // the last class with positive probability absorbs rounding of the row sum
      let last = 0;
      for (; c < k; c++) {
        if (row[c] > 0) last = c;
        acc += row[c];
        if (u < acc && row[c] > 0) break;
      }
      out[i] = c < k ? c : last;
    }
    return out;
  }
  if (o.mode === "symmetric" && k < 2 && o.rate > 0) {
    throw new Error(`symmetric label noise needs at least 2 classes, the dataset has ${k}`);
  }
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (rng.float() >= o.rate) {
      out[i] = y;
    } else if (o.mode === "pairs") {
      out[i] = (y + 1) % k;
    } else {
      const j = rng.int(k - 1);
      out[i] = j >= y ? j + 1 : j;
    }
  }
  return out;
};

/** Short label of the options for tables. */
export const labelNoiseLabel = (o: LabelNoiseOptions): string =>
  o.mode === "matrix" ? "label-noise-matrix" : `label-noise-${o.mode === "symmetric" ? "sym" : "pairs"}${o.rate}`;

const noisy = (split: Split, k: number, o: LabelNoiseOptions, rng: Rng): Split => ({
  ...split,
  labels: noisyLabels(split.labels, k, o, rng),
});

/** The label-noise shift plugin. */
export default defineShift({
  name: "label-noise",
  description:
    "output-level shift: noisy labels (symmetric, pair flips or a transition matrix) on the target train split only",
  options: LabelNoiseOptions,
  make: (o) =>
    Effect.succeed({
      label: labelNoiseLabel(o),
      sourceKey: "clean",
      apply: (base, rng) => ({
        source: base,
        target: {
          ...base,
          name: `${base.name}/${labelNoiseLabel(o)}`,
          train: noisy(base.train, base.classNames.length, o, rng(["train"])),
          test: base.test,
        },
      }),
    }),
});
