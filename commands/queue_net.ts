/**
 * Network access for the queue commands only. Deno fixes a process's permissions at
 * start, and `deno task scalpel` grants no network; so a command given `--queue`
 * without the permission to reach the queue's host:port starts itself again with
 * exactly `--allow-net=host:port` (and otherwise the task's permissions, writing only
 * where that command writes). The address travels to the new process in an
 * environment variable, never in its arguments (they are visible to every user of
 * the machine). The new process watches its stdin, a pipe from this one: if this
 * process dies, even by `kill -9`, the pipe closes and the new process stops as if
 * interrupted (releasing the run directory's lock).
 * @module
 */
import { Effect, Option } from "effect";
import { CommandLineError, QueueError } from "../core/errors.ts";
import { parseQueueAddress, type QueueAddress } from "../core/queue/address.ts";
import { checkReachable } from "../core/queue/connection.ts";
import { CLI_FILE, READ_PERMISSIONS } from "./base.ts";

/** The environment variable that carries the queue's address to the re-started process. */
export const ADDRESS_VARIABLE = "SCALPEL_QUEUE_ADDRESS";

/** Set in the re-started process: stop when stdin closes. */
export const WATCH_STDIN_VARIABLE = "SCALPEL_WATCH_STDIN";

const rawAddresses = new Map<string, string>();

/** `--queue`'s value, parsed: a QueueError paragraph when it is not an address. */
export const queueAddressOf = (text: string): Effect.Effect<QueueAddress, QueueError> => {
  const a = parseQueueAddress(text);
  // read once: processes started from here on (trials' processes, which may run plugin code) do not see it
  if (text.startsWith("env:") && text.length > 4 && !(a instanceof QueueError)) {
    rawAddresses.set(text, Deno.env.get(text.slice(4)) ?? "");
    Deno.env.delete(text.slice(4));
  }
  return a instanceof QueueError ? Effect.fail(a) : Effect.succeed(a);
};

/** The command line with `--queue`'s value replaced by `value`. */
export const withQueueValue = (args: ReadonlyArray<string>, value: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--queue" && i + 1 < args.length) {
      out.push("--queue", value);
      i++;
    } else if (args[i].startsWith("--queue=")) out.push(`--queue=${value}`);
    else out.push(args[i]);
  }
  return out;
};

/**
 * Nothing when this process may reach the queue; otherwise run this same command again
 * in a process that may (see the module doc) and give its exit code. `writable`: the
 * directories the command writes; `extraArgs`: appended to its arguments (to fix a
 * default that would differ in the new process, such as a run directory's timestamp).
 */
export const ensureQueueNetwork = (
  address: QueueAddress,
  raw: string,
  writable: ReadonlyArray<string>,
  extraArgs: ReadonlyArray<string> = [],
): Effect.Effect<Option.Option<number>, CommandLineError> =>
  Effect.gen(function* () {
    const net = Deno.permissions.querySync({ name: "net", host: address.netPermission }).state;
    if (net === "granted") return Option.none();
    if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
      return yield* new CommandLineError({
        flag: "--queue",
        detail: `reaching the queue needs network access to ${address.netPermission}`,
        fix: `Use \`deno task scalpel\` (it grants --allow-run, and scalpel then grants itself exactly that access) ` +
          `or add --allow-net=${address.netPermission} to your \`deno run\` command.`,
      });
    }
    const value = raw.startsWith("env:") ? rawAddresses.get(raw) ?? "" : raw;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...READ_PERMISSIONS,
        "--allow-run",
        ...(writable.length > 0 ? [`--allow-write=${writable.join(",")}`] : []),
        `--allow-net=${address.netPermission}`,
        CLI_FILE,
        ...withQueueValue(Deno.args, `env:${ADDRESS_VARIABLE}`),
        ...extraArgs,
      ],
      env: { [ADDRESS_VARIABLE]: value, [WATCH_STDIN_VARIABLE]: "1" },
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = yield* Effect.promise(() => child.status).pipe(
      // interrupted (Ctrl-C, SIGTERM): the new process stops the same way, and is waited for
      Effect.onInterrupt(() =>
        Effect.promise(async () => {
          try {
            child.kill("SIGTERM");
          } catch { /* already gone */ }
          await child.status;
        })
      ),
    );
    return Option.some(status.signal ? 128 + (status.signal === "SIGKILL" ? 9 : 15) : status.code);
  });

/**
 * The `--queue` option of a command that writes `writable`: its address, after making
 * sure this process can reach it — a process without network access starts itself
 * again with exactly that access (`extraArgs` appended) and exits with that process's
 * code — and that the queue answers. None: no `--queue`.
 */
export const queueOption = (
  raw: Option.Option<string>,
  writable: ReadonlyArray<string>,
  extraArgs: ReadonlyArray<string>,
): Effect.Effect<QueueAddress | undefined, CommandLineError | QueueError> =>
  Effect.gen(function* () {
    if (Option.isNone(raw)) return undefined;
    const queue = yield* queueAddressOf(raw.value);
    const code = yield* ensureQueueNetwork(queue, raw.value, writable, extraArgs);
    if (Option.isSome(code)) return yield* Effect.sync(() => Deno.exit(code.value));
    yield* checkReachable(queue); // before anything is created or trained
    return queue;
  });
