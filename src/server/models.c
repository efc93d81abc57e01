/*
 * models.c — the catalogue of checkpoints and the least-recently-used set of
 * open ones (see models.h for the contract).
 *
 * Invariants:
 *  - every entry is malloc'ed on its own, kept in `all`, never changed after
 *    it is published and freed only by df_models_free: a pointer handed out
 *    stays readable whatever rescans happen meanwhile.
 *  - `listed` (the catalogue as clients see it) is swapped whole under
 *    `lock`, and always holds at least one entry; the -m entry, when there
 *    is one, is always its first.
 *  - `default_entry` is always one of `listed`.
 *  - only rescans write `all` and `listed` (serialised by `rescan_lock`), so
 *    a rescan reads `listed` without `lock`; everyone else reads under it.
 *  - df_model objects are touched by the worker thread only (acquire, free).
 *  - `loaded` has room for max(max_loaded, 2): a base + refiner pair may
 *    hold two open when max_loaded is 1, until df_models_trim.
 */
#include "server/models.h"
#include "server/log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/checkpoint.h"
#include "runtime/error.h"

/* A catalogue entry and what tells a changed file from the probed one. */
typedef struct catalogue_entry {
    df_model_entry public; /* first: a df_model_entry * converts back */
    df_model *estimator;   /* kept open for df_models_estimate; never generates */
    dev_t device;
    ino_t inode;
    off_t size;
    struct timespec modified;
} catalogue_entry;

typedef struct loaded_model {
    const catalogue_entry *entry;
    df_model *model;
    unsigned long used; /* last use (a counter) */
} loaded_model;

struct df_models {
    df_models_config config;
    pthread_mutex_t lock;        /* listed, default_entry, loaded[] */
    pthread_mutex_t rescan_lock; /* one rescan at a time */
    pthread_mutex_t estimate_lock; /* every entry's estimator */
    catalogue_entry **all;       /* every entry ever made (owned) */
    int all_count;
    const catalogue_entry **listed; /* the catalogue now */
    int count;
    const catalogue_entry *fixed; /* the -m entry, or NULL */
    const catalogue_entry *default_entry;
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

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* What identifies the checkpoint's contents at `path`: the file itself, or a
 * folder's model_index.json (a folder counts as changed when that file is
 * replaced or touched). 0 when it cannot be read. */
static int identify(const char *path, catalogue_entry *entry)
{
    struct stat info;
    if (stat(path, &info))
        return 0;
    if (S_ISDIR(info.st_mode)) {
        char index[4096 + 32];
        snprintf(index, sizeof index, "%s/model_index.json", path);
        if (stat(index, &info))
            return 0;
    }
    entry->device = info.st_dev;
    entry->inode = info.st_ino;
    entry->size = info.st_size;
    entry->modified = info.st_mtim;
    return 1;
}

static int same_file(const catalogue_entry *a, const catalogue_entry *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->modified.tv_sec == b->modified.tv_sec && a->modified.tv_nsec == b->modified.tv_nsec;
}

/* Opens `path` once to read what requests are checked against; the new
 * entry (not yet listed) is kept in `all`. */
static df_status probe(df_models *models, const char *name, const char *path,
                       const catalogue_entry **out, df_error *error)
{
    *out = NULL;
    catalogue_entry **all = realloc(models->all, (size_t)(models->all_count + 1) * sizeof *all);
    if (!all)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    models->all = all;
    catalogue_entry *entry = calloc(1, sizeof *entry);
    if (!entry)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    df_model_entry *e = &entry->public;
    df_status status = DF_OK;
    df_model *model = NULL;
    if (snprintf(e->name, sizeof e->name, "%s", name) >= (int)sizeof e->name ||
        snprintf(e->path, sizeof e->path, "%s", path) >= (int)sizeof e->path)
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT, "%s: name or path too long", path);
    /* Identified before the open: a file replaced during the probe then
     * looks changed at the next rescan, never the other way round. */
    if (!status)
        identify(path, entry);
    if (!status)
        status = df_model_open(models->config.runtime, path, &model, error);
    if (status) {
        free(entry);
        return status;
    }
    e->family = df_model_family(model);
    e->layout = df_model_layout(model);
    e->size_multiple = df_model_size_multiple(model);
    e->default_size = df_model_default_size(model);
    /* A refiner is known by its components (the df_model does not say): a
     * second open of the checkpoint maps its headers only, no weights. */
    if (e->family == DF_FAMILY_SDXL) {
        df_checkpoint *checkpoint = NULL;
        df_error ignored = {0};
        if (!df_checkpoint_open(path, &checkpoint, &ignored))
            e->refiner = df_checkpoint_has(checkpoint, DF_COMPONENT_TEXT_ENCODER_2) &&
                         !df_checkpoint_has(checkpoint, DF_COMPONENT_TEXT_ENCODER);
        df_checkpoint_free(checkpoint);
    }
    /* Kept to estimate requests' memory: requests ask for previews only when
     * the server has a TAESD, and the estimate counts its scratch. */
    if (models->config.taesd_path &&
        (status = df_model_load_taesd(model, models->config.taesd_path, error))) {
        df_model_free(model);
        free(entry);
        return status;
    }
    entry->estimator = model;
    models->all[models->all_count++] = entry;
    *out = entry;
    return DF_OK;
}

/* --embeddings-dir: every *.safetensors of the directory as an embedding
 * of `model`, in name order; one that does not fit it (another family's
 * width, not an embedding, a name loaded already) is skipped with a log
 * line, as a directory may serve several families. */
static void load_embeddings(df_model *model, const char *model_name, const char *dir)
{
    struct dirent **names = NULL;
    int count = scandir(dir, &names, NULL, alphasort);
    if (count < 0) {
        df_log_error("--embeddings-dir %s: %s", dir, strerror(errno));
        return;
    }
    int loaded = 0;
    for (int i = 0; i < count; i++) {
        const char *name = names[i]->d_name;
        size_t n = strlen(name);
        if (name[0] != '.' && n > 12 && !strcmp(name + n - 12, ".safetensors")) {
            char path[4096];
            df_error error = {0};
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (df_model_load_embedding(model, path, NULL, &error))
                df_log_info("model %s: embedding skipped: %s", model_name, error.message);
            else
                loaded++;
        }
        free(names[i]);
    }
    free(names);
    df_log_info("model %s: %d embedding(s) from %s", model_name, loaded, dir);
}

/* Index in `list` of the entry `name` (exact, then "x" for "x.safetensors":
 * A1111 clients send titles without it), or -1. */
static int find_in(const catalogue_entry *const *list, int count, const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < count; i++)
        if (!strcmp(list[i]->public.name, name))
            return i;
    size_t length = strlen(name);
    for (int i = 0; i < count; i++) {
        const char *n = list[i]->public.name;
        if (ends_with(n, ".safetensors") && strlen(n) == length + 12 && !strncmp(n, name, length))
            return i;
    }
    return -1;
}

/* Caller holds `lock` (or is the only writer, for the rescan's reads). */
static const catalogue_entry *find_locked(const df_models *models, const char *name)
{
    int index = find_in(models->listed, models->count, name);
    return index >= 0 ? models->listed[index] : NULL;
}

static int is_listed(const df_models *models, const catalogue_entry *entry)
{
    for (int i = 0; i < models->count; i++)
        if (models->listed[i] == entry)
            return 1;
    return 0;
}

/* The default when there is no other: the first entry that draws from
 * noise (not an SDXL refiner), else the first. */
static const catalogue_entry *first_default(const catalogue_entry *const *list, int count)
{
    for (int i = 0; i < count; i++)
        if (!list[i]->public.refiner)
            return list[i];
    return list[0];
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The usable names in `dir` (diffusers folders and *.safetensors), sorted. */
static df_status list_dir(const char *dir, char ***out, size_t *out_count, df_error *error)
{
    *out = NULL;
    *out_count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return df_error_set(error, DF_ERR_IO, "--models-dir %s: cannot open the directory", dir);
    char **names = NULL;
    size_t count = 0;
    df_status status = DF_OK;
    struct dirent *item;
    while ((item = readdir(d))) {
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
    if (status) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        return status;
    }
    if (count)
        qsort(names, count, sizeof *names, compare_names);
    *out = names;
    *out_count = count;
    return DF_OK;
}

/* Builds the catalogue the directory gives now (plus the -m entry) and
 * swaps it in. An entry of the same name, path and file identity as a
 * listed one is kept as it is (no probe, same pointer, stays loaded); any
 * other is probed. Fails, leaving the catalogue as it was, when the
 * directory cannot be read or nothing usable would be left. Caller holds
 * rescan_lock (or is df_models_create, before anyone else sees `models`). */
static df_status build_catalogue(df_models *models, int *added, int *removed, df_error *error)
{
    *added = *removed = 0;
    char **names = NULL;
    size_t name_count = 0;
    df_status status = DF_OK;
    if (models->config.models_dir)
        status = list_dir(models->config.models_dir, &names, &name_count, error);
    const catalogue_entry **listed = NULL;
    int count = 0;
    if (!status && !(listed = malloc((name_count + 1) * sizeof *listed)))
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (!status && models->fixed)
        listed[count++] = models->fixed;
    for (size_t i = 0; i < name_count && !status; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", models->config.models_dir, names[i]);
        if (models->fixed && !strcmp(models->fixed->public.name, names[i])) {
            df_log_info("%s: hidden by the -m model of the same name", path);
            continue;
        }
        const catalogue_entry *old = find_locked(models, names[i]), *entry = NULL;
        catalogue_entry now;
        if (old && !strcmp(old->public.name, names[i]) && !strcmp(old->public.path, path) &&
            identify(path, &now) && same_file(old, &now)) {
            entry = old;
        } else {
            df_error probe_error = {0};
            if (probe(models, names[i], path, &entry, &probe_error)) {
                if (probe_error.status == DF_ERR_NO_MEMORY)
                    status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
                else
                    df_log_warning("%s: left out: %s", path,
                                   probe_error.message);
                continue;
            }
            (*added)++;
        }
        listed[count++] = entry;
    }
    for (size_t i = 0; i < name_count; i++)
        free(names[i]);
    free(names);
    if (!status && !count)
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                              "--models-dir %s: no usable checkpoint (diffusers folders or "
                              "*.safetensors files)",
                              models->config.models_dir ? models->config.models_dir : "?");
    if (status) {
        free(listed);
        *added = 0;
        return status;
    }
    for (int i = 0; i < models->count; i++) {
        int kept = 0;
        for (int j = 0; j < count && !kept; j++)
            kept = listed[j] == models->listed[i];
        *removed += !kept;
    }
    pthread_mutex_lock(&models->lock);
    const catalogue_entry **old_listed = models->listed;
    models->listed = listed;
    models->count = count;
    if (!models->default_entry || !is_listed(models, models->default_entry)) {
        /* The default went away (or was replaced): the first that is no
         * refiner, which is the -m model when there is one (-m is the
         * user's choice, refiner or not). A replaced default stays the
         * default under its new entry. */
        const catalogue_entry *same_name =
            models->default_entry ? find_locked(models, models->default_entry->public.name)
                                  : NULL;
        models->default_entry = same_name        ? same_name
                                : models->fixed ? models->fixed
                                                : first_default(listed, count);
    }
    pthread_mutex_unlock(&models->lock);
    free(old_listed);
    return DF_OK;
}

df_status df_models_rescan(df_models *models, df_error *error)
{
    if (!models)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_models_rescan: no catalogue");
    pthread_mutex_lock(&models->rescan_lock);
    int added = 0, removed = 0;
    df_status status = build_catalogue(models, &added, &removed, error);
    if (!status) {
        char names[1024];
        df_models_names(models, names, sizeof names);
        df_log_info("models rescanned: %d added, %d removed; offered: %s",
                    added, removed, names);
    }
    pthread_mutex_unlock(&models->rescan_lock);
    return status;
}

/* Worker thread: closes slot `slot` (the caller owns the model objects;
 * the lock covers the table df_models_loaded reads). */
static void close_slot(df_models *models, int slot)
{
    df_model_free(models->loaded[slot].model);
    pthread_mutex_lock(&models->lock);
    models->loaded[slot] = models->loaded[--models->loaded_count];
    pthread_mutex_unlock(&models->lock);
}

/* Worker thread: closes the open models a rescan took out (or replaced),
 * but `keep` (the other half of a pair being acquired, or NULL). */
static void close_unlisted(df_models *models, const catalogue_entry *keep)
{
    for (int slot = models->loaded_count - 1; slot >= 0; slot--) {
        if (models->loaded[slot].entry == keep)
            continue;
        pthread_mutex_lock(&models->lock);
        int listed = is_listed(models, models->loaded[slot].entry);
        pthread_mutex_unlock(&models->lock);
        if (!listed) {
            df_log_info("unloading model %s (no longer offered)",
                        models->loaded[slot].entry->public.name);
            close_slot(models, slot);
        }
    }
}

/* Worker thread: the least recently used open model other than `keep`
 * closed; 0 when there is none to close. */
static int close_oldest(df_models *models, const catalogue_entry *keep)
{
    int oldest = -1;
    for (int i = 0; i < models->loaded_count; i++)
        if (models->loaded[i].entry != keep &&
            (oldest < 0 || models->loaded[i].used < models->loaded[oldest].used))
            oldest = i;
    if (oldest < 0)
        return 0;
    df_log_info("unloading model %s", models->loaded[oldest].entry->public.name);
    close_slot(models, oldest);
    return 1;
}

/* df_models_acquire with `keep` open throughout (NULL: none) and room for
 * `limit` models (max_loaded, or 2 for a pair). */
static df_status acquire(df_models *models, const char *name, const catalogue_entry *keep,
                         int limit, void (*on_load)(void *user, const char *name), void *user,
                         df_model **out, df_error *error)
{
    *out = NULL;
    close_unlisted(models, keep);
    pthread_mutex_lock(&models->lock);
    const catalogue_entry *entry = find_locked(models, name);
    pthread_mutex_unlock(&models->lock);
    if (!entry)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "model: unknown model '%s'",
                            name ? name : "");
    for (int i = 0; i < models->loaded_count; i++)
        if (models->loaded[i].entry == entry) {
            models->loaded[i].used = ++models->clock;
            *out = models->loaded[i].model;
            return DF_OK;
        }
    if (on_load)
        on_load(user, entry->public.name);
    /* Room first: the least recently used goes before the new one comes. */
    while (models->loaded_count >= limit && close_oldest(models, keep))
        ;
    double started = seconds_now();
    df_model *model = NULL;
    df_status status = df_model_open(models->config.runtime, entry->public.path, &model, error);
    if (!status && models->config.taesd_path)
        status = df_model_load_taesd(model, models->config.taesd_path, error);
    if (!status && models->config.embeddings_dir)
        load_embeddings(model, entry->public.name, models->config.embeddings_dir);
    df_metrics_model_load(models->config.metrics, !status, seconds_now() - started);
    if (status) {
        df_model_free(model);
        return status;
    }
    df_log_info("loaded model %s", entry->public.name);
    pthread_mutex_lock(&models->lock);
    models->loaded[models->loaded_count++] = (loaded_model){entry, model, ++models->clock};
    pthread_mutex_unlock(&models->lock);
    *out = model;
    return DF_OK;
}

df_status df_models_acquire(df_models *models, const char *name,
                            void (*on_load)(void *user, const char *name), void *user,
                            df_model **out, df_error *error)
{
    return acquire(models, name, NULL, models->config.max_loaded, on_load, user, out, error);
}

/* The open slot of `entry`, or -1. */
static int slot_of(const df_models *models, const catalogue_entry *entry)
{
    for (int i = 0; i < models->loaded_count; i++)
        if (models->loaded[i].entry == entry)
            return i;
    return -1;
}

df_status df_models_acquire_pair(df_models *models, const char *name, const char *refiner,
                                 void (*on_load)(void *user, const char *name), void *user,
                                 df_model **out, df_model **out_refiner, df_error *error)
{
    *out = *out_refiner = NULL;
    pthread_mutex_lock(&models->lock);
    const catalogue_entry *base_entry = find_locked(models, name),
                          *refiner_entry = find_locked(models, refiner);
    pthread_mutex_unlock(&models->lock);
    if (!refiner_entry)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "refiner: unknown model '%s'",
                            refiner ? refiner : "");
    if (refiner_entry == base_entry)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: the refiner is the base model itself");
    /* Each half keeps the other open (an open refiner is not closed to
     * make room for its base), with room for both. */
    const int limit = models->config.max_loaded < 2 ? 2 : models->config.max_loaded;
    df_status status = acquire(models, name, refiner_entry, limit, on_load, user, out, error);
    if (!status)
        status = acquire(models, refiner, base_entry, limit, on_load, user, out_refiner, error);
    if (status) {
        *out = *out_refiner = NULL;
        return status;
    }
    /* The base counts as used last: df_models_trim then closes the refiner
     * first, and a plain job on the base finds it open. */
    int base = slot_of(models, base_entry);
    if (base >= 0)
        models->loaded[base].used = ++models->clock;
    return DF_OK;
}

void df_models_trim(df_models *models)
{
    while (models->loaded_count > models->config.max_loaded && close_oldest(models, NULL))
        ;
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
    pthread_mutex_init(&models->rescan_lock, NULL);
    pthread_mutex_init(&models->estimate_lock, NULL);
    df_status status = DF_OK;
    if (config->model_path) {
        /* -m must work: its failure is the server's, not a message. */
        char buffer[4096];
        const char *name = base_name(config->model_path, buffer, sizeof buffer);
        status = probe(models, name, config->model_path, &models->fixed, error);
    }
    int added = 0, removed = 0;
    if (!status)
        status = build_catalogue(models, &added, &removed, error);
    /* Room for a base + refiner pair even when max_loaded is 1. */
    int capacity = models->config.max_loaded < 2 ? 2 : models->config.max_loaded;
    if (!status && !(models->loaded = calloc((size_t)capacity, sizeof *models->loaded)))
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    df_model *first = NULL;
    if (!status)
        status = df_models_acquire(models, models->default_entry->public.name, NULL, NULL,
                                   &first, error);
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
    free(models->listed);
    for (int i = 0; i < models->all_count; i++) {
        df_model_free(models->all[i]->estimator);
        free(models->all[i]);
    }
    free(models->all);
    pthread_mutex_destroy(&models->lock);
    pthread_mutex_destroy(&models->rescan_lock);
    pthread_mutex_destroy(&models->estimate_lock);
    free(models);
}

/* The lock of a catalogue the reader holds as const: locking changes no
 * state a reader can see (the object itself is never const). */
static pthread_mutex_t *lock_of(const df_models *models)
{
    return (pthread_mutex_t *)&models->lock;
}

int df_models_count(const df_models *models)
{
    pthread_mutex_lock(lock_of(models));
    int count = models->count;
    pthread_mutex_unlock(lock_of(models));
    return count;
}

const df_model_entry *df_models_entry(const df_models *models, int i)
{
    pthread_mutex_lock(lock_of(models));
    const df_model_entry *entry = i >= 0 && i < models->count ? &models->listed[i]->public : NULL;
    pthread_mutex_unlock(lock_of(models));
    return entry;
}

const df_model_entry *df_models_find(const df_models *models, const char *name)
{
    pthread_mutex_lock(lock_of(models));
    const catalogue_entry *entry = find_locked(models, name);
    pthread_mutex_unlock(lock_of(models));
    return entry ? &entry->public : NULL;
}

df_status df_models_estimate(df_models *models, const char *name,
                             const df_generate_request *request, size_t *out_bytes,
                             df_error *error)
{
    *out_bytes = 0;
    pthread_mutex_lock(&models->lock);
    const catalogue_entry *entry = find_locked(models, name);
    pthread_mutex_unlock(&models->lock);
    if (!entry) /* entries live until df_models_free: safe to use unlocked */
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "model: unknown model '%s'", name);
    pthread_mutex_lock(&models->estimate_lock);
    df_status status = df_model_estimate_memory(entry->estimator, request, out_bytes, error);
    pthread_mutex_unlock(&models->estimate_lock);
    return status;
}

void df_models_names(const df_models *models, char *buffer, size_t size)
{
    size_t n = 0;
    if (size)
        buffer[0] = 0;
    pthread_mutex_lock(lock_of(models));
    for (int i = 0; i < models->count && n < size; i++) {
        int written =
            snprintf(buffer + n, size - n, "%s%s", i ? ", " : "", models->listed[i]->public.name);
        if (written < 0)
            break;
        n += (size_t)written;
    }
    pthread_mutex_unlock(lock_of(models));
}

void df_models_default(df_models *models, char *buffer, size_t size)
{
    pthread_mutex_lock(&models->lock);
    snprintf(buffer, size, "%s", models->default_entry->public.name);
    pthread_mutex_unlock(&models->lock);
}

df_status df_models_set_default(df_models *models, const char *name, df_error *error)
{
    pthread_mutex_lock(&models->lock);
    const catalogue_entry *entry = find_locked(models, name);
    if (entry)
        models->default_entry = entry;
    pthread_mutex_unlock(&models->lock);
    if (!entry) {
        char names[1024];
        df_models_names(models, names, sizeof names);
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "unknown model '%s' (available: %s)",
                            name ? name : "", names);
    }
    return DF_OK;
}

int df_models_loaded(df_models *models, const char *name)
{
    int loaded = 0;
    pthread_mutex_lock(&models->lock);
    const catalogue_entry *entry = find_locked(models, name);
    for (int i = 0; i < models->loaded_count && entry; i++)
        loaded |= models->loaded[i].entry == entry;
    pthread_mutex_unlock(&models->lock);
    return loaded;
}

int df_models_loaded_count(df_models *models)
{
    if (!models)
        return 0;
    pthread_mutex_lock(&models->lock);
    int count = models->loaded_count;
    pthread_mutex_unlock(&models->lock);
    return count;
}
