/*
 * tokenizer.h — what the text module shares beyond diffuse.h's tokenizer
 * API: building A1111 windows from an already tokenized, weighted id list
 * (used by prompt weighting).
 */
#ifndef DF_TEXT_TOKENIZER_H
#define DF_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse.h"

/* In an id list given to df_token_windows_build: end the window here
 * (A1111's BREAK keyword). */
#define DF_TOKEN_BREAK (-1)

/* Windows of 75 tokens as A1111's tokenize_line makes them (comma backtrack,
 * BREAK), with each id's weight (weights may be NULL: all 1.0). */
df_status df_token_windows_build(const int32_t *ids, const float *weights, size_t count,
                                 int32_t pad_token, df_token_windows *out, df_error *error);

#endif
