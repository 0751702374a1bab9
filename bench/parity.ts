/**
 * `deno task bench:parity`: the same surgical fine-tuning experiment in scalpel and in
 * PyTorch, side by side. For each pipeline (default: bench/parity-resnet.yaml, the parity
 * issue's protocol, and bench/parity-quickstart.yaml): `scalpel run --export-splits`,
 * then bench/torch_surgical.py twice —
 *
 * - **same start**: PyTorch fine-tunes from scalpel's exported pre-trained weights on the
 *   exported target splits (isolates fine-tuning);
 * - **each its own**: PyTorch pre-trains its twin itself (PyTorch's default init) on the
 *   same source examples, then fine-tunes (what a user comparing the two stacks sees).
 *
 * Prints, per pipeline and shift, each selection's target test accuracy (mean ± standard
 * error over seeds) on both sides, the difference, and whether it is within 2 standard
 * errors of the difference (√(SE₁² + SE₂²)); writes the same to `<out>/parity.md` and
 * `<out>/parity.json`. Every step resumes: run it again to continue.
 *
 *   deno task bench:parity [--out runs/parity] [--pipelines a.yaml,b.yaml] [--threads 2] [--seed N]
 *
 * `--seed N` overrides the pipelines' root seed: another pre-training draw on both sides
 * (scalpel's initialisation and batch order, and PyTorch's own pre-training, which is seeded
 * from the resolved pipeline), written to `<out>/<pipeline>-seed<N>/`. Comparing "each its
 * own" across several draws is the fair test of two stacks' pre-training.
 *
 * Needs /usr/bin/python3 with Debian's python3-torch and python3-numpy (an optional peer,
 * never a dependency of scalpel).
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "runs/parity" },
    pipelines: { type: "string", default: "bench/parity-resnet.yaml,bench/parity-quickstart.yaml" },
    threads: { type: "string", default: "2" },
    seed: { type: "string" },
  },
});

const root = new URL("..", import.meta.url).pathname;
const out = values.out.startsWith("/") ? values.out : `${root}${values.out}`;
const PYTHON = "/usr/bin/python3";

/** Run a command, its stderr passed through; fail when it fails. */
const run = async (cmd: string, args: string[]) => {
  console.error(`$ ${[cmd, ...args].join(" ")}`);
  const status = await new Deno.Command(cmd, { args, cwd: root, stdout: "inherit", stderr: "inherit" }).spawn()
    .status;
  if (!status.success) throw new Error(`${cmd} ${args[0]} … exited with ${status.code}`);
};

interface Cell {
  readonly shift: string;
  readonly selection: string;
  readonly trainSize?: number;
  readonly mean: number;
  readonly se: number | null;
  readonly n: number;
}

/** scalpel's summary.json cells as { shift, selection, mean, se, n } of the ranking metric. */
const scalpelCells = (dir: string): Cell[] => {
  const s = JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`));
  return s.cells.flatMap(
    (c: { shift: string; selection: string; trainSize?: number; metrics: Record<string, Cell> }) => {
      const m = c.metrics[s.metric];
      return m
        ? [{ shift: c.shift, selection: c.selection, trainSize: c.trainSize, mean: m.mean, se: m.se ?? null, n: m.n }]
        : [];
    },
  );
};

const torchCells = (dir: string): Cell[] => JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`)).cells;

const pct = (c: Cell | undefined) =>
  c === undefined ? "–" : `${(100 * c.mean).toFixed(1)}${c.se === null ? "" : ` ± ${(100 * c.se).toFixed(1)}`}`;

/** One comparison: the difference and whether it is within 2 standard errors of the difference. */
const compare = (a: Cell | undefined, b: Cell | undefined) => {
  if (!a || !b) return { text: "–", within: undefined as boolean | undefined, diff: NaN, se: NaN };
  const diff = a.mean - b.mean;
  const se = Math.sqrt((a.se ?? 0) ** 2 + (b.se ?? 0) ** 2);
  const within = Math.abs(diff) <= 2 * se + 1e-12;
  return { text: `${diff >= 0 ? "+" : ""}${(100 * diff).toFixed(1)}${within ? "" : " ✗"}`, within, diff, se };
};

/** Names a run directory and the tables after the seed when `--seed` is given. */
const suffix = values.seed === undefined ? "" : `-seed${values.seed}`;
const report: string[] = [];
const rows: unknown[] = [];
for (const pipeline of values.pipelines.split(",")) {
  const name = pipeline.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  const label = `${name}${suffix}`;
  const dir = `${out}/${label}`;
  await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-sys=uid,gid,hostname",
    "--allow-run",
    `--allow-write=${out},${root}.cache`,
    "cli.ts",
    "run",
    pipeline,
    "--out",
    dir,
    "--export-splits",
    "--quiet",
    ...(values.seed === undefined ? [] : ["--seed", values.seed]),
  ]);
  for (const start of ["same", "own"]) {
    await run(PYTHON, [`${root}bench/torch_surgical.py`, dir, "--start", start, "--threads", values.threads]);
  }
  const ours = scalpelCells(dir);
  const same = torchCells(`${dir}/torch-same`);
  const own = torchCells(`${dir}/torch-own`);
  // a pipeline without a size grid has one size: scalpel's cells carry none
  const find = (cells: Cell[], shift: string, selection: string, size?: number) =>
    cells.find((c) => c.shift === shift && c.selection === selection && (size === undefined || c.trainSize === size));
  for (const shift of [...new Set(ours.map((c) => c.shift))]) {
    report.push(
      `### ${label}: ${shift}`,
      "",
      "Target test accuracy (%), mean ± standard error over seeds; Δ = scalpel − PyTorch (✗: beyond 2 standard errors " +
        "of the difference).",
      "",
      "| selection | scalpel | PyTorch, same start | Δ | PyTorch, its own pre-training | Δ |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const c of ours.filter((c) => c.shift === shift)) {
      const s = find(same, shift, c.selection, c.trainSize);
      const o = find(own, shift, c.selection, c.trainSize);
      const cs = compare(c, s);
      const co = compare(c, o);
      report.push(`| ${c.selection} | ${pct(c)} | ${pct(s)} | ${cs.text} | ${pct(o)} | ${co.text} |`);
      rows.push({
        pipeline: label,
        shift,
        selection: c.selection,
        scalpel: c,
        same: s,
        own: o,
        sameDiff: cs,
        ownDiff: co,
      });
    }
    report.push("");
  }
}
const text = report.join("\n");
console.log(text);
await Deno.writeTextFile(`${out}/parity${suffix}.md`, text + "\n");
await Deno.writeTextFile(`${out}/parity${suffix}.json`, JSON.stringify(rows, null, 2) + "\n");
