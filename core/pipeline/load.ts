/**
 * Read a pipeline file (YAML or JSON), decode it with the pipeline schema, load the
 * custom plugin modules it lists and resolve every plugin reference. All checks a
 * run needs before it touches the disk happen here, so `scalpel validate` and
 * `scalpel run` reject the same files with the same messages.
 * @module
 */
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import YAML from "yaml";
import { PipelineFileError, type PluginError } from "../errors.ts";
import {
  decodeOrFail,
  expandGrid,
  loadPluginModules,
  makeTable,
  Registry,
  type Resolved,
  resolveRef,
  shadowing,
} from "../registry.ts";
import { stableJson } from "../hash.ts";
import { type ChartSpec, compileSpec } from "../report/charts.ts";

import { type PipelineFile, PipelineSchema } from "./schema.ts";
import { type PluginKind, pluginKinds } from "../plugin.ts";

/** A pipeline with every plugin reference resolved and every default filled in. */
export interface ResolvedPipeline {
  /** The pipeline file as given on the command line. */
  readonly file: string;
  readonly settings: PipelineFile;
  readonly dataset: Resolved<"dataset">;
  readonly model: Resolved<"model">;
  readonly shifts: ReadonlyArray<Resolved<"shift">>;
  readonly selections: ReadonlyArray<Resolved<"selector">>;
  readonly evaluators: ReadonlyArray<Resolved<"evaluator">>;
  /** The pipeline file's own charts (`report.charts`), read and compiled. */
  readonly charts: ReadonlyArray<CustomChartSpec>;
}

/** A chart of the pipeline file (`report.charts`): its file as written, a name, the spec (without data). */
export interface CustomChartSpec {
  readonly file: string;
  readonly name: string;
  readonly spec: ChartSpec;
}

/** The largest pipeline file read (a pipeline file describes a grid; it does not list one). */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

/** The default largest grid (`--max-trials` raises it). */
export const DEFAULT_MAX_TRIALS = 100_000;

/** The most alias expansions a YAML pipeline file may use (a nested-alias "bomb" would exhaust memory). */
export const MAX_YAML_ALIASES = 100;

/** Parse YAML (a superset of JSON) text, naming line and column on error. */
export const parseText = (file: string, text: string): Effect.Effect<unknown, PipelineFileError> => {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return Effect.fail(
      new PipelineFileError({
        file,
        detail: doc.errors.map((e) => `  ${e.message.split("\n")[0]}`).join("\n") +
          `\n  (the file must be YAML or JSON)`,
      }),
    );
  }
  return Effect.try({
    try: () => doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown,
    catch: (e) =>
      new PipelineFileError({
        file,
        detail: `  ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}` +
          (/alias/i.test(String(e))
            ? ` (at most ${MAX_YAML_ALIASES} alias expansions: write the repeated part out, or use fewer nested aliases)`
            : ""),
      }),
  });
};

/** Limits of `loadPipeline`. */
export interface LoadLimits {
  /** The largest grid accepted (default {@link DEFAULT_MAX_TRIALS}; `--max-trials`). */
  readonly maxTrials?: number;
}

/** Two entries of a list that are the same (refs compared as resolved JSON), as `path: … the same as …`. */
const duplicateOf = <A>(items: ReadonlyArray<A>, keyOf: (a: A) => string): [number, number] | undefined => {
  const first = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const k = keyOf(items[i]);
    const j = first.get(k);
    if (j !== undefined) return [j, i];
    first.set(k, i);
  }
  return undefined;
};

/** Why the grid of `p` is refused (duplicates, too many trials), or undefined. */
const gridProblem = (p: ResolvedPipeline, maxTrials: number): string | undefined => {
  const lrs = p.settings.finetune.learningRates;
  const lr = duplicateOf(lrs, String);
  if (lr) {
    return `  finetune.learningRates[${lr[1]}]: ${lrs[lr[1]]} is listed twice (also at [${lr[0]}]); ` +
      "each learning rate would run twice under one trial key: list it once";
  }
  for (
    const [key, refs] of [["shifts", p.shifts], ["selections", p.selections], ["evaluators", p.evaluators]] as const
  ) {
    const d = duplicateOf<Resolved>(refs, (r) => stableJson(refJson(r)));
    if (d) {
      const [a, b] = [refs[d[0]], refs[d[1]]];
      const where = a.path === b.path ? `${b.path} (two points of its grid)` : `${b.path} (the same as ${a.path})`;
      return `  ${where}: ${key === "evaluators" ? "an evaluator" : key === "shifts" ? "a shift" : "a selection"} ` +
        `listed twice, ${JSON.stringify(refJson(b))}; it would run twice under one trial key: list it once`;
    }
  }
  const train = p.settings.target.train;
  const sizes = typeof train === "number" ? [train] : train;
  const size = duplicateOf(sizes, String);
  if (size) {
    return `  target.train[${size[1]}]: ${sizes[size[1]]} is listed twice (also at [${size[0]}]); list it once`;
  }
  const trials = p.shifts.length * p.selections.length * sizes.length * p.settings.seeds * lrs.length;
  if (trials > maxTrials) {
    return `  the grid has ${p.shifts.length} shift(s) × ${p.selections.length} selection(s) × ${
      sizes.length > 1 ? `${sizes.length} target sizes × ` : ""
    }${p.settings.seeds} seed(s) × ${lrs.length} learning rate(s) = ${
      trials.toLocaleString("en-US")
    } trials, more than the limit of ${
      maxTrials.toLocaleString("en-US")
    }; make the grid smaller, or raise the limit with --max-trials`;
  }
  return undefined;
};

/** The plugin reference as JSON for pipeline.resolved.json. */
export const refJson = (r: Resolved): Record<string, unknown> => ({ [r.kind]: r.plugin.name, options: r.encoded });

/** Read, decode and resolve a pipeline file; `overrides` replace top-level settings (CLI flags). */
export const loadPipeline = (
  file: string,
  overrides: Partial<Pick<PipelineFile, "seed" | "backend">> = {},
  limits: LoadLimits = {},
): Effect.Effect<ResolvedPipeline, PipelineFileError | PluginError, FileSystem.FileSystem | Path.Path | Registry> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const size = yield* fs.stat(file).pipe(Effect.map((st) => Number(st.size)), Effect.orElseSucceed(() => 0));
    if (size > MAX_PIPELINE_BYTES) {
      return yield* new PipelineFileError({
        file,
        detail:
          `  the file has ${size.toLocaleString("en-US")} bytes, more than ${
            MAX_PIPELINE_BYTES.toLocaleString("en-US")
          }: ` +
          "a pipeline file describes a grid (lists of shifts, selections, learning rates), it does not list every trial",
      });
    }
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((e) =>
        new PipelineFileError({
          file,
          detail: `cannot be read: ${e._tag === "SystemError" && e.reason === "NotFound" ? "no such file" : e.message}`,
          unreadable: true,
        })
      ),
    );
    const raw = yield* parseText(file, text);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return yield* new PipelineFileError({
        file,
        detail: "  the top level must be a mapping (dataset:, model:, shifts:, selections:, …)",
      });
    }
    const settings = { ...(yield* decodeOrFail(PipelineSchema, file, raw)), ...overrides };
    const base = yield* Registry;
    const dir = path.dirname(path.resolve(file));
    const custom = yield* loadPluginModules(settings.plugins.map((p) => path.resolve(dir, p)));
    const builtins = pluginKinds.flatMap((k) => base.list(k));
    const shadow = shadowing(builtins, custom);
    if (shadow) return yield* shadow;
    const table = makeTable([...builtins, ...custom]);
    type Ref = string | Readonly<Record<string, unknown>>;
    const one = <K extends PluginKind>(kind: K, ref: Ref, at: ReadonlyArray<PropertyKey>) =>
      resolveRef(table, file, kind, ref, at);
    const many = <K extends PluginKind>(kind: K, refs: ReadonlyArray<Ref>, key: string) =>
      Effect.forEach(refs, (ref, i) => one(kind, ref, [key, i])).pipe(Effect.map((rs) => rs.flatMap(expandGrid)));
    if ((settings.model === undefined) === (settings.source === undefined)) {
      return yield* new PipelineFileError({
        file,
        detail: settings.model === undefined
          ? "  model: missing — give `model:` (e.g. small-cnn) or `source: { load: path/to/model.json }`"
          : "  source: give either `model:` or `source:`, not both",
      });
    }
    const modelRef: Ref = settings.source === undefined ? settings.model as Ref : {
      model: "tfjs-layers",
      options: {
        path: path.resolve(dir, settings.source.load),
        ...(settings.source.groups === undefined ? {} : { groups: settings.source.groups }),
        ...(settings.source.weights === undefined ? {} : { weights: path.resolve(dir, settings.source.weights) }),
      },
    };
    const resolved: ResolvedPipeline = {
      file,
      settings,
      dataset: yield* one("dataset", settings.dataset, ["dataset"]),
      model: yield* one("model", modelRef, settings.model === undefined ? ["source"] : ["model"]),
      shifts: yield* many("shift", settings.shifts, "shifts"),
      selections: yield* many("selector", settings.selections, "selections"),
      evaluators: yield* many("evaluator", settings.evaluators, "evaluators"),
      charts: yield* loadCharts(file, dir, settings.report?.charts ?? []),
    };
    const problem = gridProblem(resolved, limits.maxTrials ?? DEFAULT_MAX_TRIALS);
    if (problem) return yield* new PipelineFileError({ file, detail: problem });
    return resolved;
  });

/**
 * Read and compile the pipeline file's charts: a file that is missing, not JSON, not an
 * object or not a Vega-Lite spec that compiles is a PipelineFileError naming it.
 */
const loadCharts = (file: string, dir: string, charts: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const out: CustomChartSpec[] = [];
    for (const [i, chart] of charts.entries()) {
      const fail = (detail: string) =>
        new PipelineFileError({
          file,
          detail: `  report.charts[${i}]: ${chart} ${detail} (a chart is a Vega-Lite spec in JSON whose data are ` +
            "the run's result lines: see the README's report section for their fields)",
        });
      const text = yield* fs.readFileString(path.resolve(dir, chart)).pipe(
        Effect.mapError((e) =>
          fail(`cannot be read: ${e._tag === "SystemError" && e.reason === "NotFound" ? "no such file" : e.message}`)
        ),
      );
      const spec = yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => fail(`is not JSON: ${e}`),
      });
      if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
        return yield* fail("is not a JSON object");
      }
      const withData = { ...spec, data: { values: [] } } as ChartSpec;
      yield* Effect.try({
        try: () => compileSpec(withData),
        catch: (e) => fail(`does not compile as a Vega-Lite spec: ${String(e instanceof Error ? e.message : e)}`),
      });
      const base = path.basename(chart).replace(/\.vl\.json$|\.json$/, "").replace(/[^A-Za-z0-9_-]+/g, "-");
      out.push({ file: chart, name: `custom-${i + 1}-${base}`, spec: spec as ChartSpec });
    }
    return out;
  });

/** The resolved pipeline as plain JSON: every default filled in. */
export const resolvedJson = (p: ResolvedPipeline): Record<string, unknown> => ({
  name: p.settings.name,
  ...(p.settings.description === undefined ? {} : { description: p.settings.description }),
  seed: p.settings.seed,
  seeds: p.settings.seeds,
  backend: p.settings.backend,
  save: p.settings.save,
  plugins: p.settings.plugins,
  dataset: refJson(p.dataset),
  model: refJson(p.model),
  pretrain: p.settings.pretrain,
  target: p.settings.target,
  finetune: p.settings.finetune,
  shifts: p.shifts.map(refJson),
  selections: p.selections.map(refJson),
  evaluators: p.evaluators.map(refJson),
  // only when given, so that the resolved pipelines of runs from before charts existed stay what they were
  ...(p.settings.report === undefined ? {} : { report: p.settings.report }),
});
