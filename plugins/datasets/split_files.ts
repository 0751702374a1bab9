/**
 * Options shared by the dataset plugins that read one image file and one label file
 * per split (`idx`, `npy`): the four paths, a display name, class names and limits.
 * @module
 */
import { Schema } from "effect";

/** The schema fields of a four-file dataset (spread them into the plugin's options struct). */
export const splitFileFields = (defaultName: string) => ({
  /** Dataset name (shown in logs; shifts such as subpopulation `auto` look at it). */
  name: Schema.optionalWith(Schema.String, { default: () => defaultName }),
  /** File of training images. */
  trainImages: Schema.String,
  /** File of training labels. */
  trainLabels: Schema.String,
  /** File of test images. */
  testImages: Schema.String,
  /** File of test labels. */
  testLabels: Schema.String,
  /** Human-readable class names, one per class (their number is the number of classes). */
  classNames: Schema.optional(Schema.NonEmptyArray(Schema.String)),
  /** Use only the first N training images. */
  trainLimit: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** Use only the first N test images. */
  testLimit: Schema.optional(Schema.Int.pipe(Schema.positive())),
});

/** The four paths of the options, resolved (relative ones against the current directory). */
export const resolveSplitFiles = (
  resolve: (p: string) => string,
  o: {
    readonly trainImages: string;
    readonly trainLabels: string;
    readonly testImages: string;
    readonly testLabels: string;
  },
) => ({
  trainImages: resolve(o.trainImages),
  trainLabels: resolve(o.trainLabels),
  testImages: resolve(o.testImages),
  testLabels: resolve(o.testLabels),
});
