/**
 * The TensorBackend service: selects and initialises the tfjs backend.
 * `wasm` (default, XNNPACK + SIMD, with our gradient kernels), `cpu` (pure JS,
 * slow, the reference), `node` (tfjs-node, only when its native binding loads),
 * `auto` (node if it loads, else wasm).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { Context, Effect, Layer } from "effect";
import { BackendError } from "./errors.ts";
import { registerWasmTrainingKernels } from "./kernels/mod.ts";

/** Backends a user may ask for. */
export type BackendChoice = "wasm" | "cpu" | "node" | "auto";
/** Backends that can actually run. */
export type BackendName = "wasm" | "cpu" | "node";

/** All accepted backend choices. */
export const backendChoices: ReadonlyArray<BackendChoice> = ["wasm", "cpu", "node", "auto"];

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

const activate = (name: "wasm" | "cpu") =>
  Effect.tryPromise({
    try: async () => {
      if (name === "wasm") registerWasmTrainingKernels();
      if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend("${name}") returned false`);
      await tf.ready();
    },
    catch: (e) =>
      new BackendError({
        backend: name,
        detail: String(e).split("\n")[0],
        fix: name === "wasm" ? "Try --backend cpu (slow) to check the rest of the pipeline." : "Try --backend wasm.",
      }),
  });

/** Initialise the requested backend; returns the name of the one that runs. */
export const initBackend = (choice: BackendChoice): Effect.Effect<BackendName, BackendError> => {
  switch (choice) {
    case "node":
      return Effect.as(activateNode, "node" as const);
    case "auto":
      return activateNode.pipe(
        Effect.as("node" as const),
        Effect.orElse(() => Effect.as(activate("wasm"), "wasm" as const)),
      );
    default:
      return Effect.as(activate(choice), choice);
  }
};

/** A layer providing the TensorBackend for `choice`. */
export const TensorBackendLive = (choice: BackendChoice): Layer.Layer<TensorBackend, BackendError> =>
  Layer.effect(
    TensorBackend,
    Effect.map(initBackend(choice), (name) => ({ name, tfjsVersion: tf.version_core })),
  );
