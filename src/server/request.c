/*
 * request.c — JSON generation parameters to a validated df_request_params
 * (see request.h for the contract). Every check names the field; names,
 * types and ranges are the table below, so the README, the validation and
 * the normalized JSON cannot drift apart. Sampler, schedule and spacing
 * names are checked with the engine's own parsers, so a request the server
 * accepts is one the engine will not refuse for a name. SDXL's fields are
 * checked against the resolved model's family (and the refiner's), so
 * prompt_2 on SD 1.x or a refiner asked to draw from noise is a 400 naming
 * the field at submission, not a failed job later.
 */
#include "server/request.h"
#include "server/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/image.h"
#include "pipeline/lora_prompt.h"
#include "pipeline/scheduler.h"
#include "runtime/precision.h"
#include "server/limits.h"

/* Every accepted field. "n" is an alias of "batch" (OpenAI's name). */
static const char *const known_fields[] = {
    "prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "sampler",
    "schedule", "spacing", "seed", "seed_mode", "rng", "batch", "n", "clip_skip", "weighting",
    "eta", "prediction", "preview_every", "model", "init_image", "strength",
    "decoder",
    "preset",
    "precision",
    "prompt_2", "negative_prompt_2", "original_width", "original_height", "target_width",
    "target_height", "crop_top", "crop_left", "aesthetic_score", "negative_aesthetic_score",
    "refiner", "refiner_start",
    "loras",
    NULL};

/* The engine's defaults (df_generate_request_init): a stored request leaves
 * them out. Written here because the fuzz target links no engine. */
#define DEFAULT_AESTHETIC_SCORE 6.0
#define DEFAULT_NEGATIVE_AESTHETIC_SCORE 2.5
#define DEFAULT_REFINER_START 0.8

void df_request_limits_default(df_request_limits *limits, int size_multiple, int default_size)
{
    memset(limits, 0, sizeof *limits);
    limits->size_multiple = size_multiple > 0 ? size_multiple : 64;
    limits->default_size = default_size > 0 ? default_size : 512;
    /* The server's defaults (limits.c; `diffuse serve` overrides them with
     * its flags). The prompt's fits a JPEG's 64 KB UTF-16 EXIF with the rest. */
    limits->max_side = (int)df_limits_find("max-side")->default_value;
    limits->max_steps = (int)df_limits_find("max-steps")->default_value;
    limits->max_batch = (int)df_limits_find("max-batch")->default_value;
    limits->max_prompt_bytes = (size_t)df_limits_find("max-prompt-bytes")->default_value;
    limits->max_init_image_bytes = 16u << 20; /* the body limit (8 MiB) is stricter */
}

static df_status fail(df_request_error *error, const char *param, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Cuts `text` at its first byte that does not continue valid UTF-8 (a
 * truncation that split a character, or raw bytes from a decoder's
 * message): the error goes into a JSON body, which must be UTF-8. */
static void keep_valid_utf8(char *text)
{
    text[df_server_utf8_prefix(text)] = 0;
}

static df_status fail(df_request_error *error, const char *param, const char *format, ...)
{
    snprintf(error->param, sizeof error->param, "%s", param);
    keep_valid_utf8(error->param);
    int n = snprintf(error->message, sizeof error->message, "%s%s", param, *param ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof error->message)
        n = 0;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message + n, sizeof error->message - (size_t)n, format, args);
    va_end(args);
    keep_valid_utf8(error->message);
    return DF_ERR_INVALID_ARGUMENT;
}

/* The field's value, or NULL when absent or null (the default applies). */
static const json_t *field(const json_t *body, const char *name)
{
    const json_t *value = json_object_get(body, name);
    return value && !json_is_null(value) ? value : NULL;
}

static df_status get_int(const json_t *body, const char *name, long long min, long long max,
                         long long *value, df_request_error *error)
{
    const json_t *v = field(body, name);
    if (!v)
        return DF_OK;
    if (!json_is_integer(v))
        return fail(error, name, "expected an integer in [%lld, %lld]", min, max);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return fail(error, name, "%lld is out of range [%lld, %lld]", x, min, max);
    *value = x;
    return DF_OK;
}

static df_status get_number(const json_t *body, const char *name, double min, double max,
                            double *value, df_request_error *error)
{
    const json_t *v = field(body, name);
    if (!v)
        return DF_OK;
    if (!json_is_number(v))
        return fail(error, name, "expected a number in [%g, %g]", min, max);
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return fail(error, name, "%g is out of range [%g, %g]", x, min, max);
    *value = x;
    return DF_OK;
}

/* A string field copied into *out (malloc'ed); absent leaves *out alone. */
static df_status get_string(const json_t *body, const char *name, size_t max_bytes, char **out,
                            df_request_error *error)
{
    const json_t *v = field(body, name);
    if (!v)
        return DF_OK;
    if (!json_is_string(v))
        return fail(error, name, "expected a string");
    size_t length = json_string_length(v);
    if (length > max_bytes)
        return fail(error, name, "%zu bytes is longer than the limit of %zu", length, max_bytes);
    if (memchr(json_string_value(v), 0, length))
        return fail(error, name, "contains a NUL character");
    char *copy = strdup(json_string_value(v));
    if (!copy)
        return fail(error, name, "out of memory");
    free(*out);
    *out = copy;
    return DF_OK;
}

/* "precision": one of DF_PRECISION_NAMES, or absent/null for the default:
 * the model's own (`model_precision`, NULL: none), else the server's. The
 * value is dropped when it is f32 and so is that default, so f32 requests
 * read as before; an f32 that differs from the default is kept, or the
 * stored request would re-run in the default's precision after a restart. */
static df_status parse_precision(const json_t *body, const df_request_limits *limits,
                                 const char *model_precision, df_request_params *p,
                                 df_request_error *error)
{
    df_status status = get_string(body, "precision", 16, &p->precision, error);
    if (status)
        return status;
    df_precision precision, fallback;
    if (p->precision && (!*p->precision || !df_precision_parse(p->precision, &precision)))
        return fail(error, "precision", "expected one of \"f32\", \"bf16\", \"int8\"");
    const char *default_name = model_precision ? model_precision : limits->default_precision;
    if (!df_precision_parse(default_name, &fallback)) /* checked at start-up */
        fallback = DF_PRECISION_F32;
    if (!p->precision && !(p->precision = strdup(df_precision_name(fallback))))
        return fail(error, "precision", "out of memory");
    if (df_precision_parse(p->precision, &precision) && precision == DF_PRECISION_F32 &&
        fallback == DF_PRECISION_F32) {
        free(p->precision);
        p->precision = NULL;
    }
    return DF_OK;
}

/* The names GET /v1/models lists (df_family_name's; the fuzz target links
 * no engine). */
static const char *family_name(df_family family)
{
    switch (family) {
    case DF_FAMILY_SD1: return "sd1";
    case DF_FAMILY_SD2: return "sd2";
    case DF_FAMILY_SDXL: return "sdxl";
    case DF_FAMILY_UNKNOWN: break;
    }
    return "unknown";
}

/* SDXL's fields, checked against the resolved model `model` (its family is
 * unknown without a resolver: the engine then refuses what does not fit).
 * A value that changes nothing (a 0 size, the default aesthetic score) is
 * accepted anywhere; any other on a model it cannot apply to is refused. */
static df_status parse_sdxl(const json_t *body, const df_request_limits *limits,
                            const df_request_model *model, df_request_params *p,
                            df_request_error *error)
{
    const int known = model->family != DF_FAMILY_UNKNOWN;
    const int sdxl = model->family == DF_FAMILY_SDXL;
    const char *family = family_name(model->family);
    df_status status;
    if ((status = get_string(body, "prompt_2", limits->max_prompt_bytes, &p->prompt_2, error)) ||
        (status = get_string(body, "negative_prompt_2", limits->max_prompt_bytes,
                             &p->negative_prompt_2, error)))
        return status;
    if (known && !sdxl && (p->prompt_2 || p->negative_prompt_2))
        return fail(error, p->prompt_2 ? "prompt_2" : "negative_prompt_2",
                    "the model %s is %s, with one text encoder (prompt_2 and negative_prompt_2 "
                    "are the prompts of SDXL's second)", model->name, family);

    /* Micro-conditioning (diffusers' original_size, crops_coords_top_left,
     * target_size), as flat fields: diffusers' tuples are (height, width)
     * and WxH elsewhere, and a flat name cannot be read the wrong way. */
    static const char *const names[] = {"original_width", "original_height", "target_width",
                                         "target_height", "crop_top", "crop_left"};
    int *const values[] = {&p->original_width, &p->original_height, &p->target_width,
                           &p->target_height, &p->crop_top, &p->crop_left};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        long long value = 0;
        if ((status = get_int(body, names[i], 0, 65536, &value, error)))
            return status;
        if (value && known && !sdxl)
            return fail(error, names[i], "SDXL micro-conditioning; the model %s is %s",
                        model->name, family);
        *values[i] = (int)value;
    }

    if ((status = get_string(body, "refiner", 256, &p->refiner, error)))
        return status;
    if (p->refiner) {
        df_request_model refiner = {0};
        char message[768];
        if (!limits->resolve_model)
            return fail(error, "refiner", "this server offers one model (start it with "
                                          "--models-dir DIR holding the base and the refiner)");
        if (limits->resolve_model(limits->resolve_user, p->refiner, &refiner, message,
                                  sizeof message))
            return fail(error, "refiner", "%s", message);
        if (known && !sdxl)
            return fail(error, "refiner", "the model %s is %s; a refiner follows an SDXL base "
                        "model", model->name, family);
        if (model->refiner)
            return fail(error, "refiner", "the model %s is itself an SDXL refiner; a refiner "
                        "follows an SDXL base model", model->name);
        if (refiner.family != DF_FAMILY_SDXL || !refiner.refiner)
            return fail(error, "refiner", "%s is an %s model, not an SDXL refiner (a model "
                        "with SDXL's second text encoder only)", refiner.name,
                        refiner.family == DF_FAMILY_SDXL ? "SDXL base"
                                                         : family_name(refiner.family));
        free(p->refiner);
        if (!(p->refiner = strdup(refiner.name)))
            return fail(error, "refiner", "out of memory");
    }
    p->refiner_start = DEFAULT_REFINER_START;
    const json_t *start = field(body, "refiner_start");
    if (start && !p->refiner)
        return fail(error, "refiner_start", "only with refiner");
    if (start) {
        double x = json_is_number(start) ? json_number_value(start) : NAN;
        if (!(x > 0 && x < 1)) /* NaN too */
            return fail(error, "refiner_start", "expected a number between 0 and 1, exclusive "
                        "(the fraction of the schedule the base model runs)");
        p->refiner_start = x;
    }

    /* The refiner's conditioning: where a refiner runs (after the base, or
     * as the model of an img2img). */
    p->aesthetic_score = DEFAULT_AESTHETIC_SCORE;
    p->negative_aesthetic_score = DEFAULT_NEGATIVE_AESTHETIC_SCORE;
    if ((status = get_number(body, "aesthetic_score", -1000, 1000, &p->aesthetic_score,
                             error)) ||
        (status = get_number(body, "negative_aesthetic_score", -1000, 1000,
                             &p->negative_aesthetic_score, error)))
        return status;
    const int refines = p->refiner || model->refiner;
    if (!refines && (p->aesthetic_score != DEFAULT_AESTHETIC_SCORE ||
                     p->negative_aesthetic_score != DEFAULT_NEGATIVE_AESTHETIC_SCORE))
        return fail(error, p->aesthetic_score != DEFAULT_AESTHETIC_SCORE
                               ? "aesthetic_score" : "negative_aesthetic_score",
                    "only where an SDXL refiner runs (a refiner, or a refiner as the model of "
                    "an img2img): a base model takes no aesthetic score");

    if (model->refiner && !p->init_image)
        return fail(error, "model", "%s is an SDXL refiner: it refines an init image (img2img: "
                    "init_image) or follows a base model (as \"refiner\"), and makes no image "
                    "from noise", model->name);
    return DF_OK;
}

/* One LoRA name of the request (`field` names where it came from):
 * resolved into *out (malloc'ed). A path is refused before the resolver
 * sees it, so the message says what to send instead. */
static df_status resolve_lora(const df_request_limits *limits, const char *param,
                              const char *tag, const char *name, char **out,
                              df_request_error *error)
{
    /* A tag's messages quote the tag; the loras field's name the entry. */
    char where[160] = "";
    if (tag)
        snprintf(where, sizeof where, "LoRA tag '%.120s': ", tag);
    if (!limits->resolve_lora)
        return fail(error, param, "%sthis server offers no LoRAs (start it with --lora-dir DIR)",
                    where);
    if (strchr(name, '/') || strchr(name, '\\'))
        return fail(error, param, "%s'%.200s' is a path: name a LoRA as GET /v1/loras lists it "
                    "(its file name in the LoRA directory, without .safetensors)", where, name);
    char canonical[256], message[768];
    if (limits->resolve_lora(limits->lora_user, name, canonical, sizeof canonical, message,
                             sizeof message))
        return fail(error, param, "%s%s", where, message);
    if (!(*out = strdup(canonical)))
        return fail(error, param, "out of memory");
    return DF_OK;
}

/* A scale of a "loras" entry: finite, within the limit. */
static df_status lora_scale(const json_t *entry, const char *key, const char *where,
                            double *value, df_request_error *error)
{
    const json_t *v = field(entry, key);
    if (!v)
        return DF_OK;
    char name[64];
    snprintf(name, sizeof name, "%s.%s", where, key);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(x) || fabs(x) > DF_REQUEST_MAX_LORA_SCALE)
        return fail(error, name, "expected a number in [%g, %g]", -DF_REQUEST_MAX_LORA_SCALE,
                    DF_REQUEST_MAX_LORA_SCALE);
    *value = x;
    return DF_OK;
}

static df_status add_lora(df_request_params *p, char *name, double unet, double text,
                          df_request_error *error, const char *param)
{
    if (p->lora_count == DF_REQUEST_MAX_LORAS) {
        free(name);
        return fail(error, param, "more than %d LoRAs (the loras field and prompt tags "
                    "together)", DF_REQUEST_MAX_LORAS);
    }
    if (!p->loras && !(p->loras = calloc(DF_REQUEST_MAX_LORAS, sizeof *p->loras))) {
        free(name);
        return fail(error, param, "out of memory");
    }
    p->loras[p->lora_count++] = (df_request_lora){name, unet, text};
    return DF_OK;
}

/* "loras": [{"name", "scale", "unet_scale", "text_scale"}], then (with
 * weighting) the prompt's <lora:...> tags, which leave the prompt. */
static df_status parse_loras(const json_t *body, const df_request_limits *limits,
                             df_request_params *p, df_request_error *error)
{
    const json_t *list = field(body, "loras");
    if (list && !json_is_array(list))
        return fail(error, "loras", "expected an array of {\"name\", \"scale\"} objects (at "
                    "most %d)", DF_REQUEST_MAX_LORAS);
    if (list && json_array_size(list) > DF_REQUEST_MAX_LORAS)
        return fail(error, "loras", "%zu LoRAs is more than the limit of %d",
                    json_array_size(list), DF_REQUEST_MAX_LORAS);
    df_status status;
    size_t i;
    const json_t *entry;
    json_array_foreach(list, i, entry) {
        char where[32], name_field[48];
        snprintf(where, sizeof where, "loras[%zu]", i);
        snprintf(name_field, sizeof name_field, "%s.name", where);
        if (!json_is_object(entry))
            return fail(error, where, "expected an object {\"name\", \"scale\"}");
        const char *key;
        const json_t *value;
        json_object_foreach((json_t *)entry, key, value) {
            if (strcmp(key, "name") && strcmp(key, "scale") && strcmp(key, "unet_scale") &&
                strcmp(key, "text_scale")) {
                char unknown[64];
                snprintf(unknown, sizeof unknown, "%s.%.24s", where, key);
                return fail(error, unknown, "unknown field (accepted: name, scale, unet_scale, "
                            "text_scale)");
            }
            (void)value;
        }
        const json_t *name = field(entry, "name");
        if (!json_is_string(name) || !json_string_length(name))
            return fail(error, name_field, "required: a LoRA name (GET /v1/loras lists them)");
        if (memchr(json_string_value(name), 0, json_string_length(name)))
            return fail(error, name_field, "contains a NUL character");
        double scale = 1, unet, text;
        if ((status = lora_scale(entry, "scale", where, &scale, error)))
            return status;
        unet = text = scale;
        if ((status = lora_scale(entry, "unet_scale", where, &unet, error)) ||
            (status = lora_scale(entry, "text_scale", where, &text, error)))
            return status;
        char *resolved = NULL;
        if ((status = resolve_lora(limits, name_field, NULL, json_string_value(name), &resolved,
                                   error)) ||
            (status = add_lora(p, resolved, unet, text, error, "loras")))
            return status;
    }
    if (!p->weighting)
        return DF_OK;
    df_lora_prompt parsed;
    df_error parse_error = {0};
    if (df_lora_prompt_parse(p->prompt, &parsed, &parse_error))
        return fail(error, "prompt", "%s", parse_error.message);
    status = DF_OK;
    for (int t = 0; t < parsed.count && !status; t++) {
        const df_lora_prompt_tag *tag = &parsed.tags[t];
        char text[300];
        if (tag->unet_scale == tag->text_scale)
            snprintf(text, sizeof text, "<lora:%.200s:%g>", tag->name, tag->text_scale);
        else
            snprintf(text, sizeof text, "<lora:%.200s:%g:%g>", tag->name, tag->text_scale,
                     tag->unet_scale);
        char *resolved = NULL;
        if (fabs(tag->unet_scale) > DF_REQUEST_MAX_LORA_SCALE ||
            fabs(tag->text_scale) > DF_REQUEST_MAX_LORA_SCALE)
            status = fail(error, "prompt", "LoRA tag '%s': scales are numbers in [%g, %g]", text,
                          -DF_REQUEST_MAX_LORA_SCALE, DF_REQUEST_MAX_LORA_SCALE);
        if (!status)
            status = resolve_lora(limits, "prompt", text, tag->name, &resolved, error);
        if (!status)
            status = add_lora(p, resolved, tag->unet_scale, tag->text_scale, error, "prompt");
    }
    if (!status && parsed.count) {
        free(p->prompt);
        p->prompt = parsed.prompt; /* the prompt without its tags */
        parsed.prompt = NULL;
    }
    df_lora_prompt_free(&parsed);
    return status;
}

static df_status parse_fields(const json_t *body, const df_request_limits *limits,
                              df_request_params *p, df_request_error *error)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        int known = 0;
        for (int i = 0; known_fields[i] && !known; i++)
            known = !strcmp(key, known_fields[i]);
        if (!known)
            return fail(error, key, "unknown field (accepted: prompt, negative_prompt, width, "
                                    "height, steps, guidance_scale, sampler, schedule, spacing, "
                                    "seed, seed_mode, rng, batch (or n), clip_skip, weighting, "
                                    "eta, prediction, preview_every, model, init_image, "
                                    "strength, decoder, preset, precision, prompt_2, "
                                    "negative_prompt_2, original_width, original_height, "
                                    "target_width, target_height, crop_top, crop_left, "
                                    "aesthetic_score, negative_aesthetic_score, refiner, "
                                    "refiner_start, loras)");
        (void)value;
    }
    if (field(body, "batch") && field(body, "n"))
        return fail(error, "n", "give either batch or n, not both");

    const json_t *prompt = json_object_get(body, "prompt");
    if (!prompt || json_is_null(prompt))
        return fail(error, "prompt", "required (a string; \"\" is the empty prompt)");
    df_status status;
    if ((status = get_string(body, "prompt", limits->max_prompt_bytes, &p->prompt, error)) ||
        (status = get_string(body, "negative_prompt", limits->max_prompt_bytes,
                             &p->negative_prompt, error)) ||
        (status = get_string(body, "sampler", 64, &p->sampler, error)) ||
        (status = get_string(body, "schedule", 64, &p->schedule, error)) ||
        (status = get_string(body, "spacing", 64, &p->spacing, error)) ||
        (status = get_string(body, "rng", 64, &p->rng, error)) ||
        (status = get_string(body, "prediction", 64, &p->prediction, error)))
        return status;
    /* An absent negative prompt stays NULL: on an SDXL base it is not the
     * same as "" (request.h). */

    /* The model first: sizes are checked against the one the job runs on. */
    int size_multiple = limits->size_multiple, default_size = limits->default_size;
    const json_t *model = field(body, "model");
    if (model && !json_is_string(model))
        return fail(error, "model", "expected a string (a model name)");
    const char *model_precision = NULL; /* the resolved model's own default */
    df_request_model resolved = {0};    /* family unknown without a resolver */
    if (limits->resolve_model) {
        char message[768];
        if (limits->resolve_model(limits->resolve_user, model ? json_string_value(model) : NULL,
                                  &resolved, message, sizeof message))
            return fail(error, "model", "%s", message);
        if (!(p->model = strdup(resolved.name)))
            return fail(error, "model", "out of memory");
        size_multiple = resolved.size_multiple;
        default_size = resolved.default_size;
        model_precision = resolved.precision;
    } else if (model) {
        return fail(error, "model", "this server offers one model (start it with --models-dir "
                                    "DIR for several)");
    }
    if ((status = get_string(body, "init_image", limits->max_init_image_bytes, &p->init_image,
                             error)))
        return status;
    if (p->init_image) {
        unsigned char *bytes = NULL;
        size_t size = 0;
        df_image image = {0};
        df_error image_error = {0};
        if (df_request_base64_decode(p->init_image, strlen(p->init_image), &bytes, &size))
            return fail(error, "init_image", "not valid base64");
        df_status decoded = df_image_decode(bytes, size, 0, &image, &image_error);
        free(bytes);
        if (decoded)
            return fail(error, "init_image", "%s", image_error.message);
        p->init_pixels = image.pixels;
        p->init_width = image.width;
        p->init_height = image.height;
        /* Without a size, the init image's (rounded down to the multiple). */
        if (image.width >= size_multiple && image.height >= size_multiple)
            default_size = -1;
    }
    p->strength = 0.75;
    if ((status = get_number(body, "strength", 0, 1, &p->strength, error)))
        return status;
    if (field(body, "strength") && !p->init_image)
        return fail(error, "strength", "only with init_image (image to image)");

    /* Defaults stay within this server's limits: a --max-steps 4 or
     * --max-side 256 server runs 4 steps at 256 when a request names none,
     * not 20 at the model's 512 (the limits bound what a request costs). */
    if (default_size > limits->max_side && size_multiple > 0)
        default_size = limits->max_side / size_multiple * size_multiple;
    long long width = default_size, height = default_size,
              steps = limits->max_steps < 20 ? limits->max_steps : 20,
              batch = 1, clip_skip = 1, preview_every = 0, seed = -1;
    if ((status = get_int(body, "width", 1, limits->max_side, &width, error)) ||
        (status = get_int(body, "height", 1, limits->max_side, &height, error)) ||
        (status = get_int(body, "steps", 1, limits->max_steps, &steps, error)) ||
        (status = get_int(body, "batch", 1, limits->max_batch, &batch, error)) ||
        (status = get_int(body, "n", 1, limits->max_batch, &batch, error)) ||
        (status = get_int(body, "clip_skip", 1, 12, &clip_skip, error)) ||
        (status = get_int(body, "preview_every", 0, 1000, &preview_every, error)) ||
        (status = get_int(body, "seed", -1, INT64_MAX, &seed, error)))
        return status;
    /* A resolver's multiple is a model's (> 0); the guard keeps a bad one
     * from dividing by zero. */
    const int multiple = size_multiple > 0 ? size_multiple : 1;
    if (default_size < 0) {
        if (!field(body, "width"))
            width = p->init_width / multiple * multiple;
        if (!field(body, "height"))
            height = p->init_height / multiple * multiple;
        /* Sizes taken from the image skipped get_int's range check. */
        if (width > limits->max_side || height > limits->max_side)
            return fail(error, width > limits->max_side ? "width" : "height",
                        "the init image is %dx%d, over the largest side of %d: give width "
                        "and height", p->init_width, p->init_height, limits->max_side);
    }
    if (width < multiple || width % multiple)
        return fail(error, "width", "%lld is not a multiple of %d (this model's size multiple) "
                    "in [%d, %d]", width, multiple, multiple, limits->max_side);
    if (height < multiple || height % multiple)
        return fail(error, "height", "%lld is not a multiple of %d (this model's size multiple) "
                    "in [%d, %d]", height, multiple, multiple, limits->max_side);
    if (preview_every > 0 && !limits->previews)
        return fail(error, "preview_every", "this server has no TAESD decoder for previews "
                                            "(start it with --taesd PATH)");
    p->width = (int)width;
    p->height = (int)height;
    p->steps = (int)steps;
    p->batch = (int)batch;
    p->clip_skip = (int)clip_skip;
    p->preview_every = (int)preview_every;
    p->seed = seed < 0 ? df_random_seed() : seed;

    p->guidance_scale = 7.5;
    if ((status = get_number(body, "guidance_scale", 0, 100, &p->guidance_scale, error)) ||
        (status = get_number(body, "eta", 0, 1, &p->eta, error)))
        return status;

    /* The preset fills what the request left out: explicit fields win. */
    if ((status = get_string(body, "preset", 64, &p->preset, error)))
        return status;
    if (p->preset) {
        const df_preset *preset = NULL;
        df_error preset_error = {0};
        if (df_preset_find(p->preset, &preset, &preset_error))
            return fail(error, "preset", "'%s' is not one of: %s", p->preset, df_preset_names());
        if (!field(body, "steps"))
            p->steps = preset->steps < limits->max_steps ? preset->steps : limits->max_steps;
        if (!field(body, "guidance_scale"))
            p->guidance_scale = preset->guidance_scale;
        if (preset->sampler && (!p->sampler || !*p->sampler)) {
            free(p->sampler);
            if (!(p->sampler = strdup(preset->sampler)))
                return fail(error, "preset", "out of memory");
        }
        if (preset->spacing && (!p->spacing || !*p->spacing)) {
            free(p->spacing);
            if (!(p->spacing = strdup(preset->spacing)))
                return fail(error, "preset", "out of memory");
        }
    }

    /* The final decoder: TAESD only where the server has one. */
    if ((status = get_string(body, "decoder", 64, &p->decoder, error)))
        return status;
    if (p->decoder && strcmp(p->decoder, "vae") && strcmp(p->decoder, "taesd"))
        return fail(error, "decoder", "'%s' is not one of: vae, taesd", p->decoder);
    if (p->decoder && !strcmp(p->decoder, "taesd") && !limits->previews)
        return fail(error, "decoder", "taesd needs a TAESD decoder, which this server has not "
                                      "(start it with --taesd PATH)");

    const json_t *weighting = field(body, "weighting");
    if (weighting && !json_is_boolean(weighting))
        return fail(error, "weighting", "expected true or false");
    p->weighting = weighting && json_is_true(weighting);

    const json_t *mode = field(body, "seed_mode");
    if (mode) {
        const char *name = json_is_string(mode) ? json_string_value(mode) : "";
        if (!strcmp(name, "batch"))
            p->seed_mode = DF_SEED_BATCH;
        else if (!strcmp(name, "per-image"))
            p->seed_mode = DF_SEED_PER_IMAGE;
        else
            return fail(error, "seed_mode", "expected \"batch\" or \"per-image\"");
    }

    /* Names, with the engine's own parsers (their messages list the valid
     * names). */
    df_error engine = {0};
    df_sampler_kind kind;
    df_sigma_schedule schedule;
    df_timestep_spacing spacing;
    if (p->sampler && *p->sampler && df_sampler_parse(p->sampler, &kind, &schedule, &engine))
        return fail(error, "sampler", "%s", engine.message);
    if (p->schedule && *p->schedule && df_sigma_schedule_parse(p->schedule, &schedule, &engine))
        return fail(error, "schedule", "%s", engine.message);
    if (p->spacing && *p->spacing && df_timestep_spacing_parse(p->spacing, &spacing, &engine))
        return fail(error, "spacing", "%s", engine.message);
    if (p->rng && strcmp(p->rng, "cpu") && strcmp(p->rng, "philox"))
        return fail(error, "rng", "expected \"cpu\" or \"philox\"");
    if (p->prediction && strcmp(p->prediction, "epsilon") && strcmp(p->prediction, "v_prediction"))
        return fail(error, "prediction", "expected \"epsilon\" or \"v_prediction\"");
    if ((status = parse_precision(body, limits, model_precision, p, error)) ||
        (status = parse_sdxl(body, limits, &resolved, p, error)) ||
        (status = parse_loras(body, limits, p, error)))
        return status;
    return DF_OK;
}

df_status df_request_parse(const json_t *body, const df_request_limits *limits,
                           df_request_params *out, df_request_error *error)
{
    memset(out, 0, sizeof *out);
    memset(error, 0, sizeof *error);
    if (!json_is_object(body))
        return fail(error, "", "the request body must be a JSON object");
    df_status status = parse_fields(body, limits, out, error);
    if (!status && limits->check_request &&
        limits->check_request(limits->check_user, out, error->param, sizeof error->param,
                              error->message, sizeof error->message))
        status = DF_ERR_INVALID_ARGUMENT;
    if (status)
        df_request_params_free(out);
    return status;
}

/* json_object_set_new that tolerates a NULL value (out of memory: reported
 * by the caller's final check). */
static int set(json_t *object, const char *key, json_t *value)
{
    return value ? json_object_set_new(object, key, value) : -1;
}

json_t *df_request_to_json(const df_request_params *p)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int failed = 0;
    failed |= set(o, "prompt", json_string(p->prompt ? p->prompt : ""));
    if (p->negative_prompt) /* absent stays absent (request.h) */
        failed |= set(o, "negative_prompt", json_string(p->negative_prompt));
    failed |= set(o, "width", json_integer(p->width));
    failed |= set(o, "height", json_integer(p->height));
    failed |= set(o, "steps", json_integer(p->steps));
    failed |= set(o, "guidance_scale", json_real(p->guidance_scale));
    failed |= set(o, "seed", json_integer(p->seed));
    failed |= set(o, "seed_mode",
                  json_string(p->seed_mode == DF_SEED_PER_IMAGE ? "per-image" : "batch"));
    failed |= set(o, "batch", json_integer(p->batch));
    failed |= set(o, "clip_skip", json_integer(p->clip_skip));
    failed |= set(o, "weighting", json_boolean(p->weighting));
    failed |= set(o, "eta", json_real(p->eta));
    failed |= set(o, "preview_every", json_integer(p->preview_every));
    if (p->init_image)
        failed |= set(o, "strength", json_real(p->strength));
    /* Names the client left to the engine stay absent (the model decides). */
    if (p->precision)
        failed |= set(o, "precision", json_string(p->precision));
    const char *names[] = {"sampler", "schedule", "spacing", "rng", "prediction", "model",
                           "init_image",
                           "decoder",
                           "preset",
                           "prompt_2", "negative_prompt_2", "refiner"};
    const char *values[] = {p->sampler, p->schedule, p->spacing, p->rng, p->prediction,
                            p->model, p->init_image,
                            p->decoder,
                            p->preset,
                            p->prompt_2, p->negative_prompt_2, p->refiner};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (values[i])
            failed |= set(o, names[i], json_string(values[i]));
    /* SDXL's numbers only where they differ from the defaults, so requests
     * without them are stored as before. */
    const char *sizes[] = {"original_width", "original_height", "target_width",
                           "target_height", "crop_top", "crop_left"};
    const int size_values[] = {p->original_width, p->original_height, p->target_width,
                               p->target_height, p->crop_top, p->crop_left};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (size_values[i])
            failed |= set(o, sizes[i], json_integer(size_values[i]));
    if (p->aesthetic_score != DEFAULT_AESTHETIC_SCORE)
        failed |= set(o, "aesthetic_score", json_real(p->aesthetic_score));
    if (p->negative_aesthetic_score != DEFAULT_NEGATIVE_AESTHETIC_SCORE)
        failed |= set(o, "negative_aesthetic_score", json_real(p->negative_aesthetic_score));
    if (p->refiner)
        failed |= set(o, "refiner_start", json_real(p->refiner_start));
    /* Every LoRA, the prompt's tags included (the prompt is stored without
     * them), so the stored request does not depend on "weighting" to find
     * them again. */
    if (p->lora_count) {
        json_t *loras = json_array();
        failed |= loras ? 0 : -1;
        for (int i = 0; loras && i < p->lora_count; i++) {
            const df_request_lora *l = &p->loras[i];
            json_t *entry = l->unet_scale == l->text_scale
                                ? json_pack("{s:s, s:f}", "name", l->name, "scale", l->unet_scale)
                                : json_pack("{s:s, s:f, s:f}", "name", l->name, "unet_scale",
                                            l->unet_scale, "text_scale", l->text_scale);
            failed |= entry ? json_array_append_new(loras, entry) : -1;
        }
        failed |= set(o, "loras", loras);
    }
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void df_request_to_generate(const df_request_params *p, df_generate_request *out)
{
    df_generate_request_init(out);
    out->prompt = p->prompt;
    out->negative_prompt = p->negative_prompt;
    out->width = p->width;
    out->height = p->height;
    out->steps = p->steps;
    out->guidance_scale = (float)p->guidance_scale;
    out->sampler = p->sampler;
    out->schedule = p->schedule;
    out->spacing = p->spacing;
    out->prediction = p->prediction;
    out->seed = p->seed;
    out->rng = p->rng;
    out->seed_mode = p->seed_mode;
    out->batch = p->batch;
    out->clip_skip = p->clip_skip;
    out->prompt_flags = p->weighting ? DF_PROMPT_WEIGHTING : 0;
    out->eta = (float)p->eta;
    out->preview_every = p->preview_every;
    out->decoder = p->decoder;
    out->precision = p->precision;
    out->prompt_2 = p->prompt_2;
    out->negative_prompt_2 = p->negative_prompt_2;
    out->original_width = p->original_width;
    out->original_height = p->original_height;
    out->target_width = p->target_width;
    out->target_height = p->target_height;
    out->crop_top = p->crop_top;
    out->crop_left = p->crop_left;
    out->aesthetic_score = (float)p->aesthetic_score;
    out->negative_aesthetic_score = (float)p->negative_aesthetic_score;
    if (p->refiner) /* the caller sets out->refiner to the model it names */
        out->refiner_start = (float)p->refiner_start;
    if (p->init_pixels) {
        out->init_pixels = p->init_pixels;
        out->init_width = p->init_width;
        out->init_height = p->init_height;
        out->strength = (float)p->strength;
    }
}

void df_request_params_free(df_request_params *p)
{
    if (!p)
        return;
    free(p->prompt);
    free(p->negative_prompt);
    free(p->sampler);
    free(p->schedule);
    free(p->spacing);
    free(p->rng);
    free(p->prediction);
    free(p->model);
    free(p->init_image);
    free(p->init_pixels);
    free(p->decoder);
    free(p->preset);
    free(p->precision);
    free(p->prompt_2);
    free(p->negative_prompt_2);
    free(p->refiner);
    for (int i = 0; i < p->lora_count; i++)
        free(p->loras[i].name);
    free(p->loras);
    memset(p, 0, sizeof *p);
}

int df_request_base64_decode(const char *text, size_t length, unsigned char **out,
                             size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    if (length > 5 && !strncmp(text, "data:", 5)) {
        const char *comma = memchr(text, ',', length);
        if (!comma)
            return -1;
        length -= (size_t)(comma + 1 - text);
        text = comma + 1;
    }
    unsigned char *bytes = malloc(length / 4 * 3 + 3);
    if (!bytes)
        return -1;
    size_t n = 0;
    uint32_t accumulator = 0;
    int bits = 0, padding = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        int value;
        if (c >= 'A' && c <= 'Z') value = c - 'A';
        else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
        else if (c >= '0' && c <= '9') value = c - '0' + 52;
        else if (c == '+' || c == '-') value = 62;
        else if (c == '/' || c == '_') value = 63;
        else if (c == '=') { padding++; continue; }
        else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        else { free(bytes); return -1; }
        if (padding) { free(bytes); return -1; } /* data after padding */
        accumulator = (accumulator << 6) | (uint32_t)value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (unsigned char)(accumulator >> bits);
        }
    }
    if (bits >= 6 || padding > 2 || n == 0) { /* a lone 6-bit group is no byte */
        free(bytes);
        return -1;
    }
    *out = bytes;
    *out_size = n;
    return 0;
}
