/**
 * Output-level shifts: label-permutation, label-noise, class-prior. Synthetic
 * datasets with hand-computed expectations, binomial tolerances for the noise
 * rates, fast-check properties, and one run on the real MNIST t10k labels.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect, Either, Schema } from "effect";
import type { Plugin, ShiftImpl } from "../../core/plugin.ts";
import type { UserError } from "../../core/errors.ts";
import { type Dataset, imageSize, type Split } from "../../core/dataset.ts";
import { rngFor } from "../../core/random.ts";
import { countsOf, interleavedLabels, mnistT10k, shiftRngs } from "../helpers.ts";
import { formatParseError } from "../../core/pipeline/schema.ts";
import labelPermutation, { resolvePermutation } from "../../plugins/shifts/label_permutation.ts";
import labelNoise, { noisyLabels } from "../../plugins/shifts/label_noise.ts";
import classPrior, { dirichletDraw, priorCounts, targetProportions } from "../../plugins/shifts/class_prior.ts";

// ---------------------------------------------------------------------------
// helpers

/** Decode raw options like the registry does, and make the shift. */
const makeShift = <O>(plugin: Plugin<"shift", O>, raw: unknown): ShiftImpl => {
  const options = Schema.decodeUnknownSync(plugin.options, { errors: "all", onExcessProperty: "error" })(raw);
  return Effect.runSync(plugin.make(options) as Effect.Effect<ShiftImpl, UserError>);
};

/** The decode error text for raw options (fails the test when they decode). */
const decodeError = <O>(plugin: Plugin<"shift", O>, raw: unknown): string => {
  const r = Schema.decodeUnknownEither(plugin.options, { errors: "all", onExcessProperty: "error" })(raw);
  if (Either.isRight(r)) assert.fail(`options ${JSON.stringify(raw)} should not decode`);
  return formatParseError(r.left);
};

const SHAPE = [2, 2, 1] as const;

/** A split with the given labels; image i holds i (little-endian in its first two pixels) so examples can be traced. */
const splitOf = (labels: ArrayLike<number>): Split => {
  const size = imageSize(SHAPE);
  const images = new Uint8Array(labels.length * size);
  for (let i = 0; i < labels.length; i++) {
    images[i * size] = i & 255;
    images[i * size + 1] = i >> 8;
  }
  return { images, labels: Int32Array.from(labels), count: labels.length };
};

/** The base index an image of `splitOf` came from. */
const indexOf = (split: Split, i: number): number => {
  const size = imageSize(SHAPE);
  return split.images[i * size] + 256 * split.images[i * size + 1];
};

const datasetOf = (train: ArrayLike<number>, test: ArrayLike<number>, k: number, name = "synthetic"): Dataset => ({
  name,
  shape: SHAPE,
  classNames: Array.from({ length: k }, (_, c) => `c${c}`),
  train: splitOf(train),
  test: splitOf(test),
});

/** |x − n·p| ≤ z·sqrt(n·p·(1−p)) (z = 5: a false alarm has probability < 1e-6). */
const assertBinomial = (x: number, n: number, p: number, what: string, z = 5): void => {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(x - n * p) <= z * sd + 1e-9, `${what}: ${x} of ${n}, expected ${n * p} ± ${z * sd}`);
};

// ---------------------------------------------------------------------------
// label-permutation

Deno.test("label-permutation", async (t) => {
  const base = datasetOf(interleavedLabels([3, 3, 3, 3, 3]), interleavedLabels([2, 2, 2, 2, 2]), 5);

  await t.step("named and explicit permutations relabel train and test; source untouched", () => {
    const cases: Array<[unknown, number[], string]> = [
      [{}, [4, 3, 2, 1, 0], "labels-reversed"],
      [{ permutation: "reverse" }, [4, 3, 2, 1, 0], "labels-reversed"],
      [{ permutation: "shift:2" }, [2, 3, 4, 0, 1], "labels-shift2"],
      [{ permutation: "shift:-1" }, [4, 0, 1, 2, 3], "labels-shift-1"],
      [{ permutation: "shift:7" }, [2, 3, 4, 0, 1], "labels-shift7"],
      [{ permutation: [1, 0, 2, 4, 3] }, [1, 0, 2, 4, 3], "labels-[1,0,2,4,3]"],
    ];
    for (const [raw, perm, label] of cases) {
      const shift = makeShift(labelPermutation, raw);
      assert.equal(shift.label, label);
      assert.equal(shift.sourceKey, "clean");
      const { source, target } = shift.apply(base, shiftRngs(1));
      assert.equal(source, base);
      assert.deepEqual([...target.train.labels], [...base.train.labels].map((y) => perm[y]));
      assert.deepEqual([...target.test.labels], [...base.test.labels].map((y) => perm[y]));
      assert.equal(target.train.images, base.train.images);
      assert.deepEqual(target.classNames, base.classNames);
    }
  });

  await t.step("invalid permutations are explained", () => {
    const err = (perm: number[]) => {
      const shift = makeShift(labelPermutation, { permutation: perm });
      try {
        shift.apply(base, shiftRngs(1));
      } catch (e) {
        return (e as Error).message;
      }
      return assert.fail(`[${perm}] accepted`);
    };
    const dup = err([0, 0, 2, 3, 4]);
    assert.match(dup, /not a permutation of 0\.\.4/);
    assert.match(dup, /0 repeated/);
    assert.match(dup, /1 missing/);
    assert.match(err([0, 1, 2]), /3 entries but the dataset has 5 classes/);
    assert.match(err([0, 1, 2, 3, 5]), /5 outside 0\.\.4/);
    assert.match(err([-1, 1, 2, 3, 4]), /-1 outside 0\.\.4/);
    assert.match(decodeError(labelPermutation, { permutation: "shift:x" }), /expected "reverse", "shift:k"/);
    assert.match(decodeError(labelPermutation, { permutation: "flip" }), /got "flip"/);
  });

  await t.step("property: every accepted spec is a bijection on 0..K−1", () => {
    const spec = (k: number) =>
      fc.oneof(
        fc.constant<string | number[]>("reverse"),
        fc.integer({ min: -40, max: 40 }).map((s): string | number[] => `shift:${s}`),
        fc.shuffledSubarray(Array.from({ length: k }, (_, i) => i), { minLength: k, maxLength: k }),
      );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }).chain((k) => fc.tuple(fc.constant(k), spec(k))),
        ([k, s]) => {
          const perm = resolvePermutation(s, k);
          assert.deepEqual([...perm].sort((a, b) => a - b), Array.from({ length: k }, (_, i) => i));
          if (typeof s === "string" && s.startsWith("shift:")) {
            const shift = Number(s.slice(6));
            perm.forEach((v, y) => assert.equal(((v - y - shift) % k + k) % k, 0));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------
// label-noise

Deno.test("label-noise", async (t) => {
  const k = 10;
  const n = 20000;
  const base = datasetOf(interleavedLabels(new Array(k).fill(n / k)), interleavedLabels(new Array(k).fill(50)), k);

  await t.step(
    "symmetric: Binomial(n, rate) labels changed, uniformly to the other classes; test and source clean",
    () => {
      const rate = 0.3;
      const shift = makeShift(labelNoise, { rate });
      assert.equal(shift.label, "label-noise-sym0.3");
      assert.equal(shift.sourceKey, "clean");
      const { source, target } = shift.apply(base, shiftRngs(7));
      assert.equal(source, base);
      assert.equal(target.test, base.test);
      assert.equal(target.train.images, base.train.images);
      const y0 = base.train.labels;
      const y1 = target.train.labels;
      let changed = 0;
      // where class-0 examples went: each of the 9 other classes with probability rate/9
      const fromZero = new Array<number>(k).fill(0);
      for (let i = 0; i < n; i++) {
        assert.ok(y1[i] >= 0 && y1[i] < k);
        if (y1[i] !== y0[i]) changed++;
        if (y0[i] === 0) fromZero[y1[i]]++;
      }
      assertBinomial(changed, n, rate, "changed labels");
      for (let c = 1; c < k; c++) assertBinomial(fromZero[c], n / k, rate / 9, `class 0 → ${c}`);
    },
  );

  await t.step("pairs: flips go to (y+1) mod K at the rate, per class", () => {
    const rate = 0.25;
    const { target } = makeShift(labelNoise, { mode: "pairs", rate }).apply(base, shiftRngs(8));
    const flips = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const y = base.train.labels[i];
      const z = target.train.labels[i];
      if (z !== y) {
        assert.equal(z, (y + 1) % k);
        flips[y]++;
      }
    }
    flips.forEach((f, c) => assertBinomial(f, n / k, rate, `class ${c} flips`));
  });

  await t.step("matrix: rows are the transition probabilities", () => {
    const matrix = [[1, 0, 0], [0, 0.5, 0.5], [0.2, 0, 0.8]];
    const b3 = datasetOf(interleavedLabels([3000, 3000, 3000]), [0, 1, 2], 3);
    const shift = makeShift(labelNoise, { mode: "matrix", matrix });
    assert.equal(shift.label, "label-noise-matrix");
    const { target } = shift.apply(b3, shiftRngs(9));
    const moves = Array.from({ length: 3 }, () => [0, 0, 0]);
    for (let i = 0; i < b3.train.count; i++) moves[b3.train.labels[i]][target.train.labels[i]]++;
    assert.deepEqual(moves[0], [3000, 0, 0]);
    assert.equal(moves[1][0], 0);
    assertBinomial(moves[1][2], 3000, 0.5, "1 → 2");
    assert.equal(moves[2][1], 0);
    assertBinomial(moves[2][0], 3000, 0.2, "2 → 0");
  });

  await t.step("rate 0 keeps every label, symmetric rate 1 changes every label", () => {
    const { target: t0 } = makeShift(labelNoise, { rate: 0 }).apply(base, shiftRngs(1));
    assert.deepEqual(t0.train.labels, base.train.labels);
    const { target: t1 } = makeShift(labelNoise, { rate: 1 }).apply(base, shiftRngs(1));
    for (let i = 0; i < n; i++) assert.notEqual(t1.train.labels[i], base.train.labels[i]);
  });

  await t.step("deterministic under a seed, different across seeds", () => {
    const shift = makeShift(labelNoise, {});
    const a = shift.apply(base, shiftRngs(3)).target.train.labels;
    const b = shift.apply(base, shiftRngs(3)).target.train.labels;
    const c = shift.apply(base, shiftRngs(4)).target.train.labels;
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  await t.step("bad options are explained", () => {
    assert.match(decodeError(labelNoise, { mode: "matrix" }), /needs `matrix`/);
    assert.match(decodeError(labelNoise, { mode: "matrix", matrix: [[0.5, 0.4], [0, 1]] }), /row 0 .* sums to 0\.9/);
    assert.match(decodeError(labelNoise, { mode: "matrix", matrix: [[1, 0], [0, 1, 0]] }), /row 1 .* 3 entries/);
    assert.match(decodeError(labelNoise, { matrix: [[1]] }), /only used with `mode: matrix`/);
    assert.match(decodeError(labelNoise, { rate: 1.5 }), /rate/);
    const shift = makeShift(labelNoise, { mode: "matrix", matrix: [[1, 0], [0, 1]] });
    assert.throws(() => shift.apply(base, shiftRngs(1)), /2 rows but the dataset has 10 classes/);
  });

  await t.step(
    "property: labels stay in range, pairs only flip forward, matrix only makes possible transitions",
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 12 }).chain((kk) =>
            fc.record({
              k: fc.constant(kk),
              labels: fc.array(fc.integer({ min: 0, max: kk - 1 }), { maxLength: 200 }),
              mode: fc.constantFrom("symmetric" as const, "pairs" as const, "matrix" as const),
              rate: fc.double({ min: 0, max: 1, noNaN: true }),
              weights: fc.array(
                fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: kk, maxLength: kk }),
                {
                  minLength: kk,
                  maxLength: kk,
                },
              ),
              seed: fc.integer(),
            })
          ),
          ({ k: kk, labels, mode, rate, weights, seed }) => {
            // a row-stochastic matrix from the weights (a zero row keeps the label)
            const matrix = weights.map((row, r) => {
              const s = row.reduce((a, b) => a + b, 0);
              return s > 0 ? row.map((w) => w / s) : row.map((_, c) => (c === r ? 1 : 0));
            });
            const o = mode === "matrix" ? { mode, rate: 0.2, matrix } : { mode, rate };
            const y = Int32Array.from(labels);
            const z = noisyLabels(y, kk, o, rngFor(seed, ["p"]));
            assert.equal(z.length, y.length);
            z.forEach((v, i) => {
              assert.ok(Number.isInteger(v) && v >= 0 && v < kk, `label ${v} out of range`);
              if (mode === "pairs" && v !== y[i]) assert.equal(v, (y[i] + 1) % kk);
              if (mode === "matrix") assert.ok(matrix[y[i]][v] > 0, `impossible transition ${y[i]} → ${v}`);
            });
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  await t.step("real MNIST t10k labels: noise rate within the binomial tolerance", async () => {
    const mnist = await mnistT10k();
    const rate = 0.4;
    const { source, target } = makeShift(labelNoise, { rate }).apply(mnist, shiftRngs(11));
    assert.equal(source, mnist);
    let changed = 0;
    for (let i = 0; i < mnist.train.count; i++) if (target.train.labels[i] !== mnist.train.labels[i]) changed++;
    assertBinomial(changed, mnist.train.count, rate, "MNIST changed labels");
    assert.deepEqual(target.test.labels, mnist.test.labels);
  });
});

// ---------------------------------------------------------------------------
// class-prior

Deno.test("class-prior", async (t) => {
  await t.step("priorCounts: hand-computed totals and largest-remainder rounding", () => {
    // N = min(100/0.5, 100/0.3, 100/0.2) = 200
    assert.deepEqual(priorCounts([100, 100, 100], [0.5, 0.3, 0.2]), [100, 60, 40]);
    // N = min(30, 21, 9) = 9
    assert.deepEqual(priorCounts([10, 7, 3], [1 / 3, 1 / 3, 1 / 3]), [3, 3, 3]);
    // N = min(14, 40, 40) = 14; quotas 7, 3.5, 3.5 → tie broken towards the lower class
    assert.deepEqual(priorCounts([7, 10, 10], [0.5, 0.25, 0.25]), [7, 4, 3]);
    // a class with proportion 0 keeps nothing and does not limit N = min(8, 12) = 8
    assert.deepEqual(priorCounts([5, 4, 6], [0, 0.5, 0.5]), [0, 4, 4]);
    // a class with no examples and positive proportion: nothing can be kept
    assert.deepEqual(priorCounts([0, 9], [0.5, 0.5]), [0, 0]);
  });

  await t.step("explicit proportions subsample target train and test; source clean", () => {
    const base = datasetOf(interleavedLabels([100, 100, 100, 100]), interleavedLabels([50, 50, 50, 50]), 4);
    const shift = makeShift(classPrior, { proportions: [4, 3, 2, 1] });
    assert.equal(shift.sourceKey, "clean");
    assert.equal(shift.label, "class-prior-[4,3,2,1]");
    const { source, target } = shift.apply(base, shiftRngs(5));
    assert.equal(source, base);
    // train: N = min(100/0.4, 100/0.3, 100/0.2, 100/0.1) = 250
    assert.deepEqual(countsOf(target.train.labels, 4), [100, 75, 50, 25]);
    // test: N = 125, quotas 50, 37.5, 25, 12.5 → [50, 37, 25, 12] + 1 to class 1 (tie with class 3)
    assert.deepEqual(countsOf(target.test.labels, 4), [50, 38, 25, 12]);
    // kept examples are distinct base examples with their labels, in their original order
    let last = -1;
    for (let i = 0; i < target.train.count; i++) {
      const j = indexOf(target.train, i);
      assert.ok(j > last, `example ${i} comes from base ${j}, after ${last}`);
      assert.equal(base.train.labels[j], target.train.labels[i]);
      last = j;
    }
  });

  await t.step("dirichlet: proportions from the rng, counts follow them, deterministic", () => {
    const base = datasetOf(interleavedLabels([300, 300, 300, 300, 300]), interleavedLabels([60, 60, 60, 60, 60]), 5);
    const shift = makeShift(classPrior, { dirichlet: 0.7 });
    assert.equal(shift.label, "class-prior-dir0.7");
    const a = shift.apply(base, shiftRngs(21)).target;
    const b = shift.apply(base, shiftRngs(21)).target;
    assert.deepEqual(a.train.labels, b.train.labels);
    assert.deepEqual(a.test.labels, b.test.labels);
    const p = targetProportions({ dirichlet: 0.7 }, 5, shiftRngs(21)(["proportions"]));
    assert.ok(Math.abs(p.reduce((x, y) => x + y, 0) - 1) < 1e-12);
    assert.deepEqual(countsOf(a.train.labels, 5), priorCounts(new Array(5).fill(300), p));
    assert.deepEqual(countsOf(a.test.labels, 5), priorCounts(new Array(5).fill(60), p));
    const c = shift.apply(base, shiftRngs(22)).target;
    assert.notDeepEqual(countsOf(a.train.labels, 5), countsOf(c.train.labels, 5));
  });

  await t.step("dirichletDraw has the Dirichlet mean and variance", () => {
    for (const alpha of [0.3, 1, 4]) {
      const kk = 4;
      const draws = 4000;
      const rng = rngFor(99, ["dirichlet", alpha]);
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < draws; i++) {
        const p = dirichletDraw(kk, alpha, rng);
        sum += p[0];
        sumSq += p[0] * p[0];
      }
      const mean = sum / draws;
      const variance = sumSq / draws - mean * mean;
      const expectedVar = (kk - 1) / (kk * kk * (kk * alpha + 1));
      // the standard error of the mean is sqrt(var / draws) ≤ 0.007; allow 5 of them
      assert.ok(Math.abs(mean - 1 / kk) < 5 * Math.sqrt(expectedVar / draws), `α=${alpha}: mean ${mean}`);
      assert.ok(Math.abs(variance / expectedVar - 1) < 0.15, `α=${alpha}: variance ${variance} vs ${expectedVar}`);
    }
  });

  await t.step("property: counts fit, sum to N, within 1 of p·N, and N is maximal", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }).chain((kk) =>
          fc.tuple(
            fc.array(fc.integer({ min: 0, max: 500 }), { minLength: kk, maxLength: kk }),
            fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 10, noNaN: true })), {
              minLength: kk,
              maxLength: kk,
            }),
          )
        ),
        ([available, weights]) => {
          fc.pre(weights.some((w) => w > 0));
          const sum = weights.reduce((a, b) => a + b, 0);
          const p = weights.map((w) => w / sum);
          const counts = priorCounts(available, p);
          const n = counts.reduce((a, b) => a + b, 0);
          counts.forEach((m, c) => {
            assert.ok(m <= available[c], `class ${c}: ${m} > ${available[c]}`);
            assert.ok(Math.abs(m - p[c] * n) < 1 + 1e-6, `class ${c}: ${m} vs ${p[c] * n}`);
            if (p[c] === 0) assert.equal(m, 0);
          });
          // one more example would need more of some class than it has
          assert.ok(p.some((pc, c) => pc > 0 && pc * (n + 1) > available[c] + 1e-6));
        },
      ),
      { numRuns: 500 },
    );
  });

  await t.step("bad options are explained", () => {
    assert.match(decodeError(classPrior, {}), /either `proportions`.*or `dirichlet`/);
    assert.match(decodeError(classPrior, { proportions: [1, 1], dirichlet: 1 }), /not both/);
    assert.match(decodeError(classPrior, { proportions: [0, 0] }), /at least one positive/);
    assert.match(decodeError(classPrior, { dirichlet: 0 }), /dirichlet/);
    const base = datasetOf([0, 1, 2], [0, 1, 2], 3);
    assert.throws(
      () => makeShift(classPrior, { proportions: [1, 2] }).apply(base, shiftRngs(1)),
      /2 entries but the dataset has 3/,
    );
  });

  await t.step("real MNIST t10k labels: counts match the hand rule", async () => {
    const mnist = await mnistT10k();
    const weights = [10, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const { target } = makeShift(classPrior, { proportions: weights }).apply(mnist, shiftRngs(12));
    const avail = countsOf(mnist.train.labels, 10);
    const got = countsOf(target.train.labels, 10);
    // p_0 = 10/19, others 1/19: N = min(n_0·19/10, 19·n_c) = ⌊1.9·n_0⌋ (n_0 ≈ 800 limits it)
    const total = Math.min(...avail.map((n, c) => Math.floor(n / (weights[c] / 19) + 1e-9)));
    assert.equal(got.reduce((a, b) => a + b, 0), total);
    assert.ok(Math.abs(got[0] - (total * 10) / 19) < 1);
    for (let c = 1; c < 10; c++) assert.ok(Math.abs(got[c] - total / 19) < 1);
  });
});
