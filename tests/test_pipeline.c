/*
 * test_pipeline.c — whole generations against diffusers' pipelines on the
 * tiny models (tools/make_pipeline_fixtures.py): every sampler, Karras,
 * spacings, negative prompts, no-CFG, clip skip, batches, non-square sizes,
 * v-prediction (tiny-sd2) and img2img. Compares the final latents (relative
 * to their scale) and the 8-bit images (levels), and reports both per case.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/image.h"
#include "io/safetensors.h"

/* Float32 differences grow through the steps of a sampler; diffusers' own
 * float32 run is the reference, so this bounds our accumulated rounding. */
#define LATENT_TOLERANCE 1e-4
#define PIXEL_TOLERANCE 1

static const char *string_field(json_t *object, const char *key, const char *fallback)
{
    const char *value = json_string_value(json_object_get(object, key));
    return value ? value : fallback;
}

static int cancel_after_two(void *user, const df_progress *progress)
{
    (void)user;
    return progress->step >= 2;
}

static void check_file(const char *family)
{
    char path[128], model_path[64];
    snprintf(path, sizeof path, "tests/fixtures/reference/pipeline_%s.safetensors", family);
    snprintf(model_path, sizeof model_path, "tests/fixtures/tiny-%s", family);
    df_error error = {0};
    df_safetensors *reference = NULL;
    REQUIRE(df_safetensors_open(df_test_path(path), &reference, &error) == DF_OK);
    json_t *cases = json_loads(df_safetensors_metadata(reference, "cases"), 0, NULL);
    REQUIRE(json_is_array(cases));
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    REQUIRE(df_runtime_create(0, &runtime, &error) == DF_OK);
    REQUIRE(df_model_open(runtime, df_test_path(model_path), &model, &error) == DF_OK);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *item = json_array_get(cases, c);
        const char *name = string_field(item, "name", "?");
        df_generate_request request;
        df_generate_request_init(&request);
        request.prompt = string_field(item, "prompt", "");
        request.negative_prompt = string_field(item, "negative_prompt", "");
        request.sampler = string_field(item, "sampler", NULL);
        request.schedule = string_field(item, "schedule", NULL);
        request.spacing = string_field(item, "spacing", NULL);
        request.steps = (int)json_integer_value(json_object_get(item, "steps"));
        request.guidance_scale = (float)json_number_value(json_object_get(item, "guidance_scale"));
        request.seed = json_integer_value(json_object_get(item, "seed"));
        request.width = (int)json_integer_value(json_object_get(item, "width"));
        request.height = (int)json_integer_value(json_object_get(item, "height"));
        request.batch = (int)json_integer_value(json_object_get(item, "batch"));
        request.clip_skip = (int)json_integer_value(json_object_get(item, "clip_skip"));
        request.eta = (float)json_number_value(json_object_get(item, "eta"));
        df_image init = {0};
        const char *init_path = json_string_value(json_object_get(item, "init_image"));
        if (init_path) {
            REQUIRE(df_image_read(df_test_path(init_path), 0, &init, &error) == DF_OK);
            request.init_pixels = init.pixels;
            request.init_width = init.width;
            request.init_height = init.height;
            request.strength = (float)json_number_value(json_object_get(item, "strength"));
        }
        df_generate_result result;
        df_status status = df_model_generate(model, &request, &result, &error);
        CHECKF(status == DF_OK, "%s/%s: %s", family, name, error.message);
        char key[128];
        snprintf(key, sizeof key, "%s.latents", name);
        const df_st_tensor *want_latents = df_safetensors_find(reference, key);
        snprintf(key, sizeof key, "%s.image", name);
        const df_st_tensor *want_image = df_safetensors_find(reference, key);
        if (status == DF_OK && want_latents && want_image) {
            size_t latent_count = (size_t)result.count * (size_t)result.latent_channels *
                                  (size_t)result.latent_height * (size_t)result.latent_width;
            size_t want_count = 1;
            for (int d = 0; d < want_latents->ndim; d++)
                want_count *= (size_t)want_latents->shape[d];
            CHECKF(latent_count == want_count, "%s/%s: %zu latents, reference has %zu", family,
                   name, latent_count, want_count);
            double max_error = 0, scale = 0;
            const float *want = want_latents->data;
            for (size_t i = 0; latent_count == want_count && i < latent_count; i++) {
                double difference = fabs((double)result.latents[i] - want[i]);
                max_error = isnan(difference) ? INFINITY : fmax(max_error, difference);
                scale = fmax(scale, fabs(want[i]));
            }
            size_t pixel_count = (size_t)result.count * (size_t)result.width * (size_t)result.height * 3;
            int max_level = 0;
            const float *want_pixels = want_image->data;
            for (size_t i = 0; latent_count == want_count && i < pixel_count; i++) {
                int difference = abs((int)result.pixels[i] - (int)want_pixels[i]);
                if (difference > max_level)
                    max_level = difference;
            }
            printf("  %s/%-24s latents max abs error %.3g (scale %.3g, relative %.3g), "
                   "pixels max %d level(s)\n",
                   family, name, max_error, scale, max_error / scale, max_level);
            CHECKF(max_error <= LATENT_TOLERANCE * scale, "%s/%s: latent error %.3g", family,
                   name, max_error / scale);
            CHECKF(max_level <= PIXEL_TOLERANCE, "%s/%s: pixels differ by %d levels", family, name,
                   max_level);
            CHECK(result.infotexts && strstr(result.infotexts[0], "Steps: "));
        } else if (status == DF_OK) {
            CHECKF(0, "%s/%s: reference tensors missing", family, name);
        }
        df_generate_result_free(&result);
        df_image_free(&init);
    }
    json_decref(cases);
    df_model_free(model);
    df_runtime_free(runtime);
    df_safetensors_close(reference);
}

static void test_sd1(void) { check_file("sd1"); }
static void test_sd2(void) { check_file("sd2"); }

/* Bad requests name the field; cancelling from the callback stops the run. */
static void test_bad_requests_and_cancel(void)
{
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    REQUIRE(df_model_open(runtime, df_test_path("tests/fixtures/tiny-sd1"), &model, &error) == DF_OK);
    df_generate_request request;
    df_generate_result result;
    struct {
        const char *field;
        void (*set)(df_generate_request *);
    } cases[] = {
        {"steps", NULL}, {"size", NULL}, {"guidance", NULL}, {"batch", NULL},
        {"is not one of", NULL}, {"Euler a", NULL}, {"strength", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        df_generate_request_init(&request);
        request.prompt = "a cat";
        uint8_t pixel[16 * 16 * 3] = {0};
        switch (i) {
        case 0: request.steps = 0; break;
        case 1: request.width = 18; break;
        case 2: request.guidance_scale = NAN; break;
        case 3: request.batch = 1000; break;
        case 4: request.rng = "quantum"; break;
        case 5: request.sampler = "Euler b"; break;
        case 6:
            request.init_pixels = pixel, request.init_width = 16, request.init_height = 16;
            request.strength = 1.5f;
            break;
        }
        df_status status = df_model_generate(model, &request, &result, &error);
        CHECKF(status == DF_ERR_INVALID_ARGUMENT, "case %zu: status %d", i, status);
        CHECKF(strstr(error.message, cases[i].field) != NULL, "case %zu: '%s' lacks '%s'", i,
               error.message, cases[i].field);
        CHECK(result.pixels == NULL);
    }
    df_generate_request_init(&request);
    request.prompt = "a cat";
    request.steps = 10;
    request.progress = cancel_after_two;
    CHECK(df_model_generate(model, &request, &result, &error) == DF_ERR_CANCELLED);
    CHECKF(strstr(error.message, "step 2 of ") != NULL, "%s", error.message);

    /* A1111-style batches: image i equals a lone generation with seed + i. */
    df_generate_request_init(&request);
    request.prompt = "a red cube";
    request.steps = 4;
    request.seed = 77;
    request.batch = 2;
    request.seed_mode = DF_SEED_PER_IMAGE;
    request.sampler = "Euler a";
    REQUIRE(df_model_generate(model, &request, &result, &error) == DF_OK);
    df_generate_result alone;
    request.batch = 1;
    request.seed = 78;
    REQUIRE(df_model_generate(model, &request, &alone, &error) == DF_OK);
    size_t bytes = (size_t)alone.width * (size_t)alone.height * 3;
    CHECK(result.seeds[1] == 78);
    CHECK(!memcmp(result.pixels + bytes, alone.pixels, bytes));
    df_generate_result_free(&alone);
    df_generate_result_free(&result);
    df_model_free(model);
    df_runtime_free(runtime);
}


/* Generates with `sampler` (NULL: the checkpoint's) on the model copy whose
 * scheduler config is `json`; the final latents go to *latents (caller frees). */
static df_status generate_with_config(df_runtime *runtime, const char *dir, const char *json,
                                      const char *sampler, float **latents, size_t *count,
                                      char *infotext, size_t infotext_size, df_error *error)
{
    *latents = NULL;
    if (!df_test_write_scheduler_config(dir, json)) {
        snprintf(error->message, sizeof error->message, "cannot write the scheduler config");
        return DF_ERR_IO;
    }
    df_model *model = NULL;
    df_status status = df_model_open(runtime, dir, &model, error);
    if (status)
        return status;
    df_generate_request request;
    df_generate_request_init(&request);
    request.prompt = "a lighthouse";
    request.steps = 5;
    request.seed = 11;
    request.sampler = sampler;
    df_generate_result result;
    status = df_model_generate(model, &request, &result, error);
    if (!status) {
        *count = (size_t)result.latent_channels * (size_t)result.latent_height *
                 (size_t)result.latent_width;
        *latents = malloc(*count * sizeof(float));
        if (*latents)
            memcpy(*latents, result.latents, *count * sizeof(float));
        snprintf(infotext, infotext_size, "%s", result.infotexts[0]);
        df_generate_result_free(&result);
    }
    df_model_free(model);
    return status;
}

/* A sampler chosen on a checkpoint whose scheduler config leaves keys out
 * runs with that sampler's own defaults for them (diffusers' from_config):
 * DDIM on an SD-Turbo / SDXL style Euler config clips and sets alpha to one,
 * exactly as if the config said so. */
static void test_scheduler_config_defaults(void)
{
    df_error error = {0};
    df_runtime *runtime = NULL;
    REQUIRE(df_runtime_create(1, &runtime, &error) == DF_OK);
    char dir[64];
    REQUIRE(df_test_copy_model("tests/fixtures/tiny-sd1", NULL, NULL, dir, sizeof dir));
    static const char minimal[] =
        "{\"_class_name\": \"EulerDiscreteScheduler\", \"beta_start\": 0.00085, "
        "\"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\"}";
    /* DDIMScheduler.__init__'s defaults for the keys left out above. */
    static const char ddim_spelled_out[] =
        "{\"_class_name\": \"EulerDiscreteScheduler\", \"beta_start\": 0.00085, "
        "\"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"clip_sample\": true, "
        "\"set_alpha_to_one\": true, \"steps_offset\": 0, \"timestep_spacing\": \"leading\"}";
    /* What the SD 1.5 config sets instead. */
    static const char sd15_values[] =
        "{\"_class_name\": \"EulerDiscreteScheduler\", \"beta_start\": 0.00085, "
        "\"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"clip_sample\": false, "
        "\"set_alpha_to_one\": false, \"steps_offset\": 1}";
    float *a = NULL, *b = NULL, *c = NULL;
    size_t na = 0, nb = 0, nc = 0;
    char info[2048];
    CHECKF(generate_with_config(runtime, dir, minimal, "DDIM", &a, &na, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    CHECKF(generate_with_config(runtime, dir, ddim_spelled_out, "DDIM", &b, &nb, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    CHECKF(generate_with_config(runtime, dir, sd15_values, "DDIM", &c, &nc, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    if (a && b && c) {
        CHECK(na == nb && nb == nc);
        CHECKF(!memcmp(a, b, na * sizeof(float)),
               "DDIM on a minimal Euler config differs from DDIM's own defaults");
        CHECKF(memcmp(a, c, na * sizeof(float)) != 0,
               "DDIM on a minimal Euler config ran with the SD 1.5 values");
    }
    free(a), free(b), free(c);
    a = b = NULL;

    /* A DPMSolverMultistepScheduler config as save_config writes it
     * (-Infinity), used as the checkpoint's own scheduler: its
     * algorithm_type picks DPM++ 2M SDE, the same run as naming it. */
    static const char dpm_sde[] =
        "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"algorithm_type\": "
        "\"sde-dpmsolver++\", \"beta_start\": 0.00085, \"beta_end\": 0.012, "
        "\"beta_schedule\": \"scaled_linear\", \"lambda_min_clipped\": -Infinity, "
        "\"solver_order\": 2, \"steps_offset\": 1, \"variance_type\": null}";
    CHECKF(generate_with_config(runtime, dir, dpm_sde, NULL, &a, &na, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    CHECKF(strstr(info, "Sampler: DPM++ 2M SDE") != NULL, "%s", info);
    CHECKF(generate_with_config(runtime, dir, dpm_sde, "DPM++ 2M SDE", &b, &nb, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    if (a && b)
        CHECK(na == nb && !memcmp(a, b, na * sizeof(float)));
    free(a), free(b);
    a = NULL;

    /* A setting only some classes read refuses only those. */
    static const char zero_snr[] =
        "{\"_class_name\": \"DDIMScheduler\", \"beta_start\": 0.00085, \"beta_end\": 0.012, "
        "\"beta_schedule\": \"scaled_linear\", \"rescale_betas_zero_snr\": true}";
    CHECKF(generate_with_config(runtime, dir, zero_snr, "Heun", &a, &na, info, sizeof info,
                                &error) == DF_OK, "%s", error.message);
    free(a);
    a = NULL;
    CHECK(generate_with_config(runtime, dir, zero_snr, "Euler", &a, &na, info, sizeof info,
                               &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "rescale_betas_zero_snr") && strstr(error.message, "Euler"), "%s",
           error.message);
    CHECK(a == NULL);
    df_test_remove_tree(dir);
    df_runtime_free(runtime);
}

int main(void)
{
    DF_RUN(test_sd1);
    DF_RUN(test_sd2);
    DF_RUN(test_bad_requests_and_cancel);
    DF_RUN(test_scheduler_config_defaults);
    return df_test_finish();
}
