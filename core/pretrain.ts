/**
 * Pre-training of the source model, cached on disk by a content hash of
 * everything that determines it (model, dataset, source domain, seed, budget,
 * backend): a second run with the same settings loads the weights instead.
 * @module
 */
import { backendLabel } from "./backend.ts";
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { Model, Snapshot } from "./model.ts";
import { decodeSnapshot, disposeModel, encodeSnapshot, snapshot } from "./model.ts";
import type { Dataset } from "./dataset.ts";
import { take } from "./dataset.ts";
import { rngFor } from "./random.ts";
import { predict, train } from "./train.ts";
import { contentHash, writeFileAtomic } from "./store.ts";
import type { TrainingError } from "./errors.ts";
import type { RunDirectoryError } from "./errors.ts";

/** Everything that determines a pre-trained model. */
export interface PretrainSpec {
  readonly model: Readonly<Record<string, unknown>>;
  readonly dataset: Readonly<Record<string, unknown>>;
  readonly sourceKey: string;
  readonly seed: number;
  readonly budget: {
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly examples?: number;
  };
  readonly backend: string;
}

/** A pre-trained model's weights and how it scores on the source test split. */
export interface Pretrained {
  readonly key: string;
  readonly weights: Snapshot;
  readonly sourceTestAccuracy: number;
  /** True when the weights came from the cache. */
  readonly cached: boolean;
}

/**
 * Revision of the training numerics (kernels, optimiser). Bump it when a change moves
 * trained weights even by float rounding, so that models cached by older code are
 * trained again instead of reused. 2: the wasm max-pool, matmul and filter-gradient kernels;
 * 3: eval-mode batch norm folded into the convolution (changes validation scores by rounding).
 */
export const TRAINING_NUMERICS = 3;

/** Cache key of a pre-training spec. */
export const pretrainKey = (spec: PretrainSpec): string =>
  contentHash({ format: 1, numerics: TRAINING_NUMERICS, ...spec });

const accuracyOf = (model: Model, data: Dataset["test"]): number => {
  const logits = predict(model, data);
  const k = model.numClasses;
  let correct = 0;
  for (let i = 0; i < data.count; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
    if (best === data.labels[i]) correct++;
  }
  return data.count > 0 ? correct / data.count : NaN;
};

/**
 * Return the pre-trained weights for `spec`: from `cacheDir` when present,
 * otherwise by training a freshly built model (released afterwards) on `source`.
 */
export const pretrained = (
  build: () => Model,
  source: Dataset,
  spec: PretrainSpec,
  cacheDir: string,
  log: (line: string) => Effect.Effect<void>,
): Effect.Effect<Pretrained, TrainingError | RunDirectoryError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const key = pretrainKey(spec);
    const weightsFile = path.join(cacheDir, `${key}.weights`);
    const metaFile = path.join(cacheDir, `${key}.json`);
    const hit = (yield* fs.exists(weightsFile).pipe(Effect.orElseSucceed(() => false))) &&
      (yield* fs.exists(metaFile).pipe(Effect.orElseSucceed(() => false)));
    if (hit) {
      const loaded = yield* Effect.all([fs.readFile(weightsFile), fs.readFileString(metaFile)]).pipe(
        Effect.flatMap(([bytes, meta]) =>
          Effect.try(() => ({
            weights: decodeSnapshot(bytes),
            meta: JSON.parse(meta) as { sourceTestAccuracy: number },
          }))
        ),
        Effect.option,
      );
      if (loaded._tag === "Some") {
        yield* log(`pre-trained ${spec.model[Object.keys(spec.model)[0]]} loaded from cache (${key})`);
        return {
          key,
          weights: loaded.value.weights,
          sourceTestAccuracy: loaded.value.meta.sourceTestAccuracy,
          cached: true,
        };
      }
      yield* log(`cached model ${key} is unreadable; pre-training again`);
    }
    const { budget } = spec;
    const data = budget.examples !== undefined && budget.examples < source.train.count
      ? take(
        source.train,
        source.shape,
        rngFor(spec.seed, ["pretrain", "examples"]).permutation(source.train.count).subarray(0, budget.examples),
      )
      : source.train;
    const model = yield* Effect.acquireRelease(Effect.sync(build), (m) => Effect.sync(() => disposeModel(m)));
    const all = new Map(model.params.map((p) => [p.name, 1]));
    const what = `pre-training ${model.architecture}`;
    yield* log(
      `${what} on ${data.count} source examples, ${budget.epochs} epochs, ${backendLabel()} (cache key ${key})`,
    );
    yield* train(model, data, {
      epochs: budget.epochs,
      batchSize: budget.batchSize,
      learningRate: budget.learningRate,
      batchNormMode: "train",
      multipliers: () => all,
      rng: rngFor(spec.seed, ["pretrain", "batches"]),
      what,
      onEpoch: (epoch, loss) => log(`${what}: epoch ${epoch + 1}/${budget.epochs} loss ${loss.toFixed(4)}`),
    });
    const sourceTestAccuracy = accuracyOf(model, source.test);
    yield* log(`${what}: source test accuracy ${(100 * sourceTestAccuracy).toFixed(2)} %`);
    const weights = snapshot(model);
    yield* fs.makeDirectory(cacheDir, { recursive: true }).pipe(Effect.orElse(() => Effect.void));
    yield* writeFileAtomic(weightsFile, encodeSnapshot(weights));
    yield* writeFileAtomic(metaFile, JSON.stringify({ ...spec, key, sourceTestAccuracy }, null, 2) + "\n");
    return { key, weights, sourceTestAccuracy, cached: false };
  }).pipe(Effect.scoped);

/** Source test accuracies recorded in the cache for the given pre-trained model keys (missing ones skipped). */
export const sourceAccuracyOf = (cacheDir: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const out: number[] = [];
    for (const key of keys) {
      const meta = yield* fs.readFileString(path.join(cacheDir, `${key}.json`)).pipe(Effect.option);
      if (meta._tag === "None") continue;
      const parsed = yield* Effect.try(() => JSON.parse(meta.value) as { sourceTestAccuracy?: number }).pipe(
        Effect.option,
      );
      if (parsed._tag === "Some" && typeof parsed.value.sourceTestAccuracy === "number") {
        out.push(parsed.value.sourceTestAccuracy);
      }
    }
    return out;
  });

/** True when the cache holds the weights and metadata of pre-trained model `key`. */
export const isCached = (cacheDir: string, key: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const has = (f: string) => fs.exists(path.join(cacheDir, f)).pipe(Effect.orElseSucceed(() => false));
    return (yield* has(`${key}.weights`)) && (yield* has(`${key}.json`));
  });
