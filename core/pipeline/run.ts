/**
 * Running a resolved pipeline, stage by stage: make the plugins → prepare (dataset,
 * shifts, every check that needs no training) → open the run directory (lock, resume)
 * → pre-train every needed source model → run the unfinished trials on a launcher,
 * appending each outcome line to results.jsonl as it arrives → write the summary and
 * report. Every bad input that can be detected before work starts is detected before
 * the run directory is created.
 * @module
 */
import { Effect, Stream } from "effect";
import { FileSystem, Path } from "@effect/platform";
import type { CommandExecutor } from "@effect/platform";
import { RunDirectoryError, TrialsFailedError, type UserError } from "../errors.ts";
import { type BackendName, TensorBackend } from "../backend.ts";
import { SCALPEL_VERSION } from "../version.ts";
import { inspectCacheDir } from "../cache.ts";
import { isFailed, type TrialOutcome } from "../results.ts";
import { appendOutcome, latestByKey, openRunDirectory, RUN_FILES, type RunManifest } from "../run_dir.ts";
import { type EpochProgress, formatDuration } from "../progress.ts";
import type { Summary } from "../report/aggregate.ts";
import { resolvedJson, type ResolvedPipeline } from "./load.ts";
import { type Prepared, preparePipeline } from "./prepare.ts";
import { makeTrialRunner, trialName } from "./runner.ts";
import { inProcess, type Launcher } from "./launcher.ts";
import { autoConcurrency, localWorkers, type WorkerCommand } from "./local_workers.ts";
import type { PipelineSource } from "./protocol.ts";
import { writeSummary } from "./summary.ts";
import { gridWarning } from "./estimate.ts";
import { exportSplits } from "./export_splits.ts";
import type { QueueAddress } from "../queue/address.ts";
import { queueLauncher } from "../queue/coordinator.ts";
import { type BundleInput, checkTravellingModules } from "../queue/bundle.ts";
import { runIdOf } from "../queue/keys.ts";
import { failedLineOf } from "./runner.ts";
import { copyLine, planCopies } from "./copies.ts";
import { longestFirst } from "./order.ts";
import type { Trial } from "./expand.ts";

/** Where and how to run. */
export interface RunOptions {
  readonly outDir: string;
  readonly cacheDir: string;
  /** Progress output (one line per event). */
  readonly log: (line: string) => Effect.Effect<void>;
  /** Called after every fine-tuning epoch (for a live status line on a terminal). */
  readonly epoch?: (info: EpochProgress) => Effect.Effect<void>;
  /** Run the trials that failed in an earlier attempt again (`--retry-failed`). */
  readonly retryFailed?: boolean;
  /** Write every shift's target splits, source data and pre-trained weights under `<out>/exports/` (`--export-splits`). */
  readonly exportSplits?: boolean;
  /**
   * Run the trials in local worker processes: `count` of them (`auto`: see
   * `autoConcurrency`, from the number of trials left), each started with `command`
   * and given the pipeline `source`. Absent: in this process.
   */
  readonly workers?: {
    readonly count: number | "auto";
    readonly command: WorkerCommand;
    readonly source: PipelineSource;
  };
  /** Run the trials on the workers of a queue (`--queue URL`) instead: see core/queue/coordinator.ts. */
  readonly queue?: QueueAddress;
}

/** What a finished run produced. */
export interface RunOutcome {
  readonly outDir: string;
  readonly summary: Summary;
  readonly markdown: string;
  readonly trialsRun: number;
  /** Of `trialsRun`, the trials recorded as a copy of another learning rate's line (a selection that trains nothing). */
  readonly trialsCopied: number;
  /** Trials already recorded by an earlier attempt (kept, not run again). */
  readonly trialsSkipped: number;
  /** Where the trials ran: `in this process`, `2 worker processes`. */
  readonly launcher: string;
  /**
   * Set when trials failed (their failed lines are in results.jsonl, the summary marks
   * their cells): the error the CLI reports after the table, exiting 1.
   */
  readonly failed: TrialsFailedError | undefined;
}

/** The run directory's manifest for `prepared` on the running backend. */
const manifestOf = (
  prepared: Prepared,
  backend: { readonly name: string; readonly tfjsVersion: string },
): RunManifest => ({
  pipeline: resolvedJson(prepared.p),
  data: prepared.dataHash,
  backend: backend.name,
  versions: { scalpel: SCALPEL_VERSION, tfjs: backend.tfjsVersion, deno: Deno.version.deno },
  trials: prepared.trials.length,
});

const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "?" : x.toFixed(4));

/**
 * The bundle of a run (or an advisor's run) in `outDir`: its pipeline (charts left out: workers draw none), dataset
 * hash, backend, the pre-trained models in the cache, and its plugin modules.
 */
export const bundleInputOf = (
  prepared: Prepared,
  where: { readonly outDir: string; readonly cacheDir: string },
  manifest: unknown,
  backendName: BackendName,
  models: ReadonlySet<string>,
  trials: number,
) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const host = Deno.hostname();
    const directory = path.resolve(where.outDir);
    const cached: string[] = [];
    for (const key of models) {
      // a model loaded from its own weights file (no pre-training) is not in the cache: workers load it themselves
      if (yield* fs.exists(path.join(where.cacheDir, `${key}.json`)).pipe(Effect.orElseSucceed(() => false))) {
        cached.push(key);
      }
    }
    const pipelineDir = path.dirname(path.resolve(prepared.p.file));
    // workers draw no charts (and could not read the chart files the pipeline file names)
    const { report: _charts, ...pipeline } = resolvedJson(prepared.p);
    return {
      runId: runIdOf(host, directory, manifest),
      name: prepared.p.settings.name,
      host,
      directory,
      trials,
      pipeline,
      dataHash: prepared.dataHash,
      backend: backendName,
      modules: prepared.p.settings.plugins.map((m) => path.resolve(pipelineDir, m)),
      cacheDir: where.cacheDir,
      models: cached,
    } satisfies BundleInput;
  });

/** The queue launcher of a run: its bundle (pipeline, dataset hash, pre-trained models in the cache, plugin modules). */
const queued = (
  prepared: Prepared,
  opts: RunOptions,
  address: QueueAddress,
  manifest: RunManifest,
  backendName: BackendName,
  models: ReadonlySet<string>,
  recorded: number,
  onEpoch: (key: string, epoch: number, epochs: number, loss: number) => Effect.Effect<void>,
) =>
  Effect.map(
    bundleInputOf(prepared, opts, manifest, backendName, models, prepared.trials.length),
    (bundle) =>
      queueLauncher({
        address,
        bundle,
        recorded,
        failedLine: (t, message) => failedLineOf(prepared, t, { tag: "WorkerError", message }, 0),
        log: opts.log,
        onEpoch,
      }),
  );

/** Run the pipeline: writes the run directory and returns the summary; see the module doc. */
export const runPipeline = (
  p: ResolvedPipeline,
  opts: RunOptions,
): Effect.Effect<
  RunOutcome,
  UserError,
  FileSystem.FileSystem | Path.Path | TensorBackend | CommandExecutor.CommandExecutor
> =>
  Effect.gen(function* () {
    const backend = yield* TensorBackend;
    const path = yield* Path.Path;
    const prepared = yield* preparePipeline(p);
    if (opts.queue) yield* checkTravellingModules(p.file, p.settings.plugins);
    const warning = gridWarning(p, prepared.trials.length);
    if (warning) yield* opts.log(`warning: ${warning}`);
    yield* inspectCacheDir(opts.cacheDir);
    const manifest = manifestOf(prepared, backend);
    const run = yield* openRunDirectory(opts.outDir, manifest);
    if (run.cutBytes > 0) {
      yield* opts.log(
        `${RUN_FILES.results}: removed a partial last line (${run.cutBytes} bytes, cut short by a crash); its trial runs again`,
      );
    }
    const keys = new Set(prepared.trials.map((t) => t.key));
    const latest = new Map([...latestByKey(run.previous)].filter(([key]) => keys.has(key)));
    const isDone = (o: TrialOutcome | undefined) => o !== undefined && (!isFailed(o) || !opts.retryFailed);
    const todo = prepared.trials.filter((t) => !isDone(latest.get(t.key)));
    const skipped = prepared.trials.length - todo.length;
    if (skipped > 0) {
      yield* opts.log(`resuming: ${skipped} of ${prepared.trials.length} trials already recorded in ${opts.outDir}`);
    }
    const saveDir = p.settings.save ? path.join(opts.outDir, RUN_FILES.models) : undefined;
    if (saveDir) {
      yield* (yield* FileSystem.FileSystem).makeDirectory(saveDir, { recursive: true }).pipe(
        Effect.mapError((e) =>
          new RunDirectoryError({
            dir: opts.outDir,
            detail: `cannot create ${RUN_FILES.models}/ (${e.message})`,
            fix: "Check permissions.",
          })
        ),
      );
    }

    // progress: trials run and copied in this attempt, an ETA from the mean time of those run, the trial of each epoch
    const names = new Map(todo.map((t) => [t.key, trialName(prepared, t)]));
    let finished = 0;
    let copied = 0;
    let seconds = 0;
    let launched = todo.length; // known once the copies are planned
    const eta = () => (finished > 0 ? (seconds / finished) * (launched - finished) : undefined);
    const onEpoch = (key: string, epoch: number, epochs: number, loss: number) => {
      if (!opts.epoch) return Effect.void;
      const left = eta();
      return opts.epoch({
        trial: names.get(key) ?? key,
        done: skipped + finished + copied,
        total: prepared.trials.length,
        epoch,
        epochs,
        loss,
        ...(left === undefined ? {} : { eta: left }),
      });
    };

    const runner = yield* makeTrialRunner(prepared, {
      cacheDir: opts.cacheDir,
      log: opts.log,
      onMiss: "train",
      ...(saveDir ? { saveDir } : {}),
      onEpoch: (e) => onEpoch(e.trial.key, e.epoch, e.epochs, e.loss),
    });
    // every source model the remaining trials need is pre-trained here, once, before any trial runs
    const models = new Set<string>();
    for (const s of new Set(todo.map((t) => t.shiftIndex))) models.add((yield* runner.pretrain(s)).key);
    // a selection that trains nothing runs once per (shift, seed, size), not once per learning rate
    const recorded = prepared.trials.flatMap((t) => {
      const o = latest.get(t.key);
      return o === undefined ? [] : [{ trial: t, outcome: o }];
    });
    const plan = yield* planCopies(todo, recorded, runner.trainsNothing);
    const launch = yield* longestFirst(plan.launch, runner.firstTrainedStage);
    launched = launch.length;
    if (opts.exportSplits) {
      const where = yield* exportSplits(prepared, runner, opts.outDir);
      yield* opts.log(`exported every shift's splits, source data and pre-trained weights to ${where}/`);
    }

    const count = opts.workers === undefined
      ? 1
      : opts.workers.count === "auto"
      ? autoConcurrency(launch.length)
      : opts.workers.count;
    const launcher: Launcher<FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor> = opts.queue
      ? yield* queued(prepared, opts, opts.queue, manifest, backend.name, models, skipped, onEpoch)
      : opts.workers && count > 1
      ? localWorkers({
        count,
        command: opts.workers.command,
        init: {
          type: "init",
          pipeline: opts.workers.source,
          cacheDir: path.resolve(opts.cacheDir),
          ...(saveDir ? { saveDir: path.resolve(saveDir) } : {}),
        },
        log: opts.log,
        onEpoch,
      })
      : inProcess(runner);
    if (launch.length > 0 && (count > 1 || opts.queue)) {
      yield* opts.log(`running ${launch.length} trials on ${launcher.description}`);
    }

    const record = (outcome: TrialOutcome, copyOf?: TrialOutcome) =>
      Effect.gen(function* () {
        yield* appendOutcome(run, outcome);
        latest.set(outcome.key, outcome);
        if (copyOf) copied++;
        else {
          finished++;
          seconds += outcome.seconds;
        }
        const where = `[${skipped + finished + copied}/${prepared.trials.length}] ${outcome.shift} × ` +
          `${outcome.selection} seed ${outcome.seed} lr ${outcome.lr ?? "–"}`;
        const left = eta();
        const tail = copyOf
          ? `the line of lr ${copyOf.lr ?? "–"}: this selection trains nothing, whatever the learning rate`
          : `${outcome.seconds} s; ETA ${formatDuration(left ?? 0)}`;
        if (isFailed(outcome)) {
          yield* opts.log(`${where}: FAILED (${outcome.error.tag}: ${outcome.error.message.split("\n")[0]}) (${tail})`);
        } else {
          const metric = Object.keys(outcome.val)[0];
          yield* opts.log(
            `${where}: val ${metric} ${fmt(outcome.val[metric])}, test ${fmt(outcome.test[metric])} ` +
              `(epoch ${outcome.epoch}, ${tail})`,
          );
        }
      });
    const copyOf = (from: TrialOutcome, t: Trial) => copyLine(from, t, (t, e) => failedLineOf(prepared, t, e, 0));
    for (const { trial, from } of plan.fromRecorded) yield* record(copyOf(from, trial), from);
    yield* launcher.run(launch).pipe(
      Stream.runForEach((outcome) =>
        Effect.gen(function* () {
          yield* record(outcome);
          for (const t of plan.followers.get(outcome.key) ?? []) yield* record(copyOf(outcome, t), outcome);
        })
      ),
    );

    const outcomes = prepared.trials.flatMap((t) => {
      const o = latest.get(t.key);
      return o === undefined ? [] : [o];
    });
    const written = yield* writeSummary(opts.outDir, prepared, outcomes, manifest, opts.cacheDir);
    const failed = outcomes.filter(isFailed);
    return {
      outDir: opts.outDir,
      summary: written.summary,
      markdown: written.markdown,
      trialsRun: finished + copied,
      trialsCopied: copied,
      trialsSkipped: skipped,
      launcher: launcher.description,
      failed: failed.length === 0 ? undefined : new TrialsFailedError({
        dir: opts.outDir,
        failed: failed.length,
        total: outcomes.length,
        first: {
          trial: `${failed[0].shift} × ${failed[0].selection} seed ${failed[0].seed} lr ${failed[0].lr}`,
          message: failed[0].error.message.split("\n")[0].replace(/\.$/, ""),
        },
      }),
    };
  }).pipe(Effect.scoped);
