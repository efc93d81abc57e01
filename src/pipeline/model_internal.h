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
    /* The tokenizer pads as the first encoder's does (SD 2.x and the SDXL
     * refiner: "!", id 0; else the end token). SDXL's base has a second one
     * for text_encoder_2, padding with "!" — which, being a special token
     * of transformers' tokenizer, also splits every "!" of the text off as
     * its own token: the two tokenizations of one prompt differ. */
    df_tokenizer *tokenizer;
    df_tokenizer *tokenizer_2;            /* SDXL base only, else NULL */
    df_clip_text_encoder *text_encoder;   /* NULL for the SDXL refiner */
    df_clip_text_encoder *text_encoder_2; /* SDXL's OpenCLIP bigG, else NULL */
    int force_zeros_for_empty_prompt;     /* SDXL base: no negative prompt = zero embeddings */
    struct df_lora_state *lora;           /* the LoRA set applied now, or NULL (lora.h) */
    df_unet *unet;                  /* NULL until needed */
    df_vae *vae;                    /* NULL until needed */
    df_checkpoint *vae_checkpoint;  /* a standalone VAE (--vae), or NULL */
    df_taesd *taesd;                /* previews, or NULL */
};

/* The model's conditioning for one prompt (SDXL: prompt_2, NULL meaning
 * `prompt`, for the second encoder): hidden [tokens, df_model_text_dim],
 * caller frees; pooled [df_model_pooled_dim] when the model has one (the
 * first window's, as A1111 takes it), else untouched. */
df_status df_model_encode_condition(df_model *model, const char *prompt, const char *prompt_2,
                                    int clip_skip, unsigned flags, float **hidden,
                                    size_t *tokens, float *pooled, df_error *error);
int df_model_pooled_dim(const df_model *model); /* 0 unless SDXL */

/* Builds the UNet and VAE if not built yet. */
df_status df_model_load_denoiser(df_model *model, df_error *error);

/* The token windows df_model_encode_prompt encodes `text` as (A1111's
 * weighted windows with DF_PROMPT_WEIGHTING): the one tokenizing step that
 * encoding and the memory estimate share. Caller frees *windows. */
df_status df_model_tokenize(df_model *model, const char *text, unsigned flags,
                            df_token_windows *windows, df_error *error);

#endif
