/**
 * `idx`: any pair of IDX image / label files per split (the MNIST family: EMNIST,
 * KMNIST, Fashion-MNIST's own files, …), uncompressed, unsigned-byte 3-D images
 * N×H×W (one channel) and 1-D labels. Relative paths are resolved against the
 * current directory. The number of classes is `classNames.length`, else
 * `numClasses`, else the largest label + 1; every class needs a training example.
 * @module
 */
import { Effect, Schema } from "effect";
import { Path } from "@effect/platform";
import { defineDataset } from "../../core/plugin.ts";
import { datasetOfFiles } from "./dataset_files.ts";
import { type IdxFixes, readIdxSplit } from "./idx_files.ts";
import { resolveSplitFiles, splitFileFields } from "./split_files.ts";

const FIXES: IdxFixes = {
  missing:
    "Check `dataset.options.trainImages` / `trainLabels` / `testImages` / `testLabels` (relative paths are resolved against the current directory; gunzip `.gz` files first).",
  corrupt: "Replace it with an intact, uncompressed IDX file (unsigned-byte data, 3-D images and 1-D labels).",
};

/** The options of the idx dataset plugin. */
export const IdxOptions = Schema.Struct({
  ...splitFileFields("idx"),
  numClasses: Schema.optional(
    Schema.Int.pipe(Schema.between(2, 256)).annotations({
      description: "Number of classes when there are no `classNames`; when both are absent, the largest label + 1.",
    }),
  ),
});

/** The idx dataset plugin. */
export default defineDataset({
  name: "idx",
  description: "any IDX image/label file pair per split (EMNIST, KMNIST, …): N×H×W uint8 images, 1-D uint8 labels",
  options: IdxOptions,
  make: (o) =>
    Effect.succeed({
      load: Effect.gen(function* () {
        const path = yield* Path.Path;
        const { trainImages, trainLabels, testImages, testLabels } = resolveSplitFiles((f) => path.resolve(f), o);
        // 256: every unsigned-byte label passes here; resolveClasses checks the real count
        const train = yield* readIdxSplit(trainImages, trainLabels, 256, FIXES, o.trainLimit);
        const test = yield* readIdxSplit(testImages, testLabels, 256, FIXES, o.testLimit);
        return yield* datasetOfFiles(
          o,
          { trainImages, trainLabels, testImages, testLabels },
          train,
          test,
          "Use train and test files of the same dataset.",
        );
      }),
    }),
});
