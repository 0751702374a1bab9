import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { useWasm } from "../helpers.ts";
import { type Model, restore, snapshot, VariableBuilder } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import { train } from "../../core/train.ts";
import { PrefixCache } from "../../core/prefix_cache.ts";
import type { Split } from "../../core/dataset.ts";
import smallCnn from "../../plugins/models/small_cnn.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";
import { block2, none } from "../../plugins/selectors/static.ts";
import type { ModelImpl, SelectorImpl } from "../../core/plugin.ts";

await useWasm();

/** Random images and labels. */
const randomSplit = (n: number, shape: [number, number, number], k: number, seed: number): Split => {
  const r = rngFor(seed, ["data"]);
  const images = Uint8Array.from({ length: n * shape[0] * shape[1] * shape[2] }, () => r.int(256));
  const labels = Int32Array.from({ length: n }, () => r.int(k));
  return { images, labels, count: n };
};

const build = async (plugin: typeof smallCnn | typeof resnetMini): Promise<Model> => {
  const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
  return impl.build({ inputShape: [12, 12, 1], numClasses: 4 }, rngFor(3, ["init"]));
};

const selectorImpl = (p: typeof block2) => Effect.runPromise(p.make({}) as Effect.Effect<SelectorImpl>);

const finetune = (model: Model, sel: SelectorImpl, data: Split) =>
  Effect.runPromise(train(model, data, {
    epochs: 2,
    batchSize: 8,
    learningRate: 1e-2,
    batchNormMode: "eval",
    multipliers: (epoch, trainLosses) =>
      sel.multipliers({ model, epoch, epochs: 2, trainLosses, gradientStats: () => new Map() }),
    rng: rngFor(1, ["batches"]),
    what: "test",
  }));

for (const plugin of [smallCnn, resnetMini]) {
  Deno.test(`train: tuning block2 of ${plugin.name} changes block2 only; none changes nothing`, async () => {
    const model = await build(plugin);
    const data = randomSplit(24, [12, 12, 1], 4, 1);
    const before = snapshot(model);
    const startTensors = tf.memory().numTensors;
    const report = await finetune(model, await selectorImpl(block2), data);
    assert.equal(tf.memory().numTensors, startTensors, "training leaked tensors");
    const after = snapshot(model);
    for (const p of model.params) {
      const same = before.get(p.name)!.data.every((v, i) => v === after.get(p.name)!.data[i]);
      if (p.group === "block2") assert.ok(!same, `${p.name} (block2) did not change`);
      else assert.ok(same, `${p.name} (${p.group}) changed`);
      assert.equal(report.stepsByVariable.get(p.name)! > 0, p.group === "block2");
    }
    // batch-norm running statistics are frozen while fine-tuning
    for (const s of model.state) {
      assert.ok(before.get(s.name)!.data.every((v, i) => v === after.get(s.name)!.data[i]), `${s.name} changed`);
    }
    restore(model, before);
    await finetune(model, await selectorImpl(none), data);
    const untouched = snapshot(model);
    for (const [name, w] of before) assert.deepEqual(untouched.get(name)!.data, w.data, `${name} changed under none`);
    for (const v of [...model.params, ...model.state]) v.variable.dispose();
  });
}

Deno.test("train: pre-training mode updates batch-norm running statistics", async () => {
  const model = await build(resnetMini);
  const before = snapshot(model);
  const all = new Map(model.params.map((p) => [p.name, 1]));
  await Effect.runPromise(train(model, randomSplit(16, [12, 12, 1], 4, 2), {
    epochs: 1,
    batchSize: 8,
    learningRate: 1e-3,
    batchNormMode: "train",
    multipliers: () => all,
    rng: rngFor(1, ["b"]),
    what: "test",
  }));
  const mean = model.state.find((s) => s.name === "block1/stem/bn/moving_mean")!;
  assert.notDeepEqual(mean.variable.dataSync(), before.get(mean.name)!.data);
  for (const v of [...model.params, ...model.state]) v.variable.dispose();
});

/** A one-weight linear probe: logits [w·x, 0] from a 1×1×1 image. */
const probe = (w0: number): { model: Model; w: tf.Variable } => {
  const b = new VariableBuilder();
  const w = b.param("head/w", "head", tf.tensor2d([[w0]]));
  const model: Model = {
    architecture: "probe",
    inputShape: [1, 1, 1],
    numClasses: 2,
    groups: ["head"],
    firstLayer: ["head/w"],
    params: b.params,
    state: b.state,
    forward: (x) => {
      const flat = tf.reshape(x, [x.shape[0], 1]);
      const logit = tf.matMul(flat, w as tf.Tensor2D);
      return { logits: tf.concat([logit, tf.zerosLike(logit)], 1) as tf.Tensor2D, stateUpdates: [] };
    },
  };
  return { model, w };
};

Deno.test("train: the first Adam step moves each weight by lr·sign(gradient) (hand computation)", async () => {
  // loss = softmax cross-entropy of logits [w·x, 0] against class 1; d loss / d w = softmax(w·x)[0] · x > 0
  // for x > 0, and Adam's first step is m̂/√v̂ = sign(g), so w becomes w − lr · multiplier.
  const { model, w } = probe(0.5);
  const data: Split = { images: Uint8Array.from([255]), labels: Int32Array.from([1]), count: 1 };
  await Effect.runPromise(train(model, data, {
    epochs: 1,
    batchSize: 1,
    learningRate: 0.1,
    batchNormMode: "eval",
    multipliers: () => new Map([["head/w", 0.5]]),
    rng: rngFor(0, ["b"]),
    what: "probe",
  }));
  assert.ok(Math.abs(w.dataSync()[0] - (0.5 - 0.05)) < 1e-6, `w = ${w.dataSync()[0]}`);
  w.dispose();
});

Deno.test("train: a NaN loss stops training with a TrainingError naming the run", async () => {
  const { model, w } = probe(0.5);
  const tensors = tf.memory().numTensors;
  const data: Split = { images: Float32Array.from([NaN, 0.5]), labels: Int32Array.from([0, 1]), count: 2 };
  const result = await Effect.runPromise(Effect.either(train(model, data, {
    epochs: 1,
    batchSize: 2,
    learningRate: 1e-3,
    batchNormMode: "eval",
    multipliers: () => new Map([["head/w", 1]]),
    rng: rngFor(0, ["b"]),
    what: "trial abc",
  })));
  assert.equal(result._tag, "Left");
  if (result._tag === "Left") {
    assert.equal(result.left._tag, "TrainingError");
    assert.match(result.left.describe(), /trial abc: the loss became NaN/);
  }
  assert.ok(Math.abs(w.dataSync()[0] - 0.5) < 1e-9, "a diverged step must not be applied");
  assert.equal(tf.memory().numTensors, tensors, "the failed run released its Adam state");
  w.dispose();
});

Deno.test("train: a selector that throws mid-run releases the Adam state; a defect is not relabelled", async () => {
  const { model, w } = probe(0.5);
  const tensors = tf.memory().numTensors;
  const data: Split = { images: Float32Array.from([0.2, 0.5]), labels: Int32Array.from([0, 1]), count: 2 };
  const exit = await Effect.runPromiseExit(train(model, data, {
    epochs: 3,
    batchSize: 2,
    learningRate: 1e-3,
    batchNormMode: "eval",
    multipliers: (epoch) => {
      if (epoch === 1) throw new Error("selector broke");
      return new Map([["head/w", 1]]);
    },
    rng: rngFor(0, ["b"]),
    what: "trial abc",
  }));
  assert.equal(exit._tag, "Failure");
  // what the selector threw stays a defect here: the trial's error boundary names the plugin, not train()
  assert.match(String(exit._tag === "Failure" ? exit.cause : ""), /selector broke/);
  assert.equal(tf.memory().numTensors, tensors, "Adam slots of the first epoch were released");
  w.dispose();
});

Deno.test("train: 1,000 steps leak no tensors and no wasm buffers (full, cached last layer, L2-SP)", async () => {
  const model = await build(resnetMini);
  const data = randomSplit(16, [12, 12, 1], 4, 5);
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const anchor = new Map(model.params.map((p) => [p.name, tf.clone(p.variable)]));
  const all = new Map(model.params.map((p) => [p.name, 1]));
  const head = new Map(model.params.filter((p) => p.group === "head").map((p) => [p.name, 1]));
  const cache = new PrefixCache(model);
  const settings = (epochs: number, mult: ReadonlyMap<string, number>, extra = {}) => ({
    epochs,
    batchSize: 4, // 4 steps per epoch
    learningRate: 1e-3,
    batchNormMode: "eval" as const,
    multipliers: () => mult,
    rng: rngFor(2, ["batches"]),
    what: "leak test",
    ...extra,
  });
  await Effect.runPromise(train(model, data, settings(1, all))); // warm-up: kernel set-up, engine scalars
  const tensors = tf.memory().numTensors;
  const ids = backend.numDataIds();
  const bytes = tf.memory().numBytes;
  await Effect.runPromise(train(model, data, settings(100, all)));
  await Effect.runPromise(train(model, data, settings(100, head, { prefixCache: cache })));
  await Effect.runPromise(train(model, data, settings(50, all, { penalty: { alpha: 0.01, anchor } })));
  assert.equal(tf.memory().numTensors, tensors, "tensors leaked over 1,000 steps");
  assert.equal(backend.numDataIds(), ids, "wasm buffers leaked over 1,000 steps");
  assert.equal(tf.memory().numBytes, bytes);
  anchor.forEach((t) => t.dispose());
  for (const v of [...model.params, ...model.state]) v.variable.dispose();
});
