/*
 * attention.c — multi-head scaled dot-product attention, flash style.
 *
 * One task = (batch, head, block of BQ queries). The task walks the keys in
 * blocks of BK: it packs the block's keys transposed (Kᵀ, [d][BK]) and its
 * values ([BK][d rounded up to 8]) into per-thread scratch, computes the
 * BQ x BK scores with a register-blocked kernel (2 queries x 32 keys per
 * step), folds them into a running max / running sum per query (the online
 * softmax), rescales the output accumulator when the max grows, and adds
 * P·V (4 queries x 16 dims per step). Only O(BQ·BK + (BQ+BK)·d) floats per
 * thread are live, whatever n_q and n_kv are.
 *
 * Causal masking: query i of the sequence sees keys 0..i; key blocks past
 * the last query of the task are never visited. Every task's arithmetic is
 * fixed by its indices, so results do not depend on the thread count.
 */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/vecmath.h"

#define DF_ATTN_BQ 64 /* queries per task (a multiple of 4) */
#define DF_ATTN_BK 64 /* keys per block (a multiple of 32) */

typedef struct attn_job {
    df_pool *pool;
    const float *q, *k, *v;
    float *out;
    int heads, head_dim, causal;
    int64_t n_q, n_kv, q_blocks;
    int64_t q_stride, kv_stride, out_stride;
    float scale;
    size_t scratch_floats;
} attn_job;

typedef struct attn_buffers {
    float *qs; /* [BQ][d], pre-scaled */
    float *kt; /* [d][BK] */
    float *vp; /* [BK][dp] */
    float *s;  /* [BQ][BK]: scores, then probabilities */
    float *o;  /* [BQ][dp] */
    float *m, *l;
} attn_buffers;

static int attn_padded_dim(int head_dim)
{
    return (head_dim + 7) / 8 * 8;
}

static size_t attn_scratch_floats(int head_dim)
{
    size_t d = (size_t)head_dim, dp = (size_t)attn_padded_dim(head_dim);
    return DF_ATTN_BQ * d + d * DF_ATTN_BK + DF_ATTN_BK * dp + DF_ATTN_BQ * DF_ATTN_BK +
           DF_ATTN_BQ * dp + 2 * DF_ATTN_BQ + 64;
}

/* S[i][j] = Σ_t qs[i][t] kt[t][j] for a pair of rows and 32 keys at a time */
DF_INLINE void attn_scores(const float *qs, const float *kt, int d, float *s)
{
    for (int i = 0; i < DF_ATTN_BQ; i += 2) {
        const float *q0 = qs + (int64_t)i * d, *q1 = q0 + d;
        for (int jc = 0; jc < DF_ATTN_BK; jc += 32) {
            df_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            df_v8 b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
            const float *kp = kt + jc;
            for (int t = 0; t < d; t++, kp += DF_ATTN_BK) {
                df_v8 k0 = df_v8_load(kp), k1 = df_v8_load(kp + 8);
                df_v8 k2 = df_v8_load(kp + 16), k3 = df_v8_load(kp + 24);
                float x0 = q0[t], x1 = q1[t];
                a0 += k0 * x0;
                a1 += k1 * x0;
                a2 += k2 * x0;
                a3 += k3 * x0;
                b0 += k0 * x1;
                b1 += k1 * x1;
                b2 += k2 * x1;
                b3 += k3 * x1;
            }
            float *s0 = s + (int64_t)i * DF_ATTN_BK + jc, *s1 = s0 + DF_ATTN_BK;
            df_v8_store(s0, a0);
            df_v8_store(s0 + 8, a1);
            df_v8_store(s0 + 16, a2);
            df_v8_store(s0 + 24, a3);
            df_v8_store(s1, b0);
            df_v8_store(s1 + 8, b1);
            df_v8_store(s1 + 16, b2);
            df_v8_store(s1 + 24, b3);
        }
    }
}

/* O[i][:] += Σ_j P[i][j] V[j][:] for rows i..i+3, `bk` keys */
DF_INLINE void attn_accumulate(const float *p, const float *vp, int bk, int dp, float *o)
{
    for (int i = 0; i < DF_ATTN_BQ; i += 4) {
        const float *p0 = p + (int64_t)i * DF_ATTN_BK;
        float *o0 = o + (int64_t)i * dp;
        int c = 0;
        for (; c + 16 <= dp; c += 16) {
            df_v8 r00 = df_v8_load(o0 + c), r01 = df_v8_load(o0 + c + 8);
            df_v8 r10 = df_v8_load(o0 + dp + c), r11 = df_v8_load(o0 + dp + c + 8);
            df_v8 r20 = df_v8_load(o0 + 2 * dp + c), r21 = df_v8_load(o0 + 2 * dp + c + 8);
            df_v8 r30 = df_v8_load(o0 + 3 * dp + c), r31 = df_v8_load(o0 + 3 * dp + c + 8);
            const float *vj = vp + c;
            for (int j = 0; j < bk; j++, vj += dp) {
                df_v8 v0 = df_v8_load(vj), v1 = df_v8_load(vj + 8);
                float w0 = p0[j], w1 = p0[DF_ATTN_BK + j];
                float w2 = p0[2 * DF_ATTN_BK + j], w3 = p0[3 * DF_ATTN_BK + j];
                r00 += v0 * w0;
                r01 += v1 * w0;
                r10 += v0 * w1;
                r11 += v1 * w1;
                r20 += v0 * w2;
                r21 += v1 * w2;
                r30 += v0 * w3;
                r31 += v1 * w3;
            }
            df_v8_store(o0 + c, r00);
            df_v8_store(o0 + c + 8, r01);
            df_v8_store(o0 + dp + c, r10);
            df_v8_store(o0 + dp + c + 8, r11);
            df_v8_store(o0 + 2 * dp + c, r20);
            df_v8_store(o0 + 2 * dp + c + 8, r21);
            df_v8_store(o0 + 3 * dp + c, r30);
            df_v8_store(o0 + 3 * dp + c + 8, r31);
        }
        if (c < dp) { /* dp % 16 == 8 */
            df_v8 r0 = df_v8_load(o0 + c), r1 = df_v8_load(o0 + dp + c);
            df_v8 r2 = df_v8_load(o0 + 2 * dp + c), r3 = df_v8_load(o0 + 3 * dp + c);
            const float *vj = vp + c;
            for (int j = 0; j < bk; j++, vj += dp) {
                df_v8 v0 = df_v8_load(vj);
                r0 += v0 * p0[j];
                r1 += v0 * p0[DF_ATTN_BK + j];
                r2 += v0 * p0[2 * DF_ATTN_BK + j];
                r3 += v0 * p0[3 * DF_ATTN_BK + j];
            }
            df_v8_store(o0 + c, r0);
            df_v8_store(o0 + dp + c, r1);
            df_v8_store(o0 + 2 * dp + c, r2);
            df_v8_store(o0 + 3 * dp + c, r3);
        }
    }
}

/* Online-softmax update of row i for one key block: `valid` leading keys
 * count, the rest of the row is masked. Leaves probabilities in s. */
DF_INLINE void attn_softmax_row(float *s, int valid, float *m, float *l, float *o, int dp)
{
    if (valid <= 0) {
        memset(s, 0, DF_ATTN_BK * sizeof(float));
        return;
    }
    for (int j = valid; j < DF_ATTN_BK; j++)
        s[j] = -FLT_MAX;
    df_v8 vmax = df_v8_load(s);
    for (int j = 8; j < DF_ATTN_BK; j += 8)
        vmax = df_v8_max(vmax, df_v8_load(s + j));
    float block_max = df_v8_hmax(vmax);
    float m_new = block_max > *m ? block_max : *m;
    float alpha = expf(*m - m_new);
    df_v8 vsum = {0};
    for (int j = 0; j < DF_ATTN_BK; j += 8) {
        df_v8 e = df_v8_exp(df_v8_load(s + j) - m_new);
        df_v8_store(s + j, e);
    }
    for (int j = valid; j < DF_ATTN_BK; j++)
        s[j] = 0.0f;
    for (int j = 0; j < DF_ATTN_BK; j += 8)
        vsum += df_v8_load(s + j);
    *l = *l * alpha + df_v8_hsum(vsum);
    *m = m_new;
    if (alpha != 1.0f)
        for (int c = 0; c < dp; c += 8)
            df_v8_store(o + c, df_v8_load(o + c) * alpha);
}

DF_INLINE void attn_block_body(const attn_job *job, int64_t task, float *scratch)
{
    const int d = job->head_dim, dp = attn_padded_dim(d);
    const int64_t per_batch = (int64_t)job->heads * job->q_blocks;
    const int64_t b = task / per_batch;
    const int h = (int)((task % per_batch) / job->q_blocks);
    const int64_t q0 = (task % job->q_blocks) * DF_ATTN_BQ;
    const int bq = job->n_q - q0 < DF_ATTN_BQ ? (int)(job->n_q - q0) : DF_ATTN_BQ;

    attn_buffers buf;
    buf.qs = scratch;
    buf.kt = buf.qs + DF_ATTN_BQ * d;
    buf.vp = buf.kt + d * DF_ATTN_BK;
    buf.s = buf.vp + DF_ATTN_BK * dp;
    buf.o = buf.s + DF_ATTN_BQ * DF_ATTN_BK;
    buf.m = buf.o + DF_ATTN_BQ * dp;
    buf.l = buf.m + DF_ATTN_BQ;

    for (int i = 0; i < DF_ATTN_BQ; i++) {
        float *dst = buf.qs + (int64_t)i * d;
        if (i < bq) {
            const float *src = job->q + (b * job->n_q + q0 + i) * job->q_stride + (int64_t)h * d;
            for (int t = 0; t < d; t++)
                dst[t] = src[t] * job->scale;
        } else {
            memset(dst, 0, (size_t)d * sizeof(float));
        }
        buf.m[i] = -FLT_MAX;
        buf.l[i] = 0.0f;
    }
    memset(buf.o, 0, (size_t)DF_ATTN_BQ * dp * sizeof(float));

    int64_t kv_end = job->n_kv;
    if (job->causal && q0 + bq < kv_end)
        kv_end = q0 + bq;
    for (int64_t k0 = 0; k0 < kv_end; k0 += DF_ATTN_BK) {
        const int bk = kv_end - k0 < DF_ATTN_BK ? (int)(kv_end - k0) : DF_ATTN_BK;
        for (int j = 0; j < bk; j++) {
            int64_t row = (b * job->n_kv + k0 + j) * job->kv_stride + (int64_t)h * d;
            const float *ks = job->k + row, *vs = job->v + row;
            for (int t = 0; t < d; t++)
                buf.kt[(int64_t)t * DF_ATTN_BK + j] = ks[t];
            memcpy(buf.vp + (int64_t)j * dp, vs, (size_t)d * sizeof(float));
            for (int t = d; t < dp; t++)
                buf.vp[(int64_t)j * dp + t] = 0.0f;
        }
        for (int t = 0; t < d; t++)
            for (int j = bk; j < DF_ATTN_BK; j++)
                buf.kt[(int64_t)t * DF_ATTN_BK + j] = 0.0f;

        attn_scores(buf.qs, buf.kt, d, buf.s);
        for (int i = 0; i < DF_ATTN_BQ; i++) {
            int valid = i < bq ? bk : 0;
            if (job->causal && i < bq) {
                int64_t visible = q0 + i - k0 + 1; /* keys k0..q0+i */
                if (visible < valid)
                    valid = visible < 0 ? 0 : (int)visible;
            }
            attn_softmax_row(buf.s + (int64_t)i * DF_ATTN_BK, valid, &buf.m[i], &buf.l[i],
                             buf.o + (int64_t)i * dp, dp);
        }
        attn_accumulate(buf.s, buf.vp, bk, dp, buf.o);
    }

    for (int i = 0; i < bq; i++) {
        float inv = buf.l[i] > 0.0f ? 1.0f / buf.l[i] : 0.0f;
        float *dst = job->out + (b * job->n_q + q0 + i) * job->out_stride + (int64_t)h * d;
        const float *src = buf.o + (int64_t)i * dp;
        for (int t = 0; t < d; t++)
            dst[t] = src[t] * inv;
    }
}
DF_VEC_DISPATCH(attn_block, (const attn_job *job, int64_t task, float *scratch),
                (job, task, scratch))

#if defined(__x86_64__) || defined(__i386__)
/* --- AVX-512 path: everything transposed ---------------------------------
 * Queries run along the vector lanes (64 queries = 4 zmm), so neither K nor
 * V is ever packed: scores Sᵀ[j][:] = Σ_t K[j][t] · Qᵀ[t][:] broadcast K
 * straight from its rows, the online softmax is element-wise across the
 * queries (no horizontal max/sum), and Oᵀ[c][:] += Σ_j V[j][c] · Pᵀ[j][:]
 * broadcasts V straight from its rows. Only Qᵀ (once per task) and the
 * final Oᵀ -> O are transposed. Per-query arithmetic is fixed by the
 * indices, as in the portable path. */
#define DF_ATTN_T_BQ 64 /* queries per task: 4 vectors of 16 */
#define DF_ATTN_T_BK 64 /* keys per block */
#define DF_ATTN_T_QV (DF_ATTN_T_BQ / 16)

static size_t attn_t_scratch_floats(int head_dim)
{
    return (size_t)DF_ATTN_T_BQ * (2 * (size_t)head_dim + DF_ATTN_T_BK + 2) + 64;
}

/* Sᵀ rows for 4 keys: s[r][:] = Σ_t key_r[t] qt[t][:] */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
attn_t_scores4(const float *const key[4], const float *qt, int d, float *s)
{
    df_v16 acc[4][DF_ATTN_T_QV];
    _Pragma("GCC unroll 8") for (int r = 0; r < 4; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
            acc[r][v] = (df_v16){0};
    for (int t = 0; t < d; t++) {
        df_v16 qv[DF_ATTN_T_QV];
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
            qv[v] = df_v16_load(qt + (int64_t)t * DF_ATTN_T_BQ + v * 16);
        _Pragma("GCC unroll 8") for (int r = 0; r < 4; r++) {
            float kr = key[r][t];
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
                acc[r][v] += qv[v] * kr;
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < 4; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
            df_v16_store(s + r * DF_ATTN_T_BQ + v * 16, acc[r][v]);
}

/* Oᵀ rows c..c+CB-1 += Σ_j V[j][c..] Pᵀ[j][:] */
#define DF_ATTN_T_PV(CB)                                                                         \
    __attribute__((target("avx512f,fma"), always_inline)) static inline void attn_t_pv##CB(      \
        const float *vrow, int64_t vstride, const float *p, int bk, float *ot)                   \
    {                                                                                            \
        df_v16 acc[CB][DF_ATTN_T_QV];                                                            \
        _Pragma("GCC unroll 8") for (int r = 0; r < CB; r++)                                                             \
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)                                               \
                acc[r][v] = df_v16_load(ot + r * DF_ATTN_T_BQ + v * 16);                         \
        for (int j = 0; j < bk; j++, vrow += vstride, p += DF_ATTN_T_BQ) {                       \
            df_v16 pv[DF_ATTN_T_QV];                                                             \
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)                                               \
                pv[v] = df_v16_load(p + v * 16);                                                 \
            _Pragma("GCC unroll 8") for (int r = 0; r < CB; r++) {                                                       \
                float w = vrow[r];                                                               \
                _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)                                           \
                    acc[r][v] += pv[v] * w;                                                      \
            }                                                                                    \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int r = 0; r < CB; r++)                                                             \
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)                                               \
                df_v16_store(ot + r * DF_ATTN_T_BQ + v * 16, acc[r][v]);                         \
    }
DF_ATTN_T_PV(1)
DF_ATTN_T_PV(2)
DF_ATTN_T_PV(3)
DF_ATTN_T_PV(4)
DF_ATTN_T_PV(5)

__attribute__((target("avx512f,fma"))) static void attn_t_block(const attn_job *job, int64_t task,
                                                               float *scratch)
{
    const int d = job->head_dim;
    const int64_t per_batch = (int64_t)job->heads * job->q_blocks;
    const int64_t b = task / per_batch;
    const int h = (int)((task % per_batch) / job->q_blocks);
    const int64_t q0 = (task % job->q_blocks) * DF_ATTN_T_BQ;
    const int bq = job->n_q - q0 < DF_ATTN_T_BQ ? (int)(job->n_q - q0) : DF_ATTN_T_BQ;

    float *qt = scratch;                               /* [d][BQ] */
    float *ot = qt + (int64_t)d * DF_ATTN_T_BQ;        /* [d][BQ] */
    float *s = ot + (int64_t)d * DF_ATTN_T_BQ;         /* [BK][BQ] */
    float *mbuf = s + DF_ATTN_T_BK * DF_ATTN_T_BQ;     /* [BQ] */
    float *lbuf = mbuf + DF_ATTN_T_BQ;                 /* [BQ] */

    for (int i = 0; i < DF_ATTN_T_BQ; i++) {
        if (i < bq) {
            const float *src = job->q + (b * job->n_q + q0 + i) * job->q_stride + (int64_t)h * d;
            for (int t = 0; t < d; t++)
                qt[(int64_t)t * DF_ATTN_T_BQ + i] = src[t] * job->scale;
        } else {
            for (int t = 0; t < d; t++)
                qt[(int64_t)t * DF_ATTN_T_BQ + i] = 0.0f;
        }
    }
    memset(ot, 0, (size_t)d * DF_ATTN_T_BQ * sizeof(float));
    df_v16 m[DF_ATTN_T_QV], l[DF_ATTN_T_QV];
    df_v16i qidx[DF_ATTN_T_QV];
    _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
        m[v] = (df_v16){0} - FLT_MAX;
        l[v] = (df_v16){0};
        for (int e = 0; e < 16; e++)
            qidx[v][e] = (int32_t)(q0 + v * 16 + e);
    }

    int64_t kv_end = job->n_kv;
    if (job->causal && q0 + bq < kv_end)
        kv_end = q0 + bq;
    const float *kbase = job->k + b * job->n_kv * job->kv_stride + (int64_t)h * d;
    const float *vbase = job->v + b * job->n_kv * job->kv_stride + (int64_t)h * d;
    for (int64_t k0 = 0; k0 < kv_end; k0 += DF_ATTN_T_BK) {
        const int bk = kv_end - k0 < DF_ATTN_T_BK ? (int)(kv_end - k0) : DF_ATTN_T_BK;
        for (int j = 0; j < bk; j += 4) {
            const float *key[4];
            _Pragma("GCC unroll 8") for (int r = 0; r < 4; r++) /* past bk: repeat a valid row, never read */
                key[r] = kbase + (k0 + (j + r < bk ? j + r : j)) * job->kv_stride;
            attn_t_scores4(key, qt, d, s + (int64_t)j * DF_ATTN_T_BQ);
        }
        /* block max per query, masking causal entries */
        df_v16 bmax[DF_ATTN_T_QV];
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
            bmax[v] = (df_v16){0} - FLT_MAX;
        for (int j = 0; j < bk; j++) {
            float *sj = s + (int64_t)j * DF_ATTN_T_BQ;
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
                df_v16 x = df_v16_load(sj + v * 16);
                if (job->causal) {
                    df_v16i visible = (df_v16i){0} + (int32_t)(k0 + j) <= qidx[v];
                    x = df_v16_select(visible, x, (df_v16){0} - FLT_MAX);
                    df_v16_store(sj + v * 16, x);
                }
                bmax[v] = df_v16_max(bmax[v], x);
            }
        }
        df_v16 alpha[DF_ATTN_T_QV], m_new[DF_ATTN_T_QV], sum[DF_ATTN_T_QV];
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
            m_new[v] = df_v16_max(m[v], bmax[v]);
            alpha[v] = df_v16_exp(m[v] - m_new[v]);
            sum[v] = (df_v16){0};
        }
        for (int j = 0; j < bk; j++) {
            float *sj = s + (int64_t)j * DF_ATTN_T_BQ;
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
                df_v16 x = df_v16_load(sj + v * 16);
                df_v16 e = df_v16_exp(x - m_new[v]);
                e = df_v16_select(x > -FLT_MAX, e, (df_v16){0}); /* masked: exactly 0 */
                df_v16_store(sj + v * 16, e);
                sum[v] += e;
            }
        }
        _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
            l[v] = l[v] * alpha[v] + sum[v];
            m[v] = m_new[v];
        }
        for (int c = 0; c < d; c++)
            _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++) {
                float *o = ot + (int64_t)c * DF_ATTN_T_BQ + v * 16;
                df_v16_store(o, df_v16_load(o) * alpha[v]);
            }
        const float *vrow = vbase + k0 * job->kv_stride;
        int c = 0;
        for (; c + 5 <= d && d % 5 == 0; c += 5)
            attn_t_pv5(vrow + c, job->kv_stride, s, bk, ot + (int64_t)c * DF_ATTN_T_BQ);
        for (; c + 4 <= d; c += 4)
            attn_t_pv4(vrow + c, job->kv_stride, s, bk, ot + (int64_t)c * DF_ATTN_T_BQ);
        switch (d - c) {
        case 3: attn_t_pv3(vrow + c, job->kv_stride, s, bk, ot + (int64_t)c * DF_ATTN_T_BQ); break;
        case 2: attn_t_pv2(vrow + c, job->kv_stride, s, bk, ot + (int64_t)c * DF_ATTN_T_BQ); break;
        case 1: attn_t_pv1(vrow + c, job->kv_stride, s, bk, ot + (int64_t)c * DF_ATTN_T_BQ); break;
        default: break;
        }
    }

    _Pragma("GCC unroll 8") for (int v = 0; v < DF_ATTN_T_QV; v++)
        df_v16_store(lbuf + v * 16, l[v]);
    for (int i = 0; i < bq; i++) {
        float inv = lbuf[i] > 0.0f ? 1.0f / lbuf[i] : 0.0f;
        float *dst = job->out + (b * job->n_q + q0 + i) * job->out_stride + (int64_t)h * d;
        for (int t = 0; t < d; t++)
            dst[t] = ot[(int64_t)t * DF_ATTN_T_BQ + i] * inv;
    }
}

static void attn_t_task(void *context, int64_t begin, int64_t end, int thread)
{
    const attn_job *job = context;
    float *scratch = df_pool_scratch(job->pool, thread, job->scratch_floats * sizeof(float));
    assert(scratch);
    if (!scratch)
        return;
    /* A block is a few ms even at 64k tokens; the whole kernel can be
     * minutes, so a cancel is honoured between blocks. */
    for (int64_t task = begin; task < end && !df_pool_stopped(job->pool); task++)
        attn_t_block(job, task, scratch);
}
#endif

static void attn_task(void *context, int64_t begin, int64_t end, int thread)
{
    const attn_job *job = context;
    float *scratch = df_pool_scratch(job->pool, thread, job->scratch_floats * sizeof(float));
    assert(scratch);
    if (!scratch)
        return;
    for (int64_t task = begin; task < end && !df_pool_stopped(job->pool); task++)
        attn_block(job, task, scratch);
}

void df_attention(df_pool *pool, const float *q, const float *k, const float *v, float *out,
                  int batch, int heads, int64_t n_q, int64_t n_kv, int head_dim,
                  int64_t q_stride, int64_t kv_stride, int64_t out_stride, int causal,
                  float scale)
{
    assert(head_dim > 0 && heads > 0);
    assert(!causal || n_q == n_kv);
    if (batch <= 0 || n_q <= 0)
        return;
    attn_job job = {
        .pool = pool, .q = q, .k = k, .v = v, .out = out,
        .heads = heads, .head_dim = head_dim, .causal = causal,
        .n_q = n_q, .n_kv = n_kv, .q_blocks = (n_q + DF_ATTN_BQ - 1) / DF_ATTN_BQ,
        .q_stride = q_stride, .kv_stride = kv_stride, .out_stride = out_stride,
        .scale = scale, .scratch_floats = attn_scratch_floats(head_dim),
    };
#if defined(__x86_64__) || defined(__i386__)
    /* transposed AVX-512 path; short query sequences (CLIP: 77) would waste
     * most of a 64-query block's lanes, they stay on the portable path */
    if (df_gemm_have_avx512() && n_q >= DF_ATTN_T_BQ) {
        job.q_blocks = (n_q + DF_ATTN_T_BQ - 1) / DF_ATTN_T_BQ;
        job.scratch_floats = attn_t_scratch_floats(head_dim);
        df_pool_for(pool, (int64_t)batch * heads * job.q_blocks, 1, attn_t_task, &job);
        return;
    }
#endif
    df_pool_for(pool, (int64_t)batch * heads * job.q_blocks, 1, attn_task, &job);
}
