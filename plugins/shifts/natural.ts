/**
 * `natural`: the target domain comes from files instead of being generated — a
 * directory in the layout of Hendrycks & Dietterich's CIFAR-10-C / CIFAR-100-C:
 *
 * - `<corruption>.npy`: 5 · R images (R = `rowsPerSeverity`, 10,000 in the
 *   release), uint8 (or float32 in [0, 1]) `[5R, H, W, C]` (or `[5R, H, W]`),
 *   severity 1 first: severity s is rows (s − 1) · R … s · R − 1;
 * - `labels.npy`: the 5 · R labels (int64, int32 or uint8).
 *
 * Only the rows of the chosen severity are read. They are split with the shift's
 * seeded stream into target train (1 − `testFraction`) and target test
 * (`testFraction`, default 0.5). The source domain is the base dataset unchanged
 * (sourceKey "clean"), which must have the files' image shape [H, W, C] and at
 * least as many classes as the largest label + 1 (checked when applied).
 * `corruption` and `severity` may be lists (one shift per corruption × severity).
 * @module
 */
import { Effect, Option, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { defineShift } from "../../core/plugin.ts";
import type { Dataset, Split } from "../../core/dataset.ts";
import { DatasetError } from "../../core/errors.ts";
import { NPY_PREFIX_BYTES } from "../../core/io/npy.ts";
import {
  checkImageHeader,
  checkLabelHeader,
  decodeImageRows,
  decodeLabelRows,
  npyHeaderOf,
  tryDecode,
} from "../datasets/npy.ts";

/** Rows of one severity read from the files. */
export interface NaturalRows {
  readonly images: Uint8Array | Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number];
  readonly imagesFile: string;
  readonly labelsFile: string;
}

const FIX_DIR =
  "Point `options.dir` at a CIFAR-10-C style directory: <corruption>.npy (5 × rowsPerSeverity images, severity 1 first) and labels.npy.";

const notReadable =
  (file: string) => (e: { readonly _tag: string; readonly message: string; readonly reason?: string }) =>
    new DatasetError({
      file,
      detail: e._tag === "SystemError" && e.reason === "NotFound" ? "does not exist" : `cannot be read (${e.message})`,
      fix: FIX_DIR,
    });

/** Read `length` bytes at `offset` of an open file (fails when the file ends first). */
const readAt = (file: FileSystem.File, name: string, offset: number, length: number) =>
  Effect.gen(function* () {
    yield* file.seek(offset, "start");
    const got = yield* file.readAlloc(length).pipe(Effect.mapError(notReadable(name)));
    const bytes = Option.getOrElse(got, () => new Uint8Array(0));
    if (bytes.length !== length) {
      return yield* new DatasetError({
        file: name,
        detail: `truncated: ${length} bytes needed at byte offset ${offset}, only ${bytes.length} there`,
        fix: "Copy or download the file again; it was cut short.",
      });
    }
    return bytes;
  });

/** Open a .npy file and read its header (and the file size) without reading the data. */
const openNpy = (name: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const file = yield* fs.open(name, { flag: "r" }).pipe(Effect.mapError(notReadable(name)));
    const info = yield* file.stat.pipe(Effect.mapError(notReadable(name)));
    const size = Number(info.size);
    const prefix = yield* readAt(file, name, 0, Math.min(size, NPY_PREFIX_BYTES));
    // the header's length field is at bytes 8–9 (v1) or 8–11 (v2/3); read that much, then parse
    let headerEnd = prefix.length;
    if (prefix.length >= 10) {
      const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
      headerEnd = prefix[6] === 1
        ? 10 + view.getUint16(8, true)
        : prefix.length >= 12
        ? 12 + view.getUint32(8, true)
        : prefix.length;
    }
    const headerBytes = yield* readAt(file, name, 0, Math.min(size, headerEnd));
    const header = yield* tryDecode(name, () => npyHeaderOf(name, headerBytes));
    return { file, size, header };
  });

/**
 * Read the rows of `severity` from a CIFAR-10-C style directory: images and labels
 * `(severity − 1) · rowsPerSeverity … severity · rowsPerSeverity − 1`. Checks the
 * headers, that both files hold exactly 5 · rowsPerSeverity rows, the dtypes and
 * the sizes (reading only the header and the slice of each file).
 */
export const readNaturalRows = (dir: string, corruption: string, severity: number, rowsPerSeverity: number) =>
  Effect.scoped(Effect.gen(function* () {
    const path = yield* Path.Path;
    const imagesFile = path.join(path.resolve(dir), `${corruption}.npy`);
    const labelsFile = path.join(path.resolve(dir), "labels.npy");
    const img = yield* openNpy(imagesFile);
    const images = yield* tryDecode(imagesFile, () => checkImageHeader(imagesFile, img.header, img.size, "NHWC"));
    const lab = yield* openNpy(labelsFile);
    const labels = yield* tryDecode(labelsFile, () => checkLabelHeader(labelsFile, lab.header, lab.size));
    const expected = 5 * rowsPerSeverity;
    if (images.count !== expected) {
      return yield* new DatasetError({
        file: imagesFile,
        detail: `holds ${images.count} images, but 5 severities × rowsPerSeverity ${rowsPerSeverity} = ${expected}`,
        fix: images.count % 5 === 0
          ? `Set \`rowsPerSeverity: ${images.count / 5}\` in the shift's options, or use the complete file.`
          : "Use a file with the same number of images for each of the 5 severities, severity 1 first.",
      });
    }
    if (labels.count !== images.count) {
      return yield* new DatasetError({
        file: labelsFile,
        detail: `holds ${labels.count} labels but ${imagesFile} holds ${images.count} images`,
        fix: "Use the labels.npy of the same release (one label per image).",
      });
    }
    const first = (severity - 1) * rowsPerSeverity;
    const imageBytes = yield* readAt(
      img.file,
      imagesFile,
      images.header.dataOffset + first * images.rowBytes,
      rowsPerSeverity * images.rowBytes,
    );
    const labelBytes = yield* readAt(
      lab.file,
      labelsFile,
      labels.header.dataOffset + first * labels.itemSize,
      rowsPerSeverity * labels.itemSize,
    );
    const rows: NaturalRows = {
      images: yield* tryDecode(imagesFile, () => decodeImageRows(images, imageBytes, first, rowsPerSeverity)),
      labels: yield* tryDecode(labelsFile, () => decodeLabelRows(labels, labelBytes, first, rowsPerSeverity)),
      count: rowsPerSeverity,
      shape: images.shape,
      imagesFile,
      labelsFile,
    };
    return rows;
  }));

/** Split `rows` by `order`: the first `nTest` indices of `order` go to test; each side keeps file order. */
const splitRows = (rows: NaturalRows, order: Int32Array, nTest: number): { train: Split; test: Split } => {
  const size = rows.shape[0] * rows.shape[1] * rows.shape[2];
  const isTest = new Uint8Array(rows.count);
  for (let k = 0; k < nTest; k++) isTest[order[k]] = 1;
  const make = (want: number, n: number): Split => {
    const images = rows.images instanceof Uint8Array ? new Uint8Array(n * size) : new Float32Array(n * size);
    const labels = new Int32Array(n);
    let j = 0;
    for (let i = 0; i < rows.count; i++) {
      if (isTest[i] !== want) continue;
      images.set(rows.images.subarray(i * size, (i + 1) * size), j * size);
      labels[j++] = rows.labels[i];
    }
    return { images, labels, count: n };
  };
  return { train: make(0, rows.count - nTest), test: make(1, nTest) };
};

const Severity = Schema.Int.pipe(Schema.between(1, 5));
const Corruption = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_.-]+$/, { message: () => "a file stem such as fog (letters, digits, _ . -)" }),
);
const list = <A>(x: A | ReadonlyArray<A>): ReadonlyArray<A> => (Array.isArray(x) ? x : [x as A]);

/** The options of the natural shift plugin. */
export const NaturalOptions = Schema.Struct({
  dir: Schema.String.annotations({
    description: "A CIFAR-10-C style directory of <corruption>.npy files and labels.npy (a relative path is resolved " +
      "against the current directory).",
  }),
  corruption: Schema.Union(Corruption, Schema.NonEmptyArray(Corruption)).annotations({
    description: "File stem of the images, e.g. `fog` for fog.npy, or a list of them (one shift each).",
  }),
  severity: Schema.optionalWith(
    Schema.Union(Severity, Schema.NonEmptyArray(Severity)).annotations({
      description: "Severity 1–5, or a list (one shift each): rows (severity − 1) · rowsPerSeverity to " +
        "severity · rowsPerSeverity − 1 of the files.",
    }),
    { default: () => 5 },
  ),
  testFraction: Schema.optionalWith(
    Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(1)).annotations({
      description: "Fraction of the severity's rows that become the target test split (a seeded choice).",
    }),
    { default: () => 0.5 },
  ),
  rowsPerSeverity: Schema.optionalWith(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Images per severity in the files (10,000 in CIFAR-10-C / CIFAR-100-C).",
    }),
    { default: () => 10000 },
  ),
});

/** The natural shift plugin. */
export default defineShift({
  name: "natural",
  description: "target domain read from CIFAR-10-C style files: <dir>/<corruption>.npy at a severity + labels.npy",
  options: NaturalOptions,
  grid: (o) =>
    list(o.corruption).flatMap((corruption) => list(o.severity).map((severity) => ({ ...o, corruption, severity }))),
  make: (o) =>
    Effect.gen(function* () {
      const [corruption] = list(o.corruption);
      const [severity] = list(o.severity);
      const rows = yield* readNaturalRows(o.dir, corruption, severity, o.rowsPerSeverity);
      return {
        label: `natural-${corruption}-${severity}`,
        sourceKey: "clean",
        apply: (base: Dataset, rng) => {
          if (rows.shape.some((d, i) => d !== base.shape[i])) {
            throw new Error(
              `${rows.imagesFile} holds ${rows.shape.join("×")} images (H×W×C) but dataset ${base.name} has ${
                base.shape.join("×")
              }; use the corrupted files of the same dataset as \`dataset\` (e.g. CIFAR-10-C with CIFAR-10)`,
            );
          }
          const k = base.classNames.length;
          const bad = rows.labels.findIndex((y) => y >= k);
          if (bad >= 0) {
            throw new Error(
              `${rows.labelsFile}: label ${rows.labels[bad]} at row ${
                (severity - 1) * o.rowsPerSeverity + bad
              } is outside the ${k} classes of dataset ${base.name}; use the labels of the same dataset`,
            );
          }
          const nTest = Math.round(rows.count * o.testFraction);
          const { train, test } = splitRows(rows, rng(["split"]).permutation(rows.count), nTest);
          return {
            source: base,
            target: { ...base, name: `${base.name}/${corruption}-${severity}`, train, test },
          };
        },
      };
    }),
});
