/**
 * Noise corruptions on uint8 images, kept for the `corruption` shift plugin. The
 * implementations now live in the corruption library (`./corruptions/`); this
 * module adapts them to uint8 data: images are read as x / 255, corrupted, and, as
 * in the released CIFAR-10-C / ImageNet-C datasets, quantised back to uint8.
 * @module
 */
import type { Rng } from "../../core/random.ts";
import { addGaussian, NOISE_CONSTANTS as ALL_NOISE_CONSTANTS, saltAndPepper } from "./corruptions/noise.ts";
import type { ConstantSet } from "./corruptions/image.ts";

export type { ConstantSet } from "./corruptions/image.ts";

/** The published per-severity constants (severity 1 first) of the noises offered here. */
export const NOISE_CONSTANTS = {
  /** σ of additive Gaussian noise. CIFAR-10-C: make_cifar_c.py `gaussian_noise`; ImageNet-C: make_imagenet_c.py. */
  gaussian_noise: ALL_NOISE_CONSTANTS.gaussian_noise,
  /** `amount` of skimage's salt-and-pepper noise. CIFAR-10-C / ImageNet-C, as above. */
  impulse_noise: ALL_NOISE_CONSTANTS.impulse_noise,
} as const;

/** Names of the noise corruptions offered here. */
export type NoiseName = keyof typeof NOISE_CONSTANTS;

const toUnit = (src: Uint8Array): Float64Array => Float64Array.from(src, (v) => v / 255);
const toUint8 = (x: Float64Array): Uint8Array =>
  Uint8Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

/** `clip(x + N(0, σ²), 0, 1)` per value, x given as uint8; writes uint8. */
export const gaussianNoise = (src: Uint8Array, sigma: number, rng: Rng): Uint8Array =>
  toUint8(addGaussian(toUnit(src), sigma, rng));

/**
 * skimage `random_noise(x, mode="s&p", amount, salt_vs_pepper=0.5)`: each value is
 * replaced with probability `amount`, by 1 (salt) or 0 (pepper) with equal odds.
 */
export const impulseNoise = (src: Uint8Array, amount: number, rng: Rng): Uint8Array =>
  toUint8(saltAndPepper(toUnit(src), amount, rng));

/** Apply the named noise at `severity` (1–5) with the chosen constant table. */
export const applyNoise = (
  name: NoiseName,
  severity: number,
  constants: ConstantSet,
  src: Uint8Array,
  rng: Rng,
): Uint8Array => {
  const c = NOISE_CONSTANTS[name][constants][severity - 1];
  return name === "gaussian_noise" ? gaussianNoise(src, c, rng) : impulseNoise(src, c, rng);
};
