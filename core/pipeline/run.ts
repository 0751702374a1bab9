/**
 * Running a resolved pipeline: dataset → shift (source, target) → pre-trained model
 * (cached) → target splits → for each trial: restore the pre-trained snapshot →
 * selector → fine-tune → evaluators → one result line → aggregate → report.
 * Every bad input that can be detected before work starts is detected before the
 * run directory is created.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { Dataset, Split } from "../dataset.ts";
import { take } from "../dataset.ts";
import {
  disposeModel,
  encodeSnapshot,
  firstStageUsing,
  type Model,
  restore,
  type Snapshot,
  snapshot,
} from "../model.ts";
import { PrefixCache } from "../prefix_cache.ts";
import type {
  DatasetImpl,
  Domains,
  EvaluatorImpl,
  ImplOf,
  ModelImpl,
  PluginKind,
  SelectorImpl,
  ShiftImpl,
} from "../plugin.ts";
import { rngFor } from "../random.ts";
import { predict, train } from "../train.ts";
import { gradientStats } from "../gradstats.ts";
import { stratifiedSamples } from "../splits.ts";
import { PluginError, RunDirectoryError, TrainingError, type UserError } from "../errors.ts";
import { describePlugin, type Resolved } from "../registry.ts";
import { refJson, resolvedJson, type ResolvedPipeline } from "./load.ts";
import { expandTrials, type Trial } from "./expand.ts";
import { isCached, type Pretrained, pretrained, pretrainKey, sourceAccuracyOf } from "../pretrain.ts";
import { appendLine, contentHash, openRunDirectory, readJsonLines, RUN_FILES, writeFileAtomic } from "../store.ts";
import type { Metrics, ResultLine } from "../results.ts";
import { aggregate, type Summary } from "../report/aggregate.ts";
import { renderCsv, renderJson, renderMarkdown } from "../report/render.ts";
import { renderHtml } from "../report/html.ts";
import { TensorBackend } from "../backend.ts";
import { SCALPEL_VERSION } from "../version.ts";

/** Where and how to run. */
export interface RunOptions {
  readonly outDir: string;
  readonly cacheDir: string;
  /** Progress output (one line per event). */
  readonly log: (line: string) => Effect.Effect<void>;
  /** Run the unfinished trials among every `count`-th trial of the grid, from `index` (a worker of a parallel run). */
  readonly shard?: { readonly index: number; readonly count: number };
  /** Only apply the shifts and pre-train (fill the model cache); run no trial, write no summary. */
  readonly pretrainOnly?: boolean;
  /**
   * Worker mode: hand each result line to `emit` instead of appending it to
   * results.jsonl, and write no summary (the parent process does both).
   */
  readonly emit?: (line: ResultLine) => Effect.Effect<void>;
  /** Called after every fine-tuning epoch (for a live status line on a terminal). */
  readonly epoch?: (info: EpochProgress) => Effect.Effect<void>;
}

/** Where a run stands, after one fine-tuning epoch. */
export interface EpochProgress {
  /** `shift × selection seed s lr x`. */
  readonly trial: string;
  /** Trials finished so far and in all (of this process). */
  readonly done: number;
  readonly total: number;
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  /** Estimated seconds left, when known. */
  readonly eta?: number;
}

/** What a finished run produced. */
export interface RunOutcome {
  readonly outDir: string;
  readonly summary: Summary;
  readonly markdown: string;
  readonly trialsRun: number;
  readonly trialsSkipped: number;
}

/** Everything a run needs from the plugins, made before any work starts. */
interface Made {
  readonly dataset: DatasetImpl;
  readonly model: ModelImpl;
  readonly shifts: ReadonlyArray<ShiftImpl>;
  readonly selectors: ReadonlyArray<SelectorImpl>;
  readonly evaluators: ReadonlyArray<EvaluatorImpl>;
}

/** Make one implementation; a plugin that throws becomes a PluginError naming it (and its file). */
const make = <K extends PluginKind>(r: Resolved<K>, file: string) =>
  Effect.suspend(() => r.plugin.make(r.options)).pipe(
    Effect.catchAllDefect((e) =>
      Effect.fail(
        new PluginError({
          kind: r.kind,
          name: r.plugin.name,
          where: `${file}: ${r.path}`,
          detail: `failed to start: ${errorText(e)} [${describePlugin(r.plugin)}]`,
          known: [],
        }),
      )
    ),
  ) as Effect.Effect<ImplOf[K], UserError, FileSystem.FileSystem | Path.Path>;

const errorText = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0] : String(e));

/** Make every plugin implementation (decoding already happened in loadPipeline). */
export const makeAll = (p: ResolvedPipeline) =>
  Effect.all({
    dataset: make(p.dataset, p.file),
    model: make(p.model, p.file),
    shifts: Effect.forEach(p.shifts, (r) => make(r, p.file)),
    selectors: Effect.forEach(p.selections, (r) => make(r, p.file)),
    evaluators: Effect.forEach(p.evaluators, (r) => make(r, p.file)),
  }) as Effect.Effect<Made, UserError, FileSystem.FileSystem | Path.Path>;

/** Evaluate the model on a split with every evaluator; metrics merged in order. */
export const evaluate = (
  model: Model,
  split: Split,
  evaluators: ReadonlyArray<EvaluatorImpl>,
  cached?: { readonly cache: PrefixCache; readonly from: number },
): Metrics => {
  const logits = predict(model, split, 256, cached);
  const input = {
    logits,
    labels: split.labels,
    groups: split.groups,
    count: split.count,
    numClasses: model.numClasses,
  };
  return Object.assign({}, ...evaluators.map((e) => e.evaluate(input)));
};

/** The target splits of one shift and seed. */
interface TargetSplits {
  readonly train: Split;
  readonly val: Split;
  readonly test: Split;
}

const applyShift = (p: ResolvedPipeline, index: number, impl: ShiftImpl, base: Dataset) =>
  Effect.try({
    try: (): Domains => {
      const id = contentHash(refJson(p.shifts[index]));
      return impl.apply(base, (path) => rngFor(p.settings.seed, ["shift", id, ...path]));
    },
    catch: (e) =>
      new PluginError({
        kind: "shift",
        name: p.shifts[index].plugin.name,
        where: `${p.file}: ${p.shifts[index].path}`,
        detail: `failed: ${errorText(e)} [${describePlugin(p.shifts[index].plugin)}]`,
        known: [],
      }),
  });

const targetSplits = (p: ResolvedPipeline, shiftIndex: number, target: Dataset, seed: number) =>
  Effect.try({
    try: (): TargetSplits => {
      const id = contentHash(refJson(p.shifts[shiftIndex]));
      const k = target.classNames.length;
      const { train: nTrain, val: nVal, test: nTest } = p.settings.target;
      const [trainIdx, valIdx] = stratifiedSamples(
        target.train,
        k,
        [nTrain, nVal],
        rngFor(p.settings.seed, ["target", id, seed]),
      );
      const [testIdx] = stratifiedSamples(target.test, k, [nTest], rngFor(p.settings.seed, ["target-test", id]));
      return {
        train: take(target.train, target.shape, trainIdx),
        val: take(target.train, target.shape, valIdx),
        test: take(target.test, target.shape, testIdx),
      };
    },
    catch: (e) =>
      new PluginError({
        kind: "shift",
        name: p.shifts[shiftIndex].plugin.name,
        where: `${p.file}: target`,
        detail: `cannot provide the target splits: ${
          e instanceof Error ? e.message : String(e)
        }; lower target.train / target.val / target.test`,
        known: [],
      }),
  });

/** The starting weights of a model plugin that loads pre-trained weights (no pre-training, no cache). */
const loadedWeights = (
  impl: ModelImpl,
  shape: readonly [number, number, number],
  numClasses: number,
  source: Dataset,
  spec: Record<string, unknown>,
  seed: number,
) =>
  Effect.acquireUseRelease(
    Effect.try({
      try: () => impl.build({ inputShape: shape, numClasses }, rngFor(seed, ["model", "init"])),
      catch: (e) =>
        new PluginError({
          kind: "model",
          name: String(Object.values(spec.model as Record<string, unknown>)[0]),
          where: "model",
          detail: `cannot start from its weights: ${errorText(e)}`,
          known: [],
        }),
    }),
    (m) =>
      Effect.sync((): Pretrained => {
        const logits = predict(m, source.test);
        let correct = 0;
        for (let i = 0; i < source.test.count; i++) {
          let best = 0;
          for (let c = 1; c < numClasses; c++) if (logits[i * numClasses + c] > logits[i * numClasses + best]) best = c;
          if (best === source.test.labels[i]) correct++;
        }
        return {
          key: `loaded-${contentHash(spec)}`,
          weights: snapshot(m),
          sourceTestAccuracy: source.test.count > 0 ? correct / source.test.count : NaN,
          cached: true,
        };
      }),
    (m) => Effect.sync(() => disposeModel(m)),
  );

/** Run one trial from the pre-trained weights; returns its result line. */
const runTrial = (
  p: ResolvedPipeline,
  made: Made,
  trial: Trial,
  model: Model,
  weights: Snapshot,
  splits: TargetSplits,
  start: { readonly val: Metrics; readonly test: Metrics },
  pretrainedKey: string,
  metric: string,
  cache: PrefixCache | undefined,
  onEpoch: (epoch: number, epochs: number, loss: number) => Effect.Effect<void> = () => Effect.void,
  saveTo?: string,
) =>
  Effect.gen(function* () {
    const t0 = performance.now();
    restore(model, weights);
    const selector = made.selectors[trial.selectionIndex];
    const { epochs, batchSize } = p.settings.finetune;
    const label = `${made.shifts[trial.shiftIndex].label} × ${selector.label}`;
    let best: { epoch: number; val: Metrics } = { epoch: 0, val: start.val };
    let bestWeights: Snapshot = weights;
    // variables trained in some epoch so far: the stages before the first of them still hold
    // the pre-trained weights, so evaluation can start from the prefix cache there
    const touched = new Set<string>();
    const cachedFrom = () => (cache ? { cache, from: firstStageUsing(model, touched) } : undefined);
    const curve: number[] = [start.val[metric]];
    const shiftId = contentHash(refJson(p.shifts[trial.shiftIndex]));
    // θ₀ for an L2-SP penalty: the pre-trained weights, released when the trial ends
    const anchor = selector.penalty
      ? yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Map(model.params.map((v) => [v.name, tf.tensor(weights.get(v.name)!.data, weights.get(v.name)!.shape)]))
        ),
        (m) => Effect.sync(() => m.forEach((t) => t.dispose())),
      )
      : undefined;
    const report = yield* train(model, splits.train, {
      epochs,
      batchSize,
      learningRate: trial.lr,
      batchNormMode: "eval",
      multipliers: (epoch, trainLosses) => {
        const m = selector.multipliers({
          model,
          epoch,
          epochs,
          trainLosses,
          gradientStats: (request) =>
            gradientStats(model, splits.train, {
              ...request,
              batchSize,
              rng: rngFor(p.settings.seed, ["gradient-stats", shiftId, trial.seed, trial.key, epoch]),
            }),
        });
        for (const [name, x] of m) if (x > 0) touched.add(name);
        return m;
      },
      ...(cache ? { prefixCache: cache } : {}),
      ...(selector.penalty && anchor ? { penalty: { alpha: selector.penalty.alpha, anchor } } : {}),
      // Common random numbers: every selection and learning rate of a (shift, seed) sees the same
      // batch order, so differences between cells come from the layers tuned, not from the shuffle.
      rng: rngFor(p.settings.seed, ["batches", contentHash(refJson(p.shifts[trial.shiftIndex])), trial.seed]),
      what: `trial ${trial.key} (${label}, seed ${trial.seed}, lr ${trial.lr})`,
      onEpoch: (epoch, loss) =>
        Effect.sync(() => {
          const val = evaluate(model, splits.val, made.evaluators, cachedFrom());
          curve.push(val[metric]);
          // epoch 0 is a candidate only for selections that train nothing
          if (best.epoch === 0 || val[metric] > best.val[metric]) {
            best = { epoch: epoch + 1, val };
            bestWeights = snapshot(model);
          }
        }).pipe(Effect.zipRight(onEpoch(epoch + 1, epochs, loss))),
    });
    const trainedNames = new Set([...report.stepsByVariable].filter(([, n]) => n > 0).map(([name]) => name));
    if (trainedNames.size === 0) {
      best = { epoch: 0, val: start.val };
      bestWeights = weights;
    }
    // the test split is scored once, with the weights of the epoch chosen on validation
    restore(model, bestWeights);
    const test = trainedNames.size === 0 ? start.test : evaluate(model, splits.test, made.evaluators, cachedFrom());
    if (saveTo) yield* writeFileAtomic(`${saveTo}/${trial.key}.weights`, encodeSnapshot(bestWeights));
    const trainedGroups = Object.fromEntries(model.groups.map((g) => {
      const vars = model.params.filter((v) => v.group === g);
      const total = vars.reduce((n, v) => n + v.variable.size, 0);
      const trained = vars.filter((v) => trainedNames.has(v.name)).reduce((n, v) => n + v.variable.size, 0);
      return [g, total > 0 ? trained / total : 0];
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
      key: trial.key,
      shift: made.shifts[trial.shiftIndex].label,
      shiftRef: refJson(p.shifts[trial.shiftIndex]),
      selection: selector.label,
      selectionRef: refJson(p.selections[trial.selectionIndex]),
      seed: trial.seed,
      lr: trainedNames.size === 0 ? null : trial.lr,
      epoch: best.epoch,
      val: best.val,
      test,
      valCurve: curve,
      trainedParams: model.params.filter((v) => trainedNames.has(v.name)).reduce((n, v) => n + v.variable.size, 0),
      trainedGroups,
      groupActivity,
      seconds: Math.round((performance.now() - t0) / 10) / 100,
      pretrained: pretrainedKey,
    };
    return line;
  }).pipe(
    Effect.scoped,
    Effect.catchAllDefect((e) =>
      Effect.fail(
        new TrainingError({
          what: `trial ${trial.key} (${made.shifts[trial.shiftIndex].label} × ${
            made.selectors[trial.selectionIndex].label
          })`,
          detail: `a plugin failed: ${errorText(e)}`,
          fix: `Check the selector and evaluators of this trial (${
            [p.selections[trial.selectionIndex], ...p.evaluators].map((r) => describePlugin(r.plugin)).join(", ")
          }).`,
        }),
      )
    ),
  );

/** Run the pipeline; writes the run directory and returns the summary. */
export const runPipeline = (
  p: ResolvedPipeline,
  opts: RunOptions,
): Effect.Effect<RunOutcome, UserError, FileSystem.FileSystem | Path.Path | TensorBackend> =>
  Effect.gen(function* () {
    const backend = yield* TensorBackend;
    const path = yield* Path.Path;
    const made = yield* makeAll(p);
    const base = yield* made.dataset.load;
    const trials = expandTrials(p);

    const resolved = {
      pipeline: resolvedJson(p),
      backend: backend.name,
      versions: { scalpel: SCALPEL_VERSION, tfjs: backend.tfjsVersion, deno: Deno.version.deno },
      trials: trials.length,
    };
    const resultsFile = yield* openRunDirectory(opts.outDir, JSON.stringify(resolved, null, 2) + "\n");
    if (p.settings.save) {
      yield* (yield* FileSystem.FileSystem).makeDirectory(path.join(opts.outDir, "models"), { recursive: true }).pipe(
        Effect.mapError((e) =>
          new RunDirectoryError({
            dir: opts.outDir,
            detail: `cannot create models/ (${e.message})`,
            fix: "Check permissions.",
          })
        ),
      );
    }
    const previous = yield* readJsonLines<ResultLine>(resultsFile);
    const keys = new Set(trials.map((t) => t.key));
    const done = new Map(previous.filter((l) => keys.has(l.key)).map((l) => [l.key, l]));
    if (done.size > 0) {
      yield* opts.log(`resuming: ${done.size} of ${trials.length} trials already finished in ${opts.outDir}`);
    }

    const lines: ResultLine[] = [...done.values()];
    const pretrainedByKey = new Map<string, Pretrained>();
    const models = new Map<number, Model>();
    const modelFor = (numClasses: number) =>
      Effect.gen(function* () {
        const existing = models.get(numClasses);
        if (existing) return existing;
        const m = yield* Effect.acquireRelease(
          Effect.sync(() =>
            made.model.build({ inputShape: base.shape, numClasses }, rngFor(p.settings.seed, ["model", "init"]))
          ),
          (m) => Effect.sync(() => disposeModel(m)),
        );
        models.set(numClasses, m);
        return m;
      });

    let metric: string | undefined = previous.length > 0 ? Object.keys(previous[0].val)[0] : undefined;
    let finished = done.size;
    let ran = 0;
    let trialSeconds = 0;
    const shard = opts.shard ?? { index: 0, count: 1 };
    const mine = opts.pretrainOnly
      ? []
      // shards by position in the whole grid, not among unfinished trials: workers start at different
      // moments, and the parent appends their lines meanwhile, so "unfinished" differs between them
      : trials.filter((_, i) => i % shard.count === shard.index).filter((t) => !done.has(t.key));
    const total = shard.count > 1 ? mine.length : trials.length;
    if (shard.count === 1) finished = done.size;
    else finished = 0;
    for (let s = 0; s < made.shifts.length; s++) {
      const todo = mine.filter((t) => t.shiftIndex === s);
      const needed = opts.pretrainOnly && trials.some((t) => t.shiftIndex === s && !done.has(t.key));
      if (todo.length === 0 && !needed) continue;
      const spec = {
        model: refJson(p.model),
        dataset: refJson(p.dataset),
        sourceKey: made.shifts[s].sourceKey,
        seed: p.settings.seed,
        budget: p.settings.pretrain,
        backend: backend.name,
      };
      // pre-training only: a source model already cached needs no shifted data at all
      if (todo.length === 0 && (made.model.pretrained || (yield* isCached(opts.cacheDir, pretrainKey(spec))))) continue;
      // Shifts are applied one at a time (a grid of corruptions would not fit in memory at once).
      const { source, target } = yield* applyShift(p, s, made.shifts[s], base);
      const numClasses = source.classNames.length;
      const pre = pretrainedByKey.get(pretrainKey(spec)) ?? (made.model.pretrained
        ? yield* loadedWeights(made.model, base.shape, numClasses, source, spec, p.settings.seed)
        : yield* pretrained(
          () => made.model.build({ inputShape: base.shape, numClasses }, rngFor(p.settings.seed, ["model", "init"])),
          source,
          spec,
          opts.cacheDir,
          opts.log,
        ));
      pretrainedByKey.set(pre.key, pre);
      if (todo.length === 0) continue;
      const model = yield* modelFor(numClasses);
      for (const seed of [...new Set(todo.map((t) => t.seed))]) {
        const splits = yield* targetSplits(p, s, target, seed);
        restore(model, pre.weights);
        // one cache per target sample, shared by every trial of it (all start from pre.weights)
        const cache = p.settings.finetune.prefixCache ? new PrefixCache(model) : undefined;
        const frozen = cache ? { cache, from: firstStageUsing(model, new Set()) } : undefined; // nothing trained yet
        const start = {
          val: evaluate(model, splits.val, made.evaluators, frozen),
          test: evaluate(model, splits.test, made.evaluators, frozen),
        };
        metric ??= Object.keys(start.val)[0];
        for (const trial of todo.filter((t) => t.seed === seed)) {
          const name = `${made.shifts[s].label} × ${
            made.selectors[trial.selectionIndex].label
          } seed ${seed} lr ${trial.lr}`;
          const eta0 = ran > 0 ? (trialSeconds / ran) * (mine.length - ran) : undefined;
          const line = yield* runTrial(
            p,
            made,
            trial,
            model,
            pre.weights,
            splits,
            start,
            pre.key,
            metric,
            cache,
            (epoch, epochs, loss) =>
              opts.epoch
                ? opts.epoch({
                  trial: name,
                  done: finished,
                  total,
                  epoch,
                  epochs,
                  loss,
                  ...(eta0 === undefined ? {} : { eta: eta0 }),
                })
                : Effect.void,
            p.settings.save ? path.join(opts.outDir, "models") : undefined,
          );
          if (opts.emit) yield* opts.emit(line);
          else yield* appendLine(resultsFile, line);
          lines.push(line);
          finished++;
          ran++;
          trialSeconds += line.seconds;
          const eta = (trialSeconds / ran) * (mine.length - ran);
          yield* opts.log(
            `[${finished}/${total}] ${line.shift} × ${line.selection} seed ${line.seed} lr ${trial.lr}: ` +
              `val ${metric} ${fmt(line.val[metric])}, test ${
                fmt(line.test[metric])
              } (epoch ${line.epoch}, ${line.seconds} s; ETA ${formatDuration(eta)})`,
          );
        }
      }
    }

    if (opts.pretrainOnly || opts.emit) {
      return {
        outDir: opts.outDir,
        summary: aggregate([], "accuracy", [], []),
        markdown: "",
        trialsRun: ran,
        trialsSkipped: done.size,
      };
    }
    const sourceAccuracies = yield* sourceAccuracyOf(opts.cacheDir, [...new Set(lines.map((l) => l.pretrained))]);
    const summary = aggregate(
      lines,
      metric ?? "accuracy",
      [...new Set(made.shifts.map((sh) => sh.label))],
      [...new Set(made.selectors.map((sel) => sel.label))],
      p.settings.finetune.learningRates,
    );
    const ctx = {
      title: `scalpel: ${p.settings.name}`,
      lines: [
        `- dataset: ${p.dataset.plugin.name}, model: ${p.model.plugin.name}, backend: ${backend.name}, root seed ${p.settings.seed}, ${p.settings.seeds} fine-tuning seed(s)`,
        `- target examples: ${p.settings.target.train} train / ${p.settings.target.val} validation / ${p.settings.target.test} test; ` +
        `fine-tuning up to ${p.settings.finetune.epochs} epochs, learning rates ${
          p.settings.finetune.learningRates.join(", ")
        }`,
        `- pre-training: ${p.settings.pretrain.epochs} epochs on ${
          p.settings.pretrain.examples ?? "all"
        } source examples` +
        (sourceAccuracies.length > 0
          ? `; source test accuracy ${sourceAccuracies.map((a) => `${(100 * a).toFixed(1)} %`).join(", ")}`
          : ""),
      ],
    };
    const markdown = renderMarkdown(summary, ctx);
    yield* writeFileAtomic(path.join(opts.outDir, RUN_FILES.summaryMd), markdown);
    yield* writeFileAtomic(path.join(opts.outDir, RUN_FILES.summaryCsv), renderCsv(summary));
    yield* writeFileAtomic(path.join(opts.outDir, RUN_FILES.summaryJson), renderJson(summary, ctx));
    yield* writeFileAtomic(
      path.join(opts.outDir, RUN_FILES.reportHtml),
      renderHtml(summary, ctx, { ...resolved, resolvedPipeline: resolved.pipeline }),
    );
    return { outDir: opts.outDir, summary, markdown, trialsRun: ran, trialsSkipped: done.size };
  }).pipe(Effect.scoped);

/** `1h02m`, `3m20s`, `45s`. */
export const formatDuration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
};

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

const fmt = (x: number | undefined) => (x === undefined ? "?" : x.toFixed(4));

/** Tensors currently alive in the tfjs engine (tests check it is unchanged by a run). */
export const liveTensors = (): number => tf.memory().numTensors;
