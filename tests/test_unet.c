/*
 * test_unet.c — the UNet against diffusers' UNet2DConditionModel.
 *
 * References come from tools/make_model_fixtures.py: for each case listed in
 * the file's "cases" metadata, latents, timesteps, a text context and the
 * output diffusers computes for them in float64 on the tiny models' weights.
 * Every case is checked for every family in both layouts (diffusers folder
 * and single file). Also: the output does not depend on the thread count,
 * bad shapes are refused naming the value, and a checkpoint missing a UNet
 * tensor or asking for an unsupported feature fails to load, naming it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "models/unet.h"
#include "runtime/threads.h"

/* Stated tolerance: max abs error <= 1e-4 of the output's max magnitude
 * (f32 against diffusers in f64). */
#define RELATIVE_TOLERANCE 1e-4

static double worst_relative_error;

/* The reference file of a family; DIFFUSE_UNET_REFERENCE_DIR overrides the
 * directory (for references made by hand while developing). */
static df_safetensors *open_reference(const char *family)
{
    char path[512];
    const char *directory = getenv("DIFFUSE_UNET_REFERENCE_DIR");
    if (directory)
        snprintf(path, sizeof path, "%s/unet_%s.safetensors", directory, family);
    else
        snprintf(path, sizeof path, "%s",
                 df_test_path(family[2] == '1' ? "tests/fixtures/reference/unet_sd1.safetensors"
                                               : "tests/fixtures/reference/unet_sd2.safetensors"));
    df_safetensors *file = NULL;
    df_error error = {0};
    if (df_safetensors_open(path, &file, &error)) {
        fprintf(stderr, "cannot open reference: %s\n", error.message);
        return NULL;
    }
    return file;
}

/* A case's tensor "<case>.<what>" as f32 with `ndim` dims, or NULL. */
static const df_st_tensor *case_tensor(df_safetensors *file, const char *name, const char *what,
                                       int ndim)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", name, what);
    const df_st_tensor *t = df_safetensors_find(file, key);
    if (!t || t->st_dtype != DF_ST_F32 || t->ndim != ndim) {
        fprintf(stderr, "reference tensor %s is missing or not f32 with %d dims\n", key, ndim);
        return NULL;
    }
    return t;
}

static void compare(const float *got, const float *want, size_t count, double *max_error,
                    double *scale)
{
    *max_error = 0;
    *scale = 0;
    for (size_t i = 0; i < count; i++) {
        double difference = fabs((double)got[i] - (double)want[i]);
        if (!(difference <= *max_error))
            *max_error = isnan(difference) ? INFINITY : difference;
        if (fabs(want[i]) > *scale)
            *scale = fabs(want[i]);
    }
}

/* Runs one reference case on a loaded UNet; the relative error, or INFINITY. */
static double run_case(df_unet *unet, df_safetensors *ref, const char *name, const char *label)
{
    const df_st_tensor *latents = case_tensor(ref, name, "latents", 4);
    const df_st_tensor *timesteps = case_tensor(ref, name, "timesteps", 1);
    const df_st_tensor *context = case_tensor(ref, name, "context", 3);
    const df_st_tensor *want = case_tensor(ref, name, "output", 4);
    if (!latents || !timesteps || !context || !want)
        return INFINITY;
    const int batch = (int)latents->shape[0], height = (int)latents->shape[2],
              width = (int)latents->shape[3], tokens = (int)context->shape[1];
    size_t values = (size_t)(want->shape[0] * want->shape[1] * want->shape[2] * want->shape[3]);
    float *out = malloc(values * sizeof *out);
    df_error error = {0};
    df_status status = df_unet_forward(unet, latents->data, batch, height, width, timesteps->data,
                                       context->data, tokens, NULL, out, &error);
    CHECKF(status == DF_OK, "%s %s: %s", label, name, error.message);
    double relative = INFINITY;
    if (status == DF_OK) {
        double max_error, scale;
        compare(out, want->data, values, &max_error, &scale);
        relative = max_error / scale;
        printf("  %-36s %-10s batch %d %2dx%-2d tokens %3d: max abs error %.3g, scale %.3g, "
               "relative %.3g\n",
               label, name, batch, height, width, tokens, max_error, scale, relative);
    }
    free(out);
    return relative;
}

/* Every case of a family's reference file on the model in one layout. */
static void check_family(const char *family, int single_file)
{
    df_safetensors *ref = open_reference(family);
    REQUIRE(ref);
    const char *cases_json = df_safetensors_metadata(ref, "cases");
    REQUIRE(cases_json);
    json_t *cases = json_loads(cases_json, 0, NULL);
    REQUIRE(json_is_array(cases) && json_array_size(cases) > 0);
    df_pool *pool = df_pool_create(2);
    REQUIRE(pool);
    size_t i;
    json_t *item;
    int checked = 0;
    json_array_foreach(cases, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *model = json_string_value(json_object_get(item, "model"));
        REQUIRE(name && model);
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/%s%s", model, single_file ? ".safetensors" : "");
        df_checkpoint *checkpoint = NULL;
        df_unet *unet = NULL;
        df_error error = {0};
        df_status status = df_checkpoint_open(df_test_path(path), &checkpoint, &error);
        CHECKF(status == DF_OK, "%s: %s", path, error.message);
        if (!status) {
            status = df_unet_load(checkpoint, pool, &unet, &error);
            CHECKF(status == DF_OK, "%s: %s", path, error.message);
        }
        if (!status) {
            double relative = run_case(unet, ref, name, path);
            if (relative > worst_relative_error)
                worst_relative_error = relative;
            CHECKF(relative <= RELATIVE_TOLERANCE, "%s %s: relative error %.3g", path, name,
                   relative);
            checked++;
        }
        df_unet_free(unet);
        df_checkpoint_free(checkpoint);
    }
    CHECK(checked == (int)json_array_size(cases));
    json_decref(cases);
    df_pool_free(pool);
    df_safetensors_close(ref);
}

static void test_sd1_diffusers(void) { check_family("sd1", 0); }
static void test_sd1_single_file(void) { check_family("sd1", 1); }
static void test_sd2_diffusers(void) { check_family("sd2", 0); }
static void test_sd2_single_file(void) { check_family("sd2", 1); }

/* A tiny UNet loaded on a pool of `threads`, with its checkpoint. */
typedef struct loaded {
    df_pool *pool;
    df_checkpoint *checkpoint;
    df_unet *unet;
} loaded;

static int load(const char *path, int threads, loaded *l)
{
    df_error error = {0};
    memset(l, 0, sizeof *l);
    l->pool = df_pool_create(threads);
    if (!l->pool || df_checkpoint_open(df_test_path(path), &l->checkpoint, &error) ||
        df_unet_load(l->checkpoint, l->pool, &l->unet, &error)) {
        fprintf(stderr, "%s: %s\n", path, error.message);
        return 0;
    }
    return 1;
}

static void unload(loaded *l)
{
    df_unet_free(l->unet);
    df_checkpoint_free(l->checkpoint);
    df_pool_free(l->pool);
}

/* Deterministic inputs for a shape (values in [-1, 1)). */
static float *pattern(size_t count, unsigned seed)
{
    float *x = malloc(count * sizeof *x);
    unsigned state = seed * 2654435761u + 1;
    for (size_t i = 0; i < count; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)(state >> 8) / (float)(1 << 23) - 1.0f;
    }
    return x;
}

/* Work is split over rows, columns and heads, never over a reduction. */
static void test_thread_count_invariance(void)
{
    const int batch = 2, height = 16, width = 8, tokens = 77, dim = 32;
    float *latents = pattern((size_t)batch * 4 * height * width, 1);
    float *context = pattern((size_t)batch * tokens * dim, 2);
    const float timesteps[2] = {999.0f, 3.5f};
    size_t values = (size_t)batch * 4 * height * width;
    float *outputs[2];
    for (int t = 0; t < 2; t++) {
        loaded l;
        outputs[t] = calloc(values, sizeof(float));
        REQUIRE(load("tests/fixtures/tiny-sd2", t + 1, &l));
        df_error error = {0};
        CHECKF(df_unet_forward(l.unet, latents, batch, height, width, timesteps, context, tokens, NULL,
                               outputs[t], &error) == DF_OK,
               "%s", error.message);
        unload(&l);
    }
    CHECK(memcmp(outputs[0], outputs[1], values * sizeof(float)) == 0);
    free(outputs[0]);
    free(outputs[1]);
    free(latents);
    free(context);
}

static void test_bad_arguments(void)
{
    loaded l;
    REQUIRE(load("tests/fixtures/tiny-sd1", 1, &l));
    float *latents = pattern(4 * 16 * 16, 3), *context = pattern(77 * 32, 4);
    float *out = calloc(4 * 16 * 16, sizeof *out);
    const float t = 10.0f;
    df_error error = {0};
    CHECK(df_unet_forward(l.unet, latents, 1, 8, 8, &t, context, 77, NULL, out, &error) == DF_OK);

    /* The tiny UNet has two blocks: latents must be even (SD's four: multiples of 8). */
    CHECK(df_unet_forward(l.unet, latents, 1, 12, 8, &t, context, 77, NULL, out, &error) == DF_OK);
    CHECK(df_unet_forward(l.unet, latents, 1, 7, 8, &t, context, 77, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "height 7") && strstr(error.message, "multiple of 2"), "%s",
           error.message);
    CHECK(df_unet_forward(l.unet, latents, 1, 8, 9, &t, context, 77, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "width 9"), "%s", error.message);
    CHECK(df_unet_forward(l.unet, latents, 1, 0, 8, &t, context, 77, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_unet_forward(l.unet, latents, 0, 8, 8, &t, context, 77, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "batch 0"), "%s", error.message);
    CHECK(df_unet_forward(l.unet, latents, 1, 8, 8, &t, context, 0, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    const float bad_t = NAN;
    CHECK(df_unet_forward(l.unet, latents, 1, 8, 8, &bad_t, context, 77, NULL, out, &error) ==
          DF_ERR_INVALID_ARGUMENT);

    /* A 1024-wide (SD 2.x) context for this 32-wide UNet. */
    CHECK(df_unet_check_inputs(l.unet, 1, 8, 8, 77, 1024, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "1024") && strstr(error.message, "cross_attention_dim 32"), "%s",
           error.message);
    CHECK(df_unet_check_inputs(l.unet, 2, 64, 96, 154, 32, &error) == DF_OK);

    /* The plan grows with the shape; a smaller call after a larger one
     * reuses the arena. */
    size_t small = df_unet_scratch_bytes(l.unet, 1, 8, 8, 77);
    size_t large = df_unet_scratch_bytes(l.unet, 2, 16, 16, 154);
    CHECK(small > 0 && large > small);
    CHECK(df_unet_forward(l.unet, latents, 1, 16, 16, &t, context, 77, NULL, out, &error) == DF_OK);
    CHECK(df_unet_forward(l.unet, latents, 1, 8, 8, &t, context, 77, NULL, out, &error) == DF_OK);
    free(latents);
    free(context);
    free(out);
    unload(&l);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f))
        ok = 0;
    return ok;
}

/* Opens `directory` as a checkpoint and loads its UNet, which must fail:
 * the status, and the message in `error`. */
static df_status load_failure(const char *directory, df_error *error)
{
    df_checkpoint *checkpoint = NULL;
    df_unet *unet = NULL;
    df_status status = df_checkpoint_open(directory, &checkpoint, error);
    if (!status)
        status = df_unet_load(checkpoint, NULL, &unet, error);
    CHECK(status != DF_OK && unet == NULL);
    df_unet_free(unet);
    df_checkpoint_free(checkpoint);
    return status;
}

/* A diffusers folder whose UNet lacks one tensor, then one whose config asks
 * for SDXL's added embeddings: both errors name what is wrong. */
static void test_bad_checkpoints(void)
{
    char directory[256], path[512];
    const char *dropped = "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_v.weight";
    REQUIRE(df_test_copy_model("tests/fixtures/tiny-sd1", "unet/diffusion_pytorch_model.safetensors",
                               dropped, directory, sizeof directory));
    df_error error = {0};
    CHECK(load_failure(directory, &error) != DF_OK);
    CHECKF(strstr(error.message, dropped) != NULL, "message does not name the tensor: %s",
           error.message);

    /* All weights back, but a config asking for SDXL's added embeddings. */
    df_test_remove_tree(directory);
    REQUIRE(df_test_copy_model("tests/fixtures/tiny-sd1", NULL, NULL, directory, sizeof directory));
    snprintf(path, sizeof path, "%s/unet/config.json", directory);
    size_t size;
    char *config = (char *)df_test_read_file(df_test_path("tests/fixtures/tiny-sd1/unet/config.json"),
                                             &size);
    REQUIRE(config);
    json_t *json = json_loadb(config, size, 0, NULL);
    free(config);
    REQUIRE(json_is_object(json));
    json_object_set_new(json, "addition_embed_type", json_string("image"));
    char *text = json_dumps(json, 0);
    REQUIRE(text && write_text(path, text));
    free(text);
    CHECK(load_failure(directory, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "addition_embed_type"), "%s", error.message);

    /* An up block of a kind this UNet does not compute. */
    json_object_del(json, "addition_embed_type");
    json_t *ups = json_array();
    json_array_append_new(ups, json_string("UpBlock2D"));
    json_array_append_new(ups, json_string("AttnUpBlock2D"));
    json_object_set_new(json, "up_block_types", ups);
    text = json_dumps(json, 0);
    REQUIRE(text && write_text(path, text));
    free(text);
    CHECK(load_failure(directory, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "up_block_types[1]"), "%s", error.message);
    json_decref(json);
    df_test_remove_tree(directory);
}

int main(void)
{
    DF_RUN(test_sd1_diffusers);
    DF_RUN(test_sd1_single_file);
    DF_RUN(test_sd2_diffusers);
    DF_RUN(test_sd2_single_file);
    DF_RUN(test_thread_count_invariance);
    DF_RUN(test_bad_arguments);
    DF_RUN(test_bad_checkpoints);
    printf("worst relative error over all cases, families and layouts: %.3g (tolerance %.0e)\n",
           worst_relative_error, RELATIVE_TOLERANCE);
    return df_test_finish();
}
