/*
 * precision.h — the arithmetic a generation's linear layers and
 * convolutions use (`--precision`, the `precision` request field). Header
 * only, so the server's request validation (also built into the fuzz
 * targets, without the kernels) parses names exactly as the engine does.
 *
 *   f32   the default: f32 everywhere
 *   bf16  GEMM inputs rounded to bf16 (activations and weights), f32 sums
 *   int8  weights s8 per output channel and K block, activations u8 per row
 *         and K block (asymmetric), exact int32 sums, f32 rescale per block
 */
#ifndef DF_RUNTIME_PRECISION_H
#define DF_RUNTIME_PRECISION_H

#include <string.h>

typedef enum df_precision {
    DF_PRECISION_F32 = 0,
    DF_PRECISION_BF16,
    DF_PRECISION_INT8,
} df_precision;

#define DF_PRECISION_NAMES "f32, bf16, int8"

/* NULL or "" is f32. Returns 0 on an unknown name. */
static inline int df_precision_parse(const char *name, df_precision *out)
{
    if (!name || !*name || strcmp(name, "f32") == 0)
        *out = DF_PRECISION_F32;
    else if (strcmp(name, "bf16") == 0)
        *out = DF_PRECISION_BF16;
    else if (strcmp(name, "int8") == 0)
        *out = DF_PRECISION_INT8;
    else
        return 0;
    return 1;
}

static inline const char *df_precision_name(df_precision precision)
{
    return precision == DF_PRECISION_BF16 ? "bf16" : precision == DF_PRECISION_INT8 ? "int8" : "f32";
}

#endif
