/**
 * How good `scalpel advise` is, measured (deno task bench:advise): on the evaluation set
 * under bench/advise/ (MNIST and Fashion-MNIST × small-cnn and resnet-mini; an input, a
 * feature and an output-level shift each; 3 seeds) it runs the full sweep, Auto-RGN as a
 * selector (the same grid with `selections: [auto-rgn]`), and each advise strategy once
 * per seed index (0, 1, 2), all through the CLI with 2 worker processes. Each pick is
 * scored by the full sweep's own test accuracy for the picked selection (never by the
 * advisor's estimate):
 *
 * - hit: the pick's mean is within one standard error (the best cell's SE over seeds)
 *   of the sweep's best selection;
 * - lost: the best mean minus the pick's, in points;
 * - compute: the advice's units as a fraction of the sweep's (advice.json), and its
 *   wall fraction: the seconds of its rungs over the seconds of the sweep's trials of
 *   the same shift (both summed over trials, pre-training excluded);
 * - the same for Auto-RGN and for "always tune all" used as they would be without a
 *   sweep: every learning rate on one seed, the best on validation.
 *
 * "Ranking alone" rows score the zero-cost signals' top-ranked selection with no probe.
 * Everything is resumable: run it again and finished runs are read back, not rerun.
 *
 *   deno task bench:advise [--only mnist-small-cnn,...] [--reps 3] [--budget 0.25] [--out runs/bench-advise]
 * @module
 */
import { parseArgs } from "node:util";
import YAML from "yaml";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    reps: { type: "string", default: "3" },
    budget: { type: "string", default: "0.25" },
    out: { type: "string", default: "runs/bench-advise" },
  },
});

const root = new URL("..", import.meta.url).pathname;
const out = values.out.startsWith("/") ? values.out : `${root}${values.out}`;
const reps = Number(values.reps);
const names = values.only?.split(",") ??
  [...Deno.readDirSync(`${root}bench/advise`)].filter((e) => e.name.endsWith(".yaml")).map((e) =>
    e.name.replace(/\.yaml$/, "")
  ).sort();

const cli = async (args: string[]) => {
  const t0 = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname",
      "--allow-write=runs,.cache",
      "--allow-run",
      "cli.ts",
      ...args,
      "--concurrency",
      "2",
      "--quiet",
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  if (!r.success) {
    throw new Error(`scalpel ${args.join(" ")} failed:\n${new TextDecoder().decode(r.stderr).slice(-3000)}`);
  }
  console.error(`  scalpel ${args.slice(0, 2).join(" ")} … ${args.slice(2).join(" ")}: ${seconds.toFixed(0)} s`);
  return seconds;
};

interface Cell {
  shift: string;
  selection: string;
  metrics: Record<string, { mean: number; se?: number; n: number }>;
}
interface Line {
  status: string;
  key: string;
  shift: string;
  selection: string;
  seed: number;
  lr: number | null;
  val: Record<string, number>;
  seconds: number;
}
const readJsonl = (file: string) =>
  Deno.readTextFileSync(file).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

interface Row {
  pipeline: string;
  shift: string;
  strategy: string;
  rep: number | null;
  pick: string;
  bestSelection: string;
  best: number;
  bestSe: number;
  picked: number;
  lost: number;
  hit: boolean;
  units: number;
  wall: number;
}
const rows: Row[] = [];
const sweepSeconds: Record<string, number> = {};

for (const name of names) {
  const file = `bench/advise/${name}.yaml`;
  const dir = `${out}/${name}`;
  console.error(`${name}:`);
  await cli(["run", file, "--out", `${dir}/sweep`]);
  // Auto-RGN as a selector: the same grid with only that selection
  const spec = YAML.parse(Deno.readTextFileSync(`${root}${file}`));
  await Deno.mkdir(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/auto-rgn.json`, JSON.stringify({ ...spec, selections: ["auto-rgn"] }, null, 2));
  await cli(["run", `${dir}/auto-rgn.json`, "--out", `${dir}/auto-rgn`]);
  const strategies = [{ name: "halving", args: ["--strategy", "halving"] }, {
    name: "zero-cost (rgn)",
    args: ["--strategy", "zero-cost", "--signal", "rgn"],
  }];
  for (const s of strategies) {
    for (let rep = 0; rep < reps; rep++) {
      await cli([
        "advise",
        file,
        ...s.args,
        "--budget",
        values.budget,
        "--seed-index",
        String(rep),
        "--out",
        `${dir}/${s.name.replace(/[^a-z]+/g, "-").replace(/-$/, "")}-${rep}`,
      ]);
    }
  }

  // scoring
  const summary = JSON.parse(Deno.readTextFileSync(`${dir}/sweep/summary.json`));
  const cells: Cell[] = summary.cells ?? summary.summary?.cells;
  const autoCells: Cell[] = (() => {
    const s = JSON.parse(Deno.readTextFileSync(`${dir}/auto-rgn/summary.json`));
    return s.cells ?? s.summary?.cells;
  })();
  const lines: Line[] = readJsonl(`${dir}/sweep/results.jsonl`);
  sweepSeconds[name] = lines.reduce((a, l) => a + l.seconds, 0);
  const autoLines: Line[] = readJsonl(`${dir}/auto-rgn/results.jsonl`);
  const shifts = [...new Set(cells.map((c) => c.shift))];
  const adviceOf = (strategyDir: string) => JSON.parse(Deno.readTextFileSync(`${dir}/${strategyDir}/advice.json`));
  const firstAdvice = adviceOf("halving-0");
  for (const shift of shifts) {
    const mine = cells.filter((c) => c.shift === shift);
    const best = mine.reduce((a, b) => (b.metrics.accuracy.mean > a.metrics.accuracy.mean ? b : a));
    const bestMean = best.metrics.accuracy.mean * 100;
    const bestSe = (best.metrics.accuracy.se ?? 0) * 100;
    const accOf = (selection: string) =>
      (selection === "auto-rgn" ? autoCells : cells).find((c) => c.shift === shift && c.selection === selection)!
        .metrics.accuracy.mean * 100;
    const sweepTrialSeconds = lines.filter((l) => l.shift === shift).reduce((a, l) => a + l.seconds, 0);
    const sweepUnits: number = firstAdvice.cells.find((c: { shift: string }) => c.shift === shift).sweepUnits;
    const score = (strategy: string, rep: number | null, pick: string, units: number, wall: number) => {
      const picked = accOf(pick);
      rows.push({
        pipeline: name,
        shift,
        strategy,
        rep,
        pick,
        bestSelection: best.selection,
        best: bestMean,
        bestSe,
        picked,
        lost: bestMean - picked,
        hit: bestMean - picked <= bestSe + 1e-9,
        units,
        wall,
      });
    };
    for (const s of strategies) {
      for (let rep = 0; rep < reps; rep++) {
        const sub = `${s.name.replace(/[^a-z]+/g, "-").replace(/-$/, "")}-${rep}`;
        const advice = adviceOf(sub);
        const c = advice.cells.find((x: { shift: string }) => x.shift === shift);
        const cellIndex = advice.cells.indexOf(c);
        const records = readJsonl(`${dir}/${sub}/rungs.jsonl`).filter((r) =>
          r.type === "rung" && r.cell.startsWith(`${cellIndex}/`)
        );
        const wall = records.reduce((a: number, r: { report: { seconds: number } }) => a + r.report.seconds, 0);
        score(s.name, rep, c.pick.selection, c.fraction, wall / sweepTrialSeconds);
        if (s.name.startsWith("zero-cost")) {
          for (const signal of ["rgn", "snr", "snip"]) {
            const top = [...c.signals.scores].filter((x: Record<string, number>) => x[signal] !== undefined)
              .sort((a: Record<string, number>, b: Record<string, number>) => b[signal] - a[signal])[0];
            const statsUnits = readJsonl(`${dir}/${sub}/rungs.jsonl`).find((r) =>
              r.type === "signals" && r.cell.startsWith(`${cellIndex}/`)
            ).compute;
            score(`ranking alone (${signal})`, rep, top.selection, statsUnits / sweepUnits, 0);
          }
        }
      }
    }
    // Auto-RGN and "all" as a user would run them without a sweep: every learning rate on one seed (seed index rep)
    for (let rep = 0; rep < reps; rep++) {
      for (
        const [strategy, selection, source] of [["auto-rgn", "auto-rgn", autoLines], [
          "always all",
          "all",
          lines,
        ]] as const
      ) {
        const trials = source.filter((l) => l.shift === shift && l.selection === selection && l.seed === rep);
        const seconds = trials.reduce((a, l) => a + l.seconds, 0);
        // units: every trial of that selection on one seed, counted as the advisor counts (core/advise/compute.ts)
        const sel = firstAdvice.cells.find((x: { shift: string }) => x.shift === shift);
        const units = selection === "all"
          ? startUnitsOf(spec) + spec.finetune.learningRates.length * allTrialUnits(spec)
          : startUnitsOf(spec) + spec.finetune.learningRates.length * autoRgnTrialUnits(spec);
        score(strategy, rep, selection, units / sel.sweepUnits, seconds / sweepTrialSeconds);
      }
    }
  }
}

function startUnitsOf(spec: { target: { val: number; test: number } }) {
  return (spec.target.val + spec.target.test) / 3;
}
function allTrialUnits(spec: { target: { train: number; val: number; test: number }; finetune: { epochs: number } }) {
  return spec.finetune.epochs * (spec.target.train + spec.target.val / 3) + spec.target.test / 3;
}
function autoRgnTrialUnits(
  spec: { target: { train: number; val: number; test: number }; finetune: { epochs: number; batchSize: number } },
) {
  // Auto-RGN measures gradients on 4 batches at the start of every epoch
  return allTrialUnits(spec) + spec.finetune.epochs * Math.min(4 * spec.finetune.batchSize, spec.target.train);
}

// the tables
const strategies = [...new Set(rows.map((r) => r.strategy))];
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const summaryRows = strategies.map((s) => {
  const mine = rows.filter((r) => r.strategy === s);
  const hits = mine.filter((r) => r.hit).length;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    strategy: s,
    hits: `${hits}/${mine.length} (${pct(hits / mine.length)})`,
    lost: mean(mine.map((r) => r.lost)).toFixed(2),
    maxLost: Math.max(...mine.map((r) => r.lost)).toFixed(1),
    units: `${pct(mean(mine.map((r) => r.units)))} (max ${pct(Math.max(...mine.map((r) => r.units)))})`,
    wall: s.startsWith("ranking") ? "–" : pct(mean(mine.map((r) => r.wall))),
  };
});
const table = [
  "| strategy | pick within 1 SE of the best | mean accuracy lost (points) | worst loss | compute (units, mean) | wall (trial seconds, mean) |",
  "|---|---:|---:|---:|---:|---:|",
  ...summaryRows.map((r) => `| ${r.strategy} | ${r.hits} | ${r.lost} | ${r.maxLost} | ${r.units} | ${r.wall} |`),
].join("\n");
const perCell = [
  "| pipeline | shift | sweep best (test %, ± SE) | halving picks | zero-cost (rgn) picks | auto-rgn | all |",
  "|---|---|---|---|---|---:|---:|",
  ...[...new Set(rows.map((r) => `${r.pipeline}\u0000${r.shift}`))].map((k) => {
    const [pipeline, shift] = k.split("\u0000");
    const mine = rows.filter((r) => r.pipeline === pipeline && r.shift === shift);
    const picks = (s: string) =>
      mine.filter((r) => r.strategy === s).map((r) => `${r.pick}${r.hit ? "" : " ✗"}`).join(", ");
    const b = mine[0];
    const acc = (s: string) => {
      const r = mine.find((x) => x.strategy === s)!;
      return `${r.picked.toFixed(1)}${r.hit ? "" : " ✗"}`;
    };
    return `| ${pipeline} | ${shift} | ${b.bestSelection} ${b.best.toFixed(1)} ± ${b.bestSe.toFixed(1)} | ${
      picks("halving")
    } | ${picks("zero-cost (rgn)")} | ${acc("auto-rgn")} | ${acc("always all")} |`;
  }),
].join("\n");
const report =
  `${table}\n\n${perCell}\n\nThe sweeps' trials, seconds summed over trials (2 worker processes; pre-training ` +
  `excluded): ${Object.entries(sweepSeconds).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}\n`;
console.log(report);
Deno.writeTextFileSync(`${out}/bench.md`, report);
Deno.writeTextFileSync(`${out}/bench.json`, JSON.stringify({ budget: Number(values.budget), rows }, null, 2));
console.error(`written: ${out}/bench.md, ${out}/bench.json`);
