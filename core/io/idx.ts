/**
 * A parser for the IDX format (the MNIST family of files): a 4-byte magic number
 * `0x00 0x00 <dtype> <ndims>`, `ndims` big-endian uint32 dimensions, then the data.
 * Only unsigned byte data (dtype 0x08) is accepted, which is what MNIST,
 * Fashion-MNIST, EMNIST and KMNIST use.
 * @module
 */

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  readonly dims: ReadonlyArray<number>;
  readonly data: Uint8Array;
}

/** Why an IDX buffer was rejected (the caller adds the file name). */
export class IdxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IdxFormatError";
  }
}

const DTYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "short",
  0x0c: "int",
  0x0d: "float",
  0x0e: "double",
};

/**
 * Parse an IDX buffer. `expectedDims` (the number of dimensions) is checked when given.
 * Throws IdxFormatError on a wrong magic number, unsupported dtype, or a length
 * that does not match the header (truncated or trailing bytes).
 */
export const parseIdx = (bytes: Uint8Array, expectedDims?: number): IdxArray => {
  if (bytes.length < 4) {
    throw new IdxFormatError(
      `only ${bytes.length} bytes, too short for an IDX header (4-byte magic number)`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new IdxFormatError(
      `magic number ${magic} is not an IDX header (expected 00 00 08 <ndims>)` +
        (bytes[0] === 0x1f && bytes[1] === 0x8b ? "; the file is gzip-compressed, gunzip it first" : ""),
    );
  }
  const dtype = bytes[2];
  const ndims = bytes[3];
  if (dtype !== 0x08) {
    throw new IdxFormatError(
      `data type 0x${dtype.toString(16)} (${
        DTYPE_NAMES[dtype] ?? "unknown"
      }) is not supported; only unsigned byte (0x08) images and labels are`,
    );
  }
  if (expectedDims !== undefined && ndims !== expectedDims) {
    throw new IdxFormatError(`has ${ndims} dimensions, expected ${expectedDims}`);
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw new IdxFormatError(
      `truncated header: ${bytes.length} bytes, the ${ndims} dimensions need ${headerLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length < expected) {
    throw new IdxFormatError(
      `truncated: header says ${dims.join("×")} (${expected} bytes in all) but the file has ${bytes.length} bytes`,
    );
  }
  if (bytes.length > expected) {
    throw new IdxFormatError(
      `${bytes.length - expected} unexpected bytes after the ${dims.join("×")} data the header announces`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
};

/** Encode an unsigned-byte IDX buffer (used by tests and fixtures). */
export const encodeIdx = (dims: ReadonlyArray<number>, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
};
