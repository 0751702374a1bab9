/*
 * Batch norm in train mode over the rows of x [R, C] (an NHWC tensor viewed with
 * R = N·H·W), in three passes that replace a dozen of tfjs's elementwise kernels, for
 * scalpel's wasm backend (core/kernels/batch_norm_simd.ts loads the compiled module and
 * plugins/models/layers.ts calls it):
 *
 *   bn_stats       mean[c] = Σ_r x[r,c] / R,  var[c] = Σ_r (x[r,c] − mean[c])² / R
 *   bn_apply       xhat = (x − mean) · invstd,  y = xhat · gamma + beta
 *   bn_grad_apply  dx = ((dy − a) − xhat · b) · s
 *
 * Bit for bit the tfjs ops they replace (tf.moments, then tf.sub/tf.mul/tf.add; the
 * closed-form gradient's tf.sub/tf.mul): every element goes through the same float
 * operations in the same order, each rounded to float, and each sum adds its terms one
 * by one in r order, as the stock `Mean` does. Four channels share one vector; nothing is
 * reassociated and nothing contracted into a fused multiply-add (-ffp-contract=off).
 *
 * Build (clang 14 and lld from Debian): deno task build:kernels
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

/* Channels summed together in one sweep over the rows (16 vectors of 4). */
#define BLOCK 64

/* mean [C] and biased variance [C] of x [R, C]; needs C % 4 == 0. Each channel's sums add its
 * terms in r order; the channels of a block go through the rows together (x read row by row). */
__attribute__((export_name("bn_stats"))) void bn_stats(const float* x, float* mean, float* var, u32 R, u32 C) {
  const v128_t count = wasm_f32x4_splat((float)R);
  v128_t acc[BLOCK / 4], m[BLOCK / 4];
  for (u32 c0 = 0; c0 < C; c0 += BLOCK) {
    const u32 n = (C - c0 < BLOCK ? C - c0 : BLOCK) / 4;
    for (u32 j = 0; j < n; j++) acc[j] = wasm_f32x4_splat(0.0f);
    for (u32 r = 0; r < R; r++) {
      const float* p = x + r * C + c0;
      for (u32 j = 0; j < n; j++) acc[j] = wasm_f32x4_add(acc[j], wasm_v128_load(p + 4 * j));
    }
    for (u32 j = 0; j < n; j++) {
      m[j] = wasm_f32x4_div(acc[j], count);
      wasm_v128_store(mean + c0 + 4 * j, m[j]);
      acc[j] = wasm_f32x4_splat(0.0f);
    }
    for (u32 r = 0; r < R; r++) {
      const float* p = x + r * C + c0;
      for (u32 j = 0; j < n; j++) {
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(p + 4 * j), m[j]);
        acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(d, d));
      }
    }
    for (u32 j = 0; j < n; j++) wasm_v128_store(var + c0 + 4 * j, wasm_f32x4_div(acc[j], count));
  }
}

/* xhat = (x − mean)·invstd and y = xhat·gamma + beta for rows [r0, r1) of x [R, C]; needs C % 4 == 0. */
__attribute__((export_name("bn_apply"))) void bn_apply(const float* x, const float* mean, const float* invstd,
                                                       const float* gamma, const float* beta, float* xhat, float* y,
                                                       u32 r0, u32 r1, u32 C) {
  for (u32 r = r0; r < r1; r++) {
    for (u32 c = 0; c < C; c += 4) {
      const u32 i = r * C + c;
      const v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + i), wasm_v128_load(mean + c)),
                                      wasm_v128_load(invstd + c));
      wasm_v128_store(xhat + i, h);
      wasm_v128_store(y + i, wasm_f32x4_add(wasm_f32x4_mul(h, wasm_v128_load(gamma + c)), wasm_v128_load(beta + c)));
    }
  }
}

/* dx = ((dy − a) − xhat·b)·s for rows [r0, r1) of [R, C], a, b, s per channel; needs C % 4 == 0. */
__attribute__((export_name("bn_grad_apply"))) void bn_grad_apply(const float* dy, const float* xhat, const float* a,
                                                                 const float* b, const float* s, float* dx, u32 r0,
                                                                 u32 r1, u32 C) {
  for (u32 r = r0; r < r1; r++) {
    for (u32 c = 0; c < C; c += 4) {
      const u32 i = r * C + c;
      const v128_t centred = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(dy + i), wasm_v128_load(a + c)),
                                            wasm_f32x4_mul(wasm_v128_load(xhat + i), wasm_v128_load(b + c)));
      wasm_v128_store(dx + i, wasm_f32x4_mul(centred, wasm_v128_load(s + c)));
    }
  }
}
