/*
 * test_vae.c — AutoencoderKL (decoder, encoder, tiled decoding) against
 * diffusers.
 *
 * References: tests/fixtures/reference/vae_sd{1,2}.safetensors, computed in
 * float64 by diffusers for the committed tiny VAEs (decode, decode_batch,
 * encode, tiled with enable_tiling and the tile size in the "tiling"
 * metadata; encode_batch and tiled_odd when present). DF_VAE_FIXTURES may
 * name another folder holding vae_sd1/vae_sd2.safetensors (for development
 * while the committed ones are regenerated). Each family runs in every
 * layout: the diffusers folder, the single file, and standalone VAE files
 * opened with df_checkpoint_open_vae (the vae/ folder, its diffusers-named
 * file, and an LDM-named file made here from the single file). Also the
 * errors: sizes, latent channel mismatch, missing and misshapen tensors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "diffuse.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "models/vae.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

/* Stated tolerance: max abs error <= 1e-4 of the output's max magnitude. */
#define RELATIVE_TOLERANCE 1e-4

static double worst_relative_error;

static const char *reference_path(const char *family)
{
    static char path[512];
    const char *dir = getenv("DF_VAE_FIXTURES");
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/vae_%s.safetensors", dir, family);
    else
        snprintf(path, sizeof path, "%s",
                 df_test_path(family[2] == '1' ? "tests/fixtures/reference/vae_sd1.safetensors"
                                               : "tests/fixtures/reference/vae_sd2.safetensors"));
    return path;
}

static int64_t numel(const df_st_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static const float *tensor(const df_safetensors *ref, const char *name, int64_t *count)
{
    const df_st_tensor *t = df_safetensors_find(ref, name);
    if (!t || t->st_dtype != DF_ST_F32)
        return NULL;
    if (count)
        *count = numel(t);
    return t->data;
}

/* Compares and records; returns the relative error. */
static double compare(const char *label, const float *got, const float *want, int64_t count)
{
    double max_error = 0, scale = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= max_error))
            max_error = e; /* NaN sticks */
        if (fabs((double)want[i]) > scale)
            scale = fabs((double)want[i]);
    }
    double relative = max_error / (scale > 0 ? scale : 1);
    if (!(relative <= worst_relative_error))
        worst_relative_error = relative;
    printf("  %-44s max abs error %.3g, output scale %.3g, relative %.3g\n", label, max_error,
           scale, relative);
    CHECKF(relative <= RELATIVE_TOLERANCE, "%s: relative error %.3g", label, relative);
    return relative;
}

/* decode/encode/tiled cases of one reference against an open VAE. */
static void check_cases(df_vae *vae, const df_safetensors *ref, const char *label)
{
    char name[512];
    df_error error = {0};
    const df_vae_config *cfg = df_vae_get_config(vae);
    const int ds = cfg->downscale, lc = cfg->latent_channels;
    static const char *const decodes[] = {"decode", "decode_batch"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.latents", decodes[i]);
        const df_st_tensor *z = df_safetensors_find(ref, name);
        snprintf(name, sizeof name, "%s.image", decodes[i]);
        int64_t count = 0;
        const float *want = tensor(ref, name, &count);
        REQUIRE(z && want && z->ndim == 4 && z->shape[1] == lc);
        float *image = calloc((size_t)count, sizeof *image);
        REQUIRE(image);
        df_status status = df_vae_decode(vae, z->data, (int)z->shape[0], (int)z->shape[2],
                                         (int)z->shape[3], image, &error);
        CHECKF(status == DF_OK, "%s", error.message);
        CHECK(count == z->shape[0] * 3 * z->shape[2] * ds * z->shape[3] * ds);
        snprintf(name, sizeof name, "%s %s", label, decodes[i]);
        if (status == DF_OK)
            compare(name, image, want, count);
        free(image);
    }

    static const char *const encodes[] = {"encode", "encode_batch"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.image", encodes[i]);
        const df_st_tensor *x = df_safetensors_find(ref, name);
        if (!x && i == 1)
            continue; /* optional */
        int64_t count = 0;
        snprintf(name, sizeof name, "%s.mean", encodes[i]);
        const float *want_mean = tensor(ref, name, &count);
        snprintf(name, sizeof name, "%s.logvar", encodes[i]);
        const float *want_logvar = tensor(ref, name, NULL);
        REQUIRE(x && want_mean && want_logvar && x->ndim == 4);
        float *mean = calloc((size_t)count, sizeof *mean);
        float *logvar = calloc((size_t)count, sizeof *logvar);
        REQUIRE(mean && logvar);
        df_status status = df_vae_encode(vae, x->data, (int)x->shape[0], (int)x->shape[2],
                                         (int)x->shape[3], mean, logvar, &error);
        CHECKF(status == DF_OK, "%s", error.message);
        if (status == DF_OK) {
            snprintf(name, sizeof name, "%s %s mean", label, encodes[i]);
            compare(name, mean, want_mean, count);
            snprintf(name, sizeof name, "%s %s logvar", label, encodes[i]);
            compare(name, logvar, want_logvar, count);
        }
        free(mean);
        free(logvar);
    }

    /* Tiled: the tile from the metadata; the overlap in latent pixels from
     * diffusers' stride ("latent_stride"), or from the overlap factor
     * ("overlap_factor", or "overlap" below 1) as diffusers derives it. When
     * the reference states its blend extent, it must be overlap * downscale. */
    const char *tiling = df_safetensors_metadata(ref, "tiling");
    json_t *meta = tiling ? json_loads(tiling, 0, NULL) : NULL;
    REQUIRE(json_is_object(meta));
    const int tile = (int)json_number_value(json_object_get(meta, "tile_latent"));
    int overlap;
    json_t *stride = json_object_get(meta, "latent_stride");
    json_t *factor = json_object_get(meta, "overlap_factor");
    if (!factor)
        factor = json_object_get(meta, "overlap");
    if (json_is_integer(stride))
        overlap = tile - (int)json_integer_value(stride);
    else if (json_number_value(factor) < 1)
        overlap = tile - (int)(tile * (1 - json_number_value(factor)));
    else
        overlap = (int)json_number_value(factor);
    json_t *blend = json_object_get(meta, "blend_extent");
    if (json_is_integer(blend))
        CHECK(json_integer_value(blend) == (json_int_t)overlap * ds);
    json_decref(meta);
    CHECKF(df_vae_set_tiling(vae, tile, overlap, &error) == DF_OK, "%s", error.message);
    static const char *const tiled[] = {"tiled", "tiled_odd"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.latents", tiled[i]);
        const df_st_tensor *z = df_safetensors_find(ref, name);
        if (!z && i == 1)
            continue;
        snprintf(name, sizeof name, "%s.image", tiled[i]);
        int64_t count = 0;
        const float *want = tensor(ref, name, &count);
        REQUIRE(z && want && z->ndim == 4);
        float *image = calloc((size_t)count, sizeof *image);
        REQUIRE(image);
        df_status status = df_vae_decode(vae, z->data, (int)z->shape[0], (int)z->shape[2],
                                         (int)z->shape[3], image, &error);
        CHECKF(status == DF_OK, "%s", error.message);
        snprintf(name, sizeof name, "%s %s (tile %d, overlap %d)", label, tiled[i], tile, overlap);
        if (status == DF_OK)
            compare(name, image, want, count);
        free(image);
    }
    CHECK(df_vae_set_tiling(vae, 0, 0, &error) == DF_OK);
}

typedef enum { OPEN_CHECKPOINT, OPEN_VAE } open_kind;

static void check_model(const char *family, const char *path, open_kind kind, int threads)
{
    df_safetensors *ref = NULL;
    df_error error = {0};
    df_status status = df_safetensors_open(reference_path(family), &ref, &error);
    CHECKF(status == DF_OK, "reference: %s", error.message);
    if (status)
        return;
    df_pool *pool = df_pool_create(threads);
    df_checkpoint *checkpoint = NULL;
    df_vae *vae = NULL;
    status = kind == OPEN_VAE ? df_checkpoint_open_vae(path, &checkpoint, &error)
                              : df_checkpoint_open(path, &checkpoint, &error);
    CHECKF(status == DF_OK, "%s: %s", path, error.message);
    if (status == DF_OK) {
        status = df_vae_load(checkpoint, pool, &vae, &error);
        CHECKF(status == DF_OK, "%s: %s", path, error.message);
    }
    if (status == DF_OK) {
        char label[200];
        const char *tail = strstr(path, "tests/fixtures/");
        snprintf(label, sizeof label, "%s t%d", tail ? tail + 15 : path, threads);
        CHECK(df_vae_check_latent_channels(vae, 4, &error) == DF_OK);
        CHECK(fabsf(df_vae_get_config(vae)->scaling_factor - 0.18215f) < 1e-7f);
        check_cases(vae, ref, label);
    }
    df_vae_free(vae);
    df_checkpoint_free(checkpoint);
    df_pool_free(pool);
    df_safetensors_close(ref);
}

static void test_sd1_diffusers(void)
{
    check_model("sd1", df_test_path("tests/fixtures/tiny-sd1"), OPEN_CHECKPOINT, 2);
}

static void test_sd1_single_file(void)
{
    check_model("sd1", df_test_path("tests/fixtures/tiny-sd1.safetensors"), OPEN_CHECKPOINT, 1);
}

/* Without Winograd: the direct convolutions and the upsamplers' phase conv
 * (made at load only then) against the same references. */
static void test_sd1_direct_convolutions(void)
{
    df_conv_set_winograd(0);
    check_model("sd1", df_test_path("tests/fixtures/tiny-sd1"), OPEN_CHECKPOINT, 2);
    df_conv_set_winograd(1);
}

static void test_sd2_diffusers(void)
{
    check_model("sd2", df_test_path("tests/fixtures/tiny-sd2"), OPEN_CHECKPOINT, 1);
}

static void test_sd2_single_file(void)
{
    check_model("sd2", df_test_path("tests/fixtures/tiny-sd2.safetensors"), OPEN_CHECKPOINT, 2);
}

/* --vae: the vae/ folder itself, its diffusers-named file alone, and the
 * model folder (whose vae/ is used). */
static void test_standalone_diffusers(void)
{
    check_model("sd1", df_test_path("tests/fixtures/tiny-sd1/vae"), OPEN_VAE, 2);
    check_model("sd2",
                df_test_path("tests/fixtures/tiny-sd2/vae/diffusion_pytorch_model.safetensors"),
                OPEN_VAE, 2);
    check_model("sd2", df_test_path("tests/fixtures/tiny-sd2"), OPEN_VAE, 1);
}

/* Copies the first_stage_model.* tensors of a single file to `path`, with
 * the prefix (keep_prefix) or without (as vae-ft-mse-840000 files are),
 * leaving out `drop` and giving `reshape` a wrong shape. */
static int write_ldm_vae(const char *source, const char *path, int keep_prefix, const char *drop,
                         const char *reshape)
{
    df_safetensors *file = NULL;
    df_error error = {0};
    if (df_safetensors_open(source, &file, &error))
        return 0;
    size_t count = df_safetensors_count(file);
    df_st_output *outs = calloc(count, sizeof *outs);
    char **names = calloc(count, sizeof *names);
    int n = 0;
    for (size_t i = 0; i < count; i++) {
        const df_st_tensor *t = df_safetensors_at(file, i);
        if (strncmp(t->name, "first_stage_model.", 18) || (drop && strstr(t->name, drop)))
            continue;
        names[n] = strdup(keep_prefix ? t->name : t->name + 18);
        df_st_output *o = &outs[n];
        o->name = names[n];
        o->dtype = t->st_dtype;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->data = t->data;
        if (reshape && strstr(t->name, reshape) && t->ndim == 1 && t->shape[0] > 1) {
            o->shape[0] = t->shape[0] - 1; /* misshapen, fewer bytes: still a valid file */
        }
        n++;
    }
    df_status status = df_safetensors_write(path, outs, n, &error);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(outs);
    df_safetensors_close(file);
    return status == DF_OK;
}

static const char *temp_path(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "/tmp/df_test_vae_%d_%s", (int)getpid(), name);
    return p;
}

static void test_standalone_ldm(void)
{
    const char *plain = temp_path("ldm.safetensors");
    const char *prefixed = temp_path("ldm_prefixed.safetensors");
    REQUIRE(write_ldm_vae(df_test_path("tests/fixtures/tiny-sd1.safetensors"), plain, 0, NULL,
                          NULL));
    REQUIRE(write_ldm_vae(df_test_path("tests/fixtures/tiny-sd2.safetensors"), prefixed, 1, NULL,
                          NULL));
    check_model("sd1", plain, OPEN_VAE, 2);
    check_model("sd2", prefixed, OPEN_VAE, 2);
    /* A whole SD checkpoint given as --vae: only its VAE is taken. */
    df_checkpoint *checkpoint = NULL;
    df_error error = {0};
    REQUIRE(df_checkpoint_open_vae(df_test_path("tests/fixtures/tiny-sd1.safetensors"),
                                   &checkpoint, &error) == DF_OK);
    CHECK(df_checkpoint_has(checkpoint, DF_COMPONENT_VAE));
    CHECK(!df_checkpoint_has(checkpoint, DF_COMPONENT_UNET));
    CHECK(!df_checkpoint_has(checkpoint, DF_COMPONENT_TEXT_ENCODER));
    df_checkpoint_free(checkpoint);
    unlink(plain);
    unlink(prefixed);
}

/* Loads a VAE from `path` and expects the load to fail naming `needle`. */
static void expect_load_error(const char *path, const char *needle)
{
    df_checkpoint *checkpoint = NULL;
    df_vae *vae = NULL;
    df_error error = {0};
    df_status status = df_checkpoint_open_vae(path, &checkpoint, &error);
    if (status == DF_OK)
        status = df_vae_load(checkpoint, NULL, &vae, &error);
    CHECK(status != DF_OK);
    CHECKF(strstr(error.message, needle) != NULL, "message '%s' should name '%s'", error.message,
           needle);
    printf("  error: %s\n", error.message);
    df_vae_free(vae);
    df_checkpoint_free(checkpoint);
}

static void test_missing_and_misshapen(void)
{
    const char *source = df_test_path("tests/fixtures/tiny-sd1.safetensors");
    const char *missing = temp_path("missing.safetensors");
    const char *misshapen = temp_path("misshapen.safetensors");
    REQUIRE(write_ldm_vae(source, missing, 0, "decoder.mid.attn_1.q.weight", NULL));
    REQUIRE(write_ldm_vae(source, misshapen, 0, NULL, "encoder.down.0.block.0.norm2.bias"));
    expect_load_error(missing, "decoder.mid_block.attentions.0.to_q.weight");
    expect_load_error(misshapen, "encoder.down_blocks.0.resnets.0.norm2.bias");
    unlink(missing);
    unlink(misshapen);

    /* A file with no VAE tensor at all. */
    const char *other = temp_path("other.safetensors");
    float value = 1;
    df_st_output out = {"foo.weight", DF_ST_F32, 1, {1}, &value};
    df_error error = {0};
    REQUIRE(df_safetensors_write(other, &out, 1, &error) == DF_OK);
    expect_load_error(other, "not a VAE");
    unlink(other);
}

static void test_bad_arguments(void)
{
    df_checkpoint *checkpoint = NULL;
    df_vae *vae = NULL;
    df_error error = {0};
    REQUIRE(df_checkpoint_open(df_test_path("tests/fixtures/tiny-sd1"), &checkpoint, &error) ==
            DF_OK);
    REQUIRE(df_vae_load(checkpoint, NULL, &vae, &error) == DF_OK);
    const df_vae_config *cfg = df_vae_get_config(vae);
    const int ds = cfg->downscale;
    CHECK(ds == 1 << (cfg->block_count - 1));
    float *buffer = calloc(3 * 4 * ds * 4 * ds * 2, sizeof *buffer);
    float *out = calloc(3 * 4 * ds * 4 * ds * 2, sizeof *out);
    REQUIRE(buffer && out);

    /* Encode sizes that are not multiples of the downscale. */
    if (ds > 1) {
        error = (df_error){0};
        CHECK(df_vae_encode(vae, buffer, 1, 4 * ds + 1, 4 * ds, out, out, &error) ==
              DF_ERR_INVALID_ARGUMENT);
        CHECKF(strstr(error.message, "multiple") != NULL, "%s", error.message);
        CHECK(df_vae_encode(vae, buffer, 1, 4 * ds, 4 * ds - 1, out, out, &error) ==
              DF_ERR_INVALID_ARGUMENT);
    }
    CHECK(df_vae_decode(vae, buffer, 0, 4, 4, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_decode(vae, buffer, 1, 0, 4, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_decode(vae, buffer, 1, 4, 100000, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_decode(vae, NULL, 1, 4, 4, out, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_encode(vae, buffer, -1, 8, 8, out, out, &error) == DF_ERR_INVALID_ARGUMENT);

    /* Tiling arguments. */
    CHECK(df_vae_set_tiling(vae, 8, 8, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_set_tiling(vae, 8, -1, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_vae_set_tiling(vae, 0, 0, &error) == DF_OK);

    /* A VAE for another latent space. */
    error = (df_error){0};
    CHECK(df_vae_check_latent_channels(vae, 16, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "4") && strstr(error.message, "16"), "%s", error.message);
    printf("  error: %s\n", error.message);

    /* Odd latent sizes decode (a 3x5 latent is fine). */
    error = (df_error){0};
    CHECKF(df_vae_decode(vae, buffer, 2, 3, 5, out, &error) == DF_OK, "%s", error.message);
    /* Tiled decode whose tiles are smaller than the image, overlap 0. */
    CHECK(df_vae_set_tiling(vae, 2, 0, &error) == DF_OK);
    CHECKF(df_vae_decode(vae, buffer, 1, 3, 5, out, &error) == DF_OK, "%s", error.message);
    free(buffer);
    free(out);
    df_vae_free(vae);
    df_checkpoint_free(checkpoint);
}

int main(void)
{
    DF_RUN(test_sd1_diffusers);
    DF_RUN(test_sd1_single_file);
    DF_RUN(test_sd1_direct_convolutions);
    DF_RUN(test_sd2_diffusers);
    DF_RUN(test_sd2_single_file);
    DF_RUN(test_standalone_diffusers);
    DF_RUN(test_standalone_ldm);
    DF_RUN(test_missing_and_misshapen);
    DF_RUN(test_bad_arguments);
    printf("worst relative error: %.3g (tolerance %.0e)\n", worst_relative_error,
           RELATIVE_TOLERANCE);
    return df_test_finish();
}
