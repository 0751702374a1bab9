import { strict as assert } from "node:assert";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import { useWasm } from "../helpers.ts";
import { rngFor } from "../../core/random.ts";
import { adamSlot, adamUpdate, adamUpdateOps } from "../../core/adam.ts";

await useWasm();

/** `steps` Adam updates of a random parameter with random gradients; returns param, m, v. */
const run = (
  update: typeof adamUpdate,
  shape: number[],
  steps: number,
  lr: number,
  seed: number,
): Float32Array[] => {
  const r = rngFor(seed, ["adam"]);
  const n = shape.reduce((a, b) => a * b, 1);
  // a few exact zeros and tiny values among the gradients
  const values = () =>
    Float32Array.from({ length: n }, () => (r.int(10) === 0 ? 0 : (r.float() * 2 - 1) * 10 ** -r.int(6)));
  const initial = tf.tensor(values(), shape);
  const param = tf.variable(initial);
  initial.dispose();
  const slot = adamSlot(param);
  for (let s = 0; s < steps; s++) {
    const grad = tf.tensor(values(), shape);
    update(param, grad, slot, lr);
    grad.dispose();
  }
  const out = [param, slot.m, slot.v].map((t) => Float32Array.from(t.dataSync()));
  tf.dispose([param, slot.m, slot.v]);
  return out;
};

Deno.test("adam: the one-pass wasm kernel equals the tensor-op update bit for bit, and leaks nothing", async () => {
  assert.equal(tf.getBackend(), "wasm");
  const before = tf.memory().numTensors;
  await fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 12 }),
      fc.constantFrom(3e-2, 1e-3, 1e-5),
      fc.integer({ min: 0, max: 1000 }),
      (shape, steps, lr, seed) => {
        const kernel = run(adamUpdate, shape, steps, lr, seed);
        const ops = run(adamUpdateOps, shape, steps, lr, seed);
        ["param", "m", "v"].forEach((what, i) => assert.deepEqual(kernel[i], ops[i], what));
      },
    ),
    { numRuns: 40, seed: 5 },
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("adam: one step by hand (PyTorch's formula)", () => {
  // θ = 1, g = 0.5, lr = 0.1, step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, θ' = 1 − 0.1 · 0.5 / (0.5 + 1e-8)
  const initial = tf.tensor([1]);
  const param = tf.variable(initial);
  initial.dispose();
  const slot = adamSlot(param);
  const grad = tf.tensor([0.5]);
  adamUpdate(param, grad, slot, 0.1);
  assert.ok(Math.abs(param.dataSync()[0] - (1 - 0.1 * 0.5 / (0.5 + 1e-8))) < 1e-7);
  assert.ok(Math.abs(slot.m.dataSync()[0] - 0.05) < 1e-8);
  assert.ok(Math.abs(slot.v.dataSync()[0] - 0.00025) < 1e-9);
  tf.dispose([param, slot.m, slot.v, grad]);
});
