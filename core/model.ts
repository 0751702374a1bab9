/**
 * Model: a network written with plain tf ops over named variables, with ordered,
 * named layer groups (blocks). Non-trainable state (batch-norm running
 * statistics) is kept apart from trainable parameters. Weights can be
 * snapshotted into plain arrays, restored, saved to and loaded from disk.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Effect } from "effect";
import { readAll, runRead } from "./read.ts";

/** One trainable or state variable with its logical name (`block1/conv/kernel`). */
export interface NamedVariable {
  readonly name: string;
  /** The layer group it belongs to (`block1`, …, `head`). */
  readonly group: string;
  readonly variable: tf.Variable;
}

/** How a forward pass treats batch-norm: `train` uses batch statistics. */
export type ForwardMode = "train" | "eval";

/** Result of a forward pass. */
export interface ForwardResult {
  readonly logits: tf.Tensor2D;
  /**
   * In `train` mode: new values for the running statistics (state variables),
   * to be assigned after the step. Empty in `eval` mode.
   */
  readonly stateUpdates: ReadonlyArray<readonly [tf.Variable, tf.Tensor]>;
}

/** Running-statistics updates collected during a `train`-mode forward pass. */
export type StateUpdates = Array<readonly [tf.Variable, tf.Tensor]>;

/**
 * One slice of the forward pass: maps the previous stage's output (the input image
 * for the first stage) to this stage's output. A stage uses only variables of its
 * `group`; the last stage returns the logits.
 */
export interface Stage {
  readonly group: string;
  apply(x: tf.Tensor, mode: ForwardMode, updates: StateUpdates): tf.Tensor;
}

/** A network with named layer groups. */
export interface Model {
  /** Architecture name, e.g. `resnet-mini`. */
  readonly architecture: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Group names in network order (input side first), e.g. block1, block2, block3, head. */
  readonly groups: ReadonlyArray<string>;
  /** Names of the variables that make up "the first layer". */
  readonly firstLayer: ReadonlyArray<string>;
  /** Trainable parameters, in network order. */
  readonly params: ReadonlyArray<NamedVariable>;
  /** Non-trainable state (batch-norm running mean / variance). */
  readonly state: ReadonlyArray<NamedVariable>;
  /** Forward pass on a float32 NHWC batch in [0, 1]. Call inside `tf.tidy`. */
  forward(x: tf.Tensor4D, mode: ForwardMode): ForwardResult;
  /**
   * Optional: the same forward pass cut into stages, in network order. A model that
   * has them gets frozen-prefix caching (core/prefix_cache.ts): the stages before the
   * first trained one are computed once per split instead of once per step.
   */
  readonly stages?: ReadonlyArray<Stage>;
}

/**
 * Apply `stages[from..]` to `x` (the input of stage `from`). With `from = 0` this is
 * the whole forward pass; zoo models define `forward` with it. Call inside `tf.tidy`.
 */
export const runStages = (
  stages: ReadonlyArray<Stage>,
  x: tf.Tensor,
  mode: ForwardMode,
  from = 0,
): ForwardResult => {
  const updates: StateUpdates = [];
  return { logits: applyStages(stages, x, mode, updates, from) as tf.Tensor2D, stateUpdates: updates };
};

/** Apply `stages[from..to)` to `x`, collecting running-statistics updates. Call inside `tf.tidy`. */
export const applyStages = (
  stages: ReadonlyArray<Stage>,
  x: tf.Tensor,
  mode: ForwardMode,
  updates: StateUpdates,
  from = 0,
  to = stages.length,
): tf.Tensor => {
  let y = x;
  for (let i = from; i < to; i++) y = stages[i].apply(y, mode, updates);
  return y;
};

/**
 * Index of the first stage that uses one of the named variables (`stages.length`
 * when none does: the whole network is frozen). 0 for a model without stages.
 */
export const firstStageUsing = (model: Model, names: ReadonlySet<string>): number => {
  if (!model.stages) return 0;
  const groups = new Set(model.params.filter((p) => names.has(p.name)).map((p) => p.group));
  const i = model.stages.findIndex((s) => groups.has(s.group));
  return i < 0 ? model.stages.length : i;
};

/** Weights as plain arrays, by logical name: independent of any live model. */
export type Snapshot = ReadonlyMap<string, { readonly shape: number[]; readonly data: Float32Array }>;

/** Copy every parameter and state variable out of the model (on any backend, see core/read.ts). */
export const readSnapshot = (model: Model): Effect.Effect<Snapshot> => {
  const vars = [...model.params, ...model.state];
  return Effect.map(
    readAll(vars.map((v) => v.variable)),
    (data) => new Map(vars.map((v, i) => [v.name, { shape: [...v.variable.shape], data: data[i] }])),
  );
};

/** {@link readSnapshot}, synchronously: on a backend that reads synchronously (every one but webgpu). */
export const snapshot = (model: Model): Snapshot => runRead("snapshot", readSnapshot(model));

/** Overwrite the model's variables with a snapshot (shapes must agree). */
export const restore = (model: Model, weights: Snapshot): void => {
  for (const v of [...model.params, ...model.state]) {
    const w = weights.get(v.name);
    if (!w) throw new Error(`restore: snapshot has no weights for ${v.name}`);
    if (w.shape.join(",") !== v.variable.shape.join(",")) {
      throw new Error(
        `restore: ${v.name} has shape [${v.variable.shape}] but the snapshot has [${w.shape}]`,
      );
    }
    tf.tidy(() => v.variable.assign(tf.tensor(w.data, w.shape)));
  }
};

/** Release every variable of the model. */
export const disposeModel = (model: Model): void => {
  for (const v of [...model.params, ...model.state]) v.variable.dispose();
};

/** Number of scalar parameters in the given variables. */
export const parameterCount = (vars: ReadonlyArray<NamedVariable>): number =>
  vars.reduce((n, v) => n + v.variable.size, 0);

/**
 * Serialise a snapshot to one binary buffer: a JSON manifest (names, shapes,
 * offsets) preceded by its byte length, then the float32 data.
 */
export const encodeSnapshot = (weights: Snapshot): Uint8Array => {
  const entries: Array<{ name: string; shape: number[]; offset: number; length: number }> = [];
  let offset = 0;
  for (const [name, w] of weights) {
    entries.push({ name, shape: w.shape, offset, length: w.data.length });
    offset += w.data.length;
  }
  const manifest = new TextEncoder().encode(JSON.stringify({ format: "scalpel-weights/1", entries }));
  const pad = (4 - ((4 + manifest.length) % 4)) % 4;
  const out = new Uint8Array(4 + manifest.length + pad + offset * 4);
  new DataView(out.buffer).setUint32(0, manifest.length, true);
  out.set(manifest, 4);
  const floats = new Float32Array(out.buffer, 4 + manifest.length + pad, offset);
  for (const [i, [, w]] of [...weights].entries()) floats.set(w.data, entries[i].offset);
  return out;
};

/** Inverse of `encodeSnapshot`; throws on a malformed buffer. */
export const decodeSnapshot = (bytes: Uint8Array): Snapshot => {
  if (bytes.length < 4) throw new Error("weights file too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mlen = view.getUint32(0, true);
  if (4 + mlen > bytes.length) throw new Error("weights file truncated in its manifest");
  const manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + mlen))) as {
    format: string;
    entries: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  };
  if (manifest.format !== "scalpel-weights/1") throw new Error(`unknown weights format ${manifest.format}`);
  const pad = (4 - ((4 + mlen) % 4)) % 4;
  const start = 4 + mlen + pad;
  const total = manifest.entries.reduce((n, e) => n + e.length, 0);
  if (bytes.length !== start + total * 4) throw new Error("weights file has the wrong length (truncated?)");
  // copy into a fresh buffer: `bytes` may be a view into a larger (pooled) buffer
  const data = new Float32Array(new Uint8Array(bytes.subarray(start)).buffer);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of manifest.entries) {
    out.set(e.name, { shape: e.shape, data: data.slice(e.offset, e.offset + e.length) });
  }
  return out;
};

let variableCounter = 0;

/**
 * Collects a model's variables while its architecture is built. tfjs variable
 * names are global, so each gets a unique engine name; the logical name is kept.
 */
export class VariableBuilder {
  readonly params: NamedVariable[] = [];
  readonly state: NamedVariable[] = [];

  /** A trainable variable initialised with `init` (already the right shape). */
  param(name: string, group: string, init: tf.Tensor): tf.Variable {
    const variable = tf.variable(init, true, `scalpel_${variableCounter++}_${name}`);
    init.dispose();
    this.params.push({ name, group, variable });
    return variable;
  }

  /** A non-trainable state variable (e.g. a running mean). */
  stateVar(name: string, group: string, init: tf.Tensor): tf.Variable {
    const variable = tf.variable(init, false, `scalpel_${variableCounter++}_${name}`);
    init.dispose();
    this.state.push({ name, group, variable });
    return variable;
  }
}
