/*
 * server.h — `diffuse serve`: configuration, the server object the routes
 * share, and the entry point that runs it until SIGINT/SIGTERM.
 *
 * Threads: the main thread waits for signals (and purges expired jobs now
 * and then); libmicrohttpd runs one thread per connection; one worker thread
 * runs the jobs (jobs.h); the engine's thread pool computes. SIGINT and
 * SIGTERM are blocked in every thread but read by the main one with
 * sigtimedwait, so no handler runs in the middle of anything.
 *
 * Shutdown: stop accepting, stop the worker (the running job is interrupted
 * within one step and re-queued in the store), let the connection threads
 * finish (waiters are woken and answer 503, streams end), close the store,
 * exit 0.
 */
#ifndef DF_SERVER_SERVER_H
#define DF_SERVER_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "diffuse.h"
#include "server/http.h"
#include "server/jobs.h"
#include "server/keys.h"
#include "server/loras.h"
#include "server/metrics.h"
#include "server/models.h"
#include "server/ratelimit.h"
#include "server/request.h"
#include "server/store.h"

/* `diffuse serve --model-precision NAME=PRECISION`: the precision of
 * requests on the model NAME that do not name one. */
typedef struct df_server_model_precision {
    char name[256];      /* a model name as the catalogue lists it (or without
                            ".safetensors", as a request's "model") */
    char precision[8];   /* "f32", "bf16" or "int8" */
} df_server_model_precision;

/* Parses "NAME=PRECISION" into `out`: DF_ERR_INVALID_ARGUMENT saying what is
 * wrong (no '=', an empty or too long NAME, a PRECISION other than f32,
 * bf16, int8). Whether NAME is offered is not checked: a --models-dir
 * rescan (SIGHUP) may bring it later. */
df_status df_server_model_precision_parse(const char *text, df_server_model_precision *out,
                                          df_error *error);

typedef struct df_server_config {
    const char *model_path;   /* -m; the default model (NULL: the first of models_dir) */
    const char *models_dir;   /* NULL: model_path alone */
    const char *lora_dir;     /* --lora-dir: the LoRAs offered; NULL: none */
    int max_loaded;           /* models in memory at most (>= 1) */
    const char *taesd_path;   /* NULL: no previews */
    const char *embeddings_dir; /* --embeddings-dir, or NULL */
    const char *listen;       /* "HOST:PORT", "[V6]:PORT"; port 0 picks a free one */
    const char *data_dir;
    int queue_size;
    int threads;              /* engine threads, <= 0: one per CPU */
    double retention_hours;   /* finished jobs (rows and images) kept this long */
    size_t max_body_bytes;
    unsigned max_connections;
    unsigned max_connections_per_address; /* 0: half of max_connections */
    unsigned request_line_timeout_s; /* a new connection's request line is due within this */
    const char *trust_proxy;  /* NULL: none; "CIDR[,CIDR]": proxies whose X-Forwarded-* count */
    unsigned idle_timeout_s;  /* keep-alive: a connection idle this long is closed */
    unsigned header_timeout_s; /* a request's headers must arrive within this */
    unsigned body_timeout_s;  /* and its body within this after them */
    int sync_timeout_s;       /* a synchronous route waits at most this long */
    /* Request limits (the engine's own hard limits still apply above them). */
    int max_side, max_steps, max_batch;
    size_t max_prompt_bytes;
    const char *cors_origins; /* NULL: no CORS; "*" or "https://a,https://b" */
    int no_auth;              /* --no-auth: allow a keyless non-loopback listen */
    unsigned shutdown_timeout_s; /* SIGTERM: the longest wait for the running step */
    size_t max_memory;        /* a request's working memory at most, bytes; 0: the
                                 default, df_server_default_max_memory() */
    const char *access_log;   /* NULL: stderr; "off": none; else a file (appended) */
    /* --precision: what requests that name none compute in ("bf16",
     * "int8"; NULL or "f32": f32), unless their model has its own: */
    const char *precision;
    /* --model-precision, in the order given, names distinct (borrowed;
     * NULL when count is 0). */
    const df_server_model_precision *model_precisions;
    int model_precision_count;
} df_server_config;

/* Defaults for everything but model_path / models_dir. */
void df_server_config_default(df_server_config *config);

/* --max-memory's default: three quarters of the machine's memory (or of the
 * cgroup's limit when that is lower), leaving room for the weights' pages,
 * the HTTP side and the rest of the system. */
size_t df_server_default_max_memory(void);

/* What every route handler reaches through request->context. */
typedef struct df_server {
    const df_server_config *config;
    df_runtime *runtime;
    df_models *models;        /* the offered models; the worker loads them */
    df_loras *loras;          /* --lora-dir's LoRAs; NULL without one */
    df_store *store;
    df_jobs *jobs;
    df_request_limits limits;
    size_t max_memory;        /* --max-memory in effect (the default resolved) */
    df_keys *keys;            /* API keys and usage (same database) */
    df_ratelimit *ratelimit;
    df_metrics *metrics;
    FILE *access_log;         /* NULL: none */
    pthread_mutex_t access_log_lock;
} df_server;

/* The precision a request on the offered model `name` gets when it names
 * none: the model's --model-precision, else --precision, else "f32". */
const char *df_server_default_precision(const df_server *server, const char *name);

/* Runs the server until SIGINT or SIGTERM; returns the exit status (0 after a
 * clean shutdown, 1 when it could not start). Call before any thread exists:
 * it blocks the signals for every thread it creates. */
int df_server_run(const df_server_config *config);

#endif
