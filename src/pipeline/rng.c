/*
 * rng.c — torch's CPU generator (mt19937 + its randn kernels) and A1111's
 * Philox imitation of torch's CUDA randn, bit for bit. See rng.h for what
 * each kind reproduces and how batches draw their noise.
 *
 * Bit-exactness rests on doing every float operation torch does, in the same
 * precision and order: the x86 kernel is avx_mathfun.h's cephes log/sincos
 * compiled by GCC with FMA contraction, so each `a * b + c` that GCC fused
 * there is an explicit fmaf() here and every other product is rounded on its
 * own. Our own compiler must therefore not contract anything in this file
 * (the pragmas below); the scalar form is per lane exactly the vector one.
 */
#include "pipeline/rng.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ------------------------------------------------------------------------ */
/* mt19937, as at::mt19937 (aten/src/ATen/core/MT19937RNGEngine.h).         */

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UMASK 0x80000000u
#define MT_LMASK 0x7fffffffu

static void df_rng_mt_seed(df_rng *rng, uint64_t seed)
{
    /* torch keeps the 64-bit seed but initialises from its low 32 bits */
    rng->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t j = 1; j < DF_RNG_MT_N; j++)
        rng->mt[j] = 1812433253u * (rng->mt[j - 1] ^ (rng->mt[j - 1] >> 30)) + j;
    rng->mt_left = 1;
    rng->mt_next = 0;
}

static inline uint32_t df_rng_mt_twist(uint32_t u, uint32_t v)
{
    return (((u & MT_UMASK) | (v & MT_LMASK)) >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

static void df_rng_mt_next_state(df_rng *rng)
{
    uint32_t *p = rng->mt;
    int j;
    rng->mt_left = DF_RNG_MT_N;
    rng->mt_next = 0;
    for (j = DF_RNG_MT_N - MT_M + 1; --j; p++)
        *p = p[MT_M] ^ df_rng_mt_twist(p[0], p[1]);
    for (j = MT_M; --j; p++)
        *p = p[MT_M - DF_RNG_MT_N] ^ df_rng_mt_twist(p[0], p[1]);
    *p = p[MT_M - DF_RNG_MT_N] ^ df_rng_mt_twist(p[0], rng->mt[0]);
}

static inline uint32_t df_rng_mt_u32(df_rng *rng)
{
    if (--rng->mt_left == 0)
        df_rng_mt_next_state(rng);
    uint32_t y = rng->mt[rng->mt_next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* uniform_real_distribution<float>(0, 1): the low 24 bits of one draw. */
static inline float df_rng_uniform_f(df_rng *rng)
{
    return (float)(df_rng_mt_u32(rng) & 0xffffffu) * (1.0f / 16777216.0f);
}

/* uniform_real_distribution<double>(0, 1): random64() = first draw in the
 * high word, second in the low; its low 53 bits. */
static inline double df_rng_uniform_d(df_rng *rng)
{
    uint64_t hi = df_rng_mt_u32(rng);
    uint64_t lo = df_rng_mt_u32(rng);
    uint64_t r = (hi << 32) | lo;
    return (double)(r & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/* at::normal_distribution<double>: the path of tensors under 16 elements.
 * Box-Muller gives two values; the sine one waits in the generator for the
 * next call (and survives draws of 16 or more, which never look at it). */
static double df_rng_normal_d(df_rng *rng)
{
    if (rng->has_next_normal) {
        rng->has_next_normal = 0;
        return rng->next_normal;
    }
    double u1 = df_rng_uniform_d(rng);
    double u2 = df_rng_uniform_d(rng);
    double r = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * 3.14159265358979323846 * u1;
    rng->next_normal = r * sin(theta);
    rng->has_next_normal = 1;
    return r * cos(theta);
}

/* ------------------------------------------------------------------------ */
/* avx_mathfun.h (cephes) log and sincos, one lane; constants as float.     */

typedef union { float f; uint32_t u; int32_t i; } df_rng_bits;

static inline float df_rng_from_bits(uint32_t u)
{
    df_rng_bits b;
    b.u = u;
    return b.f;
}

static inline uint32_t df_rng_to_bits(float f)
{
    df_rng_bits b;
    b.f = f;
    return b.u;
}

static float df_rng_cephes_log(float x)
{
    const float one = 1.0f;
    /* the input is 1 - u with u in [0, 1): in [2^-24, 1], so the NaN mask of
     * the original (x <= 0) never fires */
    x = x > 1.17549435e-38f ? x : 1.17549435e-38f; /* max with min_norm_pos */
    uint32_t bits = df_rng_to_bits(x);
    int32_t imm0 = (int32_t)(bits >> 23) - 0x7f;
    x = df_rng_from_bits((bits & ~0x7f800000u) | df_rng_to_bits(0.5f));
    float e = (float)imm0;
    e = e + one;
    int less = x < 0.707106781186547524f;
    float tmp = less ? x : 0.0f;
    x = x - one;
    e = e - (less ? one : 0.0f);
    x = x + tmp;

    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, +1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, +2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, +3.3333331174E-1f);
    y = y * x;
    /* y*z + e*q1: GCC fused the first product, the second is rounded */
    tmp = e * -2.12194440e-4f;
    y = fmaf(y, z, tmp);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    x = fmaf(e, 0.693359375f, x);
    return x;
}

static void df_rng_cephes_sincos(float xin, float *s, float *c)
{
    uint32_t sign_bit_sin = df_rng_to_bits(xin) & 0x80000000u;
    float x = df_rng_from_bits(df_rng_to_bits(xin) & 0x7fffffffu);
    float y = x * 1.27323954473516f; /* 4 / pi */
    int32_t imm2 = (int32_t)y;       /* cvttps: truncation */
    imm2 = (imm2 + 1) & ~1;
    y = (float)imm2;
    int32_t imm4 = imm2;
    uint32_t swap_sign_bit_sin = ((uint32_t)imm2 & 4u) << 29;
    int poly_sin = ((uint32_t)imm2 & 2u) == 0; /* poly_mask */

    /* extended precision modular arithmetic: x = ((x - y*DP1) - y*DP2) - y*DP3 */
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);

    uint32_t sign_bit_cos = ((~(uint32_t)(imm4 - 2)) & 4u) << 29;
    sign_bit_sin ^= swap_sign_bit_sin;

    float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = fmaf(yc, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    /* yc*z - z*0.5: the first product fused, z*0.5 is exact anyway */
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;

    float ys = -1.9515295891E-4f;
    ys = fmaf(ys, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);

    /* the blend as the original computes it (and/andnot, then adds), which
     * also decides the sign of a zero */
    float ysin2 = poly_sin ? ys : 0.0f;
    float ysin1 = poly_sin ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    float xmm1 = ysin1 + ysin2;
    float xmm2 = yc + ys;
    *s = df_rng_from_bits(df_rng_to_bits(xmm1) ^ sign_bit_sin);
    *c = df_rng_from_bits(df_rng_to_bits(xmm2) ^ sign_bit_cos);
}

/* normal_fill_16_AVX2: data holds 16 uniforms; pairs (j, j + 8). */
static void df_rng_box16_avx2(float *data)
{
    const float two_pi = (float)(2.0f * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * df_rng_cephes_log(u1));
        float theta = two_pi * u2;
        float sn, cs;
        df_rng_cephes_sincos(theta, &sn, &cs);
        /* _mm256_fmadd_ps(n, std = 1, mean = 0): exact, but -0 becomes +0 */
        data[j] = radius * cs + 0.0f;
        data[j + 8] = radius * sn + 0.0f;
    }
}

/* normal_fill_16<float> (no AVX2): libm in float; theta rounded from double. */
static void df_rng_box16_scalar(float *data)
{
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * 3.14159265358979323846 * (double)u2);
        data[j] = radius * cosf(theta) + 0.0f;
        data[j + 8] = radius * sinf(theta) + 0.0f;
    }
}

static void df_rng_randn_cpu(df_rng *rng, float *out, size_t count)
{
    if (count < 16) {
        for (size_t i = 0; i < count; i++)
            out[i] = (float)df_rng_normal_d(rng);
        return;
    }
    void (*box16)(float *) =
        rng->kind == DF_RNG_CPU_DEFAULT_ISA ? df_rng_box16_scalar : df_rng_box16_avx2;
    for (size_t i = 0; i < count; i++)
        out[i] = df_rng_uniform_f(rng);
    for (size_t i = 0; i + 16 <= count; i += 16)
        box16(out + i);
    if (count % 16 != 0) {
        /* torch redraws the overlapping last 16 from fresh uniforms */
        float *tail = out + count - 16;
        for (int i = 0; i < 16; i++)
            tail[i] = df_rng_uniform_f(rng);
        box16(tail);
    }
}

/* ------------------------------------------------------------------------ */
/* Philox4x32-10, as A1111's modules/rng_philox.py.                         */

static void df_rng_randn_philox(df_rng *rng, float *out, size_t count)
{
    /* A1111's float32 constants, used in double (numpy promotes uint32 *
     * float32 arrays to float64) */
    const double inv32 = (double)2.3283064e-10f;
    const double inv32_half = (double)(2.3283064e-10f / 2);
    const float inv32_2pi_f = (float)(2.3283064e-10 * 6.2831855);
    const double inv32_2pi = (double)inv32_2pi_f;
    const double inv32_2pi_half = (double)(inv32_2pi_f / 2);
    const uint32_t key0 = (uint32_t)rng->seed, key1 = (uint32_t)(rng->seed >> 32);
    const uint64_t offset = rng->philox_offset++;

    for (size_t i = 0; i < count; i++) {
        /* counter = (offset, subsequence = element index) */
        uint32_t c0 = (uint32_t)offset, c1 = (uint32_t)(offset >> 32);
        uint32_t c2 = (uint32_t)i, c3 = (uint32_t)((uint64_t)i >> 32);
        uint32_t k0 = key0, k1 = key1;
        for (int round = 0; round < 10; round++) {
            uint64_t p0 = (uint64_t)c0 * 0xD2511F53u;
            uint64_t p1 = (uint64_t)c2 * 0xCD9E8D57u;
            c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
            c1 = (uint32_t)p1;
            c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c3 = (uint32_t)p0;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        double u = (double)c0 * inv32 + inv32_half;
        double v = (double)c1 * inv32_2pi + inv32_2pi_half;
        double s = sqrt(-2.0 * log(u));
        out[i] = (float)(s * sin(v));
    }
}

/* ------------------------------------------------------------------------ */

void df_rng_seed(df_rng *rng, df_rng_kind kind, uint64_t seed)
{
    memset(rng, 0, sizeof *rng);
    rng->kind = kind;
    rng->seed = seed;
    if (kind != DF_RNG_PHILOX)
        df_rng_mt_seed(rng, seed);
}

void df_rng_randn(df_rng *rng, float *out, size_t count)
{
    if (rng->kind == DF_RNG_PHILOX)
        df_rng_randn_philox(rng, out, count);
    else
        df_rng_randn_cpu(rng, out, count);
}

const char *df_rng_kind_name(df_rng_kind kind)
{
    switch (kind) {
    case DF_RNG_CPU: return "cpu";
    case DF_RNG_PHILOX: return "philox";
    case DF_RNG_CPU_DEFAULT_ISA: return "cpu-default";
    }
    return "unknown";
}

int df_rng_kind_parse(const char *name, df_rng_kind *out)
{
    static const struct { const char *name; df_rng_kind kind; } names[] = {
        {"cpu", DF_RNG_CPU},
        {"philox", DF_RNG_PHILOX}, {"gpu", DF_RNG_PHILOX},
        {"cuda", DF_RNG_PHILOX}, {"nv", DF_RNG_PHILOX},
        {"cpu-default", DF_RNG_CPU_DEFAULT_ISA}, {"cpu-noavx", DF_RNG_CPU_DEFAULT_ISA},
    };
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return -1;
}
