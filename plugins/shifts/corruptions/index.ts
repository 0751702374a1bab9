/**
 * The image-corruption library: the 15 common corruptions and 4 extras of
 * Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
 * Corruptions and Perturbations" (ICLR 2019; code `make_cifar_c.py`,
 * `make_imagenet_c.py` of hendrycks/robustness), and the MNIST-C corruptions of
 * Mu & Gilmer (2019; `corruptions.py` of google-research/mnist-c) not among them.
 *
 * Contract of every `apply`: input Float32Array in [0, 1], shape [H, W, C]
 * (C = 1 or 3), row-major HWC; output a new Float32Array of the same length in
 * [0, 1]; severity an integer 1–5; deterministic given the Rng (all randomness is
 * drawn from it). Outputs are not quantised to uint8 (the released datasets are).
 *
 * Deviations from the reference procedures (one line each):
 * - frost: a seeded procedural frost texture replaces the crops of six frost photographs.
 * - jpeg_compression: jpeg-js encodes chroma 4:4:4 (PIL: 4:2:0); grayscale goes through R = G = B.
 * - motion_blur, snow: ImageMagick's motion-blur kernel is reimplemented; no PNG round trip for motion_blur.
 * - glass_blur, fog, snow, spatter, elastic_transform, zigzag, dotted_line: 32×32 / 28×28 sizes generalised to H×W.
 * - spatter: uint8 overflow of the liquid layer is clipped, not wrapped; OpenCV's integer arithmetic is done in floats.
 * - pixelate: PIL's BOX resize coefficients, in floating point without 8-bit rounding.
 * - saturate, brightness on grayscale: gray → RGB → HSV edit → skimage rgb2gray (MNIST-C's route).
 * - stripe, dotted_line, zigzag, canny_edges, inverse: MNIST-C has one level; severity is ignored.
 * @module
 */
import type { Rng } from "../../../core/random.ts";
import type { ConstantSet, CorruptionFn, Shape } from "./image.ts";
import { gaussianNoise, impulseNoise, shotNoise, speckleNoise } from "./noise.ts";
import { defocusBlur, gaussianBlur, glassBlur, motionBlur, zoomBlur } from "./blur.ts";
import { brightness, fog, frost, snow, spatter } from "./weather.ts";
import { contrast, elasticTransform, jpegCompression, jpegCompressionBatch, pixelate, saturate } from "./digital.ts";
import { rotate, scale, shear, translate } from "./geometric.ts";
import { cannyEdges, dottedLine, inverse, stripe, zigzag } from "./mnist_c.ts";

export type { ConstantSet, Shape } from "./image.ts";

/** All corruption names: the 15 common, the 4 extras, then the MNIST-C ones, in that order. */
export const CORRUPTION_NAMES = [
  "gaussian_noise",
  "shot_noise",
  "impulse_noise",
  "defocus_blur",
  "glass_blur",
  "motion_blur",
  "zoom_blur",
  "snow",
  "frost",
  "fog",
  "brightness",
  "contrast",
  "elastic_transform",
  "pixelate",
  "jpeg_compression",
  "speckle_noise",
  "gaussian_blur",
  "spatter",
  "saturate",
  "shear",
  "scale",
  "rotate",
  "translate",
  "stripe",
  "dotted_line",
  "zigzag",
  "canny_edges",
  "inverse",
] as const;

/** The name of a corruption. */
export type CorruptionName = (typeof CORRUPTION_NAMES)[number];

/** The 15 common corruptions of ImageNet-C / CIFAR-10-C, in the paper's order. */
export const COMMON_CORRUPTIONS: readonly CorruptionName[] = CORRUPTION_NAMES.slice(0, 15);

/** The family a corruption belongs to (Hendrycks & Dietterich's grouping; "mnist-c" for MNIST-C's own). */
export type CorruptionFamily = "noise" | "blur" | "weather" | "digital" | "mnist-c";

/** One corruption: its name, family, whether it is one of the 15 common ones, and `apply`. */
export interface Corruption {
  readonly name: CorruptionName;
  readonly family: CorruptionFamily;
  /** One of the 15 common corruptions. */
  readonly common: boolean;
  /**
   * Corrupt one image (Float32Array in [0, 1], HWC) at `severity` 1–5 with the chosen
   * published constants; returns a new array of the same length in [0, 1]. Throws a
   * RangeError on a bad shape, length, severity or constant set.
   */
  apply(img: Float32Array, shape: Shape, severity: number, rng: Rng, constants: ConstantSet): Float32Array;
  /**
   * Corrupt several same-shape images; equal to applying `apply` to each in order
   * with the same `rng`. Faster where set-up is shared (jpeg_compression: one encoder).
   */
  applyBatch(
    images: readonly Float32Array[],
    shape: Shape,
    severity: number,
    rng: Rng,
    constants: ConstantSet,
  ): Float32Array[];
}

const validate = (name: string, img: Float32Array, shape: Shape, severity: number, constants: ConstantSet): void => {
  const [h, w, c] = shape;
  if (shape.length !== 3 || ![h, w].every((n) => Number.isInteger(n) && n >= 1) || (c !== 1 && c !== 3)) {
    throw new RangeError(`${name}: shape must be [H, W, C] with H, W ≥ 1 and C ∈ {1, 3}, got [${shape.join(", ")}]`);
  }
  if (img.length !== h * w * c) {
    throw new RangeError(`${name}: image has ${img.length} values, shape [${shape.join(", ")}] needs ${h * w * c}`);
  }
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) {
    throw new RangeError(`${name}: severity must be an integer 1–5, got ${severity}`);
  }
  if (constants !== "cifar10-c" && constants !== "imagenet-c") {
    throw new RangeError(`${name}: constants must be "cifar10-c" or "imagenet-c", got ${String(constants)}`);
  }
};

/** A batch implementation: (validated) images, shape, severity, rng, constants → results. */
type BatchFn = (
  images: readonly Float32Array[],
  shape: Shape,
  severity: number,
  rng: Rng,
  constants: ConstantSet,
) => Float32Array[];

const make = (name: CorruptionName, family: CorruptionFamily, fn: CorruptionFn, batch?: BatchFn): Corruption => ({
  name,
  family,
  common: (COMMON_CORRUPTIONS as readonly string[]).includes(name),
  apply(img, shape, severity, rng, constants) {
    validate(name, img, shape, severity, constants);
    return fn(img, shape, severity, rng, constants);
  },
  applyBatch(images, shape, severity, rng, constants) {
    for (const img of images) validate(name, img, shape, severity, constants);
    return batch
      ? batch(images, shape, severity, rng, constants)
      : images.map((img) => fn(img, shape, severity, rng, constants));
  },
});

/** Every corruption by name. */
export const CORRUPTIONS: Record<CorruptionName, Corruption> = {
  gaussian_noise: make("gaussian_noise", "noise", gaussianNoise),
  shot_noise: make("shot_noise", "noise", shotNoise),
  impulse_noise: make("impulse_noise", "noise", impulseNoise),
  defocus_blur: make("defocus_blur", "blur", defocusBlur),
  glass_blur: make("glass_blur", "blur", glassBlur),
  motion_blur: make("motion_blur", "blur", motionBlur),
  zoom_blur: make("zoom_blur", "blur", zoomBlur),
  snow: make("snow", "weather", snow),
  frost: make("frost", "weather", frost),
  fog: make("fog", "weather", fog),
  brightness: make("brightness", "weather", brightness),
  contrast: make("contrast", "digital", contrast),
  elastic_transform: make("elastic_transform", "digital", elasticTransform),
  pixelate: make("pixelate", "digital", pixelate),
  jpeg_compression: make(
    "jpeg_compression",
    "digital",
    jpegCompression,
    (images, shape, severity, _rng, constants) => jpegCompressionBatch(images, shape, severity, constants),
  ),
  speckle_noise: make("speckle_noise", "noise", speckleNoise),
  gaussian_blur: make("gaussian_blur", "blur", gaussianBlur),
  spatter: make("spatter", "weather", spatter),
  saturate: make("saturate", "digital", saturate),
  shear: make("shear", "mnist-c", shear),
  scale: make("scale", "mnist-c", scale),
  rotate: make("rotate", "mnist-c", rotate),
  translate: make("translate", "mnist-c", translate),
  stripe: make("stripe", "mnist-c", stripe),
  dotted_line: make("dotted_line", "mnist-c", dottedLine),
  zigzag: make("zigzag", "mnist-c", zigzag),
  canny_edges: make("canny_edges", "mnist-c", cannyEdges),
  inverse: make("inverse", "mnist-c", inverse),
};

/** Apply the named corruption (see `Corruption.apply`). */
export const corrupt = (
  name: CorruptionName,
  img: Float32Array,
  shape: Shape,
  severity: number,
  rng: Rng,
  constants: ConstantSet = "cifar10-c",
): Float32Array => CORRUPTIONS[name].apply(img, shape, severity, rng, constants);
