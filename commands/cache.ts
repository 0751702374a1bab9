/**
 * `scalpel cache list` / `scalpel cache clear`: the cache of pre-trained source
 * models (`<cacheDir>/<key>.weights` + `<key>.json`, written by core/pretrain.ts).
 * `list` prints one line per cached model from its `.json` (model, dataset, source
 * domain, seed, budget, backend, source test accuracy) with its size on disk;
 * `clear` deletes the cache files — only `*.weights`, `*.json` and leftover
 * `*.tmp-*` files directly in that directory, nothing else — and prints them.
 * @module
 */
import { Command, Options } from "@effect/cli";
import { FileSystem, Path } from "@effect/platform";
import { Console, Effect } from "effect";
import { CommandLineError } from "../core/errors.ts";

/** The default cache directory (as in `scalpel run --cache`). */
export const DEFAULT_CACHE_DIR = ".cache/scalpel/models";

/** Whether a file name in the cache directory is a cache file `clear` may delete. */
export const isCacheFile = (name: string): boolean =>
  !name.includes("/") && (/\.weights$/.test(name) || /\.json$/.test(name) || /\.tmp-[^/]*$/.test(name));

/** The metadata file of a cached model, as far as `list` reads it. */
export interface CacheMeta {
  readonly key?: string;
  readonly model?: Readonly<Record<string, unknown>>;
  readonly dataset?: Readonly<Record<string, unknown>>;
  readonly sourceKey?: string;
  readonly seed?: number;
  readonly budget?: {
    readonly epochs?: number;
    readonly batchSize?: number;
    readonly learningRate?: number;
    readonly examples?: number;
  };
  readonly backend?: string;
  readonly sourceTestAccuracy?: number;
}

/** One cached model: its files, their total size and its metadata (when readable). */
export interface CacheEntry {
  readonly key: string;
  readonly files: ReadonlyArray<string>;
  readonly bytes: number;
  readonly meta: CacheMeta | undefined;
  /** Why the entry is incomplete or unreadable, if it is. */
  readonly problem: string | undefined;
}

/** `1.2 MiB`. */
export const formatBytes = (n: number): string => {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
};

/** `mnist(trainLimit=2000, testLimit=1000)` from a plugin reference `{ dataset: "mnist", options: {…} }`. */
export const refText = (ref: Readonly<Record<string, unknown>> | undefined): string => {
  if (!ref) return "?";
  const nameKey = Object.keys(ref).find((k) => k !== "options");
  const name = nameKey === undefined ? "?" : String(ref[nameKey]);
  const options = ref.options !== null && typeof ref.options === "object"
    ? Object.entries(ref.options as Record<string, unknown>)
    : [];
  return options.length === 0 ? name : `${name}(${options.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")})`;
};

/** `2 epochs, batch 64, lr 0.001, 20000 examples`. */
const budgetText = (b: CacheMeta["budget"]): string =>
  b === undefined
    ? "?"
    : `${b.epochs ?? "?"} epochs, batch ${b.batchSize ?? "?"}, lr ${b.learningRate ?? "?"}, ${
      b.examples ?? "all"
    } examples`;

/** The columns of `scalpel cache list`, one row per entry (header first). */
export const cacheTable = (entries: ReadonlyArray<CacheEntry>): string[] => {
  const header = ["key", "model", "dataset", "source", "seed", "budget", "backend", "source acc", "size"];
  const rows = entries.map((e) => {
    const m = e.meta;
    return [
      e.key,
      refText(m?.model),
      refText(m?.dataset),
      m?.sourceKey ?? "?",
      m?.seed === undefined ? "?" : String(m.seed),
      budgetText(m?.budget),
      m?.backend ?? "?",
      m?.sourceTestAccuracy === undefined ? "?" : `${(100 * m.sourceTestAccuracy).toFixed(2)} %`,
      formatBytes(e.bytes) + (e.problem ? `  (${e.problem})` : ""),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: ReadonlyArray<string>) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)];
};

const dirError = (dir: string, detail: string) =>
  new CommandLineError({
    flag: "--cache",
    detail: `${dir} ${detail}`,
    fix: "Give the directory of the pre-trained model cache (default .cache/scalpel/models).",
  });

/** The cache files directly in `dir` with their sizes; empty when `dir` does not exist. */
export const cacheFiles = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const fail = (what: string) => (e: { message: string }) => dirError(dir, `${what} (${e.message})`);
    if (!(yield* fs.exists(dir).pipe(Effect.mapError(fail("cannot be checked"))))) return [];
    const info = yield* fs.stat(dir).pipe(Effect.mapError(fail("cannot be read")));
    if (info.type !== "Directory") return yield* Effect.fail(dirError(dir, "is not a directory"));
    const names = (yield* fs.readDirectory(dir).pipe(Effect.mapError(fail("cannot be listed")))).filter(isCacheFile);
    const out: Array<{ name: string; bytes: number }> = [];
    for (const name of [...names].sort()) {
      const st = yield* fs.stat(path.join(dir, name)).pipe(Effect.option);
      if (st._tag === "Some" && st.value.type === "File") out.push({ name, bytes: Number(st.value.size) });
    }
    return out;
  });

/** The cached models in `dir` (grouped by key; leftover temporary files count towards their key). */
export const readCache = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const files = yield* cacheFiles(dir);
    const keys = [...new Set(files.map((f) => f.name.split(".")[0]))].sort();
    const entries: CacheEntry[] = [];
    for (const key of keys) {
      const mine = files.filter((f) => f.name.split(".")[0] === key);
      const names = mine.map((f) => f.name);
      let meta: CacheMeta | undefined;
      let problem: string | undefined;
      if (names.includes(`${key}.json`)) {
        const text = yield* fs.readFileString(path.join(dir, `${key}.json`)).pipe(Effect.option);
        try {
          if (text._tag === "None") throw new Error("unreadable");
          const parsed: unknown = JSON.parse(text.value);
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
          meta = parsed as CacheMeta;
        } catch {
          problem = "unreadable metadata";
        }
      } else problem = "no metadata";
      if (problem === undefined && !names.includes(`${key}.weights`)) problem = "no weights";
      if (problem === undefined && names.some((n) => n.includes(".tmp-"))) problem = "leftover temporary file";
      entries.push({ key, files: names, bytes: mine.reduce((n, f) => n + f.bytes, 0), meta, problem });
    }
    return entries;
  });

const cacheOption = Options.text("cache").pipe(
  Options.withDescription("pre-trained model cache directory"),
  Options.withDefault(DEFAULT_CACHE_DIR),
);

/** `scalpel cache list`. */
const list = Command.make("list", { cache: cacheOption }, (a) =>
  Effect.gen(function* () {
    const entries = yield* readCache(a.cache);
    if (entries.length === 0) {
      yield* Console.log(`The cache ${a.cache} is empty.`);
      return;
    }
    for (const line of cacheTable(entries)) yield* Console.log(line);
    const total = entries.reduce((n, e) => n + e.bytes, 0);
    yield* Console.log(`${entries.length} cached model(s), ${formatBytes(total)} in ${a.cache}`);
  })).pipe(Command.withDescription("list the cached pre-trained models (settings, source test accuracy, size)"));

/** `scalpel cache clear`. */
const clear = Command.make("clear", { cache: cacheOption }, (a) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const files = yield* cacheFiles(a.cache);
    if (files.length === 0) {
      yield* Console.log(`The cache ${a.cache} is empty; nothing to delete.`);
      return;
    }
    let bytes = 0;
    for (const f of files) {
      const file = path.join(a.cache, f.name);
      yield* fs.remove(file).pipe(
        Effect.mapError((e) => dirError(a.cache, `holds ${f.name}, which could not be deleted (${e.message})`)),
      );
      bytes += f.bytes;
      yield* Console.log(`deleted ${file}`);
    }
    yield* Console.log(`Deleted ${files.length} file(s), ${formatBytes(bytes)}, from ${a.cache}.`);
  })).pipe(
    Command.withDescription("delete the cached pre-trained models (*.weights, *.json, *.tmp-* in the directory)"),
  );

/** `scalpel cache list|clear`. */
export const cache = Command.make("cache").pipe(
  Command.withSubcommands([list, clear]),
  Command.withDescription("list or delete the cached pre-trained source models"),
);
