/**
 * A worker for bench/queue_bench.ts's dispatch measurement: serves the trials queue
 * with BullMQ's Worker and the options of `scalpel worker` (core/queue/serve.ts), but
 * does no work: each job is answered at once with a well-formed result line, so what
 * is timed is the queue and the coordinator, not training.
 *
 *   deno run --allow-env --allow-read --allow-sys --allow-net=127.0.0.1:PORT bench/queue_noop_worker.ts PORT CONCURRENCY
 * @module
 */
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { TRIALS_QUEUE } from "../core/queue/keys.ts";
import { MAX_STALLS } from "../core/queue/jobs.ts";
import { encodeOutcome, type ResultLine } from "../core/results.ts";

const [port, concurrency] = Deno.args.map(Number);
const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: null });
const worker = new Worker(TRIALS_QUEUE, (job) => {
  const key = job.data.trial.key as string;
  const line: ResultLine = {
    status: "ok",
    key,
    shift: "noop",
    shiftRef: {},
    selection: "noop",
    selectionRef: {},
    seed: job.data.trial.seed,
    lr: job.data.trial.lr,
    epoch: 0,
    val: { accuracy: 0 },
    test: { accuracy: 0 },
    valCurve: [0],
    trainedParams: 0,
    trainedGroups: {},
    groupActivity: {},
    seconds: 0,
    pretrained: "0000000000000000",
  };
  return Promise.resolve(encodeOutcome(line));
}, { connection: client, concurrency, maxStalledCount: MAX_STALLS });
console.log("ready");
for (const s of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(s, async () => {
    await worker.close();
    Deno.exit(0);
  });
}
