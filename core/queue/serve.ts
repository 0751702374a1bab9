/**
 * The queue worker (`scalpel worker --queue URL`): serves trials of any run on the
 * queue until it is stopped (and rungs of an advisor's run: a trial continued from a
 * checkpoint stored in Redis, its new checkpoint stored back). Each trial runs in a local worker process
 * (worker_process.ts, the same code path as `run --concurrency`), so this process's
 * event loop stays free and BullMQ renews the trial's lock however long the trial
 * computes; a worker killed mid-trial stops renewing, and BullMQ gives the trial to
 * another worker once its lock expires. A run's bundle (pipeline, pre-trained models,
 * plugin modules) is materialised on this machine once (bundle.ts); custom plugin
 * modules are refused unless the worker was started with `--allow-plugins`.
 * @module
 */
import { Effect, Either, Exit, Runtime, Schema, Scope } from "effect";
import type { CommandExecutor } from "@effect/platform";
import { FileSystem, Path } from "@effect/platform";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { type QueueError, WorkerError } from "../errors.ts";
import { encodeOutcome, isFailed } from "../results.ts";
import {
  type EpochReport,
  startWorkerProcess,
  type WorkerCommand,
  type WorkerProcess,
} from "../pipeline/worker_process.ts";
import type { QueueAddress } from "./address.ts";
import { checkReachable, closeWithin, connection } from "./connection.ts";
import { BlobMissing, type Bundle, materialiseBundle, readBundle, sha256 } from "./bundle.ts";
import {
  encodeRefusal,
  type JobData,
  JobDataSchema,
  MAX_STALLS,
  rungJobKey,
  type RungResult,
  RungResultSchema,
} from "./jobs.ts";
import { checkpointsKey, TRIALS_QUEUE, WORKER_KEY_PREFIX } from "./keys.ts";

/** Settings of a queue worker. */
export interface ServeOptions {
  readonly address: QueueAddress;
  /** Trials run at once (one local worker process each). */
  readonly concurrency: number;
  /** This machine's pre-trained model cache. */
  readonly cacheDir: string;
  /** Where runs' pipeline files and plugin modules are written. */
  readonly workDir: string;
  readonly allowPlugins: boolean;
  /** How to start a local worker process (`scalpel worker --stdio --threads N`). */
  readonly command: WorkerCommand;
  /** This machine's name, for refusals and `queue status`. */
  readonly host: string;
  readonly log: (line: string) => Effect.Effect<void>;
}

/** Seconds a worker's announcement lives without renewal (`queue status` counts workers alive by it). */
export const HEARTBEAT_SECONDS = 15;

interface Child {
  readonly run: string;
  readonly process: WorkerProcess;
  readonly scope: Scope.CloseableScope;
}

const decodeJobData = Schema.decodeUnknownEither(JobDataSchema);

/** Serve the queue until interrupted (then let running trials finish, and stop). */
export const serveQueue = (
  opts: ServeOptions,
): Effect.Effect<
  never,
  QueueError,
  Scope.Scope | CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    yield* checkReachable(opts.address);
    const runtime = yield* Effect.runtime<CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path>();
    const run = Runtime.runPromise(runtime);
    const logSync = (line: string) => Effect.runFork(opts.log(line));
    const client = yield* connection(opts.address, logSync);
    const me = `${opts.host} (process ${Deno.pid})`;

    // local worker processes, kept per run for the run's next trials
    const idle = new Map<string, Child[]>();
    let live = 0;
    let started = 0;
    const closeChild = (c: Child) =>
      Effect.suspend(() => {
        live--;
        return Scope.close(c.scope, Exit.void);
      });
    const acquire = (runId: string, pipelineFile: string, bundle: Bundle) =>
      Effect.gen(function* () {
        const spare = idle.get(runId)?.pop();
        if (spare) return spare;
        if (live >= opts.concurrency) {
          // a process of another run is idle: make room
          for (const [r, cs] of idle) {
            const c = cs.pop();
            if (c) {
              if (cs.length === 0) idle.delete(r);
              yield* closeChild(c);
              break;
            }
          }
        }
        const scope = yield* Scope.make();
        live++;
        const process = yield* startWorkerProcess({
          number: ++started,
          command: opts.command,
          init: {
            type: "init",
            pipeline: { file: pipelineFile, overrides: {} },
            cacheDir: path.resolve(opts.cacheDir),
            dataHash: bundle.dataHash,
            backend: bundle.backend,
          },
          log: opts.log,
        }).pipe(
          Scope.extend(scope),
          Effect.tapError(() => Effect.sync(() => live--).pipe(Effect.zipRight(Scope.close(scope, Exit.void)))),
        );
        return { run: runId, process, scope } satisfies Child;
      });
    const release = (c: Child) =>
      Effect.sync(() => {
        const cs = idle.get(c.run) ?? [];
        cs.push(c);
        idle.set(c.run, cs);
      });
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...idle.values()].flat(), (c) => Scope.close(c.scope, Exit.void), { discard: true })
    );

    const materialised = new Map<string, string>();
    const materialiseOnce = yield* Effect.makeSemaphore(1);
    const refuse = (tag: string, message: string) =>
      new UnrecoverableError(encodeRefusal({ worker: me, tag, message }));

    const processJob = (job: Job) =>
      Effect.gen(function* () {
        const data = decodeJobData(job.data);
        if (Either.isLeft(data)) {
          return yield* Effect.fail(refuse("QueueError", `job ${job.id} is not a scalpel trial`));
        }
        const { run: runId, trial } = data.right;
        const bundle = yield* readBundle(client, runId);
        if (bundle === undefined) {
          return yield* Effect.fail(new Error(`run ${runId} is not in the queue (its coordinator publishes it again)`));
        }
        if (bundle.modules.length > 0 && !opts.allowPlugins) {
          return yield* Effect.fail(refuse(
            "QueueError",
            `the run uses custom plugin modules (${bundle.modules.map((m) => m.file).join(", ")}) and this worker ` +
              "runs built-in plugins only; start it with `scalpel worker --queue … --allow-plugins` if you trust " +
              "the code of whoever enqueues runs on this queue",
          ));
        }
        const file = yield* materialiseOnce.withPermits(1)(Effect.gen(function* () {
          const known = materialised.get(runId);
          if (known !== undefined) return known;
          const made = yield* materialiseBundle(client, bundle, opts.cacheDir, path.join(opts.workDir, runId)).pipe(
            Effect.mapError((e) => e instanceof BlobMissing ? e : refuse(e._tag, e.describe())),
          );
          materialised.set(runId, made);
          yield* opts.log(`run ${runId} (${bundle.name}, from ${bundle.host}): ${bundle.trials} trials`);
          return made;
        }));
        const child = yield* acquire(runId, file, bundle).pipe(
          Effect.mapError((e) => new Error(e.describe())),
        );
        const t0 = performance.now();
        const progress = (_key: string, epoch: number, epochs: number, loss: number) =>
          Effect.promise(() =>
            job.updateProgress({ epoch, epochs, loss: Number.isFinite(loss) ? loss : null }).catch(() => {})
          );
        const failure = (e: WorkerError) =>
          e.reported ? refuse(e.reported.tag, e.reported.message) : new Error(e.describe());
        if (data.right.rung) {
          const result = yield* runRungJob(runId, trial, data.right.rung, child, progress).pipe(
            Effect.tapError(() => closeChild(child)),
            Effect.mapError((e) => (e instanceof WorkerError ? failure(e) : e)),
          );
          yield* release(child);
          yield* opts.log(
            `${bundle.name} rung ${trial.key} to epoch ${data.right.rung.stopAfter}: ${result.report.status} in ${
              ((performance.now() - t0) / 1000).toFixed(1)
            } s`,
          );
          return Schema.encodeSync(RungResultSchema)(result);
        }
        const outcome = yield* child.process.run(trial, progress).pipe(
          Effect.tapError(() => closeChild(child)),
          Effect.mapError(failure),
        );
        yield* release(child);
        const seconds = ((performance.now() - t0) / 1000).toFixed(1);
        yield* opts.log(
          `${bundle.name} trial ${trial.key} (${outcome.shift} × ${outcome.selection} seed ${outcome.seed} lr ` +
            `${outcome.lr ?? "–"}): ${isFailed(outcome) ? `FAILED (${outcome.error.tag})` : "done"} in ${seconds} s`,
        );
        return encodeOutcome(outcome);
      });

    /**
     * One rung of an advisor's run: its starting checkpoint from Redis into a file, the
     * rung on a local worker process, the checkpoint it wrote back into Redis.
     */
    const runRungJob = (
      runId: string,
      trial: JobData["trial"],
      rung: NonNullable<JobData["rung"]>,
      child: Child,
      progress: EpochReport,
    ) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem;
        const dir = path.resolve(opts.workDir, runId, "checkpoints");
        yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.orDie);
        const to = path.join(dir, `${rungJobKey(trial.key, rung.stopAfter)}-${Deno.pid}.ckpt`);
        let from: string | undefined;
        if (rung.from !== undefined) {
          const sha = rung.from;
          const buf = yield* Effect.promise(() => client.hgetBuffer(checkpointsKey(runId), sha));
          const bytes = buf === null ? undefined : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
          if (bytes === undefined || sha256(bytes) !== sha) {
            return yield* Effect.fail(new Error(`checkpoint ${sha.slice(0, 12)} of run ${runId} is not in the queue`));
          }
          from = path.join(dir, `${sha}.ckpt`);
          yield* fs.writeFile(from, bytes).pipe(Effect.orDie);
        }
        const report = yield* child.process.rung(
          { trial, stopAfter: rung.stopAfter, ...(from ? { from } : {}), to },
          progress,
        );
        let checkpoint: string | undefined;
        if (report.status === "paused") {
          const bytes = yield* fs.readFile(to).pipe(Effect.orDie);
          checkpoint = sha256(bytes);
          yield* Effect.promise(() => client.hset(checkpointsKey(runId), checkpoint!, Buffer.from(bytes)));
        }
        for (const f of [from, to]) if (f) yield* fs.remove(f).pipe(Effect.ignore);
        return { report, ...(checkpoint ? { checkpoint } : {}) } satisfies RungResult;
      });

    const worker = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new Worker(TRIALS_QUEUE, (job) => run(processJob(job)), {
          connection: client,
          concurrency: opts.concurrency,
          maxStalledCount: MAX_STALLS,
        })
      ),
      (w) =>
        Effect.gen(function* () {
          const running = live - [...idle.values()].reduce((n, cs) => n + cs.length, 0);
          if (running > 0) {
            yield* opts.log(
              `stopping: finishing ${running} running trial(s) first (stop again to end at once; ` +
                "the queue then gives them to another worker)",
            );
          }
          // running trials finish first, however long they take; with Redis down there is nothing to hand them to
          if (client.status === "ready") yield* Effect.promise(() => w.close());
          else yield* closeWithin(() => w.close(true));
        }),
    );
    worker.on("error", (e) => logSync(`queue worker: ${e.message.split("\n")[0]}`));
    worker.on("failed", (job, e) => {
      if (job && !e.message.startsWith("scalpel-refused")) logSync(`trial job ${job.id} failed: ${e.message}`);
    });

    // announce this worker while it runs
    const announce = Effect.promise(() =>
      client.set(
        `${WORKER_KEY_PREFIX}${opts.host}-${Deno.pid}`,
        JSON.stringify({ host: opts.host, pid: Deno.pid, concurrency: opts.concurrency }),
        "EX",
        HEARTBEAT_SECONDS,
      ).catch(() => "")
    );
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => client.del(`${WORKER_KEY_PREFIX}${opts.host}-${Deno.pid}`).catch(() => 0)).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore,
      )
    );
    yield* opts.log(
      `serving trials from ${opts.address.shown} as process ${Deno.pid} (${opts.concurrency} at a time${
        opts.allowPlugins ? ", custom plugins allowed" : ", built-in plugins only"
      }); stop with Ctrl-C`,
    );
    return yield* announce.pipe(Effect.zipRight(Effect.sleep("5 seconds")), Effect.forever);
  });
