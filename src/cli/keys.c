/*
 * keys.c — `diffuse keys create|list|revoke` and `diffuse usage`: the API
 * keys and per-key usage of `diffuse serve` (and `keys disable-auth`, the way
 * back to a server without keys), read and written in the data
 * directory's database through src/server/keys.h (a server may be running
 * on the same directory meanwhile).
 *
 * Invariants: a secret is printed once, by `create`, alone on the last line
 * of stdout (so `KEY=$(diffuse keys create ... | tail -n1)` works) and never
 * by anything else; only `create` makes a missing data directory, the other
 * commands name it and fail (a typo must not read as "no keys"). Usage
 * errors exit 2 before the database is opened, failures exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "server/keys.h"

#define DEFAULT_USAGE_DAYS DF_KEYS_USAGE_DEFAULT_DAYS
#define MAX_RATE_PER_MINUTE 1e9

static void keys_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse keys create --name NAME [--rate N/min] [--daily-images N] [--admin]\n"
            "                           [--data DIR]\n"
            "       diffuse keys list [--data DIR] [--json]\n"
            "       diffuse keys revoke ID|NAME [--data DIR]\n"
            "       diffuse keys disable-auth [--data DIR]\n"
            "\n"
            "API keys of `diffuse serve`, kept in DIR/diffuse.db (default DIR: $DIFFUSE_DATA,\n"
            "else ./%s, as for `diffuse serve` and `diffuse usage`).\n"
            "While a data directory has never had a key the server answers without one;\n"
            "once it has one, every request needs \"Authorization: Bearer KEY\", and it stays\n"
            "so when every key is revoked (then every request is refused) until\n"
            "`diffuse keys disable-auth` (or `diffuse serve --no-auth`).\n"
            "A running server picks up changes on SIGHUP (kill -HUP PID) or a restart.\n"
            "'diffuse keys COMMAND --help' describes a command's options; 'diffuse usage'\n"
            "shows what each key used.\n",
            DF_CLI_DATA_DIR);
}

static void create_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse keys create --name NAME [OPTIONS]\n"
            "\n"
            "Creates an API key and prints it, alone, on the last line of stdout:\n"
            "  KEY=$(diffuse keys create --name ci | tail -n1)\n"
            "The key is shown only this once (only its hash is stored).\n"
            "\n"
            "options:\n"
            "      --name NAME         a name, unique among active keys (1..127 bytes, no\n"
            "                          control characters) (required)\n"
            "      --rate N[/UNIT]     requests allowed per minute (bursts up to N), UNIT\n"
            "                          one of s, min, h, day; a bare N is per minute;\n"
            "                          N > 0 (default: unlimited)\n"
            "      --daily-images N    images allowed per day (refilled continuously),\n"
            "                          N >= 1 (default: unlimited)\n"
            "      --admin             the key may read every key's usage and /metrics\n"
            "      --data DIR          the server's data directory, created when missing\n"
            "                          (default: $DIFFUSE_DATA, else ./%s)\n"
            "  -h, --help              this help\n"
            "\n"
            "A running server picks up the key on SIGHUP (kill -HUP PID) or a restart.\n",
            DF_CLI_DATA_DIR);
}

static void list_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse keys list [--data DIR] [--json]\n"
            "\n"
            "Lists every key, active and revoked, oldest first: id, name, limits, admin,\n"
            "creation time (UTC) and status. Secrets are never shown (they are not kept).\n"
            "\n"
            "options:\n"
            "      --data DIR          the server's data directory (default: $DIFFUSE_DATA,\n"
            "                          else ./%s)\n"
            "      --json              one JSON object {\"keys\": [...]}; an unlimited\n"
            "                          limit is null\n"
            "  -h, --help              this help\n",
            DF_CLI_DATA_DIR);
}

static void revoke_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse keys revoke ID|NAME [--data DIR]\n"
            "\n"
            "Revokes the active key with this id or name. Its name may then be reused; its\n"
            "usage is kept. A running server stops accepting it on SIGHUP (kill -HUP PID)\n"
            "or a restart. Revoking the last active key does not turn authentication off:\n"
            "the server then refuses every request that needs a key (401) until a key is\n"
            "created or `diffuse keys disable-auth` is run.\n"
            "\n"
            "options:\n"
            "      --data DIR          the server's data directory (default: $DIFFUSE_DATA,\n"
            "                          else ./%s)\n"
            "  -h, --help              this help\n",
            DF_CLI_DATA_DIR);
}

static void disable_auth_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse keys disable-auth [--data DIR]\n"
            "\n"
            "Turns API-key authentication off for a data directory whose keys are all\n"
            "revoked: `diffuse serve` on it answers every request without a key again (a\n"
            "running server on SIGHUP or a restart). Refused while a key is active.\n"
            "Creating a key turns authentication back on. For one run only, `diffuse\n"
            "serve --no-auth` does the same without changing the directory.\n"
            "\n"
            "options:\n"
            "      --data DIR          the server's data directory (default: $DIFFUSE_DATA,\n"
            "                          else ./%s)\n"
            "  -h, --help              this help\n",
            DF_CLI_DATA_DIR);
}

static void usage_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse usage [--data DIR] [--key ID|NAME] [--days N] [--json]\n"
            "\n"
            "Shows what each API key used, per UTC day: requests, images, pixel-steps\n"
            "(width x height x steps, summed) and compute seconds; \"%s\" is what\n"
            "requests without a key used. A running server writes its counters every few\n"
            "seconds, so the last moments may not show yet.\n"
            "\n"
            "options:\n"
            "      --data DIR          the server's data directory (default: $DIFFUSE_DATA,\n"
            "                          else ./%s)\n"
            "      --key ID|NAME       this key only (a name means the active key of that\n"
            "                          name, else the newest revoked one)\n"
            "      --days N            days shown, 1..%d, counting today (default: %d);\n"
            "                          the totals cover every day recorded\n"
            "      --json              the report as JSON\n"
            "  -h, --help              this help\n",
            DF_KEY_ANONYMOUS, DF_CLI_DATA_DIR, DF_KEYS_USAGE_MAX_DAYS, DEFAULT_USAGE_DAYS);
}

/* ------------------------------------------------------------------------ */
/* Shared pieces                                                            */

/* Opens the keys of an existing data directory: for every command but
 * create, a missing directory is a mistake to report, not one to create. */
static int open_existing(const char *command, const char *data_dir, df_keys **keys)
{
    struct stat info;
    if (stat(data_dir, &info)) {
        fprintf(stderr, "diffuse %s: data directory '%s': %s (--data names the directory "
                        "`diffuse serve` uses)\n",
                command, data_dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(info.st_mode)) {
        fprintf(stderr, "diffuse %s: data directory '%s' is not a directory\n", command,
                data_dir);
        return 1;
    }
    df_error error = {0};
    if (df_keys_open(data_dir, keys, &error)) {
        fprintf(stderr, "diffuse %s: %s\n", command, error.message);
        return 1;
    }
    return 0;
}

static void format_time(double seconds, char *buffer, size_t size)
{
    time_t when = (time_t)seconds;
    struct tm parts;
    if (!gmtime_r(&when, &parts) || !strftime(buffer, size, "%Y-%m-%dT%H:%M:%SZ", &parts))
        snprintf(buffer, size, "?");
}

/* A per-minute rate in the unit that shows it as a whole number, if any:
 * "60/min", "10/s" stays "600/min", "1/h", "100/day". */
static void format_rate(double per_minute, char *buffer, size_t size)
{
    if (!(per_minute > 0)) {
        snprintf(buffer, size, "unlimited");
        return;
    }
    static const struct {
        const char *unit;
        double per_minute_factor;
    } units[] = {{"min", 1}, {"s", 1.0 / 60}, {"h", 60}, {"day", 1440}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        double value = per_minute * units[i].per_minute_factor;
        if (value >= 1 && fabs(value - round(value)) <= 1e-6 * value) {
            snprintf(buffer, size, "%.0f/%s", round(value), units[i].unit);
            return;
        }
    }
    snprintf(buffer, size, "%g/min", per_minute);
}

/* "N", "N/min", "N/s", "N/h", "N/day" (and the spelled-out units) to
 * requests per minute. 0 on success, 2 (after a message) otherwise. */
static int parse_rate(const char *text, double *per_minute)
{
    static const struct {
        const char *unit;
        double to_per_minute;
    } units[] = {{"", 1},          {"/min", 1},         {"/m", 1},          {"/minute", 1},
                 {"/s", 60},       {"/sec", 60},        {"/second", 60},    {"/h", 1.0 / 60},
                 {"/hour", 1.0 / 60}, {"/d", 1.0 / 1440}, {"/day", 1.0 / 1440}};
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end != text && !errno && isfinite(value) && value > 0)
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].unit)) {
                double rate = value * units[i].to_per_minute;
                if (rate > MAX_RATE_PER_MINUTE)
                    break;
                *per_minute = rate;
                return 0;
            }
    fprintf(stderr,
            "diffuse: --rate expects N, N/s, N/min, N/h or N/day with N > 0 (at most %g per "
            "minute), got '%s'\n",
            MAX_RATE_PER_MINUTE, text);
    return 2;
}

static void remind_reload(const char *data_dir)
{
    fprintf(stderr,
            "diffuse keys: a `diffuse serve` running on %s applies this on SIGHUP "
            "(kill -HUP PID) or a restart\n",
            data_dir);
}

/* ------------------------------------------------------------------------ */
/* keys create                                                              */

static int keys_create(int argc, char **argv)
{
    enum { OPT_NAME = 256, OPT_RATE, OPT_DAILY, OPT_ADMIN, OPT_DATA };
    static const struct option options[] = {
        {"name", required_argument, 0, OPT_NAME},  {"rate", required_argument, 0, OPT_RATE},
        {"daily-images", required_argument, 0, OPT_DAILY},
        {"admin", no_argument, 0, OPT_ADMIN},      {"data", required_argument, 0, OPT_DATA},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *name = NULL, *data_dir = df_cli_default_data_dir();
    double rate = 0;
    long daily_images = 0;
    int admin = 0, option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case OPT_NAME: name = optarg; break;
        case OPT_RATE:
            if (parse_rate(optarg, &rate))
                return 2;
            break;
        case OPT_DAILY:
            if (df_cli_parse_int("--daily-images", optarg, 1, 1000000000L, &daily_images))
                return 2;
            break;
        case OPT_ADMIN: admin = 1; break;
        case OPT_DATA: data_dir = optarg; break;
        case 'h': create_usage(stdout); return 0;
        default: create_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "diffuse keys create: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!name) {
        fprintf(stderr, "diffuse keys create: --name NAME is required\n");
        return 2;
    }

    df_error error = {0};
    df_keys *keys = NULL;
    if (df_keys_open(data_dir, &keys, &error)) {
        fprintf(stderr, "diffuse keys create: %s\n", error.message);
        return 1;
    }
    df_key key;
    char secret[DF_KEY_SECRET_SIZE];
    df_status status =
        df_keys_create(keys, name, rate, daily_images, admin, &key, secret, sizeof secret, &error);
    df_keys_close(keys);
    if (status) {
        fprintf(stderr, "diffuse keys create: %s\n", error.message);
        return 1;
    }
    char rate_text[64];
    format_rate(key.rate_per_minute, rate_text, sizeof rate_text);
    printf("created key %s \"%s\" in %s\n", key.id, key.name, data_dir);
    printf("  rate:         %s\n", rate_text);
    if (key.daily_images > 0)
        printf("  daily images: %ld\n", key.daily_images);
    else
        printf("  daily images: unlimited\n");
    printf("  admin:        %s\n", key.admin ? "yes" : "no");
    printf("The key follows; it is shown only this once (only its hash is kept):\n");
    printf("%s\n", secret);
    fflush(stdout);
    remind_reload(data_dir);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* keys list                                                                */

static json_t *key_json(const df_key *key)
{
    char created[32], revoked[32];
    format_time(key->created, created, sizeof created);
    format_time(key->revoked_at, revoked, sizeof revoked);
    return json_pack("{s:s, s:s, s:o, s:o, s:b, s:s, s:o}", "id", key->id, "name", key->name,
                     "rate_per_minute",
                     key->rate_per_minute > 0 ? json_real(key->rate_per_minute) : json_null(),
                     "daily_images",
                     key->daily_images > 0 ? json_integer(key->daily_images) : json_null(),
                     "admin", key->admin, "created", created, "revoked",
                     key->revoked ? json_string(revoked) : json_null());
}

static int print_list_json(const df_key *list, int count)
{
    json_t *array = json_array();
    for (int i = 0; i < count && array; i++) {
        json_t *item = key_json(&list[i]);
        if (!item || json_array_append_new(array, item)) {
            json_decref(array);
            array = NULL;
        }
    }
    json_t *root = array ? json_pack("{s:o}", "keys", array) : NULL;
    if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) || putchar('\n') == EOF) {
        json_decref(root);
        fprintf(stderr, "diffuse keys list: out of memory\n");
        return 1;
    }
    json_decref(root);
    return 0;
}

/* What a server on the directory does without an active key. */
static void print_no_active_key(int keyed, const char *data_dir)
{
    if (keyed)
        printf("no active key in %s: `diffuse serve` refuses every request that needs one "
               "(401) until a key is created (or `diffuse keys disable-auth`)\n",
               data_dir);
    else
        printf("no active key in %s: `diffuse serve` accepts requests without a key "
               "(authentication disabled by `diffuse keys disable-auth`)\n",
               data_dir);
}

static void print_list_table(const df_key *list, int count, int keyed, const char *data_dir)
{
    if (count == 0) {
        printf("no API keys in %s: `diffuse serve` accepts requests without a key\n", data_dir);
        return;
    }
    int name_width = 4;
    for (int i = 0; i < count; i++) {
        int length = (int)strlen(list[i].name);
        if (length > name_width)
            name_width = length;
    }
    printf("%-12s  %-*s  %-10s  %-12s  %-5s  %-20s  %s\n", "ID", name_width, "NAME", "RATE",
           "DAILY IMAGES", "ADMIN", "CREATED", "STATUS");
    for (int i = 0; i < count; i++) {
        const df_key *key = &list[i];
        char rate[64], daily[32], created[32], revoked[32], state[48];
        format_rate(key->rate_per_minute, rate, sizeof rate);
        if (key->daily_images > 0)
            snprintf(daily, sizeof daily, "%ld", key->daily_images);
        else
            snprintf(daily, sizeof daily, "unlimited");
        format_time(key->created, created, sizeof created);
        format_time(key->revoked_at, revoked, sizeof revoked);
        if (key->revoked)
            snprintf(state, sizeof state, "revoked %s", revoked);
        else
            snprintf(state, sizeof state, "active");
        printf("%-12s  %-*s  %-10s  %-12s  %-5s  %-20s  %s\n", key->id, name_width, key->name,
               rate, daily, key->admin ? "yes" : "no", created, state);
    }
    int active = 0;
    for (int i = 0; i < count; i++)
        active += !list[i].revoked;
    if (!active)
        print_no_active_key(keyed, data_dir);
}

static int keys_list(int argc, char **argv)
{
    enum { OPT_DATA = 256, OPT_JSON };
    static const struct option options[] = {{"data", required_argument, 0, OPT_DATA},
                                            {"json", no_argument, 0, OPT_JSON},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    const char *data_dir = df_cli_default_data_dir();
    int json = 0, option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case OPT_DATA: data_dir = optarg; break;
        case OPT_JSON: json = 1; break;
        case 'h': list_usage(stdout); return 0;
        default: list_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "diffuse keys list: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    df_keys *keys = NULL;
    if (open_existing("keys list", data_dir, &keys))
        return 1;
    df_error error = {0};
    df_key *list = NULL;
    int count = 0;
    df_status status = df_keys_list(keys, &list, &count, &error);
    int keyed = df_keys_keyed(keys);
    df_keys_close(keys);
    if (status) {
        fprintf(stderr, "diffuse keys list: %s\n", error.message);
        return 1;
    }
    int result = 0;
    if (json)
        result = print_list_json(list, count);
    else
        print_list_table(list, count, keyed, data_dir);
    free(list);
    return result;
}

/* The options of a subcommand that takes only --data (and --help): sets
 * *data_dir (default: df_cli_default_data_dir) and returns -1 to go on, or
 * the exit status (0 after --help, 2 after a usage error). */
static int parse_data_option(int argc, char **argv, void (*usage)(FILE *), const char **data_dir)
{
    enum { OPT_DATA = 256 };
    static const struct option options[] = {{"data", required_argument, 0, OPT_DATA},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    *data_dir = df_cli_default_data_dir();
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case OPT_DATA: *data_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* keys revoke                                                              */

static int keys_revoke(int argc, char **argv)
{
    const char *data_dir = NULL;
    int parsed = parse_data_option(argc, argv, revoke_usage, &data_dir);
    if (parsed >= 0)
        return parsed;
    if (optind >= argc) {
        fprintf(stderr, "diffuse keys revoke: which key? give its ID or NAME\n");
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "diffuse keys revoke: one key at a time, got '%s' and '%s'\n",
                argv[optind], argv[optind + 1]);
        return 2;
    }
    df_keys *keys = NULL;
    if (open_existing("keys revoke", data_dir, &keys))
        return 1;
    df_error error = {0};
    df_key key;
    df_status status = df_keys_revoke(keys, argv[optind], &key, &error);
    int active = df_keys_active_count(keys);
    df_keys_close(keys);
    if (status) {
        fprintf(stderr, "diffuse keys revoke: %s in %s\n", error.message, data_dir);
        return 1;
    }
    printf("revoked key %s \"%s\"\n", key.id, key.name);
    fflush(stdout);
    remind_reload(data_dir);
    if (active == 0)
        fprintf(stderr,
                "diffuse keys: warning: that was the last active key in %s: authentication "
                "stays on, so `diffuse serve` there now refuses every request that needs a key "
                "(401) until one is created (`diffuse keys create`); to serve without keys, "
                "run `diffuse keys disable-auth --data %s`\n",
                data_dir, data_dir);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* keys disable-auth                                                        */

static int keys_disable_auth(int argc, char **argv)
{
    const char *data_dir = NULL;
    int parsed = parse_data_option(argc, argv, disable_auth_usage, &data_dir);
    if (parsed >= 0)
        return parsed;
    if (optind < argc) {
        fprintf(stderr, "diffuse keys disable-auth: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    df_keys *keys = NULL;
    if (open_existing("keys disable-auth", data_dir, &keys))
        return 1;
    df_error error = {0};
    df_status status = df_keys_disable_auth(keys, &error);
    df_keys_close(keys);
    if (status) {
        fprintf(stderr, "diffuse keys disable-auth: %s in %s\n", error.message, data_dir);
        return 1;
    }
    printf("authentication disabled in %s: `diffuse serve` there answers requests without a "
           "key until a key is created\n", data_dir);
    fflush(stdout);
    remind_reload(data_dir);
    return 0;
}

int df_cli_keys(int argc, char **argv)
{
    if (argc < 2) {
        keys_usage(stderr);
        return 2;
    }
    const char *command = argv[1];
    if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
        keys_usage(stdout);
        return 0;
    }
    if (!strcmp(command, "create"))
        return keys_create(argc - 1, argv + 1);
    if (!strcmp(command, "list"))
        return keys_list(argc - 1, argv + 1);
    if (!strcmp(command, "revoke"))
        return keys_revoke(argc - 1, argv + 1);
    if (!strcmp(command, "disable-auth"))
        return keys_disable_auth(argc - 1, argv + 1);
    fprintf(stderr, "diffuse keys: unknown command '%s' (create, list, revoke, disable-auth)\n\n",
            command);
    keys_usage(stderr);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* usage                                                                    */

/* The id a --key value means: an id, "anonymous", the active key of that
 * name, else the newest revoked key of that name. 1 when none. */
static int resolve_key(df_keys *keys, const char *wanted, const char *data_dir, char *id,
                       size_t size)
{
    if (!strcmp(wanted, DF_KEY_ANONYMOUS)) {
        snprintf(id, size, "%s", wanted);
        return 0;
    }
    df_error error = {0};
    df_key *list = NULL;
    int count = 0;
    if (df_keys_list(keys, &list, &count, &error)) {
        fprintf(stderr, "diffuse usage: %s\n", error.message);
        return 1;
    }
    const df_key *found = NULL;
    for (int i = 0; i < count && !found; i++)
        if (!strcmp(list[i].id, wanted))
            found = &list[i];
    for (int i = 0; i < count && !found; i++)
        if (!list[i].revoked && !strcmp(list[i].name, wanted))
            found = &list[i];
    for (int i = count - 1; i >= 0 && !found; i--) /* oldest first: newest from the end */
        if (!strcmp(list[i].name, wanted))
            found = &list[i];
    if (found)
        snprintf(id, size, "%s", found->id);
    else
        fprintf(stderr, "diffuse usage: no key with id or name '%s' in %s\n", wanted, data_dir);
    free(list);
    return found ? 0 : 1;
}

static void print_usage_row(const char *id, const char *name, int name_width, const char *date,
                            json_t *counters)
{
    printf("%-12s  %-*s  %-10s  %10lld  %8lld  %14.0f  %10.1f\n", id, name_width, name, date,
           (long long)json_integer_value(json_object_get(counters, "requests")),
           (long long)json_integer_value(json_object_get(counters, "images")),
           json_number_value(json_object_get(counters, "pixel_steps")),
           json_number_value(json_object_get(counters, "compute_seconds")));
}

#define REVOKED_SUFFIX " (revoked)"
#define REVOKED_LENGTH ((int)sizeof REVOKED_SUFFIX - 1)

static void print_usage_table(json_t *report, const char *data_dir)
{
    json_t *entries = json_object_get(report, "keys");
    if (json_array_size(entries) == 0) {
        printf("no API keys and no usage recorded in %s\n", data_dir);
        return;
    }
    int name_width = 4;
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "name"));
        int length = (name ? (int)strlen(name) : 1) +
                     (json_is_true(json_object_get(entry, "revoked")) ? REVOKED_LENGTH : 0);
        if (length > name_width)
            name_width = length;
    }
    printf("%-12s  %-*s  %-10s  %10s  %8s  %14s  %10s\n", "KEY", name_width, "NAME", "DAY",
           "REQUESTS", "IMAGES", "PIXEL-STEPS", "COMPUTE-S");
    json_array_foreach(entries, i, entry) {
        const char *id = json_string_value(json_object_get(entry, "key_id"));
        const char *name = json_string_value(json_object_get(entry, "name"));
        char label[DF_KEY_NAME_SIZE + 16];
        snprintf(label, sizeof label, "%s%s", name ? name : "-",
                 json_is_true(json_object_get(entry, "revoked")) ? REVOKED_SUFFIX : "");
        print_usage_row(id ? id : "?", label, name_width, "total",
                        json_object_get(entry, "total"));
        size_t d;
        json_t *day;
        json_array_foreach(json_object_get(entry, "days"), d, day) {
            const char *date = json_string_value(json_object_get(day, "date"));
            print_usage_row("", "", name_width, date ? date : "?", day);
        }
    }
}

int df_cli_usage(int argc, char **argv)
{
    enum { OPT_DATA = 256, OPT_KEY, OPT_DAYS, OPT_JSON };
    static const struct option options[] = {{"data", required_argument, 0, OPT_DATA},
                                            {"key", required_argument, 0, OPT_KEY},
                                            {"days", required_argument, 0, OPT_DAYS},
                                            {"json", no_argument, 0, OPT_JSON},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    const char *data_dir = df_cli_default_data_dir(), *wanted = NULL;
    long days = DEFAULT_USAGE_DAYS;
    int json = 0, option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (option) {
        case OPT_DATA: data_dir = optarg; break;
        case OPT_KEY: wanted = optarg; break;
        case OPT_DAYS:
            if (df_cli_parse_int("--days", optarg, 1, DF_KEYS_USAGE_MAX_DAYS, &days))
                return 2;
            break;
        case OPT_JSON: json = 1; break;
        case 'h': usage_usage(stdout); return 0;
        default: usage_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "diffuse usage: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    df_keys *keys = NULL;
    if (open_existing("usage", data_dir, &keys))
        return 1;
    char id[DF_KEY_NAME_SIZE];
    if (wanted && resolve_key(keys, wanted, data_dir, id, sizeof id)) {
        df_keys_close(keys);
        return 1;
    }
    df_error error = {0};
    json_t *report = NULL;
    df_status status = df_keys_usage(keys, wanted ? id : NULL, (int)days, &report, &error);
    df_keys_close(keys);
    if (status) {
        fprintf(stderr, "diffuse usage: %s\n", error.message);
        return 1;
    }
    int result = 0;
    if (json) {
        if (json_dumpf(report, stdout, JSON_INDENT(2)) || putchar('\n') == EOF) {
            fprintf(stderr, "diffuse usage: cannot write the report\n");
            result = 1;
        }
    } else {
        print_usage_table(report, data_dir);
    }
    json_decref(report);
    return result;
}
