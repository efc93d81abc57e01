/*
 * bench_kernels.c — GFLOP/s of the runtime's GEMM paths on the shapes the
 * models use, next to OpenBLAS sgemm on the same data, with 1 and 2 threads.
 * Also times attention, group norm and GELU. Each measurement is the best of
 * a few repeats (the machine is shared); all backends of one shape are
 * measured back to back so they see the same conditions.
 *
 *   cmake --build build-kernels --target bench_kernels
 *   ./build-kernels/bench_kernels [--quick] [--precision | --winograd]
 *
 * --winograd times only the 3x3 convolutions, direct against Winograd
 * F(4x4, 3x3), on the UNet/VAE shapes with 2 threads. --precision times only the reduced-precision paths (--precision f32 |
 * bf16 | int8 of `diffuse generate`) against f32 on the large UNet/VAE
 * shapes, with 1 and 2 threads.
 *
 * OpenBLAS is given f32 weights (converted beforehand, not timed), i.e. its
 * best case; for conv it gets an explicit im2col (timed) + sgemm. Our path
 * is timed with f32 and f16 weights (f16 converted while packing).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/precision.h"
#include "runtime/tensor.h"
#include "runtime/threads.h"

void openblas_set_num_threads(int num_threads);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rand_floats(int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p);
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((s >> 40) * (1.0 / 8388608.0)) - 1.0f;
    }
    return p;
}

static int repeats = 3;
static double min_seconds = 0.3;

/* best seconds per call over `repeats` rounds of >= min_seconds/repeats */
#define TIME_BEST(result, ...)                                                                   \
    do {                                                                                         \
        __VA_ARGS__;                                                                             \
        double best_ = 1e30;                                                                     \
        for (int r_ = 0; r_ < repeats; r_++) {                                                   \
            int iters_ = 0;                                                                      \
            double t0_ = now(), t1_;                                                             \
            do {                                                                                 \
                __VA_ARGS__;                                                                     \
                iters_++;                                                                        \
                t1_ = now();                                                                     \
            } while (t1_ - t0_ < min_seconds / repeats);                                         \
            double per_ = (t1_ - t0_) / iters_;                                                  \
            best_ = per_ < best_ ? per_ : best_;                                                 \
        }                                                                                        \
        (result) = best_;                                                                        \
    } while (0)

typedef struct shape {
    const char *name;
    int64_t m, k, n;
} shape;

static void bench_linear(df_pool *pools[2], const shape *s)
{
    float *x = rand_floats(s->m * s->k), *w = rand_floats(s->n * s->k), *b = rand_floats(s->n);
    float *y = malloc((size_t)(s->m * s->n) * sizeof *y);
    uint16_t *wh = malloc((size_t)(s->n * s->k) * sizeof *wh);
    for (int64_t i = 0; i < s->n * s->k; i++)
        wh[i] = df_f32_to_f16(w[i]);
    df_weight w32 = {DF_DTYPE_F32, 2, {s->n, s->k}, w}, w16 = {DF_DTYPE_F16, 2, {s->n, s->k}, wh};
    df_weight bias = {DF_DTYPE_F32, 1, {s->n}, b};
    double flops = 2.0 * s->m * s->n * s->k, t;
    printf("%-26s M=%-6lld K=%-5lld N=%-5lld", s->name, (long long)s->m, (long long)s->k,
           (long long)s->n);
    for (int th = 0; th < 2; th++) {
        const char *kernels[2] = {"avx512", "avx2"};
        for (int kk = 0; kk < 2; kk++) {
            df_gemm_force(kernels[kk]);
            TIME_BEST(t, df_linear(pools[th], x, s->m, s->k, &w32, &bias, y));
            printf(" | %6.1f", flops / t * 1e-9);
            TIME_BEST(t, df_linear(pools[th], x, s->m, s->k, &w16, &bias, y));
            printf(" %6.1f", flops / t * 1e-9);
        }
        df_gemm_force(NULL);
        openblas_set_num_threads(th + 1);
        TIME_BEST(t, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->m, (int)s->n,
                                 (int)s->k, 1.0f, x, (int)s->k, w, (int)s->k, 0.0f, y, (int)s->n));
        printf(" %6.1f", flops / t * 1e-9);
    }
    printf("\n");
    fflush(stdout);
    free(x), free(w), free(b), free(y), free(wh);
}

static void im2col(const float *x, int h, int w, int c, int k, int pad, float *col)
{
    for (int oy = 0; oy < h; oy++)
        for (int ox = 0; ox < w; ox++) {
            float *dst = col + ((int64_t)oy * w + ox) * k * k * c;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++, dst += c) {
                    int iy = oy - pad + ky, ix = ox - pad + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                        memset(dst, 0, (size_t)c * sizeof *dst);
                    else
                        memcpy(dst, x + ((int64_t)iy * w + ix) * c, (size_t)c * sizeof *dst);
                }
        }
}

static void bench_conv(df_pool *pools[2], const char *name, int h, int w, int c_in, int c_out)
{
    int64_t m = (int64_t)h * w, k = 9LL * c_in;
    float *x = rand_floats(m * c_in), *wt = rand_floats(c_out * k), *y = malloc((size_t)(m * c_out) * 4);
    float *col = malloc((size_t)(m * k) * sizeof *col);
    float *wr = malloc((size_t)(c_out * k) * sizeof *wr); /* [c_out][ky][kx][ci] for OpenBLAS */
    uint16_t *wh = malloc((size_t)(c_out * k) * sizeof *wh);
    for (int64_t i = 0; i < c_out * k; i++)
        wh[i] = df_f32_to_f16(wt[i]);
    for (int co = 0; co < c_out; co++)
        for (int ci = 0; ci < c_in; ci++)
            for (int r = 0; r < 9; r++)
                wr[(int64_t)co * k + r * c_in + ci] = wt[((int64_t)co * c_in + ci) * 9 + r];
    df_weight w32 = {DF_DTYPE_F32, 4, {c_out, c_in, 3, 3}, wt};
    df_weight w16 = {DF_DTYPE_F16, 4, {c_out, c_in, 3, 3}, wh};
    double flops = 2.0 * m * c_out * k, t;
    printf("%-26s M=%-6lld K=%-5lld N=%-5d", name, (long long)m, (long long)k, c_out);
    for (int th = 0; th < 2; th++) {
        const char *kernels[2] = {"avx512", "avx2"};
        for (int kk = 0; kk < 2; kk++) {
            df_gemm_force(kernels[kk]);
            TIME_BEST(t, df_conv2d(pools[th], x, 1, h, w, c_in, &w32, NULL, 1, 1, y));
            printf(" | %6.1f", flops / t * 1e-9);
            TIME_BEST(t, df_conv2d(pools[th], x, 1, h, w, c_in, &w16, NULL, 1, 1, y));
            printf(" %6.1f", flops / t * 1e-9);
        }
        df_gemm_force(NULL);
        openblas_set_num_threads(th + 1);
        TIME_BEST(t, im2col(x, h, w, c_in, 3, 1, col);
                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, c_out, (int)k,
                              1.0f, col, (int)k, wr, (int)k, 0.0f, y, c_out));
        printf(" %6.1f", flops / t * 1e-9);
    }
    printf("\n");
    fflush(stdout);
    free(x), free(wt), free(y), free(col), free(wr), free(wh);
}

/* CPU time of all threads per call: robust to a loaded machine, where
 * wall time mostly measures the other processes. */
static double cpu_seconds_per_call(df_pool *pool, const float *x, int n, int h, int w, int c_in,
                                   const df_weight *weight, float *y)
{
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < 3; i++)
        df_conv2d(pool, x, n, h, w, c_in, weight, NULL, 1, 1, y);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    return ((double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9) / 3;
}

/* Winograd F(4x4, 3x3) against the direct (implicit GEMM) conv, f16
 * weights, the batch of a CFG step: wall and CPU ms per call and the
 * speed-ups, plus the largest difference relative to the output's scale. */
static void bench_winograd(df_pool *pool, const char *name, int n, int h, int w, int c_in,
                           int c_out)
{
    int64_t in = (int64_t)n * h * w * c_in, out = (int64_t)n * h * w * c_out;
    float *x = rand_floats(in), *wt = rand_floats((int64_t)c_out * c_in * 9);
    float *y_direct = malloc((size_t)out * sizeof(float)), *y = malloc((size_t)out * sizeof(float));
    uint16_t *wh = malloc((size_t)c_out * c_in * 9 * sizeof *wh);
    for (int64_t i = 0; i < (int64_t)c_out * c_in * 9; i++)
        wh[i] = df_f32_to_f16(wt[i]);
    df_weight w16 = {DF_DTYPE_F16, 4, {c_out, c_in, 3, 3}, wh};
    double t_direct, t_winograd, cpu_direct, cpu_winograd, err = 0, scale = 0;
    df_conv_set_winograd(0);
    TIME_BEST(t_direct, df_conv2d(pool, x, n, h, w, c_in, &w16, NULL, 1, 1, y_direct));
    cpu_direct = cpu_seconds_per_call(pool, x, n, h, w, c_in, &w16, y_direct);
    df_conv_set_winograd(1);
    TIME_BEST(t_winograd, df_conv2d(pool, x, n, h, w, c_in, &w16, NULL, 1, 1, y));
    cpu_winograd = cpu_seconds_per_call(pool, x, n, h, w, c_in, &w16, y);
    for (int64_t i = 0; i < out; i++) {
        double d = fabs((double)y[i] - y_direct[i]);
        err = d > err ? d : err;
        scale = fabs(y_direct[i]) > scale ? fabs(y_direct[i]) : scale;
    }
    printf("%-32s %8.1f %8.1f %5.2fx | %8.1f %8.1f %5.2fx | %.2g\n", name, t_direct * 1e3,
           t_winograd * 1e3, t_direct / t_winograd, cpu_direct * 1e3, cpu_winograd * 1e3,
           cpu_direct / cpu_winograd, err / scale);
    fflush(stdout);
    free(x), free(wt), free(y_direct), free(y), free(wh);
}

static void bench_winograd_all(df_pool *pool)
{
    printf("\nconv3x3 direct vs Winograd F(4x4,3x3), f16 weights, %d threads\n"
           "%-32s %8s %8s %6s | %8s %8s %6s | %s\n",
           df_pool_size(pool), "shape", "wall ms", "wino ms", "gain", "cpu ms", "wino ms", "gain",
           "max diff / max|y|");
    bench_winograd(pool, "UNet 64x64 320 (batch 2)", 2, 64, 64, 320, 320);
    bench_winograd(pool, "UNet 64x64 640->320 (batch 2)", 2, 64, 64, 640, 320);
    bench_winograd(pool, "UNet 32x32 640 (batch 2)", 2, 32, 32, 640, 640);
    bench_winograd(pool, "UNet 16x16 1280 (batch 2)", 2, 16, 16, 1280, 1280);
    bench_winograd(pool, "UNet 8x8 2560->1280 (batch 2)", 2, 8, 8, 2560, 1280);
    bench_winograd(pool, "VAE 512x512 128", 1, 512, 512, 128, 128);
    bench_winograd(pool, "VAE 256x256 256", 1, 256, 256, 256, 256);
    bench_winograd(pool, "VAE 64x64 512", 1, 64, 64, 512, 512);
}

static void bench_others(df_pool *pools[2])
{
    printf("\nother kernels (ms per call; 1 thread | 2 threads)\n");
    struct {
        const char *name;
        int heads, d, causal;
        int64_t nq, nkv;
    } att[] = {
        {"attn SD1 self 4096 h8 d40", 8, 40, 0, 4096, 4096},
        {"attn SD1 cross 4096x77 h8 d40", 8, 40, 0, 4096, 77},
        {"attn SD2 self 4096 h5 d64", 5, 64, 0, 4096, 4096},
        {"attn CLIP 77 causal h12 d64", 12, 64, 1, 77, 77},
    };
    for (int a = 0; a < 4; a++) {
        int64_t hd = (int64_t)att[a].heads * att[a].d;
        float *q = rand_floats(att[a].nq * hd), *k = rand_floats(att[a].nkv * hd);
        float *v = rand_floats(att[a].nkv * hd), *o = malloc((size_t)(att[a].nq * hd) * 4);
        double flops = 4.0 * att[a].nq * att[a].nkv * hd * (att[a].causal ? 0.5 : 1.0);
        printf("%-32s", att[a].name);
        for (int th = 0; th < 2; th++) {
            double t;
            TIME_BEST(t, df_attention(pools[th], q, k, v, o, 1, att[a].heads, att[a].nq,
                                      att[a].nkv, att[a].d, hd, hd, hd, att[a].causal,
                                      0.125f));
            printf(" | %8.3f ms %6.1f GFLOP/s", t * 1e3, flops / t * 1e-9);
        }
        printf("\n");
        free(q), free(k), free(v), free(o);
    }
    int64_t hw = 4096, c = 320;
    float *x = rand_floats(hw * c), *y = malloc((size_t)(hw * c) * 4);
    printf("%-32s", "group norm+silu 64x64x320");
    for (int th = 0; th < 2; th++) {
        double t;
        TIME_BEST(t, df_group_norm(pools[th], x, 1, hw, (int)c, 32, NULL, NULL, 1e-5f, 1, y));
        printf(" | %8.3f ms", t * 1e3);
    }
    printf("\n%-32s", "gelu 4096x1280 (in place)");
    float *g = rand_floats(4096 * 1280);
    for (int th = 0; th < 2; th++) {
        double t;
        TIME_BEST(t, df_gelu(pools[th], g, 4096 * 1280));
        printf(" | %8.3f ms", t * 1e3);
    }
    printf("\n");
    free(x), free(y), free(g);
}

/* f32 vs bf16 vs int8 (f16 weights, as the models ship) on one linear or
 * 3x3 conv shape; a precision the CPU cannot run prints "-". */
static void bench_precision_shape(df_pool *pools[2], const char *name, int64_t m, int64_t k,
                                  int64_t n, int conv_hw)
{
    const int64_t c_in = conv_hw ? k / 9 : k;
    float *x = rand_floats(m * c_in), *w = rand_floats(n * k), *y = malloc((size_t)(m * n) * 4);
    uint16_t *wh = malloc((size_t)(n * k) * sizeof *wh);
    for (int64_t i = 0; i < n * k; i++)
        wh[i] = df_f32_to_f16(w[i]);
    df_weight lin = {DF_DTYPE_F16, 2, {n, k}, wh};
    df_weight conv = {DF_DTYPE_F16, 4, {n, c_in, 3, 3}, wh};
    const double flops = 2.0 * m * n * k;
    printf("%-28s M=%-6lld K=%-5lld N=%-5lld", name, (long long)m, (long long)k, (long long)n);
    for (int th = 0; th < 2; th++) {
        printf(" |");
        for (int p = DF_PRECISION_F32; p <= DF_PRECISION_INT8; p++) {
            if (!df_gemm_precision_available((df_precision)p, NULL)) {
                printf(" %6s", "-");
                continue;
            }
            double t;
            df_pool_set_precision(pools[th], p);
            if (conv_hw)
                TIME_BEST(t, df_conv2d(pools[th], x, 1, conv_hw, conv_hw, (int)c_in, &conv, NULL,
                                       1, 1, y));
            else
                TIME_BEST(t, df_linear(pools[th], x, m, k, &lin, NULL, y));
            df_pool_set_precision(pools[th], DF_PRECISION_F32);
            printf(" %6.1f", flops / t * 1e-9);
        }
    }
    printf("\n");
    fflush(stdout);
    free(x), free(w), free(y), free(wh);
}

static void bench_precision(df_pool *pools[2])
{
    printf("GFLOP/s by precision, f16 weights. Columns per thread count: f32 bf16 int8 "
           "(bf16: %s, int8: %s)\n",
           df_gemm_bf16_kernel() ? "avx512_bf16" : "unavailable",
           df_gemm_int8_kernel() ? "avx512_vnni" : "unavailable");
    printf("%-62s | %-20s | %-20s\n", "shape", "1 thread", "2 threads");
    bench_precision_shape(pools, "linear 4096x1280x1280", 4096, 1280, 1280, 0);
    bench_precision_shape(pools, "UNet 64x64 geglu 320", 4096, 320, 2560, 0);
    bench_precision_shape(pools, "UNet 64x64 ff out 1280", 4096, 1280, 320, 0);
    bench_precision_shape(pools, "CLIP mlp fc1", 77, 768, 3072, 0);
    bench_precision_shape(pools, "conv3x3 UNet 64x64 320", 4096, 9 * 320, 320, 64);
    bench_precision_shape(pools, "conv3x3 UNet 32x32 640", 1024, 9 * 640, 640, 32);
    bench_precision_shape(pools, "conv3x3 VAE 64x64 512", 4096, 9 * 512, 512, 64);
}

int main(int argc, char **argv)
{
    int quick = 0, precision_only = 0, winograd_only = 0;
    for (int i = 1; i < argc; i++) {
        quick |= strcmp(argv[i], "--quick") == 0;
        precision_only |= strcmp(argv[i], "--precision") == 0;
        winograd_only |= strcmp(argv[i], "--winograd") == 0;
    }
    if (winograd_only) {
        df_pool *pool = df_pool_create(2);
        repeats = 2;
        bench_winograd_all(pool);
        df_pool_free(pool);
        return 0;
    }
    if (quick) {
        repeats = 2;
        min_seconds = 0.1;
    }
    df_pool *pools[2] = {df_pool_create(1), df_pool_create(2)};
    if (precision_only) {
        bench_precision(pools);
        df_pool_free(pools[0]);
        df_pool_free(pools[1]);
        return 0;
    }
    printf("GFLOP/s. Columns per thread count: ours avx512 (f32 w, f16 w) | ours avx2 (f32 w, "
           "f16 w) | OpenBLAS sgemm (f32 w)\n");
    printf("%-60s | %-29s | %-29s\n", "shape", "1 thread", "2 threads");
    const shape linear[] = {
        {"CLIP qkv/out", 77, 768, 768},
        {"CLIP mlp fc1", 77, 768, 3072},
        {"CLIP mlp fc2", 77, 3072, 768},
        {"CLIP-H fc1 (2 windows)", 154, 1024, 4096},
        {"UNet 64x64 proj 320", 4096, 320, 320},
        {"UNet 64x64 geglu 320", 4096, 320, 2560},
        {"UNet 64x64 ff out 1280", 4096, 1280, 320},
        {"UNet 32x32 proj 640", 1024, 640, 640},
        {"UNet 16x16 geglu 1280", 256, 1280, 10240},
        {"SDXL 16x16 b2 qkv 1280", 512, 1280, 1280},
        {"SDXL 16x16 b2 geglu 1280", 512, 1280, 10240},
        {"SDXL 16x16 b2 ff out 5120", 512, 5120, 1280},
        {"SDXL 32x32 b2 qkv 640", 2048, 640, 640},
    };
    for (size_t i = 0; i < sizeof linear / sizeof *linear; i++)
        bench_linear(pools, &linear[i]);
    bench_conv(pools, "conv3x3 UNet 64x64 320", 64, 64, 320, 320);
    bench_conv(pools, "conv3x3 UNet 16x16 1280", 16, 16, 1280, 1280);
    bench_conv(pools, "conv3x3 UNet 8x8 2560->1280", 8, 8, 2560, 1280);
    bench_conv(pools, "conv3x3 VAE 128x128 128", 128, 128, 128, 128);
    bench_conv(pools, "conv3x3 VAE 64x64 512", 64, 64, 512, 512);
    bench_winograd_all(pools[1]);
    bench_others(pools);
    df_pool_free(pools[0]);
    df_pool_free(pools[1]);
    return 0;
}
