/*
 * unet_forward.c — one evaluation of the UNet, top to bottom.
 *
 *   temb = linear_2(silu(linear_1(sinusoid(t))));   every resnet adds
 *          time_emb_proj(silu(temb)) to its hidden state
 *   SDXL:  temb += add_linear_2(silu(add_linear_1([text_embeds |
 *                                                  sinusoid(each time id)])))
 *   x = conv_in(latents)                            -> skip
 *   down blocks: (resnet [+ transformer] -> skip) x layers, downsample -> skip
 *   mid: resnet, transformer, resnet
 *   up blocks: (concat(x, pop skip) -> resnet [+ transformer]) x (layers+1),
 *              upsample (nearest 2x + conv)
 *   out = conv_out(silu(group_norm(x)))
 *
 * Activations are NHWC ([batch, pixels, channels]), which makes the
 * transformer's tokens the same memory as the image: no transposes inside.
 * The caller's NCHW latents are converted on entry and the result on exit.
 *
 * Scratch: one arena, sized by plan() from (batch, height, width, context
 * tokens) and reserved once; forward carves the same buffers every call.
 * Skips live in their own buffers (down blocks write straight into them);
 * every other buffer is reused by every block, sized for its largest use.
 */
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "models/unet_internal.h"
#include "runtime/error.h"
#include "runtime/kernels.h"

/* GroupNorm eps of Transformer2DModel and LayerNorm eps of its blocks, both
 * fixed in diffusers whatever the UNet's norm_eps. */
#define UNET_TRANSFORMER_NORM_EPS 1e-6f
#define UNET_LAYER_NORM_EPS 1e-5f
/* Rows of the GEGLU projection computed at a time: enough for 14 GEMM
 * tasks at N = 2560 (two threads evenly busy), few enough that the block
 * (10 MB at c = 320) stays near the cache. */
#define UNET_FF_ROWS 1024

/* --- scratch plan -------------------------------------------------------- */

typedef struct unet_shape {
    int batch, height, width, tokens;
} unet_shape;

/* Floats of each reused buffer, and of every skip. */
typedef struct unet_plan {
    size_t input, output;      /* NHWC latents in, NHWC result out */
    size_t sinusoid, temb;     /* [b, c0], [b, 4 c0] */
    size_t add_input;          /* SDXL: [b, add_embedding_dim] then its hidden [b, 4 c0] */
    size_t temb_proj;          /* [b, widest resnet out] */
    size_t x;                  /* the current activation */
    size_t cat;                /* concat(x, skip) for up resnets */
    size_t tmp_a, tmp_b;       /* resnet / transformer / upsample temporaries */
    size_t attention;          /* q, k, v, attention out: 4 [b n, c]; also GEGLU's output */
    size_t ff;                 /* GEGLU input, UNET_FF_ROWS rows at a time: [rows, 8 c] */
    size_t context_kv;         /* 2 [b T, c] */
    size_t skips[3 * DF_UNET_MAX_BLOCKS * 17 + 1];
    int skip_count;
} unet_plan;

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void plan(const df_unet *unet, const unet_shape *shape, unet_plan *p)
{
    const df_unet_config *config = &unet->config;
    const int n = config->block_count, layers = config->layers_per_block;
    const int *ch = config->block_out_channels;
    const size_t b = (size_t)shape->batch;
    memset(p, 0, sizeof *p);
    size_t pixels[DF_UNET_MAX_BLOCKS];
    for (int i = 0; i < n; i++)
        pixels[i] = (size_t)(shape->height >> i) * (size_t)(shape->width >> i);

    p->input = b * pixels[0] * (size_t)config->in_channels;
    p->output = b * pixels[0] * (size_t)config->out_channels;
    p->sinusoid = b * (size_t)ch[0];
    p->temb = b * 4 * (size_t)ch[0];
    p->add_input = config->add_embedding_dim
                       ? b * ((size_t)config->add_embedding_dim + 4 * (size_t)ch[0])
                       : 0;
    p->skips[p->skip_count++] = b * pixels[0] * (size_t)ch[0];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < layers; j++)
            p->skips[p->skip_count++] = b * pixels[i] * (size_t)ch[i];
        if (i < n - 1)
            p->skips[p->skip_count++] = b * pixels[i + 1] * (size_t)ch[i];
    }
    /* Every tensor at level i has at most the widest of the channels of
     * blocks i-1, i, i+1 (inputs come from the level above or below); a
     * concat is at most two of them. */
    for (int i = 0; i < n; i++) {
        int widest = ch[i];
        if (i > 0 && ch[i - 1] > widest)
            widest = ch[i - 1];
        if (i + 1 < n && ch[i + 1] > widest)
            widest = ch[i + 1];
        size_t act = b * pixels[i] * (size_t)widest;
        p->x = max_size(p->x, act);
        p->cat = max_size(p->cat, 2 * act);
        p->tmp_a = max_size(p->tmp_a, 2 * act); /* norm1 of a concat */
        p->tmp_b = max_size(p->tmp_b, act);
        p->temb_proj = max_size(p->temb_proj, b * (size_t)widest);
        if (config->block_has_attention[i] || config->up_has_attention[n - 1 - i] ||
            i == n - 1) { /* the mid block is at n-1 */
            size_t tokens = b * pixels[i] * (size_t)ch[i];
            p->attention = max_size(p->attention, 4 * tokens);
            size_t ff_rows = b * pixels[i] < UNET_FF_ROWS ? b * pixels[i] : UNET_FF_ROWS;
            p->ff = max_size(p->ff, 8 * ff_rows * (size_t)ch[i]);
            p->context_kv =
                max_size(p->context_kv, 2 * b * (size_t)shape->tokens * (size_t)ch[i]);
        }
    }
}

static size_t plan_bytes(const unet_plan *p)
{
    const size_t sizes[] = {p->input, p->output, p->sinusoid, p->temb, p->temb, p->temb_proj,
                            p->x, p->cat, p->tmp_a, p->tmp_b, p->attention, p->ff,
                            p->context_kv, p->add_input};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        total += df_arena_footprint(sizes[i] * sizeof(float));
    for (int i = 0; i < p->skip_count; i++)
        total += df_arena_footprint(p->skips[i] * sizeof(float));
    return total;
}

size_t df_unet_scratch_bytes(const df_unet *unet, int batch, int height, int width,
                             int context_tokens)
{
    unet_shape shape = {batch, height, width, context_tokens};
    unet_plan p;
    plan(unet, &shape, &p);
    return plan_bytes(&p);
}

size_t df_unet_conv_workspace_bytes(const df_unet *unet, int batch, int height, int width)
{
    /* At level i a 3x3 conv reads at most an up resnet's concat (the level
     * below's or its own channels, plus a skip of its own or the level
     * above's) and writes at most the level below's channels (the
     * upsampler's conv, run at this level's size). */
    const df_unet_config *config = &unet->config;
    const int *ch = config->block_out_channels, n = config->block_count;
    size_t most = 0;
    for (int i = 0; i < n; i++) {
        int below = i + 1 < n && ch[i + 1] > ch[i] ? ch[i + 1] : ch[i];
        int above = i > 0 && ch[i - 1] > ch[i] ? ch[i - 1] : ch[i];
        size_t bytes = df_conv2d_winograd_workspace_bound(batch, height >> i, width >> i,
                                                          below + above, below,
                                                          df_pool_size(unet->pool));
        most = max_size(most, bytes);
    }
    return most;
}

size_t df_unet_reserved_bytes(const df_unet *unet)
{
    return unet->arena.capacity;
}

/* --- the pass's state ---------------------------------------------------- */

typedef struct unet_pass {
    df_unet *unet;
    df_pool *pool;
    int batch, tokens;
    const float *context;      /* [b, T, cross_attention_dim] */
    const float *temb_silu;    /* SiLU(temb), [b, 4 c0]: what every resnet projects */
    float *temb_proj;
    float *cat, *tmp_a, *tmp_b, *attention, *ff, *context_kv;
} unet_pass;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs `call`, charging its wall and CPU time to `kind` when profiling. */
#define TIMED(pass, kind, call)                                                    \
    do {                                                                           \
        if ((pass)->unet->profile) {                                               \
            double start_ = now_seconds(), cpu_start_ = cpu_seconds();             \
            call;                                                                  \
            (pass)->unet->profile_seconds[kind] += now_seconds() - start_;         \
            (pass)->unet->profile_cpu_seconds[kind] += cpu_seconds() - cpu_start_; \
        } else {                                                                   \
            call;                                                                  \
        }                                                                          \
    } while (0)

/* --- small helpers the kernels do not have ------------------------------- */

typedef struct bias_job {
    float *x;
    const float *bias; /* [batch, c] */
    int64_t pixels;
    int c;
} bias_job;

static void add_bias_rows(void *context, int64_t begin, int64_t end, int thread)
{
    const bias_job *job = context;
    (void)thread;
    for (int64_t row = begin; row < end; row++) {
        float *x = job->x + row * job->c;
        const float *bias = job->bias + (row / job->pixels) * job->c;
        for (int i = 0; i < job->c; i++)
            x[i] += bias[i];
    }
}

/* x[b, p, :] += bias[b, :] for every pixel p: the per-sample time embedding
 * projected to a resnet's width, broadcast over the image. */
static void add_per_sample(df_pool *pool, float *x, const float *bias, int batch, int64_t pixels,
                           int c)
{
    bias_job job = {x, bias, pixels, c};
    df_pool_for(pool, (int64_t)batch * pixels, 64, add_bias_rows, &job);
}

/* diffusers' get_timestep_embedding, computed as torch does in f32:
 * exponent_i = -ln(10000) * i / (half - freq_shift); emb = t * exp(exponent);
 * [sin | cos], swapped to [cos | sin] by flip_sin_to_cos. `count` values
 * into rows `stride` floats apart. */
static void timestep_sinusoid(const df_unet_config *config, const float *timesteps, int count,
                              int dim, int64_t stride, float *out)
{
    const int half = dim / 2;
    const float log_period = (float)-log(10000.0);
    const float denominator = (float)half - config->freq_shift;
    for (int b = 0; b < count; b++) {
        float *row = out + (size_t)b * (size_t)stride;
        for (int i = 0; i < half; i++) {
            float exponent = (log_period * (float)i) / denominator;
            float arg = timesteps[b] * expf(exponent);
            float s = (float)sin((double)arg), c = (float)cos((double)arg);
            row[i] = config->flip_sin_to_cos ? c : s;
            row[half + i] = config->flip_sin_to_cos ? s : c;
        }
    }
}

/* --- blocks -------------------------------------------------------------- */

/* ResnetBlock2D, in -> out at (h, w); out may be in. Uses tmp_a, tmp_b. */
static void resnet(unet_pass *pass, const unet_resnet *r, const float *in, float *out, int h,
                   int w)
{
    df_pool *pool = pass->pool;
    const df_unet_config *config = &pass->unet->config;
    const int b = pass->batch, groups = config->norm_groups;
    const int64_t pixels = (int64_t)h * w, values = (int64_t)b * pixels * r->out;
    const float eps = config->norm_eps;
    float *a = pass->tmp_a, *t = pass->tmp_b;

    TIMED(pass, UNET_PROF_NORM, df_group_norm(pool, in, b, pixels, r->in, groups, r->norm1_weight,
                                              r->norm1_bias, eps, 1, a));
    TIMED(pass, UNET_PROF_CONV3,
          df_conv2d(pool, a, b, h, w, r->in, r->conv1_weight, r->conv1_bias, 1, 1, t));
    TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, pass->temb_silu, b, r->temb_weight->shape[1],
                                            r->temb_weight, r->temb_bias, pass->temb_proj));
    TIMED(pass, UNET_PROF_ELEMENT, add_per_sample(pool, t, pass->temb_proj, b, pixels, r->out));
    TIMED(pass, UNET_PROF_NORM, df_group_norm(pool, t, b, pixels, r->out, groups, r->norm2_weight,
                                              r->norm2_bias, eps, 1, t));
    TIMED(pass, UNET_PROF_CONV3,
          df_conv2d(pool, t, b, h, w, r->out, r->conv2_weight, r->conv2_bias, 1, 1, a));
    const float *shortcut = in;
    if (r->shortcut_weight) {
        TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, in, (int64_t)b * pixels, r->in,
                                                r->shortcut_weight, r->shortcut_bias, t));
        shortcut = t;
    }
    TIMED(pass, UNET_PROF_ELEMENT, df_add(pool, a, shortcut, out, values));
}

/* One attention of a transformer block: q from `normed` [b, n, c], keys and
 * values from `source` [b, m, source_dim] (normed itself for self-attention,
 * the text context for cross-attention); the projected result is added to
 * `stream`. q, k, v and the attention output are the pass's attention
 * buffer, in four [b n, c] slices (k, v of the context in context_kv). */
static void attention(unet_pass *pass, const unet_attention *a, int heads, float *stream,
                      const float *normed, int64_t n, int c, const float *source, int64_t m,
                      int source_dim, float *projected)
{
    df_pool *pool = pass->pool;
    const int b = pass->batch;
    const int64_t rows = (int64_t)b * n, values = rows * c;
    float *q = pass->attention, *out = q + values, *k, *v;
    if (source == normed) {
        k = out + values;
        v = k + values;
    } else {
        k = pass->context_kv;
        v = k + (int64_t)b * m * c;
    }
    TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, normed, rows, c, a->q, NULL, q));
    TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, source, (int64_t)b * m, source_dim, a->k, NULL, k));
    TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, source, (int64_t)b * m, source_dim, a->v, NULL, v));
    const int head_dim = c / heads;
    TIMED(pass, UNET_PROF_ATTENTION,
          df_attention(pool, q, k, v, out, b, heads, n, m, head_dim, c, c, c, 0,
                       1.0f / sqrtf((float)head_dim)));
    TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, out, rows, c, a->out_weight, a->out_bias, projected));
    TIMED(pass, UNET_PROF_ELEMENT, df_add(pool, stream, projected, stream, values));
}

/* Transformer2DModel on x [b, h w, c], in place: x += proj_out(blocks(proj_in(norm(x)))).
 * The token stream lives in tmp_b, normed tokens in tmp_a. */
static void transformer(unet_pass *pass, const unet_transformer *t, float *x, int64_t pixels)
{
    df_pool *pool = pass->pool;
    const df_unet_config *config = &pass->unet->config;
    const int b = pass->batch, c = t->channels;
    const int64_t rows = (int64_t)b * pixels, values = rows * c, ff = 4 * (int64_t)c;
    float *normed = pass->tmp_a, *stream = pass->tmp_b;

    TIMED(pass, UNET_PROF_NORM,
          df_group_norm(pool, x, b, pixels, c, config->norm_groups, t->norm_weight, t->norm_bias,
                        UNET_TRANSFORMER_NORM_EPS, 0, normed));
    TIMED(pass, UNET_PROF_LINEAR,
          df_linear(pool, normed, rows, c, t->proj_in_weight, t->proj_in_bias, stream));
    for (int i = 0; i < t->depth; i++) {
        const unet_block *block = &t->blocks[i];
        TIMED(pass, UNET_PROF_NORM, df_layer_norm(pool, stream, rows, c, block->norm1_weight,
                                                  block->norm1_bias, UNET_LAYER_NORM_EPS, normed));
        attention(pass, &block->self_attention, t->heads, stream, normed, pixels, c, normed,
                  pixels, c, normed);

        TIMED(pass, UNET_PROF_NORM, df_layer_norm(pool, stream, rows, c, block->norm2_weight,
                                                  block->norm2_bias, UNET_LAYER_NORM_EPS, normed));
        attention(pass, &block->cross_attention, t->heads, stream, normed, pixels, c,
                  pass->context, pass->tokens, config->cross_attention_dim, normed);

        /* GEGLU feed-forward: proj to [hidden | gate], hidden * gelu(gate), Linear.
         * The projection and GEGLU run UNET_FF_ROWS rows at a time, so the
         * [rows, 8c] projection is never whole (84 MB at 64x64, batch 2):
         * each block is consumed while in cache. The GEGLU output reuses
         * the attention buffer (4 [b n, c] = [b n, 4c]). */
        TIMED(pass, UNET_PROF_NORM, df_layer_norm(pool, stream, rows, c, block->norm3_weight,
                                                  block->norm3_bias, UNET_LAYER_NORM_EPS, normed));
        for (int64_t r0 = 0; r0 < rows; r0 += UNET_FF_ROWS) {
            const int64_t count = rows - r0 < UNET_FF_ROWS ? rows - r0 : UNET_FF_ROWS;
            TIMED(pass, UNET_PROF_LINEAR,
                  df_linear(pool, normed + r0 * c, count, c, block->ff_in_weight,
                            block->ff_in_bias, pass->ff));
            TIMED(pass, UNET_PROF_ELEMENT,
                  df_geglu(pool, pass->ff, count, ff, pass->attention + r0 * ff));
        }
        TIMED(pass, UNET_PROF_LINEAR, df_linear(pool, pass->attention, rows, ff,
                                                block->ff_out_weight, block->ff_out_bias, normed));
        TIMED(pass, UNET_PROF_ELEMENT, df_add(pool, stream, normed, stream, values));
    }
    TIMED(pass, UNET_PROF_LINEAR,
          df_linear(pool, stream, rows, c, t->proj_out_weight, t->proj_out_bias, normed));
    TIMED(pass, UNET_PROF_ELEMENT, df_add(pool, x, normed, x, values));
}

/* --- layout conversion --------------------------------------------------- */

static void nchw_to_nhwc(const float *in, int batch, int c, int64_t pixels, float *out)
{
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < c; k++) {
            const float *src = in + ((int64_t)b * c + k) * pixels;
            float *dst = out + (int64_t)b * pixels * c + k;
            for (int64_t p = 0; p < pixels; p++)
                dst[p * c] = src[p];
        }
}

static void nhwc_to_nchw(const float *in, int batch, int c, int64_t pixels, float *out)
{
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < c; k++) {
            const float *src = in + (int64_t)b * pixels * c + k;
            float *dst = out + ((int64_t)b * c + k) * pixels;
            for (int64_t p = 0; p < pixels; p++)
                dst[p] = src[p * c];
        }
}

static void print_profile(df_unet *unet, double total)
{
    static const char *const names[UNET_PROF_COUNT] = {"conv 3x3", "linear/1x1", "attention",
                                                       "norms", "elementwise"};
    double accounted = 0;
    fprintf(stderr, "unet profile: %.3f s (wall, share, CPU of all threads, cores busy)\n", total);
    for (int i = 0; i < UNET_PROF_COUNT; i++) {
        double wall = unet->profile_seconds[i], cpu = unet->profile_cpu_seconds[i];
        fprintf(stderr, "  %-12s %8.3f s  %5.1f%%  %8.3f s  %4.2f\n", names[i], wall,
                100.0 * wall / total, cpu, wall > 0 ? cpu / wall : 0.0);
        accounted += wall;
        unet->profile_seconds[i] = 0;
        unet->profile_cpu_seconds[i] = 0;
    }
    fprintf(stderr, "  %-12s %8.3f s\n", "other", total - accounted);
}

/* --- forward ------------------------------------------------------------- */

/* Between blocks: a block is at most a few kernels, and the kernels skip
 * their remaining chunks once the pool's stop function fires, so a cancel
 * takes effect within about one chunk whatever the image size. */
#define STOP_POINT()                                                                  \
    do {                                                                          \
        if (df_pool_stopped(pool))                                                \
            return df_error_set(error, DF_ERR_CANCELLED, "unet: cancelled");      \
    } while (0)

/* SDXL: temb += add_embedding([text_embeds | sinusoids of the time ids]).
 * input: [batch, add_embedding_dim]; hidden, scratch: [batch, 4 c0]. */
static df_status add_embedding(df_unet *unet, const df_unet_added *added, int batch, float *input,
                               float *hidden, float *scratch, float *temb, df_error *error)
{
    const df_unet_config *config = &unet->config;
    if (!added || !added->text_embeds || !added->time_ids)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: this UNet (SDXL) needs the pooled text embedding and time ids");
    const int text = added->text_embeds_dim, ids = added->time_id_count;
    const int time_dim = config->addition_time_embed_dim, width = config->add_embedding_dim;
    if (text <= 0 || ids <= 0 || (int64_t)text + (int64_t)ids * time_dim != width)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: a %d-wide text embedding and %d time ids do not make the "
                            "UNet's %d-wide added embedding (%d per time id)",
                            text, ids, width, time_dim);
    for (int b = 0; b < batch; b++) {
        float *row = input + (size_t)b * (size_t)width;
        memcpy(row, added->text_embeds + (size_t)b * (size_t)text, (size_t)text * sizeof(float));
        for (int i = 0; i < ids; i++)
            if (!isfinite(added->time_ids[(size_t)b * (size_t)ids + (size_t)i]))
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "unet: time id %d of batch item %d is not finite", i, b);
        timestep_sinusoid(config, added->time_ids + (size_t)b * (size_t)ids, ids, time_dim,
                          time_dim, row + text);
    }
    df_pool *pool = unet->pool;
    const int64_t values = (int64_t)batch * 4 * config->block_out_channels[0];
    df_linear(pool, input, batch, width, unet->add_linear1_weight, unet->add_linear1_bias, hidden);
    df_silu(pool, hidden, values);
    df_linear(pool, hidden, batch, 4 * config->block_out_channels[0], unet->add_linear2_weight,
              unet->add_linear2_bias, scratch);
    df_add(pool, temb, scratch, temb, values);
    return DF_OK;
}

df_status df_unet_forward(df_unet *unet, const float *latents, int batch, int height, int width,
                          const float *timesteps, const float *context, int context_tokens,
                          const df_unet_added *added, float *out, df_error *error)
{
    const df_unet_config *config = &unet->config;
    df_status status = df_unet_check_inputs(unet, batch, height, width, context_tokens,
                                            config->cross_attention_dim, error);
    if (status)
        return status;
    for (int b = 0; b < batch; b++)
        if (!isfinite(timesteps[b]))
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "unet: timestep %d of the batch is not finite", b);

    const double start = unet->profile ? now_seconds() : 0;
    unet_shape shape = {batch, height, width, context_tokens};
    unet_plan p;
    plan(unet, &shape, &p);
    size_t bytes = plan_bytes(&p);
    if (bytes > unet->planned_bytes) {
        status = df_arena_reserve(&unet->arena, bytes, error);
        if (status)
            return df_error_prefix(error, "unet: scratch for batch %d at %dx%d: ", batch, height,
                                   width);
        unet->planned_bytes = bytes;
    }
    df_arena *arena = &unet->arena;
    df_arena_reset(arena);
    float *input = df_arena_floats(arena, p.input);
    float *output = df_arena_floats(arena, p.output);
    float *sinusoid = df_arena_floats(arena, p.sinusoid);
    float *temb = df_arena_floats(arena, p.temb);
    float *temb_silu = df_arena_floats(arena, p.temb);
    float *add_input = config->add_embedding_dim ? df_arena_floats(arena, p.add_input) : NULL;
    float *x = df_arena_floats(arena, p.x);
    unet_pass pass = {
        .unet = unet, .pool = unet->pool, .batch = batch, .tokens = context_tokens,
        .context = context, .temb_silu = temb_silu,
        .temb_proj = df_arena_floats(arena, p.temb_proj),
        .cat = df_arena_floats(arena, p.cat),
        .tmp_a = df_arena_floats(arena, p.tmp_a),
        .tmp_b = df_arena_floats(arena, p.tmp_b),
        .attention = df_arena_floats(arena, p.attention),
        .ff = df_arena_floats(arena, p.ff),
        .context_kv = df_arena_floats(arena, p.context_kv),
    };
    float *skips[sizeof p.skips / sizeof *p.skips];
    int ok = input && output && sinusoid && temb && temb_silu && x && pass.temb_proj &&
             (add_input || !config->add_embedding_dim) &&
             pass.cat && pass.tmp_a && pass.tmp_b && pass.attention && pass.ff && pass.context_kv;
    for (int i = 0; i < p.skip_count; i++)
        ok = ok && (skips[i] = df_arena_floats(arena, p.skips[i])) != NULL;
    if (!ok)
        return df_error_set(error, DF_ERR_INTERNAL, "unet: scratch plan too small");

    df_pool *pool = unet->pool;
    STOP_POINT();
    const int n = config->block_count, c0 = config->block_out_channels[0];
    int h = height, w = width;
    nchw_to_nhwc(latents, batch, config->in_channels, (int64_t)h * w, input);

    /* Time embedding; resnets only ever see SiLU(temb). */
    timestep_sinusoid(config, timesteps, batch, c0, c0, sinusoid);
    df_linear(pool, sinusoid, batch, c0, unet->time_linear1_weight, unet->time_linear1_bias,
              temb_silu);
    df_silu(pool, temb_silu, (int64_t)batch * 4 * c0);
    df_linear(pool, temb_silu, batch, 4 * c0, unet->time_linear2_weight,
              unet->time_linear2_bias, temb);
    if (config->add_embedding_dim) {
        float *add_hidden = add_input + (size_t)batch * (size_t)config->add_embedding_dim;
        status = add_embedding(unet, added, batch, add_input, add_hidden, temb_silu, temb, error);
        if (status)
            return status;
    }
    memcpy(temb_silu, temb, (size_t)batch * 4 * (size_t)c0 * sizeof(float));
    df_silu(pool, temb_silu, (int64_t)batch * 4 * c0);

    int s = 0; /* skips written */
    TIMED(&pass, UNET_PROF_CONV3, df_conv2d(pool, input, batch, h, w, config->in_channels,
                                            unet->conv_in_weight, unet->conv_in_bias, 1, 1,
                                            skips[s]));
    float *current = skips[s++];

    /* Down blocks write each output straight into its skip buffer. */
    for (int i = 0; i < n; i++) {
        const unet_level *level = &unet->down[i];
        for (int j = 0; j < level->resnet_count; j++) {
            resnet(&pass, &level->resnets[j], current, skips[s], h, w);
            current = skips[s++];
            STOP_POINT();
            if (level->attentions)
                transformer(&pass, &level->attentions[j], current, (int64_t)h * w);
            STOP_POINT();
        }
        if (level->sample_weight) {
            const int c = config->block_out_channels[i];
            TIMED(&pass, UNET_PROF_CONV3, df_conv2d(pool, current, batch, h, w, c,
                                                    level->sample_weight, level->sample_bias, 2,
                                                    1, skips[s]));
            current = skips[s++];
            h /= 2;
            w /= 2;
        }
    }

    STOP_POINT();
    resnet(&pass, &unet->mid.resnets[0], current, x, h, w);
    STOP_POINT();
    transformer(&pass, &unet->mid.attentions[0], x, (int64_t)h * w);
    STOP_POINT();
    resnet(&pass, &unet->mid.resnets[1], x, x, h, w);
    STOP_POINT();
    int x_channels = config->block_out_channels[n - 1];

    for (int i = 0; i < n; i++) {
        const unet_level *level = &unet->up[i];
        for (int j = 0; j < level->resnet_count; j++) {
            const unet_resnet *r = &level->resnets[j];
            const float *skip = skips[--s];
            TIMED(&pass, UNET_PROF_ELEMENT,
                  df_concat_channels(pool, x, x_channels, skip, r->in - x_channels,
                                     (int64_t)batch * h * w, pass.cat));
            resnet(&pass, r, pass.cat, x, h, w);
            x_channels = r->out;
            STOP_POINT();
            if (level->attentions)
                transformer(&pass, &level->attentions[j], x, (int64_t)h * w);
            STOP_POINT();
        }
        if (level->sample_weight) {
            const int c = x_channels;
            TIMED(&pass, UNET_PROF_ELEMENT,
                  df_upsample_nearest2x(pool, x, batch, h, w, c, pass.tmp_a));
            h *= 2;
            w *= 2;
            TIMED(&pass, UNET_PROF_CONV3, df_conv2d(pool, pass.tmp_a, batch, h, w, c,
                                                    level->sample_weight, level->sample_bias, 1,
                                                    1, x));
            STOP_POINT();
        }
    }

    TIMED(&pass, UNET_PROF_NORM,
          df_group_norm(pool, x, batch, (int64_t)h * w, c0, config->norm_groups,
                        unet->norm_out_weight, unet->norm_out_bias, config->norm_eps, 1, x));
    TIMED(&pass, UNET_PROF_CONV3, df_conv2d(pool, x, batch, h, w, c0, unet->conv_out_weight,
                                            unet->conv_out_bias, 1, 1, output));
    STOP_POINT(); /* a skipped kernel left garbage: never hand it out */
    nhwc_to_nchw(output, batch, config->out_channels, (int64_t)h * w, out);
    if (unet->profile)
        print_profile(unet, now_seconds() - start);
    return DF_OK;
}
