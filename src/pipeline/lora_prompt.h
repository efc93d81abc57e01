/*
 * lora_prompt.h — AUTOMATIC1111's LoRA prompt syntax: <lora:NAME>,
 * <lora:NAME:SCALE>, <lora:NAME:TE_SCALE:UNET_SCALE> and the named forms
 * te=X / unet=X (<lyco:...> is the same: A1111 registers it as an alias).
 *
 * Tags are found as A1111 finds extra networks (the regular expression
 * <(\w+):([^>]+)>, left to right, a match never overlapping the next) and
 * deleted from the prompt; nothing else changes ("a <lora:x:1>, b" gives
 * "a , b"). Tags of other types (<hypernet:...>) are left in the prompt as
 * text: this parser does not know them, and dropping them silently would
 * hide that they had no effect.
 *
 * Scales follow A1111's Lora extension: the first number is the text
 * encoders' (te), the second the UNet's (unet), which defaults to te; both
 * default to 1. A third number (A1111's dyn, a rank cut) is refused.
 *
 * Standalone (no model, no engine): the server parses prompts when a
 * request arrives, and the request fuzzer links this file alone.
 */
#ifndef DF_PIPELINE_LORA_PROMPT_H
#define DF_PIPELINE_LORA_PROMPT_H

#include "diffuse.h"

typedef struct df_lora_prompt_tag {
    char *name;            /* as written: a name, not checked against any directory */
    double unet_scale, text_scale; /* double: "0.7" stays the 0.7 a JSON 0.7 is */
} df_lora_prompt_tag;

typedef struct df_lora_prompt {
    char *prompt;          /* the prompt without its LoRA tags (malloc'ed) */
    df_lora_prompt_tag *tags; /* in the order they appear */
    int count;
} df_lora_prompt;

/* Finds and removes the LoRA tags of `prompt`. A malformed tag (an empty
 * name, a scale that is not a finite number, an unknown named argument, a
 * third scale) is DF_ERR_INVALID_ARGUMENT naming the tag. So is a prompt
 * whose tags, once deleted, join its remaining text into another LoRA tag
 * ("<lo<lora:a>ra:b>"): the result must have no tags left, so that parsing
 * it again changes nothing (the server stores the result). Scales are not
 * range-checked here (the callers' limits differ). On failure *out is
 * empty (df_lora_prompt_free is safe). */
df_status df_lora_prompt_parse(const char *prompt, df_lora_prompt *out, df_error *error);
void df_lora_prompt_free(df_lora_prompt *parsed);

/* 1 when `text` holds at least one well-formed-looking LoRA tag. */
int df_lora_prompt_has_tags(const char *text);

#endif
