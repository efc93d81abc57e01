/*
 * keys.c — API keys and per-key usage (see keys.h for the key format and the
 * contract). Tables `keys` and `usage` live in DIR/diffuse.db beside the job
 * store's `jobs`; this file never touches PRAGMA user_version (the job store
 * owns it) and creates its tables with IF NOT EXISTS, so either side may open
 * the database first.
 *
 * Invariants:
 *  - Two locks. `db_lock` serialises use of the connection, so a transaction
 *    (BEGIN ... COMMIT) is never interleaved with another thread's statement;
 *    `lock` guards the in-memory snapshot and the pending usage counters.
 *    Order: db_lock before lock, never the other way, and `lock` is never
 *    held across a database call. So df_keys_verify and df_keys_count_* (the
 *    request path) only ever wait for other memory operations, never for
 *    SQLite or its busy timeout.
 *  - The snapshot holds the active keys only, each with its stored hash,
 *    and whether the directory is keyed (below).
 *  - Keyed mode outlives the keys: a directory that has had a key stays
 *    keyed when every key is revoked (no key then opens nothing), until
 *    df_keys_disable_auth. key_settings' 'auth' row says so ('keys' or
 *    'open'); a database from before that row is keyed when it has any
 *    key row, revoked or not.
 *  - Pending counters are those not yet in the database. df_keys_flush moves
 *    them out under `lock` and writes them while holding db_lock; on failure
 *    it adds them back. df_keys_usage holds db_lock, so it never sees the
 *    window in which counters are neither pending nor committed.
 *  - Key names are unique among active keys: checked inside the creating
 *    transaction (for a clear message) and enforced by a partial unique
 *    index (for any other writer).
 */
#include "server/keys.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>

#include "runtime/error.h"
#include "server/datadir.h"

#define HASH_SIZE crypto_generichash_BYTES /* 32: BLAKE2b-256 */
#define KEY_PREFIX "dfk_"
#define KEY_PREFIX_LENGTH 4
#define ID_HEX_DIGITS 12
#define SECRET_BYTES 32
#define SECRET_CHARS 43 /* base64 of 32 bytes, no padding */
#define KEY_LENGTH (KEY_PREFIX_LENGTH + ID_HEX_DIGITS + 1 + SECRET_CHARS)
#define DAY_SIZE 11 /* "YYYY-MM-DD" */
/* Room for a key id or DF_KEY_ANONYMOUS in a pending counter. */
#define COUNTER_ID_SIZE 16
/* A new id collides with an existing one with odds of 2^-48 per key; a few
 * tries turn "almost never" into "never". */
#define CREATE_ATTEMPTS 4

typedef struct key_entry {
    df_key key;
    unsigned char hash[HASH_SIZE];
} key_entry;

typedef struct usage_counter {
    char key_id[COUNTER_ID_SIZE];
    char day[DAY_SIZE];
    long long requests, images;
    double pixel_steps, compute_seconds;
} usage_counter;

typedef struct counter_list {
    usage_counter *items;
    int count, capacity;
} counter_list;

struct df_keys {
    sqlite3 *db;
    pthread_mutex_t db_lock; /* the connection; taken before `lock` */
    pthread_mutex_t lock;    /* snapshot, pending */
    key_entry *snapshot;
    int snapshot_count;
    int keyed; /* see the invariants */
    counter_list pending;
    /* Compared against when the presented id is unknown, so that an unknown
     * id costs the same as a known one with a wrong secret. */
    unsigned char dummy_hash[HASH_SIZE];
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  rate_per_minute REAL NOT NULL,"
    "  daily_images INTEGER NOT NULL,"
    "  admin INTEGER NOT NULL,"
    "  created REAL NOT NULL,"
    "  revoked REAL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS keys_active_name ON keys(name) WHERE revoked IS NULL;"
    "CREATE TABLE IF NOT EXISTS usage ("
    "  key_id TEXT NOT NULL,"
    "  day TEXT NOT NULL,"
    "  requests INTEGER NOT NULL DEFAULT 0,"
    "  images INTEGER NOT NULL DEFAULT 0,"
    "  pixel_steps REAL NOT NULL DEFAULT 0,"
    "  compute_seconds REAL NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(key_id, day));"
    "CREATE TABLE IF NOT EXISTS key_settings ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);";

/* 1 when the directory is keyed (see the invariants). */
#define KEYED_SQL                                                                    \
    "SELECT COALESCE((SELECT value = 'keys' FROM key_settings WHERE name = 'auth'), " \
    "EXISTS(SELECT 1 FROM keys))"
#define SET_AUTH_SQL                                                                 \
    "INSERT INTO key_settings(name, value) VALUES('auth', ?) "                       \
    "ON CONFLICT(name) DO UPDATE SET value = excluded.value"

#define KEY_COLUMNS "id, name, rate_per_minute, daily_images, admin, created, revoked, hash"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static df_status db_error(df_keys *keys, df_error *error, const char *what)
{
    return df_error_set(error, DF_ERR_IO, "keys database: %s: %s", what, sqlite3_errmsg(keys->db));
}

static df_status no_memory(df_error *error)
{
    return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec * 1e-9;
}

/* The UTC day `seconds_ago` before now as "YYYY-MM-DD". */
static void utc_day(time_t seconds_ago, char day[DAY_SIZE])
{
    time_t when = time(NULL) - seconds_ago;
    struct tm parts;
    gmtime_r(&when, &parts);
    strftime(day, DAY_SIZE, "%Y-%m-%d", &parts);
}

static void copy_text(char *to, size_t size, const char *from)
{
    snprintf(to, size, "%s", from ? from : "");
}

/* Runs a statement without results (BEGIN, COMMIT, ROLLBACK). */
static int exec_simple(df_keys *keys, const char *sql)
{
    return sqlite3_exec(keys->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static int is_key_id(const char *text)
{
    if (strlen(text) != ID_HEX_DIGITS)
        return 0;
    for (int i = 0; i < ID_HEX_DIGITS; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return 0;
    return 1;
}

/* A name is shown in listings, logs and JSON and typed back on the command
 * line: valid UTF-8 without control characters, no leading or trailing
 * space, and never something that reads as a key id or as "anonymous"
 * (revoke and usage accept an id or a name, and must not have to guess). */
static df_status check_name(const char *name, df_error *error)
{
    size_t length = name ? strlen(name) : 0;
    if (length == 0 || length >= DF_KEY_NAME_SIZE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "a key name must have 1 to %d bytes, got %zu", DF_KEY_NAME_SIZE - 1,
                            length);
    const utf8proc_uint8_t *bytes = (const utf8proc_uint8_t *)name;
    for (size_t at = 0; at < length;) {
        utf8proc_int32_t code_point;
        utf8proc_ssize_t used =
            utf8proc_iterate(bytes + at, (utf8proc_ssize_t)(length - at), &code_point);
        if (used <= 0)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "key name is not valid UTF-8 (byte %zu)", at);
        utf8proc_category_t category = utf8proc_category(code_point);
        if (category == UTF8PROC_CATEGORY_CC || category == UTF8PROC_CATEGORY_ZL ||
            category == UTF8PROC_CATEGORY_ZP)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "key name has a control character (byte %zu)", at);
        at += (size_t)used;
    }
    if (name[0] == ' ' || name[length - 1] == ' ')
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "key name '%s' starts or ends with a space", name);
    if (is_key_id(name))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "key name '%s' looks like a key id (12 hex digits); pick another",
                            name);
    if (!strcmp(name, DF_KEY_ANONYMOUS))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "key name '%s' is reserved (usage without a key)", name);
    return DF_OK;
}

/* Fills a key from a row selected with KEY_COLUMNS; `hash` (may be NULL)
 * gets the stored hash. 0 when the stored hash has the wrong size. */
static int read_key_row(sqlite3_stmt *stmt, df_key *key, unsigned char *hash)
{
    memset(key, 0, sizeof *key);
    copy_text(key->id, sizeof key->id, (const char *)sqlite3_column_text(stmt, 0));
    copy_text(key->name, sizeof key->name, (const char *)sqlite3_column_text(stmt, 1));
    key->rate_per_minute = sqlite3_column_double(stmt, 2);
    key->daily_images = (long)sqlite3_column_int64(stmt, 3);
    key->admin = sqlite3_column_int(stmt, 4) != 0;
    key->created = sqlite3_column_double(stmt, 5);
    key->revoked = sqlite3_column_type(stmt, 6) != SQLITE_NULL;
    key->revoked_at = key->revoked ? sqlite3_column_double(stmt, 6) : 0;
    if (!hash)
        return 1;
    if (sqlite3_column_bytes(stmt, 7) != HASH_SIZE)
        return 0;
    memcpy(hash, sqlite3_column_blob(stmt, 7), HASH_SIZE);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Opening and the snapshot                                                 */

/* The active keys with their hashes, from the database. Caller holds db_lock. */
static df_status read_snapshot(df_keys *keys, key_entry **out, int *count, df_error *error)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(keys->db,
                           "SELECT " KEY_COLUMNS " FROM keys WHERE revoked IS NULL "
                           "ORDER BY created, rowid",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_error(keys, error, "load keys");
    key_entry *entries = NULL;
    int used = 0, capacity = 0, rc;
    df_status status = DF_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (used == capacity) {
            int grown = capacity ? capacity * 2 : 16;
            key_entry *bigger = realloc(entries, (size_t)grown * sizeof *bigger);
            if (!bigger) {
                status = no_memory(error);
                break;
            }
            entries = bigger;
            capacity = grown;
        }
        if (!read_key_row(stmt, &entries[used].key, entries[used].hash)) {
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "keys database: key %s has a hash of %d bytes, not %d",
                                  entries[used].key.id, sqlite3_column_bytes(stmt, 7),
                                  HASH_SIZE);
            break;
        }
        used++;
    }
    if (!status && rc != SQLITE_DONE)
        status = db_error(keys, error, "load keys");
    sqlite3_finalize(stmt);
    if (status) {
        free(entries);
        return status;
    }
    *out = entries;
    *count = used;
    return DF_OK;
}

/* One integer from a statement without parameters. Caller holds db_lock. */
static df_status query_int(df_keys *keys, const char *sql, const char *what, int *out,
                           df_error *error)
{
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW)
        status = db_error(keys, error, what);
    else
        *out = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return status;
}

static df_status reload_locked(df_keys *keys, df_error *error)
{
    key_entry *entries;
    int count, keyed = 1;
    df_status status = query_int(keys, KEYED_SQL, "load keys", &keyed, error);
    if (!status)
        status = read_snapshot(keys, &entries, &count, error);
    if (status)
        return status;
    pthread_mutex_lock(&keys->lock);
    key_entry *old = keys->snapshot;
    keys->snapshot = entries;
    keys->snapshot_count = count;
    keys->keyed = keyed || count > 0;
    pthread_mutex_unlock(&keys->lock);
    free(old);
    return DF_OK;
}

df_status df_keys_open(const char *data_dir, df_keys **out, df_error *error)
{
    *out = NULL;
    if (sodium_init() < 0)
        return df_error_set(error, DF_ERR_INTERNAL, "libsodium failed to initialise");
    df_status made = df_datadir_make(data_dir, error);
    if (made)
        return made;

    df_keys *keys = calloc(1, sizeof *keys);
    size_t path_size = strlen(data_dir) + sizeof "/diffuse.db";
    char *db_path = malloc(path_size);
    if (!keys || !db_path) {
        free(keys);
        free(db_path);
        return no_memory(error);
    }
    snprintf(db_path, path_size, "%s/diffuse.db", data_dir);
    pthread_mutex_init(&keys->db_lock, NULL);
    pthread_mutex_init(&keys->lock, NULL);
    randombytes_buf(keys->dummy_hash, sizeof keys->dummy_hash);

    /* Made here, 0600, before SQLite would make it 0644 (see datadir.h). */
    df_status status = df_datadir_create_private(db_path, error);
    if (status) {
        /* the message names the file */
    } else if (sqlite3_open_v2(db_path, &keys->db,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                               NULL) != SQLITE_OK) {
        status = df_error_set(error, DF_ERR_IO, "keys database %s: %s", db_path,
                              keys->db ? sqlite3_errmsg(keys->db) : "cannot open");
    } else {
        sqlite3_busy_timeout(keys->db, 5000); /* a server or a CLI on the same DIR */
        char *message = NULL;
        if (sqlite3_exec(keys->db, schema, NULL, NULL, &message) != SQLITE_OK)
            status = df_error_set(error, DF_ERR_IO, "keys database %s: %s", db_path,
                                  message ? message : "schema");
        sqlite3_free(message);
    }
    if (!status) {
        pthread_mutex_lock(&keys->db_lock);
        status = reload_locked(keys, error);
        pthread_mutex_unlock(&keys->db_lock);
    }
    free(db_path);
    if (status) {
        df_keys_close(keys);
        return status;
    }
    *out = keys;
    return DF_OK;
}

void df_keys_close(df_keys *keys)
{
    if (!keys)
        return;
    /* Counters that cannot be written now are lost: there is no later. */
    if (keys->db)
        df_keys_flush(keys, NULL);
    sqlite3_close(keys->db);
    pthread_mutex_destroy(&keys->db_lock);
    pthread_mutex_destroy(&keys->lock);
    free(keys->snapshot);
    free(keys->pending.items);
    free(keys);
}

df_status df_keys_reload(df_keys *keys, df_error *error)
{
    pthread_mutex_lock(&keys->db_lock);
    df_status status = reload_locked(keys, error);
    pthread_mutex_unlock(&keys->db_lock);
    return status;
}

int df_keys_active_count(df_keys *keys)
{
    pthread_mutex_lock(&keys->lock);
    int count = keys->snapshot_count;
    pthread_mutex_unlock(&keys->lock);
    return count;
}

int df_keys_keyed(df_keys *keys)
{
    pthread_mutex_lock(&keys->lock);
    int keyed = keys->keyed;
    pthread_mutex_unlock(&keys->lock);
    return keyed;
}

/* Sets key_settings' 'auth' to `value`. Caller holds db_lock, in a write
 * transaction. */
static df_status set_auth(df_keys *keys, const char *value, df_error *error)
{
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db, SET_AUTH_SQL, -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(keys, error, "auth mode");
    } else {
        sqlite3_bind_text(stmt, 1, value, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            status = db_error(keys, error, "auth mode");
    }
    sqlite3_finalize(stmt);
    return status;
}

df_status df_keys_disable_auth(df_keys *keys, df_error *error)
{
    pthread_mutex_lock(&keys->db_lock);
    if (!exec_simple(keys, "BEGIN IMMEDIATE")) {
        df_status status = db_error(keys, error, "disable auth");
        pthread_mutex_unlock(&keys->db_lock);
        return status;
    }
    int active = 0;
    /* Counted inside the transaction: a key created meanwhile by another
     * process is seen, so keyed mode is never dropped under an active key. */
    df_status status = query_int(keys, "SELECT COUNT(*) FROM keys WHERE revoked IS NULL",
                                 "disable auth", &active, error);
    if (!status && active > 0)
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                              "%d key(s) active: revoke them first (`diffuse keys revoke`); "
                              "authentication stays on while a key is active",
                              active);
    if (!status)
        status = set_auth(keys, "open", error);
    if (!status && !exec_simple(keys, "COMMIT"))
        status = db_error(keys, error, "disable auth (commit)");
    if (status) {
        exec_simple(keys, "ROLLBACK");
    } else {
        pthread_mutex_lock(&keys->lock);
        keys->keyed = keys->snapshot_count > 0;
        pthread_mutex_unlock(&keys->lock);
    }
    pthread_mutex_unlock(&keys->db_lock);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Creating, listing, revoking                                              */

/* A fresh id and whole key ("dfk_<id>_<secret>"), and the key's hash. */
static void new_key(char id[DF_KEY_ID_SIZE], char whole[KEY_LENGTH + 1],
                    unsigned char hash[HASH_SIZE])
{
    unsigned char id_bytes[ID_HEX_DIGITS / 2], secret_bytes[SECRET_BYTES];
    char secret[SECRET_CHARS + 1];
    randombytes_buf(id_bytes, sizeof id_bytes);
    randombytes_buf(secret_bytes, sizeof secret_bytes);
    sodium_bin2hex(id, DF_KEY_ID_SIZE, id_bytes, sizeof id_bytes);
    sodium_bin2base64(secret, sizeof secret, secret_bytes, sizeof secret_bytes,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(whole, KEY_LENGTH + 1, KEY_PREFIX "%s_%s", id, secret);
    crypto_generichash(hash, HASH_SIZE, (const unsigned char *)whole, KEY_LENGTH, NULL, 0);
    sodium_memzero(secret_bytes, sizeof secret_bytes);
    sodium_memzero(secret, sizeof secret);
}

/* Inserts the key inside a write transaction, after checking that its name
 * is free. Caller holds db_lock. *collided: the id was taken (try another). */
static df_status insert_key(df_keys *keys, const df_key *key, const unsigned char *hash,
                            int *collided, df_error *error)
{
    *collided = 0;
    if (!exec_simple(keys, "BEGIN IMMEDIATE"))
        return db_error(keys, error, "create");
    sqlite3_stmt *find = NULL, *insert = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db, "SELECT id FROM keys WHERE name=? AND revoked IS NULL",
                           -1, &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(keys->db,
                           "INSERT INTO keys(id, name, hash, rate_per_minute, daily_images, "
                           "admin, created) VALUES(?, ?, ?, ?, ?, ?, ?)",
                           -1, &insert, NULL) != SQLITE_OK) {
        status = db_error(keys, error, "create");
    } else {
        sqlite3_bind_text(find, 1, key->name, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(find);
        if (rc == SQLITE_ROW) {
            status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                  "an active key is already named '%s' (id %s)", key->name,
                                  (const char *)sqlite3_column_text(find, 0));
        } else if (rc != SQLITE_DONE) {
            status = db_error(keys, error, "create");
        } else {
            sqlite3_bind_text(insert, 1, key->id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(insert, 2, key->name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(insert, 3, hash, HASH_SIZE, SQLITE_TRANSIENT);
            sqlite3_bind_double(insert, 4, key->rate_per_minute);
            sqlite3_bind_int64(insert, 5, key->daily_images);
            sqlite3_bind_int(insert, 6, key->admin);
            sqlite3_bind_double(insert, 7, key->created);
            rc = sqlite3_step(insert);
            if (rc == SQLITE_CONSTRAINT) {
                *collided = 1;
                status = df_error_set(error, DF_ERR_INTERNAL, "key id %s already exists",
                                      key->id);
            } else if (rc != SQLITE_DONE) {
                status = db_error(keys, error, "create");
            } else {
                status = set_auth(keys, "keys", error);
            }
        }
    }
    sqlite3_finalize(find);
    sqlite3_finalize(insert);
    if (!status && !exec_simple(keys, "COMMIT"))
        status = db_error(keys, error, "create (commit)");
    if (status)
        exec_simple(keys, "ROLLBACK");
    return status;
}

df_status df_keys_create(df_keys *keys, const char *name, double rate_per_minute,
                         long daily_images, int admin, df_key *out, char *secret,
                         size_t secret_size, df_error *error)
{
    df_status status = check_name(name, error);
    if (status)
        return status;
    /* The negated comparison also refuses NaN. */
    if (!(rate_per_minute >= 0 && rate_per_minute <= 1e12))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "rate %g per minute is out of range (0 = unlimited)",
                            rate_per_minute);
    if (daily_images < 0)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "daily images %ld is negative (0 = unlimited)", daily_images);
    if (!secret || secret_size < KEY_LENGTH + 1)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "a key needs %d bytes of room, got %zu", KEY_LENGTH + 1,
                            secret ? secret_size : 0);

    key_entry entry;
    memset(&entry, 0, sizeof entry);
    copy_text(entry.key.name, sizeof entry.key.name, name);
    entry.key.rate_per_minute = rate_per_minute;
    entry.key.daily_images = daily_images;
    entry.key.admin = admin != 0;
    entry.key.created = now_seconds();
    char whole[KEY_LENGTH + 1];

    pthread_mutex_lock(&keys->db_lock);
    int collided = 1;
    for (int attempt = 0; collided && attempt < CREATE_ATTEMPTS; attempt++) {
        new_key(entry.key.id, whole, entry.hash);
        status = insert_key(keys, &entry.key, entry.hash, &collided, error);
    }
    if (!status) {
        pthread_mutex_lock(&keys->lock);
        key_entry *bigger =
            realloc(keys->snapshot, (size_t)(keys->snapshot_count + 1) * sizeof *bigger);
        if (bigger) {
            keys->snapshot = bigger;
            keys->snapshot[keys->snapshot_count++] = entry;
        }
        keys->keyed = 1;
        pthread_mutex_unlock(&keys->lock);
        /* The key is in the database either way; a reload picks it up. */
        if (!bigger)
            status = reload_locked(keys, error);
    }
    pthread_mutex_unlock(&keys->db_lock);
    if (!status) {
        memcpy(secret, whole, KEY_LENGTH + 1);
        if (out)
            *out = entry.key;
    }
    sodium_memzero(whole, sizeof whole);
    return status;
}

df_status df_keys_list(df_keys *keys, df_key **out, int *count, df_error *error)
{
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&keys->db_lock);
    sqlite3_stmt *stmt = NULL;
    df_key *list = NULL;
    int used = 0, capacity = 0;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db, "SELECT " KEY_COLUMNS " FROM keys ORDER BY created, rowid",
                           -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(keys, error, "list");
    } else {
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (used == capacity) {
                int grown = capacity ? capacity * 2 : 16;
                df_key *bigger = realloc(list, (size_t)grown * sizeof *bigger);
                if (!bigger) {
                    status = no_memory(error);
                    break;
                }
                list = bigger;
                capacity = grown;
            }
            read_key_row(stmt, &list[used++], NULL);
        }
        if (!status && rc != SQLITE_DONE)
            status = db_error(keys, error, "list");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&keys->db_lock);
    if (status) {
        free(list);
        return status;
    }
    *out = list;
    *count = used;
    return DF_OK;
}

df_status df_keys_revoke(df_keys *keys, const char *id_or_name, df_key *out, df_error *error)
{
    if (!id_or_name || !*id_or_name)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no key id or name given");
    pthread_mutex_lock(&keys->db_lock);
    if (!exec_simple(keys, "BEGIN IMMEDIATE")) {
        df_status status = db_error(keys, error, "revoke");
        pthread_mutex_unlock(&keys->db_lock);
        return status;
    }
    sqlite3_stmt *find = NULL, *update = NULL;
    df_status status = DF_OK;
    df_key key;
    memset(&key, 0, sizeof key);
    /* An id wins over a name (names cannot look like ids, but older rows
     * are not re-checked). */
    if (sqlite3_prepare_v2(keys->db,
                           "SELECT " KEY_COLUMNS " FROM keys WHERE revoked IS NULL AND "
                           "(id=?1 OR name=?1) ORDER BY id=?1 DESC LIMIT 1",
                           -1, &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(keys->db, "UPDATE keys SET revoked=? WHERE id=?", -1, &update,
                           NULL) != SQLITE_OK) {
        status = db_error(keys, error, "revoke");
    } else {
        sqlite3_bind_text(find, 1, id_or_name, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(find);
        if (rc == SQLITE_DONE) {
            status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                  "no active key with id or name '%s'", id_or_name);
        } else if (rc != SQLITE_ROW) {
            status = db_error(keys, error, "revoke");
        } else {
            read_key_row(find, &key, NULL);
            key.revoked = 1;
            key.revoked_at = now_seconds();
            sqlite3_bind_double(update, 1, key.revoked_at);
            sqlite3_bind_text(update, 2, key.id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(update) != SQLITE_DONE)
                status = db_error(keys, error, "revoke");
        }
    }
    sqlite3_finalize(find);
    sqlite3_finalize(update);
    if (!status && !exec_simple(keys, "COMMIT"))
        status = db_error(keys, error, "revoke (commit)");
    if (status) {
        exec_simple(keys, "ROLLBACK");
    } else {
        pthread_mutex_lock(&keys->lock);
        for (int i = 0; i < keys->snapshot_count; i++)
            if (!strcmp(keys->snapshot[i].key.id, key.id)) {
                keys->snapshot[i] = keys->snapshot[--keys->snapshot_count];
                break;
            }
        pthread_mutex_unlock(&keys->lock);
        if (out)
            *out = key;
    }
    pthread_mutex_unlock(&keys->db_lock);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */

/* "dfk_" + 12 lowercase hex + "_" + 43 base64url characters. Only the shape
 * is checked here: the shape is public, the secret is not. */
static int well_formed(const char *presented)
{
    if (strnlen(presented, KEY_LENGTH + 1) != KEY_LENGTH ||
        memcmp(presented, KEY_PREFIX, KEY_PREFIX_LENGTH))
        return 0;
    char id[ID_HEX_DIGITS + 1];
    memcpy(id, presented + KEY_PREFIX_LENGTH, ID_HEX_DIGITS);
    id[ID_HEX_DIGITS] = 0;
    if (!is_key_id(id) || presented[KEY_PREFIX_LENGTH + ID_HEX_DIGITS] != '_')
        return 0;
    for (int i = KEY_PREFIX_LENGTH + ID_HEX_DIGITS + 1; i < KEY_LENGTH; i++) {
        char c = presented[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int df_keys_verify(df_keys *keys, const char *presented, df_key *out)
{
    if (!presented || !well_formed(presented))
        return 0;
    unsigned char hash[HASH_SIZE];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)presented, KEY_LENGTH, NULL, 0);
    const char *id = presented + KEY_PREFIX_LENGTH;
    pthread_mutex_lock(&keys->lock);
    /* The whole snapshot, found or not, so the time does not depend on
     * whether (or where) the id is known. */
    const key_entry *found = NULL;
    for (int i = 0; i < keys->snapshot_count; i++)
        if (!strncmp(keys->snapshot[i].key.id, id, ID_HEX_DIGITS))
            found = &keys->snapshot[i];
    int match = sodium_memcmp(hash, found ? found->hash : keys->dummy_hash, HASH_SIZE) == 0;
    int valid = found && match;
    if (valid && out)
        *out = found->key;
    pthread_mutex_unlock(&keys->lock);
    sodium_memzero(hash, sizeof hash);
    return valid;
}

/* ------------------------------------------------------------------------ */
/* Usage counters                                                           */

/* The counter of (key_id, day) in `list`, added when missing; NULL when it
 * cannot be (out of memory, an id too long to be ours). */
static usage_counter *find_counter(counter_list *list, const char *key_id, const char *day)
{
    if (!key_id || strlen(key_id) >= COUNTER_ID_SIZE)
        return NULL;
    for (int i = 0; i < list->count; i++)
        if (!strcmp(list->items[i].key_id, key_id) && !strcmp(list->items[i].day, day))
            return &list->items[i];
    if (list->count == list->capacity) {
        int grown = list->capacity ? list->capacity * 2 : 16;
        usage_counter *bigger = realloc(list->items, (size_t)grown * sizeof *bigger);
        if (!bigger)
            return NULL;
        list->items = bigger;
        list->capacity = grown;
    }
    usage_counter *counter = &list->items[list->count++];
    memset(counter, 0, sizeof *counter);
    copy_text(counter->key_id, sizeof counter->key_id, key_id);
    copy_text(counter->day, sizeof counter->day, day);
    return counter;
}

static void add_counter(usage_counter *to, const usage_counter *from)
{
    to->requests += from->requests;
    to->images += from->images;
    to->pixel_steps += from->pixel_steps;
    to->compute_seconds += from->compute_seconds;
}

/* Adds to today's counter of `key_id`; `request` counts one request, the
 * rest one finished job. */
static void count(df_keys *keys, const char *key_id, int request, long images,
                  double pixel_steps, double compute_seconds)
{
    char day[DAY_SIZE];
    utc_day(0, day);
    pthread_mutex_lock(&keys->lock);
    usage_counter *counter = find_counter(&keys->pending, key_id, day);
    if (counter) {
        if (request)
            counter->requests++;
        /* Negative or non-finite amounts would poison the totals for good. */
        if (images > 0)
            counter->images += images;
        if (pixel_steps > 0 && pixel_steps < 1e300)
            counter->pixel_steps += pixel_steps;
        if (compute_seconds > 0 && compute_seconds < 1e300)
            counter->compute_seconds += compute_seconds;
    }
    pthread_mutex_unlock(&keys->lock);
}

void df_keys_count_request(df_keys *keys, const char *key_id)
{
    count(keys, key_id, 1, 0, 0, 0);
}

void df_keys_count_job(df_keys *keys, const char *key_id, long images, double pixel_steps,
                       double compute_seconds)
{
    count(keys, key_id, 0, images, pixel_steps, compute_seconds);
}

/* Writes `list` in one transaction. Caller holds db_lock. */
static df_status write_counters(df_keys *keys, const counter_list *list, df_error *error)
{
    if (!exec_simple(keys, "BEGIN IMMEDIATE"))
        return db_error(keys, error, "flush usage");
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db,
                           "INSERT INTO usage(key_id, day, requests, images, pixel_steps, "
                           "compute_seconds) VALUES(?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT(key_id, day) DO UPDATE SET "
                           "requests = requests + excluded.requests, "
                           "images = images + excluded.images, "
                           "pixel_steps = pixel_steps + excluded.pixel_steps, "
                           "compute_seconds = compute_seconds + excluded.compute_seconds",
                           -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(keys, error, "flush usage");
    } else {
        for (int i = 0; i < list->count && !status; i++) {
            const usage_counter *counter = &list->items[i];
            sqlite3_bind_text(stmt, 1, counter->key_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(stmt, 2, counter->day, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(stmt, 3, counter->requests);
            sqlite3_bind_int64(stmt, 4, counter->images);
            sqlite3_bind_double(stmt, 5, counter->pixel_steps);
            sqlite3_bind_double(stmt, 6, counter->compute_seconds);
            if (sqlite3_step(stmt) != SQLITE_DONE)
                status = db_error(keys, error, "flush usage");
            sqlite3_reset(stmt);
        }
    }
    sqlite3_finalize(stmt);
    if (!status && !exec_simple(keys, "COMMIT"))
        status = db_error(keys, error, "flush usage (commit)");
    if (status)
        exec_simple(keys, "ROLLBACK");
    return status;
}

df_status df_keys_flush(df_keys *keys, df_error *error)
{
    pthread_mutex_lock(&keys->db_lock);
    pthread_mutex_lock(&keys->lock);
    counter_list taken = keys->pending;
    memset(&keys->pending, 0, sizeof keys->pending);
    pthread_mutex_unlock(&keys->lock);

    df_status status = taken.count ? write_counters(keys, &taken, error) : DF_OK;
    if (status) {
        /* Back into pending, on top of what arrived meanwhile. A counter
         * that finds no room is lost: only under memory exhaustion. */
        pthread_mutex_lock(&keys->lock);
        for (int i = 0; i < taken.count; i++) {
            usage_counter *counter =
                find_counter(&keys->pending, taken.items[i].key_id, taken.items[i].day);
            if (counter)
                add_counter(counter, &taken.items[i]);
        }
        pthread_mutex_unlock(&keys->lock);
    }
    pthread_mutex_unlock(&keys->db_lock);
    free(taken.items);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Usage report                                                             */

/* One key of the report. */
typedef struct report_key {
    df_key key;
    int known; /* a row of `keys` (else anonymous or an id without a row) */
} report_key;

typedef struct report_list {
    report_key *items;
    int count, capacity;
} report_list;

static int report_has(const report_list *list, const char *key_id)
{
    for (int i = 0; i < list->count; i++)
        if (!strcmp(list->items[i].key.id, key_id))
            return 1;
    return 0;
}

static int report_add(report_list *list, const df_key *key, int known)
{
    if (list->count == list->capacity) {
        int grown = list->capacity ? list->capacity * 2 : 16;
        report_key *bigger = realloc(list->items, (size_t)grown * sizeof *bigger);
        if (!bigger)
            return 0;
        list->items = bigger;
        list->capacity = grown;
    }
    list->items[list->count].key = *key;
    list->items[list->count].known = known;
    list->count++;
    return 1;
}

static int report_add_id(report_list *list, const char *key_id)
{
    if (report_has(list, key_id))
        return 1;
    df_key key;
    memset(&key, 0, sizeof key);
    copy_text(key.id, sizeof key.id, key_id);
    if (!strcmp(key_id, DF_KEY_ANONYMOUS))
        copy_text(key.name, sizeof key.name, DF_KEY_ANONYMOUS);
    return report_add(list, &key, 0);
}

/* Which keys the report covers: the one asked for, or every row of `keys`
 * plus any other id with usage (anonymous). Caller holds db_lock. */
static df_status report_keys(df_keys *keys, const char *key_id, const counter_list *pending,
                             report_list *list, df_error *error)
{
    sqlite3_stmt *stmt = NULL;
    const char *sql = key_id ? "SELECT " KEY_COLUMNS " FROM keys WHERE id=?"
                             : "SELECT " KEY_COLUMNS " FROM keys ORDER BY created, rowid";
    if (sqlite3_prepare_v2(keys->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return db_error(keys, error, "usage");
    if (key_id)
        sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_TRANSIENT);
    df_status status = DF_OK;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        df_key key;
        read_key_row(stmt, &key, NULL);
        if (!report_add(list, &key, 1)) {
            status = no_memory(error);
            break;
        }
    }
    if (!status && rc != SQLITE_DONE)
        status = db_error(keys, error, "usage");
    sqlite3_finalize(stmt);
    if (status)
        return status;

    if (key_id) {
        if (list->count == 0 && strcmp(key_id, DF_KEY_ANONYMOUS))
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no key with id '%s'", key_id);
        if (list->count == 0 && !report_add_id(list, key_id))
            return no_memory(error);
        return DF_OK;
    }
    if (sqlite3_prepare_v2(keys->db, "SELECT DISTINCT key_id FROM usage", -1, &stmt, NULL) !=
        SQLITE_OK)
        return db_error(keys, error, "usage");
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        if (id && !report_add_id(list, id)) {
            status = no_memory(error);
            break;
        }
    }
    if (!status && rc != SQLITE_DONE)
        status = db_error(keys, error, "usage");
    sqlite3_finalize(stmt);
    for (int i = 0; i < pending->count && !status; i++)
        if (!report_add_id(list, pending->items[i].key_id))
            status = no_memory(error);
    return status;
}

static json_t *counter_json(const usage_counter *counter, const char *date)
{
    json_t *object = json_pack("{s:I, s:I, s:f, s:f}", "requests", (json_int_t)counter->requests,
                               "images", (json_int_t)counter->images, "pixel_steps",
                               counter->pixel_steps, "compute_seconds",
                               counter->compute_seconds);
    if (object && date && json_object_set_new(object, "date", json_string(date))) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static int newest_first(const void *a, const void *b)
{
    return strcmp(((const usage_counter *)b)->day, ((const usage_counter *)a)->day);
}

/* One key's entry: its database rows plus its pending counters, merged per
 * day in `days` (whose counters leave key_id empty). Caller holds db_lock. */
static df_status report_entry(df_keys *keys, const report_key *item, const counter_list *pending,
                              const char *first_day, json_t **out, df_error *error)
{
    *out = NULL;
    counter_list days = {0};
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(keys->db,
                           "SELECT day, requests, images, pixel_steps, compute_seconds FROM "
                           "usage WHERE key_id=?",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_error(keys, error, "usage");
    sqlite3_bind_text(stmt, 1, item->key.id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *day = (const char *)sqlite3_column_text(stmt, 0);
        usage_counter row = {.requests = sqlite3_column_int64(stmt, 1),
                             .images = sqlite3_column_int64(stmt, 2),
                             .pixel_steps = sqlite3_column_double(stmt, 3),
                             .compute_seconds = sqlite3_column_double(stmt, 4)};
        usage_counter *counter = find_counter(&days, "", day ? day : "");
        if (!counter) {
            status = no_memory(error);
            break;
        }
        add_counter(counter, &row);
    }
    if (!status && rc != SQLITE_DONE)
        status = db_error(keys, error, "usage");
    sqlite3_finalize(stmt);
    for (int i = 0; i < pending->count && !status; i++) {
        if (strcmp(pending->items[i].key_id, item->key.id))
            continue;
        usage_counter *counter = find_counter(&days, "", pending->items[i].day);
        if (!counter)
            status = no_memory(error);
        else
            add_counter(counter, &pending->items[i]);
    }
    if (status) {
        free(days.items);
        return status;
    }

    if (days.count)
        qsort(days.items, (size_t)days.count, sizeof *days.items, newest_first);
    usage_counter total = {0};
    json_t *day_list = json_array();
    for (int i = 0; i < days.count && day_list; i++) {
        add_counter(&total, &days.items[i]);
        if (first_day && strcmp(days.items[i].day, first_day) < 0)
            continue;
        json_t *day = counter_json(&days.items[i], days.items[i].day);
        if (!day || json_array_append_new(day_list, day)) {
            json_decref(day_list);
            day_list = NULL;
        }
    }
    free(days.items);
    json_t *name = item->key.name[0] ? json_string(item->key.name) : json_null();
    json_t *entry = json_pack("{s:s, s:o, s:b, s:b, s:o, s:o}", "key_id", item->key.id, "name",
                              name ? name : json_null(), "admin", item->key.admin, "revoked",
                              item->key.revoked, "total", counter_json(&total, NULL), "days",
                              day_list);
    if (!entry)
        return no_memory(error);
    *out = entry;
    return DF_OK;
}

df_status df_keys_usage(df_keys *keys, const char *key_id, int max_days, json_t **out,
                        df_error *error)
{
    *out = NULL;
    char first_day[DAY_SIZE];
    if (max_days > 0)
        utc_day((time_t)(max_days - 1) * 86400, first_day);
    json_t *list = json_array();
    if (!list)
        return no_memory(error);

    /* Holding db_lock keeps a flush out: every counter is either pending
     * (copied here) or in the database, never in between. */
    pthread_mutex_lock(&keys->db_lock);
    counter_list pending = {0};
    df_status status = DF_OK;
    pthread_mutex_lock(&keys->lock);
    if (keys->pending.count) {
        pending.items = malloc((size_t)keys->pending.count * sizeof *pending.items);
        if (pending.items) {
            memcpy(pending.items, keys->pending.items,
                   (size_t)keys->pending.count * sizeof *pending.items);
            pending.count = pending.capacity = keys->pending.count;
        } else {
            status = no_memory(error);
        }
    }
    pthread_mutex_unlock(&keys->lock);

    report_list report = {0};
    if (!status)
        status = report_keys(keys, key_id, &pending, &report, error);
    for (int i = 0; i < report.count && !status; i++) {
        json_t *entry;
        status = report_entry(keys, &report.items[i], &pending, max_days > 0 ? first_day : NULL,
                              &entry, error);
        if (!status && json_array_append_new(list, entry))
            status = no_memory(error);
    }
    pthread_mutex_unlock(&keys->db_lock);
    free(pending.items);
    free(report.items);
    json_t *result = status ? NULL : json_pack("{s:o}", "keys", list);
    if (!result) {
        if (!status)
            status = no_memory(error);
        else
            json_decref(list);
        return status;
    }
    *out = result;
    return DF_OK;
}
