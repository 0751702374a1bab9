/**
 * Blur corruptions of Hendrycks & Dietterich (ICLR 2019): defocus, glass, motion
 * and zoom blur (common) and Gaussian blur (extra), reimplemented from
 * `make_cifar_c.py` / `make_imagenet_c.py` of hendrycks/robustness. Each helper
 * of the reference (skimage `gaussian`, OpenCV `filter2D`/`GaussianBlur`,
 * ImageMagick motion blur, scipy `zoom`) is reproduced in image.ts.
 * @module
 */
import {
  arange,
  clippedZoom,
  type CorruptionFn,
  cvGaussianKernel,
  filter2D,
  fromPlanes,
  gaussianFilter,
  motionBlurPlane,
  perPlane,
  pick,
  type Table,
  toPlanes,
} from "./image.ts";

/** The published per-severity constants (severity 1 first). */
export const BLUR_CONSTANTS = {
  /** (disk radius, alias blur σ). make_cifar_c.py / make_imagenet_c.py `defocus_blur`. */
  defocus_blur: {
    "cifar10-c": [[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]],
    "imagenet-c": [[3, 0.1], [4, 0.5], [6, 0.5], [8, 0.5], [10, 0.5]],
  },
  /** (σ, max delta, iterations). make_cifar_c.py / make_imagenet_c.py `glass_blur`. */
  glass_blur: {
    "cifar10-c": [[0.05, 1, 1], [0.25, 1, 1], [0.4, 1, 1], [0.25, 1, 2], [0.4, 1, 2]],
    "imagenet-c": [[0.7, 1, 2], [0.9, 2, 1], [1, 2, 3], [1.1, 3, 2], [1.5, 4, 2]],
  },
  /** ImageMagick motion blur (radius, σ). make_cifar_c.py / make_imagenet_c.py `motion_blur`. */
  motion_blur: {
    "cifar10-c": [[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]],
    "imagenet-c": [[10, 3], [15, 5], [15, 8], [15, 12], [20, 15]],
  },
  /** Zoom factors np.arange(1, stop, step) as (stop, step). make_cifar_c.py / make_imagenet_c.py `zoom_blur`. */
  zoom_blur: {
    "cifar10-c": [[1.06, 0.01], [1.11, 0.01], [1.16, 0.01], [1.21, 0.01], [1.26, 0.01]],
    "imagenet-c": [[1.11, 0.01], [1.16, 0.01], [1.21, 0.02], [1.26, 0.02], [1.31, 0.03]],
  },
  /** σ of skimage `gaussian`. make_cifar_c.py / make_imagenet_c.py `gaussian_blur`. */
  gaussian_blur: {
    "cifar10-c": [0.4, 0.6, 0.7, 0.8, 1],
    "imagenet-c": [1, 2, 3, 4, 6],
  },
} as const satisfies Record<string, Table<number | readonly number[]>>;

/**
 * `disk(radius, alias_blur)` of make_cifar_c.py: the normalised aliased disk
 * X² + Y² ≤ r² on a 17×17 grid (or (2r+1)² for r > 8), smoothed by OpenCV
 * `GaussianBlur` (3×3, or 5×5 for r > 8). Returns [kernel, size].
 */
export const diskKernel = (radius: number, aliasBlur: number): [Float64Array, number] => {
  const l = radius <= 8 ? arange(-8, 9, 1) : arange(-radius, radius + 1, 1);
  const ksize = radius <= 8 ? 3 : 5;
  const n = l.length;
  const d = new Float64Array(n * n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = l[j] ** 2 + l[i] ** 2 <= radius ** 2 ? 1 : 0;
      d[i * n + j] = v;
      s += v;
    }
  }
  for (let i = 0; i < d.length; i++) d[i] /= s;
  const g = cvGaussianKernel(ksize, aliasBlur);
  const g2 = new Float64Array(ksize * ksize);
  for (let i = 0; i < ksize; i++) for (let j = 0; j < ksize; j++) g2[i * ksize + j] = g[i] * g[j];
  return [filter2D(d, n, n, g2, ksize, ksize, "mirror"), n];
};

/** Defocus blur: convolution with an anti-aliased disk. make_cifar_c.py `defocus_blur`. */
export const defocusBlur: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const [radius, alias] = pick(BLUR_CONSTANTS.defocus_blur, constants, severity);
  const [k, n] = diskKernel(radius, alias);
  return perPlane(img, shape, (p, h, w) => filter2D(p, h, w, k, n, n, "mirror"));
};

/**
 * Glass blur: skimage Gaussian blur, quantisation to uint8, local pixel shuffling
 * (for each pixel from the bottom-right, exchange with one at offset randint(−d, d)
 * in each axis), blur again. make_cifar_c.py `glass_blur`. As in the reference, the
 * pixel is overwritten by its partner: numpy's view aliasing turns its swap of an RGB
 * 3-vector into a copy; grayscale images get the same (the constants were tuned with it).
 */
export const glassBlur: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [sigma, delta, iterations] = pick(BLUR_CONSTANTS.glass_blur, constants, severity);
  const [h, w] = shape;
  const planes = toPlanes(img, shape).map((p) => {
    const b = gaussianFilter(p, h, w, sigma, "nearest");
    for (let i = 0; i < b.length; i++) b[i] = Math.trunc(Math.min(1, Math.max(0, b[i])) * 255);
    return b;
  });
  for (let it = 0; it < iterations; it++) {
    for (let y = h - delta; y > delta; y--) {
      for (let x = w - delta; x > delta; x--) {
        const dx = rng.int(2 * delta) - delta;
        const dy = rng.int(2 * delta) - delta;
        const a = y * w + x;
        const b = (y + dy) * w + (x + dx);
        for (const p of planes) p[a] = p[b];
      }
    }
  }
  return fromPlanes(planes.map((p) => gaussianFilter(p.map((v) => v / 255), h, w, sigma, "nearest")), shape);
};

/**
 * Motion blur: ImageMagick's MotionBlurImage with a random angle in [−45°, 45°].
 * make_cifar_c.py `motion_blur` (its ImageMagick kernel is reproduced in image.ts;
 * no PNG round trip, so no 8-bit quantisation).
 */
export const motionBlur: CorruptionFn = (img, shape, severity, rng, constants) => {
  const [radius, sigma] = pick(BLUR_CONSTANTS.motion_blur, constants, severity);
  const angle = -45 + 90 * rng.float();
  return perPlane(img, shape, (p, h, w) => motionBlurPlane(p, h, w, radius, sigma, angle));
};

/** Zoom blur: the mean of the image and its centre zooms by each factor. make_cifar_c.py `zoom_blur`. */
export const zoomBlur: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const [stop, step] = pick(BLUR_CONSTANTS.zoom_blur, constants, severity);
  const factors = arange(1, stop, step);
  return perPlane(img, shape, (p, h, w) => {
    const acc = Float64Array.from(p);
    for (const z of factors) {
      const zoomed = clippedZoom(p, h, w, z);
      for (let i = 0; i < acc.length; i++) acc[i] += zoomed[i];
    }
    for (let i = 0; i < acc.length; i++) acc[i] /= factors.length + 1;
    return acc;
  });
};

/** Gaussian blur: skimage `gaussian` (mode "nearest", truncate 4). make_cifar_c.py `gaussian_blur`. */
export const gaussianBlur: CorruptionFn = (img, shape, severity, _rng, constants) => {
  const sigma = pick(BLUR_CONSTANTS.gaussian_blur, constants, severity);
  return perPlane(img, shape, (p, h, w) => gaussianFilter(p, h, w, sigma, "nearest"));
};
