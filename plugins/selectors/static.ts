/**
 * The fixed layer subsets of the paper: nothing, the first layer, one block, the
 * last layer, or everything. Each trains its subset at multiplier 1 every epoch.
 * @module
 */
import { Effect, Schema } from "effect";
import { defineSelector } from "../../core/plugin.ts";
import type { Model } from "../../core/model.ts";

const fixed = (name: string, description: string, pick: (model: Model) => ReadonlyArray<string>) =>
  defineSelector({
    name,
    description,
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        label: name,
        multipliers: ({ model }) => new Map(pick(model).map((v) => [v, 1] as const)),
      }),
  });

const group = (g: string) => (model: Model) => {
  if (!model.groups.includes(g)) {
    throw new Error(`${model.architecture} has no layer group "${g}" (groups: ${model.groups.join(", ")})`);
  }
  return model.params.filter((p) => p.group === g).map((p) => p.name);
};

/** No fine-tuning: the pre-trained model as is. */
export const none = fixed("none", "no fine-tuning: evaluate the pre-trained model on the target", () => []);
/** Only the first layer (the first conv). */
export const firstLayer = fixed("first-layer", "tune only the first layer (the first conv)", (m) => m.firstLayer);
/** Only the first block. */
export const block1 = fixed("block1", "tune only layer group block1 (input side)", group("block1"));
/** Only the middle block. */
export const block2 = fixed("block2", "tune only layer group block2", group("block2"));
/** Only the third block. */
export const block3 = fixed("block3", "tune only layer group block3", group("block3"));
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
