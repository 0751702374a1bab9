/**
 * `Conv2DBackpropFilter` for the wasm backend (which has none in
 * tfjs-backend-wasm 4.22), built from the backend's own XNNPACK `Conv2D`.
 *
 * With x: [N,H,W,Ci], dy: [N,OH,OW,Co], forward stride s and padding p:
 *
 *   dW[kh,kw,ci,co] = sum_{n,i,j} xpad[n, i*s+kh, j*s+kw, ci] * dy[n,i,j,co]
 *
 * which is a conv2d of xᵀ = [Ci,H,W,N] (Ci as batch, N as channels) with
 * dyᵀ = [OH,OW,N,Co] as the filter, dilation s, the forward padding p and
 * stride 1. The result [Ci,KH',KW',Co] (KH' ≥ KH when the strides do not
 * divide evenly) is sliced to [Ci,KH,KW,Co] and transposed to
 * [KH,KW,Ci,Co].
 *
 * When Ci is a multiple of 4 and Co of 8 (every 3×3 conv of resnet-mini and small-cnn
 * but the stem), scalpel's own SIMD kernel computes the same sum instead
 * (core/kernels/filter_grad_simd.ts): bit for bit what that conv gives, because it adds
 * the terms of each weight in the conv's order, at 1.6–2× its speed (measured at batch
 * 64 on one thread: the 28×28×16→16 layer 23.2 → 12.9 ms, 14×14×32→32 17.5 → 10.7 ms).
 *
 * Small patches (KH·KW·Ci ≤ 27, e.g. a first layer on grey or RGB images) and 1×1
 * kernels (resnet shortcuts) take another path: that conv has a tiny output
 * (Ci·KH·KW rows) and runs at a few GFLOP/s, so there the patches are written out
 * transposed, colsᵀ [KH·KW·Ci, P] with P = N·OH·OW, and dW = colsᵀ · dy is one
 * XNNPACK matrix product (at batch 64: stem 3×3×1 ~5.6 → ~1.4 ms, the 1×1 stride-2
 * shortcuts of resnet-mini 5.3 → 1.2 and 3.2 → 0.7 ms).
 *
 * @module
 */
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { filterGradSimd, simdFilterGradFits } from "./filter_grad_simd.ts";
import {
  asWasmBackend,
  heapF32,
  heapF32All,
  isChannelsLast,
  offset32,
  release,
  runWasm,
  WASM,
  type WasmBackendLike,
} from "./wasm_util.ts";

/**
 * Kernel function computing the conv2d filter gradient on the wasm heap.
 * Supports NHWC and dilation 1 (tfjs never passes dilations to this kernel)
 * with "same", "valid", numeric and explicit padding; throws otherwise.
 */
export const conv2DBackpropFilterWasm: KernelFunc = (
  { inputs, backend: rawBackend, attrs },
) => {
  const backend = asWasmBackend(rawBackend);
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (!isChannelsLast(dataFormat)) {
    throw new Error(
      `wasm Conv2DBackpropFilter: only NHWC is supported, got ${dataFormat}`,
    );
  }
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new Error("wasm Conv2DBackpropFilter: only float32 is supported");
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const [n, oh, ow, co] = dy.shape;
  if (
    n !== info.batchSize || oh !== info.outHeight || ow !== info.outWidth ||
    co !== info.outChannels
  ) {
    throw new Error(
      `wasm Conv2DBackpropFilter: dy shape ${dy.shape} does not match the ` +
        `forward output shape ${info.outShape}`,
    );
  }
  const { top, bottom, left, right } = info.padInfo;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const ci = info.inChannels;
  if (kh * kw * ci <= SMALL_PATCH || (kh === 1 && kw === 1)) return viaPatches(backend, x, dy, info);
  const geometry = {
    n,
    h: info.inHeight,
    w: info.inWidth,
    ci,
    oh,
    ow,
    co,
    kh,
    kw,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top,
    left,
  };
  if (path === "simd" && simdFilterGradFits(geometry)) {
    const out = backend.makeOutput([kh, kw, ci, co], "float32");
    filterGradSimd(heapF32(backend, x), heapF32(backend, dy), heapF32(backend, out), geometry);
    return out;
  }

  const xT = runWasm("Transpose", backend, { x }, { perm: [3, 1, 2, 0] });
  const dyT = runWasm("Transpose", backend, { x: dy }, { perm: [1, 2, 0, 3] });
  const g = runWasm("Conv2D", backend, { x: xT, filter: dyT }, {
    strides: [1, 1],
    dilations: [info.strideHeight, info.strideWidth],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: "NHWC",
  });
  release(backend, xT, dyT);

  // Crop [Ci,KH',KW',Co] to [Ci,KH,KW,Co] and move Ci next to Co, copying
  // Co-long rows directly on the heap (the filter is small).
  const out = backend.makeOutput([kh, kw, ci, co], "float32");
  const heap = heapF32All(backend);
  const src = offset32(backend, g);
  const dst = offset32(backend, out);
  const gh = g.shape[1];
  const gw = g.shape[2];
  for (let c = 0; c < ci; c++) {
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const from = src + ((c * gh + a) * gw + b) * co;
        heap.copyWithin(dst + ((a * kw + b) * ci + c) * co, from, from + co);
      }
    }
  }
  release(backend, g);
  return out;
};

/** Which kernel computes the filter gradients that the SIMD kernel fits (both give the same bits). */
export type FilterGradPath = "simd" | "conv";

let path: FilterGradPath = "simd";

/**
 * Chooses the kernel for the geometries the SIMD kernel fits: `simd` (the default) or
 * `conv` (XNNPACK's conv, the kernel it replaced). For benchmarks (bench/profile_step.ts
 * `--filter-grad conv`): the results are the same bits either way.
 */
export function setFilterGradPath(p: FilterGradPath): void {
  path = p;
}

/** Largest KH·KW·Ci that takes the patch-matrix path (1×1 kernels always do). */
const SMALL_PATCH = 27;

/** dW = colsᵀ · dy with the patches written out (see the module doc). */
function viaPatches(
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const rows = kh * kw * ci;
  const p = n * oh * ow;
  const cols = backend.makeOutput([1, rows, p], "float32");
  const heap = heapF32All(backend);
  const src = offset32(backend, x);
  const dst = offset32(backend, cols);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      // output columns j whose input column j·sw + b − left is inside the image: [jLo, jHi)
      const jLo = Math.min(ow, Math.max(0, Math.ceil((left - b) / sw)));
      const jHi = Math.max(jLo, Math.min(ow, Math.floor((w - 1 + left - b) / sw) + 1));
      const contiguous = ci === 1 && sw === 1;
      for (let c = 0; c < ci; c++) {
        let o = dst + ((a * kw + b) * ci + c) * p;
        for (let bn = 0; bn < n; bn++) {
          for (let i = 0; i < oh; i++, o += ow) {
            const y = i * sh + a - top;
            if (y < 0 || y >= h) {
              heap.fill(0, o, o + ow);
              continue;
            }
            if (jLo > 0) heap.fill(0, o, o + jLo);
            if (jHi < ow) heap.fill(0, o + jHi, o + ow);
            // x[bn, y, j·sw + b − left, c]
            const from = src + (bn * h + y) * w * ci + (b - left) * ci + c;
            if (contiguous) heap.copyWithin(o + jLo, from + jLo, from + jHi);
            else {
              const step = sw * ci;
              for (let j = jLo, q = from + jLo * step; j < jHi; j++, q += step) heap[o + j] = heap[q];
            }
          }
        }
      }
    }
  }
  const dy3 = runWasm("Reshape", backend, { x: dy }, { shape: [1, p, co] });
  const g = runWasm("BatchMatMul", backend, { a: cols, b: dy3 }, { transposeA: false, transposeB: false });
  release(backend, cols, dy3);
  const out = runWasm("Reshape", backend, { x: g }, { shape: [kh, kw, ci, co] });
  release(backend, g);
  return out;
}

/** Kernel config registering {@link conv2DBackpropFilterWasm} for wasm. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: WASM,
  kernelFunc: conv2DBackpropFilterWasm,
};
