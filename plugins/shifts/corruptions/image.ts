/**
 * Small image helpers shared by the corruption modules. Images travel as
 * Float32Array in [0, 1], row-major HWC; internally each channel is split into a
 * Float64Array "plane" (row-major H×W) so that the multi-step procedures of the
 * reference code keep double precision. Border handling follows the library each
 * reference step used (scipy.ndimage, OpenCV, ImageMagick, PIL), named below.
 * @module
 */
import type { Rng } from "../../../core/random.ts";

/** Image shape [H, W, C], C = 1 (grayscale) or 3 (RGB). */
export type Shape = readonly [number, number, number];

/** Which published constant table to use (ImageNet-C's constants are stronger). */
export type ConstantSet = "cifar10-c" | "imagenet-c";

/** A corruption as a pure function of one image (see index.ts for the contract). */
export type CorruptionFn = (
  img: Float32Array,
  shape: Shape,
  severity: number,
  rng: Rng,
  constants: ConstantSet,
) => Float32Array;

/** A per-severity table (severity 1 first) for each published constant set. */
export type Table<T> = { readonly [K in ConstantSet]: readonly T[] };

/** The constant for `severity` (1–5) from `table` under `constants`. */
export const pick = <Tb extends Table<unknown>>(
  table: Tb,
  constants: ConstantSet,
  severity: number,
): Tb[ConstantSet][number] => table[constants][severity - 1];

/** Clip to [0, 1]; NaN becomes 0. */
export const clip01 = (v: number): number => (v > 1 ? 1 : v >= 0 ? v : 0);

/** Python's round(): nearest integer, ties to even (used for scipy output shapes). */
export const pyRound = (v: number): number => {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

/** numpy `arange(start, stop, step)`: ceil((stop − start) / step) values start + i·step. */
export const arange = (start: number, stop: number, step: number): number[] => {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return Array.from({ length: n }, (_, i) => start + i * step);
};

/** Smallest power of two ≥ max(n, 2). */
export const nextPow2 = (n: number): number => {
  let p = 2;
  while (p < n) p *= 2;
  return p;
};

/** Split an HWC image into one Float64Array plane per channel. */
export const toPlanes = (img: Float32Array, shape: Shape): Float64Array[] => {
  const [h, w, c] = shape;
  const planes = Array.from({ length: c }, () => new Float64Array(h * w));
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < c; k++) planes[k][i] = img[i * c + k];
  }
  return planes;
};

/** Merge planes back into an HWC Float32Array, clipping to [0, 1]. */
export const fromPlanes = (planes: readonly Float64Array[], shape: Shape): Float32Array => {
  const [h, w, c] = shape;
  const out = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < c; k++) out[i * c + k] = clip01(planes[k][i]);
  }
  return out;
};

/** Apply `f` to every channel plane independently. */
export const perPlane = (
  img: Float32Array,
  shape: Shape,
  f: (plane: Float64Array, h: number, w: number) => Float64Array,
): Float32Array => fromPlanes(toPlanes(img, shape).map((p) => f(p, shape[0], shape[1])), shape);

/** Luma with ITU-R 601 weights, as OpenCV's `COLOR_RGB2GRAY`. */
export const cvGray = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

/** Luminance with skimage's `rgb2gray` weights (Rec. 709). */
export const skGray = (r: number, g: number, b: number): number => 0.2125 * r + 0.7154 * g + 0.0721 * b;

// ---------------------------------------------------------------------------
// Borders

/**
 * How an index outside [0, n) is mapped:
 * - `nearest`: edge value (scipy "nearest", skimage's default, OpenCV BORDER_REPLICATE, ImageMagick "edge");
 * - `reflect`: half-sample symmetric `dcba|abcd|dcba` (scipy "reflect");
 * - `mirror`: whole-sample symmetric `dcb|abcd|cba` (OpenCV BORDER_REFLECT_101, its default);
 * - `constant`: outside is `cval` (index −1).
 */
export type Border = "nearest" | "reflect" | "mirror" | "constant";

/** The in-range index for `i` under `border`, or −1 for a constant border outside. */
export const borderIndex = (i: number, n: number, border: Border): number => {
  if (i >= 0 && i < n) return i;
  switch (border) {
    case "nearest":
      return i < 0 ? 0 : n - 1;
    case "reflect": {
      const p = 2 * n;
      let m = i % p;
      if (m < 0) m += p;
      return m < n ? m : p - 1 - m;
    }
    case "mirror": {
      if (n === 1) return 0;
      const p = 2 * n - 2;
      let m = i % p;
      if (m < 0) m += p;
      return m < n ? m : p - m;
    }
    case "constant":
      return -1;
  }
};

// ---------------------------------------------------------------------------
// Linear filters

/** Correlate `plane` (h×w) with odd-length `weights` along `axis` (0 = rows/y, 1 = columns/x). */
export const correlate1d = (
  plane: Float64Array,
  h: number,
  w: number,
  weights: ArrayLike<number>,
  axis: 0 | 1,
  border: Border,
  cval = 0,
): Float64Array => {
  const out = new Float64Array(h * w);
  const r = (weights.length - 1) >> 1;
  const n = axis === 0 ? h : w;
  // Precompute the border-mapped index of every tap position.
  const idx = new Int32Array(n + 2 * r);
  for (let t = -r; t < n + r; t++) idx[t + r] = borderIndex(t, n, border);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      const pos = axis === 0 ? y : x;
      for (let k = 0; k < weights.length; k++) {
        const j = idx[pos + k];
        const v = j < 0 ? cval : axis === 0 ? plane[j * w + x] : plane[y * w + j];
        s += weights[k] * v;
      }
      out[y * w + x] = s;
    }
  }
  return out;
};

/** scipy's `_gaussian_kernel1d(sigma, 0, radius)`: exp(−x²/2σ²) on [−radius, radius], normalised. */
export const gaussianKernel1d = (sigma: number, radius: number): Float64Array => {
  const k = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) {
    k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    s += k[i + radius];
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
};

/**
 * scipy.ndimage.gaussian_filter on one plane (what skimage.filters.gaussian calls,
 * per channel with `multichannel=True`): radius = int(truncate·σ + 0.5); σ ≈ 0 is identity.
 */
export const gaussianFilter = (
  plane: Float64Array,
  h: number,
  w: number,
  sigma: number,
  border: Border = "nearest",
  truncate = 4,
  cval = 0,
): Float64Array => {
  if (!(sigma > 1e-15)) return Float64Array.from(plane);
  const k = gaussianKernel1d(sigma, Math.trunc(truncate * sigma + 0.5));
  return correlate1d(correlate1d(plane, h, w, k, 0, border, cval), h, w, k, 1, border, cval);
};

/** OpenCV `getGaussianKernel(ksize, sigma)` for σ > 0. */
export const cvGaussianKernel = (ksize: number, sigma: number): Float64Array => {
  const k = new Float64Array(ksize);
  const c = (ksize - 1) / 2;
  let s = 0;
  for (let i = 0; i < ksize; i++) {
    k[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
    s += k[i];
  }
  for (let i = 0; i < ksize; i++) k[i] /= s;
  return k;
};

/** OpenCV `filter2D` (correlation, anchor at the centre) of a plane with a kh×kw kernel, BORDER_REFLECT_101. */
export const filter2D = (
  plane: Float64Array,
  h: number,
  w: number,
  kernel: ArrayLike<number>,
  kh: number,
  kw: number,
  border: Border = "mirror",
): Float64Array => {
  const out = new Float64Array(h * w);
  const ay = kh >> 1;
  const ax = kw >> 1;
  const yi = new Int32Array(h + kh);
  const xi = new Int32Array(w + kw);
  for (let t = 0; t < h + kh; t++) yi[t] = borderIndex(t - ay, h, border);
  for (let t = 0; t < w + kw; t++) xi[t] = borderIndex(t - ax, w, border);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = 0; i < kh; i++) {
        const sy = yi[y + i];
        if (sy < 0) continue;
        for (let j = 0; j < kw; j++) {
          const sx = xi[x + j];
          if (sx < 0) continue;
          s += kernel[i * kw + j] * plane[sy * w + sx];
        }
      }
      out[y * w + x] = s;
    }
  }
  return out;
};

/** OpenCV `blur(x, (3, 3))`: normalised 3×3 box filter, BORDER_REFLECT_101. */
export const boxBlur3 = (plane: Float64Array, h: number, w: number): Float64Array => {
  const k = [1 / 3, 1 / 3, 1 / 3];
  return correlate1d(correlate1d(plane, h, w, k, 0, "mirror"), h, w, k, 1, "mirror");
};

// ---------------------------------------------------------------------------
// Sampling and resizing

/**
 * Bilinear sample of `plane` at fractional (row y, column x); neighbours outside
 * the image follow `border` (constant: `cval`).
 */
export const bilinear = (
  plane: Float64Array,
  h: number,
  w: number,
  y: number,
  x: number,
  border: Border,
  cval = 0,
): number => {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const dy = y - y0;
  const dx = x - x0;
  const r0 = borderIndex(y0, h, border);
  const r1 = borderIndex(y0 + 1, h, border);
  const c0 = borderIndex(x0, w, border);
  const c1 = borderIndex(x0 + 1, w, border);
  const at = (r: number, c: number): number => (r < 0 || c < 0 ? cval : plane[r * w + c]);
  const top = (1 - dx) * at(r0, c0) + dx * at(r0, c1);
  const bottom = (1 - dx) * at(r1, c0) + dx * at(r1, c1);
  return (1 - dy) * top + dy * bottom;
};

/**
 * scipy.ndimage.zoom(order=1) of a plane to oh×ow: output o maps to input
 * o·(n−1)/(m−1) (grid_mode=False), linear interpolation.
 */
export const zoomLinear = (plane: Float64Array, h: number, w: number, oh: number, ow: number): Float64Array => {
  const zy = oh > 1 ? (h - 1) / (oh - 1) : 1;
  const zx = ow > 1 ? (w - 1) / (ow - 1) : 1;
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) out[y * ow + x] = bilinear(plane, h, w, y * zy, x * zx, "nearest");
  }
  return out;
};

/**
 * `clipped_zoom(img, zoom_factor)` of make_cifar_c.py, per axis: crop the central
 * ceil(n / z) pixels, zoom by z with scipy (order 1), trim back to n centred.
 */
export const clippedZoom = (plane: Float64Array, h: number, w: number, z: number): Float64Array => {
  const ch = Math.ceil(h / z);
  const cw = Math.ceil(w / z);
  const top = Math.floor((h - ch) / 2);
  const left = Math.floor((w - cw) / 2);
  const crop = new Float64Array(ch * cw);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) crop[y * cw + x] = plane[(y + top) * w + (x + left)];
  }
  const oh = pyRound(ch * z);
  const ow = pyRound(cw * z);
  const zoomed = zoomLinear(crop, ch, cw, oh, ow);
  const tt = Math.floor((oh - h) / 2);
  const tl = Math.floor((ow - w) / 2);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = Math.min(oh - 1, Math.max(0, y + tt));
      const sx = Math.min(ow - 1, Math.max(0, x + tl));
      out[y * w + x] = zoomed[sy * ow + sx];
    }
  }
  return out;
};

/**
 * PIL `Image.resize(size, Image.BOX)` along one axis: the coefficients of
 * ImagingResample's `precompute_coeffs` with the box filter (support 0.5).
 * Returns, per output index, the [first input index, weights].
 */
const boxCoeffs = (inSize: number, outSize: number): Array<[number, number[]]> => {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 0.5 * filterscale;
  const box = (x: number): number => (x > -0.5 && x <= 0.5 ? 1 : 0);
  const res: Array<[number, number[]]> = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const ws: number[] = [];
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const v = box((x + xmin - center + 0.5) / filterscale);
      ws.push(v);
      total += v;
    }
    res.push([xmin, total !== 0 ? ws.map((v) => v / total) : ws]);
  }
  return res;
};

/** PIL BOX resize of a plane (h×w → oh×ow), in floating point: horizontal pass, then vertical. */
export const resizeBox = (plane: Float64Array, h: number, w: number, oh: number, ow: number): Float64Array => {
  const cx = boxCoeffs(w, ow);
  const cy = boxCoeffs(h, oh);
  const tmp = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      const [x0, ws] = cx[x];
      let s = 0;
      for (let k = 0; k < ws.length; k++) s += ws[k] * plane[y * w + x0 + k];
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const [y0, ws] = cy[y];
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < ws.length; k++) s += ws[k] * tmp[(y0 + k) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
};

// ---------------------------------------------------------------------------
// Colour

/** skimage `rgb2hsv` of one pixel (all in [0, 1]); writes [h, s, v] into `out`. */
export const rgbToHsv = (r: number, g: number, b: number, out: Float64Array): void => {
  const v = Math.max(r, g, b);
  const delta = v - Math.min(r, g, b);
  const s = v === 0 ? 0 : delta / v;
  let h = 0;
  if (delta !== 0) {
    // skimage assigns the r, g, b cases in this order, later ones overwriting.
    if (b === v) h = 4 + (r - g) / delta;
    else if (g === v) h = 2 + (b - r) / delta;
    else h = (g - b) / delta;
    h = (((h / 6) % 1) + 1) % 1;
  }
  out[0] = h;
  out[1] = s;
  out[2] = v;
};

/** skimage `hsv2rgb` of one pixel; writes [r, g, b] into `out`. */
export const hsvToRgb = (h: number, s: number, v: number, out: Float64Array): void => {
  const hi6 = Math.floor(h * 6);
  const f = h * 6 - hi6;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const rgb: readonly [number, number, number][] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]];
  const sel = rgb[((hi6 % 6) + 6) % 6];
  out[0] = sel[0];
  out[1] = sel[1];
  out[2] = sel[2];
};

/**
 * Edit every pixel in HSV: `edit` receives [h, s, v] (and may change it in place).
 * RGB images go through skimage rgb2hsv/hsv2rgb; grayscale ones are replicated to
 * RGB, edited, and brought back with skimage `rgb2gray` (as MNIST-C's brightness and
 * saturate do).
 */
export const editHsv = (img: Float32Array, shape: Shape, edit: (hsv: Float64Array) => void): Float32Array => {
  const [h, w, c] = shape;
  const out = new Float32Array(img.length);
  const hsv = new Float64Array(3);
  const rgb = new Float64Array(3);
  for (let i = 0; i < h * w; i++) {
    const r = img[i * c];
    const g = c === 3 ? img[i * c + 1] : r;
    const b = c === 3 ? img[i * c + 2] : r;
    rgbToHsv(r, g, b, hsv);
    edit(hsv);
    hsvToRgb(hsv[0], hsv[1], hsv[2], rgb);
    if (c === 3) {
      out[i * 3] = clip01(rgb[0]);
      out[i * 3 + 1] = clip01(rgb[1]);
      out[i * 3 + 2] = clip01(rgb[2]);
    } else {
      out[i] = clip01(skGray(rgb[0], rgb[1], rgb[2]));
    }
  }
  return out;
};

// ---------------------------------------------------------------------------
// Procedures the reference code takes from other programs

/**
 * ImageMagick `MagickMotionBlurImage(radius, sigma, angle)` (MagickCore effect.c):
 * width = 2·ceil(radius) + 1 one-sided Gaussian taps exp(−i²/2σ²), normalised,
 * at offsets round(i·(cos θ, sin θ)) from each pixel; edge virtual pixels.
 */
export const motionBlurPlane = (
  plane: Float64Array,
  h: number,
  w: number,
  radius: number,
  sigma: number,
  angleDeg: number,
): Float64Array => {
  const width = radius > 1e-12 ? 2 * Math.ceil(radius) + 1 : 3;
  const sg = Math.abs(sigma) < 1e-12 ? 1e-12 : sigma;
  const kernel = new Float64Array(width);
  let norm = 0;
  for (let i = 0; i < width; i++) {
    kernel[i] = Math.exp(-(i * i) / (2 * sg * sg));
    norm += kernel[i];
  }
  const theta = (angleDeg * Math.PI) / 180;
  const px = width * Math.sin(theta);
  const py = width * Math.cos(theta);
  const hyp = Math.hypot(px, py);
  const ox = new Int32Array(width);
  const oy = new Int32Array(width);
  for (let i = 0; i < width; i++) {
    kernel[i] /= norm;
    ox[i] = Math.ceil((i * py) / hyp - 0.5);
    oy[i] = Math.ceil((i * px) / hyp - 0.5);
  }
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = 0; i < width; i++) {
        const sy = Math.min(h - 1, Math.max(0, y + oy[i]));
        const sx = Math.min(w - 1, Math.max(0, x + ox[i]));
        s += kernel[i] * plane[sy * w + sx];
      }
      out[y * w + x] = s;
    }
  }
  return out;
};

/**
 * `plasma_fractal(mapsize, wibbledecay)` of make_cifar_c.py: the diamond-square
 * height map (with the reference's `np.roll` wrap-around and its noise of scale
 * wibble²), draws in numpy's C order, normalised to [0, 1]. `mapsize` is a power of two.
 */
export const plasmaFractal = (mapsize: number, wibbledecay: number, rng: Rng): Float64Array => {
  const n0 = mapsize;
  const m = new Float64Array(n0 * n0);
  let step = n0;
  let wibble = 100;
  const noise = (): number => wibble * (-wibble + 2 * wibble * rng.float());
  while (step >= 2) {
    const n = n0 / step;
    const half = step / 2;
    const at = (r: number, c: number): number => m[r * n0 + c];
    // fillsquares: corners (i, j) of the coarse grid, wrapped.
    const sq = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const i1 = (i + 1) % n;
        const j1 = (j + 1) % n;
        sq[i * n + j] = at(i * step, j * step) + at(i1 * step, j * step) + at(i * step, j1 * step) +
          at(i1 * step, j1 * step);
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) m[(i * step + half) * n0 + j * step + half] = sq[i * n + j] / 4 + noise();
    }
    // filldiamonds
    const dr = (i: number, j: number): number => at(((i + n) % n) * step + half, ((j + n) % n) * step + half);
    const ul = (i: number, j: number): number => at((i % n) * step, (j % n) * step);
    const lt = new Float64Array(n * n);
    const tt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        lt[i * n + j] = dr(i, j) + dr(i - 1, j) + ul(i, j) + ul(i, j + 1);
        tt[i * n + j] = dr(i, j) + dr(i, j - 1) + ul(i, j) + ul(i + 1, j);
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) m[i * step * n0 + j * step + half] = lt[i * n + j] / 4 + noise();
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) m[(i * step + half) * n0 + j * step] = tt[i * n + j] / 4 + noise();
    }
    step /= 2;
    wibble /= wibbledecay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi - lo;
  for (let i = 0; i < m.length; i++) m[i] = range > 0 ? (m[i] - lo) / range : 0;
  return m;
};

/** The top-left h×w crop of a square n×n map (`map[:h, :w]`). */
export const cropTopLeft = (map: Float64Array, n: number, h: number, w: number): Float64Array => {
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = map[y * n + x];
  return out;
};
