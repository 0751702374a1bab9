/**
 * Successive halving replayed on a finished sweep, without training anything: a
 * candidate's rungs are exactly its full trial's validation curve cut at the rung's
 * epoch (tests/e2e/advise_test.ts checks it record by record), so the picks of any
 * halving plan can be read off the sweeps `deno task bench:advise` ran
 * (runs/bench-advise/<pipeline>/sweep/results.jsonl) and scored against the same sweeps'
 * test accuracy. Used to compare plan policies (which plan within the budget to take);
 * the compute of each plan is the advisor's own bound (core/advise/plan.ts).
 *
 * Any other finished run directories can be replayed too (`--runs DIR,DIR`, e.g. the
 * paper studies' runs), with one cell per shift and target size.
 *
 *   deno run --allow-read --allow-env bench/advise_replay.ts [--out runs/bench-advise] [--runs DIR,…] [--budget 0.25]
 * @module
 */
import { parseArgs } from "node:util";
import { type HalvingPlan, halvingPlanOf } from "../core/advise/plan.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "runs/bench-advise" },
    runs: { type: "string" },
    budget: { type: "string", default: "0.25" },
  },
});
const root = new URL("..", import.meta.url).pathname;
const out = values.out.startsWith("/") ? values.out : `${root}${values.out}`;
const budget = Number(values.budget);

interface Line {
  shift: string;
  trainSize: number;
  selection: string;
  seed: number;
  lr: number | null;
  key: string;
  valCurve: number[];
}

/** A policy: which plan to take among all plans within the ceiling (undefined: none). */
type Policy = (plans: HalvingPlan[], epochs: number) => HalvingPlan | undefined;

const byPreference = (...keys: Array<(p: HalvingPlan) => number>): Policy => (plans) =>
  [...plans].sort((a, b) => {
    for (const k of keys) if (k(a) !== k(b)) return k(b) - k(a);
    return 0;
  })[0];
const top = (p: HalvingPlan) => p.rungs.at(-1)?.epochs ?? 0;
const first = (p: HalvingPlan) => p.rungs[0]?.epochs ?? 0;
const policies: Record<string, Policy> = {
  "full length, most seeds, smallest η (the advisor's)": byPreference(top, (p) => p.seeds, (p) => -p.eta),
  "full length, longest first rung, most seeds": byPreference(top, first, (p) => p.seeds, (p) => -p.eta),
  "full length, first rung ≥ a quarter, most seeds": byPreference(
    top,
    (p) => (first(p) * 4 >= top(p) ? 1 : 0),
    (p) => p.seeds,
    (p) => -p.eta,
  ),
  "full length, first rung ≥ half, most seeds": byPreference(
    top,
    (p) => (first(p) * 2 >= top(p) ? 1 : 0),
    (p) => p.seeds,
    (p) => -p.eta,
  ),
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const bestSoFar = (curve: number[], e: number) => Math.max(...curve.slice(1, e + 1));

/** A cell of a sweep's summary.json. */
interface SummaryCell {
  shift: string;
  selection: string;
  trainSize?: number;
  metrics: { accuracy: { mean: number; se?: number } };
}

const results: Record<string, { hits: number; n: number; lost: number; units: number }> = {};
const abs = (d: string) => (d.startsWith("/") ? d : `${root}${d}`);
const runDirs = values.runs
  ? values.runs.split(",").map(abs)
  : [...Deno.readDirSync(out)].filter((e) => e.isDirectory).map((e) => `${out}/${e.name}/sweep`).sort();
for (const sweepDir of runDirs) {
  const name = sweepDir.replace(root, "");
  let text: string;
  try {
    text = Deno.readTextFileSync(`${sweepDir}/results.jsonl`);
  } catch {
    continue;
  }
  const lines: Line[] = text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
  const manifest = JSON.parse(Deno.readTextFileSync(`${sweepDir}/pipeline.resolved.json`)).pipeline;
  const summary = JSON.parse(Deno.readTextFileSync(`${sweepDir}/summary.json`));
  const { epochs: E, learningRates } = manifest.finetune;
  const { val, test } = manifest.target;
  const S: number = manifest.seeds;
  const selections: string[] = summary.selections;
  const candidates = selections.flatMap((selection) => learningRates.map((lr: number) => ({ selection, lr })));
  const sizes: number[] = summary.trainSizes.length > 0 ? summary.trainSizes : [manifest.target.train];
  for (const cell of (summary.shifts as string[]).flatMap((shift) => sizes.map((size) => ({ shift, size })))) {
    const { shift, size: train } = cell;
    const grid = summary.trainSizes.length > 0;
    // the advisor's cost model: `none` evaluates validation only, the others also train; auto-rgn measures
    // gradients on 4 batches every epoch
    const perEpoch = (selection: string) =>
      (selection === "none" ? 0 : train) + val / 3 +
      (selection === "auto-rgn" ? Math.min(4 * manifest.finetune.batchSize, train) : 0);
    const cost = candidates.map((c) => Array.from({ length: E }, () => perEpoch(c.selection)));
    const start = (val + test) / 3;
    const sweep = S *
      (start + learningRates.length * selections.reduce(
            (a, s) => a + E * perEpoch(s) + (s === "none" ? 0 : test / 3),
            0,
          ));
    const cells: SummaryCell[] = summary.cells.filter((c: SummaryCell) =>
      c.shift === shift && (!grid || c.trainSize === train)
    );
    const best = cells.reduce((a, b) => (b.metrics.accuracy.mean > a.metrics.accuracy.mean ? b : a));
    const accOf = (s: string) => cells.find((c) => c.selection === s)!.metrics.accuracy.mean;
    const curveOf = (c: { selection: string; lr: number }, seed: number) =>
      lines.find((l) =>
        l.shift === shift && l.selection === c.selection && l.seed === seed && (!grid || l.trainSize === train) &&
        (l.lr === c.lr || (l.lr === null && c.selection === "none"))
      )!.valCurve;
    // every plan there is, then each policy's choice
    const plans: HalvingPlan[] = [];
    for (let m = 1; m <= S; m++) {
      for (const eta of [2, 3, 4]) {
        for (let t = 1; t <= E; t++) {
          for (let f = 1; f <= t; f++) {
            const p = halvingPlanOf(cost, eta, t, m, start, f);
            if (p.units <= budget * sweep) plans.push(p);
          }
        }
      }
    }
    for (const [policyName, policy] of Object.entries(policies)) {
      for (let rep = 0; rep < S; rep++) {
        const plan = policy(plans, E);
        if (!plan) continue;
        const seeds = Array.from({ length: plan.seeds }, (_, j) => (rep + j) % S);
        let alive = candidates.map((_, i) => i);
        plan.rungs.forEach((r, k) => {
          const keep = plan.rungs[k + 1]?.candidates ?? 1;
          const score = (i: number) => mean(seeds.map((s) => bestSoFar(curveOf(candidates[i], s), r.epochs)));
          alive = [...alive].sort((a, b) => score(b) - score(a) || a - b).slice(0, keep);
        });
        const pick = candidates[alive[0]].selection;
        if (Deno.env.get("REPLAY_VERBOSE") && rep === 0) {
          console.error(
            `${policyName.slice(0, 30)} | ${name} ${shift} n ${train}: seeds ${plan.seeds} η ${plan.eta} rungs ${
              plan.rungs.map((r) => `${r.candidates}@${r.epochs}`).join(" ")
            } → ${pick} (best ${best.selection})`,
          );
        }
        const lost = (best.metrics.accuracy.mean - accOf(pick)) * 100;
        const r = results[policyName] ??= { hits: 0, n: 0, lost: 0, units: 0 };
        r.n++;
        if (lost <= (best.metrics.accuracy.se ?? 0) * 100 + 1e-9) r.hits++;
        r.lost += lost;
        r.units += plan.units / sweep;
      }
    }
  }
}
console.log(
  "| halving plan policy | pick within 1 SE | mean loss (points) | compute bound (mean) |\n|---|---:|---:|---:|",
);
for (const [name, r] of Object.entries(results)) {
  console.log(
    `| ${name} | ${r.hits}/${r.n} (${(100 * r.hits / r.n).toFixed(1)} %) | ${(r.lost / r.n).toFixed(2)} | ${
      (100 * r.units / r.n).toFixed(1)
    } % |`,
  );
}
