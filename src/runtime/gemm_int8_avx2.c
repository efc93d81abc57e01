/*
 * gemm_int8_avx2.c — the int8 GEMM micro-kernel for CPUs with AVX-VNNI but
 * no AVX-512 (Alder Lake and later client cores): 6 x 16 int32 accumulators
 * in ymm registers (16 of them: 12 accumulators, 2 weight vectors, one
 * broadcast), the VEX-encoded vpdpbusd.
 *
 * Same quantization and panel format as gemm_int8.c (see there): weights s8
 * per column and K block, activations u8 per row and K block with a zero
 * point, K in quads, each panel followed by its scales and zero points (A)
 * or column sums (B); only the widths differ (MR 6, NR 16). Results equal
 * gemm_int8.c's up to the order of the f32 rescale (both exact in int32).
 *
 * Everything here runs only where df_cpu_has(DF_CPU_AVX_VNNI) (which
 * implies AVX2 and FMA).
 */
#include <stdint.h>

#include "runtime/cpu.h"
#include "runtime/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NR 16
#define AVX_TARGET __attribute__((target("avx2,fma")))

static int64_t quads(int64_t kc)
{
    return (kc + 3) / 4;
}

static size_t a_bytes(int64_t kc)
{
    return (size_t)(quads(kc) * MR + 2 * MR) * sizeof(uint32_t);
}

static size_t b_bytes(int64_t kc)
{
    return (size_t)(quads(kc) * NR + 2 * NR) * sizeof(uint32_t);
}

/* Lanes [0, 6) of a ymm, for maskload/maskstore. */
AVX_TARGET static __m256i six_lanes(void)
{
    return _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
}

/* A: [kc][6] f32 -> u8 quads, then scale[6], zero point[6]. */
AVX_TARGET static void convert_a(const float *src, int64_t kc, void *dst_)
{
    uint32_t *dst = dst_;
    const __m256i m = six_lanes();
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 v = _mm256_maskload_ps(src + p * MR, m);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    __m256 scale = _mm256_mul_ps(_mm256_sub_ps(hi, lo), _mm256_set1_ps(1.0f / 255.0f));
    scale = _mm256_blendv_ps(_mm256_set1_ps(1.0f), scale,
                             _mm256_cmp_ps(scale, _mm256_setzero_ps(), _CMP_GT_OQ));
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), scale);
    const __m256i q_min = _mm256_setzero_si256(), q_max = _mm256_set1_epi32(255);
    __m256i zero = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), lo), inv));
    zero = _mm256_min_epi32(_mm256_max_epi32(zero, q_min), q_max);
    const int64_t nq = quads(kc);
    for (int64_t q = 0; q < nq; q++) {
        __m256i word = _mm256_setzero_si256();
        for (int t = 0; t < 4; t++) {
            int64_t p = 4 * q + t;
            __m256 v = p < kc ? _mm256_maskload_ps(src + p * MR, m) : _mm256_setzero_ps();
            __m256i x = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v, inv)), zero);
            x = _mm256_min_epi32(_mm256_max_epi32(x, q_min), q_max);
            word = _mm256_or_si256(word, _mm256_slli_epi32(x, 8 * t));
        }
        _mm256_maskstore_epi32((int *)(dst + q * MR), m, word);
    }
    _mm256_maskstore_ps((float *)(dst + nq * MR), m, scale);
    _mm256_maskstore_epi32((int *)(dst + nq * MR + MR), m, zero);
}

/* B: [kc][16] f32 -> s8 quads, then scale[16], column sums[16]. */
AVX_TARGET static void convert_b(const float *src, int64_t kc, void *dst_)
{
    uint32_t *dst = dst_;
    const int64_t nq = quads(kc);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int h = 0; h < NR; h += 8) {
        __m256 amax = _mm256_setzero_ps();
        for (int64_t p = 0; p < kc; p++)
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, _mm256_loadu_ps(src + p * NR + h)));
        __m256 scale = _mm256_mul_ps(amax, _mm256_set1_ps(1.0f / 127.0f));
        scale = _mm256_blendv_ps(_mm256_set1_ps(1.0f), scale,
                                 _mm256_cmp_ps(scale, _mm256_setzero_ps(), _CMP_GT_OQ));
        const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), scale);
        const __m256i q_min = _mm256_set1_epi32(-127), q_max = _mm256_set1_epi32(127);
        __m256i sum = _mm256_setzero_si256();
        for (int64_t q = 0; q < nq; q++) {
            __m256i word = _mm256_setzero_si256();
            for (int t = 0; t < 4; t++) {
                int64_t p = 4 * q + t;
                if (p >= kc)
                    break;
                __m256i x = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + p * NR + h), inv));
                x = _mm256_min_epi32(_mm256_max_epi32(x, q_min), q_max);
                sum = _mm256_add_epi32(sum, x);
                word = _mm256_or_si256(
                    word, _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0xff)), 8 * t));
            }
            _mm256_storeu_si256((__m256i *)(dst + q * NR + h), word);
        }
        _mm256_storeu_ps((float *)(dst + nq * NR + h), scale);
        _mm256_storeu_si256((__m256i *)(dst + nq * NR + NR + h), sum);
    }
}

AVX_TARGET static void kernel(int64_t kc, const void *a_panel, const void *b_panel, float *c,
                              int64_t ldc, int rows, int cols, int accumulate, const float *bias)
{
    const uint32_t *a = a_panel;
    const uint32_t *b = b_panel;
    const int64_t nq = quads(kc);
    /* Named accumulators and inline asm, as in gemm_int8.c (GCC 12 copies
     * intrinsic accumulators through the stack). "{vex}" (written %{vex%}
     * in a template) selects the AVX-VNNI encoding of vpdpbusd. */
#define DF_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DF_DECLARE(i) __m256i c##i##_0 = _mm256_setzero_si256(), c##i##_1 = c##i##_0;
#define DF_STEP(i)                                                                               \
    {                                                                                            \
        const __m256i ai = _mm256_set1_epi32((int)a[i]);                                         \
        __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(c##i##_0) : "x"(ai), "x"(b0));                \
        __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(c##i##_1) : "x"(ai), "x"(b1));                \
    }
#define DF_SAVE(i)                                                                               \
    _mm256_store_si256((__m256i *)sums[i], c##i##_0);                                            \
    _mm256_store_si256((__m256i *)(sums[i] + 8), c##i##_1);
    DF_ROWS(DF_DECLARE)
    for (int64_t q = 0; q < nq; q++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 8));
        DF_ROWS(DF_STEP)
        a += MR;
        b += NR;
    }
    int32_t sums[MR][NR] __attribute__((aligned(32)));
    DF_ROWS(DF_SAVE)
#undef DF_ROWS
#undef DF_DECLARE
#undef DF_STEP
#undef DF_SAVE
    /* a and b now point at the scales; (acc - z csum) is exact in f32 */
    const float *a_scale = (const float *)a;
    const int32_t *a_zero = (const int32_t *)(a + MR);
    const __m256 bs[2] = {_mm256_loadu_ps((const float *)b), _mm256_loadu_ps((const float *)b + 8)};
    const __m256 cs[2] = {_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(b + NR))),
                          _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(b + NR + 8)))};
    float tile[MR][NR] __attribute__((aligned(32)));
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < 2; v++) {
            __m256 r = _mm256_fnmadd_ps(_mm256_set1_ps((float)a_zero[i]), cs[v],
                                        _mm256_cvtepi32_ps(_mm256_load_si256(
                                            (const __m256i *)(sums[i] + 8 * v))));
            _mm256_store_ps(tile[i] + 8 * v,
                            _mm256_mul_ps(r, _mm256_mul_ps(_mm256_set1_ps(a_scale[i]), bs[v])));
        }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float r = tile[i][j];
            if (accumulate)
                r += c[i * ldc + j];
            if (bias)
                r += bias[j];
            c[i * ldc + j] = r;
        }
}

static const df_gemm_lowp int8_avx2_lowp = {
    .name = "avx_vnni",
    .mr = MR,
    .nr = NR,
    .a_bytes = a_bytes,
    .b_bytes = b_bytes,
    .convert_a = convert_a,
    .convert_b = convert_b,
    .kernel = kernel,
};

const df_gemm_lowp *df_gemm_int8_avx2_kernel(void)
{
    return df_cpu_has(DF_CPU_AVX_VNNI) ? &int8_avx2_lowp : NULL;
}
#else
const df_gemm_lowp *df_gemm_int8_avx2_kernel(void)
{
    return NULL;
}
#endif
