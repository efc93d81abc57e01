/*
 * test_tokenizer.c — the CLIP tokenizer against transformers' CLIPTokenizer
 * (with ftfy) on the corpus of tests/fixtures/tokens/reference.json, made by
 * tools/make_token_fixtures.py, and AUTOMATIC1111's windows for pad tokens
 * 49407 and 0; ftfy's mojibake repair (fix_text's text and the ids, and
 * badness.is_bad) on tests/fixtures/tokens/ftfy.json, made by
 * tools/make_ftfy_fixtures.py; then bad input, edge cases and the cost of
 * long prompts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diffuse.h"
#include "harness.h"
#include "text/text_clean.h"
#include "text/text_fix_encoding.h"

static df_tokenizer *tokenizer;

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void print_ids(const char *label, const int32_t *ids, size_t count)
{
    fprintf(stderr, "    %s (%zu):", label, count);
    for (size_t i = 0; i < count && i < 40; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, count > 40 ? " ...\n" : "\n");
}

static void print_text(const char *text)
{
    fprintf(stderr, "    text: \"");
    for (const unsigned char *p = (const unsigned char *)text; *p && p - (const unsigned char *)text < 120; p++)
        fprintf(stderr, *p < 0x20 || *p == 0x7F ? "\\x%02x" : "%c", *p);
    fprintf(stderr, "\"\n");
}

/* Compares our windows for `pad` with the fixture's (trailing pad left out
 * there); returns 1 when equal. */
static int windows_equal(const df_token_windows *windows, const json_t *expected, int32_t pad)
{
    if (windows->window_count != json_array_size(expected))
        return 0;
    for (size_t w = 0; w < windows->window_count; w++) {
        const json_t *window = json_array_get(expected, w);
        size_t stored = json_array_size(window);
        if (stored > DF_CLIP_WINDOW)
            return 0;
        const int32_t *ids = windows->ids + w * DF_CLIP_WINDOW;
        for (size_t k = 0; k < DF_CLIP_WINDOW; k++) {
            int32_t want = k < stored ? (int32_t)json_integer_value(json_array_get(window, k)) : pad;
            if (ids[k] != want)
                return 0;
        }
    }
    return 1;
}

static void test_reference_corpus(void)
{
    json_error_t json_error;
    json_t *root = json_load_file(df_test_path("tests/fixtures/tokens/reference.json"), JSON_ALLOW_NUL,
                                  &json_error);
    REQUIRE(root != NULL);
    json_t *prompts = json_object_get(root, "prompts");
    REQUIRE(json_is_array(prompts));
    size_t total = json_array_size(prompts), id_mismatches = 0, window_mismatches = 0;
    size_t shown = 0;
    CHECK(total >= 300);
    for (size_t p = 0; p < total; p++) {
        const json_t *entry = json_array_get(prompts, p);
        const char *text = json_string_value(json_object_get(entry, "text"));
        size_t length = json_string_length(json_object_get(entry, "text"));
        const json_t *expected = json_object_get(entry, "ids");
        df_error error = {0};
        int32_t *ids = NULL;
        size_t count = 0;
        df_status status = df_tokenize(tokenizer, text, length, &ids, &count, &error);
        int equal = status == DF_OK && count == json_array_size(expected);
        for (size_t i = 0; equal && i < count; i++)
            equal = ids[i] == (int32_t)json_integer_value(json_array_get(expected, i));
        if (!equal) {
            id_mismatches++;
            if (shown++ < 5) {
                fprintf(stderr, "  ids differ for prompt %zu (%s)\n", p,
                        status ? error.message : "ok");
                print_text(text);
                print_ids("got", ids, count);
                int32_t want[400];
                size_t n = json_array_size(expected);
                for (size_t i = 0; i < n && i < 400; i++)
                    want[i] = (int32_t)json_integer_value(json_array_get(expected, i));
                print_ids("want", want, n < 400 ? n : 400);
            }
        }
        free(ids);
        static const int32_t pads[2] = {DF_CLIP_END_TOKEN, 0};
        for (int k = 0; k < 2; k++) {
            char key[32];
            snprintf(key, sizeof key, "windows_%d", (int)pads[k]);
            df_token_windows windows = {0};
            status = df_tokenize_windows(tokenizer, text, length, pads[k], &windows, &error);
            if (status != DF_OK || !windows_equal(&windows, json_object_get(entry, key), pads[k])) {
                window_mismatches++;
                if (shown++ < 5) {
                    fprintf(stderr, "  windows (pad %d) differ for prompt %zu: %zu windows, want %zu\n",
                            (int)pads[k], p, windows.window_count,
                            json_array_size(json_object_get(entry, key)));
                    print_text(text);
                }
            }
            if (status == DF_OK && windows.token_count != count)
                window_mismatches++;
            df_token_windows_free(&windows);
        }
    }
    fprintf(stderr,
            "  reference corpus: %zu prompts, %zu id mismatches, %zu window mismatches\n", total,
            id_mismatches, window_mismatches);
    CHECK(id_mismatches == 0);
    CHECK(window_mismatches == 0);
    json_decref(root);
}

/* Decodes a fixture string; REQUIREs it to be valid UTF-8. */
static void decode_fixture(const json_t *string, df_text_buffer *out)
{
    df_error error = {0};
    df_status status = df_text_decode_utf8(json_string_value(string), json_string_length(string),
                                           out, &error);
    CHECKF(status == DF_OK, "fixture string: %s", error.message);
}

static int buffers_equal(const df_text_buffer *a, const df_text_buffer *b)
{
    return a->count == b->count && (a->count == 0 || !memcmp(a->data, b->data,
                                                             a->count * sizeof *a->data));
}

static void test_ftfy_fix_encoding(void)
{
    json_error_t json_error;
    json_t *root = json_load_file(df_test_path("tests/fixtures/tokens/ftfy.json"), JSON_ALLOW_NUL,
                                  &json_error);
    REQUIRE(root != NULL);
    json_t *prompts = json_object_get(root, "prompts");
    json_t *bad_cases = json_object_get(root, "is_bad");
    REQUIRE(json_is_array(prompts) && json_is_array(bad_cases));
    df_text_cleaner *cleaner = NULL;
    REQUIRE(df_text_cleaner_create(&cleaner, NULL) == DF_OK);
    size_t total = json_array_size(prompts), text_mismatches = 0, id_mismatches = 0, shown = 0;
    size_t repaired = 0;
    CHECK(total >= 300);
    df_text_buffer input = {0}, want = {0}, got = {0};
    for (size_t p = 0; p < total; p++) {
        const json_t *entry = json_array_get(prompts, p);
        const json_t *text = json_object_get(entry, "text");
        decode_fixture(text, &input);
        decode_fixture(json_object_get(entry, "fixed"), &want);
        df_error error = {0};
        int equal = df_text_fix(cleaner, input.data, input.count, &got, &error) == DF_OK &&
                    buffers_equal(&got, &want);
        repaired += !buffers_equal(&input, &want);
        if (!equal) {
            text_mismatches++;
            if (shown++ < 5) {
                fprintf(stderr, "  fix_text differs for prompt %zu (%s)\n", p,
                        json_string_value(json_object_get(entry, "kind")));
                print_text(json_string_value(text));
                print_text(json_string_value(json_object_get(entry, "fixed")));
            }
        }
        const json_t *expected = json_object_get(entry, "ids");
        int32_t *ids = NULL;
        size_t count = 0;
        equal = df_tokenize(tokenizer, json_string_value(text), json_string_length(text), &ids,
                            &count, &error) == DF_OK &&
                count == json_array_size(expected);
        for (size_t i = 0; equal && i < count; i++)
            equal = ids[i] == (int32_t)json_integer_value(json_array_get(expected, i));
        if (!equal) {
            id_mismatches++;
            if (shown++ < 5) {
                fprintf(stderr, "  ids differ for prompt %zu\n", p);
                print_text(json_string_value(text));
                print_ids("got", ids, count);
            }
        }
        free(ids);
    }
    size_t bad_total = json_array_size(bad_cases), bad_mismatches = 0;
    CHECK(bad_total >= 1000);
    for (size_t i = 0; i < bad_total; i++) {
        const json_t *pair = json_array_get(bad_cases, i);
        decode_fixture(json_array_get(pair, 0), &input);
        int verdict = df_text_is_bad(input.data, input.count);
        if (verdict != json_is_true(json_array_get(pair, 1))) {
            bad_mismatches++;
            if (shown++ < 5) {
                fprintf(stderr, "  is_bad gives %d, ftfy %d for\n", verdict, !verdict);
                print_text(json_string_value(json_array_get(pair, 0)));
            }
        }
    }
    fprintf(stderr,
            "  ftfy corpus: %zu prompts (%zu changed by fix_text), %zu text mismatches, %zu id "
            "mismatches; %zu is_bad cases, %zu mismatches\n",
            total, repaired, text_mismatches, id_mismatches, bad_total, bad_mismatches);
    CHECK(repaired >= 300);
    CHECK(text_mismatches == 0);
    CHECK(id_mismatches == 0);
    CHECK(bad_mismatches == 0);
    df_text_buffer_free(&input);
    df_text_buffer_free(&want);
    df_text_buffer_free(&got);
    df_text_cleaner_free(cleaner);
    json_decref(root);
}

static int tokenize_equals(const char *text, size_t length, const int32_t *want, size_t want_count)
{
    int32_t *ids = NULL;
    size_t count = 0;
    df_error error = {0};
    if (df_tokenize(tokenizer, text, length, &ids, &count, &error) != DF_OK)
        return 0;
    int equal = count == want_count && (count == 0 || !memcmp(ids, want, count * sizeof *ids));
    free(ids);
    return equal;
}

static void test_known_ids(void)
{
    /* openai/clip-vit-large-patch14: "a photo of a cat" */
    static const int32_t cat[] = {320, 1125, 539, 320, 2368};
    CHECK(tokenize_equals("a photo of a cat", 16, cat, 5));
    CHECK(tokenize_equals("  A PHOTO\tof\n a   cat  ", 23, cat, 5));
    CHECK(tokenize_equals("", 0, NULL, 0));
    CHECK(tokenize_equals(NULL, 0, NULL, 0));
    static const int32_t comma[] = {267};
    CHECK(tokenize_equals(",", 1, comma, 1));
}

static void test_invalid_utf8(void)
{
    static const struct {
        const char *bytes;
        size_t length;
        const char *offset;
    } cases[] = {
        {"ab\xC0\x80", 4, "offset 2"},          /* overlong NUL */
        {"a\xE0\x80\xAF", 4, "offset 1"},       /* overlong '/' */
        {"\xF0\x82\x82\xAC", 4, "offset 0"},    /* overlong euro */
        {"xyz\xED\xA0\x80", 6, "offset 3"},     /* surrogate U+D800 */
        {"ok \xED\xBF\xBF", 6, "offset 3"},     /* surrogate U+DFFF */
        {"abc\xE2\x82", 5, "offset 3"},         /* truncated at the end */
        {"abc\xE2\x82z", 6, "offset 5"},        /* truncated: bad continuation */
        {"\x80", 1, "offset 0"},                /* lone continuation */
        {"a\xF4\x90\x80\x80", 5, "offset 1"},   /* above U+10FFFF */
        {"a\xF8\x88\x80\x80\x80", 6, "offset 1"}, /* 5-byte form */
        {"\xFF", 1, "offset 0"},
        {"caf\xE9", 4, "offset 3"},             /* Latin-1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        df_error error = {0};
        int32_t *ids = (int32_t *)&error;
        size_t count = 99;
        df_status status = df_tokenize(tokenizer, cases[i].bytes, cases[i].length, &ids, &count,
                                       &error);
        CHECKF(status == DF_ERR_INVALID_ARGUMENT, "case %zu: status %d", i, (int)status);
        CHECKF(strstr(error.message, cases[i].offset) != NULL, "case %zu: '%s'", i, error.message);
        CHECK(ids == NULL && count == 0);
        df_token_windows windows;
        status = df_tokenize_windows(tokenizer, cases[i].bytes, cases[i].length, 0, &windows,
                                     &error);
        CHECK(status == DF_ERR_INVALID_ARGUMENT);
        CHECK(windows.ids == NULL && windows.window_count == 0);
    }
    /* The largest valid code points and the last ones before surrogates. */
    int32_t *ids = NULL;
    size_t count = 0;
    CHECK(df_tokenize(tokenizer, "\xF4\x8F\xBF\xBF \xED\x9F\xBF \xEE\x80\x80", 12, &ids, &count,
                      NULL) == DF_OK);
    CHECK(count > 0);
    free(ids);
}

static void test_nul_bytes(void)
{
    /* ftfy's remove_control_chars drops NUL like the other C0 controls. */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    REQUIRE(df_tokenize(tokenizer, "a c\0at\0", 7, &a, &na, NULL) == DF_OK);
    REQUIRE(df_tokenize(tokenizer, "a cat", 5, &b, &nb, NULL) == DF_OK);
    CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
    free(a);
    free(b);
    /* A prompt that is nothing but removed controls cleans to no text at
     * all (the sanitized build once stopped on a memcpy to NULL here). */
    a = NULL;
    na = 99;
    CHECK(df_tokenize(tokenizer, "\x1c\x01\x7f", 3, &a, &na, NULL) == DF_OK);
    CHECK(na == 0);
    free(a);
}

static void test_windows_edges(void)
{
    df_token_windows windows;
    df_error error = {0};
    REQUIRE(df_tokenize_windows(tokenizer, "", 0, DF_CLIP_END_TOKEN, &windows, &error) == DF_OK);
    CHECK(windows.window_count == 1 && windows.token_count == 0);
    CHECK(windows.content_lengths[0] == 0);
    CHECK(windows.ids[0] == DF_CLIP_START_TOKEN);
    for (int k = 1; k < DF_CLIP_WINDOW; k++)
        CHECK(windows.ids[k] == DF_CLIP_END_TOKEN);
    df_token_windows_free(&windows);
    df_token_windows_free(&windows); /* idempotent */

    REQUIRE(df_tokenize_windows(tokenizer, "", 0, 0, &windows, &error) == DF_OK);
    CHECK(windows.ids[1] == DF_CLIP_END_TOKEN && windows.ids[2] == 0 && windows.ids[76] == 0);
    df_token_windows_free(&windows);

    /* "cat" is one token: 75 fill one window, 76 need two. */
    char text[80 * 4 + 1];
    for (int n = 74; n <= 77; n++) {
        text[0] = 0;
        for (int i = 0; i < n; i++)
            strcat(text, "cat ");
        REQUIRE(df_tokenize_windows(tokenizer, text, strlen(text), DF_CLIP_END_TOKEN, &windows,
                                    &error) == DF_OK);
        CHECKF(windows.window_count == (n <= 75 ? 1u : 2u), "n=%d: %zu windows", n,
               windows.window_count);
        CHECK(windows.content_lengths[0] == (n <= 75 ? n : 75));
        if (n > 75)
            CHECK(windows.content_lengths[1] == n - 75);
        df_token_windows_free(&windows);
    }

    CHECK(df_tokenize_windows(tokenizer, "a", 1, -1, &windows, &error) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_tokenize_windows(tokenizer, "a", 1, 49408, &windows, &error) ==
          DF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(error.message, "pad token") != NULL);
}

static void test_long_prompts(void)
{
    /* 12,000+ characters of tag list: many windows, linear time. */
    static const char *const pieces[] = {"masterpiece, ", "best quality, ", "a castle on a hill ",
                                         "ΟΔΟΣ ", "日本語 ", "😀👍🏽 ", "&amp; ", "it's "};
    size_t capacity = 200000, length = 0;
    char *text = malloc(capacity);
    REQUIRE(text != NULL);
    for (size_t i = 0; length < 12000; i++) {
        const char *piece = pieces[(i * 7) % 8];
        memcpy(text + length, piece, strlen(piece));
        length += strlen(piece);
    }
    df_token_windows windows;
    double start = now_seconds();
    REQUIRE(df_tokenize_windows(tokenizer, text, length, DF_CLIP_END_TOKEN, &windows, NULL) ==
            DF_OK);
    double elapsed = now_seconds() - start;
    size_t sum = 0;
    for (size_t i = 0; i < windows.window_count; i++) {
        CHECK(windows.content_lengths[i] <= DF_CLIP_WINDOW_CONTENT);
        if (i + 1 < windows.window_count)
            CHECK(windows.content_lengths[i] > DF_CLIP_WINDOW_CONTENT - 20);
        sum += (size_t)windows.content_lengths[i];
    }
    CHECK(sum == windows.token_count);
    CHECK(windows.window_count > 20);
    fprintf(stderr, "  %zu-byte prompt: %zu tokens, %zu windows in %.2f ms\n", length,
            windows.token_count, windows.window_count, elapsed * 1e3);
    df_token_windows_free(&windows);

    /* One 150,000-byte word and a 150,000-byte punctuation run: BPE stays
     * O(n log n). */
    static const char fill[] = {'a', '!', 'x'};
    for (int k = 0; k < 3; k++) {
        length = 150000;
        for (size_t i = 0; i < length; i++)
            text[i] = k == 2 ? "xyzzy"[i % 5] : fill[k];
        int32_t *ids = NULL;
        size_t count = 0;
        start = now_seconds();
        REQUIRE(df_tokenize(tokenizer, text, length, &ids, &count, NULL) == DF_OK);
        elapsed = now_seconds() - start;
        fprintf(stderr, "  150,000 x '%c'%s: %zu tokens in %.2f ms\n", fill[k],
                k == 2 ? " (xyzzy)" : "", count, elapsed * 1e3);
        CHECK(count > 0 && count < length);
        CHECK(elapsed < 5.0);
        free(ids);
    }
    free(text);
}

static void test_create_free(void)
{
    for (int i = 0; i < 3; i++) {
        df_tokenizer *t = NULL;
        df_error error = {0};
        CHECK(df_tokenizer_create(&t, &error) == DF_OK);
        df_tokenizer_free(t);
    }
    df_tokenizer_free(NULL);
    df_token_windows_free(NULL);
    CHECK(df_tokenizer_create(NULL, NULL) == DF_ERR_INVALID_ARGUMENT);
    int32_t *ids;
    size_t count;
    CHECK(df_tokenize(NULL, "a", 1, &ids, &count, NULL) == DF_ERR_INVALID_ARGUMENT);
    CHECK(df_tokenize(tokenizer, NULL, 3, &ids, &count, NULL) == DF_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    df_error error = {0};
    double start = now_seconds();
    if (df_tokenizer_create(&tokenizer, &error) != DF_OK) {
        fprintf(stderr, "df_tokenizer_create: %s\n", error.message);
        return 1;
    }
    fprintf(stderr, "  tokenizer created in %.1f ms\n", (now_seconds() - start) * 1e3);
    DF_RUN(test_known_ids);
    DF_RUN(test_reference_corpus);
    DF_RUN(test_ftfy_fix_encoding);
    DF_RUN(test_invalid_utf8);
    DF_RUN(test_nul_bytes);
    DF_RUN(test_windows_edges);
    DF_RUN(test_long_prompts);
    DF_RUN(test_create_free);
    df_tokenizer_free(tokenizer);
    return df_test_finish();
}
