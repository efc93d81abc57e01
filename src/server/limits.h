/*
 * limits.h — the one table of the server's numeric limits: each entry is a
 * `diffuse serve` flag, the df_server_config field it sets, its default and
 * the range the flag accepts. The defaults of df_server_config_default, the
 * flags and help text of `diffuse serve`, and (through the config) the
 * request checks, their error messages and /openapi.json all come from it;
 * tests/cli/serve_limits.sh checks that README's limits table agrees.
 */
#ifndef DF_SERVER_LIMITS_H
#define DF_SERVER_LIMITS_H

#include <stddef.h>

struct df_server_config;

typedef enum df_limit_type {
    DF_LIMIT_INT,      /* an int field */
    DF_LIMIT_UNSIGNED, /* an unsigned field */
    DF_LIMIT_SIZE      /* a size_t field */
} df_limit_type;

typedef enum df_limit_unit {
    DF_LIMIT_COUNT,    /* a plain number */
    DF_LIMIT_BYTES,    /* shown in KiB/MiB/GiB when it divides evenly */
    DF_LIMIT_SECONDS,
    DF_LIMIT_PIXELS
} df_limit_unit;

typedef struct df_limit {
    const char *flag;       /* without its dashes: "max-steps"; NULL ends the table */
    const char *argument;   /* the flag's argument in --help: "N", "S" */
    size_t offset;          /* of the field in df_server_config */
    df_limit_type type;
    df_limit_unit unit;
    long long default_value, lowest, highest; /* highest: what the flag accepts */
    const char *help;       /* what it bounds (one line of --help) */
    const char *over;       /* what a request over it gets (README's table) */
} df_limit;

/* The table, in --help's order; ends with an entry whose flag is NULL. */
extern const df_limit df_limits[];

/* The entry of a flag ("max-steps", no dashes), or NULL. */
const df_limit *df_limits_find(const char *flag);
/* Sets every limit's field of `config` to its default. */
void df_limits_set_defaults(struct df_server_config *config);
/* The field's value in `config`; and sets it (value within the range). */
long long df_limits_get(const struct df_server_config *config, const df_limit *limit);
void df_limits_set(struct df_server_config *config, const df_limit *limit, long long value);
/* The default as --help and README show it: "8 MiB", "150", "10 s". */
void df_limits_format(const df_limit *limit, long long value, char *out, size_t size);

#endif
