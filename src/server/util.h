/*
 * util.h — small helpers shared by the server modules: clocks, job ids,
 * base64. No state.
 */
#ifndef DF_SERVER_UTIL_H
#define DF_SERVER_UTIL_H

#include <stddef.h>

/* Unix time in seconds (wall clock: what timestamps in the API mean). */
double df_server_now(void);
/* Monotonic seconds (durations, timeouts). */
double df_server_monotonic(void);

#define DF_SERVER_ID_SIZE 33 /* 32 hex digits and the NUL */
/* A fresh random job id (128 bits from the kernel's generator). */
void df_server_random_id(char id[DF_SERVER_ID_SIZE]);
/* A plausible job id: 1..64 characters of [0-9a-zA-Z_-] (so an id can go
 * into a path or SQL parameter without surprises). */
int df_server_valid_id(const char *id);

/* Base64 (standard alphabet, padded) of `size` bytes: a malloc'ed,
 * NUL-terminated string the caller frees; NULL when out of memory. */
char *df_server_base64(const unsigned char *bytes, size_t size);

/* The length of the longest prefix of `text` that is valid UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF: what jansson
 * accepts). Equal to strlen(text) when all of it is. */
size_t df_server_utf8_prefix(const char *text);
/* Replaces each byte that does not start valid UTF-8 with '?', in place:
 * client bytes quoted in a JSON message must not make the message invalid. */
void df_server_utf8_repair(char *text);

#endif
