/*
 * models.h — the checkpoints `diffuse serve` offers (several from
 * --models-dir, or the one of -m) and the ones in memory.
 *
 * Catalogue: built at start-up and again by df_models_rescan (SIGHUP).
 * --models-dir DIR lists DIR's diffusers folders (a model_index.json
 * inside) and *.safetensors files, sorted by name; a model's name is its
 * file or folder name (".safetensors" kept, so "sd15.safetensors" and a
 * folder "sd15" are two models). -m PATH adds that checkpoint first under
 * its base name (a DIR entry of the same name is then hidden), makes it the
 * default and stays whatever rescans find; without -m the default is the
 * first name that is not an SDXL refiner (a refiner makes no image from
 * noise; the first name when all are). Every entry is opened once when it
 * is first seen to read its family, whether it is an SDXL refiner, its size
 * multiple and default size (requests are validated against the model they
 * name without loading it), then closed; an entry that does not open is
 * left out with a message on stderr.
 *
 * Entries: a const df_model_entry * from df_models_entry or df_models_find
 * stays valid and unchanged until df_models_free, even after a rescan took
 * the model out of the catalogue (entries are freed only there), so callers
 * read it without a lock. The catalogue itself may change between two calls:
 * df_models_count can shrink, so df_models_entry(i) may return NULL for an i
 * below an earlier count.
 *
 * Memory: df_models_acquire (the job worker only) opens a model on first use
 * and keeps at most max_loaded open, closing the least recently used one
 * first, and closing first any open model a rescan took out. A base +
 * refiner job needs both at once: df_models_acquire_pair opens them side by
 * side, one over max_loaded when that is 1 (never evicting one of the pair
 * for the other), and df_models_trim closes the excess once the job is
 * done. Nothing else touches a df_model, so no lock guards them; the
 * catalogue, the default name and the table of open models are read by
 * other threads under a lock.
 */
#ifndef DF_SERVER_MODELS_H
#define DF_SERVER_MODELS_H

#include <stddef.h>

#include "diffuse.h"
#include "server/metrics.h"

typedef struct df_models df_models;

typedef struct df_models_config {
    df_runtime *runtime;      /* borrowed */
    const char *models_dir;   /* NULL: only model_path */
    const char *model_path;   /* -m; NULL with models_dir: none */
    const char *taesd_path;   /* loaded into every model opened; NULL: none */
    int max_loaded;           /* >= 1 */
    df_metrics *metrics;      /* model loads are counted here; NULL: not counted */
    const char *embeddings_dir; /* every embedding in it loaded into each model opened;
                                   NULL: none */
} df_models_config;

/* Builds the catalogue and opens the default model (so /readyz means what it
 * says from the first request on). Fails when no model is usable. */
df_status df_models_create(const df_models_config *config, df_models **out, df_error *error);
void df_models_free(df_models *models);

typedef struct df_model_entry {
    char name[256];
    char path[4096];
    df_family family;
    df_layout layout;
    int size_multiple, default_size;
    /* An SDXL refiner: SDXL's second text encoder and no first (it refines
     * an init image or follows a base; it makes no image from noise). */
    int refiner;
} df_model_entry;

int df_models_count(const df_models *models);
/* Entry i (0 <= i < count), or NULL when i is past the current count (a
 * rescan may have shrunk it since df_models_count). Valid until
 * df_models_free. */
const df_model_entry *df_models_entry(const df_models *models, int i);
/* The entry named `name` (exact; ".safetensors" may be left off), or NULL.
 * Valid until df_models_free. */
const df_model_entry *df_models_find(const df_models *models, const char *name);
/* "a, b, c" into buffer (truncated to fit). */
void df_models_names(const df_models *models, char *buffer, size_t size);

/* The default model's name, copied into buffer. */
void df_models_default(df_models *models, char *buffer, size_t size);
/* Makes `name` the default (a request without "model" runs on it);
 * DF_ERR_INVALID_ARGUMENT for an unknown name. */
df_status df_models_set_default(df_models *models, const char *name, df_error *error);

/* 1 when `name` is open now. */
int df_models_loaded(df_models *models, const char *name);
/* How many models are open now (the diffuse_models_loaded gauge); 0 for a
 * NULL models. */
int df_models_loaded_count(df_models *models);

/* Reads --models-dir again (any thread; one rescan runs at a time): new
 * checkpoints are probed and added, vanished ones leave the catalogue, and
 * a file whose identity (inode, size, modification time; a folder's
 * model_index.json) changed is probed again as a new entry. Unchanged ones
 * keep their entry and stay open. A model taken out is closed at the
 * worker's next acquire; the -m model always stays. When the default
 * leaves, the default becomes the first model (a replaced default stays
 * the default). Fails, changing nothing, when the directory cannot be read
 * or no usable checkpoint would be left.
 * Without --models-dir it only confirms the -m model. */
df_status df_models_rescan(df_models *models, df_error *error);

/* The working memory a generation of `request` on the model `name` needs
 * (df_model_estimate_memory), for any thread: each catalogue entry keeps a
 * second, never-run handle of its checkpoint for this (memory-mapped, so
 * it costs address space and the tokenizer), used under a lock. Errors are
 * the engine's validation errors (DF_ERR_INVALID_ARGUMENT naming the
 * field), or DF_ERR_INVALID_ARGUMENT for an unknown name. */
df_status df_models_estimate(df_models *models, const char *name,
                             const df_generate_request *request, size_t *out_bytes,
                             df_error *error);

/* Worker thread only: the model `name` opened (LRU, see above). When it is
 * not open yet, `on_load` (may be NULL) is called before loading it; the
 * load is timed into config.metrics. The model stays valid until the next
 * acquire. */
df_status df_models_acquire(df_models *models, const char *name,
                            void (*on_load)(void *user, const char *name), void *user,
                            df_model **out, df_error *error);

/* Worker thread only: the models `name` and `refiner` open together, for a
 * base + refiner job (see Memory above). Both stay valid until the next
 * acquire or df_models_trim; `on_load` is called for each one loaded. */
df_status df_models_acquire_pair(df_models *models, const char *name, const char *refiner,
                                 void (*on_load)(void *user, const char *name), void *user,
                                 df_model **out, df_model **out_refiner, df_error *error);

/* Worker thread only: closes the least recently used open models until at
 * most max_loaded are (after a pair; the base was used last, so with
 * max_loaded 1 the refiner goes). */
void df_models_trim(df_models *models);

#endif
