/*
 * routes_health.c — liveness and readiness, both open without a key (load
 * balancer and Kubernetes probes send none), so they say nothing a key
 * holder alone should know. /healthz answers 200 while the process serves
 * HTTP at all; /readyz answers 200 only while a new job would be taken:
 * the model catalogue is up, the worker takes jobs (not stopping), the queue
 * has room and the job store is usable. That is what a load balancer or
 * Vertex AI's health route should look at: a 503 sends traffic elsewhere
 * instead of into 429s and 500s.
 */
#include <stdio.h>

#include "server/keys.h"
#include "server/log.h"
#include "server/routes.h"

static enum MHD_Result healthz(df_http_request *request)
{
    return df_http_send_json(request, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static enum MHD_Result readyz(df_http_request *request)
{
    df_server *server = request->context;
    if (!server->models || !df_jobs_ready(server->jobs))
        return df_http_send_error(request, 503, "server_error", "not_ready", NULL, NULL,
                                  "not ready (the model is loading or the server is stopping)");
    int length = df_jobs_queue_length(server->jobs);
    if (length >= server->config->queue_size) {
        df_http_header_pair headers[] = {{"Retry-After", DF_ROUTES_RETRY_AFTER}, {NULL, NULL}};
        return df_http_send_error(request, 503, "server_error", "queue_full", NULL, headers,
                                  "not ready: the queue is full (%d jobs)", length);
    }
    df_error error = {0};
    if (df_store_ping(server->store, &error)) {
        /* The detail (paths) is for the operator's log, not an open route. */
        df_log_warning("readyz: %s", error.message);
        return df_http_send_error(request, 503, "server_error", "store_unavailable", NULL, NULL,
                                  "not ready: the job store is unavailable (see the server's "
                                  "log)");
    }
    json_t *body = json_pack("{s:s, s:i, s:i}", "status", "ready", "queue_length", length,
                             "queue_size", server->config->queue_size);
    /* The model's name only while every route is open anyway: with keys,
     * what the server runs is for key holders (GET /v1/models). */
    if (body && df_keys_active_count(server->keys) == 0) {
        char model[256];
        df_models_default(server->models, model, sizeof model);
        json_object_set_new(body, "model", json_string(model));
    }
    return df_http_send_json(request, 200, body, NULL);
}

const df_http_route df_routes_health[] = {
    {"GET", "/healthz", healthz, NULL, DF_HTTP_ACCESS_PUBLIC},
    {"GET", "/readyz", readyz, NULL, DF_HTTP_ACCESS_PUBLIC},
    {NULL, NULL, NULL, NULL},
};
