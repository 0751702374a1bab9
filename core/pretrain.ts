/**
 * Pre-training of the source model, through the model cache (core/cache.ts): a model
 * whose spec (model, source data content, seed, budget, backend) was trained before
 * is loaded instead of trained again.
 * @module
 */
import { Effect, type Scope } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { backendLabel } from "./backend.ts";
import { disposeModel, type Model, readSnapshot, type Snapshot } from "./model.ts";
import type { Dataset, Split } from "./dataset.ts";
import { take } from "./dataset.ts";
import { rngFor } from "./random.ts";
import { readPredictions, train } from "./train.ts";
import { CacheError, type TrainingError } from "./errors.ts";
import { pretrainKey, type PretrainSpec, readCached, TRAINING_NUMERICS, writeCached } from "./cache.ts";
import { killPoint } from "./killpoint.ts";
import { argmaxAccuracy } from "./metrics.ts";

/** A pre-trained model's weights and how it scores on the source test split. */
export interface Pretrained {
  /** The cache key (or, for weights loaded from a file, a hash of them). */
  readonly key: string;
  readonly weights: Snapshot;
  readonly sourceTestAccuracy: number;
  /** True when the weights came from the cache (or a file). */
  readonly cached: boolean;
}

/** The source training examples pre-training uses: a seeded sample of `examples` of them, or all. */
export const pretrainingData = (source: Dataset, budget: PretrainSpec["budget"], seed: number): Split =>
  budget.examples !== undefined && budget.examples < source.train.count
    ? take(
      source.train,
      source.shape,
      rngFor(seed, ["pretrain", "examples"]).permutation(source.train.count).subarray(0, budget.examples),
    )
    : source.train;

/** Accuracy of `model` on a split (argmax of the logits). */
export const splitAccuracy = (model: Model, data: Split): Effect.Effect<number> =>
  Effect.map(
    readPredictions(model, data),
    (logits) => argmaxAccuracy(logits, data.labels, data.count, model.numClasses),
  );

/** Train a freshly built model (released afterwards) on the source; its weights and source test accuracy. */
const trainFresh = (
  build: () => Model,
  source: Dataset,
  spec: PretrainSpec,
  key: string,
  log: (line: string) => Effect.Effect<void>,
): Effect.Effect<{ weights: Snapshot; accuracy: number }, TrainingError, Scope.Scope> =>
  Effect.gen(function* () {
    const data = pretrainingData(source, spec.budget, spec.seed);
    const model = yield* Effect.acquireRelease(Effect.sync(build), (m) => Effect.sync(() => disposeModel(m)));
    const all = new Map(model.params.map((p) => [p.name, 1]));
    const what = `pre-training ${model.architecture}`;
    const { budget } = spec;
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
      onEpoch: (epoch, loss) =>
        log(`${what}: epoch ${epoch + 1}/${budget.epochs} loss ${loss.toFixed(4)}`).pipe(
          Effect.tap(() => killPoint("pretrain-epoch")),
        ),
    });
    return { weights: yield* readSnapshot(model), accuracy: yield* splitAccuracy(model, source.test) };
  });

/** What to do when the cache does not hold the model. */
export type OnMiss = "train" | "fail";

/**
 * The pre-trained weights for `spec`: from `cacheDir` when present; otherwise trained
 * on `source` with a freshly built model (released afterwards) and cached — or, with
 * `onMiss: "fail"` (a worker of a parallel run, whose parent pre-trains), a CacheError.
 */
export const pretrained = (args: {
  readonly build: () => Model;
  readonly source: Dataset;
  readonly spec: PretrainSpec;
  /** For people (`cache list`): the dataset reference and the shift's source key. */
  readonly about: { readonly dataset: Readonly<Record<string, unknown>>; readonly sourceKey: string };
  readonly cacheDir: string;
  readonly log: (line: string) => Effect.Effect<void>;
  readonly onMiss?: OnMiss;
}): Effect.Effect<Pretrained, TrainingError | CacheError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const { spec, source, cacheDir, log } = args;
    const key = pretrainKey(spec);
    const name = String(Object.values(spec.model)[0]);
    const lookup = yield* readCached(cacheDir, key);
    if (lookup._tag === "Hit") {
      yield* log(`pre-trained ${name} loaded from cache (${key})`);
      return { key, weights: lookup.weights, sourceTestAccuracy: lookup.meta.sourceTestAccuracy, cached: true };
    }
    if (lookup.reason) yield* log(`cached model ${key} cannot be used (${lookup.reason}); pre-training again`);
    if (args.onMiss === "fail") {
      return yield* new CacheError({
        dir: cacheDir,
        detail: `does not hold pre-trained model ${key}, which this worker needs`,
        fix: "The parent process of a parallel run pre-trains every model first: run the command again.",
      });
    }
    const trained = yield* trainFresh(args.build, source, spec, key, log);
    yield* log(`pre-training ${name}: source test accuracy ${(100 * trained.accuracy).toFixed(2)} %`);
    yield* writeCached(cacheDir, trained.weights, {
      format: "scalpel-pretrained/2",
      key,
      spec,
      numerics: TRAINING_NUMERICS,
      dataset: args.about.dataset,
      sourceKey: args.about.sourceKey,
      sourceTestAccuracy: trained.accuracy,
    });
    return { key, weights: trained.weights, sourceTestAccuracy: trained.accuracy, cached: false };
  }).pipe(Effect.scoped);
