/**
 * Aggregation: per shift × selection, pick each seed's learning rate by the
 * validation score, then mean ± standard error of the test metrics over seeds.
 * @module
 */
import type { FailedLine, ResultLine } from "../results.ts";

/** Mean and standard error of a sample (SE = sample std / √n; undefined for n < 2). */
export const meanAndStandardError = (
  xs: ReadonlyArray<number>,
): { mean: number; se: number | undefined; n: number } => {
  const n = xs.length;
  if (n === 0) return { mean: NaN, se: undefined, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: undefined, n };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(variance / n), n };
};

/** Mean of the per-group activity of several result lines. */
const averageActivity = (lines: ReadonlyArray<ResultLine>): Cell["groupActivity"] => {
  const groups = [...new Set(lines.flatMap((l) => Object.keys(l.groupActivity ?? {})))];
  return Object.fromEntries(groups.map((g) => {
    const xs = lines.map((l) => l.groupActivity?.[g] ?? { meanMultiplier: 0, activeFraction: 0 });
    return [g, {
      meanMultiplier: xs.reduce((a, x) => a + x.meanMultiplier, 0) / xs.length,
      activeFraction: xs.reduce((a, x) => a + x.activeFraction, 0) / xs.length,
    }];
  }));
};

/** One aggregated cell of the table. */
export interface Cell {
  readonly shift: string;
  readonly selection: string;
  /** Test metrics: mean ± SE over seeds. */
  readonly metrics: Readonly<Record<string, { mean: number; se: number | undefined; n: number }>>;
  /** Learning rate chosen on validation, per seed (null: nothing trained). */
  readonly chosenLr: ReadonlyArray<number | null>;
  /** Epoch chosen on validation, per seed. */
  readonly chosenEpoch: ReadonlyArray<number>;
  readonly trainedParams: number;
  /** Per layer group: mean multiplier and fraction of epochs trained, averaged over the chosen trials. */
  readonly groupActivity: Readonly<
    Record<string, { readonly meanMultiplier: number; readonly activeFraction: number }>
  >;
  /** Labelled target examples of the cell, in a pipeline with a size grid. */
  readonly trainSize?: number;
  /** True for the best selection of its shift (and size; highest mean of the ranking metric). */
  readonly best: boolean;
  /** Trials of this cell that failed (their seeds and learning rates are missing from the mean). */
  readonly failed: number;
}

/** The aggregated table, shifts and selections in pipeline order. */
export interface Summary {
  readonly metric: string;
  readonly shifts: ReadonlyArray<string>;
  readonly selections: ReadonlyArray<string>;
  /** The numbers of labelled target examples of a size grid (empty: one size, not a grid). */
  readonly trainSizes: ReadonlyArray<number>;
  readonly cells: ReadonlyArray<Cell>;
}

/**
 * Aggregate result lines. `metric` ranks learning rates on validation and marks
 * the best selection; `shifts` / `selections` fix the order. `failed` lines are
 * counted per cell; a cell whose trials all failed has no metrics. With `trainSizes`
 * (a size grid, 2+ sizes) there is one cell per shift × selection × size.
 */
export const aggregate = (
  lines: ReadonlyArray<ResultLine>,
  metric: string,
  shifts: ReadonlyArray<string>,
  selections: ReadonlyArray<string>,
  lrOrder: ReadonlyArray<number> = [],
  failedLines: ReadonlyArray<FailedLine> = [],
  trainSizes: ReadonlyArray<number> = [],
): Summary => {
  const cells: Cell[] = [];
  const grid = trainSizes.length > 1;
  for (const shift of shifts) {
    for (const size of grid ? trainSizes : [undefined]) {
      cells.push(...row(lines, failedLines, metric, lrOrder, shift, selections, size));
    }
  }
  return { metric, shifts, selections, trainSizes: grid ? trainSizes : [], cells };
};

/** The cells of one shift (and size), the best marked. */
const row = (
  lines: ReadonlyArray<ResultLine>,
  failedLines: ReadonlyArray<FailedLine>,
  metric: string,
  lrOrder: ReadonlyArray<number>,
  shift: string,
  selections: ReadonlyArray<string>,
  size: number | undefined,
): Cell[] => {
  const here = (l: { shift: string; selection: string; trainSize?: number }, selection: string) =>
    l.shift === shift && l.selection === selection && (size === undefined || l.trainSize === size);
  const sized = size === undefined ? {} : { trainSize: size };
  const row: Cell[] = [];
  {
    for (const selection of selections) {
      const mine = lines.filter((l) => here(l, selection));
      const failed = failedLines.filter((l) => here(l, selection)).length;
      if (mine.length === 0) {
        if (failed > 0) {
          row.push({
            shift,
            selection,
            ...sized,
            metrics: {},
            chosenLr: [],
            chosenEpoch: [],
            trainedParams: 0,
            groupActivity: {},
            best: false,
            failed,
          });
        }
        continue;
      }
      const seeds = [...new Set(mine.map((l) => l.seed))].sort((a, b) => a - b);
      // per seed: the trial with the best validation score; ties go to the learning rate that comes first in
      // `lrOrder` (then the smaller key), so the choice never depends on the order lines were written in
      const rank = (l: ResultLine) => {
        const i = l.lr === null ? -1 : lrOrder.indexOf(l.lr);
        return i < 0 ? lrOrder.length : i;
      };
      const chosen = seeds.map((s) =>
        mine.filter((l) => l.seed === s).reduce((best, l) => {
          const a = l.val[metric] ?? -Infinity;
          const b = best.val[metric] ?? -Infinity;
          if (a !== b) return a > b ? l : best;
          if (rank(l) !== rank(best)) return rank(l) < rank(best) ? l : best;
          return l.key < best.key ? l : best;
        })
      );
      const names = Object.keys(chosen[0].test);
      const metrics = Object.fromEntries(names.map((m) => [m, meanAndStandardError(chosen.map((l) => l.test[m]))]));
      row.push({
        shift,
        selection,
        ...sized,
        metrics,
        chosenLr: chosen.map((l) => l.lr),
        chosenEpoch: chosen.map((l) => l.epoch),
        trainedParams: Math.max(...chosen.map((l) => l.trainedParams)),
        groupActivity: averageActivity(chosen),
        best: false,
        failed,
      });
    }
  }
  const top = Math.max(...row.map((c) => c.metrics[metric]?.mean ?? -Infinity));
  return row.map((c) => ({ ...c, best: c.metrics[metric] !== undefined && c.metrics[metric].mean === top }));
};
