/*
 * test_text_encoder.c — the CLIP text encoders against transformers.
 *
 * References come from tools/make_fixtures.py: for each tiny family, token
 * windows and the hidden states transformers' CLIPTextModel computes for them
 * (in float64), both the last layer and A1111's clip skip 2. Every family is
 * checked in both layouts (diffusers folder and single file), with one and
 * two threads. Also: a prompt encoded end to end through our tokenizer, and
 * the errors for bad token ids, clip skip, and a checkpoint missing a tensor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

/* Stated tolerance: max abs error <= 1e-5 of the output's max magnitude. */
#define RELATIVE_TOLERANCE 1e-5

typedef struct reference {
    df_safetensors *file;
    const df_st_tensor *ids, *last, *skip2;
    int count, dim;
} reference;

static int load_reference(const char *family, reference *ref)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/reference/text_encoder_%s.safetensors", family);
    df_error error = {0};
    memset(ref, 0, sizeof *ref);
    if (df_safetensors_open(df_test_path(path), &ref->file, &error)) {
        fprintf(stderr, "cannot open reference: %s\n", error.message);
        return 0;
    }
    ref->ids = df_safetensors_find(ref->file, "input_ids");
    ref->last = df_safetensors_find(ref->file, "last_hidden_state");
    ref->skip2 = df_safetensors_find(ref->file, "clip_skip_2");
    if (!ref->ids || !ref->last || !ref->skip2 || ref->ids->st_dtype != DF_ST_I32 ||
        ref->last->st_dtype != DF_ST_F32 || ref->ids->ndim != 2 || ref->last->ndim != 3)
        return 0;
    ref->count = (int)ref->ids->shape[0];
    ref->dim = (int)ref->last->shape[2];
    return ref->count > 0 && ref->ids->shape[1] == DF_CLIP_WINDOW;
}

/* Max abs difference, and the reference's max magnitude. */
static void compare(const float *got, const float *want, size_t count, double *max_error,
                    double *scale)
{
    *max_error = 0;
    *scale = 0;
    for (size_t i = 0; i < count; i++) {
        double difference = fabs((double)got[i] - (double)want[i]);
        if (!(difference <= *max_error)) /* NaN propagates as failure */
            *max_error = isnan(difference) ? INFINITY : difference;
        if (fabs(want[i]) > *scale)
            *scale = fabs(want[i]);
    }
}

static double worst_relative_error;

static void check_model(const char *family, const char *model_path, int threads)
{
    reference ref;
    REQUIRE(load_reference(family, &ref));
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    REQUIRE(df_runtime_create(threads, &runtime, &error) == DF_OK);
    df_status status = df_model_open(runtime, df_test_path(model_path), &model, &error);
    CHECKF(status == DF_OK, "%s", error.message);
    if (status == DF_OK) {
        CHECK(df_model_text_dim(model) == ref.dim);
        size_t values = (size_t)ref.count * DF_CLIP_WINDOW * (size_t)ref.dim;
        float *out = malloc(values * sizeof *out);
        const df_st_tensor *targets[2] = {ref.last, ref.skip2};
        for (int skip = 1; skip <= 2; skip++) {
            status = df_model_encode_tokens(model, ref.ids->data, (size_t)ref.count, skip, out, &error);
            CHECKF(status == DF_OK, "%s", error.message);
            double max_error, scale;
            compare(out, targets[skip - 1]->data, values, &max_error, &scale);
            double relative = max_error / scale;
            if (relative > worst_relative_error)
                worst_relative_error = relative;
            printf("  %-28s threads %d clip skip %d: max abs error %.3g, output scale %.3g, "
                   "relative %.3g\n", model_path, threads, skip, max_error, scale, relative);
            CHECKF(relative <= RELATIVE_TOLERANCE, "%s clip skip %d: relative error %.3g",
                   model_path, skip, relative);
        }
        free(out);
    }
    df_model_free(model);
    df_runtime_free(runtime);
    df_safetensors_close(ref.file);
}

static void test_sd1_diffusers(void) { check_model("sd1", "tests/fixtures/tiny-sd1", 1); }
static void test_sd1_single_file(void) { check_model("sd1", "tests/fixtures/tiny-sd1.safetensors", 2); }
static void test_sd2_diffusers(void) { check_model("sd2", "tests/fixtures/tiny-sd2", 2); }
static void test_sd2_single_file(void) { check_model("sd2", "tests/fixtures/tiny-sd2.safetensors", 1); }

/* Same output whatever the thread count: work is split across rows and
 * columns, never across the reduction. */
static void test_thread_count_invariance(void)
{
    reference ref;
    REQUIRE(load_reference("sd1", &ref));
    size_t values = (size_t)ref.count * DF_CLIP_WINDOW * (size_t)ref.dim;
    float *outputs[2];
    for (int t = 0; t < 2; t++) {
        df_runtime *runtime = NULL;
        df_model *model = NULL;
        df_error error = {0};
        outputs[t] = calloc(values, sizeof(float));
        REQUIRE(df_runtime_create(t + 1, &runtime, &error) == DF_OK);
        REQUIRE(df_model_open(runtime, df_test_path("tests/fixtures/tiny-sd1"), &model, &error) == DF_OK);
        CHECK(df_model_encode_tokens(model, ref.ids->data, (size_t)ref.count, 1, outputs[t], &error) == DF_OK);
        df_model_free(model);
        df_runtime_free(runtime);
    }
    CHECK(memcmp(outputs[0], outputs[1], values * sizeof(float)) == 0);
    free(outputs[0]);
    free(outputs[1]);
    df_safetensors_close(ref.file);
}

/* Prompt text → our tokenizer → encoder equals the reference row for every
 * reference prompt that fits one window. */
static void test_prompts_end_to_end(void)
{
    const char *families[2] = {"sd1", "sd2"};
    for (int f = 0; f < 2; f++) {
        reference ref;
        REQUIRE(load_reference(families[f], &ref));
        const char *prompts_json = df_safetensors_metadata(ref.file, "prompts");
        REQUIRE(prompts_json);
        json_t *prompts = json_loads(prompts_json, 0, NULL);
        REQUIRE(json_is_array(prompts) && (int)json_array_size(prompts) == ref.count);
        char model_path[64];
        snprintf(model_path, sizeof model_path, "tests/fixtures/tiny-%s", families[f]);
        df_runtime *runtime = NULL;
        df_model *model = NULL;
        df_error error = {0};
        REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
        REQUIRE(df_model_open(runtime, df_test_path(model_path), &model, &error) == DF_OK);
        int compared = 0;
        for (int i = 0; i < ref.count; i++) {
            const char *prompt = json_string_value(json_array_get(prompts, (size_t)i));
            REQUIRE(prompt);
            float *hidden = NULL;
            size_t tokens = 0;
            df_status status = df_model_encode_prompt(model, prompt, 1, 0, &hidden, &tokens, &error);
            CHECKF(status == DF_OK, "prompt %d: %s", i, error.message);
            const int32_t *want_ids = (const int32_t *)ref.ids->data + (size_t)i * DF_CLIP_WINDOW;
            if (status == DF_OK && tokens == DF_CLIP_WINDOW) {
                df_token_windows windows;
                REQUIRE(df_tokenize_windows(df_model_tokenizer(model), prompt, strlen(prompt),
                                            df_model_pad_token(model), &windows, &error) == DF_OK);
                CHECKF(!memcmp(windows.ids, want_ids, DF_CLIP_WINDOW * sizeof(int32_t)),
                       "%s prompt %d: token ids differ from transformers'", families[f], i);
                df_token_windows_free(&windows);
                double max_error, scale;
                size_t row = (size_t)DF_CLIP_WINDOW * (size_t)ref.dim;
                compare(hidden, (const float *)ref.last->data + (size_t)i * row, row, &max_error, &scale);
                CHECKF(max_error <= RELATIVE_TOLERANCE * scale, "%s prompt %d: error %.3g",
                       families[f], i, max_error);
                compared++;
            }
            free(hidden);
        }
        CHECK(compared >= ref.count / 2);
        printf("  %s: %d of %d prompts compared end to end\n", families[f], compared, ref.count);
        json_decref(prompts);
        df_model_free(model);
        df_runtime_free(runtime);
        df_safetensors_close(ref.file);
    }
}

static void test_bad_arguments(void)
{
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    df_error error = {0};
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    REQUIRE(df_model_open(runtime, df_test_path("tests/fixtures/tiny-sd1"), &model, &error) == DF_OK);
    int32_t ids[DF_CLIP_WINDOW];
    for (int i = 0; i < DF_CLIP_WINDOW; i++)
        ids[i] = DF_CLIP_END_TOKEN;
    ids[0] = DF_CLIP_START_TOKEN;
    float *out = malloc((size_t)DF_CLIP_WINDOW * (size_t)df_model_text_dim(model) * sizeof *out);
    CHECK(df_model_encode_tokens(model, ids, 1, 1, out, &error) == DF_OK);

    ids[5] = 49408;
    CHECK(df_model_encode_tokens(model, ids, 1, 1, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "49408") && strstr(error.message, "position 5"), "%s", error.message);
    ids[5] = -1;
    CHECK(df_model_encode_tokens(model, ids, 1, 1, out, &error) == DF_ERR_INVALID_ARGUMENT);
    ids[5] = DF_CLIP_END_TOKEN;

    CHECK(df_model_encode_tokens(model, ids, 1, 99, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "clip skip 99"), "%s", error.message);
    CHECK(df_model_encode_tokens(model, ids, 0, 1, out, &error) == DF_ERR_INVALID_ARGUMENT);
    free(out);
    df_model_free(model);
    df_runtime_free(runtime);
}

/* A diffusers folder whose text encoder lacks one tensor: the error names it. */
static void test_missing_tensor(void)
{
    char directory[256];
    const char *dropped = "text_model.encoder.layers.1.mlp.fc2.weight";
    REQUIRE(df_test_copy_model("tests/fixtures/tiny-sd1", "text_encoder/model.safetensors", dropped,
                               directory, sizeof directory));
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    df_status status = df_model_open(runtime, directory, &model, &error);
    CHECK(status != DF_OK && model == NULL);
    CHECKF(strstr(error.message, dropped) != NULL, "message does not name the tensor: %s", error.message);
    df_runtime_free(runtime);
    df_test_remove_tree(directory);
}

int main(void)
{
    DF_RUN(test_sd1_diffusers);
    DF_RUN(test_sd1_single_file);
    DF_RUN(test_sd2_diffusers);
    DF_RUN(test_sd2_single_file);
    DF_RUN(test_thread_count_invariance);
    DF_RUN(test_prompts_end_to_end);
    DF_RUN(test_bad_arguments);
    DF_RUN(test_missing_tensor);
    printf("worst relative error over all families and layouts: %.3g (tolerance %.0e)\n",
           worst_relative_error, RELATIVE_TOLERANCE);
    return df_test_finish();
}
