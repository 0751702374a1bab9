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
  /** The compiled module (a helper thread instantiates it again on the same memory). */
  readonly module: WebAssembly.Module;
  /** The module's memory (shared between threads when the module was built for it). */
  readonly memory: WebAssembly.Memory;
  /** The module's exported functions by name. */
  readonly exports: Readonly<Record<string, KernelExport>>;
  /** First byte free for data (the linker's unused stack lies below it). */
  readonly base: number;
  /** A float view of the whole memory, grown first so that it holds `bytes` past {@link base}. */
  readonly floats: (bytes: number) => Float32Array;
  /**
   * Calls export `name` on copies: `inputs` are copied into the memory one after another,
   * room for `outputs` follows, the export gets every input's then every output's byte
   * address and then `tail`, and the outputs are copied back into `outputs`.
   */
  readonly call: (
    name: string,
    inputs: ReadonlyArray<Float32Array>,
    outputs: ReadonlyArray<Float32Array>,
    tail: ReadonlyArray<number>,
  ) => void;
}

const PAGE = 1 << 16;
const BASE = 2 * PAGE;

/** Pages of a shared memory's maximum: all 4 GiB of wasm32 (only reserved, not committed). */
const SHARED_MAX_PAGES = 65536;

/**
 * The module of `base64`, instantiated on first use (synchronously; the modules are a few
 * KB). `shared`: the module imports a shared memory (built with the SHARED flags of build.ts).
 */
export function simdModule(base64: string, shared = false): () => SimdModule {
  let loaded: SimdModule | undefined;
  return () => {
    if (loaded) return loaded;
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const memory = new WebAssembly.Memory(
      shared ? { initial: BASE / PAGE + 1, maximum: SHARED_MAX_PAGES, shared: true } : { initial: BASE / PAGE + 1 },
    );
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const floats = (bytes: number) => {
      const end = BASE + bytes;
      if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      return new Float32Array(memory.buffer);
    };
    const exports = instance.exports as unknown as Record<string, KernelExport>;
    const call: SimdModule["call"] = (name, inputs, outputs, tail) => {
      const parts = [...inputs, ...outputs];
      const f32 = floats(4 * parts.reduce((n, p) => n + p.length, 0));
      const at: number[] = [];
      let o = BASE >>> 2;
      for (const p of parts) {
        at.push(o);
        o += p.length;
      }
      inputs.forEach((p, i) => f32.set(p, at[i]));
      exports[name](...at.map((a) => 4 * a), ...tail);
      outputs.forEach((p, i) => p.set(f32.subarray(at[inputs.length + i], at[inputs.length + i] + p.length)));
    };
    loaded = { module, memory, exports, base: BASE, floats, call };
    return loaded;
  };
}
