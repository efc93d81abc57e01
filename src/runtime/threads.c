/*
 * threads.c — the compute pool: size-1 persistent pthread workers plus the
 * calling thread. df_pool_for publishes one job (function, context, chunk
 * size); every participant pulls chunk indices from an atomic counter until
 * none are left, and the caller returns once every worker has checked out.
 *
 * Invariants:
 *  - one job at a time per pool (submissions from different threads are
 *    serialised by `submit`); a df_pool_for from inside a task of the same
 *    pool runs inline on that thread with that thread's index.
 *  - chunk boundaries depend only on (count, grain, pool size), so kernels
 *    that never reduce across chunks give results independent of scheduling.
 *  - scratch buffer i belongs to thread index i and only grows; nested
 *    inline calls share their thread's scratch, so a task must not hold
 *    scratch across a nested kernel call.
 */
#include "runtime/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct df_scratch {
    void *data;
    size_t bytes;
} df_scratch;

/* The shared workspace: one holder at a time (taken 0 or 1). */
typedef struct df_workspace {
    df_scratch buffer;
    atomic_int taken;
} df_workspace;

struct df_pool;

typedef struct df_worker {
    struct df_pool *pool;
    int index;
    pthread_t thread;
} df_worker;

struct df_pool {
    int size;
    df_worker *workers; /* size - 1 of them, indices 1..size-1 */
    df_scratch *scratch;
    pthread_mutex_t submit; /* one job at a time */
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* workers wait here for a new generation */
    pthread_cond_t done;   /* the caller waits here for checkouts */
    uint64_t generation;
    int quit;
    int checked_out; /* workers finished with the current generation */
    /* the current job */
    df_task_fn fn;
    void *context;
    int64_t count, chunk, chunks;
    atomic_int_fast64_t next;
    df_pool_stop_fn stop;
    void *stop_user;
    df_workspace workspace;
    int precision; /* df_pool_set_precision */
};

/* Which pool (if any) the current thread is running a task of, and as whom:
 * lets nested calls run inline instead of deadlocking. */
static _Thread_local const df_pool *tls_pool;
static _Thread_local int tls_thread;

static void pool_run_chunks(df_pool *pool, int thread)
{
    const df_pool *saved_pool = tls_pool;
    int saved_thread = tls_thread;
    tls_pool = pool;
    tls_thread = thread;
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (c >= pool->chunks || df_pool_stopped(pool))
            break;
        int64_t begin = c * pool->chunk;
        int64_t end = begin + pool->chunk < pool->count ? begin + pool->chunk : pool->count;
        pool->fn(pool->context, begin, end, thread);
    }
    tls_pool = saved_pool;
    tls_thread = saved_thread;
}

static void *pool_worker_main(void *arg)
{
    df_worker *worker = arg;
    df_pool *pool = worker->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        pool_run_chunks(pool, worker->index);
        pthread_mutex_lock(&pool->lock);
        if (++pool->checked_out == pool->size - 1)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

df_pool *df_pool_create(int threads)
{
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)cpus : 1;
    }
    df_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->size = threads;
    pool->scratch = calloc((size_t)threads, sizeof *pool->scratch);
    pool->workers = calloc((size_t)threads, sizeof *pool->workers);
    if (!pool->scratch || !pool->workers) {
        free(pool->scratch);
        free(pool->workers);
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->submit, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->next, 0);
    for (int i = 1; i < threads; i++) {
        df_worker *worker = &pool->workers[i];
        worker->pool = pool;
        worker->index = i;
        if (pthread_create(&worker->thread, NULL, pool_worker_main, worker) != 0) {
            pool->size = i; /* free() joins the ones that started */
            df_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void df_pool_free(df_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->size; i++)
        pthread_join(pool->workers[i].thread, NULL);
    for (int i = 0; i < pool->size; i++)
        free(pool->scratch[i].data);
    free(pool->workspace.buffer.data);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->submit);
    free(pool->scratch);
    free(pool->workers);
    free(pool);
}

int df_pool_size(const df_pool *pool)
{
    return pool ? pool->size : 1;
}

void df_pool_for(df_pool *pool, int64_t count, int64_t grain, df_task_fn fn, void *context)
{
    if (count <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (df_pool_stopped(pool))
        return;
    if (!pool || pool->size == 1 || count <= grain) {
        int thread = (pool && tls_pool == pool) ? tls_thread : 0;
        fn(context, 0, count, thread);
        return;
    }
    if (tls_pool == pool) { /* nested call from one of our tasks */
        fn(context, 0, count, tls_thread);
        return;
    }
    /* About four chunks per thread balances uneven tasks without making
     * chunks smaller than the caller's grain. */
    int64_t target = (int64_t)pool->size * 4;
    int64_t chunk = (count + target - 1) / target;
    if (chunk < grain)
        chunk = grain;
    pthread_mutex_lock(&pool->submit);
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->context = context;
    pool->count = count;
    pool->chunk = chunk;
    pool->chunks = (count + chunk - 1) / chunk;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    pool->checked_out = 0;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    pool_run_chunks(pool, 0);

    pthread_mutex_lock(&pool->lock);
    while (pool->checked_out < pool->size - 1)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&pool->submit);
}

void df_pool_set_stop(df_pool *pool, df_pool_stop_fn fn, void *user)
{
    if (!pool)
        return;
    pool->stop = fn;
    pool->stop_user = user;
}

int df_pool_stopped(const df_pool *pool)
{
    return pool && pool->stop && pool->stop(pool->stop_user);
}

void df_pool_set_precision(df_pool *pool, int precision)
{
    if (pool)
        pool->precision = precision;
}

int df_pool_precision(const df_pool *pool)
{
    return pool ? pool->precision : 0;
}

/* Grows `scratch` to at least `bytes`. With `margin`, by at least half
 * again, so a slowly increasing demand does not reallocate on every call;
 * without (the workspace), exactly: memory estimates bound the workspace
 * by its largest request (df_conv2d_winograd_workspace_bound). */
static void *scratch_grow(df_scratch *scratch, size_t bytes, int margin)
{
    if (scratch->bytes >= bytes && scratch->data)
        return scratch->data;
    size_t want = bytes;
    if (margin && want < scratch->bytes + scratch->bytes / 2)
        want = scratch->bytes + scratch->bytes / 2;
    want = (want + 63) & ~(size_t)63;
    void *data = NULL;
    if (posix_memalign(&data, 64, want) != 0)
        return NULL;
    free(scratch->data);
    scratch->data = data;
    scratch->bytes = want;
    return data;
}

/* Inline execution without a pool: one buffer per OS thread, so two threads
 * that both run kernels with pool == NULL do not share it. Freed at exit by
 * nobody; it is reachable through the TLS slot for leak checkers. */
static _Thread_local df_scratch tls_inline_scratch;

void *df_pool_scratch(df_pool *pool, int thread, size_t bytes)
{
    if (bytes == 0)
        bytes = 64;
    if (!pool)
        return scratch_grow(&tls_inline_scratch, bytes, 1);
    if (thread < 0 || thread >= pool->size)
        return NULL;
    return scratch_grow(&pool->scratch[thread], bytes, 1);
}

int df_pool_current_thread(const df_pool *pool)
{
    return pool && tls_pool == pool ? tls_thread : 0;
}

/* Inline execution (pool NULL): a workspace per OS thread, as for scratch. */
static _Thread_local df_workspace tls_inline_workspace;

static df_workspace *workspace_of(df_pool *pool)
{
    return pool ? &pool->workspace : &tls_inline_workspace;
}

static int workspace_take(df_workspace *workspace)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&workspace->taken, &expected, 1);
}

void *df_pool_workspace_acquire(df_pool *pool, size_t bytes)
{
    df_workspace *workspace = workspace_of(pool);
    if (!workspace_take(workspace))
        return NULL;
    void *data = scratch_grow(&workspace->buffer, bytes ? bytes : 64, 0);
    if (!data)
        atomic_store(&workspace->taken, 0);
    return data;
}

void df_pool_workspace_release(df_pool *pool)
{
    atomic_store(&workspace_of(pool)->taken, 0);
}

void df_pool_workspace_trim(df_pool *pool)
{
    df_workspace *workspace = workspace_of(pool);
    if (!workspace_take(workspace))
        return;
    free(workspace->buffer.data);
    workspace->buffer.data = NULL;
    workspace->buffer.bytes = 0;
    atomic_store(&workspace->taken, 0);
}
