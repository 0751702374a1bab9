/**
 * Where the advisor's rungs run, each a function from rung requests to their reports
 * in the order they finish: in this process, in a pool of local worker processes kept
 * across rungs, or on the workers of a queue. Every one runs a rung with
 * `runRungToFiles` (core/pipeline/rung.ts), so the reports do not depend on where.
 * @module
 */
import { type Context, Effect, Either, Schema, Stream } from "effect";
import { FileSystem, type Path } from "@effect/platform";
import type { UserError } from "../errors.ts";
import { writeFileAtomic } from "../store.ts";
import type { Trial } from "../pipeline/expand.ts";
import type { TrialRunner } from "../pipeline/runner.ts";
import { runRungToFiles } from "../pipeline/rung.ts";
import type { WorkerPool } from "../pipeline/local_workers.ts";
import type { EpochReport } from "../pipeline/worker_process.ts";
import type { RungReport, RungRequest } from "../pipeline/protocol.ts";
import type { QueueSession } from "../queue/coordinator.ts";
import { rungJobKey, RungResultSchema } from "../queue/jobs.ts";
import { dirError } from "./directory.ts";

/** Runs rungs; their reports in the order they finish. */
export type RungLauncher = (requests: ReadonlyArray<RungRequest>) => Stream.Stream<RungReport, UserError>;

/** Rungs one after the other in this process, on `runner`. */
export const inProcessRungs = (
  runner: TrialRunner,
  trials: ReadonlyMap<string, Trial>,
  platform: Context.Context<FileSystem.FileSystem | Path.Path>,
): RungLauncher =>
(reqs) =>
  Stream.fromIterable(reqs).pipe(
    Stream.mapEffect((r) => runRungToFiles(runner, trials.get(r.trial.key)!, r)),
    Stream.provideContext(platform),
  );

/** Rungs on a pool of local worker processes (started once for every rung). */
export const localRungs = (pool: WorkerPool, onEpoch: EpochReport): RungLauncher => (reqs) =>
  pool.run(reqs, (process, r) => process.rung(r, onEpoch));

/**
 * Rungs on the workers of a queue: each rung's starting checkpoint is stored in Redis
 * under the run, the worker stores the checkpoint it writes, and it is written back to
 * the rung's `to` file here (so a resume, on a queue or not, finds it on disk).
 */
export const queuedRungs = (
  session: QueueSession,
  platform: Context.Context<FileSystem.FileSystem | Path.Path>,
): RungLauncher =>
(reqs) =>
  Stream.unwrap(Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const items = yield* Effect.forEach(reqs, (r) =>
      r.from === undefined ? Effect.succeed({ r, from: undefined as string | undefined }) : fs.readFile(r.from).pipe(
        Effect.mapError(dirError(r.from, "reading a rung checkpoint")),
        Effect.flatMap((bytes) =>
          session.storeCheckpoint(bytes)
        ),
        Effect.map((from) => ({ r, from })),
      ));
    return session.run({
      what: "rungs",
      items,
      keyOf: ({ r }) => rungJobKey(r.trial.key, r.stopAfter ?? 0),
      dataOf: ({ r, from }) => ({
        run: session.runId,
        trial: r.trial,
        rung: { stopAfter: r.stopAfter ?? 0, ...(from === undefined ? {} : { from }) },
      }),
      resultOf: ({ r }, value) =>
        Effect.gen(function* () {
          const decoded = Schema.decodeUnknownEither(RungResultSchema)(value);
          if (Either.isLeft(decoded) || decoded.right.report.key !== r.trial.key) return undefined;
          const { report, checkpoint } = decoded.right;
          if (report.status === "paused") {
            const bytes = checkpoint === undefined ? undefined : yield* session.fetchCheckpoint(checkpoint);
            if (bytes === undefined) return undefined;
            const written = yield* writeFileAtomic(r.to, bytes).pipe(Effect.either);
            if (Either.isLeft(written)) return undefined;
          }
          return report;
        }).pipe(Effect.provideService(FileSystem.FileSystem, fs)),
      givenUp: ({ r }, message) => ({
        key: r.trial.key,
        status: "failed" as const,
        metric: "",
        epochs: 0,
        curve: [],
        best: NaN,
        bestEpoch: 0,
        compute: 0,
        seconds: 0,
        error: message,
      }),
    });
  })).pipe(Stream.provideContext(platform));
