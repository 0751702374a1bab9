/**
 * Queue benchmark (`deno task bench:queue`), on a Redis of its own (a loopback port,
 * no persistence):
 *
 * 1. dispatch: the real coordinator (core/queue/coordinator.ts: enqueue, collect each
 *    outcome line, remove its job) against 1, 4 and 16 no-op worker processes
 *    (bench/queue_noop_worker.ts): 10,000 trials; jobs/s and the coordinator's CPU time
 *    per job. This is the cost a real sweep pays per trial on top of the trial itself.
 * 2. results: how fast the coordinator can append result lines to results.jsonl (each
 *    line written and flushed to disk, as every run does): lines/s.
 * 3. sweep: the quickstart (pipelines/quickstart.yaml, warm model cache) run with
 *    `--concurrency 2` on this machine, and through the queue with 1 worker running 2
 *    trials at a time and with 2 workers running 1 each; wall times.
 *
 *   deno task bench:queue [--jobs 10000] [--workers 1,4,16] [--skip-dispatch] [--skip-append] [--skip-sweep] [--json]
 * @module
 */
import { busyWarning } from "./rates.ts";
import { parseArgs } from "node:util";
import process from "node:process";
import { Effect, Stream } from "effect";
import { NodeContext } from "@effect/platform-node";
import { startRedis } from "../tests/redis.ts";
import { parseQueueAddress, type QueueAddress } from "../core/queue/address.ts";
import { queueLauncher } from "../core/queue/coordinator.ts";
import type { Trial } from "../core/pipeline/expand.ts";
import { contentHash } from "../core/hash.ts";
import YAML from "yaml";
import { appendLine } from "../core/store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "10000" },
    workers: { type: "string", default: "1,4,16" },
    "skip-sweep": { type: "boolean", default: false },
    "skip-dispatch": { type: "boolean", default: false },
    "skip-append": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const root = new URL("..", import.meta.url).pathname;
const say = (line: string) => console.error(line);
const rows: Record<string, string | number>[] = [];

const busy = busyWarning();
if (busy) say(busy);

const redis = await startRedis();
const address = parseQueueAddress(`redis://127.0.0.1:${redis.port}`) as QueueAddress;
const flush = () =>
  new Deno.Command("redis-cli", { args: ["-p", String(redis.port), "flushall"], stdout: "null" }).outputSync();

try {
  if (!values["skip-dispatch"]) {
    const n = Number(values.jobs);
    for (const count of values.workers.split(",").map(Number)) {
      flush();
      const workers = Array.from({ length: count }, () =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-env",
            "--allow-read",
            "--allow-sys",
            `--allow-net=127.0.0.1:${redis.port}`,
            `${root}bench/queue_noop_worker.ts`,
            String(redis.port),
            "1",
          ],
          cwd: root,
          stdout: "piped",
          stderr: "inherit",
        }).spawn());
      // wait until every worker is connected
      for (const w of workers) {
        const reader = w.stdout.pipeThrough(new TextDecoderStream()).getReader();
        while (!((await reader.read()).value ?? "").includes("ready"));
        reader.releaseLock();
      }
      const trials: Trial[] = Array.from({ length: n }, (_, i) => ({
        key: contentHash({ bench: i }),
        shiftIndex: 0,
        selectionIndex: 0,
        trainSize: 1,
        seed: 0,
        lr: 0.001,
      }));
      const launcher = queueLauncher({
        address,
        bundle: {
          runId: contentHash({ bench: "dispatch", count }),
          name: "dispatch",
          host: "bench",
          directory: "-",
          trials: n,
          pipeline: {},
          dataHash: "-",
          backend: "wasm",
          modules: [],
          cacheDir: "-",
          models: [],
        },
        recorded: 0,
        failedLine: () => {
          throw new Error("no trial fails here");
        },
        log: () => Effect.void,
      });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const got = await Effect.runPromise(
        launcher.run(trials).pipe(Stream.runCount, Effect.provide(NodeContext.layer)),
      );
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      for (const w of workers) {
        w.kill("SIGTERM");
        await w.status;
      }
      if (got !== n) throw new Error(`collected ${got} of ${n} outcomes`);
      const row = {
        bench: "dispatch",
        workers: count,
        jobs: n,
        seconds: Math.round(seconds * 100) / 100,
        jobs_per_s: Math.round(n / seconds),
        coordinator_cpu_ms_per_job: Math.round(((cpu.user + cpu.system) / 1000 / n) * 1000) / 1000,
      };
      rows.push(row);
      say(
        `dispatch, ${count} no-op worker process(es): ${n} trials in ${row.seconds} s = ${row.jobs_per_s} trials/s; ` +
          `coordinator CPU ${row.coordinator_cpu_ms_per_job} ms per trial`,
      );
    }
  }

  if (!values["skip-append"]) {
    const dir = `${root}.cache/bench-queue-append`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });
    const line = JSON.stringify({ key: "0123456789abcdef", text: "x".repeat(600) }); // a result line's size
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await Effect.runPromise(appendLine(`${dir}/results.jsonl`, line));
    const seconds = (performance.now() - t0) / 1000;
    rows.push({
      bench: "append",
      lines: n,
      seconds: Math.round(seconds * 100) / 100,
      lines_per_s: Math.round(n / seconds),
    });
    say(
      `results.jsonl: ${n} lines appended and flushed in ${seconds.toFixed(2)} s = ${Math.round(n / seconds)} lines/s`,
    );
    await Deno.remove(dir, { recursive: true });
  }

  if (!values["skip-sweep"]) {
    const url = `redis://127.0.0.1:${redis.port}`;
    const cache = `${root}.cache/scalpel/models`;
    const work = `${root}.cache/bench-queue`;
    await Deno.remove(work, { recursive: true }).catch(() => {});
    const cli = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-env",
          "--allow-sys=uid,gid,hostname",
          "--allow-run",
          `--allow-write=${work},${root}.cache`,
          `${root}cli.ts`,
          ...args,
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      });
    const pipeline = `${root}pipelines/quickstart.yaml`;
    const sweep = async (label: string, args: string[], workers: Array<{ concurrency: number }>) => {
      flush();
      const ws = workers.map((w, i) =>
        cli(["worker", "--queue", url, "--cache", `${work}/w${i}/models`, "--concurrency", String(w.concurrency)])
          .spawn()
      );
      const out = `${work}/${label.replace(/\W+/g, "-")}`;
      const t0 = performance.now();
      const r = await cli(["run", pipeline, "--out", out, "--cache", cache, "--quiet", ...args]).output();
      const seconds = (performance.now() - t0) / 1000;
      for (const w of ws) {
        w.kill("SIGTERM");
        await w.status;
      }
      if (!r.success) throw new Error(`${label}: ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
      rows.push({ bench: "sweep", launcher: label, seconds: Math.round(seconds * 10) / 10 });
      say(`quickstart sweep, ${label}: ${seconds.toFixed(1)} s`);
    };
    // pre-train once, outside the timings: the same pipeline with only `none` (same source models)
    const warmup = `${work}/warmup.yaml`;
    const settings = YAML.parse(await Deno.readTextFile(pipeline));
    await Deno.mkdir(work, { recursive: true });
    await Deno.writeTextFile(warmup, YAML.stringify({ ...settings, seeds: 1, selections: ["none"] }));
    const pre = await cli(["run", warmup, "--out", `${work}/warmup`, "--cache", cache, "--quiet"]).output();
    if (!pre.success) throw new Error(new TextDecoder().decode(pre.stderr).slice(-2000));
    await sweep("local, --concurrency 2", ["--concurrency", "2"], []);
    await sweep("queue, 1 worker × 2 trials at a time", ["--queue", url], [{ concurrency: 2 }]);
    await sweep("queue, 2 workers × 1 trial", ["--queue", url], [{ concurrency: 1 }, { concurrency: 1 }]);
  }
} finally {
  await redis.stop();
}
if (values.json) { for (const r of rows) console.log(JSON.stringify(r)); }
