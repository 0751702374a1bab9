/**
 * How the reports (Markdown and HTML) write numbers: fractions such as accuracy as
 * percentages with one decimal, other metrics with three; `mean ± SE`; learning rates
 * in exponent form. One copy, so that summary.md and report.html always agree.
 * @module
 */
import type { Cell } from "./aggregate.ts";
import type { Winner } from "./winners.ts";

/** True for a metric that is a fraction in [0, 1] (any accuracy), shown as a percentage. */
export const isFraction = (metric: string): boolean => /accuracy/.test(metric);

/** How a metric's values are shown: multiplied by `scale`, with `digits` decimals. */
export interface Scaling {
  /** Shown as a percentage (a fraction metric). */
  readonly percent: boolean;
  /** 100 for percentages, else 1. */
  readonly scale: number;
  /** Decimals: 1 for percentages, else 3. */
  readonly digits: number;
}

/** The scaling of a metric's values in the reports. */
export const scalingOf = (metric: string): Scaling => {
  const percent = isFraction(metric);
  return { percent, scale: percent ? 100 : 1, digits: percent ? 1 : 3 };
};

/** `89.1 ± 0.4` (scaled; just the mean without a standard error). */
export const formatMeanSe = (m: { mean: number; se: number | undefined }, scaling: Scaling): string => {
  const mean = (m.mean * scaling.scale).toFixed(scaling.digits);
  return m.se === undefined ? mean : `${mean} ± ${(m.se * scaling.scale).toFixed(scaling.digits)}`;
};

/** A learning rate as `1e-3`; `–` for none. */
export const formatLr = (lr: number | null): string => (lr === null ? "–" : lr.toExponential(0));

/** The learning rate and epoch chosen on validation, per seed: `1e-3 / 4, 1e-2 / 7`. */
export const formatChosen = (c: Pick<Cell, "chosenLr" | "chosenEpoch">): string =>
  c.chosenLr.map((lr, i) => `${formatLr(lr)} / ${c.chosenEpoch[i]}`).join(", ");

/** The mark of a cell some of whose trials failed. */
export const FAILED_MARK = "†";

/**
 * A cell's text in a table: mean ± SE, followed by † when some of its trials failed
 * (the mean is over the others); `failed` when all did; empty when there is no cell.
 */
export const cellText = (c: Cell | undefined, metric: string, scaling: Scaling): string => {
  if (!c) return "";
  const m = c.metrics[metric];
  if (!m) return c.failed > 0 ? `failed ${FAILED_MARK}` : "";
  const text = formatMeanSe(m, scaling);
  return c.failed > 0 ? `${text} ${FAILED_MARK}` : text;
};

/** The note under a table with failed cells, or undefined. */
export const failedNote = (cells: ReadonlyArray<Cell>): string | undefined => {
  const failed = cells.reduce((n, c) => n + c.failed, 0);
  return failed === 0 ? undefined : `${FAILED_MARK} ${failed} trial(s) of the marked cells failed: a cell's mean is ` +
    "over the seeds that finished; results.jsonl holds each failure's reason, and `scalpel run … --retry-failed` " +
    "runs them again.";
};

/**
 * One shift's winner as a sentence: `block1, ahead of block2 by 0.4 (SE of the difference 0.1): clear` —
 * or `… : within noise` when the lead does not exceed the standard error of the difference.
 */
export const formatWinner = (w: Winner, scaling: Scaling): string => {
  const at = (digits: number) => (x: number) => (x * scaling.scale).toFixed(digits);
  if (w.seOfDifference === undefined) {
    return `${w.best}, ahead of ${w.runnerUp} by ${at(scaling.digits)(w.lead)} (one seed: no error bars)`;
  }
  // one more decimal when the two would print alike (0.6 against 0.6, yet one is larger)
  const alike = at(scaling.digits)(w.lead) === at(scaling.digits)(w.seOfDifference);
  const n = at(scaling.digits + (alike ? 1 : 0));
  return `${w.best}, ahead of ${w.runnerUp} by ${n(w.lead)} (SE of the difference ${n(w.seOfDifference)}): ` +
    (w.clear ? "clear" : "within noise");
};
