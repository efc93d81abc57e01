/*
 * diffuse.h — the public C API of libdiffuse.
 *
 * Every handle is opaque and owned by whoever created it: each *_open/_create
 * has a matching *_free that accepts NULL. Every call that can fail returns a
 * df_status; when it is not DF_OK and the caller passed a df_error, the error
 * holds a one-line, human-readable message naming what was wrong (the file,
 * the tensor, the field). No call prints, exits or aborts on bad input.
 */
#ifndef DIFFUSE_H
#define DIFFUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIFFUSE_VERSION "0.1.0"

typedef enum df_status {
    DF_OK = 0,
    DF_ERR_INVALID_ARGUMENT, /* the caller's value is out of range or malformed */
    DF_ERR_IO,               /* a file could not be opened, read, mapped or written */
    DF_ERR_FORMAT,           /* a file's content is corrupt or inconsistent */
    DF_ERR_UNSUPPORTED,      /* well-formed, but a model/dtype/feature we do not handle */
    DF_ERR_NO_MEMORY,
    DF_ERR_CANCELLED,
    DF_ERR_INTERNAL
} df_status;

typedef struct df_error {
    df_status status;
    char message[1024];
} df_error;

/* A short stable name for a status ("invalid argument", "format error", ...). */
const char *df_status_string(df_status status);

/* ------------------------------------------------------------------------ */
/* Runtime: the thread pool every model's compute runs on.                  */

typedef struct df_runtime df_runtime;

/* threads <= 0 means one per online CPU. */
df_status df_runtime_create(int threads, df_runtime **out, df_error *error);
int df_runtime_threads(const df_runtime *runtime);
void df_runtime_free(df_runtime *runtime);

/* ------------------------------------------------------------------------ */
/* Tokenizer: CLIP BPE, equal to transformers' CLIPTokenizer with ftfy.     */

#define DF_CLIP_WINDOW 77          /* tokens per window, start and end included */
#define DF_CLIP_WINDOW_CONTENT 75  /* prompt tokens per window */
#define DF_CLIP_START_TOKEN 49406
#define DF_CLIP_END_TOKEN 49407

typedef struct df_tokenizer df_tokenizer;

/* The tokenizer with the vocabulary built into the library. */
df_status df_tokenizer_create(df_tokenizer **out, df_error *error);
/* The tokenizer of a model whose tokenizer pads with `pad_token`. With pad
 * token 0 ("!", diffusers' SD 2.x tokenizer) every literal "!" in a prompt
 * is that added token, id 0, exactly as transformers splits it; AUTOMATIC1111
 * and open_clip do not do this, diffusers does, and we follow diffusers. */
df_status df_tokenizer_create_for_pad(int32_t pad_token, df_tokenizer **out, df_error *error);
void df_tokenizer_free(df_tokenizer *tokenizer);

/* Token ids of `text` (UTF-8, `length` bytes) without start/end tokens and
 * without truncation. *out_ids is malloc'ed and owned by the caller (free()).
 * Invalid UTF-8 is an error (DF_ERR_INVALID_ARGUMENT) naming the byte offset. */
df_status df_tokenize(const df_tokenizer *tokenizer, const char *text, size_t length,
                      int32_t **out_ids, size_t *out_count, df_error *error);

/* The prompt split into 77-token windows as AUTOMATIC1111 does: 75 prompt
 * tokens per window between a start and an end token, padded with pad_token.
 * An empty prompt gives one window. `windows` is malloc'ed,
 * window_count * DF_CLIP_WINDOW ids; `content_lengths[i]` (may be NULL) is
 * the number of prompt tokens in window i before padding. */
typedef struct df_token_windows {
    int32_t *ids;
    float *weights;          /* per id: the A1111 attention multiplier (1.0 unweighted) */
    int32_t *content_lengths;
    size_t window_count;
    size_t token_count; /* prompt tokens in all, start/end/padding excluded */
} df_token_windows;

df_status df_tokenize_windows(const df_tokenizer *tokenizer, const char *text, size_t length,
                              int32_t pad_token, df_token_windows *out, df_error *error);
void df_token_windows_free(df_token_windows *windows);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */

typedef enum df_family {
    DF_FAMILY_UNKNOWN = 0,
    DF_FAMILY_SD1, /* CLIP ViT-L/14 text encoder, 768-d context */
    DF_FAMILY_SD2, /* OpenCLIP ViT-H/14 text encoder, 1024-d context */
    DF_FAMILY_SDXL /* recognised so it can be refused by name; not supported yet */
} df_family;

const char *df_family_name(df_family family);

typedef enum df_layout {
    DF_LAYOUT_DIFFUSERS = 0, /* a folder with text_encoder/, unet/, vae/ */
    DF_LAYOUT_SINGLE_FILE    /* an original .safetensors checkpoint */
} df_layout;

typedef struct df_model df_model;

/* Opens a checkpoint: a diffusers folder or a single .safetensors file.
 * Weights are memory-mapped, not copied. The runtime must outlive the model. */
df_status df_model_open(df_runtime *runtime, const char *path, df_model **out, df_error *error);
void df_model_free(df_model *model);

df_family df_model_family(const df_model *model);
df_layout df_model_layout(const df_model *model);

/* Dimension of one token's text embedding (768 for SD 1.x, 1024 for SD 2.x). */
int df_model_text_dim(const df_model *model);

/* The pad token this model's tokenizer uses (49407 for SD 1.x, 0 for SD 2.x). */
int32_t df_model_pad_token(const df_model *model);

/* The model's tokenizer (owned by the model). */
const df_tokenizer *df_model_tokenizer(const df_model *model);

/* Flags of df_model_encode_prompt. */
enum {
    /* Parse AUTOMATIC1111's emphasis syntax, (word:1.3) (word) [word] \( BREAK,
     * and weight the encoding as A1111 does. Without it the prompt is taken
     * literally, as diffusers does. Prompts without that syntax encode the
     * same either way. */
    DF_PROMPT_WEIGHTING = 1
};

/* Encodes a prompt into the text conditioning the UNet cross-attends to:
 * window_count * 77 tokens of text_dim floats, windows concatenated.
 * clip_skip follows AUTOMATIC1111: 1 (or 0) is the model's normal output,
 * 2 stops one layer earlier, and so on; the final layer norm is applied
 * after the chosen layer. *out is malloc'ed, owned by the caller. */
df_status df_model_encode_prompt(df_model *model, const char *prompt, int clip_skip,
                                 unsigned flags, float **out, size_t *out_tokens,
                                 df_error *error);

/* Encodes given token windows (window_count * 77 ids) the same way. */
df_status df_model_encode_tokens(df_model *model, const int32_t *ids, size_t window_count,
                                 int clip_skip, float *out, df_error *error);

#ifdef __cplusplus
}
#endif
#endif /* DIFFUSE_H */
