/**
 * The trial runner: the single code path that turns a trial spec into its outcome
 * line, whichever launcher called it (in this process, a local worker process, a
 * machine fed by a queue). It prepares what trials share — a shift's domains and
 * pre-trained model, a (shift, seed)'s target splits, frozen-prefix cache and starting
 * scores — once, for consecutive trials (trials come shift-major, in grid order).
 * A trial that fails (a diverging loss, a plugin that throws) gives a failed line;
 * every other error is the run's.
 * @module
 */
import { Effect, Scope } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import type { Dataset } from "../dataset.ts";
import { take } from "../dataset.ts";
import { disposeModel, firstStageUsing, type Model, readSnapshot, restore } from "../model.ts";
import { PrefixCache } from "../prefix_cache.ts";
import { rngFor } from "../random.ts";
import { stratifiedSamples } from "../splits.ts";
import { datasetHash, snapshotHash } from "../hash.ts";
import type { PluginError, TrainingError, UserError } from "../errors.ts";
import type { SelectorImpl } from "../plugin.ts";
import { type OnMiss, type Pretrained, pretrained, splitAccuracy } from "../pretrain.ts";
import { pretrainKey, type PretrainSpec } from "../cache.ts";
import { TensorBackend } from "../backend.ts";
import type { FailedLine, Metrics, TrialOutcome } from "../results.ts";
import { refJson } from "./load.ts";
import { trainSizes, type Trial } from "./expand.ts";
import { applyShift, type Prepared } from "./prepare.ts";
import { catchPluginFailures } from "./guard.ts";
import { evaluate, type Rung, runTrial, shiftId, type TargetSplits, type TrialCheckpoint } from "./trial.ts";

/** What a trial's epoch reports, for a live status line. */
export interface TrialEpoch {
  readonly trial: Trial;
  /** `shift × selection seed s lr x`. */
  readonly name: string;
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
}

/** Where the runner gets pre-trained models and sends its progress. */
export interface RunnerOptions {
  readonly cacheDir: string;
  readonly log: (line: string) => Effect.Effect<void>;
  /** A model missing from the cache is trained (`train`: the process that pre-trains) or an error (`fail`). */
  readonly onMiss: OnMiss;
  /** Save each trial's fine-tuned weights here (`save: true`). */
  readonly saveDir?: string;
  readonly onEpoch?: (info: TrialEpoch) => Effect.Effect<void>;
}

/** Runs trials; see the module doc. */
export interface TrialRunner {
  /** Make sure the pre-trained model of shift `index` exists (training it, or loading it, once). */
  readonly pretrain: (shiftIndex: number) => Effect.Effect<Pretrained, UserError, FileSystem.FileSystem | Path.Path>;
  /** Run a trial: its outcome line (a result line, or a failed line). */
  readonly run: (trial: Trial) => Effect.Effect<TrialOutcome, UserError, FileSystem.FileSystem | Path.Path>;
  /**
   * Run `f` on the pre-trained model (its weights restored) and the target splits of
   * `trial`'s shift, seed and size, before anything trains (the advisor's zero-cost
   * signals). A plugin that throws in `f` is a PluginError.
   */
  readonly atStart: <A>(
    trial: Trial,
    f: (ctx: { readonly model: Model; readonly splits: TargetSplits }) => Effect.Effect<A>,
  ) => Effect.Effect<A, UserError, FileSystem.FileSystem | Path.Path>;
  /**
   * Whether `trial`'s selection trains nothing whatever the learning rate: asked for its
   * multipliers of every epoch at the pre-trained weights (the weights it would see in
   * every epoch, since nothing trains), it gives no positive multiplier, never asks for
   * gradient statistics and never reads the training losses. Its trials then differ only
   * in a learning rate they never use, and give the same line (see copies.ts). A
   * selector that throws here answers false (its trial reports the error).
   */
  readonly trainsNothing: (trial: Trial) => Effect.Effect<boolean, UserError, FileSystem.FileSystem | Path.Path>;
  /** The first stage of the model the trial trains (see {@link firstTrainedStage}): smaller is longer. */
  readonly firstTrainedStage: (trial: Trial) => Effect.Effect<number, UserError, FileSystem.FileSystem | Path.Path>;
  /** Run a rung of a trial: its outcome line when it finished, or a checkpoint when the rung stopped early. */
  readonly runRung: (
    trial: Trial,
    rung: Rung,
  ) => Effect.Effect<TrialOutcome | Paused, UserError, FileSystem.FileSystem | Path.Path>;
}

/** A trial stopped by its rung, with where to continue from. */
export interface Paused {
  readonly _tag: "Paused";
  readonly checkpoint: TrialCheckpoint;
}

/** What a selector answers when asked for every epoch's multipliers before anything trains. */
export interface DryRun {
  /** It asked for gradient statistics, read the training losses or threw: its answer depends on the run. */
  readonly looked: boolean;
  /** The variables some epoch gives a positive multiplier. */
  readonly trained: ReadonlySet<string>;
}

/** Ask `selector` for every epoch's multipliers on `model` as it is, noting whether it looked at the run. */
export const dryRunSelector = (selector: SelectorImpl, model: Model, epochs: number): DryRun => {
  let looked = false;
  const trained = new Set<string>();
  try {
    for (let epoch = 0; epoch < epochs && !looked; epoch++) {
      const losses = new Proxy(Array.from({ length: epoch }, () => 0), {
        get: (target, prop, receiver) => {
          looked = true;
          return Reflect.get(target, prop, receiver);
        },
      });
      const m = selector.multipliers({
        model,
        epoch,
        epochs,
        trainLosses: losses,
        gradientStats: () => {
          looked = true;
          throw new Error("asked for gradient statistics");
        },
      });
      for (const [name, x] of m) if (x > 0) trained.add(name);
    }
  } catch {
    looked = true;
  }
  return { looked, trained };
};

/**
 * True when `selector`, asked for every epoch's multipliers on `model` as it is, gives
 * no positive multiplier without asking for gradient statistics or reading the training
 * losses (so its answer cannot depend on anything a learning rate changes).
 */
export const selectsNothing = (selector: SelectorImpl, model: Model, epochs: number): boolean => {
  const r = dryRunSelector(selector, model, epochs);
  return !r.looked && r.trained.size === 0;
};

/**
 * The first stage of `model` a trial of `selector` trains, as far as it can be told before the
 * trial runs: a selector that looks at the run counts as training from stage 0; one that trains
 * nothing gives the number of stages. Every stage from that one on runs forward and backward at
 * each step and forward at each evaluation, so the earlier it is, the longer the trial.
 */
export const firstTrainedStage = (selector: SelectorImpl, model: Model, epochs: number): number => {
  const r = dryRunSelector(selector, model, epochs);
  return r.looked ? 0 : firstStageUsing(model, r.trained);
};

/** The name of a trial in progress lines. */
export const trialName = (prepared: Prepared, t: Trial): string =>
  `${prepared.made.shifts[t.shiftIndex].label} × ${prepared.made.selectors[t.selectionIndex].label}${
    trainSizes(prepared.p).length > 1 ? ` n ${t.trainSize}` : ""
  } seed ${t.seed} lr ${t.lr}`;

/** The failed line of trial `t`: which trial, the error (its tag and one paragraph), its wall time. */
export const failedLineOf = (
  prepared: Prepared,
  t: Trial,
  error: { readonly tag: string; readonly message: string },
  seconds: number,
): FailedLine => ({
  status: "failed",
  key: t.key,
  shift: prepared.made.shifts[t.shiftIndex].label,
  selection: prepared.made.selectors[t.selectionIndex].label,
  trainSize: t.trainSize,
  seed: t.seed,
  lr: t.lr,
  error,
  seconds: Math.round(seconds * 100) / 100,
});

/**
 * The target splits of shift `index`, fine-tuning seed `seed` and `trainSize` labelled
 * examples (stratified, seeded; the same in every process). Training and validation
 * examples are drawn together for the largest size of the grid; a smaller size is a
 * stratified sample of that training sample, so sizes are nested and validation and test
 * stay the same for every size.
 */
export const targetSplits = (
  prepared: Prepared,
  index: number,
  target: Dataset,
  seed: number,
  trainSize: number,
): TargetSplits => {
  const { p } = prepared;
  const id = shiftId(p, index);
  const k = target.classNames.length;
  const largest = Math.max(...trainSizes(p));
  const { val: nVal, test: nTest } = p.settings.target;
  const [trainIdx, valIdx] = stratifiedSamples(
    target.train,
    k,
    [largest, nVal],
    rngFor(p.settings.seed, ["target", id, seed]),
  );
  const labels = Int32Array.from(trainIdx, (i) => target.train.labels[i]);
  const picked = trainSize === largest ? trainIdx : Int32Array.from(
    stratifiedSamples(
      { images: new Uint8Array(0), labels, count: labels.length },
      k,
      [trainSize],
      rngFor(p.settings.seed, ["target-size", id, seed, trainSize]),
    )[0],
    (j) => trainIdx[j],
  );
  const [testIdx] = stratifiedSamples(target.test, k, [nTest], rngFor(p.settings.seed, ["target-test", id]));
  return {
    train: take(target.train, target.shape, picked),
    val: take(target.train, target.shape, valIdx),
    test: take(target.test, target.shape, testIdx),
  };
};

/** The weights of a model plugin that loads pre-trained weights (no pre-training, no cache). */
const loadedWeights = (build: () => Model, source: Dataset) =>
  Effect.acquireUseRelease(
    catchPluginFailures(Effect.sync(build)),
    (m) =>
      Effect.gen(function* () {
        const weights = yield* readSnapshot(m);
        const loaded: Pretrained = {
          key: `loaded-${snapshotHash(weights)}`,
          weights,
          sourceTestAccuracy: yield* splitAccuracy(m, source.test),
          cached: true,
        };
        return loaded;
      }),
    (m) => Effect.sync(() => disposeModel(m)),
  );

/**
 * A trial runner over `prepared`, holding its models until the scope closes. The
 * pre-trained model of a shift is the one in the cache for its spec (the source data's
 * content hash included); with `onMiss: "train"` it is trained when missing.
 */
export const makeTrialRunner = (
  prepared: Prepared,
  opts: RunnerOptions,
): Effect.Effect<TrialRunner, never, Scope.Scope | TensorBackend> =>
  Effect.gen(function* () {
    const { p, made, base } = prepared;
    const backend = (yield* TensorBackend).name;
    const scope = yield* Effect.scope;
    const models = new Map<number, Model>();
    const modelFor = (numClasses: number) =>
      Effect.gen(function* () {
        const existing = models.get(numClasses);
        if (existing) return existing;
        const m = yield* Effect.acquireRelease(
          catchPluginFailures(
            Effect.sync(() =>
              made.model.build({ inputShape: base.shape, numClasses }, rngFor(p.settings.seed, ["model", "init"]))
            ),
          ),
          (m) => Effect.sync(() => disposeModel(m)),
        ).pipe(Effect.provideService(Scope.Scope, scope));
        models.set(numClasses, m);
        return m;
      });
    const pretrainedByKey = new Map<string, Pretrained>();

    /** Pre-trained weights of the source domain of shift `s`. */
    const pretrainedFor = (s: number, source: Dataset) =>
      Effect.gen(function* () {
        const numClasses = source.classNames.length;
        const build = () =>
          made.model.build({ inputShape: base.shape, numClasses }, rngFor(p.settings.seed, ["model", "init"]));
        if (made.model.pretrained) return yield* loadedWeights(build, source);
        const spec: PretrainSpec = {
          model: refJson(p.model),
          data: datasetHash(source),
          seed: p.settings.seed,
          budget: p.settings.pretrain,
          backend,
        };
        const key = pretrainKey(spec);
        const known = pretrainedByKey.get(key);
        if (known) return known;
        const pre = yield* catchPluginFailures(pretrained({
          build,
          source,
          spec,
          about: { dataset: refJson(p.dataset), sourceKey: made.shifts[s].sourceKey },
          cacheDir: opts.cacheDir,
          log: opts.log,
          onMiss: opts.onMiss,
        }));
        pretrainedByKey.set(key, pre);
        return pre;
      });

    // the shift whose trials run now, and the (shift, seed) whose target splits they use
    let shift: { index: number; target: Dataset; pre: Pretrained; model: Model } | undefined;
    let seedCtx:
      | {
        shift: number;
        seed: number;
        size: number;
        splits: TargetSplits;
        cache?: PrefixCache;
        start: { val: Metrics; test: Metrics };
      }
      | undefined;

    const shiftContext = (s: number) =>
      Effect.gen(function* () {
        if (shift?.index === s) return shift;
        seedCtx = undefined;
        shift = undefined;
        const { source, target } = yield* applyShift(prepared, s);
        const pre = yield* pretrainedFor(s, source);
        const model = yield* modelFor(source.classNames.length);
        shift = { index: s, target, pre, model };
        return shift;
      });

    const seedContext = (t: Trial) =>
      Effect.gen(function* () {
        const sh = yield* shiftContext(t.shiftIndex);
        if (seedCtx?.shift === t.shiftIndex && seedCtx.seed === t.seed && seedCtx.size === t.trainSize) {
          return { sh, sc: seedCtx };
        }
        const splits = targetSplits(prepared, t.shiftIndex, sh.target, t.seed, t.trainSize);
        restore(sh.model, sh.pre.weights);
        // one cache per target sample, shared by every trial of it (all start from the pre-trained weights)
        const cache = p.settings.finetune.prefixCache ? new PrefixCache(sh.model) : undefined;
        const frozen = cache ? { cache, from: firstStageUsing(sh.model, new Set()) } : undefined; // nothing trained yet
        const start = yield* catchPluginFailures(Effect.all({
          val: evaluate(sh.model, splits.val, made.evaluators, frozen),
          test: evaluate(sh.model, splits.test, made.evaluators, frozen),
        }));
        seedCtx = { shift: t.shiftIndex, seed: t.seed, size: t.trainSize, splits, ...(cache ? { cache } : {}), start };
        return { sh, sc: seedCtx };
      });

    const failedLine = (t: Trial, e: TrainingError | PluginError, seconds: number): FailedLine =>
      failedLineOf(prepared, t, { tag: e._tag, message: e.describe() }, seconds);

    const runRung: TrialRunner["runRung"] = (t, rung) =>
      Effect.gen(function* () {
        const t0 = performance.now();
        const step = yield* Effect.gen(function* () {
          const { sh, sc } = yield* seedContext(t);
          const metric = Object.keys(sc.start.val)[0];
          const name = trialName(prepared, t);
          return yield* runTrial(
            {
              p,
              made,
              model: sh.model,
              weights: sh.pre.weights,
              pretrainedKey: sh.pre.key,
              splits: sc.splits,
              start: sc.start,
              metric,
              ...(sc.cache ? { cache: sc.cache } : {}),
              ...(opts.saveDir ? { saveDir: opts.saveDir } : {}),
              onEpoch: (epoch, epochs, loss) =>
                opts.onEpoch ? opts.onEpoch({ trial: t, name, epoch, epochs, loss }) : Effect.void,
            },
            t,
            rung,
          );
        }).pipe(
          Effect.map((s): TrialOutcome | Paused => (s._tag === "Finished" ? s.line : s)),
          Effect.catchTags({
            TrainingError: (e) => Effect.succeed(failedLine(t, e, (performance.now() - t0) / 1000)),
            PluginError: (e) => Effect.succeed(failedLine(t, e, (performance.now() - t0) / 1000)),
          }),
        );
        return step;
      });

    return {
      pretrain: (s) =>
        Effect.gen(function* () {
          return (yield* shiftContext(s)).pre;
        }),
      runRung,
      trainsNothing: (t) =>
        Effect.map(shiftContext(t.shiftIndex), (sh) => {
          restore(sh.model, sh.pre.weights);
          return selectsNothing(made.selectors[t.selectionIndex], sh.model, p.settings.finetune.epochs);
        }),
      firstTrainedStage: (t) =>
        Effect.map(shiftContext(t.shiftIndex), (sh) => {
          restore(sh.model, sh.pre.weights);
          return firstTrainedStage(made.selectors[t.selectionIndex], sh.model, p.settings.finetune.epochs);
        }),
      atStart: (t, f) =>
        Effect.gen(function* () {
          const { sh, sc } = yield* seedContext(t);
          restore(sh.model, sh.pre.weights);
          return yield* catchPluginFailures(Effect.suspend(() => f({ model: sh.model, splits: sc.splits })));
        }),
      run: (t) =>
        runRung(t, {}).pipe(
          Effect.flatMap((o) =>
            "_tag" in o ? Effect.dieMessage(`trial ${t.key} paused without a rung`) : Effect.succeed(o)
          ),
        ),
    };
  });
