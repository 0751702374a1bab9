/**
 * What a queue holds (`scalpel queue status`) and removing one run from it
 * (`scalpel queue clear RUN`): per run, its trials waiting, running, finished and not
 * yet collected by its coordinator, failed, and recorded in its run directory; the
 * workers alive (those that announced themselves within the last seconds).
 * @module
 */
import { Effect } from "effect";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type Bundle, readBundle } from "./bundle.ts";
import { closeWithin } from "./connection.ts";
import {
  blobKey,
  bundleKey,
  checkpointsKey,
  parseJobId,
  recordedKey,
  RUNS_KEY,
  TRIALS_QUEUE,
  WORKER_KEY_PREFIX,
} from "./keys.ts";

/** Job states a run's trials can be in. */
const STATES = ["waiting", "prioritized", "delayed", "active", "completed", "failed"] as const;

/** One run on the queue. */
export interface RunStatus {
  readonly runId: string;
  readonly bundle: Bundle | undefined;
  readonly recorded: number | undefined;
  /** Jobs per state (`completed`: finished, not yet collected by the coordinator). */
  readonly jobs: Readonly<Record<(typeof STATES)[number], number>>;
}

/** A queue's runs and workers. */
export interface QueueStatus {
  readonly runs: ReadonlyArray<RunStatus>;
  readonly workers: ReadonlyArray<{ readonly host: string; readonly pid: number; readonly concurrency: number }>;
}

const withQueue = <A>(client: Redis, f: (q: Queue) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Queue(TRIALS_QUEUE, { connection: client })),
    (q) => Effect.promise(() => f(q)),
    (q) => closeWithin(() => q.close()),
  );

/** Job ids per run and state. */
const jobsByRun = (q: Queue) =>
  Effect.gen(function* () {
    const out = new Map<string, Record<(typeof STATES)[number], string[]>>();
    for (const state of STATES) {
      const ids: string[] = yield* Effect.promise(() => q.getRanges([state], 0, -1));
      for (const id of ids) {
        const parsed = parseJobId(id);
        if (!parsed) continue;
        const entry = out.get(parsed.runId) ??
          { waiting: [], prioritized: [], delayed: [], active: [], completed: [], failed: [] };
        entry[state].push(id);
        out.set(parsed.runId, entry);
      }
    }
    return out;
  });

/** The status of the queue behind `client`. */
export const queueStatus = (client: Redis): Effect.Effect<QueueStatus> =>
  Effect.gen(function* () {
    const jobs = yield* withQueue(client, (q) => Effect.runPromise(jobsByRun(q)));
    const ids = new Set([...(yield* Effect.promise(() => client.smembers(RUNS_KEY))), ...jobs.keys()]);
    const runs: RunStatus[] = [];
    for (const runId of [...ids].sort()) {
      const j = jobs.get(runId);
      const recorded = yield* Effect.promise(() => client.get(recordedKey(runId)));
      runs.push({
        runId,
        bundle: yield* readBundle(client, runId),
        recorded: recorded === null ? undefined : Number(recorded),
        jobs: {
          waiting: j?.waiting.length ?? 0,
          prioritized: j?.prioritized.length ?? 0,
          delayed: j?.delayed.length ?? 0,
          active: j?.active.length ?? 0,
          completed: j?.completed.length ?? 0,
          failed: j?.failed.length ?? 0,
        },
      });
    }
    const workerKeys: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = yield* Effect.promise(() =>
        client.scan(cursor, "MATCH", `${WORKER_KEY_PREFIX}*`, "COUNT", 1000)
      );
      cursor = next;
      workerKeys.push(...keys);
    } while (cursor !== "0");
    const values = workerKeys.length === 0 ? [] : yield* Effect.promise(() => client.mget(...workerKeys));
    const workers = values.flatMap((v) => {
      try {
        const w = JSON.parse(v ?? "");
        return typeof w?.host === "string"
          ? [{ host: w.host, pid: Number(w.pid), concurrency: Number(w.concurrency) }]
          : [];
      } catch {
        return [];
      }
    });
    return { runs, workers };
  });

/** What `clearRun` removed. */
export interface Cleared {
  readonly removed: number;
  /** Jobs being run right now: they cannot be removed; their outcomes are dropped when they finish. */
  readonly active: number;
  readonly blobs: number;
}

/** Remove run `runId` from the queue: its jobs (but running ones), its bundle, and blobs no other run uses. */
export const clearRun = (client: Redis, runId: string): Effect.Effect<Cleared> =>
  Effect.gen(function* () {
    const jobs = yield* withQueue(client, (q) => Effect.runPromise(jobsByRun(q)));
    const mine = jobs.get(runId);
    let removed = 0;
    if (mine) {
      yield* withQueue(client, async (q) => {
        for (const state of STATES) {
          if (state === "active") continue;
          for (const id of mine[state]) removed += await q.remove(id);
        }
      });
    }
    yield* Effect.promise(() => client.del(checkpointsKey(runId)));
    const bundle = yield* readBundle(client, runId);
    let blobs = 0;
    if (bundle) {
      const others = (yield* Effect.promise(() => client.smembers(RUNS_KEY))).filter((r) => r !== runId);
      const used = new Set<string>();
      for (const r of others) {
        const b = yield* readBundle(client, r);
        for (const m of b?.modules ?? []) used.add(m.blob.sha);
        for (const m of b?.models ?? []) used.add(m.weights.sha).add(m.meta.sha);
      }
      const own = [
        ...bundle.modules.map((m) => m.blob.sha),
        ...bundle.models.flatMap((m) => [m.weights.sha, m.meta.sha]),
      ];
      for (const sha of new Set(own)) {
        if (!used.has(sha)) blobs += yield* Effect.promise(() => client.del(blobKey(sha)));
      }
    }
    yield* Effect.promise(() =>
      client.multi().del(bundleKey(runId)).del(recordedKey(runId)).srem(RUNS_KEY, runId).exec()
    );
    return { removed, active: mine?.active.length ?? 0, blobs };
  });
