/**
 * The TensorBackend service: selects and initialises the tfjs backend.
 * `wasm` (default, XNNPACK + SIMD, with our gradient kernels), `cpu` (pure JS,
 * slow, the reference), `node` (tfjs-node, only when its native binding loads),
 * `webgpu` (tfjs-backend-webgpu on Deno's WebGPU, loaded only when asked for; see
 * core/webgpu.ts), `auto` (webgpu on a real GPU, else node if it loads, else wasm).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { Context, Effect, Layer } from "effect";
import { BackendError } from "./errors.ts";
import { registerWasmTrainingKernels, setFilterGradThreads } from "./kernels/mod.ts";
import { enableWasmThreads } from "./kernels/threads.ts";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { activateWebgpu, type AdapterProbe, probeAdapter, unavailable, webgpuAdapter } from "./webgpu.ts";

/** Backends a user may ask for. */
export type BackendChoice = "wasm" | "cpu" | "node" | "webgpu" | "auto";
/** Backends that can actually run. */
export type BackendName = "wasm" | "cpu" | "node" | "webgpu";

/** All accepted backend choices. */
export const backendChoices: ReadonlyArray<BackendChoice> = ["wasm", "cpu", "node", "webgpu", "auto"];
/** Every backend that can run (`auto` resolves to one of them). */
export const backendNames: ReadonlyArray<BackendName> = ["wasm", "cpu", "node", "webgpu"];

/** How the wasm backend uses threads. */
export interface ThreadOptions {
  /**
   * XNNPACK threads of the wasm backend (main thread included). Above 1 the threaded
   * SIMD build starts (see core/kernels/threads.ts); results are identical whatever
   * the count. Other backends ignore it.
   */
  readonly threads?: number;
  /** Told when the threaded build could not start and the single-threaded one runs instead. */
  readonly onFallback?: (reason: string) => void;
}

/** XNNPACK threads of the running wasm backend (1 when it is single-threaded or not running). */
export const wasmThreads = (): number => (tf.getBackend() === "wasm" ? getThreadsCount() : 1);

/** The initialised backend. */
export class TensorBackend extends Context.Tag("scalpel/TensorBackend")<TensorBackend, {
  /** The backend that runs. */
  readonly name: BackendName;
  /** The tfjs version in use. */
  readonly tfjsVersion: string;
}>() {}

const NODE_INSTALL =
  "Install the native backend with `deno install --allow-scripts=npm:@tensorflow/tfjs-node` (its install script downloads libtensorflow, which needs that host to be reachable), or use --backend wasm.";

/** Load tfjs-node and make it the active backend. */
const activateNode = Effect.tryPromise({
  try: async () => {
    // A variable specifier keeps tfjs-node out of the static module graph.
    const specifier = "@tensorflow/tfjs-node";
    await import(specifier);
    if (!(await tf.setBackend("tensorflow"))) throw new Error("tfjs-node registered no 'tensorflow' backend");
    await tf.ready();
  },
  catch: (e) =>
    new BackendError({
      backend: "node",
      detail: `@tensorflow/tfjs-node did not load (${String(e).split("\n")[0]})`,
      fix: NODE_INSTALL,
    }),
});

const activate = (name: "wasm" | "cpu", threads: ThreadOptions) =>
  Effect.tryPromise({
    try: async () => {
      if (name === "wasm" && (threads.threads ?? 1) > 1) {
        await enableWasmThreads(threads.threads!, {
          onFallback: (e) => threads.onFallback?.(String(e).split("\n")[0]),
        });
      }
      if (name === "wasm") registerWasmTrainingKernels();
      if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend("${name}") returned false`);
      await tf.ready();
      if (name === "wasm" && wasmThreads() > 1) await startKernelHelpers(wasmThreads());
    },
    catch: (e) =>
      new BackendError({
        backend: name,
        detail: String(e).split("\n")[0],
        fix: name === "wasm" ? "Try --backend cpu (slow) to check the rest of the pipeline." : "Try --backend wasm.",
      }),
  });

/** What Deno's WebGPU offers here (an adapter, or why not). */
const probeWebgpu = Effect.promise(() => probeAdapter());

/** Make webgpu the active backend on the adapter `probe` found, or say why it cannot be. */
const activateWebgpuOn = (probe: AdapterProbe): Effect.Effect<void, BackendError> =>
  probe._tag !== "Adapter" ? Effect.fail(unavailable(probe)) : Effect.tryPromise({
    try: () => activateWebgpu(probe),
    catch: (e) =>
      new BackendError({
        backend: "webgpu",
        detail: `tfjs-backend-webgpu did not start on ${probe.info.description || "the adapter"} (${
          String(e).split("\n")[0]
        })`,
        fix: "Use --backend wasm.",
      }),
  });

/**
 * Initialise the requested backend; returns the name of the one that runs. `auto`
 * takes webgpu only on a real GPU (a software adapter such as llvmpipe is several
 * times slower than wasm on the same CPU), else node when its native binding loads,
 * else wasm.
 */
export const initBackend = (
  choice: BackendChoice,
  threads: ThreadOptions = {},
): Effect.Effect<BackendName, BackendError> => {
  switch (choice) {
    case "node":
      return Effect.as(activateNode, "node" as const);
    case "webgpu":
      return Effect.as(Effect.flatMap(probeWebgpu, activateWebgpuOn), "webgpu" as const);
    case "auto": {
      const cpuSide = activateNode.pipe(
        Effect.as("node" as const),
        Effect.orElse(() => Effect.as(activate("wasm", threads), "wasm" as const)),
      );
      return Effect.flatMap(
        probeWebgpu,
        (probe): Effect.Effect<BackendName, BackendError> =>
          probe._tag === "Adapter" && !probe.software
            ? activateWebgpuOn(probe).pipe(Effect.as("webgpu" as const), Effect.orElse(() => cpuSide))
            : cpuSide,
      );
    }
    default:
      return Effect.as(activate(choice, threads), choice);
  }
};

/**
 * Gives scalpel's own wasm kernels their helper thread (core/kernels/helper_thread.ts),
 * ended with the backend: `tf.removeBackend("wasm")` disposes it, and an idle helper would
 * otherwise keep the process alive. A helper that cannot start (no Worker) is done without.
 */
const startKernelHelpers = async (threads: number) => {
  // the helper only speeds the filter gradient up (same bits either way): without it, one thread computes it
  const started = await setFilterGradThreads(threads).then(() => true, () => false);
  if (!started) return;
  const backend = tf.engine().registry["wasm"];
  const dispose = backend.dispose.bind(backend);
  backend.dispose = () => {
    void setFilterGradThreads(1);
    dispose();
  };
};

/** A layer providing the TensorBackend for `choice`. */
export const TensorBackendLive = (
  choice: BackendChoice,
  threads: ThreadOptions = {},
): Layer.Layer<TensorBackend, BackendError> =>
  Layer.effect(
    TensorBackend,
    Effect.map(initBackend(choice, threads), (name) => ({ name, tfjsVersion: tf.version_core })),
  );

/** The running backend for log lines: `wasm`, `wasm, 2 threads`, `cpu`, `webgpu (llvmpipe …, software)`, … */
export const backendLabel = (): string => {
  const threads = wasmThreads();
  if (threads > 1) return `${tf.getBackend()}, ${threads} threads`;
  return tf.getBackend() === "webgpu" ? `webgpu (${webgpuAdapter()})` : tf.getBackend();
};
