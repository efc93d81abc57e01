/*
 * scheduler.c — names and schedules of the samplers (see scheduler.h); the
 * per-step updates are in samplers_step.c, scheduler_config.json and the
 * per-class defaults in scheduler_config.c.
 *
 * Purpose: a sampler built here holds exactly the arrays diffusers' scheduler
 * holds after set_timesteps (timesteps, sigmas, alphas_cumprod), computed in
 * the same dtypes and order, so that a run equals diffusers to float32
 * rounding. The places where the dtype matters are marked: torch float32
 * (betas, alphas_cumprod, sigmas of the training schedule) and numpy float64
 * (interpolation, Karras, _sigma_to_t), cast to float32 where diffusers casts.
 */
#include "pipeline/scheduler_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/error.h"

/* ---- names ---- */

static const char *const kind_names[DF_SAMPLER_COUNT] = {
    "euler", "euler_a", "heun", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_sde", "lcm",
};
static const char *const class_names[DF_SAMPLER_COUNT] = {
    "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
    "DDIMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler (sde-dpmsolver++)", "LCMScheduler",
};

/* A1111's labels and k-diffusion aliases (modules/sd_samplers_kdiffusion.py,
 * sd_samplers_timesteps.py, sd_samplers_lcm.py). */
static const df_sampler_info a1111_samplers[] = {
    {"Euler a", "k_euler_a", DF_SAMPLER_EULER_A, DF_SCHEDULE_DISCRETE},
    {"Euler", "k_euler", DF_SAMPLER_EULER, DF_SCHEDULE_DISCRETE},
    {"LMS", "k_lms", DF_SAMPLER_LMS, DF_SCHEDULE_DISCRETE},
    {"Heun", "k_heun", DF_SAMPLER_HEUN, DF_SCHEDULE_DISCRETE},
    {"DPM++ 2M", "k_dpmpp_2m", DF_SAMPLER_DPMPP_2M, DF_SCHEDULE_DISCRETE},
    {"DPM++ 2M SDE", "k_dpmpp_2m_sde", DF_SAMPLER_DPMPP_2M_SDE, DF_SCHEDULE_DISCRETE},
    {"LMS Karras", "k_lms_ka", DF_SAMPLER_LMS, DF_SCHEDULE_KARRAS},
    {"DPM++ 2M Karras", "k_dpmpp_2m_ka", DF_SAMPLER_DPMPP_2M, DF_SCHEDULE_KARRAS},
    {"DPM++ 2M SDE Karras", "k_dpmpp_2m_sde_ka", DF_SAMPLER_DPMPP_2M_SDE, DF_SCHEDULE_KARRAS},
    {"Euler Karras", "k_euler_ka", DF_SAMPLER_EULER, DF_SCHEDULE_KARRAS},
    {"Heun Karras", "k_heun_ka", DF_SAMPLER_HEUN, DF_SCHEDULE_KARRAS},
    {"DDIM", "ddim", DF_SAMPLER_DDIM, DF_SCHEDULE_DISCRETE},
    {"PLMS", "plms", DF_SAMPLER_PNDM, DF_SCHEDULE_DISCRETE},
    {"LCM", "k_lcm", DF_SAMPLER_LCM, DF_SCHEDULE_DISCRETE},
};
#define A1111_COUNT (sizeof a1111_samplers / sizeof a1111_samplers[0])

const df_sampler_info *df_sampler_list(size_t *count)
{
    *count = A1111_COUNT;
    return a1111_samplers;
}

const char *df_sampler_kind_name(df_sampler_kind kind)
{
    return (unsigned)kind < DF_SAMPLER_COUNT ? kind_names[kind] : "unknown";
}

const char *df_sampler_kind_class_name(df_sampler_kind kind)
{
    return (unsigned)kind < DF_SAMPLER_COUNT ? class_names[kind] : "unknown";
}

/* Compares ignoring case and treating ' ', '_', '-' as one separator. */
static int name_eq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        int ca = tolower((unsigned char)a[i]), cb = tolower((unsigned char)b[i]);
        if (ca == '-' || ca == '_')
            ca = ' ';
        if (cb == '-' || cb == '_')
            cb = ' ';
        if (ca != cb)
            return 0;
    }
    return 1;
}

static int lookup_kind(const char *name, size_t len, df_sampler_kind *kind, df_sigma_schedule *sch)
{
    static const struct {
        const char *name;
        df_sampler_kind kind;
    } extra[] = {
        {"EulerDiscreteScheduler", DF_SAMPLER_EULER},
        {"EulerAncestralDiscreteScheduler", DF_SAMPLER_EULER_A},
        {"HeunDiscreteScheduler", DF_SAMPLER_HEUN},
        {"DDIMScheduler", DF_SAMPLER_DDIM},
        {"PNDMScheduler", DF_SAMPLER_PNDM},
        {"LMSDiscreteScheduler", DF_SAMPLER_LMS},
        {"DPMSolverMultistepScheduler", DF_SAMPLER_DPMPP_2M},
        {"LCMScheduler", DF_SAMPLER_LCM},
        {"plms", DF_SAMPLER_PNDM},
        {"euler_ancestral", DF_SAMPLER_EULER_A},
        {"k_euler_ancestral", DF_SAMPLER_EULER_A},
        {"dpm++ 2m", DF_SAMPLER_DPMPP_2M},
        {"dpm++ 2m sde", DF_SAMPLER_DPMPP_2M_SDE},
    };
    for (int k = 0; k < DF_SAMPLER_COUNT; k++)
        if (name_eq(name, len, kind_names[k])) {
            *kind = (df_sampler_kind)k;
            *sch = DF_SCHEDULE_DEFAULT;
            return 1;
        }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (name_eq(name, len, extra[i].name)) {
            *kind = extra[i].kind;
            *sch = DF_SCHEDULE_DEFAULT;
            return 1;
        }
    for (size_t i = 0; i < A1111_COUNT; i++)
        if (name_eq(name, len, a1111_samplers[i].name) ||
            name_eq(name, len, a1111_samplers[i].alias)) {
            *kind = a1111_samplers[i].kind;
            *sch = a1111_samplers[i].schedule == DF_SCHEDULE_KARRAS ? DF_SCHEDULE_KARRAS
                                                                   : DF_SCHEDULE_DEFAULT;
            return 1;
        }
    return 0;
}

df_status df_sampler_parse(const char *name, df_sampler_kind *kind, df_sigma_schedule *schedule,
                           df_error *error)
{
    if (!name)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "sampler name is NULL");
    size_t len = strlen(name);
    df_sampler_kind k;
    df_sigma_schedule s;
    if (lookup_kind(name, len, &k, &s)) {
        *kind = k;
        *schedule = s;
        return DF_OK;
    }
    /* "<sampler> Karras" / "<sampler>_karras" for any sampler that has sigmas. */
    if (len > 7 && name_eq(name + len - 7, 7, " karras") && lookup_kind(name, len - 7, &k, &s) &&
        (k == DF_SAMPLER_EULER || k == DF_SAMPLER_HEUN || k == DF_SAMPLER_LMS ||
         k == DF_SAMPLER_DPMPP_2M || k == DF_SAMPLER_DPMPP_2M_SDE)) {
        *kind = k;
        *schedule = DF_SCHEDULE_KARRAS;
        return DF_OK;
    }
    char list[700];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < A1111_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "",
                                 a1111_samplers[i].name);
    for (int i = 0; i < DF_SAMPLER_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, ", \"%s\"", kind_names[i]);
    return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                        "unknown sampler \"%s\"; valid: %s, \"plms\", diffusers class names "
                        "(EulerDiscreteScheduler, ...), and \"<name> Karras\"",
                        name, list);
}

df_status df_sigma_schedule_parse(const char *name, df_sigma_schedule *out, df_error *error)
{
    if (name && (!strcasecmp(name, "default") || !strcasecmp(name, "automatic")))
        *out = DF_SCHEDULE_DEFAULT;
    else if (name && (!strcasecmp(name, "discrete") || !strcasecmp(name, "uniform")))
        *out = DF_SCHEDULE_DISCRETE;
    else if (name && !strcasecmp(name, "karras"))
        *out = DF_SCHEDULE_KARRAS;
    else
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "unknown schedule \"%s\"; valid: default (automatic), discrete, karras",
                            name ? name : "(null)");
    return DF_OK;
}

static const char *const spacing_names[] = {"default", "leading", "trailing", "linspace"};

const char *df_timestep_spacing_name(df_timestep_spacing spacing)
{
    return (unsigned)spacing < 4 ? spacing_names[spacing] : "unknown";
}

df_status df_timestep_spacing_parse(const char *name, df_timestep_spacing *out, df_error *error)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcasecmp(name, spacing_names[i])) {
            *out = (df_timestep_spacing)i;
            return DF_OK;
        }
    return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                        "unknown timestep spacing \"%s\"; valid: default, leading, trailing, linspace",
                        name ? name : "(null)");
}

/* ---- schedules ---- */

/* torch.linspace(start, end, n, dtype=float32) on x86 CPU: the step in float,
 * each half anchored at its end, and (AVX2 build) start + step * i fused:
 * measured bit-exact against torch 2.9 for the SD betas. */
static void torch_linspace_f32(double start_d, double end_d, int n, float *out)
{
    float start = (float)start_d, end = (float)end_d;
    float step = (end - start) / (float)(n - 1);
    int half = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

/* numpy.interp(x, arange(len), fp) for x within range (compiled_base.c:
 * slope * (x - xp[j]) + fp[j] in double, exact hits return fp[j]). */
static double np_interp_index(double x, const float *fp, int len)
{
    if (x <= 0)
        return fp[0];
    if (x >= len - 1)
        return fp[len - 1];
    int j = (int)floor(x);
    if ((double)j == x)
        return fp[j];
    double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
    return slope * (x - (double)j) + (double)fp[j];
}

/* _sigma_to_t (Euler/Heun/LMS/DPM): log_sigmas are numpy float32 logs of
 * the float32 training sigmas; the interpolation is in float64. */
static double sigma_to_t(double sigma, const float *log_sigmas, int len)
{
    double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
    /* low_idx: the last index with log_sigmas[i] <= log_sigma (the cumsum
     * argmax), 0 if none, clipped to len - 2. */
    int low = 0;
    for (int i = 0; i < len; i++)
        if (log_sigma - (double)log_sigmas[i] >= 0)
            low = i;
    if (low > len - 2)
        low = len - 2;
    double lo = log_sigmas[low], hi = log_sigmas[low + 1];
    double w = (lo - log_sigma) / (lo - hi);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    return (1 - w) * low + w * (low + 1);
}

/* numpy.linspace(0, stop, num)[i] in float64 (endpoint: the last is stop). */
static double np_linspace_at(double stop, int num, int i, int endpoint)
{
    if (num == 1)
        return 0.0;
    int div = endpoint ? num - 1 : num;
    if (endpoint && i == num - 1)
        return stop;
    double step = stop / div;
    return (double)i * step + 0.0;
}

/* Karras et al. sigmas (_convert_to_karras), float64. */
static void karras_sigmas(double sigma_min, double sigma_max, int n, double *out)
{
    const double rho = 7.0;
    double min_inv = pow(sigma_min, 1 / rho), max_inv = pow(sigma_max, 1 / rho);
    for (int i = 0; i < n; i++) {
        double ramp = np_linspace_at(1.0, n, i, 1);
        out[i] = pow(max_inv + ramp * (min_inv - max_inv), rho);
    }
}

/* np.arange(start, 0, -ratio) for float ratio, then round (half to even):
 * numpy fills start + i * delta with delta = (start - ratio) - start. */
static int np_arange_desc_round(double start, double ratio, int64_t *out, int cap)
{
    int len = (int)ceil((0.0 - start) / -ratio);
    double delta = (start + -ratio) - start;
    if (len > cap)
        len = cap;
    for (int i = 0; i < len; i++) {
        double v = i == 0 ? start : i == 1 ? start + -ratio : start + i * delta;
        out[i] = (int64_t)nearbyint(v);
    }
    return len;
}

static df_timestep_spacing resolve_spacing(const df_sampler *s, df_timestep_spacing opt)
{
    if (opt != DF_SPACING_DEFAULT)
        return opt;
    if (s->config.timestep_spacing != DF_SPACING_DEFAULT)
        return s->config.timestep_spacing;
    /* Each class's own default when the config has none (SD 1.x/2.x configs). */
    switch (s->kind) {
    case DF_SAMPLER_DDIM:
    case DF_SAMPLER_PNDM:
    case DF_SAMPLER_LCM:
        return DF_SPACING_LEADING;
    default:
        return DF_SPACING_LINSPACE;
    }
}

/* Timesteps of the sigma samplers (Euler, Euler a, Heun, LMS): float32. */
static void sigma_family_timesteps(const df_sampler *s, float *ts)
{
    int n = s->steps, T = s->config.num_train_timesteps;
    switch (s->spacing) {
    case DF_SPACING_LEADING: {
        int ratio = T / n;
        for (int i = 0; i < n; i++)
            ts[i] = (float)((n - 1 - i) * ratio) + (float)s->config.steps_offset;
        break;
    }
    case DF_SPACING_TRAILING: {
        double ratio = (double)T / n;
        double delta = (T + -ratio) - (double)T;
        for (int i = 0; i < n; i++) {
            double v = i == 0 ? T : i == 1 ? T + -ratio : T + i * delta;
            ts[i] = (float)nearbyint(v) - 1.0f;
        }
        break;
    }
    default: /* linspace(0, T-1, n, dtype=float32)[::-1] */
        for (int i = 0; i < n; i++)
            ts[n - 1 - i] = (float)np_linspace_at(T - 1, n, i, 1);
        break;
    }
}

/* The sigma after the last step (final_sigmas_type of Euler and DPM): zero,
 * or sigma_min, ((1 - alphas_cumprod[0]) / alphas_cumprod[0]) ** 0.5 in
 * torch float32. */
static float final_sigma(const df_sampler *s)
{
    return s->config.final_sigmas_type == DF_FINAL_SIGMAS_SIGMA_MIN ? s->train_sigmas[0] : 0.0f;
}

static df_status build_schedule(df_sampler *s, df_error *error)
{
    int T = s->config.num_train_timesteps, n = s->steps;
    /* Training schedule (every class's __init__): torch float32. */
    float *betas = s->work; /* T floats of scratch */
    if (s->config.beta_schedule == DF_BETA_LINEAR)
        torch_linspace_f32(s->config.beta_start, s->config.beta_end, T, betas);
    else {
        torch_linspace_f32(sqrt(s->config.beta_start), sqrt(s->config.beta_end), T, betas);
        for (int i = 0; i < T; i++)
            betas[i] = betas[i] * betas[i];
    }
    /* torch.cumprod on CPU accumulates float32 in double. */
    double acc = 1.0;
    for (int i = 0; i < T; i++) {
        acc *= (double)(1.0f - betas[i]);
        s->alphas_cumprod[i] = (float)acc;
    }
    s->final_alpha_cumprod = s->config.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
    float *train_sigmas = s->train_sigmas, *log_sigmas = s->work;
    for (int i = 0; i < T; i++) {
        float a = s->alphas_cumprod[i];
        train_sigmas[i] = sqrtf((1.0f - a) / a);
        log_sigmas[i] = (float)log((double)train_sigmas[i]);
    }

    double *dsig = s->dwork;
    switch (s->kind) {
    case DF_SAMPLER_EULER:
    case DF_SAMPLER_EULER_A:
    case DF_SAMPLER_HEUN:
    case DF_SAMPLER_LMS: {
        float *ts = s->ts_tmp;
        sigma_family_timesteps(s, ts);
        for (int i = 0; i < n; i++)
            dsig[i] = np_interp_index((double)ts[i], train_sigmas, T);
        if (s->karras) {
            /* config sigma_min / sigma_max when set, even for Heun, whose
             * __init__ lacks them (hasattr(self.config, "sigma_min")). */
            double smin = isnan(s->config.sigma_min) ? dsig[n - 1] : s->config.sigma_min;
            double smax = isnan(s->config.sigma_max) ? dsig[0] : s->config.sigma_max;
            karras_sigmas(smin, smax, n, dsig);
            for (int i = 0; i < n; i++)
                ts[i] = (float)sigma_to_t(dsig[i], log_sigmas, T);
        }
        if (s->kind == DF_SAMPLER_HEUN) {
            /* sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:] and
             * timesteps[:1], timesteps[1:].repeat_interleave(2). */
            size_t k = 0;
            s->sigmas[k++] = (float)dsig[0];
            for (int i = 1; i < n; i++) {
                s->sigmas[k++] = (float)dsig[i];
                s->sigmas[k++] = (float)dsig[i];
            }
            s->sigmas[k++] = 0.0f;
            s->sigma_count = k;
            k = 0;
            s->timesteps[k++] = ts[0];
            for (int i = 1; i < n; i++) {
                s->timesteps[k++] = ts[i];
                s->timesteps[k++] = ts[i];
            }
            s->timestep_count = k;
        } else {
            for (int i = 0; i < n; i++) {
                s->sigmas[i] = (float)dsig[i];
                s->timesteps[i] = ts[i];
            }
            s->sigmas[n] = final_sigma(s);
            s->sigma_count = (size_t)n + 1;
            s->timestep_count = (size_t)n;
        }
        float mx = 0;
        for (size_t i = 0; i < s->sigma_count; i++)
            mx = s->sigmas[i] > mx ? s->sigmas[i] : mx;
        s->init_noise_sigma = s->spacing == DF_SPACING_LEADING ? sqrtf(mx * mx + 1.0f) : mx;
        break;
    }
    case DF_SAMPLER_DPMPP_2M:
    case DF_SAMPLER_DPMPP_2M_SDE: {
        int64_t *its = s->its;
        int last = T; /* lambda_min_clipped = -inf */
        int count = n;
        if (s->spacing == DF_SPACING_LINSPACE) {
            for (int i = 0; i < n; i++) /* linspace(0, last-1, n+1).round()[::-1][:-1] */
                its[i] = (int64_t)nearbyint(np_linspace_at(last - 1, n + 1, n - i, 1));
        } else if (s->spacing == DF_SPACING_LEADING) {
            int ratio = last / (n + 1);
            for (int i = 0; i < n; i++)
                its[i] = (int64_t)(n - i) * ratio + s->config.steps_offset;
        } else {
            count = np_arange_desc_round((double)last, (double)T / n, its, n + 1);
            for (int i = 0; i < count; i++)
                its[i] -= 1;
        }
        if (s->karras) {
            /* in_sigmas = flip(train sigmas): min = sigmas[0], max = sigmas[-1]. */
            double smin = isnan(s->config.sigma_min) ? train_sigmas[0] : s->config.sigma_min;
            double smax = isnan(s->config.sigma_max) ? train_sigmas[T - 1] : s->config.sigma_max;
            karras_sigmas(smin, smax, n, dsig);
            count = n;
            for (int i = 0; i < n; i++)
                its[i] = (int64_t)nearbyint(sigma_to_t(dsig[i], log_sigmas, T));
        } else {
            for (int i = 0; i < count; i++)
                dsig[i] = np_interp_index((double)its[i], train_sigmas, T);
        }
        for (int i = 0; i < count; i++) {
            s->sigmas[i] = (float)dsig[i];
            s->timesteps[i] = (float)its[i];
        }
        s->sigmas[count] = final_sigma(s);
        s->sigma_count = (size_t)count + 1;
        s->timestep_count = (size_t)count;
        s->init_noise_sigma = 1.0f;
        break;
    }
    case DF_SAMPLER_DDIM:
    case DF_SAMPLER_PNDM: {
        int64_t *its = s->its;
        int count = n;
        if (s->spacing == DF_SPACING_LINSPACE) {
            for (int i = 0; i < n; i++)
                its[i] = (int64_t)nearbyint(np_linspace_at(T - 1, n, i, 1));
        } else if (s->spacing == DF_SPACING_LEADING) {
            int ratio = T / n;
            for (int i = 0; i < n; i++)
                its[i] = (int64_t)i * ratio + s->config.steps_offset;
        } else {
            count = np_arange_desc_round((double)T, (double)T / n, its + n, n + 1);
            /* ascending like the other two */
            for (int i = 0; i < count; i++)
                its[i] = its[n + count - 1 - i] - 1;
        }
        /* its[] ascending here; DDIM runs it reversed, PLMS repeats the
         * second-to-last: concat(t[:-1], t[-2:-1], t[-1:])[::-1]. */
        size_t k = 0;
        if (s->kind == DF_SAMPLER_PNDM) {
            s->timesteps[k++] = (float)its[count - 1];
            if (count >= 2)
                s->timesteps[k++] = (float)its[count - 2];
            for (int i = count - 2; i >= 0; i--)
                s->timesteps[k++] = (float)its[i];
        } else {
            for (int i = count - 1; i >= 0; i--)
                s->timesteps[k++] = (float)its[i];
        }
        s->timestep_count = k;
        s->sigma_count = 0;
        s->init_noise_sigma = 1.0f;
        break;
    }
    case DF_SAMPLER_LCM: {
        int orig = s->config.original_inference_steps;
        int k = T / orig;
        /* lcm_origin_timesteps reversed, picked at floor(linspace(0, len, n, endpoint=False)) */
        for (int i = 0; i < n; i++) {
            int idx = (int)floor(np_linspace_at((double)orig, n, i, 0));
            int origin = orig - idx; /* reversed list: element idx is (orig - idx) * k - 1 */
            s->timesteps[i] = (float)((int64_t)origin * k - 1);
        }
        s->timestep_count = (size_t)n;
        s->sigma_count = 0;
        s->init_noise_sigma = 1.0f;
        break;
    }
    default:
        return df_error_set(error, DF_ERR_INTERNAL, "sampler kind %d", (int)s->kind);
    }
    return DF_OK;
}

df_sampler_options df_sampler_options_default(void)
{
    df_sampler_options o;
    o.schedule = DF_SCHEDULE_DEFAULT;
    o.spacing = DF_SPACING_DEFAULT;
    o.eta = 0.0;
    o.strength = 1.0;
    return o;
}

/* Evaluations per step index (diffusers' scheduler.order). */
static size_t sampler_order(const df_sampler *s)
{
    return s->kind == DF_SAMPLER_HEUN ? 2 : 1;
}

void df_sampler_reset_state(df_sampler *s)
{
    s->next_index = 0;
    s->counter = 0;
    s->history = 0;
    s->heun_has_dt = 0;
    s->heun_dt = 0;
}

df_status df_sampler_set_strength(df_sampler *s, double strength, df_error *error)
{
    if (!(strength >= 0.0 && strength <= 1.0))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "strength %g outside [0, 1]", strength);
    /* StableDiffusionImg2ImgPipeline.get_timesteps. */
    int n = s->steps;
    int init_timestep = (int)(n * strength);
    if (init_timestep > n)
        init_timestep = n;
    int t_start = n - init_timestep;
    if (t_start < 0)
        t_start = 0;
    size_t begin = (size_t)t_start * sampler_order(s);
    if (begin > s->timestep_count)
        begin = s->timestep_count;
    s->begin = begin;
    s->end = 0;
    s->strength = strength;
    df_sampler_reset_state(s);
    return DF_OK;
}

size_t df_sampler_begin_index(const df_sampler *s)
{
    return s->begin;
}

/* diffusers' discrete_timestep_cutoff for denoising_start / denoising_end. */
static double timestep_cutoff(const df_sampler *s, double fraction)
{
    const double n = s->config.num_train_timesteps;
    return (double)(int64_t)llround(n - fraction * n);
}

df_status df_sampler_set_denoising_end(df_sampler *s, double fraction, df_error *error)
{
    if (!(fraction > 0.0 && fraction < 1.0))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "denoising end %g outside (0, 1)", fraction);
    /* StableDiffusionXLPipeline: keep the leading timesteps >= the cutoff. */
    const double cutoff = timestep_cutoff(s, fraction);
    size_t end = s->begin;
    while (end < s->timestep_count && s->timesteps[end] >= cutoff)
        end++;
    if (end == s->begin)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "denoising end %g leaves no step of %d for the base model", fraction,
                            s->steps);
    s->end = end;
    return DF_OK;
}

df_status df_sampler_set_denoising_start(df_sampler *s, double fraction, df_error *error)
{
    if (!(fraction > 0.0 && fraction < 1.0))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "denoising start %g outside (0, 1)", fraction);
    /* StableDiffusionXLImg2ImgPipeline.get_timesteps with denoising_start:
     * the trailing timesteps below the cutoff, one more for a second-order
     * sampler so that it does not start between its two evaluations. */
    const double cutoff = timestep_cutoff(s, fraction);
    size_t count = 0;
    for (size_t i = 0; i < s->timestep_count; i++)
        count += s->timesteps[i] < cutoff;
    if (sampler_order(s) == 2 && count % 2 == 0)
        count++;
    if (count > s->timestep_count)
        count = s->timestep_count;
    if (count == 0)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "denoising start %g leaves no step of %d for the refiner", fraction,
                            s->steps);
    s->begin = s->timestep_count - count;
    s->end = 0;
    df_sampler_reset_state(s);
    return DF_OK;
}

/* Per-run latent buffers: Heun 2 (derivative, sample), LMS 4 derivatives,
 * PNDM 4 ets + cur_sample, DPM++ 2 model outputs, plus one for step noise /
 * scratch. */
static int latent_buffers(df_sampler_kind kind)
{
    switch (kind) {
    case DF_SAMPLER_HEUN: return 3;
    case DF_SAMPLER_LMS: return 5;
    case DF_SAMPLER_PNDM: return 6;
    case DF_SAMPLER_DPMPP_2M:
    case DF_SAMPLER_DPMPP_2M_SDE: return 3;
    default: return 1;
    }
}

size_t df_sampler_memory_bytes(df_sampler_kind kind, const df_scheduler_config *config, int steps,
                               size_t latent_count)
{
    /* What df_sampler_create allocates, in the same terms. */
    const size_t nt = (size_t)config->num_train_timesteps, ns = (size_t)(steps > 0 ? steps : 1);
    return nt * 3 * sizeof(float) + (ns + 2) * (sizeof(double) + sizeof(float)) +
           (2 * ns + 4) * sizeof(int64_t) + 2 * (2 * ns + 2) * sizeof(float) +
           (size_t)latent_buffers(kind) * latent_count * sizeof(float) + sizeof(df_sampler);
}

df_status df_sampler_create(df_sampler_kind kind, const df_scheduler_config *config, int steps,
                            const df_sampler_options *options, size_t latent_count,
                            df_sampler **out, df_error *error)
{
    *out = NULL;
    if ((unsigned)kind >= DF_SAMPLER_COUNT)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "sampler kind %d out of range", (int)kind);
    if (!config)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "scheduler config is NULL");
    df_scheduler_config resolved;
    df_status rst = df_scheduler_config_resolve(kind, config, &resolved, error);
    if (rst)
        return rst;
    config = &resolved;
    df_sampler_options opt = options ? *options : df_sampler_options_default();
    int T = config->num_train_timesteps;
    if (T < 2 || T > 100000)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "num_train_timesteps %d out of range", T);
    if (steps <= 0 || steps > T)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "steps %d out of range: must be 1..%d (num_train_timesteps)", steps, T);
    if (kind == DF_SAMPLER_LCM && steps > config->original_inference_steps)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "steps %d out of range for LCM: must be 1..%d (original_inference_steps)",
                            steps, config->original_inference_steps);
    if (!(opt.strength >= 0.0 && opt.strength <= 1.0))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "strength %g outside [0, 1]",
                            opt.strength);
    if (!(opt.eta >= 0.0 && opt.eta <= 1e6))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "eta %g must be >= 0", opt.eta);
    if (latent_count == 0 || latent_count > ((size_t)1 << 34))
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "latent count %zu out of range",
                            latent_count);
    int karras = opt.schedule == DF_SCHEDULE_KARRAS ||
                 (opt.schedule == DF_SCHEDULE_DEFAULT && config->use_karras_sigmas);
    if (karras && (kind == DF_SAMPLER_EULER_A || kind == DF_SAMPLER_DDIM ||
                   kind == DF_SAMPLER_PNDM || kind == DF_SAMPLER_LCM)) {
        if (opt.schedule == DF_SCHEDULE_KARRAS)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "the Karras schedule is not available for %s (only euler, heun, "
                                "lms, dpmpp_2m, dpmpp_2m_sde)",
                                kind_names[kind]);
        karras = 0; /* the class ignores use_karras_sigmas, as diffusers does */
    }

    df_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return df_error_set(error, DF_ERR_NO_MEMORY, "sampler");
    s->kind = kind;
    s->config = *config;
    s->steps = steps;
    s->karras = karras;
    s->eta = opt.eta;
    s->numel = latent_count;
    s->spacing = resolve_spacing(s, opt.spacing);

    size_t nt = (size_t)T, ns = (size_t)steps;
    s->alphas_cumprod = malloc(nt * sizeof(float));
    s->train_sigmas = malloc(nt * sizeof(float));
    s->work = malloc(nt * sizeof(float));
    s->dwork = malloc((ns + 2) * sizeof(double));
    s->ts_tmp = malloc((ns + 2) * sizeof(float));
    s->its = malloc((2 * ns + 4) * sizeof(int64_t));
    s->timesteps = malloc((2 * ns + 2) * sizeof(float));
    s->sigmas = malloc((2 * ns + 2) * sizeof(float));
    const int nbuf = latent_buffers(kind);
    s->nbuf = nbuf;
    s->bufs = calloc((size_t)nbuf * latent_count, sizeof(float));
    if (!s->alphas_cumprod || !s->train_sigmas || !s->work || !s->dwork || !s->ts_tmp || !s->its ||
        !s->timesteps || !s->sigmas || !s->bufs) {
        df_sampler_free(s);
        return df_error_set(error, DF_ERR_NO_MEMORY, "sampler buffers (%zu latents)", latent_count);
    }
    df_status st = build_schedule(s, error);
    if (st == DF_OK)
        st = df_sampler_set_strength(s, opt.strength, error);
    if (st != DF_OK) {
        df_sampler_free(s);
        return st;
    }
    *out = s;
    return DF_OK;
}

void df_sampler_free(df_sampler *s)
{
    if (!s)
        return;
    free(s->alphas_cumprod);
    free(s->train_sigmas);
    free(s->work);
    free(s->dwork);
    free(s->ts_tmp);
    free(s->its);
    free(s->timesteps);
    free(s->sigmas);
    free(s->bufs);
    free(s);
}

const float *df_sampler_timesteps(const df_sampler *s, size_t *count)
{
    *count = (s->end ? s->end : s->timestep_count) - s->begin;
    return s->timesteps + s->begin;
}

int df_sampler_run_steps(const df_sampler *s)
{
    /* get_timesteps: num_inference_steps - t_start. */
    const size_t order = sampler_order(s);
    const size_t skipped = s->begin / order + (s->end ? (s->timestep_count - s->end) / order : 0);
    return skipped >= (size_t)s->steps ? 0 : s->steps - (int)skipped;
}

int df_sampler_steps_done(const df_sampler *s, size_t index)
{
    /* The pipelines' rule: a step is done at the last evaluation, or at an
     * evaluation past the warm-up whose (index + 1) is a multiple of order. */
    size_t evaluations = 0;
    df_sampler_timesteps(s, &evaluations);
    const int total = df_sampler_run_steps(s);
    if (!evaluations || index + 1 >= evaluations)
        return total;
    const int64_t order = (int64_t)sampler_order(s);
    const int64_t warmup = (int64_t)evaluations - (int64_t)total * order;
    const int64_t done_evaluations = (int64_t)index + 1;
    if (done_evaluations <= warmup)
        return 0;
    /* Evaluations e in (warmup, index + 1] with e % order == 0. */
    int64_t from = warmup < 0 ? 0 : warmup;
    int64_t done = done_evaluations / order - from / order;
    return done > total ? total : (int)done;
}

const float *df_sampler_sigmas(const df_sampler *s, size_t *count)
{
    *count = s->sigma_count;
    return s->sigma_count ? s->sigmas : NULL;
}

float df_sampler_init_noise_sigma(const df_sampler *s)
{
    return s->init_noise_sigma;
}
