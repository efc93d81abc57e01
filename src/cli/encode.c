/*
 * encode.c — `diffuse encode`: runs the text encoder on one or more prompts,
 * as one batch (all their 77-token windows together, as a CFG step batches
 * prompt and negative prompt). Used to check outputs against transformers
 * (--output writes the hidden states) and to time the encoder (--repeat,
 * --json, as bench/bench_text_encoder.py drives it).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/commands.h"
#include "diffuse.h"
#include "runtime/error.h"
#include "io/safetensors_writer.h"
#include "text/prompt_weights.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse encode [OPTIONS] PROMPT [PROMPT ...]\n"
            "\n"
            "Encodes the prompts with the model's CLIP text encoder, all windows in one batch.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH     diffusers folder or single .safetensors checkpoint\n"
            "                       (default: $DIFFUSE_MODEL, else the bundled model\n"
            "                       %s)\n"
            "  -t, --threads N      compute threads (default: one per CPU)\n"
            "      --clip-skip N    1 = last layer (default), 2 = penultimate, ... (A1111 meaning)\n"
            "      --repeat N       time N runs after one warm-up run (default: one run, no warm-up)\n"
            "  -o, --output FILE    write the hidden states to FILE (.safetensors, tensor\n"
            "                       'hidden_states' f32 [windows*77, dim], and 'input_ids')\n"
            "      --weighting      parse AUTOMATIC1111's emphasis syntax: (word:1.3) (word)\n"
            "                       [word] \\( BREAK (default: prompts are taken literally)\n"
            "      --json           print a JSON summary (timings, peak RSS) on stdout\n"
            "  -h, --help           this help\n",
            DF_DEFAULT_MODEL);
}

static double sqrt_or_zero(double value)
{
    return value > 0 ? sqrt(value) : 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long peak_rss_bytes(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss * 1024L;
}

int df_cli_encode(int argc, char **argv)
{
    const char *model_path = df_cli_default_model(), *output_path = NULL;
    long threads = 0, clip_skip = 1, repeat = 0;
    int json = 0, weighting = 0;
    static const struct option options[] = {
        {"weighting", no_argument, 0, 'w'},
        {"model", required_argument, 0, 'm'},  {"threads", required_argument, 0, 't'},
        {"clip-skip", required_argument, 0, 'c'}, {"repeat", required_argument, 0, 'r'},
        {"output", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "m:t:o:h", options, NULL)) != -1) {
        switch (option) {
        case 'm': model_path = optarg; break;
        case 'o': output_path = optarg; break;
        case 'j': json = 1; break;
        case 'w': weighting = 1; break;
        case 't':
            if (df_cli_parse_int("--threads", optarg, 0, 1024, &threads))
                return 2;
            break;
        case 'c':
            if (df_cli_parse_int("--clip-skip", optarg, 1, 64, &clip_skip))
                return 2;
            break;
        case 'r':
            if (df_cli_parse_int("--repeat", optarg, 0, 100000, &repeat))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "diffuse encode: give at least one prompt (\"\" is the empty prompt)\n");
        usage(stderr);
        return 2;
    }

    int exit_code = 1;
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    int32_t *ids = NULL;
    float *weights = NULL, *hidden = NULL;
    size_t window_count = 0;

    double load_start = now_seconds();
    if (df_runtime_create((int)threads, &runtime, &error) ||
        df_model_open(runtime, model_path, &model, &error))
        goto done;
    double load_seconds = now_seconds() - load_start;

    /* All prompts' windows in one batch. */
    for (int i = optind; i < argc; i++) {
        df_token_windows windows;
        df_status status =
            weighting ? df_tokenize_weighted_windows(df_model_tokenizer(model), argv[i],
                                                     strlen(argv[i]), df_model_pad_token(model),
                                                     &windows, &error)
                      : df_tokenize_windows(df_model_tokenizer(model), argv[i], strlen(argv[i]),
                                            df_model_pad_token(model), &windows, &error);
        if (status) {
            fprintf(stderr, "diffuse encode: prompt %d: ", i - optind + 1);
            goto done;
        }
        size_t total = (window_count + windows.window_count) * DF_CLIP_WINDOW;
        int32_t *grown_ids = realloc(ids, total * sizeof *ids);
        if (grown_ids)
            ids = grown_ids;
        float *grown_weights = realloc(weights, total * sizeof *weights);
        if (grown_weights)
            weights = grown_weights;
        if (!grown_ids || !grown_weights) {
            df_token_windows_free(&windows);
            fprintf(stderr, "diffuse encode: out of memory\n");
            goto done;
        }
        memcpy(ids + window_count * DF_CLIP_WINDOW, windows.ids,
               windows.window_count * DF_CLIP_WINDOW * sizeof *ids);
        memcpy(weights + window_count * DF_CLIP_WINDOW, windows.weights,
               windows.window_count * DF_CLIP_WINDOW * sizeof *weights);
        window_count += windows.window_count;
        df_token_windows_free(&windows);
    }
    if (window_count > 4096) {
        fprintf(stderr, "diffuse encode: %zu windows is more than one batch can take (4096)\n", window_count);
        goto done;
    }
    const int dim = df_model_text_dim(model);
    const size_t rows = window_count * DF_CLIP_WINDOW;
    hidden = malloc(rows * (size_t)dim * sizeof *hidden);
    if (!hidden) {
        fprintf(stderr, "diffuse encode: out of memory\n");
        goto done;
    }

    double best = 0, total = 0;
    long runs = repeat > 0 ? repeat + 1 : 1; /* with --repeat, run 0 is the warm-up */
    for (long run = 0; run < runs; run++) {
        double start = now_seconds();
        if (df_model_family(model) == DF_FAMILY_SDXL) {
            /* SDXL: each prompt through both tokenizers (the second splits
             * off every "!", so its windows are its own) and both encoders,
             * as generation conditions on it; one window count per prompt
             * as the first tokenizer counts (the second's may differ only
             * for "!"-heavy prompts, then the output says so by size). */
            size_t at = 0;
            for (int i = optind; i < argc; i++) {
                float *encoded = NULL;
                size_t tokens = 0;
                if (df_model_encode_prompt(model, argv[i], (int)clip_skip,
                                           weighting ? DF_PROMPT_WEIGHTING : 0, &encoded, &tokens,
                                           &error))
                    goto done;
                if (at + tokens > rows) {
                    free(encoded);
                    df_error_set(&error, DF_ERR_INVALID_ARGUMENT,
                                 "prompt %d needs more windows with SDXL's second tokenizer "
                                 "than with its first; encode it alone",
                                 i - optind + 1);
                    goto done;
                }
                memcpy(hidden + at * (size_t)dim, encoded, tokens * (size_t)dim * sizeof(float));
                at += tokens;
                free(encoded);
            }
        } else {
            if (df_model_encode_tokens(model, ids, window_count, (int)clip_skip, hidden, &error))
                goto done;
            for (size_t w = 0; w < window_count; w++)
                df_prompt_apply_weights(hidden + w * DF_CLIP_WINDOW * (size_t)dim,
                                        weights + w * DF_CLIP_WINDOW, dim);
        }
        double seconds = now_seconds() - start;
        if (repeat > 0 && run == 0)
            continue;
        total += seconds;
        if (best == 0 || seconds < best)
            best = seconds;
    }
    long timed = repeat > 0 ? repeat : 1;

    if (output_path) {
        df_st_output tensors[2] = {
            {"hidden_states", DF_ST_F32, 2, {(int64_t)rows, dim}, hidden},
            {"input_ids", DF_ST_I32, 2, {(int64_t)window_count, DF_CLIP_WINDOW}, ids},
        };
        if (df_safetensors_write(output_path, tensors, 2, &error))
            goto done;
    }

    double sum = 0, sum_squares = 0;
    for (size_t i = 0; i < rows * (size_t)dim; i++) {
        sum += hidden[i];
        sum_squares += (double)hidden[i] * hidden[i];
    }
    double count = (double)rows * dim, mean = sum / count;
    if (json) {
        printf("{\"model\": \"%s\", \"family\": \"%s\", \"threads\": %d, \"prompts\": %d, "
               "\"windows\": %zu, \"dim\": %d, \"clip_skip\": %ld, \"load_seconds\": %.6f, "
               "\"repeat\": %ld, \"seconds_mean\": %.6f, \"seconds_best\": %.6f, "
               "\"output_mean\": %.8g, \"output_std\": %.8g, \"peak_rss_bytes\": %ld}\n",
               model_path, df_family_name(df_model_family(model)), df_runtime_threads(runtime),
               argc - optind, window_count, dim, clip_skip, load_seconds, timed, total / timed,
               best, mean, sqrt_or_zero(sum_squares / count - mean * mean), peak_rss_bytes());
    } else {
        printf("model: %s (%s), %d threads, loaded in %.3f s\n", model_path,
               df_family_name(df_model_family(model)), df_runtime_threads(runtime), load_seconds);
        printf("encoded %d prompt(s): %zu window(s) of 77 tokens, %d-d, clip skip %ld\n",
               argc - optind, window_count, dim, clip_skip);
        printf("time: %.4f s mean, %.4f s best over %ld run(s); peak RSS %.1f MB\n", total / timed,
               best, timed, peak_rss_bytes() / 1e6);
        printf("output: mean %.6f, std %.6f; first values %.6f %.6f %.6f %.6f\n", mean,
               sqrt_or_zero(sum_squares / count - mean * mean), hidden[0], hidden[1], hidden[2],
               hidden[3]);
        if (output_path)
            printf("wrote %s\n", output_path);
    }
    exit_code = 0;
done:
    if (exit_code)
        fprintf(stderr, "diffuse encode: %s\n", error.message[0] ? error.message : "failed");
    free(hidden);
    free(weights);
    free(ids);
    df_model_free(model);
    df_runtime_free(runtime);
    return exit_code;
}
