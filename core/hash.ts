/**
 * Content hashes: of JSON values (keys sorted, so equal values hash equally) and of
 * the data a dataset split holds. Trial keys, pre-trained model cache keys and the
 * data fingerprint of a run directory are built from them.
 * @module
 */
import { createHash } from "node:crypto";
import type { Dataset, Split } from "./dataset.ts";
import type { Snapshot } from "./model.ts";

/** Stable JSON: object keys sorted, so equal values hash equally. */
export const stableJson = (value: unknown): string =>
  JSON.stringify(
    value,
    (_k, v) =>
      v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)
        ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
        : v,
  );

/** Hex SHA-256 of the stable JSON of `value`, cut to `length` characters. */
export const contentHash = (value: unknown, length = 16): string =>
  createHash("sha256").update(stableJson(value)).digest("hex").slice(0, length);

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const splitHashes = new WeakMap<Split, string>();

/**
 * Hex SHA-256 of what a split holds: its pixel values (with their type), labels and
 * groups. Memoised per split object, so shifts that share a source split hash it once.
 * Reading a lazy split's images computes all of them.
 */
export const splitHash = (split: Split): string => {
  const known = splitHashes.get(split);
  if (known) return known;
  const h = createHash("sha256");
  h.update(`${split.images instanceof Float32Array ? "float32" : "uint8"}:${split.count}:`);
  h.update(bytesOf(split.images));
  h.update(bytesOf(split.labels));
  h.update(split.groups ? bytesOf(split.groups) : new Uint8Array(0));
  const hex = h.digest("hex");
  splitHashes.set(split, hex);
  return hex;
};

/** Content hash of a dataset: image shape, class names, and what its train and test splits hold. */
export const datasetHash = (d: Pick<Dataset, "shape" | "classNames" | "train" | "test">): string =>
  contentHash({ shape: d.shape, classNames: d.classNames, train: splitHash(d.train), test: splitHash(d.test) });

/** Hex SHA-256 (16 characters) of a snapshot's variable names, shapes and values. */
export const snapshotHash = (weights: Snapshot): string => {
  const h = createHash("sha256");
  for (const [name, w] of [...weights].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(`${name}:${w.shape.join("x")}:`);
    h.update(bytesOf(w.data));
  }
  return h.digest("hex").slice(0, 16);
};
