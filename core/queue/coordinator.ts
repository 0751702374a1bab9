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
 * The connection, the bundle and the collecting are a session (`openQueueSession`)
 * that runs any work whose items are jobs: the trials of a run, or the rungs of an
 * advisor's run (core/advise/advise.ts), whose checkpoints travel through Redis.
 *
 * Failures: a trial that fails in its own right (a diverging loss, a throwing plugin)
 * is a failed line made by the worker, as in every launcher. A job BullMQ gives up on
 * (its worker was killed more than `MAX_STALLS` times, or its worker process crashed
 * `ATTEMPTS` times) becomes a failed line here. A worker that refuses a run (its dataset
 * differs, custom plugins it is not allowed to run, a pipeline it cannot load) stops
 * the coordinator with that worker's paragraph: the results so far are kept.
 * @module
 */
import { Duration, Effect, Mailbox, type Scope, Stream } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import { type Job, Queue, QueueEvents } from "bullmq";
import { QueueError, type UserError } from "../errors.ts";
import { decodeOutcome, type TrialOutcome } from "../results.ts";
import type { Trial } from "../pipeline/expand.ts";
import type { Launcher } from "../pipeline/launcher.ts";
import type { EpochReport } from "../pipeline/worker_process.ts";
import type { QueueAddress } from "./address.ts";
import { checkReachable, closeWithin, connection } from "./connection.ts";
import { type BundleInput, publishBundle, sha256 } from "./bundle.ts";
import { bundleKey, checkpointsKey, parseJobId, recordedKey, TRIALS_QUEUE } from "./keys.ts";
import { clearRun } from "./status.ts";
import { ATTEMPTS, decodeRefusal, type JobData, jobDataOf, jobOptionsOf } from "./jobs.ts";

/** Settings of a coordinator's connection to a queue for one run. */
export interface QueueSessionOptions {
  readonly address: QueueAddress;
  readonly bundle: BundleInput;
  /** Trials already recorded in results.jsonl before this attempt (for `queue status`). */
  readonly recorded: number;
  readonly log: (line: string) => Effect.Effect<void>;
  /** A job reported an epoch: its key within the run (a trial key, or a rung's key), the epoch, the loss. */
  readonly onEpoch?: EpochReport;
  /** How often to look for finished jobs (default 250 ms). */
  readonly pollMs?: number;
}

/** Settings of the queue launcher. */
export interface QueueLauncherOptions extends QueueSessionOptions {
  /** The failed line of a trial BullMQ gave up on. */
  readonly failedLine: (trial: Trial, message: string) => TrialOutcome;
}

/** Work for the queue: items, each one job, and how a finished job becomes a result. */
export interface QueueWork<A, B> {
  /** What the items are, for the log: `trials`, `rungs`. */
  readonly what: string;
  readonly items: ReadonlyArray<A>;
  /** The item's key within the run (part of its job id: unique per run, no `:`). */
  readonly keyOf: (item: A) => string;
  /** Its job's data. */
  readonly dataOf: (item: A) => JobData;
  /** The result in a completed job's return value; undefined when there is none (the item is enqueued again). */
  readonly resultOf: (item: A, returnValue: unknown) => Effect.Effect<B | undefined>;
  /** The result of an item whose job BullMQ gave up on. */
  readonly givenUp: (item: A, message: string) => B;
}

/** A coordinator connected to a queue for one run: its bundle published, its work enqueued and collected. */
export interface QueueSession {
  /** The run's id in the queue. */
  readonly runId: string;
  /** Enqueue `work` and collect its results, in the order they finish (the session may run several in turn). */
  readonly run: <A, B>(work: QueueWork<A, B>) => Stream.Stream<B, UserError>;
  /** The run is done: its bundle, checkpoints and blobs no other run uses leave the queue. */
  readonly clear: Effect.Effect<void>;
  /** Store a rung checkpoint under the run (an advisor's); its SHA-256. */
  readonly storeCheckpoint: (bytes: Uint8Array) => Effect.Effect<string>;
  /** A rung checkpoint stored under the run, checked against its hash; undefined when it is not there. */
  readonly fetchCheckpoint: (sha: string) => Effect.Effect<Uint8Array | undefined>;
}

const PAGE = 500;

/** Connect to the queue for one run (closed with the scope) and publish its bundle. */
export const openQueueSession = (
  opts: QueueSessionOptions,
): Effect.Effect<QueueSession, UserError, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
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
    // the keys of the jobs being waited for (progress events of other jobs are not this run's)
    let waiting: ReadonlySet<string> = new Set();
    let recorded = opts.recorded;
    if (opts.onEpoch) {
      const onEpoch = opts.onEpoch;
      events.on("progress", ({ jobId, data }) => {
        const id = parseJobId(jobId);
        const p = data as { epoch?: number; epochs?: number; loss?: number | null };
        if (id?.runId !== runId || !waiting.has(id.key) || typeof p?.epoch !== "number") return;
        Effect.runFork(onEpoch(id.key, p.epoch, p.epochs ?? 0, p.loss ?? NaN));
      });
    }
    const publishBundleAndCount = Effect.gen(function* () {
      yield* publishBundle(client, bundle);
      yield* Effect.promise(() => client.set(recordedKey(runId), String(recorded)));
    });
    yield* publishBundleAndCount;
    const platform = yield* Effect.context<FileSystem.FileSystem | Path.Path>();

    const run = <A, B>(work: QueueWork<A, B>): Stream.Stream<B, UserError> =>
      work.items.length === 0 ? Stream.empty : Stream.unwrapScoped(
        Effect.gen(function* () {
          const pending = new Map(work.items.map((a) => [work.keyOf(a), a]));
          waiting = new Set(pending.keys());
          const enqueue = (items: ReadonlyArray<A>) =>
            Effect.gen(function* () {
              const jobs = items.map((a) => ({
                name: "trial",
                data: work.dataOf(a),
                opts: jobOptionsOf(runId, work.keyOf(a)),
              }));
              for (let i = 0; i < jobs.length; i += 1000) {
                yield* Effect.promise(() => queue.addBulk(jobs.slice(i, i + 1000)));
              }
            });
          const publish = Effect.zipRight(publishBundleAndCount, Effect.suspend(() => enqueue([...pending.values()])));
          yield* enqueue([...pending.values()]);
          yield* opts.log(
            `enqueued ${work.items.length} ${work.what} on ${address.shown} as run ${runId} ` +
              "(workers: `scalpel worker --queue <address>` on any machine)",
          );

          const out = yield* Mailbox.make<B, UserError>();
          /** Hand on the finished jobs of this run from one BullMQ state; true when any was found. */
          const collect = (state: "completed" | "failed") =>
            Effect.gen(function* () {
              let start = 0;
              let found = false;
              while (true) {
                const page: Job<JobData>[] = yield* Effect.promise(() =>
                  queue.getJobs([state], start, start + PAGE - 1)
                );
                let mine = 0;
                for (const job of page) {
                  if (!job) continue;
                  const id = parseJobId(job.id);
                  if (id?.runId !== runId) continue;
                  mine++;
                  found = true;
                  const item = pending.get(id.key);
                  if (item !== undefined) {
                    if (state === "completed") {
                      const result = yield* work.resultOf(item, job.returnvalue);
                      if (result === undefined) {
                        yield* opts.log(`a worker returned no result for ${id.key}; it runs again`);
                        yield* Effect.promise(() => job.remove()).pipe(Effect.ignore);
                        yield* enqueue([item]);
                        continue;
                      }
                      yield* out.offer(result);
                    } else {
                      const refusal = decodeRefusal(job.failedReason);
                      if (refusal) {
                        yield* Effect.promise(() => job.remove()).pipe(Effect.ignore);
                        return yield* new QueueError({
                          queue: address.shown,
                          detail: `the worker on ${refusal.worker} could not run trial ${id.key} of this run: ` +
                            refusal.message,
                          fix: "Fix that machine (or stop its worker) and run the same command again: results " +
                            "already recorded are kept, and trials in the queue go on",
                        });
                      }
                      yield* out.offer(work.givenUp(
                        item,
                        `its worker stopped while running it (${job.attemptsMade} attempts; the last: ${
                          job.failedReason ?? "no reason given"
                        }). Trials are retried after a crash at most ${ATTEMPTS} times`,
                      ));
                    }
                    pending.delete(id.key);
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
                    `and enqueuing the ${pending.size} jobs not collected yet`,
                );
                yield* publish;
              }
              const a = yield* collect("completed");
              const b = yield* collect("failed");
              // the count `queue status` shows changes only when lines were collected
              if (a || b) yield* Effect.promise(() => client.set(recordedKey(runId), String(recorded)));
              else yield* Effect.sleep(Duration.millis(opts.pollMs ?? 250));
            }
          });
          yield* loop.pipe(
            Effect.matchCauseEffect({ onFailure: (cause) => out.failCause(cause), onSuccess: () => out.end }),
            Effect.forkScoped,
          );
          return Mailbox.toStream(out);
        }).pipe(Effect.provide(platform)),
      );

    return {
      runId,
      run,
      clear: Effect.asVoid(clearRun(client, runId)),
      storeCheckpoint: (bytes) =>
        Effect.promise(async () => {
          const sha = sha256(bytes);
          await client.hset(checkpointsKey(runId), sha, Buffer.from(bytes));
          return sha;
        }),
      fetchCheckpoint: (sha) =>
        Effect.promise(() => client.hgetBuffer(checkpointsKey(runId), sha)).pipe(
          Effect.map((buf) => {
            const bytes = buf === null ? undefined : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
            return bytes !== undefined && sha256(bytes) === sha ? bytes : undefined;
          }),
        ),
    };
  });

/** The queue launcher; see the module doc. */
export const queueLauncher = (
  opts: QueueLauncherOptions,
): Launcher<FileSystem.FileSystem | Path.Path> => ({
  description: `the workers of queue ${opts.address.shown}`,
  run: (trials) =>
    trials.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
      const session = yield* openQueueSession(opts);
      return Stream.concat(
        session.run({
          what: "trials",
          items: trials,
          keyOf: (t) => t.key,
          dataOf: (t) => jobDataOf(opts.bundle.runId, t),
          resultOf: (t, value) =>
            Effect.sync(() => {
              const line = decodeOutcome(value);
              return line._tag === "Right" && line.right.key === t.key ? line.right : undefined;
            }),
          givenUp: (t, message) => opts.failedLine(t, message),
        }),
        // every trial is recorded: the run's bundle and blobs (unless another run uses them) leave the queue
        Stream.drain(Stream.fromEffect(session.clear)),
      );
    })),
});
