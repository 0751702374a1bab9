/**
 * The local-processes launcher: trials spread over worker processes on this machine,
 * each with its own tensor backend (how a parallel run uses every core). Workers are
 * started through `@effect/platform`'s Command as scoped resources: when the run ends,
 * fails or is interrupted, its workers are killed. Each worker is handed one trial at a
 * time over its stdin and answers with the trial's outcome line on its stdout (see
 * protocol.ts), so a free worker always takes the next trial in grid order. A worker
 * watches its stdin: when the parent dies, even by `kill -9`, the pipe closes and the
 * worker exits. A trial's numbers do not depend on which worker runs it.
 * @module
 */
import { Effect, Either, Mailbox, Queue, Schema, Stream } from "effect";
import { Command, type CommandExecutor } from "@effect/platform";
import { type UserError, WorkerError } from "../errors.ts";
import type { TrialOutcome } from "../results.ts";
import type { Trial } from "./expand.ts";
import type { Launcher } from "./launcher.ts";
import {
  encodeMessage,
  type FromWorker,
  FromWorkerSchema,
  MESSAGE_PREFIX,
  type ToWorker,
  ToWorkerSchema,
} from "./protocol.ts";

/** How to start one worker process. */
export interface WorkerCommand {
  readonly command: string;
  readonly args: ReadonlyArray<string>;
}

/** Settings of the local-processes launcher. */
export interface LocalWorkersOptions {
  /** Worker processes (no more are started than there are trials). */
  readonly count: number;
  readonly command: WorkerCommand;
  /** The first message each worker gets: which pipeline, which cache. */
  readonly init: Extract<ToWorker, { readonly type: "init" }>;
  /** Lines a worker prints on stderr (its progress, its warnings), passed on with a `[wK]` prefix. */
  readonly log: (line: string) => Effect.Effect<void>;
  /** A worker's trial finished an epoch. */
  readonly onEpoch?: (key: string, epoch: number, epochs: number, loss: number) => Effect.Effect<void>;
}

const decodeFromWorker = Schema.decodeUnknownEither(Schema.parseJson(FromWorkerSchema));

/** Lines of a byte stream. */
const linesOf = <E>(bytes: Stream.Stream<Uint8Array, E>) => bytes.pipe(Stream.decodeText(), Stream.splitLines);

/** The local-processes launcher. */
export const localWorkers = (opts: LocalWorkersOptions): Launcher<CommandExecutor.CommandExecutor> => ({
  description: `${opts.count} worker processes`,
  run: (trials) =>
    trials.length === 0 ? Stream.empty : Stream.unwrapScoped(Effect.gen(function* () {
      const out = yield* Mailbox.make<TrialOutcome, UserError>();
      let next = 0;
      const takeNext = (): Trial | undefined => (next < trials.length ? trials[next++] : undefined);
      const worker = (index: number) =>
        Effect.gen(function* () {
          const number = index + 1;
          const fail = (detail: string) => new WorkerError({ worker: number, detail });
          const stdin = yield* Queue.unbounded<string>();
          const process = yield* Command.start(
            Command.make(opts.command.command, ...opts.command.args).pipe(
              Command.stdin(Stream.fromQueue(stdin).pipe(Stream.encodeText)),
            ),
          ).pipe(Effect.mapError((e) => fail(`could not be started (${e.message})`)));
          yield* opts.log(`worker ${number} started (process ${process.pid})`);
          const messages = yield* Queue.unbounded<
            FromWorker | { readonly type: "eof" } | { readonly type: "bad"; readonly text: string }
          >();
          const stderrTail: string[] = [];
          yield* linesOf(process.stderr).pipe(
            Stream.runForEach((line) =>
              Effect.suspend(() => {
                stderrTail.push(line);
                if (stderrTail.length > 8) stderrTail.shift();
                return opts.log(`[w${number}] ${line}`);
              })
            ),
            Effect.ignore,
            Effect.forkScoped,
          );
          yield* linesOf(process.stdout).pipe(
            Stream.runForEach((line) => {
              if (!line.startsWith(MESSAGE_PREFIX)) return line === "" ? Effect.void : opts.log(`[w${number}] ${line}`);
              const decoded = decodeFromWorker(line.slice(MESSAGE_PREFIX.length));
              return messages.offer(
                Either.isRight(decoded) ? decoded.right : { type: "bad", text: line.slice(0, 200) },
              );
            }),
            Effect.ignore,
            Effect.ensuring(messages.offer({ type: "eof" })),
            Effect.forkScoped,
          );
          const stopped = (doing: string) =>
            Effect.gen(function* () {
              const code = yield* process.exitCode.pipe(
                Effect.map((c) => `exit code ${c}`),
                Effect.orElseSucceed(() => "killed by a signal"),
              );
              const said = stderrTail.filter((l) => l.trim() !== "").slice(-3).join(" | ");
              return yield* fail(`stopped (${code}) ${doing}${said ? `; it said: ${said}` : ""}`);
            });
          yield* stdin.offer(encodeMessage(ToWorkerSchema, opts.init) + "\n");
          for (let t = takeNext(); t !== undefined; t = takeNext()) {
            const trial = t;
            yield* stdin.offer(encodeMessage(ToWorkerSchema, { type: "trial", trial }) + "\n");
            while (true) {
              const m = yield* messages.take;
              if (m.type === "eof") return yield* stopped(`while running trial ${trial.key}`);
              if (m.type === "bad") return yield* fail(`sent a message scalpel cannot read: ${m.text}`);
              if (m.type === "epoch") {
                if (opts.onEpoch && m.key === trial.key) yield* opts.onEpoch(m.key, m.epoch, m.epochs, m.loss);
                continue;
              }
              if (m.outcome.key !== trial.key) {
                return yield* fail(`answered trial ${trial.key} with the outcome of trial ${m.outcome.key}`);
              }
              yield* out.offer(m.outcome);
              break;
            }
          }
          // no more trials: closing its stdin tells the worker to exit
          yield* Queue.shutdown(stdin);
          const code = yield* process.exitCode.pipe(Effect.orElseSucceed(() => -1));
          if (code !== 0) return yield* stopped("after its last trial");
        }).pipe(Effect.scoped);
      const count = Math.max(1, Math.min(opts.count, trials.length));
      yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), worker, {
        concurrency: "unbounded",
        discard: true,
      }).pipe(
        Effect.matchCauseEffect({ onFailure: (cause) => out.failCause(cause), onSuccess: () => out.end }),
        Effect.forkScoped,
      );
      return Mailbox.toStream(out);
    })),
});

/** Below this many trials `--concurrency auto` runs in one process (workers' start-up would not pay off). */
export const AUTO_PARALLEL_MIN_TRIALS = 12;

/** CPU cores a run spreads its work over: one per core, at most 4 (`auto` of --concurrency and --threads). */
export const usableCores = (): number => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));

/**
 * `--concurrency auto`: {@link usableCores} workers for runs of at least
 * {@link AUTO_PARALLEL_MIN_TRIALS} trials when subprocesses are allowed; otherwise 1.
 */
export const autoConcurrency = (trials: number): number => {
  if (trials < AUTO_PARALLEL_MIN_TRIALS) return 1;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return 1;
  return usableCores();
};
