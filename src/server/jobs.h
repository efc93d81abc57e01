/*
 * jobs.h — the job queue of `diffuse serve`: a bounded FIFO in front of the
 * engine and ONE worker thread that runs jobs on it (the engine's calls on a
 * model must not overlap; the engine's own thread pool parallelises each
 * job). HTTP threads only submit, look, cancel and wait (with timeouts);
 * they never run generation.
 *
 * Life of a job: submitted (written to the store, then queued) -> running ->
 * completed | failed | cancelled. A queued job cancelled leaves the queue at
 * once; a running one is stored as cancelled at once (a restart never runs
 * it again) and stops inside its step, within about a second at any size
 * (the engine polls the job's stop flag between pieces of work). At shutdown
 * the running job is interrupted the same way and put back to "queued" in
 * the store, so the next start runs it again. A job during whose runs the
 * process died three times (killed for memory, say) is failed at start-up
 * ("interrupted") instead of being run again.
 *
 * Events: each job keeps a short log (queued, started, the LATEST step,
 * and the final event), each entry with a sequence number; a new step event
 * replaces the previous step event, so the log is bounded and a slow reader
 * skips steps rather than falling behind. One condition variable is
 * broadcast on every change; readers wait on it with timeouts.
 *
 * LoRAs: a job names its LoRAs; the worker resolves the names to files of
 * the LoRA directory when the job starts (a LoRA removed since it was
 * submitted fails the job, saying so) and hands them to the engine, which
 * keeps one applied LoRA set per model and switches sets between calls.
 * That needs no lock in the engine because of the one worker above: no two
 * jobs ever run at once, on one model or on two (df_models_estimate works
 * on separate handles that never generate, so never hold a LoRA set). A
 * second worker would need a lock per model around df_model_generate.
 *
 * Ownership: the table holds a reference to every queued/running job; each
 * df_jobs_find/df_jobs_submit caller gets its own and gives it back with
 * df_job_release. A finished job leaves the table (the store answers for it
 * from then on) but lives while someone holds a reference.
 */
#ifndef DF_SERVER_JOBS_H
#define DF_SERVER_JOBS_H

#include <stdint.h>

#include "diffuse.h"
#include "server/keys.h"
#include "server/loras.h"
#include "server/metrics.h"
#include "server/models.h"
#include "server/request.h"
#include "server/store.h"

typedef enum df_job_state {
    DF_JOB_QUEUED,
    DF_JOB_LOADING,   /* running: its model is being loaded (stored as "running") */
    DF_JOB_RUNNING,
    DF_JOB_COMPLETED,
    DF_JOB_FAILED,
    DF_JOB_CANCELLED
} df_job_state;

const char *df_job_state_name(df_job_state state);
static inline int df_job_state_final(df_job_state state) { return state >= DF_JOB_COMPLETED; }

typedef struct df_jobs df_jobs;

#define DF_SERVER_ID_SIZE_JOBS 33 /* = DF_SERVER_ID_SIZE (util.h) */
typedef struct df_job df_job;

typedef struct df_jobs_config {
    df_models *models;     /* borrowed; only the worker loads and runs models */
    df_store *store;       /* borrowed */
    df_request_limits limits; /* to re-validate stored jobs at start-up */
    int queue_size;        /* queued jobs at most (running one excluded) */
    df_metrics *metrics;   /* may be NULL: job and step timings */
    df_keys *keys;         /* may be NULL: per-key usage of each finished job */
    df_loras *loras;       /* may be NULL (no --lora-dir): the LoRA names of jobs */
} df_jobs_config;

/* Creates the queue, re-queues the store's pending jobs (oldest first; they
 * do not count against queue_size) and starts the worker. */
df_status df_jobs_create(const df_jobs_config *config, df_jobs **out, df_error *error);
/* Stops the worker (the running job stops inside its step and goes back to
 * "queued" in the store) and wakes every waiter. Waits at most
 * timeout_seconds for the worker; returns 1 when it stopped, 0 when it is
 * still in a step (then df_jobs_free must not be called: the process should
 * exit, and the store, which still says "running", re-queues the job at the
 * next start). Idempotent. */
int df_jobs_stop(df_jobs *jobs, double timeout_seconds);
/* After df_jobs_stop and once no other thread uses the queue. */
void df_jobs_free(df_jobs *jobs);

typedef enum df_jobs_submit_result {
    DF_JOBS_ACCEPTED = 0,
    DF_JOBS_QUEUE_FULL,
    DF_JOBS_STOPPING,
    DF_JOBS_STORE_FAILED /* `error` says why */
} df_jobs_submit_result;

/* Stores and queues a job for `key_id` (NULL without keys: usage goes to
 * "anonymous"). On DF_JOBS_ACCEPTED the job owns *params (left empty) and
 * *out (may be NULL) is a reference for the caller. */
df_jobs_submit_result df_jobs_submit(df_jobs *jobs, df_request_params *params,
                                     const char *key_id, df_job **out, df_error *error);

/* A reference to a queued or running job, or NULL. */
df_job *df_jobs_find(df_jobs *jobs, const char *id);
void df_job_release(df_jobs *jobs, df_job *job);
const char *df_job_id(const df_job *job);

typedef enum df_jobs_cancel_result {
    DF_JOBS_NOT_ACTIVE = 0, /* unknown here or already finished (ask the store) */
    DF_JOBS_CANCELLED,      /* was queued: now cancelled */
    DF_JOBS_CANCELLING      /* running: stored as cancelled, stops within its step */
} df_jobs_cancel_result;
df_jobs_cancel_result df_jobs_cancel(df_jobs *jobs, const char *id);
/* A job whose waiting client left: cancelled as df_jobs_cancel does, unless
 * the server is stopping -- then the connection was closed by the shutdown,
 * not by the client, and the job stays queued for the next start. */
df_jobs_cancel_result df_jobs_abandon(df_jobs *jobs, const char *id);

/* What the store does not know: live state of a queued or running job. */
typedef struct df_job_info {
    df_job_state state;
    int queue_position;    /* jobs ahead of it (queued only), else -1 */
    int step, total;       /* model evaluations done / in all (running) */
    double elapsed_seconds;
    double eta_seconds;    /* < 0: not known yet */
    int cancel_requested;
} df_job_info;

/* 1 and *out filled when `id` is queued or running, else 0. */
int df_jobs_info(df_jobs *jobs, const char *id, df_job_info *out);

/* Waits up to timeout_ms for `job` to reach a final state; returns its state
 * then (possibly still queued/running on timeout or when stopping). */
df_job_state df_jobs_wait(df_jobs *jobs, df_job *job, int timeout_ms);

/* The first event of `job` with a sequence number above `after`, as a
 * complete server-sent event ("id: N\nevent: NAME\ndata: JSON\n\n",
 * malloc'ed into *out_text). Returns 1 with an event (*terminal set for the
 * final one), 0 on timeout, -1 when the server is stopping. */
int df_jobs_next_event(df_jobs *jobs, df_job *job, uint64_t after, int timeout_ms,
                       char **out_text, uint64_t *out_seq, int *terminal);

/* The running (or loading) job's id copied into id, 1; 0 when idle. */
int df_jobs_running_id(df_jobs *jobs, char id[DF_SERVER_ID_SIZE_JOBS]);

/* The latest TAESD preview of a queued or running job (base64 PNG,
 * malloc'ed), or NULL. */
char *df_jobs_preview(df_jobs *jobs, const char *id);

/* Queue length (queued jobs), and whether the worker is up and not stopping. */
int df_jobs_queue_length(df_jobs *jobs);
int df_jobs_ready(df_jobs *jobs);

#endif
