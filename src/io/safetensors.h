/*
 * safetensors.h — read-only access to a .safetensors file through mmap.
 *
 * The header is parsed with jansson and every field is checked before use:
 * the header length against the file size, each dtype against the format's
 * list, each shape's element count against its byte range, each range
 * against the data section, and ranges against each other (no overlap). After
 * df_safetensors_open succeeds, every tensor's bytes are inside the mapping.
 */
#ifndef DF_IO_SAFETENSORS_H
#define DF_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse.h"
#include "runtime/tensor.h"

/* All dtypes the format defines. Only F32/F16/BF16 can be used as weights;
 * the others (position_ids are I64 in real checkpoints) are listed and skipped. */
typedef enum df_st_dtype {
    DF_ST_F64, DF_ST_F32, DF_ST_F16, DF_ST_BF16,
    DF_ST_I64, DF_ST_I32, DF_ST_I16, DF_ST_I8,
    DF_ST_U64, DF_ST_U32, DF_ST_U16, DF_ST_U8,
    DF_ST_BOOL, DF_ST_F8_E4M3, DF_ST_F8_E5M2
} df_st_dtype;

typedef struct df_st_tensor {
    char *name;
    df_st_dtype st_dtype;
    int ndim;                 /* 0..DF_MAX_DIMS; a weight dtype (F32/F16/BF16) with more is
                                 rejected as unsupported, other dtypes have their trailing
                                 dimensions folded into shape[DF_MAX_DIMS - 1] */
    int64_t shape[DF_MAX_DIMS];
    uint64_t offset, size;    /* bytes, relative to the data section */
    const void *data;         /* inside the mapping; not necessarily aligned to the dtype */
} df_st_tensor;

typedef struct df_safetensors df_safetensors;

df_status df_safetensors_open(const char *path, df_safetensors **out, df_error *error);
void df_safetensors_close(df_safetensors *file);

/* Parses and validates a whole file image already in memory (the fuzz target
 * and tests use this; open() calls it on the mapping). `label` names the file
 * in messages. The result borrows `bytes`: they must outlive it. */
df_status df_safetensors_parse(const void *bytes, size_t size, const char *label,
                               df_safetensors **out, df_error *error);

const char *df_safetensors_path(const df_safetensors *file);
size_t df_safetensors_count(const df_safetensors *file);
const df_st_tensor *df_safetensors_at(const df_safetensors *file, size_t index);
/* NULL when absent. O(log n). */
const df_st_tensor *df_safetensors_find(const df_safetensors *file, const char *name);
/* Value of a "__metadata__" string entry, or NULL. */
const char *df_safetensors_metadata(const df_safetensors *file, const char *key);

/* The "__metadata__" entries in file order; NULL past the end. */
size_t df_safetensors_metadata_count(const df_safetensors *file);
const char *df_safetensors_metadata_at(const df_safetensors *file, size_t index,
                                       const char **value);
/* Size of the whole file image in bytes. */
uint64_t df_safetensors_file_size(const df_safetensors *file);
/* Drops the mapped pages of [begin, end) (page-aligned outward, clipped to
 * the mapping) from the process: they stop counting in its resident set and
 * are read back from the page cache when next touched. Does nothing for a
 * range outside this file's mapping or a file not opened by mmap. */
void df_safetensors_release_pages(const df_safetensors *file, const void *begin, const void *end);
/* Whether `data` points into this file's mapping. */
int df_safetensors_maps(const df_safetensors *file, const void *data);

const char *df_st_dtype_name(df_st_dtype dtype);
size_t df_st_dtype_size(df_st_dtype dtype);
/* Whether a tensor of this dtype can serve as a weight (F32, F16, BF16). */
int df_st_dtype_to_weight(df_st_dtype st_dtype, df_dtype *out);

#endif
