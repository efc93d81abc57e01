/*
 * safetensors_writer.c — see safetensors_writer.h. The header is padded with
 * spaces to a multiple of 8 bytes, as the reference implementation does, so
 * the data section is aligned.
 */
#include "io/safetensors_writer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

df_status df_safetensors_write(const char *path, const df_st_output *tensors, int count,
                               df_error *error)
{
    json_t *header = json_object();
    if (!header)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory writing %s", path);
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        const df_st_output *tensor = &tensors[i];
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < tensor->ndim; d++) {
            numel *= (uint64_t)tensor->shape[d];
            json_array_append_new(shape, json_integer(tensor->shape[d]));
        }
        uint64_t bytes = numel * df_st_dtype_size(tensor->dtype);
        json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", df_st_dtype_name(tensor->dtype),
                                  "shape", shape, "data_offsets", (json_int_t)offset,
                                  (json_int_t)(offset + bytes));
        if (!entry || json_object_set_new(header, tensor->name, entry)) {
            json_decref(header);
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory writing %s", path);
        }
        offset += bytes;
    }
    char *text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(header);
    if (!text)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory writing %s", path);
    size_t text_length = strlen(text);
    size_t padded = (text_length + 7) / 8 * 8;

    char temporary[4096];
    if (snprintf(temporary, sizeof temporary, "%s.tmp", path) >= (int)sizeof temporary) {
        free(text);
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "output path is too long");
    }
    FILE *file = fopen(temporary, "wb");
    if (!file) {
        free(text);
        return df_error_set(error, DF_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    unsigned char length_bytes[8];
    for (int i = 0; i < 8; i++)
        length_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(length_bytes, 1, 8, file) == 8 && fwrite(text, 1, text_length, file) == text_length;
    for (size_t i = text_length; ok && i < padded; i++)
        ok = fputc(' ', file) != EOF;
    for (int i = 0; ok && i < count; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < tensors[i].ndim; d++)
            numel *= (uint64_t)tensors[i].shape[d];
        size_t bytes = (size_t)(numel * df_st_dtype_size(tensors[i].dtype));
        ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, file) == bytes;
    }
    free(text);
    if (fclose(file) != 0)
        ok = 0;
    if (!ok || rename(temporary, path) != 0) {
        int saved = errno;
        remove(temporary);
        return df_error_set(error, DF_ERR_IO, "cannot write %s: %s", path, strerror(saved));
    }
    return DF_OK;
}
