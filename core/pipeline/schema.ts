/**
 * The pipeline file schema (effect/Schema): what a YAML or JSON pipeline file may
 * say, with defaults. Plugin options are decoded later by each plugin's own schema
 * (see registry.ts), so their errors name the plugin and the exact path.
 * @module
 */
import { JSONSchema, ParseResult, Schema } from "effect";
import { backendChoices } from "../backend.ts";

/** A reference to a plugin: its name alone, or `{ <kind>: name, options: {...} }`. */
const pluginRef = <K extends string>(kind: K) =>
  Schema.Union(
    Schema.String,
    Schema.Struct(
      { [kind]: Schema.String, options: Schema.optional(Schema.Unknown) } as
        & {
          [P in K]: typeof Schema.String;
        }
        & { options: Schema.optional<typeof Schema.Unknown> },
    ),
  ).annotations({
    description: `a ${kind} plugin: its name, or { ${kind}: name, options: {...} }`,
  });

const PositiveInt = Schema.Int.pipe(Schema.positive());
const PositiveNumber = Schema.Number.pipe(Schema.positive(), Schema.finite());

/** Budget for pre-training the source model. */
export const PretrainSchema = Schema.Struct({
  /** Passes over the source training examples. */
  epochs: Schema.optionalWith(PositiveInt, { default: () => 2 }),
  batchSize: Schema.optionalWith(PositiveInt, { default: () => 64 }),
  learningRate: Schema.optionalWith(PositiveNumber, { default: () => 1e-3 }),
  /** Use this many source training examples (a seeded sample); all when absent. */
  examples: Schema.optional(PositiveInt),
});

/** Sizes of the target splits. */
export const TargetSchema = Schema.Struct({
  /** Labelled target examples used for fine-tuning (stratified sample of the target train split). */
  train: Schema.optionalWith(PositiveInt, { default: () => 800 }),
  /** Labelled target examples used to choose the learning rate and epoch (disjoint from train). */
  val: Schema.optionalWith(PositiveInt, { default: () => 200 }),
  /** Held-out target test examples (from the target test split, never used to choose anything). */
  test: Schema.optionalWith(PositiveInt, { default: () => 2000 }),
});

/** Fine-tuning settings; the learning rate and epoch count are chosen on target validation. */
export const FinetuneSchema = Schema.Struct({
  /** Maximum epochs; the epoch with the best validation score is the one reported. */
  epochs: Schema.optionalWith(PositiveInt, { default: () => 10 }),
  batchSize: Schema.optionalWith(PositiveInt, { default: () => 32 }),
  /** Learning-rate grid (one trial each). */
  learningRates: Schema.optionalWith(Schema.NonEmptyArray(PositiveNumber), {
    default: () => [1e-2, 1e-3, 1e-4] as const,
  }),
  /**
   * Frozen-prefix caching: compute the activations of the frozen layers before the first
   * trained group once per target split, instead of at every step (same results; off
   * only to compare or to save memory).
   */
  prefixCache: Schema.optionalWith(Schema.Boolean, { default: () => true }),
});

/** The whole pipeline file. */
export const PipelineSchema = Schema.Struct({
  /** Name of the study (used for the default run directory). */
  name: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]+$/)), {
    default: () => "pipeline",
  }),
  description: Schema.optional(Schema.String),
  /** Root seed: every random stream derives from it. */
  seed: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 0 }),
  /** Fine-tuning seeds per shift × selection × learning rate (mean ± standard error over them). */
  seeds: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 1 }),
  backend: Schema.optionalWith(Schema.Literal(...backendChoices), { default: () => "wasm" as const }),
  /** Save each trial's fine-tuned weights (at the chosen epoch) to `<run>/models/<trial key>.weights`. */
  save: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Custom plugin modules (paths relative to the pipeline file). */
  plugins: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  dataset: pluginRef("dataset"),
  /** The network: a model plugin (a zoo architecture pre-trained on the source domain). Give this or `source`. */
  model: Schema.optional(pluginRef("model")),
  /**
   * A pre-trained TensorFlow.js LayersModel to start from instead (`load`: its model.json, relative to the
   * pipeline file; `groups`: layer-name patterns per layer group, input side first). Shorthand for
   * `model: { model: tfjs-layers, options: { path, groups } }`.
   */
  source: Schema.optional(Schema.Struct({
    load: Schema.String,
    groups: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })),
    /** Fine-tuned weights saved by a run (`save: true`), applied on top (relative to the pipeline file). */
    weights: Schema.optional(Schema.String),
  })),
  pretrain: Schema.optionalWith(PretrainSchema, { default: () => Schema.decodeSync(PretrainSchema)({}) }),
  target: Schema.optionalWith(TargetSchema, { default: () => Schema.decodeSync(TargetSchema)({}) }),
  finetune: Schema.optionalWith(FinetuneSchema, { default: () => Schema.decodeSync(FinetuneSchema)({}) }),
  shifts: Schema.NonEmptyArray(pluginRef("shift")),
  selections: Schema.NonEmptyArray(pluginRef("selector")),
  evaluators: Schema.optionalWith(Schema.NonEmptyArray(pluginRef("evaluator")), {
    default: () => ["accuracy"] as const,
  }),
});

/** A decoded pipeline file (plugin options not yet decoded). */
export type PipelineFile = typeof PipelineSchema.Type;

/** The JSON Schema of the pipeline file, for editors. */
export const pipelineJsonSchema = (): object => JSONSchema.make(Schema.encodedSchema(PipelineSchema));

/** Render a parse path as `shifts[1].options.severity`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, p) => typeof p === "number" ? `${acc}[${p}]` : acc === "" ? String(p) : `${acc}.${String(p)}`,
    "",
  );

/** One line per issue: `path: message`. */
export const formatParseError = (error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey> = []): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error);
  const key = (path: ReadonlyArray<PropertyKey>) => path.map(String).join("\u0000");
  const explained = new Set(
    issues.filter((i) => !/^Expected undefined, actual/.test(i.message)).map((i) => key(i.path)),
  );
  return issues
    // an optional field reports "Expected undefined" beside the real reason: keep the real one
    .filter((i) => !(/^Expected undefined, actual/.test(i.message) && explained.has(key(i.path))))
    .map((issue) => {
      const path = formatPath([...prefix, ...issue.path]);
      return `  ${path === "" ? "(top level)" : path}: ${issue.message}`;
    })
    .join("\n");
};
