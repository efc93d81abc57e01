/*
 * test_lora.c — LoRA / LyCORIS against diffusers and peft on the tiny SD 1.x,
 * 2.x and SDXL models (tools/make_lora_fixtures.py):
 *   - merged weights, tensor by tensor, for every format (PEFT with its
 *     metadata alphas, kohya in diffusers' and the original UNet naming,
 *     LoHa, LoKr in all its factor forms) against fuse_lora / the LyCORIS
 *     formulas;
 *   - whole generations with one LoRA, a scale, two LoRAs (one negative),
 *     separate UNet / text-encoder scales, LoHa and LoKr;
 *   - the base image after a LoRA set is bit-identical to a fresh model's,
 *     and switching sets back and forth reproduces each set's image;
 *   - bad files (another family, keys matching nothing, truncated) are
 *     refused and leave the model unchanged.
 *   - textual inversion (A1111 emb_params, diffusers learned_embeds in the
 *     negative prompt, SDXL clip_l/clip_g, with a LoRA) against
 *     load_textual_inversion.
 * Cases needing a scale for SDXL's second text encoder apart from the first
 * (which diffuse does not have) are listed as not run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "pipeline/model_internal.h"

#define MERGE_TOLERANCE 1e-5 /* of the merged weight's scale */
#define LATENT_TOLERANCE 1e-4
#define PIXEL_TOLERANCE 1

static const char *string_field(const json_t *object, const char *key, const char *fallback)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : fallback;
}

static double number_field(const json_t *object, const char *key, double fallback)
{
    const json_t *value = json_object_get(object, key);
    return json_is_number(value) ? json_number_value(value) : fallback;
}

static df_component component_of(const char *name)
{
    return !strcmp(name, "unet")             ? DF_COMPONENT_UNET
           : !strcmp(name, "text_encoder_2") ? DF_COMPONENT_TEXT_ENCODER_2
                                             : DF_COMPONENT_TEXT_ENCODER;
}

/* The uses of a case's or a merge's "loras" list; 0 when a file needs a
 * scale diffuse cannot express (text_encoder_2 apart from text_encoder). */
static int lora_uses(const json_t *loras, df_lora_use *uses, int max, int *count)
{
    *count = 0;
    size_t i;
    json_t *item;
    json_array_foreach(loras, i, item) {
        if (*count == max)
            return 0;
        df_lora_use *use = &uses[(*count)++];
        use->path = df_test_path(string_field(item, "file", ""));
        use->unet_scale = (float)number_field(item, "unet_scale", 1);
        use->text_scale = (float)number_field(item, "text_encoder_scale", 1);
        if ((float)number_field(item, "text_encoder_2_scale", use->text_scale) != use->text_scale)
            return 0;
    }
    return 1;
}

static df_model *open_model(df_runtime *runtime, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    df_model *model = NULL;
    df_error error = {0};
    if (df_model_open(runtime, df_test_path(path), &model, &error))
        fprintf(stderr, "%s: %s\n", path, error.message);
    return model;
}

/* Every merge: the set applied (through a one-step generation), then the
 * patched weights against the reference. */
static void check_merges(df_model *model, df_safetensors *ref, const json_t *merges,
                         const char *family)
{
    size_t m;
    json_t *merge;
    json_array_foreach(merges, m, merge) {
        df_lora_use uses[8];
        int count = 0;
        const char *name = string_field(merge, "name", "?");
        if (!lora_uses(json_object_get(merge, "loras"), uses, 8, &count)) {
            printf("  %s merge %-22s not run: a text_encoder_2 scale of its own\n", family, name);
            continue;
        }
        df_generate_request request;
        df_generate_request_init(&request);
        request.prompt = "x";
        request.steps = 1;
        request.width = request.height = 24;
        request.loras = uses;
        request.lora_count = count;
        df_generate_result result;
        df_error error = {0};
        df_status status = df_model_generate(model, &request, &result, &error);
        CHECKF(status == DF_OK, "%s merge %s: %s", family, name, error.message);
        df_generate_result_free(&result);
        if (status)
            continue;
        double worst = 0;
        size_t t;
        json_t *target;
        json_array_foreach(json_object_get(merge, "targets"), t, target) {
            const char *param = string_field(target, "param", "");
            const df_st_tensor *want = df_safetensors_find(ref, string_field(target, "key", ""));
            const df_weight *got = df_checkpoint_weight(
                model->checkpoint, component_of(string_field(target, "component", "")), param);
            CHECKF(want && got, "%s merge %s: %s missing", family, name, param);
            if (!want || !got)
                continue;
            const int64_t n = df_weight_numel(got);
            float *values = malloc((size_t)n * sizeof(float));
            REQUIRE(values);
            df_weight_to_f32(got, 0, n, values);
            const float *w = want->data;
            double max_error = 0, scale = 0;
            for (int64_t i = 0; i < n; i++) {
                max_error = fmax(max_error, fabs((double)values[i] - w[i]));
                scale = fmax(scale, fabs((double)w[i]));
            }
            free(values);
            worst = fmax(worst, max_error / scale);
            CHECKF(max_error <= MERGE_TOLERANCE * scale, "%s merge %s %s: error %.3g of %.3g",
                   family, name, param, max_error, scale);
        }
        printf("  %s merge %-22s %2zu tensors, worst relative error %.3g\n", family, name,
               json_array_size(json_object_get(merge, "targets")), worst);
    }
}

static df_status run_case(df_model *model, const json_t *item, df_lora_use *uses, int count,
                          df_generate_result *result, df_error *error)
{
    df_generate_request request;
    df_generate_request_init(&request);
    request.prompt = string_field(item, "prompt", "");
    request.negative_prompt = string_field(item, "negative_prompt", NULL);
    request.sampler = string_field(item, "sampler", NULL);
    request.schedule = string_field(item, "schedule", NULL);
    request.spacing = string_field(item, "spacing", NULL);
    request.steps = (int)number_field(item, "steps", 6);
    request.guidance_scale = (float)number_field(item, "guidance_scale", 7.5);
    request.seed = (int64_t)number_field(item, "seed", 0);
    request.width = (int)number_field(item, "width", 24);
    request.height = (int)number_field(item, "height", 24);
    request.batch = (int)number_field(item, "batch", 1);
    request.loras = uses;
    request.lora_count = count;
    return df_model_generate(model, &request, result, error);
}

static void compare(const char *label, const df_generate_result *result, df_safetensors *ref,
                    const char *name)
{
    char key[160];
    snprintf(key, sizeof key, "%s.latents", name);
    const df_st_tensor *latents = df_safetensors_find(ref, key);
    snprintf(key, sizeof key, "%s.image", name);
    const df_st_tensor *image = df_safetensors_find(ref, key);
    CHECKF(latents && image, "%s: reference tensors missing", label);
    if (!latents || !image)
        return;
    const size_t n = (size_t)result->latent_channels * (size_t)result->latent_height *
                     (size_t)result->latent_width * (size_t)result->count;
    const float *w = latents->data;
    double max_error = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        max_error = fmax(max_error, fabs((double)result->latents[i] - w[i]));
        scale = fmax(scale, fabs((double)w[i]));
    }
    const size_t pixels = (size_t)result->width * (size_t)result->height * 3 * (size_t)result->count;
    int max_level = 0;
    const float *p = image->data;
    for (size_t i = 0; i < pixels; i++) {
        int d = abs((int)result->pixels[i] - (int)p[i]);
        max_level = d > max_level ? d : max_level;
    }
    printf("  %-34s latents max abs error %.3g (relative %.3g), pixels max %d level(s)\n", label,
           max_error, max_error / scale, max_level);
    CHECKF(max_error <= LATENT_TOLERANCE * scale, "%s: latent error %.3g", label,
           max_error / scale);
    CHECKF(max_level <= PIXEL_TOLERANCE, "%s: pixels differ by %d levels", label, max_level);
}

static void check_family(const char *family, const char *model_name)
{
    char path[128];
    snprintf(path, sizeof path, "tests/fixtures/reference/lora_%s.safetensors", family);
    df_safetensors *ref = NULL;
    df_error error = {0};
    REQUIRE(df_safetensors_open(df_test_path(path), &ref, &error) == DF_OK);
    json_t *cases = json_loads(df_safetensors_metadata(ref, "cases"), 0, NULL);
    json_t *merges = json_loads(df_safetensors_metadata(ref, "merges"), 0, NULL);
    json_t *bad = json_loads(df_safetensors_metadata(ref, "bad_inputs"), 0, NULL);
    REQUIRE(json_is_array(cases) && json_is_array(merges));
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
    df_model *model = open_model(runtime, model_name);
    df_model *fresh = open_model(runtime, model_name);
    REQUIRE(model && fresh);

    /* The base image of a model that never saw a LoRA. */
    const json_t *base_case = NULL;
    size_t c;
    json_t *item;
    json_array_foreach(cases, c, item) if (!strcmp(string_field(item, "name", ""), "base"))
        base_case = item;
    REQUIRE(base_case);
    df_generate_result base;
    REQUIRE(run_case(fresh, base_case, NULL, 0, &base, &error) == DF_OK);
    char loaded[2048] = ""; /* the embedding files loaded into `model` */
    const size_t base_bytes = (size_t)base.width * (size_t)base.height * 3;

    json_array_foreach(cases, c, item) {
        const char *name = string_field(item, "name", "?");
        char label[160];
        snprintf(label, sizeof label, "%s/%s", family, name);
        df_lora_use uses[8];
        int count = 0;
        /* Embeddings stay loaded in the model once loaded (as in A1111):
         * load each file the first time a case names it. */
        size_t e;
        json_t *embedding;
        json_array_foreach(json_object_get(item, "embeddings"), e, embedding) {
            const char *file = string_field(embedding, "file", "");
            if (strstr(loaded, file))
                continue;
            CHECKF(df_model_load_embedding(model, df_test_path(file),
                                           string_field(embedding, "token", NULL), &error) == DF_OK,
                   "%s: %s", label, error.message);
            snprintf(loaded + strlen(loaded), sizeof loaded - strlen(loaded), "%s;", file);
        }
        if (!lora_uses(json_object_get(item, "loras"), uses, 8, &count)) {
            printf("  %-34s not run: a text_encoder_2 scale of its own\n", label);
            continue;
        }
        df_generate_result result;
        df_status status = run_case(model, item, uses, count, &result, &error);
        CHECKF(status == DF_OK, "%s: %s", label, error.message);
        if (status)
            continue;
        compare(label, &result, ref, name);
        if (count == 0 && !json_array_size(json_object_get(item, "embeddings")))
            /* after any earlier set: the base weights exactly */
            CHECKF(!memcmp(result.pixels, base.pixels, base_bytes) &&
                       !memcmp(result.latents, base.latents,
                               (size_t)result.latent_channels * (size_t)result.latent_height *
                                   (size_t)result.latent_width * sizeof(float)),
                   "%s: not bit-identical to a fresh model's base image", label);
        df_generate_result_free(&result);
    }
    check_merges(model, ref, merges, family);

    /* Bad files: refused, naming the file, and the model keeps its base
     * weights (the next plain request is the fresh model's image). */
    json_array_foreach(bad, c, item) {
        /* the files diffuse must refuse (the others are files only
         * diffusers refuses: an SD 1.x LoRA in the original naming, which
         * A1111 and diffuse load) */
        if (strcmp(string_field(item, "model", ""), model_name) ||
            !strstr(string_field(item, "expect", ""), "must be refused"))
            continue;
        df_lora_use use = {df_test_path(string_field(item, "file", "")), 1, 1};
        df_generate_result result;
        df_status status = run_case(model, base_case, &use, 1, &result, &error);
        CHECKF(status != DF_OK && strstr(error.message, "lora"), "%s: %s accepted (%s)", family,
               use.path, error.message);
        printf("  %s refuses %s: %s\n", family, strrchr(use.path, '/') + 1, error.message);
        if (status == DF_OK)
            df_generate_result_free(&result);
        REQUIRE(run_case(model, base_case, NULL, 0, &result, &error) == DF_OK);
        CHECKF(!memcmp(result.pixels, base.pixels, base_bytes), "%s: model changed by a refused "
               "LoRA", family);
        df_generate_result_free(&result);
    }
    df_generate_result_free(&base);
    json_decref(cases);
    json_decref(merges);
    json_decref(bad);
    df_model_free(model);
    df_model_free(fresh);
    df_runtime_free(runtime);
    df_safetensors_close(ref);
}

/* Switching between two sets and back gives each set's image again, bit
 * for bit; the same set twice is not recomputed (same pixels, and the
 * patched weight stays the same buffer). */
static void test_switching(void)
{
    df_runtime *runtime = NULL;
    df_error error = {0};
    REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
    df_model *model = open_model(runtime, "tiny-sd1");
    REQUIRE(model);
    df_lora_use a = {df_test_path("tests/fixtures/lora/sd1_lora_kohya.safetensors"), 0.7f, 0.7f};
    df_lora_use b[2] = {{df_test_path("tests/fixtures/lora/sd1_lora_peft.safetensors"), 0.8f, 0.8f},
                        {df_test_path("tests/fixtures/lora/sd1_lora_b_kohya.safetensors"), -0.5f,
                         -0.5f}};
    json_t *item = json_pack("{s:s, s:i, s:i, s:i, s:i}", "prompt", "a cat", "steps", 3, "seed",
                             7, "width", 24, "height", 24);
    df_generate_result first_a, first_b, again_a, again_b;
    REQUIRE(run_case(model, item, &a, 1, &first_a, &error) == DF_OK);
    const df_weight *patched = df_checkpoint_weight(model->checkpoint, DF_COMPONENT_UNET,
                                                    "down_blocks.0.attentions.0.proj_in.weight");
    const void *buffer = patched->data;
    REQUIRE(run_case(model, item, &a, 1, &again_a, &error) == DF_OK);
    CHECK(patched->data == buffer); /* the same set: kept, not recomputed */
    df_generate_result_free(&again_a);
    REQUIRE(run_case(model, item, b, 2, &first_b, &error) == DF_OK);
    REQUIRE(run_case(model, item, &a, 1, &again_a, &error) == DF_OK);
    REQUIRE(run_case(model, item, b, 2, &again_b, &error) == DF_OK);
    const size_t bytes = (size_t)first_a.width * (size_t)first_a.height * 3;
    CHECK(!memcmp(first_a.pixels, again_a.pixels, bytes));
    CHECK(!memcmp(first_b.pixels, again_b.pixels, bytes));
    CHECK(memcmp(first_a.pixels, first_b.pixels, bytes));
    /* Embeddings: another family's, a second load, a file that is none. */
    CHECK(df_model_load_embedding(model, df_test_path("tests/fixtures/lora/sdxlstyle.safetensors"),
                                  NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "SDXL embedding"), "%s", error.message);
    CHECK(df_model_load_embedding(model, df_test_path("tests/fixtures/lora/sd1style.safetensors"),
                                  NULL, &error) == DF_OK);
    CHECK(df_model_load_embedding(model, df_test_path("tests/fixtures/lora/sd1style.safetensors"),
                                  NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "already loaded"), "%s", error.message);
    CHECK(df_model_load_embedding(model, a.path, NULL, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "not an embedding"), "%s", error.message);
    CHECK(df_model_load_embedding(model, df_test_path("tests/fixtures/lora/sd1concept.safetensors"),
                                  "two words", &error) == DF_ERR_INVALID_ARGUMENT);
    /* Bad uses: no file, absurd scales. */
    df_lora_use bad = {"", 1, 1};
    df_generate_result result;
    CHECK(run_case(model, item, &bad, 1, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    bad = (df_lora_use){a.path, NAN, 1};
    CHECK(run_case(model, item, &bad, 1, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "scale"), "%s", error.message);
    df_generate_result_free(&first_a);
    df_generate_result_free(&first_b);
    df_generate_result_free(&again_a);
    df_generate_result_free(&again_b);
    json_decref(item);
    df_model_free(model);
    df_runtime_free(runtime);
}

static void test_sd1(void) { check_family("sd1", "tiny-sd1"); }
static void test_sd2(void) { check_family("sd2", "tiny-sd2"); }
static void test_sdxl(void) { check_family("sdxl", "tiny-sdxl"); }

int main(void)
{
    DF_RUN(test_sd1);
    DF_RUN(test_sd2);
    DF_RUN(test_sdxl);
    DF_RUN(test_switching);
    return df_test_finish();
}
