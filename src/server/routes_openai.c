/*
 * routes_openai.c — OpenAI's Images API on the one request model:
 *   POST /v1/images/generations        {"created", "data": [{"b64_json"} | {"url"}]}
 *                                      or, with "stream": true, server-sent events
 *   GET  /v1/images/files/{job}/{n}.{ext}?expires=&signature=   a "url" result
 *   GET  /v1/models, GET /v1/models/{model}                      OpenAI's list shape,
 *                                      each model with its default "precision",
 *                                      its "family" and whether it is a "refiner"
 *
 * Translation: size "WxH" -> width/height, n -> batch, partial_images ->
 * preview_every; our extensions (negative_prompt, steps, guidance_scale,
 * seed, sampler, loras and the other generation fields of request.h, except
 * width/height/batch/preview_every, which OpenAI's names cover) go through
 * as they are. OpenAI fields that do not apply to a diffusion model
 * (quality, style, moderation, background other than "transparent") are
 * accepted and ignored, since OpenAI's SDKs and tools send them with
 * defaults; any other field is REJECTED with 400 naming it, as the core does.
 * "model" is the core's "model" (a name GET /v1/models lists; 404
 * model_not_found otherwise); "diffuse" or no model means the default one.
 *
 * Execution: a job like any other (stored, queued, X-Job-Id); the request
 * waits for it in this connection's thread and a client that hangs up
 * cancels it (df_routes_wait, shared with the Vertex routes). A streaming
 * request's job is cancelled when the client leaves the stream.
 *
 * "url" results: absolute URLs (from Host, or X-Forwarded-Host and
 * X-Forwarded-Proto from a --trust-proxy address) to GET /v1/images/files/..., signed with SipHash-2-4
 * under a key kept in DATA/openai-url.key (so they survive a restart), valid
 * for an hour (as OpenAI's) or until the store deletes the job
 * (--retention-hours), whichever comes first.
 *
 * Errors: OpenAI's shape, {"error": {"message", "type", "param", "code"}},
 * with param and code null when there is none.
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "runtime/error.h"
#include "server/routes.h"
#include "server/util.h"
#include "server/log.h"

#define POLL_MS 250
#define URL_LIFETIME_S 3600
#define MAX_PARTIAL_IMAGES 3

/* ------------------------------------------------------------------------ */
/* Shared with the other families (declared in routes.h)                    */

json_t *df_routes_openai_error(const df_http_error_info *info)
{
    json_t *error = json_pack("{s:s, s:s, s:s?, s:s?}", "message", info->message, "type",
                              info->type, "param", info->param && *info->param ? info->param : NULL,
                              "code", info->code);
    return error ? json_pack("{s:o}", "error", error) : NULL;
}

const char *df_routes_model_name(const df_server *server)
{
    static __thread char name[256];
    df_models_default(server->models, name, sizeof name);
    return name;
}

json_t *df_routes_finished_record(df_http_request *request, const char *id, df_job_state state,
                                  enum MHD_Result *answered)
{
    df_server *server = request->context;
    json_t *record = NULL;
    df_error error = {0};
    if (df_store_get(server->store, id, &record, &error) || !record) {
        *answered = df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL,
                                       "job %s: %s", id, error.status ? error.message : "gone");
        return NULL;
    }
    if (state == DF_JOB_COMPLETED)
        return record;
    json_t *job_error = json_object_get(record, "error");
    const char *type = json_string_value(json_object_get(job_error, "type"));
    const char *message = json_string_value(json_object_get(job_error, "message"));
    int client_error = type && !strcmp(type, "invalid_request_error");
    *answered = state == DF_JOB_CANCELLED
                    ? df_http_send_error(request, 409, "invalid_request_error", "job_cancelled",
                                         NULL, NULL, "job %s was cancelled", id)
                    : df_http_send_error(request, client_error ? 400 : 500,
                                         client_error ? "invalid_request_error" : "server_error",
                                         client_error ? "invalid_parameter" : "generation_failed",
                                         client_error ? df_routes_failed_param(message) : NULL,
                                         NULL, "%s", message ? message : "generation failed");
    json_decref(record);
    return NULL;
}

df_status df_routes_image_bytes(df_server *server, const json_t *record, int index,
                                df_image_format format, int quality, unsigned char **out,
                                size_t *out_size, df_error *error)
{
    const char *type = NULL;
    unsigned char *png = NULL;
    size_t png_size = 0;
    *out = NULL;
    df_status status = df_routes_job_image(server, record, index, DF_IMAGE_PNG, &png, &png_size,
                                           &type, error);
    if (status || format == DF_IMAGE_PNG) {
        *out = png;
        *out_size = png_size;
        return status;
    }
    df_image image = {0};
    char *parameters = NULL;
    status = df_image_decode(png, png_size, 0, &image, error);
    if (!status)
        status = df_image_read_parameters(png, png_size, &parameters, error);
    if (!status)
        status = df_image_encode(&image, format, quality, parameters, out, out_size, error);
    if (status == DF_ERR_INVALID_ARGUMENT && parameters) /* too long for EXIF */
        status = df_image_encode(&image, format, quality, NULL, out, out_size, error);
    free(parameters);
    df_image_free(&image);
    free(png);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static const char *format_extension(df_image_format format)
{
    return format == DF_IMAGE_JPEG ? "jpeg" : format == DF_IMAGE_WEBP ? "webp" : "png";
}

static int parse_format(const char *name, df_image_format *format)
{
    if (!strcmp(name, "png"))
        *format = DF_IMAGE_PNG;
    else if (!strcmp(name, "jpeg") || !strcmp(name, "jpg"))
        *format = DF_IMAGE_JPEG;
    else if (!strcmp(name, "webp"))
        *format = DF_IMAGE_WEBP;
    else
        return 0;
    return 1;
}

static const char *content_type_of(df_image_format format)
{
    return format == DF_IMAGE_JPEG ? "image/jpeg" : format == DF_IMAGE_WEBP ? "image/webp"
                                                                           : "image/png";
}

/* Base64 (standard alphabet, padding optional) to malloc'ed bytes. */
static unsigned char *base64_decode(const char *text, size_t *out_size)
{
    size_t length = strlen(text);
    unsigned char *out = malloc(length / 4 * 3 + 3);
    if (!out)
        return NULL;
    uint32_t accumulator = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < length && text[i] != '='; i++) {
        char c = text[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (v < 0) {
            free(out);
            return NULL;
        }
        accumulator = accumulator << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(accumulator >> bits);
        }
    }
    *out_size = n;
    return out;
}

/* ------------------------------------------------------------------------ */
/* Signed URLs: SipHash-2-4 (Aumasson and Bernstein), a keyed PRF meant for  */
/* short messages; 64-bit tags are enough against online guessing.          */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                              \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                 \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                 \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                              \
    } while (0)

static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t siphash24(const unsigned char key[16], const unsigned char *data, size_t size)
{
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1,
             v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = size - size % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64(data + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)size << 56;
    for (size_t i = 0; i < size % 8; i++)
        b |= (uint64_t)data[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static unsigned char url_key[16];
static pthread_once_t url_key_once = PTHREAD_ONCE_INIT;
static const char *url_key_dir;

/* DATA/openai-url.key (created 0600 with 16 random bytes when missing), or
 * a key for this process alone when the file cannot be read or written. */
static void load_url_key(void)
{
    char path[PATH_MAX];
    int ok = 0;
    if (snprintf(path, sizeof path, "%s/openai-url.key", url_key_dir) < (int)sizeof path) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ok = read(fd, url_key, sizeof url_key) == (ssize_t)sizeof url_key;
            close(fd);
        }
        if (!ok && getrandom(url_key, sizeof url_key, 0) == (ssize_t)sizeof url_key) {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                ok = write(fd, url_key, sizeof url_key) == (ssize_t)sizeof url_key;
                close(fd);
            }
        }
    }
    if (!ok)
        df_log_warning("%s not usable; image URLs last until a restart", path);
}

static void url_signature(const df_server *server, const char *id, const char *file,
                          long long expires, char out[17])
{
    url_key_dir = server->config->data_dir;
    pthread_once(&url_key_once, load_url_key);
    char message[DF_SERVER_ID_SIZE + 96];
    int n = snprintf(message, sizeof message, "%s/%s/%lld", id, file, expires);
    uint64_t tag = siphash24(url_key, (const unsigned char *)message, (size_t)n);
    snprintf(out, 17, "%016llx", (unsigned long long)tag);
}

/* "http[s]://host" this request reached, or "" when unknown (HTTP/1.0
 * without Host): the URL is then relative. X-Forwarded-Host/-Proto are
 * believed only from a --trust-proxy address: from anyone else they would
 * let a client make the server sign URLs pointing at a host of its choice.
 * A proxy chain lists hosts left to right: the first is the client's. */
static void base_url(df_http_request *request, char *out, size_t size)
{
    int trusted = df_http_from_trusted_proxy(request);
    const char *forwarded = trusted ? df_http_header(request, "X-Forwarded-Host") : NULL;
    char first[256] = "";
    if (forwarded) {
        size_t length = strcspn(forwarded, ",");
        while (length && forwarded[length - 1] == ' ')
            length--;
        if (length < sizeof first)
            memcpy(first, forwarded, length);
    }
    const char *host = forwarded ? first : df_http_header(request, "Host");
    const char *proto = trusted ? df_http_header(request, "X-Forwarded-Proto") : NULL;
    if (!proto || (strcmp(proto, "https") && strcmp(proto, "http")))
        proto = "http";
    *out = 0;
    if (!host || !*host || strlen(host) > 255 || strpbrk(host, " /\\?#\"<>"))
        return;
    snprintf(out, size, "%s://%s", proto, host);
}

/* ------------------------------------------------------------------------ */
/* POST /v1/images/generations                                              */

/* "WxH" (digits, 'x', digits) into its numbers. */
static int parse_size(const char *text, long *width, long *height)
{
    const char *x = strpbrk(text, "xX");
    size_t w = strspn(text, "0123456789");
    if (!x || w == 0 || text + w != x || w > 5)
        return 0;
    size_t h = strspn(x + 1, "0123456789");
    if (h == 0 || h > 5 || x[1 + h])
        return 0;
    *width = strtol(text, NULL, 10);
    *height = strtol(x + 1, NULL, 10);
    return 1;
}

/* OpenAI's fields with no meaning here: accepted, ignored. */
static const char *const ignored_fields[] = {"quality", "style", "moderation", NULL};
/* Ours, passed to the core as they are. */
static const char *const extension_fields[] = {
    "negative_prompt", "steps", "guidance_scale", "seed", "sampler", "schedule", "spacing",
    "seed_mode", "rng", "clip_skip", "weighting", "eta", "prediction",
    "decoder", "preset", "precision",
    "prompt_2", "negative_prompt_2", "original_width", "original_height", "target_width",
    "target_height", "crop_top", "crop_left", "aesthetic_score", "negative_aesthetic_score",
    "refiner", "refiner_start", "loras", NULL};
static const char *const accepted_text =
    "prompt, n, size, response_format, output_format, output_compression, model, user, stream, "
    "partial_images, quality, style, background, moderation; and negative_prompt, steps, "
    "guidance_scale, seed, sampler, schedule, spacing, seed_mode, rng, clip_skip, weighting, "
    "eta, prediction"
    ", decoder, preset, precision"
    ", prompt_2, negative_prompt_2, original_width, original_height, target_width, "
    "target_height, crop_top, crop_left, aesthetic_score, negative_aesthetic_score, refiner, "
    "refiner_start, loras";

static int in_list(const char *const *list, const char *key)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], key))
            return 1;
    return 0;
}

typedef struct openai_options {
    int b64;                 /* response_format b64_json (else url) */
    df_image_format format;
    int quality;             /* for the encoder; 0: its default */
    int stream, partial_images;
    int batch;               /* n */
    char size[32];           /* "WxH" as answered */
} openai_options;

static enum MHD_Result bad(df_http_request *request, const char *param, const char *format,
                           const char *detail)
{
    return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter", param,
                              NULL, format, param, detail);
}

/* OpenAI's request to the core's (new reference), or NULL after answering. */
static json_t *translate(df_http_request *request, const json_t *body, openai_options *options,
                         enum MHD_Result *answered)
{
    df_server *server = request->context;
    if (!json_is_object(body)) {
        *answered = df_http_send_error(request, 400, "invalid_request_error", "invalid_json",
                                       NULL, NULL, "the request body must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *value;
    json_t *core = json_object();
    if (!core)
        return NULL;
    memset(options, 0, sizeof *options);
    options->b64 = 1;
    options->format = DF_IMAGE_PNG;
    json_object_foreach((json_t *)body, key, value) {
        int null = json_is_null(value);
        if (!strcmp(key, "prompt") || in_list(extension_fields, key)) {
            json_object_set(core, key, value);
        } else if (!strcmp(key, "n")) {
            json_object_set(core, "batch", value);
        } else if (!strcmp(key, "size")) {
            long width = 0, height = 0;
            if (null || (json_is_string(value) && !strcmp(json_string_value(value), "auto")))
                continue;
            if (!json_is_string(value) ||
                !parse_size(json_string_value(value), &width, &height)) {
                *answered = bad(request, "size", "%s: expected \"WIDTHxHEIGHT\" (e.g. \"%s\") "
                                "or \"auto\"", "512x512");
                goto fail;
            }
            json_object_set_new(core, "width", json_integer(width));
            json_object_set_new(core, "height", json_integer(height));
        } else if (!strcmp(key, "response_format")) {
            const char *name = json_string_value(value);
            if (null)
                continue;
            if (!name || (strcmp(name, "b64_json") && strcmp(name, "url"))) {
                *answered = bad(request, key, "%s: expected \"b64_json\" or \"url\"%s", "");
                goto fail;
            }
            options->b64 = !strcmp(name, "b64_json");
        } else if (!strcmp(key, "output_format")) {
            if (null)
                continue;
            if (!json_is_string(value) ||
                !parse_format(json_string_value(value), &options->format)) {
                *answered = bad(request, key, "%s: expected \"png\", \"jpeg\" or \"webp\"%s", "");
                goto fail;
            }
        } else if (!strcmp(key, "output_compression")) {
            if (null)
                continue;
            if (!json_is_integer(value) || json_integer_value(value) < 0 ||
                json_integer_value(value) > 100) {
                *answered = bad(request, key, "%s: expected an integer in [0, 100]%s", "");
                goto fail;
            }
            /* Quality 1..100 for the lossy encoders (0 is theirs for "default"). */
            options->quality = json_integer_value(value) ? (int)json_integer_value(value) : 1;
        } else if (!strcmp(key, "model")) {
            const char *name = json_string_value(value);
            if (null)
                continue;
            if (!name) {
                *answered = bad(request, key, "%s: expected a string%s", "");
                goto fail;
            }
            if (strcmp(name, "diffuse")) /* "diffuse": the default model */
                json_object_set(core, "model", value); /* the core resolves it */
        } else if (!strcmp(key, "user")) {
            if (!null && !json_is_string(value)) {
                *answered = bad(request, key, "%s: expected a string%s", "");
                goto fail;
            }
        } else if (!strcmp(key, "stream")) {
            if (!null && !json_is_boolean(value)) {
                *answered = bad(request, key, "%s: expected true or false%s", "");
                goto fail;
            }
            options->stream = json_is_true(value);
        } else if (!strcmp(key, "partial_images")) {
            if (null)
                continue;
            if (!json_is_integer(value) || json_integer_value(value) < 0 ||
                json_integer_value(value) > MAX_PARTIAL_IMAGES) {
                *answered = bad(request, key, "%s: expected an integer in [0, 3]%s", "");
                goto fail;
            }
            options->partial_images = (int)json_integer_value(value);
        } else if (!strcmp(key, "background")) {
            if (json_is_string(value) && !strcmp(json_string_value(value), "transparent")) {
                *answered = bad(request, key, "%s: transparent backgrounds are not supported "
                                "(\"auto\" or \"opaque\")%s", "");
                goto fail;
            }
        } else if (!in_list(ignored_fields, key)) {
            *answered = df_http_send_error(request, 400, "invalid_request_error",
                                           "unknown_parameter", key, NULL,
                                           "%s: unknown parameter (accepted: %s)", key,
                                           accepted_text);
            goto fail;
        }
    }
    if (options->partial_images && !options->stream) {
        *answered = bad(request, "partial_images", "%s: needs \"stream\": true%s", "");
        goto fail;
    }
    if (options->stream && !options->b64) {
        *answered = bad(request, "response_format", "%s: streaming returns b64_json only%s", "");
        goto fail;
    }
    /* Previews for partial images: evenly spread, only when the server has a
     * TAESD decoder (else the completed events alone). */
    if (options->partial_images && server->limits.previews) {
        long long steps = 20;
        json_t *s = json_object_get(core, "steps");
        if (json_is_integer(s) && json_integer_value(s) > 0)
            steps = json_integer_value(s);
        long long every = steps / (options->partial_images + 1);
        json_object_set_new(core, "preview_every", json_integer(every < 1 ? 1 : every));
    }
    return core;
fail:
    json_decref(core);
    return NULL;
}

/* df_request_parse with OpenAI's names in the errors (size, n). */
static int parse_core(df_http_request *request, const json_t *core, df_request_params *params,
                      enum MHD_Result *answered)
{
    df_server *server = request->context;
    df_request_error error;
    if (!df_request_parse(core, &server->limits, params, &error))
        return 1;
    const char *param = error.param;
    const char *message = error.message;
    int status = 400;
    const char *code = "invalid_parameter";
    char rewritten[1200];
    if (!strcmp(param, "width") || !strcmp(param, "height")) {
        snprintf(rewritten, sizeof rewritten, "size: %s", message);
        message = rewritten;
        param = "size";
    } else if (!strcmp(param, "batch")) {
        snprintf(rewritten, sizeof rewritten, "n%s", message + strlen("batch"));
        message = rewritten;
        param = "n";
    } else if (!strcmp(param, "model")) {
        /* OpenAI's answer to a model that does not exist; one that exists
         * but cannot serve the request (an SDXL refiner asked for text to
         * image) is a bad parameter. */
        const char *name = json_string_value(json_object_get(core, "model"));
        if (name && !df_models_find(server->models, name)) {
            status = 404;
            code = "model_not_found";
        }
    }
    *answered = df_http_send_error(request, status, "invalid_request_error", code, param, NULL,
                                   "%s", message);
    return 0;
}

/* One data item ({"b64_json"} or {"url"}) for image `index` of job `id`. */
static json_t *data_item(df_http_request *request, const json_t *record, const char *id,
                         int index, const openai_options *options, df_error *error)
{
    df_server *server = request->context;
    if (!options->b64) {
        char file[32], signature[17], base[300], url[1024];
        snprintf(file, sizeof file, "%d.%s", index, format_extension(options->format));
        double finished = json_number_value(json_object_get(record, "finished"));
        double expires = df_server_now() + URL_LIFETIME_S;
        double purged = finished + server->config->retention_hours * 3600.0;
        long long at = (long long)floor(purged < expires ? purged : expires);
        url_signature(server, id, file, at, signature);
        base_url(request, base, sizeof base);
        snprintf(url, sizeof url, "%s/v1/images/files/%s/%s?expires=%lld&signature=%s", base, id,
                 file, at, signature);
        return json_pack("{s:s}", "url", url);
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    if (df_routes_image_bytes(server, record, index, options->format, options->quality, &bytes,
                              &size, error))
        return NULL;
    char *text = df_server_base64(bytes, size);
    free(bytes);
    json_t *item = text ? json_pack("{s:s}", "b64_json", text) : NULL;
    free(text);
    return item;
}

static enum MHD_Result answer_images(df_http_request *request, const json_t *record,
                                     const char *id, const openai_options *options)
{
    json_t *data = json_array();
    json_t *images = json_object_get(json_object_get(record, "result"), "images");
    json_t *seeds = json_object_get(json_object_get(record, "result"), "seeds");
    df_error error = {0};
    for (size_t i = 0; data && i < json_array_size(images); i++) {
        json_t *item = data_item(request, record, id, (int)i, options, &error);
        if (!item) {
            json_decref(data);
            return df_http_send_error(request, 500, "server_error", "encode_failed", NULL, NULL,
                                      "job %s: %s", id, error.status ? error.message
                                                                      : "out of memory");
        }
        json_object_set(item, "seed", json_array_get(seeds, i)); /* ours, beside OpenAI's */
        json_array_append_new(data, item);
    }
    json_t *body = json_pack("{s:I, s:o, s:s, s:s}", "created", (json_int_t)df_server_now(),
                             "data", data, "output_format", format_extension(options->format),
                             "size", options->size);
    df_http_header_pair headers[] = {{"X-Job-Id", id}, {NULL, NULL}};
    return df_http_send_json(request, 200, body, headers);
}

/* -- streaming ------------------------------------------------------------ */

typedef struct image_stream {
    df_server *server;
    df_http_request peer;   /* the connection, to notice a client that left */
    double last_sent;       /* monotonic: a keep-alive comment after 10 s of silence */
    df_job *job;            /* our reference while the job runs */
    char id[DF_SERVER_ID_SIZE];
    openai_options options;
    uint64_t after;
    int partials_sent;
    int finished;           /* the job ended: completed events (or error) follow */
    json_t *record;         /* its store record once finished */
    size_t next_image;
    int done;               /* after `pending`, the stream ends */
    char *pending;
    size_t size, sent;
} image_stream;

static void image_stream_free(void *user)
{
    image_stream *stream = user;
    if (stream->job) { /* the client left before the end: stop its job */
        df_jobs_abandon(stream->server->jobs, stream->id);
        df_job_release(stream->server->jobs, stream->job);
        df_log_info("image stream closed early; job %s cancelled",
                    stream->id);
    }
    json_decref(stream->record);
    free(stream->pending);
    free(stream);
}

/* "event: TYPE\ndata: JSON\n\n" of `data` (consumed), or NULL. */
static char *sse_text(json_t *data)
{
    const char *type = json_string_value(json_object_get(data, "type"));
    char *json = data && type ? json_dumps(data, JSON_COMPACT) : NULL;
    char *text = NULL;
    if (json) {
        size_t size = strlen(json) + strlen(type) + 32;
        if ((text = malloc(size)))
            snprintf(text, size, "event: %s\ndata: %s\n\n", type, json);
    }
    free(json);
    json_decref(data);
    return text;
}

static json_t *event_base(const image_stream *stream, const char *type)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "type", type, "created_at",
                     (json_int_t)df_server_now(), "size", stream->options.size, "quality", "auto",
                     "background", "opaque", "output_format",
                     format_extension(stream->options.format));
}

/* Partial images from a native step event carrying a preview: the batch's
 * previews are one above the other; one event per image (with "index"). */
static char *partial_events(image_stream *stream, const char *native)
{
    const char *at = strstr(native, "\ndata: ");
    json_t *data = at ? json_loads(at + 7, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    const char *preview = json_string_value(json_object_get(data, "preview"));
    int step = (int)json_integer_value(json_object_get(data, "step"));
    int total = (int)json_integer_value(json_object_get(data, "total"));
    char *text = NULL;
    size_t png_size = 0;
    unsigned char *png = preview && step < total ? base64_decode(preview, &png_size) : NULL;
    df_image image = {0};
    int count = stream->options.batch;
    if (png && !df_image_decode(png, png_size, 0, &image, NULL)) {
        /* The preview is the batch's n images one above the other. */
        if (count <= 0 || image.height % count)
            count = 1;
        int height = image.height / (count > 0 ? count : 1);
        size_t length = 0;
        for (int i = 0; i < count && height > 0; i++) {
            df_image part = {image.width, height,
                             image.pixels + (size_t)i * height * image.width * 3};
            unsigned char *bytes = NULL;
            size_t size = 0;
            if (df_image_encode(&part, stream->options.format, stream->options.quality, NULL,
                                &bytes, &size, NULL))
                continue;
            char *b64 = df_server_base64(bytes, size);
            free(bytes);
            json_t *event = event_base(stream, "image_generation.partial_image");
            char size_text[32]; /* the preview's own size: TAESD's scale, not the request's */
            snprintf(size_text, sizeof size_text, "%dx%d", part.width, part.height);
            if (event)
                json_object_set_new(event, "size", json_string(size_text));
            if (event && b64) {
                json_object_set_new(event, "b64_json", json_string(b64));
                json_object_set_new(event, "partial_image_index",
                                    json_integer(stream->partials_sent));
                json_object_set_new(event, "index", json_integer(i));
            }
            free(b64);
            char *one = sse_text(event);
            if (!one)
                continue;
            char *joined = realloc(text, length + strlen(one) + 1);
            if (joined) {
                memcpy(joined + length, one, strlen(one) + 1);
                length += strlen(one);
                text = joined;
            }
            free(one);
        }
        if (text)
            stream->partials_sent++;
    }
    df_image_free(&image);
    free(png);
    json_decref(data);
    return text;
}

/* The next chunk of the stream into stream->pending; 0 at the end. */
static int image_stream_next(image_stream *stream)
{
    df_server *server = stream->server;
    for (;;) {
        if (stream->done)
            return 0;
        if (stream->finished) {
            const char *state = json_string_value(json_object_get(stream->record, "state"));
            json_t *images = json_object_get(json_object_get(stream->record, "result"), "images");
            if (!state || strcmp(state, "completed")) {
                json_t *job_error = json_object_get(stream->record, "error");
                const char *message = json_string_value(json_object_get(job_error, "message"));
                json_t *event = json_pack(
                    "{s:s, s:{s:s, s:s, s:n, s:s}}", "type", "error", "error", "message",
                    message ? message : state ? state : "the job is gone", "type",
                    state && !strcmp(state, "cancelled") ? "invalid_request_error"
                                                         : "server_error",
                    "param", "code", state && !strcmp(state, "cancelled") ? "job_cancelled"
                                                                          : "generation_failed");
                stream->pending = sse_text(event);
                stream->done = 1;
                return stream->pending != NULL;
            }
            if (stream->next_image >= json_array_size(images))
                return 0;
            df_error error = {0};
            unsigned char *bytes = NULL;
            size_t size = 0;
            char *b64 = NULL;
            if (!df_routes_image_bytes(server, stream->record, (int)stream->next_image,
                                       stream->options.format, stream->options.quality, &bytes,
                                       &size, &error))
                b64 = df_server_base64(bytes, size);
            free(bytes);
            json_t *event = event_base(stream, "image_generation.completed");
            if (event && b64) {
                json_object_set_new(event, "b64_json", json_string(b64));
                json_object_set_new(event, "index", json_integer((json_int_t)stream->next_image));
                json_object_set_new(
                    event, "usage",
                    json_pack("{s:i, s:i, s:i, s:{s:i, s:i}}", "total_tokens", 0, "input_tokens",
                              0, "output_tokens", 0, "input_tokens_details", "text_tokens", 0,
                              "image_tokens", 0));
            }
            free(b64);
            stream->next_image++;
            stream->pending = sse_text(event);
            if (stream->pending)
                return 1;
            continue;
        }
        char *native = NULL;
        uint64_t seq = 0;
        int terminal = 0;
        int got = df_jobs_next_event(server->jobs, stream->job, stream->after, POLL_MS, &native,
                                     &seq, &terminal);
        if (got < 0)
            return 0; /* stopping */
        /* Steps without a partial image write nothing, so MHD would not see
         * a client that left: look (it ends the stream; the free callback
         * then cancels the job). */
        if (df_http_client_gone(&stream->peer)) {
            free(native);
            return 0;
        }
        if (got == 0) {
            if (df_server_monotonic() - stream->last_sent < 10)
                continue;
            stream->pending = strdup(": keep-alive\n\n");
            return stream->pending != NULL;
        }
        stream->after = seq;
        if (terminal) {
            free(native);
            df_job_release(server->jobs, stream->job);
            stream->job = NULL;
            stream->finished = 1;
            df_error error = {0};
            if (df_store_get(server->store, stream->id, &stream->record, &error))
                stream->record = NULL;
            continue;
        }
        if (!strncmp(native, "id: ", 4) && strstr(native, "\nevent: step\n") &&
            strstr(native, "\"preview\"") && stream->partials_sent < stream->options.partial_images)
            stream->pending = partial_events(stream, native);
        free(native);
        if (stream->pending)
            return 1;
    }
}

static ssize_t image_stream_read(void *user, uint64_t position, char *buffer, size_t max)
{
    image_stream *stream = user;
    (void)position;
    while (!stream->pending || stream->sent == stream->size) {
        free(stream->pending);
        stream->pending = NULL;
        stream->size = stream->sent = 0;
        if (!image_stream_next(stream))
            return MHD_CONTENT_READER_END_OF_STREAM;
        stream->size = strlen(stream->pending);
        stream->last_sent = df_server_monotonic();
    }
    size_t n = stream->size - stream->sent < max ? stream->size - stream->sent : max;
    memcpy(buffer, stream->pending + stream->sent, n);
    stream->sent += n;
    return (ssize_t)n;
}

static enum MHD_Result generations(df_http_request *request)
{
    enum MHD_Result answered = MHD_NO;
    json_t *body = df_routes_parse_json(request, &answered);
    if (!body)
        return answered;
    openai_options options;
    json_t *core = translate(request, body, &options, &answered);
    json_decref(body);
    if (!core)
        return answered;
    df_request_params params;
    int ok = parse_core(request, core, &params, &answered);
    json_decref(core);
    if (!ok)
        return answered;
    snprintf(options.size, sizeof options.size, "%dx%d", params.width, params.height);
    options.batch = params.batch;
    df_job *job = df_routes_submit(request, &params, &answered);
    df_request_params_free(&params);
    if (!job)
        return answered;
    char id[DF_SERVER_ID_SIZE];
    snprintf(id, sizeof id, "%s", df_job_id(job));
    df_http_header_pair headers[] = {
        {"X-Job-Id", id}, {"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"},
        {NULL, NULL}};

    if (options.stream) {
        image_stream *stream = calloc(1, sizeof *stream);
        if (!stream) {
            df_jobs_cancel(((df_server *)request->context)->jobs, id);
            df_job_release(((df_server *)request->context)->jobs, job);
            return MHD_NO;
        }
        stream->server = request->context;
        stream->peer.connection = request->connection;
        stream->last_sent = df_server_monotonic();
        stream->job = job;
        stream->options = options;
        snprintf(stream->id, sizeof stream->id, "%s", id);
        return df_http_send_stream(request, "text/event-stream", image_stream_read, stream,
                                   image_stream_free, headers);
    }

    df_job_state state;
    if (!df_routes_wait(request, job, &state, &answered))
        return answered;
    json_t *record = df_routes_finished_record(request, id, state, &answered);
    if (!record)
        return answered;
    answered = answer_images(request, record, id, &options);
    json_decref(record);
    return answered;
}

/* GET /v1/images/files/{job}/{n}.{ext}?expires=&signature= */
static enum MHD_Result image_file(df_http_request *request)
{
    df_server *server = request->context;
    const char *id = request->captures[0], *file = request->captures[1];
    const char *expires_text = df_http_query(request, "expires");
    const char *signature = df_http_query(request, "signature");
    char expected[17], *end = NULL;
    long long expires = expires_text ? strtoll(expires_text, &end, 10) : 0;
    if (!df_server_valid_id(id) || !expires_text || !*expires_text || *end || !signature)
        return df_http_send_error(request, 403, "invalid_request_error", "invalid_signature",
                                  "signature", NULL, "this URL is not signed (use the url an "
                                  "images/generations response gave)");
    url_signature(server, id, file, expires, expected);
    if (strcmp(expected, signature))
        return df_http_send_error(request, 403, "invalid_request_error", "invalid_signature",
                                  "signature", NULL, "the URL's signature does not match");
    if ((double)expires < df_server_now())
        return df_http_send_error(request, 410, "invalid_request_error", "url_expired", NULL,
                                  NULL, "this URL expired at %lld (unix time)", expires);
    int index = 0;
    char extension[8] = "";
    df_image_format format;
    if (sscanf(file, "%4d.%7s", &index, extension) != 2 || !parse_format(extension, &format))
        return df_http_send_error(request, 404, "not_found", "image_not_found", NULL, NULL,
                                  "no image %s", file);
    json_t *record = NULL;
    df_error error = {0};
    if (df_store_get(server->store, id, &record, &error) || !record)
        return df_http_send_error(request, 404, "not_found", "image_not_found", NULL, NULL,
                                  "job %s is gone (expired)", id);
    unsigned char *bytes = NULL;
    size_t size = 0;
    df_status status = df_routes_image_bytes(server, record, index, format, 0, &bytes, &size,
                                             &error);
    json_decref(record);
    if (status)
        return df_http_send_error(request, 404, "not_found", "image_not_found", NULL, NULL,
                                  "job %s: %s", id, error.message);
    df_http_header_pair headers[] = {{"Cache-Control", "private, max-age=3600"}, {NULL, NULL}};
    return df_http_send_bytes(request, 200, content_type_of(format), bytes, size, headers);
}

/* ------------------------------------------------------------------------ */
/* GET /v1/models                                                           */

/* OpenAI's model object, plus "precision": what a request on it that sets
 * none computes in (its --model-precision, else the server's --precision),
 * so a client can see it without sending a request; "family" (sd1, sd2,
 * sdxl) and "refiner" (an SDXL refiner: a "refiner", not a "model", for
 * text to image), so it can tell which fields and roles apply. */
static json_t *model_object(const df_server *server, const df_model_entry *entry)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:b}", "id", entry->name, "object",
                     "model", "created", 0, "owned_by", "diffuse", "precision",
                     df_server_default_precision(server, entry->name), "family",
                     df_family_name(entry->family), "refiner", entry->refiner);
}

static enum MHD_Result list_models(df_http_request *request)
{
    df_server *server = request->context;
    json_t *data = json_array();
    const df_model_entry *entry;
    for (int i = 0; data && (entry = df_models_entry(server->models, i)); i++)
        json_array_append_new(data, model_object(server, entry));
    return df_http_send_json(request, 200, json_pack("{s:s, s:o}", "object", "list", "data", data),
                             NULL);
}

static enum MHD_Result get_model(df_http_request *request)
{
    df_server *server = request->context;
    const char *name = request->captures[0];
    if (!strcmp(name, "diffuse"))
        name = df_routes_model_name(server);
    const df_model_entry *entry = df_models_find(server->models, name);
    const char *colon = strrchr(name, ':');
    if (!entry && colon && !strcmp(colon, ":predict")) {
        /* Vertex's POST /v1/models/MODEL:predict, asked with GET. */
        df_http_header_pair headers[] = {{"Allow", "POST"}, {NULL, NULL}};
        return df_http_send_error(request, 405, "invalid_request_error", "method_not_allowed",
                                  NULL, headers, "method GET is not allowed on %s (allowed: "
                                  "POST)", request->path);
    }
    if (!entry)
        return df_http_send_error(request, 404, "invalid_request_error", "model_not_found",
                                  "model", NULL, "The model '%s' does not exist", name);
    return df_http_send_json(request, 200, model_object(server, entry), NULL);
}

const df_http_route df_routes_openai[] = {
    {"POST", "/v1/images/generations", generations, df_routes_openai_error},
    {"GET", "/v1/images/files/{}/{}", image_file, df_routes_openai_error, DF_HTTP_ACCESS_SIGNED},
    {"GET", "/v1/models", list_models, df_routes_openai_error},
    {"GET", "/v1/models/{}", get_model, df_routes_openai_error},
    {NULL, NULL, NULL, NULL},
};
