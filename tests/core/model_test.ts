import { strict as assert } from "node:assert";
import { Effect } from "effect";
import { NodeContext } from "@effect/platform-node";
import { tempDir, useWasm } from "../helpers.ts";
import { decodeSnapshot, disposeModel, encodeSnapshot, snapshot } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import { predict } from "../../core/train.ts";
import type { ModelImpl } from "../../core/plugin.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";

await useWasm();

Deno.test("model: weights saved to a file and loaded back through `weights:` give identical predictions", async () => {
  const plain = await Effect.runPromise(resnetMini.make({}) as Effect.Effect<ModelImpl>);
  const spec = { inputShape: [12, 12, 1] as const, numClasses: 4 };
  const original = plain.build(spec, rngFor(1, ["init"]));
  // give the batch-norm statistics non-default values so that they matter
  for (const s of original.state) s.variable.assign(s.variable.add(0.25));
  const dir = await tempDir("weights");
  const file = `${dir}/m.weights`;
  await Deno.writeFile(file, encodeSnapshot(snapshot(original)));

  const loadedImpl = await Effect.runPromise(
    (resnetMini.make({ weights: file }) as Effect.Effect<ModelImpl, unknown, never>).pipe(
      Effect.provide(NodeContext.layer),
    ) as Effect.Effect<ModelImpl>,
  );
  assert.equal(loadedImpl.pretrained, true);
  const loaded = loadedImpl.build(spec, rngFor(99, ["other init"]));
  const r = rngFor(2, ["x"]);
  const data = {
    images: Uint8Array.from({ length: 10 * 144 }, () => r.int(256)),
    labels: new Int32Array(10),
    count: 10,
  };
  assert.deepEqual(predict(loaded, data), predict(original, data));
  disposeModel(original);
  disposeModel(loaded);
});

Deno.test("model: a snapshot decodes from a view into a larger buffer (as file reads return)", () => {
  const weights = new Map([["a", { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }], [
    "b",
    { shape: [3], data: Float32Array.from([5, 6, 7]) },
  ]]);
  const bytes = encodeSnapshot(weights);
  const pooled = new Uint8Array(bytes.length + 13);
  pooled.set(bytes, 13);
  const back = decodeSnapshot(pooled.subarray(13));
  assert.deepEqual([...back.get("a")!.data], [1, 2, 3, 4]);
  assert.deepEqual([...back.get("b")!.data], [5, 6, 7]);
  assert.throws(() => decodeSnapshot(bytes.subarray(0, bytes.length - 4)), /wrong length/);
});
