/* Tests of incremental decoding (train/infer.c): pushing a sequence one position at a time
 * through the key/value cache gives the logits of a full train_model_forward at every
 * position, and the paralinguistic predictions of the model's heads; the sampler (greedy,
 * top-k, top-p, seeded draws that follow the softmax); the max_seq limit; chunked token and
 * audio pushes (equal to single pushes) and truncation back to a shared context. */
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

/* ---------------------------------------------------------------- chunked push, truncate */

/* The largest |a - b| over n floats, and (in *scale) the largest |b|. */
static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
    double worst = 0.0, big = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= worst))
            worst = e;
        if (fabs((double)b[i]) > big)
            big = fabs((double)b[i]);
    }
    if (scale && big > *scale)
        *scale = big;
    return worst;
}

static void random_tokens(int32_t *tok, int n, core_rng *r)
{
    for (int i = 0; i < n; i++)
        tok[i] = (int32_t)core_rng_below(r, TRAIN_VOCAB);
}

/* Chunk tolerance: the GEMMs sum in another order than the GEMVs; relative to the logits'
 * magnitude (about 1e-7 per rounding, a few hundred roundings deep at most). */
#define CHUNK_TOL 1e-5

/* Context (persona, 5 history bytes, 9 audio positions, BOS), then chunks of 1, 2 and 7
 * tokens and one that reaches max_seq exactly: each chunk's logits equal those of single
 * pushes of the same tokens on a second decoder, and so does one more push after each. */
static void test_infer_chunk_equals_single_pushes(void)
{
    train_model *m = tiny_model(21);
    scale_weights(m, 4.0f);
    const int max_seq = (int)train_model_config(m)->max_seq;
    core_rng r;
    core_rng_init(&r, 21, "test.infer.chunk");
    seq o;
    seq_make(&o, &r, 5, 9, 0, (int)train_model_config(m)->stack);
    const int ctx = o.b.T - 1; /* up to BOS; the EOS of seq_make is not pushed */
    train_infer *a = NULL, *b = NULL;
    CHECK_EQ_INT(train_infer_create(m, &a), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &b), CORE_OK);
    for (int t = 0; t < ctx; t++) {
        CHECK_EQ_INT(push_pos(a, &o, t, NULL), CORE_OK);
        CHECK_EQ_INT(push_pos(b, &o, t, NULL), CORE_OK);
    }
    float *chunk = malloc((size_t)max_seq * TRAIN_VOCAB * sizeof(float));
    float *single = malloc((size_t)max_seq * TRAIN_VOCAB * sizeof(float));
    int32_t tok[64];
    CORE_ASSERT(chunk && single && max_seq <= 64);
    double worst = 0.0, scale = 0.0;
    const int sizes[4] = {1, 2, 7, 0}; /* 0: up to max_seq */
    for (int k = 0; k < 4; k++) {
        const int n = sizes[k] ? sizes[k] : max_seq - train_infer_length(a);
        if (!sizes[k])
            CHECK(n > 7);
        random_tokens(tok, n, &r);
        CHECK_EQ_INT(train_infer_push_tokens(a, tok, n, chunk), CORE_OK);
        for (int i = 0; i < n; i++)
            CHECK_EQ_INT(train_infer_push(b, TRAIN_POS_TOKEN, NULL, tok[i],
                                          single + (size_t)i * TRAIN_VOCAB),
                         CORE_OK);
        worst = fmax(worst, max_diff(chunk, single, (size_t)n * TRAIN_VOCAB, &scale));
        CHECK_EQ_INT(train_infer_length(a), train_infer_length(b));
        if (train_infer_length(a) < max_seq) { /* the chunk's keys and values are cached */
            CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 7, chunk), CORE_OK);
            CHECK_EQ_INT(train_infer_push(b, TRAIN_POS_TOKEN, NULL, 7, single), CORE_OK);
            worst = fmax(worst, max_diff(chunk, single, TRAIN_VOCAB, &scale));
        }
    }
    CHECK_EQ_INT(train_infer_length(a), max_seq);
    CHECK(worst <= CHUNK_TOL * fmax(scale, 1.0));
    printf("    chunks 1, 2, 7, to max_seq after %d positions: max |logit difference| %.3g "
           "(largest |logit| %.3g)\n",
           ctx, worst, scale);

    /* a whole sequence as one chunk from position 0, without logits, then the last position
     * again with them */
    train_infer_reset(a);
    train_infer_reset(b);
    random_tokens(tok, max_seq, &r);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, max_seq - 1, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok + max_seq - 1, 1, chunk), CORE_OK);
    for (int i = 0; i < max_seq; i++)
        CHECK_EQ_INT(train_infer_push(b, TRAIN_POS_TOKEN, NULL, tok[i], single), CORE_OK);
    double w2 = max_diff(chunk, single, TRAIN_VOCAB, NULL);
    CHECK(w2 <= CHUNK_TOL * fmax(scale, 1.0));
    CHECK_EQ_INT(train_infer_length(a), max_seq);

    free(chunk);
    free(single);
    train_infer_free(a);
    train_infer_free(b);
    seq_free(&o);
    train_model_free(m);
}

/* Pushes persona, history and audio positions [0, upto) of o singly (no logits). */
static void push_prefix(train_infer *s, const seq *o, int upto)
{
    for (int t = 0; t < upto; t++)
        CHECK_EQ_INT(push_pos(s, o, t, NULL), CORE_OK);
}

/* A context pushed once, one continuation, a truncation back to the context and another
 * continuation: the same logits as a fresh decoder that pushed the context and the second
 * continuation. Truncating into the audio positions and pushing other audio gives the
 * paralinguistic outputs of a fresh decoder that never saw the removed audio. */
static void test_infer_truncate_then_continue_equals_fresh(void)
{
    train_model *m = tiny_model(22);
    scale_weights(m, 4.0f);
    const int S = (int)train_model_config(m)->stack;
    core_rng r;
    core_rng_init(&r, 22, "test.infer.truncate");
    seq o, o2; /* o2: the same persona and history, other audio */
    seq_make(&o, &r, 3, 6, 0, S);
    seq_make(&o2, &r, 3, 6, 0, S);
    memcpy(o2.b.persona, o.b.persona, TRAIN_PERSONA_DIM * sizeof(float));
    memcpy(o2.b.tokens, o.b.tokens, (size_t)o.b.T * sizeof(int32_t));
    const int ctx = o.b.T - 1; /* persona, 3 history, 6 audio, BOS */
    int32_t c1[10], c2[8];
    random_tokens(c1, 10, &r);
    random_tokens(c2, 8, &r);
    float la[8 * TRAIN_VOCAB], lf[8 * TRAIN_VOCAB];

    train_infer *a = NULL, *f = NULL;
    CHECK_EQ_INT(train_infer_create(m, &a), CORE_OK);
    push_prefix(a, &o, ctx);
    CHECK_EQ_INT(train_infer_push_tokens(a, c1, 10, NULL), CORE_OK);
    train_infer_truncate(a, ctx + 20); /* beyond the length: ignored */
    CHECK_EQ_INT(train_infer_length(a), ctx + 10);
    train_infer_truncate(a, ctx);
    CHECK_EQ_INT(train_infer_length(a), ctx);
    CHECK_EQ_INT(train_infer_push_tokens(a, c2, 8, la), CORE_OK);

    /* fresh, one by one */
    CHECK_EQ_INT(train_infer_create(m, &f), CORE_OK);
    push_prefix(f, &o, ctx);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(train_infer_push(f, TRAIN_POS_TOKEN, NULL, c2[i], lf + i * TRAIN_VOCAB),
                     CORE_OK);
    double scale = 0.0, w1 = max_diff(la, lf, 8 * TRAIN_VOCAB, &scale);
    CHECK(w1 <= CHUNK_TOL * fmax(scale, 1.0));
    /* fresh, the same chunk: the same arithmetic on the same cache */
    train_infer_reset(f);
    push_prefix(f, &o, ctx);
    CHECK_EQ_INT(train_infer_push_tokens(f, c2, 8, lf), CORE_OK);
    double w2 = max_diff(la, lf, 8 * TRAIN_VOCAB, NULL);
    CHECK(w2 <= CHUNK_TOL * fmax(scale, 1.0));
    printf("    after truncate: max |logit difference| %.3g vs single pushes, %.3g vs the same "
           "chunk on a fresh decoder\n",
           w1, w2);

    /* into the audio: keep persona, history and 3 audio positions, push 3 others and BOS */
    const int keep = 1 + 3 + 3;
    train_infer_truncate(a, keep);
    CHECK_EQ_INT(train_infer_length(a), keep);
    for (int t = keep; t < ctx; t++)
        CHECK_EQ_INT(push_pos(a, &o2, t, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_push_tokens(a, c1, 4, la), CORE_OK);
    train_infer_reset(f);
    push_prefix(f, &o, keep);
    for (int t = keep; t < ctx; t++)
        CHECK_EQ_INT(push_pos(f, &o2, t, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_push_tokens(f, c1, 4, lf), CORE_OK);
    CHECK(max_diff(la, lf, 4 * TRAIN_VOCAB, NULL) <= CHUNK_TOL * fmax(scale, 1.0));
    int32_t ca[TRAIN_N_HEADS_PARA], cf[TRAIN_N_HEADS_PARA];
    float pa[TRAIN_PARA_CLASSES], pf[TRAIN_PARA_CLASSES];
    CHECK_EQ_INT(train_infer_para(a, ca, pa), CORE_OK);
    CHECK_EQ_INT(train_infer_para(f, cf, pf), CORE_OK);
    CHECK(memcmp(ca, cf, sizeof ca) == 0);
    CHECK(memcmp(pa, pf, sizeof pa) == 0); /* the pooled sum is rebuilt in push order */
    /* before every audio position: the heads see 0 again, as on a decoder without audio */
    train_infer_truncate(a, 1 + 3);
    train_infer_reset(f);
    push_prefix(f, &o, 1 + 3);
    CHECK_EQ_INT(train_infer_para(a, ca, pa), CORE_OK);
    CHECK_EQ_INT(train_infer_para(f, cf, pf), CORE_OK);
    CHECK(memcmp(ca, cf, sizeof ca) == 0);
    CHECK(memcmp(pa, pf, sizeof pa) == 0);
    /* to 0: as after a reset */
    train_infer_truncate(a, 0);
    CHECK_EQ_INT(train_infer_length(a), 0);
    CHECK_EQ_INT(train_infer_push_tokens(a, c2, 8, la), CORE_OK);
    CHECK_EQ_INT(train_infer_length(a), 8);

    train_infer_free(a);
    train_infer_free(f);
    seq_free(&o);
    seq_free(&o2);
    train_model_free(m);
}

/* A chunk past max_seq or with a bad token fails and changes nothing: the next push gives
 * exactly the logits of a decoder that never saw the failed call. */
static void test_infer_chunk_errors_change_nothing(void)
{
    train_model *m = tiny_model(23);
    const int max_seq = (int)train_model_config(m)->max_seq;
    core_rng r;
    core_rng_init(&r, 23, "test.infer.errors");
    int32_t tok[64];
    CORE_ASSERT(max_seq <= 64);
    random_tokens(tok, max_seq, &r);
    train_infer *a = NULL, *f = NULL;
    CHECK_EQ_INT(train_infer_create(m, &a), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &f), CORE_OK);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, 4, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_push_tokens(f, tok, 4, NULL), CORE_OK);

    float la[TRAIN_VOCAB], lf[TRAIN_VOCAB];
    float *big = malloc((size_t)max_seq * TRAIN_VOCAB * sizeof(float));
    CORE_ASSERT(big);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, max_seq - 4 + 1, big), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "max_seq");
    CHECK_EQ_INT(train_infer_length(a), 4);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, INT32_MAX, NULL), CORE_ERR_LIMIT);
    CHECK_EQ_INT(train_infer_length(a), 4);
    int32_t bad[8];
    memcpy(bad, tok, sizeof bad);
    bad[5] = TRAIN_VOCAB;
    CHECK_EQ_INT(train_infer_push_tokens(a, bad, 8, big), CORE_ERR_RANGE);
    CHECK_CONTAINS(core_error_message(), "token 260");
    CHECK_EQ_INT(train_infer_length(a), 4);
    bad[5] = -1;
    CHECK_EQ_INT(train_infer_push_tokens(a, bad, 8, NULL), CORE_ERR_RANGE);
    CHECK_EQ_INT(train_infer_length(a), 4);
    CHECK_EQ_INT(train_infer_push_tokens(a, NULL, 0, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_length(a), 4);

    CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 9, la), CORE_OK);
    CHECK_EQ_INT(train_infer_push(f, TRAIN_POS_TOKEN, NULL, 9, lf), CORE_OK);
    CHECK(memcmp(la, lf, sizeof la) == 0);

    /* exactly full, then one more */
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, max_seq - 5, big), CORE_OK);
    CHECK_EQ_INT(train_infer_length(a), max_seq);
    CHECK_EQ_INT(train_infer_push_tokens(a, tok, 1, la), CORE_ERR_LIMIT);
    CHECK_EQ_INT(train_infer_length(a), max_seq);

    free(big);
    train_infer_free(a);
    train_infer_free(f);
    train_model_free(m);
}

/* ---------------------------------------------------------------- chunked audio */

static float *random_frames(int n, int F, core_rng *r)
{
    float *f = malloc((size_t)n * (size_t)F * sizeof(float));
    CORE_ASSERT(f);
    for (size_t j = 0; j < (size_t)n * (size_t)F; j++)
        f[j] = (float)core_rng_normal(r);
    return f;
}

/* Compares the paralinguistic outputs of two decoders: identical classes, probabilities
 * within `tol`; returns the largest probability difference. */
static double para_diff(train_infer *a, train_infer *b, double tol)
{
    int32_t ca[TRAIN_N_HEADS_PARA], cb[TRAIN_N_HEADS_PARA];
    float pa[TRAIN_PARA_CLASSES], pb[TRAIN_PARA_CLASSES];
    CHECK_EQ_INT(train_infer_para(a, ca, pa), CORE_OK);
    CHECK_EQ_INT(train_infer_para(b, cb, pb), CORE_OK);
    CHECK(memcmp(ca, cb, sizeof ca) == 0);
    double w = max_diff(pa, pb, TRAIN_PARA_CLASSES, NULL);
    CHECK(w <= tol);
    return w;
}

/* Pushes n audio positions of `frames` one by one. */
static void push_audio_singly(train_infer *s, const float *frames, int n, int F)
{
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_AUDIO, frames + (size_t)i * (size_t)F, 0, NULL),
                     CORE_OK);
}

/* Persona and 3 history bytes, then k audio positions as one chunk on one decoder and one by
 * one on another (k = 1, 5, and up to max_seq exactly; then 2 single positions, a chunk of 5
 * and one of 3): the paralinguistic outputs agree (same classes, probabilities within 1e-5),
 * and so do the logits of a BOS pushed after them (the chunk's keys and values are cached).
 * Truncating into the chunked audio gives the outputs of a fresh decoder that pushed only the
 * kept audio, singly; truncating before every audio position gives them exactly. */
static void test_infer_audio_chunk_equals_single_pushes(void)
{
    train_model *m = tiny_model(25);
    scale_weights(m, 4.0f);
    const int max_seq = (int)train_model_config(m)->max_seq;
    const int F = (int)train_model_config(m)->stack * TRAIN_N_MELS;
    core_rng r;
    core_rng_init(&r, 25, "test.infer.audio");
    seq o;
    seq_make(&o, &r, 3, 0, 0, (int)train_model_config(m)->stack);
    const int ctx = 1 + 3; /* persona, 3 history bytes */
    float *frames = random_frames(max_seq, F, &r);
    train_infer *a = NULL, *b = NULL, *f = NULL;
    CHECK_EQ_INT(train_infer_create(m, &a), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &b), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &f), CORE_OK);
    float la[TRAIN_VOCAB], lb[TRAIN_VOCAB];
    double worst = 0.0, scale = 0.0, pworst = 0.0;

    const int sizes[3] = {1, 5, 0}; /* 0: up to max_seq */
    for (int k = 0; k < 3; k++) {
        const int n = sizes[k] ? sizes[k] : max_seq - ctx;
        train_infer_reset(a);
        train_infer_reset(b);
        push_prefix(a, &o, ctx);
        push_prefix(b, &o, ctx);
        CHECK_EQ_INT(train_infer_push_audio(a, frames, n), CORE_OK);
        push_audio_singly(b, frames, n, F);
        CHECK_EQ_INT(train_infer_length(a), ctx + n);
        pworst = fmax(pworst, para_diff(a, b, 1e-5));
        if (ctx + n < max_seq) {
            CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 256, la), CORE_OK);
            CHECK_EQ_INT(train_infer_push(b, TRAIN_POS_TOKEN, NULL, 256, lb), CORE_OK);
            worst = fmax(worst, max_diff(la, lb, TRAIN_VOCAB, &scale));
            pworst = fmax(pworst, para_diff(a, b, 1e-5)); /* a token adds nothing to the pool */
        }
    }
    CHECK_EQ_INT(train_infer_length(a), max_seq);
    CHECK_EQ_INT(train_infer_push_audio(a, frames, 1), CORE_ERR_LIMIT);

    /* truncate into the chunked audio (a holds ctx + max_seq - ctx chunked positions): keep 7
     * of them, then 2 more audio positions and BOS on both */
    const int keep = ctx + 7;
    train_infer_truncate(a, keep);
    CHECK_EQ_INT(train_infer_length(a), keep);
    push_prefix(f, &o, ctx);
    push_audio_singly(f, frames, 7, F);
    pworst = fmax(pworst, para_diff(a, f, 1e-5));
    const float *other = frames + (size_t)20 * (size_t)F;
    CHECK_EQ_INT(train_infer_push_audio(a, other, 2), CORE_OK);
    push_audio_singly(f, other, 2, F);
    pworst = fmax(pworst, para_diff(a, f, 1e-5));
    CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 256, la), CORE_OK);
    CHECK_EQ_INT(train_infer_push(f, TRAIN_POS_TOKEN, NULL, 256, lb), CORE_OK);
    worst = fmax(worst, max_diff(la, lb, TRAIN_VOCAB, &scale));
    /* before every audio position: exactly a decoder without audio */
    train_infer_truncate(a, ctx);
    train_infer_reset(f);
    push_prefix(f, &o, ctx);
    CHECK(para_diff(a, f, 0.0) == 0.0);

    /* mixed: 2 single audio positions, a chunk of 5, one of 3, BOS */
    train_infer_reset(a);
    train_infer_reset(b);
    push_prefix(a, &o, ctx);
    push_prefix(b, &o, ctx);
    push_audio_singly(a, frames, 2, F);
    CHECK_EQ_INT(train_infer_push_audio(a, frames + (size_t)2 * (size_t)F, 5), CORE_OK);
    CHECK_EQ_INT(train_infer_push_audio(a, frames + (size_t)7 * (size_t)F, 3), CORE_OK);
    push_audio_singly(b, frames, 10, F);
    pworst = fmax(pworst, para_diff(a, b, 1e-5));
    CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 256, la), CORE_OK);
    CHECK_EQ_INT(train_infer_push(b, TRAIN_POS_TOKEN, NULL, 256, lb), CORE_OK);
    worst = fmax(worst, max_diff(la, lb, TRAIN_VOCAB, &scale));

    CHECK(worst <= CHUNK_TOL * fmax(scale, 1.0));
    printf("    audio chunks 1, 5, to max_seq, after truncate, mixed: max |BOS logit difference| "
           "%.3g (largest |logit| %.3g), max |para prob difference| %.3g\n",
           worst, scale, pworst);

    free(frames);
    train_infer_free(a);
    train_infer_free(b);
    train_infer_free(f);
    seq_free(&o);
    train_model_free(m);
}

/* An audio chunk past max_seq or without frames fails and changes nothing: the next push and
 * the paralinguistic outputs are exactly those of a decoder that never saw the failed call. */
static void test_infer_audio_chunk_errors_change_nothing(void)
{
    train_model *m = tiny_model(26);
    const int max_seq = (int)train_model_config(m)->max_seq;
    const int F = (int)train_model_config(m)->stack * TRAIN_N_MELS;
    core_rng r;
    core_rng_init(&r, 26, "test.infer.audio.errors");
    float *frames = random_frames(max_seq, F, &r);
    train_infer *a = NULL, *f = NULL;
    CHECK_EQ_INT(train_infer_create(m, &a), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &f), CORE_OK);
    CHECK_EQ_INT(train_infer_push_audio(a, frames, 3), CORE_OK);
    CHECK_EQ_INT(train_infer_push_audio(f, frames, 3), CORE_OK);

    CHECK_EQ_INT(train_infer_push_audio(a, frames, max_seq - 3 + 1), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "max_seq");
    CHECK_EQ_INT(train_infer_length(a), 3);
    CHECK_EQ_INT(train_infer_push_audio(a, frames, INT32_MAX), CORE_ERR_LIMIT);
    CHECK_EQ_INT(train_infer_length(a), 3);
    CHECK_EQ_INT(train_infer_push_audio(a, NULL, 2), CORE_ERR_RANGE);
    CHECK_CONTAINS(core_error_message(), "frames");
    CHECK_EQ_INT(train_infer_length(a), 3);
    CHECK_EQ_INT(train_infer_push_audio(a, NULL, 0), CORE_OK);
    CHECK_EQ_INT(train_infer_length(a), 3);

    CHECK(para_diff(a, f, 0.0) == 0.0);
    float la[TRAIN_VOCAB], lf[TRAIN_VOCAB];
    CHECK_EQ_INT(train_infer_push(a, TRAIN_POS_TOKEN, NULL, 256, la), CORE_OK);
    CHECK_EQ_INT(train_infer_push(f, TRAIN_POS_TOKEN, NULL, 256, lf), CORE_OK);
    CHECK(memcmp(la, lf, sizeof la) == 0);

    /* exactly full, then one more */
    CHECK_EQ_INT(train_infer_push_audio(a, frames, max_seq - 4), CORE_OK);
    CHECK_EQ_INT(train_infer_length(a), max_seq);
    CHECK_EQ_INT(train_infer_push_audio(a, frames, 1), CORE_ERR_LIMIT);
    CHECK_EQ_INT(train_infer_length(a), max_seq);

    free(frames);
    train_infer_free(a);
    train_infer_free(f);
    train_model_free(m);
}

/* Not an assertion: 60 tokens as one chunk and one by one on the tiny model. */
static void test_infer_chunk_timing(void)
{
    train_model *m = tiny_model(24);
    core_rng r;
    core_rng_init(&r, 24, "test.infer.timing");
    int32_t tok[60];
    random_tokens(tok, 60, &r);
    float *lg = malloc(60 * TRAIN_VOCAB * sizeof(float));
    CORE_ASSERT(lg);
    train_infer *s = NULL;
    CHECK_EQ_INT(train_infer_create(m, &s), CORE_OK);
    const int reps = 20;
    double best[2] = {INFINITY, INFINITY};
    for (int k = 0; k < reps; k++) {
        train_infer_reset(s);
        double t0 = core_now();
        CHECK_EQ_INT(train_infer_push_tokens(s, tok, 60, lg), CORE_OK);
        double t1 = core_now();
        train_infer_reset(s);
        for (int i = 0; i < 60; i++)
            CHECK_EQ_INT(train_infer_push(s, TRAIN_POS_TOKEN, NULL, tok[i], lg + i * TRAIN_VOCAB),
                         CORE_OK);
        double t2 = core_now();
        best[0] = fmin(best[0], t1 - t0);
        best[1] = fmin(best[1], t2 - t1);
    }
    printf("    tiny, 60 tokens with logits (best of %d): chunk %.3f ms, one by one %.3f ms\n",
           reps, 1e3 * best[0], 1e3 * best[1]);
    free(lg);
    train_infer_free(s);
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
    RUN(test_infer_chunk_equals_single_pushes);
    RUN(test_infer_truncate_then_continue_equals_fresh);
    RUN(test_infer_chunk_errors_change_nothing);
    RUN(test_infer_audio_chunk_equals_single_pushes);
    RUN(test_infer_audio_chunk_errors_change_nothing);
    RUN(test_infer_chunk_timing);
    RUN(test_sample_greedy_and_top_k_1);
    RUN(test_sample_seeded);
    RUN(test_sample_frequencies);
    return TEST_SUMMARY();
}
