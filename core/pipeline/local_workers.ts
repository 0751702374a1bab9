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
import { Effect, Mailbox, Stream } from "effect";
import type { CommandExecutor } from "@effect/platform";
import type { UserError } from "../errors.ts";
import type { TrialOutcome } from "../results.ts";
import type { Trial } from "./expand.ts";
import type { Launcher } from "./launcher.ts";
import type { ToWorker } from "./protocol.ts";
import { type EpochReport, startWorkerProcess, type WorkerCommand } from "./worker_process.ts";

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

/** The local-processes launcher. */
export const localWorkers = (opts: LocalWorkersOptions): Launcher<CommandExecutor.CommandExecutor> => ({
  description: `${opts.count} worker processes`,
  run: (trials) =>
    trials.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
      const out = yield* Mailbox.make<TrialOutcome, UserError>();
      let next = 0;
      const takeNext = (): Trial | undefined => (next < trials.length ? trials[next++] : undefined);
      const worker = (index: number) =>
        Effect.gen(function* () {
          const process = yield* startWorkerProcess({
            number: index + 1,
            command: opts.command,
            init: opts.init,
            log: opts.log,
          });
          for (let t = takeNext(); t !== undefined; t = takeNext()) {
            yield* out.offer(yield* process.run(t, opts.onEpoch));
          }
          yield* process.finish;
        }).pipe(Effect.scoped);
      const count = Math.max(1, Math.min(opts.count, trials.length));
      yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), worker, {
        concurrency: "unbounded",
        discard: true,
      }).pipe(
        Effect.matchCauseEffect({ onFailure: (cause) => out.failCause(cause), onSuccess: () => out.end }),
        Effect.forkScoped,
      );
      return Mailbox.toStream(out);
    })),
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
