import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import fc from "fast-check";
import { useWasm } from "../helpers.ts";
import { firstStageUsing, type Model, restore, runStages, snapshot } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import { predict, train } from "../../core/train.ts";
import { PrefixCache } from "../../core/prefix_cache.ts";
import { batchRows } from "../../core/batches.ts";
import type { Split } from "../../core/dataset.ts";
import type { ModelImpl } from "../../core/plugin.ts";
import smallCnn from "../../plugins/models/small_cnn.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";

await useWasm();

const SHAPE: [number, number, number] = [16, 16, 1];

const randomSplit = (n: number, seed: number): Split => {
  const r = rngFor(seed, ["prefix-cache-data"]);
  return {
    images: Uint8Array.from({ length: n * 256 }, () => r.int(256)),
    labels: Int32Array.from({ length: n }, () => r.int(5)),
    count: n,
  };
};

const build = async (plugin: typeof smallCnn): Promise<Model> => {
  const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
  return impl.build({ inputShape: SHAPE, numClasses: 5 }, rngFor(7, ["init"]));
};

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Groups trained per epoch (a schedule a selector could return). */
type Schedule = ReadonlyArray<ReadonlyArray<string>>;

const SCHEDULES: Record<string, Schedule> = {
  "last layer": [["head"], ["head"], ["head"]],
  "block3": [["block3"], ["block3"], ["block3"]],
  "block2 and head": [["block2", "head"], ["block2", "head"]],
  // unfreezing toward the input, as gradual unfreezing does
  "gradual unfreezing": [["head"], ["block3", "head"], ["block1", "block2", "block3", "head"]],
  // the head's activations cached, then block1 trained: the third epoch must not reuse the stale ones
  "head, block1, head": [["head"], ["block1"], ["head"]],
};

const finetune = (model: Model, data: Split, schedule: Schedule, cache?: PrefixCache) =>
  Effect.runPromise(train(model, data, {
    epochs: schedule.length,
    batchSize: 16,
    learningRate: 1e-2,
    batchNormMode: "eval",
    multipliers: (epoch) =>
      new Map(model.params.filter((p) => schedule[epoch].includes(p.group)).map((p) => [p.name, 1])),
    rng: rngFor(1, ["batches"]),
    what: "test",
    ...(cache ? { prefixCache: cache } : {}),
  }));

for (const plugin of [smallCnn, resnetMini]) {
  Deno.test(`prefix cache (${plugin.name}): training and predictions equal the uncached run`, async (t) => {
    const model = await build(plugin);
    const data = randomSplit(72, 1);
    const heldOut = randomSplit(40, 2);
    const start = snapshot(model);
    const tensors = tf.memory().numTensors;
    for (const [name, schedule] of Object.entries(SCHEDULES)) {
      await t.step(name, async () => {
        restore(model, start);
        const plain = await finetune(model, data, schedule);
        const plainWeights = snapshot(model);
        const plainLogits = predict(model, heldOut);

        restore(model, start);
        const cache = new PrefixCache(model);
        const cached = await finetune(model, data, schedule, cache);
        const trained = new Set(model.params.filter((p) => schedule.flat().includes(p.group)).map((p) => p.name));
        const from = firstStageUsing(model, trained);
        const cachedLogits = predict(model, heldOut, 256, { cache, from });

        for (let e = 0; e < schedule.length; e++) {
          assert.ok(
            Math.abs(plain.epochLosses[e] - cached.epochLosses[e]) < 1e-4,
            `epoch ${e + 1} loss ${cached.epochLosses[e]} vs uncached ${plain.epochLosses[e]}`,
          );
        }
        for (const v of [...model.params, ...model.state]) {
          const d = maxAbsDiff(plainWeights.get(v.name)!.data, v.variable.dataSync() as Float32Array);
          assert.ok(d < 1e-4, `${v.name} differs from the uncached run by ${d}`);
        }
        assert.ok(maxAbsDiff(plainLogits, cachedLogits) < 1e-3, "predictions differ from the uncached ones");
        assert.ok(cache.stats.computed > 0, "the cache was never used");
      });
    }
    assert.equal(tf.memory().numTensors, tensors, "cached training leaked tensors");
    for (const v of [...model.params, ...model.state]) v.variable.dispose();
  });
}

Deno.test("prefix cache: computed once per split and boundary, recomputed when the prefix weights change", async () => {
  const model = await build(smallCnn);
  const data = randomSplit(40, 3);
  const cache = new PrefixCache(model);
  await finetune(model, data, [["head"], ["head"], ["head"], ["head"]], cache);
  assert.deepEqual(cache.stats, { computed: 1, reused: 3 });
  // a prefix weight changes (another model restored, or an earlier group trained)
  const k = model.params.find((p) => p.group === "block1")!.variable;
  tf.tidy(() => k.assign(tf.mul(k, 1.5)));
  const fresh = predict(model, data);
  const served = predict(model, data, 256, { cache, from: model.stages!.length - 1 });
  assert.equal(cache.stats.computed, 2, "stale activations were served");
  assert.ok(maxAbsDiff(fresh, served) < 1e-4);
  for (const v of [...model.params, ...model.state]) v.variable.dispose();
});

Deno.test("prefix cache: a budget too small for the activations falls back to the whole network", async () => {
  const model = await build(smallCnn);
  const data = randomSplit(20, 4);
  const cache = new PrefixCache(model, 100);
  assert.equal(cache.features(data, 2), undefined);
  const full = predict(model, data);
  assert.ok(maxAbsDiff(full, predict(model, data, 256, { cache, from: 2 })) === 0);
  for (const v of [...model.params, ...model.state]) v.variable.dispose();
});

Deno.test("prefix cache: stages from any boundary on cached features equal the whole forward pass (property)", async () => {
  for (const plugin of [smallCnn, resnetMini]) {
    const model = await build(plugin);
    const stages = model.stages!;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: stages.length }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 1000 }),
        (from, n, seed) => {
          const data = randomSplit(n, seed);
          const cache = new PrefixCache(model);
          const features = cache.features(data, from)!;
          assert.equal(features.count, n);
          const idx = Int32Array.from({ length: n }, (_, i) => n - 1 - i); // reversed order
          const viaCache = tf.tidy(() =>
            runStages(stages, batchRows(features.rows, features.rowShape, idx), "eval", from).logits.dataSync()
          ) as Float32Array;
          const whole = tf.tidy(() =>
            model.forward(batchRows(data.images, SHAPE, idx) as tf.Tensor4D, "eval").logits.dataSync()
          ) as Float32Array;
          assert.ok(maxAbsDiff(viaCache, whole) < 1e-4);
          return Promise.resolve();
        },
      ),
      { numRuns: 12, seed: 42 },
    );
    for (const v of [...model.params, ...model.state]) v.variable.dispose();
  }
});
