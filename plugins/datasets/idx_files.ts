/**
 * Reading one split of a dataset stored as IDX files (the MNIST family): an image
 * file and a label file, checked against each other, with errors that name the file
 * and give the advice of the plugin that reads them. Shared by `mnist` and `idx`.
 * @module
 */
import { Effect } from "effect";
import { DatasetError } from "../../core/errors.ts";
import { IdxFormatError, parseIdx } from "../../core/io/idx.ts";
import type { Split } from "../../core/dataset.ts";
import { readDatasetFile } from "./dataset_files.ts";

/** What a user is told to do about an IDX file that is missing or damaged (each plugin gives its own advice). */
export interface IdxFixes {
  /** For a file that does not exist or cannot be read. */
  readonly missing: string;
  /** For a file that is not a valid IDX file. */
  readonly corrupt: string;
}

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
 * every label is below `numClasses`. `fixes` is the advice errors give; `limit`
 * keeps the first N examples.
 */
export const readIdxSplit = (
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
  fixes: IdxFixes,
  limit?: number,
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
