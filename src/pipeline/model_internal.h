/*
 * model_internal.h — the df_model struct, shared by model.c (opening,
 * prompts) and generate.c (the denoising pipeline). The UNet and VAE are
 * built on first use, so the text-only commands (encode) need neither.
 */
#ifndef DF_PIPELINE_MODEL_INTERNAL_H
#define DF_PIPELINE_MODEL_INTERNAL_H

#include "diffuse.h"
#include "io/checkpoint.h"
#include "models/taesd.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/clip_text_encoder.h"
#include "text/prompt_weights.h"
#include "text/tokenizer.h"

struct df_model {
    df_runtime *runtime;
    char *path;
    df_checkpoint *checkpoint;
    df_tokenizer *tokenizer;
    df_clip_text_encoder *text_encoder;
    df_unet *unet;                  /* NULL until needed */
    df_vae *vae;                    /* NULL until needed */
    df_checkpoint *vae_checkpoint;  /* a standalone VAE (--vae), or NULL */
    df_taesd *taesd;                /* previews, or NULL */
};

/* Builds the UNet and VAE if not built yet. */
df_status df_model_load_denoiser(df_model *model, df_error *error);

/* The token windows df_model_encode_prompt encodes `text` as (A1111's
 * weighted windows with DF_PROMPT_WEIGHTING): the one tokenizing step that
 * encoding and the memory estimate share. Caller frees *windows. */
df_status df_model_tokenize(df_model *model, const char *text, unsigned flags,
                            df_token_windows *windows, df_error *error);

#endif
