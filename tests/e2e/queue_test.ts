/**
 * Runs on many machines, as a user starts them: `scalpel worker --queue URL` processes
 * and `scalpel run FILE --queue URL`, against a real redis-server started per test (no
 * mock of Redis or BullMQ). The CLI is started without network permission, as
 * `deno task scalpel` starts it, so every test also goes through its re-start with
 * exactly `--allow-net=host:port`.
 * @module
 */
import assert from "node:assert/strict";
import { fixture, ROOT, runCli, tempDir } from "../helpers.ts";
import { isRunning } from "../../core/lock.ts";
import { skipQueueTests, startRedis, startTlsRedis } from "../redis.ts";

const PERMISSIONS = ["--allow-read", "--allow-env", "--allow-sys=uid,gid,hostname", "--allow-run"];

/** A CLI process in the background, its output collected as it comes. */
const spawnCli = (args: string[], writable: string[], env: Record<string, string> = {}) => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, `--allow-write=${writable.join(",")}`, `${ROOT}cli.ts`, ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    child,
    output: () => text,
    wait: async () => {
      const status = await child.status;
      await pumped;
      return status;
    },
    kill: async (signal: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* gone */ }
      await child.status;
      await pumped;
    },
  };
};

const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, seconds: number) => {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
};

/** The complete lines of results.jsonl (a line being appended while the test reads is left out). */
const readLines = async (file: string): Promise<Record<string, unknown>[]> => {
  const text = await Deno.readTextFile(file).catch(() => "");
  const whole = text.slice(0, text.lastIndexOf("\n") + 1);
  return whole.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
};

/** Result lines by key, without `seconds` (the one field that may differ). */
const byKey = (lines: Record<string, unknown>[]) =>
  new Map(lines.map((l) => {
    const { seconds: _, ...rest } = l;
    return [l.key as string, rest];
  }));

const assertSameResults = (got: Record<string, unknown>[], want: Record<string, unknown>[]) => {
  const keys = got.map((l) => l.key);
  assert.equal(new Set(keys).size, keys.length, "no trial is recorded twice");
  assert.deepEqual(byKey(got), byKey(want));
};

/** Files under `dir` that contain `needle`. */
const filesContaining = async (dir: string, needle: string): Promise<string[]> => {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && new TextDecoder().decode(await Deno.readFile(p)).includes(needle)) found.push(p);
    }
  };
  await walk(dir);
  return found;
};

const QUEUE = fixture("pipelines/queue.yaml");

/** The local run every queued run is compared with (computed once). */
let local: Record<string, unknown>[] | undefined;
const localResults = async (cache: string, dir: string) => {
  if (local) return local;
  const out = `${dir}/local`;
  const r = await runCli(["run", QUEUE, "--out", out, "--cache", cache, "--quiet", "--concurrency", "1"], [dir, cache]);
  assert.equal(r.code, 0, r.stderr);
  local = await readLines(`${out}/results.jsonl`);
  assert.equal(local.length, 24);
  return local;
};

const startWorker = (url: string, cache: string, extra: string[] = [], env: Record<string, string> = {}) =>
  spawnCli(["worker", "--queue", url, "--cache", `${cache}/models`, "--concurrency", "1", ...extra], [cache], env);

/** The pid of the process that serves the queue (the worker re-started itself with network access). */
const servingPid = (output: string): number | undefined => {
  const m = /as process (\d+)/.exec(output);
  return m ? Number(m[1]) : undefined;
};

Deno.test({
  name: "queue: a queued run records the same results as a local run, with 1 worker and with 3",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("queue-same");
    const cache = `${dir}/cache`;
    const want = await localResults(`${cache}/models`, dir);
    const password = "s3cret-Pw-913";
    const redis = await startRedis({ password });
    const url = `redis://:${password}@127.0.0.1:${redis.port}`;
    const env = { SCALPEL_TEST_QUEUE: url };
    try {
      for (const count of [1, 3]) {
        const workers = Array.from(
          { length: count },
          (_, i) => startWorker("env:SCALPEL_TEST_QUEUE", `${dir}/w${count}-${i}`, [], env),
        );
        const out = `${dir}/queued-${count}`;
        const run = spawnCli(
          ["run", QUEUE, "--out", out, "--cache", `${cache}/models`, "--queue", "env:SCALPEL_TEST_QUEUE"],
          [dir],
          env,
        );
        const status = await run.wait();
        for (const w of workers) await w.kill("SIGTERM");
        assert.equal(status.code, 0, run.output());
        assert.match(run.output(), /24 trials run by the workers of queue redis:\/\/:\*\*\*@127\.0\.0\.1/);
        assertSameResults(await readLines(`${out}/results.jsonl`), want);
        if (count === 3) {
          // every worker served some of the trials
          for (const w of workers) assert.match(w.output(), /queue trial [0-9a-f]{16} .*: done/, w.output());
        }
        for (const text of [run.output(), ...workers.map((w) => w.output())]) {
          assert.ok(!text.includes(password), "the password is never printed");
        }
      }
      assert.deepEqual(await filesContaining(dir, password), [], "the password is never written to a file");
      // a finished run leaves the queue
      const status = await runCli(["queue", "status", "--queue", "env:SCALPEL_TEST_QUEUE"], [dir], [], env);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /no runs on this queue/);
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "queue: `advise --queue` gives the same advice and rung records as a local advise; the run leaves the queue",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("queue-advise");
    const cache = `${dir}/cache/models`;
    const pipeline = fixture("pipelines/advise.yaml");
    const advice = async (out: string) => {
      const a = JSON.parse(await Deno.readTextFile(`${out}/advice.json`));
      for (const c of a.cells) delete c.seconds;
      return a;
    };
    const records = async (out: string) =>
      (await readLines(`${out}/rungs.jsonl`)).map((r) =>
        JSON.stringify({ ...r, report: { ...(r.report as Record<string, unknown>), seconds: 0 } })
      ).sort();
    const local = await runCli(
      ["advise", pipeline, "--out", `${dir}/local`, "--cache", cache, "--concurrency", "1", "--quiet"],
      [dir],
    );
    assert.equal(local.code, 0, local.stderr);
    const redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}`;
    try {
      const workers = [startWorker(url, `${dir}/w1`), startWorker(url, `${dir}/w2`)];
      const out = `${dir}/queued`;
      const r = await runCli(["advise", pipeline, "--out", out, "--cache", cache, "--queue", url], [dir]);
      for (const w of workers) await w.kill("SIGTERM");
      assert.equal(r.code, 0, r.stderr + workers.map((w) => w.output()).join("\n"));
      assert.match(r.stderr, /enqueued \d+ rungs on redis:\/\/127\.0\.0\.1/);
      assert.deepEqual(await advice(out), await advice(`${dir}/local`));
      assert.deepEqual(await records(out), await records(`${dir}/local`));
      // rungs continued from a checkpoint that travelled through Redis, on either worker
      assert.match(workers.map((w) => w.output()).join("\n"), /rung [0-9a-f]{16} to epoch [2-9]: (paused|finished)/);
      const status = await runCli(["queue", "status", "--queue", url], [dir]);
      assert.match(status.stdout, /no runs on this queue/);
      const keys = new Deno.Command("redis-cli", { args: ["-p", String(redis.port), "keys", "scalpel:run:*"] })
        .outputSync();
      assert.equal(new TextDecoder().decode(keys.stdout).trim(), "", "no checkpoints left in Redis");
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "queue: a killed worker's trial is run again by another; a CPU-bound trial longer than the lock is not taken away",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("queue-kill");
    const cache = `${dir}/cache`;
    const redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}`;
    try {
      const w1 = startWorker(url, `${dir}/w1`, ["--allow-plugins"]);
      const w2 = startWorker(url, `${dir}/w2`, ["--allow-plugins"]);
      const out = `${dir}/run`;
      const run = spawnCli(
        ["run", fixture("pipelines/busy.yaml"), "--out", out, "--cache", `${cache}/models`, "--queue", url],
        [dir],
      );
      // both trials (62 s of CPU each) are taken, one per worker
      await waitFor(
        "both workers to take a trial",
        () => /run [0-9a-f]{16} \(busy/.test(w1.output()) && /run [0-9a-f]{16} \(busy/.test(w2.output()),
        120,
      );
      const pid = servingPid(w1.output());
      assert.ok(pid, w1.output());
      await new Promise((r) => setTimeout(r, 2000));
      const killedAt = Date.now();
      Deno.kill(pid, "SIGKILL");
      await w1.wait();
      const status = await run.wait();
      const after = (Date.now() - killedAt) / 1000;
      await w2.kill("SIGTERM");
      assert.equal(status.code, 0, run.output() + w2.output());
      const lines = await readLines(`${out}/results.jsonl`);
      assert.equal(lines.length, 2, "nothing lost, nothing twice");
      assert.equal(new Set(lines.map((l) => l.key)).size, 2);
      for (const l of lines) assert.notEqual(l.status, "failed", JSON.stringify(l));
      // worker 2 ran its own CPU-bound trial once (its lock was renewed throughout), and then the killed one
      const done = [...w2.output().matchAll(/busy trial ([0-9a-f]{16}) .*: done/g)].map((m) => m[1]);
      assert.deepEqual([...done].sort(), lines.map((l) => l.key as string).sort(), w2.output());
      assert.ok(after < 150, `the run finished ${after.toFixed(0)} s after the kill`);
      console.error(`(the run finished ${after.toFixed(0)} s after the kill)`);
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "queue: a coordinator killed mid-run resumes when started again; Redis restarted empty mid-run is re-filled",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("queue-restart");
    const cache = `${dir}/cache`;
    const want = await localResults(`${cache}/models`, dir);
    let redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}`;
    const worker = startWorker(url, `${dir}/w`);
    const runs: ReturnType<typeof spawnCli>[] = [];
    try {
      // 1. kill -9 the coordinator once a result is recorded, then run the same command again
      const out = `${dir}/coordinator`;
      const args = ["run", QUEUE, "--out", out, "--cache", `${cache}/models`, "--queue", url];
      const first = spawnCli(args, [dir]);
      runs.push(first);
      await waitFor("a first result", async () => (await readLines(`${out}/results.jsonl`)).length > 0, 120);
      const lock = JSON.parse(await Deno.readTextFile(`${out}/run.lock`));
      Deno.kill(lock.pid, "SIGKILL");
      await first.kill("SIGKILL");
      // the lock is taken over only once its pid is gone; seen once in CI: the next run started while the
      // killed pid still answered, and found the run directory in use
      await waitFor("the killed coordinator's pid to be gone", () => isRunning(lock.pid) === false, 30);
      const again = await runCli(args, [dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /resuming: \d+ of 24 trials already recorded/);
      assertSameResults(await readLines(`${out}/results.jsonl`), want);

      // 2. Redis killed after the first result and started again, empty, on the same port
      const out2 = `${dir}/redis`;
      const run = spawnCli(["run", QUEUE, "--out", out2, "--cache", `${cache}/models`, "--queue", url], [dir]);
      runs.push(run);
      await waitFor("a first result", async () => (await readLines(`${out2}/results.jsonl`)).length > 0, 120);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 1500));
      redis = await startRedis({ port: redis.port });
      const status = await run.wait();
      assert.equal(status.code, 0, run.output());
      assertSameResults(await readLines(`${out2}/results.jsonl`), want);
    } finally {
      for (const r of runs) await r.kill("SIGTERM");
      await worker.kill("SIGTERM");
      await redis.stop();
    }
  },
});

Deno.test({
  name: "queue: unreachable and malformed addresses, relative plugin imports and a worker without --allow-plugins",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await tempDir("queue-bad");
    const cache = `${dir}/cache/models`;
    await t.step("nothing listens there: one paragraph, no password, no run directory", async () => {
      const r = await runCli(
        ["run", QUEUE, "--out", `${dir}/none`, "--cache", cache, "--queue", "redis://u:hunter22@127.0.0.1:9"],
        [dir],
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Queue redis:\/\/u:\*\*\*@127\.0\.0\.1:9: nothing answers at 127\.0\.0\.1:9/);
      assert.ok(!r.stderr.includes("hunter22") && !r.stdout.includes("hunter22"));
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.equal(await Deno.stat(`${dir}/none`).catch(() => undefined), undefined);
    });
    await t.step("not a redis address", async () => {
      const r = await runCli(["run", QUEUE, "--cache", cache, "--queue", "http://127.0.0.1:9"], [dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has the scheme http, not redis or rediss/);
    });
    const redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}`;
    try {
      await t.step("a plugin module with a relative import cannot travel", async () => {
        const r = await runCli(
          ["run", fixture("pipelines/custom_plugin.yaml"), "--out", `${dir}/rel`, "--cache", cache, "--queue", url],
          [dir],
        );
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /plugins\[0\]: .*invert_shift\.ts imports \.\.\/\.\.\/mod\.ts by a relative path/);
      });
      await t.step(
        "a worker without --allow-plugins refuses custom plugin code; the run stops, saying so",
        async () => {
          const w = startWorker(url, `${dir}/w`);
          const r = await runCli(
            ["run", fixture("pipelines/busy.yaml"), "--out", `${dir}/plugins`, "--cache", cache, "--queue", url],
            [dir],
          );
          await w.kill("SIGTERM");
          assert.equal(r.code, 1, r.stderr);
          assert.match(
            r.stderr,
            /uses custom plugin modules \(busy_evaluator\.ts\) and this worker runs built-in plugins only/,
          );
          assert.match(r.stderr, /--allow-plugins/);
          assert.doesNotMatch(w.output(), /busy trial .*: done/);
        },
      );
      await t.step("queue status and clear", async () => {
        const s = await runCli(["queue", "status", "--queue", url], [dir]);
        assert.equal(s.code, 0, s.stderr);
        const m = /run ([0-9a-f]{16}): busy, 2 trials/.exec(s.stdout);
        assert.ok(m, s.stdout);
        const c = await runCli(["queue", "clear", m[1], "--queue", url], [dir]);
        assert.equal(c.code, 0, c.stderr);
        assert.match(c.stdout, /removed [12] job\(s\)/);
        const s2 = await runCli(["queue", "status", "--queue", url], [dir]);
        assert.match(s2.stdout, /no runs on this queue/);
      });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "queue: a worker whose dataset differs from the run's refuses, naming both content hashes",
  ignore: skipQueueTests,
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, `--allow-write=${ROOT}.cache`, `${ROOT}cli.ts`, "worker", "--stdio"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    const init = {
      type: "init",
      pipeline: { file: QUEUE, overrides: {} },
      cacheDir: `${ROOT}.cache/scalpel/models`,
      dataHash: "0123456789abcdef",
    };
    await w.write(new TextEncoder().encode(JSON.stringify(init) + "\n"));
    await w.close();
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.notEqual(out.code, 0);
    const message = text.split("\n").find((l) => l.includes('"type":"error"'));
    assert.ok(message, text);
    assert.match(message, /differs from the one the run was started on \(content hash 0123456789abcdef\)/);
  },
});

Deno.test({
  name: "queue: rediss:// checks the server's certificate (DENO_CERT adds the authority that signed it)",
  ignore: skipQueueTests,
  fn: async () => {
    const dir = await tempDir("queue-tls");
    const redis = await startTlsRedis(dir);
    try {
      const url = `rediss://localhost:${redis.port}`;
      const trusted = await runCli(["queue", "status", "--queue", url], [dir], [], { DENO_CERT: redis.ca });
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.match(trusted.stdout, /no runs on this queue/);
      const untrusted = await runCli(["queue", "status", "--queue", url], [dir]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /the server's TLS certificate is not trusted .*DENO_CERT/);
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "queue: a coordinator stopped while Redis is down still stops (within the 15 s grace period)",
  ignore: skipQueueTests,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await tempDir("queue-stop");
    const redis = await startRedis();
    const out = `${dir}/run`;
    const run = spawnCli(
      [
        "run",
        fixture("pipelines/tiny.yaml"),
        "--out",
        out,
        "--cache",
        `${dir}/cache`,
        "--queue",
        `redis://127.0.0.1:${redis.port}`,
      ],
      [dir],
    );
    try {
      // no worker: the trials wait in the queue
      await waitFor("the trials to be enqueued", () => /enqueued 6 trials/.test(run.output()), 120);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = Date.now();
      run.child.kill("SIGTERM");
      const status = await run.wait();
      const seconds = (Date.now() - t0) / 1000;
      assert.ok(seconds < 20, `stopped in ${seconds.toFixed(1)} s`);
      assert.equal(status.code, 130, run.output());
    } finally {
      await run.kill("SIGKILL");
      await redis.stop();
    }
  },
});
