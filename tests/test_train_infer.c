/* Tests of incremental decoding (train/infer.c): pushing a sequence one position at a time
 * through the key/value cache gives the logits of a full train_model_forward at every
 * position, and the paralinguistic predictions of the model's heads; the sampler (greedy,
 * top-k, top-p, seeded draws that follow the softmax); the max_seq limit. */
#include "tests/runner.h"
#include "train/train.h"

#include <stdlib.h>

static train_model *tiny_model(uint64_t seed)
{
    const char *dir = core_config_dir();
    CORE_ASSERT(dir);
    char *path = core_sprintf("%s/model/tiny.yaml", dir);
    train_model_cfg c;
    core_status st = core_cfg_load(&train_model_schema, path, NULL, 0, &c);
    if (st != CORE_OK)
        printf("    %s\n", core_error_message());
    CORE_ASSERT(st == CORE_OK);
    free(path);
    train_model *m = NULL;
    st = train_model_create(&c, 1, &m);
    CORE_ASSERT(st == CORE_OK);
    core_cfg_free(&train_model_schema, &c);
    train_model_init(m, seed);
    return m;
}

/* Makes the init weights larger so that every path (attention included) matters. */
static void scale_weights(train_model *m, float s)
{
    train_params *p = train_model_params(m);
    for (size_t i = 0; i < p->count; i++)
        p->data[i] *= s;
}

typedef struct seq {
    train_batch b;
    int F;
} seq;

/* One sequence of the loader's layout: persona, `hist` history tokens, `aud` audio positions
 * with random frames, BOS, `rep` reply tokens, EOS. */
static void seq_make(seq *o, core_rng *r, int hist, int aud, int rep, int S)
{
    const int T = 1 + hist + aud + 1 + rep + 1;
    const size_t F = (size_t)S * TRAIN_N_MELS;
    o->F = (int)F;
    train_batch *b = &o->b;
    *b = (train_batch){.B = 1, .T = T};
    b->persona = core_zalloc(TRAIN_PERSONA_DIM, sizeof(float), "test");
    b->kind = core_zalloc((size_t)T, 1, "test");
    b->tokens = core_zalloc((size_t)T, sizeof(int32_t), "test");
    b->frames = core_zalloc((size_t)T * F, sizeof(float), "test");
    b->targets = core_zalloc((size_t)T, sizeof(int32_t), "test");
    b->labels = core_zalloc(TRAIN_N_HEADS_PARA, sizeof(int32_t), "test");
    CORE_ASSERT(b->persona && b->kind && b->tokens && b->frames && b->targets && b->labels);
    for (int i = 0; i < TRAIN_PERSONA_DIM; i++)
        b->persona[i] = (float)core_rng_normal(r);
    int t = 0;
    b->kind[t++] = TRAIN_POS_PERSONA;
    for (int k = 0; k < hist; k++, t++) {
        b->kind[t] = TRAIN_POS_TOKEN;
        b->tokens[t] = (int32_t)core_rng_below(r, 256);
    }
    for (int k = 0; k < aud; k++, t++) {
        b->kind[t] = TRAIN_POS_AUDIO;
        for (size_t j = 0; j < F; j++)
            b->frames[(size_t)t * F + j] = (float)core_rng_normal(r);
    }
    b->kind[t] = TRAIN_POS_TOKEN;
    b->tokens[t++] = 256;
    for (int k = 0; k < rep; k++, t++) {
        b->kind[t] = TRAIN_POS_TOKEN;
        b->tokens[t] = (int32_t)core_rng_below(r, 256);
    }
    b->kind[t] = TRAIN_POS_TOKEN;
    b->tokens[t++] = 257;
    CORE_ASSERT(t == T);
    for (int i = 0; i < T; i++)
        b->targets[i] = -1;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        b->labels[k] = -1;
}

static void seq_free(seq *o)
{
    free(o->b.persona);
    free(o->b.kind);
    free(o->b.tokens);
    free(o->b.frames);
    free(o->b.targets);
    free(o->b.labels);
}

/* Pushes position t of the sequence. */
static core_status push_pos(train_infer *s, const seq *o, int t, float *logits)
{
    const train_batch *b = &o->b;
    switch (b->kind[t]) {
    case TRAIN_POS_PERSONA: return train_infer_push(s, TRAIN_POS_PERSONA, b->persona, 0, logits);
    case TRAIN_POS_AUDIO:
        return train_infer_push(s, TRAIN_POS_AUDIO, b->frames + (size_t)t * (size_t)o->F, 0,
                                logits);
    default: return train_infer_push(s, TRAIN_POS_TOKEN, NULL, b->tokens[t], logits);
    }
}

/* ---------------------------------------------------------------- KV cache = full forward */

static void check_cache_matches_forward(float wscale, uint64_t seed)
{
    train_model *m = tiny_model(seed);
    scale_weights(m, wscale);
    core_rng r;
    core_rng_init(&r, seed, "test.infer");
    seq o;
    seq_make(&o, &r, 5, 9, 7, (int)train_model_config(m)->stack);
    train_model_forward(m, &o.b);

    train_infer *s = NULL;
    CHECK_EQ_INT(train_infer_create(m, &s), CORE_OK);
    float logits[TRAIN_VOCAB];
    double worst = 0.0;
    for (int pass = 0; pass < 2; pass++) { /* the second pass after a reset */
        for (int t = 0; t < o.b.T; t++) {
            CHECK_EQ_INT(push_pos(s, &o, t, logits), CORE_OK);
            const float *ref = train_model_logits(m, 0, t);
            for (int v = 0; v < TRAIN_VOCAB; v++) {
                double e = fabs((double)logits[v] - (double)ref[v]);
                if (!(e <= worst))
                    worst = e;
            }
        }
        CHECK_EQ_INT(train_infer_length(s), o.b.T);
        train_infer_reset(s);
        CHECK_EQ_INT(train_infer_length(s), 0);
    }
    CHECK(worst <= 1e-4);
    printf("    weights x%g: max |logit difference| %.3g over %d positions\n", (double)wscale,
           worst, o.b.T);

    /* paralinguistic heads: label each head with our argmax, and the full forward must count
     * it correct; label it with another class, and it must not */
    for (int t = 0; t < o.b.T; t++)
        CHECK_EQ_INT(push_pos(s, &o, t, NULL), CORE_OK);
    int32_t cls[TRAIN_N_HEADS_PARA];
    float probs[TRAIN_PARA_CLASSES];
    CHECK_EQ_INT(train_infer_para(s, cls, probs), CORE_OK);
    int off = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const int K = train_para_classes[k];
        CHECK(cls[k] >= 0 && cls[k] < K);
        double sum = 0.0;
        for (int c = 0; c < K; c++) {
            sum += probs[off + c];
            CHECK(probs[off + c] <= probs[off + cls[k]]);
        }
        CHECK_NEAR(sum, 1.0, 1e-5);
        off += K;
    }
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        o.b.labels[k] = cls[k];
    train_model_forward(m, &o.b);
    train_model_stats st = train_model_last(m);
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        CHECK_EQ_INT(st.para_count[k], 1);
        CHECK_EQ_INT(st.para_correct[k], 1);
        o.b.labels[k] = (cls[k] + 1) % train_para_classes[k];
    }
    train_model_forward(m, &o.b);
    st = train_model_last(m);
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        CHECK_EQ_INT(st.para_correct[k], 0);

    train_infer_free(s);
    seq_free(&o);
    train_model_free(m);
}

static void test_infer_cache_equals_forward_init(void)
{
    check_cache_matches_forward(1.0f, 11);
}

static void test_infer_cache_equals_forward_large_weights(void)
{
    /* weights 4x the initialisation: attention far from uniform, heads far from chance */
    check_cache_matches_forward(4.0f, 12);
}

static void test_infer_limit_and_errors(void)
{
    train_model *m = tiny_model(3);
    const int max_seq = (int)train_model_config(m)->max_seq;
    train_infer *s = NULL;
    CHECK_EQ_INT(train_infer_create(m, &s), CORE_OK);
    float logits[TRAIN_VOCAB];
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, TRAIN_VOCAB, logits), CORE_ERR_RANGE);
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, -1, logits), CORE_ERR_RANGE);
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_AUDIO, NULL, 0, logits), CORE_ERR_RANGE);
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_PAD, NULL, 0, logits), CORE_ERR_RANGE);
    CHECK_EQ_INT(train_infer_length(s), 0);
    for (int t = 0; t < max_seq; t++)
        CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, t % 256, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, 1, logits), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "max_seq");
    CHECK_EQ_INT(train_infer_length(s), max_seq);
    /* no audio: the heads see a zero pooled state, i.e. their biases (0 at init) */
    int32_t cls[TRAIN_N_HEADS_PARA];
    CHECK_EQ_INT(train_infer_para(s, cls, NULL), CORE_OK);
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        CHECK_EQ_INT(cls[k], 0);
    train_infer_reset(s);
    CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, 1, logits), CORE_OK);
    train_infer_free(s);
    train_infer_free(NULL);
    train_model_free(m);
}

/* ---------------------------------------------------------------- sampler */

static void test_sample_greedy_and_top_k_1(void)
{
    const float lg[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
    core_rng r;
    core_rng_init(&r, 1, "test.sample");
    core_rng before = r;
    CHECK_EQ_INT(train_sample(lg, 6, 0.0, 0, 1.0, &r), 1); /* tie: the lower index */
    CHECK_EQ_INT(train_sample(lg, 6, 0.0, 3, 0.5, &r), 1);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(train_sample(lg, 6, 5.0, 1, 1.0, &r), 1);
    CHECK(memcmp(&before, &r, sizeof r) == 0); /* greedy draws nothing */
    const float one[1] = {-3.0f};
    CHECK_EQ_INT(train_sample(one, 1, 1.0, 0, 0.9, &r), 0);
}

static void test_sample_seeded(void)
{
    float lg[TRAIN_VOCAB];
    core_rng g;
    core_rng_init(&g, 5, "test.logits");
    for (int i = 0; i < TRAIN_VOCAB; i++)
        lg[i] = (float)(2.0 * core_rng_normal(&g));
    core_rng a, b, c;
    core_rng_init(&a, 42, "generate");
    core_rng_init(&b, 42, "generate");
    core_rng_init(&c, 43, "generate");
    int same = 1, differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = train_sample(lg, TRAIN_VOCAB, 1.0, 40, 0.95, &a);
        int32_t y = train_sample(lg, TRAIN_VOCAB, 1.0, 40, 0.95, &b);
        int32_t z = train_sample(lg, TRAIN_VOCAB, 1.0, 40, 0.95, &c);
        same &= x == y;
        differ += x != z;
        CHECK(x >= 0 && x < TRAIN_VOCAB);
    }
    CHECK(same);
    CHECK(differ > 0);
}

/* Empirical frequencies follow softmax(logits / T); top-k and top-p cut the tail. */
static void test_sample_frequencies(void)
{
    const float lg[4] = {1.0f, 0.0f, 2.0f, -1.0f};
    const int n = 40000;
    const double temps[2] = {1.0, 2.0};
    core_rng r;
    core_rng_init(&r, 9, "test.sample");
    for (int ti = 0; ti < 2; ti++) {
        const double T = temps[ti];
        double p[4], sum = 0.0;
        for (int i = 0; i < 4; i++)
            sum += p[i] = exp(lg[i] / T);
        int cnt[4] = {0};
        for (int i = 0; i < n; i++)
            cnt[train_sample(lg, 4, T, 0, 1.0, &r)]++;
        for (int i = 0; i < 4; i++) {
            double want = p[i] / sum, sd = sqrt(want * (1 - want) / n);
            CHECK_NEAR((double)cnt[i] / n, want, 5 * sd);
        }
    }
    /* top_k 2: only tokens 2 and 0, in ratio e : 1 */
    int cnt[4] = {0};
    for (int i = 0; i < n; i++)
        cnt[train_sample(lg, 4, 1.0, 2, 1.0, &r)]++;
    CHECK_EQ_INT(cnt[1] + cnt[3], 0);
    double want = exp(1.0) / (1.0 + exp(1.0));
    CHECK_NEAR((double)cnt[2] / n, want, 5 * sqrt(want * (1 - want) / n));
    /* top_p: probabilities .644 .237 .087 .032; 0.6 keeps token 2 only, 0.7 keeps 2 and 0 */
    for (int i = 0; i < 200; i++)
        CHECK_EQ_INT(train_sample(lg, 4, 1.0, 0, 0.6, &r), 2);
    int seen[4] = {0};
    for (int i = 0; i < 2000; i++)
        seen[train_sample(lg, 4, 1.0, 0, 0.7, &r)]++;
    CHECK(seen[0] > 0 && seen[2] > 0 && seen[1] == 0 && seen[3] == 0);
}

int main(void)
{
    RUN(test_infer_cache_equals_forward_init);
    RUN(test_infer_cache_equals_forward_large_weights);
    RUN(test_infer_limit_and_errors);
    RUN(test_sample_greedy_and_top_k_1);
    RUN(test_sample_seeded);
    RUN(test_sample_frequencies);
    return TEST_SUMMARY();
}
