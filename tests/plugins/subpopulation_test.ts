/**
 * Group-structured shifts and their metric: subpopulation (BREEDS-style),
 * spurious (Waterbirds-style) and the worst-group-accuracy evaluator. Synthetic
 * datasets with hand-computed counts, fast-check properties, and runs on the real
 * MNIST t10k files.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect, Either, Schema } from "effect";
import type { EvaluationInput, EvaluatorImpl, Plugin, ShiftImpl } from "../../core/plugin.ts";
import type { UserError } from "../../core/errors.ts";
import { type Dataset, imageSize, type Split } from "../../core/dataset.ts";
import { countsOf, interleavedLabels, mnistT10k, shiftRngs } from "../helpers.ts";
import { formatParseError } from "../../core/pipeline/schema.ts";
import subpopulation, { groupingProblems, HIERARCHIES, splitSubclasses } from "../../plugins/shifts/subpopulation.ts";
import spurious from "../../plugins/shifts/spurious.ts";
import worstGroup from "../../plugins/evaluators/worst_group_accuracy.ts";

// ---------------------------------------------------------------------------
// helpers

const decode = <O>(plugin: Plugin<"shift" | "evaluator", O>, raw: unknown): O =>
  Schema.decodeUnknownSync(plugin.options, { errors: "all", onExcessProperty: "error" })(raw);

const makeShift = <O>(plugin: Plugin<"shift", O>, raw: unknown): ShiftImpl =>
  Effect.runSync(plugin.make(decode(plugin, raw)) as Effect.Effect<ShiftImpl, UserError>);

const decodeError = <O>(plugin: Plugin<"shift", O>, raw: unknown): string => {
  const r = Schema.decodeUnknownEither(plugin.options, { errors: "all", onExcessProperty: "error" })(raw);
  if (Either.isRight(r)) assert.fail(`options ${JSON.stringify(raw)} should not decode`);
  return formatParseError(r.left);
};

const applyError = (shift: ShiftImpl, base: Dataset): string => {
  try {
    shift.apply(base, shiftRngs(1));
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail("apply should have thrown");
};

const evaluator: EvaluatorImpl = Effect.runSync(
  worstGroup.make(decode(worstGroup, {})) as Effect.Effect<EvaluatorImpl, UserError>,
);

/** A dataset of all-`fill` images of `shape` with the given labels. */
const datasetOf = (
  train: Int32Array,
  test: Int32Array,
  k: number,
  opts: { name?: string; shape?: readonly [number, number, number]; fill?: number } = {},
): Dataset => {
  const shape = opts.shape ?? [8, 8, 1];
  const split = (labels: Int32Array): Split => ({
    images: new Uint8Array(labels.length * imageSize(shape)).fill(opts.fill ?? 0),
    labels,
    count: labels.length,
  });
  return {
    name: opts.name ?? "synthetic",
    shape,
    classNames: Array.from({ length: k }, (_, c) => `c${c}`),
    train: split(train),
    test: split(test),
  };
};

/** The distinct values of `values`, sorted. */
const distinct = (values: Int32Array | undefined): number[] => [...new Set(values ?? [])].sort((a, b) => a - b);

// ---------------------------------------------------------------------------
// subpopulation

Deno.test("subpopulation", async (t) => {
  const k = 10;
  const mnistLike = datasetOf(interleavedLabels(new Array(k).fill(30)), interleavedLabels(new Array(k).fill(10)), k, {
    name: "mnist",
  });

  await t.step("built-in hierarchies are partitions of the 10 classes with ≥ 2 sub-classes each", () => {
    for (const [name, h] of Object.entries(HIERARCHIES)) {
      assert.deepEqual(groupingProblems(h.superClasses, h.numClasses), [], name);
      const all = h.superClasses.flatMap((s) => [...s.classes]).sort((a, b) => a - b);
      assert.deepEqual(all, Array.from({ length: 10 }, (_, c) => c), `${name} covers every class once`);
      for (const s of h.superClasses) assert.ok(s.classes.length >= 2, `${name}/${s.name}`);
    }
  });

  await t.step("auto on mnist = mnist-pairs, first-half: source digits 0–4, target 5–9", () => {
    const shift = makeShift(subpopulation, {});
    assert.equal(shift.label, "subpop-auto");
    const { source, target } = shift.apply(mnistLike, shiftRngs(1));
    assert.deepEqual(source.classNames, ["0/6", "1/7", "2/5", "3/8", "4/9"]);
    assert.deepEqual(target.classNames, source.classNames);
    assert.deepEqual(distinct(source.train.groups), [0, 1, 2, 3, 4]);
    assert.deepEqual(distinct(target.train.groups), [5, 6, 7, 8, 9]);
    assert.deepEqual(distinct(target.test.groups), [5, 6, 7, 8, 9]);
    // label = super-class of the original class (groups)
    const superOf = [0, 1, 2, 3, 4, 2, 0, 1, 3, 4];
    for (const d of [source.train, source.test, target.train, target.test]) {
      d.labels.forEach((y, i) => assert.equal(y, superOf[d.groups![i]]));
    }
    assert.deepEqual(countsOf(source.train.labels, 5), [30, 30, 30, 30, 30]);
    assert.deepEqual(countsOf(target.test.labels, 5), [10, 10, 10, 10, 10]);
    assert.equal(source.train.count + target.train.count, mnistLike.train.count);
    assert.ok(source.train.images instanceof Uint8Array);
    assert.equal(source.train.images.length, source.train.count * 64);
  });

  await t.step("mnist-magnitude and mnist-parity: ⌈n/2⌉ listed sub-classes to the source", () => {
    const mag = makeShift(subpopulation, { hierarchy: "mnist-magnitude" }).apply(mnistLike, shiftRngs(1));
    assert.deepEqual(distinct(mag.source.train.groups), [0, 1, 2, 5, 6, 7]);
    assert.deepEqual(distinct(mag.target.train.groups), [3, 4, 8, 9]);
    assert.deepEqual(countsOf(mag.source.train.labels, 2), [90, 90]);
    assert.deepEqual(countsOf(mag.target.train.labels, 2), [60, 60]);
    const par = makeShift(subpopulation, { hierarchy: "mnist-parity" }).apply(mnistLike, shiftRngs(1));
    assert.deepEqual(distinct(par.source.train.groups), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(distinct(par.target.train.groups), [6, 7, 8, 9]);
    assert.deepEqual(par.source.classNames, ["even", "odd"]);
  });

  await t.step("fashion-mnist hierarchy, picked by auto from the dataset name", () => {
    const fashion = { ...mnistLike, name: "fashion-mnist" };
    const { source, target } = makeShift(subpopulation, {}).apply(fashion, shiftRngs(1));
    assert.deepEqual(source.classNames, ["tops", "trousers & dresses", "accessories"]);
    assert.deepEqual(distinct(source.train.groups), [0, 1, 2, 5, 7]);
    assert.deepEqual(distinct(target.train.groups), [3, 4, 6, 8, 9]);
    assert.deepEqual(countsOf(source.train.labels, 3), [60, 30, 60]);
    assert.deepEqual(countsOf(target.train.labels, 3), [60, 30, 60]);
  });

  await t.step("user groups: key order = labels, unlisted classes dropped", () => {
    const shift = makeShift(subpopulation, { groups: { a: [0, 1, 2], b: [3, 4], c: [5, 6, 7, 8] } });
    assert.equal(shift.label, "subpop-custom");
    const { source, target } = shift.apply(mnistLike, shiftRngs(1));
    assert.deepEqual(source.classNames, ["a", "b", "c"]);
    assert.deepEqual(distinct(source.train.groups), [0, 1, 3, 5, 6]);
    assert.deepEqual(distinct(target.train.groups), [2, 4, 7, 8]);
    assert.deepEqual(countsOf(source.train.labels, 3), [60, 30, 60]);
    assert.deepEqual(countsOf(target.train.labels, 3), [30, 30, 60]);
  });

  await t.step("random split: from the rng, deterministic, ⌈n/2⌉ / ⌊n/2⌋ per super-class", () => {
    const shift = makeShift(subpopulation, { hierarchy: "mnist-parity", split: "random" });
    assert.equal(shift.label, "subpop-mnist-parity-random");
    const a = shift.apply(mnistLike, shiftRngs(5));
    const b = shift.apply(mnistLike, shiftRngs(5));
    assert.deepEqual(a.source.train.groups, b.source.train.groups);
    assert.deepEqual(a.target.test.groups, b.target.test.groups);
    const seen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const { source, target } = shift.apply(mnistLike, shiftRngs(seed));
      const s = distinct(source.train.groups);
      const tg = distinct(target.train.groups);
      assert.equal(s.length, 6);
      assert.equal(tg.length, 4);
      assert.deepEqual([...s, ...tg].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.equal(s.filter((c) => c % 2 === 0).length, 3);
      seen.add(s.join(","));
    }
    assert.ok(seen.size > 5, `only ${seen.size} distinct splits in 20 seeds`);
  });

  await t.step("bad groupings are explained", () => {
    assert.match(decodeError(subpopulation, { groups: { a: [1], b: [2, 3] } }), /"a" has 1 sub-class.*at least 2/);
    assert.match(
      decodeError(subpopulation, { groups: { a: [1, 2], b: [2, 3] } }),
      /class 2 is in both super-class "a" and "b"/,
    );
    assert.match(decodeError(subpopulation, { groups: { a: [1, 1], b: [2, 3] } }), /"a" lists class 1 more than once/);
    assert.match(
      decodeError(subpopulation, { groups: { a: [1, 2] } }),
      /1 super-class\(es\) given; the task needs at least 2/,
    );
    assert.match(
      decodeError(subpopulation, { hierarchy: "mnist-pairs", groups: { a: [0, 1], b: [2, 3] } }),
      /either `hierarchy` \(mnist-pairs\) or `groups`, not both/,
    );
    assert.match(decodeError(subpopulation, { hierarchy: "cifar" }), /hierarchy/);
    assert.match(
      applyError(makeShift(subpopulation, { groups: { a: [0, 12], b: [1, 2] } }), mnistLike),
      /class index 12 in super-class "a" does not exist: the dataset has 10 classes \(0\.\.9\)/,
    );
    const cifar = { ...mnistLike, name: "cifar10" };
    assert.match(applyError(makeShift(subpopulation, {}), cifar), /no built-in hierarchy for dataset "cifar10"/);
    const five = datasetOf(interleavedLabels([2, 2, 2, 2, 2]), interleavedLabels([1, 1, 1, 1, 1]), 5, {
      name: "mnist5",
    });
    assert.match(
      applyError(makeShift(subpopulation, { hierarchy: "fashion-mnist" }), five),
      /fashion-mnist is for 10 classes but dataset "mnist5" has 5/,
    );
  });

  await t.step("property: source and target sub-classes are disjoint, cover the grouping, labels consistent", () => {
    const grouping = fc.integer({ min: 4, max: 16 }).chain((kk) =>
      fc.tuple(
        fc.constant(kk),
        fc.shuffledSubarray(Array.from({ length: kk }, (_, c) => c), { minLength: 4, maxLength: kk }),
        fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 2, maxLength: 8 }),
        fc.constantFrom("first-half" as const, "random" as const),
        fc.integer(),
      )
    );
    fc.assert(
      fc.property(grouping, ([kk, classes, sizes, split, seed]) => {
        // cut the chosen classes into super-classes of the drawn sizes (≥ 2 each)
        const groups: Record<string, number[]> = {};
        let at = 0;
        for (const size of sizes) {
          if (classes.length - at < 2) break;
          const take = classes.length - at - size < 2 ? classes.length - at : size;
          groups[`g${Object.keys(groups).length}`] = classes.slice(at, at + take);
          at += take;
        }
        fc.pre(Object.keys(groups).length >= 2);
        const base = datasetOf(interleavedLabels(new Array(kk).fill(3)), interleavedLabels(new Array(kk).fill(2)), kk);
        const { source, target } = makeShift(subpopulation, { groups, split }).apply(base, shiftRngs(seed));
        const s = distinct(source.train.groups);
        const tg = distinct(target.train.groups);
        assert.deepEqual(s.filter((c) => tg.includes(c)), []);
        assert.deepEqual([...s, ...tg].sort((x, y) => x - y), classes.slice(0, at).sort((x, y) => x - y));
        const superOf = new Map(Object.values(groups).flatMap((cs, g) => cs.map((c) => [c, g] as const)));
        for (const d of [source.train, source.test, target.train, target.test]) {
          d.labels.forEach((y, i) => assert.equal(y, superOf.get(d.groups![i])));
        }
        // every super-class is present in both domains
        assert.equal(distinct(source.train.labels).length, Object.keys(groups).length);
        assert.equal(distinct(target.train.labels).length, Object.keys(groups).length);
        // the split helper agrees: ⌈n/2⌉ to the source
        const parts = splitSubclasses(
          Object.entries(groups).map(([name, cs]) => ({ name, classes: cs })),
          split,
          shiftRngs(seed)(["split"]),
        );
        parts.source.forEach((cs, g) => assert.equal(cs.length, Math.ceil(Object.values(groups)[g].length / 2)));
      }),
      { numRuns: 150 },
    );
  });

  await t.step("real MNIST t10k: mnist-pairs counts equal the digit counts", async () => {
    const mnist = await mnistT10k();
    const { source, target } = makeShift(subpopulation, {}).apply(mnist, shiftRngs(1));
    const digits = countsOf(mnist.train.labels, 10);
    assert.deepEqual(countsOf(source.train.labels, 5), [digits[0], digits[1], digits[2], digits[3], digits[4]]);
    assert.deepEqual(countsOf(target.train.labels, 5), [digits[6], digits[7], digits[5], digits[8], digits[9]]);
    assert.deepEqual(countsOf(source.train.groups, 10), [...digits.slice(0, 5), 0, 0, 0, 0, 0]);
    const testDigits = countsOf(mnist.test.labels, 10);
    assert.equal(target.test.count, testDigits.slice(5).reduce((a, b) => a + b, 0));
    // images are carried over: the first source image is the first base image of a digit 0–4
    const first = mnist.train.labels.findIndex((y) => y < 5);
    assert.deepEqual(source.train.images.subarray(0, 784), mnist.train.images.subarray(first * 784, (first + 1) * 784));
  });
});

// ---------------------------------------------------------------------------
// spurious

/** Cue present in an image of `shape`, judged by the top-left pixel being `color`. */
const hasCue = (split: Split, shape: readonly [number, number, number], i: number, color: number): boolean =>
  split.images[i * imageSize(shape)] === color;

Deno.test("spurious", async (t) => {
  const k = 4;
  const base = datasetOf(interleavedLabels([200, 200, 200, 200]), interleavedLabels([100, 100, 100, 100]), k);

  await t.step(
    "binary labels: exact group counts at 0.95 (source) and 0.5 (target); cue drawn iff group says so",
    () => {
      const shift = makeShift(spurious, {});
      assert.equal(shift.label, "spurious-border-binary-s0.95-t0.5");
      const { source, target } = shift.apply(base, shiftRngs(2));
      assert.deepEqual(source.classNames, ["c0..c1", "c2..c3"]);
      // per class round(0.95·200) = 190 agree: label 0 (classes 0, 1) → 380 without cue, 20 with
      assert.deepEqual(countsOf(source.train.groups, 4), [380, 20, 20, 380]);
      assert.deepEqual(countsOf(source.test.groups, 4), [190, 10, 10, 190]);
      assert.deepEqual(countsOf(target.train.groups, 4), [200, 200, 200, 200]);
      assert.deepEqual(countsOf(target.test.groups, 4), [100, 100, 100, 100]);
      for (const d of [source.train, source.test, target.train, target.test]) {
        const images = d.images;
        assert.ok(images instanceof Uint8Array);
        for (let i = 0; i < d.count; i++) {
          const cue = d.groups![i] % 2;
          assert.equal(d.labels[i], d.groups![i] >> 1);
          assert.equal(hasCue(d, base.shape, i, 255), cue === 1);
          // a 3-pixel border on 8×8 leaves the 2×2 centre untouched
          const img: Uint8Array = images.subarray(i * 64, (i + 1) * 64);
          assert.equal(img.filter((v) => v === 255).length, cue ? 60 : 0);
          assert.equal(img[3 * 8 + 3], 0);
        }
      }
      // the base dataset is not modified
      assert.ok(base.train.images.every((v) => v === 0));
    },
  );

  await t.step("original labels: groups = y·2 + cue, cue tied to the second half of the classes", () => {
    const { source, target } = makeShift(spurious, {
      labels: "original",
      sourceCorrelation: 0.9,
      targetCorrelation: 0.2,
    })
      .apply(base, shiftRngs(3));
    assert.deepEqual(source.classNames, base.classNames);
    assert.deepEqual(source.train.labels, base.train.labels);
    assert.deepEqual(countsOf(source.train.groups, 8), [180, 20, 180, 20, 20, 180, 20, 180]);
    assert.deepEqual(countsOf(target.train.groups, 8), [40, 160, 40, 160, 160, 40, 160, 40]);
  });

  await t.step("patch and background cues, colours on grayscale and RGB, float input", () => {
    const patch = makeShift(spurious, { cue: "patch", size: 3, color: 200 }).apply(base, shiftRngs(4)).source.train;
    const withCue = patch.groups!.findIndex((g) => g % 2 === 1);
    const img = patch.images.subarray(withCue * 64, (withCue + 1) * 64);
    assert.equal(img.filter((v) => v === 200).length, 9);
    assert.equal(img[2 * 8 + 2], 200);
    assert.equal(img[3 * 8 + 3], 0);

    const gray = datasetOf(interleavedLabels([10, 10]), interleavedLabels([4, 4]), 2, { fill: 150 });
    const bg = makeShift(spurious, { cue: "background", sourceCorrelation: 1 }).apply(gray, shiftRngs(4)).source.train;
    // background: max(pixel, 96) on uniform 150 stays 150; on 0-images it is 96
    assert.ok(bg.images.every((v) => v === 150));
    const dark = datasetOf(interleavedLabels([10, 10]), interleavedLabels([4, 4]), 2);
    const bgDark =
      makeShift(spurious, { cue: "background", sourceCorrelation: 1 }).apply(dark, shiftRngs(4)).source.train;
    for (let i = 0; i < bgDark.count; i++) {
      const v = bgDark.labels[i] === 1 ? 96 : 0;
      assert.ok(bgDark.images.subarray(i * 64, (i + 1) * 64).every((p) => p === v));
    }

    // an RGB colour on grayscale images: luminance 0.299·255 = 76.2 → 76
    const red =
      makeShift(spurious, { color: [255, 0, 0], size: 1, sourceCorrelation: 1 }).apply(dark, shiftRngs(4)).source.train;
    assert.equal(red.images[red.labels.indexOf(1) * 64], 76);

    const rgb = datasetOf(interleavedLabels([10, 10]), interleavedLabels([4, 4]), 2, { shape: [6, 6, 3] });
    const r =
      makeShift(spurious, { color: [255, 10, 20], size: 1, sourceCorrelation: 1 }).apply(rgb, shiftRngs(4)).source
        .train;
    const i1 = r.labels.indexOf(1);
    assert.deepEqual([...r.images.subarray(i1 * 108, i1 * 108 + 3)], [255, 10, 20]);
    assert.deepEqual([...r.images.subarray(i1 * 108 + (2 * 6 + 2) * 3, i1 * 108 + (2 * 6 + 2) * 3 + 3)], [0, 0, 0]);
    const i0 = r.labels.indexOf(0);
    assert.ok(r.images.subarray(i0 * 108, (i0 + 1) * 108).every((v) => v === 0));

    const float: Dataset = {
      ...dark,
      train: { ...dark.train, images: new Float32Array(dark.train.images.length).fill(0.5) },
    };
    const f =
      makeShift(spurious, { cue: "patch", size: 1, sourceCorrelation: 0 }).apply(float, shiftRngs(4)).source.train;
    assert.ok(f.images instanceof Uint8Array);
    const j = f.labels.indexOf(1); // correlation 0: label-1 examples never carry the cue
    assert.ok(f.images.subarray(j * 64, (j + 1) * 64).every((v) => v === 128));
  });

  await t.step("deterministic under a seed; sourceKey follows the options", () => {
    const shift = makeShift(spurious, {});
    const a = shift.apply(base, shiftRngs(9));
    const b = shift.apply(base, shiftRngs(9));
    const c = shift.apply(base, shiftRngs(10));
    assert.deepEqual(a.source.train.groups, b.source.train.groups);
    assert.deepEqual(a.target.test.images, b.target.test.images);
    assert.notDeepEqual(a.source.train.groups, c.source.train.groups);
    assert.equal(shift.sourceKey, makeShift(spurious, { cue: "border" }).sourceKey);
    assert.notEqual(shift.sourceKey, "clean");
    assert.notEqual(shift.sourceKey, makeShift(spurious, { sourceCorrelation: 0.9 }).sourceKey);
    assert.notEqual(shift.sourceKey, makeShift(spurious, { cue: "patch" }).sourceKey);
  });

  await t.step("bad options are explained", () => {
    assert.match(applyError(makeShift(spurious, { size: 4 }), base), /4-pixel border would cover the whole 8×8 image/);
    assert.match(applyError(makeShift(spurious, { cue: "patch", size: 9 }), base), /9×9 patch does not fit/);
    const one = datasetOf(interleavedLabels([3]), interleavedLabels([3]), 1);
    assert.match(applyError(makeShift(spurious, {}), one), /at least 2 classes/);
    assert.match(decodeError(spurious, { sourceCorrelation: 1.2 }), /sourceCorrelation/);
    assert.match(decodeError(spurious, { color: 300 }), /color/);
    assert.match(decodeError(spurious, { cue: "stripes" }), /cue/);
  });

  await t.step("property: per-class agreement is round(p·n_c), groups match labels and drawn cues", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }).chain((kk) =>
          fc.record({
            perClass: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: kk, maxLength: kk }),
            p: fc.double({ min: 0, max: 1, noNaN: true }),
            labels: fc.constantFrom("binary" as const, "original" as const),
            seed: fc.integer(),
          })
        ),
        ({ perClass, p, labels, seed }) => {
          const kk = perClass.length;
          const d = datasetOf(interleavedLabels(perClass), interleavedLabels([]), kk);
          const { source } = makeShift(spurious, { sourceCorrelation: p, labels, size: 1 }).apply(d, shiftRngs(seed));
          const agree = new Array<number>(kk).fill(0);
          for (let i = 0; i < source.train.count; i++) {
            const y = d.train.labels[i];
            const g = source.train.groups![i];
            const cue = g % 2;
            const lbl = g >> 1;
            assert.equal(lbl, source.train.labels[i]);
            assert.equal(lbl, labels === "binary" ? (y < kk / 2 ? 0 : 1) : y);
            assert.equal(hasCue(source.train, d.shape, i, 255), cue === 1);
            if (cue === (y < kk / 2 ? 0 : 1)) agree[y]++;
          }
          agree.forEach((a, c) => assert.equal(a, Math.round(p * perClass[c])));
        },
      ),
      { numRuns: 100 },
    );
  });

  await t.step("real MNIST t10k: agreement fractions, groups and drawn borders", async () => {
    const mnist = await mnistT10k();
    const { source, target } = makeShift(spurious, {}).apply(mnist, shiftRngs(6));
    const digits = countsOf(mnist.train.labels, 10);
    const expectAgree = digits.reduce((a, n) => a + Math.round(0.95 * n), 0);
    for (const [d, p, expected] of [[source, 0.95, expectAgree], [target, 0.5, undefined]] as const) {
      const groups = countsOf(d.train.groups, 4);
      const agree = groups[0] + groups[3];
      if (expected !== undefined) assert.equal(agree, expected);
      // at most half an example of rounding per digit
      assert.ok(Math.abs(agree - p * d.train.count) <= 5, `agreement ${agree} vs ${p * d.train.count}`);
      assert.equal(groups[0] + groups[1], digits.slice(0, 5).reduce((a, b) => a + b, 0));
      for (let i = 0; i < d.train.count; i++) {
        // MNIST corners are black, so the top-left pixel tells whether the border was drawn
        assert.equal(hasCue(d.train, mnist.shape, i, 255), d.train.groups![i] % 2 === 1);
      }
    }
  });
});

// ---------------------------------------------------------------------------
// worst-group-accuracy

/** Logits for a 2-class problem whose arg-max is `pred` (no ties). */
const logitsFor = (pred: ReadonlyArray<number>): Float32Array =>
  Float32Array.from(pred.flatMap((p) => (p === 0 ? [1, -1] : [-1, 1])));

Deno.test("worst-group-accuracy", async (t) => {
  const labels = Int32Array.from([0, 0, 1, 1, 0, 1]);
  const pred = [0, 1, 1, 1, 1, 0];
  const base: EvaluationInput = { logits: logitsFor(pred), labels, count: 6, numClasses: 2 };

  await t.step("hand-computed example with groups", () => {
    // group 0: examples 0, 1 → 1/2; group 1: 2, 3 → 2/2; group 2: 4 → 0/1; group 3: 5 → 0/1
    const m = evaluator.evaluate({ ...base, groups: Int32Array.from([0, 0, 1, 1, 2, 3]) });
    assert.deepEqual(m, { "worst-group-accuracy": 0, "mean-group-accuracy": (0.5 + 1 + 0 + 0) / 4 });
    // sparse group ids: only the groups that occur count (7: examples 0, 1 → 1/2; 2: examples 2–5 → 2/4)
    const m2 = evaluator.evaluate({ ...base, groups: Int32Array.from([7, 7, 2, 2, 2, 2]) });
    assert.deepEqual(m2, { "worst-group-accuracy": 0.5, "mean-group-accuracy": 0.5 });
  });

  await t.step("without groups: per-class accuracy", () => {
    // class 0: examples 0, 1, 4 → 1/3; class 1: 2, 3, 5 → 2/3
    const m = evaluator.evaluate(base);
    assert.equal(m["worst-group-accuracy"], 1 / 3);
    assert.equal(m["mean-group-accuracy"], 0.5);
  });

  await t.step("empty split gives NaN", () => {
    const m = evaluator.evaluate({ logits: new Float32Array(0), labels: new Int32Array(0), count: 0, numClasses: 2 });
    assert.ok(Number.isNaN(m["worst-group-accuracy"]) && Number.isNaN(m["mean-group-accuracy"]));
  });

  await t.step("a cue-only classifier on the spurious target: worst group 0, mean 1/2", () => {
    const d = datasetOf(interleavedLabels([50, 50, 50, 50]), interleavedLabels([20, 20, 20, 20]), 4);
    const { target } = makeShift(spurious, {}).apply(d, shiftRngs(8));
    const split = target.test;
    const cuePred = Array.from(split.groups!, (g) => g % 2);
    const m = evaluator.evaluate({
      logits: logitsFor(cuePred),
      labels: split.labels,
      groups: split.groups,
      count: split.count,
      numClasses: 2,
    });
    assert.deepEqual(m, { "worst-group-accuracy": 0, "mean-group-accuracy": 0.5 });
  });
});
