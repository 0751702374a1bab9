import { strict as assert } from "node:assert";
import { Effect, Exit } from "effect";
import type { FileSystem, Path } from "@effect/platform";
import fc from "fast-check";
import {
  CACHE_MARKER,
  type CacheMeta,
  clearCache,
  inspectCacheDir,
  pretrainKey,
  type PretrainSpec,
  readCached,
  writeCached,
} from "../../core/cache.ts";
import { datasetHash } from "../../core/hash.ts";
import type { Dataset } from "../../core/dataset.ts";
import { tempDir, testLayer } from "../helpers.ts";

const run = <A, E>(e: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
  Effect.runPromiseExit(Effect.provide(e, testLayer));

const dataset = (images: Uint8Array, labels: Int32Array): Dataset => ({
  name: "d",
  shape: [2, 2, 1],
  classNames: ["a", "b", "c"],
  train: { images, labels, count: labels.length },
  test: { images: images.slice(0, 4), labels: labels.slice(0, 1), count: 1 },
});

const spec = (data: string): PretrainSpec => ({
  model: { model: "small-cnn", options: {} },
  data,
  seed: 0,
  budget: { epochs: 1, batchSize: 8, learningRate: 0.001 },
  backend: "wasm",
});

Deno.test("cache key: any change to the source data's pixels or labels gives another key; equal data the same", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 }),
      fc.nat(11),
      fc.nat(2),
      (pixels, ys, at, which) => {
        const base = dataset(pixels, Int32Array.from(ys));
        const same = dataset(Uint8Array.from(pixels), Int32Array.from(ys));
        assert.equal(pretrainKey(spec(datasetHash(base))), pretrainKey(spec(datasetHash(same))));
        const changedPixels = Uint8Array.from(pixels);
        changedPixels[at] = (changedPixels[at] + 1) % 256;
        const changedLabels = Int32Array.from(ys);
        changedLabels[which] = (changedLabels[which] + 1) % 3;
        for (
          const other of [dataset(changedPixels, Int32Array.from(ys)), dataset(Uint8Array.from(pixels), changedLabels)]
        ) {
          assert.notEqual(pretrainKey(spec(datasetHash(other))), pretrainKey(spec(datasetHash(base))));
        }
      },
    ),
    { numRuns: 100 },
  );
  // the class names are part of what the data is
  const d = dataset(new Uint8Array(12), Int32Array.from([0, 1, 2]));
  assert.notEqual(datasetHash(d), datasetHash({ ...d, classNames: ["x", "y", "z"] }));
});

const meta = (key: string): CacheMeta => ({
  format: "scalpel-pretrained/2",
  key,
  spec: spec("d"),
  numerics: 3,
  dataset: { dataset: "d" },
  sourceKey: "clean",
  sourceTestAccuracy: 0.5,
});

const weights = new Map([["w", { shape: [2], data: Float32Array.from([1, 2]) }]]);

Deno.test("cache: unreadable or mismatched metadata and damaged weights are misses, never errors", async () => {
  const dir = await tempDir("cache");
  const key = pretrainKey(spec("d"));
  assert.ok(Exit.isSuccess(await run(writeCached(dir, weights, meta(key)))));
  const lookup = async () => {
    const exit = await run(readCached(dir, key));
    assert.ok(Exit.isSuccess(exit));
    return exit.value;
  };
  assert.equal((await lookup())._tag, "Hit");
  const metaFile = `${dir}/${key}.json`;
  const good = await Deno.readTextFile(metaFile);
  for (const bad of ["{", "null", "{}", good.slice(0, 50), JSON.stringify({ ...meta("0000000000000000") })]) {
    await Deno.writeTextFile(metaFile, bad);
    const l = await lookup();
    assert.equal(l._tag, "Miss", bad);
    assert.match((l as { reason?: string }).reason ?? "", /metadata is unreadable/);
  }
  await Deno.writeTextFile(metaFile, good);
  await Deno.writeFile(`${dir}/${key}.weights`, new Uint8Array([1, 2, 3]));
  assert.match(((await lookup()) as { reason?: string }).reason ?? "", /weights file is damaged/);
  await Deno.remove(`${dir}/${key}.weights`);
  assert.equal((await lookup())._tag, "Miss");
});

Deno.test("cache: a directory that is not a cache is refused; clear deletes only the cache's own files", async () => {
  const dir = await tempDir("cache-dirs");
  const runDir = `${dir}/run`;
  await Deno.mkdir(runDir);
  for (const f of ["pipeline.resolved.json", "summary.json", "results.jsonl"]) {
    await Deno.writeTextFile(`${runDir}/${f}`, "{}");
  }
  for (const effect of [inspectCacheDir(runDir), Effect.asVoid(clearCache(runDir))]) {
    const exit = await run(effect);
    const error = exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error : undefined;
    assert.equal(error?._tag, "CacheError", String(exit));
    assert.match(error!.describe(), /is not a scalpel model cache: it has no scalpel-cache\.json/);
  }
  assert.equal([...Deno.readDirSync(runDir)].length, 3, "nothing deleted");

  // a cache of an older scalpel (entry files only, no marker) is adopted; others' files in a cache are kept
  const legacy = `${dir}/legacy`;
  await Deno.mkdir(legacy);
  await Deno.writeTextFile(`${legacy}/0123456789abcdef.json`, "{}");
  await Deno.writeTextFile(`${legacy}/0123456789abcdef.weights`, "x");
  assert.equal((await run(inspectCacheDir(legacy)) as Exit.Success<string, never>).value, "cache");
  assert.ok(Exit.isSuccess(await run(writeCached(legacy, weights, meta(pretrainKey(spec("e")))))));
  assert.ok((await Deno.stat(`${legacy}/${CACHE_MARKER}`)).isFile, "marked when first written to");
  await Deno.writeTextFile(`${legacy}/README.txt`, "mine");
  const cleared = await run(clearCache(legacy));
  assert.ok(Exit.isSuccess(cleared));
  assert.equal(cleared.value.length, 4);
  assert.deepEqual([...Deno.readDirSync(legacy)].map((e) => e.name).sort(), ["README.txt", CACHE_MARKER]);

  await Deno.writeTextFile(`${legacy}/${CACHE_MARKER}`, '{"format":"something-else"}');
  const foreign = await run(inspectCacheDir(legacy));
  assert.ok(Exit.isFailure(foreign));
});
