/*
 * store.c — the SQLite job store (see store.h for the schema and the
 * durability contract). Statements are prepared per call: the store is far
 * from the hot path (a few statements per job), and it keeps every function
 * self-contained. All access goes through one connection under `lock`.
 */
#include "server/store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"
#include "server/datadir.h"

struct df_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    char *images_dir;
    char *db_path;
    /* The database file opened: a file moved or replaced under the open
     * connection takes every later write with it (df_store_ping). */
    dev_t db_device;
    ino_t db_inode;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  params TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  started REAL, finished REAL,"
    "  error_type TEXT, error_code TEXT, error_message TEXT,"
    "  result TEXT, key_id TEXT, attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);"
    "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished);";

/* Version 1 had no key_id: added in place (NULL: submitted without keys).
 * Version 2 had no attempts: added as 0 (no run of a pending job is known to
 * have died). */
static const char migrate_to_2[] = "ALTER TABLE jobs ADD COLUMN key_id TEXT;";
static const char migrate_to_3[] =
    "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;";

static df_status db_error(df_store *store, df_error *error, const char *what)
{
    return df_error_set(error, DF_ERR_IO, "job store: %s: %s", what, sqlite3_errmsg(store->db));
}

df_status df_store_open(const char *dir, df_store **out, df_error *error)
{
    *out = NULL;
    df_status status = df_datadir_make(dir, error);
    if (status)
        return status;
    df_store *store = calloc(1, sizeof *store);
    size_t length = strlen(dir) + 32;
    char *db_path = malloc(length);
    if (!store || !db_path || !(store->images_dir = malloc(length))) {
        free(db_path);
        if (store)
            free(store->images_dir);
        free(store);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(db_path, length, "%s/diffuse.db", dir);
    snprintf(store->images_dir, length, "%s/images", dir);
    pthread_mutex_init(&store->lock, NULL);
    status = df_datadir_make(store->images_dir, error);
    if (!status)
        status = df_datadir_create_private(db_path, error);
    if (!status && sqlite3_open_v2(db_path, &store->db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                       SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
        status = df_error_set(error, DF_ERR_IO, "job store %s: %s", db_path,
                              store->db ? sqlite3_errmsg(store->db) : "cannot open");
    if (!status) {
        sqlite3_busy_timeout(store->db, 5000); /* another process on the same DIR */
        char *message = NULL;
        int version = -1;
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_exec(store->db, schema, NULL, NULL, &message) == SQLITE_OK &&
            sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW)
            version = sqlite3_column_int(stmt, 0);
        sqlite3_finalize(stmt);
        /* A fresh database (0) already has every column from CREATE TABLE. */
        if (version == 1 && sqlite3_exec(store->db, migrate_to_2, NULL, NULL, &message) != SQLITE_OK)
            version = -1;
        if ((version == 1 || version == 2) &&
            sqlite3_exec(store->db, migrate_to_3, NULL, NULL, &message) != SQLITE_OK)
            version = -1;
        if (version > 3 && !message)
            message = sqlite3_mprintf("schema version %d is newer than this diffuse (3)", version);
        if (version >= 0 && version <= 3 &&
            sqlite3_exec(store->db, "PRAGMA user_version=3;", NULL, NULL, &message) != SQLITE_OK)
            version = -1;
        if (version < 0 || version > 3) {
            status = df_error_set(error, DF_ERR_IO, "job store %s: %s", db_path,
                                  message ? message : sqlite3_errmsg(store->db));
            sqlite3_free(message);
        }
    }
    struct stat info;
    if (!status && stat(db_path, &info))
        status = df_error_set(error, DF_ERR_IO, "job store %s: %s", db_path, strerror(errno));
    if (!status) {
        store->db_device = info.st_dev;
        store->db_inode = info.st_ino;
    }
    store->db_path = db_path;
    if (status) {
        df_store_close(store);
        return status;
    }
    *out = store;
    return DF_OK;
}

void df_store_close(df_store *store)
{
    if (!store)
        return;
    if (store->db)
        sqlite3_close(store->db);
    pthread_mutex_destroy(&store->lock);
    free(store->images_dir);
    free(store->db_path);
    free(store);
}

const char *df_store_images_dir(const df_store *store) { return store->images_dir; }

df_status df_store_ping(df_store *store, df_error *error)
{
    struct stat info;
    if (stat(store->db_path, &info) || info.st_dev != store->db_device ||
        info.st_ino != store->db_inode)
        return df_error_set(error, DF_ERR_IO, "job store: %s was moved or replaced",
                            store->db_path);
    if (stat(store->images_dir, &info) || !S_ISDIR(info.st_mode))
        return df_error_set(error, DF_ERR_IO, "job store: %s is missing", store->images_dir);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db, "SELECT 1 FROM jobs LIMIT 1", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    df_status status = rc == SQLITE_ROW || rc == SQLITE_DONE ? DF_OK : db_error(store, error, "ping");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    return status;
}

/* Runs one write statement: `types` says how to bind each argument
 * ('s' string or NULL, 'd' double, 0 ends). Caller holds no lock. */
static df_status exec_write(df_store *store, const char *sql, const char *what, df_error *error,
                            const char *types, ...)
{
    va_list args;
    va_start(args, types);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(store, error, what);
    } else {
        for (int i = 0; types[i]; i++) {
            if (types[i] == 's') {
                const char *text = va_arg(args, const char *);
                if (text)
                    sqlite3_bind_text(stmt, i + 1, text, -1, SQLITE_TRANSIENT);
                else
                    sqlite3_bind_null(stmt, i + 1);
            } else {
                sqlite3_bind_double(stmt, i + 1, va_arg(args, double));
            }
        }
        if (sqlite3_step(stmt) != SQLITE_DONE)
            status = db_error(store, error, what);
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    va_end(args);
    return status;
}

df_status df_store_insert(df_store *store, const char *id, const char *params_json,
                          const char *key_id, double created, df_error *error)
{
    return exec_write(store,
                      "INSERT INTO jobs(id, params, key_id, state, created) "
                      "VALUES(?, ?, ?, 'queued', ?)",
                      "insert", error, "sssd", id, params_json, key_id, created);
}

df_status df_store_set_running(df_store *store, const char *id, double started, df_error *error)
{
    /* Not over a cancel stored meanwhile (df_store_cancel_pending). */
    return exec_write(store,
                      "UPDATE jobs SET state='running', started=?, attempts=attempts+1 "
                      "WHERE id=? AND state IN ('queued', 'running')",
                      "update", error, "ds", started, id);
}

df_status df_store_requeue(df_store *store, const char *id, df_error *error)
{
    /* A clean interruption: this run does not count as one that died. */
    return exec_write(store,
                      "UPDATE jobs SET state='queued', started=NULL, "
                      "attempts=max(attempts-1, 0) WHERE id=?",
                      "requeue", error, "s", id);
}

df_status df_store_finish(df_store *store, const char *id, const char *state, double finished,
                          const char *result_json, const char *error_type,
                          const char *error_code, const char *error_message, df_error *error)
{
    return exec_write(store,
                      "UPDATE jobs SET state=?, finished=?, result=?, error_type=?, error_code=?, "
                      "error_message=? WHERE id=?",
                      "finish", error, "sdsssss", state, finished, result_json, error_type,
                      error_code, error_message, id);
}

df_status df_store_cancel_pending(df_store *store, const char *id, double finished,
                                  df_error *error)
{
    return exec_write(store,
                      "UPDATE jobs SET state='cancelled', finished=? WHERE id=? AND state IN "
                      "('queued', 'running')",
                      "cancel", error, "ds", finished, id);
}

typedef struct pending_row {
    char *id, *params, *key_id;
    double created;
    int attempts;
} pending_row;

df_status df_store_load_pending(df_store *store, df_store_pending_fn fn, void *user,
                                df_error *error)
{
    /* Rows are read first and handed out after the lock is released: `fn`
     * may write to the store (a stored job that fails its checks again is
     * finished at once), and the lock is not recursive. */
    pending_row *rows = NULL;
    size_t count = 0, capacity = 0;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, params, created, key_id, attempts FROM jobs WHERE state "
                           "IN ('queued', 'running') ORDER BY seq",
                           -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(store, error, "load");
    } else {
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (count == capacity) {
                size_t grown = capacity ? capacity * 2 : 16;
                pending_row *more = realloc(rows, grown * sizeof *rows);
                if (!more) {
                    status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
                    break;
                }
                rows = more;
                capacity = grown;
            }
            const char *id = (const char *)sqlite3_column_text(stmt, 0);
            const char *params = (const char *)sqlite3_column_text(stmt, 1);
            const char *key_id = (const char *)sqlite3_column_text(stmt, 3);
            pending_row row = {strdup(id ? id : ""), strdup(params ? params : ""),
                               key_id ? strdup(key_id) : NULL, sqlite3_column_double(stmt, 2),
                               sqlite3_column_int(stmt, 4)};
            rows[count++] = row;
            if (!row.id || !row.params || (key_id && !row.key_id)) {
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
                break;
            }
        }
        if (!status && rc != SQLITE_DONE)
            status = db_error(store, error, "load");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    for (size_t i = 0; i < count; i++) {
        if (!status)
            fn(user, rows[i].id, rows[i].params, rows[i].key_id, rows[i].created,
               rows[i].attempts);
        free(rows[i].id);
        free(rows[i].params);
        free(rows[i].key_id);
    }
    free(rows);
    return status;
}

#define RECORD_COLUMNS \
    "seq, id, params, state, created, started, finished, error_type, error_code, " \
    "error_message, result, key_id"

/* A JSON value from a column holding JSON text, or null. */
static json_t *json_column(sqlite3_stmt *stmt, int column)
{
    const char *text = (const char *)sqlite3_column_text(stmt, column);
    json_t *value = text ? json_loads(text, 0, NULL) : NULL;
    return value ? value : json_null();
}

static json_t *real_or_null(sqlite3_stmt *stmt, int column)
{
    return sqlite3_column_type(stmt, column) == SQLITE_NULL
               ? json_null()
               : json_real(sqlite3_column_double(stmt, column));
}

static json_t *text_or_null(sqlite3_stmt *stmt, int column)
{
    const char *text = (const char *)sqlite3_column_text(stmt, column);
    return text ? json_string(text) : json_null();
}

static json_t *record(sqlite3_stmt *stmt)
{
    json_t *error = json_null();
    if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) {
        json_decref(error);
        error = json_pack("{s:o, s:o, s:o}", "type", text_or_null(stmt, 7), "code",
                          text_or_null(stmt, 8), "message", text_or_null(stmt, 9));
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:f, s:o, s:o, s:o*, s:o}", "seq",
                     (json_int_t)sqlite3_column_int64(stmt, 0), "id", text_or_null(stmt, 1),
                     "params", json_column(stmt, 2), "key_id", text_or_null(stmt, 11), "state",
                     text_or_null(stmt, 3), "created", sqlite3_column_double(stmt, 4),
                     "started", real_or_null(stmt, 5), "finished", real_or_null(stmt, 6),
                     "error", error, "result", json_column(stmt, 10));
}

df_status df_store_get(df_store *store, const char *id, json_t **out, df_error *error)
{
    *out = NULL;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(store->db, "SELECT " RECORD_COLUMNS " FROM jobs WHERE id=?", -1,
                           &stmt, NULL) != SQLITE_OK) {
        status = db_error(store, error, "get");
    } else {
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            if (!(*out = record(stmt)))
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        } else if (rc != SQLITE_DONE) {
            status = db_error(store, error, "get");
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    return status;
}

df_status df_store_list(df_store *store, const char *key_id, const char *before, int limit,
                        json_t **out, int *has_more, df_error *error)
{
    *out = NULL;
    *has_more = 0;
    json_t *list = json_array();
    if (!list)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    df_status status = DF_OK;
    /* An unknown `before` id lists nothing rather than everything; ?3 NULL
     * lists every key's jobs. */
    const char *sql = before ? "SELECT " RECORD_COLUMNS " FROM jobs WHERE seq < "
                               "(SELECT seq FROM jobs WHERE id=?2) AND (?3 IS NULL OR key_id=?3) "
                               "ORDER BY seq DESC LIMIT ?1"
                             : "SELECT " RECORD_COLUMNS " FROM jobs WHERE (?3 IS NULL OR "
                               "key_id=?3) ORDER BY seq DESC LIMIT ?1";
    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        status = db_error(store, error, "list");
    } else {
        sqlite3_bind_int(stmt, 1, limit + 1); /* one more tells whether more remain */
        if (before)
            sqlite3_bind_text(stmt, 2, before, -1, SQLITE_TRANSIENT);
        if (key_id)
            sqlite3_bind_text(stmt, 3, key_id, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(stmt, 3);
        int rc, count = 0;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (count++ == limit) {
                *has_more = 1;
                continue;
            }
            json_t *item = record(stmt);
            if (!item || json_array_append_new(list, item)) {
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
                break;
            }
        }
        if (!status && rc != SQLITE_DONE)
            status = db_error(store, error, "list");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    if (status) {
        json_decref(list);
        return status;
    }
    *out = list;
    return DF_OK;
}

/* Removes the image files named in a result's "images" list. Names come from
 * our own database, but are checked to be plain file names all the same. */
static void remove_images(const df_store *store, const char *result_json)
{
    json_t *result = result_json ? json_loads(result_json, 0, NULL) : NULL;
    json_t *images = json_object_get(result, "images");
    size_t i;
    json_t *name;
    json_array_foreach(images, i, name) {
        const char *file = json_string_value(name);
        if (!file || !*file || strchr(file, '/') || file[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", store->images_dir, file) < (int)sizeof path)
            unlink(path);
    }
    json_decref(result);
}

df_status df_store_purge(df_store *store, double cutoff, int *deleted, df_error *error)
{
    if (deleted)
        *deleted = 0;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *select = NULL, *remove = NULL;
    df_status status = DF_OK;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, result FROM jobs WHERE state IN "
                           "('completed', 'failed', 'cancelled') AND finished < ?",
                           -1, &select, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db, "DELETE FROM jobs WHERE id=?", -1, &remove, NULL) !=
            SQLITE_OK) {
        status = db_error(store, error, "purge");
    } else {
        sqlite3_bind_double(select, 1, cutoff);
        int rc;
        /* Files first, then the row: a crash between the two leaves a row
         * whose images 404, never an orphan file nobody will delete. */
        while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
            remove_images(store, (const char *)sqlite3_column_text(select, 1));
            sqlite3_bind_text(remove, 1, (const char *)sqlite3_column_text(select, 0), -1,
                              SQLITE_TRANSIENT);
            if (sqlite3_step(remove) != SQLITE_DONE) {
                status = db_error(store, error, "purge");
                break;
            }
            sqlite3_reset(remove);
            if (deleted)
                (*deleted)++;
        }
        if (!status && rc != SQLITE_DONE)
            status = db_error(store, error, "purge");
    }
    sqlite3_finalize(select);
    sqlite3_finalize(remove);
    pthread_mutex_unlock(&store->lock);
    return status;
}

/* A file name of ours: "<job id>-<n>.png"; the id is copied into `id`. */
static int image_file_job(const char *name, char *id, size_t size)
{
    const char *dash = strrchr(name, '-');
    size_t length = dash ? (size_t)(dash - name) : 0;
    if (!length || length >= size)
        return 0;
    memcpy(id, name, length);
    id[length] = 0;
    return 1;
}

df_status df_store_check(df_store *store, int *removed_files, int *broken_jobs, df_error *error)
{
    if (removed_files)
        *removed_files = 0;
    if (broken_jobs)
        *broken_jobs = 0;
    /* Every file a completed job names, in a temporary table, then the
     * directory against it: one pass each, whatever the number of jobs. */
    pthread_mutex_lock(&store->lock);
    df_status status = DF_OK;
    sqlite3_stmt *named = NULL, *jobs = NULL, *fail = NULL;
    if (sqlite3_exec(store->db,
                     "CREATE TEMP TABLE IF NOT EXISTS named_files(name TEXT PRIMARY KEY);"
                     "DELETE FROM named_files;"
                     "INSERT OR IGNORE INTO named_files SELECT value FROM jobs, "
                     "json_each(jobs.result, '$.images') WHERE jobs.state='completed';",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db, "SELECT 1 FROM named_files WHERE name=?", -1, &named,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db,
                           "SELECT id, result FROM jobs WHERE state='completed'", -1, &jobs,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db,
                           "UPDATE jobs SET state='failed', error_type='server_error', "
                           "error_code='images_lost', error_message='the image files of this "
                           "job are missing from the data directory', result=NULL WHERE id=?",
                           -1, &fail, NULL) != SQLITE_OK) {
        status = db_error(store, error, "check");
        goto done;
    }
    DIR *dir = opendir(store->images_dir);
    struct dirent *entry;
    while (dir && (entry = readdir(dir))) {
        char id[256];
        if (entry->d_name[0] == '.' || !image_file_job(entry->d_name, id, sizeof id))
            continue;
        sqlite3_bind_text(named, 1, entry->d_name, -1, SQLITE_TRANSIENT);
        int known = sqlite3_step(named) == SQLITE_ROW;
        sqlite3_reset(named);
        char path[PATH_MAX];
        if (!known && snprintf(path, sizeof path, "%s/%s", store->images_dir, entry->d_name) <
                          (int)sizeof path && !unlink(path) && removed_files)
            (*removed_files)++;
    }
    if (dir)
        closedir(dir);
    while (sqlite3_step(jobs) == SQLITE_ROW) {
        json_t *result = json_loads((const char *)sqlite3_column_text(jobs, 1), 0, NULL);
        json_t *name;
        size_t i;
        int missing = !json_array_size(json_object_get(result, "images"));
        json_array_foreach(json_object_get(result, "images"), i, name) {
            char path[PATH_MAX];
            const char *file = json_string_value(name);
            if (!file || snprintf(path, sizeof path, "%s/%s", store->images_dir, file) >=
                             (int)sizeof path || access(path, R_OK))
                missing = 1;
        }
        json_decref(result);
        if (!missing)
            continue;
        sqlite3_bind_text(fail, 1, (const char *)sqlite3_column_text(jobs, 0), -1,
                          SQLITE_TRANSIENT);
        if (sqlite3_step(fail) != SQLITE_DONE) {
            status = db_error(store, error, "check");
            break;
        }
        sqlite3_reset(fail);
        if (broken_jobs)
            (*broken_jobs)++;
    }
done:
    sqlite3_finalize(named);
    sqlite3_finalize(jobs);
    sqlite3_finalize(fail);
    pthread_mutex_unlock(&store->lock);
    return status;
}
