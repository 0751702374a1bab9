/**
 * The paper's claims, checked against a paper study's summary.json (pipelines/paper-mnist.yaml, paper-fashion.yaml;
 * committed under docs/paper-mnist/ and docs/paper-fashion/). Prints a Markdown table per study: for every shift and
 * target size, the subset the paper predicts for that level of shift, its accuracy, the
 * winner (is it clear?), full fine-tuning and Auto-RGN, and a verdict:
 *
 * - **yes**: the predicted subset has the highest mean;
 * - **tie**: another subset leads it by no more than the standard error of their difference;
 * - **no**: another subset leads it by more than that.
 *
 *   deno run --allow-read bench/paper_claims.ts docs/paper-mnist/summary.json [more …]
 *
 * The level of each shift is read from its label: corruptions → input (first block),
 * `subpop-…` → feature (a middle block: block2), `labels-…` and `spurious-…` →
 * output (last layer), as in Lee et al. (ICLR 2023), Table 1.
 * @module
 */
import type { Summary } from "../core/report/aggregate.ts";
import { type Winner, winners } from "../core/report/winners.ts";

type Metric = { readonly mean: number; readonly se: number | undefined };

/** The subset the paper finds best for each level of shift, by the shift's name. */
const predicted = (shift: string): { level: string; subset: string } =>
  /labels|spurious/.test(shift)
    ? { level: "output", subset: "last-layer" }
    : /^subpop/.test(shift)
    ? { level: "feature", subset: "block2" }
    : { level: "input", subset: "block1" };

const pct = (m: Metric | undefined) =>
  m === undefined ? "–" : `${(100 * m.mean).toFixed(1)}${m.se === undefined ? "" : ` ± ${(100 * m.se).toFixed(1)}`}`;

const seDiff = (a: Metric, b: Metric) => Math.sqrt((a.se ?? 0) ** 2 + (b.se ?? 0) ** 2);

/** A run's summary.json, or exit 1 with one paragraph naming the file and what to give instead. */
const readSummary = async (file: string): Promise<Summary & { title: string }> => {
  try {
    const s = JSON.parse(await Deno.readTextFile(file));
    if (Array.isArray(s?.cells) && Array.isArray(s?.shifts) && Array.isArray(s?.trainSizes)) return s;
    throw new Error("it has no cells, shifts and trainSizes");
  } catch (e) {
    console.error(
      `${file} is not a run's summary.json (${e instanceof Error ? e.message : String(e)}). Give the summary.json ` +
        "that `scalpel run` writes into its run directory, e.g. docs/paper-mnist/summary.json.",
    );
    Deno.exit(1);
  }
};

for (const file of Deno.args) {
  const s = await readSummary(file);
  const m = s.metric;
  // the winner of each shift and size, exactly as summary.md names it
  const winnerOf = new Map<string, Winner>(winners(s).map((w) => [`${w.shift}\u0000${w.trainSize ?? ""}`, w]));
  console.log(`\n${s.title} (${file}), target test ${m} %, mean ± SE over seeds\n`);
  console.log(
    "| shift | level | n | predicted | predicted subset | winner | lead (SE of diff.) | all | auto-rgn | reproduces |",
  );
  console.log("|---|---|---:|---|---:|---|---:|---:|---:|---|");
  for (const shift of s.shifts) {
    const sizes: Array<number | undefined> = [...s.trainSizes];
    for (const n of sizes.length > 0 ? sizes : [undefined]) {
      const get = (sel: string): Metric | undefined =>
        s.cells.find((c) => c.shift === shift && c.trainSize === n && c.selection === sel)?.metrics[m];
      const { level, subset } = predicted(shift);
      const w = winnerOf.get(`${shift}\u0000${n ?? ""}`)!;
      const best = get(w.best)!;
      const p = get(subset);
      const verdict = p === undefined
        ? "–"
        : w.best === subset
        ? "yes"
        : best.mean - p.mean <= seDiff(best, p)
        ? "tie"
        : "no";
      console.log(
        `| ${shift} | ${level} | ${n ?? ""} | ${subset} | ${pct(p)} | ${w.best}${w.clear ? "" : " (within noise)"} | ${
          (100 * w.lead).toFixed(1)
        } (${(100 * (w.seOfDifference ?? 0)).toFixed(1)}) | ${pct(get("all"))} | ${
          pct(get("auto-rgn"))
        } | ${verdict} |`,
      );
    }
  }
}
