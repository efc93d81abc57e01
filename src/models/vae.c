/*
 * vae.c — diffusers' AutoencoderKL, decoder and encoder, top to bottom.
 *
 *   decode: post_quant_conv → conv_in → mid (resnet, attention, resnet)
 *           → up blocks (layers_per_block + 1 resnets, nearest 2x + conv
 *             except the last) → GroupNorm+SiLU → conv_out
 *   encode: conv_in → down blocks (layers_per_block resnets, pad right and
 *           bottom by one + 3x3 stride-2 conv except the last) → mid
 *           → GroupNorm+SiLU → conv_out → quant_conv → (mean | logvar)
 *
 * Invariants: activations are NHWC f32 and live in one arena planned from
 * the image size (three rotating buffers big enough for the largest
 * activation of the pass, plus q/k/v/out for the mid-block attention).
 * Images are processed one at a time, so memory does not grow with the batch
 * (every op is per image, so the result is the same). Tiled decoding plans
 * the arena for one tile plus the seams it must remember, never the image.
 */
#include "models/vae.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/arena.h"
#include "runtime/error.h"
#include "runtime/kernels.h"

#define VAE_MAX_LEVELS 8
#define VAE_MAX_LAYERS 16
#define VAE_MAX_SIDE 16384 /* image pixels per side we accept */
/* diffusers' ResnetBlock2D / Attention in the VAE use eps 1e-6. */
#define VAE_EPS 1e-6f

typedef struct vae_conv {
    const df_weight *weight, *bias;
} vae_conv;

typedef struct vae_norm {
    const df_weight *gamma, *beta;
} vae_norm;

typedef struct vae_resnet {
    int c_in, c_out;
    vae_norm norm1, norm2;
    vae_conv conv1, conv2;
    vae_conv shortcut; /* 1x1 when c_in != c_out, else weight NULL */
} vae_resnet;

typedef struct vae_attention {
    int channels;
    vae_norm norm;
    const df_weight *q_weight, *q_bias, *k_weight, *k_bias, *v_weight, *v_bias;
    const df_weight *out_weight, *out_bias;
} vae_attention;

typedef struct vae_mid {
    vae_resnet first, second;
    vae_attention attention;
} vae_mid;

typedef struct vae_level {
    int resnet_count;
    vae_resnet resnets[VAE_MAX_LAYERS + 1];
    vae_conv sampler; /* upsampler/downsampler conv; weight NULL on the last level */
    /* Decoder: the upsampler (nearest 2x, then the 3x3 conv) as one 2x2 conv
     * on the low-resolution input with 4 output phases (see upsample_conv),
     * made only when Winograd is off at load (NULL otherwise). */
    df_weight phase_weight, phase_bias;
    float *phase_data; /* owned: [4 * c][c][2][2] then the bias [4 * c] */
} vae_level;

typedef struct vae_coder {
    int present;
    vae_conv conv_in, conv_out, quant; /* quant: quant_conv / post_quant_conv (may be absent) */
    vae_mid mid;
    vae_level levels[VAE_MAX_LEVELS];
    vae_norm norm_out;
} vae_coder;

/* The buffers of one pass, carved from the arena. */
typedef struct vae_work {
    float *buffer[3]; /* each `elements` floats */
    size_t elements;
    float *q, *k, *v, *o; /* mid-block attention, `attention_elements` each */
} vae_work;

/* Time accounting by stage and kernel kind, when DIFFUSE_VAE_PROFILE is set
 * (printed to stderr after every decode). */
enum { VAE_PROF_CONV3, VAE_PROF_UPSAMPLE, VAE_PROF_LINEAR, VAE_PROF_ATTENTION, VAE_PROF_NORM,
       VAE_PROF_ELEMENT, VAE_PROF_KINDS };
#define VAE_PROF_STAGES (VAE_MAX_LEVELS + 2) /* mid, up blocks, out */

typedef struct vae_profile {
    int stage;
    int cpu; /* DIFFUSE_VAE_PROFILE=cpu: process CPU time instead of wall time */
    char label[VAE_PROF_STAGES][32];
    double seconds[VAE_PROF_STAGES][VAE_PROF_KINDS];
} vae_profile;

struct df_vae {
    df_vae_config config;
    vae_profile *profile; /* NULL unless DIFFUSE_VAE_PROFILE is set */
    df_pool *pool;
    const char *path; /* the checkpoint's, for messages */
    vae_coder decoder, encoder;
    int tile, overlap; /* tiled decoding in latent pixels; tile 0: off */
    df_arena arena;
};

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */

typedef struct vae_loader {
    const df_checkpoint *checkpoint;
    df_error *error;
    df_status status; /* first failure; later requires are no-ops */
} vae_loader;

/* The weight `format...` with `ndim` dims of `shape` (-1: any), or records
 * the failure (the message names the tensor) and returns NULL. */
static const df_weight *need(vae_loader *ld, int ndim, const int64_t *shape, const char *format,
                             ...) __attribute__((format(printf, 4, 5)));
static const df_weight *need(vae_loader *ld, int ndim, const int64_t *shape, const char *format,
                             ...)
{
    if (ld->status)
        return NULL;
    char name[256];
    va_list args;
    va_start(args, format);
    vsnprintf(name, sizeof name, format, args);
    va_end(args);
    const df_weight *weight = NULL;
    ld->status = df_checkpoint_require(ld->checkpoint, DF_COMPONENT_VAE, name, ndim, shape,
                                       &weight, ld->error);
    return ld->status ? NULL : weight;
}

static vae_conv need_conv(vae_loader *ld, const char *prefix, int c_out, int c_in, int k)
{
    int64_t shape[4] = {c_out, c_in, k, k}, bias_shape[1] = {c_out};
    vae_conv conv;
    conv.weight = need(ld, 4, shape, "%s.weight", prefix);
    conv.bias = need(ld, 1, bias_shape, "%s.bias", prefix);
    return conv;
}

/* A linear [out, in] (LDM 1x1 convs are exposed squeezed by the checkpoint). */
static void need_linear(vae_loader *ld, const char *prefix, int c, const df_weight **weight,
                        const df_weight **bias)
{
    int64_t shape[2] = {c, c}, bias_shape[1] = {c};
    *weight = need(ld, 2, shape, "%s.weight", prefix);
    *bias = need(ld, 1, bias_shape, "%s.bias", prefix);
}

static vae_norm need_norm(vae_loader *ld, const char *prefix, int c)
{
    int64_t shape[1] = {c};
    vae_norm norm;
    norm.gamma = need(ld, 1, shape, "%s.weight", prefix);
    norm.beta = need(ld, 1, shape, "%s.bias", prefix);
    return norm;
}

static void need_resnet(vae_loader *ld, vae_resnet *r, const char *prefix, int c_in, int c_out)
{
    char name[192];
    r->c_in = c_in;
    r->c_out = c_out;
#define SUB(s) (snprintf(name, sizeof name, "%s.%s", prefix, s), name)
    r->norm1 = need_norm(ld, SUB("norm1"), c_in);
    r->conv1 = need_conv(ld, SUB("conv1"), c_out, c_in, 3);
    r->norm2 = need_norm(ld, SUB("norm2"), c_out);
    r->conv2 = need_conv(ld, SUB("conv2"), c_out, c_out, 3);
    if (c_in != c_out)
        r->shortcut = need_conv(ld, SUB("conv_shortcut"), c_out, c_in, 1);
#undef SUB
}

static void need_mid(vae_loader *ld, vae_mid *mid, const char *coder, int c)
{
    char name[192];
    snprintf(name, sizeof name, "%s.mid_block.resnets.0", coder);
    need_resnet(ld, &mid->first, name, c, c);
    snprintf(name, sizeof name, "%s.mid_block.resnets.1", coder);
    need_resnet(ld, &mid->second, name, c, c);
    vae_attention *a = &mid->attention;
    a->channels = c;
#define SUB(s) (snprintf(name, sizeof name, "%s.mid_block.attentions.0.%s", coder, s), name)
    a->norm = need_norm(ld, SUB("group_norm"), c);
    need_linear(ld, SUB("to_q"), c, &a->q_weight, &a->q_bias);
    need_linear(ld, SUB("to_k"), c, &a->k_weight, &a->k_bias);
    need_linear(ld, SUB("to_v"), c, &a->v_weight, &a->v_bias);
    need_linear(ld, SUB("to_out.0"), c, &a->out_weight, &a->out_bias);
#undef SUB
}

/* quant_conv / post_quant_conv: absent only when the config turns it off. */
static void need_quant(vae_loader *ld, vae_conv *conv, const char *name, const char *key, int c)
{
    char weight[64];
    snprintf(weight, sizeof weight, "%s.weight", name);
    if (!df_checkpoint_weight(ld->checkpoint, DF_COMPONENT_VAE, weight) &&
        !df_checkpoint_config_int(ld->checkpoint, DF_COMPONENT_VAE, key, 1))
        return;
    *conv = need_conv(ld, name, c, c, 1);
}

/*
 * A 3x3 conv (padding 1) of a nearest-2x-upsampled image U equals, for each
 * output phase (py, px) = (Y % 2, X % 2), a 2x2 conv of the low-resolution
 * image: rows 2y+py-1, 2y+py, 2y+py+1 of U are rows y-1, y, y (py = 0) or
 * y, y, y+1 (py = 1) of the input, zero padding included. So taps sharing an
 * input row are summed once here: tap 0 of phase 0 is W[0], tap 1 W[1]+W[2];
 * tap 0 of phase 1 is W[0]+W[1], tap 1 W[2] (likewise in x). One 2x2 conv
 * with padding 1 and 4*c outputs computes all phases: output (y+py, x+px),
 * channels [phase*c, phase*c + c) hold U-conv pixel (2y+py, 2x+px). That is
 * 16 multiply-adds per input channel for 4 output pixels instead of 36.
 * Weights are summed in double and kept in f32 (16/9 of the 3x3 weight).
 */
static int phase_weights(vae_level *level, int c)
{
    static const int first[2][2] = {{0, 1}, {0, 2}}, last[2][2] = {{0, 2}, {1, 2}};
    const size_t taps = (size_t)4 * c * c * 4;
    float *data = malloc((taps + (size_t)4 * c) * sizeof(float));
    float *row = malloc((size_t)c * 9 * sizeof(float));
    if (!data || !row) {
        free(data);
        free(row);
        return 0;
    }
    for (int co = 0; co < c; co++) {
        df_weight_to_f32(level->sampler.weight, (int64_t)co * c * 9, (int64_t)c * 9, row);
        const float bias = df_weight_get(level->sampler.bias, co);
        for (int phase = 0; phase < 4; phase++) {
            const int py = phase / 2, px = phase % 2;
            data[taps + (size_t)phase * c + co] = bias;
            for (int ci = 0; ci < c; ci++)
                for (int ty = 0; ty < 2; ty++)
                    for (int tx = 0; tx < 2; tx++) {
                        double sum = 0;
                        for (int dy = first[py][ty]; dy <= last[py][ty]; dy++)
                            for (int dx = first[px][tx]; dx <= last[px][tx]; dx++)
                                sum += row[(size_t)ci * 9 + dy * 3 + dx];
                        data[(((size_t)phase * c + co) * c + ci) * 4 + ty * 2 + tx] = (float)sum;
                    }
        }
    }
    free(row);
    level->phase_data = data;
    level->phase_weight = (df_weight){DF_DTYPE_F32, 4, {4 * (int64_t)c, c, 2, 2}, data};
    level->phase_bias = (df_weight){DF_DTYPE_F32, 1, {4 * (int64_t)c}, data + taps};
    return 1;
}

static void load_decoder(vae_loader *ld, const df_vae_config *cfg, vae_coder *d)
{
    const int levels = cfg->block_count, top = cfg->block_out_channels[levels - 1];
    char name[128];
    d->present = 1;
    need_quant(ld, &d->quant, "post_quant_conv", "use_post_quant_conv", cfg->latent_channels);
    d->conv_in = need_conv(ld, "decoder.conv_in", top, cfg->latent_channels, 3);
    need_mid(ld, &d->mid, "decoder", top);
    int c_prev = top;
    for (int i = 0; i < levels; i++) {
        vae_level *level = &d->levels[i];
        const int c = cfg->block_out_channels[levels - 1 - i];
        level->resnet_count = cfg->layers_per_block + 1;
        for (int r = 0; r < level->resnet_count; r++) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.%d", i, r);
            need_resnet(ld, &level->resnets[r], name, r ? c : c_prev, c);
        }
        if (i + 1 < levels) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            level->sampler = need_conv(ld, name, c, c, 3);
            /* the phase conv only pays without Winograd (see upsample_conv) */
            if (!ld->status && !df_conv_winograd_enabled() && !phase_weights(level, c))
                ld->status = df_error_set(ld->error, DF_ERR_NO_MEMORY,
                                          "out of memory loading the VAE");
        }
        c_prev = c;
    }
    d->norm_out = need_norm(ld, "decoder.conv_norm_out", cfg->block_out_channels[0]);
    d->conv_out = need_conv(ld, "decoder.conv_out", cfg->in_channels, cfg->block_out_channels[0], 3);
}

static void load_encoder(vae_loader *ld, const df_vae_config *cfg, vae_coder *e)
{
    const int levels = cfg->block_count, top = cfg->block_out_channels[levels - 1];
    char name[128];
    e->present = 1;
    e->conv_in = need_conv(ld, "encoder.conv_in", cfg->block_out_channels[0], cfg->in_channels, 3);
    int c_prev = cfg->block_out_channels[0];
    for (int i = 0; i < levels; i++) {
        vae_level *level = &e->levels[i];
        const int c = cfg->block_out_channels[i];
        level->resnet_count = cfg->layers_per_block;
        for (int r = 0; r < level->resnet_count; r++) {
            snprintf(name, sizeof name, "encoder.down_blocks.%d.resnets.%d", i, r);
            need_resnet(ld, &level->resnets[r], name, r ? c : c_prev, c);
        }
        if (i + 1 < levels) {
            snprintf(name, sizeof name, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            level->sampler = need_conv(ld, name, c, c, 3);
        }
        c_prev = c;
    }
    need_mid(ld, &e->mid, "encoder", top);
    e->norm_out = need_norm(ld, "encoder.conv_norm_out", top);
    e->conv_out = need_conv(ld, "encoder.conv_out", 2 * cfg->latent_channels, top, 3);
    need_quant(ld, &e->quant, "quant_conv", "use_quant_conv", 2 * cfg->latent_channels);
}

static df_status read_config(const df_checkpoint *checkpoint, df_vae_config *cfg, df_error *error)
{
    const df_component vae = DF_COMPONENT_VAE;
    const char *path = df_checkpoint_path(checkpoint);
    cfg->in_channels = (int)df_checkpoint_config_int(checkpoint, vae, "in_channels", 3);
    int out_channels = (int)df_checkpoint_config_int(checkpoint, vae, "out_channels", 3);
    cfg->latent_channels = (int)df_checkpoint_config_int(checkpoint, vae, "latent_channels", 4);
    cfg->layers_per_block = (int)df_checkpoint_config_int(checkpoint, vae, "layers_per_block", 2);
    cfg->norm_groups = (int)df_checkpoint_config_int(checkpoint, vae, "norm_num_groups", 32);
    cfg->scaling_factor =
        (float)df_checkpoint_config_float(checkpoint, vae, "scaling_factor", 0.18215);
    int64_t channels[VAE_MAX_LEVELS];
    int count = 0;
    if (df_checkpoint_config_ints(checkpoint, vae, "block_out_channels", channels, VAE_MAX_LEVELS,
                                  &count) != DF_OK || count < 1)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: VAE config has no usable block_out_channels (1..%d levels)", path,
                            VAE_MAX_LEVELS);
    cfg->block_count = count;
    for (int i = 0; i < count; i++) {
        if (channels[i] <= 0 || channels[i] > 8192 || channels[i] % cfg->norm_groups)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: VAE block_out_channels[%d] = %lld is not a positive multiple "
                                "of norm_num_groups %d",
                                path, i, (long long)channels[i], cfg->norm_groups);
        cfg->block_out_channels[i] = (int)channels[i];
    }
    cfg->downscale = 1 << (count - 1);
    const char *act = df_checkpoint_config_string(checkpoint, vae, "act_fn", "silu");
    if (strcmp(act, "silu") && strcmp(act, "swish"))
        return df_error_set(error, DF_ERR_UNSUPPORTED, "%s: VAE act_fn '%s' is not supported (silu)",
                            path, act);
    if (cfg->in_channels <= 0 || cfg->in_channels > 64 || out_channels != cfg->in_channels ||
        cfg->latent_channels <= 0 || cfg->latent_channels > 1024 || cfg->layers_per_block < 1 ||
        cfg->layers_per_block > VAE_MAX_LAYERS || cfg->norm_groups <= 0 ||
        !(cfg->scaling_factor > 0) || !isfinite(cfg->scaling_factor))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: VAE config is inconsistent (in_channels %d, out_channels %d, "
                            "latent_channels %d, layers_per_block %d, norm_num_groups %d, "
                            "scaling_factor %g)",
                            path, cfg->in_channels, out_channels, cfg->latent_channels,
                            cfg->layers_per_block, cfg->norm_groups, cfg->scaling_factor);
    return DF_OK;
}

df_status df_vae_load(const df_checkpoint *checkpoint, df_pool *pool, df_vae **out,
                      df_error *error)
{
    *out = NULL;
    if (!df_checkpoint_has(checkpoint, DF_COMPONENT_VAE))
        return df_error_set(error, DF_ERR_FORMAT, "%s: the checkpoint has no VAE",
                            df_checkpoint_path(checkpoint));
    df_vae *vae = calloc(1, sizeof *vae);
    if (!vae)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the VAE");
    vae->pool = pool;
    vae->path = df_checkpoint_path(checkpoint);
    df_status status = read_config(checkpoint, &vae->config, error);
    if (status) {
        free(vae);
        return status;
    }
    /* Each half is there when its conv_in is; a VAE needs at least one. */
    vae_loader ld = {checkpoint, error, DF_OK};
    int has_decoder = df_checkpoint_weight(checkpoint, DF_COMPONENT_VAE, "decoder.conv_in.weight") != NULL;
    int has_encoder = df_checkpoint_weight(checkpoint, DF_COMPONENT_VAE, "encoder.conv_in.weight") != NULL;
    if (has_decoder || !has_encoder)
        load_decoder(&ld, &vae->config, &vae->decoder); /* names decoder.conv_in when neither */
    if (has_encoder)
        load_encoder(&ld, &vae->config, &vae->encoder);
    if (ld.status) {
        df_vae_free(vae);
        return ld.status; /* the message names the file, "vae" and the tensor */
    }
    const char *profile = getenv("DIFFUSE_VAE_PROFILE");
    if (profile && *profile && strcmp(profile, "0")) {
        vae->profile = calloc(1, sizeof *vae->profile); /* NULL: no profile, no harm */
        if (vae->profile)
            vae->profile->cpu = strcmp(profile, "cpu") == 0;
    }
    *out = vae;
    return DF_OK;
}

void df_vae_free(df_vae *vae)
{
    if (!vae)
        return;
    for (int i = 0; i < VAE_MAX_LEVELS; i++)
        free(vae->decoder.levels[i].phase_data);
    df_arena_release(&vae->arena);
    free(vae->profile);
    free(vae);
}

const df_vae_config *df_vae_get_config(const df_vae *vae)
{
    return &vae->config;
}

df_status df_vae_check_latent_channels(const df_vae *vae, int expected, df_error *error)
{
    if (vae->config.latent_channels != expected)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: the VAE has %d latent channels but the UNet works on %d: this "
                            "VAE does not belong to this model",
                            vae->path, vae->config.latent_channels, expected);
    return DF_OK;
}

df_status df_vae_set_tiling(df_vae *vae, int tile, int overlap, df_error *error)
{
    if (tile <= 0) {
        vae->tile = vae->overlap = 0;
        return DF_OK;
    }
    if (tile > VAE_MAX_SIDE / vae->config.downscale || overlap < 0 || overlap >= tile)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "VAE tiling: tile %d with overlap %d is out of range (tile 1..%d "
                            "latent pixels, overlap 0..tile-1)",
                            tile, overlap, VAE_MAX_SIDE / vae->config.downscale);
    vae->tile = tile;
    vae->overlap = overlap;
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Blocks                                                                    */

static double now_seconds_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_seconds(const df_vae *vae)
{
    return now_seconds_of(vae->profile && vae->profile->cpu ? CLOCK_PROCESS_CPUTIME_ID
                                                            : CLOCK_MONOTONIC);
}

/* Runs `call`, charging its time to `kind` of the current stage when profiling. */
#define TIMED(vae, kind, call)                                                     \
    do {                                                                           \
        vae_profile *prof_ = (vae)->profile;                                       \
        if (prof_) {                                                               \
            double start_ = now_seconds(vae);                                      \
            call;                                                                  \
            prof_->seconds[prof_->stage][kind] += now_seconds(vae) - start_;       \
        } else {                                                                   \
            call;                                                                  \
        }                                                                          \
    } while (0)

static void profile_stage(const df_vae *vae, int stage, const char *label, int h, int w, int c)
{
    if (!vae->profile)
        return;
    vae->profile->stage = stage;
    snprintf(vae->profile->label[stage], sizeof vae->profile->label[stage], "%s %dx%dx%d", label,
             h, w, c);
}

static void profile_print(const df_vae *vae, double total)
{
    static const char *const names[VAE_PROF_KINDS] = {"conv3x3", "upsample", "linear",
                                                      "attention", "norm", "element"};
    vae_profile *prof = vae->profile;
    if (!prof)
        return;
    double column[VAE_PROF_KINDS] = {0}, accounted = 0;
    fprintf(stderr, "vae profile (%s time): %.3f s\n  %-22s", prof->cpu ? "CPU" : "wall", total,
            "stage");
    for (int k = 0; k < VAE_PROF_KINDS; k++)
        fprintf(stderr, " %9s", names[k]);
    fprintf(stderr, " %9s\n", "sum");
    for (int s = 0; s < VAE_PROF_STAGES; s++) {
        double row = 0;
        for (int k = 0; k < VAE_PROF_KINDS; k++)
            row += prof->seconds[s][k];
        if (!prof->label[s][0])
            continue;
        fprintf(stderr, "  %-22s", prof->label[s]);
        for (int k = 0; k < VAE_PROF_KINDS; k++) {
            fprintf(stderr, " %9.3f", prof->seconds[s][k]);
            column[k] += prof->seconds[s][k];
            prof->seconds[s][k] = 0;
        }
        fprintf(stderr, " %9.3f\n", row);
        accounted += row;
        prof->label[s][0] = 0;
    }
    fprintf(stderr, "  %-22s", "total");
    for (int k = 0; k < VAE_PROF_KINDS; k++)
        fprintf(stderr, " %9.3f", column[k]);
    fprintf(stderr, " %9.3f  (other %.3f)\n", accounted, total - accounted);
    prof->stage = 0;
}

static void relayout_nchw_to_nhwc(const float *x, int c, int64_t hw, float *y)
{
    for (int64_t p = 0; p < hw; p++)
        for (int ch = 0; ch < c; ch++)
            y[p * c + ch] = x[(int64_t)ch * hw + p];
}

static void conv(const df_vae *vae, const vae_conv *cv, const float *x, int h, int w, int c_in,
                 int stride, int padding, float *y)
{
    TIMED(vae, VAE_PROF_CONV3,
          df_conv2d(vae->pool, x, 1, h, w, c_in, cv->weight, cv->bias, stride, padding, y));
}

/* The two buffers of `work` that are not `x`. */
static void free_pair(const vae_work *work, const float *x, float **a, float **b)
{
    int n = 0;
    float *found[3];
    for (int i = 0; i < 3; i++)
        if (work->buffer[i] != x)
            found[n++] = work->buffer[i];
    *a = found[0];
    *b = found[1];
}

/* diffusers' ResnetBlock2D without time embedding:
 *   out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))), scale 1.
 * Returns the buffer holding the result (x itself when there is no shortcut). */
static float *resnet(const df_vae *vae, const vae_resnet *r, vae_work *work, float *x, int h,
                     int w)
{
    const int groups = vae->config.norm_groups;
    const int64_t hw = (int64_t)h * w;
    float *t1, *t2;
    free_pair(work, x, &t1, &t2);
    TIMED(vae, VAE_PROF_NORM,
          df_group_norm(vae->pool, x, 1, hw, r->c_in, groups, r->norm1.gamma, r->norm1.beta,
                        VAE_EPS, 1, t1));
    conv(vae, &r->conv1, t1, h, w, r->c_in, 1, 1, t2);
    TIMED(vae, VAE_PROF_NORM,
          df_group_norm(vae->pool, t2, 1, hw, r->c_out, groups, r->norm2.gamma, r->norm2.beta,
                        VAE_EPS, 1, t2));
    conv(vae, &r->conv2, t2, h, w, r->c_out, 1, 1, t1);
    if (!r->shortcut.weight) {
        TIMED(vae, VAE_PROF_ELEMENT, df_add(vae->pool, x, t1, x, hw * r->c_out));
        return x;
    }
    TIMED(vae, VAE_PROF_LINEAR,
          df_linear(vae->pool, x, hw, r->c_in, r->shortcut.weight, r->shortcut.bias, t2));
    TIMED(vae, VAE_PROF_ELEMENT, df_add(vae->pool, t1, t2, t1, hw * r->c_out));
    return t1;
}

/* diffusers' Attention as the VAE builds it: GroupNorm, one head over all
 * pixels (head_dim = channels), output projection, residual, rescale 1.
 * In place on x. */
static void attention(const df_vae *vae, const vae_attention *a, vae_work *work, float *x, int h,
                      int w)
{
    const int c = a->channels;
    const int64_t hw = (int64_t)h * w;
    float *t1, *t2;
    free_pair(work, x, &t1, &t2);
    TIMED(vae, VAE_PROF_NORM,
          df_group_norm(vae->pool, x, 1, hw, c, vae->config.norm_groups, a->norm.gamma,
                        a->norm.beta, VAE_EPS, 0, t1));
    TIMED(vae, VAE_PROF_LINEAR, {
        df_linear(vae->pool, t1, hw, c, a->q_weight, a->q_bias, work->q);
        df_linear(vae->pool, t1, hw, c, a->k_weight, a->k_bias, work->k);
        df_linear(vae->pool, t1, hw, c, a->v_weight, a->v_bias, work->v);
    });
    TIMED(vae, VAE_PROF_ATTENTION,
          df_attention(vae->pool, work->q, work->k, work->v, work->o, 1, 1, hw, hw, c, c, c, c, 0,
                       1.0f / sqrtf((float)c)));
    TIMED(vae, VAE_PROF_LINEAR,
          df_linear(vae->pool, work->o, hw, c, a->out_weight, a->out_bias, t2));
    TIMED(vae, VAE_PROF_ELEMENT, df_add(vae->pool, x, t2, x, hw * c));
}

static float *mid_block(const df_vae *vae, const vae_mid *mid, vae_work *work, float *x, int h,
                        int w)
{
    x = resnet(vae, &mid->first, work, x, h, w);
    attention(vae, &mid->attention, work, x, h, w);
    return resnet(vae, &mid->second, work, x, h, w);
}

/* ------------------------------------------------------------------------ */
/* Planning: the largest activation of a pass, in floats                     */

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static size_t decoder_elements(const df_vae_config *cfg, int h, int w)
{
    /* h and w follow the resolution; pixels = h * w */
    const int levels = cfg->block_count;
    size_t pixels = (size_t)h * w;
    size_t most = pixels * (size_t)max_size((size_t)cfg->latent_channels,
                                            (size_t)cfg->block_out_channels[levels - 1]);
    int c_prev = cfg->block_out_channels[levels - 1];
    for (int i = 0; i < levels; i++) {
        int c = cfg->block_out_channels[levels - 1 - i];
        most = max_size(most, pixels * (size_t)max_size((size_t)c, (size_t)c_prev));
        if (i + 1 < levels) { /* the phase conv's output, then the upsampled activation */
            most = max_size(most, (size_t)(h + 1) * (size_t)(w + 1) * 4 * (size_t)c);
            h *= 2;
            w *= 2;
            pixels *= 4;
        }
        most = max_size(most, pixels * (size_t)c);
        c_prev = c;
    }
    return max_size(most, pixels * (size_t)cfg->in_channels);
}

static size_t encoder_elements(const df_vae_config *cfg, int h, int w)
{
    const int levels = cfg->block_count;
    size_t most = (size_t)h * w * (size_t)cfg->in_channels;
    int c_prev = cfg->block_out_channels[0];
    for (int i = 0; i < levels; i++) {
        int c = cfg->block_out_channels[i];
        most = max_size(most, (size_t)h * w * (size_t)max_size((size_t)c, (size_t)c_prev));
        if (i + 1 < levels) {
            most = max_size(most, (size_t)(h + 1) * (size_t)(w + 1) * (size_t)c); /* padded */
            h /= 2;
            w /= 2;
        }
        c_prev = c;
    }
    return max_size(most, (size_t)h * w * 2 * (size_t)cfg->latent_channels);
}

/* The arena bytes plan_work reserves. */
static size_t work_bytes(size_t elements, size_t attention_elements, int extra_count,
                         const size_t *extra)
{
    size_t bytes = 3 * df_arena_footprint(elements * sizeof(float)) +
                   4 * df_arena_footprint(attention_elements * sizeof(float));
    for (int i = 0; i < extra_count; i++)
        bytes += df_arena_footprint(extra[i] * sizeof(float));
    return bytes;
}

/* Carves the work buffers (and `extra_count` more of the given sizes) out of
 * the arena, reserving it first. */
static df_status plan_work(df_vae *vae, size_t elements, size_t attention_elements,
                           int extra_count, const size_t *extra, float **extra_out,
                           vae_work *work, df_error *error)
{
    size_t bytes = work_bytes(elements, attention_elements, extra_count, extra);
    df_status status = df_arena_reserve(&vae->arena, bytes, error);
    if (status)
        return status;
    df_arena_reset(&vae->arena);
    work->elements = elements;
    for (int i = 0; i < 3; i++)
        work->buffer[i] = df_arena_floats(&vae->arena, elements);
    work->q = df_arena_floats(&vae->arena, attention_elements);
    work->k = df_arena_floats(&vae->arena, attention_elements);
    work->v = df_arena_floats(&vae->arena, attention_elements);
    work->o = df_arena_floats(&vae->arena, attention_elements);
    int ok = work->buffer[0] && work->buffer[1] && work->buffer[2] && work->q && work->k &&
             work->v && work->o;
    for (int i = 0; i < extra_count; i++)
        ok &= (extra_out[i] = df_arena_floats(&vae->arena, extra[i])) != NULL;
    if (!ok)
        return df_error_set(error, DF_ERR_INTERNAL, "VAE: scratch plan too small");
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */

typedef struct phase_job {
    const float *phases; /* [(h+1), (w+1), 4c] */
    float *y;            /* [2h, 2w, c] */
    int w, c;
} phase_job;

static void phase_task(void *context, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const phase_job *job = context;
    const int w = job->w, c = job->c;
    for (int64_t row = begin; row < end; row++) {
        const int64_t y = row / 2, py = row % 2;
        for (int X = 0; X < 2 * w; X++) {
            const int x = X / 2, px = X % 2;
            memcpy(job->y + (row * 2 * w + X) * c,
                   job->phases + ((y + py) * (w + 1) + x + px) * 4 * c + (py * 2 + px) * c,
                   (size_t)c * sizeof(float));
        }
    }
}

/* diffusers' Upsample2D: nearest 2x then the 3x3 conv. With Winograd the
 * 3x3 conv of the upsampled image is cheaper (36 multiply-adds per 16
 * outputs and channel pair) than the phase conv (16 per 4), so the phase
 * weights are made at load only when Winograd is off; without them:
 * upsample into `scratch` and convolve. Otherwise the phase conv of
 * phase_weights into `scratch`, then interleaved into y. `scratch` holds
 * (h+1) x (w+1) x 4c. */
static void upsample_conv(const df_vae *vae, const vae_level *level, const float *x, int h, int w,
                          int c, float *scratch, float *y)
{
    if (!level->phase_data) {
        TIMED(vae, VAE_PROF_UPSAMPLE, df_upsample_nearest2x(vae->pool, x, 1, h, w, c, scratch);
              df_conv2d(vae->pool, scratch, 1, 2 * h, 2 * w, c, level->sampler.weight,
                        level->sampler.bias, 1, 1, y));
        return;
    }
    TIMED(vae, VAE_PROF_UPSAMPLE,
          df_conv2d(vae->pool, x, 1, h, w, c, &level->phase_weight, &level->phase_bias, 1, 1,
                    scratch));
    phase_job job = {scratch, y, w, c};
    TIMED(vae, VAE_PROF_ELEMENT, df_pool_for(vae->pool, 2 * (int64_t)h, 8, phase_task, &job));
}

/* One latent [h, w, latent_channels] NHWC in work->buffer[0] → the image
 * [h*ds, w*ds, in_channels] NHWC; returns the buffer holding it, or NULL
 * when the pool's stop function fired (checked between blocks: kernels skip
 * their work once it fires, so what they left must not be used). */
static float *decode_one(const df_vae *vae, vae_work *work, int h, int w)
{
    const df_vae_config *cfg = &vae->config;
    const vae_coder *d = &vae->decoder;
    const int levels = cfg->block_count, latent = cfg->latent_channels;
    float *x = work->buffer[0], *a, *b;
    free_pair(work, x, &a, &b);
    profile_stage(vae, 0, "mid", h, w, cfg->block_out_channels[levels - 1]);
    if (d->quant.weight) {
        TIMED(vae, VAE_PROF_LINEAR,
              df_linear(vae->pool, x, (int64_t)h * w, latent, d->quant.weight, d->quant.bias, a));
        x = a;
        free_pair(work, x, &a, &b);
    }
    conv(vae, &d->conv_in, x, h, w, latent, 1, 1, a);
    x = mid_block(vae, &d->mid, work, a, h, w);
    if (df_pool_stopped(vae->pool))
        return NULL;
    for (int i = 0; i < levels; i++) {
        const vae_level *level = &d->levels[i];
        char label[16];
        snprintf(label, sizeof label, "up%d", i);
        profile_stage(vae, 1 + i, label, h, w, cfg->block_out_channels[levels - 1 - i]);
        for (int r = 0; r < level->resnet_count; r++) {
            x = resnet(vae, &level->resnets[r], work, x, h, w);
            if (df_pool_stopped(vae->pool))
                return NULL;
        }
        if (level->sampler.weight) {
            const int c = level->resnets[level->resnet_count - 1].c_out;
            free_pair(work, x, &a, &b);
            upsample_conv(vae, level, x, h, w, c, a, b);
            h *= 2;
            w *= 2;
            x = b;
        }
    }
    free_pair(work, x, &a, &b);
    const int c0 = cfg->block_out_channels[0];
    profile_stage(vae, 1 + levels, "out", h, w, c0);
    TIMED(vae, VAE_PROF_NORM,
          df_group_norm(vae->pool, x, 1, (int64_t)h * w, c0, cfg->norm_groups, d->norm_out.gamma,
                        d->norm_out.beta, VAE_EPS, 1, x));
    conv(vae, &d->conv_out, x, h, w, c0, 1, 1, a);
    return df_pool_stopped(vae->pool) ? NULL : a;
}

static df_status check_decode_args(const df_vae *vae, const float *latents, int batch, int height,
                                   int width, const float *image, df_error *error)
{
    const int ds = vae->config.downscale;
    if (!vae->decoder.present)
        return df_error_set(error, DF_ERR_UNSUPPORTED, "%s: this VAE has no decoder", vae->path);
    if (!latents || !image || batch <= 0 || height <= 0 || width <= 0 ||
        height > VAE_MAX_SIDE / ds || width > VAE_MAX_SIDE / ds)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "VAE decode: batch %d of %dx%d latents is out of range (1..%d per "
                            "side)",
                            batch, height, width, VAE_MAX_SIDE / ds);
    return DF_OK;
}

/* Tiled decode of one latent [c, h, w] (NCHW) into image [3, H, W], as
 * diffusers' AutoencoderKL.tiled_decode: tiles of `tile` latent pixels every
 * `stride` = tile - overlap; each decoded tile is blended with the tile above
 * (its last rows, linear in y) and then with the tile to its left (its last
 * columns, linear in x), both already blended, in place as diffusers does;
 * then cropped to its first stride*ds rows and columns. Only what later
 * tiles blend with is kept: the bottom `blend` rows of the previous row of
 * tiles and the right `blend` columns of the previous tile. */
/* The tile planar [oc][tile_px][tile_px], the seams above (one per column)
 * and the one to the left, in floats. */
static void tiled_extra(const df_vae *vae, int w, size_t extra[3])
{
    const int ds = vae->config.downscale, oc = vae->config.in_channels;
    const int tile = vae->tile, stride = tile - vae->overlap;
    const int tile_px = tile * ds, blend = vae->overlap * ds;
    const int columns = (w + stride - 1) / stride;
    extra[0] = (size_t)oc * tile_px * tile_px;
    extra[1] = (size_t)columns * oc * (size_t)(blend ? blend : 1) * tile_px;
    extra[2] = (size_t)oc * tile_px * (size_t)(blend ? blend : 1);
}

static df_status decode_tiled(df_vae *vae, const float *latent, int h, int w, float *image,
                              df_error *error)
{
    const df_vae_config *cfg = &vae->config;
    const int ds = cfg->downscale, oc = cfg->in_channels, lc = cfg->latent_channels;
    const int tile = vae->tile, stride = tile - vae->overlap;
    const int tile_px = tile * ds, blend = vae->overlap * ds, limit = stride * ds;
    const int64_t out_h = (int64_t)h * ds, out_w = (int64_t)w * ds;

    size_t extra[3];
    tiled_extra(vae, w, extra);
    float *ptr[3];
    vae_work work;
    const int top = cfg->block_out_channels[cfg->block_count - 1];
    df_status status = plan_work(vae, decoder_elements(cfg, tile, tile),
                                 (size_t)tile * tile * top, 3, extra, ptr, &work, error);
    if (status)
        return status;
    float *planar = ptr[0], *above = ptr[1], *left = ptr[2];
    const size_t above_stride = (size_t)oc * (size_t)(blend ? blend : 1) * tile_px;

    for (int y0 = 0, row = 0; y0 < h; y0 += stride, row++) {
        const int th = h - y0 < tile ? h - y0 : tile, TH = th * ds;
        /* Height of the tiles of the previous row (all equal in a row). */
        const int prev_th = row ? (h - (y0 - stride) < tile ? h - (y0 - stride) : tile) : 0;
        const int PH = prev_th * ds, above_rows = PH < blend ? PH : blend;
        int LW = 0, left_cols = 0;
        for (int x0 = 0, col = 0; x0 < w; x0 += stride, col++) {
            const int tw = w - x0 < tile ? w - x0 : tile, TW = tw * ds;
            for (int ch = 0; ch < lc; ch++)
                for (int y = 0; y < th; y++)
                    for (int x = 0; x < tw; x++)
                        work.buffer[0][((int64_t)y * tw + x) * lc + ch] =
                            latent[((int64_t)ch * h + y0 + y) * w + x0 + x];
            const float *out = decode_one(vae, &work, th, tw);
            if (!out)
                return df_error_set(error, DF_ERR_CANCELLED, "VAE decode: cancelled");
            for (int64_t p = 0; p < (int64_t)TH * TW; p++)
                for (int ch = 0; ch < oc; ch++)
                    planar[(int64_t)ch * TH * TW + p] = out[p * oc + ch];

            float *seam = above + (size_t)col * above_stride;
            if (row) { /* blend_v with the (blended) tile above */
                const int ext = PH < TH ? (PH < blend ? PH : blend) : (TH < blend ? TH : blend);
                for (int ch = 0; ch < oc; ch++)
                    for (int y = 0; y < ext; y++) {
                        const float wb = (float)((double)y / ext), wa = (float)(1.0 - (double)y / ext);
                        const float *a = seam + ((size_t)ch * above_rows + above_rows - ext + y) * TW;
                        float *b = planar + ((int64_t)ch * TH + y) * TW;
                        for (int x = 0; x < TW; x++)
                            b[x] = a[x] * wa + b[x] * wb;
                    }
            }
            if (col) { /* blend_h with the (blended) tile to the left */
                const int ext = LW < TW ? (LW < blend ? LW : blend) : (TW < blend ? TW : blend);
                for (int ch = 0; ch < oc; ch++)
                    for (int y = 0; y < TH; y++) {
                        const float *a = left + ((size_t)ch * TH + y) * left_cols + left_cols - ext;
                        float *b = planar + ((int64_t)ch * TH + y) * TW;
                        for (int x = 0; x < ext; x++) {
                            const float wb = (float)((double)x / ext),
                                        wa = (float)(1.0 - (double)x / ext);
                            b[x] = a[x] * wa + b[x] * wb;
                        }
                    }
            }
            /* Remember what the next tiles blend with. */
            const int keep_rows = TH < blend ? TH : blend, keep_cols = TW < blend ? TW : blend;
            for (int ch = 0; ch < oc; ch++) {
                memcpy(seam + (size_t)ch * keep_rows * TW,
                       planar + ((int64_t)ch * TH + TH - keep_rows) * TW,
                       (size_t)keep_rows * TW * sizeof(float));
                for (int y = 0; y < TH; y++)
                    memcpy(left + ((size_t)ch * TH + y) * keep_cols,
                           planar + ((int64_t)ch * TH + y) * TW + TW - keep_cols,
                           (size_t)keep_cols * sizeof(float));
            }
            LW = TW;
            left_cols = keep_cols;
            /* Crop and place: tile (row, col) lands at (y0*ds, x0*ds). */
            const int crop_h = TH < limit ? TH : limit, crop_w = TW < limit ? TW : limit;
            for (int ch = 0; ch < oc; ch++)
                for (int y = 0; y < crop_h; y++)
                    memcpy(image + ((int64_t)ch * out_h + (int64_t)y0 * ds + y) * out_w +
                               (int64_t)x0 * ds,
                           planar + ((int64_t)ch * TH + y) * TW, (size_t)crop_w * sizeof(float));
        }
    }
    return DF_OK;
}

size_t df_vae_decode_scratch_bytes(const df_vae *vae, int height, int width)
{
    const df_vae_config *cfg = &vae->config;
    const int top = cfg->block_out_channels[cfg->block_count - 1];
    if (vae->tile > 0 && (height > vae->tile || width > vae->tile)) {
        size_t extra[3];
        tiled_extra(vae, width, extra);
        return work_bytes(decoder_elements(cfg, vae->tile, vae->tile),
                          (size_t)vae->tile * vae->tile * top, 3, extra);
    }
    return work_bytes(decoder_elements(cfg, height, width), (size_t)height * width * top, 0, NULL);
}

size_t df_vae_decode_workspace_bytes(const df_vae *vae, int height, int width)
{
    const df_vae_config *cfg = &vae->config;
    const int levels = cfg->block_count;
    if (vae->tile > 0 && (height > vae->tile || width > vae->tile))
        height = width = vae->tile;
    /* level i works at (h, w) << i with its channels and the level below's */
    size_t most = 0;
    int c_prev = cfg->block_out_channels[levels - 1];
    for (int i = 0; i < levels; i++) {
        int c = cfg->block_out_channels[levels - 1 - i];
        int widest = c > c_prev ? c : c_prev;
        most = max_size(most, df_conv2d_winograd_workspace_bound(1, height << i, width << i, widest,
                                                                 widest, df_pool_size(vae->pool)));
        c_prev = c;
    }
    return most;
}

size_t df_vae_encode_workspace_bytes(const df_vae *vae, int height, int width)
{
    const df_vae_config *cfg = &vae->config;
    size_t most = 0;
    int c_prev = cfg->block_out_channels[0];
    for (int i = 0; i < cfg->block_count; i++) {
        int c = cfg->block_out_channels[i];
        int widest = c > c_prev ? c : c_prev;
        most = max_size(most, df_conv2d_winograd_workspace_bound(1, height >> i, width >> i, widest,
                                                                 widest, df_pool_size(vae->pool)));
        c_prev = c;
    }
    return most;
}

size_t df_vae_encode_scratch_bytes(const df_vae *vae, int height, int width)
{
    const df_vae_config *cfg = &vae->config;
    const int top = cfg->block_out_channels[cfg->block_count - 1], ds = cfg->downscale;
    return work_bytes(encoder_elements(cfg, height, width),
                      (size_t)(height / ds) * (size_t)(width / ds) * top, 0, NULL);
}

size_t df_vae_reserved_bytes(const df_vae *vae)
{
    return vae->arena.capacity;
}

df_status df_vae_decode(df_vae *vae, const float *latents, int batch, int height, int width,
                        float *image, df_error *error)
{
    df_status status = check_decode_args(vae, latents, batch, height, width, image, error);
    if (status)
        return status;
    const df_vae_config *cfg = &vae->config;
    const int ds = cfg->downscale, oc = cfg->in_channels, lc = cfg->latent_channels;
    const int64_t latent_size = (int64_t)lc * height * width;
    const int64_t image_hw = (int64_t)height * ds * width * ds;
    /* As diffusers: tiles only when the latent exceeds one tile. */
    if (vae->tile > 0 && (height > vae->tile || width > vae->tile)) {
        const double start = vae->profile ? now_seconds(vae) : 0;
        for (int n = 0; n < batch && !status; n++)
            status = decode_tiled(vae, latents + n * latent_size, height, width,
                                  image + n * image_hw * oc, error);
        if (vae->profile) /* stages summed over the tiles */
            profile_print(vae, now_seconds(vae) - start);
        return status;
    }
    vae_work work;
    const int top = cfg->block_out_channels[cfg->block_count - 1];
    status = plan_work(vae, decoder_elements(cfg, height, width), (size_t)height * width * top, 0,
                       NULL, NULL, &work, error);
    if (status)
        return status;
    const double start = vae->profile ? now_seconds(vae) : 0;
    for (int n = 0; n < batch; n++) {
        relayout_nchw_to_nhwc(latents + n * latent_size, lc, (int64_t)height * width,
                              work.buffer[0]);
        const float *out = decode_one(vae, &work, height, width);
        if (!out)
            return df_error_set(error, DF_ERR_CANCELLED, "VAE decode: cancelled");
        float *target = image + n * image_hw * oc;
        for (int64_t p = 0; p < image_hw; p++)
            for (int ch = 0; ch < oc; ch++)
                target[(int64_t)ch * image_hw + p] = out[p * oc + ch];
    }
    if (vae->profile)
        profile_print(vae, now_seconds(vae) - start);
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                   */

/* diffusers' Downsample2D in the VAE: pad (0, 1, 0, 1) with zeros, then a
 * 3x3 stride-2 conv without padding. The kernel pads symmetrically, so the
 * input is copied into a zero-bordered [h+1, w+1] scratch first. */
static void downsample(const df_vae *vae, const vae_conv *cv, const float *x, int h, int w, int c,
                       float *padded, float *y)
{
    const int pw = w + 1;
    for (int row = 0; row < h; row++) {
        memcpy(padded + (int64_t)row * pw * c, x + (int64_t)row * w * c, (size_t)w * c * sizeof(float));
        memset(padded + ((int64_t)row * pw + w) * c, 0, (size_t)c * sizeof(float));
    }
    memset(padded + (int64_t)h * pw * c, 0, (size_t)pw * c * sizeof(float));
    conv(vae, cv, padded, h + 1, pw, c, 2, 0, y);
}

df_status df_vae_encode(df_vae *vae, const float *image, int batch, int height, int width,
                        float *mean, float *logvar, df_error *error)
{
    const df_vae_config *cfg = &vae->config;
    const vae_coder *e = &vae->encoder;
    const int ds = cfg->downscale, ic = cfg->in_channels, lc = cfg->latent_channels;
    if (!e->present)
        return df_error_set(error, DF_ERR_UNSUPPORTED, "%s: this VAE has no encoder", vae->path);
    if (!image || !mean || !logvar || batch <= 0 || height <= 0 || width <= 0 ||
        height > VAE_MAX_SIDE || width > VAE_MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "VAE encode: batch %d of %dx%d images is out of range (1..%d per side)",
                            batch, height, width, VAE_MAX_SIDE);
    if (height % ds || width % ds)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "VAE encode: image size %dx%d is not a multiple of %d", width, height,
                            ds);
    const int lh = height / ds, lw = width / ds;
    const int top = cfg->block_out_channels[cfg->block_count - 1];
    vae_work work;
    df_status status = plan_work(vae, encoder_elements(cfg, height, width),
                                 (size_t)lh * lw * top, 0, NULL, NULL, &work, error);
    if (status)
        return status;
    const int64_t image_hw = (int64_t)height * width, latent_hw = (int64_t)lh * lw;
    const double start = vae->profile ? now_seconds(vae) : 0;
    profile_stage(vae, 0, "encode", height, width, ic);
    for (int n = 0; n < batch; n++) {
        int h = height, w = width;
        float *x = work.buffer[0], *a, *b;
        relayout_nchw_to_nhwc(image + n * image_hw * ic, ic, image_hw, x);
        free_pair(&work, x, &a, &b);
        conv(vae, &e->conv_in, x, h, w, ic, 1, 1, a);
        x = a;
        for (int i = 0; i < cfg->block_count; i++) {
            const vae_level *level = &e->levels[i];
            for (int r = 0; r < level->resnet_count; r++) {
                x = resnet(vae, &level->resnets[r], &work, x, h, w);
                if (df_pool_stopped(vae->pool))
                    return df_error_set(error, DF_ERR_CANCELLED, "VAE encode: cancelled");
            }
            if (level->sampler.weight) {
                free_pair(&work, x, &a, &b);
                downsample(vae, &level->sampler, x, h, w, cfg->block_out_channels[i], a, b);
                x = b;
                h /= 2;
                w /= 2;
            }
        }
        x = mid_block(vae, &e->mid, &work, x, h, w);
        if (df_pool_stopped(vae->pool))
            return df_error_set(error, DF_ERR_CANCELLED, "VAE encode: cancelled");
        free_pair(&work, x, &a, &b);
        df_group_norm(vae->pool, x, 1, latent_hw, top, cfg->norm_groups, e->norm_out.gamma,
                      e->norm_out.beta, VAE_EPS, 1, x);
        conv(vae, &e->conv_out, x, h, w, top, 1, 1, a);
        x = a;
        if (e->quant.weight) {
            df_linear(vae->pool, a, latent_hw, 2 * lc, e->quant.weight, e->quant.bias, b);
            x = b;
        }
        if (df_pool_stopped(vae->pool))
            return df_error_set(error, DF_ERR_CANCELLED, "VAE encode: cancelled");
        /* DiagonalGaussianDistribution: the first half of the channels is the
         * mean, the second the log-variance, clamped to [-30, 20] as diffusers
         * does before anyone takes exp(logvar). */
        float *m = mean + n * lc * latent_hw, *lv = logvar + n * lc * latent_hw;
        for (int64_t p = 0; p < latent_hw; p++)
            for (int ch = 0; ch < lc; ch++) {
                m[ch * latent_hw + p] = x[p * 2 * lc + ch];
                float value = x[p * 2 * lc + lc + ch];
                lv[ch * latent_hw + p] = value < -30.0f ? -30.0f : value > 20.0f ? 20.0f : value;
            }
    }
    if (vae->profile)
        profile_print(vae, now_seconds(vae) - start);
    return DF_OK;
}
