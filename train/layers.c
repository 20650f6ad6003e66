/* The model's layers as forward/backward pairs (reference: karpathy/llm.c, train_gpt2.c),
 * and the parameter block with named views.
 *
 * Every backward adds each gradient element exactly once per call: reductions over rows
 * (bias, LayerNorm weight and bias) are summed into a local and added once, and the
 * matrix products go through cblas_sgemm with beta = 1. This makes "backward twice gives
 * exactly twice the gradients" hold bit for bit (for GEMMs while the inner dimension fits
 * one OpenBLAS block), which the tests check. Formulas and their
 * PyTorch equivalents: docs/model-layers.md. */
#include "train/train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- linear */

void train_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, int OC)
{
    CORE_ASSERT(N >= 0 && C > 0 && OC > 0);
    if (N == 0)
        return;
    float beta = 0.0f;
    if (bias) {
        for (size_t n = 0; n < (size_t)N; n++)
            memcpy(out + n * (size_t)OC, bias, (size_t)OC * sizeof *out);
        beta = 1.0f;
    }
    /* out (N,OC) = inp (N,C) @ weight^T (C,OC) [+ out]: GEMM M=N, N=OC, K=C */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, beta,
                out, OC);
}

void train_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, int N, int C, int OC)
{
    CORE_ASSERT(N >= 0 && C > 0 && OC > 0);
    if (N == 0)
        return;
    /* dinp (N,C) += dout (N,OC) @ weight (OC,C): GEMM M=N, N=C, K=OC */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                    1.0f, dinp, C);
    /* dweight (OC,C) += dout^T (OC,N) @ inp (N,C): GEMM M=OC, N=C, K=N */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                dweight, C);
    if (dbias) {
        for (size_t o = 0; o < (size_t)OC; o++) {
            float s = 0.0f;
            for (size_t n = 0; n < (size_t)N; n++)
                s += dout[n * (size_t)OC + o];
            dbias[o] += s;
        }
    }
}

/* ---------------------------------------------------------------- layernorm */

void train_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int N, int C)
{
    CORE_ASSERT(N >= 0 && C > 0);
    for (size_t n = 0; n < (size_t)N; n++) {
        const float *x = inp + n * (size_t)C;
        float *y = out + n * (size_t)C;
        float m = 0.0f;
        for (int i = 0; i < C; i++)
            m += x[i];
        m /= (float)C;
        float v = 0.0f; /* two passes: no cancellation when |mean| >> std */
        for (int i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + TRAIN_LAYERNORM_EPS);
        for (int i = 0; i < C; i++)
            y[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void train_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, const float *mean,
                              const float *rstd, int N, int C)
{
    CORE_ASSERT(N >= 0 && C > 0);
    /* dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * weight
     * (reference: llm.c layernorm_backward) */
    for (size_t n = 0; n < (size_t)N; n++) {
        const float *x = inp + n * (size_t)C, *dy = dout + n * (size_t)C;
        float *dx = dinp + n * (size_t)C;
        float m = mean[n], s = rstd[n];
        float g_mean = 0.0f, gx_mean = 0.0f;
        for (int i = 0; i < C; i++) {
            float g = weight[i] * dy[i];
            g_mean += g;
            gx_mean += g * (x[i] - m) * s;
        }
        g_mean /= (float)C;
        gx_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s;
            dx[i] += s * (weight[i] * dy[i] - g_mean - xhat * gx_mean);
        }
    }
    /* The parameter gradients sum over rows: one column at a time so each element gets
     * a single addition (see the file comment). */
    for (size_t i = 0; i < (size_t)C; i++) {
        float dw = 0.0f, db = 0.0f;
        for (size_t n = 0; n < (size_t)N; n++) {
            float dy = dout[n * (size_t)C + i];
            dw += (inp[n * (size_t)C + i] - mean[n]) * rstd[n] * dy;
            db += dy;
        }
        dweight[i] += dw;
        dbias[i] += db;
    }
}

/* ---------------------------------------------------------------- gelu */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */

void train_gelu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

void train_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float grad =
            0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += grad * dout[i];
    }
}

/* ---------------------------------------------------------------- attention */

void train_attention_forward(float *out, float *preatt, float *att, const float *qkv,
                             const uint8_t *valid, int B, int T, int C, int NH)
{
    CORE_ASSERT(B >= 0 && T > 0 && NH > 0 && C > 0 && C % NH == 0);
    const size_t hs = (size_t)(C / NH), C3 = 3 * (size_t)C, TT = (size_t)T * (size_t)T;
    const float scale = 1.0f / sqrtf((float)hs);
    for (size_t b = 0; b < (size_t)B; b++) {
        const uint8_t *ok = valid ? valid + b * (size_t)T : NULL;
        for (size_t h = 0; h < (size_t)NH; h++) {
            const float *q = qkv + b * (size_t)T * C3 + h * hs;
            const float *k = q + C, *v = q + 2 * (size_t)C;
            float *pre = preatt + (b * (size_t)NH + h) * TT;
            float *a = att + (b * (size_t)NH + h) * TT;
            float *o = out + b * (size_t)T * (size_t)C + h * hs;
            /* pre (T,T) = scale * q (T,hs) @ k^T (hs,T): GEMM M=T, N=T, K=hs. The upper
             * triangle is computed and discarded: simpler than T small GEMVs. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, (int)hs, scale, q, (int)C3,
                        k, (int)C3, 0.0f, pre, T);
            for (size_t t = 0; t < (size_t)T; t++) {
                float *pr = pre + t * (size_t)T, *ar = a + t * (size_t)T;
                if (ok && !ok[t]) {
                    memset(pr, 0, (size_t)T * sizeof *pr);
                    memset(ar, 0, (size_t)T * sizeof *ar);
                    continue;
                }
                float maxv = -INFINITY;
                for (size_t t2 = 0; t2 <= t; t2++)
                    if ((!ok || ok[t2]) && pr[t2] > maxv)
                        maxv = pr[t2];
                float sum = 0.0f;
                for (size_t t2 = 0; t2 < (size_t)T; t2++) {
                    if (t2 <= t && (!ok || ok[t2])) {
                        ar[t2] = expf(pr[t2] - maxv);
                        sum += ar[t2];
                    } else {
                        pr[t2] = 0.0f;
                        ar[t2] = 0.0f;
                    }
                }
                /* sum >= 1: the maximum contributes exp(0), and the query itself is always an
                 * attended key, so no row is empty */
                float inv = 1.0f / sum;
                for (size_t t2 = 0; t2 <= t; t2++)
                    ar[t2] *= inv;
            }
            /* o (T,hs) = a (T,T) @ v (T,hs): GEMM M=T, N=hs, K=T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, (int)hs, T, 1.0f, a, T, v,
                        (int)C3, 0.0f, o, C);
            /* a zero att row already gives 0 (or -0); make padded outputs +0 exactly and
             * immune to non-finite values at padded positions */
            if (ok)
                for (size_t t = 0; t < (size_t)T; t++)
                    if (!ok[t])
                        memset(o + t * (size_t)C, 0, hs * sizeof *o);
        }
    }
}

void train_attention_backward(float *dqkv, float *dpreatt, float *datt, const float *dout,
                              const float *qkv, const float *att, const uint8_t *valid, int B,
                              int T, int C, int NH)
{
    CORE_ASSERT(B >= 0 && T > 0 && NH > 0 && C > 0 && C % NH == 0);
    const size_t hs = (size_t)(C / NH), C3 = 3 * (size_t)C, TT = (size_t)T * (size_t)T;
    const float scale = 1.0f / sqrtf((float)hs);
    (void)valid; /* padding is carried by the zeros that the forward left in att */
    for (size_t b = 0; b < (size_t)B; b++) {
        for (size_t h = 0; h < (size_t)NH; h++) {
            const size_t off = b * (size_t)T * C3 + h * hs;
            const float *q = qkv + off, *k = q + C, *v = q + 2 * (size_t)C;
            float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * (size_t)C;
            const float *a = att + (b * (size_t)NH + h) * TT;
            float *dpre = dpreatt + (b * (size_t)NH + h) * TT;
            float *da = datt + (b * (size_t)NH + h) * TT;
            const float *dy = dout + b * (size_t)T * (size_t)C + h * hs;
            /* da (T,T) = dy (T,hs) @ v^T (hs,T): GEMM M=T, N=T, K=hs */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, (int)hs, 1.0f, dy, C, v,
                        (int)C3, 0.0f, da, T);
            /* dv (T,hs) += a^T (T,T) @ dy (T,hs): GEMM M=T, N=hs, K=T; padded query rows of
             * a are 0, so dout at padded positions contributes nothing */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, (int)hs, T, 1.0f, a, T, dy, C,
                        1.0f, dv, (int)C3);
            /* softmax: dpre = a * (da - sum_j a_j da_j); 0 wherever a is 0 */
            for (size_t t = 0; t < (size_t)T; t++) {
                const float *ar = a + t * (size_t)T, *dar = da + t * (size_t)T;
                float *dpr = dpre + t * (size_t)T;
                float dot = 0.0f;
                for (size_t t2 = 0; t2 <= t; t2++)
                    dot += ar[t2] * dar[t2];
                for (size_t t2 = 0; t2 < (size_t)T; t2++)
                    dpr[t2] = t2 <= t ? ar[t2] * (dar[t2] - dot) : 0.0f;
            }
            /* dq (T,hs) += scale * dpre (T,T) @ k (T,hs): GEMM M=T, N=hs, K=T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, (int)hs, T, scale, dpre, T, k,
                        (int)C3, 1.0f, dq, (int)C3);
            /* dk (T,hs) += scale * dpre^T (T,T) @ q (T,hs): GEMM M=T, N=hs, K=T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, (int)hs, T, scale, dpre, T, q,
                        (int)C3, 1.0f, dk, (int)C3);
        }
    }
}

/* ---------------------------------------------------------------- softmax cross-entropy */

void train_softmax_xent_forward(float *losses, float *probs, const float *logits,
                                const int32_t *targets, int N, int V)
{
    CORE_ASSERT(N >= 0 && V > 0);
    for (size_t n = 0; n < (size_t)N; n++) {
        const float *z = logits + n * (size_t)V;
        float *p = probs + n * (size_t)V;
        float maxv = z[0];
        for (int i = 1; i < V; i++)
            if (z[i] > maxv)
                maxv = z[i];
        float sum = 0.0f;
        for (int i = 0; i < V; i++) {
            p[i] = expf(z[i] - maxv);
            sum += p[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < V; i++)
            p[i] *= inv;
        int32_t y = targets[n];
        CORE_ASSERT(y >= -1 && y < V);
        /* log-sum-exp rather than -log(p[y]): exact for tiny probabilities */
        losses[n] = y < 0 ? 0.0f : logf(sum) - (z[y] - maxv);
    }
}

void train_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *targets,
                                 const float *dlosses, int N, int V)
{
    CORE_ASSERT(N >= 0 && V > 0);
    for (size_t n = 0; n < (size_t)N; n++) {
        int32_t y = targets[n];
        CORE_ASSERT(y >= -1 && y < V);
        if (y < 0)
            continue;
        const float *p = probs + n * (size_t)V;
        float *dz = dlogits + n * (size_t)V;
        float dl = dlosses[n];
        for (int i = 0; i < V; i++)
            dz[i] += (p[i] - (i == y ? 1.0f : 0.0f)) * dl;
    }
}

/* ---------------------------------------------------------------- residual */

void train_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void train_residual_backward(float *da, float *db, const float *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

/* ---------------------------------------------------------------- masked mean */

void train_masked_mean_forward(float *out, const float *inp, const uint8_t *mask,
                               const float *count, int B, int T, int C)
{
    CORE_ASSERT(B >= 0 && T >= 0 && C > 0);
    for (size_t b = 0; b < (size_t)B; b++) {
        float *o = out + b * (size_t)C;
        memset(o, 0, (size_t)C * sizeof *o);
        if (count[b] <= 0.0f)
            continue;
        for (size_t t = 0; t < (size_t)T; t++) {
            if (!mask[b * (size_t)T + t])
                continue;
            const float *x = inp + (b * (size_t)T + t) * (size_t)C;
            for (int i = 0; i < C; i++)
                o[i] += x[i];
        }
        float inv = 1.0f / count[b];
        for (int i = 0; i < C; i++)
            o[i] *= inv;
    }
}

void train_masked_mean_backward(float *dinp, const float *dout, const uint8_t *mask,
                                const float *count, int B, int T, int C)
{
    CORE_ASSERT(B >= 0 && T >= 0 && C > 0);
    for (size_t b = 0; b < (size_t)B; b++) {
        if (count[b] <= 0.0f)
            continue;
        float inv = 1.0f / count[b];
        const float *dy = dout + b * (size_t)C;
        for (size_t t = 0; t < (size_t)T; t++) {
            if (!mask[b * (size_t)T + t])
                continue;
            float *dx = dinp + (b * (size_t)T + t) * (size_t)C;
            for (int i = 0; i < C; i++)
                dx[i] += dy[i] * inv;
        }
    }
}

/* ---------------------------------------------------------------- parameter block */

core_status train_params_init(train_params *p, const train_param_spec *specs, size_t n)
{
    core_status st = CORE_OK;
    memset(p, 0, sizeof *p);
    p->views = core_zalloc(n ? n : 1, sizeof *p->views, "parameter views");
    if (!p->views)
        return CORE_ERR_NOMEM;
    p->n_views = n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const train_param_spec *s = &specs[i];
        if (!s->name || !*s->name) {
            st = CORE_ERR(CORE_ERR_SCHEMA, "parameter %zu: empty name", i);
            goto done;
        }
        if (s->rank < 1 || s->rank > TRAIN_MAX_RANK) {
            st = CORE_ERR(CORE_ERR_SCHEMA, "parameter '%s': rank %d is not in 1..%d", s->name,
                          s->rank, TRAIN_MAX_RANK);
            goto done;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[j].name, s->name) == 0) {
                st = CORE_ERR(CORE_ERR_SCHEMA, "parameter '%s' is named twice", s->name);
                goto done;
            }
        size_t count = 1;
        for (int d = 0; d < s->rank; d++)
            if (s->shape[d] == 0 || core_mul_overflows(count, s->shape[d], &count)) {
                st = CORE_ERR(CORE_ERR_NOMEM, "parameter '%s': dimension %d (%zu) %s", s->name, d,
                              s->shape[d], s->shape[d] ? "overflows the size" : "is zero");
                goto done;
            }
        train_param_view *v = &p->views[i];
        v->name = core_strdup(s->name);
        if (!v->name) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        v->rank = s->rank;
        memcpy(v->shape, s->shape, sizeof v->shape);
        v->offset = total;
        v->count = count;
        if (total + count < total) {
            st = CORE_ERR(CORE_ERR_NOMEM, "parameter '%s': the block size overflows", s->name);
            goto done;
        }
        total += count;
    }
    p->data = core_zalloc(total ? total : 1, sizeof *p->data, "parameter block");
    if (!p->data) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    p->count = total;
done:
    if (st != CORE_OK)
        train_params_free(p);
    return st;
}

const train_param_view *train_params_find(const train_params *p, const char *name)
{
    for (size_t i = 0; i < p->n_views; i++)
        if (strcmp(p->views[i].name, name) == 0)
            return &p->views[i];
    return NULL;
}

float *train_params_get(const train_params *p, const char *name)
{
    const train_param_view *v = train_params_find(p, name);
    return v ? p->data + v->offset : NULL;
}

void train_params_free(train_params *p)
{
    if (!p)
        return;
    if (p->views)
        for (size_t i = 0; i < p->n_views; i++)
            free(p->views[i].name);
    free(p->views);
    free(p->data);
    memset(p, 0, sizeof *p);
}
