/**
 * `scalpel corrupt`: apply corruptions from the corruption library to the first N
 * (or a seeded sample of N) images of a dataset and write them as a labelled PNG
 * grid to look at or as a NumPy `.npy` array to analyse. The dataset is any dataset
 * plugin of the registry, decoded with its default options.
 * @module
 */
import { Command, Options } from "@effect/cli";
import { FileSystem, Path } from "@effect/platform";
import { Console, Effect, Schema } from "effect";
import { CommandLineError, PluginError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { DatasetImpl } from "../core/plugin.ts";
import { rngFor } from "../core/random.ts";
import { encodeNpy } from "../core/io/npy.ts";
import { encodePng, type GridBlock, renderGrid } from "../core/io/png.ts";
import {
  COMMON_CORRUPTIONS,
  CORRUPTION_NAMES,
  type CorruptionName,
  CORRUPTIONS,
} from "../plugins/shifts/corruptions/index.ts";

/** A bad flag value or an unwritable output of `scalpel corrupt` (one paragraph, exit 1). */
const flagError = (flag: string, detail: string, fix: string) => new CommandLineError({ flag, detail, fix });

/** What `--name` selects: the corruption names in order, and whether the .npy gets a leading corruption axis. */
export interface NameSelection {
  readonly names: ReadonlyArray<CorruptionName>;
  /** True for `all`, `common`, `every` and comma-separated lists. */
  readonly many: boolean;
}

const isCorruptionName = (s: string): s is CorruptionName => (CORRUPTION_NAMES as ReadonlyArray<string>).includes(s);

/**
 * Parse `--name`: one corruption name, `all` or `common` (the 15 common ones), `every` (all 28)
 * or a comma-separated list of names. Fails naming the known corruptions.
 */
export const parseNames = (text: string): Effect.Effect<NameSelection, CommandLineError> => {
  const t = text.trim();
  // as in pipeline files, `all` means the 15 common corruptions; `every` means all 28
  if (t === "all" || t === "common") return Effect.succeed({ names: COMMON_CORRUPTIONS, many: true });
  if (t === "every") return Effect.succeed({ names: CORRUPTION_NAMES, many: true });
  const parts = t.split(",").map((s) => s.trim());
  const unknown = parts.filter((s) => !isCorruptionName(s));
  if (unknown.length > 0 || parts.length === 0) {
    return Effect.fail(flagError(
      "--name",
      `unknown corruption ${unknown.map((u) => `"${u}"`).join(", ")}`,
      `Known corruptions: ${
        CORRUPTION_NAMES.join(", ")
      }; or \`all\` / \`common\` (the 15 common ones), or \`every\` (all 28).`,
    ));
  }
  return Effect.succeed({ names: [...new Set(parts as CorruptionName[])], many: parts.length > 1 });
};

/**
 * Parse `--severity`: `3`, `1..5`, `1,3,5`, or a mix (`1..2,5`), each in 1–5.
 * Returns the severities in the order given, without repeats.
 */
export const parseSeverities = (text: string): Effect.Effect<ReadonlyArray<number>, CommandLineError> => {
  const fail = (why: string) =>
    Effect.fail(
      flagError(
        "--severity",
        `"${text}" ${why}`,
        "Give one severity (`3`), a range (`1..5`) or a list (`1,3,5`), each an integer from 1 to 5.",
      ),
    );
  const out: number[] = [];
  for (const part of text.split(",").map((s) => s.trim())) {
    const m = /^([0-9]+)(?:\.\.([0-9]+))?$/.exec(part);
    if (!m) return fail(`is not a severity, range or list (bad part "${part}")`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 5 || lo > 5 || hi < 1) return fail("goes outside 1–5");
    if (lo > hi) return fail(`has a decreasing range ${part}`);
    for (let s = lo; s <= hi; s++) if (!out.includes(s)) out.push(s);
  }
  return Effect.succeed(out);
};

/** Clean images and their corrupted versions, before encoding. */
export interface CorruptedImages {
  /** Clean images (HWC float32 in [0, 1]), one per index. */
  readonly clean: ReadonlyArray<Float32Array>;
  /** `corrupted[k][s][n]`: corruption k, severity s (in the order asked), image n. */
  readonly corrupted: ReadonlyArray<ReadonlyArray<ReadonlyArray<Float32Array>>>;
}

/**
 * Corrupt the images at `indices` of `images` (NHWC, uint8 or float in [0, 1]).
 * Image n at severity s of corruption k draws from `rngFor(seed, ["corrupt", name, s, index])`,
 * so its pixels do not depend on which other images, severities or corruptions are asked for.
 */
export const corruptImages = (
  images: Uint8Array | Float32Array,
  shape: readonly [number, number, number],
  indices: ReadonlyArray<number>,
  names: ReadonlyArray<CorruptionName>,
  severities: ReadonlyArray<number>,
  constants: "cifar10-c" | "imagenet-c",
  seed: number,
): CorruptedImages => {
  const size = shape[0] * shape[1] * shape[2];
  const clean = indices.map((i) => {
    const src = images.subarray(i * size, (i + 1) * size);
    return src instanceof Uint8Array ? Float32Array.from(src, (v) => v / 255) : Float32Array.from(src);
  });
  const corrupted = names.map((name) =>
    severities.map((s) =>
      clean.map((img, n) =>
        CORRUPTIONS[name].apply(img, shape, s, rngFor(seed, ["corrupt", name, s, indices[n]]), constants)
      )
    )
  );
  return { clean, corrupted };
};

/** Write `bytes` to `file` atomically: a temporary file in the same directory, then a rename. */
const writeAtomically = (file: string, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${Deno.pid}.tmp`);
    const fix =
      "Choose a path you may write: `deno task scalpel` may write only under runs/ and .cache/ (e.g. --out runs/corrupt.png); when running cli.ts directly, grant --allow-write for the directory.";
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(
      Effect.mapError((e) =>
        new CommandLineError({ flag: `--out ${file}`, detail: `cannot create ${dir} (${e.message})`, fix })
      ),
    );
    yield* fs.writeFile(tmp, bytes).pipe(
      Effect.zipRight(fs.rename(tmp, file)),
      Effect.tapError(() => fs.remove(tmp).pipe(Effect.ignore)),
      Effect.mapError((e) =>
        new CommandLineError({ flag: `--out ${file}`, detail: `cannot be written (${e.message})`, fix })
      ),
    );
  });

const loadDataset = (name: string) =>
  Effect.gen(function* () {
    const registry = yield* Registry;
    const plugin = registry.get("dataset", name);
    if (!plugin) {
      return yield* new PluginError({
        kind: "dataset",
        name,
        where: "--dataset",
        detail: "is not registered",
        known: registry.list("dataset").map((p) => p.name),
      });
    }
    const options = Schema.decodeUnknownEither(plugin.options)({});
    if (options._tag === "Left") {
      return yield* flagError(
        "--dataset",
        `dataset plugin "${name}" needs options (${options.left.message.split("\n").pop()?.trim()})`,
        "Use it from a pipeline file instead, where its options can be given.",
      );
    }
    const impl = yield* plugin.make(options.right);
    return yield* (impl as DatasetImpl).load;
  });

const EXTENSIONS = [".png", ".npy"] as const;

/** `scalpel corrupt`. */
export const corrupt = Command.make("corrupt", {
  dataset: Options.text("dataset").pipe(
    Options.withDescription("dataset plugin, decoded with its default options (default: mnist)"),
    Options.withDefault("mnist"),
  ),
  name: Options.text("name").pipe(
    Options.withDescription(
      "corruption name (see `scalpel shifts`), `all` / `common` (the 15 common ones), `every` (all 28) or a comma-separated list",
    ),
  ),
  severity: Options.text("severity").pipe(
    Options.withDescription("severities: `3`, `1..5` or `1,3,5`, each 1–5 (default: 1..5)"),
    Options.withDefault("1..5"),
  ),
  count: Options.integer("count").pipe(
    Options.withDescription("number of images N (default: 8)"),
    Options.withDefault(8),
  ),
  sample: Options.boolean("sample").pipe(
    Options.withDescription("take a seeded random sample of N images instead of the first N"),
  ),
  seed: Options.integer("seed").pipe(
    Options.withDescription("seed of the corruption noise and of --sample (default: 0)"),
    Options.withDefault(0),
  ),
  split: Options.choice("split", ["test", "train"]).pipe(
    Options.withDescription("dataset split (default: test)"),
    Options.withDefault("test" as const),
  ),
  constants: Options.choice("constants", ["cifar10-c", "imagenet-c"]).pipe(
    Options.withDescription("published severity constants: CIFAR-10-C (default) or ImageNet-C (stronger)"),
    Options.withDefault("cifar10-c" as const),
  ),
  scale: Options.integer("scale").pipe(
    Options.withDescription("PNG only: each image pixel becomes a scale×scale square, 1–32 (default: 3)"),
    Options.withDefault(3),
  ),
  out: Options.text("out").pipe(
    Options.withDescription(
      "output file, written atomically (`deno task scalpel` may write only under runs/ and .cache/). " +
        ".png: a labelled grid, one row per image, columns clean then each severity, one block per corruption. " +
        ".npy: float32 in [0, 1] of shape [S, N, H, W, C] (severities in the order given, images, height, width, " +
        "channels), or [K, S, N, H, W, C] when --name is all, common, every or a list (K corruptions in that order)",
    ),
  ),
}, (a) =>
  Effect.gen(function* () {
    const path = yield* Path.Path;
    const ext = path.extname(a.out).toLowerCase();
    if (!(EXTENSIONS as ReadonlyArray<string>).includes(ext)) {
      return yield* flagError(
        "--out",
        `${a.out} has neither a .png nor a .npy extension`,
        "Name a .png file for a labelled grid or a .npy file for the float32 array.",
      );
    }
    const selection = yield* parseNames(a.name);
    const severities = yield* parseSeverities(a.severity);
    if (a.count < 1) return yield* flagError("--count", `${a.count} is not positive`, "Give N ≥ 1.");
    if (a.scale < 1 || a.scale > 32) {
      return yield* flagError("--scale", `${a.scale} is outside 1–32`, "Give an integer from 1 to 32.");
    }
    const dataset = yield* loadDataset(a.dataset);
    const split = a.split === "train" ? dataset.train : dataset.test;
    if (a.count > split.count) {
      return yield* flagError(
        "--count",
        `${a.count} is more than the ${split.count} images of the ${dataset.name} ${a.split} split`,
        `Give N ≤ ${split.count}.`,
      );
    }
    const indices = a.sample
      ? Array.from(rngFor(a.seed, ["corrupt", "sample", a.split]).permutation(split.count).subarray(0, a.count))
      : Array.from({ length: a.count }, (_, i) => i);
    const { clean, corrupted } = yield* Effect.try({
      try: () => corruptImages(split.images, dataset.shape, indices, selection.names, severities, a.constants, a.seed),
      catch: (e) =>
        flagError(
          "--dataset",
          `the ${dataset.name} images cannot be corrupted (${e instanceof Error ? e.message : String(e)})`,
          "The corruptions take images of shape [H, W, 1] or [H, W, 3].",
        ),
    });
    const [h, w, c] = dataset.shape;
    let bytes: Uint8Array;
    let what: string;
    if (ext === ".npy") {
      const size = h * w * c;
      const data = new Float32Array(selection.names.length * severities.length * indices.length * size);
      let offset = 0;
      for (const perSeverity of corrupted) {
        for (const images of perSeverity) for (const img of images) data.set(img, (offset++) * size);
      }
      const shape = selection.many
        ? [selection.names.length, severities.length, indices.length, h, w, c]
        : [severities.length, indices.length, h, w, c];
      bytes = encodeNpy(data, shape);
      what = `float32 array of shape [${shape.join(", ")}] (${
        selection.many ? "corruption, " : ""
      }severity, image, H, W, C)`;
    } else {
      const blocks: GridBlock[] = selection.names.map((name, k) => ({
        title: `${name} (${CORRUPTIONS[name].family}, ${a.constants}, ${dataset.name} ${a.split}, seed ${a.seed})`,
        columnLabels: ["clean", ...severities.map(String)],
        rowLabels: indices.map((i) => `#${i}\ny=${dataset.classNames[split.labels[i]] ?? split.labels[i]}`),
        rows: indices.map((_, n) => [clean[n], ...severities.map((_, s) => corrupted[k][s][n])]),
      }));
      const { raster } = renderGrid(blocks, { shape: dataset.shape, scale: a.scale });
      bytes = encodePng(raster);
      what =
        `${raster.width}×${raster.height} ${c === 1 ? "grayscale" : "RGB"} PNG grid, ${blocks.length} block(s) of ` +
        `${indices.length} row(s) × ${severities.length + 1} column(s)`;
    }
    yield* writeAtomically(a.out, bytes);
    yield* Console.log(
      `Wrote ${a.out}: ${what}; ${
        selection.names.length === 1 ? selection.names[0] : `${selection.names.length} corruptions`
      } ` +
        `at severity ${severities.join(",")} on ${dataset.name} ${a.split} images ${
          a.sample ? `sampled with seed ${a.seed}` : `0..${a.count - 1}`
        }.`,
    );
  })).pipe(
    Command.withDescription(
      "write corrupted images of a dataset as a labelled PNG grid or a .npy array (see --out); " +
        "noise is seeded per (corruption, severity, image index)",
    ),
  );
