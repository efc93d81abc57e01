/*
 * routes_health.c — liveness and readiness. /healthz answers 200 while the
 * process serves HTTP at all; /readyz answers 200 only while the model is
 * loaded and the worker takes jobs (503 while shutting down), which is what
 * a load balancer or Vertex AI's health route should look at.
 */
#include "server/routes.h"

static enum MHD_Result healthz(df_http_request *request)
{
    return df_http_send_json(request, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static enum MHD_Result readyz(df_http_request *request)
{
    df_server *server = request->context;
    int ready = server->models && df_jobs_ready(server->jobs);
    if (!ready)
        return df_http_send_error(request, 503, "server_error", "not_ready", NULL, NULL,
                                  "not ready (the model is loading or the server is stopping)");
    char model[256];
    df_models_default(server->models, model, sizeof model);
    return df_http_send_json(request, 200,
                             json_pack("{s:s, s:s, s:i, s:i}", "status", "ready", "model",
                                       model, "queue_length",
                                       df_jobs_queue_length(server->jobs), "queue_size",
                                       server->config->queue_size),
                             NULL);
}

const df_http_route df_routes_health[] = {
    {"GET", "/healthz", healthz, NULL, DF_HTTP_ACCESS_PUBLIC},
    {"GET", "/readyz", readyz, NULL},
    {NULL, NULL, NULL, NULL},
};
