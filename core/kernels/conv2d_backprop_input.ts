/**
 * Fast `Conv2DBackpropInput` for the wasm backend. The stock wasm kernel is
 * a naive loop; this one expresses the input gradient as one stride-1
 * XNNPACK `Conv2D` using the sub-pixel (phase) decomposition of a
 * transposed convolution:
 *
 *   dx[y] = Σ_m W[a + s·m] · dy[q − m]   with y + top = q·s + a, 0 ≤ a < s
 *
 * For every phase (a, b) the taps W[a + s·m, b + s·n] form a small flipped
 * sub-filter with T = ⌈K/s⌉ taps, so all phases are computed at once by a
 * conv of dy with a [T_h, T_w, Co, s·s·Ci] filter, followed by a
 * DepthToSpace-style interleave and crop done with heap block copies. For
 * stride 1 this is exactly the classic "conv with the flipped, in/out-
 * transposed filter" and needs no rearrangement; for stride s it avoids the s² zero work of convolving a
 * zero-dilated dy. Cases it cannot express (non-NHWC, padding larger than
 * the filter, non-float32) fall back to the stock kernel.
 *
 * @module
 */
import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import {
  asWasmBackend,
  heapF32,
  heapF32All,
  isChannelsLast,
  offset32,
  release,
  runWasm,
  type StockKernel,
  stockKernel,
  WASM,
  type WasmBackendLike,
} from "./wasm_util.ts";

/** The stock `Conv2DBackpropInput`, for cases the fast path does not handle. */
export const stockConv2DBackpropInput: StockKernel = stockKernel("Conv2DBackpropInput");

/**
 * Builds the all-phases sub-pixel filter [T_h, T_w, Co, sh, sw, Ci] from
 * W [KH, KW, Ci, Co]: G[t, u, co, a, b, ci] = W[a + sh(T_h−1−t),
 * b + sw(T_w−1−u), ci, co], zero where the tap falls outside W.
 */
function subpixelFilter(
  backend: WasmBackendLike,
  w: TensorInfo,
  sh: number,
  sw: number,
): TensorInfo {
  const [kh, kw, ci, co] = w.shape;
  const th = Math.ceil(kh / sh);
  const tw = Math.ceil(kw / sw);
  const oc = sh * sw * ci;
  const out = backend.makeOutput([th, tw, co, oc], "float32");
  const src = heapF32(backend, w);
  const dst = heapF32(backend, out);
  if (sh * sw > 1) dst.fill(0);
  for (let t = 0; t < th; t++) {
    for (let a = 0; a < sh; a++) {
      const r = a + sh * (th - 1 - t);
      if (r >= kh) continue;
      for (let u = 0; u < tw; u++) {
        for (let b = 0; b < sw; b++) {
          const c = b + sw * (tw - 1 - u);
          if (c >= kw) continue;
          const s0 = (r * kw + c) * ci * co;
          const d0 = (t * tw + u) * co * oc + (a * sw + b) * ci;
          for (let i = 0; i < ci; i++) {
            const si = s0 + i * co;
            for (let o = 0; o < co; o++) dst[d0 + o * oc + i] = src[si + o];
          }
        }
      }
    }
  }
  return out;
}

/**
 * Interleaves the phases of z [N,Qh,Qw,sh·sw·C] into dx [N,H,W,C]: a
 * DepthToSpace (also for sh ≠ sw) fused with the crop,
 * dx[n,y,x] = z[n, (y+top)/sh, (x+left)/sw, phase((y+top)%sh, (x+left)%sw)].
 * Pixels of consecutive phases along a row are contiguous in both z and dx,
 * so each copy moves up to sw·C floats.
 */
function interleave(
  backend: WasmBackendLike,
  z: TensorInfo,
  sh: number,
  sw: number,
  top: number,
  left: number,
  h: number,
  w: number,
): TensorInfo {
  const [n, zh, zw, zc] = z.shape;
  const c = zc / (sh * sw);
  const out = backend.makeOutput([n, h, w, c], "float32");
  const heap = heapF32All(backend);
  const src = offset32(backend, z);
  let dst = offset32(backend, out);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const qy = Math.floor((y + top) / sh);
      const rowBase = src + (b * zh + qy) * zw * zc + ((y + top) % sh) * sw * c;
      let x = 0;
      while (x < w) {
        const qx = Math.floor((x + left) / sw);
        const ax = (x + left) % sw;
        const len = Math.min(sw - ax, w - x) * c;
        const from = rowBase + qx * zc + ax * c;
        heap.copyWithin(dst, from, from + len);
        dst += len;
        x += len / c;
      }
    }
  }
  return out;
}

/**
 * Kernel function computing the conv2d input gradient with XNNPACK on the
 * wasm heap; falls back to the stock kernel for unsupported cases.
 */
export const conv2DBackpropInputWasm: KernelFunc = (args) => {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args
    .attrs as unknown as Conv2DBackpropInputAttrs;
  const useFallback = (why: string): TensorInfo =>
    stockConv2DBackpropInput.run(backend, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap, why);
  if (!isChannelsLast(dataFormat)) return useFallback("not NHWC");
  if (dy.dtype !== "float32" || filter.dtype !== "float32") {
    return useFallback("not float32");
  }
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const { strideHeight: sh, strideWidth: sw, inHeight, inWidth } = info;
  // Per axis: rows q of the phase grid start at q0 = ⌊top/s⌋; output row
  // y sits at phase-grid row (y + top) − q0·s, i.e. crop offset top mod s.
  const axis = (
    k: number,
    s: number,
    padBefore: number,
    inLen: number,
    outLen: number,
  ) => {
    const t = Math.ceil(k / s);
    const q0 = Math.floor(padBefore / s);
    const rows = Math.floor((inLen - 1 + padBefore) / s) - q0 + 1;
    const before = t - 1 - q0;
    const after = Math.max(0, rows + t - 1 - before - outLen);
    return { before, after, off: padBefore - q0 * s };
  };
  const v = axis(
    info.filterHeight,
    sh,
    info.padInfo.top,
    inHeight,
    info.outHeight,
  );
  const h = axis(
    info.filterWidth,
    sw,
    info.padInfo.left,
    inWidth,
    info.outWidth,
  );
  if (v.before < 0 || h.before < 0) {
    return useFallback("padding larger than the filter");
  }
  const g = subpixelFilter(backend, filter, sh, sw);
  const z = runWasm("Conv2D", backend, { x: dy, filter: g }, {
    strides: [1, 1],
    dilations: [1, 1],
    pad: [[0, 0], [v.before, v.after], [h.before, h.after], [0, 0]],
    dataFormat: "NHWC",
  });
  release(backend, g);
  if (
    sh === 1 && sw === 1 && v.off === 0 && h.off === 0 &&
    z.shape[1] === inHeight && z.shape[2] === inWidth
  ) {
    return z;
  }
  const out = interleave(backend, z, sh, sw, v.off, h.off, inHeight, inWidth);
  release(backend, z);
  return out;
};

/** Kernel config registering {@link conv2DBackpropInputWasm} for wasm. */
export const conv2DBackpropInputWasmConfig: KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: WASM,
  kernelFunc: conv2DBackpropInputWasm,
  setupFunc: stockConv2DBackpropInput.setup,
};
