/**
 * `MaxPoolGrad` for the wasm backend in TypeScript on the wasm heap. The stock
 * C++ kernel revisits every window for every input element (~10 ms for one
 * 32×28×28×16 pooling gradient, a third of a small-cnn training step); this one
 * walks the output once: for each window it finds the first strict maximum (the
 * cpu backend's rule, so ties after a ReLU go to the window's first element) and
 * adds `dy` there. Any filter, stride and padding; float32 only (else the stock
 * kernel).
 *
 * @module
 */
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { asWasmBackend, heapF32, type StockKernel, stockKernel, WASM } from "./wasm_util.ts";

/** The stock `MaxPoolGrad`, for non-float32 inputs. */
export const stockMaxPoolGrad: StockKernel = stockKernel("MaxPoolGrad");

/** dx of a 2-D max pooling (NHWC), written into `dx` (zeroed here). */
export function maxPoolBackprop(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (
    fh === 2 && fw === 2 && strideHeight === 2 && strideWidth === 2 && dh === 1 && dw === 1 && top === 0 &&
    left === 0 && inHeight === 2 * outHeight && inWidth === 2 * outWidth
  ) {
    return maxPool2x2Backprop(x, dy, dx, batchSize * outHeight, outWidth, inChannels);
  }
  dx.fill(0);
  const rowStride = inWidth * inChannels;
  // channels innermost (contiguous in NHWC): a running maximum and its index per channel
  const best = new Float32Array(inChannels);
  const at = new Int32Array(inChannels);
  for (let b = 0; b < batchSize; b++) {
    const xBase = b * inHeight * rowStride;
    const yBase = b * outHeight * outWidth * inChannels;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        best.fill(-Infinity);
        at.fill(-1);
        for (let ky = 0; ky < fh; ky += dh) {
          const iy = y0 + ky;
          if (iy < 0 || iy >= inHeight) continue;
          for (let kx = 0; kx < fw; kx += dw) {
            const ix = x0 + kx;
            if (ix < 0 || ix >= inWidth) continue;
            const base = xBase + iy * rowStride + ix * inChannels;
            for (let c = 0; c < inChannels; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const o = yBase + (oy * outWidth + ox) * inChannels;
        for (let c = 0; c < inChannels; c++) if (at[c] >= 0) dx[at[c]] += dy[o + c];
      }
    }
  }
}

/**
 * The common case, 2×2 windows with stride 2 tiling the input exactly: every input
 * element belongs to one window, so each is written once (no zero fill, no scratch).
 */
function maxPool2x2Backprop(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  rows: number,
  outWidth: number,
  channels: number,
): void {
  const inRow = 2 * outWidth * channels;
  let o = 0;
  for (let r = 0; r < rows; r++) {
    const top = 2 * r * inRow;
    for (let ox = 0; ox < outWidth; ox++) {
      const i00 = top + 2 * ox * channels;
      for (let c = 0; c < channels; c++, o++) {
        const p0 = i00 + c;
        const p1 = p0 + channels;
        const p2 = p0 + inRow;
        const p3 = p2 + channels;
        // first strict maximum in window order (p0, p1, p2, p3), as the cpu backend picks it
        let at = p0;
        let best = x[p0];
        if (!(best >= -Infinity)) best = -Infinity; // NaN never wins
        if (x[p1] > best) {
          best = x[p1];
          at = p1;
        }
        if (x[p2] > best) {
          best = x[p2];
          at = p2;
        }
        if (x[p3] > best) at = p3;
        dx[p0] = 0;
        dx[p1] = 0;
        dx[p2] = 0;
        dx[p3] = 0;
        dx[at] = dy[o];
      }
    }
  }
}

/** The kernel function: float32 on the heap, otherwise the stock kernel. */
export function maxPoolGradWasm(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs: NamedAttrMap;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
  if (input.dtype !== "float32" || dy.dtype !== "float32") {
    return stockMaxPoolGrad.run(backend, args.inputs, args.attrs, `dtype ${input.dtype}`);
  }
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const dx = backend.makeOutput([...input.shape], "float32");
  maxPoolBackprop(heapF32(backend, input), heapF32(backend, dy), heapF32(backend, dx), info);
  return dx;
}

/** Kernel config replacing the stock wasm `MaxPoolGrad`. */
export const maxPoolGradWasmConfig: KernelConfig = {
  kernelName: "MaxPoolGrad",
  backendName: WASM,
  setupFunc: stockMaxPoolGrad.setup,
  kernelFunc: maxPoolGradWasm as unknown as KernelFunc,
};
