/*
 * tensor.c — dtype helpers and f16/bf16 <-> f32 conversion. The bulk
 * conversion (df_weight_to_f32) is what every kernel's weight packing goes
 * through, so it has AVX-512 and F16C/AVX2 versions chosen once at run time
 * (__builtin_cpu_supports) and a portable scalar fallback; all of them are
 * exact (f16 and bf16 values are representable in f32).
 */
#include "runtime/tensor.h"

#include <assert.h>
#include <immintrin.h>

#include "runtime/cpu.h"

size_t df_dtype_size(df_dtype dtype)
{
    switch (dtype) {
    case DF_DTYPE_F32: return 4;
    case DF_DTYPE_F16: return 2;
    case DF_DTYPE_BF16: return 2;
    }
    return 0;
}

const char *df_dtype_name(df_dtype dtype)
{
    switch (dtype) {
    case DF_DTYPE_F32: return "F32";
    case DF_DTYPE_F16: return "F16";
    case DF_DTYPE_BF16: return "BF16";
    }
    return "?";
}

int64_t df_weight_numel(const df_weight *weight)
{
    int64_t n = 1;
    for (int i = 0; i < weight->ndim; i++)
        n *= weight->shape[i];
    return n;
}

uint16_t df_f32_to_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
        return (uint16_t)((bits >> 16) | 0x40);
    uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u); /* ties to even */
    return (uint16_t)((bits + rounding) >> 16);
}

uint16_t df_f32_to_f16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) /* nan */
        return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) { /* below the smallest normal half (2^-14) */
        if (abs < 0x33000000u) /* below half the smallest subnormal: 0 */
            return sign;
        /* subnormal: value / 2^-24 rounded to nearest even integer */
        uint32_t exponent = abs >> 23;
        uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - exponent; /* 14..25 bits to drop to reach 2^-24 units */
        uint32_t result = mantissa >> shift;
        uint32_t remainder = mantissa & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (result & 1u)))
            result++;
        return (uint16_t)(sign | result);
    }
    /* normal: rebias the exponent, round the 13 dropped bits to even; a
     * carry into the exponent is the correct rounding up. */
    uint32_t rebased = abs - 0x38000000u; /* exponent 127 -> 15 */
    uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
    return (uint16_t)(sign | ((rebased + rounding) >> 13));
}

float df_weight_get(const df_weight *weight, int64_t index)
{
    switch (weight->dtype) {
    case DF_DTYPE_F32: return ((const float *)weight->data)[index];
    case DF_DTYPE_F16: return df_f16_to_f32(((const uint16_t *)weight->data)[index]);
    case DF_DTYPE_BF16: return df_bf16_to_f32(((const uint16_t *)weight->data)[index]);
    }
    return 0.0f;
}

/* --- bulk conversion --------------------------------------------------- */

static void convert_f16_scalar(const uint16_t *in, int64_t count, float *out)
{
    for (int64_t i = 0; i < count; i++)
        out[i] = df_f16_to_f32(in[i]);
}

static void convert_bf16_scalar(const uint16_t *in, int64_t count, float *out)
{
    for (int64_t i = 0; i < count; i++)
        out[i] = df_bf16_to_f32(in[i]);
}

__attribute__((target("avx2,f16c"))) static void convert_f16_avx2(const uint16_t *in, int64_t count,
                                                                  float *out)
{
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < count; i++)
        out[i] = _cvtsh_ss(in[i]);
}

__attribute__((target("avx2"))) static void convert_bf16_avx2(const uint16_t *in, int64_t count,
                                                             float *out)
{
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(in + i)));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
    }
    for (; i < count; i++)
        out[i] = df_bf16_to_f32(in[i]);
}

__attribute__((target("avx512f"))) static void convert_f16_avx512(const uint16_t *in,
                                                                 int64_t count, float *out)
{
    int64_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(in + i))));
    if (i < count) {
        __mmask16 mask = (__mmask16)((1u << (count - i)) - 1u);
        /* 16-bit masked loads need AVX512BW; go through a small buffer. */
        uint16_t tail[16] = {0};
        memcpy(tail, in + i, (size_t)(count - i) * sizeof *tail);
        __m256i h = _mm256_loadu_si256((const __m256i *)tail);
        _mm512_mask_storeu_ps(out + i, mask, _mm512_cvtph_ps(h));
    }
}

__attribute__((target("avx512f"))) static void convert_bf16_avx512(const uint16_t *in,
                                                                  int64_t count, float *out)
{
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(in + i)));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
    for (; i < count; i++)
        out[i] = df_bf16_to_f32(in[i]);
}

typedef void (*convert_fn)(const uint16_t *, int64_t, float *);

static convert_fn convert_f16_impl, convert_bf16_impl;

/* Chosen before main() so concurrent first calls never see a half-set pair. */
__attribute__((constructor)) static void convert_select(void)
{
    /* cpu.c's flags (set before this runs): DF_CPU_DISABLE applies here too */
    if (df_cpu_has(DF_CPU_AVX512F)) {
        convert_f16_impl = convert_f16_avx512;
        convert_bf16_impl = convert_bf16_avx512;
    } else if (df_cpu_has(DF_CPU_AVX2)) {
        /* every AVX2+FMA CPU (Haswell, Piledriver and later) has F16C;
         * clang's __builtin_cpu_supports cannot name "f16c" */
        convert_f16_impl = convert_f16_avx2;
        convert_bf16_impl = convert_bf16_avx2;
    } else {
        convert_f16_impl = convert_f16_scalar;
        convert_bf16_impl = convert_bf16_scalar;
    }
}

void df_weight_to_f32(const df_weight *weight, int64_t offset, int64_t count, float *out)
{
    assert(offset >= 0 && count >= 0);
    if (count <= 0)
        return;
    switch (weight->dtype) {
    case DF_DTYPE_F32:
        memcpy(out, (const float *)weight->data + offset, (size_t)count * sizeof *out);
        break;
    case DF_DTYPE_F16:
        convert_f16_impl((const uint16_t *)weight->data + offset, count, out);
        break;
    case DF_DTYPE_BF16:
        convert_bf16_impl((const uint16_t *)weight->data + offset, count, out);
        break;
    }
}
