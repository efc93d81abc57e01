/*
 * unet.c — diffusers' UNet2DConditionModel (SD 1.x / 2.x / SDXL):
 * configuration, weights and the scratch plan. The forward pass is in
 * unet_forward.c.
 *
 * The structure is read from the config (block types, channels, heads, ...)
 * and every weight the forward pass touches is looked up here, once, with
 * its shape checked (df_checkpoint_require), so a forward pass cannot meet a
 * missing or misshapen tensor. Configs asking for something this UNet does
 * not compute (class embeddings, added embeddings other than SDXL's
 * "text_time", dual cross attention, ...) are refused here with
 * DF_ERR_UNSUPPORTED naming the key.
 *
 * Naming follows diffusers: down_blocks.i.{resnets,attentions}.j,
 * down_blocks.i.downsamplers.0.conv, mid_block.{resnets.0,attentions.0,
 * resnets.1}, up_blocks.i.{resnets,attentions}.j, up_blocks.i.upsamplers.0.conv.
 */
#include "models/unet_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/error.h"

/* --- weights ------------------------------------------------------------- */

typedef struct loader {
    const df_checkpoint *checkpoint;
    df_error *error;
    df_status status; /* first failure; later requires are skipped */
} loader;

/* A weight of the given shape (trailing zero dims are dropped), or NULL once
 * anything has failed. */
static const df_weight *need(loader *ld, const char *name, int64_t d0, int64_t d1, int64_t d2,
                             int64_t d3)
{
    if (ld->status)
        return NULL;
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = d3 ? 4 : d2 ? 3 : d1 ? 2 : 1;
    const df_weight *weight = NULL;
    ld->status = df_checkpoint_require(ld->checkpoint, DF_COMPONENT_UNET, name, ndim, shape,
                                       &weight, ld->error);
    return weight;
}

/* need() with a printf-formatted name: prefix + suffix. */
static const df_weight *need_at(loader *ld, const char *prefix, const char *suffix, int64_t d0,
                                int64_t d1, int64_t d2, int64_t d3)
{
    char name[600];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return need(ld, name, d0, d1, d2, d3);
}

static void load_resnet(loader *ld, const char *prefix, const df_unet_config *config, int in,
                        int out, unet_resnet *r)
{
    const int temb = 4 * config->block_out_channels[0];
    r->in = in;
    r->out = out;
    r->norm1_weight = need_at(ld, prefix, "norm1.weight", in, 0, 0, 0);
    r->norm1_bias = need_at(ld, prefix, "norm1.bias", in, 0, 0, 0);
    r->conv1_weight = need_at(ld, prefix, "conv1.weight", out, in, 3, 3);
    r->conv1_bias = need_at(ld, prefix, "conv1.bias", out, 0, 0, 0);
    r->temb_weight = need_at(ld, prefix, "time_emb_proj.weight", out, temb, 0, 0);
    r->temb_bias = need_at(ld, prefix, "time_emb_proj.bias", out, 0, 0, 0);
    r->norm2_weight = need_at(ld, prefix, "norm2.weight", out, 0, 0, 0);
    r->norm2_bias = need_at(ld, prefix, "norm2.bias", out, 0, 0, 0);
    r->conv2_weight = need_at(ld, prefix, "conv2.weight", out, out, 3, 3);
    r->conv2_bias = need_at(ld, prefix, "conv2.bias", out, 0, 0, 0);
    if (in != out) { /* diffusers' use_in_shortcut: a 1x1 conv when the width changes */
        r->shortcut_weight = need_at(ld, prefix, "conv_shortcut.weight", out, in, 1, 1);
        r->shortcut_bias = need_at(ld, prefix, "conv_shortcut.bias", out, 0, 0, 0);
    }
}

static void load_attention(loader *ld, const char *prefix, int dim, int kv_dim,
                           unet_attention *a)
{
    a->q = need_at(ld, prefix, "to_q.weight", dim, dim, 0, 0);
    a->k = need_at(ld, prefix, "to_k.weight", dim, kv_dim, 0, 0);
    a->v = need_at(ld, prefix, "to_v.weight", dim, kv_dim, 0, 0);
    a->out_weight = need_at(ld, prefix, "to_out.0.weight", dim, dim, 0, 0);
    a->out_bias = need_at(ld, prefix, "to_out.0.bias", dim, 0, 0, 0);
}

static void load_transformer(loader *ld, const char *prefix, const df_unet_config *config,
                             int channels, int heads, int depth, unet_transformer *t)
{
    char name[256];
    const int c = channels, ff = 4 * channels;
    t->channels = c;
    t->heads = heads;
    t->depth = depth;
    t->norm_weight = need_at(ld, prefix, "norm.weight", c, 0, 0, 0);
    t->norm_bias = need_at(ld, prefix, "norm.bias", c, 0, 0, 0);
    /* SD 2.x: Linear projections; SD 1.x: 1x1 convs (the same product in NHWC). */
    int64_t p2 = config->use_linear_projection ? 0 : 1;
    t->proj_in_weight = need_at(ld, prefix, "proj_in.weight", c, c, p2, p2);
    t->proj_in_bias = need_at(ld, prefix, "proj_in.bias", c, 0, 0, 0);
    t->proj_out_weight = need_at(ld, prefix, "proj_out.weight", c, c, p2, p2);
    t->proj_out_bias = need_at(ld, prefix, "proj_out.bias", c, 0, 0, 0);
    for (int i = 0; i < depth && !ld->status; i++) {
        unet_block *b = &t->blocks[i];
        snprintf(name, sizeof name, "%s.transformer_blocks.%d", prefix, i);
        b->norm1_weight = need_at(ld, name, "norm1.weight", c, 0, 0, 0);
        b->norm1_bias = need_at(ld, name, "norm1.bias", c, 0, 0, 0);
        b->norm2_weight = need_at(ld, name, "norm2.weight", c, 0, 0, 0);
        b->norm2_bias = need_at(ld, name, "norm2.bias", c, 0, 0, 0);
        b->norm3_weight = need_at(ld, name, "norm3.weight", c, 0, 0, 0);
        b->norm3_bias = need_at(ld, name, "norm3.bias", c, 0, 0, 0);
        char sub[300];
        snprintf(sub, sizeof sub, "%s.attn1", name);
        load_attention(ld, sub, c, c, &b->self_attention);
        snprintf(sub, sizeof sub, "%s.attn2", name);
        load_attention(ld, sub, c, config->cross_attention_dim, &b->cross_attention);
        b->ff_in_weight = need_at(ld, name, "ff.net.0.proj.weight", 2 * ff, c, 0, 0);
        b->ff_in_bias = need_at(ld, name, "ff.net.0.proj.bias", 2 * ff, 0, 0, 0);
        b->ff_out_weight = need_at(ld, name, "ff.net.2.weight", c, ff, 0, 0);
        b->ff_out_bias = need_at(ld, name, "ff.net.2.bias", c, 0, 0, 0);
    }
}

static void load_conv(loader *ld, const char *prefix, int out, int in, int k,
                      const df_weight **weight, const df_weight **bias)
{
    *weight = need_at(ld, prefix, "weight", out, in, k, k);
    *bias = need_at(ld, prefix, "bias", out, 0, 0, 0);
}

/* Allocates a level's resnets and transformers (each transformer's blocks
 * in one array owned by the level). */
static int alloc_level(unet_level *level, int resnets, int attention, int transformer_layers)
{
    level->resnet_count = resnets;
    level->resnets = calloc((size_t)resnets, sizeof *level->resnets);
    if (!level->resnets)
        return 0;
    if (!attention)
        return 1;
    level->attentions = calloc((size_t)resnets, sizeof *level->attentions);
    level->blocks = calloc((size_t)resnets * (size_t)transformer_layers, sizeof *level->blocks);
    if (!level->attentions || !level->blocks)
        return 0;
    for (int j = 0; j < resnets; j++)
        level->attentions[j].blocks = level->blocks + (size_t)j * (size_t)transformer_layers;
    return 1;
}

static void free_level(unet_level *level)
{
    free(level->resnets);
    free(level->attentions);
    free(level->blocks);
}

static df_status load_weights(df_unet *unet, const df_checkpoint *checkpoint, df_error *error)
{
    const df_unet_config *config = &unet->config;
    const int n = config->block_count, layers = config->layers_per_block;
    const int *channels = config->block_out_channels;
    const int c0 = channels[0], temb = 4 * c0;
    loader ld = {checkpoint, error, DF_OK};
    char prefix[160];

    unet->time_linear1_weight = need(&ld, "time_embedding.linear_1.weight", temb, c0, 0, 0);
    unet->time_linear1_bias = need(&ld, "time_embedding.linear_1.bias", temb, 0, 0, 0);
    unet->time_linear2_weight = need(&ld, "time_embedding.linear_2.weight", temb, temb, 0, 0);
    unet->time_linear2_bias = need(&ld, "time_embedding.linear_2.bias", temb, 0, 0, 0);
    if (config->add_embedding_dim) {
        unet->add_linear1_weight =
            need(&ld, "add_embedding.linear_1.weight", temb, config->add_embedding_dim, 0, 0);
        unet->add_linear1_bias = need(&ld, "add_embedding.linear_1.bias", temb, 0, 0, 0);
        unet->add_linear2_weight = need(&ld, "add_embedding.linear_2.weight", temb, temb, 0, 0);
        unet->add_linear2_bias = need(&ld, "add_embedding.linear_2.bias", temb, 0, 0, 0);
    }
    load_conv(&ld, "conv_in", c0, config->in_channels, 3, &unet->conv_in_weight,
              &unet->conv_in_bias);

    for (int i = 0; i < n && !ld.status; i++) {
        unet_level *level = &unet->down[i];
        int attention = config->block_has_attention[i];
        const int depth = config->transformer_layers[i];
        if (!alloc_level(level, layers, attention, depth))
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the UNet");
        for (int j = 0; j < layers; j++) {
            int in = j == 0 ? (i == 0 ? c0 : channels[i - 1]) : channels[i];
            snprintf(prefix, sizeof prefix, "down_blocks.%d.resnets.%d", i, j);
            load_resnet(&ld, prefix, config, in, channels[i], &level->resnets[j]);
            if (attention) {
                snprintf(prefix, sizeof prefix, "down_blocks.%d.attentions.%d", i, j);
                load_transformer(&ld, prefix, config, channels[i], config->attention_heads[i],
                                 depth, &level->attentions[j]);
            }
        }
        if (i < n - 1) {
            snprintf(prefix, sizeof prefix, "down_blocks.%d.downsamplers.0.conv", i);
            load_conv(&ld, prefix, channels[i], channels[i], 3, &level->sample_weight,
                      &level->sample_bias);
        }
    }
    if (ld.status)
        return ld.status;

    /* Mid block: resnet, transformer, resnet at the deepest width. */
    const int deep = channels[n - 1];
    if (!alloc_level(&unet->mid, 2, 1, config->mid_transformer_layers))
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the UNet");
    load_resnet(&ld, "mid_block.resnets.0", config, deep, deep, &unet->mid.resnets[0]);
    load_transformer(&ld, "mid_block.attentions.0", config, deep, config->attention_heads[n - 1],
                     config->mid_transformer_layers, &unet->mid.attentions[0]);
    load_resnet(&ld, "mid_block.resnets.1", config, deep, deep, &unet->mid.resnets[1]);

    /* Up block i mirrors down block r = n-1-i: layers+1 resnets, each
     * taking the current activation concatenated with a popped skip. */
    for (int i = 0; i < n && !ld.status; i++) {
        const int r = n - 1 - i;
        unet_level *level = &unet->up[i];
        int attention = config->up_has_attention[i];
        const int depth = config->transformer_layers[r];
        if (!alloc_level(level, layers + 1, attention, depth))
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the UNet");
        const int out = channels[r];
        const int prev = i == 0 ? deep : channels[r + 1];
        const int in = channels[r > 0 ? r - 1 : 0];
        for (int j = 0; j <= layers; j++) {
            int skip = j == layers ? in : out;
            int current = j == 0 ? prev : out;
            snprintf(prefix, sizeof prefix, "up_blocks.%d.resnets.%d", i, j);
            load_resnet(&ld, prefix, config, current + skip, out, &level->resnets[j]);
            if (attention) {
                snprintf(prefix, sizeof prefix, "up_blocks.%d.attentions.%d", i, j);
                load_transformer(&ld, prefix, config, out, config->attention_heads[r], depth,
                                 &level->attentions[j]);
            }
        }
        if (r > 0) {
            snprintf(prefix, sizeof prefix, "up_blocks.%d.upsamplers.0.conv", i);
            load_conv(&ld, prefix, out, out, 3, &level->sample_weight, &level->sample_bias);
        }
    }
    unet->norm_out_weight = need(&ld, "conv_norm_out.weight", c0, 0, 0, 0);
    unet->norm_out_bias = need(&ld, "conv_norm_out.bias", c0, 0, 0, 0);
    load_conv(&ld, "conv_out", config->out_channels, c0, 3, &unet->conv_out_weight,
              &unet->conv_out_bias);
    return ld.status;
}

/* --- config -------------------------------------------------------------- */

/* Keys whose non-default values select something we do not compute. Each is
 * fine when absent, null, or equal to the value listed. */
typedef struct unsupported_key {
    const char *key;
    const char *string;  /* the supported string value, or NULL */
    double number;       /* the supported number (when string is NULL and !falsy) */
    int falsy;           /* supported: null / false / absent only */
} unsupported_key;

static const unsupported_key unsupported_keys[] = {
    {"class_embed_type", NULL, 0, 1},
    {"num_class_embeds", NULL, 0, 1},
    {"addition_embed_type", "text_time", 0, 0},
    {"encoder_hid_dim", NULL, 0, 1},
    {"encoder_hid_dim_type", NULL, 0, 1},
    {"dual_cross_attention", NULL, 0, 1},
    {"only_cross_attention", NULL, 0, 1},
    {"mid_block_only_cross_attention", NULL, 0, 1},
    {"class_embeddings_concat", NULL, 0, 1},
    {"resnet_skip_time_act", NULL, 0, 1},
    {"time_cond_proj_dim", NULL, 0, 1},
    {"timestep_post_act", NULL, 0, 1},
    {"time_embedding_act_fn", NULL, 0, 1},
    {"cross_attention_norm", NULL, 0, 1},
    {"center_input_sample", NULL, 0, 1},
    {"reverse_transformer_layers_per_block", NULL, 0, 1},
    {"time_embedding_type", "positional", 0, 0},
    {"act_fn", "silu", 0, 0},
    {"mid_block_type", "UNetMidBlock2DCrossAttn", 0, 0},
    {"resnet_time_scale_shift", "default", 0, 0},
    {"attention_type", "default", 0, 0},
    {"conv_in_kernel", NULL, 3, 0},
    {"conv_out_kernel", NULL, 3, 0},
    {"downsample_padding", NULL, 1, 0},
    {"mid_block_scale_factor", NULL, 1, 0},
    {"resnet_out_scale_factor", NULL, 1, 0},
};

static int json_falsy(const json_t *value)
{
    if (!value || json_is_null(value) || json_is_false(value))
        return 1;
    if (json_is_array(value)) { /* only_cross_attention may be a per-block list */
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) if (!json_is_false(item) && !json_is_null(item)) return 0;
        return 1;
    }
    return 0;
}

static df_status refuse_unsupported(const df_checkpoint *checkpoint, const json_t *config,
                                    df_error *error)
{
    for (size_t i = 0; i < sizeof unsupported_keys / sizeof *unsupported_keys; i++) {
        const unsupported_key *u = &unsupported_keys[i];
        json_t *value = json_object_get(config, u->key);
        if (!value || json_is_null(value))
            continue;
        int ok;
        if (u->falsy)
            ok = json_falsy(value);
        else if (u->string)
            ok = json_is_string(value) && !strcmp(json_string_value(value), u->string);
        else
            ok = json_is_number(value) && json_number_value(value) == u->number;
        if (!ok) {
            char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
            df_error_set(error, DF_ERR_UNSUPPORTED,
                         "%s: unet config %s = %s is not supported (SD 1.x/2.x/SDXL UNets only)",
                         df_checkpoint_path(checkpoint), u->key, text ? text : "?");
            free(text);
            return DF_ERR_UNSUPPORTED;
        }
    }
    return DF_OK;
}

/* A per-block integer setting given as one int or a list of `count`. */
static df_status read_per_block(const df_checkpoint *checkpoint, const char *key, int count,
                                int *values, df_error *error)
{
    int64_t raw[DF_UNET_MAX_BLOCKS];
    int got = 0;
    if (df_checkpoint_config_ints(checkpoint, DF_COMPONENT_UNET, key, raw, DF_UNET_MAX_BLOCKS,
                                  &got) ||
        (got != 1 && got != count))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: unet config %s must be an integer or a list of %d integers",
                            df_checkpoint_path(checkpoint), key, count);
    for (int i = 0; i < count; i++) {
        int64_t v = raw[got == 1 ? 0 : i];
        if (v <= 0 || v > 4096)
            return df_error_set(error, DF_ERR_FORMAT, "%s: unet config %s has value %lld",
                                df_checkpoint_path(checkpoint), key, (long long)v);
        values[i] = (int)v;
    }
    return DF_OK;
}

static df_status read_config(df_unet *unet, const df_checkpoint *checkpoint, df_error *error)
{
    const df_component c = DF_COMPONENT_UNET;
    const char *path = df_checkpoint_path(checkpoint);
    df_unet_config *config = &unet->config;

    char *text = df_checkpoint_config_json(checkpoint, c);
    json_t *json = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(json)) {
        json_decref(json);
        return df_error_set(error, DF_ERR_FORMAT, "%s: the unet has no readable config", path);
    }
    df_status status = refuse_unsupported(checkpoint, json, error);
    const json_t *heads_value = json_object_get(json, "num_attention_heads");
    const json_t *layers_value = json_object_get(json, "transformer_layers_per_block");
    int has_heads = heads_value && !json_is_null(heads_value);
    int has_layers = layers_value && !json_is_null(layers_value);
    json_decref(json);
    if (status)
        return status;

    int64_t channels[DF_UNET_MAX_BLOCKS + 1];
    int count = 0;
    if (df_checkpoint_config_ints(checkpoint, c, "block_out_channels", channels,
                                  DF_UNET_MAX_BLOCKS, &count) ||
        count < 1)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: unet config block_out_channels is missing or has more than %d "
                            "entries",
                            path, DF_UNET_MAX_BLOCKS);
    config->block_count = count;
    for (int i = 0; i < count; i++) {
        if (channels[i] <= 0 || channels[i] > 16384)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config block_out_channels[%d] = %lld", path, i,
                                (long long)channels[i]);
        config->block_out_channels[i] = (int)channels[i];
    }
    for (int i = 0; i < count; i++) {
        const char *down = df_checkpoint_config_string_at(checkpoint, c, "down_block_types",
                                                          (size_t)i);
        const char *up = df_checkpoint_config_string_at(checkpoint, c, "up_block_types",
                                                        (size_t)(count - 1 - i));
        if (!down || !up)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config down_block_types/up_block_types must list %d "
                                "blocks each",
                                path, count);
        if (!strcmp(down, "CrossAttnDownBlock2D"))
            config->block_has_attention[i] = 1;
        else if (strcmp(down, "DownBlock2D"))
            return df_error_set(error, DF_ERR_UNSUPPORTED,
                                "%s: unet config down_block_types[%d] = \"%s\" is not supported "
                                "(CrossAttnDownBlock2D or DownBlock2D)",
                                path, i, down);
        /* Up block count-1-i works at down block i's resolution; its
         * attention is its own (usually the mirror of the down block's). */
        if (!strcmp(up, "CrossAttnUpBlock2D"))
            config->up_has_attention[count - 1 - i] = 1;
        else if (strcmp(up, "UpBlock2D"))
            return df_error_set(error, DF_ERR_UNSUPPORTED,
                                "%s: unet config up_block_types[%d] = \"%s\" is not supported "
                                "(CrossAttnUpBlock2D or UpBlock2D)",
                                path, count - 1 - i, up);
    }
    if (df_checkpoint_config_string_at(checkpoint, c, "down_block_types", (size_t)count) ||
        df_checkpoint_config_string_at(checkpoint, c, "up_block_types", (size_t)count))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: unet config block types list more blocks than "
                            "block_out_channels (%d)",
                            path, count);

    config->in_channels = (int)df_checkpoint_config_int(checkpoint, c, "in_channels", 4);
    config->out_channels = (int)df_checkpoint_config_int(checkpoint, c, "out_channels", 4);
    config->layers_per_block = (int)df_checkpoint_config_int(checkpoint, c, "layers_per_block", 2);
    config->cross_attention_dim =
        (int)df_checkpoint_config_int(checkpoint, c, "cross_attention_dim", 1280);
    config->norm_groups = (int)df_checkpoint_config_int(checkpoint, c, "norm_num_groups", 32);
    config->norm_eps = (float)df_checkpoint_config_float(checkpoint, c, "norm_eps", 1e-5);
    config->sample_size = (int)df_checkpoint_config_int(checkpoint, c, "sample_size", 64);
    config->use_linear_projection =
        (int)df_checkpoint_config_int(checkpoint, c, "use_linear_projection", 0);
    config->flip_sin_to_cos = (int)df_checkpoint_config_int(checkpoint, c, "flip_sin_to_cos", 1);
    config->freq_shift = (float)df_checkpoint_config_float(checkpoint, c, "freq_shift", 0);

    /* Per level; the up levels take the reversed list and the mid block the
     * last level's depth, as diffusers builds them (a separate
     * reverse_transformer_layers_per_block is refused above). */
    if (has_layers) {
        status = read_per_block(checkpoint, "transformer_layers_per_block", config->block_count,
                                config->transformer_layers, error);
        if (status)
            return status;
    } else {
        for (int i = 0; i < config->block_count; i++)
            config->transformer_layers[i] = 1;
    }
    config->mid_transformer_layers = config->transformer_layers[config->block_count - 1];

    /* SDXL's added embedding: [pooled text | sinusoids of each time id]. */
    const char *add_type =
        df_checkpoint_config_string(checkpoint, c, "addition_embed_type", NULL);
    if (add_type && !strcmp(add_type, "text_time")) {
        config->addition_time_embed_dim =
            (int)df_checkpoint_config_int(checkpoint, c, "addition_time_embed_dim", 0);
        config->add_embedding_dim =
            (int)df_checkpoint_config_int(checkpoint, c, "projection_class_embeddings_input_dim", 0);
        if (config->addition_time_embed_dim <= 0 || config->addition_time_embed_dim > 65536 ||
            config->addition_time_embed_dim % 2 || config->add_embedding_dim <= 0 ||
            config->add_embedding_dim > 1 << 20)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config addition_time_embed_dim %d / "
                                "projection_class_embeddings_input_dim %d do not make a "
                                "\"text_time\" added embedding",
                                path, config->addition_time_embed_dim, config->add_embedding_dim);
    }
    /* diffusers' quirk: attention_head_dim is the number of heads (SD 1.x: 8,
     * SD 2.x: [5, 10, 20, 20]); num_attention_heads, when set, overrides it. */
    status = read_per_block(checkpoint, has_heads ? "num_attention_heads" : "attention_head_dim",
                            config->block_count, config->attention_heads, error);
    if (status)
        return status;

    if (config->in_channels <= 0 || config->in_channels > 64 || config->out_channels <= 0 ||
        config->out_channels > 64 || config->layers_per_block <= 0 ||
        config->layers_per_block > 16 || config->cross_attention_dim <= 0 ||
        config->cross_attention_dim > 16384 || config->norm_groups <= 0 ||
        !(config->norm_eps > 0) || config->norm_eps > 1 || !isfinite(config->freq_shift))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: unet config is inconsistent (in_channels %d, out_channels %d, "
                            "layers_per_block %d, cross_attention_dim %d, norm_num_groups %d, "
                            "norm_eps %g)",
                            path, config->in_channels, config->out_channels,
                            config->layers_per_block, config->cross_attention_dim,
                            config->norm_groups, config->norm_eps);
    for (int i = 0; i < config->block_count; i++)
        if (config->transformer_layers[i] > 64)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config transformer_layers_per_block[%d] = %d (at most 64)",
                                path, i, config->transformer_layers[i]);
    if (config->block_out_channels[0] % 2)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: unet config block_out_channels[0] = %d is odd (the timestep "
                            "embedding needs an even width)",
                            path, config->block_out_channels[0]);
    for (int i = 0; i < config->block_count; i++) {
        int ch = config->block_out_channels[i], heads = config->attention_heads[i];
        if (ch % config->norm_groups)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config block_out_channels[%d] = %d is not a multiple "
                                "of norm_num_groups %d",
                                path, i, ch, config->norm_groups);
        if (ch % heads)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: unet config heads of block %d (%d) do not divide its %d "
                                "channels",
                                path, i, heads, ch);
    }
    return DF_OK;
}

/* --- public -------------------------------------------------------------- */

df_status df_unet_load(const df_checkpoint *checkpoint, df_pool *pool, df_unet **out,
                       df_error *error)
{
    *out = NULL;
    if (!df_checkpoint_has(checkpoint, DF_COMPONENT_UNET))
        return df_error_set(error, DF_ERR_FORMAT, "%s: the checkpoint has no unet",
                            df_checkpoint_path(checkpoint));
    df_unet *unet = calloc(1, sizeof *unet);
    if (!unet)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the UNet");
    unet->pool = pool;
    unet->checkpoint = checkpoint;
    const char *profile = getenv("DIFFUSE_UNET_PROFILE");
    unet->profile = profile && *profile && strcmp(profile, "0");
    df_status status = read_config(unet, checkpoint, error);
    if (!status)
        status = load_weights(unet, checkpoint, error);
    if (status) {
        df_unet_free(unet);
        return status;
    }
    *out = unet;
    return DF_OK;
}

void df_unet_free(df_unet *unet)
{
    if (!unet)
        return;
    for (int i = 0; i < DF_UNET_MAX_BLOCKS; i++) {
        free_level(&unet->down[i]);
        free_level(&unet->up[i]);
    }
    free_level(&unet->mid);
    df_arena_release(&unet->arena);
    free(unet);
}

const df_unet_config *df_unet_get_config(const df_unet *unet)
{
    return &unet->config;
}

int df_unet_time_id_count(const df_unet *unet, int text_embeds_dim)
{
    const df_unet_config *config = &unet->config;
    if (!config->add_embedding_dim)
        return 0;
    int rest = config->add_embedding_dim - text_embeds_dim;
    if (rest <= 0 || rest % config->addition_time_embed_dim)
        return 0;
    return rest / config->addition_time_embed_dim;
}

df_status df_unet_check_inputs(const df_unet *unet, int batch, int height, int width,
                               int context_tokens, int context_dim, df_error *error)
{
    const df_unet_config *config = &unet->config;
    /* Each down block but the last halves the size and the up blocks must
     * double back to the skips' sizes exactly: a multiple of 2^(blocks - 1),
     * 8 for SD (images of multiples of 64 px). */
    int multiple = 1;
    while (multiple < (1 << (config->block_count - 1)))
        multiple *= 2;
    if (batch <= 0 || batch > 1024)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: batch %d is out of range (1..1024)", batch);
    if (height <= 0 || height % multiple || height > 4096)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: latent height %d is not a positive multiple of %d (<= 4096)",
                            height, multiple);
    if (width <= 0 || width % multiple || width > 4096)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: latent width %d is not a positive multiple of %d (<= 4096)",
                            width, multiple);
    if (context_tokens <= 0 || context_tokens > 77 * 64)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: %d context tokens is out of range (1..%d)", context_tokens,
                            77 * 64);
    if (context_dim != config->cross_attention_dim)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unet: context width %d does not match the UNet's "
                            "cross_attention_dim %d (text encoder of another model family?)",
                            context_dim, config->cross_attention_dim);
    return DF_OK;
}
