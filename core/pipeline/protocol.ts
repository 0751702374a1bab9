/**
 * Trials as serialisable specs, and the messages between a parallel run's parent and
 * its local worker processes (JSON lines: the parent writes to a worker's stdin, the
 * worker answers on stdout behind a prefix). Both sides decode what they read with
 * these Schemas. A worker rebuilds the pipeline from `PipelineSource`, expands the
 * same trials and refuses a spec whose key differs from its own (a pipeline file
 * changed under a running sweep).
 * @module
 */
import { Schema } from "effect";
import { backendChoices } from "../backend.ts";
import { OutcomeLineSchema } from "../results.ts";

/** One trial, as plain data: indices into the resolved pipeline, its seed and learning rate, and its key. */
export const TrialSpecSchema = Schema.Struct({
  key: Schema.String,
  shiftIndex: Schema.Int.pipe(Schema.nonNegative()),
  selectionIndex: Schema.Int.pipe(Schema.nonNegative()),
  trainSize: Schema.Int.pipe(Schema.positive()),
  seed: Schema.Int.pipe(Schema.nonNegative()),
  lr: Schema.Number,
});

/** A number that may be NaN or ±∞ (JSON null). */
const FiniteOrNull = Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
  strict: true,
  decode: (x) => x ?? NaN,
  encode: (x) => (Number.isFinite(x) ? x : null),
});

/**
 * One rung of a trial (the advisor's successive halving, core/advise/): continue from
 * the checkpoint file `from` (absent: from the pre-trained weights) until `stopAfter`
 * epochs are done (absent: to the end), and write the paused checkpoint to `to`.
 */
export const RungRequestSchema = Schema.Struct({
  trial: TrialSpecSchema,
  stopAfter: Schema.optional(Schema.Int.pipe(Schema.positive())),
  from: Schema.optional(Schema.String),
  to: Schema.String,
});

/** One rung of a trial. */
export type RungRequest = typeof RungRequestSchema.Type;

/** What a rung did: where the trial stands, its validation curve, the compute it spent. */
export const RungReportSchema = Schema.Struct({
  key: Schema.String,
  /** `paused`: its checkpoint is in the request's `to`; `finished`: it ran to its last epoch. */
  status: Schema.Literal("paused", "finished", "failed"),
  /** Epochs done. */
  epochs: Schema.Int,
  /** Validation score (the ranking metric) after each epoch done; index 0: before training. */
  curve: Schema.Array(FiniteOrNull),
  /** The ranking metric (the first evaluator's first value; empty when the trial failed). */
  metric: Schema.String,
  /** The best validation score over the epochs done (NaN when the trial failed). */
  best: FiniteOrNull,
  bestEpoch: Schema.Int,
  /** Compute units this rung spent (see ComputeMeter in trial.ts). */
  compute: Schema.Number,
  seconds: Schema.Number,
  /** Why the trial failed (its one-paragraph error). */
  error: Schema.optional(Schema.String),
});

/** What a rung did. */
export type RungReport = typeof RungReportSchema.Type;

/** Where a pipeline comes from: its file (absolute path) and the command line's overrides. */
export const PipelineSourceSchema = Schema.Struct({
  file: Schema.String,
  overrides: Schema.Struct({
    seed: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
    backend: Schema.optional(Schema.Literal(...backendChoices)),
  }),
});

/** Where a pipeline comes from. */
export type PipelineSource = typeof PipelineSourceSchema.Type;

/** Parent → worker. */
export const ToWorkerSchema = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("init"),
    pipeline: PipelineSourceSchema,
    cacheDir: Schema.String,
    /** Where to save fine-tuned weights (`save: true`). */
    saveDir: Schema.optional(Schema.String),
    /**
     * The content hash of the dataset the run was started on (a queued run's
     * coordinator): a worker whose dataset files hash otherwise refuses every trial.
     */
    dataHash: Schema.optional(Schema.String),
    /**
     * The tensor backend the run's coordinator runs on (`auto` resolved): a queue worker
     * starts this one whatever the pipeline file says, so every machine computes alike.
     */
    backend: Schema.optional(Schema.Literal(...backendChoices)),
  }),
  Schema.Struct({ type: Schema.Literal("trial"), trial: TrialSpecSchema }),
  Schema.Struct({ type: Schema.Literal("rung"), rung: RungRequestSchema }),
);

/** Parent → worker. */
export type ToWorker = typeof ToWorkerSchema.Type;

/** Worker → parent. */
export const FromWorkerSchema = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("epoch"),
    key: Schema.String,
    epoch: Schema.Int,
    epochs: Schema.Int,
    loss: FiniteOrNull,
  }),
  Schema.Struct({ type: Schema.Literal("outcome"), outcome: OutcomeLineSchema }),
  Schema.Struct({ type: Schema.Literal("rung-report"), report: RungReportSchema }),
  /** The worker cannot serve this pipeline (its one-paragraph error); it exits after sending this. */
  Schema.Struct({ type: Schema.Literal("error"), tag: Schema.String, message: Schema.String }),
);

/** Worker → parent. */
export type FromWorker = typeof FromWorkerSchema.Type;

/** The prefix of a worker's message lines on its stdout (other output is passed on as log lines). */
export const MESSAGE_PREFIX = "@@scalpel ";

/** One message line (without the newline). */
export const encodeMessage = <A, I>(schema: Schema.Schema<A, I>, message: A): string =>
  JSON.stringify(Schema.encodeSync(schema)(message));
