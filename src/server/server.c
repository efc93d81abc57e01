/*
 * server.c — start-up, the signal loop and shutdown of `diffuse serve` (see
 * server.h for the threads and the shutdown order). Start-up order matters:
 * signals are blocked before any thread exists (the engine's pool included),
 * the store is opened before the queue (which re-queues its pending jobs),
 * and the HTTP daemon starts last, once everything it calls is ready.
 */
#include "server/server.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/error.h"
#include "server/routes.h"
#include "server/util.h"

void df_server_config_default(df_server_config *config)
{
    memset(config, 0, sizeof *config);
    config->listen = "127.0.0.1:8080";
    if (df_routes_vertex_listen()) /* a Vertex AI container: AIP_HTTP_PORT */
        config->listen = df_routes_vertex_listen();
    config->data_dir = "diffuse-data";
    config->queue_size = 64;
    config->retention_hours = 24;
    config->max_body_bytes = 8u << 20;
    config->max_connections = 64;
    config->idle_timeout_s = 60;
    config->header_timeout_s = 10;
    config->body_timeout_s = 60;
    config->sync_timeout_s = 600;
    config->max_side = 2048;
    config->max_steps = 150;
    config->max_batch = 8;
    config->max_prompt_bytes = 32000;
    config->shutdown_timeout_s = 30;
    config->max_loaded = 1;
}

/* The request model's "model" resolver (request.h): a name of the catalogue,
 * or the current default. */
static int resolve_model(void *user, const char *name, char *resolved, size_t resolved_size,
                         int *size_multiple, int *default_size, char *message,
                         size_t message_size)
{
    df_models *models = user;
    char default_name[256];
    if (!name) {
        df_models_default(models, default_name, sizeof default_name);
        name = default_name;
    }
    const df_model_entry *entry = df_models_find(models, name);
    if (!entry) {
        char names[512];
        df_models_names(models, names, sizeof names);
        snprintf(message, message_size, "unknown model '%s' (available: %s)", name, names);
        return -1;
    }
    snprintf(resolved, resolved_size, "%s", entry->name);
    *size_multiple = entry->size_multiple;
    *default_size = entry->default_size;
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT" to a socket address (numeric or resolvable). */
static df_status resolve(const char *listen, struct sockaddr_storage *out, df_error *error)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *host_start = listen, *host_end = colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "--listen %s: expected [ADDRESS]:PORT", listen);
        host_start = listen + 1;
        host_end = close;
        colon = close + 1;
    }
    if (!colon || host_end == host_start || (size_t)(host_end - host_start) >= sizeof host ||
        !colon[1])
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "--listen %s: expected HOST:PORT",
                            listen);
    memcpy(host, host_start, (size_t)(host_end - host_start));
    host[host_end - host_start] = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "--listen %s: bad port", listen);
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc || !found)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "--listen %s: %s", listen,
                            gai_strerror(rc));
    memset(out, 0, sizeof *out);
    memcpy(out, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return DF_OK;
}

/* Every family's routes in one table (malloc'ed, ends with a NULL method). */
static df_http_route *all_routes(void)
{
    const df_http_route *tables[] = {df_routes_vertex_aip(), /* first: may be "/predict" */
                                     df_routes_health, df_routes_jobs, df_routes_predict,
                                     df_routes_a1111,
                                     df_routes_openai,
                                     df_routes_vertex,
                                     df_routes_openapi,
                                     df_routes_web};
    size_t count = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const df_http_route *r = tables[t]; r->method; r++)
            count++;
    df_http_route *routes = calloc(count + 1, sizeof *routes);
    if (!routes)
        return NULL;
    count = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const df_http_route *r = tables[t]; r->method; r++)
            routes[count++] = *r;
    return routes;
}

static void purge(df_server *server)
{
    df_error error = {0};
    int deleted = 0;
    double cutoff = df_server_now() - server->config->retention_hours * 3600.0;
    if (df_store_purge(server->store, cutoff, &deleted, &error))
        fprintf(stderr, "diffuse serve: purge: %s\n", error.message);
    else if (deleted)
        fprintf(stderr, "diffuse serve: %d expired job(s) deleted\n", deleted);
}

int df_server_run(const df_server_config *config)
{
    /* Blocked here, inherited by every thread created from now on. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */

    df_server server = {.config = config};
    df_error error = {0};
    df_http *http = NULL;
    df_http_route *routes = all_routes();
    struct sockaddr_storage address;
    int exit_code = 1;
    if (!routes) {
        fprintf(stderr, "diffuse serve: out of memory\n");
        goto done;
    }
    if (resolve(config->listen, &address, &error) ||
        df_store_open(config->data_dir, &server.store, &error) ||
        df_runtime_create(config->threads, &server.runtime, &error)) {
        fprintf(stderr, "diffuse serve: %s\n", error.message);
        goto done;
    }
    df_models_config models_config = {server.runtime, config->models_dir, config->model_path,
                                      config->taesd_path, config->max_loaded};
    if (df_models_create(&models_config, &server.models, &error)) {
        fprintf(stderr, "diffuse serve: %s\n", error.message);
        goto done;
    }
    const df_model_entry *first = df_models_entry(server.models, 0);
    df_request_limits_default(&server.limits, first->size_multiple, first->default_size);
    server.limits.max_side = config->max_side;
    server.limits.max_steps = config->max_steps;
    server.limits.max_batch = config->max_batch;
    server.limits.max_prompt_bytes = config->max_prompt_bytes;
    server.limits.previews = config->taesd_path != NULL;
    server.limits.resolve_model = resolve_model;
    server.limits.resolve_user = server.models;
    df_jobs_config jobs_config = {server.models, server.store, server.limits, config->queue_size};
    if (df_jobs_create(&jobs_config, &server.jobs, &error)) {
        fprintf(stderr, "diffuse serve: %s\n", error.message);
        goto done;
    }
    df_http_config http_config = {.address = (const struct sockaddr *)&address,
                                  .max_body_bytes = config->max_body_bytes,
                                  .connection_limit = config->max_connections,
                                  .idle_timeout_s = config->idle_timeout_s,
                                  .header_timeout_s = config->header_timeout_s,
                                  .body_timeout_s = config->body_timeout_s,
                                  .cors_origins = config->cors_origins,
                                  .routes = routes,
                                  .context = &server};
    if (df_http_start(&http_config, &http, &error)) {
        fprintf(stderr, "diffuse serve: %s: %s\n", config->listen, error.message);
        goto done;
    }
    char host[256] = "?";
    getnameinfo((const struct sockaddr *)&address, sizeof address, host, sizeof host, NULL, 0,
                NI_NUMERICHOST);
    int v6 = address.ss_family == AF_INET6;
    char default_model[256];
    df_models_default(server.models, default_model, sizeof default_model);
    printf("diffuse serve: listening on http://%s%s%s:%d (model %s of %d, data %s)\n",
           v6 ? "[" : "", host, v6 ? "]" : "", df_http_port(http), default_model,
           df_models_count(server.models), config->data_dir);
    fflush(stdout);

    /* The main thread: signals, and the retention purge now and then (a
     * quarter of the retention time, between 1 s and a minute). */
    double interval = config->retention_hours * 3600.0 / 4;
    interval = interval < 1 ? 1 : interval > 60 ? 60 : interval;
    double next_purge = 0;
    for (;;) {
        if (df_server_monotonic() >= next_purge) {
            purge(&server);
            next_purge = df_server_monotonic() + interval;
        }
        struct timespec wait = {0, 500000000L};
        int sig = sigtimedwait(&signals, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "diffuse serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    exit_code = 0;
done:
    /* The worker first: it interrupts the running job and re-queues it, and
     * wakes every waiter so the connection threads can end; then HTTP. */
    df_jobs_stop(server.jobs);
    df_http_stop(http);
    df_jobs_free(server.jobs);
    df_models_free(server.models);
    df_runtime_free(server.runtime);
    df_store_close(server.store);
    free(routes);
    if (!exit_code)
        fprintf(stderr, "diffuse serve: stopped\n");
    return exit_code;
}
