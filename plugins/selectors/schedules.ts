/**
 * Baselines a surgical fine-tuning study is compared against:
 *
 * - `gradual-unfreezing` (Howard & Ruder, ULMFiT): one more layer group every
 *   `every` epochs, last→first (default) or first→last.
 * - `l2-sp` (Li et al., 2018): every layer tuned with the penalty α‖θ − θ₀‖² toward
 *   the pre-trained weights θ₀.
 * - `lp-ft` (Kumar et al., 2022): linear probe (head only) until the training loss
 *   stops improving by `tolerance` (relative) or `probeEpochs` epochs have passed,
 *   then every layer at `ftMultiplier` × the learning rate.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineSelector } from "../../core/plugin.ts";
import type { Model } from "../../core/model.ts";

const allOf = (model: Model, multiplier = 1) => new Map(model.params.map((v) => [v.name, multiplier]));

/** Groups trained in `epoch` by gradual unfreezing (in network order). */
export const unfrozenGroups = (
  groups: ReadonlyArray<string>,
  epoch: number,
  every: number,
  direction: "last-to-first" | "first-to-last",
): ReadonlyArray<string> => {
  const n = Math.min(groups.length, 1 + Math.floor(epoch / every));
  return direction === "first-to-last" ? groups.slice(0, n) : groups.slice(groups.length - n);
};

/** The epoch (0-based) at which lp-ft leaves the linear-probe phase, given the losses so far, or undefined. */
export const probeEnd = (
  losses: ReadonlyArray<number>,
  probeEpochs: number,
  tolerance: number,
): number | undefined => {
  for (let e = 1; e <= losses.length; e++) {
    if (e >= probeEpochs) return e;
    if (e >= 2) {
      const before = losses[e - 2];
      const after = losses[e - 1];
      if (before > 0 && (before - after) / before < tolerance) return e;
    }
  }
  return undefined;
};

/** The gradual-unfreezing selector. */
export const gradualUnfreezing = defineSelector({
  name: "gradual-unfreezing",
  description: "start with one layer group and unfreeze one more every k epochs (last→first or first→last)",
  options: Schema.Struct({
    direction: Schema.optionalWith(
      Schema.Literal("last-to-first", "first-to-last").annotations({
        description: "Order of unfreezing: from the head towards the input (`last-to-first`) or the reverse.",
      }),
      { default: () => "last-to-first" as const },
    ),
    every: Schema.optionalWith(
      Schema.Int.pipe(Schema.positive()).annotations({
        description: "Epochs between unfreezing one more layer group.",
      }),
      { default: () => 1 },
    ),
  }),
  make: (o) =>
    Effect.succeed({
      label: `gradual-${o.direction === "last-to-first" ? "l2f" : "f2l"}`,
      multipliers: ({ model, epoch }) => {
        const active = new Set(unfrozenGroups(model.groups, epoch, o.every, o.direction));
        return new Map(model.params.filter((v) => active.has(v.group)).map((v) => [v.name, 1]));
      },
    }),
});

/** The L2-SP selector. */
export const l2sp = defineSelector({
  name: "l2-sp",
  description: "tune every layer with the penalty α‖θ − θ₀‖² toward the pre-trained weights",
  options: Schema.Struct({
    alpha: Schema.optionalWith(
      Schema.Number.pipe(Schema.nonNegative(), Schema.finite()).annotations({
        description: "Weight α of the penalty α‖θ − θ₀‖² toward the pre-trained weights θ₀ (0: no penalty).",
      }),
      { default: () => 0.01 },
    ),
  }),
  make: (o) =>
    Effect.succeed({
      label: `l2-sp(${o.alpha})`,
      penalty: { alpha: o.alpha },
      multipliers: ({ model }) => allOf(model),
    }),
});

/** The LP-FT selector. */
export const lpFt = defineSelector({
  name: "lp-ft",
  description: "linear probe (head only) until the loss plateaus, then fine-tune every layer at a smaller lr",
  options: Schema.Struct({
    probeEpochs: Schema.optional(
      Schema.Int.pipe(Schema.positive()).annotations({
        description: "Longest linear-probe phase, in epochs; when absent, half the fine-tuning epochs (at least 1).",
      }),
    ),
    tolerance: Schema.optionalWith(
      Schema.Number.pipe(Schema.between(0, 1)).annotations({
        description: "The probe ends earlier once an epoch improves the training loss by less than this fraction.",
      }),
      { default: () => 0.01 },
    ),
    ftMultiplier: Schema.optionalWith(
      Schema.Number.pipe(Schema.positive(), Schema.finite()).annotations({
        description: "Learning-rate multiplier of every layer in the full fine-tuning phase.",
      }),
      { default: () => 0.1 },
    ),
  }),
  make: (o) =>
    Effect.succeed({
      label: "lp-ft",
      multipliers: ({ model, epoch, epochs, trainLosses }) => {
        const end = probeEnd(trainLosses, o.probeEpochs ?? Math.max(1, Math.ceil(epochs / 2)), o.tolerance);
        if (end !== undefined && epoch >= end) return allOf(model, o.ftMultiplier);
        const head = model.groups[model.groups.length - 1];
        return new Map(model.params.filter((v) => v.group === head).map((v) => [v.name, 1]));
      },
    }),
});
