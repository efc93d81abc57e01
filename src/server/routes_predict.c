/*
 * routes_predict.c — POST /predict, the simple synchronous endpoint that
 * Flask-style clients call: {"prompt": ...} plus any generation parameter
 * of the one request model in, the image's bytes out (image/jpeg; Accept:
 * image/png or image/webp picks another). It is a job like any other (stored,
 * queued, persisted): the route submits it and waits for it in this
 * connection's thread, checking every 250 ms whether the client is still
 * there; a client that hangs up cancels its job. The wait is bounded by
 * --sync-timeout (then 504 with the job's URL: the job goes on). The job id
 * is returned in X-Job-Id.
 */
#include <stdio.h>
#include <string.h>

#include "server/routes.h"
#include "server/util.h"

/* The format the Accept header asks for first among ours (JPEG by default). */
static df_image_format accepted_format(const char *accept, const char **content_type)
{
    static const struct {
        const char *type;
        df_image_format format;
    } types[] = {{"image/jpeg", DF_IMAGE_JPEG}, {"image/png", DF_IMAGE_PNG},
                 {"image/webp", DF_IMAGE_WEBP}};
    const char *best = NULL;
    int chosen = 0;
    for (int i = 0; accept && i < 3; i++) {
        const char *at = strstr(accept, types[i].type);
        if (at && (!best || at < best)) {
            best = at;
            chosen = i;
        }
    }
    *content_type = types[chosen].type;
    return types[chosen].format;
}

static enum MHD_Result predict(df_http_request *request)
{
    df_server *server = request->context;
    enum MHD_Result answered = MHD_NO;
    df_request_params params;
    if (!df_routes_parse_body(request, &params, &answered))
        return answered;
    if (params.batch != 1) {
        df_request_params_free(&params);
        return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                  "batch", NULL, "batch: /predict returns one image; use "
                                  "POST /v1/jobs for more");
    }
    const char *content_type = NULL;
    df_image_format format = accepted_format(df_http_header(request, "Accept"), &content_type);
    df_job *job = df_routes_submit(request, &params, &answered);
    df_request_params_free(&params);
    if (!job)
        return answered;
    char id[DF_SERVER_ID_SIZE];
    snprintf(id, sizeof id, "%s", df_job_id(job));

    df_job_state state;
    if (!df_routes_wait(request, job, &state, &answered))
        return answered;

    json_t *record = NULL;
    df_error error = {0};
    if (df_store_get(server->store, id, &record, &error) || !record)
        return df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL,
                                  "job %s: %s", id, error.status ? error.message : "gone");
    if (state != DF_JOB_COMPLETED) {
        json_t *job_error = json_object_get(record, "error");
        const char *type = json_string_value(json_object_get(job_error, "type"));
        const char *message = json_string_value(json_object_get(job_error, "message"));
        int client_error = type && !strcmp(type, "invalid_request_error");
        enum MHD_Result result =
            state == DF_JOB_CANCELLED
                ? df_http_send_error(request, 409, "invalid_request_error", "job_cancelled", NULL,
                                     NULL, "job %s was cancelled", id)
                : df_http_send_error(request, client_error ? 400 : 500,
                                     client_error ? "invalid_request_error" : "server_error",
                                     client_error ? "invalid_parameter" : "generation_failed",
                                     client_error ? df_routes_failed_param(message) : NULL,
                                     NULL, "%s", message ? message : "generation failed");
        json_decref(record);
        return result;
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    const char *type = NULL;
    df_status status = df_routes_job_image(server, record, 0, format, &bytes, &size, &type,
                                           &error);
    json_decref(record);
    if (status)
        return df_http_send_error(request, 500, "server_error", "encode_failed", NULL, NULL,
                                  "job %s: %s", id, error.message);
    df_http_header_pair headers[] = {{"X-Job-Id", id}, {NULL, NULL}};
    return df_http_send_bytes(request, 200, content_type, bytes, size, headers);
}

const df_http_route df_routes_predict[] = {
    {"POST", "/predict", predict, NULL},
    {NULL, NULL, NULL, NULL},
};
