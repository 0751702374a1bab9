import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect, Exit } from "effect";
import { loadPipeline } from "../../core/pipeline/load.ts";
import { preparePipeline } from "../../core/pipeline/prepare.ts";
import { makeTrialRunner } from "../../core/pipeline/runner.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../core/pipeline/checkpoint.ts";
import { TensorBackendLive } from "../../core/backend.ts";
import { defineEvaluator, defineSelector } from "../../core/plugin.ts";
import { registryLayer } from "../../core/registry.ts";
import { builtinPlugins } from "../../plugins/index.ts";
import type { TrialOutcome } from "../../core/results.ts";
import { tempDir, useWasm } from "../helpers.ts";
import { Layer, Schema } from "effect";
import { NodeContext } from "@effect/platform-node";
import type { FileSystem, Path } from "@effect/platform";

await useWasm();

const pipeline = (selections: string, extra = "") => `
name: rungs
seed: 5
dataset: { dataset: mnist, options: { trainLimit: 1500, testLimit: 600 } }
model: small-cnn
pretrain: { epochs: 1, examples: 600 }
target: { train: 60, val: 40, test: 150 }
finetune: { epochs: 3, batchSize: 16, learningRates: [0.01] }
shifts:
  - { shift: corruption, options: { name: impulse_noise, severity: 5, constants: imagenet-c } }
selections: ${selections}
${extra}`;

const withoutSeconds = (o: TrialOutcome) => ({ ...o, seconds: 0 });

/** Run `program` with a runner over the pipeline text, on wasm, with extra plugins registered. */
const withRunner = async <A>(
  text: string,
  program: (
    runner: Effect.Effect.Success<ReturnType<typeof makeTrialRunner>>,
    trials: ReadonlyArray<import("../../core/pipeline/expand.ts").Trial>,
  ) => Effect.Effect<A, unknown, FileSystem.FileSystem | Path.Path>,
  extra: Parameters<typeof registryLayer>[0] = [],
) => {
  const dir = await tempDir("trial");
  const file = `${dir}/p.yaml`;
  await Deno.writeTextFile(file, text);
  const layer = Layer.mergeAll(NodeContext.layer, registryLayer([...builtinPlugins, ...extra]));
  return await Effect.runPromiseExit(
    Effect.gen(function* () {
      const p = yield* loadPipeline(file);
      const prepared = yield* preparePipeline(p);
      const runner = yield* makeTrialRunner(prepared, {
        cacheDir: `${dir}/cache`,
        log: () => Effect.void,
        onMiss: "train",
      });
      return yield* program(runner, prepared.trials);
    }).pipe(Effect.scoped, Effect.provide(TensorBackendLive("wasm")), Effect.provide(layer)),
  );
};

Deno.test("trial rungs: stopped after k epochs and continued (in memory or from bytes) = straight through", async () => {
  const before = tf.memory().numTensors;
  const exit = await withRunner(
    pipeline(
      "[none, block2, last-layer, auto-rgn, lp-ft, gradual-unfreezing, { selector: l2-sp, options: { alpha: 0.1 } }]",
    ),
    (runner, trials) =>
      Effect.gen(function* () {
        let compared = 0;
        for (const t of trials) {
          const straight = yield* runner.run(t);
          assert.equal(straight.status, "ok");
          for (const k of [1, 2]) {
            const first = yield* runner.runRung(t, { stopAfter: k });
            assert.ok("_tag" in first && first._tag === "Paused", `${t.key}: paused after ${k}`);
            const rest = yield* runner.runRung(t, { from: first.checkpoint });
            assert.ok(!("_tag" in rest));
            assert.deepEqual(
              withoutSeconds(rest),
              withoutSeconds(straight),
              `${straight.selection}: rung ${k} in memory`,
            );
            // the same from the checkpoint's bytes (what another process would get)
            const bytes = encodeCheckpoint(first.checkpoint);
            const again = yield* runner.runRung(t, { from: decodeCheckpoint(bytes) });
            assert.deepEqual(
              withoutSeconds(again as TrialOutcome),
              withoutSeconds(straight),
              `${straight.selection}: bytes`,
            );
            compared++;
          }
        }
        return compared;
      }),
  );
  assert.ok(Exit.isSuccess(exit), String(exit));
  assert.equal(exit.value, 14);
  assert.equal(tf.memory().numTensors, before, "the runner released every tensor");
});

Deno.test("checkpoint bytes: a damaged buffer is refused", () => {
  assert.throws(() => decodeCheckpoint(new Uint8Array([1, 0, 0])), /too short/);
  assert.throws(() => decodeCheckpoint(new Uint8Array([200, 0, 0, 0, 1, 2])), /truncated/);
});

const boom = defineEvaluator({
  name: "boom",
  description: "throws",
  options: Schema.Struct({}),
  make: () =>
    Effect.succeed({
      evaluate: () => {
        throw new Error("evaluator exploded");
      },
    }),
});

const fragile = defineSelector({
  name: "fragile",
  description: "throws at epoch 2",
  options: Schema.Struct({}),
  make: () =>
    Effect.succeed({
      label: "fragile",
      multipliers: ({ model, epoch }) => {
        if (epoch === 1) throw new Error("selector exploded");
        return new Map(model.params.map((p) => [p.name, 1]));
      },
    }),
});

Deno.test("trial failures: a throwing plugin gives a failed line naming it; the tensors are released", async () => {
  const before = tf.memory().numTensors;
  const exit = await withRunner(
    pipeline("[block2, fragile]"),
    (runner, trials) => Effect.forEach(trials, (t) => runner.run(t)),
    [fragile],
  );
  assert.ok(Exit.isSuccess(exit), String(exit));
  const [ok, failed] = exit.value;
  assert.equal(ok.status, "ok");
  assert.equal(failed.status, "failed");
  if (failed.status === "failed") {
    assert.equal(failed.error.tag, "PluginError");
    assert.match(failed.error.message, /selector plugin "fragile" failed in multipliers: selector exploded/);
  }
  assert.equal(tf.memory().numTensors, before);

  const evaluator = await withRunner(
    pipeline("[none, block2]", "evaluators: [boom]"),
    (runner, trials) => Effect.forEach(trials, (t) => runner.run(t)),
    [boom],
  );
  assert.ok(Exit.isSuccess(evaluator), String(evaluator));
  for (const o of evaluator.value) {
    assert.equal(o.status, "failed", "the starting-score call is inside the boundary too");
    if (o.status === "failed") assert.match(o.error.message, /evaluator plugin "boom" failed in evaluate/);
  }
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("trial failures: an engine bug is not relabelled as a plugin failure", async () => {
  const exit = await withRunner(
    pipeline("[block2]"),
    (runner, trials) =>
      // a checkpoint of another trial is an engine bug: it must stay a defect, not become a failed line
      runner.runRung(trials[0], {
        from: {
          key: "0000000000000000",
          train: { epoch: 1, slots: new Map(), epochLosses: [], multipliersByEpoch: [], stepsByVariable: new Map() },
          weights: new Map(),
          best: { epoch: 0, val: {}, weights: new Map() },
          curve: [],
          touched: [],
          seconds: 0,
        },
      }),
  );
  assert.ok(Exit.isFailure(exit));
  assert.ok(exit._tag === "Failure" && exit.cause._tag === "Die", String(exit));
});

/** An accuracy evaluator that takes `ms` milliseconds (busy) on a split of `count` examples. */
const slowOn = (count: number, ms: number) =>
  defineEvaluator({
    name: "slow-on-test",
    description: "accuracy, slow on one split size",
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        evaluate: ({ logits, labels, count: n, numClasses }) => {
          if (n === count) {
            const until = performance.now() + ms;
            while (performance.now() < until) { /* the test split's scoring takes this long */ }
          }
          let right = 0;
          for (let i = 0; i < n; i++) {
            const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
            if (row.indexOf(Math.max(...row)) === labels[i]) right++;
          }
          return { accuracy: right / n };
        },
      }),
  });

Deno.test("a result line's seconds include the test split's scoring", async () => {
  // the test split has 150 examples (the validation split 40): only its scoring takes 2 s
  const exit = await withRunner(
    pipeline("[block2]", "evaluators: [slow-on-test]"),
    (runner, trials) => runner.run(trials[0]),
    [slowOn(150, 2000)],
  );
  assert.ok(Exit.isSuccess(exit), String(exit));
  assert.equal(exit.value.status, "ok");
  assert.ok(exit.value.seconds >= 2, `seconds ${exit.value.seconds} leave out the 2 s of test scoring`);
});
