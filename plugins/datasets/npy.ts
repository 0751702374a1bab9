/**
 * `npy`: NumPy `.npy` arrays, one image file and one label file per split.
 *
 * - Images: 4-D `[N, H, W, C]` (`layout: NHWC`, the default) or `[N, C, H, W]`
 *   (`layout: NCHW`, transposed to NHWC on load), or 3-D `[N, H, W]` (one channel).
 *   dtype uint8 (kept as uint8) or float32 with every value in [0, 1] (kept as
 *   float32).
 * - Labels: 1-D `[N]` (or `[N, 1]`) of int64, int32 or uint8.
 * - Rejected, each with a DatasetError naming the file and the fix: no `\x93NUMPY`
 *   magic, Fortran order, object or structured arrays, big-endian or other dtypes,
 *   truncated data or trailing bytes (with the byte offsets), float values outside
 *   [0, 1] (with the element index), label/image count mismatch, labels outside the
 *   classes, classes without training examples.
 *
 * Memory: the file's bytes plus one typed array of the data; no per-element
 * JavaScript values. The helpers are shared with the `natural` shift, which reads
 * only a slice of rows.
 * @module
 */
import { Effect, Schema } from "effect";
import { Path } from "@effect/platform";
import { defineDataset } from "../../core/plugin.ts";
import type { Split } from "../../core/dataset.ts";
import { DatasetError } from "../../core/errors.ts";
import { NpyFormatError, type NpyHeader, parseNpyHeader } from "../../core/io/npy.ts";
import { datasetOfFiles, readDatasetFile } from "./dataset_files.ts";
import { resolveSplitFiles, splitFileFields } from "./split_files.ts";

/** How image axes are ordered in a 4-D array. */
export type Layout = "NHWC" | "NCHW";

/** A checked image array: where its rows are and how to decode them. */
export interface NpyImageInfo {
  readonly file: string;
  readonly header: NpyHeader;
  readonly count: number;
  /** Shape of one image once decoded, [H, W, C]. */
  readonly shape: readonly [number, number, number];
  readonly dtype: "uint8" | "float32";
  /** Bytes per image in the file. */
  readonly rowBytes: number;
  readonly layout: Layout;
}

/** A checked label array. */
export interface NpyLabelInfo {
  readonly file: string;
  readonly header: NpyHeader;
  readonly count: number;
  readonly dtype: "int64" | "int32" | "uint8";
  readonly itemSize: number;
}

const SAVE_HINT = "np.save(file, np.ascontiguousarray(x))";

/** Parse a header, turning a format problem into a DatasetError naming the file. */
export const npyHeaderOf = (file: string, bytes: Uint8Array): NpyHeader => {
  try {
    return parseNpyHeader(bytes);
  } catch (e) {
    throw new DatasetError({
      file,
      detail: e instanceof NpyFormatError ? e.message : String(e),
      fix: `Write the file with NumPy's np.save (a .npy file, not .npz or a pickle): ${SAVE_HINT}.`,
    });
  }
};

const dtypeProblem = (file: string, descr: string, wanted: string, astype: string): DatasetError => {
  const kind = descr.slice(1);
  const detail = descr.includes("O")
    ? `holds an object array (dtype ${descr}, pickled Python objects), which cannot be read without Python`
    : descr.startsWith(">") && kind !== "u1" && kind !== "i1"
    ? `is big-endian (dtype ${descr}); only little-endian data is read`
    : `has dtype ${descr}; supported: ${wanted}`;
  return new DatasetError({ file, detail, fix: `Convert it in NumPy: np.save(file, x.astype(${astype})).` });
};

const checkSize = (file: string, header: NpyHeader, fileSize: number, needed: number): void => {
  const have = fileSize - header.dataOffset;
  if (have < needed) {
    throw new DatasetError({
      file,
      detail:
        `truncated: shape (${
          header.shape.join(", ")
        }) needs ${needed} data bytes from byte offset ${header.dataOffset}, ` +
        `the file has ${Math.max(0, have)} (it ends at byte ${fileSize})`,
      fix: "Copy or download the file again; it was cut short.",
    });
  }
  if (have > needed) {
    throw new DatasetError({
      file,
      detail: `${have - needed} unexpected bytes after the data, from byte offset ${header.dataOffset + needed}`,
      fix: `Write the file again with ${SAVE_HINT}.`,
    });
  }
};

/** Check an image array's header against the file size; throws a DatasetError. */
export const checkImageHeader = (
  file: string,
  header: NpyHeader,
  fileSize: number,
  layout: Layout,
): NpyImageInfo => {
  const d = header.descr;
  const dtype = d === "|u1" || d === "<u1" || d === "u1" || d === ">u1" ? "uint8" : d === "<f4" ? "float32" : undefined;
  if (dtype === undefined) throw dtypeProblem(file, d, "uint8 (|u1) or float32 (<f4)", "np.uint8");
  const s = header.shape;
  if (s.length !== 3 && s.length !== 4) {
    throw new DatasetError({
      file,
      detail: `has shape (${s.join(", ")}); images need 4 dimensions [N, H, W, C] (${layout}: ${
        layout === "NHWC" ? "[N, H, W, C]" : "[N, C, H, W]"
      }) or 3 [N, H, W]`,
      fix: "Reshape the array to one image per row, or check that this is the image file.",
    });
  }
  if (header.fortranOrder && s.length > 1) {
    throw new DatasetError({
      file,
      detail: "is stored in Fortran (column-major) order",
      fix: `Save a C-order copy: ${SAVE_HINT}.`,
    });
  }
  const shape: [number, number, number] = s.length === 3
    ? [s[1], s[2], 1]
    : layout === "NHWC"
    ? [s[1], s[2], s[3]]
    : [s[2], s[3], s[1]];
  if (shape.some((n) => n === 0)) {
    throw new DatasetError({ file, detail: `has an empty image shape (${s.join(", ")})`, fix: "Check the array." });
  }
  const rowBytes = shape[0] * shape[1] * shape[2] * (dtype === "uint8" ? 1 : 4);
  checkSize(file, header, fileSize, s[0] * rowBytes);
  return { file, header, count: s[0], shape, dtype, rowBytes, layout };
};

/** Check a label array's header against the file size; throws a DatasetError. */
export const checkLabelHeader = (file: string, header: NpyHeader, fileSize: number): NpyLabelInfo => {
  const d = header.descr;
  const dtype = d === "<i8"
    ? "int64"
    : d === "<i4"
    ? "int32"
    : d === "|u1" || d === "<u1" || d === "u1"
    ? "uint8"
    : undefined;
  if (dtype === undefined) throw dtypeProblem(file, d, "int64 (<i8), int32 (<i4) or uint8 (|u1)", "np.int64");
  const s = header.shape;
  if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
    throw new DatasetError({
      file,
      detail: `has shape (${s.join(", ")}); labels need shape [N] (one class index per image)`,
      fix: "Save class indices, not one-hot vectors: np.save(file, y.argmax(1)) for one-hot labels.",
    });
  }
  const itemSize = dtype === "int64" ? 8 : dtype === "int32" ? 4 : 1;
  checkSize(file, header, fileSize, s[0] * itemSize);
  return { file, header, count: s[0], dtype, itemSize };
};

/**
 * Decode images `first … first + count − 1` of an image array to NHWC. `data`
 * holds exactly those rows' bytes. Float values must lie in [0, 1] (NaN does not);
 * the first one outside is reported with its image, element and byte offset.
 */
export const decodeImageRows = (
  info: NpyImageInfo,
  data: Uint8Array,
  first: number,
  count: number,
): Uint8Array | Float32Array => {
  const [h, w, c] = info.shape;
  const size = h * w * c;
  let raw: Uint8Array | Float32Array;
  // explicit copies: `data` may be a Node Buffer, whose slice() is a view of a larger buffer
  if (info.dtype === "uint8") {
    raw = new Uint8Array(count * size);
    raw.set(data.subarray(0, count * size));
  } else {
    raw = new Float32Array(count * size);
    new Uint8Array(raw.buffer).set(data.subarray(0, count * size * 4));
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i];
      if (!(v >= 0 && v <= 1)) {
        const image = first + Math.floor(i / size);
        throw new DatasetError({
          file: info.file,
          detail: `float32 value ${v} of image ${image} (element ${i % size} of it, byte offset ${
            info.header.dataOffset + (first * size + i) * 4
          }) is outside [0, 1]`,
          fix: "Store float images scaled to [0, 1] (x / 255 for 0–255 data), or store them as uint8.",
        });
      }
    }
  }
  if (info.layout === "NHWC" || c === 1) return raw;
  // NCHW → NHWC
  const out = raw instanceof Uint8Array ? new Uint8Array(raw.length) : new Float32Array(raw.length);
  const plane = h * w;
  for (let n = 0; n < count; n++) {
    const base = n * size;
    for (let ch = 0; ch < c; ch++) {
      const src = base + ch * plane;
      for (let p = 0; p < plane; p++) out[base + p * c + ch] = raw[src + p];
    }
  }
  return out;
};

/** Decode labels `first … first + count − 1` (`data` holds exactly their bytes) to int32; rejects values out of range. */
export const decodeLabelRows = (info: NpyLabelInfo, data: Uint8Array, first: number, count: number): Int32Array => {
  const out = new Int32Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < count; i++) {
    const v = info.dtype === "int64"
      ? Number(view.getBigInt64(i * 8, true))
      : info.dtype === "int32"
      ? view.getInt32(i * 4, true)
      : data[i];
    if (v < 0 || v > 0x7fffffff) {
      throw new DatasetError({
        file: info.file,
        detail: `label ${v} at index ${first + i} (byte offset ${
          info.header.dataOffset + (first + i) * info.itemSize
        }) is not a class index`,
        fix: "Class labels must be integers 0, 1, …, K−1; remap them.",
      });
    }
    out[i] = v;
  }
  return out;
};

/** Wrap a throwing decoder: DatasetErrors pass through, anything else names the file. */
export const tryDecode = <A>(file: string, f: () => A): Effect.Effect<A, DatasetError> =>
  Effect.try({
    try: f,
    catch: (e) =>
      e instanceof DatasetError
        ? e
        : new DatasetError({ file, detail: `cannot be decoded (${String(e)})`, fix: "Check the file." }),
  });

const MISSING_FIX =
  "Check `dataset.options.trainImages` / `trainLabels` / `testImages` / `testLabels` (relative paths are resolved against the current directory).";

/** Read and decode one split (whole files), keeping the first `limit` examples. */
export const readNpySplit = (imagesFile: string, labelsFile: string, layout: Layout, limit?: number) =>
  Effect.gen(function* () {
    const imageBytes = yield* readDatasetFile(imagesFile, MISSING_FIX);
    const images = yield* tryDecode(
      imagesFile,
      () => checkImageHeader(imagesFile, npyHeaderOf(imagesFile, imageBytes), imageBytes.length, layout),
    );
    const labelBytes = yield* readDatasetFile(labelsFile, MISSING_FIX);
    const labels = yield* tryDecode(
      labelsFile,
      () => checkLabelHeader(labelsFile, npyHeaderOf(labelsFile, labelBytes), labelBytes.length),
    );
    if (labels.count !== images.count) {
      return yield* new DatasetError({
        file: labelsFile,
        detail: `holds ${labels.count} labels but ${imagesFile} holds ${images.count} images`,
        fix: "Use an image file and a label file of the same split (one label per image, in the same order).",
      });
    }
    const count = limit === undefined ? images.count : Math.min(limit, images.count);
    const imageData = yield* tryDecode(
      imagesFile,
      () =>
        decodeImageRows(
          images,
          imageBytes.subarray(images.header.dataOffset, images.header.dataOffset + count * images.rowBytes),
          0,
          count,
        ),
    );
    const labelData = yield* tryDecode(
      labelsFile,
      () =>
        decodeLabelRows(
          labels,
          labelBytes.subarray(labels.header.dataOffset, labels.header.dataOffset + count * labels.itemSize),
          0,
          count,
        ),
    );
    const split: Split = { images: imageData, labels: labelData, count };
    return { split, shape: images.shape };
  });

/** The options of the npy dataset plugin. */
export const NpyOptions = Schema.Struct({
  ...splitFileFields("npy"),
  layout: Schema.optionalWith(
    Schema.Literal("NHWC", "NCHW").annotations({
      description: "Axis order of 4-D image arrays (3-D arrays are [N, H, W], one channel).",
    }),
    { default: () => "NHWC" as const },
  ),
  numClasses: Schema.optional(
    Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)).annotations({
      description: "Number of classes when there are no `classNames`; when both are absent, the largest label + 1.",
    }),
  ),
});

/** The npy dataset plugin. */
export default defineDataset({
  name: "npy",
  description: "NumPy .npy image and label arrays per split (uint8 or float32 [0,1] images, NHWC or NCHW)",
  options: NpyOptions,
  make: (o) =>
    Effect.succeed({
      load: Effect.gen(function* () {
        const path = yield* Path.Path;
        const { trainImages, trainLabels, testImages, testLabels } = resolveSplitFiles((f) => path.resolve(f), o);
        const train = yield* readNpySplit(trainImages, trainLabels, o.layout, o.trainLimit);
        const test = yield* readNpySplit(testImages, testLabels, o.layout, o.testLimit);
        return yield* datasetOfFiles(
          o,
          { trainImages, trainLabels, testImages, testLabels },
          train,
          test,
          "Use train and test files of the same dataset and layout.",
        );
      }),
    }),
});
