/*
 * test_taesd.c — TAESD against diffusers' AutoencoderTiny.
 *
 * Reference: tests/fixtures/reference/taesd.safetensors (decode.latents →
 * decode.image, encode.image → encode.latents, computed in float64 by
 * diffusers' AutoencoderTiny.decode/encode) for the tiny TAESD in both
 * namings: tests/fixtures/tiny-taesd/ (diffusers folder) and
 * tiny-taesd-decoder.safetensors / tiny-taesd-encoder.safetensors (taesd's
 * own naming). DF_VAE_FIXTURES may name another folder holding all of them
 * (development). Also: decoder-only and encoder-only files, sizes, and a
 * file with neither naming.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diffuse.h"
#include "harness.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "models/taesd.h"
#include "runtime/threads.h"

/* Stated tolerance: max abs error <= 1e-4 of the output's max magnitude. */
#define RELATIVE_TOLERANCE 1e-4

static double worst_relative_error;

static const char *fixture(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    const char *dir = getenv("DF_VAE_FIXTURES");
    if (dir && *dir) {
        const char *base = strrchr(name, '/');
        snprintf(p, 512, "%s/%s", dir, base ? base + 1 : name);
    } else {
        snprintf(p, 512, "%s", df_test_path(name));
    }
    return p;
}

static void compare(const char *label, const float *got, const float *want, int64_t count)
{
    double max_error = 0, scale = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= max_error))
            max_error = e;
        if (fabs((double)want[i]) > scale)
            scale = fabs((double)want[i]);
    }
    double relative = max_error / (scale > 0 ? scale : 1);
    if (!(relative <= worst_relative_error))
        worst_relative_error = relative;
    printf("  %-40s max abs error %.3g, output scale %.3g, relative %.3g\n", label, max_error,
           scale, relative);
    CHECKF(relative <= RELATIVE_TOLERANCE, "%s: relative error %.3g", label, relative);
}

static int64_t numel(const df_st_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static void check_decode(df_taesd *taesd, const df_safetensors *ref, const char *label)
{
    const df_st_tensor *z = df_safetensors_find(ref, "decode.latents");
    const df_st_tensor *want = df_safetensors_find(ref, "decode.image");
    REQUIRE(z && want && z->ndim == 4 && want->ndim == 4);
    CHECK(df_taesd_latent_channels(taesd) == z->shape[1]);
    float *image = calloc((size_t)numel(want), sizeof *image);
    df_error error = {0};
    df_status status = df_taesd_decode(taesd, z->data, (int)z->shape[0], (int)z->shape[2],
                                       (int)z->shape[3], image, &error);
    CHECKF(status == DF_OK, "%s", error.message);
    char name[256];
    snprintf(name, sizeof name, "%s decode", label);
    if (status == DF_OK)
        compare(name, image, want->data, numel(want));
    free(image);
}

static void check_encode(df_taesd *taesd, const df_safetensors *ref, const char *label)
{
    const df_st_tensor *x = df_safetensors_find(ref, "encode.image");
    const df_st_tensor *want = df_safetensors_find(ref, "encode.latents");
    REQUIRE(x && want && x->ndim == 4 && want->ndim == 4);
    float *latents = calloc((size_t)numel(want), sizeof *latents);
    df_error error = {0};
    df_status status = df_taesd_encode(taesd, x->data, (int)x->shape[0], (int)x->shape[2],
                                       (int)x->shape[3], latents, &error);
    CHECKF(status == DF_OK, "%s", error.message);
    char name[256];
    snprintf(name, sizeof name, "%s encode", label);
    if (status == DF_OK)
        compare(name, latents, want->data, numel(want));
    free(latents);
}

static void check_path(const char *path, int threads, int can_decode, int can_encode)
{
    df_safetensors *ref = NULL;
    df_error error = {0};
    REQUIRE(df_safetensors_open(fixture("tests/fixtures/reference/taesd.safetensors"), &ref,
                                &error) == DF_OK);
    df_pool *pool = df_pool_create(threads);
    df_taesd *taesd = NULL;
    df_status status = df_taesd_open(path, pool, &taesd, &error);
    CHECKF(status == DF_OK, "%s: %s", path, error.message);
    if (status == DF_OK) {
        const char *base = strrchr(path, '/');
        char label[200];
        snprintf(label, sizeof label, "%s t%d", base ? base + 1 : path, threads);
        CHECK(df_taesd_can_decode(taesd) == can_decode);
        CHECK(df_taesd_can_encode(taesd) == can_encode);
        if (can_decode)
            check_decode(taesd, ref, label);
        if (can_encode)
            check_encode(taesd, ref, label);
        float dummy[64] = {0};
        if (!can_decode)
            CHECK(df_taesd_decode(taesd, dummy, 1, 1, 1, dummy, &error) == DF_ERR_UNSUPPORTED);
        if (!can_encode)
            CHECK(df_taesd_encode(taesd, dummy, 1, 8, 8, dummy, &error) == DF_ERR_UNSUPPORTED);
    }
    df_taesd_free(taesd);
    df_pool_free(pool);
    df_safetensors_close(ref);
}

static void test_diffusers_folder(void)
{
    check_path(fixture("tests/fixtures/tiny-taesd"), 2, 1, 1);
    check_path(fixture("tests/fixtures/tiny-taesd"), 1, 1, 1);
}

static void test_diffusers_file(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors",
             fixture("tests/fixtures/tiny-taesd"));
    check_path(path, 2, 1, 1);
}

static void test_original_files(void)
{
    check_path(fixture("tests/fixtures/tiny-taesd-decoder.safetensors"), 2, 1, 0);
    check_path(fixture("tests/fixtures/tiny-taesd-encoder.safetensors"), 1, 0, 1);
}

static void test_bad_input(void)
{
    df_error error = {0};
    df_taesd *taesd = NULL;
    /* Neither naming. */
    char path[256];
    snprintf(path, sizeof path, "/tmp/df_test_taesd_%d.safetensors", (int)getpid());
    float value[9] = {0};
    df_st_output out = {"model.conv.weight", DF_ST_F32, 4, {1, 1, 3, 3}, value};
    REQUIRE(df_safetensors_write(path, &out, 1, &error) == DF_OK);
    CHECK(df_taesd_open(path, NULL, &taesd, &error) == DF_ERR_FORMAT);
    CHECK(taesd == NULL);
    CHECKF(strstr(error.message, "not a TAESD file") && strstr(error.message, "model.conv.weight"),
           "%s", error.message);
    printf("  error: %s\n", error.message);
    unlink(path);
    CHECK(df_taesd_open("/nonexistent/taesd", NULL, &taesd, &error) == DF_ERR_IO);

    /* Sizes. */
    REQUIRE(df_taesd_open(fixture("tests/fixtures/tiny-taesd"), NULL, &taesd, &error) == DF_OK);
    float *buffer = calloc(3 * 64 * 64, sizeof *buffer), *result = calloc(3 * 64 * 64, sizeof *result);
    error = (df_error){0};
    CHECK(df_taesd_encode(taesd, buffer, 1, 60, 64, result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "multiple of 8"), "%s", error.message);
    CHECK(df_taesd_decode(taesd, buffer, 0, 4, 4, result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_taesd_decode(taesd, buffer, 1, 4, 100000, result, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_taesd_decode(taesd, NULL, 1, 4, 4, result, &error) == DF_ERR_INVALID_ARGUMENT);
    /* Odd latent sizes decode. */
    CHECKF(df_taesd_decode(taesd, buffer, 1, 3, 5, result, &error) == DF_OK, "%s", error.message);
    free(buffer);
    free(result);
    df_taesd_free(taesd);
}

int main(void)
{
    DF_RUN(test_diffusers_folder);
    DF_RUN(test_diffusers_file);
    DF_RUN(test_original_files);
    DF_RUN(test_bad_input);
    printf("worst relative error: %.3g (tolerance %.0e)\n", worst_relative_error,
           RELATIVE_TOLERANCE);
    return df_test_finish();
}
