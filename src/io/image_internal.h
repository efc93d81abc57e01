/*
 * image_internal.h — what the image codec files (image_png.c, image_jpeg.c,
 * image_webp.c, image_meta.c) share with image.c. Not public.
 *
 * Decoders receive the size limit already resolved (max_pixels > 0) and must
 * check the header's dimensions with df_image_check_size before allocating
 * pixels. Encoders get a validated image and quality, and return a malloc'ed
 * buffer the caller owns.
 */
#ifndef DF_IO_IMAGE_INTERNAL_H
#define DF_IO_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "io/image.h"

/* DF_ERR_UNSUPPORTED naming the size when it is over max_pixels or
 * DF_IMAGE_MAX_SIDE, DF_ERR_FORMAT when a side is 0. */
df_status df_image_check_size(const char *format, uint64_t width, uint64_t height,
                              int max_pixels, df_error *error);

df_status df_image_png_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                              df_error *error);
df_status df_image_jpeg_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                               df_error *error);
df_status df_image_webp_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                               df_error *error);

/* `parameters`: NULL or valid UTF-8 (checked by the caller). `exif`: NULL or
 * a TIFF block to store (JPEG, WebP). */
df_status df_image_png_encode(const df_image *image, const char *parameters, unsigned char **out,
                              size_t *out_size, df_error *error);
df_status df_image_jpeg_encode(const df_image *image, int quality, const uint8_t *exif,
                               size_t exif_size, unsigned char **out, size_t *out_size,
                               df_error *error);
df_status df_image_webp_encode(const df_image *image, int quality, const uint8_t *exif,
                               size_t exif_size, unsigned char **out, size_t *out_size,
                               df_error *error);

/* --- metadata (image_meta.c) --- */

/* The TIFF block of the image's EXIF (JPEG APP1, PNG eXIf, WebP EXIF), the
 * "Exif\0\0" prefix removed; *tiff = NULL when there is none or the
 * container cannot be walked (decoding reports that, not this). */
void df_image_find_exif(const uint8_t *bytes, size_t size, const uint8_t **tiff,
                        size_t *tiff_size);

/* EXIF orientation 1..8 from a TIFF block; 1 when absent or invalid. */
int df_image_exif_orientation(const uint8_t *tiff, size_t size);

/* Applies an EXIF orientation (2..8) as PIL's ImageOps.exif_transpose. */
df_status df_image_apply_orientation(df_image *image, int orientation, df_error *error);

/* The TIFF block piexif.dump writes for a UserComment of `text` (UTF-8):
 * malloc'ed, caller frees. */
df_status df_image_make_exif(const char *text, uint8_t **out, size_t *out_size, df_error *error);

/* 1 when `text` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF);
 * otherwise 0 and *bad_offset is the first bad byte. */
int df_image_utf8_valid(const char *text, size_t length, size_t *bad_offset);

/* Decodes one UTF-8 sequence of valid text at *p; advances *p. */
uint32_t df_image_utf8_next(const unsigned char **p);

#endif
