/*
 * loras.h — the LoRAs `diffuse serve --lora-dir DIR` offers: DIR's
 * *.safetensors files (top level only; a symlink counts when it leads to a
 * regular file), each named by its file name without ".safetensors".
 * Requests name LoRAs, never paths: a path stays on the server.
 *
 * Catalogue: read at start-up and again by df_loras_rescan (SIGHUP, POST
 * /sdapi/v1/refresh-loras). A file whose name cannot be written in a request
 * or a prompt tag (empty, starting with '.', holding '/', '\', ':', '<',
 * '>', a control character, or not UTF-8) is skipped with a message on
 * stderr. The catalogue is swapped whole under a lock; lookups copy what
 * they need, so any thread may call anything here at any time.
 *
 * Hashes: A1111's "autov3" (the kohya/addnet hash its Lora hashes infotext
 * field uses): SHA-256 of the safetensors data after the header, i.e. of
 * the bytes from 8 + header length to the end. Computed on first use (a
 * listing, an infotext), cached with the file's identity (device, inode,
 * size, modification time): a changed file is hashed again.
 */
#ifndef DF_SERVER_LORAS_H
#define DF_SERVER_LORAS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diffuse.h"
#include "server/request.h"

typedef struct df_loras df_loras;

#define DF_LORA_NAME_SIZE 256
#define DF_LORA_HASH_SIZE 65 /* 64 hex digits and the NUL */

/* What tells one version of a file from another. */
typedef struct df_lora_identity {
    dev_t device;
    ino_t inode;
    int64_t size;
    int64_t modified_ns;
} df_lora_identity;

typedef struct df_lora_entry {
    char name[DF_LORA_NAME_SIZE];
    int64_t size;
    double modified;            /* unix seconds */
    char hash[DF_LORA_HASH_SIZE]; /* "" until computed (df_loras_hash) */
} df_lora_entry;

/* Reads `dir` (which must be a readable directory). */
df_status df_loras_create(const char *dir, df_loras **out, df_error *error);
void df_loras_free(df_loras *loras);

/* Reads the directory again (one rescan at a time): new files join, vanished
 * ones leave, a changed one keeps its name with its new identity (its
 * hash is computed again when next needed). Fails, changing nothing, when
 * the directory cannot be read. *added / *removed (may be NULL) count
 * names. */
df_status df_loras_rescan(df_loras *loras, int *added, int *removed, df_error *error);

/* The catalogue now, sorted by name: a malloc'ed copy (*out, *count; free
 * with free()). Hashes are those already computed ("" otherwise). */
df_status df_loras_list(df_loras *loras, df_lora_entry **out, int *count, df_error *error);
int df_loras_count(df_loras *loras);

/* Whether a name a client sent is one the catalogue could hold: 0, or -1
 * with why (a path, empty, too long...) in `why`. */
int df_loras_name_check(const char *name, char *why, size_t why_size);

/* The offered LoRA `name` (exact; a trailing ".safetensors" may be given):
 * 1 with its catalogue name in `canonical` (may be NULL), else 0. */
int df_loras_find(df_loras *loras, const char *name, char *canonical, size_t canonical_size);

/* "a, b, c" (at most `size` bytes, cut with "..."), for messages. */
void df_loras_names(df_loras *loras, char *buffer, size_t size);

/* For the job worker, at run time: the file of the offered LoRA `name`
 * into `path` and its identity now (the file is stat()ed again: a file
 * removed since the catalogue was read is an error). DF_ERR_INVALID_ARGUMENT
 * saying it is no longer offered, or that its file is gone. */
df_status df_loras_resolve(df_loras *loras, const char *name, char *path, size_t path_size,
                           df_lora_identity *identity, df_error *error);

/* Whether the file of the offered LoRA `name` is a well-formed safetensors
 * file (its header parses and every tensor lies inside the file), checked
 * once per file identity: a request naming a damaged file is refused when
 * it arrives rather than failed when it runs. DF_ERR_FORMAT / DF_ERR_IO
 * with the reader's message, the path replaced by the name. */
df_status df_loras_check(df_loras *loras, const char *name, df_error *error);

/* The autov3 hash of `name` (64 hex digits into `hex`), computed now unless
 * cached for the file's current identity. DF_ERR_FORMAT for a file too
 * short for its header length, DF_ERR_IO when it cannot be read. */
df_status df_loras_hash(df_loras *loras, const char *name, char hex[DF_LORA_HASH_SIZE],
                        df_error *error);

/* The infotext of an image made with `list` (count > 0) from `prompt` (the
 * prompt the engine encoded, which *infotext starts with), edited as
 * AUTOMATIC1111 writes one: the LoRAs as prompt tags after the prompt
 * (<lora:NAME:SCALE>, or <lora:NAME:TE:UNET> when the scales differ; A1111
 * finds LoRAs in the prompt, so pasting the infotext there reproduces the
 * set), and Lora hashes: "NAME: HASH, ..." (the autov3 hashes' first 12
 * digits, once per name) before Version. A LoRA whose hash cannot be
 * computed is left out of Lora hashes. *infotext is replaced (freed and
 * malloc'ed); on failure (out of memory) it is left as it was. */
df_status df_loras_infotext(df_loras *loras, const char *prompt, const df_request_lora *list,
                            int count, char **infotext, df_error *error);

#endif
