/**
 * `ScalpelAdamStep`: one Adam update of one variable in a single pass on the wasm heap,
 * instead of ~13 element-wise kernels (each a pass over the variable, each a trip through
 * the engine). Inputs `param`, `grad`, `m`, `v` (float32, same shape); attributes
 * `beta1`, `beta2`, `epsilon`, `correction2` (1 − β₂ᵗ) and `stepSize` (lr / (1 − β₁ᵗ)).
 * `m` and `v` are updated in place (they belong to the optimiser slot and are read by
 * nothing else); the new parameter is returned in a fresh buffer, because the wasm
 * backend caches XNNPACK operators with packed weights per filter buffer, so a conv
 * kernel written in place would leave convolutions on the old weights.
 *
 * Every operation is rounded to float32 as the element-wise kernels round it (products,
 * sums, quotients and square roots of float32 values computed in float64 and rounded
 * once are the correctly rounded float32 results), so the update is bit for bit that of
 * the tensor-op Adam in core/adam.ts (tested).
 * @module
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { asWasmBackend, heapF32, WASM } from "./wasm_util.ts";

/** The kernel's name. */
export const ADAM_STEP = "ScalpelAdamStep";

/** Attributes of {@link ADAM_STEP}. */
export interface AdamStepAttrs {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly correction2: number;
  readonly stepSize: number;
}

const f = Math.fround;

/** The kernel function (see the module doc). */
export const adamStepWasm: KernelFunc = ({ inputs, backend: rawBackend, attrs }) => {
  const backend = asWasmBackend(rawBackend);
  const { param, grad, m, v } = inputs as Record<"param" | "grad" | "m" | "v", TensorInfo>;
  const a = attrs as unknown as AdamStepAttrs;
  for (const t of [param, grad, m, v]) {
    if (t.dtype !== "float32") throw new Error(`scalpel ${ADAM_STEP}: float32 only, got ${t.dtype}`);
  }
  const out = backend.makeOutput([...param.shape], "float32");
  // views after the allocation (the heap may have grown)
  const p = heapF32(backend, param);
  const g = heapF32(backend, grad);
  const mm = heapF32(backend, m);
  const vv = heapF32(backend, v);
  const o = heapF32(backend, out);
  if (g.length !== p.length || mm.length !== p.length || vv.length !== p.length) {
    throw new Error(`scalpel ${ADAM_STEP}: param, grad, m and v must have the same size`);
  }
  const b1 = f(a.beta1);
  const c1 = f(1 - a.beta1);
  const b2 = f(a.beta2);
  const c2 = f(1 - a.beta2);
  const corr2 = f(a.correction2);
  const eps = f(a.epsilon);
  const step = f(a.stepSize);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = f(f(mm[i] * b1) + f(gi * c1));
    const vi = f(f(vv[i] * b2) + f(f(gi * gi) * c2));
    mm[i] = mi;
    vv[i] = vi;
    const denom = f(f(Math.sqrt(f(vi / corr2))) + eps);
    o[i] = f(p[i] - f(f(mi / denom) * step));
  }
  return out;
};

/** Kernel config registering {@link adamStepWasm} for wasm. */
export const adamStepWasmConfig: KernelConfig = {
  kernelName: ADAM_STEP,
  backendName: WASM,
  kernelFunc: adamStepWasm,
};
