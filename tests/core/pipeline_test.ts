import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { defineEvaluator, defineSelector, defineShift, run, Schema, validate } from "../../mod.ts";
import type { ResultLine } from "../../core/results.ts";
import { PipelineFileError, PluginError } from "../../core/errors.ts";
import { tempDir, useWasm } from "../helpers.ts";
import { expandTrials } from "../../core/pipeline/expand.ts";

await useWasm();

const tiny = (extra: string, selections = "[none, block2, last-layer]") => `
name: tiny
seed: 3
dataset: { dataset: mnist, options: { trainLimit: 1500, testLimit: 600 } }
model: small-cnn
pretrain: { epochs: 1, examples: 600 }
target: { train: 60, val: 40, test: 150 }
finetune: { epochs: 2, batchSize: 20, learningRates: [0.01, 0.001] }
shifts:
  - { shift: corruption, options: { name: impulse_noise, severity: 5, constants: imagenet-c } }
  - label-permutation
selections: ${selections}
${extra}`;

const write = async (dir: string, name: string, text: string) => {
  const file = `${dir}/${name}`;
  await Deno.writeTextFile(file, text);
  return file;
};

const readLines = async (dir: string): Promise<ResultLine[]> =>
  (await Deno.readTextFile(`${dir}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));

const metricsOf = (lines: ResultLine[]) =>
  Object.fromEntries(
    lines.map((l) => [`${l.shift}|${l.selection}|${l.seed}|${l.lr}`, { val: l.val, test: l.test, epoch: l.epoch }]),
  );

Deno.test("pipeline: same file and seed ⇒ identical results; another seed ⇒ different; tensors released", async () => {
  const dir = await tempDir("pipe");
  const file = await write(dir, "tiny.yaml", tiny(""));
  const cache = `${dir}/cache`;
  const before = tf.memory().numTensors;
  const logs: string[] = [];
  const a = await run(file, { out: `${dir}/a`, cache, log: (l) => logs.push(l) });
  assert.equal(tf.memory().numTensors, before, "a run must release every tensor it made");
  const b = await run(file, { out: `${dir}/b`, cache, log: (l) => logs.push(l) });
  assert.ok(logs.some((l) => /loaded from cache/.test(l)), "the second run reuses the cached pre-trained model");
  const c = await run(file, { out: `${dir}/c`, cache, seed: 4 });
  assert.equal(tf.memory().numTensors, before);
  const [la, lb, lc] = await Promise.all([readLines(a.outDir), readLines(b.outDir), readLines(c.outDir)]);
  assert.equal(la.length, 2 * 3 * 2);
  assert.deepEqual(metricsOf(la), metricsOf(lb));
  assert.notDeepEqual(metricsOf(la), metricsOf(lc));
  assert.deepEqual(la.map((l) => l.key), lb.map((l) => l.key));
  for (const f of ["pipeline.resolved.json", "summary.md", "summary.csv", "summary.json"]) {
    assert.ok((await Deno.stat(`${a.outDir}/${f}`)).isFile, f);
  }
  // the learning rate of each cell is the one with the best validation score, never chosen on test
  for (const cell of a.summary.cells) {
    const mine = la.filter((l) => l.shift === cell.shift && l.selection === cell.selection);
    const bestVal = Math.max(...mine.map((l) => l.val.accuracy));
    const chosen = mine.find((l) => l.val.accuracy === bestVal)!;
    assert.equal(cell.metrics.accuracy.mean, chosen.test.accuracy);
  }
  // `none` trains nothing and reports the pre-trained model (epoch 0, no learning rate)
  for (const l of la.filter((l) => l.selection === "none")) {
    assert.equal(l.epoch, 0);
    assert.equal(l.lr, null);
    assert.equal(l.trainedParams, 0);
  }
});

Deno.test("pipeline: every trial starts from the pre-trained snapshot, whatever ran before it", async () => {
  const dir = await tempDir("snap");
  const cache = `${dir}/cache`;
  const alone = await write(dir, "alone.yaml", tiny("", "[block2]"));
  const after = await write(dir, "after.yaml", tiny("", "[all, first-layer, block1, block2]"));
  await run(alone, { out: `${dir}/alone`, cache });
  await run(after, { out: `${dir}/after`, cache });
  const pick = (lines: ResultLine[]) => metricsOf(lines.filter((l) => l.selection === "block2"));
  const afterLines = await readLines(`${dir}/after`);
  assert.deepEqual(pick(afterLines), pick(await readLines(`${dir}/alone`)));
  // small-cnn's first layer is its whole block1; with common batch order the two cells agree exactly
  const strip = (sel: string) =>
    afterLines.filter((l) => l.selection === sel).map((l) => [l.shift, l.lr, l.epoch, l.val, l.test, l.trainedParams]);
  assert.deepEqual(strip("first-layer"), strip("block1"));
});

Deno.test("pipeline: frozen-prefix caching on and off give the same results and the same trial keys", async () => {
  const dir = await tempDir("prefix");
  const cache = `${dir}/cache`;
  const selections = "[none, block2, block3, last-layer, gradual-unfreezing]";
  const on = await write(dir, "on.yaml", tiny("", selections));
  const off = await write(
    dir,
    "off.yaml",
    tiny("", selections).replace(
      "learningRates: [0.01, 0.001] }",
      "learningRates: [0.01, 0.001], prefixCache: false }",
    ),
  );
  assert.equal((await validate(off)).settings.finetune.prefixCache, false);
  const before = tf.memory().numTensors;
  await run(on, { out: `${dir}/on`, cache });
  await run(off, { out: `${dir}/off`, cache });
  assert.equal(tf.memory().numTensors, before);
  const a = await readLines(`${dir}/on`);
  const b = new Map((await readLines(`${dir}/off`)).map((l) => [l.key, l]));
  assert.equal(a.length, 2 * 5 * 2);
  for (const l of a) {
    const m = b.get(l.key);
    assert.ok(m, `trial ${l.key} (${l.selection}) missing with caching off`);
    assert.equal(l.epoch, m.epoch, `${l.shift} × ${l.selection} lr ${l.lr}: chosen epoch`);
    assert.ok(Math.abs(l.test.accuracy - m.test.accuracy) < 1e-9, `${l.shift} × ${l.selection}: test accuracy`);
    l.valCurve.forEach((v, i) => assert.ok(Math.abs(v - m.valCurve[i]) < 1e-9));
  }
});

Deno.test("pipeline: trial keys depend on settings, not on position in the grid", async () => {
  const dir = await tempDir("keys");
  const small = await validate(await write(dir, "a.yaml", tiny("", "[block2]")));
  const big = await validate(await write(dir, "b.yaml", tiny("", "[none, all, block2]")));
  const keysSmall = expandTrials(small).map((t) => t.key);
  const keysBig = new Set(expandTrials(big).map((t) => t.key));
  for (const k of keysSmall) assert.ok(keysBig.has(k));
});

Deno.test("pipeline: bad files are rejected with the path and the fix", async (t) => {
  const dir = await tempDir("bad");
  const expectError = async (text: string, tag: string, pattern: RegExp) => {
    const file = await write(dir, "bad.yaml", text);
    const error = await validate(file).then(() => undefined, (e) => e);
    assert.ok(error, "expected a failure");
    assert.equal(error._tag, tag);
    assert.match(error.describe(), pattern);
  };
  await t.step("out-of-range option names the exact path", () =>
    expectError(
      tiny("").replace("severity: 5", "severity: 7"),
      "PipelineFileError",
      /shifts\[0\]\.options\.severity: .*between 1 and 5.*7/s,
    ));
  await t.step("unknown plugin lists the known ones", () =>
    expectError(
      tiny("").replace("- label-permutation", "- label-permutatoin"),
      "PluginError",
      /shifts\[1\]: shift plugin "label-permutatoin" is not registered\. Known shift plugins: corruption, natural, label-permutation, label-noise,/,
    ));
  await t.step("unknown key", () => expectError(tiny("epochz: 3"), "PipelineFileError", /epochz/));
  await t.step(
    "neither model nor source",
    () => expectError(tiny("").replace("model: small-cnn\n", ""), "PipelineFileError", /model: missing/),
  );
  await t.step(
    "both model and source",
    () => expectError(tiny("source: { load: m.json }"), "PipelineFileError", /either `model:` or `source:`/),
  );
  await t.step(
    "unknown option of a plugin",
    () =>
      expectError(tiny("").replace("severity: 5", "sevrity: 5"), "PipelineFileError", /shifts\[0\]\.options\.sevrity/),
  );
  await t.step("wrong type", () => expectError(tiny("seeds: two"), "PipelineFileError", /seeds: /));
  await t.step("malformed YAML", () => expectError("name: [unclosed\nmodel: x", "PipelineFileError", /YAML or JSON/));
  await t.step("missing dataset file", async () => {
    const file = await write(
      dir,
      "nodata.yaml",
      tiny("").replace("trainLimit: 1500", `dir: ${dir}/nowhere, trainLimit: 1500`),
    );
    const out = `${dir}/never`;
    const error = await run(file, { out, cache: `${dir}/cache` }).then(() => undefined, (e) => e);
    assert.equal(error?._tag, "DatasetError");
    assert.match(error.describe(), /nowhere\/train-images-idx3-ubyte: does not exist/);
    assert.equal(await Deno.stat(out).then(() => true, () => false), false, "no run directory for bad input");
  });
});

Deno.test("pipeline: errors are tagged classes a caller can match", () => {
  assert.ok(new PipelineFileError({ file: "f", detail: "d" }) instanceof Error);
  assert.match(
    new PluginError({ kind: "shift", name: "x", where: "f: shifts[0]", detail: "is not registered", known: ["a"] })
      .describe(),
    /Known shift plugins: a\./,
  );
  // an Effect failure carries the error itself
  const exit = Effect.runSyncExit(Effect.fail(new PipelineFileError({ file: "f", detail: "d" })));
  assert.equal(exit._tag, "Failure");
});

Deno.test("pipeline: corruption names and severities given as lists expand into a grid; `all` = the 15 common", async () => {
  const dir = await tempDir("grid");
  const grid = await validate(
    await write(
      dir,
      "grid.yaml",
      tiny("").replace("name: impulse_noise, severity: 5", "name: [gaussian_noise, fog], severity: [1, 3]"),
    ),
  );
  assert.deepEqual(
    grid.shifts.map((s) => s.encoded),
    [
      { name: "gaussian_noise", severity: 1, constants: "imagenet-c" },
      { name: "gaussian_noise", severity: 3, constants: "imagenet-c" },
      { name: "fog", severity: 1, constants: "imagenet-c" },
      { name: "fog", severity: 3, constants: "imagenet-c" },
      { permutation: "reverse" },
    ],
  );
  const all = await validate(await write(dir, "all.yaml", tiny("").replace("name: impulse_noise", "name: all")));
  assert.equal(all.shifts.length, 15 + 1);
  assert.equal((all.shifts[14].encoded as { name: string }).name, "jpeg_compression");
});

Deno.test("pipeline: sub-population and spurious shifts run end to end with worst-group accuracy", async () => {
  const dir = await tempDir("families");
  const file = await write(
    dir,
    "families.yaml",
    tiny("").replace(
      /shifts:[\s\S]*?selections:/,
      `shifts:
  - { shift: subpopulation, options: { hierarchy: mnist-pairs } }
  - { shift: spurious, options: { cue: border } }
selections:`,
    ).replace("selections: [none, block2, last-layer]", "selections: [none, last-layer]")
      .replace(
        "finetune: { epochs: 2, batchSize: 20, learningRates: [0.01, 0.001] }",
        "finetune: { epochs: 1, learningRates: [0.01] }",
      ) +
      "evaluators: [accuracy, worst-group-accuracy]\n",
  );
  const before = tf.memory().numTensors;
  const outcome = await run(file, { out: `${dir}/out`, cache: `${dir}/cache` });
  assert.equal(tf.memory().numTensors, before);
  const lines = await readLines(outcome.outDir);
  assert.equal(lines.length, 2 * 2);
  for (const l of lines) {
    assert.ok("worst-group-accuracy" in l.test, "worst-group accuracy is reported");
    assert.ok(l.test["worst-group-accuracy"] <= l.test.accuracy + 1e-12, "the worst group is no better than the mean");
  }
  // the two shifts change the source domain, so each has its own pre-trained model
  assert.notEqual(lines[0].pretrained, lines[2].pretrained);
});

Deno.test("pipeline: `save: true` writes each trial's weights; a zoo model started from them reproduces the test score", async () => {
  const dir = await tempDir("save");
  const cache = `${dir}/cache`;
  const first = await write(dir, "save.yaml", tiny("save: true", "[block2]").replace("  - label-permutation\n", ""));
  const a = await run(first, { out: `${dir}/a`, cache });
  const [line] = (await readLines(a.outDir)).filter((l) => l.lr === 0.01);
  const weights = `${a.outDir}/models/${line.key}.weights`;
  assert.ok((await Deno.stat(weights)).size > 0);
  // the same shift and target test split, starting from the saved weights, with nothing tuned
  const second = await write(
    dir,
    "load.yaml",
    tiny("", "[none]").replace("  - label-permutation\n", "").replace(
      "model: small-cnn",
      `model: { model: small-cnn, options: { weights: ${weights} } }`,
    ),
  );
  const logs: string[] = [];
  const b = await run(second, { out: `${dir}/b`, cache, log: (l) => logs.push(l) });
  assert.ok(!logs.some((l) => /pre-training/.test(l)), "a loaded model is not pre-trained again");
  const [loaded] = await readLines(b.outDir);
  assert.equal(loaded.test.accuracy, line.test.accuracy);
  // a weights file of the wrong kind is refused with its name
  await Deno.writeTextFile(`${dir}/junk.weights`, "not weights");
  const third = await write(
    dir,
    "junk.yaml",
    (await Deno.readTextFile(second)).replace(weights, `${dir}/junk.weights`),
  );
  const error = await run(third, { out: `${dir}/c`, cache }).then(() => undefined, (e) => e);
  assert.equal(error?._tag, "ModelFileError");
  assert.match(error.describe(), /junk\.weights: is not a scalpel weights file/);
});

Deno.test("pipeline: every example pipeline in pipelines/ is valid as shipped", async () => {
  const dir = new URL("../../pipelines/", import.meta.url).pathname;
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".yaml")) continue;
    const p = await validate(`${dir}${entry.name}`);
    assert.ok(expandTrials(p).length > 0, entry.name);
    count++;
  }
  assert.ok(count >= 3);
});

Deno.test("pipeline: failure paths release every tensor (failed trials, a shift that throws, a resume refused)", async () => {
  const dir = await tempDir("failure-tensors");
  const cache = `${dir}/cache`;
  const before = tf.memory().numTensors;
  const boom = defineEvaluator({
    name: "boom",
    description: "throws on the test split",
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        evaluate: (input) => {
          if (input.count === 150) throw new Error("evaluator exploded on the test split");
          return { accuracy: 0.5 };
        },
      }),
  });
  const throwing = defineShift({
    name: "throws-late",
    description: "throws when applied",
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        label: "late",
        sourceKey: "clean",
        apply: () => {
          throw new Error("shift exploded");
        },
      }),
  });
  // every trial fails in its evaluator: failed lines, the outcome says so, nothing leaks
  const evalFile = await write(dir, "eval.yaml", tiny("evaluators: [boom]"));
  const outcome = await run(evalFile, { out: `${dir}/a`, cache, plugins: [boom] });
  assert.equal(outcome.failed?.failed, 2 * 3 * 2);
  assert.equal(tf.memory().numTensors, before, "failed trials released their tensors");
  // a shift that throws is reported before any run directory
  const shiftFile = await write(dir, "shift.yaml", tiny("").replace("  - label-permutation\n", "  - throws-late\n"));
  const error = await run(shiftFile, { out: `${dir}/b`, cache, plugins: [throwing] }).then(() => undefined, (e) => e);
  assert.equal(error?._tag, "PluginError");
  assert.match(error.describe(), /shift plugin "throws-late" failed in apply: shift exploded/);
  assert.equal(await Deno.stat(`${dir}/b`).then(() => true, () => false), false);
  assert.equal(tf.memory().numTensors, before);
  // a resume refused (another pipeline in the directory) releases what was made before the refusal
  const other = await write(dir, "other.yaml", tiny("").replace("seed: 3", "seed: 4"));
  const refused = await run(other, { out: `${dir}/a`, cache }).then(() => undefined, (e) => e);
  assert.equal(refused?._tag, "RunDirectoryError");
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("pipeline: a selection that trains nothing runs once per shift and seed; its other learning rates get the line it would give", async () => {
  const dir = await tempDir("trains-nothing");
  const cache = `${dir}/cache`;
  // trains nothing too, but only after reading the training losses: it must run at every learning rate
  const peeking = defineSelector({
    name: "peek-then-freeze",
    description: "reads the training losses, trains nothing",
    options: Schema.Struct({}),
    make: () =>
      Effect.succeed({
        label: "peek",
        multipliers: ({ trainLosses }) => (trainLosses.length > 99 ? new Map([["x", 1]]) : new Map()),
      }),
  });
  const logs: string[] = [];
  const file = await write(dir, "two-lrs.yaml", tiny("", "[none, last-layer, peek-then-freeze]"));
  const outcome = await run(file, { out: `${dir}/a`, cache, plugins: [peeking], log: (l) => logs.push(l) });
  const lines = await readLines(`${dir}/a`);
  assert.equal(lines.length, 2 * 3 * 2, "a line for every trial of the grid");
  assert.equal(new Set(lines.map((l) => l.key)).size, lines.length);
  const copiedLogs = logs.filter((l) => l.includes("trains nothing, whatever the learning rate"));
  assert.equal(copiedLogs.length, 2, `one copy per shift (${copiedLogs.join(" | ")})`);
  assert.ok(copiedLogs.every((l) => l.includes("× none ")), "only `none` is copied; the peeking selector ran twice");
  assert.equal(outcome.trialsRun, 12);
  assert.equal(outcome.trialsCopied, 2);

  // independent check: a grid with only the second learning rate runs that `none` trial for real (same key)
  const single = await write(
    dir,
    "one-lr.yaml",
    tiny("", "[none]").replace("learningRates: [0.01, 0.001]", "learningRates: [0.001]"),
  );
  await run(single, { out: `${dir}/b`, cache });
  const real = await readLines(`${dir}/b`);
  assert.equal(real.length, 2);
  for (const r of real) {
    const copy = lines.find((l) => l.key === r.key);
    assert.ok(copy, `the one-rate run's none trial ${r.key} is in the two-rate grid`);
    assert.equal(copy!.seconds, 0, "lr 0.001 comes second in the grid: it is the copy");
    const { seconds: _a, ...ran } = r;
    const { seconds: _b, ...copied } = copy!;
    assert.deepEqual(copied, ran, "the copied line is the line that trial gives when it runs");
  }

  // a resume that finds the leader's line recorded copies it without running anything
  const copiedKeys = real.map((r) => r.key).sort();
  const kept = lines.filter((l) => !copiedKeys.includes(l.key));
  await Deno.writeTextFile(`${dir}/a/results.jsonl`, kept.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const again = await run(file, { out: `${dir}/a`, cache, plugins: [peeking] });
  assert.equal(again.trialsRun, 2);
  assert.equal(again.trialsCopied, 2);
  assert.deepEqual((await readLines(`${dir}/a`)).slice(-2).map((l) => l.key).sort(), copiedKeys);
});
