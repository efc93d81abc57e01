/*
 * test_precision.c — the reduced-precision GEMM paths (--precision bf16 and
 * int8) against the f32 path on the same inputs, for df_linear and
 * df_conv2d over awkward sizes (odd K, several K blocks, edge tiles, every
 * weight dtype), 1- and 2-thread pools (results must be bitwise equal), and
 * the fallbacks when the CPU features are turned off.
 *
 * Error bounds, per output element y = sum_k x_k w_k (derived from the
 * formats; `f32` = 1e-5 * max|y| + 1e-5 for the f32 rounding both paths
 * share):
 *  - bf16: each input rounded to 8 significant bits (relative error
 *    <= 2^-9), so each product is off by <= 2^-8 (1 + 2^-10) of itself:
 *    |y - y32| <= 1.01 * 2^-8 * sum_k |x_k w_k| + f32.
 *  - int8: activations u8 over each row's [min(x,0), max(x,0)] (step
 *    R/255, error <= R/510), weights s8 per column (error <= max|w|/254):
 *    |y - y32| <= 1.05 * (R/510 sum|w_k| + M/254 sum|x_k| + K R/510 M/254)
 *    + f32, with R and M taken over the whole row / column (the kernel's
 *    per-K-block scales are never coarser).
 * Worst observed errors relative to the bound are printed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runtime/cpu.h"
#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/precision.h"
#include "runtime/tensor.h"
#include "runtime/threads.h"

static df_pool *pool1, *pool2;
static double worst[3]; /* max err / bound per precision */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float *random_floats(int64_t count, float scale, float offset)
{
    return df_test_random_floats(&rng_state, count, scale, offset);
}

static const df_precision reduced[2] = {DF_PRECISION_BF16, DF_PRECISION_INT8};

static int run_available(df_precision precision)
{
    return df_gemm_precision_available(precision, NULL);
}

/* Per-output bound for one precision from the row/column statistics. */
static double bound_for(df_precision precision, double abs_dot, double row_range,
                        double row_abs_sum, double col_max, double col_abs_sum, int64_t k,
                        double f32)
{
    if (precision == DF_PRECISION_BF16)
        return 1.01 * ldexp(1.0, -8) * abs_dot + f32;
    double ea = row_range / 510.0, eb = col_max / 254.0;
    return 1.05 * (ea * col_abs_sum + eb * row_abs_sum + (double)k * ea * eb) + f32;
}

static void check_linear(int64_t rows, int64_t in, int64_t out, df_dtype dtype, int with_bias,
                         float x_offset)
{
    float *x = random_floats(rows * in, 1.0f, x_offset);
    float *wv = random_floats(out * in, 0.5f, 0.0f);
    float *bv = random_floats(out, 1.0f, 0.0f);
    void *ws = df_test_store_weight(dtype, wv, out * in);
    void *bs = df_test_store_weight(dtype, bv, out);
    df_weight w = {dtype, 2, {out, in}, ws}, b = {dtype, 1, {out}, bs};
    float *y32 = malloc((size_t)(rows * out) * sizeof *y32);
    float *y1 = malloc((size_t)(rows * out) * sizeof *y1);
    float *y2 = malloc((size_t)(rows * out) * sizeof *y2);
    df_linear(pool2, x, rows, in, &w, with_bias ? &b : NULL, y32);
    double ymax = 0;
    for (int64_t i = 0; i < rows * out; i++)
        ymax = fmax(ymax, fabs(y32[i]));
    for (int pi = 0; pi < 2; pi++) {
        df_precision pr = reduced[pi];
        if (!run_available(pr))
            continue;
        df_pool_set_precision(pool1, pr);
        df_pool_set_precision(pool2, pr);
        df_linear(pool1, x, rows, in, &w, with_bias ? &b : NULL, y1);
        df_linear(pool2, x, rows, in, &w, with_bias ? &b : NULL, y2);
        df_pool_set_precision(pool1, DF_PRECISION_F32);
        df_pool_set_precision(pool2, DF_PRECISION_F32);
        CHECKF(memcmp(y1, y2, (size_t)(rows * out) * sizeof *y1) == 0,
               "linear %s %lldx%lldx%lld: 1- and 2-thread results differ", df_precision_name(pr),
               (long long)rows, (long long)in, (long long)out);
        int bad = 0;
        for (int64_t i = 0; i < rows && !bad; i++) {
            const float *xr = x + i * in;
            double lo = 0, hi = 0, xs = 0;
            for (int64_t k = 0; k < in; k++) {
                lo = fmin(lo, xr[k]);
                hi = fmax(hi, xr[k]);
                xs += fabs(xr[k]);
            }
            for (int64_t j = 0; j < out; j++) {
                const float *wr = wv + j * in;
                double dot = 0, wmax = 0, ws_ = 0;
                for (int64_t k = 0; k < in; k++) {
                    dot += fabs((double)xr[k] * wr[k]);
                    wmax = fmax(wmax, fabs(wr[k]));
                    ws_ += fabs(wr[k]);
                }
                double bound = bound_for(pr, dot, hi - lo, xs, wmax, ws_, in, 1e-5 * ymax + 1e-5);
                double e = fabs((double)y1[i * out + j] - y32[i * out + j]);
                worst[pr] = fmax(worst[pr], e / bound);
                if (!(e <= bound)) {
                    CHECKF(0, "linear %s %lldx%lldx%lld %s: y[%lld,%lld] err %g > %g",
                           df_precision_name(pr), (long long)rows, (long long)in,
                           (long long)out, df_dtype_name(dtype), (long long)i, (long long)j, e,
                           bound);
                    bad = 1;
                    break;
                }
            }
        }
    }
    free(x), free(wv), free(bv), free(ws), free(bs), free(y32), free(y1), free(y2);
}

static void test_linear(void)
{
    const int64_t shapes[][3] = {
        {1, 1, 1},     {3, 5, 7},      {13, 1001, 19}, {77, 768, 300},
        {100, 257, 33}, {300, 320, 320}, {25, 16, 96},  {7, 2048, 1},
    };
    const df_dtype dtypes[3] = {DF_DTYPE_F32, DF_DTYPE_F16, DF_DTYPE_BF16};
    for (int s = 0; s < 8; s++)
        for (int d = 0; d < 3; d++)
            check_linear(shapes[s][0], shapes[s][1], shapes[s][2], dtypes[d], (s + d) % 2 == 0,
                         s % 3 == 1 ? 0.7f : 0.0f /* one-signed rows, as after SiLU */);
}

static void check_conv(int n, int h, int w, int c_in, int c_out, int k, int stride, int padding,
                       df_dtype dtype)
{
    int oh = (h + 2 * padding - k) / stride + 1, ow = (w + 2 * padding - k) / stride + 1;
    int64_t in_count = (int64_t)n * h * w * c_in, out_count = (int64_t)n * oh * ow * c_out;
    int64_t kk = (int64_t)c_in * k * k;
    float *x = random_floats(in_count, 1.0f, 0.2f);
    float *wv = random_floats(c_out * kk, 0.5f, 0.0f);
    float *bv = random_floats(c_out, 1.0f, 0.0f);
    void *ws = df_test_store_weight(dtype, wv, c_out * kk), *bs = df_test_store_weight(dtype, bv, c_out);
    df_weight wt = {dtype, 4, {c_out, c_in, k, k}, ws}, bt = {dtype, 1, {c_out}, bs};
    float *y32 = malloc((size_t)out_count * 4), *y1 = malloc((size_t)out_count * 4);
    float *y2 = malloc((size_t)out_count * 4);
    df_conv2d(pool2, x, n, h, w, c_in, &wt, &bt, stride, padding, y32);
    double ymax = 0, lo = 0, hi = 0;
    for (int64_t i = 0; i < out_count; i++)
        ymax = fmax(ymax, fabs(y32[i]));
    for (int64_t i = 0; i < in_count; i++)
        lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    for (int pi = 0; pi < 2; pi++) {
        df_precision pr = reduced[pi];
        if (!run_available(pr))
            continue;
        df_pool_set_precision(pool1, pr);
        df_pool_set_precision(pool2, pr);
        df_conv2d(pool1, x, n, h, w, c_in, &wt, &bt, stride, padding, y1);
        df_conv2d(pool2, x, n, h, w, c_in, &wt, &bt, stride, padding, y2);
        df_pool_set_precision(pool1, DF_PRECISION_F32);
        df_pool_set_precision(pool2, DF_PRECISION_F32);
        CHECKF(memcmp(y1, y2, (size_t)out_count * sizeof *y1) == 0,
               "conv %s: 1- and 2-thread results differ", df_precision_name(pr));
        int bad = 0;
        for (int b = 0; b < n && !bad; b++)
            for (int oy = 0; oy < oh && !bad; oy++)
                for (int ox = 0; ox < ow && !bad; ox++)
                    for (int co = 0; co < c_out && !bad; co++) {
                        double dot = 0, xs = 0, wmax = 0, wsum = 0;
                        for (int ci = 0; ci < c_in; ci++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    double wk = wv[((co * (int64_t)c_in + ci) * k + ky) * k + kx];
                                    wmax = fmax(wmax, fabs(wk));
                                    wsum += fabs(wk);
                                    int iy = oy * stride - padding + ky;
                                    int ix = ox * stride - padding + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                        continue;
                                    double xv =
                                        x[(((int64_t)b * h + iy) * w + ix) * c_in + ci];
                                    dot += fabs(xv * wk);
                                    xs += fabs(xv);
                                }
                        double bound = bound_for(pr, dot, hi - lo, xs, wmax, wsum, kk,
                                                 1e-5 * ymax + 1e-5);
                        int64_t at = (((int64_t)b * oh + oy) * ow + ox) * c_out + co;
                        double e = fabs((double)y1[at] - y32[at]);
                        worst[pr] = fmax(worst[pr], e / bound);
                        if (!(e <= bound)) {
                            CHECKF(0, "conv %s %dx%dx%d->%d k%d s%d p%d %s: err %g > %g",
                                   df_precision_name(pr), h, w, c_in, c_out, k, stride, padding,
                                   df_dtype_name(dtype), e, bound);
                            bad = 1;
                        }
                    }
    }
    free(x), free(wv), free(bv), free(ws), free(bs), free(y32), free(y1), free(y2);
}

static void test_conv(void)
{
    check_conv(1, 9, 9, 3, 8, 3, 1, 1, DF_DTYPE_F32);     /* K = 27: odd, one block */
    check_conv(2, 8, 8, 40, 33, 3, 1, 1, DF_DTYPE_F16);   /* blocks of 32 + 8 channels */
    check_conv(1, 10, 10, 16, 20, 3, 2, 1, DF_DTYPE_BF16); /* stride 2 */
    check_conv(1, 8, 8, 64, 40, 2, 2, 0, DF_DTYPE_F32);   /* 2x2 */
    check_conv(1, 12, 12, 96, 64, 3, 1, 1, DF_DTYPE_F16); /* 3 full blocks, 144 pixels */
    check_conv(1, 7, 7, 48, 17, 1, 2, 0, DF_DTYPE_F32);   /* 1x1 strided: im2col path */
    check_conv(1, 6, 6, 24, 10, 1, 1, 0, DF_DTYPE_F32);   /* 1x1: the linear path */
}

/* With the features turned off, reduced requests must run the f32 path
 * (bitwise the f32 result) and never an instruction the CPU lacks. */
static void test_fallback(void)
{
    const int64_t rows = 50, in = 300, out = 70;
    float *x = random_floats(rows * in, 1.0f, 0.0f), *wv = random_floats(out * in, 1.0f, 0.0f);
    df_weight w = {DF_DTYPE_F32, 2, {out, in}, wv};
    float *y32 = malloc((size_t)(rows * out) * 4), *y = malloc((size_t)(rows * out) * 4);
    const char *levels[] = {"avx512_bf16,avx512_vnni,avx_vnni", "avx512_bf16", "avx512_vnni",
                            "avx512_vnni,avx_vnni", "avx512f", "avx512f,avx_vnni",
                            "avx512f,avx2", "all"};
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        REQUIRE(df_cpu_set_disabled(levels[l]));
        df_gemm_force(NULL);
        /* available exactly when cpuid (minus the disabled set) allows */
        CHECK(run_available(DF_PRECISION_BF16) == df_cpu_has(DF_CPU_AVX512_BF16));
        CHECK(run_available(DF_PRECISION_INT8) ==
              (df_cpu_has(DF_CPU_AVX512_VNNI) || df_cpu_has(DF_CPU_AVX_VNNI)));
        if (strstr(levels[l], "bf16") || strstr(levels[l], "avx512f") || !strcmp(levels[l], "all"))
            CHECK(!run_available(DF_PRECISION_BF16));
        if (strstr(levels[l], "avx_vnni") || !strcmp(levels[l], "all") ||
            !strcmp(levels[l], "avx512f,avx2"))
            CHECK(!run_available(DF_PRECISION_INT8));
        df_linear(pool2, x, rows, in, &w, NULL, y32);
        for (int pi = 0; pi < 2; pi++) {
            df_precision pr = reduced[pi];
            df_precision eff = df_gemm_precision_effective(pr);
            CHECK(eff == pr || eff == DF_PRECISION_F32);
            if (eff != DF_PRECISION_F32)
                continue;
            /* the kernels themselves fall back too, even when asked directly */
            df_pool_set_precision(pool2, pr);
            df_linear(pool2, x, rows, in, &w, NULL, y);
            df_pool_set_precision(pool2, DF_PRECISION_F32);
            CHECKF(memcmp(y, y32, (size_t)(rows * out) * 4) == 0,
                   "%s with %s disabled: not the f32 result", df_precision_name(pr), levels[l]);
        }
        printf("  disabled %-34s: f32 kernel %-7s bf16 %s, int8 %s\n", levels[l],
               df_gemm_kernel_name(), run_available(DF_PRECISION_BF16) ? "yes" : "f32",
               df_gemm_int8_kernel() ? df_gemm_int8_kernel()->name : "f32");
    }
    CHECK(!df_cpu_set_disabled("avx513"));
    REQUIRE(df_cpu_set_disabled(""));
    df_gemm_force(NULL);
    free(x), free(wv), free(y32), free(y);
}

/* The AVX-VNNI kernel (6 x 16, ymm) quantizes per row, column and K block
 * exactly as the AVX512-VNNI one (12 x 32) and sums exactly, so the two
 * give bitwise the same outputs; then it passes the same bounds. */
static void test_int8_avx_vnni(void)
{
    if (!df_gemm_int8_avx2_kernel()) {
        printf("  (no AVX-VNNI here: skipped)\n");
        return;
    }
    const int64_t rows = 133, in = 700, out = 75; /* edges in M, N and an odd K block */
    float *x = random_floats(rows * in, 1.0f, 0.3f), *wv = random_floats(out * in, 0.5f, 0.0f);
    float *bv = random_floats(out, 1.0f, 0.0f);
    df_weight w = {DF_DTYPE_F32, 2, {out, in}, wv}, b = {DF_DTYPE_F32, 1, {out}, bv};
    float *y512 = malloc((size_t)(rows * out) * 4), *y256 = malloc((size_t)(rows * out) * 4);
    const int have512 = df_cpu_has(DF_CPU_AVX512_VNNI);
    df_pool_set_precision(pool2, DF_PRECISION_INT8);
    df_linear(pool2, x, rows, in, &w, &b, y512);
    REQUIRE(df_cpu_set_disabled("avx512_vnni"));
    REQUIRE(df_gemm_int8_kernel() && !strcmp(df_gemm_int8_kernel()->name, "avx_vnni"));
    df_linear(pool2, x, rows, in, &w, &b, y256);
    df_pool_set_precision(pool2, DF_PRECISION_F32);
    if (have512)
        CHECKF(memcmp(y512, y256, (size_t)(rows * out) * 4) == 0,
               "AVX-VNNI and AVX512-VNNI int8 results differ");
    /* and the bounds, on every shape, with this kernel */
    test_linear();
    test_conv();
    REQUIRE(df_cpu_set_disabled(""));
    free(x), free(wv), free(bv), free(y512), free(y256);
}

static void test_parse(void)
{
    df_precision p;
    CHECK(df_precision_parse(NULL, &p) && p == DF_PRECISION_F32);
    CHECK(df_precision_parse("", &p) && p == DF_PRECISION_F32);
    CHECK(df_precision_parse("f32", &p) && p == DF_PRECISION_F32);
    CHECK(df_precision_parse("bf16", &p) && p == DF_PRECISION_BF16);
    CHECK(df_precision_parse("int8", &p) && p == DF_PRECISION_INT8);
    CHECK(!df_precision_parse("fp7", &p));
    CHECK(!df_precision_parse("BF16 ", &p));
}

int main(void)
{
    pool1 = df_pool_create(1);
    pool2 = df_pool_create(2);
    if (!pool1 || !pool2)
        return 1;
    printf("bf16 kernel: %s, int8 kernel: %s\n",
           df_gemm_bf16_kernel() ? df_gemm_bf16_kernel()->name : "none (f32)",
           df_gemm_int8_kernel() ? df_gemm_int8_kernel()->name : "none (f32)");
    DF_RUN(test_parse);
    DF_RUN(test_linear);
    DF_RUN(test_conv);
    DF_RUN(test_int8_avx_vnni);
    DF_RUN(test_fallback);
    printf("worst error / bound: bf16 %.3f, int8 %.3f\n", worst[DF_PRECISION_BF16],
           worst[DF_PRECISION_INT8]);
    df_pool_free(pool1);
    df_pool_free(pool2);
    return df_test_finish();
}
