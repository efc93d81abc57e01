/*
 * test_decoder.c — the TAESD final decoder (request.decoder "taesd") and the
 * few-step presets, against diffusers' StableDiffusionPipeline with
 * vae=AutoencoderTiny on the tiny SD 1.x model
 * (tools/make_decoder_fixtures.py): final latents and 8-bit images within
 * test_pipeline.c's bounds, the default size (the UNet's sample size times
 * TAESD's 8), batches, the turbo preset on an SD-Turbo scheduler config and
 * the lcm preset. And the requests that must fail, each naming its field.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/safetensors.h"

/* test_pipeline.c's bounds: the same float32 pipeline, another decoder. */
#define LATENT_TOLERANCE 1e-4
#define PIXEL_TOLERANCE 1

#define MODEL "tests/fixtures/tiny-sd1"
#define TAESD "tests/fixtures/tiny-taesd"

static const char *string_field(json_t *object, const char *key, const char *fallback)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : fallback;
}


/* Compares one generation with the case's reference tensors; prints both
 * errors, as test_pipeline.c does. */
static void compare(const df_safetensors *reference, const char *name,
                    const df_generate_result *result)
{
    char key[128];
    snprintf(key, sizeof key, "%s.latents", name);
    const df_st_tensor *want_latents = df_safetensors_find(reference, key);
    snprintf(key, sizeof key, "%s.image", name);
    const df_st_tensor *want_image = df_safetensors_find(reference, key);
    REQUIRE(want_latents && want_image && want_image->ndim == 4);
    size_t latent_count = (size_t)result->count * (size_t)result->latent_channels *
                          (size_t)result->latent_height * (size_t)result->latent_width;
    size_t want_count = 1;
    for (int d = 0; d < want_latents->ndim; d++)
        want_count *= (size_t)want_latents->shape[d];
    REQUIRE(latent_count == want_count);
    CHECKF(result->height == (int)want_image->shape[1] && result->width == (int)want_image->shape[2],
           "%s: image %dx%d, reference %lldx%lld", name, result->width, result->height,
           (long long)want_image->shape[2], (long long)want_image->shape[1]);
    if (result->height != (int)want_image->shape[1] || result->width != (int)want_image->shape[2])
        return;
    double max_error = 0, scale = 0;
    const float *want = want_latents->data;
    for (size_t i = 0; i < latent_count; i++) {
        double difference = fabs((double)result->latents[i] - want[i]);
        max_error = isnan(difference) ? INFINITY : fmax(max_error, difference);
        scale = fmax(scale, fabs(want[i]));
    }
    size_t pixel_count = (size_t)result->count * (size_t)result->width * (size_t)result->height * 3;
    int max_level = 0;
    const float *want_pixels = want_image->data;
    for (size_t i = 0; i < pixel_count; i++) {
        int difference = abs((int)result->pixels[i] - (int)want_pixels[i]);
        if (difference > max_level)
            max_level = difference;
    }
    printf("  taesd/%-20s latents max abs error %.3g (scale %.3g, relative %.3g), pixels max %d "
           "level(s)\n",
           name, max_error, scale, max_error / scale, max_level);
    CHECKF(max_error <= LATENT_TOLERANCE * scale, "%s: latent error %.3g", name, max_error / scale);
    CHECKF(max_level <= PIXEL_TOLERANCE, "%s: pixels differ by %d levels", name, max_level);
}

/* Every case of the reference, each on a fresh model (a copy of tiny-sd1
 * when the case brings its own scheduler config), with the TAESD folder, and
 * once more with the original taesd_decoder file for the first case. */
static void test_taesd_decoder_matches_diffusers(void)
{
    df_error error = {0};
    df_safetensors *reference = NULL;
    REQUIRE(df_safetensors_open(df_test_path("tests/fixtures/reference/pipeline_taesd.safetensors"),
                                &reference, &error) == DF_OK);
    json_t *cases = json_loads(df_safetensors_metadata(reference, "cases"), 0, NULL);
    REQUIRE(json_is_array(cases));
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *item = json_array_get(cases, c);
        const char *name = string_field(item, "name", "?");
        const char *config = json_string_value(json_object_get(item, "scheduler_config"));
        const char *preset_name = json_string_value(json_object_get(item, "preset"));
        char dir[64] = "";
        const char *model_path = df_test_path(MODEL);
        if (config) {
            REQUIRE(df_test_copy_model(MODEL, NULL, NULL, dir, sizeof dir));
            REQUIRE(df_test_write_scheduler_config(dir, config));
            model_path = dir;
        }
        for (int file = 0; file < (c == 0 ? 2 : 1); file++) {
            df_model *model = NULL;
            REQUIRE(df_model_open(runtime, model_path, &model, &error) == DF_OK);
            REQUIRE(df_model_load_taesd(model,
                                        df_test_path(file ? "tests/fixtures/tiny-taesd-decoder.safetensors"
                                                          : TAESD),
                                        &error) == DF_OK);
            df_generate_request request;
            df_generate_request_init(&request);
            request.prompt = string_field(item, "prompt", "");
            request.negative_prompt = string_field(item, "negative_prompt", "");
            request.seed = json_integer_value(json_object_get(item, "seed"));
            request.width = (int)json_integer_value(json_object_get(item, "width"));
            request.height = (int)json_integer_value(json_object_get(item, "height"));
            request.batch = (int)json_integer_value(json_object_get(item, "batch"));
            request.decoder = "taesd";
            const int steps = (int)json_integer_value(json_object_get(item, "steps"));
            const double guidance = json_number_value(json_object_get(item, "guidance_scale"));
            if (preset_name) {
                /* The preset alone must give the reference's settings. */
                const df_preset *preset = NULL;
                REQUIRE(df_preset_find(preset_name, &preset, &error) == DF_OK);
                df_preset_apply(preset, 0, &request);
                CHECKF(request.steps == steps && request.guidance_scale == (float)guidance,
                       "%s: preset gives %d steps, guidance %g", name, request.steps,
                       request.guidance_scale);
            } else {
                request.sampler = string_field(item, "sampler", NULL);
                request.schedule = string_field(item, "schedule", NULL);
                request.spacing = string_field(item, "spacing", NULL);
                request.steps = steps;
                request.guidance_scale = (float)guidance;
            }
            df_generate_result result;
            df_status status = df_model_generate(model, &request, &result, &error);
            CHECKF(status == DF_OK, "%s: %s", name, error.message);
            if (status == DF_OK)
                compare(reference, name, &result);
            df_generate_result_free(&result);
            df_model_free(model);
        }
        if (*dir)
            df_test_remove_tree(dir);
    }
    json_decref(cases);
    df_runtime_free(runtime);
    df_safetensors_close(reference);
}

/* Bad decoder values and a TAESD-less model name the field and the fix;
 * "vae" and NULL are the VAE, byte for byte. */
static void test_decoder_requests(void)
{
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    REQUIRE(df_model_open(runtime, df_test_path(MODEL), &model, &error) == DF_OK);
    df_generate_request request;
    df_generate_request_init(&request);
    request.prompt = "a cat";
    request.steps = 2;
    request.seed = 3;
    df_generate_result result, vae;
    size_t bytes = 0;

    request.decoder = "taesd"; /* none loaded */
    CHECK(df_model_generate(model, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "decoder") && strstr(error.message, "--taesd"), "%s",
           error.message);
    CHECK(result.pixels == NULL);
    CHECK(df_model_estimate_memory(model, &request, &bytes, &error) == DF_ERR_INVALID_ARGUMENT);
    request.decoder = "tiny";
    CHECK(df_model_generate(model, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "decoder 'tiny'") && strstr(error.message, "vae, taesd"), "%s",
           error.message);

    request.decoder = NULL;
    REQUIRE(df_model_generate(model, &request, &vae, &error) == DF_OK);
    request.decoder = "vae";
    REQUIRE(df_model_generate(model, &request, &result, &error) == DF_OK);
    CHECK(result.width == vae.width &&
          !memcmp(result.pixels, vae.pixels, (size_t)vae.width * (size_t)vae.height * 3));
    df_generate_result_free(&result);

    /* img2img with TAESD decoding needs a VAE of TAESD's 8x scale to encode:
     * the tiny VAE is 2x. */
    REQUIRE(df_model_load_taesd(model, df_test_path(TAESD), &error) == DF_OK);
    uint8_t pixels[32 * 32 * 3];
    memset(pixels, 90, sizeof pixels);
    request.decoder = "taesd";
    request.init_pixels = pixels;
    request.init_width = request.init_height = 32;
    CHECK(df_model_generate(model, &request, &result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "decoder taesd") && strstr(error.message, "scale"), "%s",
           error.message);
    /* The same latents, TAESD-decoded: the latents are the VAE run's. */
    request.init_pixels = NULL;
    request.width = request.height = vae.width * 4; /* the same 8x8 latents at TAESD's 8x */
    REQUIRE(df_model_generate(model, &request, &result, &error) == DF_OK);
    CHECK(result.latent_width == vae.latent_width && result.width == vae.latent_width * 8);
    CHECK(!memcmp(result.latents, vae.latents,
                  (size_t)vae.latent_channels * vae.latent_height * vae.latent_width *
                      sizeof(float)));
    CHECKF(!strstr(result.infotexts[0], "VAE"), "%s", result.infotexts[0]);
    df_generate_result_free(&result);
    df_generate_result_free(&vae);
    df_model_free(model);
    df_runtime_free(runtime);
}

/* Presets fill what the caller left; explicit values win; unknown names
 * are refused naming "preset" and the valid ones. */
static void test_presets(void)
{
    df_error error = {0};
    const df_preset *turbo = NULL, *lcm = NULL, *bad = NULL;
    REQUIRE(df_preset_find("turbo", &turbo, &error) == DF_OK);
    REQUIRE(df_preset_find("lcm", &lcm, &error) == DF_OK);
    CHECK(df_preset_find("Turbo!", &bad, &error) == DF_ERR_INVALID_ARGUMENT && !bad);
    CHECKF(strstr(error.message, "preset 'Turbo!'") && strstr(error.message, "turbo, lcm"), "%s",
           error.message);
    CHECK(df_preset_find(NULL, &bad, &error) == DF_ERR_INVALID_ARGUMENT);

    df_generate_request request;
    df_generate_request_init(&request);
    df_preset_apply(turbo, 0, &request);
    CHECK(request.steps == 1 && request.guidance_scale == 0.0f && request.sampler == NULL &&
          !strcmp(request.spacing, "trailing"));
    df_generate_request_init(&request);
    request.steps = 2;
    request.guidance_scale = 1.5f;
    request.spacing = "leading";
    request.sampler = "Euler a";
    df_preset_apply(turbo, DF_PRESET_KEEP_STEPS | DF_PRESET_KEEP_GUIDANCE, &request);
    CHECK(request.steps == 2 && request.guidance_scale == 1.5f &&
          !strcmp(request.spacing, "leading") && !strcmp(request.sampler, "Euler a"));
    df_generate_request_init(&request);
    request.sampler = "";
    df_preset_apply(lcm, DF_PRESET_KEEP_GUIDANCE, &request);
    CHECK(request.steps == 4 && request.guidance_scale == 7.5f && !strcmp(request.sampler, "lcm") &&
          request.spacing == NULL);
}

int main(void)
{
    DF_RUN(test_taesd_decoder_matches_diffusers);
    DF_RUN(test_decoder_requests);
    DF_RUN(test_presets);
    return df_test_finish();
}
