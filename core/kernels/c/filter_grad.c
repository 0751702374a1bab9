/*
 * The conv2d filter gradient, NHWC, for scalpel's wasm backend
 * (core/kernels/conv2d_backprop_filter.ts loads the compiled module).
 *
 *   dW[kh,kw,ci,co] = sum over i, j, n of x[n, i*sh+kh-top, j*sw+kw-left, ci] * dy[n,i,j,co]
 *
 * Every output element is summed in exactly the order XNNPACK's conv sums it when
 * the gradient is computed as a conv of x^T with dy^T (the kernel this one replaces):
 * output row i, then column j, then image n, one float multiply and one float add
 * per term (wasm SIMD128 has no fused multiply-add). Terms whose input pixel lies in
 * the padding are skipped: XNNPACK adds +0 or -0 there, which leaves the sum as it is.
 * So the result is bit for bit the old one, only faster: vectors run across four
 * output channels, a register tile holds 4 input channels x 8 output channels, and
 * the loops go output row by output row so that the rows being read stay in cache.
 * Two threads can share the work by output channels (each weight is still summed by
 * one thread in the same order), so the module is built on shared memory.
 *
 * Build (clang 14 and lld from Debian): deno task build:kernels
 */
#include <wasm_simd128.h>

typedef unsigned int u32;

/* Copies `count` rows of `len` floats (len % 4 == 0) from src (row stride len) into the
 * rows of a transposed layout: row r = (a, b) of an [A,B] grid goes to dst + (b*A + a)*len. */
static void transpose_rows(const float* src, float* dst, u32 outer, u32 inner, u32 len) {
  for (u32 a = 0; a < outer; a++) {
    for (u32 b = 0; b < inner; b++) {
      const float* s = src + (a * inner + b) * len;
      float* d = dst + (b * outer + a) * len;
      for (u32 k = 0; k < len; k += 4) wasm_v128_store(d + k, wasm_v128_load(s + k));
    }
  }
}

/* Writes x [N,H,W,Ci] as xT [H,W,N,Ci] and dy [N,OH,OW,Co] as dyT [OH,OW,N,Co]. */
__attribute__((export_name("filter_grad_prepare"))) void filter_grad_prepare(
    const float* x, const float* dy, float* xT, float* dyT, u32 N, u32 H, u32 W, u32 Ci, u32 OH, u32 OW, u32 Co) {
  transpose_rows(x, xT, N, H * W, Ci);
  transpose_rows(dy, dyT, N, OH * OW, Co);
}

/*
 * out [KH,KW,Ci,Co] from xT and dyT (filter_grad_prepare), output channels [oBegin, oEnd)
 * only (multiples of 8): two threads may fill disjoint channel ranges at once. Needs
 * Ci % 4 == 0 and Co % 8 == 0.
 */
__attribute__((export_name("filter_grad_compute"))) void filter_grad_compute(
    const float* xT, const float* dyT, float* out,
    u32 N, u32 H, u32 W, u32 Ci, u32 OH, u32 OW, u32 Co,
    u32 KH, u32 KW, u32 SH, u32 SW, int top, int left, u32 oBegin, u32 oEnd) {
  for (u32 row = 0; row < KH * KW * Ci; row++) {
    for (u32 o = oBegin; o < oEnd; o += 4) wasm_v128_store(out + row * Co + o, wasm_f32x4_splat(0.0f));
  }

  for (u32 i = 0; i < OH; i++) {
    for (u32 kh = 0; kh < KH; kh++) {
      const int y = (int)(i * SH + kh) - top;
      if (y < 0 || y >= (int)H) continue;
      for (u32 kw = 0; kw < KW; kw++) {
        /* columns j whose input column j*SW + kw - left is inside the image */
        u32 jLo = 0;
        while (jLo < OW && (int)(jLo * SW + kw) - left < 0) jLo++;
        u32 jHi = jLo;
        while (jHi < OW && (int)(jHi * SW + kw) - left < (int)W) jHi++;
        if (jLo >= jHi) continue;
        for (u32 c0 = 0; c0 < Ci; c0 += 4) {
          for (u32 o0 = oBegin; o0 < oEnd; o0 += 8) {
            float* acc = out + ((kh * KW + kw) * Ci + c0) * Co + o0;
            v128_t a00 = wasm_v128_load(acc), a01 = wasm_v128_load(acc + 4);
            v128_t a10 = wasm_v128_load(acc + Co), a11 = wasm_v128_load(acc + Co + 4);
            v128_t a20 = wasm_v128_load(acc + 2 * Co), a21 = wasm_v128_load(acc + 2 * Co + 4);
            v128_t a30 = wasm_v128_load(acc + 3 * Co), a31 = wasm_v128_load(acc + 3 * Co + 4);
            for (u32 j = jLo; j < jHi; j++) {
              const float* xp = xT + ((u32)y * W + j * SW + kw - (u32)left) * N * Ci + c0;
              const float* dp = dyT + (i * OW + j) * N * Co + o0;
              for (u32 n = 0; n < N; n++, xp += Ci, dp += Co) {
                const v128_t d0 = wasm_v128_load(dp), d1 = wasm_v128_load(dp + 4);
                const v128_t x0 = wasm_v128_load32_splat(xp), x1 = wasm_v128_load32_splat(xp + 1);
                const v128_t x2 = wasm_v128_load32_splat(xp + 2), x3 = wasm_v128_load32_splat(xp + 3);
                a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(x0, d0));
                a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(x0, d1));
                a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(x1, d0));
                a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(x1, d1));
                a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(x2, d0));
                a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(x2, d1));
                a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(x3, d0));
                a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(x3, d1));
              }
            }
            wasm_v128_store(acc, a00), wasm_v128_store(acc + 4, a01);
            wasm_v128_store(acc + Co, a10), wasm_v128_store(acc + Co + 4, a11);
            wasm_v128_store(acc + 2 * Co, a20), wasm_v128_store(acc + 2 * Co + 4, a21);
            wasm_v128_store(acc + 3 * Co, a30), wasm_v128_store(acc + 3 * Co + 4, a31);
          }
        }
      }
    }
  }
}
