/*
 * tensor.h — weights as they lie in a checkpoint, and the f16/bf16 helpers.
 *
 * A df_weight is a read-only view into memory owned elsewhere (normally a
 * mmapped safetensors file). f16 and bf16 weights stay in their stored width;
 * kernels convert them to f32 block by block as they use them, so a model's
 * resident size is its file size. Activations are plain f32 arrays.
 */
#ifndef DF_RUNTIME_TENSOR_H
#define DF_RUNTIME_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum df_dtype { DF_DTYPE_F32 = 0, DF_DTYPE_F16, DF_DTYPE_BF16 } df_dtype;

#define DF_MAX_DIMS 4

typedef struct df_weight {
    df_dtype dtype;
    int ndim;
    int64_t shape[DF_MAX_DIMS];
    const void *data; /* not owned */
} df_weight;

size_t df_dtype_size(df_dtype dtype);
const char *df_dtype_name(df_dtype dtype);
int64_t df_weight_numel(const df_weight *weight);

static inline float df_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half to float, exact for normals, subnormals, inf and nan. */
static inline float df_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        exponent = 113;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round-to-nearest-even float to half (used by tests and tools). */
uint16_t df_f32_to_f16(float value);
uint16_t df_f32_to_bf16(float value);

/* Converts `count` elements starting at element `offset` of a weight to f32.
 * Vectorised where the CPU allows (F16C / AVX-512). */
void df_weight_to_f32(const df_weight *weight, int64_t offset, int64_t count, float *out);

/* A single element as f32 (slow path: tests, small vectors). */
float df_weight_get(const df_weight *weight, int64_t index);

#endif
