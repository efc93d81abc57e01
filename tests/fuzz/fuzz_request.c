/*
 * fuzz_request.c — libFuzzer target: the bytes are an HTTP request body.
 * Parsed as JSON (any value, duplicate keys rejected, as the routes do) and
 * validated by df_request_parse under two servers' limits (one model and no
 * LoRAs; a catalogue with a resolver, previews, and a server and a
 * per-model default precision that differ, with SD 1.x, SDXL base and SDXL
 * refiner models so the SDXL fields and the refiner are checked against
 * each family, and a LoRA directory of two names), it must
 * give DF_OK or an error, never a crash, a leak or an out-of-bounds access
 * (ASan/UBSan are on).
 *
 * Invariants checked (abort() when broken):
 *  - a failure names its field and says why in valid UTF-8 (the message goes
 *    into a JSON error body, which jansson refuses otherwise);
 *  - a success round-trips: df_request_to_json, written as text and parsed
 *    again as the job store does on restart, parses under the same limits to
 *    the same generation, precision and the SDXL fields (prompt_2, sizes,
 *    aesthetic scores, refiner) included (request.h states this), and an
 *    absent negative prompt stays absent (on SDXL it is not ""); so do the
 *    LoRAs, the prompt's <lora:...> tags included (with weighting they move
 *    into "loras": the stored prompt has none left);
 *  - LoRAs fit the limits: at most DF_REQUEST_MAX_LORAS, finite scales
 *    within DF_REQUEST_MAX_LORA_SCALE, names the directory's own (none at
 *    all without a directory);
 *  - a success fits its model: no prompt_2 or refiner on an SD 1.x model, no
 *    refiner on a refiner, no text to image on a refiner;
 *  - df_request_base64_decode of the raw bytes never reads or writes outside
 *    them, and what it returns fits the size it reports.
 *
 * The fuzz library has no engine (see DF_FUZZ in CMakeLists.txt), so the
 * two generate.c functions request.c calls are defined here: a fixed seed
 * (random seeds would make runs unrepeatable) and the request defaults.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/lora_prompt.h"
#include "server/request.h"

int64_t df_random_seed(void) { return 1234; }

void df_generate_request_init(df_generate_request *request)
{
    memset(request, 0, sizeof *request);
}

/* The catalogue of the second server: "tiny" (SD 1.x, the default),
 * "tiny-v.safetensors" (SD 2.x) with another multiple and default size and
 * its own precision (--model-precision) over the server's (bf16, below),
 * and an SDXL base "xl" and refiner "xl-refiner". */
static int resolve(void *user, const char *name, df_request_model *out, char *message,
                   size_t message_size)
{
    (void)user;
    if (!name || !strcmp(name, "tiny")) {
        snprintf(out->name, sizeof out->name, "tiny");
        out->size_multiple = 64;
        out->default_size = 512;
        out->family = DF_FAMILY_SD1;
        return 0;
    }
    if (!strcmp(name, "tiny-v") || !strcmp(name, "tiny-v.safetensors")) {
        snprintf(out->name, sizeof out->name, "tiny-v.safetensors");
        out->size_multiple = 8;
        out->default_size = 768;
        out->precision = "f32";
        out->family = DF_FAMILY_SD2;
        return 0;
    }
    if (!strcmp(name, "xl") || !strcmp(name, "xl-refiner")) {
        snprintf(out->name, sizeof out->name, "%s", name);
        out->size_multiple = 8;
        out->default_size = 32;
        out->family = DF_FAMILY_SDXL;
        out->refiner = !strcmp(name, "xl-refiner");
        return 0;
    }
    snprintf(message, message_size, "unknown model '%s' (available: tiny, tiny-v.safetensors, "
             "xl, xl-refiner)", name);
    return -1;
}

/* The LoRA directory of the second server: "style" and "detail" (a name
 * may carry ".safetensors"). */
static int resolve_lora(void *user, const char *name, char *canonical, size_t canonical_size,
                        char *message, size_t message_size)
{
    (void)user;
    const char *known[] = {"style", "detail"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(known[i]);
        if (!strncmp(name, known[i], n) && (!name[n] || !strcmp(name + n, ".safetensors"))) {
            snprintf(canonical, canonical_size, "%s", known[i]);
            return 0;
        }
    }
    snprintf(message, message_size, "unknown LoRA '%.200s' (offered: style, detail)", name);
    return -1;
}

static void check_utf8(const char *text)
{
    json_t *string = json_string(text);
    if (!string)
        abort();
    json_decref(string);
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_loras(const df_request_params *a, const df_request_params *b)
{
    if (a->lora_count != b->lora_count)
        return 0;
    for (int i = 0; i < a->lora_count; i++)
        if (strcmp(a->loras[i].name, b->loras[i].name) ||
            a->loras[i].unet_scale != b->loras[i].unet_scale ||
            a->loras[i].text_scale != b->loras[i].text_scale)
            return 0;
    return 1;
}

/* The fields that decide what is generated. */
static int same_generation(const df_request_params *a, const df_request_params *b)
{
    return same_loras(a, b) && same_text(a->prompt, b->prompt) && same_text(a->negative_prompt, b->negative_prompt) &&
           same_text(a->sampler, b->sampler) && same_text(a->schedule, b->schedule) &&
           same_text(a->spacing, b->spacing) && same_text(a->rng, b->rng) &&
           same_text(a->prediction, b->prediction) && same_text(a->model, b->model) &&
           same_text(a->init_image, b->init_image) && same_text(a->precision, b->precision) &&
           a->width == b->width &&
           a->height == b->height && a->steps == b->steps && a->batch == b->batch &&
           a->clip_skip == b->clip_skip && a->preview_every == b->preview_every &&
           a->weighting == b->weighting && a->guidance_scale == b->guidance_scale &&
           a->eta == b->eta && a->seed == b->seed && a->seed_mode == b->seed_mode &&
           a->init_width == b->init_width && a->init_height == b->init_height &&
           a->strength == b->strength &&
           same_text(a->prompt_2, b->prompt_2) &&
           same_text(a->negative_prompt_2, b->negative_prompt_2) &&
           same_text(a->refiner, b->refiner) && a->refiner_start == b->refiner_start &&
           a->original_width == b->original_width && a->original_height == b->original_height &&
           a->target_width == b->target_width && a->target_height == b->target_height &&
           a->crop_top == b->crop_top && a->crop_left == b->crop_left &&
           a->aesthetic_score == b->aesthetic_score &&
           a->negative_aesthetic_score == b->negative_aesthetic_score &&
           (!a->init_pixels) == (!b->init_pixels) &&
           (!a->init_pixels ||
            !memcmp(a->init_pixels, b->init_pixels, (size_t)a->init_width * a->init_height * 3));
}

static void parse_round_trip(const json_t *body, const df_request_limits *limits)
{
    df_request_params params;
    df_request_error error;
    if (df_request_parse(body, limits, &params, &error) != DF_OK) {
        if (!error.message[0])
            abort();
        check_utf8(error.param);
        check_utf8(error.message);
        df_request_params_free(&params);
        return;
    }
    if (!params.prompt || params.seed < 0 || params.width < 1 || params.height < 1 ||
        params.width > limits->max_side || params.height > limits->max_side)
        abort();
    /* The model's fit (request.h): the catalogue's families are known. */
    if (limits->resolve_model) {
        const int sdxl = params.model && (!strcmp(params.model, "xl") ||
                                          !strcmp(params.model, "xl-refiner"));
        const int refiner = params.model && !strcmp(params.model, "xl-refiner");
        if ((!sdxl && (params.prompt_2 || params.negative_prompt_2 || params.refiner ||
                       params.original_width || params.crop_top)) ||
            (refiner && (params.refiner || !params.init_image)) ||
            (params.refiner && strcmp(params.refiner, "xl-refiner")) ||
            (params.refiner && !(params.refiner_start > 0 && params.refiner_start < 1)))
            abort();
    } else if (params.refiner) {
        abort(); /* one model: no refiner to name */
    }
    const json_t *negative = json_object_get(body, "negative_prompt");
    if ((!negative || json_is_null(negative)) != !params.negative_prompt)
        abort();
    /* LoRAs (request.h): within the limits, the directory's names, and with
     * weighting no tag left in the prompt. */
    if (params.lora_count > DF_REQUEST_MAX_LORAS || (params.lora_count && !limits->resolve_lora) ||
        (params.weighting && df_lora_prompt_has_tags(params.prompt)))
        abort();
    for (int i = 0; i < params.lora_count; i++)
        if (!(fabs(params.loras[i].unet_scale) <= DF_REQUEST_MAX_LORA_SCALE) ||
            !(fabs(params.loras[i].text_scale) <= DF_REQUEST_MAX_LORA_SCALE) ||
            (strcmp(params.loras[i].name, "style") && strcmp(params.loras[i].name, "detail")))
            abort();
    json_t *normalized = df_request_to_json(&params);
    char *text = normalized ? json_dumps(normalized, JSON_COMPACT) : NULL;
    json_decref(normalized);
    if (!text) /* out of memory only */
        abort();
    json_error_t json_error;
    json_t *again = json_loads(text, 0, &json_error);
    free(text);
    df_request_params reparsed;
    df_request_error reparse_error;
    if (!again || df_request_parse(again, limits, &reparsed, &reparse_error) != DF_OK)
        abort();
    if (!same_generation(&params, &reparsed))
        abort();
    json_decref(again);
    df_request_params_free(&reparsed);
    df_request_params_free(&params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Base64 of the raw bytes (a copy, so a read past the end is ASan's). */
    char *raw = malloc(size ? size : 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    unsigned char *decoded = NULL;
    size_t decoded_size = 0;
    if (!df_request_base64_decode(raw, size, &decoded, &decoded_size)) {
        if (!decoded || !decoded_size || decoded_size > size / 4 * 3 + 3)
            abort();
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < decoded_size; i++)
            sink ^= decoded[i];
        (void)sink;
    } else if (decoded || decoded_size) {
        abort();
    }
    free(decoded);
    free(raw);

    json_error_t json_error;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                              &json_error);
    if (!body)
        return 0;
    df_request_limits single;
    df_request_limits_default(&single, 64, 512);
    single.max_side = 1024;
    parse_round_trip(body, &single);

    df_request_limits catalogue;
    df_request_limits_default(&catalogue, 64, 512);
    catalogue.max_side = 1024;
    catalogue.max_steps = 150;
    catalogue.max_batch = 4;
    catalogue.max_prompt_bytes = 1000;
    catalogue.previews = 1;
    catalogue.resolve_model = resolve;
    catalogue.default_precision = "bf16";
    catalogue.resolve_lora = resolve_lora;
    parse_round_trip(body, &catalogue);
    json_decref(body);
    return 0;
}
