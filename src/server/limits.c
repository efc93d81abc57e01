/*
 * limits.c — the table of limits.h. A limit is added here and nowhere else:
 * `diffuse serve` builds its flags and --help from this table, and
 * df_server_config_default takes the defaults from it. The ranges are what a
 * flag accepts; the engine's own hard limits (request.c) stay above them.
 */
#include "server/limits.h"

#include <stdio.h>
#include <string.h>

#include "server/server.h"

#define FIELD(name) offsetof(df_server_config, name)

const df_limit df_limits[] = {
    {"max-body-bytes", "N", FIELD(max_body_bytes), DF_LIMIT_SIZE, DF_LIMIT_BYTES, 8 << 20, 1024,
     1LL << 30, "request body size", "413 before the body is read"},
    {"max-prompt-bytes", "N", FIELD(max_prompt_bytes), DF_LIMIT_SIZE, DF_LIMIT_COUNT, 32000, 1,
     1 << 20, "prompt and negative prompt, bytes each", "400 naming the field"},
    {"max-side", "N", FIELD(max_side), DF_LIMIT_INT, DF_LIMIT_PIXELS, 2048, 8, 8192,
     "width and height, pixels", "400 (`width`/`height`)"},
    {"max-steps", "N", FIELD(max_steps), DF_LIMIT_INT, DF_LIMIT_COUNT, 150, 1, 1000,
     "sampling steps", "400 (`steps`)"},
    {"max-batch", "N", FIELD(max_batch), DF_LIMIT_INT, DF_LIMIT_COUNT, 8, 1, 64,
     "images per request (n, batch, batch_size x n_iter, Vertex instances)",
     "400 (`n`/`batch`)"},
    {"queue-size", "N", FIELD(queue_size), DF_LIMIT_INT, DF_LIMIT_COUNT, 64, 1, 100000,
     "jobs waiting or running at most", "429 with `Retry-After`"},
    {"max-connections", "N", FIELD(max_connections), DF_LIMIT_UNSIGNED, DF_LIMIT_COUNT, 64, 1,
     10000, "connections being served (those still sending their request wait apart, without a thread: 4x this, within 256..1024)",
     "a complete request waits for a slot until --header-timeout, then 503; past the waiting room, 503 at once"},
    {"request-line-timeout", "S", FIELD(request_line_timeout_s), DF_LIMIT_UNSIGNED,
     DF_LIMIT_SECONDS, 5, 1, 3600,
     "a new connection must send its request line within this (at most --header-timeout)",
     "the connection is closed"},
    {"header-timeout", "S", FIELD(header_timeout_s), DF_LIMIT_UNSIGNED, DF_LIMIT_SECONDS, 10, 1,
     3600, "a request's headers must arrive within this",
     "the connection is closed, however slowly bytes trickle in"},
    {"body-timeout", "S", FIELD(body_timeout_s), DF_LIMIT_UNSIGNED, DF_LIMIT_SECONDS, 60, 1,
     3600, "and its body within this after them", "same, for the body"},
    {"idle-timeout", "S", FIELD(idle_timeout_s), DF_LIMIT_UNSIGNED, DF_LIMIT_SECONDS, 60, 1,
     3600, "a connection without traffic this long is closed",
     "a connection that sends and reads nothing (a stalled client) is closed"},
    {"sync-timeout", "S", FIELD(sync_timeout_s), DF_LIMIT_INT, DF_LIMIT_SECONDS, 600, 1, 86400,
     "longest wait of a synchronous route (/predict, ...)",
     "synchronous routes answer 504; the job goes on"},
    {NULL},
};

const df_limit *df_limits_find(const char *flag)
{
    for (const df_limit *limit = df_limits; limit->flag; limit++)
        if (!strcmp(limit->flag, flag))
            return limit;
    return NULL;
}

long long df_limits_get(const df_server_config *config, const df_limit *limit)
{
    const char *field = (const char *)config + limit->offset;
    switch (limit->type) {
    case DF_LIMIT_INT: return *(const int *)field;
    case DF_LIMIT_UNSIGNED: return *(const unsigned *)field;
    case DF_LIMIT_SIZE: return (long long)*(const size_t *)field;
    }
    return 0;
}

void df_limits_set(df_server_config *config, const df_limit *limit, long long value)
{
    char *field = (char *)config + limit->offset;
    switch (limit->type) {
    case DF_LIMIT_INT: *(int *)field = (int)value; break;
    case DF_LIMIT_UNSIGNED: *(unsigned *)field = (unsigned)value; break;
    case DF_LIMIT_SIZE: *(size_t *)field = (size_t)value; break;
    }
}

void df_limits_set_defaults(df_server_config *config)
{
    for (const df_limit *limit = df_limits; limit->flag; limit++)
        df_limits_set(config, limit, limit->default_value);
}

void df_limits_format(const df_limit *limit, long long value, char *out, size_t size)
{
    static const char *const binary[] = {"GiB", "MiB", "KiB"};
    if (limit->unit == DF_LIMIT_BYTES && value > 0) {
        for (int i = 0; i < 3; i++) {
            long long scale = 1LL << (10 * (3 - i));
            if (value % scale == 0) {
                snprintf(out, size, "%lld %s", value / scale, binary[i]);
                return;
            }
        }
    }
    snprintf(out, size, "%lld%s", value, limit->unit == DF_LIMIT_SECONDS ? " s" : "");
}
