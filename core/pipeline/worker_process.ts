/**
 * One worker process on this machine (`scalpel worker --stdio`), as a scoped resource:
 * started through `@effect/platform`'s Command, killed when its scope closes. It is
 * handed one trial at a time over its stdin and answers with the trial's outcome line
 * on its stdout (protocol.ts). Both launchers that run trials in subprocesses use it:
 * local workers (local_workers.ts) and a queue worker (core/queue/serve.ts), which
 * keeps its own event loop free this way, so its queue locks are renewed while a
 * CPU-bound trial runs.
 * @module
 */
import { Effect, Either, Queue, Schema, type Scope, Stream } from "effect";
import { Command, type CommandExecutor } from "@effect/platform";
import { WorkerError } from "../errors.ts";
import type { TrialOutcome } from "../results.ts";
import {
  encodeMessage,
  type FromWorker,
  FromWorkerSchema,
  MESSAGE_PREFIX,
  type RungReport,
  type RungRequest,
  type ToWorker,
  ToWorkerSchema,
} from "./protocol.ts";

/** How to start one worker process. */
export interface WorkerCommand {
  readonly command: string;
  readonly args: ReadonlyArray<string>;
}

/** A trial as the worker protocol carries it. */
export type TrialSpec = Extract<ToWorker, { readonly type: "trial" }>["trial"];

/** What a trial's epoch reports. */
export type EpochReport = (key: string, epoch: number, epochs: number, loss: number) => Effect.Effect<void>;

/** A started worker process. */
export interface WorkerProcess {
  readonly pid: number;
  /** Run one trial on it (one at a time); fails with a WorkerError when the process stops or misbehaves. */
  readonly run: (trial: TrialSpec, onEpoch?: EpochReport) => Effect.Effect<TrialOutcome, WorkerError>;
  /** Run one rung of a trial on it (checkpoints through files; see rung.ts). */
  readonly rung: (request: RungRequest, onEpoch?: EpochReport) => Effect.Effect<RungReport, WorkerError>;
  /** Tell it there are no more trials (its stdin closes) and wait for a clean exit. */
  readonly finish: Effect.Effect<void, WorkerError>;
}

/** Settings of one worker process. */
export interface WorkerProcessOptions {
  /** 1-based number, for messages. */
  readonly number: number;
  readonly command: WorkerCommand;
  /** Its first message: which pipeline, which cache. */
  readonly init: Extract<ToWorker, { readonly type: "init" }>;
  /** Lines it prints on stderr, and output that is not a message, passed on with a `[wK]` prefix. */
  readonly log: (line: string) => Effect.Effect<void>;
}

const decodeFromWorker = Schema.decodeUnknownEither(Schema.parseJson(FromWorkerSchema));

/** Lines of a byte stream. */
const linesOf = <E>(bytes: Stream.Stream<Uint8Array, E>) => bytes.pipe(Stream.decodeText(), Stream.splitLines);

type Message = FromWorker | { readonly type: "eof" } | { readonly type: "bad"; readonly text: string };

/** Start a worker process in the current scope (it is killed when the scope closes). */
export const startWorkerProcess = (
  opts: WorkerProcessOptions,
): Effect.Effect<WorkerProcess, WorkerError, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const number = opts.number;
    const fail = (detail: string, reported?: { tag: string; message: string }) =>
      new WorkerError({ worker: number, detail, ...(reported ? { reported } : {}) });
    const stdin = yield* Queue.unbounded<string>();
    const process = yield* Command.start(
      Command.make(opts.command.command, ...opts.command.args).pipe(
        Command.stdin(Stream.fromQueue(stdin).pipe(Stream.encodeText)),
      ),
    ).pipe(Effect.mapError((e) => fail(`could not be started (${e.message})`)));
    yield* opts.log(`worker ${number} started (process ${process.pid})`);
    const messages = yield* Queue.unbounded<Message>();
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
        return messages.offer(Either.isRight(decoded) ? decoded.right : { type: "bad", text: line.slice(0, 200) });
      }),
      Effect.ignore,
      Effect.ensuring(messages.offer({ type: "eof" })),
      Effect.forkScoped,
    );
    let reported: { tag: string; message: string } | undefined;
    const stopped = (doing: string) =>
      Effect.gen(function* () {
        const code = yield* process.exitCode.pipe(
          Effect.map((c) => `exit code ${c}`),
          Effect.orElseSucceed(() => "killed by a signal"),
        );
        if (reported) return yield* fail(`stopped ${doing}: ${reported.message}`, reported);
        const said = stderrTail.filter((l) => l.trim() !== "").slice(-3).join(" | ");
        return yield* fail(`stopped (${code}) ${doing}${said ? `; it said: ${said}` : ""}`);
      });
    yield* stdin.offer(encodeMessage(ToWorkerSchema, opts.init) + "\n");
    /** Send `message` and wait for the answer `answer` picks out (undefined: not it, keep waiting). */
    const exchange = <A>(
      message: ToWorker,
      key: string,
      onEpoch: EpochReport | undefined,
      answer: (m: Extract<FromWorker, { type: "outcome" | "rung-report" }>) => A | undefined,
    ) =>
      Effect.gen(function* () {
        yield* stdin.offer(encodeMessage(ToWorkerSchema, message) + "\n");
        while (true) {
          const m = yield* messages.take;
          if (m.type === "eof") return yield* stopped(`while running trial ${key}`);
          if (m.type === "bad") return yield* fail(`sent a message scalpel cannot read: ${m.text}`);
          if (m.type === "error") {
            reported = { tag: m.tag, message: m.message };
            continue;
          }
          if (m.type === "epoch") {
            if (onEpoch && m.key === key) yield* onEpoch(m.key, m.epoch, m.epochs, m.loss);
            continue;
          }
          const got = m.type === "outcome" ? m.outcome.key : m.report.key;
          const a = got === key ? answer(m) : undefined;
          if (a === undefined) return yield* fail(`answered trial ${key} with ${m.type} of trial ${got}`);
          return a;
        }
      });
    const run = (trial: TrialSpec, onEpoch?: EpochReport) =>
      exchange({ type: "trial", trial }, trial.key, onEpoch, (m) => (m.type === "outcome" ? m.outcome : undefined));
    const rung = (request: RungRequest, onEpoch?: EpochReport) =>
      exchange(
        { type: "rung", rung: request },
        request.trial.key,
        onEpoch,
        (m) => (m.type === "rung-report" ? m.report : undefined),
      );
    const finish = Effect.gen(function* () {
      // no more trials: closing its stdin tells the worker to exit
      yield* Queue.shutdown(stdin);
      const code = yield* process.exitCode.pipe(Effect.orElseSucceed(() => -1));
      if (code !== 0) return yield* stopped("after its last trial");
    });
    return { pid: process.pid, run, rung, finish };
  });
