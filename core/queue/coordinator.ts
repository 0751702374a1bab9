/**
 * The queue launcher (`scalpel run --queue URL`): the coordinator's side of a run on
 * many machines. It publishes the run's bundle (bundle.ts), enqueues one BullMQ job
 * per unfinished trial — job id from the run and the trial key, so enqueuing twice is
 * harmless — and collects the outcome lines workers leave as their jobs' return values,
 * removing each job once its line is handed on (run.ts appends it to results.jsonl, the
 * single source of truth). A job is collected whenever it is found, so the outcomes of
 * trials finished while no coordinator ran are picked up by the next one. Every poll
 * also checks that Redis still holds the run: a Redis that came back empty gets the
 * bundle and every trial not yet recorded again. When every trial is recorded, the run
 * leaves the queue (its bundle, and the blobs no other run uses); an interrupted run
 * stays, for the next coordinator and for `queue status`.
 *
 * Failures: a trial that fails in its own right (a diverging loss, a throwing plugin)
 * is a failed line made by the worker, as in every launcher. A job BullMQ gives up on
 * (its worker was killed more than `MAX_STALLS` times, or its worker process crashed
 * `ATTEMPTS` times) becomes a failed line here. A worker that refuses a run (its dataset
 * differs, custom plugins it is not allowed to run, a pipeline it cannot load) stops
 * the coordinator with that worker's paragraph: the results so far are kept.
 * @module
 */
import { Duration, Effect, Mailbox, Stream } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import { type Job, Queue, QueueEvents } from "bullmq";
import { QueueError, type UserError } from "../errors.ts";
import { decodeOutcome, type TrialOutcome } from "../results.ts";
import type { Trial } from "../pipeline/expand.ts";
import type { Launcher } from "../pipeline/launcher.ts";
import type { EpochReport } from "../pipeline/worker_process.ts";
import type { QueueAddress } from "./address.ts";
import { checkReachable, closeWithin, connection } from "./connection.ts";
import { type BundleInput, publishBundle } from "./bundle.ts";
import { bundleKey, parseJobId, recordedKey, TRIALS_QUEUE } from "./keys.ts";
import { clearRun } from "./status.ts";
import { ATTEMPTS, decodeRefusal, type JobData, jobDataOf, jobOptionsOf } from "./jobs.ts";

/** Settings of the queue launcher. */
export interface QueueLauncherOptions {
  readonly address: QueueAddress;
  readonly bundle: BundleInput;
  /** Trials already recorded in results.jsonl before this attempt (for `queue status`). */
  readonly recorded: number;
  /** The failed line of a trial BullMQ gave up on. */
  readonly failedLine: (trial: Trial, message: string) => TrialOutcome;
  readonly log: (line: string) => Effect.Effect<void>;
  readonly onEpoch?: EpochReport;
  /** How often to look for finished jobs (default 250 ms). */
  readonly pollMs?: number;
}

const PAGE = 500;

/** The queue launcher; see the module doc. */
export const queueLauncher = (
  opts: QueueLauncherOptions,
): Launcher<FileSystem.FileSystem | Path.Path> => ({
  description: `the workers of queue ${opts.address.shown}`,
  run: (trials) =>
    trials.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
      const { address, bundle } = opts;
      const runId = bundle.runId;
      yield* checkReachable(address);
      const logSync = (line: string) => Effect.runFork(opts.log(line));
      const client = yield* connection(address, logSync);
      const queue = yield* Effect.acquireRelease(
        Effect.sync(() => new Queue<JobData>(TRIALS_QUEUE, { connection: client })),
        (q) => closeWithin(() => q.close()),
      );
      queue.on("error", () => {}); // the connection's own handler reports outages
      // BullMQ closes only the connections it made: the scope closes this one, after the queue
      const eventsClient = yield* connection(address, () => {});
      const events = yield* Effect.acquireRelease(
        Effect.sync(() => new QueueEvents(TRIALS_QUEUE, { connection: eventsClient })),
        (e) => closeWithin(() => e.close()),
      );
      events.on("error", () => {});
      const pending = new Map(trials.map((t) => [t.key, t]));
      let recorded = opts.recorded;
      if (opts.onEpoch) {
        const onEpoch = opts.onEpoch;
        events.on("progress", ({ jobId, data }) => {
          const id = parseJobId(jobId);
          const p = data as { epoch?: number; epochs?: number; loss?: number | null };
          if (id?.runId !== runId || !pending.has(id.key) || typeof p?.epoch !== "number") return;
          Effect.runFork(onEpoch(id.key, p.epoch, p.epochs ?? 0, p.loss ?? NaN));
        });
      }

      const enqueue = (ts: ReadonlyArray<Trial>) =>
        Effect.gen(function* () {
          const jobs = ts.map((t) => ({ name: "trial", data: jobDataOf(runId, t), opts: jobOptionsOf(runId, t) }));
          for (let i = 0; i < jobs.length; i += 1000) {
            yield* Effect.promise(() => queue.addBulk(jobs.slice(i, i + 1000)));
          }
        });
      const publish = Effect.gen(function* () {
        yield* publishBundle(client, bundle);
        yield* Effect.promise(() => client.set(recordedKey(runId), String(recorded)));
        yield* enqueue([...pending.values()]);
      });
      yield* publish;
      yield* opts.log(
        `enqueued ${trials.length} trials on ${address.shown} as run ${runId} ` +
          "(workers: `scalpel worker --queue <address>` on any machine)",
      );

      const out = yield* Mailbox.make<TrialOutcome, UserError>();
      /** Hand on the finished jobs of this run from one BullMQ state; true when any was found. */
      const collect = (state: "completed" | "failed") =>
        Effect.gen(function* () {
          let start = 0;
          let found = false;
          while (true) {
            const page: Job<JobData>[] = yield* Effect.promise(() => queue.getJobs([state], start, start + PAGE - 1));
            let mine = 0;
            for (const job of page) {
              if (!job) continue;
              const id = parseJobId(job.id);
              if (id?.runId !== runId) continue;
              mine++;
              found = true;
              const trial = pending.get(id.key);
              if (trial !== undefined) {
                if (state === "completed") {
                  const line = decodeOutcome(job.returnvalue);
                  if (line._tag === "Left" || line.right.key !== trial.key) {
                    yield* opts.log(`a worker returned no outcome line for ${trial.key}; it runs again`);
                    yield* Effect.promise(() => job.remove()).pipe(Effect.ignore);
                    yield* enqueue([trial]);
                    continue;
                  }
                  yield* out.offer(line.right);
                } else {
                  const refusal = decodeRefusal(job.failedReason);
                  if (refusal) {
                    yield* Effect.promise(() => job.remove()).pipe(Effect.ignore);
                    return yield* new QueueError({
                      queue: address.shown,
                      detail: `the worker on ${refusal.worker} could not run trial ${trial.key} of this run: ` +
                        refusal.message,
                      fix: "Fix that machine (or stop its worker) and run the same command again: results already " +
                        "recorded are kept, and trials in the queue go on",
                    });
                  }
                  yield* out.offer(opts.failedLine(
                    trial,
                    `its worker stopped while running it (${job.attemptsMade} attempts; the last: ${
                      job.failedReason ?? "no reason given"
                    }). Trials are retried after a crash at most ${ATTEMPTS} times`,
                  ));
                }
                pending.delete(trial.key);
                recorded++;
              }
              // handed on (or recorded before): the job has done its work
              yield* Effect.promise(() => job.remove()).pipe(Effect.ignore);
            }
            start += page.length - mine;
            if (page.length < PAGE) return found;
          }
        });

      const loop = Effect.gen(function* () {
        while (pending.size > 0) {
          if ((yield* Effect.promise(() => client.exists(bundleKey(runId)))) === 0) {
            yield* opts.log(
              `the queue's Redis no longer holds this run (restarted without persistence?): publishing it again ` +
                `and enqueuing the ${pending.size} trials not recorded yet`,
            );
            yield* publish;
          }
          const a = yield* collect("completed");
          const b = yield* collect("failed");
          // the count `queue status` shows changes only when lines were collected
          if (a || b) yield* Effect.promise(() => client.set(recordedKey(runId), String(recorded)));
          else yield* Effect.sleep(Duration.millis(opts.pollMs ?? 250));
        }
        // every trial is recorded: the run's bundle and blobs (unless another run uses them) leave the queue
        yield* clearRun(client, runId);
      });
      yield* loop.pipe(
        Effect.matchCauseEffect({ onFailure: (cause) => out.failCause(cause), onSuccess: () => out.end }),
        Effect.forkScoped,
      );
      return Mailbox.toStream(out);
    })),
});
