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

#endif
