/*
 * test_models_rescan.c — df_models_rescan (the SIGHUP reload of
 * --models-dir): checkpoints added to the directory join the catalogue,
 * removed ones leave it (and are closed at the worker's next acquire), a
 * replaced file is probed again, the -m model stays, a rescan that would
 * leave nothing changes nothing, and entry pointers taken before a rescan
 * stay readable (under ASan a freed entry would be reported). Uses copies
 * of the tiny fixture models in a temporary directory.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "server/metrics.h"
#include "server/models.h"

/* Copies a fixture file to `path` through a temporary name, so the file
 * appears whole (as an operator's mv would make it). */
static int copy_fixture(const char *fixture, const char *path)
{
    size_t size = 0;
    unsigned char *bytes = df_test_read_file(df_test_path(fixture), &size);
    if (!bytes)
        return 0;
    char temporary[4200];
    snprintf(temporary, sizeof temporary, "%s.partial", path);
    FILE *file = fopen(temporary, "wb");
    int ok = file && fwrite(bytes, 1, size, file) == size;
    if (file && fclose(file))
        ok = 0;
    free(bytes);
    return ok && !rename(temporary, path);
}

/* A diffusers folder copy of tiny-sd1 at dir/name. */
static int copy_folder(const char *dir, const char *name)
{
    char made[256], path[4200];
    if (!df_test_copy_model("tests/fixtures/tiny-sd1", NULL, NULL, made, sizeof made))
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return !rename(made, path);
}

static int make_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/diffuse-test-XXXXXX");
    return mkdtemp(dir) != NULL;
}

static void remove_path(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (remove(path)) /* a folder */
        df_test_remove_tree(path);
}

static int has_line(const char *text, const char *line)
{
    const char *p = text ? strstr(text, line) : NULL;
    return p && (p == text || p[-1] == '\n') && p[strlen(line)] == '\n';
}

static void test_add_remove(void)
{
    char dir[64];
    REQUIRE(make_dir(dir, sizeof dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd1.safetensors", path));
    REQUIRE(copy_folder(dir, "folder1"));

    df_error error = {0};
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    df_metrics *metrics = df_metrics_create();
    df_models_config config = {.runtime = runtime, .models_dir = dir, .max_loaded = 2,
                               .metrics = metrics};
    df_models *models = NULL;
    REQUIRE(df_models_create(&config, &models, &error) == DF_OK);
    CHECK(df_models_count(models) == 2);
    CHECK(df_models_loaded_count(models) == 1); /* the default, opened at start-up */
    char name[256];
    df_models_default(models, name, sizeof name);
    CHECK(!strcmp(name, "a.safetensors"));
    const df_model_entry *folder = df_models_find(models, "folder1");
    REQUIRE(folder);
    const df_model_entry *first = df_models_entry(models, 0);
    REQUIRE(first);

    /* Nothing changed: the same entries, nothing reloaded. */
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    CHECK(df_models_find(models, "folder1") == folder);
    CHECK(df_models_entry(models, 0) == first);
    CHECK(df_models_loaded(models, "a.safetensors"));

    /* A new file joins. */
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd2.safetensors", path));
    CHECK(df_models_find(models, "b") == NULL);
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    CHECK(df_models_count(models) == 3);
    const df_model_entry *b = df_models_find(models, "b"); /* ".safetensors" left off */
    REQUIRE(b);
    CHECK(!strcmp(b->name, "b.safetensors"));
    CHECK(b->family == DF_FAMILY_SD2);
    CHECK(df_models_entry(models, 1) == b); /* sorted: a, b, folder1 */

    /* The worker opens folder1; then it leaves the directory. */
    df_model *model = NULL;
    REQUIRE(df_models_acquire(models, "folder1", NULL, NULL, &model, &error) == DF_OK);
    CHECK(df_models_loaded_count(models) == 2);
    remove_path(dir, "folder1");
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    CHECK(df_models_count(models) == 2);
    CHECK(df_models_find(models, "folder1") == NULL);
    CHECK(df_models_entry(models, 2) == NULL); /* past the shrunk count */
    CHECK(df_models_entry(models, -1) == NULL);
    /* The pointer from before the rescan is still readable. */
    CHECK(!strcmp(folder->name, "folder1"));
    CHECK(folder->family == DF_FAMILY_SD1 && folder->size_multiple > 0);
    CHECK(!df_models_loaded(models, "folder1"));
    CHECK(df_models_loaded_count(models) == 2); /* only the worker closes it ... */
    REQUIRE(df_models_acquire(models, "a.safetensors", NULL, NULL, &model, &error) == DF_OK);
    CHECK(df_models_loaded_count(models) == 1); /* ... at its next acquire */
    CHECK(df_models_acquire(models, "folder1", NULL, NULL, &model, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(model == NULL);

    /* The default leaves: the first model becomes the default. */
    REQUIRE(df_models_set_default(models, "b.safetensors", &error) == DF_OK);
    remove_path(dir, "b.safetensors");
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    df_models_default(models, name, sizeof name);
    CHECK(!strcmp(name, "a.safetensors"));
    CHECK(!strcmp(b->name, "b.safetensors"));

    /* A replaced file is probed again: a new entry, the old one kept
     * readable, and the open model closed at the next acquire. */
    const df_model_entry *old_a = df_models_find(models, "a.safetensors");
    REQUIRE(old_a && old_a->family == DF_FAMILY_SD1);
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd2.safetensors", path));
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    const df_model_entry *new_a = df_models_find(models, "a.safetensors");
    REQUIRE(new_a);
    CHECK(new_a != old_a);
    CHECK(new_a->family == DF_FAMILY_SD2 && old_a->family == DF_FAMILY_SD1);
    df_models_default(models, name, sizeof name);
    CHECK(!strcmp(name, "a.safetensors"));
    CHECK(!df_models_loaded(models, "a.safetensors"));
    REQUIRE(df_models_acquire(models, "a.safetensors", NULL, NULL, &model, &error) == DF_OK);
    CHECK(df_models_loaded(models, "a.safetensors"));
    CHECK(df_models_loaded_count(models) == 1);

    /* Nothing usable left, or no directory: the rescan fails and the
     * catalogue stays. */
    remove_path(dir, "a.safetensors");
    CHECK(df_models_rescan(models, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(error.message, "no usable checkpoint") != NULL);
    CHECK(df_models_count(models) == 1);
    CHECK(df_models_find(models, "a.safetensors") == new_a);
    char moved[128];
    snprintf(moved, sizeof moved, "%s-moved", dir);
    REQUIRE(!rename(dir, moved));
    CHECK(df_models_rescan(models, &error) == DF_ERR_IO);
    CHECK(df_models_count(models) == 1);
    REQUIRE(!rename(moved, dir));

    /* A file that does not open is left out; the rest goes on. */
    snprintf(path, sizeof path, "%s/broken.safetensors", dir);
    FILE *file = fopen(path, "wb");
    REQUIRE(file);
    fputs("not a safetensors file", file);
    fclose(file);
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd1.safetensors", path));
    REQUIRE(df_models_rescan(models, &error) == DF_OK);
    CHECK(df_models_count(models) == 1);
    CHECK(df_models_find(models, "c.safetensors") != NULL);
    CHECK(df_models_find(models, "broken.safetensors") == NULL);
    df_models_default(models, name, sizeof name);
    CHECK(!strcmp(name, "c.safetensors"));

    /* Loads were timed: the start-up one, folder1, a after its
     * replacement. */
    char *text = df_metrics_render(metrics, NULL);
    CHECKF(has_line(text, "diffuse_model_loads_total{outcome=\"ok\"} 3"), "%s", text);
    CHECK(has_line(text, "diffuse_model_load_seconds_count 3"));
    free(text);

    CHECK(df_models_rescan(NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_models_loaded_count(NULL) == 0);
    df_models_free(models);
    df_metrics_free(metrics);
    df_runtime_free(runtime);
    df_test_remove_tree(dir);
}

/* -m stays whatever the directory holds, and hides a same-named entry. */
static void test_fixed_model_stays(void)
{
    char dir[64], fixed_dir[64], fixed[4200], path[4200];
    REQUIRE(make_dir(dir, sizeof dir));
    REQUIRE(make_dir(fixed_dir, sizeof fixed_dir));
    snprintf(fixed, sizeof fixed, "%s/m.safetensors", fixed_dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd1.safetensors", fixed));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd2.safetensors", path));
    snprintf(path, sizeof path, "%s/z.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd2.safetensors", path));

    df_error error = {0};
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    df_models_config config = {.runtime = runtime, .models_dir = dir, .model_path = fixed,
                               .max_loaded = 1};
    df_models *models = NULL;
    REQUIRE(df_models_create(&config, &models, &error) == DF_OK);
    CHECK(df_models_count(models) == 2);
    const df_model_entry *m = df_models_find(models, "m.safetensors");
    REQUIRE(m);
    CHECK(m->family == DF_FAMILY_SD1); /* the -m one, not the directory's */
    CHECK(df_models_entry(models, 0) == m);

    remove_path(dir, "m.safetensors");
    remove_path(dir, "z.safetensors");
    REQUIRE(df_models_rescan(models, &error) == DF_OK); /* -m is left: not empty */
    CHECK(df_models_count(models) == 1);
    CHECK(df_models_find(models, "m") == m);
    CHECK(df_models_find(models, "z.safetensors") == NULL);
    char name[256];
    df_models_default(models, name, sizeof name);
    CHECK(!strcmp(name, "m.safetensors"));
    CHECK(df_models_loaded(models, "m.safetensors"));
    df_models_free(models);
    df_runtime_free(runtime);
    df_test_remove_tree(dir);
    df_test_remove_tree(fixed_dir);
}

/* HTTP threads read the catalogue while rescans swap it. */
typedef struct reader_state {
    df_models *models;
    atomic_int stop;
    atomic_long reads;
} reader_state;

static void *reader(void *user)
{
    reader_state *state = user;
    while (!atomic_load(&state->stop)) {
        int count = df_models_count(state->models);
        for (int i = 0; i <= count; i++) {
            const df_model_entry *entry = df_models_entry(state->models, i);
            if (entry && entry->name[0] && df_models_find(state->models, entry->name))
                atomic_fetch_add(&state->reads, 1);
        }
        char names[1024], name[256];
        df_models_names(state->models, names, sizeof names);
        df_models_default(state->models, name, sizeof name);
        (void)df_models_loaded(state->models, name);
    }
    return NULL;
}

static void test_concurrent_readers(void)
{
    char dir[64], path[4200];
    REQUIRE(make_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    REQUIRE(copy_fixture("tests/fixtures/tiny-sd1.safetensors", path));
    df_error error = {0};
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    df_models_config config = {.runtime = runtime, .models_dir = dir, .max_loaded = 1};
    df_models *models = NULL;
    REQUIRE(df_models_create(&config, &models, &error) == DF_OK);
    reader_state state = {.models = models};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(!pthread_create(&threads[i], NULL, reader, &state));
    for (int round = 0; round < 4; round++) {
        snprintf(path, sizeof path, "%s/b.safetensors", dir);
        CHECK(copy_fixture("tests/fixtures/tiny-sd2.safetensors", path));
        CHECK(df_models_rescan(models, &error) == DF_OK);
        CHECK(df_models_count(models) == 2);
        remove_path(dir, "b.safetensors");
        CHECK(df_models_rescan(models, &error) == DF_OK);
        CHECK(df_models_count(models) == 1);
    }
    atomic_store(&state.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    CHECK(atomic_load(&state.reads) > 0);
    df_models_free(models);
    df_runtime_free(runtime);
    df_test_remove_tree(dir);
}

int main(void)
{
    DF_RUN(test_add_remove);
    DF_RUN(test_fixed_model_stays);
    DF_RUN(test_concurrent_readers);
    return df_test_finish();
}
