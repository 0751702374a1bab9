/**
 * Throughput benchmark: training examples/s (forward + backward + Adam step) of the
 * zoo models at batch 64 for full fine-tuning, `block3` and `last-layer`, and
 * inference examples/s, on each requested backend. `block3` and `last-layer` are timed
 * without and with the frozen-prefix cache (`prefix_cache`; the cache is filled in the
 * warm-up, so the cached rate is the steady state of a trial's epochs). Warm-up
 * excluded; the median of several repetitions is reported, with their minimum and maximum
 * (`train_min` / `train_max`). The `pretrain` rows time pre-training: every variable,
 * batch norm in train mode (batch statistics, running averages updated), batch 128.
 * A busy machine (load average above the core count at start) gets a warning.
 *
 *   deno task bench [--json] [--backends wasm,cpu,node,webgpu] [--threads 1,2] [--reps 5] [--batches 8] [--peer]
 *     [--peer-first] [--rounds 1]
 *
 * `--backends` defaults to wasm; `webgpu` rows (opt-in, `--backends wasm,webgpu`) run on this
 * machine's WebGPU adapter — on one without a GPU, Mesa's llvmpipe, far slower than wasm:
 * use few `--batches` and `--reps` there. A backend that cannot start is skipped with its
 * paragraph.
 *
 * `--threads` lists wasm thread counts (default 1,2); each count past the first runs
 * in a child process (the wasm backend starts once per process). Rows carry `threads`
 * (1 on backends other than wasm).
 *
 * `--peer` also runs bench/torch_peer.py (PyTorch on 1 and 2 threads, with Debian's
 * python3-torch when it is installed) in the same run and prints the ratio table
 * (`--peer-first`: PyTorch before scalpel).
 *
 * `--rounds K` runs all of it K times, each round in a child process, PyTorch first in
 * every other round, and prints each ratio's median over the rounds with its smallest
 * and largest round: on a machine whose speed drifts, one round's ratio can be off by a
 * third (2026-12-01: resnet-mini pre-training 0.40× and 0.54× PyTorch-1t in two runs
 * 20 minutes apart).
 *
 * `--json` prints one object per line:
 * {"model":"small-cnn","subset":"all","backend":"wasm","threads":1,"batch":64,"prefix_cache":false,
 *  "train_examples_per_s":…,"train_min":…,"train_max":…,"infer_examples_per_s":…}
 * @module
 */
import { parseArgs } from "node:util";
import { Effect } from "effect";
import * as tf from "@tensorflow/tfjs-core";
import { type BackendChoice, initBackend, wasmThreads } from "../core/backend.ts";
import { rngFor } from "../core/random.ts";
import { disposeModel } from "../core/model.ts";
import { BATCH, busyWarning, inferRate, loadAverage, randomSplit, spreadOf, trainRates } from "./rates.ts";
import type { ModelImpl } from "../core/plugin.ts";
import smallCnn from "../plugins/models/small_cnn.ts";
import resnetMini from "../plugins/models/resnet_mini.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "boolean", default: false },
    backends: { type: "string", default: "wasm" },
    reps: { type: "string", default: "5" },
    batches: { type: "string", default: "8" },
    peer: { type: "boolean", default: false },
    threads: { type: "string", default: "1,2" },
    rounds: { type: "string", default: "1" },
    "peer-first": { type: "boolean", default: false },
  },
});
const reps = Number(values.reps);
const batches = Number(values.batches);
const [threads, ...moreThreads] = values.threads.split(",").map(Number);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: a whole number ≥ 1 (got ${values.rounds})`);

const busy = busyWarning();
if (busy) console.error(busy);
/** Pre-training's batch (the parity protocol's). */
const PRETRAIN_BATCH = 128;
const data = randomSplit(BATCH * batches);
type Row = Record<string, string | number | boolean>;
const rows: Row[] = [];
/** Keeps a row and shows it: a JSON line on stdout with --json, else a progress line on stderr. */
const record = (row: Row): void => {
  rows.push(row);
  if (values.json) console.log(JSON.stringify(row));
  else {
    console.error(
      `${String(row.model).padEnd(12)} ${String(row.subset).padEnd(11)} ${
        String(row.backend).padEnd(6)
      } ${row.threads}t ${
        row.prefix_cache ? "cached  " : "uncached"
      } train ${row.train_examples_per_s} ex/s (${row.train_min}–${row.train_max}), infer ${row.infer_examples_per_s} ex/s`,
    );
  }
};
/**
 * This bench in a child process with `--json`, the given arguments and this run's `--reps` and
 * `--batches`; the rows it printed. `more` are further permissions (the child of a round
 * runs children and reads the load average itself).
 */
const benchChild = async (args: ReadonlyArray<string>, more: ReadonlyArray<string> = []) => {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname",
      ...more,
      new URL(import.meta.url).pathname,
      "--json",
      ...args,
      ...["--reps", String(reps), "--batches", String(batches)],
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const rows = new TextDecoder().decode(child.stdout).trim().split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Row);
  return { rows, success: child.success, code: child.code };
};

/** Times every requested backend (wasm: each thread count) and records its rows. */
const measureBackends = async (): Promise<void> => {
  for (const backend of values.backends.split(",") as BackendChoice[]) {
    const ran = await Effect.runPromise(
      Effect.either(initBackend(backend, { threads })),
    );
    if (ran._tag === "Left") {
      console.error(`skipping backend ${backend}: ${ran.left.describe()}`);
      continue;
    }
    for (const plugin of [smallCnn, resnetMini]) {
      const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
      const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(0, ["bench", "init"]));
      const infer = await inferRate(model, data, reps);
      for (
        const [subset, cached] of [["all", false], ["block3", false], ["block3", true], ["last-layer", false], [
          "last-layer",
          true,
        ], ["pretrain", false]] as const
      ) {
        const pretrain = subset === "pretrain";
        const rates = await trainRates(model, data, pretrain ? "all" : subset, {
          reps,
          prefixCache: cached,
          ...(pretrain ? { batchNormMode: "train" as const, batchSize: PRETRAIN_BATCH } : {}),
        });
        record({
          model: plugin.name,
          subset,
          backend: ran.right,
          threads: wasmThreads(),
          batch: pretrain ? PRETRAIN_BATCH : BATCH,
          prefix_cache: cached,
          train_examples_per_s: Math.round(rates.median),
          train_min: Math.round(rates.min),
          train_max: Math.round(rates.max),
          infer_examples_per_s: Math.round(infer),
        });
      }
      disposeModel(model);
    }
  }
  if (wasmThreads() > 1) tf.removeBackend("wasm"); // ends the pthread pool (else the process stays alive)
  for (const t of moreThreads) {
    // the wasm backend starts once per process: each further thread count runs in a child
    const child = await benchChild(["--backends", "wasm", "--threads", String(t)]);
    if (!child.success || child.rows.length === 0) {
      console.error(`wasm with ${t} threads: no rows (exit ${child.code})`);
    }
    child.rows.forEach(record);
  }
};

/** Runs bench/torch_peer.py (PyTorch on 1 and 2 threads) and records its rows; false when it cannot run. */
const measurePeer = async (): Promise<boolean> => {
  const python = "/usr/bin/python3";
  const peer = await new Deno.Command(python, {
    args: [new URL("./torch_peer.py", import.meta.url).pathname, "--reps", String(reps), "--batches", String(batches)],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => ({ success: false, stdout: new Uint8Array(), stderr: new TextEncoder().encode(String(e)) }));
  if (!peer.success) {
    console.error(
      `PyTorch peer not run (install Debian's python3-torch): ${
        new TextDecoder().decode(peer.stderr).split("\n").at(-2) ?? ""
      }`,
    );
    return false;
  }
  const peerRows = new TextDecoder().decode(peer.stdout).trim().split("\n").map((l) => JSON.parse(l) as Row);
  if (values.json) peerRows.forEach((r) => console.log(JSON.stringify(r)));
  rows.push(...peerRows);
  return true;
};

/** The wasm rows against PyTorch's (one round's ratios). */
const printPeerTable = (): void => {
  const find = (model: unknown, subset: unknown, backend: string) =>
    rows.find((r) => r.model === model && r.subset === subset && r.backend === backend);
  console.log(
    "\n| model | subset | prefix cache | wasm threads | scalpel wasm ex/s | PyTorch 1 thread | PyTorch 2 threads | wasm / PyTorch 1t | wasm / PyTorch 2t |",
  );
  console.log("|---|---|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows.filter((r) => r.backend === "wasm")) {
    const t1 = find(r.model, r.subset, "torch-1t")?.train_examples_per_s as number | undefined;
    const t2 = find(r.model, r.subset, "torch-2t")?.train_examples_per_s as number | undefined;
    const w = r.train_examples_per_s as number;
    console.log(
      `| ${r.model} | ${r.subset} | ${r.prefix_cache ? "yes" : "no"} | ${r.threads} | ${w} | ${t1 ?? "–"} | ${
        t2 ?? "–"
      } | ${t1 ? (w / t1).toFixed(2) : "–"} | ${t2 ? (w / t2).toFixed(2) : "–"} |`,
    );
  }
};

/** Every row, with the spread of its repetitions. */
const printRows = (): void => {
  console.log(
    "\n| model | subset | backend | threads | prefix cache | train ex/s (min–max) | inference ex/s |\n|---|---|---|---:|---|---:|---:|",
  );
  for (const r of rows) {
    const spread = r.train_min === undefined ? "" : ` (${r.train_min}–${r.train_max})`;
    console.log(
      `| ${r.model} | ${r.subset} | ${r.backend} | ${r.threads ?? ""} | ${
        r.prefix_cache ? "yes" : "no"
      } | ${r.train_examples_per_s}${spread} | ${r.infer_examples_per_s} |`,
    );
  }
};

/**
 * `--rounds K`: the whole bench K times, each round a child process of its own, PyTorch
 * first in every other round (so a drift of the machine's speed during a round tilts
 * the rounds' ratios both ways); then each ratio's median over the rounds with its
 * smallest and largest round.
 */
const runRounds = async (k: number): Promise<void> => {
  const all: Array<Row & { round: number }> = [];
  for (let round = 1; round <= k; round++) {
    const peerFirst = values.peer && round % 2 === 0;
    const load = loadAverage();
    console.error(
      `round ${round} of ${k}${peerFirst ? " (PyTorch first)" : ""}${
        load === undefined ? "" : `, load average ${load.toFixed(2)}`
      }`,
    );
    const child = await benchChild(
      [
        ...["--backends", values.backends, "--threads", values.threads],
        ...(values.peer ? ["--peer"] : []),
        ...(peerFirst ? ["--peer-first"] : []),
      ],
      ["--allow-sys=loadavg", "--allow-run"],
    );
    if (!child.success || child.rows.length === 0) {
      throw new Error(`bench round ${round}: no rows (exit ${child.code})`);
    }
    for (const r of child.rows) {
      const row = { ...r, round };
      all.push(row);
      if (values.json) console.log(JSON.stringify(row));
    }
  }
  if (values.json) return;
  const rate = (round: number, model: unknown, subset: unknown, cached: unknown, backend: (b: string) => boolean) =>
    Math.max(
      0,
      ...all.filter((r) =>
        r.round === round && r.model === model && r.subset === subset && Boolean(r.prefix_cache) === cached &&
        backend(String(r.backend))
      ).map((r) => r.train_examples_per_s as number),
    );
  const cells = new Map(
    all.filter((r) => !String(r.backend).startsWith("torch")).map((r) => [
      `${r.model} ${r.subset} ${r.prefix_cache}`,
      r,
    ]),
  );
  const spread = (xs: number[], digits: number) => {
    const { median, min, max } = spreadOf(xs);
    return `${median.toFixed(digits)} (${min.toFixed(digits)}–${max.toFixed(digits)})`;
  };
  console.log(
    `\nOver ${k} rounds: median (smallest–largest round); "best" is the faster of the thread counts in each round.\n` +
      "| model | subset | prefix cache | best scalpel ex/s | PyTorch 1t | PyTorch 2t | best / PyTorch 1t | best / PyTorch 2t |\n" +
      "|---|---|---|---:|---:|---:|---:|---:|",
  );
  const roundsList = Array.from({ length: k }, (_, i) => i + 1);
  for (const r of cells.values()) {
    const ours = roundsList.map((i) =>
      rate(i, r.model, r.subset, Boolean(r.prefix_cache), (b) => !b.startsWith("torch"))
    );
    const t1 = roundsList.map((i) => rate(i, r.model, r.subset, false, (b) => b === "torch-1t"));
    const t2 = roundsList.map((i) => rate(i, r.model, r.subset, false, (b) => b === "torch-2t"));
    const has = (xs: number[]) => xs.every((x) => x > 0);
    const ratio = (peer: number[]) => has(peer) ? spread(ours.map((o, i) => o / peer[i]), 2) : "–";
    console.log(
      `| ${r.model} | ${r.subset} | ${r.prefix_cache ? "yes" : "no"} | ${spread(ours, 0)} | ${
        has(t1) ? spread(t1, 0) : "–"
      } | ${has(t2) ? spread(t2, 0) : "–"} | ${ratio(t1)} | ${ratio(t2)} |`,
    );
  }
};

if (rounds > 1) await runRounds(rounds);
else {
  const peerFirst = values.peer && values["peer-first"];
  let peered = peerFirst && await measurePeer();
  await measureBackends();
  if (values.peer && !peerFirst) peered = await measurePeer();
  if (!values.json) {
    if (peered) printPeerTable();
    printRows();
  }
}
