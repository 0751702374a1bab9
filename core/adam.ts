/**
 * Adam (PyTorch's defaults and bias correction) for one variable: on the wasm backend one
 * `ScalpelAdamStep` kernel (core/kernels/adam_step.ts, a single pass, bit for bit the
 * tensor-op update), elsewhere tensor ops.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ADAM_STEP, type AdamStepAttrs } from "./kernels/adam_step.ts";

/** Adam hyper-parameters (PyTorch's defaults). */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** Per-variable Adam state. */
export interface AdamSlot {
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  /** Updates applied so far. */
  step: number;
}

/** A fresh slot (zero moments) for `param`; dispose `m` and `v` when done. */
export const adamSlot = (param: tf.Tensor): AdamSlot => {
  const zeros = () => {
    const z = tf.zerosLike(param);
    const v = tf.variable(z, false);
    z.dispose();
    return v;
  };
  return { m: zeros(), v: zeros(), step: 0 };
};

/** Counts one more step in `slot` and returns that step's scalars (bias corrections folded in). */
const nextStep = (slot: AdamSlot, lr: number): AdamStepAttrs => {
  slot.step++;
  return {
    ...ADAM,
    correction2: 1 - Math.pow(ADAM.beta2, slot.step),
    stepSize: lr / (1 - Math.pow(ADAM.beta1, slot.step)),
  };
};

/** Apply one Adam step with gradient `grad` and learning rate `lr` to `param` (and its slot). */
export const adamUpdate = (param: tf.Variable, grad: tf.Tensor, slot: AdamSlot, lr: number): void => {
  if (tf.getBackend() === "wasm" && grad.dtype === "float32" && tf.getKernel(ADAM_STEP, "wasm") != null) {
    const attrs = nextStep(slot, lr);
    const next = tf.engine().runKernel(
      ADAM_STEP,
      { param, grad, m: slot.m, v: slot.v },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
    param.assign(next);
    next.dispose();
    return;
  }
  adamUpdateOps(param, grad, slot, lr);
};

/** {@link adamUpdate} with tensor ops on any backend (the reference for the wasm kernel). */
export const adamUpdateOps = (param: tf.Variable, grad: tf.Tensor, slot: AdamSlot, lr: number): void => {
  const { beta1, beta2, epsilon, correction2, stepSize } = nextStep(slot, lr);
  tf.tidy(() => {
    const m = tf.add(tf.mul(slot.m, beta1), tf.mul(grad, 1 - beta1));
    const v = tf.add(tf.mul(slot.v, beta2), tf.mul(tf.square(grad), 1 - beta2));
    slot.m.assign(m);
    slot.v.assign(v);
    const denom = tf.add(tf.sqrt(tf.div(v, correction2)), epsilon);
    param.assign(tf.sub(param, tf.mul(tf.div(m, denom), stepSize)));
  });
};
