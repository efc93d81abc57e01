/*
 * test_metrics.c — the Prometheus text of src/server/metrics.c: known
 * samples recorded, the exposition rendered, and its lines checked exactly
 * (counter values, cumulative histogram buckets, _sum/_count, label
 * escaping, the bounded label sets, the gauges, a NULL metrics object).
 * Sample times are powers of two so their sums print exactly.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "server/metrics.h"

/* 1 when `line` is a whole line of `text`. */
static int has_line(const char *text, const char *line)
{
    size_t length = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[length] == '\n' || !p[length]))
            return 1;
    return 0;
}

/* Lines that start with `prefix`. */
static int count_lines(const char *text, const char *prefix)
{
    int count = 0;
    size_t length = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        count += !strncmp(p, prefix, length);
    return count;
}

#define CHECK_LINE(text, line) CHECKF(has_line(text, line), "missing line: %s", line)

static void test_requests(void)
{
    df_metrics *m = df_metrics_create();
    REQUIRE(m);
    df_metrics_request(m, "/v1/jobs/{}", "GET", 200, 0.00390625);
    df_metrics_request(m, "/v1/jobs/{}", "GET", 200, 0.015625);
    df_metrics_request(m, "/v1/jobs/{}", "POST", 202, 0.75);
    df_metrics_request(m, "/v1/jobs/{}", "GET", 200, 100); /* past the last bound */
    char *text = df_metrics_render(m, NULL);
    REQUIRE(text);
    CHECK_LINE(text, "# HELP diffuse_http_requests_total HTTP requests answered, by route "
                     "pattern, method and status.");
    CHECK_LINE(text, "# TYPE diffuse_http_requests_total counter");
    CHECK_LINE(text, "# TYPE diffuse_http_request_duration_seconds histogram");
    CHECK_LINE(text,
               "diffuse_http_requests_total{route=\"/v1/jobs/{}\",method=\"GET\",status=\"200\"} 3");
    CHECK_LINE(text,
               "diffuse_http_requests_total{route=\"/v1/jobs/{}\",method=\"POST\",status=\"202\"} 1");
    const char *prefix = "diffuse_http_request_duration_seconds_bucket{route=\"/v1/jobs/{}\",";
    static const struct {
        const char *le;
        int count;
    } buckets[] = {{"0.005", 1}, {"0.01", 1}, {"0.025", 2}, {"0.05", 2}, {"0.1", 2},
                   {"0.25", 2},  {"0.5", 2},  {"1", 3},     {"2.5", 3},  {"5", 3},
                   {"10", 3},    {"30", 3},   {"60", 3},    {"+Inf", 4}};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "%sle=\"%s\"} %d", prefix, buckets[i].le, buckets[i].count);
        CHECK_LINE(text, line);
    }
    CHECK(count_lines(text, prefix) == 14);
    CHECK_LINE(text,
               "diffuse_http_request_duration_seconds_sum{route=\"/v1/jobs/{}\"} 100.76953125");
    CHECK_LINE(text, "diffuse_http_request_duration_seconds_count{route=\"/v1/jobs/{}\"} 4");
    free(text);
    df_metrics_free(m);
}

/* Cumulative buckets never decrease and end at _count, whatever the order
 * of the samples. */
static void test_buckets_cumulative(void)
{
    df_metrics *m = df_metrics_create();
    REQUIRE(m);
    const double samples[] = {3000, 0.05, 7, 0.1, 0.1000001, 4000, 0, 59.9, 0.3};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        df_metrics_job_finished(m, "completed", samples[i], samples[i] * 2, 1);
    char *text = df_metrics_render(m, NULL);
    REQUIRE(text);
    const char *prefix = "diffuse_job_wait_seconds_bucket{le=\"";
    long previous = -1, last = -1;
    int lines = 0;
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        const char *value = strchr(p, ' ');
        REQUIRE(value);
        long count = strtol(value + 1, NULL, 10);
        CHECK(count >= previous);
        previous = last = count;
        lines++;
    }
    CHECK(lines == 15); /* 14 bounds and +Inf */
    CHECK(last == 9);
    CHECK_LINE(text, "diffuse_job_wait_seconds_bucket{le=\"0.1\"} 3"); /* le is inclusive */
    CHECK_LINE(text, "diffuse_job_wait_seconds_bucket{le=\"0.25\"} 4");
    CHECK_LINE(text, "diffuse_job_wait_seconds_bucket{le=\"3600\"} 8");
    CHECK_LINE(text, "diffuse_job_wait_seconds_bucket{le=\"+Inf\"} 9");
    CHECK_LINE(text, "diffuse_job_wait_seconds_count 9");
    CHECK_LINE(text, "diffuse_job_run_seconds_count 9");
    CHECK_LINE(text, "diffuse_job_run_seconds_bucket{le=\"0.1\"} 2");
    CHECK_LINE(text, "diffuse_jobs_total{outcome=\"completed\"} 9");
    CHECK_LINE(text, "diffuse_images_generated_total 9");
    free(text);
    df_metrics_free(m);
}

static void test_escaping_and_bounded_labels(void)
{
    df_metrics *m = df_metrics_create();
    REQUIRE(m);
    df_metrics_request(m, "/a\"b\\c\nd", "BREW", 999, 0.5);
    df_metrics_request(m, NULL, "GET", 404, 0.001);
    df_metrics_rate_limited(m, "we\"ird");
    char *text = df_metrics_render(m, NULL);
    REQUIRE(text);
    CHECK_LINE(text, "diffuse_http_requests_total{route=\"/a\\\"b\\\\c\\nd\",method=\"other\","
                     "status=\"0\"} 1");
    CHECK_LINE(text, "diffuse_http_request_duration_seconds_count{route=\"/a\\\"b\\\\c\\nd\"} 1");
    CHECK_LINE(text, "diffuse_http_requests_total{route=\"unmatched\",method=\"GET\","
                     "status=\"404\"} 1");
    CHECK_LINE(text, "diffuse_rate_limited_total{kind=\"we\\\"ird\"} 1");
    free(text);

    /* Raw paths passed by mistake cannot grow the set without bound. */
    for (int i = 0; i < 400; i++) {
        char route[32];
        snprintf(route, sizeof route, "/raw/%d", i);
        df_metrics_request(m, route, "GET", 200, 0.01);
    }
    text = df_metrics_render(m, NULL);
    REQUIRE(text);
    int routes = count_lines(text, "diffuse_http_request_duration_seconds_count{");
    CHECKF(routes <= 257, "%d route series", routes);
    CHECK(count_lines(text, "diffuse_http_request_duration_seconds_count{route=\"other\"}") == 1);
    free(text);

    /* A long route is cut, never overflowing its series. */
    char long_route[2000];
    memset(long_route, '"', sizeof long_route - 1);
    long_route[sizeof long_route - 1] = 0;
    df_metrics_request(m, long_route, "GET", 200, 0.01);
    text = df_metrics_render(m, NULL);
    CHECK(text != NULL);
    free(text);
    df_metrics_free(m);
}

static void test_counters_and_gauges(void)
{
    df_metrics *m = df_metrics_create();
    REQUIRE(m);
    char *text = df_metrics_render(m, NULL);
    REQUIRE(text);
    /* Known label values exist at 0 before any event. */
    CHECK_LINE(text, "diffuse_jobs_total{outcome=\"failed\"} 0");
    CHECK_LINE(text, "diffuse_model_loads_total{outcome=\"ok\"} 0");
    CHECK_LINE(text, "diffuse_rate_limited_total{kind=\"images\"} 0");
    CHECK_LINE(text, "diffuse_auth_failures_total 0");
    CHECK_LINE(text, "diffuse_unet_step_seconds_count 0");
    CHECK_LINE(text, "diffuse_unet_step_seconds_bucket{le=\"0.001\"} 0");
    CHECK(!strstr(text, "diffuse_queue_length")); /* no gauges given */
    free(text);

    df_metrics_job_finished(m, "cancelled", -1, -1, 0); /* never started: no times */
    df_metrics_job_finished(m, "failed", 0.5, 1, 0);
    df_metrics_unet_step(m, 0.125);
    df_metrics_unet_step(m, 0.25);
    df_metrics_model_load(m, 1, 2);
    df_metrics_model_load(m, 0, 0.5);
    df_metrics_rate_limited(m, "requests");
    df_metrics_rate_limited(m, "images");
    df_metrics_rate_limited(m, "images");
    df_metrics_auth_failure(m);
    df_metrics_gauges gauges = {.queue_length = 3, .queue_capacity = 64, .jobs_running = 1,
                                .models_loaded = 2};
    text = df_metrics_render(m, &gauges);
    REQUIRE(text);
    CHECK_LINE(text, "diffuse_jobs_total{outcome=\"cancelled\"} 1");
    CHECK_LINE(text, "diffuse_jobs_total{outcome=\"failed\"} 1");
    CHECK_LINE(text, "diffuse_jobs_total{outcome=\"completed\"} 0");
    CHECK_LINE(text, "diffuse_job_wait_seconds_count 1");
    CHECK_LINE(text, "diffuse_job_wait_seconds_sum 0.5");
    CHECK_LINE(text, "diffuse_job_run_seconds_sum 1");
    CHECK_LINE(text, "diffuse_images_generated_total 0");
    CHECK_LINE(text, "diffuse_unet_step_seconds_sum 0.375");
    CHECK_LINE(text, "diffuse_unet_step_seconds_bucket{le=\"0.1\"} 0");
    CHECK_LINE(text, "diffuse_unet_step_seconds_bucket{le=\"0.25\"} 2");
    CHECK_LINE(text, "diffuse_model_loads_total{outcome=\"ok\"} 1");
    CHECK_LINE(text, "diffuse_model_loads_total{outcome=\"failed\"} 1");
    CHECK_LINE(text, "diffuse_model_load_seconds_count 2");
    CHECK_LINE(text, "diffuse_model_load_seconds_sum 2.5");
    CHECK_LINE(text, "diffuse_model_load_seconds_bucket{le=\"0.5\"} 1");
    CHECK_LINE(text, "diffuse_rate_limited_total{kind=\"requests\"} 1");
    CHECK_LINE(text, "diffuse_rate_limited_total{kind=\"images\"} 2");
    CHECK_LINE(text, "diffuse_auth_failures_total 1");
    CHECK_LINE(text, "# TYPE diffuse_queue_length gauge");
    CHECK_LINE(text, "diffuse_queue_length 3");
    CHECK_LINE(text, "diffuse_queue_capacity 64");
    CHECK_LINE(text, "diffuse_jobs_running 1");
    CHECK_LINE(text, "diffuse_models_loaded 2");
    CHECK_LINE(text, "diffuse_up 1");
    CHECK_LINE(text, "# TYPE process_resident_memory_bytes gauge");
    const char *rss = strstr(text, "\nprocess_resident_memory_bytes ");
    REQUIRE(rss);
    double bytes = strtod(rss + strlen("\nprocess_resident_memory_bytes "), NULL);
    long page = sysconf(_SC_PAGESIZE);
    CHECKF(bytes >= 1 << 20 && bytes < 1e12, "%g", bytes);
    CHECK(page > 0 && (long long)bytes % page == 0);
    /* Every HELP comes with a TYPE, and the text ends with a newline. */
    CHECK(count_lines(text, "# HELP ") == count_lines(text, "# TYPE "));
    CHECK(text[strlen(text) - 1] == '\n');
    free(text);
    df_metrics_free(m);
}

static void test_null_metrics(void)
{
    df_metrics_request(NULL, "/x", "GET", 200, 1);
    df_metrics_job_finished(NULL, "completed", 1, 1, 1);
    df_metrics_unet_step(NULL, 1);
    df_metrics_model_load(NULL, 1, 1);
    df_metrics_rate_limited(NULL, "requests");
    df_metrics_auth_failure(NULL);
    df_metrics_free(NULL);
    char *text = df_metrics_render(NULL, NULL);
    REQUIRE(text);
    CHECK_LINE(text, "diffuse_up 1");
    CHECK(!strstr(text, "diffuse_http_requests_total"));
    free(text);
}

static void *hammer(void *metrics)
{
    for (int i = 0; i < 2000; i++) {
        df_metrics_request(metrics, "/predict", "POST", 200, 0.01);
        df_metrics_unet_step(metrics, 0.01);
    }
    return NULL;
}

static void test_threads(void)
{
    df_metrics *m = df_metrics_create();
    REQUIRE(m);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(!pthread_create(&threads[i], NULL, hammer, m));
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    char *text = df_metrics_render(m, NULL);
    REQUIRE(text);
    CHECK_LINE(text,
               "diffuse_http_requests_total{route=\"/predict\",method=\"POST\",status=\"200\"} 8000");
    CHECK_LINE(text, "diffuse_unet_step_seconds_count 8000");
    free(text);
    df_metrics_free(m);
}

int main(void)
{
    DF_RUN(test_requests);
    DF_RUN(test_buckets_cumulative);
    DF_RUN(test_escaping_and_bounded_labels);
    DF_RUN(test_counters_and_gauges);
    DF_RUN(test_null_metrics);
    DF_RUN(test_threads);
    return df_test_finish();
}
