/**
 * Reading tensors into JavaScript on every backend. wasm, cpu and node read
 * synchronously (`dataSync`); the webgpu backend cannot under Deno: tfjs-backend-webgpu
 * 4.22's synchronous read copies the GPU buffer through a 2D `OffscreenCanvas`, and
 * Deno's OffscreenCanvas (2.8+) has no `2d` context, so only the asynchronous `data()`
 * works there (see core/webgpu.ts). Code that may run on webgpu reads through these
 * Effects: synchronous where the backend allows it (so `Effect.runSync` still works on
 * wasm), asynchronous on webgpu.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";

/** Whether the active backend reads tensors synchronously (every backend but webgpu). */
export const readsSynchronously = (): boolean => tf.getBackend() !== "webgpu";

/**
 * The values of float32 tensors, in order. The tensors must stay alive until the
 * Effect has run (on webgpu the read completes later).
 */
export const readAll = (tensors: ReadonlyArray<tf.Tensor>): Effect.Effect<Float32Array[]> =>
  readsSynchronously()
    ? Effect.sync(() => tensors.map((t) => t.dataSync() as Float32Array))
    : Effect.promise(() => Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>)));

/** The values of one float32 tensor (see {@link readAll}). */
export const readFloats = (tensor: tf.Tensor): Effect.Effect<Float32Array> =>
  Effect.map(readAll([tensor]), ([values]) => values);

/**
 * Run a reading Effect synchronously: the plain (non-Effect) forms of `readSnapshot`,
 * `readPredictions`, … for callers on a backend that reads synchronously (tests,
 * benchmarks on wasm). On webgpu it fails, naming the Effect form to use.
 */
export const runRead = <A>(what: string, effect: Effect.Effect<A>): A => {
  if (!readsSynchronously()) {
    throw new Error(`${what} reads tensors synchronously, which the ${tf.getBackend()} backend cannot do`);
  }
  return Effect.runSync(effect);
};
