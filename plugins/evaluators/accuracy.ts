/**
 * `accuracy`: fraction of examples whose arg-max logit is the label.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineEvaluator } from "../../core/plugin.ts";
import { argmaxAccuracy } from "../../core/metrics.ts";

/** The accuracy evaluator. */
export default defineEvaluator({
  name: "accuracy",
  description: "top-1 accuracy on the split (fraction in [0, 1])",
  options: Schema.Struct({}),
  make: () =>
    Effect.succeed({
      evaluate: (input) => ({
        accuracy: argmaxAccuracy(input.logits, input.labels, input.count, input.numClasses),
      }),
    }),
});
