/**
 * Training kernels for the tfjs wasm backend: a `Conv2DBackpropFilter`
 * (missing from tfjs-backend-wasm 4.22), faster `Conv2DBackpropInput` and
 * `Tile` replacements, a pooled fast path for `Sum` over leading/middle
 * axes, and `Mean`/`Sum` gradients that avoid building `tf.ones` in
 * JavaScript when running on wasm. All run on the wasm heap via the
 * backend's own XNNPACK kernels (`Conv2D`, `AvgPool`, `Transpose`) and
 * block copies.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmTrainingKernels } from "./core/kernels/mod.ts";
 * registerWasmTrainingKernels();
 * await tf.setBackend("wasm");
 * ```
 *
 * @module
 */
import {
  getGradient,
  getKernel,
  type GradConfig,
  type KernelConfig,
  registerGradient,
  registerKernel,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import { conv2DBackpropFilterWasmConfig } from "./conv2d_backprop_filter.ts";
import { conv2DBackpropInputWasmConfig, stockConv2DBackpropInput } from "./conv2d_backprop_input.ts";
import { meanGradWasmConfig, setStockGradient, sumGradWasmConfig } from "./reduce_grads.ts";
import { stockTile, tileWasmConfig } from "./tile.ts";
import { stockSum, sumWasmConfig } from "./reduce.ts";
import { meanWasmConfig, stockMean } from "./mean_simd.ts";
import { BATCH_NORM_WASM_KERNELS } from "./batch_norm_simd.ts";
import { type StockKernel, WASM } from "./wasm_util.ts";
import { maxPoolGradWasmConfig, stockMaxPoolGrad } from "./max_pool_grad.ts";
import { batchMatMulWasmConfig, stockBatchMatMul } from "./batch_matmul.ts";
import { adamStepWasmConfig } from "./adam_step.ts";

export { conv2DBackpropFilterWasm } from "./conv2d_backprop_filter.ts";
export { conv2DBackpropInputWasm } from "./conv2d_backprop_input.ts";
export { tileWasm } from "./tile.ts";
export { sumWasm, sumWasmConfig } from "./reduce.ts";
export { meanWasm, meanWasmConfig } from "./mean_simd.ts";
export { setFilterGradThreads } from "./filter_grad_simd.ts";
export { meanGradWasmConfig, sumGradWasmConfig } from "./reduce_grads.ts";
export { conv2DBackpropFilterWasmConfig, conv2DBackpropInputWasmConfig, tileWasmConfig };
export { batchMatMulWasmConfig, maxPoolGradWasmConfig };
export { ADAM_STEP, adamStepWasmConfig } from "./adam_step.ts";
export { BATCH_NORM_WASM_KERNELS } from "./batch_norm_simd.ts";

/** Kernel configs installed by {@link registerWasmTrainingKernels}. */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterWasmConfig,
  conv2DBackpropInputWasmConfig,
  tileWasmConfig,
  sumWasmConfig,
  meanWasmConfig,
  maxPoolGradWasmConfig,
  batchMatMulWasmConfig,
  adamStepWasmConfig,
  ...BATCH_NORM_WASM_KERNELS,
];

/** Gradient configs installed by {@link registerWasmTrainingKernels}. */
export const WASM_TRAINING_GRADIENTS: readonly GradConfig[] = [
  meanGradWasmConfig,
  sumGradWasmConfig,
];

/** Installs `config`, replacing any existing wasm kernel of that name. */
function install(
  config: KernelConfig,
  stock?: StockKernel,
): void {
  const existing = getKernel(config.kernelName, WASM);
  if (existing === config) return;
  if (existing != null) {
    stock?.capture(existing);
    unregisterKernel(config.kernelName, WASM);
  }
  registerKernel(config);
}

/**
 * Registers the wasm training kernels (Conv2DBackpropFilter,
 * Conv2DBackpropInput, Tile, Sum, Mean, …; the replaced stock kernels are kept
 * as fallbacks for cases the fast paths do not cover) and the wasm-aware
 * Mean/Sum gradients (which defer to the stock gradients on other
 * backends). Idempotent. Must run after
 * `import "@tensorflow/tfjs-backend-wasm"`; may run before or after
 * `tf.setBackend("wasm")`.
 */
export function registerWasmTrainingKernels(): void {
  if (getKernel("Conv2D", WASM) == null) {
    throw new Error(
      "registerWasmTrainingKernels: import '@tensorflow/tfjs-backend-wasm' " +
        "first",
    );
  }
  install(conv2DBackpropFilterWasmConfig);
  install(conv2DBackpropInputWasmConfig, stockConv2DBackpropInput);
  install(tileWasmConfig, stockTile);
  install(sumWasmConfig, stockSum);
  install(meanWasmConfig, stockMean);
  install(maxPoolGradWasmConfig, stockMaxPoolGrad);
  install(batchMatMulWasmConfig, stockBatchMatMul);
  install(adamStepWasmConfig);
  for (const k of BATCH_NORM_WASM_KERNELS) install(k);
  for (const g of WASM_TRAINING_GRADIENTS) {
    const current = getGradient(g.kernelName);
    if (current === g) continue;
    if (current != null) setStockGradient(g.kernelName, current);
    registerGradient(g);
  }
}
