/*
 * http.h — the HTTP layer of `diffuse serve` on libmicrohttpd: the daemon,
 * request bodies read with a size cap, a route table with {}-segment
 * patterns, and helpers to answer with JSON, bytes, errors or a stream.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
 * A synchronous route waits for its own job, and an events stream waits for
 * the next event, inside the connection's thread; with a thread pool such a
 * wait would stall every other connection served by that pool thread. The
 * cost, a thread per connection, is bounded by the connection limit; a
 * connection gets its thread only once its first request's head has arrived
 * (http_gate.c holds it until then, without a thread).
 *
 * Errors: every 4xx/5xx goes through df_http_send_error, which renders the
 * route family's error shape (the native one, {"error": {"message", "type",
 * "code"}}, unless the route names another), so unknown routes, wrong
 * methods and oversized bodies answer JSON too; so do the gate's answers to
 * malformed or oversized request heads (400, 413, 414, 431, 505) and to
 * refused connections (503), in the shape of the family the path names.
 */
#ifndef DF_SERVER_HTTP_H
#define DF_SERVER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diffuse.h"

#define DF_HTTP_MAX_CAPTURES 4
#define DF_HTTP_CAPTURE_SIZE 128

typedef struct df_http df_http;
typedef struct df_http_route df_http_route;

/* What the server's guard (df_http_config.guard) learned about the caller:
 * the API key it presented. Handlers read it for ownership and usage; the
 * access log names it. All empty while the server runs without keys. */
typedef struct df_http_caller {
    char key_id[32];
    char key_name[128];
    int admin;                /* an admin key, or no keys at all */
    double rate_per_minute;   /* the key's limits (0: unlimited) */
    long daily_images;
} df_http_caller;

typedef struct df_http_request {
    struct MHD_Connection *connection;
    const char *method;
    const char *path;                 /* without the query */
    const char *body;                 /* NUL-terminated, owned by the HTTP layer */
    size_t body_size;
    char captures[DF_HTTP_MAX_CAPTURES][DF_HTTP_CAPTURE_SIZE]; /* the {} segments */
    const df_http_route *route;
    void *context;                    /* df_http_config.context */
    const char *request_id;           /* x-request-id (the client's, or generated) */
    df_http_caller *caller;           /* filled by the guard */
    struct http_call *call;           /* the HTTP layer's per-request state */
} df_http_request;

/* Answers the request (queues a response) and returns MHD's result. */
typedef enum MHD_Result (*df_http_handler)(df_http_request *request);

typedef struct df_http_error_info {
    int status;
    const char *type;    /* "invalid_request_error", "not_found", "server_error", ... */
    const char *code;    /* machine-readable, may be NULL */
    const char *param;   /* the field at fault, may be NULL */
    const char *message;
} df_http_error_info;

/* Renders an error in a family's shape (new reference). */
typedef json_t *(*df_http_error_shape)(const df_http_error_info *info);

/* Who may call a route once the server has API keys (server.c checks this
 * before the handler runs; with no keys every route is open). */
typedef enum df_http_access {
    DF_HTTP_ACCESS_KEY = 0, /* any active key (the default: a route is closed) */
    DF_HTTP_ACCESS_PUBLIC,  /* no key: /healthz, the web page (which asks for one) */
    DF_HTTP_ACCESS_SIGNED,  /* no key: the URL carries a signature the handler checks */
    DF_HTTP_ACCESS_ADMIN    /* an admin key */
} df_http_access;

struct df_http_route {
    const char *method;  /* "GET" (HEAD too) or "POST" */
    const char *pattern; /* "/v1/jobs/{}/images/{}": {} matches one non-empty segment */
    df_http_handler handler;
    df_http_error_shape error_shape; /* NULL: the native shape */
    df_http_access access;
};

/* Runs after routing and before the handler: 1 lets the request through;
 * 0 means it answered (401, 403, 429), *answered holding MHD's result. */
typedef int (*df_http_guard)(df_http_request *request, enum MHD_Result *answered);

/* One finished request, for the access log and the metrics. */
typedef struct df_http_log_entry {
    const char *request_id;
    const char *method, *path;  /* path without the query, truncated */
    const char *route;          /* the matched pattern, NULL when none matched */
    unsigned status;            /* 0: no response was sent (client gone, timeout) */
    long long bytes;            /* response body size, -1 when streamed */
    double seconds;             /* from the request line to the end of the response */
    const char *remote;         /* the client's address */
    const char *user_agent;     /* may be "" */
    const df_http_caller *caller;
    const char *outcome;        /* "ok", "client_closed", "timeout", "error" */
} df_http_log_entry;
typedef void (*df_http_observer)(void *context, const df_http_log_entry *entry);

struct df_http_cidr;

/* A refused connection, for the metrics: reason "per_address" (the client's
 * address has per_address_limit connections) or "capacity" (the server
 * holds as many as it can). */
typedef void (*df_http_refusal_observer)(void *context, const char *reason);

typedef struct df_http_config {
    const struct sockaddr *address; /* where to listen */
    int listen_fd;                  /* from df_http_listen(address); df_http_start owns it */
    size_t max_body_bytes;          /* larger bodies: 413 */
    unsigned connection_limit;      /* requests being served or kept alive at once */
    /* Connections per client address (an IPv6 client: per /64), waiting
     * for their request or open; 0: no limit. Not applied to `trusted`. */
    unsigned per_address_limit;
    /* Reverse proxies whose X-Forwarded-* headers are believed
     * (df_http_from_trusted_proxy); none when trusted_count is 0. */
    const struct df_http_cidr *trusted;
    size_t trusted_count;
    /* A new connection's request line is due within this (it is at most
     * header_timeout_s). */
    unsigned request_line_timeout_s;
    /* Slow clients: a connection must send a request's headers within
     * header_timeout_s (of connecting, or of its request line on keep-alive),
     * the body within body_timeout_s of the headers, and its next request
     * line within idle_timeout_s of the last response; a watchdog closes it
     * otherwise, however slowly it trickles bytes. */
    unsigned idle_timeout_s, header_timeout_s, body_timeout_s;
    /* CORS: NULL or "" answers no browser preflight; "*" or a comma-separated
     * list of origins gets Access-Control-Allow-Origin for those. */
    const char *cors_origins;
    const df_http_route *routes;    /* ends with a NULL method */
    df_http_guard guard;            /* may be NULL */
    df_http_observer observer;      /* may be NULL; called once per request */
    df_http_refusal_observer refusal_observer; /* may be NULL */
    void *context;
} df_http_config;

/* Binds and listens (non-blocking): an address in use is an error naming
 * it, and no SO_REUSEPORT, so two servers never share a port. Called early
 * (before a model loads) so that a taken port fails the start at once;
 * connections that arrive meanwhile wait in the backlog. */
df_status df_http_listen(const struct sockaddr *address, int *fd, df_error *error);
/* Starts MHD behind the gate (http_gate.c) on config->listen_fd (owned from
 * here on, closed by df_http_stop or on failure). */
df_status df_http_start(const df_http_config *config, df_http **out, df_error *error);
/* The port actually bound (for --listen HOST:0). */
int df_http_port(const df_http *http);
/* Stops accepting new connections (the listening socket closes); requests
 * in progress go on. The first step of a graceful shutdown. */
void df_http_quiesce(df_http *http);
/* Stops accepting, closes the listening socket, waits for the connection
 * threads (which must end on their own: the jobs wake their waiters). */
void df_http_stop(df_http *http);

/* Adds a header to whatever response this request gets (rate-limit headers
 * set by the guard, for instance); copied. At most 16 per request. */
void df_http_add_header(df_http_request *request, const char *name, const char *value);
/* The same, replacing a header of that name (case-insensitive) added
 * before: a value the guard set that the handler knows better. */
void df_http_set_header(df_http_request *request, const char *name, const char *value);

/* The native error shape {"error": {"message", "type", "code"}}. */
json_t *df_http_native_error(const df_http_error_info *info);

/* A query argument, or NULL. A header (case-insensitive), or NULL. */
const char *df_http_query(const df_http_request *request, const char *name);
const char *df_http_header(const df_http_request *request, const char *name);

/* Response headers: name/value pairs, the array ending with a NULL name. */
typedef struct df_http_header_pair {
    const char *name, *value;
} df_http_header_pair;

/* Sends `body` (consumed: decref'ed) as application/json. */
enum MHD_Result df_http_send_json(df_http_request *request, unsigned status, json_t *body,
                                  const df_http_header_pair *headers);
/* Sends bytes; takes ownership of `bytes` (malloc'ed; freed by MHD). */
enum MHD_Result df_http_send_bytes(df_http_request *request, unsigned status,
                                   const char *content_type, void *bytes, size_t size,
                                   const df_http_header_pair *headers);
/* Sends an error in the route's shape; the message is printf-formatted. */
enum MHD_Result df_http_send_error(df_http_request *request, unsigned status, const char *type,
                                   const char *code, const char *param, const df_http_header_pair
                                   *headers, const char *format, ...)
    __attribute__((format(printf, 7, 8)));

/* Streams a body of unknown length (chunked): `reader` is MHD's content
 * reader (it may block, with a timeout, in this connection's thread);
 * `free_fn` frees `user` when the stream ends or the client goes. */
enum MHD_Result df_http_send_stream(df_http_request *request, const char *content_type,
                                    MHD_ContentReaderCallback reader, void *user,
                                    MHD_ContentReaderFreeCallback free_fn,
                                    const df_http_header_pair *headers);

/* 1 when the request came from one of the configured trusted proxies (so
 * its X-Forwarded-* headers may be believed). */
int df_http_from_trusted_proxy(const df_http_request *request);

/* 1 when the client has closed its connection (orderly or not). Cheap: one
 * non-blocking peek on the socket. */
int df_http_client_gone(const df_http_request *request);

#endif
