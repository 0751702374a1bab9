/**
 * `worst-group-accuracy`: top-1 accuracy within each group (the split's `groups`,
 * e.g. label × spurious cue), reported as the minimum and the unweighted mean over
 * the groups that occur in the split. A split without `groups` falls back to
 * per-class accuracy (groups = labels), i.e. worst-class and mean-class (balanced)
 * accuracy. An empty split gives NaN for both.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineEvaluator, type EvaluationInput } from "../../core/plugin.ts";
import { predictedClasses } from "../../core/metrics.ts";

/** Accuracy per group id that occurs in the input (groups, or labels when there are none), by id. */
export const groupAccuracies = (input: EvaluationInput): Map<number, number> => {
  const pred = predictedClasses(input.logits, input.count, input.numClasses);
  const ids = input.groups ?? input.labels;
  const tally = new Map<number, { correct: number; total: number }>();
  for (let i = 0; i < input.count; i++) {
    const t = tally.get(ids[i]) ?? { correct: 0, total: 0 };
    t.total++;
    if (pred[i] === input.labels[i]) t.correct++;
    tally.set(ids[i], t);
  }
  return new Map([...tally.entries()].sort((a, b) => a[0] - b[0]).map(([g, t]) => [g, t.correct / t.total]));
};

/** The worst-group-accuracy evaluator. */
export default defineEvaluator({
  name: "worst-group-accuracy",
  description: "minimum and mean accuracy over groups (label × cue etc.; per class when the split has no groups)",
  options: Schema.Struct({}),
  make: () =>
    Effect.succeed({
      evaluate: (input) => {
        const accs = [...groupAccuracies(input).values()];
        if (accs.length === 0) return { "worst-group-accuracy": NaN, "mean-group-accuracy": NaN };
        return {
          "worst-group-accuracy": Math.min(...accs),
          "mean-group-accuracy": accs.reduce((a, b) => a + b, 0) / accs.length,
        };
      },
    }),
});
