/**
 * The advice directory: advise.resolved.json (what is advised on: pipeline, data,
 * backend, strategy, budget, signal, seed index), rungs.jsonl (one record per rung of a
 * candidate on a seed, and a cell's zero-cost signals, appended as they arrive: what a
 * resume reads), checkpoints/ (each paused rung's checkpoint, deleted once the advice is
 * written), advice.json, advice.md and report.html. Opening it takes its lock; one that
 * holds records of other advice is refused.
 * @module
 */
import { Effect, Either, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { RunDirectoryError } from "../errors.ts";
import { stableJson } from "../hash.ts";
import { lockRunDirectory } from "../lock.ts";
import { appendLine, readLines, writeFileAtomic } from "../store.ts";
import { RungReportSchema } from "../pipeline/protocol.ts";
import { STRATEGIES } from "./plan.ts";
import { SIGNALS } from "./signals.ts";

/** The files of an advice directory. */
export const ADVICE_FILES = {
  manifest: "advise.resolved.json",
  rungs: "rungs.jsonl",
  checkpoints: "checkpoints",
  json: "advice.json",
  markdown: "advice.md",
  html: "report.html",
} as const;
/** advise.resolved.json. */
export const AdviceManifestSchema = Schema.Struct({
  format: Schema.Literal("scalpel-advice/1"),
  pipeline: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  data: Schema.String,
  backend: Schema.String,
  strategy: Schema.Literal(...STRATEGIES),
  budget: Schema.Number,
  signal: Schema.optional(Schema.Literal(...SIGNALS)),
  seedIndex: Schema.Int,
  versions: Schema.Record({ key: Schema.String, value: Schema.String }),
});

/** A line of rungs.jsonl: what one rung of one candidate on one seed did, or a cell's zero-cost signals. */
export const RecordSchema = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("rung"),
    cell: Schema.String,
    /** `<trial key>@<epochs>`. */
    id: Schema.String,
    report: RungReportSchema,
  }),
  Schema.Struct({
    type: Schema.Literal("signals"),
    cell: Schema.String,
    seed: Schema.Int,
    scores: Schema.Array(Schema.NullOr(Schema.Struct({ rgn: Schema.Number, snr: Schema.Number, snip: Schema.Number }))),
    compute: Schema.Number,
  }),
);
export type RungRecord = typeof RecordSchema.Type;

/** A file error of the advice directory `dir` while doing `what`. */
export const dirError = (dir: string, what: string) => (e: { message: string }) =>
  new RunDirectoryError({ dir, detail: `${what} failed (${e.message})`, fix: "Check permissions and free space." });

/** Open (create or resume) the advice directory; the records already there. */
export const openAdviceDirectory = (dir: string, manifest: typeof AdviceManifestSchema.Type) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    yield* fs.makeDirectory(path.join(dir, ADVICE_FILES.checkpoints), { recursive: true }).pipe(
      Effect.mapError(dirError(dir, "creating the advice directory")),
    );
    yield* lockRunDirectory(dir);
    const rungsFile = path.join(dir, ADVICE_FILES.rungs);
    const { lines } = yield* readLines(rungsFile).pipe(Effect.mapError(dirError(dir, `reading ${ADVICE_FILES.rungs}`)));
    const records: RungRecord[] = [];
    for (const { number, text } of lines) {
      const r = Schema.decodeUnknownEither(Schema.parseJson(RecordSchema))(text);
      if (Either.isLeft(r)) {
        return yield* new RunDirectoryError({
          dir,
          detail: `line ${number} of ${ADVICE_FILES.rungs} is not a rung record`,
          fix: "Delete that line (its rung runs again) or start over in a new --out directory.",
        });
      }
      records.push(r.right);
    }
    const manifestFile = path.join(dir, ADVICE_FILES.manifest);
    if (records.length > 0 && (yield* fs.exists(manifestFile))) {
      const previous = yield* fs.readFileString(manifestFile).pipe(Effect.mapError(dirError(dir, "reading")));
      const { versions: _a, ...was } = JSON.parse(previous);
      const { versions: _b, ...now } = manifest;
      if (stableJson(was) !== stableJson(now)) {
        return yield* new RunDirectoryError({
          dir,
          detail: "holds advice of another pipeline, dataset, strategy, budget, signal or seed index",
          fix: "Choose another --out directory, or delete this one to start over.",
        });
      }
    }
    yield* writeFileAtomic(manifestFile, JSON.stringify(manifest, null, 2) + "\n").pipe(
      Effect.mapError(dirError(dir, `writing ${ADVICE_FILES.manifest}`)),
    );
    return { rungsFile, records };
  }).pipe(
    Effect.catchTags({
      BadArgument: (e) => Effect.fail(dirError(dir, "preparing the advice directory")(e)),
      SystemError: (e) => Effect.fail(dirError(dir, "preparing the advice directory")(e)),
    }),
  );

/** Append one record to rungs.jsonl (flushed before it returns). */
export const appendRecord = (dir: string, rungsFile: string, r: RungRecord) =>
  appendLine(rungsFile, JSON.stringify(Schema.encodeSync(RecordSchema)(r))).pipe(
    Effect.mapError(dirError(dir, `appending to ${ADVICE_FILES.rungs}`)),
  );
