/**
 * Small helpers shared by the wasm training kernels: typed access to the
 * wasm backend, calling the backend's own kernels directly (so intermediate
 * data stays on the wasm heap and never goes through the engine), and
 * freeing intermediates.
 *
 * @module
 */
import {
  type Attribute,
  getKernel,
  type KernelConfig,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";

/** Name under which the wasm backend registers its kernels. */
export const WASM = "wasm";

/** Per-tensor bookkeeping of the wasm backend (a subset of its fields). */
export interface WasmTensorData {
  /** Numeric id known to the C++ side. */
  id: number;
  /** Byte offset of the data on the wasm heap. */
  memoryOffset: number;
}

/**
 * The part of `BackendWasm` (from `@tensorflow/tfjs-backend-wasm`) used by
 * the kernels in this folder. Declared structurally so that these files do
 * not depend on the backend's private typings.
 */
export interface WasmBackendLike {
  /** Emscripten module; only the heap is used here. */
  wasm: { HEAPU8: Uint8Array };
  /** Data bookkeeping keyed by dataId. */
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  /** Allocates (zero-initialised is NOT guaranteed) output memory. */
  makeOutput(shape: number[], dtype: TensorInfo["dtype"]): TensorInfo;
  /** Decrements the refcount of (and possibly frees) a data bucket. */
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Narrows the opaque `backend` argument of a kernel to the wasm backend. */
export function asWasmBackend(backend: unknown): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (
    b == null || b.wasm == null || b.dataIdMap == null ||
    typeof b.makeOutput !== "function"
  ) {
    throw new Error("scalpel wasm kernels: backend is not the wasm backend");
  }
  return b as WasmBackendLike;
}

/**
 * A float32/int32/bool view of a tensor's data directly on the wasm heap.
 * Re-create views after any allocation (the heap may grow and detach).
 */
export function heapView(
  backend: WasmBackendLike,
  t: TensorInfo,
): Float32Array | Int32Array | Uint8Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (data == null) throw new Error("scalpel wasm kernels: unknown dataId");
  const size = t.shape.reduce((a, b) => a * b, 1);
  const buf = backend.wasm.HEAPU8.buffer;
  switch (t.dtype) {
    case "float32":
      return new Float32Array(buf, data.memoryOffset, size);
    case "int32":
      return new Int32Array(buf, data.memoryOffset, size);
    case "bool":
      return new Uint8Array(buf, data.memoryOffset, size);
    default:
      throw new Error(`scalpel wasm kernels: unsupported dtype ${t.dtype}`);
  }
}

/**
 * Element offset of a 4-byte tensor inside a whole-heap view (see
 * {@link heapF32All}). Copy with `copyWithin` on that view: `set` between two
 * views of the same buffer makes V8 clone the source first.
 */
export function offset32(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data == null) throw new Error("scalpel wasm kernels: unknown dataId");
  return data.memoryOffset >>> 2;
}

/** A Float32Array over the whole wasm heap (re-create after allocations). */
export function heapF32All(backend: WasmBackendLike): Float32Array {
  const buf = backend.wasm.HEAPU8.buffer;
  return new Float32Array(buf, 0, buf.byteLength >>> 2);
}

/** Float32 view of a float32 tensor on the wasm heap (see {@link heapView}). */
export function heapF32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const v = heapView(backend, t);
  if (!(v instanceof Float32Array)) {
    throw new Error("scalpel wasm kernels: expected float32 tensor");
  }
  return v;
}

/**
 * Runs a kernel registered for the wasm backend directly (bypassing the
 * engine: no tape, no profiling, no tracking). The caller owns the result
 * and must free it with {@link release} unless it returns it.
 */
export function runWasm(
  name: string,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  attrs: Record<string, Attribute> = {},
): TensorInfo {
  const k = getKernel(name, WASM);
  if (k == null) {
    throw new Error(`scalpel wasm kernels: wasm kernel ${name} missing`);
  }
  return callKernel(k, backend, inputs, attrs);
}

/** Calls a kernel config's function and returns its single output. */
export function callKernel(
  k: KernelConfig,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  const out = k.kernelFunc({ inputs, backend: backend as never, attrs });
  if (Array.isArray(out)) {
    throw new Error(`scalpel wasm kernels: ${k.kernelName} gave many outputs`);
  }
  return out;
}

/** Frees intermediate results produced by {@link runWasm}. */
export function release(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** Product of the entries of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) s *= d;
  return s;
}

/** Normalises a `number | [number, number]` conv attribute to a pair. */
export function pair(v: number | readonly number[]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1] ?? v[0]];
}

/** True for the channels-last data formats (the only ones supported). */
export function isChannelsLast(dataFormat: unknown): boolean {
  return dataFormat == null || dataFormat === "NHWC" ||
    dataFormat === "channelsLast";
}

/**
 * The stock wasm kernel that a scalpel kernel replaces, captured when ours is
 * installed (`registerWasmTrainingKernels`). Ours hands it the cases its fast path
 * does not cover, and its `setupFunc` (which binds the stock kernel's C++ function
 * when the backend starts) must still run, so our config forwards `setup`.
 */
export interface StockKernel {
  /** Captures the stock kernel (called by the installer). */
  readonly capture: (k: KernelConfig) => void;
  /** Runs the stock kernel; throws naming the kernel and `why` when none was captured. */
  readonly run: (backend: WasmBackendLike, inputs: NamedTensorInfoMap, attrs: NamedAttrMap, why: string) => TensorInfo;
  /** The stock kernel's setup, for our config's `setupFunc`. */
  readonly setup: NonNullable<KernelConfig["setupFunc"]>;
}

/** A slot for the stock kernel named `kernelName` (see {@link StockKernel}). */
export function stockKernel(kernelName: string): StockKernel {
  let stock: KernelConfig | undefined;
  return {
    capture: (k) => {
      stock = k;
    },
    run: (backend, inputs, attrs, why) => {
      if (stock == null) throw new Error(`scalpel wasm ${kernelName}: ${why}, and the stock kernel was not captured`);
      return callKernel(stock, backend, inputs, attrs);
    },
    setup: (backend) => stock?.setupFunc?.(backend),
  };
}
