/**
 * `BatchMatMul` with a transposed operand, for the wasm backend. The stock kernel
 * runs XNNPACK only when neither operand is transposed and otherwise falls back
 * to a plain loop, ~10× slower; a dense layer's two gradients (dy·Wᵀ and xᵀ·dy)
 * are exactly those cases. Here the transposed operand is transposed explicitly
 * (the wasm `Transpose` kernel) and the stock kernel runs untransposed.
 * float32 only; everything else goes straight to the stock kernel.
 *
 * @module
 */
import {
  type BatchMatMulAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { asWasmBackend, release, runWasm, type StockKernel, stockKernel, WASM } from "./wasm_util.ts";

/** The stock `BatchMatMul`, which does the multiplication. */
export const stockBatchMatMul: StockKernel = stockKernel("BatchMatMul");

/** The kernel function. */
export function batchMatMulWasm(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs: NamedAttrMap;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  if ((!transposeA && !transposeB) || a.dtype !== "float32" || b.dtype !== "float32") {
    return stockBatchMatMul.run(backend, args.inputs, args.attrs, "untransposed product");
  }
  const swapLast = (t: TensorInfo): TensorInfo => {
    const rank = t.shape.length;
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return runWasm("Transpose", backend, { x: t }, { perm });
  };
  const at = transposeA ? swapLast(a) : a;
  const bt = transposeB ? swapLast(b) : b;
  try {
    return stockBatchMatMul.run(
      backend,
      { a: at, b: bt },
      { ...args.attrs, transposeA: false, transposeB: false },
      "product after the transpose",
    );
  } finally {
    if (transposeA) release(backend, at);
    if (transposeB) release(backend, bt);
  }
}

/** Kernel config replacing the stock wasm `BatchMatMul`. */
export const batchMatMulWasmConfig: KernelConfig = {
  kernelName: "BatchMatMul",
  backendName: WASM,
  setupFunc: stockBatchMatMul.setup,
  kernelFunc: batchMatMulWasm as unknown as KernelFunc,
};
