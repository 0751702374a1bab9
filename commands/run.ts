/**
 * `scalpel run FILE`: run a pipeline file into a run directory (new, or resumed), in
 * this process or spread over local worker processes, and print the summary table.
 * @module
 */
import { Args, Command, Options } from "@effect/cli";
import { Path } from "@effect/platform";
import { Console, Effect, Option } from "effect";
import { CommandLineError } from "../core/errors.ts";
import { AUTO_PARALLEL_MIN_TRIALS, usableCores } from "../core/pipeline/local_workers.ts";
import { makeProgress } from "../core/progress.ts";
import { type BackendChoice, backendChoices, TensorBackendLive } from "../core/backend.ts";
import { loadPipeline } from "../core/pipeline/load.ts";
import { runPipeline } from "../core/pipeline/run.ts";
import { DEFAULT_CACHE_DIR, stdioWorkerCommand } from "./base.ts";
import { queueOption } from "./queue_net.ts";

/** The pipeline file argument of `run` and `validate`. */
export const pipelineArg = Args.text({ name: "pipeline" }).pipe(Args.withDescription("pipeline file (YAML or JSON)"));

/** `--cache`: the pre-trained model cache directory. */
export const cacheOption = Options.text("cache").pipe(
  Options.withDescription("pre-trained model cache directory"),
  Options.withDefault(DEFAULT_CACHE_DIR),
);

/** `--max-trials`: the largest grid a command accepts. */
export const maxTrialsOption = Options.text("max-trials").pipe(
  Options.withDescription("refuse a grid of more trials than this (default 100000)"),
  Options.optional,
);

/** `--seed`: a root seed overriding the file's, checked like the file's. */
export const seedOption = Options.text("seed").pipe(
  Options.withDescription("root seed (overrides the file's `seed`)"),
  Options.optional,
);

/** `--backend`: overrides the file's backend. */
export const backendOption = Options.text("backend").pipe(
  Options.withDescription(`tensor backend: ${backendChoices.join(" | ")} (overrides the file's \`backend\`)`),
  Options.optional,
);

/** A whole number from `min` up given to `flag`, or a CommandLineError naming the flag. */
const wholeNumber = (flag: string, text: string, min: number, what: string, fix: string) =>
  /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) && Number(text) >= min
    ? Effect.succeed(Number(text))
    : Effect.fail(new CommandLineError({ flag, detail: `${JSON.stringify(text)} is not ${what}`, fix }));

/** The overrides of the command line, each checked with its flag named. */
export const overridesOf = (seed: Option.Option<string>, backend: Option.Option<string>) =>
  Effect.gen(function* () {
    const out: { seed?: number; backend?: BackendChoice } = {};
    if (Option.isSome(seed)) {
      out.seed = yield* wholeNumber(
        "--seed",
        seed.value,
        0,
        "a seed",
        "Give a whole number from 0 up, as the pipeline file's `seed`.",
      );
    }
    if (Option.isSome(backend)) {
      const b = backendChoices.find((c) => c === backend.value);
      if (b === undefined) {
        return yield* new CommandLineError({
          flag: "--backend",
          detail: `${JSON.stringify(backend.value)} is not a backend`,
          fix: `Give one of ${backendChoices.join(", ")}.`,
        });
      }
      out.backend = b;
    }
    return out;
  });

/** `--max-trials`, checked. */
export const maxTrialsOf = (value: Option.Option<string>) =>
  Option.isNone(value)
    ? Effect.succeed(undefined)
    : wholeNumber("--max-trials", value.value, 1, "a number of trials", "Give a whole number from 1 up.");

const timestamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");

/** A `--flag N|auto` value: `auto` gives `auto()`, else a whole number from 1 to 64 (`what`: "a worker count"…). */
export const countOption = (flag: string, text: string, what: string, auto: () => number | "auto") =>
  text === "auto"
    ? Effect.succeed(auto())
    : /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 64
    ? Effect.succeed(Number(text))
    : Effect.fail(
      new CommandLineError({
        flag,
        detail: `${text} is not a ${what} count`,
        fix: "Give a whole number from 1 to 64, or `auto`.",
      }),
    );

/** Refuse `count` worker processes (more than 1) without the permission to start subprocesses. */
export const requireRunPermission = (count: number) =>
  count > 1 && Deno.permissions.querySync({ name: "run" }).state !== "granted"
    ? Effect.fail(
      new CommandLineError({
        flag: "--concurrency",
        detail: "starting worker processes needs the permission to run subprocesses",
        fix: "Use `deno task scalpel` (it grants --allow-run) or add --allow-run to your `deno run` command.",
      }),
    )
    : Effect.void;

/** The tensor backend of a command, on `threads` wasm threads (saying so when the threaded build does not start). */
export const backendLayer = (backend: BackendChoice, threads: number) =>
  TensorBackendLive(backend, {
    threads,
    onFallback: (reason) =>
      console.error(
        `warning: the threaded wasm backend did not start (${reason}); running on one thread (--threads 1 skips the attempt).`,
      ),
  });

/** `scalpel run FILE`. */
export const run = Command.make("run", {
  pipeline: pipelineArg,
  out: Options.text("out").pipe(
    Options.withDescription(
      "run directory (default: runs/<name>/<timestamp>); an existing run of the same pipeline is resumed",
    ),
    Options.optional,
  ),
  seed: seedOption,
  backend: backendOption,
  cache: cacheOption,
  quiet: Options.boolean("quiet").pipe(Options.withDescription("print only the summary table")),
  concurrency: Options.text("concurrency").pipe(
    Options.withDescription(
      "worker processes running trials in parallel, or `auto` (one per CPU core, up to 4, when " +
        `${AUTO_PARALLEL_MIN_TRIALS} trials or more are left); results are identical whatever N is`,
    ),
    Options.withDefault("auto"),
  ),
  threads: Options.text("threads").pipe(
    Options.withDescription(
      "threads of the wasm backend in this process, or `auto` (one per CPU core, up to 4; workers of a " +
        "parallel run use 1 each); results are identical whatever N is",
    ),
    Options.withDefault("auto"),
  ),
  retryFailed: Options.boolean("retry-failed").pipe(
    Options.withDescription("when resuming, run the trials that failed before again (they are kept otherwise)"),
  ),
  maxTrials: maxTrialsOption,
  queue: Options.text("queue").pipe(
    Options.withDescription(
      "run the trials on the workers of this queue (redis://[user:password@]host:port, rediss://…, or env:NAME); " +
        "this process pre-trains, enqueues, follows and writes the run directory",
    ),
    Options.optional,
  ),
  exportSplits: Options.boolean("export-splits").pipe(
    Options.withDescription(
      "also write every shift's target splits (.npy), source data and pre-trained weights to <out>/exports/, " +
        "for running the same trials elsewhere (bench/torch_surgical.py)",
    ),
  ),
}, (a) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    const overrides = yield* overridesOf(a.seed, a.backend);
    const threads = yield* countOption("--threads", a.threads, "thread", usableCores) as Effect.Effect<
      number,
      CommandLineError
    >;
    const concurrency = yield* countOption("--concurrency", a.concurrency, "worker", () => "auto");
    const maxTrials = yield* maxTrialsOf(a.maxTrials);
    const pipeline = yield* loadPipeline(a.pipeline, overrides, maxTrials === undefined ? {} : { maxTrials });
    if (concurrency !== "auto") yield* requireRunPermission(concurrency);
    const outDir = Option.getOrElse(a.out, () => path.join("runs", pipeline.settings.name, timestamp()));
    if (Option.isSome(a.queue) && pipeline.settings.save) {
      return yield* new CommandLineError({
        flag: "--queue",
        detail: "the pipeline file sets `save: true`, and a queued run's trials run on other machines",
        fix: "Run it without --queue to keep every trial's fine-tuned weights, or drop `save: true`.",
      });
    }
    const queue = yield* queueOption(
      a.queue,
      [path.resolve(outDir), path.resolve(a.cache)],
      Option.isNone(a.out) ? ["--out", outDir] : [],
    );
    const progress = makeProgress({ quiet: a.quiet, terminal: Deno.stderr.isTerminal() });
    const backend = backendLayer(pipeline.settings.backend, threads);
    const outcome = yield* runPipeline(pipeline, {
      outDir,
      cacheDir: a.cache,
      log: progress.log,
      epoch: progress.epoch,
      retryFailed: a.retryFailed,
      exportSplits: a.exportSplits,
      ...(queue ? { queue } : {}),
      workers: {
        count: concurrency,
        command: stdioWorkerCommand([path.resolve(outDir), path.resolve(a.cache)]),
        source: { file: path.resolve(a.pipeline), overrides },
      },
    }).pipe(Effect.provide(backend), Effect.ensuring(progress.done));
    yield* Console.log(outcome.markdown);
    yield* Console.log(
      `Results: ${outDir}/ (results.jsonl, summary.md, summary.csv, summary.json, report.html); ` +
        `${outcome.trialsRun} trials run ${
          outcome.launcher === "in this process" ? "in this process" : `by ${outcome.launcher}`
        }, ${outcome.trialsSkipped} resumed${
          outcome.trialsCopied > 0
            ? ` (${outcome.trialsCopied} of them recorded from another learning rate's line: a selection that trains nothing runs once)`
            : ""
        }.`,
    );
    if (outcome.failed) return yield* outcome.failed;
  })).pipe(Command.withDescription("run a pipeline file and write results and a summary to a run directory"));
