/**
 * `image-folder`: a directory of images sorted into one sub-directory per class,
 * `root/<class>/*.png|jpg|jpeg` (extensions in any case; other files and hidden
 * entries are ignored). Class names are the sub-directory names, sorted by code
 * unit (as Python's `sorted()`); labels are their indices.
 *
 * Test split: a separate `testRoot` with the same layout (its classes must be
 * classes of `root`), or a seeded, per-class split of `root` (`testFraction`,
 * default 0.2, `seed` default 0): each class with n images gives
 * round(n · testFraction) to the test split, keeping at least one in training.
 *
 * Decoding: PNG with `fast-png` (gray, gray+alpha, RGB, RGBA, palette; 1–16 bit),
 * JPEG with `jpeg-js`. Alpha is dropped (as PIL's `convert("RGB")`). Channels:
 * `channels` 1 or 3; default 3 when any image has a pixel with R ≠ G or G ≠ B, else
 * 1. Colour → gray uses ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), gray → colour
 * repeats the value. Size: `size: [H, W]`, default the size of the first image (first
 * class, first file name); each axis is resampled separately — area averaging where it shrinks,
 * bilinear (half-pixel centres, edge clamped) where it grows, a copy where it is
 * unchanged. Output: uint8 NHWC.
 * @module
 */
import { Effect, Schema } from "effect";
import { FileSystem, Path } from "@effect/platform";
import { convertIndexedToRgb, decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { defineDataset } from "../../core/plugin.ts";
import type { Dataset, Split } from "../../core/dataset.ts";
import { DatasetError } from "../../core/errors.ts";
import { rngFor } from "../../core/random.ts";

/** A decoded 8-bit image, interleaved `channels` (1 or 3) values per pixel. */
export interface Bitmap {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly data: Uint8Array;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** Scale a sample of `depth` bits to 0–255. */
const to8 = (
  v: number,
  depth: number,
) => (depth === 8 ? v : depth === 16 ? v >> 8 : Math.round((v * 255) / ((1 << depth) - 1)));

/** Decode PNG bytes to 8-bit gray or RGB (alpha dropped, palette expanded, 1–16 bit depths scaled). */
export const decodePngBitmap = (bytes: Uint8Array): Bitmap => {
  const png = decodePng(bytes);
  const { width, height } = png;
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const ch = png.palette[0]?.length ?? 3;
    const data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = rgb[p * ch + c];
    return { width, height, channels: 3, data };
  }
  const src = png.channels;
  if (src < 1 || src > 4) throw new Error(`unsupported PNG with ${src} channels`);
  const out = src >= 3 ? 3 : 1;
  const data = new Uint8Array(width * height * out);
  const depth = png.depth;
  if (depth < 8) {
    // sub-byte samples are packed, each row padded to a whole byte
    const rowBytes = Math.ceil((width * src * depth) / 8);
    const mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * src * depth;
        const byte = png.data[y * rowBytes + (bit >> 3)];
        const v = (byte >> (8 - depth - (bit & 7))) & mask;
        data[y * width + x] = to8(v, depth);
      }
    }
    return { width, height, channels: 1, data };
  }
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < out; c++) data[p * out + c] = to8(png.data[p * src + c], depth);
  }
  return { width, height, channels: out, data };
};

/** Decode JPEG bytes (jpeg-js) to 8-bit RGB; a grayscale JPEG comes out with R = G = B. */
export const decodeJpegBitmap = (bytes: Uint8Array): Bitmap => {
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
  if (!(img.width > 0 && img.height > 0)) throw new Error("no image data");
  return { width: img.width, height: img.height, channels: 3, data: img.data };
};

/** True when some pixel of an RGB bitmap has R ≠ G or G ≠ B. */
export const isColour = (b: Bitmap): boolean => {
  if (b.channels === 1) return false;
  for (let i = 0; i < b.data.length; i += 3) {
    if (b.data[i] !== b.data[i + 1] || b.data[i + 1] !== b.data[i + 2]) return true;
  }
  return false;
};

/**
 * 1-D resampling weights from `n` samples to `m`: for each output index the input
 * indices and weights (summing to 1). Area averaging when m < n, bilinear with
 * half-pixel centres when m > n, identity when m = n.
 */
export const resampleWeights = (n: number, m: number): ReadonlyArray<{ idx: number[]; w: number[] }> => {
  const out: { idx: number[]; w: number[] }[] = [];
  const s = n / m;
  for (let j = 0; j < m; j++) {
    if (m === n) {
      out.push({ idx: [j], w: [1] });
    } else if (m < n) {
      const lo = j * s;
      const hi = (j + 1) * s;
      const idx: number[] = [];
      const w: number[] = [];
      for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        if (overlap > 1e-12) {
          idx.push(i);
          w.push(overlap / s);
        }
      }
      out.push({ idx, w });
    } else {
      const x = Math.min(n - 1, Math.max(0, (j + 0.5) * s - 0.5));
      const i0 = Math.floor(x);
      const i1 = Math.min(n - 1, i0 + 1);
      const f = x - i0;
      out.push(f === 0 || i1 === i0 ? { idx: [i0], w: [1] } : { idx: [i0, i1], w: [1 - f, f] });
    }
  }
  return out;
};

/** Resize a bitmap to `height`×`width` (see `resampleWeights`), rounding to uint8. */
export const resize = (b: Bitmap, height: number, width: number): Bitmap => {
  if (b.height === height && b.width === width) return b;
  const c = b.channels;
  const wx = resampleWeights(b.width, width);
  const wy = resampleWeights(b.height, height);
  // horizontal pass into float rows, then vertical
  const tmp = new Float32Array(b.height * width * c);
  for (let y = 0; y < b.height; y++) {
    for (let x = 0; x < width; x++) {
      const { idx, w } = wx[x];
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < idx.length; k++) acc += w[k] * b.data[(y * b.width + idx[k]) * c + ch];
        tmp[(y * width + x) * c + ch] = acc;
      }
    }
  }
  const data = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) {
    const { idx, w } = wy[y];
    for (let i = 0; i < width * c; i++) {
      let acc = 0;
      for (let k = 0; k < idx.length; k++) acc += w[k] * tmp[idx[k] * width * c + i];
      data[y * width * c + i] = Math.min(255, Math.max(0, Math.round(acc)));
    }
  }
  return { width, height, channels: c, data };
};

/** Write a bitmap into `out` at `offset` with `channels` channels (luma for colour → gray, repeat for gray → colour). */
const writeChannels = (b: Bitmap, channels: 1 | 3, out: Uint8Array, offset: number): void => {
  const pixels = b.width * b.height;
  if (b.channels === channels) {
    out.set(b.data, offset);
  } else if (channels === 3) {
    for (let p = 0; p < pixels; p++) out.fill(b.data[p], offset + p * 3, offset + p * 3 + 3);
  } else {
    for (let p = 0; p < pixels; p++) {
      const r = b.data[p * 3], g = b.data[p * 3 + 1], bl = b.data[p * 3 + 2];
      out[offset + p] = Math.round((r * 299 + g * 587 + bl * 114) / 1000);
    }
  }
};

interface Entry {
  readonly file: string;
  readonly label: number;
}

const FIX_FOLDER = "Lay the images out as `root/<class name>/<image>.png|jpg|jpeg`, one sub-directory per class.";

/** The class sub-directories of `root` (sorted) and their image files (sorted). */
const scanRoot = (root: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const path = yield* Path.Path;
    const names = yield* fs.readDirectory(root).pipe(
      Effect.mapError((e) =>
        new DatasetError({
          file: root,
          detail: e._tag === "SystemError" && e.reason === "NotFound"
            ? "does not exist"
            : `cannot be listed (${e.message})`,
          fix: "Check `dataset.options.root` / `testRoot` (relative paths are resolved against the current directory).",
        })
      ),
    );
    const classes: { name: string; files: string[] }[] = [];
    for (const name of [...names].sort()) {
      if (name.startsWith(".")) continue;
      const dir = path.join(root, name);
      const info = yield* fs.stat(dir).pipe(Effect.orElseSucceed(() => undefined));
      if (!info || info.type !== "Directory") continue;
      const entries = yield* fs.readDirectory(dir).pipe(
        Effect.mapError((e) =>
          new DatasetError({ file: dir, detail: `cannot be listed (${e.message})`, fix: FIX_FOLDER })
        ),
      );
      const files = [...entries].filter((f) => !f.startsWith(".") && IMAGE_EXT.test(f)).sort().map((f) =>
        path.join(dir, f)
      );
      if (files.length === 0) {
        return yield* new DatasetError({
          file: dir,
          detail: "is a class directory without any .png, .jpg or .jpeg image",
          fix: "Add images to it or remove the directory.",
        });
      }
      classes.push({ name, files });
    }
    if (classes.length === 0) {
      return yield* new DatasetError({ file: root, detail: "has no class sub-directories", fix: FIX_FOLDER });
    }
    return classes;
  });

/** Read and decode one image file; a corrupt or unreadable image becomes a DatasetError naming it. */
export const readBitmap = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem;
    const bytes = yield* fs.readFile(file).pipe(
      Effect.mapError((e) =>
        new DatasetError({ file, detail: `cannot be read (${e.message})`, fix: "Check the file." })
      ),
    );
    return yield* Effect.try({
      try: () => (/\.png$/i.test(file) ? decodePngBitmap(bytes) : decodeJpegBitmap(bytes)),
      catch: (e) =>
        new DatasetError({
          file,
          detail: `is not a valid ${/\.png$/i.test(file) ? "PNG" : "JPEG"} image (${
            e instanceof Error ? e.message : String(e)
          })`,
          fix: "Replace or delete the file (re-export it as PNG or baseline JPEG).",
        }),
    });
  });

/** The options of the image-folder dataset plugin. */
export const ImageFolderOptions = Schema.Struct({
  name: Schema.optionalWith(
    Schema.String.annotations({
      description: "Dataset name (shown in logs; shifts such as subpopulation `auto` look at it).",
    }),
    { default: () => "image-folder" },
  ),
  root: Schema.String.annotations({
    description: "Directory with one sub-directory of images per class (a relative path is resolved against the " +
      "current directory).",
  }),
  testRoot: Schema.optional(Schema.String.annotations({
    description: "Separate test directory of the same layout; without it, `testFraction` of `root` is the test split.",
  })),
  testFraction: Schema.optional(
    Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(1)).annotations({
      description:
        "Fraction of each class of `root` held out for testing when there is no `testRoot`; 0.2 when absent.",
    }),
  ),
  seed: Schema.optionalWith(
    Schema.Int.annotations({ description: "Seed of the random per-class train/test split of `root`." }),
    { default: () => 0 },
  ),
  channels: Schema.optional(
    Schema.Literal(1, 3).annotations({
      description: "Output channels, 1 (gray) or 3 (RGB); when absent 3 if any image is in colour, else 1.",
    }),
  ),
  size: Schema.optional(
    Schema.Tuple(Schema.Int.pipe(Schema.positive()), Schema.Int.pipe(Schema.positive())).annotations({
      description: "Output size [H, W] in pixels; when absent, the size of the first image of the first class.",
    }),
  ),
});

/** The image-folder dataset plugin. */
export default defineDataset({
  name: "image-folder",
  description: "PNG/JPEG images in root/<class>/ directories, resized to one size; test split from testRoot or seeded",
  options: ImageFolderOptions,
  make: (o) =>
    Effect.succeed({
      load: Effect.gen(function* () {
        const path = yield* Path.Path;
        const root = path.resolve(o.root);
        if (o.testRoot !== undefined && o.testFraction !== undefined) {
          return yield* new DatasetError({
            file: root,
            detail: "the options give both testRoot and testFraction",
            fix: "Give testRoot (a separate test directory) or testFraction (a split of root), not both.",
          });
        }
        const classes = yield* scanRoot(root);
        const classNames = classes.map((c) => c.name);
        // each split is ordered by class, then file name
        const train: Entry[] = [];
        const test: Entry[] = [];
        if (o.testRoot !== undefined) {
          const testRoot = path.resolve(o.testRoot);
          train.push(...classes.flatMap((c, label) => c.files.map((file) => ({ file, label }))));
          for (const c of yield* scanRoot(testRoot)) {
            const label = classNames.indexOf(c.name);
            if (label < 0) {
              return yield* new DatasetError({
                file: path.join(testRoot, c.name),
                detail: `is a test class that ${root} does not have (its classes: ${classNames.join(", ")})`,
                fix: "Use the same class directory names in root and testRoot.",
              });
            }
            test.push(...c.files.map((file) => ({ file, label })));
          }
        } else {
          const fraction = o.testFraction ?? 0.2;
          const rng = rngFor(o.seed, ["image-folder", "test-split"]);
          classes.forEach((c, label) => {
            const order = rng.permutation(c.files.length);
            const nTest = c.files.length < 2 ? 0 : Math.min(c.files.length - 1, Math.round(c.files.length * fraction));
            // keep each side in file order
            const isTest = new Uint8Array(c.files.length);
            for (let k = 0; k < nTest; k++) isTest[order[k]] = 1;
            c.files.forEach((file, i) => (isTest[i] ? test : train).push({ file, label }));
          });
        }
        // decode everything once (resized on the way), then fix the channel count
        const decodeAll = (entries: ReadonlyArray<Entry>, size: readonly [number, number] | undefined) =>
          Effect.forEach(
            entries,
            (e) => Effect.map(readBitmap(e.file), (b) => (size ? resize(b, size[0], size[1]) : b)),
          );
        // default size: the first image of the first class of root (in file-name order)
        const first = o.size ? undefined : yield* readBitmap(classes[0].files[0]);
        const size: readonly [number, number] | undefined = o.size ?? (first ? [first.height, first.width] : undefined);
        const trainMaps = yield* decodeAll(train, size);
        const testMaps = yield* decodeAll(test, size);
        const [h, w] = size ?? [1, 1];
        const channels: 1 | 3 = o.channels ?? ([...trainMaps, ...testMaps].some(isColour) ? 3 : 1);
        const toSplit = (entries: ReadonlyArray<Entry>, maps: ReadonlyArray<Bitmap>): Split => {
          const per = h * w * channels;
          const images = new Uint8Array(entries.length * per);
          maps.forEach((b, i) => writeChannels(b, channels, images, i * per));
          return { images, labels: Int32Array.from(entries, (e) => e.label), count: entries.length };
        };
        const dataset: Dataset = {
          name: o.name,
          shape: [h, w, channels],
          classNames,
          train: toSplit(train, trainMaps),
          test: toSplit(test, testMaps),
        };
        return dataset;
      }),
    }),
});
