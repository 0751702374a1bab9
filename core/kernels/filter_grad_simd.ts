/**
 * scalpel's own SIMD filter-gradient kernel (core/kernels/c/filter_grad.c, compiled into
 * {@link FILTER_GRAD_WASM}): bit for bit the sum XNNPACK's conv computes for the same
 * gradient, at about twice its speed on one thread (see the C source for why the bits agree).
 * With {@link setFilterGradThreads} above 1, a helper thread computes half of the output
 * channels (core/kernels/helper_thread.ts).
 *
 * The module runs in a memory of its own (core/kernels/simd_module.ts): x and dy are
 * copied in from the tfjs heap (a memcpy each, a few percent of the kernel's time) and
 * the small result copied back.
 *
 * @module
 */
import { FILTER_GRAD_WASM } from "./filter_grad_wasm.ts";
import { simdModule } from "./simd_module.ts";
import { type HelperThread, startHelperThread } from "./helper_thread.ts";

/** Shape and geometry of one filter-gradient call (NHWC, dilation 1). */
export interface FilterGradGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly ci: number;
  readonly oh: number;
  readonly ow: number;
  readonly co: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly top: number;
  readonly left: number;
}

/** True when {@link filterGradSimd} takes this geometry (input channels in fours, output channels in eights). */
export const simdFilterGradFits = (g: FilterGradGeometry): boolean => g.ci % 4 === 0 && g.co % 8 === 0;

const module = simdModule(FILTER_GRAD_WASM, true);

let helper: HelperThread | undefined;

/**
 * Splits every later filter gradient between this thread and a helper thread (by output
 * channels; same bits) when `threads` > 1, or goes back to one thread. Called by
 * core/backend.ts with the wasm backend's thread count.
 */
export async function setFilterGradThreads(threads: number): Promise<void> {
  if (threads > 1 && helper == null) {
    const { module: compiled, memory } = module();
    helper = await startHelperThread(compiled, memory, "filter_grad_compute");
  } else if (threads <= 1 && helper != null) {
    helper.stop();
    helper = undefined;
  }
}

/**
 * dW [KH,KW,Ci,Co] of x [N,H,W,Ci] (floats `x`) and dy [N,OH,OW,Co] (floats `dy`),
 * written into `out`. Throws when the geometry does not fit ({@link simdFilterGradFits}).
 */
export function filterGradSimd(x: Float32Array, dy: Float32Array, out: Float32Array, g: FilterGradGeometry): void {
  if (!simdFilterGradFits(g)) {
    throw new Error(`filterGradSimd: needs Ci % 4 == 0 and Co % 8 == 0 (got Ci ${g.ci}, Co ${g.co})`);
  }
  const xLen = g.n * g.h * g.w * g.ci;
  const dyLen = g.n * g.oh * g.ow * g.co;
  const outLen = g.kh * g.kw * g.ci * g.co;
  if (x.length !== xLen || dy.length !== dyLen || out.length !== outLen) {
    throw new Error("filterGradSimd: x, dy or out does not have the geometry's size");
  }
  const { exports, base, floats } = module();
  const xAt = base;
  const dyAt = xAt + 4 * xLen;
  const xTAt = dyAt + 4 * dyLen;
  const dyTAt = xTAt + 4 * xLen;
  const outAt = dyTAt + 4 * dyLen;
  const f32 = floats(outAt + 4 * outLen - base);
  f32.set(x, xAt >>> 2);
  f32.set(dy, dyAt >>> 2);
  exports.filter_grad_prepare(xAt, dyAt, xTAt, dyTAt, g.n, g.h, g.w, g.ci, g.oh, g.ow, g.co);
  const shape = [g.n, g.h, g.w, g.ci, g.oh, g.ow, g.co, g.kh, g.kw, g.sh, g.sw, g.top, g.left];
  // output channels [0, split) here, [split, Co) in the helper (whole blocks of 8)
  const split = helper != null && g.co >= 16 ? 8 * Math.ceil(g.co / 16) : g.co;
  if (split < g.co) helper!.start([xTAt, dyTAt, outAt, ...shape, split, g.co]);
  exports.filter_grad_compute(xTAt, dyTAt, outAt, ...shape, 0, split);
  if (split < g.co) helper!.wait();
  out.set(f32.subarray(outAt >>> 2, (outAt >>> 2) + outLen));
}
