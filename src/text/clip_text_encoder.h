/*
 * clip_text_encoder.h — the CLIP text transformer of SD 1.x (OpenAI ViT-L/14,
 * quick-GELU), SD 2.x (OpenCLIP ViT-H/14, GELU) and SDXL (both ViT-L and
 * OpenCLIP ViT-bigG/14 with its projection), as transformers'
 * CLIPTextModel / CLIPTextModelWithProjection compute it: token + position
 * embeddings, pre-norm causal self-attention blocks, final layer norm.
 *
 * The encoder borrows its weights from a df_checkpoint (which must outlive
 * it) and owns one scratch arena, planned for the largest batch seen so far.
 * One forward at a time per encoder: it is not safe to call concurrently.
 */
#ifndef DF_TEXT_CLIP_TEXT_ENCODER_H
#define DF_TEXT_CLIP_TEXT_ENCODER_H

#include <stdint.h>

#include "diffuse.h"
#include "io/checkpoint.h"
#include "runtime/threads.h"

typedef struct df_clip_config {
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int layers;
    int heads;
    int max_positions;
    int quick_gelu; /* 1: x*sigmoid(1.702x) (OpenAI CLIP), 0: exact GELU (OpenCLIP) */
    float layer_norm_eps;
    int eos_token_id;   /* where the pooled output is taken (transformers' rule) */
    int projection_dim; /* text_projection's width (CLIPTextModelWithProjection), else 0 */
} df_clip_config;

typedef struct df_clip_text_encoder df_clip_text_encoder;

/* component: DF_COMPONENT_TEXT_ENCODER or DF_COMPONENT_TEXT_ENCODER_2. */
df_status df_clip_text_encoder_load(const df_checkpoint *checkpoint, df_component component,
                                    df_pool *pool, df_clip_text_encoder **out, df_error *error);
void df_clip_text_encoder_free(df_clip_text_encoder *encoder);
/* Scratch bytes an encode of `sequences` windows reserves, and what the
 * arena holds now: for memory estimates. */
size_t df_clip_text_encoder_scratch_bytes(const df_clip_text_encoder *encoder, int sequences);
size_t df_clip_text_encoder_reserved_bytes(const df_clip_text_encoder *encoder);
const df_clip_config *df_clip_text_encoder_config(const df_clip_text_encoder *encoder);

/* Encodes `sequences` rows of DF_CLIP_WINDOW token ids into
 * out[sequences * 77 * hidden_size]. clip_skip as in diffuse.h (A1111's
 * meaning: 1 = all layers, 2 = stop one layer earlier); the final layer norm
 * is applied either way. Token ids outside the vocabulary are an error. */
df_status df_clip_text_encoder_forward(df_clip_text_encoder *encoder, const int32_t *ids,
                                       int sequences, int clip_skip, float *out,
                                       df_error *error);

/* SDXL's use: hidden[sequences * 77 * hidden_size] = hidden_states[-(clip_skip
 * + 1)] as transformers numbers them (clip_skip 1: the penultimate layer's
 * output, as diffusers' SDXL pipeline takes it, with no final layer norm),
 * and, when `pooled` is not NULL, pooled[sequences * pooled_dim] = the
 * text_projection (if the encoder has one) of the final-normed last layer
 * at each window's end token (CLIPTextModelWithProjection's text_embeds). */
df_status df_clip_text_encoder_forward_hidden(df_clip_text_encoder *encoder, const int32_t *ids,
                                              int sequences, int clip_skip, float *hidden,
                                              float *pooled, df_error *error);
int df_clip_text_encoder_pooled_dim(const df_clip_text_encoder *encoder);

/* Textual inversion: `count` vectors of hidden_size floats (copied) become
 * the embeddings of ids *first_id .. *first_id + count - 1, just past the
 * vocabulary and the vectors added before. */
df_status df_clip_text_encoder_add_vectors(df_clip_text_encoder *encoder, const float *vectors,
                                           int count, int32_t *first_id, df_error *error);

#endif
