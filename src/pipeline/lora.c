/*
 * lora.c — LoRA / LyCORIS deltas patched into a model's weights (lora.h).
 *
 * Applying a set: every file is opened (mmapped), its keys grouped by the
 * module they change and each module looked up in the model's name index
 * (every weight's diffusers name, its kohya form, and for the UNet its
 * original LDM/SGM form). For every weight touched, W' = f32(W) + sum over
 * the files of scale x delta, computed once; the checkpoint entry then
 * points at W'. The mapped originals are kept in the patch list and put
 * back before another set is applied, or on any error, so the model is
 * never left half-patched.
 *
 * Memory: each patched weight costs its size in f32 while the set is
 * applied (the mapped f16 original stays on disk); a rank-r delta is
 * computed with the GEMM, up [out, r] times down [r, in].
 */
#include "pipeline/lora.h"

#include <math.h>
#include <stdio.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "pipeline/model_internal.h"
#include "runtime/error.h"
#include "runtime/kernels.h"
#include "runtime/runtime.h"

#define LORA_NAME_MAX 512

/* --- the model's name index ----------------------------------------------- */

typedef struct index_entry {
    char *key;    /* "lora_unet_down_blocks_0_..." or "unet.down_blocks.0...." */
    df_component component;
    char *weight; /* the diffusers weight name, "....weight" */
} index_entry;

typedef struct patch {
    df_component component;
    char *weight;
    df_weight original;
    float *data; /* W' */
    int fresh;   /* data not written yet */
} patch;

struct df_lora_state {
    index_entry *index;
    size_t index_count, index_capacity;
    int indexed;
    /* the set applied now */
    char **paths;
    float *unet_scales, *text_scales;
    int applied_count;
    patch *patches;
    size_t patch_count, patch_capacity;
};

static int compare_index(const void *a, const void *b)
{
    return strcmp(((const index_entry *)a)->key, ((const index_entry *)b)->key);
}

static int add_key(df_lora_state *state, const char *key, df_component component,
                   const char *weight)
{
    if (state->index_count == state->index_capacity) {
        size_t capacity = state->index_capacity ? state->index_capacity * 2 : 1024;
        index_entry *grown = realloc(state->index, capacity * sizeof *grown);
        if (!grown)
            return 0;
        state->index = grown;
        state->index_capacity = capacity;
    }
    index_entry *e = &state->index[state->index_count];
    e->key = strdup(key);
    e->weight = strdup(weight);
    e->component = component;
    if (!e->key || !e->weight) {
        free(e->key);
        free(e->weight);
        return 0;
    }
    state->index_count++;
    return 1;
}

static void underscored(const char *prefix, const char *module, char *out, size_t size)
{
    snprintf(out, size, "%s%s", prefix, module);
    for (char *p = out + strlen(prefix); *p; p++)
        if (*p == '.')
            *p = '_';
}

static const struct {
    const char *diffusers, *ldm;
} unet_fixed[] = {
    {"time_embedding.linear_1", "time_embed.0"}, {"time_embedding.linear_2", "time_embed.2"},
    {"add_embedding.linear_1", "label_emb.0.0"}, {"add_embedding.linear_2", "label_emb.0.2"},
    {"conv_in", "input_blocks.0.0"},             {"conv_norm_out", "out.0"},
    {"conv_out", "out.2"},
};

static const char *ldm_resnet_part(const char *part)
{
    static const struct {
        const char *diffusers, *ldm;
    } parts[] = {{"norm1", "in_layers.0"},      {"conv1", "in_layers.2"},
                 {"norm2", "out_layers.0"},     {"conv2", "out_layers.3"},
                 {"time_emb_proj", "emb_layers.1"}, {"conv_shortcut", "skip_connection"}};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (!strcmp(part, parts[i].diffusers))
            return parts[i].ldm;
    return NULL;
}

/* A UNet module's original (LDM / SGM) name, the inverse of
 * checkpoint_names.c's map: what kohya's SDXL LoRAs are named after.
 * 0 when it has none. */
static int unet_ldm_module(const df_unet_config *config, const char *module, char *out,
                           size_t size)
{
    for (size_t i = 0; i < sizeof unet_fixed / sizeof *unet_fixed; i++) {
        size_t n = strlen(unet_fixed[i].diffusers);
        if (!strncmp(module, unet_fixed[i].diffusers, n) && (!module[n] || module[n] == '.')) {
            snprintf(out, size, "%s%s", unet_fixed[i].ldm, module + n);
            return 1;
        }
    }
    const int per = config->layers_per_block + 1;
    int block, layer, consumed = 0;
    char part[64];
    if (sscanf(module, "down_blocks.%d.downsamplers.0.conv%n", &block, &consumed) == 1 &&
        consumed && !module[consumed]) {
        snprintf(out, size, "input_blocks.%d.0.op", 1 + block * per + per - 1);
        return 1;
    }
    if (sscanf(module, "up_blocks.%d.upsamplers.0.conv%n", &block, &consumed) == 1 && consumed &&
        !module[consumed]) {
        int attention = block < config->block_count && config->up_has_attention[block];
        snprintf(out, size, "output_blocks.%d.%d.conv", block * per + per - 1, attention ? 2 : 1);
        return 1;
    }
    if (sscanf(module, "down_blocks.%d.resnets.%d.%63[a-z_0-9]%n", &block, &layer, part,
               &consumed) == 3) {
        const char *ldm = ldm_resnet_part(part);
        if (!ldm)
            return 0;
        snprintf(out, size, "input_blocks.%d.0.%s%s", 1 + block * per + layer, ldm,
                 module + consumed);
        return 1;
    }
    if (sscanf(module, "down_blocks.%d.attentions.%d.%n", &block, &layer, &consumed) == 2 &&
        consumed) {
        snprintf(out, size, "input_blocks.%d.1.%s", 1 + block * per + layer, module + consumed);
        return 1;
    }
    if (sscanf(module, "up_blocks.%d.resnets.%d.%63[a-z_0-9]%n", &block, &layer, part,
               &consumed) == 3) {
        const char *ldm = ldm_resnet_part(part);
        if (!ldm)
            return 0;
        snprintf(out, size, "output_blocks.%d.0.%s%s", block * per + layer, ldm, module + consumed);
        return 1;
    }
    if (sscanf(module, "up_blocks.%d.attentions.%d.%n", &block, &layer, &consumed) == 2 &&
        consumed) {
        snprintf(out, size, "output_blocks.%d.1.%s", block * per + layer, module + consumed);
        return 1;
    }
    if (sscanf(module, "mid_block.resnets.%d.%63[a-z_0-9]%n", &layer, part, &consumed) == 2) {
        const char *ldm = ldm_resnet_part(part);
        if (!ldm)
            return 0;
        snprintf(out, size, "middle_block.%d.%s%s", 2 * layer, ldm, module + consumed);
        return 1;
    }
    if (!strncmp(module, "mid_block.attentions.0.", 23)) {
        snprintf(out, size, "middle_block.1.%s", module + 23);
        return 1;
    }
    return 0;
}

static df_status build_index(df_model *model, df_lora_state *state, df_error *error)
{
    if (state->indexed)
        return DF_OK;
    const df_checkpoint *checkpoint = model->checkpoint;
    const df_unet_config *unet = df_unet_get_config(model->unet);
    static const df_component components[3] = {DF_COMPONENT_UNET, DF_COMPONENT_TEXT_ENCODER,
                                               DF_COMPONENT_TEXT_ENCODER_2};
    char module[LORA_NAME_MAX], key[LORA_NAME_MAX + 32], ldm[LORA_NAME_MAX];
    int ok = 1;
    for (int c = 0; c < 3 && ok; c++) {
        const df_component component = components[c];
        for (size_t i = 0; i < df_checkpoint_count(checkpoint, component) && ok; i++) {
            const char *name;
            df_checkpoint_at(checkpoint, component, i, &name);
            size_t n = strlen(name);
            if (n < 8 || n >= sizeof module || strcmp(name + n - 7, ".weight"))
                continue;
            memcpy(module, name, n - 7);
            module[n - 7] = 0;
            if (component == DF_COMPONENT_UNET) {
                underscored("lora_unet_", module, key, sizeof key);
                ok = add_key(state, key, component, name);
                snprintf(key, sizeof key, "unet.%s", module);
                ok = ok && add_key(state, key, component, name);
                if (ok && unet_ldm_module(unet, module, ldm, sizeof ldm)) {
                    underscored("lora_unet_", ldm, key, sizeof key);
                    ok = add_key(state, key, component, name);
                }
            } else if (component == DF_COMPONENT_TEXT_ENCODER) {
                underscored("lora_te_", module, key, sizeof key);
                ok = add_key(state, key, component, name);
                underscored("lora_te1_", module, key, sizeof key);
                ok = ok && add_key(state, key, component, name);
                snprintf(key, sizeof key, "text_encoder.%s", module);
                ok = ok && add_key(state, key, component, name);
            } else {
                underscored("lora_te2_", module, key, sizeof key);
                ok = add_key(state, key, component, name);
                snprintf(key, sizeof key, "text_encoder_2.%s", module);
                ok = ok && add_key(state, key, component, name);
            }
        }
    }
    if (!ok)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory indexing the model for LoRAs");
    qsort(state->index, state->index_count, sizeof *state->index, compare_index);
    /* A key two weights claim would be ambiguous: keep the first, as the
     * names come out of one model they cannot collide in practice. */
    state->indexed = 1;
    return DF_OK;
}

static const index_entry *lookup(const df_lora_state *state, const char *key)
{
    index_entry probe = {.key = (char *)key};
    return bsearch(&probe, state->index, state->index_count, sizeof *state->index, compare_index);
}

/* --- one file's modules ---------------------------------------------------- */

enum {
    ROLE_DOWN, ROLE_UP, ROLE_ALPHA, ROLE_W1A, ROLE_W1B, ROLE_W2A, ROLE_W2B, ROLE_K1, ROLE_K1A,
    ROLE_K1B, ROLE_K2, ROLE_K2A, ROLE_K2B, ROLE_COUNT
};

static const struct {
    const char *suffix;
    int role;
} suffixes[] = {
    {".lora_down.weight", ROLE_DOWN}, {".lora_up.weight", ROLE_UP},
    {".lora_A.weight", ROLE_DOWN},    {".lora_B.weight", ROLE_UP},
    {".lora.down.weight", ROLE_DOWN}, {".lora.up.weight", ROLE_UP},
    {".alpha", ROLE_ALPHA},           {".hada_w1_a", ROLE_W1A},
    {".hada_w1_b", ROLE_W1B},         {".hada_w2_a", ROLE_W2A},
    {".hada_w2_b", ROLE_W2B},         {".lokr_w1", ROLE_K1},
    {".lokr_w1_a", ROLE_K1A},         {".lokr_w1_b", ROLE_K1B},
    {".lokr_w2", ROLE_K2},            {".lokr_w2_a", ROLE_K2A},
    {".lokr_w2_b", ROLE_K2B},
};

typedef struct module_group {
    char key[LORA_NAME_MAX];
    const df_st_tensor *parts[ROLE_COUNT];
} module_group;

static int compare_groups(const void *a, const void *b)
{
    return strcmp(((const module_group *)a)->key, ((const module_group *)b)->key);
}

/* A weight-dtype tensor as a df_weight view. */
static int as_weight(const df_st_tensor *t, df_weight *out)
{
    memset(out, 0, sizeof *out);
    if (!t || !df_st_dtype_to_weight(t->st_dtype, &out->dtype))
        return 0;
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        out->shape[d] = t->shape[d];
    out->data = t->data;
    return 1;
}

static int64_t numel(const df_st_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* f32 copy of a tensor (malloc'ed), or NULL. */
static float *to_f32(const df_st_tensor *t)
{
    df_weight w;
    if (!as_weight(t, &w))
        return NULL;
    float *out = malloc((size_t)numel(t) * sizeof(float));
    if (out)
        df_weight_to_f32(&w, 0, numel(t), out);
    return out;
}

/* out[rows, cols] = a[rows, r] b[r, cols] on the pool's GEMM (b is
 * transposed once into the weight layout df_linear wants). */
static int matmul(df_pool *pool, const float *a, const float *b, int64_t rows, int64_t r,
                  int64_t cols, float *out)
{
    float *bt = malloc((size_t)(cols * r) * sizeof(float));
    if (!bt)
        return 0;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < cols; j++)
            bt[j * r + i] = b[i * cols + j];
    df_weight w = {DF_DTYPE_F32, 2, {cols, r}, bt};
    df_linear(pool, a, rows, r, &w, NULL, out);
    free(bt);
    return 1;
}

static float alpha_of(const df_st_tensor *alpha, float fallback)
{
    df_weight w;
    if (!alpha || !as_weight(alpha, &w) || numel(alpha) != 1)
        return fallback;
    float value;
    df_weight_to_f32(&w, 0, 1, &value);
    return isfinite(value) ? value : fallback;
}

/* The product of two factors as [rows, cols], checking the shapes against
 * the target: a [rows, r], b [r, ...] with r * cols = numel(b). */
static float *factor_product(df_pool *pool, const df_st_tensor *a, const df_st_tensor *b,
                             int64_t rows, int64_t cols, float a_scale, int64_t *rank)
{
    if (!a || !b || a->ndim < 2 || b->ndim < 2)
        return NULL;
    const int64_t r = b->shape[0];
    if (a->shape[0] != rows || numel(a) != rows * r || numel(b) != r * cols || r <= 0)
        return NULL;
    float *fa = to_f32(a), *fb = to_f32(b), *out = malloc((size_t)(rows * cols) * sizeof(float));
    /* a scale folded into the small factor costs rows x r, not rows x cols */
    for (int64_t i = 0; fa && a_scale != 1.0f && i < rows * r; i++)
        fa[i] *= a_scale;
    int ok = fa && fb && out && matmul(pool, fa, fb, rows, r, cols, out);
    free(fa);
    free(fb);
    if (!ok) {
        free(out);
        return NULL;
    }
    *rank = r;
    return out;
}

/* delta [out, K] of one module for a target weight of `out` rows and K =
 * numel / out, times its format's scale (alpha / rank ...). NULL with a
 * message in `why` when the parts do not fit. */
static float *module_delta(df_pool *pool, const module_group *g, const df_weight *target,
                           const float *peft, float user_scale, char *why, size_t why_size)
{
    const int64_t out = target->shape[0], total = df_weight_numel(target), k = total / out;
    const df_st_tensor *const *p = g->parts;
    int64_t rank = 0;
    float *delta = NULL;
    float scale = 1;
    if (p[ROLE_DOWN] || p[ROLE_UP]) {
        /* alpha / rank and the user's scale folded into up before the GEMM */
        const int64_t r = p[ROLE_DOWN] && p[ROLE_DOWN]->ndim >= 1 ? p[ROLE_DOWN]->shape[0] : 1;
        const float alpha = alpha_of(p[ROLE_ALPHA], peft ? *peft : (float)r);
        delta = factor_product(pool, p[ROLE_UP], p[ROLE_DOWN], out, k,
                               user_scale * alpha / (float)(r > 0 ? r : 1), &rank);
        user_scale = 1.0f;
    } else if (p[ROLE_W1A] || p[ROLE_W2A]) {
        int64_t rank2 = 0;
        float *a = factor_product(pool, p[ROLE_W1A], p[ROLE_W1B], out, k, 1.0f, &rank);
        float *b = factor_product(pool, p[ROLE_W2A], p[ROLE_W2B], out, k, 1.0f, &rank2);
        if (a && b) {
            for (int64_t i = 0; i < total; i++)
                a[i] *= b[i];
            delta = a;
            a = NULL;
            scale = alpha_of(p[ROLE_ALPHA], (float)rank) / (float)rank;
        }
        free(a);
        free(b);
    } else if (p[ROLE_K1] || p[ROLE_K1A] || p[ROLE_K2] || p[ROLE_K2A]) {
        /* kron(w1 [a, b], w2 [c, d, spatial...]) = [a c, b d spatial] */
        const df_st_tensor *w1 = p[ROLE_K1], *w2 = p[ROLE_K2];
        int64_t a = 0, b = 0, c = 0, d = 0;
        int factored = 0;
        float *f1 = NULL, *f2 = NULL;
        if (w1 && w1->ndim == 2) {
            a = w1->shape[0], b = w1->shape[1];
            f1 = to_f32(w1);
        } else if (p[ROLE_K1A] && p[ROLE_K1B] && p[ROLE_K1A]->ndim == 2 &&
                   p[ROLE_K1B]->ndim == 2) {
            a = p[ROLE_K1A]->shape[0], b = p[ROLE_K1B]->shape[1];
            f1 = factor_product(pool, p[ROLE_K1A], p[ROLE_K1B], a, b, 1.0f, &rank);
            factored = 1;
        }
        if (w2 && w2->ndim >= 2) {
            c = w2->shape[0], d = numel(w2) / c;
            f2 = to_f32(w2);
        } else if (p[ROLE_K2A] && p[ROLE_K2B] && p[ROLE_K2A]->ndim == 2) {
            c = p[ROLE_K2A]->shape[0], d = numel(p[ROLE_K2B]) / p[ROLE_K2B]->shape[0];
            f2 = factor_product(pool, p[ROLE_K2A], p[ROLE_K2B], c, d, 1.0f, &rank);
            factored = 1;
        }
        /* w2's columns are (input channel, spatial): b * d = K with the
         * spatial size inside d. */
        if (f1 && f2 && a * c == out && b * d == k) {
            const int64_t spatial = target->ndim == 4 ? target->shape[2] * target->shape[3] : 1;
            const int64_t d_channels = d / spatial;
            delta = malloc((size_t)total * sizeof(float));
            for (int64_t i = 0; delta && i < a; i++)
                for (int64_t kk = 0; kk < c; kk++)
                    for (int64_t j = 0; j < b; j++)
                        for (int64_t l = 0; l < d_channels; l++)
                            for (int64_t s = 0; s < spatial; s++)
                                delta[(i * c + kk) * k + (j * d_channels + l) * spatial + s] =
                                    f1[i * b + j] * f2[(kk * d_channels + l) * spatial + s];
            scale = factored ? alpha_of(p[ROLE_ALPHA], (float)rank) / (float)rank : 1.0f;
        }
        free(f1);
        free(f2);
    } else {
        snprintf(why, why_size, "no LoRA, LoHa or LoKr factors");
        return NULL;
    }
    if (!delta) {
        snprintf(why, why_size, "its factors do not make the weight's shape [%lld, %lld]",
                 (long long)out, (long long)k);
        return NULL;
    }
    scale *= user_scale;
    if (scale != 1.0f)
        for (int64_t i = 0; i < total; i++)
            delta[i] *= scale;
    return delta;
}

/* diffusers' PEFT files keep each component's LoraConfig in the metadata
 * "lora_adapter_metadata" ({"unet.lora_alpha": 8, "unet.alpha_pattern":
 * {"conv1": 4}, ...}): the alpha of module `key` ("unet.down_blocks...")
 * is the pattern whose name ends the module path, else lora_alpha. A
 * file without it (most published ones) has alpha = rank: scale 1. */
static int peft_alpha(const json_t *metadata, const char *key, float *alpha)
{
    if (!metadata)
        return 0;
    const char *dot = strchr(key, '.');
    if (!dot)
        return 0;
    char name[128];
    snprintf(name, sizeof name, "%.*s.alpha_pattern", (int)(dot - key), key);
    const json_t *patterns = json_object_get(metadata, name);
    const char *pattern;
    json_t *value;
    size_t length = strlen(key);
    json_object_foreach((json_t *)patterns, pattern, value) {
        size_t n = strlen(pattern);
        if (json_is_number(value) && n <= length && !strcmp(key + length - n, pattern) &&
            (n == length || key[length - n - 1] == '.')) {
            *alpha = (float)json_number_value(value);
            return 1;
        }
    }
    snprintf(name, sizeof name, "%.*s.lora_alpha", (int)(dot - key), key);
    value = json_object_get(metadata, name);
    if (!json_is_number(value))
        return 0;
    *alpha = (float)json_number_value(value);
    return 1;
}

/* --- applying ---------------------------------------------------------------- */

static void restore(df_model *model, df_lora_state *state)
{
    for (size_t i = state->patch_count; i-- > 0;) {
        patch *p = &state->patches[i];
        /* the mapped original back (a no-op for one not patched yet) */
        df_checkpoint_patch(model->checkpoint, p->component, p->weight, &p->original, NULL, NULL);
        free(p->weight);
        free(p->data);
    }
    state->patch_count = 0;
    for (int i = 0; i < state->applied_count; i++)
        free(state->paths[i]);
    free(state->paths);
    free(state->unet_scales);
    free(state->text_scales);
    state->paths = NULL;
    state->unet_scales = state->text_scales = NULL;
    state->applied_count = 0;
}

/* W' += delta, or W' = f32(W) + delta for the first, a chunk at a time
 * on the pool (the weights are large and this is memory-bound). */
typedef struct combine_job {
    const df_weight *original;
    const float *delta;
    float *out;
    int fresh;
} combine_job;

static void combine_task(void *context, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const combine_job *job = context;
    const int64_t chunk = 1 << 16;
    for (int64_t c = begin; c < end; c++) {
        const int64_t first = c * chunk, total = df_weight_numel(job->original);
        const int64_t count = total - first < chunk ? total - first : chunk;
        float *out = job->out + first;
        const float *delta = job->delta + first;
        if (job->fresh) {
            df_weight_to_f32(job->original, first, count, out);
            for (int64_t i = 0; i < count; i++)
                out[i] += delta[i];
        } else {
            for (int64_t i = 0; i < count; i++)
                out[i] += delta[i];
        }
    }
}

/* The patch of `weight`, its W' buffer allocated on first use. */
static patch *patch_for(df_lora_state *state, const df_checkpoint *checkpoint,
                        df_component component, const char *weight, df_error *error)
{
    for (size_t i = 0; i < state->patch_count; i++)
        if (state->patches[i].component == component && !strcmp(state->patches[i].weight, weight))
            return &state->patches[i];
    if (state->patch_count == state->patch_capacity) {
        size_t capacity = state->patch_capacity ? state->patch_capacity * 2 : 64;
        patch *grown = realloc(state->patches, capacity * sizeof *grown);
        if (!grown) {
            df_error_set(error, DF_ERR_NO_MEMORY, "out of memory applying LoRAs");
            return NULL;
        }
        state->patches = grown;
        state->patch_capacity = capacity;
    }
    /* The entry is still the mapped original: every patch is made at the
     * end of df_lora_apply, once the whole set is computed. */
    const df_weight *original = df_checkpoint_weight(checkpoint, component, weight);
    patch *p = &state->patches[state->patch_count];
    p->component = component;
    p->weight = strdup(weight);
    p->original = *original;
    p->data = malloc((size_t)df_weight_numel(original) * sizeof(float));
    if (!p->weight || !p->data) {
        free(p->weight);
        free(p->data);
        df_error_set(error, DF_ERR_NO_MEMORY, "out of memory applying LoRAs (%s)", weight);
        return NULL;
    }
    p->fresh = 1; /* W' = f32(W) + delta on the first delta */
    state->patch_count++;
    return p;
}

static df_status apply_file(df_model *model, df_lora_state *state, const df_lora_use *use,
                            df_error *error)
{
    df_safetensors *file = NULL;
    df_status status = df_safetensors_open(use->path, &file, error);
    if (status)
        return df_error_prefix(error, "lora: ");
    const size_t count = df_safetensors_count(file);
    module_group *groups = calloc(count ? count : 1, sizeof *groups);
    size_t group_count = 0, unmatched = 0, unknown = 0;
    char first_unmatched[3][LORA_NAME_MAX] = {{0}};
    if (!groups) {
        df_safetensors_close(file);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory reading %s", use->path);
    }
    for (size_t i = 0; i < count; i++) {
        const df_st_tensor *t = df_safetensors_at(file, i);
        size_t n = strlen(t->name);
        int role = -1;
        size_t stem = 0;
        for (size_t s = 0; s < sizeof suffixes / sizeof *suffixes; s++) {
            size_t m = strlen(suffixes[s].suffix);
            if (n > m && !strcmp(t->name + n - m, suffixes[s].suffix)) {
                role = suffixes[s].role;
                stem = n - m;
                break;
            }
        }
        if (role < 0 || stem >= LORA_NAME_MAX) {
            if (unknown + unmatched < 3)
                snprintf(first_unmatched[unknown + unmatched], LORA_NAME_MAX, "%s", t->name);
            unknown++;
            continue;
        }
        size_t g = 0;
        while (g < group_count && (strncmp(groups[g].key, t->name, stem) || groups[g].key[stem]))
            g++;
        if (g == group_count) {
            memcpy(groups[g].key, t->name, stem);
            groups[g].key[stem] = 0;
            group_count++;
        }
        groups[g].parts[role] = t;
    }
    qsort(groups, group_count, sizeof *groups, compare_groups);
    df_pool *pool = df_runtime_pool(model->runtime);
    const char *metadata_text = df_safetensors_metadata(file, "lora_adapter_metadata");
    json_t *metadata = metadata_text ? json_loads(metadata_text, 0, NULL) : NULL;
    for (size_t g = 0; g < group_count && !status; g++) {
        const index_entry *target = lookup(state, groups[g].key);
        if (!target) {
            if (unknown + unmatched < 3)
                snprintf(first_unmatched[unknown + unmatched], LORA_NAME_MAX, "%s",
                         groups[g].key);
            unmatched++;
            continue;
        }
        const float scale =
            target->component == DF_COMPONENT_UNET ? use->unet_scale : use->text_scale;
        if (scale == 0)
            continue;
        const df_weight *weight =
            df_checkpoint_weight(model->checkpoint, target->component, target->weight);
        char why[160] = "";
        float alpha = 0;
        const int has_alpha = peft_alpha(metadata, groups[g].key, &alpha);
        float *delta = module_delta(pool, &groups[g], weight, has_alpha ? &alpha : NULL, scale,
                                    why, sizeof why);
        if (!delta) {
            status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                  "lora %s: %s does not fit %s %s: %s (a LoRA for another "
                                  "model?)",
                                  use->path, groups[g].key, df_component_name(target->component),
                                  target->weight, why);
            break;
        }
        patch *target_patch =
            patch_for(state, model->checkpoint, target->component, target->weight, error);
        if (!target_patch) {
            free(delta);
            status = DF_ERR_NO_MEMORY;
            break;
        }
        combine_job job = {&target_patch->original, delta, target_patch->data,
                           target_patch->fresh};
        df_pool_for(pool, (df_weight_numel(weight) + (1 << 16) - 1) >> 16, 1, combine_task, &job);
        target_patch->fresh = 0;
        free(delta);
    }
    if (!status && (unmatched || unknown))
        status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                              "lora %s: %zu of its keys match no weight of this %s model "
                              "(first: %s%s%s%s%s): a LoRA for another model family?",
                              use->path, unmatched + unknown,
                              df_family_name(df_model_family(model)), first_unmatched[0],
                              first_unmatched[1][0] ? ", " : "", first_unmatched[1],
                              first_unmatched[2][0] ? ", " : "", first_unmatched[2]);
    json_decref(metadata);
    free(groups);
    df_safetensors_close(file);
    return status;
}

static int same_set(const df_lora_state *state, const df_lora_use *uses, int count)
{
    if (state->applied_count != count)
        return 0;
    for (int i = 0; i < count; i++)
        if (strcmp(state->paths[i], uses[i].path) || state->unet_scales[i] != uses[i].unet_scale ||
            state->text_scales[i] != uses[i].text_scale)
            return 0;
    return 1;
}

df_status df_lora_apply(df_model *model, const df_lora_use *uses, int count, df_error *error)
{
    df_lora_state *state = model->lora;
    if (count <= 0) {
        if (state)
            restore(model, state);
        return DF_OK;
    }
    if (count > 64)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "%d LoRAs: at most 64 at once", count);
    for (int i = 0; i < count; i++) {
        if (!uses[i].path || !*uses[i].path)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "lora %d: no file given", i + 1);
        if (!isfinite(uses[i].unet_scale) || !isfinite(uses[i].text_scale) ||
            fabsf(uses[i].unet_scale) > 100 || fabsf(uses[i].text_scale) > 100)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "lora %s: scale %g / %g is out of range (-100..100)",
                                uses[i].path, uses[i].unet_scale, uses[i].text_scale);
    }
    if (!state && !(state = model->lora = calloc(1, sizeof *state)))
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory applying LoRAs");
    if (same_set(state, uses, count))
        return DF_OK;
    restore(model, state);
    df_status status = df_model_load_denoiser(model, error);
    if (!status)
        status = build_index(model, state, error);
    for (int i = 0; i < count && !status; i++)
        status = apply_file(model, state, &uses[i], error);
    if (!status) {
        state->paths = calloc((size_t)count, sizeof *state->paths);
        state->unet_scales = calloc((size_t)count, sizeof(float));
        state->text_scales = calloc((size_t)count, sizeof(float));
        if (!state->paths || !state->unet_scales || !state->text_scales)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory applying LoRAs");
        for (int i = 0; i < count && !status; i++) {
            if (!(state->paths[i] = strdup(uses[i].path)))
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory applying LoRAs");
            state->unet_scales[i] = uses[i].unet_scale;
            state->text_scales[i] = uses[i].text_scale;
            state->applied_count = i + 1;
        }
    }
    /* A cancel skips the pool's remaining chunks: the W' may be partial. */
    if (!status && df_pool_stopped(df_runtime_pool(model->runtime)))
        status = df_error_set(error, DF_ERR_CANCELLED, "cancelled while applying LoRAs");
    /* Only now do the entries change: every W' is complete. */
    for (size_t i = 0; i < state->patch_count && !status; i++) {
        patch *p = &state->patches[i];
        df_weight value = p->original;
        value.dtype = DF_DTYPE_F32;
        value.data = p->data;
        status = df_checkpoint_patch(model->checkpoint, p->component, p->weight, &value, NULL,
                                     error);
    }
    if (status)
        restore(model, state);
    return status;
}

void df_lora_state_free(df_model *model)
{
    df_lora_state *state = model->lora;
    if (!state)
        return;
    restore(model, state);
    for (size_t i = 0; i < state->index_count; i++) {
        free(state->index[i].key);
        free(state->index[i].weight);
    }
    free(state->index);
    free(state->patches);
    free(state);
    model->lora = NULL;
}
