/*
 * tokenize.c — `diffuse tokenize`: the CLIP token ids of a prompt, one line
 * per 77-token window (start token .. end token, padding left out), the
 * token count on stderr; --json gives the whole windows as one object.
 * Exit status: 0 ok, 1 the prompt could not be tokenized (invalid UTF-8),
 * 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "diffuse.h"

static void df_cli_tokenize_usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse tokenize [--json] [--pad-token N] [PROMPT | -]\n"
            "\n"
            "Prints the CLIP token ids of PROMPT (read from stdin when it is '-' or\n"
            "absent), split into 77-token windows as AUTOMATIC1111 does: one line per\n"
            "window, from the start token (49406) to the end token (49407), padding\n"
            "left out. The number of prompt tokens goes to stderr.\n"
            "\n"
            "options:\n"
            "  --json          print {\"token_count\", \"pad_token\", \"windows\": [{\"ids\"\n"
            "                  (all 77, padded), \"content_length\"}]} instead\n"
            "  --pad-token N   pad id after the end token: 49407 (SD 1.x, default) or\n"
            "                  0 (SD 2.x: \"!\" is then the pad token, and a literal \"!\"\n"
            "                  is id 0, as diffusers' SD 2.x tokenizer splits it)\n"
            "  -h, --help      show this help\n");
}

static int df_cli_read_stdin(char **out, size_t *out_length)
{
    size_t capacity = 4096, length = 0;
    char *data = malloc(capacity);
    if (!data)
        return -1;
    for (;;) {
        if (length == capacity) {
            char *grown = realloc(data, capacity * 2);
            if (!grown) {
                free(data);
                return -1;
            }
            data = grown;
            capacity *= 2;
        }
        size_t got = fread(data + length, 1, capacity - length, stdin);
        length += got;
        if (got == 0) {
            if (ferror(stdin)) {
                free(data);
                return -1;
            }
            break;
        }
    }
    *out = data;
    *out_length = length;
    return 0;
}

static int df_cli_print_json(const df_token_windows *windows, long pad_token)
{
    json_t *root = json_object();
    json_t *list = json_array();
    if (!root || !list) {
        json_decref(root);
        json_decref(list);
        return 1;
    }
    json_object_set_new(root, "token_count", json_integer((json_int_t)windows->token_count));
    json_object_set_new(root, "pad_token", json_integer(pad_token));
    json_object_set_new(root, "window_count", json_integer((json_int_t)windows->window_count));
    for (size_t i = 0; i < windows->window_count; i++) {
        json_t *window = json_object();
        json_t *ids = json_array();
        for (size_t k = 0; k < DF_CLIP_WINDOW; k++)
            json_array_append_new(ids, json_integer(windows->ids[i * DF_CLIP_WINDOW + k]));
        json_object_set_new(window, "ids", ids);
        json_object_set_new(window, "content_length",
                            json_integer(windows->content_lengths[i]));
        json_array_append_new(list, window);
    }
    json_object_set_new(root, "windows", list);
    int failed = json_dumpf(root, stdout, JSON_COMPACT) != 0;
    json_decref(root);
    fputc('\n', stdout);
    return failed;
}

int df_cli_tokenize(int argc, char **argv)
{
    int json = 0;
    long pad_token = DF_CLIP_END_TOKEN;
    const char *prompt = NULL;
    int have_prompt = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            df_cli_tokenize_usage(stdout);
            return 0;
        } else if (!strcmp(arg, "--json")) {
            json = 1;
        } else if (!strcmp(arg, "--pad-token")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "diffuse tokenize: --pad-token needs a value\n");
                return 2;
            }
            if (df_cli_parse_int("--pad-token", argv[++i], 0, DF_CLIP_END_TOKEN, &pad_token))
                return 2;
        } else if (!strcmp(arg, "--")) {
            if (i + 2 < argc || (i + 1 < argc && have_prompt)) {
                fprintf(stderr, "diffuse tokenize: expects at most one PROMPT\n");
                return 2;
            }
            if (i + 1 < argc)
                prompt = argv[i + 1], have_prompt = 1;
            break;
        } else if (arg[0] == '-' && arg[1] != 0) {
            fprintf(stderr, "diffuse tokenize: unknown option '%s'\n", arg);
            df_cli_tokenize_usage(stderr);
            return 2;
        } else {
            if (have_prompt) {
                fprintf(stderr, "diffuse tokenize: expects at most one PROMPT (quote it)\n");
                return 2;
            }
            prompt = arg;
            have_prompt = 1;
        }
    }

    char *buffer = NULL;
    size_t length = 0;
    if (!have_prompt || !strcmp(prompt, "-")) {
        if (df_cli_read_stdin(&buffer, &length)) {
            fprintf(stderr, "diffuse tokenize: cannot read stdin: %s\n", strerror(errno));
            return 1;
        }
        prompt = buffer;
    } else {
        length = strlen(prompt);
    }

    df_error error = {0};
    df_tokenizer *tokenizer = NULL;
    df_token_windows windows = {0};
    df_status status = df_tokenizer_create_for_pad((int32_t)pad_token, &tokenizer, &error);
    if (status == DF_OK)
        status = df_tokenize_windows(tokenizer, prompt, length, (int32_t)pad_token, &windows,
                                     &error);
    free(buffer);
    df_tokenizer_free(tokenizer);
    if (status != DF_OK) {
        fprintf(stderr, "diffuse tokenize: %s\n", error.message);
        return 1;
    }
    int failed = 0;
    if (json) {
        failed = df_cli_print_json(&windows, pad_token);
    } else {
        for (size_t i = 0; i < windows.window_count; i++) {
            const int32_t *w = windows.ids + i * DF_CLIP_WINDOW;
            size_t shown = (size_t)windows.content_lengths[i] + 2;
            for (size_t k = 0; k < shown; k++)
                printf(k ? " %d" : "%d", (int)w[k]);
            putchar('\n');
        }
    }
    fprintf(stderr, "tokens: %zu (%zu window%s)\n", windows.token_count, windows.window_count,
            windows.window_count == 1 ? "" : "s");
    df_token_windows_free(&windows);
    if (fflush(stdout) != 0 || failed) {
        fprintf(stderr, "diffuse tokenize: cannot write the output\n");
        return 1;
    }
    return 0;
}
