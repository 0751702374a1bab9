/**
 * The cache of pre-trained source models. A cache directory holds a marker file
 * (`scalpel-cache.json`) and, per model, `<key>.weights` and `<key>.json` (its
 * metadata, written last: an entry without it is incomplete and never used). The key
 * is a hash of everything that determines the weights, the source data's content
 * included. Only files of that pattern are ever deleted, and only from a directory
 * that is a cache.
 * @module
 */
import { Effect, Either, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { CacheError } from "./errors.ts";
import { contentHash } from "./hash.ts";
import { decodeSnapshot, encodeSnapshot, type Snapshot } from "./model.ts";
import { writeFileAtomic } from "./store.ts";
import { killPoint } from "./killpoint.ts";

/** The default cache directory (`--cache` of `scalpel run`). */
export const DEFAULT_CACHE_DIR = ".cache/scalpel/models";

/** The marker file that makes a directory a scalpel model cache. */
export const CACHE_MARKER = "scalpel-cache.json";

const MarkerSchema = Schema.Struct({ format: Schema.Literal("scalpel-model-cache"), version: Schema.Literal(1) });

/**
 * Revision of the training numerics (kernels, optimiser). Bump it when a change moves
 * trained weights even by float rounding, so that models cached by older code are
 * trained again instead of reused. 2: the wasm max-pool, matmul and filter-gradient kernels;
 * 3: eval-mode batch norm folded into the convolution (changes validation scores by rounding);
 * 4: the zoo follows PyTorch (default initialisation, symmetric padding at stride 2, batch norm's
 * closed-form gradient in pre-training).
 */
export const TRAINING_NUMERICS = 4;

/** How long the source model is pre-trained. */
export const BudgetSchema = Schema.Struct({
  epochs: Schema.Int,
  batchSize: Schema.Int,
  learningRate: Schema.Number,
  examples: Schema.optional(Schema.Int),
});

/** Everything that determines a pre-trained model. */
export const PretrainSpecSchema = Schema.Struct({
  /** The model plugin reference (name and options). */
  model: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Content hash of the source domain's data (see core/hash.ts `datasetHash`). */
  data: Schema.String,
  seed: Schema.Int,
  budget: BudgetSchema,
  /** The backend that trains (numerics differ between backends). */
  backend: Schema.String,
});

/** Everything that determines a pre-trained model. */
export type PretrainSpec = typeof PretrainSpecSchema.Type;

/** The metadata of one cached model: its spec, how it was made, and its source test accuracy. */
export const CacheMetaSchema = Schema.Struct({
  format: Schema.Literal("scalpel-pretrained/2"),
  key: Schema.String,
  spec: PretrainSpecSchema,
  numerics: Schema.Int,
  /** For people (`cache list`): the dataset plugin reference and the shift's source key. */
  dataset: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  sourceKey: Schema.String,
  /** NaN (an empty test split) is written as null. */
  sourceTestAccuracy: Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
    strict: true,
    decode: (x) => x ?? NaN,
    encode: (x) => (Number.isNaN(x) ? null : x),
  }),
});

/** The metadata of one cached model. */
export type CacheMeta = typeof CacheMetaSchema.Type;

/** Cache key of a pre-training spec. */
export const pretrainKey = (spec: PretrainSpec): string =>
  contentHash({ format: 2, numerics: TRAINING_NUMERICS, ...spec });

/** Names of the files an entry may have: `<key>.weights`, `<key>.json`, and their temporary files. */
const ENTRY_FILE = /^([0-9a-f]{16})\.(weights|json)(\.tmp-\d+)?$/;

/** True when `name` is a file the cache writes (and `clear` may delete). */
export const isCacheFile = (name: string): boolean => ENTRY_FILE.test(name);

const cacheError = (dir: string, detail: string, fix = "Check the permissions and free space of that directory.") =>
  new CacheError({ dir, detail, fix });

const NOT_A_CACHE = (dir: string, names: ReadonlyArray<string>) =>
  cacheError(
    dir,
    `is not a scalpel model cache: it has no ${CACHE_MARKER} and holds other files (${names.slice(0, 3).join(", ")}${
      names.length > 3 ? ", …" : ""
    })`,
    "Give the directory of the pre-trained model cache (default .cache/scalpel/models), or a new or empty one.",
  );

/**
 * What is in `dir`: `absent` (no such directory), `cache` (a marked cache, or an
 * unmarked directory holding only cache files — a cache of an older scalpel, adopted),
 * or fails with a CacheError when it is something else.
 */
export const inspectCacheDir = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const fail = (what: string) => (e: { message: string }) => cacheError(dir, `${what} (${e.message})`);
    if (!(yield* fs.exists(dir).pipe(Effect.mapError(fail("cannot be checked"))))) return "absent" as const;
    const info = yield* fs.stat(dir).pipe(Effect.mapError(fail("cannot be read")));
    if (info.type !== "Directory") {
      return yield* cacheError(dir, "is not a directory", "Give the directory of the pre-trained model cache.");
    }
    const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(fail("cannot be listed")));
    if (names.includes(CACHE_MARKER)) {
      const marker = yield* fs.readFileString(path.join(dir, CACHE_MARKER)).pipe(
        Effect.map(Schema.decodeUnknownEither(Schema.parseJson(MarkerSchema))),
        Effect.mapError(fail(`${CACHE_MARKER} cannot be read`)),
      );
      if (Either.isLeft(marker)) {
        return yield* cacheError(
          dir,
          `has a ${CACHE_MARKER} that is not scalpel's`,
          "Give the directory of the pre-trained model cache, or a new one.",
        );
      }
      return "cache" as const;
    }
    const others = names.filter((n) => !isCacheFile(n));
    if (others.length > 0) return yield* NOT_A_CACHE(dir, others);
    return "cache" as const;
  });

/** Make `dir` a cache (created when absent, marked when unmarked); fails when it is something else. */
export const ensureCacheDir = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    yield* inspectCacheDir(dir);
    const marker = path.join(dir, CACHE_MARKER);
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(
      Effect.mapError((e) => cacheError(dir, `cannot be created (${e.message})`)),
    );
    if (!(yield* fs.exists(marker).pipe(Effect.orElseSucceed(() => false)))) {
      yield* writeFileAtomic(marker, JSON.stringify({ format: "scalpel-model-cache", version: 1 }) + "\n").pipe(
        Effect.mapError((e) => cacheError(dir, `writing ${CACHE_MARKER} failed (${e.message})`)),
      );
    }
  });

/** A cache lookup: the entry, or why there is none (absent, incomplete, unreadable: all a miss). */
export type CacheLookup =
  | { readonly _tag: "Hit"; readonly weights: Snapshot; readonly meta: CacheMeta }
  | { readonly _tag: "Miss"; readonly reason?: string };

/** The metadata of cached model `key`: decoded, `absent` (no file) or `unreadable` (not this key's metadata). */
const metaOf = (dir: string, key: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const text = yield* fs.readFileString(path.join(dir, `${key}.json`)).pipe(Effect.option);
    if (text._tag === "None") return "absent" as const;
    const meta = Schema.decodeUnknownEither(Schema.parseJson(CacheMetaSchema))(text.value);
    return Either.isRight(meta) && meta.right.key === key ? meta.right : "unreadable" as const;
  });

/** Look up model `key` in `dir`. Never fails: anything unreadable is a miss (the model is trained again). */
export const readCached = (dir: string, key: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const meta = yield* metaOf(dir, key);
    if (meta === "absent") return { _tag: "Miss" } as CacheLookup;
    if (meta === "unreadable") return { _tag: "Miss", reason: "its metadata is unreadable" } as CacheLookup;
    const bytes = yield* fs.readFile(path.join(dir, `${key}.weights`)).pipe(Effect.option);
    if (bytes._tag === "None") return { _tag: "Miss", reason: "its weights file is missing" } as CacheLookup;
    try {
      return { _tag: "Hit", weights: decodeSnapshot(bytes.value), meta } as CacheLookup;
    } catch (e) {
      return { _tag: "Miss", reason: `its weights file is damaged (${String(e)})` } as CacheLookup;
    }
  });

/** Store a model in the cache: weights first, metadata last (an entry without metadata is never used). */
export const writeCached = (dir: string, weights: Snapshot, meta: CacheMeta) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    yield* ensureCacheDir(dir);
    const fail = (e: { message: string }) => cacheError(dir, `writing model ${meta.key} failed (${e.message})`);
    yield* writeFileAtomic(path.join(dir, `${meta.key}.weights`), encodeSnapshot(weights)).pipe(Effect.mapError(fail));
    killPoint("cache-write");
    const json = JSON.stringify(Schema.encodeSync(CacheMetaSchema)(meta), null, 2) + "\n";
    yield* writeFileAtomic(path.join(dir, `${meta.key}.json`), json).pipe(Effect.mapError(fail));
  });

/** One cached model: its files, their total size, and its metadata or what is wrong with it. */
export interface CacheEntry {
  readonly key: string;
  readonly files: ReadonlyArray<string>;
  readonly bytes: number;
  readonly meta: CacheMeta | undefined;
  /** Why the entry is incomplete or unreadable, if it is. */
  readonly problem: string | undefined;
}

/** The cache files in `dir` with their sizes (empty when `dir` does not exist); fails when `dir` is not a cache. */
export const cacheFiles = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    if ((yield* inspectCacheDir(dir)) === "absent") return [];
    const names = (yield* fs.readDirectory(dir).pipe(
      Effect.mapError((e) => cacheError(dir, `cannot be listed (${e.message})`)),
    )).filter(isCacheFile);
    const out: Array<{ name: string; bytes: number }> = [];
    for (const name of [...names].sort()) {
      const st = yield* fs.stat(path.join(dir, name)).pipe(Effect.option);
      if (st._tag === "Some" && st.value.type === "File") out.push({ name, bytes: Number(st.value.size) });
    }
    return out;
  });

/** The cached models in `dir`, by key (leftover temporary files count towards their key). */
export const listCache = (dir: string) =>
  Effect.gen(function* () {
    const files = yield* cacheFiles(dir);
    const keyOf = (name: string) => ENTRY_FILE.exec(name)![1];
    const entries: CacheEntry[] = [];
    for (const key of [...new Set(files.map((f) => keyOf(f.name)))].sort()) {
      const mine = files.filter((f) => keyOf(f.name) === key);
      const names = mine.map((f) => f.name);
      const read = names.includes(`${key}.json`) ? yield* metaOf(dir, key) : "absent";
      const meta = typeof read === "string" ? undefined : read;
      let problem = read === "absent"
        ? "no metadata: incomplete, never used"
        : read === "unreadable"
        ? "unreadable metadata (an older scalpel's, or damaged): never used, `cache clear` removes it"
        : undefined;
      if (problem === undefined && !names.includes(`${key}.weights`)) problem = "no weights";
      if (problem === undefined && names.some((n) => n.includes(".tmp-"))) problem = "leftover temporary file";
      entries.push({ key, files: names, bytes: mine.reduce((n, f) => n + f.bytes, 0), meta, problem });
    }
    return entries;
  });

/** Delete every cache file in `dir` (never anything else); returns the deleted paths and bytes. */
export const clearCache = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const files = yield* cacheFiles(dir);
    const deleted: Array<{ file: string; bytes: number }> = [];
    for (const f of files) {
      const file = path.join(dir, f.name);
      yield* fs.remove(file).pipe(
        Effect.mapError((e) => cacheError(dir, `holds ${f.name}, which could not be deleted (${e.message})`)),
      );
      deleted.push({ file, bytes: f.bytes });
    }
    return deleted;
  });

/** The source test accuracies recorded for the given cache keys (keys without readable metadata are skipped). */
export const sourceAccuracies = (dir: string, keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) => metaOf(dir, key)).pipe(
    Effect.map((metas) => metas.flatMap((m) => (typeof m === "string" ? [] : [m.sourceTestAccuracy]))),
  );
