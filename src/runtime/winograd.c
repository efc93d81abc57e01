/*
 * winograd.c — 3x3 stride-1 convolution by Winograd's F(4x4, 3x3): each 4x4
 * block of output pixels costs 36 multiplications per (input, output)
 * channel pair instead of 144, so these convolutions, most of the UNet's
 * and nearly all of the VAE's work, need a quarter of the multiplications.
 *
 * For a chunk of tiles (6x6 input patches, 4 apart):
 *   V[t] = Bᵀ d B        input transform, SIMD over channels, written
 *                        straight into the GEMM's packed A panels
 *   U[t] = G g Gᵀ        weight transform, into packed B panels
 *   M[t] = V[t] · U[t]   the 36 products, on gemm.c's micro-kernel
 *   y = Aᵀ M A + bias    output transform, written NHWC
 * with the interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray). A product
 * task owns 64 output channels over a range of tiles, so it can finish
 * them with the output transform: two pool calls per chunk (and one per
 * convolution for shared weights), since each costs a wake-up, which a
 * loaded machine makes expensive.
 *
 * Memory: the weights are transformed per call from the memory-mapped
 * checkpoint and never kept (a transformed copy of the SD 1.5 UNet's 3x3
 * weights would take 36/9 x 4 bytes per weight, about 6 GB). V and U share
 * the pool's workspace: V at most DF_WINOGRAD_BUDGET floats (32 MB; longer
 * inputs are done in chunks of tiles), U at most 1.5 times that (48 MB);
 * when U is larger (the UNet's 1280-channel levels, which have few tiles)
 * each task transforms its own 64 channels into its thread's scratch. M of
 * a task lives in the thread's scratch (at most 36 x 256 x 64 floats).
 *
 * Accuracy: the transforms multiply by up to 5 and 8 and G divides by 24,
 * so rounding errors are about ten times a direct convolution's: 1e-5 of
 * the output scale (9.5e-6 on the full-size SD 1.5 UNet's output,
 * tools/precision_error.py; tests/test_kernels.c bounds it at 1e-4 against
 * a double reference). Results do not depend on the thread count.
 */
#include <assert.h>
#include <string.h>

#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/vecmath.h"

#define DF_WINOGRAD_BUDGET ((int64_t)8 << 20) /* floats per buffer: 32 MB */
/* Below this many 4x4 tiles, the weight transform and the short products
 * cost about what the multiplications save (bench_kernels --winograd: 32
 * tiles, the UNet's 16x16 level at batch 2, gain 1.3x; its 8x8 level, 8
 * tiles, stays direct). */
#define DF_WINOGRAD_MIN_TILES 24
#define DF_WINOGRAD_NT 64         /* output channels per task: a multiple of every NR */
#define DF_WINOGRAD_RANGE 256     /* tiles per task at most */

static int winograd_enabled = 1;
static int64_t winograd_budget = DF_WINOGRAD_BUDGET;

void df_conv_set_winograd(int enabled)
{
    winograd_enabled = enabled != 0;
}

void df_conv_winograd_set_budget(int64_t floats)
{
    winograd_budget = floats > 0 ? floats : DF_WINOGRAD_BUDGET;
}

int df_conv_winograd_enabled(void)
{
    return winograd_enabled;
}

typedef struct winograd_plan {
    const float *x;
    float *y;
    const df_weight *weight;
    const float *bias; /* f32 [c_out] or NULL */
    df_pool *pool;
    df_gemm_micro micro;
    int n, h, w, c_in, c_out, padding, oh, ow;
    int64_t tiles_y, tiles_x, tiles;
    int64_t tile0, tile_count, tile_pad; /* the chunk; tile_pad: rounded up to MR */
    /* V: plane t at v + t * v_stride; its K block [k0, k0 + kc) at
     * k0 * tile_pad, made of MR-row panels of kc x MR */
    float *v;
    int64_t v_stride;
    /* U when shared (else NULL): plane t at u + t * u_stride; K block at
     * k0 * c_out_pad, made of NR-column panels of kc x NR */
    float *u;
    int64_t u_stride, c_out_pad;
    int64_t blocks, ranges, range_max; /* task grid: blocks x ranges */
    int64_t kc;                        /* K block length (the last may be shorter) */
} winograd_plan;

/* A product task's share: channels [co0, co0 + co_count) over the chunk's
 * tiles [range0, range0 + range_len); M is [36][range_len][NT]. */
typedef struct winograd_task {
    int co0, co_count;
    int64_t range0, range_len;
    const float *m;
    int64_t m_stride;
} winograd_task;

/* ---- input transform: Bᵀ d B over 8 channels at a time ---------------- */

#define DF_BT_ROWS(d0, d1, d2, d3, d4, d5, r)                                                    \
    do {                                                                                         \
        r[0] = 4.0f * (d0) - 5.0f * (d2) + (d4);                                                 \
        r[1] = -4.0f * ((d1) + (d2)) + (d3) + (d4);                                              \
        r[2] = 4.0f * ((d1) - (d2)) - (d3) + (d4);                                               \
        r[3] = 2.0f * ((d3) - (d1)) - (d2) + (d4);                                               \
        r[4] = 2.0f * ((d1) - (d3)) - (d2) + (d4);                                               \
        r[5] = 4.0f * (d1) - 5.0f * (d3) + (d5);                                                 \
    } while (0)

/* Tile i of the chunk; i >= tile_count (the last panel's padding) is zero. */
DF_INLINE void input_tile_body(const winograd_plan *p, int64_t i)
{
    const int c_in = p->c_in, mr = p->micro.mr;
    const float *row_ptr[6][6] = {{0}};
    if (i < p->tile_count) {
        int64_t tile = p->tile0 + i;
        int64_t image = tile / (p->tiles_y * p->tiles_x), rem = tile % (p->tiles_y * p->tiles_x);
        int iy0 = (int)(rem / p->tiles_x) * 4 - p->padding;
        int ix0 = (int)(rem % p->tiles_x) * 4 - p->padding;
        const float *src = p->x + image * (int64_t)p->h * p->w * c_in;
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++) {
                int iy = iy0 + a, ix = ix0 + b;
                if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                    row_ptr[a][b] = src + ((int64_t)iy * p->w + ix) * c_in;
            }
    }
    const int64_t panel = i / mr, lane = i % mr;
    for (int c = 0; c < c_in; c += 8) {
        int live = c_in - c < 8 ? c_in - c : 8;
        df_v8 d[6][6], t[6][6];
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++) {
                if (!row_ptr[a][b]) {
                    d[a][b] = (df_v8){0};
                } else if (live == 8) {
                    d[a][b] = df_v8_load(row_ptr[a][b] + c);
                } else {
                    float pad[8] = {0};
                    memcpy(pad, row_ptr[a][b] + c, (size_t)live * sizeof(float));
                    d[a][b] = df_v8_load(pad);
                }
            }
        for (int b = 0; b < 6; b++) { /* columns: t = Bᵀ d */
            df_v8 r[6];
            DF_BT_ROWS(d[0][b], d[1][b], d[2][b], d[3][b], d[4][b], d[5][b], r);
            for (int a = 0; a < 6; a++)
                t[a][b] = r[a];
        }
        /* channel c sits in K block k0 (blocks of p->kc, a multiple of 8) */
        const int64_t k0 = c / p->kc * p->kc;
        const int64_t kc = c_in - k0 < p->kc ? c_in - k0 : p->kc;
        float *dst = p->v + k0 * p->tile_pad + panel * kc * mr + (c - k0) * mr + lane;
        for (int a = 0; a < 6; a++) { /* rows: (Bᵀ d) B */
            df_v8 r[6];
            DF_BT_ROWS(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], r);
            for (int b = 0; b < 6; b++) {
                float lanes[8];
                df_v8_store(lanes, r[b]);
                float *out = dst + (a * 6 + b) * p->v_stride;
                for (int l = 0; l < live; l++)
                    out[l * mr] = lanes[l];
            }
        }
    }
}

DF_INLINE void input_panels_body(const winograd_plan *p, int64_t begin, int64_t end)
{
    for (int64_t i = begin * p->micro.mr; i < end * p->micro.mr; i++)
        input_tile_body(p, i);
}
DF_VEC_DISPATCH(input_panels, (const winograd_plan *p, int64_t begin, int64_t end),
                (p, begin, end))

static void input_task(void *context, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    input_panels(context, begin, end);
}

/* ---- weight transform: G g Gᵀ for 8 output channels at a time --------- */

#define DF_G_ROWS(g0, g1, g2, r)                                                                 \
    do {                                                                                         \
        r[0] = 0.25f * (g0);                                                                     \
        r[1] = (-1.0f / 6.0f) * ((g0) + (g1) + (g2));                                            \
        r[2] = (-1.0f / 6.0f) * ((g0) - (g1) + (g2));                                            \
        r[3] = (1.0f / 24.0f) * (g0) + (1.0f / 12.0f) * (g1) + (1.0f / 6.0f) * (g2);             \
        r[4] = (1.0f / 24.0f) * (g0) - (1.0f / 12.0f) * (g1) + (1.0f / 6.0f) * (g2);             \
        r[5] = (g2);                                                                             \
    } while (0)

/* rows: the weights of 8 output channels for input channels [k0, k0 + kc),
 * [8][kc * 9] in f32 (zero rows past c_out); written to column `column` of
 * the NR-wide B panels at u (plane t at u + t * t_stride, kc x NR panels). */
DF_INLINE void weight_group_body(const float *rows, int64_t kc, int nr, int64_t column, float *u,
                                 int64_t t_stride)
{
    const int64_t row_len = kc * 9;
    float *panel = u + column / nr * kc * nr + column % nr;
    for (int64_t ci = 0; ci < kc; ci++) {
        df_v8 g[3][3], t[6][3];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                float lanes[8];
                for (int l = 0; l < 8; l++)
                    lanes[l] = rows[l * row_len + ci * 9 + a * 3 + b];
                g[a][b] = df_v8_load(lanes);
            }
        for (int b = 0; b < 3; b++) {
            df_v8 r[6];
            DF_G_ROWS(g[0][b], g[1][b], g[2][b], r);
            for (int a = 0; a < 6; a++)
                t[a][b] = r[a];
        }
        for (int a = 0; a < 6; a++) {
            df_v8 r[6];
            DF_G_ROWS(t[a][0], t[a][1], t[a][2], r);
            for (int b = 0; b < 6; b++)
                df_v8_store(panel + (a * 6 + b) * t_stride + ci * nr, r[b]);
        }
    }
}
DF_VEC_DISPATCH(weight_group,
                (const float *rows, int64_t kc, int nr, int64_t column, float *u, int64_t t_stride),
                (rows, kc, nr, column, u, t_stride))

/* Channels [co0, co0 + NT) x input channels [k0, k0 + kc) into u (see
 * weight_group); `rows` is 8 * kc * 9 floats of scratch. */
static void transform_weights(const winograd_plan *p, int co0, int64_t k0, int64_t kc, float *u,
                              int64_t column0, int64_t t_stride, float *rows)
{
    for (int co = 0; co < DF_WINOGRAD_NT; co += 8) {
        for (int l = 0; l < 8; l++) {
            float *row = rows + l * kc * 9;
            if (co0 + co + l < p->c_out)
                df_weight_to_f32(p->weight, ((int64_t)(co0 + co + l) * p->c_in + k0) * 9, kc * 9,
                                 row);
            else
                memset(row, 0, (size_t)(kc * 9) * sizeof(float));
        }
        weight_group(rows, kc, p->micro.nr, column0 + co, u, t_stride);
    }
}

/* Shared U: one task per (block of NT channels, K block). */
static void weight_task(void *context, int64_t begin, int64_t end, int thread)
{
    const winograd_plan *p = context;
    const int64_t k_blocks = (p->c_in + p->kc - 1) / p->kc;
    float *rows = df_pool_scratch(p->pool, thread, (size_t)(8 * p->kc * 9) * sizeof(float));
    assert(rows); /* 72 KiB */
    if (!rows)
        return;
    for (int64_t task = begin; task < end; task++) {
        int co0 = (int)(task / k_blocks) * DF_WINOGRAD_NT;
        int64_t k0 = task % k_blocks * p->kc;
        int64_t kc = p->c_in - k0 < p->kc ? p->c_in - k0 : p->kc;
        transform_weights(p, co0, k0, kc, p->u + k0 * p->c_out_pad, co0, p->u_stride, rows);
    }
}

/* ---- output transform: Aᵀ m A + bias, cropped into y ----------------- */

#define DF_AT_ROWS(m0, m1, m2, m3, m4, m5, r)                                                    \
    do {                                                                                         \
        r[0] = (m0) + (m1) + (m2) + (m3) + (m4);                                                 \
        r[1] = (m1) - (m2) + 2.0f * ((m3) - (m4));                                               \
        r[2] = (m1) + (m2) + 4.0f * ((m3) + (m4));                                               \
        r[3] = (m1) - (m2) + 8.0f * ((m3) - (m4)) + (m5);                                        \
    } while (0)

DF_INLINE void output_tiles_body(const winograd_plan *p, const winograd_task *task)
{
    const float *bias = p->bias ? p->bias + task->co0 : NULL;
    for (int64_t i = 0; i < task->range_len; i++) {
        int64_t tile = p->tile0 + task->range0 + i;
        int64_t image = tile / (p->tiles_y * p->tiles_x), rem = tile % (p->tiles_y * p->tiles_x);
        int oy0 = (int)(rem / p->tiles_x) * 4, ox0 = (int)(rem % p->tiles_x) * 4;
        int rows = p->oh - oy0 < 4 ? p->oh - oy0 : 4, cols = p->ow - ox0 < 4 ? p->ow - ox0 : 4;
        float *dst = p->y + image * (int64_t)p->oh * p->ow * p->c_out + task->co0;
        const float *src = task->m + i * DF_WINOGRAD_NT;
        for (int c = 0; c < task->co_count; c += 8) {
            int live = task->co_count - c < 8 ? task->co_count - c : 8;
            df_v8 m[6][6], t[4][6];
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6; b++)
                    m[a][b] = df_v8_load(src + (a * 6 + b) * task->m_stride + c);
            for (int b = 0; b < 6; b++) {
                df_v8 r[4];
                DF_AT_ROWS(m[0][b], m[1][b], m[2][b], m[3][b], m[4][b], m[5][b], r);
                for (int a = 0; a < 4; a++)
                    t[a][b] = r[a];
            }
            df_v8 bias_v = (df_v8){0};
            if (bias) {
                float pad[8] = {0};
                memcpy(pad, bias + c, (size_t)live * sizeof(float));
                bias_v = df_v8_load(pad);
            }
            for (int a = 0; a < rows; a++) {
                df_v8 r[4];
                DF_AT_ROWS(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], r);
                for (int b = 0; b < cols; b++) {
                    float *out = dst + ((int64_t)(oy0 + a) * p->ow + ox0 + b) * p->c_out + c;
                    df_v8 value = r[b] + bias_v;
                    if (live == 8) {
                        df_v8_store(out, value);
                    } else {
                        float pad[8];
                        df_v8_store(pad, value);
                        memcpy(out, pad, (size_t)live * sizeof(float));
                    }
                }
            }
        }
    }
}
DF_VEC_DISPATCH(output_tiles, (const winograd_plan *p, const winograd_task *task), (p, task))

/* What product_task takes from its thread's scratch: M, then without a
 * shared U the task's own U and weight rows. */
static int64_t winograd_task_floats(int64_t range_max, int64_t kc_max, int share_u)
{
    return 36 * range_max * DF_WINOGRAD_NT + (share_u ? 0 : 36 * kc_max * DF_WINOGRAD_NT) +
           (share_u ? 0 : 8 * kc_max * 9);
}

/* M[t] (+)= V[t] · U[t] over K block [k0, k0 + kc) for the task's tiles and
 * channels; u_t: the block's packed B panels of the task's channels. */
static void product(const winograd_plan *p, const winograd_task *task, int t, int64_t k0,
                    int64_t kc, const float *u_t, float *m_t)
{
    const int mr = p->micro.mr, nr = p->micro.nr;
    const float *v_t = p->v + t * p->v_stride + k0 * p->tile_pad + task->range0 / mr * kc * mr;
    for (int jr = 0; jr < task->co_count; jr += nr) {
        int cols = task->co_count - jr < nr ? task->co_count - jr : nr;
        for (int64_t ir = 0; ir < task->range_len; ir += mr) {
            int live = task->range_len - ir < mr ? (int)(task->range_len - ir) : mr;
            p->micro.fn(kc, v_t + ir * kc, u_t + (int64_t)jr * kc, m_t + ir * DF_WINOGRAD_NT + jr,
                        DF_WINOGRAD_NT, live, cols, k0 > 0, NULL);
        }
    }
}

/* ---- product tasks: the 36 GEMMs of a block of channels, then y -------- */

static void product_task(void *context, int64_t begin, int64_t end, int thread)
{
    const winograd_plan *p = context;
    const int64_t kc_max = p->c_in < p->kc ? p->c_in : p->kc;
    /* M first (its NT-float rows keep the micro-kernel's stores aligned),
     * then, without a shared U, this task's U and weight rows */
    const int64_t m_floats = 36 * p->range_max * DF_WINOGRAD_NT;
    const int64_t u_floats = p->u ? 0 : 36 * kc_max * DF_WINOGRAD_NT;
    float *m = df_pool_scratch(p->pool, thread,
                               (size_t)winograd_task_floats(p->range_max, kc_max, p->u != NULL) *
                                   sizeof(float));
    assert(m); /* a few MB */
    if (!m)
        return;
    float *u_local = m + m_floats, *rows = u_local + u_floats;
    for (int64_t index = begin; index < end; index++) {
        winograd_task task;
        task.co0 = (int)(index / p->ranges) * DF_WINOGRAD_NT;
        task.co_count = p->c_out - task.co0 < DF_WINOGRAD_NT ? p->c_out - task.co0 : DF_WINOGRAD_NT;
        task.range0 = index % p->ranges * p->range_max;
        task.range_len = p->tile_count - task.range0 < p->range_max ? p->tile_count - task.range0
                                                                   : p->range_max;
        task.m = m;
        task.m_stride = task.range_len * DF_WINOGRAD_NT;
        if (p->u) {
            /* shared U: every K block of one product before the next, so
             * that product's M (range x 64 floats) stays in cache */
            for (int t = 0; t < 36; t++)
                for (int64_t k0 = 0; k0 < p->c_in; k0 += p->kc) {
                    const int64_t kc = p->c_in - k0 < p->kc ? p->c_in - k0 : p->kc;
                    product(p, &task, t, k0, kc,
                            p->u + t * p->u_stride + k0 * p->c_out_pad + (int64_t)task.co0 * kc,
                            m + t * task.m_stride);
                }
        } else {
            /* U made here, one K block at a time for all 36 products */
            for (int64_t k0 = 0; k0 < p->c_in; k0 += p->kc) {
                const int64_t kc = p->c_in - k0 < p->kc ? p->c_in - k0 : p->kc;
                transform_weights(p, task.co0, k0, kc, u_local, 0, kc * DF_WINOGRAD_NT, rows);
                for (int t = 0; t < 36; t++)
                    product(p, &task, t, k0, kc, u_local + t * kc * DF_WINOGRAD_NT,
                            m + t * task.m_stride);
            }
        }
        output_tiles(p, &task);
    }
}

/* ---- driver ------------------------------------------------------------- */

/* The sizes a convolution is done with, shared by the driver and the
 * memory bound so the two cannot disagree. */
typedef struct winograd_layout {
    int64_t tiles, chunk, chunk_pad, blocks, c_out_pad, kc;
    int share_u;
    int64_t v_floats, u_floats; /* the pool workspace, with c_out floats of bias */
} winograd_layout;

/* 0 when Winograd does not apply: too few tiles, or a micro-kernel whose
 * panel width does not divide the task's channels. */
static int winograd_layout_for(int n, int oh, int ow, int c_in, int c_out,
                               const df_gemm_micro *micro, winograd_layout *l)
{
    if (!winograd_enabled || n < 1 || oh < 1 || ow < 1 || c_in < 1 || c_out < 1)
        return 0;
    if (DF_WINOGRAD_NT % micro->nr != 0 || micro->nr % 8 != 0)
        return 0;
    const int mr = micro->mr;
    l->tiles = (int64_t)n * ((oh + 3) / 4) * ((ow + 3) / 4);
    if (l->tiles < DF_WINOGRAD_MIN_TILES)
        return 0;
    /* K blocks of equal length, a multiple of 8 (320 = 160 + 160, not
     * 256 + 64: a short block pays the micro-kernel's C update for little) */
    const int64_t k_blocks = (c_in + DF_GEMM_KC - 1) / DF_GEMM_KC;
    l->kc = ((c_in + k_blocks - 1) / k_blocks + 7) / 8 * 8;
    /* chunks of whole MR-row panels; U shared when it fits */
    l->chunk = winograd_budget / (36 * (int64_t)c_in) / mr * mr;
    if (l->chunk > l->tiles)
        l->chunk = l->tiles;
    if (l->chunk < DF_WINOGRAD_MIN_TILES)
        return 0;
    l->chunk_pad = (l->chunk + mr - 1) / mr * mr;
    l->blocks = (c_out + DF_WINOGRAD_NT - 1) / DF_WINOGRAD_NT;
    l->c_out_pad = l->blocks * DF_WINOGRAD_NT;
    l->share_u = 36 * (int64_t)c_in * l->c_out_pad <= winograd_budget * 3 / 2;
    l->v_floats = 36 * l->chunk_pad * c_in;
    l->u_floats = l->share_u ? 36 * (int64_t)c_in * l->c_out_pad : 0;
    return 1;
}

/* Tiles per product task for a chunk of tile_count: up to DF_WINOGRAD_RANGE,
 * cut further until every thread has a few tasks, but not below 32 tiles;
 * whole MR-row panels, so a range starts on a panel. */
static int64_t winograd_range(int64_t tile_count, int64_t blocks, int threads, int mr)
{
    const int64_t want = 4 * (int64_t)threads;
    int64_t ranges = (tile_count + DF_WINOGRAD_RANGE - 1) / DF_WINOGRAD_RANGE;
    while (blocks * ranges < want && tile_count / (ranges + 1) >= 32)
        ranges++;
    return ((tile_count + ranges - 1) / ranges + mr - 1) / mr * mr;
}

size_t df_conv2d_winograd_workspace_bound(int n, int oh, int ow, int c_in, int c_out, int threads)
{
    df_gemm_micro micro;
    df_gemm_micro_kernel(&micro);
    winograd_layout l;
    if (!winograd_layout_for(n, oh, ow, c_in, c_out, &micro, &l))
        return 0;
    threads = threads > 0 ? threads : 1;
    const int64_t range = winograd_range(l.chunk, l.blocks, threads, micro.mr);
    const int64_t task = winograd_task_floats(range, c_in < l.kc ? c_in : l.kc, l.share_u);
    /* a thread's scratch grows by half again at most past the largest request */
    return (size_t)(l.v_floats + l.u_floats + c_out + threads * (task + task / 2)) *
               sizeof(float) + 64;
}

int df_conv2d_winograd(df_pool *pool, const float *x, int n, int h, int w, int c_in,
                       const df_weight *weight, const df_weight *bias, int padding, float *y)
{
    if (weight->shape[2] != 3 || weight->shape[3] != 3)
        return 0;
    winograd_plan plan = {
        .x = x, .y = y, .weight = weight, .pool = pool,
        .n = n, .h = h, .w = w, .c_in = c_in, .c_out = (int)weight->shape[0],
        .padding = padding, .oh = h + 2 * padding - 2, .ow = w + 2 * padding - 2,
    };
    df_gemm_micro_kernel(&plan.micro);
    winograd_layout l;
    if (!winograd_layout_for(n, plan.oh, plan.ow, c_in, plan.c_out, &plan.micro, &l))
        return 0;
    const int mr = plan.micro.mr;
    plan.tiles_y = (plan.oh + 3) / 4;
    plan.tiles_x = (plan.ow + 3) / 4;
    plan.tiles = l.tiles;
    plan.kc = l.kc;
    plan.blocks = l.blocks;
    plan.c_out_pad = l.c_out_pad;
    plan.u_stride = (int64_t)c_in * plan.c_out_pad;
    float *workspace = df_pool_workspace_acquire(
        pool, (size_t)(l.u_floats + l.v_floats + plan.c_out) * sizeof(float));
    if (!workspace)
        return 0; /* taken by an enclosing kernel, or no memory: direct path */
    plan.u = l.share_u ? workspace : NULL;
    plan.v = workspace + l.u_floats;
    if (bias) {
        float *bias_f32 = plan.v + l.v_floats;
        df_weight_to_f32(bias, 0, plan.c_out, bias_f32);
        plan.bias = bias_f32;
    }
    if (l.share_u)
        df_pool_for(pool, plan.blocks * ((c_in + plan.kc - 1) / plan.kc), 1, weight_task, &plan);
    for (int64_t tile0 = 0; tile0 < plan.tiles && !df_pool_stopped(pool); tile0 += l.chunk) {
        plan.tile0 = tile0;
        plan.tile_count = plan.tiles - tile0 < l.chunk ? plan.tiles - tile0 : l.chunk;
        plan.tile_pad = (plan.tile_count + mr - 1) / mr * mr;
        plan.v_stride = plan.tile_pad * c_in;
        df_pool_for(pool, plan.tile_pad / mr, 1, input_task, &plan);
        plan.range_max = winograd_range(plan.tile_count, plan.blocks, df_pool_size(pool), mr);
        plan.ranges = (plan.tile_count + plan.range_max - 1) / plan.range_max;
        df_pool_for(pool, plan.blocks * plan.ranges, 1, product_task, &plan);
    }
    df_pool_workspace_release(pool);
    return 1;
}
