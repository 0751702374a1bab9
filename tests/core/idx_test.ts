import { strict as assert } from "node:assert";
import fc from "fast-check";
import { encodeIdx, IdxFormatError, parseIdx } from "../../core/io/idx.ts";
import { packagedMnistDir } from "../../plugins/datasets/mnist.ts";

Deno.test("idx: encode → parse round trip (property)", () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 0, max: 255 }),
    (dims, fill) => {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + fill) % 256);
      const parsed = parseIdx(encodeIdx(dims, data), dims.length);
      assert.deepEqual([...parsed.dims], dims);
      assert.deepEqual([...parsed.data], [...data]);
    },
  ));
});

Deno.test("idx: header fields are big-endian (hand-built buffer)", () => {
  // magic 00 00 08 01, one dimension of 258 = 0x00000102
  const bytes = new Uint8Array(8 + 258);
  bytes.set([0, 0, 8, 1, 0, 0, 1, 2]);
  assert.deepEqual(parseIdx(bytes, 1).dims, [258]);
});

Deno.test("idx: malformed buffers are rejected with a reason", async (t) => {
  const good = encodeIdx([2, 3], new Uint8Array(6));
  await t.step("truncated data", () => {
    assert.throws(
      () => parseIdx(good.subarray(0, good.length - 1)),
      (e: unknown) => e instanceof IdxFormatError && /truncated/.test(e.message),
    );
  });
  await t.step("truncated header", () => {
    assert.throws(() => parseIdx(good.subarray(0, 6)), /truncated header/);
  });
  await t.step("trailing bytes", () => {
    const longer = new Uint8Array(good.length + 2);
    longer.set(good);
    assert.throws(() => parseIdx(longer), /unexpected bytes/);
  });
  await t.step("wrong magic (gzip)", () => {
    assert.throws(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0])), /gzip/);
  });
  await t.step("float data type", () => {
    assert.throws(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0])), /0xd \(float\)/);
  });
  await t.step("wrong number of dimensions", () => {
    assert.throws(() => parseIdx(good, 3), /2 dimensions, expected 3/);
  });
});

Deno.test("idx: the real MNIST files have the published sizes and first labels", async () => {
  const dir = packagedMnistDir();
  const trainLabels = parseIdx(await Deno.readFile(`${dir}/train-labels-idx1-ubyte`), 1);
  const testImages = parseIdx(await Deno.readFile(`${dir}/t10k-images-idx3-ubyte`), 3);
  const testLabels = parseIdx(await Deno.readFile(`${dir}/t10k-labels-idx1-ubyte`), 1);
  assert.deepEqual(trainLabels.dims, [60000]);
  assert.deepEqual(testImages.dims, [10000, 28, 28]);
  // LeCun's MNIST: the first training digit is a 5, the first test digits are 7, 2, 1, 0, 4
  assert.equal(trainLabels.data[0], 5);
  assert.deepEqual([...testLabels.data.subarray(0, 5)], [7, 2, 1, 0, 4]);
  // class counts of the test set (published: 980 zeros, 1135 ones)
  assert.equal(testLabels.data.filter((y) => y === 0).length, 980);
  assert.equal(testLabels.data.filter((y) => y === 1).length, 1135);
});
