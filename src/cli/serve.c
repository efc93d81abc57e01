/*
 * serve.c — `diffuse serve`: options to a df_server_config, then
 * df_server_run (src/server/). Usage errors exit 2 before anything starts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse serve [OPTIONS]\n"
            "\n"
            "Serves text-to-image over HTTP: the native jobs API (POST /v1/jobs, GET\n"
            "/v1/jobs/{id}, .../events, .../cancel, .../images/{n}), POST /predict,\n"
            "AUTOMATIC1111's /sdapi/v1/*, and GET /healthz, /readyz. Jobs are kept in an SQLite database in the data\n"
            "directory: an accepted job survives a restart. SIGINT/SIGTERM stop it cleanly.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH          diffusers folder or .safetensors checkpoint\n"
            "                            (default: $DIFFUSE_MODEL, else the bundled model);\n"
            "                            with --models-dir: one more model, the default\n"
            "      --models-dir DIR      serve every checkpoint in DIR (diffusers folders,\n"
            "                            *.safetensors files; named by file/folder name);\n"
            "                            a request picks one with \"model\"; without -m the\n"
            "                            first name is the default\n"
            "      --max-loaded N        models in memory at most, 1..64; the least recently\n"
            "                            used is unloaded (default: 1)\n"
            "      --taesd PATH          TAESD decoder: enables previews in step events\n"
            "      --listen HOST:PORT    address to listen on; port 0 picks a free one\n"
            "                            (default: 127.0.0.1:8080)\n"
            "      --data DIR            job database and images (default: ./diffuse-data)\n"
            "      --queue-size N        queued jobs at most, 1..100000; more: 429\n"
            "                            (default: 64)\n"
            "      --retention-hours X   finished jobs and their images are deleted after\n"
            "                            this long, > 0 (default: 24)\n"
            "      --max-connections N   concurrent connections, 1..10000 (default: 64)\n"
            "      --sync-timeout S      longest wait of POST /predict, 1..86400 s; then 504\n"
            "                            and the job goes on (default: 600)\n"
            "\n"
            "limits (requests over them get 400/413 naming the limit):\n"
            "      --max-body-bytes N    request body size (default: 8388608)\n"
            "      --max-prompt-bytes N  prompt and negative prompt, each (default: 32000)\n"
            "      --max-side N          width and height, pixels (default: 2048)\n"
            "      --max-steps N         sampling steps (default: 150)\n"
            "      --max-batch N         images per request: n, batch_size (default: 8)\n"
            "      --max-memory SIZE     working memory of one request (scratch, buffers;\n"
            "                            not the memory-mapped weights), e.g. 8G, 512M:\n"
            "                            larger requests get 400 naming width/height/batch\n"
            "                            (default: 3/4 of the machine's or cgroup's memory)\n"
            "      --header-timeout S    a request's headers must arrive within S seconds\n"
            "                            (default: 10)\n"
            "      --body-timeout S      and its body within S more (default: 60)\n"
            "      --idle-timeout S      keep-alive connections idle this long are closed\n"
            "                            (default: 60)\n"
            "\n"
            "security and operations:\n"
            "      --no-auth             allow listening on a non-loopback address with no\n"
            "                            API key configured (see `diffuse keys`)\n"
            "      --cors-origin LIST    allow browsers from these origins: \"*\" or\n"
            "                            \"https://a.example,https://b.example\" (default: none)\n"
            "      --access-log PATH     one JSON line per request to PATH (appended), or\n"
            "                            \"off\" (default: stderr)\n"
            "      --shutdown-timeout S  on SIGTERM, wait at most S s for the running job to\n"
            "                            stop (it stops within about a second)\n"
            "                            (default: 30)\n"
            "\n"
            "signals: SIGTERM/SIGINT stop cleanly (the running job is interrupted inside its\n"
            "step and re-queued); SIGHUP reloads the API keys and --models-dir.\n"
            "  -t, --threads N           engine threads (default: one per CPU)\n"
            "  -h, --help                this help\n"
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
    enum { OPT_TAESD = 256, OPT_LISTEN, OPT_DATA, OPT_QUEUE, OPT_RETENTION, OPT_CONNECTIONS,
           OPT_SYNC_TIMEOUT, OPT_MODELS_DIR, OPT_MAX_LOADED, OPT_MAX_BODY, OPT_MAX_PROMPT,
           OPT_MAX_SIDE, OPT_MAX_STEPS, OPT_MAX_BATCH, OPT_HEADER_TIMEOUT, OPT_BODY_TIMEOUT,
           OPT_IDLE_TIMEOUT, OPT_NO_AUTH, OPT_CORS, OPT_ACCESS_LOG, OPT_SHUTDOWN_TIMEOUT,
           OPT_MAX_MEMORY };
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'},
        {"taesd", required_argument, 0, OPT_TAESD},
        {"models-dir", required_argument, 0, OPT_MODELS_DIR},
        {"max-loaded", required_argument, 0, OPT_MAX_LOADED},
        {"listen", required_argument, 0, OPT_LISTEN},
        {"data", required_argument, 0, OPT_DATA},
        {"queue-size", required_argument, 0, OPT_QUEUE},
        {"retention-hours", required_argument, 0, OPT_RETENTION},
        {"max-connections", required_argument, 0, OPT_CONNECTIONS},
        {"sync-timeout", required_argument, 0, OPT_SYNC_TIMEOUT},
        {"max-body-bytes", required_argument, 0, OPT_MAX_BODY},
        {"max-prompt-bytes", required_argument, 0, OPT_MAX_PROMPT},
        {"max-side", required_argument, 0, OPT_MAX_SIDE},
        {"max-steps", required_argument, 0, OPT_MAX_STEPS},
        {"max-batch", required_argument, 0, OPT_MAX_BATCH},
        {"max-memory", required_argument, 0, OPT_MAX_MEMORY},
        {"header-timeout", required_argument, 0, OPT_HEADER_TIMEOUT},
        {"body-timeout", required_argument, 0, OPT_BODY_TIMEOUT},
        {"idle-timeout", required_argument, 0, OPT_IDLE_TIMEOUT},
        {"no-auth", no_argument, 0, OPT_NO_AUTH},
        {"cors-origin", required_argument, 0, OPT_CORS},
        {"access-log", required_argument, 0, OPT_ACCESS_LOG},
        {"shutdown-timeout", required_argument, 0, OPT_SHUTDOWN_TIMEOUT},
        {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    df_server_config config;
    df_server_config_default(&config);
    const char *model = NULL;
    long value = 0;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1) {
        switch (option) {
        case 'm': model = optarg; break;
        case OPT_MODELS_DIR: config.models_dir = optarg; break;
        case OPT_MAX_LOADED:
            if (df_cli_parse_int("--max-loaded", optarg, 1, 64, &value))
                return 2;
            config.max_loaded = (int)value;
            break;
        case OPT_TAESD: config.taesd_path = optarg; break;
        case OPT_LISTEN: config.listen = optarg; break;
        case OPT_DATA: config.data_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        case OPT_QUEUE:
            if (df_cli_parse_int("--queue-size", optarg, 1, 100000, &value))
                return 2;
            config.queue_size = (int)value;
            break;
        case OPT_CONNECTIONS:
            if (df_cli_parse_int("--max-connections", optarg, 1, 10000, &value))
                return 2;
            config.max_connections = (unsigned)value;
            break;
        case OPT_SYNC_TIMEOUT:
            if (df_cli_parse_int("--sync-timeout", optarg, 1, 86400, &value))
                return 2;
            config.sync_timeout_s = (int)value;
            break;
        /* Limits: the upper bounds are the engine's own (request.c). */
        case OPT_MAX_BODY:
            if (df_cli_parse_int("--max-body-bytes", optarg, 1024, 1L << 30, &value))
                return 2;
            config.max_body_bytes = (size_t)value;
            break;
        case OPT_MAX_PROMPT:
            if (df_cli_parse_int("--max-prompt-bytes", optarg, 1, 1L << 20, &value))
                return 2;
            config.max_prompt_bytes = (size_t)value;
            break;
        case OPT_MAX_SIDE:
            if (df_cli_parse_int("--max-side", optarg, 8, 8192, &value))
                return 2;
            config.max_side = (int)value;
            break;
        case OPT_MAX_STEPS:
            if (df_cli_parse_int("--max-steps", optarg, 1, 1000, &value))
                return 2;
            config.max_steps = (int)value;
            break;
        case OPT_MAX_BATCH:
            if (df_cli_parse_int("--max-batch", optarg, 1, 64, &value))
                return 2;
            config.max_batch = (int)value;
            break;
        case OPT_MAX_MEMORY:
            if (parse_size(optarg, &config.max_memory)) {
                fprintf(stderr, "diffuse: --max-memory expects a size such as 8G, 512M or a "
                        "byte count (at least 1M), got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_HEADER_TIMEOUT:
            if (df_cli_parse_int("--header-timeout", optarg, 1, 3600, &value))
                return 2;
            config.header_timeout_s = (unsigned)value;
            break;
        case OPT_BODY_TIMEOUT:
            if (df_cli_parse_int("--body-timeout", optarg, 1, 3600, &value))
                return 2;
            config.body_timeout_s = (unsigned)value;
            break;
        case OPT_IDLE_TIMEOUT:
            if (df_cli_parse_int("--idle-timeout", optarg, 1, 3600, &value))
                return 2;
            config.idle_timeout_s = (unsigned)value;
            break;
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
        default: usage(stderr); return 2;
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
