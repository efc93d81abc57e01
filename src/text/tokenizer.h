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

/* Textual inversion: `name` becomes an added token of the tokenizer, split
 * out of a prompt wherever it occurs (exactly, case included, the longest
 * added token first, as transformers' added tokens are) and emitted as the
 * `count` ids first_id, first_id + 1, ... (ids past the vocabulary, which
 * the text encoder maps to the embedding's vectors): what diffusers'
 * load_textual_inversion and its prompt expansion of "name" into "name
 * name_1 ..." give. A name already added is DF_ERR_INVALID_ARGUMENT. */
df_status df_tokenizer_add_token(df_tokenizer *tokenizer, const char *name, int32_t first_id,
                                 int count, df_error *error);

#endif
