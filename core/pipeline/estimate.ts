/**
 * Size of a grid and a rough estimate of its time, for the warning `validate` and
 * `run` print before a large sweep. The estimate counts examples through the network
 * (a training example 1, an evaluation example 1/3) at the full fine-tuning rate this
 * project's benchmark measured on a 2-core machine (`deno task bench`): an upper bound
 * for selections that freeze a prefix, and only an order of magnitude elsewhere.
 * @module
 */
import { formatDuration } from "../progress.ts";
import type { ResolvedPipeline } from "./load.ts";

/** A grid of this many trials or more gets a warning with its estimated time. */
export const LARGE_GRID = 1000;

/** Training examples per second of full fine-tuning, 2 cores, wasm (README's benchmark table). */
const NOMINAL_RATE: Readonly<Record<string, number>> = { "small-cnn": 2000, "resnet-mini": 500 };
const UNKNOWN_RATE = 500;

/** Estimated seconds of `trials` trials of `p` (see the module doc). */
export const estimatedSeconds = (p: ResolvedPipeline, trials: number): number => {
  const { target, finetune } = p.settings;
  const train = typeof target.train === "number" ? target.train : Math.max(...target.train);
  const perTrial = finetune.epochs * (train + target.val / 3) + target.test / 3;
  return (trials * perTrial) / (NOMINAL_RATE[p.model.plugin.name] ?? UNKNOWN_RATE);
};

/** The warning for a large grid, or undefined. */
export const gridWarning = (p: ResolvedPipeline, trials: number): string | undefined =>
  trials < LARGE_GRID
    ? undefined
    : `this grid has ${trials.toLocaleString("en-US")} trials: roughly ${
      formatDuration(estimatedSeconds(p, trials))
    } of fine-tuning on 2 cores (an estimate from the benchmark's full fine-tuning rate of ${p.model.plugin.name}; frozen-prefix selections run faster)`;
