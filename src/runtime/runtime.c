/*
 * runtime.c — the public df_runtime handle: one compute pool shared by every
 * model opened on it, so a process never runs more compute threads than the
 * user asked for.
 */
#include "runtime/runtime.h"

#include "runtime/kernels.h"

#include <stdlib.h>

#include "runtime/error.h"

struct df_runtime {
    df_pool *pool;
};

df_status df_runtime_create(int threads, df_runtime **out, df_error *error)
{
    *out = NULL;
    if (threads > 1024)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "thread count %d is out of range (1..1024, or 0 for one per CPU)",
                            threads);
    df_runtime *runtime = calloc(1, sizeof *runtime);
    if (!runtime)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory creating the runtime");
    runtime->pool = df_pool_create(threads);
    if (!runtime->pool) {
        free(runtime);
        return df_error_set(error, DF_ERR_NO_MEMORY, "could not start %d compute threads", threads);
    }
    *out = runtime;
    return DF_OK;
}

void df_set_winograd(int enabled)
{
    df_conv_set_winograd(enabled);
}

int df_runtime_threads(const df_runtime *runtime)
{
    return runtime ? df_pool_size(runtime->pool) : 0;
}

df_pool *df_runtime_pool(df_runtime *runtime)
{
    return runtime ? runtime->pool : NULL;
}

void df_runtime_free(df_runtime *runtime)
{
    if (!runtime)
        return;
    df_pool_free(runtime->pool);
    free(runtime);
}
