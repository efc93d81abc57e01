/*
 * vecmath.h — 8-wide float vector helpers (GCC vector extensions) shared by
 * the element-wise, norm and attention kernels; private to src/runtime.
 *
 * Every helper is always_inline, so a kernel body written with them is
 * compiled twice: once inside a target("avx2,fma") wrapper (ymm + FMA) and
 * once for the baseline ISA (the compiler splits a v8 into SSE halves, or
 * scalars elsewhere). DF_VEC_DISPATCH generates both wrappers and a switch
 * on the CPU found at start-up. (8-wide is as fast as 16-wide on Zen 4,
 * which double-pumps 512-bit FMAs; only the GEMM has an AVX-512 kernel.)
 *
 * Accuracy: df_v8_exp has a relative error below 2 ulp on [-87, 88] and
 * saturates outside; df_v8_erf (Abramowitz & Stegun 7.1.26) has an absolute
 * error below 1.5e-7 (plus float rounding, ~3e-7 in total).
 */
#ifndef DF_RUNTIME_VECMATH_H
#define DF_RUNTIME_VECMATH_H

#include <stdint.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wpsabi"

typedef float df_v8 __attribute__((vector_size(32)));
typedef int32_t df_v8i __attribute__((vector_size(32)));

#define DF_INLINE static inline __attribute__((always_inline))

DF_INLINE df_v8 df_v8_load(const float *p)
{
    df_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

DF_INLINE void df_v8_store(float *p, df_v8 v)
{
    memcpy(p, &v, sizeof v);
}

DF_INLINE df_v8 df_v8_splat(float x)
{
    return (df_v8){x, x, x, x, x, x, x, x};
}

DF_INLINE df_v8 df_v8_select(df_v8i mask, df_v8 a, df_v8 b) /* mask ? a : b */
{
    return (df_v8)(((df_v8i)a & mask) | ((df_v8i)b & ~mask));
}

DF_INLINE df_v8 df_v8_max(df_v8 a, df_v8 b)
{
    return df_v8_select(a > b, a, b);
}

DF_INLINE df_v8 df_v8_min(df_v8 a, df_v8 b)
{
    return df_v8_select(a < b, a, b);
}

DF_INLINE float df_v8_hmax(df_v8 v)
{
    float m = v[0];
    for (int i = 1; i < 8; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

DF_INLINE float df_v8_hsum(df_v8 v)
{
    /* fixed pairwise order: deterministic for a given build */
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

DF_INLINE df_v8 df_v8_exp(df_v8 x)
{
    x = df_v8_min(df_v8_max(x, df_v8_splat(-87.3f)), df_v8_splat(88.7f));
    /* n = round(x / ln 2) via the 1.5 * 2^23 trick (round to nearest) */
    const df_v8 magic = df_v8_splat(12582912.0f);
    df_v8 n = (x * 1.44269504088896341f + magic) - magic;
    df_v8 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    df_v8 p = df_v8_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    df_v8i e = (__builtin_convertvector(n, df_v8i) + 127) << 23;
    return p * (df_v8)e;
}

/* 16-wide forms for AVX-512 kernels (compiled inside target("avx512f")). */
typedef float df_v16 __attribute__((vector_size(64)));
typedef int32_t df_v16i __attribute__((vector_size(64)));

DF_INLINE df_v16 df_v16_load(const float *p)
{
    df_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

DF_INLINE void df_v16_store(float *p, df_v16 v)
{
    memcpy(p, &v, sizeof v);
}

DF_INLINE df_v16 df_v16_select(df_v16i mask, df_v16 a, df_v16 b) /* mask ? a : b */
{
    return (df_v16)(((df_v16i)a & mask) | ((df_v16i)b & ~mask));
}

DF_INLINE df_v16 df_v16_max(df_v16 a, df_v16 b)
{
    return df_v16_select(a > b, a, b);
}

DF_INLINE df_v16 df_v16_min(df_v16 a, df_v16 b)
{
    return df_v16_select(a < b, a, b);
}

/* Same polynomial and accuracy as df_v8_exp. */
DF_INLINE df_v16 df_v16_exp(df_v16 x)
{
    const df_v16 lo = (df_v16){0} - 87.3f, hi = (df_v16){0} + 88.7f;
    x = df_v16_min(df_v16_max(x, lo), hi);
    const df_v16 magic = (df_v16){0} + 12582912.0f;
    df_v16 n = (x * 1.44269504088896341f + magic) - magic;
    df_v16 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    df_v16 p = (df_v16){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    df_v16i e = (__builtin_convertvector(n, df_v16i) + 127) << 23;
    return p * (df_v16)e;
}

DF_INLINE df_v8 df_v8_sigmoid(df_v8 x)
{
    return 1.0f / (1.0f + df_v8_exp(-x));
}

DF_INLINE df_v8 df_v8_erf(df_v8 x)
{
    const df_v8i sign_bit = (df_v8i){0, 0, 0, 0, 0, 0, 0, 0} | INT32_MIN;
    df_v8i sign = (df_v8i)x & sign_bit;
    df_v8 ax = (df_v8)((df_v8i)x & ~sign_bit);
    df_v8 t = 1.0f / (1.0f + 0.3275911f * ax);
    df_v8 poly = df_v8_splat(1.061405429f);
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    poly = poly * t;
    df_v8 y = 1.0f - poly * df_v8_exp(-(ax * ax));
    return (df_v8)((df_v8i)y | sign);
}

DF_INLINE df_v8 df_v8_gelu(df_v8 x)
{
    return 0.5f * x * (1.0f + df_v8_erf(x * 0.70710678118654752f));
}

/* Set at start-up by elementwise.c; tests clear it to cover the baseline. */
extern int df_vec_has_avx2;

#if defined(__x86_64__) || defined(__i386__)
#define DF_VEC_DISPATCH(name, params, args)                                                      \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params                            \
    {                                                                                            \
        name##_body args;                                                                        \
    }                                                                                            \
    static void name##_base params                                                               \
    {                                                                                            \
        name##_body args;                                                                        \
    }                                                                                            \
    static void name params                                                                      \
    {                                                                                            \
        if (df_vec_has_avx2)                                                                     \
            name##_avx2 args;                                                                    \
        else                                                                                     \
            name##_base args;                                                                    \
    }
#else
#define DF_VEC_DISPATCH(name, params, args)                                                      \
    static void name params                                                                      \
    {                                                                                            \
        name##_body args;                                                                        \
    }
#endif

#endif
