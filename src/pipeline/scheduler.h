/*
 * scheduler.h — the samplers (diffusers "schedulers"), each equal to its
 * diffusers 0.35 counterpart to float32 rounding: Euler, Euler ancestral,
 * Heun, DDIM, PNDM/PLMS (skip_prk_steps), LMS, DPM++ 2M, DPM++ 2M SDE, LCM;
 * default or Karras sigmas; leading / trailing / linspace spacing; epsilon
 * and v_prediction models; txt2img and img2img (strength).
 *
 * Invariants:
 *   - Every schedule array is computed in the dtype diffusers computes it in
 *     (betas/alphas_cumprod in torch float32, sigmas through numpy float64
 *     then float32, timesteps float32 or int64), and every step does its
 *     float32 arithmetic in diffusers' order, so a run agrees with diffusers
 *     to ~1e-6 given the same model outputs and generator.
 *   - All memory is allocated by df_sampler_create (sized by latent_count);
 *     df_sampler_step never allocates and cannot fail once its arguments are
 *     valid.
 *   - Step noise is drawn from the caller's df_rng exactly when and in the
 *     shape diffusers draws it: one randn of latent_count values (the whole
 *     batch) per step, for Euler a, DPM++ 2M SDE, LCM (all but the last step)
 *     and DDIM with eta > 0.
 *
 * Usage (StableDiffusionPipeline's loop):
 *
 *     df_sampler_kind kind; df_sigma_schedule schedule;
 *     df_sampler_parse("DPM++ 2M Karras", &kind, &schedule, &err);
 *     df_scheduler_config cfg;
 *     df_scheduler_config_default_sd(&cfg, DF_PREDICTION_EPSILON);
 *     // or df_scheduler_config_read("<model>/scheduler/scheduler_config.json", &cfg, &err)
 *     df_sampler_options opt = df_sampler_options_default();
 *     opt.schedule = schedule;                // opt.strength = 0.6 for img2img
 *     df_sampler *s;
 *     df_sampler_create(kind, &cfg, steps, &opt, latent_count, &s, &err);
 *     df_rng_randn(&rng, latents, latent_count);           // txt2img:
 *     for (i..) latents[i] *= df_sampler_init_noise_sigma(s);
 *     // img2img instead: df_sampler_add_noise(s, encoded, noise, latents)
 *     size_t n; const float *ts = df_sampler_timesteps(s, &n);
 *     for (size_t i = 0; i < n; i++) {        // n model evaluations
 *         df_sampler_scale_model_input(s, i, latents, unet_in);
 *         unet(unet_in, ts[i]) -> eps (after CFG);
 *         df_sampler_step(s, i, eps, latents, &rng, &err);
 *     }
 *     df_sampler_free(s);
 */
#ifndef DF_PIPELINE_SCHEDULER_H
#define DF_PIPELINE_SCHEDULER_H

#include <stddef.h>

#include "diffuse.h"
#include "pipeline/rng.h"

typedef enum df_sampler_kind {
    DF_SAMPLER_EULER,        /* EulerDiscreteScheduler */
    DF_SAMPLER_EULER_A,      /* EulerAncestralDiscreteScheduler */
    DF_SAMPLER_HEUN,         /* HeunDiscreteScheduler */
    DF_SAMPLER_DDIM,         /* DDIMScheduler */
    DF_SAMPLER_PNDM,         /* PNDMScheduler, skip_prk_steps (PLMS) */
    DF_SAMPLER_LMS,          /* LMSDiscreteScheduler */
    DF_SAMPLER_DPMPP_2M,     /* DPMSolverMultistepScheduler dpmsolver++, order 2 */
    DF_SAMPLER_DPMPP_2M_SDE, /* DPMSolverMultistepScheduler sde-dpmsolver++, order 2 */
    DF_SAMPLER_LCM,          /* LCMScheduler */
    DF_SAMPLER_COUNT
} df_sampler_kind;

typedef enum df_sigma_schedule {
    DF_SCHEDULE_DEFAULT, /* the config's (use_karras_sigmas), else the discrete one */
    DF_SCHEDULE_DISCRETE,
    DF_SCHEDULE_KARRAS,  /* use_karras_sigmas (Euler, Heun, LMS, DPM++ only) */
} df_sigma_schedule;

typedef enum df_timestep_spacing {
    DF_SPACING_DEFAULT, /* config's timestep_spacing, else the scheduler class default */
    DF_SPACING_LEADING,
    DF_SPACING_TRAILING,
    DF_SPACING_LINSPACE,
} df_timestep_spacing;

typedef enum df_prediction_type { DF_PREDICTION_EPSILON, DF_PREDICTION_V } df_prediction_type;
typedef enum df_beta_schedule { DF_BETA_SCALED_LINEAR, DF_BETA_LINEAR } df_beta_schedule;

/* scheduler_config.json, the fields that matter to the samplers above. Keys a
 * config does not give keep the SD defaults (which equal the SD 1.x config;
 * timestep_spacing DEFAULT then means each class's own default, as
 * SchedulerClass.from_config does). */
typedef struct df_scheduler_config {
    int num_train_timesteps;           /* 1000 */
    double beta_start, beta_end;       /* 0.00085, 0.012 */
    df_beta_schedule beta_schedule;    /* scaled_linear */
    df_prediction_type prediction_type;
    int steps_offset;                  /* 1 */
    df_timestep_spacing timestep_spacing;
    int set_alpha_to_one;              /* 0 (DDIM, PNDM, LCM) */
    int clip_sample;                   /* 0 (DDIM, LCM) */
    double clip_sample_range;          /* 1.0 */
    int use_karras_sigmas;             /* 0 */
    int original_inference_steps;      /* 50 (LCM) */
    double timestep_scaling;           /* 10.0 (LCM) */
} df_scheduler_config;

/* SD 1.x / 2.x: scaled_linear 0.00085..0.012, 1000 steps, steps_offset 1;
 * the prediction type is the model's (v_prediction for SD 2.x 768-v). */
void df_scheduler_config_default_sd(df_scheduler_config *config, df_prediction_type prediction);

/* Reads a diffusers scheduler_config.json over the SD defaults. Unsupported
 * settings that would change results (trained_betas, rescale_betas_zero_snr,
 * timestep_type "continuous", thresholding, beta schedules other than
 * linear / scaled_linear, prediction "sample") are DF_ERR_UNSUPPORTED. */
df_status df_scheduler_config_read(const char *scheduler_config_json_path,
                                   df_scheduler_config *config, df_error *error);

/* ---- names ---- */

typedef struct df_sampler_info {
    const char *name;           /* AUTOMATIC1111's label ("DPM++ 2M Karras") */
    const char *alias;          /* A1111's k-diffusion alias ("k_dpmpp_2m_ka") */
    df_sampler_kind kind;
    df_sigma_schedule schedule; /* DISCRETE or KARRAS */
} df_sampler_info;

/* The samplers offered under A1111 names (for /sdapi/v1/samplers). */
const df_sampler_info *df_sampler_list(size_t *count);

/* Accepts, case-insensitively: diffusers class names ("EulerDiscreteScheduler"),
 * short names ("euler", "euler_a", "heun", "ddim", "pndm", "plms", "lms",
 * "dpmpp_2m", "dpmpp_2m_sde", "lcm"), A1111 labels and aliases ("Euler a",
 * "DPM++ 2M", "k_lms"); a " Karras" / "_karras" suffix selects Karras sigmas
 * (*schedule = KARRAS), otherwise *schedule = DEFAULT. Unknown names are
 * DF_ERR_INVALID_ARGUMENT with the valid names in the message. */
df_status df_sampler_parse(const char *name, df_sampler_kind *kind, df_sigma_schedule *schedule,
                           df_error *error);
const char *df_sampler_kind_name(df_sampler_kind kind);         /* "euler_a" */
const char *df_sampler_kind_class_name(df_sampler_kind kind);   /* "EulerAncestralDiscreteScheduler" */

/* "default" / "automatic", "discrete", "karras". */
df_status df_sigma_schedule_parse(const char *name, df_sigma_schedule *out, df_error *error);
/* "default", "leading", "trailing", "linspace". */
df_status df_timestep_spacing_parse(const char *name, df_timestep_spacing *out, df_error *error);
const char *df_timestep_spacing_name(df_timestep_spacing spacing);

/* ---- a run ---- */

typedef struct df_sampler_options {
    df_sigma_schedule schedule;
    df_timestep_spacing spacing;
    double eta;      /* DDIM only; the pipeline default 0 */
    double strength; /* 1 = txt2img; (0, 1) img2img as get_timesteps trims */
} df_sampler_options;

df_sampler_options df_sampler_options_default(void);

typedef struct df_sampler df_sampler;

/* steps: 1..num_train_timesteps (LCM: 1..original_inference_steps).
 * latent_count: numel of the latents the loop runs on (the whole batch). */
df_status df_sampler_create(df_sampler_kind kind, const df_scheduler_config *config, int steps,
                            const df_sampler_options *options, size_t latent_count,
                            df_sampler **out, df_error *error);
void df_sampler_free(df_sampler *sampler);
/* Bytes df_sampler_create allocates for such a run (memory estimates). */
size_t df_sampler_memory_bytes(df_sampler_kind kind, const df_scheduler_config *config, int steps,
                               size_t latent_count);

/* Re-trims the run for img2img strength in [0, 1] (get_timesteps): the
 * first int(steps * strength) steps are kept from the end. Resets the state. */
df_status df_sampler_set_strength(df_sampler *sampler, double strength, df_error *error);
/* The timestep index (into the full schedule) the run starts at
 * (set_begin_index's value, t_start * order). */
size_t df_sampler_begin_index(const df_sampler *sampler);

/* The model evaluations of this run, in order: the timestep each gets (the
 * UNet's t). Count = steps (Heun: 2*steps - 1, PNDM: steps + 1), fewer after
 * img2img trimming. */
const float *df_sampler_timesteps(const df_sampler *sampler, size_t *count);
/* Progress in sampling steps, as diffusers' progress bar counts them (a
 * PNDM run of 30 steps is 31 evaluations, Heun's 2*steps - 1): the steps
 * this run takes (the request's, fewer after img2img trimming), and how many
 * are done once evaluation `index` has been stepped. */
int df_sampler_run_steps(const df_sampler *sampler);
int df_sampler_steps_done(const df_sampler *sampler, size_t index);
/* The sigma array diffusers keeps (sigma samplers; DPM++), or NULL. */
const float *df_sampler_sigmas(const df_sampler *sampler, size_t *count);
/* txt2img: initial latents = randn * this. */
float df_sampler_init_noise_sigma(const df_sampler *sampler);

/* The UNet input for evaluation `index` (out may equal latents). */
void df_sampler_scale_model_input(const df_sampler *sampler, size_t index, const float *latents,
                                  float *out);
/* Advances latents (in place) by evaluation `index` given the model output;
 * indices must come in order 0, 1, ... . rng may be NULL only for samplers
 * that draw no noise. */
df_status df_sampler_step(df_sampler *sampler, size_t index, const float *model_output,
                          float *latents, df_rng *rng, df_error *error);
/* img2img: out = the scheduler's add_noise(original, noise, first timestep). */
void df_sampler_add_noise(const df_sampler *sampler, const float *original, const float *noise,
                          float *out);

#endif
