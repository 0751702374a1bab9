/**
 * `--backend webgpu` through the CLI, as a user runs it: a tiny pipeline (real MNIST,
 * pre-training included) on webgpu with two worker processes gives every cell's test
 * accuracy within 1 point of the same pipeline on wasm; and a machine without an adapter
 * gets one paragraph and exit 1 before anything is created. The pipeline test needs a
 * WebGPU adapter (a GPU, or Mesa's software Vulkan driver): without one it fails under
 * CI=true and is skipped elsewhere.
 */
import { strict as assert } from "node:assert";
import { probeAdapter, unavailable } from "../../core/webgpu.ts";
import { fixture, runCli, tempDir } from "../helpers.ts";

const probe = await probeAdapter();
const CI = Deno.env.get("CI") === "true";
const noAdapter = probe._tag === "Adapter" ? undefined : unavailable(probe).describe();
if (noAdapter && !CI) console.warn(`webgpu pipeline test skipped: ${noAdapter}`);

/**
 * tiny.yaml made smaller still (the software adapter trains small-cnn at ~50 examples/s
 * here): 500 source examples at a larger learning rate (38 % source accuracy), 64
 * labelled target examples fine-tuned at 1e-2, 500 test examples (1 point = 5 of them).
 */
const pipelineYaml = async () =>
  (await Deno.readTextFile(fixture("pipelines/tiny.yaml")))
    .replace("name: tiny", "name: tiny-webgpu")
    .replace("testLimit: 1000", "testLimit: 500")
    .replace("examples: 1000 }", "examples: 500, learningRate: 0.005 }")
    .replace("target: { train: 100, val: 50, test: 200 }", "target: { train: 64, val: 32, test: 500 }")
    .replace("learningRates: [0.001]", "learningRates: [0.01]");

interface Line {
  readonly status: string;
  readonly shift: string;
  readonly selection: string;
  readonly test: { readonly accuracy: number };
}

const linesOf = async (dir: string): Promise<Map<string, Line>> =>
  new Map(
    (await Deno.readTextFile(`${dir}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l) as Line)
      .map((l) => [`${l.shift} × ${l.selection}`, l]),
  );

Deno.test({
  name: "e2e: --backend webgpu (2 worker processes) gives every cell's test accuracy within 1 point of wasm",
  ignore: noAdapter !== undefined && !CI,
  fn: async () => {
    assert.equal(noAdapter, undefined, noAdapter ?? "");
    const dir = await tempDir("e2e-webgpu");
    const yaml = await pipelineYaml();
    assert.match(yaml, /examples: 500, learningRate: 0\.005 .*\n.*test: 500 .*\n.*learningRates: \[0\.01\]/s);
    await Deno.writeTextFile(`${dir}/tiny.yaml`, yaml);
    const run = (backend: string, extra: string[]) =>
      runCli(
        [
          "run",
          `${dir}/tiny.yaml`,
          "--backend",
          backend,
          "--out",
          `${dir}/${backend}`,
          "--cache",
          `${dir}/cache`,
          ...extra,
        ],
        [dir],
      );
    const gpu = await run("webgpu", ["--concurrency", "2"]);
    assert.equal(gpu.code, 0, gpu.stderr);
    assert.match(gpu.stderr, /pre-training small-cnn on 500 source examples, 1 epochs, webgpu \(/);
    assert.match(gpu.stderr, /running 6 trials on 2 worker processes/);
    assert.doesNotMatch(gpu.stderr, /XDG_RUNTIME_DIR|synchronously reading/, "noise from the driver or tfjs");
    const resolved = JSON.parse(await Deno.readTextFile(`${dir}/webgpu/pipeline.resolved.json`));
    assert.equal(resolved.backend, "webgpu");
    const wasm = await run("wasm", ["--concurrency", "1"]);
    assert.equal(wasm.code, 0, wasm.stderr);
    const a = await linesOf(`${dir}/webgpu`);
    const b = await linesOf(`${dir}/wasm`);
    assert.equal(a.size, 6);
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [cell, line] of a) {
      assert.equal(line.status, "ok", cell);
      const diff = Math.abs(line.test.accuracy - b.get(cell)!.test.accuracy);
      assert.ok(
        diff <= 0.01 + 1e-9,
        `${cell}: webgpu ${line.test.accuracy}, wasm ${b.get(cell)!.test.accuracy}`,
      );
    }
  },
});

Deno.test("e2e: --backend webgpu without an adapter: one paragraph naming what to install, exit 1, nothing created", async () => {
  const dir = await tempDir("e2e-webgpu-none");
  // restricted to a graphics API this OS does not have, Deno's WebGPU finds no adapter
  const api = Deno.build.os === "darwin" ? "dx12" : "metal";
  const out = await runCli(
    ["run", fixture("pipelines/tiny.yaml"), "--backend", "webgpu", "--out", `${dir}/run`, "--cache", `${dir}/cache`],
    [dir],
    [],
    { DENO_WEBGPU_BACKEND: api },
  );
  assert.equal(out.code, 1, out.stderr);
  assert.match(
    out.stderr,
    /^error: Backend "webgpu" is not available: Deno's WebGPU found no adapter .*apt-get install mesa-vulkan-drivers.*--backend wasm\.\n$/s,
  );
  assert.equal(out.stderr.trim().split("\n").length, 1, "one paragraph");
  assert.doesNotMatch(out.stderr, /\bat file:/, "no stack trace");
  await assert.rejects(Deno.stat(`${dir}/run`), Deno.errors.NotFound);
});
