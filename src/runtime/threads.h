/*
 * threads.h — the one compute thread pool. Work is expressed as a parallel
 * for over [0, count): the calling thread takes part, and the call returns
 * when every index is done. Nested calls from inside a task run serially on
 * the calling worker (no deadlock, no oversubscription).
 */
#ifndef DF_RUNTIME_THREADS_H
#define DF_RUNTIME_THREADS_H

#include <stddef.h>
#include <stdint.h>

typedef struct df_pool df_pool;

/* Processes [begin, end) of the range; `thread` is in [0, df_pool_size). */
typedef void (*df_task_fn)(void *context, int64_t begin, int64_t end, int thread);

/* threads <= 0: one per online CPU. Returns NULL only when out of memory. */
df_pool *df_pool_create(int threads);
void df_pool_free(df_pool *pool);
int df_pool_size(const df_pool *pool);

/* Splits [0, count) into chunks of at least `grain` indices and runs them on
 * the pool. pool may be NULL (runs inline). */
void df_pool_for(df_pool *pool, int64_t count, int64_t grain, df_task_fn fn, void *context);

/* Cancellation: a stop function the pool polls (from any of its threads,
 * concurrently) before every chunk of a df_pool_for and whenever a long
 * kernel asks df_pool_stopped between its pieces of work. Once it returns
 * non-zero it must keep doing so; the remaining chunks of every later
 * df_pool_for are then skipped (their outputs are left unwritten), so a
 * model stops within one chunk and reports DF_ERR_CANCELLED at its next
 * check. fn NULL removes it. Set only while no df_pool_for runs. */
typedef int (*df_pool_stop_fn)(void *user);
void df_pool_set_stop(df_pool *pool, df_pool_stop_fn fn, void *user);
/* 1 when the stop function asks to stop (0 without one or pool NULL). */
int df_pool_stopped(const df_pool *pool);

/* The arithmetic precision (a df_precision from runtime/precision.h) that
 * df_linear and df_conv2d use on this pool: set for the duration of a
 * generation, as the stop function is, so no model's call sites change.
 * 0 (f32) by default and with pool NULL. Set only while no df_pool_for
 * runs. */
void df_pool_set_precision(df_pool *pool, int precision);
int df_pool_precision(const df_pool *pool);

/* Per-thread scratch of at least `bytes`, 64-byte aligned, owned by the pool.
 * It grows (rarely) but is never freed between calls, so kernels can use it
 * for packing without allocating per op. NULL only when out of memory; with
 * pool == NULL a buffer per OS thread for inline execution is used. A nested
 * (inline) kernel call shares its thread's buffer, so a task must not keep
 * scratch contents live across a nested kernel call. */
void *df_pool_scratch(df_pool *pool, int thread, size_t bytes);

/* Index of the calling thread if it is running a task of `pool`, else 0
 * (the submitting thread's index). Lets a kernel that needs scratch outside
 * its tasks take its caller's buffer even when it is called nested. */
int df_pool_current_thread(const df_pool *pool);

/* One pool-owned buffer shared by all threads, for a kernel that keeps data
 * across several df_pool_for calls (Winograd's transformed tiles). At most
 * one holder at a time: NULL when it is taken (a nested or concurrent
 * kernel; the caller then takes a path without it) or out of memory. It
 * grows to the largest request and is kept until the pool is freed, so its
 * peak is part of the pool's memory. pool NULL: a buffer per OS thread. */
void *df_pool_workspace_acquire(df_pool *pool, size_t bytes);
void df_pool_workspace_release(df_pool *pool);
/* Frees the workspace when nobody holds it (memory measurements start from
 * none; a long-idle server may give it back). */
void df_pool_workspace_trim(df_pool *pool);

#endif
