/*
 * norm.c — layer norm (per row) and group norm (NHWC, optional fused SiLU).
 *
 * Statistics are accumulated in double (mean, then the centred second
 * moment for layer norm; sum and sum of squares for group norm, where the
 * double accumulator keeps E[x²] - mean² accurate over 10^6 values). Group
 * norm sums per channel over fixed chunks of pixels (one streaming,
 * vectorised pass over the NHWC rows), then adds the chunks of a group in
 * order. The normalisation itself is y = x * scale + shift in float, per
 * channel, on 8-wide vectors. Chunks and reduction order depend only on the
 * shape, so results do not depend on the thread count.
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
    int64_t chunk, chunks; /* pixels per statistics chunk, chunks per image */
    double *partial;       /* [n, chunks, 2, c]: per-channel sum, sum of squares */
} gn_job;

/* Per-channel sum and sum of squares of `pixels` rows of c floats, in
 * double, channels along the vector lanes (rows are contiguous in NHWC, so
 * this is one streaming pass instead of a strided walk per group). */
typedef double df_v4d __attribute__((vector_size(32)));

DF_INLINE void gn_sums_body(const float *x, int64_t pixels, int64_t c, double *sum, double *sq)
{
    int64_t j = 0;
    for (; j + 8 <= c; j += 8) {
        df_v4d s0 = {0}, s1 = {0}, q0 = {0}, q1 = {0};
        for (int64_t p = 0; p < pixels; p++) {
            df_v8 v = df_v8_load(x + p * c + j);
            df_v4d lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), df_v4d);
            df_v4d hi = __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), df_v4d);
            s0 += lo;
            s1 += hi;
            q0 += lo * lo;
            q1 += hi * hi;
        }
        memcpy(sum + j, &s0, sizeof s0);
        memcpy(sum + j + 4, &s1, sizeof s1);
        memcpy(sq + j, &q0, sizeof q0);
        memcpy(sq + j + 4, &q1, sizeof q1);
    }
    for (; j < c; j++) {
        double s = 0.0, q = 0.0;
        for (int64_t p = 0; p < pixels; p++) {
            double v = x[p * c + j];
            s += v;
            q += v * v;
        }
        sum[j] = s;
        sq[j] = q;
    }
}
DF_VEC_DISPATCH(gn_sums, (const float *x, int64_t pixels, int64_t c, double *sum, double *sq),
                (x, pixels, c, sum, sq))

/* one task index = one (image, chunk of pixels): per-channel partial sums.
 * Chunks depend only on hw, so the reduction order is thread-independent. */
static void gn_partial_task(void *context, int64_t begin, int64_t end, int thread)
{
    const gn_job *job = context;
    (void)thread;
    for (int64_t t = begin; t < end; t++) {
        int64_t image = t / job->chunks, chunk = t % job->chunks;
        int64_t p0 = chunk * job->chunk;
        int64_t pixels = job->hw - p0 < job->chunk ? job->hw - p0 : job->chunk;
        double *out = job->partial + t * 2 * job->c;
        gn_sums(job->x + (image * job->hw + p0) * job->c, pixels, job->c, out, out + job->c);
    }
}

/* one task index = one (image, group): reduce the chunks in order, then the
 * per-channel affine */
static void gn_stats_task(void *context, int64_t begin, int64_t end, int thread)
{
    const gn_job *job = context;
    (void)thread;
    const int cpg = job->c / job->groups;
    for (int64_t t = begin; t < end; t++) {
        int64_t image = t / job->groups;
        int g = (int)(t % job->groups);
        double sum = 0.0, sq = 0.0;
        for (int64_t k = 0; k < job->chunks; k++) {
            const double *part = job->partial + (image * job->chunks + k) * 2 * job->c;
            for (int j = 0; j < cpg; j++) {
                sum += part[g * cpg + j];
                sq += part[job->c + g * cpg + j];
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
    /* The per-channel affine and the partial sums live in the caller's
     * scratch; the tasks themselves take no scratch, so this is safe even on
     * worker 0. At most 256 chunks per image, at least 1024 pixels each. */
    int64_t chunk = (hw + 255) / 256;
    if (chunk < 1024)
        chunk = 1024;
    int64_t chunks = (hw + chunk - 1) / chunk;
    size_t floats = (size_t)n * (size_t)c * 2;
    size_t doubles = (size_t)n * (size_t)chunks * 2 * (size_t)c;
    size_t affine_bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    char *buffer = df_pool_scratch(pool, df_pool_current_thread(pool),
                                   affine_bytes + doubles * sizeof(double));
    assert(buffer);
    if (!buffer)
        return;
    float *affine = (float *)buffer;
    gn_job job = {
        .x = x, .y = y, .hw = hw, .c = c, .groups = groups, .silu = silu,
        .gamma = gamma, .beta = beta, .eps = eps,
        .scale = affine, .shift = affine + (size_t)n * c,
        .chunk = chunk, .chunks = chunks, .partial = (double *)(buffer + affine_bytes),
    };
    df_pool_for(pool, (int64_t)n * chunks, 1, gn_partial_task, &job);
    df_pool_for(pool, (int64_t)n * groups, 1, gn_stats_task, &job);
    df_pool_for(pool, (int64_t)n * hw, (16384 + c - 1) / c, gn_apply_task, &job);
}
