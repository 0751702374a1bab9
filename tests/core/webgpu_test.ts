/**
 * The webgpu backend (core/webgpu.ts) against the cpu backend, on this machine's WebGPU
 * adapter (a GPU, or Mesa's software Vulkan driver, llvmpipe): the parameter gradients
 * of one training step of both zoo models on real MNIST, a synchronous read refused
 * with a clear message, `auto` never choosing a software adapter, and the
 * paragraphs for a runtime without WebGPU or without an adapter. Without an adapter the
 * tests fail under CI=true (CI installs mesa-vulkan-drivers) and are skipped elsewhere.
 */
import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { initBackend } from "../../core/backend.ts";
import { isSoftwareAdapter, probeAdapter, probeAdapterOf, unavailable } from "../../core/webgpu.ts";
import { readAll } from "../../core/read.ts";
import { batchImages, batchLabels } from "../../core/batches.ts";
import { disposeModel, type ForwardMode, type Model } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import type { ModelImpl } from "../../core/plugin.ts";
import smallCnn from "../../plugins/models/small_cnn.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";
import { mnistT10k } from "../helpers.ts";

const probe = await probeAdapter();
const CI = Deno.env.get("CI") === "true";
const noAdapter = probe._tag === "Adapter" ? undefined : unavailable(probe).describe();
if (noAdapter && !CI) console.warn(`webgpu tests skipped: ${noAdapter}`);

/** Fail (under CI=true) or skip when this machine has no WebGPU adapter. */
const needsAdapter = { ignore: noAdapter !== undefined && !CI };
const assertAdapter = () => assert.equal(noAdapter, undefined, noAdapter ?? "");

const build = async (plugin: typeof smallCnn): Promise<Model> => {
  const impl = await Effect.runPromise(plugin.make({}) as Effect.Effect<ModelImpl>);
  return impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(7, ["webgpu-test"]));
};

/**
 * The loss and every parameter gradient of one step of `plugin` (fresh weights from a
 * fixed seed) on the first `n` MNIST t10k images, on `backend`: the training loop's loss
 * (core/train.ts), batch norm in `mode`.
 */
const stepOn = async (backend: "cpu" | "webgpu", plugin: typeof smallCnn, mode: ForwardMode, n: number) => {
  await Effect.runPromise(initBackend(backend));
  assert.equal(tf.getBackend(), backend);
  const mnist = await mnistT10k();
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const model = await build(plugin);
  const outs = tf.tidy(() => {
    const x = batchImages(mnist.train, model.inputShape, idx);
    const y = tf.oneHot(tf.tensor1d(batchLabels(mnist.train, idx), "int32"), model.numClasses);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.forward(x, mode).logits) as tf.Scalar,
      model.params.map((p) => p.variable),
    );
    return [value, ...model.params.map((p) => grads[p.variable.name])];
  });
  const values = await Effect.runPromise(readAll(outs));
  tf.dispose(outs);
  disposeModel(model);
  return { names: ["loss", ...model.params.map((p) => p.name)], values };
};

/**
 * Tolerance of a webgpu value against cpu, per tensor: |webgpu − cpu| ≤ 1e-4 · max |cpu|
 * + 1e-7. Both compute in float32 (ε ≈ 1.2e-7) but sum in different orders (the GPU
 * reduces in workgroup tiles); a reduction over up to ~10⁴ terms (a conv filter
 * gradient over 8 × 28 × 28 positions) then differs by ~√n·ε to n·ε of its magnitude,
 * 1e-5 to 1e-3 at worst, typically the former (measured here: ≤ 7e-6). The absolute
 * 1e-7 covers tensors whose gradient is nearly zero. A wrong kernel is off by O(1).
 */
const RELATIVE = 1e-4;
const ABSOLUTE = 1e-7;

const cases: Array<[typeof smallCnn, ForwardMode, number]> = [
  // small-cnn has no batch norm: one mode covers it
  [smallCnn, "eval", 8],
  // resnet-mini: batch norm with batch statistics (pre-training) and folded into the conv (fine-tuning);
  // 2 images, because the cpu reference takes ~2 s per image for this step
  [resnetMini, "train", 2],
  [resnetMini, "eval", 2],
];

Deno.test({
  name: "webgpu: one training step's parameter gradients of small-cnn and resnet-mini match cpu (real MNIST)",
  ...needsAdapter,
  fn: async (t) => {
    assertAdapter();
    await Effect.runPromise(initBackend("cpu"));
    const start = tf.memory().numTensors;
    for (const [plugin, mode, n] of cases) {
      await t.step(`${plugin.name}, batch norm ${mode}, ${n} images`, async () => {
        const cpu = await stepOn("cpu", plugin, mode, n);
        const gpu = await stepOn("webgpu", plugin, mode, n);
        cpu.values.forEach((ref, k) => {
          const got = gpu.values[k];
          assert.equal(got.length, ref.length, cpu.names[k]);
          let scale = 0;
          let worst = 0;
          for (let i = 0; i < ref.length; i++) {
            scale = Math.max(scale, Math.abs(ref[i]));
            worst = Math.max(worst, Math.abs(got[i] - ref[i]));
          }
          assert.ok(
            worst <= RELATIVE * scale + ABSOLUTE,
            `${plugin.name} (${mode}) ${cpu.names[k]}: max |webgpu − cpu| = ${worst} against max |cpu| = ${scale}`,
          );
        });
      });
    }
    assert.equal(tf.memory().numTensors, start, "the steps leaked tensors");
  },
});

Deno.test({
  name: "webgpu: a synchronous read is refused in one sentence, data() works; auto never picks a software adapter",
  ...needsAdapter,
  fn: async () => {
    assertAdapter();
    assert.equal(await Effect.runPromise(initBackend("webgpu")), "webgpu");
    const start = tf.memory().numTensors;
    // 4096 values: small tensors with values on the CPU are computed there (WEBGPU_CPU_FORWARD), not on the GPU
    const x = tf.fill([4096], 1.5);
    const y = tf.tidy(() => tf.mul(x, tf.scalar(2)));
    assert.throws(() => y.dataSync(), /read synchronously .* cannot do under Deno .* read it with data\(\)/);
    const values = await y.data();
    assert.ok(values.length === 4096 && values.every((v) => v === 3));
    assert.equal(y.dataSync()[4095], 3, "once read, the values are on the CPU");
    tf.dispose([x, y]);
    assert.equal(tf.memory().numTensors, start);
    if (probe._tag === "Adapter" && probe.software) {
      assert.notEqual(await Effect.runPromise(initBackend("auto")), "webgpu");
    }
  },
});

Deno.test("webgpu: the paragraphs for a runtime without WebGPU and without an adapter; software adapters", async () => {
  const none = await probeAdapterOf(undefined);
  assert.equal(none._tag, "NoWebGPU");
  const noWebgpu = unavailable({ _tag: "NoWebGPU" }).describe();
  assert.match(noWebgpu, /^Backend "webgpu" is not available: this Deno has no WebGPU \(navigator\.gpu is undefined/);
  assert.match(noWebgpu, /--unstable-webgpu/);
  assert.match(noWebgpu, /--backend wasm/);
  const noAdapterText = unavailable({ _tag: "NoAdapter" }).describe();
  assert.match(noAdapterText, /found no adapter .* Vulkan driver/);
  assert.match(noAdapterText, /apt-get install mesa-vulkan-drivers/);
  assert.ok(!noAdapterText.includes("\n"), "one paragraph");
  // what Deno reports for Mesa's drivers here, and what a GPU looks like
  assert.ok(isSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)", vendor: "65541" }));
  assert.ok(isSoftwareAdapter({ description: "", vendor: "", isFallbackAdapter: true }));
  assert.ok(!isSoftwareAdapter({ description: "NVIDIA GeForce RTX 3060", vendor: "4318", isFallbackAdapter: false }));
});
