/*
 * serve.c — `diffuse serve`: options to a df_server_config, then
 * df_server_run (src/server/). Usage errors exit 2 before anything starts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "server/limits.h"
#include "server/server.h"

/* The limits section of --help, from the table (limits.c). */
static void usage_limits(FILE *out)
{
    fprintf(out, "\nlimits (requests over them get 400/413/429 naming the limit):\n");
    for (const df_limit *limit = df_limits; limit->flag; limit++) {
        char flag[64], value[32];
        snprintf(flag, sizeof flag, "--%s %s", limit->flag, limit->argument);
        df_limits_format(limit, limit->default_value, value, sizeof value);
        fprintf(out, "      %-20s  %s\n%28s%lld..%lld (default: %s)\n", flag, limit->help, "",
                limit->lowest, limit->highest, value);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse serve [OPTIONS]\n"
            "\n"
            "Serves text-to-image over HTTP: the native jobs API (POST /v1/jobs, GET\n"
            "/v1/jobs/{id}, .../events, .../cancel, .../images/{n}), POST /predict,\n"
            "OpenAI's /v1/images/generations, Vertex AI's :predict, AUTOMATIC1111's\n"
            "/sdapi/v1/*, GET /healthz, /readyz, /metrics, /openapi.json and a web page at /.\n"
            "Jobs are kept in an SQLite database in the data directory: an accepted job\n"
            "survives a restart. SIGINT/SIGTERM stop it cleanly.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH          diffusers folder or .safetensors checkpoint\n"
            "                            (default: $DIFFUSE_MODEL, else the bundled model);\n"
            "                            with --models-dir: one more model, the default\n"
            "      --models-dir DIR      serve every checkpoint in DIR (diffusers folders,\n"
            "                            *.safetensors files; named by file/folder name);\n"
            "                            a request picks one with \"model\" (an SDXL refiner\n"
            "                            with \"refiner\"); without -m the first name that\n"
            "                            is not a refiner is the default\n"
            "      --max-loaded N        models in memory at most, 1..64; the least recently\n"
            "                            used is unloaded (default: 1; a base + refiner job\n"
            "                            holds both, the refiner closed after it)\n"
            "      --lora-dir DIR        offer DIR's *.safetensors LoRA / LyCORIS files,\n"
            "                            named by file name without .safetensors, to\n"
            "                            requests (\"loras\": [{\"name\", \"scale\"}], the A1111\n"
            "                            <lora:NAME:SCALE> prompt syntax); read again on\n"
            "                            SIGHUP and POST /sdapi/v1/refresh-loras\n"
            "                            (default: none: requests with LoRAs get 400)\n"
            "      --embeddings-dir DIR  textual-inversion embeddings (.safetensors) loaded\n"
            "                            into every model opened; a prompt names one by\n"
            "                            its file name (files another model family's are\n"
            "                            skipped for that model, with a log line)\n"
            "      --taesd PATH          TAESD decoder: enables previews in step events\n"
            "                            and requests with \"decoder\": \"taesd\"\n"
            "      --precision NAME      f32, bf16 or int8: what requests that do not set\n"
            "                            \"precision\" compute in, unless their model has a\n"
            "                            --model-precision (default: f32)\n"
            "      --model-precision NAME=PRECISION\n"
            "                            requests on the model NAME (as GET /v1/models\n"
            "                            lists it) that do not set \"precision\" compute in\n"
            "                            PRECISION (f32, bf16 or int8); repeatable, once\n"
            "                            per model; a NAME not offered (yet) is a warning\n"
            "      --no-winograd         direct 3x3 convolutions instead of Winograd\n"
            "                            F(4x4,3x3) (slower; rounding ~1e-5 apart)\n"
            "      --listen HOST:PORT    address to listen on; port 0 picks a free one\n"
            "                            (default: 127.0.0.1:8080)\n"
            "      --data DIR            job database, API keys and images, kept private\n"
            "                            (0700/0600); one server per DIR at a time\n"
            "                            (default: $DIFFUSE_DATA, else ./" DF_CLI_DATA_DIR ",\n"
            "                            as for `diffuse keys` and `diffuse usage`)\n"
            "      --retention-hours X   finished jobs and their images are deleted after\n"
            "                            this long, > 0 (default: 24)\n"
            "      --max-connections-per-address N\n"
            "                            connections from one client address (an IPv6\n"
            "                            client: its /64), open or waiting for their\n"
            "                            request, 1..10000; more get 503 at once; not\n"
            "                            applied to --trust-proxy addresses\n"
            "                            (default: half of --max-connections)\n"
            "      --max-memory SIZE     working memory of one request (scratch, buffers;\n"
            "                            not the memory-mapped weights), e.g. 8G, 512M:\n"
            "                            larger requests get 400 naming width/height/batch\n"
            "                            (default: 3/4 of the machine's or cgroup's memory)\n"
            "  -t, --threads N           engine threads (default: one per CPU)\n"
            "  -h, --help                this help\n");
    usage_limits(out);
    fprintf(out,
            "\n"
            "security and operations:\n"
            "      --no-auth             allow listening on a non-loopback address with no\n"
            "                            API key configured (see `diffuse keys`), and serve\n"
            "                            without keys when every key of DIR is revoked\n"
            "                            (an active key still wins)\n"
            "      --cors-origin LIST    allow browsers from these origins: \"*\" or\n"
            "                            \"https://a.example,https://b.example\" (default: none)\n"
            "      --trust-proxy CIDR[,CIDR...]\n"
            "                            reverse proxies (IPv4/IPv6 ranges, e.g.\n"
            "                            10.0.0.0/8,::1/128) whose X-Forwarded-Host and\n"
            "                            X-Forwarded-Proto build the \"url\" results;\n"
            "                            from any other client they are ignored\n"
            "                            (default: none); a malformed list: exit 1\n"
            "      --access-log PATH     one JSON line per request to PATH (appended), or\n"
            "                            \"off\" (default: stderr, next to the server's\n"
            "                            own messages, which are JSON lines too)\n"
            "      --shutdown-timeout S  on SIGTERM, wait at most S s for the running job to\n"
            "                            stop (it stops within about a second)\n"
            "                            (default: 30)\n"
            "\n"
            "signals: SIGTERM/SIGINT stop cleanly (the running job is interrupted inside its\n"
            "step and re-queued); SIGHUP reloads the API keys, --models-dir and --lora-dir.\n"
            "\n"
            "Prints \"diffuse serve: listening on http://HOST:PORT ...\" on stdout when ready.\n");
}

/* "8G", "512M", "64k", "1.5G" (powers of 1024; a trailing "B" or "iB"
 * allowed) or a plain byte count; at least 1 MiB. -1 when malformed. */
static int parse_size(const char *text, size_t *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno || !(value > 0) || !isfinite(value))
        return -1;
    double scale = 1;
    switch (*end) {
    case 'k': case 'K': scale = 1024.0; end++; break;
    case 'm': case 'M': scale = 1024.0 * 1024; end++; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (scale > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    value *= scale;
    if (*end || value < 1024.0 * 1024 || value > 1e18)
        return -1;
    *out = (size_t)value;
    return 0;
}

int df_cli_serve(int argc, char **argv)
{
    /* OPT_LIMIT + i: the flag of df_limits[i] (limits.c). */
    enum { OPT_TAESD = 256, OPT_LISTEN, OPT_DATA, OPT_RETENTION, OPT_MODELS_DIR, OPT_MAX_LOADED,
           OPT_NO_AUTH, OPT_CORS, OPT_ACCESS_LOG, OPT_SHUTDOWN_TIMEOUT, OPT_PER_ADDRESS, OPT_TRUST_PROXY, OPT_MAX_MEMORY,
           OPT_PRECISION, OPT_MODEL_PRECISION, OPT_NO_WINOGRAD, OPT_LORA_DIR, OPT_EMBEDDINGS_DIR,
           OPT_LIMIT = 1024 };
    static const struct option fixed_options[] = {
        {"model", required_argument, 0, 'm'},
        {"taesd", required_argument, 0, OPT_TAESD},
        {"embeddings-dir", required_argument, 0, OPT_EMBEDDINGS_DIR},
        {"precision", required_argument, 0, OPT_PRECISION},
        {"model-precision", required_argument, 0, OPT_MODEL_PRECISION},
        {"no-winograd", no_argument, 0, OPT_NO_WINOGRAD},
        {"models-dir", required_argument, 0, OPT_MODELS_DIR},
        {"lora-dir", required_argument, 0, OPT_LORA_DIR},
        {"max-loaded", required_argument, 0, OPT_MAX_LOADED},
        {"listen", required_argument, 0, OPT_LISTEN},
        {"data", required_argument, 0, OPT_DATA},
        {"retention-hours", required_argument, 0, OPT_RETENTION},
        {"max-connections-per-address", required_argument, 0, OPT_PER_ADDRESS},
        {"trust-proxy", required_argument, 0, OPT_TRUST_PROXY},
        {"max-memory", required_argument, 0, OPT_MAX_MEMORY},
        {"no-auth", no_argument, 0, OPT_NO_AUTH},
        {"cors-origin", required_argument, 0, OPT_CORS},
        {"access-log", required_argument, 0, OPT_ACCESS_LOG},
        {"shutdown-timeout", required_argument, 0, OPT_SHUTDOWN_TIMEOUT},
        {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'}};
    enum { FIXED = sizeof fixed_options / sizeof fixed_options[0] };
    struct option options[FIXED + 64 + 1];
    memcpy(options, fixed_options, sizeof fixed_options);
    int option_count = FIXED;
    for (const df_limit *limit = df_limits; limit->flag && option_count < FIXED + 64; limit++)
        options[option_count++] = (struct option){limit->flag, required_argument, 0,
                                                  OPT_LIMIT + (int)(limit - df_limits)};
    options[option_count] = (struct option){0, 0, 0, 0};
    df_server_config config;
    df_server_config_default(&config);
    config.data_dir = df_cli_default_data_dir(); /* --data, below, wins */
    const char *model = NULL;
    /* --model-precision, parsed (here: they must outlive df_server_run). */
    df_server_model_precision model_precisions[64];
    long value = 0;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1) {
        switch (option) {
        case 'm': model = optarg; break;
        case OPT_MODELS_DIR: config.models_dir = optarg; break;
        case OPT_LORA_DIR: config.lora_dir = optarg; break;
        case OPT_MAX_LOADED:
            if (df_cli_parse_int("--max-loaded", optarg, 1, 64, &value))
                return 2;
            config.max_loaded = (int)value;
            break;
        case OPT_TAESD: config.taesd_path = optarg; break;
        case OPT_EMBEDDINGS_DIR: config.embeddings_dir = optarg; break;
        case OPT_NO_WINOGRAD: df_set_winograd(0); break;
        case OPT_PRECISION:
            if (strcmp(optarg, "f32") && strcmp(optarg, "bf16") && strcmp(optarg, "int8")) {
                fprintf(stderr, "diffuse: --precision expects one of f32, bf16, int8; got '%s'\n",
                        optarg);
                return 2;
            }
            config.precision = optarg;
            break;
        case OPT_MODEL_PRECISION: {
            if (config.model_precision_count == (int)(sizeof model_precisions /
                                                      sizeof *model_precisions)) {
                fprintf(stderr, "diffuse: --model-precision is given more than %d times\n",
                        config.model_precision_count);
                return 2;
            }
            df_server_model_precision *setting = &model_precisions[config.model_precision_count];
            df_error error = {0};
            if (df_server_model_precision_parse(optarg, setting, &error)) {
                fprintf(stderr, "diffuse: --model-precision '%s': %s\n", optarg, error.message);
                return 2;
            }
            /* Two values for one model: which one was meant is not ours to guess. */
            for (int i = 0; i < config.model_precision_count; i++)
                if (!strcmp(model_precisions[i].name, setting->name)) {
                    fprintf(stderr, "diffuse: --model-precision: the model '%s' is given "
                            "twice (%s and %s)\n", setting->name, model_precisions[i].precision,
                            setting->precision);
                    return 2;
                }
            config.model_precisions = model_precisions;
            config.model_precision_count++;
            break;
        }
        case OPT_LISTEN: config.listen = optarg; break;
        case OPT_DATA: config.data_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        case OPT_PER_ADDRESS:
            if (df_cli_parse_int("--max-connections-per-address", optarg, 1, 10000, &value))
                return 2;
            config.max_connections_per_address = (unsigned)value;
            break;
        case OPT_MAX_MEMORY:
            if (parse_size(optarg, &config.max_memory)) {
                fprintf(stderr, "diffuse: --max-memory expects a size such as 8G, 512M or a "
                        "byte count (at least 1M), got '%s'\n", optarg);
                return 2;
            }
            break;
        /* Checked when the server starts (exit 1 with the reason). */
        case OPT_TRUST_PROXY: config.trust_proxy = optarg; break;
        case OPT_SHUTDOWN_TIMEOUT:
            if (df_cli_parse_int("--shutdown-timeout", optarg, 1, 3600, &value))
                return 2;
            config.shutdown_timeout_s = (unsigned)value;
            break;
        case OPT_NO_AUTH: config.no_auth = 1; break;
        case OPT_CORS: config.cors_origins = optarg; break;
        case OPT_ACCESS_LOG: config.access_log = optarg; break;
        case 't':
            if (df_cli_parse_int("--threads", optarg, 0, 1024, &value))
                return 2;
            config.threads = (int)value;
            break;
        case OPT_RETENTION: {
            char *end = NULL;
            errno = 0;
            double hours = strtod(optarg, &end);
            if (!*optarg || *end || errno || !isfinite(hours) || hours <= 0 || hours > 1e6) {
                fprintf(stderr, "diffuse: --retention-hours expects a number > 0, got '%s'\n",
                        optarg);
                return 2;
            }
            config.retention_hours = hours;
            break;
        }
        default:
            if (option >= OPT_LIMIT) { /* only the table's flags have these values */
                const df_limit *limit = &df_limits[option - OPT_LIMIT];
                char flag[64];
                snprintf(flag, sizeof flag, "--%s", limit->flag);
                if (df_cli_parse_int(flag, optarg, (long)limit->lowest, (long)limit->highest,
                                     &value))
                    return 2;
                df_limits_set(&config, limit, value);
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "diffuse serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* -m (or, without --models-dir, the default model) is the default. */
    config.model_path = model ? model : config.models_dir ? NULL : df_cli_default_model();
    return df_server_run(&config);
}
