/**
 * `scalpel model inspect FILE [--groups JSON]`: look at a TensorFlow.js LayersModel (`model.json` + weight files)
 * before using it with the `tfjs-layers` model plugin — its input shape, every top-level layer (name, class, output
 * shape, parameter count) with the layer group it falls in, the groups in network order (the last is the head),
 * trainable and non-trainable parameter counts and the first layer. `--groups` takes the same mapping as the
 * plugin's `groups` option, as JSON (`'{"stem":["conv*"],"head":["logits"]}'`); without it the automatic grouping
 * is shown. Reads only the given files; runs on the wasm backend unless a backend is already active.
 *
 * `scalpel model export WEIGHTS --format npy --out DIR`: a `.weights` file (a run's or the cache's) as one float32
 * `.npy` per variable with an `index.json` (core/io/npy_weights.ts), which the PyTorch twins in bench/torch_twins.py
 * load; the zoo's `weights:` option reads such a directory back.
 * @module
 */
import { Args, Command, Options } from "@effect/cli";
import { Console, Effect, Option, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { CommandLineError } from "../core/errors.ts";
import { encodeNpyWeights, NPY_WEIGHTS_INDEX } from "../core/io/npy_weights.ts";
import { writeFileAtomic } from "../core/store.ts";
import { readWeights } from "../plugins/models/weights.ts";
import { GroupsMapping, groupsOf, type LoadedLayersModel, readLayersModel } from "../plugins/models/tfjs_layers.ts";

const shapeText = (s: ReadonlyArray<number | null>) => `[${s.map((d) => d ?? "?").join(", ")}]`;

const decodeGroups = Schema.decodeUnknownEither(GroupsMapping);

/** Parse the `--groups` JSON into a mapping. */
export const parseGroupsFlag = (text: string) =>
  Effect.gen(function* () {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return yield* new CommandLineError({
        flag: "--groups",
        detail: `is not valid JSON (${e instanceof Error ? e.message : String(e)})`,
        fix: `Give an object of group name → list of layer-name patterns, e.g. '{"stem":["conv*"],"head":["logits"]}'.`,
      });
    }
    const decoded = decodeGroups(json);
    if (decoded._tag === "Left") {
      return yield* new CommandLineError({
        flag: "--groups",
        detail: "is not an object of group name → list of pattern strings",
        fix: `Give e.g. '{"stem":["conv*"],"head":["logits"]}' (globs or /regex/ over layer names, input side first).`,
      });
    }
    return decoded.right;
  });

/** The text `scalpel model inspect` prints for a loaded model and a group mapping (throws on a bad mapping). */
export const inspectText = (
  loaded: LoadedLayersModel,
  mapping?: Readonly<Record<string, ReadonlyArray<string>>>,
): string => {
  const assignment = groupsOf(loaded, mapping);
  const rows = loaded.layers.map((l) => [
    l.name,
    l.className,
    shapeText(l.outputShape),
    String(l.trainableParams + l.nonTrainableParams),
    l.weights.length === 0 ? "-" : assignment.layerGroup.get(l.name) ?? "-",
  ]);
  const header = ["layer", "class", "output shape", "params", "group"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  const trainable = loaded.layers.reduce((n, l) => n + l.trainableParams, 0);
  const nonTrainable = loaded.layers.reduce((n, l) => n + l.nonTrainableParams, 0);
  const groupSummary = assignment.groups.map((g) => {
    const ls = loaded.layers.filter((l) => l.weights.length > 0 && assignment.layerGroup.get(l.name) === g);
    const t = ls.reduce((n, l) => n + l.trainableParams, 0);
    const s = ls.reduce((n, l) => n + l.nonTrainableParams, 0);
    return `  ${g}: ${ls.map((l) => l.name).join(", ")} (${t} trainable${s > 0 ? `, ${s} non-trainable` : ""})`;
  });
  const first = loaded.layers.find((l) => l.trainableParams > 0);
  return [
    `${loaded.file}: ${loaded.className === "Sequential" ? "Sequential" : "functional"} LayersModel, input shape ` +
    `${shapeText(loaded.inputShape)}, output shape ${shapeText(loaded.outputShape)}`,
    "",
    line(header),
    ...rows.map(line),
    "",
    `groups (${mapping === undefined ? "automatic" : "from --groups"}; input side first, the last is the head):`,
    ...groupSummary,
    `parameters: ${trainable} trainable, ${nonTrainable} non-trainable`,
    ...(first
      ? [`first layer: ${first.name} (${first.weights.filter((w) => w.trainable).map((w) => w.name).join(", ")})`]
      : []),
    ...(loaded.softmaxRemoved
      ? ["note: the output layer's softmax activation is replaced by linear (scalpel trains on logits)"]
      : []),
  ].join("\n");
};

/** `scalpel model inspect FILE [--groups JSON]`. */
const inspect = Command.make("inspect", {
  file: Args.text({ name: "file" }).pipe(Args.withDescription("a TensorFlow.js LayersModel model.json")),
  groups: Options.text("groups").pipe(
    Options.withDescription(
      "layer groups as JSON: group name → glob or /regex/ patterns over layer names, input side first",
    ),
    Options.optional,
  ),
}, (a) =>
  Effect.gen(function* () {
    const mapping = Option.isSome(a.groups) ? yield* parseGroupsFlag(a.groups.value) : undefined;
    const loaded = yield* readLayersModel(a.file);
    const text = yield* Effect.try({
      try: () => inspectText(loaded, mapping),
      catch: (e) =>
        new CommandLineError({
          flag: "--groups",
          detail: e instanceof Error ? e.message : String(e),
          fix: "Change the patterns so that every layer with weights is in exactly one group.",
        }),
    });
    yield* Console.log(text);
  })).pipe(Command.withDescription("show a TensorFlow.js LayersModel's layers, parameter counts and layer groups"));

/** `scalpel model export WEIGHTS --format npy --out DIR`. */
const exportWeights = Command.make("export", {
  weights: Args.text({ name: "weights" }).pipe(
    Args.withDescription(
      "weights to export: a .weights file (a run's models/<key>.weights, or the model cache's <key>.weights)",
    ),
  ),
  format: Options.choice("format", ["npy"]).pipe(
    Options.withDescription("npy: one float32 .npy per variable and an index.json (names, shapes, layouts)"),
    Options.withDefault("npy" as const),
  ),
  out: Options.text("out").pipe(Options.withDescription("a new (or empty) directory to write")),
}, (a) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const weights = yield* readWeights(a.weights);
    const { index, files } = encodeNpyWeights(weights, path.resolve(a.weights));
    const taken = yield* fs.readDirectory(a.out).pipe(Effect.orElseSucceed(() => [] as string[]));
    if (taken.length > 0) {
      return yield* new CommandLineError({
        flag: "--out",
        detail: `${a.out} is not empty`,
        fix: "Give a new or empty directory, so that no file of another export is mixed in.",
      });
    }
    const failed = (e: { message: string }) =>
      new CommandLineError({
        flag: "--out",
        detail: `writing ${a.out} failed (${e.message})`,
        fix: "Check permissions.",
      });
    yield* fs.makeDirectory(a.out, { recursive: true }).pipe(Effect.mapError(failed));
    for (const [file, bytes] of files) {
      yield* writeFileAtomic(path.join(a.out, file), bytes).pipe(Effect.mapError(failed));
    }
    // the index last: a directory without it is not an export
    yield* writeFileAtomic(path.join(a.out, NPY_WEIGHTS_INDEX), JSON.stringify(index, null, 2) + "\n").pipe(
      Effect.mapError(failed),
    );
    yield* Console.log(`${index.variables.length} variables written to ${a.out}/ (${NPY_WEIGHTS_INDEX} + .npy files)`);
  })).pipe(
    Command.withDescription(
      "export weights as one .npy per variable with an index.json, for PyTorch (bench/torch_twins.py loads them)",
    ),
  );

/** `scalpel model …`: tools for models and their weights. */
export const model = Command.make("model").pipe(
  Command.withSubcommands([inspect, exportWeights]),
  Command.withDescription("inspect LayersModels; export weights for other frameworks"),
);
