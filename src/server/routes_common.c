/*
 * routes_common.c — what every API family's routes share (see routes.h):
 * body parsing into the one request model, submission with the queue's
 * answers mapped to HTTP, the native job JSON, and images in a chosen
 * format. Families differ only in how they translate their JSON and shape
 * their answers; validation and execution are these.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "server/auth.h"
#include "server/routes.h"
#include "server/util.h"
#include "server/log.h"

json_t *df_routes_parse_json(df_http_request *request, enum MHD_Result *answered)
{
    json_error_t error;
    /* Duplicate keys are refused: which one would win is not obvious. */
    json_t *body = json_loadb(request->body, request->body_size, JSON_REJECT_DUPLICATES, &error);
    if (!body)
        *answered = df_http_send_error(request, 400, "invalid_request_error", "invalid_json",
                                       NULL, NULL, "body: malformed JSON at line %d, column %d: "
                                       "%s", error.line, error.column, error.text);
    return body;
}

int df_routes_parse_params(df_http_request *request, const json_t *body,
                           df_request_params *params, enum MHD_Result *answered)
{
    df_server *server = request->context;
    df_request_error error;
    if (!df_request_parse(body, &server->limits, params, &error))
        return 1;
    *answered = df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                   error.param, NULL, "%s", error.message);
    return 0;
}

int df_routes_parse_body(df_http_request *request, df_request_params *params,
                         enum MHD_Result *answered)
{
    json_t *body = df_routes_parse_json(request, answered);
    if (!body)
        return 0;
    int ok = df_routes_parse_params(request, body, params, answered);
    json_decref(body);
    return ok;
}

const char *df_routes_failed_param(const char *message)
{
    return message && !strncmp(message, "loras: ", 7) ? "loras" : NULL;
}

df_job *df_routes_submit(df_http_request *request, df_request_params *params,
                         enum MHD_Result *answered)
{
    df_server *server = request->context;
    df_job *job = NULL;
    df_error error = {0};
    /* The key's image budget first: a refused job costs nothing. */
    if (!df_auth_take_images(request, params->batch, answered))
        return NULL;
    df_jobs_submit_result result =
        df_jobs_submit(server->jobs, params, request->caller->key_id, &job, &error);
    if (result != DF_JOBS_ACCEPTED)
        df_auth_refund_images(request, params->batch);
    switch (result) {
    case DF_JOBS_ACCEPTED:
        return job;
    case DF_JOBS_QUEUE_FULL: {
        df_http_header_pair headers[] = {{"Retry-After", DF_ROUTES_RETRY_AFTER}, {NULL, NULL}};
        *answered = df_http_send_error(request, 429, "rate_limit_error", "queue_full", NULL,
                                       headers, "the queue is full (%d jobs); retry later",
                                       server->config->queue_size);
        return NULL;
    }
    case DF_JOBS_STOPPING:
        *answered = df_http_send_error(request, 503, "server_error", "shutting_down", NULL, NULL,
                                       "the server is shutting down");
        return NULL;
    case DF_JOBS_STORE_FAILED:
        break;
    }
    df_log_warning("submit: %s", error.message);
    *answered = df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL,
                                   "the job could not be stored: %s", error.message);
    return NULL;
}

json_t *df_routes_job_json(df_server *server, const char *id)
{
    json_t *record = NULL;
    df_error error = {0};
    if (df_store_get(server->store, id, &record, &error) || !record) {
        if (error.status)
            df_log_warning("%s", error.message);
        return NULL;
    }
    df_job_info info;
    int live = df_jobs_info(server->jobs, id, &info);
    const char *state = live ? df_job_state_name(info.state)
                             : json_string_value(json_object_get(record, "state"));
    char url[DF_SERVER_ID_SIZE + 96];
    snprintf(url, sizeof url, "/v1/jobs/%s", id);
    json_t *job = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:O}", "id", id, "object", "job",
                            "url", url, "state", state ? state : "unknown", "created_at",
                            json_object_get(record, "created"), "started_at",
                            json_object_get(record, "started"), "finished_at",
                            json_object_get(record, "finished"), "parameters",
                            json_object_get(record, "params"));
    if (!job) {
        json_decref(record);
        return NULL;
    }
    json_object_set_new(job, "queue_position",
                        live && info.queue_position >= 0 ? json_integer(info.queue_position)
                                                         : json_null());
    if (live && info.state == DF_JOB_RUNNING) {
        json_object_set_new(job, "progress",
                            json_pack("{s:i, s:i, s:f, s:f, s:o}", "step", info.step, "total",
                                      info.total, "fraction",
                                      info.total ? (double)info.step / info.total : 0.0,
                                      "elapsed_seconds", info.elapsed_seconds, "eta_seconds",
                                      info.eta_seconds < 0 ? json_null()
                                                           : json_real(info.eta_seconds)));
        json_object_set_new(job, "cancel_requested", json_boolean(info.cancel_requested));
    } else {
        json_object_set_new(job, "progress", json_null());
    }
    /* Timings: waiting in the queue, and running (engine wall time). */
    json_t *created = json_object_get(record, "created"), *started = json_object_get(record, "started"),
           *finished = json_object_get(record, "finished");
    json_t *timings = json_object();
    if (timings && json_is_number(started))
        json_object_set_new(timings, "queued_seconds",
                            json_real(json_number_value(started) - json_number_value(created)));
    if (timings && json_is_number(started) && json_is_number(finished))
        json_object_set_new(timings, "run_seconds",
                            json_real(json_number_value(finished) - json_number_value(started)));
    json_object_set_new(job, "timings", timings ? timings : json_null());

    json_t *result = json_object_get(record, "result");
    json_t *images = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(result, "images"), i, name) {
        char image_url[DF_SERVER_ID_SIZE + 96];
        snprintf(image_url, sizeof image_url, "/v1/jobs/%s/images/%zu", id, i);
        json_array_append_new(
            images, json_pack("{s:I, s:s, s:O?}", "index", (json_int_t)i, "url", image_url,
                              "seed", json_array_get(json_object_get(result, "seeds"), i)));
    }
    json_object_set_new(job, "images", images ? images : json_null());
    if (json_is_object(result)) {
        json_object_set(job, "width", json_object_get(result, "width"));
        json_object_set(job, "height", json_object_get(result, "height"));
        json_object_set(job, "infotexts", json_object_get(result, "infotexts"));
    }
    json_object_set(job, "error", json_object_get(record, "error"));
    json_decref(record);
    return job;
}

/* Reads a whole (small) file into a malloc'ed buffer. */
static df_status read_file(const char *path, unsigned char **out, size_t *out_size,
                           df_error *error)
{
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (!file)
        return df_error_set(error, DF_ERR_IO, "image file is gone (expired?)");
    df_status status = DF_OK;
    long size = -1;
    if (fseek(file, 0, SEEK_END) || (size = ftell(file)) < 0 || fseek(file, 0, SEEK_SET) ||
        size > (long)DF_IMAGE_MAX_FILE_BYTES)
        status = df_error_set(error, DF_ERR_IO, "cannot read the image file");
    unsigned char *bytes = status ? NULL : malloc((size_t)size + 1);
    if (!status && !bytes)
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (!status && fread(bytes, 1, (size_t)size, file) != (size_t)size)
        status = df_error_set(error, DF_ERR_IO, "cannot read the image file");
    fclose(file);
    if (status) {
        free(bytes);
        return status;
    }
    *out = bytes;
    *out_size = (size_t)size;
    return DF_OK;
}

df_status df_routes_job_image(df_server *server, const json_t *record, int index,
                              df_image_format format, unsigned char **out, size_t *out_size,
                              const char **content_type, df_error *error)
{
    *out = NULL;
    const char *name = json_string_value(
        json_array_get(json_object_get(json_object_get(record, "result"), "images"),
                       (size_t)index));
    if (index < 0 || !name)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no image %d in this job", index);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", df_store_images_dir(server->store), name) >=
        (int)sizeof path)
        return df_error_set(error, DF_ERR_IO, "image path too long");
    unsigned char *png = NULL;
    size_t png_size = 0;
    df_status status = read_file(path, &png, &png_size, error);
    if (status)
        return status;
    if (format == DF_IMAGE_PNG) { /* stored as PNG: as is */
        *out = png;
        *out_size = png_size;
        *content_type = "image/png";
        return DF_OK;
    }
    /* Other formats: decoded and encoded again, keeping the parameters text. */
    df_image image = {0};
    char *parameters = NULL;
    status = df_image_decode(png, png_size, 0, &image, error);
    if (!status)
        status = df_image_read_parameters(png, png_size, &parameters, error);
    if (!status)
        status = df_image_encode(&image, format, 0, parameters, out, out_size, error);
    if (status == DF_ERR_INVALID_ARGUMENT && parameters) /* too long for JPEG's EXIF */
        status = df_image_encode(&image, format, 0, NULL, out, out_size, error);
    *content_type = format == DF_IMAGE_JPEG ? "image/jpeg" : "image/webp";
    free(parameters);
    df_image_free(&image);
    free(png);
    return status;
}

/* How often a synchronous route checks that its client is still there. */
#define POLL_MS 250

int df_routes_wait(df_http_request *request, df_job *job, df_job_state *state,
                   enum MHD_Result *answered)
{
    df_server *server = request->context;
    char id[DF_SERVER_ID_SIZE];
    snprintf(id, sizeof id, "%s", df_job_id(job));
    double deadline = df_server_monotonic() + server->config->sync_timeout_s;
    for (;;) {
        *state = df_jobs_wait(server->jobs, job, POLL_MS);
        if (df_job_state_final(*state))
            break;
        if (df_http_client_gone(request)) {
            df_jobs_abandon(server->jobs, id);
            df_job_release(server->jobs, job);
            df_log_info("%s client left; job %s cancelled", request->path,
                        id);
            *answered = MHD_NO; /* nobody to answer: close */
            return 0;
        }
        if (!df_jobs_ready(server->jobs)) {
            df_job_release(server->jobs, job);
            *answered = df_http_send_error(request, 503, "server_error", "shutting_down", NULL,
                                           NULL, "the server is shutting down; job %s runs "
                                           "again at the next start (GET /v1/jobs/%s)", id, id);
            return 0;
        }
        if (df_server_monotonic() > deadline) {
            df_job_release(server->jobs, job);
            *answered = df_http_send_error(request, 504, "server_error", "timeout", NULL, NULL,
                                           "job %s did not finish within %d s; it goes on: GET "
                                           "/v1/jobs/%s", id, server->config->sync_timeout_s,
                                           id);
            return 0;
        }
    }
    df_job_release(server->jobs, job);
    return 1;
}

int df_routes_may_see_job(df_http_request *request, const char *id)
{
    if (!df_auth_owner_filter(request))
        return 1;
    df_server *server = request->context;
    json_t *record = NULL;
    df_error error = {0};
    if (!df_server_valid_id(id) || df_store_get(server->store, id, &record, &error) || !record)
        return 0;
    int ok = df_auth_may_see(request, json_string_value(json_object_get(record, "key_id")));
    json_decref(record);
    return ok;
}
