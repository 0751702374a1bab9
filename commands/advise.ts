/**
 * `scalpel advise FILE`: the recommended selection and learning rate for each shift of
 * a pipeline file, at a fraction of the full sweep's compute (core/advise/advise.ts).
 * @module
 */
import { Command, Options } from "@effect/cli";
import { Path } from "@effect/platform";
import { Console, Effect, Option } from "effect";
import { CommandLineError } from "../core/errors.ts";
import { autoConcurrency, usableCores } from "../core/pipeline/local_workers.ts";
import { makeProgress } from "../core/progress.ts";
import { loadPipeline } from "../core/pipeline/load.ts";
import { ADVICE_FILES, advise as adviseStudy, STRATEGIES, type Strategy } from "../core/advise/advise.ts";
import { type Signal, SIGNALS } from "../core/advise/signals.ts";
import { renderAdvice } from "../core/advise/output.ts";
import { stdioWorkerCommand } from "./base.ts";
import {
  backendLayer,
  backendOption,
  cacheOption,
  countOption,
  overridesOf,
  pipelineArg,
  requireRunPermission,
  seedOption,
} from "./run.ts";
import { queueOption } from "./queue_net.ts";

const oneOf = <A extends string>(flag: string, text: string, choices: ReadonlyArray<A>) => {
  const found = choices.find((c) => c === text);
  return found !== undefined ? Effect.succeed(found) : Effect.fail(
    new CommandLineError({
      flag,
      detail: `${JSON.stringify(text)} is not one of ${choices.join(", ")}`,
      fix: `Give one of ${choices.join(", ")}.`,
    }),
  );
};

/** `scalpel advise FILE`. */
export const advise = Command.make("advise", {
  pipeline: pipelineArg,
  budget: Options.text("budget").pipe(
    Options.withDescription(
      "compute ceiling as a fraction of the full sweep's (examples through the network: a training example " +
        "counts 1, an evaluated one 1/3); never exceeded",
    ),
    Options.withDefault("0.25"),
  ),
  strategy: Options.text("strategy").pipe(
    Options.withDescription(
      "`halving` (successive halving over selections × learning rates, synchronous rungs) or `zero-cost` " +
        "(rank selections by a gradient signal, probe the best one's learning rates)",
    ),
    Options.withDefault("halving"),
  ),
  signal: Options.text("signal").pipe(
    Options.withDescription(`the zero-cost strategy's signal: ${SIGNALS.join(" | ")}`),
    Options.withDefault("rgn"),
  ),
  seedIndex: Options.text("seed-index").pipe(
    Options.withDescription(
      "the first fine-tuning seed the advisor uses (0-based; more follow when the budget allows)",
    ),
    Options.withDefault("0"),
  ),
  out: Options.text("out").pipe(
    Options.withDescription("advice directory (default: runs/<name>/advise-<strategy>); an existing one is resumed"),
    Options.optional,
  ),
  seed: seedOption,
  backend: backendOption,
  cache: cacheOption,
  quiet: Options.boolean("quiet").pipe(Options.withDescription("print only the advice")),
  concurrency: Options.text("concurrency").pipe(
    Options.withDescription(
      "worker processes running rungs in parallel, or `auto`; the advice is the same whatever N is",
    ),
    Options.withDefault("auto"),
  ),
  threads: Options.text("threads").pipe(
    Options.withDescription("threads of the wasm backend in this process, or `auto`"),
    Options.withDefault("auto"),
  ),
  queue: Options.text("queue").pipe(
    Options.withDescription(
      "run the rungs on the workers of this queue (redis://[user:password@]host:port, rediss://…, or env:NAME); " +
        "this process pre-trains, plans, enqueues each rung and writes the advice directory",
    ),
    Options.optional,
  ),
}, (a) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    const overrides = yield* overridesOf(a.seed, a.backend);
    const budget = Number(a.budget);
    if (!/^\d*\.?\d+(e-?\d+)?$/i.test(a.budget) || !(budget > 0) || budget > 1) {
      return yield* new CommandLineError({
        flag: "--budget",
        detail: `${JSON.stringify(a.budget)} is not a fraction of the sweep's compute`,
        fix: "Give a number above 0 and at most 1, e.g. 0.25.",
      });
    }
    const strategy: Strategy = yield* oneOf("--strategy", a.strategy, STRATEGIES);
    const signal: Signal = yield* oneOf("--signal", a.signal, SIGNALS);
    if (!/^\d+$/.test(a.seedIndex)) {
      return yield* new CommandLineError({
        flag: "--seed-index",
        detail: `${JSON.stringify(a.seedIndex)} is not a seed index`,
        fix: "Give a whole number from 0 up, below the pipeline file's `seeds`.",
      });
    }
    const threads = yield* countOption("--threads", a.threads, "thread", usableCores) as Effect.Effect<
      number,
      CommandLineError
    >;
    const concurrency = yield* countOption("--concurrency", a.concurrency, "worker", () => "auto");
    const pipeline = yield* loadPipeline(a.pipeline, overrides);
    const workers = concurrency === "auto"
      ? autoConcurrency(pipeline.selections.length * pipeline.settings.finetune.learningRates.length)
      : concurrency;
    if (concurrency !== "auto") yield* requireRunPermission(workers);
    const outDir = Option.getOrElse(a.out, () => path.join("runs", pipeline.settings.name, `advise-${strategy}`));
    const queue = yield* queueOption(
      a.queue,
      [path.resolve(outDir), path.resolve(a.cache)],
      Option.isNone(a.out) ? ["--out", outDir] : [],
    );
    const progress = makeProgress({ quiet: a.quiet, terminal: Deno.stderr.isTerminal() });
    const backend = backendLayer(pipeline.settings.backend, threads);
    const advice = yield* adviseStudy(pipeline, {
      outDir,
      cacheDir: a.cache,
      strategy,
      budget,
      signal,
      seedIndex: Number(a.seedIndex),
      ...(queue ? { queue } : {}),
      log: progress.log,
      epoch: progress.epoch,
      workers: {
        count: workers,
        command: stdioWorkerCommand([path.resolve(outDir), path.resolve(a.cache)]),
        source: { file: path.resolve(a.pipeline), overrides },
      },
    }).pipe(Effect.provide(backend), Effect.ensuring(progress.done));
    yield* Console.log(renderAdvice(advice).markdown);
    yield* Console.log(
      `Advice: ${outDir}/ (${ADVICE_FILES.json}, ${ADVICE_FILES.markdown}, ${ADVICE_FILES.html}, ${ADVICE_FILES.rungs})`,
    );
  })).pipe(
    Command.withDescription(
      "recommend the selection and learning rate for each shift at a fraction of the full sweep's compute",
    ),
  );
