/*
 * taesd.h — TAESD, the tiny autoencoder (madebyollin/taesd): a few 3x3 conv
 * blocks with ReLU, three 2x upsamplings (decoder) or stride-2 convs
 * (encoder). Used as the fast preview decoder and as a cheap VAE.
 *
 * Loads both namings: diffusers' AutoencoderTiny (a folder or file with
 * `decoder.layers.N.*` / `encoder.layers.N.*`) and the original
 * taesd_decoder / taesd_encoder safetensors (`N.*`). The latent channel count
 * is read from the weights. Tensors at the API are NCHW f32, with diffusers'
 * AutoencoderTiny convention for both namings: decode takes the UNet's
 * latents as they are (no scaling factor, no latent_magnitude/latent_shift)
 * and returns DecoderTiny's output, tanh(z/3)*3 → layers → x*2-1, an image
 * nominally in [-1, 1] (not clamped), like AutoencoderKL's; encode takes an
 * image in [-1, 1] and returns EncoderTiny's layers((x+1)/2). (The original
 * taesd.py works on [0, 1] images; the conversion is done here.)
 */
#ifndef DF_MODELS_TAESD_H
#define DF_MODELS_TAESD_H

#include "diffuse.h"
#include "runtime/threads.h"

typedef struct df_taesd df_taesd;

/* path: a diffusers AutoencoderTiny folder (config.json +
 * diffusion_pytorch_model.safetensors), or a taesd_decoder.safetensors /
 * taesd_encoder.safetensors file (a decoder-only file gives a TAESD that
 * cannot encode, and the reverse). */
df_status df_taesd_open(const char *path, df_pool *pool, df_taesd **out, df_error *error);
void df_taesd_free(df_taesd *taesd);
/* Scratch bytes a decode of an h x w latent reserves, and what the arena
 * holds now: for memory estimates. */
size_t df_taesd_decode_scratch_bytes(const df_taesd *taesd, int height, int width);
size_t df_taesd_reserved_bytes(const df_taesd *taesd);
/* Bytes of the pool's shared workspace (Winograd's, kernels.h) a decode of
 * one h x w latent may take. */
size_t df_taesd_decode_workspace_bytes(const df_taesd *taesd, int height, int width);
int df_taesd_latent_channels(const df_taesd *taesd);
int df_taesd_can_decode(const df_taesd *taesd);
int df_taesd_can_encode(const df_taesd *taesd);

/* latents [batch, c, h, w] -> image [batch, 3, 8h, 8w], same value convention
 * as diffusers' AutoencoderTiny.decode. */
df_status df_taesd_decode(df_taesd *taesd, const float *latents, int batch, int height, int width,
                          float *image, df_error *error);
/* image [batch, 3, H, W] -> latents [batch, c, H/8, W/8], as AutoencoderTiny.encode. */
df_status df_taesd_encode(df_taesd *taesd, const float *image, int batch, int height, int width,
                          float *latents, df_error *error);

#endif
