/*
 * test_sdxl.c — SDXL against diffusers and transformers on the tiny SDXL
 * base and refiner (tools/make_sdxl_fixtures.py), in both layouts:
 *   - both text encoders' penultimate (and clip-skipped) hidden states, the
 *     pooled projection, and the joined prompt embeddings;
 *   - the UNet (base and refiner) with the added embedding at several
 *     timesteps, batches, sizes and time ids;
 *   - the VAE's decode and encode;
 *   - whole generations: every sampler, Karras, negative prompt absent
 *     (zeros) / empty / given, prompt_2, micro-conditioning and its negative,
 *     clip skip, no CFG, batches, Turbo settings, img2img on the base and the
 *     refiner, and base + refiner;
 *   - the refusals of SDXL-only fields and of mismatched models.
 * The bounds are test_text_encoder's, test_unet's, test_vae's and
 * test_pipeline's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/model_internal.h"
#include "runtime/runtime.h"
#include "text/clip_text_encoder.h"

#define TEXT_TOLERANCE 1e-5
#define UNET_TOLERANCE 1e-4
#define VAE_TOLERANCE 1e-4
#define LATENT_TOLERANCE 1e-4
#define PIXEL_TOLERANCE 1

static const char *const LAYOUTS[2] = {"", ".safetensors"};

static df_safetensors *open_reference(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/reference/%s.safetensors", name);
    df_safetensors *file = NULL;
    df_error error = {0};
    if (df_safetensors_open(df_test_path(path), &file, &error)) {
        fprintf(stderr, "%s\n", error.message);
        return NULL;
    }
    return file;
}

static const df_st_tensor *tensor(df_safetensors *file, const char *name, int ndim)
{
    const df_st_tensor *t = df_safetensors_find(file, name);
    if (!t || t->ndim != ndim) {
        fprintf(stderr, "reference tensor %s is missing or not %d-D\n", name, ndim);
        return NULL;
    }
    return t;
}

/* max |got - want| and max |want| over `count` values. */
static double relative_error(const float *got, const float *want, size_t count, double *max_error,
                             double *scale)
{
    *max_error = 0;
    *scale = 0;
    for (size_t i = 0; i < count; i++) {
        double difference = fabs((double)got[i] - (double)want[i]);
        *max_error = isnan(difference) ? INFINITY : fmax(*max_error, difference);
        *scale = fmax(*scale, fabs((double)want[i]));
    }
    return *scale > 0 ? *max_error / *scale : *max_error;
}

static int check_close(const char *label, const float *got, const float *want, size_t count,
                       double tolerance)
{
    double max_error, scale;
    double relative = relative_error(got, want, count, &max_error, &scale);
    printf("  %-44s max abs error %.3g, scale %.3g, relative %.3g\n", label, max_error, scale,
           relative);
    CHECKF(relative <= tolerance, "%s: relative error %.3g", label, relative);
    return relative <= tolerance;
}

static df_model *open_model(df_runtime *runtime, const char *name, const char *layout)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s%s", name, layout);
    df_model *model = NULL;
    df_error error = {0};
    if (df_model_open(runtime, df_test_path(path), &model, &error)) {
        fprintf(stderr, "%s: %s\n", path, error.message);
        return NULL;
    }
    return model;
}

/* ---- text encoders ----------------------------------------------------- */

static void check_text(const char *layout)
{
    df_safetensors *ref = open_reference("text_encoder_sdxl");
    REQUIRE(ref);
    const df_st_tensor *ids = tensor(ref, "input_ids", 2), *ids_2 = tensor(ref, "input_ids_2", 2);
    const df_st_tensor *te1 = tensor(ref, "te1.penultimate", 3), *te1_skip = tensor(ref, "te1.skip1", 3);
    const df_st_tensor *te2 = tensor(ref, "te2.penultimate", 3), *te2_skip = tensor(ref, "te2.skip1", 3);
    const df_st_tensor *pooled = tensor(ref, "te2.text_embeds", 2);
    const df_st_tensor *joined = tensor(ref, "prompt_embeds", 3);
    const df_st_tensor *refiner_joined = tensor(ref, "refiner.prompt_embeds", 3);
    const df_st_tensor *refiner_pooled = tensor(ref, "refiner.text_embeds", 2);
    REQUIRE(ids && ids_2 && te1 && te1_skip && te2 && te2_skip && pooled && joined &&
            refiner_joined && refiner_pooled);
    df_runtime *runtime = NULL;
    df_error error = {0};
    REQUIRE(df_runtime_create(2, &runtime, &error) == DF_OK);
    df_model *model = open_model(runtime, "tiny-sdxl", layout);
    df_model *refiner = open_model(runtime, "tiny-sdxl-refiner", layout);
    REQUIRE(model && refiner);
    REQUIRE(model->text_encoder && model->text_encoder_2 && !refiner->text_encoder &&
            refiner->text_encoder_2);

    const int prompts = (int)ids->shape[0];
    const int d1 = (int)te1->shape[2], d2 = (int)te2->shape[2], dp = (int)pooled->shape[1];
    CHECK(df_model_text_dim(model) == d1 + d2 && df_model_pooled_dim(model) == dp);
    CHECK(df_model_text_dim(refiner) == d2 && df_model_pooled_dim(refiner) == dp);
    const size_t rows = (size_t)prompts * DF_CLIP_WINDOW;
    float *hidden = malloc(rows * (size_t)(d1 + d2) * sizeof(float));
    float *out_pooled = malloc((size_t)prompts * (size_t)dp * sizeof(float));
    REQUIRE(hidden && out_pooled);
    char label[160];
    /* Each encoder alone, on the reference's own ids (diffusers truncates a
     * long prompt to one window; our windowing is checked below). */
    for (int skip = 1; skip <= 2; skip++) {
        CHECK(df_clip_text_encoder_forward_hidden(model->text_encoder, ids->data, prompts, skip,
                                                  hidden, NULL, &error) == DF_OK);
        snprintf(label, sizeof label, "sdxl%s te1 hidden_states[-%d]", layout, skip + 1);
        check_close(label, hidden, (skip == 1 ? te1 : te1_skip)->data, rows * (size_t)d1,
                    TEXT_TOLERANCE);
        CHECK(df_clip_text_encoder_forward_hidden(model->text_encoder_2, ids_2->data, prompts,
                                                  skip, hidden, out_pooled, &error) == DF_OK);
        snprintf(label, sizeof label, "sdxl%s te2 hidden_states[-%d]", layout, skip + 1);
        check_close(label, hidden, (skip == 1 ? te2 : te2_skip)->data, rows * (size_t)d2,
                    TEXT_TOLERANCE);
        snprintf(label, sizeof label, "sdxl%s te2 pooled (text_embeds)", layout);
        check_close(label, out_pooled, pooled->data, (size_t)prompts * (size_t)dp,
                    TEXT_TOLERANCE);
    }
    CHECK(df_model_encode_tokens(refiner, ids_2->data, (size_t)prompts, 1, hidden, &error) ==
          DF_OK);
    snprintf(label, sizeof label, "sdxl-refiner%s prompt_embeds", layout);
    check_close(label, hidden, refiner_joined->data, rows * (size_t)d2, TEXT_TOLERANCE);

    /* Our tokenizers give the reference's ids for every prompt that fits a
     * window, and the condition path its pooled embedding. */
    json_t *texts = json_loads(df_safetensors_metadata(ref, "prompts"), 0, NULL);
    REQUIRE(json_is_array(texts) && (int)json_array_size(texts) == prompts);
    for (int i = 0; i < prompts; i++) {
        const char *text = json_string_value(json_array_get(texts, (size_t)i));
        df_token_windows windows;
        REQUIRE(df_model_tokenize(model, text, 0, &windows, &error) == DF_OK);
        if (windows.window_count == 1)
            CHECKF(!memcmp(windows.ids, (const int32_t *)ids->data + i * DF_CLIP_WINDOW,
                           DF_CLIP_WINDOW * sizeof(int32_t)),
                   "prompt %d: token ids differ from CLIPTokenizer's", i);
        df_token_windows_free(&windows);
        /* The joined embeddings (both tokenizers: the second splits off
         * every "!", its pad token) and the pooled one, from the text. */
        float *condition = NULL;
        size_t tokens = 0;
        REQUIRE(df_model_encode_condition(model, text, NULL, 1, 0, &condition, &tokens,
                                          out_pooled, &error) == DF_OK);
        if (tokens == DF_CLIP_WINDOW) {
            snprintf(label, sizeof label, "sdxl%s prompt_embeds, prompt %d", layout, i);
            check_close(label, condition,
                        (const float *)joined->data + (size_t)i * DF_CLIP_WINDOW * (d1 + d2),
                        DF_CLIP_WINDOW * (size_t)(d1 + d2), TEXT_TOLERANCE);
            snprintf(label, sizeof label, "sdxl%s pooled, prompt %d", layout, i);
            check_close(label, out_pooled, (const float *)pooled->data + (size_t)i * dp,
                        (size_t)dp, TEXT_TOLERANCE);
        }
        free(condition);
        condition = NULL;
        REQUIRE(df_model_encode_condition(refiner, text, NULL, 1, 0, &condition, &tokens,
                                          out_pooled, &error) == DF_OK);
        if (tokens == DF_CLIP_WINDOW) {
            snprintf(label, sizeof label, "sdxl-refiner%s pooled, prompt %d", layout, i);
            check_close(label, out_pooled, (const float *)refiner_pooled->data + (size_t)i * dp,
                        (size_t)dp, TEXT_TOLERANCE);
        }
        free(condition);
    }
    json_decref(texts);
    free(hidden);
    free(out_pooled);
    df_model_free(model);
    df_model_free(refiner);
    df_runtime_free(runtime);
    df_safetensors_close(ref);
}

/* ---- UNet ---------------------------------------------------------------- */

static void check_unet(const char *reference, const char *fixture, const char *layout)
{
    df_safetensors *ref = open_reference(reference);
    REQUIRE(ref);
    json_t *cases = json_loads(df_safetensors_metadata(ref, "cases"), 0, NULL);
    REQUIRE(json_is_array(cases) && json_array_size(cases) > 0);
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s%s", fixture, layout);
    df_checkpoint *checkpoint = NULL;
    df_unet *unet = NULL;
    df_error error = {0};
    df_pool *pool = df_pool_create(2);
    REQUIRE(pool);
    REQUIRE(df_checkpoint_open(df_test_path(path), &checkpoint, &error) == DF_OK);
    REQUIRE(df_unet_load(checkpoint, pool, &unet, &error) == DF_OK);
    size_t i;
    json_t *item;
    json_array_foreach(cases, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        char key[128];
        const df_st_tensor *t[6];
        static const char *const parts[6] = {"latents", "timesteps", "context", "text_embeds",
                                             "time_ids", "output"};
        static const int dims[6] = {4, 1, 3, 2, 2, 4};
        int ok = name != NULL;
        for (int k = 0; k < 6 && ok; k++) {
            snprintf(key, sizeof key, "%s.%s", name, parts[k]);
            ok = (t[k] = tensor(ref, key, dims[k])) != NULL;
        }
        CHECK(ok);
        if (!ok)
            continue;
        const int batch = (int)t[0]->shape[0];
        const df_unet_added added = {t[3]->data, (int)t[3]->shape[1], t[4]->data,
                                     (int)t[4]->shape[1]};
        CHECK(df_unet_time_id_count(unet, added.text_embeds_dim) == added.time_id_count);
        size_t values = (size_t)df_weight_numel(&(df_weight){.ndim = 4,
                                                              .shape = {t[5]->shape[0],
                                                                        t[5]->shape[1],
                                                                        t[5]->shape[2],
                                                                        t[5]->shape[3]}});
        float *out = malloc(values * sizeof *out);
        REQUIRE(out);
        df_status status = df_unet_forward(unet, t[0]->data, batch, (int)t[0]->shape[2],
                                           (int)t[0]->shape[3], t[1]->data, t[2]->data,
                                           (int)t[2]->shape[1], &added, out, &error);
        CHECKF(status == DF_OK, "%s %s: %s", reference, name, error.message);
        char label[160];
        snprintf(label, sizeof label, "%s%s %s", fixture, layout, name);
        if (status == DF_OK)
            check_close(label, out, t[5]->data, values, UNET_TOLERANCE);
        free(out);
    }
    /* Without the added conditioning an SDXL UNet says what it needs. */
    const df_st_tensor *latents = tensor(ref, "t1.latents", 4), *context = tensor(ref, "t1.context", 3);
    if (latents && context) {
        float t = 500, out[4 * 8 * 16];
        CHECK(df_unet_forward(unet, latents->data, 1, (int)latents->shape[2],
                              (int)latents->shape[3], &t, context->data, 77, NULL, out,
                              &error) == DF_ERR_INVALID_ARGUMENT);
        CHECKF(strstr(error.message, "pooled text embedding"), "%s", error.message);
    }
    json_decref(cases);
    df_unet_free(unet);
    df_checkpoint_free(checkpoint);
    df_pool_free(pool);
    df_safetensors_close(ref);
}

/* ---- VAE ----------------------------------------------------------------- */

static void check_vae(const char *layout)
{
    df_safetensors *ref = open_reference("vae_sdxl");
    REQUIRE(ref);
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/tiny-sdxl%s", layout);
    df_checkpoint *checkpoint = NULL;
    df_vae *vae = NULL;
    df_error error = {0};
    df_pool *pool = df_pool_create(2);
    REQUIRE(pool);
    REQUIRE(df_checkpoint_open(df_test_path(path), &checkpoint, &error) == DF_OK);
    REQUIRE(df_vae_load(checkpoint, pool, &vae, &error) == DF_OK);
    CHECK(fabsf(df_vae_get_config(vae)->scaling_factor - 0.13025f) < 1e-7f);
    const df_st_tensor *latents = tensor(ref, "decode.latents", 4), *image = tensor(ref, "decode.image", 4);
    const df_st_tensor *input = tensor(ref, "encode.image", 4), *mean = tensor(ref, "encode.mean", 4),
                       *logvar = tensor(ref, "encode.logvar", 4);
    REQUIRE(latents && image && input && mean && logvar);
    size_t image_values = (size_t)(image->shape[1] * image->shape[2] * image->shape[3]);
    float *decoded = malloc(image_values * sizeof(float));
    size_t latent_values = (size_t)(mean->shape[1] * mean->shape[2] * mean->shape[3]);
    float *got_mean = malloc(latent_values * sizeof(float)), *got_logvar = malloc(latent_values * sizeof(float));
    REQUIRE(decoded && got_mean && got_logvar);
    char label[160];
    CHECK(df_vae_decode(vae, latents->data, 1, (int)latents->shape[2], (int)latents->shape[3],
                        decoded, &error) == DF_OK);
    /* df_vae_decode returns NCHW [1, 3, H, W] like the reference */
    snprintf(label, sizeof label, "sdxl%s vae decode", layout);
    check_close(label, decoded, image->data, image_values, VAE_TOLERANCE);
    CHECK(df_vae_encode(vae, input->data, 1, (int)input->shape[2], (int)input->shape[3], got_mean,
                        got_logvar, &error) == DF_OK);
    snprintf(label, sizeof label, "sdxl%s vae encode mean", layout);
    check_close(label, got_mean, mean->data, latent_values, VAE_TOLERANCE);
    snprintf(label, sizeof label, "sdxl%s vae encode logvar", layout);
    check_close(label, got_logvar, logvar->data, latent_values, VAE_TOLERANCE);
    free(decoded);
    free(got_mean);
    free(got_logvar);
    df_vae_free(vae);
    df_checkpoint_free(checkpoint);
    df_pool_free(pool);
    df_safetensors_close(ref);
}

/* ---- whole generations -------------------------------------------------- */

static const char *string_field(json_t *object, const char *key, const char *fallback)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : fallback;
}

/* A [first, second] pair of the case (diffusers' (height, width) or (top,
 * left)); 0, 0 when absent. */
static void pair_field(json_t *object, const char *key, int *first, int *second)
{
    json_t *value = json_object_get(object, key);
    *first = (int)json_integer_value(json_array_get(value, 0));
    *second = (int)json_integer_value(json_array_get(value, 1));
}

static void compare_result(const char *label, const df_generate_result *result,
                           const df_st_tensor *want_latents, const df_st_tensor *want_image)
{
    size_t latent_count = (size_t)result->count * (size_t)result->latent_channels *
                          (size_t)result->latent_height * (size_t)result->latent_width;
    size_t want_count = 1;
    for (int d = 0; d < want_latents->ndim; d++)
        want_count *= (size_t)want_latents->shape[d];
    CHECKF(latent_count == want_count, "%s: %zu latents, reference has %zu", label, latent_count,
           want_count);
    if (latent_count != want_count)
        return;
    double max_error, scale;
    double relative = relative_error(result->latents, want_latents->data, latent_count, &max_error,
                                     &scale);
    size_t pixel_count = (size_t)result->count * (size_t)result->width * (size_t)result->height * 3;
    int max_level = 0;
    const float *want_pixels = want_image->data;
    for (size_t i = 0; i < pixel_count; i++) {
        int difference = abs((int)result->pixels[i] - (int)want_pixels[i]);
        max_level = difference > max_level ? difference : max_level;
    }
    printf("  %-34s latents max abs error %.3g (scale %.3g, relative %.3g), pixels max %d "
           "level(s)\n",
           label, max_error, scale, relative, max_level);
    CHECKF(relative <= LATENT_TOLERANCE, "%s: latent error %.3g", label, relative);
    CHECKF(max_level <= PIXEL_TOLERANCE, "%s: pixels differ by %d levels", label, max_level);
}

static void check_pipeline(const char *layout)
{
    df_safetensors *ref = open_reference("pipeline_sdxl");
    REQUIRE(ref);
    json_t *cases = json_loads(df_safetensors_metadata(ref, "cases"), 0, NULL);
    REQUIRE(json_is_array(cases));
    df_runtime *runtime = NULL;
    df_error error = {0};
    REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
    df_model *base = open_model(runtime, "tiny-sdxl", layout);
    df_model *refiner = open_model(runtime, "tiny-sdxl-refiner", layout);
    REQUIRE(base && refiner);
    size_t c;
    json_t *item;
    json_array_foreach(cases, c, item) {
        const char *name = string_field(item, "name", "?");
        const char *model_name = string_field(item, "model", "tiny-sdxl");
        df_model *model = strstr(model_name, "refiner") ? refiner : base;
        df_generate_request request;
        df_generate_request_init(&request);
        request.prompt = string_field(item, "prompt", "");
        request.prompt_2 = string_field(item, "prompt_2", NULL);
        request.negative_prompt = string_field(item, "negative_prompt", NULL);
        request.negative_prompt_2 = string_field(item, "negative_prompt_2", NULL);
        request.sampler = string_field(item, "sampler", NULL);
        request.schedule = string_field(item, "schedule", NULL);
        request.spacing = string_field(item, "spacing", NULL);
        request.steps = (int)json_integer_value(json_object_get(item, "steps"));
        request.guidance_scale = (float)json_number_value(json_object_get(item, "guidance_scale"));
        request.seed = json_integer_value(json_object_get(item, "seed"));
        if (json_is_true(json_object_get(item, "size_passed"))) {
            request.width = (int)json_integer_value(json_object_get(item, "width"));
            request.height = (int)json_integer_value(json_object_get(item, "height"));
        }
        request.batch = (int)json_integer_value(json_object_get(item, "batch"));
        json_t *skip = json_object_get(item, "diffusers_clip_skip");
        request.clip_skip = json_is_integer(skip) ? (int)json_integer_value(skip) + 1 : 1;
        request.eta = (float)json_number_value(json_object_get(item, "eta"));
        pair_field(item, "original_size", &request.original_height, &request.original_width);
        pair_field(item, "target_size", &request.target_height, &request.target_width);
        pair_field(item, "crops_coords_top_left", &request.crop_top, &request.crop_left);
        pair_field(item, "negative_original_size", &request.negative_original_height,
                   &request.negative_original_width);
        pair_field(item, "negative_target_size", &request.negative_target_height,
                   &request.negative_target_width);
        pair_field(item, "negative_crops_coords_top_left", &request.negative_crop_top,
                   &request.negative_crop_left);
        json_t *score = json_object_get(item, "aesthetic_score");
        if (json_is_number(score))
            request.aesthetic_score = (float)json_number_value(score);
        if (json_is_number((score = json_object_get(item, "negative_aesthetic_score"))))
            request.negative_aesthetic_score = (float)json_number_value(score);
        json_t *stage = json_object_get(item, "refiner");
        if (json_is_object(stage)) {
            request.refiner = refiner;
            request.refiner_start =
                (float)json_number_value(json_object_get(stage, "denoising_start"));
            json_t *s = json_object_get(stage, "aesthetic_score");
            if (json_is_number(s))
                request.aesthetic_score = (float)json_number_value(s);
            if (json_is_number((s = json_object_get(stage, "negative_aesthetic_score"))))
                request.negative_aesthetic_score = (float)json_number_value(s);
        }
        df_image init = {0};
        const char *init_path = string_field(item, "init_image", NULL);
        if (init_path) {
            REQUIRE(df_image_read(df_test_path(init_path), 0, &init, &error) == DF_OK);
            request.init_pixels = init.pixels;
            request.init_width = init.width;
            request.init_height = init.height;
            request.strength = (float)json_number_value(json_object_get(item, "strength"));
        }
        df_generate_result result;
        df_status status = df_model_generate(model, &request, &result, &error);
        char label[160];
        snprintf(label, sizeof label, "sdxl%s/%s", layout, name);
        CHECKF(status == DF_OK, "%s: %s", label, error.message);
        char key[128];
        snprintf(key, sizeof key, "%s.latents", name);
        const df_st_tensor *want_latents = df_safetensors_find(ref, key);
        snprintf(key, sizeof key, "%s.image", name);
        const df_st_tensor *want_image = df_safetensors_find(ref, key);
        CHECKF(want_latents && want_image, "%s: reference tensors missing", label);
        if (status == DF_OK && want_latents && want_image) {
            compare_result(label, &result, want_latents, want_image);
            if (request.refiner)
                CHECK(strstr(result.infotexts[0], "Refiner: tiny-sdxl-refiner"));
        }
        df_generate_result_free(&result);
        df_image_free(&init);
    }
    json_decref(cases);
    df_model_free(base);
    df_model_free(refiner);
    df_runtime_free(runtime);
    df_safetensors_close(ref);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_refusals(void)
{
    df_runtime *runtime = NULL;
    df_error error = {0};
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    df_model *base = open_model(runtime, "tiny-sdxl", "");
    df_model *refiner = open_model(runtime, "tiny-sdxl-refiner", "");
    df_model *sd1 = open_model(runtime, "tiny-sd1", "");
    REQUIRE(base && refiner && sd1);
    df_generate_request request;
    df_generate_request_init(&request);
    request.prompt = "a cat";
    request.steps = 2;
    df_generate_result result;

    request.prompt_2 = "a dog"; /* one encoder: the field is named */
    CHECK(df_model_generate(sd1, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "prompt_2"), "%s", error.message);
    request.prompt_2 = NULL;
    request.negative_prompt_2 = "x";
    CHECK(df_model_generate(sd1, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "negative_prompt_2"), "%s", error.message);
    request.negative_prompt_2 = NULL;

    /* The refiner makes no image from noise; a base is no refiner; an SD 1.x
     * model takes no refiner. */
    CHECK(df_model_generate(refiner, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "refiner"), "%s", error.message);
    request.refiner = base;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "refiner"), "%s", error.message);
    df_model *other_base = open_model(runtime, "tiny-sdxl", ".safetensors");
    REQUIRE(other_base);
    request.refiner = other_base;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "not a refiner"), "%s", error.message);
    request.refiner = refiner;
    CHECK(df_model_generate(sd1, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "refiner"), "%s", error.message);
    request.refiner = sd1;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "not an SDXL refiner"), "%s", error.message);
    request.refiner = refiner;
    request.refiner_start = 1.0f;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "refiner_start"), "%s", error.message);
    request.refiner = NULL;
    request.refiner_start = 0.8f;

    /* Sizes not multiples of the model's (8 for the tiny one), absurd
     * micro-conditioning. */
    request.width = 20;
    request.height = 24;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "multiples of 8"), "%s", error.message);
    request.width = 24;
    request.original_width = -5;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "original size"), "%s", error.message);
    request.original_width = 0;
    request.aesthetic_score = NAN;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "aesthetic"), "%s", error.message);
    request.aesthetic_score = 6.0f;
    /* What is left generates (and a memory estimate of base + refiner
     * works). */
    CHECK(df_model_generate(base, &request, &result, &error) == DF_OK);
    df_generate_result_free(&result);
    /* The refiner's UNet has one more level: 24 px fits the base, not it. */
    request.refiner = refiner;
    CHECK(df_model_generate(base, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "refiner") && strstr(error.message, "multiples of 16"), "%s",
           error.message);
    request.width = request.height = 32;
    size_t bytes = 0, alone = 0;
    CHECK(df_model_estimate_memory(base, &request, &bytes, &error) == DF_OK);
    request.refiner = NULL;
    CHECK(df_model_estimate_memory(base, &request, &alone, &error) == DF_OK);
    CHECK(bytes > alone);
    df_model_free(other_base);
    df_model_free(sd1);
    df_model_free(refiner);
    df_model_free(base);
    df_runtime_free(runtime);
}

static void test_text_diffusers(void) { check_text(LAYOUTS[0]); }
static void test_text_single_file(void) { check_text(LAYOUTS[1]); }
static void test_unet_diffusers(void)
{
    check_unet("unet_sdxl", "tiny-sdxl", LAYOUTS[0]);
    check_unet("unet_sdxl_refiner", "tiny-sdxl-refiner", LAYOUTS[0]);
}
static void test_unet_single_file(void)
{
    check_unet("unet_sdxl", "tiny-sdxl", LAYOUTS[1]);
    check_unet("unet_sdxl_refiner", "tiny-sdxl-refiner", LAYOUTS[1]);
}
static void test_vae_both(void)
{
    check_vae(LAYOUTS[0]);
    check_vae(LAYOUTS[1]);
}
static void test_pipeline_diffusers(void) { check_pipeline(LAYOUTS[0]); }
static void test_pipeline_single_file(void) { check_pipeline(LAYOUTS[1]); }

int main(void)
{
    DF_RUN(test_text_diffusers);
    DF_RUN(test_text_single_file);
    DF_RUN(test_unet_diffusers);
    DF_RUN(test_unet_single_file);
    DF_RUN(test_vae_both);
    DF_RUN(test_pipeline_diffusers);
    DF_RUN(test_pipeline_single_file);
    DF_RUN(test_refusals);
    return df_test_finish();
}
