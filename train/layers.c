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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- vectors */

/* Four floats through GCC/clang vector extensions: the build targets baseline x86-64 at -O2,
 * where GCC vectorises no loop whose trip count is unknown, and these are the hot loops that
 * are not GEMMs. Reductions over four lanes change the summation order against a scalar loop,
 * not its determinism: the order depends on the row length only. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* Loads k <= 4 floats (the others 0) and stores the first k lanes. */
static inline v4f v4_load(const float *p, size_t k)
{
    v4f v = {0};
    if (k >= 4)
        memcpy(&v, p, sizeof v);
    else
        for (size_t l = 0; l < k; l++)
            v[l] = p[l];
    return v;
}

static inline void v4_store(float *p, v4f v, size_t k)
{
    if (k >= 4)
        memcpy(p, &v, sizeof v);
    else
        for (size_t l = 0; l < k; l++)
            p[l] = v[l];
}

static inline v4f v4_select(v4i mask, v4f a, v4f b) /* mask lanes are 0 or -1 */
{
    return (v4f)(((v4i)a & mask) | ((v4i)b & ~mask));
}

static inline float v4_sum(v4f v)
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* exp(x) to about 1 ulp for x in [-87, 88], clamped outside it (so never inf or 0: callers
 * mask what they do not use). reference: Cephes expf, S. L. Moshier. */
static inline v4f v4_exp(v4f x)
{
    const v4f hi = {88.0f, 88.0f, 88.0f, 88.0f}, lo = {-87.0f, -87.0f, -87.0f, -87.0f};
    x = v4_select(x > hi, hi, x);
    x = v4_select(x < lo, lo, x); /* NaN stays NaN */
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (exact here: |x / ln 2| < 2^22) */
    v4f n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    x = x - n * 0.693359375f - n * -2.12194440e-4f;
    v4f y = 1.9875691500e-4f * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * x * x + x + 1.0f;
    v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    return y * (v4f)e;
}

/* ---------------------------------------------------------------- threads */

/* Work is split into items that own disjoint outputs (rows, column chunks, heads), each
 * computed the same way on whichever thread takes it, so results never depend on the thread
 * count. Items are claimed from a shared counter: the threads balance themselves, and if
 * core_parallel_for cannot start a thread the caller drains what is left. */
typedef void (*item_fn)(void *ctx, size_t item);

typedef struct item_job {
    item_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
} item_job;

static void item_range(void *arg, size_t begin, size_t end, int tid)
{
    item_job *j = arg;
    (void)begin, (void)end, (void)tid;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;)
        j->fn(j->ctx, i);
}

/* Runs fn(ctx, i) for i in [0, n) on as many threads as OpenBLAS is set to use (the trainer's
 * `threads`). With `blas` set, fn calls cblas itself: OpenBLAS runs on one thread inside our
 * threads (as persona/matrix.c does) and gets its setting back after. */
static void run_items(size_t n, bool blas, item_fn fn, void *ctx)
{
    item_job j = {fn, ctx, n, 0};
    int nt = openblas_get_num_threads();
    if (nt > 1 && n > 1) {
        if (blas)
            openblas_set_num_threads(1);
        /* on failure the threads that started have finished; the drain below does the rest */
        (void)core_parallel_for((size_t)nt < n ? (size_t)nt : n, nt, item_range, &j);
        if (blas)
            openblas_set_num_threads(nt);
    }
    item_range(&j, 0, 0, 0);
}

/* Items of an elementwise pass over n values: chunks of ELEM_CHUNK, big enough that claiming
 * one costs nothing, small enough that two threads finish together. */
enum { ELEM_CHUNK = 1 << 15, COL_CHUNK = 64, ROW_CHUNK = 32 };

static size_t n_chunks(size_t n, size_t chunk)
{
    return (n + chunk - 1) / chunk;
}

/* Column sums of x (N,C) over rows, for columns [c0, c1) (c1 - c0 <= COL_CHUNK), each added
 * once to out: row by row into a local, so the summation order is rows 0..N-1 whatever the
 * split, and the inner loop runs along memory. */
static void colsum_add(float *out, const float *x, size_t N, size_t C, size_t c0, size_t c1)
{
    v4f acc[COL_CHUNK / 4] = {{0}};
    const size_t w = c1 - c0;
    for (size_t n = 0; n < N; n++) {
        const float *r = x + n * C + c0;
        for (size_t i = 0; i < w; i += 4)
            acc[i / 4] += v4_load(r + i, w - i);
    }
    for (size_t i = 0; i < w; i += 4)
        v4_store(out + c0 + i, v4_load(out + c0 + i, w - i) + acc[i / 4], w - i);
}

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

typedef struct bias_job {
    float *dbias;
    const float *dout;
    size_t N, OC;
} bias_job;

static void bias_item(void *ctx, size_t i)
{
    const bias_job *j = ctx;
    size_t c0 = i * COL_CHUNK, c1 = c0 + COL_CHUNK < j->OC ? c0 + COL_CHUNK : j->OC;
    colsum_add(j->dbias, j->dout, j->N, j->OC, c0, c1);
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
        bias_job j = {dbias, dout, (size_t)N, (size_t)OC};
        run_items(n_chunks((size_t)OC, COL_CHUNK), false, bias_item, &j);
    }
}

/* ---------------------------------------------------------------- layernorm */

typedef struct ln_job {
    float *out, *mean, *rstd, *dinp, *dweight, *dbias;
    const float *inp, *weight, *bias, *dout;
    const float *cmean, *crstd;
    size_t N, C;
} ln_job;

static void ln_forward_item(void *ctx, size_t item)
{
    const ln_job *j = ctx;
    const size_t C = j->C, n1 = (item + 1) * ROW_CHUNK < j->N ? (item + 1) * ROW_CHUNK : j->N;
    for (size_t n = item * ROW_CHUNK; n < n1; n++) {
        const float *x = j->inp + n * C;
        float *y = j->out + n * C;
        float m = 0.0f;
        for (size_t i = 0; i < C; i++)
            m += x[i];
        m /= (float)C;
        float v = 0.0f; /* two passes: no cancellation when |mean| >> std */
        for (size_t i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + TRAIN_LAYERNORM_EPS);
        for (size_t i = 0; i < C; i++)
            y[i] = (x[i] - m) * s * j->weight[i] + j->bias[i];
        j->mean[n] = m;
        j->rstd[n] = s;
    }
}

void train_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int N, int C)
{
    CORE_ASSERT(N >= 0 && C > 0);
    ln_job j = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .weight = weight,
                .bias = bias, .N = (size_t)N, .C = (size_t)C};
    run_items(n_chunks((size_t)N, ROW_CHUNK), false, ln_forward_item, &j);
}

/* dinp rows for the first items, then dweight and dbias column chunks */
static void ln_backward_item(void *ctx, size_t item)
{
    const ln_job *j = ctx;
    const size_t C = j->C, N = j->N, row_items = n_chunks(N, ROW_CHUNK);
    if (item >= row_items) {
        const size_t c0 = (item - row_items) * COL_CHUNK,
                     c1 = c0 + COL_CHUNK < C ? c0 + COL_CHUNK : C, w = c1 - c0;
        float dw[COL_CHUNK] = {0}, db[COL_CHUNK] = {0};
        for (size_t n = 0; n < N; n++) {
            const float *x = j->inp + n * C + c0, *dy = j->dout + n * C + c0;
            const float m = j->cmean[n], s = j->crstd[n];
            for (size_t i = 0; i < w; i++) {
                dw[i] += (x[i] - m) * s * dy[i];
                db[i] += dy[i];
            }
        }
        for (size_t i = 0; i < w; i++) {
            j->dweight[c0 + i] += dw[i];
            j->dbias[c0 + i] += db[i];
        }
        return;
    }
    const float *weight = j->weight;
    const size_t n1 = (item + 1) * ROW_CHUNK < N ? (item + 1) * ROW_CHUNK : N;
    for (size_t n = item * ROW_CHUNK; n < n1; n++) {
        const float *x = j->inp + n * C, *dy = j->dout + n * C;
        float *dx = j->dinp + n * C;
        const float m = j->cmean[n], s = j->crstd[n];
        float g_mean = 0.0f, gx_mean = 0.0f;
        for (size_t i = 0; i < C; i++) {
            float g = weight[i] * dy[i];
            g_mean += g;
            gx_mean += g * (x[i] - m) * s;
        }
        g_mean /= (float)C;
        gx_mean /= (float)C;
        for (size_t i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s;
            dx[i] += s * (weight[i] * dy[i] - g_mean - xhat * gx_mean);
        }
    }
}

void train_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, const float *mean,
                              const float *rstd, int N, int C)
{
    CORE_ASSERT(N >= 0 && C > 0);
    /* dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * weight
     * (reference: llm.c layernorm_backward). The parameter gradients sum over rows in column
     * chunks, each element getting a single addition (see the file comment). */
    ln_job j = {.dinp = dinp, .dweight = dweight, .dbias = dbias, .inp = inp, .weight = weight,
                .dout = dout, .cmean = mean, .crstd = rstd, .N = (size_t)N, .C = (size_t)C};
    run_items(n_chunks((size_t)N, ROW_CHUNK) + n_chunks((size_t)C, COL_CHUNK), false,
              ln_backward_item, &j);
}

/* ---------------------------------------------------------------- gelu */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_CUBE 0.044715f

/* 0.5 x (1 + tanh u) = x sigmoid(2u): one expf instead of tanhf, and no cancellation for
 * negative x. An infinite exp gives sigmoid 0, the same limit as tanh = -1. */
typedef struct gelu_job {
    float *out;
    const float *inp, *dout;
    size_t n;
} gelu_job;

static void gelu_forward_item(void *ctx, size_t item)
{
    const gelu_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i += 4) {
        v4f x = v4_load(j->inp + i, i1 - i);
        v4f u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        v4_store(j->out + i, x / (1.0f + v4_exp(-2.0f * u)), i1 - i);
    }
}

void train_gelu_forward(float *out, const float *inp, size_t n)
{
    gelu_job j = {out, inp, NULL, n};
    run_items(n_chunks(n, ELEM_CHUNK), false, gelu_forward_item, &j);
}

static void gelu_backward_item(void *ctx, size_t item)
{
    const gelu_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i += 4) {
        const size_t k = i1 - i;
        v4f x = v4_load(j->inp + i, k);
        v4f u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        /* with s = sigmoid(2u): 0.5 (1 + tanh u) = s and 1 - tanh^2 u = 4 s (1 - s) */
        v4f s = 1.0f / (1.0f + v4_exp(-2.0f * u));
        v4f grad = s + 2.0f * x * s * (1.0f - s) * GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);
        v4_store(j->out + i, v4_load(j->out + i, k) + grad * v4_load(j->dout + i, k), k);
    }
}

void train_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    gelu_job j = {dinp, inp, dout, n};
    run_items(n_chunks(n, ELEM_CHUNK), false, gelu_backward_item, &j);
}

/* ---------------------------------------------------------------- attention */

/* Lanes i..i+3 that are below n and attended (ok NULL: all): -1, else 0. */
static inline v4i att_lanes(const uint8_t *ok, size_t i, size_t n)
{
    if (i + 4 <= n) {
        uint32_t all;
        if (ok)
            memcpy(&all, ok + i, sizeof all);
        if (!ok || all == 0x01010101u) /* valid flags are 0 or 1 */
            return (v4i){-1, -1, -1, -1};
    }
    v4i m;
    for (int l = 0; l < 4; l++)
        m[l] = i + (size_t)l < n && (!ok || ok[i + (size_t)l]) ? -1 : 0;
    return m;
}

/* Softmax of the scores pr[0, n) over the keys ok marks (NULL: all) into ar; at the other
 * keys pr and ar become 0. n >= 1 and key n - 1 (the query itself) is attended. */
static void softmax_row(float *pr, float *ar, const uint8_t *ok, size_t n)
{
    const v4f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    v4f mx = ninf;
    for (size_t i = 0; i < n; i += 4) {
        v4f x = v4_select(att_lanes(ok, i, n), v4_load(pr + i, n - i), ninf);
        mx = v4_select(x > mx, x, mx);
    }
    float maxv = mx[0];
    for (int l = 1; l < 4; l++)
        maxv = mx[l] > maxv ? mx[l] : maxv;
    v4f vs = {0};
    for (size_t i = 0; i < n; i += 4) {
        v4i m = att_lanes(ok, i, n);
        v4f x = v4_load(pr + i, n - i);
        v4f e = (v4f)((v4i)v4_exp(x - maxv) & m);
        vs += e;
        v4_store(ar + i, e, n - i);
        if (ok)
            v4_store(pr + i, (v4f)((v4i)x & m), n - i);
    }
    /* sum >= 1: the maximum contributes exp(0) */
    const float inv = 1.0f / v4_sum(vs);
    for (size_t i = 0; i < n; i += 4)
        v4_store(ar + i, v4_load(ar + i, n - i) * inv, n - i);
}

/* dpr[0, n) = ar * (dar - sum_j ar_j dar_j): the softmax's backward over one row */
static void softmax_row_backward(float *dpr, const float *ar, const float *dar, size_t n)
{
    v4f vd = {0};
    for (size_t i = 0; i < n; i += 4)
        vd += v4_load(ar + i, n - i) * v4_load(dar + i, n - i);
    const float dot = v4_sum(vd);
    for (size_t i = 0; i < n; i += 4)
        v4_store(dpr + i, v4_load(ar + i, n - i) * (v4_load(dar + i, n - i) - dot), n - i);
}

/* One item per (sequence, head), single-threaded OpenBLAS inside. Causality is used in
 * blocks of ATT_BLOCK queries: block [t0, t1) needs keys [0, t1) only, so the GEMMs skip
 * most of the masked upper triangle, which is then written as zeros. */
enum { ATT_BLOCK = 64 };

typedef struct att_job {
    float *out, *preatt, *att, *dqkv, *dpreatt, *datt;
    const float *qkv, *cdout, *catt;
    const uint8_t *valid;
    size_t T, C, NH, hs;
    float scale;
} att_job;

static void att_forward_item(void *ctx, size_t item)
{
    const att_job *j = ctx;
    const size_t T = j->T, C = j->C, C3 = 3 * C, hs = j->hs, TT = T * T;
    const size_t b = item / j->NH, h = item % j->NH;
    const uint8_t *ok = j->valid ? j->valid + b * T : NULL;
    const float *q = j->qkv + b * T * C3 + h * hs;
    const float *k = q + C, *v = q + 2 * C;
    float *pre = j->preatt + item * TT, *a = j->att + item * TT;
    float *o = j->out + b * T * C + h * hs;
    for (size_t t0 = 0; t0 < T; t0 += ATT_BLOCK) {
        const size_t t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
        /* pre[t0:t1, 0:t1] = scale * q[t0:t1] (m,hs) @ k[0:t1]^T (hs,t1): GEMM M=m, N=t1, K=hs */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)t1, (int)hs,
                    j->scale, q + t0 * C3, (int)C3, k, (int)C3, 0.0f, pre + t0 * T, (int)T);
        for (size_t t = t0; t < t1; t++) {
            float *pr = pre + t * T, *ar = a + t * T;
            if (ok && !ok[t]) {
                memset(pr, 0, T * sizeof *pr);
                memset(ar, 0, T * sizeof *ar);
                continue;
            }
            softmax_row(pr, ar, ok, t + 1);
            memset(pr + t + 1, 0, (T - t - 1) * sizeof *pr);
            memset(ar + t + 1, 0, (T - t - 1) * sizeof *ar);
        }
        /* o[t0:t1] = a[t0:t1, 0:t1] (m,t1) @ v[0:t1] (t1,hs): GEMM M=m, N=hs, K=t1 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(t1 - t0), (int)hs, (int)t1,
                    1.0f, a + t0 * T, (int)T, v, (int)C3, 0.0f, o + t0 * C, (int)C);
    }
    /* a zero att row already gives 0 (or -0); make padded outputs +0 exactly and immune to
     * non-finite values at padded positions */
    if (ok)
        for (size_t t = 0; t < T; t++)
            if (!ok[t])
                memset(o + t * C, 0, hs * sizeof *o);
}

void train_attention_forward(float *out, float *preatt, float *att, const float *qkv,
                             const uint8_t *valid, int B, int T, int C, int NH)
{
    CORE_ASSERT(B >= 0 && T > 0 && NH > 0 && C > 0 && C % NH == 0);
    att_job j = {.out = out, .preatt = preatt, .att = att, .qkv = qkv, .valid = valid,
                 .T = (size_t)T, .C = (size_t)C, .NH = (size_t)NH, .hs = (size_t)(C / NH),
                 .scale = 1.0f / sqrtf((float)(C / NH))};
    run_items((size_t)B * (size_t)NH, true, att_forward_item, &j);
}

static void att_backward_item(void *ctx, size_t item)
{
    const att_job *j = ctx;
    const size_t T = j->T, C = j->C, C3 = 3 * C, hs = j->hs, TT = T * T;
    const size_t b = item / j->NH, h = item % j->NH, off = b * T * C3 + h * hs;
    const float *q = j->qkv + off, *k = q + C, *v = q + 2 * C;
    float *dq = j->dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
    const float *a = j->catt + item * TT;
    float *dpre = j->dpreatt + item * TT, *da = j->datt + item * TT;
    const float *dy = j->cdout + b * T * C + h * hs;
    const float scale = j->scale;
    /* by query blocks: da, dpre and dq (each dq row is written by one block) */
    for (size_t t0 = 0; t0 < T; t0 += ATT_BLOCK) {
        const size_t t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
        /* da[t0:t1, 0:t1] = dy[t0:t1] (m,hs) @ v[0:t1]^T (hs,t1): GEMM M=m, N=t1, K=hs */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)t1, (int)hs,
                    1.0f, dy + t0 * C, (int)C, v, (int)C3, 0.0f, da + t0 * T, (int)T);
        /* softmax: dpre = a * (da - sum_j a_j da_j); 0 wherever a is 0 */
        for (size_t t = t0; t < t1; t++) {
            const float *ar = a + t * T;
            float *dar = da + t * T, *dpr = dpre + t * T;
            softmax_row_backward(dpr, ar, dar, t + 1);
            memset(dpr + t + 1, 0, (T - t - 1) * sizeof *dpr);
            memset(dar + t1, 0, (T - t1) * sizeof *dar); /* not computed: masked anyway */
        }
        /* dq[t0:t1] += scale * dpre[t0:t1, 0:t1] (m,t1) @ k[0:t1] (t1,hs): GEMM M=m, N=hs,
         * K=t1 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(t1 - t0), (int)hs, (int)t1,
                    scale, dpre + t0 * T, (int)T, k, (int)C3, 1.0f, dq + t0 * C3, (int)C3);
    }
    /* by key blocks: keys [s0, s1) are attended by queries [s0, T) only, and each dk, dv row
     * gets one addition. Padded query rows of a are 0, so dout there contributes nothing. */
    for (size_t s0 = 0; s0 < T; s0 += ATT_BLOCK) {
        const size_t s1 = s0 + ATT_BLOCK < T ? s0 + ATT_BLOCK : T;
        const int M = (int)(s1 - s0), K = (int)(T - s0);
        /* dv[s0:s1] += a[s0:T, s0:s1]^T (m,K) @ dy[s0:T] (K,hs): GEMM M=m, N=hs, K=T-s0 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, (int)hs, K, 1.0f,
                    a + s0 * T + s0, (int)T, dy + s0 * C, (int)C, 1.0f, dv + s0 * C3, (int)C3);
        /* dk[s0:s1] += scale * dpre[s0:T, s0:s1]^T (m,K) @ q[s0:T] (K,hs): GEMM M=m, N=hs,
         * K=T-s0 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, (int)hs, K, scale,
                    dpre + s0 * T + s0, (int)T, q + s0 * C3, (int)C3, 1.0f, dk + s0 * C3,
                    (int)C3);
    }
}

void train_attention_backward(float *dqkv, float *dpreatt, float *datt, const float *dout,
                              const float *qkv, const float *att, const uint8_t *valid, int B,
                              int T, int C, int NH)
{
    CORE_ASSERT(B >= 0 && T > 0 && NH > 0 && C > 0 && C % NH == 0);
    (void)valid; /* padding is carried by the zeros that the forward left in att */
    att_job j = {.dqkv = dqkv, .dpreatt = dpreatt, .datt = datt, .qkv = qkv, .cdout = dout,
                 .catt = att, .T = (size_t)T, .C = (size_t)C, .NH = (size_t)NH,
                 .hs = (size_t)(C / NH), .scale = 1.0f / sqrtf((float)(C / NH))};
    run_items((size_t)B * (size_t)NH, true, att_backward_item, &j);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

typedef struct xent_job {
    float *losses, *probs, *dlogits;
    const float *logits, *cprobs, *dlosses;
    const int32_t *targets;
    size_t N, V;
} xent_job;

static void xent_forward_item(void *ctx, size_t item)
{
    const xent_job *j = ctx;
    const size_t V = j->V, n1 = (item + 1) * ROW_CHUNK < j->N ? (item + 1) * ROW_CHUNK : j->N;
    for (size_t n = item * ROW_CHUNK; n < n1; n++) {
        const float *z = j->logits + n * V;
        float *p = j->probs + n * V;
        float maxv = z[0];
        for (size_t i = 1; i < V; i++)
            if (z[i] > maxv)
                maxv = z[i];
        float sum = 0.0f;
        for (size_t i = 0; i < V; i++) {
            p[i] = expf(z[i] - maxv);
            sum += p[i];
        }
        float inv = 1.0f / sum;
        for (size_t i = 0; i < V; i++)
            p[i] *= inv;
        int32_t y = j->targets[n];
        CORE_ASSERT(y >= -1 && (size_t)(y + 1) <= V);
        /* log-sum-exp rather than -log(p[y]): exact for tiny probabilities */
        j->losses[n] = y < 0 ? 0.0f : logf(sum) - (z[y] - maxv);
    }
}

void train_softmax_xent_forward(float *losses, float *probs, const float *logits,
                                const int32_t *targets, int N, int V)
{
    CORE_ASSERT(N >= 0 && V > 0);
    xent_job j = {.losses = losses, .probs = probs, .logits = logits, .targets = targets,
                  .N = (size_t)N, .V = (size_t)V};
    run_items(n_chunks((size_t)N, ROW_CHUNK), false, xent_forward_item, &j);
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

typedef struct res_job {
    float *out, *da, *db;
    const float *a, *b, *dout;
    size_t n;
} res_job;

static void res_forward_item(void *ctx, size_t item)
{
    const res_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i++)
        j->out[i] = j->a[i] + j->b[i];
}

void train_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    res_job j = {.out = out, .a = a, .b = b, .n = n};
    run_items(n_chunks(n, ELEM_CHUNK), false, res_forward_item, &j);
}

static void res_backward_item(void *ctx, size_t item)
{
    const res_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i++) {
        j->da[i] += j->dout[i];
        j->db[i] += j->dout[i];
    }
}

void train_residual_backward(float *da, float *db, const float *dout, size_t n)
{
    res_job j = {.da = da, .db = db, .dout = dout, .n = n};
    run_items(n_chunks(n, ELEM_CHUNK), false, res_backward_item, &j);
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
