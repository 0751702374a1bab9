/**
 * `label-permutation`: an output-level shift (like the paper's CIFAR-Flip). The
 * images are unchanged; on the target domain class y is relabelled `perm[y]`.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import type { Split } from "../../core/dataset.ts";

const relabel = (split: Split, perm: ReadonlyArray<number>): Split => ({
  ...split,
  labels: Int32Array.from(split.labels, (y) => perm[y]),
});

/** The label-permutation shift plugin. */
export default defineShift({
  name: "label-permutation",
  description: "output-level shift: target labels are a fixed permutation of the classes (`reverse`: y → K−1−y)",
  options: Schema.Struct({
    /** `reverse`, or an explicit permutation of 0..K−1. */
    permutation: Schema.optionalWith(
      Schema.Union(Schema.Literal("reverse"), Schema.Array(Schema.Int.pipe(Schema.nonNegative()))),
      { default: () => "reverse" as const },
    ),
  }),
  make: (o) =>
    Effect.succeed({
      label: o.permutation === "reverse" ? "labels-reversed" : `labels-[${o.permutation.join(",")}]`,
      sourceKey: "clean",
      apply: (base) => {
        const k = base.classNames.length;
        const perm = o.permutation === "reverse" ? Array.from({ length: k }, (_, y) => k - 1 - y) : o.permutation;
        const sorted = [...perm].sort((a, b) => a - b);
        if (perm.length !== k || sorted.some((v, i) => v !== i)) {
          throw new Error(`label-permutation: permutation [${perm}] is not a permutation of 0..${k - 1}`);
        }
        return {
          source: base,
          target: { ...base, name: `${base.name}/permuted`, train: relabel(base.train, perm), test: relabel(base.test, perm) },
        };
      },
    }),
});
