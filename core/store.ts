/**
 * Files on disk: whole files are written through a temporary file and a rename (a
 * reader never sees half a file, and the temporary file is removed when the write
 * fails); result lines are appended and flushed one at a time.
 * @module
 */
import { Effect } from "effect";
import { FileSystem } from "@effect/platform";
import type { PlatformError } from "@effect/platform/Error";
import { killPoint } from "./killpoint.ts";

/**
 * Write a whole file atomically: a temporary file beside it, then a rename. On
 * failure the temporary file is removed and the target is left as it was.
 */
export const writeFileAtomic = (
  file: string,
  content: string | Uint8Array,
): Effect.Effect<void, PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const tmp = `${file}.tmp-${Deno.pid}`;
    yield* Effect.gen(function* () {
      if (typeof content === "string") yield* fs.writeFileString(tmp, content);
      else yield* fs.writeFile(tmp, content);
      yield* fs.rename(tmp, file);
    }).pipe(Effect.tapError(() => fs.remove(tmp).pipe(Effect.ignore)));
  });

/**
 * Append one line (`text` plus a newline) to `file` and flush it to disk before
 * returning. The file must end with a newline (or be empty): see `readLines`.
 */
export const appendLine = (file: string, text: string): Effect.Effect<void, Error> =>
  Effect.tryPromise({
    try: async () => {
      const f = await Deno.open(file, { append: true, create: true });
      try {
        const bytes = new TextEncoder().encode(text + "\n");
        const half = bytes.length >> 1;
        await writeAll(f, bytes.subarray(0, half));
        killPoint("line-write");
        await writeAll(f, bytes.subarray(half));
        await f.sync();
      } finally {
        f.close();
      }
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e))),
  });

const writeAll = async (f: Deno.FsFile, bytes: Uint8Array) => {
  let written = 0;
  while (written < bytes.length) written += await f.write(bytes.subarray(written));
};

/** The complete lines of a text file, and the partial last line cut off it (if any). */
export interface ReadLines {
  /** Complete lines with their 1-based line numbers (blank lines left out). */
  readonly lines: ReadonlyArray<{ readonly number: number; readonly text: string }>;
  /** Bytes of a last line without its newline (a crash mid-write), removed from the file; 0 when none. */
  readonly cutBytes: number;
}

/**
 * Read the lines of an append-only file. A last line without its newline was cut
 * short by a crash: it is removed from the file (so that the next append starts on a
 * fresh line) and reported in `cutBytes`. A missing file has no lines.
 */
export const readLines = (file: string): Effect.Effect<ReadLines, Error> =>
  Effect.tryPromise({
    try: async () => {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(file);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return { lines: [], cutBytes: 0 };
        throw e;
      }
      const end = bytes.lastIndexOf(0x0a) + 1; // 0 when there is no newline at all
      const cutBytes = bytes.length - end;
      if (cutBytes > 0) await Deno.truncate(file, end);
      const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, end));
      const lines = text.split("\n").slice(0, -1).map((t, i) => ({ number: i + 1, text: t }))
        .filter((l) => l.text.trim() !== "");
      return { lines, cutBytes };
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e))),
  });
