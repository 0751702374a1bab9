import { strict as assert } from "node:assert";
import fc from "fast-check";
import { Effect, Schema } from "effect";
import { useWasm } from "../helpers.ts";
import { disposeModel } from "../../core/model.ts";
import { rngFor } from "../../core/random.ts";
import type { AnyPlugin, ModelImpl, SelectorImpl } from "../../core/plugin.ts";
import type { Trial } from "../../core/pipeline/expand.ts";
import { longestFirst } from "../../core/pipeline/order.ts";
import { firstTrainedStage, selectsNothing } from "../../core/pipeline/runner.ts";
import resnetMini from "../../plugins/models/resnet_mini.ts";
import { staticSelectors } from "../../plugins/selectors/static.ts";
import { autoRgn } from "../../plugins/selectors/auto.ts";
import { gradualUnfreezing } from "../../plugins/selectors/schedules.ts";

await useWasm();

const trialOf = (shiftIndex: number, selectionIndex: number, seed: number, lr: number): Trial =>
  ({
    key: `${shiftIndex}-${selectionIndex}-${seed}-${lr}`,
    shiftIndex,
    selectionIndex,
    seed,
    lr,
    trainSize: 10,
  }) as Trial;

Deno.test("longestFirst: a permutation, sample by sample in grid order, earliest first trained stage first within one, one question per pair", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(2), fc.nat(4), fc.nat(1), fc.nat(2)), { maxLength: 40 }),
      fc.func(fc.nat(5)),
      async (cells, stageOf) => {
        const trials = cells.map(([s, sel, seed, lr], i) => trialOf(s, sel, seed, lr * 100 + i));
        const asked: string[] = [];
        const stage = (t: Trial) => stageOf(t.shiftIndex, t.selectionIndex);
        const out = await Effect.runPromise(longestFirst(trials, (t) =>
          Effect.sync(() => {
            asked.push(`${t.shiftIndex}|${t.selectionIndex}`);
            return stage(t);
          })));
        assert.deepEqual(
          [...out].sort((a, b) => a.key.localeCompare(b.key)),
          [...trials].sort((a, b) => a.key.localeCompare(b.key)),
        );
        // the samples (shift, seed, size) in the order the grid first names them, each one's trials together
        const sampleOf = (t: Trial) => `${t.shiftIndex}|${t.seed}|${t.trainSize}`;
        const firstSeen = [...new Set(trials.map(sampleOf))];
        const seen = [...new Set(out.map(sampleOf))];
        assert.deepEqual(seen, firstSeen);
        for (let i = 1; i < out.length; i++) {
          const [a, b] = [out[i - 1], out[i]];
          if (sampleOf(a) !== sampleOf(b)) {
            assert.ok(firstSeen.indexOf(sampleOf(a)) < firstSeen.indexOf(sampleOf(b)), "a sample comes back");
            continue;
          }
          assert.ok(stage(a) <= stage(b), "within a sample, stages never decrease");
          if (stage(a) === stage(b)) assert.ok(trials.indexOf(a) < trials.indexOf(b), "ties keep grid order");
        }
        assert.equal(asked.length, new Set(asked).size);
      },
    ),
  );
});

const make = (plugin: AnyPlugin, options: unknown = {}) =>
  Effect.runPromise(plugin.make(Schema.decodeUnknownSync(plugin.options)(options)) as Effect.Effect<SelectorImpl>);

Deno.test("firstTrainedStage: resnet-mini's stages are block1 (stem included), block2, block3, head", async () => {
  const impl = await Effect.runPromise(resnetMini.make({}) as Effect.Effect<ModelImpl>);
  const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(0, ["init"]));
  try {
    const expected: Record<string, number> = {
      none: 4, // trains nothing: past the last stage
      "first-layer": 0,
      block1: 0,
      block2: 1,
      block3: 2,
      "last-layer": 3,
      all: 0,
    };
    for (const plugin of staticSelectors) {
      const s = await make(plugin);
      assert.equal(firstTrainedStage(s, model, 30), expected[plugin.name], plugin.name);
      assert.equal(selectsNothing(s, model, 30), plugin.name === "none", plugin.name);
    }
    // it asks for gradient statistics: counted as training from the first stage
    assert.equal(firstTrainedStage(await make(autoRgn), model, 30), 0);
    // unfreezes from the head down, one group every epoch: by epoch 4 of 30 block1 trains too
    assert.equal(firstTrainedStage(await make(gradualUnfreezing), model, 30), 0);
    assert.equal(firstTrainedStage(await make(gradualUnfreezing), model, 1), 3, "one epoch: the head only");
  } finally {
    disposeModel(model);
  }
});
