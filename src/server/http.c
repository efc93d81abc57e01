/*
 * http.c — libmicrohttpd daemon, body reading with a cap, routing, the
 * per-request id, CORS, the slow-client watchdog, the access-log hook and
 * response helpers (see http.h for the threading choice and the contract).
 *
 * Connections: the server binds its own listening socket and MHD never
 * listens; the gate (http_gate.c) accepts, waits for a complete, well-formed
 * request head and hands the connection to MHD. Accounting (connections in
 * MHD, connections per address) is shared with the gate under `lock`: the
 * gate counts a connection when it accepts it, on_connection uncounts it
 * when MHD closes it. MHD's own messages go through the server's logger,
 * rate-limited.
 *
 * Per request: the request-line callback (MHD's URI log callback) creates
 * the http_call (id, start time); every response this request sends goes
 * through queue(), which adds x-request-id, CORS and the guard's headers and
 * notes the status; on_completed reports the request to the observer once.
 *
 * Watchdog: every connection is in a list (MHD's connection notifications)
 * with a deadline for its current phase; a thread shuts down the socket of
 * any connection past it, which makes MHD's connection thread see EOF and
 * close it. The list lock is held across shutdown(), and MHD reports a
 * connection closed before it closes the descriptor, so a reused descriptor
 * is never shut down by mistake.
 *
 * MHD calls the access handler several times per request: once with the
 * headers (we allocate the per-request state), once per body chunk (we copy
 * it, up to the cap), and once more with no data (we dispatch). A body over
 * the cap is answered 413 at once when Content-Length announces it, and
 * otherwise read to its end and discarded (bounded memory either way).
 */
#include "server/http.h"
#include "server/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/error.h"
#include "server/log.h"
#include "server/util.h"

#define MAX_EXTRA_HEADERS 16
#define NO_DEADLINE 1e300
#define LOG_INTERVAL_S 10.0 /* repeated events: one line per interval */

/* One open connection (MHD's socket context), in df_http's list. */
typedef struct http_connection {
    int fd;
    int listed;       /* in df_http's list (not when MHD gave no descriptor) */
    double deadline;  /* monotonic; NO_DEADLINE while a handler runs */
    const char *phase; /* what it is late for, for the log */
    struct http_connection *previous, *next;
} http_connection;

/* Per-request state (MHD's *con_cls), from the request line to on_completed. */
typedef struct http_call {
    df_http *http;
    http_connection *connection;
    char *body;
    size_t size, capacity;
    int too_large;
    int answered;      /* a response was queued (413 early, or the handler's) */
    int headers_seen;  /* the access handler ran once */
    char request_id[129];
    char method[16];
    char path[512];
    const char *route; /* matched pattern */
    unsigned status;
    long long bytes;
    double started;
    df_http_caller caller;
    char origin[256];  /* an allowed Origin, to echo; "" otherwise */
    int extra_count;
    char *extra[MAX_EXTRA_HEADERS][2];
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
    /* One request per connection: the next request then comes on a new
     * connection and passes the gate's checks, so no request ever reaches
     * MHD's own parser errors (HTML pages) -- see http_gate.c. */
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    http_call *call = request->call;
    if (call) {
        MHD_add_response_header(response, "x-request-id", call->request_id);
        for (int i = 0; i < call->extra_count; i++)
            MHD_add_response_header(response, call->extra[i][0], call->extra[i][1]);
        if (call->origin[0]) {
            MHD_add_response_header(response, "Access-Control-Allow-Origin", call->origin);
            MHD_add_response_header(response, "Access-Control-Expose-Headers",
                                    "x-request-id, Retry-After, Location, "
                                    "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
                                    "x-ratelimit-reset-requests, x-ratelimit-limit-images, "
                                    "x-ratelimit-remaining-images, x-ratelimit-reset-images");
        }
        if (call->http->config.cors_origins && *call->http->config.cors_origins &&
            strcmp(call->http->config.cors_origins, "*"))
            MHD_add_response_header(response, "Vary", "Origin");
        call->status = status;
    }
    enum MHD_Result result = MHD_queue_response(request->connection, status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result df_http_send_bytes(df_http_request *request, unsigned status,
                                   const char *content_type, void *bytes, size_t size,
                                   const df_http_header_pair *headers)
{
    if (request->call)
        request->call->bytes = (long long)size;
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
    df_server_utf8_repair(message); /* it may quote a path or field name sent as raw bytes */
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
    if (request->call)
        request->call->bytes = -1;
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

void df_http_add_header(df_http_request *request, const char *name, const char *value)
{
    http_call *call = request->call;
    if (!call || call->extra_count == MAX_EXTRA_HEADERS)
        return;
    char *copy_name = strdup(name), *copy_value = strdup(value);
    if (!copy_name || !copy_value) {
        free(copy_name);
        free(copy_value);
        return;
    }
    call->extra[call->extra_count][0] = copy_name;
    call->extra[call->extra_count++][1] = copy_value;
}

void df_http_set_header(df_http_request *request, const char *name, const char *value)
{
    http_call *call = request->call;
    for (int i = 0; call && i < call->extra_count; i++)
        if (!strcasecmp(call->extra[i][0], name)) {
            char *copy = strdup(value);
            if (copy) {
                free(call->extra[i][1]);
                call->extra[i][1] = copy;
            }
            return;
        }
    df_http_add_header(request, name, value);
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

char *df_http_error_text(df_http *http, const char *path, const df_http_error_info *info,
                         size_t *size)
{
    df_http_error_shape shape = df_http_native_error;
    df_http_request scratch = {0};
    for (const df_http_route *route = http->config.routes; path && route->method; route++)
        if (match(route->pattern, path, &scratch)) {
            if (route->error_shape)
                shape = route->error_shape;
            break;
        }
    json_t *body = shape(info);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *size = text ? strlen(text) : 0;
    return text;
}

int df_http_from_trusted_proxy(const df_http_request *request)
{
    if (!request->call || !request->call->http->config.trusted_count)
        return 0;
    const df_http_config *config = &request->call->http->config;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(request->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info && df_http_cidrs_match(config->trusted, config->trusted_count, info->client_addr);
}

/* ------------------------------------------------------------------------ */
/* CORS                                                                     */

/* Is `origin` one of the configured ones? ("*" allows any.) */
static int origin_allowed(const char *allowed, const char *origin)
{
    if (!allowed || !*allowed || !origin || !*origin)
        return 0;
    if (!strcmp(allowed, "*"))
        return 1;
    size_t length = strlen(origin);
    for (const char *p = allowed; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t item = strcspn(p, ",");
        while (item && p[item - 1] == ' ')
            item--;
        if (item == length && !strncmp(p, origin, length))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

/* A browser's preflight (OPTIONS with Access-Control-Request-Method) from an
 * allowed origin: 204 with what may follow. Others fall through to routing
 * (and get 405: no route takes OPTIONS). */
static int preflight(df_http *http, df_http_request *request, enum MHD_Result *answered)
{
    if (strcmp(request->method, "OPTIONS") || !request->call->origin[0] ||
        !df_http_header(request, "Access-Control-Request-Method"))
        return 0;
    struct MHD_Response *response = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    df_http_header_pair headers[] = {
        {"Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS"},
        {"Access-Control-Allow-Headers",
         "Authorization, Content-Type, X-Request-Id, Last-Event-ID"},
        {"Access-Control-Max-Age", "600"},
        {NULL, NULL}};
    (void)http;
    *answered = queue(request, 204, response, NULL, headers);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

static enum MHD_Result dispatch(df_http *http, df_http_request *request)
{
    enum MHD_Result answered;
    if (preflight(http, request, &answered))
        return answered;
    const df_http_route *path_match = NULL;
    char allow[64] = "";
    int is_head = !strcmp(request->method, "HEAD");
    for (const df_http_route *route = http->config.routes; route->method; route++) {
        if (!match(route->pattern, request->path, request))
            continue;
        if (!strcmp(route->method, request->method) ||
            (is_head && !strcmp(route->method, "GET"))) {
            request->route = route;
            request->call->route = route->pattern;
            if (http->config.guard && !http->config.guard(request, &answered))
                return answered;
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
        request->call->route = path_match->pattern;
        df_http_header_pair headers[] = {{"Allow", allow}, {NULL, NULL}};
        return df_http_send_error(request, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error",
                                  "method_not_allowed", NULL, headers,
                                  "method %s is not allowed on %s (allowed: %s)", request->method,
                                  request->path, allow);
    }
    return df_http_send_error(request, MHD_HTTP_NOT_FOUND, "not_found", "route_not_found", NULL,
                              NULL, "no route %s %s", request->method, request->path);
}

/* ------------------------------------------------------------------------ */
/* Per-request state and the watchdog's deadlines                           */

static void set_deadline(df_http *http, http_connection *connection, double deadline,
                         const char *phase, int only_earlier)
{
    if (!connection)
        return;
    pthread_mutex_lock(&http->lock);
    if (!only_earlier || deadline < connection->deadline) {
        connection->deadline = deadline;
        connection->phase = phase;
    }
    pthread_mutex_unlock(&http->lock);
}

/* A client's id is kept when it is short and plain (it goes into logs and
 * headers); anything else is replaced by a fresh one. */
static int plain_request_id(const char *id)
{
    size_t length = id ? strlen(id) : 0;
    if (!length || length > 128)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("-_.:@+=/", c)))
            return 0;
    }
    return 1;
}

/* MHD's URI log callback: the request line has arrived. Its return value is
 * the request's *con_cls. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *connection)
{
    df_http *http = cls;
    http_call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL; /* on_request refuses the request */
    call->http = http;
    call->started = df_server_monotonic();
    call->bytes = 0;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    call->connection = info ? info->socket_context : NULL;
    /* The headers are due within header_timeout_s (but never later than the
     * deadline a new connection already has). */
    set_deadline(http, call->connection, call->started + http->config.header_timeout_s,
                 "headers", 1);
    (void)uri;
    return call;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    df_http *http = cls;
    http_call *call = *con_cls;
    if (!call)
        return MHD_NO; /* out of memory at the request line */
    df_http_request request = {.connection = connection, .method = method, .path = url,
                               .context = http->config.context, .request_id = call->request_id,
                               .caller = &call->caller, .call = call};
    if (!call->headers_seen) {
        call->headers_seen = 1;
        snprintf(call->method, sizeof call->method, "%s", method);
        snprintf(call->path, sizeof call->path, "%s", url);
        const char *id = df_http_header(&request, "x-request-id");
        if (plain_request_id(id)) {
            snprintf(call->request_id, sizeof call->request_id, "%s", id);
        } else {
            char fresh[DF_SERVER_ID_SIZE];
            df_server_random_id(fresh);
            snprintf(call->request_id, sizeof call->request_id, "%s", fresh);
        }
        const char *origin = df_http_header(&request, "Origin");
        if (origin_allowed(http->config.cors_origins, origin))
            snprintf(call->origin, sizeof call->origin, "%s",
                     strcmp(http->config.cors_origins, "*") ? origin : "*");
        set_deadline(http, call->connection, df_server_monotonic() + http->config.body_timeout_s,
                     "body", 0);
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > http->config.max_body_bytes) {
            /* Refuse before reading a byte of it; MHD closes the connection
             * after this response since the body is left unread. */
            call->answered = 1;
            set_deadline(http, call->connection, NO_DEADLINE, "response", 0);
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
    /* The handler may wait (a synchronous route, an events stream): no
     * deadline but MHD's idle timeout from here on. */
    set_deadline(http, call->connection, NO_DEADLINE, "response", 0);
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
    df_http *http = cls;
    http_call *call = *con_cls;
    if (!call)
        return;
    *con_cls = NULL;
    if (call->headers_seen && http->config.observer) {
        char remote[INET6_ADDRSTRLEN] = "";
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info && info->client_addr) {
            const struct sockaddr *address = info->client_addr;
            if (address->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, remote,
                          sizeof remote);
            else if (address->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, remote,
                          sizeof remote);
        }
        const char *agent =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
        const char *outcome = code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok"
                              : code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                              : code == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
                                      code == MHD_REQUEST_TERMINATED_READ_ERROR
                                  ? "client_closed"
                                  : "error";
        df_http_log_entry entry = {call->request_id, call->method, call->path, call->route,
                                   call->status, call->bytes,
                                   df_server_monotonic() - call->started, remote,
                                   agent ? agent : "", &call->caller, outcome};
        http->config.observer(http->config.context, &entry);
    }
    /* Every response closes its connection (queue()); this deadline only
     * bounds a client that stops reading the end of one. */
    set_deadline(http, call->connection, df_server_monotonic() + http->config.idle_timeout_s,
                 "idle", 0);
    for (int i = 0; i < call->extra_count; i++) {
        free(call->extra[i][0]);
        free(call->extra[i][1]);
    }
    free(call->body);
    free(call);
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    df_http *http = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* The gate counted it (active, its address) when it handed it over. */
        unsigned char key[DF_HTTP_KEY_SIZE];
        const union MHD_ConnectionInfo *address =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        df_http_address_key(address ? address->client_addr : NULL, key);
        pthread_mutex_lock(&http->lock);
        if (http->active)
            http->active--;
        df_http_counts_add(http->per_address, key, -1);
        pthread_mutex_unlock(&http->lock);
        df_http_gate_wake(http); /* a connection waiting for a slot may go now */
    }
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        http_connection *entry = calloc(1, sizeof *entry);
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = entry;
        if (!entry || !info)
            return; /* no watchdog for it: MHD's idle timeout still applies */
        entry->fd = info->connect_fd;
        /* A new connection owes its first request's headers right away. */
        entry->deadline = df_server_monotonic() + http->config.header_timeout_s;
        entry->phase = "headers";
        entry->listed = 1;
        pthread_mutex_lock(&http->lock);
        entry->next = http->connections;
        if (entry->next)
            entry->next->previous = entry;
        http->connections = entry;
        pthread_mutex_unlock(&http->lock);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_connection *entry = *socket_context;
        if (!entry)
            return;
        pthread_mutex_lock(&http->lock);
        if (entry->listed) {
            if (entry->previous)
                entry->previous->next = entry->next;
            else
                http->connections = entry->next;
            if (entry->next)
                entry->next->previous = entry->previous;
        }
        pthread_mutex_unlock(&http->lock);
        free(entry);
        *socket_context = NULL;
    }
}

void df_http_evict_idle(df_http *http)
{
    http_connection *oldest = NULL;
    for (http_connection *c = http->connections; c; c = c->next) {
        if (!strcmp(c->phase, "evicted"))
            return; /* one is on its way out already */
        if (!strcmp(c->phase, "idle") && (!oldest || c->deadline < oldest->deadline))
            oldest = c;
    }
    if (oldest) {
        oldest->deadline = 0; /* the watchdog's next round (250 ms at most) */
        oldest->phase = "evicted";
        pthread_cond_broadcast(&http->wake);
    }
}

/* Closes connections past their deadline (see the file comment). */
static void *watchdog_main(void *arg)
{
    df_http *http = arg;
    pthread_mutex_lock(&http->lock);
    while (!http->stopping) {
        double now = df_server_monotonic();
        for (http_connection *c = http->connections; c; c = c->next) {
            if (c->deadline < now) {
                shutdown(c->fd, SHUT_RDWR);
                c->deadline = NO_DEADLINE; /* once */
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&http->wake, &http->lock, &until);
    }
    pthread_mutex_unlock(&http->lock);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Log lines for events that repeat                                         */

int df_http_log_allowed(df_http *http, df_http_log_limit *limit, unsigned budget,
                        unsigned long *suppressed)
{
    pthread_mutex_lock(&http->lock);
    double now = df_server_monotonic();
    if (now >= limit->window_end) {
        limit->window_end = now + LOG_INTERVAL_S;
        limit->used = 0;
    }
    int allowed = limit->used < budget;
    if (allowed) {
        limit->used++;
        *suppressed = limit->suppressed;
        limit->suppressed = 0;
    } else {
        limit->suppressed++;
    }
    pthread_mutex_unlock(&http->lock);
    return allowed;
}

void df_http_refused(df_http *http, int reason, const char *address, unsigned limit)
{
    int per_address = reason == DF_HTTP_REFUSED_PER_ADDRESS;
    if (http->config.refusal_observer)
        http->config.refusal_observer(http->config.context,
                                      per_address ? "per_address" : "capacity");
    unsigned long suppressed = 0;
    if (!df_http_log_allowed(http, &http->refused_log[per_address ? 0 : 1], 1, &suppressed))
        return;
    char more[96] = "";
    if (suppressed)
        snprintf(more, sizeof more, " (%lu more refused since the last such line)", suppressed);
    if (per_address)
        df_log_warning("connection from %s refused: it has %u connections open or waiting, the "
                       "per-address limit (--max-connections-per-address)%s", address, limit, more);
    else
        df_log_warning("connection from %s refused: %u connections are waiting for their "
                       "request, the most the server holds%s", address, limit, more);
}

/* MHD's messages (MHD_OPTION_EXTERNAL_LOGGER): the server's log format, and
 * a few lines per interval at most, whatever a client provokes. */
static void library_log(void *cls, const char *format, va_list args)
{
    df_http *http = cls;
    unsigned long suppressed = 0;
    if (!df_http_log_allowed(http, &http->library_log, 5, &suppressed))
        return;
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    message[strcspn(message, "\r\n")] = 0;
    if (suppressed)
        df_log_warning("libmicrohttpd: %s (%lu more library messages left out before this one)",
                       message, suppressed);
    else
        df_log_warning("libmicrohttpd: %s", message);
}

/* ------------------------------------------------------------------------ */
/* The daemon                                                               */

/* Our own socket rather than MHD's so that an address in use is an error
 * with its cause, and never shared (MHD's LISTENING_ADDRESS_REUSE set
 * SO_REUSEPORT, and the kernel then split the connections between two
 * servers). */
df_status df_http_listen(const struct sockaddr *address, int *out, df_error *error)
{
    *out = -1;
    int family = address->sa_family;
    char host[64], where[96];
    df_http_address_text(address, host, sizeof host);
    int port = ntohs(family == AF_INET6 ? ((const struct sockaddr_in6 *)address)->sin6_port
                                        : ((const struct sockaddr_in *)address)->sin_port);
    snprintf(where, sizeof where, family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return df_error_set(error, DF_ERR_IO, "cannot listen on %s: %s", where, strerror(errno));
    int one = 1;
    /* SO_REUSEADDR: a restart may bind while the last run's connections are
     * in TIME_WAIT; on Linux it never lets two sockets listen on one port. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    socklen_t size = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, address, size) || listen(fd, SOMAXCONN)) {
        int code = errno;
        close(fd);
        return df_error_set(error, DF_ERR_IO, "cannot listen on %s: %s", where,
                            code == EADDRINUSE ? "the address is already in use (another server "
                                                 "on this port?)"
                                               : strerror(code));
    }
    *out = fd;
    return DF_OK;
}

df_status df_http_start(const df_http_config *config, df_http **out, df_error *error)
{
    *out = NULL;
    df_http *http = calloc(1, sizeof *http);
    if (!http) {
        close(config->listen_fd);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    http->config = *config;
    http->gate_wake[0] = http->gate_wake[1] = -1;
    pthread_mutex_init(&http->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&http->wake, &attr);
    pthread_condattr_destroy(&attr);
    http->listen_fd = config->listen_fd; /* ours now, whatever happens */
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof bound;
    if (!getsockname(http->listen_fd, (struct sockaddr *)&bound, &bound_size))
        http->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port);
    if (!(http->per_address = df_http_counts_create())) {
        df_http_stop(http);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    df_status status;
    /* MHD never listens: the gate accepts and hands connections over. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;
    if (config->address->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    int rc = pthread_create(&http->watchdog, NULL, watchdog_main, http);
    http->watchdog_started = !rc;
    if (!rc)
        http->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, http,
            MHD_OPTION_EXTERNAL_LOGGER, library_log, http, /* first, or MHD says so */
            /* The gate enforces the limit; MHD's own is a backstop. */
            MHD_OPTION_CONNECTION_LIMIT, config->connection_limit + 16,
            MHD_OPTION_CONNECTION_TIMEOUT, config->idle_timeout_s,
            /* Room for any head the gate lets through, plus MHD's own use. */
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(4 * DF_HTTP_MAX_HEAD_BYTES),
            MHD_OPTION_URI_LOG_CALLBACK, on_request_line, http,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, http,
            MHD_OPTION_END);
    if (!http->daemon) {
        df_http_stop(http);
        return df_error_set(error, DF_ERR_IO, "cannot start the HTTP daemon");
    }
    if ((status = df_http_gate_start(http, error))) {
        df_http_stop(http);
        return status;
    }
    *out = http;
    return DF_OK;
}

int df_http_port(const df_http *http)
{
    return http->port;
}

void df_http_quiesce(df_http *http)
{
    if (!http)
        return;
    pthread_mutex_lock(&http->lock);
    http->quiescing = 1;
    pthread_mutex_unlock(&http->lock);
    df_http_gate_wake(http);
}

void df_http_stop(df_http *http)
{
    if (!http)
        return;
    /* The gate first: it must not hand a connection to a stopped daemon. */
    pthread_mutex_lock(&http->lock);
    http->gate_stopping = 1;
    pthread_mutex_unlock(&http->lock);
    df_http_gate_stop(http);
    if (http->daemon)
        MHD_stop_daemon(http->daemon);
    if (http->watchdog_started) {
        pthread_mutex_lock(&http->lock);
        http->stopping = 1;
        pthread_cond_broadcast(&http->wake);
        pthread_mutex_unlock(&http->lock);
        pthread_join(http->watchdog, NULL);
    }
    if (http->listen_fd >= 0)
        close(http->listen_fd);
    df_http_counts_free(http->per_address);
    pthread_cond_destroy(&http->wake);
    pthread_mutex_destroy(&http->lock);
    free(http);
}
