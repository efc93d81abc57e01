/*
 * http_addr.c — CIDR lists, address keys and per-address counts (see
 * http_addr.h).
 */
#include "server/http_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

#define COUNT_BUCKETS 256

/* The address as (family, bytes), IPv4-mapped IPv6 turned into IPv4. */
static int address_bytes(const struct sockaddr *address, unsigned char bytes[16])
{
    if (!address)
        return 0;
    if (address->sa_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)address)->sin_addr, 4);
        return AF_INET;
    }
    if (address->sa_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)address)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            memcpy(bytes, v6->s6_addr + 12, 4);
            return AF_INET;
        }
        memcpy(bytes, v6->s6_addr, 16);
        return AF_INET6;
    }
    return 0;
}

static df_status parse_one(const char *item, df_http_cidr *out, df_error *error)
{
    char text[64];
    const char *slash = strchr(item, '/');
    size_t length = slash ? (size_t)(slash - item) : strlen(item);
    if (!length || length >= sizeof text)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "'%s' is not an address or CIDR",
                            item);
    memcpy(text, item, length);
    text[length] = 0;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = AF_INET;
    } else if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = AF_INET6;
    } else {
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "'%s' is not an IPv4 or IPv6 address",
                            text);
    }
    int max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        const char *digits = slash + 1;
        size_t count = strspn(digits, "0123456789");
        if (!count || digits[count] || count > 3 || atoi(digits) > max)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "'%s': the prefix length must be 0..%d", item, max);
        out->prefix = atoi(digits);
    }
    return DF_OK;
}

df_status df_http_cidrs_parse(const char *text, df_http_cidr **out, size_t *count,
                              df_error *error)
{
    *out = NULL;
    *count = 0;
    size_t items = 1;
    for (const char *c = text; *c; c++)
        items += *c == ',';
    df_http_cidr *cidrs = calloc(items, sizeof *cidrs);
    if (!cidrs)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    const char *start = text;
    for (size_t i = 0; i < items; i++) {
        const char *end = strchr(start, ',');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        char item[80];
        /* Spaces around an item are allowed ("a, b"), nothing else is. */
        while (length && *start == ' ')
            start++, length--;
        while (length && start[length - 1] == ' ')
            length--;
        if (!length || length >= sizeof item) {
            free(cidrs);
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                length ? "item %zu is too long" : "item %zu is empty", i + 1);
        }
        memcpy(item, start, length);
        item[length] = 0;
        df_status status = parse_one(item, &cidrs[i], error);
        if (status) {
            free(cidrs);
            return status;
        }
        start = end ? end + 1 : start + length;
    }
    *out = cidrs;
    *count = items;
    return DF_OK;
}

int df_http_cidrs_match(const df_http_cidr *cidrs, size_t count, const struct sockaddr *address)
{
    unsigned char bytes[16];
    int family = address_bytes(address, bytes);
    for (size_t i = 0; family && i < count; i++) {
        if (cidrs[i].family != family)
            continue;
        int whole = cidrs[i].prefix / 8, bits = cidrs[i].prefix % 8;
        if (memcmp(bytes, cidrs[i].bytes, (size_t)whole))
            continue;
        unsigned char mask = (unsigned char)(0xff << (8 - bits));
        if (bits && ((bytes[whole] ^ cidrs[i].bytes[whole]) & mask))
            continue;
        return 1;
    }
    return 0;
}

void df_http_address_key(const struct sockaddr *address, unsigned char key[DF_HTTP_KEY_SIZE])
{
    memset(key, 0, DF_HTTP_KEY_SIZE);
    unsigned char bytes[16] = {0};
    int family = address_bytes(address, bytes);
    if (family == AF_INET6)
        memset(bytes + 8, 0, 8); /* its /64 */
    key[0] = family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
    memcpy(key + 1, bytes, 16);
}

void df_http_address_text(const struct sockaddr *address, char *out, size_t size)
{
    unsigned char bytes[16];
    int family = address_bytes(address, bytes);
    char text[INET6_ADDRSTRLEN] = "";
    if (family)
        inet_ntop(family, bytes, text, sizeof text);
    snprintf(out, size, "%s", text);
}

/* ------------------------------------------------------------------------ */

typedef struct count_entry {
    unsigned char key[DF_HTTP_KEY_SIZE];
    unsigned count;
    struct count_entry *next;
} count_entry;

struct df_http_counts {
    count_entry *buckets[COUNT_BUCKETS];
};

static unsigned bucket_of(const unsigned char key[DF_HTTP_KEY_SIZE])
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (int i = 0; i < DF_HTTP_KEY_SIZE; i++)
        hash = (hash ^ key[i]) * 16777619u;
    return hash % COUNT_BUCKETS;
}

df_http_counts *df_http_counts_create(void)
{
    return calloc(1, sizeof(df_http_counts));
}

void df_http_counts_free(df_http_counts *counts)
{
    if (!counts)
        return;
    for (int b = 0; b < COUNT_BUCKETS; b++)
        for (count_entry *e = counts->buckets[b], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(counts);
}

unsigned df_http_counts_add(df_http_counts *counts, const unsigned char key[DF_HTTP_KEY_SIZE],
                            int delta)
{
    count_entry **link = &counts->buckets[bucket_of(key)];
    while (*link && memcmp((*link)->key, key, DF_HTTP_KEY_SIZE))
        link = &(*link)->next;
    count_entry *entry = *link;
    if (!entry) {
        if (delta <= 0 || !(entry = calloc(1, sizeof *entry)))
            return 0;
        memcpy(entry->key, key, DF_HTTP_KEY_SIZE);
        *link = entry;
    }
    if (delta < 0 && entry->count < (unsigned)-delta)
        entry->count = 0;
    else
        entry->count = (unsigned)((int)entry->count + delta);
    unsigned count = entry->count;
    if (!count) {
        *link = entry->next;
        free(entry);
    }
    return count;
}

unsigned df_http_counts_get(const df_http_counts *counts,
                            const unsigned char key[DF_HTTP_KEY_SIZE])
{
    for (const count_entry *e = counts->buckets[bucket_of(key)]; e; e = e->next)
        if (!memcmp(e->key, key, DF_HTTP_KEY_SIZE))
            return e->count;
    return 0;
}
