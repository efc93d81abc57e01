/*
 * scheduler_internal.h — the df_sampler run state shared by scheduler.c
 * (schedules) and samplers_step.c (per-step updates). Not for other modules.
 */
#ifndef DF_PIPELINE_SCHEDULER_INTERNAL_H
#define DF_PIPELINE_SCHEDULER_INTERNAL_H

#include <stdint.h>

#include "pipeline/scheduler.h"

struct df_sampler {
    df_sampler_kind kind;
    df_scheduler_config config;
    df_timestep_spacing spacing; /* resolved (never DEFAULT) */
    int karras;
    int steps;                   /* num_inference_steps as asked */
    double eta;
    double strength;
    size_t numel;

    /* diffusers' arrays after set_timesteps */
    float *alphas_cumprod;       /* [T], torch float32 */
    float final_alpha_cumprod;
    float *train_sigmas;         /* [T] ((1 - ac) / ac) ** 0.5, float32 */
    float *timesteps;            /* full schedule, timestep_count */
    size_t timestep_count;
    float *sigmas;               /* sigma_count (0 for DDIM, PNDM, LCM) */
    size_t sigma_count;
    float init_noise_sigma;
    size_t begin;                /* set_begin_index (t_start * order) */
    size_t end;                  /* evaluations run end here (denoising_end); 0: all */

    /* scratch for building the schedule */
    float *work;
    double *dwork;
    float *ts_tmp;
    int64_t *its;

    /* run state */
    size_t next_index;           /* the evaluation df_sampler_step expects next */
    int counter;                 /* PNDM counter; DPM lower_order_nums; LMS derivatives held */
    int history;                 /* PNDM: len(ets) */
    int heun_has_dt;
    float heun_dt;
    int nbuf;
    float *bufs;                 /* nbuf * numel floats; bufs[0 .. numel) = noise */
};

void df_sampler_reset_state(df_sampler *sampler);

#endif
