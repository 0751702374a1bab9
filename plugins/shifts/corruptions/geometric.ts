/**
 * Affine corruptions of MNIST-C (Mu & Gilmer, 2019): shear, scale, rotate and
 * translate, reimplemented from `corruptions.py` of google-research/mnist-c. Each
 * is skimage `transform.warp(x, inverse_map=AffineTransform(...))` with bilinear
 * interpolation and a constant 0 border, the transform keeping the image centre
 * ((W − 1)/2, (H − 1)/2) fixed (13.5 on MNIST's 28×28). These ignore `constants`.
 * @module
 */
import type { Rng } from "../../../core/random.ts";
import { bilinear, type CorruptionFn, perPlane } from "./image.ts";

/** MNIST-C's per-severity constants (severity 1 first), from corruptions.py. */
export const GEOMETRIC_CONSTANTS = {
  /** Shear angle (radians), random sign. corruptions.py `shear`. */
  shear: [0.2, 0.4, 0.6, 0.8, 1],
  /** Rotation angle (radians), random sign. corruptions.py `rotate`. */
  rotate: [0.2, 0.4, 0.6, 0.8, 1],
  /** Inverse-map scale factor (> 1 shrinks the content). corruptions.py `scale`. */
  scale: [1 / 0.9, 1 / 0.8, 1 / 0.7, 1 / 0.6, 1 / 0.5],
  /** Shift in pixels along each axis, random signs. corruptions.py `translate`. */
  translate: [1, 2, 3, 4, 5],
} as const;

/** np.random.choice([−1, 1]). */
const sign = (rng: Rng): number => (rng.int(2) === 0 ? -1 : 1);

/**
 * skimage `warp` with the inverse map (col, row) ↦ (a1·col + a2·row + a3, b1·col + b2·row + b3),
 * where (a3, b3) keep the centre fixed unless `translation` is given.
 */
const warpAffine = (
  img: Float32Array,
  shape: readonly [number, number, number],
  a1: number,
  a2: number,
  b1: number,
  b2: number,
  translation?: readonly [number, number],
): Float32Array => {
  const [h, w] = shape;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const a3 = translation ? translation[0] : cx - a1 * cx - a2 * cy;
  const b3 = translation ? translation[1] : cy - b1 * cx - b2 * cy;
  return perPlane(img, shape, (p) => {
    const out = new Float64Array(h * w);
    for (let row = 0; row < h; row++) {
      for (let col = 0; col < w; col++) {
        out[row * w + col] = bilinear(p, h, w, b1 * col + b2 * row + b3, a1 * col + a2 * row + a3, "constant", 0);
      }
    }
    return out;
  });
};

/** Shear: AffineTransform(shear=±c) = [[1, −sin c], [0, cos c]]. corruptions.py `shear`. */
export const shear: CorruptionFn = (img, shape, severity, rng) => {
  const c = GEOMETRIC_CONSTANTS.shear[severity - 1] * sign(rng);
  return warpAffine(img, shape, 1, -Math.sin(c), 0, Math.cos(c));
};

/** Rotate: AffineTransform(rotation=±c) about the centre. corruptions.py `rotate`. */
export const rotate: CorruptionFn = (img, shape, severity, rng) => {
  const c = GEOMETRIC_CONSTANTS.rotate[severity - 1] * sign(rng);
  return warpAffine(img, shape, Math.cos(c), -Math.sin(c), Math.sin(c), Math.cos(c));
};

/** Scale: AffineTransform(scale=(c, c)) about the centre (zooms out). corruptions.py `scale`. */
export const scale: CorruptionFn = (img, shape, severity) => {
  const c = GEOMETRIC_CONSTANTS.scale[severity - 1];
  return warpAffine(img, shape, c, 0, 0, c);
};

/** Translate: shift by (±c, ±c) pixels, zero fill. corruptions.py `translate`. */
export const translate: CorruptionFn = (img, shape, severity, rng) => {
  const c = GEOMETRIC_CONSTANTS.translate[severity - 1];
  const dx = c * sign(rng);
  const dy = c * sign(rng);
  return warpAffine(img, shape, 1, 0, 0, 1, [dx, dy]);
};
