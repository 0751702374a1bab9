/**
 * The worker side of the local-processes launcher (`scalpel worker --stdio`): read an
 * `init` message and then one trial spec at a time from stdin, run each through the
 * same TrialRunner as an in-process run, and answer with its outcome line on stdout
 * (or, for a rung of the advisor's, with its rung report; rung.ts).
 * The worker never pre-trains (its parent did) and never writes results.jsonl (its
 * parent does). When stdin closes — no more trials, or the parent died — it exits.
 * An error that stops it (the pipeline cannot be loaded here, the dataset differs
 * from the run's) is sent to the parent as an `error` message before it exits.
 * @module
 */
import { Effect, Either, Schema } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import { DatasetError, PipelineFileError, type UserError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import type { TensorBackend } from "../backend.ts";
import { loadPipeline, refJson } from "./load.ts";
import { makePlugins } from "./make.ts";
import { prepare } from "./prepare.ts";
import { makeTrialRunner } from "./runner.ts";
import { runRungToFiles } from "./rung.ts";
import type { TrialSpec } from "./worker_process.ts";
import { encodeMessage, FromWorkerSchema, MESSAGE_PREFIX, type ToWorker, ToWorkerSchema } from "./protocol.ts";

const encoder = new TextEncoder();

/** Write one message line to stdout, whole. */
const send = (message: typeof FromWorkerSchema.Type) =>
  Effect.sync(() => {
    const bytes = encoder.encode(MESSAGE_PREFIX + encodeMessage(FromWorkerSchema, message) + "\n");
    let written = 0;
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  });

/** The lines of stdin; when it closes (the parent is done or gone) the process exits. */
async function* stdinLines(): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
}

const decode = Schema.decodeUnknownEither(Schema.parseJson(ToWorkerSchema));

/** Serve trials over stdin / stdout until stdin closes; `makeBackend` starts the backend the pipeline asks for. */
export const serveTrials = (
  log: (line: string) => Effect.Effect<void>,
  withBackend: <A, E, R>(
    backend: string,
    effect: Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | UserError, Exclude<R, TensorBackend>>,
): Effect.Effect<void, UserError, FileSystem.FileSystem | Path.Path | Registry> =>
  Effect.gen(function* () {
    const lines = stdinLines();
    const next = Effect.promise(() => lines.next()).pipe(
      Effect.flatMap((r) => r.done ? Effect.sync(() => Deno.exit(0)) as Effect.Effect<never> : Effect.succeed(r.value)),
      Effect.flatMap((text) => {
        const m = decode(text);
        return Either.isRight(m) ? Effect.succeed(m.right) : Effect.dieMessage(`bad message from the parent: ${text}`);
      }),
    );
    const init = yield* next;
    if (init.type !== "init") return yield* Effect.dieMessage("the first message to a worker must be `init`");
    const p = yield* loadPipeline(init.pipeline.file, init.pipeline.overrides);
    yield* withBackend(
      init.backend ?? p.settings.backend,
      Effect.gen(function* () {
        const made = yield* makePlugins(p);
        const prepared = yield* prepare(p, made);
        if (init.dataHash !== undefined && init.dataHash !== prepared.dataHash) {
          return yield* new DatasetError({
            file: `${JSON.stringify(refJson(p.dataset))} (pipeline ${p.settings.name})`,
            detail: `the dataset on this machine (content hash ${prepared.dataHash}) differs from the one the run ` +
              `was started on (content hash ${init.dataHash}), so this worker would compute other numbers`,
            fix: "Give this machine the same dataset files as the machine running `scalpel run --queue`, " +
              "or stop this worker; the run's results so far are kept.",
          });
        }
        const byKey = new Map(prepared.trials.map((t) => [t.key, t]));
        let current = "";
        const runner = yield* makeTrialRunner(prepared, {
          cacheDir: init.cacheDir,
          log,
          onMiss: "fail",
          ...(init.saveDir ? { saveDir: init.saveDir } : {}),
          onEpoch: (e) => send({ type: "epoch", key: current, epoch: e.epoch, epochs: e.epochs, loss: e.loss }),
        });
        const trialOf = (spec: TrialSpec) => {
          const trial = byKey.get(spec.key);
          if (
            !trial || trial.shiftIndex !== spec.shiftIndex || trial.selectionIndex !== spec.selectionIndex ||
            trial.seed !== spec.seed || trial.lr !== spec.lr || trial.trainSize !== spec.trainSize
          ) {
            return Effect.fail(
              new PipelineFileError({
                file: p.file,
                detail:
                  `  trial ${spec.key} is not one of this pipeline's trials: the file changed after the run started`,
              }),
            );
          }
          current = trial.key;
          return Effect.succeed(trial);
        };
        while (true) {
          const m: ToWorker = yield* next;
          if (m.type === "trial") {
            const outcome = yield* runner.run(yield* trialOf(m.trial));
            yield* send({ type: "outcome", outcome });
          } else if (m.type === "rung") {
            const report = yield* runRungToFiles(runner, yield* trialOf(m.rung.trial), m.rung);
            yield* send({ type: "rung-report", report });
          }
        }
      }).pipe(Effect.scoped),
    );
  }).pipe(
    // the parent gets the one-paragraph error as a message, not only as stderr lines
    Effect.tapError((e) => send({ type: "error", tag: e._tag, message: e.describe() })),
  );
