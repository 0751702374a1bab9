/**
 * The Registry service: the plugins a run can use, by kind and name. It decodes a
 * plugin reference from a pipeline file (`{ shift: corruption, options: {...} }`)
 * by looking the plugin up and decoding `options` with the plugin's own Schema,
 * and loads custom plugin modules listed under `plugins:`.
 * @module
 */
import { Context, Duration, Effect, Layer, ParseResult, Schema } from "effect";
import { type AnyPlugin, type PluginKind, pluginProblem } from "./plugin.ts";
import { PipelineFileError, PluginError } from "./errors.ts";
import { formatParseError, formatPath } from "./pipeline/schema.ts";

/** A plugin reference resolved against the registry, with its options decoded. */
export interface Resolved<K extends PluginKind = PluginKind> {
  readonly kind: K;
  readonly plugin: AnyPlugin;
  /** Decoded options (defaults filled in). */
  readonly options: unknown;
  /** Options encoded back to plain JSON, defaults included (for pipeline.resolved.json). */
  readonly encoded: Readonly<Record<string, unknown>>;
  /** Path of the reference in the pipeline file, e.g. `shifts[1]`. */
  readonly path: string;
}

/** The environment variable that sets the time limit of plugin loading and `make`, in seconds. */
export const PLUGIN_TIMEOUT_ENV = "SCALPEL_PLUGIN_TIMEOUT";

/** Time limit of loading a plugin module or making a plugin (default 60 s; see {@link PLUGIN_TIMEOUT_ENV}). */
export const pluginTimeout = (): Duration.Duration => {
  let text: string | undefined;
  try {
    text = Deno.env.get(PLUGIN_TIMEOUT_ENV);
  } catch {
    text = undefined;
  }
  const seconds = Number(text);
  return Duration.seconds(text !== undefined && Number.isFinite(seconds) && seconds > 0 ? seconds : 60);
};

/** The module file each custom plugin came from (built-ins are absent). */
const pluginSources = new WeakMap<AnyPlugin, string>();

/** `shift plugin "name"`, plus ` (from FILE)` for a custom plugin. */
export const describePlugin = (plugin: AnyPlugin): string => {
  const source = pluginSources.get(plugin);
  return `${plugin.kind} plugin "${plugin.name}"${source ? ` (from ${source})` : ""}`;
};

/** Plugins by kind and name. */
export interface PluginTable {
  /** All plugins of a kind, in registration order. */
  readonly list: (kind: PluginKind) => ReadonlyArray<AnyPlugin>;
  readonly get: (kind: PluginKind, name: string) => AnyPlugin | undefined;
}

/** Build a table from plugins (each kind and name once; see `shadowing` for custom plugins). */
export const makeTable = (plugins: ReadonlyArray<AnyPlugin>): PluginTable => {
  const byKey = new Map<string, AnyPlugin>();
  for (const p of plugins) byKey.set(`${p.kind}\u0000${p.name}`, p);
  const all = [...byKey.values()];
  return {
    list: (kind) => all.filter((p) => p.kind === kind),
    get: (kind, name) => byKey.get(`${kind}\u0000${name}`),
  };
};

/** The registry service. */
export class Registry extends Context.Tag("scalpel/Registry")<Registry, PluginTable>() {}

/** A registry layer holding `plugins`. */
export const registryLayer = (plugins: ReadonlyArray<AnyPlugin>): Layer.Layer<Registry> =>
  Layer.succeed(Registry, makeTable(plugins));

/**
 * Resolve a plugin reference (a name, or `{ <kind>: name, options }`) at `path`
 * (an array path inside the pipeline `file`).
 */
export const resolveRef = <K extends PluginKind>(
  table: PluginTable,
  file: string,
  kind: K,
  ref: string | Readonly<Record<string, unknown>>,
  path: ReadonlyArray<PropertyKey>,
): Effect.Effect<Resolved<K>, PipelineFileError | PluginError> =>
  Effect.gen(function* () {
    const name = typeof ref === "string" ? ref : String(ref[kind]);
    const rawOptions = typeof ref === "string" ? {} : (ref.options ?? {});
    const where = formatPath(path);
    const plugin = table.get(kind, name);
    if (!plugin) {
      return yield* new PluginError({
        kind,
        name,
        where: `${file}: ${where}`,
        detail: "is not registered",
        known: table.list(kind).map((p) => p.name),
      });
    }
    const decoded = yield* Effect.try({
      try: () => Schema.decodeUnknownEither(plugin.options, { errors: "all", onExcessProperty: "error" })(rawOptions),
      catch: (e) =>
        new PluginError({
          kind,
          name,
          where: `${file}: ${where}`,
          detail: `has an options schema that cannot decode (${
            e instanceof Error ? e.message.split("\n")[0] : String(e)
          }); \`options\` must be an effect Schema such as Schema.Struct({...})${
            pluginSources.has(plugin) ? ` — see ${pluginSources.get(plugin)}` : ""
          }`,
          known: [],
        }),
    });
    if (decoded._tag === "Left") {
      return yield* new PipelineFileError({
        file,
        detail: `options of ${kind} plugin "${name}":\n` +
          formatParseError(decoded.left, typeof ref === "string" ? path : [...path, "options"]),
      });
    }
    const encoded = Schema.encodeEither(plugin.options)(decoded.right);
    return {
      kind,
      plugin,
      options: decoded.right,
      encoded: (encoded._tag === "Right" ? encoded.right : rawOptions) as Record<string, unknown>,
      path: where,
    };
  });

/** Expand a resolved reference with its plugin's `grid` (if any) into one reference per grid point. */
export const expandGrid = <K extends PluginKind>(r: Resolved<K>): ReadonlyArray<Resolved<K>> => {
  if (!r.plugin.grid) return [r];
  return r.plugin.grid(r.options).map((options) => {
    const encoded = Schema.encodeEither(r.plugin.options)(options);
    return {
      ...r,
      options,
      encoded: (encoded._tag === "Right" ? encoded.right : r.encoded) as Record<string, unknown>,
    };
  });
};

/**
 * A custom plugin that has the kind and name of another plugin (a built-in, or one
 * from another module): a pipeline could silently get the wrong one, and a model
 * cache entry trained with the other. Undefined when there is none.
 */
export const shadowing = (
  builtins: ReadonlyArray<AnyPlugin>,
  custom: ReadonlyArray<AnyPlugin>,
): PluginError | undefined => {
  const seen = new Map(builtins.map((p) => [`${p.kind}\u0000${p.name}`, { plugin: p, what: "a built-in plugin" }]));
  for (const p of custom) {
    const key = `${p.kind}\u0000${p.name}`;
    const other = seen.get(key);
    const file = pluginSources.get(p) ?? "?";
    if (other !== undefined && other.plugin === p) continue; // the very same plugin, listed again
    if (other !== undefined) {
      return new PluginError({
        kind: p.kind,
        name: p.name,
        where: file,
        detail: `has the name of ${other.what} (${p.kind} "${p.name}"); plugin names must be unique, so that a ` +
          "pipeline file names one plugin only. Rename the custom plugin (its `name`)",
        known: [],
      });
    }
    seen.set(key, { plugin: p, what: `the plugin from ${file}` });
  }
  return undefined;
};

/** `SyntaxError: … (line 3, column 14)` from what a failed dynamic import threw. */
export const importErrorText = (e: unknown): string => {
  const text = String(e);
  const first = text.split("\n")[0].replace(/^TypeError: (?=\w*Error: )/, "");
  const at = /at file:\/\/[^\n]*?:(\d+):(\d+)\s*$/.exec(text.trim());
  return at ? `${first} (line ${at[1]}, column ${at[2]})` : first;
};

/**
 * Import custom plugin modules (absolute paths), each within `timeout`. Each must
 * default-export a plugin or an array of plugins made with the helpers in mod.ts.
 */
export const loadPluginModules = (
  files: ReadonlyArray<string>,
  timeout: Duration.Duration = pluginTimeout(),
): Effect.Effect<ReadonlyArray<AnyPlugin>, PluginError> =>
  Effect.forEach(files, (file) =>
    Effect.gen(function* () {
      const failed = (detail: string) =>
        new PluginError({ kind: "custom", name: file, where: file, detail, known: [] });
      const mod = yield* Effect.tryPromise({
        try: () => import(new URL(`file://${file}`).href) as Promise<Record<string, unknown>>,
        catch: (e) => failed(`failed to load: ${importErrorText(e)}`),
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            failed(
              `did not finish loading within ${
                Duration.format(timeout)
              } (a top-level await that never settles?); raise the limit with SCALPEL_PLUGIN_TIMEOUT=<seconds> if it is only slow`,
            ),
        }),
      );
      const exported: unknown[] = Array.isArray(mod.default) ? mod.default : [mod.default];
      const problem = exported.length === 0
        ? "exports an empty list"
        : exported.map((p) => pluginProblem(p)).find((x) => x !== undefined);
      if (problem !== undefined) {
        return yield* new PluginError({
          kind: "custom",
          name: file,
          where: file,
          detail: `does not default-export a plugin: ${problem}. A plugin module default-exports a value made by ` +
            "defineShift / defineSelector / defineEvaluator / defineDataset / defineModel from mod.ts",
          known: [],
        });
      }
      for (const p of exported as AnyPlugin[]) pluginSources.set(p, file);
      return exported as AnyPlugin[];
    })).pipe(Effect.map((lists) => lists.flat()));

/** Decode an unknown value with a schema, turning errors into a PipelineFileError. */
export const decodeOrFail = <A, I>(schema: Schema.Schema<A, I>, file: string, value: unknown) =>
  Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "error" })(value).pipe(
    Effect.mapError((e: ParseResult.ParseError) => new PipelineFileError({ file, detail: formatParseError(e) })),
  );
