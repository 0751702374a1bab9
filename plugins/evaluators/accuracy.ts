/**
 * `accuracy`: fraction of examples whose arg-max logit is the label.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineEvaluator, type EvaluationInput } from "../../core/plugin.ts";

/** Arg-max class of each row of row-major logits. */
export const argmaxRows = (input: EvaluationInput): Int32Array => {
  const out = new Int32Array(input.count);
  const k = input.numClasses;
  for (let i = 0; i < input.count; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (input.logits[i * k + c] > input.logits[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
};

/** The accuracy evaluator. */
export default defineEvaluator({
  name: "accuracy",
  description: "top-1 accuracy on the split (fraction in [0, 1])",
  options: Schema.Struct({}),
  make: () =>
    Effect.succeed({
      evaluate: (input) => {
        const pred = argmaxRows(input);
        let correct = 0;
        for (let i = 0; i < input.count; i++) if (pred[i] === input.labels[i]) correct++;
        return { accuracy: input.count > 0 ? correct / input.count : NaN };
      },
    }),
});
