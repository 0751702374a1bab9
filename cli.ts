/**
 * The `scalpel` command: parses flags and calls core. Subcommands:
 * `run FILE` runs a pipeline, `validate FILE` checks one without running,
 * `plugins` lists every registered plugin with its options.
 * A user's mistake is printed as one paragraph (no stack trace) with exit code 1.
 * @module
 */
import { Args, Command, Options } from "@effect/cli";
import { NodeContext } from "@effect/platform-node";
import { Path } from "@effect/platform";
import { Cause, Console, Effect, Exit, JSONSchema, Layer, Option, Schema } from "effect";
import { CommandLineError, isUserError, type UserError } from "./core/errors.ts";
import {
  AUTO_PARALLEL_MIN_TRIALS,
  autoConcurrency,
  RESULT_PREFIX,
  runWorkers,
  usableCores,
} from "./core/pipeline/parallel.ts";
import { RUN_FILES } from "./core/store.ts";
import { makeProgress } from "./core/progress.ts";
import { type BackendChoice, backendChoices, TensorBackendLive } from "./core/backend.ts";
import { Registry, registryLayer } from "./core/registry.ts";
import { loadPipeline } from "./core/pipeline/load.ts";
import { expandTrials } from "./core/pipeline/expand.ts";
import { runPipeline } from "./core/pipeline/run.ts";
import { pluginKinds } from "./core/plugin.ts";
import { builtinPlugins } from "./plugins/index.ts";
import { SCALPEL_VERSION } from "./core/version.ts";
import { corrupt } from "./commands/corrupt.ts";
import { shifts } from "./commands/shifts.ts";
import { schema } from "./commands/schema.ts";
import { cache } from "./commands/cache.ts";
import { model } from "./commands/model.ts";

const pipelineArg = Args.text({ name: "pipeline" }).pipe(Args.withDescription("pipeline file (YAML or JSON)"));

const timestamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");

/** A `--flag N|auto` value: `auto` gives `auto()`, else a whole number from 1 to 64 (`what`: "a worker count"…). */
const countOption = (flag: string, text: string, what: string, auto: () => number) =>
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

/** `scalpel run FILE`. */
const run = Command.make("run", {
  pipeline: pipelineArg,
  out: Options.text("out").pipe(
    Options.withDescription(
      "run directory (default: runs/<name>/<timestamp>); an existing run of the same pipeline is resumed",
    ),
    Options.optional,
  ),
  seed: Options.integer("seed").pipe(
    Options.withDescription("root seed (overrides the file's `seed`)"),
    Options.optional,
  ),
  backend: Options.choice("backend", backendChoices).pipe(
    Options.withDescription("tensor backend (overrides the file's `backend`)"),
    Options.optional,
  ),
  cache: Options.text("cache").pipe(
    Options.withDescription("pre-trained model cache directory"),
    Options.withDefault(".cache/scalpel/models"),
  ),
  quiet: Options.boolean("quiet").pipe(Options.withDescription("print only the summary table")),
  concurrency: Options.text("concurrency").pipe(
    Options.withDescription(
      "worker processes running trials in parallel, or `auto` (one per CPU core, up to 4, when the run has " +
        `${AUTO_PARALLEL_MIN_TRIALS} trials or more); results are identical whatever N is`,
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
  shard: Options.text("shard").pipe(
    Options.withDescription("internal: run as worker I of N (I/N) of a parallel run"),
    Options.optional,
  ),
}, (a) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    const overrides: { seed?: number; backend?: BackendChoice } = {};
    if (Option.isSome(a.seed)) overrides.seed = a.seed.value;
    if (Option.isSome(a.backend)) overrides.backend = a.backend.value;
    const pipeline = yield* loadPipeline(a.pipeline, overrides);
    const outDir = Option.getOrElse(a.out, () => path.join("runs", pipeline.settings.name, timestamp()));
    const progress = makeProgress({ quiet: a.quiet, terminal: Deno.stderr.isTerminal() });
    const log = progress.log;
    const threads = yield* countOption("--threads", a.threads, "thread", () =>
      Option.isSome(a.shard) ? 1 : usableCores());
    const backend = TensorBackendLive(pipeline.settings.backend, {
      threads,
      onFallback: (reason) =>
        console.error(
          `warning: the threaded wasm backend did not start (${reason}); running on one thread (--threads 1 skips the attempt).`,
        ),
    });
    if (Option.isSome(a.shard)) {
      // worker of a parallel run: result lines go to stdout for the parent
      const [index, count] = a.shard.value.split("/").map(Number);
      yield* runPipeline(pipeline, {
        outDir,
        cacheDir: a.cache,
        log,
        shard: { index, count },
        emit: (line) =>
          Console.log(RESULT_PREFIX + JSON.stringify(line)),
      }).pipe(Effect.provide(backend));
      return;
    }
    const concurrency = yield* countOption(
      "--concurrency",
      a.concurrency,
      "worker",
      () =>
        autoConcurrency(expandTrials(pipeline).length),
    );
    let parallelRan: number | undefined;
    if (concurrency > 1 && Deno.permissions.querySync({ name: "run" }).state !== "granted") {
      return yield* new CommandLineError({
        flag: "--concurrency",
        detail: "starting worker processes needs the permission to run subprocesses",
        fix: "Use `deno task scalpel` (it grants --allow-run) or add --allow-run to your `deno run` command.",
      });
    }
    if (concurrency > 1) {
      yield* runPipeline(pipeline, { outDir, cacheDir: a.cache, log, pretrainOnly: true }).pipe(
        Effect.provide(backend),
      );
      const self = new URL(import.meta.url).pathname;
      const flags = [
        "--allow-read",
        "--allow-env",
        "--allow-sys=uid,gid",
        `--allow-write=${path.resolve(outDir)},${path.resolve(a.cache)}`,
      ];
      const passOn = [
        ...(Option.isSome(a.seed) ? ["--seed", String(a.seed.value)] : []),
        ...(Option.isSome(a.backend) ? ["--backend", a.backend.value] : []),
        ...(a.quiet ? ["--quiet"] : []),
        "--threads",
        "1", // the workers already use the cores
      ];
      parallelRan = yield* runWorkers(
        concurrency,
        (index, count) => ({
          command: Deno.execPath(),
          args: [
            "run",
            ...flags,
            self,
            "run",
            a.pipeline,
            "--out",
            outDir,
            "--cache",
            a.cache,
            ...passOn,
            "--shard",
            `${index}/${count}`,
          ],
        }),
        path.join(outDir, RUN_FILES.results),
        log,
      );
    }
    const outcome = yield* runPipeline(pipeline, {
      outDir,
      cacheDir: a.cache,
      epoch: progress.epoch,
      // after a parallel run every trial is done: this pass only writes the summary
      log: parallelRan === undefined ? log : () =>
        Effect.void,
    }).pipe(Effect.provide(backend));
    yield* progress.done;
    yield* Console.log(outcome.markdown);
    yield* Console.log(
      `Results: ${outDir}/ (results.jsonl, summary.md, summary.csv, summary.json, report.html); ` +
        (parallelRan === undefined
          ? `${outcome.trialsRun} trials run, ${outcome.trialsSkipped} resumed.`
          : `${parallelRan} trials run by ${concurrency} workers, ${outcome.trialsSkipped - parallelRan} resumed.`),
    );
  })).pipe(Command.withDescription("run a pipeline file and write results and a summary to a run directory"));

/** `scalpel validate FILE`. */
const validate = Command.make("validate", { pipeline: pipelineArg }, (a) =>
  Effect.gen(function* () {
    const p = yield* loadPipeline(a.pipeline);
    const trials = expandTrials(p);
    yield* Console.log(
      `${a.pipeline} is valid: ${p.shifts.length} shift(s) × ${p.selections.length} selection(s) × ` +
        `${p.settings.seeds} seed(s) × ${p.settings.finetune.learningRates.length} learning rate(s) = ${trials.length} trials ` +
        `(dataset ${p.dataset.plugin.name}, model ${p.model.plugin.name}, backend ${p.settings.backend}).`,
    );
  })).pipe(Command.withDescription("check a pipeline file without running it"));

/** `scalpel plugins`. */
const plugins = Command.make("plugins", {}, () =>
  Effect.gen(function* () {
    const registry = yield* Registry;
    for (const kind of pluginKinds) {
      yield* Console.log(`${kind}s:`);
      for (const p of registry.list(kind)) {
        const schema = JSONSchema.make(Schema.encodedSchema(p.options)) as { properties?: Record<string, unknown> };
        const opts = Object.keys(schema.properties ?? {});
        yield* Console.log(
          `  ${p.name.padEnd(18)} ${p.description}${
            opts.length ? `\n${" ".repeat(21)}options: ${opts.join(", ")}` : ""
          }`,
        );
      }
    }
  })).pipe(Command.withDescription("list the registered plugins and their options"));

const scalpel = Command.make("scalpel").pipe(
  Command.withSubcommands([run, validate, plugins, shifts, corrupt, schema, cache, model]),
  Command.withDescription("surgical fine-tuning experiments: which layers to tune for which distribution shift"),
);

const cli = Command.run(scalpel, { name: "scalpel", version: SCALPEL_VERSION });

/** Run the CLI on `args` (without the program name); resolves to the exit code. */
export const main = async (args: ReadonlyArray<string>): Promise<number> => {
  const program = cli(["deno", "scalpel", ...args]).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, registryLayer(builtinPlugins))),
  );
  const exit = await Effect.runPromiseExit(program);
  if (Exit.isSuccess(exit)) return 0;
  const failure = Cause.failureOption(exit.cause);
  if (Option.isSome(failure) && isUserError(failure.value)) {
    console.error(`error: ${(failure.value as UserError).describe()}`);
    return 1;
  }
  if (Option.isSome(failure)) return 2; // a command-line usage error: @effect/cli already printed it
  console.error(`internal error (please report it):\n${Cause.pretty(exit.cause)}`);
  return 3;
};

if (import.meta.main) Deno.exit(await main(Deno.args));
