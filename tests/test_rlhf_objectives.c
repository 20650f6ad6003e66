/* Tests of the RLHF objectives (rlhf/objectives.c): DPO is ln 2 when the policy is the
 * reference, every loss and gradient equals PyTorch's on a committed fixture
 * (scripts/make_rlhf_fixture.py) and central finite differences, and through the tiny
 * model the DPO, reward and GRPO gradients that train_model_backward_ext produces equal
 * finite differences of the objective. */
#include "rlhf/rlhf.h"
#include "tests/runner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *read_vec(hid_t f, const char *name, size_t *n)
{
    int rank;
    hsize_t dims[8];
    double *v = NULL;
    if (core_h5_read(f, name, CORE_H5_F64, &rank, dims, (void **)&v) != CORE_OK) {
        printf("    %s\n", core_error_message());
        return NULL;
    }
    *n = (size_t)dims[0];
    return v;
}

static double scalar(hid_t f, const char *name)
{
    size_t n;
    double *v = read_vec(f, name, &n), x = v && n ? v[0] : NAN;
    free(v);
    return x;
}

static void test_dpo_is_ln2_when_policy_equals_reference(void)
{
    for (int i = 0; i < 5; i++) {
        double pc = -10.0 * i - 3, pr = -7.0 * i - 9;
        CHECK_NEAR(rlhf_dpo(RLHF_DPO_SIGMOID, 0.1, 0.0, pc, pr, pc, pr, NULL, NULL), log(2.0),
                   1e-15);
        /* label smoothing does not move the midpoint either */
        CHECK_NEAR(rlhf_dpo(RLHF_DPO_SIGMOID, 0.5, 0.2, pc, pr, pc, pr, NULL, NULL), log(2.0),
                   1e-15);
    }
    CHECK_EQ_INT(rlhf_dpo_loss_parse("ipo"), RLHF_DPO_IPO);
    CHECK_EQ_INT(rlhf_dpo_loss_parse("kto"), -1);
}

static void test_objectives_equal_pytorch(void)
{
    char *path = test_fixture_path("rlhf/objectives.h5");
    CHECK(path != NULL);
    if (!path)
        return;
    hid_t f;
    CHECK_EQ_INT(core_h5_open(path, &f), CORE_OK);
    size_t n;
    double *pc = read_vec(f, "dpo/pc", &n), *pr = read_vec(f, "dpo/pr", &n),
           *rc = read_vec(f, "dpo/rc", &n), *rr = read_vec(f, "dpo/rr", &n);
    double beta = scalar(f, "dpo/beta"), eps = scalar(f, "dpo/label_smoothing");
    static const char *const kinds[] = {"sigmoid", "ipo", "hinge"};
    for (int k = 0; k < 3; k++) {
        char name[64];
        size_t m;
        snprintf(name, sizeof name, "dpo/%s_loss", kinds[k]);
        double *loss = read_vec(f, name, &m);
        snprintf(name, sizeof name, "dpo/%s_dpc", kinds[k]);
        double *dpc = read_vec(f, name, &m);
        snprintf(name, sizeof name, "dpo/%s_dpr", kinds[k]);
        double *dpr = read_vec(f, name, &m);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double gc, gr;
            double l = rlhf_dpo(rlhf_dpo_loss_parse(kinds[k]), beta, eps, pc[i], pr[i], rc[i],
                                rr[i], &gc, &gr);
            worst = fmax(worst, fabs(l - loss[i]) / fmax(1, fabs(loss[i])));
            worst = fmax(worst, fabs(gc - dpc[i]) + fabs(gr - dpr[i]));
        }
        printf("    dpo %s: largest difference to torch %.2g\n", kinds[k], worst);
        CHECK(worst < 1e-12);
        free(loss);
        free(dpc);
        free(dpr);
    }
    free(pc);
    free(pr);
    free(rc);
    free(rr);

    double *sc = read_vec(f, "reward/sc", &n), *sr = read_vec(f, "reward/sr", &n),
           *mg = read_vec(f, "reward/margin", &n), *loss = read_vec(f, "reward/loss", &n),
           *dsc = read_vec(f, "reward/dsc", &n), *dsr = read_vec(f, "reward/dsr", &n);
    double center = scalar(f, "reward/center"), worst = 0;
    for (size_t i = 0; i < n; i++) {
        double gc, gr, l = rlhf_bradley_terry(sc[i], sr[i], mg[i], center, &gc, &gr);
        worst = fmax(worst, fabs(l - loss[i]) + fabs(gc - dsc[i]) + fabs(gr - dsr[i]));
    }
    printf("    reward (Bradley-Terry, margin, centring): largest difference %.2g\n", worst);
    CHECK(worst < 1e-12);
    free(sc);
    free(sr);
    free(mg);
    free(loss);
    free(dsc);
    free(dsr);

    size_t G;
    double *rew = read_vec(f, "grpo/rewards", &G), *adv_ref = read_vec(f, "grpo/adv", &G);
    double adv[64], sd;
    rlhf_group_advantages(rew, (int)G, true, adv, &sd);
    worst = 0;
    for (size_t i = 0; i < G; i++)
        worst = fmax(worst, fabs(adv[i] - adv_ref[i]));
    double *lp = read_vec(f, "grpo/logp", &n), *old = read_vec(f, "grpo/old", &n),
           *ref = read_vec(f, "grpo/ref", &n), *gl = read_vec(f, "grpo/loss", &n),
           *gd = read_vec(f, "grpo/dlogp", &n), *gk = read_vec(f, "grpo/kl", &n);
    double el = scalar(f, "grpo/eps_low"), eh = scalar(f, "grpo/eps_high"),
           kb = scalar(f, "grpo/beta");
    int clipped_count = 0;
    for (size_t i = 0; i < n; i++) {
        double g, kl;
        bool clipped;
        double l = rlhf_grpo_token(lp[i], old[i], ref[i], adv_ref[i % G], el, eh, kb, &g, &clipped,
                                   &kl);
        clipped_count += clipped;
        worst = fmax(worst, fabs(l - gl[i]) + fabs(g - gd[i]) + fabs(kl - gk[i]));
    }
    printf("    grpo (advantages, clipped ratio, k3 KL): largest difference %.2g, %d of %zu "
           "tokens clipped\n",
           worst, clipped_count, n);
    CHECK(worst < 1e-12);
    CHECK(clipped_count > 0 && clipped_count < (int)n); /* both branches exercised */
    free(rew);
    free(adv_ref);
    free(lp);
    free(old);
    free(ref);
    free(gl);
    free(gd);
    free(gk);
    core_h5_close(f);
    free(path);
}

static void test_objective_gradients_equal_finite_differences(void)
{
    const double h = 1e-6;
    core_rng r;
    core_rng_init(&r, 3, "test.rlhf.fd");
    double worst = 0;
    for (int i = 0; i < 200; i++) {
        double pc = core_rng_normal(&r) * 5 - 20, pr = core_rng_normal(&r) * 5 - 20;
        double rc = core_rng_normal(&r) * 5 - 20, rr = core_rng_normal(&r) * 5 - 20;
        for (int k = 0; k < 3; k++) {
            double gc, gr;
            rlhf_dpo(k, 0.3, 0.1, pc, pr, rc, rr, &gc, &gr);
            double fc = (rlhf_dpo(k, 0.3, 0.1, pc + h, pr, rc, rr, NULL, NULL) -
                         rlhf_dpo(k, 0.3, 0.1, pc - h, pr, rc, rr, NULL, NULL)) / (2 * h);
            double fr = (rlhf_dpo(k, 0.3, 0.1, pc, pr + h, rc, rr, NULL, NULL) -
                         rlhf_dpo(k, 0.3, 0.1, pc, pr - h, rc, rr, NULL, NULL)) / (2 * h);
            if (k == RLHF_DPO_HINGE && fabs(1 - 0.3 * ((pc - pr) - (rc - rr))) < 1e-4)
                continue; /* the kink */
            worst = fmax(worst, fabs(gc - fc) + fabs(gr - fr));
        }
        double gc, gr;
        rlhf_bradley_terry(pc / 10, pr / 10, 0.5, 0.01, &gc, &gr);
        double fc = (rlhf_bradley_terry(pc / 10 + h, pr / 10, 0.5, 0.01, NULL, NULL) -
                     rlhf_bradley_terry(pc / 10 - h, pr / 10, 0.5, 0.01, NULL, NULL)) / (2 * h);
        worst = fmax(worst, fabs(gc - fc));
        double lp = core_rng_normal(&r) * 0.5 - 2, old = lp + core_rng_normal(&r) * 0.1,
               ref = lp + core_rng_normal(&r) * 0.3, a = core_rng_normal(&r), g;
        rlhf_grpo_token(lp, old, ref, a, 0.2, 0.28, 0.05, &g, NULL, NULL);
        double f = (rlhf_grpo_token(lp + h, old, ref, a, 0.2, 0.28, 0.05, NULL, NULL, NULL) -
                    rlhf_grpo_token(lp - h, old, ref, a, 0.2, 0.28, 0.05, NULL, NULL, NULL)) /
                   (2 * h);
        double ratio = exp(lp - old);
        if (fabs(ratio - 0.8) > 1e-4 && fabs(ratio - 1.28) > 1e-4)
            worst = fmax(worst, fabs(g - f));
    }
    printf("    largest |analytic - central difference|: %.2g\n", worst);
    CHECK(worst < 1e-6);
}

/* ---------------------------------------------------------------- through the model */

typedef struct pairs {
    train_batch b;
    int n_pairs;
} pairs;

/* n pairs as 2n rows: rows 2i and 2i + 1 share persona, history and `frames` frames of
 * audio; replies (20 and 33 bytes: longer than the reward head's opening) differ. */
static pairs make_pairs(int n, int T, int frames, core_rng *r)
{
    const int B = 2 * n, F = 4 * TRAIN_N_MELS;
    pairs p = {{B, T, calloc((size_t)B, TRAIN_PERSONA_DIM * sizeof(float)),
                calloc((size_t)B * T, 1), calloc((size_t)B * T, sizeof(int32_t)),
                calloc((size_t)B * T * F, sizeof(float)), calloc((size_t)B * T, sizeof(int32_t)),
                calloc((size_t)B, TRAIN_N_HEADS_PARA * sizeof(int32_t))},
               n};
    for (int i = 0; i < n; i++) {
        float persona[TRAIN_PERSONA_DIM], mel[12 * TRAIN_N_MELS];
        int32_t hist[6], reply[2][40];
        for (int k = 0; k < TRAIN_PERSONA_DIM; k++)
            persona[k] = (float)core_rng_normal(r);
        for (int k = 0; k < 12 * TRAIN_N_MELS; k++)
            mel[k] = (float)core_rng_normal(r);
        for (int k = 0; k < 6; k++)
            hist[k] = (int32_t)core_rng_below(r, 256);
        for (int c = 0; c < 2; c++) {
            for (int k = 0; k < 40; k++)
                reply[c][k] = (int32_t)core_rng_below(r, 256);
            train_sequence_layout(&p.b, 2 * i + c, persona, hist, 6, mel, (size_t)frames,
                                  reply[c], (size_t)(20 + 13 * c), T, 4);
        }
    }
    for (int i = 0; i < B * TRAIN_N_HEADS_PARA; i++)
        p.b.labels[i] = -1;
    return p;
}

static void pairs_free(pairs *p)
{
    free(p->b.persona);
    free(p->b.kind);
    free(p->b.tokens);
    free(p->b.frames);
    free(p->b.targets);
    free(p->b.labels);
}

enum { OBJ_DPO, OBJ_REWARD, OBJ_GRPO };
/* a fixed "reference", near the tiny model's log-probs of 21 and 34 targets at ln(1/260) each */
static const double ref_logp[4] = {-115.0, -190.0, -119.0, -186.0};

/* The objective of the last forward, and (grad) its gradient into the model's gradients. */
static double objective(train_model *m, const pairs *p, int which, bool grad)
{
    const train_batch *b = &p->b;
    const int B = b->B, T = b->T, d = 32;
    double logp[4];
    int ntok[4];
    train_model_seq_logps(m, b, logp, ntok);
    float *dloss = calloc((size_t)B * T, sizeof(float));
    float *dh = which == OBJ_REWARD ? calloc((size_t)B * T * d, sizeof(float)) : NULL;
    double J = 0;
    if (which == OBJ_DPO) {
        for (int i = 0; i < p->n_pairs; i++) {
            double gc, gr;
            J += rlhf_dpo(RLHF_DPO_SIGMOID, 0.5, 0.0, logp[2 * i], logp[2 * i + 1], ref_logp[2 * i],
                          ref_logp[2 * i + 1], &gc, &gr);
            /* token loss = -log p, so d J / d loss_t = -d J / d logp for each reply target */
            for (int t = 0; t < T; t++) {
                if (b->targets[(2 * i) * T + t] >= 0)
                    dloss[(2 * i) * T + t] = (float)-gc;
                if (b->targets[(2 * i + 1) * T + t] >= 0)
                    dloss[(2 * i + 1) * T + t] = (float)-gr;
            }
        }
    } else if (which == OBJ_REWARD) {
        /* the reward head's scores (rlhf/reward_head.c), Bradley-Terry per pair */
        double s[4], g[4];
        rlhf_reward_scores(m, b, s);
        for (int i = 0; i < p->n_pairs; i++)
            J += rlhf_bradley_terry(s[2 * i], s[2 * i + 1], 0.0, 0.01, &g[2 * i], &g[2 * i + 1]);
        if (grad)
            rlhf_reward_backward(m, b, g, dh);
        /* and the auxiliary loss on the chosen rows (weight 0.5) */
        J += 0.5 * rlhf_reward_aux(m, b, 2, 0.5, grad ? dh : NULL);
    } else {
        /* GRPO over the 4 rows as one group, the old policy's log-probs those of the first
         * forward (held fixed, as a rollout's are), mean over each sequence's tokens then
         * over sequences */
        const float *losses = train_model_token_losses(m);
        static double old_lp[4 * 64];
        if (grad)
            for (int i = 0; i < B * T; i++)
                old_lp[i] = -losses[i];
        const double rewards[4] = {0.9, 0.2, 0.5, 0.7};
        double adv[4];
        rlhf_group_advantages(rewards, 4, true, adv, NULL);
        for (int row = 0; row < B; row++)
            for (int t = 0; t < T; t++) {
                size_t i = (size_t)row * T + (size_t)t;
                if (b->targets[i] < 0)
                    continue;
                double lp = -losses[i], g;
                J += rlhf_grpo_token(lp, old_lp[i], old_lp[i] - 0.3, adv[row], 0.2, 0.2, 0.1, &g,
                                     NULL, NULL) /
                     ntok[row] / B;
                dloss[i] = (float)(-g / ntok[row] / B);
            }
    }
    if (grad)
        train_model_backward_ext(m, b, dloss, 0.0f, dh);
    free(dloss);
    free(dh);
    return J;
}

static void test_model_gradients_of_each_objective_equal_finite_differences(void)
{
    const char *sets[] = {"d_model=32", "n_layers=2", "n_heads=2", "max_seq=64"};
    train_model_cfg c;
    CHECK_EQ_INT(core_cfg_load(&train_model_schema, NULL, sets, 4, &c), CORE_OK);
    c.reward_head = true; /* reward.w, reward.b, reward.cond.w: only the reward objective's */
    train_model *m = NULL;
    CHECK_EQ_INT(train_model_create(&c, 4, &m), CORE_OK);
    train_model_init(m, 5);
    core_rng r;
    core_rng_init(&r, 11, "test.rlhf.pairs");
    /* the reward head takes the paralinguistic posteriors as given (no gradient into them):
     * its pairs have no audio, so the posteriors are the heads' biases alone, and the para.*
     * tensors are left out of its check */
    pairs p = make_pairs(2, 64, 12, &r), silent = make_pairs(2, 64, 0, &r);
    /* the cue the chosen replies answer, for the head's auxiliary loss */
    static const int32_t cue_of[2][4] = {{3, 1, 0, 2}, {7, 0, 1, 0}};
    for (int i = 0; i < 2; i++)
        memcpy(silent.b.labels + (size_t)(2 * i) * TRAIN_N_HEADS_PARA, cue_of[i], sizeof cue_of[i]);
    train_params *P = train_model_params(m), *Gd = train_model_grads(m);
    const size_t head = train_params_find(P, "reward.w")->offset;
    static const char *const names[] = {"DPO", "reward", "GRPO"};
    for (int which = 0; which < 3; which++) {
        const pairs *q = which == OBJ_REWARD ? &silent : &p;
        train_model_zero_grad(m);
        train_model_forward(m, &q->b);
        objective(m, q, which, true);
        double worst = 0;
        int checked = 0, in_head = 0;
        const train_param_view *head_v = train_params_find(P, "reward.w");
        int views_hit[TRAIN_REWARD_VIEWS] = {0};
        for (int k = 0; k < 90; k++) {
            /* the reward objective: a third of the draws in its head, each of its tensors in
             * turn */
            const train_param_view *hv = head_v + (k / 3) % TRAIN_REWARD_VIEWS;
            size_t i = which == OBJ_REWARD && k % 3 == 0
                           ? hv->offset + (size_t)core_rng_below(&r, hv->count)
                           : (size_t)core_rng_below(&r, P->count);
            if (which == OBJ_REWARD) {
                const train_param_view *v = P->views;
                while (!(i >= v->offset && i < v->offset + v->count))
                    v++;
                if (!strncmp(v->name, "para.", 5))
                    continue;
            }
            float save = P->data[i];
            const float h = 1e-2f;
            P->data[i] = save + h;
            train_model_forward(m, &q->b);
            double up = objective(m, q, which, false);
            P->data[i] = save - h;
            train_model_forward(m, &q->b);
            double down = objective(m, q, which, false);
            P->data[i] = save;
            double fd = (up - down) / (2.0 * h), an = Gd->data[i];
            if (fabs(fd) < 1e-6 && fabs(an) < 1e-6)
                continue; /* a parameter this batch does not reach */
            checked++;
            in_head += i >= head;
            if (which == OBJ_REWARD && k % 3 == 0)
                views_hit[hv - head_v]++;
            worst = fmax(worst, fabs(fd - an) / fmax(fabs(fd), 1e-2));
        }
        printf("    %s through the tiny model: %d parameters (%d of the reward head), largest "
               "relative error %.3g\n",
               names[which], checked, in_head, worst);
        CHECK(checked >= 10);
        CHECK(which != OBJ_REWARD || in_head >= 20);
        for (int v = 0; which == OBJ_REWARD && v < TRAIN_REWARD_VIEWS; v++)
            if (!views_hit[v]) {
                printf("    reward head tensor %s: no draw reached\n", head_v[v].name);
                CHECK(views_hit[v] > 0);
            }
        CHECK(worst < 0.05);
    }
    pairs_free(&p);
    pairs_free(&silent);
    train_model_free(m);
    core_cfg_free(&train_model_schema, &c);
}

int main(void)
{
    RUN(test_dpo_is_ln2_when_policy_equals_reference);
    RUN(test_objectives_equal_pytorch);
    RUN(test_objective_gradients_equal_finite_differences);
    RUN(test_model_gradients_of_each_objective_equal_finite_differences);
    return TEST_SUMMARY();
}
