import { strict as assert } from "node:assert";
import { pthreadWorkerScript, WORKER_FILE } from "../../core/kernels/threads.ts";

Deno.test("threads: the shipped pthread worker script is the one generated from the pinned tfjs-backend-wasm", async () => {
  const generated = pthreadWorkerScript();
  assert.ok(generated.includes("__scalpelAssignGlobals(global,{"), "the getter-only globals are defined, not assigned");
  assert.equal(
    await Deno.readTextFile(WORKER_FILE),
    generated,
    "regenerate it: deno run --allow-read --allow-write=core/kernels core/kernels/threads.ts",
  );
});
