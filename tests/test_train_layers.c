/* Tests of the model's layers (train/layers.c): for each forward/backward pair, central
 * finite differences of a float forward (the loss summed in double), backward-twice-doubles
 * (bit for bit, proving += accumulation), and parity with a PyTorch float64 fixture
 * (scripts/make_layer_fixtures.py); attention's padding; the parameter block. */
#include "train/train.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static float *zeros(size_t n)
{
    float *p = core_zalloc(n ? n : 1, sizeof *p, "test buffer");
    CORE_ASSERT(p);
    return p;
}

static float *randn(core_rng *r, size_t n, double scale, double shift)
{
    float *p = zeros(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(shift + scale * core_rng_normal(r));
    return p;
}

static float *copy(const float *x, size_t n)
{
    float *p = zeros(n);
    memcpy(p, x, n * sizeof *p);
    return p;
}

/* sum_i out[i] * w[i] in double: the scalar loss whose gradient the tests check. */
static double dot(const float *out, const float *w, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)w[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compares grad[i] with the central difference of loss() at `samples` random indices of x
 * (restoring x): |fd - grad| <= 1e-3 + 1e-2 |grad|. The step actually taken in float is
 * used as the denominator. */
static void check_fd(const char *what, float *x, size_t n, const float *grad, loss_fn loss,
                     void *ctx, core_rng *r, int samples)
{
    const float eps = 1e-2f;
    for (int s = 0; s < samples; s++) {
        size_t i = (size_t)core_rng_below(r, n);
        float orig = x[i];
        float up = orig + eps, down = orig - eps;
        x[i] = up;
        double lp = loss(ctx);
        x[i] = down;
        double lm = loss(ctx);
        x[i] = orig;
        double fd = (lp - lm) / ((double)up - (double)down);
        if (!(fabs(fd - grad[i]) <= 1e-3 + 1e-2 * fabs(grad[i]))) {
            printf("    %s[%zu]: finite difference %.6g, backward %.6g\n", what, i, fd,
                   (double)grad[i]);
            test_failed_checks++;
        }
    }
}

/* twice[i] == 2 * once[i] exactly for every i, and `once` is not all zero. */
static void check_doubled(const char *what, const float *once, const float *twice, size_t n)
{
    size_t bad = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        bad += twice[i] != 2.0f * once[i];
        nonzero += once[i] != 0.0f;
    }
    if (bad || !nonzero) {
        printf("    %s: %zu of %zu not exactly doubled, %zu nonzero\n", what, bad, n, nonzero);
        test_failed_checks++;
    }
}

/* ---------------------------------------------------------------- fixtures */

/* A committed fixture (tests/fixtures/layers/). */
static char *fixture_path(const char *layer)
{
    char rel[256];
    snprintf(rel, sizeof rel, "layers/%s.h5", layer);
    return test_fixture_path(rel);
}

/* An open fixture file and the buffers read from it (freed together). */
typedef struct fixture {
    hid_t f;
    const char *layer;
    void *bufs[32];
    int nbufs;
    bool ok;
    double max_diff;
} fixture;

static bool fixture_open(fixture *fx, const char *layer)
{
    memset(fx, 0, sizeof *fx);
    fx->f = H5I_INVALID_HID;
    fx->layer = layer;
    char *path = fixture_path(layer);
    if (!path) {
        printf("    fixture %s.h5 not found under tests/fixtures/layers\n", layer);
        return false;
    }
    fx->ok = core_h5_open(path, &fx->f) == CORE_OK;
    if (!fx->ok)
        printf("    %s\n", core_error_message());
    free(path);
    return fx->ok;
}

static void *fixture_keep(fixture *fx, void *p)
{
    CORE_ASSERT(fx->nbufs < (int)(sizeof fx->bufs / sizeof *fx->bufs));
    fx->bufs[fx->nbufs++] = p;
    return p;
}

static int fixture_dim(fixture *fx, const char *attr)
{
    int64_t v = 0;
    if (core_h5_attr_get_i64(fx->f, attr, &v) != CORE_OK || v <= 0 || v > 1 << 20) {
        printf("    %s.h5: bad size attribute %s\n", fx->layer, attr);
        fx->ok = false;
        return 1;
    }
    return (int)v;
}

/* Dataset `name` converted to `t`, checked to hold `n` elements; NULL (and ok = false)
 * otherwise. */
static void *fixture_get(fixture *fx, const char *name, core_h5_type t, size_t n)
{
    int rank;
    hsize_t dims[8];
    void *data = NULL;
    if (core_h5_read(fx->f, name, t, &rank, dims, &data) != CORE_OK) {
        printf("    %s.h5: %s\n", fx->layer, core_error_message());
        fx->ok = false;
        return NULL;
    }
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)dims[i];
    fixture_keep(fx, data);
    if (count != n) {
        printf("    %s.h5: %s has %zu elements, expected %zu\n", fx->layer, name, count, n);
        fx->ok = false;
        return NULL;
    }
    return data;
}

static float *fixture_f32(fixture *fx, const char *name, size_t n)
{
    return fixture_get(fx, name, CORE_H5_F32, n);
}

static float *fixture_zeros(fixture *fx, size_t n)
{
    return fixture_keep(fx, zeros(n));
}

/* ours[i] against the fixture's `name`: |ours - torch| <= 1e-4 max(1, |torch|). */
static void fixture_compare(fixture *fx, const char *name, const float *ours, size_t n)
{
    const float *ref = fixture_f32(fx, name, n);
    if (!ref) {
        test_failed_checks++;
        return;
    }
    size_t bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (!(d <= 1e-4 * fmax(1.0, fabs((double)ref[i]))))
            bad++;
        if (!(d <= worst))
            worst = d;
    }
    if (worst > fx->max_diff || worst != worst)
        fx->max_diff = worst;
    if (bad) {
        printf("    %s.h5: %s: %zu of %zu beyond 1e-4, max |ours - torch| = %.3g\n", fx->layer,
               name, bad, n, worst);
        test_failed_checks++;
    }
}

static void fixture_close(fixture *fx)
{
    if (fx->ok)
        printf("    %-12s max |ours - torch float64| = %.2e\n", fx->layer, fx->max_diff);
    for (int i = 0; i < fx->nbufs; i++)
        free(fx->bufs[i]);
    core_h5_close(fx->f);
}

#define FIXTURE_READY(fx)                                                                          \
    do {                                                                                           \
        if (!(fx)->ok) {                                                                           \
            CHECK((fx)->ok);                                                                       \
            fixture_close(fx);                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------- linear */

typedef struct lin {
    int N, C, OC;
    float *inp, *w, *b, *out, *dout, *dinp, *dw, *db;
} lin;

static void lin_make(lin *L, core_rng *r)
{
    L->N = 4, L->C = 8, L->OC = 6;
    size_t N = 4, C = 8, OC = 6;
    L->inp = randn(r, N * C, 1, 0), L->w = randn(r, OC * C, 0.5, 0), L->b = randn(r, OC, 1, 0);
    L->out = zeros(N * OC), L->dout = randn(r, N * OC, 1, 0);
    L->dinp = zeros(N * C), L->dw = zeros(OC * C), L->db = zeros(OC);
}

static void lin_free(lin *L)
{
    float *ps[] = {L->inp, L->w, L->b, L->out, L->dout, L->dinp, L->dw, L->db};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        free(ps[i]);
}

static double lin_loss(void *ctx)
{
    lin *L = ctx;
    train_linear_forward(L->out, L->inp, L->w, L->b, L->N, L->C, L->OC);
    return dot(L->out, L->dout, (size_t)L->N * L->OC);
}

static void lin_backward(lin *L)
{
    train_linear_backward(L->dinp, L->dw, L->db, L->dout, L->inp, L->w, L->N, L->C, L->OC);
}

static void test_linear_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 1, "test.linear");
    lin L;
    lin_make(&L, &r);
    lin_backward(&L);
    check_fd("dinp", L.inp, 32, L.dinp, lin_loss, &L, &r, 12);
    check_fd("dweight", L.w, 48, L.dw, lin_loss, &L, &r, 12);
    check_fd("dbias", L.b, 6, L.db, lin_loss, &L, &r, 6);
    /* no bias: the same product without the bias added */
    lin_loss(&L);
    float *with = copy(L.out, 24);
    train_linear_forward(L.out, L.inp, L.w, NULL, 4, 8, 6);
    for (int n = 0; n < 4; n++)
        for (int o = 0; o < 6; o++)
            CHECK_NEAR(L.out[n * 6 + o] + L.b[o], with[n * 6 + o], 1e-5);
    free(with);
    lin_free(&L);
}

static void test_linear_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 2, "test.linear");
    lin L;
    lin_make(&L, &r);
    lin_backward(&L);
    float *a = copy(L.dinp, 32), *b = copy(L.dw, 48), *c = copy(L.db, 6);
    lin_backward(&L);
    check_doubled("dinp", a, L.dinp, 32);
    check_doubled("dweight", b, L.dw, 48);
    check_doubled("dbias", c, L.db, 6);
    free(a), free(b), free(c);
    lin_free(&L);
}

static void test_linear_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "linear")) {
        CHECK(!"fixture");
        return;
    }
    int N = fixture_dim(&fx, "N"), C = fixture_dim(&fx, "C"), OC = fixture_dim(&fx, "OC");
    size_t nc = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *inp = fixture_f32(&fx, "inp", nc), *w = fixture_f32(&fx, "weight", nw);
    float *b = fixture_f32(&fx, "bias", (size_t)OC), *dout = fixture_f32(&fx, "dout", no);
    float *out = fixture_zeros(&fx, no), *dinp = fixture_zeros(&fx, nc);
    float *dw = fixture_zeros(&fx, nw), *db = fixture_zeros(&fx, (size_t)OC);
    FIXTURE_READY(&fx);
    train_linear_forward(out, inp, w, b, N, C, OC);
    train_linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    fixture_compare(&fx, "out", out, no);
    fixture_compare(&fx, "dinp", dinp, nc);
    fixture_compare(&fx, "dweight", dw, nw);
    fixture_compare(&fx, "dbias", db, (size_t)OC);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- layernorm */

typedef struct ln {
    int N, C;
    float *inp, *w, *b, *out, *mean, *rstd, *dout, *dinp, *dw, *db;
} ln;

static void ln_make(ln *L, core_rng *r)
{
    L->N = 4, L->C = 8;
    L->inp = randn(r, 32, 1.5, 0.7), L->w = randn(r, 8, 0.3, 1), L->b = randn(r, 8, 0.3, 0);
    L->out = zeros(32), L->mean = zeros(4), L->rstd = zeros(4), L->dout = randn(r, 32, 1, 0);
    L->dinp = zeros(32), L->dw = zeros(8), L->db = zeros(8);
}

static void ln_free(ln *L)
{
    float *ps[] = {L->inp, L->w, L->b, L->out, L->mean, L->rstd, L->dout, L->dinp, L->dw, L->db};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        free(ps[i]);
}

static double ln_loss(void *ctx)
{
    ln *L = ctx;
    train_layernorm_forward(L->out, L->mean, L->rstd, L->inp, L->w, L->b, L->N, L->C);
    return dot(L->out, L->dout, 32);
}

static void ln_backward(ln *L)
{
    ln_loss(L);
    train_layernorm_backward(L->dinp, L->dw, L->db, L->dout, L->inp, L->w, L->mean, L->rstd, L->N,
                             L->C);
}

static void test_layernorm_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 3, "test.layernorm");
    ln L;
    ln_make(&L, &r);
    ln_backward(&L);
    check_fd("dinp", L.inp, 32, L.dinp, ln_loss, &L, &r, 16);
    check_fd("dweight", L.w, 8, L.dw, ln_loss, &L, &r, 8);
    check_fd("dbias", L.b, 8, L.db, ln_loss, &L, &r, 8);
    ln_free(&L);
}

static void test_layernorm_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 4, "test.layernorm");
    ln L;
    ln_make(&L, &r);
    ln_backward(&L);
    float *a = copy(L.dinp, 32), *b = copy(L.dw, 8), *c = copy(L.db, 8);
    ln_backward(&L);
    check_doubled("dinp", a, L.dinp, 32);
    check_doubled("dweight", b, L.dw, 8);
    check_doubled("dbias", c, L.db, 8);
    free(a), free(b), free(c);
    ln_free(&L);
}

static void test_layernorm_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "layernorm")) {
        CHECK(!"fixture");
        return;
    }
    int N = fixture_dim(&fx, "N"), C = fixture_dim(&fx, "C");
    size_t nc = (size_t)N * C;
    float *inp = fixture_f32(&fx, "inp", nc), *w = fixture_f32(&fx, "weight", (size_t)C);
    float *b = fixture_f32(&fx, "bias", (size_t)C), *dout = fixture_f32(&fx, "dout", nc);
    float *out = fixture_zeros(&fx, nc), *mean = fixture_zeros(&fx, (size_t)N);
    float *rstd = fixture_zeros(&fx, (size_t)N), *dinp = fixture_zeros(&fx, nc);
    float *dw = fixture_zeros(&fx, (size_t)C), *db = fixture_zeros(&fx, (size_t)C);
    FIXTURE_READY(&fx);
    train_layernorm_forward(out, mean, rstd, inp, w, b, N, C);
    train_layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    fixture_compare(&fx, "out", out, nc);
    fixture_compare(&fx, "mean", mean, (size_t)N);
    fixture_compare(&fx, "rstd", rstd, (size_t)N);
    fixture_compare(&fx, "dinp", dinp, nc);
    fixture_compare(&fx, "dweight", dw, (size_t)C);
    fixture_compare(&fx, "dbias", db, (size_t)C);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- gelu */

typedef struct gelu {
    float *inp, *out, *dout, *dinp;
} gelu;

enum { GELU_N = 16 };

static double gelu_loss(void *ctx)
{
    gelu *G = ctx;
    train_gelu_forward(G->out, G->inp, GELU_N);
    return dot(G->out, G->dout, GELU_N);
}

static void test_gelu_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 5, "test.gelu");
    gelu G = {randn(&r, GELU_N, 2, 0), zeros(GELU_N), randn(&r, GELU_N, 1, 0), zeros(GELU_N)};
    train_gelu_backward(G.dinp, G.inp, G.dout, GELU_N);
    check_fd("dinp", G.inp, GELU_N, G.dinp, gelu_loss, &G, &r, GELU_N);
    /* GELU(0) = 0 and the tanh form's value at 1: 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) */
    float x[2] = {0.0f, 1.0f}, y[2];
    train_gelu_forward(y, x, 2);
    CHECK(y[0] == 0.0f);
    CHECK_NEAR(y[1], 0.5 * (1.0 + tanh(sqrt(2.0 / M_PI) * 1.044715)), 1e-6);
    free(G.inp), free(G.out), free(G.dout), free(G.dinp);
}

static void test_gelu_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 6, "test.gelu");
    float *inp = randn(&r, GELU_N, 2, 0), *dout = randn(&r, GELU_N, 1, 0), *dinp = zeros(GELU_N);
    train_gelu_backward(dinp, inp, dout, GELU_N);
    float *once = copy(dinp, GELU_N);
    train_gelu_backward(dinp, inp, dout, GELU_N);
    check_doubled("dinp", once, dinp, GELU_N);
    free(inp), free(dout), free(dinp), free(once);
}

static void test_gelu_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "gelu")) {
        CHECK(!"fixture");
        return;
    }
    size_t n = (size_t)fixture_dim(&fx, "n");
    float *inp = fixture_f32(&fx, "inp", n), *dout = fixture_f32(&fx, "dout", n);
    float *out = fixture_zeros(&fx, n), *dinp = fixture_zeros(&fx, n);
    FIXTURE_READY(&fx);
    train_gelu_forward(out, inp, n);
    train_gelu_backward(dinp, inp, dout, n);
    fixture_compare(&fx, "out", out, n);
    fixture_compare(&fx, "dinp", dinp, n);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- attention */

enum {
    AB = 2,
    AT = 5,
    AC = 8,
    ANH = 2,
    AQKV = AB * AT * 3 * AC,
    AOUT = AB * AT * AC,
    AATT = AB * ANH * AT * AT
};

/* Sequence 0 all real; sequence 1 padded at positions 1 and 4. */
static const uint8_t attn_valid[AB * AT] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0};

typedef struct attn {
    const uint8_t *valid;
    float *qkv, *out, *preatt, *att, *dout, *dqkv, *dpreatt, *datt;
} attn;

static void attn_make(attn *A, core_rng *r)
{
    A->valid = attn_valid;
    A->qkv = randn(r, AQKV, 1, 0), A->out = zeros(AOUT), A->preatt = zeros(AATT);
    A->att = zeros(AATT), A->dout = randn(r, AOUT, 1, 0), A->dqkv = zeros(AQKV);
    A->dpreatt = zeros(AATT), A->datt = zeros(AATT);
}

static void attn_free(attn *A)
{
    float *ps[] = {A->qkv, A->out, A->preatt, A->att, A->dout, A->dqkv, A->dpreatt, A->datt};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        free(ps[i]);
}

static double attn_loss(void *ctx)
{
    attn *A = ctx;
    train_attention_forward(A->out, A->preatt, A->att, A->qkv, A->valid, AB, AT, AC, ANH);
    return dot(A->out, A->dout, AOUT);
}

static void attn_backward(attn *A)
{
    attn_loss(A);
    train_attention_backward(A->dqkv, A->dpreatt, A->datt, A->dout, A->qkv, A->att, A->valid, AB,
                             AT, AC, ANH);
}

static void test_attention_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 7, "test.attention");
    attn A;
    attn_make(&A, &r);
    attn_backward(&A);
    check_fd("dqkv", A.qkv, AQKV, A.dqkv, attn_loss, &A, &r, 40);
    A.valid = NULL; /* and without padding */
    memset(A.dqkv, 0, sizeof(float) * AQKV);
    attn_backward(&A);
    check_fd("dqkv (no mask)", A.qkv, AQKV, A.dqkv, attn_loss, &A, &r, 40);
    attn_free(&A);
}

static void test_attention_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 8, "test.attention");
    attn A;
    attn_make(&A, &r);
    attn_backward(&A);
    float *once = copy(A.dqkv, AQKV);
    attn_backward(&A);
    check_doubled("dqkv", once, A.dqkv, AQKV);
    free(once);
    attn_free(&A);
}

static void test_attention_padded_positions_output_zero_and_influence_nothing(void)
{
    core_rng r;
    core_rng_init(&r, 9, "test.attention");
    attn A;
    attn_make(&A, &r);
    attn_loss(&A);
    float *before = copy(A.out, AOUT);
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++) {
            const float *o = A.out + ((size_t)b * AT + t) * AC;
            if (!attn_valid[b * AT + t])
                for (int i = 0; i < AC; i++)
                    CHECK(o[i] == 0.0f && !signbit(o[i]));
            for (int h = 0; h < ANH; h++) /* no weight on padded keys */
                for (int t2 = 0; t2 < AT; t2++)
                    if (!attn_valid[b * AT + t2] || t2 > t)
                        CHECK(A.att[(((size_t)b * ANH + h) * AT + t) * AT + t2] == 0.0f);
        }
    /* new q, k and v at the padded positions: every output stays bit for bit the same */
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++)
            if (!attn_valid[b * AT + t])
                for (int i = 0; i < 3 * AC; i++)
                    A.qkv[((size_t)b * AT + t) * 3 * AC + i] = (float)(50 * core_rng_normal(&r));
    attn_loss(&A);
    CHECK(memcmp(before, A.out, sizeof(float) * AOUT) == 0);
    /* valid = NULL is the same as all positions valid */
    static const uint8_t all[AB * AT] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    train_attention_forward(A.out, A.preatt, A.att, A.qkv, all, AB, AT, AC, ANH);
    memcpy(before, A.out, sizeof(float) * AOUT);
    train_attention_forward(A.out, A.preatt, A.att, A.qkv, NULL, AB, AT, AC, ANH);
    CHECK(memcmp(before, A.out, sizeof(float) * AOUT) == 0);
    free(before);
    attn_free(&A);
}

/* The model passes no preatt, dpreatt or datt: the scores then live in per-thread scratch,
 * reused across heads and blocks. Over several query blocks (T = 150: 64 + 64 + 22), with
 * padding and on the threads the process has, out, att and dqkv are the same bit for bit
 * as when every score matrix is kept. */
static void test_attention_scratch_equals_kept_scores(void)
{
    enum { SB = 3, ST = 150, SC = 16, SNH = 4 };
    const size_t nqkv = (size_t)SB * ST * 3 * SC, nout = (size_t)SB * ST * SC,
                 natt = (size_t)SB * SNH * ST * ST;
    core_rng r;
    core_rng_init(&r, 11, "test.attention.scratch");
    uint8_t valid[SB * ST];
    for (int i = 0; i < SB * ST; i++)
        valid[i] = !(i / ST == 1 && (i % 7 == 3 || i % ST > 140)); /* sequence 1 padded */
    float *qkv = randn(&r, nqkv, 1, 0), *dout = randn(&r, nout, 1, 0);
    float *out[2] = {zeros(nout), zeros(nout)}, *att[2] = {zeros(natt), zeros(natt)};
    float *dqkv[2] = {zeros(nqkv), zeros(nqkv)};
    float *pre = zeros(natt), *dpre = zeros(natt), *datt = zeros(natt);
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *v = pass ? valid : NULL;
        for (int k = 0; k < 2; k++) {
            memset(dqkv[k], 0, nqkv * sizeof(float));
            train_attention_forward(out[k], k ? NULL : pre, att[k], qkv, v, SB, ST, SC, SNH);
            train_attention_backward(dqkv[k], k ? NULL : dpre, k ? NULL : datt, dout, qkv, att[k],
                                     v, SB, ST, SC, SNH);
        }
        CHECK(memcmp(out[0], out[1], nout * sizeof(float)) == 0);
        CHECK(memcmp(att[0], att[1], natt * sizeof(float)) == 0);
        CHECK(memcmp(dqkv[0], dqkv[1], nqkv * sizeof(float)) == 0);
        size_t nonzero = 0;
        for (size_t i = 0; i < nqkv; i++)
            nonzero += dqkv[1][i] != 0.0f;
        CHECK(nonzero > nqkv / 2);
    }
    float *ps[] = {qkv, dout, out[0], out[1], att[0], att[1], dqkv[0], dqkv[1], pre, dpre, datt};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        free(ps[i]);
}

static void test_attention_padded_positions_get_and_give_no_gradient(void)
{
    core_rng r;
    core_rng_init(&r, 10, "test.attention");
    attn A;
    attn_make(&A, &r);
    attn_backward(&A);
    size_t nonzero_valid = 0;
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++)
            for (int i = 0; i < 3 * AC; i++) {
                float g = A.dqkv[((size_t)b * AT + t) * 3 * AC + i];
                if (!attn_valid[b * AT + t])
                    CHECK(g == 0.0f);
                else
                    nonzero_valid += g != 0.0f;
            }
    CHECK(nonzero_valid > 0);
    /* upstream gradients at padded positions change nothing */
    float *before = copy(A.dqkv, AQKV);
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++)
            if (!attn_valid[b * AT + t])
                for (int i = 0; i < AC; i++)
                    A.dout[((size_t)b * AT + t) * AC + i] = (float)(50 * core_rng_normal(&r));
    memset(A.dqkv, 0, sizeof(float) * AQKV);
    attn_backward(&A);
    CHECK(memcmp(before, A.dqkv, sizeof(float) * AQKV) == 0);
    free(before);
    attn_free(&A);
}

static void test_attention_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "attention")) {
        CHECK(!"fixture");
        return;
    }
    int B = fixture_dim(&fx, "B"), T = fixture_dim(&fx, "T"), C = fixture_dim(&fx, "C");
    int NH = fixture_dim(&fx, "NH");
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    float *qkv = fixture_f32(&fx, "qkv", nqkv), *dout = fixture_f32(&fx, "dout", nout);
    const uint8_t *valid = fixture_get(&fx, "valid", CORE_H5_U8, (size_t)B * T);
    float *out = fixture_zeros(&fx, nout), *preatt = fixture_zeros(&fx, natt);
    float *att = fixture_zeros(&fx, natt), *dqkv = fixture_zeros(&fx, nqkv);
    float *dpreatt = fixture_zeros(&fx, natt), *datt = fixture_zeros(&fx, natt);
    FIXTURE_READY(&fx);
    train_attention_forward(out, preatt, att, qkv, valid, B, T, C, NH);
    train_attention_backward(dqkv, dpreatt, datt, dout, qkv, att, valid, B, T, C, NH);
    fixture_compare(&fx, "out", out, nout);
    fixture_compare(&fx, "preatt", preatt, natt);
    fixture_compare(&fx, "att", att, natt);
    fixture_compare(&fx, "dqkv", dqkv, nqkv);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

enum { XN = 4, XV = 8 };
static const int32_t xent_targets[XN] = {2, -1, 7, 0};

typedef struct xent {
    float *logits, *probs, *losses, *dlosses, *dlogits;
} xent;

static void xent_make(xent *X, core_rng *r)
{
    X->logits = randn(r, XN * XV, 2, 0), X->probs = zeros(XN * XV), X->losses = zeros(XN);
    X->dlosses = zeros(XN), X->dlogits = zeros(XN * XV);
    for (int i = 0; i < XN; i++)
        X->dlosses[i] = (float)(0.2 + core_rng_uniform(r));
}

static void xent_free(xent *X)
{
    free(X->logits), free(X->probs), free(X->losses), free(X->dlosses), free(X->dlogits);
}

static double xent_loss(void *ctx)
{
    xent *X = ctx;
    train_softmax_xent_forward(X->losses, X->probs, X->logits, xent_targets, XN, XV);
    return dot(X->losses, X->dlosses, XN);
}

static void xent_backward(xent *X)
{
    xent_loss(X);
    train_softmax_xent_backward(X->dlogits, X->probs, xent_targets, X->dlosses, XN, XV);
}

static void test_softmax_xent_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 11, "test.xent");
    xent X;
    xent_make(&X, &r);
    xent_backward(&X);
    check_fd("dlogits", X.logits, XN * XV, X.dlogits, xent_loss, &X, &r, 24);
    /* the ignored row: no loss, no gradient, but probabilities all the same */
    CHECK(X.losses[1] == 0.0f);
    double psum = 0.0;
    for (int v = 0; v < XV; v++) {
        CHECK(X.dlogits[XV + v] == 0.0f);
        psum += X.probs[XV + v];
    }
    CHECK_NEAR(psum, 1.0, 1e-6);
    xent_free(&X);
}

static void test_softmax_xent_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 12, "test.xent");
    xent X;
    xent_make(&X, &r);
    xent_backward(&X);
    float *once = copy(X.dlogits, XN * XV);
    xent_backward(&X);
    check_doubled("dlogits", once, X.dlogits, XN * XV);
    free(once);
    xent_free(&X);
}

static void test_softmax_xent_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "softmax_xent")) {
        CHECK(!"fixture");
        return;
    }
    int N = fixture_dim(&fx, "N"), V = fixture_dim(&fx, "V");
    size_t nv = (size_t)N * V;
    float *logits = fixture_f32(&fx, "logits", nv);
    const int32_t *targets = fixture_get(&fx, "targets", CORE_H5_I32, (size_t)N);
    float *dlosses = fixture_f32(&fx, "dlosses", (size_t)N);
    float *losses = fixture_zeros(&fx, (size_t)N), *probs = fixture_zeros(&fx, nv);
    float *dlogits = fixture_zeros(&fx, nv);
    FIXTURE_READY(&fx);
    train_softmax_xent_forward(losses, probs, logits, targets, N, V);
    train_softmax_xent_backward(dlogits, probs, targets, dlosses, N, V);
    fixture_compare(&fx, "losses", losses, (size_t)N);
    fixture_compare(&fx, "probs", probs, nv);
    fixture_compare(&fx, "dlogits", dlogits, nv);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- residual */

enum { RN = 16 };

typedef struct resid {
    float *a, *b, *out, *dout;
} resid;

static double resid_loss(void *ctx)
{
    resid *R = ctx;
    train_residual_forward(R->out, R->a, R->b, RN);
    return dot(R->out, R->dout, RN);
}

static void test_residual_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 13, "test.residual");
    resid R = {randn(&r, RN, 1, 0), randn(&r, RN, 1, 0), zeros(RN), randn(&r, RN, 1, 0)};
    float *da = zeros(RN), *db = zeros(RN);
    train_residual_backward(da, db, R.dout, RN);
    check_fd("da", R.a, RN, da, resid_loss, &R, &r, 8);
    check_fd("db", R.b, RN, db, resid_loss, &R, &r, 8);
    free(R.a), free(R.b), free(R.out), free(R.dout), free(da), free(db);
}

static void test_residual_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 14, "test.residual");
    float *dout = randn(&r, RN, 1, 0), *da = zeros(RN), *db = zeros(RN);
    train_residual_backward(da, db, dout, RN);
    float *a1 = copy(da, RN), *b1 = copy(db, RN);
    train_residual_backward(da, db, dout, RN);
    check_doubled("da", a1, da, RN);
    check_doubled("db", b1, db, RN);
    free(dout), free(da), free(db), free(a1), free(b1);
}

static void test_residual_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "residual")) {
        CHECK(!"fixture");
        return;
    }
    size_t n = (size_t)fixture_dim(&fx, "n");
    float *a = fixture_f32(&fx, "a", n), *b = fixture_f32(&fx, "b", n);
    float *dout = fixture_f32(&fx, "dout", n), *out = fixture_zeros(&fx, n);
    float *da = fixture_zeros(&fx, n), *db = fixture_zeros(&fx, n);
    FIXTURE_READY(&fx);
    train_residual_forward(out, a, b, n);
    train_residual_backward(da, db, dout, n);
    fixture_compare(&fx, "out", out, n);
    fixture_compare(&fx, "da", da, n);
    fixture_compare(&fx, "db", db, n);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- masked mean */

enum { MB = 2, MT = 5, MC = 8 };
/* Sequence 0: audio at positions 1-3; sequence 1: no audio at all (the mean is 0). */
static const uint8_t mm_mask[MB * MT] = {0, 1, 1, 1, 0, 0, 0, 0, 0, 0};
static const float mm_count[MB] = {3, 0};

typedef struct mmean {
    float *inp, *out, *dout;
} mmean;

static double mm_loss(void *ctx)
{
    mmean *M = ctx;
    train_masked_mean_forward(M->out, M->inp, mm_mask, mm_count, MB, MT, MC);
    return dot(M->out, M->dout, MB * MC);
}

static void test_masked_mean_gradients_match_finite_differences(void)
{
    core_rng r;
    core_rng_init(&r, 15, "test.masked_mean");
    mmean M = {randn(&r, MB * MT * MC, 1, 0), zeros(MB * MC), randn(&r, MB * MC, 1, 0)};
    float *dinp = zeros(MB * MT * MC);
    train_masked_mean_backward(dinp, M.dout, mm_mask, mm_count, MB, MT, MC);
    check_fd("dinp", M.inp, MB * MT * MC, dinp, mm_loss, &M, &r, 24);
    mm_loss(&M);
    for (int i = 0; i < MC; i++) {
        CHECK_NEAR(M.out[i], (M.inp[MC + i] + M.inp[2 * MC + i] + M.inp[3 * MC + i]) / 3.0, 1e-6);
        CHECK(M.out[MC + i] == 0.0f);
    }
    free(M.inp), free(M.out), free(M.dout), free(dinp);
}

static void test_masked_mean_backward_twice_doubles_gradients(void)
{
    core_rng r;
    core_rng_init(&r, 16, "test.masked_mean");
    float *dout = randn(&r, MB * MC, 1, 0), *dinp = zeros(MB * MT * MC);
    train_masked_mean_backward(dinp, dout, mm_mask, mm_count, MB, MT, MC);
    float *once = copy(dinp, MB * MT * MC);
    train_masked_mean_backward(dinp, dout, mm_mask, mm_count, MB, MT, MC);
    check_doubled("dinp", once, dinp, MB * MT * MC);
    free(dout), free(dinp), free(once);
}

static void test_masked_mean_matches_torch(void)
{
    fixture fx;
    if (!fixture_open(&fx, "masked_mean")) {
        CHECK(!"fixture");
        return;
    }
    int B = fixture_dim(&fx, "B"), T = fixture_dim(&fx, "T"), C = fixture_dim(&fx, "C");
    size_t ni = (size_t)B * T * C, no = (size_t)B * C;
    float *inp = fixture_f32(&fx, "inp", ni), *dout = fixture_f32(&fx, "dout", no);
    const uint8_t *mask = fixture_get(&fx, "mask", CORE_H5_U8, (size_t)B * T);
    float *count = fixture_f32(&fx, "count", (size_t)B);
    float *out = fixture_zeros(&fx, no), *dinp = fixture_zeros(&fx, ni);
    FIXTURE_READY(&fx);
    train_masked_mean_forward(out, inp, mask, count, B, T, C);
    train_masked_mean_backward(dinp, dout, mask, count, B, T, C);
    fixture_compare(&fx, "out", out, no);
    fixture_compare(&fx, "dinp", dinp, ni);
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- parameter block */

static void test_params_lay_out_named_views_back_to_back(void)
{
    const train_param_spec specs[] = {
        {"wte", 2, {16, 8}},
        {"ln_f.weight", 1, {8}},
        {"blocks.qkv.weight", 3, {2, 24, 8}},
    };
    train_params p;
    CHECK_EQ_INT(train_params_init(&p, specs, 3), CORE_OK);
    CHECK_EQ_INT(p.count, 128 + 8 + 384);
    CHECK_EQ_INT(p.n_views, 3);
    const train_param_view *v = train_params_find(&p, "blocks.qkv.weight");
    CHECK(v && v->offset == 136 && v->count == 384 && v->rank == 3 && v->shape[1] == 24);
    CHECK(train_params_get(&p, "ln_f.weight") == p.data + 128);
    CHECK(train_params_get(&p, "wte") == p.data);
    CHECK(train_params_find(&p, "wpe") == NULL && train_params_get(&p, "wpe") == NULL);
    size_t nonzero = 0;
    for (size_t i = 0; i < p.count; i++)
        nonzero += p.data[i] != 0.0f;
    CHECK_EQ_INT(nonzero, 0);
    train_params_free(&p);
    CHECK(p.data == NULL && p.views == NULL);
    train_params_free(&p);
    train_params_free(NULL);
}

static void test_params_reject_bad_specs_naming_the_tensor(void)
{
    train_params p;
    const train_param_spec dup[] = {{"wte", 1, {4}}, {"wpe", 1, {4}}, {"wte", 1, {2}}};
    CHECK_EQ_INT(train_params_init(&p, dup, 3), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'wte' is named twice");
    CHECK(p.data == NULL && p.views == NULL && p.n_views == 0);
    const train_param_spec rank[] = {{"lm_head", 5, {1, 1, 1, 1}}};
    CHECK_EQ_INT(train_params_init(&p, rank, 1), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "lm_head");
    const train_param_spec huge[] = {{"wte", 1, {4}}, {"big", 2, {SIZE_MAX / 2, 4}}};
    CHECK_EQ_INT(train_params_init(&p, huge, 2), CORE_ERR_NOMEM);
    CHECK_CONTAINS(core_error_message(), "'big'");
    const train_param_spec empty[] = {{"bias", 1, {0}}};
    CHECK_EQ_INT(train_params_init(&p, empty, 1), CORE_ERR_NOMEM);
    CHECK_CONTAINS(core_error_message(), "'bias'");
    train_params_free(&p);
}

int main(void)
{
    RUN(test_linear_gradients_match_finite_differences);
    RUN(test_linear_backward_twice_doubles_gradients);
    RUN(test_linear_matches_torch);
    RUN(test_layernorm_gradients_match_finite_differences);
    RUN(test_layernorm_backward_twice_doubles_gradients);
    RUN(test_layernorm_matches_torch);
    RUN(test_gelu_gradients_match_finite_differences);
    RUN(test_gelu_backward_twice_doubles_gradients);
    RUN(test_gelu_matches_torch);
    RUN(test_attention_gradients_match_finite_differences);
    RUN(test_attention_backward_twice_doubles_gradients);
    RUN(test_attention_padded_positions_output_zero_and_influence_nothing);
    RUN(test_attention_padded_positions_get_and_give_no_gradient);
    RUN(test_attention_scratch_equals_kept_scores);
    RUN(test_attention_matches_torch);
    RUN(test_softmax_xent_gradients_match_finite_differences);
    RUN(test_softmax_xent_backward_twice_doubles_gradients);
    RUN(test_softmax_xent_matches_torch);
    RUN(test_residual_gradients_match_finite_differences);
    RUN(test_residual_backward_twice_doubles_gradients);
    RUN(test_residual_matches_torch);
    RUN(test_masked_mean_gradients_match_finite_differences);
    RUN(test_masked_mean_backward_twice_doubles_gradients);
    RUN(test_masked_mean_matches_torch);
    RUN(test_params_lay_out_named_views_back_to_back);
    RUN(test_params_reject_bad_specs_naming_the_tensor);
    return TEST_SUMMARY();
}
