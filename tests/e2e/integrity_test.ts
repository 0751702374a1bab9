/**
 * The integrity promises, tried as a user would (the CLI as a subprocess, real MNIST):
 * no result lost or corrupted on resume, no stale pre-trained model, no directory
 * deleted that is not a cache, one run per directory, no duplicate trials, every
 * mistake reported before any work in one paragraph, failed trials recorded.
 */
import { strict as assert } from "node:assert";
import { encodeNpyTyped } from "../../core/io/npy.ts";
import { fixture, mnistT10k, ROOT, runCli, tempDir } from "../helpers.ts";

const TINY = fixture("pipelines/tiny.yaml");

const linesOf = async (dir: string) => {
  const text = await Deno.readTextFile(`${dir}/results.jsonl`);
  assert.ok(text.endsWith("\n"), "results.jsonl ends with a newline");
  return text.slice(0, -1).split("\n");
};

/** Result lines by key without the wall time. */
const byKey = async (dir: string) =>
  Object.fromEntries((await linesOf(dir)).map((l) => JSON.parse(l)).map((l) => [l.key, { ...l, seconds: 0 }]));

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/** One paragraph, no stack trace, exit 1. */
const userError = (r: { code: number; stderr: string }, pattern: RegExp) => {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error: /m);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(r.stderr, /internal error/);
};

let base: { dir: string; out: string; cache: string } | undefined;
/** One uninterrupted run of tiny.yaml, shared by the tests below (a warm cache). */
const baseRun = async () => {
  if (base) return base;
  const dir = await tempDir("integrity");
  const out = `${dir}/base`;
  const r = await runCli(["run", TINY, "--out", out, "--cache", `${dir}/cache`, "--concurrency", "1"], [dir]);
  assert.equal(r.code, 0, r.stderr);
  base = { dir, out, cache: `${dir}/cache` };
  return base;
};

Deno.test("integrity: a resume after a cut-off last line keeps every line whole (1 and 2 processes)", async () => {
  const { dir, out, cache } = await baseRun();
  const full = await linesOf(out);
  assert.equal(full.length, 6);
  for (const concurrency of ["1", "2"]) {
    const cut = `${dir}/cut-${concurrency}`;
    await Deno.mkdir(cut);
    await Deno.copyFile(`${out}/pipeline.resolved.json`, `${cut}/pipeline.resolved.json`);
    // 5 whole lines, then the first 40 bytes of line 6 (a crash in the middle of writing it)
    await Deno.writeTextFile(`${cut}/results.jsonl`, full.slice(0, 5).join("\n") + "\n" + full[5].slice(0, 40));
    const r = await runCli(["run", TINY, "--out", cut, "--cache", cache, "--concurrency", concurrency], [dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 trials run .*, 5 resumed/);
    const lines = await linesOf(cut);
    assert.equal(lines.length, 6, "six whole lines: the partial one was cut off, not glued to the next");
    assert.deepEqual(lines.slice(0, 5), full.slice(0, 5));
    assert.deepEqual(await byKey(cut), await byKey(out));
    // and the next resume finds nothing to do
    const again = await runCli(["run", TINY, "--out", cut, "--cache", cache], [dir]);
    assert.match(again.stdout, /0 trials run .*, 6 resumed/);
  }
});

Deno.test("integrity: malformed lines and a damaged pipeline.resolved.json refuse the resume (exit 1, not 3)", async () => {
  const { dir, out, cache } = await baseRun();
  const full = await linesOf(out);
  const cases: Array<[string, (d: string) => Promise<void>, RegExp]> = [
    [
      "a null line",
      (d) => Deno.writeTextFile(`${d}/results.jsonl`, "null\n", { append: true }),
      /line 7 of results\.jsonl/,
    ],
    [
      "{} in the middle",
      (d) => Deno.writeTextFile(`${d}/results.jsonl`, [full[0], "{}", ...full.slice(1)].join("\n") + "\n"),
      /line 2 of results\.jsonl cannot be resumed from: it is not a result line/,
    ],
    [
      "a truncated pipeline.resolved.json",
      async (d) => {
        const text = await Deno.readTextFile(`${d}/pipeline.resolved.json`);
        await Deno.writeTextFile(`${d}/pipeline.resolved.json`, text.slice(0, text.length / 2));
      },
      /pipeline\.resolved\.json is damaged/,
    ],
  ];
  for (const [name, damage, pattern] of cases) {
    const d = `${dir}/bad-${name.replace(/\W+/g, "-")}`;
    await Deno.mkdir(d);
    for (const f of ["pipeline.resolved.json", "results.jsonl"]) await Deno.copyFile(`${out}/${f}`, `${d}/${f}`);
    await damage(d);
    const before = await Deno.readTextFile(`${d}/results.jsonl`);
    const r = await runCli(["run", TINY, "--out", d, "--cache", cache], [dir]);
    userError(r, pattern);
    assert.equal(await Deno.readTextFile(`${d}/results.jsonl`), before, `${name}: results.jsonl untouched`);
    assert.equal(await exists(`${d}/run.lock`), false, `${name}: lock released`);
  }
});

/** A small npy dataset from MNIST t10k (1,000 train, 300 test). */
const writeNpyDataset = async (dir: string, transform: (images: Uint8Array, labels: Int32Array) => void = () => {}) => {
  const m = await mnistT10k();
  const images = m.train.images.slice(0, 1000 * 784) as Uint8Array;
  const labels = m.train.labels.slice(0, 1000);
  transform(images, labels);
  await Deno.writeFile(`${dir}/train_x.npy`, encodeNpyTyped(images, [1000, 28, 28, 1]));
  await Deno.writeFile(`${dir}/train_y.npy`, encodeNpyTyped(labels, [1000]));
  await Deno.writeFile(
    `${dir}/test_x.npy`,
    encodeNpyTyped(m.test.images.slice(0, 300 * 784) as Uint8Array, [300, 28, 28, 1]),
  );
  await Deno.writeFile(`${dir}/test_y.npy`, encodeNpyTyped(m.test.labels.slice(0, 300), [300]));
};

Deno.test("integrity: the model cache is keyed by the data: a dataset changed in place is trained again", async () => {
  const dir = await tempDir("cache-data");
  await writeNpyDataset(dir);
  const file = `${dir}/npy.yaml`;
  await Deno.writeTextFile(
    file,
    `name: npy
dataset: { dataset: npy, options: { trainImages: ${dir}/train_x.npy, trainLabels: ${dir}/train_y.npy, testImages: ${dir}/test_x.npy, testLabels: ${dir}/test_y.npy } }
model: small-cnn
pretrain: { epochs: 1, examples: 500 }
target: { train: 50, val: 50, test: 100 }
finetune: { epochs: 1, learningRates: [0.001] }
shifts: [label-permutation]
selections: [none]
`,
  );
  const cache = `${dir}/cache`;
  const go = (out: string) => runCli(["run", file, "--out", `${dir}/${out}`, "--cache", cache], [dir]);
  const first = await go("a");
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /^pre-training small-cnn on 500 source examples/m);
  const same = await go("b");
  assert.match(same.stderr, /pre-trained small-cnn loaded from cache/, "the same data: the cached model");
  const keyOf = async (out: string) => JSON.parse((await linesOf(`${dir}/${out}`))[0]).pretrained;
  assert.equal(await keyOf("a"), await keyOf("b"));
  for (
    const [name, change] of [
      ["inverted images", (x: Uint8Array) => x.forEach((v, i) => (x[i] = 255 - v))],
      ["shuffled labels", (_: Uint8Array, y: Int32Array) => y.reverse()],
    ] as const
  ) {
    await writeNpyDataset(dir, change);
    const r = await go(name.replace(" ", "-"));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /loaded from cache/, `${name}: not the model of the old data`);
    assert.match(r.stderr, /^pre-training small-cnn on 500 source examples/m, name);
    assert.notEqual(await keyOf(name.replace(" ", "-")), await keyOf("a"));
  }
  // resuming a run on data changed since it started is refused
  const resumed = await go("a");
  userError(resumed, /results computed on other data: the dataset's files changed/);
});

Deno.test("integrity: unreadable cache metadata is a cache miss (trained again, overwritten)", async () => {
  const { dir, out, cache } = await baseRun();
  const key = JSON.parse((await linesOf(out))[0]).pretrained;
  const copy = `${dir}/cache-copy`;
  await Deno.mkdir(copy);
  for (const e of Deno.readDirSync(cache)) await Deno.copyFile(`${cache}/${e.name}`, `${copy}/${e.name}`);
  await Deno.writeTextFile(`${copy}/${key}.json`, '{"key": 1');
  const r = await runCli(["run", TINY, "--out", `${dir}/meta-miss`, "--cache", copy], [dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cached model \w+ cannot be used \(its metadata is unreadable\); pre-training again/);
  assert.equal(JSON.parse(await Deno.readTextFile(`${copy}/${key}.json`)).key, key, "rewritten");
  assert.deepEqual(await byKey(`${dir}/meta-miss`), await byKey(out), "the same model, trained again");
});

Deno.test("integrity: a custom plugin may not take a built-in plugin's name", async () => {
  const dir = await tempDir("shadow");
  await Deno.writeTextFile(
    `${dir}/fake_mnist.ts`,
    `import { defineDataset, Effect, Schema } from "${ROOT}mod.ts";
export default defineDataset({
  name: "mnist",
  description: "noise pretending to be MNIST",
  options: Schema.Struct({}),
  make: () => Effect.die("never loaded"),
});
`,
  );
  const text = (await Deno.readTextFile(TINY)).replace("name: tiny", "name: tiny\nplugins: [fake_mnist.ts]");
  await Deno.writeTextFile(`${dir}/p.yaml`, text);
  for (const cmd of [["validate", `${dir}/p.yaml`], ["run", `${dir}/p.yaml`, "--out", `${dir}/out`]]) {
    userError(
      await runCli(cmd, [dir]),
      /fake_mnist\.ts: dataset plugin "mnist" has the name of a built-in plugin \(dataset "mnist"\).*Rename/,
    );
  }
  assert.equal(await exists(`${dir}/out`), false);
});

Deno.test("integrity: one run per directory (a second start is refused; a dead run's lock is taken over)", async () => {
  const { dir, cache } = await baseRun();
  const out = `${dir}/locked`;
  // two starts at the same moment: one runs, the other is refused in one paragraph
  const [a, b] = await Promise.all([
    runCli(["run", TINY, "--out", out, "--cache", cache, "--concurrency", "1"], [dir]),
    runCli(["run", TINY, "--out", out, "--cache", cache, "--concurrency", "1"], [dir]),
  ]);
  const codes = [a.code, b.code].sort();
  assert.deepEqual(codes, [0, 1], `${a.stderr}\n---\n${b.stderr}`);
  const refused = a.code === 1 ? a : b;
  userError(refused, /is in use by another scalpel run \(process \d+ on /);
  assert.equal((await linesOf(out)).length, 6, "the running one wrote every line once");
  assert.equal(await exists(`${out}/run.lock`), false, "released at the end");

  // a lock left by a process that died (kill -9) is taken over
  const child = new Deno.Command("true").spawn();
  await child.status;
  const host = Deno.hostname();
  await Deno.writeTextFile(`${out}/run.lock`, JSON.stringify({ pid: child.pid, host, since: "2026-01-01T00:00:00Z" }));
  const c = await runCli(["run", TINY, "--out", out, "--cache", cache], [dir]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /0 trials run .*, 6 resumed/);
});

Deno.test("integrity: duplicates in the grid are refused by validate, with their path", async () => {
  const dir = await tempDir("dups");
  const text = await Deno.readTextFile(TINY);
  const cases: Array<[string, string, RegExp]> = [
    [
      "learning rate",
      text.replace("learningRates: [0.001]", "learningRates: [0.01, 0.001, 0.01]"),
      /finetune\.learningRates\[2\]: 0\.01 is listed twice \(also at \[0\]\)/,
    ],
    [
      "selection",
      text.replace("selections: [none, block2, last-layer]", "selections: [none, block2, last-layer, block2]"),
      /selections\[3\] \(the same as selections\[1\]\): a selection listed twice/,
    ],
    [
      "grid point",
      text.replace(
        "selections: [none, block2, last-layer]",
        "selections: [none, { selector: by-name, options: { include: [block2, head], multipliers: { head: [0.1, 0.1] } } }]",
      ),
      /selections\[1\] \(two points of its grid\)/,
    ],
    [
      "label",
      text.replace(
        "selections: [none, block2, last-layer]",
        "selections: [block2, { selector: by-name, options: { include: block3, label: block2 } }]",
      ),
      /selections\[1\]: this selection has the label "block2", as selections\[0\] has/,
    ],
  ];
  for (const [name, t, pattern] of cases) {
    const file = `${dir}/${name.replace(" ", "-")}.yaml`;
    await Deno.writeTextFile(file, t);
    userError(await runCli(["validate", file], [dir]), pattern);
    const r = await runCli(["run", file, "--out", `${dir}/out-${name.replace(" ", "-")}`], [dir]);
    userError(r, pattern);
    assert.equal(await exists(`${dir}/out-${name.replace(" ", "-")}`), false, `${name}: no run directory`);
  }
});

Deno.test("integrity: what can be known before pre-training fails before the run directory exists", async () => {
  const dir = await tempDir("early");
  const text = await Deno.readTextFile(TINY);
  const cases: Array<[string, string, RegExp]> = [
    [
      "by-name pattern that matches nothing",
      text.replace(
        "selections: [none, block2, last-layer]",
        "selections: [{ selector: by-name, options: { include: blok2 } }]",
      ),
      /selections\[0\]: selection blok2 cannot run on small-cnn: pattern\(s\) "blok2" match no variable/,
    ],
    [
      "target larger than the data",
      text.replace("target: { train: 100, val: 50, test: 200 }", "target: { train: 1900, val: 200, test: 200 }"),
      /target: target\.train \+ target\.val = 1900 \+ 200 = 2100 labelled target examples are asked for, but the target domain has only 2000/,
    ],
    [
      "test split larger than the data",
      text.replace("target: { train: 100, val: 50, test: 200 }", "target: { train: 100, val: 50, test: 5000 }"),
      /target\.test = 5000 test examples are asked for, but the target domain has only 1000/,
    ],
  ];
  for (const [name, t, pattern] of cases) {
    const file = `${dir}/${name.replaceAll(" ", "-")}.yaml`;
    await Deno.writeTextFile(file, t);
    const started = performance.now();
    const r = await runCli(["run", file, "--out", `${dir}/out`, "--cache", `${dir}/cache`], [dir]);
    userError(r, pattern);
    assert.doesNotMatch(r.stderr, /pre-training/, `${name}: refused before pre-training`);
    assert.ok(performance.now() - started < 30_000);
    assert.equal(await exists(`${dir}/out`), false, `${name}: no run directory`);
    assert.equal(await exists(`${dir}/cache`), false, `${name}: nothing cached`);
    userError(await runCli(["validate", file], [dir]), pattern);
  }
});

Deno.test("integrity: an alias bomb, a huge grid and a huge file are user errors, refused at once", async () => {
  const dir = await tempDir("big");
  const text = await Deno.readTextFile(TINY);
  const bomb = `a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]
`;
  await Deno.writeTextFile(`${dir}/bomb.yaml`, bomb + text);
  userError(await runCli(["validate", `${dir}/bomb.yaml`], [dir]), /alias/i);

  const grid = text.replace(
    "learningRates: [0.001]",
    `learningRates: [${Array.from({ length: 20000 }, (_, i) => (i + 1) * 1e-6).join(", ")}]`,
  );
  await Deno.writeTextFile(`${dir}/grid.yaml`, grid);
  userError(
    await runCli(["validate", `${dir}/grid.yaml`], [dir]),
    /= 120,000 trials, more than the limit of 100,000; make the grid smaller, or raise the limit with --max-trials/,
  );

  await Deno.writeTextFile(`${dir}/huge.yaml`, text + `# ${"x".repeat(2 * 1024 * 1024)}\n`);
  userError(
    await runCli(["validate", `${dir}/huge.yaml`], [dir]),
    /more than 1,048,576: a pipeline file describes a grid/,
  );

  // a large grid is accepted with a warning and an estimated time
  const large = text.replace(
    "  - shift: corruption\n    options: { name: gaussian_noise, severity: 5, constants: imagenet-c }",
    "  - shift: corruption\n    options: { name: all, severity: [1, 2, 3, 4, 5], constants: imagenet-c }",
  ).replace("learningRates: [0.001]", "learningRates: [0.01, 0.001, 0.0001, 0.00001]");
  await Deno.writeTextFile(`${dir}/large.yaml`, large);
  const ok = await runCli(["validate", `${dir}/large.yaml`], [dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /= 912 trials/);
  const larger = large.replace("seed: 1", "seed: 1\nseeds: 2");
  await Deno.writeTextFile(`${dir}/larger.yaml`, larger);
  const warned = await runCli(["validate", `${dir}/larger.yaml`], [dir]);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /warning: this grid has 1,824 trials: roughly \S+ of fine-tuning/);
});

Deno.test("integrity: plugin code that never finishes, or does not parse, is named with its file", async () => {
  const dir = await tempDir("hang");
  const text = await Deno.readTextFile(TINY);
  const modules: Array<[string, string, string, RegExp]> = [
    [
      "hanging_make.ts",
      `import { defineShift, Effect, Schema } from "${ROOT}mod.ts";
export default defineShift({ name: "hangs", description: "make never completes", options: Schema.Struct({}), make: () => Effect.never });
`,
      "hangs",
      /shifts\[0\]: shift plugin "hangs" did not finish starting \(make\) within 2s.*hanging_make\.ts/s,
    ],
    [
      "pending_await.ts",
      `await new Promise(() => {});\nexport default {};\n`,
      "anything",
      /pending_await\.ts: custom plugin .* did not finish loading within 2s \(a top-level await that never settles\?\)/s,
    ],
    [
      "syntax_error.ts",
      `export default {\n  kind: "shift",\n  name: oops oops\n};\n`,
      "anything",
      /syntax_error\.ts: custom plugin .* failed to load: SyntaxError: .* \(line 3, column \d+\)/,
    ],
  ];
  for (const [module, source, shift, pattern] of modules) {
    await Deno.writeTextFile(`${dir}/${module}`, source);
    const file = `${dir}/${module}.yaml`;
    await Deno.writeTextFile(
      file,
      text.replace("name: tiny", `name: tiny\nplugins: [${module}]`).replace(
        "  - shift: corruption\n    options: { name: gaussian_noise, severity: 5, constants: imagenet-c }\n  - label-permutation",
        `  - ${shift}`,
      ),
    );
    const started = performance.now();
    const r = await runCli(["run", file, "--out", `${dir}/out`], [dir], [], { SCALPEL_PLUGIN_TIMEOUT: "2" });
    userError(r, pattern);
    assert.ok(performance.now() - started < 20_000, `${module}: gave up after its time limit`);
    assert.equal(await exists(`${dir}/out`), false);
  }
});

Deno.test("integrity: a failed trial is recorded, the others go on, exit 1; --retry-failed runs it again", async () => {
  const dir = await tempDir("failed");
  const file = fixture("pipelines/flaky.yaml");
  const out = `${dir}/run`;
  const cache = `${dir}/cache`;
  const first = await runCli(["run", file, "--out", out, "--cache", cache], [dir], [], { SCALPEL_TEST_FLAKY: "1" });
  userError(
    first,
    /2 of 6 trials failed \(the first: gaussian_noise-5-inet × flaky seed 0 lr 0\.001: .*flaky selector failed on purpose.*flaky_selector\.ts\)\]\)\. /,
  );
  assert.match(first.stderr, /FAILED \(PluginError: .*selector plugin "flaky" failed in multipliers/);
  const lines = (await linesOf(out)).map((l) => JSON.parse(l));
  assert.equal(lines.length, 6, "every trial has a line");
  const failed = lines.filter((l) => l.status === "failed");
  assert.deepEqual(failed.map((l) => l.selection), ["flaky", "flaky"]);
  assert.equal(failed[0].error.tag, "PluginError");
  assert.match(failed[0].error.message, /flaky_selector\.ts/);
  const summary = await Deno.readTextFile(`${out}/summary.md`);
  assert.match(summary, /\| flaky \| failed † \| failed † \|/);
  assert.match(summary, /† 2 trial\(s\) of the marked cells failed/);

  // resuming does not run failed trials again unless asked to
  const again = await runCli(["run", file, "--out", out, "--cache", cache], [dir]);
  userError(again, /2 of 6 trials failed/);
  assert.match(again.stdout, /0 trials run .*, 6 resumed/);
  const retry = await runCli(["run", file, "--out", out, "--cache", cache, "--retry-failed"], [dir]);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /2 trials run .*, 4 resumed/);
  const after = (await linesOf(out)).map((l) => JSON.parse(l));
  assert.equal(after.length, 8, "the failed lines stay; the new lines are appended");
  assert.deepEqual(after.slice(6).map((l) => [l.selection, l.status]), [["flaky", "ok"], ["flaky", "ok"]]);
  assert.doesNotMatch(await Deno.readTextFile(`${out}/summary.md`), /†/);
});

Deno.test("integrity: messages name the flag, the model file, the cache", async () => {
  const dir = await tempDir("messages");
  userError(
    await runCli(["run", TINY, "--seed", "-1", "--out", `${dir}/o`], [dir]),
    /^error: --seed: "-1" is not a seed/,
  );
  userError(
    await runCli(["run", TINY, "--seed", "abc", "--out", `${dir}/o`], [dir]),
    /^error: --seed: "abc" is not a seed/,
  );
  userError(
    await runCli(["validate", TINY, "--backend", "gpu"], [dir]),
    /^error: --backend: "gpu" is not a backend\. Give one of wasm, cpu, node, webgpu, auto\./,
  );
  userError(await runCli(["run", TINY, "--max-trials", "0", "--out", `${dir}/o`], [dir]), /^error: --max-trials: "0"/);
  const text = await Deno.readTextFile(TINY);
  await Deno.writeTextFile(
    `${dir}/src.yaml`,
    text.replace("model: small-cnn", `source: { load: ${dir}/nope/model.json }`),
  );
  userError(
    await runCli(["validate", `${dir}/src.yaml`], [dir]),
    /^error: Model file .*nope\/model\.json: cannot be read/,
  );
  await Deno.writeTextFile(`${dir}/not-a-cache.txt`, "x");
  userError(
    await runCli(["run", TINY, "--out", `${dir}/o`, "--cache", `${dir}/not-a-cache.txt`], [dir]),
    /^error: Model cache .*not-a-cache\.txt: is not a directory/,
  );
  assert.equal(await exists(`${dir}/o`), false);
});

Deno.test("integrity: SIGTERM during pre-training stops the run within seconds, releases the lock, caches nothing", async () => {
  const dir = await tempDir("sigterm");
  const text = (await Deno.readTextFile(TINY)).replace(
    "pretrain: { epochs: 1, batchSize: 64, examples: 1000 }",
    "pretrain: { epochs: 3, batchSize: 64 }",
  ).replace("trainLimit: 2000", "trainLimit: 20000");
  await Deno.writeTextFile(`${dir}/long.yaml`, text);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname",
      "--allow-run",
      `--allow-write=${dir}`,
      `${ROOT}cli.ts`,
      "run",
      `${dir}/long.yaml`,
      "--out",
      `${dir}/out`,
      "--cache",
      `${dir}/cache`,
      "--concurrency",
      "1",
    ],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  while (!/pre-training small-cnn on 20000/.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += value;
  }
  await new Promise((ok) => setTimeout(ok, 1500)); // well inside the first of three epochs over 20,000 images
  const signalled = performance.now();
  child.kill("SIGTERM");
  const rest = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
  })();
  const status = await child.status;
  await rest;
  const seconds = (performance.now() - signalled) / 1000;
  assert.equal(status.code, 130, stderr);
  assert.ok(seconds < 10, `stopped ${seconds.toFixed(1)} s after SIGTERM`);
  assert.match(stderr, /interrupted: results already recorded are kept/);
  assert.doesNotMatch(stderr, /epoch 3\/3/);
  assert.equal(await exists(`${dir}/out/run.lock`), false, "lock released");
  const cached = await Array.fromAsync(Deno.readDir(`${dir}/cache`)).catch(() => []);
  assert.ok(!cached.some((e) => e.name.endsWith(".weights")), "no half-trained model cached");
});
