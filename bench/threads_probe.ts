/**
 * Probe: the tfjs wasm backend with 1 vs 2 XNNPACK threads under Deno
 * (see core/kernels/threads.ts). Each thread count runs in its own child
 * process (the wasm backend cannot be re-initialised): it prints
 * `getThreadsCount()`, training examples/s (forward + backward + Adam, batch
 * 64, all layers, median of reps after one warm-up) for small-cnn and
 * resnet-mini, and — in the threaded child — checks one gradient of a tiny
 * conv net against the cpu backend (max |Δ| ≤ 1e-4). The parent also reports
 * how long each child took to exit after its last line (live workers would
 * keep it from exiting; the parent kills it after a timeout).
 *
 *   deno run -A bench/threads_probe.ts [--batches 4] [--reps 3] [--threads 1,2]
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../core/backend.ts";
import { enableWasmThreads } from "../core/kernels/threads.ts";
import { rngFor } from "../core/random.ts";
import { disposeModel } from "../core/model.ts";
import { BATCH, randomSplit, trainRate } from "./rates.ts";
import type { ModelImpl } from "../core/plugin.ts";
import smallCnn from "../plugins/models/small_cnn.ts";
import resnetMini from "../plugins/models/resnet_mini.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "string" },
    batches: { type: "string", default: "4" },
    reps: { type: "string", default: "3" },
    threads: { type: "string", default: "1,2" },
  },
});
/** Gradients of a tiny conv net (conv → relu → maxpool → conv → mean²) w.r.t. input and both filters. */
const tinyGrads = (): Float32Array[] => {
  const r = rngFor(7, ["threads-probe", "grad"]);
  const vals = (n: number) => Float32Array.from({ length: n }, () => r.int(2001) / 1000 - 1);
  const x = tf.tensor4d(vals(4 * 16 * 16 * 3), [4, 16, 16, 3]);
  const f1 = tf.tensor4d(vals(3 * 3 * 3 * 8), [3, 3, 3, 8]);
  const f2 = tf.tensor4d(vals(3 * 3 * 8 * 16), [3, 3, 8, 16]);
  const g = tf.grads((x: tf.Tensor, f1: tf.Tensor, f2: tf.Tensor) => {
    let y = tf.relu(tf.conv2d(x as tf.Tensor4D, f1 as tf.Tensor4D, 1, "same"));
    y = tf.maxPool(y, 2, 2, "valid");
    y = tf.conv2d(y, f2 as tf.Tensor4D, 2, "same");
    return tf.mean(tf.square(y));
  });
  const out = g([x, f1, f2]).map((t) => t.dataSync() as Float32Array);
  tf.disposeVariables();
  return out;
};

async function child(threads: number): Promise<void> {
  const emit = (o: Record<string, unknown>) => console.log(JSON.stringify({ threads, ...o }));
  const enabled = threads >= 2 ? await enableWasmThreads(threads) : false;
  const t0 = performance.now();
  const ran = await Effect.runPromise(Effect.either(initBackend("wasm")));
  if (ran._tag === "Left") {
    emit({ error: ran.left.describe() });
    return;
  }
  emit({
    enabled,
    backend: tf.getBackend(),
    threadsCount: getThreadsCount(),
    initMs: Math.round(performance.now() - t0),
  });
  const data = randomSplit(BATCH * Number(values.batches));
  for (const plugin of [smallCnn, resnetMini]) {
    const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
    const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(0, ["bench", "init"]));
    emit({
      model: plugin.name,
      train_examples_per_s: Math.round(
        await trainRate(model, data, "all", { reps: Number(values.reps), batchNormMode: "train" }),
      ),
    });
    disposeModel(model);
  }
  const wasmG = tf.tidy(() => tinyGrads());
  await tf.setBackend("cpu");
  const cpuG = tf.tidy(() => tinyGrads());
  let maxAbs = 0;
  wasmG.forEach((g, i) => g.forEach((v, k) => (maxAbs = Math.max(maxAbs, Math.abs(v - cpuG[i][k])))));
  emit({ gradCheck: { maxAbsDiffVsCpu: maxAbs, ok: maxAbs <= 1e-4, sizes: wasmG.map((g) => g.length) } });
  emit({ done: true });
  // Without this the 2-thread process never exits: Deno keeps the process alive while
  // the pthread pool's worker_threads workers live (Emscripten's unref() does not help).
  // Disposing the wasm backend runs PThread.terminateAllThreads().
  if (Deno.env.get("THREADS_PROBE_NO_DISPOSE") !== "1") tf.removeBackend("wasm");
}

async function parent(): Promise<void> {
  const self = new URL(import.meta.url).pathname;
  const results: Array<Record<string, unknown>> = [];
  for (const threads of values.threads.split(",").map(Number)) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, "--child", String(threads), "--batches", values.batches, "--reps", values.reps],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const killer = setTimeout(() => {
      console.error(`threads=${threads}: child still running after 900 s, killing it`);
      proc.kill("SIGKILL");
    }, 900_000);
    let doneAt = 0;
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        console.log(line);
        try {
          const o = JSON.parse(line);
          results.push(o);
          if (o.done) doneAt = performance.now();
        } catch { /* not ours */ }
      }
    }
    const status = await proc.status;
    clearTimeout(killer);
    console.log(JSON.stringify({
      threads,
      exitCode: status.code,
      exitMsAfterDone: doneAt ? Math.round(performance.now() - doneAt) : null,
    }));
  }
  const rate = (t: number, m: string) =>
    results.find((r) => r.threads === t && r.model === m)?.train_examples_per_s as number | undefined;
  for (const m of ["small-cnn", "resnet-mini"]) {
    const a = rate(1, m), b = rate(2, m);
    if (a && b) console.log(`${m.padEnd(12)} 1 thread ${a} ex/s, 2 threads ${b} ex/s, speed-up ×${(b / a).toFixed(2)}`);
  }
}

if (values.child != null) await child(Number(values.child));
else await parent();
