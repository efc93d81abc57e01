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

/* Keys of scheduler_config.json whose absence matters (the present bits). */
enum {
    DF_SCHED_HAS_NUM_TRAIN_TIMESTEPS = 1u << 0,
    DF_SCHED_HAS_BETA_START = 1u << 1,
    DF_SCHED_HAS_BETA_END = 1u << 2,
    DF_SCHED_HAS_BETA_SCHEDULE = 1u << 3,
    DF_SCHED_HAS_PREDICTION_TYPE = 1u << 4,
    DF_SCHED_HAS_STEPS_OFFSET = 1u << 5,
    DF_SCHED_HAS_SET_ALPHA_TO_ONE = 1u << 6,
    DF_SCHED_HAS_CLIP_SAMPLE = 1u << 7,
    DF_SCHED_HAS_CLIP_SAMPLE_RANGE = 1u << 8,
    DF_SCHED_HAS_USE_KARRAS_SIGMAS = 1u << 9,
    DF_SCHED_HAS_ORIGINAL_INFERENCE_STEPS = 1u << 10,
    DF_SCHED_HAS_TIMESTEP_SCALING = 1u << 11,
    DF_SCHED_HAS_SKIP_PRK_STEPS = 1u << 12,
    DF_SCHED_HAS_ALGORITHM_TYPE = 1u << 13,
    DF_SCHED_HAS_SOLVER_ORDER = 1u << 14,
    DF_SCHED_HAS_ALL = (1u << 15) - 1,
};

/* DPMSolverMultistepScheduler's algorithm_type ("deis" reads as dpmsolver++,
 * as its __init__ rewrites it). */
typedef enum df_dpm_algorithm {
    DF_DPM_DPMSOLVER_PP,     /* "dpmsolver++" */
    DF_DPM_SDE_DPMSOLVER_PP, /* "sde-dpmsolver++" */
    DF_DPM_OTHER,            /* "dpmsolver", "sde-dpmsolver": not supported */
} df_dpm_algorithm;

/* final_sigmas_type of Euler and DPM: the sigma after the last step. */
typedef enum df_final_sigmas {
    DF_FINAL_SIGMAS_ZERO,      /* "zero" */
    DF_FINAL_SIGMAS_SIGMA_MIN, /* "sigma_min": the training schedule's smallest sigma */
    DF_FINAL_SIGMAS_OTHER,     /* anything else: diffusers refuses it */
} df_final_sigmas;

/* scheduler_config.json, every key that changes a supported sampler's
 * numbers. As ConfigMixin.from_config does, a key the file sets applies to
 * whichever sampler is chosen (also to a class whose __init__ lacks it when
 * that class reads it from its config, as sigma_min / sigma_max reach Heun's
 * and DPM's Karras sigmas; LMS's Karras code ignores them), and a key it
 * does not set takes the *chosen* class's __init__ default:
 * df_scheduler_config_resolve fills those in. */
typedef struct df_scheduler_config {
    unsigned present;                  /* DF_SCHED_HAS_* of the keys given */
    char class_name[64];               /* _class_name ("" if none) */
    int num_train_timesteps;           /* 1000 */
    double beta_start, beta_end;       /* class defaults differ (see resolve) */
    df_beta_schedule beta_schedule;
    df_prediction_type prediction_type;
    int steps_offset;                  /* 0 */
    df_timestep_spacing timestep_spacing; /* DEFAULT: the class's own */
    int set_alpha_to_one;              /* DDIM, LCM default 1; PNDM 0 */
    int clip_sample;                   /* DDIM default 1; Heun, LCM 0 */
    double clip_sample_range;          /* 1.0 */
    int use_karras_sigmas;             /* 0 */
    int original_inference_steps;      /* 50 (LCM) */
    double timestep_scaling;           /* 10.0 (LCM) */
    int skip_prk_steps;                /* PNDM: 0 (PLMS runs as 1) */
    df_dpm_algorithm algorithm_type;   /* DPM: dpmsolver++ */
    int solver_order;                  /* DPM: 2 */
    /* Karras bounds (NAN = None: the schedule's own ends). */
    double sigma_min, sigma_max;
    /* DPM's last step: first order if euler_at_final, lower_order_final with
     * fewer than 15 steps, or final_sigmas_type zero. */
    int lower_order_final;             /* 1 */
    int euler_at_final;                /* 0 */
    df_final_sigmas final_sigmas_type; /* Euler, DPM: zero */
    /* Read so that a sampler which would use them refuses to run rather
     * than run something else: non-zero means the unsupported setting. */
    int rescale_betas_zero_snr, thresholding, timestep_continuous, interpolation_other,
        use_exponential_sigmas, use_beta_sigmas, use_lu_lambdas, use_flow_sigmas,
        solver_type_other, variance_learned, lambda_clipped;
} df_scheduler_config;

/* SD 1.x / 2.x single files: the keys of the SD 1.5 scheduler config
 * (PNDMScheduler: scaled_linear 0.00085..0.012, 1000 steps, steps_offset 1,
 * clip_sample and set_alpha_to_one false, skip_prk_steps), as diffusers'
 * from_single_file uses it; the prediction type is the model's
 * (v_prediction for SD 2.x 768-v). */
void df_scheduler_config_default_sd(df_scheduler_config *config, df_prediction_type prediction);

/* A config that sets nothing: every key takes the chosen class's default. */
void df_scheduler_config_empty(df_scheduler_config *config);

/* Reads a diffusers scheduler_config.json (diffusers writes -Infinity /
 * NaN for some floats; they are read as numbers). A malformed value is
 * DF_ERR_FORMAT; settings no sampler here can run (trained_betas, beta
 * schedules other than linear / scaled_linear, prediction "sample") are
 * DF_ERR_UNSUPPORTED; other settings are checked by
 * df_scheduler_config_resolve against the sampler chosen. */
df_status df_scheduler_config_read(const char *scheduler_config_json_path,
                                   df_scheduler_config *config, df_error *error);
df_status df_scheduler_config_parse(const char *json_text, df_scheduler_config *config,
                                    df_error *error);

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
/* df_sampler_parse for a given scheduler config: a diffusers class name
 * means Class.from_config(config) with nothing overridden, so
 * "DPMSolverMultistepScheduler" runs the config's algorithm_type (dpmpp_2m
 * or dpmpp_2m_sde) and needs solver_order 2, and "PNDMScheduler" needs
 * skip_prk_steps; otherwise DF_ERR_UNSUPPORTED. The short and A1111 names
 * fix those (dpmpp_2m: dpmsolver++ order 2; pndm / PLMS: skip_prk_steps). */
df_status df_sampler_parse_for_config(const char *name, const df_scheduler_config *config,
                                      df_sampler_kind *kind, df_sigma_schedule *schedule,
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

/* The config `kind` runs with: the keys `config` does not set take that
 * class's __init__ defaults (beta schedule linear 0.0001..0.02 except Heun
 * 0.00085..0.012 linear and LCM 0.00085..0.012 scaled_linear; steps_offset
 * 0; set_alpha_to_one DDIM, LCM true; clip_sample DDIM true; the spacing of
 * the class), and `out->present` is DF_SCHED_HAS_ALL. A setting the class
 * would use that no sampler here implements (rescale_betas_zero_snr,
 * thresholding, timestep_type "continuous" with v_prediction,
 * interpolation_type "log_linear", exponential / beta / lu / flow sigmas,
 * solver_type "heun", a learned variance, a finite lambda_min_clipped, an
 * unknown final_sigmas_type) is DF_ERR_UNSUPPORTED naming the key. out may
 * equal config. */
df_status df_scheduler_config_resolve(df_sampler_kind kind, const df_scheduler_config *config,
                                      df_scheduler_config *out, df_error *error);

typedef struct df_sampler df_sampler;

/* The config is resolved for `kind` first (df_scheduler_config_resolve).
 * steps: 1..num_train_timesteps (LCM: 1..original_inference_steps).
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
/* SDXL's ensemble of expert denoisers (diffusers' denoising_end /
 * denoising_start, fractions in (0, 1) of the training timesteps): the base
 * model's run stops before the first timestep below the cutoff; the
 * refiner's run starts there (and replaces any strength trimming). */
df_status df_sampler_set_denoising_end(df_sampler *sampler, double fraction, df_error *error);
df_status df_sampler_set_denoising_start(df_sampler *sampler, double fraction, df_error *error);
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
