/**
 * NumPy `.npy` files (format version 1.0) holding little-endian float32 arrays in C
 * order: `encodeNpy` writes one, `decodeNpy` reads one back (for tests and tools).
 * Layout: magic `\x93NUMPY`, version bytes 1 0, header length (uint16 LE), then the
 * header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }` padded with
 * spaces and ended by `\n` so that magic + version + length + header is a multiple of
 * 64 bytes, then the raw data.
 * @module
 */

/** The 6-byte magic string that opens every .npy file. */
export const NPY_MAGIC: Uint8Array = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** Header blocks (magic through trailing newline) are padded to a multiple of this. */
export const NPY_ALIGNMENT = 64;

/** A decoded .npy array: float32 values and their shape. */
export interface NpyArray {
  readonly data: Float32Array;
  readonly shape: ReadonlyArray<number>;
}

/** A .npy file that cannot be read as a float32 v1.0/v2.0 C-order array. */
export class NpyFormatError extends Error {
  override name = "NpyFormatError";
}

const product = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1);

/** The Python tuple literal NumPy writes for a shape: `()`, `(3,)`, `(2, 3)`. */
export const shapeLiteral = (shape: ReadonlyArray<number>): string =>
  shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;

/** The padded v1.0 header text (dict, spaces, `\n`) for a float32 array of `shape`. */
export const npyHeader = (shape: ReadonlyArray<number>): string => {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const prefix = NPY_MAGIC.length + 2 + 2;
  const total = Math.ceil((prefix + dict.length + 1) / NPY_ALIGNMENT) * NPY_ALIGNMENT;
  return dict + " ".repeat(total - prefix - dict.length - 1) + "\n";
};

/**
 * Encode `data` (row-major, C order) with `shape` as a .npy v1.0 float32 file.
 * Throws a RangeError when the shape is not made of non-negative integers or does
 * not match `data.length`.
 */
export const encodeNpy = (data: Float32Array, shape: ReadonlyArray<number>): Uint8Array => {
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new RangeError(`encodeNpy: shape must be non-negative integers, got [${shape.join(", ")}]`);
  }
  if (product(shape) !== data.length) {
    throw new RangeError(`encodeNpy: shape [${shape.join(", ")}] needs ${product(shape)} values, got ${data.length}`);
  }
  const header = new TextEncoder().encode(npyHeader(shape));
  if (header.length > 0xffff) throw new RangeError("encodeNpy: header longer than 65535 bytes (too many dimensions)");
  const offset = NPY_MAGIC.length + 4 + header.length;
  const out = new Uint8Array(offset + data.length * 4);
  out.set(NPY_MAGIC, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  out.set(header, 10);
  for (let i = 0; i < data.length; i++) view.setFloat32(offset + i * 4, data[i], true);
  return out;
};

/**
 * Decode a .npy file holding a little-endian float32 C-order array (versions 1.0
 * and 2.0). Throws an NpyFormatError naming what is wrong otherwise.
 */
export const decodeNpy = (bytes: Uint8Array): NpyArray => {
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new NpyFormatError("not a .npy file (no \\x93NUMPY magic)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  let headerLength: number;
  let start: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    start = 10;
  } else if (major === 2) {
    if (bytes.length < 12) throw new NpyFormatError("truncated header");
    headerLength = view.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`unsupported format version ${major}.${bytes[7]}`);
  }
  if (start + headerLength > bytes.length) throw new NpyFormatError("truncated header");
  const header = new TextDecoder("latin1").decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== "<f4") throw new NpyFormatError(`dtype ${descr ?? "(missing)"} is not little-endian float32 ('<f4')`);
  if (!/'fortran_order':\s*False/.test(header)) throw new NpyFormatError("Fortran-order arrays are not supported");
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new NpyFormatError("header has no shape");
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) throw new NpyFormatError(`bad shape (${shapeText})`);
  const count = product(shape);
  const offset = start + headerLength;
  if (bytes.length - offset !== count * 4) {
    throw new NpyFormatError(`shape (${shapeText}) needs ${count * 4} data bytes, file has ${bytes.length - offset}`);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(offset + i * 4, true);
  return { data, shape };
};

/** The parsed header of a .npy file of any dtype (see `parseNpyHeader`). */
export interface NpyHeader {
  /** Format version (1, 2 or 3). */
  readonly major: number;
  /** The dtype string as written, e.g. `|u1`, `<f4`, `<i8`. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: ReadonlyArray<number>;
  /** Byte offset of the first data byte. */
  readonly dataOffset: number;
}

/** Bytes needed to know a .npy header's length: magic, version and the length field. */
export const NPY_PREFIX_BYTES = 12;

/**
 * Parse the header of a .npy file (versions 1.0, 2.0 and 3.0) whatever its dtype.
 * `bytes` needs to hold at least the header (the data may be absent: this reads
 * only the header). Throws an NpyFormatError on a missing magic string, an unknown
 * version, a truncated header, or a header without a readable `descr`,
 * `fortran_order` or `shape` (a structured dtype's list `descr` counts as unreadable
 * and is reported as such).
 */
export const parseNpyHeader = (bytes: Uint8Array): NpyHeader => {
  if (bytes.length < 8 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new NpyFormatError("not a .npy file (the first 6 bytes are not the \\x93NUMPY magic string)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  let headerLength: number;
  let start: number;
  if (major === 1) {
    if (bytes.length < 10) throw new NpyFormatError(`truncated header: ${bytes.length} bytes`);
    headerLength = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyFormatError(`truncated header: ${bytes.length} bytes`);
    headerLength = view.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`unsupported format version ${major}.${bytes[7]} at byte offset 6 (1.0, 2.0, 3.0 are)`);
  }
  if (start + headerLength > bytes.length) {
    throw new NpyFormatError(
      `truncated header: it announces ${headerLength} header bytes after byte offset ${start}, ` +
        `the file has ${bytes.length} bytes`,
    );
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLength),
  );
  if (/'descr':\s*\[/.test(header)) {
    throw new NpyFormatError("structured dtype (a record array with named fields) is not supported");
  }
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr === undefined) throw new NpyFormatError(`header has no 'descr' (dtype): ${header.trim()}`);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  if (fortran === undefined) throw new NpyFormatError(`header has no 'fortran_order': ${header.trim()}`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new NpyFormatError(`header has no 'shape': ${header.trim()}`);
  const shape = shapeText.split(",").map((s) => s.trim().replace(/L$/, "")).filter((s) => s !== "").map(Number);
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) throw new NpyFormatError(`bad shape (${shapeText})`);
  return { major, descr, fortranOrder: fortran === "True", shape, dataOffset: start + headerLength };
};

/** A typed array `encodeNpyTyped` can write (`BigInt64Array` as int64). */
export type NpyTypedArray = Uint8Array | Int8Array | Int32Array | Float32Array | Float64Array | BigInt64Array;

const descrOf = (data: NpyTypedArray): string =>
  data instanceof Uint8Array
    ? "|u1"
    : data instanceof Int8Array
    ? "|i1"
    : data instanceof Int32Array
    ? "<i4"
    : data instanceof Float32Array
    ? "<f4"
    : data instanceof Float64Array
    ? "<f8"
    : "<i8";

/**
 * Encode a typed array as a .npy v1.0 file of the matching little-endian dtype
 * (`|u1`, `|i1`, `<i4`, `<f4`, `<f8`, `<i8`). `data` is taken in the order it is
 * stored; `fortranOrder` only sets the header flag (tests use it to write Fortran
 * files), and `descr` overrides the dtype string written (tests write unsupported
 * or big-endian dtypes with it). Throws a RangeError when the shape does not match.
 */
export const encodeNpyTyped = (
  data: NpyTypedArray,
  shape: ReadonlyArray<number>,
  options: { readonly fortranOrder?: boolean; readonly descr?: string } = {},
): Uint8Array => {
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new RangeError(`encodeNpyTyped: shape must be non-negative integers, got [${shape.join(", ")}]`);
  }
  if (product(shape) !== data.length) {
    throw new RangeError(
      `encodeNpyTyped: shape [${shape.join(", ")}] needs ${product(shape)} values, got ${data.length}`,
    );
  }
  const dict = `{'descr': '${options.descr ?? descrOf(data)}', 'fortran_order': ${
    options.fortranOrder ? "True" : "False"
  }, 'shape': ${shapeLiteral(shape)}, }`;
  const prefix = NPY_MAGIC.length + 2 + 2;
  const total = Math.ceil((prefix + dict.length + 1) / NPY_ALIGNMENT) * NPY_ALIGNMENT;
  const header = new TextEncoder().encode(dict + " ".repeat(total - prefix - dict.length - 1) + "\n");
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(prefix + header.length + body.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(header, 10);
  // typed arrays are little-endian on every platform Deno runs on
  out.set(body, prefix + header.length);
  return out;
};
