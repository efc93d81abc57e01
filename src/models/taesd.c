/*
 * taesd.c — TAESD (madebyollin/taesd), equal to diffusers' AutoencoderTiny.
 *
 * Both halves are a plain sequence of layers, read from the weights:
 *   "N.weight" [o, i, 3, 3] (+ "N.bias")        a 3x3 conv, padding 1
 *   "N.conv.{0,2,4}.*" (+ "N.skip.weight")      a Block: conv-ReLU-conv-ReLU-
 *                                                conv, plus skip (1x1 without
 *                                                bias, or identity), then ReLU
 *   indices without weights                      ReLU / Upsample / Clamp
 * The weightless layers are implied by the architecture (taesd.py and
 * diffusers' EncoderTiny/DecoderTiny agree): in the decoder the first conv is
 * followed by a ReLU and every conv without bias is preceded by a nearest 2x
 * upsample; in the encoder every conv without bias has stride 2.
 *
 * Value convention (diffusers'): decode = DecoderTiny.forward, i.e.
 * tanh(x/3)*3 → layers → mul(2).sub(1), an image nominally in [-1, 1];
 * encode = EncoderTiny.forward, i.e. layers(x.add(1).div(2)) for an image in
 * [-1, 1]. Latents are the UNet's as they are (AutoencoderTiny's scaling
 * factor is 1; latent_magnitude/latent_shift only serve scale_latents for
 * storing latents as bytes and are not applied by encode/decode). The
 * original taesd files ([0, 1] images) get the same convention here.
 *
 * Memory: three rotating NHWC buffers in one arena, sized by walking the
 * layer list for the image size; images of a batch go one at a time.
 */
#include "models/taesd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "runtime/arena.h"
#include "runtime/error.h"
#include "runtime/kernels.h"

#define TAESD_MAX_LAYERS 64
#define TAESD_MAX_SIDE 16384
#define TAESD_SCALE 8 /* the spatial factor the API promises */

typedef struct taesd_conv {
    df_weight weight, bias; /* bias.data NULL: no bias */
    int c_in, c_out;
} taesd_conv;

typedef struct taesd_layer {
    int is_block;
    int stride;          /* conv: 2 for the encoder's bias-less convs */
    int upsample_before; /* conv: the decoder's bias-less convs */
    int relu_after;      /* conv: the decoder's first conv */
    taesd_conv conv;     /* a plain conv */
    taesd_conv block[3]; /* a Block's three convs */
    taesd_conv skip;     /* a Block's 1x1 skip; weight.data NULL: identity */
    int c_in, c_out;
} taesd_layer;

typedef struct taesd_net {
    int present;
    int count;
    taesd_layer layers[TAESD_MAX_LAYERS];
    int c_in, c_out;
} taesd_net;

struct df_taesd {
    df_pool *pool;
    df_safetensors *files[2];
    taesd_net decoder, encoder;
    int latent_channels;
    df_arena arena;
};

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */

/* Fills `out` from tensor `name` if present: 1 found, 0 absent, -1 error. */
static int find_weight(const df_safetensors *file, const char *name, int ndim, df_weight *out,
                       df_error *error)
{
    memset(out, 0, sizeof *out);
    const df_st_tensor *t = df_safetensors_find(file, name);
    if (!t)
        return 0;
    if (!df_st_dtype_to_weight(t->st_dtype, &out->dtype) || t->ndim != ndim) {
        df_error_set(error, DF_ERR_FORMAT, "%s: TAESD tensor '%s' should be a %d-D float tensor",
                     df_safetensors_path(file), name, ndim);
        return -1;
    }
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        out->shape[d] = t->shape[d];
    out->data = t->data;
    return 1;
}

/* A conv "<base>.weight" [o, i, k, k] with optional "<base>.bias" [o]. */
static df_status read_conv(const df_safetensors *file, const char *base, int k, int need_bias,
                           taesd_conv *conv, df_error *error)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight", base);
    int found = find_weight(file, name, 4, &conv->weight, error);
    if (found < 0)
        return error ? error->status : DF_ERR_FORMAT;
    if (!found)
        return df_error_set(error, DF_ERR_FORMAT, "%s: TAESD tensor '%s' is missing",
                            df_safetensors_path(file), name);
    const df_weight *w = &conv->weight;
    if (w->shape[2] != k || w->shape[3] != k || w->shape[0] <= 0 || w->shape[1] <= 0 ||
        w->shape[0] > 4096 || w->shape[1] > 4096)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: TAESD tensor '%s' has shape [%lld, %lld, %lld, %lld], expected a "
                            "%dx%d conv weight",
                            df_safetensors_path(file), name, (long long)w->shape[0],
                            (long long)w->shape[1], (long long)w->shape[2], (long long)w->shape[3],
                            k, k);
    conv->c_out = (int)w->shape[0];
    conv->c_in = (int)w->shape[1];
    snprintf(name, sizeof name, "%s.bias", base);
    found = find_weight(file, name, 1, &conv->bias, error);
    if (found < 0)
        return error ? error->status : DF_ERR_FORMAT;
    if (found && conv->bias.shape[0] != conv->c_out)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: TAESD tensor '%s' has %lld values, expected %d",
                            df_safetensors_path(file), name, (long long)conv->bias.shape[0],
                            conv->c_out);
    if (!found && need_bias)
        return df_error_set(error, DF_ERR_FORMAT, "%s: TAESD tensor '%s' is missing",
                            df_safetensors_path(file), name);
    return DF_OK;
}

/* The highest layer index N of "<prefix>N.*" names, or -1. */
static int last_index(const df_safetensors *file, const char *prefix)
{
    const size_t length = strlen(prefix);
    int last = -1;
    for (size_t i = 0; i < df_safetensors_count(file); i++) {
        const char *name = df_safetensors_at(file, i)->name;
        if (strncmp(name, prefix, length) || name[length] < '0' || name[length] > '9')
            continue;
        char *end;
        long index = strtol(name + length, &end, 10);
        if (*end == '.' && index < TAESD_MAX_LAYERS * 4 && index > last)
            last = (int)index;
    }
    return last;
}

static df_status read_net(const df_safetensors *file, const char *prefix, int is_decoder,
                          taesd_net *net, df_error *error)
{
    const char *path = df_safetensors_path(file);
    const int last = last_index(file, prefix);
    char base[128], probe[160];
    int first_conv = 1;
    net->count = 0;
    for (int index = 0; index <= last; index++) {
        snprintf(base, sizeof base, "%s%d", prefix, index);
        snprintf(probe, sizeof probe, "%s.weight", base);
        const int is_conv = df_safetensors_find(file, probe) != NULL;
        snprintf(probe, sizeof probe, "%s.conv.0.weight", base);
        const int is_block = df_safetensors_find(file, probe) != NULL;
        if (!is_conv && !is_block)
            continue; /* ReLU, Upsample or Clamp */
        if (net->count == TAESD_MAX_LAYERS)
            return df_error_set(error, DF_ERR_UNSUPPORTED, "%s: more than %d TAESD layers", path,
                                TAESD_MAX_LAYERS);
        taesd_layer *layer = &net->layers[net->count++];
        memset(layer, 0, sizeof *layer);
        df_status status;
        if (is_conv) {
            status = read_conv(file, base, 3, 0, &layer->conv, error);
            if (status)
                return status;
            const int has_bias = layer->conv.bias.data != NULL;
            layer->stride = !is_decoder && !has_bias ? 2 : 1;
            layer->upsample_before = is_decoder && !has_bias;
            layer->relu_after = is_decoder && first_conv;
            layer->c_in = layer->conv.c_in;
            layer->c_out = layer->conv.c_out;
            first_conv = 0;
        } else {
            layer->is_block = 1;
            for (int i = 0; i < 3; i++) {
                snprintf(probe, sizeof probe, "%s.conv.%d", base, 2 * i);
                if ((status = read_conv(file, probe, 3, 1, &layer->block[i], error)))
                    return status;
            }
            layer->c_in = layer->block[0].c_in;
            layer->c_out = layer->block[0].c_out;
            snprintf(probe, sizeof probe, "%s.skip.weight", base);
            if (df_safetensors_find(file, probe)) {
                snprintf(probe, sizeof probe, "%s.skip", base);
                if ((status = read_conv(file, probe, 1, 0, &layer->skip, error)))
                    return status;
            }
            int expect_skip = layer->c_in != layer->c_out;
            if (expect_skip != (layer->skip.weight.data != NULL) ||
                layer->block[1].c_in != layer->c_out || layer->block[1].c_out != layer->c_out ||
                layer->block[2].c_in != layer->c_out || layer->block[2].c_out != layer->c_out ||
                (expect_skip && (layer->skip.c_in != layer->c_in ||
                                 layer->skip.c_out != layer->c_out)))
                return df_error_set(error, DF_ERR_FORMAT,
                                    "%s: TAESD block '%s' has inconsistent conv/skip shapes", path,
                                    base);
        }
        if (net->count > 1 && net->layers[net->count - 2].c_out != layer->c_in)
            return df_error_set(error, DF_ERR_FORMAT,
                                "%s: TAESD layer '%s' takes %d channels but the layer before it "
                                "gives %d",
                                path, base, layer->c_in, net->layers[net->count - 2].c_out);
    }
    if (net->count < 2 || net->layers[0].is_block || net->layers[net->count - 1].is_block)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: the TAESD %s under '%s' should start and end with a conv", path,
                            is_decoder ? "decoder" : "encoder", prefix);
    int scaling = 0;
    for (int i = 0; i < net->count; i++)
        scaling += net->layers[i].upsample_before || net->layers[i].stride == 2;
    if (scaling != 3)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: the TAESD %s has %d 2x %s, expected 3 (an 8x TAESD)", path,
                            is_decoder ? "decoder" : "encoder", scaling,
                            is_decoder ? "upsamplings" : "downsamplings");
    net->c_in = net->layers[0].c_in;
    net->c_out = net->layers[net->count - 1].c_out;
    if ((is_decoder && net->c_out != 3) || (!is_decoder && net->c_in != 3))
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: the TAESD %s %s %d channels, expected 3 (RGB)", path,
                            is_decoder ? "decoder" : "encoder", is_decoder ? "gives" : "takes",
                            is_decoder ? net->c_out : net->c_in);
    net->present = 1;
    return DF_OK;
}

static int has_prefix(const df_safetensors *file, const char *prefix)
{
    return last_index(file, prefix) >= 0;
}

/* One file: diffusers' naming (both halves), or one original half. */
static df_status read_file(df_taesd *taesd, const df_safetensors *file, df_error *error)
{
    const char *path = df_safetensors_path(file);
    df_status status = DF_OK;
    if (has_prefix(file, "decoder.layers.") || has_prefix(file, "encoder.layers.")) {
        if (has_prefix(file, "decoder.layers."))
            status = read_net(file, "decoder.layers.", 1, &taesd->decoder, error);
        if (!status && has_prefix(file, "encoder.layers."))
            status = read_net(file, "encoder.layers.", 0, &taesd->encoder, error);
        return status;
    }
    if (has_prefix(file, "")) {
        /* taesd.py: the decoder's index 0 is Clamp (no weights), the
         * encoder's a conv. */
        int is_decoder = !df_safetensors_find(file, "0.weight");
        taesd_net *net = is_decoder ? &taesd->decoder : &taesd->encoder;
        if (net->present)
            return df_error_set(error, DF_ERR_FORMAT, "%s: a second TAESD %s", path,
                                is_decoder ? "decoder" : "encoder");
        return read_net(file, "", is_decoder, net, error);
    }
    const df_st_tensor *first = df_safetensors_count(file) ? df_safetensors_at(file, 0) : NULL;
    return df_error_set(error, DF_ERR_FORMAT,
                        "%s: not a TAESD file: no tensor is named as diffusers' AutoencoderTiny "
                        "(decoder.layers.N.*, encoder.layers.N.*) or as taesd's "
                        "taesd_decoder/taesd_encoder (N.weight, N.conv.M.weight); first tensor: "
                        "'%s'",
                        path, first ? first->name : "none");
}

static int is_file(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

static df_status open_one(df_taesd *taesd, const char *path, df_error *error)
{
    int slot = taesd->files[0] ? 1 : 0;
    df_status status = df_safetensors_open(path, &taesd->files[slot], error);
    return status ? status : read_file(taesd, taesd->files[slot], error);
}

/* A folder: diffusers' (diffusion_pytorch_model[.fp16].safetensors) or the
 * taesd repository's (taesd_decoder / taesd_encoder .safetensors). */
static df_status open_folder(df_taesd *taesd, const char *path, df_error *error)
{
    static const char *const diffusers[] = {"diffusion_pytorch_model.safetensors",
                                            "diffusion_pytorch_model.fp16.safetensors"};
    static const char *const original[] = {"taesd_decoder.safetensors",
                                           "taesd_encoder.safetensors"};
    char file[4096];
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", path, diffusers[i]);
        if (is_file(file))
            return open_one(taesd, file, error);
    }
    int found = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", path, original[i]);
        if (is_file(file)) {
            df_status status = open_one(taesd, file, error);
            if (status)
                return status;
            found++;
        }
    }
    if (!found)
        return df_error_set(error, DF_ERR_FORMAT,
                            "%s: no TAESD weights in the folder (diffusion_pytorch_model."
                            "safetensors, or taesd_decoder.safetensors / "
                            "taesd_encoder.safetensors)",
                            path);
    return DF_OK;
}

df_status df_taesd_open(const char *path, df_pool *pool, df_taesd **out, df_error *error)
{
    if (!path || !out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_taesd_open: NULL argument");
    *out = NULL;
    struct stat info;
    if (stat(path, &info) != 0)
        return df_error_set(error, DF_ERR_IO, "%s: cannot open TAESD: %s", path,
                            strerror(errno));
    df_taesd *taesd = calloc(1, sizeof *taesd);
    if (!taesd)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory opening TAESD");
    taesd->pool = pool;
    df_status status = S_ISDIR(info.st_mode) ? open_folder(taesd, path, error)
                                             : open_one(taesd, path, error);
    if (!status && !taesd->decoder.present && !taesd->encoder.present)
        status = df_error_set(error, DF_ERR_FORMAT, "%s: no TAESD decoder or encoder", path);
    if (!status) {
        int from_decoder = taesd->decoder.present ? taesd->decoder.c_in : 0;
        int from_encoder = taesd->encoder.present ? taesd->encoder.c_out : 0;
        if (from_decoder && from_encoder && from_decoder != from_encoder)
            status = df_error_set(error, DF_ERR_FORMAT,
                                  "%s: the TAESD decoder takes %d latent channels but the "
                                  "encoder gives %d",
                                  path, from_decoder, from_encoder);
        taesd->latent_channels = from_decoder ? from_decoder : from_encoder;
    }
    if (status) {
        df_taesd_free(taesd);
        return status;
    }
    *out = taesd;
    return DF_OK;
}

void df_taesd_free(df_taesd *taesd)
{
    if (!taesd)
        return;
    df_arena_release(&taesd->arena);
    for (int i = 0; i < 2; i++)
        df_safetensors_close(taesd->files[i]);
    free(taesd);
}

int df_taesd_latent_channels(const df_taesd *taesd)
{
    return taesd->latent_channels;
}

int df_taesd_can_decode(const df_taesd *taesd)
{
    return taesd->decoder.present;
}

int df_taesd_can_encode(const df_taesd *taesd)
{
    return taesd->encoder.present;
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                   */

typedef struct relu_job {
    float *x;
} relu_job;

static void relu_task(void *context, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    float *x = ((relu_job *)context)->x;
    for (int64_t i = begin; i < end; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu(df_pool *pool, float *x, int64_t count)
{
    relu_job job = {x};
    df_pool_for(pool, count, 65536, relu_task, &job);
}

static void conv(const df_taesd *taesd, const taesd_conv *cv, const float *x, int h, int w,
                 int stride, float *y)
{
    const int k = (int)cv->weight.shape[2];
    df_conv2d(taesd->pool, x, 1, h, w, cv->c_in, &cv->weight, cv->bias.data ? &cv->bias : NULL,
              stride, k / 2, y);
}

/* The two buffers that are not `x`. */
static void free_pair(float *const buffer[3], const float *x, float **a, float **b)
{
    float *found[3];
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (buffer[i] != x)
            found[n++] = buffer[i];
    *a = found[0];
    *b = found[1];
}

/* Largest activation (floats) when running `net` on an h x w input. */
static size_t net_elements(const taesd_net *net, int h, int w)
{
    size_t most = (size_t)h * w * net->c_in;
    for (int i = 0; i < net->count; i++) {
        const taesd_layer *layer = &net->layers[i];
        if (layer->upsample_before) {
            h *= 2;
            w *= 2;
            most = most > (size_t)h * w * layer->c_in ? most : (size_t)h * w * layer->c_in;
        }
        if (layer->stride == 2) {
            h = (h - 1) / 2 + 1;
            w = (w - 1) / 2 + 1;
        }
        size_t elements = (size_t)h * w * (layer->c_in > layer->c_out ? layer->c_in : layer->c_out);
        most = most > elements ? most : elements;
    }
    return most;
}

/* Runs the layers on buffer[0] (h x w x net->c_in, NHWC); returns the
 * buffer with the result and its size. */
static float *run_net(const df_taesd *taesd, const taesd_net *net, float *const buffer[3], int *ph,
                      int *pw)
{
    df_pool *pool = taesd->pool;
    int h = *ph, w = *pw;
    float *x = buffer[0], *a, *b;
    for (int i = 0; i < net->count; i++) {
        const taesd_layer *layer = &net->layers[i];
        free_pair(buffer, x, &a, &b);
        if (!layer->is_block) {
            if (layer->upsample_before) {
                df_upsample_nearest2x(pool, x, 1, h, w, layer->c_in, a);
                h *= 2;
                w *= 2;
                x = a;
                a = b;
            }
            conv(taesd, &layer->conv, x, h, w, layer->stride, a);
            if (layer->stride == 2) {
                h = (h - 1) / 2 + 1;
                w = (w - 1) / 2 + 1;
            }
            if (layer->relu_after)
                relu(pool, a, (int64_t)h * w * layer->c_out);
            x = a;
            continue;
        }
        /* Block: relu(conv(relu(conv(relu(conv(x))))) + skip(x)) */
        const int64_t count = (int64_t)h * w * layer->c_out;
        conv(taesd, &layer->block[0], x, h, w, 1, a);
        relu(pool, a, count);
        conv(taesd, &layer->block[1], a, h, w, 1, b);
        relu(pool, b, count);
        conv(taesd, &layer->block[2], b, h, w, 1, a);
        if (layer->skip.weight.data) {
            df_linear(pool, x, (int64_t)h * w, layer->c_in, &layer->skip.weight, NULL, b);
            df_add(pool, a, b, a, count);
        } else {
            df_add(pool, a, x, a, count);
        }
        relu(pool, a, count);
        x = a;
    }
    *ph = h;
    *pw = w;
    return x;
}

size_t df_taesd_decode_scratch_bytes(const df_taesd *taesd, int height, int width)
{
    return 3 * df_arena_footprint(net_elements(&taesd->decoder, height, width) * sizeof(float));
}

size_t df_taesd_decode_workspace_bytes(const df_taesd *taesd, int height, int width)
{
    const taesd_net *net = &taesd->decoder;
    size_t most = 0;
    int h = height, w = width;
    for (int i = 0; i < net->count; i++) {
        const taesd_layer *layer = &net->layers[i];
        if (layer->upsample_before) {
            h *= 2;
            w *= 2;
        }
        int widest = layer->c_in > layer->c_out ? layer->c_in : layer->c_out;
        size_t bytes =
            df_conv2d_winograd_workspace_bound(1, h, w, widest, widest, df_pool_size(taesd->pool));
        most = most > bytes ? most : bytes;
    }
    return most;
}

size_t df_taesd_reserved_bytes(const df_taesd *taesd)
{
    return taesd->arena.capacity;
}

static df_status plan(df_taesd *taesd, size_t elements, float *buffer[3], df_error *error)
{
    df_status status =
        df_arena_reserve(&taesd->arena, 3 * df_arena_footprint(elements * sizeof(float)), error);
    if (status)
        return status;
    df_arena_reset(&taesd->arena);
    for (int i = 0; i < 3; i++)
        if (!(buffer[i] = df_arena_floats(&taesd->arena, elements)))
            return df_error_set(error, DF_ERR_INTERNAL, "TAESD: scratch plan too small");
    return DF_OK;
}

df_status df_taesd_decode(df_taesd *taesd, const float *latents, int batch, int height, int width,
                          float *image, df_error *error)
{
    const taesd_net *net = &taesd->decoder;
    if (!net->present)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "this TAESD has no decoder (an encoder-only file was opened)");
    if (!latents || !image || batch <= 0 || height <= 0 || width <= 0 ||
        height > TAESD_MAX_SIDE / TAESD_SCALE || width > TAESD_MAX_SIDE / TAESD_SCALE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "TAESD decode: batch %d of %dx%d latents is out of range (1..%d per "
                            "side)",
                            batch, height, width, TAESD_MAX_SIDE / TAESD_SCALE);
    float *buffer[3];
    df_status status = plan(taesd, net_elements(net, height, width), buffer, error);
    if (status)
        return status;
    const int c = net->c_in;
    const int64_t hw = (int64_t)height * width;
    const int64_t out_hw = hw * TAESD_SCALE * TAESD_SCALE;
    for (int n = 0; n < batch; n++) {
        const float *z = latents + n * c * hw;
        /* DecoderTiny: tanh(x / 3) * 3 first. */
        for (int64_t p = 0; p < hw; p++)
            for (int ch = 0; ch < c; ch++)
                buffer[0][p * c + ch] = tanhf(z[ch * hw + p] / 3.0f) * 3.0f;
        int h = height, w = width;
        const float *out = run_net(taesd, net, buffer, &h, &w);
        float *target = image + n * 3 * out_hw;
        /* ... and mul(2).sub(1) last. */
        for (int64_t p = 0; p < out_hw; p++)
            for (int ch = 0; ch < 3; ch++)
                target[ch * out_hw + p] = out[p * 3 + ch] * 2.0f - 1.0f;
    }
    return DF_OK;
}

df_status df_taesd_encode(df_taesd *taesd, const float *image, int batch, int height, int width,
                          float *latents, df_error *error)
{
    const taesd_net *net = &taesd->encoder;
    if (!net->present)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "this TAESD has no encoder (a decoder-only file was opened)");
    if (!image || !latents || batch <= 0 || height <= 0 || width <= 0 ||
        height > TAESD_MAX_SIDE || width > TAESD_MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "TAESD encode: batch %d of %dx%d images is out of range (1..%d per "
                            "side)",
                            batch, height, width, TAESD_MAX_SIDE);
    if (height % TAESD_SCALE || width % TAESD_SCALE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "TAESD encode: image size %dx%d is not a multiple of %d", width,
                            height, TAESD_SCALE);
    float *buffer[3];
    df_status status = plan(taesd, net_elements(net, height, width), buffer, error);
    if (status)
        return status;
    const int c = net->c_out;
    const int64_t hw = (int64_t)height * width;
    const int64_t out_hw = hw / (TAESD_SCALE * TAESD_SCALE);
    for (int n = 0; n < batch; n++) {
        const float *x = image + n * 3 * hw;
        /* EncoderTiny: x.add(1).div(2) first. */
        for (int64_t p = 0; p < hw; p++)
            for (int ch = 0; ch < 3; ch++)
                buffer[0][p * 3 + ch] = (x[ch * hw + p] + 1.0f) / 2.0f;
        int h = height, w = width;
        const float *out = run_net(taesd, net, buffer, &h, &w);
        float *target = latents + n * c * out_hw;
        for (int64_t p = 0; p < out_hw; p++)
            for (int ch = 0; ch < c; ch++)
                target[ch * out_hw + p] = out[p * c + ch];
    }
    return DF_OK;
}
