/*
 * test_image.c — src/io/image*.c: decoding every supported kind of PNG,
 * JPEG and WebP against the pixels Pillow gives (fixtures made by
 * tools/make_image_fixtures.py), EXIF orientation as exif_transpose, clear
 * errors for corrupt and hostile files, encoding round trips with
 * A1111-style parameters (Latin-1, CJK, emoji), atomic writes, the tensor
 * conversion's rounding (diffusers' postprocess), and Lanczos resizing
 * against Pillow's output.
 *
 * The decompression-bomb tests rely on the guard running before any pixel
 * allocation: under ASan a 30 GB malloc would abort the test.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/image.h"

#define FIXTURE(name) df_test_path("tests/fixtures/images/" name)

static int load(const char *path, df_image *image)
{
    df_error error = {0};
    df_status status = df_image_read(path, 0, image, &error);
    if (status != DF_OK)
        fprintf(stderr, "  %s\n", error.message);
    return status == DF_OK;
}

/* Largest per-sample difference; -1 when the sizes differ. */
static int max_diff(const df_image *a, const df_image *b)
{
    if (a->width != b->width || a->height != b->height)
        return -1;
    int worst = 0;
    for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) {
        int d = abs((int)a->pixels[i] - (int)b->pixels[i]);
        if (d > worst)
            worst = d;
    }
    return worst;
}

static double mean_diff(const df_image *a, const df_image *b)
{
    double sum = 0;
    size_t n = (size_t)a->width * a->height * 3;
    for (size_t i = 0; i < n; i++)
        sum += abs((int)a->pixels[i] - (int)b->pixels[i]);
    return sum / (double)n;
}

/* Decodes `name` and compares with `expected` (a PNG of Pillow's result). */
static int compare_fixture(const char *name, const char *expected)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "tests/fixtures/images/%s", name);
    snprintf(b, sizeof b, "tests/fixtures/images/%s", expected);
    df_image got = {0}, want = {0};
    int d = -2;
    if (load(df_test_path(a), &got) && load(df_test_path(b), &want))
        d = max_diff(&got, &want);
    df_image_free(&got);
    df_image_free(&want);
    return d;
}

/* ------------------------------------------------------------------------ */

static void test_decode_png_kinds(void)
{
    df_image rgb = {0}, other = {0};
    REQUIRE(load(FIXTURE("rgb.png"), &rgb));
    CHECK(rgb.width == 64 && rgb.height == 48);
    /* Two independent decoders agree on the reference image. */
    REQUIRE(load(FIXTURE("lossless.webp"), &other));
    CHECKF(max_diff(&rgb, &other) == 0, "lossless WebP differs by %d", max_diff(&rgb, &other));
    df_image_free(&other);
    /* Alpha dropped, not composited: the RGB of the RGBA file is rgb.png. */
    REQUIRE(load(FIXTURE("rgba.png"), &other));
    CHECK(max_diff(&rgb, &other) == 0);
    df_image_free(&other);
    REQUIRE(load(FIXTURE("interlaced.png"), &other));
    CHECK(max_diff(&rgb, &other) == 0);
    df_image_free(&other);
    /* 16-bit: the high byte (the file is rgb.png's top-left 32x24). */
    REQUIRE(load(FIXTURE("rgb16.png"), &other));
    CHECK(other.width == 32 && other.height == 24);
    int same = 1;
    for (int y = 0; y < 24 && other.pixels; y++)
        same &= memcmp(other.pixels + (size_t)y * 32 * 3, rgb.pixels + (size_t)y * 64 * 3,
                       32 * 3) == 0;
    CHECK(same);
    df_image_free(&other);
    df_image_free(&rgb);
    CHECK(compare_fixture("palette.png", "palette_expected.png") == 0);
    CHECK(compare_fixture("gray4.png", "gray4_expected.png") == 0);
}

static void test_decode_jpeg_webp_match_pillow(void)
{
    /* libjpeg with PIL's settings (islow, fancy upsampling) and libwebp
     * give Pillow's pixels; the versions differ (Pillow bundles its own), so
     * allow one level. */
    static const char *cases[][2] = {
        {"baseline.jpg", "baseline_expected.png"}, {"gray.jpg", "gray_expected.png"},
        {"progressive.jpg", "progressive_expected.png"}, {"cmyk.jpg", "cmyk_expected.png"},
        {"lossy.webp", "lossy_expected.png"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int d = compare_fixture(cases[i][0], cases[i][1]);
        printf("  %-16s max difference from Pillow: %d\n", cases[i][0], d);
        CHECKF(d >= 0 && d <= 1, "%s: %d", cases[i][0], d);
    }
}

static void test_exif_orientation(void)
{
    for (int o = 2; o <= 8; o++) {
        char name[64], expected[64];
        snprintf(name, sizeof name, "orient%d.png", o);
        snprintf(expected, sizeof expected, "orient%d_expected.png", o);
        int d = compare_fixture(name, expected);
        CHECKF(d == 0, "orientation %d: %d", o, d);
    }
    int d = compare_fixture("orient6.jpg", "orient6_jpg_expected.png");
    CHECKF(d >= 0 && d <= 1, "JPEG orientation 6: %d", d);
}

static void expect_error(const char *path, int max_pixels, df_status status, const char *needle)
{
    df_image image = {0};
    df_error error = {0};
    df_status got = df_image_read(path, max_pixels, &image, &error);
    CHECKF(got == status, "%s: status %s, want %s (%s)", path, df_status_string(got),
           df_status_string(status), error.message);
    CHECKF(strstr(error.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", path,
           error.message, needle);
    CHECKF(strstr(error.message, path) != NULL, "message \"%s\" lacks the path", error.message);
    CHECK(image.pixels == NULL && image.width == 0);
    printf("  %s\n", error.message + strlen(df_test_path("")));
}

static void test_corrupt_inputs(void)
{
    expect_error(FIXTURE("truncated.png"), 0, DF_ERR_FORMAT, "PNG: truncated");
    expect_error(FIXTURE("bad_crc.png"), 0, DF_ERR_FORMAT, "CRC");
    expect_error(FIXTURE("junk.jpg"), 0, DF_ERR_FORMAT, "JPEG");
    expect_error(FIXTURE("truncated.jpg"), 0, DF_ERR_FORMAT, "truncated");
    expect_error(FIXTURE("empty.png"), 0, DF_ERR_FORMAT, "empty");
    expect_error(FIXTURE("tiny.gif"), 0, DF_ERR_UNSUPPORTED, "GIF");
    expect_error(FIXTURE("missing.png"), 0, DF_ERR_IO, "cannot open");
    expect_error(df_test_path("tests/fixtures/images"), 0, DF_ERR_IO, "not a regular file");
    expect_error(df_test_path("CMakeLists.txt"), 0, DF_ERR_UNSUPPORTED, "not a PNG, JPEG or WebP");
}

static void test_decompression_bomb(void)
{
    /* IHDR says 100000x100000 (30 GB of RGB). */
    expect_error(FIXTURE("bomb.png"), 0, DF_ERR_UNSUPPORTED, "100000x100000");
    /* The pixel limit, per format, from the header. */
    expect_error(FIXTURE("rgb.png"), 1000, DF_ERR_UNSUPPORTED, "64x48 (3072 pixels)");
    expect_error(FIXTURE("baseline.jpg"), 1000, DF_ERR_UNSUPPORTED, "64x48");
    expect_error(FIXTURE("lossy.webp"), 1000, DF_ERR_UNSUPPORTED, "64x48");
    expect_error(FIXTURE("lossless.webp"), 1000, DF_ERR_UNSUPPORTED, "64x48");

    /* A JPEG whose SOF claims 65000x65000. */
    size_t size;
    unsigned char *bytes = df_test_read_file(FIXTURE("baseline.jpg"), &size);
    REQUIRE(bytes);
    int patched = 0;
    for (size_t i = 2; i + 9 < size; i++)
        if (bytes[i] == 0xff && bytes[i + 1] == 0xc0) {
            bytes[i + 5] = 65000 >> 8, bytes[i + 6] = 65000 & 0xff; /* height */
            bytes[i + 7] = 65000 >> 8, bytes[i + 8] = 65000 & 0xff; /* width */
            patched = 1;
            break;
        }
    CHECK(patched);
    df_image image = {0};
    df_error error = {0};
    CHECK(df_image_decode(bytes, size, 0, &image, &error) == DF_ERR_UNSUPPORTED);
    CHECKF(strstr(error.message, "65000x65000") != NULL, "%s", error.message);
    free(bytes);
}

/* Every prefix and many single-byte corruptions of valid files: never a
 * crash or leak (run under ASan), always a status with a message. */
static void test_mutations_never_crash(void)
{
    static const char *names[] = {"rgb.png", "interlaced.png", "palette.png", "baseline.jpg",
                                  "progressive.jpg", "cmyk.jpg", "lossy.webp",
                                  "lossless.webp", "params_itxt.png", "params_exif_le.jpg"};
    unsigned seed = 12345;
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fixtures/images/%s", names[f]);
        size_t size;
        unsigned char *original = df_test_read_file(df_test_path(path), &size);
        REQUIRE(original);
        unsigned char *copy = malloc(size);
        REQUIRE(copy);
        for (int trial = 0; trial < 150; trial++) {
            memcpy(copy, original, size);
            size_t length = size;
            if (trial % 3 == 0) {
                length = (size_t)trial * size / 150;
            } else {
                for (int k = 0; k < 1 + trial % 4; k++) {
                    seed = seed * 1103515245u + 12345u;
                    copy[(seed >> 8) % size] ^= (unsigned char)(1 + (seed >> 24) % 255);
                }
            }
            df_image image = {0};
            df_error error = {0};
            df_status status = df_image_decode(copy, length, 0, &image, &error);
            if (status == DF_OK)
                CHECK(image.pixels && image.width > 0);
            else
                CHECK(error.message[0] != 0 && image.pixels == NULL);
            df_image_free(&image);
            char *text = NULL;
            (void)df_image_read_parameters(copy, length, &text, &error);
            free(text);
        }
        free(copy);
        free(original);
    }
}

/* ------------------------------------------------------------------------ */

static int contains(const unsigned char *bytes, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(bytes + i, needle, n) == 0)
            return 1;
    return 0;
}

static void test_encode_round_trips(void)
{
    /* A smooth image (the fixture's per-pixel colour noise is what 4:2:0
     * subsampling throws away, so lossy errors on it say little). */
    df_image rgb = {0};
    REQUIRE(df_image_create(96, 64, &rgb, NULL) == DF_OK);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++) {
            uint8_t *p = rgb.pixels + ((size_t)y * 96 + x) * 3;
            p[0] = (uint8_t)(x * 255 / 95);
            p[1] = (uint8_t)(y * 255 / 63);
            p[2] = (uint8_t)(128 + 100 * sin(x * 0.1 + y * 0.07));
        }
    struct {
        df_image_format format;
        int quality;
        int max_allowed;
        double mean_allowed;
    } cases[] = {
        {DF_IMAGE_PNG, 0, 0, 0},
        {DF_IMAGE_WEBP, DF_IMAGE_QUALITY_LOSSLESS, 0, 0},
        {DF_IMAGE_JPEG, 0, 24, 2.5},
        {DF_IMAGE_JPEG, 95, 16, 1.5},
        {DF_IMAGE_WEBP, 0, 32, 3.0},
        {DF_IMAGE_WEBP, 95, 24, 2.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *bytes = NULL;
        size_t size = 0;
        df_error error = {0};
        df_status status = df_image_encode(&rgb, cases[i].format, cases[i].quality, NULL, &bytes,
                                           &size, &error);
        CHECKF(status == DF_OK, "case %zu: %s", i, error.message);
        df_image back = {0};
        if (status == DF_OK)
            status = df_image_decode(bytes, size, 0, &back, &error);
        CHECKF(status == DF_OK, "case %zu: %s", i, error.message);
        if (status == DF_OK) {
            int d = max_diff(&rgb, &back);
            double mean = mean_diff(&rgb, &back);
            printf("  format %d quality %3d: %6zu bytes, max diff %3d, mean %.2f\n",
                   cases[i].format, cases[i].quality, size, d, mean);
            CHECKF(d >= 0 && d <= cases[i].max_allowed && mean <= cases[i].mean_allowed,
                   "case %zu: max %d mean %.2f", i, d, mean);
        }
        char *text = (char *)1;
        CHECK(df_image_read_parameters(bytes, size, &text, &error) == DF_OK && text == NULL);
        df_image_free(&back);
        free(bytes);
    }
    /* Quality is honoured. */
    unsigned char *low = NULL, *high = NULL;
    size_t low_size = 0, high_size = 0;
    CHECK(df_image_encode(&rgb, DF_IMAGE_JPEG, 10, NULL, &low, &low_size, NULL) == DF_OK);
    CHECK(df_image_encode(&rgb, DF_IMAGE_JPEG, 100, NULL, &high, &high_size, NULL) == DF_OK);
    CHECK(low_size < high_size);
    free(low);
    free(high);
    /* Bad arguments. */
    df_error error = {0};
    unsigned char *bytes = NULL;
    size_t size = 0;
    CHECK(df_image_encode(&rgb, DF_IMAGE_JPEG, DF_IMAGE_QUALITY_LOSSLESS, NULL, &bytes, &size,
                          &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(error.message, "JPEG quality 101") != NULL);
    CHECK(df_image_encode(&rgb, DF_IMAGE_WEBP, -1, NULL, &bytes, &size, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_image_encode(&rgb, DF_IMAGE_PNG, 0, "bad \xff utf-8", &bytes, &size, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "UTF-8") && strstr(error.message, "offset 4"), "%s",
           error.message);
    df_image empty = {0};
    CHECK(df_image_encode(&empty, DF_IMAGE_PNG, 0, NULL, &bytes, &size, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(bytes == NULL);
    df_image_free(&rgb);
}

static void test_parameters_round_trip(void)
{
    df_image rgb = {0};
    REQUIRE(load(FIXTURE("rgb.png"), &rgb));
    static const char *texts[] = {
        "a photo of a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
        "Seed: 42, Size: 512x512",
        "caf\xc3\xa9 \xc3\xbf Latin-1 only", /* café ÿ: tEXt in PNG */
        "\xe7\x8c\xab \xe3\x81\xad\xe3\x81\x93 \xf0\x9f\x90\x88\xf0\x9f\x8e\xa8 emoji and CJK",
        "",
    };
    static const df_image_format formats[] = {DF_IMAGE_PNG, DF_IMAGE_JPEG, DF_IMAGE_WEBP};
    for (size_t f = 0; f < 3; f++)
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            unsigned char *bytes = NULL;
            size_t size = 0;
            df_error error = {0};
            df_status status =
                df_image_encode(&rgb, formats[f], 0, texts[t], &bytes, &size, &error);
            CHECKF(status == DF_OK, "%s", error.message);
            char *text = NULL;
            if (status == DF_OK)
                status = df_image_read_parameters(bytes, size, &text, &error);
            CHECKF(status == DF_OK, "%s", error.message);
            CHECKF(text && strcmp(text, texts[t]) == 0, "format %zu text %zu: got \"%s\"", f, t,
                   text ? text : "(null)");
            if (formats[f] == DF_IMAGE_PNG && t == 1)
                CHECK(contains(bytes, size, "tEXtparameters") &&
                      !contains(bytes, size, "iTXt"));
            if (formats[f] == DF_IMAGE_PNG && t == 2)
                CHECK(contains(bytes, size, "iTXtparameters"));
            if (formats[f] == DF_IMAGE_JPEG)
                CHECK(contains(bytes, size, "Exif") && contains(bytes, size, "UNICODE"));
            /* Still a valid image. */
            df_image back = {0};
            CHECK(df_image_decode(bytes, size, 0, &back, &error) == DF_OK);
            df_image_free(&back);
            free(text);
            free(bytes);
        }
    /* Too long for a JPEG APP1 segment: refused, not dropped. */
    size_t n = 40000;
    char *long_text = malloc(n + 1);
    REQUIRE(long_text);
    memset(long_text, 'a', n);
    long_text[n] = 0;
    unsigned char *bytes = NULL;
    size_t size = 0;
    df_error error = {0};
    CHECK(df_image_encode(&rgb, DF_IMAGE_JPEG, 0, long_text, &bytes, &size, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, "too long") != NULL, "%s", error.message);
    /* PNG and WebP take it. */
    for (int f = 0; f < 2; f++) {
        df_image_format format = f ? DF_IMAGE_WEBP : DF_IMAGE_PNG;
        CHECK(df_image_encode(&rgb, format, 0, long_text, &bytes, &size, &error) == DF_OK);
        char *text = NULL;
        CHECK(df_image_read_parameters(bytes, size, &text, &error) == DF_OK);
        CHECK(text && strcmp(text, long_text) == 0);
        free(text);
        free(bytes);
    }
    free(long_text);
    df_image_free(&rgb);
}

static void check_fixture_parameters(const char *name, const char *want)
{
    char path[128];
    snprintf(path, sizeof path, "tests/fixtures/images/%s", name);
    size_t size;
    unsigned char *bytes = df_test_read_file(df_test_path(path), &size);
    REQUIRE(bytes);
    char *text = NULL;
    df_error error = {0};
    CHECKF(df_image_read_parameters(bytes, size, &text, &error) == DF_OK, "%s", error.message);
    CHECKF(want ? text && strcmp(text, want) == 0 : text == NULL, "%s: got \"%s\"", name,
           text ? text : "(null)");
    free(text);
    free(bytes);
}

static void test_parameters_written_by_pillow(void)
{
    check_fixture_parameters("params_text.png",
                             "a cat, caf\xc3\xa9\nSteps: 20, Sampler: Euler a");
    check_fixture_parameters("params_itxt.png", "\xe7\x8c\xab \xf0\x9f\x90\x88\nSteps: 20");
    char zipped[256];
    snprintf(zipped, sizeof zipped, "zipped caf\xc3\xa9 %0200d", 0);
    memset(zipped + strlen("zipped caf\xc3\xa9 "), 'x', 200);
    check_fixture_parameters("params_ztxt.png", zipped);
    check_fixture_parameters("params_exif_le.jpg",
                             "little \xc3\xa9 endian \xe7\x8c\xab");
    check_fixture_parameters("rgb.png", NULL);
    check_fixture_parameters("baseline.jpg", NULL);
    check_fixture_parameters("orient6.jpg", NULL); /* EXIF without a UserComment */
    /* Not an image; a damaged PNG container. */
    char *text = NULL;
    df_error error = {0};
    CHECK(df_image_read_parameters("GIF89a......", 12, &text, &error) == DF_ERR_UNSUPPORTED);
    size_t size;
    unsigned char *bytes = df_test_read_file(FIXTURE("truncated.png"), &size);
    REQUIRE(bytes);
    CHECK(df_image_read_parameters(bytes, size, &text, &error) == DF_ERR_FORMAT);
    CHECKF(strstr(error.message, "truncated") != NULL, "%s", error.message);
    CHECK(text == NULL);
    free(bytes);
}

/* ------------------------------------------------------------------------ */

static int count_leftovers(const char *directory)
{
    DIR *dir = opendir(directory);
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)))
        n += strstr(entry->d_name, ".tmp-") != NULL;
    closedir(dir);
    return n;
}

static void test_write_files(void)
{
    char directory[] = "/tmp/df_test_image_XXXXXX";
    REQUIRE(mkdtemp(directory));
    df_image rgb = {0};
    REQUIRE(load(FIXTURE("rgb.png"), &rgb));
    static const char *names[] = {"out.png", "out.JPG", "out.jpeg", "out.webp"};
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", directory, names[i]);
        df_error error = {0};
        CHECKF(df_image_write(path, &rgb, 0, "Steps: 20", &error) == DF_OK, "%s",
               error.message);
        df_image back = {0};
        CHECK(load(path, &back));
        CHECK(back.width == 64 && back.height == 48);
        if (i == 0)
            CHECK(max_diff(&rgb, &back) == 0);
        df_image_free(&back);
        /* Overwriting an existing file works too (rename over it). */
        CHECK(df_image_write(path, &rgb, 0, NULL, &error) == DF_OK);
        unlink(path);
    }
    CHECK(count_leftovers(directory) == 0);

    df_error error = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/out.bmp", directory);
    CHECK(df_image_write(path, &rgb, 0, NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(error.message, ".bmp") && strstr(error.message, ".png, .jpg, .jpeg or .webp") &&
               strstr(error.message, path),
           "%s", error.message);
    snprintf(path, sizeof path, "%s/noextension", directory);
    CHECK(df_image_write(path, &rgb, 0, NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    /* The directory part's dots are not an extension. */
    CHECK(df_image_write("/tmp/a.png/file", &rgb, 0, NULL, &error) == DF_ERR_INVALID_ARGUMENT);
    const char *unwritable = "/nonexistent-df-dir/sub/out.png";
    CHECK(df_image_write(unwritable, &rgb, 0, NULL, &error) == DF_ERR_IO);
    CHECKF(strstr(error.message, unwritable) && strstr(error.message, "No such file"), "%s",
           error.message);
    /* A directory where the file should go: the rename fails, no temp left. */
    snprintf(path, sizeof path, "%s/dir.png", directory);
    mkdir(path, 0755);
    CHECK(df_image_write(path, &rgb, 0, NULL, &error) == DF_ERR_IO);
    CHECKF(strstr(error.message, path) != NULL, "%s", error.message);
    CHECK(count_leftovers(directory) == 0);
    rmdir(path);
    rmdir(directory);
    df_image_free(&rgb);
}

/* ------------------------------------------------------------------------ */

static void test_tensor_rounding(void)
{
    /* Expected bytes from torch/numpy: (x / 2 + 0.5).clamp(0, 1), then
     * (v * 255).round() in float32 — values straddling every .5 boundary,
     * half to even (127.5 -> 128, 128.5 -> 128, 254.5 -> 254). */
    static const struct {
        float x;
        uint8_t want;
    } cases[] = {
    {-0x1.0000000000000p+0f, 0}, /* v * 255 = 0 */
    {0x1.0000000000000p+0f, 255}, /* v * 255 = 255 */
    {0x0.0p+0f, 128}, /* v * 255 = 127.5 */
    {-0x1.0000000000000p+1f, 0}, /* v * 255 = 0 */
    {0x1.0000000000000p+1f, 255}, /* v * 255 = 255 */
    {-0x1.fae1480000000p-1f, 1}, /* v * 255 = 1.27499878 */
    {0x1.0000000000000p-1f, 191}, /* v * 255 = 191.25 */
    {-0x1.fdfe000000000p-1f, 0}, /* v * 255 = 0.499992371 */
    {-0x1.fdfdfe0000000p-1f, 0}, /* v * 255 = 0.49999997 */
    {-0x1.fdfdfc0000000p-1f, 1}, /* v * 255 = 0.50000757 */
    {-0x1.f9f9fc0000000p-1f, 1}, /* v * 255 = 1.49999237 */
    {-0x1.f9f9fa0000000p-1f, 1}, /* v * 255 = 1.49999988 */
    {-0x1.f9f9f80000000p-1f, 2}, /* v * 255 = 1.50000751 */
    {-0x1.f5f5f80000000p-1f, 2}, /* v * 255 = 2.49999237 */
    {-0x1.f5f5f60000000p-1f, 2}, /* v * 255 = 2.49999976 */
    {-0x1.f5f5f40000000p-1f, 3}, /* v * 255 = 2.50000739 */
    {-0x1.0101040000000p-1f, 63}, /* v * 255 = 63.4999886 */
    {-0x1.0101020000000p-1f, 63}, /* v * 255 = 63.4999962 */
    {-0x1.0101000000000p-1f, 64}, /* v * 255 = 63.5000038 */
    {-0x1.0000000000000p-149f, 128}, /* v * 255 = 127.5 */
    {0x0.0p+0f, 128}, /* v * 255 = 127.5 */
    {0x1.0000000000000p-149f, 128}, /* v * 255 = 127.5 */
    {0x1.0101000000000p-7f, 128}, /* v * 255 = 128.5 */
    {0x1.0101020000000p-7f, 128}, /* v * 255 = 128.5 */
    {0x1.0101040000000p-7f, 128}, /* v * 255 = 128.5 */
    {0x1.2525240000000p-1f, 200}, /* v * 255 = 200.5 */
    {0x1.2525260000000p-1f, 201}, /* v * 255 = 200.500015 */
    {0x1.2525280000000p-1f, 201}, /* v * 255 = 200.500015 */
    {0x1.f9f9f80000000p-1f, 254}, /* v * 255 = 253.5 */
    {0x1.f9f9fa0000000p-1f, 254}, /* v * 255 = 253.5 */
    {0x1.f9f9fc0000000p-1f, 254}, /* v * 255 = 253.500015 */
    {0x1.fdfdfc0000000p-1f, 254}, /* v * 255 = 254.5 */
    {0x1.fdfdfe0000000p-1f, 254}, /* v * 255 = 254.5 */
    {0x1.fdfe000000000p-1f, 254}, /* v * 255 = 254.5 */
    };
    size_t n = sizeof cases / sizeof cases[0];
    /* As a batch of two [2, 3, 1, n] images; the cases are image 1, channel 1. */
    float *tensor = calloc(2 * 3 * n, sizeof *tensor);
    REQUIRE(tensor);
    for (size_t i = 0; i < n; i++)
        tensor[3 * n + n + i] = cases[i].x;
    df_image image = {0};
    REQUIRE(df_image_from_tensor(tensor, 1, (int)n, 1, &image, NULL) == DF_OK);
    for (size_t i = 0; i < n; i++) {
        CHECKF(image.pixels[3 * i + 1] == cases[i].want, "x = %a: got %d, want %d",
               (double)cases[i].x, image.pixels[3 * i + 1], cases[i].want);
        CHECK(image.pixels[3 * i] == 128 && image.pixels[3 * i + 2] == 128); /* zeros */
    }
    df_image_free(&image);
    /* NaN and infinities. */
    float special[3] = {NAN, INFINITY, -INFINITY};
    REQUIRE(df_image_from_tensor(special, 0, 1, 1, &image, NULL) == DF_OK);
    CHECK(image.pixels[0] == 0 && image.pixels[1] == 255 && image.pixels[2] == 0);
    df_image_free(&image);
    free(tensor);
}

static void test_tensor_round_trip(void)
{
    df_image rgb = {0}, back = {0};
    REQUIRE(load(FIXTURE("rgb.png"), &rgb));
    size_t plane = 64 * 48;
    float *tensor = malloc(sizeof *tensor * 2 * 3 * plane);
    REQUIRE(tensor);
    for (size_t i = 0; i < 3 * plane; i++)
        tensor[i] = 7.0f; /* image 0 must stay untouched */
    df_image_to_tensor(&rgb, tensor, 1);
    CHECK(tensor[0] == 7.0f && tensor[3 * plane - 1] == 7.0f);
    /* NCHW: channel 1 (green) of pixel (x=5, y=2) of image 1. */
    float green = tensor[3 * plane + plane + 2 * 64 + 5];
    CHECK(green == 2.0f * ((float)rgb.pixels[(2 * 64 + 5) * 3 + 1] / 255.0f) - 1.0f);
    REQUIRE(df_image_from_tensor(tensor, 1, 64, 48, &back, NULL) == DF_OK);
    CHECK(max_diff(&rgb, &back) == 0);
    df_image_free(&back);
    free(tensor);
    /* The levels' extremes. */
    uint8_t px[6] = {0, 255, 128, 1, 254, 127};
    df_image two = {2, 1, px};
    float t[6];
    df_image_to_tensor(&two, t, 0);
    /* NCHW of pixels (0, 255, 128) and (1, 254, 127). */
    CHECK(t[0] == -1.0f && t[2] == 1.0f);
    CHECK(t[1] == 2.0f * (1.0f / 255.0f) - 1.0f && t[3] == 2.0f * (254.0f / 255.0f) - 1.0f);
    CHECK(t[4] == 2.0f * (128.0f / 255.0f) - 1.0f && t[5] == 2.0f * (127.0f / 255.0f) - 1.0f);
    df_image_free(&rgb);
}

/* ------------------------------------------------------------------------ */

static void test_resize_matches_pillow(void)
{
    df_image rgb = {0};
    REQUIRE(load(FIXTURE("rgb.png"), &rgb));
    static const struct {
        const char *file;
        int width, height;
        df_image_resize_mode mode;
    } cases[] = {
        {"resize_stretch_40x30.png", 40, 30, DF_IMAGE_RESIZE_STRETCH},
        {"resize_stretch_100x77.png", 100, 77, DF_IMAGE_RESIZE_STRETCH},
        {"resize_stretch_17x48.png", 17, 48, DF_IMAGE_RESIZE_STRETCH},
        {"resize_crop_32x32.png", 32, 32, DF_IMAGE_RESIZE_CROP},
        {"resize_crop_30x70.png", 30, 70, DF_IMAGE_RESIZE_CROP},
        {"resize_crop_90x20.png", 90, 20, DF_IMAGE_RESIZE_CROP},
        {"resize_fill_32x32.png", 32, 32, DF_IMAGE_RESIZE_FILL},
        {"resize_fill_90x20.png", 90, 20, DF_IMAGE_RESIZE_FILL},
        {"resize_fill_30x70.png", 30, 70, DF_IMAGE_RESIZE_FILL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fixtures/images/%s", cases[i].file);
        df_image want = {0}, got = {0};
        df_error error = {0};
        REQUIRE(load(df_test_path(path), &want));
        CHECKF(df_image_resize(&rgb, cases[i].width, cases[i].height, cases[i].mode, &got,
                               &error) == DF_OK,
               "%s", error.message);
        int d = max_diff(&got, &want);
        printf("  %-26s max difference from Pillow: %d, mean %.4f\n", cases[i].file, d,
               d >= 0 ? mean_diff(&got, &want) : -1.0);
        CHECKF(d == 0, "%s: %d", cases[i].file, d);
        df_image_free(&want);
        df_image_free(&got);
    }
    df_image_free(&rgb);
}

static void test_resize_geometry(void)
{
    /* A 3000x2 strip cropped to a square: only the visible part is
     * computed (the cover size would be 96000x64). */
    df_image strip = {0}, out = {0};
    df_error error = {0};
    REQUIRE(df_image_create(3000, 2, &strip, NULL) == DF_OK);
    for (int x = 0; x < 3000; x++)
        for (int y = 0; y < 2; y++)
            memset(strip.pixels + ((size_t)y * 3000 + x) * 3, x < 1500 ? 0 : 200, 3);
    REQUIRE(df_image_resize(&strip, 64, 64, DF_IMAGE_RESIZE_CROP, &out, &error) == DF_OK);
    CHECK(out.width == 64 && out.height == 64);
    /* The centre 64 columns of the 96000-wide cover image straddle the
     * 0 -> 200 edge: dark on the left, bright on the right. */
    CHECKF(out.pixels[(32 * 64 + 0) * 3] < 40 && out.pixels[(32 * 64 + 63) * 3] > 160,
           "%d %d", out.pixels[(32 * 64 + 0) * 3], out.pixels[(32 * 64 + 63) * 3]);
    df_image_free(&out);
    /* Fill of the same strip: a 64x1 band (0 would be refused by PIL),
     * centred, bands above and below from its edges. */
    REQUIRE(df_image_resize(&strip, 64, 64, DF_IMAGE_RESIZE_FILL, &out, &error) == DF_OK);
    CHECK(out.width == 64 && out.height == 64);
    CHECK(out.pixels[0] == 0 && out.pixels[(63 * 64 + 63) * 3] == 200);
    df_image_free(&out);
    /* Same size stretch is a copy. */
    REQUIRE(df_image_resize(&strip, 3000, 2, DF_IMAGE_RESIZE_STRETCH, &out, &error) == DF_OK);
    CHECK(memcmp(out.pixels, strip.pixels, 3000 * 2 * 3) == 0);
    df_image_free(&out);
    /* 1x1 up and down. */
    REQUIRE(df_image_resize(&strip, 1, 1, DF_IMAGE_RESIZE_STRETCH, &out, &error) == DF_OK);
    CHECK(out.width == 1 && out.height == 1);
    df_image_free(&out);
    CHECK(df_image_resize(&strip, 0, 10, DF_IMAGE_RESIZE_STRETCH, &out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(df_image_resize(&strip, 10, 10, (df_image_resize_mode)9, &out, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(out.pixels == NULL);
    df_image_free(&strip);
}

int main(void)
{
    DF_RUN(test_decode_png_kinds);
    DF_RUN(test_decode_jpeg_webp_match_pillow);
    DF_RUN(test_exif_orientation);
    DF_RUN(test_corrupt_inputs);
    DF_RUN(test_decompression_bomb);
    DF_RUN(test_mutations_never_crash);
    DF_RUN(test_encode_round_trips);
    DF_RUN(test_parameters_round_trip);
    DF_RUN(test_parameters_written_by_pillow);
    DF_RUN(test_write_files);
    DF_RUN(test_tensor_rounding);
    DF_RUN(test_tensor_round_trip);
    DF_RUN(test_resize_matches_pillow);
    DF_RUN(test_resize_geometry);
    return df_test_finish();
}
