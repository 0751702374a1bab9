/*
 * The mean over the middle axis of x [A, R, C]: out[a, c] = (sum over r of x[a, r, c]) / R,
 * for scalpel's wasm backend (core/kernels/mean_simd.ts loads the compiled module). This
 * is tf.mean over the batch and spatial axes of an NHWC tensor (batch-norm statistics,
 * global average pooling).
 *
 * Bit for bit the stock tfjs wasm `Mean` kernel: that one transposes the reduced axes
 * innermost and then, for each output, adds the inputs one by one into a float in r
 * order and divides the sum by R. Here the same float additions happen in the same
 * order, four channels at a time in one vector, without the transpose.
 *
 * Build (clang 14 and lld from Debian): deno task build:kernels
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

/* x [A,R,C] in, out [A,C]; needs C % 4 == 0. */
__attribute__((export_name("mean_rows"))) void mean_rows(const float* x, float* out, u32 A, u32 R, u32 C) {
  const v128_t count = wasm_f32x4_splat((float)R);
  for (u32 a = 0; a < A; a++) {
    const float* base = x + a * R * C;
    u32 c = 0;
    for (; c + 16 <= C; c += 16) {
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
      const float* p = base + c;
      for (u32 r = 0; r < R; r++, p += C) {
        s0 = wasm_f32x4_add(s0, wasm_v128_load(p));
        s1 = wasm_f32x4_add(s1, wasm_v128_load(p + 4));
        s2 = wasm_f32x4_add(s2, wasm_v128_load(p + 8));
        s3 = wasm_f32x4_add(s3, wasm_v128_load(p + 12));
      }
      float* o = out + a * C + c;
      wasm_v128_store(o, wasm_f32x4_div(s0, count));
      wasm_v128_store(o + 4, wasm_f32x4_div(s1, count));
      wasm_v128_store(o + 8, wasm_f32x4_div(s2, count));
      wasm_v128_store(o + 12, wasm_f32x4_div(s3, count));
    }
    for (; c < C; c += 4) {
      v128_t s = wasm_f32x4_splat(0.0f);
      const float* p = base + c;
      for (u32 r = 0; r < R; r++, p += C) s = wasm_f32x4_add(s, wasm_v128_load(p));
      wasm_v128_store(out + a * C + c, wasm_f32x4_div(s, count));
    }
  }
}
