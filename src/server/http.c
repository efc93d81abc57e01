/*
 * http.c — libmicrohttpd daemon, body reading with a cap, routing and
 * response helpers (see http.h for the threading choice and the contract).
 *
 * MHD calls the access handler several times per request: once with the
 * headers (we allocate the per-request state), once per body chunk (we copy
 * it, up to the cap), and once more with no data (we dispatch). A body over
 * the cap is answered 413 at once when Content-Length announces it, and
 * otherwise read to its end and discarded (bounded memory either way).
 */
#include "server/http.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "runtime/error.h"

struct df_http {
    struct MHD_Daemon *daemon;
    df_http_config config;
};

/* Per-request state (MHD's *con_cls), freed in on_completed. */
typedef struct http_call {
    char *body;
    size_t size, capacity;
    int too_large;
    int answered; /* a response was queued early (413) */
} http_call;

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

static enum MHD_Result queue(df_http_request *request, unsigned status,
                             struct MHD_Response *response, const char *content_type,
                             const df_http_header_pair *headers)
{
    if (!response)
        return MHD_NO; /* out of memory: MHD closes the connection */
    if (content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (const df_http_header_pair *h = headers; h && h->name; h++)
        MHD_add_response_header(response, h->name, h->value);
    enum MHD_Result result = MHD_queue_response(request->connection, status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result df_http_send_bytes(df_http_request *request, unsigned status,
                                   const char *content_type, void *bytes, size_t size,
                                   const df_http_header_pair *headers)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(size, bytes, MHD_RESPMEM_MUST_FREE);
    if (!response)
        free(bytes);
    return queue(request, status, response, content_type, headers);
}

enum MHD_Result df_http_send_json(df_http_request *request, unsigned status, json_t *body,
                                  const df_http_header_pair *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MHD_NO;
    size_t size = strlen(text);
    /* A final newline: friendlier for curl users, harmless for parsers. */
    char *with_newline = realloc(text, size + 2);
    if (with_newline) {
        text = with_newline;
        text[size++] = '\n';
        text[size] = 0;
    }
    return df_http_send_bytes(request, status, "application/json", text, size, headers);
}

json_t *df_http_native_error(const df_http_error_info *info)
{
    json_t *error = json_pack("{s:s, s:s, s:s?}", "message", info->message, "type", info->type,
                              "code", info->code);
    if (error && info->param && *info->param)
        json_object_set_new(error, "param", json_string(info->param));
    return error ? json_pack("{s:o}", "error", error) : NULL;
}

enum MHD_Result df_http_send_error(df_http_request *request, unsigned status, const char *type,
                                   const char *code, const char *param,
                                   const df_http_header_pair *headers, const char *format, ...)
{
    char message[1200];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    df_http_error_info info = {(int)status, type, code, param, message};
    df_http_error_shape shape = request->route && request->route->error_shape
                                    ? request->route->error_shape
                                    : df_http_native_error;
    return df_http_send_json(request, status, shape(&info), headers);
}

enum MHD_Result df_http_send_stream(df_http_request *request, const char *content_type,
                                    MHD_ContentReaderCallback reader, void *user,
                                    MHD_ContentReaderFreeCallback free_fn,
                                    const df_http_header_pair *headers)
{
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, user, free_fn);
    if (!response) {
        free_fn(user);
        return MHD_NO;
    }
    return queue(request, MHD_HTTP_OK, response, content_type, headers);
}

const char *df_http_query(const df_http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *df_http_header(const df_http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

int df_http_client_gone(const df_http_request *request)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(request->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return 0;
    char byte;
    ssize_t n = recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 1; /* orderly close */
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */

/* Does `path` match `pattern`? Fills the captures. */
static int match(const char *pattern, const char *path, df_http_request *request)
{
    int capture = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t length = strcspn(path, "/");
            if (!length || length >= DF_HTTP_CAPTURE_SIZE || capture >= DF_HTTP_MAX_CAPTURES)
                return 0;
            memcpy(request->captures[capture], path, length);
            request->captures[capture++][length] = 0;
            path += length;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return !*pattern && !*path;
}

static enum MHD_Result dispatch(df_http *http, df_http_request *request)
{
    const df_http_route *path_match = NULL;
    char allow[64] = "";
    int is_head = !strcmp(request->method, "HEAD");
    for (const df_http_route *route = http->config.routes; route->method; route++) {
        if (!match(route->pattern, request->path, request))
            continue;
        if (!strcmp(route->method, request->method) ||
            (is_head && !strcmp(route->method, "GET"))) {
            request->route = route;
            return route->handler(request);
        }
        if (!path_match)
            path_match = route;
        if (!strstr(allow, route->method) && strlen(allow) + strlen(route->method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "",
                     route->method);
    }
    if (path_match) {
        request->route = path_match; /* its family's error shape */
        df_http_header_pair headers[] = {{"Allow", allow}, {NULL, NULL}};
        return df_http_send_error(request, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error",
                                  "method_not_allowed", NULL, headers,
                                  "method %s is not allowed on %s (allowed: %s)", request->method,
                                  request->path, allow);
    }
    return df_http_send_error(request, MHD_HTTP_NOT_FOUND, "not_found", "route_not_found", NULL,
                              NULL, "no route %s %s", request->method, request->path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    df_http *http = cls;
    http_call *call = *con_cls;
    df_http_request request = {connection, method, url, NULL, 0, {{0}}, NULL, http->config.context};
    if (!call) {
        if (!(call = calloc(1, sizeof *call)))
            return MHD_NO;
        *con_cls = call;
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > http->config.max_body_bytes) {
            /* Refuse before reading a byte of it; MHD closes the connection
             * after this response since the body is left unread. */
            call->answered = 1;
            return df_http_send_error(&request, 413 /* content too large */,
                                      "invalid_request_error", "body_too_large", NULL, NULL,
                                      "the request body (%s bytes) is larger than the limit of "
                                      "%zu bytes", length, http->config.max_body_bytes);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t chunk = *upload_data_size;
        *upload_data_size = 0;
        if (call->answered || call->too_large)
            return MHD_YES;
        if (call->size + chunk > http->config.max_body_bytes) {
            call->too_large = 1; /* keep reading, keep nothing */
            free(call->body);
            call->body = NULL;
            call->size = call->capacity = 0;
            return MHD_YES;
        }
        if (call->size + chunk + 1 > call->capacity) {
            size_t capacity = call->capacity ? call->capacity : 4096;
            while (capacity < call->size + chunk + 1)
                capacity *= 2;
            if (capacity > http->config.max_body_bytes + 1)
                capacity = http->config.max_body_bytes + 1;
            char *body = realloc(call->body, capacity);
            if (!body)
                return MHD_NO;
            call->body = body;
            call->capacity = capacity;
        }
        memcpy(call->body + call->size, upload_data, chunk);
        call->size += chunk;
        call->body[call->size] = 0;
        return MHD_YES;
    }
    if (call->answered)
        return MHD_YES;
    call->answered = 1;
    if (call->too_large)
        return df_http_send_error(&request, 413 /* content too large */, "invalid_request_error",
                                  "body_too_large", NULL, NULL,
                                  "the request body is larger than the limit of %zu bytes",
                                  http->config.max_body_bytes);
    request.body = call->body ? call->body : "";
    request.body_size = call->size;
    (void)version;
    return dispatch(http, &request);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    http_call *call = *con_cls;
    if (call) {
        free(call->body);
        free(call);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* The daemon                                                               */

df_status df_http_start(const df_http_config *config, df_http **out, df_error *error)
{
    *out = NULL;
    df_http *http = calloc(1, sizeof *http);
    if (!http)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    http->config = *config;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (config->address->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, http,
        MHD_OPTION_SOCK_ADDR, config->address,
        MHD_OPTION_CONNECTION_LIMIT, config->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, config->connection_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_END);
    if (!http->daemon) {
        free(http);
        return df_error_set(error, DF_ERR_IO, "cannot listen (address in use, or not "
                                              "permitted)");
    }
    *out = http;
    return DF_OK;
}

int df_http_port(const df_http *http)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void df_http_stop(df_http *http)
{
    if (!http)
        return;
    MHD_stop_daemon(http->daemon);
    free(http);
}
