/*
 * checkpoint.h — a Stable Diffusion checkpoint in either layout users have,
 * seen through one naming scheme.
 *
 * A diffusers folder (model_index.json, text_encoder/, unet/, vae/, each with
 * *.safetensors and config.json) and an original single-file checkpoint
 * (cond_stage_model.*, model.diffusion_model.*, first_stage_model.*) are both
 * opened into per-component tables of weights named as diffusers names them
 * ("text_model.encoder.layers.0.self_attn.q_proj.weight"). Original names are
 * mapped on open; OpenCLIP's fused in_proj is split into q/k/v views. Models
 * therefore know one naming only. Weights are views into mmapped files owned
 * by the checkpoint.
 */
#ifndef DF_IO_CHECKPOINT_H
#define DF_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse.h"
#include "runtime/tensor.h"

typedef enum df_component {
    DF_COMPONENT_TEXT_ENCODER = 0,
    DF_COMPONENT_UNET,
    DF_COMPONENT_VAE,
    DF_COMPONENT_TEXT_ENCODER_2, /* SDXL's OpenCLIP ViT-bigG (the refiner's only encoder) */
    DF_COMPONENT_COUNT
} df_component;

const char *df_component_name(df_component component); /* "text_encoder", "unet", "vae",
                                                           "text_encoder_2" */

typedef struct df_checkpoint df_checkpoint;

/* path: a diffusers folder, or a .safetensors file. Detects the family. */
df_status df_checkpoint_open(const char *path, df_checkpoint **out, df_error *error);
/* A standalone VAE (--vae): a diffusers VAE folder (config.json +
 * diffusion_pytorch_model.safetensors, or a model folder's vae/), or one
 * .safetensors file named as diffusers names the VAE or as the original LDM
 * VAE files do (vae-ft-mse-840000-ema-pruned: encoder.*, decoder.*,
 * quant_conv.*, post_quant_conv.*, with or without first_stage_model.). The
 * result has only DF_COMPONENT_VAE; its family is unknown. */
df_status df_checkpoint_open_vae(const char *path, df_checkpoint **out, df_error *error);
void df_checkpoint_free(df_checkpoint *checkpoint);

df_family df_checkpoint_family(const df_checkpoint *checkpoint);
/* Replaces the weight `name` of `component` by `value` (same shape; any
 * dtype; its data owned by the caller and alive until the weight is patched
 * back), keeping the one it replaces in *previous: patching *previous back
 * restores the original exactly. Models built on the checkpoint see the
 * change at once (they hold the entries' df_weight), so this must not run
 * during a forward pass. LoRA sets are applied this way. */
df_status df_checkpoint_patch(df_checkpoint *checkpoint, df_component component, const char *name,
                              const df_weight *value, df_weight *previous, df_error *error);
/* Lets the process's resident set drop a component's memory-mapped weight
 * pages until they are next used (df_safetensors_release_pages): for a
 * component done with for this run (the text encoders once the prompts are
 * encoded, the UNet before the VAE decode). Weights that are copies (a
 * transposed projection) are never touched. */
void df_checkpoint_release_pages(const df_checkpoint *checkpoint, df_component component);
/* A boolean of the pipeline's model_index.json (force_zeros_for_empty_prompt,
 * requires_aesthetics_score); `fallback` when absent or for single files. */
int df_checkpoint_pipeline_flag(const df_checkpoint *checkpoint, const char *key, int fallback);
df_layout df_checkpoint_layout(const df_checkpoint *checkpoint);
const char *df_checkpoint_path(const df_checkpoint *checkpoint);
int df_checkpoint_has(const df_checkpoint *checkpoint, df_component component);

/* A weight by its diffusers name; NULL when absent. */
const df_weight *df_checkpoint_weight(const df_checkpoint *checkpoint, df_component component,
                                      const char *name);

/* Like df_checkpoint_weight but an error when absent or when its shape is not
 * `shape` (ndim dims; a -1 entry matches any size). The message names the
 * checkpoint file, the component and the tensor (its original name too). */
df_status df_checkpoint_require(const df_checkpoint *checkpoint, df_component component,
                                const char *name, int ndim, const int64_t *shape,
                                const df_weight **out, df_error *error);

/* Number of weights of a component and the i-th (diffusers name, weight),
 * in name order. For inspect and for counting parameters. */
size_t df_checkpoint_count(const df_checkpoint *checkpoint, df_component component);
const df_weight *df_checkpoint_at(const df_checkpoint *checkpoint, df_component component,
                                  size_t index, const char **name);

/* A value from the component's config.json (diffusers layout) or the value
 * inferred for the single-file layout; `fallback` when unknown. */
int64_t df_checkpoint_config_int(const df_checkpoint *checkpoint, df_component component,
                                 const char *key, int64_t fallback);
double df_checkpoint_config_float(const df_checkpoint *checkpoint, df_component component,
                                  const char *key, double fallback);
/* Returned string is owned by the checkpoint; `fallback` when unknown. */
const char *df_checkpoint_config_string(const df_checkpoint *checkpoint, df_component component,
                                        const char *key, const char *fallback);

/* An integer array config value (block_out_channels, attention_head_dim);
 * a scalar integer reads as one value. DF_OK and *count values written, or
 * DF_ERR_INVALID_ARGUMENT when absent, not integers, or more than `max`. */
df_status df_checkpoint_config_ints(const df_checkpoint *checkpoint, df_component component,
                                    const char *key, int64_t *values, int max, int *count);
/* The index-th string of a string array config value (down_block_types), or NULL. */
const char *df_checkpoint_config_string_at(const df_checkpoint *checkpoint,
                                           df_component component, const char *key,
                                           size_t index);
/* The whole effective config of a component as compact JSON (malloc'ed, free()). */
char *df_checkpoint_config_json(const df_checkpoint *checkpoint, df_component component);

/* The name a weight has in its file (differs from `name` in the single-file
 * layout), or NULL when absent. */
const char *df_checkpoint_original_name(const df_checkpoint *checkpoint, df_component component,
                                        const char *name);

/* Number of files mapped and their total size in bytes (for inspect). */
uint64_t df_checkpoint_file_bytes(const df_checkpoint *checkpoint);
size_t df_checkpoint_file_count(const df_checkpoint *checkpoint);

/* Remarks made while opening (missing components, dropped layers, why the
 * family is unknown), one line each. */
size_t df_checkpoint_note_count(const df_checkpoint *checkpoint);
const char *df_checkpoint_note_at(const df_checkpoint *checkpoint, size_t index);

/* Tensors of the files that are not exposed as weights (EMA copies, buffers,
 * OpenCLIP's projection, SD2's last OpenCLIP layer, non-float dtypes), by
 * original name, with the reason. */
size_t df_checkpoint_unused_count(const df_checkpoint *checkpoint);
const char *df_checkpoint_unused_at(const df_checkpoint *checkpoint, size_t index,
                                    const char **reason);

#endif
