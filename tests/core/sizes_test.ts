import { strict as assert } from "node:assert";
import { Effect, Exit } from "effect";
import { loadPipeline } from "../../core/pipeline/load.ts";
import { preparePipeline } from "../../core/pipeline/prepare.ts";
import { targetSplits } from "../../core/pipeline/runner.ts";
import { applyShift } from "../../core/pipeline/prepare.ts";
import { expandTrials, sharedSettings } from "../../core/pipeline/expand.ts";
import { refJson } from "../../core/pipeline/load.ts";
import { contentHash } from "../../core/hash.ts";
import { aggregate } from "../../core/report/aggregate.ts";
import { renderHtml } from "../../core/report/html.ts";
import { renderCsv, renderMarkdown } from "../../core/report/render.ts";
import { TensorBackendLive } from "../../core/backend.ts";
import type { ResultLine } from "../../core/results.ts";
import { tempDir, testLayer, useWasm } from "../helpers.ts";

await useWasm();

const pipeline = (train: string) => `
name: sizes
seed: 4
seeds: 2
dataset: { dataset: mnist, options: { trainLimit: 3000, testLimit: 600 } }
model: small-cnn
target: { train: ${train}, val: 60, test: 150 }
finetune: { epochs: 1, learningRates: [0.01, 0.001] }
shifts: [{ shift: corruption, options: { name: impulse_noise, severity: 3 } }]
selections: [none, block1]
`;

const load = async (train: string) => {
  const dir = await tempDir("sizes");
  await Deno.writeTextFile(`${dir}/p.yaml`, pipeline(train));
  const exit = await Effect.runPromiseExit(loadPipeline(`${dir}/p.yaml`).pipe(Effect.provide(testLayer)));
  assert.ok(Exit.isSuccess(exit), String(exit));
  return exit.value;
};

Deno.test("target sizes: a list is a grid dimension; one size keeps the keys of a plain number", async () => {
  const grid = expandTrials(await load("[10, 40, 100]"));
  assert.equal(grid.length, 2 * 3 * 2 * 2);
  assert.equal(new Set(grid.map((t) => t.key)).size, grid.length, "every trial its own key");
  assert.deepEqual([...new Set(grid.map((t) => t.trainSize))], [10, 40, 100]);
  const plain = expandTrials(await load("40"));
  assert.ok(plain.every((t) => t.trainSize === 40));
  // the keys of a pipeline without a size grid are what they were before sizes existed: no size in the hash
  const p40 = await load("40");
  const before = p40.selections.flatMap((sel) =>
    [0, 1].flatMap((seed) =>
      [0.01, 0.001].map((lr) =>
        contentHash({ shared: sharedSettings(p40), shift: refJson(p40.shifts[0]), selection: refJson(sel), seed, lr })
      )
    )
  );
  assert.deepEqual(plain.map((t) => t.key), before);
  assert.ok(!grid.some((t) => before.includes(t.key)), "a grid point is another trial than the plain size");
});

Deno.test("target sizes: smaller samples are nested in larger ones, stratified; validation and test stay", async () => {
  const p = await load("[10, 40, 100]");
  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const prepared = yield* preparePipeline(p);
      const { target } = yield* applyShift(prepared, 0);
      return [10, 40, 100].map((n) => targetSplits(prepared, 0, target, 1, n));
    }).pipe(Effect.provide(TensorBackendLive("wasm")), Effect.provide(testLayer)),
  );
  assert.ok(Exit.isSuccess(exit), String(exit));
  const [s10, s40, s100] = exit.value;
  assert.deepEqual([s10.train.count, s40.train.count, s100.train.count], [10, 40, 100]);
  // identify an example by its pixels and label
  const rows = (split: typeof s10.train) =>
    Array.from({ length: split.count }, (_, i) => `${split.labels[i]}:${split.images.slice(i * 784, (i + 1) * 784)}`);
  const in100 = new Set(rows(s100.train));
  assert.ok(rows(s40.train).every((r) => in100.has(r)), "40 ⊂ 100");
  assert.ok(rows(s10.train).every((r) => in100.has(r)), "10 ⊂ 100");
  assert.deepEqual(rows(s10.val), rows(s100.val), "the same validation examples for every size");
  assert.deepEqual(rows(s10.test), rows(s100.test));
  // stratified: 10 classes, 10 examples → one per class (MNIST's class balance)
  assert.equal(new Set(s10.train.labels).size, 10);
});

const line = (selection: string, trainSize: number, seed: number, test: number): ResultLine => ({
  status: "ok",
  key: `${selection}-${trainSize}-${seed}`.padEnd(16, "0").slice(0, 16),
  shift: "s",
  shiftRef: {},
  selection,
  selectionRef: {},
  trainSize,
  seed,
  lr: 0.01,
  epoch: 1,
  val: { accuracy: test },
  test: { accuracy: test },
  valCurve: [0, test],
  trainedParams: 1,
  trainedGroups: {},
  groupActivity: {},
  seconds: 1,
  pretrained: "p",
});

Deno.test("target sizes: the summary has a cell per size, a table per size and a line chart per shift", async () => {
  const lines = [10, 100].flatMap((n) =>
    [0, 1].flatMap((seed) => [line("a", n, seed, n === 10 ? 0.5 + seed / 10 : 0.9), line("b", n, seed, 0.7)])
  );
  const s = aggregate(lines, "accuracy", ["s"], ["a", "b"], [0.01], [], [10, 100]);
  assert.equal(s.cells.length, 4);
  const at = (sel: string, n: number) => s.cells.find((c) => c.selection === sel && c.trainSize === n)!;
  assert.ok(Math.abs(at("a", 10).metrics.accuracy.mean - 0.55) < 1e-12);
  assert.equal(at("b", 10).best, true, "the best is chosen per size");
  assert.equal(at("a", 100).best, true);
  const md = renderMarkdown(s, { title: "t", lines: [] });
  assert.match(md, /## 10 labelled target examples[\s\S]*\| b \| \*\*70\.0 ± 0\.0\*\* \|[\s\S]*## 100 labelled/);
  assert.match(renderCsv(s), /,train_size\n[\s\S]*,10\n/);
  const { html } = await renderHtml(s, { title: "t", lines: [] }, {
    resolvedPipeline: {},
    backend: "wasm",
    versions: {},
  });
  const marks = (svg: string, role: string) =>
    (svg.match(new RegExp(`aria-roledescription="${role}"`, "g")) ?? []).length;
  const chart = html.slice(html.indexOf('class="marks chart target-size-1"'));
  // the shift's name heads its line chart (above it, not under it where it reads as the next chart's)
  assert.match(html, /<h3>s<\/h3>\s*<figure><svg[^>]*class="marks chart target-size-1"/);
  assert.equal(marks(chart.slice(0, chart.indexOf("</svg>")), "point"), 4);
  assert.equal(marks(chart.slice(0, chart.indexOf("</svg>")), "rule mark"), 4);
  // the bar chart shows the largest size only: one bar per selection
  const bars = html.slice(html.indexOf('class="marks chart accuracy-by-subset"'));
  assert.equal(marks(bars.slice(0, bars.indexOf("</svg>")), "bar"), 2);
});
