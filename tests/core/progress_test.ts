import { strict as assert } from "node:assert";
import { statusLine } from "../../core/progress.ts";
import { formatDuration } from "../../core/progress.ts";

Deno.test("progress: status line and durations", () => {
  const info = {
    trial: "fog-5 × block1 seed 0 lr 0.01",
    done: 3,
    total: 12,
    epoch: 2,
    epochs: 5,
    loss: 0.123456,
    eta: 125,
  };
  assert.equal(statusLine(info, 200), "[3/12 25% ETA 2m05s] fog-5 × block1 seed 0 lr 0.01: epoch 2/5 loss 0.1235");
  assert.equal(statusLine(info, 20).length, 20);
  assert.equal(formatDuration(45), "45s");
  assert.equal(formatDuration(3720), "1h02m");
});
