/* Tests of the model (train/model.c): parameter layout and count, whole-model parity with
 * a PyTorch float64 fixture (scripts/make_model_fixture.py), padding invariance, overfitting
 * one batch with plain SGD, seeded initialisation, and config errors. */
#include "train/train.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static train_model_cfg tiny_cfg(void)
{
    return (train_model_cfg){
        .d_model = 32, .n_layers = 2, .n_heads = 2, .max_seq = 64, .stack = 4, .para_weight = 0.5};
}

/* Parameters of a model of width d, L layers: docs/model.md's table. */
static size_t expected_count(size_t d, size_t L, size_t max_seq, size_t S)
{
    size_t n = TRAIN_VOCAB * d + max_seq * d + d * TRAIN_PERSONA_DIM + d + d * S * 80 + d;
    n += L * (12 * d * d + 13 * d);
    n += 2 * d;
    n += 30 * d + 30;
    return n;
}

/* A batch owning its arrays. */
typedef struct owned_batch {
    train_batch b;
} owned_batch;

static void batch_alloc(owned_batch *o, int B, int T, int S)
{
    const size_t n = (size_t)B * (size_t)T;
    o->b = (train_batch){.B = B, .T = T};
    o->b.persona = core_zalloc((size_t)B * TRAIN_PERSONA_DIM, sizeof(float), "test");
    o->b.kind = core_zalloc(n, 1, "test");
    o->b.tokens = core_zalloc(n, sizeof(int32_t), "test");
    o->b.frames = core_zalloc(n * (size_t)S * TRAIN_N_MELS, sizeof(float), "test");
    o->b.targets = core_zalloc(n, sizeof(int32_t), "test");
    o->b.labels = core_zalloc((size_t)B * TRAIN_N_HEADS_PARA, sizeof(int32_t), "test");
    CORE_ASSERT(o->b.persona && o->b.kind && o->b.tokens && o->b.frames && o->b.targets &&
                o->b.labels);
}

static void batch_free(owned_batch *o)
{
    free(o->b.persona);
    free(o->b.kind);
    free(o->b.tokens);
    free(o->b.frames);
    free(o->b.targets);
    free(o->b.labels);
}

/* A random batch of the loader's layout: row b has `hist` history tokens, `aud` audio
 * positions and a `rep`-token reply, then padding. */
static void batch_random(owned_batch *o, core_rng *r, int B, int T, int S)
{
    batch_alloc(o, B, T, S);
    train_batch *b = &o->b;
    const size_t F = (size_t)S * TRAIN_N_MELS;
    for (size_t i = 0; i < (size_t)B * TRAIN_PERSONA_DIM; i++)
        b->persona[i] = (float)core_rng_normal(r);
    for (int bb = 0; bb < B; bb++) {
        uint8_t *kind = b->kind + (size_t)bb * (size_t)T;
        int32_t *tok = b->tokens + (size_t)bb * (size_t)T,
                *tgt = b->targets + (size_t)bb * (size_t)T;
        for (int t = 0; t < T; t++)
            tgt[t] = -1;
        int hist = 2 + bb, aud = 4 + bb, rep = 5 - bb, t = 0;
        CORE_ASSERT(1 + hist + aud + rep + 2 <= T);
        kind[t++] = TRAIN_POS_PERSONA;
        for (int k = 0; k < hist; k++, t++) {
            kind[t] = TRAIN_POS_TOKEN;
            tok[t] = (int32_t)core_rng_below(r, 256);
        }
        for (int k = 0; k < aud; k++, t++) {
            kind[t] = TRAIN_POS_AUDIO;
            float *f = b->frames + ((size_t)bb * (size_t)T + (size_t)t) * F;
            for (size_t j = 0; j < F; j++)
                f[j] = (float)core_rng_normal(r);
        }
        kind[t] = TRAIN_POS_TOKEN;
        tok[t] = 256;
        int32_t prev_t = t++;
        for (int k = 0; k < rep; k++, t++) {
            kind[t] = TRAIN_POS_TOKEN;
            tok[t] = (int32_t)core_rng_below(r, 256);
            tgt[prev_t] = tok[t];
            prev_t = t;
        }
        tgt[prev_t] = 257;
        kind[t] = TRAIN_POS_TOKEN;
        tok[t] = 257;
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
            b->labels[(size_t)bb * TRAIN_N_HEADS_PARA + (size_t)k] =
                (k + bb) % 3 == 2 ? -1
                                  : (int32_t)core_rng_below(r, (uint64_t)train_para_classes[k]);
    }
}

static train_model *model_new(const train_model_cfg *c, int max_B)
{
    train_model *m = NULL;
    core_status st = train_model_create(c, max_B, &m);
    if (st != CORE_OK)
        printf("    %s\n", core_error_message());
    CORE_ASSERT(st == CORE_OK && m);
    return m;
}

/* ---------------------------------------------------------------- layout */

static void test_model_layout_and_count_tiny(void)
{
    train_model_cfg c = tiny_cfg();
    train_model *m = model_new(&c, 2);
    const train_params *p = train_model_params(m);
    CHECK_EQ_INT(p->count, expected_count(32, 2, 64, 4));
    CHECK_EQ_INT(p->n_views, 6 + 12 * 2 + 2 + 2 * TRAIN_N_HEADS_PARA);
    CHECK_EQ_INT(train_model_grads(m)->count, p->count);
    size_t off = 0;
    for (size_t i = 0; i < p->n_views; i++) {
        CHECK_EQ_INT(p->views[i].offset, off);
        off += p->views[i].count;
    }
    CHECK_EQ_INT(off, p->count);
    static const char *const first[] = {"wte",
                                        "wpe",
                                        "persona.w",
                                        "persona.b",
                                        "audio.w",
                                        "audio.b",
                                        "h.0.ln1.w",
                                        "h.0.ln1.b",
                                        "h.0.attn.qkv.w",
                                        "h.0.attn.qkv.b",
                                        "h.0.attn.proj.w",
                                        "h.0.attn.proj.b",
                                        "h.0.ln2.w",
                                        "h.0.ln2.b",
                                        "h.0.mlp.fc.w",
                                        "h.0.mlp.fc.b",
                                        "h.0.mlp.proj.w",
                                        "h.0.mlp.proj.b",
                                        "h.1.ln1.w"};
    for (size_t i = 0; i < sizeof first / sizeof *first; i++)
        CHECK_STR(p->views[i].name, first[i]);
    CHECK_STR(p->views[30].name, "lnf.w");
    CHECK_STR(p->views[32].name, "para.emotion.w");
    CHECK_STR(p->views[p->n_views - 1].name, "para.language.b");
    const train_param_view *v = train_params_find(p, "audio.w");
    CHECK(v && v->rank == 2 && v->shape[0] == 32 && v->shape[1] == 320);
    v = train_params_find(p, "h.1.mlp.proj.w");
    CHECK(v && v->rank == 2 && v->shape[0] == 32 && v->shape[1] == 128);
    v = train_params_find(p, "h.0.attn.qkv.w");
    CHECK(v && v->shape[0] == 96 && v->shape[1] == 32);
    v = train_params_find(p, "para.speed.w");
    CHECK(v && v->shape[0] == 3 && v->shape[1] == 32);
    v = train_params_find(p, "wpe");
    CHECK(v && v->shape[0] == 64 && v->shape[1] == 32);
    CHECK(train_model_config(m)->d_model == 32);
    train_model_free(m);
}

/* The shipped configs load, and small is about 5M parameters. */
static void test_model_configs_small_is_about_5m(void)
{
    train_model_cfg c;
    CHECK_EQ_INT(core_cfg_load(&train_model_schema, NULL, NULL, 0, &c), CORE_OK);
    CHECK_EQ_INT(c.d_model, 256);
    CHECK_EQ_INT(c.n_layers, 6);
    CHECK_EQ_INT(c.n_heads, 8);
    CHECK_EQ_INT(c.max_seq, 512);
    CHECK_EQ_INT(c.stack, 4);
    CHECK_NEAR(c.para_weight, 0.5, 0);
    train_model *m = model_new(&c, 1);
    size_t n = train_model_params(m)->count;
    printf("    small: %zu parameters\n", n);
    CHECK_EQ_INT(n, expected_count(256, 6, 512, 4));
    CHECK(n > 4800000 && n < 5300000);
    train_model_free(m);
    core_cfg_free(&train_model_schema, &c);

    const char *tiny[] = {"d_model=32", "n_layers=2", "n_heads=2", "max_seq=64"};
    CHECK_EQ_INT(core_cfg_load(&train_model_schema, NULL, tiny, 4, &c), CORE_OK);
    m = model_new(&c, 1);
    CHECK_EQ_INT(train_model_params(m)->count, expected_count(32, 2, 64, 4));
    train_model_free(m);
    core_cfg_free(&train_model_schema, &c);
}

static void test_model_rejects_heads_not_dividing_width(void)
{
    train_model_cfg c = tiny_cfg();
    c.n_heads = 3;
    train_model *m = (train_model *)1;
    CHECK_EQ_INT(train_model_create(&c, 2, &m), CORE_ERR_RANGE);
    CHECK(m == NULL);
    CHECK_CONTAINS(core_error_message(), "n_heads");
    c = tiny_cfg();
    CHECK_EQ_INT(train_model_create(&c, 0, &m), CORE_ERR_RANGE);
    CHECK_CONTAINS(core_error_message(), "batch");
    const char *bad[] = {"stack=0"};
    train_model_cfg c2;
    CHECK_EQ_INT(core_cfg_load(&train_model_schema, NULL, bad, 1, &c2), CORE_ERR_RANGE);
    CHECK_CONTAINS(core_error_message(), "stack");
    train_model_free(NULL);
}

/* ---------------------------------------------------------------- PyTorch parity */

/* A committed fixture (tests/fixtures/model/). */
static char *fixture_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "model/%s.h5", name);
    return test_fixture_path(rel);
}

/* Reads dataset `name` as `t` into dst, requiring exactly n elements. */
static bool read_exact(hid_t f, const char *name, core_h5_type t, void *dst, size_t n)
{
    int rank;
    hsize_t dims[8];
    void *data = NULL;
    if (core_h5_read(f, name, t, &rank, dims, &data) != CORE_OK) {
        printf("    tiny.h5: %s\n", core_error_message());
        return false;
    }
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)dims[i];
    bool ok = count == n;
    if (ok)
        memcpy(dst, data, n * core_h5_type_size(t));
    else
        printf("    tiny.h5: %s has %zu elements, expected %zu\n", name, count, n);
    free(data);
    return ok;
}

static double attr_f64(hid_t f, const char *name)
{
    double v = NAN;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0)
            v = NAN;
        H5Aclose(a);
    }
    return v;
}

/* Loads the fixture's params into m and its batch into o (allocated). */
static bool fixture_load(hid_t f, train_model *m, owned_batch *o)
{
    int64_t B = 0, T = 0;
    if (core_h5_attr_get_i64(f, "B", &B) != CORE_OK || core_h5_attr_get_i64(f, "T", &T) != CORE_OK)
        return false;
    const train_params *p = train_model_params(m);
    bool ok = true;
    for (size_t i = 0; i < p->n_views && ok; i++) {
        char name[96];
        snprintf(name, sizeof name, "params/%s", p->views[i].name);
        ok = read_exact(f, name, CORE_H5_F32, p->data + p->views[i].offset, p->views[i].count);
    }
    batch_alloc(o, (int)B, (int)T, 4);
    const size_t n = (size_t)B * (size_t)T;
    ok = ok && read_exact(f, "batch/kind", CORE_H5_U8, o->b.kind, n) &&
         read_exact(f, "batch/tokens", CORE_H5_I32, o->b.tokens, n) &&
         read_exact(f, "batch/targets", CORE_H5_I32, o->b.targets, n) &&
         read_exact(f, "batch/labels", CORE_H5_I32, o->b.labels, (size_t)B * TRAIN_N_HEADS_PARA) &&
         read_exact(f, "batch/frames", CORE_H5_F32, o->b.frames, n * 320) &&
         read_exact(f, "batch/persona", CORE_H5_F32, o->b.persona, (size_t)B * TRAIN_PERSONA_DIM);
    return ok;
}

/* |ours - ref| <= tol max(1, |ref|) for all n; returns the largest |ours - ref|. */
static double compare(const char *what, const float *ours, const float *ref, size_t n, double tol,
                      double *max_rel)
{
    double maxd = 0.0, maxref = 0.0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double dd = fabs((double)ours[i] - (double)ref[i]);
        maxd = dd > maxd ? dd : maxd;
        maxref = fabs((double)ref[i]) > maxref ? fabs((double)ref[i]) : maxref;
        bad += !(dd <= tol * fmax(1.0, fabs((double)ref[i])));
    }
    if (max_rel && maxref > 0 && maxd / maxref > *max_rel)
        *max_rel = maxd / maxref;
    if (bad) {
        printf("    %s: %zu of %zu beyond %g, max |ours - torch| = %.3g\n", what, bad, n, tol,
               maxd);
        test_failed_checks++;
    }
    return maxd;
}

static void test_model_matches_pytorch(void)
{
    char *path = fixture_path("tiny");
    if (!path) {
        printf("    tests/fixtures/model/tiny.h5 not found\n");
        CHECK(!"fixture");
        return;
    }
    hid_t f = H5I_INVALID_HID;
    CHECK_EQ_INT(core_h5_open(path, &f), CORE_OK);
    free(path);
    train_model_cfg c = tiny_cfg();
    train_model *m = model_new(&c, 2);
    owned_batch o = {0};
    bool ok = f >= 0 && fixture_load(f, m, &o);
    CHECK(ok);
    if (ok) {
        train_model_zero_grad(m);
        float loss = train_model_forward(m, &o.b);
        train_model_backward(m, &o.b);
        train_model_stats s = train_model_last(m);
        double ref = attr_f64(f, "loss"), tref = attr_f64(f, "token_loss");
        double pref = attr_f64(f, "para_loss");
        printf("    loss %.7f torch %.7f (token %.7f / %.7f, para %.7f / %.7f)\n", (double)loss,
               ref, (double)s.token_loss, tref, (double)s.para_loss, pref);
        CHECK_NEAR(loss, ref, 1e-5 * fabs(ref));
        CHECK_NEAR(s.loss, loss, 0);
        CHECK_NEAR(s.token_loss, tref, 1e-5 * fabs(tref));
        CHECK_NEAR(s.para_loss, pref, 1e-5 * fabs(pref));
        CHECK_EQ_INT(s.reply_tokens, (1 + 6) + (1 + 3)); /* BOS and reply positions */
        CHECK_EQ_INT(s.para_count[0], 2);
        CHECK_EQ_INT(s.para_count[1], 1);
        CHECK_EQ_INT(s.para_count[6], 0);
        CHECK_EQ_INT(s.para_correct[6], 0);

        const size_t B = (size_t)o.b.B, T = (size_t)o.b.T, V = TRAIN_VOCAB;
        float *ref_logits = core_alloc(B * T * V, sizeof(float), "test");
        float *ours = core_alloc(B * T * V, sizeof(float), "test");
        CORE_ASSERT(ref_logits && ours);
        if (read_exact(f, "logits", CORE_H5_F32, ref_logits, B * T * V)) {
            for (size_t b = 0; b < B; b++)
                for (size_t t = 0; t < T; t++)
                    memcpy(ours + (b * T + t) * V, train_model_logits(m, (int)b, (int)t),
                           V * sizeof(float));
            double dl = compare("logits", ours, ref_logits, B * T * V, 1e-4, NULL);
            printf("    logits: max |ours - torch| = %.3g\n", dl);
        } else {
            CHECK(!"logits");
        }
        free(ref_logits);
        free(ours);

        const train_params *g = train_model_grads(m);
        float *refg = core_alloc(g->count, sizeof(float), "test");
        CORE_ASSERT(refg);
        double maxd = 0.0, max_rel = 0.0;
        const char *worst = "";
        for (size_t i = 0; i < g->n_views; i++) {
            const train_param_view *v = &g->views[i];
            char name[96];
            snprintf(name, sizeof name, "grads/%s", v->name);
            if (!read_exact(f, name, CORE_H5_F32, refg, v->count)) {
                CHECK(!"grads");
                continue;
            }
            double dd = compare(v->name, g->data + v->offset, refg, v->count, 1e-4, &max_rel);
            if (dd > maxd) {
                maxd = dd;
                worst = v->name;
            }
        }
        printf("    gradients: max |ours - torch| = %.3g (%s), max relative to the tensor's "
               "largest = %.3g\n",
               maxd, worst, max_rel);
        CHECK(max_rel < 1e-3);
        free(refg);
    }
    batch_free(&o);
    train_model_free(m);
    core_h5_close(f);
}

/* ---------------------------------------------------------------- padding */

static void test_model_padding_changes_nothing(void)
{
    train_model_cfg c = tiny_cfg();
    train_model *m = model_new(&c, 2);
    train_model_init(m, 7);
    core_rng r;
    core_rng_init(&r, 11, "test.model.pad");
    owned_batch o;
    batch_random(&o, &r, 2, 24, 4);
    train_batch *b = &o.b;
    const train_params *g = train_model_grads(m);
    const size_t n = g->count;
    float *g0 = core_alloc(n, sizeof(float), "test");
    CORE_ASSERT(g0);
    train_model_zero_grad(m);
    float loss0 = train_model_forward(m, b);
    train_model_backward(m, b);
    memcpy(g0, g->data, n * sizeof(float));

    /* garbage (even NaN) in tokens and frames at every padded position */
    size_t pads = 0;
    for (size_t i = 0; i < (size_t)b->B * (size_t)b->T; i++) {
        if (b->kind[i] != TRAIN_POS_PAD)
            continue;
        pads++;
        b->tokens[i] = (int32_t)core_rng_below(&r, 100000) - 50000;
        float *fr = b->frames + i * 320;
        for (size_t j = 0; j < 320; j++)
            fr[j] = j % 7 == 0 ? NAN : (float)(100.0 * core_rng_normal(&r));
    }
    CHECK(pads >= 4);
    train_model_zero_grad(m);
    float loss1 = train_model_forward(m, b);
    train_model_backward(m, b);
    CHECK(loss0 == loss1);
    CHECK(memcmp(g0, g->data, n * sizeof(float)) == 0);

    /* and the padded rows' gradient really is 0 through wpe */
    const train_param_view *v = train_params_find(g, "wpe");
    const float *dwpe = g->data + v->offset;
    size_t nz = 0;
    for (size_t j = 23 * 32; j < 24 * 32; j++)
        nz += dwpe[j] != 0.0f;
    CHECK_EQ_INT(nz, 0);
    free(g0);
    batch_free(&o);
    train_model_free(m);
}

/* ---------------------------------------------------------------- training */

static void test_model_sgd_overfits_one_batch(void)
{
    train_model_cfg c = tiny_cfg();
    train_model *m = model_new(&c, 2);
    train_model_init(m, 3);
    core_rng r;
    core_rng_init(&r, 5, "test.model.sgd");
    owned_batch o;
    batch_random(&o, &r, 2, 20, 4);
    train_params *p = train_model_params(m);
    const train_params *g = train_model_grads(m);
    const float lr = 0.5f;
    float first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        train_model_zero_grad(m);
        float loss = train_model_forward(m, &o.b);
        train_model_backward(m, &o.b);
        if (step == 0)
            first = loss;
        last = loss;
        for (size_t i = 0; i < p->count; i++)
            p->data[i] -= lr * g->data[i];
    }
    train_model_stats s = train_model_last(m);
    printf("    loss %.4f -> %.4f after 60 SGD steps (lr %.2g)\n", (double)first, (double)last,
           (double)lr);
    CHECK(isfinite(last));
    CHECK(last < first / 10);
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        CHECK_EQ_INT(s.para_correct[k], s.para_count[k]);
    batch_free(&o);
    train_model_free(m);
}

/* ---------------------------------------------------------------- initialisation */

static void test_model_init_is_seeded(void)
{
    train_model_cfg c = tiny_cfg();
    train_model *a = model_new(&c, 1), *b = model_new(&c, 2);
    train_model_init(a, 42);
    train_model_init(b, 42);
    const train_params *pa = train_model_params(a), *pb = train_model_params(b);
    CHECK(memcmp(pa->data, pb->data, pa->count * sizeof(float)) == 0);
    train_model_init(b, 43);
    CHECK(memcmp(pa->data, pb->data, pa->count * sizeof(float)) != 0);

    /* the values follow docs/model.md */
    const float *lnw = train_params_get(pa, "h.1.ln2.w"), *lnb = train_params_get(pa, "lnf.b");
    const float *qb = train_params_get(pa, "h.0.attn.qkv.b");
    for (int i = 0; i < 32; i++) {
        CHECK(lnw[i] == 1.0f);
        CHECK(lnb[i] == 0.0f);
    }
    for (int i = 0; i < 96; i++)
        CHECK(qb[i] == 0.0f);
    struct {
        const char *name;
        double std;
    } stds[] = {{"wte", 0.02},
                {"wpe", 0.01},
                {"h.0.mlp.fc.w", 0.02},
                {"h.0.attn.proj.w", 0.01},
                {"h.1.mlp.proj.w", 0.01},
                {"audio.w", 0.02}};
    for (size_t k = 0; k < sizeof stds / sizeof *stds; k++) {
        const train_param_view *v = train_params_find(pa, stds[k].name);
        const float *x = pa->data + v->offset;
        double s2 = 0;
        for (size_t i = 0; i < v->count; i++)
            s2 += (double)x[i] * x[i];
        double sd = sqrt(s2 / (double)v->count);
        if (!(fabs(sd - stds[k].std) < 0.1 * stds[k].std)) {
            printf("    %s: std %.4g, expected %.4g\n", stds[k].name, sd, stds[k].std);
            test_failed_checks++;
        }
    }
    /* different tensors draw from different substreams */
    CHECK(memcmp(train_params_get(pa, "h.0.mlp.fc.w"), train_params_get(pa, "h.1.mlp.fc.w"),
                 16 * sizeof(float)) != 0);
    train_model_free(a);
    train_model_free(b);
}

int main(void)
{
    RUN(test_model_layout_and_count_tiny);
    RUN(test_model_configs_small_is_about_5m);
    RUN(test_model_rejects_heads_not_dividing_width);
    RUN(test_model_matches_pytorch);
    RUN(test_model_padding_changes_nothing);
    RUN(test_model_sgd_overfits_one_batch);
    RUN(test_model_init_is_seeded);
    return TEST_SUMMARY();
}
