/* Tests of optimisation and checkpoints (train/optim.c, train/checkpoint.c): ten AdamW steps
 * against torch.optim.AdamW (scripts/make_adamw_fixture.py), which names decay, the
 * learning-rate schedule, the gradient norm and scaling, the checkpoint round trip with
 * its byte-identical saves and clear failures, and the safetensors export.
 *
 * TROUPE_TEST_KEEP=1 keeps the temporary folder (printed) for inspection, e.g. to open the
 * exported safetensors file with the numpy reader of docs/checkpoints.md. */
#include "train/train.h"
#include "tests/runner.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[256];

static char *tmp_file(const char *name)
{
    char *p = core_sprintf("%s/%s", tmpdir, name);
    CORE_ASSERT(p);
    return p;
}

static size_t dir_entries(const char *path)
{
    DIR *d = opendir(path);
    size_t n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void fill_randn(core_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)core_rng_normal(r);
}

/* A committed fixture (tests/fixtures/optim/). */
static char *fixture_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "optim/%s", name);
    return test_fixture_path(rel);
}

static bool attr_f64(hid_t f, const char *name, double *v)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0)
        return false;
    bool ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    H5Aclose(a);
    return ok;
}

/* Reads `name` as float32 with exactly `n` elements (NULL and a failed check otherwise). */
static float *read_f32(hid_t f, const char *name, size_t n)
{
    int rank;
    hsize_t dims[8];
    void *data = NULL;
    if (core_h5_read(f, name, CORE_H5_F32, &rank, dims, &data) != CORE_OK) {
        printf("    adamw.h5: %s\n", core_error_message());
        test_failed_checks++;
        return NULL;
    }
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)dims[i];
    if (count != n) {
        printf("    adamw.h5: %s has %zu elements, expected %zu\n", name, count, n);
        test_failed_checks++;
        free(data);
        return NULL;
    }
    return data;
}

/* ---------------------------------------------------------------- AdamW */

#define FX_STEPS 10

static void test_adamw_matches_torch_for_ten_steps(void)
{
    static const train_param_spec specs[] = {
        {"h.0.attn.w", 2, {4, 3}}, {"h.0.attn.b", 1, {4}}, {"h.0.ln1.w", 1, {3}}};
    const size_t nt = sizeof specs / sizeof *specs;
    char *path = fixture_path("adamw.h5");
    if (!path) {
        printf("    fixture adamw.h5 not found under tests/fixtures/optim\n");
        CHECK(!"fixture");
        return;
    }
    hid_t f = H5I_INVALID_HID;
    train_params p = {0}, g = {0};
    train_adamw o = {0};
    float *grads[3] = {0}, *after[3] = {0};
    double *lr = NULL;
    train_adamw_cfg cfg;
    int64_t steps = 0;
    CHECK_EQ_INT(core_h5_open(path, &f), CORE_OK);
    CHECK(core_h5_attr_get_i64(f, "steps", &steps) == CORE_OK && steps == FX_STEPS);
    CHECK(attr_f64(f, "beta1", &cfg.beta1) && attr_f64(f, "beta2", &cfg.beta2) &&
          attr_f64(f, "eps", &cfg.eps) && attr_f64(f, "weight_decay", &cfg.weight_decay));
    CHECK(cfg.weight_decay > 0.0);
    CHECK_EQ_INT(train_params_init(&p, specs, nt), CORE_OK);
    CHECK_EQ_INT(train_params_init(&g, specs, nt), CORE_OK);
    CHECK_EQ_INT(train_adamw_init(&o, &p), CORE_OK);
    int rank;
    hsize_t dims[8];
    CHECK_EQ_INT(core_h5_read(f, "lr", CORE_H5_F64, &rank, dims, (void **)&lr), CORE_OK);
    if (test_failed_checks || !lr || dims[0] != FX_STEPS)
        goto done;
    for (size_t t = 0; t < nt; t++) {
        const train_param_view *v = &p.views[t];
        char name[64];
        snprintf(name, sizeof name, "init/%s", v->name);
        float *init = read_f32(f, name, v->count);
        if (!init)
            goto done;
        memcpy(p.data + v->offset, init, v->count * sizeof(float));
        free(init);
        snprintf(name, sizeof name, "grads/%s", v->name);
        grads[t] = read_f32(f, name, FX_STEPS * v->count);
        snprintf(name, sizeof name, "after/%s", v->name);
        after[t] = read_f32(f, name, FX_STEPS * v->count);
        if (!grads[t] || !after[t])
            goto done;
    }
    double max_abs = 0.0, max_rel = 0.0;
    size_t bad = 0;
    for (int s = 0; s < FX_STEPS; s++) {
        for (size_t t = 0; t < nt; t++)
            memcpy(g.data + g.views[t].offset, grads[t] + (size_t)s * g.views[t].count,
                   g.views[t].count * sizeof(float));
        train_adamw_step(&o, &p, &g, lr[s], &cfg);
        for (size_t t = 0; t < nt; t++) {
            const train_param_view *v = &p.views[t];
            for (size_t i = 0; i < v->count; i++) {
                double ours = p.data[v->offset + i];
                double ref = after[t][(size_t)s * v->count + i];
                double d = fabs(ours - ref), rel = d / fmax(fabs(ref), 1e-30);
                max_abs = fmax(max_abs, d);
                max_rel = fmax(max_rel, rel);
                if (!(rel <= 1e-6)) {
                    if (bad++ < 5)
                        printf("    step %d %s[%zu]: ours %.9g, torch %.9g\n", s + 1, v->name, i,
                               ours, ref);
                }
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(o.step, FX_STEPS);
    printf("    adamw vs torch over %d steps: max |diff| %.3g, max relative %.3g\n", FX_STEPS,
           max_abs, max_rel);
done:
    for (size_t t = 0; t < nt; t++) {
        free(grads[t]);
        free(after[t]);
    }
    free(lr);
    train_adamw_free(&o);
    train_params_free(&p);
    train_params_free(&g);
    core_h5_close(f);
    free(path);
}

static void test_adamw_decays_weights_but_not_norms_biases_or_embeddings(void)
{
    CHECK(train_adamw_decays("h.0.attn.w"));
    CHECK(train_adamw_decays("h.11.mlp.fc.w"));
    CHECK(train_adamw_decays("lm_head.w"));
    CHECK(train_adamw_decays("persona_proj.w"));
    CHECK(!train_adamw_decays("h.0.ln1.w"));
    CHECK(!train_adamw_decays("h.0.ln2.b"));
    CHECK(!train_adamw_decays("lnf.w"));
    CHECK(!train_adamw_decays("h.0.attn.b"));
    CHECK(!train_adamw_decays("wte"));
    CHECK(!train_adamw_decays("wte.w"));
    CHECK(!train_adamw_decays("wpe"));
    CHECK(!train_adamw_decays("wpe.w"));
    CHECK(train_adamw_decays("h.0.wte_like.w")); /* only a leading wte/wpe is an embedding */
    CHECK(train_adamw_decays("h.0.bias.w"));     /* ".b" must end the name */
}

static void test_adamw_init_lays_moments_out_like_params_zeroed(void)
{
    static const train_param_spec specs[] = {{"a.w", 2, {2, 3}}, {"a.b", 1, {2}}};
    train_params p = {0};
    train_adamw o = {0};
    CHECK_EQ_INT(train_params_init(&p, specs, 2), CORE_OK);
    CHECK_EQ_INT(train_adamw_init(&o, &p), CORE_OK);
    CHECK_EQ_INT(o.step, 0);
    CHECK_EQ_INT(o.m.count, p.count);
    CHECK_EQ_INT(o.v.n_views, p.n_views);
    CHECK_STR(o.m.views[1].name, "a.b");
    CHECK_EQ_INT(o.v.views[1].offset, p.views[1].offset);
    size_t nonzero = 0;
    for (size_t i = 0; i < p.count; i++)
        nonzero += o.m.data[i] != 0.0f || o.v.data[i] != 0.0f;
    CHECK_EQ_INT(nonzero, 0);
    train_adamw_free(&o);
    train_adamw_free(&o); /* safe twice */
    train_adamw_free(NULL);
    train_params_free(&p);
}

/* ---------------------------------------------------------------- schedule and gradients */

static void test_lr_warms_up_linearly_then_decays_by_cosine_to_min(void)
{
    const double hi = 6e-4, lo = 6e-5;
    CHECK_NEAR(train_lr_at(0, 10, 110, hi, lo), hi / 10, 1e-15);
    CHECK_NEAR(train_lr_at(4, 10, 110, hi, lo), hi * 5 / 10, 1e-15);
    CHECK_NEAR(train_lr_at(9, 10, 110, hi, lo), hi, 1e-15);
    CHECK_NEAR(train_lr_at(10, 10, 110, hi, lo), hi, 1e-15);
    CHECK_NEAR(train_lr_at(60, 10, 110, hi, lo), (hi + lo) / 2, 1e-15);
    CHECK_NEAR(train_lr_at(35, 10, 110, hi, lo), lo + 0.5 * (hi - lo) * (1 + cos(M_PI * 0.25)),
               1e-15);
    CHECK_NEAR(train_lr_at(110, 10, 110, hi, lo), lo, 1e-15);
    CHECK_NEAR(train_lr_at(1000, 10, 110, hi, lo), lo, 1e-15);
    CHECK_NEAR(train_lr_at(109, 10, 110, hi, lo), lo + 0.5 * (hi - lo) * (1 + cos(M_PI * 0.99)),
               1e-15); /* nearly there */
    CHECK(train_lr_at(109, 10, 110, hi, lo) > lo);
    /* no warmup: the first step is already at lr_max */
    CHECK_NEAR(train_lr_at(0, 0, 100, hi, lo), hi, 1e-15);
    /* monotone after warmup */
    for (int64_t s = 10; s < 110; s++)
        CHECK(train_lr_at(s + 1, 10, 110, hi, lo) <= train_lr_at(s, 10, 110, hi, lo));
}

static void test_grad_norm_covers_every_view_and_scale_scales(void)
{
    static const train_param_spec specs[] = {{"a", 1, {3}}, {"b", 2, {2, 2}}};
    train_params g = {0};
    CHECK_EQ_INT(train_params_init(&g, specs, 2), CORE_OK);
    if (!g.data)
        return;
    const float vals[7] = {3, 0, 0, 4, 0, 0, 12}; /* 9 + 16 + 144 = 169 */
    memcpy(g.data, vals, sizeof vals);
    CHECK_NEAR(train_grad_norm(&g), 13.0, 1e-12);
    train_grad_scale(&g, 0.5f);
    CHECK_NEAR(train_grad_norm(&g), 6.5, 1e-12);
    CHECK(g.data[6] == 6.0f && g.data[0] == 1.5f);
    /* double accumulation: a million tiny squares do not vanish against a big one */
    static const train_param_spec big[] = {{"x", 1, {1000001}}};
    train_params h = {0};
    CHECK_EQ_INT(train_params_init(&h, big, 1), CORE_OK);
    if (h.data) {
        h.data[0] = 1e4f;
        for (size_t i = 1; i < h.count; i++)
            h.data[i] = 1.0f;
        CHECK_NEAR(train_grad_norm(&h), sqrt(1e8 + 1e6), 1e-6);
    }
    train_params_free(&h);
    train_params_free(&g);
}

/* ---------------------------------------------------------------- checkpoints */

static const train_param_spec ck_specs[] = {
    {"wte", 2, {7, 4}},     {"h.0.ln1.w", 1, {4}},    {"h.0.attn.w", 2, {3, 4}},
    {"h.0.attn.b", 1, {3}}, {"lm_head.w", 2, {7, 4}},
};
#define CK_N (sizeof ck_specs / sizeof *ck_specs)

/* A model-like state: random params, an optimizer after two steps, and full metadata. */
typedef struct ck_state {
    train_params p;
    train_adamw o;
    train_ckpt_meta meta;
} ck_state;

/* Writable storage: the meta struct holds char * (it owns its strings after a load). */
static char ck_ds0[] = "sha256:aa11 shards/train-0.h5", ck_ds1[] = "sha256:bb22 shards/train-1.h5";
static char ck_man0[] = "0123abcd";
static char ck_config[] = "model: tiny\nlr: 0.001\n", ck_parent[] = "5f1e0d2c",
            ck_recordings[] = "9a9b9c";
static char *ck_datasets[] = {ck_ds0, ck_ds1};
static char *ck_manifests[] = {ck_man0};

static void ck_make(ck_state *s)
{
    memset(s, 0, sizeof *s);
    core_rng r;
    core_rng_init(&r, 11, "test.ckpt");
    CORE_ASSERT(train_params_init(&s->p, ck_specs, CK_N) == CORE_OK);
    CORE_ASSERT(train_adamw_init(&s->o, &s->p) == CORE_OK);
    fill_randn(&r, s->p.data, s->p.count);
    train_params g;
    CORE_ASSERT(train_params_init(&g, ck_specs, CK_N) == CORE_OK);
    const train_adamw_cfg cfg = {0.9, 0.95, 1e-8, 0.1};
    for (int k = 0; k < 2; k++) {
        fill_randn(&r, g.data, g.count);
        train_adamw_step(&s->o, &s->p, &g, 1e-3, &cfg);
    }
    train_params_free(&g);
    s->meta.step = 2;
    core_rng_init(&s->meta.rng, 42, "train.order");
    (void)core_rng_u32(&s->meta.rng); /* mid-block: avail and buf matter */
    s->meta.cursor[0] = 1;
    s->meta.cursor[1] = 17;
    s->meta.cursor[2] = 12345678901ULL;
    s->meta.config_yaml = ck_config;
    s->meta.parent_sha256 = ck_parent;
    s->meta.datasets = ck_datasets;
    s->meta.n_datasets = 2;
    s->meta.manifests = ck_manifests;
    s->meta.n_manifests = 1;
    s->meta.recordings_sha256 = ck_recordings;
    s->meta.best_val_loss = 2.75;
}

static void ck_free(ck_state *s)
{
    train_adamw_free(&s->o);
    train_params_free(&s->p);
}

static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = core_file_read(a, 0, &x, &nx) == CORE_OK &&
                core_file_read(b, 0, &y, &ny) == CORE_OK && nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void test_checkpoint_round_trips_everything(void)
{
    ck_state s;
    ck_make(&s);
    char *path = tmp_file("round.h5");
    CHECK_EQ_INT(train_ckpt_save(path, &s.p, &s.o, &s.meta), CORE_OK);

    train_params p = {0};
    train_adamw o = {0};
    train_ckpt_meta m = {0};
    CHECK_EQ_INT(train_params_init(&p, ck_specs, CK_N), CORE_OK);
    CHECK_EQ_INT(train_adamw_init(&o, &p), CORE_OK);
    core_status st = train_ckpt_load(path, &p, &o, &m);
    CHECK_EQ_INT(st, CORE_OK);
    if (st != CORE_OK) {
        printf("    %s\n", core_error_message());
    } else {
        CHECK(memcmp(p.data, s.p.data, p.count * sizeof(float)) == 0);
        CHECK(memcmp(o.m.data, s.o.m.data, p.count * sizeof(float)) == 0);
        CHECK(memcmp(o.v.data, s.o.v.data, p.count * sizeof(float)) == 0);
        CHECK_EQ_INT(o.step, 2);
        CHECK_EQ_INT(m.step, 2);
        for (int i = 0; i < 4; i++)
            CHECK(m.cursor[i] == s.meta.cursor[i]);
        CHECK(m.best_val_loss == 2.75);
        CHECK_STR(m.config_yaml, s.meta.config_yaml);
        CHECK_STR(m.parent_sha256, "5f1e0d2c");
        CHECK_STR(m.recordings_sha256, "9a9b9c");
        CHECK_EQ_INT(m.n_datasets, 2);
        CHECK_EQ_INT(m.n_manifests, 1);
        if (m.n_datasets == 2 && m.n_manifests == 1) {
            CHECK_STR(m.datasets[1], ck_datasets[1]);
            CHECK_STR(m.manifests[0], ck_manifests[0]);
        }
        /* the restored generator continues the exact stream */
        size_t differ = 0;
        for (int i = 0; i < 9; i++)
            differ += core_rng_u32(&m.rng) != core_rng_u32(&s.meta.rng);
        differ += core_rng_u64(&m.rng) != core_rng_u64(&s.meta.rng);
        differ += core_rng_normal(&m.rng) != core_rng_normal(&s.meta.rng);
        CHECK_EQ_INT(differ, 0);
    }
    train_ckpt_meta_free(&m);
    train_ckpt_meta_free(&m); /* safe twice */
    train_ckpt_meta_free(NULL);

    /* weights only: opt and meta may be NULL */
    memset(p.data, 0, p.count * sizeof(float));
    CHECK_EQ_INT(train_ckpt_load(path, &p, NULL, NULL), CORE_OK);
    CHECK(memcmp(p.data, s.p.data, p.count * sizeof(float)) == 0);

    train_adamw_free(&o);
    train_params_free(&p);
    free(path);
    ck_free(&s);
}

static void test_checkpoint_without_lineage_loads_nulls_and_empty_lists(void)
{
    ck_state s;
    ck_make(&s);
    s.meta.parent_sha256 = NULL;
    s.meta.recordings_sha256 = NULL;
    s.meta.config_yaml = NULL;
    s.meta.datasets = NULL;
    s.meta.n_datasets = 0;
    s.meta.manifests = NULL;
    s.meta.n_manifests = 0;
    char *path = tmp_file("bare.h5");
    CHECK_EQ_INT(train_ckpt_save(path, &s.p, NULL, &s.meta), CORE_OK);
    train_ckpt_meta m = {0};
    CHECK_EQ_INT(train_ckpt_load(path, &s.p, NULL, &m), CORE_OK);
    CHECK(m.parent_sha256 == NULL && m.recordings_sha256 == NULL && m.config_yaml == NULL);
    CHECK_EQ_INT(m.n_datasets, 0);
    CHECK_EQ_INT(m.n_manifests, 0);
    train_ckpt_meta_free(&m);
    /* saved without an optimizer: asking for one fails clearly */
    CHECK_EQ_INT(train_ckpt_load(path, &s.p, &s.o, NULL), CORE_ERR_FORMAT);
    CHECK_CONTAINS(core_error_message(), "optimizer");
    free(path);
    ck_free(&s);
}

static void test_checkpoint_same_inputs_give_identical_bytes(void)
{
    ck_state s;
    ck_make(&s);
    char *a = tmp_file("same-a.h5"), *b = tmp_file("same-b.h5");
    CHECK_EQ_INT(train_ckpt_save(a, &s.p, &s.o, &s.meta), CORE_OK);
    CHECK_EQ_INT(train_ckpt_save(b, &s.p, &s.o, &s.meta), CORE_OK);
    CHECK(same_file(a, b));
    /* and overwriting in place gives the same bytes again */
    CHECK_EQ_INT(train_ckpt_save(a, &s.p, &s.o, &s.meta), CORE_OK);
    CHECK(same_file(a, b));
    s.p.data[3] += 1.0f;
    CHECK_EQ_INT(train_ckpt_save(b, &s.p, &s.o, &s.meta), CORE_OK);
    CHECK(!same_file(a, b));
    free(a);
    free(b);
    ck_free(&s);
}

static void test_checkpoint_load_rejects_mismatches_naming_the_tensor(void)
{
    ck_state s;
    ck_make(&s);
    char *path = tmp_file("shapes.h5");
    CHECK_EQ_INT(train_ckpt_save(path, &s.p, &s.o, &s.meta), CORE_OK);
    train_params p = {0};

    train_param_spec specs[CK_N];
    memcpy(specs, ck_specs, sizeof specs);
    specs[2].shape[0] = 5; /* h.0.attn.w [5, 4] instead of [3, 4] */
    CHECK_EQ_INT(train_params_init(&p, specs, CK_N), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(path, &p, NULL, NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'h.0.attn.w'");
    CHECK_CONTAINS(core_error_message(), "[3, 4]");
    CHECK_CONTAINS(core_error_message(), "[5, 4]");
    CHECK_CONTAINS(core_error_message(), path);
    train_params_free(&p);

    memcpy(specs, ck_specs, sizeof specs);
    specs[1].name = "h.0.ln9.w"; /* not in the checkpoint */
    CHECK_EQ_INT(train_params_init(&p, specs, CK_N), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(path, &p, NULL, NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'h.0.ln9.w'");
    train_params_free(&p);

    /* the checkpoint holds a tensor the model lacks */
    CHECK_EQ_INT(train_params_init(&p, ck_specs, CK_N - 1), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(path, &p, NULL, NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'lm_head.w'");
    train_params_free(&p);

    free(path);
    ck_free(&s);
}

static void test_checkpoint_load_fails_clearly_on_missing_or_foreign_files(void)
{
    ck_state s;
    ck_make(&s);
    train_ckpt_meta m = {0};
    char *missing = tmp_file("no-such.h5");
    CHECK_EQ_INT(train_ckpt_load(missing, &s.p, &s.o, &m), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), missing);

    char *shard = tmp_file("shard.h5");
    core_h5_out out;
    CHECK_EQ_INT(core_h5_create(&out, shard), CORE_OK);
    CHECK_EQ_INT(core_h5_write_header(out.file, "troupe.shard/1", NULL, NULL, 0), CORE_OK);
    CHECK_EQ_INT(core_h5_commit(&out), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(shard, &s.p, &s.o, &m), CORE_ERR_FORMAT);
    CHECK_CONTAINS(core_error_message(), "troupe.checkpoint/1");
    CHECK_CONTAINS(core_error_message(), shard);

    char *text = tmp_file("text.h5");
    CHECK_EQ_INT(core_file_write_atomic(text, "not hdf5\n", 9), CORE_OK);
    CHECK(train_ckpt_load(text, &s.p, &s.o, &m) != CORE_OK);
    CHECK_CONTAINS(core_error_message(), text);
    CHECK(m.config_yaml == NULL && m.datasets == NULL);

    char *st_out = tmp_file("x.safetensors");
    CHECK(train_export_safetensors(shard, st_out) == CORE_ERR_FORMAT);
    CHECK(access(st_out, F_OK) != 0);
    free(st_out);
    free(missing);
    free(shard);
    free(text);
    ck_free(&s);
}

static void test_checkpoint_failed_save_leaves_no_file(void)
{
    ck_state s;
    ck_make(&s);
    size_t before = dir_entries(tmpdir);
    char *path = tmp_file("missing-folder/ckpt.h5");
    CHECK(train_ckpt_save(path, &s.p, &s.o, &s.meta) != CORE_OK);
    CHECK_CONTAINS(core_error_message(), path);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_INT(dir_entries(tmpdir), before);
    free(path);

    /* a failure half-way (a name HDF5 would nest) removes the temporary file too */
    static const train_param_spec bad[] = {{"h.0.w", 1, {2}}, {"h/1.w", 1, {2}}};
    train_params p = {0};
    CHECK_EQ_INT(train_params_init(&p, bad, 2), CORE_OK);
    path = tmp_file("slash.h5");
    CHECK_EQ_INT(train_ckpt_save(path, &p, NULL, &s.meta), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'h/1.w'");
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_INT(dir_entries(tmpdir), before);
    train_params_free(&p);
    free(path);
    ck_free(&s);
}

/* ---------------------------------------------------------------- safetensors */

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void test_safetensors_export_has_a_valid_header_and_the_params(void)
{
    ck_state s;
    ck_make(&s);
    char *ck = tmp_file("export.h5"), *out = tmp_file("export.safetensors");
    CHECK_EQ_INT(train_ckpt_save(ck, &s.p, &s.o, &s.meta), CORE_OK);
    CHECK_EQ_INT(train_export_safetensors(ck, out), CORE_OK);
    char *bytes = NULL;
    size_t n = 0;
    json_t *h = NULL;
    CHECK_EQ_INT(core_file_read(out, 0, &bytes, &n), CORE_OK);
    if (!bytes || n < 8)
        goto done;
    const unsigned char *u = (const unsigned char *)bytes;
    uint64_t hlen = le64(u);
    CHECK(hlen % 8 == 0 && 8 + hlen <= n);
    if (!(8 + hlen <= n))
        goto done;
    CHECK(bytes[8 + hlen - 1] == '}' || bytes[8 + hlen - 1] == ' ');
    json_error_t err;
    h = json_loadb(bytes + 8, (size_t)hlen, 0, &err);
    CHECK(h && json_is_object(h));
    if (!h) {
        printf("    header: %s\n", err.text);
        goto done;
    }
    json_t *md = json_object_get(h, "__metadata__");
    CHECK_STR(json_string_value(json_object_get(md, "format")), "troupe");
    CHECK_STR(json_string_value(json_object_get(md, "step")), "2");
    CHECK_EQ_INT(json_object_size(h), CK_N + 1);
    const unsigned char *data = u + 8 + hlen;
    size_t data_n = n - 8 - (size_t)hlen, covered = 0;
    for (size_t k = 0; k < s.p.n_views; k++) {
        const train_param_view *v = &s.p.views[k];
        json_t *e = json_object_get(h, v->name);
        CHECK(e != NULL);
        if (!e)
            continue;
        CHECK_STR(json_string_value(json_object_get(e, "dtype")), "F32");
        json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
        CHECK_EQ_INT(json_array_size(shape), v->rank);
        for (int d = 0; d < v->rank; d++)
            CHECK_EQ_INT(json_integer_value(json_array_get(shape, (size_t)d)), v->shape[d]);
        json_int_t b = json_integer_value(json_array_get(offs, 0));
        json_int_t end = json_integer_value(json_array_get(offs, 1));
        CHECK_EQ_INT(end - b, v->count * sizeof(float));
        CHECK(b >= 0 && (size_t)end <= data_n);
        if (b >= 0 && (size_t)end <= data_n && end - b == (json_int_t)(v->count * sizeof(float)))
            CHECK(memcmp(data + b, s.p.data + v->offset, v->count * sizeof(float)) == 0);
        covered += (size_t)(end - b);
    }
    CHECK_EQ_INT(covered, data_n); /* no gaps, nothing else */
    /* the same checkpoint exports to the same bytes */
    char *again = tmp_file("again.safetensors");
    CHECK_EQ_INT(train_export_safetensors(ck, again), CORE_OK);
    CHECK(same_file(out, again));
    free(again);
done:
    json_decref(h);
    free(bytes);
    free(ck);
    free(out);
    ck_free(&s);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "optim")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_adamw_matches_torch_for_ten_steps);
    RUN(test_adamw_decays_weights_but_not_norms_biases_or_embeddings);
    RUN(test_adamw_init_lays_moments_out_like_params_zeroed);
    RUN(test_lr_warms_up_linearly_then_decays_by_cosine_to_min);
    RUN(test_grad_norm_covers_every_view_and_scale_scales);
    RUN(test_checkpoint_round_trips_everything);
    RUN(test_checkpoint_without_lineage_loads_nulls_and_empty_lists);
    RUN(test_checkpoint_same_inputs_give_identical_bytes);
    RUN(test_checkpoint_load_rejects_mismatches_naming_the_tensor);
    RUN(test_checkpoint_load_fails_clearly_on_missing_or_foreign_files);
    RUN(test_checkpoint_failed_save_leaves_no_file);
    RUN(test_safetensors_export_has_a_valid_header_and_the_params);
    if (getenv("TROUPE_TEST_KEEP"))
        printf("kept %s\n", tmpdir);
    else
        core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
