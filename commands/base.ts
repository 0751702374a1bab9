/**
 * What the `scalpel` command and the programmatic API (mod.ts) share: the base layer
 * (platform services and the plugin registry), the default cache directory, and the
 * one decoder from a finished program to an exit code and its message.
 * @module
 */
import { Cause, Exit, Layer, Option } from "effect";
import { NodeContext } from "@effect/platform-node";
import { registryLayer } from "../core/registry.ts";
import type { AnyPlugin } from "../core/plugin.ts";
import { isUserError, type UserError } from "../core/errors.ts";
import { builtinPlugins } from "../plugins/index.ts";

export { DEFAULT_CACHE_DIR } from "../core/cache.ts";

/** The `scalpel` task's permissions to read, to read the environment and the host name (writing is given per use). */
export const READ_PERMISSIONS: ReadonlyArray<string> = ["--allow-read", "--allow-env", "--allow-sys=uid,gid,hostname"];

/** The CLI's entry file. */
export const CLI_FILE = new URL("../cli.ts", import.meta.url).pathname;

/**
 * How to start a local worker process (`scalpel worker --stdio`) that may write only
 * under `writable`, with no network and no subprocesses of its own.
 */
export const stdioWorkerCommand = (writable: ReadonlyArray<string>, threads = 1) => ({
  command: Deno.execPath(),
  args: [
    "run",
    ...READ_PERMISSIONS,
    `--allow-write=${writable.join(",")}`,
    CLI_FILE,
    "worker",
    "--stdio",
    ...(threads === 1 ? [] : ["--threads", String(threads)]),
  ],
});

/** Platform services (files, paths, subprocesses) and the registry of built-in plugins plus `extra`. */
export const baseLayer = (extra: ReadonlyArray<AnyPlugin> = []) =>
  Layer.mergeAll(NodeContext.layer, registryLayer([...builtinPlugins, ...extra]));

/** How a program ended, for a person and for the shell. */
export type Ending =
  | { readonly _tag: "Success" }
  /** A mistake in the input or a failed trial: one paragraph, exit 1. */
  | { readonly _tag: "UserError"; readonly error: UserError }
  /** A command-line usage error that @effect/cli already printed: exit 2. */
  | { readonly _tag: "Usage" }
  /** Interrupted (Ctrl-C): exit 130. */
  | { readonly _tag: "Interrupted" }
  /** A bug: the cause with its stack, exit 3. */
  | { readonly _tag: "Internal"; readonly cause: Cause.Cause<unknown> };

/** Decode how a program ended. */
export const endingOf = (exit: Exit.Exit<unknown, unknown>): Ending => {
  if (Exit.isSuccess(exit)) return { _tag: "Success" };
  const failure = Cause.failureOption(exit.cause);
  if (Option.isSome(failure) && isUserError(failure.value)) return { _tag: "UserError", error: failure.value };
  if (Option.isSome(failure)) return { _tag: "Usage" };
  if (Cause.isInterruptedOnly(exit.cause)) return { _tag: "Interrupted" };
  return { _tag: "Internal", cause: exit.cause };
};

/** The exit code of an ending. */
export const exitCodeOf = (e: Ending): number =>
  e._tag === "Success" ? 0 : e._tag === "UserError" ? 1 : e._tag === "Usage" ? 2 : e._tag === "Interrupted" ? 130 : 3;

/** The message of an ending for stderr (empty when there is nothing to say). */
export const messageOf = (e: Ending): string =>
  e._tag === "UserError"
    ? `error: ${e.error.describe()}`
    : e._tag === "Interrupted"
    ? "interrupted: results already recorded are kept; run the same command again to resume."
    : e._tag === "Internal"
    ? `internal error (please report it):\n${Cause.pretty(e.cause)}`
    : "";
