/*
 * conv.c — 2-D convolution (NHWC) as an implicit GEMM on the packed GEMM of
 * gemm.c: M = output pixels, N = c_out, K = c_in * k * k.
 *
 * K is visited in blocks of `cb` input channels times all k*k taps, ordered
 * (tap, channel) inside a block. That makes both packings cheap: the im2col
 * of a block copies runs of cb contiguous channels of one input pixel (or
 * zeros for padding), and the weight [c_out, c_in, k, k] of a block is one
 * contiguous run per output channel (c_in-major as torch stores it), which
 * is converted to f32 and reordered to (tap, channel) in per-thread scratch.
 * Neither the patch matrix nor an f32 copy of the weight ever exists whole.
 * A 1x1, stride-1, unpadded convolution is a linear layer and goes there;
 * a 3x3 stride-1 one goes to Winograd (winograd.c) where that pays, in f32.
 */
#include <assert.h>
#include <string.h>

#include "runtime/gemm.h"
#include "runtime/kernels.h"

/* Target K block length: cb = ceil(288 / (k*k)) channels rounded down to a
 * multiple of 16, i.e. 32 for 3x3, 64 for 2x2. */
#define DF_CONV_KC 288

typedef struct conv_source {
    const float *x;
    int h, w, c_in, k, stride, padding, oh, ow;
    int cb; /* channels per K block */
    const df_weight *weight;
} conv_source;

static int conv_block_channels(const conv_source *src, int64_t kb)
{
    int c0 = (int)kb * src->cb;
    return src->c_in - c0 < src->cb ? src->c_in - c0 : src->cb;
}

static int64_t conv_block_len(const df_gemm_problem *pr, int64_t kb)
{
    const conv_source *src = pr->user;
    return (int64_t)conv_block_channels(src, kb) * src->k * src->k;
}

static void conv_pack_a(const df_gemm_problem *pr, int64_t kb, int64_t first, int64_t count,
                        int width, float *dst, float *tmp)
{
    const conv_source *src = pr->user;
    (void)tmp;
    const int k = src->k, cb = conv_block_channels(src, kb), c0 = (int)kb * src->cb;
    const int64_t kc = (int64_t)cb * k * k;
    const int64_t pixels = (int64_t)src->oh * src->ow;
    if (width <= 16 && df_gemm_have_avx512()) {
        /* gather row pointers per tap, transpose 16x16 in registers */
        for (int64_t q = 0; q < count; q += width) {
            int live = count - q < width ? (int)(count - q) : width;
            int iy0[16], ix0[16];
            const float *base[16];
            for (int i = 0; i < live; i++) {
                int64_t m = first + q + i;
                int64_t b = m / pixels, rem = m % pixels;
                iy0[i] = (int)(rem / src->ow) * src->stride - src->padding;
                ix0[i] = (int)(rem % src->ow) * src->stride - src->padding;
                base[i] = src->x + b * src->h * src->w * (int64_t)src->c_in + c0;
            }
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *ptr[16];
                    for (int i = 0; i < live; i++) {
                        int iy = iy0[i] + ky, ix = ix0[i] + kx;
                        ptr[i] = iy < 0 || iy >= src->h || ix < 0 || ix >= src->w
                                     ? NULL
                                     : base[i] + ((int64_t)iy * src->w + ix) * src->c_in;
                    }
                    df_gemm_pack_ptrs(ptr, live, cb, width,
                                      dst + (int64_t)(ky * k + kx) * cb * width);
                }
            dst += kc * width;
        }
        return;
    }
    for (int64_t q = 0; q < count; q += width) {
        int live = count - q < width ? (int)(count - q) : width;
        for (int i = 0; i < live; i++) {
            int64_t m = first + q + i;
            int64_t b = m / pixels, rem = m % pixels;
            int oy = (int)(rem / src->ow), ox = (int)(rem % src->ow);
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * src->stride - src->padding + ky;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * src->stride - src->padding + kx;
                    float *d = dst + (int64_t)(ky * k + kx) * cb * width + i;
                    if (iy < 0 || iy >= src->h || ix < 0 || ix >= src->w) {
                        for (int ci = 0; ci < cb; ci++)
                            d[ci * width] = 0.0f;
                        continue;
                    }
                    const float *s =
                        src->x + ((b * src->h + iy) * src->w + ix) * (int64_t)src->c_in + c0;
                    for (int ci = 0; ci < cb; ci++)
                        d[ci * width] = s[ci];
                }
            }
        }
        for (int i = live; i < width; i++)
            for (int64_t p = 0; p < kc; p++)
                dst[p * width + i] = 0.0f;
        dst += kc * width;
    }
}

static void conv_pack_b(const df_gemm_problem *pr, int64_t kb, int64_t first, int64_t count,
                        int width, float *dst, float *tmp)
{
    const conv_source *src = pr->user;
    const int kk = src->k * src->k, cb = conv_block_channels(src, kb), c0 = (int)kb * src->cb;
    const int64_t kc = (int64_t)cb * kk, row = (int64_t)src->c_in * kk;
    for (int64_t q = 0; q < count; q += width) {
        int live = count - q < width ? (int)(count - q) : width;
        for (int j = 0; j < live; j++)
            df_weight_to_f32(src->weight, (first + q + j) * row + (int64_t)c0 * kk, kc,
                             tmp + j * kc);
        if (width % 16 == 0 && df_gemm_have_avx512()) {
            /* (channel, tap) -> (tap, channel) folded into the transpose */
            memset(tmp + (int64_t)live * kc, 0, (size_t)((width - live) * kc) * sizeof(float));
            if (df_gemm_transpose_panel(tmp, kc, width, dst, kk)) {
                dst += kc * width;
                continue;
            }
        }
        for (int r = 0; r < kk; r++)
            for (int ci = 0; ci < cb; ci++) {
                float *d = dst + ((int64_t)r * cb + ci) * width;
                const float *s = tmp + (int64_t)ci * kk + r;
                for (int j = 0; j < live; j++)
                    d[j] = s[j * kc];
                for (int j = live; j < width; j++)
                    d[j] = 0.0f;
            }
        dst += kc * width;
    }
}

void df_conv2d(df_pool *pool, const float *x, int n, int h, int w, int c_in,
               const df_weight *weight, const df_weight *bias, int stride, int padding,
               float *y)
{
    assert(weight->ndim == 4 && weight->shape[1] == c_in && weight->shape[2] == weight->shape[3]);
    assert(stride >= 1 && padding >= 0 && x != y);
    const int k = (int)weight->shape[2];
    if (k == 1 && stride == 1 && padding == 0) {
        df_linear(pool, x, (int64_t)n * h * w, c_in, weight, bias, y);
        return;
    }
    /* Winograd is an f32 path: a reduced precision the generation asked for
     * runs the im2col GEMM in that precision (int8 is faster than Winograd) */
    if (k == 3 && stride == 1 && df_pool_precision(pool) == DF_PRECISION_F32 &&
        df_conv2d_winograd(pool, x, n, h, w, c_in, weight, bias, padding, y))
        return;
    conv_source src = {
        .x = x, .h = h, .w = w, .c_in = c_in, .k = k, .stride = stride, .padding = padding,
        .oh = (h + 2 * padding - k) / stride + 1,
        .ow = (w + 2 * padding - k) / stride + 1,
        .weight = weight,
    };
    if (src.oh <= 0 || src.ow <= 0)
        return;
    int cb = (DF_CONV_KC + k * k - 1) / (k * k);
    /* Whole 16-channel strips keep the im2col on the AVX-512 transpose (no
     * scalar remainder per tap) and avoid a short last block when c_in is a
     * multiple of 16: the VAE's 2x2 phase conv had cb = 72 (7 blocks of 72
     * and one of 8 for 512 channels) and ran at ~55% of the 3x3 convs' rate. */
    if (cb > 16)
        cb -= cb % 16;
    src.cb = cb < c_in ? cb : c_in;
    int64_t kc_max = (int64_t)src.cb * k * k;
    df_gemm_problem problem = {
        .m = (int64_t)n * src.oh * src.ow,
        .n = weight->shape[0],
        .k_blocks = c_in > 0 ? (c_in + src.cb - 1) / src.cb : 0,
        .kc_max = kc_max,
        .block_len = conv_block_len,
        .pack_a = conv_pack_a,
        .pack_b = conv_pack_b,
        .tmp_floats = (size_t)32 * (size_t)kc_max, /* widest NR x one block */
        .bias = bias,
        .c = y,
        .ldc = weight->shape[0],
        .user = &src,
        .precision = df_pool_precision(pool), /* bf16/int8 when the generation asks */
    };
    df_gemm_run(pool, &problem);
}
