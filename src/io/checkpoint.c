/*
 * checkpoint.c — a Stable Diffusion checkpoint (diffusers folder or original
 * single file) as three tables of weights under diffusers names.
 *
 * Invariants of an open df_checkpoint:
 *   - each component table is sorted by diffusers name and has no duplicate
 *     (two tensors mapping to one name is a format error, not a silent pick);
 *   - every weight is F32/F16/BF16 with ndim <= 4 and points into a mapping
 *     the checkpoint owns; tensors that are not weights (other dtypes, EMA
 *     copies, OpenCLIP's projection, SD2's last OpenCLIP layer, ...) are
 *     listed as unused with the reason, so inspect can show them;
 *   - each present component has a config: values inferred from the weights
 *     (so the single-file layout needs no side files), overlaid by the
 *     component's config.json (diffusers) or by the "diffuse_config" metadata
 *     entry (single file; tiny test models whose head counts cannot be read
 *     from shapes carry it).
 * Family detection (see detect_family) uses names and shapes only, with
 * criteria that hold for tiny test models as well as the released ones.
 */
#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint_names.h"
#include "io/safetensors.h"
#include "runtime/error.h"

typedef struct entry {
    char *name;           /* diffusers name (owned) */
    const char *original; /* name in the file (owned by the safetensors file) */
    const char *file;     /* path of the file holding it */
    df_weight weight;
} entry;

typedef struct unused {
    const char *original;
    const char *file;
    const char *reason;
} unused;

typedef struct table {
    int present;
    char *directory; /* diffusers layout: the component folder */
    entry *entries;
    size_t count, capacity;
    json_t *config;
} table;

struct df_checkpoint {
    char *path;
    df_layout layout;
    df_family family;
    df_safetensors **files;
    size_t file_count;
    uint64_t file_bytes;
    table components[DF_COMPONENT_COUNT];
    unused *unused;
    size_t unused_count, unused_capacity;
    char **notes;
    size_t note_count;
    int has_sdxl_marker;
    /* The few weights that cannot be views of the files (OpenCLIP's
     * transposed text_projection): copies owned here. */
    void **copies;
    size_t copy_count;
    json_t *model_index; /* diffusers layout: model_index.json, else NULL */
};

static const char *const component_names[DF_COMPONENT_COUNT] = {"text_encoder", "unet", "vae",
                                                                 "text_encoder_2"};

const char *df_component_name(df_component component)
{
    return (unsigned)component < DF_COMPONENT_COUNT ? component_names[component] : "?";
}

static const char *family_label(df_family family)
{
    switch (family) {
    case DF_FAMILY_SD1: return "SD1";
    case DF_FAMILY_SD2: return "SD2";
    case DF_FAMILY_SDXL: return "SDXL";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static char *join_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", a, b);
    return out;
}

static int is_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static int is_file(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

static int ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && !strcmp(text + n - m, suffix);
}

static df_status add_note(df_checkpoint *checkpoint, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static df_status add_note(df_checkpoint *checkpoint, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    char **grown = realloc(checkpoint->notes, (checkpoint->note_count + 1) * sizeof *grown);
    if (!grown)
        return DF_ERR_NO_MEMORY;
    checkpoint->notes = grown;
    if (!(grown[checkpoint->note_count] = strdup(text)))
        return DF_ERR_NO_MEMORY;
    checkpoint->note_count++;
    return DF_OK;
}

static df_status add_unused(df_checkpoint *checkpoint, const char *original, const char *file,
                            const char *reason, df_error *error)
{
    if (checkpoint->unused_count == checkpoint->unused_capacity) {
        size_t capacity = checkpoint->unused_capacity ? checkpoint->unused_capacity * 2 : 64;
        unused *grown = realloc(checkpoint->unused, capacity * sizeof *grown);
        if (!grown)
            return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
        checkpoint->unused = grown;
        checkpoint->unused_capacity = capacity;
    }
    checkpoint->unused[checkpoint->unused_count++] = (unused){original, file, reason};
    return DF_OK;
}

static df_status add_entry(df_checkpoint *checkpoint, df_component component, const char *name,
                           const df_st_tensor *tensor, const char *file, df_weight weight,
                           df_error *error)
{
    table *t = &checkpoint->components[component];
    if (t->count == t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 256;
        entry *grown = realloc(t->entries, capacity * sizeof *grown);
        if (!grown)
            return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
        t->entries = grown;
        t->capacity = capacity;
    }
    char *copy = strdup(name);
    if (!copy)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
    t->entries[t->count++] = (entry){copy, tensor->name, file, weight};
    t->present = 1;
    return DF_OK;
}

static df_status open_file(df_checkpoint *checkpoint, const char *path, df_safetensors **out,
                           df_error *error)
{
    df_safetensors **grown =
        realloc(checkpoint->files, (checkpoint->file_count + 1) * sizeof *grown);
    if (!grown)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
    checkpoint->files = grown;
    df_status status = df_safetensors_open(path, out, error);
    if (status != DF_OK)
        return status;
    checkpoint->files[checkpoint->file_count++] = *out;
    checkpoint->file_bytes += df_safetensors_file_size(*out);
    return DF_OK;
}

/* Makes a weight view of a file tensor, or says why it cannot be one. */
static const char *weight_of(const df_st_tensor *tensor, df_weight *weight)
{
    memset(weight, 0, sizeof *weight);
    if (!df_st_dtype_to_weight(tensor->st_dtype, &weight->dtype))
        return "dtype cannot be a weight (F32/F16/BF16 only)";
    weight->ndim = tensor->ndim;
    for (int d = 0; d < tensor->ndim; d++)
        weight->shape[d] = tensor->shape[d];
    weight->data = tensor->data;
    return NULL;
}

/* Drops trailing 1-sized dimensions of a 1x1-conv weight: [O, I, 1, 1] → [O, I]. */
static void squeeze(df_weight *weight)
{
    while (weight->ndim > 2 && weight->shape[weight->ndim - 1] == 1)
        weight->shape[--weight->ndim] = 0;
}

/* A 2-D weight stored [in, out] (OpenCLIP's x @ text_projection), added as
 * a transposed copy [out, in], the Linear weight diffusers stores. */
static df_status add_transposed(df_checkpoint *checkpoint, const df_name_map *map,
                                const df_st_tensor *tensor, const char *file, df_weight weight,
                                df_error *error)
{
    if (weight.ndim != 2)
        return df_error_set(error, DF_ERR_FORMAT, "%s: tensor '%s' should be 2-D but has %d dims",
                            file, tensor->name, weight.ndim);
    const size_t element = df_dtype_size(weight.dtype);
    const int64_t rows = weight.shape[0], cols = weight.shape[1];
    void **grown = realloc(checkpoint->copies, (checkpoint->copy_count + 1) * sizeof *grown);
    if (!grown)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
    checkpoint->copies = grown;
    unsigned char *copy = malloc((size_t)rows * (size_t)cols * element);
    if (!copy)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
    checkpoint->copies[checkpoint->copy_count++] = copy;
    const unsigned char *source = weight.data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            memcpy(copy + ((size_t)c * (size_t)rows + (size_t)r) * element,
                   source + ((size_t)r * (size_t)cols + (size_t)c) * element, element);
    weight.shape[0] = cols;
    weight.shape[1] = rows;
    weight.data = copy;
    return add_entry(checkpoint, map->component, map->name, tensor, file, weight, error);
}

/* Adds one file tensor under its mapped name(s). */
static df_status add_mapped(df_checkpoint *checkpoint, const df_st_tensor *tensor,
                            const char *file, const df_name_map *map, df_error *error)
{
    if (map->kind == DF_MAP_SKIP)
        return add_unused(checkpoint, tensor->name, file, map->reason, error);
    df_weight weight;
    const char *why = weight_of(tensor, &weight);
    if (why)
        return add_unused(checkpoint, tensor->name, file, why, error);
    if (map->squeeze)
        squeeze(&weight);
    if (map->transpose)
        return add_transposed(checkpoint, map, tensor, file, weight, error);
    if (map->kind == DF_MAP_ONE)
        return add_entry(checkpoint, map->component, map->name, tensor, file, weight, error);

    /* A fused [3H, ...] in_proj: three row blocks as q, k, v views. */
    if (weight.ndim < 1 || weight.shape[0] % 3 != 0 || weight.shape[0] == 0)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: tensor '%s' should have 3*H rows (fused q/k/v) but has %lld",
                            file, tensor->name,
                            (long long)(weight.ndim ? weight.shape[0] : 0));
    int64_t rows = weight.shape[0] / 3;
    uint64_t block = tensor->size / 3;
    static const char *const parts[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        df_weight view = weight;
        view.shape[0] = rows;
        view.data = (const unsigned char *)tensor->data + block * (uint64_t)i;
        char name[DF_NAME_MAX + 32];
        snprintf(name, sizeof name, "%s%s%s", map->name, parts[i], map->suffix);
        df_status status = add_entry(checkpoint, map->component, name, tensor, file, view, error);
        if (status != DF_OK)
            return status;
    }
    return DF_OK;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static df_status sort_tables(df_checkpoint *checkpoint, df_error *error)
{
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        table *t = &checkpoint->components[c];
        if (t->count)
            qsort(t->entries, t->count, sizeof *t->entries, compare_entries);
        for (size_t i = 1; i < t->count; i++)
            if (!strcmp(t->entries[i - 1].name, t->entries[i].name))
                return df_error_set(error, DF_ERR_FORMAT,
                                    "%s: %s: both '%s' (%s) and '%s' (%s) give tensor '%s'",
                                    checkpoint->path, component_names[c],
                                    t->entries[i - 1].original, t->entries[i - 1].file,
                                    t->entries[i].original, t->entries[i].file,
                                    t->entries[i].name);
    }
    return DF_OK;
}

static const entry *find_entry(const df_checkpoint *checkpoint, df_component component,
                               const char *name)
{
    if (!checkpoint || (unsigned)component >= DF_COMPONENT_COUNT || !name)
        return NULL;
    const table *t = &checkpoint->components[component];
    if (!t->count)
        return NULL;
    entry key = {.name = (char *)name};
    return bsearch(&key, t->entries, t->count, sizeof *t->entries, compare_entries);
}

static const df_weight *find_weight(const df_checkpoint *checkpoint, df_component component,
                                    const char *format, ...) __attribute__((format(printf, 3, 4)));
static const df_weight *find_weight(const df_checkpoint *checkpoint, df_component component,
                                    const char *format, ...)
{
    char name[DF_NAME_MAX + 32];
    va_list args;
    va_start(args, format);
    vsnprintf(name, sizeof name, format, args);
    va_end(args);
    const entry *e = find_entry(checkpoint, component, name);
    return e ? &e->weight : NULL;
}

/* ------------------------------------------------------------------------ */
/* Config: inferred from weights, then overlaid                              */

static void set_int(json_t *config, const char *key, int64_t value)
{
    json_object_set_new(config, key, json_integer((json_int_t)value));
}

static json_t *int_array(const int64_t *values, int count)
{
    json_t *array = json_array();
    for (int i = 0; array && i < count; i++)
        json_array_append_new(array, json_integer((json_int_t)values[i]));
    return array;
}

static json_t *string_array(const char *const *values, int count)
{
    json_t *array = json_array();
    for (int i = 0; array && i < count; i++)
        json_array_append_new(array, json_string(values[i]));
    return array;
}

#define MAX_BLOCKS 16

/* One of the CLIP text towers: transformers' CLIPTextConfig from the shapes.
 * The activation follows the family: OpenAI CLIP (SD 1.x, SDXL's first
 * encoder) uses quick_gelu, OpenCLIP (SD 2.x, SDXL's second) exact gelu. */
static void infer_text_encoder(const df_checkpoint *checkpoint, df_component te, json_t *config)
{
    const df_weight *w = find_weight(checkpoint, te, "text_model.embeddings.token_embedding.weight");
    json_object_set_new(config, "model_type", json_string("clip_text_model"));
    if (w && w->ndim == 2) {
        set_int(config, "vocab_size", w->shape[0]);
        set_int(config, "hidden_size", w->shape[1]);
        /* 64-wide heads in every released CLIP text encoder (ViT-L 12, ViT-H 16, bigG 20). */
        set_int(config, "num_attention_heads", w->shape[1] >= 64 ? w->shape[1] / 64 : 1);
    }
    if ((w = find_weight(checkpoint, te, "text_model.embeddings.position_embedding.weight")) &&
        w->ndim == 2)
        set_int(config, "max_position_embeddings", w->shape[0]);
    if ((w = find_weight(checkpoint, te, "text_model.encoder.layers.0.mlp.fc1.weight")) &&
        w->ndim == 2)
        set_int(config, "intermediate_size", w->shape[0]);
    if ((w = find_weight(checkpoint, te, "text_projection.weight")) && w->ndim == 2)
        set_int(config, "projection_dim", w->shape[0]);
    int layers = 0;
    while (layers < 1000 &&
           find_weight(checkpoint, te, "text_model.encoder.layers.%d.layer_norm1.weight", layers))
        layers++;
    set_int(config, "num_hidden_layers", layers);
    int openclip = te == DF_COMPONENT_TEXT_ENCODER_2 || checkpoint->family == DF_FAMILY_SD2;
    json_object_set_new(config, "hidden_act", json_string(openclip ? "gelu" : "quick_gelu"));
    json_object_set_new(config, "layer_norm_eps", json_real(1e-5));
}

static void infer_unet(const df_checkpoint *checkpoint, json_t *config)
{
    const df_component unet = DF_COMPONENT_UNET;
    const df_weight *w;
    if ((w = find_weight(checkpoint, unet, "conv_in.weight")) && w->ndim == 4)
        set_int(config, "in_channels", w->shape[1]);
    if ((w = find_weight(checkpoint, unet, "conv_out.weight")) && w->ndim == 4)
        set_int(config, "out_channels", w->shape[0]);
    int64_t channels[MAX_BLOCKS], heads[MAX_BLOCKS], depths[MAX_BLOCKS];
    const char *down_types[MAX_BLOCKS], *up_types[MAX_BLOCKS];
    int levels = 0, linear = -1, depth = -1, uniform_depth = 1;
    int64_t cross = -1;
    for (; levels < MAX_BLOCKS; levels++) {
        w = find_weight(checkpoint, unet, "down_blocks.%d.resnets.0.conv1.weight", levels);
        if (!w || w->ndim < 1)
            break;
        channels[levels] = w->shape[0];
        heads[levels] = channels[levels] >= 64 ? channels[levels] / 64 : 1;
        const df_weight *proj =
            find_weight(checkpoint, unet, "down_blocks.%d.attentions.0.proj_in.weight", levels);
        down_types[levels] = proj ? "CrossAttnDownBlock2D" : "DownBlock2D";
        if (proj && linear < 0)
            linear = proj->ndim == 2;
        const df_weight *k = find_weight(
            checkpoint, unet, "down_blocks.%d.attentions.0.transformer_blocks.0.attn2.to_k.weight",
            levels);
        if (k && k->ndim == 2 && cross < 0)
            cross = k->shape[1];
        /* Transformer depth per level (SDXL: 1, 2, 10; levels without
         * attention count as 1, what diffusers' configs say for them). */
        depths[levels] = 1;
        if (proj) {
            int d = 0;
            while (d < 100 &&
                   find_weight(checkpoint, unet,
                               "down_blocks.%d.attentions.0.transformer_blocks.%d.norm1.weight",
                               levels, d))
                d++;
            depths[levels] = d;
            if (depth < 0)
                depth = d;
            else if (d != depth)
                uniform_depth = 0;
        }
    }
    int ups = 0;
    for (; ups < MAX_BLOCKS; ups++) {
        if (!find_weight(checkpoint, unet, "up_blocks.%d.resnets.0.conv1.weight", ups))
            break;
        up_types[ups] = find_weight(checkpoint, unet, "up_blocks.%d.attentions.0.proj_in.weight", ups)
                            ? "CrossAttnUpBlock2D"
                            : "UpBlock2D";
    }
    if (levels) {
        json_object_set_new(config, "block_out_channels", int_array(channels, levels));
        json_object_set_new(config, "down_block_types", string_array(down_types, levels));
    }
    if (ups)
        json_object_set_new(config, "up_block_types", string_array(up_types, ups));
    int layers = 0;
    while (layers < 100 && find_weight(checkpoint, unet, "down_blocks.0.resnets.%d.conv1.weight", layers))
        layers++;
    if (layers)
        set_int(config, "layers_per_block", layers);
    if (cross > 0)
        set_int(config, "cross_attention_dim", cross);
    if (depth > 0 && uniform_depth)
        set_int(config, "transformer_layers_per_block", depth);
    else if (depth > 0)
        json_object_set_new(config, "transformer_layers_per_block", int_array(depths, levels));
    json_object_set_new(config, "use_linear_projection", json_boolean(linear == 1));
    /* diffusers' "attention_head_dim" is the head count for SD1 (8 everywhere)
     * and the per-level head count channels/64 for SD2 ([5, 10, 20, 20]). */
    if (linear == 1 && levels)
        json_object_set_new(config, "attention_head_dim", int_array(heads, levels));
    else
        set_int(config, "attention_head_dim", 8);
    set_int(config, "norm_num_groups", 32);
    set_int(config, "sample_size", 64);
    /* SDXL's added embedding: the pooled text embedding and the size
     * conditioning, each size value embedded in addition_time_embed_dim
     * (256 in the base and the refiner; the weights cannot say it, as
     * diffusers' single-file loader does not either). */
    if ((w = find_weight(checkpoint, unet, "add_embedding.linear_1.weight")) && w->ndim == 2) {
        json_object_set_new(config, "addition_embed_type", json_string("text_time"));
        set_int(config, "addition_time_embed_dim", 256);
        set_int(config, "projection_class_embeddings_input_dim", w->shape[1]);
        set_int(config, "sample_size", 128);
    }
}

static void infer_vae(const df_checkpoint *checkpoint, json_t *config)
{
    const df_component vae = DF_COMPONENT_VAE;
    const df_weight *w;
    if ((w = find_weight(checkpoint, vae, "encoder.conv_in.weight")) && w->ndim == 4)
        set_int(config, "in_channels", w->shape[1]);
    if ((w = find_weight(checkpoint, vae, "decoder.conv_out.weight")) && w->ndim == 4)
        set_int(config, "out_channels", w->shape[0]);
    if ((w = find_weight(checkpoint, vae, "decoder.conv_in.weight")) && w->ndim == 4)
        set_int(config, "latent_channels", w->shape[1]);
    int64_t channels[MAX_BLOCKS];
    const char *down_types[MAX_BLOCKS], *up_types[MAX_BLOCKS];
    int levels = 0;
    for (; levels < MAX_BLOCKS; levels++) {
        w = find_weight(checkpoint, vae, "encoder.down_blocks.%d.resnets.0.conv1.weight", levels);
        if (!w || w->ndim < 1)
            break;
        channels[levels] = w->shape[0];
        down_types[levels] = "DownEncoderBlock2D";
        up_types[levels] = "UpDecoderBlock2D";
    }
    if (levels) {
        json_object_set_new(config, "block_out_channels", int_array(channels, levels));
        json_object_set_new(config, "down_block_types", string_array(down_types, levels));
        json_object_set_new(config, "up_block_types", string_array(up_types, levels));
    }
    int layers = 0;
    while (layers < 100 &&
           find_weight(checkpoint, vae, "encoder.down_blocks.0.resnets.%d.conv1.weight", layers))
        layers++;
    if (layers)
        set_int(config, "layers_per_block", layers);
    set_int(config, "norm_num_groups", 32);
    /* SDXL's VAE has SD's shapes but its own latent scale (and diffusers
     * upcasts it: in f16 it overflows; diffuse computes in f32 anyway). */
    int sdxl = checkpoint->family == DF_FAMILY_SDXL;
    json_object_set_new(config, "scaling_factor", json_real(sdxl ? 0.13025 : 0.18215));
    if (sdxl)
        json_object_set_new(config, "force_upcast", json_true());
    set_int(config, "sample_size", sdxl ? 1024 : 512);
}

/* Overlays `overlay` (an object) on the inferred config, key by key. */
static void overlay_config(table *t, json_t *overlay)
{
    if (json_is_object(overlay))
        json_object_update(t->config, overlay);
}

static df_status build_configs(df_checkpoint *checkpoint, json_t *overlays[DF_COMPONENT_COUNT],
                               df_error *error)
{
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        table *t = &checkpoint->components[c];
        if (!(t->config = json_object()))
            return df_error_set(error, DF_ERR_NO_MEMORY, "%s: out of memory", checkpoint->path);
        if (!t->present)
            continue;
        if (c == DF_COMPONENT_TEXT_ENCODER || c == DF_COMPONENT_TEXT_ENCODER_2)
            infer_text_encoder(checkpoint, (df_component)c, t->config);
        else if (c == DF_COMPONENT_UNET)
            infer_unet(checkpoint, t->config);
        else
            infer_vae(checkpoint, t->config);
        overlay_config(t, overlays[c]);
    }
    /* A config naming more text encoder layers than there are weights for is
     * what an SD2 file with a 24-layer config would look like: say so early. */
    table *te = &checkpoint->components[DF_COMPONENT_TEXT_ENCODER];
    if (te->present) {
        json_int_t layers = 0;
        while (layers < 1000 &&
               find_weight(checkpoint, DF_COMPONENT_TEXT_ENCODER,
                           "text_model.encoder.layers.%lld.layer_norm1.weight", (long long)layers))
            layers++;
        json_t *configured = json_object_get(te->config, "num_hidden_layers");
        if (json_is_integer(configured) && json_integer_value(configured) != layers)
            add_note(checkpoint, "text_encoder: config says %lld layers, weights have %lld",
                     (long long)json_integer_value(configured), (long long)layers);
    }
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Family detection                                                          */

/* SD1 vs SD2 from the UNet: SD2's transformer blocks project in with a
 * Linear (2-D weight, use_linear_projection), SD1's with a 1x1 conv (4-D). */
static df_family unet_family(const df_checkpoint *checkpoint)
{
    const table *t = &checkpoint->components[DF_COMPONENT_UNET];
    for (size_t i = 0; i < t->count; i++)
        if (ends_with(t->entries[i].name, ".proj_in.weight"))
            return t->entries[i].weight.ndim == 2 ? DF_FAMILY_SD2 : DF_FAMILY_SD1;
    return DF_FAMILY_UNKNOWN;
}

static df_status detect_family(df_checkpoint *checkpoint, df_family text_family,
                               const char *text_reason)
{
    if (checkpoint->has_sdxl_marker ||
        find_entry(checkpoint, DF_COMPONENT_UNET, "add_embedding.linear_1.weight")) {
        checkpoint->family = DF_FAMILY_SDXL;
        return DF_OK;
    }
    df_family from_unet = unet_family(checkpoint);
    if (text_family && from_unet && text_family != from_unet) {
        checkpoint->family = DF_FAMILY_UNKNOWN;
        return add_note(checkpoint,
                        "family unknown: the text encoder looks like %s (%s) but the UNet like %s "
                        "(%s proj_in)",
                        family_label(text_family), text_reason, family_label(from_unet),
                        from_unet == DF_FAMILY_SD2 ? "linear" : "1x1 conv");
    }
    checkpoint->family = text_family ? text_family : from_unet;
    if (!checkpoint->family)
        return add_note(checkpoint, "family unknown: no text encoder or UNet transformer tensor "
                                    "tells SD1 from SD2");
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Single-file layout                                                        */

static df_status open_single_file(df_checkpoint *checkpoint, df_error *error)
{
    df_safetensors *file = NULL;
    df_status status = open_file(checkpoint, checkpoint->path, &file, error);
    if (status != DF_OK)
        return status;
    size_t count = df_safetensors_count(file);
    df_ldm_layout layout = {.first_downsample = -1};
    for (size_t i = 0; i < count; i++)
        df_ldm_scan(&layout, df_safetensors_at(file, i)->name);
    df_ldm_finish(&layout);
    checkpoint->has_sdxl_marker = layout.has_sdxl;
    for (size_t i = 0; i < count && status == DF_OK; i++) {
        const df_st_tensor *tensor = df_safetensors_at(file, i);
        df_name_map map;
        df_ldm_map(&layout, tensor->name, &map);
        status = add_mapped(checkpoint, tensor, checkpoint->path, &map, error);
    }
    if (status != DF_OK || (status = sort_tables(checkpoint, error)) != DF_OK)
        return status;

    int any = 0;
    for (int c = 0; c < DF_COMPONENT_COUNT; c++)
        any |= checkpoint->components[c].present;
    if (!any) {
        const df_st_tensor *first = df_safetensors_at(file, 0);
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: not a Stable Diffusion checkpoint: none of its %zu tensors "
                            "(first: '%s') is a text encoder, UNet or VAE weight under "
                            "cond_stage_model./model.diffusion_model./first_stage_model.",
                            checkpoint->path, count, first ? first->name : "none");
    }
    for (int c = 0; c < DF_COMPONENT_COUNT; c++)
        if (!checkpoint->components[c].present &&
            (c != DF_COMPONENT_TEXT_ENCODER_2 || layout.has_sdxl))
            add_note(checkpoint, "no %s tensors in the file", component_names[c]);

    df_family text_family = DF_FAMILY_UNKNOWN;
    const char *text_reason = "";
    if (layout.has_openclip) {
        text_family = DF_FAMILY_SD2;
        text_reason = "OpenCLIP cond_stage_model.model.*";
        if (layout.openclip_layers > 0)
            add_note(checkpoint,
                     "text_encoder: OpenCLIP layer %d of %d dropped, as diffusers does (SD2 "
                     "uses the penultimate layer)",
                     layout.openclip_layers - 1, layout.openclip_layers);
    } else if (layout.has_clip) {
        text_family = DF_FAMILY_SD1;
        text_reason = "CLIP cond_stage_model.transformer.*";
    }
    if ((status = detect_family(checkpoint, text_family, text_reason)) != DF_OK)
        return df_error_set(error, status, "%s: out of memory", checkpoint->path);

    json_t *overlays[DF_COMPONENT_COUNT] = {NULL, NULL, NULL};
    json_t *metadata = NULL;
    const char *text = df_safetensors_metadata(file, "diffuse_config");
    if (text) {
        json_error_t json_error;
        metadata = json_loads(text, JSON_REJECT_DUPLICATES, &json_error);
        if (!json_is_object(metadata)) {
            json_decref(metadata);
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: metadata 'diffuse_config' is not a JSON object (%s)",
                                checkpoint->path, metadata ? "wrong type" : json_error.text);
        }
        for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
            json_t *value = json_object_get(metadata, component_names[c]);
            if (value && !json_is_object(value)) {
                json_decref(metadata);
                return df_error_set(error, DF_ERR_FORMAT,
                                    "%s: metadata 'diffuse_config' entry '%s' is not an object",
                                    checkpoint->path, component_names[c]);
            }
            overlays[c] = value;
        }
    }
    status = build_configs(checkpoint, overlays, error);
    json_decref(metadata);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Diffusers layout                                                          */

static json_t *load_json(const char *path, df_error *error, df_status *status)
{
    json_error_t json_error;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &json_error);
    if (!root) {
        *status = df_error_set(error, DF_ERR_FORMAT, "%s: not valid JSON: %s (line %d)", path,
                               json_error.text, json_error.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *status = df_error_set(error, DF_ERR_FORMAT, "%s: not a JSON object", path);
        return NULL;
    }
    *status = DF_OK;
    return root;
}

/* Adds every tensor of one safetensors file to `component`. */
static df_status add_diffusers_file(df_checkpoint *checkpoint, df_component component,
                                    const char *path, df_error *error)
{
    df_safetensors *file = NULL;
    df_status status = open_file(checkpoint, path, &file, error);
    for (size_t i = 0; status == DF_OK && i < df_safetensors_count(file); i++) {
        const df_st_tensor *tensor = df_safetensors_at(file, i);
        df_name_map map;
        df_diffusers_map(component, tensor->name, &map);
        status = add_mapped(checkpoint, tensor, df_safetensors_path(file), &map, error);
    }
    return status;
}

/* A sharded component: NAME.safetensors.index.json's weight_map values are
 * the shard files. Each shard is opened once. */
static df_status add_sharded(df_checkpoint *checkpoint, df_component component,
                             const char *directory, const char *index_path, df_error *error)
{
    df_status status;
    json_t *index = load_json(index_path, error, &status);
    if (!index)
        return status;
    json_t *map = json_object_get(index, "weight_map");
    if (!json_is_object(map)) {
        json_decref(index);
        return df_error_set(error, DF_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    json_t *seen = json_object();
    const char *key;
    json_t *value;
    status = seen ? DF_OK : DF_ERR_NO_MEMORY;
    json_object_foreach(map, key, value)
    {
        if (status != DF_OK)
            break;
        const char *shard = json_string_value(value);
        if (!shard || !*shard || strchr(shard, '/') || !strcmp(shard, "..") ||
            !ends_with(shard, ".safetensors")) {
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "%s: tensor '%s' names an invalid shard file", index_path, key);
            break;
        }
        if (json_object_get(seen, shard))
            continue;
        json_object_set_new(seen, shard, json_true());
        char *path = join_path(directory, shard);
        status = path ? add_diffusers_file(checkpoint, component, path, error)
                      : df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        free(path);
    }
    json_decref(seen);
    json_decref(index);
    return status;
}

/* Finds a component's weights: the canonical name, its fp16 variant, sharded
 * forms of both, or else a single other *.safetensors in the folder. */
static df_status open_component(df_checkpoint *checkpoint, df_component component,
                                const char *directory, df_error *error)
{
    static const char *const bases[] = {"model", "diffusion_pytorch_model"};
    static const char *const variants[] = {"", ".fp16"};
    char name[128];
    for (size_t v = 0; v < 2; v++)
        for (size_t b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "%s%s.safetensors", bases[b], variants[v]);
            char *path = join_path(directory, name);
            if (!path)
                return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
            if (is_file(path)) {
                df_status status = add_diffusers_file(checkpoint, component, path, error);
                free(path);
                return status;
            }
            free(path);
            snprintf(name, sizeof name, "%s%s.safetensors.index.json", bases[b], variants[v]);
            if (!(path = join_path(directory, name)))
                return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
            if (is_file(path)) {
                df_status status = add_sharded(checkpoint, component, directory, path, error);
                free(path);
                return status;
            }
            free(path);
        }
    /* No canonical name: one other .safetensors, or a pickle we refuse. */
    DIR *dir = opendir(directory);
    if (!dir)
        return df_error_set(error, DF_ERR_IO, "%s: cannot list: %s", directory, strerror(errno));
    char found[256] = "", pickle[256] = "";
    int safetensors = 0;
    struct dirent *item;
    while ((item = readdir(dir))) {
        if (ends_with(item->d_name, ".safetensors")) {
            safetensors++;
            snprintf(found, sizeof found, "%s", item->d_name);
        } else if (ends_with(item->d_name, ".bin") || ends_with(item->d_name, ".ckpt") ||
                   ends_with(item->d_name, ".pt") || ends_with(item->d_name, ".pth")) {
            snprintf(pickle, sizeof pickle, "%s", item->d_name);
        }
    }
    closedir(dir);
    if (safetensors == 1) {
        char *path = join_path(directory, found);
        if (!path)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        df_status status = add_diffusers_file(checkpoint, component, path, error);
        free(path);
        return status;
    }
    if (safetensors > 1)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: %d .safetensors files and none named model.safetensors or "
                            "diffusion_pytorch_model.safetensors: cannot tell which to use",
                            directory, safetensors);
    if (*pickle)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s/%s: pickle weights are not supported (loading them can run "
                            "code); convert the model to .safetensors",
                            directory, pickle);
    return df_error_set(error, DF_ERR_FORMAT, "%s: no .safetensors weights in the %s folder",
                        directory, component_names[component]);
}

static df_status open_diffusers(df_checkpoint *checkpoint, df_error *error)
{
    const char *root = checkpoint->path;
    json_t *configs[DF_COMPONENT_COUNT] = {NULL, NULL, NULL};
    df_status status = DF_OK;
    int any = 0;

    char *index_path = join_path(root, "model_index.json");
    if (!index_path)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    int has_index = is_file(index_path);
    if (has_index) {
        json_t *index = load_json(index_path, error, &status);
        if (!index) {
            free(index_path);
            return status;
        }
        json_t *name = json_object_get(index, "_class_name");
        if (json_is_string(name) && strstr(json_string_value(name), "XL"))
            checkpoint->has_sdxl_marker = 1;
        if (json_object_get(index, "text_encoder_2"))
            checkpoint->has_sdxl_marker = 1;
        checkpoint->model_index = index;
    } else {
        add_note(checkpoint, "no model_index.json");
    }
    free(index_path);
    char *second = join_path(root, "text_encoder_2");
    if (second && is_directory(second))
        checkpoint->has_sdxl_marker = 1;
    free(second);

    for (int c = 0; c < DF_COMPONENT_COUNT && status == DF_OK; c++) {
        table *t = &checkpoint->components[c];
        if (!(t->directory = join_path(root, component_names[c])))
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        else if (!is_directory(t->directory)) {
            if (c != DF_COMPONENT_TEXT_ENCODER_2 || checkpoint->has_sdxl_marker)
                add_note(checkpoint, "no %s/ folder", component_names[c]);
        }
        else if ((status = open_component(checkpoint, (df_component)c, t->directory, error)) ==
                 DF_OK) {
            any = 1;
            if (!t->present)
                add_note(checkpoint, "%s/ has no usable weights", component_names[c]);
            char *config_path = join_path(t->directory, "config.json");
            if (config_path && is_file(config_path))
                configs[c] = load_json(config_path, error, &status);
            else if (config_path)
                add_note(checkpoint, "%s/config.json missing: values inferred from weights",
                         component_names[c]);
            free(config_path);
        }
    }
    if (status == DF_OK && !any)
        status = df_error_set(error, DF_ERR_FORMAT,
                              "%s: not a diffusers model folder: no text_encoder/, unet/ or vae/ "
                              "folder with weights%s",
                              root, has_index ? "" : " and no model_index.json");
    if (status == DF_OK)
        status = sort_tables(checkpoint, error);
    if (status == DF_OK) {
        /* Text encoder family from its activation: quick_gelu is OpenAI CLIP
         * (SD1), gelu OpenCLIP (SD2). */
        df_family text_family = DF_FAMILY_UNKNOWN;
        const char *reason = "";
        json_t *act = configs[DF_COMPONENT_TEXT_ENCODER]
                          ? json_object_get(configs[DF_COMPONENT_TEXT_ENCODER], "hidden_act")
                          : NULL;
        if (json_is_string(act) && !strcmp(json_string_value(act), "quick_gelu")) {
            text_family = DF_FAMILY_SD1;
            reason = "quick_gelu";
        } else if (json_is_string(act) && !strcmp(json_string_value(act), "gelu")) {
            text_family = DF_FAMILY_SD2;
            reason = "gelu";
        }
        if (detect_family(checkpoint, text_family, reason) != DF_OK)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    if (status == DF_OK)
        status = build_configs(checkpoint, configs, error);
    for (int c = 0; c < DF_COMPONENT_COUNT; c++)
        json_decref(configs[c]);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

/* Pickle checkpoints (.ckpt, .bin, .pt: a zip of pickles or a bare pickle)
 * are refused by extension and by content; unpickling can run code. */
static int looks_like_pickle(const char *path)
{
    if (ends_with(path, ".ckpt") || ends_with(path, ".bin") || ends_with(path, ".pt") ||
        ends_with(path, ".pth"))
        return 1;
    unsigned char head[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n >= 4 && !memcmp(head, "PK\x03\x04", 4))
        return 1;
    return n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
}

df_status df_checkpoint_open(const char *path, df_checkpoint **out, df_error *error)
{
    if (!path || !out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_checkpoint_open: NULL argument");
    *out = NULL;
    struct stat info;
    if (stat(path, &info) != 0)
        return df_error_set(error, DF_ERR_IO, "%s: %s", path, strerror(errno));
    df_checkpoint *checkpoint = calloc(1, sizeof *checkpoint);
    if (!checkpoint || !(checkpoint->path = strdup(path))) {
        free(checkpoint);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    df_status status;
    if (!S_ISDIR(info.st_mode) && !S_ISREG(info.st_mode)) {
        /* a FIFO or device would block or stream forever */
        status = df_error_set(error, DF_ERR_IO, "%s: neither a folder nor a regular file", path);
    } else if (S_ISDIR(info.st_mode)) {
        checkpoint->layout = DF_LAYOUT_DIFFUSERS;
        status = open_diffusers(checkpoint, error);
    } else if (looks_like_pickle(path)) {
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: pickle checkpoints (.ckpt/.bin/.pt) are not supported, since "
                              "loading them can run arbitrary code; convert it to .safetensors",
                              path);
    } else {
        checkpoint->layout = DF_LAYOUT_SINGLE_FILE;
        status = open_single_file(checkpoint, error);
    }
    if (status != DF_OK) {
        df_checkpoint_free(checkpoint);
        return status;
    }
    *out = checkpoint;
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* A standalone VAE (--vae)                                                  */

/* Which naming a standalone VAE file uses: the full checkpoint's
 * (first_stage_model.*), LDM's without that prefix (encoder.down.N.*,
 * decoder.up.N.*, decoder.mid.attn_1.*), or diffusers'. */
typedef enum vae_naming { VAE_NAMES_DIFFUSERS, VAE_NAMES_LDM, VAE_NAMES_LDM_PREFIXED } vae_naming;

static vae_naming vae_file_naming(const df_safetensors *file)
{
    vae_naming naming = VAE_NAMES_DIFFUSERS;
    for (size_t i = 0; i < df_safetensors_count(file); i++) {
        const char *name = df_safetensors_at(file, i)->name;
        if (!strncmp(name, "first_stage_model.", 18))
            return VAE_NAMES_LDM_PREFIXED;
        if (!strncmp(name, "encoder.down.", 13) || !strncmp(name, "decoder.up.", 11) ||
            !strncmp(name, "encoder.mid.", 12) || !strncmp(name, "decoder.mid.", 12))
            naming = VAE_NAMES_LDM;
    }
    return naming;
}

static df_status open_vae_file(df_checkpoint *checkpoint, df_error *error)
{
    df_safetensors *file = NULL;
    df_status status = open_file(checkpoint, checkpoint->path, &file, error);
    if (status != DF_OK)
        return status;
    const size_t count = df_safetensors_count(file);
    const vae_naming naming = vae_file_naming(file);
    char prefixed[DF_NAME_MAX + 32];
    df_ldm_layout layout = {.first_downsample = -1};
    /* LDM names without the prefix are given it, so the checkpoint's mapping
     * (which needs the decoder's level count from a first pass) applies. */
#define LDM_NAME(name)                                                                     \
    (naming == VAE_NAMES_LDM                                                               \
         ? (snprintf(prefixed, sizeof prefixed, "first_stage_model.%s", name), prefixed) \
         : name)
    if (naming != VAE_NAMES_DIFFUSERS) {
        for (size_t i = 0; i < count; i++)
            df_ldm_scan(&layout, LDM_NAME(df_safetensors_at(file, i)->name));
        df_ldm_finish(&layout);
    }
    for (size_t i = 0; i < count && status == DF_OK; i++) {
        const df_st_tensor *tensor = df_safetensors_at(file, i);
        df_name_map map;
        if (naming == VAE_NAMES_DIFFUSERS)
            df_diffusers_map(DF_COMPONENT_VAE, tensor->name, &map);
        else
            df_ldm_map(&layout, LDM_NAME(tensor->name), &map);
        if (map.kind != DF_MAP_SKIP && map.component != DF_COMPONENT_VAE)
            status = add_unused(checkpoint, tensor->name, checkpoint->path,
                                "not part of the VAE", error);
        else
            status = add_mapped(checkpoint, tensor, checkpoint->path, &map, error);
    }
#undef LDM_NAME
    if (status == DF_OK)
        status = sort_tables(checkpoint, error);
    if (status != DF_OK)
        return status;
    json_t *overlays[DF_COMPONENT_COUNT] = {NULL, NULL, NULL};
    json_t *metadata = NULL;
    const char *text = df_safetensors_metadata(file, "diffuse_config");
    if (text) {
        metadata = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        json_t *value = json_object_get(metadata, "vae");
        overlays[DF_COMPONENT_VAE] = json_is_object(value) ? value : NULL;
    }
    status = build_configs(checkpoint, overlays, error);
    json_decref(metadata);
    return status;
}

/* A diffusers VAE folder (config.json + weights), or a model folder with vae/. */
static df_status open_vae_folder(df_checkpoint *checkpoint, df_error *error)
{
    table *t = &checkpoint->components[DF_COMPONENT_VAE];
    char *sub = join_path(checkpoint->path, "vae");
    if (!sub)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (is_directory(sub)) {
        t->directory = sub;
    } else {
        free(sub);
        if (!(t->directory = strdup(checkpoint->path)))
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    df_status status = open_component(checkpoint, DF_COMPONENT_VAE, t->directory, error);
    json_t *overlays[DF_COMPONENT_COUNT] = {NULL, NULL, NULL};
    if (status == DF_OK)
        status = sort_tables(checkpoint, error);
    if (status == DF_OK) {
        char *config_path = join_path(t->directory, "config.json");
        if (config_path && is_file(config_path))
            overlays[DF_COMPONENT_VAE] = load_json(config_path, error, &status);
        else if (config_path)
            add_note(checkpoint, "vae/config.json missing: values inferred from weights");
        free(config_path);
    }
    if (status == DF_OK)
        status = build_configs(checkpoint, overlays, error);
    json_decref(overlays[DF_COMPONENT_VAE]);
    return status;
}

/* Diffusers names map every tensor to the VAE: a file is only a VAE when
 * some of them are an encoder's or decoder's. */
static int vae_has_coder(const df_checkpoint *checkpoint)
{
    const table *t = &checkpoint->components[DF_COMPONENT_VAE];
    for (size_t i = 0; i < t->count; i++)
        if (!strncmp(t->entries[i].name, "encoder.", 8) ||
            !strncmp(t->entries[i].name, "decoder.", 8))
            return 1;
    return 0;
}

df_status df_checkpoint_open_vae(const char *path, df_checkpoint **out, df_error *error)
{
    if (!path || !out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "df_checkpoint_open_vae: NULL argument");
    *out = NULL;
    struct stat info;
    if (stat(path, &info) != 0)
        return df_error_set(error, DF_ERR_IO, "%s: %s", path, strerror(errno));
    df_checkpoint *checkpoint = calloc(1, sizeof *checkpoint);
    if (!checkpoint || !(checkpoint->path = strdup(path))) {
        free(checkpoint);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    }
    df_status status;
    if (S_ISDIR(info.st_mode)) {
        checkpoint->layout = DF_LAYOUT_DIFFUSERS;
        status = open_vae_folder(checkpoint, error);
    } else if (!S_ISREG(info.st_mode)) {
        status = df_error_set(error, DF_ERR_IO, "%s: neither a folder nor a regular file", path);
    } else if (looks_like_pickle(path)) {
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: pickle VAE files (.ckpt/.bin/.pt) are not supported, since "
                              "loading them can run arbitrary code; convert it to .safetensors",
                              path);
    } else {
        checkpoint->layout = DF_LAYOUT_SINGLE_FILE;
        status = open_vae_file(checkpoint, error);
    }
    if (status == DF_OK && !vae_has_coder(checkpoint))
        status = df_error_set(error, DF_ERR_UNSUPPORTED,
                              "%s: not a VAE: no tensor is a VAE weight under diffusers names "
                              "(encoder.down_blocks.*, decoder.up_blocks.*) or LDM names "
                              "(encoder.down.*, decoder.up.*, optionally first_stage_model.)",
                              path);
    if (status != DF_OK) {
        df_checkpoint_free(checkpoint);
        return status;
    }
    *out = checkpoint;
    return DF_OK;
}

void df_checkpoint_free(df_checkpoint *checkpoint)
{
    if (!checkpoint)
        return;
    for (int c = 0; c < DF_COMPONENT_COUNT; c++) {
        table *t = &checkpoint->components[c];
        for (size_t i = 0; i < t->count; i++)
            free(t->entries[i].name);
        free(t->entries);
        free(t->directory);
        json_decref(t->config);
    }
    for (size_t i = 0; i < checkpoint->file_count; i++)
        df_safetensors_close(checkpoint->files[i]);
    free(checkpoint->files);
    free(checkpoint->unused);
    for (size_t i = 0; i < checkpoint->note_count; i++)
        free(checkpoint->notes[i]);
    free(checkpoint->notes);
    for (size_t i = 0; i < checkpoint->copy_count; i++)
        free(checkpoint->copies[i]);
    json_decref(checkpoint->model_index);
    free(checkpoint->copies);
    free(checkpoint->path);
    free(checkpoint);
}

df_status df_checkpoint_patch(df_checkpoint *checkpoint, df_component component, const char *name,
                              const df_weight *value, df_weight *previous, df_error *error)
{
    entry *e = (entry *)find_entry(checkpoint, component, name);
    if (!e)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "%s: %s has no tensor '%s'",
                            checkpoint ? checkpoint->path : "?", df_component_name(component),
                            name);
    if (value->ndim != e->weight.ndim ||
        memcmp(value->shape, e->weight.shape, sizeof value->shape))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: %s tensor '%s': a patch of another shape", checkpoint->path,
                            df_component_name(component), name);
    if (previous)
        *previous = e->weight;
    e->weight = *value;
    return DF_OK;
}

void df_checkpoint_release_pages(const df_checkpoint *checkpoint, df_component component)
{
    if (!checkpoint || (unsigned)component >= DF_COMPONENT_COUNT)
        return;
    const table *t = &checkpoint->components[component];
    for (size_t f = 0; f < checkpoint->file_count; f++) {
        /* The span of this component's weights in this file: one call per
         * file (a component's tensors sit together in every layout we have
         * seen; if not, the pages between are re-read too, never lost). */
        const df_safetensors *file = checkpoint->files[f];
        const unsigned char *low = NULL, *high = NULL;
        for (size_t i = 0; i < t->count; i++) {
            const entry *e = &t->entries[i];
            /* copies and patches (LoRA) live on the heap: never advised */
            if (strcmp(e->file, df_safetensors_path(file)) ||
                !df_safetensors_maps(file, e->weight.data))
                continue;
            const unsigned char *data = e->weight.data;
            const unsigned char *end =
                data + (size_t)df_weight_numel(&e->weight) * df_dtype_size(e->weight.dtype);
            low = !low || data < low ? data : low;
            high = !high || end > high ? end : high;
        }
        df_safetensors_release_pages(file, low, high);
    }
}

int df_checkpoint_pipeline_flag(const df_checkpoint *checkpoint, const char *key, int fallback)
{
    json_t *value = checkpoint ? json_object_get(checkpoint->model_index, key) : NULL;
    return json_is_boolean(value) ? json_is_true(value) : fallback;
}

df_family df_checkpoint_family(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->family : DF_FAMILY_UNKNOWN;
}

df_layout df_checkpoint_layout(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->layout : DF_LAYOUT_DIFFUSERS;
}

const char *df_checkpoint_path(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->path : NULL;
}

int df_checkpoint_has(const df_checkpoint *checkpoint, df_component component)
{
    return checkpoint && (unsigned)component < DF_COMPONENT_COUNT &&
           checkpoint->components[component].present;
}

const df_weight *df_checkpoint_weight(const df_checkpoint *checkpoint, df_component component,
                                      const char *name)
{
    const entry *e = find_entry(checkpoint, component, name);
    return e ? &e->weight : NULL;
}

static void format_shape(char *out, size_t size, int ndim, const int64_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(out, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += shape[d] < 0 ? (size_t)snprintf(out + used, size - used, d ? ", *" : "*")
                             : (size_t)snprintf(out + used, size - used, d ? ", %lld" : "%lld",
                                                (long long)shape[d]);
    if (used < size)
        snprintf(out + used, size - used, "]");
}

df_status df_checkpoint_require(const df_checkpoint *checkpoint, df_component component,
                                const char *name, int ndim, const int64_t *shape,
                                const df_weight **out, df_error *error)
{
    if (out)
        *out = NULL;
    if (!checkpoint || !name || (unsigned)component >= DF_COMPONENT_COUNT || ndim < 0 ||
        ndim > DF_MAX_DIMS || (ndim > 0 && !shape))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "df_checkpoint_require: invalid argument");
    const char *label = component_names[component];
    if (!checkpoint->components[component].present)
        return df_error_set(error, DF_ERR_FORMAT, "%s: has no %s component (needed for '%s')",
                            checkpoint->path, label, name);
    const entry *e = find_entry(checkpoint, component, name);
    if (!e) {
        /* The diffusers folder may hold it under a dtype we cannot use. */
        for (size_t i = 0; i < checkpoint->unused_count; i++)
            if (checkpoint->layout == DF_LAYOUT_DIFFUSERS &&
                !strcmp(checkpoint->unused[i].original, name))
                return df_error_set(error, DF_ERR_UNSUPPORTED, "%s: %s: tensor '%s' in %s: %s",
                                    checkpoint->path, label, name, checkpoint->unused[i].file,
                                    checkpoint->unused[i].reason);
        return df_error_set(error, DF_ERR_FORMAT, "%s: %s: missing tensor '%s'%s",
                            checkpoint->path, label, name,
                            checkpoint->layout == DF_LAYOUT_SINGLE_FILE
                                ? " (no tensor of the single file maps to it)"
                                : "");
    }
    int match = e->weight.ndim == ndim;
    for (int d = 0; match && d < ndim; d++)
        match = shape[d] < 0 || shape[d] == e->weight.shape[d];
    if (!match) {
        char expected[128], actual[128], original[DF_NAME_MAX + 64] = "";
        format_shape(expected, sizeof expected, ndim, shape);
        format_shape(actual, sizeof actual, e->weight.ndim, e->weight.shape);
        if (strcmp(e->original, e->name))
            snprintf(original, sizeof original, " (original name '%s')", e->original);
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: %s: tensor '%s'%s in %s has shape %s, expected %s",
                            checkpoint->path, label, name, original, e->file, actual, expected);
    }
    if (out)
        *out = &e->weight;
    return DF_OK;
}

size_t df_checkpoint_count(const df_checkpoint *checkpoint, df_component component)
{
    return checkpoint && (unsigned)component < DF_COMPONENT_COUNT
               ? checkpoint->components[component].count
               : 0;
}

const df_weight *df_checkpoint_at(const df_checkpoint *checkpoint, df_component component,
                                  size_t index, const char **name)
{
    if (!checkpoint || (unsigned)component >= DF_COMPONENT_COUNT ||
        index >= checkpoint->components[component].count)
        return NULL;
    const entry *e = &checkpoint->components[component].entries[index];
    if (name)
        *name = e->name;
    return &e->weight;
}

const char *df_checkpoint_original_name(const df_checkpoint *checkpoint, df_component component,
                                        const char *name)
{
    const entry *e = find_entry(checkpoint, component, name);
    return e ? e->original : NULL;
}

static json_t *config_value(const df_checkpoint *checkpoint, df_component component,
                            const char *key)
{
    if (!checkpoint || (unsigned)component >= DF_COMPONENT_COUNT || !key)
        return NULL;
    return json_object_get(checkpoint->components[component].config, key);
}

int64_t df_checkpoint_config_int(const df_checkpoint *checkpoint, df_component component,
                                 const char *key, int64_t fallback)
{
    json_t *value = config_value(checkpoint, component, key);
    if (json_is_integer(value))
        return (int64_t)json_integer_value(value);
    if (json_is_boolean(value))
        return json_is_true(value);
    if (json_is_real(value)) {
        double real = json_real_value(value);
        if (real == (double)(int64_t)real)
            return (int64_t)real;
    }
    return fallback;
}

double df_checkpoint_config_float(const df_checkpoint *checkpoint, df_component component,
                                  const char *key, double fallback)
{
    json_t *value = config_value(checkpoint, component, key);
    return json_is_number(value) ? json_number_value(value) : fallback;
}

const char *df_checkpoint_config_string(const df_checkpoint *checkpoint, df_component component,
                                        const char *key, const char *fallback)
{
    json_t *value = config_value(checkpoint, component, key);
    return json_is_string(value) ? json_string_value(value) : fallback;
}

df_status df_checkpoint_config_ints(const df_checkpoint *checkpoint, df_component component,
                                    const char *key, int64_t *values, int max, int *count)
{
    if (count)
        *count = 0;
    json_t *value = config_value(checkpoint, component, key);
    if (!value)
        return DF_ERR_INVALID_ARGUMENT;
    if (json_is_integer(value)) {
        if (max >= 1 && values)
            values[0] = (int64_t)json_integer_value(value);
        if (count)
            *count = 1;
        return max >= 1 ? DF_OK : DF_ERR_INVALID_ARGUMENT;
    }
    if (!json_is_array(value))
        return DF_ERR_INVALID_ARGUMENT;
    size_t n = json_array_size(value);
    for (size_t i = 0; i < n; i++)
        if (!json_is_integer(json_array_get(value, i)))
            return DF_ERR_INVALID_ARGUMENT;
    if (n > (size_t)(max > 0 ? max : 0))
        return DF_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        values[i] = (int64_t)json_integer_value(json_array_get(value, i));
    if (count)
        *count = (int)n;
    return DF_OK;
}

const char *df_checkpoint_config_string_at(const df_checkpoint *checkpoint,
                                           df_component component, const char *key,
                                           size_t index)
{
    json_t *value = config_value(checkpoint, component, key);
    return json_string_value(json_array_get(value, index));
}

char *df_checkpoint_config_json(const df_checkpoint *checkpoint, df_component component)
{
    if (!checkpoint || (unsigned)component >= DF_COMPONENT_COUNT)
        return NULL;
    return json_dumps(checkpoint->components[component].config, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(10));
}

uint64_t df_checkpoint_file_bytes(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->file_bytes : 0;
}

size_t df_checkpoint_file_count(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->file_count : 0;
}

size_t df_checkpoint_note_count(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->note_count : 0;
}

const char *df_checkpoint_note_at(const df_checkpoint *checkpoint, size_t index)
{
    return checkpoint && index < checkpoint->note_count ? checkpoint->notes[index] : NULL;
}

size_t df_checkpoint_unused_count(const df_checkpoint *checkpoint)
{
    return checkpoint ? checkpoint->unused_count : 0;
}

const char *df_checkpoint_unused_at(const df_checkpoint *checkpoint, size_t index,
                                    const char **reason)
{
    if (!checkpoint || index >= checkpoint->unused_count)
        return NULL;
    if (reason)
        *reason = checkpoint->unused[index].reason;
    return checkpoint->unused[index].original;
}
