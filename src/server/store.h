/*
 * store.h — the job store of `diffuse serve`: an SQLite database
 * (DIR/diffuse.db, WAL journal, synchronous=FULL) and the image files under
 * DIR/images/. The database is the source of truth: a job is inserted (and
 * the transaction durable) before its submission is answered, so an accepted
 * job survives kill -9; queued and running jobs are handed back at start-up
 * to be run again. One connection, guarded by a mutex: every call may be
 * made from any thread.
 *
 * Schema (user_version 3; older databases gain key_id and attempts when
 * opened):
 *   jobs(seq INTEGER PRIMARY KEY,  -- acceptance order = queue order
 *        id TEXT UNIQUE, params TEXT (normalized JSON, see request.h),
 *        key_id TEXT (the API key that submitted it; NULL without keys),
 *        state TEXT (queued|running|completed|failed|cancelled),
 *        created REAL, started REAL, finished REAL (unix seconds),
 *        error_type TEXT, error_code TEXT, error_message TEXT,
 *        result TEXT (JSON: images (file names), seeds, width, height,
 *                     seconds, infotexts),
 *        attempts INTEGER (runs started and not ended cleanly: the process
 *                          died during them, e.g. killed for memory))
 */
#ifndef DF_SERVER_STORE_H
#define DF_SERVER_STORE_H

#include <jansson.h>

#include "diffuse.h"

typedef struct df_store df_store;

/* Opens (creating DIR, DIR/images and the schema when missing). */
df_status df_store_open(const char *dir, df_store **out, df_error *error);

/* Start-up consistency (before any job runs): image files that no completed
 * job names (a crash between writing them and recording the job) are
 * deleted, and completed jobs whose files are missing are marked failed.
 * *removed_files and *broken_jobs (may be NULL) count what was fixed. */
df_status df_store_check(df_store *store, int *removed_files, int *broken_jobs,
                         df_error *error);
void df_store_close(df_store *store);

/* DIR/images (owned by the store). */
const char *df_store_images_dir(const df_store *store);

/* Whether the store can take jobs now: the database file is still the one
 * opened (not moved, deleted or replaced), DIR/images exists, and a read
 * succeeds. For readiness probes: cheap, no write. */
df_status df_store_ping(df_store *store, df_error *error);

/* key_id may be NULL (no keys). */
df_status df_store_insert(df_store *store, const char *id, const char *params_json,
                          const char *key_id, double created, df_error *error);
df_status df_store_set_running(df_store *store, const char *id, double started, df_error *error);
/* Back to queued (shutdown interrupted it: it runs again at the next start). */
df_status df_store_requeue(df_store *store, const char *id, df_error *error);
/* A final state; result_json (completed) and the error fields may be NULL. */
df_status df_store_finish(df_store *store, const char *id, const char *state, double finished,
                          const char *result_json, const char *error_type,
                          const char *error_code, const char *error_message, df_error *error);

/* A cancel of a queued or running job, stored before the worker has
 * stopped it (so a restart never runs it again); a job already finished is
 * left as it is. The worker's df_store_finish records the end later. */
df_status df_store_cancel_pending(df_store *store, const char *id, double finished,
                                  df_error *error);

/* Calls `fn` for each queued or running job, oldest first (start-up), with
 * the number of its runs that started and never ended (the process died:
 * df_store_set_running counts a run, df_store_requeue, a clean stop,
 * takes it back). */
typedef void (*df_store_pending_fn)(void *user, const char *id, const char *params_json,
                                    const char *key_id, double created, int attempts);
df_status df_store_load_pending(df_store *store, df_store_pending_fn fn, void *user,
                                df_error *error);

/* One job as a JSON object {id, seq, state, params (object), key_id, created,
 * started, finished, error {type, code, message} | null, result | null}.
 * *out is a new reference, NULL when there is no such job (not an error). */
df_status df_store_get(df_store *store, const char *id, json_t **out, df_error *error);

/* Up to `limit` jobs, newest first, older than the job `before` (NULL: from
 * the newest), only those of `key_id` unless it is NULL. *out: a new array
 * of df_store_get objects; *has_more when older jobs remain. */
df_status df_store_list(df_store *store, const char *key_id, const char *before, int limit,
                        json_t **out, int *has_more, df_error *error);

/* Deletes finished jobs that finished before `cutoff`, and their image
 * files; *deleted (may be NULL) counts them. */
df_status df_store_purge(df_store *store, double cutoff, int *deleted, df_error *error);

#endif
