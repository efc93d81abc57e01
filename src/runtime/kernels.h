/*
 * kernels.h — the compute kernels every model is written with. Written once,
 * used by CLIP, the UNet, the VAE and TAESD alike.
 *
 * Conventions:
 *  - Activations are contiguous f32. Images are NHWC ([n, h, w, c]) so that a
 *    pixel's channels are contiguous: a 1x1 conv is a linear layer and the
 *    transformer blocks of the UNet see [n, h*w, c] tokens with no transpose.
 *  - Weights are df_weight views in their stored dtype (f32, f16 or bf16) and
 *    in torch's layout ([out, in] for Linear, [out, in, kh, kw] for Conv2d).
 *  - Every kernel runs on the pool (NULL: inline), allocates nothing per call
 *    beyond the pool's per-thread scratch (grown once, then reused), and may
 *    be called with `x == y` only where it says so.
 */
#ifndef DF_RUNTIME_KERNELS_H
#define DF_RUNTIME_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/tensor.h"
#include "runtime/threads.h"

/* y[rows, out] = x[rows, in] · Wᵀ + bias. weight: [out, in] (a 4-D [out, in,
 * 1, 1] conv weight is accepted too); bias may be NULL. x != y. */
void df_linear(df_pool *pool, const float *x, int64_t rows, int64_t in_features,
               const df_weight *weight, const df_weight *bias, float *y);

/* 2-D convolution, NHWC in and out. weight: [c_out, c_in, k, k] (square k),
 * bias may be NULL; output size: (h + 2*padding - k) / stride + 1. x != y. */
void df_conv2d(df_pool *pool, const float *x, int n, int h, int w, int c_in,
               const df_weight *weight, const df_weight *bias, int stride, int padding,
               float *y);

/* The Winograd F(4x4, 3x3) path of df_conv2d for 3x3 stride-1 convolutions
 * (winograd.c). Returns 0, doing nothing, when it does not apply (disabled,
 * too few output tiles for it to pay, or the pool's workspace is taken), so
 * the caller runs the direct convolution. */
int df_conv2d_winograd(df_pool *pool, const float *x, int n, int h, int w, int c_in,
                       const df_weight *weight, const df_weight *bias, int padding, float *y);
/* An upper bound of the memory such a convolution takes on a pool of
 * `threads` (0 when it would not use Winograd): the pool's workspace and
 * what it adds to each thread's scratch. Monotone in every argument, so a
 * model can bound all its convolutions by its widest channels at each
 * resolution. */
size_t df_conv2d_winograd_workspace_bound(int n, int oh, int ow, int c_in, int c_out,
                                          int threads);
/* Process-wide switch for that path (on by default; `--no-winograd`).
 * Not thread-safe: set it before generating. */
void df_conv_set_winograd(int enabled);
int df_conv_winograd_enabled(void);
/* Tests: the per-buffer workspace budget in floats (0: the default), small
 * enough to exercise several tile chunks and output-channel blocks. */
void df_conv_winograd_set_budget(int64_t floats);

/* Per-row layer norm over the last dimension. x == y allowed. */
void df_layer_norm(df_pool *pool, const float *x, int64_t rows, int64_t dim,
                   const df_weight *gamma, const df_weight *beta, float eps, float *y);

/* Group norm over NHWC [n, hw, c] with `groups` groups of channels; applies
 * SiLU to the result when `silu` is set (the fused form the UNet uses).
 * x == y allowed. */
void df_group_norm(df_pool *pool, const float *x, int n, int64_t hw, int c, int groups,
                   const df_weight *gamma, const df_weight *beta, float eps, int silu,
                   float *y);

/* Element-wise activations, in place over `count` floats. */
void df_gelu(df_pool *pool, float *x, int64_t count);       /* exact, erf */
void df_quick_gelu(df_pool *pool, float *x, int64_t count); /* x * sigmoid(1.702 x) */
void df_silu(df_pool *pool, float *x, int64_t count);

/* GEGLU: x is [rows, 2*dim] = [hidden | gate]; y[rows, dim] = hidden * gelu(gate).
 * x != y. */
void df_geglu(df_pool *pool, const float *x, int64_t rows, int64_t dim, float *y);

/* y = a + b over `count` floats; y may alias a or b. */
void df_add(df_pool *pool, const float *a, const float *b, float *y, int64_t count);

/* Softmax of each row of x[rows, cols], in place. */
void df_softmax_rows(df_pool *pool, float *x, int64_t rows, int64_t cols);

/* Multi-head scaled dot-product attention, softmax(q·kᵀ·scale)·v per head.
 * q: [batch, n_q, heads*head_dim], row stride q_stride floats;
 * k, v: [batch, n_kv, heads*head_dim], row stride kv_stride;
 * out: [batch, n_q, heads*head_dim], row stride out_stride.
 * Strides let q, k and v point into one fused qkv projection.
 * causal: query i sees keys 0..i (requires n_q == n_kv).
 * Never materialises the n_q x n_kv score matrix: keys are visited in blocks
 * with an online softmax, so memory is O(threads x block), whatever n. */
void df_attention(df_pool *pool, const float *q, const float *k, const float *v, float *out,
                  int batch, int heads, int64_t n_q, int64_t n_kv, int head_dim,
                  int64_t q_stride, int64_t kv_stride, int64_t out_stride, int causal,
                  float scale);

/* Nearest-neighbour 2x upsample, NHWC: [n, h, w, c] -> [n, 2h, 2w, c]. */
void df_upsample_nearest2x(df_pool *pool, const float *x, int n, int h, int w, int c, float *y);

/* Channel concat, NHWC: a [pixels, ca] and b [pixels, cb] -> y [pixels, ca+cb]. */
void df_concat_channels(df_pool *pool, const float *a, int ca, const float *b, int cb,
                        int64_t pixels, float *y);

#endif
