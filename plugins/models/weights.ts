/**
 * Loading saved weights into a zoo model: `model: { model: small-cnn, options:
 * { weights: runs/…/models/<key>.weights } }` starts every trial from a model that a
 * run saved (`save: true`) instead of pre-training one.
 * @module
 */
import { Effect, Schema } from "effect";
import { FileSystem } from "@effect/platform";
import { decodeSnapshot, type Model, restore, type Snapshot } from "../../core/model.ts";
import { ModelFileError } from "../../core/errors.ts";
import type { ModelImpl } from "../../core/plugin.ts";

/** The options every zoo model accepts. */
export const ZooOptions = Schema.Struct({
  weights: Schema.optional(Schema.String.annotations({
    description: "Weights file saved by a run (`save: true` writes `<run>/models/<trial key>.weights`) to start " +
      "every trial from instead of pre-training.",
  })),
});

/** Read a scalpel weights file; errors name the file and the fix. */
export const readWeights = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const bytes = yield* fs.readFile(file).pipe(
      Effect.mapError(() =>
        new ModelFileError({
          file,
          detail: "cannot be read",
          fix: "Give the path of a .weights file written by a run with `save: true` (under <run>/models/).",
        })
      ),
    );
    return yield* Effect.try({
      try: () => decodeSnapshot(bytes),
      catch: (e) =>
        new ModelFileError({
          file,
          detail: `is not a scalpel weights file (${e instanceof Error ? e.message : String(e)})`,
          fix: "Give the path of a .weights file written by a run with `save: true`.",
        }),
    });
  });

/** A ModelImpl whose models start from `weights` (marked pre-trained) or, without, from `build`. */
export const withWeights = (
  build: ModelImpl["build"],
  weights: Snapshot | undefined,
  file: string | undefined,
): ModelImpl => {
  if (!weights) return { build };
  return {
    pretrained: true,
    build: (spec, rng) => {
      const model: Model = build(spec, rng);
      try {
        restore(model, weights);
      } catch (e) {
        for (const v of [...model.params, ...model.state]) v.variable.dispose();
        throw new Error(
          `${file}: ${e instanceof Error ? e.message : String(e)} — the weights were saved from another ` +
            `architecture or class count`,
        );
      }
      return model;
    },
  };
};

/** `make` for a zoo model: read the weights file when one is given. */
export const makeZoo = (build: ModelImpl["build"], options: { readonly weights?: string | undefined }) =>
  options.weights === undefined
    ? Effect.succeed<ModelImpl>({ build })
    : Effect.map(readWeights(options.weights), (w) => withWeights(build, w, options.weights));
