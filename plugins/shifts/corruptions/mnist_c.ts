/**
 * The severity-free MNIST-C corruptions (Mu & Gilmer, 2019): stripe, dotted line,
 * zigzag, Canny edges and inverse, reimplemented from `corruptions.py` of
 * google-research/mnist-c. MNIST-C defines a single level for these, so the
 * severity (still validated as 1–5) and `constants` are ignored. Positions written
 * for 28×28 images are generalised to H×W (e.g. the line spans columns 0..W−1).
 * @module
 */
import type { Rng } from "../../../core/random.ts";
import { clip01, correlate1d, type CorruptionFn, gaussianFilter, type Shape, skGray, toPlanes } from "./image.ts";

/** Python's `[:, :stop]` / `[:, start:]` column bounds for a possibly negative index. */
const pyIndex = (i: number, n: number): number => (i < 0 ? Math.max(0, n + i) : Math.min(i, n));

/**
 * `line_from_points(c0, r0, c1, r1)` of corruptions.py on an h×w grid: intensity
 * log(1 − d/2.3) + 1 (clipped to [0, 1]) at vertical distance d from the line,
 * zero left of ⌊c0⌋ and from ⌈c1⌉ on (Python slice semantics).
 */
export const lineFromPoints = (
  c0: number,
  r0: number,
  c1: number,
  r1: number,
  h: number,
  w: number,
): Float64Array => {
  const out = new Float64Array(h * w);
  if (c1 === c0) return out;
  const m = (r1 - r0) / (c1 - c0);
  const l = pyIndex(Math.floor(c0), w);
  const r = pyIndex(Math.ceil(c1), w);
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) {
      if (col < l || col >= r) continue;
      const dist = Math.min(Math.abs(row - (m * (col - c0) + r0)), 2.3 - 1e-10);
      out[row * w + col] = clip01(Math.log(1 - dist / 2.3) + 1);
    }
  }
  return out;
};

/** x + layer on every channel, clipped. */
const addLayer = (img: Float32Array, shape: Shape, layer: Float64Array): Float32Array => {
  const c = shape[2];
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = clip01(img[i] + layer[Math.floor(i / c)]);
  return out;
};

/** Inverse: 1 − x. corruptions.py `inverse`. */
export const inverse: CorruptionFn = (img) => img.map((v) => clip01(1 - v));

/**
 * Stripe: invert the left and right quarter of the columns (x[:, :7] and x[:, 21:]
 * on 28 columns; here round(W/4) columns each side). corruptions.py `stripe`.
 */
export const stripe: CorruptionFn = (img, shape) => {
  const [h, w, c] = shape;
  const q = Math.round(w / 4);
  const out = Float32Array.from(img);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= q && x < w - q) continue;
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = clip01(1 - img[(y * w + x) * c + k]);
    }
  }
  return out;
};

/** np.random.randint(0, high) with high ≥ 1. */
const randint = (rng: Rng, high: number): number => rng.int(Math.max(1, high));

/**
 * Dotted line: a white line from (column 0, row r0) to (column W−1, row r1),
 * r0, r1 ∈ randint(0, H−1), kept only in 2-column blocks with odd block index.
 * corruptions.py `dotted_line`.
 */
export const dottedLine: CorruptionFn = (img, shape, _severity, rng) => {
  const [h, w] = shape;
  const r0 = randint(rng, h - 1);
  const r1 = randint(rng, h - 1);
  const layer = lineFromPoints(0, r0, w - 1, r1, h, w);
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) if (Math.floor(col / 2) % 2 === 0) layer[row * w + col] = 0;
  }
  return addLayer(img, shape, layer);
};

/**
 * Zigzag: a zigzag (segment length a = 2, width b = 2) from column 2 to column W−3,
 * starting at row r0 ∈ randint(0, H−1) and tilted toward row r0 + randint(−5, 5),
 * drawn as line_from_points segments. corruptions.py `zigzag` (including its
 * end-point formula); images narrower than 6 columns are returned unchanged.
 */
export const zigzag: CorruptionFn = (img, shape, _severity, rng) => {
  const [h, w] = shape;
  const a = 2;
  const b = 2;
  const c0 = 2;
  const c1 = w - 3;
  const r0 = randint(rng, h - 1);
  const r1 = r0 + rng.int(10) - 5;
  if (c1 <= c0) return Float32Array.from(img);
  const theta = Math.atan((r1 - r0) / (c1 - c0));
  const d = (c1 - c0) / Math.cos(theta);
  const pts: Array<[number, number]> = [[0, 0]];
  const count = Math.floor((d - a) / (2 * a)) + 1;
  let ri = 0;
  for (let i = 0; i < count; i++) {
    ri = (i % 2 === 0 ? 1 : -1) * b;
    pts.push([(2 * i + 1) * a, ri]);
  }
  const maxC = 2 * a * Math.floor(d / (2 * a));
  if (d !== maxC) pts.push([d, ri / (2 * (d - maxC))]);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cs = pts.map(([c, r]) => cos * c - sin * r + c0);
  const rs = pts.map(([c, r]) => sin * c + cos * r + r0);
  const layer = new Float64Array(h * w);
  for (let i = 1; i < pts.length; i++) {
    const seg = lineFromPoints(cs[i - 1], rs[i - 1], cs[i], rs[i], h, w);
    for (let j = 0; j < layer.length; j++) layer[j] += seg[j];
  }
  return addLayer(img, shape, layer);
};

/**
 * skimage `feature.canny(image)` with its defaults (σ = 1 with mask-normalised
 * smoothing, scipy Sobel, interpolated non-maximum suppression in four sectors,
 * hysteresis between 0.1 and 0.2 over 8-connected components). Returns 0/1.
 */
export const skCanny = (img: Float64Array, h: number, w: number, sigma = 1, low = 0.1, high = 0.2): Uint8Array => {
  const bleed = gaussianFilter(new Float64Array(h * w).fill(1), h, w, sigma, "constant");
  const smoothed = gaussianFilter(img, h, w, sigma, "constant").map((v, i) => v / (bleed[i] + 2.220446049250313e-16));
  const isobel = correlate1d(correlate1d(smoothed, h, w, [-1, 0, 1], 0, "reflect"), h, w, [1, 2, 1], 1, "reflect");
  const jsobel = correlate1d(correlate1d(smoothed, h, w, [-1, 0, 1], 1, "reflect"), h, w, [1, 2, 1], 0, "reflect");
  const mag = isobel.map((v, i) => Math.hypot(v, jsobel[i]));
  const M = (y: number, x: number): number => mag[y * w + x];
  const local = new Uint8Array(h * w);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const m = mag[i];
      if (!(m > 0)) continue;
      const is = isobel[i];
      const js = jsobel[i];
      const ai = Math.abs(is);
      const aj = Math.abs(js);
      // The four sectors in skimage's order; a later matching sector overwrites an earlier one.
      if (((is >= 0 && js >= 0) || (is <= 0 && js <= 0)) && ai >= aj) {
        const wt = aj / ai;
        const plus = M(y + 1, x + 1) * wt + M(y + 1, x) * (1 - wt) <= m;
        const minus = M(y - 1, x - 1) * wt + M(y - 1, x) * (1 - wt) <= m;
        local[i] = plus && minus ? 1 : 0;
      }
      if (((is >= 0 && js >= 0) || (is <= 0 && js <= 0)) && ai <= aj) {
        const wt = ai / aj;
        const plus = M(y + 1, x + 1) * wt + M(y, x + 1) * (1 - wt) <= m;
        const minus = M(y - 1, x - 1) * wt + M(y, x - 1) * (1 - wt) <= m;
        local[i] = plus && minus ? 1 : 0;
      }
      if (((is <= 0 && js >= 0) || (is >= 0 && js <= 0)) && ai <= aj) {
        const wt = ai / aj;
        const plus = M(y - 1, x + 1) * wt + M(y, x + 1) * (1 - wt) <= m;
        const minus = M(y + 1, x - 1) * wt + M(y, x - 1) * (1 - wt) <= m;
        local[i] = plus && minus ? 1 : 0;
      }
      if (((is <= 0 && js >= 0) || (is >= 0 && js <= 0)) && ai >= aj) {
        const wt = aj / ai;
        const plus = M(y - 1, x + 1) * wt + M(y - 1, x) * (1 - wt) <= m;
        const minus = M(y + 1, x - 1) * wt + M(y + 1, x) * (1 - wt) <= m;
        local[i] = plus && minus ? 1 : 0;
      }
    }
  }
  // Hysteresis: keep 8-connected components of the low mask that contain a high pixel.
  const out = new Uint8Array(h * w);
  const seen = new Uint8Array(h * w);
  for (let s = 0; s < h * w; s++) {
    if (seen[s] || !local[s] || !(mag[s] >= low)) continue;
    const comp: number[] = [];
    const stack = [s];
    seen[s] = 1;
    let strong = false;
    while (stack.length > 0) {
      const i = stack.pop() as number;
      comp.push(i);
      if (mag[i] >= high) strong = true;
      const y = Math.floor(i / w);
      const x = i % w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (!seen[j] && local[j] && mag[j] >= low) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    if (strong) { for (const i of comp) out[i] = 1; }
  }
  return out;
};

/**
 * Canny edges: the binary skimage Canny edge map replaces the image.
 * corruptions.py `canny_edges`; RGB images are converted with skimage `rgb2gray`
 * and the edge map is written to every channel.
 */
export const cannyEdges: CorruptionFn = (img, shape) => {
  const [h, w, c] = shape;
  const planes = toPlanes(img, shape);
  const gray = c === 3 ? planes[0].map((r, i) => skGray(r, planes[1][i], planes[2][i])) : planes[0];
  const edges = skCanny(gray, h, w);
  const out = new Float32Array(img.length);
  for (let i = 0; i < out.length; i++) out[i] = edges[Math.floor(i / c)];
  return out;
};
