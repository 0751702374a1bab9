/**
 * Names in Redis: the one BullMQ queue every worker serves, each run's bundle and its
 * job ids, and content-addressed blobs (pre-trained weights, plugin modules). A run's
 * id is derived from where its run directory is and what it runs, so running the same
 * command again (a resume) finds the same jobs, and enqueuing twice is harmless.
 * @module
 */
import { contentHash } from "../hash.ts";

/** The BullMQ queue of trials (all runs share it; a worker serves any run). */
export const TRIALS_QUEUE = "scalpel-trials";

/** Prefix of scalpel's own keys (BullMQ's are under `bull:`). */
const PREFIX = "scalpel";

/** The set of run ids with a bundle in this Redis. */
export const RUNS_KEY = `${PREFIX}:runs`;

/** The bundle of run `runId` (what a worker needs to run its trials). */
export const bundleKey = (runId: string): string => `${PREFIX}:run:${runId}`;

/** How many of run `runId`'s trials its coordinator has recorded (for `queue status`). */
export const recordedKey = (runId: string): string => `${PREFIX}:run:${runId}:recorded`;

/** The rung checkpoints of run `runId` (an advisor's), a hash from their SHA-256 to their bytes. */
export const checkpointsKey = (runId: string): string => `${PREFIX}:run:${runId}:checkpoints`;

/** A blob by the SHA-256 of its bytes. */
export const blobKey = (sha: string): string => `${PREFIX}:blob:${sha}`;

/** Workers announce themselves under this prefix (a key with a time to live, renewed while they run). */
export const WORKER_KEY_PREFIX = `${PREFIX}:worker:`;

/** The id of a run: its host and run directory, and the content of its manifest. */
export const runIdOf = (host: string, runDirectory: string, manifest: unknown): string =>
  contentHash({ host, runDirectory, manifest });

/** The BullMQ job id of a trial of a run (BullMQ ids may not contain `:`). */
export const jobIdOf = (runId: string, trialKey: string): string => `${runId}-${trialKey}`;

/** The run and trial key of a job id, or undefined for a job that is not scalpel's. */
export const parseJobId = (id: string | undefined): { runId: string; key: string } | undefined => {
  const m = id === undefined ? null : /^([0-9a-f]{16})-(.+)$/.exec(id);
  return m ? { runId: m[1], key: m[2] } : undefined;
};
