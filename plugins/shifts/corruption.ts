/**
 * `corruption`: an input-level shift. The source domain stays clean; the target
 * domain is the same data with a common corruption at a severity (1–5).
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import type { Dataset, Split } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";
import { applyNoise, type NoiseName } from "./noise.ts";

const corruptSplit = (
  split: Split,
  name: NoiseName,
  severity: number,
  constants: "cifar10-c" | "imagenet-c",
  rng: Rng,
): Split => {
  const src = split.images instanceof Uint8Array
    ? split.images
    : Uint8Array.from(split.images, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  return { ...split, images: applyNoise(name, severity, constants, src, rng) };
};

/** The corruption shift plugin. */
export default defineShift({
  name: "corruption",
  description: "input-level shift: target = images with a common corruption (Hendrycks & Dietterich) at severity 1–5",
  options: Schema.Struct({
    name: Schema.Literal("gaussian_noise", "impulse_noise"),
    severity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 5)), { default: () => 5 }),
    /** Which published constants: CIFAR-10-C (small images, default) or ImageNet-C (stronger). */
    constants: Schema.optionalWith(Schema.Literal("cifar10-c", "imagenet-c"), { default: () => "cifar10-c" as const }),
  }),
  make: (o) =>
    Effect.succeed({
      label: `${o.name}-${o.severity}${o.constants === "imagenet-c" ? "-inet" : ""}`,
      sourceKey: "clean",
      apply: (base: Dataset, rng) => ({
        source: base,
        target: {
          ...base,
          name: `${base.name}/${o.name}-${o.severity}`,
          train: corruptSplit(base.train, o.name, o.severity, o.constants, rng(["train"])),
          test: corruptSplit(base.test, o.name, o.severity, o.constants, rng(["test"])),
        },
      }),
    }),
});
