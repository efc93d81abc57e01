/*
 * elementwise.c — activations (GELU, quick-GELU, SiLU, GEGLU), add, row
 * softmax, nearest 2x upsample and channel concat.
 *
 * Arithmetic bodies are written once on 8-wide vectors (vecmath.h) and
 * dispatched to AVX2/FMA or the baseline ISA; the last count % 8 elements go
 * through a zero-padded temporary so every element sees the same code.
 * Large inputs are split over the pool in fixed-size chunks (results do not
 * depend on the thread count); small ones run inline.
 */
#include <assert.h>
#include <float.h>
#include <string.h>

#include "runtime/cpu.h"
#include "runtime/kernels.h"
#include "runtime/vecmath.h"

int df_vec_has_avx2;

__attribute__((constructor)) static void elementwise_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    df_vec_has_avx2 = df_cpu_has(DF_CPU_AVX2); /* cpu.c: DF_CPU_DISABLE can turn it off */
#endif
}

/* Elements per task for streaming ops: big enough that thread hand-off
 * (a few microseconds) is noise. */
#define DF_EW_GRAIN ((int64_t)1 << 15)

/* y[i] = EXPR(v) for v = x[i], 8 at a time plus a padded tail. */
#define DF_V8_MAP(x, y, count, EXPR)                                                             \
    do {                                                                                         \
        int64_t i_ = 0;                                                                          \
        for (; i_ + 8 <= (count); i_ += 8) {                                                     \
            df_v8 v = df_v8_load((x) + i_);                                                      \
            df_v8_store((y) + i_, (EXPR));                                                       \
        }                                                                                        \
        if (i_ < (count)) {                                                                      \
            float pad_[8] = {0};                                                                 \
            memcpy(pad_, (x) + i_, (size_t)((count)-i_) * sizeof(float));                       \
            df_v8 v = df_v8_load(pad_);                                                          \
            df_v8_store(pad_, (EXPR));                                                           \
            memcpy((y) + i_, pad_, (size_t)((count)-i_) * sizeof(float));                        \
        }                                                                                        \
    } while (0)

DF_INLINE void gelu_run_body(float *x, int64_t count)
{
    DF_V8_MAP(x, x, count, df_v8_gelu(v));
}
DF_VEC_DISPATCH(gelu_run, (float *x, int64_t count), (x, count))

DF_INLINE void quick_gelu_run_body(float *x, int64_t count)
{
    DF_V8_MAP(x, x, count, v * df_v8_sigmoid(1.702f * v));
}
DF_VEC_DISPATCH(quick_gelu_run, (float *x, int64_t count), (x, count))

DF_INLINE void silu_run_body(float *x, int64_t count)
{
    DF_V8_MAP(x, x, count, v * df_v8_sigmoid(v));
}
DF_VEC_DISPATCH(silu_run, (float *x, int64_t count), (x, count))

DF_INLINE void add_run_body(const float *a, const float *b, float *y, int64_t count)
{
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        df_v8_store(y + i, df_v8_load(a + i) + df_v8_load(b + i));
    for (; i < count; i++)
        y[i] = a[i] + b[i];
}
DF_VEC_DISPATCH(add_run, (const float *a, const float *b, float *y, int64_t count),
                (a, b, y, count))

typedef struct ew_job {
    float *x;
    const float *a, *b;
    float *y;
    int64_t dim;
    void (*fn)(float *, int64_t);
} ew_job;

static void ew_unary_task(void *context, int64_t begin, int64_t end, int thread)
{
    const ew_job *job = context;
    (void)thread;
    job->fn(job->x + begin, end - begin);
}

static void ew_unary(df_pool *pool, float *x, int64_t count, void (*fn)(float *, int64_t))
{
    ew_job job = {.x = x, .fn = fn};
    df_pool_for(pool, count, DF_EW_GRAIN, ew_unary_task, &job);
}

void df_gelu(df_pool *pool, float *x, int64_t count)
{
    ew_unary(pool, x, count, gelu_run);
}

void df_quick_gelu(df_pool *pool, float *x, int64_t count)
{
    ew_unary(pool, x, count, quick_gelu_run);
}

void df_silu(df_pool *pool, float *x, int64_t count)
{
    ew_unary(pool, x, count, silu_run);
}

static void add_task(void *context, int64_t begin, int64_t end, int thread)
{
    const ew_job *job = context;
    (void)thread;
    add_run(job->a + begin, job->b + begin, job->y + begin, end - begin);
}

void df_add(df_pool *pool, const float *a, const float *b, float *y, int64_t count)
{
    ew_job job = {.a = a, .b = b, .y = y};
    df_pool_for(pool, count, DF_EW_GRAIN, add_task, &job);
}

/* --- GEGLU -------------------------------------------------------------- */

DF_INLINE void geglu_row_body(const float *x, int64_t dim, float *y)
{
    const float *gate = x + dim;
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8)
        df_v8_store(y + i, df_v8_load(x + i) * df_v8_gelu(df_v8_load(gate + i)));
    if (i < dim) {
        float h[8] = {0}, g[8] = {0};
        memcpy(h, x + i, (size_t)(dim - i) * sizeof(float));
        memcpy(g, gate + i, (size_t)(dim - i) * sizeof(float));
        df_v8_store(h, df_v8_load(h) * df_v8_gelu(df_v8_load(g)));
        memcpy(y + i, h, (size_t)(dim - i) * sizeof(float));
    }
}
DF_VEC_DISPATCH(geglu_row, (const float *x, int64_t dim, float *y), (x, dim, y))

static void geglu_task(void *context, int64_t begin, int64_t end, int thread)
{
    const ew_job *job = context;
    (void)thread;
    for (int64_t r = begin; r < end; r++)
        geglu_row(job->a + r * 2 * job->dim, job->dim, job->y + r * job->dim);
}

void df_geglu(df_pool *pool, const float *x, int64_t rows, int64_t dim, float *y)
{
    assert(x != y);
    ew_job job = {.a = x, .y = y, .dim = dim};
    int64_t grain = dim > 0 ? (DF_EW_GRAIN + dim - 1) / dim : rows;
    df_pool_for(pool, rows, grain, geglu_task, &job);
}

/* --- softmax ------------------------------------------------------------ */

DF_INLINE void softmax_row_body(float *x, int64_t cols)
{
    if (cols <= 0)
        return;
    df_v8 vmax = df_v8_splat(-FLT_MAX);
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8)
        vmax = df_v8_max(vmax, df_v8_load(x + i));
    float max = df_v8_hmax(vmax);
    for (; i < cols; i++)
        max = x[i] > max ? x[i] : max;
    df_v8 vsum = df_v8_splat(0.0f);
    float sum = 0.0f;
    /* the tail goes through a pad whose unused lanes are masked out of the
     * sum, so every element uses the same exp */
    for (i = 0; i + 8 <= cols; i += 8) {
        df_v8 e = df_v8_exp(df_v8_load(x + i) - max);
        vsum += e;
        df_v8_store(x + i, e);
    }
    if (i < cols) {
        float pad[8] = {0};
        int64_t rest = cols - i;
        memcpy(pad, x + i, (size_t)rest * sizeof(float));
        df_v8_store(pad, df_v8_exp(df_v8_load(pad) - max));
        for (int64_t j = 0; j < rest; j++)
            sum += pad[j];
        memcpy(x + i, pad, (size_t)rest * sizeof(float));
    }
    sum += df_v8_hsum(vsum);
    float inv = 1.0f / sum;
    for (i = 0; i + 8 <= cols; i += 8)
        df_v8_store(x + i, df_v8_load(x + i) * inv);
    for (; i < cols; i++)
        x[i] *= inv;
}
DF_VEC_DISPATCH(softmax_row, (float *x, int64_t cols), (x, cols))

static void softmax_task(void *context, int64_t begin, int64_t end, int thread)
{
    const ew_job *job = context;
    (void)thread;
    for (int64_t r = begin; r < end; r++)
        softmax_row(job->x + r * job->dim, job->dim);
}

void df_softmax_rows(df_pool *pool, float *x, int64_t rows, int64_t cols)
{
    ew_job job = {.x = x, .dim = cols};
    int64_t grain = cols > 0 ? (DF_EW_GRAIN + cols - 1) / cols : rows;
    df_pool_for(pool, rows, grain, softmax_task, &job);
}

/* --- upsample and concat ------------------------------------------------ */

typedef struct shape_job {
    const float *a, *b;
    float *y;
    int h, w, c, ca, cb;
} shape_job;

/* one task index = one input row (n, iy): writes output rows 2iy, 2iy+1 */
static void upsample_task(void *context, int64_t begin, int64_t end, int thread)
{
    const shape_job *job = context;
    (void)thread;
    const int64_t c = job->c, w = job->w;
    for (int64_t row = begin; row < end; row++) {
        const float *src = job->a + row * w * c;
        float *dst = job->y + row * 2 * (2 * w * c);
        for (int64_t x = 0; x < w; x++) {
            memcpy(dst + (2 * x) * c, src + x * c, (size_t)c * sizeof(float));
            memcpy(dst + (2 * x + 1) * c, src + x * c, (size_t)c * sizeof(float));
        }
        memcpy(dst + 2 * w * c, dst, (size_t)(2 * w * c) * sizeof(float));
    }
}

void df_upsample_nearest2x(df_pool *pool, const float *x, int n, int h, int w, int c, float *y)
{
    assert(x != y);
    shape_job job = {.a = x, .y = y, .h = h, .w = w, .c = c};
    int64_t row_floats = (int64_t)w * c * 4;
    int64_t grain = row_floats > 0 ? (DF_EW_GRAIN + row_floats - 1) / row_floats : 1;
    df_pool_for(pool, (int64_t)n * h, grain, upsample_task, &job);
}

static void concat_task(void *context, int64_t begin, int64_t end, int thread)
{
    const shape_job *job = context;
    (void)thread;
    const int64_t ca = job->ca, cb = job->cb;
    for (int64_t p = begin; p < end; p++) {
        float *dst = job->y + p * (ca + cb);
        memcpy(dst, job->a + p * ca, (size_t)ca * sizeof(float));
        memcpy(dst + ca, job->b + p * cb, (size_t)cb * sizeof(float));
    }
}

void df_concat_channels(df_pool *pool, const float *a, int ca, const float *b, int cb,
                        int64_t pixels, float *y)
{
    shape_job job = {.a = a, .b = b, .y = y, .ca = ca, .cb = cb};
    int64_t per = (int64_t)ca + cb;
    int64_t grain = per > 0 ? (DF_EW_GRAIN + per - 1) / per : pixels;
    df_pool_for(pool, pixels, grain, concat_task, &job);
}
