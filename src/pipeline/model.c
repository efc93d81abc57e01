/*
 * model.c — the public df_model: an opened checkpoint with the parts of the
 * model built on demand. Today that is the text side (tokenizer and CLIP text
 * encoder); the UNet and VAE join here as they are written.
 *
 * Ownership: the model owns its checkpoint (the mmapped files), tokenizer and
 * encoder; it borrows the runtime's pool. Not safe for concurrent calls.
 */
#include <stdlib.h>
#include <string.h>

#include "diffuse.h"
#include "io/checkpoint.h"
#include "runtime/error.h"
#include "runtime/runtime.h"
#include "text/clip_text_encoder.h"
#include "text/prompt_weights.h"
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
    if (family == DF_FAMILY_SDXL) {
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: SDXL checkpoints are recognised but not supported yet "
                              "(SD 1.x and 2.x are)", path);
        goto fail;
    }
    if (family != DF_FAMILY_SD1 && family != DF_FAMILY_SD2) {
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: not a Stable Diffusion 1.x or 2.x checkpoint (family unknown)",
                              path);
        goto fail;
    }
    status = df_tokenizer_create_for_pad(family == DF_FAMILY_SD2 ? 0 : DF_CLIP_END_TOKEN,
                                         &model->tokenizer, error);
    if (status)
        goto fail;
    status = df_clip_text_encoder_load(model->checkpoint, df_runtime_pool(runtime),
                                       &model->text_encoder, error);
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
    df_taesd_free(model->taesd);
    df_vae_free(model->vae);
    df_checkpoint_free(model->vae_checkpoint);
    df_unet_free(model->unet);
    df_clip_text_encoder_free(model->text_encoder);
    df_tokenizer_free(model->tokenizer);
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
    return df_clip_text_encoder_config(model->text_encoder)->hidden_size;
}

/* The tokenizers SD checkpoints ship with pad differently: OpenAI CLIP (SD 1.x)
 * pads with the end token, OpenCLIP (SD 2.x) with "!" (id 0). The padded
 * positions are cross-attended to by the UNet, so this matters. */
int32_t df_model_pad_token(const df_model *model)
{
    return df_model_family(model) == DF_FAMILY_SD2 ? 0 : DF_CLIP_END_TOKEN;
}

const df_tokenizer *df_model_tokenizer(const df_model *model)
{
    return model->tokenizer;
}

df_status df_model_encode_tokens(df_model *model, const int32_t *ids, size_t window_count,
                                 int clip_skip, float *out, df_error *error)
{
    if (!model || !ids || !out || window_count == 0 || window_count > 4096)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "encode: %zu token windows is out of range (1..4096)", window_count);
    return df_clip_text_encoder_forward(model->text_encoder, ids, (int)window_count, clip_skip, out,
                                        error);
}

df_status df_model_tokenize(df_model *model, const char *text, unsigned flags,
                            df_token_windows *windows, df_error *error)
{
    return (flags & DF_PROMPT_WEIGHTING)
               ? df_tokenize_weighted_windows(model->tokenizer, text, strlen(text),
                                              df_model_pad_token(model), windows, error)
               : df_tokenize_windows(model->tokenizer, text, strlen(text),
                                     df_model_pad_token(model), windows, error);
}

df_status df_model_encode_prompt(df_model *model, const char *prompt, int clip_skip,
                                 unsigned flags, float **out, size_t *out_tokens,
                                 df_error *error)
{
    *out = NULL;
    *out_tokens = 0;
    df_token_windows windows;
    df_status status = df_model_tokenize(model, prompt, flags, &windows, error);
    if (status)
        return status;
    const int dim = df_model_text_dim(model);
    size_t tokens = windows.window_count * DF_CLIP_WINDOW;
    float *hidden = malloc(tokens * (size_t)dim * sizeof(float));
    if (!hidden) {
        df_token_windows_free(&windows);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding the prompt");
    }
    status = df_model_encode_tokens(model, windows.ids, windows.window_count, clip_skip, hidden,
                                    error);
    if (!status)
        for (size_t w = 0; w < windows.window_count; w++)
            df_prompt_apply_weights(hidden + w * DF_CLIP_WINDOW * (size_t)dim,
                                    windows.weights + w * DF_CLIP_WINDOW, dim);
    df_token_windows_free(&windows);
    if (status) {
        free(hidden);
        return status;
    }
    *out = hidden;
    *out_tokens = tokens;
    return DF_OK;
}
