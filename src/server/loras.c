/*
 * loras.c — the LoRA directory of `diffuse serve` (see loras.h for the
 * contract).
 *
 * Invariants: `items` (sorted by name) is replaced whole by a rescan under
 * `lock`; every reader copies what it needs under `lock` and works on the
 * copy, so no pointer into `items` escapes. Hashing and header checks read
 * files outside the lock; their result is stored with the identity (device,
 * inode, size, mtime) of the version they read, and used only while the
 * file still has it.
 */
#include "server/loras.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "runtime/error.h"
#include "server/log.h"
#include "server/util.h"

#define SUFFIX ".safetensors"
#define SUFFIX_LENGTH (sizeof SUFFIX - 1)

typedef struct lora_item {
    df_lora_entry public;
    df_lora_identity identity; /* at the last scan */
    df_lora_identity hashed;   /* what public.hash is of ("" hash: nothing) */
    df_lora_identity checked;  /* the version df_loras_check found well-formed */
    int checked_ok;
} lora_item;

struct df_loras {
    char *dir;
    pthread_mutex_t lock;        /* items, count */
    pthread_mutex_t rescan_lock; /* one rescan at a time */
    lora_item *items;
    int count;
};

static void identity_of(const struct stat *info, df_lora_identity *out)
{
    memset(out, 0, sizeof *out);
    out->device = info->st_dev;
    out->inode = info->st_ino;
    out->size = (int64_t)info->st_size;
    out->modified_ns = (int64_t)info->st_mtim.tv_sec * 1000000000 + info->st_mtim.tv_nsec;
}

static int same_identity(const df_lora_identity *a, const df_lora_identity *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size &&
           a->modified_ns == b->modified_ns;
}

int df_loras_name_check(const char *name, char *why, size_t why_size)
{
    size_t length = strlen(name);
    const char *problem = NULL;
    if (!length)
        problem = "the name is empty";
    else if (length >= DF_LORA_NAME_SIZE)
        problem = "the name is too long";
    else if (strchr(name, '/') || strchr(name, '\\'))
        problem = "a path: name a LoRA as GET /v1/loras lists it (its file name in the LoRA "
                  "directory, without .safetensors)";
    else if (name[0] == '.')
        problem = "a name may not start with '.'";
    else if (strpbrk(name, ":<>"))
        problem = "a name may not hold ':', '<' or '>' (it could not be written in a prompt "
                  "tag)";
    else if (df_server_utf8_prefix(name) != length)
        problem = "the name is not UTF-8";
    for (size_t i = 0; !problem && i < length; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            problem = "the name holds a control character";
    if (problem && why)
        snprintf(why, why_size, "%s", problem);
    return problem ? -1 : 0;
}

static int compare_items(const void *a, const void *b)
{
    return strcmp(((const lora_item *)a)->public.name, ((const lora_item *)b)->public.name);
}

/* The LoRAs in the directory now (sorted), keeping the hashes of `previous`
 * entries whose file did not change. */
static df_status scan(const char *dir, const lora_item *previous, int previous_count,
                      lora_item **out, int *out_count, df_error *error)
{
    *out = NULL;
    *out_count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return df_error_set(error, DF_ERR_IO, "--lora-dir %s: cannot open the directory", dir);
    lora_item *items = NULL;
    int count = 0, capacity = 0;
    df_status status = DF_OK;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        size_t length = strlen(entry->d_name);
        if (length <= SUFFIX_LENGTH || strcmp(entry->d_name + length - SUFFIX_LENGTH, SUFFIX))
            continue;
        char name[DF_LORA_NAME_SIZE], why[256];
        if (length - SUFFIX_LENGTH >= sizeof name) {
            df_log_warning("--lora-dir: %s: skipped (the name is too long)", entry->d_name);
            continue;
        }
        memcpy(name, entry->d_name, length - SUFFIX_LENGTH);
        name[length - SUFFIX_LENGTH] = 0;
        if (df_loras_name_check(name, why, sizeof why)) {
            if (name[0] != '.') { /* hidden files: partial downloads, editor files */
                df_server_utf8_repair(name);
                df_log_warning("--lora-dir: %s%s: skipped (%s)", name, SUFFIX, why);
            }
            continue;
        }
        char path[4096];
        struct stat info;
        if (snprintf(path, sizeof path, "%s/%s", dir, entry->d_name) >= (int)sizeof path ||
            stat(path, &info) || !S_ISREG(info.st_mode)) /* stat: follows symlinks */
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            lora_item *grown = realloc(items, (size_t)capacity * sizeof *items);
            if (!grown) {
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
                break;
            }
            items = grown;
        }
        lora_item *item = &items[count++];
        memset(item, 0, sizeof *item);
        snprintf(item->public.name, sizeof item->public.name, "%s", name);
        item->public.size = (int64_t)info.st_size;
        item->public.modified = (double)info.st_mtim.tv_sec + info.st_mtim.tv_nsec * 1e-9;
        identity_of(&info, &item->identity);
        for (int i = 0; i < previous_count; i++)
            if (!strcmp(previous[i].public.name, name) && previous[i].public.hash[0] &&
                same_identity(&previous[i].hashed, &item->identity)) {
                memcpy(item->public.hash, previous[i].public.hash, sizeof item->public.hash);
                item->hashed = previous[i].hashed;
            }
        for (int i = 0; i < previous_count; i++)
            if (!strcmp(previous[i].public.name, name) && previous[i].checked_ok &&
                same_identity(&previous[i].checked, &item->identity)) {
                item->checked = previous[i].checked;
                item->checked_ok = 1;
            }
    }
    closedir(d);
    if (status) {
        free(items);
        return status;
    }
    if (count)
        qsort(items, (size_t)count, sizeof *items, compare_items);
    *out = items;
    *out_count = count;
    return DF_OK;
}

df_status df_loras_create(const char *dir, df_loras **out, df_error *error)
{
    *out = NULL;
    if (sodium_init() < 0)
        return df_error_set(error, DF_ERR_INTERNAL, "libsodium could not be initialised");
    df_loras *loras = calloc(1, sizeof *loras);
    if (!loras || !(loras->dir = strdup(dir))) {
        free(loras);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    /* No trailing slash, so the paths built below read cleanly. */
    size_t length = strlen(loras->dir);
    while (length > 1 && loras->dir[length - 1] == '/')
        loras->dir[--length] = 0;
    pthread_mutex_init(&loras->lock, NULL);
    pthread_mutex_init(&loras->rescan_lock, NULL);
    df_status status = scan(loras->dir, NULL, 0, &loras->items, &loras->count, error);
    if (status) {
        df_loras_free(loras);
        return status;
    }
    *out = loras;
    return DF_OK;
}

void df_loras_free(df_loras *loras)
{
    if (!loras)
        return;
    pthread_mutex_destroy(&loras->lock);
    pthread_mutex_destroy(&loras->rescan_lock);
    free(loras->items);
    free(loras->dir);
    free(loras);
}

static int find_index(const lora_item *items, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(items[i].public.name, name))
            return i;
    return -1;
}

df_status df_loras_rescan(df_loras *loras, int *added, int *removed, df_error *error)
{
    pthread_mutex_lock(&loras->rescan_lock);
    /* A copy of the current items for the hashes to keep: hashing may store
     * into them meanwhile, and a hash lost here is only computed again. */
    pthread_mutex_lock(&loras->lock);
    int previous_count = loras->count;
    lora_item *previous = malloc((size_t)(previous_count ? previous_count : 1) * sizeof *previous);
    if (previous)
        memcpy(previous, loras->items, (size_t)previous_count * sizeof *previous);
    pthread_mutex_unlock(&loras->lock);
    lora_item *items = NULL;
    int count = 0;
    df_status status = previous ? scan(loras->dir, previous, previous_count, &items, &count, error)
                                : df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (!status) {
        int gained = 0, lost = 0;
        for (int i = 0; i < count; i++)
            gained += find_index(previous, previous_count, items[i].public.name) < 0;
        for (int i = 0; i < previous_count; i++)
            lost += find_index(items, count, previous[i].public.name) < 0;
        pthread_mutex_lock(&loras->lock);
        lora_item *old = loras->items;
        loras->items = items;
        loras->count = count;
        pthread_mutex_unlock(&loras->lock);
        free(old);
        if (added)
            *added = gained;
        if (removed)
            *removed = lost;
    }
    free(previous);
    pthread_mutex_unlock(&loras->rescan_lock);
    return status;
}

df_status df_loras_list(df_loras *loras, df_lora_entry **out, int *count, df_error *error)
{
    pthread_mutex_lock(&loras->lock);
    int n = loras->count;
    df_lora_entry *list = malloc((size_t)(n ? n : 1) * sizeof *list);
    for (int i = 0; list && i < n; i++)
        list[i] = loras->items[i].public;
    pthread_mutex_unlock(&loras->lock);
    if (!list)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    *out = list;
    *count = n;
    return DF_OK;
}

int df_loras_count(df_loras *loras)
{
    pthread_mutex_lock(&loras->lock);
    int n = loras->count;
    pthread_mutex_unlock(&loras->lock);
    return n;
}

/* The catalogue name `name` stands for: itself, or itself without a
 * trailing ".safetensors". */
static void strip_suffix(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    size_t length = strlen(out);
    if (length > SUFFIX_LENGTH && !strcmp(out + length - SUFFIX_LENGTH, SUFFIX))
        out[length - SUFFIX_LENGTH] = 0;
}

int df_loras_find(df_loras *loras, const char *name, char *canonical, size_t canonical_size)
{
    if (strlen(name) >= DF_LORA_NAME_SIZE + SUFFIX_LENGTH)
        return 0;
    char wanted[DF_LORA_NAME_SIZE + SUFFIX_LENGTH];
    pthread_mutex_lock(&loras->lock);
    int index = find_index(loras->items, loras->count, name);
    if (index < 0) {
        strip_suffix(name, wanted, sizeof wanted);
        index = find_index(loras->items, loras->count, wanted);
    }
    if (index >= 0 && canonical)
        snprintf(canonical, canonical_size, "%s", loras->items[index].public.name);
    pthread_mutex_unlock(&loras->lock);
    return index >= 0;
}

void df_loras_names(df_loras *loras, char *buffer, size_t size)
{
    if (!size)
        return;
    buffer[0] = 0;
    size_t used = 0;
    pthread_mutex_lock(&loras->lock);
    for (int i = 0; i < loras->count; i++) {
        const char *name = loras->items[i].public.name;
        size_t need = strlen(name) + (i ? 2 : 0);
        if (used + need + 4 >= size) {
            snprintf(buffer + used, size - used, "%s...", i ? ", " : "");
            break;
        }
        used += (size_t)snprintf(buffer + used, size - used, "%s%s", i ? ", " : "", name);
    }
    if (!loras->count)
        snprintf(buffer, size, "none: the LoRA directory holds no .safetensors file");
    pthread_mutex_unlock(&loras->lock);
}

df_status df_loras_resolve(df_loras *loras, const char *name, char *path, size_t path_size,
                           df_lora_identity *identity, df_error *error)
{
    char canonical[DF_LORA_NAME_SIZE];
    if (!df_loras_find(loras, name, canonical, sizeof canonical))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "LoRA '%s' is no longer in the LoRA directory (removed since the "
                            "job was submitted?)", name);
    if (snprintf(path, path_size, "%s/%s" SUFFIX, loras->dir, canonical) >= (int)path_size)
        return df_error_set(error, DF_ERR_IO, "LoRA '%s': the path is too long", name);
    struct stat info;
    if (stat(path, &info) || !S_ISREG(info.st_mode))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "LoRA '%s': its file is gone from the LoRA directory (removed "
                            "since the job was submitted?)", name);
    if (identity)
        identity_of(&info, identity);
    return DF_OK;
}

df_status df_loras_check(df_loras *loras, const char *name, df_error *error)
{
    char canonical[DF_LORA_NAME_SIZE], path[4096];
    df_lora_identity now;
    if (!df_loras_find(loras, name, canonical, sizeof canonical))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "LoRA '%s' is not offered", name);
    df_status status = df_loras_resolve(loras, canonical, path, sizeof path, &now, error);
    if (status)
        return status;
    pthread_mutex_lock(&loras->lock);
    int index = find_index(loras->items, loras->count, canonical);
    int known = index >= 0 && loras->items[index].checked_ok &&
                same_identity(&loras->items[index].checked, &now);
    pthread_mutex_unlock(&loras->lock);
    if (known)
        return DF_OK;
    df_safetensors *file = NULL;
    df_error open_error = {0};
    status = df_safetensors_open(path, &file, &open_error);
    df_safetensors_close(file);
    if (status) {
        /* The reader names the file by its path: the client knows a name. */
        const char *message = open_error.message;
        size_t length = strlen(path);
        const char *at = strstr(message, path);
        const char *after = at ? at + length : NULL;
        if (after && !strncmp(after, ": ", 2)) /* "PATH: why" */
            after += 2;
        if (at)
            return df_error_set(error, status, "LoRA '%s': %.*s%s", canonical,
                                (int)(at - message), message, after);
        return df_error_set(error, status, "LoRA '%s': %s", canonical, message);
    }
    pthread_mutex_lock(&loras->lock);
    index = find_index(loras->items, loras->count, canonical);
    if (index >= 0) {
        loras->items[index].checked = now;
        loras->items[index].checked_ok = 1;
    }
    pthread_mutex_unlock(&loras->lock);
    return DF_OK;
}

/* A1111's addnet_hash_safetensors: SHA-256 of the bytes after the 8-byte
 * header length and the header. */
static df_status hash_file(const char *path, const char *name, char hex[DF_LORA_HASH_SIZE],
                           df_lora_identity *identity, df_error *error)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return df_error_set(error, DF_ERR_IO, "LoRA '%s': cannot open its file", name);
    struct stat info;
    unsigned char length_bytes[8];
    df_status status = DF_OK;
    if (fstat(fileno(file), &info) || fread(length_bytes, 1, 8, file) != 8)
        status = df_error_set(error, DF_ERR_FORMAT, "LoRA '%s': shorter than a safetensors "
                              "header", name);
    uint64_t header = 0;
    for (int i = 7; i >= 0 && !status; i--)
        header = header << 8 | length_bytes[i];
    if (!status && (header > (uint64_t)info.st_size - 8 ||
                    fseeko(file, (off_t)(8 + header), SEEK_SET)))
        status = df_error_set(error, DF_ERR_FORMAT, "LoRA '%s': its header length %llu is past "
                              "the end of the file (truncated?)", name,
                              (unsigned long long)header);
    unsigned char *buffer = status ? NULL : malloc(1 << 20);
    if (!status && !buffer)
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    size_t got;
    while (!status && (got = fread(buffer, 1, 1 << 20, file)) > 0)
        crypto_hash_sha256_update(&state, buffer, got);
    if (!status && ferror(file))
        status = df_error_set(error, DF_ERR_IO, "LoRA '%s': read error", name);
    free(buffer);
    fclose(file);
    if (status)
        return status;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state, digest);
    sodium_bin2hex(hex, DF_LORA_HASH_SIZE, digest, sizeof digest);
    identity_of(&info, identity);
    return DF_OK;
}

df_status df_loras_hash(df_loras *loras, const char *name, char hex[DF_LORA_HASH_SIZE],
                        df_error *error)
{
    char canonical[DF_LORA_NAME_SIZE], path[4096];
    df_lora_identity now, hashed;
    if (!df_loras_find(loras, name, canonical, sizeof canonical))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "LoRA '%s' is not offered", name);
    df_status status = df_loras_resolve(loras, canonical, path, sizeof path, &now, error);
    if (status)
        return status;
    pthread_mutex_lock(&loras->lock);
    int index = find_index(loras->items, loras->count, canonical);
    int cached = index >= 0 && loras->items[index].public.hash[0] &&
                 same_identity(&loras->items[index].hashed, &now);
    if (cached)
        memcpy(hex, loras->items[index].public.hash, DF_LORA_HASH_SIZE);
    pthread_mutex_unlock(&loras->lock);
    if (cached)
        return DF_OK;
    if ((status = hash_file(path, canonical, hex, &hashed, error)))
        return status;
    /* Kept with the identity hashed: the cache answers while the file
     * stays that version, whatever the last scan saw. */
    pthread_mutex_lock(&loras->lock);
    index = find_index(loras->items, loras->count, canonical);
    if (index >= 0) {
        memcpy(loras->items[index].public.hash, hex, DF_LORA_HASH_SIZE);
        loras->items[index].hashed = hashed;
    }
    pthread_mutex_unlock(&loras->lock);
    return DF_OK;
}

/* The shortest %g form of x that reads back as x (0.7, not 0.69999999999999996). */
static void format_scale(double x, char *out, size_t size)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

/* Appends `text` to the growing buffer; -1 when out of memory. */
static int append(char **buffer, size_t *length, size_t *capacity, const char *text, size_t n)
{
    if (*length + n + 1 > *capacity) {
        size_t grown = (*length + n + 1) * 2;
        char *bigger = realloc(*buffer, grown);
        if (!bigger)
            return -1;
        *buffer = bigger;
        *capacity = grown;
    }
    memcpy(*buffer + *length, text, n);
    *length += n;
    (*buffer)[*length] = 0;
    return 0;
}

df_status df_loras_infotext(df_loras *loras, const char *prompt, const df_request_lora *list,
                            int count, char **infotext, df_error *error)
{
    const char *old = *infotext;
    size_t prompt_length = strlen(prompt);
    char *tags = NULL, *hashes = NULL, *out = NULL;
    size_t tags_length = 0, tags_capacity = 0, hashes_length = 0, hashes_capacity = 0;
    size_t out_length = 0, out_capacity = 0;
    int failed = append(&tags, &tags_length, &tags_capacity, "", 0) ||
                 append(&hashes, &hashes_length, &hashes_capacity, "", 0);
    for (int i = 0; i < count && !failed; i++) {
        const df_request_lora *lora = &list[i];
        char tag[DF_LORA_NAME_SIZE + 96], te[32], unet[32];
        format_scale(lora->text_scale, te, sizeof te);
        format_scale(lora->unet_scale, unet, sizeof unet);
        /* A space before each tag, but where the prompt is empty or ends
         * with one (the space before a deleted tag is still there). */
        const char *space = !i && (!prompt_length || prompt[prompt_length - 1] == ' ' ||
                                   prompt[prompt_length - 1] == '\n')
                                ? "" : " ";
        if (lora->text_scale == lora->unet_scale)
            snprintf(tag, sizeof tag, "%s<lora:%s:%s>", space, lora->name, te);
        else
            snprintf(tag, sizeof tag, "%s<lora:%s:%s:%s>", space, lora->name, te, unet);
        failed = append(&tags, &tags_length, &tags_capacity, tag, strlen(tag));
        /* A1111 lists a name once; it drops ':' and ',' from it (its
         * separators), which our names may hold only as ','. */
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= !strcmp(list[j].name, lora->name);
        char hex[DF_LORA_HASH_SIZE];
        df_error hash_error = {0};
        if (seen || failed || df_loras_hash(loras, lora->name, hex, &hash_error))
            continue;
        char entry[DF_LORA_NAME_SIZE + 32];
        size_t n = 0;
        if (hashes_length)
            entry[n++] = ',', entry[n++] = ' ';
        for (const char *c = lora->name; *c; c++)
            if (*c != ',')
                entry[n++] = *c;
        n += (size_t)snprintf(entry + n, sizeof entry - n, ": %.12s", hex);
        failed = append(&hashes, &hashes_length, &hashes_capacity, entry, n);
    }
    /* The parameters line is the last line; Version ends it. */
    const char *last_line = strrchr(old, '\n');
    last_line = last_line ? last_line + 1 : old;
    const char *version = strstr(last_line, "Version: ");
    if (version && version != last_line && strncmp(version - 2, ", ", 2))
        version = NULL;
    char *quoted = NULL;
    if (!failed && hashes_length) {
        json_t *string = json_string(hashes);
        quoted = string ? json_dumps(string, JSON_ENCODE_ANY) : NULL;
        json_decref(string);
        failed = !quoted;
    }
    /* The prompt, its tags, the rest up to Version, Lora hashes, Version... */
    int starts = !strncmp(old, prompt, prompt_length) && old[prompt_length] == '\n';
    size_t head = starts ? prompt_length : 0;
    const char *middle = old + head, *tail = version ? version : old + strlen(old);
    if (!failed)
        failed = append(&out, &out_length, &out_capacity, old, head) ||
                 (starts && append(&out, &out_length, &out_capacity, tags, tags_length)) ||
                 append(&out, &out_length, &out_capacity, middle, (size_t)(tail - middle));
    if (!failed && quoted) {
        const char *separator = version ? "" : ", ";
        failed = append(&out, &out_length, &out_capacity, separator, strlen(separator)) ||
                 append(&out, &out_length, &out_capacity, "Lora hashes: ", 13) ||
                 append(&out, &out_length, &out_capacity, quoted, strlen(quoted)) ||
                 (version && append(&out, &out_length, &out_capacity, ", ", 2));
    }
    if (!failed && version)
        failed = append(&out, &out_length, &out_capacity, version, strlen(version));
    free(tags);
    free(hashes);
    free(quoted);
    if (failed) {
        free(out);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    free(*infotext);
    *infotext = out;
    return DF_OK;
}
