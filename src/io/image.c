/*
 * image.c — the front of the image module (see image.h): format detection,
 * the size guard, files in and out (atomic writes through a temporary file
 * and rename), argument checks, and RGB8 <-> tensor conversion. The codecs
 * are in image_png.c, image_jpeg.c, image_webp.c; metadata in image_meta.c;
 * resizing in image_resize.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image_internal.h"
#include "runtime/error.h"

void df_image_free(df_image *image)
{
    if (!image)
        return;
    free(image->pixels);
    image->pixels = NULL;
    image->width = image->height = 0;
}

df_status df_image_create(int width, int height, df_image *out, df_error *error)
{
    *out = (df_image){0, 0, NULL};
    if (width < 1 || height < 1 || width > DF_IMAGE_MAX_SIDE || height > DF_IMAGE_MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "image size %dx%d out of range (1..%d per side)", width, height,
                            DF_IMAGE_MAX_SIDE);
    out->pixels = calloc((size_t)width * (size_t)height, 3);
    if (!out->pixels)
        return df_error_set(error, DF_ERR_NO_MEMORY, "no memory for a %dx%d image", width,
                            height);
    out->width = width;
    out->height = height;
    return DF_OK;
}

df_status df_image_check_size(const char *format, uint64_t width, uint64_t height,
                              int max_pixels, df_error *error)
{
    if (width == 0 || height == 0)
        return df_error_set(error, DF_ERR_FORMAT, "%s: header gives an empty size %llux%llu",
                            format, (unsigned long long)width, (unsigned long long)height);
    if (width > DF_IMAGE_MAX_SIDE || height > DF_IMAGE_MAX_SIDE)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: image is %llux%llu; the largest side accepted is %d", format,
                            (unsigned long long)width, (unsigned long long)height,
                            DF_IMAGE_MAX_SIDE);
    if (width * height > (uint64_t)max_pixels)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: image is %llux%llu (%llu pixels), over the limit of %d pixels",
                            format, (unsigned long long)width, (unsigned long long)height,
                            (unsigned long long)(width * height), max_pixels);
    return DF_OK;
}

/* What an unsupported file looks like, for the message. */
static const char *sniff(const uint8_t *b, size_t n)
{
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "a GIF image";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return "a BMP image";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
        return "a TIFF image";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0 &&
        (memcmp(b + 8, "avif", 4) == 0 || memcmp(b + 8, "avis", 4) == 0))
        return "an AVIF image";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0 &&
        (memcmp(b + 8, "heic", 4) == 0 || memcmp(b + 8, "heix", 4) == 0 ||
         memcmp(b + 8, "mif1", 4) == 0))
        return "a HEIF/HEIC image";
    if (n >= 4 && memcmp(b, "\x00\x00\x01\x00", 4) == 0)
        return "a Windows icon";
    if (n >= 4 && memcmp(b, "8BPS", 4) == 0)
        return "a Photoshop document";
    if (n >= 4 && memcmp(b, "RIFF", 4) == 0)
        return "a RIFF file that is not WebP";
    if (n >= 5 && memcmp(b, "%PDF-", 5) == 0)
        return "a PDF document";
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "gzip-compressed data";
    if (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
        return "a ZIP archive";
    if (n >= 1 && (b[0] == '<' || b[0] == '{' || b[0] == '['))
        return "text (HTML, XML, SVG or JSON?)";
    if (n >= 2 && b[0] == 0xff && b[1] == 0xd8)
        return "a damaged JPEG (no marker after the start-of-image)";
    if (n >= 4 && memcmp(b, "\x89PNG", 4) == 0)
        return "a damaged PNG (bad signature)";
    return NULL;
}

df_status df_image_decode(const void *bytes_in, size_t size, int max_pixels, df_image *out,
                          df_error *error)
{
    const uint8_t *bytes = bytes_in;
    *out = (df_image){0, 0, NULL};
    if (max_pixels <= 0)
        max_pixels = DF_IMAGE_DEFAULT_MAX_PIXELS;
    if (size == 0)
        return df_error_set(error, DF_ERR_FORMAT, "empty image data (0 bytes)");
    if (!bytes)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no image bytes");

    df_status status;
    if (size >= 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0) {
        status = df_image_png_decode(bytes, size, max_pixels, out, error);
    } else if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) {
        status = df_image_jpeg_decode(bytes, size, max_pixels, out, error);
    } else if (size >= 12 && memcmp(bytes, "RIFF", 4) == 0 &&
               memcmp(bytes + 8, "WEBP", 4) == 0) {
        status = df_image_webp_decode(bytes, size, max_pixels, out, error);
    } else {
        const char *what = sniff(bytes, size);
        char first[3 * 8 + 1] = "";
        for (size_t i = 0, at = 0; i < size && i < 8; i++)
            at += (size_t)snprintf(first + at, sizeof first - at, "%s%02x", i ? " " : "",
                                   bytes[i]);
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "not a PNG, JPEG or WebP image: looks like %s (first bytes %s)",
                            what ? what : "unknown data", first);
    }
    if (status != DF_OK) {
        df_image_free(out);
        return status;
    }
    /* diffusers' load_image: ImageOps.exif_transpose before convert. */
    const uint8_t *tiff;
    size_t tiff_size;
    df_image_find_exif(bytes, size, &tiff, &tiff_size);
    int orientation = df_image_exif_orientation(tiff, tiff_size);
    status = df_image_apply_orientation(out, orientation, error);
    if (status != DF_OK)
        df_image_free(out);
    return status;
}

df_status df_image_read(const char *path, int max_pixels, df_image *out, df_error *error)
{
    *out = (df_image){0, 0, NULL};
    if (!path)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no image path");
    FILE *file = fopen(path, "rb");
    if (!file)
        return df_error_set(error, DF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(file);
        return df_error_set(error, DF_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > DF_IMAGE_MAX_FILE_BYTES) {
        fclose(file);
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: file is %lld bytes; image files are limited to %u MB", path,
                            (long long)st.st_size, DF_IMAGE_MAX_FILE_BYTES >> 20);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes) {
        fclose(file);
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: no memory for %zu bytes", path, size);
    }
    size_t got = fread(bytes, 1, size, file);
    int read_error = ferror(file);
    fclose(file);
    if (got != size || read_error) {
        free(bytes);
        return df_error_set(error, DF_ERR_IO, "%s: read error (%zu of %zu bytes)", path, got,
                            size);
    }
    df_status status = df_image_decode(bytes, size, max_pixels, out, error);
    free(bytes);
    if (status != DF_OK)
        df_error_prefix(error, "%s: ", path);
    return status;
}

/* ------------------------------------------------------------------------ */

static df_status check_image(const df_image *image, df_error *error)
{
    if (!image || !image->pixels || image->width < 1 || image->height < 1 ||
        image->width > DF_IMAGE_MAX_SIDE || image->height > DF_IMAGE_MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "invalid image (%dx%d, pixels %s; sides must be 1..%d)",
                            image ? image->width : 0, image ? image->height : 0,
                            image && image->pixels ? "set" : "missing", DF_IMAGE_MAX_SIDE);
    return DF_OK;
}

df_status df_image_encode(const df_image *image, df_image_format format, int quality,
                          const char *parameters, unsigned char **out, size_t *out_size,
                          df_error *error)
{
    if (!out || !out_size)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "no output buffer");
    *out = NULL;
    *out_size = 0;
    df_status status = check_image(image, error);
    if (status != DF_OK)
        return status;
    size_t bad;
    if (parameters && !df_image_utf8_valid(parameters, strlen(parameters), &bad))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "parameters text is not valid UTF-8 (byte offset %zu)", bad);
    if (format == DF_IMAGE_PNG) {
        if (quality < 0 || quality > DF_IMAGE_QUALITY_LOSSLESS)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "quality %d out of range (0..%d)", quality,
                                DF_IMAGE_QUALITY_LOSSLESS);
        return df_image_png_encode(image, parameters, out, out_size, error);
    }
    if (format != DF_IMAGE_JPEG && format != DF_IMAGE_WEBP)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "unknown image format %d",
                            (int)format);
    int max_quality = format == DF_IMAGE_WEBP ? DF_IMAGE_QUALITY_LOSSLESS : 100;
    if (quality < 0 || quality > max_quality)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s quality %d out of range (0 for the default, 1..100%s)",
                            format == DF_IMAGE_JPEG ? "JPEG" : "WebP", quality,
                            format == DF_IMAGE_WEBP ? ", 101 for lossless" : "");
    if (quality == DF_IMAGE_QUALITY_DEFAULT)
        quality = 80;
    uint8_t *exif = NULL;
    size_t exif_size = 0;
    if (parameters) {
        status = df_image_make_exif(parameters, &exif, &exif_size, error);
        if (status != DF_OK)
            return status;
    }
    if (format == DF_IMAGE_JPEG)
        status = df_image_jpeg_encode(image, quality, exif, exif_size, out, out_size, error);
    else
        status = df_image_webp_encode(image, quality, exif, exif_size, out, out_size, error);
    free(exif);
    return status;
}

df_status df_image_format_from_path(const char *path, df_image_format *out, df_error *error)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *dot = path ? strrchr(slash ? slash : path, '.') : NULL;
    if (dot && strcasecmp(dot, ".png") == 0)
        *out = DF_IMAGE_PNG;
    else if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
        *out = DF_IMAGE_JPEG;
    else if (dot && strcasecmp(dot, ".webp") == 0)
        *out = DF_IMAGE_WEBP;
    else
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: unknown image extension \"%s\" (use .png, .jpg, .jpeg or "
                            ".webp)",
                            path ? path : "(null)", dot ? dot : "");
    return DF_OK;
}

/* df_image_write and df_image_write_private: `shared` gives the file the
 * usual 0666 & ~umask, else it keeps mkstemp's 0600 & ~umask. */
static df_status write_image(const char *path, const df_image *image, int quality,
                             const char *parameters, int shared, df_error *error)
{
    df_image_format format;
    df_status status = df_image_format_from_path(path, &format, error);
    if (status != DF_OK)
        return status;
    unsigned char *bytes = NULL;
    size_t size = 0;
    status = df_image_encode(image, format, quality, parameters, &bytes, &size, error);
    if (status != DF_OK)
        return df_error_prefix(error, "%s: ", path);

    /* A temporary in the same directory (rename is atomic only within a
     * file system), made with mkstemp so concurrent writers do not collide. */
    size_t path_length = strlen(path);
    char *temporary = malloc(path_length + 16);
    if (!temporary) {
        free(bytes);
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: no memory", path);
    }
    memcpy(temporary, path, path_length);
    memcpy(temporary + path_length, ".tmp-XXXXXX", 12);
    int fd = mkstemp(temporary);
    if (fd < 0) {
        status = df_error_set(error, DF_ERR_IO, "%s: cannot create a file there: %s", path,
                              strerror(errno));
        free(temporary);
        free(bytes);
        return status;
    }
    /* mkstemp makes the file 0600; an image should get the usual 0666 & ~umask. */
    if (shared) {
        mode_t mask = umask(0);
        umask(mask);
        (void)fchmod(fd, 0666 & ~mask);
    }
    size_t written = 0;
    while (written < size) {
        ssize_t n = write(fd, bytes + written, size - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            status = df_error_set(error, DF_ERR_IO, "%s: write failed: %s", path,
                                  n < 0 ? strerror(errno) : "no progress");
            break;
        }
        written += (size_t)n;
    }
    if (close(fd) != 0 && status == DF_OK)
        status = df_error_set(error, DF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (status == DF_OK && rename(temporary, path) != 0)
        status = df_error_set(error, DF_ERR_IO, "%s: cannot rename the finished file into "
                              "place: %s", path, strerror(errno));
    if (status != DF_OK)
        unlink(temporary);
    free(temporary);
    free(bytes);
    return status;
}

df_status df_image_write(const char *path, const df_image *image, int quality,
                         const char *parameters, df_error *error)
{
    return write_image(path, image, quality, parameters, 1, error);
}

df_status df_image_write_private(const char *path, const df_image *image, int quality,
                                 const char *parameters, df_error *error)
{
    return write_image(path, image, quality, parameters, 0, error);
}

/* ------------------------------------------------------------------------ */

void df_image_to_tensor(const df_image *image, float *tensor, int index)
{
    size_t plane = (size_t)image->width * (size_t)image->height;
    float *base = tensor + (size_t)index * 3 * plane;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            /* float32 as numpy: astype(float32) / 255.0, then 2.0 * x - 1.0 */
            float v = (float)image->pixels[3 * i + (size_t)c] / 255.0f;
            base[(size_t)c * plane + i] = 2.0f * v - 1.0f;
        }
}

df_status df_image_from_tensor(const float *tensor, int index, int width, int height,
                               df_image *out, df_error *error)
{
    df_status status = df_image_create(width, height, out, error);
    if (status != DF_OK)
        return status;
    size_t plane = (size_t)width * (size_t)height;
    const float *base = tensor + (size_t)index * 3 * plane;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) {
            /* Each step rounds to float32, as torch and numpy do: the
             * volatiles stop GCC fusing x * 0.5 + 0.5 into an FMA (gnu11
             * defaults to -ffp-contract=fast). rintf rounds half to even,
             * as numpy's round does. */
            volatile float scaled = base[(size_t)c * plane + i] * 0.5f;
            float v = scaled + 0.5f;
            if (!(v >= 0.0f))
                v = 0.0f; /* also NaN */
            else if (v > 1.0f)
                v = 1.0f;
            volatile float level = v * 255.0f;
            out->pixels[3 * i + (size_t)c] = (uint8_t)rintf(level);
        }
    return DF_OK;
}
