/*
 * http_addr.h — client addresses for the HTTP layer: CIDR lists (the
 * --trust-proxy proxies) and per-address connection counts.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
 * reports) is treated as the IPv4 address. For counting, an IPv6 client is
 * its /64: one host usually holds a whole /64, so counting single addresses
 * would let it open a connection per address.
 */
#ifndef DF_SERVER_HTTP_ADDR_H
#define DF_SERVER_HTTP_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "diffuse.h"

typedef struct df_http_cidr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char bytes[16]; /* network order; 4 used for IPv4 */
    int prefix;              /* 0..32 or 0..128 */
} df_http_cidr;

/* "CIDR[,CIDR...]" (a bare address is a /32 or /128) into a malloc'ed array
 * the caller frees. Empty items, bad addresses and bad prefixes are errors
 * naming the item. */
df_status df_http_cidrs_parse(const char *text, df_http_cidr **out, size_t *count,
                              df_error *error);
/* 1 when `address` falls in one of the ranges. */
int df_http_cidrs_match(const df_http_cidr *cidrs, size_t count, const struct sockaddr *address);

#define DF_HTTP_KEY_SIZE 17 /* the family, then 16 address bytes */
/* The address a client is counted under (see the file comment); all zero
 * for an unknown family. */
void df_http_address_key(const struct sockaddr *address, unsigned char key[DF_HTTP_KEY_SIZE]);
/* Numeric text of an address ("" when unknown). */
void df_http_address_text(const struct sockaddr *address, char *out, size_t size);

/* Connections per key. Not thread-safe: the HTTP layer holds its lock. */
typedef struct df_http_counts df_http_counts;
df_http_counts *df_http_counts_create(void); /* NULL when out of memory */
void df_http_counts_free(df_http_counts *counts);
/* Adds `delta` to the key's count and returns the new count (entries at 0
 * are dropped, so the table holds only addresses with connections). Out of
 * memory: the key is not counted (returns 0). */
unsigned df_http_counts_add(df_http_counts *counts, const unsigned char key[DF_HTTP_KEY_SIZE],
                            int delta);
unsigned df_http_counts_get(const df_http_counts *counts,
                            const unsigned char key[DF_HTTP_KEY_SIZE]);

#endif
