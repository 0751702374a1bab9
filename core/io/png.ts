/**
 * Labelled image grids as PNG files a person can look at: a tiny built-in 5×7
 * bitmap font, a grid layout (blocks of rows × columns of upscaled images, each
 * block with a title line and column labels, optional row labels) drawn into an
 * 8-bit raster, and PNG encoding with the `fast-png` library. Grayscale images
 * (C = 1) give a grayscale PNG, RGB images (C = 3) an RGB one.
 * @module
 */
import { encode } from "fast-png";

/** An 8-bit image, row-major, `channels` interleaved values per pixel. */
export interface Raster {
  readonly width: number;
  readonly height: number;
  /** 1 (gray) or 3 (RGB). */
  readonly channels: 1 | 3;
  readonly data: Uint8Array;
}

/** Width of a glyph in font pixels. */
export const GLYPH_WIDTH = 5;
/** Height of a glyph in font pixels, above the baseline (g, j, p, q, y add one descender row). */
export const GLYPH_HEIGHT = 7;
/** Rows of font pixels per text line (glyph, descender, one blank row). */
export const LINE_HEIGHT = 9;

// deno-fmt-ignore
const GLYPH_ROWS: Readonly<Record<string, string>> = {
  "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
  "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
  "2": ".###. #...# ....# ...#. ..#.. .#... #####",
  "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
  "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
  "5": "##### #.... ####. ....# ....# #...# .###.",
  "6": "..##. .#... #.... ####. #...# #...# .###.",
  "7": "##### ....# ...#. ..#.. .#... .#... .#...",
  "8": ".###. #...# #...# .###. #...# #...# .###.",
  "9": ".###. #...# #...# .#### ....# ...#. .##..",
  a: "..... ..... .###. ....# .#### #...# .####",
  b: "#.... #.... #.##. ##..# #...# #...# ####.",
  c: "..... ..... .###. #.... #.... #...# .###.",
  d: "....# ....# .##.# #..## #...# #...# .####",
  e: "..... ..... .###. #...# ##### #.... .###.",
  f: "..##. .#..# .#... ###.. .#... .#... .#...",
  g: "..... ..... .#### #...# #...# .#### ....# .###.",
  h: "#.... #.... #.##. ##..# #...# #...# #...#",
  i: "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
  j: "...#. ..... ..##. ...#. ...#. ...#. #..#. .##..",
  k: "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
  l: ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
  m: "..... ..... ##.#. #.#.# #.#.# #...# #...#",
  n: "..... ..... #.##. ##..# #...# #...# #...#",
  o: "..... ..... .###. #...# #...# #...# .###.",
  p: "..... ..... ####. #...# #...# ####. #.... #....",
  q: "..... ..... .#### #...# #...# .#### ....# ....#",
  r: "..... ..... #.##. ##..# #.... #.... #....",
  s: "..... ..... .###. #.... .###. ....# ####.",
  t: ".#... .#... ###.. .#... .#... .#..# ..##.",
  u: "..... ..... #...# #...# #...# #..## .##.#",
  v: "..... ..... #...# #...# #...# .#.#. ..#..",
  w: "..... ..... #...# #...# #.#.# #.#.# .#.#.",
  x: "..... ..... #...# .#.#. ..#.. .#.#. #...#",
  y: "..... ..... #...# #...# #...# .#### ....# .###.",
  z: "..... ..... ##### ...#. ..#.. .#... #####",
  "_": "..... ..... ..... ..... ..... ..... #####",
  "-": "..... ..... ..... ##### ..... ..... .....",
  " ": "..... ..... ..... ..... ..... ..... .....",
  ".": "..... ..... ..... ..... ..... .##.. .##..",
  ",": "..... ..... ..... ..... .##.. ..#.. .#...",
  ":": "..... .##.. .##.. ..... .##.. .##.. .....",
  "=": "..... ..... ##### ..... ##### ..... .....",
  "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
  ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
  "/": "..... ....# ...#. ..#.. .#... #.... .....",
  "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
  "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
};

/**
 * The built-in 5×7 bitmap font: for each supported character (0-9, a-z, `_ - . , : = ( ) / # ?`
 * and space), 7 rows of 5 booleans (8 for the descenders g, j, p, q, y). Upper-case
 * letters are drawn as lower-case; any other character is drawn as `?`.
 */
export const FONT: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<boolean>>> = new Map(
  Object.entries(GLYPH_ROWS).map(([ch, rows]) => [ch, rows.split(" ").map((row) => [...row].map((p) => p === "#"))]),
);

const glyphFor = (ch: string) => FONT.get(ch) ?? FONT.get(ch.toLowerCase()) ?? FONT.get("?")!;

/** Width in output pixels of the widest line of `text` drawn at `fontScale` (1 font pixel = fontScale²). */
export const textWidth = (text: string, fontScale: number): number =>
  Math.max(0, ...text.split("\n").map((line) => line.length === 0 ? 0 : (line.length * 6 - 1) * fontScale));

/** Height in output pixels of `text` (one line per `\n`-separated part) at `fontScale`. */
export const textHeight = (text: string, fontScale: number): number =>
  (text.split("\n").length * LINE_HEIGHT - 1) * fontScale;

/** Fill a rectangle (clipped to the raster) with `value` in every channel. */
export const fillRect = (r: Raster, x: number, y: number, w: number, h: number, value: number): void => {
  for (let yy = Math.max(0, y); yy < Math.min(r.height, y + h); yy++) {
    r.data.fill(
      value,
      (yy * r.width + Math.max(0, x)) * r.channels,
      (yy * r.width + Math.min(r.width, x + w)) * r.channels,
    );
  }
};

/** Draw `text` with its top-left corner at (x, y), each font pixel a `fontScale` square of `value`. */
export const drawText = (r: Raster, text: string, x: number, y: number, fontScale: number, value = 0): void => {
  text.split("\n").forEach((line, li) => {
    const top = y + li * LINE_HEIGHT * fontScale;
    [...line].forEach((ch, ci) => {
      const glyph = glyphFor(ch);
      const left = x + ci * 6 * fontScale;
      for (let gy = 0; gy < glyph.length; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (glyph[gy][gx]) fillRect(r, left + gx * fontScale, top + gy * fontScale, fontScale, fontScale, value);
        }
      }
    });
  });
};

/** One labelled block of a grid: a title line, column labels, and rows of images (all of one shape). */
export interface GridBlock {
  /** Drawn above the block, e.g. the corruption name. */
  readonly title: string;
  /** One label per column, drawn centred above it. */
  readonly columnLabels: ReadonlyArray<string>;
  /** Optional label per row, drawn left of it (may hold `\n`). */
  readonly rowLabels?: ReadonlyArray<string>;
  /** `rows[i][j]`: the image of row i, column j; HWC float32 in [0, 1] (clipped). */
  readonly rows: ReadonlyArray<ReadonlyArray<Float32Array>>;
}

/** Sizes of a grid, in output pixels except `shape`. */
export interface GridOptions {
  /** Shape [H, W, C] of every image (C = 1 or 3). */
  readonly shape: readonly [number, number, number];
  /** Each image pixel becomes a `scale`×`scale` square (default 3). */
  readonly scale?: number;
  /** Each font pixel becomes a `fontScale`×`fontScale` square (default 2). */
  readonly fontScale?: number;
  /** Outer margin (default 8). */
  readonly margin?: number;
  /** Space between cells (default 4). */
  readonly gap?: number;
}

/** Where everything of a grid goes: the image size and each cell's top-left corner. */
export interface GridLayout {
  readonly width: number;
  readonly height: number;
  /** Top-left corner of the image at (block, row, column). */
  readonly cell: (block: number, row: number, column: number) => { readonly x: number; readonly y: number };
}

interface BlockGeometry {
  readonly top: number;
  readonly headerTop: number;
  readonly rowsTop: number;
  readonly columnWidth: number;
  readonly labelWidth: number;
  readonly height: number;
}

const resolved = (o: GridOptions) => ({
  scale: o.scale ?? 3,
  fontScale: o.fontScale ?? 2,
  margin: o.margin ?? 8,
  gap: o.gap ?? 4,
});

const geometry = (blocks: ReadonlyArray<GridBlock>, o: GridOptions): { blocks: BlockGeometry[]; width: number } => {
  const { scale, fontScale, margin, gap } = resolved(o);
  const [h, w] = o.shape;
  const line = (LINE_HEIGHT + 1) * fontScale;
  let top = margin;
  let width = 0;
  const out: BlockGeometry[] = [];
  for (const b of blocks) {
    const columnWidth = Math.max(w * scale, ...b.columnLabels.map((l) => textWidth(l, fontScale)));
    const labelWidth = b.rowLabels && b.rowLabels.length > 0
      ? Math.max(...b.rowLabels.map((l) => textWidth(l, fontScale))) + 2 * gap
      : 0;
    const rowHeight = Math.max(h * scale, ...(b.rowLabels ?? []).map((l) => textHeight(l, fontScale)));
    const headerTop = top + line + 4 * fontScale;
    const rowsTop = headerTop + line;
    const height = rowsTop - top + b.rows.length * (rowHeight + gap) - (b.rows.length > 0 ? gap : 0);
    const columns = Math.max(b.columnLabels.length, ...b.rows.map((r) => r.length));
    width = Math.max(
      width,
      textWidth(b.title, fontScale),
      labelWidth + columns * (columnWidth + gap) - (columns > 0 ? gap : 0),
    );
    out.push({ top, headerTop, rowsTop, columnWidth, labelWidth, height });
    top += height + 3 * line / 2;
  }
  return { blocks: out, width: width + 2 * margin };
};

/** Compute where a grid of `blocks` puts its cells (without drawing). */
export const layoutGrid = (blocks: ReadonlyArray<GridBlock>, options: GridOptions): GridLayout => {
  const { scale, fontScale, margin, gap } = resolved(options);
  const [h, w] = options.shape;
  const g = geometry(blocks, options);
  const last = g.blocks[g.blocks.length - 1];
  const height = last ? last.top + last.height + margin : 2 * margin;
  const rowHeights = blocks.map((b) =>
    Math.max(h * scale, ...(b.rowLabels ?? []).map((l) => textHeight(l, fontScale)))
  );
  return {
    width: g.width,
    height,
    cell: (block, row, column) => {
      const bg = g.blocks[block];
      if (!bg) throw new RangeError(`layoutGrid: no block ${block}`);
      return {
        x: margin + bg.labelWidth + column * (bg.columnWidth + gap) + Math.floor((bg.columnWidth - w * scale) / 2),
        y: bg.rowsTop + row * (rowHeights[block] + gap),
      };
    },
  };
};

/**
 * Draw a grid: white background, black text, each image clipped to [0, 1], mapped to
 * 0–255 (rounded) and upscaled by nearest neighbour. Returns the raster and its layout.
 * Throws a RangeError when an image does not match `options.shape`.
 */
export const renderGrid = (
  blocks: ReadonlyArray<GridBlock>,
  options: GridOptions,
): { readonly raster: Raster; readonly layout: GridLayout } => {
  const { scale, fontScale, margin, gap } = resolved(options);
  const [h, w, c] = options.shape;
  if (c !== 1 && c !== 3) throw new RangeError(`renderGrid: images must have 1 or 3 channels, got ${c}`);
  const layout = layoutGrid(blocks, options);
  const raster: Raster = {
    width: layout.width,
    height: layout.height,
    channels: c,
    data: new Uint8Array(layout.width * layout.height * c).fill(255),
  };
  const g = geometry(blocks, options);
  blocks.forEach((b, bi) => {
    const bg = g.blocks[bi];
    drawText(raster, b.title, margin, bg.top, fontScale);
    b.columnLabels.forEach((label, ci) => {
      const x = margin + bg.labelWidth + ci * (bg.columnWidth + gap) +
        Math.floor((bg.columnWidth - textWidth(label, fontScale)) / 2);
      drawText(raster, label, x, bg.headerTop, fontScale);
    });
    b.rows.forEach((row, ri) => {
      const label = b.rowLabels?.[ri];
      if (label !== undefined) drawText(raster, label, margin, layout.cell(bi, ri, 0).y, fontScale);
      row.forEach((img, ci) => {
        if (img.length !== h * w * c) {
          throw new RangeError(
            `renderGrid: image (${bi}, ${ri}, ${ci}) has ${img.length} values, expected ${h * w * c}`,
          );
        }
        const { x, y } = layout.cell(bi, ri, ci);
        for (let py = 0; py < h * scale; py++) {
          const sy = Math.floor(py / scale);
          const base = ((y + py) * raster.width + x) * c;
          for (let px = 0; px < w * scale; px++) {
            const src = (sy * w + Math.floor(px / scale)) * c;
            for (let k = 0; k < c; k++) {
              const v = img[src + k];
              raster.data[base + px * c + k] = Math.round((v > 1 ? 1 : v > 0 ? v : 0) * 255);
            }
          }
        }
      });
    });
  });
  return { raster, layout };
};

/** Encode a raster as an 8-bit PNG (colour type 0 for gray, 2 for RGB) with fast-png. */
export const encodePng = (raster: Raster): Uint8Array =>
  encode({ width: raster.width, height: raster.height, data: raster.data, channels: raster.channels, depth: 8 });
