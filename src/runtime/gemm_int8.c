/*
 * gemm_int8.c — the int8 GEMM micro-kernel (AVX512-VNNI, vpdpbusd): 12 x 32
 * int32 accumulators over one K block, rescaled to f32 when the tile is
 * stored.
 *
 * Quantization, per K block (the GEMM's kc, 256..294 deep), computed while
 * packing so no quantized copy of a model is ever kept (memory cost: zero
 * beyond the per-thread panels; the weight panel is requantized once per
 * task and K block and reused over up to 1152 rows):
 *  - weights: symmetric s8 per output column, scale = max|w| / 127;
 *  - activations: asymmetric u8 per row, over [min(x, 0), max(x, 0)] in
 *    255 steps with an integer zero point z, so zero (padding) is exact.
 * vpdpbusd multiplies u8 by s8; sum_k q_x q_w = sum_k (x/s_x) q_w + z * csum
 * with csum = sum_k q_w, so C += s_x s_w (acc - z csum). The int32 sum is
 * exact (|acc| <= 255 * 127 * kc < 2^24 for kc <= 512, so its f32 is too).
 *
 * Panels: word (p, i) packs elements 4p..4p+3 of row/column i (K padded
 * with zeros to a multiple of 4); after the words, the panel's scales (f32)
 * and zero points (A) or column sums (B), one per row or column.
 *
 * Error per K block: |y - y_f32| <= range_x / 510 * sum|w| + max|w| / 254 *
 * sum|x| + kc * (range_x / 510) * (max|w| / 254).
 *
 * Everything here runs only where df_cpu_has(DF_CPU_AVX512_VNNI); without
 * it df_gemm_int8_kernel offers gemm_int8_avx2.c's AVX-VNNI kernel.
 */
#include <stdint.h>

#include "runtime/cpu.h"
#include "runtime/gemm.h"

#if defined(__x86_64__)
#include "runtime/gemm_tile512.h"

#define INT8_TARGET __attribute__((target("avx512vnni,avx512f,avx512bw,avx512vl,fma")))

static int64_t quads(int64_t kc)
{
    return (kc + 3) / 4;
}

static size_t int8_a_bytes(int64_t kc)
{
    return (size_t)(quads(kc) * DF_LOWP_MR + 2 * DF_LOWP_MR) * sizeof(uint32_t);
}

static size_t int8_b_bytes(int64_t kc)
{
    return (size_t)(quads(kc) * DF_LOWP_NR + 2 * DF_LOWP_NR) * sizeof(uint32_t);
}

/* A: [kc][12] f32 -> u8 quads, then scale[12], zero point[12]. */
INT8_TARGET static void int8_convert_a(const float *src, int64_t kc, void *dst_)
{
    uint32_t *dst = dst_;
    const __mmask16 m = (__mmask16)((1u << DF_LOWP_MR) - 1u);
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 v = _mm512_maskz_loadu_ps(m, src + p * DF_LOWP_MR);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    __m512 scale = _mm512_mul_ps(_mm512_sub_ps(hi, lo), _mm512_set1_ps(1.0f / 255.0f));
    /* an all-zero row: any scale works, 1 avoids dividing by zero */
    scale = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(scale, _mm512_setzero_ps(), _CMP_GT_OQ),
                                 _mm512_set1_ps(1.0f), scale);
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), scale);
    const __m512i q_min = _mm512_setzero_si512(), q_max = _mm512_set1_epi32(255);
    __m512i zero = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), lo), inv));
    zero = _mm512_min_epi32(_mm512_max_epi32(zero, q_min), q_max);
    const int64_t nq = quads(kc);
    for (int64_t q = 0; q < nq; q++) {
        __m512i word = _mm512_setzero_si512();
        for (int t = 0; t < 4; t++) {
            int64_t p = 4 * q + t;
            __m512 v = p < kc ? _mm512_maskz_loadu_ps(m, src + p * DF_LOWP_MR) : _mm512_setzero_ps();
            __m512i x = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inv)), zero);
            x = _mm512_min_epi32(_mm512_max_epi32(x, q_min), q_max);
            word = _mm512_or_si512(word, _mm512_slli_epi32(x, 8 * t));
        }
        _mm512_mask_storeu_epi32(dst + q * DF_LOWP_MR, m, word);
    }
    _mm512_mask_storeu_ps(dst + nq * DF_LOWP_MR, m, scale);
    _mm512_mask_storeu_epi32(dst + nq * DF_LOWP_MR + DF_LOWP_MR, m, zero);
}

/* B: [kc][32] f32 -> s8 quads, then scale[32], column sums[32]. */
INT8_TARGET static void int8_convert_b(const float *src, int64_t kc, void *dst_)
{
    uint32_t *dst = dst_;
    const int64_t nq = quads(kc);
    for (int h = 0; h < DF_LOWP_NR; h += 16) {
        __m512 amax = _mm512_setzero_ps();
        for (int64_t p = 0; p < kc; p++)
            amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(src + p * DF_LOWP_NR + h)));
        __m512 scale = _mm512_mul_ps(amax, _mm512_set1_ps(1.0f / 127.0f));
        scale = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(scale, _mm512_setzero_ps(), _CMP_GT_OQ),
                                     _mm512_set1_ps(1.0f), scale);
        const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), scale);
        const __m512i q_min = _mm512_set1_epi32(-127), q_max = _mm512_set1_epi32(127);
        __m512i sum = _mm512_setzero_si512();
        for (int64_t q = 0; q < nq; q++) {
            __m512i word = _mm512_setzero_si512();
            for (int t = 0; t < 4; t++) {
                int64_t p = 4 * q + t;
                if (p >= kc)
                    break;
                __m512i x = _mm512_cvtps_epi32(
                    _mm512_mul_ps(_mm512_loadu_ps(src + p * DF_LOWP_NR + h), inv));
                x = _mm512_min_epi32(_mm512_max_epi32(x, q_min), q_max);
                sum = _mm512_add_epi32(sum, x);
                word = _mm512_or_si512(
                    word, _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0xff)), 8 * t));
            }
            _mm512_storeu_si512(dst + q * DF_LOWP_NR + h, word);
        }
        _mm512_storeu_ps(dst + nq * DF_LOWP_NR + h, scale);
        _mm512_storeu_si512(dst + nq * DF_LOWP_NR + DF_LOWP_NR + h, sum);
    }
}

INT8_TARGET static void int8_kernel(int64_t kc, const void *a_panel, const void *b_panel,
                                    float *c, int64_t ldc, int rows, int cols, int accumulate,
                                    const float *bias)
{
    const uint32_t *a = a_panel;
    const uint32_t *b = b_panel;
    const int64_t nq = quads(kc);
    /* 24 named accumulators updated by inline asm: with the intrinsic, GCC
     * 12 copies each accumulator through a spare register and a stack slot
     * on every K quad (2 extra moves and a store per vpdpbusd, half the
     * kernel's time). AT&T order: vpdpbusd s8 weights, u8 activations, acc. */
#define DF_INT8_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DF_INT8_DECLARE(i) __m512i c##i##_0 = _mm512_setzero_si512(), c##i##_1 = c##i##_0;
#define DF_INT8_STEP(i)                                                                          \
    {                                                                                            \
        const __m512i ai = _mm512_set1_epi32((int)a[i]);                                         \
        __asm__("vpdpbusd %2, %1, %0" : "+v"(c##i##_0) : "v"(ai), "v"(b0));                       \
        __asm__("vpdpbusd %2, %1, %0" : "+v"(c##i##_1) : "v"(ai), "v"(b1));                       \
    }
#define DF_INT8_SAVE(i)                                                                          \
    _mm512_store_si512(sums[i], c##i##_0);                                                       \
    _mm512_store_si512(sums[i] + 16, c##i##_1);
    DF_INT8_ROWS(DF_INT8_DECLARE)
    for (int64_t q = 0; q < nq; q++) {
        const __m512i b0 = _mm512_loadu_si512(b);
        const __m512i b1 = _mm512_loadu_si512(b + 16);
        DF_INT8_ROWS(DF_INT8_STEP)
        a += DF_LOWP_MR;
        b += DF_LOWP_NR;
    }
    int32_t sums[DF_LOWP_MR][DF_LOWP_NR] __attribute__((aligned(64)));
    DF_INT8_ROWS(DF_INT8_SAVE)
#undef DF_INT8_ROWS
#undef DF_INT8_DECLARE
#undef DF_INT8_STEP
#undef DF_INT8_SAVE
    /* a and b now point at the panels' scales. (acc - z csum) is an exact
     * integer below 2^24, so the FMA form computes it exactly in f32. */
    const float *a_scale = (const float *)a;
    const int32_t *a_zero = (const int32_t *)(a + DF_LOWP_MR);
    const __m512 bs0 = _mm512_loadu_ps(b), bs1 = _mm512_loadu_ps(b + 16);
    const __m512 cs0 = _mm512_cvtepi32_ps(_mm512_loadu_si512(b + DF_LOWP_NR));
    const __m512 cs1 = _mm512_cvtepi32_ps(_mm512_loadu_si512(b + DF_LOWP_NR + 16));
    __m512 out[DF_LOWP_MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < DF_LOWP_MR; i++) {
        const __m512 z = _mm512_set1_ps((float)a_zero[i]);
        const __m512 s = _mm512_set1_ps(a_scale[i]);
        out[i][0] = _mm512_mul_ps(
            _mm512_fnmadd_ps(z, cs0, _mm512_cvtepi32_ps(_mm512_load_si512(sums[i]))),
            _mm512_mul_ps(s, bs0));
        out[i][1] = _mm512_mul_ps(
            _mm512_fnmadd_ps(z, cs1, _mm512_cvtepi32_ps(_mm512_load_si512(sums[i] + 16))),
            _mm512_mul_ps(s, bs1));
    }
    df_tile512_store(out, c, ldc, rows, cols, accumulate, bias);
}

static const df_gemm_lowp int8_lowp = {
    .name = "avx512_vnni",
    .mr = DF_LOWP_MR,
    .nr = DF_LOWP_NR,
    .a_bytes = int8_a_bytes,
    .b_bytes = int8_b_bytes,
    .convert_a = int8_convert_a,
    .convert_b = int8_convert_b,
    .kernel = int8_kernel,
};

const df_gemm_lowp *df_gemm_int8_kernel(void)
{
    if (df_cpu_has(DF_CPU_AVX512_VNNI))
        return &int8_lowp;
    return df_gemm_int8_avx2_kernel(); /* AVX-VNNI, or NULL */
}
#else
const df_gemm_lowp *df_gemm_int8_kernel(void)
{
    return NULL;
}
#endif
