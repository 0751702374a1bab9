/**
 * The PNG grid writer: PNG signature and IHDR parsed by hand, the bitmap font,
 * and the grid layout (each cell holds its source image, upscaled, pixel for pixel).
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { decode } from "fast-png";
import {
  drawText,
  encodePng,
  FONT,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  type GridBlock,
  layoutGrid,
  type Raster,
  renderGrid,
  textWidth,
} from "../../core/io/png.ts";

/** CRC-32 (ISO 3309, as PNG uses), bit by bit. */
const crc32 = (bytes: Uint8Array): number => {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
};

/** The IHDR fields of a PNG file, read by hand (checks the signature and the IHDR CRC). */
const readIhdr = (png: Uint8Array) => {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(view.getUint32(8), 13, "IHDR length");
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR", "first chunk is IHDR");
  assert.equal(view.getUint32(29), crc32(png.subarray(12, 29)), "IHDR CRC");
  return {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: png[24],
    colourType: png[25],
    compression: png[26],
    filter: png[27],
    interlace: png[28],
  };
};

const image = (shape: readonly [number, number, number], f: (i: number) => number) =>
  Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => f(i));

Deno.test("png: signature and IHDR (gray → colour type 0, RGB → colour type 2)", async (t) => {
  for (const [channels, colourType] of [[1, 0], [3, 2]] as const) {
    await t.step(`${channels} channel(s)`, () => {
      const raster: Raster = {
        width: 13,
        height: 7,
        channels,
        data: Uint8Array.from({ length: 13 * 7 * channels }, (_, i) => (i * 37) % 256),
      };
      const png = encodePng(raster);
      assert.deepEqual(readIhdr(png), {
        width: 13,
        height: 7,
        bitDepth: 8,
        colourType,
        compression: 0,
        filter: 0,
        interlace: 0,
      });
      const back = decode(png);
      assert.equal(back.channels, channels);
      assert.deepEqual([...back.data], [...raster.data], "pixels survive encoding");
    });
  }
});

Deno.test("png: font glyphs are 5 wide and 7 tall (8 with a descender), and drawText draws them", () => {
  for (const [ch, rows] of FONT) {
    assert.ok(rows.length === GLYPH_HEIGHT || rows.length === GLYPH_HEIGHT + 1, `glyph ${ch}: ${rows.length} rows`);
    for (const row of rows) assert.equal(row.length, GLYPH_WIDTH, `glyph ${ch}`);
  }
  for (const ch of "0123456789abcdefghijklmnopqrstuvwxyz_-") assert.ok(FONT.has(ch), `glyph ${ch}`);
  const r: Raster = { width: 20, height: 20, channels: 1, data: new Uint8Array(400).fill(255) };
  drawText(r, "7", 3, 2, 2);
  const glyph = FONT.get("7")!;
  for (let y = 0; y < 20; y++) {
    for (let x = 0; x < 20; x++) {
      const gx = Math.floor((x - 3) / 2);
      const gy = Math.floor((y - 2) / 2);
      const ink = gx >= 0 && gx < GLYPH_WIDTH && gy >= 0 && gy < GLYPH_HEIGHT && glyph[gy][gx];
      assert.equal(r.data[y * 20 + x], ink ? 0 : 255, `(${x}, ${y})`);
    }
  }
  assert.equal(textWidth("clean", 2), (5 * 6 - 1) * 2);
});

Deno.test("png: every grid cell holds its source image upscaled, pixel for pixel (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.constantFrom(1, 3),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 2 }),
      fc.integer(),
      (h, w, c, scale, rows, columns, blocks, salt) => {
        const shape = [h, w, c] as const;
        const grid: GridBlock[] = Array.from({ length: blocks }, (_, b) => ({
          title: `block_${b}`,
          columnLabels: ["clean", ...Array.from({ length: columns - 1 }, (_, j) => String(j + 1))],
          rowLabels: Array.from({ length: rows }, (_, i) => `#${i}\ny=${i % 10}`),
          rows: Array.from({ length: rows }, (_, i) =>
            Array.from({ length: columns }, (_, j) =>
              // values outside [0, 1] are clipped
              image(shape, (k) => (((k + 1) * 7919 + i * 104729 + j * 31 + b * 17 + salt) % 1000) / 900 - 0.05))),
        }));
        const { raster, layout } = renderGrid(grid, { shape, scale });
        assert.equal(raster.channels, c);
        assert.equal(raster.width, layout.width);
        assert.equal(raster.height, layout.height);
        for (let b = 0; b < blocks; b++) {
          for (let i = 0; i < rows; i++) {
            for (let j = 0; j < columns; j++) {
              const src = grid[b].rows[i][j];
              const { x, y } = layout.cell(b, i, j);
              assert.ok(x >= 0 && y >= 0 && x + w * scale <= raster.width && y + h * scale <= raster.height);
              for (let py = 0; py < h * scale; py++) {
                for (let px = 0; px < w * scale; px++) {
                  for (let k = 0; k < c; k++) {
                    const v = Math.min(
                      1,
                      Math.max(0, src[(Math.floor(py / scale) * w + Math.floor(px / scale)) * c + k]),
                    );
                    assert.equal(raster.data[((y + py) * raster.width + x + px) * c + k], Math.round(v * 255));
                  }
                }
              }
            }
          }
        }
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("png: a 28×28 grid at ×3, labelled, encoded and decoded back", () => {
  const shape = [28, 28, 1] as const;
  const digit = image(shape, (i) => ((i % 28) + Math.floor(i / 28)) / 54);
  const grid: GridBlock[] = [{
    title: "gaussian_noise",
    columnLabels: ["clean", "1", "2", "3", "4", "5"],
    rows: [[digit, digit, digit, digit, digit, digit], [digit, digit, digit, digit, digit, digit]],
  }];
  const { raster, layout } = renderGrid(grid, { shape, scale: 3 });
  const png = encodePng(raster);
  const ihdr = readIhdr(png);
  assert.equal(ihdr.width, layout.width);
  assert.equal(ihdr.height, layout.height);
  assert.equal(ihdr.colourType, 0);
  assert.ok(layout.width >= 6 * 84 && layout.height >= 2 * 84);
  const back = decode(png);
  // the pixel at image (row 13, col 20) of cell (row 1, column 4) is that source pixel, ×3 in each direction
  const { x, y } = layout.cell(0, 1, 4);
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) {
      assert.equal(back.data[(y + 13 * 3 + dy) * back.width + x + 20 * 3 + dx], Math.round(digit[13 * 28 + 20] * 255));
    }
  }
  // the title and column labels are drawn in the band above the first row of cells
  const first = layout.cell(0, 0, 0);
  let ink = 0;
  for (let yy = 0; yy < first.y; yy++) {
    for (let xx = 0; xx < back.width; xx++) ink += back.data[yy * back.width + xx] === 0 ? 1 : 0;
  }
  assert.ok(ink > 50, `labels drawn (${ink} black pixels)`);
});

Deno.test("png: layout rejects images of the wrong size", () => {
  assert.throws(
    () =>
      renderGrid([{ title: "x", columnLabels: ["a"], rows: [[new Float32Array(5)]] }], {
        shape: [2, 2, 1],
      }),
    RangeError,
  );
  assert.throws(() => layoutGrid([], { shape: [2, 2, 1] }).cell(0, 0, 0), RangeError);
});
