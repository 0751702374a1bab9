/**
 * `scalpel queue status --queue URL` and `scalpel queue clear RUN --queue URL`: what a
 * queue holds, per run, and the workers alive; removing a run from it
 * (core/queue/status.ts).
 * @module
 */
import { Args, Command, Options } from "@effect/cli";
import { Console, Effect, Option } from "effect";
import { CommandLineError } from "../core/errors.ts";
import { checkReachable, connection } from "../core/queue/connection.ts";
import { clearRun, queueStatus } from "../core/queue/status.ts";
import { ensureQueueNetwork, queueAddressOf } from "./queue_net.ts";

const queueOption = Options.text("queue").pipe(
  Options.withDescription("the queue (redis://[user:password@]host:port, rediss://…, or env:NAME)"),
);

/** Connect to `raw` (re-starting with network access when needed) and run `f` on the connection. */
const onQueue = <A, E>(raw: string, f: (client: import("ioredis").Redis) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const address = yield* queueAddressOf(raw);
    const code = yield* ensureQueueNetwork(address, raw, []);
    if (Option.isSome(code)) return yield* Effect.sync(() => Deno.exit(code.value));
    yield* checkReachable(address);
    const client = yield* connection(address, (line) => console.error(line));
    return yield* f(client);
  }).pipe(Effect.scoped);

const status = Command.make(
  "status",
  { queue: queueOption },
  (a) =>
    onQueue(a.queue, (client) =>
      Effect.gen(function* () {
        const s = yield* queueStatus(client);
        if (s.runs.length === 0) yield* Console.log("no runs on this queue");
        for (const r of s.runs) {
          const b = r.bundle;
          const j = r.jobs;
          yield* Console.log(
            `run ${r.runId}: ${
              b ? `${b.name}, ${b.trials} trials, coordinator ${b.host}:${b.directory}` : "(no bundle)"
            }\n` +
              `  recorded ${r.recorded ?? "?"}, waiting ${
                j.waiting + j.prioritized + j.delayed
              }, running ${j.active}, ` +
              `finished but not collected ${j.completed}, failed ${j.failed}`,
          );
        }
        yield* Console.log(
          `${s.workers.length} worker(s) alive${
            s.workers.length === 0
              ? ""
              : ": " + s.workers.map((w) => `${w.host} (process ${w.pid}, ${w.concurrency} at a time)`).join(", ")
          }`,
        );
      })),
).pipe(Command.withDescription("runs on a queue (trials waiting, running, done, failed) and workers alive"));

const clear = Command.make("clear", {
  run: Args.text({ name: "run" }).pipe(Args.withDescription("the run id (see `queue status`)")),
  queue: queueOption,
}, (a) =>
  Effect.gen(function* () {
    if (!/^[0-9a-f]{16}$/.test(a.run)) {
      return yield* new CommandLineError({
        flag: "RUN",
        detail: `${JSON.stringify(a.run)} is not a run id`,
        fix: "Give the 16-character id `scalpel queue status` shows.",
      });
    }
    yield* onQueue(a.queue, (client) =>
      Effect.gen(function* () {
        const c = yield* clearRun(client, a.run);
        yield* Console.log(
          `run ${a.run}: removed ${c.removed} job(s) and ${c.blobs} blob(s)` +
            (c.active > 0 ? `; ${c.active} running trial(s) finish on their workers and are then dropped` : ""),
        );
      }));
  })).pipe(Command.withDescription("remove a run's trials and files from a queue"));

/** `scalpel queue`. */
export const queue = Command.make("queue").pipe(
  Command.withSubcommands([status, clear]),
  Command.withDescription("what a queue holds (`status`), and removing a run from it (`clear`)"),
);
