/*
 * util.c — clocks, job ids and base64 for the server (see util.h).
 */
#include "server/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

double df_server_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

double df_server_monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

void df_server_random_id(char id[DF_SERVER_ID_SIZE])
{
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        /* No kernel randomness (very old kernel): clock, pid and a counter
         * still make ids unique within this machine. */
        static unsigned counter;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t a = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        uint64_t b = ((uint64_t)getpid() << 32) ^ __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        memcpy(bytes, &a, 8);
        memcpy(bytes + 8, &b, 8);
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        id[2 * i] = hex[bytes[i] >> 4];
        id[2 * i + 1] = hex[bytes[i] & 15];
    }
    id[32] = 0;
}

int df_server_valid_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-') || n >= 64)
            return 0;
    }
    return n > 0;
}

char *df_server_base64(const unsigned char *bytes, size_t size)
{
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (size > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((size + 2) / 3 * 4 + 1), *p = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < size; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        *p++ = table[v >> 18];
        *p++ = table[(v >> 12) & 63];
        *p++ = table[(v >> 6) & 63];
        *p++ = table[v & 63];
    }
    if (i < size) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (i + 1 < size ? (uint32_t)bytes[i + 1] << 8 : 0);
        *p++ = table[v >> 18];
        *p++ = table[(v >> 12) & 63];
        *p++ = i + 1 < size ? table[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p = 0;
    return out;
}

size_t df_server_utf8_prefix(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    while (p[i]) {
        size_t length = p[i] < 0x80 ? 1 : (p[i] & 0xE0) == 0xC0 ? 2
                                        : (p[i] & 0xF0) == 0xE0 ? 3
                                        : (p[i] & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t code = length == 1 ? p[i] : length == 2 ? p[i] & 0x1Fu
                                           : length == 3 ? p[i] & 0x0Fu : p[i] & 0x07u;
        for (size_t k = 1; k < length; k++) {
            if ((p[i + k] & 0xC0) != 0x80) { /* also stops at the NUL */
                length = 0;
                break;
            }
            code = code << 6 | (p[i + k] & 0x3Fu);
        }
        if (!length || (length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
            (length == 4 && code < 0x10000) || code > 0x10FFFF ||
            (code >= 0xD800 && code <= 0xDFFF))
            break;
        i += length;
    }
    return i;
}

void df_server_utf8_repair(char *text)
{
    for (size_t i = df_server_utf8_prefix(text); text[i]; i += df_server_utf8_prefix(text + i)) {
        text[i++] = '?';
        if (!text[i])
            break;
    }
}
