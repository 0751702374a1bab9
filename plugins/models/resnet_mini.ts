/**
 * `resnet-mini`: stem conv 3×3×16 + BN + relu; stage1 = one basic residual block at
 * 16 channels; stage2 = one at 32, stride 2 (1×1 projection shortcut); stage3 = one
 * at 64, stride 2; global average pool; dense K.
 * Groups: block1 = stem + stage1, block2 = stage2, block3 = stage3, head = dense.
 * The stem conv alone is the "first layer".
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { defineModel } from "../../core/plugin.ts";
import { makeZoo, ZooOptions } from "./weights.ts";
import { type Model, runStages, type Stage, type StateUpdates, VariableBuilder } from "../../core/model.ts";
import type { Rng } from "../../core/random.ts";
import { type BatchNormVars, batchNormVars, convBatchNorm, convKernel, denseParams } from "./layers.ts";

interface BasicBlock {
  readonly conv1: tf.Variable;
  readonly bn1: BatchNormVars;
  readonly conv2: tf.Variable;
  readonly bn2: BatchNormVars;
  readonly stride: number;
  readonly projection?: { readonly conv: tf.Variable; readonly bn: BatchNormVars };
}

const basicBlock = (
  b: VariableBuilder,
  rng: Rng,
  name: string,
  group: string,
  cin: number,
  cout: number,
  stride: number,
): BasicBlock => ({
  conv1: convKernel(b, rng, `${name}/conv1`, group, 3, cin, cout),
  bn1: batchNormVars(b, `${name}/bn1`, group, cout),
  conv2: convKernel(b, rng, `${name}/conv2`, group, 3, cout, cout),
  bn2: batchNormVars(b, `${name}/bn2`, group, cout),
  stride,
  projection: stride !== 1 || cin !== cout
    ? {
      conv: convKernel(b, rng, `${name}/shortcut/conv`, group, 1, cin, cout),
      bn: batchNormVars(b, `${name}/shortcut/bn`, group, cout),
    }
    : undefined,
});

const applyBlock = (
  x: tf.Tensor4D,
  blk: BasicBlock,
  train: boolean,
  updates: StateUpdates,
): tf.Tensor4D => {
  let y = convBatchNorm(x, blk.conv1, blk.stride, blk.bn1, train, updates, "relu");
  y = convBatchNorm(y, blk.conv2, 1, blk.bn2, train, updates);
  const shortcut = blk.projection
    ? convBatchNorm(x, blk.projection.conv, blk.stride, blk.projection.bn, train, updates)
    : x;
  return tf.relu(tf.add(y, shortcut));
};

/** The resnet-mini model plugin. */
export default defineModel({
  name: "resnet-mini",
  description: "stem conv + three basic residual blocks (16, 32/2, 64/2) + global average pool + dense head",
  options: ZooOptions,
  make: (options) =>
    makeZoo(
      ({ inputShape, numClasses }, rng): Model => {
        const c = inputShape[2];
        const b = new VariableBuilder();
        const stem = convKernel(b, rng, "block1/stem/conv", "block1", 3, c, 16);
        const stemBn = batchNormVars(b, "block1/stem/bn", "block1", 16);
        const stage1 = basicBlock(b, rng, "block1/stage1", "block1", 16, 16, 1);
        const stage2 = basicBlock(b, rng, "block2/stage2", "block2", 16, 32, 2);
        const stage3 = basicBlock(b, rng, "block3/stage3", "block3", 32, 64, 2);
        const head = denseParams(b, rng, "head/dense", "head", 64, numClasses);
        const stages: Stage[] = [
          {
            group: "block1",
            apply: (x, mode, updates) => {
              const train = mode === "train";
              const y = convBatchNorm(x as tf.Tensor4D, stem, 1, stemBn, train, updates, "relu");
              return applyBlock(y, stage1, train, updates);
            },
          },
          {
            group: "block2",
            apply: (x, mode, updates) => applyBlock(x as tf.Tensor4D, stage2, mode === "train", updates),
          },
          {
            group: "block3",
            apply: (x, mode, updates) => applyBlock(x as tf.Tensor4D, stage3, mode === "train", updates),
          },
          {
            group: "head",
            apply: (x) =>
              tf.fused.matMul({ a: tf.mean(x, [1, 2]) as tf.Tensor2D, b: head.kernel as tf.Tensor2D, bias: head.bias }),
          },
        ];
        return {
          architecture: "resnet-mini",
          inputShape,
          numClasses,
          groups: ["block1", "block2", "block3", "head"],
          firstLayer: ["block1/stem/conv/kernel"],
          params: b.params,
          state: b.state,
          stages,
          forward: (x, mode) => runStages(stages, x, mode),
        };
      },
      options,
    ),
});
