/*
 * gemm_tile512.h — the store of a 12 x 32 f32 tile held in 24 zmm registers,
 * shared by the reduced-precision kernels (gemm_bf16.c, gemm_int8.c):
 * C = acc (+ C when accumulating) (+ bias), masked at the edges so a
 * partial tile never touches memory outside it. Private to the runtime.
 */
#ifndef DF_RUNTIME_GEMM_TILE512_H
#define DF_RUNTIME_GEMM_TILE512_H

#include <stdint.h>
#include <immintrin.h>

#define DF_LOWP_MR 12
#define DF_LOWP_NR 32

__attribute__((target("avx512f"), always_inline)) static inline void
df_tile512_store(__m512 acc[DF_LOWP_MR][2], float *c, int64_t ldc, int rows, int cols,
                 int accumulate, const float *bias)
{
    const __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1u);
    const __mmask16 m1 = cols >= 32   ? (__mmask16)0xffff
                         : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1u)
                                     : (__mmask16)0;
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < DF_LOWP_MR; i++) {
        if (i >= rows)
            break;
        float *cp = c + i * ldc;
        __m512 r0 = acc[i][0], r1 = acc[i][1];
        if (accumulate) {
            r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(m0, cp));
            r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(m1, cp + 16));
        }
        if (bias) {
            r0 = _mm512_add_ps(r0, b0);
            r1 = _mm512_add_ps(r1, b1);
        }
        _mm512_mask_storeu_ps(cp, m0, r0);
        _mm512_mask_storeu_ps(cp + 16, m1, r1);
    }
}

#endif
