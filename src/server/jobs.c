/*
 * jobs.c — the bounded queue and the single worker (see jobs.h for the
 * contract). One mutex guards the table, the queue and every job's live
 * fields; one condition variable (CLOCK_MONOTONIC) is broadcast on any
 * change. Store writes (fsync'ed) happen outside the mutex, ordered so the
 * store is never behind what an HTTP reader can see: a job is stored before
 * it is queued, and its final state is stored before the final event.
 */
#include "server/jobs.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/image.h"
#include "pipeline/lora.h"
#include "runtime/error.h"
#include "server/util.h"
#include "server/log.h"

#define MAX_EVENTS 8 /* queued, started, one step, final: room to spare */

typedef struct job_event {
    uint64_t seq;
    int step;     /* a step event (replaced by the next one) */
    int terminal; /* the final event */
    char *text;   /* the whole SSE message */
} job_event;

struct df_job {
    char id[DF_SERVER_ID_SIZE];
    char key_id[DF_KEY_ID_SIZE + 16]; /* "" without keys */
    double created;   /* unix seconds: the wait time is measured from here */
    double last_step_time; /* monotonic, for the UNet step histogram */
    int refs;
    df_job_state state;
    df_request_params params;
    int cancel_requested;
    /* The engine polls this from its compute threads (no lock there): set
     * with cancel_requested, so a cancel stops the run inside a step. */
    atomic_int stop;
    char *preview;  /* latest TAESD preview, base64 PNG */
    int step, total, first_step;
    double elapsed, first_elapsed;
    double progress_at; /* monotonic time of the last progress report, 0: none yet */
    job_event events[MAX_EVENTS];
    int event_count;
    uint64_t last_seq;
    df_jobs *owner;
};

/* The LoRA set the worker last handed the engine for a model, as two keys:
 * of the paths and scales (what the engine compares to skip re-applying a
 * set), and of those and the files' identities. Same paths, other files: a
 * LoRA file was replaced in place, and the engine must be made to read it
 * again (see prepare_loras). Worker thread only. */
typedef struct applied_set {
    const df_model *model;
    uint64_t paths_key, files_key;
} applied_set;
#define APPLIED_SETS 8

struct df_jobs {
    applied_set applied[APPLIED_SETS];
    int applied_next;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    df_job **queue; /* FIFO, queue[0] runs next */
    int queue_length, queue_capacity;
    int reserved;   /* submissions being written to the store */
    df_job *running;
    int stopping;
    atomic_int stop_all; /* = stopping, for the engine's compute threads */
    int worker_started, worker_done;
    pthread_t worker;
    df_jobs_config config;
};

const char *df_job_state_name(df_job_state state)
{
    switch (state) {
    case DF_JOB_QUEUED: return "queued";
    case DF_JOB_LOADING: return "loading";
    case DF_JOB_RUNNING: return "running";
    case DF_JOB_COMPLETED: return "completed";
    case DF_JOB_FAILED: return "failed";
    case DF_JOB_CANCELLED: return "cancelled";
    }
    return "unknown";
}

const char *df_job_id(const df_job *job) { return job->id; }

/* ------------------------------------------------------------------------ */
/* Jobs and events (callers hold jobs->lock unless said otherwise)          */

static void job_free(df_job *job)
{
    df_request_params_free(&job->params);
    free(job->preview);
    for (int i = 0; i < job->event_count; i++)
        free(job->events[i].text);
    free(job);
}

void df_job_release(df_jobs *jobs, df_job *job)
{
    if (!job)
        return;
    pthread_mutex_lock(&jobs->lock);
    int last = --job->refs == 0;
    pthread_mutex_unlock(&jobs->lock);
    if (last)
        job_free(job);
}

/* Appends an event (`data` is a JSON object, consumed). A step event
 * replaces a step event at the end of the log. Out of memory drops the event
 * (a reader then sees the next one): never the queue's problem. */
static void emit(df_jobs *jobs, df_job *job, const char *name, json_t *data, int is_step,
                 int terminal)
{
    char *json = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!json)
        return;
    uint64_t seq = job->last_seq + 1;
    size_t size = strlen(json) + strlen(name) + 64;
    char *text = malloc(size);
    if (text)
        snprintf(text, size, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)seq, name,
                 json);
    free(json);
    if (!text)
        return;
    job_event *slot;
    if (is_step && job->event_count && job->events[job->event_count - 1].step) {
        slot = &job->events[job->event_count - 1];
        free(slot->text);
    } else if (job->event_count < MAX_EVENTS) {
        slot = &job->events[job->event_count++];
    } else { /* cannot happen with the sequence above; keep the log bounded anyway */
        free(job->events[0].text);
        memmove(job->events, job->events + 1, (MAX_EVENTS - 1) * sizeof *job->events);
        slot = &job->events[MAX_EVENTS - 1];
    }
    *slot = (job_event){seq, is_step, terminal, text};
    job->last_seq = seq;
    pthread_cond_broadcast(&jobs->changed);
}

static int queue_push(df_jobs *jobs, df_job *job)
{
    if (jobs->queue_length == jobs->queue_capacity) {
        int capacity = jobs->queue_capacity ? jobs->queue_capacity * 2 : 16;
        df_job **queue = realloc(jobs->queue, (size_t)capacity * sizeof *queue);
        if (!queue)
            return -1;
        jobs->queue = queue;
        jobs->queue_capacity = capacity;
    }
    jobs->queue[jobs->queue_length++] = job;
    return 0;
}

static int queue_index(const df_jobs *jobs, const char *id)
{
    for (int i = 0; i < jobs->queue_length; i++)
        if (!strcmp(jobs->queue[i]->id, id))
            return i;
    return -1;
}

static void queue_remove(df_jobs *jobs, int index)
{
    memmove(jobs->queue + index, jobs->queue + index + 1,
            (size_t)(jobs->queue_length - index - 1) * sizeof *jobs->queue);
    jobs->queue_length--;
}

static void emit_queued(df_jobs *jobs, df_job *job)
{
    emit(jobs, job, "queued",
         json_pack("{s:s, s:s, s:i}", "id", job->id, "state", "queued", "queue_position",
                   jobs->queue_length - 1),
         0, 0);
}

/* ------------------------------------------------------------------------ */
/* The worker                                                               */

static double eta_of(const df_job *job)
{
    if (job->step <= job->first_step || job->total <= 0)
        return -1;
    double per_step = (job->elapsed - job->first_elapsed) / (job->step - job->first_step);
    return per_step * (job->total - job->step);
}

/* The engine's cancel check: called from its compute threads, often. */
static int should_stop(void *user)
{
    df_job *job = user;
    return atomic_load_explicit(&job->stop, memory_order_relaxed) ||
           atomic_load_explicit(&job->owner->stop_all, memory_order_relaxed);
}

/* The engine's progress callback, on the worker thread. The preview (when
 * one is due) is encoded before taking the lock. Non-zero stops the run. */
static int on_progress(void *user, const df_progress *progress)
{
    df_job *job = user;
    df_jobs *jobs = job->owner;
    char *preview = NULL;
    if (progress->preview) {
        /* A batch's previews are one above the other in memory: one image. */
        df_image image = {progress->preview_width,
                          progress->preview_height * progress->preview_count,
                          (uint8_t *)progress->preview};
        unsigned char *png = NULL;
        size_t size = 0;
        if (!df_image_encode(&image, DF_IMAGE_PNG, 0, NULL, &png, &size, NULL))
            preview = df_server_base64(png, size);
        free(png);
    }
    /* One sampler step per callback (previews are encoded above, outside
     * the measured span only when they are not due: good enough for a
     * histogram of step times). */
    double now = df_server_monotonic();
    if (job->last_step_time > 0 && progress->step > job->step)
        df_metrics_unet_step(jobs->config.metrics,
                             (now - job->last_step_time) / (progress->step - job->step));
    job->last_step_time = now;
    pthread_mutex_lock(&jobs->lock);
    job->step = progress->step;
    job->total = progress->total;
    job->elapsed = progress->elapsed_seconds;
    job->progress_at = now;
    if (!job->first_step && progress->step > 0) {
        job->first_step = progress->step;
        job->first_elapsed = progress->elapsed_seconds;
    }
    double eta = eta_of(job);
    json_t *data = json_pack("{s:s, s:i, s:i, s:f, s:o}", "id", job->id, "step", job->step,
                             "total", job->total, "elapsed_seconds", job->elapsed,
                             "eta_seconds", eta < 0 ? json_null() : json_real(eta));
    if (data && preview) {
        json_object_set_new(data, "preview", json_string(preview));
        json_object_set_new(data, "preview_format", json_string("png"));
    }
    emit(jobs, job, "step", data, 1, 0);
    if (preview) {
        free(job->preview);
        job->preview = preview;
        preview = NULL;
    }
    int stop = job->cancel_requested || jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);
    free(preview);
    return stop;
}

/* Writes the images as DIR/images/<id>-<n>.png (with A1111's parameters
 * text) and returns the result JSON for the store (malloc'ed). */
static df_status save_result(df_jobs *jobs, const df_job *job, const df_generate_result *result,
                             char **out_json, df_error *error)
{
    *out_json = NULL;
    json_t *images = json_array(), *seeds = json_array(), *infotexts = json_array();
    df_status status = images && seeds && infotexts
                           ? DF_OK
                           : df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    size_t image_bytes = (size_t)result->width * (size_t)result->height * 3;
    for (int i = 0; i < result->count && !status; i++) {
        char name[DF_SERVER_ID_SIZE + 32], path[PATH_MAX];
        snprintf(name, sizeof name, "%s-%d.png", job->id, i);
        if (snprintf(path, sizeof path, "%s/%s", df_store_images_dir(jobs->config.store), name) >=
            (int)sizeof path) {
            status = df_error_set(error, DF_ERR_IO, "image path too long");
            break;
        }
        df_image image = {result->width, result->height, result->pixels + (size_t)i * image_bytes};
        const char *text = result->infotexts ? result->infotexts[i] : NULL;
        status = df_image_write_private(path, &image, 0, text, error);
        if (!status && (json_array_append_new(images, json_string(name)) ||
                        json_array_append_new(seeds, json_integer(result->seeds[i])) ||
                        json_array_append_new(infotexts, text ? json_string(text) : json_null())))
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    if (!status) {
        json_t *object = json_pack("{s:O, s:O, s:O, s:i, s:i, s:f}", "images", images, "seeds",
                                   seeds, "infotexts", infotexts, "width", result->width,
                                   "height", result->height, "seconds", result->seconds);
        *out_json = object ? json_dumps(object, JSON_COMPACT) : NULL;
        json_decref(object);
        if (!*out_json)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    json_decref(images);
    json_decref(seeds);
    json_decref(infotexts);
    return status;
}

static void log_store_error(const char *id, const df_error *error)
{
    df_log_warning("job %s: %s", id, error->message);
}

/* df_models_acquire's notice that it loads the job's model. */
static void on_loading(void *user, const char *name)
{
    df_job *job = user;
    df_jobs *jobs = job->owner;
    pthread_mutex_lock(&jobs->lock);
    job->state = DF_JOB_LOADING;
    emit(jobs, job, "loading",
         json_pack("{s:s, s:s, s:s}", "id", job->id, "state", "loading", "model", name), 0, 0);
    pthread_mutex_unlock(&jobs->lock);
}

/* FNV-1a over `size` bytes, continuing from `hash`. */
static uint64_t fnv(uint64_t hash, const void *bytes, size_t size)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ p[i]) * 1099511628211ULL;
    return hash;
}

/* The job's LoRAs as files for the engine (`uses`, `paths`: room for
 * DF_REQUEST_MAX_LORAS), resolved now: the directory may have changed since
 * the job was accepted. When the set is the one last applied on `model`
 * but a file changed meanwhile (replaced in place: same path, new
 * contents), the model is put back to its base weights first, so the
 * engine reads the files again instead of keeping the old set applied
 * (it compares paths and scales only). */
static df_status prepare_loras(df_jobs *jobs, const df_job *job, df_model *model,
                               df_lora_use *uses, char (*paths)[4096], df_error *error)
{
    const df_request_params *p = &job->params;
    if (!jobs->config.loras)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "this server offers no LoRAs (start it with --lora-dir DIR)");
    uint64_t paths_key = 14695981039346656037ULL, files_key;
    df_lora_identity identities[DF_REQUEST_MAX_LORAS];
    for (int i = 0; i < p->lora_count; i++) {
        df_status status = df_loras_resolve(jobs->config.loras, p->loras[i].name, paths[i],
                                            sizeof paths[i], &identities[i], error);
        if (status)
            return status;
        uses[i] = (df_lora_use){paths[i], (float)p->loras[i].unet_scale,
                                (float)p->loras[i].text_scale};
        paths_key = fnv(paths_key, paths[i], strlen(paths[i]) + 1);
        paths_key = fnv(paths_key, &uses[i].unet_scale, sizeof uses[i].unet_scale);
        paths_key = fnv(paths_key, &uses[i].text_scale, sizeof uses[i].text_scale);
    }
    files_key = paths_key;
    for (int i = 0; i < p->lora_count; i++) {
        files_key = fnv(files_key, &identities[i].device, sizeof identities[i].device);
        files_key = fnv(files_key, &identities[i].inode, sizeof identities[i].inode);
        files_key = fnv(files_key, &identities[i].size, sizeof identities[i].size);
        files_key = fnv(files_key, &identities[i].modified_ns, sizeof identities[i].modified_ns);
    }
    applied_set *record = NULL;
    for (int i = 0; i < APPLIED_SETS && !record; i++)
        if (jobs->applied[i].model == model)
            record = &jobs->applied[i];
    if (record && record->paths_key == paths_key && record->files_key != files_key) {
        df_status status = df_lora_apply(model, NULL, 0, error);
        if (status)
            return status;
    }
    if (!record) {
        record = &jobs->applied[jobs->applied_next];
        jobs->applied_next = (jobs->applied_next + 1) % APPLIED_SETS;
    }
    *record = (applied_set){model, paths_key, files_key};
    return DF_OK;
}

/* The engine names a LoRA by its path; a client knows it by name, and the
 * server's directory is none of its business: every path in `message` is
 * replaced by its LoRA's name. Returns 1 when the message named one (the
 * error is about a LoRA file the request chose). */
static int name_loras(char *message, size_t size, const df_request_params *p,
                      char (*paths)[4096])
{
    int named = 0;
    for (int i = 0; i < p->lora_count; i++) {
        size_t path_length = strlen(paths[i]), name_length = strlen(p->loras[i].name);
        char *at;
        while (path_length && (at = strstr(message, paths[i]))) {
            size_t rest = strlen(at + path_length) + 1;
            if ((size_t)(at - message) + name_length + rest > size)
                break;
            memmove(at + name_length, at + path_length, rest);
            memcpy(at, p->loras[i].name, name_length);
            named = 1;
        }
    }
    return named;
}

/* Runs one job to its end (called without the lock; `job` is the worker's
 * reference, taken from the table's). */
static void run_job(df_jobs *jobs, df_job *job)
{
    df_error error = {0};
    double started = df_server_now(), run_start = df_server_monotonic();
    if (df_store_set_running(jobs->config.store, job->id, started, &error))
        log_store_error(job->id, &error);
    /* The job's model, and its refiner (loaded here, on the worker, when
     * not in memory: the job shows "loading" meanwhile). A refiner is
     * opened beside the base, never in its place (models.h). */
    df_model *model = NULL, *refiner = NULL;
    df_status status = DF_OK;
    char name[256];
    if (job->params.model)
        snprintf(name, sizeof name, "%s", job->params.model);
    else
        df_models_default(jobs->config.models, name, sizeof name);
    if (job->params.refiner)
        status = df_models_acquire_pair(jobs->config.models, name, job->params.refiner,
                                        on_loading, job, &model, &refiner, &error);
    else
        status = df_models_acquire(jobs->config.models, name, on_loading, job, &model, &error);
    pthread_mutex_lock(&jobs->lock);
    job->state = DF_JOB_RUNNING;
    emit(jobs, job, "started",
         json_pack("{s:s, s:s, s:f, s:s?}", "id", job->id, "state", "running", "started_at",
                   df_server_now(), "model", job->params.model),
         0, 0);
    pthread_mutex_unlock(&jobs->lock);

    df_generate_request request;
    df_request_to_generate(&job->params, &request);
    request.progress = on_progress;
    request.progress_user = job;
    request.cancel = should_stop;
    request.cancel_user = job;
    request.refiner = refiner;
    df_generate_result result = {0};
    /* The LoRA files, resolved now (a name may have left the directory). */
    df_lora_use uses[DF_REQUEST_MAX_LORAS];
    char (*lora_paths)[4096] = NULL;
    if (!status && job->params.lora_count) {
        if (!(lora_paths = calloc(DF_REQUEST_MAX_LORAS, sizeof *lora_paths)))
            status = df_error_set(&error, DF_ERR_NO_MEMORY, "out of memory");
        else if ((status = prepare_loras(jobs, job, model, uses, lora_paths, &error)))
            df_error_prefix(&error, "loras: "); /* the field, as request errors start */
        request.loras = uses;
        request.lora_count = job->params.lora_count;
    }
    if (!status)
        status = df_model_generate(model, &request, &result, &error);
    if (lora_paths) {
        /* A LoRA file that does not read (damaged since the request was
         * checked) is the request's choice, as a LoRA for another model
         * is: a client error, not the server's. */
        if (status && status != DF_ERR_CANCELLED &&
            name_loras(error.message, sizeof error.message, &job->params, lora_paths)) {
            if (status == DF_ERR_FORMAT || status == DF_ERR_IO)
                status = DF_ERR_INVALID_ARGUMENT;
            df_error_prefix(&error, "loras: ");
        }
        free(lora_paths);
    }
    /* A1111's infotext of a LoRA image: the set as prompt tags, and the
     * files' hashes. */
    for (int i = 0; !status && job->params.lora_count && result.infotexts && i < result.count;
         i++)
        if (result.infotexts[i])
            status = df_loras_infotext(jobs->config.loras, job->params.prompt, job->params.loras,
                                       job->params.lora_count, &result.infotexts[i], &error);
    /* Back to --max-loaded once the pair is no longer needed. */
    if (job->params.refiner)
        df_models_trim(jobs->config.models);

    pthread_mutex_lock(&jobs->lock);
    int cancelled = job->cancel_requested, stopping = jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);

    char *result_json = NULL;
    int image_count = result.count;
    if (!status)
        status = save_result(jobs, job, &result, &result_json, &error);
    df_generate_result_free(&result);

    df_job_state final;
    const char *type = NULL, *code = NULL;
    json_t *data = NULL;
    df_error store_error = {0};
    if (status == DF_ERR_CANCELLED && !cancelled && stopping) {
        /* Shutdown, not the client: run it again at the next start. */
        if (df_store_requeue(jobs->config.store, job->id, &store_error))
            log_store_error(job->id, &store_error);
        df_metrics_job_finished(jobs->config.metrics, "requeued", started - job->created,
                                df_server_monotonic() - run_start, 0);
        pthread_mutex_lock(&jobs->lock);
        jobs->running = NULL;
        pthread_cond_broadcast(&jobs->changed);
        pthread_mutex_unlock(&jobs->lock);
        return;
    }
    if (!status) {
        final = DF_JOB_COMPLETED;
    } else if (status == DF_ERR_CANCELLED) {
        final = DF_JOB_CANCELLED;
    } else {
        final = DF_JOB_FAILED;
        type = status == DF_ERR_INVALID_ARGUMENT ? "invalid_request_error" : "server_error";
        code = status == DF_ERR_INVALID_ARGUMENT ? "invalid_parameter"
               : status == DF_ERR_NO_MEMORY      ? "out_of_memory"
                                                 : "generation_failed";
    }
    double finished = df_server_now();
    if (df_store_finish(jobs->config.store, job->id, df_job_state_name(final), finished,
                        result_json, type, code, type ? error.message : NULL, &store_error))
        log_store_error(job->id, &store_error);
    free(result_json);
    /* Usage: what the job cost, cancelled or failed included (the compute
     * was spent); images only when they were delivered. */
    double run_seconds = df_server_monotonic() - run_start;
    int delivered = final == DF_JOB_COMPLETED ? image_count : 0;
    df_metrics_job_finished(jobs->config.metrics, df_job_state_name(final),
                            started - job->created, run_seconds, delivered);
    double pixel_steps = final == DF_JOB_COMPLETED
                             ? (double)job->params.width * job->params.height *
                                   job->params.steps * job->params.batch
                             : 0;
    df_keys_count_job(jobs->config.keys, job->key_id[0] ? job->key_id : DF_KEY_ANONYMOUS,
                      delivered, pixel_steps, run_seconds);

    if (final == DF_JOB_FAILED)
        data = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "id", job->id, "state", "failed",
                         "error", "message", error.message, "type", type, "code", code);
    else
        data = json_pack("{s:s, s:s, s:f}", "id", job->id, "state", df_job_state_name(final),
                         "finished_at", finished);
    /* The completed event carries the image links (the native API's URL
     * layout, see routes_jobs.c), so a client needs no second request. */
    json_t *urls = final == DF_JOB_COMPLETED && data ? json_array() : NULL;
    for (int i = 0; urls && i < image_count; i++) {
        char url[DF_SERVER_ID_SIZE + 64];
        snprintf(url, sizeof url, "/v1/jobs/%s/images/%d", job->id, i);
        json_array_append_new(urls, json_string(url));
    }
    if (urls)
        json_object_set_new(data, "images", urls);
    pthread_mutex_lock(&jobs->lock);
    job->state = final;
    jobs->running = NULL;
    emit(jobs, job, df_job_state_name(final), data, 0, 1);
    pthread_mutex_unlock(&jobs->lock);
}

static void *worker_main(void *arg)
{
    df_jobs *jobs = arg;
    for (;;) {
        pthread_mutex_lock(&jobs->lock);
        while (!jobs->stopping && jobs->queue_length == 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&jobs->changed, &jobs->lock, &until);
        }
        if (jobs->stopping) {
            pthread_mutex_unlock(&jobs->lock);
            break;
        }
        df_job *job = jobs->queue[0];
        queue_remove(jobs, 0);
        job->state = DF_JOB_RUNNING;
        jobs->running = job; /* the table's reference moves with it */
        pthread_cond_broadcast(&jobs->changed);
        pthread_mutex_unlock(&jobs->lock);

        run_job(jobs, job);
        df_job_release(jobs, job); /* the table's reference */
    }
    pthread_mutex_lock(&jobs->lock);
    jobs->worker_done = 1;
    pthread_cond_broadcast(&jobs->changed);
    pthread_mutex_unlock(&jobs->lock);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Creation and shutdown                                                    */

static df_job *job_new(df_jobs *jobs, const char *id)
{
    df_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    snprintf(job->id, sizeof job->id, "%s", id);
    job->refs = 1; /* the table's */
    job->owner = jobs;
    return job;
}

/* Runs of one job the process may die in before it is given up: a job that
 * takes the server down (killed for memory, a crash) must not do it again
 * at every start. */
#define MAX_DIED_RUNS 3

/* Start-up: one stored pending job back into the queue. */
static void restore_pending(void *user, const char *id, const char *params_json,
                            const char *key_id, double created, int attempts)
{
    df_jobs *jobs = user;
    if (attempts >= MAX_DIED_RUNS) {
        df_error error = {0};
        char message[256];
        snprintf(message, sizeof message,
                 "the server stopped %d times while running this job (killed, out of memory or "
                 "crashed); it is not run again",
                 attempts);
        df_log_warning("job %s: %s", id, message);
        if (df_store_finish(jobs->config.store, id, "failed", df_server_now(), NULL,
                            "server_error", "interrupted", message, &error))
            log_store_error(id, &error);
        return;
    }
    json_error_t json_error;
    json_t *body = json_loads(params_json, 0, &json_error);
    df_request_params params;
    memset(&params, 0, sizeof params); /* freed below even when never parsed */
    df_request_error request_error;
    memset(&request_error, 0, sizeof request_error);
    df_status status = body ? df_request_parse(body, &jobs->config.limits, &params, &request_error)
                            : DF_ERR_FORMAT;
    json_decref(body);
    df_job *job = NULL;
    if (!status && (!(job = job_new(jobs, id)) || queue_push(jobs, job)))
        status = DF_ERR_NO_MEMORY;
    if (status) {
        /* Stored under other limits or damaged: fail it visibly rather than
         * drop it. */
        df_request_params_free(&params);
        free(job);
        df_error error = {0};
        const char *message = request_error.message[0] ? request_error.message
                                                       : "stored parameters are unreadable";
        if (df_store_finish(jobs->config.store, id, "failed", df_server_now(), NULL,
                            "invalid_request_error", "invalid_parameter", message, &error))
            log_store_error(id, &error);
        return;
    }
    job->params = params;
    job->created = created;
    snprintf(job->key_id, sizeof job->key_id, "%s", key_id ? key_id : "");
    emit_queued(jobs, job);
}

df_status df_jobs_create(const df_jobs_config *config, df_jobs **out, df_error *error)
{
    *out = NULL;
    df_jobs *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    jobs->config = *config;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&jobs->changed, &attr);
    pthread_condattr_destroy(&attr);

    df_status status = df_store_load_pending(config->store, restore_pending, jobs, error);
    if (!status && jobs->queue_length)
        df_log_info("%d job(s) from the store queued again",
                    jobs->queue_length);
    if (!status) {
        int rc = pthread_create(&jobs->worker, NULL, worker_main, jobs);
        if (rc)
            status = df_error_set(error, DF_ERR_INTERNAL, "cannot start the worker: %s",
                                  strerror(rc));
        jobs->worker_started = !rc;
    }
    if (status) {
        df_jobs_free(jobs);
        return status;
    }
    *out = jobs;
    return DF_OK;
}

int df_jobs_stop(df_jobs *jobs, double timeout_seconds)
{
    if (!jobs)
        return 1;
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = 1;
    atomic_store(&jobs->stop_all, 1);
    pthread_cond_broadcast(&jobs->changed);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)timeout_seconds;
    while (jobs->worker_started && !jobs->worker_done) {
        if (pthread_cond_timedwait(&jobs->changed, &jobs->lock, &until) == ETIMEDOUT)
            break;
    }
    int done = !jobs->worker_started || jobs->worker_done;
    pthread_mutex_unlock(&jobs->lock);
    if (done && jobs->worker_started) {
        pthread_join(jobs->worker, NULL);
        jobs->worker_started = 0;
    }
    return done;
}

void df_jobs_free(df_jobs *jobs)
{
    if (!jobs)
        return;
    df_jobs_stop(jobs, 1e9);
    for (int i = 0; i < jobs->queue_length; i++)
        df_job_release(jobs, jobs->queue[i]);
    free(jobs->queue);
    pthread_cond_destroy(&jobs->changed);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}

/* ------------------------------------------------------------------------ */
/* What HTTP threads call                                                   */

df_jobs_submit_result df_jobs_submit(df_jobs *jobs, df_request_params *params,
                                     const char *key_id, df_job **out, df_error *error)
{
    if (out)
        *out = NULL;
    pthread_mutex_lock(&jobs->lock);
    df_jobs_submit_result verdict = jobs->stopping ? DF_JOBS_STOPPING
                                    : jobs->queue_length + jobs->reserved >= jobs->config.queue_size
                                        ? DF_JOBS_QUEUE_FULL
                                        : DF_JOBS_ACCEPTED;
    if (verdict == DF_JOBS_ACCEPTED)
        jobs->reserved++; /* the place is ours while the store writes */
    pthread_mutex_unlock(&jobs->lock);
    if (verdict != DF_JOBS_ACCEPTED)
        return verdict;

    char id[DF_SERVER_ID_SIZE];
    df_server_random_id(id);
    df_job *job = job_new(jobs, id);
    json_t *json = df_request_to_json(params);
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    df_status status = job && text ? DF_OK : df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    /* Durable before anyone hears of it. */
    double created = df_server_now();
    if (!status)
        status = df_store_insert(jobs->config.store, id, text, key_id && *key_id ? key_id : NULL,
                                 created, error);
    free(text);
    if (!status) {
        job->created = created;
        snprintf(job->key_id, sizeof job->key_id, "%s", key_id ? key_id : "");
    }

    pthread_mutex_lock(&jobs->lock);
    jobs->reserved--;
    if (!status && queue_push(jobs, job))
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (status) {
        pthread_mutex_unlock(&jobs->lock);
        free(job);
        /* A row stored but not queued runs at the next start: not lost. */
        return DF_JOBS_STORE_FAILED;
    }
    job->params = *params;
    memset(params, 0, sizeof *params);
    emit_queued(jobs, job);
    if (out) {
        job->refs++;
        *out = job;
    }
    pthread_mutex_unlock(&jobs->lock);
    return DF_JOBS_ACCEPTED;
}

df_job *df_jobs_find(df_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    df_job *job = NULL;
    int index = queue_index(jobs, id);
    if (index >= 0)
        job = jobs->queue[index];
    else if (jobs->running && !strcmp(jobs->running->id, id))
        job = jobs->running;
    if (job)
        job->refs++;
    pthread_mutex_unlock(&jobs->lock);
    return job;
}

df_jobs_cancel_result df_jobs_cancel(df_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    if (jobs->running && !strcmp(jobs->running->id, id)) {
        jobs->running->cancel_requested = 1; /* the worker finishes it */
        atomic_store(&jobs->running->stop, 1);
        pthread_mutex_unlock(&jobs->lock);
        /* Stored at once: should the process die before the worker records
         * the end, the next start must not run a cancelled job again. */
        df_error error = {0};
        if (df_store_cancel_pending(jobs->config.store, id, df_server_now(), &error))
            log_store_error(id, &error);
        return DF_JOBS_CANCELLING;
    }
    int index = queue_index(jobs, id);
    if (index < 0) {
        pthread_mutex_unlock(&jobs->lock);
        return DF_JOBS_NOT_ACTIVE;
    }
    df_job *job = jobs->queue[index];
    queue_remove(jobs, index); /* the worker can no longer take it */
    pthread_mutex_unlock(&jobs->lock);

    double finished = df_server_now();
    df_error error = {0};
    if (df_store_finish(jobs->config.store, id, "cancelled", finished, NULL, NULL, NULL, NULL,
                        &error))
        log_store_error(id, &error);
    pthread_mutex_lock(&jobs->lock);
    job->state = DF_JOB_CANCELLED;
    job->cancel_requested = 1;
    emit(jobs, job, "cancelled",
         json_pack("{s:s, s:s, s:f}", "id", job->id, "state", "cancelled", "finished_at",
                   finished),
         0, 1);
    pthread_mutex_unlock(&jobs->lock);
    df_job_release(jobs, job); /* the table's reference */
    return DF_JOBS_CANCELLED;
}

int df_jobs_info(df_jobs *jobs, const char *id, df_job_info *out)
{
    pthread_mutex_lock(&jobs->lock);
    df_job *job = NULL;
    int index = queue_index(jobs, id);
    if (index >= 0)
        job = jobs->queue[index];
    else if (jobs->running && !strcmp(jobs->running->id, id))
        job = jobs->running;
    if (job) {
        /* Elapsed time moves between progress reports too. */
        double elapsed = job->elapsed;
        if (job->state == DF_JOB_RUNNING && job->progress_at > 0)
            elapsed += df_server_monotonic() - job->progress_at;
        *out = (df_job_info){job->state, index, job->step, job->total, elapsed,
                             eta_of(job), job->cancel_requested};
    }
    pthread_mutex_unlock(&jobs->lock);
    return job != NULL;
}

/* Waits on the condition variable for at most `ms` (callers hold the lock). */
static void wait_ms(df_jobs *jobs, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&jobs->changed, &jobs->lock, &until);
}

df_job_state df_jobs_wait(df_jobs *jobs, df_job *job, int timeout_ms)
{
    double deadline = df_server_monotonic() + timeout_ms / 1000.0;
    pthread_mutex_lock(&jobs->lock);
    while (!df_job_state_final(job->state) && !jobs->stopping) {
        double left = deadline - df_server_monotonic();
        if (left <= 0)
            break;
        wait_ms(jobs, left > 1 ? 1000 : (int)(left * 1000) + 1);
    }
    df_job_state state = job->state;
    pthread_mutex_unlock(&jobs->lock);
    return state;
}

int df_jobs_next_event(df_jobs *jobs, df_job *job, uint64_t after, int timeout_ms,
                       char **out_text, uint64_t *out_seq, int *terminal)
{
    *out_text = NULL;
    double deadline = df_server_monotonic() + timeout_ms / 1000.0;
    pthread_mutex_lock(&jobs->lock);
    int found = 0;
    for (;;) {
        for (int i = 0; i < job->event_count; i++)
            if (job->events[i].seq > after) {
                *out_text = strdup(job->events[i].text);
                *out_seq = job->events[i].seq;
                *terminal = job->events[i].terminal;
                found = *out_text ? 1 : 0;
                break;
            }
        if (found || *out_text)
            break;
        if (jobs->stopping) {
            found = -1;
            break;
        }
        double left = deadline - df_server_monotonic();
        if (left <= 0)
            break;
        wait_ms(jobs, left > 1 ? 1000 : (int)(left * 1000) + 1);
    }
    pthread_mutex_unlock(&jobs->lock);
    return found;
}

int df_jobs_running_id(df_jobs *jobs, char id[DF_SERVER_ID_SIZE_JOBS])
{
    pthread_mutex_lock(&jobs->lock);
    int running = jobs->running != NULL;
    if (running)
        snprintf(id, DF_SERVER_ID_SIZE_JOBS, "%s", jobs->running->id);
    pthread_mutex_unlock(&jobs->lock);
    return running;
}

char *df_jobs_preview(df_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    char *preview = NULL;
    if (jobs->running && !strcmp(jobs->running->id, id) && jobs->running->preview)
        preview = strdup(jobs->running->preview);
    pthread_mutex_unlock(&jobs->lock);
    return preview;
}

int df_jobs_queue_length(df_jobs *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    int length = jobs->queue_length;
    pthread_mutex_unlock(&jobs->lock);
    return length;
}

df_jobs_cancel_result df_jobs_abandon(df_jobs *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->lock);
    int stopping = jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);
    return stopping ? DF_JOBS_NOT_ACTIVE : df_jobs_cancel(jobs, id);
}

int df_jobs_ready(df_jobs *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    int ready = jobs->worker_started && !jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);
    return ready;
}
