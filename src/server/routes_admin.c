/*
 * routes_admin.c — operating the server:
 *   GET /metrics    Prometheus text (metrics.h); an admin key once keys exist
 *   GET /v1/usage   the caller's usage (keys.h); an admin sees every key, or
 *                   one with ?key=ID; ?days=N limits the per-day rows (30)
 */
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"
#include "server/util.h"

static enum MHD_Result metrics(df_http_request *request)
{
    df_server *server = request->context;
    char running[DF_SERVER_ID_SIZE];
    df_metrics_gauges gauges = {df_jobs_queue_length(server->jobs), server->config->queue_size,
                                df_jobs_running_id(server->jobs, running),
                                df_models_loaded_count(server->models)};
    char *text = df_metrics_render(server->metrics, &gauges);
    if (!text)
        return df_http_send_error(request, 500, "server_error", "out_of_memory", NULL, NULL,
                                  "out of memory");
    return df_http_send_bytes(request, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                              strlen(text), NULL);
}

static enum MHD_Result usage(df_http_request *request)
{
    df_server *server = request->context;
    const df_http_caller *caller = request->caller;
    const char *key = df_http_query(request, "key");
    const char *days_text = df_http_query(request, "days");
    long days = DF_KEYS_USAGE_DEFAULT_DAYS;
    if (days_text) {
        char *end = NULL;
        days = strtol(days_text, &end, 10);
        if (!*days_text || *end || days < 1 || days > DF_KEYS_USAGE_MAX_DAYS)
            return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                      "days", NULL, "days: expected an integer in [1, %d]",
                                      DF_KEYS_USAGE_MAX_DAYS);
    }
    if (key && (!*key || strlen(key) >= DF_KEY_ID_SIZE + 16))
        return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                  "key", NULL, "key: expected a key id");
    /* A key reads its own usage; ?key= and the whole table are for admins
     * (and for everyone while the server has no keys). */
    const char *which = key;
    if (caller->key_id[0] && !caller->admin) {
        if (key && strcmp(key, caller->key_id))
            return df_http_send_error(request, 403, "permission_error", "admin_required", "key",
                                      NULL, "key: only an admin key may read another key's "
                                      "usage");
        which = caller->key_id;
    }
    json_t *json = NULL;
    df_error error = {0};
    df_status status = df_keys_usage(server->keys, which, (int)days, &json, &error);
    if (status == DF_ERR_INVALID_ARGUMENT)
        return df_http_send_error(request, 404, "not_found", "key_not_found", "key", NULL, "%s",
                                  error.message);
    if (status)
        return df_http_send_error(request, 500, "server_error", "store_failed", NULL, NULL, "%s",
                                  error.message);
    return df_http_send_json(request, 200, json, NULL);
}

const df_http_route df_routes_admin[] = {
    {"GET", "/metrics", metrics, NULL, DF_HTTP_ACCESS_ADMIN},
    {"GET", "/v1/usage", usage, NULL},
    {NULL},
};
