/**
 * The run directory: pipeline.resolved.json (what ran), results.jsonl (one line per
 * trial, append-only: the single source of truth, whichever launcher ran the trials),
 * the summary files and report.html. Opening one takes its lock for the whole run;
 * an existing directory is resumed only when it holds a run of the very same pipeline
 * on the very same data. Every file read back is decoded with a Schema.
 * @module
 */
import { Effect, Either, Schema, type Scope } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { ParseResult } from "effect";
import { RunDirectoryError } from "./errors.ts";
import { stableJson } from "./hash.ts";
import { LOCK_FILE, lockRunDirectory } from "./lock.ts";
import { appendLine, readLines, writeFileAtomic } from "./store.ts";
import { decodeOutcome, encodeOutcome, type TrialOutcome } from "./results.ts";

/** The names of the files in a run directory. */
export const RUN_FILES = {
  resolved: "pipeline.resolved.json",
  results: "results.jsonl",
  summaryMd: "summary.md",
  summaryCsv: "summary.csv",
  summaryJson: "summary.json",
  reportHtml: "report.html",
  /** Each chart of report.html as a Vega-Lite spec with its data (`charts/<name>.vl.json`). */
  charts: "charts",
  models: "models",
  lock: LOCK_FILE,
} as const;

/** pipeline.resolved.json: the pipeline with every default filled in, and where it ran. */
export const RunManifestSchema = Schema.Struct({
  pipeline: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Content hash of the dataset the run read (its images, labels and classes). */
  data: Schema.String,
  backend: Schema.String,
  versions: Schema.Record({ key: Schema.String, value: Schema.String }),
  trials: Schema.Int,
});

/** The contents of pipeline.resolved.json. */
export type RunManifest = typeof RunManifestSchema.Type;

/** An open run directory (its lock is held while the scope is open). */
export interface RunDirectory {
  readonly dir: string;
  readonly resultsFile: string;
  /** Outcome lines already recorded, in file order. */
  readonly previous: ReadonlyArray<TrialOutcome>;
  /** Bytes of a partial last line that was cut off (a crash mid-write); its trial runs again. */
  readonly cutBytes: number;
}

/** A file error of the run directory `dir` while doing `what`, as a RunDirectoryError. */
export const ioError = (dir: string, what: string) => (e: { message: string }) =>
  new RunDirectoryError({
    dir,
    detail: `${what} failed (${e.message})`,
    fix: "Check the permissions and free space of that directory.",
  });

const oneLine = (e: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(e).slice(0, 2)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") + ": " : ""}${i.message}`).join("; ");

/**
 * Read and decode results.jsonl. A partial last line (no newline: a crash while it was
 * written) is cut off the file. Any other line that is not a result or failed line
 * refuses the resume, naming its line number.
 */
export const readOutcomes = (dir: string, resultsFile: string) =>
  Effect.gen(function* () {
    const { lines, cutBytes } = yield* readLines(resultsFile).pipe(
      Effect.mapError(ioError(dir, `reading ${RUN_FILES.results}`)),
    );
    const out: TrialOutcome[] = [];
    for (const { number, text } of lines) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        return yield* badLine(dir, number, `it is not JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      const decoded = decodeOutcome(parsed);
      if (Either.isLeft(decoded)) {
        return yield* badLine(dir, number, `it is not a result line (${oneLine(decoded.left)})`);
      }
      out.push(decoded.right);
    }
    return { outcomes: out, cutBytes };
  });

const badLine = (dir: string, number: number, why: string) =>
  Effect.fail(
    new RunDirectoryError({
      dir,
      detail: `line ${number} of ${RUN_FILES.results} cannot be resumed from: ${why}`,
      fix:
        `Restore that line, or delete it (its trial will run again), or start over in a new --out directory. scalpel writes only whole lines there: the line was changed by something else`,
    }),
  );

/**
 * Open (create or resume) run directory `dir` for a run whose pipeline.resolved.json is
 * `manifest`, and hold its lock until the scope closes. An existing directory must be a
 * run of the same resolved pipeline on the same data; one with no results yet is taken
 * over whatever it held before.
 */
export const openRunDirectory = (
  dir: string,
  manifest: RunManifest,
): Effect.Effect<RunDirectory, RunDirectoryError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const resolvedFile = path.join(dir, RUN_FILES.resolved);
    const resultsFile = path.join(dir, RUN_FILES.results);
    if (yield* fs.exists(dir)) {
      const info = yield* fs.stat(dir);
      if (info.type !== "Directory") {
        return yield* new RunDirectoryError({
          dir,
          detail: "exists and is not a directory",
          fix: "Choose another --out directory.",
        });
      }
      // the lock, and a file another run is writing atomically right now (`<name>.tmp-<pid>`, see store.ts), do not
      // make a directory foreign: a second start must reach the lock and be refused by it
      const entries = (yield* fs.readDirectory(dir)).filter((e) => e !== RUN_FILES.lock && !/\.tmp-\d+$/.test(e));
      if (entries.length > 0 && !entries.includes(RUN_FILES.resolved)) {
        return yield* new RunDirectoryError({
          dir,
          detail: "exists and is not a scalpel run directory (it has no pipeline.resolved.json)",
          fix: "Choose another --out directory, or empty this one.",
        });
      }
    }
    yield* fs.makeDirectory(dir, { recursive: true });
    yield* lockRunDirectory(dir);
    const { outcomes, cutBytes } = yield* readOutcomes(dir, resultsFile);
    if (yield* fs.exists(resolvedFile)) {
      const text = yield* fs.readFileString(resolvedFile);
      const previous = Schema.decodeUnknownEither(Schema.parseJson(RunManifestSchema))(text);
      if (outcomes.length > 0) {
        if (Either.isLeft(previous)) {
          return yield* new RunDirectoryError({
            dir,
            detail: `its ${RUN_FILES.resolved} is damaged (${oneLine(previous.left)}), so scalpel cannot tell ` +
              "whether its results belong to this pipeline",
            fix: "Restore that file, or start over in a new --out directory.",
          });
        }
        if (stableJson(previous.right.pipeline) !== stableJson(manifest.pipeline)) {
          return yield* new RunDirectoryError({
            dir,
            detail:
              "holds a run of a different pipeline (its pipeline.resolved.json differs), so results would not be comparable",
            fix: "Choose another --out directory, or delete this one to start over.",
          });
        }
        if (previous.right.data !== manifest.data) {
          return yield* new RunDirectoryError({
            dir,
            detail: "holds results computed on other data: the dataset's files changed since that run started " +
              `(content hash ${previous.right.data}, now ${manifest.data})`,
            fix: "Put the original data back to resume, or start over in a new --out directory.",
          });
        }
      }
    }
    yield* writeFileAtomic(resolvedFile, JSON.stringify(manifest, null, 2) + "\n");
    return { dir, resultsFile, previous: outcomes, cutBytes };
  }).pipe(
    Effect.catchTags({
      BadArgument: (e) => Effect.fail(ioError(dir, "preparing")(e)),
      SystemError: (e) => Effect.fail(ioError(dir, "preparing")(e)),
    }),
  );

/** Append one outcome line to results.jsonl and flush it. */
export const appendOutcome = (run: RunDirectory, outcome: TrialOutcome) =>
  appendLine(run.resultsFile, JSON.stringify(encodeOutcome(outcome))).pipe(
    Effect.mapError(ioError(run.dir, `appending to ${RUN_FILES.results}`)),
  );

/** Write a whole file of the run directory atomically. */
export const writeRunFile = (run: { readonly dir: string }, name: string, content: string | Uint8Array) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    yield* writeFileAtomic(path.join(run.dir, name), content);
  }).pipe(Effect.mapError(ioError(run.dir, `writing ${name}`)));

/** The latest outcome of each trial key (a retried trial's new line replaces its failed one). */
export const latestByKey = (outcomes: ReadonlyArray<TrialOutcome>): Map<string, TrialOutcome> => {
  const out = new Map<string, TrialOutcome>();
  for (const o of outcomes) out.set(o.key, o);
  return out;
};
