/*
 * keys.h — API keys and per-key usage of `diffuse serve`, kept in the data
 * directory's database (DIR/diffuse.db, tables `keys` and `usage`, next to
 * the job store's `jobs`). The keys object opens its own SQLite connection,
 * so `diffuse keys ...` and `diffuse usage` work while a server runs on the
 * same directory (WAL journal).
 *
 * A key is "dfk_" + its public id (12 lowercase hex digits) + "_" + a secret
 * (32 random bytes from libsodium, base64url without padding). Only a hash
 * of the whole key (BLAKE2b-256, crypto_generichash) is stored; the key is
 * printed once at creation and cannot be recovered. Verification finds the
 * key by its id and compares hashes with sodium_memcmp (constant time); an
 * unknown id is compared against a dummy hash so it takes the same time.
 *
 * The server verifies against an in-memory snapshot of the keys (taken by
 * df_keys_open and df_keys_reload, i.e. at start-up and on SIGHUP), so a
 * request never waits for the database. Usage is counted in memory too and
 * written by df_keys_flush (the server calls it every few seconds and at
 * shutdown): a kill -9 loses at most the last few seconds of counters, never
 * a job.
 *
 * Thread safety: every function may be called from any thread (one mutex).
 */
#ifndef DF_SERVER_KEYS_H
#define DF_SERVER_KEYS_H

#include <jansson.h>
#include <stddef.h>

#include "diffuse.h"

typedef struct df_keys df_keys;

#define DF_KEY_ID_SIZE 13      /* 12 hex digits and the NUL */
#define DF_KEY_NAME_SIZE 128
#define DF_KEY_SECRET_SIZE 128 /* room for the whole printed key */
/* Usage of requests made while the server runs open (no key ever, or
 * --no-auth / disable-auth with none active). */
#define DF_KEY_ANONYMOUS "anonymous"

typedef struct df_key {
    char id[DF_KEY_ID_SIZE];
    char name[DF_KEY_NAME_SIZE];
    double rate_per_minute; /* requests per minute; 0: unlimited */
    long daily_images;      /* images per day; 0: unlimited */
    int admin;              /* may read every key's usage, /metrics */
    int revoked;
    double created, revoked_at; /* unix seconds; revoked_at 0 while active */
} df_key;

/* Opens DIR/diffuse.db (creating DIR and the tables when missing) and loads
 * the snapshot. */
df_status df_keys_open(const char *data_dir, df_keys **out, df_error *error);
void df_keys_close(df_keys *keys); /* flushes pending usage first */

/* A new key. `name`: 1..127 bytes of UTF-8 without control characters or
 * leading/trailing spaces, unique among active keys, and neither 12 hex
 * digits (it would read as an id) nor "anonymous" (DF_ERR_INVALID_ARGUMENT
 * otherwise, as for a negative or non-finite limit). `secret_size` must be
 * at least 61 (DF_KEY_SECRET_SIZE is enough). The whole key goes into
 * `secret` (shown once); *out (may be NULL) gets its record. Also updates
 * the snapshot. */
df_status df_keys_create(df_keys *keys, const char *name, double rate_per_minute,
                         long daily_images, int admin, df_key *out, char *secret,
                         size_t secret_size, df_error *error);

/* Every key, active and revoked, oldest first (reads the database, not the
 * snapshot): *out is malloc'ed (free it), *count its length. */
df_status df_keys_list(df_keys *keys, df_key **out, int *count, df_error *error);

/* Revokes the active key with this id or name (an id wins). When there is
 * none: DF_ERR_INVALID_ARGUMENT, the message naming what was asked (database
 * failures are DF_ERR_IO). Also updates the snapshot. */
df_status df_keys_revoke(df_keys *keys, const char *id_or_name, df_key *out, df_error *error);

/* Re-reads the snapshot from the database (SIGHUP). */
df_status df_keys_reload(df_keys *keys, df_error *error);

/* Active (not revoked) keys in the snapshot. */
int df_keys_active_count(df_keys *keys);

/* 1 when the directory is keyed: it has had a key (revoked or not) since
 * it was last opened with df_keys_disable_auth, or has an active key. A
 * keyed directory with no active key refuses every request that needs a
 * key: revoking the last key never opens the server. As of the snapshot
 * (df_keys_open, df_keys_reload, and this process's create, revoke and
 * disable). */
int df_keys_keyed(df_keys *keys);

/* Turns keyed mode off for the directory: servers on it answer without a
 * key again (after SIGHUP or a restart). DF_ERR_INVALID_ARGUMENT while a key
 * is active (revoke them first); creating a key turns keyed mode back on. */
df_status df_keys_disable_auth(df_keys *keys, df_error *error);

/* 1 with *out filled when `presented` (the whole key as the client sent it)
 * is an active key of the snapshot; 0 otherwise (unknown, malformed,
 * revoked). Constant time in the secret. */
int df_keys_verify(df_keys *keys, const char *presented, df_key *out);

/* Counts usage against `key_id` (DF_KEY_ANONYMOUS when there are no keys) in
 * memory, for today (UTC). Never fails (no I/O). */
void df_keys_count_request(df_keys *keys, const char *key_id);
void df_keys_count_job(df_keys *keys, const char *key_id, long images, double pixel_steps,
                       double compute_seconds);
/* Writes the counters gathered since the last flush (one transaction). On
 * failure they stay in memory for the next try. */
df_status df_keys_flush(df_keys *keys, df_error *error);

/* Usage from the database plus what is not flushed yet, as JSON (new
 * reference): {"keys": [{"key_id", "name", "admin", "revoked",
 *   "total": {"requests", "images", "pixel_steps", "compute_seconds"},
 *   "days": [{"date": "YYYY-MM-DD", "requests", ...}, ...newest first]}]}
 * `key_id` NULL: every key, active and revoked, oldest first, then
 * "anonymous" when it has usage; otherwise that key alone (an id, not a
 * name; "anonymous" works too; an unknown id is DF_ERR_INVALID_ARGUMENT).
 * A key without usage has zero totals and no days. `days`: only days with
 * usage, within the last `max_days` UTC days counting today (<= 0: all);
 * `total` covers every day recorded, whatever `max_days`. "name" of
 * "anonymous" is "anonymous". Counters of other processes show once they
 * have flushed. */
/* The days of usage a report covers: the default, and the most that
 * `diffuse usage --days` and GET /v1/usage?days= accept (a hundred years). */
#define DF_KEYS_USAGE_DEFAULT_DAYS 30
#define DF_KEYS_USAGE_MAX_DAYS 36500
df_status df_keys_usage(df_keys *keys, const char *key_id, int max_days, json_t **out,
                        df_error *error);

#endif
