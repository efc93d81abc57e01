/*
 * error.c — formatting of df_error messages. Messages are truncated, never
 * overflowed: the struct holds a fixed buffer so errors need no allocation.
 */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *df_status_string(df_status status)
{
    switch (status) {
    case DF_OK: return "ok";
    case DF_ERR_INVALID_ARGUMENT: return "invalid argument";
    case DF_ERR_IO: return "i/o error";
    case DF_ERR_FORMAT: return "format error";
    case DF_ERR_UNSUPPORTED: return "unsupported";
    case DF_ERR_NO_MEMORY: return "out of memory";
    case DF_ERR_CANCELLED: return "cancelled";
    case DF_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

df_status df_error_set(df_error *error, df_status status, const char *format, ...)
{
    if (error) {
        va_list args;
        va_start(args, format);
        vsnprintf(error->message, sizeof error->message, format, args);
        va_end(args);
        error->status = status;
    }
    return status;
}

df_status df_error_prefix(df_error *error, const char *format, ...)
{
    if (!error)
        return DF_ERR_INTERNAL;
    char prefix[256];
    va_list args;
    va_start(args, format);
    vsnprintf(prefix, sizeof prefix, format, args);
    va_end(args);
    size_t prefix_length = strlen(prefix);
    size_t capacity = sizeof error->message;
    if (prefix_length >= capacity)
        prefix_length = capacity - 1;
    size_t old_length = strnlen(error->message, capacity - 1);
    if (prefix_length + old_length >= capacity)
        old_length = capacity - 1 - prefix_length;
    memmove(error->message + prefix_length, error->message, old_length);
    memcpy(error->message, prefix, prefix_length);
    error->message[prefix_length + old_length] = 0;
    return error->status;
}
