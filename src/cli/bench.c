/*
 * bench.c — `diffuse bench unet|vae`: times one UNet evaluation (a CFG step:
 * batch 2 by default) or one VAE decode on a checkpoint, with random inputs
 * of the size asked for. bench/bench_unet_vae.py runs it next to diffusers
 * on the same weights and reports the ratio; --json is its interface.
 * Each timed run is reported on stderr as it ends, so a long run shows
 * progress.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "diffuse.h"
#include "io/checkpoint.h"
#include "models/unet.h"
#include "models/vae.h"
#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/precision.h"
#include "runtime/runtime.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse bench unet|vae [OPTIONS]\n"
            "\n"
            "Times the UNet (one denoising step) or the VAE decoder on random inputs.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH   diffusers folder or single .safetensors checkpoint\n"
            "                     (default: $DIFFUSE_MODEL, else the bundled model)\n"
            "      --size N       image size in pixels, a multiple of 64 (default 512)\n"
            "      --width N, --height N   non-square sizes (override --size)\n"
            "      --batch N      UNet batch (default 2: a classifier-free guidance step)\n"
            "      --tile N       VAE: tiled decoding with N-latent-pixel tiles (default off)\n"
            "  -t, --threads N    compute threads (default: one per CPU)\n"
            "      --no-winograd  direct 3x3 convolutions (default: Winograd F(4x4,3x3))\n"
            "      --precision P  f32, bf16 or int8 linear layers and convolutions (as\n"
            "                     `diffuse generate --precision`; default f32)\n"
            "      --repeat N     timed runs after one warm-up (default 3)\n"
            "      --json         one JSON object on stdout\n"
            "      --save-output FILE  the last run's output as raw little-endian f32 (NHWC\n"
            "                     UNet noise prediction or VAE image), to compare settings\n"
            "  -h, --help         this help\n");
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU time of every thread: on a shared machine, where wall time also
 * measures the other processes, this is the steadier figure. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Deterministic standard normals (Box-Muller over a 64-bit LCG): inputs
 * need only be realistic in scale, not equal to torch's. */
static void fill_normal(float *values, size_t count, uint64_t seed)
{
    uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < count; i += 2) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = ((state >> 11) + 1.0) / 9007199254740993.0;
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (state >> 11) / 9007199254740992.0;
        double radius = sqrt(-2.0 * log(u1));
        values[i] = (float)(radius * cos(2 * M_PI * u2));
        if (i + 1 < count)
            values[i + 1] = (float)(radius * sin(2 * M_PI * u2));
    }
}

typedef struct bench_state {
    int is_unet;
    df_unet *unet;
    df_vae *vae;
    int batch, latent_height, latent_width, tokens;
    float *input, *timesteps, *context, *output;
    float *added_values; /* SDXL: text embeds then time ids, random */
    df_unet_added added;
} bench_state;

static df_status run_once(bench_state *state, df_error *error)
{
    if (state->is_unet)
        return df_unet_forward(state->unet, state->input, state->batch, state->latent_height,
                               state->latent_width, state->timesteps, state->context,
                               state->tokens, state->added_values ? &state->added : NULL,
                               state->output, error);
    return df_vae_decode(state->vae, state->input, state->batch, state->latent_height,
                         state->latent_width, state->output, error);
}

int df_cli_bench(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "unet") && strcmp(argv[1], "vae"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "diffuse bench: say what to time: 'unet' or 'vae'\n");
        usage(stderr);
        return 2;
    }
    bench_state state = {.is_unet = !strcmp(argv[1], "unet")};
    const char *model_path = df_cli_default_model();
    long size = 512, width = 0, height = 0, batch = state.is_unet ? 2 : 1, tile = 0;
    long threads = 0, repeat = 3;
    int json = 0;
    const char *save_path = NULL;
    df_precision precision = DF_PRECISION_F32;
    static const struct option options[] = {
        {"precision", required_argument, 0, 'P'},
        {"model", required_argument, 0, 'm'}, {"size", required_argument, 0, 's'},
        {"width", required_argument, 0, 'W'}, {"height", required_argument, 0, 'H'},
        {"batch", required_argument, 0, 'b'}, {"tile", required_argument, 0, 'T'},
        {"threads", required_argument, 0, 't'}, {"repeat", required_argument, 0, 'r'},
        {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
        {"no-winograd", no_argument, 0, 'w'},
        {"save-output", required_argument, 0, 'S'},
        {0, 0, 0, 0}};
    optind = 1;
    argc--, argv++;
    int option;
    while ((option = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1) {
        int bad = 0;
        switch (option) {
        case 'm': model_path = optarg; break;
        case 'j': json = 1; break;
        case 'w': df_set_winograd(0); break;
        case 'S': save_path = optarg; break;
        case 's': bad = df_cli_parse_int("--size", optarg, 64, 8192, &size); break;
        case 'W': bad = df_cli_parse_int("--width", optarg, 64, 8192, &width); break;
        case 'H': bad = df_cli_parse_int("--height", optarg, 64, 8192, &height); break;
        case 'b': bad = df_cli_parse_int("--batch", optarg, 1, 64, &batch); break;
        case 'T': bad = df_cli_parse_int("--tile", optarg, 0, 1024, &tile); break;
        case 't': bad = df_cli_parse_int("--threads", optarg, 0, 1024, &threads); break;
        case 'r': bad = df_cli_parse_int("--repeat", optarg, 1, 10000, &repeat); break;
        case 'P':
            if (!df_precision_parse(optarg, &precision) || !*optarg) {
                fprintf(stderr, "diffuse bench: --precision expects one of " DF_PRECISION_NAMES
                                "; got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "diffuse bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    width = width ? width : size;
    height = height ? height : size;
    if (width % 64 || height % 64) {
        fprintf(stderr, "diffuse bench: image sizes must be multiples of 64 (got %ldx%ld)\n", width,
                height);
        return 2;
    }

    int exit_code = 1;
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_checkpoint *checkpoint = NULL;
    double load_start = now_seconds();
    if (df_runtime_create((int)threads, &runtime, &error) ||
        df_checkpoint_open(model_path, &checkpoint, &error))
        goto done;
    df_pool *pool = df_runtime_pool(runtime);
    /* as df_model_generate does: f32 (with a message) where the CPU cannot */
    precision = df_gemm_precision_effective(precision);
    df_pool_set_precision(pool, (int)precision);
    size_t input_count, output_count;
    state.batch = (int)batch;
    state.latent_height = (int)height / 8;
    state.latent_width = (int)width / 8;
    size_t pixels = (size_t)state.latent_height * (size_t)state.latent_width;
    if (state.is_unet) {
        if (df_unet_load(checkpoint, pool, &state.unet, &error))
            goto done;
        const df_unet_config *config = df_unet_get_config(state.unet);
        state.tokens = DF_CLIP_WINDOW;
        input_count = (size_t)batch * (size_t)config->in_channels * pixels;
        output_count = (size_t)batch * (size_t)config->out_channels * pixels;
        state.timesteps = malloc((size_t)batch * sizeof(float));
        state.context = malloc((size_t)batch * DF_CLIP_WINDOW * (size_t)config->cross_attention_dim * sizeof(float));
        if (!state.timesteps || !state.context)
            goto out_of_memory;
        for (long i = 0; i < batch; i++)
            state.timesteps[i] = 500;
        fill_normal(state.context, (size_t)batch * DF_CLIP_WINDOW * (size_t)config->cross_attention_dim, 2);
        if (config->add_embedding_dim) {
            /* SDXL: a pooled embedding and 6 time ids fill the added
             * embedding's width (the refiner's 5 + a wider embedding cost
             * the same); the values only have to be finite. */
            int ids = 6;
            int text = config->add_embedding_dim - ids * config->addition_time_embed_dim;
            if (text <= 0) {
                ids = 1;
                text = config->add_embedding_dim - config->addition_time_embed_dim;
            }
            state.added_values = malloc((size_t)batch * (size_t)(text + ids) * sizeof(float));
            if (!state.added_values || text <= 0)
                goto out_of_memory;
            fill_normal(state.added_values, (size_t)batch * (size_t)(text + ids), 3);
            state.added = (df_unet_added){state.added_values, text,
                                          state.added_values + (size_t)batch * (size_t)text, ids};
        }
    } else {
        if (df_vae_load(checkpoint, pool, &state.vae, &error) ||
            (tile && df_vae_set_tiling(state.vae, (int)tile, (int)tile / 4, &error)))
            goto done;
        const df_vae_config *config = df_vae_get_config(state.vae);
        if (config->downscale != 8) {
            fprintf(stderr, "diffuse bench: this VAE downscales by %d, not 8\n", config->downscale);
            goto done;
        }
        input_count = (size_t)batch * (size_t)config->latent_channels * pixels;
        output_count = (size_t)batch * 3 * pixels * 64;
    }
    double load_seconds = now_seconds() - load_start;
    state.input = malloc(input_count * sizeof(float));
    state.output = malloc(output_count * sizeof(float));
    if (!state.input || !state.output)
        goto out_of_memory;
    fill_normal(state.input, input_count, 1);

    double total = 0, best = 0, cpu_total = 0;
    for (long run = 0; run <= repeat; run++) {
        double start = now_seconds(), cpu_start = cpu_seconds();
        if (run_once(&state, &error))
            goto done;
        double seconds = now_seconds() - start;
        if (!json || isatty(2))
            fprintf(stderr, "%s %ldx%ld batch %ld: %s %ld/%ld: %.3f s\n", argv[0], width, height,
                    batch, run ? "run" : "warm-up", run, repeat, seconds);
        if (run == 0)
            continue;
        cpu_total += cpu_seconds() - cpu_start;
        total += seconds;
        if (best == 0 || seconds < best)
            best = seconds;
    }
    if (save_path) {
        FILE *file = fopen(save_path, "wb");
        int ok = file && fwrite(state.output, sizeof(float), output_count, file) == output_count;
        if (file && fclose(file))
            ok = 0;
        if (!ok) {
            fprintf(stderr, "diffuse bench: --save-output %s: cannot write it\n", save_path);
            goto done;
        }
    }
    struct rusage usage_info;
    getrusage(RUSAGE_SELF, &usage_info);
    long peak_rss = usage_info.ru_maxrss * 1024L;
    if (json)
        printf("{\"component\": \"%s\", \"model\": \"%s\", \"width\": %ld, \"height\": %ld, "
               "\"batch\": %ld, \"threads\": %d, \"repeat\": %ld, \"load_seconds\": %.6f, "
               "\"seconds_mean\": %.6f, \"seconds_best\": %.6f, \"cpu_seconds_mean\": %.6f, "
               "\"winograd\": %s, \"peak_rss_bytes\": %ld, \"precision\": \"%s\"}\n",
               argv[0], model_path, width, height, batch, df_runtime_threads(runtime), repeat,
               load_seconds, total / repeat, best, cpu_total / repeat,
               df_conv_winograd_enabled() ? "true" : "false", peak_rss,
               df_precision_name(precision));
    else
        printf("%s %ldx%ld batch %ld, %d threads: %.3f s mean, %.3f s best over %ld runs "
               "(CPU %.3f s per run, all threads); load %.2f s; peak RSS %.1f MB\n",
               argv[0], width, height, batch, df_runtime_threads(runtime), total / repeat, best,
               repeat, cpu_total / repeat, load_seconds, peak_rss / 1e6);
    exit_code = 0;
    goto done;
out_of_memory:
    fprintf(stderr, "diffuse bench: out of memory\n");
done:
    if (exit_code && error.message[0])
        fprintf(stderr, "diffuse bench: %s\n", error.message);
    free(state.input);
    free(state.output);
    free(state.timesteps);
    free(state.context);
    free(state.added_values);
    df_unet_free(state.unet);
    df_vae_free(state.vae);
    df_checkpoint_free(checkpoint);
    df_runtime_free(runtime);
    return exit_code;
}
