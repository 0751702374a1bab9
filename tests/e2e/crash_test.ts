/**
 * `kill -9` at any moment of a run, then the same command again: the same result lines
 * (by key, every field but the wall time) as a run that was never interrupted. The
 * process kills itself at named points (core/killpoint.ts) — during pre-training,
 * between a cached model's two files, mid-trial, between the two halves of a result
 * line, between the summary files — in one process and with two worker processes.
 */
import { strict as assert } from "node:assert";
import process from "node:process";
import { fixture, runCli, tempDir } from "../helpers.ts";

const TINY = fixture("pipelines/tiny.yaml");

const linesOf = async (dir: string) => (await Deno.readTextFile(`${dir}/results.jsonl`)).split("\n").filter((l) => l);

const byKey = async (dir: string) =>
  Object.fromEntries((await linesOf(dir)).map((l) => JSON.parse(l)).map((l) => [l.key, { ...l, seconds: 0 }]));

const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const copyDir = async (from: string, to: string) => {
  await Deno.mkdir(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
};

Deno.test("crash: kill -9 at any point, then the same command, gives the uninterrupted run's result lines", async (t) => {
  const dir = await tempDir("crash");
  const reference = `${dir}/reference`;
  const warm = `${dir}/cache-warm`;
  const r = await runCli(["run", TINY, "--out", reference, "--cache", warm, "--concurrency", "1"], [dir]);
  assert.equal(r.code, 0, r.stderr);
  const expected = await byKey(reference);
  assert.equal(Object.keys(expected).length, 6);
  const expectedCells = JSON.parse(await Deno.readTextFile(`${reference}/summary.json`)).cells;

  const cases: Array<[string, string, "parent" | "worker"]> = [
    ["1", "pretrain-epoch", "parent"],
    ["1", "cache-write", "parent"],
    ["1", "trial-epoch:3", "parent"],
    ["1", "line-write:2", "parent"],
    ["1", "summary", "parent"],
    ["2", "pretrain-epoch", "parent"],
    ["2", "trial-epoch:2", "worker"],
    ["2", "line-write:3", "parent"],
    ["2", "summary", "parent"],
  ];
  for (const [concurrency, point, who] of cases) {
    await t.step(`--concurrency ${concurrency}, killed at ${point} (${who})`, async () => {
      const name = `${concurrency}-${point.replace(":", "-")}`;
      const out = `${dir}/run-${name}`;
      // a crash during pre-training needs a cold cache; the others start warm
      const cache = `${dir}/cache-${name}`;
      if (!point.startsWith("pretrain") && point !== "cache-write") await copyDir(warm, cache);
      const args = ["run", TINY, "--out", out, "--cache", cache, "--concurrency", concurrency];
      const crashed = await runCli(args, [dir], [], { SCALPEL_TEST_KILL_AT: point });
      if (who === "parent") {
        assert.equal(crashed.signal, "SIGKILL", `killed itself at ${point}:\n${crashed.stderr}`);
      } else {
        assert.equal(crashed.code, 1, crashed.stderr);
        assert.match(
          crashed.stderr,
          /^error: Worker \d of the parallel run stopped \(killed by a signal\) while running trial/m,
        );
      }
      // workers never outlive their parent
      const workers = [...crashed.stderr.matchAll(/worker \d started \(process (\d+)\)/g)].map((m) => Number(m[1]));
      if (concurrency === "2" && point !== "pretrain-epoch") assert.equal(workers.length, 2, crashed.stderr);
      for (let i = 0; i < 100 && workers.some(running); i++) await new Promise((ok) => setTimeout(ok, 100));
      assert.deepEqual(workers.filter(running), [], "no worker process left running");

      const resumed = await runCli(args, [dir]);
      assert.equal(resumed.code, 0, resumed.stderr);
      const lines = await linesOf(out);
      assert.equal(lines.length, 6, `one whole line per trial:\n${lines.join("\n")}`);
      assert.deepEqual(await byKey(out), expected);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/summary.json`)).cells, expectedCells);
      assert.equal(await Deno.stat(`${out}/run.lock`).then(() => true, () => false), false);
    });
  }
});
