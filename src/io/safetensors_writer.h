/*
 * safetensors_writer.h — writes f32/f16/bf16/i32 tensors to a .safetensors
 * file (CLI outputs, test artefacts). The header is built with jansson; data
 * offsets are laid out in the order given. Writes to a temporary name and
 * renames, so a failed write never leaves a half file under the real name.
 */
#ifndef DF_IO_SAFETENSORS_WRITER_H
#define DF_IO_SAFETENSORS_WRITER_H

#include <stdint.h>

#include "diffuse.h"
#include "io/safetensors.h"

typedef struct df_st_output {
    const char *name;
    df_st_dtype dtype; /* F32, F16, BF16 or I32 */
    int ndim;
    int64_t shape[DF_MAX_DIMS];
    const void *data;
} df_st_output;

df_status df_safetensors_write(const char *path, const df_st_output *tensors, int count,
                               df_error *error);

#endif
