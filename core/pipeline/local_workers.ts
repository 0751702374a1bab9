/**
 * The local-processes launcher: trials spread over worker processes on this machine,
 * each with its own tensor backend (how a parallel run uses every core). Workers are
 * started as scoped resources (worker_process.ts): when the run ends, fails or is
 * interrupted, its workers are killed. A free worker always takes the next trial in
 * grid order. A worker
 * watches its stdin: when the parent dies, even by `kill -9`, the pipe closes and the
 * worker exits. A trial's numbers do not depend on which worker runs it.
 * @module
 */
import { Effect, Mailbox, type Scope, Stream } from "effect";
import type { CommandExecutor } from "@effect/platform";
import type { UserError, WorkerError } from "../errors.ts";
import type { Trial } from "./expand.ts";
import type { Launcher } from "./launcher.ts";
import type { ToWorker } from "./protocol.ts";
import { type EpochReport, startWorkerProcess, type WorkerCommand, type WorkerProcess } from "./worker_process.ts";

export type { WorkerCommand } from "./worker_process.ts";

/** Settings of the local-processes launcher. */
export interface LocalWorkersOptions {
  /** Worker processes (no more are started than there are trials). */
  readonly count: number;
  readonly command: WorkerCommand;
  /** The first message each worker gets: which pipeline, which cache. */
  readonly init: Extract<ToWorker, { readonly type: "init" }>;
  /** Lines a worker prints on stderr (its progress, its warnings), passed on with a `[wK]` prefix. */
  readonly log: (line: string) => Effect.Effect<void>;
  /** A worker's trial finished an epoch. */
  readonly onEpoch?: EpochReport;
}

/** Worker processes started once and handed work item by item (the advisor keeps one pool across its rungs). */
export interface WorkerPool {
  /**
   * Spread `items` over the pool: a free worker always takes the next item in order;
   * `work` runs one item on one worker. The results come in the order they finish.
   */
  readonly run: <A, B>(
    items: ReadonlyArray<A>,
    work: (process: WorkerProcess, item: A) => Effect.Effect<B, WorkerError>,
  ) => Stream.Stream<B, UserError>;
  /** Tell every process there is no more work and wait for their clean exits. */
  readonly finish: Effect.Effect<void, WorkerError>;
}

/** Start `opts.count` worker processes in the current scope (they are killed when it closes). */
export const startWorkerPool = (
  opts: LocalWorkersOptions,
): Effect.Effect<WorkerPool, WorkerError, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const processes = yield* Effect.forEach(
      Array.from({ length: Math.max(1, opts.count) }, (_, i) => i),
      (index) => startWorkerProcess({ number: index + 1, command: opts.command, init: opts.init, log: opts.log }),
    );
    return {
      run: <A, B>(items: ReadonlyArray<A>, work: (process: WorkerProcess, item: A) => Effect.Effect<B, WorkerError>) =>
        items.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
          const out = yield* Mailbox.make<B, UserError>();
          let next = 0;
          const serve = (process: WorkerProcess) =>
            Effect.gen(function* () {
              while (next < items.length) yield* out.offer(yield* work(process, items[next++]));
            });
          yield* Effect.forEach(processes.slice(0, items.length), serve, { concurrency: "unbounded", discard: true })
            .pipe(
              Effect.matchCauseEffect({ onFailure: (cause) => out.failCause(cause), onSuccess: () => out.end }),
              Effect.forkScoped,
            );
          return Mailbox.toStream(out);
        })),
      finish: Effect.forEach(processes, (p) => p.finish, { discard: true }),
    };
  });

/** Run `items` on a pool of their own (no more processes than items), stopped cleanly when all are done. */
export const workerPool = <A, B>(
  opts: LocalWorkersOptions,
  items: ReadonlyArray<A>,
  work: (process: WorkerProcess, item: A) => Effect.Effect<B, WorkerError>,
): Stream.Stream<B, UserError, CommandExecutor.CommandExecutor> =>
  items.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
    const pool = yield* startWorkerPool({ ...opts, count: Math.min(opts.count, items.length) });
    return Stream.concat(pool.run(items, work), Stream.drain(Stream.fromEffect(pool.finish)));
  }));

/** The local-processes launcher. */
export const localWorkers = (opts: LocalWorkersOptions): Launcher<CommandExecutor.CommandExecutor> => ({
  description: `${opts.count} worker processes`,
  run: (trials) => workerPool(opts, trials, (process, t: Trial) => process.run(t, opts.onEpoch)),
});

/** Below this many trials `--concurrency auto` runs in one process (workers' start-up would not pay off). */
export const AUTO_PARALLEL_MIN_TRIALS = 12;

/** CPU cores a run spreads its work over: one per core, at most 4 (`auto` of --concurrency and --threads). */
export const usableCores = (): number => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));

/**
 * `--concurrency auto`: {@link usableCores} workers for runs of at least
 * {@link AUTO_PARALLEL_MIN_TRIALS} trials when subprocesses are allowed; otherwise 1.
 */
export const autoConcurrency = (trials: number): number => {
  if (trials < AUTO_PARALLEL_MIN_TRIALS) return 1;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return 1;
  return usableCores();
};
