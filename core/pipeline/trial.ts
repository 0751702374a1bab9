/**
 * One trial: restore the pre-trained snapshot, let the selector choose what to train,
 * fine-tune, choose the epoch on validation, score the test split once, and write the
 * result line. A trial can run in rungs: stopped after k epochs with a checkpoint
 * (weights, optimiser state, batch position, best epoch so far) and continued later,
 * with results identical to running it straight through.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { Split } from "../dataset.ts";
import { encodeSnapshot, firstStageUsing, type Model, readSnapshot, restore, type Snapshot } from "../model.ts";
import type { PrefixCache } from "../prefix_cache.ts";
import type { EvaluatorImpl, SelectionContext } from "../plugin.ts";
import { rngFor } from "../random.ts";
import { readPredictions, train, type TrainState } from "../train.ts";
import { gradientStatsUnits, readGradientStats, type TensorGradientStats } from "../gradstats.ts";
import { readsSynchronously } from "../read.ts";
import { type PluginError, RunDirectoryError, type TrainingError } from "../errors.ts";
import { contentHash } from "../hash.ts";
import { writeFileAtomic } from "../store.ts";
import { killPoint } from "../killpoint.ts";
import type { Metrics, ResultLine } from "../results.ts";
import { refJson, type ResolvedPipeline } from "./load.ts";
import type { Made } from "./make.ts";
import type { Trial } from "./expand.ts";
import { catchPluginFailures, PluginCodeFailure } from "./guard.ts";

/** The target splits of one shift and fine-tuning seed. */
export interface TargetSplits {
  readonly train: Split;
  readonly val: Split;
  readonly test: Split;
}

/** Everything one trial needs besides its own settings. */
export interface TrialContext {
  readonly p: ResolvedPipeline;
  readonly made: Made;
  /** The network the trial trains (its weights are overwritten from `weights` first). */
  readonly model: Model;
  /** The pre-trained weights every trial starts from, and their cache key. */
  readonly weights: Snapshot;
  readonly pretrainedKey: string;
  readonly splits: TargetSplits;
  /** Validation and test scores of the pre-trained model (epoch 0). */
  readonly start: { readonly val: Metrics; readonly test: Metrics };
  /** The metric that ranks epochs and learning rates on validation. */
  readonly metric: string;
  /** The frozen-prefix cache of these splits, when enabled. */
  readonly cache?: PrefixCache;
  /** Where to save the fine-tuned weights (`save: true`). */
  readonly saveDir?: string;
  /** Called after each fine-tuning epoch. */
  readonly onEpoch?: (epoch: number, epochs: number, loss: number) => Effect.Effect<void>;
}

/** Where a paused trial stands: enough to continue it in this or another process. */
export interface TrialCheckpoint {
  readonly key: string;
  readonly train: TrainState;
  /** The weights after the last epoch done. */
  readonly weights: Snapshot;
  /** The best epoch on validation so far, its scores and weights. */
  readonly best: { readonly epoch: number; readonly val: Metrics; readonly weights: Snapshot };
  /** Validation score after each epoch so far (index 0: before training). */
  readonly curve: ReadonlyArray<number>;
  /** Variables trained in some epoch so far. */
  readonly touched: ReadonlyArray<string>;
  /** Seconds spent so far. */
  readonly seconds: number;
}

/** What running (a rung of) a trial gives. */
export type TrialStep =
  | { readonly _tag: "Finished"; readonly line: ResultLine }
  | { readonly _tag: "Paused"; readonly checkpoint: TrialCheckpoint };

/**
 * Counts the compute a trial spends, in examples through the network: a training
 * example (forward and backward, gradient statistics included) counts 1, an evaluated
 * example (forward only) 1/3. The advisor (core/advise/) keeps its budget with it.
 */
export interface ComputeMeter {
  units: number;
}

/** Compute units of evaluating `count` examples (forward only). */
export const evaluationUnits = (count: number): number => count / 3;

/** How much of a trial to run: from a checkpoint, and / or until some epochs are done. */
export interface Rung {
  readonly from?: TrialCheckpoint;
  /** Stop once this many epochs are done (fewer than the pipeline's `finetune.epochs`). */
  readonly stopAfter?: number;
  /** Add the compute this rung spends here. */
  readonly meter?: ComputeMeter;
  /** A trial that finishes in this rung is not scored on test (its line's `test` is empty): the advisor never looks. */
  readonly skipTest?: boolean;
}

/** Evaluate the model on a split with every evaluator; metrics merged in order. */
export const evaluate = (
  model: Model,
  split: Split,
  evaluators: ReadonlyArray<EvaluatorImpl>,
  cached?: { readonly cache: PrefixCache; readonly from: number },
): Effect.Effect<Metrics> =>
  Effect.map(readPredictions(model, split, 256, cached), (logits) => {
    const input = {
      logits,
      labels: split.labels,
      groups: split.groups,
      count: split.count,
      numClasses: model.numClasses,
    };
    return Object.assign({}, ...evaluators.map((e) => e.evaluate(input)));
  });

/** What a selector asked for while statistics it needs are still being computed (see {@link askSelector}). */
class StatisticsPending {
  constructor(readonly key: string, readonly request: GradientStatsAsk) {}
}

/** What a selector may ask `gradientStats` for. */
type GradientStatsAsk = Parameters<SelectionContext["gradientStats"]>[0];

/**
 * A selector's multipliers for an epoch, handing it the gradient statistics it asks for
 * (`compute` measures them). Where tensors read synchronously they are measured when
 * asked. On webgpu they cannot be (core/read.ts): a request not measured yet stops the
 * selector's call, the statistics are measured, and the selector is asked again with
 * the same context — so there its `multipliers` may run more than once per epoch, and
 * must not depend on how often it ran.
 */
const askSelector = (
  ask: (gradientStats: SelectionContext["gradientStats"]) => ReadonlyMap<string, number>,
  compute: (request: GradientStatsAsk) => Effect.Effect<ReadonlyMap<string, TensorGradientStats>>,
): Effect.Effect<ReadonlyMap<string, number>> =>
  Effect.gen(function* () {
    if (readsSynchronously()) return ask((request) => Effect.runSync(compute(request)));
    const measured = new Map<string, ReadonlyMap<string, TensorGradientStats>>();
    for (;;) {
      const answer = yield* Effect.sync(() => {
        try {
          return ask((request) => {
            const key = JSON.stringify(request);
            const stats = measured.get(key);
            if (stats) return stats;
            throw new StatisticsPending(key, request);
          });
        } catch (e) {
          const pending = e instanceof StatisticsPending
            ? e
            : e instanceof PluginCodeFailure && e.error instanceof StatisticsPending
            ? e.error
            : undefined;
          if (pending) return pending;
          throw e;
        }
      });
      if (!(answer instanceof StatisticsPending)) return answer;
      measured.set(answer.key, yield* compute(answer.request));
    }
  });

/** The id of shift `index` in random stream paths (a hash of its resolved reference). */
export const shiftId = (p: ResolvedPipeline, index: number): string => contentHash(refJson(p.shifts[index]));

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Run one trial (or one rung of it) from the pre-trained weights. Fails with the
 * trial's own errors (a diverging loss, a plugin that threw); every other failure is
 * the run's.
 */
export const runTrial = (
  ctx: TrialContext,
  trial: Trial,
  rung: Rung = {},
): Effect.Effect<TrialStep, TrainingError | PluginError | RunDirectoryError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const t0 = performance.now();
    const { p, made, model, splits, start, metric, cache } = ctx;
    const from = rung.from;
    if (from && from.key !== trial.key) throw new Error(`checkpoint of trial ${from.key} given to trial ${trial.key}`);
    restore(model, from ? from.weights : ctx.weights);
    const selector = made.selectors[trial.selectionIndex];
    const { epochs, batchSize } = p.settings.finetune;
    const label = `${made.shifts[trial.shiftIndex].label} × ${selector.label}`;
    let best = from ? { epoch: from.best.epoch, val: from.best.val } : { epoch: 0, val: start.val };
    let bestWeights: Snapshot = from ? from.best.weights : ctx.weights;
    // variables trained in some epoch so far: the stages before the first of them still hold
    // the pre-trained weights, so evaluation can start from the prefix cache there
    const touched = new Set<string>(from?.touched ?? []);
    const cachedFrom = () => (cache ? { cache, from: firstStageUsing(model, touched) } : undefined);
    const curve: number[] = from ? [...from.curve] : [start.val[metric]];
    const id = shiftId(p, trial.shiftIndex);
    // θ₀ for an L2-SP penalty: the pre-trained weights, released when the trial ends
    const anchor = selector.penalty
      ? yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Map(
            model.params.map((v) => [v.name, tf.tensor(ctx.weights.get(v.name)!.data, ctx.weights.get(v.name)!.shape)]),
          )
        ),
        (m) => Effect.sync(() => m.forEach((t) => t.dispose())),
      )
      : undefined;
    const report = yield* train(model, splits.train, {
      epochs,
      batchSize,
      learningRate: trial.lr,
      batchNormMode: "eval",
      ...(from ? { resume: from.train } : {}),
      ...(rung.stopAfter !== undefined ? { stopAfter: rung.stopAfter } : {}),
      multipliers: (epoch, trainLosses) =>
        askSelector(
          (gradientStats) => selector.multipliers({ model, epoch, epochs, trainLosses, gradientStats }),
          (request) =>
            Effect.suspend(() => {
              if (rung.meter) rung.meter.units += gradientStatsUnits(request, batchSize, splits.train.count);
              return readGradientStats(model, splits.train, {
                ...request,
                batchSize,
                rng: rngFor(p.settings.seed, ["gradient-stats", id, trial.seed, trial.key, epoch]),
              });
            }),
        ).pipe(Effect.tap((m) =>
          Effect.sync(() => {
            let trains = false;
            for (const [name, x] of m) {
              if (x > 0) {
                touched.add(name);
                trains = true;
              }
            }
            // an epoch that trains something passes every training example forward and backward once
            if (trains && rung.meter) rung.meter.units += splits.train.count;
          })
        )),
      ...(cache ? { prefixCache: cache } : {}),
      ...(selector.penalty && anchor ? { penalty: { alpha: selector.penalty.alpha, anchor } } : {}),
      // Common random numbers: every selection and learning rate of a (shift, seed) sees the same
      // batch order, so differences between cells come from the layers tuned, not from the shuffle.
      rng: rngFor(p.settings.seed, ["batches", id, trial.seed]),
      what: `trial ${trial.key} (${label}, seed ${trial.seed}, lr ${trial.lr})`,
      onEpoch: (epoch, loss) =>
        Effect.gen(function* () {
          const val = yield* evaluate(model, splits.val, made.evaluators, cachedFrom());
          if (rung.meter) rung.meter.units += evaluationUnits(splits.val.count);
          curve.push(val[metric]);
          // epoch 0 is a candidate only for selections that train nothing
          if (best.epoch === 0 || val[metric] > best.val[metric]) {
            best = { epoch: epoch + 1, val };
            bestWeights = yield* readSnapshot(model);
          }
          killPoint("trial-epoch");
        }).pipe(Effect.zipRight(ctx.onEpoch ? ctx.onEpoch(epoch + 1, epochs, loss) : Effect.void)),
    });
    // the trial's own time so far: its earlier rungs' and this one's, the test scoring below included
    const elapsed = () => (from?.seconds ?? 0) + (performance.now() - t0) / 1000;
    if (report.paused) {
      return {
        _tag: "Paused",
        checkpoint: {
          key: trial.key,
          train: report.paused,
          weights: yield* readSnapshot(model),
          best: { ...best, weights: bestWeights },
          curve,
          touched: [...touched],
          seconds: elapsed(),
        },
      } as const;
    }
    const trainedNames = new Set([...report.stepsByVariable].filter(([, n]) => n > 0).map(([name]) => name));
    if (trainedNames.size === 0) {
      best = { epoch: 0, val: start.val };
      bestWeights = ctx.weights;
    }
    // the test split is scored once, with the weights of the epoch chosen on validation
    restore(model, bestWeights);
    const scored = trainedNames.size > 0 && !rung.skipTest;
    const test = rung.skipTest
      ? {}
      : scored
      ? yield* evaluate(model, splits.test, made.evaluators, cachedFrom())
      : start.test;
    if (scored && rung.meter) rung.meter.units += evaluationUnits(splits.test.count);
    const seconds = elapsed();
    if (ctx.saveDir) {
      const file = `${ctx.saveDir}/${trial.key}.weights`;
      yield* writeFileAtomic(file, encodeSnapshot(bestWeights)).pipe(
        Effect.mapError((e) =>
          new RunDirectoryError({
            dir: ctx.saveDir!,
            detail: `writing ${file} failed (${e.message})`,
            fix: "Check the permissions and free space of that directory.",
          })
        ),
      );
    }
    const sizeOf = (names: (v: Model["params"][number]) => boolean) =>
      model.params.filter(names).reduce((n, v) => n + v.variable.size, 0);
    const trainedGroups = Object.fromEntries(model.groups.map((g) => {
      const total = sizeOf((v) => v.group === g);
      return [g, total > 0 ? sizeOf((v) => v.group === g && trainedNames.has(v.name)) / total : 0];
    }));
    const groupActivity = Object.fromEntries(model.groups.map((g) => {
      const vars = model.params.filter((v) => v.group === g);
      const total = vars.reduce((n, v) => n + v.variable.size, 0);
      const perEpoch = report.multipliersByEpoch.map((m) =>
        vars.reduce((acc, v) => acc + (m.get(v.name) ?? 0) * v.variable.size, 0) / Math.max(1, total)
      );
      const n = Math.max(1, perEpoch.length);
      return [g, {
        meanMultiplier: round4(perEpoch.reduce((a, b) => a + b, 0) / n),
        activeFraction: round4(perEpoch.filter((x) => x > 0).length / n),
      }];
    }));
    const line: ResultLine = {
      status: "ok",
      key: trial.key,
      shift: made.shifts[trial.shiftIndex].label,
      shiftRef: refJson(p.shifts[trial.shiftIndex]),
      selection: selector.label,
      selectionRef: refJson(p.selections[trial.selectionIndex]),
      trainSize: trial.trainSize,
      seed: trial.seed,
      lr: trainedNames.size === 0 ? null : trial.lr,
      epoch: best.epoch,
      val: best.val,
      test,
      valCurve: curve,
      trainedParams: sizeOf((v) => trainedNames.has(v.name)),
      trainedGroups,
      groupActivity,
      seconds: Math.round(seconds * 100) / 100,
      pretrained: ctx.pretrainedKey,
    };
    return { _tag: "Finished", line } as const;
  }).pipe(Effect.scoped, catchPluginFailures);
