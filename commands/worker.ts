/**
 * `scalpel worker --queue URL`: serve trials of any run on a queue until stopped
 * (core/queue/serve.ts). `scalpel worker --stdio` is the other kind: a worker process
 * of a parallel run on this machine, started by `run --concurrency N` (and by a queue
 * worker), not by people: it reads trial specs on stdin and answers with outcome lines
 * on stdout (core/pipeline/worker.ts), and exits when its stdin closes, so it never
 * outlives its parent.
 * @module
 */
import { Command, Options } from "@effect/cli";
import { Path } from "@effect/platform";
import { Effect, Option } from "effect";
import { CommandLineError } from "../core/errors.ts";
import { type BackendChoice, TensorBackendLive } from "../core/backend.ts";
import { makeProgress } from "../core/progress.ts";
import { serveTrials } from "../core/pipeline/worker.ts";
import { usableCores } from "../core/pipeline/local_workers.ts";
import { serveQueue } from "../core/queue/serve.ts";
import { DEFAULT_CACHE_DIR, stdioWorkerCommand } from "./base.ts";
import { countOption } from "./run.ts";
import { ensureQueueNetwork, queueAddressOf } from "./queue_net.ts";

/** `scalpel worker`. */
export const worker = Command.make("worker", {
  queue: Options.text("queue").pipe(
    Options.withDescription(
      "serve trials of the runs on this queue (redis://[user:password@]host:port, rediss://…, or env:NAME)",
    ),
    Options.optional,
  ),
  concurrency: Options.text("concurrency").pipe(
    Options.withDescription("trials run at once, each in its own process, or `auto` (one per CPU core, up to 4)"),
    Options.withDefault("auto"),
  ),
  threads: Options.integer("threads").pipe(
    Options.withDescription("threads of the wasm backend of each trial's process"),
    Options.withDefault(1),
  ),
  allowPlugins: Options.boolean("allow-plugins").pipe(
    Options.withDescription(
      "also run runs that use custom plugin modules (their code comes from whoever enqueues runs on the queue)",
    ),
  ),
  cache: Options.text("cache").pipe(
    Options.withDescription("this machine's pre-trained model cache (runs' files go beside it, in queue/)"),
    Options.withDefault(DEFAULT_CACHE_DIR),
  ),
  stdio: Options.boolean("stdio").pipe(
    Options.withDescription("internal: serve trials of the parent process over stdin / stdout"),
  ),
}, (a) =>
  Effect.gen(function* () {
    const progress = makeProgress({ quiet: false, terminal: false });
    if (a.stdio) {
      return yield* serveTrials(
        progress.log,
        (backend, effect) =>
          effect.pipe(Effect.provide(TensorBackendLive(backend as BackendChoice, { threads: a.threads }))),
      );
    }
    if (Option.isNone(a.queue)) {
      return yield* new CommandLineError({
        flag: "--queue",
        detail: "a worker needs to be told where its trials come from",
        fix: "Give the queue's address: `scalpel worker --queue redis://host:6379`.",
      });
    }
    if (a.threads < 1 || a.threads > 64) {
      return yield* new CommandLineError({
        flag: "--threads",
        detail: `${a.threads} is not a thread count`,
        fix: "Give a whole number from 1 to 64.",
      });
    }
    const path = yield* Path.Path;
    const address = yield* queueAddressOf(a.queue.value);
    const concurrency = yield* countOption("--concurrency", a.concurrency, "worker", usableCores) as Effect.Effect<
      number,
      CommandLineError
    >;
    const cacheDir = path.resolve(a.cache);
    const workDir = path.join(path.dirname(cacheDir), "queue");
    const code = yield* ensureQueueNetwork(address, a.queue.value, [path.dirname(cacheDir)]);
    if (Option.isSome(code)) return yield* Effect.sync(() => Deno.exit(code.value));
    yield* serveQueue({
      address,
      concurrency,
      cacheDir,
      workDir,
      allowPlugins: a.allowPlugins,
      host: Deno.hostname(),
      log: progress.log,
      command: stdioWorkerCommand([path.dirname(cacheDir)], a.threads),
    }).pipe(Effect.scoped);
  })).pipe(
    Command.withDescription(
      "serve trials of the runs on a queue (--queue URL) until stopped; `run --queue URL` enqueues them",
    ),
  );
