/*
 * error.h — filling a df_error. Every fallible internal function returns a
 * df_status and, on failure, writes its message through df_error_set, which
 * tolerates a NULL error so callers that do not care can pass none.
 */
#ifndef DF_RUNTIME_ERROR_H
#define DF_RUNTIME_ERROR_H

#include "diffuse.h"

/* Sets error->status and a printf-formatted message; returns `status` so a
 * failing path can be a single `return df_error_set(...)`. */
df_status df_error_set(df_error *error, df_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("unet: " + message). */
df_status df_error_prefix(df_error *error, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif
