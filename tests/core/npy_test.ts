/**
 * The .npy writer and reader: header bytes against the NumPy format spec (v1.0),
 * round trips on random shapes, malformed files, and — when python3 with numpy is
 * installed — numpy.load / numpy.save interoperability.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { decodeNpy, encodeNpy, NPY_MAGIC, NpyFormatError, npyHeader } from "../../core/io/npy.ts";
import { tempDir } from "../helpers.ts";

const latin1 = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

/** Same values, with NaN equal to NaN (compares float32 bit patterns' meaning). */
const sameFloats = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `index ${i}: ${a[i]} vs ${b[i]}`);
};

Deno.test("npy: header laid out as the NumPy v1.0 spec says, byte by byte", async (t) => {
  const data = Float32Array.from({ length: 24 }, (_, i) => i / 8 - 1);
  const bytes = encodeNpy(data, [2, 3, 4]);
  await t.step("magic string \\x93NUMPY", () => {
    assert.deepEqual([...bytes.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
    assert.deepEqual([...bytes.subarray(0, 6)], [...NPY_MAGIC]);
  });
  await t.step("version 1.0", () => {
    assert.equal(bytes[6], 1);
    assert.equal(bytes[7], 0);
  });
  const headerLength = bytes[8] | (bytes[9] << 8); // little-endian uint16
  await t.step("header length is a little-endian uint16 and the total header is a multiple of 64", () => {
    assert.equal((10 + headerLength) % 64, 0);
    assert.equal(bytes.length, 10 + headerLength + 24 * 4);
  });
  await t.step("dict text, space padding, trailing newline", () => {
    const header = latin1(bytes.subarray(10, 10 + headerLength));
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
    assert.ok(header.startsWith(dict), header);
    assert.equal(header[header.length - 1], "\n");
    assert.match(header.slice(dict.length, -1), /^ *$/, "padding is spaces only");
    assert.ok(header.length - dict.length - 1 < 64, "no more padding than needed");
    assert.equal(header, npyHeader([2, 3, 4]));
  });
  await t.step("data: little-endian float32, C order", () => {
    const view = new DataView(bytes.buffer, 10 + headerLength);
    for (let i = 0; i < 24; i++) assert.equal(view.getFloat32(i * 4, true), data[i]);
  });
});

Deno.test("npy: shape literals follow Python tuple syntax", () => {
  assert.match(npyHeader([]), /'shape': \(\), \}/);
  assert.match(npyHeader([5]), /'shape': \(5,\), \}/);
  assert.match(npyHeader([0, 7]), /'shape': \(0, 7\), \}/);
  assert.match(npyHeader([5, 4, 28, 28, 1]), /'shape': \(5, 4, 28, 28, 1\), \}/);
});

Deno.test("npy: encode → decode round trip on random shapes and values (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 5 }).chain((shape) =>
        fc.tuple(
          fc.constant(shape),
          fc.float32Array({
            minLength: shape.reduce((a, b) => a * b, 1),
            maxLength: shape.reduce((a, b) => a * b, 1),
          }),
        )
      ),
      ([shape, data]) => {
        const bytes = encodeNpy(data, shape);
        assert.equal((10 + (bytes[8] | (bytes[9] << 8))) % 64, 0);
        const back = decodeNpy(bytes);
        assert.deepEqual([...back.shape], shape);
        sameFloats(back.data, data);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("npy: bad inputs are rejected with a reason", async (t) => {
  await t.step("shape that does not match the data", () => {
    assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), RangeError);
    assert.throws(() => encodeNpy(new Float32Array(6), [2, -3]), RangeError);
  });
  await t.step("not a .npy file", () => {
    assert.throws(() => decodeNpy(new TextEncoder().encode("hello, world")), NpyFormatError);
  });
  await t.step("another dtype", () => {
    const bytes = encodeNpy(new Float32Array(2), [2]);
    bytes.set(new TextEncoder().encode("<f8"), 10 + "{'descr': '".length);
    assert.throws(() => decodeNpy(bytes), /not little-endian float32/);
  });
  await t.step("truncated data", () => {
    const bytes = encodeNpy(new Float32Array(6), [2, 3]);
    assert.throws(() => decodeNpy(bytes.subarray(0, bytes.length - 1)), /needs 24 data bytes/);
  });
});

/** True when `python3 -c "import numpy"` succeeds here (false without python3, numpy or --allow-run). */
const hasNumpy = await (async () => {
  try {
    const r = await new Deno.Command("python3", { args: ["-c", "import numpy"], stdout: "null", stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
})();

const python = async (script: string, ...args: string[]) => {
  const r = await new Deno.Command("python3", { args: ["-c", script, ...args], stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  return new TextDecoder().decode(r.stdout);
};

Deno.test({
  name: "npy: numpy.load reads our files, and numpy.save writes the same header (needs python3 + numpy)",
  ignore: !hasNumpy,
  fn: async () => {
    const dir = await tempDir("npy");
    const cases: ReadonlyArray<ReadonlyArray<number>> = [[], [7], [2, 3, 4], [5, 4, 28, 28, 1], [0, 3]];
    const arrays = cases.map((shape, k) =>
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.fround(Math.sin(i * 0.37 + k) / 3))
    );
    for (const [k, shape] of cases.entries()) await Deno.writeFile(`${dir}/a${k}.npy`, encodeNpy(arrays[k], shape));
    // one python run: load each file, re-save it with numpy.save as b<k>.npy, report what numpy saw
    const out = JSON.parse(
      await python(
        "import sys, json, numpy as np\n" +
          "res = []\n" +
          "for k in range(int(sys.argv[2])):\n" +
          "    a = np.load(f'{sys.argv[1]}/a{k}.npy')\n" +
          "    np.save(f'{sys.argv[1]}/b{k}.npy', a)\n" +
          "    res.append({'shape': list(a.shape), 'dtype': str(a.dtype), 'values': a.ravel().tolist()})\n" +
          "print(json.dumps(res))",
        dir,
        String(cases.length),
      ),
    ) as Array<{ shape: number[]; dtype: string; values: number[] }>;
    for (const [k, shape] of cases.entries()) {
      assert.deepEqual(out[k].shape, shape);
      assert.equal(out[k].dtype, "float32");
      sameFloats(Float32Array.from(out[k].values), arrays[k]);
      // numpy.save of the same array gives identical bytes, header included
      const theirs = await Deno.readFile(`${dir}/b${k}.npy`);
      assert.deepEqual(theirs, await Deno.readFile(`${dir}/a${k}.npy`), `shape [${shape.join(", ")}]`);
      sameFloats(decodeNpy(theirs).data, arrays[k]);
    }
  },
});
