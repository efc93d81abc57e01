/*
 * unet.h — diffusers' UNet2DConditionModel for SD 1.x and 2.x.
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
    int block_has_attention[DF_UNET_MAX_BLOCKS]; /* per down block (up blocks mirror) */
    int attention_heads[DF_UNET_MAX_BLOCKS];     /* heads per down block */
    int layers_per_block;
    int transformer_layers;                 /* per attention, 1 in SD 1.x/2.x */
    int cross_attention_dim;
    int use_linear_projection;              /* SD 2.x: proj_in/out are Linear */
    int norm_groups;
    float norm_eps;
    int sample_size;                        /* default latent size from config */
    int flip_sin_to_cos;                    /* timestep embedding: [cos | sin] when set */
    float freq_shift;                       /* timestep embedding: downscale_freq_shift */
} df_unet_config;

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
 *   out:      [batch, out_channels, height, width]
 * Errors: shapes that do not fit the model (sizes not such multiples, context
 * width not cross_attention_dim) are DF_ERR_INVALID_ARGUMENT naming the value.
 * DF_ERR_CANCELLED, with `out` left unwritten, once the pool's stop function
 * fires (df_pool_set_stop): checked between blocks, and the kernels skip
 * their remaining work meanwhile. */
df_status df_unet_forward(df_unet *unet, const float *latents, int batch, int height, int width,
                          const float *timesteps, const float *context, int context_tokens,
                          float *out, df_error *error);

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
