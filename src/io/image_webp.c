/*
 * image_webp.c — WebP through libwebp, from and to memory.
 *
 * libwebp returns errors as values (no longjmp). Its output buffers are
 * freed with WebPFree, so encoded bytes are copied into a malloc'ed buffer
 * the caller frees with free(). The EXIF chunk is added by writing the
 * extended (VP8X) RIFF container by hand: a VP8X header, the image chunk
 * libwebp produced, then EXIF — the layout the container spec requires and
 * piexif.insert produces.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

#include "io/image_internal.h"
#include "runtime/error.h"

static const char *webp_status_text(VP8StatusCode code)
{
    switch (code) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated data";
    }
    return "unknown error";
}

df_status df_image_webp_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                               df_error *error)
{
    WebPBitstreamFeatures features;
    VP8StatusCode code = WebPGetFeatures(bytes, size, &features);
    if (code != VP8_STATUS_OK)
        return df_error_set(error,
                            code == VP8_STATUS_OUT_OF_MEMORY ? DF_ERR_NO_MEMORY : DF_ERR_FORMAT,
                            "WebP: %s (reading the header)", webp_status_text(code));
    if (features.has_animation)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "WebP: animated images are not supported as input (%dx%d)",
                            features.width, features.height);
    df_status status = df_image_check_size("WebP", (uint64_t)(int64_t)features.width,
                                           (uint64_t)(int64_t)features.height, max_pixels,
                                           error);
    if (status != DF_OK)
        return status;
    size_t row_bytes = (size_t)features.width * 3;
    size_t total = row_bytes * (size_t)features.height;
    uint8_t *pixels = malloc(total);
    if (!pixels)
        return df_error_set(error, DF_ERR_NO_MEMORY, "WebP: no memory for %dx%d pixels",
                            features.width, features.height);
    /* RGB output drops alpha, as convert("RGB") does. */
    if (!WebPDecodeRGBInto(bytes, size, pixels, total, (int)row_bytes)) {
        free(pixels);
        /* WebPDecodeRGBInto gives no reason; the full decoder call does. */
        WebPDecoderConfig config;
        const char *reason = "corrupt or truncated image data";
        if (WebPInitDecoderConfig(&config)) {
            config.output.colorspace = MODE_RGB;
            VP8StatusCode detail = WebPDecode(bytes, size, &config);
            if (detail != VP8_STATUS_OK)
                reason = webp_status_text(detail);
            WebPFreeDecBuffer(&config.output);
        }
        return df_error_set(error, DF_ERR_FORMAT, "WebP: decoding failed: %s", reason);
    }
    out->width = features.width;
    out->height = features.height;
    out->pixels = pixels;
    return DF_OK;
}

static void webp_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void webp_put_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

df_status df_image_webp_encode(const df_image *image, int quality, const uint8_t *exif,
                               size_t exif_size, unsigned char **out, size_t *out_size,
                               df_error *error)
{
    uint8_t *encoded = NULL;
    size_t encoded_size;
    int stride = image->width * 3;
    if (quality == DF_IMAGE_QUALITY_LOSSLESS)
        encoded_size = WebPEncodeLosslessRGB(image->pixels, image->width, image->height, stride,
                                             &encoded);
    else
        encoded_size = WebPEncodeRGB(image->pixels, image->width, image->height, stride,
                                     (float)quality, &encoded);
    if (encoded_size == 0 || !encoded) {
        WebPFree(encoded);
        return df_error_set(error, DF_ERR_INTERNAL, "WebP: encoding a %dx%d image failed",
                            image->width, image->height);
    }
    /* libwebp writes the simple format: RIFF size WEBP, then one VP8/VP8L
     * chunk. */
    if (encoded_size < 20 || memcmp(encoded, "RIFF", 4) != 0 ||
        memcmp(encoded + 8, "WEBP", 4) != 0 || memcmp(encoded + 12, "VP8X", 4) == 0) {
        WebPFree(encoded);
        return df_error_set(error, DF_ERR_INTERNAL, "WebP: unexpected encoder output layout");
    }
    const uint8_t *image_chunk = encoded + 12;
    size_t image_chunk_size = encoded_size - 12;
    size_t total = exif ? 12 + 18 + image_chunk_size + 8 + exif_size + (exif_size & 1)
                        : encoded_size;
    if (total - 8 > UINT32_MAX) {
        WebPFree(encoded);
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "WebP: parameters too long");
    }
    uint8_t *buffer = malloc(total);
    if (!buffer) {
        WebPFree(encoded);
        return df_error_set(error, DF_ERR_NO_MEMORY, "WebP: no memory for %zu bytes", total);
    }
    if (!exif) {
        memcpy(buffer, encoded, encoded_size);
    } else {
        uint8_t *p = buffer;
        memcpy(p, "RIFF", 4);
        webp_put_le32(p + 4, (uint32_t)(total - 8));
        memcpy(p + 8, "WEBP", 4);
        p += 12;
        memcpy(p, "VP8X", 4);
        webp_put_le32(p + 4, 10);
        p[8] = 0x08; /* EXIF present; no alpha, ICC, XMP or animation */
        p[9] = p[10] = p[11] = 0;
        webp_put_le24(p + 12, (uint32_t)image->width - 1);
        webp_put_le24(p + 15, (uint32_t)image->height - 1);
        p += 18;
        memcpy(p, image_chunk, image_chunk_size);
        p += image_chunk_size;
        memcpy(p, "EXIF", 4);
        webp_put_le32(p + 4, (uint32_t)exif_size);
        memcpy(p + 8, exif, exif_size);
        p += 8 + exif_size;
        if (exif_size & 1)
            *p = 0; /* chunks are padded to an even size */
    }
    WebPFree(encoded);
    *out = buffer;
    *out_size = total;
    return DF_OK;
}
