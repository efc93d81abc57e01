/*
 * routes_vertex.c — Vertex AI's prediction format (also TF Serving's and
 * KServe v1's):
 *   POST /v1/models/{model}:predict
 *        {"instances": [{"prompt": ...} | "prompt", ...], "parameters": {...}}
 *     -> {"predictions": ["<base64 image>", ...]}   one per instance, in order
 * and, as a Vertex AI custom container must, when the environment sets them:
 *   AIP_HTTP_PORT     the default --listen becomes 0.0.0.0:$AIP_HTTP_PORT
 *                     (df_routes_vertex_listen; an explicit --listen wins)
 *   AIP_HEALTH_ROUTE  GET: 200 {"status": "ready"} once the model is loaded and
 *                     the queue takes jobs, else 503
 *   AIP_PREDICT_ROUTE POST: the predict route above (these come first in the
 *                     route table, so "/predict" here means Vertex's format)
 *
 * "parameters" may hold any field of the one request model (request.h) but
 * batch/n (one prediction per instance) and preview_every, plus
 * "output_format": "jpeg" (default) | "png" | "webp". An instance is an
 * object with "prompt" and, optionally, any of those same fields, which
 * override "parameters" for it; a bare string is a prompt. Unknown fields
 * are rejected, as everywhere. Every instance is validated before any job is
 * submitted; then each instance is a job (stored, queued), and the request
 * waits for them in order (a client that hangs up cancels them).
 *
 * "model" in the path: a model name (GET /v1/models lists them; it becomes
 * the core's "model" field, 404 when unknown), or "diffuse" for the default.
 * On the AIP_PREDICT_ROUTE (no model in the path) "parameters" may name it.
 *
 * Errors: {"error": {"code": 400, "message": "instances[1].steps: ...",
 * "status": "INVALID_ARGUMENT", "field": "instances[1].steps"}} (Google's
 * shape plus the field; Vertex passes a container's error body through).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "server/routes.h"
#include "server/util.h"
#include "server/log.h"

static const char *google_status(int code)
{
    switch (code) {
    case 400: return "INVALID_ARGUMENT";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 405: return "UNIMPLEMENTED";
    case 409: return "ABORTED";
    case 413: return "INVALID_ARGUMENT";
    case 429: return "RESOURCE_EXHAUSTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

static json_t *vertex_error(const df_http_error_info *info)
{
    json_t *error = json_pack("{s:i, s:s, s:s}", "code", info->status, "message", info->message,
                              "status", google_status(info->status));
    if (error && info->param && *info->param)
        json_object_set_new(error, "field", json_string(info->param));
    return error ? json_pack("{s:o}", "error", error) : NULL;
}

static enum MHD_Result bad_field(df_http_request *request, const char *field, const char *message)
{
    return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter", field,
                              NULL, "%s: %s", field, message);
}

/* Why a core field is not accepted in a Vertex request. */
static const char *refusal(const char *key)
{
    if (!strcmp(key, "model"))
        return "not accepted here (the path names the model: /v1/models/MODEL:predict)";
    if (!strcmp(key, "output_format"))
        return "belongs in \"parameters\"";
    return "not accepted here (one prediction per instance, no previews)";
}

/* The core's JSON for one instance (new reference), or NULL after answering. */
static json_t *instance_request(df_http_request *request, const json_t *parameters,
                                const json_t *instance, size_t index, enum MHD_Result *answered)
{
    char field[96];
    snprintf(field, sizeof field, "instances[%zu]", index);
    json_t *core = parameters ? json_deep_copy(parameters) : json_object();
    if (!core)
        return NULL;
    if (json_is_string(instance)) {
        json_object_set(core, "prompt", (json_t *)instance);
    } else if (json_is_object(instance)) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)instance, key, value) {
            if (!strcmp(key, "batch") || !strcmp(key, "n") || !strcmp(key, "preview_every") ||
                !strcmp(key, "output_format") || !strcmp(key, "model")) {
                snprintf(field, sizeof field, "instances[%zu].%s", index, key);
                *answered = bad_field(request, field, refusal(key));
                json_decref(core);
                return NULL;
            }
            json_object_set(core, key, value);
        }
    } else {
        *answered = bad_field(request, field, "expected an object with \"prompt\" (or a string)");
        json_decref(core);
        return NULL;
    }
    return core;
}

/* Validates one instance's request; on failure answers naming where the
 * field came from (the instance, or "parameters"). */
static int instance_params(df_http_request *request, const json_t *core,
                           const json_t *parameters, const json_t *instance, size_t index,
                           df_request_params *params, enum MHD_Result *answered)
{
    df_server *server = request->context;
    df_request_error error;
    if (!df_request_parse(core, &server->limits, params, &error))
        return 1;
    char field[160];
    const char *message = error.message + strlen(error.param);
    if (*message == ':')
        message += 2;
    /* The top-level field of a nested one ("loras" of "loras[1].name"):
     * what "parameters" or the instance holds. */
    char top[64];
    snprintf(top, sizeof top, "%.*s", (int)strcspn(error.param, "[."), error.param);
    if (*error.param && parameters && json_object_get(parameters, top) &&
        !(json_is_object(instance) && json_object_get(instance, top)))
        snprintf(field, sizeof field, "parameters.%s", error.param);
    else if (*error.param)
        snprintf(field, sizeof field, "instances[%zu].%s", index, error.param);
    else
        snprintf(field, sizeof field, "instances[%zu]", index);
    /* 404 for a model that does not exist; one that exists but cannot serve
     * the request (an SDXL refiner without an init image) is a 400. */
    const char *model = json_string_value(json_object_get(core, "model"));
    if (!strcmp(error.param, "model") && model && !df_models_find(server->models, model))
        *answered = df_http_send_error(request, 404, "not_found", "model_not_found", "model",
                                       NULL, "model: %s", message);
    else
        *answered = bad_field(request, field, message);
    return 0;
}

static enum MHD_Result predict_with(df_http_request *request, const char *model)
{
    df_server *server = request->context;
    enum MHD_Result answered = MHD_NO;
    json_t *body = df_routes_parse_json(request, &answered);
    if (!body)
        return answered;
    json_t *instances = json_object_get(body, "instances");
    json_t *parameters = json_object_get(body, "parameters");
    df_image_format format = DF_IMAGE_JPEG;
    const char *key;
    json_t *value;
    size_t count = 0;
    df_request_params *params = NULL;
    df_job **jobs = NULL;
    json_t *predictions = NULL;
    if (!json_is_object(body)) {
        answered = bad_field(request, "body", "expected a JSON object with \"instances\"");
        goto done;
    }
    json_object_foreach(body, key, value) {
        if (strcmp(key, "instances") && strcmp(key, "parameters")) {
            answered = bad_field(request, key, "unknown field (accepted: instances, parameters)");
            goto done;
        }
    }
    if (!json_is_array(instances) || !json_array_size(instances)) {
        answered = bad_field(request, "instances", "expected a non-empty array");
        goto done;
    }
    count = json_array_size(instances);
    if (count > (size_t)server->limits.max_batch) {
        char message[96];
        snprintf(message, sizeof message, "%zu instances is more than the limit of %d", count,
                 server->limits.max_batch);
        answered = bad_field(request, "instances", message);
        count = 0;
        goto done;
    }
    if (parameters && json_is_null(parameters))
        parameters = NULL;
    if (parameters && !json_is_object(parameters)) {
        answered = bad_field(request, "parameters", "expected an object");
        count = 0;
        goto done;
    }
    json_t *own = parameters ? json_deep_copy(parameters) : NULL;
    parameters = own; /* ours to edit (output_format leaves it) */
    json_t *format_value = json_object_get(parameters, "output_format");
    if (format_value && !json_is_null(format_value)) {
        const char *name = json_string_value(format_value);
        if (name && !strcmp(name, "png"))
            format = DF_IMAGE_PNG;
        else if (name && !strcmp(name, "webp"))
            format = DF_IMAGE_WEBP;
        else if (!name || (strcmp(name, "jpeg") && strcmp(name, "jpg"))) {
            answered = bad_field(request, "parameters.output_format",
                                 "expected \"jpeg\", \"png\" or \"webp\"");
            count = 0;
            json_decref(own);
            goto done;
        }
    }
    json_object_del(parameters, "output_format");
    const char *refused[] = {"batch", "n", "preview_every", "model"};
    for (int i = 0; parameters && i < 4; i++)
        if (json_object_get(parameters, refused[i]) && (model || strcmp(refused[i], "model"))) {
            char field[64];
            snprintf(field, sizeof field, "parameters.%s", refused[i]);
            answered = bad_field(request, field, refusal(refused[i]));
            count = 0;
            json_decref(own);
            goto done;
        }
    if (model && strcmp(model, "diffuse")) {
        if (!parameters)
            parameters = own = json_object();
        json_object_set_new(parameters, "model", json_string(model)); /* the core resolves */
    }

    /* Every instance validated before any job exists. */
    params = calloc(count, sizeof *params);
    jobs = calloc(count, sizeof *jobs);
    if (!params || !jobs) {
        json_decref(own);
        count = 0;
        goto done;
    }
    size_t parsed = 0;
    for (; parsed < count; parsed++) {
        json_t *instance = json_array_get(instances, parsed);
        json_t *core = instance_request(request, parameters, instance, parsed, &answered);
        int ok = core && instance_params(request, core, parameters, instance, parsed,
                                         &params[parsed], &answered);
        json_decref(core);
        if (!ok)
            break;
    }
    json_decref(own);
    if (parsed < count) {
        for (size_t i = 0; i < parsed; i++)
            df_request_params_free(&params[i]);
        count = 0;
        goto done;
    }
    size_t submitted = 0;
    for (; submitted < count; submitted++)
        if (!(jobs[submitted] = df_routes_submit(request, &params[submitted], &answered)))
            break;
    if (submitted < count) { /* queue full or stopping: none of it runs */
        for (size_t i = 0; i < submitted; i++) {
            df_jobs_cancel(server->jobs, df_job_id(jobs[i]));
            df_job_release(server->jobs, jobs[i]);
            jobs[i] = NULL;
        }
        goto done;
    }

    predictions = json_array();
    for (size_t i = 0; i < count; i++) {
        char id[DF_SERVER_ID_SIZE];
        snprintf(id, sizeof id, "%s", df_job_id(jobs[i]));
        df_job_state state;
        df_job *job = jobs[i];
        jobs[i] = NULL;
        if (!df_routes_wait(request, job, &state, &answered)) {
            /* The client left (cancel the rest) or 503/504 (they go on). */
            for (size_t j = i + 1; j < count; j++) {
                if (answered == MHD_NO)
                    df_jobs_abandon(server->jobs, df_job_id(jobs[j]));
                df_job_release(server->jobs, jobs[j]);
                jobs[j] = NULL;
            }
            goto done;
        }
        json_t *record = df_routes_finished_record(request, id, state, &answered);
        unsigned char *bytes = NULL;
        size_t size = 0;
        df_error error = {0};
        char *text = NULL;
        if (record && !df_routes_image_bytes(server, record, 0, format, 0, &bytes, &size, &error))
            text = df_server_base64(bytes, size);
        free(bytes);
        if (record && !text)
            answered = df_http_send_error(request, 500, "server_error", "encode_failed", NULL,
                                          NULL, "job %s: %s", id,
                                          error.status ? error.message : "out of memory");
        json_decref(record);
        if (!text) {
            for (size_t j = i + 1; j < count; j++) {
                df_jobs_cancel(server->jobs, df_job_id(jobs[j]));
                df_job_release(server->jobs, jobs[j]);
                jobs[j] = NULL;
            }
            goto done;
        }
        json_array_append_new(predictions, json_string(text));
        free(text);
    }
    answered = df_http_send_json(request, 200, json_pack("{s:O}", "predictions", predictions),
                                 NULL);
done:
    for (size_t i = 0; params && i < count; i++)
        df_request_params_free(&params[i]);
    free(params);
    free(jobs);
    json_decref(predictions);
    json_decref(body);
    return answered;
}

/* POST /v1/models/{model}:predict (the router's {} takes "model:predict"). */
static enum MHD_Result models_predict(df_http_request *request)
{
    char *model = request->captures[0];
    char *colon = strrchr(model, ':');
    if (!colon) {
        /* No verb: the path is GET /v1/models/{model}'s (OpenAI's), which
         * exists; POST is what it does not take. */
        df_http_header_pair headers[] = {{"Allow", "GET"}, {NULL, NULL}};
        return df_http_send_error(request, 405, "invalid_request_error", "method_not_allowed",
                                  NULL, headers, "method POST is not allowed on %s (allowed: "
                                  "GET; predictions: POST /v1/models/MODEL:predict)",
                                  request->path);
    }
    if (strcmp(colon, ":predict"))
        return df_http_send_error(request, 404, "not_found", "route_not_found", NULL, NULL,
                                  "no route POST %s (expected /v1/models/MODEL:predict)",
                                  request->path);
    *colon = 0;
    return predict_with(request, model);
}

static enum MHD_Result aip_predict(df_http_request *request)
{
    return predict_with(request, NULL);
}

static enum MHD_Result aip_health(df_http_request *request)
{
    df_server *server = request->context;
    if (!server->models || !df_jobs_ready(server->jobs))
        return df_http_send_error(request, 503, "server_error", "not_ready", NULL, NULL,
                                  "not ready (the model is loading or the server is stopping)");
    return df_http_send_json(request, 200, json_pack("{s:s}", "status", "ready"), NULL);
}

const df_http_route df_routes_vertex[] = {
    {"POST", "/v1/models/{}", models_predict, vertex_error},
    {NULL, NULL, NULL, NULL},
};

/* A route from the environment: a path starting with '/', no '{}' (which
 * the router would read as a pattern) and no query. */
static const char *env_route(const char *name)
{
    const char *value = getenv(name);
    if (!value || !*value)
        return NULL;
    if (value[0] != '/' || strstr(value, "{}") || strchr(value, '?')) {
        df_log_info("%s=%s ignored (expected a path like /predict)", name,
                    value);
        return NULL;
    }
    return value;
}

static df_http_route aip_routes[3];
static pthread_once_t aip_once = PTHREAD_ONCE_INIT;

static void aip_init(void)
{
    int n = 0;
    const char *health = env_route("AIP_HEALTH_ROUTE"), *predict = env_route("AIP_PREDICT_ROUTE");
    if (health)
        aip_routes[n++] = (df_http_route){"GET", health, aip_health, vertex_error,
                                           DF_HTTP_ACCESS_PUBLIC}; /* Vertex probes send no key */
    if (predict)
        aip_routes[n++] = (df_http_route){"POST", predict, aip_predict, vertex_error};
    aip_routes[n] = (df_http_route){NULL, NULL, NULL, NULL};
}

const df_http_route *df_routes_vertex_aip(void)
{
    pthread_once(&aip_once, aip_init);
    return aip_routes;
}

const char *df_routes_vertex_listen(void)
{
    static char listen[32];
    const char *port = getenv("AIP_HTTP_PORT");
    char *end = NULL;
    long value = port && *port ? strtol(port, &end, 10) : -1;
    if (!port || !*port)
        return NULL;
    if (*end || value < 1 || value > 65535) {
        df_log_info("AIP_HTTP_PORT=%s ignored (not a port)", port);
        return NULL;
    }
    snprintf(listen, sizeof listen, "0.0.0.0:%ld", value);
    return listen;
}
