/*
 * image.h — image files in and out: decoding init images (PNG, JPEG, WebP)
 * to RGB8, encoding results (PNG, JPEG, WebP) with AUTOMATIC1111's
 * "parameters" text, Lanczos resizing as PIL does it, and conversion between
 * RGB8 and the [-1, 1] float tensors the VAE takes and gives.
 *
 * Invariants: a df_image that a call here filled has width, height >= 1 and
 * owns width * height * 3 bytes of pixels; on failure the output image is
 * left empty ({0, 0, NULL}), so df_image_free is always safe. No call prints,
 * exits or aborts on bad input: libpng/libjpeg errors come back as df_status
 * with a message naming the format and the problem.
 *
 * Decoding follows diffusers' load_image (what A1111 does for init images is
 * the same apart from alpha): EXIF orientation is applied (as
 * ImageOps.exif_transpose), then convert("RGB"), which DROPS alpha (no
 * compositing on a background), expands palette and gray, and takes the high
 * byte of 16-bit samples. One deliberate difference from PIL: PIL clips a
 * 16-bit grayscale PNG to 255 on convert("RGB") (an all-white image for most
 * inputs); we take the high byte, as for 16-bit colour.
 */
#ifndef DF_IO_IMAGE_H
#define DF_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "diffuse.h"

typedef struct df_image {
    int width, height;
    uint8_t *pixels; /* RGB8, row-major, width * height * 3 bytes; owned, free with df_image_free */
} df_image;

/* Frees the pixels and empties the image; NULL and empty images are fine. */
void df_image_free(df_image *image);

/* A new black image (malloc'ed pixels, zeroed). */
df_status df_image_create(int width, int height, df_image *out, df_error *error);

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

/* Largest side we decode or create, whatever max_pixels allows. */
#define DF_IMAGE_MAX_SIDE 16384
/* max_pixels <= 0 in the calls below means this many (4096 x 4096). */
#define DF_IMAGE_DEFAULT_MAX_PIXELS (4096 * 4096)
/* Largest file df_image_read loads. */
#define DF_IMAGE_MAX_FILE_BYTES (64u << 20)

/* Decodes a PNG, JPEG or WebP held in memory; the format is found from the
 * magic bytes (anything else: DF_ERR_UNSUPPORTED naming what it looks like).
 * The size is checked against max_pixels and DF_IMAGE_MAX_SIDE from the
 * header, before any pixel buffer is allocated or pixel data decoded (a
 * decompression-bomb guard; DF_ERR_UNSUPPORTED naming the size). Animated
 * WebP is refused (DF_ERR_UNSUPPORTED). `out` owns the pixels on success. */
df_status df_image_decode(const void *bytes, size_t size, int max_pixels, df_image *out,
                          df_error *error);

/* df_image_decode of a file of at most DF_IMAGE_MAX_FILE_BYTES; messages
 * start with the path. */
df_status df_image_read(const char *path, int max_pixels, df_image *out, df_error *error);

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */

typedef enum df_image_format { DF_IMAGE_PNG, DF_IMAGE_JPEG, DF_IMAGE_WEBP } df_image_format;

/* `quality` for the encoders: 0 is the default, 80 for JPEG and lossy WebP
 * (AUTOMATIC1111's "jpeg_quality" default, which it uses for both); 1..100
 * lossy; DF_IMAGE_QUALITY_LOSSLESS means lossless WebP (refused for JPEG).
 * PNG is always lossless and ignores it (any value 0..101 is accepted). */
#define DF_IMAGE_QUALITY_DEFAULT 0
#define DF_IMAGE_QUALITY_LOSSLESS 101

/* Encodes `image` into a new malloc'ed buffer (*out, *out_size; the caller
 * frees it with free()). `parameters` (UTF-8, may be NULL for none) is stored
 * where AUTOMATIC1111 puts it, so its PNG Info tab and our
 * df_image_read_parameters both find it:
 *  - PNG: a "parameters" text chunk as PIL's PngInfo.add_text writes it —
 *    tEXt (Latin-1) when every character is U+0000..U+00FF, otherwise iTXt
 *    (UTF-8, uncompressed, empty language and translated keyword). zlib level
 *    6 (PIL's default compress_level), adaptive filters.
 *  - JPEG: 4:2:0 chroma subsampling and standard Huffman tables (PIL's
 *    defaults), baseline. Parameters in an APP1 Exif segment as piexif.dump +
 *    insert write it: big-endian TIFF, IFD0 with only the Exif IFD pointer,
 *    Exif IFD with UserComment = "UNICODE\0" + UTF-16BE text. The segment is
 *    limited to 64 KB, so text over ~32700 UTF-16 units is refused
 *    (DF_ERR_INVALID_ARGUMENT) rather than silently dropped.
 *  - WebP: lossy (libwebp defaults, method 4) or lossless; parameters in an
 *    EXIF chunk (same TIFF block, without the "Exif\0\0" prefix, as the WebP
 *    container spec says) in an extended (VP8X) container.
 * `parameters` that is not valid UTF-8 is DF_ERR_INVALID_ARGUMENT. */
df_status df_image_encode(const df_image *image, df_image_format format, int quality,
                          const char *parameters, unsigned char **out, size_t *out_size,
                          df_error *error);

/* Encodes and writes to `path`, the format from the extension (.png, .jpg,
 * .jpeg, .webp, any case; other: DF_ERR_INVALID_ARGUMENT listing them). The
 * bytes go to a temporary file in the same directory that is renamed over
 * `path` once complete, so readers never see a half-written file. Messages
 * start with the path. */
df_status df_image_write(const char *path, const df_image *image, int quality,
                         const char *parameters, df_error *error);
/* df_image_write for a file only its owner may read (0600 & ~umask, from
 * the first byte): the server's images, which are its users' pictures. */
df_status df_image_write_private(const char *path, const df_image *image, int quality,
                                 const char *parameters, df_error *error);

/* The format df_image_write would pick for `path`; DF_ERR_INVALID_ARGUMENT
 * for an unknown extension. */
df_status df_image_format_from_path(const char *path, df_image_format *out, df_error *error);

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

/* The "parameters" text of an image, as UTF-8 in a new malloc'ed string
 * (*out_text; the caller frees it), or *out_text = NULL when there is none
 * (not an error). PNG: a tEXt / zTXt / iTXt chunk with keyword "parameters"
 * (the last one wins, as in PIL's info dict; Latin-1 converted to UTF-8).
 * JPEG and WebP: the EXIF UserComment (prefix "UNICODE": UTF-16, big-endian
 * as piexif writes and reads it, unless a BOM or the position of the zero
 * bytes of Latin text says little-endian; "ASCII" or undefined: the bytes,
 * invalid UTF-8 replaced by U+FFFD). Does not decode
 * pixels. DF_ERR_UNSUPPORTED for other formats, DF_ERR_FORMAT for a
 * container too damaged to walk. */
df_status df_image_read_parameters(const void *bytes, size_t size, char **out_text,
                                   df_error *error);

/* ------------------------------------------------------------------------ */
/* Resizing (init images)                                                   */

typedef enum df_image_resize_mode {
    /* Exactly width x height, aspect ratio not kept (diffusers' "default",
     * A1111 "Just resize"). */
    DF_IMAGE_RESIZE_STRETCH = 0,
    /* Scale to cover width x height keeping the aspect ratio, then crop the
     * centre (diffusers' "crop", A1111 "Crop and resize"). */
    DF_IMAGE_RESIZE_CROP,
    /* Scale to fit inside, centre it, fill the bands on the two sides by
     * stretching the image's edge (diffusers' "fill", A1111 "Resize and
     * fill"; the bands use PIL's bicubic, as diffusers' calls do). */
    DF_IMAGE_RESIZE_FILL
} df_image_resize_mode;

/* Resizes with PIL's Image.resize(..., LANCZOS) algorithm (Lanczos-3, the
 * kernel widened by the scale when downscaling, 8-bit fixed-point passes,
 * horizontal first), reproducing its output; the crop and fill geometry is
 * diffusers' VaeImageProcessor._resize_and_crop / _resize_and_fill, integer
 * divisions included (a side that would scale to 0 pixels is kept at 1).
 * Crop computes only the visible part, so a very wide source does not make a
 * huge intermediate. width and height: 1..DF_IMAGE_MAX_SIDE. `out` owns its
 * pixels; `in` and `out` must differ. */
df_status df_image_resize(const df_image *in, int width, int height, df_image_resize_mode mode,
                          df_image *out, df_error *error);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */

/* Writes image `index` of a [batch, 3, height, width] float tensor (`tensor`
 * points at element 0 of the batch) from RGB8 as diffusers'
 * VaeImageProcessor.preprocess does: float32 p / 255, then 2 * v - 1. */
void df_image_to_tensor(const df_image *image, float *tensor, int index);

/* Image `index` of a [batch, 3, height, width] tensor to RGB8, exactly as
 * diffusers' postprocess(output_type="pil"): v = clamp(x * 0.5 + 0.5, 0, 1)
 * in float32, then round(v * 255) half to even (numpy's round). NaN becomes
 * 0. `out` owns the new pixels. */
df_status df_image_from_tensor(const float *tensor, int index, int width, int height,
                               df_image *out, df_error *error);

#endif
