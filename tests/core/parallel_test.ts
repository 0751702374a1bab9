import { strict as assert } from "node:assert";
import { AUTO_PARALLEL_MIN_TRIALS, autoConcurrency } from "../../core/pipeline/local_workers.ts";

Deno.test("--concurrency auto: one process for small runs, one worker per core (≤ 4) for larger ones", () => {
  assert.equal(autoConcurrency(1), 1);
  assert.equal(autoConcurrency(AUTO_PARALLEL_MIN_TRIALS - 1), 1);
  const cores = navigator.hardwareConcurrency;
  assert.equal(autoConcurrency(AUTO_PARALLEL_MIN_TRIALS), Math.min(4, cores)); // tests run with --allow-run
  assert.equal(autoConcurrency(189), Math.min(4, cores));
});
