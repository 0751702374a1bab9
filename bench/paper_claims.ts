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
 * The level of each shift comes from its plugin: corruption → input (first block),
 * subpopulation → feature (a middle block: block2), label-permutation and spurious →
 * output (last layer), as in Lee et al. (ICLR 2023), Table 1.
 * @module
 */
interface Metric {
  readonly mean: number;
  readonly se?: number;
}
interface Cell {
  readonly shift: string;
  readonly selection: string;
  readonly trainSize?: number;
  readonly metrics: Record<string, Metric>;
}
interface Summary {
  readonly title: string;
  readonly metric: string;
  readonly shifts: string[];
  readonly trainSizes?: number[];
  readonly cells: Cell[];
}

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

for (const file of Deno.args) {
  const s: Summary = JSON.parse(await Deno.readTextFile(file));
  const m = s.metric;
  console.log(`\n${s.title} (${file}), target test ${m} %, mean ± SE over seeds\n`);
  console.log(
    "| shift | level | n | predicted | predicted subset | winner | lead (SE of diff.) | all | auto-rgn | reproduces |",
  );
  console.log("|---|---|---:|---|---:|---|---:|---:|---:|---|");
  for (const shift of s.shifts) {
    const sizes: Array<number | undefined> = s.trainSizes ?? [];
    for (const n of sizes.length > 0 ? sizes : [undefined]) {
      const here = s.cells.filter((c) => c.shift === shift && c.trainSize === n && c.metrics[m] !== undefined);
      const get = (sel: string) => here.find((c) => c.selection === sel)?.metrics[m];
      const { level, subset } = predicted(shift);
      const ranked = [...here].sort((a, b) => b.metrics[m].mean - a.metrics[m].mean);
      const [best, second] = ranked;
      const p = get(subset);
      const lead = best.metrics[m].mean - second.metrics[m].mean;
      const verdict = p === undefined
        ? "–"
        : best.selection === subset
        ? "yes"
        : best.metrics[m].mean - p.mean <= seDiff(best.metrics[m], p)
        ? "tie"
        : "no";
      const clear = lead > seDiff(best.metrics[m], second.metrics[m]) ? "" : " (within noise)";
      console.log(
        `| ${shift} | ${level} | ${n ?? ""} | ${subset} | ${pct(p)} | ${best.selection}${clear} | ${
          (100 * lead).toFixed(1)
        } (${(100 * seDiff(best.metrics[m], second.metrics[m])).toFixed(1)}) | ${pct(get("all"))} | ${
          pct(get("auto-rgn"))
        } | ${verdict} |`,
      );
    }
  }
}
