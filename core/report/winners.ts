/**
 * Is the best selection of a shift clearly the best? Per shift (and target size): the
 * best and the runner-up selection by the ranking metric's mean, the lead, and the
 * standard error of the difference of the two means, √(SE₁² + SE₂²) (the seeds of the
 * two cells treated as independent samples). A winner is *clear* when its lead exceeds
 * that standard error; with one seed there are no standard errors and nothing is clear.
 * @module
 */
import type { Cell, Summary } from "./aggregate.ts";

/** The winner of one shift (and size) and how far it leads. */
export interface Winner {
  readonly shift: string;
  readonly trainSize?: number;
  readonly best: string;
  readonly runnerUp: string;
  /** best mean − runner-up mean (≥ 0), in the metric's units. */
  readonly lead: number;
  /** √(SE_best² + SE_runnerUp²); undefined with fewer than 2 seeds in either cell. */
  readonly seOfDifference: number | undefined;
  /** lead > seOfDifference. */
  readonly clear: boolean;
}

/** The winner of every shift (and size) that has at least two selections with results. */
export const winners = (s: Summary): Winner[] => {
  const groups = new Map<string, Cell[]>();
  for (const c of s.cells) {
    if (c.metrics[s.metric] === undefined || Number.isNaN(c.metrics[s.metric].mean)) continue;
    const k = `${c.shift}\u0000${c.trainSize ?? ""}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const out: Winner[] = [];
  for (const cells of groups.values()) {
    if (cells.length < 2) continue;
    // stable: equal means keep pipeline order
    const [first, second] = [...cells].sort((a, b) => b.metrics[s.metric].mean - a.metrics[s.metric].mean);
    out.push(winnerOf(first, second, s.metric));
  }
  return out;
};

const winnerOf = (first: Cell, second: Cell, metric: string): Winner => {
  const a = first.metrics[metric];
  const b = second.metrics[metric];
  const lead = a.mean - b.mean;
  const seOfDifference = a.se === undefined || b.se === undefined ? undefined : Math.sqrt(a.se ** 2 + b.se ** 2);
  return {
    shift: first.shift,
    ...(first.trainSize === undefined ? {} : { trainSize: first.trainSize }),
    best: first.selection,
    runnerUp: second.selection,
    lead,
    seOfDifference,
    clear: seOfDifference !== undefined && lead > seOfDifference,
  };
};
