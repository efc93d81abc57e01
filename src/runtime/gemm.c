/*
 * gemm.c — packed, blocked GEMM (Goto/BLIS structure) and df_linear.
 *
 * The output is cut into tasks of MT x NT; a task owns its C tile over all
 * of K, so no two threads ever add into the same element and the result
 * does not depend on the thread count. Inside a task, for each K block:
 * B (weight) columns are packed once (converted to f32 on the way), then A
 * rows are packed MC at a time and an MR x NR register-blocked micro-kernel
 * runs over the tile. The micro-kernels are written once with GCC vector
 * extensions and instantiated for AVX-512 (12x32), AVX2/FMA (6x16) and
 * portable 128-bit vectors (4x8); one is picked at start-up from cpuid.
 *
 * Accumulation order for C[i, j]: sum over K block 0, then + block 1, ...,
 * then + bias — identical for full and edge tiles.
 */
#include "runtime/gemm.h"

#include <assert.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "runtime/cpu.h"
#include "runtime/kernels.h"

#pragma GCC diagnostic ignored "-Wpsabi"

typedef float df_v4 __attribute__((vector_size(16)));
typedef float df_v8 __attribute__((vector_size(32)));
typedef float df_v16 __attribute__((vector_size(64)));

#define DF_MR_MAX 12
#define DF_NR_MAX 32

typedef void (*df_ukernel_fn)(int64_t kc, const float *restrict a, const float *restrict b,
                              float *restrict c, int64_t ldc, int rows, int cols, int accumulate,
                              const float *restrict bias);

/* One micro-kernel: acc[MR][NV] vectors of W floats, NR = NV * W. `a` is an
 * MR-wide panel, `b` an NR-wide panel (both 64-byte aligned, kc deep). Full
 * tiles are stored straight from registers; edge tiles go through `tile`. */
#define DF_DEFINE_UKERNEL(NAME, TARGET, V, W, NV, MR)                                            \
    TARGET static void NAME(int64_t kc, const float *restrict a, const float *restrict b,       \
                            float *restrict c, int64_t ldc, int rows, int cols, int accumulate, \
                            const float *restrict bias)                                         \
    {                                                                                            \
        V acc[MR][NV];                                                                           \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = (V){0};             \
        for (int64_t p = 0; p < kc; p++) {                                                       \
            V bv[NV];                                                                            \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = ((const V *)b)[v];      \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                \
            {                                                                                    \
                float ai = a[i];                                                                 \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] += bv[v] * ai;    \
            }                                                                                    \
            a += MR;                                                                             \
            b += NV * W;                                                                         \
        }                                                                                        \
        if (rows == MR && cols == NV * W) {                                                      \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
            {                                                                                    \
                float *cp = c + i * ldc + v * W;                                                 \
                V r = acc[i][v], t;                                                              \
                if (accumulate) {                                                                \
                    memcpy(&t, cp, sizeof t);                                                    \
                    r += t;                                                                      \
                }                                                                                \
                if (bias) {                                                                      \
                    memcpy(&t, bias + v * W, sizeof t);                                          \
                    r += t;                                                                      \
                }                                                                                \
                memcpy(cp, &r, sizeof r);                                                        \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        float tile[MR * NV * W] __attribute__((aligned(64)));                                    \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                    \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                 \
                memcpy(tile + (i * NV + v) * W, &acc[i][v], sizeof(V));                          \
        for (int i = 0; i < rows; i++)                                                           \
            for (int j = 0; j < cols; j++) {                                                     \
                float r = tile[i * NV * W + j];                                                  \
                if (accumulate)                                                                  \
                    r += c[i * ldc + j];                                                         \
                if (bias)                                                                        \
                    r += bias[j];                                                                \
                c[i * ldc + j] = r;                                                              \
            }                                                                                    \
    }

#if defined(__x86_64__) || defined(__i386__)
DF_DEFINE_UKERNEL(ukernel_avx512, __attribute__((target("avx512f,fma"))), df_v16, 16, 2, 12)
DF_DEFINE_UKERNEL(ukernel_avx2, __attribute__((target("avx2,fma"))), df_v8, 8, 2, 6)
#define DF_HAVE_X86 1
#endif
DF_DEFINE_UKERNEL(ukernel_generic, , df_v4, 4, 2, 4)

typedef struct df_kernel_choice {
    const char *name;
    int mr, nr;
    df_ukernel_fn fn;
} df_kernel_choice;

static const df_kernel_choice kernel_generic = {"generic", 4, 8, ukernel_generic};
#ifdef DF_HAVE_X86
static const df_kernel_choice kernel_avx512 = {"avx512", 12, 32, ukernel_avx512};
static const df_kernel_choice kernel_avx2 = {"avx2", 6, 16, ukernel_avx2};
#endif

static const df_kernel_choice *kernel_auto(void)
{
#ifdef DF_HAVE_X86
    if (df_cpu_has(DF_CPU_AVX512F))
        return &kernel_avx512;
    if (df_cpu_has(DF_CPU_AVX2))
        return &kernel_avx2;
#endif
    return &kernel_generic;
}

static const df_kernel_choice *kernel_current;
static int have_avx512; /* may the packing use AVX-512 (set by gemm_init) */

/* Chosen before main() so that concurrent first uses see a settled value. */
__attribute__((constructor)) static void gemm_init(void)
{
    kernel_current = kernel_auto();
    have_avx512 = df_cpu_has(DF_CPU_AVX512F);
}

const char *df_gemm_kernel_name(void)
{
    return kernel_current->name;
}

void df_gemm_micro_kernel(df_gemm_micro *micro)
{
    micro->mr = kernel_current->mr;
    micro->nr = kernel_current->nr;
    micro->fn = kernel_current->fn;
}

void df_gemm_micro_tile(int *mr, int *nr)
{
    *mr = kernel_current->mr;
    *nr = kernel_current->nr;
}

int df_gemm_force(const char *name)
{
    if (!name) { /* also re-reads df_cpu_set_disabled */
        kernel_current = kernel_auto();
        have_avx512 = df_cpu_has(DF_CPU_AVX512F);
        return 1;
    }
    if (strcmp(name, "generic") == 0) {
        kernel_current = &kernel_generic;
        return 1;
    }
#ifdef DF_HAVE_X86
    if (strcmp(name, "avx512") == 0 && df_cpu_has(DF_CPU_AVX512F)) {
        kernel_current = &kernel_avx512;
        return 1;
    }
    if (strcmp(name, "avx2") == 0 && df_cpu_has(DF_CPU_AVX2)) {
        kernel_current = &kernel_avx2;
        return 1;
    }
#endif
    return 0;
}

/* --- packing helpers --------------------------------------------------- */

#ifdef DF_HAVE_X86
/* In-register 16x16 transpose: afterwards r[p][j] = old r[j][p]. */
__attribute__((target("avx512f"), always_inline)) static inline void
transpose16_regs(__m512 r[16])
{
    __m512 t[16];
    for (int j = 0; j < 16; j += 2) {
        t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
    }
    for (int j = 0; j < 16; j += 4) {
        __m512d a = _mm512_castps_pd(t[j]), b = _mm512_castps_pd(t[j + 1]);
        __m512d c = _mm512_castps_pd(t[j + 2]), d = _mm512_castps_pd(t[j + 3]);
        r[j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int h = 0; h < 16; h += 8)
        for (int j = 0; j < 4; j++) {
            t[h + j] = _mm512_shuffle_f32x4(r[h + j], r[h + j + 4], 0x88);
            t[h + j + 4] = _mm512_shuffle_f32x4(r[h + j], r[h + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

/* Rows of an A panel, width <= 16: for each 16-deep K strip, load the live
 * rows (the rest are zero), transpose in registers and store `width` lanes
 * of each of the 16 K rows. */
__attribute__((target("avx512f"))) static void pack_rows_f32_avx512(const float *x, int64_t lda,
                                                                   int64_t row0, int64_t rows,
                                                                   int64_t k0, int64_t kc,
                                                                   int width, float *dst)
{
    const __mmask16 store_mask = (__mmask16)((1u << width) - 1u);
    for (int64_t q = 0; q < rows; q += width) {
        int live = rows - q < width ? (int)(rows - q) : width;
        const float *src = x + (row0 + q) * lda + k0;
        int64_t p0 = 0;
        for (; p0 + 16 <= kc; p0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < live ? _mm512_loadu_ps(src + i * lda + p0) : _mm512_setzero_ps();
            transpose16_regs(r);
            for (int p = 0; p < 16; p++)
                _mm512_mask_storeu_ps(dst + (p0 + p) * width, store_mask, r[p]);
        }
        for (; p0 < kc; p0++)
            for (int i = 0; i < width; i++)
                dst[p0 * width + i] = i < live ? src[i * lda + p0] : 0.0f;
        dst += kc * width;
    }
}
#endif

#ifdef DF_HAVE_X86
__attribute__((target("avx512f"))) static void pack_ptrs_avx512(const float *const *src, int live,
                                                               int64_t kc, int width, float *dst)
{
    const __mmask16 store_mask = (__mmask16)((1u << width) - 1u);
    int64_t p0 = 0;
    for (; p0 + 16 <= kc; p0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < live && src[i] ? _mm512_loadu_ps(src[i] + p0) : _mm512_setzero_ps();
        transpose16_regs(r);
        for (int p = 0; p < 16; p++)
            _mm512_mask_storeu_ps(dst + (p0 + p) * width, store_mask, r[p]);
    }
    for (; p0 < kc; p0++)
        for (int i = 0; i < width; i++)
            dst[p0 * width + i] = i < live && src[i] ? src[i][p0] : 0.0f;
}
#endif

int df_gemm_pack_ptrs(const float *const *src, int live, int64_t kc, int width, float *dst)
{
#ifdef DF_HAVE_X86
    if (have_avx512 && width <= 16 && live <= width) {
        pack_ptrs_avx512(src, live, kc, width, dst);
        return 1;
    }
#endif
    (void)src, (void)live, (void)kc, (void)width, (void)dst;
    return 0;
}

void df_gemm_pack_rows_f32(const float *x, int64_t lda, int64_t row0, int64_t rows, int64_t k0,
                           int64_t kc, int width, float *dst)
{
#ifdef DF_HAVE_X86
    if (have_avx512 && width <= 16) {
        pack_rows_f32_avx512(x, lda, row0, rows, k0, kc, width, dst);
        return;
    }
#endif
    for (int64_t q = 0; q < rows; q += width) {
        int live = rows - q < width ? (int)(rows - q) : width;
        for (int i = 0; i < live; i++) {
            const float *src = x + (row0 + q + i) * lda + k0;
            for (int64_t p = 0; p < kc; p++)
                dst[p * width + i] = src[p];
        }
        for (int i = live; i < width; i++)
            for (int64_t p = 0; p < kc; p++)
                dst[p * width + i] = 0.0f;
        dst += kc * width;
    }
}

#ifdef DF_HAVE_X86
/* tmp [width][kc] -> dst [kc][width], width a multiple of 16; row p of the
 * transposed panel goes to dst row (p % group) * (kc / group) + p / group
 * (group == 1: plain transpose; conv uses it to reorder (channel, tap) to
 * (tap, channel)). */
__attribute__((target("avx512f"))) static void transpose_panel_avx512(const float *tmp,
                                                                     int64_t kc, int width,
                                                                     float *dst, int group)
{
    const int64_t per = kc / group;
    int64_t p0 = 0;
    for (; p0 + 16 <= kc; p0 += 16)
        for (int h = 0; h < width; h += 16) {
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = _mm512_loadu_ps(tmp + (h + j) * kc + p0);
            transpose16_regs(r);
            for (int p = 0; p < 16; p++) {
                int64_t s = p0 + p, row = group == 1 ? s : (s % group) * per + s / group;
                _mm512_storeu_ps(dst + row * width + h, r[p]);
            }
        }
    for (; p0 < kc; p0++) {
        int64_t row = (p0 % group) * per + p0 / group;
        for (int j = 0; j < width; j++)
            dst[row * width + j] = tmp[j * kc + p0];
    }
}

int df_gemm_transpose_panel(const float *tmp, int64_t kc, int width, float *dst, int group)
{
    if (!have_avx512 || width % 16 != 0 || kc % group != 0)
        return 0;
    transpose_panel_avx512(tmp, kc, width, dst, group);
    return 1;
}
#else
int df_gemm_transpose_panel(const float *tmp, int64_t kc, int width, float *dst, int group)
{
    (void)tmp, (void)kc, (void)width, (void)dst, (void)group;
    return 0;
}
#endif

int df_gemm_have_avx512(void)
{
    return have_avx512;
}

void df_gemm_pack_weight_rows(const df_weight *weight, int64_t ldw, int64_t n0, int64_t cols,
                              int64_t k0, int64_t kc, int width, float *dst, float *tmp)
{
    for (int64_t q = 0; q < cols; q += width) {
        int live = cols - q < width ? (int)(cols - q) : width;
        for (int j = 0; j < live; j++)
            df_weight_to_f32(weight, (n0 + q + j) * ldw + k0, kc, tmp + j * kc);
#ifdef DF_HAVE_X86
        /* Small-M layers (CLIP) are bound by this transpose: do it 16x16 in
         * registers where possible (8x fewer instructions than scalar). */
        if (have_avx512 && width % 16 == 0) {
            memset(tmp + (int64_t)live * kc, 0, (size_t)((width - live) * kc) * sizeof(float));
            transpose_panel_avx512(tmp, kc, width, dst, 1);
            dst += kc * width;
            continue;
        }
#endif
        /* transpose [live][kc] -> [kc][width], in 8-deep strips so the
         * reads of every row stay within a few cache lines */
        for (int64_t p0 = 0; p0 < kc; p0 += 8) {
            int64_t p1 = p0 + 8 < kc ? p0 + 8 : kc;
            for (int64_t p = p0; p < p1; p++) {
                float *d = dst + p * width;
                for (int j = 0; j < live; j++)
                    d[j] = tmp[j * kc + p];
                for (int j = live; j < width; j++)
                    d[j] = 0.0f;
            }
        }
        dst += kc * width;
    }
}

/* --- driver ------------------------------------------------------------ */

#define DF_MC DF_GEMM_MC
#define DF_MT 1152  /* rows per task, at most (a multiple of DF_MC) */
#define DF_NT_MAX 384 /* columns per task, at most (a multiple of every NR) */

typedef struct gemm_plan {
    const df_gemm_problem *problem;
    const df_kernel_choice *kernel;
    df_pool *pool;
    int64_t mt, nt, m_tasks, n_tasks;
    size_t scratch_floats;
} gemm_plan;

static int64_t round_up(int64_t value, int64_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

static void gemm_task(void *context, int64_t begin, int64_t end, int thread)
{
    const gemm_plan *plan = context;
    const df_gemm_problem *pr = plan->problem;
    const df_kernel_choice *kernel = plan->kernel;
    const int mr = kernel->mr, nr = kernel->nr;
    float *scratch = df_pool_scratch(plan->pool, thread, plan->scratch_floats * sizeof(float));
    assert(scratch); /* out of memory on a few hundred KiB: nothing sane to do */
    if (!scratch)
        return;
    float *bpack = scratch;
    float *apack = bpack + round_up(plan->nt * pr->kc_max, 16);
    float *bias = apack + round_up(DF_MC * pr->kc_max, 16);
    float *tmp = bias + round_up(plan->nt, 16);

    for (int64_t task = begin; task < end; task++) {
        int64_t m0 = (task / plan->n_tasks) * plan->mt;
        int64_t n0 = (task % plan->n_tasks) * plan->nt;
        int64_t m1 = m0 + plan->mt < pr->m ? m0 + plan->mt : pr->m;
        int64_t n1 = n0 + plan->nt < pr->n ? n0 + plan->nt : pr->n;
        if (pr->bias)
            df_weight_to_f32(pr->bias, n0, n1 - n0, bias);
        for (int64_t kb = 0; kb < pr->k_blocks; kb++) {
            int64_t kc = pr->block_len(pr, kb);
            int last = kb == pr->k_blocks - 1;
            const float *tile_bias = last && pr->bias ? bias : NULL;
            pr->pack_b(pr, kb, n0, n1 - n0, nr, bpack, tmp);
            for (int64_t ic = m0; ic < m1; ic += DF_MC) {
                int64_t mc = m1 - ic < DF_MC ? m1 - ic : DF_MC;
                pr->pack_a(pr, kb, ic, mc, mr, apack, tmp);
                for (int64_t jr = n0; jr < n1; jr += nr) {
                    int cols = n1 - jr < nr ? (int)(n1 - jr) : nr;
                    const float *bp = bpack + (jr - n0) * kc;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        int rows = mc - ir < mr ? (int)(mc - ir) : mr;
                        kernel->fn(kc, apack + ir * kc, bp, pr->c + (ic + ir) * pr->ldc + jr,
                                   pr->ldc, rows, cols, kb > 0,
                                   tile_bias ? tile_bias + (jr - n0) : NULL);
                    }
                }
            }
        }
    }
}

void df_gemm_plan_tiles(const df_pool *pool, int64_t m, int64_t n, int mr_, int nr_, int64_t *mt_out,
                        int64_t *nt_out)
{
    /* Big tiles amortise packing: A (activations) is packed once per task
     * and K block, so a task spans as many columns as fit a B block in L2
     * (up to DF_NT_MAX, split evenly into NR multiples); B is packed once per
     * task and K block, so tasks are DF_MT rows. Shrink only as far as
     * needed to give every thread a few tasks. */
    const int64_t nr = nr_, mr = mr_;
    int64_t mt, nt;
    int64_t want = 4 * (int64_t)df_pool_size(pool);
    int64_t m_split = (m + DF_MT - 1) / DF_MT;
    int64_t n_split = (n + DF_NT_MAX - 1) / DF_NT_MAX;
    for (;;) {
        mt = round_up((m + m_split - 1) / m_split, mr);
        nt = round_up((n + n_split - 1) / n_split, nr);
        int64_t tasks = ((m + mt - 1) / mt) * ((n + nt - 1) / nt);
        if (tasks >= want)
            break;
        if (mt >= 2 * DF_MC)
            m_split++;
        else if (nt >= 2 * nr)
            n_split++;
        else
            break;
    }
    *mt_out = mt;
    *nt_out = nt;
}

void df_gemm_run(df_pool *pool, const df_gemm_problem *problem)
{
    if (problem->m <= 0 || problem->n <= 0)
        return;
    if (problem->precision != DF_PRECISION_F32 && problem->k_blocks > 0) {
        const df_gemm_lowp *lowp = problem->precision == DF_PRECISION_BF16 ? df_gemm_bf16_kernel()
                                   : problem->precision == DF_PRECISION_INT8 ? df_gemm_int8_kernel()
                                                                             : NULL;
        if (lowp) {
            df_gemm_run_lowp(pool, problem, lowp);
            return;
        }
    }
    gemm_plan plan = {.problem = problem, .kernel = kernel_current, .pool = pool};
    if (problem->k_blocks <= 0) { /* K == 0: C = bias */
        for (int64_t i = 0; i < problem->m; i++)
            for (int64_t j = 0; j < problem->n; j++)
                problem->c[i * problem->ldc + j] =
                    problem->bias ? df_weight_get(problem->bias, j) : 0.0f;
        return;
    }
    int64_t mt, nt;
    df_gemm_plan_tiles(pool, problem->m, problem->n, plan.kernel->mr, plan.kernel->nr, &mt, &nt);
    plan.mt = mt;
    plan.nt = nt;
    plan.m_tasks = (problem->m + mt - 1) / mt;
    plan.n_tasks = (problem->n + nt - 1) / nt;
    plan.scratch_floats = (size_t)(round_up(nt * problem->kc_max, 16) +
                                   round_up(DF_MC * problem->kc_max, 16) + round_up(nt, 16)) +
                          problem->tmp_floats;
    df_pool_for(pool, plan.m_tasks * plan.n_tasks, 1, gemm_task, &plan);
}

/* --- df_linear ---------------------------------------------------------- */

typedef struct linear_source {
    const float *x;
    int64_t in;
    const df_weight *weight;
} linear_source;

static int64_t linear_block_len(const df_gemm_problem *pr, int64_t kb)
{
    const linear_source *src = pr->user;
    int64_t k0 = kb * DF_GEMM_KC;
    return src->in - k0 < DF_GEMM_KC ? src->in - k0 : DF_GEMM_KC;
}

static void linear_pack_a(const df_gemm_problem *pr, int64_t kb, int64_t first, int64_t count,
                          int width, float *dst, float *tmp)
{
    const linear_source *src = pr->user;
    (void)tmp;
    df_gemm_pack_rows_f32(src->x, src->in, first, count, kb * DF_GEMM_KC,
                          linear_block_len(pr, kb), width, dst);
}

static void linear_pack_b(const df_gemm_problem *pr, int64_t kb, int64_t first, int64_t count,
                          int width, float *dst, float *tmp)
{
    const linear_source *src = pr->user;
    df_gemm_pack_weight_rows(src->weight, src->in, first, count, kb * DF_GEMM_KC,
                             linear_block_len(pr, kb), width, dst, tmp);
}

void df_linear(df_pool *pool, const float *x, int64_t rows, int64_t in_features,
               const df_weight *weight, const df_weight *bias, float *y)
{
    assert(weight->ndim >= 2);
    assert(df_weight_numel(weight) % weight->shape[0] == 0);
    assert(df_weight_numel(weight) / weight->shape[0] == in_features);
    assert(x != y);
    linear_source src = {x, in_features, weight};
    df_gemm_problem problem = {
        .m = rows,
        .n = weight->shape[0],
        .k_blocks = (in_features + DF_GEMM_KC - 1) / DF_GEMM_KC,
        .kc_max = in_features < DF_GEMM_KC ? in_features : DF_GEMM_KC,
        .block_len = linear_block_len,
        .pack_a = linear_pack_a,
        .pack_b = linear_pack_b,
        .tmp_floats = (size_t)DF_NR_MAX * DF_GEMM_KC,
        .bias = bias,
        .c = y,
        .ldc = weight->shape[0],
        .user = &src,
        .precision = df_pool_precision(pool),
    };
    df_gemm_run(pool, &problem);
}
