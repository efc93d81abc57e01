/*
 * runtime.h — what the library's modules see of a df_runtime: its pool.
 * The runtime is the one owner of compute threads; models borrow its pool.
 */
#ifndef DF_RUNTIME_RUNTIME_H
#define DF_RUNTIME_RUNTIME_H

#include "diffuse.h"
#include "runtime/threads.h"

df_pool *df_runtime_pool(df_runtime *runtime);

#endif
