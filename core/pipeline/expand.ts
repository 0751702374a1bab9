/**
 * Grid expansion: a resolved pipeline becomes trials (shift × selection × seed ×
 * learning rate). Each trial's key is a hash of its resolved settings, not of its
 * position, so adding a trial never changes another's key.
 * @module
 */
import { contentHash } from "../hash.ts";
import { refJson, type ResolvedPipeline } from "./load.ts";

/** One unit of work: fine-tune from the pre-trained weights and evaluate. */
export interface Trial {
  readonly key: string;
  readonly shiftIndex: number;
  readonly selectionIndex: number;
  /** Labelled target examples it fine-tunes on (one of `target.train`). */
  readonly trainSize: number;
  /** Fine-tuning seed index, 0-based. */
  readonly seed: number;
  readonly lr: number;
}

/** Settings that every trial of a pipeline shares (and that its key depends on). */
export const sharedSettings = (p: ResolvedPipeline) => ({
  seed: p.settings.seed,
  backend: p.settings.backend,
  dataset: refJson(p.dataset),
  model: refJson(p.model),
  pretrain: p.settings.pretrain,
  target: p.settings.target,
  finetune: { epochs: p.settings.finetune.epochs, batchSize: p.settings.finetune.batchSize },
  evaluators: p.evaluators.map(refJson),
});

/** The numbers of labelled target examples of the grid (`target.train`, a number or a list), in file order. */
export const trainSizes = (p: ResolvedPipeline): ReadonlyArray<number> => {
  const t = p.settings.target.train;
  return typeof t === "number" ? [t] : t;
};

/** All trials, shift-major (so each shift's data is prepared once). */
export const expandTrials = (p: ResolvedPipeline): ReadonlyArray<Trial> => {
  const shared = sharedSettings(p);
  const sizes = trainSizes(p);
  // a single size is not part of the key (keys of pipelines without a size grid stay what they were)
  const grid = typeof p.settings.target.train !== "number";
  const trials: Trial[] = [];
  p.shifts.forEach((shift, shiftIndex) =>
    p.selections.forEach((selection, selectionIndex) => {
      for (const trainSize of sizes) {
        for (let seed = 0; seed < p.settings.seeds; seed++) {
          for (const lr of p.settings.finetune.learningRates) {
            const key = contentHash({
              shared,
              shift: refJson(shift),
              selection: refJson(selection),
              seed,
              lr,
              ...(grid ? { trainSize } : {}),
            });
            trials.push({ key, shiftIndex, selectionIndex, trainSize, seed, lr });
          }
        }
      }
    })
  );
  return trials;
};
