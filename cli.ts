/**
 * The `scalpel` command: assembles the subcommands (one file each in commands/) and
 * turns how a program ended into an exit code: 0 done, 1 a mistake in the input or a
 * failed trial (one paragraph, no stack trace), 2 a command-line usage error, 3 an
 * internal error (with its stack), 130 interrupted. SIGINT / SIGTERM interrupt the
 * program, so its finalizers run: worker processes are stopped and the run directory's
 * lock is released.
 * @module
 */
import { Command } from "@effect/cli";
import { Effect, Fiber } from "effect";
import { SCALPEL_VERSION } from "./core/version.ts";
import { baseLayer, endingOf, exitCodeOf, messageOf } from "./commands/base.ts";
import { run } from "./commands/run.ts";
import { advise } from "./commands/advise.ts";
import { validate } from "./commands/validate.ts";
import { plugins } from "./commands/plugins.ts";
import { worker } from "./commands/worker.ts";
import { corrupt } from "./commands/corrupt.ts";
import { shifts } from "./commands/shifts.ts";
import { schema } from "./commands/schema.ts";
import { cache } from "./commands/cache.ts";
import { model } from "./commands/model.ts";
import { queue } from "./commands/queue.ts";
import { WATCH_STDIN_VARIABLE } from "./commands/queue_net.ts";

const scalpel = Command.make("scalpel").pipe(
  Command.withSubcommands([run, advise, validate, plugins, shifts, corrupt, schema, cache, model, worker, queue]),
  Command.withDescription("surgical fine-tuning experiments: which layers to tune for which distribution shift"),
);

const cli = Command.run(scalpel, { name: "scalpel", version: SCALPEL_VERSION });

/** Seconds a stopping program gets to run its finalizers after SIGINT / SIGTERM before it ends at once. */
const STOP_GRACE_SECONDS = 15;

/** Run the CLI on `args` (without the program name); resolves to the exit code. */
export const main = async (args: ReadonlyArray<string>): Promise<number> => {
  const fiber = Effect.runFork(cli(["deno", "scalpel", ...args]).pipe(Effect.provide(baseLayer())));
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let interrupts = 0;
  const onSignal = () => {
    // the first signal interrupts (finalizers run); a second one ends the process at once
    if (++interrupts > 1) Deno.exit(130);
    Effect.runFork(Fiber.interrupt(fiber));
    // stopping must not hang (a finalizer waiting for an unreachable Redis, say): after a grace period, end at once;
    // results already recorded are kept, and a lock left behind is taken over by the next run on this host
    Deno.unrefTimer(setTimeout(() => {
      console.error(`scalpel: did not stop within ${STOP_GRACE_SECONDS} s of the signal; stopping now`);
      Deno.exit(130);
    }, STOP_GRACE_SECONDS * 1000));
  };
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  if (Deno.env.get(WATCH_STDIN_VARIABLE) === "1") {
    Deno.env.delete(WATCH_STDIN_VARIABLE); // not for this process's own worker processes
    // started again by scalpel itself for network access (commands/queue_net.ts): its parent's end of stdin
    // closes when the parent ends, however it ends
    (async () => {
      for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
      onSignal();
    })();
  }
  try {
    const ending = endingOf(await Effect.runPromise(Fiber.await(fiber)));
    const message = messageOf(ending);
    if (message) console.error(message);
    return exitCodeOf(ending);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
};

if (import.meta.main) Deno.exit(await main(Deno.args));
