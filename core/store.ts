/**
 * Run directory and model cache on disk. Results are append-only JSON lines, one
 * complete line per finished trial; whole files are written through a temporary
 * file and a rename, so a reader never sees half a file.
 * @module
 */
import { Effect } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { createHash } from "node:crypto";
import { RunDirectoryError } from "./errors.ts";

/** Stable JSON: object keys sorted, so equal values hash equally. */
export const stableJson = (value: unknown): string =>
  JSON.stringify(
    value,
    (_k, v) =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
        : v,
  );

/** Hex SHA-256 of the stable JSON of `value`, cut to `length` characters. */
export const contentHash = (value: unknown, length = 16): string =>
  createHash("sha256").update(stableJson(value)).digest("hex").slice(0, length);

/** The names of the files in a run directory. */
export const RUN_FILES = {
  resolved: "pipeline.resolved.json",
  results: "results.jsonl",
  summaryMd: "summary.md",
  summaryCsv: "summary.csv",
  summaryJson: "summary.json",
  reportHtml: "report.html",
} as const;

const ioError = (dir: string, what: string) => (e: { message: string }) =>
  new RunDirectoryError({
    dir,
    detail: `${what} failed (${e.message})`,
    fix: "Check the permissions and free space of that directory.",
  });

/** Write a whole file atomically (temporary file, then rename). */
export const writeFileAtomic = (file: string, content: string | Uint8Array) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const tmp = `${file}.tmp-${Deno.pid}`;
    if (typeof content === "string") yield* fs.writeFileString(tmp, content);
    else yield* fs.writeFile(tmp, content);
    yield* fs.rename(tmp, file);
  }).pipe(Effect.mapError(ioError(file, "writing")));

/** Append one JSON line and flush it to disk before returning. */
export const appendLine = (file: string, value: unknown) =>
  Effect.tryPromise({
    try: async () => {
      const f = await Deno.open(file, { append: true, create: true });
      try {
        const bytes = new TextEncoder().encode(JSON.stringify(value) + "\n");
        let written = 0;
        while (written < bytes.length) written += await f.write(bytes.subarray(written));
        await f.sync();
      } finally {
        f.close();
      }
    },
    catch: (e) => ioError(file, "appending a result")({ message: String(e) }),
  });

/** Read the complete lines of a JSONL file; a partial last line (a crash mid-write) is ignored. */
export const readJsonLines = <A>(file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    if (!(yield* fs.exists(file))) return [] as A[];
    const text = yield* fs.readFileString(file);
    const out: A[] = [];
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        out.push(JSON.parse(line) as A);
      } catch {
        // a line cut short by a crash: its trial is simply run again
      }
    }
    return out;
  }).pipe(Effect.mapError(ioError(file, "reading results")));

/**
 * Prepare the run directory. A new or empty directory is created; an existing one
 * is accepted only when it holds a run of the very same resolved pipeline (then
 * finished trials are kept and skipped). Returns the keys already finished.
 */
export const openRunDirectory = (dir: string, resolvedJsonText: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const resolvedFile = path.join(dir, RUN_FILES.resolved);
    if (yield* fs.exists(dir)) {
      const entries = yield* fs.readDirectory(dir);
      if (entries.length > 0) {
        if (!entries.includes(RUN_FILES.resolved)) {
          return yield* new RunDirectoryError({
            dir,
            detail: "exists and is not a scalpel run directory",
            fix: "Choose another --out directory, or empty this one.",
          });
        }
        const previous = JSON.parse(yield* fs.readFileString(resolvedFile));
        const current = JSON.parse(resolvedJsonText);
        if (stableJson(previous.pipeline) !== stableJson(current.pipeline)) {
          return yield* new RunDirectoryError({
            dir,
            detail:
              "holds a run of a different pipeline (its pipeline.resolved.json differs), so results would not be comparable",
            fix: "Choose another --out directory, or delete this one to start over.",
          });
        }
      }
    }
    yield* fs.makeDirectory(dir, { recursive: true });
    yield* writeFileAtomic(resolvedFile, resolvedJsonText);
    return path.join(dir, RUN_FILES.results);
  }).pipe(
    Effect.catchTag("BadArgument", (e) => Effect.fail(ioError(dir, "preparing")(e))),
    Effect.catchTag("SystemError", (e) => Effect.fail(ioError(dir, "preparing")(e))),
  );
