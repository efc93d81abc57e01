/*
 * unet_internal.h — the UNet's weights and state, shared by unet.c (config,
 * loading, checks) and unet_forward.c (the scratch plan and the forward
 * pass). Private to src/models.
 */
#ifndef DF_MODELS_UNET_INTERNAL_H
#define DF_MODELS_UNET_INTERNAL_H

#include "models/unet.h"
#include "runtime/arena.h"
#include "runtime/tensor.h"

/* ResnetBlock2D: norm1+SiLU, conv1, + time_emb_proj(SiLU(temb)), norm2+SiLU,
 * conv2, + shortcut (a 1x1 conv when in != out, else the input). */
typedef struct unet_resnet {
    int in, out;
    const df_weight *norm1_weight, *norm1_bias, *conv1_weight, *conv1_bias;
    const df_weight *temb_weight, *temb_bias;
    const df_weight *norm2_weight, *norm2_bias, *conv2_weight, *conv2_bias;
    const df_weight *shortcut_weight, *shortcut_bias; /* NULL when in == out */
} unet_resnet;

/* Attention: to_q/to_k/to_v without bias, to_out.0 with. */
typedef struct unet_attention {
    const df_weight *q, *k, *v, *out_weight, *out_bias;
} unet_attention;

/* BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward,
 * each behind a LayerNorm and added back to the stream. */
typedef struct unet_block {
    const df_weight *norm1_weight, *norm1_bias, *norm2_weight, *norm2_bias;
    const df_weight *norm3_weight, *norm3_bias;
    unet_attention self_attention, cross_attention;
    const df_weight *ff_in_weight, *ff_in_bias;   /* [8c, c]: [hidden | gate] */
    const df_weight *ff_out_weight, *ff_out_bias; /* [c, 4c] */
} unet_block;

/* Transformer2DModel: GroupNorm (eps 1e-6), proj_in, blocks, proj_out, + input. */
typedef struct unet_transformer {
    int channels, heads, depth;
    const df_weight *norm_weight, *norm_bias;
    const df_weight *proj_in_weight, *proj_in_bias, *proj_out_weight, *proj_out_bias;
    unet_block *blocks; /* `depth` of them; points into the level's array */
} unet_transformer;

/* A down block, the mid block or an up block: resnets, a transformer after
 * each resnet when the block has attention (else attentions is NULL), and
 * the down/upsampler's conv (NULL for the last down / last up block). */
typedef struct unet_level {
    int resnet_count;
    unet_resnet *resnets;
    unet_transformer *attentions;
    unet_block *blocks;
    const df_weight *sample_weight, *sample_bias;
} unet_level;

/* Time accounting by kernel kind, when DIFFUSE_UNET_PROFILE is set. */
enum {
    UNET_PROF_CONV3,     /* 3x3 convs (resnets, samplers, in/out) */
    UNET_PROF_LINEAR,    /* 1x1 convs, projections, q/k/v/out, feed-forward */
    UNET_PROF_ATTENTION, /* the attention core (scores, softmax, values) */
    UNET_PROF_NORM,      /* group and layer norms */
    UNET_PROF_ELEMENT,   /* GEGLU, adds, concat, upsample, temb */
    UNET_PROF_COUNT
};

struct df_unet {
    df_unet_config config;
    df_pool *pool;
    const df_checkpoint *checkpoint;
    const df_weight *time_linear1_weight, *time_linear1_bias;
    const df_weight *time_linear2_weight, *time_linear2_bias;
    const df_weight *add_linear1_weight, *add_linear1_bias; /* SDXL, else NULL */
    const df_weight *add_linear2_weight, *add_linear2_bias;
    const df_weight *conv_in_weight, *conv_in_bias;
    unet_level down[DF_UNET_MAX_BLOCKS], mid, up[DF_UNET_MAX_BLOCKS];
    const df_weight *norm_out_weight, *norm_out_bias, *conv_out_weight, *conv_out_bias;
    df_arena arena;
    size_t planned_bytes; /* the arena holds at least this much */
    int profile;
    double profile_seconds[UNET_PROF_COUNT];
    double profile_cpu_seconds[UNET_PROF_COUNT]; /* all threads' CPU time: / wall = cores busy */
};

#endif
