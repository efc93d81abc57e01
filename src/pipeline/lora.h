/*
 * lora.h — LoRA and LyCORIS (LoHa, LoKr) weight deltas applied to a model's
 * memory-mapped weights, per generation request (private to src/pipeline).
 *
 * A set of files with scales is applied by computing, for every weight a
 * file touches, W' = W + sum of scale x delta in f32, and patching the
 * checkpoint entry to point at W' (df_checkpoint_patch); the mapped
 * original is kept and patched back when the set changes, so a request
 * without LoRAs after one with them sees the base weights exactly. The set
 * applied last stays applied: the same set again costs nothing.
 *
 * Key names understood (a key that maps to no weight of the model is an
 * error that counts and names them, never silently dropped):
 *   kohya / A1111   lora_unet_<module>, lora_te_<module> (SD 1.x/2.x),
 *                   lora_te1_ / lora_te2_ (SDXL), module paths with "_" for
 *                   ".", in diffusers' UNet naming or the original (LDM /
 *                   SGM: input_blocks_4_1_...) naming; .lora_down.weight,
 *                   .lora_up.weight, .alpha (scale alpha / rank)
 *   diffusers/PEFT  unet.<module>.lora_A.weight / lora_B.weight (and
 *                   .lora.down/.lora.up), text_encoder., text_encoder_2.;
 *                   .alpha where present, else scale 1
 *   LyCORIS LoHa    .hada_w1_a/b, .hada_w2_a/b, .alpha: (w1a w1b) * (w2a w2b)
 *                   elementwise, scale alpha / rank
 *   LyCORIS LoKr    .lokr_w1 or .lokr_w1_a/b, .lokr_w2 or .lokr_w2_a/b,
 *                   .alpha: kron(w1, w2), scale alpha / rank when a factor
 *                   is split, else 1
 */
#ifndef DF_PIPELINE_LORA_H
#define DF_PIPELINE_LORA_H

#include "diffuse.h"

typedef struct df_lora_state df_lora_state;

/* Makes the model's weights those of `uses` (count 0: the base weights).
 * On error the model is left with the base weights and the error names the
 * file and what is wrong. */
df_status df_lora_apply(df_model *model, const df_lora_use *uses, int count, df_error *error);
/* Restores the base weights and frees the model's LoRA state. */
void df_lora_state_free(df_model *model);

#endif
