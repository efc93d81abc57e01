/*
 * log.c — one JSON line per server message on stderr (see log.h).
 */
#include "server/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/util.h"

static const char *level_name(df_log_level level)
{
    return level == DF_LOG_ERROR ? "error" : level == DF_LOG_WARNING ? "warning" : "info";
}

void df_log_v(df_log_level level, const char *format, va_list args)
{
    char message[2048];
    vsnprintf(message, sizeof message, format, args);
    size_t length = strlen(message);
    while (length && (message[length - 1] == '\n' || message[length - 1] == '\r'))
        message[--length] = 0;
    df_server_utf8_repair(message); /* jansson refuses anything else */
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", stamp, "level", level_name(level),
                             "message", message);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(line);
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    } else { /* out of memory: still one line, still JSON */
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"error\",\"message\":\"out of memory\"}\n",
                stamp);
    }
}

void df_log(df_log_level level, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    df_log_v(level, format, args);
    va_end(args);
}
