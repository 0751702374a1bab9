import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { initBackend } from "../../core/backend.ts";

Deno.test("backend: node either loads or fails with the install command; auto falls back to wasm", async () => {
  const node = await Effect.runPromise(Effect.either(initBackend("node")));
  if (node._tag === "Left") {
    assert.equal(node.left._tag, "BackendError");
    assert.match(node.left.describe(), /deno install --allow-scripts=npm:@tensorflow\/tfjs-node/);
    const auto = await Effect.runPromise(initBackend("auto"));
    assert.equal(auto, "wasm");
    assert.equal(tf.getBackend(), "wasm");
  } else {
    assert.equal(tf.getBackend(), "tensorflow");
  }
});

Deno.test("backend: wasm and cpu initialise and compute the same convolution", async () => {
  const x = Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i));
  const conv = async (name: "wasm" | "cpu") => {
    assert.equal(await Effect.runPromise(initBackend(name)), name);
    return tf.tidy(() => tf.conv2d(tf.tensor4d(x, [2, 5, 5, 3]), tf.tensor4d(w, [3, 3, 3, 4]), 1, "same").dataSync());
  };
  const a = await conv("wasm");
  const b = await conv("cpu");
  assert.ok(a.every((v, i) => Math.abs(v - b[i]) < 1e-4));
  await Effect.runPromise(initBackend("wasm"));
});
