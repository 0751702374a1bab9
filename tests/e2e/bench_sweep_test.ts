/**
 * `deno task bench:sweep --json --peer` as other tools read it, on a tiny pipeline: one
 * row per pipeline, runner, model-cache state and concurrency, with the spread of the
 * repetitions; the PyTorch peer (bench/torch_sweep.py) runs the same candidates (a
 * selection that trains nothing once per shift, as in scalpel). Needs /usr/bin/python3
 * with torch (fails under CI=true without it, skipped elsewhere).
 */
import { strict as assert } from "node:assert";
import { fixture, ROOT, tempDir } from "../helpers.ts";

const hasTorch = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const CI = Deno.env.get("CI") === "true";

const sweepBench = (args: string[]) =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-sys=uid,gid,hostname,loadavg",
      `--allow-write=${ROOT}.cache`,
      "--allow-run",
      `${ROOT}bench/sweep_bench.ts`,
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();

Deno.test({
  name: "e2e: `bench:sweep --json --peer` prints cold and warm scalpel rows and both PyTorch rows, with the spread",
  ignore: !hasTorch && !CI,
  fn: async () => {
    assert.ok(hasTorch, "/usr/bin/python3 cannot import torch (install Debian's python3-torch)");
    const out = await sweepBench([
      "--pipeline",
      fixture("pipelines/tiny.yaml"),
      "--concurrency",
      "1",
      "--reps",
      "2",
      "--peer",
      "--json",
    ]);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      JSON.parse(l) as Record<string, number | string>
    );
    assert.deepEqual(rows.map((r) => `${r.runner} ${r.cache}`), [
      "scalpel cold",
      "scalpel warm",
      "pytorch-1t cold",
      "pytorch-2t cold",
    ]);
    for (const r of rows) {
      assert.equal(r.pipeline, "tiny");
      const [lo, med, hi] = [r.seconds_min, r.seconds, r.seconds_max] as number[];
      assert.ok(lo > 0 && lo <= med && med <= hi, `spread ${lo} ≤ ${med} ≤ ${hi}`);
      // 2 shifts × 3 selections × 1 learning rate; the peer runs `none` once per shift too
      assert.equal(r.trials, 6);
    }
    for (const r of rows.filter((r) => r.runner === "scalpel")) {
      // one process: its trials took part of the wall time (the rest: start-up, data, pre-training when cold)
      assert.ok((r.trial_seconds as number) > 0 && (r.trial_seconds as number) < (r.seconds_max as number));
    }
    for (const r of rows.filter((r) => String(r.runner).startsWith("pytorch"))) {
      assert.ok((r.pretrain_seconds as number) > 0 && (r.pretrain_seconds as number) < (r.seconds as number));
    }
  },
});

Deno.test("e2e: `bench:sweep --peer` on a shift PyTorch has no twin for says which, before timing anything", async () => {
  const dir = await tempDir("bench-sweep");
  const file = `${dir}/other-shift.yaml`;
  await Deno.writeTextFile(
    file,
    (await Deno.readTextFile(fixture("pipelines/tiny.yaml"))).replace("name: gaussian_noise", "name: fog"),
  );
  const out = await sweepBench(["--pipeline", file, "--concurrency", "1", "--peer", "--json"]);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.notEqual(out.code, 0);
  assert.match(stderr, /shifts\[0\] \(corruption\) has no PyTorch twin in bench\/torch_sweep\.py/);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "", "no row was timed");
});
