/*
 * gemm_lowp.c — the driver of the reduced-precision GEMMs (bf16, int8) and
 * the choice between them and f32.
 *
 * The structure is df_gemm_run's: tasks own MT x NT tiles of C over all of
 * K (results independent of the thread count), and for each K block a
 * task packs B once and A MC rows at a time with the caller's own f32 pack
 * functions, so linear layers, im2col convolutions and any future caller
 * get the reduced path without new packing code. Each f32 micro-panel is
 * then converted (rounded or quantized) into the kernel's panel format in
 * per-thread scratch; the conversion costs one pass over data that the
 * kernel then reads NT/NR (A) or MT/MR (B) times.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>

#include "runtime/cpu.h"
#include "runtime/gemm.h"

/* Above this K block an int8 tile's int32 sum could exceed 2^24 and lose
 * exactness when converted to f32; no caller comes near it (<= 294). */
#define DF_INT8_KC_MAX 512

int df_gemm_precision_available(df_precision precision, const char **reason)
{
    const char *why = NULL;
    if (precision == DF_PRECISION_BF16 && !df_gemm_bf16_kernel())
        why = "this CPU has no AVX512-BF16";
    else if (precision == DF_PRECISION_INT8 && !df_gemm_int8_kernel())
        why = "this CPU has neither AVX512-VNNI nor AVX-VNNI";
    if (reason)
        *reason = why;
    return why == NULL;
}

df_precision df_gemm_precision_effective(df_precision wanted)
{
    static atomic_int told[3];
    const char *reason = NULL;
    if (df_gemm_precision_available(wanted, &reason))
        return wanted;
    if ((unsigned)wanted < 3 && !atomic_exchange(&told[wanted], 1))
        fprintf(stderr,
                "diffuse: --precision %s: %s (or DF_CPU_DISABLE turned it off); computing in "
                "f32\n",
                df_precision_name(wanted), reason);
    return DF_PRECISION_F32;
}

typedef struct lowp_plan {
    const df_gemm_problem *problem;
    const df_gemm_lowp *kernel;
    df_pool *pool;
    int64_t mt, nt, n_tasks;
    /* per-thread scratch, in bytes from its start */
    size_t a_f32, b_low, a_low, bias, tmp, total;
} lowp_plan;

static size_t align64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

static void lowp_task(void *context, int64_t begin, int64_t end, int thread)
{
    const lowp_plan *plan = context;
    const df_gemm_problem *pr = plan->problem;
    const df_gemm_lowp *kernel = plan->kernel;
    const int mr = kernel->mr, nr = kernel->nr;
    char *scratch = df_pool_scratch(plan->pool, thread, plan->total);
    assert(scratch); /* out of memory on a few hundred KiB: nothing sane to do */
    if (!scratch)
        return;
    float *bpack = (float *)scratch;
    float *apack = (float *)(scratch + plan->a_f32);
    char *blow = scratch + plan->b_low;
    char *alow = scratch + plan->a_low;
    float *bias = (float *)(scratch + plan->bias);
    float *tmp = (float *)(scratch + plan->tmp);

    for (int64_t task = begin; task < end; task++) {
        int64_t m0 = (task / plan->n_tasks) * plan->mt;
        int64_t n0 = (task % plan->n_tasks) * plan->nt;
        int64_t m1 = m0 + plan->mt < pr->m ? m0 + plan->mt : pr->m;
        int64_t n1 = n0 + plan->nt < pr->n ? n0 + plan->nt : pr->n;
        if (pr->bias)
            df_weight_to_f32(pr->bias, n0, n1 - n0, bias);
        for (int64_t kb = 0; kb < pr->k_blocks; kb++) {
            const int64_t kc = pr->block_len(pr, kb);
            const size_t a_bytes = kernel->a_bytes(kc), b_bytes = kernel->b_bytes(kc);
            const int last = kb == pr->k_blocks - 1;
            const float *tile_bias = last && pr->bias ? bias : NULL;
            pr->pack_b(pr, kb, n0, n1 - n0, nr, bpack, tmp);
            for (int64_t q = 0; q * nr < n1 - n0; q++)
                kernel->convert_b(bpack + q * nr * kc, kc, blow + q * b_bytes);
            for (int64_t ic = m0; ic < m1; ic += DF_GEMM_MC) {
                int64_t mc = m1 - ic < DF_GEMM_MC ? m1 - ic : DF_GEMM_MC;
                pr->pack_a(pr, kb, ic, mc, mr, apack, tmp);
                for (int64_t q = 0; q * mr < mc; q++)
                    kernel->convert_a(apack + q * mr * kc, kc, alow + q * a_bytes);
                for (int64_t jr = n0; jr < n1; jr += nr) {
                    int cols = n1 - jr < nr ? (int)(n1 - jr) : nr;
                    const char *bp = blow + (jr - n0) / nr * b_bytes;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        int rows = mc - ir < mr ? (int)(mc - ir) : mr;
                        kernel->kernel(kc, alow + ir / mr * a_bytes, bp,
                                       pr->c + (ic + ir) * pr->ldc + jr, pr->ldc, rows, cols,
                                       kb > 0, tile_bias ? tile_bias + (jr - n0) : NULL);
                    }
                }
            }
        }
    }
}

/* The converted weight panel is re-made by every task for every K block,
 * and converting costs several times what one kernel pass over it does
 * (the int8 kernel is ~4x the f32 one), so tasks are as tall as the thread
 * count allows: one row band per thread, as wide as keeps a converted B
 * block (nt x kc, 1-2 bytes per element) about where the f32 path keeps
 * its f32 one. Small-M layers (CLIP) split N instead. */
static void lowp_plan_tiles(const df_pool *pool, const df_gemm_problem *pr,
                            const df_gemm_lowp *kernel, int64_t *mt, int64_t *nt)
{
    const int64_t threads = df_pool_size(pool), mr = kernel->mr, nr = kernel->nr;
    /* bytes per weight element: 2 for bf16 (768 columns), ~1 for int8 (1536) */
    const int64_t nt_max = kernel->b_bytes(256) >= (size_t)256 * kernel->nr * 2 ? 768 : 1536;
    int64_t n_split = (pr->n + nt_max - 1) / nt_max;
    int64_t m_split = (threads + n_split - 1) / n_split;
    /* at least a few A blocks per task, or the rows are too few to share */
    while (m_split > 1 && (pr->m + m_split - 1) / m_split < 2 * DF_GEMM_MC)
        m_split--;
    while (m_split * n_split < threads && (pr->n + n_split) / (n_split + 1) >= 2 * nr)
        n_split++;
    *mt = (pr->m + m_split - 1) / m_split;
    *mt = (*mt + mr - 1) / mr * mr;
    *nt = (pr->n + n_split - 1) / n_split;
    *nt = (*nt + nr - 1) / nr * nr;
}

void df_gemm_run_lowp(df_pool *pool, const df_gemm_problem *pr, const df_gemm_lowp *kernel)
{
    if (pr->precision == DF_PRECISION_INT8 && pr->kc_max > DF_INT8_KC_MAX) {
        df_gemm_problem f32 = *pr;
        f32.precision = DF_PRECISION_F32;
        df_gemm_run(pool, &f32);
        return;
    }
    lowp_plan plan = {.problem = pr, .kernel = kernel, .pool = pool};
    lowp_plan_tiles(pool, pr, kernel, &plan.mt, &plan.nt);
    plan.n_tasks = (pr->n + plan.nt - 1) / plan.nt;
    const int64_t m_tasks = (pr->m + plan.mt - 1) / plan.mt;
    const int64_t b_panels = plan.nt / kernel->nr, a_panels = DF_GEMM_MC / kernel->mr;
    size_t at = align64((size_t)(plan.nt * pr->kc_max) * sizeof(float));
    plan.a_f32 = at;
    at += align64((size_t)(DF_GEMM_MC * pr->kc_max) * sizeof(float));
    plan.b_low = at;
    at += align64((size_t)b_panels * kernel->b_bytes(pr->kc_max));
    plan.a_low = at;
    at += align64((size_t)a_panels * kernel->a_bytes(pr->kc_max));
    plan.bias = at;
    at += align64((size_t)plan.nt * sizeof(float));
    plan.tmp = at;
    at += align64(pr->tmp_floats * sizeof(float));
    plan.total = at;
    df_pool_for(pool, m_tasks * plan.n_tasks, 1, lowp_task, &plan);
}
