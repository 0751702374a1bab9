/**
 * Zero-cost ranking of layer selections from gradient statistics at the pre-trained
 * weights on the target training data (core/gradstats.ts), nothing trained. The
 * parameters a selection trains at epoch 0 (multiplier > 0) are taken as one vector,
 * and three signals are measured on it:
 *
 * - `rgn`: relative gradient norm ‖g‖/‖θ‖ (Auto-RGN, Lee et al., ICLR 2023, measured
 *   per tensor there; here over the selection, so that a tiny bias with a near-zero
 *   norm does not decide for its whole block);
 * - `snr`: per-example gradient signal-to-noise ratio, mean² / variance, averaged over
 *   the selection's entries (Auto-SNR);
 * - `snip`: connection sensitivity, |θ · g| averaged over the selection's entries (SNIP,
 *   Lee, Ajanthan & Torr, ICLR 2019; one of the zero-cost proxies of Abdelfattah et al.,
 *   ICLR 2021).
 *
 * Each asks "how hard does the target data pull on these parameters, for their size?".
 * A selection that trains nothing at epoch 0 gets no score and is ranked last.
 * @module
 */
import type { Model } from "../model.ts";
import type { SelectorImpl } from "../plugin.ts";
import type { TensorGradientStats } from "../gradstats.ts";

/** The signals the zero-cost strategy can rank by. */
export const SIGNALS = ["rgn", "snr", "snip"] as const;

/** A zero-cost signal. */
export type Signal = (typeof SIGNALS)[number];

/** A selection's score under each signal (undefined: it trains nothing at epoch 0). */
export const selectionScores = (
  multipliers: ReadonlyMap<string, number>,
  stats: ReadonlyMap<string, TensorGradientStats>,
  sizes: ReadonlyMap<string, number>,
): Record<Signal, number> | undefined => {
  let g2 = 0;
  let w2 = 0;
  let entries = 0;
  let snr = 0;
  let snip = 0;
  for (const [name, m] of multipliers) {
    const s = stats.get(name);
    const size = sizes.get(name) ?? 0;
    if (!(m > 0) || !s || size === 0) continue;
    g2 += s.gradNorm ** 2;
    w2 += s.paramNorm ** 2;
    entries += size;
    snr += size * (s.snr ?? 0);
    snip += size * s.saliency;
  }
  if (entries === 0) return undefined;
  const finite = (x: number) => (Number.isFinite(x) ? x : 0);
  return {
    rgn: finite(w2 > 0 ? Math.sqrt(g2 / w2) : Math.sqrt(g2)),
    snr: finite(snr / entries),
    snip: finite(snip / entries),
  };
};

/** The epoch-0 multipliers of `selector` given these statistics (whatever it asks for, it gets them). */
export const epochZeroMultipliers = (
  selector: SelectorImpl,
  model: Model,
  epochs: number,
  stats: ReadonlyMap<string, TensorGradientStats>,
): ReadonlyMap<string, number> =>
  selector.multipliers({ model, epoch: 0, epochs, trainLosses: [], gradientStats: () => stats });

/**
 * Indices of `scores` from best to worst under `signal`: higher first, unscored last,
 * ties in the given order.
 */
export const rankBy = (scores: ReadonlyArray<Record<Signal, number> | undefined>, signal: Signal): number[] =>
  scores.map((s, i) => ({ i, v: s === undefined ? -Infinity : s[signal] }))
    .sort((a, b) => (b.v !== a.v ? b.v - a.v : a.i - b.i))
    .map((x) => x.i);
