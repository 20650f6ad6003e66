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

/* Eight floats through GCC/clang vector extensions: the build targets baseline x86-64 at
 * -O2, where GCC vectorises no loop whose trip count is unknown, and these are the hot loops
 * that are not GEMMs. The functions that run them are compiled twice (SIMD_CLONES): for
 * AVX2, one instruction per eight lanes, and for baseline x86-64, two SSE instructions; which
 * runs is chosen once, by the CPU, at load. Both do the same IEEE operations in the same
 * order (no FMA, and C11 mode contracts nothing), so results do not depend on the CPU.
 * Reductions over eight lanes change the summation order against a scalar loop, not its
 * determinism: the order depends on the row length only.
 *
 * A 32-byte vector passed by value changes the calling convention between AVX and baseline
 * code, so no vector crosses a function boundary: the helpers are macros, and the functions
 * that take pointers are inlined into the clones. */
typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
enum { VW = 8 };

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__)) &&                        \
    !defined(TROUPE_NO_SIMD_CLONES)
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIMD_CLONES
#endif
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* v = the k <= VW floats at p (the other lanes 0); the first k lanes of v to p */
#define VLOAD(v, p, k)                                                                         \
    do {                                                                                       \
        if ((k) >= VW)                                                                         \
            memcpy(&(v), (p), sizeof(vf));                                                     \
        else {                                                                                 \
            (v) = (vf){0};                                                                     \
            for (size_t l_ = 0; l_ < (size_t)(k); l_++)                                        \
                (v)[l_] = (p)[l_];                                                             \
        }                                                                                      \
    } while (0)
#define VSTORE(p, v, k)                                                                        \
    do {                                                                                       \
        if ((k) >= VW)                                                                         \
            memcpy((p), &(v), sizeof(vf));                                                     \
        else                                                                                   \
            for (size_t l_ = 0; l_ < (size_t)(k); l_++)                                        \
                (p)[l_] = (v)[l_];                                                             \
    } while (0)
/* lanes of a where mask (0 or -1 per lane) is set, else of b */
#define VSELECT(mask, a, b) ((vf)(((vi)(a) & (mask)) | ((vi)(b) & ~(mask))))
#define VSUM(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
#define VSPLAT(x) ((vf){0} + (float)(x))

/* y = exp(x) to about 1 ulp for x in [-87, 88], clamped outside it (so never inf or 0: users
 * mask what they do not use). reference: Cephes expf, S. L. Moshier. */
#define VEXP(y, xin)                                                                           \
    do {                                                                                       \
        vf x_ = (xin);                                                                         \
        x_ = VSELECT(x_ > VSPLAT(88.0f), VSPLAT(88.0f), x_);                                   \
        x_ = VSELECT(x_ < VSPLAT(-87.0f), VSPLAT(-87.0f), x_); /* NaN stays NaN */             \
        /* n = round(x / ln 2) by the 1.5 * 2^23 trick (exact here: |x / ln 2| < 2^22) */      \
        vf n_ = (x_ * 1.44269504088896341f + 12582912.0f) - 12582912.0f;                       \
        x_ = x_ - n_ * 0.693359375f - n_ * -2.12194440e-4f;                                    \
        vf p_ = 1.9875691500e-4f * x_ + 1.3981999507e-3f;                                      \
        p_ = p_ * x_ + 8.3334519073e-3f;                                                       \
        p_ = p_ * x_ + 4.1665795894e-2f;                                                       \
        p_ = p_ * x_ + 1.6666665459e-1f;                                                       \
        p_ = p_ * x_ + 5.0000001201e-1f;                                                       \
        p_ = p_ * x_ * x_ + x_ + 1.0f;                                                         \
        vi e_ = (__builtin_convertvector(n_, vi) + 127) << 23;                                 \
        (y) = p_ * (vf)e_;                                                                     \
    } while (0)

/* ---------------------------------------------------------------- threads */

/* Work is split into items that own disjoint outputs (rows, column chunks, heads), each
 * computed the same way on whichever thread takes it, so results never depend on the thread
 * count. Items are claimed from a shared counter: the threads balance themselves, and if
 * core_parallel_for cannot start a thread the caller drains what is left. */
typedef void (*item_fn)(void *ctx, size_t item, int tid);

typedef struct item_job {
    item_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
} item_job;

static void item_range(void *arg, size_t begin, size_t end, int tid)
{
    item_job *j = arg;
    (void)begin, (void)end;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;)
        j->fn(j->ctx, i, tid);
}

/* Runs fn(ctx, i) for i in [0, n) on as many threads as OpenBLAS is set to use (the trainer's
 * `threads`). With `blas` set, fn calls cblas itself: OpenBLAS runs on one thread inside our
 * threads (as persona/matrix.c does) and gets its setting back after. */
/* The threads run_items uses for n items: its items see tids 0 .. that - 1 */
static size_t items_threads(size_t n)
{
    const int nt = openblas_get_num_threads();
    return nt > 1 && n > 1 ? ((size_t)nt < n ? (size_t)nt : n) : 1;
}

static void run_items(size_t n, bool blas, item_fn fn, void *ctx)
{
    item_job j = {fn, ctx, n, 0};
    const size_t threads = items_threads(n);
    if (threads > 1) {
        const int nt = openblas_get_num_threads();
        if (blas)
            openblas_set_num_threads(1);
        /* on failure the threads that started have finished; the drain below does the rest */
        (void)core_parallel_for(threads, nt, item_range, &j);
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
ALWAYS_INLINE void colsum_add(float *out, const float *x, size_t N, size_t C, size_t c0,
                              size_t c1)
{
    vf acc[COL_CHUNK / VW] = {{0}}, v;
    const size_t w = c1 - c0;
    for (size_t n = 0; n < N; n++) {
        const float *r = x + n * C + c0;
        for (size_t i = 0; i < w; i += VW) {
            VLOAD(v, r + i, w - i);
            acc[i / VW] += v;
        }
    }
    for (size_t i = 0; i < w; i += VW) {
        VLOAD(v, out + c0 + i, w - i);
        v += acc[i / VW];
        VSTORE(out + c0 + i, v, w - i);
    }
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

SIMD_CLONES static void bias_item(void *ctx, size_t i, int tid)
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

SIMD_CLONES static void ln_forward_item(void *ctx, size_t item, int tid)
{
    const ln_job *j = ctx;
    const size_t C = j->C, n1 = (item + 1) * ROW_CHUNK < j->N ? (item + 1) * ROW_CHUNK : j->N;
    for (size_t n = item * ROW_CHUNK; n < n1; n++) {
        const float *x = j->inp + n * C;
        float *y = j->out + n * C;
        vf acc = {0}, v, w, b;
        for (size_t i = 0; i < C; i += VW) {
            VLOAD(v, x + i, C - i);
            acc += v;
        }
        const float m = VSUM(acc) / (float)C;
        acc = (vf){0}; /* two passes: no cancellation when |mean| >> std */
        for (size_t i = 0; i < C; i += VW) {
            VLOAD(v, x + i, C - i);
            v = v - m;
            if (C - i < VW) /* the padding lanes hold -m */
                for (size_t l = C - i; l < VW; l++)
                    v[l] = 0.0f;
            acc += v * v;
        }
        const float s = 1.0f / sqrtf(VSUM(acc) / (float)C + TRAIN_LAYERNORM_EPS);
        for (size_t i = 0; i < C; i += VW) {
            VLOAD(v, x + i, C - i);
            VLOAD(w, j->weight + i, C - i);
            VLOAD(b, j->bias + i, C - i);
            v = (v - m) * s * w + b;
            VSTORE(y + i, v, C - i);
        }
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
SIMD_CLONES static void ln_backward_item(void *ctx, size_t item, int tid)
{
    const ln_job *j = ctx;
    const size_t C = j->C, N = j->N, row_items = n_chunks(N, ROW_CHUNK);
    vf x, dy, w, dx;
    if (item >= row_items) {
        const size_t c0 = (item - row_items) * COL_CHUNK,
                     c1 = c0 + COL_CHUNK < C ? c0 + COL_CHUNK : C, wd = c1 - c0;
        vf dw[COL_CHUNK / VW] = {{0}}, db[COL_CHUNK / VW] = {{0}};
        for (size_t n = 0; n < N; n++) {
            const float *xr = j->inp + n * C + c0, *dyr = j->dout + n * C + c0;
            const float m = j->cmean[n], s = j->crstd[n];
            for (size_t i = 0; i < wd; i += VW) {
                VLOAD(x, xr + i, wd - i);
                VLOAD(dy, dyr + i, wd - i);
                dw[i / VW] += (x - m) * s * dy;
                db[i / VW] += dy;
            }
        }
        for (size_t i = 0; i < wd; i += VW) {
            VLOAD(w, j->dweight + c0 + i, wd - i);
            w += dw[i / VW];
            VSTORE(j->dweight + c0 + i, w, wd - i);
            VLOAD(w, j->dbias + c0 + i, wd - i);
            w += db[i / VW];
            VSTORE(j->dbias + c0 + i, w, wd - i);
        }
        return;
    }
    const float *weight = j->weight;
    const size_t n1 = (item + 1) * ROW_CHUNK < N ? (item + 1) * ROW_CHUNK : N;
    for (size_t n = item * ROW_CHUNK; n < n1; n++) {
        const float *xr = j->inp + n * C, *dyr = j->dout + n * C;
        float *dxr = j->dinp + n * C;
        const float m = j->cmean[n], s = j->crstd[n];
        vf gm = {0}, gxm = {0};
        for (size_t i = 0; i < C; i += VW) { /* padding lanes: weight and dy 0, so g 0 */
            VLOAD(w, weight + i, C - i);
            VLOAD(dy, dyr + i, C - i);
            VLOAD(x, xr + i, C - i);
            vf g = w * dy;
            gm += g;
            gxm += g * (x - m) * s;
        }
        const float g_mean = VSUM(gm) / (float)C, gx_mean = VSUM(gxm) / (float)C;
        for (size_t i = 0; i < C; i += VW) {
            VLOAD(w, weight + i, C - i);
            VLOAD(dy, dyr + i, C - i);
            VLOAD(x, xr + i, C - i);
            VLOAD(dx, dxr + i, C - i);
            vf xhat = (x - m) * s;
            dx += s * (w * dy - g_mean - xhat * gx_mean);
            VSTORE(dxr + i, dx, C - i);
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

SIMD_CLONES static void gelu_forward_item(void *ctx, size_t item, int tid)
{
    const gelu_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i += VW) {
        vf x, e;
        VLOAD(x, j->inp + i, i1 - i);
        vf u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        VEXP(e, -2.0f * u);
        vf y = x / (1.0f + e);
        VSTORE(j->out + i, y, i1 - i);
    }
}

void train_gelu_forward(float *out, const float *inp, size_t n)
{
    gelu_job j = {out, inp, NULL, n};
    run_items(n_chunks(n, ELEM_CHUNK), false, gelu_forward_item, &j);
}

SIMD_CLONES static void gelu_backward_item(void *ctx, size_t item, int tid)
{
    const gelu_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    for (size_t i = i0; i < i1; i += VW) {
        const size_t k = i1 - i;
        vf x, e, dx, dy;
        VLOAD(x, j->inp + i, k);
        vf u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        /* with s = sigmoid(2u): 0.5 (1 + tanh u) = s and 1 - tanh^2 u = 4 s (1 - s) */
        VEXP(e, -2.0f * u);
        vf s = 1.0f / (1.0f + e);
        vf grad = s + 2.0f * x * s * (1.0f - s) * GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);
        VLOAD(dx, j->out + i, k);
        VLOAD(dy, j->dout + i, k);
        dx += grad * dy;
        VSTORE(j->out + i, dx, k);
    }
}

void train_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    gelu_job j = {dinp, inp, dout, n};
    run_items(n_chunks(n, ELEM_CHUNK), false, gelu_backward_item, &j);
}

/* ---------------------------------------------------------------- attention */

/* Whether the VW flags at ok are all 1 (valid flags are 0 or 1). */
ALWAYS_INLINE bool all_valid(const uint8_t *ok)
{
    uint64_t all;
    memcpy(&all, ok, sizeof all);
    return all == 0x0101010101010101u;
}

/* m = the lanes i..i+VW-1 that are below n and attended (ok NULL: all): -1, else 0 */
#define ATT_LANES(m, ok, i, n)                                                                 \
    do {                                                                                       \
        if ((i) + VW <= (n) && (!(ok) || all_valid((ok) + (i))))                               \
            (m) = (vi){0} - 1;                                                                 \
        else                                                                                   \
            for (size_t l_ = 0; l_ < VW; l_++)                                                 \
                (m)[l_] = (i) + l_ < (n) && (!(ok) || (ok)[(i) + l_]) ? -1 : 0;                \
    } while (0)

/* Softmax of the scores pr[0, n) over the keys ok marks (NULL: all) into ar; at the other
 * keys pr and ar become 0. n >= 1 and key n - 1 (the query itself) is attended. */
ALWAYS_INLINE void softmax_row(float *pr, float *ar, const uint8_t *ok, size_t n)
{
    const vf ninf = VSPLAT(-INFINITY);
    vf mx = ninf, x, e;
    vi m;
    for (size_t i = 0; i < n; i += VW) {
        ATT_LANES(m, ok, i, n);
        VLOAD(x, pr + i, n - i);
        x = VSELECT(m, x, ninf);
        mx = VSELECT(x > mx, x, mx);
    }
    float maxv = mx[0];
    for (int l = 1; l < VW; l++)
        maxv = mx[l] > maxv ? mx[l] : maxv;
    vf vs = {0};
    for (size_t i = 0; i < n; i += VW) {
        ATT_LANES(m, ok, i, n);
        VLOAD(x, pr + i, n - i);
        VEXP(e, x - maxv);
        e = (vf)((vi)e & m);
        vs += e;
        VSTORE(ar + i, e, n - i);
        if (ok) {
            x = (vf)((vi)x & m);
            VSTORE(pr + i, x, n - i);
        }
    }
    /* sum >= 1: the maximum contributes exp(0) */
    const float inv = 1.0f / VSUM(vs);
    for (size_t i = 0; i < n; i += VW) {
        VLOAD(x, ar + i, n - i);
        x *= inv;
        VSTORE(ar + i, x, n - i);
    }
}

/* dpr[0, n) = ar * (dar - sum_j ar_j dar_j): the softmax's backward over one row */
ALWAYS_INLINE void softmax_row_backward(float *dpr, const float *ar, const float *dar, size_t n)
{
    vf vd = {0}, a, d;
    for (size_t i = 0; i < n; i += VW) {
        VLOAD(a, ar + i, n - i);
        VLOAD(d, dar + i, n - i);
        vd += a * d;
    }
    const float dot = VSUM(vd);
    for (size_t i = 0; i < n; i += VW) {
        VLOAD(a, ar + i, n - i);
        VLOAD(d, dar + i, n - i);
        a *= d - dot;
        VSTORE(dpr + i, a, n - i);
    }
}

/* One item per (sequence, head), single-threaded OpenBLAS inside. Causality is used in
 * blocks of ATT_BLOCK queries: block [t0, t1) needs keys [0, t1) only, so the GEMMs skip
 * most of the masked upper triangle, which is then written as zeros.
 *
 * The scores and the backward's dL/dscores and dL/datt are scratch unless the caller asks
 * for them (the layer tests compare them with PyTorch): then each thread reuses one buffer of
 * its own, ATT_BLOCK x T rows of scores in the forward and T x T plus ATT_BLOCK x T in the
 * backward, which stay in its cache instead of streaming B NH T^2 floats through memory. */
enum { ATT_BLOCK = 64 };

typedef struct att_job {
    float *out, *preatt, *att, *dqkv, *dpreatt, *datt;
    const float *qkv, *cdout, *catt;
    const uint8_t *valid;
    size_t T, C, NH, hs;
    float scale;
    float *scratch; /* per thread, scratch_n floats each, when preatt or dpreatt is NULL */
    size_t scratch_n;
} att_job;

/* Scratch of `per` floats for each thread run_items will use on n items. A few MB at most
 * (T = 512: 1.1 MB a thread), allocated per call: after the first, glibc serves it from the
 * heap without new page faults (measured: about 9 minor faults a call). The layers have no
 * error path, and failing to get it is running out of memory in the middle of a step, so it
 * is fatal. */
static float *thread_scratch(size_t n, size_t per)
{
    float *p = core_alloc(items_threads(n) * per, sizeof(float), "attention scratch");
    CORE_ASSERT(p != NULL);
    return p;
}

SIMD_CLONES static void att_forward_item(void *ctx, size_t item, int tid)
{
    const att_job *j = ctx;
    const size_t T = j->T, C = j->C, C3 = 3 * C, hs = j->hs, TT = T * T;
    const size_t b = item / j->NH, h = item % j->NH;
    const uint8_t *ok = j->valid ? j->valid + b * T : NULL;
    const float *q = j->qkv + b * T * C3 + h * hs;
    const float *k = q + C, *v = q + 2 * C;
    float *a = j->att + item * TT;
    float *o = j->out + b * T * C + h * hs;
    float *scratch = j->preatt ? NULL : j->scratch + (size_t)tid * j->scratch_n;
    for (size_t t0 = 0; t0 < T; t0 += ATT_BLOCK) {
        const size_t t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
        /* rows t0..t1 of the scores: kept (preatt) or in the thread's scratch */
        float *pre = scratch ? scratch : j->preatt + item * TT + t0 * T;
        /* pre[0:m, 0:t1] = scale * q[t0:t1] (m,hs) @ k[0:t1]^T (hs,t1): GEMM M=m, N=t1, K=hs */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)t1, (int)hs,
                    j->scale, q + t0 * C3, (int)C3, k, (int)C3, 0.0f, pre, (int)T);
        for (size_t t = t0; t < t1; t++) {
            float *pr = pre + (t - t0) * T, *ar = a + t * T;
            if (ok && !ok[t]) {
                if (!scratch)
                    memset(pr, 0, T * sizeof *pr);
                memset(ar, 0, T * sizeof *ar);
                continue;
            }
            softmax_row(pr, ar, ok, t + 1);
            if (!scratch)
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
    const size_t n = (size_t)B * (size_t)NH;
    if (!preatt) {
        j.scratch_n = (size_t)ATT_BLOCK * (size_t)T;
        j.scratch = thread_scratch(n, j.scratch_n);
    }
    run_items(n, true, att_forward_item, &j);
    free(j.scratch);
}

SIMD_CLONES static void att_backward_item(void *ctx, size_t item, int tid)
{
    const att_job *j = ctx;
    const size_t T = j->T, C = j->C, C3 = 3 * C, hs = j->hs, TT = T * T;
    const size_t b = item / j->NH, h = item % j->NH, off = b * T * C3 + h * hs;
    const float *q = j->qkv + off, *k = q + C, *v = q + 2 * C;
    float *dq = j->dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
    const float *a = j->catt + item * TT;
    float *scratch = j->dpreatt ? NULL : j->scratch + (size_t)tid * j->scratch_n;
    /* dpre (T,T) is read whole by the key blocks below; da only block by block */
    float *dpre = scratch ? scratch : j->dpreatt + item * TT;
    const float *dy = j->cdout + b * T * C + h * hs;
    const float scale = j->scale;
    /* by query blocks: da, dpre and dq (each dq row is written by one block) */
    for (size_t t0 = 0; t0 < T; t0 += ATT_BLOCK) {
        const size_t t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T;
        float *da = scratch ? scratch + TT : j->datt + item * TT + t0 * T;
        /* da[0:m, 0:t1] = dy[t0:t1] (m,hs) @ v[0:t1]^T (hs,t1): GEMM M=m, N=t1, K=hs */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)t1, (int)hs,
                    1.0f, dy + t0 * C, (int)C, v, (int)C3, 0.0f, da, (int)T);
        /* softmax: dpre = a * (da - sum_j a_j da_j); 0 wherever a is 0 */
        for (size_t t = t0; t < t1; t++) {
            const float *ar = a + t * T;
            float *dar = da + (t - t0) * T, *dpr = dpre + t * T;
            softmax_row_backward(dpr, ar, dar, t + 1);
            /* the GEMMs read dpre up to the block's end: zeros there (the rest of the row
             * too when it is kept) */
            memset(dpr + t + 1, 0, ((scratch ? t1 : T) - t - 1) * sizeof *dpr);
            if (!scratch)
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
    CORE_ASSERT((dpreatt == NULL) == (datt == NULL));
    (void)valid; /* padding is carried by the zeros that the forward left in att */
    att_job j = {.dqkv = dqkv, .dpreatt = dpreatt, .datt = datt, .qkv = qkv, .cdout = dout,
                 .catt = att, .T = (size_t)T, .C = (size_t)C, .NH = (size_t)NH,
                 .hs = (size_t)(C / NH), .scale = 1.0f / sqrtf((float)(C / NH))};
    const size_t n = (size_t)B * (size_t)NH;
    if (!dpreatt) {
        j.scratch_n = (size_t)T * (size_t)T + (size_t)ATT_BLOCK * (size_t)T;
        j.scratch = thread_scratch(n, j.scratch_n);
    }
    run_items(n, true, att_backward_item, &j);
    free(j.scratch);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

typedef struct xent_job {
    float *losses, *probs, *dlogits;
    const float *logits, *cprobs, *dlosses;
    const int32_t *targets;
    size_t N, V;
} xent_job;

static void xent_forward_item(void *ctx, size_t item, int tid)
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

/* out[0, n) = x + y (out may be x) */
ALWAYS_INLINE void vec_add(float *out, const float *x, const float *y, size_t n)
{
    vf a, b;
    for (size_t i = 0; i < n; i += VW) {
        VLOAD(a, x + i, n - i);
        VLOAD(b, y + i, n - i);
        a += b;
        VSTORE(out + i, a, n - i);
    }
}

SIMD_CLONES static void res_forward_item(void *ctx, size_t item, int tid)
{
    const res_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    vec_add(j->out + i0, j->a + i0, j->b + i0, i1 - i0);
}

void train_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    res_job j = {.out = out, .a = a, .b = b, .n = n};
    run_items(n_chunks(n, ELEM_CHUNK), false, res_forward_item, &j);
}

SIMD_CLONES static void res_backward_item(void *ctx, size_t item, int tid)
{
    const res_job *j = ctx;
    const size_t i0 = item * ELEM_CHUNK, i1 = i0 + ELEM_CHUNK < j->n ? i0 + ELEM_CHUNK : j->n;
    vec_add(j->da + i0, j->da + i0, j->dout + i0, i1 - i0);
    vec_add(j->db + i0, j->db + i0, j->dout + i0, i1 - i0);
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
