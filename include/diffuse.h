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

/* 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (on by default): a
 * quarter of the multiplications, about half the time of the UNet's and
 * the VAE's convolutions, for rounding differences of about 1e-5 of the
 * output scale. Costs up to ~80 MB of working memory per runtime, no copy of
 * the weights. Process-wide: set it before loading models (the VAE makes its
 * upsamplers' phase-conv weights at load only when it is off). */
void df_set_winograd(int enabled);

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


/* ------------------------------------------------------------------------ */
/* Generation: prompt in, images out (txt2img and img2img)                   */

typedef struct df_progress {
    int step;               /* sampling steps done so far (0..total) */
    int total;              /* sampling steps of the whole generation: the
                               request's steps (fewer after img2img trimming),
                               times the batch in DF_SEED_PER_IMAGE mode. Steps,
                               not model evaluations: a PNDM or Heun step may
                               take two evaluations, as diffusers counts them */
    double elapsed_seconds; /* since the generation started (encoding included) */
    /* A TAESD preview of the current prediction of the final images, when
     * previews are on and one is due this step, else NULL: preview_count
     * RGB8 images of preview_width x preview_height, one after the other.
     * Valid only during the callback. */
    const uint8_t *preview;
    int preview_width, preview_height, preview_count;
} df_progress;

/* Called once with step 0 before the first model evaluation (the total is
 * known from then on), then after every model evaluation, on the generating
 * thread. Returning non-zero cancels the generation (DF_ERR_CANCELLED); to
 * stop within a step at any image size use df_generate_request.cancel. */
typedef int (*df_progress_fn)(void *user, const df_progress *progress);

typedef enum df_seed_mode {
    DF_SEED_BATCH = 0,   /* diffusers: one generator seeded with `seed` draws the
                            noise of the whole batch, image after image */
    DF_SEED_PER_IMAGE    /* AUTOMATIC1111: image i has its own generator, seed + i */
} df_seed_mode;

/* A LoRA / LyCORIS file (.safetensors: kohya/A1111, diffusers/PEFT, LoHa,
 * LoKr) and its scales for the UNet and the text encoders (negative
 * allowed; 1 is the file's own strength). */
typedef struct df_lora_use {
    const char *path;
    float unet_scale, text_scale;
} df_lora_use;

typedef struct df_generate_request {
    const char *prompt;          /* required */
    const char *negative_prompt; /* NULL or "": the empty prompt, as diffusers does */
    int width, height;           /* pixels, multiples of df_model_size_multiple();
                                    0: the model's default size (img2img: the
                                    init image's size, rounded down) */
    int steps;                   /* default 20 */
    float guidance_scale;        /* default 7.5; <= 1 turns classifier-free guidance off */
    const char *sampler;         /* diffusers or A1111 name; NULL: the checkpoint's
                                    scheduler, else Euler */
    const char *schedule;        /* "default", "discrete", "karras"; NULL: default */
    const char *spacing;         /* "default", "leading", "trailing", "linspace" */
    const char *prediction;      /* "epsilon" or "v_prediction"; NULL: from the model */
    int64_t seed;                /* < 0: a random seed (reported in the result) */
    const char *rng;             /* "cpu" (torch CPU generator, default) or "philox" */
    df_seed_mode seed_mode;
    int batch;                   /* images, default 1 */
    int clip_skip;               /* A1111 meaning, default 1 */
    unsigned prompt_flags;       /* DF_PROMPT_WEIGHTING */
    float eta;                   /* DDIM eta, default 0 */
    /* img2img: an RGB8 init image (NULL for txt2img) and the strength in
     * [0, 1] (how much of the schedule is re-run; 1 ignores the image). */
    const uint8_t *init_pixels;
    int init_width, init_height;
    float strength;              /* default 0.75 */
    int preview_every;           /* TAESD previews every N steps (0: none; needs
                                    df_model_load_taesd) */
    /* The decoder of the final latents: NULL or "vae" (the checkpoint's or
     * df_model_load_vae's VAE), or "taesd" (the TAESD decoder loaded with
     * df_model_load_taesd: much cheaper, slightly softer; as diffusers'
     * pipeline with vae=AutoencoderTiny). With "taesd" the image is 8x the
     * latents (TAESD's scale; SD's VAEs are 8x too) and img2img still
     * encodes with the VAE (AUTOMATIC1111's "Full" encode, "TAESD" decode). */
    const char *decoder;
    df_progress_fn progress;
    void *progress_user;
    /* Cancellation within about a second at any size: polled between pieces
     * of work of a few milliseconds (kernel chunks, UNet and VAE blocks, VAE
     * tiles), from the compute threads, possibly several at once. Non-zero
     * stops the generation with DF_ERR_CANCELLED. It must be thread-safe and
     * cheap (read an atomic flag another thread sets), and keep returning
     * non-zero once it has. It is installed on the runtime's thread pool for
     * the duration of the call, so it also stops other work on that runtime
     * meanwhile. NULL: only the progress callback cancels. */
    int (*cancel)(void *user);
    void *cancel_user;
    /* Arithmetic of the linear layers and convolutions of the text encoder,
     * UNet and VAE during this call: NULL or "f32" (default), "bf16"
     * (inputs rounded to bf16, f32 sums; needs AVX512-BF16) or "int8"
     * (weights s8 per output channel and K block, activations u8 per row
     * and K block; needs AVX512-VNNI or AVX-VNNI). Where the CPU lacks the
     * instructions the call computes in f32 and says so once on stderr.
     * Other values are DF_ERR_INVALID_ARGUMENT. Set on the runtime's pool
     * for the duration of the call, as `cancel` is. */
    const char *precision;
    /* SDXL. prompt_2 / negative_prompt_2: the second text encoder's prompts
     * (diffusers' prompt_2; NULL: the same as prompt / negative_prompt; an
     * error on a model with one encoder). With neither negative prompt set,
     * an SDXL base whose pipeline says force_zeros_for_empty_prompt (the
     * default) conditions the unconditional half on zeros, as diffusers
     * does; "" encodes the empty prompt (A1111). */
    const char *prompt_2;
    const char *negative_prompt_2;
    /* Micro-conditioning (add_time_ids), in pixels; 0: the image's size
     * (original and target) and a (0, 0) crop, diffusers' defaults. */
    int original_width, original_height, target_width, target_height;
    int crop_top, crop_left;
    /* The unconditional half's, as diffusers' negative_original_size,
     * negative_crops_coords_top_left and negative_target_size: from noise
     * they count only when both negative sizes are given (else the
     * positive ones are used); in img2img and the refiner a missing
     * negative size is the positive one and the negative crop is its own
     * (default 0, 0; the base's img2img keeps the positive crop). */
    int negative_original_width, negative_original_height;
    int negative_target_width, negative_target_height;
    int negative_crop_top, negative_crop_left;
    /* The refiner's aesthetic-score conditioning (default 6.0 and 2.5). */
    float aesthetic_score, negative_aesthetic_score;
    /* Base + refiner ("ensemble of expert denoisers"): the base model runs
     * the steps above refiner_start (a fraction of the schedule in (0, 1),
     * default 0.8: diffusers' denoising_end) and `refiner` (an SDXL refiner,
     * or any SDXL model of the same latent space) the rest (denoising_start),
     * then decodes. NULL: no refiner. */
    df_model *refiner;
    float refiner_start;
    /* LoRAs applied to the model for this request (to the base model, not
     * the refiner); the set stays applied after the call, so the next
     * request with the same set costs nothing, and one without LoRAs gets
     * the base weights back exactly. NULL / 0: none. */
    const df_lora_use *loras;
    int lora_count;
} df_generate_request;

/* Presets: the settings few-step (distilled) checkpoints are meant to run
 * with, for the fields a caller leaves unset. Explicit values always win:
 * df_preset_apply fills steps and guidance_scale unless `keep` names them
 * (the caller knows whether its user set them; the request's defaults
 * cannot say), and sampler and spacing only where they are NULL or "".
 *   turbo  SD-Turbo / SDXL-Turbo (adversarial diffusion distillation):
 *          1 step, guidance 0 (classifier-free guidance off), trailing
 *          timestep spacing, the checkpoint's own sampler (their shipped
 *          configs: Euler / Euler a with trailing spacing), as their model
 *          cards run them with AutoPipelineForText2Image
 *   lcm    latent consistency models (LCM-LoRA merged into a checkpoint,
 *          LCM-distilled UNets without a guidance embedding): the LCM
 *          sampler (LCMScheduler), 4 steps, guidance 1 (off), as diffusers'
 *          LCM-LoRA guide. LCM_Dreamshaper_v7-style UNets take the guidance
 *          as an embedding (time_cond_proj_dim), which diffuse refuses. */
typedef struct df_preset {
    const char *name;
    int steps;
    float guidance_scale;
    const char *sampler; /* NULL: the checkpoint's */
    const char *spacing; /* NULL: the checkpoint's */
} df_preset;

enum {
    DF_PRESET_KEEP_STEPS = 1,   /* the caller set steps */
    DF_PRESET_KEEP_GUIDANCE = 2 /* the caller set guidance_scale */
};

/* The preset called `name`; an unknown name is DF_ERR_INVALID_ARGUMENT
 * naming "preset" and listing the names. */
df_status df_preset_find(const char *name, const df_preset **out, df_error *error);
/* "turbo, lcm": the names, for help texts and error messages. */
const char *df_preset_names(void);
void df_preset_apply(const df_preset *preset, unsigned keep, df_generate_request *request);

/* A random seed in [0, 2^32): torch's CPU generator uses 32 bits of a seed,
 * and users type these back. From the kernel's generator. */
int64_t df_random_seed(void);

/* Fills a request with the defaults above (prompt NULL). */
void df_generate_request_init(df_generate_request *request);

typedef struct df_generate_result {
    int count;           /* images */
    int width, height;
    uint8_t *pixels;     /* count RGB8 images, one after the other */
    int64_t *seeds;      /* per image: the seed that reproduces it */
    char **infotexts;    /* per image: AUTOMATIC1111's "parameters" text */
    /* The final latents (before VAE decoding, unscaled as the sampler leaves
     * them): count x latent_channels x latent_height x latent_width. */
    float *latents;
    int latent_channels, latent_height, latent_width;
    double seconds;      /* wall time of the generation */
    double lora_seconds; /* of which applying the request's LoRA set (0 when it was
                            already applied, or none) */
} df_generate_result;

/* Runs a generation. The model stays loaded between calls; calls on one
 * model must not overlap. Bad requests are DF_ERR_INVALID_ARGUMENT naming
 * the field. On failure *result is empty. */
df_status df_model_generate(df_model *model, const df_generate_request *request,
                            df_generate_result *result, df_error *error);
void df_generate_result_free(df_generate_result *result);

/* The working memory df_model_generate needs for `request`, in bytes, from
 * the same plan it allocates by: the UNet's, VAE's, text encoder's and
 * TAESD's scratch arenas, the run's buffers, the sampler and the result.
 * The weights are not counted (they are memory-mapped from the checkpoint
 * file). Validates the request as df_model_generate does (the same errors);
 * nothing is allocated beyond the tokenizer's work. Not concurrently with
 * another call on the same model. */
df_status df_model_estimate_memory(df_model *model, const df_generate_request *request,
                                   size_t *out_bytes, df_error *error);

/* Image sizes must be multiples of this (64 for SD: 8 latent pixels). */
int df_model_size_multiple(const df_model *model);
/* The default image size from the model's config (512 for SD 1.x, 768 for
 * SD 2.x-v: sample_size x VAE scale factor). */
int df_model_default_size(const df_model *model);

/* Replaces the checkpoint's VAE with a standalone VAE file or folder. */
df_status df_model_load_vae(df_model *model, const char *path, df_error *error);
/* Loads a TAESD decoder for previews and for decoder "taesd" (a diffusers
 * AutoencoderTiny folder or madebyollin/taesd's taesd_decoder.safetensors;
 * taesd for SD 1.x/2.x latents, taesdxl for SDXL's). */
df_status df_model_load_taesd(df_model *model, const char *path, df_error *error);
/* Textual inversion: loads an embedding (.safetensors: A1111's "emb_params"
 * [n, width], SDXL's "clip_l" and "clip_g", or diffusers' learned_embeds, one
 * tensor named by its token) so that `token` (NULL: diffusers' key, else
 * the file name without ".safetensors") in a prompt stands for its n
 * vectors, in the prompt and the negative prompt alike. A width that does
 * not match the text encoder, a token already loaded, a malformed file:
 * DF_ERR_INVALID_ARGUMENT or DF_ERR_FORMAT naming the file; the model is
 * unchanged then. */
df_status df_model_load_embedding(df_model *model, const char *path, const char *token,
                                  df_error *error);

#ifdef __cplusplus
}
#endif
#endif /* DIFFUSE_H */
