/**
 * `class-prior`: label shift. The source domain is the clean base dataset; the
 * target domain has other class proportions, given explicitly (`proportions`,
 * normalised to sum 1) or drawn once from a symmetric Dirichlet(α) (`dirichlet: α`)
 * with the shift's rng. The target train AND test splits are subsampled per class,
 * each on its own.
 *
 * Counts and rounding, per split: with proportions p and n_c examples of class c,
 * the kept total is N = min over classes with p_c > 0 of ⌊n_c / p_c⌋ (the largest
 * total at which every class can supply its share p_c·N), and class c keeps m_c
 * examples, the largest-remainder rounding of p_c·N: m_c = ⌊p_c·N⌋ plus one for the
 * classes with the largest fractional parts until Σ m_c = N. So |m_c − p_c·N| < 1,
 * m_c ≤ n_c, and a class with p_c = 0 keeps nothing. Which examples of a class are
 * kept is random (rng streams `train` / `test`); kept examples stay in their
 * original order.
 *
 * Note: the engine draws the fine-tuning, validation and test examples from the
 * target class-balanced (round-robin over classes), so the shifted prior shows in
 * those samples only where a class runs out of examples.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import { type Dataset, type Split, take } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";

/** The class-prior options: exactly one of `proportions` and `dirichlet`. */
export const ClassPriorOptions = Schema.Struct({
  proportions: Schema.optional(
    Schema.Array(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())).annotations({
      description: "Target class proportions, one non-negative weight per class (normalised to sum 1); give this " +
        "or `dirichlet`.",
    }),
  ),
  dirichlet: Schema.optional(
    Schema.Number.pipe(Schema.finite(), Schema.positive()).annotations({
      description: "Concentration α > 0 of a symmetric Dirichlet from which the target proportions are drawn; give " +
        "this or `proportions`.",
    }),
  ),
}).pipe(
  Schema.filter((o) => {
    if (o.proportions === undefined && o.dirichlet === undefined) {
      return "give either `proportions` (one weight per class) or `dirichlet` (a concentration α > 0)";
    }
    if (o.proportions !== undefined && o.dirichlet !== undefined) {
      return "give either `proportions` or `dirichlet`, not both";
    }
    if (o.proportions !== undefined && !o.proportions.some((p) => p > 0)) {
      return "`proportions` needs at least one positive weight";
    }
    return undefined;
  }),
);

/** Decoded class-prior options. */
export type ClassPriorOptions = typeof ClassPriorOptions.Type;

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 via the U^(1/shape) boost). */
export const gammaDraw = (shape: number, rng: Rng): number => {
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.float();
    return gammaDraw(shape + 1, rng) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x = 0;
    let v = 0;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.float();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
};

/** Proportions drawn from a symmetric Dirichlet(α) over `k` classes (sum 1). */
export const dirichletDraw = (k: number, alpha: number, rng: Rng): number[] => {
  const g = Array.from({ length: k }, () => gammaDraw(alpha, rng));
  const sum = g.reduce((a, b) => a + b, 0);
  // for tiny α every draw can underflow to 0: then all mass goes to one random class (the α → 0 limit)
  if (!(sum > 0)) {
    const winner = rng.int(k);
    return g.map((_, i) => (i === winner ? 1 : 0));
  }
  return g.map((v) => v / sum);
};

/** `weights` normalised to sum 1. */
export const normalise = (weights: ReadonlyArray<number>): number[] => {
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
};

/**
 * Per-class counts to keep from `available` (examples per class) so that the
 * proportions are `p` (sum 1): total N = min_{p_c>0} ⌊n_c/p_c⌋, counts by
 * largest-remainder rounding of p·N (see the module doc).
 */
export const priorCounts = (available: ReadonlyArray<number>, p: ReadonlyArray<number>): number[] => {
  if (available.length !== p.length) {
    throw new Error(`${p.length} proportions for ${available.length} classes`);
  }
  const eps = 1e-9;
  let total = Infinity;
  for (let c = 0; c < p.length; c++) {
    if (p[c] > 0) total = Math.min(total, Math.floor(available[c] / p[c] + eps));
  }
  if (!Number.isFinite(total)) return p.map(() => 0);
  const quota = p.map((pc) => pc * total);
  const counts = quota.map((q, c) => Math.min(available[c], Math.floor(q + eps)));
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = quota
    .map((q, c) => ({ c, frac: q - counts[c] }))
    .filter(({ c }) => p[c] > 0)
    .sort((a, b) => b.frac - a.frac || a.c - b.c);
  for (const { c } of order) {
    if (left <= 0) break;
    if (counts[c] < available[c]) {
      counts[c]++;
      left--;
    }
  }
  return counts;
};

/** Subsample `split` to `p` (one random subset per class, original order kept). */
export const subsampleToPrior = (
  split: Split,
  shape: readonly [number, number, number],
  p: ReadonlyArray<number>,
  rng: Rng,
): Split => {
  const k = p.length;
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]].push(i);
  const counts = priorCounts(byClass.map((b) => b.length), p);
  const keep: number[] = [];
  for (let c = 0; c < k; c++) {
    const order = rng.permutation(byClass[c].length);
    for (let j = 0; j < counts[c]; j++) keep.push(byClass[c][order[j]]);
  }
  keep.sort((a, b) => a - b);
  return take(split, shape, keep);
};

/** The target proportions for `k` classes (draws from `rng` for the Dirichlet option). */
export const targetProportions = (o: ClassPriorOptions, k: number, rng: Rng): number[] => {
  if (o.proportions !== undefined) {
    if (o.proportions.length !== k) {
      throw new Error(`\`proportions\` has ${o.proportions.length} entries but the dataset has ${k} classes`);
    }
    return normalise(o.proportions);
  }
  return dirichletDraw(k, o.dirichlet ?? 1, rng);
};

/** Short label of the options for tables. */
export const classPriorLabel = (o: ClassPriorOptions): string =>
  o.proportions !== undefined ? `class-prior-[${o.proportions.join(",")}]` : `class-prior-dir${o.dirichlet}`;

/** The class-prior shift plugin. */
export default defineShift({
  name: "class-prior",
  description:
    "label shift: target class proportions given explicitly or drawn from a Dirichlet (target train and test subsampled)",
  options: ClassPriorOptions,
  make: (o) =>
    Effect.succeed({
      label: classPriorLabel(o),
      sourceKey: "clean",
      apply: (base: Dataset, rng) => {
        const p = targetProportions(o, base.classNames.length, rng(["proportions"]));
        return {
          source: base,
          target: {
            ...base,
            name: `${base.name}/${classPriorLabel(o)}`,
            train: subsampleToPrior(base.train, base.shape, p, rng(["train"])),
            test: subsampleToPrior(base.test, base.shape, p, rng(["test"])),
          },
        };
      },
    }),
});
