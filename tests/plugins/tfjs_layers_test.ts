/**
 * The `tfjs-layers` model plugin and `scalpel model inspect`: a small LayersModel built and saved here (model.json +
 * weights.bin, the format model.save writes) is loaded, wrapped, compared with tfjs' own predictions, grouped,
 * copied, trained, checked against the dataset's shapes and disposed.
 * @module
 */
import assert from "node:assert/strict";
import * as tfl from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { Command } from "@effect/cli";
import { NodeContext } from "@effect/platform-node";
import { Effect, Exit } from "effect";
import { tempDir, useWasm } from "../helpers.ts";
import tfjsLayers, { assignGroups, patternRegExp } from "../../plugins/models/tfjs_layers.ts";
import { disposeModel, type Model, snapshot } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import { ModelFileError, PluginError } from "../../core/errors.ts";
import type { ModelImpl } from "../../core/plugin.ts";
import { model as modelCommand } from "../../commands/model.ts";

await useWasm();

type LayerNames = { conv: string; bn: string; dense: string };
const PLAIN: LayerNames = { conv: "conv1", bn: "bn1", dense: "logits" };
const ZOO: LayerNames = { conv: "block1_conv", bn: "block1/bn", dense: "head_dense" };

/** conv2d → batch-norm (non-trivial moving statistics) → flatten → dense 3, input [8, 8, 1]. */
const buildNet = (names: LayerNames, activation: "linear" | "softmax" = "linear"): tfl.Sequential => {
  const net = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: "relu", name: names.conv }),
      tfl.layers.batchNormalization({ name: names.bn }),
      tfl.layers.flatten({ name: "flatten" }),
      tfl.layers.dense({ units: 3, activation, name: names.dense }),
    ],
  });
  const bn = net.getLayer(names.bn);
  bn.setWeights(tf.tidy(() => [
    tf.randomUniform([4], 0.5, 1.5, "float32", 1),
    tf.randomUniform([4], -0.5, 0.5, "float32", 2),
    tf.randomUniform([4], -0.3, 0.3, "float32", 3),
    tf.randomUniform([4], 0.5, 2, "float32", 4),
  ]));
  return net;
};

/** Save `net` as `<dir>/model.json` + `<dir>/weights.bin` (weightsManifest with paths). */
const saveNet = async (net: tfl.LayersModel, dir: string): Promise<string> => {
  await net.save(tf.io.withSaveHandler(async (artifacts) => {
    const data = artifacts.weightData!;
    const bytes = new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
    await Deno.writeFile(`${dir}/weights.bin`, bytes);
    const json = {
      format: "layers-model",
      generatedBy: artifacts.generatedBy,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
    };
    await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }));
  return `${dir}/model.json`;
};

const make = (options: { path: string; groups?: Record<string, string[]> }) =>
  Effect.runPromise(tfjsLayers.make(options).pipe(Effect.provide(NodeContext.layer)));

const makeError = async (options: { path: string; groups?: Record<string, string[]> }) => {
  const exit = await Effect.runPromiseExit(tfjsLayers.make(options).pipe(Effect.provide(NodeContext.layer)));
  assert.ok(Exit.isFailure(exit), "make should fail");
  const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined;
  assert.ok(e instanceof ModelFileError || e instanceof PluginError, `a user error, got ${String(exit.cause)}`);
  return e;
};

const SPEC: { inputShape: readonly [number, number, number]; numClasses: number } = {
  inputShape: [8, 8, 1],
  numClasses: 3,
};
const build = (impl: ModelImpl, spec = SPEC): Model => impl.build(spec, rngFor(0, ["model", "init"]));

const batch = () => tf.randomUniform([5, 8, 8, 1], 0, 1, "float32", 7) as tf.Tensor4D;

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const dir = await tempDir("tfjs-layers");
const netPlain = buildNet(PLAIN);
const plainFile = await saveNet(netPlain, await Deno.makeTempDir({ dir, prefix: "plain-" }));

Deno.test("tfjs-layers: the wrapped model's logits equal the original predictions (eval mode)", async () => {
  const impl = await make({ path: plainFile });
  assert.equal(impl.pretrained, true);
  const m = build(impl);
  const x = batch();
  const expected = (netPlain.predict(x) as tf.Tensor).dataSync() as Float32Array;
  const got = tf.tidy(() => m.forward(x, "eval").logits.dataSync()) as Float32Array;
  assert.equal(got.length, 15);
  assert.ok(maxAbsDiff(expected, got) < 1e-5, `max abs diff ${maxAbsDiff(expected, got)}`);
  assert.deepEqual(m.inputShape, [8, 8, 1]);
  assert.equal(m.numClasses, 3);
  x.dispose();
  disposeModel(m);
});

Deno.test("tfjs-layers: params are the trainable weights, state the moving statistics", async () => {
  const m = build(await make({ path: plainFile }));
  assert.deepEqual(m.params.map((p) => p.name), [
    "conv1/kernel",
    "conv1/bias",
    "bn1/gamma",
    "bn1/beta",
    "logits/kernel",
    "logits/bias",
  ]);
  assert.deepEqual(m.state.map((p) => p.name), ["bn1/moving_mean", "bn1/moving_variance"]);
  assert.ok(m.params.every((p) => p.variable.trainable) && m.state.every((p) => !p.variable.trainable));
  assert.deepEqual(m.firstLayer, ["conv1/kernel", "conv1/bias"]);
  // the values are the saved ones
  const saved = netPlain.getLayer("bn1").getWeights()[2].dataSync();
  assert.deepEqual([...m.state[0].variable.dataSync()], [...saved]);
  disposeModel(m);
});

Deno.test("tfjs-layers: groups", async (t) => {
  await t.step("automatic: one group per layer with weights, in network order", async () => {
    const m = build(await make({ path: plainFile }));
    assert.deepEqual(m.groups, ["conv1", "bn1", "logits"]);
    assert.deepEqual(m.params.map((p) => p.group), ["conv1", "conv1", "bn1", "bn1", "logits", "logits"]);
    assert.deepEqual(m.state.map((p) => p.group), ["bn1", "bn1"]);
    disposeModel(m);
  });
  await t.step("automatic: zoo-style layer names map to block/head groups", async () => {
    const net = buildNet(ZOO);
    const file = await saveNet(net, await Deno.makeTempDir({ dir, prefix: "zoo-" }));
    net.dispose();
    const m = build(await make({ path: file }));
    assert.deepEqual(m.groups, ["block1", "head"]);
    assert.deepEqual(m.params.map((p) => `${p.group}:${p.name}`), [
      "block1:block1_conv/kernel",
      "block1:block1_conv/bias",
      "block1:block1/bn/gamma",
      "block1:block1/bn/beta",
      "head:head_dense/kernel",
      "head:head_dense/bias",
    ]);
    disposeModel(m);
  });
  await t.step("from a `groups` mapping (globs and /regex/)", async () => {
    const m = build(await make({ path: plainFile, groups: { features: ["conv*", "/^bn\\d$/"], head: ["logits"] } }));
    assert.deepEqual(m.groups, ["features", "head"]);
    assert.deepEqual(m.params.map((p) => p.group), ["features", "features", "features", "features", "head", "head"]);
    assert.deepEqual(m.state.map((p) => p.group), ["features", "features"]);
    disposeModel(m);
  });
  await t.step("a mapping that misses a layer, matches nothing or is out of order is a user error", async () => {
    const missing = await makeError({ path: plainFile, groups: { a: ["conv1"], head: ["logits"] } });
    assert.match(missing.describe(), /layers bn1 match no pattern/);
    const empty = await makeError({
      path: plainFile,
      groups: { a: ["conv1", "bn1"], x: ["nothing*"], head: ["logits"] },
    });
    assert.match(empty.describe(), /group\(s\) x match no layer/);
    const order = await makeError({ path: plainFile, groups: { head: ["logits"], body: ["*"] } });
    assert.match(order.describe(), /network order/);
  });
  await t.step("patterns: a glob matches the whole name; the first matching group wins (property)", () => {
    assert.ok(patternRegExp("block?_*").test("block1_conv"));
    assert.ok(!patternRegExp("conv").test("conv1"));
    assert.ok(patternRegExp("/conv/").test("my_conv1"));
    assert.ok(patternRegExp("a.b").test("a.b") && !patternRegExp("a.b").test("axb"));
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), { minLength: 1, maxLength: 8 }), (ns) => {
        const auto = assignGroups(ns);
        assert.deepEqual(auto.groups.length <= ns.length, true);
        for (const n of ns) assert.ok(auto.groups.includes(auto.layerGroup.get(n)!));
        const all = assignGroups(ns, { only: ["*"] });
        assert.deepEqual(all.groups, ["only"]);
        const each = assignGroups(ns, Object.fromEntries(ns.map((n) => [`g_${n}`, [n]])));
        assert.deepEqual(each.groups, ns.map((n) => `g_${n}`));
      }),
    );
  });
});

Deno.test("tfjs-layers: every build is an independent copy", async () => {
  const impl = await make({ path: plainFile });
  const a = build(impl);
  const b = build(impl);
  const before = snapshot(b);
  const x = batch();
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1], "int32"), 3);
  const bOut = tf.tidy(() => b.forward(x, "eval").logits.dataSync());
  // a few SGD steps on `a`, in train mode (batch statistics; tfjs-layers updates a's moving statistics itself)
  for (let step = 0; step < 3; step++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, a.forward(x, "train").logits) as tf.Scalar,
        a.params.map((p) => p.variable),
      );
      for (const p of a.params) p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.variable.name], 0.5)));
    });
  }
  const after = snapshot(b);
  for (const [name, w] of before) assert.deepEqual([...after.get(name)!.data], [...w.data], `${name} changed`);
  const aNow = snapshot(a);
  assert.notDeepEqual([...aNow.get("conv1/kernel")!.data], [...before.get("conv1/kernel")!.data]);
  assert.notDeepEqual([...aNow.get("bn1/moving_mean")!.data], [...before.get("bn1/moving_mean")!.data]);
  assert.deepEqual([...tf.tidy(() => b.forward(x, "eval").logits.dataSync())], [...bOut]);
  tf.dispose([x, y]);
  disposeModel(a);
  disposeModel(b);
});

Deno.test("tfjs-layers: a wrong input shape or class count is a clear error", async () => {
  const impl = await make({ path: plainFile });
  assert.throws(
    () => build(impl, { inputShape: [28, 28, 1], numClasses: 3 }),
    (e: Error) =>
      e.message.includes(plainFile) && e.message.includes("[8, 8, 1]") && e.message.includes("[28, 28, 1]") &&
      /use a dataset with images of that shape/.test(e.message),
  );
  assert.throws(
    () => build(impl, { inputShape: [8, 8, 1], numClasses: 10 }),
    (e: Error) =>
      e.message.includes(plainFile) && e.message.includes("outputs shape [3]") && e.message.includes("10 classes") &&
      /last layer has 10 units/.test(e.message),
  );
});

Deno.test("tfjs-layers: missing, malformed and truncated files are user errors naming the file", async () => {
  const d = await Deno.makeTempDir({ dir, prefix: "bad-" });
  const missing = await makeError({ path: `${d}/nope.json` });
  assert.ok(missing instanceof ModelFileError && missing.file === `${d}/nope.json`);
  assert.match(missing.describe(), /cannot be read.*model\.save/);
  await Deno.writeTextFile(`${d}/bad.json`, "{ not json");
  assert.match((await makeError({ path: `${d}/bad.json` })).describe(), /bad\.json: is not valid JSON/);
  await Deno.writeTextFile(`${d}/graph.json`, JSON.stringify({ format: "graph-model", modelTopology: { node: [] } }));
  assert.match((await makeError({ path: `${d}/graph.json` })).describe(), /graph model.*tfjs_layers_model/);
  // truncated weights
  await Deno.copyFile(plainFile, `${d}/model.json`);
  const bytes = await Deno.readFile(plainFile.replace("model.json", "weights.bin"));
  await Deno.writeFile(`${d}/weights.bin`, bytes.subarray(0, bytes.length - 8));
  const truncated = await makeError({ path: `${d}/model.json` });
  assert.ok(truncated instanceof ModelFileError);
  assert.equal(truncated.file, `${d}/weights.bin`);
  assert.match(truncated.describe(), /has \d+ bytes but .*model\.json needs \d+ .*\(truncated\)/);
  // missing weights file
  await Deno.remove(`${d}/weights.bin`);
  const gone = await makeError({ path: `${d}/model.json` });
  assert.ok(gone instanceof ModelFileError && gone.file === `${d}/weights.bin`);
});

Deno.test("tfjs-layers: a final softmax is removed so forward returns logits", async () => {
  const net = buildNet(PLAIN, "softmax");
  const file = await saveNet(net, await Deno.makeTempDir({ dir, prefix: "softmax-" }));
  const m = build(await make({ path: file }));
  const x = batch();
  const probs = (net.predict(x) as tf.Tensor).dataSync() as Float32Array;
  const got = tf.tidy(() => tf.softmax(m.forward(x, "eval").logits).dataSync()) as Float32Array;
  assert.ok(maxAbsDiff(probs, got) < 1e-5);
  const raw = tf.tidy(() => m.forward(x, "eval").logits.dataSync()) as Float32Array;
  assert.ok(maxAbsDiff(probs, raw) > 1e-3, "forward should not return probabilities");
  x.dispose();
  net.dispose();
  disposeModel(m);
});

Deno.test("tfjs-layers: a functional (tf.model) network works too", async () => {
  const input = tfl.input({ shape: [8, 8, 1] });
  const c = tfl.layers.conv2d({ filters: 2, kernelSize: 3, name: "c" }).apply(input) as tfl.SymbolicTensor;
  const f = tfl.layers.flatten().apply(c) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, name: "d" }).apply(f) as tfl.SymbolicTensor;
  const net = tfl.model({ inputs: input, outputs: out });
  const file = await saveNet(net, await Deno.makeTempDir({ dir, prefix: "functional-" }));
  const m = build(await make({ path: file }));
  assert.deepEqual(m.groups, ["c", "d"]);
  const x = batch();
  const expected = (net.predict(x) as tf.Tensor).dataSync() as Float32Array;
  const got = tf.tidy(() => m.forward(x, "eval").logits.dataSync()) as Float32Array;
  assert.ok(maxAbsDiff(expected, got) < 1e-5);
  x.dispose();
  net.dispose();
  disposeModel(m);
});

Deno.test("tfjs-layers: disposeModel releases every tensor of a copy; make keeps none", async () => {
  const start = tf.memory().numTensors;
  const impl = await make({ path: plainFile });
  assert.equal(tf.memory().numTensors, start, "make keeps no tensors");
  const m = build(impl);
  assert.ok(tf.memory().numTensors > start);
  const x = batch();
  tf.tidy(() => {
    m.forward(x, "eval");
  });
  tf.tidy(() => {
    m.forward(x, "train");
  });
  x.dispose();
  disposeModel(m);
  assert.equal(tf.memory().numTensors, start);
});

const captureLog = async (f: () => Promise<unknown>): Promise<string> => {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    await f();
  } finally {
    console.log = original;
  }
  return lines.join("\n");
};

Deno.test("scalpel model inspect prints the layers, groups and parameter counts", async (t) => {
  const cli = Command.run(modelCommand, { name: "scalpel model", version: "test" });
  const run = (args: string[]) =>
    Effect.runPromiseExit(cli(["deno", "model", ...args]).pipe(Effect.provide(NodeContext.layer)));
  await t.step("automatic groups", async () => {
    const out = await captureLog(() => run(["inspect", plainFile]));
    assert.match(out, /Sequential LayersModel, input shape \[8, 8, 1\], output shape \[3\]/);
    assert.match(out, /conv1\s+Conv2D\s+\[6, 6, 4\]\s+40\s+conv1/);
    assert.match(out, /bn1\s+BatchNormalization\s+\[6, 6, 4\]\s+16\s+bn1/);
    assert.match(out, /flatten\s+Flatten\s+\[144\]\s+0\s+-/);
    assert.match(out, /logits\s+Dense\s+\[3\]\s+435\s+logits/);
    assert.match(
      out,
      /groups \(automatic; input side first, the last is the head\):\n {2}conv1: conv1 \(40 trainable\)/,
    );
    assert.match(out, /bn1: bn1 \(8 trainable, 8 non-trainable\)/);
    assert.match(out, /parameters: 483 trainable, 8 non-trainable/);
    assert.match(out, /first layer: conv1 \(conv1\/kernel, conv1\/bias\)/);
  });
  await t.step("--groups", async () => {
    const out = await captureLog(() =>
      run(["inspect", plainFile, "--groups", JSON.stringify({ body: ["conv1", "bn1"], head: ["logits"] })])
    );
    assert.match(out, /conv1\s+Conv2D\s+\[6, 6, 4\]\s+40\s+body/);
    assert.match(out, /body: conv1, bn1 \(48 trainable, 8 non-trainable\)\n {2}head: logits \(435 trainable\)/);
  });
  await t.step("a bad --groups fails with a user error", async () => {
    const exit = await run(["inspect", plainFile, "--groups", '{"head":["logits"]}']);
    assert.ok(Exit.isFailure(exit));
    const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined;
    assert.match(String((e as { describe?: () => string })?.describe?.()), /--groups: layers conv1, bn1 match no/);
  });
});

Deno.test("tfjs-layers in a pipeline: no pre-training, trials fine-tune the loaded weights, tensors released", async () => {
  const { run } = await import("../../mod.ts");
  const d = await Deno.makeTempDir({ dir, prefix: "pipe-" });
  const net = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 5, strides: 3, name: "block1_conv" }),
      tfl.layers.batchNormalization({ name: "block1_bn" }),
      tfl.layers.flatten({ name: "flatten" }),
      tfl.layers.dense({ units: 10, activation: "softmax", name: "head" }),
    ],
  });
  const file = await saveNet(net, d);
  net.dispose();
  const pipeline = `${d}/p.yaml`;
  await Deno.writeTextFile(
    pipeline,
    `name: tfjs
plugins: [${new URL("../../plugins/models/tfjs_layers.ts", import.meta.url).pathname}]
dataset: { dataset: mnist, options: { trainLimit: 500, testLimit: 200 } }
model: { model: tfjs-layers, options: { path: ${file} } }
target: { train: 60, val: 40, test: 100 }
finetune: { epochs: 1, batchSize: 20, learningRates: [0.01] }
shifts: [label-permutation]
selections: [none, block1, last-layer]
`,
  );
  const before = tf.memory().numTensors;
  const logs: string[] = [];
  const out = await run(pipeline, { out: `${d}/run`, cache: `${d}/cache`, log: (l) => logs.push(l) });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(!logs.some((l) => /source examples|pre-trained .* loaded from cache/.test(l)), logs.join("\n"));
  assert.equal(logs.filter((l) => /^\[\d\/3\]/.test(l)).length, 3, logs.join("\n"));
  const lines = (await Deno.readTextFile(`${out.outDir}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.selection).sort(), ["block1", "last-layer", "none"]);
  const trained = Object.fromEntries(lines.map((l) => [l.selection, l.trainedParams]));
  assert.deepEqual(trained, { none: 0, block1: 4 * 25 + 4 + 4 + 4, "last-layer": 8 * 8 * 4 * 10 + 10 });

  // the `source: { load }` shorthand (path relative to the pipeline file) gives the same numbers
  const short = `${d}/short.yaml`;
  const text = await Deno.readTextFile(pipeline);
  await Deno.writeTextFile(
    short,
    text.replace(/^plugins: .*\n/m, "").replace(/^model: .*$/m, `source: { load: ./${file.split("/").at(-1)} }`),
  );
  const again = await run(short, { out: `${d}/run-short`, cache: `${d}/cache` });
  const shortLines = (await Deno.readTextFile(`${again.outDir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const metrics = (ls: Array<{ selection: string; test: unknown }>) => ls.map((l) => [l.selection, l.test]).sort();
  assert.deepEqual(metrics(shortLines), metrics(lines));

  // fine-tuned weights saved by a run (`save: true`) load back through `source: { load, weights }`
  const saving = `${d}/save.yaml`;
  await Deno.writeTextFile(
    saving,
    (await Deno.readTextFile(short)).replace("selections: [none, block1, last-layer]", "selections: [block1]") +
      "save: true\n",
  );
  const saved = await run(saving, { out: `${d}/run-save`, cache: `${d}/cache` });
  const [tuned] = (await Deno.readTextFile(`${saved.outDir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const reload = `${d}/reload.yaml`;
  await Deno.writeTextFile(
    reload,
    (await Deno.readTextFile(short))
      .replace("selections: [none, block1, last-layer]", "selections: [none]")
      .replace(/source: \{ load: ([^ ]+) \}/, `source: { load: $1, weights: ./run-save/models/${tuned.key}.weights }`),
  );
  const back = await run(reload, { out: `${d}/run-reload`, cache: `${d}/cache` });
  const [loaded] = (await Deno.readTextFile(`${back.outDir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(loaded.test, tuned.test, "the fine-tuned model loaded back scores the same on the same test split");
});
