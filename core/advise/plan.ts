/**
 * Budgeted plans of the advisor, decided before anything trains (pure functions).
 *
 * Compute is counted in examples through the network (ComputeMeter in
 * core/pipeline/trial.ts): a training example 1, an evaluated one 1/3. `cost[c][e]` is
 * an upper bound of what candidate `c` spends in epoch `e` (0-based) on one seed.
 *
 * **Successive halving with synchronous rungs.** Every candidate trains to the first
 * rung's epoch; the best 1/η on validation continue from their checkpoints to the next
 * rung, and so on until one is left. A rung's cost is bounded by the most expensive
 * candidates that could have survived to it, so a plan's `units` is a ceiling of what
 * it spends, whoever survives. Among the plans within the budget the advisor takes,
 * in this order: the plans whose last rung reaches the pipeline's full epoch count;
 * among them the most seeds (candidates are ranked by their mean over seeds), then
 * the smallest η (more survivors per rung). When no plan reaches the full epoch count,
 * one seed, the longest last rung, then the smallest η.
 * @module
 */

/** The advisor's strategies: successive halving, and zero-cost ranking with a learning-rate probe. */
export const STRATEGIES = ["halving", "zero-cost"] as const;

/** A strategy. */
export type Strategy = (typeof STRATEGIES)[number];

/** One rung: train the surviving candidates until `epochs` epochs are done. */
export interface PlannedRung {
  readonly epochs: number;
  /** Candidates trained in this rung. */
  readonly candidates: number;
}

/** A successive-halving plan. */
export interface HalvingPlan {
  /** Fine-tuning seeds every candidate runs on. */
  readonly seeds: number;
  readonly eta: number;
  readonly rungs: ReadonlyArray<PlannedRung>;
  /** Upper bound of the compute units it spends (the seeds' starting evaluations included). */
  readonly units: number;
}

/** The η values a halving plan may use. */
export const ETAS = [2, 3, 4] as const;

/** Survivors per rung: n, ⌈n/η⌉, … down to (not including) 1. Empty for a single candidate. */
export const survivorCounts = (n: number, eta: number): number[] => {
  const out: number[] = [];
  for (let s = n; s > 1; s = Math.ceil(s / eta)) out.push(s);
  return out;
};

/**
 * Epoch targets of `rungs` rungs whose last reaches `top`: geometric by η, at least
 * `minFirst` (1 by default), never decreasing.
 */
export const rungEpochs = (rungs: number, eta: number, top: number, minFirst = 1): number[] => {
  const out: number[] = [];
  for (let k = 0; k < rungs; k++) {
    const e = Math.max(minFirst, Math.floor(top / eta ** (rungs - 1 - k)));
    out.push(Math.max(e, out[k - 1] ?? 1));
  }
  return out;
};

/** Sum of the `count` largest values. */
const topSum = (xs: ReadonlyArray<number>, count: number): number =>
  [...xs].sort((a, b) => b - a).slice(0, count).reduce((a, b) => a + b, 0);

/** The cost bound of candidates training from epoch `from` to `to` (the `count` most expensive ones). */
export const segmentBound = (cost: ReadonlyArray<ReadonlyArray<number>>, from: number, to: number, count: number) =>
  topSum(cost.map((row) => row.slice(from, to).reduce((a, b) => a + b, 0)), count);

/** The compute bound of a halving plan on `seeds` seeds; `start` is what one seed's starting evaluation costs. */
export const halvingUnits = (
  cost: ReadonlyArray<ReadonlyArray<number>>,
  rungs: ReadonlyArray<PlannedRung>,
  seeds: number,
  start: number,
): number => {
  let perSeed = start;
  let done = 0;
  for (const r of rungs) {
    perSeed += segmentBound(cost, done, r.epochs, r.candidates);
    done = r.epochs;
  }
  return seeds * perSeed;
};

/** The plan of `cost.length` candidates, η, a last rung of `top` epochs and a first of at least `minFirst`. */
export const halvingPlanOf = (
  cost: ReadonlyArray<ReadonlyArray<number>>,
  eta: number,
  top: number,
  seeds: number,
  start: number,
  minFirst = 1,
): HalvingPlan => {
  const counts = survivorCounts(cost.length, eta);
  const epochs = rungEpochs(counts.length, eta, top, Math.min(minFirst, top));
  // a rung that adds no epoch would rank the same scores again: its cut is made by the rung before it
  const rungs = counts.map((candidates, k) => ({ epochs: epochs[k], candidates }))
    .filter((r, k) => k === 0 || r.epochs > epochs[k - 1]);
  return { seeds, eta, rungs, units: halvingUnits(cost, rungs, seeds, start) };
};

/**
 * The successive-halving plan within `ceiling` units (see the module doc for which one),
 * or undefined when even one seed with a one-epoch last rung costs more.
 */
export const planHalving = (opts: {
  readonly cost: ReadonlyArray<ReadonlyArray<number>>;
  /** The pipeline's fine-tuning epochs. */
  readonly epochs: number;
  /** Fine-tuning seeds available. */
  readonly seeds: number;
  /** Units of one seed's starting evaluation. */
  readonly start: number;
  readonly ceiling: number;
}): HalvingPlan | undefined => {
  const { cost, epochs, seeds, start, ceiling } = opts;
  for (let m = seeds; m >= 1; m--) {
    for (const eta of ETAS) {
      const plan = halvingPlanOf(cost, eta, epochs, m, start);
      if (plan.units <= ceiling) return plan;
    }
  }
  for (let top = epochs - 1; top >= 1; top--) {
    for (const eta of ETAS) {
      const plan = halvingPlanOf(cost, eta, top, 1, start);
      if (plan.units <= ceiling) return plan;
    }
  }
  return undefined;
};

/** The cheapest plan there is (one seed, one-epoch rungs, the η that costs least): for a "budget too small" message. */
export const cheapestHalving = (
  cost: ReadonlyArray<ReadonlyArray<number>>,
  start: number,
): HalvingPlan => {
  const plans = ETAS.map((eta) => halvingPlanOf(cost, eta, 1, 1, start));
  return plans.reduce((a, b) => (b.units < a.units ? b : a));
};

/**
 * The probe of the zero-cost strategy: the top-ranked candidates (each selection kept ×
 * every learning rate) trained for `epochs` epochs on one seed. The longest probe up to
 * `wanted` epochs within `ceiling` (`fixed`: units already committed, the gradient
 * statistics and the starting evaluation); undefined when one epoch costs more.
 */
export const planProbe = (opts: {
  readonly cost: ReadonlyArray<ReadonlyArray<number>>;
  readonly wanted: number;
  readonly fixed: number;
  readonly ceiling: number;
}): { readonly epochs: number; readonly units: number } | undefined => {
  for (let e = opts.wanted; e >= 1; e--) {
    const units = opts.fixed + segmentBound(opts.cost, 0, e, opts.cost.length);
    if (units <= opts.ceiling) return { epochs: e, units };
  }
  return undefined;
};
