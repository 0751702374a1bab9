/**
 * Loading saved weights into a zoo model: `model: { model: small-cnn, options:
 * { weights: runs/…/models/<key>.weights } }` starts every trial from a model that a
 * run saved (`save: true`) instead of pre-training one.
 * @module
 */
import { Effect, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { decodeNpyWeights, NPY_WEIGHTS_INDEX, NpyWeightsIndexSchema } from "../../core/io/npy_weights.ts";
import { decodeSnapshot, type Model, restore, type Snapshot } from "../../core/model.ts";
import { ModelFileError } from "../../core/errors.ts";
import type { ModelImpl } from "../../core/plugin.ts";

/** The options every zoo model accepts. */
export const ZooOptions = Schema.Struct({
  weights: Schema.optional(Schema.String.annotations({
    description: "Weights to start every trial from instead of pre-training: a .weights file (a run with " +
      "`save: true` writes `<run>/models/<trial key>.weights`), or an npy weights directory (`scalpel model export " +
      "--format npy`, or PyTorch weights written by bench/torch_twins.py).",
  })),
});

const HOW =
  "Give a .weights file written by a run with `save: true` (under <run>/models/) or by the model cache, or a " +
  "directory (or its index.json) written by `scalpel model export --format npy` or by bench/torch_twins.py.";

/** Read weights: a scalpel `.weights` file, or an npy weights directory / its index.json; errors name the file. */
export const readWeights = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const fail = (at: string, detail: string) => new ModelFileError({ file: at, detail, fix: HOW });
    const info = yield* fs.stat(file).pipe(Effect.mapError(() => fail(file, "cannot be read")));
    const isNpy = info.type === "Directory" || path.basename(file) === NPY_WEIGHTS_INDEX;
    if (!isNpy) {
      const bytes = yield* fs.readFile(file).pipe(Effect.mapError(() => fail(file, "cannot be read")));
      return yield* Effect.try({
        try: () => decodeSnapshot(bytes),
        catch: (e) => fail(file, `is not a scalpel weights file (${e instanceof Error ? e.message : String(e)})`),
      });
    }
    const dir = info.type === "Directory" ? file : path.dirname(file);
    const indexFile = path.join(dir, NPY_WEIGHTS_INDEX);
    const text = yield* fs.readFileString(indexFile).pipe(Effect.mapError(() => fail(indexFile, "cannot be read")));
    const index = Schema.decodeUnknownEither(Schema.parseJson(NpyWeightsIndexSchema))(text);
    if (index._tag === "Left") return yield* fail(indexFile, "is not an npy weights index (scalpel-npy-weights/1)");
    const files = new Map<string, Uint8Array>();
    for (const v of index.right.variables) {
      const at = path.join(dir, v.file);
      files.set(v.file, yield* fs.readFile(at).pipe(Effect.mapError(() => fail(at, `cannot be read (${v.name})`))));
    }
    return yield* Effect.try({
      try: () => decodeNpyWeights(index.right, (f) => files.get(f)!),
      catch: (e) => fail(indexFile, e instanceof Error ? e.message : String(e)),
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
