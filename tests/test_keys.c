/*
 * test_keys.c — API keys and usage (src/server/keys.c) on real databases in
 * temporary directories: the key format, verification (wrong secret,
 * malformed strings, revoked and unknown keys), name rules, what the
 * database keeps (a hash, never the key), snapshots and reloads across two
 * handles, and usage counting, flushing and merging.
 */
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "server/keys.h"
#include "server/store.h"

#define KEY_LENGTH 60 /* "dfk_" + 12 + "_" + 43 */

static char directory[64];

static int make_directory(void)
{
    snprintf(directory, sizeof directory, "/tmp/diffuse-test-XXXXXX");
    return mkdtemp(directory) != NULL;
}

static df_keys *open_keys(void)
{
    df_error error = {0};
    df_keys *keys = NULL;
    if (df_keys_open(directory, &keys, &error) != DF_OK)
        fprintf(stderr, "df_keys_open: %s\n", error.message);
    return keys;
}

/* Creates a key that must succeed; the whole key goes into `secret`. */
static int create(df_keys *keys, const char *name, double rate, long daily, int admin,
                  df_key *key, char secret[DF_KEY_SECRET_SIZE])
{
    df_error error = {0};
    df_key ignored;
    char scratch[DF_KEY_SECRET_SIZE];
    df_status status = df_keys_create(keys, name, rate, daily, admin, key ? key : &ignored,
                                      secret ? secret : scratch, DF_KEY_SECRET_SIZE, &error);
    if (status)
        fprintf(stderr, "df_keys_create(%s): %s\n", name, error.message);
    return status == DF_OK;
}

static void today(char day[11])
{
    time_t now = time(NULL);
    struct tm parts;
    gmtime_r(&now, &parts);
    strftime(day, 11, "%Y-%m-%d", &parts);
}

/* The entry of `key_id` in a usage report, or NULL. */
static json_t *usage_entry(json_t *report, const char *key_id)
{
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(report, "keys"), i, entry) {
        if (!strcmp(json_string_value(json_object_get(entry, "key_id")), key_id))
            return entry;
    }
    return NULL;
}

static long long total_of(json_t *entry, const char *field)
{
    return (long long)json_integer_value(json_object_get(json_object_get(entry, "total"), field));
}

static double total_real(json_t *entry, const char *field)
{
    return json_real_value(json_object_get(json_object_get(entry, "total"), field));
}

/* ------------------------------------------------------------------------ */

static void test_create_and_verify(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    CHECK(df_keys_active_count(keys) == 0);

    df_key key;
    char secret[DF_KEY_SECRET_SIZE];
    REQUIRE(create(keys, "ci", 60, 10, 0, &key, secret));
    CHECK(df_keys_active_count(keys) == 1);
    CHECKF(strlen(secret) == KEY_LENGTH, "'%s' has %zu characters", secret, strlen(secret));
    CHECK(!strncmp(secret, "dfk_", 4));
    CHECK(!strncmp(secret + 4, key.id, 12) && secret[16] == '_');
    CHECK(strlen(key.id) == 12 && strspn(key.id, "0123456789abcdef") == 12);
    CHECK(strspn(secret + 17, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          43);
    CHECK(!strcmp(key.name, "ci") && key.rate_per_minute == 60 && key.daily_images == 10);
    CHECK(!key.admin && !key.revoked && key.revoked_at == 0);
    CHECK(fabs(key.created - (double)time(NULL)) < 60);

    df_key found;
    memset(&found, 0, sizeof found);
    CHECK(df_keys_verify(keys, secret, &found) == 1);
    CHECK(!strcmp(found.id, key.id) && !strcmp(found.name, "ci") && found.daily_images == 10);
    CHECK(df_keys_verify(keys, secret, NULL) == 1);

    /* A second key: different id and secret, both verify. */
    df_key other;
    char other_secret[DF_KEY_SECRET_SIZE];
    REQUIRE(create(keys, "ops", 0, 0, 1, &other, other_secret));
    CHECK(strcmp(other.id, key.id) && strcmp(other_secret, secret));
    CHECK(df_keys_verify(keys, other_secret, &found) == 1 && found.admin == 1);
    CHECK(!strcmp(found.id, other.id));

    /* Wrong secrets: last character, first secret character, another key's
     * secret under this id. */
    char wrong[DF_KEY_SECRET_SIZE];
    snprintf(wrong, sizeof wrong, "%s", secret);
    wrong[KEY_LENGTH - 1] = wrong[KEY_LENGTH - 1] == 'A' ? 'B' : 'A';
    CHECK(df_keys_verify(keys, wrong, &found) == 0);
    snprintf(wrong, sizeof wrong, "%s", secret);
    wrong[17] = wrong[17] == 'A' ? 'B' : 'A';
    CHECK(df_keys_verify(keys, wrong, NULL) == 0);
    snprintf(wrong, sizeof wrong, "dfk_%s%s", key.id, other_secret + 16);
    CHECK(df_keys_verify(keys, wrong, NULL) == 0);
    /* Unknown id with a real secret. */
    snprintf(wrong, sizeof wrong, "%s", secret);
    wrong[4] = wrong[4] == 'a' ? 'b' : 'a';
    CHECK(df_keys_verify(keys, wrong, NULL) == 0);

    /* Malformed. */
    char longer[DF_KEY_SECRET_SIZE + 8];
    snprintf(longer, sizeof longer, "%sx", secret);
    char upper[DF_KEY_SECRET_SIZE];
    snprintf(upper, sizeof upper, "dfk_%s", secret + 4);
    for (int i = 4; i < 16; i++)
        if (upper[i] >= 'a' && upper[i] <= 'f')
            upper[i] = (char)(upper[i] - 'a' + 'A');
    char bad_char[DF_KEY_SECRET_SIZE];
    snprintf(bad_char, sizeof bad_char, "%s", secret);
    bad_char[30] = '+';
    char no_separator[DF_KEY_SECRET_SIZE];
    snprintf(no_separator, sizeof no_separator, "%s", secret);
    no_separator[16] = 'x';
    char bearer[DF_KEY_SECRET_SIZE + 8];
    snprintf(bearer, sizeof bearer, "Bearer %s", secret);
    const char *malformed[] = {"", "dfk_", "dfk__", secret + 1, longer, bad_char, no_separator,
                               bearer, "sk-0123456789abcdef0123456789abcdef0123456789abcdef0123"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        CHECKF(df_keys_verify(keys, malformed[i], NULL) == 0, "'%s' verified", malformed[i]);
    int upper_changed = strcmp(upper, secret) != 0;
    CHECK(!upper_changed || df_keys_verify(keys, upper, NULL) == 0);
    CHECK(df_keys_verify(keys, NULL, NULL) == 0);
    char truncated[DF_KEY_SECRET_SIZE];
    snprintf(truncated, sizeof truncated, "%.*s", KEY_LENGTH - 1, secret);
    CHECK(df_keys_verify(keys, truncated, NULL) == 0);

    /* Still fine after all that. */
    CHECK(df_keys_verify(keys, secret, NULL) == 1);
    df_keys_close(keys);
    df_test_remove_tree(directory);
}

static void test_stored_hash_only(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    df_key key;
    char secret[DF_KEY_SECRET_SIZE];
    REQUIRE(create(keys, "hashed", 0, 0, 0, &key, secret));
    df_keys_close(keys);

    char path[128];
    snprintf(path, sizeof path, "%s/diffuse.db", directory);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT hash FROM keys WHERE id=?", -1, &stmt, NULL) ==
            SQLITE_OK);
    sqlite3_bind_text(stmt, 1, key.id, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_bytes(stmt, 0) == crypto_generichash_BYTES);
    unsigned char expected[crypto_generichash_BYTES];
    crypto_generichash(expected, sizeof expected, (const unsigned char *)secret, strlen(secret),
                       NULL, 0);
    CHECK(sqlite3_column_bytes(stmt, 0) == crypto_generichash_BYTES &&
          !memcmp(sqlite3_column_blob(stmt, 0), expected, sizeof expected));
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    /* No trace of the secret in any file of the directory (WAL included). */
    const char *files[] = {"diffuse.db", "diffuse.db-wal"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", directory, files[i]);
        size_t size = 0;
        unsigned char *data = df_test_read_file(path, &size);
        if (!data)
            continue;
        const char *secret_part = secret + 17;
        int seen = 0;
        for (size_t at = 0; at + 43 <= size && !seen; at++)
            seen = !memcmp(data + at, secret_part, 43);
        CHECKF(!seen, "the secret is in %s", files[i]);
        free(data);
    }
    df_test_remove_tree(directory);
}

static void test_names_and_limits(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    df_error error = {0};
    char secret[DF_KEY_SECRET_SIZE];
    df_key key;

    REQUIRE(create(keys, "team", 0, 0, 0, &key, NULL));
    CHECK(df_keys_create(keys, "team", 0, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "'team'") && strstr(error.message, key.id), "%s", error.message);

    char long_name[DF_KEY_NAME_SIZE + 1];
    memset(long_name, 'n', DF_KEY_NAME_SIZE);
    long_name[DF_KEY_NAME_SIZE] = 0; /* 128 bytes: one too many */
    const char *bad[] = {"", long_name, "tab\there", "new\nline", "\x7f", "bad \xff utf8",
                         "\xc0\x80", " leading", "trailing ", "0123456789ab", "anonymous",
                         "line\xe2\x80\xa8separator"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error.message[0] = 0;
        CHECKF(df_keys_create(keys, bad[i], 0, 0, 0, NULL, secret, sizeof secret, &error) ==
                   DF_ERR_INVALID_ARGUMENT,
               "name %zu accepted", i);
        CHECKF(error.message[0], "name %zu: no message", i);
    }
    CHECK(df_keys_create(keys, NULL, 0, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    long_name[DF_KEY_NAME_SIZE - 1] = 0; /* 127 bytes: fits */
    CHECK(create(keys, long_name, 0, 0, 0, &key, NULL) && !strcmp(key.name, long_name));
    CHECK(create(keys, "équipe de nuit", 0, 0, 0, NULL, NULL));
    CHECK(create(keys, "0123456789AB", 0, 0, 0, NULL, NULL)); /* not an id: uppercase */

    CHECK(df_keys_create(keys, "x", -1, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_create(keys, "x", NAN, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_create(keys, "x", INFINITY, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_create(keys, "x", 0, -5, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_create(keys, "x", 0, 0, 0, NULL, secret, KEY_LENGTH, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_create(keys, "x", 0, 0, 0, NULL, NULL, 0, &error) == DF_ERR_INVALID_ARGUMENT);
    /* None of the refusals left a key behind. */
    CHECK(df_keys_active_count(keys) == 4);
    df_key *list = NULL;
    int count = 0;
    CHECK(df_keys_list(keys, &list, &count, &error) == DF_OK && count == 4);
    free(list);

    /* A revoked key's name is free again; an active one's is not. */
    df_key revoked;
    CHECK(df_keys_revoke(keys, "team", &revoked, &error) == DF_OK);
    df_key again;
    CHECK(create(keys, "team", 5, 0, 0, &again, NULL) && strcmp(again.id, revoked.id));
    CHECK(df_keys_create(keys, "team", 0, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    df_keys_close(keys);
    df_test_remove_tree(directory);
}

static void test_list_and_revoke(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    df_error error = {0};
    df_key a, b, c;
    char secret_a[DF_KEY_SECRET_SIZE], secret_b[DF_KEY_SECRET_SIZE], secret_c[DF_KEY_SECRET_SIZE];
    REQUIRE(create(keys, "alpha", 30, 0, 0, &a, secret_a));
    REQUIRE(create(keys, "beta", 0, 7, 1, &b, secret_b));
    REQUIRE(create(keys, "gamma", 0.5, 0, 0, &c, secret_c));

    df_key *list = NULL;
    int count = 0;
    REQUIRE(df_keys_list(keys, &list, &count, &error) == DF_OK);
    REQUIRE(count == 3);
    CHECK(!strcmp(list[0].name, "alpha") && !strcmp(list[1].name, "beta") &&
          !strcmp(list[2].name, "gamma"));
    CHECK(!strcmp(list[1].id, b.id) && list[1].daily_images == 7 && list[1].admin == 1);
    CHECK(list[0].rate_per_minute == 30 && list[2].rate_per_minute == 0.5);
    CHECK(!list[0].revoked && !list[1].revoked && !list[2].revoked);
    free(list);

    /* By id, then by name. */
    df_key out;
    memset(&out, 0, sizeof out);
    CHECK(df_keys_revoke(keys, b.id, &out, &error) == DF_OK);
    CHECK(!strcmp(out.id, b.id) && !strcmp(out.name, "beta") && out.revoked && out.revoked_at > 0);
    CHECK(df_keys_verify(keys, secret_b, NULL) == 0);
    CHECK(df_keys_revoke(keys, "gamma", &out, &error) == DF_OK && !strcmp(out.id, c.id));
    CHECK(df_keys_verify(keys, secret_c, NULL) == 0);
    CHECK(df_keys_verify(keys, secret_a, NULL) == 1);
    CHECK(df_keys_active_count(keys) == 1);

    /* Twice, unknown, empty: refused with the name in the message. */
    CHECK(df_keys_revoke(keys, "gamma", &out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "'gamma'"), "%s", error.message);
    CHECK(df_keys_revoke(keys, b.id, NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_revoke(keys, "nobody", NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "'nobody'"), "%s", error.message);
    CHECK(df_keys_revoke(keys, "", NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_keys_revoke(keys, NULL, NULL, &error) == DF_ERR_INVALID_ARGUMENT);

    REQUIRE(df_keys_list(keys, &list, &count, &error) == DF_OK);
    REQUIRE(count == 3);
    CHECK(!list[0].revoked && list[0].revoked_at == 0);
    CHECK(list[1].revoked && list[1].revoked_at >= list[1].created);
    CHECK(list[2].revoked && list[2].revoked_at > 0);
    free(list);

    /* Revoking the last active key: the server runs open again. */
    CHECK(df_keys_revoke(keys, "alpha", NULL, &error) == DF_OK);
    CHECK(df_keys_active_count(keys) == 0);
    CHECK(df_keys_verify(keys, secret_a, NULL) == 0);
    df_keys_close(keys);

    /* Everything persisted: a new handle sees the same. */
    keys = open_keys();
    REQUIRE(keys);
    CHECK(df_keys_active_count(keys) == 0);
    REQUIRE(df_keys_list(keys, &list, &count, &error) == DF_OK);
    CHECK(count == 3 && list[0].revoked && list[1].revoked && list[2].revoked);
    free(list);
    df_keys_close(keys);
    df_test_remove_tree(directory);
}

static void test_reload_between_handles(void)
{
    REQUIRE(make_directory());
    df_keys *server = open_keys(), *cli = open_keys();
    REQUIRE(server && cli);
    df_error error = {0};
    df_key key;
    char secret[DF_KEY_SECRET_SIZE];
    REQUIRE(create(cli, "late", 12, 0, 0, &key, secret));

    /* The server answers from its snapshot until it reloads. */
    CHECK(df_keys_active_count(server) == 0);
    CHECK(df_keys_verify(server, secret, NULL) == 0);
    CHECK(df_keys_reload(server, &error) == DF_OK);
    CHECK(df_keys_active_count(server) == 1);
    df_key found;
    CHECK(df_keys_verify(server, secret, &found) == 1 && found.rate_per_minute == 12);

    /* A revocation elsewhere, too. */
    CHECK(df_keys_revoke(cli, "late", NULL, &error) == DF_OK);
    CHECK(df_keys_verify(server, secret, NULL) == 1);
    CHECK(df_keys_reload(server, &error) == DF_OK);
    CHECK(df_keys_verify(server, secret, NULL) == 0);
    CHECK(df_keys_active_count(server) == 0);

    /* Names are unique across handles. */
    REQUIRE(create(server, "shared", 0, 0, 0, NULL, NULL));
    CHECK(df_keys_create(cli, "shared", 0, 0, 0, NULL, secret, sizeof secret, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    df_keys_close(server);
    df_keys_close(cli);
    df_test_remove_tree(directory);
}

static void test_shares_database_with_job_store(void)
{
    REQUIRE(make_directory());
    df_error error = {0};
    df_store *store = NULL;
    REQUIRE(df_store_open(directory, &store, &error) == DF_OK);
    df_keys *keys = open_keys();
    REQUIRE(keys);
    CHECK(create(keys, "beside-jobs", 0, 0, 0, NULL, NULL));
    CHECK(df_store_insert(store, "job-1", "{}", NULL, 1.0, &error) == DF_OK);
    df_keys_close(keys);
    df_store_close(store);

    /* Keys opened first, then the store: both schemas coexist, and the
     * store's user_version (3) is left as the store set it. */
    keys = open_keys();
    REQUIRE(keys);
    REQUIRE(df_store_open(directory, &store, &error) == DF_OK);
    CHECK(df_keys_active_count(keys) == 1);
    df_store_close(store);
    df_keys_close(keys);

    char path[128];
    snprintf(path, sizeof path, "%s/diffuse.db", directory);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 3); /* the store's schema 3 */
    sqlite3_finalize(stmt);
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs", -1, &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    df_test_remove_tree(directory);
}

static void test_open_errors(void)
{
    df_error error = {0};
    df_keys *keys = (df_keys *)1;
    CHECK(df_keys_open("/proc/no/such/dir", &keys, &error) != DF_OK && keys == NULL);
    CHECKF(strstr(error.message, "/proc/no/such/dir"), "%s", error.message);
    /* A file where the directory should be. */
    REQUIRE(make_directory());
    char path[128];
    snprintf(path, sizeof path, "%s/file", directory);
    FILE *file = fopen(path, "w");
    REQUIRE(file);
    fclose(file);
    CHECK(df_keys_open(path, &keys, &error) == DF_ERR_IO && keys == NULL);
    CHECKF(strstr(error.message, "not a directory"), "%s", error.message);
    /* A database file that is not one. */
    snprintf(path, sizeof path, "%s/diffuse.db", directory);
    file = fopen(path, "w");
    REQUIRE(file);
    fputs("this is not an SQLite database, but it is long enough to have a header......\n",
          file);
    fclose(file);
    CHECK(df_keys_open(directory, &keys, &error) == DF_ERR_IO && keys == NULL);
    df_keys_close(NULL);
    df_test_remove_tree(directory);
}

static void test_usage_counting(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    df_error error = {0};
    df_key key, idle;
    REQUIRE(create(keys, "worker", 0, 0, 1, &key, NULL));
    REQUIRE(create(keys, "idle", 0, 0, 0, &idle, NULL));
    char day[11];
    today(day);

    for (int i = 0; i < 3; i++)
        df_keys_count_request(keys, key.id);
    df_keys_count_job(keys, key.id, 2, 1000, 1.5);
    df_keys_count_request(keys, DF_KEY_ANONYMOUS);
    /* Ignored, never a crash: no id, an id too long to be one, poison. */
    df_keys_count_request(keys, NULL);
    df_keys_count_request(keys, "an-id-far-too-long-to-be-a-key-id-of-ours");
    df_keys_count_job(keys, key.id, -4, NAN, -3);

    /* Unflushed counters show. */
    json_t *report = NULL;
    REQUIRE(df_keys_usage(keys, NULL, 30, &report, &error) == DF_OK);
    CHECK(json_array_size(json_object_get(report, "keys")) == 3);
    json_t *entry = usage_entry(report, key.id);
    REQUIRE(entry);
    CHECK(!strcmp(json_string_value(json_object_get(entry, "name")), "worker"));
    CHECK(json_is_true(json_object_get(entry, "admin")));
    CHECK(json_is_false(json_object_get(entry, "revoked")));
    CHECK(total_of(entry, "requests") == 3 && total_of(entry, "images") == 2);
    CHECK(total_real(entry, "pixel_steps") == 1000 && total_real(entry, "compute_seconds") == 1.5);
    json_t *days = json_object_get(entry, "days");
    CHECK(json_array_size(days) == 1);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(days, 0), "date")), day));
    CHECK(json_integer_value(json_object_get(json_array_get(days, 0), "requests")) == 3);
    json_t *idle_entry = usage_entry(report, idle.id);
    CHECK(idle_entry && total_of(idle_entry, "requests") == 0 &&
          json_array_size(json_object_get(idle_entry, "days")) == 0);
    json_t *anonymous = usage_entry(report, DF_KEY_ANONYMOUS);
    CHECK(anonymous && total_of(anonymous, "requests") == 1);
    json_decref(report);

    /* Flushed: the same numbers, not twice them. */
    CHECK(df_keys_flush(keys, &error) == DF_OK);
    CHECK(df_keys_flush(keys, &error) == DF_OK); /* nothing pending: fine */
    REQUIRE(df_keys_usage(keys, key.id, 30, &report, &error) == DF_OK);
    CHECK(json_array_size(json_object_get(report, "keys")) == 1);
    entry = usage_entry(report, key.id);
    CHECK(entry && total_of(entry, "requests") == 3 && total_of(entry, "images") == 2);
    json_decref(report);

    /* Database plus pending, on the same day. */
    df_keys_count_request(keys, key.id);
    df_keys_count_job(keys, key.id, 1, 500, 0.5);
    REQUIRE(df_keys_usage(keys, key.id, 30, &report, &error) == DF_OK);
    entry = usage_entry(report, key.id);
    CHECK(entry && total_of(entry, "requests") == 4 && total_of(entry, "images") == 3);
    CHECK(entry && total_real(entry, "pixel_steps") == 1500 &&
          total_real(entry, "compute_seconds") == 2.0);
    CHECK(entry && json_array_size(json_object_get(entry, "days")) == 1);
    json_decref(report);
    df_keys_close(keys); /* flushes */

    /* Older days, written as a flush would: shown within max_days, always
     * in the total, newest first. */
    char path[128];
    snprintf(path, sizeof path, "%s/diffuse.db", directory);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO usage(key_id, day, requests, images) VALUES('%s', '2000-01-01', 7, 1),"
             "('%s', '2000-01-02', 10, 0)",
             key.id, key.id);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    keys = open_keys();
    REQUIRE(keys);
    REQUIRE(df_keys_usage(keys, key.id, 30, &report, &error) == DF_OK);
    entry = usage_entry(report, key.id);
    CHECK(entry && total_of(entry, "requests") == 21 && total_of(entry, "images") == 4);
    CHECK(entry && json_array_size(json_object_get(entry, "days")) == 1);
    json_decref(report);
    REQUIRE(df_keys_usage(keys, key.id, 0, &report, &error) == DF_OK);
    entry = usage_entry(report, key.id);
    days = json_object_get(entry, "days");
    CHECK(json_array_size(days) == 3);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(days, 0), "date")), day));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(days, 1), "date")),
                  "2000-01-02"));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(days, 2), "date")),
                  "2000-01-01"));
    CHECK(json_integer_value(json_object_get(json_array_get(days, 0), "requests")) == 4);
    json_decref(report);

    /* One key only; anonymous by its id; an unknown id is an error. */
    REQUIRE(df_keys_usage(keys, DF_KEY_ANONYMOUS, 30, &report, &error) == DF_OK);
    CHECK(json_array_size(json_object_get(report, "keys")) == 1);
    anonymous = usage_entry(report, DF_KEY_ANONYMOUS);
    CHECK(anonymous && total_of(anonymous, "requests") == 1);
    json_decref(report);
    report = NULL;
    CHECK(df_keys_usage(keys, "000000000000", 30, &report, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(report == NULL);
    CHECKF(strstr(error.message, "000000000000"), "%s", error.message);
    df_keys_close(keys);
    df_test_remove_tree(directory);
}

static void test_usage_two_handles(void)
{
    REQUIRE(make_directory());
    df_keys *first = open_keys(), *second = open_keys();
    REQUIRE(first && second);
    df_error error = {0};
    df_key key;
    REQUIRE(create(first, "shared", 0, 0, 0, &key, NULL));
    for (int i = 0; i < 5; i++)
        df_keys_count_request(first, key.id);
    for (int i = 0; i < 7; i++)
        df_keys_count_request(second, key.id);
    df_keys_count_job(second, key.id, 3, 0, 0);
    CHECK(df_keys_flush(first, &error) == DF_OK);
    CHECK(df_keys_flush(second, &error) == DF_OK);
    df_keys_count_request(second, key.id);
    df_keys_close(second); /* flushes its last request */

    json_t *report = NULL;
    REQUIRE(df_keys_usage(first, NULL, 1, &report, &error) == DF_OK);
    json_t *entry = usage_entry(report, key.id);
    CHECK(entry && total_of(entry, "requests") == 13 && total_of(entry, "images") == 3);
    CHECK(entry && json_array_size(json_object_get(entry, "days")) == 1);
    CHECK(usage_entry(report, DF_KEY_ANONYMOUS) == NULL); /* no anonymous usage */
    json_decref(report);
    df_keys_close(first);
    df_test_remove_tree(directory);
}

/* Counting from several threads while another flushes: no count lost. */
typedef struct counting_thread {
    df_keys *keys;
    const char *key_id;
} counting_thread;

#define THREADS 4
#define COUNTS_PER_THREAD 2000

static void *count_many(void *argument)
{
    counting_thread *work = argument;
    for (int i = 0; i < COUNTS_PER_THREAD; i++) {
        df_keys_count_request(work->keys, work->key_id);
        df_keys_count_job(work->keys, work->key_id, 1, 0, 0);
    }
    return NULL;
}

static void *flush_many(void *argument)
{
    df_keys *keys = argument;
    for (int i = 0; i < 20; i++)
        df_keys_flush(keys, NULL);
    return NULL;
}

static void test_concurrent_counting(void)
{
    REQUIRE(make_directory());
    df_keys *keys = open_keys();
    REQUIRE(keys);
    df_key key;
    REQUIRE(create(keys, "busy", 0, 0, 0, &key, NULL));
    counting_thread work = {keys, key.id};
    pthread_t threads[THREADS], flusher;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, count_many, &work);
    pthread_create(&flusher, NULL, flush_many, keys);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_join(flusher, NULL);
    df_error error = {0};
    CHECK(df_keys_flush(keys, &error) == DF_OK);
    json_t *report = NULL;
    REQUIRE(df_keys_usage(keys, key.id, 30, &report, &error) == DF_OK);
    json_t *entry = usage_entry(report, key.id);
    CHECK(entry && total_of(entry, "requests") == THREADS * COUNTS_PER_THREAD);
    CHECK(entry && total_of(entry, "images") == THREADS * COUNTS_PER_THREAD);
    json_decref(report);
    df_keys_close(keys);
    df_test_remove_tree(directory);
}

int main(void)
{
    DF_RUN(test_create_and_verify);
    DF_RUN(test_stored_hash_only);
    DF_RUN(test_names_and_limits);
    DF_RUN(test_list_and_revoke);
    DF_RUN(test_reload_between_handles);
    DF_RUN(test_shares_database_with_job_store);
    DF_RUN(test_open_errors);
    DF_RUN(test_usage_counting);
    DF_RUN(test_usage_two_handles);
    DF_RUN(test_concurrent_counting);
    return df_test_finish();
}
