/*
 * unet.h — diffusers' UNet2DConditionModel for SD 1.x, 2.x and SDXL (base
 * and refiner: per-level transformer depth and the "text_time" added
 * embedding of the pooled text embedding and the size conditioning).
 *
 * Tensors exchanged with the caller are NCHW f32, as in diffusers (so the
 * pipeline's noise, which must follow torch's element order, needs no
 * transpose); inside, activations are NHWC. The UNet borrows its weights
 * from a df_checkpoint (which must outlive it) and owns one scratch arena,
 * planned from (batch, height, width) on the first call with that shape or
 * any larger one. One forward at a time per UNet.
 */
#ifndef DF_MODELS_UNET_H
#define DF_MODELS_UNET_H

#include "diffuse.h"
#include "io/checkpoint.h"
#include "runtime/threads.h"

#define DF_UNET_MAX_BLOCKS 8

typedef struct df_unet_config {
    int in_channels, out_channels;
    int block_count;                        /* down blocks (= up blocks) */
    int block_out_channels[DF_UNET_MAX_BLOCKS];
    int block_has_attention[DF_UNET_MAX_BLOCKS]; /* per down block */
    int up_has_attention[DF_UNET_MAX_BLOCKS];    /* per up block, in up order (most
                                                    mirror the down blocks) */
    int attention_heads[DF_UNET_MAX_BLOCKS];     /* heads per down block */
    int layers_per_block;
    int transformer_layers[DF_UNET_MAX_BLOCKS]; /* per down level (up levels mirror):
                                               1 in SD 1.x/2.x, SDXL 1, 2, 10 */
    int mid_transformer_layers;             /* the last level's */
    int cross_attention_dim;
    int use_linear_projection;              /* SD 2.x: proj_in/out are Linear */
    int norm_groups;
    float norm_eps;
    int sample_size;                        /* default latent size from config */
    int flip_sin_to_cos;                    /* timestep embedding: [cos | sin] when set */
    float freq_shift;                       /* timestep embedding: downscale_freq_shift */
    /* addition_embed_type "text_time" (SDXL), else 0: each of the
     * time_ids embedded in addition_time_embed_dim sinusoids, after the
     * pooled text embedding: add_embedding_dim = text_embeds_dim +
     * time_ids * addition_time_embed_dim. */
    int addition_time_embed_dim, add_embedding_dim;
} df_unet_config;

/* SDXL's added conditioning, per batch item (NULL for SD 1.x/2.x). */
typedef struct df_unet_added {
    const float *text_embeds; /* [batch, text_embeds_dim]: the pooled text embedding */
    int text_embeds_dim;
    const float *time_ids;    /* [batch, time_id_count]: sizes, crop, aesthetic score */
    int time_id_count;
} df_unet_added;

typedef struct df_unet df_unet;

df_status df_unet_load(const df_checkpoint *checkpoint, df_pool *pool, df_unet **out,
                       df_error *error);
void df_unet_free(df_unet *unet);
const df_unet_config *df_unet_get_config(const df_unet *unet);

/* One denoising evaluation.
 *   latents:  [batch, in_channels, height, width]   (height, width: multiples of
 *             2^(down blocks - 1): 8 for SD)
 *   timesteps:[batch]  (fractional values allowed, as Karras-style samplers use)
 *   context:  [batch, context_tokens, cross_attention_dim] (text encoder output;
 *             context_tokens is a multiple of 77 for long prompts)
 *   added:    SDXL's pooled text embedding and time ids, NULL otherwise
 *   out:      [batch, out_channels, height, width]
 * Errors: shapes that do not fit the model (sizes not such multiples, context
 * width not cross_attention_dim) are DF_ERR_INVALID_ARGUMENT naming the value.
 * DF_ERR_CANCELLED, with `out` left unwritten, once the pool's stop function
 * fires (df_pool_set_stop): checked between blocks, and the kernels skip
 * their remaining work meanwhile. */
df_status df_unet_forward(df_unet *unet, const float *latents, int batch, int height, int width,
                          const float *timesteps, const float *context, int context_tokens,
                          const df_unet_added *added, float *out, df_error *error);
/* Whether the UNet needs df_unet_added (SDXL), and the time_ids count it
 * takes for a text embedding of `text_embeds_dim` (6 for the base, 5 for
 * the refiner); 0 when the widths do not add up. */
int df_unet_time_id_count(const df_unet *unet, int text_embeds_dim);

/* The argument checks df_unet_forward makes, with the context's width as
 * the caller has it (a pipeline can check a text encoder's output width
 * against the UNet before running anything). DF_OK or
 * DF_ERR_INVALID_ARGUMENT naming the value. */
df_status df_unet_check_inputs(const df_unet *unet, int batch, int height, int width,
                               int context_tokens, int context_dim, df_error *error);

/* Bytes of scratch a forward of this shape plans (for memory reports), and
 * what the arena holds now. */
size_t df_unet_scratch_bytes(const df_unet *unet, int batch, int height, int width,
                             int context_tokens);
size_t df_unet_reserved_bytes(const df_unet *unet);
/* Bytes of the pool's shared workspace the forward's convolutions may take
 * (Winograd's transformed tiles; kernels.h). */
size_t df_unet_conv_workspace_bytes(const df_unet *unet, int batch, int height, int width);

#endif
