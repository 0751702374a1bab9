/**
 * The fixed layer subsets of the paper: nothing, the first layer, one block, the
 * last layer, or everything. Each trains its subset at multiplier 1 every epoch.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineSelector } from "../../core/plugin.ts";
import type { Model } from "../../core/model.ts";

/** A selector training `pick(model)` at multiplier 1 every epoch; `problem(model)` says when it cannot run on a model. */
const fixed = (
  name: string,
  description: string,
  pick: (model: Model) => ReadonlyArray<string>,
  problem: (model: Model) => string | undefined = () => undefined,
) =>
  defineSelector({
    name,
    description,
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        label: name,
        check: problem,
        multipliers: ({ model }) => {
          const why = problem(model);
          if (why !== undefined) throw new Error(why);
          return new Map(pick(model).map((v) => [v, 1] as const));
        },
      }),
  });

/** Why `model` has no layer group `g`, or undefined. */
const missingGroup = (g: string) => (model: Model): string | undefined =>
  model.groups.includes(g)
    ? undefined
    : `${model.architecture} has no layer group "${g}" (its groups: ${model.groups.join(", ")}); ` +
      "use `by-name` with one of them";

/** The variables of group `g`. */
const group = (g: string) => (model: Model) => model.params.filter((p) => p.group === g).map((p) => p.name);

/** No fine-tuning: the pre-trained model as is. */
export const none = fixed("none", "no fine-tuning: evaluate the pre-trained model on the target", () => []);
/** Only the first layer (the first conv). */
export const firstLayer = fixed(
  "first-layer",
  "tune only the first layer (the first conv)",
  (m) => m.firstLayer,
  (m) => (m.firstLayer.length === 0 ? `${m.architecture} names no first layer` : undefined),
);
/** Only the first block. */
export const block1 = fixed(
  "block1",
  "tune only layer group block1 (input side)",
  group("block1"),
  missingGroup("block1"),
);
/** Only the middle block. */
export const block2 = fixed("block2", "tune only layer group block2", group("block2"), missingGroup("block2"));
/** Only the third block. */
export const block3 = fixed("block3", "tune only layer group block3", group("block3"), missingGroup("block3"));
/** Only the last layer (the classifier head). */
export const lastLayer = fixed(
  "last-layer",
  "tune only the last layer (the head)",
  (m) => m.params.filter((p) => p.group === m.groups[m.groups.length - 1]).map((p) => p.name),
);
/** Every layer. */
export const all = fixed("all", "tune every layer (full fine-tuning)", (m) => m.params.map((p) => p.name));

/** The static selectors, in table order. */
export const staticSelectors = [none, firstLayer, block1, block2, block3, lastLayer, all] as const;
