/**
 * `label-permutation`: an output-level shift (like the paper's CIFAR-Flip). The
 * images are unchanged; on the target domain class y is relabelled `perm[y]`.
 * The permutation is named (`reverse`: y → K−1−y; `shift:k`: y → (y+k) mod K,
 * k may be negative) or given explicitly as a list that must be a permutation of
 * 0..K−1 (checked when the shift is applied, since K comes from the dataset).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import type { Split } from "../../core/dataset.ts";

const SHIFT_PATTERN = /^shift:(-?\d+)$/;

/** A named permutation: `reverse` or `shift:k` with an integer k. */
export const PermutationName = Schema.String.pipe(
  Schema.filter((s) =>
    s === "reverse" || SHIFT_PATTERN.test(s) ||
    `expected "reverse", "shift:k" (k an integer, e.g. "shift:1") or a list of class indices, got "${s}"`
  ),
);

/** The permutation option: a name or an explicit list of class indices. */
export const PermutationSpec = Schema.Union(PermutationName, Schema.Array(Schema.Int));

/** Decoded permutation option. */
export type PermutationSpec = typeof PermutationSpec.Type;

/**
 * Why `perm` is not a permutation of 0..k−1, or `undefined` when it is one.
 * Names the wrong length, out-of-range values, repeated and missing classes.
 */
export const permutationProblem = (perm: ReadonlyArray<number>, k: number): string | undefined => {
  const problems: string[] = [];
  if (perm.length !== k) problems.push(`it has ${perm.length} entries but the dataset has ${k} classes`);
  const outside = perm.filter((v) => !Number.isInteger(v) || v < 0 || v >= k);
  if (outside.length > 0) problems.push(`${[...new Set(outside)].join(", ")} outside 0..${k - 1}`);
  const seen = new Array<number>(k).fill(0);
  for (const v of perm) if (Number.isInteger(v) && v >= 0 && v < k) seen[v]++;
  const repeated = seen.flatMap((n, c) => (n > 1 ? [c] : []));
  const missing = seen.flatMap((n, c) => (n === 0 ? [c] : []));
  if (repeated.length > 0) problems.push(`${repeated.join(", ")} repeated`);
  if (missing.length > 0) problems.push(`${missing.join(", ")} missing`);
  return problems.length === 0
    ? undefined
    : `permutation [${perm.join(", ")}] is not a permutation of 0..${k - 1}: ${problems.join("; ")}`;
};

/** The permutation array for `spec` on `k` classes; throws a descriptive Error when invalid. */
export const resolvePermutation = (spec: PermutationSpec, k: number): number[] => {
  if (spec === "reverse") return Array.from({ length: k }, (_, y) => k - 1 - y);
  if (typeof spec === "string") {
    const m = SHIFT_PATTERN.exec(spec);
    if (!m) throw new Error(`unknown permutation "${spec}" (expected "reverse" or "shift:k")`);
    const shift = Number(m[1]);
    return Array.from({ length: k }, (_, y) => (((y + shift) % k) + k) % k);
  }
  const problem = permutationProblem(spec, k);
  if (problem !== undefined) throw new Error(problem);
  return [...spec];
};

/** Short label of a permutation spec for tables. */
export const permutationLabel = (spec: PermutationSpec): string =>
  spec === "reverse"
    ? "labels-reversed"
    : typeof spec === "string"
    ? `labels-${spec.replace(":", "")}`
    : `labels-[${spec.join(",")}]`;

const relabel = (split: Split, perm: ReadonlyArray<number>): Split => ({
  ...split,
  labels: Int32Array.from(split.labels, (y) => perm[y]),
});

/** The label-permutation shift plugin. */
export default defineShift({
  name: "label-permutation",
  description:
    "output-level shift: target labels are a fixed permutation of the classes (`reverse`, `shift:k`, or an explicit list)",
  options: Schema.Struct({
    permutation: Schema.optionalWith(
      PermutationSpec.annotations({
        description: "`reverse` (y → K−1−y), `shift:k` (y → (y+k) mod K), or an explicit permutation of 0..K−1.",
      }),
      { default: () => "reverse" },
    ),
  }),
  make: (o) =>
    Effect.succeed({
      label: permutationLabel(o.permutation),
      sourceKey: "clean",
      apply: (base) => {
        const perm = resolvePermutation(o.permutation, base.classNames.length);
        return {
          source: base,
          target: {
            ...base,
            name: `${base.name}/permuted`,
            train: relabel(base.train, perm),
            test: relabel(base.test, perm),
          },
        };
      },
    }),
});
