/**
 * The errors a user can cause or meet, as tagged values. Each carries what a
 * person needs (file, path in the pipeline file, plugin name, known names) and
 * renders itself as one paragraph via `describe()`; the CLI prints that paragraph
 * and exits non-zero, without a stack trace.
 * @module
 */
import { Data } from "effect";

/** A pipeline file that cannot be read, parsed or decoded. */
export class PipelineFileError extends Data.TaggedError("PipelineFileError")<{
  /** The pipeline file. */
  readonly file: string;
  /** What is wrong, with the path inside the file (`shifts[1].options.severity: …`). */
  readonly detail: string;
  /** True when the file could not be read at all. */
  readonly unreadable?: boolean;
}> {
  /** One paragraph for a person. */
  describe(): string {
    if (this.unreadable) return `Pipeline file ${this.file} ${this.detail}. Check the path.`;
    return `Pipeline file ${this.file} is not valid:\n${this.detail}\nFix the file (\`scalpel validate ${this.file}\` checks it without running).`;
  }
}

/** A plugin name that is not registered, or a plugin module that fails to load. */
export class PluginError extends Data.TaggedError("PluginError")<{
  readonly kind: string;
  readonly name: string;
  /** Where the reference stands: pipeline path or module file. */
  readonly where: string;
  readonly detail: string;
  /** Names that would have been accepted. */
  readonly known: ReadonlyArray<string>;
}> {
  describe(): string {
    const known = this.known.length > 0 ? ` Known ${this.kind} plugins: ${this.known.join(", ")}.` : "";
    return `${this.where}: ${this.kind} plugin "${this.name}" ${this.detail}.${known}`;
  }
}

/** A dataset file that is missing, truncated or not in the expected format. */
export class DatasetError extends Data.TaggedError("DatasetError")<{
  readonly file: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Dataset file ${this.file}: ${this.detail}. ${this.fix}`;
  }
}

/** The tensor backend that was asked for cannot be used here. */
export class BackendError extends Data.TaggedError("BackendError")<{
  readonly backend: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Backend "${this.backend}" is not available: ${this.detail}. ${this.fix}`;
  }
}

/** Training diverged (NaN / infinite loss) or otherwise cannot continue. */
export class TrainingError extends Data.TaggedError("TrainingError")<{
  /** Which training: `pre-training <model>` or `trial <key>`. */
  readonly what: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `${this.what}: ${this.detail}. ${this.fix}`;
  }
}

/** A run directory that cannot be used (exists with other content, unwritable). */
export class RunDirectoryError extends Data.TaggedError("RunDirectoryError")<{
  readonly dir: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Run directory ${this.dir}: ${this.detail}. ${this.fix}`;
  }
}

/** A command-line flag with a value the command cannot use. */
export class CommandLineError extends Data.TaggedError("CommandLineError")<{
  /** The flag, e.g. `--severity`. */
  readonly flag: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `${this.flag}: ${this.detail}. ${this.fix}`;
  }
}

/** A model file (a LayersModel model.json, its weight files, saved weights) that cannot be used. */
export class ModelFileError extends Data.TaggedError("ModelFileError")<{
  readonly file: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Model file ${this.file}: ${this.detail}. ${this.fix}`;
  }
}

/** The pre-trained model cache directory cannot be used (not a cache, unwritable). */
export class CacheError extends Data.TaggedError("CacheError")<{
  readonly dir: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Model cache ${this.dir}: ${this.detail}. ${this.fix}`;
  }
}

/** A worker process of a parallel run crashed, or spoke out of protocol. */
export class WorkerError extends Data.TaggedError("WorkerError")<{
  /** 1-based worker number. */
  readonly worker: number;
  readonly detail: string;
  /** The error the worker itself reported before it stopped (its one paragraph), if it did. */
  readonly reported?: { readonly tag: string; readonly message: string };
}> {
  describe(): string {
    return `Worker ${this.worker} of the parallel run ${this.detail}. Results already recorded are kept: ` +
      "fix the cause and run the same command again to resume.";
  }
}

/** The queue of a multi-machine run (Redis, BullMQ) cannot be used, or a worker could not serve a run. */
export class QueueError extends Data.TaggedError("QueueError")<{
  /** The queue's address, without any password (`redis://host:port`). */
  readonly queue: string;
  readonly detail: string;
  readonly fix: string;
}> {
  describe(): string {
    return `Queue ${this.queue}: ${this.detail}. ${this.fix}`;
  }
}

/** Some trials of a run failed; their `failed` lines are in results.jsonl and the summary marks their cells. */
export class TrialsFailedError extends Data.TaggedError("TrialsFailedError")<{
  readonly dir: string;
  readonly failed: number;
  readonly total: number;
  /** The first failure: which trial and its message. */
  readonly first: { readonly trial: string; readonly message: string };
}> {
  describe(): string {
    return `${this.failed} of ${this.total} trials failed (the first: ${this.first.trial}: ${this.first.message}). ` +
      `The other results and the summary are in ${this.dir}; the summary marks the failed cells. ` +
      "Fix the cause and run the same command again with --retry-failed to run the failed trials again.";
  }
}

/** Every error the engine reports to a user. */
export type UserError =
  | PipelineFileError
  | PluginError
  | DatasetError
  | ModelFileError
  | BackendError
  | TrainingError
  | RunDirectoryError
  | CacheError
  | CommandLineError
  | WorkerError
  | QueueError
  | TrialsFailedError;

const USER_ERROR_TAGS: ReadonlySet<string> = new Set([
  "PipelineFileError",
  "PluginError",
  "DatasetError",
  "ModelFileError",
  "BackendError",
  "TrainingError",
  "RunDirectoryError",
  "CacheError",
  "CommandLineError",
  "WorkerError",
  "QueueError",
  "TrialsFailedError",
]);

/** True when `e` is one of the user-facing errors above. */
export const isUserError = (e: unknown): e is UserError =>
  typeof e === "object" && e !== null && USER_ERROR_TAGS.has((e as { _tag?: unknown })._tag as string) &&
  typeof (e as { describe?: unknown }).describe === "function";
