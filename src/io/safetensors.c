/*
 * safetensors.c — parsing and validation of .safetensors files.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON, then the
 * data section. The JSON maps tensor names to {dtype, shape, data_offsets}
 * (offsets relative to the data section) plus an optional "__metadata__"
 * string map.
 *
 * Invariants after df_safetensors_parse succeeds:
 *   - every tensor's [offset, offset + size) lies inside the data section and
 *     size == numel * dtype size (computed without overflow);
 *   - tensors do not overlap, leave no holes and the last one ends exactly at
 *     the end of the file (the reference Rust implementation requires the
 *     same, so any file it reads, we read, and trailing garbage is refused);
 *   - tensors are sorted by name (df_safetensors_find is a binary search);
 *   - ndim <= DF_MAX_DIMS. A weight-typed tensor with more dimensions is
 *     refused as unsupported (no Stable Diffusion weight has more than four);
 *     a tensor of another dtype (never used as a weight) keeps its bytes and
 *     has its trailing dimensions folded into the fourth, so such files open.
 * Nothing here trusts the input: every failure is a df_error naming the
 * file and, where there is one, the tensor.
 */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

/* A header this large is not a checkpoint: the biggest real ones (SDXL,
 * ~2,500 tensors) have headers of a few hundred kilobytes. */
#define DF_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

struct df_safetensors {
    char *label;
    void *mapping; /* owned when opened from a file, else NULL */
    size_t mapping_size;
    size_t file_size;
    df_st_tensor *tensors;
    size_t count;
    char **meta_keys;
    char **meta_values;
    size_t meta_count;
};

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [DF_ST_F64] = {"F64", 8},      [DF_ST_F32] = {"F32", 4},     [DF_ST_F16] = {"F16", 2},
    [DF_ST_BF16] = {"BF16", 2},    [DF_ST_I64] = {"I64", 8},     [DF_ST_I32] = {"I32", 4},
    [DF_ST_I16] = {"I16", 2},      [DF_ST_I8] = {"I8", 1},       [DF_ST_U64] = {"U64", 8},
    [DF_ST_U32] = {"U32", 4},      [DF_ST_U16] = {"U16", 2},     [DF_ST_U8] = {"U8", 1},
    [DF_ST_BOOL] = {"BOOL", 1},    [DF_ST_F8_E4M3] = {"F8_E4M3", 1},
    [DF_ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define DTYPE_COUNT (sizeof dtype_table / sizeof dtype_table[0])

const char *df_st_dtype_name(df_st_dtype dtype)
{
    return (unsigned)dtype < DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t df_st_dtype_size(df_st_dtype dtype)
{
    return (unsigned)dtype < DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

int df_st_dtype_to_weight(df_st_dtype st_dtype, df_dtype *out)
{
    df_dtype dtype;
    switch (st_dtype) {
    case DF_ST_F32: dtype = DF_DTYPE_F32; break;
    case DF_ST_F16: dtype = DF_DTYPE_F16; break;
    case DF_ST_BF16: dtype = DF_DTYPE_BF16; break;
    default: return 0;
    }
    if (out)
        *out = dtype;
    return 1;
}

static int dtype_from_string(const char *text, df_st_dtype *out)
{
    for (size_t i = 0; i < DTYPE_COUNT; i++)
        if (!strcmp(text, dtype_table[i].name)) {
            *out = (df_st_dtype)i;
            return 1;
        }
    return 0;
}

void df_safetensors_close(df_safetensors *file)
{
    if (!file)
        return;
    for (size_t i = 0; i < file->count; i++)
        free(file->tensors[i].name);
    free(file->tensors);
    for (size_t i = 0; i < file->meta_count; i++) {
        free(file->meta_keys[i]);
        free(file->meta_values[i]);
    }
    free(file->meta_keys);
    free(file->meta_values);
    if (file->mapping)
        munmap(file->mapping, file->mapping_size);
    free(file->label);
    free(file);
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const df_st_tensor *)a)->name, ((const df_st_tensor *)b)->name);
}

static int compare_by_offset(const void *a, const void *b)
{
    const df_st_tensor *x = *(const df_st_tensor *const *)a;
    const df_st_tensor *y = *(const df_st_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    /* Zero-sized tensors first at equal offsets, so they never hide an overlap. */
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return strcmp(x->name, y->name);
}

static df_status parse_metadata(df_safetensors *file, json_t *value, df_error *error)
{
    if (!json_is_object(value))
        return df_error_set(error, DF_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object",
                            file->label);
    size_t n = json_object_size(value);
    file->meta_keys = calloc(n ? n : 1, sizeof *file->meta_keys);
    file->meta_values = calloc(n ? n : 1, sizeof *file->meta_values);
    if (!file->meta_keys || !file->meta_values)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory reading metadata",
                            file->label);
    const char *key;
    json_t *entry;
    json_object_foreach(value, key, entry)
    {
        if (!json_is_string(entry))
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: metadata entry '%s' is not a string", file->label, key);
        size_t i = file->meta_count;
        file->meta_keys[i] = strdup(key);
        file->meta_values[i] = strndup(json_string_value(entry), json_string_length(entry));
        if (!file->meta_keys[i] || !file->meta_values[i]) {
            free(file->meta_keys[i]);
            free(file->meta_values[i]);
            return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory reading metadata",
                                file->label);
        }
        file->meta_count++;
    }
    return DF_OK;
}

/* Fills `tensor` from one header entry; data pointers are set later. */
static df_status parse_tensor(const df_safetensors *file, const char *name, json_t *entry,
                              uint64_t data_size, df_st_tensor *tensor, df_error *error)
{
    const char *label = file->label;
    if (!json_is_object(entry))
        return df_error_set(error, DF_ERR_FORMAT, "%s: entry for tensor '%s' is not a JSON object",
                            label, name);
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype))
        return df_error_set(error, DF_ERR_FORMAT, "%s: tensor '%s' has no \"dtype\" string",
                            label, name);
    if (!json_is_array(shape))
        return df_error_set(error, DF_ERR_FORMAT, "%s: tensor '%s' has no \"shape\" array", label,
                            name);
    if (!json_is_array(offsets) || json_array_size(offsets) != 2)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: tensor '%s' has no \"data_offsets\" pair [begin, end]", label,
                            name);
    if (!dtype_from_string(json_string_value(dtype), &tensor->st_dtype))
        return df_error_set(error, DF_ERR_FORMAT, "%s: unknown dtype '%.32s' for tensor '%s'",
                            label, json_string_value(dtype), name);

    /* Element count over all dimensions, however many there are. */
    size_t ndim = json_array_size(shape);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t d = 0; d < ndim; d++) {
        json_t *dim = json_array_get(shape, d);
        if (!json_is_integer(dim))
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: shape of tensor '%s' has a non-integer entry at index %zu",
                                label, name, d);
        json_int_t extent = json_integer_value(dim);
        if (extent < 0)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: shape of tensor '%s' has a negative entry (%lld) at index %zu",
                                label, name, (long long)extent, d);
        if (__builtin_mul_overflow(numel, (uint64_t)extent, &numel))
            overflow = 1; /* reported after every entry was type-checked */
    }
    uint64_t item = df_st_dtype_size(tensor->st_dtype);
    uint64_t bytes = 0;
    if (overflow || __builtin_mul_overflow(numel, item, &bytes))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: shape of tensor '%s' has an element count that overflows 64 bits",
                            label, name);

    json_t *begin_json = json_array_get(offsets, 0), *end_json = json_array_get(offsets, 1);
    if (!json_is_integer(begin_json) || !json_is_integer(end_json))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: data_offsets of tensor '%s' are not two integers", label, name);
    json_int_t begin = json_integer_value(begin_json), end = json_integer_value(end_json);
    if (begin < 0 || end < begin || (uint64_t)end > data_size)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: data_offsets [%lld, %lld] of tensor '%s' are outside the data "
                            "section (%llu bytes)",
                            label, (long long)begin, (long long)end, name,
                            (unsigned long long)data_size);
    if ((uint64_t)(end - begin) != bytes)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: tensor '%s' spans %lld bytes but its shape and dtype %s need "
                            "%llu",
                            label, name, (long long)(end - begin),
                            df_st_dtype_name(tensor->st_dtype), (unsigned long long)bytes);

    if (ndim > DF_MAX_DIMS) {
        if (df_st_dtype_to_weight(tensor->st_dtype, NULL))
            return df_error_set(error, DF_ERR_UNSUPPORTED,
                                "%s: tensor '%s' has %zu dimensions; at most %d are supported",
                                label, name, ndim, DF_MAX_DIMS);
    }
    tensor->ndim = ndim > DF_MAX_DIMS ? DF_MAX_DIMS : (int)ndim;
    for (size_t d = 0; d < ndim; d++) {
        int64_t extent = (int64_t)json_integer_value(json_array_get(shape, d));
        if (d < DF_MAX_DIMS)
            tensor->shape[d] = extent;
        else /* fold into the last slot; cannot overflow, numel did not */
            tensor->shape[DF_MAX_DIMS - 1] *= extent;
    }
    tensor->offset = (uint64_t)begin;
    tensor->size = bytes;
    return DF_OK;
}

/* No overlaps, no holes, and nothing after the last tensor. */
static df_status check_coverage(df_safetensors *file, uint64_t data_size, df_error *error)
{
    if (file->count == 0) {
        if (data_size != 0)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: %llu bytes of trailing data after a header with no tensors",
                                file->label, (unsigned long long)data_size);
        return DF_OK;
    }
    const df_st_tensor **order = malloc(file->count * sizeof *order);
    if (!order)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", file->label);
    for (size_t i = 0; i < file->count; i++)
        order[i] = &file->tensors[i];
    qsort(order, file->count, sizeof *order, compare_by_offset);
    df_status status = DF_OK;
    uint64_t covered = 0; /* end of the bytes claimed so far */
    const df_st_tensor *previous = NULL;
    for (size_t i = 0; i < file->count && status == DF_OK; i++) {
        const df_st_tensor *t = order[i];
        if (t->size == 0 && t->offset <= covered)
            continue; /* an empty tensor claims nothing */
        if (t->offset < covered)
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' which ends "
                                  "at %llu",
                                  file->label, t->name, (unsigned long long)t->offset,
                                  (unsigned long long)(t->offset + t->size),
                                  previous ? previous->name : "?", (unsigned long long)covered);
        else if (t->offset > covered)
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "%s: the data section has a hole of %llu bytes before tensor "
                                  "'%s'",
                                  file->label, (unsigned long long)(t->offset - covered), t->name);
        covered = t->offset + t->size;
        previous = t;
    }
    if (status == DF_OK && covered != data_size)
        status = df_error_set(error, DF_ERR_FORMAT,
                              "%s: %llu bytes of trailing data after the last tensor '%s'",
                              file->label, (unsigned long long)(data_size - covered),
                              previous ? previous->name : "?");
    free(order);
    return status;
}

df_status df_safetensors_parse(const void *bytes, size_t size, const char *label,
                               df_safetensors **out, df_error *error)
{
    if (!out || (!bytes && size))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_safetensors_parse: NULL argument");
    *out = NULL;
    if (!label)
        label = "<memory>";
    if (size == 0)
        return df_error_set(error, DF_ERR_FORMAT, "%s: file is empty, not a safetensors file",
                            label);
    if (size < 8)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: file is %zu bytes, too short for a safetensors header length "
                            "(8 bytes)",
                            label, size);
    const unsigned char *base = bytes;
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--)
        header_length = header_length << 8 | base[i];
    if (header_length == 0)
        return df_error_set(error, DF_ERR_FORMAT, "%s: header length is 0, not a safetensors file",
                            label);
    if (header_length > DF_ST_MAX_HEADER)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: header length %llu is over the %llu-byte limit (not a "
                            "safetensors file?)",
                            label, (unsigned long long)header_length,
                            (unsigned long long)DF_ST_MAX_HEADER);
    if (header_length > size - 8)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: header length %llu is beyond the end of the file (%zu bytes "
                            "follow the length field); the file is truncated or not safetensors",
                            label, (unsigned long long)header_length, size - 8);
    uint64_t data_size = size - 8 - header_length;
    const unsigned char *data = base + 8 + header_length;

    df_safetensors *file = calloc(1, sizeof *file);
    if (!file || !(file->label = strdup(label))) {
        free(file);
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", label);
    }

    file->file_size = size;
    json_error_t json_error;
    json_t *root = json_loadb((const char *)base + 8, header_length, JSON_REJECT_DUPLICATES,
                              &json_error);
    df_status status = DF_OK;
    if (!root) {
        status = df_error_set(error, DF_ERR_FORMAT,
                              "%s: header is not valid JSON: %s (at byte %d of the header)", label,
                              json_error.text, json_error.position);
        goto done;
    }
    if (!json_is_object(root)) {
        status = df_error_set(error, DF_ERR_FORMAT, "%s: header is JSON but not an object", label);
        goto done;
    }

    size_t entries = json_object_size(root);
    file->tensors = calloc(entries ? entries : 1, sizeof *file->tensors);
    if (!file->tensors) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory for %zu tensors", label,
                              entries);
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (!strcmp(key, "__metadata__")) {
            if (file->meta_keys) { /* unreachable with JSON_REJECT_DUPLICATES; be safe */
                status = df_error_set(error, DF_ERR_FORMAT, "%s: two \"__metadata__\" entries",
                                      label);
                goto done;
            }
            if ((status = parse_metadata(file, value, error)) != DF_OK)
                goto done;
            continue;
        }
        df_st_tensor *tensor = &file->tensors[file->count];
        if ((status = parse_tensor(file, key, value, data_size, tensor, error)) != DF_OK)
            goto done;
        if (!(tensor->name = strdup(key))) {
            status = df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", label);
            goto done;
        }
        tensor->data = data + tensor->offset;
        file->count++;
    }
    if ((status = check_coverage(file, data_size, error)) != DF_OK)
        goto done;
    qsort(file->tensors, file->count, sizeof *file->tensors, compare_by_name);

done:
    json_decref(root);
    if (status != DF_OK) {
        df_safetensors_close(file);
        return status;
    }
    *out = file;
    return DF_OK;
}

df_status df_safetensors_open(const char *path, df_safetensors **out, df_error *error)
{
    if (!path || !out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_safetensors_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return df_error_set(error, DF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int saved = errno;
        close(fd);
        return df_error_set(error, DF_ERR_IO, "%s: cannot stat: %s", path, strerror(saved));
    }
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        return df_error_set(error, DF_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)info.st_size;
    void *mapping = NULL;
    if (size > 0) {
        /* Read-only private mapping: weights are paged in on use, never copied. */
        mapping = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (mapping == MAP_FAILED) {
            int saved = errno;
            close(fd);
            return df_error_set(error, DF_ERR_IO, "%s: cannot map %zu bytes: %s", path, size,
                                strerror(saved));
        }
    }
    close(fd); /* the mapping keeps the file alive */
    df_safetensors *file = NULL;
    df_status status = df_safetensors_parse(mapping, size, path, &file, error);
    if (status != DF_OK) {
        if (mapping)
            munmap(mapping, size);
        return status;
    }
    file->mapping = mapping;
    file->mapping_size = size;
    *out = file;
    return DF_OK;
}

const char *df_safetensors_path(const df_safetensors *file)
{
    return file ? file->label : NULL;
}

size_t df_safetensors_count(const df_safetensors *file)
{
    return file ? file->count : 0;
}

const df_st_tensor *df_safetensors_at(const df_safetensors *file, size_t index)
{
    return file && index < file->count ? &file->tensors[index] : NULL;
}

const df_st_tensor *df_safetensors_find(const df_safetensors *file, const char *name)
{
    if (!file || !name || file->count == 0)
        return NULL;
    df_st_tensor key = {.name = (char *)name};
    return bsearch(&key, file->tensors, file->count, sizeof *file->tensors, compare_by_name);
}

const char *df_safetensors_metadata(const df_safetensors *file, const char *key)
{
    if (!file || !key)
        return NULL;
    for (size_t i = 0; i < file->meta_count; i++)
        if (!strcmp(file->meta_keys[i], key))
            return file->meta_values[i];
    return NULL;
}

size_t df_safetensors_metadata_count(const df_safetensors *file)
{
    return file ? file->meta_count : 0;
}

const char *df_safetensors_metadata_at(const df_safetensors *file, size_t index,
                                       const char **value)
{
    if (!file || index >= file->meta_count)
        return NULL;
    if (value)
        *value = file->meta_values[index];
    return file->meta_keys[index];
}

int df_safetensors_maps(const df_safetensors *file, const void *data)
{
    const uintptr_t base = file && file->mapping ? (uintptr_t)file->mapping : 0;
    return base && (uintptr_t)data >= base && (uintptr_t)data < base + file->mapping_size;
}

void df_safetensors_release_pages(const df_safetensors *file, const void *begin, const void *end)
{
    if (!file || !file->mapping || !begin || end <= begin)
        return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t base = (uintptr_t)file->mapping, limit = base + file->mapping_size;
    uintptr_t from = (uintptr_t)begin, to = (uintptr_t)end;
    if (from < base || to > limit)
        return; /* not this file's pages: never advise memory we do not map */
    from = from / page * page;
    to = (to + page - 1) / page * page;
    if (to > (limit + page - 1) / page * page)
        to = (limit + page - 1) / page * page;
    /* A read-only private file mapping: dropped pages are read back from
     * the file (the page cache) on the next access, never zeroed. */
    madvise((void *)from, to - from, MADV_DONTNEED);
}

uint64_t df_safetensors_file_size(const df_safetensors *file)
{
    return file ? (uint64_t)file->file_size : 0;
}
