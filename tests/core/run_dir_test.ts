import { strict as assert } from "node:assert";
import { Effect, Exit } from "effect";
import fc from "fast-check";
import { appendOutcome, openRunDirectory, readOutcomes, type RunManifest } from "../../core/run_dir.ts";
import { hostName, LOCK_FILE, lockRunDirectory } from "../../core/lock.ts";
import { readLines, writeFileAtomic } from "../../core/store.ts";
import type { ResultLine } from "../../core/results.ts";
import { tempDir, testLayer } from "../helpers.ts";

const run = <A, E>(e: Effect.Effect<A, E, never>) => Effect.runPromiseExit(e);
const provided = <A, E, R>(e: Effect.Effect<A, E, R>) =>
  Effect.scoped(e).pipe(Effect.provide(testLayer)) as Effect.Effect<A, E, never>;

const line = (key: string, test = 0.5): ResultLine => ({
  status: "ok",
  key,
  shift: "s",
  shiftRef: {},
  selection: "x",
  selectionRef: {},
  seed: 0,
  lr: 0.01,
  epoch: 1,
  val: { accuracy: 0.5 },
  test: { accuracy: test },
  valCurve: [0.1, 0.5],
  trainedParams: 10,
  trainedGroups: {},
  groupActivity: {},
  seconds: 1,
  pretrained: "p",
});

const manifest: RunManifest = { pipeline: { name: "t" }, data: "d1", backend: "wasm", versions: {}, trials: 3 };
const key = (i: number) => i.toString(16).padStart(16, "0");

Deno.test("store: readLines cuts a partial last line off the file, whatever its length", async () => {
  const dir = await tempDir("lines");
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit: "grapheme-ascii", maxLength: 20 }).filter((s) => !s.includes("\n")), {
        maxLength: 5,
      }),
      fc.string({ unit: "grapheme-ascii", maxLength: 30 }).filter((s) => !s.includes("\n")),
      async (whole, partial) => {
        const file = `${dir}/f.jsonl`;
        await Deno.writeTextFile(file, whole.map((l) => l + "\n").join("") + partial);
        const r = await Effect.runPromise(readLines(file));
        assert.equal(r.cutBytes, new TextEncoder().encode(partial).length);
        assert.deepEqual(r.lines.map((l) => l.text), whole.filter((l) => l.trim() !== ""));
        const after = await Deno.readTextFile(file);
        assert.equal(after, whole.map((l) => l + "\n").join(""), "the file now ends at its last newline");
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("run directory: appending after a cut line starts a fresh line (the resume bug)", async () => {
  const dir = await tempDir("rundir");
  const out = `${dir}/run`;
  await Deno.mkdir(out);
  await Deno.writeTextFile(`${out}/pipeline.resolved.json`, JSON.stringify(manifest));
  const whole = [line(key(1)), line(key(2))].map((l) => JSON.stringify(l) + "\n").join("");
  await Deno.writeTextFile(`${out}/results.jsonl`, whole + JSON.stringify(line(key(3))).slice(0, 40));
  const exit = await run(provided(Effect.gen(function* () {
    const r = yield* openRunDirectory(out, manifest);
    assert.equal(r.previous.length, 2);
    assert.ok(r.cutBytes === 40);
    yield* appendOutcome(r, line(key(3), 0.75));
  })));
  assert.ok(Exit.isSuccess(exit), String(exit));
  const lines = (await Deno.readTextFile(`${out}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.key), [key(1), key(2), key(3)]);
  assert.equal(lines[2].test.accuracy, 0.75);
  assert.equal(await Deno.stat(`${out}/${LOCK_FILE}`).then(() => true, () => false), false, "lock released");
});

Deno.test("run directory: a malformed line refuses the resume with its line number; the file is untouched", async () => {
  const dir = await tempDir("rundir-bad");
  for (
    const [name, bad, number] of [
      ["null", "null", 2],
      ["empty object", "{}", 2],
      ["not JSON", "{oops", 2],
      ["wrong field", JSON.stringify({ ...line(key(9)), seed: -1 }), 2],
    ] as const
  ) {
    const out = `${dir}/${name.replaceAll(" ", "-")}`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/pipeline.resolved.json`, JSON.stringify(manifest));
    const text = `${JSON.stringify(line(key(1)))}\n${bad}\n${JSON.stringify(line(key(2)))}\n`;
    await Deno.writeTextFile(`${out}/results.jsonl`, text);
    const exit = await run(provided(openRunDirectory(out, manifest)));
    assert.ok(Exit.isFailure(exit), name);
    const error = exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error : undefined;
    assert.equal(error?._tag, "RunDirectoryError", `${name}: ${String(exit)}`);
    assert.match(error!.describe(), new RegExp(`line ${number} of results\\.jsonl cannot be resumed from`), name);
    assert.equal(await Deno.readTextFile(`${out}/results.jsonl`), text, `${name}: file untouched`);
  }
});

Deno.test("run directory: damaged pipeline.resolved.json, other pipeline, other data", async (t) => {
  const dir = await tempDir("rundir-manifest");
  const setup = async (name: string, resolved: string) => {
    const out = `${dir}/${name}`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/pipeline.resolved.json`, resolved);
    await Deno.writeTextFile(`${out}/results.jsonl`, JSON.stringify(line(key(1))) + "\n");
    return out;
  };
  const refused = async (out: string, pattern: RegExp) => {
    const exit = await run(provided(openRunDirectory(out, manifest)));
    const error = exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error : undefined;
    assert.equal(error?._tag, "RunDirectoryError", String(exit));
    assert.match(error!.describe(), pattern);
  };
  await t.step(
    "truncated",
    async () =>
      refused(await setup("cut", JSON.stringify(manifest).slice(0, 30)), /pipeline\.resolved\.json is damaged/),
  );
  await t.step("another pipeline", async () =>
    refused(
      await setup("other", JSON.stringify({ ...manifest, pipeline: { name: "u" } })),
      /holds a run of a different pipeline/,
    ));
  await t.step("other data", async () =>
    refused(
      await setup("data", JSON.stringify({ ...manifest, data: "d0" })),
      /results computed on other data: the dataset's files changed/,
    ));
  await t.step("without results, another pipeline's directory is taken over", async () => {
    const out = `${dir}/empty`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/pipeline.resolved.json`, JSON.stringify({ ...manifest, pipeline: { name: "u" } }));
    const exit = await run(provided(openRunDirectory(out, manifest)));
    assert.ok(Exit.isSuccess(exit), String(exit));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/pipeline.resolved.json`)).pipeline, { name: "t" });
  });
});

/** A process id that certainly ran and has exited. */
const deadPid = async (): Promise<number> => {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
};

Deno.test("lock: a live holder refuses, a dead one on this host is taken over, another host's never", async (t) => {
  const dir = await tempDir("lock");
  const lockWith = async (name: string, owner: Record<string, unknown>) => {
    const out = `${dir}/${name}`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/${LOCK_FILE}`, JSON.stringify({ since: "2026-01-01T00:00:00Z", ...owner }));
    const exit = await run(provided(lockRunDirectory(out)));
    return { out, exit };
  };
  const failure = (exit: Exit.Exit<unknown, { describe(): string }>) =>
    exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error.describe() : "";
  await t.step("held by a live process on this host", async () => {
    const { out, exit } = await lockWith("live", { pid: Deno.pid, host: hostName() });
    assert.match(failure(exit), new RegExp(`is in use by another scalpel run \\(process ${Deno.pid} on `));
    assert.ok(await Deno.stat(`${out}/${LOCK_FILE}`), "the holder's lock stays");
  });
  await t.step("left by a process that exited", async () => {
    const pid = await deadPid();
    const { out, exit } = await lockWith("dead", { pid, host: hostName() });
    assert.ok(Exit.isSuccess(exit), failure(exit));
    assert.equal(await Deno.stat(`${out}/${LOCK_FILE}`).then(() => true, () => false), false, "ours, released");
  });
  await t.step("from another host", async () => {
    const pid = await deadPid();
    const { out, exit } = await lockWith("remote", { pid, host: "elsewhere.example" });
    assert.match(failure(exit), /process \d+ on elsewhere\.example.*never taken over.*delete .*run\.lock/s);
    assert.ok(await Deno.stat(`${out}/${LOCK_FILE}`));
  });
  await t.step("unreadable", async () => {
    const out = `${dir}/junk`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/${LOCK_FILE}`, "garbage");
    const exit = await run(provided(lockRunDirectory(out)));
    assert.match(failure(exit), /lock file run\.lock that scalpel cannot read/);
  });
  await t.step(
    "a run starting up (its lock, and pipeline.resolved.json still being written) refuses by its lock",
    async () => {
      // the moment a second start saw in CI: the first run holds the lock and writes pipeline.resolved.json through a
      // temporary file; the second must be refused as "in use", not as "not a scalpel run directory"
      const out = `${dir}/starting`;
      await Deno.mkdir(out);
      await Deno.writeTextFile(
        `${out}/${LOCK_FILE}`,
        JSON.stringify({ since: "2026-01-01T00:00:00Z", pid: Deno.pid, host: hostName() }),
      );
      await Deno.writeTextFile(`${out}/pipeline.resolved.json.tmp-${Deno.pid}`, "{");
      const exit = await run(provided(openRunDirectory(out, manifest)));
      assert.match(failure(exit), /is in use by another scalpel run/);
    },
  );
  await t.step("two takers at once: exactly one holds it", async () => {
    const out = `${dir}/race`;
    await Deno.mkdir(out);
    const results = await Promise.all(
      [0, 1, 2].map(() => run(provided(lockRunDirectory(out).pipe(Effect.zipRight(Effect.sleep("50 millis")))))),
    );
    // the scopes close after the sleep: at most one could hold the lock at a time
    assert.equal(results.filter(Exit.isSuccess).length, 1, results.map(String).join("\n"));
  });
});

Deno.test("readOutcomes: failed lines and result lines, the latest wins per key", async () => {
  const dir = await tempDir("outcomes");
  const file = `${dir}/results.jsonl`;
  const failed = {
    status: "failed",
    key: key(1),
    shift: "s",
    selection: "x",
    seed: 0,
    lr: 0.01,
    error: { tag: "TrainingError", message: "the loss became NaN" },
    seconds: 0.5,
  };
  await Deno.writeTextFile(
    file,
    [failed, line(key(1)), { ...line(key(2)), val: { accuracy: null } }].map((l) => JSON.stringify(l)).join("\n") +
      "\n",
  );
  const exit = await run(provided(readOutcomes(dir, file)));
  assert.ok(Exit.isSuccess(exit), String(exit));
  const { outcomes } = exit.value;
  assert.deepEqual(outcomes.map((o) => o.status), ["failed", "ok", "ok"]);
  assert.ok(Number.isNaN((outcomes[2] as ResultLine).val.accuracy), "null metric read back as NaN");
});

Deno.test("store: writeFileAtomic replaces a file whole, and removes its temporary file when the write fails", async () => {
  const dir = await tempDir("atomic");
  const file = `${dir}/a.json`;
  await Deno.writeTextFile(file, "old");
  assert.ok(Exit.isSuccess(await run(provided(writeFileAtomic(file, "new")))));
  assert.equal(await Deno.readTextFile(file), "new");
  // the target is a directory: the rename fails after the temporary file was written
  await Deno.mkdir(`${dir}/taken`);
  await Deno.writeTextFile(`${dir}/taken/x`, "keep");
  const failed = await run(provided(writeFileAtomic(`${dir}/taken`, "data")));
  assert.ok(Exit.isFailure(failed));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a.json", "taken"], "no temporary file left");
});
