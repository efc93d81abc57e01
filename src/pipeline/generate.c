/*
 * generate.c — text-to-image and image-to-image, as diffusers'
 * StableDiffusionPipeline / StableDiffusionImg2ImgPipeline run them:
 *
 *   context  = [negative x batch ; prompt x batch]   (text encoder)
 *   latents  = randn(batch, 4, h, w) * init_noise_sigma
 *              (img2img: add_noise(vae.encode(image).sample() * scale, randn))
 *   for each timestep t:
 *       in    = scale_model_input([latents ; latents], t)
 *       u, c  = unet(in, t, context)
 *       eps   = u + guidance * (c - u)
 *       latents = sampler.step(eps, t, latents)
 *   images   = vae.decode(latents / scaling_factor)
 *              (decoder "taesd": AutoencoderTiny's decode(latents / 1.0))
 *
 * SDXL (StableDiffusionXLPipeline / ...Img2ImgPipeline): the context is both
 * encoders' penultimate hidden states side by side, and the UNet also gets
 * the pooled text embedding and add_time_ids (sizes, crop; the refiner's
 * aesthetic score). Base + refiner: the base runs the schedule down to
 * refiner_start (denoising_end), the refiner the rest from those latents
 * (denoising_start) with its own conditioning, on the same generator, and
 * decodes.
 *
 * so that a seed gives diffusers' image (DF_SEED_BATCH: one torch-equal
 * generator for the batch). DF_SEED_PER_IMAGE gives AUTOMATIC1111's batches:
 * image i is generated as if alone, with seed + i, so it reproduces from
 * its own seed. All buffers of a run are allocated once before the loop.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "diffuse.h"
#include "io/image.h"
#include "pipeline/lora.h"
#include "pipeline/model_internal.h"
#include "pipeline/rng.h"
#include "pipeline/scheduler.h"
#include "runtime/error.h"
#include "runtime/gemm.h"
#include "runtime/precision.h"
#include "runtime/runtime.h"
#include "runtime/threads.h"
#include "text/prompt_weights.h"

#define MAX_BATCH 64
#define MAX_STEPS 1000
#define MAX_SIDE 4096
#define TAESD_SCALE 8 /* image pixels per latent pixel of every TAESD decoder */

void df_generate_request_init(df_generate_request *request)
{
    memset(request, 0, sizeof *request);
    request->steps = 20;
    request->guidance_scale = 7.5f;
    request->seed = -1;
    request->batch = 1;
    request->clip_skip = 1;
    request->strength = 0.75f;
    request->aesthetic_score = 6.0f;
    request->negative_aesthetic_score = 2.5f;
    request->refiner_start = 0.8f;
}

void df_generate_result_free(df_generate_result *result)
{
    if (!result)
        return;
    for (int i = 0; result->infotexts && i < result->count; i++)
        free(result->infotexts[i]);
    free(result->infotexts);
    free(result->pixels);
    free(result->latents);
    free(result->seeds);
    memset(result, 0, sizeof *result);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Latent pixels per image pixel side, and the latent multiple the UNet needs. */
static int vae_scale(const df_model *model)
{
    int64_t blocks[8];
    int count = 0;
    if (df_checkpoint_config_ints(model->vae_checkpoint ? model->vae_checkpoint : model->checkpoint,
                                  DF_COMPONENT_VAE, "block_out_channels", blocks, 8, &count) ||
        count < 1)
        return 8;
    return 1 << (count - 1);
}

static int unet_multiple(const df_model *model)
{
    int64_t blocks[8];
    int count = 0;
    if (df_checkpoint_config_ints(model->checkpoint, DF_COMPONENT_UNET, "block_out_channels", blocks,
                                  8, &count) ||
        count < 1)
        return 8;
    int multiple = 1; /* 2^(down blocks - 1), as df_unet_check_inputs asks: 8 for SD */
    while (multiple < (1 << (count - 1)))
        multiple *= 2;
    return multiple;
}

int df_model_size_multiple(const df_model *model)
{
    return vae_scale(model) * unet_multiple(model);
}

/* The UNet's sample size times the decoder's scale, as diffusers' pipelines
 * default their height and width. */
static int default_size_for_scale(const df_model *model, int scale)
{
    int64_t sample_size = df_checkpoint_config_int(model->checkpoint, DF_COMPONENT_UNET,
                                                   "sample_size", 0);
    if (sample_size <= 0) /* single files carry no config: the released models' sizes */
        sample_size = df_model_family(model) == DF_FAMILY_SD2 ? 96 : 64;
    return (int)sample_size * scale;
}

int df_model_default_size(const df_model *model)
{
    return default_size_for_scale(model, vae_scale(model));
}

/* ------------------------------------------------------------------------ */
/* Scheduler configuration                                                  */

/* The checkpoint's scheduler_config.json (diffusers folders), else the SD
 * defaults; SD 2.x single files are taken as the 768-v model, as diffusers'
 * from_single_file does. `prediction` overrides. */
static df_status scheduler_config(const df_model *model, const char *prediction,
                                  df_scheduler_config *config, char *class_name,
                                  size_t class_name_size, df_error *error)
{
    class_name[0] = 0;
    df_prediction_type default_prediction =
        df_model_family(model) == DF_FAMILY_SD2 && df_model_layout(model) == DF_LAYOUT_SINGLE_FILE
            ? DF_PREDICTION_V
            : DF_PREDICTION_EPSILON;
    df_scheduler_config_default_sd(config, default_prediction);
    if (df_model_family(model) == DF_FAMILY_SDXL) {
        /* What diffusers' from_single_file reads from the SDXL base and
         * refiner repositories: Euler with leading spacing. */
        config->timestep_spacing = DF_SPACING_LEADING;
        snprintf(class_name, class_name_size, "EulerDiscreteScheduler");
    }
    if (df_model_layout(model) == DF_LAYOUT_DIFFUSERS) {
        char path[4096];
        snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", model->path);
        FILE *file = fopen(path, "rb");
        if (file) {
            fclose(file);
            df_status status = df_scheduler_config_read(path, config, error);
            if (status)
                return status;
            snprintf(class_name, class_name_size, "%s", config->class_name);
        }
    }
    if (prediction && *prediction) {
        config->present |= DF_SCHED_HAS_PREDICTION_TYPE;
        if (!strcmp(prediction, "epsilon"))
            config->prediction_type = DF_PREDICTION_EPSILON;
        else if (!strcmp(prediction, "v_prediction") || !strcmp(prediction, "v"))
            config->prediction_type = DF_PREDICTION_V;
        else
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "prediction '%s' is not one of: epsilon, v_prediction", prediction);
    }
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Request validation                                                       */

typedef struct plan {
    df_sampler_kind sampler;
    df_sigma_schedule schedule;
    df_sampler_options options;
    df_scheduler_config scheduler;
    df_rng_kind rng;
    int width, height;         /* image pixels */
    int latent_width, latent_height, latent_channels;
    int scale;                 /* image pixels per latent pixel of the final decoder */
    int cfg;                   /* classifier-free guidance on */
    int img2img;
    int taesd_decode;          /* decoder "taesd": the final decode is TAESD's */
    /* SDXL: add_time_ids (0 of them otherwise) of both halves of CFG */
    int time_id_count;
    float time_ids[6], negative_time_ids[6];
    int zero_negative;         /* force_zeros_for_empty_prompt applies */
    double denoising_start, denoising_end; /* ensemble fractions; 0: none */
} plan;

/* request->decoder: 0 for the VAE, 1 for TAESD, or an error naming the field. */
static df_status parse_decoder(const df_model *model, const char *decoder, int *taesd,
                               df_error *error)
{
    *taesd = 0;
    if (!decoder || !*decoder || !strcmp(decoder, "vae"))
        return DF_OK;
    if (strcmp(decoder, "taesd"))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "decoder '%s' is not one of: vae, taesd", decoder);
    if (!model->taesd)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "decoder taesd needs a TAESD decoder (load one with --taesd)");
    *taesd = 1;
    return DF_OK;
}

/* request->precision as a df_precision (NULL or "" is f32). */
static df_status check_precision(const df_generate_request *request, df_precision *out,
                                 df_error *error)
{
    df_precision precision;
    if (!df_precision_parse(request->precision, &precision))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "precision '%s' is not one of: " DF_PRECISION_NAMES,
                            request->precision);
    if (out)
        *out = precision;
    return DF_OK;
}

/* SDXL's fields: only on a model that uses them; add_time_ids as
 * diffusers' _get_add_time_ids builds them (height before width). */
static df_status check_sdxl(df_model *model, const df_generate_request *request, plan *p,
                            df_error *error)
{
    const int sdxl = model->text_encoder_2 != NULL;
    if (!sdxl && (request->prompt_2 || request->negative_prompt_2))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s: this %s model has one text encoder (prompt_2 and "
                            "negative_prompt_2 are for SDXL)",
                            request->prompt_2 ? "prompt_2" : "negative_prompt_2",
                            df_family_name(df_model_family(model)));
    if (!sdxl && request->refiner)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: the base model is %s; a refiner follows an SDXL base",
                            df_family_name(df_model_family(model)));
    const int sizes[] = {request->original_width,          request->original_height,
                         request->target_width,            request->target_height,
                         request->negative_original_width, request->negative_original_height,
                         request->negative_target_width,   request->negative_target_height,
                         request->crop_top,                request->crop_left,
                         request->negative_crop_top,       request->negative_crop_left};
    static const char *const size_names[] = {"original", "original", "target", "target",
                                             "negative original", "negative original",
                                             "negative target", "negative target", "crop",
                                             "crop", "negative crop", "negative crop"};
    for (int i = 0; i < 12; i++)
        if (sizes[i] < 0 || sizes[i] > 65536)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "%s size %d is out of range (0..65536; 0: the default)",
                                size_names[i], sizes[i]);
    if (!isfinite(request->aesthetic_score) || !isfinite(request->negative_aesthetic_score) ||
        fabsf(request->aesthetic_score) > 1000 || fabsf(request->negative_aesthetic_score) > 1000)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "aesthetic scores %g / %g are out of range (-1000..1000)",
                            request->aesthetic_score, request->negative_aesthetic_score);
    if (!sdxl)
        return DF_OK;
    const int pooled = df_model_pooled_dim(model);
    p->time_id_count = df_unet_time_id_count(model->unet, pooled);
    if (p->time_id_count != 6 && p->time_id_count != 5)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "%s: the UNet's added embedding (%d wide) does not fit a %d-wide "
                            "pooled text embedding with 6 (base) or 5 (refiner) time ids",
                            model->path, df_unet_get_config(model->unet)->add_embedding_dim,
                            pooled);
    /* diffusers' _get_add_time_ids: (original h, w, crop top, left, target
     * h, w), the refiner (original h, w, crop top, left, aesthetic score). */
    const int h = p->height, w = p->width;
    const float original_h = (float)(request->original_height ? request->original_height : h);
    const float original_w = (float)(request->original_width ? request->original_width : w);
    const float target_h = (float)(request->target_height ? request->target_height : h);
    const float target_w = (float)(request->target_width ? request->target_width : w);
    const float positive[6] = {original_h, original_w, (float)request->crop_top,
                               (float)request->crop_left, target_h, target_w};
    memcpy(p->time_ids, positive, sizeof positive);
    const int negative_sizes = (request->negative_original_width || request->negative_original_height) &&
                               (request->negative_target_width || request->negative_target_height);
    const float negative_original_h =
        request->negative_original_height ? (float)request->negative_original_height : original_h;
    const float negative_original_w =
        request->negative_original_width ? (float)request->negative_original_width : original_w;
    const float negative_target_h =
        request->negative_target_height ? (float)request->negative_target_height : target_h;
    const float negative_target_w =
        request->negative_target_width ? (float)request->negative_target_width : target_w;
    const int from_latents = p->img2img || p->denoising_start > 0; /* the Img2Img pipeline */
    if (p->time_id_count == 5) {
        p->time_ids[4] = request->aesthetic_score;
        const float negative[5] = {negative_original_h, negative_original_w,
                                   (float)request->negative_crop_top,
                                   (float)request->negative_crop_left,
                                   request->negative_aesthetic_score};
        memcpy(p->negative_time_ids, negative, sizeof negative);
    } else if (from_latents) { /* its negative ids keep the positive crop */
        const float negative[6] = {negative_original_h, negative_original_w,
                                   (float)request->crop_top, (float)request->crop_left,
                                   negative_target_h, negative_target_w};
        memcpy(p->negative_time_ids, negative, sizeof negative);
    } else if (negative_sizes) {
        const float negative[6] = {negative_original_h, negative_original_w,
                                   (float)request->negative_crop_top,
                                   (float)request->negative_crop_left, negative_target_h,
                                   negative_target_w};
        memcpy(p->negative_time_ids, negative, sizeof negative);
    } else {
        memcpy(p->negative_time_ids, positive, sizeof positive);
    }
    p->zero_negative = model->force_zeros_for_empty_prompt && !request->negative_prompt &&
                       !request->negative_prompt_2;
    return DF_OK;
}

static df_status check_request(df_model *model, const df_generate_request *request, plan *p,
                               df_error *error)
{
    memset(p, 0, sizeof *p);
    if (!request->prompt)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "prompt is required");
    if (request->steps < 1 || request->steps > MAX_STEPS)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "steps %d is out of range (1..%d)",
                            request->steps, MAX_STEPS);
    if (!isfinite(request->guidance_scale) || request->guidance_scale < 0 ||
        request->guidance_scale > 100)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "guidance scale %g is out of range (0..100)", request->guidance_scale);
    if (request->batch < 1 || request->batch > MAX_BATCH)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "batch %d is out of range (1..%d)",
                            request->batch, MAX_BATCH);
    if (request->preview_every < 0)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "preview_every %d is negative",
                            request->preview_every);
    if (request->preview_every > 0 && !model->taesd)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "previews need a TAESD decoder (load one with --taesd)");
    df_status status = parse_decoder(model, request->decoder, &p->taesd_decode, error);
    if (status)
        return status;
    if (!(request->eta >= 0 && request->eta <= 1))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "eta %g is out of range (0..1)",
                            request->eta);
    p->img2img = request->init_pixels != NULL;
    if (p->img2img) {
        if (!(request->strength >= 0 && request->strength <= 1))
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "strength %g is out of range (0..1)", request->strength);
        if (request->init_width < 1 || request->init_height < 1 ||
            request->init_width > MAX_SIDE * 4 || request->init_height > MAX_SIDE * 4)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "init image size %dx%d is out of range", request->init_width,
                                request->init_height);
    }

    status = df_model_load_denoiser(model, error);
    if (status)
        return status;
    /* The image is the final decoder's scale times the latents: for SD both
     * decoders are 8x; a VAE of another scale (the tiny test models) gives
     * TAESD images of another size, as diffusers' pipeline does. */
    p->scale = p->taesd_decode ? TAESD_SCALE : vae_scale(model);
    if (p->taesd_decode && p->img2img && vae_scale(model) != TAESD_SCALE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "decoder taesd with an init image needs a VAE of TAESD's scale %d "
                            "to encode it (this VAE's is %d)", TAESD_SCALE, vae_scale(model));
    const int multiple = p->scale * unet_multiple(model);
    int width = request->width, height = request->height;
    if (p->img2img) { /* diffusers: the init image's size, rounded down */
        width = width ? width : request->init_width / multiple * multiple;
        height = height ? height : request->init_height / multiple * multiple;
    } else {
        width = width ? width : default_size_for_scale(model, p->scale);
        height = height ? height : default_size_for_scale(model, p->scale);
    }
    if (width < multiple || height < multiple || width % multiple || height % multiple ||
        width > MAX_SIDE || height > MAX_SIDE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "size %dx%d: width and height must be multiples of %d for this model, "
                            "from %d to %d",
                            width, height, multiple, multiple, MAX_SIDE);
    p->width = width;
    p->height = height;
    p->latent_width = width / p->scale;
    p->latent_height = height / p->scale;
    p->latent_channels = df_unet_get_config(model->unet)->in_channels;
    if (p->taesd_decode && df_taesd_latent_channels(model->taesd) != p->latent_channels)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "decoder taesd: this TAESD decodes %d latent channels, the UNet makes "
                            "%d (a TAESD for another model family?)",
                            df_taesd_latent_channels(model->taesd), p->latent_channels);
    p->cfg = request->guidance_scale > 1.0f;

    char class_name[128];
    status = scheduler_config(model, request->prediction, &p->scheduler, class_name,
                              sizeof class_name, error);
    if (status)
        return status;
    const char *sampler = request->sampler && *request->sampler ? request->sampler
                          : class_name[0]                       ? class_name
                                                                : "euler";
    status = df_sampler_parse_for_config(sampler, &p->scheduler, &p->sampler, &p->schedule, error);
    if (status)
        return status;
    /* Keys the checkpoint's config leaves out take the chosen sampler's
     * defaults (from_config); an unsupported setting is refused here. */
    status = df_scheduler_config_resolve(p->sampler, &p->scheduler, &p->scheduler, error);
    if (status)
        return status;
    p->options = df_sampler_options_default();
    p->options.schedule = p->schedule;
    if (request->schedule && *request->schedule &&
        (status = df_sigma_schedule_parse(request->schedule, &p->options.schedule, error)))
        return status;
    if (request->spacing && *request->spacing &&
        (status = df_timestep_spacing_parse(request->spacing, &p->options.spacing, error)))
        return status;
    p->options.eta = request->eta;
    p->options.strength = p->img2img ? request->strength : 1.0;
    p->rng = DF_RNG_CPU;
    if (request->rng && *request->rng && df_rng_kind_parse(request->rng, &p->rng))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "rng '%s' is not one of: cpu, philox (A1111's \"NV\")", request->rng);
    if ((status = check_precision(request, NULL, error)))
        return status;
    return check_sdxl(model, request, p, error);
}

/* ------------------------------------------------------------------------ */
/* Text conditioning                                                        */

/* A model's conditioning of one generation: the prompt's and (with CFG)
 * the negative prompt's encodings with the same number of windows (the
 * shorter is extended with encodings of the empty prompt, as A1111 does;
 * diffusers truncates both to one window, and for prompts of up to 75
 * tokens the two agree), and SDXL's pooled embeddings. */
typedef struct condition {
    float *cond, *uncond;   /* [tokens, dim] */
    size_t tokens;
    int dim;
    float *pooled, *negative_pooled; /* [pooled_dim]; NULL unless SDXL */
    int pooled_dim;
} condition;

static void free_condition(condition *c)
{
    free(c->cond);
    free(c->uncond);
    free(c->pooled);
    free(c->negative_pooled);
    memset(c, 0, sizeof *c);
}

static df_status encode_prompts(df_model *model, const df_generate_request *request,
                                const plan *p, condition *c, df_error *error)
{
    memset(c, 0, sizeof *c);
    c->dim = df_model_text_dim(model);
    c->pooled_dim = df_model_pooled_dim(model);
    if (c->pooled_dim &&
        (!(c->pooled = calloc((size_t)c->pooled_dim, sizeof(float))) ||
         !(c->negative_pooled = calloc((size_t)c->pooled_dim, sizeof(float)))))
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding prompts");
    size_t cond_tokens = 0, uncond_tokens = 0;
    df_status status = df_model_encode_condition(model, request->prompt, request->prompt_2,
                                                 request->clip_skip, request->prompt_flags,
                                                 &c->cond, &cond_tokens, c->pooled, error);
    if (status) {
        free_condition(c);
        return df_error_prefix(error, "prompt: ");
    }
    c->tokens = cond_tokens;
    if (!p->cfg)
        return DF_OK;
    if (p->zero_negative) {
        /* diffusers' force_zeros_for_empty_prompt: zeros_like(prompt_embeds) */
        if (!(c->uncond = calloc(cond_tokens * (size_t)c->dim, sizeof(float)))) {
            free_condition(c);
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding prompts");
        }
        return DF_OK;
    }
    const char *negative = request->negative_prompt ? request->negative_prompt : "";
    status = df_model_encode_condition(model, negative, request->negative_prompt_2,
                                       request->clip_skip, request->prompt_flags, &c->uncond,
                                       &uncond_tokens, c->negative_pooled, error);
    if (status) {
        free_condition(c);
        return df_error_prefix(error, "negative prompt: ");
    }
    if (cond_tokens != uncond_tokens) {
        float **shorter = cond_tokens < uncond_tokens ? &c->cond : &c->uncond;
        size_t *shorter_tokens = cond_tokens < uncond_tokens ? &cond_tokens : &uncond_tokens;
        size_t target = cond_tokens > uncond_tokens ? cond_tokens : uncond_tokens;
        float *empty = NULL;
        size_t empty_tokens = 0;
        status = df_model_encode_condition(model, "", NULL, request->clip_skip, 0, &empty,
                                           &empty_tokens, NULL, error);
        float *grown =
            status ? NULL : realloc(*shorter, target * (size_t)c->dim * sizeof(float));
        if (!status && !grown)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory encoding prompts");
        if (!status) {
            *shorter = grown;
            for (size_t t = *shorter_tokens; t < target; t += DF_CLIP_WINDOW)
                memcpy(grown + t * (size_t)c->dim, empty,
                       DF_CLIP_WINDOW * (size_t)c->dim * sizeof(float));
            *shorter_tokens = target;
        }
        free(empty);
        if (status) {
            free_condition(c);
            return status;
        }
    }
    c->tokens = cond_tokens;
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Infotext (AUTOMATIC1111's "parameters")                                  */

/* A1111's label of the sampler; the schedule is written as its own
 * "Schedule type" field, as current A1111 versions do. */
static const char *a1111_sampler_label(df_sampler_kind kind)
{
    size_t count;
    const df_sampler_info *list = df_sampler_list(&count);
    for (size_t i = 0; i < count; i++)
        if (list[i].kind == kind && list[i].schedule == DF_SCHEDULE_DISCRETE)
            return list[i].name;
    for (size_t i = 0; i < count; i++)
        if (list[i].kind == kind)
            return list[i].name;
    return df_sampler_kind_name(kind);
}

/* A model's name as A1111 writes it: the file or folder name without
 * ".safetensors". */
static void model_label(const df_model *model, char *out, size_t size)
{
    const char *base = strrchr(model->path, '/');
    base = base && base[1] ? base + 1 : model->path;
    snprintf(out, size, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && !strcmp(dot, ".safetensors"))
        *dot = 0;
}

static char *make_infotext(const df_model *model, const df_generate_request *request,
                           const plan *p, int64_t seed)
{
    char model_name[256];
    model_label(model, model_name, sizeof model_name);
    const char *negative = request->negative_prompt ? request->negative_prompt : "";
    size_t size = strlen(request->prompt) + strlen(negative) + 1024;
    char *text = malloc(size);
    if (!text)
        return NULL;
    int n = snprintf(text, size, "%s\n", request->prompt);
    if (*negative)
        n += snprintf(text + n, size - (size_t)n, "Negative prompt: %s\n", negative);
    n += snprintf(text + n, size - (size_t)n, "Steps: %d, Sampler: %s, ", request->steps,
                  a1111_sampler_label(p->sampler));
    if (p->options.schedule == DF_SCHEDULE_KARRAS)
        n += snprintf(text + n, size - (size_t)n, "Schedule type: Karras, ");
    n += snprintf(text + n, size - (size_t)n, "CFG scale: %g, Seed: %lld, Size: %dx%d, Model: %s, ",
                  request->guidance_scale, (long long)seed, p->width, p->height, model_name);
    if (p->img2img)
        n += snprintf(text + n, size - (size_t)n, "Denoising strength: %g, ", request->strength);
    if (request->clip_skip > 1)
        n += snprintf(text + n, size - (size_t)n, "Clip skip: %d, ", request->clip_skip);
    if (request->refiner) { /* A1111's names for the refiner */
        char refiner[256];
        model_label(request->refiner, refiner, sizeof refiner);
        n += snprintf(text + n, size - (size_t)n, "Refiner: %.200s, Refiner switch at: %g, ",
                      refiner, request->refiner_start);
    }
    n += snprintf(text + n, size - (size_t)n, "RNG: %s, ", p->rng == DF_RNG_PHILOX ? "NV" : "CPU");
    /* The precision it was computed in (after any fallback to f32), so an
     * image says how to reproduce it; f32 is left out as before. */
    const int precision = df_pool_precision(df_runtime_pool(model->runtime));
    if (precision != DF_PRECISION_F32)
        n += snprintf(text + n, size - (size_t)n, "Precision: %s, ",
                      df_precision_name((df_precision)precision));
    snprintf(text + n, size - (size_t)n, "Version: diffuse %s", DIFFUSE_VERSION);
    return text;
}

/* ------------------------------------------------------------------------ */
/* One run: `batch` images from one generator                               */

typedef struct run_buffers {
    float *latents, *noise, *model_input, *model_output, *timesteps, *context, *image;
    float *text_embeds, *time_ids; /* SDXL's added conditioning per UNet batch item */
    float *preview_latents, *preview_image;
    uint8_t *preview_pixels;
} run_buffers;

/* The sizes of a run's buffers: what run_batch allocates and what
 * df_model_estimate_memory counts. Floats, but preview_pixels in bytes. */
typedef struct buffer_sizes {
    size_t latents, noise, model_input, model_output, timesteps, context, image;
    size_t text_embeds, time_ids;
    size_t preview_latents, preview_image, preview_pixels;
} buffer_sizes;

static buffer_sizes run_buffer_sizes(const plan *p, const df_generate_request *request, int batch,
                                     size_t tokens, int dim, int pooled_dim)
{
    const size_t copies = p->cfg ? 2 : 1;
    const size_t latent_count = (size_t)p->latent_channels * (size_t)p->latent_height *
                                (size_t)p->latent_width * (size_t)batch;
    buffer_sizes s = {
        .latents = latent_count, .noise = latent_count,
        .model_input = latent_count * copies, .model_output = latent_count * copies,
        .timesteps = (size_t)batch * copies,
        .context = (size_t)batch * copies * tokens * (size_t)dim,
        .image = (size_t)batch * 3 * (size_t)p->width * (size_t)p->height,
        .text_embeds = (size_t)batch * copies * (size_t)pooled_dim,
        .time_ids = p->time_id_count ? (size_t)batch * copies * 6 : 0,
    };
    if (request->preview_every > 0) { /* TAESD decodes at 8x the latent */
        s.preview_latents = latent_count;
        s.preview_image = latent_count / (size_t)p->latent_channels * 3 * 64;
        s.preview_pixels = latent_count / (size_t)p->latent_channels * 3 * 64;
    }
    return s;
}

static void free_buffers(run_buffers *b)
{
    free(b->latents);
    free(b->noise);
    free(b->model_input);
    free(b->model_output);
    free(b->timesteps);
    free(b->context);
    free(b->image);
    free(b->text_embeds);
    free(b->time_ids);
    free(b->preview_latents);
    free(b->preview_image);
    free(b->preview_pixels);
    memset(b, 0, sizeof *b);
}

/* alphas_cumprod at a fractional timestep (linear interpolation), from the
 * config's betas; only previews use it. */
static double alpha_cumprod_at(const df_scheduler_config *config, double t)
{
    const int n = config->num_train_timesteps;
    t = t < 0 ? 0 : t > n - 1 ? n - 1 : t;
    const int low = (int)t;
    double product = 1, at_low = 1;
    for (int i = 0; i <= low + 1 && i < n; i++) {
        double beta;
        if (config->beta_schedule == DF_BETA_SCALED_LINEAR) {
            double root = sqrt(config->beta_start) +
                          (sqrt(config->beta_end) - sqrt(config->beta_start)) * i / (n - 1);
            beta = root * root;
        } else {
            beta = config->beta_start + (config->beta_end - config->beta_start) * i / (n - 1);
        }
        product *= 1 - beta;
        if (i == low)
            at_low = product;
    }
    return low + 1 >= n ? at_low : at_low + (product - at_low) * (t - low);
}

typedef struct progress_state {
    double start;
    int offset, total; /* sampling steps before this run, and in the whole generation */
} progress_state;

static df_status preview(df_model *model, const plan *p, run_buffers *b, int batch, float timestep,
                         df_progress *progress, df_error *error)
{
    /* x0 from the model input (the noisy latents in DDPM scale) and the
     * guided prediction: what the final image will look like, not noise. */
    const size_t per_image = (size_t)p->latent_channels * (size_t)p->latent_height *
                             (size_t)p->latent_width;
    const double alpha = alpha_cumprod_at(&p->scheduler, timestep);
    const double a = sqrt(alpha), s = sqrt(1 - alpha);
    for (size_t i = 0; i < per_image * (size_t)batch; i++) {
        double x = b->model_input[i], e = b->model_output[i];
        b->preview_latents[i] = (float)(p->scheduler.prediction_type == DF_PREDICTION_V
                                            ? a * x - s * e
                                            : (x - s * e) / a);
    }
    df_status status = df_taesd_decode(model->taesd, b->preview_latents, batch, p->latent_height,
                                       p->latent_width, b->preview_image, error);
    if (status)
        return status;
    const int width = p->latent_width * 8, height = p->latent_height * 8;
    for (int i = 0; i < batch; i++) {
        df_image image = {0};
        status = df_image_from_tensor(b->preview_image, i, width, height, &image, error);
        if (status)
            return status;
        memcpy(b->preview_pixels + (size_t)i * (size_t)width * (size_t)height * 3, image.pixels,
               (size_t)width * (size_t)height * 3);
        df_image_free(&image);
    }
    progress->preview = b->preview_pixels;
    progress->preview_width = width;
    progress->preview_height = height;
    progress->preview_count = batch;
    return DF_OK;
}

/* One model's denoising run of `batch` images on `rng`, from noise (or the
 * init image), or from `start_latents` (the refiner's stage of an
 * ensemble: no noise is added). Writes the final latents; decodes them into
 * `pixels` unless `pixels` is NULL (the base's stage of an ensemble). */
static df_status run_batch(df_model *model, const df_generate_request *request, const plan *p,
                           const condition *c, int batch, df_rng *rng_state,
                           const float *start_latents, progress_state *progress_state,
                           uint8_t *pixels, float *final_latents, int last_run, df_error *error)
{
    const int dim = c->dim;
    const size_t tokens = c->tokens;
    const float *cond = c->cond, *uncond = c->uncond;
    const int copies = p->cfg ? 2 : 1;
    const size_t per_image = (size_t)p->latent_channels * (size_t)p->latent_height *
                             (size_t)p->latent_width;
    const size_t latent_count = per_image * (size_t)batch;
    run_buffers b = {0};
    df_sampler *sampler = NULL;
    df_status status = df_sampler_create(p->sampler, &p->scheduler, request->steps, &p->options,
                                         latent_count, &sampler, error);
    if (!status && p->denoising_end > 0)
        status = df_sampler_set_denoising_end(sampler, p->denoising_end, error);
    if (!status && p->denoising_start > 0)
        status = df_sampler_set_denoising_start(sampler, p->denoising_start, error);
    if (status) {
        df_sampler_free(sampler);
        return status;
    }
    const buffer_sizes sizes = run_buffer_sizes(p, request, batch, tokens, dim, c->pooled_dim);
    b.latents = malloc(sizes.latents * sizeof(float));
    b.noise = malloc(sizes.noise * sizeof(float));
    b.model_input = malloc(sizes.model_input * sizeof(float));
    b.model_output = malloc(sizes.model_output * sizeof(float));
    b.timesteps = malloc(sizes.timesteps * sizeof(float));
    b.context = malloc(sizes.context * sizeof(float));
    b.image = malloc(sizes.image * sizeof(float));
    if (sizes.text_embeds)
        b.text_embeds = malloc(sizes.text_embeds * sizeof(float));
    if (sizes.time_ids)
        b.time_ids = malloc(sizes.time_ids * sizeof(float));
    if (request->preview_every > 0) {
        b.preview_latents = malloc(sizes.preview_latents * sizeof(float));
        b.preview_image = malloc(sizes.preview_image * sizeof(float));
        b.preview_pixels = malloc(sizes.preview_pixels);
    }
    if (!b.latents || !b.noise || !b.model_input || !b.model_output || !b.timesteps ||
        !b.context || !b.image || (sizes.text_embeds && !b.text_embeds) ||
        (sizes.time_ids && !b.time_ids) ||
        (request->preview_every > 0 && (!b.preview_latents || !b.preview_image || !b.preview_pixels))) {
        status = df_error_set(error, DF_ERR_NO_MEMORY,
                              "out of memory for a %dx%d batch of %d", p->width, p->height, batch);
        goto done;
    }
    /* diffusers: cat([negative_prompt_embeds, prompt_embeds]), each repeated per image. */
    const size_t context_values = tokens * (size_t)dim;
    for (int i = 0; i < batch; i++) {
        if (p->cfg) {
            memcpy(b.context + (size_t)i * context_values, uncond, context_values * sizeof(float));
            memcpy(b.context + (size_t)(batch + i) * context_values, cond,
                   context_values * sizeof(float));
        } else {
            memcpy(b.context + (size_t)i * context_values, cond, context_values * sizeof(float));
        }
    }
    /* SDXL: the pooled embeddings and time ids in the same order. */
    const int ids = p->time_id_count;
    for (int i = 0; i < batch * copies && ids; i++) {
        const int negative = p->cfg && i < batch;
        memcpy(b.text_embeds + (size_t)i * (size_t)c->pooled_dim,
               negative ? c->negative_pooled : c->pooled, (size_t)c->pooled_dim * sizeof(float));
        memcpy(b.time_ids + (size_t)i * (size_t)ids, negative ? p->negative_time_ids : p->time_ids,
               (size_t)ids * sizeof(float));
    }
    const df_unet_added added = {b.text_embeds, c->pooled_dim, b.time_ids, ids};

    df_rng *rng = rng_state;
    const df_vae_config *vae_config = df_vae_get_config(model->vae);
    if (start_latents) {
        memcpy(b.latents, start_latents, latent_count * sizeof(float));
    } else if (!p->img2img) {
        df_rng_randn(rng, b.latents, latent_count);
        const float sigma = df_sampler_init_noise_sigma(sampler);
        for (size_t i = 0; i < latent_count; i++)
            b.latents[i] *= sigma;
    } else {
        /* prepare_latents: encode the image once, sample the latent
         * distribution with the generator, scale, repeat for the batch, then
         * add the noise of the first kept timestep. */
        df_image init = {request->init_width, request->init_height, (uint8_t *)request->init_pixels};
        df_image resized = {0};
        const df_image *source = &init;
        if (init.width != p->width || init.height != p->height) {
            /* VaeImageProcessor.resize: a Lanczos stretch to the target size. */
            status = df_image_resize(&init, p->width, p->height, DF_IMAGE_RESIZE_STRETCH, &resized,
                                     error);
            if (status)
                goto done;
            source = &resized;
        }
        df_image_to_tensor(source, b.image, 0);
        df_image_free(&resized);
        float *mean = b.model_input, *logvar = b.model_output;
        status = df_vae_encode(model->vae, b.image, 1, p->height, p->width, mean, logvar, error);
        if (status)
            goto done;
        df_rng_randn(rng, b.noise, per_image);
        for (size_t i = 0; i < per_image; i++)
            b.latents[i] = vae_config->scaling_factor *
                           (mean[i] + expf(0.5f * logvar[i]) * b.noise[i]);
        for (int i = 1; i < batch; i++)
            memcpy(b.latents + (size_t)i * per_image, b.latents, per_image * sizeof(float));
        df_rng_randn(rng, b.noise, latent_count);
        df_sampler_add_noise(sampler, b.latents, b.noise, b.latents);
    }

    size_t evaluations = 0;
    const float *timesteps = df_sampler_timesteps(sampler, &evaluations);
    if (progress_state->offset == 0 && request->progress) {
        /* Step 0: the total is known before the first (possibly long) step. */
        df_progress progress = {.total = progress_state->total,
                                .elapsed_seconds = now_seconds() - progress_state->start};
        if (request->progress(request->progress_user, &progress)) {
            status = df_error_set(error, DF_ERR_CANCELLED, "generation cancelled before step 1");
            goto done;
        }
    }
    for (size_t index = 0; index < evaluations; index++) {
        df_sampler_scale_model_input(sampler, index, b.latents, b.model_input);
        if (p->cfg)
            memcpy(b.model_input + latent_count, b.model_input, latent_count * sizeof(float));
        for (int i = 0; i < batch * copies; i++)
            b.timesteps[i] = timesteps[index];
        status = df_unet_forward(model->unet, b.model_input, batch * copies, p->latent_height,
                                 p->latent_width, b.timesteps, b.context, (int)tokens,
                                 ids ? &added : NULL, b.model_output, error);
        if (status)
            goto done;
        if (p->cfg) {
            const float scale = request->guidance_scale;
            const float *text = b.model_output + latent_count;
            for (size_t i = 0; i < latent_count; i++)
                b.model_output[i] += scale * (text[i] - b.model_output[i]);
        }
        df_progress progress = {
            .step = progress_state->offset + df_sampler_steps_done(sampler, index),
            .total = progress_state->total,
            .elapsed_seconds = now_seconds() - progress_state->start,
        };
        if (request->preview_every > 0 &&
            ((int)index % request->preview_every == request->preview_every - 1 ||
             index + 1 == evaluations) &&
            (status = preview(model, p, &b, batch, timesteps[index], &progress, error)))
            goto done;
        if (df_pool_stopped(df_runtime_pool(model->runtime))) { /* the preview was cut short */
            status = df_error_set(error, DF_ERR_CANCELLED, "generation cancelled at step %d of %d",
                                  progress.step, progress.total);
            goto done;
        }
        status = df_sampler_step(sampler, index, b.model_output, b.latents, rng, error);
        if (status)
            goto done;
        if (request->progress && request->progress(request->progress_user, &progress)) {
            status = df_error_set(error, DF_ERR_CANCELLED, "generation cancelled at step %d of %d",
                                  progress.step, progress.total);
            goto done;
        }
    }
    progress_state->offset += df_sampler_run_steps(sampler);
    memcpy(final_latents, b.latents, latent_count * sizeof(float));
    /* The generation's last UNet evaluation on this model is done: its
     * mapped weights need not stay resident through the decode (or the
     * refiner's stage). Not after earlier runs of a per-image batch, which
     * would read them back at once. */
    if (last_run)
        df_checkpoint_release_pages(model->checkpoint, DF_COMPONENT_UNET);
    if (!pixels)
        goto done;

    if (p->taesd_decode) {
        /* AutoencoderTiny's scaling factor is 1: the latents as they are. */
        status = df_taesd_decode(model->taesd, b.latents, batch, p->latent_height,
                                 p->latent_width, b.image, error);
    } else {
        for (size_t i = 0; i < latent_count; i++)
            b.latents[i] /= vae_config->scaling_factor;
        status = df_vae_decode(model->vae, b.latents, batch, p->latent_height, p->latent_width,
                               b.image, error);
    }
    if (status)
        goto done;
    const size_t image_bytes = (size_t)p->width * (size_t)p->height * 3;
    for (int i = 0; i < batch; i++) {
        df_image image = {0};
        status = df_image_from_tensor(b.image, i, p->width, p->height, &image, error);
        if (status)
            goto done;
        memcpy(pixels + (size_t)i * image_bytes, image.pixels, image_bytes);
        df_image_free(&image);
    }
done:
    df_sampler_free(sampler);
    free_buffers(&b);
    return status;
}

int64_t df_random_seed(void)
{
    uint32_t value = 0;
    if (getrandom(&value, sizeof value, 0) != (ssize_t)sizeof value) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        value = (uint32_t)now.tv_nsec * 2654435761u ^ (uint32_t)now.tv_sec;
    }
    return value;
}

static void release_text_pages(const df_model *model)
{
    df_checkpoint_release_pages(model->checkpoint, DF_COMPONENT_TEXT_ENCODER);
    df_checkpoint_release_pages(model->checkpoint, DF_COMPONENT_TEXT_ENCODER_2);
}

/* The refiner's stage of an ensemble: its plan (the same size, sampler
 * and settings, no init image: it starts from the base's latents) and the
 * checks that the two models fit together. */
static df_status check_refiner(df_model *model, const plan *base, const df_generate_request *request,
                               plan *p, df_error *error)
{
    df_model *refiner = request->refiner;
    if (refiner == model)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: the refiner is the base model itself");
    if (!(request->refiner_start > 0 && request->refiner_start < 1))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner_start %g is out of range (between 0 and 1, exclusive)",
                            request->refiner_start);
    if (df_model_family(refiner) != DF_FAMILY_SDXL)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: %s is an %s model, not an SDXL refiner", refiner->path,
                            df_family_name(df_model_family(refiner)));
    df_generate_request stage = *request;
    stage.init_pixels = NULL;
    stage.width = base->width;
    stage.height = base->height;
    stage.refiner = NULL;
    stage.prompt_2 = request->prompt_2 && refiner->text_encoder ? request->prompt_2 : NULL;
    stage.negative_prompt_2 = request->negative_prompt_2 && refiner->text_encoder
                                  ? request->negative_prompt_2
                                  : NULL;
    df_status status = check_request(refiner, &stage, p, error);
    if (status)
        return df_error_prefix(error, "refiner %s: ", refiner->path);
    if (p->time_id_count != 5)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: %s is an SDXL base model, not a refiner (its UNet takes "
                            "no aesthetic score)",
                            refiner->path);
    const df_vae_config *a = df_vae_get_config(model->vae), *b = df_vae_get_config(refiner->vae);
    if (p->latent_channels != base->latent_channels || p->scale != base->scale ||
        a->scaling_factor != b->scaling_factor)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "refiner: %s works in another latent space (%d channels, 1/%d scale, "
                            "scaling factor %g) than the base (%d, 1/%d, %g)",
                            refiner->path, p->latent_channels, p->scale, b->scaling_factor,
                            base->latent_channels, base->scale, a->scaling_factor);
    p->denoising_start = request->refiner_start;
    return DF_OK;
}

/* Sampling steps a plan's run takes (progress counts them). */
static df_status plan_run_steps(const plan *p, const df_generate_request *request, int *out,
                                df_error *error)
{
    df_sampler *probe = NULL;
    df_status status =
        df_sampler_create(p->sampler, &p->scheduler, request->steps, &p->options, 1, &probe, error);
    if (!status && p->denoising_end > 0)
        status = df_sampler_set_denoising_end(probe, p->denoising_end, error);
    if (!status && p->denoising_start > 0)
        status = df_sampler_set_denoising_start(probe, p->denoising_start, error);
    *out = status ? 0 : df_sampler_run_steps(probe);
    df_sampler_free(probe);
    return status;
}

static df_status generate(df_model *model, const df_generate_request *request,
                          df_generate_result *result, df_error *error)
{
    const double start = now_seconds();
    plan p, refiner_plan;
    df_status status = check_request(model, request, &p, error);
    if (status)
        return status;
    /* The weights of this request: its LoRA set, or the base weights. */
    const double lora_start = now_seconds();
    if ((status = df_lora_apply(model, request->loras, request->lora_count, error)))
        return status;
    const double lora_seconds = now_seconds() - lora_start;
    if (p.time_id_count == 5 && !p.img2img)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "%s is an SDXL refiner: it refines an init image (img2img) or "
                            "follows a base model (refiner), and makes no image from noise",
                            model->path);
    df_model *refiner = request->refiner;
    if (refiner) {
        p.denoising_end = request->refiner_start;
        if ((status = check_refiner(model, &p, request, &refiner_plan, error)))
            return status;
    }
    const uint64_t seed = (uint64_t)(request->seed >= 0 ? request->seed : df_random_seed());

    condition c = {0}, refiner_c = {0};
    status = encode_prompts(model, request, &p, &c, error);
    if (!status && refiner) {
        df_generate_request stage = *request;
        stage.prompt_2 = refiner->text_encoder ? request->prompt_2 : NULL;
        stage.negative_prompt_2 = refiner->text_encoder ? request->negative_prompt_2 : NULL;
        status = encode_prompts(refiner, &stage, &refiner_plan, &refiner_c, error);
        if (status)
            df_error_prefix(error, "refiner: ");
    }
    if (!status) {
        /* The text encoders are done for this run: their mapped pages may
         * leave the resident set (re-read from the page cache next time). */
        release_text_pages(model);
        if (refiner)
            release_text_pages(refiner);
    }
    if (!status && df_pool_stopped(df_runtime_pool(model->runtime)))
        status = df_error_set(error, DF_ERR_CANCELLED, "generation cancelled while encoding");
    if (!status)
        status = df_unet_check_inputs(model->unet, request->batch * (p.cfg ? 2 : 1),
                                      p.latent_height, p.latent_width, (int)c.tokens, c.dim, error);
    if (!status && refiner)
        status = df_unet_check_inputs(refiner->unet, request->batch * (refiner_plan.cfg ? 2 : 1),
                                      p.latent_height, p.latent_width, (int)refiner_c.tokens,
                                      refiner_c.dim, error);
    const int batch = request->batch;
    const size_t image_bytes = (size_t)p.width * (size_t)p.height * 3;
    const size_t latent_values = (size_t)p.latent_channels * (size_t)p.latent_height *
                                 (size_t)p.latent_width;
    float *handover = NULL; /* the base's latents for the refiner */
    if (!status) {
        result->pixels = malloc((size_t)batch * image_bytes);
        result->latents = malloc((size_t)batch * latent_values * sizeof(float));
        result->seeds = calloc((size_t)batch, sizeof *result->seeds);
        result->infotexts = calloc((size_t)batch, sizeof *result->infotexts);
        if (refiner)
            handover = malloc((size_t)batch * latent_values * sizeof(float));
        if (!result->pixels || !result->latents || !result->seeds || !result->infotexts ||
            (refiner && !handover))
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory for %d images", batch);
    }
    if (!status) {
        result->count = batch;
        result->width = p.width;
        result->height = p.height;
        result->latent_channels = p.latent_channels;
        result->latent_height = p.latent_height;
        result->latent_width = p.latent_width;
        /* Progress counts sampling steps over the whole generation. */
        int run_steps = 0, refiner_steps = 0;
        status = plan_run_steps(&p, request, &run_steps, error);
        if (!status && refiner)
            status = plan_run_steps(&refiner_plan, request, &refiner_steps, error);
        int runs = request->seed_mode == DF_SEED_PER_IMAGE ? batch : 1;
        progress_state progress = {start, 0, (run_steps + refiner_steps) * runs};
        for (int run = 0; run < runs && !status; run++) {
            int run_batch_size = runs == 1 ? batch : 1;
            uint8_t *pixels = result->pixels + (size_t)run * image_bytes;
            float *latents = result->latents + (size_t)run * latent_values;
            df_rng rng;
            df_rng_seed(&rng, p.rng, seed + (uint64_t)run);
            /* The refiner continues on the base's generator (one generator
             * passed to both of diffusers' pipelines). */
            const int last = run == runs - 1;
            status = run_batch(model, request, &p, &c, run_batch_size, &rng, NULL, &progress,
                               refiner ? NULL : pixels, refiner ? handover : latents, last,
                               error);
            if (!status && refiner)
                status = run_batch(refiner, request, &refiner_plan, &refiner_c, run_batch_size,
                                   &rng, handover, &progress, pixels, latents, last, error);
        }
        for (int i = 0; i < batch && !status; i++) {
            /* A batch image reproduces from the batch seed (diffusers) or
             * alone from its own seed (A1111). */
            result->seeds[i] = (int64_t)(request->seed_mode == DF_SEED_PER_IMAGE ? seed + (uint64_t)i
                                                                               : seed);
            result->infotexts[i] = make_infotext(model, request, &p, result->seeds[i]);
            if (!result->infotexts[i])
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        }
    }
    free(handover);
    free_condition(&c);
    free_condition(&refiner_c);
    if (status) {
        df_generate_result_free(result);
        return status;
    }
    result->seconds = now_seconds() - start;
    result->lora_seconds = lora_seconds;
    return DF_OK;
}

df_status df_model_generate(df_model *model, const df_generate_request *request,
                            df_generate_result *result, df_error *error)
{
    memset(result, 0, sizeof *result);
    if (!model || !request)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "generate: model and request are required");
    /* Every model part runs on this pool: its stop function reaches the
     * kernels, the UNet's blocks and the VAE's tiles. */
    df_precision precision;
    df_status status = check_precision(request, &precision, error);
    if (status)
        return status;
    df_pool *pool = df_runtime_pool(model->runtime);
    df_pool_set_stop(pool, request->cancel, request->cancel_user);
    /* The text encoder, UNet and VAE all run on this pool; where the CPU
     * cannot run the precision, f32 (with a one-time message). */
    df_pool_set_precision(pool, (int)df_gemm_precision_effective(precision));
    status = generate(model, request, result, error);
    df_pool_set_precision(pool, DF_PRECISION_F32);
    df_pool_set_stop(pool, NULL, NULL);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Memory estimate                                                          */

/* Token windows df_model_encode_prompt makes of `text`. */
static df_status count_windows(df_model *model, const char *text, unsigned flags, size_t *out,
                               df_error *error)
{
    df_token_windows windows;
    df_status status = df_model_tokenize(model, text, flags, &windows, error);
    if (status)
        return status;
    *out = windows.window_count;
    df_token_windows_free(&windows);
    return DF_OK;
}

/* a + b without wrapping: a request past SIZE_MAX is simply too large. */
static size_t add_bytes(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_bytes(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

df_status df_model_estimate_memory(df_model *model, const df_generate_request *request,
                                   size_t *out_bytes, df_error *error)
{
    *out_bytes = 0;
    if (!model || !request)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "estimate: model and request are required");
    plan p;
    df_status status = check_request(model, request, &p, error);
    if (status)
        return status;
    size_t cond_windows = 0, uncond_windows = 0;
    status = count_windows(model, request->prompt, request->prompt_flags, &cond_windows, error);
    if (!status && p.cfg)
        status = count_windows(model,
                               request->negative_prompt ? request->negative_prompt : "",
                               request->prompt_flags, &uncond_windows, error);
    if (status)
        return status;
    const size_t windows = cond_windows > uncond_windows ? cond_windows : uncond_windows;
    const size_t tokens = windows * DF_CLIP_WINDOW;
    const int dim = df_model_text_dim(model);
    const int batch = request->batch;
    const int runs = request->seed_mode == DF_SEED_PER_IMAGE ? batch : 1;
    const int run_size = runs == 1 ? batch : 1;
    const int copies = p.cfg ? 2 : 1;
    const size_t per_image = (size_t)p.latent_channels * (size_t)p.latent_height *
                             (size_t)p.latent_width;
    const size_t image_bytes = (size_t)p.width * (size_t)p.height * 3;
    /* Every arena lives as long as the model, so at the VAE decode of the
     * last run all of them are held at once, with one run's buffers, the
     * sampler, the prompts' encodings and the result: the sum is the peak.
     * Each arena is rounded up to its alignment once more when reserved. */
    size_t total = 0;
    /* Text: the encodings (and the empty prompt's, padding the shorter)
     * and the encoder's scratch for the longest prompt. */
    total = add_bytes(total, mul_bytes(3 * tokens * (size_t)dim, sizeof(float)));
    if (model->text_encoder)
        total = add_bytes(total, df_clip_text_encoder_scratch_bytes(model->text_encoder,
                                                                    (int)windows) + 64);
    if (model->text_encoder_2) /* SDXL: the second encoder's scratch, and its per-encoder copy */
        total = add_bytes(total, df_clip_text_encoder_scratch_bytes(model->text_encoder_2,
                                                                    (int)windows) + 64 +
                                     mul_bytes(tokens * (size_t)dim, sizeof(float)));
    /* One run's buffers and sampler. */
    const buffer_sizes sizes =
        run_buffer_sizes(&p, request, run_size, tokens, dim, df_model_pooled_dim(model));
    const size_t floats[] = {sizes.latents, sizes.noise, sizes.model_input, sizes.model_output,
                             sizes.timesteps, sizes.context, sizes.image, sizes.preview_latents,
                             sizes.preview_image, sizes.text_embeds, sizes.time_ids};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++)
        total = add_bytes(total, mul_bytes(floats[i], sizeof(float)));
    total = add_bytes(total, sizes.preview_pixels);
    total = add_bytes(total, df_sampler_memory_bytes(p.sampler, &p.scheduler, request->steps,
                                                     per_image * (size_t)run_size));
    /* The UNet's scratch, and the VAE's (one arena for encode and decode). */
    total = add_bytes(total, df_unet_scratch_bytes(model->unet, run_size * copies,
                                                   p.latent_height, p.latent_width,
                                                   (int)tokens) + 64);
    /* With decoder taesd the VAE never decodes, so reserves no decode arena. */
    size_t vae = p.taesd_decode ? 0
                                : df_vae_decode_scratch_bytes(model->vae, p.latent_height,
                                                              p.latent_width);
    if (p.img2img) {
        /* A larger decode reserves its arena while the encode's is held. */
        vae = add_bytes(vae, df_vae_encode_scratch_bytes(model->vae, p.height, p.width));
        /* The init image resized to the target size, while it is encoded. */
        total = add_bytes(total, image_bytes);
    }
    if (vae)
        total = add_bytes(total, vae + 64);
    /* Previews and a TAESD final decode share TAESD's one arena. */
    if ((request->preview_every > 0 || p.taesd_decode) && model->taesd)
        total = add_bytes(total, df_taesd_decode_scratch_bytes(model->taesd, p.latent_height,
                                                               p.latent_width) + 64);
    /* The pool's one workspace (Winograd's convolutions), as large as the
     * largest of the models' needs. */
    size_t workspace = df_unet_conv_workspace_bytes(model->unet, run_size * copies,
                                                    p.latent_height, p.latent_width);
    size_t decode_workspace =
        p.taesd_decode ? df_taesd_decode_workspace_bytes(model->taesd, p.latent_height,
                                                         p.latent_width)
                       : df_vae_decode_workspace_bytes(model->vae, p.latent_height, p.latent_width);
    workspace = decode_workspace > workspace ? decode_workspace : workspace;
    if (request->preview_every > 0 && model->taesd) {
        size_t bytes = df_taesd_decode_workspace_bytes(model->taesd, p.latent_height,
                                                       p.latent_width);
        workspace = bytes > workspace ? bytes : workspace;
    }
    if (p.img2img) {
        size_t bytes = df_vae_encode_workspace_bytes(model->vae, p.height, p.width);
        workspace = bytes > workspace ? bytes : workspace;
    }
    total = add_bytes(total, workspace);
    /* The result, and one image converted to 8 bits at a time. */
    total = add_bytes(total, mul_bytes((size_t)batch, image_bytes + per_image * sizeof(float) +
                                                          sizeof(int64_t) + 4096));
    total = add_bytes(total, image_bytes);
    if (request->refiner) {
        /* Base + refiner: the refiner's arenas are held beside the base's
         * (its UNet at the same shape, its text encoder, its VAE decode),
         * with its encodings and the latents handed over. */
        df_model *refiner = request->refiner;
        plan refiner_plan;
        p.denoising_end = request->refiner_start;
        status = check_refiner(model, &p, request, &refiner_plan, error);
        if (status)
            return status;
        const int refiner_dim = df_model_text_dim(refiner);
        const int refiner_copies = refiner_plan.cfg ? 2 : 1;
        total = add_bytes(total, mul_bytes(3 * tokens * (size_t)refiner_dim, sizeof(float)));
        if (refiner->text_encoder_2)
            total = add_bytes(total, df_clip_text_encoder_scratch_bytes(refiner->text_encoder_2,
                                                                        (int)windows) + 64);
        if (refiner->text_encoder)
            total = add_bytes(total, df_clip_text_encoder_scratch_bytes(refiner->text_encoder,
                                                                        (int)windows) + 64);
        total = add_bytes(total, df_unet_scratch_bytes(refiner->unet, run_size * refiner_copies,
                                                       p.latent_height, p.latent_width,
                                                       (int)tokens) + 64);
        if (!p.taesd_decode)
            total = add_bytes(total, df_vae_decode_scratch_bytes(refiner->vae, p.latent_height,
                                                                 p.latent_width) + 64);
        total = add_bytes(total, mul_bytes((size_t)batch * per_image, sizeof(float)));
    }
    *out_bytes = total;
    return DF_OK;
}
