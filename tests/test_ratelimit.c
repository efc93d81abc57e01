/*
 * test_ratelimit.c — the token buckets of src/server/ratelimit.c with an
 * explicit clock: bursts, refill, the retry-after and reset values, images
 * beyond the daily capacity, refunds (of images, and of the request token
 * of a request refused for its images), limit changes, unlimited keys,
 * independence of keys, many keys, threads, and the duration format of the
 * x-ratelimit-reset-* headers.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "server/ratelimit.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

static void test_unlimited(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    for (int i = 0; i < 1000; i++) {
        df_ratelimit_take_request(limits, "free", 0, 0, 5.0, &verdict);
        CHECK(verdict.allowed && verdict.requests.limit == 0 && verdict.images.limit == 0);
        df_ratelimit_take_images(limits, "free", 0, 0, 64, 5.0, &verdict);
        CHECK(verdict.allowed && verdict.retry_after_seconds == 0);
    }
    df_ratelimit_refund_images(limits, "free", 0, 10, 5.0); /* nothing to do, no crash */
    df_ratelimit_free(limits);
    df_ratelimit_free(NULL);
}

static void test_request_burst_and_refill(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    const double start = 1000;
    /* 60/min: a burst of 60, then one a second. */
    for (int i = 0; i < 60; i++) {
        df_ratelimit_take_request(limits, "k", 60, 0, start, &verdict);
        CHECKF(verdict.allowed, "request %d refused", i);
        CHECKF(verdict.requests.limit == 60 && verdict.requests.remaining == 59 - i,
               "request %d: limit %ld remaining %ld", i, verdict.requests.limit,
               verdict.requests.remaining);
    }
    CHECKF(NEAR(verdict.requests.reset_seconds, 60), "reset %g", verdict.requests.reset_seconds);
    CHECK(verdict.images.limit == 0); /* images unlimited: no state */

    df_ratelimit_take_request(limits, "k", 60, 0, start, &verdict);
    CHECK(!verdict.allowed);
    CHECKF(NEAR(verdict.retry_after_seconds, 1), "retry %g", verdict.retry_after_seconds);
    CHECK(verdict.requests.remaining == 0);
    df_ratelimit_take_request(limits, "k", 60, 0, start + 0.25, &verdict);
    CHECK(!verdict.allowed);
    CHECKF(NEAR(verdict.retry_after_seconds, 0.75), "retry %g", verdict.retry_after_seconds);
    CHECKF(NEAR(verdict.requests.reset_seconds, 59.75), "reset %g",
           verdict.requests.reset_seconds);

    /* A refused request takes nothing: one second after the start, one token. */
    df_ratelimit_take_request(limits, "k", 60, 0, start + 1, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 0);
    df_ratelimit_take_request(limits, "k", 60, 0, start + 1, &verdict);
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 1));

    /* 10.5 s later: 10 whole tokens (and a half). */
    df_ratelimit_take_request(limits, "k", 60, 0, start + 11.5, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 9);
    CHECKF(NEAR(verdict.requests.reset_seconds, 50.5), "reset %g",
           verdict.requests.reset_seconds);

    /* Long idle: full again, never more than the capacity. */
    df_ratelimit_take_request(limits, "k", 60, 0, start + 100000, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 59);
    df_ratelimit_free(limits);
}

static void test_fractional_rates(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    /* 10/min: one token every 6 s, exactly when the clock says so. */
    for (int i = 0; i < 10; i++)
        df_ratelimit_take_request(limits, "ten", 10, 0, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 0);
    df_ratelimit_take_request(limits, "ten", 10, 0, 0, &verdict);
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 6));
    for (int step = 1; step <= 30; step++) /* many small refills add up to one token */
        df_ratelimit_take_request(limits, "ten", 10, 0, step * 0.2 - 1e-7, &verdict);
    df_ratelimit_take_request(limits, "ten", 10, 0, 6.0, &verdict);
    CHECKF(verdict.allowed, "refused at 6 s, retry %g", verdict.retry_after_seconds);

    /* Below one a minute: capacity 1, refill 0.5/min. */
    df_ratelimit_take_request(limits, "slow", 0.5, 0, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.limit == 1 && verdict.requests.remaining == 0);
    CHECKF(NEAR(verdict.requests.reset_seconds, 120), "reset %g", verdict.requests.reset_seconds);
    df_ratelimit_take_request(limits, "slow", 0.5, 0, 30, &verdict);
    CHECKF(!verdict.allowed && NEAR(verdict.retry_after_seconds, 90), "retry %g",
           verdict.retry_after_seconds);

    /* 2.5/min: capacity rounds up to 3. */
    df_ratelimit_take_request(limits, "odd", 2.5, 0, 0, &verdict);
    CHECK(verdict.requests.limit == 3 && verdict.requests.remaining == 2);
    df_ratelimit_free(limits);
}

static void test_images(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    /* 100 a day: 864 s per image. */
    df_ratelimit_take_images(limits, "img", 0, 100, 60, 0, &verdict);
    CHECK(verdict.allowed && verdict.images.limit == 100 && verdict.images.remaining == 40);
    CHECKF(NEAR(verdict.images.reset_seconds, 60 * 864.0), "reset %g",
           verdict.images.reset_seconds);
    CHECK(verdict.requests.limit == 0);

    /* All or none: 50 do not fit in 40, and none are taken. */
    df_ratelimit_take_images(limits, "img", 0, 100, 50, 0, &verdict);
    CHECK(!verdict.allowed);
    CHECKF(NEAR(verdict.retry_after_seconds, 10 * 864.0), "retry %g", verdict.retry_after_seconds);
    CHECK(verdict.images.remaining == 40);

    /* More than a whole day: never, said with a negative retry. */
    df_ratelimit_take_images(limits, "img", 0, 100, 101, 0, &verdict);
    CHECK(!verdict.allowed && verdict.retry_after_seconds < 0);
    CHECK(verdict.images.remaining == 40);

    df_ratelimit_take_images(limits, "img", 0, 100, 40, 0, &verdict);
    CHECK(verdict.allowed && verdict.images.remaining == 0);
    df_ratelimit_take_images(limits, "img", 0, 100, 1, 432, &verdict); /* half a token back */
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 432));

    /* The queue refused the job: the tokens come back, at most to full. */
    df_ratelimit_refund_images(limits, "img", 100, 10, 432);
    df_ratelimit_take_images(limits, "img", 0, 100, 10, 432, &verdict);
    CHECK(verdict.allowed && verdict.images.remaining == 0);
    df_ratelimit_refund_images(limits, "img", 100, 1000, 432);
    df_ratelimit_take_images(limits, "img", 0, 100, 0, 432, &verdict); /* a look, no take */
    CHECK(verdict.allowed && verdict.images.remaining == 100);
    CHECK(NEAR(verdict.images.reset_seconds, 0));
    /* A refund for a key never seen changes nothing and makes no entry. */
    df_ratelimit_refund_images(limits, "never", 100, 5, 432);
    df_ratelimit_take_images(limits, "never", 0, 100, 100, 432, &verdict);
    CHECK(verdict.allowed && verdict.images.remaining == 0);
    df_ratelimit_free(limits);
}

static void test_requests_and_images_together(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    /* A request takes no image, a generation no request; both are shown. */
    df_ratelimit_take_request(limits, "both", 2, 10, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 1 && verdict.images.remaining == 10);
    CHECK(verdict.requests.limit == 2 && verdict.images.limit == 10);
    df_ratelimit_take_images(limits, "both", 2, 10, 4, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 1 && verdict.images.remaining == 6);
    df_ratelimit_take_request(limits, "both", 2, 10, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 0);
    df_ratelimit_take_request(limits, "both", 2, 10, 0, &verdict);
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 30));
    CHECK(verdict.images.remaining == 6);
    /* Requests exhausted do not stop images. */
    df_ratelimit_take_images(limits, "both", 2, 10, 6, 0, &verdict);
    CHECK(verdict.allowed && verdict.images.remaining == 0);

    /* Keys are independent. */
    df_ratelimit_take_request(limits, "other", 2, 10, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 1 && verdict.images.remaining == 10);
    df_ratelimit_free(limits);
}

static void test_limit_changes(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    for (int i = 0; i < 60; i++)
        df_ratelimit_take_request(limits, "k", 60, 0, 0, &verdict);
    /* Raised (a reload): the bucket keeps its tokens, refills faster. */
    df_ratelimit_take_request(limits, "k", 120, 0, 0, &verdict);
    CHECK(!verdict.allowed && verdict.requests.limit == 120);
    CHECKF(NEAR(verdict.retry_after_seconds, 0.5), "retry %g", verdict.retry_after_seconds);
    /* Made unlimited: passes, no state. */
    df_ratelimit_take_request(limits, "k", 0, 0, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.limit == 0);
    /* Limited again later: starts full. */
    df_ratelimit_take_request(limits, "k", 5, 0, 1, &verdict);
    CHECK(verdict.allowed && verdict.requests.limit == 5 && verdict.requests.remaining == 4);
    /* Lowered: trimmed to the new capacity. */
    df_ratelimit_take_request(limits, "fresh", 100, 0, 0, &verdict);
    CHECK(verdict.requests.remaining == 99);
    df_ratelimit_take_request(limits, "fresh", 10, 0, 0, &verdict);
    CHECK(verdict.allowed && verdict.requests.limit == 10 && verdict.requests.remaining == 9);
    /* Image limit lowered below what was left. */
    df_ratelimit_take_images(limits, "fresh", 10, 50, 0, 0, &verdict);
    CHECK(verdict.images.remaining == 50);
    df_ratelimit_take_images(limits, "fresh", 10, 20, 0, 0, &verdict);
    CHECK(verdict.images.limit == 20 && verdict.images.remaining == 20);
    df_ratelimit_free(limits);
}

static void test_clock_backwards(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    for (int i = 0; i < 3; i++)
        df_ratelimit_take_request(limits, "k", 3, 0, 100, &verdict);
    /* An earlier time gives no tokens; a later one counts from 100 only. */
    df_ratelimit_take_request(limits, "k", 3, 0, 50, &verdict);
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 20));
    df_ratelimit_take_request(limits, "k", 3, 0, 110, &verdict);
    CHECK(!verdict.allowed && NEAR(verdict.retry_after_seconds, 10));
    df_ratelimit_take_request(limits, "k", 3, 0, 120, &verdict);
    CHECK(verdict.allowed);
    df_ratelimit_free(limits);
}

/* Many keys come and go: pruning of full buckets must never forget one
 * that is not full. */
static void test_many_keys(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    /* 1 a day: still far from full when the last round comes. */
    const double per_day = 1.0 / 1440;
    df_ratelimit_take_request(limits, "drained", per_day, 0, 0, &verdict);
    CHECK(verdict.allowed);
    char id[32];
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 500; i++) {
            snprintf(id, sizeof id, "key-%d-%d", round, i);
            df_ratelimit_take_request(limits, id, 60, 0, round * 1000.0 + 1, &verdict);
            CHECK(verdict.allowed && verdict.requests.remaining == 59);
        }
    /* "drained" is still as empty as 4001 s of refill make it... */
    df_ratelimit_take_request(limits, "drained", per_day, 0, 4001, &verdict);
    CHECKF(!verdict.allowed && fabs(verdict.retry_after_seconds - (86400 - 4001)) < 1e-3,
           "allowed %d retry %g", verdict.allowed, verdict.retry_after_seconds);
    /* ...and a key of the last round keeps its count. */
    df_ratelimit_take_request(limits, "key-4-7", 60, 0, 4001, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 58);
    /* A key of an early round is full again, pruned or not. */
    df_ratelimit_take_request(limits, "key-0-7", 60, 0, 4001, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 59);
    df_ratelimit_free(limits);
}

typedef struct taking_thread {
    df_ratelimit *limits;
    int allowed;
} taking_thread;

static void *take_many(void *argument)
{
    taking_thread *work = argument;
    df_ratelimit_verdict verdict;
    for (int i = 0; i < 1000; i++) {
        df_ratelimit_take_request(work->limits, "shared", 1000, 0, 7.0, &verdict);
        work->allowed += verdict.allowed;
    }
    return NULL;
}

static void test_threads(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    taking_thread work[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        work[i] = (taking_thread){limits, 0};
        pthread_create(&threads[i], NULL, take_many, &work[i]);
    }
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        allowed += work[i].allowed;
    }
    CHECKF(allowed == 1000, "%d of 4000 allowed at one instant, capacity 1000", allowed);
    df_ratelimit_free(limits);
}

static void test_format_duration(void)
{
    static const struct {
        double seconds;
        const char *text;
    } cases[] = {
        {0, "0s"},          {-3, "0s"},          {NAN, "0s"},          {0.25, "250ms"},
        {0.0001, "1ms"},    {0.2501, "251ms"},   {0.999, "999ms"},     {0.9999, "1s"},
        {1, "1s"},          {1.2, "2s"},         {6.0000000001, "6s"}, {59, "59s"},
        {59.5, "1m0s"},     {60, "1m0s"},        {360, "6m0s"},        {361, "6m1s"},
        {3600, "1h0m0s"},   {3723, "1h2m3s"},    {86400, "24h0m0s"},   {51840, "14h24m0s"},
        {INFINITY, "277777777h46m40s"},
    };
    char buffer[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        df_ratelimit_format_duration(cases[i].seconds, buffer, sizeof buffer);
        CHECKF(!strcmp(buffer, cases[i].text), "%g s: '%s', expected '%s'", cases[i].seconds,
               buffer, cases[i].text);
    }
    /* A small buffer truncates, never overflows. */
    char small[4] = {'x', 'x', 'x', 'x'};
    df_ratelimit_format_duration(3723, small, 3);
    CHECK(!strcmp(small, "1h") && small[3] == 'x');
    df_ratelimit_format_duration(1, small, 0);
    CHECK(small[0] == '1');
}

/* A request refused for its images gives its request token back (auth.c):
 * the refund is exact, capped at the capacity, and a no-op for an unknown
 * or unlimited key. */
static void test_request_refund(void)
{
    df_ratelimit *limits = df_ratelimit_create();
    REQUIRE(limits);
    df_ratelimit_verdict verdict;
    const double start = 500;
    df_ratelimit_take_request(limits, "k", 5, 3, start, &verdict);
    df_ratelimit_take_request(limits, "k", 5, 3, start, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 3);
    df_ratelimit_refund_request(limits, "k", 5, 3, start);
    df_ratelimit_take_images(limits, "k", 5, 3, 0, start, &verdict); /* reports only */
    CHECKF(verdict.requests.remaining == 4, "remaining %ld", verdict.requests.remaining);
    CHECK(verdict.images.remaining == 3);
    df_ratelimit_refund_request(limits, "k", 5, 3, start);
    df_ratelimit_refund_request(limits, "k", 5, 3, start); /* never above the capacity */
    df_ratelimit_take_images(limits, "k", 5, 3, 0, start, &verdict);
    CHECKF(verdict.requests.remaining == 5 && NEAR(verdict.requests.reset_seconds, 0),
           "remaining %ld reset %g", verdict.requests.remaining, verdict.requests.reset_seconds);
    for (int i = 0; i < 5; i++)
        df_ratelimit_take_request(limits, "k", 5, 3, start, &verdict);
    df_ratelimit_take_request(limits, "k", 5, 3, start, &verdict);
    CHECK(!verdict.allowed);
    df_ratelimit_refund_request(limits, "k", 5, 3, start);
    df_ratelimit_take_request(limits, "k", 5, 3, start, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 0);
    df_ratelimit_refund_request(limits, "other", 5, 3, start); /* no entry: full, nothing */
    df_ratelimit_refund_request(limits, "free", 0, 0, start);
    df_ratelimit_refund_request(limits, NULL, 5, 3, start);
    df_ratelimit_take_request(limits, "other", 5, 3, start, &verdict);
    CHECK(verdict.allowed && verdict.requests.remaining == 4);
    df_ratelimit_free(limits);
}

int main(void)
{
    DF_RUN(test_unlimited);
    DF_RUN(test_request_burst_and_refill);
    DF_RUN(test_fractional_rates);
    DF_RUN(test_images);
    DF_RUN(test_requests_and_images_together);
    DF_RUN(test_limit_changes);
    DF_RUN(test_clock_backwards);
    DF_RUN(test_many_keys);
    DF_RUN(test_threads);
    DF_RUN(test_format_duration);
    DF_RUN(test_request_refund);
    return df_test_finish();
}
