/**
 * Launchers decide where trials run; `expandTrials` decides which (Hydra's split
 * between sweeper and launcher). Every launcher runs each trial through the same
 * `TrialRunner.run` and yields the outcome lines in the order trials finish; the
 * caller appends them to results.jsonl, the single source of truth. Two launchers
 * today: in this process, and local worker processes (core/pipeline/local_workers.ts).
 * @module
 */
import { Stream } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import type { UserError } from "../errors.ts";
import type { TrialOutcome } from "../results.ts";
import type { Trial } from "./expand.ts";
import type { TrialRunner } from "./runner.ts";

/** Where trials run. */
export interface Launcher<R = never> {
  /** For the log: `in this process`, `2 worker processes`. */
  readonly description: string;
  /** Run `trials`; their outcomes in the order they finish. */
  readonly run: (trials: ReadonlyArray<Trial>) => Stream.Stream<TrialOutcome, UserError, R>;
}

/** Run the trials one after the other in this process. */
export const inProcess = (runner: TrialRunner): Launcher<FileSystem.FileSystem | Path.Path> => ({
  description: "in this process",
  run: (trials) => Stream.fromIterable(trials).pipe(Stream.mapEffect((t) => runner.run(t))),
});
