/**
 * Noise corruptions of Hendrycks & Dietterich (ICLR 2019): gaussian, shot and
 * impulse noise (common) and speckle noise (extra), reimplemented from
 * `make_cifar_c.py` (CIFAR-10-C) and `make_imagenet_c.py` (ImageNet-C) of
 * hendrycks/robustness. Values are drawn per element in HWC (numpy C) order.
 * @module
 */
import type { Rng } from "../../../core/random.ts";
import { clip01, type CorruptionFn, pick, type Table } from "./image.ts";

/** The published per-severity constants (severity 1 first). */
export const NOISE_CONSTANTS = {
  /** σ of additive Gaussian noise. make_cifar_c.py / make_imagenet_c.py `gaussian_noise`. */
  gaussian_noise: {
    "cifar10-c": [0.04, 0.06, 0.08, 0.09, 0.10],
    "imagenet-c": [0.08, 0.12, 0.18, 0.26, 0.38],
  },
  /** Photon count c of Poisson noise poisson(x·c)/c. make_cifar_c.py / make_imagenet_c.py `shot_noise`. */
  shot_noise: {
    "cifar10-c": [500, 250, 100, 75, 50],
    "imagenet-c": [60, 25, 12, 5, 3],
  },
  /** `amount` of skimage's salt-and-pepper noise. make_cifar_c.py / make_imagenet_c.py `impulse_noise`. */
  impulse_noise: {
    "cifar10-c": [0.01, 0.02, 0.03, 0.05, 0.07],
    "imagenet-c": [0.03, 0.06, 0.09, 0.17, 0.27],
  },
  /** σ of multiplicative noise x + x·N(0, σ²). make_cifar_c.py / make_imagenet_c.py `speckle_noise`. */
  speckle_noise: {
    "cifar10-c": [0.06, 0.1, 0.12, 0.16, 0.2],
    "imagenet-c": [0.15, 0.2, 0.35, 0.45, 0.6],
  },
} as const satisfies Record<string, Table<number>>;

/** `clip(x + N(0, σ²), 0, 1)` per value (x in [0, 1]); one normal draw per value. */
export const addGaussian = (src: ArrayLike<number>, sigma: number, rng: Rng): Float64Array => {
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = clip01(src[i] + rng.normal() * sigma);
  return out;
};

/**
 * skimage `random_noise(x, mode="s&p", amount, salt_vs_pepper=0.5)` (skimage ≥ 0.19
 * semantics): each value is replaced with probability `amount`, by 1 (salt) or 0
 * (pepper) with equal odds. Draws: one uniform per value, a second one when replaced.
 */
export const saltAndPepper = (src: ArrayLike<number>, amount: number, rng: Rng): Float64Array => {
  const out = Float64Array.from(src);
  for (let i = 0; i < src.length; i++) {
    if (rng.float() < amount) out[i] = rng.float() < 0.5 ? 1 : 0;
  }
  return out;
};

/** numpy's `loggam` (log Γ(x)), as used by its Poisson sampler. */
const loggam = (x: number): number => {
  const a = [
    8.333333333333333e-02,
    -2.777777777777778e-03,
    7.936507936507937e-04,
    -5.952380952380952e-04,
    8.417508417508418e-04,
    -1.917526917526918e-03,
    6.410256410256410e-03,
    -2.955065359477124e-02,
    1.796443723688307e-01,
    -1.39243221690590e+00,
  ];
  if (x === 1 || x === 2) return 0;
  let x0 = x;
  let n = 0;
  if (x <= 7) {
    n = Math.trunc(7 - x);
    x0 = x + n;
  }
  const x2 = 1 / (x0 * x0);
  let gl0 = a[9];
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + a[k];
  let gl = gl0 / x0 + 0.5 * Math.log(2 * Math.PI) + (x0 - 0.5) * Math.log(x0) - x0;
  if (x <= 7) {
    for (let k = 1; k <= n; k++) {
      gl -= Math.log(x0 - 1);
      x0 -= 1;
    }
  }
  return gl;
};

/**
 * A Poisson(λ) draw with numpy's (legacy) algorithms: multiplication of uniforms
 * for λ < 10, Hörmann's PTRS transformed rejection for λ ≥ 10.
 */
export const poisson = (lam: number, rng: Rng): number => {
  if (lam <= 0) return 0;
  if (lam < 10) {
    const enlam = Math.exp(-lam);
    let x = 0;
    let prod = 1;
    for (;;) {
      prod *= rng.float();
      if (prod > enlam) x += 1;
      else return x;
    }
  }
  const slam = Math.sqrt(lam);
  const loglam = Math.log(lam);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.float() - 0.5;
    const v = rng.float();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lam + k * loglam - loggam(k + 1)) {
      return k;
    }
  }
};

const toF32 = (v: Float64Array): Float32Array => Float32Array.from(v);

/** Gaussian noise: clip(x + N(0, c²)). make_cifar_c.py `gaussian_noise`. */
export const gaussianNoise: CorruptionFn = (img, _shape, severity, rng, constants) =>
  toF32(addGaussian(img, pick(NOISE_CONSTANTS.gaussian_noise, constants, severity), rng));

/** Shot (Poisson) noise: clip(poisson(x·c) / c). make_cifar_c.py `shot_noise`. */
export const shotNoise: CorruptionFn = (img, _shape, severity, rng, constants) => {
  const c = pick(NOISE_CONSTANTS.shot_noise, constants, severity);
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = clip01(poisson(img[i] * c, rng) / c);
  return out;
};

/** Impulse (salt-and-pepper) noise. make_cifar_c.py `impulse_noise`. */
export const impulseNoise: CorruptionFn = (img, _shape, severity, rng, constants) =>
  toF32(saltAndPepper(img, pick(NOISE_CONSTANTS.impulse_noise, constants, severity), rng));

/** Speckle noise: clip(x + x·N(0, c²)). make_cifar_c.py `speckle_noise`. */
export const speckleNoise: CorruptionFn = (img, _shape, severity, rng, constants) => {
  const c = pick(NOISE_CONSTANTS.speckle_noise, constants, severity);
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = clip01(img[i] + img[i] * rng.normal() * c);
  return out;
};
