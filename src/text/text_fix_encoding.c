/*
 * text_fix_encoding.c — ftfy 6.3.1's fix_encoding on code points: the
 * mojibake repair transformers' CLIPTokenizer gets from ftfy.fix_text, so
 * "cafÃ©" is tokenized as "café" and "itâ€™s" as "it's".
 *
 * It follows ftfy's _fix_encoding_one_step_and_explain, repeated until the
 * text stops changing:
 *   1. ASCII text, and text badness.is_bad does not flag, stays as it is;
 *   2. for each of CHARMAP_ENCODINGS in order, if the text encodes in it:
 *      restore_byte_a0 (not for macroman) when ALTERED_UTF8_RE matches,
 *      replace_lossy_sequences for the sloppy codecs, then strict UTF-8 (or
 *      ftfy's utf-8-variants when a byte 0xED or 0xC0 is there); the first
 *      that decodes wins;
 *   3. decode_inconsistent_utf8: each UTF8_DETECTOR_RE match (shorter than
 *      the text, and itself bad) gets fix_encoding on its own;
 *   4. Latin-1 text with C1 controls is read as Windows-1252 (strict: one
 *      of its five unassigned bytes leaves the text alone); ftfy tests for
 *      "windows-1252" in a list that only holds "sloppy-windows-1252", so its
 *      "probably legit" branch never fires, and neither does it here;
 *   5. fix_c1_controls.
 * The regular expressions are written out as code: BADNESS_RE (each of its
 * alternatives is a short fixed pattern), ALTERED_UTF8_RE, A_GRAVE_WORD_RE,
 * LOSSY_UTF8_RE and UTF8_DETECTOR_RE, scanned left to right like re.search
 * and re.sub. Python's `$` also matches before a final "\n", which the
 * utf-8-variants codec's patterns inherit (a segment of fix_text ends with
 * its "\n"): "\xC0\n" at the end decodes to U+0000, as it does in ftfy.
 *
 * decode_inconsistent_utf8 recurses into fix_encoding on a shorter string;
 * past DF_TEXT_FIXENC_MAX_DEPTH levels (ftfy has no bound, but a match is
 * almost always fixed one level down) the match is left as it is.
 */
#include "text/text_fix_encoding.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

/* The classes of text_fix_encoding_tables.c, bit by bit. */
enum {
    DF_FE_COMMON = 1u << 0,
    DF_FE_C1 = 1u << 1,
    DF_FE_BAD = 1u << 2,
    DF_FE_LAW = 1u << 3,
    DF_FE_CURRENCY = 1u << 4,
    DF_FE_START = 1u << 5,
    DF_FE_END = 1u << 6,
    DF_FE_NUMERIC = 1u << 7,
    DF_FE_KAOMOJI = 1u << 8,
    DF_FE_UPPER_ACCENTED = 1u << 9,
    DF_FE_LOWER_ACCENTED = 1u << 10,
    DF_FE_UPPER_COMMON = 1u << 11,
    DF_FE_LOWER_COMMON = 1u << 12,
    DF_FE_BOX = 1u << 13,
    DF_FE_FIRST_OF_2 = 1u << 14,
    DF_FE_FIRST_OF_3 = 1u << 15,
    DF_FE_FIRST_OF_4 = 1u << 16,
    DF_FE_CONTINUATION = 1u << 17,
    DF_FE_CONTINUATION_STRICT = 1u << 18,
};

/* CHARMAP_ENCODINGS indices with a special role. */
#define DF_FE_SLOPPY_1252 1
#define DF_FE_SLOPPY_LAST 6 /* 1..6 are the sloppy-windows-125x codecs */
#define DF_FE_MACROMAN 8

#define DF_TEXT_FIXENC_MAX_DEPTH 16
#define DF_TEXT_FIXENC_MAX_STEPS 256 /* a guard: every step shrinks or de-C1s */
#define DF_FE_NONE 0xFFFFFFFFu       /* "past the end": in no class */

static df_status df_text_fix_encoding_depth(const uint32_t *text, size_t count,
                                            df_text_buffer *out, int depth, df_error *error);

/* ------------------------------------------------------------------------ */
/* Character classes                                                        */

static uint32_t df_fe_mask(uint32_t c)
{
    if (c < 0x80 && c != ' ')
        return 0; /* no class holds ASCII but utf8_continuation's space */
    size_t low = 0, high = df_text_fixenc_class_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (df_text_fixenc_classes[mid].codepoint < c)
            low = mid + 1;
        else
            high = mid;
    }
    return low < df_text_fixenc_class_count && df_text_fixenc_classes[low].codepoint == c
               ? df_text_fixenc_classes[low].mask
               : 0;
}

static int df_fe_in_ranges(const df_text_fixenc_range *ranges, size_t count, uint32_t c)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (ranges[mid].last < c)
            low = mid + 1;
        else
            high = mid;
    }
    return low < count && ranges[low].first <= c;
}

static int df_fe_space(uint32_t c) /* re's \s */
{
    return c != DF_FE_NONE &&
           df_fe_in_ranges(df_text_fixenc_space_ranges, df_text_fixenc_space_range_count, c);
}

static int df_fe_word(uint32_t c) /* re's \w */
{
    return c != DF_FE_NONE &&
           df_fe_in_ranges(df_text_fixenc_word_ranges, df_text_fixenc_word_range_count, c);
}

static int df_fe_ascii_letter(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int df_fe_one_of(uint32_t c, const uint32_t *set, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (set[i] == c)
            return 1;
    return 0;
}

#define DF_FE_ONE_OF(c, ...)                                                                 \
    df_fe_one_of((c), (const uint32_t[]){__VA_ARGS__},                                       \
                 sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* ------------------------------------------------------------------------ */
/* badness.is_bad                                                           */

/* Whether one of BADNESS_RE's alternatives matches at position `i`; c[k]
 * and m[k] are the code point i + k and its classes (DF_FE_NONE / 0 past
 * the end). */
static int df_fe_bad_at(size_t i, const uint32_t *c, const uint32_t *m)
{
    const uint32_t A = DF_FE_LOWER_ACCENTED, U = DF_FE_UPPER_ACCENTED, BX = DF_FE_BOX;
    const uint32_t S = DF_FE_START, E = DF_FE_END, CU = DF_FE_CURRENCY, N = DF_FE_NUMERIC;
    const uint32_t L = DF_FE_LAW, B = DF_FE_BAD;
    const uint32_t before_bad = B | A | U | BX | S | E | CU | N | L;

    if (m[0] & DF_FE_C1)
        return 1;
    if ((m[0] & before_bad) && (m[1] & B))
        return 1;
    if (df_fe_ascii_letter(c[0]) && (m[1] & (DF_FE_LOWER_COMMON | DF_FE_UPPER_COMMON)) &&
        (m[2] & B))
        return 1;
    if ((m[0] & B) && (m[1] & (A | U | BX | S | E | CU | N | L)))
        return 1;
    if ((m[0] & (A | DF_FE_LOWER_COMMON | BX | E | CU | N)) && (m[1] & U))
        return 1;
    if ((m[0] & (BX | E | CU | N)) && (m[1] & A))
        return 1;
    if ((m[0] & (A | BX | E)) && (m[1] & CU))
        return 1;
    if (df_fe_space(c[0]) && (m[1] & U) && (m[2] & CU))
        return 1;
    if ((m[0] & (U | BX)) && (m[1] & (N | L)))
        return 1;
    if ((m[0] & (A | U | BX | CU | E)) && (m[1] & S) && (m[2] & N))
        return 1;
    if ((m[0] & (A | U | CU | N | BX | L)) && (m[1] & E) && (m[2] & S))
        return 1;
    if ((m[0] & (CU | N | BX)) && (m[1] & S))
        return 1;
    if (c[0] >= 'a' && c[0] <= 'z' && (m[1] & U) && (m[2] & (S | CU)))
        return 1;
    if ((m[0] & BX) && (m[1] & DF_FE_KAOMOJI))
        return 1;
    if ((m[0] & (A | U | CU | N | S | E | L)) && (m[1] & BX))
        return 1;
    if ((m[0] & BX) && (m[1] & E))
        return 1;
    if ((m[0] & (A | U)) && (m[1] & (S | E)) && df_fe_word(c[2]))
        return 1;
    /* [Œœ][^A-Za-z] */
    if ((c[0] == 0x152 || c[0] == 0x153) && c[1] != DF_FE_NONE && !df_fe_ascii_letter(c[1]))
        return 1;
    /* [{upper_accented}]° */
    if ((m[0] & U) && c[1] == 0xB0)
        return 1;
    /* [ÂÃÎÐ][€œŠš¢£Ÿž\xa0\xad®©°·»{start}{end}–—´] */
    if (DF_FE_ONE_OF(c[0], 0xC2, 0xC3, 0xCE, 0xD0) &&
        ((m[1] & (S | E)) || DF_FE_ONE_OF(c[1], 0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178,
                                          0x17E, 0xA0, 0xAD, 0xAE, 0xA9, 0xB0, 0xB7, 0xBB,
                                          0x2013, 0x2014, 0xB4)))
        return 1;
    /* × [²³] */
    if (c[0] == 0xD7 && (c[1] == 0xB2 || c[1] == 0xB3))
        return 1;
    /* [ØÙ] [{common}{currency}{bad}{numeric}{start}ŸŠ®°µ»] twice */
    {
        const uint32_t arabic = DF_FE_COMMON | CU | B | N | S;
        int ok = 1;
        for (int k = 0; k < 4 && ok; k += 2)
            ok = (c[k] == 0xD8 || c[k] == 0xD9) &&
                 ((m[k + 1] & arabic) ||
                  DF_FE_ONE_OF(c[k + 1], 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB));
        if (ok)
            return 1;
    }
    /* à[²µ¹¼½¾] */
    if (c[0] == 0xE0 && DF_FE_ONE_OF(c[1], 0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE))
        return 1;
    /* √[±∂†≠®™´≤≥¥µø] */
    if (c[0] == 0x221A && DF_FE_ONE_OF(c[1], 0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4,
                                       0x2264, 0x2265, 0xA5, 0xB5, 0xF8))
        return 1;
    /* ≈[°¢] */
    if (c[0] == 0x2248 && (c[1] == 0xB0 || c[1] == 0xA2))
        return 1;
    /* ‚Ä[ìîïòôúùû†°¢π] */
    if (c[0] == 0x201A && c[1] == 0xC4 &&
        DF_FE_ONE_OF(c[2], 0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2,
                     0x3C0))
        return 1;
    /* ‚[âó][àä°ê] */
    if (c[0] == 0x201A && (c[1] == 0xE2 || c[1] == 0xF3) &&
        DF_FE_ONE_OF(c[2], 0xE0, 0xE4, 0xB0, 0xEA))
        return 1;
    /* вЂ */
    if (c[0] == 0x432 && c[1] == 0x402)
        return 1;
    /* [ВГРС][{c1}{bad}{start}{end}{currency}°µ][ВГРС] */
    if (DF_FE_ONE_OF(c[0], 0x412, 0x413, 0x420, 0x421) &&
        ((m[1] & (DF_FE_C1 | B | S | E | CU)) || c[1] == 0xB0 || c[1] == 0xB5) &&
        DF_FE_ONE_OF(c[2], 0x412, 0x413, 0x420, 0x421))
        return 1;
    /* ГўВЂВ.[A-Za-z ] */
    if (c[0] == 0x413 && c[1] == 0x45E && c[2] == 0x412 && c[3] == 0x402 && c[4] == 0x412 &&
        c[5] != DF_FE_NONE && c[5] != '\n' && (df_fe_ascii_letter(c[6]) || c[6] == ' '))
        return 1;
    /* Ã[\xa0¡] */
    if (c[0] == 0xC3 && (c[1] == 0xA0 || c[1] == 0xA1))
        return 1;
    /* [a-z]\s?[ÃÂ][ ] */
    if (c[0] >= 'a' && c[0] <= 'z' &&
        (((c[1] == 0xC3 || c[1] == 0xC2) && c[2] == ' ') ||
         (df_fe_space(c[1]) && (c[2] == 0xC3 || c[2] == 0xC2) && c[3] == ' ')))
        return 1;
    /* ^[ÃÂ][ ] */
    if (i == 0 && (c[0] == 0xC3 || c[0] == 0xC2) && c[1] == ' ')
        return 1;
    /* [a-z.,?!{end}] Â [ {start}{end}] */
    if (((c[0] >= 'a' && c[0] <= 'z') || DF_FE_ONE_OF(c[0], '.', ',', '?', '!') || (m[0] & E)) &&
        c[1] == 0xC2 && (c[2] == ' ' || (m[2] & (S | E))))
        return 1;
    /* β€[™\xa0Ά\xad®°] */
    if (c[0] == 0x3B2 && c[1] == 0x20AC &&
        DF_FE_ONE_OF(c[2], 0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0))
        return 1;
    /* [ΒΓΞΟ][{c1}{bad}{start}{end}{currency}°][ΒΓΞΟ] */
    if (DF_FE_ONE_OF(c[0], 0x392, 0x393, 0x39E, 0x39F) &&
        ((m[1] & (DF_FE_C1 | B | S | E | CU)) || c[1] == 0xB0) &&
        DF_FE_ONE_OF(c[2], 0x392, 0x393, 0x39E, 0x39F))
        return 1;
    /* ā€ */
    if (c[0] == 0x101 && c[1] == 0x20AC)
        return 1;
    return 0;
}

int df_text_is_bad(const uint32_t *text, size_t count)
{
    /* A window of the next 7 code points (the longest alternative). */
    enum { W = 7 };
    uint32_t c[W], m[W];
    for (size_t k = 0; k < W; k++) {
        c[k] = k < count ? text[k] : DF_FE_NONE;
        m[k] = k < count ? df_fe_mask(text[k]) : 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (df_fe_bad_at(i, c, m))
            return 1;
        memmove(c, c + 1, (W - 1) * sizeof *c);
        memmove(m, m + 1, (W - 1) * sizeof *m);
        c[W - 1] = i + W < count ? text[i + W] : DF_FE_NONE;
        m[W - 1] = i + W < count ? df_fe_mask(text[i + W]) : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Bytes                                                                    */

typedef struct df_fe_bytes {
    unsigned char *data;
    size_t count;
    size_t capacity;
} df_fe_bytes;

static df_status df_fe_bytes_reserve(df_fe_bytes *bytes, size_t extra, df_error *error)
{
    if (extra <= bytes->capacity - bytes->count)
        return DF_OK;
    if (extra > SIZE_MAX / 4 - bytes->count)
        return df_error_set(error, DF_ERR_NO_MEMORY, "text buffer too large");
    size_t capacity = bytes->capacity ? bytes->capacity : 64;
    while (capacity - bytes->count < extra)
        capacity *= 2;
    unsigned char *data = realloc(bytes->data, capacity);
    if (!data)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (%zu bytes)", capacity);
    bytes->data = data;
    bytes->capacity = capacity;
    return DF_OK;
}

static void df_fe_bytes_free(df_fe_bytes *bytes)
{
    free(bytes->data);
    memset(bytes, 0, sizeof *bytes);
}

/* Python's text.encode(codec): 0 when a code point has no byte there. */
static int df_fe_encode(int codec, const uint32_t *text, size_t count, unsigned char *out)
{
    const uint16_t *table = df_text_fixenc_codec_tables[codec];
    const df_text_fixenc_inverse *inverse = df_text_fixenc_codec_inverse[codec];
    for (size_t i = 0; i < count; i++) {
        uint32_t c = text[i];
        if (c < 0x80 && (c != 0x1A || table[0x1A] == 0x1A)) {
            out[i] = (unsigned char)c;
            continue;
        }
        size_t low = 0, high = 129;
        while (low < high) {
            size_t mid = low + (high - low) / 2;
            if (inverse[mid].codepoint < c)
                low = mid + 1;
            else
                high = mid;
        }
        if (low == 129 || inverse[low].codepoint != c)
            return 0;
        out[i] = inverse[low].byte;
    }
    return 1;
}

static int df_fe_cont(unsigned char b)
{
    return b >= 0x80 && b <= 0xBF;
}

/* A byte of ALTERED_UTF8_RE's [\x80-\x84\x86-\x9f\xa1-\xbf]. */
static int df_fe_altered_cont(unsigned char b)
{
    return df_fe_cont(b) && b != 0x85 && b != 0xA0;
}

/* The length of the ALTERED_UTF8_RE match at `i` (its alternatives in
 * order), or 0. */
static size_t df_fe_altered_at(const unsigned char *s, size_t n, size_t i)
{
    size_t left = n - i;
    unsigned char b = s[i];
    if (left >= 2 && (b == 0xC2 || b == 0xC3 || b == 0xC5 || b == 0xCE || b == 0xD0 || b == 0xD9) &&
        s[i + 1] == ' ')
        return 2;
    if (left >= 3 && (b == 0xE2 || b == 0xE3) && s[i + 1] == ' ' && df_fe_altered_cont(s[i + 2]))
        return 3;
    if (left >= 3 && b >= 0xE0 && b <= 0xE3 && df_fe_altered_cont(s[i + 1]) && s[i + 2] == ' ')
        return 3;
    if (left >= 4 && b == 0xF0) {
        const unsigned char *t = s + i + 1;
        if ((t[0] == ' ' && df_fe_cont(t[1]) && df_fe_cont(t[2])) ||
            (df_fe_cont(t[0]) && t[1] == ' ' && df_fe_cont(t[2])) ||
            (df_fe_cont(t[0]) && df_fe_cont(t[1]) && t[2] == ' '))
            return 4;
    }
    return 0;
}

static int df_fe_altered_search(const df_fe_bytes *bytes)
{
    for (size_t i = 0; i < bytes->count; i++)
        if (df_fe_altered_at(bytes->data, bytes->count, i))
            return 1;
    return 0;
}

static int df_fe_starts_with(const unsigned char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !memcmp(s, prefix, k);
}

/* fixes.restore_byte_a0: A_GRAVE_WORD_RE (b"\xc3 (?! |quele|quela|quilo|s )"
 * gets an 0xA0 before its space), then every ALTERED_UTF8_RE match has its
 * spaces turned into 0xA0. Rewrites `bytes`, using `scratch`. */
static df_status df_fe_restore_byte_a0(df_fe_bytes *bytes, df_fe_bytes *scratch, df_error *error)
{
    const unsigned char *s = bytes->data;
    size_t n = bytes->count;
    scratch->count = 0;
    if (df_fe_bytes_reserve(scratch, n + n / 2 + 1, error))
        return DF_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        scratch->data[scratch->count++] = s[i];
        if (s[i] == 0xC3 && i + 1 < n && s[i + 1] == ' ') {
            const unsigned char *rest = s + i + 2;
            size_t left = n - i - 2;
            if (!df_fe_starts_with(rest, left, " ") && !df_fe_starts_with(rest, left, "quele") &&
                !df_fe_starts_with(rest, left, "quela") &&
                !df_fe_starts_with(rest, left, "quilo") && !df_fe_starts_with(rest, left, "s ")) {
                scratch->data[scratch->count++] = 0xA0;
                scratch->data[scratch->count++] = ' ';
                i++;
            }
        }
    }
    /* ALTERED_UTF8_RE.sub over the result, in place: the match keeps its
     * length. */
    unsigned char *t = scratch->data;
    size_t m = scratch->count;
    for (size_t i = 0; i < m;) {
        size_t length = df_fe_altered_at(t, m, i);
        if (!length) {
            i++;
            continue;
        }
        for (size_t k = i; k < i + length; k++)
            if (t[k] == ' ')
                t[k] = 0xA0;
        i += length;
    }
    df_fe_bytes swap = *bytes;
    *bytes = *scratch;
    *scratch = swap;
    return DF_OK;
}

/* [\x1a?] and [\x1a\x80-\xbf] and [\x1a?\x80-\xbf] of LOSSY_UTF8_RE. */
static int df_fe_lossy_q(unsigned char b)
{
    return b == 0x1A || b == '?';
}

static int df_fe_lossy_c(unsigned char b)
{
    return b == 0x1A || df_fe_cont(b);
}

/* The length of the LOSSY_UTF8_RE match at `i`, or 0. */
static size_t df_fe_lossy_at(const unsigned char *s, size_t n, size_t i)
{
    size_t left = n - i;
    unsigned char b = s[i];
    unsigned char t[6] = {0};
    for (size_t k = 0; k < 6 && k < left; k++)
        t[k] = s[i + k];
    /* t[] is zero past the end; each pattern checks `left` first. */
    if (left >= 2 && b >= 0xC2 && b <= 0xDF && t[1] == 0x1A)
        return 2;
    if (left >= 2 && (b == 0xC2 || b == 0xC3) && t[1] == '?')
        return 2;
    if (left >= 6 && b == 0xED && t[1] >= 0xA0 && t[1] <= 0xAF && t[3] == 0xED && t[4] >= 0xB0 &&
        t[4] <= 0xBF &&
        ((df_fe_lossy_q(t[2]) && (df_fe_lossy_q(t[5]) || df_fe_cont(t[5]))) ||
         ((df_fe_lossy_q(t[2]) || df_fe_cont(t[2])) && df_fe_lossy_q(t[5]))))
        return 6;
    if (left >= 3 && b >= 0xE0 && b <= 0xEF &&
        ((df_fe_lossy_q(t[1]) && df_fe_lossy_c(t[2])) ||
         (df_fe_lossy_c(t[1]) && df_fe_lossy_q(t[2]))))
        return 3;
    if (left >= 4 && b >= 0xF0 && b <= 0xF4 &&
        ((df_fe_lossy_q(t[1]) && df_fe_lossy_c(t[2]) && df_fe_lossy_c(t[3])) ||
         (df_fe_lossy_c(t[1]) && df_fe_lossy_q(t[2]) && df_fe_lossy_c(t[3])) ||
         (df_fe_lossy_c(t[1]) && df_fe_lossy_c(t[2]) && df_fe_lossy_q(t[3]))))
        return 4;
    if (b == 0x1A)
        return 1;
    return 0;
}

/* fixes.replace_lossy_sequences: each match becomes U+FFFD's UTF-8. */
static df_status df_fe_replace_lossy(df_fe_bytes *bytes, df_fe_bytes *scratch, df_error *error)
{
    const unsigned char *s = bytes->data;
    size_t n = bytes->count;
    scratch->count = 0;
    if (df_fe_bytes_reserve(scratch, 3 * n + 1, error))
        return DF_ERR_NO_MEMORY;
    for (size_t i = 0; i < n;) {
        size_t length = df_fe_lossy_at(s, n, i);
        if (!length) {
            scratch->data[scratch->count++] = s[i++];
            continue;
        }
        scratch->data[scratch->count++] = 0xEF;
        scratch->data[scratch->count++] = 0xBF;
        scratch->data[scratch->count++] = 0xBD;
        i += length;
    }
    df_fe_bytes swap = *bytes;
    *bytes = *scratch;
    *scratch = swap;
    return DF_OK;
}

/* Decodes `bytes` as strict UTF-8 or, with `variants`, as ftfy's
 * utf-8-variants codec (also CESU-8 surrogate pairs and Java's
 * "\xC0\x80" for U+0000). Returns 1, or 0 when Python would raise
 * UnicodeDecodeError; `out` must have room for bytes->count code points. */
static int df_fe_decode(const df_fe_bytes *bytes, int variants, df_text_buffer *out)
{
    const unsigned char *s = bytes->data;
    size_t n = bytes->count;
    out->count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i];
        if (c < 0x80) {
            out->data[out->count++] = c;
            i++;
            continue;
        }
        if (variants && c == 0xC0) {
            /* NULL_EXPR: \xc0(\x80|$), `$` being the end or before a final
             * "\n"; a lone final 0xC0 goes to the strict decoder. */
            if (i + 1 < n && (s[i + 1] == 0x80 || (i + 2 == n && s[i + 1] == '\n'))) {
                out->data[out->count++] = 0;
                i += 2;
                continue;
            }
            return 0;
        }
        if (variants && c == 0xED && n - i >= 6 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xAF &&
            df_fe_cont(s[i + 2]) && s[i + 3] == 0xED && s[i + 4] >= 0xB0 && s[i + 4] <= 0xBF &&
            (df_fe_cont(s[i + 5]) || (i + 6 == n && s[i + 5] == '\n'))) {
            out->data[out->count++] = (((uint32_t)s[i + 1] & 0x0F) << 16) +
                                      (((uint32_t)s[i + 2] & 0x3F) << 10) +
                                      (((uint32_t)s[i + 4] & 0x0F) << 6) + (s[i + 5] & 0x3F) +
                                      0x10000;
            i += 6;
            continue;
        }
        size_t k;
        uint32_t min;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, min = 0x80, c &= 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, min = 0x800, c &= 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (!df_fe_cont(s[i + j]))
                return 0;
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        out->data[out->count++] = c;
        i += k + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* decode_inconsistent_utf8                                                 */

/* The length of the UTF8_DETECTOR_RE group (first_of_2 cont |
 * first_of_3 cont{2} | first_of_4 cont{3})+ at `i`, greedy, trying the
 * alternatives in order at each repetition. */
static size_t df_fe_detector_at(const uint32_t *text, size_t count, size_t i)
{
    size_t start = i;
    for (;;) {
        uint32_t m = df_fe_mask(text[i]);
        size_t need = 0;
        if (m & DF_FE_FIRST_OF_2 && i + 1 < count &&
            df_fe_mask(text[i + 1]) & DF_FE_CONTINUATION)
            need = 1;
        if (!need && (m & DF_FE_FIRST_OF_3) && i + 2 < count) {
            need = 2;
            for (size_t k = 1; k <= 2 && need; k++)
                if (!(df_fe_mask(text[i + k]) & DF_FE_CONTINUATION))
                    need = 0;
        }
        if (!need && (m & DF_FE_FIRST_OF_4) && i + 3 < count) {
            need = 3;
            for (size_t k = 1; k <= 3 && need; k++)
                if (!(df_fe_mask(text[i + k]) & DF_FE_CONTINUATION))
                    need = 0;
        }
        if (!need)
            return i - start;
        i += need + 1;
        if (i >= count)
            return i - start;
    }
}

/* fixes.decode_inconsistent_utf8 into `out`. */
static df_status df_fe_decode_inconsistent(const uint32_t *text, size_t count,
                                           df_text_buffer *out, int depth, df_error *error)
{
    out->count = 0;
    df_text_buffer fixed = {0};
    df_status status = df_text_buffer_reserve(out, count + 1, error);
    for (size_t i = 0; status == DF_OK && i < count;) {
        size_t length = 0;
        if (i == 0 || !(df_fe_mask(text[i - 1]) & DF_FE_CONTINUATION_STRICT))
            length = df_fe_detector_at(text, count, i);
        if (!length) {
            out->data[out->count++] = text[i++];
            continue;
        }
        const uint32_t *match = text + i;
        if (length < count && depth < DF_TEXT_FIXENC_MAX_DEPTH && df_text_is_bad(match, length)) {
            status = df_text_fix_encoding_depth(match, length, &fixed, depth + 1, error);
            if (status == DF_OK)
                status = df_text_buffer_reserve(out, fixed.count + (count - i), error);
            if (status == DF_OK) {
                memcpy(out->data + out->count, fixed.data, fixed.count * sizeof(uint32_t));
                out->count += fixed.count;
            }
        } else {
            memcpy(out->data + out->count, match, length * sizeof(uint32_t));
            out->count += length;
        }
        i += length;
    }
    df_text_buffer_free(&fixed);
    return status;
}

static int df_fe_detector_search(const uint32_t *text, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if ((i == 0 || !(df_fe_mask(text[i - 1]) & DF_FE_CONTINUATION_STRICT)) &&
            df_fe_detector_at(text, count, i))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* fix_encoding                                                             */

static int df_fe_same(const uint32_t *a, size_t na, const df_text_buffer *b)
{
    return na == b->count && (na == 0 || !memcmp(a, b->data, na * sizeof *a));
}

static df_status df_fe_copy(const uint32_t *text, size_t count, df_text_buffer *out,
                            df_error *error)
{
    out->count = 0;
    if (df_text_buffer_reserve(out, count + 1, error))
        return DF_ERR_NO_MEMORY;
    if (count)
        memcpy(out->data, text, count * sizeof(uint32_t));
    out->count = count;
    return DF_OK;
}

/* _fix_encoding_one_step_and_explain into `out` (which may equal the
 * input text when nothing applies). */
static df_status df_fe_one_step(const uint32_t *text, size_t count, df_text_buffer *out,
                                int depth, df_error *error)
{
    int ascii = 1;
    for (size_t i = 0; i < count && ascii; i++)
        ascii = text[i] < 0x80;
    if (ascii || !df_text_is_bad(text, count))
        return df_fe_copy(text, count, out, error);

    df_fe_bytes bytes = {0}, scratch = {0};
    df_status status = df_fe_bytes_reserve(&bytes, count + 1, error);
    int decoded = 0;
    for (int codec = 0; status == DF_OK && codec < DF_TEXT_FIXENC_CODECS && !decoded; codec++) {
        bytes.count = 0;
        if (!df_fe_encode(codec, text, count, bytes.data))
            continue;
        bytes.count = count;
        if (codec != DF_FE_MACROMAN && df_fe_altered_search(&bytes) &&
            (status = df_fe_restore_byte_a0(&bytes, &scratch, error)))
            break;
        if (codec >= DF_FE_SLOPPY_1252 && codec <= DF_FE_SLOPPY_LAST &&
            (status = df_fe_replace_lossy(&bytes, &scratch, error)))
            break;
        int variants = memchr(bytes.data, 0xED, bytes.count) != NULL ||
                       memchr(bytes.data, 0xC0, bytes.count) != NULL;
        if ((status = df_text_buffer_reserve(out, bytes.count + 1, error)))
            break;
        decoded = df_fe_decode(&bytes, variants, out);
        /* The transcoders may have grown the buffer; the next codec's
         * encoding needs count bytes, which it still has. */
    }
    df_fe_bytes_free(&bytes);
    df_fe_bytes_free(&scratch);
    if (status || decoded)
        return status;

    if (df_fe_detector_search(text, count)) {
        if ((status = df_fe_decode_inconsistent(text, count, out, depth, error)))
            return status;
        if (!df_fe_same(text, count, out))
            return DF_OK;
    }

    /* What is left only touches C1 controls. Latin-1 text read as strict
     * Windows-1252 (failing on its five unassigned bytes), or else
     * fix_c1_controls (the sloppy codec, where those five stay themselves):
     * either way each C1 control becomes its sloppy Windows-1252 character. */
    if ((status = df_fe_copy(text, count, out, error)))
        return status;
    const uint16_t *cp1252 = df_text_fixenc_codec_tables[DF_FE_SLOPPY_1252];
    for (size_t i = 0; i < count; i++)
        if (text[i] >= 0x80 && text[i] <= 0x9F)
            out->data[i] = cp1252[text[i]];
    return DF_OK;
}

static df_status df_text_fix_encoding_depth(const uint32_t *text, size_t count,
                                            df_text_buffer *out, int depth, df_error *error)
{
    df_text_buffer current = {0}, next = {0};
    df_status status = df_fe_copy(text, count, &current, error);
    for (int step = 0; status == DF_OK && step < DF_TEXT_FIXENC_MAX_STEPS; step++) {
        if ((status = df_fe_one_step(current.data, current.count, &next, depth, error)))
            break;
        if (df_fe_same(current.data, current.count, &next))
            break;
        df_text_buffer swap = current;
        current = next;
        next = swap;
    }
    if (status == DF_OK)
        status = df_fe_copy(current.data, current.count, out, error);
    df_text_buffer_free(&current);
    df_text_buffer_free(&next);
    return status;
}

df_status df_text_fix_encoding(const uint32_t *text, size_t count, df_text_buffer *out,
                               df_error *error)
{
    return df_text_fix_encoding_depth(text, count, out, 0, error);
}
