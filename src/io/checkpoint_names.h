/*
 * checkpoint_names.h — internal to src/io: the mapping from the original
 * (LDM / OpenCLIP) tensor names of a single-file Stable Diffusion checkpoint
 * to the names diffusers gives the same weights, as diffusers'
 * convert_ldm_clip_checkpoint, convert_open_clip_checkpoint,
 * convert_ldm_unet_checkpoint and convert_ldm_vae_checkpoint do.
 *
 * The mapping depends on the block structure (UNet layers per block, VAE
 * decoder block count, OpenCLIP layer count), which is read from the names
 * themselves in a first pass (df_ldm_scan) so no config file is needed.
 */
#ifndef DF_IO_CHECKPOINT_NAMES_H
#define DF_IO_CHECKPOINT_NAMES_H

#include "io/checkpoint.h"

#define DF_NAME_MAX 256

typedef struct df_ldm_layout {
    int input_blocks;      /* UNet input_blocks.N count (max index + 1) */
    int first_downsample;  /* index of the first input_blocks.N.0.op, or -1 */
    int layers_per_block;  /* derived by df_ldm_finish */
    int vae_up_blocks;     /* decoder.up.N count */
    int openclip_layers;   /* cond_stage_model.model.transformer.resblocks.N count */
    int has_clip;          /* cond_stage_model.transformer.* (SD1 CLIP) */
    int has_openclip;      /* cond_stage_model.model.* (SD2 OpenCLIP) */
    int has_sdxl;          /* conditioner.embedders.* */
} df_ldm_layout;

typedef enum df_map_kind {
    DF_MAP_SKIP = 0, /* not a weight of a component we expose; `reason` says why */
    DF_MAP_ONE,      /* one diffusers tensor: `name` */
    DF_MAP_QKV       /* a fused in_proj split into rows: `name` + "q_proj" / ... + `suffix` */
} df_map_kind;

typedef struct df_name_map {
    df_map_kind kind;
    df_component component;
    char name[DF_NAME_MAX];
    char suffix[16];
    int squeeze;        /* 1x1 conv weight exposed as a linear one: drop trailing 1 dims */
    int transpose;      /* a 2-D weight stored [in, out]: exposed as [out, in] (a copy) */
    const char *reason; /* static text, for DF_MAP_SKIP */
} df_name_map;

void df_ldm_scan(df_ldm_layout *layout, const char *original);
void df_ldm_finish(df_ldm_layout *layout);
void df_ldm_map(const df_ldm_layout *layout, const char *original, df_name_map *out);

/* Names inside a diffusers folder are kept, except the VAE attention names of
 * diffusers < 0.14 (query/key/value/proj_attn), still in many published
 * folders, which are renamed to to_q/to_k/to_v/to_out.0. */
void df_diffusers_map(df_component component, const char *name, df_name_map *out);

#endif
