/*
 * prompt_weights.h — AUTOMATIC1111's prompt emphasis syntax:
 *   (words)        weight x 1.1        [words]   weight / 1.1
 *   (words:1.3)    weight x 1.3        \( \) \[ \] literal brackets
 *   BREAK          ends the current 77-token window
 * parsed exactly as A1111's prompt_parser.parse_prompt_attention, tokenized
 * piece by piece and windowed as its tokenize_line, then applied to the text
 * encoder's output as its "Original" emphasis does: multiply each token's
 * hidden state by its weight, then rescale the window so its mean is
 * unchanged. A prompt without emphasis syntax gives weights of exactly 1 and
 * the same ids as tokenizing it whole (so results equal diffusers').
 */
#ifndef DF_TEXT_PROMPT_WEIGHTS_H
#define DF_TEXT_PROMPT_WEIGHTS_H

#include <stddef.h>

#include "diffuse.h"

typedef struct df_prompt_piece {
    char *text;    /* UTF-8, owned */
    double weight; /* -1 marks a BREAK piece */
} df_prompt_piece;

/* parse_prompt_attention. *pieces is malloc'ed (free with
 * df_prompt_pieces_free). A weight that is not a number ("(a:1.2.3)") is
 * DF_ERR_INVALID_ARGUMENT naming it (A1111 fails there too). */
df_status df_prompt_parse_attention(const char *text, size_t length, df_prompt_piece **pieces,
                                    size_t *count, df_error *error);
void df_prompt_pieces_free(df_prompt_piece *pieces, size_t count);

/* The prompt's windows with per-token weights, as A1111 builds them. */
df_status df_tokenize_weighted_windows(const df_tokenizer *tokenizer, const char *text,
                                       size_t length, int32_t pad_token, df_token_windows *out,
                                       df_error *error);

/* A1111's "Original" emphasis on one window's hidden states [77, dim]. */
void df_prompt_apply_weights(float *hidden, const float *weights, int dim);
/* The same on `dim` columns of rows `stride` floats apart (one encoder's
 * part of SDXL's joined hidden states). */
void df_prompt_apply_weights_strided(float *hidden, int stride, int dim, const float *weights);

#endif
