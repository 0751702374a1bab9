/**
 * Weather corruptions of Hendrycks & Dietterich (ICLR 2019): snow, frost, fog and
 * brightness (common) and spatter (extra), reimplemented from `make_cifar_c.py` /
 * `make_imagenet_c.py` of hendrycks/robustness. Snow's ImageMagick motion blur,
 * fog's plasma fractal and spatter's OpenCV steps (Canny, distance transform,
 * histogram equalisation) are reproduced; frost is the one that cannot be: the
 * reference blends crops of six frost photographs, which we replace by a seeded
 * procedural frost texture (see `frostTexture`).
 * @module
 */
import type { Rng } from "../../../core/random.ts";
import {
  boxBlur3,
  clip01,
  clippedZoom,
  type CorruptionFn,
  cropTopLeft,
  cvGray,
  editHsv,
  filter2D,
  gaussianFilter,
  motionBlurPlane,
  nextPow2,
  pick,
  plasmaFractal,
  type Shape,
  type Table,
} from "./image.ts";

/** The published per-severity constants (severity 1 first). */
export const WEATHER_CONSTANTS = {
  /**
   * (normal mean, normal std, zoom, threshold, motion-blur radius, motion-blur σ, blend).
   * make_cifar_c.py / make_imagenet_c.py `snow`.
   */
  snow: {
    "cifar10-c": [
      [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
      [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
      [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
      [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
      [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
    ],
    "imagenet-c": [
      [0.1, 0.3, 3, 0.5, 10, 4, 0.8],
      [0.2, 0.3, 2, 0.5, 12, 4, 0.7],
      [0.55, 0.3, 4, 0.9, 12, 8, 0.7],
      [0.55, 0.3, 4.5, 0.85, 12, 8, 0.65],
      [0.55, 0.3, 2.5, 0.85, 12, 12, 0.55],
    ],
  },
  /** (image weight, frost weight). make_cifar_c.py / make_imagenet_c.py `frost`. */
  frost: {
    "cifar10-c": [[1, 0.2], [1, 0.3], [0.9, 0.4], [0.85, 0.4], [0.75, 0.45]],
    "imagenet-c": [[1, 0.4], [0.8, 0.6], [0.7, 0.7], [0.65, 0.7], [0.6, 0.75]],
  },
  /** (fog strength, plasma wibble decay). make_cifar_c.py / make_imagenet_c.py `fog`. */
  fog: {
    "cifar10-c": [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]],
    "imagenet-c": [[1.5, 2], [2, 2], [2.5, 1.7], [2.5, 1.5], [3, 1.4]],
  },
  /** Added to HSV value. make_cifar_c.py / make_imagenet_c.py `brightness`. */
  brightness: {
    "cifar10-c": [0.05, 0.1, 0.15, 0.2, 0.3],
    "imagenet-c": [0.1, 0.2, 0.3, 0.4, 0.5],
  },
  /**
   * (normal mean, normal std, blur σ, threshold, intensity / mud σ, 0 = water | 1 = mud).
   * make_cifar_c.py / make_imagenet_c.py `spatter`.
   */
  spatter: {
    "cifar10-c": [
      [0.62, 0.1, 0.7, 0.7, 0.5, 0],
      [0.65, 0.1, 0.8, 0.7, 0.5, 0],
      [0.65, 0.3, 1, 0.69, 0.5, 0],
      [0.65, 0.1, 0.7, 0.69, 0.6, 1],
      [0.65, 0.1, 0.5, 0.68, 0.6, 1],
    ],
    "imagenet-c": [
      [0.65, 0.3, 4, 0.69, 0.6, 0],
      [0.65, 0.3, 3, 0.68, 0.6, 0],
      [0.65, 0.3, 2, 0.68, 0.5, 0],
      [0.65, 0.3, 1, 0.65, 1.5, 1],
      [0.67, 0.4, 1, 0.65, 1.5, 1],
    ],
  },
} as const satisfies Record<string, Table<number | readonly number[]>>;

/** Add per-pixel layers to every channel and clip: out = f(x, gray(x)) per value. */
const mapPixels = (
  img: Float32Array,
  shape: Shape,
  f: (v: number, gray: number, pixel: number, channel: number) => number,
): Float32Array => {
  const [h, w, c] = shape;
  const out = new Float32Array(img.length);
  for (let i = 0; i < h * w; i++) {
    const gray = c === 3 ? cvGray(img[i * 3], img[i * 3 + 1], img[i * 3 + 2]) : img[i];
    for (let k = 0; k < c; k++) out[i * c + k] = clip01(f(img[i * c + k], gray, i, k));
  }
  return out;
};

/**
 * Snow: a thresholded, zoomed normal layer, motion-blurred by ImageMagick at an
 * angle in [−135°, −45°], added with its 180° rotation to an image brightened
 * toward max(x, 1.5·gray + 0.5). make_cifar_c.py `snow` (the PNG round trip of
 * the layer is kept as 8-bit quantisation).
 */
export const snow: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [loc, scale, zoom, threshold, radius, sigma, blend] = pick(WEATHER_CONSTANTS.snow, constants, severity);
  const [h, w] = shape;
  let layer: Float64Array = new Float64Array(h * w);
  for (let i = 0; i < layer.length; i++) layer[i] = loc + scale * rng.normal();
  layer = clippedZoom(layer, h, w, zoom);
  for (let i = 0; i < layer.length; i++) {
    const v = layer[i] < threshold ? 0 : layer[i];
    layer[i] = Math.trunc(clip01(v) * 255) / 255;
  }
  const angle = -135 + 90 * rng.float();
  const blurred = motionBlurPlane(layer, h, w, radius, sigma, angle).map((v) => Math.round(clip01(v) * 255) / 255);
  const n = h * w;
  return mapPixels(img, shape, (v, gray, i) => {
    const x = blend * v + (1 - blend) * Math.max(v, gray * 1.5 + 0.5);
    return x + blurred[i] + blurred[n - 1 - i];
  });
};

/** Draw an anti-aliased segment (max-combined) of `intensity` into `layer`. */
const drawSegment = (
  layer: Float64Array,
  h: number,
  w: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  intensity: number,
): void => {
  const halfWidth = 0.8;
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - 1));
  const maxX = Math.min(w - 1, Math.ceil(Math.max(x0, x1) + 1));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - 1));
  const maxY = Math.min(h - 1, Math.ceil(Math.max(y0, y1) + 1));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const t = len2 > 0 ? Math.min(1, Math.max(0, ((x - x0) * dx + (y - y0) * dy) / len2)) : 0;
      const d = Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
      const v = intensity * Math.max(0, 1 - d / halfWidth);
      if (v > layer[y * w + x]) layer[y * w + x] = v;
    }
  }
};

/**
 * A seeded frost-like texture in [0, 1] (stand-in for the reference's frost
 * photographs): a rough plasma-fractal haze (ice film) plus dendritic ice crystals,
 * straight needles with side branches at ±60° (hexagonal ice), lightly blurred and
 * tinted icy blue-white. Returns one plane per channel of `shape`.
 */
export const frostTexture = (shape: Shape, rng: Rng): Float64Array[] => {
  const [h, w, c] = shape;
  const n = nextPow2(Math.max(h, w));
  const haze = cropTopLeft(plasmaFractal(n, 2, rng), n, h, w);
  const crystals = new Float64Array(h * w);
  const size = Math.max(h, w);
  const branch = (x: number, y: number, angle: number, len: number, intensity: number, depth: number): void => {
    const ex = x + len * Math.cos(angle);
    const ey = y + len * Math.sin(angle);
    drawSegment(crystals, h, w, x, y, ex, ey, intensity);
    if (depth === 0 || len < 2) return;
    const sides = 3;
    for (let j = 1; j <= sides; j++) {
      const t = j / (sides + 1);
      const side = rng.float() < 0.5 ? -1 : 1;
      branch(
        x + t * (ex - x),
        y + t * (ey - y),
        angle + (side * Math.PI) / 3,
        len * (1 - t) * (0.4 + 0.3 * rng.float()),
        intensity * 0.8,
        depth - 1,
      );
    }
  };
  const count = Math.max(2, Math.round((h * w) / 64));
  for (let k = 0; k < count; k++) {
    const x = rng.float() * w;
    const y = rng.float() * h;
    const angle = rng.float() * 2 * Math.PI;
    const len = size * (0.15 + 0.35 * rng.float());
    branch(x, y, angle, len, 0.55 + 0.45 * rng.float(), 2);
  }
  const tex = gaussianFilter(crystals.map((v, i) => 0.3 * haze[i] + 0.7 * v), h, w, 0.5, "nearest");
  const tint = [0.84, 0.93, 1];
  if (c === 1) {
    const g = cvGray(tint[0], tint[1], tint[2]);
    return [tex.map((v) => clip01(0.08 + v) * g)];
  }
  return tint.map((t) => tex.map((v) => clip01(0.08 + v) * t));
};

/**
 * Frost: clip(a·x + b·frost). make_cifar_c.py `frost`.
 * Deviation: the frost layer is a seeded procedural texture, not a crop of the six frost photographs.
 */
export const frost: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [a, b] = pick(WEATHER_CONSTANTS.frost, constants, severity);
  const tex = frostTexture(shape, rng);
  return mapPixels(img, shape, (v, _g, i, k) => a * v + b * tex[k][i]);
};

/**
 * Fog: add a·plasma_fractal (diamond-square, map size the next power of two ≥ H, W,
 * cropped) and rescale by max / (max + a). make_cifar_c.py `fog`.
 */
export const fog: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [a, decay] = pick(WEATHER_CONSTANTS.fog, constants, severity);
  const [h, w] = shape;
  let maxVal = 0;
  for (const v of img) if (v > maxVal) maxVal = v;
  const n = nextPow2(Math.max(h, w));
  const plasma = cropTopLeft(plasmaFractal(n, decay, rng), n, h, w);
  return mapPixels(img, shape, (v, _g, i) => ((v + a * plasma[i]) * maxVal) / (maxVal + a));
};

/**
 * Brightness: HSV value + c (clipped). make_cifar_c.py `brightness`; on grayscale
 * this is clip(x + c) (MNIST-C's gray → RGB → HSV route).
 */
export const brightness: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const c = pick(WEATHER_CONSTANTS.brightness, constants, severity);
  return editHsv(img, shape, (hsv) => {
    hsv[2] = clip01(hsv[2] + c);
  });
};

// ---------------------------------------------------------------------------
// OpenCV steps used by spatter's water branch (on uint8 planes held as numbers).

/** OpenCV `Canny(img, low, high)` (3×3 Sobel with replicated border, L1 magnitude); returns 255 on edges. */
export const cvCanny = (img: Float64Array, h: number, w: number, low: number, high: number): Float64Array => {
  const at = (y: number, x: number): number =>
    img[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  const dxs = new Float64Array(h * w);
  const dys = new Float64Array(h * w);
  const mag = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y, x - 1) -
        at(y + 1, x - 1);
      const dy = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y - 1, x) -
        at(y - 1, x + 1);
      dxs[y * w + x] = dx;
      dys[y * w + x] = dy;
      mag[y * w + x] = Math.abs(dx) + Math.abs(dy);
    }
  }
  const m = (y: number, x: number): number => (y < 0 || y >= h || x < 0 || x >= w ? 0 : mag[y * w + x]);
  // 0: weak candidate, 1: not an edge, 2: edge.
  const map = new Uint8Array(h * w).fill(1);
  const stack: number[] = [];
  const tg22 = Math.SQRT2 - 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = mag[i];
      if (!(v > low)) continue;
      const xs = Math.abs(dxs[i]);
      const ys = Math.abs(dys[i]);
      let isMax: boolean;
      if (ys < xs * tg22) isMax = v > m(y, x - 1) && v >= m(y, x + 1);
      else if (ys > xs * (tg22 + 2)) isMax = v > m(y - 1, x) && v >= m(y + 1, x);
      else {
        const s = dxs[i] * dys[i] < 0 ? -1 : 1;
        isMax = v > m(y - 1, x - s) && v > m(y + 1, x + s);
      }
      if (!isMax) continue;
      if (v > high) {
        map[i] = 2;
        stack.push(i);
      } else map[i] = 0;
    }
  }
  while (stack.length > 0) {
    const i = stack.pop() as number;
    const y = Math.floor(i / w);
    const x = i % w;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        const j = yy * w + xx;
        if (map[j] === 0) {
          map[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  return Float64Array.from(map, (v) => (v === 2 ? 255 : 0));
};

/** OpenCV `distanceTransform(src, DIST_L2, 5)`: 5×5 chamfer distance (1, 1.4, 2.1969) to the nearest zero. */
export const cvDistance5 = (src: Float64Array, h: number, w: number): Float64Array => {
  const inf = 1e9;
  const d = Float64Array.from(src, (v) => (v === 0 ? 0 : inf));
  const a = 1;
  const b = 1.4;
  const c = 2.1969;
  const fwd: ReadonlyArray<readonly [number, number, number]> = [
    [-2, -1, c],
    [-2, 1, c],
    [-1, -2, c],
    [-1, -1, b],
    [-1, 0, a],
    [-1, 1, b],
    [-1, 2, c],
    [0, -1, a],
  ];
  const pass = (ys: number[], xs: number[], sign: number): void => {
    for (const y of ys) {
      for (const x of xs) {
        let v = d[y * w + x];
        for (const [oy, ox, cost] of fwd) {
          const yy = y + sign * oy;
          const xx = x + sign * ox;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const cand = d[yy * w + xx] + cost;
          if (cand < v) v = cand;
        }
        d[y * w + x] = v;
      }
    }
  };
  const rows = Array.from({ length: h }, (_, i) => i);
  const cols = Array.from({ length: w }, (_, i) => i);
  pass(rows, cols, 1);
  pass(rows.reverse(), cols.reverse(), -1);
  return d;
};

/** OpenCV `equalizeHist` of a uint8 plane. */
export const cvEqualizeHist = (src: Float64Array): Float64Array => {
  const hist = new Float64Array(256);
  for (const v of src) hist[v]++;
  let i = 0;
  while (hist[i] === 0) i++;
  if (hist[i] === src.length) return src.map(() => i);
  const scale = 255 / (src.length - hist[i]);
  const lut = new Float64Array(256);
  let sum = 0;
  lut[i++] = 0;
  for (; i < 256; i++) {
    sum += hist[i];
    lut[i] = Math.min(255, Math.round(sum * scale));
  }
  return src.map((v) => lut[v]);
};

/**
 * Spatter: a blurred, thresholded normal "liquid" layer; at low severities water
 * drops (OpenCV Canny → distance transform → equalised, embossed, blurred shading,
 * pale turquoise), at high severities mud (blurred mask, brown). make_cifar_c.py
 * `spatter`. On grayscale the colours become their luma (0.299, 0.587, 0.114).
 */
export const spatter: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [loc, scale, sigma, threshold, intensity, mud] = pick(WEATHER_CONSTANTS.spatter, constants, severity);
  const [h, w] = shape;
  let liquid: Float64Array = new Float64Array(h * w);
  for (let i = 0; i < liquid.length; i++) liquid[i] = loc + scale * rng.normal();
  liquid = gaussianFilter(liquid, h, w, sigma, "nearest");
  for (let i = 0; i < liquid.length; i++) if (liquid[i] < threshold) liquid[i] = 0;
  if (mud === 0) {
    // (liquid * 255).astype(uint8); the reference would wrap values > 1, which its constants make vanishingly rare.
    const l8 = liquid.map((v) => Math.trunc(Math.min(255, Math.max(0, v * 255))));
    const edges = cvCanny(l8, h, w, 50, 150);
    let dist: Float64Array = cvDistance5(edges.map((v) => 255 - v), h, w).map((v) => Math.min(v, 20));
    dist = boxBlur3(dist, h, w).map((v) => Math.trunc(v));
    dist = cvEqualizeHist(dist);
    const ker = [-2, -1, 0, -1, 1, 1, 0, 1, 2];
    dist = filter2D(dist, h, w, ker, 3, 3, "mirror").map((v) => Math.min(255, Math.max(0, Math.round(v))));
    dist = boxBlur3(dist, h, w).map((v) => Math.round(v));
    const m = l8.map((v, i) => v * dist[i]);
    let maxM = 0;
    for (const v of m) if (v > maxM) maxM = v;
    for (let i = 0; i < m.length; i++) m[i] = maxM > 0 ? (m[i] / maxM) * intensity : 0;
    const color = [175 / 255, 238 / 255, 238 / 255];
    const grayColor = cvGray(color[0], color[1], color[2]);
    return mapPixels(img, shape, (v, _g, i, k) => v + m[i] * (shape[2] === 3 ? color[k] : grayColor));
  }
  const mask = gaussianFilter(liquid.map((v) => (v > threshold ? 1 : 0)), h, w, intensity, "nearest");
  for (let i = 0; i < mask.length; i++) if (mask[i] < 0.8) mask[i] = 0;
  const color = [63 / 255, 42 / 255, 20 / 255];
  const grayColor = cvGray(color[0], color[1], color[2]);
  return mapPixels(img, shape, (v, _g, i, k) => v * (1 - mask[i]) + mask[i] * (shape[2] === 3 ? color[k] : grayColor));
};
