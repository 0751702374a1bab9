/**
 * `corruption`: an input-level shift. The source domain stays clean; the target
 * domain is the same data with one of the corruptions of Hendrycks & Dietterich
 * (CIFAR-10-C / ImageNet-C) or MNIST-C at a severity (1–5). As in the released
 * datasets, corrupted images are quantised back to uint8.
 *
 * `name` and `severity` may be lists (a grid: one shift per name × severity), and
 * `name: all` means the 15 common corruptions.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineShift } from "../../core/plugin.ts";
import { type Dataset, lazySplit, type Split } from "../../core/dataset.ts";
import type { Rng } from "../../core/random.ts";
import {
  COMMON_CORRUPTIONS,
  type ConstantSet,
  CORRUPTION_NAMES,
  type CorruptionName,
  CORRUPTIONS,
} from "./corruptions/index.ts";

/**
 * A split whose images are those of `split` corrupted (uint8 in, uint8 out), computed
 * lazily: image i draws its noise from `rngOf(i)` alone, so a run that samples 1,000
 * target images corrupts only those, with the same pixels as corrupting everything.
 */
export const corruptSplit = (
  split: Split,
  shape: readonly [number, number, number],
  name: CorruptionName,
  severity: number,
  constants: ConstantSet,
  rngOf: (index: number) => Rng,
): Split => {
  const size = shape[0] * shape[1] * shape[2];
  const src = split.images;
  const scale = src instanceof Uint8Array ? 1 / 255 : 1;
  const corruption = CORRUPTIONS[name];
  return lazySplit(split, shape, (i, out) => {
    const img = Float32Array.from(src.subarray(i * size, (i + 1) * size), (v) => v * scale);
    const corrupted = corruption.apply(img, shape, severity, rngOf(i), constants);
    for (let j = 0; j < size; j++) out[j] = Math.round(Math.min(1, Math.max(0, corrupted[j])) * 255);
  });
};

const Name = Schema.Literal(...CORRUPTION_NAMES);
const Severity = Schema.Int.pipe(Schema.between(1, 5));

const names = (n: CorruptionName | "all" | ReadonlyArray<CorruptionName>): ReadonlyArray<CorruptionName> =>
  n === "all" ? COMMON_CORRUPTIONS : typeof n === "string" ? [n] : n;
const severities = (s: number | ReadonlyArray<number>): ReadonlyArray<number> => typeof s === "number" ? [s] : s;

/** The corruption shift plugin. */
export default defineShift({
  name: "corruption",
  description:
    "input-level shift: target = images with a common corruption (CIFAR-10-C / ImageNet-C / MNIST-C) at severity 1–5",
  options: Schema.Struct({
    name: Schema.Union(Name, Schema.Literal("all"), Schema.NonEmptyArray(Name)).annotations({
      description: "A corruption name, a list of names (one shift each), or `all` (the 15 common ones).",
    }),
    severity: Schema.optionalWith(
      Schema.Union(Severity, Schema.NonEmptyArray(Severity)).annotations({
        description: "Corruption severity 1–5, or a list of severities (one shift each).",
      }),
      { default: () => 5 },
    ),
    constants: Schema.optionalWith(
      Schema.Literal("cifar10-c", "imagenet-c").annotations({
        description: "Which published corruption constants: CIFAR-10-C (for small images) or ImageNet-C (stronger).",
      }),
      { default: () => "cifar10-c" as const },
    ),
  }),
  grid: (o) => names(o.name).flatMap((name) => severities(o.severity).map((severity) => ({ ...o, name, severity }))),
  make: (o) =>
    Effect.sync(() => {
      const [name] = names(o.name);
      const [severity] = severities(o.severity);
      return {
        label: `${name}-${severity}${o.constants === "imagenet-c" ? "-inet" : ""}`,
        sourceKey: "clean",
        apply: (base: Dataset, rng) => ({
          source: base,
          target: {
            ...base,
            name: `${base.name}/${name}-${severity}`,
            train: corruptSplit(base.train, base.shape, name, severity, o.constants, (i) => rng(["train", i])),
            test: corruptSplit(base.test, base.shape, name, severity, o.constants, (i) => rng(["test", i])),
          },
        }),
      };
    }),
});
