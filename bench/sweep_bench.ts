/**
 * End-to-end sweep benchmark: the wall time of a whole surgical sweep (every layer
 * subset of a pipeline, default bench/sweep-quickstart.yaml) run with the CLI as a user
 * runs it, cold (empty model cache: pre-training included) and warm, at each
 * `--concurrency`; and, with `--peer`, the same sweep written the paper's way in
 * PyTorch (bench/torch_sweep.py: whole-network forward for every subset) timed in
 * the same run. Peak resident memory of each run is reported when GNU time is
 * installed (/usr/bin/time).
 *
 *   deno task bench:sweep [--pipeline bench/sweep-quickstart.yaml] [--concurrency 1,2] [--peer] [--json]
 *
 * `--json` prints one object per line:
 * {"runner":"scalpel","cache":"cold","concurrency":1,"seconds":…,"peak_rss_mib":…}
 * @module
 */
import { parseArgs } from "node:util";
import { validate } from "../mod.ts";
import { packagedMnistDir } from "../plugins/datasets/mnist.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pipeline: { type: "string", default: "bench/sweep-quickstart.yaml" },
    concurrency: { type: "string", default: "1,2" },
    peer: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

const root = new URL("..", import.meta.url).pathname;
const work = `${root}.cache/bench-sweep`;
await Deno.remove(work, { recursive: true }).catch(() => {});
await Deno.mkdir(work, { recursive: true });
const gnuTime = await Deno.stat("/usr/bin/time").then(() => true, () => false);

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

const rows: Array<Record<string, string | number>> = [];
const report = (row: Record<string, string | number>) => {
  rows.push(row);
  if (values.json) console.log(JSON.stringify(row));
  else console.error(JSON.stringify(row));
};

const pipeline = await validate(values.pipeline);
const trials = pipeline.shifts.length * pipeline.selections.length * pipeline.settings.seeds *
  pipeline.settings.finetune.learningRates.length;
const deno = Deno.execPath();
const perms = ["--allow-read", "--allow-env", "--allow-sys=uid,gid,hostname", `--allow-write=${work}`, "--allow-run"];
for (const concurrency of values.concurrency.split(",").map(Number)) {
  const cache = `${work}/cache-${concurrency}`;
  for (const state of ["cold", "warm"]) {
    const out = `${work}/run-${concurrency}-${state}`;
    const r = await timed(deno, [
      "run",
      ...perms,
      "cli.ts",
      "run",
      values.pipeline,
      "--out",
      out,
      "--cache",
      cache,
      "--quiet",
      "--concurrency",
      String(concurrency),
    ]);
    report({
      runner: "scalpel",
      cache: state,
      concurrency,
      trials,
      seconds: Math.round(r.seconds * 10) / 10,
      ...(r.peakRssMib === undefined ? {} : { peak_rss_mib: r.peakRssMib }),
    });
  }
}

if (values.peer) {
  const s = pipeline.settings;
  for (const threads of [1, 2]) {
    const peerOptions = {
      "mnist-dir": packagedMnistDir(),
      threads,
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
    const r = await timed("/usr/bin/python3", [
      `${root}bench/torch_sweep.py`,
      ...Object.entries(peerOptions).flatMap(([k, v]) => [`--${k}`, String(v)]),
    ]).catch((e) => {
      console.error(`PyTorch peer not run (install Debian's python3-torch): ${String(e).split("\n").slice(-3)}`);
      return undefined;
    });
    if (!r) break;
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const pre = lines.find((l) => l.phase === "pretrain");
    report({
      runner: `pytorch-${threads}t`,
      cache: "cold",
      concurrency: 1,
      trials: lines.filter((l) => "selection" in l).length,
      seconds: Math.round(r.seconds * 10) / 10,
      pretrain_seconds: Math.round(Number(pre?.seconds) * 10) / 10,
      ...(r.peakRssMib === undefined ? {} : { peak_rss_mib: r.peakRssMib }),
    });
    if (threads === 2 && !values.json) {
      console.log("\nPyTorch test accuracy (lr chosen on validation):");
      const best = new Map<string, Record<string, unknown>>();
      for (const l of lines.filter((l) => "selection" in l)) {
        const k = `${l.shift} | ${l.selection}`;
        if (!best.has(k) || Number(l.val) > Number(best.get(k)!.val)) best.set(k, l);
      }
      for (const [k, l] of best) console.log(`  ${k}: ${(100 * Number(l.test)).toFixed(1)} % (lr ${l.lr})`);
    }
  }
}

if (!values.json) {
  console.log(
    "\n| runner | model cache | concurrency | trials | wall s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|",
  );
  for (const r of rows) {
    console.log(
      `| ${r.runner} | ${r.cache} | ${r.concurrency} | ${r.trials} | ${r.seconds} | ${r.peak_rss_mib ?? "–"} |`,
    );
  }
}
await Deno.remove(work, { recursive: true }).catch(() => {});
