/**
 * One rung of a trial, with its checkpoints on disk: continue from a checkpoint file
 * (or from the pre-trained weights), run until the rung's epoch, write the paused
 * checkpoint atomically and report the validation curve and the compute spent. The
 * same function runs a rung in this process and in a local worker process, so a
 * candidate's numbers do not depend on where its rungs ran.
 * @module
 */
import { Effect } from "effect";
import { FileSystem, type Path } from "@effect/platform";
import { RunDirectoryError, type UserError } from "../errors.ts";
import { writeFileAtomic } from "../store.ts";
import { isFailed } from "../results.ts";
import type { Trial } from "./expand.ts";
import type { TrialRunner } from "./runner.ts";
import type { RungReport, RungRequest } from "./protocol.ts";
import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
import type { ComputeMeter } from "./trial.ts";

const fileError = (file: string, doing: string) => (e: { message: string }) =>
  new RunDirectoryError({
    dir: file,
    detail: `${doing} a rung checkpoint failed (${e.message})`,
    fix: "Check the permissions and free space there; a damaged checkpoint is run again when its file is deleted.",
  });

/** The best value of a validation curve after epoch 0 (the epoch a full trial would report), and that epoch. */
export const bestOfCurve = (curve: ReadonlyArray<number>): { best: number; epoch: number } => {
  if (curve.length < 2) return { best: curve[0] ?? NaN, epoch: 0 };
  let epoch = 1;
  for (let e = 2; e < curve.length; e++) if (curve[e] > curve[epoch]) epoch = e;
  return { best: curve[epoch], epoch };
};

/** Run rung `req` of `trial` on `runner`: see the module doc. */
export const runRungToFiles = (
  runner: TrialRunner,
  trial: Trial,
  req: RungRequest,
): Effect.Effect<RungReport, UserError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const t0 = performance.now();
    const from = req.from === undefined ? undefined : yield* fs.readFile(req.from).pipe(
      Effect.mapError(fileError(req.from, "reading")),
      Effect.flatMap((bytes) =>
        Effect.try({ try: () => decodeCheckpoint(bytes), catch: (e) => fileError(req.from!, "decoding")(e as Error) })
      ),
    );
    const meter: ComputeMeter = { units: 0 };
    const step = yield* runner.runRung(trial, {
      ...(from ? { from } : {}),
      ...(req.stopAfter !== undefined ? { stopAfter: req.stopAfter } : {}),
      meter,
      skipTest: true,
    });
    const seconds = Math.round((performance.now() - t0) / 10) / 100;
    if ("_tag" in step) {
      yield* writeFileAtomic(req.to, encodeCheckpoint(step.checkpoint)).pipe(
        Effect.mapError(fileError(req.to, "writing")),
      );
      const metric = Object.keys(step.checkpoint.best.val)[0];
      return {
        key: trial.key,
        status: "paused",
        metric,
        epochs: step.checkpoint.train.epoch,
        curve: step.checkpoint.curve,
        best: step.checkpoint.best.val[metric],
        bestEpoch: step.checkpoint.best.epoch,
        compute: meter.units,
        seconds,
      } as const;
    }
    if (isFailed(step)) {
      return {
        key: trial.key,
        status: "failed",
        metric: "",
        epochs: 0,
        curve: [],
        best: NaN,
        bestEpoch: 0,
        compute: meter.units,
        seconds,
        error: step.error.message,
      } as const;
    }
    const metric = Object.keys(step.val)[0];
    return {
      key: trial.key,
      status: "finished",
      metric,
      epochs: step.valCurve.length - 1,
      curve: step.valCurve,
      best: step.val[metric],
      bestEpoch: step.epoch,
      compute: meter.units,
      seconds,
    } as const;
  });
