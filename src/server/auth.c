/*
 * auth.c — the guard and the image budget (see auth.h). Keys are verified
 * against the keys module's in-memory snapshot and the buckets live in
 * memory, so the guard never waits on the database.
 */
#include "server/auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/keys.h"
#include "server/ratelimit.h"
#include "server/request.h"
#include "server/server.h"
#include "server/util.h"

/* The key presented by the client into `out`: the Bearer token, or the
 * password of HTTP Basic (A1111's --api-auth user:password). 0 when none. */
static int presented_key(const df_http_request *request, char *out, size_t size)
{
    const char *header = df_http_header(request, "Authorization");
    if (!header)
        return 0;
    while (*header == ' ')
        header++;
    if (!strncasecmp(header, "Bearer ", 7)) {
        header += 7;
        while (*header == ' ')
            header++;
        size_t length = strcspn(header, " \t");
        if (!length || length >= size)
            return 0;
        memcpy(out, header, length);
        out[length] = 0;
        return 1;
    }
    if (!strncasecmp(header, "Basic ", 6)) {
        unsigned char *decoded = NULL;
        size_t decoded_size = 0;
        header += 6;
        if (df_request_base64_decode(header, strlen(header), &decoded, &decoded_size))
            return 0;
        const unsigned char *colon = memchr(decoded, ':', decoded_size);
        size_t length = colon ? decoded_size - (size_t)(colon + 1 - decoded) : 0;
        int ok = colon && length && length < size && !memchr(colon + 1, 0, length);
        if (ok) {
            memcpy(out, colon + 1, length);
            out[length] = 0;
        }
        free(decoded);
        return ok;
    }
    return 0;
}

/* OpenAI's header names, with images as the second resource. Set, not
 * added: the image budget's handler call updates what the guard set, so
 * the answer shows the budget after this request. */
static void set_bucket_headers(df_http_request *request, const char *kind,
                               const df_ratelimit_state *state)
{
    if (!state->limit)
        return;
    char name[64], value[64];
    snprintf(name, sizeof name, "x-ratelimit-limit-%s", kind);
    snprintf(value, sizeof value, "%ld", state->limit);
    df_http_set_header(request, name, value);
    snprintf(name, sizeof name, "x-ratelimit-remaining-%s", kind);
    snprintf(value, sizeof value, "%ld", state->remaining);
    df_http_set_header(request, name, value);
    snprintf(name, sizeof name, "x-ratelimit-reset-%s", kind);
    df_ratelimit_format_duration(state->reset_seconds, value, sizeof value);
    df_http_set_header(request, name, value);
}

/* Both limits answer OpenAI's 429 for a rate limit (type rate_limit_error,
 * code rate_limit_exceeded; the queue's is the same type with queue_full);
 * the message says which budget ran out. */
static enum MHD_Result too_many(df_http_request *request, const char *kind, double retry,
                                const df_ratelimit_state *state, const char *per)
{
    df_server *server = request->context;
    df_metrics_rate_limited(server->metrics, kind);
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%.0f", ceil(retry < 1 ? 1 : retry));
    df_http_header_pair headers[] = {{"Retry-After", seconds}, {NULL, NULL}};
    return df_http_send_error(request, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                              headers, "rate limit reached for key '%s': %ld %s per %s; retry "
                              "in %s s", request->caller->key_name, state->limit, kind, per,
                              seconds);
}

int df_auth_open(df_server *server)
{
    /* An active key always wins over --no-auth: the operator made it for
     * this server. Without one, a directory that has had keys stays shut
     * unless --no-auth says otherwise for this run. */
    if (df_keys_active_count(server->keys) > 0)
        return 0;
    return !df_keys_keyed(server->keys) || server->config->no_auth;
}

int df_auth_guard(df_http_request *request, enum MHD_Result *answered)
{
    df_server *server = request->context;
    df_http_caller *caller = request->caller;
    df_http_access access = request->route->access;
    if (df_auth_open(server)) {
        caller->admin = 1; /* an open server: nothing to protect between callers */
        if (access != DF_HTTP_ACCESS_PUBLIC)
            df_keys_count_request(server->keys, DF_KEY_ANONYMOUS);
        return 1;
    }
    if (access == DF_HTTP_ACCESS_PUBLIC || access == DF_HTTP_ACCESS_SIGNED)
        return 1;

    char presented[DF_KEY_SECRET_SIZE];
    df_key key;
    int has_key = presented_key(request, presented, sizeof presented);
    if (!has_key || !df_keys_verify(server->keys, presented, &key)) {
        df_metrics_auth_failure(server->metrics);
        int basic = !strncmp(request->route->pattern, "/sdapi/", 7);
        df_http_header_pair headers[] = {
            {"WWW-Authenticate", basic ? "Basic realm=\"diffuse\"" : "Bearer realm=\"diffuse\""},
            {NULL, NULL}};
        int none_active = df_keys_active_count(server->keys) == 0;
        *answered = df_http_send_error(
            request, 401, "invalid_request_error", has_key ? "invalid_api_key" : "missing_api_key",
            NULL, headers, "%s%s",
            has_key ? "the API key is not valid (unknown or revoked)"
                    : "an API key is required: send 'Authorization: Bearer KEY' (create one "
                      "with `diffuse keys create`)",
            none_active ? "; this server has no active key: every key was revoked" : "");
        return 0;
    }
    snprintf(caller->key_id, sizeof caller->key_id, "%s", key.id);
    snprintf(caller->key_name, sizeof caller->key_name, "%s", key.name);
    caller->admin = key.admin;
    caller->rate_per_minute = key.rate_per_minute;
    caller->daily_images = key.daily_images;
    if (access == DF_HTTP_ACCESS_ADMIN && !key.admin) {
        *answered = df_http_send_error(request, 403, "permission_error", "admin_required", NULL,
                                       NULL, "%s %s needs an admin key (`diffuse keys create "
                                       "--admin`)", request->method, request->path);
        return 0;
    }
    df_keys_count_request(server->keys, key.id);
    df_ratelimit_verdict verdict;
    df_ratelimit_take_request(server->ratelimit, key.id, key.rate_per_minute, key.daily_images,
                              df_server_monotonic(), &verdict);
    set_bucket_headers(request, "requests", &verdict.requests);
    set_bucket_headers(request, "images", &verdict.images);
    if (!verdict.allowed) {
        *answered = too_many(request, "requests", verdict.retry_after_seconds, &verdict.requests,
                             "minute");
        return 0;
    }
    return 1;
}

int df_auth_take_images(df_http_request *request, int images, enum MHD_Result *answered)
{
    df_server *server = request->context;
    const df_http_caller *caller = request->caller;
    if (!caller->key_id[0] || caller->daily_images <= 0)
        return 1;
    df_ratelimit_verdict verdict;
    double now = df_server_monotonic();
    df_ratelimit_take_images(server->ratelimit, caller->key_id, caller->rate_per_minute,
                             caller->daily_images, images, now, &verdict);
    if (!verdict.allowed) {
        /* Refused for its images: the request token the guard took comes
         * back (a client told to wait for images must not also lose a
         * request). The state read after the refund is what the answer
         * reports. */
        df_ratelimit_verdict after;
        df_ratelimit_refund_request(server->ratelimit, caller->key_id, caller->rate_per_minute,
                                    caller->daily_images, now);
        df_ratelimit_take_images(server->ratelimit, caller->key_id, caller->rate_per_minute,
                                 caller->daily_images, 0, now, &after);
        verdict.requests = after.requests;
        verdict.images = after.images;
    }
    set_bucket_headers(request, "requests", &verdict.requests);
    set_bucket_headers(request, "images", &verdict.images);
    if (verdict.allowed)
        return 1;
    if (verdict.retry_after_seconds < 0) {
        *answered = df_http_send_error(request, 400, "invalid_request_error", "over_daily_limit",
                                       "n", NULL, "%d images are more than this key's daily "
                                       "limit of %ld", images, caller->daily_images);
        return 0;
    }
    *answered = too_many(request, "images", verdict.retry_after_seconds, &verdict.images, "day");
    return 0;
}

void df_auth_refund_images(df_http_request *request, int images)
{
    df_server *server = request->context;
    const df_http_caller *caller = request->caller;
    if (!caller->key_id[0] || caller->daily_images <= 0)
        return;
    double now = df_server_monotonic();
    df_ratelimit_refund_images(server->ratelimit, caller->key_id, caller->daily_images, images,
                               now);
    df_ratelimit_verdict verdict;
    df_ratelimit_take_images(server->ratelimit, caller->key_id, caller->rate_per_minute,
                             caller->daily_images, 0, now, &verdict);
    set_bucket_headers(request, "images", &verdict.images);
}

const char *df_auth_owner_filter(const df_http_request *request)
{
    return request->caller->admin || !request->caller->key_id[0] ? NULL
                                                                   : request->caller->key_id;
}

int df_auth_may_see(const df_http_request *request, const char *owner)
{
    const char *filter = df_auth_owner_filter(request);
    return !filter || (owner && !strcmp(owner, filter));
}
