/**
 * Multi-threaded tfjs wasm backend under Deno (XNNPACK thread pool on the
 * `tfjs-backend-wasm-threaded-simd.wasm` build).
 *
 * Why the stock backend runs single-threaded here: tfjs-backend-wasm's node
 * bundle (`dist/tf-backend-wasm.node.js`, what Deno loads) reports
 * `WASM_HAS_MULTITHREAD_SUPPORT = false` whenever `IS_NODE`, and forcing the
 * flag fails: its `locateFile` hands Emscripten a `blob:` URL for the pthread
 * worker script and a `Blob` as `mainScriptUrlOrBlob`, while Emscripten's
 * node branch starts pthreads with `node:worker_threads` `Worker`, which only
 * takes file paths (ERR_WORKER_PATH), and its worker `importScripts` reads
 * files with `fs.readFileSync`.
 *
 * What {@link enableWasmThreads} does instead: it replaces the registered
 * `wasm` backend factory (same name, same priority 2, so every registered
 * wasm kernel — including ours from `registerWasmTrainingKernels` — still
 * applies) with one that
 *   1. writes the pthread worker script (the string exported by
 *      `wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`) to a `.cjs` file
 *      in a fresh temporary directory (Deno runs `worker_threads` workers
 *      from a file path; `.cjs` makes it CommonJS so `require` exists);
 *   2. loads the Emscripten factory `wasm-out/tfjs-backend-wasm-threaded-simd.js`
 *      with `createRequire`, and calls it with `locateFile` returning absolute
 *      paths (the `.wasm` next to it, the worker `.cjs`) and
 *      `mainScriptUrlOrBlob` = the factory's absolute path (each worker
 *      `eval`s it to get `WasmBackendModuleThreadedSimd`);
 *   3. while the module instantiates, makes `os.cpus()` report at least
 *      `2 × count` CPUs: `backend.cc` caps the pool at
 *      `emscripten_num_logical_cores() / 2` (a hyper-threading guess, read by
 *      a static constructor), which on a 2-vCPU machine caps it at 1;
 *   4. adds the `module.tfjs` cwraps the stock `init()` adds and returns
 *      `new BackendWasm(module)` (whose constructor calls
 *      `init_with_threads_count(n)` with the count from `setThreadsCount`).
 *
 * Limits:
 *   - Must run before the first `tf.setBackend("wasm")` / `tf.ready()` that
 *     initialises wasm; the backend cannot be re-initialised in a process.
 *   - Emscripten pre-spawns its pthread pool (8 workers, each instantiating
 *     the module, ~tens of MB and some start-up time) regardless of `count`;
 *     XNNPACK uses `count - 1` of them plus the main thread.
 *   - Emscripten's node branch sets `globalThis.Worker` to
 *     `worker_threads.Worker` (it needs it later when the pool grows); code
 *     that expects Deno's web `Worker` after this call must save it first.
 *     We keep a reference and restore it only if initialisation fails.
 *   - The process does NOT exit on its own while the pool lives (measured:
 *     `deno run` hung until killed, despite Emscripten's `worker.unref()`):
 *     call `tf.removeBackend("wasm")` (→ `BackendWasm.dispose()` →
 *     `PThread.terminateAllThreads()`) when done, or `Deno.exit()`.
 *   - Needs read access to node_modules, write access to the temp dir, env.
 *
 * ```ts
 * import { enableWasmThreads } from "./core/kernels/threads.ts";
 * await enableWasmThreads(2);          // before tf.setBackend("wasm")
 * registerWasmTrainingKernels();
 * await tf.setBackend("wasm");
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendWasm, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as fs from "node:fs";
import * as os from "node:os";

const WASM_PRIORITY = 2;
const BUILD = "tfjs-backend-wasm-threaded-simd";

// deno-lint-ignore no-explicit-any
type EmscriptenModule = any;

/** Directory holding the Emscripten outputs of @tensorflow/tfjs-backend-wasm. */
function wasmOutDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve("@tensorflow/tfjs-backend-wasm"); // …/dist/tf-backend-wasm.node.js
  return path.join(path.dirname(path.dirname(main)), "wasm-out");
}

/** Prepended to the pthread worker script: `Object.assign` that overrides getter-only globals. */
const ASSIGN_GLOBALS = "function __scalpelAssignGlobals(target,props){for(const k of Object.keys(props)){" +
  "Object.defineProperty(target,k,{value:props[k],writable:true,configurable:true,enumerable:true})}return target}";

const workerScripts = new Map<string, string>();
/**
 * Writes the pthread worker script to a `.cjs` file in `dir` (a fresh temporary
 * directory when undefined) once per process; returns its path. The file is written
 * under a temporary name and renamed, so processes sharing `dir` never read half a file.
 */
function pthreadWorkerFile(wasmDir: string, dir: string | undefined): string {
  const known = workerScripts.get(dir ?? "");
  if (known != null) return known;
  const require = createRequire(path.join(wasmDir, "x.js"));
  const { wasmWorkerContents } = require(`./${BUILD}.worker.js`) as { wasmWorkerContents: string };
  const target = path.resolve(dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "scalpel-wasm-threads-")));
  fs.mkdirSync(target, { recursive: true });
  const file = path.join(target, `${BUILD}.worker.cjs`);
  // The exported template literal turned the script's `"\n"` escapes into raw newlines
  // inside string literals; put the escapes back (as tfjs does before making its Blob).
  let script = wasmWorkerContents.replace(/\n/g, "\\n");
  // Deno runs worker_threads workers in a DedicatedWorkerGlobalScope whose `location`
  // (and possibly `self`, `postMessage`, …) are getter-only, so the script's
  // `Object.assign(global, {self, location, postMessage, …})` throws; define them instead.
  const assign = "Object.assign(global,{";
  if (!script.includes(assign)) throw new Error(`unexpected pthread worker script (no "${assign}")`);
  script = script.replace(assign, "__scalpelAssignGlobals(global,{");
  script = `"use strict";${ASSIGN_GLOBALS}` + script.replace(/^"use strict";/, "");
  const partial = `${file}.${Deno.pid}.partial`;
  fs.writeFileSync(partial, script);
  fs.renameSync(partial, file);
  workerScripts.set(dir ?? "", file);
  return file;
}

/** Loads the threaded-SIMD Emscripten module with file-path workers. */
async function loadThreadedModule(
  count: number,
  timeoutMs: number,
  workerDir: string | undefined,
): Promise<EmscriptenModule> {
  const dir = wasmOutDir();
  const factoryPath = path.join(dir, `${BUILD}.js`);
  const worker = pthreadWorkerFile(dir, workerDir);
  const require = createRequire(factoryPath);
  const factory = require(factoryPath) as (config: Record<string, unknown>) => Promise<EmscriptenModule>;
  let aborted: ((e: Error) => void) | undefined;
  const abortP = new Promise<never>((_, reject) => (aborted = reject));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`threaded wasm module did not start within ${timeoutMs} ms (pthread workers not loading?)`)),
      timeoutMs,
    );
  });
  // backend.cc caps the pool at `emscripten_num_logical_cores() / 2` (a hyper-threading guess),
  // read once by a static constructor during instantiation; in node mode that is
  // `require("os").cpus().length`. Report 2 × count while the module instantiates (without
  // asking for the real list, which would need --allow-sys=cpus).
  const nodeOs = require("os") as { cpus: () => unknown[] };
  const realCpus = nodeOs.cpus;
  nodeOs.cpus = () => Array.from({ length: 2 * count }, () => ({ model: "scalpel", speed: 0 }));
  try {
    const module = await Promise.race([
      factory({
        locateFile: (p: string) => (p.endsWith(".worker.js") ? worker : path.join(dir, p)),
        mainScriptUrlOrBlob: factoryPath,
        onAbort: (what: unknown) => aborted?.(new Error(`threaded wasm module aborted: ${String(what)}`)),
      }),
      abortP,
      timeout,
    ]);
    module.tfjs = {
      init: module.cwrap("init", null, []),
      initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
      getThreadsCount: module.cwrap("get_threads_count", "number", []),
      registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
      disposeData: module.cwrap("dispose_data", null, ["number"]),
      dispose: module.cwrap("dispose", null, []),
    };
    return module;
  } finally {
    nodeOs.cpus = realCpus;
    clearTimeout(timer);
  }
}

/**
 * Makes the next `tf.setBackend("wasm")` start the threaded-SIMD wasm build
 * with an XNNPACK pool of `count` threads (main thread included). Returns
 * false (and leaves the stock single-threaded backend registered) when it
 * cannot apply: `count < 2`, wasm already initialised, no SharedArrayBuffer /
 * Atomics. Initialisation errors surface from `tf.setBackend("wasm")`
 * (which then returns false / logs, as for the stock backend); see the module
 * doc for how it works and its limits.
 */
export function enableWasmThreads(count: number, options: WasmThreadsOptions = {}): Promise<boolean> {
  setThreadsCount(count);
  if (count < 2) return Promise.resolve(false);
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") return Promise.resolve(false);
  const engine = tf.engine();
  if (engine.registry["wasm"] != null) return Promise.resolve(false); // already initialised
  const stock = tf.findBackendFactory("wasm");
  const savedWorker = globalThis.Worker;
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", async () => {
    try {
      const module = await loadThreadedModule(count, options.timeoutMs ?? 60_000, options.workerDir);
      // deno-lint-ignore no-explicit-any
      return new BackendWasm(module as any);
    } catch (e) {
      globalThis.Worker = savedWorker;
      if (stock == null || options.onFallback == null) throw e;
      options.onFallback(e);
      setThreadsCount(1);
      return await stock();
    }
  }, WASM_PRIORITY);
  return Promise.resolve(true);
}

/** How {@link enableWasmThreads} starts the threaded build. */
export interface WasmThreadsOptions {
  /** Give up starting the pthread workers after this long (default 60 s). */
  readonly timeoutMs?: number;
  /** Directory for the pthread worker script (default: a fresh temporary directory). */
  readonly workerDir?: string;
  /**
   * When given, a threaded build that fails to start falls back to the stock
   * single-threaded backend and this is told why; otherwise the failure surfaces
   * from `tf.setBackend("wasm")`.
   */
  readonly onFallback?: (error: unknown) => void;
}
