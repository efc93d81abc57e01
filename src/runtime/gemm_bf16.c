/*
 * gemm_bf16.c — the bf16 GEMM micro-kernel (AVX512-BF16, vdpbf16ps): 12 x 32
 * f32 accumulators, inputs as bf16 pairs.
 *
 * Panels: the f32 panels the pack functions write ([kc][width]) are
 * rounded to bf16 (round to nearest even, vcvtneps2bf16; f16 weights arrive
 * here already exact in f32) and interleaved in K pairs: word (p, i) of a
 * panel holds elements (2p, i) and (2p + 1, i), an odd K padded with zero.
 * One vdpbf16ps then adds both products of a pair into an f32 lane, so a K
 * pair costs what one K step costs the f32 kernel.
 *
 * Accuracy: each input carries a relative error of at most 2^-9, so each
 * product at most ~2^-8; sums are f32. |y - y_f32| <= 2^-8 * sum_k |x_k w_k|.
 * Denormal inputs read as zero (the instruction's rule).
 *
 * Everything here runs only where df_cpu_has(DF_CPU_AVX512_BF16).
 */
#include <stdint.h>

#include "runtime/cpu.h"
#include "runtime/gemm.h"

#if defined(__x86_64__)
#include "runtime/gemm_tile512.h"

#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

static size_t bf16_a_bytes(int64_t kc)
{
    return (size_t)((kc + 1) / 2) * DF_LOWP_MR * sizeof(uint32_t);
}

static size_t bf16_b_bytes(int64_t kc)
{
    return (size_t)((kc + 1) / 2) * DF_LOWP_NR * sizeof(uint32_t);
}

/* [kc][width] f32 -> [(kc+1)/2][width] bf16 pairs. */
BF16_TARGET static void bf16_pairs(const float *src, int64_t kc, int width, uint32_t *dst)
{
    for (int64_t p = 0; p < kc; p += 2) {
        const float *r0 = src + p * width;
        const int second = p + 1 < kc;
        for (int h = 0; h < width; h += 16) {
            const int n = width - h < 16 ? width - h : 16;
            const __mmask16 m = (__mmask16)((1u << n) - 1u);
            __m512 v0 = _mm512_maskz_loadu_ps(m, r0 + h);
            __m512 v1 = second ? _mm512_maskz_loadu_ps(m, r0 + width + h) : _mm512_setzero_ps();
            __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v0));
            __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v1));
            _mm512_mask_storeu_epi32(dst + (p / 2) * width + h, m,
                                     _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}

static void bf16_convert_a(const float *panel, int64_t kc, void *dst)
{
    bf16_pairs(panel, kc, DF_LOWP_MR, dst);
}

static void bf16_convert_b(const float *panel, int64_t kc, void *dst)
{
    bf16_pairs(panel, kc, DF_LOWP_NR, dst);
}

BF16_TARGET static void bf16_kernel(int64_t kc, const void *a_panel, const void *b_panel,
                                    float *c, int64_t ldc, int rows, int cols, int accumulate,
                                    const float *bias)
{
    const uint32_t *a = a_panel;
    const uint32_t *b = b_panel;
    __m512 acc[DF_LOWP_MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < DF_LOWP_MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t p = 0, pairs = (kc + 1) / 2; p < pairs; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < DF_LOWP_MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
        a += DF_LOWP_MR;
        b += DF_LOWP_NR;
    }
    df_tile512_store(acc, c, ldc, rows, cols, accumulate, bias);
}

static const df_gemm_lowp bf16_lowp = {
    .name = "avx512_bf16",
    .mr = DF_LOWP_MR,
    .nr = DF_LOWP_NR,
    .a_bytes = bf16_a_bytes,
    .b_bytes = bf16_b_bytes,
    .convert_a = bf16_convert_a,
    .convert_b = bf16_convert_b,
    .kernel = bf16_kernel,
};

const df_gemm_lowp *df_gemm_bf16_kernel(void)
{
    return df_cpu_has(DF_CPU_AVX512_BF16) ? &bf16_lowp : NULL;
}
#else
const df_gemm_lowp *df_gemm_bf16_kernel(void)
{
    return NULL;
}
#endif
