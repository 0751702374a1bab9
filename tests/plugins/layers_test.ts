import { strict as assert } from "node:assert";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { useWasm } from "../helpers.ts";
import { rngFor } from "../../core/random.ts";
import { type BatchNormVars, convBatchNorm, torchPadding } from "../../plugins/models/layers.ts";

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
          const y = tf.batchNorm4d(
            tf.conv2d(x, w, c.stride, torchPadding(c.k)),
            bn.mean,
            bn.variance,
            bn.beta,
            bn.gamma,
            1e-5,
          );
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

Deno.test("convBatchNorm (train): the closed-form batch-norm gradient equals autodiff through the batch moments", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 2, max: 3 }),
        h: fc.integer({ min: 3, max: 8 }),
        ci: fc.integer({ min: 1, max: 3 }),
        co: fc.integer({ min: 1, max: 4 }),
        k: fc.constantFrom(1, 3),
        stride: fc.constantFrom(1, 2),
        activation: fc.constantFrom("linear" as const, "relu" as const),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      async (c) => {
        // reference: conv → normalise with the batch's moments → affine, differentiated by tfjs, on cpu
        const ref = await valueAndGrads("cpu", c, (x, w, bn) => {
          const z = tf.conv2d(x, w, c.stride, torchPadding(c.k));
          const { mean, variance } = tf.moments(z, [0, 1, 2]);
          const y = tf.batchNorm4d(z, mean as tf.Tensor1D, variance as tf.Tensor1D, bn.beta, bn.gamma, 1e-5);
          return c.activation === "relu" ? tf.relu(y) : y;
        });
        const updates: Array<readonly [tf.Variable, tf.Tensor]> = [];
        const got = await valueAndGrads("wasm", c, (x, w, bn) =>
          convBatchNorm(
            x,
            w as unknown as tf.Variable,
            c.stride,
            bn as unknown as BatchNormVars,
            true,
            updates,
            c.activation,
          ));
        tf.dispose(updates.map(([, t]) => t));
        ["output", "dx", "dkernel", "dgamma", "dbeta"].forEach((what, i) => {
          const scale = Math.max(1, ...ref[i].map(Math.abs));
          const worst = Math.max(...ref[i].map((v, j) => Math.abs(v - got[i][j])));
          assert.ok(worst / scale < 1e-4, `${what}: max |Δ| ${worst} (scale ${scale}) for ${JSON.stringify(c)}`);
        });
      },
    ),
    { numRuns: 20, seed: 12 },
  );
  await tf.setBackend("wasm");
});

Deno.test("zoo initialisation is PyTorch's default: weights and biases U(±1/√fan_in), batch norm γ = 1, β = 0", async () => {
  const { Effect } = await import("effect");
  const smallCnn = (await import("../../plugins/models/small_cnn.ts")).default;
  const resnetMini = (await import("../../plugins/models/resnet_mini.ts")).default;
  for (const plugin of [smallCnn, resnetMini]) {
    const impl = await Effect.runPromise(plugin.make({}) as never) as { build: (s: unknown, r: unknown) => never };
    const model = impl.build({ inputShape: [28, 28, 1], numClasses: 10 }, rngFor(3, ["init"])) as unknown as {
      params: Array<{ name: string; variable: tf.Variable }>;
      state: Array<{ name: string; variable: tf.Variable }>;
    };
    const kernels = new Map(model.params.filter((p) => p.name.endsWith("/kernel")).map((p) => [p.name, p.variable]));
    for (const p of model.params) {
      const v = p.variable.dataSync() as Float32Array;
      if (/\/(gamma)$/.test(p.name)) assert.ok(v.every((x) => x === 1), p.name);
      if (/\/(beta)$/.test(p.name)) assert.ok(v.every((x) => x === 0), p.name);
      if (!/\/(kernel|bias)$/.test(p.name)) continue;
      // fan_in of the layer: k·k·cin for a conv kernel [k, k, cin, cout], nin for a dense kernel [nin, nout]
      const kernel = kernels.get(p.name.replace(/\/bias$/, "/kernel"))!;
      const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const bound = 1 / Math.sqrt(fanIn);
      assert.ok(v.every((x) => Math.abs(x) <= bound), `${plugin.name} ${p.name}: inside ±${bound}`);
      if (v.length >= 500) {
        // a uniform on ±b has mean 0 and variance b²/3
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
        assert.ok(Math.abs(mean) < 0.1 * bound, `${p.name}: mean ${mean}`);
        assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.15, `${p.name}: variance ${variance}`);
      }
    }
    for (const s of model.state) {
      const v = s.variable.dataSync() as Float32Array;
      assert.ok(v.every((x) => x === (s.name.endsWith("moving_variance") ? 1 : 0)), s.name);
    }
    for (const v of [...model.params, ...model.state]) v.variable.dispose();
  }
});
