import { strict as assert } from "node:assert";
import fc from "fast-check";
import { largestRemainder, stratifiedSamples } from "../../core/splits.ts";
import { rngFor } from "../../core/random.ts";
import type { Split } from "../../core/dataset.ts";

const splitWithCounts = (counts: number[]): Split => {
  const labels = Int32Array.from(counts.flatMap((n, c) => Array<number>(n).fill(c)));
  return { images: new Uint8Array(labels.length), labels, count: labels.length };
};

Deno.test("splits: largest-remainder rounding (hand-computed)", () => {
  // 10 × [0.5, 0.3, 0.2] → exact; 7 × [1/3, 1/3, 1/3] = 2.33 each → one extra to the lowest index
  assert.deepEqual(largestRemainder([5, 3, 2], 10, [99, 99, 99]), [5, 3, 2]);
  assert.deepEqual(largestRemainder([7 / 3, 7 / 3, 7 / 3], 7, [99, 99, 99]), [3, 2, 2]);
  // a cap moves the remainder elsewhere
  assert.deepEqual(largestRemainder([2.5, 2.5], 5, [2, 9]), [2, 3]);
});

Deno.test("splits: samples are disjoint, of the asked sizes, and keep class proportions (property)", () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 2, maxLength: 6 }),
    fc.integer({ min: 0, max: 1000 }),
    fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 })),
    (counts, seed, [a, b]) => {
      const split = splitWithCounts(counts);
      fc.pre(a + b <= split.count);
      const [s1, s2] = stratifiedSamples(split, counts.length, [a, b], rngFor(seed, ["s"]));
      assert.equal(s1.length, a);
      assert.equal(s2.length, b);
      const all = new Set([...s1, ...s2]);
      assert.equal(all.size, a + b, "samples overlap");
      // first sample: each class within 1 of its proportional share
      counts.forEach((n, c) => {
        const got = [...s1].filter((i) => split.labels[i] === c).length;
        assert.ok(Math.abs(got - (a * n) / split.count) < 1 + 1e-9, `class ${c}: ${got} vs ${(a * n) / split.count}`);
      });
    },
  ));
});

Deno.test("splits: same seed ⇒ same samples; a larger request is refused", () => {
  const split = splitWithCounts([30, 30, 40]);
  const x = stratifiedSamples(split, 3, [20, 10], rngFor(5, ["s"]));
  const y = stratifiedSamples(split, 3, [20, 10], rngFor(5, ["s"]));
  assert.deepEqual(x, y);
  assert.throws(() => stratifiedSamples(split, 3, [90, 20], rngFor(5, ["s"])), /only 100/);
});
