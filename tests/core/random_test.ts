import { strict as assert } from "node:assert";
import fc from "fast-check";
import { rngFor } from "../../core/random.ts";

Deno.test("random: equal (seed, path) give equal streams, different ones differ", () => {
  const draw = (seed: number, path: (string | number)[]) => {
    const r = rngFor(seed, path);
    return Array.from({ length: 8 }, () => r.float());
  };
  assert.deepEqual(draw(1, ["trial", "a"]), draw(1, ["trial", "a"]));
  assert.notDeepEqual(draw(1, ["trial", "a"]), draw(2, ["trial", "a"]));
  assert.notDeepEqual(draw(1, ["trial", "a"]), draw(1, ["trial", "b"]));
  // path components are separated: ["ab"] is not ["a", "b"]
  assert.notDeepEqual(draw(1, ["ab"]), draw(1, ["a", "b"]));
});

Deno.test("random: permutation is a bijection of 0..n-1 (property)", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 300 }), (seed, n) => {
    const p = rngFor(seed, ["p"]).permutation(n);
    assert.equal(p.length, n);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  }));
});

Deno.test("random: int(n) stays in [0, n) and floats in [0, 1) (property)", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e9 }), (seed, n) => {
    const r = rngFor(seed, ["x"]);
    for (let i = 0; i < 20; i++) {
      const k = r.int(n);
      assert.ok(Number.isInteger(k) && k >= 0 && k < n);
      const f = r.float();
      assert.ok(f >= 0 && f < 1);
    }
  }));
});

Deno.test("random: normal() has mean ≈ 0 and variance ≈ 1", () => {
  const r = rngFor(7, ["normal"]);
  const n = 200_000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    s += x;
    s2 += x * x;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  // 5 standard errors: SE(mean) = 1/√n ≈ 0.0022, SE(var) ≈ √(2/n) ≈ 0.0032
  assert.ok(Math.abs(mean) < 0.012, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.016, `variance ${variance}`);
});
