/**
 * What trials cost, in compute units (examples through the network: a training
 * example 1, gradient-statistics examples included; an evaluated example 1/3), known
 * before anything trains: the advisor's budget is a fraction of the full sweep's units,
 * and its plans are bounded with these numbers.
 *
 * Per epoch a trial evaluates validation (val/3) and, when its selector trains
 * something or asks for gradient statistics, passes every training example forward and
 * backward (train) plus the statistics' examples. A trial that trained something scores
 * test once at the end (test/3); every (shift, seed, size) evaluates validation and test
 * of the pre-trained model once (start). Each selector is asked for its multipliers of
 * every epoch with statistics that are all zero: a fixed or scheduled selector answers
 * exactly; one that asks for statistics is counted as training every epoch.
 * @module
 */
import type { Model } from "../model.ts";
import type { SelectorImpl } from "../plugin.ts";
import { gradientStatsUnits, type TensorGradientStats } from "../gradstats.ts";
import { evaluationUnits } from "../pipeline/trial.ts";

/** The sizes that set a cell's costs. */
export interface CellSizes {
  readonly train: number;
  readonly val: number;
  readonly test: number;
  readonly batchSize: number;
  readonly epochs: number;
}

/** Units of one seed's starting evaluation (validation and test of the pre-trained model). */
export const startUnits = (s: CellSizes): number => evaluationUnits(s.val) + evaluationUnits(s.test);

/** Per epoch, the units a trial of `selector` spends (upper bound; exact for fixed and scheduled selectors). */
export const epochCosts = (selector: SelectorImpl, model: Model, s: CellSizes): number[] => {
  const zero: TensorGradientStats = { gradNorm: 0, paramNorm: 1, saliency: 0, snr: 0 };
  const stats = new Map(model.params.map((v) => [v.name, zero]));
  const out: number[] = [];
  for (let epoch = 0; epoch < s.epochs; epoch++) {
    let statsUnits = 0;
    const m = selector.multipliers({
      model,
      epoch,
      epochs: s.epochs,
      trainLosses: Array.from({ length: epoch }, () => 1),
      gradientStats: (req) => {
        statsUnits += gradientStatsUnits(req, s.batchSize, s.train);
        return stats;
      },
    });
    const trains = statsUnits > 0 || [...m.values()].some((x) => x > 0);
    out.push((trains ? s.train : 0) + statsUnits + evaluationUnits(s.val));
  }
  return out;
};

/** Units of a whole trial with these epoch costs (its final test evaluation included when it trains). */
export const trialUnits = (costs: ReadonlyArray<number>, s: CellSizes): number => {
  const evalOnly = evaluationUnits(s.val);
  const trains = costs.some((c) => c > evalOnly);
  return costs.reduce((a, b) => a + b, 0) + (trains ? evaluationUnits(s.test) : 0);
};

/** Units of the full sweep of one cell: every selection × learning rate × seed, and each seed's start. */
export const sweepUnits = (
  perSelection: ReadonlyArray<ReadonlyArray<number>>,
  learningRates: number,
  seeds: number,
  s: CellSizes,
): number => seeds * (startUnits(s) + learningRates * perSelection.reduce((a, c) => a + trialUnits(c, s), 0));
