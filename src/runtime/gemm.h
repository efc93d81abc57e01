/*
 * gemm.h — the packed GEMM behind df_linear and df_conv2d (private to the
 * runtime). C[m, n] (+)= A[m, K] · B[K, n] + bias, where neither A nor B is
 * ever materialised: the caller describes how to pack one K block of a few
 * rows of A (activations, or im2col patches) and of a few columns of B
 * (weight rows converted from f16/bf16 to f32) into the micro-kernel's
 * layout, and df_gemm_run tiles, threads and accumulates.
 *
 * Results depend only on the K blocking the caller chooses and on the CPU's
 * kernel (AVX-512, AVX2/FMA or portable), never on the thread count or on
 * how M and N are split into tasks.
 */
#ifndef DF_RUNTIME_GEMM_H
#define DF_RUNTIME_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/precision.h"
#include "runtime/tensor.h"
#include "runtime/threads.h"

typedef struct df_gemm_problem df_gemm_problem;

/* Packs rows (pack_a) or columns (pack_b) [first, first + count) of K block
 * `kb` into micro-panels `width` wide: panel q holds kc x width floats with
 * element (p, i) at dst[q * kc * width + p * width + i]; entries past
 * `count` in the last panel must be zero. `tmp` is tmp_floats of per-thread
 * scratch the function may use. */
typedef void (*df_gemm_pack_fn)(const df_gemm_problem *problem, int64_t kb, int64_t first,
                                int64_t count, int width, float *dst, float *tmp);

struct df_gemm_problem {
    int64_t m, n;
    int64_t k_blocks;
    int64_t kc_max; /* longest K block */
    int64_t (*block_len)(const df_gemm_problem *problem, int64_t kb);
    df_gemm_pack_fn pack_a, pack_b;
    size_t tmp_floats;
    const df_weight *bias; /* [n], any dtype, or NULL */
    float *c;
    int64_t ldc;
    const void *user; /* for the pack functions */
    /* DF_PRECISION_F32 (0, what an initializer that leaves it out gets) or
     * a reduced precision the caller opts into (df_linear and df_conv2d
     * take the pool's): the f32 panels the pack functions make are then
     * converted to bf16 or int8 panels for a gemm_bf16.c / gemm_int8.c
     * kernel. Where the CPU has no such kernel it runs in f32. */
    df_precision precision;
};

void df_gemm_run(df_pool *pool, const df_gemm_problem *problem);

/* Building blocks for pack functions. Rows of an f32 matrix with row
 * stride lda, elements [k0, k0 + kc) of each: */
void df_gemm_pack_rows_f32(const float *x, int64_t lda, int64_t row0, int64_t rows, int64_t k0,
                           int64_t kc, int width, float *dst);
/* Rows [n0, n0 + cols) of a weight viewed as [N, ldw] (any dtype),
 * elements [k0, k0 + kc): converted into tmp (width * kc floats), then
 * transposed into panels. */
void df_gemm_pack_weight_rows(const df_weight *weight, int64_t ldw, int64_t n0, int64_t cols,
                              int64_t k0, int64_t kc, int width, float *dst, float *tmp);

/* AVX-512 building blocks (return 0, doing nothing, where unavailable):
 * tmp [width][kc] -> panel dst [kc][width] with width a multiple of 16, row
 * p of the transpose stored at row (p % group) * (kc / group) + p / group
 * (group 1: plain transpose). */
int df_gemm_transpose_panel(const float *tmp, int64_t kc, int width, float *dst, int group);
int df_gemm_have_avx512(void);
/* One micro-panel from row pointers: dst[p * width + i] = src[i][p] for
 * p < kc, i < live (a NULL src[i] reads as zeros), zero for live <= i <
 * width. Needs width <= 16. */
int df_gemm_pack_ptrs(const float *const *src, int live, int64_t kc, int width, float *dst);

/* The kernel in use: "avx512", "avx2" or "generic". df_gemm_force selects
 * one by name for tests and benchmarks (returns 0 if this CPU cannot run it);
 * NULL restores the automatic choice. Not thread-safe: call it between runs. */
const char *df_gemm_kernel_name(void);
int df_gemm_force(const char *name);
/* The current micro-kernel, for drivers with their own loop nest (Winograd
 * runs 36 small GEMMs per task). fn computes C[rows, cols] (+)= A · B over
 * an MR-wide A panel and an NR-wide B panel, both kc deep and 64-byte
 * aligned, adding C's old value when `accumulate` and bias (may be NULL). */
typedef struct df_gemm_micro {
    int mr, nr;
    void (*fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int rows,
               int cols, int accumulate, const float *bias);
} df_gemm_micro;
void df_gemm_micro_kernel(df_gemm_micro *micro);

/* Micro-tile of the current kernel (rows x columns), for planners. */
void df_gemm_micro_tile(int *mr, int *nr);

/* Task tiles for an m x n output with an mr x nr micro-tile on `pool`:
 * mt rows (a multiple of mr) by nt columns (a multiple of nr). */
void df_gemm_plan_tiles(const df_pool *pool, int64_t m, int64_t n, int mr, int nr, int64_t *mt,
                        int64_t *nt);
/* Rows of A packed at once (a multiple of every MR, f32 and reduced). */
#define DF_GEMM_MC 96

/* --- reduced precision (gemm_lowp.c, gemm_bf16.c, gemm_int8.c) --------- */

/* A reduced-precision micro-kernel and its panel formats. convert_a/_b
 * turn one f32 micro-panel (as the pack functions write it: kc x mr or
 * kc x nr floats) into the kernel's panel of a_bytes(kc) / b_bytes(kc)
 * bytes (scales and sums included). The kernel computes one tile over one
 * K block and stores, adds into (accumulate) and adds `bias` to C as the
 * f32 kernels do. */
typedef struct df_gemm_lowp {
    const char *name;
    int mr, nr;
    size_t (*a_bytes)(int64_t kc);
    size_t (*b_bytes)(int64_t kc);
    void (*convert_a)(const float *panel, int64_t kc, void *dst);
    void (*convert_b)(const float *panel, int64_t kc, void *dst);
    void (*kernel)(int64_t kc, const void *a, const void *b, float *c, int64_t ldc, int rows,
                   int cols, int accumulate, const float *bias);
} df_gemm_lowp;

/* The kernels this build has; NULL where the CPU (or DF_CPU_DISABLE) does
 * not allow them. */
const df_gemm_lowp *df_gemm_bf16_kernel(void);
const df_gemm_lowp *df_gemm_int8_kernel(void); /* AVX512-VNNI, else AVX-VNNI */
const df_gemm_lowp *df_gemm_int8_avx2_kernel(void); /* AVX-VNNI only */

/* The precision a request for `wanted` runs in on this CPU: `wanted` when
 * its kernel is available, else f32 — then, once per process and
 * precision, a line on stderr says so and why. */
df_precision df_gemm_precision_effective(df_precision wanted);
/* The same without the message; `reason` (may be NULL) gets why not. */
int df_gemm_precision_available(df_precision precision, const char **reason);

/* Runs `problem` with `kernel` (gemm_lowp.c; df_gemm_run calls it). */
void df_gemm_run_lowp(df_pool *pool, const df_gemm_problem *problem, const df_gemm_lowp *kernel);

/* K block length used by df_linear: long enough to amortise the C update,
 * short enough that a B micro-panel stays in L1. */
#define DF_GEMM_KC 256

#endif
