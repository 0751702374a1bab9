import { strict as assert } from "node:assert";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { useWasm } from "../helpers.ts";
import { rngFor } from "../../core/random.ts";
import { type BatchNormVars, convBatchNorm } from "../../plugins/models/layers.ts";

await useWasm();

interface Case {
  n: number;
  h: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
  activation: "linear" | "relu";
  seed: number;
}

/** Values and gradients (x, kernel, γ, β) of Σ r·f(x) for `f` on `backend`. */
const valueAndGrads = async (
  backend: "cpu" | "wasm",
  c: Case,
  f: (x: tf.Tensor4D, w: tf.Tensor4D, bn: Record<"gamma" | "beta" | "mean" | "variance", tf.Tensor1D>) => tf.Tensor4D,
): Promise<Float32Array[]> => {
  await tf.setBackend(backend);
  const r = rngFor(c.seed, ["conv-bn"]);
  const vals = (n: number, lo: number, hi: number) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * r.float());
  const outs = tf.tidy(() => {
    const x = tf.tensor4d(vals(c.n * c.h * c.h * c.ci, -1, 1), [c.n, c.h, c.h, c.ci]);
    const w = tf.tensor4d(vals(c.k * c.k * c.ci * c.co, -1, 1), [c.k, c.k, c.ci, c.co]);
    const gamma = tf.tensor1d(vals(c.co, 0.5, 2));
    const beta = tf.tensor1d(vals(c.co, -1, 1));
    const mean = tf.tensor1d(vals(c.co, -1, 1));
    const variance = tf.tensor1d(vals(c.co, 0.01, 2)); // small variances make a missing ε visible
    const oh = Math.ceil(c.h / c.stride);
    const weights = tf.tensor4d(vals(c.n * oh * oh * c.co, -1, 1), [c.n, oh, oh, c.co]);
    const loss = (x: tf.Tensor, w: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.mul(
          f(x as tf.Tensor4D, w as tf.Tensor4D, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, mean, variance }),
          weights,
        ),
      );
    const y = f(x, w, { gamma, beta, mean, variance });
    return [y, ...tf.grads(loss)([x, w, gamma, beta])];
  });
  const data = await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(outs);
  return data;
};

Deno.test("convBatchNorm (eval): the folded conv equals conv → batch norm → activation, values and gradients", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 3, max: 9 }),
        ci: fc.integer({ min: 1, max: 4 }),
        co: fc.integer({ min: 1, max: 5 }),
        k: fc.constantFrom(1, 3),
        stride: fc.constantFrom(1, 2),
        activation: fc.constantFrom("linear" as const, "relu" as const),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      async (c) => {
        // reference: the unfused composition on the cpu backend
        const ref = await valueAndGrads("cpu", c, (x, w, bn) => {
          const y = tf.batchNorm4d(tf.conv2d(x, w, c.stride, "same"), bn.mean, bn.variance, bn.beta, bn.gamma, 1e-5);
          return c.activation === "relu" ? tf.relu(y) : y;
        });
        const got = await valueAndGrads(
          "wasm",
          c,
          (x, w, bn) =>
            convBatchNorm(
              x,
              w as unknown as tf.Variable,
              c.stride,
              bn as unknown as BatchNormVars,
              false,
              [],
              c.activation,
            ),
        );
        assert.equal(got.length, 5);
        ["output", "dx", "dkernel", "dgamma", "dbeta"].forEach((what, i) => {
          const scale = Math.max(1, ...ref[i].map(Math.abs));
          const worst = Math.max(...ref[i].map((v, j) => Math.abs(v - got[i][j])));
          assert.ok(worst / scale < 1e-4, `${what}: max |Δ| ${worst} (scale ${scale}) for ${JSON.stringify(c)}`);
        });
      },
    ),
    { numRuns: 20, seed: 11 },
  );
  await tf.setBackend("wasm");
});
