/**
 * `scalpel cache list` / `scalpel cache clear`: the cache of pre-trained source models
 * (core/cache.ts). `list` prints one line per cached model from its metadata (model,
 * dataset, source domain, seed, budget, backend, source test accuracy) with its size
 * on disk; `clear` deletes the cache's own files (`<key>.weights`, `<key>.json` and
 * their leftover temporary files) and nothing else, and refuses a directory that is not
 * a scalpel model cache.
 * @module
 */
import { Command, Options } from "@effect/cli";
import { Console, Effect } from "effect";
import { type CacheEntry, type CacheMeta, clearCache, DEFAULT_CACHE_DIR, listCache } from "../core/cache.ts";

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
const budgetText = (b: CacheMeta["spec"]["budget"] | undefined): string =>
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
      refText(m?.spec.model),
      refText(m?.dataset),
      m?.sourceKey ?? "?",
      m?.spec.seed === undefined ? "?" : String(m.spec.seed),
      budgetText(m?.spec.budget),
      m?.spec.backend ?? "?",
      m === undefined || !Number.isFinite(m.sourceTestAccuracy) ? "?" : `${(100 * m.sourceTestAccuracy).toFixed(2)} %`,
      formatBytes(e.bytes) + (e.problem ? `  (${e.problem})` : ""),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: ReadonlyArray<string>) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)];
};

const cacheOption = Options.text("cache").pipe(
  Options.withDescription("pre-trained model cache directory"),
  Options.withDefault(DEFAULT_CACHE_DIR),
);

/** `scalpel cache list`. */
const list = Command.make("list", { cache: cacheOption }, (a) =>
  Effect.gen(function* () {
    const entries = yield* listCache(a.cache);
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
    const deleted = yield* clearCache(a.cache);
    if (deleted.length === 0) {
      yield* Console.log(`The cache ${a.cache} is empty; nothing to delete.`);
      return;
    }
    for (const d of deleted) yield* Console.log(`deleted ${d.file}`);
    const bytes = deleted.reduce((n, d) => n + d.bytes, 0);
    yield* Console.log(`Deleted ${deleted.length} file(s), ${formatBytes(bytes)}, from ${a.cache}.`);
  })).pipe(
    Command.withDescription(
      "delete the cached pre-trained models (the cache's own *.weights / *.json files; a directory that is not a cache is refused)",
    ),
  );

/** `scalpel cache list|clear`. */
export const cache = Command.make("cache").pipe(
  Command.withSubcommands([list, clear]),
  Command.withDescription("list or delete the cached pre-trained source models"),
);
