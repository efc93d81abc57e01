/*
 * scheduler_config.c — scheduler_config.json, and the config a chosen
 * sampler runs with (see scheduler.h).
 *
 * Purpose: diffusers builds a sampler other than the checkpoint's own with
 * Chosen.from_config(pipe.scheduler.config). ConfigMixin keeps the keys the
 * file set and drops the ones its own class filled with defaults
 * (_use_default_values), so every key the file does not set takes the
 * *chosen* class's __init__ default, and every key it does set applies to
 * any class that reads it. A config here records which keys were set
 * (present bits) and df_scheduler_config_resolve fills the rest per class,
 * with the defaults of diffusers 0.35's __init__ signatures.
 */
#include "pipeline/scheduler.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "runtime/error.h"

/* Larger files are not scheduler configs; the bound keeps a bad path from
 * reading a checkpoint into memory. */
#define MAX_CONFIG_BYTES (1u << 20)

void df_scheduler_config_empty(df_scheduler_config *c)
{
    memset(c, 0, sizeof *c);
    /* The values every supported class defaults to alike; the per-class
     * ones are filled in by resolve. */
    c->num_train_timesteps = 1000;
    c->beta_start = 0.0001;
    c->beta_end = 0.02;
    c->beta_schedule = DF_BETA_LINEAR;
    c->prediction_type = DF_PREDICTION_EPSILON;
    c->timestep_spacing = DF_SPACING_DEFAULT;
    c->clip_sample_range = 1.0;
    c->original_inference_steps = 50;
    c->timestep_scaling = 10.0;
    c->algorithm_type = DF_DPM_DPMSOLVER_PP;
    c->solver_order = 2;
    c->sigma_min = NAN;
    c->sigma_max = NAN;
    c->lower_order_final = 1;
    c->final_sigmas_type = DF_FINAL_SIGMAS_ZERO;
}

void df_scheduler_config_default_sd(df_scheduler_config *c, df_prediction_type prediction)
{
    df_scheduler_config_empty(c);
    c->num_train_timesteps = 1000;
    c->beta_start = 0.00085;
    c->beta_end = 0.012;
    c->beta_schedule = DF_BETA_SCALED_LINEAR;
    c->steps_offset = 1;
    c->set_alpha_to_one = 0;
    c->clip_sample = 0;
    c->skip_prk_steps = 1;
    c->present = DF_SCHED_HAS_NUM_TRAIN_TIMESTEPS | DF_SCHED_HAS_BETA_START |
                 DF_SCHED_HAS_BETA_END | DF_SCHED_HAS_BETA_SCHEDULE | DF_SCHED_HAS_STEPS_OFFSET |
                 DF_SCHED_HAS_SET_ALPHA_TO_ONE | DF_SCHED_HAS_CLIP_SAMPLE |
                 DF_SCHED_HAS_SKIP_PRK_STEPS;
    /* Every class defaults to epsilon; v is the model's, so it counts as set. */
    c->prediction_type = prediction;
    if (prediction != DF_PREDICTION_EPSILON)
        c->present |= DF_SCHED_HAS_PREDICTION_TYPE;
}

/* ---- reading ---- */

/* Python's json writes float('inf') / float('nan') as -Infinity, Infinity
 * and NaN (DPMSolverMultistepScheduler's lambda_min_clipped is -inf), which
 * jansson refuses. Outside strings they become +-DBL_MAX and null. */
static char *json_python_floats(const char *text)
{
    size_t len = strlen(text);
    /* Each "NaN" (3 bytes) may grow to "null", each "Infinity" to 23 bytes. */
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        char ch = text[i];
        if (in_string) {
            out[o++] = ch;
            i++;
            if (ch == '\\' && i < len)
                out[o++] = text[i++];
            else if (ch == '"')
                in_string = 0;
            continue;
        }
        if (ch == '"') {
            in_string = 1;
            out[o++] = ch;
            i++;
        } else if (!strncmp(text + i, "-Infinity", 9)) {
            o += (size_t)sprintf(out + o, "-%.17g", DBL_MAX);
            i += 9;
        } else if (!strncmp(text + i, "Infinity", 8)) {
            o += (size_t)sprintf(out + o, "%.17g", DBL_MAX);
            i += 8;
        } else if (!strncmp(text + i, "NaN", 3)) {
            memcpy(out + o, "null", 4);
            o += 4;
            i += 3;
        } else {
            out[o++] = ch;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

typedef struct reader {
    json_t *root;
    df_error *error;
    df_status status;
} reader;

/* Each getter: 1 if the key is set (not absent, not null), 0 if not, and on
 * a value of the wrong type records DF_ERR_FORMAT and returns 0. */
static int get_number(reader *r, const char *key, double *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v) || r->status)
        return 0;
    if (!json_is_number(v)) {
        r->status = df_error_set(r->error, DF_ERR_FORMAT, "\"%s\" is not a number", key);
        return 0;
    }
    *out = json_number_value(v);
    return 1;
}

static int get_int(reader *r, const char *key, int *out)
{
    double v;
    if (!get_number(r, key, &v))
        return 0;
    if (!(v == floor(v) && fabs(v) <= 1e9)) {
        r->status = df_error_set(r->error, DF_ERR_FORMAT, "\"%s\" %g is not an integer", key, v);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int get_flag(reader *r, const char *key, int *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v) || r->status)
        return 0;
    if (!json_is_boolean(v)) {
        r->status = df_error_set(r->error, DF_ERR_FORMAT, "\"%s\" is not a boolean", key);
        return 0;
    }
    *out = json_is_true(v);
    return 1;
}

static const char *get_string(reader *r, const char *key)
{
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v) || r->status)
        return NULL;
    if (!json_is_string(v)) {
        r->status = df_error_set(r->error, DF_ERR_FORMAT, "\"%s\" is not a string", key);
        return NULL;
    }
    return json_string_value(v);
}

static void read_keys(reader *r, df_scheduler_config *c)
{
    unsigned *has = &c->present;
    double d;
    const char *s;
    if (get_int(r, "num_train_timesteps", &c->num_train_timesteps))
        *has |= DF_SCHED_HAS_NUM_TRAIN_TIMESTEPS;
    if (get_number(r, "beta_start", &c->beta_start))
        *has |= DF_SCHED_HAS_BETA_START;
    if (get_number(r, "beta_end", &c->beta_end))
        *has |= DF_SCHED_HAS_BETA_END;
    if (get_int(r, "steps_offset", &c->steps_offset))
        *has |= DF_SCHED_HAS_STEPS_OFFSET;
    if (get_number(r, "clip_sample_range", &c->clip_sample_range))
        *has |= DF_SCHED_HAS_CLIP_SAMPLE_RANGE;
    if (get_int(r, "original_inference_steps", &c->original_inference_steps))
        *has |= DF_SCHED_HAS_ORIGINAL_INFERENCE_STEPS;
    if (get_number(r, "timestep_scaling", &c->timestep_scaling))
        *has |= DF_SCHED_HAS_TIMESTEP_SCALING;
    if (get_int(r, "solver_order", &c->solver_order))
        *has |= DF_SCHED_HAS_SOLVER_ORDER;
    if (get_flag(r, "set_alpha_to_one", &c->set_alpha_to_one))
        *has |= DF_SCHED_HAS_SET_ALPHA_TO_ONE;
    if (get_flag(r, "clip_sample", &c->clip_sample))
        *has |= DF_SCHED_HAS_CLIP_SAMPLE;
    if (get_flag(r, "use_karras_sigmas", &c->use_karras_sigmas))
        *has |= DF_SCHED_HAS_USE_KARRAS_SIGMAS;
    if (get_flag(r, "skip_prk_steps", &c->skip_prk_steps))
        *has |= DF_SCHED_HAS_SKIP_PRK_STEPS;
    get_number(r, "sigma_min", &c->sigma_min);
    get_number(r, "sigma_max", &c->sigma_max);
    get_flag(r, "lower_order_final", &c->lower_order_final);
    get_flag(r, "euler_at_final", &c->euler_at_final);
    get_flag(r, "rescale_betas_zero_snr", &c->rescale_betas_zero_snr);
    get_flag(r, "thresholding", &c->thresholding);
    get_flag(r, "use_exponential_sigmas", &c->use_exponential_sigmas);
    get_flag(r, "use_beta_sigmas", &c->use_beta_sigmas);
    get_flag(r, "use_lu_lambdas", &c->use_lu_lambdas);
    get_flag(r, "use_flow_sigmas", &c->use_flow_sigmas);
    /* -inf (read as -DBL_MAX) clips nothing; a finite bound moves DPM's
     * last timestep, which is not implemented. */
    if (get_number(r, "lambda_min_clipped", &d))
        c->lambda_clipped = d > -DBL_MAX;
    if (r->status)
        return;

    if ((s = get_string(r, "_class_name")))
        snprintf(c->class_name, sizeof c->class_name, "%s", s);
    if ((s = get_string(r, "beta_schedule"))) {
        *has |= DF_SCHED_HAS_BETA_SCHEDULE;
        if (!strcmp(s, "scaled_linear"))
            c->beta_schedule = DF_BETA_SCALED_LINEAR;
        else if (!strcmp(s, "linear"))
            c->beta_schedule = DF_BETA_LINEAR;
        else {
            r->status = df_error_set(r->error, DF_ERR_UNSUPPORTED,
                                     "beta_schedule \"%s\" is not supported (scaled_linear, linear)", s);
            return;
        }
    }
    if ((s = get_string(r, "prediction_type"))) {
        *has |= DF_SCHED_HAS_PREDICTION_TYPE;
        if (!strcmp(s, "epsilon"))
            c->prediction_type = DF_PREDICTION_EPSILON;
        else if (!strcmp(s, "v_prediction"))
            c->prediction_type = DF_PREDICTION_V;
        else {
            r->status = df_error_set(r->error, DF_ERR_UNSUPPORTED,
                                     "prediction_type \"%s\" is not supported (epsilon, v_prediction)",
                                     s);
            return;
        }
    }
    if ((s = get_string(r, "timestep_spacing"))) {
        if (df_timestep_spacing_parse(s, &c->timestep_spacing, r->error) != DF_OK ||
            c->timestep_spacing == DF_SPACING_DEFAULT) {
            r->status = df_error_set(r->error, DF_ERR_FORMAT,
                                     "timestep_spacing \"%s\" is not one of leading, trailing, "
                                     "linspace",
                                     s);
            return;
        }
    }
    if ((s = get_string(r, "timestep_type")))
        c->timestep_continuous = strcmp(s, "continuous") == 0;
    if ((s = get_string(r, "final_sigmas_type")))
        c->final_sigmas_type = !strcmp(s, "zero")        ? DF_FINAL_SIGMAS_ZERO
                               : !strcmp(s, "sigma_min") ? DF_FINAL_SIGMAS_SIGMA_MIN
                                                         : DF_FINAL_SIGMAS_OTHER;
    if ((s = get_string(r, "interpolation_type")))
        c->interpolation_other = strcmp(s, "linear") != 0;
    if ((s = get_string(r, "algorithm_type"))) {
        *has |= DF_SCHED_HAS_ALGORITHM_TYPE;
        c->algorithm_type = !strcmp(s, "dpmsolver++") || !strcmp(s, "deis") ? DF_DPM_DPMSOLVER_PP
                            : !strcmp(s, "sde-dpmsolver++")                  ? DF_DPM_SDE_DPMSOLVER_PP
                                                                             : DF_DPM_OTHER;
    }
    /* __init__ turns logrho / bh1 / bh2 (UniPC's) into midpoint. */
    if ((s = get_string(r, "solver_type")))
        c->solver_type_other = strcmp(s, "midpoint") && strcmp(s, "logrho") && strcmp(s, "bh1") &&
                               strcmp(s, "bh2");
    if ((s = get_string(r, "variance_type")))
        c->variance_learned = !strcmp(s, "learned") || !strcmp(s, "learned_range");
    json_t *tb = json_object_get(r->root, "trained_betas");
    if (!r->status && tb && !json_is_null(tb))
        r->status = df_error_set(r->error, DF_ERR_UNSUPPORTED, "trained_betas is not supported");
}

df_status df_scheduler_config_parse(const char *text, df_scheduler_config *config, df_error *error)
{
    char *clean = json_python_floats(text);
    if (!clean)
        return df_error_set(error, DF_ERR_NO_MEMORY, "scheduler config");
    json_error_t jerr;
    json_t *root = json_loads(clean, 0, &jerr);
    free(clean);
    if (!root)
        return df_error_set(error, DF_ERR_FORMAT, "scheduler config is not JSON: %s (line %d)",
                            jerr.text, jerr.line);
    if (!json_is_object(root)) {
        json_decref(root);
        return df_error_set(error, DF_ERR_FORMAT, "scheduler config is not a JSON object");
    }
    df_scheduler_config c;
    df_scheduler_config_empty(&c);
    reader r = {root, error, DF_OK};
    read_keys(&r, &c);
    json_decref(root);
    if (r.status)
        return r.status;
    *config = c;
    return DF_OK;
}

df_status df_scheduler_config_read(const char *path, df_scheduler_config *config, df_error *error)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return df_error_set(error, DF_ERR_IO, "%s: cannot read scheduler config", path);
    char *text = malloc(MAX_CONFIG_BYTES + 1);
    size_t n = text ? fread(text, 1, MAX_CONFIG_BYTES + 1, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (!text)
        return df_error_set(error, DF_ERR_NO_MEMORY, "%s: scheduler config", path);
    if (failed || n > MAX_CONFIG_BYTES) {
        free(text);
        return failed ? df_error_set(error, DF_ERR_IO, "%s: cannot read scheduler config", path)
                      : df_error_set(error, DF_ERR_FORMAT,
                                     "%s: scheduler config larger than %u bytes", path,
                                     MAX_CONFIG_BYTES);
    }
    text[n] = 0;
    if (memchr(text, 0, n)) {
        free(text);
        return df_error_set(error, DF_ERR_FORMAT, "%s: scheduler config has a NUL byte", path);
    }
    df_status st = df_scheduler_config_parse(text, config, error);
    free(text);
    if (st)
        return df_error_prefix(error, "%s: ", path);
    return DF_OK;
}

/* ---- per-class resolution ---- */

static int reads_key(df_sampler_kind kind, unsigned mask)
{
    return (mask >> kind) & 1u;
}

#define K(kind) (1u << (kind))
#define DPM_KINDS (K(DF_SAMPLER_DPMPP_2M) | K(DF_SAMPLER_DPMPP_2M_SDE))
/* Which classes' code reads each setting (their __init__ or a
 * self.config.<key> in diffusers 0.35). */
#define READS_RESCALE                                                                             \
    (K(DF_SAMPLER_EULER) | K(DF_SAMPLER_EULER_A) | K(DF_SAMPLER_DDIM) | DPM_KINDS |              \
     K(DF_SAMPLER_LCM))
#define READS_THRESHOLDING (K(DF_SAMPLER_DDIM) | DPM_KINDS | K(DF_SAMPLER_LCM))
#define READS_CLIP_SAMPLE (K(DF_SAMPLER_DDIM) | K(DF_SAMPLER_HEUN) | K(DF_SAMPLER_LCM))
#define READS_ALT_SIGMAS (K(DF_SAMPLER_EULER) | K(DF_SAMPLER_HEUN) | K(DF_SAMPLER_LMS) | DPM_KINDS)
#define READS_SIGMA_BOUNDS (K(DF_SAMPLER_EULER) | K(DF_SAMPLER_HEUN) | DPM_KINDS)
#define READS_FINAL_SIGMAS (K(DF_SAMPLER_EULER) | DPM_KINDS)

df_status df_scheduler_config_resolve(df_sampler_kind kind, const df_scheduler_config *config,
                                      df_scheduler_config *out, df_error *error)
{
    if ((unsigned)kind >= DF_SAMPLER_COUNT)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "sampler kind %d out of range", (int)kind);
    if (!config)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "scheduler config is NULL");
    df_scheduler_config c = *config;
    const unsigned has = c.present;
    const char *cls = df_sampler_kind_class_name(kind);
    const int heun = kind == DF_SAMPLER_HEUN, lcm = kind == DF_SAMPLER_LCM,
              ddim = kind == DF_SAMPLER_DDIM;

    /* Each class's __init__ defaults for what the file does not set. */
    if (!(has & DF_SCHED_HAS_NUM_TRAIN_TIMESTEPS))
        c.num_train_timesteps = 1000;
    if (!(has & DF_SCHED_HAS_BETA_START))
        c.beta_start = heun || lcm ? 0.00085 : 0.0001;
    if (!(has & DF_SCHED_HAS_BETA_END))
        c.beta_end = heun || lcm ? 0.012 : 0.02;
    if (!(has & DF_SCHED_HAS_BETA_SCHEDULE))
        c.beta_schedule = lcm ? DF_BETA_SCALED_LINEAR : DF_BETA_LINEAR;
    if (!(has & DF_SCHED_HAS_PREDICTION_TYPE))
        c.prediction_type = DF_PREDICTION_EPSILON;
    if (!(has & DF_SCHED_HAS_STEPS_OFFSET))
        c.steps_offset = 0;
    if (c.timestep_spacing == DF_SPACING_DEFAULT)
        c.timestep_spacing = ddim || lcm || kind == DF_SAMPLER_PNDM ? DF_SPACING_LEADING
                                                                    : DF_SPACING_LINSPACE;
    if (!(has & DF_SCHED_HAS_SET_ALPHA_TO_ONE))
        c.set_alpha_to_one = ddim || lcm;
    if (!(has & DF_SCHED_HAS_CLIP_SAMPLE))
        c.clip_sample = ddim;
    if (!(has & DF_SCHED_HAS_CLIP_SAMPLE_RANGE))
        c.clip_sample_range = 1.0;
    if (!(has & DF_SCHED_HAS_USE_KARRAS_SIGMAS))
        c.use_karras_sigmas = 0;
    if (!(has & DF_SCHED_HAS_ORIGINAL_INFERENCE_STEPS))
        c.original_inference_steps = 50;
    if (!(has & DF_SCHED_HAS_TIMESTEP_SCALING))
        c.timestep_scaling = 10.0;
    /* What makes the sampler what it is (df_sampler_parse_for_config
     * refuses a class-named config that disagrees). */
    c.skip_prk_steps = 1;
    c.solver_order = 2;
    c.algorithm_type = kind == DF_SAMPLER_DPMPP_2M_SDE ? DF_DPM_SDE_DPMSOLVER_PP : DF_DPM_DPMSOLVER_PP;
    /* Settings the class never reads: neutral, so the step code need not ask. */
    if (!reads_key(kind, READS_CLIP_SAMPLE))
        c.clip_sample = 0;
    if (!reads_key(kind, READS_SIGMA_BOUNDS))
        c.sigma_min = c.sigma_max = NAN;
    if (!reads_key(kind, READS_FINAL_SIGMAS))
        c.final_sigmas_type = DF_FINAL_SIGMAS_ZERO;

    const char *unsupported = NULL;
    if (c.rescale_betas_zero_snr && reads_key(kind, READS_RESCALE))
        unsupported = "rescale_betas_zero_snr";
    else if (c.thresholding && reads_key(kind, READS_THRESHOLDING))
        unsupported = "thresholding";
    else if (c.timestep_continuous && kind == DF_SAMPLER_EULER &&
             c.prediction_type == DF_PREDICTION_V)
        unsupported = "timestep_type \"continuous\" with v_prediction";
    else if (c.interpolation_other && kind == DF_SAMPLER_EULER)
        unsupported = "interpolation_type other than \"linear\"";
    else if (c.final_sigmas_type == DF_FINAL_SIGMAS_OTHER)
        unsupported = "final_sigmas_type other than \"zero\" and \"sigma_min\"";
    else if (c.use_exponential_sigmas && reads_key(kind, READS_ALT_SIGMAS))
        unsupported = "use_exponential_sigmas";
    else if (c.use_beta_sigmas && reads_key(kind, READS_ALT_SIGMAS))
        unsupported = "use_beta_sigmas";
    else if (reads_key(kind, DPM_KINDS)) {
        if (c.use_lu_lambdas)
            unsupported = "use_lu_lambdas";
        else if (c.use_flow_sigmas)
            unsupported = "use_flow_sigmas";
        else if (c.solver_type_other)
            unsupported = "solver_type other than \"midpoint\"";
        else if (c.variance_learned)
            unsupported = "a learned variance_type";
        else if (c.lambda_clipped)
            unsupported = "a finite lambda_min_clipped";
    }
    if (unsupported)
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "scheduler config: %s is not supported with %s", unsupported, cls);

    if (c.num_train_timesteps < 2 || c.num_train_timesteps > 100000)
        return df_error_set(error, DF_ERR_FORMAT,
                            "scheduler config: num_train_timesteps %d out of range 2..100000",
                            c.num_train_timesteps);
    if (!(c.beta_start > 0 && c.beta_end > 0 && c.beta_end < 1 && c.beta_start < 1))
        return df_error_set(error, DF_ERR_FORMAT,
                            "scheduler config: beta_start %g / beta_end %g out of (0, 1)",
                            c.beta_start, c.beta_end);
    if (c.steps_offset < 0 || c.steps_offset >= c.num_train_timesteps)
        return df_error_set(error, DF_ERR_FORMAT, "scheduler config: steps_offset %d out of range",
                            c.steps_offset);
    if (c.original_inference_steps < 1 || c.original_inference_steps > c.num_train_timesteps)
        return df_error_set(error, DF_ERR_FORMAT,
                            "scheduler config: original_inference_steps %d out of range",
                            c.original_inference_steps);
    if (!(c.clip_sample_range >= 0 && c.clip_sample_range <= 1e30))
        return df_error_set(error, DF_ERR_FORMAT,
                            "scheduler config: clip_sample_range %g out of range",
                            c.clip_sample_range);
    if (!(fabs(c.timestep_scaling) <= 1e30))
        return df_error_set(error, DF_ERR_FORMAT,
                            "scheduler config: timestep_scaling %g out of range", c.timestep_scaling);
    if (!isnan(c.sigma_min) && !(c.sigma_min > 0 && c.sigma_min < 1e30))
        return df_error_set(error, DF_ERR_FORMAT, "scheduler config: sigma_min %g out of range",
                            c.sigma_min);
    if (!isnan(c.sigma_max) && !(c.sigma_max > 0 && c.sigma_max < 1e30))
        return df_error_set(error, DF_ERR_FORMAT, "scheduler config: sigma_max %g out of range",
                            c.sigma_max);
    c.present = DF_SCHED_HAS_ALL;
    *out = c;
    return DF_OK;
}

df_status df_sampler_parse_for_config(const char *name, const df_scheduler_config *config,
                                      df_sampler_kind *kind, df_sigma_schedule *schedule,
                                      df_error *error)
{
    df_sampler_kind k;
    df_sigma_schedule s;
    df_status st = df_sampler_parse(name, &k, &s, error);
    if (st)
        return st;
    if (config && !strcasecmp(name, "DPMSolverMultistepScheduler")) {
        if (config->algorithm_type == DF_DPM_OTHER)
            return df_error_set(error, DF_ERR_UNSUPPORTED,
                                "DPMSolverMultistepScheduler: algorithm_type other than "
                                "\"dpmsolver++\" and \"sde-dpmsolver++\" is not supported");
        if (config->solver_order != 2)
            return df_error_set(error, DF_ERR_UNSUPPORTED,
                                "DPMSolverMultistepScheduler: solver_order %d is not supported "
                                "(2; or choose \"DPM++ 2M\")",
                                config->solver_order);
        k = config->algorithm_type == DF_DPM_SDE_DPMSOLVER_PP ? DF_SAMPLER_DPMPP_2M_SDE
                                                               : DF_SAMPLER_DPMPP_2M;
    } else if (config && !strcasecmp(name, "PNDMScheduler") && !config->skip_prk_steps) {
        return df_error_set(error, DF_ERR_UNSUPPORTED,
                            "PNDMScheduler: the PRK warm-up (skip_prk_steps false or not set) is "
                            "not supported; choose \"PLMS\"");
    }
    *kind = k;
    *schedule = s;
    return DF_OK;
}
