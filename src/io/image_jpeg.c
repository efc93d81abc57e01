/*
 * image_jpeg.c — JPEG through libjpeg(-turbo), from and to memory.
 *
 * libjpeg's default error_exit calls exit() and its output_message prints:
 * both are replaced. error_exit formats the message and longjmps back; as in
 * image_png.c, everything to free lives in a state struct in the caller's
 * frame and the setjmp is in a separate function. Warnings are ignored as
 * PIL ignores them, except "premature end of data" (a truncated file, which
 * libjpeg would silently pad with gray): that is an error, as in PIL.
 * Decoding uses libjpeg's defaults (islow IDCT, fancy upsampling), which is
 * what PIL uses, so pixels match PIL's.
 */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "io/image_internal.h"
#include "runtime/error.h"

/* A progressive file can have any number of scans, each a full pass over
 * the coefficients; corrupt files use this to take minutes. libjpeg-turbo
 * suggests a limit; real encoders use about 10. */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_state {
    struct jpeg_error_mgr manager; /* first: libjpeg passes &manager as cinfo->err */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;
    struct jpeg_progress_mgr progress;
    /* decode */
    struct jpeg_decompress_struct decompress;
    int decompress_created;
    uint8_t *pixels;
    uint8_t *row; /* CMYK row */
    /* encode */
    struct jpeg_compress_struct compress;
    int compress_created;
    struct jpeg_destination_mgr destination;
    unsigned char *output;
    size_t output_capacity;
} jpeg_state;

static void jpeg_state_error_exit(j_common_ptr cinfo)
{
    jpeg_state *state = (jpeg_state *)cinfo->err;
    cinfo->err->format_message(cinfo, state->message);
    longjmp(state->jump, 1);
}

static void jpeg_state_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void jpeg_state_emit_message(j_common_ptr cinfo, int level)
{
    jpeg_state *state = (jpeg_state *)cinfo->err;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF)
            state->truncated = 1;
    }
}

static void jpeg_state_progress(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > JPEG_MAX_SCANS) {
            jpeg_state *state = (jpeg_state *)cinfo->err;
            snprintf(state->message, sizeof state->message,
                     "more than %d progressive scans (a damaged or hostile file)",
                     JPEG_MAX_SCANS);
            longjmp(state->jump, 1);
        }
    }
}

static void jpeg_state_init_errors(jpeg_state *state)
{
    jpeg_std_error(&state->manager);
    state->manager.error_exit = jpeg_state_error_exit;
    state->manager.output_message = jpeg_state_output_message;
    state->manager.emit_message = jpeg_state_emit_message;
    state->progress.progress_monitor = jpeg_state_progress;
}

/* PIL's cmyk2rgb: channel * (255 - k) / 255, rounded with MULDIV255. */
static uint8_t jpeg_muldiv255(unsigned a, unsigned b)
{
    unsigned tmp = a * b + 128;
    return (uint8_t)(((tmp >> 8) + tmp) >> 8);
}

static int jpeg_decode_inner(jpeg_state *state, const uint8_t *bytes, size_t size,
                             int max_pixels, df_image *out, df_error *error, df_status *status)
{
    if (setjmp(state->jump))
        return 1;
    struct jpeg_decompress_struct *d = &state->decompress;
    d->err = &state->manager;
    jpeg_create_decompress(d);
    state->decompress_created = 1;
    d->progress = &state->progress;
    jpeg_mem_src(d, bytes, (unsigned long)size);
    jpeg_read_header(d, TRUE);
    if (state->truncated) {
        snprintf(state->message, sizeof state->message, "truncated data (no image found)");
        return 1;
    }
    *status = df_image_check_size("JPEG", d->image_width, d->image_height, max_pixels, error);
    if (*status != DF_OK)
        return 0;

    int cmyk = d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK;
    /* Photoshop's Adobe-marked CMYK files store inverted values; PIL reads
     * them as "CMYK;I". */
    int inverted = cmyk && d->saw_Adobe_marker;
    d->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(d);
    int width = (int)d->output_width, height = (int)d->output_height;
    if (d->output_components != (cmyk ? 4 : 3)) {
        snprintf(state->message, sizeof state->message, "unexpected %d output components",
                 d->output_components);
        return 1;
    }
    size_t row_bytes = (size_t)width * 3;
    state->pixels = malloc(row_bytes * (size_t)height);
    if (cmyk)
        state->row = malloc((size_t)width * 4);
    if (!state->pixels || (cmyk && !state->row)) {
        *status = df_error_set(error, DF_ERR_NO_MEMORY, "JPEG: no memory for %dx%d pixels",
                               width, height);
        return 0;
    }
    while (d->output_scanline < d->output_height) {
        uint8_t *target = state->pixels + row_bytes * d->output_scanline;
        JSAMPROW row = cmyk ? state->row : target;
        if (jpeg_read_scanlines(d, &row, 1) != 1)
            break;
        if (cmyk) {
            for (int x = 0; x < width; x++) {
                unsigned c = state->row[4 * x], m = state->row[4 * x + 1];
                unsigned yl = state->row[4 * x + 2], k = state->row[4 * x + 3];
                if (inverted) {
                    c = 255 - c;
                    m = 255 - m;
                    yl = 255 - yl;
                    k = 255 - k;
                }
                unsigned nk = 255 - k;
                target[3 * x] = (uint8_t)(nk - jpeg_muldiv255(c, nk));
                target[3 * x + 1] = (uint8_t)(nk - jpeg_muldiv255(m, nk));
                target[3 * x + 2] = (uint8_t)(nk - jpeg_muldiv255(yl, nk));
            }
        }
        if (state->truncated)
            break;
    }
    if (state->truncated || d->output_scanline < d->output_height) {
        snprintf(state->message, sizeof state->message,
                 "truncated data (image data ends at row %u of %u)", d->output_scanline,
                 d->output_height);
        return 1;
    }
    jpeg_finish_decompress(d);
    out->width = width;
    out->height = height;
    out->pixels = state->pixels;
    state->pixels = NULL;
    return 0;
}

df_status df_image_jpeg_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                               df_error *error)
{
    jpeg_state *state = calloc(1, sizeof *state);
    if (!state)
        return df_error_set(error, DF_ERR_NO_MEMORY, "JPEG: no memory for the decoder");
    jpeg_state_init_errors(state);
    df_status status = DF_OK;
    if (jpeg_decode_inner(state, bytes, size, max_pixels, out, error, &status)) {
        df_status kind = state->manager.msg_code == JERR_OUT_OF_MEMORY ? DF_ERR_NO_MEMORY
                                                                      : DF_ERR_FORMAT;
        status = df_error_set(error, kind, "JPEG: %s", state->message);
    }
    if (state->decompress_created)
        jpeg_destroy_decompress(&state->decompress);
    free(state->pixels);
    free(state->row);
    free(state);
    return status;
}

/* ------------------------------------------------------------------------ */
/* A growing memory destination that we own: jpeg_mem_dest's buffer can
 * leak when compression fails half-way, this one is freed with the state. */

static void jpeg_destination_init(j_compress_ptr cinfo)
{
    jpeg_state *state = (jpeg_state *)cinfo->err;
    state->output_capacity = 65536;
    state->output = malloc(state->output_capacity);
    if (!state->output)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    state->destination.next_output_byte = state->output;
    state->destination.free_in_buffer = state->output_capacity;
}

static boolean jpeg_destination_empty(j_compress_ptr cinfo)
{
    /* Called only when the buffer is full. */
    jpeg_state *state = (jpeg_state *)cinfo->err;
    size_t used = state->output_capacity;
    if (used > SIZE_MAX / 2)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    unsigned char *grown = realloc(state->output, used * 2);
    if (!grown)
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    state->output = grown;
    state->output_capacity = used * 2;
    state->destination.next_output_byte = grown + used;
    state->destination.free_in_buffer = used;
    return TRUE;
}

static void jpeg_destination_term(j_compress_ptr cinfo)
{
    (void)cinfo;
}

static int jpeg_encode_inner(jpeg_state *state, const df_image *image, int quality,
                             const uint8_t *exif, size_t exif_size)
{
    if (setjmp(state->jump))
        return 1;
    struct jpeg_compress_struct *c = &state->compress;
    c->err = &state->manager;
    jpeg_create_compress(c);
    state->compress_created = 1;
    state->destination.init_destination = jpeg_destination_init;
    state->destination.empty_output_buffer = jpeg_destination_empty;
    state->destination.term_destination = jpeg_destination_term;
    c->dest = &state->destination;
    c->image_width = (JDIMENSION)image->width;
    c->image_height = (JDIMENSION)image->height;
    c->input_components = 3;
    c->in_color_space = JCS_RGB;
    /* Defaults: YCbCr with 2x2 (4:2:0) chroma subsampling, standard Huffman
     * tables, JFIF APP0 — PIL's defaults too. */
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    jpeg_start_compress(c, TRUE);
    if (exif) {
        /* After the JFIF APP0, where piexif.insert puts it. */
        static const uint8_t prefix[6] = {'E', 'x', 'i', 'f', 0, 0};
        jpeg_write_m_header(c, JPEG_APP0 + 1, (unsigned)(sizeof prefix + exif_size));
        for (size_t i = 0; i < sizeof prefix; i++)
            jpeg_write_m_byte(c, prefix[i]);
        for (size_t i = 0; i < exif_size; i++)
            jpeg_write_m_byte(c, exif[i]);
    }
    size_t row_bytes = (size_t)image->width * 3;
    while (c->next_scanline < c->image_height) {
        JSAMPROW row = (JSAMPROW)(image->pixels + row_bytes * c->next_scanline);
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
    return 0;
}

df_status df_image_jpeg_encode(const df_image *image, int quality, const uint8_t *exif,
                               size_t exif_size, unsigned char **out, size_t *out_size,
                               df_error *error)
{
    if (exif && exif_size + 6 > 65533)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "JPEG: parameters too long for the EXIF segment (%zu bytes of "
                            "EXIF; a JPEG segment holds at most 65527)",
                            exif_size);
    jpeg_state *state = calloc(1, sizeof *state);
    if (!state)
        return df_error_set(error, DF_ERR_NO_MEMORY, "JPEG: no memory for the encoder");
    jpeg_state_init_errors(state);
    df_status status = DF_OK;
    if (jpeg_encode_inner(state, image, quality, exif, exif_size)) {
        status = df_error_set(error,
                              state->manager.msg_code == JERR_OUT_OF_MEMORY ? DF_ERR_NO_MEMORY
                                                                            : DF_ERR_INTERNAL,
                              "JPEG: encoding failed: %s", state->message);
    } else {
        *out = state->output;
        *out_size = state->output_capacity - state->destination.free_in_buffer;
        state->output = NULL;
    }
    if (state->compress_created)
        jpeg_destroy_compress(&state->compress);
    free(state->output);
    free(state);
    return status;
}
