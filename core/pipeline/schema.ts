/**
 * The pipeline file schema (effect/Schema): what a YAML or JSON pipeline file may
 * say, with defaults. Plugin options are decoded later by each plugin's own schema
 * (see registry.ts), so their errors name the plugin and the exact path.
 * @module
 */
import { JSONSchema, ParseResult, Schema, SchemaAST } from "effect";
import { ownDescription, typeText } from "../plugin_options.ts";
import { backendChoices } from "../backend.ts";

/**
 * A plugin's options: decoded later by the plugin's own schema. In the JSON Schema an object (what every built-in
 * plugin takes) rather than effect's `unknown`, whose fixed `$id`, repeated once per plugin kind, makes the
 * document ambiguous to validators such as ajv.
 */
const PluginOptions = Schema.Unknown.annotations({
  jsonSchema: { type: "object", description: "The plugin's options (`scalpel plugins` lists them)." },
});

/**
 * A reference to a plugin: its name alone, or `{ <kind>: name, options: {...} }`.
 * `what` says what the plugin is for; the accepted forms are appended.
 */
const pluginRef = <K extends string>(kind: K, what = `${/^[aeiou]/.test(kind) ? "An" : "A"} ${kind} plugin`) =>
  Schema.Union(
    Schema.String,
    Schema.Struct(
      { [kind]: Schema.String, options: Schema.optional(PluginOptions) } as
        & {
          [P in K]: typeof Schema.String;
        }
        & { options: Schema.optional<typeof PluginOptions> },
    ),
  ).annotations({
    description: `${what}: its name, or { ${kind}: name, options: {...} }.`,
  });

const PositiveInt = Schema.Int.pipe(Schema.positive());
const PositiveNumber = Schema.Number.pipe(Schema.positive(), Schema.finite());

/** Budget for pre-training the source model. */
export const PretrainSchema = Schema.Struct({
  epochs: Schema.optionalWith(
    PositiveInt.annotations({ description: "Passes over the source training examples when pre-training." }),
    { default: () => 2 },
  ),
  batchSize: Schema.optionalWith(
    PositiveInt.annotations({ description: "Examples per pre-training batch." }),
    { default: () => 64 },
  ),
  learningRate: Schema.optionalWith(
    PositiveNumber.annotations({ description: "Adam learning rate of pre-training." }),
    { default: () => 1e-3 },
  ),
  examples: Schema.optional(PositiveInt.annotations({
    description: "Pre-train on this many source training examples (a seeded sample); on all of them when absent.",
  })),
});

/** Sizes of the target splits. */
export const TargetSchema = Schema.Struct({
  train: Schema.optionalWith(
    Schema.Union(PositiveInt, Schema.NonEmptyArray(PositiveInt)).annotations({
      description: "Labelled target examples used for fine-tuning (a stratified sample of the target train split); " +
        "a list makes the number of labelled examples a grid dimension (smaller samples are nested in larger ones; " +
        "validation and test stay fixed).",
    }),
    { default: () => 800 },
  ),
  val: Schema.optionalWith(
    PositiveInt.annotations({
      description: "Labelled target examples used to choose the learning rate and epoch (disjoint from train).",
    }),
    { default: () => 200 },
  ),
  test: Schema.optionalWith(
    PositiveInt.annotations({
      description: "Held-out target test examples (from the target test split, never used to choose anything).",
    }),
    { default: () => 2000 },
  ),
});

/** Fine-tuning settings; the learning rate and epoch count are chosen on target validation. */
export const FinetuneSchema = Schema.Struct({
  epochs: Schema.optionalWith(
    PositiveInt.annotations({
      description: "Maximum fine-tuning epochs; the epoch with the best validation score is the one reported.",
    }),
    { default: () => 10 },
  ),
  batchSize: Schema.optionalWith(
    PositiveInt.annotations({ description: "Examples per fine-tuning batch." }),
    { default: () => 32 },
  ),
  learningRates: Schema.optionalWith(
    Schema.NonEmptyArray(PositiveNumber).annotations({
      description: "Learning-rate grid (one trial each; the best one is chosen on target validation).",
    }),
    { default: () => [1e-2, 1e-3, 1e-4] as const },
  ),
  prefixCache: Schema.optionalWith(
    Schema.Boolean.annotations({
      description: "Compute the frozen layers' activations once per target split instead of at every step " +
        "(same results; turn off only to compare or to save memory).",
    }),
    { default: () => true },
  ),
});

/** The whole pipeline file. */
export const PipelineSchema = Schema.Struct({
  name: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]+$/)).annotations({
      description: "Name of the study (letters, digits, . _ -), used for the default run directory.",
    }),
    { default: () => "pipeline" },
  ),
  description: Schema.optional(Schema.String.annotations({
    description: "Free-form description of the study, recorded in the run's pipeline.resolved.json.",
  })),
  seed: Schema.optionalWith(
    Schema.Int.pipe(Schema.nonNegative()).annotations({
      description: "Root seed: every random stream derives from it.",
    }),
    { default: () => 0 },
  ),
  seeds: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 100)).annotations({
      description:
        "Fine-tuning seeds per shift × selection × learning rate (results are mean ± standard error over them).",
    }),
    { default: () => 1 },
  ),
  backend: Schema.optionalWith(
    Schema.Literal(...backendChoices).annotations({
      description: "Tensor backend: wasm (XNNPACK), cpu (pure JS, slow reference), node (tfjs-node, when its " +
        "native binding loads), webgpu (tfjs-backend-webgpu on Deno's WebGPU: a GPU with its Vulkan driver) or " +
        "auto (webgpu on a real GPU, else node if it loads, else wasm).",
    }),
    { default: () => "wasm" as const },
  ),
  save: Schema.optionalWith(
    Schema.Boolean.annotations({
      description: "Save each trial's fine-tuned weights (at the chosen epoch) to `<run>/models/<trial key>.weights`.",
    }),
    { default: () => false },
  ),
  plugins: Schema.optionalWith(
    Schema.Array(Schema.String).annotations({
      description: "Custom plugin modules (paths relative to the pipeline file).",
    }),
    { default: () => [] },
  ),
  dataset: pluginRef("dataset", "The base dataset (train and test splits) that every shift starts from"),
  model: Schema.optional(
    pluginRef("model", "The network, pre-trained on the source domain (give this or `source`); a model plugin"),
  ),
  source: Schema.optional(
    Schema.Struct({
      load: Schema.String.annotations({
        description: "The LayersModel's model.json (weight files beside it), relative to the pipeline file.",
      }),
      groups: Schema.optional(
        Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }).annotations({
          description: "Layer-name patterns (globs or /regex/) per layer group, input side first; the last group is " +
            "the head.",
        }),
      ),
      weights: Schema.optional(Schema.String.annotations({
        description:
          "Fine-tuned weights saved by a run (`save: true`), applied on top (relative to the pipeline file).",
      })),
    }).annotations({
      description: "A pre-trained TensorFlow.js LayersModel to start from instead of `model` " +
        "(shorthand for `model: { model: tfjs-layers, options: { path, groups } }`).",
    }),
  ),
  pretrain: Schema.optionalWith(
    PretrainSchema.annotations({
      description: "Budget for pre-training the source model (not used when the model is loaded pre-trained).",
    }),
    { default: () => Schema.decodeSync(PretrainSchema)({}) },
  ),
  target: Schema.optionalWith(
    TargetSchema.annotations({ description: "Sizes of the target splits, in examples." }),
    { default: () => Schema.decodeSync(TargetSchema)({}) },
  ),
  finetune: Schema.optionalWith(
    FinetuneSchema.annotations({
      description: "Fine-tuning settings; the learning rate and epoch are chosen on target validation.",
    }),
    { default: () => Schema.decodeSync(FinetuneSchema)({}) },
  ),
  shifts: Schema.NonEmptyArray(pluginRef("shift")).annotations({
    description: "The distribution shifts to study, each giving a source and a target domain (a list of names " +
      "or severities in a shift's options expands into one shift per value).",
  }),
  selections: Schema.NonEmptyArray(pluginRef("selector")).annotations({
    description: "The layer selections to compare: selectors that decide which layers fine-tuning trains.",
  }),
  evaluators: Schema.optionalWith(
    Schema.NonEmptyArray(pluginRef("evaluator")).annotations({
      description: "Metrics of each trial on target validation and test; the first number of the first one ranks " +
        "trials on validation.",
    }),
    { default: () => ["accuracy"] as const },
  ),
  report: Schema.optional(
    Schema.Struct({
      charts: Schema.Array(Schema.String).annotations({
        description: "Vega-Lite specs (JSON files, paths relative to the pipeline file) drawn in report.html " +
          "with the run's result lines as their data; checked before the run starts.",
      }),
    }).annotations({ description: "What report.html shows besides its own charts." }),
  ),
});

/** A decoded pipeline file (plugin options not yet decoded). */
export type PipelineFile = typeof PipelineSchema.Type;

/**
 * The JSON Schema of the pipeline file, for editors: what a YAML/JSON file may contain, with each field's
 * description and constraints (integer, bounds, pattern). Made from PipelineSchema itself, not from
 * `Schema.encodedSchema(PipelineSchema)`: that drops every refinement, and with it the descriptions annotated on
 * them and the integer/bound constraints. JSONSchema.make renders a struct with defaults by its encoded side
 * (those fields optional) and copies each field's description over from the decoded side.
 */
export const pipelineJsonSchema = (): object => inlineDefinitions(JSONSchema.make(PipelineSchema));

/**
 * The schema with its non-recursive `$defs` (effect's `Int`) inlined and the `allOf` wrappers this leaves redundant
 * removed: draft-07 ignores the siblings of a `$ref` (where JSONSchema.make puts a refined integer's bounds and
 * description), and the result reads more plainly.
 */
const inlineDefinitions = (schema: object): object => {
  const { $defs = {}, ...rest } = schema as { $defs?: Record<string, unknown> };
  let kept = false;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== "object" || value === null) return value;
    let node: Record<string, unknown> = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    if (typeof node.$ref === "string") {
      const name = node.$ref.replace(/^#\/\$defs\//, "").replace(/~1/g, "/").replace(/~0/g, "~");
      const def = $defs[name];
      if (def !== undefined && !JSON.stringify(def).includes('"$ref"')) {
        const { $ref: _, ...siblings } = node;
        node = { ...(def as object), ...siblings };
      } else kept = true;
    }
    const { allOf, ...annotations } = node;
    if (Array.isArray(allOf) && allOf.length === 1 && typeof allOf[0] === "object" && allOf[0] !== null) {
      const inner = allOf[0] as Record<string, unknown>;
      // JSONSchema.make wraps a node in allOf to annotate it again with what it already says
      if (Object.entries(annotations).every(([k, v]) => JSON.stringify(inner[k]) === JSON.stringify(v))) return inner;
    }
    return node;
  };
  const out = walk(rest) as Record<string, unknown>;
  return kept ? { ...out, $defs } : out;
};

/** Render a parse path as `shifts[1].options.severity`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, p) => typeof p === "number" ? `${acc}[${p}]` : acc === "" ? String(p) : `${acc}.${String(p)}`,
    "",
  );

/** Edit distance of two short strings (for "did you mean"). */
const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
};

const LITERAL = /^Expected ("[^"]*"|-?\d[\d.e+-]*|true|false|null), actual (.*)$/s;

/**
 * The issues of one path as lines: many "Expected <literal>" alternatives (an enum such
 * as the corruption names) become one line listing them, with the closest as a
 * suggestion; the long type dumps of other alternatives beside it are dropped.
 */
const pathLines = (path: string, all: ReadonlyArray<string>): string[] => {
  // a value that may be given alone or as a list: the list alternative's type dump says nothing more
  const single = all.filter((m) => !/^Expected readonly \[/.test(m));
  const messages = single.length > 0 ? single : all;
  const literals = messages.map((m) => LITERAL.exec(m)).filter((m): m is RegExpExecArray => m !== null);
  if (literals.length < 3) return messages.map((m) => `  ${path}: ${m}`);
  const names = literals.map((m) => m[1]);
  const actual = literals[0][2];
  const unquoted = (x: string) => x.replace(/^"|"$/g, "");
  const closest = names.reduce((best, n) =>
    distance(unquoted(n), unquoted(actual)) < distance(unquoted(best), unquoted(actual)) ? n : best
  );
  const near = distance(unquoted(closest), unquoted(actual)) <= Math.max(2, unquoted(actual).length / 3);
  const others = messages.filter((m) => !LITERAL.test(m) && m.length <= 160);
  return [
    `  ${path}: ${actual} is not one of the ${names.length} accepted values: ${names.map(unquoted).join(", ")}` +
    (near ? ` (did you mean ${closest}?)` : ""),
    ...others.map((m) => `  ${path}: ${m}`),
  ];
};

/**
 * effect's message for a leaf issue, except that a schema's own description (an option's
 * documentation) never stands in for what was expected: effect would say "Expected
 * Labelled target examples…, actual 0"; this says what type and range were expected.
 */
const leafMessage = (issue: ParseResult.ParseIssue, ast: SchemaAST.AST | undefined, actual: unknown): string => {
  const own = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]?.message ?? "is not valid";
  if (ast === undefined) return own;
  const description = ownDescription(ast);
  // only where effect's message is "Expected <the description>, …" (a filter's own message is kept)
  const replace = description !== undefined
    ? own.startsWith(`Expected ${description}, actual`)
    : SchemaAST.isTypeLiteral(ast) && /^Expected \S+ \(Encoded side\), actual/.test(own);
  return replace ? `Expected ${typeText(ast)}, actual ${JSON.stringify(actual) ?? String(actual)}` : own;
};

/** The leaves of a parse issue, with their paths. */
const leaves = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<PropertyKey>,
): Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }> => {
  switch (issue._tag) {
    case "Pointer":
      return leaves(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path as PropertyKey])]);
    case "Composite":
      return (Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue])
        .flatMap((i) => leaves(i, path));
    case "Refinement":
      return issue.kind === "From"
        ? leaves(issue.issue, path)
        : [{ path, message: leafMessage(issue, issue.ast, issue.actual) }];
    case "Transformation":
      return leaves(issue.issue, path);
    case "Type":
      return [{ path, message: leafMessage(issue, issue.ast, issue.actual) }];
    default:
      return [{ path, message: ParseResult.ArrayFormatter.formatIssueSync(issue)[0]?.message ?? issue._tag }];
  }
};

/** One line per issue: `path: message`. */
export const formatParseError = (error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey> = []): string => {
  const issues = leaves(error.issue, []);
  const key = (path: ReadonlyArray<PropertyKey>) => path.map(String).join("\u0000");
  const real = issues.filter((i) => !/^Expected undefined, actual/.test(i.message)).map((i) => key(i.path));
  // an optional field reports "Expected undefined" beside the real reason (at its path or below it): keep the real one
  const explained = (path: ReadonlyArray<PropertyKey>) =>
    real.some((k) => k === key(path) || k.startsWith(key(path) + "\u0000") || path.length === 0);
  const kept = issues.filter((i) => !(/^Expected undefined, actual/.test(i.message) && explained(i.path)));
  const byPath = new Map<string, string[]>();
  for (const issue of kept) {
    const path = formatPath([...prefix, ...issue.path]);
    const shown = path === "" ? "(top level)" : path;
    byPath.set(shown, [...(byPath.get(shown) ?? []), issue.message]);
  }
  return [...byPath].flatMap(([path, messages]) => pathLines(path, messages)).join("\n");
};
