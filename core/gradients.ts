/**
 * Registers tfjs's gradient functions. `@tensorflow/tfjs-core` alone does not
 * (its `register_all_gradients` module is published as extension-less ESM that
 * Deno cannot load); the `@tensorflow/tfjs` bundle registers them all on import.
 * @module
 */
import "@tensorflow/tfjs";
