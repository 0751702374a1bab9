/**
 * Synchronous rungs over candidates (core/advise/advise.ts decides which, on how many
 * seeds, to which epochs): every surviving candidate runs to the rung's epoch on every
 * seed, continuing from the checkpoint of its previous rung; then the candidates are
 * ranked by their best validation score so far, averaged over the seeds (a failed one
 * last; ties in the given order), and the best `keep` go on. A rung already recorded
 * (a resume) is not run again.
 * @module
 */
import { Effect, Stream } from "effect";
import type { UserError } from "../errors.ts";
import type { Trial } from "../pipeline/expand.ts";
import type { RungReport, RungRequest } from "../pipeline/protocol.ts";
import type { RungLauncher } from "./launchers.ts";

/** One rung of a race: train to `epochs`, then keep the best `keep` candidates. */
export interface RaceRung {
  readonly epochs: number;
  readonly keep: number;
}

/** What a race needs of its advisor. */
export interface RaceContext<C> {
  /** For the log: the cell raced on. */
  readonly label: string;
  /** The trial of candidate `c` on fine-tuning seed `seed`. */
  readonly trialOf: (c: C, seed: number) => Trial;
  /** Reports already recorded, by `<trial key>@<epochs>`. */
  readonly recorded: ReadonlyMap<string, RungReport>;
  /** Record a report as it arrives (appended to rungs.jsonl). */
  readonly record: (id: string, report: RungReport) => Effect.Effect<void, UserError>;
  /** Where the checkpoint of trial `key` after `epochs` epochs is kept. */
  readonly checkpointFile: (key: string, epochs: number) => string;
  readonly runRungs: RungLauncher;
  readonly log: (line: string) => Effect.Effect<void>;
  /** Progress of the current rung: `(0, total)` when it starts, `(1)` for each report. */
  readonly progress: (done: number, total?: number) => void;
  readonly nameOf: (trialKey: string) => string;
}

/** What a race found: every report (by `<candidate index>@<epochs>#<seed>`), where each loser stopped, the survivors. */
export interface RaceOutcome {
  readonly reports: ReadonlyMap<string, RungReport>;
  /** Candidate index → the rung epoch it was stopped at. */
  readonly stopped: ReadonlyMap<number, number>;
  /** Candidate indices still in after the last rung, best first. */
  readonly survivors: ReadonlyArray<number>;
  /** A candidate's score after a rung: its best validation score averaged over the seeds (−∞ when one failed). */
  readonly score: (candidate: number, epochs: number) => number;
}

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Race `candidates` on `seeds` through `rungs`; see the module doc. */
export const race = <C>(
  ctx: RaceContext<C>,
  candidates: ReadonlyArray<C>,
  seeds: ReadonlyArray<number>,
  rungs: ReadonlyArray<RaceRung>,
): Effect.Effect<RaceOutcome, UserError> =>
  Effect.gen(function* () {
    const reports = new Map<string, RungReport>(); // `<candidate>@<epochs>#<seed>` (candidate = index)
    const stopped = new Map<number, number>(); // candidate → epochs it was stopped at
    let alive = candidates.map((_, i) => i);
    let previous = 0;
    const score = (i: number, epochs: number) => {
      const xs = seeds.map((s) => reports.get(`${i}@${epochs}#${s}`)?.best ?? NaN);
      return xs.every(Number.isFinite) ? mean(xs) : -Infinity;
    };
    for (const [k, rung] of rungs.entries()) {
      const requests: Array<{ id: string; slot: string; req: RungRequest }> = [];
      const carried: Array<{ slot: string; report: RungReport }> = [];
      for (const seed of seeds) {
        for (const i of alive) {
          const t = ctx.trialOf(candidates[i], seed);
          const slot = `${i}@${rung.epochs}#${seed}`;
          const before = reports.get(`${i}@${previous}#${seed}`);
          // a failed candidate stays failed; a rung that adds no epoch adds nothing
          if (before && (before.status !== "paused" || rung.epochs === previous)) {
            carried.push({ slot, report: before });
            continue;
          }
          const id = `${t.key}@${rung.epochs}`;
          const done = ctx.recorded.get(id);
          if (done) {
            carried.push({ slot, report: done });
            continue;
          }
          requests.push({
            id,
            slot,
            req: {
              trial: t,
              stopAfter: rung.epochs,
              ...(previous > 0 ? { from: ctx.checkpointFile(t.key, previous) } : {}),
              to: ctx.checkpointFile(t.key, rung.epochs),
            },
          });
        }
      }
      for (const c of carried) reports.set(c.slot, c.report);
      yield* ctx.log(
        `${ctx.label}: rung ${k + 1}/${rungs.length}: ${alive.length} candidates × ${seeds.length} seed(s) to ` +
          `epoch ${rung.epochs}` + (carried.length > 0 ? ` (${carried.length} already recorded)` : ""),
      );
      ctx.progress(0, requests.length);
      const slotOf = new Map(requests.map((r) => [r.req.trial.key, r]));
      yield* ctx.runRungs(requests.map((r) => r.req)).pipe(
        Stream.runForEach((report) =>
          Effect.gen(function* () {
            const r = slotOf.get(report.key)!;
            yield* ctx.record(r.id, report);
            reports.set(r.slot, report);
            ctx.progress(1);
            const name = ctx.nameOf(report.key);
            yield* ctx.log(
              report.status === "failed"
                ? `  ${name}: FAILED (${(report.error ?? "").split("\n")[0]})`
                : `  ${name}: best val ${report.best.toFixed(4)} at epoch ${report.bestEpoch} of ${report.epochs}`,
            );
          })
        ),
      );
      const ranked = [...alive].sort((a, b) => {
        const d = score(b, rung.epochs) - score(a, rung.epochs);
        return d !== 0 && !Number.isNaN(d) ? d : a - b;
      });
      for (const i of ranked.slice(rung.keep)) stopped.set(i, rung.epochs);
      alive = ranked.slice(0, rung.keep);
      previous = rung.epochs;
    }
    return { reports, stopped, survivors: alive, score };
  });
