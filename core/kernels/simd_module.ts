/**
 * Loads one of scalpel's compiled C kernels (core/kernels/c/, embedded as base64 by
 * `deno task build:kernels`) into a wasm memory of its own. Callers copy their inputs
 * in, call an export, and copy the result out: the copies are plain memcpys, and the
 * kernel then works the same beside tfjs's single-threaded and threaded wasm builds
 * (whose heap it never touches).
 *
 * @module
 */

/** A kernel export: pointers and sizes in, nothing out. */
export type KernelExport = (...args: number[]) => void;

/** An instantiated kernel module and its memory. */
export interface SimdModule {
  /** The module's exported functions by name. */
  readonly exports: Readonly<Record<string, KernelExport>>;
  /** First byte free for data (the linker's unused stack lies below it). */
  readonly base: number;
  /** A float view of the whole memory, grown first so that it holds `bytes` past {@link base}. */
  readonly floats: (bytes: number) => Float32Array;
}

const PAGE = 1 << 16;
const BASE = 2 * PAGE;

/** The module of `base64`, instantiated on first use (synchronously; the modules are a few KB). */
export function simdModule(base64: string): () => SimdModule {
  let loaded: SimdModule | undefined;
  return () => {
    if (loaded) return loaded;
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const memory = new WebAssembly.Memory({ initial: BASE / PAGE + 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const floats = (bytes: number) => {
      const end = BASE + bytes;
      if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      return new Float32Array(memory.buffer);
    };
    loaded = { exports: instance.exports as unknown as Record<string, KernelExport>, base: BASE, floats };
    return loaded;
  };
}
