/*
 * norm.c — layer norm (per row) and group norm (NHWC, optional fused SiLU).
 *
 * Statistics are accumulated in double (mean, then the centred second
 * moment for layer norm; sum and sum of squares for group norm, where the
 * double accumulator keeps E[x²] - mean² accurate over 10^6 values). The
 * normalisation itself is y = x * scale + shift in float, per channel, on
 * 8-wide vectors. Each row or (image, group) is reduced by one task in a
 * fixed order, so results do not depend on the thread count.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "runtime/kernels.h"
#include "runtime/vecmath.h"

/* --- layer norm --------------------------------------------------------- */

DF_INLINE void ln_row_body(const float *x, int64_t dim, const float *gamma, const float *beta,
                           float eps, float *y)
{
    double sum = 0.0;
    for (int64_t i = 0; i < dim; i++)
        sum += x[i];
    double mean = sum / (double)dim;
    double sq = 0.0;
    for (int64_t i = 0; i < dim; i++) {
        double d = x[i] - mean;
        sq += d * d;
    }
    float inv = (float)(1.0 / sqrt(sq / (double)dim + (double)eps));
    float m = (float)mean;
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        df_v8 v = (df_v8_load(x + i) - m) * inv;
        df_v8_store(y + i, v * df_v8_load(gamma + i) + df_v8_load(beta + i));
    }
    for (; i < dim; i++)
        y[i] = (x[i] - m) * inv * gamma[i] + beta[i];
}
DF_VEC_DISPATCH(ln_row,
                (const float *x, int64_t dim, const float *gamma, const float *beta, float eps,
                 float *y),
                (x, dim, gamma, beta, eps, y))

typedef struct ln_job {
    df_pool *pool;
    const float *x;
    float *y;
    int64_t dim;
    const df_weight *gamma, *beta;
    float eps;
} ln_job;

/* gamma/beta as f32: the weight itself when it is f32, else converted into
 * `buffer` (2 * dim floats); a NULL weight means 1 (gamma) or 0 (beta). */
static void affine_f32(const df_weight *gamma, const df_weight *beta, int64_t dim, float *buffer,
                       const float **g, const float **b)
{
    if (gamma && gamma->dtype == DF_DTYPE_F32) {
        *g = gamma->data;
    } else {
        if (gamma)
            df_weight_to_f32(gamma, 0, dim, buffer);
        else
            for (int64_t i = 0; i < dim; i++)
                buffer[i] = 1.0f;
        *g = buffer;
    }
    if (beta && beta->dtype == DF_DTYPE_F32) {
        *b = beta->data;
    } else {
        if (beta)
            df_weight_to_f32(beta, 0, dim, buffer + dim);
        else
            memset(buffer + dim, 0, (size_t)dim * sizeof(float));
        *b = buffer + dim;
    }
}

static void ln_task(void *context, int64_t begin, int64_t end, int thread)
{
    const ln_job *job = context;
    const float *g, *b;
    float *buffer = NULL;
    int need = !job->gamma || job->gamma->dtype != DF_DTYPE_F32 || !job->beta ||
               job->beta->dtype != DF_DTYPE_F32;
    if (need) {
        buffer = df_pool_scratch(job->pool, thread, (size_t)job->dim * 2 * sizeof(float));
        assert(buffer);
        if (!buffer)
            return;
    }
    affine_f32(job->gamma, job->beta, job->dim, buffer, &g, &b);
    for (int64_t r = begin; r < end; r++)
        ln_row(job->x + r * job->dim, job->dim, g, b, job->eps, job->y + r * job->dim);
}

void df_layer_norm(df_pool *pool, const float *x, int64_t rows, int64_t dim,
                   const df_weight *gamma, const df_weight *beta, float eps, float *y)
{
    if (rows <= 0 || dim <= 0)
        return;
    ln_job job = {pool, x, y, dim, gamma, beta, eps};
    int64_t grain = (16384 + dim - 1) / dim;
    df_pool_for(pool, rows, grain, ln_task, &job);
}

/* --- group norm --------------------------------------------------------- */

typedef struct gn_job {
    const float *x;
    float *y;
    int64_t hw;
    int c, groups, silu;
    const df_weight *gamma, *beta;
    float eps;
    float *scale, *shift; /* [n, c]: y = x * scale + shift */
} gn_job;

/* one task index = one (image, group): statistics, then per-channel affine */
static void gn_stats_task(void *context, int64_t begin, int64_t end, int thread)
{
    const gn_job *job = context;
    (void)thread;
    const int cpg = job->c / job->groups;
    for (int64_t t = begin; t < end; t++) {
        int64_t image = t / job->groups;
        int g = (int)(t % job->groups);
        const float *base = job->x + image * job->hw * job->c + (int64_t)g * cpg;
        double sum = 0.0, sq = 0.0;
        for (int64_t p = 0; p < job->hw; p++) {
            const float *px = base + p * job->c;
            for (int j = 0; j < cpg; j++) {
                double v = px[j];
                sum += v;
                sq += v * v;
            }
        }
        double count = (double)job->hw * cpg;
        double mean = sum / count;
        double var = sq / count - mean * mean;
        if (var < 0.0)
            var = 0.0;
        double inv = 1.0 / sqrt(var + (double)job->eps);
        for (int j = 0; j < cpg; j++) {
            int ch = g * cpg + j;
            double gamma = job->gamma ? df_weight_get(job->gamma, ch) : 1.0;
            double beta = job->beta ? df_weight_get(job->beta, ch) : 0.0;
            job->scale[image * job->c + ch] = (float)(inv * gamma);
            job->shift[image * job->c + ch] = (float)(beta - mean * inv * gamma);
        }
    }
}

DF_INLINE void gn_apply_body(const float *x, int64_t c, const float *scale, const float *shift,
                             int silu, float *y)
{
    int64_t i = 0;
    if (silu) {
        for (; i + 8 <= c; i += 8) {
            df_v8 v = df_v8_load(x + i) * df_v8_load(scale + i) + df_v8_load(shift + i);
            df_v8_store(y + i, v * df_v8_sigmoid(v));
        }
    } else {
        for (; i + 8 <= c; i += 8)
            df_v8_store(y + i, df_v8_load(x + i) * df_v8_load(scale + i) + df_v8_load(shift + i));
    }
    if (i < c) {
        float pad[8] = {0};
        for (int64_t j = i; j < c; j++)
            pad[j - i] = x[j] * scale[j] + shift[j];
        df_v8 v = df_v8_load(pad);
        if (silu)
            df_v8_store(pad, v * df_v8_sigmoid(v));
        memcpy(y + i, pad, (size_t)(c - i) * sizeof(float));
    }
}
DF_VEC_DISPATCH(gn_apply,
                (const float *x, int64_t c, const float *scale, const float *shift, int silu,
                 float *y),
                (x, c, scale, shift, silu, y))

/* one task index = one pixel row of the [n * hw, c] view */
static void gn_apply_task(void *context, int64_t begin, int64_t end, int thread)
{
    const gn_job *job = context;
    (void)thread;
    for (int64_t r = begin; r < end; r++) {
        int64_t image = r / job->hw;
        gn_apply(job->x + r * job->c, job->c, job->scale + image * job->c,
                 job->shift + image * job->c, job->silu, job->y + r * job->c);
    }
}

void df_group_norm(df_pool *pool, const float *x, int n, int64_t hw, int c, int groups,
                   const df_weight *gamma, const df_weight *beta, float eps, int silu, float *y)
{
    assert(groups > 0 && c % groups == 0);
    if (n <= 0 || hw <= 0 || c <= 0)
        return;
    /* The per-channel affine lives in the caller's scratch; the tasks
     * themselves take no scratch, so this is safe even on worker 0. */
    size_t floats = (size_t)n * (size_t)c * 2;
    float *affine = df_pool_scratch(pool, df_pool_current_thread(pool), floats * sizeof(float));
    assert(affine);
    if (!affine)
        return;
    gn_job job = {
        .x = x, .y = y, .hw = hw, .c = c, .groups = groups, .silu = silu,
        .gamma = gamma, .beta = beta, .eps = eps,
        .scale = affine, .shift = affine + (size_t)n * c,
    };
    df_pool_for(pool, (int64_t)n * groups, 1, gn_stats_task, &job);
    df_pool_for(pool, (int64_t)n * hw, (16384 + c - 1) / c, gn_apply_task, &job);
}
