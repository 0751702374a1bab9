/**
 * `scalpel worker --stdio`: a worker process of a parallel run on this machine (started
 * by `scalpel run --concurrency N`, not by people): it reads trial specs on stdin and
 * answers with outcome lines on stdout (core/pipeline/worker.ts). It exits when its
 * stdin closes, so it never outlives its parent.
 * @module
 */
import { Command, Options } from "@effect/cli";
import { Effect } from "effect";
import { CommandLineError } from "../core/errors.ts";
import { type BackendChoice, TensorBackendLive } from "../core/backend.ts";
import { makeProgress } from "../core/progress.ts";
import { serveTrials } from "../core/pipeline/worker.ts";

/** `scalpel worker --stdio`. */
export const worker = Command.make("worker", {
  stdio: Options.boolean("stdio").pipe(
    Options.withDescription("serve trials of the parent process over stdin / stdout (used by `run --concurrency`)"),
  ),
}, (a) =>
  Effect.gen(function* () {
    if (!a.stdio) {
      return yield* new CommandLineError({
        flag: "--stdio",
        detail: "a worker needs to be told where its trials come from",
        fix: "`scalpel run --concurrency N` starts its workers itself; there is no other kind of worker yet.",
      });
    }
    const progress = makeProgress({ quiet: false, terminal: false });
    yield* serveTrials(
      progress.log,
      (backend, effect) => effect.pipe(Effect.provide(TensorBackendLive(backend as BackendChoice, { threads: 1 }))),
    );
  })).pipe(Command.withDescription("internal: a worker process of a parallel run (started by `run --concurrency N`)"));
