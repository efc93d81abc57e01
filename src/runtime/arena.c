/*
 * arena.c — bump allocator over one 64-byte aligned block. Every allocation
 * is rounded up to 64 bytes so each starts on a cache line (and on a vector
 * boundary for the kernels); df_arena_footprint reports that rounding so a
 * model can plan its reservation exactly.
 */
#include "runtime/arena.h"

#include <stdint.h>
#include <stdlib.h>

#include "runtime/error.h"

#define DF_ARENA_ALIGN ((size_t)64)

size_t df_arena_footprint(size_t bytes)
{
    if (bytes == 0)
        bytes = 1; /* distinct pointers for zero-sized requests */
    if (bytes > SIZE_MAX - DF_ARENA_ALIGN)
        return SIZE_MAX;
    return (bytes + DF_ARENA_ALIGN - 1) & ~(DF_ARENA_ALIGN - 1);
}

df_status df_arena_reserve(df_arena *arena, size_t bytes, df_error *error)
{
    if (arena->base && arena->capacity >= bytes) {
        arena->used = 0;
        return DF_OK;
    }
    size_t capacity = df_arena_footprint(bytes);
    if (capacity == SIZE_MAX)
        return df_error_set(error, DF_ERR_NO_MEMORY, "scratch arena of %zu bytes is too large",
                            bytes);
    void *base = NULL;
    if (posix_memalign(&base, DF_ARENA_ALIGN, capacity) != 0)
        return df_error_set(error, DF_ERR_NO_MEMORY,
                            "out of memory reserving %zu bytes of scratch", bytes);
    free(arena->base);
    arena->base = base;
    arena->capacity = capacity;
    arena->used = 0;
    return DF_OK;
}

void *df_arena_alloc(df_arena *arena, size_t bytes)
{
    size_t size = df_arena_footprint(bytes);
    if (!arena->base || size == SIZE_MAX || size > arena->capacity - arena->used)
        return NULL;
    void *p = arena->base + arena->used;
    arena->used += size;
    if (arena->used > arena->high_water)
        arena->high_water = arena->used;
    return p;
}

float *df_arena_floats(df_arena *arena, size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return NULL;
    return df_arena_alloc(arena, count * sizeof(float));
}

void df_arena_reset(df_arena *arena)
{
    arena->used = 0;
}

void df_arena_release(df_arena *arena)
{
    free(arena->base);
    arena->base = NULL;
    arena->capacity = 0;
    arena->used = 0;
    arena->high_water = 0;
}
