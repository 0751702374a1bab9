/**
 * The jobs of the trials queue: their data (a run id and a trial spec), their options
 * (retries after a crashed worker process), and the reason a worker gives when it
 * refuses a run, which the coordinator tells apart from a crash.
 * @module
 */
import { Either, Schema } from "effect";
import { RungReportSchema, TrialSpecSchema } from "../pipeline/protocol.ts";
import type { Trial } from "../pipeline/expand.ts";
import { jobIdOf } from "./keys.ts";

/**
 * A job's data: a whole trial, or with `rung` one rung of it (the advisor's): continue
 * from the checkpoint stored under the run with SHA-256 `from` (absent: from the
 * pre-trained weights) until `stopAfter` epochs are done.
 */
export const JobDataSchema = Schema.Struct({
  run: Schema.String,
  trial: TrialSpecSchema,
  rung: Schema.optional(
    Schema.Struct({ stopAfter: Schema.Int.pipe(Schema.positive()), from: Schema.optional(Schema.String) }),
  ),
});

/** A job's data. */
export type JobData = typeof JobDataSchema.Type;

/** What a rung job returns: the rung's report, and the SHA-256 of the checkpoint it stored (when it paused). */
export const RungResultSchema = Schema.Struct({ report: RungReportSchema, checkpoint: Schema.optional(Schema.String) });

/** What a rung job returns. */
export type RungResult = typeof RungResultSchema.Type;

/** The key of the job of a rung within its run: the trial's key and the epoch the rung stops at. */
export const rungJobKey = (trialKey: string, stopAfter: number): string => `${trialKey}-e${stopAfter}`;

/** Attempts of a job whose worker process crashed (a trial's own failure is a failed line, never retried). */
export const ATTEMPTS = 3;

/**
 * Times a job may be found stalled (its worker died or lost Redis and did not renew
 * its lock) before BullMQ fails it: the trial then runs at most this many times more.
 */
export const MAX_STALLS = 2;

/** The data of trial `t` of run `runId`. */
export const jobDataOf = (runId: string, t: Trial): JobData => ({
  run: runId,
  trial: {
    key: t.key,
    shiftIndex: t.shiftIndex,
    selectionIndex: t.selectionIndex,
    trainSize: t.trainSize,
    seed: t.seed,
    lr: t.lr,
  },
});

/** The options of the job of item `key` (a trial key, or a rung's key) of run `runId`. */
export const jobOptionsOf = (runId: string, key: string) => ({
  jobId: jobIdOf(runId, key),
  attempts: ATTEMPTS,
  backoff: { type: "fixed" as const, delay: 1000 },
  removeOnComplete: false,
  removeOnFail: false,
});

const REFUSED = "scalpel-refused ";
const RefusalSchema = Schema.Struct({ worker: Schema.String, tag: Schema.String, message: Schema.String });

/** A worker's refusal of a run: which worker (`host pid N`), and its error. */
export type Refusal = typeof RefusalSchema.Type;

/** The failure reason a worker gives a job it refuses. */
export const encodeRefusal = (r: Refusal): string => REFUSED + JSON.stringify(r);

/** The refusal in a job's failure reason, or undefined when the job failed otherwise. */
export const decodeRefusal = (reason: string | undefined): Refusal | undefined => {
  if (reason === undefined || !reason.startsWith(REFUSED)) return undefined;
  const r = Schema.decodeUnknownEither(Schema.parseJson(RefusalSchema))(reason.slice(REFUSED.length));
  return Either.isRight(r) ? r.right : undefined;
};
