/**
 * Top-1 metrics from logits (core/metrics.ts): hand-computed rows, and a property
 * against an independent computation with ties, NaN and infinite logits.
 */
import { strict as assert } from "node:assert";
import { Effect } from "effect";
import fc from "fast-check";
import { argmaxAccuracy, argmaxRow, predictedClasses } from "../../core/metrics.ts";
import type { EvaluatorImpl } from "../../core/plugin.ts";
import type { UserError } from "../../core/errors.ts";
import accuracy from "../../plugins/evaluators/accuracy.ts";

/**
 * The class the scan picks, stated without a scan: a row that starts with NaN predicts
 * class 0 (nothing compares greater than NaN); otherwise the first index holding the
 * largest non-NaN logit (ties: the first maximum).
 */
const handArgmax = (row: ReadonlyArray<number>): number =>
  Number.isNaN(row[0]) ? 0 : row.indexOf(Math.max(...row.filter((x) => !Number.isNaN(x))));

const rowsOf = (logits: Float32Array, k: number): number[][] =>
  Array.from({ length: logits.length / k }, (_, i) => [...logits.subarray(i * k, (i + 1) * k)]);

/** Logits from a small set of values (ties are common), NaN, ±Infinity, ±0 and arbitrary floats. */
const logit = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0) },
  { weight: 2, arbitrary: fc.float({ noNaN: true }) },
);

const problem = fc.integer({ min: 1, max: 6 }).chain((k) =>
  fc.integer({ min: 0, max: 12 }).chain((count) =>
    fc.record({
      k: fc.constant(k),
      count: fc.constant(count),
      logits: fc.array(logit, { minLength: count * k, maxLength: count * k }).map((xs) => Float32Array.from(xs)),
      labels: fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: count, maxLength: count })
        .map((ys) => Int32Array.from(ys)),
    })
  )
);

Deno.test("metrics: hand-computed rows (first maximum wins, NaN as the scan treats it)", () => {
  const logits = Float32Array.from([
    ...[0.1, 0.7, 0.2], // 1
    ...[0.5, 0.5, 0.1], // tie → 0
    ...[0.1, 0.9, 0.9], // tie → 1
    ...[NaN, 3, 4], // NaN first → 0
    ...[1, NaN, 3], // NaN skipped → 2
    ...[-Infinity, -Infinity, -Infinity], // all equal → 0
  ]);
  assert.deepEqual([...predictedClasses(logits, 6, 3)], [1, 0, 1, 0, 2, 0]);
  assert.equal(argmaxRow(logits, 4, 3), 2);
  assert.equal(argmaxAccuracy(logits, Int32Array.from([1, 0, 2, 0, 1, 0]), 6, 3), 4 / 6);
  // only the first `count` rows count
  assert.equal(argmaxAccuracy(logits, Int32Array.from([1, 1]), 2, 3), 1 / 2);
});

Deno.test("metrics: an empty split has accuracy NaN and no predictions", () => {
  assert.ok(Number.isNaN(argmaxAccuracy(new Float32Array(0), new Int32Array(0), 0, 10)));
  assert.equal(predictedClasses(new Float32Array(0), 0, 10).length, 0);
});

Deno.test("metrics: agree with an independent computation (property: ties, NaN, ±Infinity)", () => {
  fc.assert(
    fc.property(problem, ({ k, count, logits, labels }) => {
      const expected = rowsOf(logits, k).map(handArgmax);
      assert.deepEqual([...predictedClasses(logits, count, k)], expected);
      expected.forEach((c, i) => assert.equal(argmaxRow(logits, i, k), c));
      const correct = expected.filter((c, i) => c === labels[i]).length;
      const acc = argmaxAccuracy(logits, labels, count, k);
      if (count === 0) assert.ok(Number.isNaN(acc));
      else assert.equal(acc, correct / count);
    }),
    { numRuns: 500 },
  );
});

Deno.test("metrics: the accuracy evaluator reports the independent computation's number (property)", () => {
  // the accuracy evaluator needs no service
  const evaluator = Effect.runSync(accuracy.make({}) as Effect.Effect<EvaluatorImpl, UserError>);
  fc.assert(
    fc.property(problem, ({ k, count, logits, labels }) => {
      const got = evaluator.evaluate({ logits, labels, count, numClasses: k }).accuracy;
      const correct = rowsOf(logits, k).map(handArgmax).filter((c, i) => c === labels[i]).length;
      assert.ok(Object.is(got, count === 0 ? NaN : correct / count));
    }),
  );
});
