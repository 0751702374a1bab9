/**
 * The paper's automatic criteria (Lee et al., ICLR 2023, §5):
 *
 * - `auto-rgn` — per trainable tensor, the relative gradient norm ‖g‖/‖θ‖ measured
 *   at the start of each epoch on a few target batches, divided by the largest one,
 *   is that tensor's learning-rate multiplier. Choices where the text leaves room
 *   (options): `batches` (default 4) batches of the fine-tuning data give g (the
 *   gradient of their mean loss); `exclude` patterns (default none — every trainable
 *   tensor, biases and batch-norm affine parameters included) are left frozen.
 * - `auto-snr` — per tensor, the signal-to-noise ratio of per-example gradients,
 *   mean² / variance across `examples` (default 32) examples, averaged over the
 *   tensor's entries, divided by the largest one; tensors whose normalised SNR is
 *   below `threshold` (default 0.1) are frozen for the epoch, the others trained at
 *   multiplier 1 (`scale: snr` uses the normalised SNR itself as the multiplier).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineSelector } from "../../core/plugin.ts";
import { matches } from "./by_name.ts";
import type { Model } from "../../core/model.ts";

const excluded = (model: Model, exclude: ReadonlyArray<string>) =>
  new Set(model.params.filter((v) => exclude.some((pat) => matches(pat, v))).map((v) => v.name));

/** RGN multipliers from statistics: ‖g‖/‖θ‖ normalised by the maximum (tensors with ‖θ‖ = 0 use ‖g‖). */
export const rgnMultipliers = (
  stats: ReadonlyMap<string, { gradNorm: number; paramNorm: number }>,
  skip: ReadonlySet<string> = new Set(),
): ReadonlyMap<string, number> => {
  const rgn = [...stats].filter(([name]) => !skip.has(name)).map(([name, s]) =>
    [name, s.paramNorm > 0 ? s.gradNorm / s.paramNorm : s.gradNorm] as const
  );
  const max = Math.max(0, ...rgn.map(([, r]) => r));
  return new Map(rgn.map(([name, r]) => [name, max > 0 ? r / max : 0]));
};

/** SNR multipliers: normalised SNR; below `threshold` → 0; else 1 (binary) or the normalised SNR. */
export const snrMultipliers = (
  stats: ReadonlyMap<string, { snr?: number }>,
  threshold: number,
  scale: "binary" | "snr",
  skip: ReadonlySet<string> = new Set(),
): ReadonlyMap<string, number> => {
  const snr = [...stats].filter(([name]) => !skip.has(name)).map(([name, s]) => [name, s.snr ?? 0] as const);
  const max = Math.max(0, ...snr.map(([, r]) => r));
  return new Map(snr.map(([name, r]) => {
    const normalised = max > 0 ? r / max : 0;
    return [name, normalised < threshold ? 0 : scale === "binary" ? 1 : normalised];
  }));
};

const Exclude = Schema.optionalWith(
  Schema.Array(Schema.String).annotations({
    description: "Patterns (name, glob or /regex/) of trainable tensors to leave frozen.",
  }),
  { default: () => [] },
);

/** The Auto-RGN selector. */
export const autoRgn = defineSelector({
  name: "auto-rgn",
  description: "per tensor lr multiplier = relative gradient norm ‖g‖/‖θ‖ (normalised by the max), each epoch",
  options: Schema.Struct({
    batches: Schema.optionalWith(
      Schema.Int.pipe(Schema.between(1, 1000)).annotations({
        description: "Batches of the fine-tuning data whose mean-loss gradient is measured at the start of each epoch.",
      }),
      { default: () => 4 },
    ),
    exclude: Exclude,
  }),
  make: (o) =>
    Effect.succeed({
      label: "auto-rgn",
      multipliers: (ctx) => rgnMultipliers(ctx.gradientStats({ batches: o.batches }), excluded(ctx.model, o.exclude)),
    }),
});

/** The Auto-SNR selector. */
export const autoSnr = defineSelector({
  name: "auto-snr",
  description: "per tensor: freeze when the per-example gradient SNR (normalised by the max) is below a threshold",
  options: Schema.Struct({
    examples: Schema.optionalWith(
      Schema.Int.pipe(Schema.between(2, 10000)).annotations({
        description: "Examples whose per-example gradients give the SNR, measured at the start of each epoch.",
      }),
      { default: () => 32 },
    ),
    threshold: Schema.optionalWith(
      Schema.Number.pipe(Schema.between(0, 1)).annotations({
        description: "Tensors whose SNR, divided by the largest one, is below this are frozen for the epoch.",
      }),
      { default: () => 0.1 },
    ),
    scale: Schema.optionalWith(
      Schema.Literal("binary", "snr").annotations({
        description: "Multiplier of the tensors that stay trained: 1 (`binary`) or their normalised SNR (`snr`).",
      }),
      { default: () => "binary" as const },
    ),
    exclude: Exclude,
  }),
  make: (o) =>
    Effect.succeed({
      label: "auto-snr",
      multipliers: (ctx) =>
        snrMultipliers(
          ctx.gradientStats({ batches: 0, perExample: o.examples }),
          o.threshold,
          o.scale,
          excluded(ctx.model, o.exclude),
        ),
    }),
});
