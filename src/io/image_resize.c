/*
 * image_resize.c — Lanczos resizing that reproduces PIL's Image.resize(...,
 * LANCZOS) (Pillow's libImaging/Resample.c), which diffusers'
 * VaeImageProcessor uses for init images.
 *
 * PIL's algorithm, followed step by step so results agree to the level:
 * separable, horizontal pass first, each pass skipped when that axis keeps
 * its size and box; per output sample the kernel lanczos3(x) = sinc(x) *
 * sinc(x / 3) is stretched by max(1, in/out) (antialiasing when
 * downscaling), sampled at pixel centres, normalised to sum 1 in double,
 * then converted to 22-bit fixed point; each pass accumulates in int32 from
 * 0.5 (rounding) and clamps to 0..255, so the intermediate is 8-bit too.
 *
 * Fill mode's edge bands use PIL's BICUBIC, because diffusers calls
 * Image.resize for them without a filter and that is PIL's default.
 *
 * A "window" lets a pass compute only some outputs of a larger virtual
 * output: crop mode asks for the visible part of the scaled-to-cover image,
 * with exactly the coefficients PIL would use for those pixels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_internal.h"
#include "runtime/error.h"

#define RS_PRECISION_BITS (32 - 8 - 2)

static double rs_sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double rs_lanczos(double x)
{
    if (-3.0 <= x && x < 3.0)
        return rs_sinc(x) * rs_sinc(x / 3);
    return 0.0;
}

/* PIL's BICUBIC (a = -0.5): diffusers' fill mode makes its edge bands with
 * Image.resize's default filter, which is this one. */
static double rs_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct rs_filter {
    double (*fn)(double x);
    double support;
} rs_filter;

static const rs_filter rs_lanczos3 = {rs_lanczos, 3.0};
static const rs_filter rs_cubic = {rs_bicubic, 2.0};

/* One axis: outputs [first, first + count) of a virtual output of out_size
 * samples covering input [in0, in1). */
typedef struct rs_axis {
    int need;      /* 0: the axis keeps size and box, the pass is a copy */
    int first, count;
    int ksize;
    int *bounds;   /* per output: first input index, number of taps */
    int32_t *k;    /* per output: ksize fixed-point taps */
} rs_axis;

static void rs_axis_free(rs_axis *a)
{
    free(a->bounds);
    free(a->k);
}

static int rs_axis_init(rs_axis *a, const rs_filter *filter, int in_size, float in0, float in1,
                        int out_size, int first, int count)
{
    memset(a, 0, sizeof *a);
    a->first = first;
    a->count = count;
    a->need = out_size != in_size || in0 != 0.0f || in1 != (float)in_size;
    if (!a->need)
        return 1;
    double scale = (double)(in1 - in0) / out_size, filterscale = scale;
    if (filterscale < 1.0)
        filterscale = 1.0;
    double support = filter->support * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->bounds = malloc(sizeof *a->bounds * 2 * (size_t)count);
    a->k = calloc((size_t)count * (size_t)a->ksize, sizeof *a->k);
    double *w = malloc(sizeof *w * (size_t)a->ksize);
    if (!a->bounds || !a->k || !w) {
        free(w);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = in0 + (xx + 0.5) * scale;
        double total = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        if (xmax > a->ksize) /* cannot happen (PIL's bound); kept for safety */
            xmax = a->ksize;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter->fn((x + xmin - center + 0.5) * ss);
            total += w[x];
        }
        int32_t *k = a->k + (size_t)i * (size_t)a->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = total != 0.0 ? w[x] / total : w[x];
            v *= (1 << RS_PRECISION_BITS);
            k[x] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
        }
        a->bounds[2 * i] = xmin;
        a->bounds[2 * i + 1] = xmax > 0 ? xmax : 0;
    }
    free(w);
    return 1;
}

static uint8_t rs_clip8(int32_t ss)
{
    int32_t v = ss >> RS_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Resamples the window [x.first, +x.count) x [y.first, +y.count) of the
 * virtual output into `out` (x.count * y.count * 3 bytes). */
static df_status rs_window(const df_image *in, const rs_filter *filter, float box[4], int out_w,
                           int out_h, int x0, int wx, int y0, int wy, uint8_t *out,
                           df_error *error)
{
    rs_axis ax, ay;
    int ok = rs_axis_init(&ax, filter, in->width, box[0], box[2], out_w, x0, wx);
    ok = rs_axis_init(&ay, filter, in->height, box[1], box[3], out_h, y0, wy) && ok;
    uint8_t *temp = NULL;
    df_status status = DF_OK;
    if (!ok) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "resize: no memory for coefficients");
        goto done;
    }
    /* Source rows the vertical pass reads. */
    int row0, row1;
    if (ay.need) {
        row0 = ay.bounds[0];
        row1 = ay.bounds[2 * (wy - 1)] + ay.bounds[2 * (wy - 1) + 1];
        for (int i = 0; i < wy; i++) /* bounds are increasing; keep the overall range */
            if (ay.bounds[2 * i] < row0)
                row0 = ay.bounds[2 * i];
        if (row1 < row0)
            row1 = row0;
    } else {
        row0 = y0;
        row1 = y0 + wy;
    }
    size_t temp_row = (size_t)wx * 3;
    temp = malloc(temp_row * (size_t)(row1 - row0 > 0 ? row1 - row0 : 1));
    if (!temp) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "resize: no memory");
        goto done;
    }
    /* Horizontal pass (or a copy of the window's columns). */
    for (int r = row0; r < row1; r++) {
        const uint8_t *src = in->pixels + (size_t)r * (size_t)in->width * 3;
        uint8_t *dst = temp + (size_t)(r - row0) * temp_row;
        if (!ax.need) {
            memcpy(dst, src + (size_t)x0 * 3, temp_row);
            continue;
        }
        for (int i = 0; i < wx; i++) {
            int xmin = ax.bounds[2 * i], taps = ax.bounds[2 * i + 1];
            const int32_t *k = ax.k + (size_t)i * (size_t)ax.ksize;
            int32_t s0 = 1 << (RS_PRECISION_BITS - 1), s1 = s0, s2 = s0;
            const uint8_t *p = src + (size_t)xmin * 3;
            for (int t = 0; t < taps; t++) {
                s0 += p[3 * t] * k[t];
                s1 += p[3 * t + 1] * k[t];
                s2 += p[3 * t + 2] * k[t];
            }
            dst[3 * i] = rs_clip8(s0);
            dst[3 * i + 1] = rs_clip8(s1);
            dst[3 * i + 2] = rs_clip8(s2);
        }
    }
    /* Vertical pass (or a copy of the window's rows). */
    for (int j = 0; j < wy; j++) {
        uint8_t *dst = out + (size_t)j * temp_row;
        if (!ay.need) {
            memcpy(dst, temp + (size_t)(y0 + j - row0) * temp_row, temp_row);
            continue;
        }
        int ymin = ay.bounds[2 * j] - row0, taps = ay.bounds[2 * j + 1];
        const int32_t *k = ay.k + (size_t)j * (size_t)ay.ksize;
        for (size_t c = 0; c < temp_row; c++) {
            int32_t s = 1 << (RS_PRECISION_BITS - 1);
            const uint8_t *p = temp + (size_t)ymin * temp_row + c;
            for (int t = 0; t < taps; t++)
                s += p[(size_t)t * temp_row] * k[t];
            dst[c] = rs_clip8(s);
        }
    }
done:
    free(temp);
    rs_axis_free(&ax);
    rs_axis_free(&ay);
    return status;
}

/* Copies a w x h block into `out` at (x, y), clipped (PIL's paste). */
static void rs_paste(df_image *out, const uint8_t *block, int w, int h, int x, int y)
{
    for (int j = 0; j < h; j++) {
        int oy = y + j;
        if (oy < 0 || oy >= out->height)
            continue;
        int from = x < 0 ? -x : 0;
        int to = x + w > out->width ? out->width - x : w;
        if (to <= from)
            continue;
        memcpy(out->pixels + ((size_t)oy * out->width + (size_t)(x + from)) * 3,
               block + ((size_t)j * w + from) * 3, (size_t)(to - from) * 3);
    }
}

/* Image.resize((w, h), filter, box) of a whole image, into a new image. */
static df_status rs_resize_full(const df_image *in, const rs_filter *filter, float box[4], int w,
                                int h, df_image *out, df_error *error)
{
    df_status status = df_image_create(w, h, out, error);
    if (status == DF_OK)
        status = rs_window(in, filter, box, w, h, 0, w, 0, h, out->pixels, error);
    if (status != DF_OK)
        df_image_free(out);
    return status;
}

static int rs_floor_div(long long a, long long b)
{
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return (int)q;
}

df_status df_image_resize(const df_image *in, int width, int height, df_image_resize_mode mode,
                          df_image *out, df_error *error)
{
    if (!out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "resize: no output image");
    *out = (df_image){0, 0, NULL};
    if (!in || !in->pixels || in->width < 1 || in->height < 1)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "resize: empty input image");
    if (width < 1 || height < 1 || width > DF_IMAGE_MAX_SIDE || height > DF_IMAGE_MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "resize: target size %dx%d out of range (1..%d per side)", width,
                            height, DF_IMAGE_MAX_SIDE);
    float full[4] = {0.0f, 0.0f, (float)in->width, (float)in->height};
    if (mode == DF_IMAGE_RESIZE_STRETCH)
        return rs_resize_full(in, &rs_lanczos3, full, width, height, out, error);
    if (mode != DF_IMAGE_RESIZE_CROP && mode != DF_IMAGE_RESIZE_FILL)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "resize: unknown mode %d", (int)mode);

    /* diffusers' geometry, in Python's arithmetic: float ratios, floor
     * divisions of non-negative ints. */
    double ratio = (double)width / height, src_ratio = (double)in->width / in->height;
    long long iw = in->width, ih = in->height;
    long long src_w, src_h;
    if (mode == DF_IMAGE_RESIZE_CROP) {
        src_w = ratio > src_ratio ? width : iw * height / ih;
        src_h = ratio <= src_ratio ? height : ih * width / iw;
    } else {
        src_w = ratio < src_ratio ? width : iw * height / ih;
        src_h = ratio >= src_ratio ? height : ih * width / iw;
    }
    if (src_w < 1) /* PIL would refuse a 0-pixel side; keep one pixel */
        src_w = 1;
    if (src_h < 1)
        src_h = 1;
    int dx = rs_floor_div(width, 2) - (int)(src_w / 2);
    int dy = rs_floor_div(height, 2) - (int)(src_h / 2);

    df_status status = df_image_create(width, height, out, error);
    if (status != DF_OK)
        return status;
    if (mode == DF_IMAGE_RESIZE_CROP) {
        /* The visible window of the src_w x src_h image pasted at (dx, dy). */
        int x0 = dx < 0 ? -dx : 0, y0 = dy < 0 ? -dy : 0;
        long long x1 = src_w < width - dx ? src_w : width - dx;
        long long y1 = src_h < height - dy ? src_h : height - dy;
        int wx = (int)(x1 - x0), wy = (int)(y1 - y0);
        if (src_w > INT32_MAX / 4 || src_h > INT32_MAX / 4) {
            df_image_free(out);
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "resize: %dx%d cannot be cropped to %dx%d (aspect ratio too "
                                "extreme)",
                                in->width, in->height, width, height);
        }
        uint8_t *block = malloc((size_t)wx * (size_t)wy * 3);
        if (!block) {
            df_image_free(out);
            return df_error_set(error, DF_ERR_NO_MEMORY, "resize: no memory");
        }
        status = rs_window(in, &rs_lanczos3, full, (int)src_w, (int)src_h, x0, wx, y0, wy, block,
                           error);
        if (status == DF_OK)
            rs_paste(out, block, wx, wy, dx + x0, dy + y0);
        free(block);
        if (status != DF_OK)
            df_image_free(out);
        return status;
    }

    df_image resized, band = {0, 0, NULL};
    status = rs_resize_full(in, &rs_lanczos3, full, (int)src_w, (int)src_h, &resized, error);
    if (status != DF_OK) {
        df_image_free(out);
        return status;
    }
    rs_paste(out, resized.pixels, resized.width, resized.height, dx, dy);
    float rw = (float)resized.width, rh = (float)resized.height;
    if (ratio < src_ratio) {
        /* Bands above and below: the top and bottom edges stretched (a
         * zero-height box) with PIL's default filter, bicubic, exactly as
         * diffusers calls it (no resample argument). */
        int fill = height / 2 - (int)src_h / 2;
        if (fill > 0) {
            float top[4] = {0, 0, rw, 0}, bottom[4] = {0, rh, rw, rh};
            status = rs_resize_full(&resized, &rs_cubic, top, width, fill, &band, error);
            if (status == DF_OK) {
                rs_paste(out, band.pixels, band.width, band.height, 0, 0);
                df_image_free(&band);
                status = rs_resize_full(&resized, &rs_cubic, bottom, width, fill, &band, error);
            }
            if (status == DF_OK)
                rs_paste(out, band.pixels, band.width, band.height, 0, fill + (int)src_h);
        }
    } else if (ratio > src_ratio) {
        int fill = width / 2 - (int)src_w / 2;
        if (fill > 0) {
            float left[4] = {0, 0, 0, rh}, right[4] = {rw, 0, rw, rh};
            status = rs_resize_full(&resized, &rs_cubic, left, fill, height, &band, error);
            if (status == DF_OK) {
                rs_paste(out, band.pixels, band.width, band.height, 0, 0);
                df_image_free(&band);
                status = rs_resize_full(&resized, &rs_cubic, right, fill, height, &band, error);
            }
            if (status == DF_OK)
                rs_paste(out, band.pixels, band.width, band.height, fill + (int)src_w, 0);
        }
    }
    df_image_free(&band);
    df_image_free(&resized);
    if (status != DF_OK)
        df_image_free(out);
    return status;
}
