/**
 * Digital corruptions of Hendrycks & Dietterich (ICLR 2019): contrast, elastic
 * transform, pixelate and JPEG compression (common) and saturate (extra),
 * reimplemented from `make_cifar_c.py` / `make_imagenet_c.py` of
 * hendrycks/robustness. JPEG uses a real baseline JPEG codec (npm `jpeg-js`).
 * @module
 */
import { decode as jpegDecode, encode as jpegEncode } from "jpeg-js";
import {
  bilinear,
  clip01,
  type ConstantSet,
  type CorruptionFn,
  editHsv,
  fromPlanes,
  gaussianFilter,
  perPlane,
  pick,
  resizeBox,
  type Shape,
  type Table,
  toPlanes,
} from "./image.ts";

/** The published per-severity constants (severity 1 first). */
export const DIGITAL_CONSTANTS = {
  /** Contrast factor around the per-channel mean. make_cifar_c.py / make_imagenet_c.py `contrast`. */
  contrast: {
    "cifar10-c": [0.75, 0.5, 0.4, 0.3, 0.15],
    "imagenet-c": [0.4, 0.3, 0.2, 0.1, 0.05],
  },
  /**
   * (displacement α, smoothing σ, affine jitter) as multiples of the image size:
   * make_cifar_c.py `elastic_transform` uses IMSIZE·k with IMSIZE = 32, make_imagenet_c.py
   * uses 244·k on 224-pixel images (scaled here by 244/224).
   */
  elastic_transform: {
    "cifar10-c": [[0, 0, 0.08], [0.05, 0.2, 0.07], [0.08, 0.06, 0.06], [0.1, 0.04, 0.05], [0.1, 0.03, 0.03]],
    "imagenet-c": [[2, 0.7, 0.1], [2, 0.08, 0.2], [0.05, 0.01, 0.02], [0.07, 0.01, 0.02], [0.12, 0.01, 0.02]],
  },
  /** Down-sampling factor of the PIL BOX resize. make_cifar_c.py / make_imagenet_c.py `pixelate`. */
  pixelate: {
    "cifar10-c": [0.95, 0.9, 0.85, 0.75, 0.65],
    "imagenet-c": [0.6, 0.5, 0.4, 0.3, 0.25],
  },
  /** JPEG quality. make_cifar_c.py / make_imagenet_c.py `jpeg_compression`. */
  jpeg_compression: {
    "cifar10-c": [80, 65, 58, 50, 40],
    "imagenet-c": [25, 18, 15, 10, 7],
  },
  /** (saturation factor, offset) in HSV. make_cifar_c.py / make_imagenet_c.py `saturate`. */
  saturate: {
    "cifar10-c": [[0.3, 0], [0.1, 0], [1.5, 0], [2, 0.1], [2.5, 0.2]],
    "imagenet-c": [[0.3, 0], [0.1, 0], [2, 0], [5, 0.1], [20, 0.2]],
  },
} as const satisfies Record<string, Table<number | readonly number[]>>;

/** Contrast: (x − mean) · c + mean with per-channel means. make_cifar_c.py `contrast`. */
export const contrast: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const c = pick(DIGITAL_CONSTANTS.contrast, constants, severity);
  return perPlane(img, shape, (p) => {
    let mean = 0;
    for (const v of p) mean += v;
    mean /= p.length;
    return p.map((v) => (v - mean) * c + mean);
  });
};

/** Solve the 3×3 system A·u = b (Cramer's rule). */
const solve3 = (a: readonly number[], b: readonly number[]): [number, number, number] => {
  const det = (m: readonly number[]): number =>
    m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det(a);
  const col = (k: number): number[] => a.map((v, i) => (i % 3 === k ? b[Math.floor(i / 3)] : v));
  return [det(col(0)) / d, det(col(1)) / d, det(col(2)) / d];
};

/**
 * Elastic transform: a random affine warp (OpenCV `getAffineTransform` of three
 * jittered points, `warpAffine` bilinear with BORDER_REFLECT_101), then a smooth
 * random displacement field (skimage `gaussian` of U(−1, 1), mode "reflect",
 * truncate 3, times α) applied with scipy `map_coordinates` (order 1, "reflect").
 * make_cifar_c.py `elastic_transform`, with IMSIZE = min(H, W).
 */
export const elasticTransform: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [h, w] = shape;
  const size = Math.min(h, w) * (constants === "imagenet-c" ? 244 / 224 : 1);
  const [ka, ks, kj] = pick(DIGITAL_CONSTANTS.elastic_transform, constants, severity);
  const alpha = ka * size;
  const sigma = ks * size;
  const jitter = kj * size;
  // center_square = float32(shape[:2]) // 2, used as OpenCV (x, y) points as in the reference.
  const c0 = Math.floor(h / 2);
  const c1 = Math.floor(w / 2);
  const sq = Math.floor(Math.min(h, w) / 3);
  const pts1 = [[c0 + sq, c1 + sq], [c0 + sq, c1 - sq], [c0 - sq, c1 - sq]];
  const pts2 = pts1.map((
    [x, y],
  ) => [x + (-jitter + 2 * jitter * rng.float()), y + (-jitter + 2 * jitter * rng.float())]);
  const a = pts1.flatMap(([x, y]) => [x, y, 1]);
  const [m00, m01, m02] = solve3(a, pts2.map((p) => p[0]));
  const [m10, m11, m12] = solve3(a, pts2.map((p) => p[1]));
  // warpAffine samples src at M⁻¹·(x, y).
  const det = m00 * m11 - m01 * m10;
  const i00 = m11 / det;
  const i01 = -m01 / det;
  const i10 = -m10 / det;
  const i11 = m00 / det;
  const i02 = -(i00 * m02 + i01 * m12);
  const i12 = -(i10 * m02 + i11 * m12);
  const field = (): Float64Array => {
    const u = new Float64Array(h * w);
    for (let i = 0; i < u.length; i++) u[i] = -1 + 2 * rng.float();
    return gaussianFilter(u, h, w, sigma, "reflect", 3).map((v) => v * alpha);
  };
  const dx = field();
  const dy = field();
  const planes = toPlanes(img, shape).map((p) => {
    const warped = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sx = i00 * x + i01 * y + i02;
        const sy = i10 * x + i11 * y + i12;
        warped[y * w + x] = bilinear(p, h, w, sy, sx, "mirror");
      }
    }
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        out[i] = bilinear(warped, h, w, y + dy[i], x + dx[i], "reflect");
      }
    }
    return out;
  });
  return fromPlanes(planes, shape);
};

/**
 * Pixelate: PIL BOX resize to (⌊W·c⌋, ⌊H·c⌋) and back (in floating point, without
 * PIL's 8-bit rounding). make_cifar_c.py `pixelate`.
 */
export const pixelate: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const c = pick(DIGITAL_CONSTANTS.pixelate, constants, severity);
  const [h, w] = shape;
  const sh = Math.max(1, Math.floor(h * c));
  const sw = Math.max(1, Math.floor(w * c));
  return perPlane(img, shape, (p) => resizeBox(resizeBox(p, h, w, sh, sw), sh, sw, h, w));
};

/**
 * JPEG round trip of several same-shape images at `quality` with the pure-JS
 * baseline codec `jpeg-js`. jpeg-js builds its Huffman tables for every `encode`
 * call (tens of ms), so the images are tiled vertically into one JPEG per ≤ 65 528
 * rows, each padded to whole 8×8 blocks by edge replication exactly as jpeg-js pads
 * a lone image; with 4:4:4 sampling every block is coded independently (DC
 * differences are lossless), so each result equals that of encoding it alone.
 */
export const jpegRoundTrip = (images: readonly Float32Array[], shape: Shape, quality: number): Float32Array[] => {
  const [h, w, c] = shape;
  const h8 = Math.ceil(h / 8) * 8;
  const w8 = Math.ceil(w / 8) * 8;
  const perChunk = Math.max(1, Math.floor(65528 / h8));
  const results: Float32Array[] = [];
  for (let start = 0; start < images.length; start += perChunk) {
    const chunk = images.slice(start, start + perChunk);
    const rgba = new Uint8Array(chunk.length * h8 * w8 * 4);
    chunk.forEach((img, n) => {
      for (let y = 0; y < h8; y++) {
        for (let x = 0; x < w8; x++) {
          const src = (Math.min(y, h - 1) * w + Math.min(x, w - 1)) * c;
          const dst = ((n * h8 + y) * w8 + x) * 4;
          for (let k = 0; k < 3; k++) rgba[dst + k] = Math.round(clip01(img[src + (c === 3 ? k : 0)]) * 255);
          rgba[dst + 3] = 255;
        }
      }
    });
    const encoded = jpegEncode({ data: rgba, width: w8, height: chunk.length * h8 }, quality);
    const decoded = jpegDecode(encoded.data, { useTArray: true, formatAsRGBA: true });
    chunk.forEach((_, n) => {
      const out = new Float32Array(h * w * c);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const d = ((n * h8 + y) * w8 + x) * 4;
          const o = (y * w + x) * c;
          if (c === 3) { for (let k = 0; k < 3; k++) out[o + k] = decoded.data[d + k] / 255; }
          else out[o] = (decoded.data[d] + decoded.data[d + 1] + decoded.data[d + 2]) / 3 / 255;
        }
      }
      results.push(out);
    });
  }
  return results;
};

/**
 * JPEG compression at the given quality with the pure-JS baseline codec `jpeg-js`
 * (IJG quantisation tables and quality scaling, as PIL/libjpeg). make_cifar_c.py
 * `jpeg_compression`. Deviation: jpeg-js encodes chroma at 4:4:4 (PIL uses 4:2:0);
 * grayscale is encoded as R = G = B (equal luma to a 1-channel JPEG) and read back as the channel mean.
 * Prefer `jpegCompressionBatch` for many images (one encoder set-up per batch).
 */
export const jpegCompression: CorruptionFn = (img, shape, severity, _rng, constants) =>
  jpegRoundTrip([img], shape, pick(DIGITAL_CONSTANTS.jpeg_compression, constants, severity))[0];

/** `jpegCompression` of many same-shape images at once (identical results, much faster). */
export const jpegCompressionBatch = (
  images: readonly Float32Array[],
  shape: Shape,
  severity: number,
  constants: ConstantSet,
): Float32Array[] => jpegRoundTrip(images, shape, pick(DIGITAL_CONSTANTS.jpeg_compression, constants, severity));

/**
 * Saturate: HSV saturation s·c + offset (clipped). make_cifar_c.py `saturate`.
 * Grayscale: replicated to RGB, edited in HSV, back with skimage `rgb2gray` (MNIST-C's
 * route); saturation is 0 there, so severities with offset 0 leave the image unchanged.
 */
export const saturate: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const [factor, offset] = pick(DIGITAL_CONSTANTS.saturate, constants, severity);
  return editHsv(img, shape, (hsv) => {
    hsv[1] = clip01(hsv[1] * factor + offset);
  });
};
