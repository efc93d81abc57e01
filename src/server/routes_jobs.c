/*
 * routes_jobs.c — the native jobs API:
 *   POST /v1/jobs                  202, the job, Location: /v1/jobs/{id}
 *   GET  /v1/jobs?limit=&before=   recent jobs, newest first, paginated
 *   GET  /v1/jobs/{id}             state, queue position, progress, timings, images
 *   GET  /v1/jobs/{id}/events      server-sent events until the job ends
 *   POST /v1/jobs/{id}/cancel      200 cancelled / 202 stopping within a step
 *   GET  /v1/jobs/{id}/images/{n}  PNG, or ?format=jpeg|webp
 *
 * Events stream: the reader blocks in this connection's thread for the next
 * event of the job (at most 10 s, then a ": keep-alive" comment, so proxies
 * and MHD's idle timeout see traffic); it ends after the final event or when
 * the server stops. A job no longer in the queue (finished) gets its final
 * event alone, from the store. Last-Event-ID resumes after that event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/routes.h"
#include "server/util.h"

#define EVENT_WAIT_MS 10000

static enum MHD_Result not_found(df_http_request *request, const char *id)
{
    return df_http_send_error(request, 404, "not_found", "job_not_found", "id", NULL,
                              "no job %s (unknown, or expired)", id);
}


static enum MHD_Result create_job(df_http_request *request)
{
    df_server *server = request->context;
    enum MHD_Result answered = MHD_NO;
    df_request_params params;
    if (!df_routes_parse_body(request, &params, &answered))
        return answered;
    df_job *job = df_routes_submit(request, &params, &answered);
    df_request_params_free(&params); /* empty when the job took it */
    if (!job)
        return answered;
    char id[DF_SERVER_ID_SIZE], location[DF_SERVER_ID_SIZE + 16];
    snprintf(id, sizeof id, "%s", df_job_id(job));
    df_job_release(server->jobs, job);
    snprintf(location, sizeof location, "/v1/jobs/%s", id);
    json_t *json = df_routes_job_json(server, id);
    df_http_header_pair headers[] = {{"Location", location}, {NULL, NULL}};
    if (!json)
        return df_http_send_error(request, 500, "server_error", "internal", NULL, NULL,
                                  "job %s was accepted but cannot be read back", id);
    return df_http_send_json(request, 202, json, headers);
}

static enum MHD_Result get_job(df_http_request *request)
{
    const char *id = request->captures[0];
    json_t *json = df_server_valid_id(id) && df_routes_may_see_job(request, id)
                       ? df_routes_job_json(request->context, id)
                       : NULL;
    return json ? df_http_send_json(request, 200, json, NULL) : not_found(request, id);
}

static enum MHD_Result list_jobs(df_http_request *request)
{
    df_server *server = request->context;
    const char *limit_text = df_http_query(request, "limit");
    const char *before = df_http_query(request, "before");
    long limit = 20;
    if (limit_text) {
        char *end = NULL;
        limit = strtol(limit_text, &end, 10);
        if (!*limit_text || *end || limit < 1 || limit > 100)
            return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                      "limit", NULL, "limit: expected an integer in [1, 100]");
    }
    if (before && !df_server_valid_id(before))
        return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                  "before", NULL, "before: expected a job id");
    json_t *records = NULL;
    int has_more = 0;
    df_error error = {0};
    if (df_store_list(server->store, df_auth_owner_filter(request), before, (int)limit, &records,
                      &has_more, &error))
        return df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL, "%s",
                                  error.message);
    json_t *data = json_array();
    size_t i;
    json_t *record;
    const char *last = NULL;
    json_array_foreach(records, i, record) {
        last = json_string_value(json_object_get(record, "id"));
        json_t *job = last ? df_routes_job_json(server, last) : NULL;
        if (job)
            json_array_append_new(data, job);
    }
    char next[256];
    if (has_more && last)
        snprintf(next, sizeof next, "/v1/jobs?limit=%ld&before=%s", limit, last);
    json_t *body = json_pack("{s:s, s:o, s:b, s:s?}", "object", "list", "data", data, "has_more",
                             has_more, "next", has_more && last ? next : NULL);
    json_decref(records);
    return df_http_send_json(request, 200, body, NULL);
}

static enum MHD_Result cancel_job(df_http_request *request)
{
    df_server *server = request->context;
    const char *id = request->captures[0];
    if (!df_server_valid_id(id) || !df_routes_may_see_job(request, id))
        return not_found(request, id);
    df_jobs_cancel_result result = df_jobs_cancel(server->jobs, id);
    json_t *json = df_routes_job_json(server, id);
    if (!json)
        return not_found(request, id);
    if (result == DF_JOBS_NOT_ACTIVE) {
        const char *state = json_string_value(json_object_get(json, "state"));
        char message[256];
        snprintf(message, sizeof message, "job %s is already %s", id, state ? state : "finished");
        json_decref(json);
        return df_http_send_error(request, 409, "invalid_request_error", "job_finished", "id",
                                  NULL, "%s", message);
    }
    /* A running job now stops within a kernel chunk, so by the time it is
     * rendered it may already read "cancelled": the 202 still says what was
     * asked for, so a client never finds the field missing. */
    if (result != DF_JOBS_CANCELLED)
        json_object_set_new(json, "cancel_requested", json_true());
    return df_http_send_json(request, result == DF_JOBS_CANCELLED ? 200 : 202, json, NULL);
}

static enum MHD_Result get_image(df_http_request *request)
{
    df_server *server = request->context;
    const char *id = request->captures[0], *index_text = request->captures[1];
    const char *format_name = df_http_query(request, "format");
    df_image_format format = DF_IMAGE_PNG;
    if (format_name && !strcmp(format_name, "jpeg"))
        format = DF_IMAGE_JPEG;
    else if (format_name && !strcmp(format_name, "webp"))
        format = DF_IMAGE_WEBP;
    else if (format_name && strcmp(format_name, "png"))
        return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                  "format", NULL, "format: expected png, jpeg or webp");
    char *end = NULL;
    long index = strtol(index_text, &end, 10);
    json_t *record = NULL;
    df_error error = {0};
    if (!df_server_valid_id(id) || !df_routes_may_see_job(request, id) ||
        df_store_get(server->store, id, &record, &error) || !record)
        return not_found(request, id);
    if (*end || index < 0 || index > 1000) {
        json_decref(record);
        return df_http_send_error(request, 404, "not_found", "image_not_found", NULL, NULL,
                                  "no image %s in job %s", index_text, id);
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    if (!state || strcmp(state, "completed")) {
        json_decref(record);
        return df_http_send_error(request, 409, "invalid_request_error", "job_not_completed",
                                  NULL, NULL, "job %s is %s: no images", id,
                                  state ? state : "unknown");
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    const char *type = NULL;
    df_status status = df_routes_job_image(server, record, (int)index, format, &bytes, &size,
                                           &type, &error);
    json_decref(record);
    if (status == DF_ERR_INVALID_ARGUMENT || status == DF_ERR_IO)
        return df_http_send_error(request, 404, "not_found", "image_not_found", NULL, NULL,
                                  "job %s: %s", id, error.message);
    if (status)
        return df_http_send_error(request, 500, "server_error", "encode_failed", NULL, NULL,
                                  "%s", error.message);
    return df_http_send_bytes(request, 200, type, bytes, size, NULL);
}

/* ------------------------------------------------------------------------ */
/* Server-sent events                                                       */

typedef struct event_stream {
    df_server *server;
    df_job *job;     /* our reference; NULL: `pending` is all there is */
    uint64_t after;  /* last event sent */
    char *pending;   /* the event being sent */
    size_t size, sent;
    int done;        /* after `pending`, the stream ends */
} event_stream;

static void stream_free(void *user)
{
    event_stream *stream = user;
    if (stream->job)
        df_job_release(stream->server->jobs, stream->job);
    free(stream->pending);
    free(stream);
}

static ssize_t stream_read(void *user, uint64_t position, char *buffer, size_t max)
{
    event_stream *stream = user;
    while (stream->sent == stream->size) {
        free(stream->pending);
        stream->pending = NULL;
        stream->size = stream->sent = 0;
        if (stream->done || !stream->job)
            return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t seq = 0;
        int terminal = 0;
        int got = df_jobs_next_event(stream->server->jobs, stream->job, stream->after,
                                     EVENT_WAIT_MS, &stream->pending, &seq, &terminal);
        if (got < 0)
            return MHD_CONTENT_READER_END_OF_STREAM; /* stopping */
        if (got > 0) {
            stream->after = seq;
            stream->done = terminal;
        } else if (!(stream->pending = strdup(": keep-alive\n\n"))) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        stream->size = strlen(stream->pending);
    }
    size_t n = stream->size - stream->sent < max ? stream->size - stream->sent : max;
    memcpy(buffer, stream->pending + stream->sent, n);
    stream->sent += n;
    (void)position;
    return (ssize_t)n;
}

/* The final event of a job that has left the queue, from its store record. */
static char *final_event(const json_t *job)
{
    const char *state = json_string_value(json_object_get(job, "state"));
    json_t *data = json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(job, "id"),
                             "state", json_object_get(job, "state"), "finished_at",
                             json_object_get(job, "finished_at"), "images",
                             json_object_get(job, "images"), "error",
                             json_object_get(job, "error"));
    char *json = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!json || !state)
        return free(json), NULL;
    size_t size = strlen(json) + strlen(state) + 32;
    char *text = malloc(size);
    if (text)
        snprintf(text, size, "event: %s\ndata: %s\n\n", state, json);
    free(json);
    return text;
}

static enum MHD_Result job_events(df_http_request *request)
{
    df_server *server = request->context;
    const char *id = request->captures[0];
    if (!df_server_valid_id(id) || !df_routes_may_see_job(request, id))
        return not_found(request, id);
    event_stream *stream = calloc(1, sizeof *stream);
    if (!stream)
        return MHD_NO;
    stream->server = server;
    const char *last_id = df_http_header(request, "Last-Event-ID");
    if (last_id)
        stream->after = strtoull(last_id, NULL, 10);
    stream->job = df_jobs_find(server->jobs, id);
    if (!stream->job) {
        json_t *job = df_routes_job_json(server, id);
        const char *state = json_string_value(json_object_get(job, "state"));
        if (!job || !state) {
            json_decref(job);
            free(stream);
            return not_found(request, id);
        }
        if (strcmp(state, "completed") && strcmp(state, "failed") && strcmp(state, "cancelled")) {
            json_decref(job);
            free(stream);
            return df_http_send_error(request, 503, "server_error", "shutting_down", NULL, NULL,
                                      "job %s is %s but not in the queue (shutting down?)", id,
                                      state);
        }
        stream->pending = final_event(job);
        json_decref(job);
        if (!stream->pending) {
            free(stream);
            return MHD_NO;
        }
        stream->size = strlen(stream->pending);
        stream->done = 1;
    }
    df_http_header_pair headers[] = {
        {"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}, {NULL, NULL}};
    return df_http_send_stream(request, "text/event-stream", stream_read, stream, stream_free,
                               headers);
}

const df_http_route df_routes_jobs[] = {
    {"POST", "/v1/jobs", create_job, NULL},
    {"GET", "/v1/jobs", list_jobs, NULL},
    {"GET", "/v1/jobs/{}", get_job, NULL},
    {"GET", "/v1/jobs/{}/events", job_events, NULL},
    {"POST", "/v1/jobs/{}/cancel", cancel_job, NULL},
    {"GET", "/v1/jobs/{}/images/{}", get_image, NULL},
    {NULL, NULL, NULL, NULL},
};
