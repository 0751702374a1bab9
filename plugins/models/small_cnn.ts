/**
 * `small-cnn`: conv 16 (3×3, same, relu) → maxpool 2 → conv 32 (3×3, same, relu)
 * → maxpool 2 → flatten → dense 64 relu → dense K.
 * Groups: block1 = first conv, block2 = second conv, block3 = dense 64, head = last dense.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { defineModel } from "../../core/plugin.ts";
import { makeZoo, ZooOptions } from "./weights.ts";
import { type Model, runStages, type Stage, VariableBuilder } from "../../core/model.ts";
import { convBias, convKernel, denseParams } from "./layers.ts";

/** 3×3 "same" conv with bias and ReLU, then 2×2 max-pooling. */
const convReluPool = (x: tf.Tensor, kernel: tf.Variable, bias: tf.Variable): tf.Tensor4D =>
  tf.maxPool(
    tf.fused.conv2d({
      x: x as tf.Tensor4D,
      filter: kernel as tf.Tensor4D,
      strides: 1,
      pad: "same",
      bias,
      activation: "relu",
    }),
    2,
    2,
    "valid",
  );

/** The small-cnn model plugin. */
export default defineModel({
  name: "small-cnn",
  description: "two 3×3 conv layers (16, 32) with max-pooling, dense 64, dense head; groups block1..block3, head",
  options: ZooOptions,
  make: (options) =>
    makeZoo(
      ({ inputShape, numClasses }, rng): Model => {
        const [h, w, c] = inputShape;
        const b = new VariableBuilder();
        const k1 = convKernel(b, rng, "block1/conv", "block1", 3, c, 16);
        const b1 = convBias(b, rng, "block1/conv", "block1", 16, 3 * 3 * c);
        const k2 = convKernel(b, rng, "block2/conv", "block2", 3, 16, 32);
        const b2 = convBias(b, rng, "block2/conv", "block2", 32, 3 * 3 * 16);
        const flat = Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2) * 32;
        const d1 = denseParams(b, rng, "block3/dense", "block3", flat, 64);
        const d2 = denseParams(b, rng, "head/dense", "head", 64, numClasses);
        const stages: Stage[] = [
          { group: "block1", apply: (x) => convReluPool(x, k1, b1) },
          { group: "block2", apply: (x) => tf.reshape(convReluPool(x, k2, b2), [x.shape[0], flat]) },
          {
            group: "block3",
            apply: (x) =>
              tf.fused.matMul({ a: x as tf.Tensor2D, b: d1.kernel as tf.Tensor2D, bias: d1.bias, activation: "relu" }),
          },
          {
            group: "head",
            apply: (x) => tf.fused.matMul({ a: x as tf.Tensor2D, b: d2.kernel as tf.Tensor2D, bias: d2.bias }),
          },
        ];
        return {
          architecture: "small-cnn",
          inputShape,
          numClasses,
          groups: ["block1", "block2", "block3", "head"],
          firstLayer: ["block1/conv/kernel", "block1/conv/bias"],
          params: b.params,
          state: b.state,
          stages,
          forward: (x, mode) => runStages(stages, x, mode),
        };
      },
      options,
    ),
});
