/* Tests of the training data loader on a small corpus made here (personas, synth, ingest):
 * sequence layout, every utterance once per epoch, seeded order, exact resumption from a
 * cursor, truncation to max_seq, and the lineage hash. Needs espeak-ng and sox. */
#include "data/data.h"
#include "persona/persona.h"
#include "train/train.h"
#include "tests/runner.h"
#include "tests/train_corpus.h"

#include <stdio.h>
#include <stdlib.h>

static char tmpdir[256], personas[400], corpus[400];

static int setup(void)
{
    return test_train_corpus(tmpdir, personas, sizeof personas, corpus, sizeof corpus);
}

static train_loader *open_loader(const char *split, int batch, int max_seq, uint64_t seed)
{
    train_loader_cfg c = {corpus, split, personas, batch, max_seq, 4, seed};
    train_loader *l = NULL;
    CHECK_EQ_INT(train_loader_open(&c, &l), CORE_OK);
    return l;
}

static void test_sequences_follow_the_documented_layout(void)
{
    train_loader *l = open_loader("train", 3, 512, 1);
    if (!l)
        return;
    const train_batch *b = train_loader_next(l);
    CHECK(b->B >= 1 && b->T > 4);
    for (int i = 0; i < b->B; i++) {
        const uint8_t *k = b->kind + (size_t)i * b->T;
        const int32_t *tok = b->tokens + (size_t)i * b->T, *tgt = b->targets + (size_t)i * b->T;
        CHECK_EQ_INT(k[0], TRAIN_POS_PERSONA);
        /* persona, tokens (history), audio, then BOS ... EOS, then padding */
        int t = 1, audio = 0, bos = -1, eos = -1;
        while (t < b->T && k[t] == TRAIN_POS_TOKEN)
            t++;
        while (t < b->T && k[t] == TRAIN_POS_AUDIO) {
            t++;
            audio++;
        }
        CHECK(audio > 0);
        if (t < b->T && tok[t] == 256)
            bos = t;
        CHECK(bos > 0);
        for (int u = bos; u < b->T && k[u] == TRAIN_POS_TOKEN; u++)
            if (tok[u] == 257)
                eos = u;
        CHECK(eos > bos);
        /* targets are the next token from BOS to the last reply token, -1 elsewhere */
        for (int u = 0; u < b->T; u++) {
            if (u >= bos && u < eos)
                CHECK(tgt[u] == tok[u + 1]);
            else
                CHECK(tgt[u] == -1);
        }
        for (int u = eos + 1; u < b->T; u++)
            CHECK_EQ_INT(k[u], TRAIN_POS_PAD);
        /* the persona row is a unit vector from personas.h5 */
        double n2 = 0;
        for (int j = 0; j < TRAIN_PERSONA_DIM; j++)
            n2 += (double)b->persona[i * TRAIN_PERSONA_DIM + j] * b->persona[i * TRAIN_PERSONA_DIM + j];
        CHECK_NEAR(n2, 1.0, 1e-4);
    }
    train_loader_free(l);
}

static void test_each_epoch_visits_every_utterance_once_in_seeded_order(void)
{
    train_loader *a = open_loader("train", 4, 512, 7), *b = open_loader("train", 4, 512, 7);
    train_loader *c = open_loader("train", 4, 512, 8);
    if (!a || !b || !c)
        return;
    size_t n = train_loader_size(a), nb = train_loader_batches(a), seen = 0;
    CHECK(n > 4);
    bool differs = false;
    for (size_t i = 0; i < nb; i++) {
        const train_batch *x = train_loader_next(a);
        seen += (size_t)x->B;
        /* two loaders with one seed give the same batches */
        int32_t first_a = x->tokens[1], Ta = x->T;
        const train_batch *y = train_loader_next(b);
        CHECK(y->T == Ta && y->tokens[1] == first_a);
        const train_batch *z = train_loader_next(c);
        differs |= z->T != Ta || z->tokens[1] != first_a;
    }
    CHECK_EQ_INT(seen, n);
    CHECK(differs);
    train_loader_free(a);
    train_loader_free(b);
    train_loader_free(c);
}

static void test_cursor_resumes_with_the_exact_next_batch(void)
{
    train_loader *a = open_loader("train", 2, 512, 3), *b = open_loader("train", 2, 512, 3);
    if (!a || !b)
        return;
    for (int i = 0; i < 5; i++)
        train_loader_next(a);
    uint64_t cur[4];
    train_loader_cursor(a, cur);
    CHECK_EQ_INT(train_loader_seek(b, cur), CORE_OK);
    for (int i = 0; i < 6; i++) { /* across an epoch boundary too */
        const train_batch *x = train_loader_next(a);
        int T = x->T, B = x->B;
        size_t bytes = (size_t)B * (size_t)T;
        uint8_t *k = malloc(bytes);
        memcpy(k, x->kind, bytes);
        const train_batch *y = train_loader_next(b);
        CHECK(y->T == T && y->B == B && !memcmp(k, y->kind, bytes));
        free(k);
    }
    cur[2] += 1;
    CHECK_EQ_INT(train_loader_seek(b, cur), CORE_ERR_CHECK);
    train_loader_free(a);
    train_loader_free(b);
}

static void test_long_sequences_are_cut_to_max_seq(void)
{
    train_loader *l = open_loader(NULL, 4, 48, 1);
    if (!l)
        return;
    for (size_t i = 0; i < train_loader_batches(l); i++) {
        const train_batch *b = train_loader_next(l);
        CHECK(b->T <= 48);
        for (int r = 0; r < b->B; r++) {
            int audio = 0;
            for (int t = 0; t < b->T; t++)
                audio += b->kind[(size_t)r * b->T + t] == TRAIN_POS_AUDIO;
            CHECK(audio >= 1);
        }
    }
    CHECK_EQ_INT(strlen(train_loader_recordings_sha256(l)), 64);
    size_t nm;
    train_loader_manifests(l, &nm);
    CHECK_EQ_INT(nm, 3);
    train_loader_free(l);
    train_loader_cfg c = {corpus, "no-such-split", personas, 4, 64, 4, 1};
    train_loader *none;
    CHECK_EQ_INT(train_loader_open(&c, &none), CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), "no utterances");
}

static train_cfg run_cfg(const char *out, int64_t steps)
{
    train_cfg c;
    char s1[600], s2[600], s3[600];
    snprintf(s1, sizeof s1, "data.corpus=%s", corpus);
    snprintf(s2, sizeof s2, "data.personas=%s", personas);
    snprintf(s3, sizeof s3, "output=%s", out);
    char s4[64];
    snprintf(s4, sizeof s4, "max_steps=%lld", (long long)steps);
    const char *sets[] = {s1, s2, s3, s4, "model=model/tiny.yaml", "batch=4", "eval.every=10",
                          "eval.batches=2", "checkpoint.every=10", "optim.lr=0.003",
                          "optim.warmup=3", "threads=1"};
    CHECK_EQ_INT(core_cfg_load(&train_schema, NULL, sets, sizeof sets / sizeof *sets, &c),
                 CORE_OK);
    return c;
}

static void test_training_lowers_the_loss_and_writes_checkpoints(void)
{
    char *out = core_sprintf("%s/run-loss", tmpdir);
    train_cfg c = run_cfg(out, 30);
    train_result r;
    CHECK_EQ_INT(train_run(&c, "cfg\n", NULL, 0, &r), CORE_OK);
    CHECK_EQ_INT(r.steps, 30);
    CHECK(r.last_loss < r.first_loss * 0.9);
    CHECK(r.val_loss > 0 && r.val_para_acc >= 0 && r.val_para_acc <= 1);
    char *p = core_sprintf("%s/checkpoints/last.h5", out);
    hid_t f;
    CHECK_EQ_INT(core_h5_open(p, &f), CORE_OK);
    CHECK_EQ_INT(core_h5_check_format(f, p, "troupe.checkpoint/1"), CORE_OK);
    core_h5_close(f);
    free(p);
    p = core_sprintf("%s/metrics.jsonl", out);
    char *text;
    size_t n;
    CHECK_EQ_INT(core_file_read(p, 0, &text, &n), CORE_OK);
    CHECK_CONTAINS(text, "\"val_para_accuracy\"");
    free(text);
    free(p);
    core_cfg_free(&train_schema, &c);
    free(out);
}

static void test_resumed_training_ends_with_identical_checkpoint(void)
{
    char *out = core_sprintf("%s/run-resume", tmpdir), *aside = core_sprintf("%s/run-whole", tmpdir);
    train_cfg c = run_cfg(out, 24);
    train_result r;
    CHECK_EQ_INT(train_run(&c, "cfg\n", NULL, 0, &r), CORE_OK);
    CHECK_EQ_INT(rename(out, aside), 0);
    CHECK_EQ_INT(train_run(&c, "cfg\n", NULL, 7, &r), CORE_OK); /* interrupted at step 7 */
    CHECK_EQ_INT(r.steps, 7);
    CHECK_EQ_INT(train_run(&c, "cfg\n", "auto", 0, &r), CORE_OK);
    CHECK_EQ_INT(r.resumed_from, 7);
    CHECK_EQ_INT(r.steps, 24);
    char *a = core_sprintf("%s/checkpoints/last.h5", aside), *b = core_sprintf("%s/checkpoints/last.h5", out);
    char *ta, *tb;
    size_t na, nb;
    CHECK_EQ_INT(core_file_read(a, 0, &ta, &na), CORE_OK);
    CHECK_EQ_INT(core_file_read(b, 0, &tb, &nb), CORE_OK);
    CHECK(na == nb && memcmp(ta, tb, na) == 0);
    free(ta);
    free(tb);
    free(a);
    free(b);
    core_cfg_free(&train_schema, &c);
    free(out);
    free(aside);
}

static void test_non_finite_steps_are_skipped_then_stop_the_run(void)
{
    char *out = core_sprintf("%s/run-nan", tmpdir);
    train_cfg c = run_cfg(out, 30);
    /* An absurd learning rate blows the weights up after the first step; from then on every
     * loss is non-finite, each such step is skipped, and the third in a row stops the run. */
    c.lr = 1e30;
    c.min_lr = 1e30;
    c.warmup = 0;
    c.grad_clip = 0;
    c.nan_tolerance = 3;
    train_result r;
    CHECK_EQ_INT(train_run(&c, "cfg\n", NULL, 0, &r), CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), "not finite 3 steps in a row");
    CHECK_EQ_INT(r.skipped, 3);
    core_cfg_free(&train_schema, &c);
    free(out);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "loader"))
        return 1;
    core_log_set_level(CORE_LOG_ERROR);
    if (setup() != 0) {
        printf("cannot build the test corpus: %s\n", core_error_message());
        return 1;
    }
    RUN(test_sequences_follow_the_documented_layout);
    RUN(test_each_epoch_visits_every_utterance_once_in_seeded_order);
    RUN(test_cursor_resumes_with_the_exact_next_batch);
    RUN(test_long_sequences_are_cut_to_max_seq);
    RUN(test_training_lowers_the_loss_and_writes_checkpoints);
    RUN(test_resumed_training_ends_with_identical_checkpoint);
    RUN(test_non_finite_steps_are_skipped_then_stop_the_run);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
