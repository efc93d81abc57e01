/*
 * routes_a1111.c — AUTOMATIC1111's web UI API (/sdapi/v1), for the many
 * tools that speak it:
 *   POST /sdapi/v1/txt2img, /sdapi/v1/img2img   {images, parameters, info}
 *   GET  /sdapi/v1/progress[?id_task=&skip_current_image=]
 *   POST /sdapi/v1/interrupt, /sdapi/v1/skip     cancel the running job
 *   GET  /sdapi/v1/samplers, /schedulers, /sd-models
 *   GET/POST /sdapi/v1/options                   sd_model_checkpoint = the default model
 *   POST /sdapi/v1/png-info                      infotext of an image, parsed
 *   GET  /sdapi/v1/loras, POST /sdapi/v1/refresh-loras  --lora-dir's LoRAs
 *
 * With API keys, A1111's single-user model is cut per key: /progress,
 * /interrupt and /skip see and stop only the caller's jobs (admin keys:
 * all), and each key has its own bounded options (an ordinary key's
 * sd_model_checkpoint is its own default; an admin's, the server's).
 * Without keys everything is shared, as in A1111.
 *
 * A generation is a job like any other (translated into the one request
 * model, stored, queued); the route waits for it in this connection's thread
 * as /predict does (a client that hangs up cancels it; --sync-timeout bounds
 * the wait). Images are A1111's per-image seeds (seed + i, the engine's
 * per-image mode) on the CPU generator unless override_settings (or the
 * options) set "randn_source" to "GPU"/"NV" (the Philox generator).
 *
 * LoRAs: the prompt's <lora:NAME:SCALE> tags (pipeline/lora_prompt.h; A1111
 * parses them whatever its options, and so do we) leave the prompt and
 * become the native "loras"; a name is one GET /sdapi/v1/loras lists
 * (--lora-dir). The infotext then carries them as A1111 writes it (tags in
 * the prompt, Lora hashes). GET /sdapi/v1/loras lists them in A1111's
 * shape (the path relative to the LoRA directory, never the server's
 * absolute one; metadata {}), POST /sdapi/v1/refresh-loras reads the
 * directory again (A1111 answers null).
 *
 * SDXL: refiner_checkpoint and refiner_switch_at are the native refiner and
 * refiner_start; an empty negative prompt is sent as none, so an SDXL model
 * gets zero negative conditioning as in A1111 (see translate).
 *
 * Fields: A1111's request fields are translated; the ones we cannot honour
 * are accepted when they are off or at their default (restore_faces false,
 * enable_hr false, styles [], ...) and refused with 422 naming the field
 * when a client asks for them; fields A1111 does not know are refused too
 * (see `fields` below for each one's rule). Errors are A1111's shapes:
 * FastAPI's 422 {"detail": [{"loc": ["body", FIELD], "msg", "type"}]} for a
 * bad field, and {"error", "detail", "body", "errors"} for the rest.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pipeline/lora_prompt.h"
#include "pipeline/scheduler.h"
#include "runtime/error.h"
#include "server/auth.h"
#include "server/routes.h"
#include "server/util.h"


/* ------------------------------------------------------------------------ */
/* Error shape                                                              */

static json_t *a1111_error(const df_http_error_info *info)
{
    if (info->status == 422) /* FastAPI's validation error */
        return json_pack("{s:[{s:[s,s], s:s, s:s}]}", "detail", "loc", "body",
                         info->param && *info->param ? info->param : "__root__", "msg",
                         info->message, "type", "value_error");
    char errors[1200];
    snprintf(errors, sizeof errors, "%d: %s", info->status, info->message);
    return json_pack("{s:s, s:s, s:s, s:s}", "error", "HTTPException", "detail", info->message,
                     "body", "", "errors", errors);
}

static enum MHD_Result invalid(df_http_request *request, const char *field, const char *format,
                               ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result invalid(df_http_request *request, const char *field, const char *format,
                               ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return df_http_send_error(request, 422, "invalid_request_error", "invalid_parameter", field,
                              NULL, "%s", message);
}

/* ------------------------------------------------------------------------ */
/* State: options per key, and the recent submissions                       */

/* With API keys every key has its own options (one key's defaults must not
 * change another's generations); without keys there is one set, "" below.
 * Each set is bounded: clients store UI settings here that we only echo,
 * and an unbounded store is a memory sink any caller can fill. */
#define OPTIONS_MAX_BYTES 65536

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *stored_options; /* owner ("" or a key id) -> {option: value} */

/* Recent A1111 submissions: the force_task_id -> job id map, and which key
 * submitted each, so that /progress and /interrupt find a caller's own job
 * (and never another key's) without asking the store. */
#define TASKS 256
static struct {
    char task[128]; /* "" when the request had no force_task_id */
    char job[DF_SERVER_ID_SIZE];
    char owner[DF_SERVER_ID_SIZE]; /* the key id, "" without keys */
} tasks[TASKS];
static int next_task;

static const char *options_owner(const df_http_request *request)
{
    return request->caller->key_id;
}

static void remember_task(const df_http_request *request, const char *task, const char *job)
{
    pthread_mutex_lock(&state_lock);
    snprintf(tasks[next_task].task, sizeof tasks[next_task].task, "%s", task);
    snprintf(tasks[next_task].job, sizeof tasks[next_task].job, "%s", job);
    snprintf(tasks[next_task].owner, sizeof tasks[next_task].owner, "%s",
             request->caller->key_id);
    next_task = (next_task + 1) % TASKS;
    pthread_mutex_unlock(&state_lock);
}

/* May the caller see job `id` (submitted through any route)? The store
 * knows its key; admins and keyless servers see every job. */

/* The job of a task id (a force_task_id the caller's key used, or a job id
 * the caller may see); 0 if none. The newest submission wins, so a task id
 * reused by another key neither hides nor reveals the caller's. */
static int task_job(df_http_request *request, const char *task, char job[DF_SERVER_ID_SIZE])
{
    const char *filter = df_auth_owner_filter(request);
    int found = 0;
    pthread_mutex_lock(&state_lock);
    for (int i = 0; i < TASKS && !found; i++) {
        int at = (next_task - 1 - i + 2 * TASKS) % TASKS;
        if (tasks[at].task[0] && !strcmp(tasks[at].task, task) &&
            (!filter || !strcmp(tasks[at].owner, filter))) {
            snprintf(job, DF_SERVER_ID_SIZE, "%s", tasks[at].job);
            found = 1;
        }
    }
    pthread_mutex_unlock(&state_lock);
    if (!found && df_server_valid_id(task) && strlen(task) < DF_SERVER_ID_SIZE &&
        df_routes_may_see_job(request, task)) {
        snprintf(job, DF_SERVER_ID_SIZE, "%s", task);
        found = 1;
    }
    return found;
}

/* The job /progress reports and /interrupt stops when no task is named:
 * the running one when the caller may see it; else, for a key that sees
 * only its own jobs, its newest A1111 job still queued or running (what
 * A1111 would be busy with for this client). 0 when there is none. */
static int current_job(df_http_request *request, char job[DF_SERVER_ID_SIZE])
{
    df_server *server = request->context;
    if (df_jobs_running_id(server->jobs, job) && df_routes_may_see_job(request, job))
        return 1;
    const char *filter = df_auth_owner_filter(request);
    if (!filter)
        return 0;
    char candidates[TASKS][DF_SERVER_ID_SIZE];
    int count = 0;
    pthread_mutex_lock(&state_lock);
    for (int i = 0; i < TASKS; i++) {
        int at = (next_task - 1 - i + 2 * TASKS) % TASKS;
        if (tasks[at].job[0] && !strcmp(tasks[at].owner, filter))
            memcpy(candidates[count++], tasks[at].job, sizeof tasks[at].job);
    }
    pthread_mutex_unlock(&state_lock);
    df_job_info info;
    for (int i = 0; i < count; i++) /* newest first; df_jobs_info: live ones only */
        if (df_jobs_info(server->jobs, candidates[i], &info)) {
            memcpy(job, candidates[i], DF_SERVER_ID_SIZE);
            return 1;
        }
    return 0;
}

/* An option the caller's key set with POST /options (new reference), or
 * NULL. */
static json_t *option(const df_http_request *request, const char *key)
{
    pthread_mutex_lock(&state_lock);
    json_t *mine = json_object_get(stored_options, options_owner(request));
    json_t *value = json_incref(json_object_get(mine, key));
    pthread_mutex_unlock(&state_lock);
    return value;
}

/* ------------------------------------------------------------------------ */
/* Request fields                                                           */

typedef enum rule {
    MAPPED,        /* translated below */
    IGNORED,       /* no effect here whatever its value (A1111 bookkeeping) */
    OFF_FALSE,     /* accepted when false/null, refused when true */
    OFF_EMPTY,     /* accepted when null, "", [] or {}, else refused */
    OFF_ZERO,      /* accepted when null or 0 */
    OFF_ONE,       /* accepted when null or 1 */
    OFF_SIZE,      /* seed_resize_from_*: accepted when null, <= 0 */
    WITH_HR        /* only meaningful with enable_hr (refused when true): ignored */
} rule;

typedef struct field_rule {
    const char *name;
    rule rule;
    const char *why; /* what a refusal says */
} field_rule;

static const field_rule fields[] = {
    {"prompt", MAPPED, NULL},
    {"negative_prompt", MAPPED, NULL},
    {"steps", MAPPED, NULL},
    {"cfg_scale", MAPPED, NULL},
    {"sampler_name", MAPPED, NULL},
    {"sampler_index", MAPPED, NULL},
    {"scheduler", MAPPED, NULL},
    {"seed", MAPPED, NULL},
    {"batch_size", MAPPED, NULL},
    {"n_iter", MAPPED, NULL},
    {"width", MAPPED, NULL},
    {"height", MAPPED, NULL},
    {"denoising_strength", MAPPED, NULL},
    {"init_images", MAPPED, NULL},
    {"override_settings", MAPPED, NULL},
    {"force_task_id", MAPPED, NULL},
    {"send_images", MAPPED, NULL},
    {"save_images", IGNORED, NULL}, /* every image is kept in the job store anyway */
    {"include_init_images", MAPPED, NULL},
    /* diffuse's extension: the final decoder ("vae" or "taesd"). */
    {"decoder", MAPPED, NULL},
    /* diffuse's extension: a few-step preset; A1111's defaults (50 steps,
     * CFG 7, Euler) then give way to it for the fields not sent. */
    {"preset", MAPPED, NULL},
    {"do_not_save_samples", IGNORED, NULL},
    {"do_not_save_grid", IGNORED, NULL},
    {"override_settings_restore_afterwards", IGNORED, NULL},
    {"eta", IGNORED, NULL}, /* A1111's ancestral eta; DDIM's eta is 0 here */
    {"s_tmax", IGNORED, NULL}, /* inert while s_churn is 0 */
    {"s_tmin", IGNORED, NULL},
    {"s_noise", IGNORED, NULL},
    {"s_min_uncond", OFF_ZERO, "negative-guidance skipping is not supported"},
    {"s_churn", OFF_ZERO, "churn (stochastic sampling) is not supported"},
    {"subseed", IGNORED, NULL}, /* inert while subseed_strength is 0 */
    {"subseed_strength", OFF_ZERO, "variation seeds are not supported"},
    {"seed_resize_from_h", OFF_SIZE, "seed resize is not supported"},
    {"seed_resize_from_w", OFF_SIZE, "seed resize is not supported"},
    {"styles", OFF_EMPTY, "prompt styles are not supported"},
    {"restore_faces", OFF_FALSE, "face restoration is not supported"},
    {"tiling", OFF_FALSE, "tiling is not supported"},
    {"enable_hr", OFF_FALSE, "hires. fix is not supported"},
    {"firstphase_width", WITH_HR, NULL},
    {"firstphase_height", WITH_HR, NULL},
    {"hr_scale", WITH_HR, NULL},
    {"hr_upscaler", WITH_HR, NULL},
    {"hr_second_pass_steps", WITH_HR, NULL},
    {"hr_resize_x", WITH_HR, NULL},
    {"hr_resize_y", WITH_HR, NULL},
    {"hr_checkpoint_name", WITH_HR, NULL},
    {"hr_sampler_name", WITH_HR, NULL},
    {"hr_scheduler", WITH_HR, NULL},
    {"hr_prompt", WITH_HR, NULL},
    {"hr_negative_prompt", WITH_HR, NULL},
    {"hr_additional_modules", WITH_HR, NULL},
    {"refiner_checkpoint", MAPPED, NULL},
    {"refiner_switch_at", MAPPED, NULL},
    {"disable_extra_networks", MAPPED, NULL}, /* true: LoRA tags leave the prompt, unused */
    {"firstpass_image", OFF_EMPTY, "a first-pass image is not supported"},
    {"comments", IGNORED, NULL},
    {"infotext", OFF_EMPTY, "infotext parameters are not supported"},
    {"script_name", OFF_EMPTY, "scripts are not supported"},
    {"script_args", OFF_EMPTY, "scripts are not supported"},
    {"alwayson_scripts", OFF_EMPTY, "scripts and extensions are not supported"},
    {"resize_mode", OFF_ZERO, "only resize mode 0 (just resize) is supported"},
    {"image_cfg_scale", IGNORED, NULL}, /* instruct-pix2pix models only */
    {"mask", OFF_EMPTY, "inpainting (mask) is not supported"},
    {"mask_blur", IGNORED, NULL}, /* inert without a mask */
    {"mask_blur_x", IGNORED, NULL},
    {"mask_blur_y", IGNORED, NULL},
    {"mask_round", IGNORED, NULL},
    {"inpainting_fill", IGNORED, NULL},
    {"inpaint_full_res", IGNORED, NULL},
    {"inpaint_full_res_padding", IGNORED, NULL},
    {"inpainting_mask_invert", IGNORED, NULL},
    {"latent_mask", OFF_EMPTY, "a latent mask is not supported"},
    {"initial_noise_multiplier", OFF_ONE, "an initial noise multiplier is not supported"},
    /* diffuse's extension: f32 | bf16 | int8, passed to the core as it is */
    {"precision", MAPPED, NULL},
    {NULL, MAPPED, NULL},
};

static int is_empty(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
           (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v));
}

/* Checks every field of the body against its rule; 0, or -1 after answering. */
static int check_fields(df_http_request *request, const json_t *body, int img2img,
                        enum MHD_Result *answered)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        const field_rule *f = fields;
        while (f->name && strcmp(f->name, key))
            f++;
        if (!f->name) {
            *answered = invalid(request, key, "%s: extra fields not permitted (not an "
                                "AUTOMATIC1111 %s field)", key, img2img ? "img2img" : "txt2img");
            return -1;
        }
        int refused = 0;
        switch (f->rule) {
        case MAPPED: case IGNORED: case WITH_HR: break;
        case OFF_FALSE: refused = !json_is_null(v) && !json_is_false(v); break;
        case OFF_EMPTY: refused = !is_empty(v); break;
        case OFF_ZERO: refused = !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 0); break;
        case OFF_ONE: refused = !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 1); break;
        case OFF_SIZE: refused = !json_is_null(v) && !(json_is_number(v) && json_number_value(v) <= 0); break;
        }
        if (refused) {
            *answered = invalid(request, key, "%s: %s by this server (diffuse)", key, f->why);
            return -1;
        }
    }
    return 0;
}

/* A1111 field names for the native ones an error names. */
static const char *a1111_name(const char *native)
{
    static const char *const map[][2] = {
        {"guidance_scale", "cfg_scale"}, {"batch", "batch_size"}, {"sampler", "sampler_name"},
        {"strength", "denoising_strength"}, {"init_image", "init_images"},
        {"clip_skip", "override_settings.CLIP_stop_at_last_layers"},
        {"model", "override_settings.sd_model_checkpoint"}, {"schedule", "scheduler"},
        {"refiner", "refiner_checkpoint"}, {"refiner_start", "refiner_switch_at"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(native, map[i][0]))
            return map[i][1];
    if (!strncmp(native, "loras", 5)) /* every LoRA came from a prompt tag */
        return "prompt";
    return native;
}

static int get_int_field(df_http_request *request, const json_t *body, const char *name,
                         long long fallback, long long *out, enum MHD_Result *answered)
{
    const json_t *v = json_object_get(body, name);
    *out = fallback;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        *answered = invalid(request, name, "%s: value is not a valid integer", name);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int get_bool_field(df_http_request *request, const json_t *body, const char *name,
                          int fallback, int *out, enum MHD_Result *answered)
{
    const json_t *v = json_object_get(body, name);
    *out = fallback;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        *answered = invalid(request, name, "%s: value could not be parsed to a boolean", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The scheduler field in A1111's names to the engine's schedule. */
static int scheduler_name(const char *name, const char **schedule)
{
    static const char *const map[][2] = {{"automatic", NULL}, {"uniform", "discrete"},
                                         {"karras", "karras"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcasecmp(name, map[i][0])) {
            *schedule = map[i][1];
            return 0;
        }
    return -1;
}

/* The prompt's LoRA tags into the native body `n`: the prompt without
 * them, and "loras" (names are checked by the native parse). 0, or -1
 * after answering 422 naming the prompt. */
static int lora_tags(df_http_request *request, const char *prompt, int disabled, json_t *n,
                     enum MHD_Result *answered)
{
    df_lora_prompt parsed;
    df_error error = {0};
    if (df_lora_prompt_parse(prompt, &parsed, &error)) {
        *answered = invalid(request, "prompt", "prompt: %s", error.message);
        return -1;
    }
    json_t *loras = parsed.count ? json_array() : NULL;
    for (int i = 0; i < parsed.count; i++) {
        const df_lora_prompt_tag *tag = &parsed.tags[i];
        if (fabs(tag->unet_scale) > DF_REQUEST_MAX_LORA_SCALE ||
            fabs(tag->text_scale) > DF_REQUEST_MAX_LORA_SCALE) {
            *answered = invalid(request, "prompt", "prompt: LoRA '%s': scales %g (text "
                                "encoder) and %g (UNet) must be within [%g, %g]", tag->name,
                                tag->text_scale, tag->unet_scale, -DF_REQUEST_MAX_LORA_SCALE,
                                DF_REQUEST_MAX_LORA_SCALE);
            json_decref(loras);
            df_lora_prompt_free(&parsed);
            return -1;
        }
        json_array_append_new(loras, json_pack("{s:s, s:f, s:f}", "name", tag->name,
                                               "unet_scale", tag->unet_scale, "text_scale",
                                               tag->text_scale));
    }
    if (loras) {
        json_object_set_new(n, "prompt", json_string(parsed.prompt));
        /* A1111 deletes the tags either way; disable_extra_networks only
         * stops it applying them. */
        if (!disabled)
            json_object_set_new(n, "loras", loras);
        else
            json_decref(loras);
    }
    df_lora_prompt_free(&parsed);
    return 0;
}

typedef struct translated {
    json_t *native;       /* the one request model's body */
    int send_images, include_init_images, batch_size, n_iter;
    char task[128];
} translated;

/* A1111's request to the native body; 0, or -1 after answering. */
static int translate(df_http_request *request, const json_t *body, int img2img, translated *t,
                     enum MHD_Result *answered)
{
    df_server *server = request->context;
    memset(t, 0, sizeof *t);
    if (check_fields(request, body, img2img, answered))
        return -1;
    json_t *n = t->native = json_object();
    if (!n)
        return -1;
    /* Strings as they are (the native parser checks their types and names
     * the field; a1111_name maps the name back). An empty negative prompt
     * is sent as none: A1111 (sd_models_xl.py, force_zero_negative_prompt)
     * zeroes an SDXL model's negative conditioning when the negative prompt
     * is "", which is what the engine does for none (a native "" encodes
     * the empty prompt instead); on SD 1.x and 2.x the two are the same. */
    json_t *prompt = json_object_get(body, "prompt");
    if (prompt && !json_is_null(prompt))
        json_object_set(n, "prompt", prompt);
    else
        json_object_set_new(n, "prompt", json_string(""));
    int no_networks = 0;
    if (get_bool_field(request, body, "disable_extra_networks", 0, &no_networks, answered))
        return -1;
    if (json_is_string(prompt) &&
        !memchr(json_string_value(prompt), 0, json_string_length(prompt)) &&
        lora_tags(request, json_string_value(prompt), no_networks, n, answered))
        return -1;
    json_t *negative = json_object_get(body, "negative_prompt");
    if (negative && !json_is_null(negative) &&
        !(json_is_string(negative) && !json_string_length(negative)))
        json_object_set(n, "negative_prompt", negative);
    /* Extensions, as they are (the native parser checks them). */
    const char *extensions[] = {"decoder", "preset"};
    for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++) {
        json_t *v = json_object_get(body, extensions[i]);
        if (v && !json_is_null(v))
            json_object_set(n, extensions[i], v);
    }
    /* With a preset, A1111's defaults must not pass for values the client chose. */
    const json_t *preset = json_object_get(body, "preset");
    const int has_preset = preset && !json_is_null(preset);
    long long steps, seed, batch_size, n_iter, width, height;
    /* A1111's default of 50 steps, within this server's --max-steps. */
    long long default_steps = server->limits.max_steps < 50 ? server->limits.max_steps : 50;
    if (get_int_field(request, body, "steps", default_steps, &steps, answered) ||
        get_int_field(request, body, "seed", -1, &seed, answered) ||
        get_int_field(request, body, "batch_size", 1, &batch_size, answered) ||
        get_int_field(request, body, "n_iter", 1, &n_iter, answered) ||
        get_int_field(request, body, "width", 0, &width, answered) ||
        get_int_field(request, body, "height", 0, &height, answered) ||
        get_bool_field(request, body, "send_images", 1, &t->send_images, answered) ||
        get_bool_field(request, body, "include_init_images", 0, &t->include_init_images,
                       answered))
        return -1;
    /* The server's --max-batch bounds the images of a request, however
     * they are split into batches. */
    long long max_batch = server->limits.max_batch;
    if (batch_size < 1 || batch_size > max_batch)
        return *answered = invalid(request, "batch_size", "batch_size: %lld is out of range [1, "
                                   "%lld] (this server's --max-batch)", batch_size, max_batch), -1;
    if (n_iter < 1 || n_iter > max_batch || n_iter * batch_size > max_batch)
        return *answered = invalid(request, "n_iter", "n_iter: %lld batches of %lld images is "
                                   "more than this server's %lld images per request "
                                   "(--max-batch)", n_iter, batch_size, max_batch), -1;
    t->batch_size = (int)batch_size;
    t->n_iter = (int)n_iter;
    const json_t *steps_given = json_object_get(body, "steps");
    if (!has_preset || (steps_given && !json_is_null(steps_given)))
        json_object_set_new(n, "steps", json_integer(steps));
    json_object_set_new(n, "seed", json_integer(seed < 0 ? -1 : seed));
    /* n_iter batches of batch_size with per-image seeds are the same images
     * as one batch of their product: image i has seed + i either way. */
    json_object_set_new(n, "batch", json_integer(batch_size * n_iter));
    json_object_set_new(n, "seed_mode", json_string("per-image"));
    if (width)
        json_object_set_new(n, "width", json_integer(width));
    if (height)
        json_object_set_new(n, "height", json_integer(height));

    json_t *cfg = json_object_get(body, "cfg_scale");
    if (cfg && !json_is_null(cfg) && !json_is_number(cfg))
        return *answered = invalid(request, "cfg_scale", "cfg_scale: value is not a valid "
                                   "float"), -1;
    if (!has_preset || (cfg && !json_is_null(cfg)))
        json_object_set_new(n, "guidance_scale", cfg && !json_is_null(cfg)
                                                     ? json_real(json_number_value(cfg))
                                                     : json_real(7.0));

    /* The sampler: sampler_name, else sampler_index, else Euler (A1111's). */
    json_t *sampler = json_object_get(body, "sampler_name");
    const char *sampler_field = "sampler_name";
    if (!sampler || json_is_null(sampler) || (json_is_string(sampler) && !json_string_length(sampler))) {
        sampler = json_object_get(body, "sampler_index");
        sampler_field = "sampler_index";
    }
    if (sampler && !json_is_null(sampler) && !json_is_string(sampler))
        return *answered = invalid(request, sampler_field, "%s: str type expected",
                                   sampler_field), -1;
    const char *sampler_text = sampler && json_is_string(sampler) && json_string_length(sampler)
                                   ? json_string_value(sampler) : "Euler";
    df_sampler_kind kind;
    df_sigma_schedule sigma;
    df_error engine = {0};
    if (df_sampler_parse(sampler_text, &kind, &sigma, &engine))
        return *answered = df_http_send_error(request, 404, "not_found", "sampler_not_found",
                                              sampler_field, NULL, "Sampler not found: %s: %s",
                                              sampler_field, engine.message), -1;
    const int sampler_given = sampler && json_is_string(sampler) && json_string_length(sampler);
    if (!has_preset || sampler_given)
        json_object_set_new(n, "sampler", json_string(sampler_text));
    json_t *scheduler = json_object_get(body, "scheduler");
    if (scheduler && !json_is_null(scheduler)) {
        const char *schedule = NULL;
        if (!json_is_string(scheduler))
            return *answered = invalid(request, "scheduler", "scheduler: str type expected"), -1;
        if (scheduler_name(json_string_value(scheduler), &schedule))
            return *answered = invalid(request, "scheduler", "scheduler: '%s' is not supported "
                                       "(automatic, uniform, karras)",
                                       json_string_value(scheduler)), -1;
        if (schedule)
            json_object_set_new(n, "schedule", json_string(schedule));
    }

    /* override_settings, over the options a client set with POST /options. */
    json_t *overrides = json_object_get(body, "override_settings");
    if (overrides && !json_is_null(overrides) && !json_is_object(overrides))
        return *answered = invalid(request, "override_settings", "override_settings: value is "
                                   "not a valid dict"), -1;
    const char *keys[] = {"CLIP_stop_at_last_layers", "randn_source", "sd_model_checkpoint"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(overrides, keys[i]);
        json_t *held = NULL;
        if (!v || json_is_null(v))
            v = held = option(request, keys[i]);
        char field[96];
        snprintf(field, sizeof field, "override_settings.%s", keys[i]);
        if (v && !json_is_null(v)) {
            if (i == 0) {
                if (!json_is_integer(v)) {
                    json_decref(held);
                    return *answered = invalid(request, field, "%s: value is not a valid "
                                               "integer", field), -1;
                }
                json_object_set(n, "clip_skip", v);
            } else if (!json_is_string(v)) {
                json_decref(held);
                return *answered = invalid(request, field, "%s: str type expected", field), -1;
            } else if (i == 1) {
                const char *source = json_string_value(v);
                if (!strcasecmp(source, "GPU") || !strcasecmp(source, "NV"))
                    json_object_set_new(n, "rng", json_string("philox"));
                else if (!strcasecmp(source, "CPU"))
                    json_object_set_new(n, "rng", json_string("cpu"));
                else {
                    json_decref(held);
                    return *answered = invalid(request, field, "%s: expected GPU, NV or CPU",
                                               field), -1;
                }
            } else {
                /* Per request, or the key's own default (POST /options by a
                 * key that may not change the server's): a held name that a
                 * rescan took away falls back to the server's default. */
                const df_model_entry *entry = df_models_find(server->models,
                                                             json_string_value(v));
                if (!entry && !held) {
                    char names[512];
                    df_models_names(server->models, names, sizeof names);
                    return *answered = invalid(request, field, "%s: unknown model '%s' "
                                               "(available: %s)", field, json_string_value(v),
                                               names), -1;
                }
                if (entry)
                    json_object_set_new(n, "model", json_string(entry->name));
            }
        }
        json_decref(held);
    }
    if (!json_object_get(n, "rng"))
        json_object_set_new(n, "rng", json_string("cpu"));

    /* The refiner: as A1111, none for an empty name or "None", nor with a
     * switch at 1 or later (it never comes); refiner_switch_at is the
     * fraction the base model runs (the core's refiner_start, 0.8 when
     * absent as A1111's UI), and inert without a refiner. */
    json_t *refiner = json_object_get(body, "refiner_checkpoint");
    json_t *switch_at = json_object_get(body, "refiner_switch_at");
    if (refiner && !json_is_null(refiner) && !json_is_string(refiner))
        return *answered = invalid(request, "refiner_checkpoint", "refiner_checkpoint: str "
                                   "type expected"), -1;
    if (switch_at && !json_is_null(switch_at) && !json_is_number(switch_at))
        return *answered = invalid(request, "refiner_switch_at", "refiner_switch_at: value is "
                                   "not a valid float"), -1;
    const char *refiner_name = json_string_value(refiner);
    if (refiner_name && *refiner_name && strcmp(refiner_name, "None") &&
        strcmp(refiner_name, "none") &&
        !(json_is_number(switch_at) && json_number_value(switch_at) >= 1)) {
        json_object_set(n, "refiner", refiner); /* the core resolves and checks it */
        if (json_is_number(switch_at))
            json_object_set(n, "refiner_start", switch_at);
    }

    /* diffuse's extension field, validated by the core */
    json_t *precision = json_object_get(body, "precision");
    if (precision && !json_is_null(precision))
        json_object_set(n, "precision", precision);

    json_t *task = json_object_get(body, "force_task_id");
    if (task && !json_is_null(task)) {
        if (!json_is_string(task) || json_string_length(task) >= sizeof t->task)
            return *answered = invalid(request, "force_task_id", "force_task_id: a string of "
                                       "at most 127 bytes expected"), -1;
        snprintf(t->task, sizeof t->task, "%s", json_string_value(task));
    }

    /* Previews for /progress's current_image, when the server has TAESD:
     * every show_progress_every_n_steps steps (A1111's option, default 10
     * here). */
    if (server->limits.previews) {
        json_t *every = option(request, "show_progress_every_n_steps");
        long long n_steps = json_is_integer(every) ? json_integer_value(every) : 10;
        json_decref(every);
        if (n_steps > 0)
            json_object_set_new(n, "preview_every", json_integer(n_steps > 1000 ? 1000 : n_steps));
    }

    json_t *strength = json_object_get(body, "denoising_strength");
    if (img2img) {
        json_t *images = json_object_get(body, "init_images");
        if (!json_is_array(images) || !json_array_size(images))
            return *answered = invalid(request, "init_images", "init_images: a list of one "
                                       "base64 image is required"), -1;
        if (json_array_size(images) > 1)
            return *answered = invalid(request, "init_images", "init_images: one image is "
                                       "supported, %zu given", json_array_size(images)), -1;
        json_object_set(n, "init_image", json_array_get(images, 0));
        if (strength && !json_is_null(strength) && !json_is_number(strength))
            return *answered = invalid(request, "denoising_strength", "denoising_strength: "
                                       "value is not a valid float"), -1;
        json_object_set_new(n, "strength", json_real(strength && !json_is_null(strength)
                                                         ? json_number_value(strength) : 0.75));
    } else if (json_object_get(body, "init_images") &&
               !json_is_null(json_object_get(body, "init_images"))) {
        return *answered = invalid(request, "init_images", "init_images: only for "
                                   "/sdapi/v1/img2img"), -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* txt2img / img2img                                                        */

/* A1111's request fields and their defaults (the response's "parameters"
 * is these, overwritten by what the client sent). */
static json_t *default_parameters(int img2img)
{
    json_t *p = json_pack(
        "{s:s, s:s, s:n, s:i, s:i, s:f, s:i, s:i, s:n, s:n, s:i, s:i, s:i, s:f, s:i, s:i, s:n, "
        "s:n, s:b, s:b, s:n, s:n, s:n, s:n, s:n, s:n, s:{}, s:b, s:n, s:n, s:b, s:n, s:n, s:n, "
        "s:s, s:n, s:[], s:b, s:b, s:{}}",
        "prompt", "", "negative_prompt", "", "styles", "seed", -1, "subseed", -1,
        "subseed_strength", 0.0, "seed_resize_from_h", -1, "seed_resize_from_w", -1,
        "sampler_name", "scheduler", "batch_size", 1, "n_iter", 1, "steps", 50, "cfg_scale", 7.0,
        "width", 512, "height", 512, "restore_faces", "tiling", "do_not_save_samples", 0,
        "do_not_save_grid", 0, "eta", "s_min_uncond", "s_churn", "s_tmax", "s_tmin", "s_noise",
        "override_settings", "override_settings_restore_afterwards", 1, "refiner_checkpoint",
        "refiner_switch_at", "disable_extra_networks", 0, "firstpass_image", "comments",
        "force_task_id", "sampler_index", "Euler", "script_name", "script_args", "send_images",
        1, "save_images", 0, "alwayson_scripts");
    if (!p)
        return NULL;
    json_object_set_new(p, "denoising_strength", img2img ? json_real(0.75) : json_null());
    if (img2img) {
        json_object_set_new(p, "init_images", json_null());
        json_object_set_new(p, "resize_mode", json_integer(0));
        json_object_set_new(p, "image_cfg_scale", json_null());
        json_object_set_new(p, "mask", json_null());
        json_object_set_new(p, "mask_blur", json_null());
        json_object_set_new(p, "inpainting_fill", json_integer(0));
        json_object_set_new(p, "inpaint_full_res", json_true());
        json_object_set_new(p, "inpaint_full_res_padding", json_integer(0));
        json_object_set_new(p, "inpainting_mask_invert", json_integer(0));
        json_object_set_new(p, "initial_noise_multiplier", json_null());
        json_object_set_new(p, "include_init_images", json_false());
    } else {
        json_object_set_new(p, "enable_hr", json_false());
        json_object_set_new(p, "firstphase_width", json_integer(0));
        json_object_set_new(p, "firstphase_height", json_integer(0));
        json_object_set_new(p, "hr_scale", json_real(2.0));
        json_object_set_new(p, "hr_upscaler", json_null());
        json_object_set_new(p, "hr_second_pass_steps", json_integer(0));
        json_object_set_new(p, "hr_resize_x", json_integer(0));
        json_object_set_new(p, "hr_resize_y", json_integer(0));
        json_object_set_new(p, "hr_checkpoint_name", json_null());
        json_object_set_new(p, "hr_sampler_name", json_null());
        json_object_set_new(p, "hr_scheduler", json_null());
        json_object_set_new(p, "hr_prompt", json_string(""));
        json_object_set_new(p, "hr_negative_prompt", json_string(""));
    }
    return p;
}

/* Reads a stored image file as base64. */
static char *image_base64(df_server *server, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", df_store_images_dir(server->store), name);
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    long size = -1;
    unsigned char *bytes = NULL;
    if (!fseek(file, 0, SEEK_END) && (size = ftell(file)) >= 0 && !fseek(file, 0, SEEK_SET) &&
        (bytes = malloc((size_t)size + 1)) && fread(bytes, 1, (size_t)size, file) == (size_t)size)
        text = df_server_base64(bytes, (size_t)size);
    free(bytes);
    fclose(file);
    return text;
}

/* The value of an infotext's Lora hashes: "..." (jobs.c writes it; a JSON
 * string, as A1111 quotes it), or NULL. */
static json_t *lora_hashes(const char *infotext)
{
    const char *line = infotext ? strrchr(infotext, '\n') : NULL;
    const char *at = infotext ? strstr(line ? line : infotext, "Lora hashes: \"") : NULL;
    if (!at)
        return NULL;
    const char *start = at + 13, *end = start + 1;
    while (*end && *end != '"')
        end += end[0] == '\\' && end[1] ? 2 : 1;
    if (!*end)
        return NULL;
    json_error_t error;
    json_t *value = json_loadb(start, (size_t)(end + 1 - start), JSON_DECODE_ANY, &error);
    if (json_is_string(value))
        return value;
    json_decref(value);
    return NULL;
}

/* A1111's "info": a JSON string (processed.js()). */
static char *info_text(const json_t *params, const json_t *result, const translated *t,
                       int img2img, int interrupted, json_t *prompt)
{
    json_t *seeds = json_object_get(result, "seeds");
    json_t *infotexts = json_object_get(result, "infotexts");
    json_t *all_prompts = json_array(), *all_negative = json_array();
    size_t count = json_array_size(seeds);
    /* No negative prompt is A1111's "" (translate sends "" as none). */
    json_t *negative = json_object_get(params, "negative_prompt");
    json_t *empty = json_string("");
    if (!negative)
        negative = empty;
    /* The prompt as sent, its LoRA tags included (A1111's "prompt"). */
    if (!json_is_string(prompt))
        prompt = json_object_get(params, "prompt");
    for (size_t i = 0; i < count; i++) {
        json_array_append(all_prompts, prompt);
        json_array_append(all_negative, negative);
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    const char *model = json_string_value(json_object_get(params, "model"));
    char model_name[256];
    snprintf(model_name, sizeof model_name, "%s", model ? model : "");
    char *dot = strrchr(model_name, '.');
    if (dot && !strcmp(dot, ".safetensors"))
        *dot = 0;
    json_t *info = json_pack(
        "{s:O?, s:o, s:O?, s:o, s:O?, s:O?, s:i, s:O?, s:f, s:O?, s:O?, s:O?, s:O?, s:O?, s:i, s:b, "
        "s:n, s:s, s:n, s:n, s:n, s:i, s:i, s:{}, s:i, s:O?, s:[], s:s, s:O?, s:b, s:s, s:b}",
        "prompt", prompt, "all_prompts", all_prompts,
        "negative_prompt", negative, "all_negative_prompts",
        all_negative, "seed", json_object_get(params, "seed"), "all_seeds", seeds, "subseed", -1,
        "all_subseeds", seeds, "subseed_strength", 0.0, "width", json_object_get(result, "width"),
        "height", json_object_get(result, "height"), "sampler_name",
        json_object_get(params, "sampler"), "cfg_scale", json_object_get(params, "guidance_scale"),
        "steps", json_object_get(params, "steps"), "batch_size", t->batch_size, "restore_faces",
        0, "face_restoration_model", "sd_model_name", model_name, "sd_model_hash", "sd_vae_name",
        "sd_vae_hash", "seed_resize_from_w", -1, "seed_resize_from_h", -1,
        "extra_generation_params", "index_of_first_image", 0, "infotexts", infotexts, "styles", "job_timestamp", stamp, "clip_skip",
        json_object_get(params, "clip_skip"), "is_using_inpainting_conditioning", 0, "version",
        "diffuse " DIFFUSE_VERSION, "interrupted", interrupted);
    json_decref(empty);
    if (!info)
        return NULL;
    /* A1111 lists the refiner and the LoRAs' hashes among the extra
     * parameters, as its infotext. */
    json_t *extra = json_object_get(info, "extra_generation_params");
    json_t *refiner = json_object_get(params, "refiner");
    if (json_is_string(refiner)) {
        json_object_set(extra, "Refiner", refiner);
        json_object_set(extra, "Refiner switch at", json_object_get(params, "refiner_start"));
    }
    json_t *hashes = lora_hashes(json_string_value(json_array_get(infotexts, 0)));
    if (hashes)
        json_object_set_new(extra, "Lora hashes", hashes);
    json_object_set(info, "denoising_strength",
                    img2img ? json_object_get(params, "strength") : json_null());
    json_object_set_new(info, "n_iter", json_integer(t->n_iter));
    char *text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

static enum MHD_Result generate(df_http_request *request, int img2img)
{
    df_server *server = request->context;
    json_error_t json_error;
    json_t *body = json_loadb(request->body, request->body_size, JSON_REJECT_DUPLICATES,
                              &json_error);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        return invalid(request, "__root__", "body: %s", body ? "expected a JSON object"
                                                             : json_error.text);
    }
    enum MHD_Result answered = MHD_NO;
    translated t;
    if (translate(request, body, img2img, &t, &answered)) {
        json_decref(t.native);
        json_decref(body);
        return answered;
    }
    df_request_params params;
    df_request_error error;
    if (df_request_parse(t.native, &server->limits, &params, &error)) {
        json_decref(t.native);
        json_decref(body);
        const char *name = a1111_name(error.param);
        const char *message = error.message;
        size_t length = strlen(error.param);
        if (length && !strncmp(message, error.param, length) && message[length] == ':')
            message += length + 2;
        return invalid(request, name, "%s: %s", name, message);
    }
    json_decref(t.native);
    df_job *job = df_routes_submit(request, &params, &answered);
    df_request_params_free(&params);
    if (!job) {
        json_decref(body);
        return answered;
    }
    char id[DF_SERVER_ID_SIZE];
    snprintf(id, sizeof id, "%s", df_job_id(job));
    remember_task(request, t.task, id);

    df_job_state state;
    if (!df_routes_wait(request, job, &state, &answered)) {
        json_decref(body);
        return answered;
    }

    json_t *record = NULL;
    df_error store_error = {0};
    if (df_store_get(server->store, id, &record, &store_error) || !record) {
        json_decref(body);
        return df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL,
                                  "job %s: %s", id, store_error.status ? store_error.message : "gone");
    }
    if (state == DF_JOB_FAILED) {
        const char *message = json_string_value(
            json_object_get(json_object_get(record, "error"), "message"));
        const char *type = json_string_value(json_object_get(json_object_get(record, "error"), "type"));
        int client = type && !strcmp(type, "invalid_request_error");
        /* A LoRA of the prompt's tags ("loras: ..." from the worker). */
        const char *blamed = client ? df_routes_failed_param(message) : NULL;
        if (blamed)
            message += strlen(blamed) + 2;
        enum MHD_Result r =
            blamed   ? invalid(request, "prompt", "prompt: %s", message)
            : client ? invalid(request, "__root__", "%s", message ? message : "invalid")
                     : df_http_send_error(request, 500, "server_error", "generation_failed", NULL,
                                          NULL, "%s", message ? message : "generation failed");
        json_decref(record);
        json_decref(body);
        return r;
    }
    json_t *params_json = json_object_get(record, "params");
    json_t *result = json_object_get(record, "result");
    json_t *images = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(result, "images"), i, name) {
        if (!t.send_images)
            break;
        char *b64 = json_is_string(name) ? image_base64(server, json_string_value(name)) : NULL;
        if (!b64) {
            json_decref(images);
            json_decref(record);
            json_decref(body);
            return df_http_send_error(request, 500, "server_error", "image_gone", NULL, NULL,
                                      "job %s: image %zu cannot be read", id, i);
        }
        json_array_append_new(images, json_string(b64));
        free(b64);
    }
    json_t *parameters = default_parameters(img2img);
    json_object_update(parameters, body);
    /* The size that ran where the client left it to the model: A1111's
     * default of 512 is not what an SDXL (or a tiny) model makes. */
    const char *sides[] = {"width", "height"};
    for (int side = 0; side < 2; side++) {
        json_t *sent = json_object_get(body, sides[side]);
        json_t *ran = json_object_get(result, sides[side]);
        if ((!json_is_integer(sent) || !json_integer_value(sent)) && ran)
            json_object_set(parameters, sides[side], ran);
    }
    if (img2img && !t.include_init_images)
        json_object_set_new(parameters, "init_images", json_null());
    char *info = info_text(params_json, result, &t, img2img, state == DF_JOB_CANCELLED,
                           json_object_get(body, "prompt"));
    json_t *response = json_pack("{s:o, s:o, s:s}", "images", images, "parameters", parameters,
                                 "info", info ? info : "{}");
    free(info);
    json_decref(record);
    json_decref(body);
    char job_header[DF_SERVER_ID_SIZE];
    snprintf(job_header, sizeof job_header, "%s", id);
    df_http_header_pair headers[] = {{"X-Job-Id", job_header}, {NULL, NULL}};
    return df_http_send_json(request, 200, response, headers);
}

static enum MHD_Result txt2img(df_http_request *request) { return generate(request, 0); }
static enum MHD_Result img2img(df_http_request *request) { return generate(request, 1); }

/* ------------------------------------------------------------------------ */
/* Progress and interrupt                                                   */

static enum MHD_Result progress(df_http_request *request)
{
    df_server *server = request->context;
    const char *task = df_http_query(request, "id_task");
    const char *skip = df_http_query(request, "skip_current_image");
    int skip_image = skip && (!strcasecmp(skip, "true") || !strcmp(skip, "1"));
    char id[DF_SERVER_ID_SIZE] = "";
    int have = task ? task_job(request, task, id) : current_job(request, id);
    df_job_info info;
    int live = have && df_jobs_info(server->jobs, id, &info);
    double fraction = 0, eta = 0;
    const char *textinfo = NULL;
    char text[256];
    int job_count = 0, step = 0, total = 0, interrupted = 0;
    char *preview = NULL;
    if (live) {
        job_count = 1;
        step = info.step;
        total = info.total;
        interrupted = info.cancel_requested;
        if (info.state == DF_JOB_QUEUED) {
            snprintf(text, sizeof text, "In queue: %d job(s) ahead", info.queue_position);
            textinfo = text;
        } else if (info.state == DF_JOB_LOADING) {
            textinfo = "Loading model";
        } else {
            fraction = total ? (double)step / total : 0;
            eta = info.eta_seconds > 0 ? info.eta_seconds : 0;
            if (!skip_image)
                preview = df_jobs_preview(server->jobs, id);
        }
    } else if (have && task) {
        /* Finished (or unknown): from the store. */
        json_t *record = NULL;
        df_error error = {0};
        if (!df_store_get(server->store, id, &record, &error) && record) {
            const char *state = json_string_value(json_object_get(record, "state"));
            fraction = state && !strcmp(state, "completed") ? 1.0 : 0.0;
            interrupted = state && !strcmp(state, "cancelled");
            snprintf(text, sizeof text, "%s", state ? state : "unknown");
            textinfo = text;
        }
        json_decref(record);
    }
    json_t *state = json_pack("{s:b, s:b, s:b, s:s, s:i, s:s, s:i, s:i, s:i}", "skipped", 0,
                              "interrupted", interrupted, "stopping_generation", 0, "job",
                              live ? id : "", "job_count", job_count, "job_timestamp", "0",
                              "job_no", 0, "sampling_step", step, "sampling_steps", total);
    json_t *body = json_pack("{s:f, s:f, s:o, s:o, s:o}", "progress", fraction, "eta_relative",
                             eta, "state", state, "current_image",
                             preview ? json_string(preview) : json_null(), "textinfo",
                             textinfo ? json_string(textinfo) : json_null());
    free(preview);
    return df_http_send_json(request, 200, body, NULL);
}

/* Stops the job /progress shows this caller: a key never stops another
 * key's job (admins and keyless servers: the running one, as A1111). */
static enum MHD_Result interrupt(df_http_request *request)
{
    df_server *server = request->context;
    char id[DF_SERVER_ID_SIZE];
    if (current_job(request, id))
        df_jobs_cancel(server->jobs, id);
    return df_http_send_json(request, 200, json_object(), NULL);
}

/* ------------------------------------------------------------------------ */
/* Lists and options                                                        */

static enum MHD_Result samplers(df_http_request *request)
{
    size_t count = 0;
    const df_sampler_info *list = df_sampler_list(&count);
    json_t *out = json_array();
    for (size_t i = 0; i < count; i++) {
        json_t *options = json_object();
        if (list[i].schedule == DF_SCHEDULE_KARRAS)
            json_object_set_new(options, "scheduler", json_string("karras"));
        json_array_append_new(out, json_pack("{s:s, s:[s], s:o}", "name", list[i].name,
                                             "aliases", list[i].alias, "options", options));
    }
    return df_http_send_json(request, 200, out, NULL);
}

static enum MHD_Result schedulers(df_http_request *request)
{
    json_t *out = json_pack("[{s:s, s:s, s:n, s:f, s:b}, {s:s, s:s, s:n, s:f, s:b}, "
                            "{s:s, s:s, s:n, s:f, s:b}]",
                            "name", "automatic", "label", "Automatic", "aliases", "default_rho",
                            -1.0, "need_inner_model", 0, "name", "uniform", "label", "Uniform",
                            "aliases", "default_rho", -1.0, "need_inner_model", 1, "name",
                            "karras", "label", "Karras", "aliases", "default_rho", 7.0,
                            "need_inner_model", 0);
    return df_http_send_json(request, 200, out, NULL);
}

static enum MHD_Result sd_models(df_http_request *request)
{
    df_server *server = request->context;
    json_t *out = json_array();
    for (int i = 0; i < df_models_count(server->models); i++) {
        const df_model_entry *e = df_models_entry(server->models, i);
        if (!e) /* a rescan shrank the catalogue meanwhile */
            break;
        char model_name[256];
        snprintf(model_name, sizeof model_name, "%s", e->name);
        char *dot = strrchr(model_name, '.');
        if (dot && !strcmp(dot, ".safetensors"))
            *dot = 0;
        /* Hashes are not computed (A1111 leaves them null until it has).
         * filename: the name under --models-dir (or -m's base name), not
         * A1111's absolute path: where the server keeps its files is none
         * of a client's business, and clients only show or match it. */
        /* family and refiner: diffuse's extension (A1111 tells SDXL and its
         * refiner apart only by loading them), so a client can offer the
         * refiners as refiner_checkpoint and the rest as checkpoints. */
        json_array_append_new(out, json_pack("{s:s, s:s, s:n, s:n, s:s, s:n, s:s, s:b}",
                                             "title", e->name, "model_name", model_name, "hash",
                                             "sha256", "filename", e->name, "config", "family",
                                             df_family_name(e->family), "refiner", e->refiner));
    }
    return df_http_send_json(request, 200, out, NULL);
}

static enum MHD_Result get_options(df_http_request *request)
{
    df_server *server = request->context;
    json_t *out = json_pack("{s:i, s:s, s:i, s:s, s:b}", "CLIP_stop_at_last_layers", 1,
                            "randn_source", "CPU", "show_progress_every_n_steps", 10,
                            "samples_format", "png", "live_previews_enable",
                            server->limits.previews);
    pthread_mutex_lock(&state_lock);
    json_t *mine = json_object_get(stored_options, options_owner(request));
    if (mine)
        json_object_update(out, mine);
    pthread_mutex_unlock(&state_lock);
    /* The key's own checkpoint while it is still offered, else the server's. */
    const char *held = json_string_value(json_object_get(out, "sd_model_checkpoint"));
    if (!held || !df_models_find(server->models, held)) {
        char name[256];
        df_models_default(server->models, name, sizeof name);
        json_object_set_new(out, "sd_model_checkpoint", json_string(name));
    }
    return df_http_send_json(request, 200, out, NULL);
}

/* Bytes `value` takes as compact JSON. */
static size_t json_bytes(const json_t *value)
{
    return json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

static enum MHD_Result set_options(df_http_request *request)
{
    df_server *server = request->context;
    json_error_t json_error;
    json_t *body = json_loadb(request->body, request->body_size, 0, &json_error);
    if (!json_is_object(body)) {
        json_decref(body);
        return invalid(request, "__root__", "body: %s", body ? "expected a JSON object"
                                                             : json_error.text);
    }
    /* Types of the options that change what we do, checked before any is set. */
    json_t *v = json_object_get(body, "CLIP_stop_at_last_layers");
    /* Its range too: a stored 0 or 99 would make every later txt2img 422. */
    const char *bad = v && !json_is_null(v) &&
                              (!json_is_integer(v) || json_integer_value(v) < 1 ||
                               json_integer_value(v) > 12)
                          ? "CLIP_stop_at_last_layers"
                          : NULL;
    v = json_object_get(body, "randn_source");
    if (v && !json_is_null(v) && (!json_is_string(v) ||
        (strcasecmp(json_string_value(v), "GPU") && strcasecmp(json_string_value(v), "NV") &&
         strcasecmp(json_string_value(v), "CPU"))))
        bad = "randn_source";
    v = json_object_get(body, "show_progress_every_n_steps");
    if (v && !json_is_null(v) && !json_is_integer(v))
        bad = "show_progress_every_n_steps";
    if (bad) {
        json_decref(body);
        return invalid(request, bad, "%s: invalid value", bad);
    }
    /* Any other option is only echoed; one that cannot fit is refused by
     * name before anything is stored. */
    const char *key;
    json_object_foreach(body, key, v) {
        size_t bytes = strlen(key) + json_bytes(v);
        if (bytes > OPTIONS_MAX_BYTES) {
            enum MHD_Result r = invalid(request, key, "%s: %zu bytes is more than the %d bytes "
                                        "of options this server keeps per key", key, bytes,
                                        OPTIONS_MAX_BYTES);
            json_decref(body);
            return r;
        }
    }
    /* sd_model_checkpoint: the server's default model when the caller may
     * change it (an admin key, or a server without keys); for any other
     * key, that key's own default, kept with its options. */
    json_t *checkpoint = json_object_get(body, "sd_model_checkpoint");
    int own_model = df_auth_owner_filter(request) != NULL;
    char server_model[sizeof ((df_model_entry *)0)->name] = ""; /* the new default, if any */
    if (checkpoint && !json_is_null(checkpoint)) {
        if (!json_is_string(checkpoint)) {
            json_decref(body);
            return invalid(request, "sd_model_checkpoint", "sd_model_checkpoint: str type "
                           "expected");
        }
        const df_model_entry *entry = df_models_find(server->models,
                                                     json_string_value(checkpoint));
        if (!entry) {
            char names[512];
            df_models_names(server->models, names, sizeof names);
            enum MHD_Result r = invalid(request, "sd_model_checkpoint", "sd_model_checkpoint: "
                                        "unknown model '%s' (available: %s)",
                                        json_string_value(checkpoint), names);
            json_decref(body);
            return r;
        }
        if (own_model)
            json_object_set_new(body, "sd_model_checkpoint", json_string(entry->name));
        else
            snprintf(server_model, sizeof server_model, "%s", entry->name);
    }
    if (!own_model)
        json_object_del(body, "sd_model_checkpoint");
    /* Taken in any case, kept as A1111 names it (GET answers GPU, not gPu). */
    v = json_object_get(body, "randn_source");
    if (json_is_string(v))
        json_object_set_new(body, "randn_source",
                            json_string(!strcasecmp(json_string_value(v), "GPU")  ? "GPU"
                                        : !strcasecmp(json_string_value(v), "NV") ? "NV"
                                                                                  : "CPU"));
    /* Merged into a copy, so that a set over the limit changes nothing. */
    const char *owner = options_owner(request);
    size_t total = 0;
    pthread_mutex_lock(&state_lock);
    if (!stored_options)
        stored_options = json_object();
    json_t *mine = json_object_get(stored_options, owner);
    json_t *merged = mine ? json_copy(mine) : json_object();
    int stored = merged && !json_object_update(merged, body) &&
                 (total = json_bytes(merged)) <= OPTIONS_MAX_BYTES &&
                 !json_object_set(stored_options, owner, merged);
    pthread_mutex_unlock(&state_lock);
    json_decref(merged);
    json_decref(body);
    if (!stored && total > OPTIONS_MAX_BYTES)
        return invalid(request, "__root__", "options: %zu bytes is more than the %d bytes of "
                       "options this server keeps per key", total, OPTIONS_MAX_BYTES);
    if (!stored)
        return df_http_send_error(request, 500, "server_error", "out_of_memory", NULL, NULL,
                                  "options: out of memory");
    /* Last, so that a refused set changes nothing. */
    df_error error = {0};
    if (server_model[0] && df_models_set_default(server->models, server_model, &error))
        return invalid(request, "sd_model_checkpoint", "sd_model_checkpoint: %s",
                       error.message); /* a rescan took it away meanwhile */
    char *null_body = strdup("null"); /* A1111 answers null */
    if (!null_body)
        return MHD_NO;
    return df_http_send_bytes(request, 200, "application/json", null_body, 4, NULL);
}

/* ------------------------------------------------------------------------ */
/* PNG info                                                                 */

/* A1111's parse_generation_parameters, for what we write: the prompt lines,
 * "Negative prompt: ..." lines, then "Key: value, Key: value" (values may
 * be quoted); "Size: WxH" also gives Size-1 and Size-2. */
static json_t *parse_infotext(const char *text)
{
    json_t *out = json_object();
    const char *last_line = strrchr(text, '\n');
    const char *params = last_line ? last_line + 1 : text;
    if (!strstr(params, "Steps: ")) /* no parameters line: all prompt */
        params = text + strlen(text);
    size_t head_length = (size_t)(params - text);
    char *head = strndup(text, head_length);
    if (!head)
        return out;
    if (head_length && head[head_length - 1] == '\n')
        head[--head_length] = 0;
    char *negative = strstr(head, "Negative prompt: ");
    if (negative && (negative == head || negative[-1] == '\n')) {
        if (negative != head)
            negative[-1] = 0;
        else
            *negative = 0;
        json_object_set_new(out, "Prompt", json_string(head));
        json_object_set_new(out, "Negative prompt", json_string(negative + 17));
    } else {
        json_object_set_new(out, "Prompt", json_string(head));
        json_object_set_new(out, "Negative prompt", json_string(""));
    }
    free(head);
    const char *p = params;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *colon = strchr(p, ':');
        if (!colon)
            break;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(colon - p), p);
        p = colon + 1;
        while (*p == ' ')
            p++;
        const char *start = p, *end;
        if (*p == '"') {
            p++;
            while (*p && *p != '"')
                p += p[0] == '\\' && p[1] ? 2 : 1;
            end = *p ? ++p : p;
        } else {
            while (*p && *p != ',')
                p++;
            end = p;
        }
        char *value = strndup(start, (size_t)(end - start));
        if (!value)
            break;
        json_object_set_new(out, key, json_string(value));
        int w, h;
        if (!strcmp(key, "Size") && sscanf(value, "%dx%d", &w, &h) == 2) {
            char number[32];
            snprintf(number, sizeof number, "%d", w);
            json_object_set_new(out, "Size-1", json_string(number));
            snprintf(number, sizeof number, "%d", h);
            json_object_set_new(out, "Size-2", json_string(number));
        }
        free(value);
    }
    if (!json_object_get(out, "Clip skip"))
        json_object_set_new(out, "Clip skip", json_string("1"));
    return out;
}

static enum MHD_Result png_info(df_http_request *request)
{
    json_error_t json_error;
    json_t *body = json_loadb(request->body, request->body_size, 0, &json_error);
    json_t *image = json_object_get(body, "image");
    if (!json_is_string(image)) {
        json_decref(body);
        return invalid(request, "image", "image: a base64 image is required");
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    const char *text = json_string_value(image);
    while (*text == ' ' || *text == '\n')
        text++;
    if (df_request_base64_decode(text, strlen(text), &bytes, &size)) {
        json_decref(body);
        return invalid(request, "image", "image: not valid base64");
    }
    json_decref(body);
    char *parameters = NULL;
    df_error error = {0};
    df_status status = df_image_read_parameters(bytes, size, &parameters, &error);
    free(bytes);
    if (status)
        return invalid(request, "image", "image: %s", error.message);
    json_t *out = json_pack("{s:s, s:{}, s:o}", "info", parameters ? parameters : "", "items",
                            "parameters", parameters ? parse_infotext(parameters) : json_object());
    free(parameters);
    return df_http_send_json(request, 200, out, NULL);
}

/* ------------------------------------------------------------------------ */
/* LoRAs                                                                    */

static enum MHD_Result loras(df_http_request *request)
{
    df_server *server = request->context;
    json_t *out = json_array();
    df_lora_entry *entries = NULL;
    int count = 0;
    df_error error = {0};
    if (server->loras && df_loras_list(server->loras, &entries, &count, &error)) {
        json_decref(out);
        return df_http_send_error(request, 500, "server_error", "out_of_memory", NULL, NULL,
                                  "%s", error.message);
    }
    for (int i = 0; out && i < count; i++) {
        char file[DF_LORA_NAME_SIZE + 16];
        snprintf(file, sizeof file, "%s.safetensors", entries[i].name);
        /* alias: A1111's is the file's ss_output_name when its option says
         * so; requests here name the file, so the name is the alias. */
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:{}}", "name", entries[i].name,
                                             "alias", entries[i].name, "path", file,
                                             "metadata"));
    }
    free(entries);
    return df_http_send_json(request, 200, out ? out : json_array(), NULL);
}

static enum MHD_Result refresh_loras(df_http_request *request)
{
    df_server *server = request->context;
    df_error error = {0};
    int added = 0, removed = 0;
    if (server->loras && df_loras_rescan(server->loras, &added, &removed, &error))
        return df_http_send_error(request, 500, "server_error", "rescan_failed", NULL, NULL,
                                  "%s", error.message);
    char *null_body = strdup("null"); /* A1111 answers null */
    if (!null_body)
        return MHD_NO;
    return df_http_send_bytes(request, 200, "application/json", null_body, 4, NULL);
}

const df_http_route df_routes_a1111[] = {
    {"POST", "/sdapi/v1/txt2img", txt2img, a1111_error},
    {"POST", "/sdapi/v1/img2img", img2img, a1111_error},
    {"GET", "/sdapi/v1/progress", progress, a1111_error},
    {"POST", "/sdapi/v1/interrupt", interrupt, a1111_error},
    {"POST", "/sdapi/v1/skip", interrupt, a1111_error},
    {"GET", "/sdapi/v1/samplers", samplers, a1111_error},
    {"GET", "/sdapi/v1/schedulers", schedulers, a1111_error},
    {"GET", "/sdapi/v1/sd-models", sd_models, a1111_error},
    {"GET", "/sdapi/v1/options", get_options, a1111_error},
    {"POST", "/sdapi/v1/options", set_options, a1111_error},
    {"POST", "/sdapi/v1/png-info", png_info, a1111_error},
    {"GET", "/sdapi/v1/loras", loras, a1111_error},
    {"POST", "/sdapi/v1/refresh-loras", refresh_loras, a1111_error},
    {NULL, NULL, NULL, NULL},
};
