/*
 * text_clean.h — the text normalisation in front of the CLIP BPE: UTF-8
 * decoding, the subset of ftfy.fix_text that changes prompts, Python's
 * str.lower() and the character classes of the CLIP pre-tokenizer regex.
 *
 * Everything works on arrays of Unicode scalar values (uint32_t), because
 * the Python reference does: ftfy and the regexes see code points, not
 * bytes. Buffers grow with df_text_buffer_reserve; none of these functions
 * keep state between calls, so a shared df_text_cleaner is thread-safe.
 */
#ifndef DF_TEXT_TEXT_CLEAN_H
#define DF_TEXT_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse.h"

typedef struct df_text_buffer {
    uint32_t *data;
    size_t count;
    size_t capacity;
} df_text_buffer;

/* Makes room for `extra` more code points; DF_ERR_NO_MEMORY on failure. */
df_status df_text_buffer_reserve(df_text_buffer *buffer, size_t extra, df_error *error);
void df_text_buffer_free(df_text_buffer *buffer);

/* Read-only tables built once (the index of the HTML entity names). */
typedef struct df_text_cleaner df_text_cleaner;
df_status df_text_cleaner_create(df_text_cleaner **out, df_error *error);
void df_text_cleaner_free(df_text_cleaner *cleaner);

/* Decodes strict UTF-8 (no overlongs, surrogates, code points above
 * U+10FFFF or truncated sequences) into `out` (replacing its content).
 * DF_ERR_INVALID_ARGUMENT names the byte offset of the first bad sequence.
 * NUL bytes are ordinary code points here (ftfy removes them later). */
df_status df_text_decode_utf8(const char *text, size_t length, df_text_buffer *out,
                              df_error *error);

/* ftfy.fix_text(text) with ftfy 6.3.1's defaults (fix_encoding included,
 * see text_fix_encoding.c), written to `out` (replacing its content). */
df_status df_text_fix(const df_text_cleaner *cleaner, const uint32_t *text, size_t count,
                      df_text_buffer *out, df_error *error);

/* Python's str.lower(): full lower-case mapping ('İ' gives "i̇") and the
 * Final_Sigma rule for 'Σ'. Appends to `out`. */
df_status df_text_lower(const uint32_t *text, size_t count, df_text_buffer *out, df_error *error);

/* The classes the CLIP pre-tokenizer regex (module `regex`, IGNORECASE)
 * gives a code point after lower-casing. */
typedef enum df_text_class {
    DF_TEXT_SPACE = 0, /* \s, or matched by no alternative: skipped */
    DF_TEXT_LETTER,    /* \p{L} */
    DF_TEXT_NUMBER,    /* \p{N} */
    DF_TEXT_OTHER      /* [^\s\p{L}\p{N}] */
} df_text_class;

df_text_class df_text_classify(uint32_t c);

/* Python's `regex` \s (White_Space): what whitespace_clean collapses. */
int df_text_is_space(uint32_t c);

/* Appends the UTF-8 bytes of `c` to `out` (at least 4 bytes of room);
 * returns the number written. */
size_t df_text_encode_utf8(uint32_t c, unsigned char *out);

#endif
