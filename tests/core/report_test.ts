import { strict as assert } from "node:assert";
import { aggregate, meanAndStandardError } from "../../core/report/aggregate.ts";
import { renderCsv, renderMarkdown } from "../../core/report/render.ts";
import { winners } from "../../core/report/winners.ts";
import type { FailedLine, ResultLine } from "../../core/results.ts";

Deno.test("report: mean and standard error (hand-computed)", () => {
  // [0.8, 0.9, 1.0]: mean 0.9, sample sd 0.1, SE 0.1/√3 = 0.057735
  const r = meanAndStandardError([0.8, 0.9, 1.0]);
  assert.ok(Math.abs(r.mean - 0.9) < 1e-12);
  assert.ok(Math.abs(r.se! - 0.1 / Math.sqrt(3)) < 1e-12);
  assert.equal(meanAndStandardError([0.5]).se, undefined);
});

const line = (shift: string, selection: string, seed: number, lr: number, val: number, test: number): ResultLine => ({
  status: "ok",
  key: `${shift}-${selection}-${seed}-${lr}`,
  shift,
  shiftRef: {},
  selection,
  selectionRef: {},
  seed,
  lr,
  epoch: 1,
  val: { accuracy: val },
  test: { accuracy: test },
  valCurve: [val],
  trainedParams: 10,
  trainedGroups: {},
  groupActivity: {},
  seconds: 1,
  pretrained: "x",
});

Deno.test("report: per seed the learning rate with the best validation score is kept, then averaged", () => {
  const lines = [
    // seed 0: lr 0.01 wins on validation (0.9) although its test score is lower
    line("noise", "block1", 0, 0.01, 0.9, 0.70),
    line("noise", "block1", 0, 0.001, 0.8, 0.95),
    // seed 1: lr 0.001 wins
    line("noise", "block1", 1, 0.01, 0.5, 0.60),
    line("noise", "block1", 1, 0.001, 0.6, 0.80),
    line("noise", "all", 0, 0.01, 0.7, 0.50),
    line("noise", "all", 1, 0.01, 0.7, 0.70),
  ];
  const s = aggregate(lines, "accuracy", ["noise"], ["block1", "all"]);
  const b1 = s.cells.find((c) => c.selection === "block1")!;
  assert.ok(Math.abs(b1.metrics.accuracy.mean - 0.75) < 1e-12); // (0.70 + 0.80) / 2
  assert.ok(Math.abs(b1.metrics.accuracy.se! - 0.05) < 1e-12); // sd 0.0707, /√2
  assert.deepEqual(b1.chosenLr, [0.01, 0.001]);
  assert.equal(b1.best, true);
  assert.equal(s.cells.find((c) => c.selection === "all")!.best, false);
  const md = renderMarkdown(s, { title: "t", lines: [] });
  assert.match(md, /\| block1 \| \*\*75\.0 ± 5\.0\*\* \|/);
  assert.match(md, /\| all \| 60\.0 ± 10\.0 \|/);
  assert.match(renderCsv(s), /^noise,block1,accuracy,0\.75,0\.05\d*,2,0\.01 0\.001,1 1,10,true$/m);
});

Deno.test("report: validation ties go to the earlier learning rate of the grid, whatever the line order", () => {
  const a = line("noise", "block1", 0, 0.01, 0.9, 0.70);
  const b = line("noise", "block1", 0, 0.001, 0.9, 0.95);
  for (const lines of [[a, b], [b, a]]) {
    const s = aggregate(lines, "accuracy", ["noise"], ["block1"], [0.001, 0.01]);
    assert.deepEqual(s.cells[0].chosenLr, [0.001]);
    assert.equal(s.cells[0].metrics.accuracy.mean, 0.95);
  }
});

Deno.test("report: failed trials are counted per cell and marked; a cell whose trials all failed says so", () => {
  const failed = (shift: string, selection: string, seed: number): FailedLine => ({
    status: "failed",
    key: `${shift}-${selection}-${seed}`,
    shift,
    selection,
    seed,
    lr: 0.01,
    error: { tag: "TrainingError", message: "the loss became NaN" },
    seconds: 1,
  });
  const lines = [line("s", "a", 0, 0.01, 0.5, 0.6), line("s", "b", 0, 0.01, 0.5, 0.7)];
  const s = aggregate(lines, "accuracy", ["s"], ["a", "b", "c"], [0.01], [
    failed("s", "a", 1),
    failed("s", "c", 0),
    failed("s", "c", 1),
  ]);
  const cell = (sel: string) => s.cells.find((c) => c.selection === sel)!;
  assert.equal(cell("a").failed, 1);
  assert.equal(cell("a").metrics.accuracy.n, 1, "the mean is over the seeds that finished");
  assert.equal(cell("b").failed, 0);
  assert.equal(cell("c").failed, 2);
  assert.deepEqual(cell("c").metrics, {});
  assert.equal(cell("b").best, true, "a failed cell is never the best");
  const md = renderMarkdown(s, { title: "t", lines: [] });
  assert.match(md, /\| a \| 60\.0 † \|/);
  assert.match(md, /\| b \| \*\*70\.0\*\* \|/);
  assert.match(md, /\| c \| failed † \|/);
  assert.match(md, /† 3 trial\(s\) of the marked cells failed/);
  const clean = renderMarkdown(aggregate(lines, "accuracy", ["s"], ["a", "b"], [0.01]), { title: "t", lines: [] });
  assert.doesNotMatch(clean, /†/);
});

Deno.test("report: the winner of each shift, its lead and the standard error of the difference (hand-computed)", () => {
  const lines = [
    // noise: block1 0.70 / 0.80 (mean 0.75, SE 0.05), all 0.50 / 0.70 (0.60, SE 0.10), last 0.40 / 0.40
    line("noise", "block1", 0, 0.01, 0.9, 0.70),
    line("noise", "block1", 1, 0.01, 0.9, 0.80),
    line("noise", "all", 0, 0.01, 0.7, 0.50),
    line("noise", "all", 1, 0.01, 0.7, 0.70),
    line("noise", "last", 0, 0.01, 0.7, 0.40),
    line("noise", "last", 1, 0.01, 0.7, 0.40),
    // labels: last 0.90 / 0.70 (0.80, SE 0.10) leads all 0.74 / 0.76 (0.75, SE 0.01) by less than √(0.1² + 0.01²)
    line("labels", "block1", 0, 0.01, 0.9, 0.10),
    line("labels", "block1", 1, 0.01, 0.9, 0.10),
    line("labels", "all", 0, 0.01, 0.7, 0.74),
    line("labels", "all", 1, 0.01, 0.7, 0.76),
    line("labels", "last", 0, 0.01, 0.7, 0.90),
    line("labels", "last", 1, 0.01, 0.7, 0.70),
  ];
  const s = aggregate(lines, "accuracy", ["noise", "labels"], ["block1", "all", "last"]);
  const [noise, labels] = winners(s);
  assert.deepEqual([noise.best, noise.runnerUp, noise.clear], ["block1", "all", true]);
  assert.ok(Math.abs(noise.lead - 0.15) < 1e-12);
  assert.ok(Math.abs(noise.seOfDifference! - Math.sqrt(0.05 ** 2 + 0.1 ** 2)) < 1e-12); // 0.1118
  assert.deepEqual([labels.best, labels.runnerUp, labels.clear], ["last", "all", false]);
  assert.ok(Math.abs(labels.lead - 0.05) < 1e-12);
  const md = renderMarkdown(s, { title: "t", lines: [] });
  assert.match(md, /- noise: block1, ahead of all by 15\.0 \(SE of the difference 11\.2\): clear/);
  assert.match(md, /- labels: last, ahead of all by 5\.0 \(SE of the difference 10\.0\): within noise/);
  // a lead and a standard error that round alike get one more decimal
  const close = aggregate(
    [
      line("c", "a", 0, 0.01, 0.5, 0.606),
      line("c", "a", 1, 0.01, 0.5, 0.606),
      line("c", "b", 0, 0.01, 0.5, 0.59),
      line("c", "b", 1, 0.01, 0.5, 0.61),
    ],
    "accuracy",
    ["c"],
    ["a", "b"],
  );
  // a: 0.606 ± 0; b: 0.60 ± 0.01 → lead 0.006 (0.6 points), SE of the difference 0.01 (1.0 points)
  assert.match(
    renderMarkdown(close, { title: "t", lines: [] }),
    /- c: a, ahead of b by 0\.6 \(SE of the difference 1\.0\): within noise/,
  );
  const alike = aggregate(
    [
      line("c", "a", 0, 0.01, 0.5, 0.6062),
      line("c", "a", 1, 0.01, 0.5, 0.6062),
      line("c", "b", 0, 0.01, 0.5, 0.594),
      line("c", "b", 1, 0.01, 0.5, 0.606),
    ],
    "accuracy",
    ["c"],
    ["a", "b"],
  );
  // lead 0.0062 (0.62 points) against SE 0.006 (0.60 points): both print as 0.6 with one decimal
  assert.match(
    renderMarkdown(alike, { title: "t", lines: [] }),
    /- c: a, ahead of b by 0\.62 \(SE of the difference 0\.60\): clear/,
  );
  // one seed: no error bars, never clear; equal means: the earlier selection of the pipeline is named first
  const one = aggregate([line("n", "a", 0, 0.01, 0.5, 0.6), line("n", "b", 0, 0.01, 0.5, 0.6)], "accuracy", ["n"], [
    "a",
    "b",
  ]);
  assert.deepEqual(winners(one).map((w) => [w.best, w.runnerUp, w.lead, w.seOfDifference, w.clear]), [
    ["a", "b", 0, undefined, false],
  ]);
  assert.match(
    renderMarkdown(one, { title: "t", lines: [] }),
    /- n: a, ahead of b by 0\.0 \(one seed: no error bars\)/,
  );
});
