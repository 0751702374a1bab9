/**
 * Wasm-friendly gradients for `Mean` and `Sum`.
 *
 * The stock tfjs gradients build `tf.ones(x.shape)` in JavaScript (a full
 * activation-sized Float32Array, zeroed, filled and copied onto the wasm
 * heap, which also puts pressure on the GC) and multiply by it. With batch
 * norm written as `tf.moments` that happens twice per BN layer and was
 * ~10% of a resnet-mini training step on wasm. On the wasm backend these
 * gradients instead broadcast dy with `tf.broadcastTo` (our block-copy
 * `Tile` kernel). On every other backend the stock gradient runs unchanged.
 *
 * @module
 */
import {
  backend_util,
  broadcastTo,
  div,
  getBackend,
  type GradConfig,
  type NamedAttrMap,
  reshape,
  type Tensor,
  util,
} from "@tensorflow/tfjs-core";
import { WASM } from "./wasm_util.ts";

/** Gradient thunks per input, as returned by a `GradFunc`. */
type NamedGradientMap = ReturnType<GradConfig["gradFunc"]>;

/** The stock gradients, captured when the replacements are installed. */
const stock = new Map<string, GradConfig>();

/** Remembers the stock gradient of `kernelName` (once) for non-wasm use. */
export function setStockGradient(kernelName: string, g: GradConfig): void {
  if (!stock.has(kernelName)) stock.set(kernelName, g);
}

/** dy reshaped to x's rank with the reduced axes kept as size 1. */
function expandDy(dy: Tensor, x: Tensor, attrs: NamedAttrMap): Tensor {
  const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return reshape(dy, shape);
}

function reduceSize(x: Tensor, attrs: NamedAttrMap): number {
  const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
  const [, reduceShape] = backend_util.computeOutAndReduceShapes(
    x.shape,
    axes,
  );
  return util.sizeFromShape(reduceShape);
}

function useStock(
  name: string,
  dy: Tensor | Tensor[],
  saved: Tensor[],
  attrs: NamedAttrMap,
): NamedGradientMap | undefined {
  const single = Array.isArray(dy) ? dy[0] : dy;
  if (getBackend() === WASM && single.dtype === "float32") return undefined;
  const g = stock.get(name);
  return g?.gradFunc(dy, saved, attrs);
}

/** `Mean` gradient: broadcast dy / reduceSize back to x's shape. */
export const meanGradWasmConfig: GradConfig = {
  kernelName: "Mean",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const viaStock = useStock("Mean", dy, saved, attrs);
    if (viaStock != null) return viaStock;
    const [x] = saved;
    const d = Array.isArray(dy) ? dy[0] : dy;
    return {
      x: () => broadcastTo(div(expandDy(d, x, attrs), reduceSize(x, attrs)), x.shape),
    };
  },
};

/** `Sum` gradient: broadcast dy back to x's shape. */
export const sumGradWasmConfig: GradConfig = {
  kernelName: "Sum",
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const viaStock = useStock("Sum", dy, saved, attrs);
    if (viaStock != null) return viaStock;
    const [x] = saved;
    const d = Array.isArray(dy) ? dy[0] : dy;
    return { x: () => broadcastTo(expandDy(d, x, attrs), x.shape) };
  },
};
