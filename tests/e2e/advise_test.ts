/**
 * `scalpel advise` as a user runs it, on real MNIST (fixtures/pipelines/advise.yaml):
 * the full sweep first, as the independent reference. On reversed labels the sweep
 * shows `last-layer` ahead by far more than 3 standard errors, and both strategies must
 * pick it; the budget is never exceeded (and the sweep's compute matches a hand count);
 * every rung's validation curve is exactly the full trial's; the advice is identical
 * with 1 and 2 worker processes and after `kill -9` and a resume; bad input is one
 * paragraph with nothing created.
 */
import { strict as assert } from "node:assert";
import { fixture, runCli, tempDir } from "../helpers.ts";

const PIPELINE = fixture("pipelines/advise.yaml");

const jsonl = async (file: string) =>
  (await Deno.readTextFile(file)).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

/** advice.json without wall times (they differ between runs). */
const adviceOf = async (dir: string) => {
  const a = JSON.parse(await Deno.readTextFile(`${dir}/advice.json`));
  for (const c of a.cells) delete c.seconds;
  return a;
};

/** Rung records without wall times, in a canonical order. */
const recordsOf = async (dir: string) =>
  (await jsonl(`${dir}/rungs.jsonl`)).map((
    r,
  ) => (r.type === "rung" ? { ...r, report: { ...r.report, seconds: 0 } } : r))
    .map((r) => JSON.stringify(r)).sort();

Deno.test("advise: picks the clear winner within its budget, reproducibly, and resumes after kill -9", async (t) => {
  const dir = await tempDir("advise");
  const cache = `${dir}/cache`;
  const sweep = `${dir}/sweep`;
  const r = await runCli(["run", PIPELINE, "--out", sweep, "--cache", cache, "--concurrency", "2", "--quiet"], [dir]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(await Deno.readTextFile(`${sweep}/summary.json`));
  const lines = new Map((await jsonl(`${sweep}/results.jsonl`)).map((l) => [l.key, l]));
  const advise = (out: string, extra: string[] = [], env: Record<string, string> = {}) =>
    runCli(["advise", PIPELINE, "--out", out, "--cache", cache, ...extra], [dir], [], env);

  await t.step("the sweep: on reversed labels last-layer leads by more than 3 SE of the difference", () => {
    const row = summary.cells.filter((c: { shift: string }) => c.shift === "labels-reversed")
      .map((c: { selection: string; metrics: { accuracy: { mean: number; se: number } } }) => ({
        selection: c.selection,
        ...c.metrics.accuracy,
      }))
      .sort((a: { mean: number }, b: { mean: number }) => b.mean - a.mean);
    assert.equal(row[0].selection, "last-layer");
    const seDiff = Math.sqrt(row[0].se ** 2 + row[1].se ** 2);
    assert.ok(row[0].mean - row[1].mean > 3 * seDiff, JSON.stringify(row.slice(0, 2)));
  });

  const halving = `${dir}/halving-1`;
  await t.step("halving: last-layer, never over budget, every rung's curve is its full trial's", async () => {
    const h = await advise(halving, ["--strategy", "halving", "--concurrency", "1"]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /## labels-reversed\n\nPick: last-layer/);
    const advice = await adviceOf(halving);
    assert.equal(advice.cells[0].shift, "labels-reversed");
    assert.equal(advice.cells[0].pick.selection, "last-layer");
    const records = await jsonl(`${halving}/rungs.jsonl`);
    for (const [i, c] of advice.cells.entries()) {
      // by hand: 3 seeds × (start (100 + 300)/3 + 2 lrs × (none: 4 × 100/3; 4 others: 4 × (200 + 100/3) + 300/3))
      assert.equal(
        Math.round(c.sweepUnits),
        Math.round(3 * (400 / 3 + 2 * (400 / 3 + 4 * (4 * (200 + 100 / 3) + 100)))),
      );
      assert.equal(c.ceilingUnits, 0.25 * c.sweepUnits);
      assert.ok(c.spentUnits <= c.ceilingUnits, `${c.spentUnits} > ${c.ceilingUnits}`);
      const mine = records.filter((x) => x.cell.startsWith(`${i}/`));
      const metered = mine.reduce((a: number, x: { report: { compute: number } }) => a + x.report.compute, 0);
      assert.ok(Math.abs(c.spentUnits - (metered + c.seeds.length * 400 / 3)) < 1e-6);
    }
    let compared = 0;
    for (const x of records) {
      const full = lines.get(x.report.key);
      assert.deepEqual(x.report.curve, full.valCurve.slice(0, x.report.curve.length), x.report.key);
      compared++;
    }
    assert.ok(compared >= 10);
    assert.ok(!JSON.stringify(advice).includes('"test"'), "the advice never carries test scores");
    await assert.rejects(Deno.stat(`${halving}/checkpoints`), "checkpoints are removed once the advice is written");
    const html = await Deno.readTextFile(`${halving}/report.html`);
    assert.match(html, /Content-Security-Policy/);
    assert.match(html, /<tr class="pick"><td>last-layer<\/td>/);
  });

  await t.step("the same advice and rung records with 2 worker processes", async () => {
    const two = `${dir}/halving-2`;
    const h = await advise(two, ["--strategy", "halving", "--concurrency", "2"]);
    assert.equal(h.code, 0, h.stderr);
    assert.deepEqual(await adviceOf(two), await adviceOf(halving));
    assert.deepEqual(await recordsOf(two), await recordsOf(halving));
  });

  for (const point of ["trial-epoch:9", "line-write:5"]) {
    await t.step(`killed at ${point}, the same command resumes to the same advice`, async () => {
      const out = `${dir}/crash-${point.replace(":", "-")}`;
      const killed = await advise(out, ["--strategy", "halving", "--concurrency", "1"], {
        SCALPEL_TEST_KILL_AT: point,
      });
      assert.equal(killed.signal, "SIGKILL", killed.stderr);
      await assert.rejects(Deno.stat(`${out}/advice.json`));
      const again = await advise(out, ["--strategy", "halving", "--concurrency", "1"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /resuming: \d+ rung records/);
      assert.deepEqual(await adviceOf(out), await adviceOf(halving));
    });
  }

  await t.step("zero-cost (rgn): last-layer for reversed labels, at a fraction of halving's compute", async () => {
    const out = `${dir}/zero-cost`;
    const z = await advise(out, ["--strategy", "zero-cost", "--signal", "rgn", "--concurrency", "1"]);
    assert.equal(z.code, 0, z.stderr);
    const advice = await adviceOf(out);
    assert.equal(advice.cells[0].pick.selection, "last-layer");
    assert.equal(advice.cells[0].signals.scores.find((s: { rank: number }) => s.rank === 1).selection, "last-layer");
    const halvingAdvice = await adviceOf(halving);
    for (const [i, c] of advice.cells.entries()) {
      assert.ok(c.spentUnits <= c.ceilingUnits);
      assert.ok(c.spentUnits < halvingAdvice.cells[i].spentUnits);
    }
  });

  await t.step("bad input: one paragraph naming the flag, exit 1, nothing created", async () => {
    for (
      const [args, flag] of [
        [["--budget", "0.001"], "--budget"],
        [["--budget", "2"], "--budget"],
        [["--strategy", "asha"], "--strategy"],
        [["--strategy", "zero-cost", "--signal", "fisher"], "--signal"],
        [["--seed-index", "3"], "--seed-index"],
      ] as const
    ) {
      const out = `${dir}/bad-${flag.slice(2)}-${args.at(-1)}`;
      const b = await advise(out, [...args]);
      assert.equal(b.code, 1, `${args.join(" ")}: ${b.stderr}`);
      assert.ok(b.stderr.includes(flag), b.stderr);
      assert.ok(!b.stderr.includes("    at "), "no stack trace");
      await assert.rejects(Deno.stat(out), `${args.join(" ")} created ${out}`);
    }
  });
});
