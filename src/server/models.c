/*
 * models.c — the catalogue of checkpoints and the least-recently-used set of
 * open ones (see models.h for the contract).
 */
#include "server/models.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/error.h"

typedef struct loaded_model {
    int entry;          /* index into entries */
    df_model *model;
    unsigned long used; /* last use (a counter) */
} loaded_model;

struct df_models {
    df_models_config config;
    pthread_mutex_t lock; /* default_index, loaded[].entry for df_models_loaded */
    df_model_entry *entries;
    int count;
    int default_index;
    loaded_model *loaded;
    int loaded_count;
    unsigned long clock;
};

static int ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && !strcmp(text + n - m, suffix);
}

static const char *base_name(const char *path, char *buffer, size_t size)
{
    snprintf(buffer, size, "%s", path);
    size_t n = strlen(buffer);
    while (n > 1 && buffer[n - 1] == '/')
        buffer[--n] = 0;
    const char *slash = strrchr(buffer, '/');
    return slash ? slash + 1 : buffer;
}

/* Opens `path` once to read what requests are checked against. */
static df_status probe(df_models *models, const char *name, const char *path,
                       df_model_entry *entry, df_error *error)
{
    memset(entry, 0, sizeof *entry);
    if (snprintf(entry->name, sizeof entry->name, "%s", name) >= (int)sizeof entry->name ||
        snprintf(entry->path, sizeof entry->path, "%s", path) >= (int)sizeof entry->path)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "%s: name or path too long", path);
    df_model *model = NULL;
    df_status status = df_model_open(models->config.runtime, path, &model, error);
    if (status)
        return status;
    entry->family = df_model_family(model);
    entry->layout = df_model_layout(model);
    entry->size_multiple = df_model_size_multiple(model);
    entry->default_size = df_model_default_size(model);
    df_model_free(model);
    return DF_OK;
}

static int find_index(const df_models *models, const char *name)
{
    for (int i = 0; i < models->count; i++)
        if (!strcmp(models->entries[i].name, name))
            return i;
    /* "x" finds "x.safetensors" (A1111 clients send titles without it too). */
    for (int i = 0; i < models->count; i++) {
        const char *n = models->entries[i].name;
        size_t length = strlen(name);
        if (ends_with(n, ".safetensors") && strlen(n) == length + 12 && !strncmp(n, name, length))
            return i;
    }
    return -1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static df_status add_entry(df_models *models, const char *name, const char *path, df_error *error)
{
    if (find_index(models, name) >= 0 && !strcmp(models->entries[find_index(models, name)].name,
                                                  name)) {
        fprintf(stderr, "diffuse serve: %s: hidden by the -m model of the same name\n", path);
        return DF_OK;
    }
    df_model_entry *entries = realloc(models->entries, (size_t)(models->count + 1) * sizeof *entries);
    if (!entries)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    models->entries = entries;
    df_error probe_error = {0};
    if (probe(models, name, path, &entries[models->count], &probe_error)) {
        fprintf(stderr, "diffuse serve: %s: left out: %s\n", path, probe_error.message);
        return DF_OK;
    }
    models->count++;
    return DF_OK;
}

static df_status scan_dir(df_models *models, const char *dir, df_error *error)
{
    DIR *d = opendir(dir);
    if (!d)
        return df_error_set(error, DF_ERR_IO, "--models-dir %s: cannot open the directory", dir);
    char **names = NULL;
    size_t count = 0;
    df_status status = DF_OK;
    struct dirent *item;
    while (!status && (item = readdir(d))) {
        if (item->d_name[0] == '.')
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, item->d_name) >= (int)sizeof path)
            continue;
        struct stat info;
        if (stat(path, &info)) /* follows symlinks */
            continue;
        int usable = 0;
        if (S_ISREG(info.st_mode) && ends_with(item->d_name, ".safetensors")) {
            usable = 1;
        } else if (S_ISDIR(info.st_mode)) {
            char index[4096 + 32];
            snprintf(index, sizeof index, "%s/model_index.json", path);
            usable = !stat(index, &info);
        }
        if (!usable)
            continue;
        char **grown = realloc(names, (count + 1) * sizeof *names);
        if (!grown || !(grown[count] = strdup(item->d_name))) {
            names = grown ? grown : names;
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
            break;
        }
        names = grown;
        count++;
    }
    closedir(d);
    if (!status)
        qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count && !status; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        status = add_entry(models, names[i], path, error);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return status;
}

static void close_slot(df_models *models, int slot)
{
    df_model_free(models->loaded[slot].model);
    pthread_mutex_lock(&models->lock);
    models->loaded[slot] = models->loaded[--models->loaded_count];
    pthread_mutex_unlock(&models->lock);
}

df_status df_models_acquire(df_models *models, const char *name,
                            void (*on_load)(void *user, const char *name), void *user,
                            df_model **out, df_error *error)
{
    *out = NULL;
    int index = find_index(models, name);
    if (index < 0)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "model: unknown model '%s'", name);
    for (int i = 0; i < models->loaded_count; i++)
        if (models->loaded[i].entry == index) {
            models->loaded[i].used = ++models->clock;
            *out = models->loaded[i].model;
            return DF_OK;
        }
    if (on_load)
        on_load(user, models->entries[index].name);
    /* Room first: the least recently used goes before the new one comes. */
    while (models->loaded_count >= models->config.max_loaded) {
        int oldest = 0;
        for (int i = 1; i < models->loaded_count; i++)
            if (models->loaded[i].used < models->loaded[oldest].used)
                oldest = i;
        fprintf(stderr, "diffuse serve: unloading model %s\n",
                models->entries[models->loaded[oldest].entry].name);
        close_slot(models, oldest);
    }
    const df_model_entry *entry = &models->entries[index];
    df_model *model = NULL;
    df_status status = df_model_open(models->config.runtime, entry->path, &model, error);
    if (!status && models->config.taesd_path)
        status = df_model_load_taesd(model, models->config.taesd_path, error);
    if (status) {
        df_model_free(model);
        return status;
    }
    fprintf(stderr, "diffuse serve: loaded model %s\n", entry->name);
    pthread_mutex_lock(&models->lock);
    models->loaded[models->loaded_count++] = (loaded_model){index, model, ++models->clock};
    pthread_mutex_unlock(&models->lock);
    *out = model;
    return DF_OK;
}

df_status df_models_create(const df_models_config *config, df_models **out, df_error *error)
{
    *out = NULL;
    df_models *models = calloc(1, sizeof *models);
    if (!models)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    models->config = *config;
    if (models->config.max_loaded < 1)
        models->config.max_loaded = 1;
    pthread_mutex_init(&models->lock, NULL);
    df_status status = DF_OK;
    if (config->model_path) {
        /* -m must work: its failure is the server's, not a message. */
        char buffer[4096];
        const char *name = base_name(config->model_path, buffer, sizeof buffer);
        df_model_entry *entries = calloc(1, sizeof *entries);
        if (!entries)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        models->entries = entries;
        if (!status)
            status = probe(models, name, config->model_path, entries, error);
        if (!status)
            models->count = 1;
    }
    if (!status && config->models_dir)
        status = scan_dir(models, config->models_dir, error);
    if (!status && !models->count)
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                              "--models-dir %s: no usable checkpoint (diffusers folders or "
                              "*.safetensors files)", config->models_dir ? config->models_dir : "?");
    if (!status && !(models->loaded = calloc((size_t)models->config.max_loaded,
                                             sizeof *models->loaded)))
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    df_model *first = NULL;
    if (!status)
        status = df_models_acquire(models, models->entries[0].name, NULL, NULL, &first, error);
    if (status) {
        df_models_free(models);
        return status;
    }
    *out = models;
    return DF_OK;
}

void df_models_free(df_models *models)
{
    if (!models)
        return;
    for (int i = 0; i < models->loaded_count; i++)
        df_model_free(models->loaded[i].model);
    free(models->loaded);
    free(models->entries);
    pthread_mutex_destroy(&models->lock);
    free(models);
}

int df_models_count(const df_models *models) { return models->count; }

const df_model_entry *df_models_entry(const df_models *models, int i)
{
    return i >= 0 && i < models->count ? &models->entries[i] : NULL;
}

const df_model_entry *df_models_find(const df_models *models, const char *name)
{
    int index = name ? find_index(models, name) : -1;
    return index >= 0 ? &models->entries[index] : NULL;
}

void df_models_names(const df_models *models, char *buffer, size_t size)
{
    size_t n = 0;
    if (size)
        buffer[0] = 0;
    for (int i = 0; i < models->count && n < size; i++) {
        int written = snprintf(buffer + n, size - n, "%s%s", i ? ", " : "", models->entries[i].name);
        if (written < 0)
            break;
        n += (size_t)written;
    }
}

void df_models_default(df_models *models, char *buffer, size_t size)
{
    pthread_mutex_lock(&models->lock);
    snprintf(buffer, size, "%s", models->entries[models->default_index].name);
    pthread_mutex_unlock(&models->lock);
}

df_status df_models_set_default(df_models *models, const char *name, df_error *error)
{
    int index = name ? find_index(models, name) : -1;
    if (index < 0) {
        char names[1024];
        df_models_names(models, names, sizeof names);
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "unknown model '%s' (available: %s)",
                            name ? name : "", names);
    }
    pthread_mutex_lock(&models->lock);
    models->default_index = index;
    pthread_mutex_unlock(&models->lock);
    return DF_OK;
}

int df_models_loaded(df_models *models, const char *name)
{
    int index = find_index(models, name), loaded = 0;
    pthread_mutex_lock(&models->lock);
    for (int i = 0; i < models->loaded_count && index >= 0; i++)
        loaded |= models->loaded[i].entry == index;
    pthread_mutex_unlock(&models->lock);
    return loaded;
}
