/**
 * `Tile` for the wasm backend done with block copies on the wasm heap
 * (`TypedArray.set` / `copyWithin` / `fill`) instead of the stock
 * element-by-element C++ loop. Tiling shows up in training mostly through
 * the `tf.batchNorm` gradient, which tiles per-channel statistics to the
 * activation shape.
 *
 * @module
 */
import {
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
  type TileAttrs,
} from "@tensorflow/tfjs-core";
import { asWasmBackend, sizeOf, type StockKernel, stockKernel, WASM } from "./wasm_util.ts";

/** The stock `Tile`, for dtypes the block-copy path does not handle. */
export const stockTile: StockKernel = stockKernel("Tile");

type Heap = Float32Array | Int32Array | Uint8Array;

/**
 * Simplifies (shape, reps) by dropping trivial dims and merging neighbours
 * that tile identically. Returns equal-length arrays, at least one dim.
 */
export function simplifyTile(
  shape: readonly number[],
  reps: readonly number[],
): { shape: number[]; reps: number[] } {
  const s: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    const k = reps[i];
    if (d === 1 && k === 1) continue;
    const last = s.length - 1;
    if (last >= 0 && k === 1) {
      s[last] *= d; // next dim not repeated: contiguous in x and output
    } else if (last >= 0 && s[last] === 1 && d === 1) {
      r[last] *= k; // two size-1 dims: one repeat of the product
    } else {
      s.push(d);
      r.push(k);
    }
  }
  if (s.length === 0) return { shape: [1], reps: [1] };
  return { shape: s, reps: r };
}

/** Fills dst[off + len .. off + len*times) with copies of dst[off, off+len). */
function replicate(dst: Heap, off: number, len: number, times: number): void {
  const total = len * times;
  let filled = len;
  while (filled < total) {
    const n = Math.min(filled, total - filled);
    dst.copyWithin(off + filled, off, off + n);
    filled += n;
  }
}

/**
 * Writes the tiling of the row-major block at `heap[src..]` (shape `shape`)
 * to `heap[dst..]` (shape shape·reps). Source and destination live in the
 * same array and must not overlap; copies use `copyWithin`/`fill` only.
 */
export function tileInto(
  heap: Heap,
  src: number,
  dst: number,
  shape: readonly number[],
  reps: readonly number[],
): void {
  const rank = shape.length;
  const inStride = new Array<number>(rank);
  const outStride = new Array<number>(rank);
  let si = 1;
  let so = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStride[d] = si;
    outStride[d] = so;
    si *= shape[d];
    so *= shape[d] * reps[d];
  }
  const last = rank - 1;
  const lastLen = shape[last];
  const lastReps = reps[last];
  const fillDim = (d: number, dOff: number, sOff: number): void => {
    if (d === last) {
      if (lastLen === 1) {
        heap.fill(heap[sOff], dOff, dOff + lastReps);
      } else if (lastLen * lastReps <= 16) {
        for (let k = 0; k < lastReps; k++) {
          for (let j = 0; j < lastLen; j++) heap[dOff++] = heap[sOff + j];
        }
      } else {
        heap.copyWithin(dOff, sOff, sOff + lastLen);
        replicate(heap, dOff, lastLen, lastReps);
      }
      return;
    }
    const n = shape[d];
    for (let i = 0; i < n; i++) {
      fillDim(d + 1, dOff + i * outStride[d], sOff + i * inStride[d]);
    }
    if (reps[d] > 1) replicate(heap, dOff, n * outStride[d], reps[d]);
  };
  fillDim(0, dst, src);
}

/** Kernel function tiling float32/int32/bool tensors by block copies. */
export const tileWasm: KernelFunc = (args) => {
  const backend = asWasmBackend(args.backend);
  const { x } = args.inputs as { x: TensorInfo };
  const { reps } = args.attrs as unknown as TileAttrs;
  if (x.dtype !== "float32" && x.dtype !== "int32" && x.dtype !== "bool") {
    return stockTile.run(backend, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap, `dtype ${x.dtype}`);
  }
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  if (sizeOf(outShape) === 0) return out;
  const simple = simplifyTile(x.shape, reps);
  const buf = backend.wasm.HEAPU8.buffer;
  const bytes = x.dtype === "bool" ? 1 : 4;
  const heap: Heap = x.dtype === "float32"
    ? new Float32Array(buf, 0, buf.byteLength >>> 2)
    : x.dtype === "int32"
    ? new Int32Array(buf, 0, buf.byteLength >>> 2)
    : new Uint8Array(buf);
  const at = (t: TensorInfo): number => {
    const d = backend.dataIdMap.get(t.dataId);
    if (d == null) throw new Error("wasm Tile: unknown dataId");
    return d.memoryOffset / bytes;
  };
  tileInto(heap, at(x), at(out), simple.shape, simple.reps);
  return out;
};

/** Kernel config registering {@link tileWasm} for wasm. */
export const tileWasmConfig: KernelConfig = {
  kernelName: "Tile",
  backendName: WASM,
  kernelFunc: tileWasm,
  setupFunc: stockTile.setup,
};
