/**
 * What one trial writes to results.jsonl: a result line when it finished, a failed
 * line when it could not (a diverging loss, a plugin that threw). Both are effect
 * Schemas, so every line read back (a resumed run, a worker's reply) is decoded, never
 * trusted.
 * @module
 */
import { Schema } from "effect";

/** A metric value; NaN (an empty split) is written as null by JSON and read back as NaN. */
const MetricValue = Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
  strict: true,
  decode: (x) => x ?? NaN,
  encode: (x) => (Number.isNaN(x) ? null : x),
});

/** Metrics by evaluator output name, e.g. `{ accuracy: 0.93 }`. */
export const MetricsSchema = Schema.Record({ key: Schema.String, value: MetricValue });

/** Metrics by evaluator output name, e.g. `{ accuracy: 0.93 }`. */
export type Metrics = Readonly<Record<string, number>>;

const TrialKey = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/));
const Seed = Schema.Int.pipe(Schema.nonNegative());
const Ref = Schema.Record({ key: Schema.String, value: Schema.Unknown });

/** One finished trial. */
export const ResultLineSchema = Schema.Struct({
  /** `ok` (lines written before failed lines existed have none). */
  status: Schema.optionalWith(Schema.Literal("ok"), { default: () => "ok" as const }),
  /** Stable key derived from the trial's resolved settings. */
  key: TrialKey,
  /** Shift label (e.g. `gaussian_noise-5`) and its resolved reference. */
  shift: Schema.String,
  shiftRef: Ref,
  /** Selection label (e.g. `block1`) and its resolved reference. */
  selection: Schema.String,
  selectionRef: Ref,
  /** Labelled target examples fine-tuned on (absent in lines written before it was recorded). */
  trainSize: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** Fine-tuning seed index (0-based). */
  seed: Seed,
  /** Learning rate of this trial; null when the selection trained nothing. */
  lr: Schema.NullOr(Schema.Number),
  /** Epoch chosen on validation (0 = before any fine-tuning). */
  epoch: Schema.Int.pipe(Schema.nonNegative()),
  /** Metrics at the chosen epoch on target validation and target test. */
  val: MetricsSchema,
  test: MetricsSchema,
  /** Validation value of the ranking metric after each epoch (index 0 = before training). */
  valCurve: Schema.Array(MetricValue),
  /** Scalar parameters that received at least one update. */
  trainedParams: Schema.Int.pipe(Schema.nonNegative()),
  /** Per layer group: fraction of its parameters trained. */
  trainedGroups: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /**
   * Per layer group, what the selector did over the epochs: the mean learning-rate
   * multiplier (parameter-weighted) and the fraction of epochs the group was trained.
   */
  groupActivity: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ meanMultiplier: Schema.Number, activeFraction: Schema.Number }),
  }),
  /** Wall time of the trial (informational; never used to compute anything). */
  seconds: Schema.Number,
  /** Cache key of the pre-trained model the trial started from. */
  pretrained: Schema.String,
});

/** One finished trial. */
export type ResultLine = Schema.Schema.Type<typeof ResultLineSchema>;

/** One trial that could not finish: which one, and why. */
export const FailedLineSchema = Schema.Struct({
  status: Schema.Literal("failed"),
  key: TrialKey,
  shift: Schema.String,
  selection: Schema.String,
  trainSize: Schema.optional(Schema.Int.pipe(Schema.positive())),
  seed: Seed,
  lr: Schema.Number,
  /** The error's tag (`TrainingError`, `PluginError`) and its one-paragraph message. */
  error: Schema.Struct({ tag: Schema.String, message: Schema.String }),
  seconds: Schema.Number,
});

/** One trial that could not finish. */
export type FailedLine = Schema.Schema.Type<typeof FailedLineSchema>;

/** A line of results.jsonl: a finished trial or a failed one. */
export const OutcomeLineSchema = Schema.Union(FailedLineSchema, ResultLineSchema);

/** What running one trial gives: its result line or its failed line. */
export type TrialOutcome = ResultLine | FailedLine;

/** True for a failed line. */
export const isFailed = (o: TrialOutcome): o is FailedLine => o.status === "failed";

/** Decode one parsed JSON value as an outcome line; Left holds the reason in one line. */
export const decodeOutcome = Schema.decodeUnknownEither(OutcomeLineSchema, { onExcessProperty: "ignore" });

/** Encode an outcome line as plain JSON (NaN metrics as null). */
export const encodeOutcome = (o: TrialOutcome): unknown => Schema.encodeSync(OutcomeLineSchema)(o);
