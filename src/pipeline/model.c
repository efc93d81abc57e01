/*
 * model.c — the public df_model: an opened checkpoint with the parts of the
 * model built on demand, and its text conditioning: one CLIP text encoder
 * for SD 1.x / 2.x; for SDXL the penultimate hidden states of CLIP ViT-L and
 * OpenCLIP bigG side by side (2048 wide) and bigG's pooled projection (the
 * refiner has bigG only). The UNet and VAE are built on first use.
 *
 * Ownership: the model owns its checkpoint (the mmapped files), tokenizer and
 * encoder; it borrows the runtime's pool. Not safe for concurrent calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffuse.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "runtime/error.h"
#include "runtime/runtime.h"
#include "text/clip_text_encoder.h"
#include "text/prompt_weights.h"
#include "pipeline/lora.h"
#include "pipeline/model_internal.h"


const char *df_family_name(df_family family)
{
    switch (family) {
    case DF_FAMILY_SD1: return "sd1";
    case DF_FAMILY_SD2: return "sd2";
    case DF_FAMILY_SDXL: return "sdxl";
    case DF_FAMILY_UNKNOWN: break;
    }
    return "unknown";
}

df_status df_model_open(df_runtime *runtime, const char *path, df_model **out, df_error *error)
{
    *out = NULL;
    if (!runtime || !path)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_model_open: runtime and path are required");
    df_model *model = calloc(1, sizeof *model);
    if (!model)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory opening %s", path);
    model->runtime = runtime;
    model->path = strdup(path);
    if (!model->path) {
        free(model);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory opening %s", path);
    }
    df_status status = df_checkpoint_open(path, &model->checkpoint, error);
    if (status)
        goto fail;
    df_family family = df_checkpoint_family(model->checkpoint);
    if (family != DF_FAMILY_SD1 && family != DF_FAMILY_SD2 && family != DF_FAMILY_SDXL) {
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: not a Stable Diffusion 1.x, 2.x or SDXL checkpoint (family "
                              "unknown)",
                              path);
        goto fail;
    }
    df_pool *pool = df_runtime_pool(runtime);
    const int has_first = df_checkpoint_has(model->checkpoint, DF_COMPONENT_TEXT_ENCODER);
    if (family == DF_FAMILY_SDXL) {
        if (!df_checkpoint_has(model->checkpoint, DF_COMPONENT_TEXT_ENCODER_2)) {
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "%s: SDXL checkpoint without its second text encoder "
                                  "(text_encoder_2/ or conditioner.embedders.*.model.*)",
                                  path);
            goto fail;
        }
        status = df_clip_text_encoder_load(model->checkpoint, DF_COMPONENT_TEXT_ENCODER_2, pool,
                                           &model->text_encoder_2, error);
        if (status)
            goto fail;
        /* The base pipeline's default (diffusers' StableDiffusionXLPipeline);
         * the refiner's is off (StableDiffusionXLImg2ImgPipeline). */
        model->force_zeros_for_empty_prompt = df_checkpoint_pipeline_flag(
            model->checkpoint, "force_zeros_for_empty_prompt", has_first);
    }
    if (family != DF_FAMILY_SDXL || has_first) {
        status = df_clip_text_encoder_load(model->checkpoint, DF_COMPONENT_TEXT_ENCODER, pool,
                                           &model->text_encoder, error);
        if (status)
            goto fail;
    }
    status = df_tokenizer_create_for_pad(df_model_pad_token(model), &model->tokenizer, error);
    if (!status && model->text_encoder && model->text_encoder_2)
        status = df_tokenizer_create_for_pad(0, &model->tokenizer_2, error);
    if (status)
        goto fail;
    *out = model;
    return DF_OK;
fail:
    df_model_free(model);
    return status;
}

void df_model_free(df_model *model)
{
    if (!model)
        return;
    df_lora_state_free(model); /* before the checkpoint: it patches its entries back */
    df_taesd_free(model->taesd);
    df_vae_free(model->vae);
    df_checkpoint_free(model->vae_checkpoint);
    df_unet_free(model->unet);
    df_clip_text_encoder_free(model->text_encoder);
    df_clip_text_encoder_free(model->text_encoder_2);
    df_tokenizer_free(model->tokenizer);
    df_tokenizer_free(model->tokenizer_2);
    df_checkpoint_free(model->checkpoint);
    free(model->path);
    free(model);
}

df_status df_model_load_denoiser(df_model *model, df_error *error)
{
    df_pool *pool = df_runtime_pool(model->runtime);
    df_status status = DF_OK;
    if (!model->unet)
        status = df_unet_load(model->checkpoint, pool, &model->unet, error);
    if (!status && !model->vae)
        status = df_vae_load(model->vae_checkpoint ? model->vae_checkpoint : model->checkpoint,
                             pool, &model->vae, error);
    if (!status)
        status = df_vae_check_latent_channels(model->vae, df_unet_get_config(model->unet)->in_channels,
                                              error);
    return status;
}

df_status df_model_load_vae(df_model *model, const char *path, df_error *error)
{
    df_checkpoint *checkpoint = NULL;
    df_vae *vae = NULL;
    df_status status = df_checkpoint_open_vae(path, &checkpoint, error);
    if (!status)
        status = df_vae_load(checkpoint, df_runtime_pool(model->runtime), &vae, error);
    if (!status && model->unet)
        status = df_vae_check_latent_channels(vae, df_unet_get_config(model->unet)->in_channels,
                                              error);
    if (status) {
        df_vae_free(vae);
        df_checkpoint_free(checkpoint);
        return status;
    }
    df_vae_free(model->vae);
    df_checkpoint_free(model->vae_checkpoint);
    model->vae = vae;
    model->vae_checkpoint = checkpoint;
    return DF_OK;
}

df_status df_model_load_taesd(df_model *model, const char *path, df_error *error)
{
    df_taesd *taesd = NULL;
    df_status status = df_taesd_open(path, df_runtime_pool(model->runtime), &taesd, error);
    if (status)
        return status;
    if (!df_taesd_can_decode(taesd)) {
        df_taesd_free(taesd);
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: this TAESD has no decoder (an encoder-only file?); previews and "
                            "decoder taesd need taesd_decoder", path);
    }
    df_taesd_free(model->taesd);
    model->taesd = taesd;
    return DF_OK;
}

df_family df_model_family(const df_model *model)
{
    return df_checkpoint_family(model->checkpoint);
}

df_layout df_model_layout(const df_model *model)
{
    return df_checkpoint_layout(model->checkpoint);
}

int df_model_text_dim(const df_model *model)
{
    int dim = 0;
    if (model->text_encoder)
        dim += df_clip_text_encoder_config(model->text_encoder)->hidden_size;
    if (model->text_encoder_2)
        dim += df_clip_text_encoder_config(model->text_encoder_2)->hidden_size;
    return dim;
}

int df_model_pooled_dim(const df_model *model)
{
    return model->text_encoder_2 ? df_clip_text_encoder_pooled_dim(model->text_encoder_2) : 0;
}

/* The tokenizers SD checkpoints ship with pad differently: OpenAI CLIP (SD 1.x,
 * SDXL's first encoder) pads with the end token, OpenCLIP (SD 2.x, SDXL's
 * second) with "!" (id 0). The padded positions are cross-attended to by
 * the UNet, so this matters. */
int32_t df_model_pad_token(const df_model *model)
{
    if (df_model_family(model) == DF_FAMILY_SD2)
        return 0;
    if (df_model_family(model) == DF_FAMILY_SDXL && !model->text_encoder)
        return 0;
    return DF_CLIP_END_TOKEN;
}

const df_tokenizer *df_model_tokenizer(const df_model *model)
{
    return model->tokenizer;
}

/* df_model_encode_tokens' second-encoder ids from the first tokenizer's:
 * its padding after each window's end made "!" (id 0). This is the second
 * tokenizer's output for text without "!" (which that tokenizer splits off
 * as a token of its own); prompts go through df_model_encode_condition,
 * which runs both tokenizers. */
static void repad_for_second(const int32_t *ids, size_t window_count, int32_t *out)
{
    for (size_t w = 0; w < window_count; w++) {
        const int32_t *window = ids + w * DF_CLIP_WINDOW;
        int32_t *target = out + w * DF_CLIP_WINDOW;
        int ended = 0;
        for (int t = 0; t < DF_CLIP_WINDOW; t++) {
            target[t] = ended && window[t] == DF_CLIP_END_TOKEN ? 0 : window[t];
            ended |= window[t] == DF_CLIP_END_TOKEN;
        }
    }
}

/* SDXL: the two encoders' hidden states side by side per token (ids for
 * each; ids_2 may be ids), and the second's pooled output of window 0. */
static df_status encode_sdxl(df_model *model, const int32_t *ids, const int32_t *ids_2,
                             size_t window_count, int clip_skip, float *out, float *pooled,
                             df_error *error)
{
    const size_t rows = window_count * DF_CLIP_WINDOW;
    const int dim = df_model_text_dim(model);
    const int first = model->text_encoder
                          ? df_clip_text_encoder_config(model->text_encoder)->hidden_size
                          : 0;
    const int second = dim - first;
    float *part = malloc(rows * (size_t)(first > second ? first : second) * sizeof(float));
    float *pooled_all = malloc(window_count * (size_t)df_model_pooled_dim(model) * sizeof(float));
    int32_t *second_ids = malloc(rows * sizeof *second_ids);
    df_status status = DF_OK;
    if (!part || !pooled_all || !second_ids) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding the prompt");
        goto done;
    }
    if (model->text_encoder) {
        status = df_clip_text_encoder_forward_hidden(model->text_encoder, ids, (int)window_count,
                                                     clip_skip, part, NULL, error);
        if (status)
            goto done;
        for (size_t r = 0; r < rows; r++)
            memcpy(out + r * (size_t)dim, part + r * (size_t)first, (size_t)first * sizeof(float));
    }
    if (ids_2 == ids && model->text_encoder)
        repad_for_second(ids_2, window_count, second_ids);
    else
        memcpy(second_ids, ids_2, rows * sizeof *second_ids);
    status = df_clip_text_encoder_forward_hidden(model->text_encoder_2, second_ids,
                                                 (int)window_count, clip_skip, part, pooled_all,
                                                 error);
    if (status)
        goto done;
    for (size_t r = 0; r < rows; r++)
        memcpy(out + r * (size_t)dim + first, part + r * (size_t)second,
               (size_t)second * sizeof(float));
    if (pooled)
        memcpy(pooled, pooled_all, (size_t)df_model_pooled_dim(model) * sizeof(float));
done:
    free(part);
    free(pooled_all);
    free(second_ids);
    return status;
}

df_status df_model_encode_tokens(df_model *model, const int32_t *ids, size_t window_count,
                                 int clip_skip, float *out, df_error *error)
{
    if (!model || !ids || !out || window_count == 0 || window_count > 4096)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "encode: %zu token windows is out of range (1..4096)", window_count);
    if (model->text_encoder_2)
        return encode_sdxl(model, ids, ids, window_count, clip_skip, out, NULL, error);
    return df_clip_text_encoder_forward(model->text_encoder, ids, (int)window_count, clip_skip, out,
                                        error);
}

static df_status tokenize_with(const df_tokenizer *tokenizer, int32_t pad, const char *text,
                               unsigned flags, df_token_windows *windows, df_error *error)
{
    return (flags & DF_PROMPT_WEIGHTING)
               ? df_tokenize_weighted_windows(tokenizer, text, strlen(text), pad, windows, error)
               : df_tokenize_windows(tokenizer, text, strlen(text), pad, windows, error);
}

df_status df_model_tokenize(df_model *model, const char *text, unsigned flags,
                            df_token_windows *windows, df_error *error)
{
    return tokenize_with(model->tokenizer, df_model_pad_token(model), text, flags, windows,
                         error);
}

/* `windows` grown to `count` windows with the empty prompt's (A1111's
 * padding of the shorter of two prompts). */
static df_status extend_windows(const df_tokenizer *tokenizer, int32_t pad,
                                df_token_windows *windows, size_t count, df_error *error)
{
    if (windows->window_count >= count)
        return DF_OK;
    df_token_windows empty;
    df_status status = tokenize_with(tokenizer, pad, "", 0, &empty, error);
    if (status)
        return status;
    const size_t values = count * DF_CLIP_WINDOW;
    int32_t *ids = realloc(windows->ids, values * sizeof *ids);
    if (ids)
        windows->ids = ids;
    float *weights = realloc(windows->weights, values * sizeof *weights);
    if (weights)
        windows->weights = weights;
    if (!ids || !weights) {
        df_token_windows_free(&empty);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding the prompt");
    }
    for (size_t w = windows->window_count; w < count; w++) {
        memcpy(ids + w * DF_CLIP_WINDOW, empty.ids, DF_CLIP_WINDOW * sizeof *ids);
        memcpy(weights + w * DF_CLIP_WINDOW, empty.weights, DF_CLIP_WINDOW * sizeof *weights);
    }
    windows->window_count = count;
    df_token_windows_free(&empty);
    return DF_OK;
}

df_status df_model_encode_condition(df_model *model, const char *prompt, const char *prompt_2,
                                    int clip_skip, unsigned flags, float **out,
                                    size_t *out_tokens, float *pooled, df_error *error)
{
    *out = NULL;
    *out_tokens = 0;
    if (prompt_2 && !model->text_encoder_2)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "prompt_2: this model has one text encoder (prompt_2 is for SDXL's "
                            "second)");
    if (prompt_2 && !model->text_encoder)
        prompt = prompt_2; /* the refiner's only encoder is the second */
    df_token_windows windows = {0}, windows_2 = {0};
    df_status status = df_model_tokenize(model, prompt, flags, &windows, error);
    /* SDXL base: the second encoder's own tokenization of its prompt */
    const int separate = model->tokenizer_2 != NULL;
    if (!status && separate)
        status = tokenize_with(model->tokenizer_2, 0, prompt_2 ? prompt_2 : prompt, flags,
                               &windows_2, error);
    if (!status && separate) {
        size_t count = windows.window_count > windows_2.window_count ? windows.window_count
                                                                     : windows_2.window_count;
        status = extend_windows(model->tokenizer, df_model_pad_token(model), &windows,
                                count, error);
        if (!status)
            status = extend_windows(model->tokenizer_2, 0, &windows_2, count, error);
    }
    const int dim = df_model_text_dim(model);
    size_t tokens = windows.window_count * DF_CLIP_WINDOW;
    float *hidden = status ? NULL : malloc(tokens * (size_t)dim * sizeof(float));
    if (!status && !hidden)
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding the prompt");
    if (!status && model->text_encoder_2)
        status = encode_sdxl(model, windows.ids, separate ? windows_2.ids : windows.ids,
                             windows.window_count, clip_skip, hidden, pooled, error);
    else if (!status)
        status = df_clip_text_encoder_forward(model->text_encoder, windows.ids,
                                              (int)windows.window_count, clip_skip, hidden, error);
    if (!status) {
        /* A1111's emphasis, per encoder: each weights (and re-means) its own
         * hidden states, as its two embedders do before they are joined. */
        const int first = model->text_encoder && model->text_encoder_2
                              ? df_clip_text_encoder_config(model->text_encoder)->hidden_size
                              : dim;
        for (size_t w = 0; w < windows.window_count; w++) {
            df_prompt_apply_weights_strided(hidden + w * DF_CLIP_WINDOW * (size_t)dim, dim, first,
                                            windows.weights + w * DF_CLIP_WINDOW);
            if (first < dim)
                df_prompt_apply_weights_strided(
                    hidden + w * DF_CLIP_WINDOW * (size_t)dim + first, dim, dim - first,
                    (separate ? windows_2.weights : windows.weights) + w * DF_CLIP_WINDOW);
        }
    }
    df_token_windows_free(&windows);
    df_token_windows_free(&windows_2);
    if (status) {
        free(hidden);
        return status;
    }
    *out = hidden;
    *out_tokens = tokens;
    return DF_OK;
}

df_status df_model_encode_prompt(df_model *model, const char *prompt, int clip_skip,
                                 unsigned flags, float **out, size_t *out_tokens,
                                 df_error *error)
{
    return df_model_encode_condition(model, prompt, NULL, clip_skip, flags, out, out_tokens, NULL,
                                     error);
}

/* ------------------------------------------------------------------------ */
/* Textual inversion                                                        */

/* An embedding's vectors for one encoder: `tensor` [n, width] or [width],
 * as f32 (malloc'ed) after checking the width. */
static df_status embedding_vectors(const char *path, const char *key, const df_st_tensor *tensor,
                                   const df_clip_text_encoder *encoder, float **out, int *count,
                                   df_error *error)
{
    const int width = df_clip_text_encoder_config(encoder)->hidden_size;
    df_weight weight = {0};
    if (!df_st_dtype_to_weight(tensor->st_dtype, &weight.dtype) || tensor->ndim < 1 ||
        tensor->ndim > 2)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: tensor '%s' is not an embedding ([vectors, width] in f32, f16 "
                            "or bf16)",
                            path, key);
    const int64_t n = tensor->ndim == 2 ? tensor->shape[0] : 1;
    const int64_t w = tensor->shape[tensor->ndim - 1];
    if (w != width)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: embedding '%s' is %lld wide, the text encoder %d (an embedding "
                            "for another model family?)",
                            path, key, (long long)w, width);
    if (n < 1 || n > 75)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: embedding '%s' has %lld vectors (1..75)", path, key, (long long)n);
    weight.ndim = 1;
    weight.shape[0] = n * w;
    weight.data = tensor->data;
    if (!(*out = malloc((size_t)(n * w) * sizeof(float))))
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory loading %s", path);
    df_weight_to_f32(&weight, 0, n * w, *out);
    *count = (int)n;
    return DF_OK;
}

df_status df_model_load_embedding(df_model *model, const char *path, const char *token,
                                  df_error *error)
{
    if (!model || !path)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "embedding: model and path required");
    df_safetensors *file = NULL;
    df_status status = df_safetensors_open(path, &file, error);
    if (status)
        return df_error_prefix(error, "embedding: ");
    /* Which tensor for which encoder: A1111's emb_params for the only (or
     * first) encoder, SDXL's clip_l / clip_g, or diffusers' one tensor. */
    df_clip_text_encoder *first = model->text_encoder ? model->text_encoder : model->text_encoder_2;
    const df_st_tensor *for_first = NULL, *for_second = NULL;
    const char *key_first = NULL;
    char name[256] = "";
    if ((for_first = df_safetensors_find(file, "emb_params"))) {
        key_first = "emb_params";
    } else if (df_safetensors_find(file, "clip_l") || df_safetensors_find(file, "clip_g")) {
        if (!model->text_encoder_2) {
            status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                  "%s: an SDXL embedding (clip_l / clip_g) for a %s model", path,
                                  df_family_name(df_model_family(model)));
            goto done;
        }
        for_second = df_safetensors_find(file, "clip_g");
        if (model->text_encoder) {
            for_first = df_safetensors_find(file, "clip_l");
            key_first = "clip_l";
        } else {
            for_first = for_second, key_first = "clip_g", for_second = NULL;
        }
        if (!for_first || (model->text_encoder && !for_second)) {
            status = df_error_set(error, DF_ERR_FORMAT, "%s: an SDXL embedding needs both clip_l "
                                  "and clip_g", path);
            goto done;
        }
    } else if (df_safetensors_count(file) == 1) {
        for_first = df_safetensors_at(file, 0);
        key_first = for_first->name;
        snprintf(name, sizeof name, "%s", for_first->name);
    } else {
        status = df_error_set(error, DF_ERR_FORMAT,
                              "%s: not an embedding (no emb_params, clip_l/clip_g, or single "
                              "learned_embeds tensor)",
                              path);
        goto done;
    }
    if (token && *token)
        snprintf(name, sizeof name, "%s", token);
    if (!*name) { /* the file name without .safetensors */
        const char *base = strrchr(path, '/');
        snprintf(name, sizeof name, "%s", base ? base + 1 : path);
        char *dot = strstr(name, ".safetensors");
        if (dot && !dot[12])
            *dot = 0;
    }
    if (!*name || strchr(name, ' ')) {
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                              "%s: embedding token '%s' must be one word", path, name);
        goto done;
    }
    float *first_vectors = NULL, *second_vectors = NULL;
    int first_count = 0, second_count = 0;
    status = embedding_vectors(path, key_first, for_first, first, &first_vectors, &first_count,
                               error);
    if (!status && for_second)
        status = embedding_vectors(path, "clip_g", for_second, model->text_encoder_2,
                                   &second_vectors, &second_count, error);
    if (!status && for_second && second_count != first_count)
        status = df_error_set(error, DF_ERR_FORMAT, "%s: clip_l has %d vectors, clip_g %d", path,
                              first_count, second_count);
    int32_t first_id = 0, second_id = 0;
    /* A token loaded already is refused by the tokenizer after its vectors
     * were added: those ids are then never emitted (the model behaves as
     * before). */
    if (!status) {
        status = df_clip_text_encoder_add_vectors(first, first_vectors, first_count, &first_id,
                                                  error);
    }
    if (!status)
        status = df_tokenizer_add_token(model->tokenizer, name, first_id, first_count, error);
    if (!status && for_second) {
        status = df_clip_text_encoder_add_vectors(model->text_encoder_2, second_vectors,
                                                  second_count, &second_id, error);
        if (!status)
            status = df_tokenizer_add_token(model->tokenizer_2, name, second_id, second_count,
                                            error);
    }
    free(first_vectors);
    free(second_vectors);
done:
    df_safetensors_close(file);
    return status;
}
