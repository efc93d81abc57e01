/*
 * vae.h — diffusers' AutoencoderKL (the SD 1.x/2.x VAE): decoder and encoder.
 *
 * Tensors at the API are NCHW f32 like diffusers: decode takes latents that
 * the caller has already divided by the scaling factor (as diffusers'
 * pipelines do before vae.decode) and returns the decoder's raw output,
 * nominally [-1, 1] (not clamped); encode returns the latent distribution's
 * mean and log-variance (quant_conv output split in two; the log-variance
 * clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution does),
 * from which the pipeline samples. Inside, activations are NHWC and memory is one arena.
 * Tiled decoding bounds memory for large images: tiles of the latent with an
 * overlap, blended linearly across the seams as diffusers' tiled_decode does.
 */
#ifndef DF_MODELS_VAE_H
#define DF_MODELS_VAE_H

#include "diffuse.h"
#include "io/checkpoint.h"
#include "runtime/threads.h"

typedef struct df_vae df_vae;

typedef struct df_vae_config {
    int in_channels;       /* image channels, 3 */
    int latent_channels;   /* 4 for SD 1.x/2.x */
    int block_count;
    int block_out_channels[8];
    int layers_per_block;
    int norm_groups;
    float scaling_factor;  /* 0.18215 for SD 1.x/2.x */
    int downscale;         /* 2^(block_count-1): 8 for SD */
} df_vae_config;

/* The VAE of a checkpoint (its DF_COMPONENT_VAE). */
df_status df_vae_load(const df_checkpoint *checkpoint, df_pool *pool, df_vae **out,
                      df_error *error);
void df_vae_free(df_vae *vae);
const df_vae_config *df_vae_get_config(const df_vae *vae);

/* latents [batch, latent_channels, h, w] -> image [batch, 3, h*downscale, w*downscale].
 * Decode and encode stop with DF_ERR_CANCELLED between blocks (and tiles)
 * once the pool's stop function fires (df_pool_set_stop); the output is
 * then incomplete. */
df_status df_vae_decode(df_vae *vae, const float *latents, int batch, int height, int width,
                        float *image, df_error *error);

/* Scratch bytes df_vae_decode of one latent of h x w (tiling as set) and
 * df_vae_encode of an H x W image reserve (one arena serves both), and what
 * the arena holds now: for memory estimates. */
size_t df_vae_decode_scratch_bytes(const df_vae *vae, int height, int width);
size_t df_vae_encode_scratch_bytes(const df_vae *vae, int height, int width);
size_t df_vae_reserved_bytes(const df_vae *vae);
/* Bytes of the pool's shared workspace (Winograd's, kernels.h) a decode of
 * one h x w latent (tiling as set) and an encode of an H x W image may take. */
size_t df_vae_decode_workspace_bytes(const df_vae *vae, int height, int width);
size_t df_vae_encode_workspace_bytes(const df_vae *vae, int height, int width);

/* image [batch, 3, H, W] (H, W multiples of downscale, values in [-1, 1])
 * -> mean and logvar, each [batch, latent_channels, H/downscale, W/downscale]. */
df_status df_vae_encode(df_vae *vae, const float *image, int batch, int height, int width,
                        float *mean, float *logvar, df_error *error);

/* Tiled decoding: latent tiles of `tile` x `tile` overlapping by `overlap`
 * latent pixels (0 <= overlap < tile); tile <= 0 turns it off (the default).
 * A latent no larger than one tile is decoded whole. The algorithm is
 * diffusers' AutoencoderKL.tiled_decode: tiles every tile - overlap latent
 * pixels, blended over overlap*downscale image pixels and cropped. diffusers'
 * enable_tiling() with tile_latent_min_size T and tile_sample_min_size
 * T*downscale (overlap factor 0.25) is tile = T, overlap = T/4 when T is a
 * multiple of 4 (otherwise diffusers' own output is not T*downscale-aligned).
 * Memory is bounded by the tile (plus seams one image row of tiles wide). */
df_status df_vae_set_tiling(df_vae *vae, int tile, int overlap, df_error *error);

/* An error naming both numbers unless the VAE's latent channels are
 * `expected` (the UNet's in_channels): for a VAE loaded from another file. */
df_status df_vae_check_latent_channels(const df_vae *vae, int expected, df_error *error);

#endif
