/**
 * Runs `scalpel corrupt` and `scalpel shifts` as a user would (a subprocess with the
 * task's permissions, writing only to a temporary directory) on real MNIST.
 */
import { strict as assert } from "node:assert";
import { Effect } from "effect";
import { decode } from "fast-png";
import { runCli, tempDir } from "../helpers.ts";
import { decodeNpy } from "../../core/io/npy.ts";
import { parseIdx } from "../../core/io/idx.ts";
import { MNIST_FILES, packagedMnistDir } from "../../plugins/datasets/mnist.ts";
import { parseNames, parseSeverities } from "../../commands/corrupt.ts";
import { CORRUPTION_NAMES } from "../../plugins/shifts/corruptions/index.ts";

const scalpel = runCli;

const exists = (file: string) => Deno.stat(file).then(() => true, () => false);

/** The first `n` MNIST test images as floats in [0, 1]. */
const mnistTest = async (n: number) => {
  const idx = parseIdx(await Deno.readFile(`${packagedMnistDir()}/${MNIST_FILES.testImages}`), 3);
  return Float32Array.from(idx.data.subarray(0, n * 784), (v) => v / 255);
};

Deno.test("e2e: `scalpel corrupt` writes a labelled PNG grid and a .npy array", async (t) => {
  const dir = await tempDir("e2e-corrupt");
  const args = ["corrupt", "--name", "gaussian_noise", "--severity", "1..5", "--count", "4"];

  await t.step(".png: a grayscale grid of 4 rows × 6 columns of 28×28 digits at ×3", async () => {
    const out = `${dir}/grid.png`;
    const r = await scalpel([...args, "--out", out], [dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Wrote .*grid\.png: \d+×\d+ grayscale PNG grid, 1 block\(s\) of 4 row\(s\) × 6 column\(s\)/);
    const png = decode(await Deno.readFile(out));
    assert.equal(png.channels, 1);
    assert.ok(png.width >= 6 * 84 && png.height >= 4 * 84, `${png.width}×${png.height}`);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["grid.png"], "no temp file left");
  });

  await t.step(".npy: [5, 4, 28, 28, 1] in [0, 1], farther from clean at each severity", async () => {
    const out = `${dir}/x.npy`;
    const r = await scalpel([...args, "--out", out], [dir]);
    assert.equal(r.code, 0, r.stderr);
    const { data, shape } = decodeNpy(await Deno.readFile(out));
    assert.deepEqual([...shape], [5, 4, 28, 28, 1]);
    assert.ok(data.every((v) => v >= 0 && v <= 1), "values in [0, 1]");
    const clean = await mnistTest(4);
    const size = 4 * 784;
    const mad = [0, 1, 2, 3, 4].map((s) => {
      let sum = 0;
      for (let i = 0; i < size; i++) sum += Math.abs(data[s * size + i] - clean[i]);
      return sum / size;
    });
    assert.ok(mad[0] > 0, "severity 1 changes the images");
    for (let s = 1; s < 5; s++) assert.ok(mad[s] > mad[s - 1], `mean |Δ| rises with severity: ${mad.join(", ")}`);

    // same seed, same bytes; another seed, other noise
    const again = await scalpel([...args, "--out", `${dir}/again.npy`], [dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/again.npy`), await Deno.readFile(out));
  });
});

Deno.test("e2e: `scalpel corrupt` bad input ⇒ exit 1, one paragraph, no file", async (t) => {
  const dir = await tempDir("e2e-corrupt-bad");
  const cases: Array<[string, string[], RegExp]> = [
    [
      "unknown corruption name",
      ["--name", "fogg", "--out", `${dir}/a.png`],
      new RegExp(`--name: unknown corruption "fogg"\\. Known corruptions: ${CORRUPTION_NAMES.join(", ")}`),
    ],
    ["severity outside 1–5", ["--name", "fog", "--severity", "0..6", "--out", `${dir}/b.npy`], /--severity: "0\.\.6"/],
    ["unknown extension", ["--name", "fog", "--out", `${dir}/c.jpg`], /neither a \.png nor a \.npy/],
    [
      "output outside the writable directories",
      ["--name", "gaussian_noise", "--count", "1", "--out", `${dir}-elsewhere/d.png`],
      /d\.png: .*runs\/ and \.cache\//,
    ],
  ];
  // the runs are independent: start them together
  const results = await Promise.all(cases.map(([, args]) => scalpel(["corrupt", ...args], [dir])));
  for (const [k, [name, , pattern]] of cases.entries()) {
    await t.step(name, () => {
      const r = results[k];
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: /);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      assert.ok(r.stderr.trim().split("\n").length <= 3, `one paragraph, got:\n${r.stderr}`);
    });
  }
  assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "no file written");
  assert.equal(await exists(`${dir}-elsewhere`), false);
});

Deno.test("e2e: `scalpel shifts` lists the shift plugins with options and the corruptions", async () => {
  const dir = await tempDir("e2e-shifts");
  const r = await scalpel(["shifts"], [dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^corruption\n {2}input-level shift/m);
  assert.match(r.stdout, /^label-permutation\n/m);
  assert.match(r.stdout, /^ {4}severity +integer 1–5.* +\(default 5\)$/m);
  assert.match(r.stdout, /^ {4}name +.*\(required\)$/m);
  assert.match(r.stdout, /^ {4}permutation +string \| list of integer +\(default "reverse"\)$/m);
  assert.match(r.stdout, /^ {2}noise +gaussian_noise\*, shot_noise\*, impulse_noise\*, speckle_noise$/m);
  for (const n of CORRUPTION_NAMES) assert.match(r.stdout, new RegExp(`\\b${n}\\b`));
});

Deno.test("corrupt: --severity and --name parsing", () => {
  const sev = (s: string) => Effect.runSync(Effect.either(parseSeverities(s)));
  assert.deepEqual(Effect.runSync(parseSeverities("3")), [3]);
  assert.deepEqual(Effect.runSync(parseSeverities("1..5")), [1, 2, 3, 4, 5]);
  assert.deepEqual(Effect.runSync(parseSeverities("5,1,3")), [5, 1, 3]);
  assert.deepEqual(Effect.runSync(parseSeverities("1..2, 5, 2")), [1, 2, 5]);
  for (const bad of ["", "0", "6", "3..1", "1..", "a", "1.5"]) assert.equal(sev(bad)._tag, "Left", bad);
  assert.deepEqual(Effect.runSync(parseNames("fog")), { names: ["fog"], many: false });
  assert.equal(Effect.runSync(parseNames("all")).names.length, 15);
  assert.equal(Effect.runSync(parseNames("every")).names.length, 28);
  assert.equal(Effect.runSync(parseNames("common")).names.length, 15);
  assert.deepEqual(Effect.runSync(parseNames("fog,snow")), { names: ["fog", "snow"], many: true });
  assert.equal(Effect.runSync(Effect.either(parseNames("fog,nope")))._tag, "Left");
});
