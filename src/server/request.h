/*
 * request.h — the one request model of `diffuse serve`: a JSON object of
 * generation parameters, validated into a df_request_params that owns its
 * strings. Every API family (native jobs, /predict, and later OpenAI,
 * AUTOMATIC1111, Vertex) translates its own JSON into this object and goes
 * through df_request_parse, so validation and its error messages are the
 * same everywhere.
 *
 * Invariants: a params object filled by df_request_parse is complete (the
 * random seed, the model's default size and the default precision are
 * resolved at parse time), so df_request_to_json of it, parsed again under
 * the same limits, gives the same generation — this is what the job store
 * keeps and what a restart re-runs. A field that cannot apply to the
 * request's model (prompt_2 on SD 1.x, a refiner after a non-SDXL base, an
 * aesthetic score without a refiner) is refused naming it, never dropped.
 *
 * LoRAs: "loras" names LoRAs of the server's LoRA directory (a resolver,
 * df_request_limits.resolve_lora, says which names are offered), never
 * paths. With "weighting" on, AUTOMATIC1111's <lora:NAME:...> tags in the
 * prompt are LoRAs too (pipeline/lora_prompt.h): the parse deletes them
 * from the prompt and appends them to `loras`, so the normalized request
 * (prompt without tags, every LoRA in "loras") parses again to the same
 * generation. Names become files only when the job runs (jobs.c), so a
 * LoRA removed meanwhile fails the job, saying so.
 */
#ifndef DF_SERVER_REQUEST_H
#define DF_SERVER_REQUEST_H

#include <jansson.h>
#include <stdint.h>

#include "diffuse.h"

/* What a request's "model" resolves to: the offered model and what the
 * request is checked and completed with on it. */
typedef struct df_request_model {
    char name[256];          /* the offered model's name */
    int size_multiple, default_size;
    /* DF_FAMILY_UNKNOWN when the resolver cannot tell (the SDXL-only
     * fields are then left to the engine to refuse). */
    df_family family;
    /* An SDXL refiner (the second text encoder only): it refines an init
     * image or follows a base as "refiner", and makes no image from noise. */
    int refiner;
    /* Its own default precision (`diffuse serve --model-precision
     * NAME=PRECISION`): "f32", "bf16" or "int8", valid until the parse
     * returns; NULL: none, the server's default_precision applies. */
    const char *precision;
} df_request_model;

/* Resolves a request's "model" (NULL: the server's default) to an offered
 * model, filling `out`. Returns 0, or -1 with a message in `message` (an
 * unknown name; the message lists the offered ones). */
typedef int (*df_request_model_fn)(void *user, const char *name, df_request_model *out,
                                   char *message, size_t message_size);

typedef struct df_request_params df_request_params;

/* Resolves a LoRA name of a request to an offered LoRA, its catalogue name
 * into `canonical`. Returns 0, or -1 with a message (an unknown name; the
 * message lists the offered ones). */
typedef int (*df_request_lora_fn)(void *user, const char *name, char *canonical,
                                  size_t canonical_size, char *message, size_t message_size);

/* LoRAs per request at most ("loras" and prompt tags together), and the
 * largest scale magnitude a request may ask for (the engine takes up to
 * 100; past 10 a LoRA only burns the image). */
#define DF_REQUEST_MAX_LORAS 16
#define DF_REQUEST_MAX_LORA_SCALE 10.0

/* One LoRA of a request: an offered name (resolved) and its scales. */
typedef struct df_request_lora {
    char *name;
    double unet_scale, text_scale;
} df_request_lora;

/* Limits a request is checked against (issue 6 makes them configurable). */
typedef struct df_request_limits {
    int size_multiple;     /* the model's (64 for SD) */
    int default_size;      /* the model's default width and height */
    int max_side;          /* largest width or height */
    int max_steps;
    int max_batch;
    size_t max_prompt_bytes;
    size_t max_init_image_bytes; /* base64 text of init_image */
    int previews;          /* the server has a TAESD decoder (previews, decoder "taesd") */
    /* Several models: resolves "model" and gives that model's size limits
     * and default precision (NULL: "model" must be absent, sizes are the
     * fields above). */
    df_request_model_fn resolve_model;
    void *resolve_user;
    /* Called last on a request that passed every other check (model
     * resolved, sizes and init image final): 0 to accept it, or -1 with the
     * field to blame in `param` and a message starting with it, e.g. when
     * its working memory is over --max-memory. NULL: no such check. */
    int (*check_request)(void *user, const df_request_params *params, char *param,
                         size_t param_size, char *message, size_t message_size);
    void *check_user;
    /* The precision of requests that do not name one and whose model has
     * none of its own (`diffuse serve --precision`): "f32", "bf16" or
     * "int8", or NULL for f32. */
    const char *default_precision;
    /* The LoRA directory's names (NULL: the server offers no LoRAs, and
     * "loras" or a prompt tag is refused). */
    df_request_lora_fn resolve_lora;
    void *lora_user;
} df_request_limits;

/* Defaults for a model of this multiple and default size. */
void df_request_limits_default(df_request_limits *limits, int size_multiple, int default_size);

struct df_request_params {
    char *prompt;          /* never NULL once parsed ("" is the empty prompt) */
    /* NULL: none given. The same as "" but on an SDXL base, which then
     * conditions the unconditional half on zeros (diffusers'
     * force_zeros_for_empty_prompt) where "" encodes the empty prompt. */
    char *negative_prompt;
    char *sampler, *schedule, *spacing, *rng, *prediction; /* NULL: engine default */
    int width, height, steps, batch, clip_skip, preview_every;
    int weighting;         /* A1111 emphasis syntax */
    double guidance_scale, eta;
    int64_t seed;          /* resolved: never < 0 once parsed */
    df_seed_mode seed_mode;
    char *model;           /* resolved (never NULL once parsed with a resolver) */
    /* img2img: "init_image" as given (base64 of a PNG/JPEG/WebP file, a
     * data: URL prefix allowed; kept for the store), its decoded pixels, and
     * "strength" (0..1, default 0.75). NULL: text to image. */
    char *init_image;
    uint8_t *init_pixels;
    int init_width, init_height;
    double strength;
    /* "decoder": NULL (the VAE), "vae" or "taesd" (needs the server's
     * TAESD). "preset": NULL or a df_preset name, already applied to the
     * fields above that the request left out; kept to show what ran. */
    char *decoder;
    char *preset;
    /* "precision": the request's, else its model's default, else the
     * server's: "bf16" or "int8"; "f32" only where that default is not f32
     * (so the stored request re-runs in f32); NULL: f32. */
    char *precision;
    /* SDXL. prompt_2 / negative_prompt_2: the second text encoder's prompts
     * (NULL: prompt / negative_prompt). Micro-conditioning in pixels (0: the
     * image's size, and a 0,0 crop). The refiner's aesthetic scores (6.0 and
     * 2.5 unless given; only where a refiner runs). "refiner": a catalogue
     * name (resolved) of an SDXL refiner that takes over at refiner_start (a
     * fraction of the schedule in (0, 1), default 0.8), NULL: none. */
    char *prompt_2, *negative_prompt_2;
    int original_width, original_height, target_width, target_height;
    int crop_top, crop_left;
    double aesthetic_score, negative_aesthetic_score;
    char *refiner;
    double refiner_start;
    /* "loras" (and, with weighting, the prompt's tags after them), names
     * resolved; NULL / 0: none. */
    df_request_lora *loras;
    int lora_count;
};

/* A validation failure: the field at fault ("" for the body as a whole) and
 * a message that starts with it. */
typedef struct df_request_error {
    char param[64];
    char message[1024];
} df_request_error;

/* Parses and validates `body` (must be a JSON object). Unknown fields are
 * REJECTED (DF_ERR_INVALID_ARGUMENT naming the field): the complaint this
 * server answers is "per-request parameters silently ignored", and a typo
 * like "stpes" must not run 20 steps quietly. API families that accept
 * foreign fields drop them before calling this. null for any field means its
 * default. On failure `out` is left empty (df_request_params_free is safe). */
df_status df_request_parse(const json_t *body, const df_request_limits *limits,
                           df_request_params *out, df_request_error *error);

/* The normalized parameters as a JSON object (new reference; NULL when out
 * of memory). */
json_t *df_request_to_json(const df_request_params *params);

/* A df_generate_request pointing into `params` (which must outlive it);
 * progress callback and preview cadence are the caller's to set, and so is
 * the refiner's df_model (params->refiner only names it) and the LoRA
 * files (params->loras only names them: loras stays NULL here). */
void df_request_to_generate(const df_request_params *params, df_generate_request *out);

void df_request_params_free(df_request_params *params);

/* Base64 (standard or URL-safe alphabet, padding optional, whitespace
 * skipped; a "data:...;base64," prefix is skipped) to malloc'ed bytes.
 * Returns 0, or -1 for malformed input (or out of memory). */
int df_request_base64_decode(const char *text, size_t length, unsigned char **out,
                             size_t *out_size);

#endif
