import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import fc from "fast-check";
import { Effect, Schema } from "effect";
import { useWasm } from "../helpers.ts";
import { type Model, snapshot, VariableBuilder } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import { train } from "../../core/train.ts";
import { batchImages } from "../../core/batches.ts";
import { gradientStats } from "../../core/gradstats.ts";
import type { Split } from "../../core/dataset.ts";
import type { AnyPlugin, ModelImpl, SelectionContext, SelectorImpl } from "../../core/plugin.ts";
import smallCnn from "../../plugins/models/small_cnn.ts";
import byName, { matches } from "../../plugins/selectors/by_name.ts";
import { autoRgn, autoSnr, rgnMultipliers } from "../../plugins/selectors/auto.ts";
import { gradualUnfreezing, l2sp, lpFt, probeEnd, unfrozenGroups } from "../../plugins/selectors/schedules.ts";
import { registryLayer, resolveRef } from "../../core/registry.ts";
import { makeTable } from "../../core/registry.ts";
import { expandGrid } from "../../core/registry.ts";

await useWasm();
void registryLayer;

const randomSplit = (n: number, size: number, k: number, seed: number): Split => {
  const r = rngFor(seed, ["data"]);
  return {
    images: Uint8Array.from({ length: n * size }, () => r.int(256)),
    labels: Int32Array.from({ length: n }, () => r.int(k)),
    count: n,
  };
};

const cnn = async (): Promise<Model> => {
  const impl = await Effect.runPromise(smallCnn.make({}) as Effect.Effect<ModelImpl>);
  return impl.build({ inputShape: [8, 8, 1], numClasses: 3 }, rngFor(5, ["init"]));
};

/** Decode `options` with the plugin's schema (defaults filled in), then make the selector. */
const makeSelector = (plugin: AnyPlugin, options: unknown = {}) =>
  Effect.runPromise(plugin.make(Schema.decodeUnknownSync(plugin.options)(options)) as Effect.Effect<SelectorImpl>);

const ctxFor = (model: Model, data: Split, epoch = 0, epochs = 4, trainLosses: number[] = []): SelectionContext => ({
  model,
  epoch,
  epochs,
  trainLosses,
  gradientStats: (req) => gradientStats(model, data, { ...req, batchSize: data.count, rng: rngFor(1, ["gs"]) }),
});

const dispose = (m: Model) => [...m.params, ...m.state].forEach((v) => v.variable.dispose());

Deno.test("auto-rgn: multipliers equal ‖g‖/‖θ‖ / max computed independently with plain tf ops", async () => {
  const model = await cnn();
  const data = randomSplit(16, 64, 3, 1);
  const sel = await makeSelector(autoRgn, { batches: 1 });
  const got = sel.multipliers(ctxFor(model, data));
  // independent: gradient of the mean loss over all 16 examples, norms with tf ops
  let expected = new Map<string, number>();
  tf.tidy(() => {
    const x = batchImages(data, model.inputShape, Array.from({ length: 16 }, (_, i) => i));
    const y = tf.oneHot(tf.tensor1d(data.labels, "int32"), 3);
    const { grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.forward(x, "eval").logits) as tf.Scalar,
      model.params.map((p) => p.variable),
    );
    const rgn = model.params.map((p) => {
      const g = tf.norm(grads[p.variable.name]).dataSync()[0];
      const w = tf.norm(p.variable).dataSync()[0];
      return w > 0 ? g / w : g;
    });
    const max = Math.max(...rgn);
    expected = new Map(model.params.map((p, i) => [p.name, rgn[i] / max]));
  });
  assert.equal(got.size, model.params.length);
  for (const [name, v] of expected) assert.ok(Math.abs(got.get(name)! - v) < 1e-4, `${name}: ${got.get(name)} vs ${v}`);
  assert.equal(Math.max(...got.values()), 1);
  dispose(model);
});

Deno.test("auto-rgn: normalisation and exclusion (property)", () => {
  fc.assert(fc.property(
    fc.array(
      fc.tuple(fc.float({ min: 0, max: 10, noNaN: true }), fc.float({ min: Math.fround(0.01), max: 10, noNaN: true })),
      {
        minLength: 1,
        maxLength: 8,
      },
    ),
    (pairs) => {
      const stats = new Map(pairs.map(([g, w], i) => [`v${i}`, { gradNorm: g, paramNorm: w }]));
      const m = rgnMultipliers(stats, new Set(["v0"]));
      assert.ok(!m.has("v0"));
      for (const v of m.values()) assert.ok(v >= 0 && v <= 1);
    },
  ));
});

Deno.test("auto-snr: a tensor whose per-example gradients are pure noise is frozen, a consistent one trained", async () => {
  // logits = [a + b·s, 0] with s = ±1 from the image and label 1 always:
  // dL/da = σ(·) > 0 for every example (consistent); dL/db = σ(·)·s has a random sign (noise).
  const b = new VariableBuilder();
  const a = b.param("head/a", "head", tf.scalar(0.1));
  const w = b.param("body/b", "body", tf.scalar(0.1));
  const model: Model = {
    architecture: "probe",
    inputShape: [1, 1, 1],
    numClasses: 2,
    groups: ["body", "head"],
    firstLayer: ["body/b"],
    params: b.params,
    state: b.state,
    forward: (x) => {
      const s = tf.sub(tf.mul(tf.reshape(x, [x.shape[0], 1]), 2), 1);
      const logit = tf.add(a, tf.mul(w, s));
      return { logits: tf.concat([logit, tf.zerosLike(logit)], 1) as tf.Tensor2D, stateUpdates: [] };
    },
  };
  const r = rngFor(3, ["signs"]);
  const n = 64;
  const data: Split = {
    images: Uint8Array.from({ length: n }, () => (r.float() < 0.5 ? 0 : 255)),
    labels: new Int32Array(n).fill(1),
    count: n,
  };
  const sel = await makeSelector(autoSnr, { examples: 64, threshold: 0.1 });
  const m = sel.multipliers(ctxFor(model, data));
  assert.equal(m.get("head/a"), 1);
  assert.equal(m.get("body/b"), 0);
  a.dispose();
  w.dispose();
});

Deno.test("gradual unfreezing activates groups in the documented order", async () => {
  const groups = ["block1", "block2", "block3", "head"];
  assert.deepEqual(unfrozenGroups(groups, 0, 1, "last-to-first"), ["head"]);
  assert.deepEqual(unfrozenGroups(groups, 1, 1, "last-to-first"), ["block3", "head"]);
  assert.deepEqual(unfrozenGroups(groups, 3, 2, "first-to-last"), ["block1", "block2"]);
  assert.deepEqual(unfrozenGroups(groups, 9, 1, "first-to-last"), groups);
  const model = await cnn();
  const sel = await makeSelector(gradualUnfreezing, { direction: "first-to-last", every: 1 });
  const data = randomSplit(4, 64, 3, 1);
  const active = (
    e: number,
  ) => [...new Set([...sel.multipliers(ctxFor(model, data, e)).keys()].map((n) => n.split("/")[0]))];
  assert.deepEqual(active(0), ["block1"]);
  assert.deepEqual(active(2), ["block1", "block2", "block3"]);
  dispose(model);
});

const finetune = (model: Model, sel: SelectorImpl, data: Split, epochs: number, penalty?: number) =>
  Effect.runPromise(train(model, data, {
    epochs,
    batchSize: 8,
    learningRate: 1e-2,
    batchNormMode: "eval",
    multipliers: (epoch, trainLosses) => sel.multipliers(ctxFor(model, data, epoch, epochs, [...trainLosses])),
    rng: rngFor(1, ["batches"]),
    what: "test",
    ...(penalty !== undefined
      ? {
        penalty: {
          alpha: penalty,
          anchor: new Map(model.params.map((p) => [p.name, tf.keep(p.variable.clone())])),
        },
      }
      : {}),
  }));

Deno.test("l2-sp: a large α keeps the weights near θ₀, α = 0 lets them move", async () => {
  const data = randomSplit(32, 64, 3, 2);
  const drift = async (alpha: number) => {
    const model = await cnn();
    const before = snapshot(model);
    const sel = await makeSelector(l2sp, { alpha });
    assert.equal(sel.penalty?.alpha, alpha);
    await finetune(model, sel, data, 3, alpha);
    const after = snapshot(model);
    let sum = 0;
    let count = 0;
    for (const [name, w] of before) {
      const a = after.get(name)!.data;
      w.data.forEach((v, i) => {
        sum += Math.abs(a[i] - v);
        count++;
      });
    }
    dispose(model);
    return sum / count;
  };
  const free = await drift(0);
  const held = await drift(1e6);
  // Adam moves every weight by ~lr per step whatever the gradient scale, so the penalty cannot pin the
  // weights exactly; it keeps them oscillating around θ₀ instead of drifting away.
  assert.ok(held < free / 3, `mean |θ − θ₀|: α=1e6 ${held} vs α=0 ${free}`);
});

Deno.test("lp-ft: the linear-probe phase changes only the head, then every layer trains at the smaller rate", async () => {
  const model = await cnn();
  const data = randomSplit(24, 64, 3, 4);
  const before = snapshot(model);
  const sel = await makeSelector(lpFt, { probeEpochs: 2, tolerance: 0, ftMultiplier: 0.1 });
  let afterProbe: ReturnType<typeof snapshot> | undefined;
  const report = await Effect.runPromise(train(model, data, {
    epochs: 3,
    batchSize: 8,
    learningRate: 1e-2,
    batchNormMode: "eval",
    multipliers: (epoch, trainLosses) => sel.multipliers(ctxFor(model, data, epoch, 3, [...trainLosses])),
    rng: rngFor(1, ["b"]),
    what: "test",
    onEpoch: (epoch) =>
      Effect.sync(() => {
        if (epoch === 1) afterProbe = snapshot(model);
      }),
  }));
  for (const p of model.params) {
    const same = before.get(p.name)!.data.every((v, i) => v === afterProbe!.get(p.name)!.data[i]);
    assert.equal(same, p.group !== "head", `${p.name} after the probe phase`);
  }
  assert.deepEqual([...report.multipliersByEpoch[2].values()], model.params.map(() => 0.1));
  assert.equal(probeEnd([1, 0.995], 10, 0.01), 2, "a plateau ends the probe early");
  assert.equal(probeEnd([1, 0.5], 10, 0.01), undefined);
  dispose(model);
});

Deno.test("by-name: names, globs, regular expressions and per-pattern multipliers; lists form a grid", async () => {
  const model = await cnn();
  const v = (name: string) => model.params.find((p) => p.name === name)!;
  assert.ok(matches("block1", v("block1/conv/kernel")));
  assert.ok(matches("block2/*", v("block2/conv/bias")));
  assert.ok(matches("/kernel$/", v("head/dense/kernel")));
  assert.ok(!matches("/kernel$/", v("head/dense/bias")));
  const sel = await makeSelector(byName, { include: ["block1", "head/*"], multipliers: { head: 0.1 } });
  const m = sel.multipliers(ctxFor(model, randomSplit(2, 64, 3, 1)));
  assert.deepEqual(
    [...m].sort(),
    [["block1/conv/bias", 1], ["block1/conv/kernel", 1], ["head/dense/bias", 0.1], ["head/dense/kernel", 0.1]],
  );
  const bad = await makeSelector(byName, { include: "stage9" });
  assert.throws(() => bad.multipliers(ctxFor(model, randomSplit(2, 64, 3, 1))), /"stage9" match no variable/);
  // a list of multipliers expands into one selection per value
  const table = makeTable([byName]);
  const resolved = await Effect.runPromise(
    resolveRef(table, "f.yaml", "selector", {
      selector: "by-name",
      options: { include: ["block1", "head"], multipliers: { block1: [1, 0.1], head: [1, 0.01] } },
    }, ["selections", 0]),
  );
  const points = expandGrid(resolved).map((r) => (r.encoded as { multipliers: Record<string, number> }).multipliers);
  assert.deepEqual(points, [{ block1: 1, head: 1 }, { block1: 1, head: 0.01 }, { block1: 0.1, head: 1 }, {
    block1: 0.1,
    head: 0.01,
  }]);
  dispose(model);
});
