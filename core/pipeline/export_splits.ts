/**
 * `scalpel run --export-splits`: the exact data and starting weights of a run, for
 * another framework to run the same trials from (bench/torch_surgical.py does, in
 * PyTorch). Written under `<run>/exports/`:
 *
 * - `index.json`: the model, the image shape, and per shift its label, its number of
 *   classes, the cache key of its pre-trained model and the content hash of its source;
 * - `pretrained/<key>/`: the pre-trained weights (npy weights directory, see
 *   core/io/npy_weights.ts);
 * - `source/<hash>/{train,test}_{x,y}.npy`: the source examples pre-training used (the
 *   seeded sample) and the source test split, for a peer that pre-trains its own model;
 * - `shift-<i>/seed-<k>/{val,test}_{x,y}.npy` and `train-<n>_{x,y}.npy` for each size n of
 *   `target.train`: the target splits of shift i and fine-tuning seed k, as the trials
 *   see them.
 *
 * Images are NHWC, uint8 (0–255) or float32 (0–1) as the dataset holds them; labels int32.
 * @module
 */
import { Effect, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { Split } from "../dataset.ts";
import { encodeNpyTyped } from "../io/npy.ts";
import { encodeNpyWeights, NPY_WEIGHTS_INDEX } from "../io/npy_weights.ts";
import { datasetHash } from "../hash.ts";
import { RunDirectoryError } from "../errors.ts";
import { writeFileAtomic } from "../store.ts";
import { pretrainingData } from "../pretrain.ts";
import type { Prepared } from "./prepare.ts";
import { applyShift } from "./prepare.ts";
import { targetSplits, type TrialRunner } from "./runner.ts";
import { trainSizes } from "./expand.ts";

/** `exports/index.json`. */
export const ExportIndexSchema = Schema.Struct({
  format: Schema.Literal("scalpel-exports/1"),
  model: Schema.String,
  inputShape: Schema.Tuple(Schema.Int, Schema.Int, Schema.Int),
  seeds: Schema.Int,
  /** The numbers of labelled target examples (`target.train`). */
  trainSizes: Schema.Array(Schema.Int),
  shifts: Schema.Array(Schema.Struct({
    index: Schema.Int,
    label: Schema.String,
    numClasses: Schema.Int,
    pretrained: Schema.String,
    source: Schema.String,
  })),
});

/** The directory of the exports inside a run directory. */
export const EXPORTS_DIR = "exports";

const fileError = (dir: string) => (e: { message: string }) =>
  new RunDirectoryError({
    dir,
    detail: `writing the exported splits failed (${e.message})`,
    fix: "Check the free space and permissions of the run directory.",
  });

/** Write `split` as `<prefix>_x.npy` (NHWC) and `<prefix>_y.npy`. */
const writeSplit = (dir: string, prefix: string, split: Split, shape: readonly [number, number, number]) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    const images = split.images;
    yield* writeFileAtomic(path.join(dir, `${prefix}_x.npy`), encodeNpyTyped(images, [split.count, ...shape]));
    yield* writeFileAtomic(path.join(dir, `${prefix}_y.npy`), encodeNpyTyped(split.labels, [split.count]));
  });

/** Export every shift's splits, source data and pre-trained weights of `prepared` under `<runDir>/exports/`. */
export const exportSplits = (prepared: Prepared, runner: TrialRunner, runDir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const { p, base } = prepared;
    const root = path.join(runDir, EXPORTS_DIR);
    const shifts: Array<typeof ExportIndexSchema.Type["shifts"][number]> = [];
    for (let s = 0; s < p.shifts.length; s++) {
      const { source, target } = yield* applyShift(prepared, s);
      const pre = yield* runner.pretrain(s);
      const weightsDir = path.join(root, "pretrained", pre.key);
      if (!(yield* fs.exists(path.join(weightsDir, NPY_WEIGHTS_INDEX)))) {
        yield* fs.makeDirectory(weightsDir, { recursive: true });
        const { index, files } = encodeNpyWeights(pre.weights, `pre-trained model ${pre.key}`);
        for (const [file, bytes] of files) yield* writeFileAtomic(path.join(weightsDir, file), bytes);
        yield* writeFileAtomic(path.join(weightsDir, NPY_WEIGHTS_INDEX), JSON.stringify(index, null, 2) + "\n");
      }
      const sourceHash = datasetHash(source);
      const sourceDir = path.join(root, "source", sourceHash);
      if (!(yield* fs.exists(path.join(sourceDir, "test_y.npy")))) {
        yield* fs.makeDirectory(sourceDir, { recursive: true });
        const sample = pretrainingData(source, p.settings.pretrain, p.settings.seed);
        yield* writeSplit(sourceDir, "train", sample, source.shape);
        yield* writeSplit(sourceDir, "test", source.test, source.shape);
      }
      for (let seed = 0; seed < p.settings.seeds; seed++) {
        const dir = path.join(root, `shift-${s}`, `seed-${seed}`);
        yield* fs.makeDirectory(dir, { recursive: true });
        for (const size of trainSizes(p)) {
          const splits = targetSplits(prepared, s, target, seed, size);
          yield* writeSplit(dir, `train-${size}`, splits.train, target.shape);
          // validation and test are the same for every size
          for (const name of ["val", "test"] as const) yield* writeSplit(dir, name, splits[name], target.shape);
        }
      }
      shifts.push({
        index: s,
        label: prepared.made.shifts[s].label,
        numClasses: source.classNames.length,
        pretrained: pre.key,
        source: sourceHash,
      });
    }
    const index = {
      format: "scalpel-exports/1" as const,
      model: p.model.plugin.name,
      inputShape: [...base.shape] as [number, number, number],
      seeds: p.settings.seeds,
      trainSizes: [...trainSizes(p)],
      shifts,
    };
    yield* writeFileAtomic(path.join(root, "index.json"), JSON.stringify(index, null, 2) + "\n");
    return root;
  }).pipe(
    Effect.catchTags({
      SystemError: (e) => Effect.fail(fileError(runDir)(e)),
      BadArgument: (e) => Effect.fail(fileError(runDir)(e)),
    }),
  );
