/*
 * image_png.c — PNG through libpng, from and to memory.
 *
 * libpng reports errors by longjmp. The pattern here: everything that must
 * be freed lives in a state struct in the caller's frame; a separate function
 * does the setjmp and all the libpng calls, so no local of the function that
 * called setjmp is read after the jump; the caller releases the state whether
 * the inner function returned normally or by longjmp. Warnings are ignored
 * (libpng's default prints them). Text, ICC and EXIF chunks are skipped when
 * decoding: metadata is read by image_meta.c and decoding needs none of it.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_internal.h"
#include "runtime/error.h"

typedef struct png_state {
    png_structp png;
    png_infop info;
    char message[256]; /* the libpng error message, set before the longjmp */
    /* decode */
    const uint8_t *input;
    size_t input_size, input_offset;
    uint8_t *row;      /* one RGBA/RGB row as libpng gives it (4 channels max) */
    uint8_t *pixels;   /* RGB8 result */
    int max_pixels;
    df_error *error;   /* a size error is written here before the longjmp */
    df_status status;  /* status when the jump was ours, not libpng's */
    /* encode */
    unsigned char *output;
    size_t output_size, output_capacity;
    png_textp text;
    char *text_latin1;
} png_state;

static void png_state_error(png_structp png, png_const_charp message)
{
    png_state *state = png_get_error_ptr(png);
    snprintf(state->message, sizeof state->message, "%s", message ? message : "error");
    png_longjmp(png, 1);
}

static void png_state_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

static void png_read_memory(png_structp png, png_bytep data, png_size_t length)
{
    png_state *state = png_get_io_ptr(png);
    if (length > state->input_size - state->input_offset)
        png_error(png, "truncated data (the file ends inside a chunk)");
    memcpy(data, state->input + state->input_offset, length);
    state->input_offset += length;
}

/* Returns 0 after a normal decode, 1 after a longjmp (state->message set). */
static int png_decode_inner(png_state *state, df_image *out)
{
    if (setjmp(png_jmpbuf(state->png)))
        return 1;
    png_structp png = state->png;
    png_infop info = state->info;
    png_set_read_fn(png, state, png_read_memory);
    png_set_user_limits(png, DF_IMAGE_MAX_SIDE, DF_IMAGE_MAX_SIDE);
    static const png_byte skipped[] = "tEXt\0zTXt\0iTXt\0iCCP\0eXIf\0sPLT\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, 6);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    state->status = df_image_check_size("PNG", width, height, state->max_pixels, state->error);
    if (state->status != DF_OK)
        return 0;

    /* convert("RGB"): palette/gray/low depth expanded, tRNS to an alpha
     * channel that is then dropped, 16-bit reduced to the high byte (PIL's
     * "RGB;16B" unpacker keeps the most significant byte, as strip_16). */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8)
        png_error(png, "unexpected pixel layout after conversion");

    size_t row_bytes = (size_t)width * 3;
    state->pixels = malloc(row_bytes * height);
    if (!state->pixels) {
        state->status = df_error_set(state->error, DF_ERR_NO_MEMORY,
                                     "PNG: no memory for %ux%u pixels", (unsigned)width,
                                     (unsigned)height);
        return 0;
    }
    /* Interlaced images need the whole image for every pass; rows of the
     * result buffer serve as the rows. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++)
            png_read_row(png, state->pixels + row_bytes * y, NULL);
    png_read_end(png, NULL);
    out->width = (int)width;
    out->height = (int)height;
    out->pixels = state->pixels;
    state->pixels = NULL;
    return 0;
}

df_status df_image_png_decode(const uint8_t *bytes, size_t size, int max_pixels, df_image *out,
                              df_error *error)
{
    /* The size check from IHDR (at a fixed offset) comes before libpng sees
     * the file, so an oversized header gets our message, not libpng's. */
    if (size >= 24 && memcmp(bytes + 12, "IHDR", 4) == 0) {
        uint32_t width = (uint32_t)bytes[16] << 24 | (uint32_t)bytes[17] << 16 |
                         (uint32_t)bytes[18] << 8 | bytes[19];
        uint32_t height = (uint32_t)bytes[20] << 24 | (uint32_t)bytes[21] << 16 |
                          (uint32_t)bytes[22] << 8 | bytes[23];
        df_status status = df_image_check_size("PNG", width, height, max_pixels, error);
        if (status != DF_OK)
            return status;
    }
    png_state state = {.input = bytes, .input_size = size, .max_pixels = max_pixels,
                       .error = error, .status = DF_OK};
    state.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_state_error,
                                       png_state_warning);
    if (state.png)
        state.info = png_create_info_struct(state.png);
    if (!state.png || !state.info) {
        png_destroy_read_struct(state.png ? &state.png : NULL, NULL, NULL);
        return df_error_set(error, DF_ERR_NO_MEMORY, "PNG: no memory for the decoder");
    }
    int jumped = png_decode_inner(&state, out);
    png_destroy_read_struct(&state.png, &state.info, NULL);
    free(state.pixels);
    if (jumped) {
        df_status status = strstr(state.message, "ut of memory") ? DF_ERR_NO_MEMORY
                                                                 : DF_ERR_FORMAT;
        return df_error_set(error, status, "PNG: %s", state.message);
    }
    return state.status;
}

/* ------------------------------------------------------------------------ */

static void png_write_memory(png_structp png, png_bytep data, png_size_t length)
{
    png_state *state = png_get_io_ptr(png);
    if (length > state->output_capacity - state->output_size) {
        size_t capacity = state->output_capacity ? state->output_capacity : 65536;
        while (capacity - state->output_size < length) {
            if (capacity > SIZE_MAX / 2)
                png_error(png, "out of memory");
            capacity *= 2;
        }
        unsigned char *grown = realloc(state->output, capacity);
        if (!grown)
            png_error(png, "out of memory");
        state->output = grown;
        state->output_capacity = capacity;
    }
    memcpy(state->output + state->output_size, data, length);
    state->output_size += length;
}

static void png_flush_memory(png_structp png)
{
    (void)png;
}

/* The parameters as PIL's add_text stores them: tEXt when the text is
 * Latin-1 (every code point < 256), otherwise iTXt. Allocations go into the
 * state so the caller frees them after a longjmp too. */
static int png_prepare_text(png_state *state, const char *parameters)
{
    size_t length = strlen(parameters);
    state->text = calloc(1, sizeof *state->text);
    state->text_latin1 = malloc(length + 1);
    if (!state->text || !state->text_latin1)
        return 0;
    const unsigned char *p = (const unsigned char *)parameters;
    size_t n = 0;
    int latin1 = 1;
    while (*p) {
        uint32_t c = df_image_utf8_next(&p);
        if (c > 0xff) {
            latin1 = 0;
            break;
        }
        state->text_latin1[n++] = (char)c;
    }
    state->text_latin1[n] = 0;
    state->text->key = (png_charp) "parameters";
    if (latin1) {
        state->text->compression = PNG_TEXT_COMPRESSION_NONE;
        state->text->text = state->text_latin1;
        state->text->text_length = n;
    } else {
        state->text->compression = PNG_ITXT_COMPRESSION_NONE;
        state->text->text = (png_charp)parameters;
        state->text->itxt_length = length;
        state->text->lang = (png_charp) "";
        state->text->lang_key = (png_charp) "";
    }
    return 1;
}

static int png_encode_inner(png_state *state, const df_image *image)
{
    if (setjmp(png_jmpbuf(state->png)))
        return 1;
    png_structp png = state->png;
    png_infop info = state->info;
    png_set_write_fn(png, state, png_write_memory, png_flush_memory);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (state->text)
        png_set_text(png, info, state->text, 1);
    png_write_info(png, info);
    size_t row_bytes = (size_t)image->width * 3;
    for (int y = 0; y < image->height; y++)
        png_write_row(png, image->pixels + row_bytes * (size_t)y);
    png_write_end(png, info);
    return 0;
}

df_status df_image_png_encode(const df_image *image, const char *parameters, unsigned char **out,
                              size_t *out_size, df_error *error)
{
    png_state state = {.status = DF_OK};
    if (parameters && !png_prepare_text(&state, parameters)) {
        free(state.text);
        free(state.text_latin1);
        return df_error_set(error, DF_ERR_NO_MEMORY, "PNG: no memory for the text chunk");
    }
    state.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, png_state_error,
                                        png_state_warning);
    if (state.png)
        state.info = png_create_info_struct(state.png);
    df_status status = DF_OK;
    if (!state.png || !state.info) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "PNG: no memory for the encoder");
    } else if (png_encode_inner(&state, image)) {
        status = df_error_set(error,
                              strstr(state.message, "ut of memory") ? DF_ERR_NO_MEMORY
                                                                    : DF_ERR_INTERNAL,
                              "PNG: encoding failed: %s", state.message);
    }
    png_destroy_write_struct(state.png ? &state.png : NULL, state.info ? &state.info : NULL);
    free(state.text);
    free(state.text_latin1);
    if (status != DF_OK) {
        free(state.output);
        return status;
    }
    *out = state.output;
    *out_size = state.output_size;
    return DF_OK;
}
