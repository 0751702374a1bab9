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

/** Every error the engine reports to a user. */
export type UserError =
  | PipelineFileError
  | PluginError
  | DatasetError
  | BackendError
  | TrainingError
  | RunDirectoryError
  | CommandLineError;

/** True when `e` is one of the user-facing errors above. */
export const isUserError = (e: unknown): e is UserError =>
  e instanceof PipelineFileError || e instanceof PluginError ||
  e instanceof DatasetError || e instanceof BackendError ||
  e instanceof TrainingError || e instanceof RunDirectoryError || e instanceof CommandLineError;
