/*
 * clip_text_encoder.c — the CLIP text transformer, top to bottom.
 *
 *   x = token_embedding[ids] + position_embedding
 *   for each layer:  x += out_proj(attention(layer_norm1(x), causal))
 *                    x += fc2(act(fc1(layer_norm2(x))))
 *   y = final_layer_norm(x)
 *   pooled = text_projection(y[end token])     (SDXL's second encoder)
 *
 * SDXL conditions on hidden_states[-2] (the stream after the penultimate
 * layer, not normed) of both towers, and on the pooled output of the
 * second; SD 1.x / 2.x on y of the whole or a clip-skipped stack.
 *
 * Activations are [sequences * 77, hidden] rows. Scratch is one arena
 * planned from the config and the batch size; nothing is allocated per layer.
 */
#include "text/clip_text_encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/arena.h"
#include "runtime/error.h"
#include "runtime/kernels.h"

typedef struct clip_layer {
    const df_weight *norm1_weight, *norm1_bias;
    const df_weight *q_weight, *q_bias, *k_weight, *k_bias, *v_weight, *v_bias;
    const df_weight *out_weight, *out_bias;
    const df_weight *norm2_weight, *norm2_bias;
    const df_weight *fc1_weight, *fc1_bias, *fc2_weight, *fc2_bias;
} clip_layer;

struct df_clip_text_encoder {
    df_clip_config config;
    df_pool *pool;
    df_component component;
    const df_weight *token_embedding, *position_embedding;
    const df_weight *final_norm_weight, *final_norm_bias;
    const df_weight *projection; /* [projection_dim, hidden] or NULL */
    float *extra;                /* textual-inversion vectors: ids vocab_size.. */
    int extra_count;
    clip_layer *layers;
    df_arena arena;
    int planned_sequences;
};

static df_status require(const df_checkpoint *checkpoint, df_component component,
                         const char *name, int64_t d0, int64_t d1, const df_weight **out,
                         df_error *error)
{
    int64_t shape[2] = {d0, d1};
    return df_checkpoint_require(checkpoint, component, name, d1 ? 2 : 1, shape, out, error);
}

/* A Linear's weight [out, in] and bias [out]. */
static df_status require_linear(const df_checkpoint *checkpoint, df_component component,
                                const char *prefix, int64_t out, int64_t in,
                                const df_weight **weight, const df_weight **bias, df_error *error)
{
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    df_status status = require(checkpoint, component, name, out, in, weight, error);
    if (status)
        return status;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return require(checkpoint, component, name, out, 0, bias, error);
}

static df_status require_norm(const df_checkpoint *checkpoint, df_component component,
                              const char *prefix, int64_t dim, const df_weight **weight,
                              const df_weight **bias, df_error *error)
{
    return require_linear(checkpoint, component, prefix, dim, 0, weight, bias, error);
}

static df_status read_config(const df_checkpoint *checkpoint, df_component text,
                             df_clip_config *config, df_error *error)
{
    config->hidden_size = (int)df_checkpoint_config_int(checkpoint, text, "hidden_size", 0);
    config->layers = (int)df_checkpoint_config_int(checkpoint, text, "num_hidden_layers", 0);
    config->heads = (int)df_checkpoint_config_int(checkpoint, text, "num_attention_heads", 0);
    config->intermediate_size =
        (int)df_checkpoint_config_int(checkpoint, text, "intermediate_size", 0);
    config->max_positions =
        (int)df_checkpoint_config_int(checkpoint, text, "max_position_embeddings", 77);
    config->vocab_size = (int)df_checkpoint_config_int(checkpoint, text, "vocab_size", 49408);
    config->layer_norm_eps =
        (float)df_checkpoint_config_float(checkpoint, text, "layer_norm_eps", 1e-5);
    /* transformers' pooling rule: eos_token_id 2 (the legacy configs SD and
     * SDXL ship) pools at the largest id, anything else at its first
     * occurrence; with CLIP's vocabulary both find the end token. */
    config->eos_token_id =
        (int)df_checkpoint_config_int(checkpoint, text, "eos_token_id", DF_CLIP_END_TOKEN);
    config->projection_dim = df_checkpoint_weight(checkpoint, text, "text_projection.weight")
                                 ? (int)df_checkpoint_config_int(checkpoint, text,
                                                                 "projection_dim", 0)
                                 : 0;
    const char *activation =
        df_checkpoint_config_string(checkpoint, text, "hidden_act", "quick_gelu");
    if (!strcmp(activation, "quick_gelu"))
        config->quick_gelu = 1;
    else if (!strcmp(activation, "gelu"))
        config->quick_gelu = 0;
    else
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: text encoder activation '%s' is not supported (quick_gelu or gelu)",
                            df_checkpoint_path(checkpoint), activation);

    if (config->hidden_size <= 0 || config->hidden_size > 65536 || config->layers <= 0 ||
        config->layers > 1024 || config->heads <= 0 || config->hidden_size % config->heads ||
        config->intermediate_size <= 0 || config->intermediate_size > 1 << 20 ||
        config->max_positions < DF_CLIP_WINDOW || config->max_positions > 1 << 16 ||
        config->vocab_size <= DF_CLIP_END_TOKEN || config->vocab_size > 1 << 24 ||
        !(config->layer_norm_eps > 0) || config->layer_norm_eps > 1 ||
        config->projection_dim < 0 || config->projection_dim > 65536)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: text encoder config is inconsistent (hidden_size %d, layers %d, "
                            "heads %d, intermediate_size %d, max_position_embeddings %d, "
                            "vocab_size %d, layer_norm_eps %g)",
                            df_checkpoint_path(checkpoint), config->hidden_size, config->layers,
                            config->heads, config->intermediate_size, config->max_positions,
                            config->vocab_size, config->layer_norm_eps);
    return DF_OK;
}

df_status df_clip_text_encoder_load(const df_checkpoint *checkpoint, df_component component,
                                    df_pool *pool, df_clip_text_encoder **out, df_error *error)
{
    *out = NULL;
    if (!df_checkpoint_has(checkpoint, component))
        return df_error_set(error, DF_ERR_FORMAT, "%s: the checkpoint has no %s",
                            df_checkpoint_path(checkpoint), df_component_name(component));
    df_clip_text_encoder *encoder = calloc(1, sizeof *encoder);
    if (!encoder)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the text encoder");
    encoder->pool = pool;
    encoder->component = component;
    df_clip_config *config = &encoder->config;
    df_status status = read_config(checkpoint, component, config, error);
    if (status)
        goto fail;
    const int64_t hidden = config->hidden_size, inner = config->intermediate_size;
    const df_component c = component;

    status = require(checkpoint, c, "text_model.embeddings.token_embedding.weight",
                     config->vocab_size, hidden, &encoder->token_embedding, error);
    if (!status)
        status = require(checkpoint, c, "text_model.embeddings.position_embedding.weight",
                         config->max_positions, hidden, &encoder->position_embedding, error);
    if (!status)
        status = require_norm(checkpoint, c, "text_model.final_layer_norm", hidden,
                              &encoder->final_norm_weight, &encoder->final_norm_bias, error);
    if (!status && config->projection_dim)
        status = require(checkpoint, c, "text_projection.weight", config->projection_dim, hidden,
                         &encoder->projection, error);
    if (status)
        goto fail;

    encoder->layers = calloc((size_t)config->layers, sizeof *encoder->layers);
    if (!encoder->layers) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading the text encoder");
        goto fail;
    }
    for (int i = 0; i < config->layers && !status; i++) {
        clip_layer *layer = &encoder->layers[i];
        char prefix[128];
#define LAYER(suffix) (snprintf(prefix, sizeof prefix, "text_model.encoder.layers.%d.%s", i, suffix), prefix)
        status = require_norm(checkpoint, c, LAYER("layer_norm1"), hidden, &layer->norm1_weight,
                              &layer->norm1_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("self_attn.q_proj"), hidden, hidden,
                                    &layer->q_weight, &layer->q_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("self_attn.k_proj"), hidden, hidden,
                                    &layer->k_weight, &layer->k_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("self_attn.v_proj"), hidden, hidden,
                                    &layer->v_weight, &layer->v_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("self_attn.out_proj"), hidden, hidden,
                                    &layer->out_weight, &layer->out_bias, error);
        if (!status)
            status = require_norm(checkpoint, c, LAYER("layer_norm2"), hidden, &layer->norm2_weight,
                                  &layer->norm2_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("mlp.fc1"), inner, hidden,
                                    &layer->fc1_weight, &layer->fc1_bias, error);
        if (!status)
            status = require_linear(checkpoint, c, LAYER("mlp.fc2"), hidden, inner,
                                    &layer->fc2_weight, &layer->fc2_bias, error);
#undef LAYER
    }
    if (status)
        goto fail;
    *out = encoder;
    return DF_OK;
fail:
    df_clip_text_encoder_free(encoder);
    return status;
}

df_status df_clip_text_encoder_add_vectors(df_clip_text_encoder *encoder, const float *vectors,
                                           int count, int32_t *first_id, df_error *error)
{
    const int hidden = encoder->config.hidden_size;
    if (count <= 0 || count > 75 || encoder->extra_count + count > 1 << 16)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%d embedding vectors: 1..75 per embedding, 65536 in all", count);
    float *grown = realloc(encoder->extra, (size_t)(encoder->extra_count + count) *
                                               (size_t)hidden * sizeof(float));
    if (!grown)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory adding embedding vectors");
    encoder->extra = grown;
    memcpy(grown + (size_t)encoder->extra_count * (size_t)hidden, vectors,
           (size_t)count * (size_t)hidden * sizeof(float));
    *first_id = encoder->config.vocab_size + encoder->extra_count;
    encoder->extra_count += count;
    return DF_OK;
}

void df_clip_text_encoder_free(df_clip_text_encoder *encoder)
{
    if (!encoder)
        return;
    free(encoder->extra);
    df_arena_release(&encoder->arena);
    free(encoder->layers);
    free(encoder);
}

const df_clip_config *df_clip_text_encoder_config(const df_clip_text_encoder *encoder)
{
    return &encoder->config;
}

/* Activations of one forward pass: the residual stream, the normed input,
 * q, k, v, the attention output and the MLP's inner activation. */
static size_t scratch_bytes(const df_clip_config *config, int sequences)
{
    size_t rows = (size_t)sequences * DF_CLIP_WINDOW;
    size_t row_bytes = (size_t)config->hidden_size * sizeof(float);
    return 6 * df_arena_footprint(rows * row_bytes) +
           df_arena_footprint(rows * (size_t)config->intermediate_size * sizeof(float));
}

/* Checks the window count and the ids, and plans the scratch. */
static df_status prepare(df_clip_text_encoder *encoder, const int32_t *ids, int sequences,
                         df_error *error)
{
    const df_clip_config *config = &encoder->config;
    if (sequences <= 0 || sequences > 4096)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "text encoder: %d token windows is out of range (1..4096)", sequences);
    const int64_t rows = (int64_t)sequences * DF_CLIP_WINDOW;
    const int64_t limit = (int64_t)config->vocab_size + encoder->extra_count;
    for (int64_t i = 0; i < rows; i++)
        if (ids[i] < 0 || ids[i] >= limit)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "token id %d at position %lld is outside the vocabulary (0..%lld)",
                                ids[i], (long long)i, (long long)limit - 1);
    if (sequences > encoder->planned_sequences) {
        df_status status = df_arena_reserve(&encoder->arena, scratch_bytes(config, sequences), error);
        if (status)
            return status;
        encoder->planned_sequences = sequences;
    }
    return DF_OK;
}

/* The transformer stack: runs `layers_to_run` layers; copies the stream
 * after `capture_after` layers (1-based; 0: never) into `capture`; writes
 * the final layer norm of the last stream into `normed_out` (or NULL); and
 * the projected end-token rows of it into `pooled` (or NULL). */
static df_status run(df_clip_text_encoder *encoder, const int32_t *ids, int sequences,
                     int layers_to_run, int capture_after, float *capture, float *normed_out,
                     float *pooled, df_error *error)
{
    const df_clip_config *config = &encoder->config;
    const int64_t tokens = DF_CLIP_WINDOW;
    const int64_t rows = (int64_t)sequences * tokens;
    df_arena *arena = &encoder->arena;
    df_arena_reset(arena);
    const int64_t hidden = config->hidden_size;
    float *x = df_arena_floats(arena, (size_t)(rows * hidden));
    float *normed = df_arena_floats(arena, (size_t)(rows * hidden));
    float *q = df_arena_floats(arena, (size_t)(rows * hidden));
    float *k = df_arena_floats(arena, (size_t)(rows * hidden));
    float *v = df_arena_floats(arena, (size_t)(rows * hidden));
    float *attended = df_arena_floats(arena, (size_t)(rows * hidden));
    float *inner = df_arena_floats(arena, (size_t)(rows * config->intermediate_size));
    if (!x || !normed || !q || !k || !v || !attended || !inner)
        return df_error_set(error, DF_ERR_INTERNAL, "text encoder: scratch plan too small");

    /* Embeddings: both tables stay in their stored dtype; rows are converted
     * as they are gathered. */
    for (int64_t row = 0; row < rows; row++) {
        float *target = x + row * hidden;
        if (ids[row] >= config->vocab_size) /* an embedding's vector */
            memcpy(target, encoder->extra + (int64_t)(ids[row] - config->vocab_size) * hidden,
                   (size_t)hidden * sizeof(float));
        else
            df_weight_to_f32(encoder->token_embedding, (int64_t)ids[row] * hidden, hidden, target);
        df_weight_to_f32(encoder->position_embedding, (row % tokens) * hidden, hidden, normed);
        for (int64_t i = 0; i < hidden; i++)
            target[i] += normed[i];
    }

    const int head_dim = (int)(hidden / config->heads);
    const float scale = 1.0f / sqrtf((float)head_dim);
    const float eps = config->layer_norm_eps;
    df_pool *pool = encoder->pool;
    for (int i = 0; i < layers_to_run; i++) {
        const clip_layer *layer = &encoder->layers[i];
        df_layer_norm(pool, x, rows, hidden, layer->norm1_weight, layer->norm1_bias, eps, normed);
        df_linear(pool, normed, rows, hidden, layer->q_weight, layer->q_bias, q);
        df_linear(pool, normed, rows, hidden, layer->k_weight, layer->k_bias, k);
        df_linear(pool, normed, rows, hidden, layer->v_weight, layer->v_bias, v);
        df_attention(pool, q, k, v, attended, sequences, config->heads, tokens, tokens, head_dim,
                     hidden, hidden, hidden, 1, scale);
        df_linear(pool, attended, rows, hidden, layer->out_weight, layer->out_bias, normed);
        df_add(pool, x, normed, x, rows * hidden);

        df_layer_norm(pool, x, rows, hidden, layer->norm2_weight, layer->norm2_bias, eps, normed);
        df_linear(pool, normed, rows, hidden, layer->fc1_weight, layer->fc1_bias, inner);
        if (config->quick_gelu)
            df_quick_gelu(pool, inner, rows * config->intermediate_size);
        else
            df_gelu(pool, inner, rows * config->intermediate_size);
        df_linear(pool, inner, rows, config->intermediate_size, layer->fc2_weight, layer->fc2_bias,
                  normed);
        df_add(pool, x, normed, x, rows * hidden);
        if (i + 1 == capture_after)
            memcpy(capture, x, (size_t)(rows * hidden) * sizeof(float));
    }
    if (normed_out)
        df_layer_norm(pool, x, rows, hidden, encoder->final_norm_weight, encoder->final_norm_bias,
                      eps, normed_out);
    if (pooled) {
        /* Final-normed end-token row of each window (into q), then projected. */
        for (int s = 0; s < sequences; s++) {
            const int32_t *window = ids + (int64_t)s * tokens;
            int at = 0;
            for (int t = 0; t < tokens; t++)
                if (config->eos_token_id == 2 ? window[t] > window[at]
                                              : window[t] == config->eos_token_id) {
                    at = t;
                    if (config->eos_token_id != 2)
                        break;
                }
            memcpy(normed + (int64_t)s * hidden, x + ((int64_t)s * tokens + at) * hidden,
                   (size_t)hidden * sizeof(float));
        }
        df_layer_norm(pool, normed, sequences, hidden, encoder->final_norm_weight,
                      encoder->final_norm_bias, eps, q);
        if (encoder->projection)
            df_linear(pool, q, sequences, hidden, encoder->projection, NULL, pooled);
        else
            memcpy(pooled, q, (size_t)sequences * (size_t)hidden * sizeof(float));
    }
    return DF_OK;
}

df_status df_clip_text_encoder_forward(df_clip_text_encoder *encoder, const int32_t *ids,
                                       int sequences, int clip_skip, float *out,
                                       df_error *error)
{
    const df_clip_config *config = &encoder->config;
    if (clip_skip < 0 || clip_skip > config->layers)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "clip skip %d is out of range: this text encoder has %d layers "
                            "(1 = use all, up to %d)",
                            clip_skip, config->layers, config->layers);
    df_status status = prepare(encoder, ids, sequences, error);
    if (status)
        return status;
    const int layers_to_run = config->layers - (clip_skip > 1 ? clip_skip - 1 : 0);
    return run(encoder, ids, sequences, layers_to_run, 0, NULL, out, NULL, error);
}

df_status df_clip_text_encoder_forward_hidden(df_clip_text_encoder *encoder, const int32_t *ids,
                                              int sequences, int clip_skip, float *hidden,
                                              float *pooled, df_error *error)
{
    const df_clip_config *config = &encoder->config;
    const int skip = clip_skip > 1 ? clip_skip : 1;
    if (clip_skip < 0 || skip >= config->layers)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "clip skip %d is out of range: SDXL conditions on the penultimate "
                            "layer of this %d-layer text encoder, so clip skip is 1..%d",
                            clip_skip, config->layers, config->layers - 1);
    df_status status = prepare(encoder, ids, sequences, error);
    if (status)
        return status;
    /* hidden_states[-(skip + 1)]: the stream after layer L - skip */
    const int capture_after = config->layers - skip;
    return run(encoder, ids, sequences, pooled ? config->layers : capture_after, capture_after,
               hidden, NULL, pooled, error);
}

int df_clip_text_encoder_pooled_dim(const df_clip_text_encoder *encoder)
{
    return encoder->projection ? encoder->config.projection_dim : encoder->config.hidden_size;
}

size_t df_clip_text_encoder_scratch_bytes(const df_clip_text_encoder *encoder, int sequences)
{
    return sequences > 0 ? scratch_bytes(&encoder->config, sequences) : 0;
}

size_t df_clip_text_encoder_reserved_bytes(const df_clip_text_encoder *encoder)
{
    return encoder->arena.capacity;
}
