/*
 * text_clean.c — the text normalisation transformers' CLIPTokenizer applies
 * before BPE when ftfy is installed: `whitespace_clean(ftfy.fix_text(text))
 * .lower()`, on code points, with utf8proc for the Unicode tables.
 *
 * ftfy 6.3.1 fix_text with its default TextFixerConfig, reproduced here:
 *   - the split into segments after each '\n' (and every 1,000,000 code
 *     points), the "auto" rule for unescape_html (off from the first segment
 *     whose raw text holds a '<', for the rest of the text), and the loop
 *     that re-applies every fixer until the segment stops changing;
 *   - unescape_html (HTML5 named entities, ftfy's upper-cased variants, and
 *     &#DDD; / &#xHHH; with html.unescape's replacements of invalid numbers);
 *   - fix_c1_controls (U+0080..U+009F read as Windows-1252, "sloppy");
 *   - fix_latin_ligatures, fix_character_width (U+FF01..U+FFEF to their
 *     NFKC form, U+3000 to a space), uncurl_quotes, fix_line_breaks,
 *     remove_terminal_escapes, remove_control_chars, NFC normalisation;
 *   - fix_surrogates is a no-op: strict UTF-8 cannot carry surrogates, and
 *     html.unescape already maps &#xD800; to U+FFFD.
 *   - fix_encoding (mojibake repair, with restore_byte_a0,
 *     replace_lossy_sequences and decode_inconsistent_utf8) is in
 *     text_fix_encoding.c; it runs after unescape_html, as in ftfy.
 * NUL and the other C0 controls are removed as ftfy does, so a NUL inside
 * `length` is no error.
 *
 * whitespace_clean (collapse \s+ and strip) needs no code: the pre-tokenizer
 * skips whitespace, and no later step looks at it, so collapsing cannot
 * change a token. df_text_is_space still gives its exact set.
 *
 * Python's str.lower() is utf8proc's simple mapping plus the two things
 * SpecialCasing adds for lower-casing in CPython: U+0130 to "i\u0307" and
 * the Final_Sigma context of U+03A3.
 *
 * Unicode versions differ a little (CPython 3.11's unicodedata is 14.0, the
 * `regex` module and utf8proc 2.8 are newer): only characters assigned after
 * Unicode 14 can be classified differently.
 */
#include "text/text_clean.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "runtime/error.h"
#include "text/text_fix_encoding.h"

/* ftfy's max_decode_length: fix_text never fixes more than this at once. */
#define DF_TEXT_MAX_SEGMENT 1000000

struct df_text_cleaner {
    const char **entities; /* sorted names into df_text_html_entities */
    size_t entity_count;
};

static const char *df_text_entity_blob(void);

/* ------------------------------------------------------------------------ */
/* Buffers and UTF-8                                                        */

df_status df_text_buffer_reserve(df_text_buffer *buffer, size_t extra, df_error *error)
{
    if (extra <= buffer->capacity - buffer->count)
        return DF_OK;
    if (extra > SIZE_MAX / sizeof(uint32_t) / 2 - buffer->count)
        return df_error_set(error, DF_ERR_NO_MEMORY, "text buffer too large");
    size_t capacity = buffer->capacity ? buffer->capacity : 64;
    while (capacity - buffer->count < extra)
        capacity *= 2;
    uint32_t *data = realloc(buffer->data, capacity * sizeof(uint32_t));
    if (!data)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (%zu code points)", capacity);
    buffer->data = data;
    buffer->capacity = capacity;
    return DF_OK;
}

void df_text_buffer_free(df_text_buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->count = buffer->capacity = 0;
}

static df_status df_text_push(df_text_buffer *buffer, uint32_t c, df_error *error)
{
    if (buffer->count == buffer->capacity && df_text_buffer_reserve(buffer, 1, error))
        return DF_ERR_NO_MEMORY;
    buffer->data[buffer->count++] = c;
    return DF_OK;
}

df_status df_text_decode_utf8(const char *text, size_t length, df_text_buffer *out,
                              df_error *error)
{
    const unsigned char *s = (const unsigned char *)text;
    out->count = 0;
    if (df_text_buffer_reserve(out, length + 1, error))
        return DF_ERR_NO_MEMORY;
    size_t i = 0;
    while (i < length) {
        uint32_t c = s[i];
        size_t n;
        uint32_t min;
        if (c < 0x80) {
            out->data[out->count++] = c;
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "invalid UTF-8 at byte offset %zu (byte 0x%02X cannot start a "
                                "character)", i, (unsigned)s[i]);
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= length)
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "invalid UTF-8 at byte offset %zu (truncated sequence)", i);
            if ((s[i + k] & 0xC0) != 0x80)
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "invalid UTF-8 at byte offset %zu (byte 0x%02X is not a "
                                    "continuation byte)", i + k, (unsigned)s[i + k]);
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "invalid UTF-8 at byte offset %zu (overlong encoding)", i);
        if (c > 0x10FFFF)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "invalid UTF-8 at byte offset %zu (code point above U+10FFFF)", i);
        if (c >= 0xD800 && c <= 0xDFFF)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "invalid UTF-8 at byte offset %zu (surrogate U+%04X)", i,
                                (unsigned)c);
        out->data[out->count++] = c;
        i += n + 1;
    }
    return DF_OK;
}

size_t df_text_encode_utf8(uint32_t c, unsigned char *out)
{
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xC0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* Decodes one code point of trusted UTF-8 (the built-in tables). */
static uint32_t df_text_next_utf8(const char **cursor)
{
    const unsigned char *s = (const unsigned char *)*cursor;
    uint32_t c = s[0];
    size_t n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    if (n)
        c &= 0x3F >> n;
    for (size_t k = 1; k <= n; k++)
        c = (c << 6) | (s[k] & 0x3F);
    *cursor += n + 1;
    return c;
}

/* ------------------------------------------------------------------------ */
/* Character properties                                                     */

int df_text_is_space(uint32_t c)
{
    /* `regex`'s \s is White_Space: Z* plus the C0 separators and NEL. */
    if ((c >= 0x09 && c <= 0x0D) || c == 0x85)
        return 1;
    utf8proc_category_t category = utf8proc_category((utf8proc_int32_t)c);
    return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL ||
           category == UTF8PROC_CATEGORY_ZP;
}

df_text_class df_text_classify(uint32_t c)
{
    /* U+0345 COMBINING GREEK YPOGEGRAMMENI folds to a letter (iota), so
     * under IGNORECASE `regex` matches it with neither [\p{L}] nor the
     * negated class: findall skips it like whitespace. */
    if (c == 0x345 || df_text_is_space(c))
        return DF_TEXT_SPACE;
    utf8proc_category_t category = utf8proc_category((utf8proc_int32_t)c);
    if (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO)
        return DF_TEXT_LETTER;
    if (category >= UTF8PROC_CATEGORY_ND && category <= UTF8PROC_CATEGORY_NO)
        return DF_TEXT_NUMBER;
    return DF_TEXT_OTHER;
}

/* Case_Ignorable (DerivedCoreProperties): Mn, Me, Cf, Lm, Sk and the
 * Word_Break classes MidLetter, MidNumLet and Single_Quote, which utf8proc
 * does not carry; those few code points are listed from WordBreakProperty. */
static int df_text_case_ignorable(uint32_t c)
{
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
    case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default:
        break;
    }
    utf8proc_category_t category = utf8proc_category((utf8proc_int32_t)c);
    return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_ME ||
           category == UTF8PROC_CATEGORY_CF || category == UTF8PROC_CATEGORY_LM ||
           category == UTF8PROC_CATEGORY_SK;
}

/* Cased: Lu, Ll, Lt, or anything with a case mapping (Other_Lowercase and
 * Other_Uppercase letters like U+24B6 CIRCLED A), plus the Other_Lowercase /
 * Other_Uppercase code points (PropList.txt) that have no mapping and are
 * not Case_Ignorable: the ordinals ª º and the squared, circled and negative
 * squared Latin capitals U+1F130..U+1F189. */
static int df_text_cased(uint32_t c)
{
    if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    utf8proc_category_t category = utf8proc_category((utf8proc_int32_t)c);
    if (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LT)
        return 1;
    utf8proc_int32_t value = (utf8proc_int32_t)c;
    return utf8proc_tolower(value) != value || utf8proc_toupper(value) != value;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final U+03C2 when a
 * cased letter precedes it and none follows (case-ignorables skipped). */
static uint32_t df_text_lower_sigma(const uint32_t *text, size_t count, size_t i)
{
    size_t j = i;
    while (j > 0 && df_text_case_ignorable(text[j - 1]))
        j--;
    if (j == 0 || !df_text_cased(text[j - 1]))
        return 0x3C3;
    j = i + 1;
    while (j < count && df_text_case_ignorable(text[j]))
        j++;
    return (j == count || !df_text_cased(text[j])) ? 0x3C2 : 0x3C3;
}

df_status df_text_lower(const uint32_t *text, size_t count, df_text_buffer *out, df_error *error)
{
    if (df_text_buffer_reserve(out, count + 1, error))
        return DF_ERR_NO_MEMORY;
    for (size_t i = 0; i < count; i++) {
        uint32_t c = text[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                c += 'a' - 'A';
        } else if (c == 0x130) {
            /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE lowers
             * to two code points, "i" + COMBINING DOT ABOVE. */
            if (df_text_push(out, 'i', error))
                return DF_ERR_NO_MEMORY;
            c = 0x307;
        } else if (c == 0x3A3) {
            c = df_text_lower_sigma(text, count, i);
        } else {
            c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
        if (df_text_push(out, c, error))
            return DF_ERR_NO_MEMORY;
    }
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* ftfy fixers                                                              */

/* Windows-1252 for 0x80..0x9F, as ftfy's "sloppy" codec decodes it (the
 * five undefined bytes stay themselves) and as html.unescape maps the
 * invalid numeric references &#128; .. &#159;. */
static const uint16_t df_text_cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* ftfy.chardata.LIGATURES. */
static const struct {
    uint16_t from;
    uint16_t to[3];
} df_text_ligatures[] = {
    {0x0132, {'I', 'J'}},    {0x0133, {'i', 'j'}},    {0x0149, {0x02BC, 'n'}},
    {0x01C4, {'D', 0x017D}}, {0x01C5, {'D', 0x017E}}, {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}},    {0x01C8, {'L', 'j'}},    {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}},    {0x01CB, {'N', 'j'}},    {0x01CC, {'n', 'j'}},
    {0x01F1, {'D', 'Z'}},    {0x01F2, {'D', 'z'}},    {0x01F3, {'d', 'z'}},
    {0xFB00, {'f', 'f'}},    {0xFB01, {'f', 'i'}},    {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}}, {0xFB04, {'f', 'f', 'l'}}, {0xFB05, {0x017F, 't'}},
    {0xFB06, {'s', 't'}},
};

/* ftfy.chardata.CONTROL_CHARS: removed by remove_control_chars. */
static int df_text_removed_control(uint32_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* html.unescape's value for a numeric reference (_replace_charref);
 * returns the number of code points written (0..1). */
static size_t df_text_charref(uint64_t number, uint32_t *out)
{
    if (number == 0) {
        out[0] = 0xFFFD;
        return 1;
    }
    if (number == 0x0D) {
        out[0] = 0x0D;
        return 1;
    }
    if (number >= 0x80 && number <= 0x9F) {
        out[0] = df_text_cp1252[number - 0x80];
        return 1;
    }
    if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) {
        out[0] = 0xFFFD;
        return 1;
    }
    /* _invalid_codepoints: the other C0/C1 controls and the noncharacters. */
    if ((number >= 0x01 && number <= 0x08) || number == 0x0B || (number >= 0x0E && number <= 0x1F) ||
        (number >= 0x7F && number <= 0x9F) || (number >= 0xFDD0 && number <= 0xFDEF) ||
        (number & 0xFFFE) == 0xFFFE)
        return 0;
    out[0] = (uint32_t)number;
    return 1;
}

static int df_text_is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static const char *df_text_find_entity(const df_text_cleaner *cleaner, const char *name)
{
    size_t low = 0, high = cleaner->entity_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        const char *entry = cleaner->entities[mid];
        size_t k = 0;
        while (name[k] && entry[k] != '\001' && name[k] == entry[k])
            k++;
        int cmp;
        if (!name[k] && entry[k] == '\001')
            return entry + k + 1;
        if (!name[k])
            cmp = -1;
        else if (entry[k] == '\001')
            cmp = 1;
        else
            cmp = (unsigned char)name[k] < (unsigned char)entry[k] ? -1 : 1;
        if (cmp < 0)
            high = mid;
        else
            low = mid + 1;
    }
    return NULL;
}

/* ftfy.fixes.unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24}; then
 * _unescape_fixup, scanning left to right like re.sub. */
static df_status df_text_unescape_html(const df_text_cleaner *cleaner, const df_text_buffer *in,
                                       df_text_buffer *out, df_error *error)
{
    out->count = 0;
    if (df_text_buffer_reserve(out, in->count + 1, error))
        return DF_ERR_NO_MEMORY;
    const uint32_t *s = in->data;
    size_t n = in->count;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') {
            out->data[out->count++] = s[i++];
            continue;
        }
        size_t start = i + 1;
        int numeric = start < n && s[start] == '#';
        size_t body = start + (size_t)numeric;
        size_t end = body;
        while (end < n && end - body < 24 && df_text_is_ascii_alnum(s[end]))
            end++;
        if (end == body || end >= n || s[end] != ';') {
            out->data[out->count++] = s[i++];
            continue;
        }
        /* A match: s[i..end] is "&" [#] alnum{1,24} ";". */
        size_t match_end = end + 1;
        uint32_t replacement[4];
        size_t replacement_count = 0;
        int replaced = 0;
        char name[32];
        size_t name_length = 0;
        for (size_t k = start; k < end; k++)
            name[name_length++] = (char)s[k];
        name[name_length] = 0;
        const char *value = numeric ? NULL : df_text_find_entity(cleaner, name);
        if (value) {
            while (*value != '\002')
                replacement[replacement_count++] = df_text_next_utf8(&value);
            replaced = 1;
        } else if (numeric) {
            /* html.unescape converts only a whole "&#digits;" or
             * "&#x hexdigits;"; anything else keeps a ';' in its result, and
             * then ftfy keeps the original text. */
            int hex = s[body] == 'x' || s[body] == 'X';
            size_t digits = body + (size_t)hex;
            uint64_t number = 0;
            int valid = digits < end;
            for (size_t k = digits; k < end && valid; k++) {
                uint32_t c = s[k];
                uint32_t d;
                if (c >= '0' && c <= '9')
                    d = c - '0';
                else if (hex && c >= 'a' && c <= 'f')
                    d = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F')
                    d = c - 'A' + 10;
                else
                    valid = 0, d = 0;
                if (number <= 0x10FFFF) /* saturate: anything larger gives U+FFFD */
                    number = number * (hex ? 16 : 10) + d;
            }
            if (valid) {
                replacement_count = df_text_charref(number, replacement);
                /* "&#59;" unescapes to ";", which ftfy takes for a failure. */
                replaced = !(replacement_count == 1 && replacement[0] == ';');
            }
        }
        if (replaced) {
            if (df_text_buffer_reserve(out, replacement_count, error))
                return DF_ERR_NO_MEMORY;
            for (size_t k = 0; k < replacement_count; k++)
                out->data[out->count++] = replacement[k];
        } else {
            for (size_t k = i; k < match_end; k++)
                out->data[out->count++] = s[k];
        }
        i = match_end;
    }
    return DF_OK;
}

/* NFKC of one code point of the half/full-width block (WIDTH_MAP). */
static size_t df_text_nfkc_char(uint32_t c, uint32_t *out, size_t capacity)
{
    int boundary = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, (utf8proc_int32_t *)out,
                                                 (utf8proc_ssize_t)capacity,
                                                 UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &boundary);
    if (n <= 0 || (size_t)n > capacity) {
        out[0] = c;
        return 1;
    }
    n = utf8proc_normalize_utf32((utf8proc_int32_t *)out, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    return n > 0 ? (size_t)n : 0;
}

/* The per-character fixers, in ftfy's order: fix_c1_controls,
 * fix_latin_ligatures, fix_character_width, uncurl_quotes. Each is a
 * character map, so applying them in turn to each character equals
 * applying them in turn to the whole text. */
static df_status df_text_map_chars(const df_text_buffer *in, df_text_buffer *out, df_error *error)
{
    out->count = 0;
    for (size_t i = 0; i < in->count; i++) {
        uint32_t c = in->data[i];
        if (c >= 0x80 && c <= 0x9F)
            c = df_text_cp1252[c - 0x80];
        uint32_t ligature[3] = {c, 0, 0};
        size_t ligature_count = 1;
        for (size_t k = 0; k < sizeof df_text_ligatures / sizeof df_text_ligatures[0]; k++) {
            if (df_text_ligatures[k].from == c) {
                ligature_count = 0;
                for (size_t m = 0; m < 3 && df_text_ligatures[k].to[m]; m++)
                    ligature[ligature_count++] = df_text_ligatures[k].to[m];
                break;
            }
        }
        for (size_t k = 0; k < ligature_count; k++) {
            uint32_t wide[8];
            size_t wide_count = 1;
            wide[0] = ligature[k];
            if (wide[0] == 0x3000)
                wide[0] = ' ';
            else if (wide[0] >= 0xFF01 && wide[0] <= 0xFFEF)
                wide_count = df_text_nfkc_char(wide[0], wide, 8);
            if (df_text_buffer_reserve(out, wide_count, error))
                return DF_ERR_NO_MEMORY;
            for (size_t m = 0; m < wide_count; m++) {
                uint32_t d = wide[m];
                if (d == 0x2BC || (d >= 0x2018 && d <= 0x201B))
                    d = '\'';
                else if (d >= 0x201C && d <= 0x201F)
                    d = '"';
                out->data[out->count++] = d;
            }
        }
    }
    return DF_OK;
}

/* fix_line_breaks, then remove_terminal_escapes
 * (\033\[((?:\d|;)*)([a-zA-Z]), \d being Unicode Nd), then
 * remove_control_chars. Every output is no longer than its input. */
static df_status df_text_fix_breaks_controls(df_text_buffer *in, df_text_buffer *out,
                                             df_error *error)
{
    out->count = 0;
    if (df_text_buffer_reserve(out, in->count + 1, error))
        return DF_ERR_NO_MEMORY;
    const uint32_t *s = in->data;
    size_t n = in->count;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == '\r') {
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        }
        out->data[out->count++] = c;
    }
    /* Escapes, in place over `out` into `in`. */
    in->count = 0;
    s = out->data;
    n = out->count;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x1B && i + 1 < n && s[i + 1] == '[') {
            size_t j = i + 2;
            while (j < n && (s[j] == ';' || utf8proc_category((utf8proc_int32_t)s[j]) ==
                                                    UTF8PROC_CATEGORY_ND))
                j++;
            if (j < n && s[j] < 0x80 && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')) {
                i = j;
                continue;
            }
        }
        in->data[in->count++] = s[i];
    }
    out->count = 0;
    for (size_t i = 0; i < in->count; i++)
        if (!df_text_removed_control(in->data[i]))
            out->data[out->count++] = in->data[i];
    return DF_OK;
}

/* unicodedata.normalize("NFC"): canonical decomposition, reordering and
 * composition through utf8proc. */
static df_status df_text_nfc(const df_text_buffer *in, df_text_buffer *out, df_error *error)
{
    out->count = 0;
    int simple = 1;
    for (size_t i = 0; i < in->count && simple; i++)
        simple = in->data[i] < 0x300; /* nothing below U+0300 composes or is excluded */
    if (simple) {
        if (df_text_buffer_reserve(out, in->count + 1, error))
            return DF_ERR_NO_MEMORY;
        memcpy(out->data, in->data, in->count * sizeof(uint32_t));
        out->count = in->count;
        return DF_OK;
    }
    unsigned char *utf8 = malloc(in->count * 4 + 1);
    if (!utf8)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (NFC)");
    size_t length = 0;
    for (size_t i = 0; i < in->count; i++)
        length += df_text_encode_utf8(in->data[i], utf8 + length);
    utf8proc_option_t options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t needed = utf8proc_decompose(utf8, (utf8proc_ssize_t)length, NULL, 0, options);
    if (needed < 0 || df_text_buffer_reserve(out, (size_t)needed + 1, error)) {
        free(utf8);
        return needed < 0 ? df_error_set(error, DF_ERR_INTERNAL, "NFC: %s",
                                         utf8proc_errmsg(needed))
                          : DF_ERR_NO_MEMORY;
    }
    utf8proc_ssize_t written = utf8proc_decompose(utf8, (utf8proc_ssize_t)length,
                                                  (utf8proc_int32_t *)out->data, needed, options);
    free(utf8);
    if (written >= 0)
        written = utf8proc_normalize_utf32((utf8proc_int32_t *)out->data, written, options);
    if (written < 0)
        return df_error_set(error, DF_ERR_INTERNAL, "NFC: %s", utf8proc_errmsg(written));
    out->count = (size_t)written;
    return DF_OK;
}

static void df_text_swap(df_text_buffer *a, df_text_buffer *b)
{
    df_text_buffer t = *a;
    *a = *b;
    *b = t;
}

/* ftfy.fix_and_explain on one segment: every fixer in order, repeated
 * until the text stops changing. Appends the result to `out`. */
static df_status df_text_fix_segment(const df_text_cleaner *cleaner, const uint32_t *segment,
                                     size_t count, int unescape, df_text_buffer *out,
                                     df_error *error)
{
    df_text_buffer current = {0}, scratch = {0}, previous = {0};
    df_status status = df_text_buffer_reserve(&current, count + 1, error);
    if (status == DF_OK) {
        memcpy(current.data, segment, count * sizeof(uint32_t));
        current.count = count;
    }
    /* Every fixer pass shrinks or keeps the text, or else consumes an
     * entity or ligature; the guard only protects from a bug looping. */
    for (int pass = 0; status == DF_OK && pass < 64; pass++) {
        status = df_text_buffer_reserve(&previous, current.count + 1, error);
        if (status)
            break;
        memcpy(previous.data, current.data, current.count * sizeof(uint32_t));
        previous.count = current.count;
        if (unescape) {
            if ((status = df_text_unescape_html(cleaner, &current, &scratch, error)))
                break;
            df_text_swap(&current, &scratch);
        }
        if ((status = df_text_fix_encoding(current.data, current.count, &scratch, error)))
            break;
        df_text_swap(&current, &scratch);
        if ((status = df_text_map_chars(&current, &scratch, error)))
            break;
        df_text_swap(&current, &scratch);
        if ((status = df_text_fix_breaks_controls(&current, &scratch, error)))
            break;
        df_text_swap(&current, &scratch);
        if ((status = df_text_nfc(&current, &scratch, error)))
            break;
        df_text_swap(&current, &scratch);
        if (current.count == previous.count &&
            !memcmp(current.data, previous.data, current.count * sizeof(uint32_t)))
            break;
    }
    /* A segment can clean to nothing (only controls): no memcpy to an
     * `out` that has no storage yet. */
    if (status == DF_OK && current.count &&
        (status = df_text_buffer_reserve(out, current.count, error)) == DF_OK) {
        memcpy(out->data + out->count, current.data, current.count * sizeof(uint32_t));
        out->count += current.count;
    }
    df_text_buffer_free(&current);
    df_text_buffer_free(&scratch);
    df_text_buffer_free(&previous);
    return status;
}

df_status df_text_fix(const df_text_cleaner *cleaner, const uint32_t *text, size_t count,
                      df_text_buffer *out, df_error *error)
{
    out->count = 0;
    int unescape = 1; /* "auto": off for good once a segment holds a '<' */
    size_t position = 0;
    while (position < count) {
        size_t end = position;
        while (end < count && text[end] != '\n' && end - position < DF_TEXT_MAX_SEGMENT)
            end++;
        if (end < count && text[end] == '\n' && end - position < DF_TEXT_MAX_SEGMENT)
            end++;
        for (size_t i = position; i < end && unescape; i++)
            if (text[i] == '<')
                unescape = 0;
        df_status status = df_text_fix_segment(cleaner, text + position, end - position, unescape,
                                               out, error);
        if (status)
            return status;
        position = end;
    }
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* The entity index                                                         */

df_status df_text_cleaner_create(df_text_cleaner **out, df_error *error)
{
    *out = NULL;
    df_text_cleaner *cleaner = calloc(1, sizeof *cleaner);
    if (!cleaner)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (text cleaner)");
    const char *blob = df_text_entity_blob();
    for (const char *p = blob; *p; p++)
        cleaner->entity_count += *p == '\002';
    cleaner->entities = malloc(cleaner->entity_count * sizeof *cleaner->entities);
    if (!cleaner->entities) {
        free(cleaner);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (entity index)");
    }
    size_t k = 0;
    const char *entry = blob;
    for (const char *p = blob; *p; p++) {
        if (*p == '\002') {
            cleaner->entities[k++] = entry;
            entry = p + 1;
        }
    }
    *out = cleaner;
    return DF_OK;
}

void df_text_cleaner_free(df_text_cleaner *cleaner)
{
    if (!cleaner)
        return;
    free(cleaner->entities);
    free(cleaner);
}

/* ftfy.chardata.HTML_ENTITIES: every HTML5 entity name ending in ';' and
 * ftfy's upper-cased variants, as "NAME\001value\002", sorted by name
 * (bytes). Generated from Python's html.entities.html5 by
 * `tools/make_token_fixtures.py --html-table`; do not edit by hand. */
static const char *df_text_entity_blob(void)
{
    static const char blob[] =
    "AACUTE\001Á\002ABREVE\001Ă\002AC\001∾\002ACD\001∿\002ACIRC\001Â\002ACUTE\001´\002ACY\001А\002"
    "AELIG\001Æ\002AElig\001Æ\002AF\001\342\201\241\002AFR\001𝔞\002AGRAVE\001À\002ALEFSYM\001ℵ\002"
    "ALEPH\001ℵ\002ALPHA\001Α\002AMACR\001Ā\002AMALG\001⨿\002AMP\001&\002AND\001∧\002ANDAND\001⩕\002"
    "ANDD\001⩜\002ANDSLOPE\001⩘\002ANDV\001⩚\002ANG\001∠\002ANGE\001⦤\002ANGLE\001∠\002"
    "ANGMSD\001∡\002ANGMSDAA\001⦨\002ANGMSDAB\001⦩\002ANGMSDAC\001⦪\002ANGMSDAD\001⦫\002"
    "ANGMSDAE\001⦬\002ANGMSDAF\001⦭\002ANGMSDAG\001⦮\002ANGMSDAH\001⦯\002ANGRT\001∟\002"
    "ANGRTVB\001⊾\002ANGRTVBD\001⦝\002ANGSPH\001∢\002ANGST\001Å\002ANGZARR\001⍼\002AOGON\001Ą\002"
    "AOPF\001𝕒\002AP\001≈\002APACIR\001⩯\002APE\001≊\002APID\001≋\002APOS\001'\002APPROX\001≈\002"
    "APPROXEQ\001≊\002ARING\001Å\002ASCR\001𝒶\002AST\001*\002ASYMP\001≈\002ASYMPEQ\001≍\002"
    "ATILDE\001Ã\002AUML\001Ä\002AWCONINT\001∳\002AWINT\001⨑\002Aacute\001Á\002Abreve\001Ă\002"
    "Acirc\001Â\002Acy\001А\002Afr\001𝔄\002Agrave\001À\002Alpha\001Α\002Amacr\001Ā\002And\001⩓\002"
    "Aogon\001Ą\002Aopf\001𝔸\002ApplyFunction\001\342\201\241\002Aring\001Å\002Ascr\001𝒜\002"
    "Assign\001≔\002Atilde\001Ã\002Auml\001Ä\002BACKCONG\001≌\002BACKEPSILON\001϶\002"
    "BACKPRIME\001‵\002BACKSIM\001∽\002BACKSIMEQ\001⋍\002BARVEE\001⊽\002BARWED\001⌅\002"
    "BARWEDGE\001⌅\002BBRK\001⎵\002BBRKTBRK\001⎶\002BCONG\001≌\002BCY\001Б\002BDQUO\001„\002"
    "BECAUS\001∵\002BECAUSE\001∵\002BEMPTYV\001⦰\002BEPSI\001϶\002BERNOU\001ℬ\002BETA\001Β\002"
    "BETH\001ℶ\002BETWEEN\001≬\002BFR\001𝔟\002BIGCAP\001⋂\002BIGCIRC\001◯\002BIGCUP\001⋃\002"
    "BIGODOT\001⨀\002BIGOPLUS\001⨁\002BIGOTIMES\001⨂\002BIGSQCUP\001⨆\002BIGSTAR\001★\002"
    "BIGTRIANGLEDOWN\001▽\002BIGTRIANGLEUP\001△\002BIGUPLUS\001⨄\002BIGVEE\001⋁\002BIGWEDGE\001⋀\002"
    "BKAROW\001⤍\002BLACKLOZENGE\001⧫\002BLACKSQUARE\001▪\002BLACKTRIANGLE\001▴\002"
    "BLACKTRIANGLEDOWN\001▾\002BLACKTRIANGLELEFT\001◂\002BLACKTRIANGLERIGHT\001▸\002BLANK\001␣\002"
    "BLK12\001▒\002BLK14\001░\002BLK34\001▓\002BLOCK\001█\002BNE\001=\342\203\245\002"
    "BNEQUIV\001≡\342\203\245\002BNOT\001⌐\002BOPF\001𝕓\002BOT\001⊥\002BOTTOM\001⊥\002BOWTIE\001⋈\002"
    "BOXBOX\001⧉\002BOXDL\001┐\002BOXDR\001┌\002BOXH\001─\002BOXHD\001┬\002BOXHU\001┴\002"
    "BOXMINUS\001⊟\002BOXPLUS\001⊞\002BOXTIMES\001⊠\002BOXUL\001┘\002BOXUR\001└\002BOXV\001│\002"
    "BOXVH\001┼\002BOXVL\001┤\002BOXVR\001├\002BPRIME\001‵\002BREVE\001˘\002BRVBAR\001¦\002"
    "BSCR\001𝒷\002BSEMI\001⁏\002BSIM\001∽\002BSIME\001⋍\002BSOL\001\134\002BSOLB\001⧅\002"
    "BSOLHSUB\001⟈\002BULL\001•\002BULLET\001•\002BUMP\001≎\002BUMPE\001≏\002BUMPEQ\001≏\002"
    "Backslash\001∖\002Barv\001⫧\002Barwed\001⌆\002Bcy\001Б\002Because\001∵\002Bernoullis\001ℬ\002"
    "Beta\001Β\002Bfr\001𝔅\002Bopf\001𝔹\002Breve\001˘\002Bscr\001ℬ\002Bumpeq\001≎\002CACUTE\001Ć\002"
    "CAP\001∩\002CAPAND\001⩄\002CAPBRCUP\001⩉\002CAPCAP\001⩋\002CAPCUP\001⩇\002CAPDOT\001⩀\002"
    "CAPS\001∩\357\270\200\002CARET\001⁁\002CARON\001ˇ\002CCAPS\001⩍\002CCARON\001Č\002"
    "CCEDIL\001Ç\002CCIRC\001Ĉ\002CCUPS\001⩌\002CCUPSSM\001⩐\002CDOT\001Ċ\002CEDIL\001¸\002"
    "CEMPTYV\001⦲\002CENT\001¢\002CENTERDOT\001·\002CFR\001𝔠\002CHCY\001Ч\002CHECK\001✓\002"
    "CHECKMARK\001✓\002CHI\001Χ\002CHcy\001Ч\002CIR\001○\002CIRC\001ˆ\002CIRCEQ\001≗\002"
    "CIRCLEARROWLEFT\001↺\002CIRCLEARROWRIGHT\001↻\002CIRCLEDAST\001⊛\002CIRCLEDCIRC\001⊚\002"
    "CIRCLEDDASH\001⊝\002CIRE\001≗\002CIRFNINT\001⨐\002CIRMID\001⫯\002CIRSCIR\001⧂\002CLUBS\001♣\002"
    "CLUBSUIT\001♣\002COLON\001:\002COLONE\001≔\002COLONEQ\001≔\002COMMA\001,\002COMMAT\001@\002"
    "COMP\001∁\002COMPFN\001∘\002COMPLEMENT\001∁\002COMPLEXES\001ℂ\002CONG\001≅\002CONGDOT\001⩭\002"
    "CONINT\001∮\002COPF\001𝕔\002COPROD\001∐\002COPY\001©\002CRARR\001↵\002CROSS\001✗\002"
    "CSCR\001𝒸\002CSUB\001⫏\002CSUBE\001⫑\002CSUP\001⫐\002CSUPE\001⫒\002CTDOT\001⋯\002"
    "CUDARRL\001⤸\002CUDARRR\001⤵\002CUEPR\001⋞\002CUESC\001⋟\002CULARR\001↶\002CULARRP\001⤽\002"
    "CUP\001∪\002CUPBRCAP\001⩈\002CUPCAP\001⩆\002CUPCUP\001⩊\002CUPDOT\001⊍\002CUPOR\001⩅\002"
    "CUPS\001∪\357\270\200\002CURARR\001↷\002CURARRM\001⤼\002CURLYEQPREC\001⋞\002CURLYEQSUCC\001⋟\002"
    "CURLYVEE\001⋎\002CURLYWEDGE\001⋏\002CURREN\001¤\002CURVEARROWLEFT\001↶\002"
    "CURVEARROWRIGHT\001↷\002CUVEE\001⋎\002CUWED\001⋏\002CWCONINT\001∲\002CWINT\001∱\002"
    "CYLCTY\001⌭\002Cacute\001Ć\002Cap\001⋒\002CapitalDifferentialD\001ⅅ\002Cayleys\001ℭ\002"
    "Ccaron\001Č\002Ccedil\001Ç\002Ccirc\001Ĉ\002Cconint\001∰\002Cdot\001Ċ\002Cedilla\001¸\002"
    "CenterDot\001·\002Cfr\001ℭ\002Chi\001Χ\002CircleDot\001⊙\002CircleMinus\001⊖\002"
    "CirclePlus\001⊕\002CircleTimes\001⊗\002ClockwiseContourIntegral\001∲\002"
    "CloseCurlyDoubleQuote\001”\002CloseCurlyQuote\001’\002Colon\001∷\002Colone\001⩴\002"
    "Congruent\001≡\002Conint\001∯\002ContourIntegral\001∮\002Copf\001ℂ\002Coproduct\001∐\002"
    "CounterClockwiseContourIntegral\001∳\002Cross\001⨯\002Cscr\001𝒞\002Cup\001⋓\002CupCap\001≍\002"
    "DAGGER\001†\002DALETH\001ℸ\002DARR\001↓\002DASH\001‐\002DASHV\001⊣\002DBKAROW\001⤏\002"
    "DBLAC\001˝\002DCARON\001Ď\002DCY\001Д\002DD\001ⅅ\002DDAGGER\001‡\002DDARR\001⇊\002"
    "DDOTSEQ\001⩷\002DDotrahd\001⤑\002DEG\001°\002DELTA\001Δ\002DEMPTYV\001⦱\002DFISHT\001⥿\002"
    "DFR\001𝔡\002DHARL\001⇃\002DHARR\001⇂\002DIAM\001⋄\002DIAMOND\001⋄\002DIAMONDSUIT\001♦\002"
    "DIAMS\001♦\002DIE\001¨\002DIGAMMA\001Ϝ\002DISIN\001⋲\002DIV\001÷\002DIVIDE\001÷\002"
    "DIVIDEONTIMES\001⋇\002DIVONX\001⋇\002DJCY\001Ђ\002DJcy\001Ђ\002DLCORN\001⌞\002DLCROP\001⌍\002"
    "DOLLAR\001$\002DOPF\001𝕕\002DOT\001˙\002DOTEQ\001≐\002DOTEQDOT\001≑\002DOTMINUS\001∸\002"
    "DOTPLUS\001∔\002DOTSQUARE\001⊡\002DOUBLEBARWEDGE\001⌆\002DOWNARROW\001↓\002"
    "DOWNDOWNARROWS\001⇊\002DOWNHARPOONLEFT\001⇃\002DOWNHARPOONRIGHT\001⇂\002DRBKAROW\001⤐\002"
    "DRCORN\001⌟\002DRCROP\001⌌\002DSCR\001𝒹\002DSCY\001Ѕ\002DSOL\001⧶\002DSTROK\001Đ\002"
    "DScy\001Ѕ\002DTDOT\001⋱\002DTRI\001▿\002DTRIF\001▾\002DUARR\001⇵\002DUHAR\001⥯\002"
    "DWANGLE\001⦦\002DZCY\001Џ\002DZIGRARR\001⟿\002DZcy\001Џ\002Dagger\001‡\002Darr\001↡\002"
    "Dashv\001⫤\002Dcaron\001Ď\002Dcy\001Д\002Del\001∇\002Delta\001Δ\002Dfr\001𝔇\002"
    "DiacriticalAcute\001´\002DiacriticalDot\001˙\002DiacriticalDoubleAcute\001˝\002"
    "DiacriticalGrave\001`\002DiacriticalTilde\001˜\002Diamond\001⋄\002DifferentialD\001ⅆ\002"
    "Dopf\001𝔻\002Dot\001¨\002DotDot\001\342\203\234\002DotEqual\001≐\002"
    "DoubleContourIntegral\001∯\002DoubleDot\001¨\002DoubleDownArrow\001⇓\002DoubleLeftArrow\001⇐\002"
    "DoubleLeftRightArrow\001⇔\002DoubleLeftTee\001⫤\002DoubleLongLeftArrow\001⟸\002"
    "DoubleLongLeftRightArrow\001⟺\002DoubleLongRightArrow\001⟹\002DoubleRightArrow\001⇒\002"
    "DoubleRightTee\001⊨\002DoubleUpArrow\001⇑\002DoubleUpDownArrow\001⇕\002"
    "DoubleVerticalBar\001∥\002DownArrow\001↓\002DownArrowBar\001⤓\002DownArrowUpArrow\001⇵\002"
    "DownBreve\001\314\221\002DownLeftRightVector\001⥐\002DownLeftTeeVector\001⥞\002"
    "DownLeftVector\001↽\002DownLeftVectorBar\001⥖\002DownRightTeeVector\001⥟\002"
    "DownRightVector\001⇁\002DownRightVectorBar\001⥗\002DownTee\001⊤\002DownTeeArrow\001↧\002"
    "Downarrow\001⇓\002Dscr\001𝒟\002Dstrok\001Đ\002EACUTE\001É\002EASTER\001⩮\002ECARON\001Ě\002"
    "ECIR\001≖\002ECIRC\001Ê\002ECOLON\001≕\002ECY\001Э\002EDOT\001Ė\002EE\001ⅇ\002EFR\001𝔢\002"
    "EG\001⪚\002EGRAVE\001È\002EGS\001⪖\002EGSDOT\001⪘\002EL\001⪙\002ELINTERS\001⏧\002ELL\001ℓ\002"
    "ELS\001⪕\002ELSDOT\001⪗\002EMACR\001Ē\002EMPTY\001∅\002EMPTYSET\001∅\002EMPTYV\001∅\002"
    "EMSP\001\342\200\203\002EMSP13\001\342\200\204\002EMSP14\001\342\200\205\002ENG\001Ŋ\002"
    "ENSP\001\342\200\202\002EOGON\001Ę\002EOPF\001𝕖\002EPAR\001⋕\002EPARSL\001⧣\002EPLUS\001⩱\002"
    "EPSI\001Ε\002EPSILON\001Ε\002EPSIV\001Ε\002EQCIRC\001≖\002EQCOLON\001≕\002EQSIM\001≂\002"
    "EQSLANTGTR\001⪖\002EQSLANTLESS\001⪕\002EQUALS\001=\002EQUEST\001≟\002EQUIV\001≡\002"
    "EQVPARSL\001⧥\002ERARR\001⥱\002ESCR\001ℯ\002ESDOT\001≐\002ESIM\001≂\002ETA\001Η\002ETH\001Ð\002"
    "EUML\001Ë\002EURO\001€\002EXCL\001!\002EXIST\001∃\002EXPECTATION\001ℰ\002EXPONENTIALE\001ⅇ\002"
    "Eacute\001É\002Ecaron\001Ě\002Ecirc\001Ê\002Ecy\001Э\002Edot\001Ė\002Efr\001𝔈\002Egrave\001È\002"
    "Element\001∈\002Emacr\001Ē\002EmptySmallSquare\001◻\002EmptyVerySmallSquare\001▫\002"
    "Eogon\001Ę\002Eopf\001𝔼\002Epsilon\001Ε\002Equal\001⩵\002EqualTilde\001≂\002Equilibrium\001⇌\002"
    "Escr\001ℰ\002Esim\001⩳\002Eta\001Η\002Euml\001Ë\002Exists\001∃\002ExponentialE\001ⅇ\002"
    "FALLINGDOTSEQ\001≒\002FCY\001Ф\002FEMALE\001♀\002FFILIG\001FFI\002FFLIG\001FF\002"
    "FFLLIG\001FFL\002FFR\001𝔣\002FILIG\001FI\002FJLIG\001FJ\002FLAT\001♭\002FLLIG\001FL\002"
    "FLTNS\001▱\002FNOF\001Ƒ\002FOPF\001𝕗\002FORALL\001∀\002FORK\001⋔\002FORKV\001⫙\002"
    "FPARTINT\001⨍\002FRAC12\001½\002FRAC13\001⅓\002FRAC14\001¼\002FRAC15\001⅕\002FRAC16\001⅙\002"
    "FRAC18\001⅛\002FRAC23\001⅔\002FRAC25\001⅖\002FRAC34\001¾\002FRAC35\001⅗\002FRAC38\001⅜\002"
    "FRAC45\001⅘\002FRAC56\001⅚\002FRAC58\001⅝\002FRAC78\001⅞\002FRASL\001⁄\002FROWN\001⌢\002"
    "FSCR\001𝒻\002Fcy\001Ф\002Ffr\001𝔉\002FilledSmallSquare\001◼\002FilledVerySmallSquare\001▪\002"
    "Fopf\001𝔽\002ForAll\001∀\002Fouriertrf\001ℱ\002Fscr\001ℱ\002GACUTE\001Ǵ\002GAMMA\001Γ\002"
    "GAMMAD\001Ϝ\002GAP\001⪆\002GBREVE\001Ğ\002GCIRC\001Ĝ\002GCY\001Г\002GDOT\001Ġ\002GE\001≥\002"
    "GEL\001⋛\002GEQ\001≥\002GEQQ\001≧\002GEQSLANT\001⩾\002GES\001⩾\002GESCC\001⪩\002GESDOT\001⪀\002"
    "GESDOTO\001⪂\002GESDOTOL\001⪄\002GESL\001⋛\357\270\200\002GESLES\001⪔\002GFR\001𝔤\002GG\001≫\002"
    "GGG\001⋙\002GIMEL\001ℷ\002GJCY\001Ѓ\002GJcy\001Ѓ\002GL\001≷\002GLA\001⪥\002GLJ\001⪤\002"
    "GNAP\001⪊\002GNAPPROX\001⪊\002GNE\001⪈\002GNEQ\001⪈\002GNEQQ\001≩\002GNSIM\001⋧\002GOPF\001𝕘\002"
    "GRAVE\001`\002GSCR\001ℊ\002GSIM\001≳\002GSIME\001⪎\002GSIML\001⪐\002GT\001>\002"
    "GVERTNEQQ\001≩\357\270\200\002Gamma\001Γ\002Gammad\001Ϝ\002Gbreve\001Ğ\002Gcedil\001Ģ\002"
    "Gcirc\001Ĝ\002Gcy\001Г\002Gdot\001Ġ\002Gfr\001𝔊\002Gg\001⋙\002Gopf\001𝔾\002GreaterEqual\001≥\002"
    "GreaterEqualLess\001⋛\002GreaterFullEqual\001≧\002GreaterGreater\001⪢\002GreaterLess\001≷\002"
    "GreaterSlantEqual\001⩾\002GreaterTilde\001≳\002Gscr\001𝒢\002Gt\001≫\002"
    "HAIRSP\001\342\200\212\002HALF\001½\002HAMILT\001ℋ\002HARDCY\001Ъ\002HARDcy\001Ъ\002"
    "HARR\001↔\002HARRCIR\001⥈\002HARRW\001↭\002HBAR\001ℏ\002HCIRC\001Ĥ\002HEARTS\001♥\002"
    "HEARTSUIT\001♥\002HELLIP\001…\002HERCON\001⊹\002HFR\001𝔥\002HKSEAROW\001⤥\002HKSWAROW\001⤦\002"
    "HOARR\001⇿\002HOMTHT\001∻\002HOOKLEFTARROW\001↩\002HOOKRIGHTARROW\001↪\002HOPF\001𝕙\002"
    "HORBAR\001―\002HSCR\001𝒽\002HSLASH\001ℏ\002HSTROK\001Ħ\002HYBULL\001⁃\002HYPHEN\001‐\002"
    "Hacek\001ˇ\002Hat\001^\002Hcirc\001Ĥ\002Hfr\001ℌ\002HilbertSpace\001ℋ\002Hopf\001ℍ\002"
    "HorizontalLine\001─\002Hscr\001ℋ\002Hstrok\001Ħ\002HumpDownHump\001≎\002HumpEqual\001≏\002"
    "IACUTE\001Í\002IC\001\342\201\243\002ICIRC\001Î\002ICY\001И\002IECY\001Е\002IEXCL\001¡\002"
    "IEcy\001Е\002IFF\001⇔\002IFR\001𝔦\002IGRAVE\001Ì\002II\001ⅈ\002IIIINT\001⨌\002IIINT\001∭\002"
    "IINFIN\001⧜\002IIOTA\001℩\002IJLIG\001Ĳ\002IJlig\001Ĳ\002IMACR\001Ī\002IMAGE\001ℑ\002"
    "IMAGLINE\001ℐ\002IMAGPART\001ℑ\002IMATH\001I\002IMOF\001⊷\002IMPED\001Ƶ\002IN\001∈\002"
    "INCARE\001℅\002INFIN\001∞\002INFINTIE\001⧝\002INODOT\001I\002INT\001∫\002INTCAL\001⊺\002"
    "INTEGERS\001ℤ\002INTERCAL\001⊺\002INTLARHK\001⨗\002INTPROD\001⨼\002IOCY\001Ё\002IOGON\001Į\002"
    "IOPF\001𝕚\002IOTA\001Ι\002IOcy\001Ё\002IPROD\001⨼\002IQUEST\001¿\002ISCR\001𝒾\002ISIN\001∈\002"
    "ISINDOT\001⋵\002ISINS\001⋴\002ISINSV\001⋳\002ISINV\001∈\002IT\001\342\201\242\002ITILDE\001Ĩ\002"
    "IUKCY\001І\002IUML\001Ï\002Iacute\001Í\002Icirc\001Î\002Icy\001И\002Idot\001İ\002Ifr\001ℑ\002"
    "Igrave\001Ì\002Im\001ℑ\002Imacr\001Ī\002ImaginaryI\001ⅈ\002Implies\001⇒\002Int\001∬\002"
    "Integral\001∫\002Intersection\001⋂\002InvisibleComma\001\342\201\243\002"
    "InvisibleTimes\001\342\201\242\002Iogon\001Į\002Iopf\001𝕀\002Iota\001Ι\002Iscr\001ℐ\002"
    "Itilde\001Ĩ\002Iukcy\001І\002Iuml\001Ï\002JCIRC\001Ĵ\002JCY\001Й\002JFR\001𝔧\002JMATH\001ȷ\002"
    "JOPF\001𝕛\002JSCR\001𝒿\002JSERCY\001Ј\002JUKCY\001Є\002Jcirc\001Ĵ\002Jcy\001Й\002Jfr\001𝔍\002"
    "Jopf\001𝕁\002Jscr\001𝒥\002Jsercy\001Ј\002Jukcy\001Є\002KAPPA\001Κ\002KAPPAV\001Κ\002"
    "KCEDIL\001Ķ\002KCY\001К\002KFR\001𝔨\002KGREEN\001ĸ\002KHCY\001Х\002KHcy\001Х\002KJCY\001Ќ\002"
    "KJcy\001Ќ\002KOPF\001𝕜\002KSCR\001𝓀\002Kappa\001Κ\002Kcedil\001Ķ\002Kcy\001К\002Kfr\001𝔎\002"
    "Kopf\001𝕂\002Kscr\001𝒦\002LACUTE\001Ĺ\002LAEMPTYV\001⦴\002LAGRAN\001ℒ\002LAMBDA\001Λ\002"
    "LANG\001⟨\002LANGD\001⦑\002LANGLE\001⟨\002LAP\001⪅\002LAQUO\001«\002LARR\001←\002LARRB\001⇤\002"
    "LARRBFS\001⤟\002LARRFS\001⤝\002LARRHK\001↩\002LARRLP\001↫\002LARRPL\001⤹\002LARRSIM\001⥳\002"
    "LARRTL\001↢\002LAT\001⪫\002LATAIL\001⤙\002LATE\001⪭\002LATES\001⪭\357\270\200\002LBARR\001⤌\002"
    "LBBRK\001❲\002LBRACE\001{\002LBRACK\001[\002LBRKE\001⦋\002LBRKSLD\001⦏\002LBRKSLU\001⦍\002"
    "LCARON\001Ľ\002LCEDIL\001Ļ\002LCEIL\001⌈\002LCUB\001{\002LCY\001Л\002LDCA\001⤶\002LDQUO\001“\002"
    "LDQUOR\001„\002LDRDHAR\001⥧\002LDRUSHAR\001⥋\002LDSH\001↲\002LE\001≤\002LEFTARROW\001←\002"
    "LEFTARROWTAIL\001↢\002LEFTHARPOONDOWN\001↽\002LEFTHARPOONUP\001↼\002LEFTLEFTARROWS\001⇇\002"
    "LEFTRIGHTARROW\001↔\002LEFTRIGHTARROWS\001⇆\002LEFTRIGHTHARPOONS\001⇋\002"
    "LEFTRIGHTSQUIGARROW\001↭\002LEFTTHREETIMES\001⋋\002LEG\001⋚\002LEQ\001≤\002LEQQ\001≦\002"
    "LEQSLANT\001⩽\002LES\001⩽\002LESCC\001⪨\002LESDOT\001⩿\002LESDOTO\001⪁\002LESDOTOR\001⪃\002"
    "LESG\001⋚\357\270\200\002LESGES\001⪓\002LESSAPPROX\001⪅\002LESSDOT\001⋖\002LESSEQGTR\001⋚\002"
    "LESSEQQGTR\001⪋\002LESSGTR\001≶\002LESSSIM\001≲\002LFISHT\001⥼\002LFLOOR\001⌊\002LFR\001𝔩\002"
    "LG\001≶\002LHARD\001↽\002LHARU\001↼\002LHARUL\001⥪\002LHBLK\001▄\002LJCY\001Љ\002LJcy\001Љ\002"
    "LL\001≪\002LLARR\001⇇\002LLCORNER\001⌞\002LLHARD\001⥫\002LLTRI\001◺\002LMIDOT\001Ŀ\002"
    "LMOUST\001⎰\002LMOUSTACHE\001⎰\002LNAP\001⪉\002LNAPPROX\001⪉\002LNE\001⪇\002LNEQ\001⪇\002"
    "LNEQQ\001≨\002LNSIM\001⋦\002LOANG\001⟬\002LOARR\001⇽\002LOBRK\001⟦\002LONGLEFTARROW\001⟵\002"
    "LONGLEFTRIGHTARROW\001⟷\002LONGMAPSTO\001⟼\002LONGRIGHTARROW\001⟶\002LOOPARROWLEFT\001↫\002"
    "LOOPARROWRIGHT\001↬\002LOPAR\001⦅\002LOPF\001𝕝\002LOPLUS\001⨭\002LOTIMES\001⨴\002LOWAST\001∗\002"
    "LOWBAR\001_\002LOZ\001◊\002LOZENGE\001◊\002LOZF\001⧫\002LPAR\001(\002LPARLT\001⦓\002"
    "LRARR\001⇆\002LRCORNER\001⌟\002LRHAR\001⇋\002LRHARD\001⥭\002LRM\001\342\200\216\002"
    "LRTRI\001⊿\002LSAQUO\001‹\002LSCR\001𝓁\002LSH\001↰\002LSIM\001≲\002LSIME\001⪍\002LSIMG\001⪏\002"
    "LSQB\001[\002LSQUO\001‘\002LSQUOR\001‚\002LSTROK\001Ł\002LT\001<\002LURDSHAR\001⥊\002"
    "LURUHAR\001⥦\002LVERTNEQQ\001≨\357\270\200\002Lacute\001Ĺ\002Lambda\001Λ\002Lang\001⟪\002"
    "Laplacetrf\001ℒ\002Larr\001↞\002Lcaron\001Ľ\002Lcedil\001Ļ\002Lcy\001Л\002"
    "LeftAngleBracket\001⟨\002LeftArrow\001←\002LeftArrowBar\001⇤\002LeftArrowRightArrow\001⇆\002"
    "LeftCeiling\001⌈\002LeftDoubleBracket\001⟦\002LeftDownTeeVector\001⥡\002LeftDownVector\001⇃\002"
    "LeftDownVectorBar\001⥙\002LeftFloor\001⌊\002LeftRightArrow\001↔\002LeftRightVector\001⥎\002"
    "LeftTee\001⊣\002LeftTeeArrow\001↤\002LeftTeeVector\001⥚\002LeftTriangle\001⊲\002"
    "LeftTriangleBar\001⧏\002LeftTriangleEqual\001⊴\002LeftUpDownVector\001⥑\002"
    "LeftUpTeeVector\001⥠\002LeftUpVector\001↿\002LeftUpVectorBar\001⥘\002LeftVector\001↼\002"
    "LeftVectorBar\001⥒\002Leftarrow\001⇐\002Leftrightarrow\001⇔\002LessEqualGreater\001⋚\002"
    "LessFullEqual\001≦\002LessGreater\001≶\002LessLess\001⪡\002LessSlantEqual\001⩽\002"
    "LessTilde\001≲\002Lfr\001𝔏\002Ll\001⋘\002Lleftarrow\001⇚\002Lmidot\001Ŀ\002"
    "LongLeftArrow\001⟵\002LongLeftRightArrow\001⟷\002LongRightArrow\001⟶\002Longleftarrow\001⟸\002"
    "Longleftrightarrow\001⟺\002Longrightarrow\001⟹\002Lopf\001𝕃\002LowerLeftArrow\001↙\002"
    "LowerRightArrow\001↘\002Lscr\001ℒ\002Lsh\001↰\002Lstrok\001Ł\002Lt\001≪\002MACR\001¯\002"
    "MALE\001♂\002MALT\001✠\002MALTESE\001✠\002MAP\001↦\002MAPSTO\001↦\002MAPSTODOWN\001↧\002"
    "MAPSTOLEFT\001↤\002MAPSTOUP\001↥\002MARKER\001▮\002MCOMMA\001⨩\002MCY\001М\002MDASH\001—\002"
    "MEASUREDANGLE\001∡\002MFR\001𝔪\002MHO\001℧\002MICRO\001Μ\002MID\001∣\002MIDAST\001*\002"
    "MIDCIR\001⫰\002MIDDOT\001·\002MINUS\001−\002MINUSB\001⊟\002MINUSD\001∸\002MINUSDU\001⨪\002"
    "MLCP\001⫛\002MLDR\001…\002MNPLUS\001∓\002MODELS\001⊧\002MOPF\001𝕞\002MP\001∓\002MSCR\001𝓂\002"
    "MSTPOS\001∾\002MU\001Μ\002MULTIMAP\001⊸\002MUMAP\001⊸\002Map\001⤅\002Mcy\001М\002"
    "MediumSpace\001\342\201\237\002Mellintrf\001ℳ\002Mfr\001𝔐\002MinusPlus\001∓\002Mopf\001𝕄\002"
    "Mscr\001ℳ\002Mu\001Μ\002NABLA\001∇\002NACUTE\001Ń\002NANG\001∠\342\203\222\002NAP\001≉\002"
    "NAPID\001≋\314\270\002NAPOS\001ʼN\002NAPPROX\001≉\002NATUR\001♮\002NATURAL\001♮\002"
    "NATURALS\001ℕ\002NBSP\001\302\240\002NBUMP\001≎\314\270\002NBUMPE\001≏\314\270\002NCAP\001⩃\002"
    "NCARON\001Ň\002NCEDIL\001Ņ\002NCONG\001≇\002NCONGDOT\001⩭\314\270\002NCUP\001⩂\002NCY\001Н\002"
    "NDASH\001–\002NE\001≠\002NEARHK\001⤤\002NEARR\001↗\002NEARROW\001↗\002NEDOT\001≐\314\270\002"
    "NEQUIV\001≢\002NESEAR\001⤨\002NESIM\001≂\314\270\002NEXIST\001∄\002NEXISTS\001∄\002NFR\001𝔫\002"
    "NGE\001≱\002NGEQ\001≱\002NGEQQ\001≧\314\270\002NGEQSLANT\001⩾\314\270\002NGES\001⩾\314\270\002"
    "NGSIM\001≵\002NGT\001≯\002NGTR\001≯\002NHARR\001↮\002NHPAR\001⫲\002NI\001∋\002NIS\001⋼\002"
    "NISD\001⋺\002NIV\001∋\002NJCY\001Њ\002NJcy\001Њ\002NLARR\001↚\002NLDR\001‥\002NLE\001≰\002"
    "NLEFTARROW\001↚\002NLEFTRIGHTARROW\001↮\002NLEQ\001≰\002NLEQQ\001≦\314\270\002"
    "NLEQSLANT\001⩽\314\270\002NLES\001⩽\314\270\002NLESS\001≮\002NLSIM\001≴\002NLT\001≮\002"
    "NLTRI\001⋪\002NLTRIE\001⋬\002NMID\001∤\002NOPF\001𝕟\002NOT\001¬\002NOTIN\001∉\002"
    "NOTINDOT\001⋵\314\270\002NOTINVA\001∉\002NOTINVB\001⋷\002NOTINVC\001⋶\002NOTNI\001∌\002"
    "NOTNIVA\001∌\002NOTNIVB\001⋾\002NOTNIVC\001⋽\002NPAR\001∦\002NPARALLEL\001∦\002"
    "NPARSL\001⫽\342\203\245\002NPART\001∂\314\270\002NPOLINT\001⨔\002NPR\001⊀\002NPRCUE\001⋠\002"
    "NPRE\001⪯\314\270\002NPREC\001⊀\002NPRECEQ\001⪯\314\270\002NRARR\001↛\002NRARRC\001⤳\314\270\002"
    "NRARRW\001↝\314\270\002NRIGHTARROW\001↛\002NRTRI\001⋫\002NRTRIE\001⋭\002NSC\001⊁\002"
    "NSCCUE\001⋡\002NSCE\001⪰\314\270\002NSCR\001𝓃\002NSHORTMID\001∤\002NSHORTPARALLEL\001∦\002"
    "NSIM\001≁\002NSIME\001≄\002NSIMEQ\001≄\002NSMID\001∤\002NSPAR\001∦\002NSQSUBE\001⋢\002"
    "NSQSUPE\001⋣\002NSUB\001⊄\002NSUBE\001⊈\002NSUBSET\001⊂\342\203\222\002NSUBSETEQ\001⊈\002"
    "NSUBSETEQQ\001⫅\314\270\002NSUCC\001⊁\002NSUCCEQ\001⪰\314\270\002NSUP\001⊅\002NSUPE\001⊉\002"
    "NSUPSET\001⊃\342\203\222\002NSUPSETEQ\001⊉\002NSUPSETEQQ\001⫆\314\270\002NTGL\001≹\002"
    "NTILDE\001Ñ\002NTLG\001≸\002NTRIANGLELEFT\001⋪\002NTRIANGLELEFTEQ\001⋬\002"
    "NTRIANGLERIGHT\001⋫\002NTRIANGLERIGHTEQ\001⋭\002NU\001Ν\002NUM\001#\002NUMERO\001№\002"
    "NUMSP\001\342\200\207\002NVAP\001≍\342\203\222\002NVDASH\001⊬\002NVGE\001≥\342\203\222\002"
    "NVGT\001>\342\203\222\002NVINFIN\001⧞\002NVLE\001≤\342\203\222\002NVLT\001<\342\203\222\002"
    "NVLTRIE\001⊴\342\203\222\002NVRTRIE\001⊵\342\203\222\002NVSIM\001∼\342\203\222\002"
    "NWARHK\001⤣\002NWARR\001↖\002NWARROW\001↖\002NWNEAR\001⤧\002Nacute\001Ń\002Ncaron\001Ň\002"
    "Ncedil\001Ņ\002Ncy\001Н\002NegativeMediumSpace\001\342\200\213\002"
    "NegativeThickSpace\001\342\200\213\002NegativeThinSpace\001\342\200\213\002"
    "NegativeVeryThinSpace\001\342\200\213\002NestedGreaterGreater\001≫\002NestedLessLess\001≪\002"
    "NewLine\001\012\002Nfr\001𝔑\002NoBreak\001\342\201\240\002NonBreakingSpace\001\302\240\002"
    "Nopf\001ℕ\002Not\001⫬\002NotCongruent\001≢\002NotCupCap\001≭\002NotDoubleVerticalBar\001∦\002"
    "NotElement\001∉\002NotEqual\001≠\002NotEqualTilde\001≂\314\270\002NotExists\001∄\002"
    "NotGreater\001≯\002NotGreaterEqual\001≱\002NotGreaterFullEqual\001≧\314\270\002"
    "NotGreaterGreater\001≫\314\270\002NotGreaterLess\001≹\002NotGreaterSlantEqual\001⩾\314\270\002"
    "NotGreaterTilde\001≵\002NotHumpDownHump\001≎\314\270\002NotHumpEqual\001≏\314\270\002"
    "NotLeftTriangle\001⋪\002NotLeftTriangleBar\001⧏\314\270\002NotLeftTriangleEqual\001⋬\002"
    "NotLess\001≮\002NotLessEqual\001≰\002NotLessGreater\001≸\002NotLessLess\001≪\314\270\002"
    "NotLessSlantEqual\001⩽\314\270\002NotLessTilde\001≴\002NotNestedGreaterGreater\001⪢\314\270\002"
    "NotNestedLessLess\001⪡\314\270\002NotPrecedes\001⊀\002NotPrecedesEqual\001⪯\314\270\002"
    "NotPrecedesSlantEqual\001⋠\002NotReverseElement\001∌\002NotRightTriangle\001⋫\002"
    "NotRightTriangleBar\001⧐\314\270\002NotRightTriangleEqual\001⋭\002"
    "NotSquareSubset\001⊏\314\270\002NotSquareSubsetEqual\001⋢\002NotSquareSuperset\001⊐\314\270\002"
    "NotSquareSupersetEqual\001⋣\002NotSubset\001⊂\342\203\222\002NotSubsetEqual\001⊈\002"
    "NotSucceeds\001⊁\002NotSucceedsEqual\001⪰\314\270\002NotSucceedsSlantEqual\001⋡\002"
    "NotSucceedsTilde\001≿\314\270\002NotSuperset\001⊃\342\203\222\002NotSupersetEqual\001⊉\002"
    "NotTilde\001≁\002NotTildeEqual\001≄\002NotTildeFullEqual\001≇\002NotTildeTilde\001≉\002"
    "NotVerticalBar\001∤\002Nscr\001𝒩\002Ntilde\001Ñ\002Nu\001Ν\002OACUTE\001Ó\002OAST\001⊛\002"
    "OCIR\001⊚\002OCIRC\001Ô\002OCY\001О\002ODASH\001⊝\002ODBLAC\001Ő\002ODIV\001⨸\002ODOT\001⊙\002"
    "ODSOLD\001⦼\002OELIG\001Œ\002OElig\001Œ\002OFCIR\001⦿\002OFR\001𝔬\002OGON\001˛\002"
    "OGRAVE\001Ò\002OGT\001⧁\002OHBAR\001⦵\002OHM\001Ω\002OINT\001∮\002OLARR\001↺\002OLCIR\001⦾\002"
    "OLCROSS\001⦻\002OLINE\001‾\002OLT\001⧀\002OMACR\001Ō\002OMEGA\001Ω\002OMICRON\001Ο\002"
    "OMID\001⦶\002OMINUS\001⊖\002OOPF\001𝕠\002OPAR\001⦷\002OPERP\001⦹\002OPLUS\001⊕\002OR\001∨\002"
    "ORARR\001↻\002ORD\001⩝\002ORDER\001ℴ\002ORDEROF\001ℴ\002ORDF\001ª\002ORDM\001º\002"
    "ORIGOF\001⊶\002OROR\001⩖\002ORSLOPE\001⩗\002ORV\001⩛\002OSCR\001ℴ\002OSLASH\001Ø\002"
    "OSOL\001⊘\002OTILDE\001Õ\002OTIMES\001⊗\002OTIMESAS\001⨶\002OUML\001Ö\002OVBAR\001⌽\002"
    "Oacute\001Ó\002Ocirc\001Ô\002Ocy\001О\002Odblac\001Ő\002Ofr\001𝔒\002Ograve\001Ò\002"
    "Omacr\001Ō\002Omega\001Ω\002Omicron\001Ο\002Oopf\001𝕆\002OpenCurlyDoubleQuote\001“\002"
    "OpenCurlyQuote\001‘\002Or\001⩔\002Oscr\001𝒪\002Oslash\001Ø\002Otilde\001Õ\002Otimes\001⨷\002"
    "Ouml\001Ö\002OverBar\001‾\002OverBrace\001⏞\002OverBracket\001⎴\002OverParenthesis\001⏜\002"
    "PAR\001∥\002PARA\001¶\002PARALLEL\001∥\002PARSIM\001⫳\002PARSL\001⫽\002PART\001∂\002PCY\001П\002"
    "PERCNT\001%\002PERIOD\001.\002PERMIL\001‰\002PERP\001⊥\002PERTENK\001‱\002PFR\001𝔭\002"
    "PHI\001Φ\002PHIV\001Φ\002PHMMAT\001ℳ\002PHONE\001☎\002PI\001Π\002PITCHFORK\001⋔\002PIV\001Π\002"
    "PLANCK\001ℏ\002PLANCKH\001ℎ\002PLANKV\001ℏ\002PLUS\001+\002PLUSACIR\001⨣\002PLUSB\001⊞\002"
    "PLUSCIR\001⨢\002PLUSDO\001∔\002PLUSDU\001⨥\002PLUSE\001⩲\002PLUSMN\001±\002PLUSSIM\001⨦\002"
    "PLUSTWO\001⨧\002PM\001±\002POINTINT\001⨕\002POPF\001𝕡\002POUND\001£\002PR\001≺\002PRAP\001⪷\002"
    "PRCUE\001≼\002PRE\001⪯\002PREC\001≺\002PRECAPPROX\001⪷\002PRECCURLYEQ\001≼\002PRECEQ\001⪯\002"
    "PRECNAPPROX\001⪹\002PRECNEQQ\001⪵\002PRECNSIM\001⋨\002PRECSIM\001≾\002PRIME\001′\002"
    "PRIMES\001ℙ\002PRNAP\001⪹\002PRNSIM\001⋨\002PROD\001∏\002PROFALAR\001⌮\002PROFLINE\001⌒\002"
    "PROFSURF\001⌓\002PROP\001∝\002PROPTO\001∝\002PRSIM\001≾\002PRUREL\001⊰\002PSCR\001𝓅\002"
    "PSI\001Ψ\002PUNCSP\001\342\200\210\002PartialD\001∂\002Pcy\001П\002Pfr\001𝔓\002Phi\001Φ\002"
    "Pi\001Π\002PlusMinus\001±\002Poincareplane\001ℌ\002Popf\001ℙ\002Pr\001⪻\002Precedes\001≺\002"
    "PrecedesEqual\001⪯\002PrecedesSlantEqual\001≼\002PrecedesTilde\001≾\002Prime\001″\002"
    "Product\001∏\002Proportion\001∷\002Proportional\001∝\002Pscr\001𝒫\002Psi\001Ψ\002QFR\001𝔮\002"
    "QINT\001⨌\002QOPF\001𝕢\002QPRIME\001⁗\002QSCR\001𝓆\002QUATERNIONS\001ℍ\002QUATINT\001⨖\002"
    "QUEST\001\077\002QUESTEQ\001≟\002QUOT\001\042\002Qfr\001𝔔\002Qopf\001ℚ\002Qscr\001𝒬\002"
    "RACE\001∽\314\261\002RACUTE\001Ŕ\002RADIC\001√\002RAEMPTYV\001⦳\002RANG\001⟩\002RANGD\001⦒\002"
    "RANGE\001⦥\002RANGLE\001⟩\002RAQUO\001»\002RARR\001→\002RARRAP\001⥵\002RARRB\001⇥\002"
    "RARRBFS\001⤠\002RARRC\001⤳\002RARRFS\001⤞\002RARRHK\001↪\002RARRLP\001↬\002RARRPL\001⥅\002"
    "RARRSIM\001⥴\002RARRTL\001↣\002RARRW\001↝\002RATAIL\001⤚\002RATIO\001∶\002RATIONALS\001ℚ\002"
    "RBARR\001⤍\002RBBRK\001❳\002RBRACE\001}\002RBRACK\001]\002RBRKE\001⦌\002RBRKSLD\001⦎\002"
    "RBRKSLU\001⦐\002RBarr\001⤐\002RCARON\001Ř\002RCEDIL\001Ŗ\002RCEIL\001⌉\002RCUB\001}\002"
    "RCY\001Р\002RDCA\001⤷\002RDLDHAR\001⥩\002RDQUO\001”\002RDQUOR\001”\002RDSH\001↳\002REAL\001ℜ\002"
    "REALINE\001ℛ\002REALPART\001ℜ\002REALS\001ℝ\002RECT\001▭\002REG\001®\002RFISHT\001⥽\002"
    "RFLOOR\001⌋\002RFR\001𝔯\002RHARD\001⇁\002RHARU\001⇀\002RHARUL\001⥬\002RHO\001Ρ\002RHOV\001Ρ\002"
    "RIGHTARROW\001→\002RIGHTARROWTAIL\001↣\002RIGHTHARPOONDOWN\001⇁\002RIGHTHARPOONUP\001⇀\002"
    "RIGHTLEFTARROWS\001⇄\002RIGHTLEFTHARPOONS\001⇌\002RIGHTRIGHTARROWS\001⇉\002"
    "RIGHTSQUIGARROW\001↝\002RIGHTTHREETIMES\001⋌\002RING\001˚\002RISINGDOTSEQ\001≓\002RLARR\001⇄\002"
    "RLHAR\001⇌\002RLM\001\342\200\217\002RMOUST\001⎱\002RMOUSTACHE\001⎱\002RNMID\001⫮\002"
    "ROANG\001⟭\002ROARR\001⇾\002ROBRK\001⟧\002ROPAR\001⦆\002ROPF\001𝕣\002ROPLUS\001⨮\002"
    "ROTIMES\001⨵\002RPAR\001)\002RPARGT\001⦔\002RPPOLINT\001⨒\002RRARR\001⇉\002RSAQUO\001›\002"
    "RSCR\001𝓇\002RSH\001↱\002RSQB\001]\002RSQUO\001’\002RSQUOR\001’\002RTHREE\001⋌\002"
    "RTIMES\001⋊\002RTRI\001▹\002RTRIE\001⊵\002RTRIF\001▸\002RTRILTRI\001⧎\002RULUHAR\001⥨\002"
    "RX\001℞\002Racute\001Ŕ\002Rang\001⟫\002Rarr\001↠\002Rarrtl\001⤖\002Rcaron\001Ř\002"
    "Rcedil\001Ŗ\002Rcy\001Р\002Re\001ℜ\002ReverseElement\001∋\002ReverseEquilibrium\001⇋\002"
    "ReverseUpEquilibrium\001⥯\002Rfr\001ℜ\002Rho\001Ρ\002RightAngleBracket\001⟩\002"
    "RightArrow\001→\002RightArrowBar\001⇥\002RightArrowLeftArrow\001⇄\002RightCeiling\001⌉\002"
    "RightDoubleBracket\001⟧\002RightDownTeeVector\001⥝\002RightDownVector\001⇂\002"
    "RightDownVectorBar\001⥕\002RightFloor\001⌋\002RightTee\001⊢\002RightTeeArrow\001↦\002"
    "RightTeeVector\001⥛\002RightTriangle\001⊳\002RightTriangleBar\001⧐\002"
    "RightTriangleEqual\001⊵\002RightUpDownVector\001⥏\002RightUpTeeVector\001⥜\002"
    "RightUpVector\001↾\002RightUpVectorBar\001⥔\002RightVector\001⇀\002RightVectorBar\001⥓\002"
    "Rightarrow\001⇒\002Ropf\001ℝ\002RoundImplies\001⥰\002Rrightarrow\001⇛\002Rscr\001ℛ\002"
    "Rsh\001↱\002RuleDelayed\001⧴\002SACUTE\001Ś\002SBQUO\001‚\002SC\001≻\002SCAP\001⪸\002"
    "SCARON\001Š\002SCCUE\001≽\002SCE\001⪰\002SCEDIL\001Ş\002SCIRC\001Ŝ\002SCNAP\001⪺\002"
    "SCNSIM\001⋩\002SCPOLINT\001⨓\002SCSIM\001≿\002SCY\001С\002SDOT\001⋅\002SDOTB\001⊡\002"
    "SDOTE\001⩦\002SEARHK\001⤥\002SEARR\001↘\002SEARROW\001↘\002SECT\001§\002SEMI\001;\002"
    "SESWAR\001⤩\002SETMINUS\001∖\002SETMN\001∖\002SEXT\001✶\002SFR\001𝔰\002SFROWN\001⌢\002"
    "SHARP\001♯\002SHCHCY\001Щ\002SHCHcy\001Щ\002SHCY\001Ш\002SHORTMID\001∣\002SHORTPARALLEL\001∥\002"
    "SHY\001\302\255\002SHcy\001Ш\002SIGMA\001Σ\002SIGMAF\001Σ\002SIGMAV\001Σ\002SIM\001∼\002"
    "SIMDOT\001⩪\002SIME\001≃\002SIMEQ\001≃\002SIMG\001⪞\002SIML\001⪝\002SIMNE\001≆\002"
    "SIMPLUS\001⨤\002SIMRARR\001⥲\002SLARR\001←\002SMALLSETMINUS\001∖\002SMASHP\001⨳\002"
    "SMEPARSL\001⧤\002SMID\001∣\002SMILE\001⌣\002SMT\001⪪\002SMTE\001⪬\002SMTES\001⪬\357\270\200\002"
    "SOFTCY\001Ь\002SOFTcy\001Ь\002SOL\001/\002SOLB\001⧄\002SOLBAR\001⌿\002SOPF\001𝕤\002"
    "SPADES\001♠\002SPADESUIT\001♠\002SPAR\001∥\002SQCAP\001⊓\002SQCAPS\001⊓\357\270\200\002"
    "SQCUP\001⊔\002SQCUPS\001⊔\357\270\200\002SQSUB\001⊏\002SQSUBE\001⊑\002SQSUBSET\001⊏\002"
    "SQSUBSETEQ\001⊑\002SQSUP\001⊐\002SQSUPE\001⊒\002SQSUPSET\001⊐\002SQSUPSETEQ\001⊒\002SQU\001□\002"
    "SQUARE\001□\002SQUARF\001▪\002SQUF\001▪\002SRARR\001→\002SSCR\001𝓈\002SSETMN\001∖\002"
    "SSMILE\001⌣\002SSTARF\001⋆\002STAR\001☆\002STARF\001★\002STRAIGHTEPSILON\001Ε\002"
    "STRAIGHTPHI\001Φ\002STRNS\001¯\002SUB\001⊂\002SUBDOT\001⪽\002SUBE\001⊆\002SUBEDOT\001⫃\002"
    "SUBMULT\001⫁\002SUBNE\001⊊\002SUBPLUS\001⪿\002SUBRARR\001⥹\002SUBSET\001⊂\002SUBSETEQ\001⊆\002"
    "SUBSETEQQ\001⫅\002SUBSETNEQ\001⊊\002SUBSETNEQQ\001⫋\002SUBSIM\001⫇\002SUBSUB\001⫕\002"
    "SUBSUP\001⫓\002SUCC\001≻\002SUCCAPPROX\001⪸\002SUCCCURLYEQ\001≽\002SUCCEQ\001⪰\002"
    "SUCCNAPPROX\001⪺\002SUCCNEQQ\001⪶\002SUCCNSIM\001⋩\002SUCCSIM\001≿\002SUM\001∑\002SUNG\001♪\002"
    "SUP\001⊃\002SUP1\001¹\002SUP2\001²\002SUP3\001³\002SUPDOT\001⪾\002SUPDSUB\001⫘\002SUPE\001⊇\002"
    "SUPEDOT\001⫄\002SUPHSOL\001⟉\002SUPHSUB\001⫗\002SUPLARR\001⥻\002SUPMULT\001⫂\002SUPNE\001⊋\002"
    "SUPPLUS\001⫀\002SUPSET\001⊃\002SUPSETEQ\001⊇\002SUPSETEQQ\001⫆\002SUPSETNEQ\001⊋\002"
    "SUPSETNEQQ\001⫌\002SUPSIM\001⫈\002SUPSUB\001⫔\002SUPSUP\001⫖\002SWARHK\001⤦\002SWARR\001↙\002"
    "SWARROW\001↙\002SWNWAR\001⤪\002SZLIG\001SS\002Sacute\001Ś\002Sc\001⪼\002Scaron\001Š\002"
    "Scedil\001Ş\002Scirc\001Ŝ\002Scy\001С\002Sfr\001𝔖\002ShortDownArrow\001↓\002"
    "ShortLeftArrow\001←\002ShortRightArrow\001→\002ShortUpArrow\001↑\002Sigma\001Σ\002"
    "SmallCircle\001∘\002Sopf\001𝕊\002Sqrt\001√\002Square\001□\002SquareIntersection\001⊓\002"
    "SquareSubset\001⊏\002SquareSubsetEqual\001⊑\002SquareSuperset\001⊐\002"
    "SquareSupersetEqual\001⊒\002SquareUnion\001⊔\002Sscr\001𝒮\002Star\001⋆\002Sub\001⋐\002"
    "Subset\001⋐\002SubsetEqual\001⊆\002Succeeds\001≻\002SucceedsEqual\001⪰\002"
    "SucceedsSlantEqual\001≽\002SucceedsTilde\001≿\002SuchThat\001∋\002Sum\001∑\002Sup\001⋑\002"
    "Superset\001⊃\002SupersetEqual\001⊇\002Supset\001⋑\002TARGET\001⌖\002TAU\001Τ\002TBRK\001⎴\002"
    "TCARON\001Ť\002TCEDIL\001Ţ\002TCY\001Т\002TDOT\001\342\203\233\002TELREC\001⌕\002TFR\001𝔱\002"
    "THERE4\001∴\002THEREFORE\001∴\002THETA\001Θ\002THETASYM\001Θ\002THETAV\001Θ\002"
    "THICKAPPROX\001≈\002THICKSIM\001∼\002THINSP\001\342\200\211\002THKAP\001≈\002THKSIM\001∼\002"
    "THORN\001Þ\002TILDE\001˜\002TIMES\001×\002TIMESB\001⊠\002TIMESBAR\001⨱\002TIMESD\001⨰\002"
    "TINT\001∭\002TOEA\001⤨\002TOP\001⊤\002TOPBOT\001⌶\002TOPCIR\001⫱\002TOPF\001𝕥\002"
    "TOPFORK\001⫚\002TOSA\001⤩\002TPRIME\001‴\002TRADE\001™\002TRIANGLE\001▵\002TRIANGLEDOWN\001▿\002"
    "TRIANGLELEFT\001◃\002TRIANGLELEFTEQ\001⊴\002TRIANGLEQ\001≜\002TRIANGLERIGHT\001▹\002"
    "TRIANGLERIGHTEQ\001⊵\002TRIDOT\001◬\002TRIE\001≜\002TRIMINUS\001⨺\002TRIPLUS\001⨹\002"
    "TRISB\001⧍\002TRITIME\001⨻\002TRPEZIUM\001⏢\002TSCR\001𝓉\002TSCY\001Ц\002TSHCY\001Ћ\002"
    "TSHcy\001Ћ\002TSTROK\001Ŧ\002TScy\001Ц\002TWIXT\001≬\002TWOHEADLEFTARROW\001↞\002"
    "TWOHEADRIGHTARROW\001↠\002Tab\001\011\002Tau\001Τ\002Tcaron\001Ť\002Tcedil\001Ţ\002Tcy\001Т\002"
    "Tfr\001𝔗\002Therefore\001∴\002Theta\001Θ\002ThickSpace\001\342\201\237\342\200\212\002"
    "ThinSpace\001\342\200\211\002Tilde\001∼\002TildeEqual\001≃\002TildeFullEqual\001≅\002"
    "TildeTilde\001≈\002Topf\001𝕋\002TripleDot\001\342\203\233\002Tscr\001𝒯\002Tstrok\001Ŧ\002"
    "UACUTE\001Ú\002UARR\001↑\002UBRCY\001Ў\002UBREVE\001Ŭ\002UCIRC\001Û\002UCY\001У\002"
    "UDARR\001⇅\002UDBLAC\001Ű\002UDHAR\001⥮\002UFISHT\001⥾\002UFR\001𝔲\002UGRAVE\001Ù\002"
    "UHARL\001↿\002UHARR\001↾\002UHBLK\001▀\002ULCORN\001⌜\002ULCORNER\001⌜\002ULCROP\001⌏\002"
    "ULTRI\001◸\002UMACR\001Ū\002UML\001¨\002UOGON\001Ų\002UOPF\001𝕦\002UPARROW\001↑\002"
    "UPDOWNARROW\001↕\002UPHARPOONLEFT\001↿\002UPHARPOONRIGHT\001↾\002UPLUS\001⊎\002UPSI\001Υ\002"
    "UPSIH\001ϒ\002UPSILON\001Υ\002UPUPARROWS\001⇈\002URCORN\001⌝\002URCORNER\001⌝\002URCROP\001⌎\002"
    "URING\001Ů\002URTRI\001◹\002USCR\001𝓊\002UTDOT\001⋰\002UTILDE\001Ũ\002UTRI\001▵\002"
    "UTRIF\001▴\002UUARR\001⇈\002UUML\001Ü\002UWANGLE\001⦧\002Uacute\001Ú\002Uarr\001↟\002"
    "Uarrocir\001⥉\002Ubrcy\001Ў\002Ubreve\001Ŭ\002Ucirc\001Û\002Ucy\001У\002Udblac\001Ű\002"
    "Ufr\001𝔘\002Ugrave\001Ù\002Umacr\001Ū\002UnderBar\001_\002UnderBrace\001⏟\002"
    "UnderBracket\001⎵\002UnderParenthesis\001⏝\002Union\001⋃\002UnionPlus\001⊎\002Uogon\001Ų\002"
    "Uopf\001𝕌\002UpArrow\001↑\002UpArrowBar\001⤒\002UpArrowDownArrow\001⇅\002UpDownArrow\001↕\002"
    "UpEquilibrium\001⥮\002UpTee\001⊥\002UpTeeArrow\001↥\002Uparrow\001⇑\002Updownarrow\001⇕\002"
    "UpperLeftArrow\001↖\002UpperRightArrow\001↗\002Upsi\001ϒ\002Upsilon\001Υ\002Uring\001Ů\002"
    "Uscr\001𝒰\002Utilde\001Ũ\002Uuml\001Ü\002VANGRT\001⦜\002VAREPSILON\001Ε\002VARKAPPA\001Κ\002"
    "VARNOTHING\001∅\002VARPHI\001Φ\002VARPI\001Π\002VARPROPTO\001∝\002VARR\001↕\002VARRHO\001Ρ\002"
    "VARSIGMA\001Σ\002VARSUBSETNEQ\001⊊\357\270\200\002VARSUBSETNEQQ\001⫋\357\270\200\002"
    "VARSUPSETNEQ\001⊋\357\270\200\002VARSUPSETNEQQ\001⫌\357\270\200\002VARTHETA\001Θ\002"
    "VARTRIANGLELEFT\001⊲\002VARTRIANGLERIGHT\001⊳\002VCY\001В\002VDASH\001⊢\002VDash\001⊫\002"
    "VEE\001∨\002VEEBAR\001⊻\002VEEEQ\001≚\002VELLIP\001⋮\002VERBAR\001|\002VERT\001|\002VFR\001𝔳\002"
    "VLTRI\001⊲\002VNSUB\001⊂\342\203\222\002VNSUP\001⊃\342\203\222\002VOPF\001𝕧\002VPROP\001∝\002"
    "VRTRI\001⊳\002VSCR\001𝓋\002VSUBNE\001⊊\357\270\200\002VSUPNE\001⊋\357\270\200\002"
    "VZIGZAG\001⦚\002Vbar\001⫫\002Vcy\001В\002Vdash\001⊩\002Vdashl\001⫦\002Vee\001⋁\002"
    "Verbar\001‖\002Vert\001‖\002VerticalBar\001∣\002VerticalLine\001|\002VerticalSeparator\001❘\002"
    "VerticalTilde\001≀\002VeryThinSpace\001\342\200\212\002Vfr\001𝔙\002Vopf\001𝕍\002Vscr\001𝒱\002"
    "Vvdash\001⊪\002WCIRC\001Ŵ\002WEDBAR\001⩟\002WEDGE\001∧\002WEDGEQ\001≙\002WEIERP\001℘\002"
    "WFR\001𝔴\002WOPF\001𝕨\002WP\001℘\002WR\001≀\002WREATH\001≀\002WSCR\001𝓌\002Wcirc\001Ŵ\002"
    "Wedge\001⋀\002Wfr\001𝔚\002Wopf\001𝕎\002Wscr\001𝒲\002XCAP\001⋂\002XCIRC\001◯\002XCUP\001⋃\002"
    "XDTRI\001▽\002XFR\001𝔵\002XHARR\001⟷\002XI\001Ξ\002XLARR\001⟵\002XMAP\001⟼\002XNIS\001⋻\002"
    "XODOT\001⨀\002XOPF\001𝕩\002XOPLUS\001⨁\002XOTIME\001⨂\002XRARR\001⟶\002XSCR\001𝓍\002"
    "XSQCUP\001⨆\002XUPLUS\001⨄\002XUTRI\001△\002XVEE\001⋁\002XWEDGE\001⋀\002Xfr\001𝔛\002Xi\001Ξ\002"
    "Xopf\001𝕏\002Xscr\001𝒳\002YACUTE\001Ý\002YACY\001Я\002YAcy\001Я\002YCIRC\001Ŷ\002YCY\001Ы\002"
    "YEN\001¥\002YFR\001𝔶\002YICY\001Ї\002YIcy\001Ї\002YOPF\001𝕪\002YSCR\001𝓎\002YUCY\001Ю\002"
    "YUML\001Ÿ\002YUcy\001Ю\002Yacute\001Ý\002Ycirc\001Ŷ\002Ycy\001Ы\002Yfr\001𝔜\002Yopf\001𝕐\002"
    "Yscr\001𝒴\002Yuml\001Ÿ\002ZACUTE\001Ź\002ZCARON\001Ž\002ZCY\001З\002ZDOT\001Ż\002ZEETRF\001ℨ\002"
    "ZETA\001Ζ\002ZFR\001𝔷\002ZHCY\001Ж\002ZHcy\001Ж\002ZIGRARR\001⇝\002ZOPF\001𝕫\002ZSCR\001𝓏\002"
    "ZWJ\001\342\200\215\002ZWNJ\001\342\200\214\002Zacute\001Ź\002Zcaron\001Ž\002Zcy\001З\002"
    "Zdot\001Ż\002ZeroWidthSpace\001\342\200\213\002Zeta\001Ζ\002Zfr\001ℨ\002Zopf\001ℤ\002"
    "Zscr\001𝒵\002aacute\001á\002abreve\001ă\002ac\001∾\002acE\001∾\314\263\002acd\001∿\002"
    "acirc\001â\002acute\001´\002acy\001а\002aelig\001æ\002af\001\342\201\241\002afr\001𝔞\002"
    "agrave\001à\002alefsym\001ℵ\002aleph\001ℵ\002alpha\001α\002amacr\001ā\002amalg\001⨿\002"
    "amp\001&\002and\001∧\002andand\001⩕\002andd\001⩜\002andslope\001⩘\002andv\001⩚\002ang\001∠\002"
    "ange\001⦤\002angle\001∠\002angmsd\001∡\002angmsdaa\001⦨\002angmsdab\001⦩\002angmsdac\001⦪\002"
    "angmsdad\001⦫\002angmsdae\001⦬\002angmsdaf\001⦭\002angmsdag\001⦮\002angmsdah\001⦯\002"
    "angrt\001∟\002angrtvb\001⊾\002angrtvbd\001⦝\002angsph\001∢\002angst\001Å\002angzarr\001⍼\002"
    "aogon\001ą\002aopf\001𝕒\002ap\001≈\002apE\001⩰\002apacir\001⩯\002ape\001≊\002apid\001≋\002"
    "apos\001'\002approx\001≈\002approxeq\001≊\002aring\001å\002ascr\001𝒶\002ast\001*\002"
    "asymp\001≈\002asympeq\001≍\002atilde\001ã\002auml\001ä\002awconint\001∳\002awint\001⨑\002"
    "bNot\001⫭\002backcong\001≌\002backepsilon\001϶\002backprime\001‵\002backsim\001∽\002"
    "backsimeq\001⋍\002barvee\001⊽\002barwed\001⌅\002barwedge\001⌅\002bbrk\001⎵\002bbrktbrk\001⎶\002"
    "bcong\001≌\002bcy\001б\002bdquo\001„\002becaus\001∵\002because\001∵\002bemptyv\001⦰\002"
    "bepsi\001϶\002bernou\001ℬ\002beta\001β\002beth\001ℶ\002between\001≬\002bfr\001𝔟\002"
    "bigcap\001⋂\002bigcirc\001◯\002bigcup\001⋃\002bigodot\001⨀\002bigoplus\001⨁\002"
    "bigotimes\001⨂\002bigsqcup\001⨆\002bigstar\001★\002bigtriangledown\001▽\002"
    "bigtriangleup\001△\002biguplus\001⨄\002bigvee\001⋁\002bigwedge\001⋀\002bkarow\001⤍\002"
    "blacklozenge\001⧫\002blacksquare\001▪\002blacktriangle\001▴\002blacktriangledown\001▾\002"
    "blacktriangleleft\001◂\002blacktriangleright\001▸\002blank\001␣\002blk12\001▒\002blk14\001░\002"
    "blk34\001▓\002block\001█\002bne\001=\342\203\245\002bnequiv\001≡\342\203\245\002bnot\001⌐\002"
    "bopf\001𝕓\002bot\001⊥\002bottom\001⊥\002bowtie\001⋈\002boxDL\001╗\002boxDR\001╔\002"
    "boxDl\001╖\002boxDr\001╓\002boxH\001═\002boxHD\001╦\002boxHU\001╩\002boxHd\001╤\002"
    "boxHu\001╧\002boxUL\001╝\002boxUR\001╚\002boxUl\001╜\002boxUr\001╙\002boxV\001║\002"
    "boxVH\001╬\002boxVL\001╣\002boxVR\001╠\002boxVh\001╫\002boxVl\001╢\002boxVr\001╟\002"
    "boxbox\001⧉\002boxdL\001╕\002boxdR\001╒\002boxdl\001┐\002boxdr\001┌\002boxh\001─\002"
    "boxhD\001╥\002boxhU\001╨\002boxhd\001┬\002boxhu\001┴\002boxminus\001⊟\002boxplus\001⊞\002"
    "boxtimes\001⊠\002boxuL\001╛\002boxuR\001╘\002boxul\001┘\002boxur\001└\002boxv\001│\002"
    "boxvH\001╪\002boxvL\001╡\002boxvR\001╞\002boxvh\001┼\002boxvl\001┤\002boxvr\001├\002"
    "bprime\001‵\002breve\001˘\002brvbar\001¦\002bscr\001𝒷\002bsemi\001⁏\002bsim\001∽\002"
    "bsime\001⋍\002bsol\001\134\002bsolb\001⧅\002bsolhsub\001⟈\002bull\001•\002bullet\001•\002"
    "bump\001≎\002bumpE\001⪮\002bumpe\001≏\002bumpeq\001≏\002cacute\001ć\002cap\001∩\002"
    "capand\001⩄\002capbrcup\001⩉\002capcap\001⩋\002capcup\001⩇\002capdot\001⩀\002"
    "caps\001∩\357\270\200\002caret\001⁁\002caron\001ˇ\002ccaps\001⩍\002ccaron\001č\002"
    "ccedil\001ç\002ccirc\001ĉ\002ccups\001⩌\002ccupssm\001⩐\002cdot\001ċ\002cedil\001¸\002"
    "cemptyv\001⦲\002cent\001¢\002centerdot\001·\002cfr\001𝔠\002chcy\001ч\002check\001✓\002"
    "checkmark\001✓\002chi\001χ\002cir\001○\002cirE\001⧃\002circ\001ˆ\002circeq\001≗\002"
    "circlearrowleft\001↺\002circlearrowright\001↻\002circledR\001®\002circledS\001Ⓢ\002"
    "circledast\001⊛\002circledcirc\001⊚\002circleddash\001⊝\002cire\001≗\002cirfnint\001⨐\002"
    "cirmid\001⫯\002cirscir\001⧂\002clubs\001♣\002clubsuit\001♣\002colon\001:\002colone\001≔\002"
    "coloneq\001≔\002comma\001,\002commat\001@\002comp\001∁\002compfn\001∘\002complement\001∁\002"
    "complexes\001ℂ\002cong\001≅\002congdot\001⩭\002conint\001∮\002copf\001𝕔\002coprod\001∐\002"
    "copy\001©\002copysr\001℗\002crarr\001↵\002cross\001✗\002cscr\001𝒸\002csub\001⫏\002csube\001⫑\002"
    "csup\001⫐\002csupe\001⫒\002ctdot\001⋯\002cudarrl\001⤸\002cudarrr\001⤵\002cuepr\001⋞\002"
    "cuesc\001⋟\002cularr\001↶\002cularrp\001⤽\002cup\001∪\002cupbrcap\001⩈\002cupcap\001⩆\002"
    "cupcup\001⩊\002cupdot\001⊍\002cupor\001⩅\002cups\001∪\357\270\200\002curarr\001↷\002"
    "curarrm\001⤼\002curlyeqprec\001⋞\002curlyeqsucc\001⋟\002curlyvee\001⋎\002curlywedge\001⋏\002"
    "curren\001¤\002curvearrowleft\001↶\002curvearrowright\001↷\002cuvee\001⋎\002cuwed\001⋏\002"
    "cwconint\001∲\002cwint\001∱\002cylcty\001⌭\002dArr\001⇓\002dHar\001⥥\002dagger\001†\002"
    "daleth\001ℸ\002darr\001↓\002dash\001‐\002dashv\001⊣\002dbkarow\001⤏\002dblac\001˝\002"
    "dcaron\001ď\002dcy\001д\002dd\001ⅆ\002ddagger\001‡\002ddarr\001⇊\002ddotseq\001⩷\002deg\001°\002"
    "delta\001δ\002demptyv\001⦱\002dfisht\001⥿\002dfr\001𝔡\002dharl\001⇃\002dharr\001⇂\002"
    "diam\001⋄\002diamond\001⋄\002diamondsuit\001♦\002diams\001♦\002die\001¨\002digamma\001ϝ\002"
    "disin\001⋲\002div\001÷\002divide\001÷\002divideontimes\001⋇\002divonx\001⋇\002djcy\001ђ\002"
    "dlcorn\001⌞\002dlcrop\001⌍\002dollar\001$\002dopf\001𝕕\002dot\001˙\002doteq\001≐\002"
    "doteqdot\001≑\002dotminus\001∸\002dotplus\001∔\002dotsquare\001⊡\002doublebarwedge\001⌆\002"
    "downarrow\001↓\002downdownarrows\001⇊\002downharpoonleft\001⇃\002downharpoonright\001⇂\002"
    "drbkarow\001⤐\002drcorn\001⌟\002drcrop\001⌌\002dscr\001𝒹\002dscy\001ѕ\002dsol\001⧶\002"
    "dstrok\001đ\002dtdot\001⋱\002dtri\001▿\002dtrif\001▾\002duarr\001⇵\002duhar\001⥯\002"
    "dwangle\001⦦\002dzcy\001џ\002dzigrarr\001⟿\002eDDot\001⩷\002eDot\001≑\002eacute\001é\002"
    "easter\001⩮\002ecaron\001ě\002ecir\001≖\002ecirc\001ê\002ecolon\001≕\002ecy\001э\002"
    "edot\001ė\002ee\001ⅇ\002efDot\001≒\002efr\001𝔢\002eg\001⪚\002egrave\001è\002egs\001⪖\002"
    "egsdot\001⪘\002el\001⪙\002elinters\001⏧\002ell\001ℓ\002els\001⪕\002elsdot\001⪗\002emacr\001ē\002"
    "empty\001∅\002emptyset\001∅\002emptyv\001∅\002emsp\001\342\200\203\002emsp13\001\342\200\204\002"
    "emsp14\001\342\200\205\002eng\001ŋ\002ensp\001\342\200\202\002eogon\001ę\002eopf\001𝕖\002"
    "epar\001⋕\002eparsl\001⧣\002eplus\001⩱\002epsi\001ε\002epsilon\001ε\002epsiv\001ϵ\002"
    "eqcirc\001≖\002eqcolon\001≕\002eqsim\001≂\002eqslantgtr\001⪖\002eqslantless\001⪕\002"
    "equals\001=\002equest\001≟\002equiv\001≡\002equivDD\001⩸\002eqvparsl\001⧥\002erDot\001≓\002"
    "erarr\001⥱\002escr\001ℯ\002esdot\001≐\002esim\001≂\002eta\001η\002eth\001ð\002euml\001ë\002"
    "euro\001€\002excl\001!\002exist\001∃\002expectation\001ℰ\002exponentiale\001ⅇ\002"
    "fallingdotseq\001≒\002fcy\001ф\002female\001♀\002ffilig\001ﬃ\002fflig\001ﬀ\002ffllig\001ﬄ\002"
    "ffr\001𝔣\002filig\001ﬁ\002fjlig\001fj\002flat\001♭\002fllig\001ﬂ\002fltns\001▱\002fnof\001ƒ\002"
    "fopf\001𝕗\002forall\001∀\002fork\001⋔\002forkv\001⫙\002fpartint\001⨍\002frac12\001½\002"
    "frac13\001⅓\002frac14\001¼\002frac15\001⅕\002frac16\001⅙\002frac18\001⅛\002frac23\001⅔\002"
    "frac25\001⅖\002frac34\001¾\002frac35\001⅗\002frac38\001⅜\002frac45\001⅘\002frac56\001⅚\002"
    "frac58\001⅝\002frac78\001⅞\002frasl\001⁄\002frown\001⌢\002fscr\001𝒻\002gE\001≧\002gEl\001⪌\002"
    "gacute\001ǵ\002gamma\001γ\002gammad\001ϝ\002gap\001⪆\002gbreve\001ğ\002gcirc\001ĝ\002"
    "gcy\001г\002gdot\001ġ\002ge\001≥\002gel\001⋛\002geq\001≥\002geqq\001≧\002geqslant\001⩾\002"
    "ges\001⩾\002gescc\001⪩\002gesdot\001⪀\002gesdoto\001⪂\002gesdotol\001⪄\002"
    "gesl\001⋛\357\270\200\002gesles\001⪔\002gfr\001𝔤\002gg\001≫\002ggg\001⋙\002gimel\001ℷ\002"
    "gjcy\001ѓ\002gl\001≷\002glE\001⪒\002gla\001⪥\002glj\001⪤\002gnE\001≩\002gnap\001⪊\002"
    "gnapprox\001⪊\002gne\001⪈\002gneq\001⪈\002gneqq\001≩\002gnsim\001⋧\002gopf\001𝕘\002"
    "grave\001`\002gscr\001ℊ\002gsim\001≳\002gsime\001⪎\002gsiml\001⪐\002gt\001>\002gtcc\001⪧\002"
    "gtcir\001⩺\002gtdot\001⋗\002gtlPar\001⦕\002gtquest\001⩼\002gtrapprox\001⪆\002gtrarr\001⥸\002"
    "gtrdot\001⋗\002gtreqless\001⋛\002gtreqqless\001⪌\002gtrless\001≷\002gtrsim\001≳\002"
    "gvertneqq\001≩\357\270\200\002gvnE\001≩\357\270\200\002hArr\001⇔\002hairsp\001\342\200\212\002"
    "half\001½\002hamilt\001ℋ\002hardcy\001ъ\002harr\001↔\002harrcir\001⥈\002harrw\001↭\002"
    "hbar\001ℏ\002hcirc\001ĥ\002hearts\001♥\002heartsuit\001♥\002hellip\001…\002hercon\001⊹\002"
    "hfr\001𝔥\002hksearow\001⤥\002hkswarow\001⤦\002hoarr\001⇿\002homtht\001∻\002"
    "hookleftarrow\001↩\002hookrightarrow\001↪\002hopf\001𝕙\002horbar\001―\002hscr\001𝒽\002"
    "hslash\001ℏ\002hstrok\001ħ\002hybull\001⁃\002hyphen\001‐\002iacute\001í\002"
    "ic\001\342\201\243\002icirc\001î\002icy\001и\002iecy\001е\002iexcl\001¡\002iff\001⇔\002"
    "ifr\001𝔦\002igrave\001ì\002ii\001ⅈ\002iiiint\001⨌\002iiint\001∭\002iinfin\001⧜\002iiota\001℩\002"
    "ijlig\001ĳ\002imacr\001ī\002image\001ℑ\002imagline\001ℐ\002imagpart\001ℑ\002imath\001ı\002"
    "imof\001⊷\002imped\001Ƶ\002in\001∈\002incare\001℅\002infin\001∞\002infintie\001⧝\002"
    "inodot\001ı\002int\001∫\002intcal\001⊺\002integers\001ℤ\002intercal\001⊺\002intlarhk\001⨗\002"
    "intprod\001⨼\002iocy\001ё\002iogon\001į\002iopf\001𝕚\002iota\001ι\002iprod\001⨼\002"
    "iquest\001¿\002iscr\001𝒾\002isin\001∈\002isinE\001⋹\002isindot\001⋵\002isins\001⋴\002"
    "isinsv\001⋳\002isinv\001∈\002it\001\342\201\242\002itilde\001ĩ\002iukcy\001і\002iuml\001ï\002"
    "jcirc\001ĵ\002jcy\001й\002jfr\001𝔧\002jmath\001ȷ\002jopf\001𝕛\002jscr\001𝒿\002jsercy\001ј\002"
    "jukcy\001є\002kappa\001κ\002kappav\001ϰ\002kcedil\001ķ\002kcy\001к\002kfr\001𝔨\002"
    "kgreen\001ĸ\002khcy\001х\002kjcy\001ќ\002kopf\001𝕜\002kscr\001𝓀\002lAarr\001⇚\002lArr\001⇐\002"
    "lAtail\001⤛\002lBarr\001⤎\002lE\001≦\002lEg\001⪋\002lHar\001⥢\002lacute\001ĺ\002"
    "laemptyv\001⦴\002lagran\001ℒ\002lambda\001λ\002lang\001⟨\002langd\001⦑\002langle\001⟨\002"
    "lap\001⪅\002laquo\001«\002larr\001←\002larrb\001⇤\002larrbfs\001⤟\002larrfs\001⤝\002"
    "larrhk\001↩\002larrlp\001↫\002larrpl\001⤹\002larrsim\001⥳\002larrtl\001↢\002lat\001⪫\002"
    "latail\001⤙\002late\001⪭\002lates\001⪭\357\270\200\002lbarr\001⤌\002lbbrk\001❲\002"
    "lbrace\001{\002lbrack\001[\002lbrke\001⦋\002lbrksld\001⦏\002lbrkslu\001⦍\002lcaron\001ľ\002"
    "lcedil\001ļ\002lceil\001⌈\002lcub\001{\002lcy\001л\002ldca\001⤶\002ldquo\001“\002ldquor\001„\002"
    "ldrdhar\001⥧\002ldrushar\001⥋\002ldsh\001↲\002le\001≤\002leftarrow\001←\002"
    "leftarrowtail\001↢\002leftharpoondown\001↽\002leftharpoonup\001↼\002leftleftarrows\001⇇\002"
    "leftrightarrow\001↔\002leftrightarrows\001⇆\002leftrightharpoons\001⇋\002"
    "leftrightsquigarrow\001↭\002leftthreetimes\001⋋\002leg\001⋚\002leq\001≤\002leqq\001≦\002"
    "leqslant\001⩽\002les\001⩽\002lescc\001⪨\002lesdot\001⩿\002lesdoto\001⪁\002lesdotor\001⪃\002"
    "lesg\001⋚\357\270\200\002lesges\001⪓\002lessapprox\001⪅\002lessdot\001⋖\002lesseqgtr\001⋚\002"
    "lesseqqgtr\001⪋\002lessgtr\001≶\002lesssim\001≲\002lfisht\001⥼\002lfloor\001⌊\002lfr\001𝔩\002"
    "lg\001≶\002lgE\001⪑\002lhard\001↽\002lharu\001↼\002lharul\001⥪\002lhblk\001▄\002ljcy\001љ\002"
    "ll\001≪\002llarr\001⇇\002llcorner\001⌞\002llhard\001⥫\002lltri\001◺\002lmidot\001ŀ\002"
    "lmoust\001⎰\002lmoustache\001⎰\002lnE\001≨\002lnap\001⪉\002lnapprox\001⪉\002lne\001⪇\002"
    "lneq\001⪇\002lneqq\001≨\002lnsim\001⋦\002loang\001⟬\002loarr\001⇽\002lobrk\001⟦\002"
    "longleftarrow\001⟵\002longleftrightarrow\001⟷\002longmapsto\001⟼\002longrightarrow\001⟶\002"
    "looparrowleft\001↫\002looparrowright\001↬\002lopar\001⦅\002lopf\001𝕝\002loplus\001⨭\002"
    "lotimes\001⨴\002lowast\001∗\002lowbar\001_\002loz\001◊\002lozenge\001◊\002lozf\001⧫\002"
    "lpar\001(\002lparlt\001⦓\002lrarr\001⇆\002lrcorner\001⌟\002lrhar\001⇋\002lrhard\001⥭\002"
    "lrm\001\342\200\216\002lrtri\001⊿\002lsaquo\001‹\002lscr\001𝓁\002lsh\001↰\002lsim\001≲\002"
    "lsime\001⪍\002lsimg\001⪏\002lsqb\001[\002lsquo\001‘\002lsquor\001‚\002lstrok\001ł\002lt\001<\002"
    "ltcc\001⪦\002ltcir\001⩹\002ltdot\001⋖\002lthree\001⋋\002ltimes\001⋉\002ltlarr\001⥶\002"
    "ltquest\001⩻\002ltrPar\001⦖\002ltri\001◃\002ltrie\001⊴\002ltrif\001◂\002lurdshar\001⥊\002"
    "luruhar\001⥦\002lvertneqq\001≨\357\270\200\002lvnE\001≨\357\270\200\002mDDot\001∺\002"
    "macr\001¯\002male\001♂\002malt\001✠\002maltese\001✠\002map\001↦\002mapsto\001↦\002"
    "mapstodown\001↧\002mapstoleft\001↤\002mapstoup\001↥\002marker\001▮\002mcomma\001⨩\002"
    "mcy\001м\002mdash\001—\002measuredangle\001∡\002mfr\001𝔪\002mho\001℧\002micro\001µ\002"
    "mid\001∣\002midast\001*\002midcir\001⫰\002middot\001·\002minus\001−\002minusb\001⊟\002"
    "minusd\001∸\002minusdu\001⨪\002mlcp\001⫛\002mldr\001…\002mnplus\001∓\002models\001⊧\002"
    "mopf\001𝕞\002mp\001∓\002mscr\001𝓂\002mstpos\001∾\002mu\001μ\002multimap\001⊸\002mumap\001⊸\002"
    "nGg\001⋙\314\270\002nGt\001≫\342\203\222\002nGtv\001≫\314\270\002nLeftarrow\001⇍\002"
    "nLeftrightarrow\001⇎\002nLl\001⋘\314\270\002nLt\001≪\342\203\222\002nLtv\001≪\314\270\002"
    "nRightarrow\001⇏\002nVDash\001⊯\002nVdash\001⊮\002nabla\001∇\002nacute\001ń\002"
    "nang\001∠\342\203\222\002nap\001≉\002napE\001⩰\314\270\002napid\001≋\314\270\002napos\001ŉ\002"
    "napprox\001≉\002natur\001♮\002natural\001♮\002naturals\001ℕ\002nbsp\001\302\240\002"
    "nbump\001≎\314\270\002nbumpe\001≏\314\270\002ncap\001⩃\002ncaron\001ň\002ncedil\001ņ\002"
    "ncong\001≇\002ncongdot\001⩭\314\270\002ncup\001⩂\002ncy\001н\002ndash\001–\002ne\001≠\002"
    "neArr\001⇗\002nearhk\001⤤\002nearr\001↗\002nearrow\001↗\002nedot\001≐\314\270\002nequiv\001≢\002"
    "nesear\001⤨\002nesim\001≂\314\270\002nexist\001∄\002nexists\001∄\002nfr\001𝔫\002"
    "ngE\001≧\314\270\002nge\001≱\002ngeq\001≱\002ngeqq\001≧\314\270\002ngeqslant\001⩾\314\270\002"
    "nges\001⩾\314\270\002ngsim\001≵\002ngt\001≯\002ngtr\001≯\002nhArr\001⇎\002nharr\001↮\002"
    "nhpar\001⫲\002ni\001∋\002nis\001⋼\002nisd\001⋺\002niv\001∋\002njcy\001њ\002nlArr\001⇍\002"
    "nlE\001≦\314\270\002nlarr\001↚\002nldr\001‥\002nle\001≰\002nleftarrow\001↚\002"
    "nleftrightarrow\001↮\002nleq\001≰\002nleqq\001≦\314\270\002nleqslant\001⩽\314\270\002"
    "nles\001⩽\314\270\002nless\001≮\002nlsim\001≴\002nlt\001≮\002nltri\001⋪\002nltrie\001⋬\002"
    "nmid\001∤\002nopf\001𝕟\002not\001¬\002notin\001∉\002notinE\001⋹\314\270\002"
    "notindot\001⋵\314\270\002notinva\001∉\002notinvb\001⋷\002notinvc\001⋶\002notni\001∌\002"
    "notniva\001∌\002notnivb\001⋾\002notnivc\001⋽\002npar\001∦\002nparallel\001∦\002"
    "nparsl\001⫽\342\203\245\002npart\001∂\314\270\002npolint\001⨔\002npr\001⊀\002nprcue\001⋠\002"
    "npre\001⪯\314\270\002nprec\001⊀\002npreceq\001⪯\314\270\002nrArr\001⇏\002nrarr\001↛\002"
    "nrarrc\001⤳\314\270\002nrarrw\001↝\314\270\002nrightarrow\001↛\002nrtri\001⋫\002nrtrie\001⋭\002"
    "nsc\001⊁\002nsccue\001⋡\002nsce\001⪰\314\270\002nscr\001𝓃\002nshortmid\001∤\002"
    "nshortparallel\001∦\002nsim\001≁\002nsime\001≄\002nsimeq\001≄\002nsmid\001∤\002nspar\001∦\002"
    "nsqsube\001⋢\002nsqsupe\001⋣\002nsub\001⊄\002nsubE\001⫅\314\270\002nsube\001⊈\002"
    "nsubset\001⊂\342\203\222\002nsubseteq\001⊈\002nsubseteqq\001⫅\314\270\002nsucc\001⊁\002"
    "nsucceq\001⪰\314\270\002nsup\001⊅\002nsupE\001⫆\314\270\002nsupe\001⊉\002"
    "nsupset\001⊃\342\203\222\002nsupseteq\001⊉\002nsupseteqq\001⫆\314\270\002ntgl\001≹\002"
    "ntilde\001ñ\002ntlg\001≸\002ntriangleleft\001⋪\002ntrianglelefteq\001⋬\002"
    "ntriangleright\001⋫\002ntrianglerighteq\001⋭\002nu\001ν\002num\001#\002numero\001№\002"
    "numsp\001\342\200\207\002nvDash\001⊭\002nvHarr\001⤄\002nvap\001≍\342\203\222\002nvdash\001⊬\002"
    "nvge\001≥\342\203\222\002nvgt\001>\342\203\222\002nvinfin\001⧞\002nvlArr\001⤂\002"
    "nvle\001≤\342\203\222\002nvlt\001<\342\203\222\002nvltrie\001⊴\342\203\222\002nvrArr\001⤃\002"
    "nvrtrie\001⊵\342\203\222\002nvsim\001∼\342\203\222\002nwArr\001⇖\002nwarhk\001⤣\002"
    "nwarr\001↖\002nwarrow\001↖\002nwnear\001⤧\002oS\001Ⓢ\002oacute\001ó\002oast\001⊛\002"
    "ocir\001⊚\002ocirc\001ô\002ocy\001о\002odash\001⊝\002odblac\001ő\002odiv\001⨸\002odot\001⊙\002"
    "odsold\001⦼\002oelig\001œ\002ofcir\001⦿\002ofr\001𝔬\002ogon\001˛\002ograve\001ò\002ogt\001⧁\002"
    "ohbar\001⦵\002ohm\001Ω\002oint\001∮\002olarr\001↺\002olcir\001⦾\002olcross\001⦻\002"
    "oline\001‾\002olt\001⧀\002omacr\001ō\002omega\001ω\002omicron\001ο\002omid\001⦶\002"
    "ominus\001⊖\002oopf\001𝕠\002opar\001⦷\002operp\001⦹\002oplus\001⊕\002or\001∨\002orarr\001↻\002"
    "ord\001⩝\002order\001ℴ\002orderof\001ℴ\002ordf\001ª\002ordm\001º\002origof\001⊶\002oror\001⩖\002"
    "orslope\001⩗\002orv\001⩛\002oscr\001ℴ\002oslash\001ø\002osol\001⊘\002otilde\001õ\002"
    "otimes\001⊗\002otimesas\001⨶\002ouml\001ö\002ovbar\001⌽\002par\001∥\002para\001¶\002"
    "parallel\001∥\002parsim\001⫳\002parsl\001⫽\002part\001∂\002pcy\001п\002percnt\001%\002"
    "period\001.\002permil\001‰\002perp\001⊥\002pertenk\001‱\002pfr\001𝔭\002phi\001φ\002phiv\001ϕ\002"
    "phmmat\001ℳ\002phone\001☎\002pi\001π\002pitchfork\001⋔\002piv\001ϖ\002planck\001ℏ\002"
    "planckh\001ℎ\002plankv\001ℏ\002plus\001+\002plusacir\001⨣\002plusb\001⊞\002pluscir\001⨢\002"
    "plusdo\001∔\002plusdu\001⨥\002pluse\001⩲\002plusmn\001±\002plussim\001⨦\002plustwo\001⨧\002"
    "pm\001±\002pointint\001⨕\002popf\001𝕡\002pound\001£\002pr\001≺\002prE\001⪳\002prap\001⪷\002"
    "prcue\001≼\002pre\001⪯\002prec\001≺\002precapprox\001⪷\002preccurlyeq\001≼\002preceq\001⪯\002"
    "precnapprox\001⪹\002precneqq\001⪵\002precnsim\001⋨\002precsim\001≾\002prime\001′\002"
    "primes\001ℙ\002prnE\001⪵\002prnap\001⪹\002prnsim\001⋨\002prod\001∏\002profalar\001⌮\002"
    "profline\001⌒\002profsurf\001⌓\002prop\001∝\002propto\001∝\002prsim\001≾\002prurel\001⊰\002"
    "pscr\001𝓅\002psi\001ψ\002puncsp\001\342\200\210\002qfr\001𝔮\002qint\001⨌\002qopf\001𝕢\002"
    "qprime\001⁗\002qscr\001𝓆\002quaternions\001ℍ\002quatint\001⨖\002quest\001\077\002"
    "questeq\001≟\002quot\001\042\002rAarr\001⇛\002rArr\001⇒\002rAtail\001⤜\002rBarr\001⤏\002"
    "rHar\001⥤\002race\001∽\314\261\002racute\001ŕ\002radic\001√\002raemptyv\001⦳\002rang\001⟩\002"
    "rangd\001⦒\002range\001⦥\002rangle\001⟩\002raquo\001»\002rarr\001→\002rarrap\001⥵\002"
    "rarrb\001⇥\002rarrbfs\001⤠\002rarrc\001⤳\002rarrfs\001⤞\002rarrhk\001↪\002rarrlp\001↬\002"
    "rarrpl\001⥅\002rarrsim\001⥴\002rarrtl\001↣\002rarrw\001↝\002ratail\001⤚\002ratio\001∶\002"
    "rationals\001ℚ\002rbarr\001⤍\002rbbrk\001❳\002rbrace\001}\002rbrack\001]\002rbrke\001⦌\002"
    "rbrksld\001⦎\002rbrkslu\001⦐\002rcaron\001ř\002rcedil\001ŗ\002rceil\001⌉\002rcub\001}\002"
    "rcy\001р\002rdca\001⤷\002rdldhar\001⥩\002rdquo\001”\002rdquor\001”\002rdsh\001↳\002real\001ℜ\002"
    "realine\001ℛ\002realpart\001ℜ\002reals\001ℝ\002rect\001▭\002reg\001®\002rfisht\001⥽\002"
    "rfloor\001⌋\002rfr\001𝔯\002rhard\001⇁\002rharu\001⇀\002rharul\001⥬\002rho\001ρ\002rhov\001ϱ\002"
    "rightarrow\001→\002rightarrowtail\001↣\002rightharpoondown\001⇁\002rightharpoonup\001⇀\002"
    "rightleftarrows\001⇄\002rightleftharpoons\001⇌\002rightrightarrows\001⇉\002"
    "rightsquigarrow\001↝\002rightthreetimes\001⋌\002ring\001˚\002risingdotseq\001≓\002rlarr\001⇄\002"
    "rlhar\001⇌\002rlm\001\342\200\217\002rmoust\001⎱\002rmoustache\001⎱\002rnmid\001⫮\002"
    "roang\001⟭\002roarr\001⇾\002robrk\001⟧\002ropar\001⦆\002ropf\001𝕣\002roplus\001⨮\002"
    "rotimes\001⨵\002rpar\001)\002rpargt\001⦔\002rppolint\001⨒\002rrarr\001⇉\002rsaquo\001›\002"
    "rscr\001𝓇\002rsh\001↱\002rsqb\001]\002rsquo\001’\002rsquor\001’\002rthree\001⋌\002"
    "rtimes\001⋊\002rtri\001▹\002rtrie\001⊵\002rtrif\001▸\002rtriltri\001⧎\002ruluhar\001⥨\002"
    "rx\001℞\002sacute\001ś\002sbquo\001‚\002sc\001≻\002scE\001⪴\002scap\001⪸\002scaron\001š\002"
    "sccue\001≽\002sce\001⪰\002scedil\001ş\002scirc\001ŝ\002scnE\001⪶\002scnap\001⪺\002"
    "scnsim\001⋩\002scpolint\001⨓\002scsim\001≿\002scy\001с\002sdot\001⋅\002sdotb\001⊡\002"
    "sdote\001⩦\002seArr\001⇘\002searhk\001⤥\002searr\001↘\002searrow\001↘\002sect\001§\002"
    "semi\001;\002seswar\001⤩\002setminus\001∖\002setmn\001∖\002sext\001✶\002sfr\001𝔰\002"
    "sfrown\001⌢\002sharp\001♯\002shchcy\001щ\002shcy\001ш\002shortmid\001∣\002shortparallel\001∥\002"
    "shy\001\302\255\002sigma\001σ\002sigmaf\001ς\002sigmav\001ς\002sim\001∼\002simdot\001⩪\002"
    "sime\001≃\002simeq\001≃\002simg\001⪞\002simgE\001⪠\002siml\001⪝\002simlE\001⪟\002simne\001≆\002"
    "simplus\001⨤\002simrarr\001⥲\002slarr\001←\002smallsetminus\001∖\002smashp\001⨳\002"
    "smeparsl\001⧤\002smid\001∣\002smile\001⌣\002smt\001⪪\002smte\001⪬\002smtes\001⪬\357\270\200\002"
    "softcy\001ь\002sol\001/\002solb\001⧄\002solbar\001⌿\002sopf\001𝕤\002spades\001♠\002"
    "spadesuit\001♠\002spar\001∥\002sqcap\001⊓\002sqcaps\001⊓\357\270\200\002sqcup\001⊔\002"
    "sqcups\001⊔\357\270\200\002sqsub\001⊏\002sqsube\001⊑\002sqsubset\001⊏\002sqsubseteq\001⊑\002"
    "sqsup\001⊐\002sqsupe\001⊒\002sqsupset\001⊐\002sqsupseteq\001⊒\002squ\001□\002square\001□\002"
    "squarf\001▪\002squf\001▪\002srarr\001→\002sscr\001𝓈\002ssetmn\001∖\002ssmile\001⌣\002"
    "sstarf\001⋆\002star\001☆\002starf\001★\002straightepsilon\001ϵ\002straightphi\001ϕ\002"
    "strns\001¯\002sub\001⊂\002subE\001⫅\002subdot\001⪽\002sube\001⊆\002subedot\001⫃\002"
    "submult\001⫁\002subnE\001⫋\002subne\001⊊\002subplus\001⪿\002subrarr\001⥹\002subset\001⊂\002"
    "subseteq\001⊆\002subseteqq\001⫅\002subsetneq\001⊊\002subsetneqq\001⫋\002subsim\001⫇\002"
    "subsub\001⫕\002subsup\001⫓\002succ\001≻\002succapprox\001⪸\002succcurlyeq\001≽\002"
    "succeq\001⪰\002succnapprox\001⪺\002succneqq\001⪶\002succnsim\001⋩\002succsim\001≿\002"
    "sum\001∑\002sung\001♪\002sup\001⊃\002sup1\001¹\002sup2\001²\002sup3\001³\002supE\001⫆\002"
    "supdot\001⪾\002supdsub\001⫘\002supe\001⊇\002supedot\001⫄\002suphsol\001⟉\002suphsub\001⫗\002"
    "suplarr\001⥻\002supmult\001⫂\002supnE\001⫌\002supne\001⊋\002supplus\001⫀\002supset\001⊃\002"
    "supseteq\001⊇\002supseteqq\001⫆\002supsetneq\001⊋\002supsetneqq\001⫌\002supsim\001⫈\002"
    "supsub\001⫔\002supsup\001⫖\002swArr\001⇙\002swarhk\001⤦\002swarr\001↙\002swarrow\001↙\002"
    "swnwar\001⤪\002szlig\001ß\002target\001⌖\002tau\001τ\002tbrk\001⎴\002tcaron\001ť\002"
    "tcedil\001ţ\002tcy\001т\002tdot\001\342\203\233\002telrec\001⌕\002tfr\001𝔱\002there4\001∴\002"
    "therefore\001∴\002theta\001θ\002thetasym\001ϑ\002thetav\001ϑ\002thickapprox\001≈\002"
    "thicksim\001∼\002thinsp\001\342\200\211\002thkap\001≈\002thksim\001∼\002thorn\001þ\002"
    "tilde\001˜\002times\001×\002timesb\001⊠\002timesbar\001⨱\002timesd\001⨰\002tint\001∭\002"
    "toea\001⤨\002top\001⊤\002topbot\001⌶\002topcir\001⫱\002topf\001𝕥\002topfork\001⫚\002"
    "tosa\001⤩\002tprime\001‴\002trade\001™\002triangle\001▵\002triangledown\001▿\002"
    "triangleleft\001◃\002trianglelefteq\001⊴\002triangleq\001≜\002triangleright\001▹\002"
    "trianglerighteq\001⊵\002tridot\001◬\002trie\001≜\002triminus\001⨺\002triplus\001⨹\002"
    "trisb\001⧍\002tritime\001⨻\002trpezium\001⏢\002tscr\001𝓉\002tscy\001ц\002tshcy\001ћ\002"
    "tstrok\001ŧ\002twixt\001≬\002twoheadleftarrow\001↞\002twoheadrightarrow\001↠\002uArr\001⇑\002"
    "uHar\001⥣\002uacute\001ú\002uarr\001↑\002ubrcy\001ў\002ubreve\001ŭ\002ucirc\001û\002ucy\001у\002"
    "udarr\001⇅\002udblac\001ű\002udhar\001⥮\002ufisht\001⥾\002ufr\001𝔲\002ugrave\001ù\002"
    "uharl\001↿\002uharr\001↾\002uhblk\001▀\002ulcorn\001⌜\002ulcorner\001⌜\002ulcrop\001⌏\002"
    "ultri\001◸\002umacr\001ū\002uml\001¨\002uogon\001ų\002uopf\001𝕦\002uparrow\001↑\002"
    "updownarrow\001↕\002upharpoonleft\001↿\002upharpoonright\001↾\002uplus\001⊎\002upsi\001υ\002"
    "upsih\001ϒ\002upsilon\001υ\002upuparrows\001⇈\002urcorn\001⌝\002urcorner\001⌝\002urcrop\001⌎\002"
    "uring\001ů\002urtri\001◹\002uscr\001𝓊\002utdot\001⋰\002utilde\001ũ\002utri\001▵\002"
    "utrif\001▴\002uuarr\001⇈\002uuml\001ü\002uwangle\001⦧\002vArr\001⇕\002vBar\001⫨\002"
    "vBarv\001⫩\002vDash\001⊨\002vangrt\001⦜\002varepsilon\001ϵ\002varkappa\001ϰ\002"
    "varnothing\001∅\002varphi\001ϕ\002varpi\001ϖ\002varpropto\001∝\002varr\001↕\002varrho\001ϱ\002"
    "varsigma\001ς\002varsubsetneq\001⊊\357\270\200\002varsubsetneqq\001⫋\357\270\200\002"
    "varsupsetneq\001⊋\357\270\200\002varsupsetneqq\001⫌\357\270\200\002vartheta\001ϑ\002"
    "vartriangleleft\001⊲\002vartriangleright\001⊳\002vcy\001в\002vdash\001⊢\002vee\001∨\002"
    "veebar\001⊻\002veeeq\001≚\002vellip\001⋮\002verbar\001|\002vert\001|\002vfr\001𝔳\002"
    "vltri\001⊲\002vnsub\001⊂\342\203\222\002vnsup\001⊃\342\203\222\002vopf\001𝕧\002vprop\001∝\002"
    "vrtri\001⊳\002vscr\001𝓋\002vsubnE\001⫋\357\270\200\002vsubne\001⊊\357\270\200\002"
    "vsupnE\001⫌\357\270\200\002vsupne\001⊋\357\270\200\002vzigzag\001⦚\002wcirc\001ŵ\002"
    "wedbar\001⩟\002wedge\001∧\002wedgeq\001≙\002weierp\001℘\002wfr\001𝔴\002wopf\001𝕨\002wp\001℘\002"
    "wr\001≀\002wreath\001≀\002wscr\001𝓌\002xcap\001⋂\002xcirc\001◯\002xcup\001⋃\002xdtri\001▽\002"
    "xfr\001𝔵\002xhArr\001⟺\002xharr\001⟷\002xi\001ξ\002xlArr\001⟸\002xlarr\001⟵\002xmap\001⟼\002"
    "xnis\001⋻\002xodot\001⨀\002xopf\001𝕩\002xoplus\001⨁\002xotime\001⨂\002xrArr\001⟹\002"
    "xrarr\001⟶\002xscr\001𝓍\002xsqcup\001⨆\002xuplus\001⨄\002xutri\001△\002xvee\001⋁\002"
    "xwedge\001⋀\002yacute\001ý\002yacy\001я\002ycirc\001ŷ\002ycy\001ы\002yen\001¥\002yfr\001𝔶\002"
    "yicy\001ї\002yopf\001𝕪\002yscr\001𝓎\002yucy\001ю\002yuml\001ÿ\002zacute\001ź\002zcaron\001ž\002"
    "zcy\001з\002zdot\001ż\002zeetrf\001ℨ\002zeta\001ζ\002zfr\001𝔷\002zhcy\001ж\002zigrarr\001⇝\002"
    "zopf\001𝕫\002zscr\001𝓏\002zwj\001\342\200\215\002zwnj\001\342\200\214\002";
    return blob;
}
