/**
 * Weights as a directory of NumPy files, for exchange with other frameworks (the
 * PyTorch twins in bench/torch_twins.py read and write it): `index.json` lists every
 * variable — its scalpel name, file, shape and layout — and each variable is one
 * float32 `.npy` file in scalpel's layout:
 *
 * | layout | rank | meaning                                   | PyTorch's layout                   |
 * |--------|------|-------------------------------------------|------------------------------------|
 * | `HWIO` | 4    | conv kernel [height, width, in, out]      | `OIHW` (Conv2d.weight)             |
 * | `IO`   | 2    | dense kernel [in, out]                    | `OI` (Linear.weight)               |
 * | `C`    | 1    | bias, batch-norm γ, β, running mean, var  | the same                           |
 *
 * A dense layer fed by a flattened feature map takes its rows in NHWC order (height,
 * width, channel), as scalpel flattens.
 * @module
 */
import { Schema } from "effect";
import type { Snapshot } from "../model.ts";
import { decodeNpy, encodeNpy } from "./npy.ts";

/** The format tag of index.json. */
export const NPY_WEIGHTS_FORMAT = "scalpel-npy-weights/1";

/** The index file's name. */
export const NPY_WEIGHTS_INDEX = "index.json";

/** A variable's layout, from its rank. */
export type Layout = "HWIO" | "IO" | "C";

const LAYOUTS: Record<number, Layout> = { 4: "HWIO", 2: "IO", 1: "C" };

/** index.json. */
export const NpyWeightsIndexSchema = Schema.Struct({
  format: Schema.Literal(NPY_WEIGHTS_FORMAT),
  /** Where the weights came from (free text, for people). */
  source: Schema.optional(Schema.String),
  variables: Schema.Array(Schema.Struct({
    name: Schema.String,
    file: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]+\.npy$/)),
    shape: Schema.Array(Schema.Int.pipe(Schema.nonNegative())),
    layout: Schema.Literal("HWIO", "IO", "C"),
  })),
});

/** The contents of index.json. */
export type NpyWeightsIndex = typeof NpyWeightsIndexSchema.Type;

/** The file name of variable `name`: `block1/conv/kernel` → `block1__conv__kernel.npy`. */
export const npyFileOf = (name: string): string => `${name.replace(/[^A-Za-z0-9_.-]/g, "__")}.npy`;

/** A snapshot as index.json and one .npy file per variable; throws for a variable of rank 0, 3 or above 4. */
export const encodeNpyWeights = (
  weights: Snapshot,
  source?: string,
): { readonly index: NpyWeightsIndex; readonly files: ReadonlyMap<string, Uint8Array> } => {
  const files = new Map<string, Uint8Array>();
  const variables = [...weights].map(([name, w]) => {
    const layout = LAYOUTS[w.shape.length];
    if (layout === undefined) {
      throw new Error(`${name} has rank ${w.shape.length}; the npy weights format takes 1, 2, 4`);
    }
    const file = npyFileOf(name);
    if (files.has(file)) throw new Error(`two variables map to the file ${file}`);
    files.set(file, encodeNpy(w.data, w.shape));
    return { name, file, shape: [...w.shape], layout };
  });
  return { index: { format: NPY_WEIGHTS_FORMAT, ...(source ? { source } : {}), variables }, files };
};

/**
 * A snapshot from index.json and its files (`read(file)` gives a file's bytes); throws
 * naming the variable when a file's shape differs from the index.
 */
export const decodeNpyWeights = (index: NpyWeightsIndex, read: (file: string) => Uint8Array): Snapshot => {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const v of index.variables) {
    const array = decodeNpy(read(v.file));
    if (array.shape.join(",") !== v.shape.join(",")) {
      throw new Error(`${v.file} holds shape [${array.shape}] but index.json says [${v.shape}] for ${v.name}`);
    }
    if (LAYOUTS[v.shape.length] !== v.layout) throw new Error(`${v.name}: layout ${v.layout} does not fit its rank`);
    out.set(v.name, { shape: [...v.shape], data: array.data });
  }
  return out;
};
