/*
 * samplers_step.c — scale_model_input, step and add_noise of every sampler
 * in scheduler.h, each a transcription of its diffusers scheduler's method.
 *
 * Invariants: all arithmetic is float32 in the order torch evaluates the
 * diffusers expression (Python left to right; scalar sub-expressions on 0-dim
 * float32 tensors first, then one elementwise op at a time), so results
 * agree with diffusers to rounding (bit for bit where the denoiser is). No
 * allocation: per-run buffers come from df_sampler_create. Contraction into
 * FMA is disabled here, since torch does not fuse these elementwise ops.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "pipeline/scheduler_internal.h"

#include <math.h>
#include <string.h>

#include "runtime/error.h"

static float *buf(df_sampler *s, int k)
{
    return s->bufs + (size_t)k * s->numel;
}

/* ---- shared pieces ---- */

/* x0 of the sigma samplers (Euler, Euler a, Heun, LMS): epsilon
 * `sample - sigma * model_output`, v `model_output * (-sigma / (sigma**2 + 1)
 * ** 0.5) + sample / (sigma**2 + 1)`. */
static float sigma_x0(df_prediction_type pred, float sigma, float sample, float mo)
{
    if (pred == DF_PREDICTION_V) {
        float c1 = -sigma / sqrtf(sigma * sigma + 1.0f);
        float c2 = sigma * sigma + 1.0f;
        return mo * c1 + sample / c2;
    }
    return sample - sigma * mo;
}

static float ac_at(const df_sampler *s, int64_t t)
{
    if (t < 0)
        return s->final_alpha_cumprod;
    if (t >= s->config.num_train_timesteps)
        t = s->config.num_train_timesteps - 1;
    return s->alphas_cumprod[t];
}

static int needs_noise(const df_sampler *s, size_t full_index)
{
    switch (s->kind) {
    case DF_SAMPLER_EULER_A:
    case DF_SAMPLER_DPMPP_2M_SDE:
        return 1;
    case DF_SAMPLER_DDIM:
        return s->eta > 0;
    case DF_SAMPLER_LCM:
        return full_index != (size_t)s->steps - 1;
    default:
        return 0;
    }
}

/* ---- scale_model_input ---- */

void df_sampler_scale_model_input(const df_sampler *s, size_t index, const float *latents,
                                  float *out)
{
    size_t n = s->numel, full = s->begin + index;
    int scaled = s->kind == DF_SAMPLER_EULER || s->kind == DF_SAMPLER_EULER_A ||
                 s->kind == DF_SAMPLER_HEUN || s->kind == DF_SAMPLER_LMS;
    if (!scaled || full >= s->sigma_count) {
        if (out != latents)
            memcpy(out, latents, n * sizeof(float));
        return;
    }
    /* EulerDiscreteScheduler.scale_model_input: sample / ((sigma**2 + 1) ** 0.5) */
    float sigma = s->sigmas[full];
    float d = sqrtf(sigma * sigma + 1.0f);
    for (size_t i = 0; i < n; i++)
        out[i] = latents[i] / d;
}

/* ---- add_noise ---- */

void df_sampler_add_noise(const df_sampler *s, const float *original, const float *noise,
                          float *out)
{
    size_t n = s->numel, b = s->begin;
    switch (s->kind) {
    case DF_SAMPLER_EULER:
    case DF_SAMPLER_EULER_A:
    case DF_SAMPLER_HEUN:
    case DF_SAMPLER_LMS: {
        /* original + noise * sigmas[begin_index] */
        float sigma = b < s->sigma_count ? s->sigmas[b] : 0.0f;
        for (size_t i = 0; i < n; i++)
            out[i] = original[i] + noise[i] * sigma;
        return;
    }
    case DF_SAMPLER_DPMPP_2M:
    case DF_SAMPLER_DPMPP_2M_SDE: {
        /* _sigma_to_alpha_sigma_t(sigmas[begin_index]) */
        float sigma = b < s->sigma_count ? s->sigmas[b] : 0.0f;
        float alpha_t = 1.0f / sqrtf(sigma * sigma + 1.0f);
        float sigma_t = sigma * alpha_t;
        for (size_t i = 0; i < n; i++)
            out[i] = alpha_t * original[i] + sigma_t * noise[i];
        return;
    }
    default: {
        /* DDIM / PNDM / LCM: alphas_cumprod[timesteps[begin]] */
        size_t cnt = s->timestep_count;
        int64_t t = (int64_t)s->timesteps[b < cnt ? b : cnt - 1];
        float a = ac_at(s, t);
        float sa = sqrtf(a), sb = sqrtf(1.0f - a);
        for (size_t i = 0; i < n; i++)
            out[i] = sa * original[i] + sb * noise[i];
        return;
    }
    }
}

/* ---- Euler, Euler ancestral, Heun ---- */

static void step_euler(df_sampler *s, size_t k, const float *mo, float *x)
{
    /* EulerDiscreteScheduler.step, s_churn = 0: gamma = 0, sigma_hat = sigma. */
    float sigma = s->sigmas[k], sigma_hat = sigma * 1.0f;
    float dt = s->sigmas[k + 1] - sigma_hat;
    df_prediction_type pred = s->config.prediction_type;
    for (size_t i = 0; i < s->numel; i++) {
        float x0 = pred == DF_PREDICTION_V ? sigma_x0(pred, sigma, x[i], mo[i])
                                           : sigma_x0(pred, sigma_hat, x[i], mo[i]);
        float d = (x[i] - x0) / sigma_hat;
        x[i] = x[i] + d * dt;
    }
}

static void step_euler_a(df_sampler *s, size_t k, const float *mo, float *x, const float *noise)
{
    float sigma = s->sigmas[k];
    float from = s->sigmas[k], to = s->sigmas[k + 1];
    /* sigma_up = (to**2 * (from**2 - to**2) / from**2) ** 0.5 */
    float up = sqrtf(to * to * (from * from - to * to) / (from * from));
    float down = sqrtf(to * to - up * up);
    float dt = down - sigma;
    df_prediction_type pred = s->config.prediction_type;
    for (size_t i = 0; i < s->numel; i++) {
        float x0 = sigma_x0(pred, sigma, x[i], mo[i]);
        float d = (x[i] - x0) / sigma;
        float p = x[i] + d * dt;
        x[i] = p + noise[i] * up;
    }
}

static void step_heun(df_sampler *s, size_t k, const float *mo, float *x)
{
    float *prev_d = buf(s, 1), *saved = buf(s, 2);
    df_prediction_type pred = s->config.prediction_type;
    /* clip_sample: pred_original_sample.clamp(-range, range) */
    int clip = s->config.clip_sample;
    float lo = -(float)s->config.clip_sample_range, hi = (float)s->config.clip_sample_range;
    if (!s->heun_has_dt) {
        float sigma = s->sigmas[k], sigma_next = s->sigmas[k + 1];
        float sigma_hat = sigma * 1.0f;
        float dt = sigma_next - sigma_hat;
        for (size_t i = 0; i < s->numel; i++) {
            float x0 = sigma_x0(pred, sigma_hat, x[i], mo[i]);
            if (clip)
                x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
            float d = (x[i] - x0) / sigma_hat;
            prev_d[i] = d;
            saved[i] = x[i];
            x[i] = x[i] + d * dt;
        }
        s->heun_dt = dt;
        s->heun_has_dt = 1;
    } else {
        float sigma_next = s->sigmas[k];
        float dt = s->heun_dt;
        for (size_t i = 0; i < s->numel; i++) {
            float x0 = sigma_x0(pred, sigma_next, x[i], mo[i]);
            if (clip)
                x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
            float d = (x[i] - x0) / sigma_next;
            d = (prev_d[i] + d) / 2.0f;
            x[i] = saved[i] + d * dt;
        }
        s->heun_has_dt = 0;
    }
}

/* ---- LMS ---- */

/* QUADPACK dqk21 (scipy.integrate.quad's first and, for these polynomials,
 * only pass): 21-point Gauss-Kronrod in double over an integrand that
 * diffusers evaluates on float32 tensors. */
static const double qk_xgk[11] = {
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
    0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
    0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
    0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
    0.000000000000000000000000000000000};
static const double qk_wgk[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821};

/* lms_derivative(tau) of LMSDiscreteScheduler.get_lms_coefficient. */
static double lms_basis(const float *sig, int order, int t, int cur, double tau)
{
    if (order <= 1)
        return 1.0; /* prod stays the Python float 1.0 */
    float tf = (float)tau, prod = 1.0f;
    for (int k = 0; k < order; k++) {
        if (k == cur)
            continue;
        prod *= (tf - sig[t - k]) / (sig[t - cur] - sig[t - k]);
    }
    return prod;
}

static double lms_coefficient(const float *sig, int order, int t, int cur)
{
    double a = sig[t], b = sig[t + 1];
    double centr = 0.5 * (a + b), hlgth = 0.5 * (b - a);
    double resk = qk_wgk[10] * lms_basis(sig, order, t, cur, centr);
    for (int j = 1; j <= 5; j++) { /* Gauss nodes: xgk(2j) in Fortran's 1-based */
        int jtw = 2 * j - 1;
        double absc = hlgth * qk_xgk[jtw];
        double f1 = lms_basis(sig, order, t, cur, centr - absc);
        double f2 = lms_basis(sig, order, t, cur, centr + absc);
        resk += qk_wgk[jtw] * (f1 + f2);
    }
    for (int j = 1; j <= 5; j++) {
        int jtwm1 = 2 * j - 2;
        double absc = hlgth * qk_xgk[jtwm1];
        double f1 = lms_basis(sig, order, t, cur, centr - absc);
        double f2 = lms_basis(sig, order, t, cur, centr + absc);
        resk += qk_wgk[jtwm1] * (f1 + f2);
    }
    return resk * hlgth;
}

static void step_lms(df_sampler *s, size_t k, const float *mo, float *x)
{
    /* derivatives ring: slot of the j-th newest = (history - 1 - j) mod 4 */
    float *slot = buf(s, 1 + (s->history % 4));
    float sigma = s->sigmas[k];
    df_prediction_type pred = s->config.prediction_type;
    for (size_t i = 0; i < s->numel; i++) {
        float x0 = sigma_x0(pred, sigma, x[i], mo[i]);
        slot[i] = (x[i] - x0) / sigma;
    }
    s->history++;
    if (s->counter < 4)
        s->counter++;
    int order = (int)k + 1 < 4 ? (int)k + 1 : 4;
    float coeff[4];
    for (int c = 0; c < order; c++)
        coeff[c] = (float)lms_coefficient(s->sigmas, order, (int)k, c);
    int terms = order < s->counter ? order : s->counter; /* zip() truncates */
    const float *d[4];
    for (int j = 0; j < terms; j++)
        d[j] = buf(s, 1 + (int)((s->history - 1 - j) % 4));
    for (size_t i = 0; i < s->numel; i++) {
        float acc = 0.0f + coeff[0] * d[0][i];
        for (int j = 1; j < terms; j++)
            acc = acc + coeff[j] * d[j][i];
        x[i] = x[i] + acc;
    }
}

/* ---- DDIM, PNDM ---- */

static void step_ddim(df_sampler *s, size_t k, const float *mo, float *x, const float *noise)
{
    int T = s->config.num_train_timesteps;
    int64_t t = (int64_t)s->timesteps[k];
    int64_t prev_t = t - T / s->steps;
    float a_t = ac_at(s, t), a_prev = ac_at(s, prev_t);
    float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    float sa = sqrtf(a_t), sb = sqrtf(b_t);
    /* _get_variance */
    float variance = b_prev / b_t * (1.0f - a_t / a_prev);
    float std = (float)s->eta * sqrtf(variance);
    float dir = sqrtf(1.0f - a_prev - std * std);
    float sap = sqrtf(a_prev);
    float lo = -(float)s->config.clip_sample_range, hi = (float)s->config.clip_sample_range;
    for (size_t i = 0; i < s->numel; i++) {
        float x0, eps;
        if (s->config.prediction_type == DF_PREDICTION_V) {
            x0 = sa * x[i] - sb * mo[i];
            eps = sa * mo[i] + sb * x[i];
        } else {
            x0 = (x[i] - sb * mo[i]) / sa;
            eps = mo[i];
        }
        if (s->config.clip_sample)
            x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
        float p = sap * x0 + dir * eps;
        if (noise)
            p = p + std * noise[i];
        x[i] = p;
    }
}

static void step_pndm(df_sampler *s, size_t k, const float *mo, float *x)
{
    /* PNDMScheduler.step_plms (skip_prk_steps). ets ring in bufs 1..4,
     * cur_sample in buf 5; history = ets appended so far. */
    int T = s->config.num_train_timesteps, ratio = T / s->steps;
    int64_t t = (int64_t)s->timesteps[k];
    int64_t prev_t = t - ratio;
    if (s->counter != 1) {
        memcpy(buf(s, 1 + s->history % 4), mo, s->numel * sizeof(float));
        s->history++;
    } else {
        prev_t = t;
        t = t + ratio;
    }
    int len = s->history < 4 ? s->history : 4;
    const float *e[4];
    for (int j = 0; j < len; j++)
        e[j] = buf(s, 1 + (s->history - 1 - j) % 4);
    float *cur = buf(s, 5);
    int mode = len == 1 ? (s->counter == 0 ? 0 : 1) : len;

    float a_t = ac_at(s, t), a_prev = ac_at(s, prev_t);
    float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    float sa = sqrtf(a_t), sb = sqrtf(b_t);
    float sample_coeff = sqrtf(a_prev / a_t);
    float denom = a_t * sqrtf(b_prev) + sqrtf(a_t * b_t * a_prev);
    float diff = a_prev - a_t;
    const float inv24 = (float)(1.0 / 24.0);
    for (size_t i = 0; i < s->numel; i++) {
        float m, sample = x[i];
        switch (mode) {
        case 0:
            m = mo[i];
            cur[i] = x[i];
            break;
        case 1:
            m = (mo[i] + e[0][i]) / 2.0f;
            sample = cur[i];
            break;
        case 2:
            m = (3.0f * e[0][i] - e[1][i]) / 2.0f;
            break;
        case 3:
            m = (23.0f * e[0][i] - 16.0f * e[1][i] + 5.0f * e[2][i]) / 12.0f;
            break;
        default:
            m = inv24 * (55.0f * e[0][i] - 59.0f * e[1][i] + 37.0f * e[2][i] - 9.0f * e[3][i]);
            break;
        }
        if (s->config.prediction_type == DF_PREDICTION_V)
            m = sa * m + sb * sample;
        x[i] = sample_coeff * sample - diff * m / denom;
    }
    s->counter++;
}

/* ---- DPM++ 2M (SDE) ---- */

static void step_dpm(df_sampler *s, size_t k, const float *mo, float *x, const float *noise)
{
    /* model_outputs[-1] goes to slot (counter parity), [-2] is the other. */
    float *m0 = buf(s, 1 + (s->history & 1)), *m1 = buf(s, 1 + ((s->history + 1) & 1));
    s->history++;
    int sde = s->kind == DF_SAMPLER_DPMPP_2M_SDE;
    /* convert_model_output (dpmsolver++): x0 prediction */
    float sig = s->sigmas[k];
    float alpha = 1.0f / sqrtf(sig * sig + 1.0f), sigma = sig * alpha;
    for (size_t i = 0; i < s->numel; i++)
        m0[i] = s->config.prediction_type == DF_PREDICTION_V ? alpha * x[i] - sigma * mo[i]
                                                             : (x[i] - sigma * mo[i]) / alpha;
    /* lower_order_final: the last step is first order with final_sigmas_type
     * "zero", euler_at_final, or lower_order_final under 15 steps. */
    int lower_final = k == s->timestep_count - 1 &&
                      (s->config.euler_at_final ||
                       (s->config.lower_order_final && s->timestep_count < 15) ||
                       s->config.final_sigmas_type == DF_FINAL_SIGMAS_ZERO);
    float st_raw = s->sigmas[k + 1], ss_raw = s->sigmas[k];
    float alpha_t = 1.0f / sqrtf(st_raw * st_raw + 1.0f), sigma_t = st_raw * alpha_t;
    float alpha_s = 1.0f / sqrtf(ss_raw * ss_raw + 1.0f), sigma_s = ss_raw * alpha_s;
    float lambda_t = logf(alpha_t) - logf(sigma_t);
    float lambda_s = logf(alpha_s) - logf(sigma_s);
    float h = lambda_t - lambda_s;
    if (s->counter < 1 || lower_final) {
        /* dpm_solver_first_order_update */
        if (!sde) {
            float a = sigma_t / sigma_s, b = alpha_t * (expf(-h) - 1.0f);
            for (size_t i = 0; i < s->numel; i++)
                x[i] = a * x[i] - b * m0[i];
        } else {
            float a = sigma_t / sigma_s * expf(-h);
            float b = alpha_t * (1.0f - expf(-2.0f * h));
            float c = sigma_t * sqrtf(1.0f - expf(-2.0f * h));
            for (size_t i = 0; i < s->numel; i++)
                x[i] = a * x[i] + b * m0[i] + c * noise[i];
        }
    } else {
        /* multistep_dpm_solver_second_order_update, midpoint */
        float s1_raw = s->sigmas[k - 1];
        float alpha_s1 = 1.0f / sqrtf(s1_raw * s1_raw + 1.0f), sigma_s1 = s1_raw * alpha_s1;
        float lambda_s1 = logf(alpha_s1) - logf(sigma_s1);
        float h0 = lambda_s - lambda_s1;
        float r0 = h0 / h;
        float inv_r0 = 1.0f / r0;
        if (!sde) {
            float a = sigma_t / sigma_s, b = alpha_t * (expf(-h) - 1.0f), c = 0.5f * b;
            for (size_t i = 0; i < s->numel; i++) {
                float d1 = inv_r0 * (m0[i] - m1[i]);
                x[i] = a * x[i] - b * m0[i] - c * d1;
            }
        } else {
            float a = sigma_t / sigma_s * expf(-h);
            float b = alpha_t * (1.0f - expf(-2.0f * h)), c = 0.5f * b;
            float e = sigma_t * sqrtf(1.0f - expf(-2.0f * h));
            for (size_t i = 0; i < s->numel; i++) {
                float d1 = inv_r0 * (m0[i] - m1[i]);
                x[i] = a * x[i] + b * m0[i] + c * d1 + e * noise[i];
            }
        }
    }
    if (s->counter < 2)
        s->counter++;
}

/* ---- LCM ---- */

static void step_lcm(df_sampler *s, size_t k, const float *mo, float *x, const float *noise)
{
    int64_t t = (int64_t)s->timesteps[k];
    int64_t prev_t = k + 1 < s->timestep_count ? (int64_t)s->timesteps[k + 1] : t;
    float a_t = ac_at(s, t), a_prev = ac_at(s, prev_t);
    float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    /* get_scalings_for_boundary_condition_discrete, sigma_data 0.5 */
    float st = (float)t * (float)s->config.timestep_scaling;
    float c_skip = 0.25f / (st * st + 0.25f);
    float c_out = st / sqrtf(st * st + 0.25f);
    float sa = sqrtf(a_t), sb = sqrtf(b_t), sap = sqrtf(a_prev), sbp = sqrtf(b_prev);
    float lo = -(float)s->config.clip_sample_range, hi = (float)s->config.clip_sample_range;
    for (size_t i = 0; i < s->numel; i++) {
        float x0 = s->config.prediction_type == DF_PREDICTION_V ? sa * x[i] - sb * mo[i]
                                                                : (x[i] - sb * mo[i]) / sa;
        if (s->config.clip_sample)
            x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
        float den = c_out * x0 + c_skip * x[i];
        x[i] = noise ? sap * den + sbp * noise[i] : den;
    }
}

/* ---- step ---- */

df_status df_sampler_step(df_sampler *s, size_t index, const float *model_output, float *latents,
                          df_rng *rng, df_error *error)
{
    size_t count = s->timestep_count - s->begin;
    if (index >= count)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "sampler step index %zu out of range (%zu evaluations)", index, count);
    if (index != s->next_index)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "sampler step index %zu out of order (expected %zu)", index,
                            s->next_index);
    size_t k = s->begin + index;
    const float *noise = NULL;
    if (needs_noise(s, k)) {
        if (!rng)
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "sampler %s needs a generator for its step noise",
                                df_sampler_kind_name(s->kind));
        /* randn_tensor(model_output.shape, generator): one draw for the batch */
        df_rng_randn(rng, buf(s, 0), s->numel);
        noise = buf(s, 0);
    }
    switch (s->kind) {
    case DF_SAMPLER_EULER: step_euler(s, k, model_output, latents); break;
    case DF_SAMPLER_EULER_A: step_euler_a(s, k, model_output, latents, noise); break;
    case DF_SAMPLER_HEUN: step_heun(s, k, model_output, latents); break;
    case DF_SAMPLER_LMS: step_lms(s, k, model_output, latents); break;
    case DF_SAMPLER_DDIM: step_ddim(s, k, model_output, latents, noise); break;
    case DF_SAMPLER_PNDM: step_pndm(s, k, model_output, latents); break;
    case DF_SAMPLER_DPMPP_2M:
    case DF_SAMPLER_DPMPP_2M_SDE: step_dpm(s, k, model_output, latents, noise); break;
    case DF_SAMPLER_LCM: step_lcm(s, k, model_output, latents, noise); break;
    default:
        return df_error_set(error, DF_ERR_INTERNAL, "sampler kind %d", (int)s->kind);
    }
    s->next_index = index + 1;
    return DF_OK;
}
