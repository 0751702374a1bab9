/**
 * `Mean` for the wasm backend over a contiguous run of axes that excludes the last
 * (batch-norm statistics over N,H,W; global average pooling over H,W), computed by
 * scalpel's SIMD kernel core/kernels/c/mean_rows.c: bit for bit the stock kernel's
 * result (the same float additions in the same order, then the same division), about
 * 4× faster because it skips the stock kernel's transpose and adds four channels per
 * instruction. Other reductions, other dtypes and channel counts not a multiple of
 * four go to the stock kernel.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import { MEAN_ROWS_WASM } from "./mean_rows_wasm.ts";
import { planPooledReduce } from "./reduce.ts";
import { simdModule } from "./simd_module.ts";
import { asWasmBackend, heapF32, type StockKernel, stockKernel, WASM } from "./wasm_util.ts";

const module = simdModule(MEAN_ROWS_WASM);

/** The stock `Mean`, for the reductions the SIMD kernel does not take. */
export const stockMean: StockKernel = stockKernel("Mean");

/** out[a, c] = mean over r of x[a, r, c] for x [A, R, C] with C % 4 == 0, written into `out` [A, C]. */
export function meanRowsSimd(x: Float32Array, out: Float32Array, a: number, r: number, c: number): void {
  if (c % 4 !== 0 || x.length !== a * r * c || out.length !== a * c) {
    throw new Error(`meanRowsSimd: needs C % 4 == 0 and sizes A·R·C, A·C (got A ${a}, R ${r}, C ${c})`);
  }
  module().call("mean_rows", [x], [out], [a, r, c]);
}

/** Kernel function: the SIMD mean where it fits, the stock one elsewhere. */
export const meanWasm: KernelFunc = ({ inputs, backend: rawBackend, attrs }) => {
  const backend = asWasmBackend(rawBackend);
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const plan = x.dtype === "float32" ? planPooledReduce(x.shape, axis, keepDims) : undefined;
  if (plan == null || plan.view[3] % 4 !== 0) {
    return stockMean.run(
      backend,
      inputs as NamedTensorInfoMap,
      attrs as NamedAttrMap,
      "not a mean the SIMD kernel takes",
    );
  }
  const [a, r1, r2, c] = plan.view;
  const out = backend.makeOutput(plan.outShape, "float32");
  meanRowsSimd(heapF32(backend, x), heapF32(backend, out), a, r1 * r2, c);
  return out;
};

/** Kernel config registering {@link meanWasm} for wasm (installed by `registerWasmTrainingKernels`). */
export const meanWasmConfig: KernelConfig = {
  kernelName: "Mean",
  backendName: WASM,
  kernelFunc: meanWasm,
  setupFunc: stockMean.setup,
};
