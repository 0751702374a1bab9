/**
 * Options shared by the dataset plugins that read one image file and one label file
 * per split (`idx`, `npy`): the four paths, a display name, class names and limits.
 * @module
 */
import { Schema } from "effect";

/** The schema fields of a four-file dataset (spread them into the plugin's options struct). */
export const splitFileFields = (defaultName: string) => ({
  name: Schema.optionalWith(
    Schema.String.annotations({
      description: "Dataset name (shown in logs; shifts such as subpopulation `auto` look at it).",
    }),
    { default: () => defaultName },
  ),
  trainImages: Schema.String.annotations({
    description: "File of training images (a relative path is resolved against the current directory).",
  }),
  trainLabels: Schema.String.annotations({
    description: "File of training labels (a relative path is resolved against the current directory).",
  }),
  testImages: Schema.String.annotations({
    description: "File of test images (a relative path is resolved against the current directory).",
  }),
  testLabels: Schema.String.annotations({
    description: "File of test labels (a relative path is resolved against the current directory).",
  }),
  classNames: Schema.optional(
    Schema.NonEmptyArray(Schema.String).annotations({
      description: "Human-readable class names, one per class (their number is the number of classes).",
    }),
  ),
  trainLimit: Schema.optional(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Use only the first N training images; all of them when absent.",
    }),
  ),
  testLimit: Schema.optional(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Use only the first N test images; all of them when absent.",
    }),
  ),
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
