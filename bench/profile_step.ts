/**
 * Per-kernel time of the zoo models' training steps on one backend (`tf.profile`),
 * grouped by kernel name and input shapes, largest first: where a step's time goes.
 *
 *   deno run -A bench/profile_step.ts [--model resnet-mini] [--subset all] [--backend wasm]
 *     [--batches 4] [--top 25] [--threads 1] [--batch 64] [--batch-norm eval|train]
 *     [--filter-grad simd|conv] [--bn simd|ops]
 *
 * `--batch-norm train --batch 128` profiles a pre-training step (batch statistics).
 * `--filter-grad conv` computes the filter gradients with XNNPACK's conv instead of
 * scalpel's SIMD kernel (same bits; for before/after timings).
 *
 * Kernel times are wall times of each kernel call (the wasm backend runs synchronously);
 * the total is compared with the step's wall time, the rest being JS overhead
 * (autodiff bookkeeping, tensor allocation).
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { type BackendChoice, initBackend, wasmThreads } from "../core/backend.ts";
import { rngFor } from "../core/random.ts";
import { disposeModel } from "../core/model.ts";
import { train } from "../core/train.ts";
import { setFilterGradPath } from "../core/kernels/conv2d_backprop_filter.ts";
import { setBatchNormSimd } from "../core/kernels/batch_norm_simd.ts";
import { BATCH, randomSplit, subsetOf } from "./rates.ts";
import type { ModelImpl } from "../core/plugin.ts";
import smallCnn from "../plugins/models/small_cnn.ts";
import resnetMini from "../plugins/models/resnet_mini.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "resnet-mini" },
    subset: { type: "string", default: "all" },
    backend: { type: "string", default: "wasm" },
    batches: { type: "string", default: "4" },
    top: { type: "string", default: "25" },
    threads: { type: "string", default: "1" },
    batch: { type: "string", default: String(BATCH) },
    "batch-norm": { type: "string", default: "eval" },
    "filter-grad": { type: "string", default: "simd" },
    bn: { type: "string", default: "simd" },
  },
});
const plugin = [smallCnn, resnetMini].find((p) => p.name === values.model);
if (plugin == null) throw new Error(`--model: one of small-cnn, resnet-mini (got ${values.model})`);
if (values["filter-grad"] !== "simd" && values["filter-grad"] !== "conv") {
  throw new Error(`--filter-grad: simd or conv (got ${values["filter-grad"]})`);
}
setFilterGradPath(values["filter-grad"]);
if (values.bn !== "simd" && values.bn !== "ops") throw new Error(`--bn: simd or ops (got ${values.bn})`);
setBatchNormSimd(values.bn === "simd");
await Effect.runPromise(initBackend(values.backend as BackendChoice, { threads: Number(values.threads) }));
const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(0, ["bench", "init"]));
const batches = Number(values.batches);
const batchSize = Number(values.batch);
const batchNormMode = values["batch-norm"] === "train" ? "train" : "eval";
const data = randomSplit(batchSize * batches);
const mult = subsetOf(model, values.subset);
const epoch = () =>
  Effect.runPromise(train(model, data, {
    epochs: 1,
    batchSize,
    learningRate: 1e-4,
    batchNormMode,
    multipliers: () => mult,
    rng: rngFor(0, ["bench", "batches"]),
    what: "profile",
  }));
await epoch(); // warm-up
const t0 = performance.now();
await epoch();
const wallPerStep = (performance.now() - t0) / batches;
const info = await tf.profile(async () => {
  await epoch();
});
const byKey = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of info.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(" ")}`;
  const e = byKey.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n += 1;
  byKey.set(key, e);
  total += ms;
}
console.log(
  `${values.model} ${values.subset} on ${tf.getBackend()}, batch ${batchSize}, batch norm ${batchNormMode}: ${
    wallPerStep.toFixed(1)
  } ms/step wall, ` +
    `${(total / batches).toFixed(1)} ms/step in kernels (${info.kernels.length / batches} kernel calls/step)`,
);
for (const [key, e] of [...byKey.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
  console.log(
    `${(e.ms / batches).toFixed(2).padStart(8)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ×${
      e.n / batches
    }  ${key}`,
  );
}
disposeModel(model);
if (wasmThreads() > 1) tf.removeBackend("wasm"); // ends the pthread pool (else the process stays alive)
