/*
 * server.c — start-up, the signal loop and shutdown of `diffuse serve` (see
 * server.h for the threads and the shutdown order). Start-up order matters:
 * signals are blocked before any thread exists (the engine's pool included),
 * the store is opened before the queue (which re-queues its pending jobs),
 * and the HTTP daemon starts last, once everything it calls is ready.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/error.h"
#include "runtime/precision.h"
#include "server/auth.h"
#include "server/datadir.h"
#include "server/limits.h"
#include "server/http_addr.h"
#include "server/routes.h"
#include "server/util.h"
#include "server/log.h"

void df_server_config_default(df_server_config *config)
{
    memset(config, 0, sizeof *config);
    config->listen = "127.0.0.1:8080";
    if (df_routes_vertex_listen()) /* a Vertex AI container: AIP_HTTP_PORT */
        config->listen = df_routes_vertex_listen();
    config->data_dir = "diffuse-data";
    config->retention_hours = 24;
    df_limits_set_defaults(config); /* the numeric limits: one table, limits.c */
    config->shutdown_timeout_s = 30;
    config->max_loaded = 1;
}

size_t df_server_default_max_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double total = pages > 0 && page > 0 ? (double)pages * (double)page : 8.0 * (1 << 30);
    /* cgroup v2: "max" or a byte count. */
    FILE *file = fopen("/sys/fs/cgroup/memory.max", "r");
    if (file) {
        double limit = 0;
        if (fscanf(file, "%lf", &limit) == 1 && limit > 0 && limit < total)
            total = limit;
        fclose(file);
    }
    return (size_t)(total * 0.75);
}

static void format_bytes(double bytes, char *out, size_t size)
{
    if (bytes >= (double)(1 << 30))
        snprintf(out, size, "%.1f GiB", bytes / (double)(1 << 30));
    else
        snprintf(out, size, "%.0f MiB", bytes / (double)(1 << 20));
}

/* The working memory of `request` on the model `model` and, with a
 * refiner, on the refiner too: each model's arenas live as long as it does,
 * so both are held at the end of the run (a sum, a little over the peak:
 * the base never decodes). Non-zero when an estimate fails (the engine
 * refuses the request: the job then fails saying why). */
static int estimate(df_server *server, const char *model, const df_request_params *params,
                    const df_generate_request *request, size_t *out)
{
    df_error error = {0};
    size_t bytes = 0, refiner_bytes = 0;
    if (df_models_estimate(server->models, model, request, &bytes, &error))
        return -1;
    if (params->refiner) {
        /* The refiner's stage: from the base's latents (no init image),
         * with its one encoder taking the first prompt (the engine drops
         * prompt_2 for it, as diffusers' zip over its encoders does). */
        df_generate_request stage = *request;
        stage.init_pixels = NULL;
        stage.prompt_2 = stage.negative_prompt_2 = NULL;
        stage.refiner = NULL;
        if (df_models_estimate(server->models, params->refiner, &stage, &refiner_bytes,
                               &error))
            return -1;
    }
    *out = bytes > SIZE_MAX - refiner_bytes ? SIZE_MAX : bytes + refiner_bytes;
    return 0;
}

/* The request model's last check (request.h): a request whose working
 * memory is over --max-memory is refused when it arrives, naming the
 * fields that decide it, rather than accepted and failed (or killed by
 * the kernel) when it runs. Stored jobs are checked again at start-up. */
static int check_memory(void *user, const df_request_params *params, char *param,
                        size_t param_size, char *message, size_t message_size)
{
    df_server *server = user;
    const size_t limit = server->max_memory;
    char model[256];
    if (params->model)
        snprintf(model, sizeof model, "%s", params->model);
    else
        df_models_default(server->models, model, sizeof model);
    df_generate_request request;
    df_request_to_generate(params, &request);
    size_t bytes = 0;
    /* A request the engine refuses is left to fail as it always has (its
     * message then says why); only an estimate can refuse here. */
    if (estimate(server, model, params, &request, &bytes) || bytes <= limit)
        return 0;
    int fits = 0;
    for (int batch = params->batch - 1; batch >= 1 && !fits; batch--) {
        size_t smaller = 0;
        request.batch = batch;
        if (!estimate(server, model, params, &request, &smaller) && smaller <= limit)
            fits = batch;
    }
    char need[32], have[32], advice[96];
    format_bytes((double)bytes, need, sizeof need);
    format_bytes((double)limit, have, sizeof have);
    if (fits)
        snprintf(advice, sizeof advice, "a batch of %d fits at this size", fits);
    else
        snprintf(advice, sizeof advice, "use a smaller width and height");
    snprintf(param, param_size, "%s", fits ? "batch" : "width");
    snprintf(message, message_size,
             "%s: %d image(s) of %dx%d (width, height, batch) need about %s of working "
             "memory%s, more than this server's --max-memory (%s); %s",
             param, params->batch, params->width, params->height, need,
             params->refiner ? " (base and refiner together)" : "", have, advice);
    return -1;
}

df_status df_server_model_precision_parse(const char *text, df_server_model_precision *out,
                                          df_error *error)
{
    memset(out, 0, sizeof *out);
    const char *equals = strchr(text, '=');
    if (!equals)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "expected NAME=PRECISION (a model name, then f32, bf16 or int8)");
    size_t length = (size_t)(equals - text);
    if (!length)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "NAME is empty (expected NAME=PRECISION)");
    if (length >= sizeof out->name)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "NAME is longer than %zu bytes",
                            sizeof out->name - 1);
    /* A path would never match: models are named by file or folder name. */
    if (memchr(text, '/', length))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "NAME is a model's name as GET /v1/models lists it (its file or "
                            "folder name), not a path");
    df_precision precision;
    if (!equals[1] || !df_precision_parse(equals + 1, &precision))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "PRECISION '%s' is not one of " DF_PRECISION_NAMES, equals + 1);
    memcpy(out->name, text, length);
    snprintf(out->precision, sizeof out->precision, "%s", df_precision_name(precision));
    return DF_OK;
}

/* The --model-precision of the offered model `name` (a catalogue name), or
 * NULL. A setting names a model as a request's "model" does (".safetensors"
 * may be left off), so it is matched through the catalogue; a setting of
 * the exact name wins over one that only finds it so. */
static const char *model_precision(const df_server *server, const char *name)
{
    const df_server_config *config = server->config;
    for (int i = 0; i < config->model_precision_count; i++)
        if (!strcmp(config->model_precisions[i].name, name))
            return config->model_precisions[i].precision;
    for (int i = 0; i < config->model_precision_count; i++) {
        const df_model_entry *entry =
            df_models_find(server->models, config->model_precisions[i].name);
        if (entry && !strcmp(entry->name, name))
            return config->model_precisions[i].precision;
    }
    return NULL;
}

const char *df_server_default_precision(const df_server *server, const char *name)
{
    const char *precision = model_precision(server, name);
    if (!precision)
        precision = server->config->precision;
    return precision && *precision ? precision : "f32";
}

/* --model-precision settings that no offered model answers to are
 * accepted (a --models-dir rescan may bring the model), but may be typos:
 * each is said on stderr, at start-up and after each rescan. */
static void warn_unoffered_precisions(const df_server *server)
{
    const df_server_config *config = server->config;
    for (int i = 0; i < config->model_precision_count; i++) {
        const df_server_model_precision *setting = &config->model_precisions[i];
        if (df_models_find(server->models, setting->name))
            continue;
        char names[1024];
        df_models_names(server->models, names, sizeof names);
        df_log_warning("--model-precision %s=%s: no model '%s' is offered (offered: %s); %s",
                       setting->name, setting->precision, setting->name, names,
                       config->models_dir
                           ? "it applies once a rescan of --models-dir (SIGHUP) finds one"
                           : "without --models-dir it never applies");
    }
}

/* The request model's "model" resolver (request.h): a name of the catalogue,
 * or the current default, with the model's --model-precision. */
static int resolve_model(void *user, const char *name, df_request_model *out, char *message,
                         size_t message_size)
{
    const df_server *server = user;
    df_models *models = server->models;
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
    snprintf(out->name, sizeof out->name, "%s", entry->name);
    out->size_multiple = entry->size_multiple;
    out->default_size = entry->default_size;
    out->family = entry->family;
    out->refiner = entry->refiner;
    /* Points into the config, which outlives every parse. */
    out->precision = model_precision(server, entry->name);
    return 0;
}

/* The request model's LoRA resolver (request.h): a name of --lora-dir. */
static int resolve_lora(void *user, const char *name, char *canonical, size_t canonical_size,
                        char *message, size_t message_size)
{
    const df_server *server = user;
    char why[256];
    if (df_loras_name_check(name, why, sizeof why)) {
        snprintf(message, message_size, "'%.200s': %s", name, why);
        return -1;
    }
    if (df_loras_find(server->loras, name, canonical, canonical_size)) {
        /* A damaged file: refused now, not a failed job later. */
        df_error error = {0};
        if (!df_loras_check(server->loras, canonical, &error))
            return 0;
        snprintf(message, message_size, "%s", error.message);
        return -1;
    }
    char names[512];
    df_loras_names(server->loras, names, sizeof names);
    snprintf(message, message_size, "unknown LoRA '%.200s' (offered: %s)", name, names);
    return -1;
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
                                     df_routes_health, df_routes_admin, df_routes_jobs,
                                     df_routes_predict,
                                     df_routes_loras,
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
        df_log_warning("purge: %s", error.message);
    else if (deleted)
        df_log_info("%d expired job(s) deleted", deleted);
}

/* Is the address loopback-only (127.0.0.0/8, ::1)? */
static int loopback(const struct sockaddr_storage *address)
{
    if (address->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)address)->sin_addr.s_addr) >> 24) == 127;
    if (address->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)address)->sin6_addr);
    return 0;
}

/* One access-log line (new reference), or NULL when a string is not UTF-8
 * (jansson refuses those) or memory is out. */
static json_t *access_line(const df_http_log_entry *entry, const char *stamp, const char *path,
                           const char *user_agent)
{
    const df_http_caller *caller = entry->caller;
    int keyed = caller && caller->key_id[0];
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:I, s:f, s:s, s:s, s:s?, s:s?, s:s}",
                     "time", stamp, "request_id", entry->request_id, "method", entry->method,
                     "path", path, "route", entry->route, "status", (int)entry->status, "bytes",
                     (json_int_t)entry->bytes, "duration_ms", entry->seconds * 1000.0, "remote",
                     entry->remote, "user_agent", user_agent, "key_id",
                     keyed ? caller->key_id : NULL, "key_name", keyed ? caller->key_name : NULL,
                     "outcome", entry->outcome);
}

/* The HTTP layer's observer: metrics, then one JSON line in the access log
 * (jansson escapes whatever the client sent in the path or user agent). */
static void observe(void *context, const df_http_log_entry *entry)
{
    df_server *server = context;
    df_metrics_request(server->metrics, entry->route ? entry->route : "unmatched", entry->method,
                       (int)entry->status, entry->seconds);
    if (!server->access_log)
        return;
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    json_t *line = access_line(entry, stamp, entry->path, entry->user_agent);
    if (!line) /* a path or user agent that is not UTF-8: the line all the same */
        line = access_line(entry, stamp, "(not UTF-8)", "(not UTF-8)");
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(line);
    if (!text)
        return;
    pthread_mutex_lock(&server->access_log_lock);
    fprintf(server->access_log, "%s\n", text);
    fflush(server->access_log);
    pthread_mutex_unlock(&server->access_log_lock);
    free(text);
}

static void refused(void *context, const char *reason)
{
    df_server *server = context;
    df_metrics_connection_refused(server->metrics, reason);
}

/* SIGHUP: the keys, the models directory and the LoRA directory again,
 * without a restart. */
static void reload(df_server *server)
{
    df_error error = {0};
    if (df_keys_reload(server->keys, &error))
        df_log_warning("SIGHUP: keys: %s (the previous keys stay)",
                       error.message);
    else
        df_log_info("SIGHUP: %d active API key(s)%s",
                    df_keys_active_count(server->keys),
                    df_auth_open(server) ? ": every route is open"
                    : df_keys_active_count(server->keys) ? ""
                                                         : ": no key is active, so every request "
                                                           "that needs one is refused (401)");
    if (server->config->models_dir) {
        if (df_models_rescan(server->models, &error))
            df_log_warning("SIGHUP: models: %s (the catalogue is unchanged)",
                           error.message);
        else
            df_log_info("SIGHUP: %d model(s) offered",
                        df_models_count(server->models));
        warn_unoffered_precisions(server);
    }
    if (server->loras) {
        int added = 0, removed = 0;
        if (df_loras_rescan(server->loras, &added, &removed, &error))
            df_log_warning("SIGHUP: LoRAs: %s (the list is unchanged)", error.message);
        else
            df_log_info("SIGHUP: %d LoRA(s) offered (%d added, %d removed)",
                        df_loras_count(server->loras), added, removed);
    }
}

static void flush_usage(df_server *server)
{
    df_error error = {0};
    if (server->keys && df_keys_flush(server->keys, &error))
        df_log_warning("usage: %s (kept for the next try)", error.message);
}

/* Shutdown's last resort: if the running step or a connection does not end
 * within the bound, exit anyway. Nothing accepted is lost: the store still
 * says the job is running, and the next start queues it again. */
static void *shutdown_deadline(void *arg)
{
    const df_server_config *config = arg;
    struct timespec wait = {(time_t)config->shutdown_timeout_s + 5, 0};
    while (nanosleep(&wait, &wait))
        ;
    df_log_warning("shutdown took longer than %u s: exiting now (the running job "
                   "stays queued in the store)", config->shutdown_timeout_s + 5);
    _exit(0);
    return NULL;
}

int df_server_run(const df_server_config *config)
{
    /* Blocked here, inherited by every thread created from now on. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */

    df_server server = {.config = config};
    pthread_mutex_init(&server.access_log_lock, NULL);
    df_error error = {0};
    df_http *http = NULL;
    df_http_route *routes = all_routes();
    struct sockaddr_storage address;
    int exit_code = 1, removed_files = 0, broken_jobs = 0, lock_fd = -1;
    df_http_cidr *trusted = NULL;
    int listen_fd = -1; /* bound early: a port in use fails before a model loads */
    size_t trusted_count = 0;
    if (!routes || !(server.metrics = df_metrics_create()) ||
        !(server.ratelimit = df_ratelimit_create())) {
        df_log_error("out of memory");
        goto done;
    }
    if (!config->access_log) {
        server.access_log = stderr;
    } else if (strcmp(config->access_log, "off") && !(server.access_log = fopen(config->access_log, "a"))) {
        df_log_error("--access-log %s: %s", config->access_log,
                     strerror(errno));
        goto done;
    }
    if (config->trust_proxy &&
        df_http_cidrs_parse(config->trust_proxy, &trusted, &trusted_count, &error)) {
        df_log_error("--trust-proxy %s: %s (expected CIDR[,CIDR...], e.g. 10.0.0.0/8,::1/128)",
                     config->trust_proxy, error.message);
        goto done;
    }
    /* The directory's lock before anything reads or writes in it: a second
     * server's start-up check would delete the first one's images in the
     * making. */
    if (resolve(config->listen, &address, &error) ||
        df_http_listen((const struct sockaddr *)&address, &listen_fd, &error) ||
        df_datadir_make(config->data_dir, &error) ||
        df_datadir_lock(config->data_dir, &lock_fd, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    mode_t loose = df_datadir_loose_mode(config->data_dir);
    if (loose)
        df_log_warning("data directory %s is mode %04o: other users may read its prompts, key "
                       "hashes and images (chmod 700 %s)",
                       config->data_dir, (unsigned)loose, config->data_dir);
    if (df_store_open(config->data_dir, &server.store, &error) ||
        df_store_check(server.store, &removed_files, &broken_jobs, &error) ||
        df_keys_open(config->data_dir, &server.keys, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    if (removed_files || broken_jobs)
        df_log_warning("data check: %d unrecorded image file(s) removed, %d "
                       "job(s) with missing images marked failed", removed_files, broken_jobs);
    /* An open server on a network is the tutorial server this replaces:
     * refuse unless asked for explicitly. Vertex AI authenticates requests
     * before they reach the container, so its mode counts as explicit. */
    if (df_auth_open(&server) && !loopback(&address) && !config->no_auth &&
        !df_routes_vertex_listen()) {
        df_log_error("refusing to listen on %s without API keys: create one "
                     "with `diffuse keys create --name NAME --data %s`, or pass --no-auth to serve "
                     "without authentication", config->listen, config->data_dir);
        goto done;
    }
    if (df_runtime_create(config->threads, &server.runtime, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    df_models_config models_config = {server.runtime, config->models_dir, config->model_path,
                                      config->taesd_path, config->max_loaded, server.metrics,
                                      config->embeddings_dir};
    if (df_models_create(&models_config, &server.models, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    if (config->lora_dir) {
        if (df_loras_create(config->lora_dir, &server.loras, &error)) {
            df_log_error("%s", error.message);
            goto done;
        }
        df_log_info("--lora-dir %s: %d LoRA(s) offered", config->lora_dir,
                    df_loras_count(server.loras));
    }
    const df_model_entry *first = df_models_entry(server.models, 0);
    df_request_limits_default(&server.limits, first->size_multiple, first->default_size);
    server.limits.max_side = config->max_side;
    server.limits.max_steps = config->max_steps;
    server.limits.max_batch = config->max_batch;
    server.limits.max_prompt_bytes = config->max_prompt_bytes;
    server.limits.previews = config->taesd_path != NULL;
    server.limits.resolve_model = resolve_model;
    server.limits.resolve_user = &server;
    server.limits.check_request = check_memory;
    server.limits.check_user = &server;
    server.limits.default_precision = config->precision;
    if (server.loras) {
        server.limits.resolve_lora = resolve_lora;
        server.limits.lora_user = &server;
    }
    warn_unoffered_precisions(&server);
    server.max_memory = config->max_memory ? config->max_memory : df_server_default_max_memory();
    char max_memory[32];
    format_bytes((double)server.max_memory, max_memory, sizeof max_memory);
    df_log_info("a request may use up to %s of working memory (--max-memory)",
            max_memory);
    df_jobs_config jobs_config = {server.models, server.store, server.limits, config->queue_size,
                                  server.metrics, server.keys, server.loras};
    if (df_jobs_create(&jobs_config, &server.jobs, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    /* Half the slots by default: one address (a flood, a runaway client)
     * cannot take them all, and health probes from elsewhere still get in. */
    unsigned per_address = config->max_connections_per_address
                               ? config->max_connections_per_address
                               : (config->max_connections + 1) / 2;
    df_http_config http_config = {.address = (const struct sockaddr *)&address,
                                  .listen_fd = listen_fd,
                                  .max_body_bytes = config->max_body_bytes,
                                  .connection_limit = config->max_connections,
                                  .per_address_limit = per_address,
                                  .trusted = trusted,
                                  .trusted_count = trusted_count,
                                  .request_line_timeout_s = config->request_line_timeout_s,
                                  .refusal_observer = refused,
                                  .idle_timeout_s = config->idle_timeout_s,
                                  .header_timeout_s = config->header_timeout_s,
                                  .body_timeout_s = config->body_timeout_s,
                                  .cors_origins = config->cors_origins,
                                  .routes = routes,
                                  .guard = df_auth_guard,
                                  .observer = observe,
                                  .context = &server};
    listen_fd = -1; /* df_http_start owns it now */
    if (df_http_start(&http_config, &http, &error)) {
        df_log_error("%s", error.message);
        goto done;
    }
    char host[256] = "?";
    getnameinfo((const struct sockaddr *)&address, sizeof address, host, sizeof host, NULL, 0,
                NI_NUMERICHOST);
    int v6 = address.ss_family == AF_INET6;
    char default_model[256];
    df_models_default(server.models, default_model, sizeof default_model);
    int keys = df_keys_active_count(server.keys);
    df_log_info("%s",
            keys ? "API keys required (Authorization: Bearer KEY)"
            : !df_auth_open(&server)
                ? "API keys required, but no key is active: every request that needs one is "
                  "refused (401) until one is created (`diffuse keys create`, then SIGHUP); "
                  "`diffuse keys disable-auth` or --no-auth serves without keys"
            : df_keys_keyed(server.keys)
                ? "--no-auth: every route is open (the data directory's keys are all revoked)"
                : "no API keys: every route is open (create one with `diffuse keys create`)");
    printf("diffuse serve: listening on http://%s%s%s:%d (model %s of %d, data %s)\n",
           v6 ? "[" : "", host, v6 ? "]" : "", df_http_port(http), default_model,
           df_models_count(server.models), config->data_dir);
    fflush(stdout);

    /* The main thread: signals, the retention purge now and then (a quarter
     * of the retention time, between 1 s and a minute) and the usage
     * counters every few seconds. */
    double interval = config->retention_hours * 3600.0 / 4;
    interval = interval < 1 ? 1 : interval > 60 ? 60 : interval;
    double next_purge = 0, next_flush = df_server_monotonic() + 5;
    for (;;) {
        double now = df_server_monotonic();
        if (now >= next_purge) {
            purge(&server);
            next_purge = now + interval;
        }
        if (now >= next_flush) {
            flush_usage(&server);
            next_flush = now + 5;
        }
        struct timespec wait = {0, 500000000L};
        int sig = sigtimedwait(&signals, NULL, &wait);
        if (sig == SIGHUP)
            reload(&server);
        if (sig == SIGINT || sig == SIGTERM) {
            df_log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    exit_code = 0;
done:
    /* Graceful: no new connections; the worker ends its current step and
     * re-queues the job (waking every waiter, so the connection threads end
     * too); then the connections; then what they used. A watchdog bounds
     * the whole. */
    if (exit_code == 0) {
        pthread_t deadline;
        if (!pthread_create(&deadline, NULL, shutdown_deadline, (void *)config))
            pthread_detach(deadline);
    }
    df_http_quiesce(http);
    if (!df_jobs_stop(server.jobs, config->shutdown_timeout_s)) {
        df_log_warning("the running step did not end within %u s: exiting; the "
                       "job stays queued in the store", config->shutdown_timeout_s);
        flush_usage(&server);
        _exit(0);
    }
    df_http_stop(http);
    df_jobs_free(server.jobs);
    flush_usage(&server);
    df_keys_close(server.keys);
    df_models_free(server.models);
    df_loras_free(server.loras);
    df_runtime_free(server.runtime);
    df_store_close(server.store);
    df_ratelimit_free(server.ratelimit);
    df_metrics_free(server.metrics);
    if (server.access_log && server.access_log != stderr)
        fclose(server.access_log);
    pthread_mutex_destroy(&server.access_log_lock);
    free(routes);
    if (lock_fd >= 0)
        close(lock_fd); /* last: the directory is free once all is written */
    free(trusted);
    if (listen_fd >= 0)
        close(listen_fd);
    if (!exit_code)
        df_log_info("stopped");
    return exit_code;
}
