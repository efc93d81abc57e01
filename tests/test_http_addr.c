/*
 * test_http_addr.c — src/server/http_addr.c: --trust-proxy lists (IPv4 and
 * IPv6, prefixes that end inside a byte, malformed items), IPv4-mapped IPv6
 * clients, the per-address keys (an IPv6 client counted by its /64) and the
 * connection counts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "server/http_addr.h"

static struct sockaddr_storage address(const char *text)
{
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    return storage;
}

static int matches(const char *list, const char *client)
{
    df_http_cidr *cidrs = NULL;
    size_t count = 0;
    df_error error = {0};
    if (df_http_cidrs_parse(list, &cidrs, &count, &error))
        return -1;
    struct sockaddr_storage storage = address(client);
    int result = df_http_cidrs_match(cidrs, count, (const struct sockaddr *)&storage);
    free(cidrs);
    return result;
}

static void test_parse(void)
{
    const char *good[] = {"127.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "::1/128", "fd00::/8",
                          "10.0.0.0/8, ::1", "192.168.1.0/24,2001:db8::/32,127.0.0.1/32"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        df_http_cidr *cidrs = NULL;
        size_t count = 0;
        df_error error = {0};
        CHECKF(!df_http_cidrs_parse(good[i], &cidrs, &count, &error), "%s: %s", good[i],
               error.message);
        free(cidrs);
    }
    const char *bad[] = {"", ",", "10.0.0.0/8,", ",10.0.0.0/8", "10.0.0.0/8,,::1", "abc",
                         "300.1.1.1", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x",
                         "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0 /8", "1.2.3.4/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        df_http_cidr *cidrs = NULL;
        size_t count = 0;
        df_error error = {0};
        CHECKF(df_http_cidrs_parse(bad[i], &cidrs, &count, &error) && error.message[0] &&
                   !cidrs,
               "'%s' was accepted", bad[i]);
    }
}

static void test_match(void)
{
    CHECK(matches("127.0.0.1/32", "127.0.0.1") == 1);
    CHECK(matches("127.0.0.1/32", "127.0.0.2") == 0);
    CHECK(matches("10.0.0.0/9", "10.127.255.255") == 1); /* the prefix ends inside a byte */
    CHECK(matches("10.0.0.0/9", "10.128.0.0") == 0);
    CHECK(matches("0.0.0.0/0", "203.0.113.9") == 1);
    CHECK(matches("0.0.0.0/0", "::1") == 0); /* families never mix */
    CHECK(matches("::1/128", "::1") == 1);
    CHECK(matches("fd00::/8", "fd12:3456::1") == 1);
    CHECK(matches("fd00::/8", "fe80::1") == 0);
    CHECK(matches("2001:db8::/33", "2001:db8:7fff::1") == 1);
    CHECK(matches("2001:db8::/33", "2001:db8:8000::1") == 0);
    /* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
    CHECK(matches("127.0.0.0/8", "::ffff:127.0.0.1") == 1);
    CHECK(matches("10.0.0.0/8,::1", "::1") == 1);
    CHECK(matches("10.0.0.0/8,::1", "11.0.0.1") == 0);
}

static void test_keys_and_counts(void)
{
    unsigned char a[DF_HTTP_KEY_SIZE], b[DF_HTTP_KEY_SIZE], c[DF_HTTP_KEY_SIZE];
    struct sockaddr_storage x = address("2001:db8:1:2::1"), y = address("2001:db8:1:2:ffff::9"),
                            z = address("2001:db8:1:3::1");
    df_http_address_key((struct sockaddr *)&x, a);
    df_http_address_key((struct sockaddr *)&y, b);
    df_http_address_key((struct sockaddr *)&z, c);
    CHECK(!memcmp(a, b, sizeof a)); /* one /64, one client */
    CHECK(memcmp(a, c, sizeof a));
    struct sockaddr_storage v4 = address("192.0.2.7"), mapped = address("::ffff:192.0.2.7");
    df_http_address_key((struct sockaddr *)&v4, a);
    df_http_address_key((struct sockaddr *)&mapped, b);
    CHECK(!memcmp(a, b, sizeof a));
    char text[64];
    df_http_address_text((struct sockaddr *)&mapped, text, sizeof text);
    CHECK(!strcmp(text, "192.0.2.7"));

    df_http_counts *counts = df_http_counts_create();
    REQUIRE(counts);
    CHECK(df_http_counts_get(counts, a) == 0);
    CHECK(df_http_counts_add(counts, a, 1) == 1);
    CHECK(df_http_counts_add(counts, a, 1) == 2);
    CHECK(df_http_counts_add(counts, c, 1) == 1);
    CHECK(df_http_counts_get(counts, a) == 2 && df_http_counts_get(counts, c) == 1);
    CHECK(df_http_counts_add(counts, a, -2) == 0);
    CHECK(df_http_counts_add(counts, a, -1) == 0); /* never below zero */
    CHECK(df_http_counts_get(counts, a) == 0 && df_http_counts_get(counts, c) == 1);
    /* Many addresses: every one counted apart (collisions in the table). */
    for (int i = 0; i < 2000; i++) {
        unsigned char key[DF_HTTP_KEY_SIZE] = {4};
        memcpy(key + 1, &i, sizeof i);
        CHECK(df_http_counts_add(counts, key, 1 + i % 3) == (unsigned)(1 + i % 3));
    }
    for (int i = 0; i < 2000; i++) {
        unsigned char key[DF_HTTP_KEY_SIZE] = {4};
        memcpy(key + 1, &i, sizeof i);
        CHECK(df_http_counts_get(counts, key) == (unsigned)(1 + i % 3));
    }
    df_http_counts_free(counts);
    df_http_counts_free(NULL);
}

int main(void)
{
    DF_RUN(test_parse);
    DF_RUN(test_match);
    DF_RUN(test_keys_and_counts);
    return df_test_finish();
}
