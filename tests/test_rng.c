/*
 * test_rng.c — df_rng against tests/fixtures/reference/rng.safetensors
 * (tools/make_rng_fixtures.py): torch's CPU randn (AVX2 kernel and the
 * non-AVX2 one) and A1111's Philox imitation of torch's CUDA randn. Every
 * comparison is bit for bit; on a mismatch the ulp distances are printed.
 * Long draws are checked through their stored head, tail, float64 sum and
 * FNV-1a hash of all bytes.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"
#include "io/safetensors.h"
#include "pipeline/rng.h"

static df_safetensors *fixture;

/* Distance in representable floats (sign-magnitude mapped to a line). */
static int64_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? -(int64_t)(ia & 0x7fffffff) : ia;
    int64_t lb = ib < 0 ? -(int64_t)(ib & 0x7fffffff) : ib;
    return la > lb ? la - lb : lb - la;
}

static uint64_t fnv1a64(const float *values, size_t count)
{
    const unsigned char *bytes = (const unsigned char *)values;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < count * 4; i++) /* little-endian hosts only, like the fixture */
        h = (h ^ bytes[i]) * UINT64_C(0x100000001b3);
    return h;
}

typedef struct stats {
    size_t values, draws, mismatches;
    int64_t worst_ulp;
} stats;

/* Compares got[0..count) with the stored tensor `name`; returns mismatches. */
static size_t compare_tensor(const char *name, const float *got, size_t count, stats *st)
{
    const df_st_tensor *t = df_safetensors_find(fixture, name);
    if (!t || t->st_dtype != DF_ST_F32 || t->size != count * 4) {
        CHECKF(0, "fixture tensor %s missing or not %zu f32", name, count);
        return 1;
    }
    float *want = malloc(count * 4);
    if (!want) {
        CHECK(want);
        return 1;
    }
    memcpy(want, t->data, count * 4);
    size_t bad = 0;
    if (memcmp(want, got, count * 4) != 0) {
        for (size_t i = 0; i < count; i++) {
            int64_t d = ulp_distance(want[i], got[i]);
            if (d) {
                if (bad < 3)
                    fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (%" PRId64 " ulp)\n", name, i,
                            got[i], want[i], d);
                bad++;
                if (d > st->worst_ulp)
                    st->worst_ulp = d;
            }
        }
    }
    st->values += count;
    free(want);
    return bad;
}

static void run_case(json_t *c, stats *per_kind)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *kind_name = json_string_value(json_object_get(c, "kind"));
    const char *seed_text = json_string_value(json_object_get(c, "seed"));
    json_t *sizes = json_object_get(c, "sizes");
    df_rng_kind kind;
    REQUIRE(name && kind_name && seed_text && json_is_array(sizes));
    REQUIRE(df_rng_kind_parse(kind_name, &kind) == 0);
    stats *st = &per_kind[kind];
#ifndef __GLIBC__
    /* torch's non-AVX2 kernel calls libm's logf/sinf/cosf: the fixture holds
     * glibc's results, another libm may differ in the last bits */
    if (kind == DF_RNG_CPU_DEFAULT_ISA)
        return;
#endif

    df_rng rng;
    df_rng_seed(&rng, kind, strtoull(seed_text, NULL, 10));
    size_t d;
    json_t *size;
    json_array_foreach(sizes, d, size) {
        size_t n = (size_t)json_integer_value(size);
        float *got = malloc(n * sizeof *got);
        REQUIRE(got);
        df_rng_randn(&rng, got, n);
        char key[160], meta_key[176];
        snprintf(key, sizeof key, "%s.d%zu", name, d);
        size_t bad;
        if (df_safetensors_find(fixture, key)) {
            bad = compare_tensor(key, got, n, st);
        } else {
            size_t edge = 64;
            REQUIRE(n >= edge);
            snprintf(meta_key, sizeof meta_key, "%s.head", key);
            bad = compare_tensor(meta_key, got, edge, st);
            snprintf(meta_key, sizeof meta_key, "%s.tail", key);
            bad += compare_tensor(meta_key, got + n - edge, edge, st);

            double sum = 0.0;
            for (size_t i = 0; i < n; i++)
                sum += got[i];
            snprintf(meta_key, sizeof meta_key, "%s.sum", key);
            const char *want_sum = df_safetensors_metadata(fixture, meta_key);
            snprintf(meta_key, sizeof meta_key, "%s.fnv", key);
            const char *want_fnv = df_safetensors_metadata(fixture, meta_key);
            REQUIRE(want_sum && want_fnv);
            double ws = strtod(want_sum, NULL);
            uint64_t wf = strtoull(want_fnv, NULL, 16);
            uint64_t gf = fnv1a64(got, n);
            CHECKF(sum == ws, "%s: sum %.17g, torch %.17g", key, sum, ws);
            CHECKF(gf == wf, "%s: fnv %016" PRIx64 ", want %016" PRIx64, key, gf, wf);
            if (sum != ws || gf != wf)
                bad++;
            st->values += n - 2 * edge; /* checked through sum and hash */
        }
        CHECKF(bad == 0, "%s (%s seed %s, draw %zu of %zu values): %zu mismatches", name,
               kind_name, seed_text, d, n, bad);
        st->mismatches += bad;
        st->draws++;
        free(got);
    }
}

static void test_fixture(void)
{
    df_error error = {0};
    df_status status = df_safetensors_open(
        df_test_path("tests/fixtures/reference/rng.safetensors"), &fixture, &error);
    REQUIRE(status == DF_OK);
    const char *cases_text = df_safetensors_metadata(fixture, "cases");
    REQUIRE(cases_text);
    json_error_t jerr;
    json_t *cases = json_loads(cases_text, 0, &jerr);
    REQUIRE(json_is_array(cases));

    stats per_kind[3] = {{0}};
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) run_case(c, per_kind);
    for (int k = 0; k < 3; k++) {
        printf("  %-11s %4zu draws, %8zu values compared bit for bit, %zu mismatches "
               "(worst %" PRId64 " ulp)\n",
               df_rng_kind_name((df_rng_kind)k), per_kind[k].draws, per_kind[k].values,
               per_kind[k].mismatches, per_kind[k].worst_ulp);
#ifdef __GLIBC__
        CHECK(per_kind[k].draws > 0);
#endif
    }
    json_decref(cases);
    df_safetensors_close(fixture);
    fixture = NULL;
}

static void test_names(void)
{
    df_rng_kind k = DF_RNG_PHILOX;
    CHECK(df_rng_kind_parse("cpu", &k) == 0 && k == DF_RNG_CPU);
    CHECK(df_rng_kind_parse("CPU", &k) == 0 && k == DF_RNG_CPU);
    CHECK(df_rng_kind_parse("GPU", &k) == 0 && k == DF_RNG_PHILOX);
    CHECK(df_rng_kind_parse("NV", &k) == 0 && k == DF_RNG_PHILOX);
    CHECK(df_rng_kind_parse("cuda", &k) == 0 && k == DF_RNG_PHILOX);
    CHECK(df_rng_kind_parse("philox", &k) == 0 && k == DF_RNG_PHILOX);
    CHECK(df_rng_kind_parse("cpu-default", &k) == 0 && k == DF_RNG_CPU_DEFAULT_ISA);
    k = DF_RNG_CPU;
    CHECK(df_rng_kind_parse("mps", &k) == -1 && k == DF_RNG_CPU);
    CHECK(df_rng_kind_parse("", &k) == -1);
    CHECK(df_rng_kind_parse(NULL, &k) == -1);
    for (int i = 0; i < 3; i++) {
        df_rng_kind back;
        CHECK(df_rng_kind_parse(df_rng_kind_name((df_rng_kind)i), &back) == 0 && back == (df_rng_kind)i);
    }
}

/* Copying the struct forks the stream; reseeding resets the small-draw cache. */
static void test_state(void)
{
    for (int k = 0; k < 3; k++) {
        df_rng a, b;
        float x[37], y[37];
        df_rng_seed(&a, (df_rng_kind)k, 1234);
        df_rng_randn(&a, x, 3); /* leaves a cached value on the CPU kinds */
        b = a;
        df_rng_randn(&a, x, 37);
        df_rng_randn(&b, y, 37);
        CHECK(memcmp(x, y, sizeof x) == 0);
        df_rng_seed(&a, (df_rng_kind)k, 1234);
        df_rng_seed(&b, (df_rng_kind)k, 1234);
        df_rng_randn(&b, y, 1);
        df_rng_seed(&b, (df_rng_kind)k, 1234);
        df_rng_randn(&a, x, 5);
        df_rng_randn(&b, y, 5);
        CHECK(memcmp(x, y, 5 * sizeof *x) == 0);
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_speed(void)
{
    enum { N = 2 * 4 * 96 * 96 };
    float *out = malloc(N * sizeof *out);
    REQUIRE(out);
    for (int k = 0; k < 3; k++) {
        df_rng rng;
        df_rng_seed(&rng, (df_rng_kind)k, 42);
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_seconds();
            df_rng_randn(&rng, out, N);
            double t = now_seconds() - t0;
            if (t < best)
                best = t;
        }
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < N; i++) {
            sum += out[i];
            sq += (double)out[i] * out[i];
        }
        /* loose sanity on the distribution: mean ~ 0, variance ~ 1 */
        CHECK(fabs(sum / N) < 0.02 && fabs(sq / N - 1.0) < 0.03);
        printf("  randn 2x4x96x96 (%s): %.2f ms\n", df_rng_kind_name((df_rng_kind)k), best * 1e3);
    }
    free(out);
}

int main(void)
{
    DF_RUN(test_names);
    DF_RUN(test_state);
    DF_RUN(test_fixture);
    DF_RUN(test_speed);
    return df_test_finish();
}
