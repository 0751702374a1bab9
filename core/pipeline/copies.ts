/**
 * One trial instead of one per learning rate for a selection that trains nothing
 * (`none`, or any selector that freezes everything without looking at the run): its
 * trials of a (shift, seed, size) differ only in a learning rate they never use, so
 * one of them runs and the others record a copy of its line under their own key.
 * Which selections qualify is decided by the runner (`TrialRunner.trainsNothing`); this
 * module plans the runs and makes the copies.
 * @module
 */
import { Effect } from "effect";
import { isFailed, type TrialOutcome } from "../results.ts";
import type { Trial } from "./expand.ts";

/** The trials of one (shift, selection, seed, size): the same line whatever the learning rate. */
const cellOf = (t: Trial) => `${t.shiftIndex}|${t.selectionIndex}|${t.seed}|${t.trainSize}`;

/** What to launch, and which lines are copies of which. */
export interface CopyPlan {
  /** The trials to run. */
  readonly launch: ReadonlyArray<Trial>;
  /** Trials recorded from the line of the trial with this key, once it arrives. */
  readonly followers: ReadonlyMap<string, ReadonlyArray<Trial>>;
  /** Trials recorded at once from a line an earlier attempt recorded. */
  readonly fromRecorded: ReadonlyArray<{ readonly trial: Trial; readonly from: TrialOutcome }>;
}

/**
 * Plan `todo` (grid order): of each cell whose selection trains nothing, the first trial
 * runs and the rest follow it, or all copy a finished line an earlier attempt recorded
 * for the cell. Every other trial runs.
 */
export const planCopies = <E, R>(
  todo: ReadonlyArray<Trial>,
  recorded: ReadonlyArray<{ readonly trial: Trial; readonly outcome: TrialOutcome }>,
  trainsNothing: (t: Trial) => Effect.Effect<boolean, E, R>,
): Effect.Effect<CopyPlan, E, R> =>
  Effect.gen(function* () {
    const verdicts = new Map<number, boolean>(); // by selection and shift: the model differs per shift
    const qualifies = (t: Trial) =>
      Effect.gen(function* () {
        const k = t.shiftIndex * 1e6 + t.selectionIndex;
        if (!verdicts.has(k)) verdicts.set(k, yield* trainsNothing(t));
        return verdicts.get(k)!;
      });
    const done = new Map<string, TrialOutcome>();
    for (const { trial, outcome } of recorded) {
      if (!isFailed(outcome) && outcome.trainedParams === 0 && !done.has(cellOf(trial))) {
        done.set(cellOf(trial), outcome);
      }
    }
    const launch: Trial[] = [];
    const followers = new Map<string, Trial[]>();
    const fromRecorded: Array<{ trial: Trial; from: TrialOutcome }> = [];
    const leaders = new Map<string, Trial>();
    for (const t of todo) {
      if (!(yield* qualifies(t))) {
        launch.push(t);
        continue;
      }
      const cell = cellOf(t);
      const from = done.get(cell);
      const leader = leaders.get(cell);
      if (from) fromRecorded.push({ trial: t, from });
      else if (leader) followers.get(leader.key)!.push(t);
      else {
        leaders.set(cell, t);
        followers.set(t.key, []);
        launch.push(t);
      }
    }
    return { launch, followers, fromRecorded };
  });

/**
 * The line of `trial` copied from `from`, the line of another learning rate of its cell:
 * the same result under its own key (`seconds` 0: nothing ran). A leader that failed
 * gives its followers the same failure; one that trained something after all (a selector
 * whose answer is not a function of what it was shown) gives them a failed line saying so,
 * made by `failedLine` (the run's own failed-line maker, `failedLineOf`).
 */
export const copyLine = (
  from: TrialOutcome,
  trial: Trial,
  failedLine: (t: Trial, error: { readonly tag: string; readonly message: string }) => TrialOutcome,
): TrialOutcome =>
  isFailed(from)
    ? { ...from, key: trial.key, lr: trial.lr, seconds: 0 }
    : from.trainedParams === 0
    ? { ...from, key: trial.key, seconds: 0 }
    : failedLine(trial, {
      tag: "PluginError",
      message: `selection ${from.selection} trained ${from.trainedParams} parameters at learning rate ${from.lr} ` +
        "although, asked beforehand, it trained nothing: its selector's answer depends on more than what it is " +
        "shown, so this trial was not copied. Make the selector deterministic, then run with --retry-failed.",
    });
