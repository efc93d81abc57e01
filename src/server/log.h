/*
 * log.h — the server's own messages on stderr, one JSON object per line
 * ({"time", "level", "message"}), so they sit next to the access log's JSON
 * lines (also on stderr by default) and a log shipper parses every line the
 * same way. libmicrohttpd's messages come through here too (http.c).
 *
 * Each line is written with one stdio call on an unbuffered stream, so lines
 * from different threads never interleave. Thread-safe.
 */
#ifndef DF_SERVER_LOG_H
#define DF_SERVER_LOG_H

#include <stdarg.h>

typedef enum df_log_level { DF_LOG_INFO, DF_LOG_WARNING, DF_LOG_ERROR } df_log_level;

/* One line; the message is printf-formatted, without a final newline (one
 * is dropped if present). Bytes that are not UTF-8 become '?'. */
void df_log(df_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));
void df_log_v(df_log_level level, const char *format, va_list args);

#define df_log_info(...) df_log(DF_LOG_INFO, __VA_ARGS__)
#define df_log_warning(...) df_log(DF_LOG_WARNING, __VA_ARGS__)
#define df_log_error(...) df_log(DF_LOG_ERROR, __VA_ARGS__)

#endif
