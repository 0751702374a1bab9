/**
 * `tfjs-layers`: a pre-trained network a user brings, as a TensorFlow.js LayersModel — the `model.json` (+ weight
 * files beside it) that `model.save(…)` and `tensorflowjs_converter --output_format tfjs_layers_model` write.
 *
 * ```yaml
 * model:
 *   model: tfjs-layers
 *   options:
 *     path: models/my-net/model.json          # relative to the current directory
 *     groups:                                  # optional; input side first, the last group is the head
 *       stem: [conv1, bn1]
 *       body: ["block*", "/^res\\d+/"]
 *       head: [logits]
 * ```
 *
 * - The files are read with the platform's file system (no network, no tfjs-node) and fed to tfjs through
 *   `tf.io.fromMemory`. A missing, malformed or truncated file is a `ModelFileError` naming the file and the fix.
 * - Every `build` returns a FRESH copy of the network with its own variables (rebuilt from the layers' config,
 *   weights copied from the file): trials never share weights. The weights are marked pre-trained (`pretrained:
 *   true`), so the engine does not pre-train the model.
 * - `params` are the trainable weights (logical name = the weight's name in the file, e.g. `conv1/kernel`), `state`
 *   the non-trainable ones (batch-norm moving mean / variance, and every weight of a layer saved with
 *   `trainable: false`).
 * - Groups: with `groups`, each layer with weights goes to the first group (in the order given) that has a pattern
 *   matching its name; a pattern is a glob (`*`, `?`) matched against the whole name or a `/regex/flags`. Every
 *   layer with weights must be matched, every group must match something, and the groups must be listed in network
 *   order (by their first layer). Without `groups`: when every layer with weights is named like the zoo models
 *   (`block1/…`, `block2_conv`, `head`, `head_dense`: a `blockN` or `head` prefix followed by `/`, `_` or the end),
 *   those prefixes are the groups; otherwise every layer with weights is its own group, named after the layer, in
 *   network order (the last one is the head). Groups are formed over the top-level layers: a nested model counts
 *   as one layer.
 * - The network sees float32 NHWC images in [0, 1]; put a rescaling layer into the model if it expects another
 *   range. A final softmax (a `softmax` activation on the output layer) is replaced by `linear` so that `forward`
 *   returns logits, as the engine expects; any other output activation is kept.
 * - Limitation, batch-norm in `train` mode: `forward(x, "train")` applies the network with `training: true` and
 *   returns no `stateUpdates`: tfjs-layers' BatchNormalization updates its moving mean / variance itself, in place,
 *   during the forward pass (with the layer's own momentum), so the engine cannot defer or discard those updates.
 *   In `eval` mode (`training: false`) nothing is updated.
 * - Disposal: `disposeModel` (core/model.ts) is enough — every tensor a copy holds is one of its params or state
 *   variables; `make` itself keeps no tensors (only the config and the raw weight bytes).
 * @module
 */
import * as tfl from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs-core";
import { Effect, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { readWeights, withWeights } from "./weights.ts";
import { defineModel, type ModelImpl } from "../../core/plugin.ts";
import type { ForwardMode, Model, NamedVariable } from "../../core/model.ts";
import { type BackendError, ModelFileError, PluginError } from "../../core/errors.ts";
import { initBackend } from "../../core/backend.ts";

/** The `groups` option: group name → glob or /regex/ patterns over layer names, input side first. */
export const GroupsMapping = Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }).annotations({
  description: "Layer groups: name → glob or /regex/ patterns over layer names, input side first (the last group is " +
    "the head); when absent, derived from the layer names.",
});

/** Options of the `tfjs-layers` model plugin. */
export const TfjsLayersOptions = Schema.Struct({
  path: Schema.String.annotations({
    description: "The TensorFlow.js LayersModel's model.json (weight files beside it); a relative path is resolved " +
      "against the current directory.",
  }),
  groups: Schema.optional(GroupsMapping),
  weights: Schema.optional(Schema.String.annotations({
    description: "Fine-tuned weights a run saved (`save: true` writes `<run>/models/<trial key>.weights`), applied " +
      "on top of the loaded network.",
  })),
});

/** One weight of a layer. */
export interface WeightInfo {
  readonly name: string;
  readonly shape: ReadonlyArray<number>;
  readonly trainable: boolean;
}

/** One top-level layer of the loaded network. */
export interface LayerInfo {
  readonly name: string;
  readonly className: string;
  /** Output shape without the batch dimension (`null` for an unknown size). */
  readonly outputShape: ReadonlyArray<number | null>;
  readonly weights: ReadonlyArray<WeightInfo>;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
}

/** A LayersModel read from disk: everything needed to build fresh copies, and no tensors. */
export interface LoadedLayersModel {
  /** The model.json as given. */
  readonly file: string;
  readonly className: "Sequential" | "Model";
  /** `getConfig()` of the network (a final softmax already replaced by `linear`). */
  readonly config: tfl.serialization.ConfigDict;
  readonly weightSpecs: ReadonlyArray<tf.io.WeightsManifestEntry>;
  readonly weightData: ArrayBuffer;
  /** Input shape without the batch dimension. */
  readonly inputShape: ReadonlyArray<number | null>;
  /** Output shape without the batch dimension. */
  readonly outputShape: ReadonlyArray<number | null>;
  readonly layers: ReadonlyArray<LayerInfo>;
  /** True when the output layer's softmax was replaced by `linear`. */
  readonly softmaxRemoved: boolean;
}

const HOW = "Give the path of a TensorFlow.js LayersModel model.json with its weight files beside it (as written by " +
  "model.save or `tensorflowjs_converter --output_format tfjs_layers_model`); relative paths are resolved against " +
  "the current directory.";

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0];

const bytesPerElement = (spec: tf.io.WeightsManifestEntry): number | undefined => {
  const q = spec.quantization?.dtype;
  if (q !== undefined) return q === "uint8" ? 1 : 2; // uint8, uint16, float16
  switch (spec.dtype) {
    case "float32":
    case "int32":
      return 4;
    case "bool":
      return 1;
    default:
      return undefined;
  }
};

interface ManifestGroup {
  readonly paths: ReadonlyArray<string>;
  readonly weights: ReadonlyArray<tf.io.WeightsManifestEntry>;
}

/** Replace a softmax activation of the output layer by `linear`; returns whether one was replaced. */
const removeFinalSoftmax = (className: string, config: tfl.serialization.ConfigDict): boolean => {
  type LayerConf = { className?: string; name?: string; config?: Record<string, unknown> };
  const layers = (className === "Sequential" ? (config.layers ?? config) : config.layers) as unknown as LayerConf[];
  if (!Array.isArray(layers) || layers.length === 0) return false;
  let out: LayerConf | undefined = layers[layers.length - 1];
  if (className !== "Sequential") {
    const outputs = config.outputLayers as unknown as Array<[string, number, number]> | undefined;
    if (!outputs || outputs.length !== 1) return false;
    out = layers.find((l) => l.name === outputs[0][0]);
  }
  if (out?.config?.activation === "softmax") {
    out.config.activation = "linear";
    return true;
  }
  return false;
};

const withoutBatch = (shape: unknown): Array<number | null> =>
  Array.isArray(shape) ? (shape as Array<number | null>).slice(1) : [];

/** Layer descriptions of a built network (top-level layers). */
const describeLayers = (model: tfl.LayersModel): LayerInfo[] =>
  model.layers.map((l) => {
    const trainable = new Set(l.trainableWeights.map((w) => w.originalName));
    const count = (ws: ReadonlyArray<tfl.LayerVariable>) =>
      ws.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
    let outputShape: Array<number | null> = [];
    try {
      const s = l.outputShape;
      outputShape = Array.isArray(s[0]) || s[0] === undefined ? withoutBatch(s[0]) : withoutBatch(s);
    } catch {
      // a layer used at several places has no single output shape
    }
    return {
      name: l.name,
      className: l.getClassName(),
      outputShape,
      weights: l.weights.map((w) => ({
        name: w.originalName,
        shape: [...w.shape as number[]],
        trainable: trainable.has(w.originalName),
      })),
      trainableParams: count(l.trainableWeights),
      nonTrainableParams: count(l.nonTrainableWeights),
    };
  });

/**
 * Read a LayersModel `model.json` and its weight files (no network). It builds the network once (on the active
 * tfjs backend, or wasm when none is active yet) to check that topology and weights agree, reads its layers, and
 * disposes it.
 */
export const readLayersModel = (
  file: string,
): Effect.Effect<LoadedLayersModel, ModelFileError | BackendError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const fail = (detail: string, fix = HOW, at = file) => Effect.fail(new ModelFileError({ file: at, detail, fix }));
    const abs = path.resolve(file);
    const text = yield* fs.readFileString(abs).pipe(
      Effect.mapError(() => new ModelFileError({ file, detail: "cannot be read", fix: HOW })),
    );
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return yield* fail(`is not valid JSON (${errorText(e)})`);
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) return yield* fail("is not a JSON object");
    if (json.format === "graph-model" || (json.modelTopology as Record<string, unknown> | undefined)?.node) {
      return yield* fail(
        "is a TensorFlow.js graph model, which has no trainable layers",
        "Convert the model with `tensorflowjs_converter --output_format tfjs_layers_model` (from a Keras model) and give that model.json.",
      );
    }
    if (json.modelTopology === null || typeof json.modelTopology !== "object") {
      return yield* fail("has no `modelTopology`: it is not a TensorFlow.js LayersModel model.json");
    }
    const manifest = json.weightsManifest as ManifestGroup[] | undefined;
    if (
      !Array.isArray(manifest) ||
      manifest.some((g) => !g || !Array.isArray(g.paths) || !Array.isArray(g.weights))
    ) {
      return yield* fail("has no valid `weightsManifest` (a list of { paths, weights }): the weights cannot be found");
    }
    // read every weight file and check it holds exactly what the manifest says
    const dir = path.dirname(abs);
    const chunks: Uint8Array[] = [];
    const specs: tf.io.WeightsManifestEntry[] = [];
    for (const group of manifest) {
      let expected = 0;
      for (const w of group.weights) {
        const per = bytesPerElement(w);
        if (per === undefined || !Array.isArray(w.shape)) {
          return yield* fail(`lists weight ${w.name} with dtype ${w.dtype}, which cannot be loaded`);
        }
        expected += per * w.shape.reduce((a, b) => a * b, 1);
      }
      let got = 0;
      let last = file;
      for (const p of group.paths) {
        let wf = path.join(dir, p);
        if (!(yield* fs.exists(wf).pipe(Effect.orElseSucceed(() => false)))) {
          const decoded = path.join(dir, decodeURIComponent(p));
          if (yield* fs.exists(decoded).pipe(Effect.orElseSucceed(() => false))) wf = decoded;
        }
        const shown = path.join(path.dirname(file), p);
        const bytes = yield* fs.readFile(wf).pipe(
          Effect.mapError(() =>
            new ModelFileError({
              file: shown,
              detail: `cannot be read (it is a weights file listed in ${file})`,
              fix: "Put the weight files next to model.json, as model.save writes them.",
            })
          ),
        );
        chunks.push(bytes);
        got += bytes.length;
        last = shown;
      }
      if (got !== expected) {
        return yield* fail(
          `has ${got} bytes but ${file} needs ${expected} for ${group.weights.map((w) => w.name).join(", ")} ` +
            `(${got < expected ? "truncated" : "too long"})`,
          "The weights file is damaged or belongs to another model.json: copy model.json and its weight files again.",
          last,
        );
      }
      specs.push(...group.weights);
    }
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const all = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    const weightData = all.buffer;
    // building the network needs a backend: keep the active one, else start wasm (as `scalpel run` would)
    if (!tf.engine().backendName) yield* initBackend("wasm");
    // the network is built only to check it and read its layers: released on every exit path
    return yield* Effect.acquireUseRelease(
      Effect.tryPromise({
        try: () =>
          tfl.loadLayersModel(
            tfl.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData }),
          ),
        catch: (e) =>
          new ModelFileError({
            file,
            detail: `cannot be loaded as a LayersModel (${errorText(e)})`,
            fix: "Custom layers are not supported; check that model.json and its weight files belong together. " + HOW,
          }),
      }),
      (model) =>
        Effect.gen(function* () {
          const className = model.getClassName() === "Sequential" ? "Sequential" : "Model";
          const config = model.getConfig();
          const softmaxRemoved = removeFinalSoftmax(className, config);
          if (model.inputs.length !== 1 || model.outputs.length !== 1) {
            return yield* fail(
              `has ${model.inputs.length} inputs and ${model.outputs.length} outputs`,
              "scalpel needs a network with one image input and one output of class scores.",
            );
          }
          return {
            file,
            className,
            config,
            weightSpecs: specs,
            weightData,
            inputShape: withoutBatch(model.inputs[0].shape),
            outputShape: withoutBatch(model.outputs[0].shape),
            layers: describeLayers(model),
            softmaxRemoved,
          } satisfies LoadedLayersModel;
        }),
      (model) => Effect.sync(() => model.dispose()),
    );
  });

/** A fresh copy of the loaded network, with its own variables holding the file's weights. */
export const instantiate = (loaded: LoadedLayersModel): tfl.LayersModel => {
  const config = structuredClone(loaded.config);
  const model =
    (loaded.className === "Sequential"
      ? tfl.Sequential.fromConfig(tfl.Sequential, config, {}, true)
      : tfl.LayersModel.fromConfig(tfl.LayersModel, config, {}, true)) as tfl.LayersModel;
  try {
    tf.tidy(() => model.loadWeights(tf.io.decodeWeights(loaded.weightData, [...loaded.weightSpecs]), true));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
};

/** Group assignment: group names in network order, and the group of every layer with weights. */
export interface GroupAssignment {
  readonly groups: ReadonlyArray<string>;
  readonly layerGroup: ReadonlyMap<string, string>;
}

/** A glob (`*`, `?`, whole name) or `/regex/flags` as a RegExp; throws on an invalid regex. */
export const patternRegExp = (pattern: string): RegExp => {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (m) return new RegExp(m[1], m[2]);
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
};

const ZOO = /^(block\d+|head)(?=[/_]|$)/;

/**
 * Assign the layers with weights (names in network order) to groups; throws an Error saying what is wrong with
 * the mapping.
 */
export const assignGroups = (
  layerNames: ReadonlyArray<string>,
  mapping?: Readonly<Record<string, ReadonlyArray<string>>>,
): GroupAssignment => {
  if (layerNames.length === 0) throw new Error("the network has no layer with weights");
  const layerGroup = new Map<string, string>();
  if (mapping === undefined) {
    const zoo = layerNames.map((n) => ZOO.exec(n)?.[1]);
    const groups: string[] = [];
    layerNames.forEach((n, i) => {
      const g = zoo.every((z) => z !== undefined) ? zoo[i]! : n;
      layerGroup.set(n, g);
      if (!groups.includes(g)) groups.push(g);
    });
    return { groups, layerGroup };
  }
  const names = Object.keys(mapping);
  if (names.length === 0) throw new Error("`groups` is empty: give at least one group");
  const compiled = names.map((g) =>
    [
      g,
      mapping[g].map((p) => {
        try {
          return patternRegExp(p);
        } catch (e) {
          throw new Error(`group ${g}: pattern ${p} is not a valid regular expression (${errorText(e)})`);
        }
      }),
    ] as const
  );
  const unmatched: string[] = [];
  for (const n of layerNames) {
    const hit = compiled.find(([, res]) => res.some((re) => re.test(n)));
    if (hit) layerGroup.set(n, hit[0]);
    else unmatched.push(n);
  }
  if (unmatched.length > 0) {
    throw new Error(
      `layers ${unmatched.join(", ")} match no pattern in \`groups\`; every layer with weights must be in a group ` +
        `(layers with weights: ${layerNames.join(", ")})`,
    );
  }
  const firstIndex = (g: string) => layerNames.findIndex((n) => layerGroup.get(n) === g);
  const empty = names.filter((g) => firstIndex(g) < 0);
  if (empty.length > 0) {
    throw new Error(
      `group(s) ${empty.join(", ")} match no layer with weights (layers with weights: ${layerNames.join(", ")})`,
    );
  }
  for (let i = 1; i < names.length; i++) {
    if (firstIndex(names[i]) < firstIndex(names[i - 1])) {
      throw new Error(
        `groups must be listed in network order (input side first, head last), but ${names[i]} starts at layer ` +
          `${layerNames[firstIndex(names[i])]}, before ${names[i - 1]} (at ${layerNames[firstIndex(names[i - 1])]})`,
      );
    }
  }
  return { groups: names, layerGroup };
};

/** The groups of a loaded model's layers (see `assignGroups`). */
export const groupsOf = (
  loaded: LoadedLayersModel,
  mapping?: Readonly<Record<string, ReadonlyArray<string>>>,
): GroupAssignment => assignGroups(loaded.layers.filter((l) => l.weights.length > 0).map((l) => l.name), mapping);

const shapeText = (s: ReadonlyArray<number | null>) => `[${s.map((d) => d ?? "?").join(", ")}]`;

/** Check the dataset's input shape and class count against the network; throws an Error naming the file. */
export const checkSpec = (
  loaded: LoadedLayersModel,
  spec: { readonly inputShape: readonly [number, number, number]; readonly numClasses: number },
): void => {
  const s = loaded.inputShape;
  if (s.length !== 3 || s.some((d, i) => d !== null && d !== spec.inputShape[i])) {
    throw new Error(
      `${loaded.file} takes inputs of shape ${shapeText(s)} (height, width, channels) but the dataset's images ` +
        `have shape ${shapeText(spec.inputShape)}: use a dataset with images of that shape (or resize them with the ` +
        `dataset's options), or export the network with the input shape ${shapeText(spec.inputShape)}`,
    );
  }
  const o = loaded.outputShape;
  if (o.length !== 1 || o[0] !== spec.numClasses) {
    throw new Error(
      `${loaded.file} outputs shape ${shapeText(o)} but the dataset has ${spec.numClasses} classes (output ` +
        `[${spec.numClasses}] expected): give a network whose last layer has ${spec.numClasses} units (replace its ` +
        `head before exporting), or a dataset with ${o[0] ?? "?"} classes`,
    );
  }
};

/** A Model (core/model.ts) around a fresh copy of the loaded network. */
export const wrapLayersModel = (
  loaded: LoadedLayersModel,
  assignment: GroupAssignment,
  spec: { readonly inputShape: readonly [number, number, number]; readonly numClasses: number },
): Model => {
  checkSpec(loaded, spec);
  const net = instantiate(loaded);
  const params: NamedVariable[] = [];
  const state: NamedVariable[] = [];
  for (const layer of net.layers) {
    const group = assignment.layerGroup.get(layer.name);
    if (layer.weights.length === 0 || group === undefined) continue;
    const trainable = new Set(layer.trainableWeights);
    for (const w of layer.weights) {
      // LayerVariable.read() returns its tf.Variable (typed as Tensor)
      const nv = { name: w.originalName, group, variable: w.read() as tf.Variable };
      (trainable.has(w) ? params : state).push(nv);
    }
  }
  const firstLayer =
    net.layers.find((l) => l.trainableWeights.length > 0)?.trainableWeights.map((w) => w.originalName) ?? [];
  return {
    architecture: `tfjs-layers ${loaded.file}`,
    inputShape: spec.inputShape,
    numClasses: spec.numClasses,
    groups: assignment.groups,
    firstLayer,
    params,
    state,
    forward: (x: tf.Tensor4D, mode: ForwardMode) => {
      const y = net.apply(x, { training: mode === "train" }) as tf.Tensor;
      const logits = (y.rank === 2 ? y : tf.reshape(y, [y.shape[0], spec.numClasses])) as tf.Tensor2D;
      return { logits, stateUpdates: [] };
    },
  };
};

/** The tfjs-layers model plugin. */
export default defineModel({
  name: "tfjs-layers",
  description:
    "a pre-trained TensorFlow.js LayersModel (model.json + weight files); groups by `groups` patterns, zoo-style " +
    "layer names, or one per layer",
  options: TfjsLayersOptions,
  make: (options) =>
    Effect.gen(function* () {
      const loaded = yield* readLayersModel(options.path);
      const assignment = yield* Effect.try({
        try: () => groupsOf(loaded, options.groups),
        catch: (e) =>
          new PluginError({
            kind: "model",
            name: "tfjs-layers",
            where: `model.options.groups (${options.path})`,
            detail: `cannot group the layers: ${errorText(e)}`,
            known: [],
          }),
      });
      const build: ModelImpl["build"] = (spec) => wrapLayersModel(loaded, assignment, spec);
      if (options.weights === undefined) return { pretrained: true, build } satisfies ModelImpl;
      return withWeights(build, yield* readWeights(options.weights), options.weights);
    }),
});
