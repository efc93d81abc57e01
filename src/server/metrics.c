/*
 * metrics.c — the Prometheus counters and histograms of `diffuse serve`
 * (see metrics.h for the names and the contract).
 *
 * Storage: one `family` per metric name; a family holds its series in a
 * small array keyed by the series' label text, already escaped and rendered
 * (`route="/v1/jobs/{}",method="GET",status="200"`), so a lookup is a string
 * compare and rendering is a copy. Families and their histogram bounds are
 * fixed at creation; only series are added later.
 *
 * Invariants:
 *  - every label set is bounded whatever clients send: methods outside the
 *    standard ones count as "other", statuses outside 100..599 as "0",
 *    routes past MAX_ROUTES distinct ones as "other", and a family never
 *    holds more than MAX_SERIES series (a cap only a bug in a caller reaches;
 *    past it samples are dropped rather than memory grown).
 *  - histogram buckets are stored per bucket and made cumulative when
 *    rendered; `le` bounds are inclusive, as Prometheus defines them.
 *  - one mutex guards everything; rendering holds it while copying, so a
 *    scrape sees one consistent state.
 */
#include "server/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LABEL_TEXT_MAX 512 /* one series' rendered labels */
#define ROUTE_MAX 160      /* raw bytes of a route label kept */
#define MAX_ROUTES 256     /* distinct route labels before "other" */
#define MAX_SERIES 4096    /* per family */
#define MAX_BOUNDS 16

typedef struct series {
    char labels[LABEL_TEXT_MAX]; /* "" for a family without labels */
    double value;                /* counters */
    uint64_t buckets[MAX_BOUNDS + 1]; /* histograms; the last is +Inf only */
    double sum;
    uint64_t count;
} series;

typedef struct family {
    const char *name, *help;
    int histogram;         /* 0: counter */
    const double *bounds;  /* histograms: ascending, finite */
    int bound_count;
    series *items;
    int count, allocated;
} family;

/* Bucket bounds in seconds, from the fastest plausible event of each kind
 * to the slowest one still worth telling apart. */
static const double http_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1, 2.5, 5, 10, 30, 60};
static const double job_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                    60, 120, 300, 600, 1800, 3600};
static const double step_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5, 1, 2.5, 5, 10, 30, 60};
static const double load_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

#define COUNT_OF(array) ((int)(sizeof(array) / sizeof((array)[0])))

enum {
    HTTP_REQUESTS,
    HTTP_DURATION,
    JOBS,
    JOB_WAIT,
    JOB_RUN,
    UNET_STEP,
    IMAGES,
    MODEL_LOADS,
    MODEL_LOAD_SECONDS,
    RATE_LIMITED,
    AUTH_FAILURES,
    CONNECTIONS_REFUSED,
    FAMILY_COUNT
};

struct df_metrics {
    pthread_mutex_t lock;
    family families[FAMILY_COUNT];
};

static void define(df_metrics *metrics, int index, const char *name, const char *help,
                   const double *bounds, int bound_count)
{
    family *f = &metrics->families[index];
    f->name = name;
    f->help = help;
    f->histogram = bounds != NULL;
    f->bounds = bounds;
    f->bound_count = bound_count;
}

/* The series with these labels, added when new; NULL past MAX_SERIES or out
 * of memory (the sample is then dropped). */
static series *find_series(family *f, const char *labels)
{
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->items[i].labels, labels))
            return &f->items[i];
    if (f->count >= MAX_SERIES)
        return NULL;
    if (f->count == f->allocated) {
        int allocated = f->allocated ? f->allocated * 2 : 8;
        series *items = realloc(f->items, (size_t)allocated * sizeof *items);
        if (!items)
            return NULL;
        f->items = items;
        f->allocated = allocated;
    }
    series *s = &f->items[f->count++];
    memset(s, 0, sizeof *s);
    snprintf(s->labels, sizeof s->labels, "%s", labels);
    return s;
}

/* Appends `value` escaped for a label ("\\", "\"", "\n"), at most
 * `max_bytes` raw bytes of it, cut back to a UTF-8 character boundary so the
 * output stays valid UTF-8 when the input was. */
static void append_escaped(char *out, size_t size, const char *value, size_t max_bytes)
{
    size_t n = strlen(out), length = strlen(value);
    if (length > max_bytes) {
        length = max_bytes;
        while (length > 0 && ((unsigned char)value[length] & 0xC0) == 0x80)
            length--;
    }
    for (size_t i = 0; i < length && n + 3 < size; i++) {
        char c = value[i];
        if (c == '\\' || c == '"') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = c;
        }
    }
    out[n] = 0;
}

/* Appends name="value" (with a comma first when labels are not empty). */
static void append_label(char *labels, size_t size, const char *name, const char *value,
                         size_t max_bytes)
{
    size_t n = strlen(labels);
    snprintf(labels + n, size - n, "%s%s=\"", n ? "," : "", name);
    append_escaped(labels, size - 1, value ? value : "", max_bytes);
    n = strlen(labels);
    snprintf(labels + n, size - n, "\"");
}

static void observe(const family *f, series *s, double value)
{
    if (!s || isnan(value))
        return;
    int bucket = 0;
    while (bucket < f->bound_count && value > f->bounds[bucket])
        bucket++;
    s->buckets[bucket]++;
    s->sum += value;
    s->count++;
}

static void add(df_metrics *metrics, int index, const char *labels, double amount)
{
    series *s = find_series(&metrics->families[index], labels);
    if (s)
        s->value += amount;
}

df_metrics *df_metrics_create(void)
{
    df_metrics *metrics = calloc(1, sizeof *metrics);
    if (!metrics)
        return NULL;
    pthread_mutex_init(&metrics->lock, NULL);
    define(metrics, HTTP_REQUESTS, "diffuse_http_requests_total",
           "HTTP requests answered, by route pattern, method and status.", NULL, 0);
    define(metrics, HTTP_DURATION, "diffuse_http_request_duration_seconds",
           "Time from a request's arrival to its answer, by route pattern.", http_bounds,
           COUNT_OF(http_bounds));
    define(metrics, JOBS, "diffuse_jobs_total", "Jobs finished, by outcome.", NULL, 0);
    define(metrics, JOB_WAIT, "diffuse_job_wait_seconds",
           "Time a job waited in the queue (accepted to started).", job_bounds,
           COUNT_OF(job_bounds));
    define(metrics, JOB_RUN, "diffuse_job_run_seconds",
           "Time a job ran (started to finished).", job_bounds, COUNT_OF(job_bounds));
    define(metrics, UNET_STEP, "diffuse_unet_step_seconds", "Time of one sampler step.",
           step_bounds, COUNT_OF(step_bounds));
    define(metrics, IMAGES, "diffuse_images_generated_total", "Images generated.", NULL, 0);
    define(metrics, MODEL_LOADS, "diffuse_model_loads_total", "Model loads, by outcome.", NULL,
           0);
    define(metrics, MODEL_LOAD_SECONDS, "diffuse_model_load_seconds", "Time to load a model.",
           load_bounds, COUNT_OF(load_bounds));
    define(metrics, RATE_LIMITED, "diffuse_rate_limited_total",
           "Requests refused by a rate limit, by kind.", NULL, 0);
    define(metrics, AUTH_FAILURES, "diffuse_auth_failures_total",
           "Requests refused for a missing or wrong API key.", NULL, 0);
    define(metrics, CONNECTIONS_REFUSED, "diffuse_http_connections_refused_total",
           "Connections refused before their request, by reason (per_address: the client's "
           "address had --max-connections-per-address; capacity: the server held all it "
           "could).", NULL, 0);
    /* The known label values exist from the start at 0, so a rate() over
     * them works before the first event. */
    static const char *const outcomes[] = {"completed", "failed", "cancelled", "requeued"};
    for (int i = 0; i < COUNT_OF(outcomes); i++) {
        char labels[64] = "";
        append_label(labels, sizeof labels, "outcome", outcomes[i], ROUTE_MAX);
        add(metrics, JOBS, labels, 0);
    }
    add(metrics, CONNECTIONS_REFUSED, "reason=\"per_address\"", 0);
    add(metrics, CONNECTIONS_REFUSED, "reason=\"capacity\"", 0);
    add(metrics, MODEL_LOADS, "outcome=\"ok\"", 0);
    add(metrics, MODEL_LOADS, "outcome=\"failed\"", 0);
    add(metrics, RATE_LIMITED, "kind=\"requests\"", 0);
    add(metrics, RATE_LIMITED, "kind=\"images\"", 0);
    add(metrics, IMAGES, "", 0);
    add(metrics, AUTH_FAILURES, "", 0);
    find_series(&metrics->families[JOB_WAIT], "");
    find_series(&metrics->families[JOB_RUN], "");
    find_series(&metrics->families[UNET_STEP], "");
    find_series(&metrics->families[MODEL_LOAD_SECONDS], "");
    for (int i = 0; i < FAMILY_COUNT; i++) {
        const family *f = &metrics->families[i];
        int labelled = i == HTTP_REQUESTS || i == HTTP_DURATION;
        if (!labelled && !f->count) { /* out of memory above */
            df_metrics_free(metrics);
            return NULL;
        }
    }
    return metrics;
}

void df_metrics_free(df_metrics *metrics)
{
    if (!metrics)
        return;
    for (int i = 0; i < FAMILY_COUNT; i++)
        free(metrics->families[i].items);
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",     "HEAD",  "POST",    "PUT",
                                        "DELETE",  "PATCH", "OPTIONS", NULL};
    for (int i = 0; method && known[i]; i++)
        if (!strcmp(method, known[i]))
            return known[i];
    return "other";
}

void df_metrics_request(df_metrics *metrics, const char *route, const char *method, int status,
                        double seconds)
{
    if (!metrics)
        return;
    char route_labels[LABEL_TEXT_MAX] = "";
    append_label(route_labels, sizeof route_labels, "route", route ? route : "unmatched",
                 ROUTE_MAX);
    pthread_mutex_lock(&metrics->lock);
    family *durations = &metrics->families[HTTP_DURATION];
    series *duration = NULL;
    for (int i = 0; i < durations->count && !duration; i++)
        if (!strcmp(durations->items[i].labels, route_labels))
            duration = &durations->items[i];
    if (!duration && durations->count >= MAX_ROUTES) {
        route_labels[0] = 0;
        append_label(route_labels, sizeof route_labels, "route", "other", ROUTE_MAX);
    }
    duration = find_series(durations, route_labels);
    observe(durations, duration, seconds < 0 ? 0 : seconds);

    char labels[LABEL_TEXT_MAX];
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%d", status >= 100 && status <= 599 ? status : 0);
    snprintf(labels, sizeof labels, "%s", route_labels);
    append_label(labels, sizeof labels, "method", method_label(method), ROUTE_MAX);
    append_label(labels, sizeof labels, "status", status_text, ROUTE_MAX);
    add(metrics, HTTP_REQUESTS, labels, 1);
    pthread_mutex_unlock(&metrics->lock);
}

/* A negative or NaN time is "not measured" (a job cancelled before it
 * started has no run time) and is not observed. */
void df_metrics_job_finished(df_metrics *metrics, const char *outcome, double wait_seconds,
                             double run_seconds, int images)
{
    if (!metrics)
        return;
    char labels[LABEL_TEXT_MAX] = "";
    append_label(labels, sizeof labels, "outcome", outcome ? outcome : "unknown", ROUTE_MAX);
    pthread_mutex_lock(&metrics->lock);
    add(metrics, JOBS, labels, 1);
    family *wait = &metrics->families[JOB_WAIT], *run = &metrics->families[JOB_RUN];
    if (wait_seconds >= 0)
        observe(wait, find_series(wait, ""), wait_seconds);
    if (run_seconds >= 0)
        observe(run, find_series(run, ""), run_seconds);
    if (images > 0)
        add(metrics, IMAGES, "", images);
    pthread_mutex_unlock(&metrics->lock);
}

void df_metrics_unet_step(df_metrics *metrics, double seconds)
{
    if (!metrics)
        return;
    pthread_mutex_lock(&metrics->lock);
    family *f = &metrics->families[UNET_STEP];
    observe(f, find_series(f, ""), seconds < 0 ? 0 : seconds);
    pthread_mutex_unlock(&metrics->lock);
}

void df_metrics_model_load(df_metrics *metrics, int ok, double seconds)
{
    if (!metrics)
        return;
    pthread_mutex_lock(&metrics->lock);
    add(metrics, MODEL_LOADS, ok ? "outcome=\"ok\"" : "outcome=\"failed\"", 1);
    family *f = &metrics->families[MODEL_LOAD_SECONDS];
    observe(f, find_series(f, ""), seconds < 0 ? 0 : seconds);
    pthread_mutex_unlock(&metrics->lock);
}

/* One more in counter family `which`, in the series of one label. */
static void count_labelled(df_metrics *metrics, int which, const char *label, const char *value)
{
    if (!metrics)
        return;
    char labels[LABEL_TEXT_MAX] = "";
    append_label(labels, sizeof labels, label, value ? value : "unknown", ROUTE_MAX);
    pthread_mutex_lock(&metrics->lock);
    add(metrics, which, labels, 1);
    pthread_mutex_unlock(&metrics->lock);
}

void df_metrics_rate_limited(df_metrics *metrics, const char *kind)
{
    count_labelled(metrics, RATE_LIMITED, "kind", kind);
}

void df_metrics_connection_refused(df_metrics *metrics, const char *reason)
{
    count_labelled(metrics, CONNECTIONS_REFUSED, "reason", reason);
}

void df_metrics_auth_failure(df_metrics *metrics)
{
    if (!metrics)
        return;
    pthread_mutex_lock(&metrics->lock);
    add(metrics, AUTH_FAILURES, "", 1);
    pthread_mutex_unlock(&metrics->lock);
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */

typedef struct text {
    char *data;
    size_t length, allocated;
    int failed;
} text;

static void append(text *t, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void append(text *t, const char *format, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list args;
        va_start(args, format);
        size_t room = t->allocated - t->length;
        int n = t->data ? vsnprintf(t->data + t->length, room, format, args) : -1;
        va_end(args);
        if (t->data && n < 0) {
            t->failed = 1;
            return;
        }
        if (t->data && (size_t)n < room) {
            t->length += (size_t)n;
            return;
        }
        size_t allocated = t->allocated ? t->allocated * 2 : 16384;
        while (t->data && allocated - t->length <= (size_t)n)
            allocated *= 2;
        char *data = realloc(t->data, allocated);
        if (!data) {
            t->failed = 1;
            return;
        }
        t->data = data;
        t->allocated = allocated;
    }
}

/* A sample value the way Prometheus writes floats: the shortest of %.15g
 * and %.17g that reads back exactly, and +Inf/-Inf/NaN spelled its way. */
static void format_number(double value, char *buffer, size_t size)
{
    if (isnan(value))
        snprintf(buffer, size, "NaN");
    else if (isinf(value))
        snprintf(buffer, size, "%s", value > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(buffer, size, "%.15g", value);
        if (strtod(buffer, NULL) != value)
            snprintf(buffer, size, "%.17g", value);
    }
}

static void render_header(text *t, const family *f, const char *type)
{
    append(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type);
}

static void render_family(text *t, const family *f)
{
    render_header(t, f, f->histogram ? "histogram" : "counter");
    char number[64];
    for (int i = 0; i < f->count; i++) {
        const series *s = &f->items[i];
        const char *comma = s->labels[0] ? "," : "";
        if (!f->histogram) {
            format_number(s->value, number, sizeof number);
            if (s->labels[0])
                append(t, "%s{%s} %s\n", f->name, s->labels, number);
            else
                append(t, "%s %s\n", f->name, number);
            continue;
        }
        uint64_t cumulative = 0;
        for (int b = 0; b <= f->bound_count; b++) {
            cumulative += s->buckets[b];
            if (b < f->bound_count)
                snprintf(number, sizeof number, "%g", f->bounds[b]);
            else
                snprintf(number, sizeof number, "+Inf");
            append(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, comma, number,
                   (unsigned long long)cumulative);
        }
        format_number(s->sum, number, sizeof number);
        const char *open = s->labels[0] ? "{" : "", *close = s->labels[0] ? "}" : "";
        append(t, "%s_sum%s%s%s %s\n", f->name, open, s->labels, close, number);
        append(t, "%s_count%s%s%s %llu\n", f->name, open, s->labels, close,
               (unsigned long long)s->count);
    }
}

static void render_gauge(text *t, const char *name, const char *help, double value)
{
    char number[64];
    format_number(value, number, sizeof number);
    append(t, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, number);
}

/* Resident set size in bytes from /proc/self/statm (its second field, in
 * pages); -1 where there is no /proc. */
static double resident_bytes(void)
{
    FILE *file = fopen("/proc/self/statm", "r");
    if (!file)
        return -1;
    unsigned long long size = 0, resident = 0;
    int fields = fscanf(file, "%llu %llu", &size, &resident);
    fclose(file);
    long page = sysconf(_SC_PAGESIZE);
    return fields == 2 && page > 0 ? (double)resident * (double)page : -1;
}

char *df_metrics_render(df_metrics *metrics, const df_metrics_gauges *gauges)
{
    text t = {0};
    if (metrics) {
        pthread_mutex_lock(&metrics->lock);
        for (int i = 0; i < FAMILY_COUNT; i++)
            render_family(&t, &metrics->families[i]);
        pthread_mutex_unlock(&metrics->lock);
    }
    if (gauges) {
        render_gauge(&t, "diffuse_queue_length", "Jobs waiting in the queue.",
                     gauges->queue_length);
        render_gauge(&t, "diffuse_queue_capacity", "Jobs the queue holds at most.",
                     gauges->queue_capacity);
        render_gauge(&t, "diffuse_jobs_running", "Jobs running now.", gauges->jobs_running);
        render_gauge(&t, "diffuse_models_loaded", "Models in memory now.", gauges->models_loaded);
    }
    render_gauge(&t, "diffuse_up", "1 while the server answers.", 1);
    double resident = resident_bytes();
    if (resident >= 0)
        render_gauge(&t, "process_resident_memory_bytes", "Resident memory size in bytes.",
                     resident);
    if (t.failed || !t.data) {
        free(t.data);
        return NULL;
    }
    return t.data;
}
