/**
 * End-to-end sweep benchmark: the wall time of a whole surgical sweep (every layer
 * subset of a pipeline) run with the CLI as a user runs it, cold (empty model cache:
 * pre-training included) and warm, at each `--concurrency`; and, with `--peer`, the same
 * sweep written the paper's way in PyTorch (bench/torch_sweep.py: whole-network forward
 * for every subset, validation after every epoch, the same candidates) timed in the
 * same run, on 1 and 2 threads. Pipelines: bench/sweep-quickstart.yaml (small-cnn, 63
 * trials, the default) and bench/sweep-resnet.yaml (resnet-mini, the parity protocol on
 * one seed, 42 trials); `--pipeline` takes a comma-separated list. `--reps N` repeats
 * every timing N times and reports the median with the minimum and maximum. Warns when
 * the machine is busy at the start (load average above the core count). Peak resident
 * memory of each run is reported when GNU time is installed (/usr/bin/time).
 *
 *   deno task bench:sweep [--pipeline bench/sweep-quickstart.yaml,bench/sweep-resnet.yaml]
 *     [--concurrency 1,2] [--reps 1] [--peer] [--json]
 *
 * `--json` prints one object per line:
 * {"pipeline":"sweep-quickstart","runner":"scalpel","cache":"cold","concurrency":1,"trials":63,
 *  "seconds":…,"seconds_min":…,"seconds_max":…,"peak_rss_mib":…,"trial_seconds":…}
 * (`trial_seconds`: the trials' own seconds summed over the processes that ran them, last
 * repetition; PyTorch rows have "pretrain_seconds" instead).
 * @module
 */
import { parseArgs } from "node:util";
import { validate } from "../mod.ts";
import type { ResolvedPipeline } from "../core/pipeline/load.ts";
import { packagedMnistDir } from "../plugins/datasets/mnist.ts";
import { busyWarning, spreadOf } from "./rates.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pipeline: { type: "string", default: "bench/sweep-quickstart.yaml" },
    concurrency: { type: "string", default: "1,2" },
    reps: { type: "string", default: "1" },
    peer: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: a whole number ≥ 1 (got ${values.reps})`);

const root = new URL("..", import.meta.url).pathname;
const work = `${root}.cache/bench-sweep`;
await Deno.remove(work, { recursive: true }).catch(() => {});
await Deno.mkdir(work, { recursive: true });
const gnuTime = await Deno.stat("/usr/bin/time").then(() => true, () => false);
const busy = busyWarning();
if (busy) console.error(busy);

interface Timed {
  readonly seconds: number;
  readonly peakRssMib?: number;
  readonly stdout: string;
}

/** Run a command, timing its wall clock and (with GNU time) its peak RSS. */
const timed = async (cmd: string, args: string[]): Promise<Timed> => {
  const rssFile = `${work}/rss-${crypto.randomUUID()}`;
  const [c, a] = gnuTime ? ["/usr/bin/time", ["-f", "%M", "-o", rssFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const out = await new Deno.Command(c, { args: a, cwd: root, stdout: "piped", stderr: "piped" }).output();
  const seconds = (performance.now() - t0) / 1000;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  }
  const kib = gnuTime ? Number((await Deno.readTextFile(rssFile)).trim().split("\n").at(-1)) : NaN;
  return {
    seconds,
    ...(Number.isFinite(kib) ? { peakRssMib: Math.round(kib / 1024) } : {}),
    stdout: new TextDecoder().decode(out.stdout),
  };
};

/** `reps` timings of one command: the spread of their seconds, the largest peak RSS, the last stdout. */
const repeated = async (run: (rep: number) => Promise<Timed>) => {
  const runs: Timed[] = [];
  for (let rep = 0; rep < reps; rep++) runs.push(await run(rep));
  const s = spreadOf(runs.map((r) => r.seconds));
  const rss = runs.flatMap((r) => (r.peakRssMib === undefined ? [] : [r.peakRssMib]));
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return {
    fields: {
      seconds: round1(s.median),
      seconds_min: round1(s.min),
      seconds_max: round1(s.max),
      ...(rss.length ? { peak_rss_mib: Math.max(...rss) } : {}),
    },
    last: runs.at(-1)!,
  };
};

const rows: Array<Record<string, string | number>> = [];
const report = (row: Record<string, string | number>) => {
  rows.push(row);
  if (values.json) console.log(JSON.stringify(row));
  else console.error(JSON.stringify(row));
};

/** The name bench/torch_sweep.py knows a shift by, or a one-paragraph error. */
const peerShiftName = (p: ResolvedPipeline, i: number): string => {
  const s = p.shifts[i];
  const o = s.encoded as { name?: string; severity?: number; permutation?: string };
  if (
    s.plugin.name === "corruption" && (o.name === "gaussian_noise" || o.name === "impulse_noise") && o.severity === 5
  ) {
    return o.name;
  }
  if (s.plugin.name === "label-permutation" && o.permutation === "reverse") return "labels reversed";
  throw new Error(
    `${p.file}: ${s.path} (${s.plugin.name}) has no PyTorch twin in bench/torch_sweep.py, which knows Gaussian and ` +
      "impulse noise at severity 5 and reversed labels. Run without --peer, or add the shift to bench/torch_sweep.py.",
  );
};

/** The pipeline's selections, which must all be the paper's fixed subsets (bench/torch_sweep.py knows no other). */
const peerSelectionNames = (p: ResolvedPipeline): string => {
  const fixed = ["none", "first-layer", "block1", "block2", "block3", "last-layer", "all"];
  const other = p.selections.find((s) => !fixed.includes(s.plugin.name));
  if (other) {
    throw new Error(
      `${p.file}: ${other.path} (${other.plugin.name}) has no PyTorch twin in bench/torch_sweep.py, which runs the ` +
        `fixed subsets (${fixed.join(", ")}). Run without --peer, or leave that selection out.`,
    );
  }
  return p.selections.map((s) => s.plugin.name).join(",");
};

const deno = Deno.execPath();
const perms = ["--allow-read", "--allow-env", "--allow-sys=uid,gid,hostname", `--allow-write=${work}`, "--allow-run"];
for (const file of values.pipeline.split(",")) {
  const pipeline = await validate(file);
  const name = pipeline.settings.name ?? file;
  const trials = pipeline.shifts.length * pipeline.selections.length * pipeline.settings.seeds *
    pipeline.settings.finetune.learningRates.length;
  // checked before anything is timed
  const peerShifts = values.peer ? pipeline.shifts.map((_, i) => peerShiftName(pipeline, i)).join(",") : "";
  const peerSelections = values.peer ? peerSelectionNames(pipeline) : "";
  for (const concurrency of values.concurrency.split(",").map(Number)) {
    for (const state of ["cold", "warm"]) {
      const r = await repeated((rep) => {
        // a cold run gets an empty cache of its own; a warm one the cache its cold run filled
        const cache = `${work}/cache-${name}-${concurrency}-${state === "cold" ? `cold${rep}` : `cold${reps - 1}`}`;
        return timed(deno, [
          "run",
          ...perms,
          "cli.ts",
          "run",
          file,
          "--out",
          `${work}/run-${name}-${concurrency}-${state}-${rep}`,
          "--cache",
          cache,
          "--quiet",
          "--concurrency",
          String(concurrency),
        ]);
      });
      // where the time went (last repetition): the trials' own seconds, summed over the processes that ran them
      const lines = (await Deno.readTextFile(`${work}/run-${name}-${concurrency}-${state}-${reps - 1}/results.jsonl`))
        .trim().split("\n").map((l) => JSON.parse(l) as { selection: string; seconds: number });
      const bySelection = new Map<string, number>();
      for (const l of lines) bySelection.set(l.selection, (bySelection.get(l.selection) ?? 0) + l.seconds);
      const trialSeconds = Math.round(lines.reduce((a, l) => a + l.seconds, 0) * 10) / 10;
      report({
        pipeline: name,
        runner: "scalpel",
        cache: state,
        concurrency,
        trials,
        ...r.fields,
        trial_seconds: trialSeconds,
      });
      if (!values.json) {
        console.error(
          `  ${name}, ${state}, concurrency ${concurrency}: trial seconds by selection: ` +
            [...bySelection].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", "),
        );
      }
    }
  }

  if (values.peer) {
    const s = pipeline.settings;
    const peerOptions = {
      "mnist-dir": packagedMnistDir(),
      model: pipeline.model.plugin.name,
      shifts: peerShifts,
      selections: peerSelections,
      "pretrain-examples": s.pretrain.examples ?? 60000,
      "pretrain-epochs": s.pretrain.epochs,
      "pretrain-batch": s.pretrain.batchSize,
      "pretrain-lr": s.pretrain.learningRate,
      train: s.target.train,
      val: s.target.val,
      test: s.target.test,
      epochs: s.finetune.epochs,
      batch: s.finetune.batchSize,
      lrs: s.finetune.learningRates.join(","),
    };
    for (const threads of [1, 2]) {
      const r = await repeated(() =>
        timed("/usr/bin/python3", [
          `${root}bench/torch_sweep.py`,
          ...Object.entries({ ...peerOptions, threads }).flatMap(([k, v]) => [`--${k}`, String(v)]),
        ])
      ).catch((e) => {
        console.error(`PyTorch peer not run (install Debian's python3-torch): ${String(e).split("\n").slice(-3)}`);
        return undefined;
      });
      if (!r) break;
      const lines = r.last.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const pre = lines.find((l) => l.phase === "pretrain");
      report({
        pipeline: name,
        runner: `pytorch-${threads}t`,
        cache: "cold",
        concurrency: 1,
        trials: lines.filter((l) => "selection" in l).length,
        ...r.fields,
        pretrain_seconds: Math.round(Number(pre?.seconds) * 10) / 10,
      });
      if (threads === 2 && !values.json) {
        console.log(`\n${name}: PyTorch test accuracy (lr chosen on validation):`);
        const best = new Map<string, Record<string, unknown>>();
        for (const l of lines.filter((l) => "selection" in l)) {
          const k = `${l.shift} | ${l.selection}`;
          if (!best.has(k) || Number(l.val) > Number(best.get(k)!.val)) best.set(k, l);
        }
        for (const [k, l] of best) console.log(`  ${k}: ${(100 * Number(l.test)).toFixed(1)} % (lr ${l.lr})`);
      }
    }
  }
}

if (!values.json) {
  console.log(
    "\n| pipeline | runner | model cache | concurrency | trials | wall s (min–max) | peak RSS MiB |\n" +
      "|---|---|---|---:|---:|---:|---:|",
  );
  for (const r of rows) {
    const spread = reps > 1 ? ` (${r.seconds_min}–${r.seconds_max})` : "";
    console.log(
      `| ${r.pipeline} | ${r.runner} | ${r.cache} | ${r.concurrency} | ${r.trials} | ${r.seconds}${spread} | ${
        r.peak_rss_mib ?? "–"
      } |`,
    );
  }
}
await Deno.remove(work, { recursive: true }).catch(() => {});
