/**
 * The advisor's pieces: the halving plans never exceed their ceiling whoever survives
 * (property), hand-computed rung schedules, the zero-cost signals against a hand
 * computation, and the cost model against what a real trial's compute meter counts.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import { Effect, Layer } from "effect";
import { NodeContext } from "@effect/platform-node";
import {
  cheapestHalving,
  halvingUnits,
  planHalving,
  planProbe,
  rungEpochs,
  segmentBound,
  survivorCounts,
} from "../../core/advise/plan.ts";
import { epochCosts, startUnits, sweepUnits, trialUnits } from "../../core/advise/compute.ts";
import { rankBy, selectionScores } from "../../core/advise/signals.ts";
import type { TensorGradientStats } from "../../core/gradstats.ts";
import { loadPipeline } from "../../core/pipeline/load.ts";
import { preparePipeline } from "../../core/pipeline/prepare.ts";
import { makeTrialRunner } from "../../core/pipeline/runner.ts";
import type { ComputeMeter } from "../../core/pipeline/trial.ts";
import { TensorBackendLive } from "../../core/backend.ts";
import { registryLayer } from "../../core/registry.ts";
import { builtinPlugins } from "../../plugins/index.ts";
import { tempDir, useWasm } from "../helpers.ts";

await useWasm();

Deno.test("halving schedules by hand: 12 candidates at η 3 → 12, 4, 2 at epochs 1, 3, 9", () => {
  assert.deepEqual(survivorCounts(12, 3), [12, 4, 2]);
  assert.deepEqual(survivorCounts(12, 2), [12, 6, 3, 2]);
  assert.deepEqual(survivorCounts(1, 3), []);
  assert.deepEqual(rungEpochs(3, 3, 9), [1, 3, 9]);
  assert.deepEqual(rungEpochs(4, 2, 4), [1, 1, 2, 4]);
  // 2 candidates costing 10 and 20 a epoch, 1 survivor: 1 rung of both to epoch 3 → 90, plus a start of 5
  const cost = [[10, 10, 10], [20, 20, 20]];
  assert.equal(halvingUnits(cost, [{ epochs: 3, candidates: 2 }], 1, 5), 95);
  const plan = planHalving({ cost, epochs: 3, seeds: 2, start: 5, ceiling: 190 });
  assert.deepEqual(plan, { seeds: 2, eta: 2, rungs: [{ epochs: 3, candidates: 2 }], units: 190 });
  assert.equal(planHalving({ cost, epochs: 3, seeds: 2, start: 5, ceiling: 189 })?.seeds, 1);
});

Deno.test("a halving plan never spends more than its ceiling, whichever candidates survive (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 3 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.infiniteStream(fc.double({ min: 0, max: 50, noNaN: true })),
      fc.infiniteStream(fc.nat()),
      (n, epochs, seeds, fraction, costs, picks) => {
        const cost = Array.from({ length: n }, () => Array.from({ length: epochs }, () => costs.next().value));
        const start = 7;
        const sweep = seeds * (start + cost.flat().reduce((a, b) => a + b, 0));
        const ceiling = fraction * sweep;
        const plan = planHalving({ cost, epochs, seeds, start, ceiling });
        if (!plan) {
          assert.ok(cheapestHalving(cost, start).units > ceiling);
          return;
        }
        assert.ok(plan.units <= ceiling + 1e-9);
        assert.ok(plan.seeds >= 1 && plan.seeds <= seeds);
        // rungs: more epochs and fewer candidates each time, starting with all of them
        plan.rungs.forEach((r, k) => {
          assert.ok(r.epochs >= 1 && r.epochs <= epochs);
          if (k === 0) assert.equal(r.candidates, n);
          else {
            assert.ok(r.epochs > plan.rungs[k - 1].epochs);
            assert.ok(r.candidates < plan.rungs[k - 1].candidates);
          }
        });
        // simulate any ranking: the survivors' actual cost never exceeds the plan's bound
        let alive = Array.from({ length: n }, (_, i) => i);
        let spent = plan.seeds * start;
        let done = 0;
        for (const [k, r] of plan.rungs.entries()) {
          for (const i of alive) spent += plan.seeds * cost[i].slice(done, r.epochs).reduce((a, b) => a + b, 0);
          done = r.epochs;
          const keep = plan.rungs[k + 1]?.candidates ?? 1;
          const shuffled = [...alive];
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = picks.next().value % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
          }
          alive = shuffled.slice(0, keep);
        }
        assert.ok(spent <= plan.units + 1e-9, `spent ${spent} > bound ${plan.units}`);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("the zero-cost probe: the longest probe within the ceiling", () => {
  const cost = [[10, 10, 10, 10], [30, 30, 30, 30]];
  assert.deepEqual(planProbe({ cost, wanted: 3, fixed: 5, ceiling: 1000 }), { epochs: 3, units: 125 });
  assert.deepEqual(planProbe({ cost, wanted: 3, fixed: 5, ceiling: 90 }), { epochs: 2, units: 85 });
  assert.equal(planProbe({ cost, wanted: 3, fixed: 5, ceiling: 44 }), undefined);
  assert.equal(segmentBound(cost, 1, 3, 1), 60);
});

Deno.test("zero-cost signals of a selection, by hand", () => {
  const stats = new Map<string, TensorGradientStats>([
    ["w1", { gradNorm: 3, paramNorm: 4, saliency: 0.5, snr: 2 }],
    ["b1", { gradNorm: 4, paramNorm: 0, saliency: 0, snr: 10 }],
    ["w2", { gradNorm: 1, paramNorm: 10, saliency: 0.1, snr: 1 }],
  ]);
  const sizes = new Map([["w1", 8], ["b1", 2], ["w2", 10]]);
  // one vector of w1 and b1: ‖g‖ = √(9 + 16) = 5, ‖θ‖ = 4 → 1.25; snr (8·2 + 2·10)/10 = 3.6; snip (8·0.5)/10 = 0.4
  const s = selectionScores(new Map([["w1", 1], ["b1", 1], ["w2", 0]]), stats, sizes)!;
  assert.equal(s.rgn, 1.25);
  assert.ok(Math.abs(s.snr - 3.6) < 1e-12);
  assert.ok(Math.abs(s.snip - 0.4) < 1e-12);
  assert.equal(selectionScores(new Map([["w2", 0]]), stats, sizes), undefined);
  assert.deepEqual(
    rankBy([{ rgn: 1, snr: 0, snip: 0 }, undefined, { rgn: 2, snr: 0, snip: 0 }, { rgn: 1, snr: 0, snip: 0 }], "rgn"),
    [2, 0, 3, 1],
  );
});

Deno.test("the cost model counts what a trial's compute meter counts, for fixed, scheduled and adaptive selectors", async () => {
  const dir = await tempDir("advise-cost");
  const file = `${dir}/p.yaml`;
  await Deno.writeTextFile(
    file,
    `
name: costs
seed: 5
dataset: { dataset: mnist, options: { trainLimit: 1500, testLimit: 600 } }
model: small-cnn
pretrain: { epochs: 1, examples: 600 }
target: { train: 60, val: 40, test: 150 }
finetune: { epochs: 3, batchSize: 16, learningRates: [0.01] }
shifts: [{ shift: corruption, options: { name: impulse_noise, severity: 5, constants: imagenet-c } }]
selections: [none, block2, last-layer, auto-rgn, auto-snr, lp-ft, gradual-unfreezing]
`,
  );
  const before = tf.memory().numTensors;
  const layer = Layer.mergeAll(NodeContext.layer, registryLayer(builtinPlugins));
  const checked = await Effect.runPromise(
    Effect.gen(function* () {
      const p = yield* loadPipeline(file);
      const prepared = yield* preparePipeline(p);
      const runner = yield* makeTrialRunner(prepared, {
        cacheDir: `${dir}/cache`,
        log: () => Effect.void,
        onMiss: "train",
      });
      const sizes = { train: 60, val: 40, test: 150, batchSize: 16, epochs: 3 };
      let n = 0;
      for (const t of prepared.trials) {
        const selector = prepared.made.selectors[t.selectionIndex];
        const expected = yield* runner.atStart(
          t,
          ({ model }) => Effect.sync(() => trialUnits(epochCosts(selector, model, sizes), sizes)),
        );
        const meter: ComputeMeter = { units: 0 };
        yield* runner.runRung(t, { meter });
        assert.ok(
          Math.abs(meter.units - expected) < 1e-9,
          `${selector.label}: meter ${meter.units}, model ${expected}`,
        );
        n++;
      }
      // by hand: block2 trains all 60 examples and scores 40 validation examples each epoch, then 150 test ones
      const block2 = yield* runner.atStart(
        prepared.trials[1],
        ({ model }) => Effect.sync(() => trialUnits(epochCosts(prepared.made.selectors[1], model, sizes), sizes)),
      );
      assert.equal(block2, 3 * (60 + 40 / 3) + 150 / 3);
      assert.equal(startUnits(sizes), (40 + 150) / 3);
      // two selections that train (each epoch above the 40/3 of validation alone), 3 learning rates, 2 seeds
      assert.equal(sweepUnits([[20, 20], [30, 30]], 3, 2, sizes), 2 * ((40 + 150) / 3 + 3 * (40 + 50 + 60 + 50)));
      return n;
    }).pipe(Effect.scoped, Effect.provide(TensorBackendLive("wasm")), Effect.provide(layer)),
  );
  assert.equal(checked, 7);
  assert.equal(tf.memory().numTensors, before);
});
