/*
 * image_meta.c — metadata without decoding pixels: walking PNG chunks, JPEG
 * markers and WebP RIFF chunks; the EXIF (TIFF) block's Orientation and
 * UserComment; the "parameters" text; applying an EXIF orientation.
 *
 * Every read is bounds-checked against the buffer: offsets and lengths come
 * from the file and are untrusted (compared by subtraction, never by adding
 * to a pointer first). Text handed back is always valid UTF-8.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/image_internal.h"
#include "runtime/error.h"

/* Largest inflated text chunk we accept (a zTXt/iTXt bomb guard). */
#define META_MAX_TEXT (16u << 20)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                    */

int df_image_utf8_valid(const char *text, size_t length, size_t *bad_offset)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < length) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (length - i < n)
            goto bad;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += n;
    }
    return 1;
bad:
    if (bad_offset)
        *bad_offset = i;
    return 0;
}

uint32_t df_image_utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (n == 2)
        c &= 0x1f;
    else if (n == 3)
        c &= 0x0f;
    else if (n == 4)
        c &= 0x07;
    for (size_t k = 1; k < n; k++)
        c = c << 6 | (s[k] & 0x3f);
    *p = s + n;
    return c;
}

/* A growing UTF-8 string. */
typedef struct meta_text {
    char *data;
    size_t length, capacity;
    int failed;
} meta_text;

static void text_reserve(meta_text *t, size_t extra)
{
    if (t->failed || t->capacity - t->length > extra)
        return;
    size_t capacity = t->capacity ? t->capacity : 256;
    while (capacity - t->length <= extra)
        capacity *= 2;
    char *grown = realloc(t->data, capacity);
    if (!grown) {
        t->failed = 1;
        return;
    }
    t->data = grown;
    t->capacity = capacity;
}

static void text_put(meta_text *t, uint32_t cp)
{
    text_reserve(t, 4);
    if (t->failed)
        return;
    char *o = t->data + t->length;
    if (cp < 0x80) {
        o[0] = (char)cp;
        t->length += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        t->length += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        t->length += 3;
    } else {
        o[0] = (char)(0xf0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        t->length += 4;
    }
    t->data[t->length] = 0;
}

/* Bytes taken as UTF-8; each invalid byte becomes U+FFFD. */
static void text_put_utf8(meta_text *t, const uint8_t *bytes, size_t size)
{
    size_t i = 0;
    while (i < size && !t->failed) {
        size_t bad;
        if (df_image_utf8_valid((const char *)bytes + i, size - i, &bad))
            bad = size - i;
        text_reserve(t, bad);
        if (t->failed)
            return;
        memcpy(t->data + t->length, bytes + i, bad);
        t->length += bad;
        t->data[t->length] = 0;
        i += bad;
        if (i < size) {
            text_put(t, 0xfffd);
            i++;
        }
    }
}

static char *text_finish(meta_text *t)
{
    if (!t->failed && !t->data)
        text_reserve(t, 1);
    if (t->failed) {
        free(t->data);
        return NULL;
    }
    t->data[t->length] = 0;
    return t->data;
}

/* ------------------------------------------------------------------------ */
/* Containers                                                               */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int is_png(const uint8_t *b, size_t n)
{
    return n >= 8 && memcmp(b, png_signature, 8) == 0;
}
static int is_jpeg(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}
static int is_webp(const uint8_t *b, size_t n)
{
    return n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0;
}

/* Strips an "Exif\0\0" prefix (always there in JPEG, sometimes in WebP and
 * PNG files written by some tools). */
static void exif_strip_prefix(const uint8_t **data, size_t *size)
{
    if (*size >= 6 && memcmp(*data, "Exif\0\0", 6) == 0) {
        *data += 6;
        *size -= 6;
    }
}

void df_image_find_exif(const uint8_t *bytes, size_t size, const uint8_t **tiff,
                        size_t *tiff_size)
{
    *tiff = NULL;
    *tiff_size = 0;
    if (is_png(bytes, size)) {
        size_t at = 8;
        while (size - at >= 12) {
            uint32_t length = be32(bytes + at);
            if (length > size - at - 12)
                return;
            const uint8_t *type = bytes + at + 4;
            if (memcmp(type, "eXIf", 4) == 0) {
                *tiff = bytes + at + 8;
                *tiff_size = length;
                exif_strip_prefix(tiff, tiff_size);
                return;
            }
            if (memcmp(type, "IEND", 4) == 0)
                return;
            at += 12 + (size_t)length;
        }
    } else if (is_jpeg(bytes, size)) {
        size_t at = 2;
        while (size - at >= 4) {
            if (bytes[at] != 0xff)
                return;
            uint8_t marker = bytes[at + 1];
            if (marker == 0xff) { /* fill byte */
                at++;
                continue;
            }
            if (marker == 0xda || marker == 0xd9) /* start of scan, end of image */
                return;
            if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
                at += 2;
                continue;
            }
            size_t length = (size_t)bytes[at + 2] << 8 | bytes[at + 3];
            if (length < 2 || length > size - at - 2)
                return;
            if (marker == 0xe1 && length >= 8 && memcmp(bytes + at + 4, "Exif\0\0", 6) == 0) {
                *tiff = bytes + at + 10;
                *tiff_size = length - 8;
                return;
            }
            at += 2 + length;
        }
    } else if (is_webp(bytes, size)) {
        size_t at = 12;
        while (size - at >= 8) {
            uint32_t length = le32(bytes + at + 4);
            if (length > size - at - 8)
                return;
            if (memcmp(bytes + at, "EXIF", 4) == 0) {
                *tiff = bytes + at + 8;
                *tiff_size = length;
                exif_strip_prefix(tiff, tiff_size);
                return;
            }
            at += 8 + (size_t)length + (length & 1);
            if (at > size)
                return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* TIFF                                                                     */

typedef struct tiff_reader {
    const uint8_t *data;
    size_t size;
    int big_endian;
} tiff_reader;

static uint32_t tiff_u16(const tiff_reader *t, size_t at)
{
    const uint8_t *p = t->data + at;
    return t->big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t tiff_u32(const tiff_reader *t, size_t at)
{
    return t->big_endian ? be32(t->data + at) : le32(t->data + at);
}

static int tiff_open(tiff_reader *t, const uint8_t *data, size_t size, size_t *ifd0)
{
    if (!data || size < 8)
        return 0;
    t->data = data;
    t->size = size;
    if (memcmp(data, "MM\0*", 4) == 0)
        t->big_endian = 1;
    else if (memcmp(data, "II*\0", 4) == 0)
        t->big_endian = 0;
    else
        return 0;
    *ifd0 = tiff_u32(t, 4);
    return 1;
}

/* Finds `tag` in the IFD at `ifd`: its type, count and the offset of its
 * value (inline when it fits in 4 bytes). 0 when absent or out of bounds. */
static int tiff_find(const tiff_reader *t, size_t ifd, uint32_t tag, uint32_t *type,
                     uint32_t *count, size_t *value_at)
{
    if (ifd > t->size || t->size - ifd < 2)
        return 0;
    uint32_t entries = tiff_u16(t, ifd);
    if ((t->size - ifd - 2) / 12 < entries)
        return 0;
    for (uint32_t i = 0; i < entries; i++) {
        size_t entry = ifd + 2 + 12 * (size_t)i;
        if (tiff_u16(t, entry) != tag)
            continue;
        *type = tiff_u16(t, entry + 2);
        *count = tiff_u32(t, entry + 4);
        static const unsigned type_sizes[13] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8};
        if (*type == 0 || *type > 12)
            return 0;
        uint64_t bytes = (uint64_t)type_sizes[*type] * *count;
        size_t at = bytes <= 4 ? entry + 8 : tiff_u32(t, entry + 8);
        if (at > t->size || t->size - at < bytes)
            return 0;
        *value_at = at;
        return 1;
    }
    return 0;
}

int df_image_exif_orientation(const uint8_t *tiff, size_t size)
{
    tiff_reader t;
    size_t ifd0, at;
    uint32_t type, count;
    if (!tiff_open(&t, tiff, size, &ifd0) || !tiff_find(&t, ifd0, 0x0112, &type, &count, &at) ||
        type != 3 || count < 1)
        return 1;
    uint32_t orientation = tiff_u16(&t, at);
    return orientation >= 1 && orientation <= 8 ? (int)orientation : 1;
}

/* The UserComment as UTF-8, or NULL (absent; *failed on no memory). */
static char *exif_user_comment(const uint8_t *tiff, size_t size, int *failed)
{
    tiff_reader t;
    size_t ifd0, exif_ifd_at, at;
    uint32_t type, count;
    if (!tiff_open(&t, tiff, size, &ifd0) ||
        !tiff_find(&t, ifd0, 0x8769, &type, &count, &exif_ifd_at) || (type != 4 && type != 13) ||
        count != 1)
        return NULL;
    size_t exif_ifd = tiff_u32(&t, exif_ifd_at);
    if (!tiff_find(&t, exif_ifd, 0x9286, &type, &count, &at) || count < 8)
        return NULL;
    const uint8_t *comment = t.data + at + 8;
    size_t length = count - 8;
    meta_text text = {0};
    if (memcmp(t.data + at, "UNICODE\0", 8) == 0) {
        /* piexif (A1111) writes and reads UTF-16 big-endian whatever the
         * TIFF order; exiftool uses the TIFF order; some tools write
         * piexif's bytes into a little-endian TIFF. So: a BOM decides;
         * otherwise the side where the zero high bytes of Latin text fall;
         * otherwise big-endian, as piexif. */
        length &= ~(size_t)1;
        int big = 1;
        if (length >= 2 && comment[0] == 0xff && comment[1] == 0xfe) {
            big = 0;
            comment += 2, length -= 2;
        } else if (length >= 2 && comment[0] == 0xfe && comment[1] == 0xff) {
            comment += 2, length -= 2;
        } else {
            size_t zero_even = 0, zero_odd = 0;
            for (size_t i = 0; i < length; i += 2) {
                zero_even += comment[i] == 0;
                zero_odd += comment[i + 1] == 0;
            }
            big = zero_odd <= zero_even;
        }
        for (size_t i = 0; i < length && !text.failed; i += 2) {
            uint32_t u = big ? (uint32_t)comment[i] << 8 | comment[i + 1]
                             : (uint32_t)comment[i + 1] << 8 | comment[i];
            if (u >= 0xd800 && u <= 0xdbff && i + 3 < length) {
                uint32_t v = big ? (uint32_t)comment[i + 2] << 8 | comment[i + 3]
                                 : (uint32_t)comment[i + 3] << 8 | comment[i + 2];
                if (v >= 0xdc00 && v <= 0xdfff) {
                    text_put(&text, 0x10000 + ((u - 0xd800) << 10) + (v - 0xdc00));
                    i += 2;
                    continue;
                }
            }
            text_put(&text, u >= 0xd800 && u <= 0xdfff ? 0xfffd : u);
        }
    } else {
        /* "ASCII\0\0\0", undefined (zeros) or anything else: the bytes. */
        text_put_utf8(&text, comment, length);
    }
    /* Writers pad with NULs or spaces; A1111's text has neither at the end. */
    while (text.length > 0 && text.data[text.length - 1] == 0)
        text.length--;
    char *result = text_finish(&text);
    if (!result)
        *failed = 1;
    return result;
}

df_status df_image_make_exif(const char *text, uint8_t **out, size_t *out_size, df_error *error)
{
    /* UTF-16BE length first. */
    size_t units = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;)
        units += df_image_utf8_next(&p) >= 0x10000 ? 2 : 1;
    size_t comment = 8 + 2 * units;
    /* header 8 | IFD0: count, 1 entry, next | Exif IFD: count, 1 entry, next | comment */
    size_t header = 8 + (2 + 12 + 4) + (2 + 12 + 4);
    if (comment > UINT32_MAX - header)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "parameters too long for EXIF");
    size_t size = header + comment;
    uint8_t *b = calloc(1, size);
    if (!b)
        return df_error_set(error, DF_ERR_NO_MEMORY, "no memory for %zu bytes of EXIF", size);
    uint8_t *p = b;
#define PUT16(v) (p[0] = (uint8_t)((v) >> 8), p[1] = (uint8_t)(v), p += 2)
#define PUT32(v) (PUT16((uint32_t)(v) >> 16), PUT16((uint32_t)(v) & 0xffff))
    memcpy(p, "MM\0*", 4);
    p += 4;
    PUT32(8);               /* IFD0 */
    PUT16(1);               /* one entry: */
    PUT16(0x8769);          /*   ExifIFD pointer */
    PUT16(4);               /*   LONG */
    PUT32(1);
    PUT32(8 + 18);          /*   the Exif IFD follows IFD0 */
    PUT32(0);               /* no IFD1 */
    PUT16(1);               /* Exif IFD, one entry: */
    PUT16(0x9286);          /*   UserComment */
    PUT16(7);               /*   UNDEFINED */
    PUT32(comment);
    PUT32(header);          /*   value right after the IFD */
    PUT32(0);
    memcpy(p, "UNICODE\0", 8);
    p += 8;
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        uint32_t c = df_image_utf8_next(&s);
        if (c >= 0x10000) {
            c -= 0x10000;
            PUT16(0xd800 | (c >> 10));
            PUT16(0xdc00 | (c & 0x3ff));
        } else {
            PUT16(c);
        }
    }
#undef PUT16
#undef PUT32
    *out = b;
    *out_size = size;
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* PNG text chunks                                                          */

/* Inflates a zlib stream into text (at most META_MAX_TEXT bytes). Returns
 * 0 when the stream is corrupt or too large. */
static int inflate_to(const uint8_t *data, size_t size, uint8_t **out, size_t *out_size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return 0;
    size_t capacity = 4096, used = 0;
    uint8_t *buffer = malloc(capacity);
    int ok = buffer != NULL;
    z.next_in = (Bytef *)data;
    z.avail_in = size > UINT32_MAX ? UINT32_MAX : (uInt)size;
    while (ok) {
        if (used == capacity) {
            if (capacity >= META_MAX_TEXT) {
                ok = 0;
                break;
            }
            uint8_t *grown = realloc(buffer, capacity * 2);
            if (!grown) {
                ok = 0;
                break;
            }
            buffer = grown;
            capacity *= 2;
        }
        z.next_out = buffer + used;
        z.avail_out = (uInt)(capacity - used);
        int r = inflate(&z, Z_NO_FLUSH);
        used = capacity - z.avail_out;
        if (r == Z_STREAM_END)
            break;
        if (r != Z_OK && !(r == Z_BUF_ERROR && used == capacity))
            ok = 0;
    }
    inflateEnd(&z);
    if (!ok) {
        free(buffer);
        return 0;
    }
    *out = buffer;
    *out_size = used;
    return 1;
}

/* The text of one "parameters" chunk, or NULL with an error set. */
static char *png_chunk_text(const uint8_t *type, const uint8_t *data, size_t size,
                            df_status *status, df_error *error)
{
    size_t key_length = strlen("parameters") + 1; /* keyword and its NUL */
    const uint8_t *p = data + key_length;
    size_t left = size - key_length;
    int compressed = 0, utf8 = 0;
    if (memcmp(type, "zTXt", 4) == 0) {
        if (left < 1 || p[0] != 0)
            goto corrupt;
        compressed = 1;
        p++, left--;
    } else if (memcmp(type, "iTXt", 4) == 0) {
        utf8 = 1;
        if (left < 2)
            goto corrupt;
        compressed = p[0];
        if (compressed > 1 || (compressed && p[1] != 0))
            goto corrupt;
        p += 2, left -= 2;
        for (int field = 0; field < 2; field++) { /* language tag, translated keyword */
            const uint8_t *nul = memchr(p, 0, left);
            if (!nul)
                goto corrupt;
            left -= (size_t)(nul - p) + 1;
            p = nul + 1;
        }
    }
    uint8_t *inflated = NULL;
    if (compressed) {
        size_t inflated_size;
        if (!inflate_to(p, left, &inflated, &inflated_size))
            goto corrupt;
        p = inflated;
        left = inflated_size;
    }
    meta_text text = {0};
    if (utf8) {
        text_put_utf8(&text, p, left);
    } else {
        for (size_t i = 0; i < left; i++)
            text_put(&text, p[i]); /* Latin-1 is the first 256 code points */
    }
    free(inflated);
    char *result = text_finish(&text);
    if (!result)
        *status = df_error_set(error, DF_ERR_NO_MEMORY, "no memory for the parameters text");
    return result;
corrupt:
    *status = df_error_set(error, DF_ERR_FORMAT, "PNG: corrupt %.4s \"parameters\" chunk",
                           (const char *)type);
    return NULL;
}

static df_status png_parameters(const uint8_t *bytes, size_t size, char **out_text,
                                df_error *error)
{
    size_t at = 8;
    char *found = NULL;
    for (;;) {
        if (size - at < 12) {
            free(found);
            return df_error_set(error, DF_ERR_FORMAT,
                                "PNG: truncated (the file ends before the IEND chunk)");
        }
        uint32_t length = be32(bytes + at);
        const uint8_t *type = bytes + at + 4;
        if (length > size - at - 12) {
            free(found);
            return df_error_set(error, DF_ERR_FORMAT,
                                "PNG: truncated (chunk %.4s of %u bytes runs past the end)",
                                (const char *)type, (unsigned)length);
        }
        if (memcmp(type, "IEND", 4) == 0)
            break;
        const uint8_t *data = bytes + at + 8;
        int text = memcmp(type, "tEXt", 4) == 0 || memcmp(type, "zTXt", 4) == 0 ||
                   memcmp(type, "iTXt", 4) == 0;
        if (text && length >= 11 && memcmp(data, "parameters", 11) == 0) {
            uint32_t crc = (uint32_t)crc32(0L, type, 4 + length);
            if (crc != be32(data + length)) {
                free(found);
                return df_error_set(error, DF_ERR_FORMAT,
                                    "PNG: CRC error in the %.4s \"parameters\" chunk",
                                    (const char *)type);
            }
            df_status status = DF_OK;
            char *value = png_chunk_text(type, data, length, &status, error);
            if (!value) {
                free(found);
                return status;
            }
            free(found); /* the last one wins, as in PIL's info dict */
            found = value;
        }
        at += 12 + (size_t)length;
    }
    *out_text = found;
    return DF_OK;
}

df_status df_image_read_parameters(const void *bytes_in, size_t size, char **out_text,
                                   df_error *error)
{
    const uint8_t *bytes = bytes_in;
    *out_text = NULL;
    if (!bytes && size)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no image bytes");
    if (is_png(bytes, size))
        return png_parameters(bytes, size, out_text, error);
    if (!is_jpeg(bytes, size) && !is_webp(bytes, size))
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "not a PNG, JPEG or WebP image (no known signature in the "
                            "first bytes)");
    const uint8_t *tiff;
    size_t tiff_size;
    df_image_find_exif(bytes, size, &tiff, &tiff_size);
    if (!tiff)
        return DF_OK;
    int failed = 0;
    *out_text = exif_user_comment(tiff, tiff_size, &failed);
    if (failed)
        return df_error_set(error, DF_ERR_NO_MEMORY, "no memory for the parameters text");
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Orientation                                                              */

df_status df_image_apply_orientation(df_image *image, int orientation, df_error *error)
{
    if (orientation < 2 || orientation > 8)
        return DF_OK;
    int w = image->width, h = image->height;
    int swap = orientation >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *pixels = malloc((size_t)w * (size_t)h * 3);
    if (!pixels)
        return df_error_set(error, DF_ERR_NO_MEMORY, "no memory to rotate a %dx%d image", w, h);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x, sy = y; break;             /* mirror */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;     /* rotate 180 */
            case 4: sx = x, sy = h - 1 - y; break;             /* flip */
            case 5: sx = y, sy = x; break;                     /* transpose */
            case 6: sx = y, sy = h - 1 - x; break;             /* rotate 90 clockwise */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;     /* transverse */
            default: sx = w - 1 - y, sy = x; break;            /* 8: rotate 90 counter */
            }
            memcpy(pixels + ((size_t)y * ow + x) * 3, image->pixels + ((size_t)sy * w + sx) * 3,
                   3);
        }
    }
    free(image->pixels);
    image->pixels = pixels;
    image->width = ow;
    image->height = oh;
    return DF_OK;
}
