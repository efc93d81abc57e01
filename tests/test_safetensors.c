/*
 * test_safetensors.c — the safetensors reader on valid files and on every
 * kind of malformed file we could think of, each built in C in a temporary
 * directory. Each bad input must give the right status AND a message that
 * names the file and, where there is one, the tensor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"

static char temp_dir[256];

static const char *temp_path(const char *name)
{
    static char paths[4][512];
    static int next;
    char *out = paths[next++ % 4];
    snprintf(out, 512, "%s/%s", temp_dir, name);
    return out;
}

/* Writes raw bytes. */
static void write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    if (size)
        fwrite(bytes, 1, size, f);
    fclose(f);
}

/* Builds a file image: 8-byte LE header length (or `length_override` when
 * not UINT64_MAX), the header text, then `data`. Caller frees. */
static unsigned char *build(const char *header, const void *data, size_t data_size,
                            uint64_t length_override, size_t *size)
{
    size_t header_size = strlen(header);
    *size = 8 + header_size + data_size;
    unsigned char *out = malloc(*size ? *size : 1);
    uint64_t length = length_override != UINT64_MAX ? length_override : header_size;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(length >> (8 * i));
    memcpy(out + 8, header, header_size);
    if (data_size)
        memcpy(out + 8 + header_size, data, data_size);
    return out;
}

/* Writes a file with the given header and `data_size` zero bytes of data,
 * opens it, and returns the status; the message is in *error. */
static df_status open_header(const char *name, const char *header, size_t data_size,
                             df_error *error)
{
    unsigned char *data = calloc(1, data_size ? data_size : 1);
    size_t size;
    unsigned char *image = build(header, data, data_size, UINT64_MAX, &size);
    const char *path = temp_path(name);
    write_bytes(path, image, size);
    free(image);
    free(data);
    df_safetensors *file = NULL;
    memset(error, 0, sizeof *error);
    df_status status = df_safetensors_open(path, &file, error);
    if (status == DF_OK)
        df_safetensors_close(file);
    else if (file)
        status = DF_ERR_INTERNAL; /* a failed open must leave *out NULL */
    return status;
}

#define EXPECT_ERROR(name, header, data_size, expected_status, ...)                        \
    do {                                                                                  \
        df_error error_;                                                                  \
        df_status status_ = open_header(name, header, data_size, &error_);                \
        CHECKF(status_ == (expected_status), "%s: status %s: %s", name,                   \
               df_status_string(status_), error_.message);                                \
        const char *needles_[] = {__VA_ARGS__};                                           \
        for (size_t n_ = 0; n_ < sizeof needles_ / sizeof needles_[0]; n_++)              \
            CHECKF(strstr(error_.message, needles_[n_]), "%s: message '%s' lacks '%s'",   \
                   name, error_.message, needles_[n_]);                                   \
        CHECKF(strstr(error_.message, name), "%s: message '%s' does not name the file",   \
               name, error_.message);                                                     \
    } while (0)

static void test_too_short(void)
{
    df_error error;
    df_safetensors *file = NULL;
    write_bytes(temp_path("empty.safetensors"), "", 0);
    CHECK(df_safetensors_open(temp_path("empty.safetensors"), &file, &error) == DF_ERR_FORMAT);
    CHECK(strstr(error.message, "empty") && strstr(error.message, "empty.safetensors"));
    CHECK(!file);
    write_bytes(temp_path("five.safetensors"), "\x01\x00\x00\x00\x00", 5);
    CHECK(df_safetensors_open(temp_path("five.safetensors"), &file, &error) == DF_ERR_FORMAT);
    CHECK(strstr(error.message, "too short") && strstr(error.message, "five.safetensors"));
    CHECK(df_safetensors_parse("", 0, "mem", &file, &error) == DF_ERR_FORMAT);
}

static void test_header_length(void)
{
    df_error error;
    df_safetensors *file = NULL;
    size_t size;
    unsigned char *image = build("{}", NULL, 0, 0, &size);
    CHECK(df_safetensors_parse(image, size, "zero.st", &file, &error) == DF_ERR_FORMAT);
    CHECK(strstr(error.message, "zero.st: header length is 0"));
    free(image);

    /* A header that claims more bytes than the file has (truncated download). */
    image = build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd", 4,
                  1000, &size);
    write_bytes(temp_path("truncated.safetensors"), image, size);
    CHECK(df_safetensors_open(temp_path("truncated.safetensors"), &file, &error) ==
          DF_ERR_FORMAT);
    CHECK(strstr(error.message, "truncated.safetensors") && strstr(error.message, "1000") &&
          strstr(error.message, "beyond the end"));
    free(image);

    /* A gigantic length (the first 8 bytes of some other kind of file). */
    image = build("{}", NULL, 0, (uint64_t)1 << 40, &size);
    CHECK(df_safetensors_parse(image, size, "huge.st", &file, &error) == DF_ERR_FORMAT);
    CHECK(strstr(error.message, "huge.st") && strstr(error.message, "limit"));
    free(image);

    /* A truncated file: a valid one cut in its data section. */
    float values[4] = {1, 2, 3, 4};
    image = build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", values, 16,
                  UINT64_MAX, &size);
    CHECK(df_safetensors_parse(image, size - 3, "cut.st", &file, &error) == DF_ERR_FORMAT);
    CHECK(strstr(error.message, "cut.st") && strstr(error.message, "'w'"));
    free(image);
}

static void test_bad_json(void)
{
    EXPECT_ERROR("notjson.safetensors", "{\"a\": [1, 2", 0, DF_ERR_FORMAT, "not valid JSON");
    EXPECT_ERROR("binary.safetensors", "\x89PNG\r\n\x1a\n", 0, DF_ERR_FORMAT, "not valid JSON");
    EXPECT_ERROR("array.safetensors", "[1, 2, 3]", 0, DF_ERR_FORMAT, "not an object");
    EXPECT_ERROR("string.safetensors", "\"hello\"", 0, DF_ERR_FORMAT, "header");
    EXPECT_ERROR("dup.safetensors",
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                 2, DF_ERR_FORMAT, "duplicate");
    EXPECT_ERROR("entry.safetensors", "{\"t1\": 5}", 0, DF_ERR_FORMAT, "'t1'", "not a JSON object");
}

static void test_bad_fields(void)
{
    EXPECT_ERROR("dtype.safetensors",
                 "{\"weird\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                 DF_ERR_FORMAT, "unknown dtype 'F7'", "'weird'");
    EXPECT_ERROR("nodtype.safetensors", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                 DF_ERR_FORMAT, "'t'", "dtype");
    EXPECT_ERROR("dtypenum.safetensors",
                 "{\"t\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, DF_ERR_FORMAT,
                 "'t'", "dtype");
    EXPECT_ERROR("noshape.safetensors", "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1,
                 DF_ERR_FORMAT, "'t'", "shape");
    EXPECT_ERROR("nooffsets.safetensors", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1,
                 DF_ERR_FORMAT, "'t'", "data_offsets");
    EXPECT_ERROR("offsets3.safetensors",
                 "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
                 DF_ERR_FORMAT, "'t'", "data_offsets");
    EXPECT_ERROR("offsetsfloat.safetensors",
                 "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.0]}}", 1,
                 DF_ERR_FORMAT, "'t'", "integers");
    EXPECT_ERROR("negshape.safetensors",
                 "{\"neg\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 16,
                 DF_ERR_FORMAT, "'neg'", "negative");
    EXPECT_ERROR("floatshape.safetensors",
                 "{\"flt\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
                 DF_ERR_FORMAT, "'flt'", "non-integer");
    EXPECT_ERROR("strshape.safetensors",
                 "{\"s\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                 DF_ERR_FORMAT, "'s'", "non-integer");
    EXPECT_ERROR("meta.safetensors", "{\"__metadata__\":{\"format\":5}}", 0, DF_ERR_FORMAT,
                 "metadata entry 'format'");
    EXPECT_ERROR("metaarr.safetensors", "{\"__metadata__\":[1]}", 0, DF_ERR_FORMAT,
                 "__metadata__");
}

static void test_bad_offsets(void)
{
    EXPECT_ERROR("range.safetensors",
                 "{\"far\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                 DF_ERR_FORMAT, "'far'", "outside the data section");
    EXPECT_ERROR("reversed.safetensors",
                 "{\"rev\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                 DF_ERR_FORMAT, "'rev'", "outside");
    EXPECT_ERROR("negoff.safetensors",
                 "{\"n\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 4,
                 DF_ERR_FORMAT, "'n'", "outside");
    EXPECT_ERROR("numel.safetensors",
                 "{\"mis\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16,
                 DF_ERR_FORMAT, "'mis'", "need 18");
    EXPECT_ERROR("overlap.safetensors",
                 "{\"first\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"second\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 24, DF_ERR_FORMAT, "'second'", "overlaps", "'first'");
    EXPECT_ERROR("same.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 8, DF_ERR_FORMAT, "overlaps");
    EXPECT_ERROR("hole.safetensors",
                 "{\"after\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                 DF_ERR_FORMAT, "hole", "'after'");
    EXPECT_ERROR("trailing.safetensors",
                 "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
                 DF_ERR_FORMAT, "8 bytes of trailing data", "'t'");
    EXPECT_ERROR("trailing0.safetensors", "{}", 3, DF_ERR_FORMAT, "trailing");
}

static void test_huge_shapes(void)
{
    /* Element count overflowing 64 bits must not wrap around to a small size. */
    EXPECT_ERROR("overflow.safetensors",
                 "{\"big\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000,1000000,1000000],"
                 "\"data_offsets\":[0,0]}}",
                 0, DF_ERR_FORMAT, "'big'", "overflows");
    EXPECT_ERROR("overflow2.safetensors",
                 "{\"big2\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                 "\"data_offsets\":[0,0]}}",
                 0, DF_ERR_FORMAT, "'big2'", "overflows");
    /* wraps to exactly 0 bytes with naive arithmetic: 2^62 * 4 */
    EXPECT_ERROR("wrap.safetensors",
                 "{\"wrap\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                 "\"data_offsets\":[0,0]}}",
                 0, DF_ERR_FORMAT, "'wrap'", "overflows");

    /* A million dimensions of 1: a valid element count, refused as a weight. */
    size_t dims = 1000000;
    char *header = malloc(dims * 2 + 200);
    char *p = header + sprintf(header, "{\"deep\":{\"dtype\":\"F32\",\"shape\":[");
    for (size_t i = 0; i < dims; i++) {
        *p++ = '1';
        *p++ = i + 1 < dims ? ',' : ']';
    }
    sprintf(p, ",\"data_offsets\":[0,4]}}");
    EXPECT_ERROR("deep.safetensors", header, 4, DF_ERR_UNSUPPORTED, "'deep'", "1000000 dimensions");
    free(header);

    /* Five dims of a non-weight dtype open, folded into four. */
    df_error error;
    df_safetensors *file = NULL;
    size_t size;
    unsigned char bytes[48] = {0};
    unsigned char *image = build("{\"mask\":{\"dtype\":\"U8\",\"shape\":[2,2,2,3,2],"
                                 "\"data_offsets\":[0,48]}}",
                                 bytes, 48, UINT64_MAX, &size);
    REQUIRE(df_safetensors_parse(image, size, "five", &file, &error) == DF_OK);
    const df_st_tensor *mask = df_safetensors_find(file, "mask");
    REQUIRE(mask);
    CHECK(mask->ndim == 4 && mask->shape[3] == 6 && mask->size == 48);
    df_safetensors_close(file);
    free(image);
}

static void test_missing_file(void)
{
    df_error error;
    df_safetensors *file = NULL;
    CHECK(df_safetensors_open(temp_path("nope.safetensors"), &file, &error) == DF_ERR_IO);
    CHECK(strstr(error.message, "nope.safetensors"));
    CHECK(df_safetensors_open(temp_dir, &file, &error) == DF_ERR_IO);
    CHECK(strstr(error.message, "not a regular file"));
    CHECK(df_safetensors_open(NULL, &file, &error) == DF_ERR_INVALID_ARGUMENT);
}

static uint16_t f16_of(float value)
{
    /* exact for the small integers used here */
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if (value == 0)
        return 0;
    uint32_t exponent = ((bits >> 23) & 0xff) - 127 + 15;
    return (uint16_t)((bits >> 16 & 0x8000) | exponent << 10 | ((bits >> 13) & 0x3ff));
}

static void test_valid(void)
{
    /* f32 [2,3], f16 [2], bf16 [2], i64 [3], a 0-d scalar, an empty tensor,
     * metadata, and a header padded with spaces as the reference writer does. */
    unsigned char data[24 + 4 + 4 + 24 + 4];
    float f32[6] = {1, 2, 3, 4, 5, 6};
    uint16_t f16[2] = {f16_of(1.5f), f16_of(-2)};
    uint16_t bf16[2] = {0x3f80, 0xc000}; /* 1, -2 */
    int64_t i64[3] = {0, 1, 76};
    float scalar = 0.5f;
    memcpy(data, f32, 24);
    memcpy(data + 24, f16, 4);
    memcpy(data + 28, bf16, 4);
    memcpy(data + 32, i64, 24);
    memcpy(data + 56, &scalar, 4);
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\",\"diffuse_config\":\"{\\\"unet\\\": {}}\"},"
        "\"z.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"b.f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
        "\"a.bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
        "\"position_ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[32,56]},"
        "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[56,60]},"
        "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[60,60]}}       ";
    size_t size;
    unsigned char *image = build(header, data, sizeof data, UINT64_MAX, &size);
    write_bytes(temp_path("valid.safetensors"), image, size);
    free(image);

    df_error error = {0};
    df_safetensors *file = NULL;
    df_status status = df_safetensors_open(temp_path("valid.safetensors"), &file, &error);
    CHECKF(status == DF_OK, "%s", error.message);
    REQUIRE(file);
    CHECK(df_safetensors_count(file) == 6);
    CHECK(df_safetensors_file_size(file) == size);
    /* sorted by name */
    for (size_t i = 1; i < df_safetensors_count(file); i++)
        CHECK(strcmp(df_safetensors_at(file, i - 1)->name, df_safetensors_at(file, i)->name) < 0);
    CHECK(!strcmp(df_safetensors_path(file), temp_path("valid.safetensors")));

    const df_st_tensor *t = df_safetensors_find(file, "z.f32");
    REQUIRE(t);
    CHECK(t->st_dtype == DF_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    CHECK(t->size == 24 && t->offset == 0 && !memcmp(t->data, f32, 24));
    df_dtype dtype;
    CHECK(df_st_dtype_to_weight(t->st_dtype, &dtype) && dtype == DF_DTYPE_F32);

    t = df_safetensors_find(file, "b.f16");
    REQUIRE(t);
    CHECK(t->st_dtype == DF_ST_F16 && df_st_dtype_to_weight(t->st_dtype, &dtype) &&
          dtype == DF_DTYPE_F16);
    CHECK(!memcmp(t->data, f16, 4));
    t = df_safetensors_find(file, "a.bf16");
    REQUIRE(t);
    CHECK(t->st_dtype == DF_ST_BF16 && !memcmp(t->data, bf16, 4));
    t = df_safetensors_find(file, "position_ids");
    REQUIRE(t);
    CHECK(t->st_dtype == DF_ST_I64 && !df_st_dtype_to_weight(t->st_dtype, NULL));
    CHECK(!memcmp(t->data, i64, 24) && !strcmp(df_st_dtype_name(t->st_dtype), "I64"));
    t = df_safetensors_find(file, "scalar");
    REQUIRE(t);
    CHECK(t->ndim == 0 && t->size == 4);
    t = df_safetensors_find(file, "empty");
    REQUIRE(t);
    CHECK(t->ndim == 2 && t->shape[0] == 0 && t->size == 0);
    CHECK(!df_safetensors_find(file, "missing"));
    CHECK(!df_safetensors_find(file, "__metadata__"));

    CHECK(!strcmp(df_safetensors_metadata(file, "format"), "pt"));
    CHECK(!strcmp(df_safetensors_metadata(file, "diffuse_config"), "{\"unet\": {}}"));
    CHECK(!df_safetensors_metadata(file, "absent"));
    CHECK(df_safetensors_metadata_count(file) == 2);
    df_safetensors_close(file);
    df_safetensors_close(NULL);

    /* No tensors at all is a valid (if useless) file. */
    CHECK(open_header("none.safetensors", "{}", 0, &error) == DF_OK);
    CHECK(open_header("onlymeta.safetensors", "{\"__metadata__\":{}}", 0, &error) == DF_OK);
}

static void test_dtype_table(void)
{
    CHECK(df_st_dtype_size(DF_ST_F64) == 8 && df_st_dtype_size(DF_ST_BF16) == 2);
    CHECK(df_st_dtype_size(DF_ST_BOOL) == 1 && df_st_dtype_size(DF_ST_F8_E5M2) == 1);
    CHECK(!strcmp(df_st_dtype_name(DF_ST_F8_E4M3), "F8_E4M3"));
    CHECK(!strcmp(df_st_dtype_name((df_st_dtype)99), "?"));
    CHECK(!df_st_dtype_to_weight(DF_ST_F64, NULL));
}

int main(void)
{
    snprintf(temp_dir, sizeof temp_dir, "%s/df_test_st_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    DF_RUN(test_too_short);
    DF_RUN(test_header_length);
    DF_RUN(test_bad_json);
    DF_RUN(test_bad_fields);
    DF_RUN(test_bad_offsets);
    DF_RUN(test_huge_shapes);
    DF_RUN(test_missing_file);
    DF_RUN(test_valid);
    DF_RUN(test_dtype_table);
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", temp_dir);
    return df_test_finish();
}
