/*
 * main.c — the `diffuse` executable: dispatches to a subcommand. Global
 * options live with the subcommands (each has its own --help).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "diffuse.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", df_cli_generate, "generate images from a prompt (txt2img, img2img)"},
    {"inspect", df_cli_inspect, "show a checkpoint's family, components, dtypes and sizes"},
    {"tokenize", df_cli_tokenize, "print the CLIP token ids of a prompt, per 77-token window"},
    {"encode", df_cli_encode, "run the text encoder on prompts (timing, checks)"},
    {"bench", df_cli_bench, "time the UNet or the VAE decoder on a checkpoint"},
    {"serve", df_cli_serve, "serve text-to-image over HTTP (jobs API, /predict)"},
    {"keys", df_cli_keys, "create, list and revoke API keys of diffuse serve"},
    {"usage", df_cli_usage, "show each API key's requests, images and compute, per day"},
};

static void usage(FILE *out)
{
    fprintf(out, "diffuse %s — Stable Diffusion in C\n\nusage: diffuse COMMAND [OPTIONS]\n\ncommands:\n",
            DIFFUSE_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'diffuse COMMAND --help' describes a command's options.\n");
}

const char *df_cli_default_model(void)
{
    const char *path = getenv("DIFFUSE_MODEL");
    return path && *path ? path : DF_DEFAULT_MODEL;
}

const char *df_cli_default_data_dir(void)
{
    const char *path = getenv("DIFFUSE_DATA");
    return path && *path ? path : DF_CLI_DATA_DIR;
}

int df_cli_parse_int(const char *option, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long value = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || value < min || value > max) {
        fprintf(stderr, "diffuse: %s expects an integer in [%ld, %ld], got '%s'\n", option, min,
                max, text ? text : "");
        return 2;
    }
    *out = value;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("diffuse %s\n", DIFFUSE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "diffuse: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
