/*
 * inspect.c — `diffuse inspect [--json] PATH`: what a checkpoint is (layout,
 * family), what it holds per component (tensors, parameters, dtypes, bytes),
 * its main config values, and the notes made while opening it.
 *
 * Exit status: 0 shown, 1 the checkpoint could not be opened (the message
 * says why), 2 usage error. The JSON form is built with jansson so it is
 * always well-formed whatever the tensor names contain.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "diffuse.h"
#include "io/checkpoint.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse inspect [--json] PATH\n"
            "\n"
            "Shows a Stable Diffusion checkpoint: a diffusers folder (text_encoder/, unet/,\n"
            "vae/) or an original single-file .safetensors. Prints the layout, the family\n"
            "(SD1, SD2, SDXL), per component the tensor\n"
            "and parameter counts, dtypes and bytes, the main config values, and notes.\n"
            "\n"
            "  --json    print one JSON object instead of text\n"
            "  --help    this text\n"
            "\n"
            "Exit status: 0 ok, 1 the checkpoint could not be opened, 2 usage error.\n");
}

typedef struct summary {
    size_t tensors;
    uint64_t parameters, bytes;
    size_t dtype_counts[3]; /* by df_dtype */
} summary;

static size_t dtype_bytes(df_dtype dtype)
{
    return dtype == DF_DTYPE_F32 ? 4 : 2;
}

static const char *dtype_label(df_dtype dtype)
{
    switch (dtype) {
    case DF_DTYPE_F32: return "F32";
    case DF_DTYPE_F16: return "F16";
    case DF_DTYPE_BF16: return "BF16";
    }
    return "?";
}

static const char *layout_label(df_layout layout)
{
    return layout == DF_LAYOUT_DIFFUSERS ? "diffusers" : "single-file";
}

static summary summarise(const df_checkpoint *checkpoint, df_component component)
{
    summary s = {0};
    s.tensors = df_checkpoint_count(checkpoint, component);
    for (size_t i = 0; i < s.tensors; i++) {
        const df_weight *w = df_checkpoint_at(checkpoint, component, i, NULL);
        uint64_t numel = 1;
        for (int d = 0; d < w->ndim; d++)
            numel *= (uint64_t)w->shape[d];
        s.parameters += numel;
        s.bytes += numel * dtype_bytes(w->dtype);
        if ((unsigned)w->dtype < 3)
            s.dtype_counts[w->dtype]++;
    }
    return s;
}

static void human_bytes(uint64_t bytes, char *out, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        unit++;
    }
    if (unit == 0)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, size, "%.1f %s", value, units[unit]);
}

static void human_count(uint64_t count, char *out, size_t size)
{
    if (count >= 1000000000)
        snprintf(out, size, "%.2fB", count / 1e9);
    else if (count >= 1000000)
        snprintf(out, size, "%.1fM", count / 1e6);
    else if (count >= 1000)
        snprintf(out, size, "%.1fK", count / 1e3);
    else
        snprintf(out, size, "%llu", (unsigned long long)count);
}

/* The config values worth a glance, per component. Arrays print as lists. */
static const char *const main_keys[DF_COMPONENT_COUNT][10] = {
    {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
     "max_position_embeddings", "hidden_act", NULL},
    {"in_channels", "out_channels", "block_out_channels", "layers_per_block", "cross_attention_dim",
     "attention_head_dim", "transformer_layers_per_block", "use_linear_projection",
     "projection_class_embeddings_input_dim", NULL},
    {"latent_channels", "block_out_channels", "layers_per_block", "scaling_factor", NULL},
    {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
     "max_position_embeddings", "hidden_act", "projection_dim", NULL},
};

static void print_config_text(const df_checkpoint *checkpoint, df_component component)
{
    char *text = df_checkpoint_config_json(checkpoint, component);
    json_t *config = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!config)
        return;
    printf("  config:");
    for (int k = 0; main_keys[component][k]; k++) {
        json_t *value = json_object_get(config, main_keys[component][k]);
        if (!value)
            continue;
        char *dumped = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (dumped) {
            printf(" %s=%s", main_keys[component][k], dumped);
            free(dumped);
        }
    }
    printf("\n");
    json_decref(config);
}

static int print_text(const df_checkpoint *checkpoint)
{
    char size[32], count[32];
    printf("path:     %s\n", df_checkpoint_path(checkpoint));
    printf("layout:   %s\n", layout_label(df_checkpoint_layout(checkpoint)));
    printf("family:   %s\n", df_family_name(df_checkpoint_family(checkpoint)));
    human_bytes(df_checkpoint_file_bytes(checkpoint), size, sizeof size);
    printf("files:    %zu, %s (%llu bytes)\n", df_checkpoint_file_count(checkpoint), size,
           (unsigned long long)df_checkpoint_file_bytes(checkpoint));
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        df_component component = (df_component)c;
        if (!df_checkpoint_has(checkpoint, component)) {
            /* only SDXL has a second text encoder: absent is news only there */
            if (component != DF_COMPONENT_TEXT_ENCODER_2 ||
                df_checkpoint_family(checkpoint) == DF_FAMILY_SDXL)
                printf("\n%s: absent\n", df_component_name(component));
            continue;
        }
        summary s = summarise(checkpoint, component);
        human_count(s.parameters, count, sizeof count);
        human_bytes(s.bytes, size, sizeof size);
        printf("\n%s: %zu tensors, %s parameters (%llu), %s\n", df_component_name(component),
               s.tensors, count, (unsigned long long)s.parameters, size);
        printf("  dtypes:");
        for (int d = 0; d < 3; d++)
            if (s.dtype_counts[d])
                printf(" %s x%zu", dtype_label((df_dtype)d), s.dtype_counts[d]);
        printf("\n");
        print_config_text(checkpoint, component);
    }
    size_t unused = df_checkpoint_unused_count(checkpoint);
    if (unused) {
        printf("\nunused tensors: %zu\n", unused);
        for (size_t i = 0; i < unused && i < 5; i++) {
            const char *reason;
            const char *name = df_checkpoint_unused_at(checkpoint, i, &reason);
            printf("  %s (%s)\n", name, reason);
        }
        if (unused > 5)
            printf("  ...\n");
    }
    if (df_checkpoint_note_count(checkpoint)) {
        printf("\nnotes:\n");
        for (size_t i = 0; i < df_checkpoint_note_count(checkpoint); i++)
            printf("  %s\n", df_checkpoint_note_at(checkpoint, i));
    }
    return 0;
}

static int print_json(const df_checkpoint *checkpoint)
{
    json_t *root = json_object();
    json_object_set_new(root, "path", json_string(df_checkpoint_path(checkpoint)));
    json_object_set_new(root, "layout", json_string(layout_label(df_checkpoint_layout(checkpoint))));
    json_object_set_new(root, "family",
                        json_string(df_family_name(df_checkpoint_family(checkpoint))));
    json_object_set_new(root, "file_bytes",
                        json_integer((json_int_t)df_checkpoint_file_bytes(checkpoint)));
    json_object_set_new(root, "files", json_integer((json_int_t)df_checkpoint_file_count(checkpoint)));
    json_t *components = json_object();
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        df_component component = (df_component)c;
        if (!df_checkpoint_has(checkpoint, component)) {
            json_object_set_new(components, df_component_name(component), json_null());
            continue;
        }
        summary s = summarise(checkpoint, component);
        json_t *item = json_object();
        json_object_set_new(item, "tensors", json_integer((json_int_t)s.tensors));
        json_object_set_new(item, "parameters", json_integer((json_int_t)s.parameters));
        json_object_set_new(item, "bytes", json_integer((json_int_t)s.bytes));
        json_t *dtypes = json_object();
        for (int d = 0; d < 3; d++)
            if (s.dtype_counts[d])
                json_object_set_new(dtypes, dtype_label((df_dtype)d),
                                    json_integer((json_int_t)s.dtype_counts[d]));
        json_object_set_new(item, "dtypes", dtypes);
        char *text = df_checkpoint_config_json(checkpoint, component);
        json_t *config = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_object_set_new(item, "config", config ? config : json_object());
        json_object_set_new(components, df_component_name(component), item);
    }
    json_object_set_new(root, "components", components);
    json_t *unused = json_array();
    for (size_t i = 0; i < df_checkpoint_unused_count(checkpoint); i++) {
        const char *reason;
        const char *name = df_checkpoint_unused_at(checkpoint, i, &reason);
        json_array_append_new(unused, json_pack("{s:s, s:s}", "name", name, "reason", reason));
    }
    json_object_set_new(root, "unused", unused);
    json_t *notes = json_array();
    for (size_t i = 0; i < df_checkpoint_note_count(checkpoint); i++)
        json_array_append_new(notes, json_string(df_checkpoint_note_at(checkpoint, i)));
    json_object_set_new(root, "notes", notes);
    char *dumped = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!dumped) {
        fprintf(stderr, "diffuse inspect: out of memory\n");
        return 1;
    }
    printf("%s\n", dumped);
    free(dumped);
    return 0;
}

int df_cli_inspect(int argc, char **argv)
{
    int json = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "diffuse inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "diffuse inspect: one PATH only (got '%s' and '%s')\n", path, argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "diffuse inspect: missing PATH\n");
        usage(stderr);
        return 2;
    }
    df_checkpoint *checkpoint = NULL;
    df_error error = {0};
    df_status status = df_checkpoint_open(path, &checkpoint, &error);
    if (status != DF_OK) {
        fprintf(stderr, "diffuse inspect: %s: %s\n", df_status_string(status), error.message);
        return 1;
    }
    int result = json ? print_json(checkpoint) : print_text(checkpoint);
    df_checkpoint_free(checkpoint);
    return result;
}
