/*
 * test_kernels.c — every compute kernel against a plain double-precision
 * reference written here, over awkward sizes (1 row, sizes that are not
 * multiples of the vector width or the micro-tile, long K), all three weight
 * dtypes (the reference uses the rounded f16/bf16 values), inline and on a
 * 2-thread pool (results must be bitwise equal), and every micro-kernel and
 * vector path this CPU can run (AVX-512 / AVX2 / portable).
 *
 * Error bounds (stated once, used throughout):
 *  - linear / conv: max|y - ref| <= 1e-5 * max|ref| + 1e-5 (f32 accumulation
 *    over K up to 3000); a wrong K block, tap, pad or bias breaks it by
 *    orders of magnitude. Winograd 3x3 convs: 1e-4 * max|ref| + 1e-5 (its
 *    transforms multiply by up to 8 and divide by 24).
 *  - attention: 1e-5 * max|v| + 1e-6 absolute (outputs are convex mixes of v).
 *  - norms: 2e-5 relative to max|ref| + 1e-5 (after normalisation |y| ~ 1..4).
 *  - GELU: 1e-6 * (1 + |x|) (erf approximation ~1.5e-7 absolute).
 * Worst observed errors are printed so they can be reported.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runtime/arena.h"
#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/tensor.h"
#include "runtime/threads.h"
#include "runtime/vecmath.h"

static df_pool *pool2; /* a 2-thread pool shared by the tests */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float *random_floats(int64_t count, float scale, float offset)
{
    return df_test_random_floats(&rng_state, count, scale, offset);
}

/* A weight of the given dtype holding `values` rounded to that dtype; the
 * rounded values are written back into `values` for the reference. */
typedef struct test_weight {
    df_weight w;
    void *storage;
} test_weight;

static test_weight make_weight(df_dtype dtype, float *values, int ndim, const int64_t *shape)
{
    test_weight t = {.w = {.dtype = dtype, .ndim = ndim}};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        t.w.shape[i] = shape[i];
        n *= shape[i];
    }
    t.storage = df_test_store_weight(dtype, values, n);
    t.w.data = t.storage;
    return t;
}

static double max_abs(const double *ref, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    return m;
}

static double max_err(const float *y, const double *ref, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - ref[i]);
        if (e > m || e != e)
            m = e != e ? INFINITY : e;
    }
    return m;
}

static double worst_winograd, worst_gemm, worst_attention, worst_norm, worst_act;

static const df_dtype dtypes[3] = {DF_DTYPE_F32, DF_DTYPE_F16, DF_DTYPE_BF16};
static const char *gemm_kernels[3] = {"avx512", "avx2", "generic"};

/* --- conversions, pool, arena ------------------------------------------- */

static void test_half_conversion(void)
{
    CHECK(df_f32_to_f16(1.0f) == 0x3c00);
    CHECK(df_f32_to_f16(-2.0f) == 0xc000);
    CHECK(df_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(df_f32_to_f16(65519.0f) == 0x7bff); /* below the rounding midpoint */
    CHECK(df_f32_to_f16(65520.0f) == 0x7c00); /* midpoint rounds to even: inf */
    CHECK(df_f32_to_f16(INFINITY) == 0x7c00);
    CHECK((df_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (df_f32_to_f16(NAN) & 0x3ff) != 0);
    CHECK(df_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);        /* tie -> even (down) */
    CHECK(df_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);    /* tie -> even (up) */
    CHECK(df_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
    CHECK(df_f32_to_f16(0x1p-24f) == 0x0001);  /* smallest subnormal */
    CHECK(df_f32_to_f16(0x1p-25f) == 0x0000);  /* tie -> even (zero) */
    CHECK(df_f32_to_f16(0x1.8p-24f) == 0x0002); /* 1.5 ulp tie -> 2 */
    CHECK(df_f32_to_f16(0x1p-14f) == 0x0400);  /* smallest normal */
    CHECK(df_f32_to_f16(0x1.ffcp-15f) == 0x0400); /* tie rounding up to normal */
    CHECK(df_f32_to_f16(0x1.ff8p-15f) == 0x03ff);
    CHECK(df_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(df_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);           /* tie -> even */
    CHECK(df_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
    CHECK((df_f32_to_bf16(NAN) & 0x7f80) == 0x7f80 && (df_f32_to_bf16(NAN) & 0x7f) != 0);
    /* every finite half survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        if (df_f32_to_f16(df_f16_to_f32((uint16_t)h)) != h)
            bad++;
    }
    CHECKF(bad == 0, "%d halves do not round-trip", bad);
    /* vector conversion == scalar, for every length and offset near the tails */
    uint16_t half[80], brain[80];
    float *src = random_floats(80, 100.0f, 0.0f);
    REQUIRE(src);
    for (int i = 0; i < 80; i++) {
        half[i] = df_f32_to_f16(src[i]);
        brain[i] = df_f32_to_bf16(src[i]);
    }
    half[3] = 0x0001; /* subnormal */
    half[4] = 0xfc00; /* -inf */
    df_weight wh = {DF_DTYPE_F16, 1, {80}, half}, wb = {DF_DTYPE_BF16, 1, {80}, brain};
    df_weight wf = {DF_DTYPE_F32, 1, {80}, src};
    for (int offset = 0; offset < 5; offset++)
        for (int count = 0; count + offset <= 80; count++) {
            float out[80];
            const df_weight *ws[3] = {&wf, &wh, &wb};
            for (int k = 0; k < 3; k++) {
                memset(out, 0xff, sizeof out);
                df_weight_to_f32(ws[k], offset, count, out);
                for (int i = 0; i < count; i++)
                    if (memcmp(&out[i], &(float){df_weight_get(ws[k], offset + i)}, 4) != 0)
                        bad++;
                for (int i = count; i < 80; i++) /* nothing written past count */
                    if (((uint32_t *)out)[i] != 0xffffffffu)
                        bad++;
            }
        }
    CHECKF(bad == 0, "%d bulk conversion mismatches", bad);
    int64_t shape[3] = {2, 3, 4};
    df_weight w3 = {DF_DTYPE_F32, 3, {shape[0], shape[1], shape[2]}, src};
    CHECK(df_weight_numel(&w3) == 24);
    CHECK(df_dtype_size(DF_DTYPE_BF16) == 2 && strcmp(df_dtype_name(DF_DTYPE_F16), "F16") == 0);
    free(src);
}

typedef struct count_job {
    int *hits;
    df_pool *pool;
    int nested_ok;
} count_job;

static void count_task(void *context, int64_t begin, int64_t end, int thread)
{
    count_job *job = context;
    (void)thread;
    for (int64_t i = begin; i < end; i++)
        __atomic_fetch_add(&job->hits[i], 1, __ATOMIC_RELAXED);
}

static void nested_task(void *context, int64_t begin, int64_t end, int thread)
{
    count_job *job = context;
    for (int64_t i = begin; i < end; i++) {
        /* a nested call runs inline on this thread and must not deadlock */
        count_job inner = {job->hits + i * 10, NULL, 0};
        df_pool_for(job->pool, 10, 1, count_task, &inner);
        if (df_pool_current_thread(job->pool) != thread)
            __atomic_store_n(&job->nested_ok, 0, __ATOMIC_RELAXED);
    }
}

static void test_pool(void)
{
    df_pool *any = df_pool_create(0);
    REQUIRE(any);
    CHECK(df_pool_size(any) >= 1);
    df_pool_free(any);
    CHECK(df_pool_size(NULL) == 1);
    df_pool *pools[3] = {NULL, pool2, df_pool_create(3)};
    for (int p = 0; p < 3; p++) {
        const int64_t counts[] = {1, 2, 7, 100, 1001, 65537};
        const int64_t grains[] = {1, 3, 1000};
        for (int c = 0; c < 6; c++)
            for (int g = 0; g < 3; g++) {
                int *hits = calloc((size_t)counts[c], sizeof *hits);
                count_job job = {hits, pools[p], 1};
                df_pool_for(pools[p], counts[c], grains[g], count_task, &job);
                int bad = 0;
                for (int64_t i = 0; i < counts[c]; i++)
                    bad += hits[i] != 1;
                CHECKF(bad == 0, "pool %d count %lld grain %lld: %d indices wrong", p,
                       (long long)counts[c], (long long)grains[g], bad);
                free(hits);
            }
        int *hits = calloc(500, sizeof *hits);
        count_job job = {hits, pools[p], 1};
        df_pool_for(pools[p], 50, 1, nested_task, &job);
        int bad = 0;
        for (int i = 0; i < 500; i++)
            bad += hits[i] != 1;
        CHECK(bad == 0 && job.nested_ok);
        free(hits);
        for (int t = 0; t < df_pool_size(pools[p]); t++) {
            unsigned char *a = df_pool_scratch(pools[p], t, 100);
            REQUIRE(a && ((uintptr_t)a & 63) == 0);
            a[99] = 1;
            unsigned char *b = df_pool_scratch(pools[p], t, 50); /* kept, not shrunk */
            CHECK(a == b);
            unsigned char *c = df_pool_scratch(pools[p], t, 1 << 20);
            CHECK(c && ((uintptr_t)c & 63) == 0);
            c[(1 << 20) - 1] = 2;
        }
    }
    CHECK(df_pool_scratch(pool2, 2, 16) == NULL); /* no such thread */
    df_pool_free(pools[2]);
    df_pool_free(NULL);
}

static void test_arena(void)
{
    df_arena arena = {0};
    CHECK(df_arena_alloc(&arena, 8) == NULL);
    size_t plan = df_arena_footprint(10) + df_arena_footprint(64) + df_arena_footprint(65);
    CHECK(plan == 64 + 64 + 128);
    REQUIRE(df_arena_reserve(&arena, plan, NULL) == DF_OK);
    void *a = df_arena_alloc(&arena, 10);
    float *b = df_arena_floats(&arena, 16);
    void *c = df_arena_alloc(&arena, 65);
    CHECK(a && b && c && ((uintptr_t)a & 63) == 0 && ((uintptr_t)b & 63) == 0 &&
          ((uintptr_t)c & 63) == 0);
    CHECK(df_arena_alloc(&arena, 1) == NULL); /* the plan was exact */
    CHECK(arena.high_water == plan);
    df_arena_reset(&arena);
    CHECK(df_arena_alloc(&arena, plan) == a);
    CHECK(df_arena_floats(&arena, SIZE_MAX / 2) == NULL);
    df_error error = {0};
    CHECK(df_arena_reserve(&arena, SIZE_MAX - 3, &error) == DF_ERR_NO_MEMORY);
    df_arena_release(&arena);
    df_arena_release(&arena);
}

/* --- linear ------------------------------------------------------------- */

static void check_linear(int64_t rows, int64_t in, int64_t out, df_dtype dtype, int with_bias,
                         int four_d)
{
    float *x = random_floats(rows * in, 1.0f, 0.0f);
    float *wv = random_floats(out * in, 1.0f, 0.0f);
    float *bv = random_floats(out, 1.0f, 0.0f);
    int64_t shape4[4] = {out, in, 1, 1};
    test_weight w = make_weight(dtype, wv, four_d ? 4 : 2, shape4);
    test_weight b = make_weight(dtype, bv, 1, &out);
    double *ref = malloc((size_t)(rows * out) * sizeof *ref);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < out; j++) {
            double s = with_bias ? bv[j] : 0.0;
            for (int64_t p = 0; p < in; p++)
                s += (double)x[i * in + p] * wv[j * in + p];
            ref[i * out + j] = s;
        }
    float *y1 = malloc((size_t)(rows * out) * sizeof *y1);
    float *y2 = malloc((size_t)(rows * out) * sizeof *y2);
    double bound = 1e-5 * max_abs(ref, rows * out) + 1e-5;
    for (int k = 0; k < 3; k++) {
        if (!df_gemm_force(gemm_kernels[k]))
            continue;
        df_linear(NULL, x, rows, in, &w.w, with_bias ? &b.w : NULL, y1);
        df_linear(pool2, x, rows, in, &w.w, with_bias ? &b.w : NULL, y2);
        double e = max_err(y1, ref, rows * out);
        worst_gemm = e / (max_abs(ref, rows * out) + 1e-30) > worst_gemm
                         ? e / (max_abs(ref, rows * out) + 1e-30)
                         : worst_gemm;
        CHECKF(e <= bound, "linear %s %lldx%lld->%lld %s bias=%d: err %g > %g",
               gemm_kernels[k], (long long)rows, (long long)in, (long long)out,
               df_dtype_name(dtype), with_bias, e, bound);
        CHECKF(memcmp(y1, y2, (size_t)(rows * out) * sizeof *y1) == 0,
               "linear %s: inline and 2-thread results differ", gemm_kernels[k]);
    }
    df_gemm_force(NULL);
    free(x), free(wv), free(bv), free(w.storage), free(b.storage), free(ref), free(y1), free(y2);
}

static void test_linear(void)
{
    const int64_t shapes[][3] = {
        {1, 1, 1},    {1, 768, 768},  {3, 5, 7},    {77, 768, 3072}, {13, 3000, 19},
        {154, 1024, 40}, {100, 257, 33}, {25, 16, 96}, {300, 320, 320}, {7, 2048, 1},
    };
    for (int s = 0; s < 10; s++)
        for (int d = 0; d < 3; d++)
            check_linear(shapes[s][0], shapes[s][1], shapes[s][2], dtypes[d], (s + d) % 2 == 0,
                         s == 7);
    check_linear(5, 9, 11, DF_DTYPE_F16, 1, 1);
}

/* --- conv --------------------------------------------------------------- */

static void check_conv(int n, int h, int w, int c_in, int c_out, int k, int stride, int padding,
                       df_dtype dtype, int with_bias)
{
    int oh = (h + 2 * padding - k) / stride + 1, ow = (w + 2 * padding - k) / stride + 1;
    int64_t in_count = (int64_t)n * h * w * c_in, out_count = (int64_t)n * oh * ow * c_out;
    float *x = random_floats(in_count, 1.0f, 0.0f);
    float *wv = random_floats((int64_t)c_out * c_in * k * k, 1.0f, 0.0f);
    float *bv = random_floats(c_out, 1.0f, 0.0f);
    int64_t shape[4] = {c_out, c_in, k, k}, bshape = c_out;
    test_weight wt = make_weight(dtype, wv, 4, shape);
    test_weight bt = make_weight(dtype, bv, 1, &bshape);
    double *ref = malloc((size_t)out_count * sizeof *ref);
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int co = 0; co < c_out; co++) {
                    double s = with_bias ? bv[co] : 0.0;
                    for (int ci = 0; ci < c_in; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                s += (double)x[(((int64_t)b * h + iy) * w + ix) * c_in + ci] *
                                     wv[(((int64_t)co * c_in + ci) * k + ky) * k + kx];
                            }
                    ref[(((int64_t)b * oh + oy) * ow + ox) * c_out + co] = s;
                }
    float *y1 = malloc((size_t)out_count * sizeof *y1), *y2 = malloc((size_t)out_count * sizeof *y2);
    /* Winograd's transforms scale by up to 8 and 1/24: a looser bound there */
    for (int winograd = 0; winograd <= 1; winograd++) {
        df_conv_set_winograd(winograd);
        double bound = (winograd ? 1e-4 : 1e-5) * max_abs(ref, out_count) + 1e-5;
        for (int kern = 0; kern < 3; kern++) {
            if (!df_gemm_force(gemm_kernels[kern]))
                continue;
            df_conv2d(NULL, x, n, h, w, c_in, &wt.w, with_bias ? &bt.w : NULL, stride, padding, y1);
            df_conv2d(pool2, x, n, h, w, c_in, &wt.w, with_bias ? &bt.w : NULL, stride, padding, y2);
            double e = max_err(y1, ref, out_count);
            double rel = e / (max_abs(ref, out_count) + 1e-30);
            double *worst = winograd ? &worst_winograd : &worst_gemm;
            *worst = rel > *worst ? rel : *worst;
            CHECKF(e <= bound, "conv %s%s n%d %dx%d %d->%d k%d s%d p%d %s: err %g > %g",
                   gemm_kernels[kern], winograd ? " winograd" : "", n, h, w, c_in, c_out, k,
                   stride, padding, df_dtype_name(dtype), e, bound);
            CHECKF(memcmp(y1, y2, (size_t)out_count * sizeof *y1) == 0,
                   "conv %s%s: inline and 2-thread results differ", gemm_kernels[kern],
                   winograd ? " winograd" : "");
        }
        df_gemm_force(NULL);
    }
    free(x), free(wv), free(bv), free(wt.storage), free(bt.storage), free(ref), free(y1), free(y2);
}

static void test_conv(void)
{
    int d = 0;
    for (int k = 1; k <= 3; k += 2)
        for (int stride = 1; stride <= 2; stride++)
            for (int padding = 0; padding <= 1; padding++) {
                check_conv(2, 7, 9, 5, 13, k, stride, padding, dtypes[d % 3], d % 2);
                check_conv(1, 6, 5, 37, 40, k, stride, padding, dtypes[(d + 1) % 3], 1);
                d++;
            }
    check_conv(1, 1, 1, 3, 4, 3, 1, 1, DF_DTYPE_F16, 1);       /* 1x1 image, all padding */
    check_conv(1, 9, 8, 3, 32, 3, 1, 1, DF_DTYPE_F32, 1);      /* RGB in (VAE conv_in) */
    check_conv(2, 8, 8, 4, 33, 3, 1, 1, DF_DTYPE_BF16, 1);     /* latent in */
    check_conv(1, 6, 6, 320, 64, 3, 1, 1, DF_DTYPE_F16, 1);    /* K = 2880, 10 K blocks */
    check_conv(1, 5, 7, 100, 9, 3, 2, 1, DF_DTYPE_F32, 0);     /* partial last K block */
    check_conv(1, 16, 16, 64, 64, 3, 1, 1, DF_DTYPE_F16, 1);   /* several M tasks */
    /* 2x2 with padding 1 (the VAE's upsample phase conv): 16-channel-strip
     * K blocks of 64 channels, the last one partial (160 = 64 + 64 + 32) */
    check_conv(1, 7, 6, 160, 48, 2, 1, 1, DF_DTYPE_F32, 1);
    check_conv(1, 5, 5, 72, 40, 2, 1, 1, DF_DTYPE_F16, 1);     /* 72 = 64 + 8 */
    /* Winograd (3x3 stride 1, enough 4x4 output tiles): partial edge tiles,
     * channel counts off the vector width, both paddings, several images */
    check_conv(2, 22, 19, 37, 40, 3, 1, 1, DF_DTYPE_F16, 1);
    check_conv(1, 27, 26, 13, 21, 3, 1, 0, DF_DTYPE_F32, 0);
    check_conv(1, 24, 24, 320, 24, 3, 1, 1, DF_DTYPE_BF16, 1); /* K blocks of 256 */
    check_conv(1, 25, 23, 4, 3, 3, 1, 1, DF_DTYPE_F32, 1);     /* conv_in / conv_out shapes */
    /* a small workspace: several tile chunks and output-channel blocks */
    df_conv_winograd_set_budget(36 * 60 * 32);
    check_conv(2, 20, 21, 60, 70, 3, 1, 1, DF_DTYPE_F16, 1);
    df_conv_winograd_set_budget(0);
}

/* --- attention ---------------------------------------------------------- */

static void attention_reference(const float *q, const float *k, const float *v, int64_t n_q,
                                int64_t n_kv, int d, int64_t qs, int64_t ks, int causal,
                                float scale, int64_t i, double *out, double *scores)
{
    double max = -INFINITY;
    int64_t end = causal ? i + 1 : n_kv;
    for (int64_t j = 0; j < end; j++) {
        double s = 0.0;
        for (int t = 0; t < d; t++)
            s += (double)q[i * qs + t] * k[j * ks + t];
        scores[j] = s * scale;
        max = scores[j] > max ? scores[j] : max;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < end; j++) {
        scores[j] = exp(scores[j] - max);
        sum += scores[j];
    }
    for (int t = 0; t < d; t++) {
        double o = 0.0;
        for (int64_t j = 0; j < end; j++)
            o += scores[j] * v[j * ks + t];
        out[t] = o / sum;
    }
    (void)n_q;
}

/* q, k, v live in one fused [batch, n, 3*heads*d] buffer when fused (and
 * n_q == n_kv), else in separate contiguous buffers. Checks `check_rows`
 * query rows per (batch, head) (all when <= 0). */
static void check_attention(int batch, int heads, int64_t n_q, int64_t n_kv, int d, int causal,
                            int fused, int64_t check_rows, df_pool *pool, int compare_pools)
{
    int64_t hd = (int64_t)heads * d;
    int64_t q_stride = fused ? 3 * hd : hd, kv_stride = fused ? 3 * hd : hd;
    float *qbuf = random_floats(batch * n_q * q_stride, 2.0f, 0.0f);
    float *kbuf = fused ? qbuf : random_floats(batch * n_kv * kv_stride, 2.0f, 0.0f);
    float *vbuf = fused ? qbuf : random_floats(batch * n_kv * kv_stride, 1.0f, 0.5f);
    const float *q = qbuf, *k = fused ? qbuf + hd : kbuf, *v = fused ? qbuf + 2 * hd : vbuf;
    int64_t out_stride = hd + 3; /* a padded output row */
    float *out = malloc((size_t)(batch * n_q * out_stride) * sizeof *out);
    float *out2 = compare_pools ? malloc((size_t)(batch * n_q * out_stride) * sizeof *out) : NULL;
    for (int64_t i = 0; i < batch * n_q * out_stride; i++)
        out[i] = 12345.0f;
    float scale = 1.0f / sqrtf((float)d);
    df_attention(pool, q, k, v, out, batch, heads, n_q, n_kv, d, q_stride, kv_stride, out_stride,
                 causal, scale);
    if (compare_pools) {
        memcpy(out2, out, (size_t)(batch * n_q * out_stride) * sizeof *out);
        df_attention(pool == NULL ? pool2 : NULL, q, k, v, out2, batch, heads, n_q, n_kv, d,
                     q_stride, kv_stride, out_stride, causal, scale);
        CHECKF(memcmp(out, out2, (size_t)(batch * n_q * out_stride) * sizeof *out) == 0,
               "attention: inline and 2-thread results differ");
    }
    double *ref = malloc((size_t)d * sizeof *ref), *scores = malloc((size_t)n_kv * sizeof *scores);
    double worst = 0.0;
    int padding_bad = 0;
    int64_t step = check_rows > 0 && n_q > check_rows ? n_q / check_rows : 1;
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
            for (int64_t i = 0; i < n_q; i += step) {
                attention_reference(q + b * n_q * q_stride + h * d, k + b * n_kv * kv_stride + h * d,
                                    v + b * n_kv * kv_stride + h * d, n_q, n_kv, d, q_stride,
                                    kv_stride, causal, scale, i, ref, scores);
                const float *o = out + (b * n_q + i) * out_stride + h * d;
                for (int t = 0; t < d; t++) {
                    double e = fabs(o[t] - ref[t]);
                    worst = e > worst || e != e ? (e != e ? INFINITY : e) : worst;
                }
                if (h == heads - 1)
                    for (int t = 0; t < 3; t++)
                        padding_bad += out[(b * n_q + i) * out_stride + hd + t] != 12345.0f;
            }
    worst_attention = worst > worst_attention ? worst : worst_attention;
    double bound = 1e-5 * 1.5 + 1e-6;
    CHECKF(worst <= bound, "attention b%d h%d nq%lld nkv%lld d%d causal%d fused%d: err %g > %g",
           batch, heads, (long long)n_q, (long long)n_kv, d, causal, fused, worst, bound);
    CHECK(padding_bad == 0);
    free(qbuf);
    if (!fused)
        free(kbuf), free(vbuf);
    free(out), free(out2), free(ref), free(scores);
}

static void test_attention(void)
{
    check_attention(2, 3, 77, 77, 64, 1, 1, 0, pool2, 1);   /* CLIP: causal, fused qkv */
    check_attention(2, 8, 100, 77, 40, 0, 0, 0, pool2, 1);  /* cross-attention, 77 keys */
    check_attention(1, 2, 1, 1, 8, 0, 0, 0, NULL, 1);       /* one query, one key */
    check_attention(1, 2, 1, 1, 8, 1, 1, 0, NULL, 0);
    check_attention(1, 1, 200, 300, 160, 0, 0, 0, pool2, 1); /* several blocks, d 160 */
    check_attention(1, 2, 130, 130, 24, 1, 0, 0, NULL, 1);   /* causal over 3 blocks */
    check_attention(2, 5, 129, 129, 16, 0, 1, 0, pool2, 0); /* 2 blocks + 1 */
    check_attention(2, 5, 65, 129, 16, 0, 0, 0, pool2, 0);
    check_attention(1, 1, 3, 1000, 72, 0, 0, 0, NULL, 0);
    check_attention(1, 3, 70, 70, 13, 1, 0, 0, pool2, 0);   /* odd head_dim, causal */
    check_attention(2, 2, 96, 50, 45, 0, 1, 0, pool2, 0);   /* head_dim 45: chunks of 5 */
    check_attention(1, 1, 64, 3, 6, 0, 0, 0, NULL, 0);      /* fewer keys than a group */
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void test_attention_large(void)
{
    /* 4096 x 4096 keys: a score matrix would be 64 MiB per head; the whole
     * call may grow the resident set by far less than that. */
    const int dims[2] = {40, 64};
    for (int i = 0; i < 2; i++) {
        int d = dims[i];
        int64_t n = 4096;
        float *q = random_floats(n * d, 2.0f, 0.0f), *k = random_floats(n * d, 2.0f, 0.0f);
        float *v = random_floats(n * d, 1.0f, 0.0f), *out = malloc((size_t)(n * d) * sizeof *out);
        memset(out, 0, (size_t)(n * d) * sizeof *out);
        long before = rss_kib();
        df_attention(pool2, q, k, v, out, 1, 1, n, n, d, d, d, d, 0, 1.0f / sqrtf((float)d));
        long after = rss_kib();
        if (before > 0 && after > 0)
            CHECKF(after - before < 8 * 1024, "attention grew RSS by %ld KiB", after - before);
        double ref[64], *scores = malloc((size_t)n * sizeof *scores), worst = 0.0;
        for (int64_t row = 0; row < n; row += 97) {
            attention_reference(q, k, v, n, n, d, d, d, 0, 1.0f / sqrtf((float)d), row, ref,
                                scores);
            for (int t = 0; t < d; t++) {
                double e = fabs(out[row * d + t] - ref[t]);
                worst = e > worst ? e : worst;
            }
        }
        worst_attention = worst > worst_attention ? worst : worst_attention;
        CHECKF(worst <= 1e-5, "attention 4096x4096 d%d: err %g", d, worst);
        free(q), free(k), free(v), free(out), free(scores);
    }
}

/* --- norms -------------------------------------------------------------- */

static void check_layer_norm(int64_t rows, int64_t dim, df_dtype dtype, int in_place,
                             float offset)
{
    float *x = random_floats(rows * dim, 3.0f, offset);
    float *gv = random_floats(dim, 1.0f, 1.0f), *bv = random_floats(dim, 1.0f, 0.0f);
    test_weight g = make_weight(dtype, gv, 1, &dim), b = make_weight(dtype, bv, 1, &dim);
    double *ref = malloc((size_t)(rows * dim) * sizeof *ref);
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < dim; i++)
            mean += x[r * dim + i];
        mean /= (double)dim;
        for (int64_t i = 0; i < dim; i++)
            var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
        var /= (double)dim;
        for (int64_t i = 0; i < dim; i++)
            ref[r * dim + i] = (x[r * dim + i] - mean) / sqrt(var + 1e-5) * gv[i] + bv[i];
    }
    float *y = in_place ? x : malloc((size_t)(rows * dim) * sizeof *y);
    float *y2 = malloc((size_t)(rows * dim) * sizeof *y2);
    float *x2 = malloc((size_t)(rows * dim) * sizeof *x2);
    memcpy(x2, x, (size_t)(rows * dim) * sizeof *x2);
    df_layer_norm(pool2, x2, rows, dim, &g.w, &b.w, 1e-5f, y2);
    df_layer_norm(NULL, x, rows, dim, &g.w, &b.w, 1e-5f, y);
    double e = max_err(y, ref, rows * dim), m = max_abs(ref, rows * dim);
    worst_norm = e / m > worst_norm ? e / m : worst_norm;
    CHECKF(e <= 2e-5 * m + 1e-5, "layer norm %lldx%lld %s: err %g", (long long)rows,
           (long long)dim, df_dtype_name(dtype), e);
    CHECK(memcmp(y, y2, (size_t)(rows * dim) * sizeof *y) == 0);
    free(x), free(gv), free(bv), free(g.storage), free(b.storage), free(ref), free(y2), free(x2);
    if (!in_place)
        free(y);
}

static void test_layer_norm(void)
{
    check_layer_norm(77, 768, DF_DTYPE_F32, 0, 0.0f);
    check_layer_norm(1, 13, DF_DTYPE_F16, 1, 5.0f);
    check_layer_norm(154, 1024, DF_DTYPE_BF16, 1, 100.0f); /* large mean, small spread */
    check_layer_norm(3, 1, DF_DTYPE_F32, 0, 0.0f);
}

static void check_group_norm(int n, int64_t hw, int c, int groups, int silu, df_dtype dtype,
                             int in_place, float offset)
{
    int64_t count = n * hw * c, cc = c;
    float *x = random_floats(count, 2.0f, offset);
    float *gv = random_floats(c, 1.0f, 1.0f), *bv = random_floats(c, 1.0f, 0.0f);
    test_weight g = make_weight(dtype, gv, 1, &cc), b = make_weight(dtype, bv, 1, &cc);
    double *ref = malloc((size_t)count * sizeof *ref);
    int cpg = c / groups;
    for (int img = 0; img < n; img++)
        for (int gr = 0; gr < groups; gr++) {
            double mean = 0.0, var = 0.0;
            for (int64_t p = 0; p < hw; p++)
                for (int j = 0; j < cpg; j++)
                    mean += x[(img * hw + p) * c + gr * cpg + j];
            mean /= (double)(hw * cpg);
            for (int64_t p = 0; p < hw; p++)
                for (int j = 0; j < cpg; j++) {
                    double dlt = x[(img * hw + p) * c + gr * cpg + j] - mean;
                    var += dlt * dlt;
                }
            var /= (double)(hw * cpg);
            for (int64_t p = 0; p < hw; p++)
                for (int j = 0; j < cpg; j++) {
                    int64_t idx = (img * hw + p) * c + gr * cpg + j;
                    double r = (x[idx] - mean) / sqrt(var + 1e-5) * gv[gr * cpg + j] +
                               bv[gr * cpg + j];
                    ref[idx] = silu ? r / (1.0 + exp(-r)) : r;
                }
        }
    float *x2 = malloc((size_t)count * sizeof *x2), *y2 = malloc((size_t)count * sizeof *y2);
    memcpy(x2, x, (size_t)count * sizeof *x2);
    float *y = in_place ? x : malloc((size_t)count * sizeof *y);
    df_group_norm(NULL, x, n, hw, c, groups, &g.w, &b.w, 1e-5f, silu, y);
    df_group_norm(pool2, x2, n, hw, c, groups, &g.w, &b.w, 1e-5f, silu, y2);
    double e = max_err(y, ref, count), m = max_abs(ref, count);
    worst_norm = e / m > worst_norm ? e / m : worst_norm;
    CHECKF(e <= 2e-5 * m + 1e-5, "group norm n%d hw%lld c%d g%d silu%d: err %g", n,
           (long long)hw, c, groups, silu, e);
    CHECK(memcmp(y, y2, (size_t)count * sizeof *y) == 0);
    free(x), free(gv), free(bv), free(g.storage), free(b.storage), free(ref), free(x2), free(y2);
    if (!in_place)
        free(y);
}

static void test_group_norm(void)
{
    check_group_norm(2, 4096, 320, 32, 1, DF_DTYPE_F16, 0, 0.0f);
    check_group_norm(1, 4096, 320, 32, 0, DF_DTYPE_F32, 1, 50.0f); /* offset: E[x²]-mean² */
    check_group_norm(1, 5, 8, 2, 1, DF_DTYPE_BF16, 1, 0.0f);
    check_group_norm(3, 7, 12, 4, 0, DF_DTYPE_F32, 0, -1.0f);
    check_group_norm(1, 1, 3, 1, 1, DF_DTYPE_F32, 0, 0.0f);
    check_group_norm(1, 2500, 20, 5, 1, DF_DTYPE_F32, 0, 3.0f); /* 3 chunks, last partial */
}

/* --- element-wise ------------------------------------------------------- */

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void test_activations(void)
{
    const int64_t counts[] = {1, 7, 8, 9, 1000, (1 << 17) + 3};
    for (int c = 0; c < 6; c++) {
        int64_t n = counts[c];
        float *x = random_floats(n, 8.0f, 0.0f);
        x[0] = n > 1 ? -30.0f : x[0];
        float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        double worst_g = 0, worst_q = 0, worst_s = 0;
        memcpy(a, x, (size_t)n * sizeof *a);
        memcpy(b, x, (size_t)n * sizeof *b);
        df_gelu(NULL, a, n);
        df_gelu(pool2, b, n);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
        for (int64_t i = 0; i < n; i++) {
            double e = fabs(a[i] - gelu_ref(x[i])) / (1.0 + fabs(x[i]));
            worst_g = e > worst_g ? e : worst_g;
        }
        memcpy(a, x, (size_t)n * sizeof *a);
        df_quick_gelu(pool2, a, n);
        for (int64_t i = 0; i < n; i++) {
            double r = x[i] / (1.0 + exp(-1.702 * x[i]));
            double e = fabs(a[i] - r) / (1.0 + fabs(x[i]));
            worst_q = e > worst_q ? e : worst_q;
        }
        memcpy(a, x, (size_t)n * sizeof *a);
        df_silu(pool2, a, n);
        for (int64_t i = 0; i < n; i++) {
            double r = x[i] / (1.0 + exp(-(double)x[i]));
            double e = fabs(a[i] - r) / (1.0 + fabs(x[i]));
            worst_s = e > worst_s ? e : worst_s;
        }
        double w = fmax(worst_g, fmax(worst_q, worst_s));
        worst_act = w > worst_act ? w : worst_act;
        CHECKF(worst_g <= 1e-6, "gelu n=%lld: err %g", (long long)n, worst_g);
        CHECKF(worst_q <= 1e-6, "quick gelu n=%lld: err %g", (long long)n, worst_q);
        CHECKF(worst_s <= 1e-6, "silu n=%lld: err %g", (long long)n, worst_s);
        /* add, aliasing the output with an input */
        memcpy(a, x, (size_t)n * sizeof *a);
        float *y = random_floats(n, 1.0f, 0.0f);
        memcpy(b, y, (size_t)n * sizeof *b);
        df_add(pool2, a, b, b, n);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += b[i] != x[i] + y[i];
        CHECK(bad == 0);
        free(x), free(a), free(b), free(y);
    }
}

static void test_geglu(void)
{
    const int64_t shapes[][2] = {{1, 1}, {3, 13}, {77, 40}, {4096, 20}};
    for (int s = 0; s < 4; s++) {
        int64_t rows = shapes[s][0], dim = shapes[s][1];
        float *x = random_floats(rows * 2 * dim, 4.0f, 0.0f);
        float *y = malloc((size_t)(rows * dim) * sizeof *y);
        float *y2 = malloc((size_t)(rows * dim) * sizeof *y2);
        df_geglu(NULL, x, rows, dim, y);
        df_geglu(pool2, x, rows, dim, y2);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < dim; i++) {
                double hv = x[r * 2 * dim + i], gv = x[r * 2 * dim + dim + i];
                double e = fabs(y[r * dim + i] - hv * gelu_ref(gv)) / (1.0 + fabs(hv * gv));
                worst = e > worst ? e : worst;
            }
        worst_act = worst > worst_act ? worst : worst_act;
        CHECKF(worst <= 1e-6, "geglu %lldx%lld: err %g", (long long)rows, (long long)dim, worst);
        CHECK(memcmp(y, y2, (size_t)(rows * dim) * sizeof *y) == 0);
        free(x), free(y), free(y2);
    }
}

static void test_softmax(void)
{
    const int64_t shapes[][2] = {{1, 1}, {5, 7}, {3, 77}, {2, 1000}, {300, 129}};
    for (int s = 0; s < 5; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1];
        float *x = random_floats(rows * cols, 20.0f, 30.0f);
        float *y = malloc((size_t)(rows * cols) * sizeof *y);
        memcpy(y, x, (size_t)(rows * cols) * sizeof *y);
        df_softmax_rows(s % 2 ? pool2 : NULL, y, rows, cols);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            double max = -INFINITY, sum = 0;
            for (int64_t i = 0; i < cols; i++)
                max = fmax(max, x[r * cols + i]);
            for (int64_t i = 0; i < cols; i++)
                sum += exp(x[r * cols + i] - max);
            for (int64_t i = 0; i < cols; i++) {
                double e = fabs(y[r * cols + i] - exp(x[r * cols + i] - max) / sum);
                worst = e > worst ? e : worst;
            }
        }
        worst_act = worst > worst_act ? worst : worst_act;
        CHECKF(worst <= 1e-6, "softmax %lldx%lld: err %g", (long long)rows, (long long)cols, worst);
        free(x), free(y);
    }
}

static void test_upsample_concat(void)
{
    int n = 2, h = 3, w = 5, c = 7;
    float *x = random_floats(n * h * w * c, 1.0f, 0.0f);
    float *y = malloc((size_t)(n * 4 * h * w * c) * sizeof *y);
    df_upsample_nearest2x(pool2, x, n, h, w, c, y);
    int bad = 0;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < 2 * h; oy++)
            for (int ox = 0; ox < 2 * w; ox++)
                for (int ch = 0; ch < c; ch++)
                    bad += y[(((int64_t)b * 2 * h + oy) * 2 * w + ox) * c + ch] !=
                           x[(((int64_t)b * h + oy / 2) * w + ox / 2) * c + ch];
    CHECK(bad == 0);
    free(x), free(y);
    /* a large one, over the pool */
    n = 1, h = 64, w = 64, c = 320;
    x = random_floats(n * h * w * c, 1.0f, 0.0f);
    y = malloc((size_t)(n * 4 * h * w * c) * sizeof *y);
    df_upsample_nearest2x(pool2, x, n, h, w, c, y);
    bad = 0;
    for (int oy = 0; oy < 2 * h; oy += 7)
        for (int ox = 0; ox < 2 * w; ox++)
            for (int ch = 0; ch < c; ch += 13)
                bad += y[((int64_t)oy * 2 * w + ox) * c + ch] != x[((int64_t)(oy / 2) * w + ox / 2) * c + ch];
    CHECK(bad == 0);
    free(x), free(y);

    int64_t pixels = 4099;
    int ca = 5, cb = 11;
    float *a = random_floats(pixels * ca, 1.0f, 0.0f), *b = random_floats(pixels * cb, 1.0f, 0.0f);
    float *yc = malloc((size_t)(pixels * (ca + cb)) * sizeof *yc);
    df_concat_channels(pool2, a, ca, b, cb, pixels, yc);
    bad = 0;
    for (int64_t p = 0; p < pixels; p++) {
        for (int i = 0; i < ca; i++)
            bad += yc[p * (ca + cb) + i] != a[p * ca + i];
        for (int i = 0; i < cb; i++)
            bad += yc[p * (ca + cb) + ca + i] != b[p * cb + i];
    }
    CHECK(bad == 0);
    free(a), free(b), free(yc);
}

/* The vector kernels again on the baseline (non-AVX2) path. */
static void test_baseline_vector_path(void)
{
    int saved = df_vec_has_avx2;
    df_vec_has_avx2 = 0;
    test_activations();
    test_geglu();
    test_softmax();
    test_layer_norm();
    check_group_norm(2, 100, 64, 8, 1, DF_DTYPE_F16, 0, 0.0f);
    check_attention(2, 3, 77, 77, 64, 1, 1, 0, pool2, 1);
    check_attention(1, 2, 130, 90, 40, 0, 0, 0, NULL, 1);
    df_vec_has_avx2 = saved;
}

int main(void)
{
    pool2 = df_pool_create(2);
    if (!pool2) {
        fprintf(stderr, "cannot create a pool\n");
        return 1;
    }
    printf("gemm kernel: %s, vector path: %s\n", df_gemm_kernel_name(),
           df_vec_has_avx2 ? "avx2" : "baseline");
    DF_RUN(test_half_conversion);
    DF_RUN(test_pool);
    DF_RUN(test_arena);
    DF_RUN(test_linear);
    DF_RUN(test_conv);
    DF_RUN(test_attention);
    DF_RUN(test_attention_large);
    DF_RUN(test_layer_norm);
    DF_RUN(test_group_norm);
    DF_RUN(test_activations);
    DF_RUN(test_geglu);
    DF_RUN(test_softmax);
    DF_RUN(test_upsample_concat);
    DF_RUN(test_baseline_vector_path);
    printf("worst errors: gemm %.3g, winograd conv %.3g (relative to max|ref|), attention "
           "%.3g (abs), norm %.3g (relative), activations %.3g\n",
           worst_gemm, worst_winograd, worst_attention, worst_norm, worst_act);
    df_pool_free(pool2);
    return df_test_finish();
}
