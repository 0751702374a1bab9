/**
 * The order trials are launched in. A worker process keeps one target sample at a time
 * (a shift's target data, one seed's splits, their prefix cache and the pre-trained model's
 * starting scores, `runner.ts`), so trials run sample by sample, in the order the grid first
 * names the samples; within a sample the longest trials go first, so that parallel workers do
 * not end the run with one of them busy on a long trial while the others wait. A trial's
 * length is judged by the first stage of the model it trains (`TrialRunner.firstTrainedStage`):
 * every stage from there on runs forward and backward at each step and forward at each
 * evaluation. The order changes no result (each trial's randomness comes from its own key),
 * only the order of the lines in results.jsonl.
 * @module
 */
import { Effect } from "effect";
import type { Trial } from "./expand.ts";

/** `trials` sample by sample (in grid order), and within a sample by first trained stage, earliest first. */
export const longestFirst = <E, R>(
  trials: ReadonlyArray<Trial>,
  firstTrainedStage: (t: Trial) => Effect.Effect<number, E, R>,
): Effect.Effect<ReadonlyArray<Trial>, E, R> =>
  Effect.gen(function* () {
    const samples = new Map<string, number>();
    // the stage depends on the selection and on the shift's pre-trained model only: asked once per pair
    const stages = new Map<string, number>();
    const ranked: Array<{ t: Trial; sample: number; stage: number }> = [];
    for (const t of trials) {
      const sample = `${t.shiftIndex}|${t.seed}|${t.trainSize}`;
      if (!samples.has(sample)) samples.set(sample, samples.size);
      const pair = `${t.shiftIndex}|${t.selectionIndex}`;
      if (!stages.has(pair)) stages.set(pair, yield* firstTrainedStage(t));
      ranked.push({ t, sample: samples.get(sample)!, stage: stages.get(pair)! });
    }
    // Array.prototype.sort is stable: ties keep grid order
    return ranked.sort((a, b) => a.sample - b.sample || a.stage - b.stage).map((r) => r.t);
  });
