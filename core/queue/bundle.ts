/**
 * A queued run's bundle: what a worker on another machine needs to run its trials —
 * the resolved pipeline (with the backend the coordinator resolved), the content hash
 * of the dataset it was started on, the pre-trained source models and any custom
 * plugin modules, these two by the SHA-256 of their bytes (blobs). The coordinator
 * publishes it (`publishBundle`); a worker materialises it on its disk
 * (`materialiseBundle`): the pipeline as a file, the models in its own model cache,
 * the modules (only with `--allow-plugins`) beside the pipeline file.
 * @module
 */
import { Effect, Either, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { ensureCacheDir } from "../cache.ts";
import { type BackendName, backendNames } from "../backend.ts";
import { CacheError, PipelineFileError } from "../errors.ts";
import { writeFileAtomic } from "../store.ts";
import { blobKey, bundleKey, RUNS_KEY } from "./keys.ts";

const BlobRef = Schema.Struct({ sha: Schema.String, bytes: Schema.Int });

/** A run's bundle, as stored (JSON) under `scalpel:run:<id>`. */
export const BundleSchema = Schema.Struct({
  format: Schema.Literal(1),
  runId: Schema.String,
  /** The pipeline's name, the coordinator's host and run directory: for `queue status`. */
  name: Schema.String,
  host: Schema.String,
  directory: Schema.String,
  trials: Schema.Int,
  /** The resolved pipeline (pipeline.resolved.json's `pipeline`), `plugins` emptied (see `modules`). */
  pipeline: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  dataHash: Schema.String,
  /** The tensor backend the coordinator runs on (`auto` resolved): every worker uses it. */
  backend: Schema.Literal(...backendNames),
  modules: Schema.Array(Schema.Struct({ file: Schema.String, blob: BlobRef })),
  models: Schema.Array(Schema.Struct({ key: Schema.String, weights: BlobRef, meta: BlobRef })),
});

/** A run's bundle. */
export type Bundle = typeof BundleSchema.Type;

/** Hex SHA-256 of bytes. */
export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** What the coordinator publishes: the bundle's fields and the files behind its blobs. */
export interface BundleInput {
  readonly runId: string;
  readonly name: string;
  readonly host: string;
  readonly directory: string;
  readonly trials: number;
  readonly pipeline: Record<string, unknown>;
  readonly dataHash: string;
  readonly backend: BackendName;
  /** Custom plugin modules (absolute paths). */
  readonly modules: ReadonlyArray<string>;
  /** The model cache and the keys of the pre-trained models the trials start from. */
  readonly cacheDir: string;
  readonly models: ReadonlyArray<string>;
}

/** Publish a run's bundle and its blobs (blobs already there are not sent again). */
export const publishBundle = (client: Redis, input: BundleInput) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const blob = (file: string) =>
      Effect.gen(function* () {
        const bytes = yield* fs.readFile(file);
        const sha = sha256(bytes);
        yield* Effect.promise(() => client.set(blobKey(sha), Buffer.from(bytes), "NX"));
        return { sha, bytes: bytes.length };
      });
    const modules = yield* Effect.forEach(input.modules, (file) =>
      Effect.map(blob(file), (b) => ({ file: path.basename(file), blob: b })));
    const models = yield* Effect.forEach(input.models, (key) =>
      Effect.gen(function* () {
        return {
          key,
          weights: yield* blob(path.join(input.cacheDir, `${key}.weights`)),
          meta: yield* blob(path.join(input.cacheDir, `${key}.json`)),
        };
      }));
    const bundle: Bundle = {
      format: 1,
      runId: input.runId,
      name: input.name,
      host: input.host,
      directory: input.directory,
      trials: input.trials,
      pipeline: { ...input.pipeline, plugins: [] },
      dataHash: input.dataHash,
      backend: input.backend,
      modules,
      models,
    };
    yield* Effect.promise(() =>
      client.multi().set(bundleKey(input.runId), JSON.stringify(bundle)).sadd(RUNS_KEY, input.runId).exec()
    );
    return bundle;
  }).pipe(Effect.orDie); // files the run itself wrote or loaded moments ago

const decodeBundle = Schema.decodeUnknownEither(Schema.parseJson(BundleSchema));

/** The bundle of run `runId`, or undefined when Redis has none (cleared, or Redis restarted empty). */
export const readBundle = (client: Redis, runId: string) =>
  Effect.promise(() => client.get(bundleKey(runId))).pipe(
    Effect.map((text) => {
      if (text === null) return undefined;
      const b = decodeBundle(text);
      return Either.isRight(b) ? b.right : undefined;
    }),
  );

/** Why a worker cannot use a bundle's blob. */
export class BlobMissing extends Error {}

/** The bytes of a blob, checked against its hash. */
const fetchBlob = (client: Redis, ref: { sha: string; bytes: number }) =>
  Effect.promise(() => client.getBuffer(blobKey(ref.sha))).pipe(
    Effect.flatMap((buf) => {
      if (buf === null) return Effect.fail(new BlobMissing(`blob ${ref.sha.slice(0, 12)} is not in the queue`));
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      if (sha256(bytes) !== ref.sha) {
        return Effect.fail(new BlobMissing(`blob ${ref.sha.slice(0, 12)} does not match its hash`));
      }
      return Effect.succeed(bytes);
    }),
  );

/**
 * Write `bundle` to this machine: the pre-trained models into `cacheDir` (entries
 * already there are kept), the plugin modules and the pipeline file into `dir`.
 * Returns the pipeline file's path.
 */
export const materialiseBundle = (client: Redis, bundle: Bundle, cacheDir: string, dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    yield* ensureCacheDir(cacheDir);
    for (const m of bundle.models) {
      if (yield* fs.exists(path.join(cacheDir, `${m.key}.json`))) continue;
      yield* writeFileAtomic(path.join(cacheDir, `${m.key}.weights`), yield* fetchBlob(client, m.weights));
      yield* writeFileAtomic(path.join(cacheDir, `${m.key}.json`), yield* fetchBlob(client, m.meta));
    }
    yield* fs.makeDirectory(path.join(dir, "plugins"), { recursive: true });
    const plugins: string[] = [];
    for (const m of bundle.modules) {
      const rel = `plugins/${m.blob.sha.slice(0, 16)}-${m.file}`;
      const file = path.join(dir, rel);
      if (!(yield* fs.exists(file))) yield* writeFileAtomic(file, yield* fetchBlob(client, m.blob));
      plugins.push(`./${rel}`);
    }
    const pipelineFile = path.join(dir, "pipeline.json");
    yield* writeFileAtomic(pipelineFile, JSON.stringify({ ...bundle.pipeline, plugins }, null, 2) + "\n");
    return pipelineFile;
  }).pipe(
    Effect.catchTags({
      SystemError: (e) => Effect.fail(diskError(dir, e.message)),
      BadArgument: (e) => Effect.fail(diskError(dir, e.message)),
    }),
  );

const diskError = (dir: string, message: string) =>
  new CacheError({
    dir,
    detail: `the run's files cannot be written here (${message})`,
    fix: "Check the permissions and free space of the worker's cache (--cache).",
  });

/** A relative import in a module's text (`from "./x.ts"`, `import("../y.ts")`). */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.\.?\/[^"']*)["']/;

/**
 * The custom plugin modules of a pipeline (as pipeline file `file` names them: relative
 * to it, or absolute), checked for travelling to queue workers: a worker receives each
 * module alone, so a module may not import files by a relative path.
 */
export const checkTravellingModules = (file: string, modules: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const dir = path.dirname(path.resolve(file));
    modules = modules.map((m) => path.resolve(dir, m));
    for (const [i, m] of modules.entries()) {
      const text = yield* fs.readFileString(m).pipe(Effect.orElseSucceed(() => ""));
      const found = RELATIVE_IMPORT.exec(text);
      if (found) {
        return yield* new PipelineFileError({
          file,
          detail: `  plugins[${i}]: ${m} imports ${found[1]} by a relative path, and a queue worker receives the ` +
            `module alone: import scalpel's API from "scalpel" (deno.json maps it to mod.ts), packages by name, ` +
            "and keep the rest in the module",
        });
      }
    }
  });
