/**
 * `deno task bench --json` as other tools read it: one JSON object per line with the
 * documented field names, for both zoo models, every subset, and 1 and 2 wasm threads
 * (the second count runs in a child process).
 */
import { strict as assert } from "node:assert";
import { ROOT } from "../helpers.ts";

Deno.test("e2e: `bench --json` prints one row per model, subset, cache setting and thread count", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname",
      "--allow-run",
      `${ROOT}bench/train_bench.ts`,
      "--json",
      "--reps",
      "1",
      "--batches",
      "1",
      "--threads",
      "1,2",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  // per model and thread count: all, block3 ×2, last-layer ×2 (without and with the prefix cache), pretrain
  assert.equal(rows.length, 2 * 6 * 2, lines.join("\n"));
  for (const r of rows) {
    assert.deepEqual(Object.keys(r).sort(), [
      "backend",
      "batch",
      "infer_examples_per_s",
      "model",
      "prefix_cache",
      "subset",
      "threads",
      "train_examples_per_s",
      "train_max",
      "train_min",
    ]);
    assert.equal(r.backend, "wasm");
    assert.equal(r.batch, r.subset === "pretrain" ? 128 : 64);
    assert.ok((r.train_examples_per_s as number) > 0 && (r.infer_examples_per_s as number) > 0);
    const [lo, med, hi] = [r.train_min, r.train_examples_per_s, r.train_max] as number[];
    assert.ok(lo <= med && med <= hi, `spread ${lo} ≤ ${med} ≤ ${hi}`);
  }
  const seen = new Set(rows.map((r) => `${r.model} ${r.subset} ${r.prefix_cache} ${r.threads}`));
  assert.equal(seen.size, rows.length, "no row twice");
  for (const model of ["small-cnn", "resnet-mini"]) {
    for (const threads of [1, 2]) {
      assert.ok(seen.has(`${model} all false ${threads}`));
      assert.ok(seen.has(`${model} last-layer true ${threads}`));
      assert.ok(seen.has(`${model} pretrain false ${threads}`));
    }
  }
});

Deno.test("e2e: `bench --rounds 2` runs the bench twice and prints each rate's median with its smallest and largest round", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname,loadavg",
      "--allow-run",
      `${ROOT}bench/train_bench.ts`,
      ...["--rounds", "2", "--reps", "1", "--batches", "1", "--threads", "1"],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(stderr, /round 1 of 2/);
  assert.match(stderr, /round 2 of 2/);
  const table = new TextDecoder().decode(out.stdout).split("Over 2 rounds")[1] ?? "";
  const lines = table.split("\n").filter((l) => /^\| (small-cnn|resnet-mini) \|/.test(l));
  assert.equal(lines.length, 2 * 6, table); // both models: all, block3 ×2, last-layer ×2, pretrain
  for (const l of lines) {
    // "best scalpel ex/s" is "median (smallest–largest)"; without --peer the PyTorch cells are "–"
    const m = l.match(/\| (\d+) \((\d+)–(\d+)\) \| – \| – \| – \| – \|$/);
    assert.ok(m, l);
    const [med, lo, hi] = [m[1], m[2], m[3]].map(Number);
    assert.ok(lo <= med && med <= hi && lo > 0, l);
  }
});
