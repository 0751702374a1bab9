/**
 * Noise corruptions of Hendrycks & Dietterich (ICLR 2019), reimplemented from
 * their published code (`make_cifar_c.py` for CIFAR-10-C, `make_imagenet_c.py`
 * for ImageNet-C). Images are float in [0, 1]; results are clipped to [0, 1] and,
 * as in the released datasets, quantised back to uint8.
 * @module
 */
import type { Rng } from "../../core/random.ts";

/** The published per-severity constants (severity 1 first). */
export const NOISE_CONSTANTS = {
  /** σ of additive Gaussian noise. CIFAR-10-C: make_cifar_c.py `gaussian_noise`; ImageNet-C: make_imagenet_c.py. */
  gaussian_noise: {
    "cifar10-c": [0.04, 0.06, 0.08, 0.09, 0.10],
    "imagenet-c": [0.08, 0.12, 0.18, 0.26, 0.38],
  },
  /** `amount` of skimage's salt-and-pepper noise. CIFAR-10-C / ImageNet-C, as above. */
  impulse_noise: {
    "cifar10-c": [0.01, 0.02, 0.03, 0.05, 0.07],
    "imagenet-c": [0.03, 0.06, 0.09, 0.17, 0.27],
  },
} as const;

/** Names of the noise corruptions implemented here. */
export type NoiseName = keyof typeof NOISE_CONSTANTS;
/** Which published constant table to use. */
export type ConstantSet = "cifar10-c" | "imagenet-c";

/** `clip(x + N(0, σ²), 0, 1)` per value, x given as uint8; writes uint8. */
export const gaussianNoise = (src: Uint8Array, sigma: number, rng: Rng): Uint8Array => {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i] / 255 + rng.normal() * sigma;
    out[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return out;
};

/**
 * skimage `random_noise(x, mode="s&p", amount, salt_vs_pepper=0.5)`: each value is
 * replaced with probability `amount`, by 1 (salt) or 0 (pepper) with equal odds.
 */
export const impulseNoise = (src: Uint8Array, amount: number, rng: Rng): Uint8Array => {
  const out = new Uint8Array(src);
  for (let i = 0; i < src.length; i++) {
    if (rng.float() < amount) out[i] = rng.float() < 0.5 ? 255 : 0;
  }
  return out;
};

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
