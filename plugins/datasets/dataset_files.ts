/**
 * Helpers shared by the dataset plugins that read their data from files (mnist, idx,
 * npy, fashion-mnist): reading a file with a DatasetError that names it and says what
 * to do, and the class names of labels read from files.
 * @module
 */
import { Effect } from "effect";
import { FileSystem } from "@effect/platform";
import { DatasetError } from "../../core/errors.ts";
import type { Dataset, Split } from "../../core/dataset.ts";

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

/** One split read from an image file and a label file, with its image shape [H, W, C]. */
export interface FileSplit {
  readonly split: Split;
  readonly shape: readonly [number, number, number];
}

/**
 * The dataset of a train and a test split read from files: checks that their images
 * have one shape (`fix` says what to do otherwise), resolves the class names.
 */
export const datasetOfFiles = (
  options: {
    readonly name: string;
    readonly classNames?: ReadonlyArray<string>;
    readonly numClasses?: number;
  },
  files: {
    readonly trainImages: string;
    readonly trainLabels: string;
    readonly testImages: string;
    readonly testLabels: string;
  },
  train: FileSplit,
  test: FileSplit,
  fix: string,
): Effect.Effect<Dataset, DatasetError> =>
  Effect.gen(function* () {
    if (train.shape.some((d, i) => d !== test.shape[i])) {
      return yield* new DatasetError({
        file: files.testImages,
        detail: `images are ${test.shape.join("×")} (H×W×C) but the training images (${files.trainImages}) are ${
          train.shape.join("×")
        }`,
        fix,
      });
    }
    const classNames = yield* resolveClasses(
      options,
      { file: files.trainLabels, labels: train.split.labels },
      { file: files.testLabels, labels: test.split.labels },
    );
    return { name: options.name, shape: train.shape, classNames, train: train.split, test: test.split };
  });
