/*
 * arena.h — scratch memory for a forward pass. A model computes the bytes a
 * pass needs up front, reserves them once, and then carves activations out
 * with df_arena_alloc; df_arena_reset frees everything at once. Nothing in a
 * hot loop calls malloc. Allocations are 64-byte aligned.
 */
#ifndef DF_RUNTIME_ARENA_H
#define DF_RUNTIME_ARENA_H

#include <stddef.h>

#include "diffuse.h"

typedef struct df_arena {
    unsigned char *base;
    size_t capacity;
    size_t used;
    size_t high_water;
} df_arena;

/* Ensures capacity >= bytes (reallocates only when it grows; contents lost). */
df_status df_arena_reserve(df_arena *arena, size_t bytes, df_error *error);
/* NULL when the plan was wrong (the arena is full): a programmer error the
 * caller reports as DF_ERR_INTERNAL. */
void *df_arena_alloc(df_arena *arena, size_t bytes);
float *df_arena_floats(df_arena *arena, size_t count);
void df_arena_reset(df_arena *arena);
void df_arena_release(df_arena *arena);
/* Bytes one allocation of `bytes` takes, alignment included, for planning. */
size_t df_arena_footprint(size_t bytes);

#endif
