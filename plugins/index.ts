/**
 * The built-in plugins: every dataset, model, shift, selector and evaluator that
 * ships with scalpel.
 * @module
 */
import type { AnyPlugin } from "../core/plugin.ts";
import mnist from "./datasets/mnist.ts";
import fashionMnist from "./datasets/fashion_mnist.ts";
import idx from "./datasets/idx.ts";
import npy from "./datasets/npy.ts";
import imageFolder from "./datasets/image_folder.ts";
import natural from "./shifts/natural.ts";
import smallCnn from "./models/small_cnn.ts";
import resnetMini from "./models/resnet_mini.ts";
import tfjsLayers from "./models/tfjs_layers.ts";
import corruption from "./shifts/corruption.ts";
import labelPermutation from "./shifts/label_permutation.ts";
import labelNoise from "./shifts/label_noise.ts";
import classPrior from "./shifts/class_prior.ts";
import spurious from "./shifts/spurious.ts";
import subpopulation from "./shifts/subpopulation.ts";
import worstGroupAccuracy from "./evaluators/worst_group_accuracy.ts";
import { staticSelectors } from "./selectors/static.ts";
import byName from "./selectors/by_name.ts";
import { autoRgn, autoSnr } from "./selectors/auto.ts";
import { gradualUnfreezing, l2sp, lpFt } from "./selectors/schedules.ts";
import accuracy from "./evaluators/accuracy.ts";

/** Every built-in plugin. */
export const builtinPlugins: ReadonlyArray<AnyPlugin> = [
  mnist,
  fashionMnist,
  idx,
  npy,
  imageFolder,
  smallCnn,
  resnetMini,
  tfjsLayers,
  corruption,
  natural,
  labelPermutation,
  labelNoise,
  classPrior,
  spurious,
  subpopulation,
  ...staticSelectors,
  byName,
  autoRgn,
  autoSnr,
  gradualUnfreezing,
  l2sp,
  lpFt,
  accuracy,
  worstGroupAccuracy,
];
