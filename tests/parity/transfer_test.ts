/**
 * Weight transfer both ways, as a user would do it: a pre-trained model from a run is
 * exported with `scalpel model export --format npy`, loaded into its PyTorch twin
 * (bench/torch_twins.py), written back from PyTorch's tensors, and started from with
 * `weights:` in a pipeline file: the target test accuracy of the untouched model is the
 * same as the run's. Needs /usr/bin/python3 with torch and numpy (fails under CI=true
 * without them, skipped elsewhere).
 */
import { strict as assert } from "node:assert";
import { fixture, ROOT, runCli, tempDir } from "../helpers.ts";

const PYTHON = "/usr/bin/python3";
const hasTorch = (() => {
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import torch, numpy"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const CI = Deno.env.get("CI") === "true";

Deno.test({
  name: "weights transfer: scalpel → npy → PyTorch twin → npy → `weights:` gives the same model",
  ignore: !hasTorch && !CI,
  fn: async () => {
    assert.ok(hasTorch, `${PYTHON} cannot import torch and numpy`);
    const dir = await tempDir("transfer");
    const text = (await Deno.readTextFile(fixture("pipelines/tiny.yaml")))
      .replace("  - label-permutation\n", "")
      .replace("selections: [none, block2, last-layer]", "selections: [none]");
    await Deno.writeTextFile(`${dir}/a.yaml`, text);
    const a = await runCli(["run", `${dir}/a.yaml`, "--out", `${dir}/a`, "--cache", `${dir}/cache`], [dir]);
    assert.equal(a.code, 0, a.stderr);
    const line = JSON.parse((await Deno.readTextFile(`${dir}/a/results.jsonl`)).trim());

    const exported = await runCli(
      ["model", "export", `${dir}/cache/${line.pretrained}.weights`, "--format", "npy", "--out", `${dir}/npy`],
      [dir],
    );
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /8 variables written to .*npy\//);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/npy/index.json`));
    assert.deepEqual(
      index.variables.map((v: { name: string; layout: string }) => `${v.name}:${v.layout}`).slice(0, 3),
      ["block1/conv/kernel:HWIO", "block1/conv/bias:C", "block2/conv/kernel:HWIO"],
    );
    // into PyTorch's tensors (OIHW / OI layouts) and back out
    const py = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `import sys; sys.path.insert(0, "${ROOT}bench")
from torch_twins import build, load_npy_weights, save_npy_weights
m = build("small-cnn", 1, 28, 28, 10)
load_npy_weights(m, "${dir}/npy")
save_npy_weights(m, "${dir}/torch")`,
      ],
      stderr: "piped",
    }).output();
    assert.ok(py.success, new TextDecoder().decode(py.stderr));

    await Deno.writeTextFile(
      `${dir}/b.yaml`,
      text.replace("model: small-cnn", `model: { model: small-cnn, options: { weights: ${dir}/torch } }`),
    );
    const b = await runCli(["run", `${dir}/b.yaml`, "--out", `${dir}/b`, "--cache", `${dir}/cache`], [dir]);
    assert.equal(b.code, 0, b.stderr);
    assert.doesNotMatch(b.stderr, /pre-training/, "a model with weights is not pre-trained");
    const from = JSON.parse((await Deno.readTextFile(`${dir}/b/results.jsonl`)).trim());
    assert.deepEqual(from.test, line.test, "the same predictions on the target test split");
    assert.deepEqual(from.val, line.val);

    // a damaged export is refused with the file named
    await Deno.writeFileSync(`${dir}/torch/block1__conv__kernel.npy`, new Uint8Array([1, 2, 3]));
    const bad = await runCli(["validate", `${dir}/b.yaml`], [dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Model file .*torch\/index\.json: .*not a \.npy file/);
  },
});

Deno.test({
  name: "run --export-splits: the exact splits and weights; PyTorch from them scores `none` exactly as scalpel",
  ignore: !hasTorch && !CI,
  fn: async () => {
    assert.ok(hasTorch, `${PYTHON} cannot import torch and numpy`);
    const dir = await tempDir("export-splits");
    const out = `${dir}/run`;
    const r = await runCli(
      ["run", fixture("pipelines/tiny.yaml"), "--out", out, "--cache", `${dir}/cache`, "--export-splits"],
      [dir],
    );
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(await Deno.readTextFile(`${out}/exports/index.json`));
    assert.equal(index.model, "small-cnn");
    assert.deepEqual(index.shifts.map((s: { label: string }) => s.label), ["gaussian_noise-5-inet", "labels-reversed"]);
    // the target splits have the pipeline's sizes (train 100, val 50, test 200)
    const py = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `import numpy as np
for s in (0, 1):
    d = "${out}/exports/shift-%d/seed-0/" % s
    print(*[np.load(d + f + "_x.npy").shape[0] for f in ("train-100", "val", "test")], np.load(d + "test_x.npy").dtype)`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(py.success, new TextDecoder().decode(py.stderr));
    assert.equal(new TextDecoder().decode(py.stdout).trim(), "100 50 200 uint8\n100 50 200 uint8");
    const peer = await new Deno.Command(PYTHON, {
      args: [`${ROOT}bench/torch_surgical.py`, out, "--start", "same", "--threads", "1"],
      stderr: "piped",
    }).output();
    assert.ok(peer.success, new TextDecoder().decode(peer.stderr));
    const ours = (await Deno.readTextFile(`${out}/results.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
      .filter((l) => l.selection === "none");
    const theirs = (await Deno.readTextFile(`${out}/torch-same/results.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((l) => l.selection === "none");
    assert.equal(theirs.length, 2);
    for (const t of theirs) {
      const o = ours.find((l) => l.shift === t.shift)!;
      assert.equal(t.val, o.val.accuracy, `${t.shift}: the same pre-trained model on the same validation split`);
      assert.equal(t.test, o.test.accuracy);
    }
  },
});
