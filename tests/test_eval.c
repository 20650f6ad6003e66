/* eval/: the metrics against hand-computed values, the corpus eval set, lineage hygiene, the
 * run's scores against an independent recomputation, and report determinism. */
#include "core/core.h"
#include "tests/runner.h"
#include "tests/train_corpus.h"

#include "eval/eval.h"
#include "rlhf/rlhf.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256], personas[400], corpus[400], ckpt[400];

static int setup(void)
{
    if (test_train_corpus_n(tmpdir, 16, personas, sizeof personas, corpus, sizeof corpus) != 0)
        return 1;
    return test_train_sft(tmpdir, corpus, personas, 40, ckpt, sizeof ckpt);
}

/* The spec's defaults with the test's corpus and `extra` overrides. */
static bool spec(eval_cfg *cfg, const char *const *extra, size_t n_extra)
{
    char s1[600], s2[600];
    snprintf(s1, sizeof s1, "data.corpus=%s", corpus);
    snprintf(s2, sizeof s2, "data.personas=%s", personas);
    const char *sets[32] = {s1, s2, "model=model/tiny.yaml", "bootstrap=200",
                            "dialogue.max_new=24", "persona.dialogues=2", "persona.turns=3"};
    size_t n = 7;
    for (size_t i = 0; i < n_extra && n < 32; i++)
        sets[n++] = extra[i];
    if (core_cfg_load(&eval_schema, NULL, sets, n, cfg) != CORE_OK) {
        printf("    %s\n", core_error_message());
        return false;
    }
    if (eval_cfg_finish(cfg) != CORE_OK) {
        printf("    %s\n", core_error_message());
        return false;
    }
    return true;
}

static void test_metrics_by_hand(void)
{
    const int32_t truth[5] = {0, 0, 1, 1, 2}, pred[5] = {0, 1, 1, 1, 0};
    CHECK_NEAR(eval_accuracy(truth, pred, 5), 3.0 / 5, 1e-12);
    /* class 0: TP 1 FP 1 FN 1 -> 0.5; class 1: TP 2 FP 1 -> 0.8; class 2: FN 1 -> 0 */
    CHECK_NEAR(eval_macro_f1(truth, pred, 5, 3), (0.5 + 0.8 + 0.0) / 3, 1e-12);
    /* a class in neither truth nor predictions does not count */
    CHECK_NEAR(eval_macro_f1(truth, pred, 5, 10), (0.5 + 0.8 + 0.0) / 3, 1e-12);
    CHECK_NEAR(eval_macro_f1(truth, truth, 5, 3), 1.0, 1e-12);
    CHECK_NEAR(eval_accuracy(truth, pred, 0), 0.0, 0);
    const double x[4] = {4, 1, 3, 2};
    CHECK_NEAR(eval_quantile(x, 4, 0.5), 2.5, 1e-12);   /* numpy: 2.5 */
    CHECK_NEAR(eval_quantile(x, 4, 0.95), 3.85, 1e-12); /* numpy: 3.85 */
    CHECK_NEAR(eval_quantile(x, 4, 0.0), 1.0, 0);
    CHECK_NEAR(eval_quantile(x, 4, 1.0), 4.0, 0);
    CHECK(x[0] == 4); /* not modified */
    CHECK(isnan(eval_quantile(x, 0, 0.5)));
    double y[30], ysum = 0;
    for (int i = 0; i < 30; i++)
        ysum += y[i] = 0.5 + 0.5 * sin(1.7 * i);
    eval_ci a = eval_bootstrap_mean(y, 30, 500, 0.95, 3, "t"),
            b = eval_bootstrap_mean(y, 30, 500, 0.95, 3, "t"),
            c = eval_bootstrap_mean(y, 30, 500, 0.95, 4, "t"),
            d = eval_bootstrap_mean(y, 30, 0, 0.95, 3, "t");
    CHECK_NEAR(a.value, ysum / 30, 1e-12);
    /* the interval's half-width is near 1.96 standard errors of the mean */
    double var = 0;
    for (int i = 0; i < 30; i++)
        var += (y[i] - ysum / 30) * (y[i] - ysum / 30);
    const double se = sqrt(var / 30 / 30);
    CHECK(fabs((a.hi - a.lo) / 2 - 1.96 * se) < 0.25 * 1.96 * se);
    CHECK(a.lo <= a.value && a.value <= a.hi && a.lo >= 0 && a.hi <= 1);
    CHECK(a.lo == b.lo && a.hi == b.hi);       /* seeded */
    CHECK(a.lo != c.lo || a.hi != c.hi);       /* another seed, another draw */
    CHECK(isnan(d.lo) && d.value == a.value); /* no resamples: no interval */
    /* a constant sample has a zero-width interval */
    const double z[3] = {0.25, 0.25, 0.25};
    eval_ci e = eval_bootstrap_mean(z, 3, 100, 0.95, 1, "t");
    CHECK_NEAR(e.lo, 0.25, 0);
    CHECK_NEAR(e.hi, 0.25, 0);
}

static void test_corpus_set(void)
{
    eval_set s, t;
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &s), CORE_OK);
    CHECK(s.n > 0);
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &t), CORE_OK);
    CHECK_STR(s.sha256, t.sha256); /* deterministic */
    size_t with_persona = 0;
    for (size_t i = 0; i < s.n; i++) {
        const eval_item *it = &s.items[i];
        CHECK(it->frames > 0 && it->n_reply > 0 && strlen(it->audio_sha256) == 64);
        CHECK(it->turn_kind >= 0 && it->turn_kind <= 2);
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
            CHECK(it->labels[k] >= -1 && it->labels[k] < train_para_classes[k]);
        with_persona += it->has_persona;
    }
    CHECK_EQ_INT(with_persona, s.n);
    char before[CORE_SHA256_HEX];
    memcpy(before, t.sha256, sizeof before);
    eval_set_truncate(&t, 1);
    CHECK_EQ_INT(t.n, 1);
    CHECK(strcmp(before, t.sha256) != 0);
    eval_set_free(&s);
    eval_set_free(&t);
    /* errors name the file */
    CHECK_EQ_INT(eval_set_from_corpus("/nonexistent", "test", personas, &s) != CORE_OK, 1);
    CHECK_CONTAINS(core_error_message(), "/nonexistent/index.json");
    CHECK(eval_set_from_corpus(corpus, "no-such-split", personas, &s) != CORE_OK);
    CHECK_CONTAINS(core_error_message(), "no-such-split");
}

static void test_hygiene(void)
{
    eval_cfg cfg;
    const char *ex[] = {"metrics=paralinguistic"};
    CHECK(spec(&cfg, ex, 1));
    eval_set train = {0}, test = {0};
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "train", personas, &train), CORE_OK);
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &test), CORE_OK);
    train_ckpt_meta meta;
    CHECK_EQ_INT(train_ckpt_load(ckpt, NULL, NULL, &meta), CORE_OK);
    /* the lineage lists every training recording's audio */
    CHECK_EQ_INT(meta.n_audio, train.n);
    eval_result r;
    CHECK(eval_run(&cfg, &train, ckpt, &r) == CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), "were in its training data");
    CHECK_EQ_INT(r.hygiene_checked, train.n);
    CHECK_EQ_INT(r.hygiene_refused, train.n);
    eval_result_free(&r);
    CHECK_EQ_INT(eval_run(&cfg, &test, ckpt, &r), CORE_OK);
    CHECK_EQ_INT(r.hygiene_checked, test.n);
    CHECK_EQ_INT(r.hygiene_refused, 0);
    CHECK_EQ_INT(r.lineage_hashes, meta.n_audio);
    eval_result_free(&r);
    /* one test item slipped into the training set: refused, and named */
    memcpy(train.items[0].audio_sha256, test.items[0].audio_sha256, CORE_SHA256_HEX);
    char *bad = core_sprintf("%s/bad.h5", tmpdir);
    train_model_cfg mc;
    train_model *m = NULL;
    CHECK_EQ_INT(train_model_cfg_load("model/tiny.yaml", &mc), CORE_OK);
    CHECK_EQ_INT(train_model_create(&mc, 1, &m), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(ckpt, train_model_params(m), NULL, NULL), CORE_OK);
    uint8_t h[32];
    core_unhex(h, 32, test.items[0].audio_sha256);
    train_ckpt_meta m2 = meta;
    m2.audio_sha256 = h;
    m2.n_audio = 1;
    CHECK_EQ_INT(train_ckpt_save(bad, train_model_params(m), NULL, &m2), CORE_OK);
    CHECK(eval_run(&cfg, &test, bad, &r) == CORE_ERR_CHECK);
    CHECK_EQ_INT(r.hygiene_refused, 1);
    CHECK_CONTAINS(core_error_message(), test.items[0].id);
    eval_result_free(&r);
    /* a checkpoint without audio lineage cannot be checked: refused unless hygiene is off */
    m2.n_audio = 0;
    m2.audio_sha256 = NULL;
    CHECK_EQ_INT(train_ckpt_save(bad, train_model_params(m), NULL, &m2), CORE_OK);
    CHECK(eval_run(&cfg, &test, bad, &r) == CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), "hygiene: false");
    eval_result_free(&r);
    cfg.hygiene = false;
    CHECK_EQ_INT(eval_run(&cfg, &test, bad, &r), CORE_OK);
    CHECK_EQ_INT(r.hygiene_checked, 0);
    eval_result_free(&r);
    free(bad);
    train_model_free(m);
    core_cfg_free(&train_model_schema, &mc);
    train_ckpt_meta_free(&meta);
    eval_set_free(&train);
    eval_set_free(&test);
    core_cfg_free(&eval_schema, &cfg);
}

/* Log-probability of the reply after the context, one position at a time (not the chunked
 * path eval uses), cut as eval cuts them. */
static double slow_logp(train_infer *s, const train_model_cfg *mc, const eval_item *ctx,
                        const eval_item *rep, int max_new, int32_t cls[TRAIN_N_HEADS_PARA],
                        int *ntok)
{
    size_t h, a, r;
    train_sequence_length(ctx->n_history, ctx->frames, (size_t)max_new, (int)mc->max_seq,
                          (int)mc->stack, &h, &a, &r);
    const int S = (int)mc->stack;
    float chunk[16 * TRAIN_N_MELS], logits[TRAIN_VOCAB];
    train_infer_reset(s);
    train_infer_push(s, TRAIN_POS_PERSONA, ctx->persona, 0, NULL);
    for (size_t k = ctx->n_history - h; k < ctx->n_history; k++)
        train_infer_push(s, TRAIN_POS_TOKEN, NULL, ctx->history[k], NULL);
    for (size_t k = 0; k < a; k++) {
        memset(chunk, 0, sizeof chunk);
        for (int f = 0; f < S; f++)
            if (k * (size_t)S + (size_t)f < ctx->frames)
                memcpy(chunk + f * TRAIN_N_MELS, ctx->mel + (k * S + (size_t)f) * TRAIN_N_MELS,
                       TRAIN_N_MELS * sizeof(float));
        train_infer_push(s, TRAIN_POS_AUDIO, chunk, 0, NULL);
    }
    if (cls)
        train_infer_para(s, cls, NULL);
    size_t n = rep->n_reply;
    const int room = (int)mc->max_seq - train_infer_length(s) - 1;
    if ((int)n > room)
        n = room > 0 ? (size_t)room : 0;
    double sum = 0;
    train_infer_push(s, TRAIN_POS_TOKEN, NULL, 256, logits);
    for (size_t j = 0; j <= n; j++) {
        const int32_t target = j < n ? rep->reply[j] : 257;
        double mx = logits[0], se = 0;
        for (int v = 1; v < TRAIN_VOCAB; v++)
            mx = logits[v] > mx ? logits[v] : mx;
        for (int v = 0; v < TRAIN_VOCAB; v++)
            se += exp(logits[v] - mx);
        sum += logits[target] - mx - log(se);
        if (j < n)
            train_infer_push(s, TRAIN_POS_TOKEN, NULL, rep->reply[j], logits);
    }
    *ntok = (int)n + 1;
    return sum;
}

static void test_scores_recomputed(void)
{
    eval_cfg cfg;
    const char *ex[] = {"metrics=paralinguistic,dialogue", "dialogue.candidates=2"};
    CHECK(spec(&cfg, ex, 2));
    eval_set s;
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &s), CORE_OK);
    /* keep two items of one language with different replies: each is the other's only
     * distractor */
    size_t a = 0, b = 1;
    for (b = 1; b < s.n; b++)
        if (s.items[b].lang == s.items[a].lang &&
            (s.items[b].n_reply != s.items[a].n_reply ||
             memcmp(s.items[b].reply, s.items[a].reply, s.items[a].n_reply * sizeof(int32_t))))
            break;
    CHECK(b < s.n);
    if (b >= s.n) {
        eval_set_free(&s);
        core_cfg_free(&eval_schema, &cfg);
        return;
    }
    if (b != 1) {
        eval_item t = s.items[1];
        s.items[1] = s.items[b];
        s.items[b] = t;
    }
    eval_set_truncate(&s, 2);
    eval_result r;
    CHECK_EQ_INT(eval_run(&cfg, &s, ckpt, &r), CORE_OK);
    /* the same numbers, one position at a time */
    train_model_cfg mc;
    train_model *m = NULL;
    train_infer *inf = NULL;
    CHECK_EQ_INT(train_model_cfg_load("model/tiny.yaml", &mc), CORE_OK);
    CHECK_EQ_INT(train_model_create(&mc, 1, &m), CORE_OK);
    CHECK_EQ_INT(train_ckpt_load(ckpt, train_model_params(m), NULL, NULL), CORE_OK);
    CHECK_EQ_INT(train_infer_create(m, &inf), CORE_OK);
    double nll = 0, hits = 0;
    int ntok = 0, n1, n2;
    int32_t cls[2][TRAIN_N_HEADS_PARA];
    for (int i = 0; i < 2; i++) {
        double ref = slow_logp(inf, &mc, &s.items[i], &s.items[i], 24, cls[i], &n1);
        double other = slow_logp(inf, &mc, &s.items[i], &s.items[1 - i], 24, NULL, &n2);
        nll -= ref;
        ntok += n1;
        hits += ref / n1 > other / n2;
    }
    CHECK_EQ_INT(r.dialogue_items, 2);
    CHECK_EQ_INT(r.candidates, 2);
    CHECK_NEAR(r.perplexity, exp(nll / ntok), 1e-4 * exp(nll / ntok));
    CHECK_NEAR(r.hits1.value, 100 * hits / 2, 1e-9);
    /* paralinguistic: per dimension accuracy over the labelled items, and the score the mean */
    double sum = 0;
    int dims = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        int lab = 0, ok = 0;
        for (int i = 0; i < 2; i++)
            if (s.items[i].labels[k] >= 0) {
                lab++;
                ok += cls[i][k] == s.items[i].labels[k];
            }
        CHECK_EQ_INT(r.dims[k].n, lab);
        if (lab) {
            CHECK_NEAR(r.dims[k].accuracy.value, 100.0 * ok / lab, 1e-9);
            sum += 100.0 * ok / lab;
            dims++;
        }
    }
    CHECK_NEAR(r.paralinguistic.value, sum / dims, 1e-9);
    /* dialogue = (hits + cue fit) / 2; overall = the weighted mean of what was measured */
    CHECK_NEAR(r.dialogue.value, (r.hits1.value + r.cue_fit.value) / 2, 1e-9);
    CHECK_NEAR(r.overall.value,
               (0.4 * r.dialogue.value + 0.4 * r.paralinguistic.value) / 0.8, 1e-9);
    CHECK(isnan(r.persona.value) && !r.has_latency);
    eval_result_free(&r);
    /* without a model in the spec, the checkpoint's training config must name one (this
     * test's checkpoints were trained with the config text "sft") */
    free(cfg.model);
    cfg.model = NULL;
    CHECK(eval_run(&cfg, &s, ckpt, &r) == CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "names no model");
    eval_result_free(&r);
    train_infer_free(inf);
    train_model_free(m);
    core_cfg_free(&train_model_schema, &mc);
    eval_set_free(&s);
    core_cfg_free(&eval_schema, &cfg);
}

static void test_latency(void)
{
    eval_cfg cfg;
    const char *ex[] = {"metrics=latency", "latency.items=5"};
    CHECK(spec(&cfg, ex, 2));
    eval_set s;
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &s), CORE_OK);
    eval_result r;
    CHECK_EQ_INT(eval_run(&cfg, &s, ckpt, &r), CORE_OK);
    CHECK(r.has_latency);
    CHECK_EQ_INT(r.latency_n, s.n < 5 ? s.n : 5);
    CHECK(r.latency_p50_ms > 0 && r.latency_p50_ms <= r.latency_p95_ms &&
          r.latency_p95_ms <= r.latency_max_ms);
    uint64_t sum = 0;
    for (int b = 0; b < EVAL_LAT_BINS; b++)
        sum += r.lat_hist[b];
    CHECK_EQ_INT(sum, r.latency_n);
    CHECK(r.lat_edges_ms[EVAL_LAT_BINS] >= r.latency_max_ms);
    CHECK(r.rtf > 0);
    CHECK(strlen(r.machine) > 0);
    /* nothing else measured: no scores */
    CHECK(isnan(r.overall.value) && isnan(r.paralinguistic.value) && isnan(r.dialogue.value));
    eval_result_free(&r);
    eval_set_free(&s);
    core_cfg_free(&eval_schema, &cfg);
}

static void test_report_deterministic(void)
{
    eval_cfg cfg;
    const char *ex[] = {"metrics=paralinguistic,dialogue,persona", "data.items=6"};
    CHECK(spec(&cfg, ex, 2));
    eval_set s;
    CHECK_EQ_INT(eval_set_from_corpus(corpus, "test", personas, &s), CORE_OK);
    eval_set_truncate(&s, 6);
    eval_result r[2];
    CHECK_EQ_INT(eval_run(&cfg, &s, ckpt, &r[0]), CORE_OK);
    CHECK_EQ_INT(eval_run(&cfg, &s, ckpt, &r[1]), CORE_OK);
    CHECK_EQ_INT(r[0].drift_turns, 3);
    CHECK(r[0].drift_dialogues > 0);
    for (int t = 0; t < 3; t++)
        CHECK(r[0].drift[t] >= 0 && r[0].drift[t] <= 100);
    CHECK(r[0].persona.value >= 0 && r[0].persona.value <= 100);
    /* persona = mean over dialogues of (prompt-line + line-line) / 2, and prompt-line the mean
     * of the drift curve (every dialogue has every turn) */
    CHECK_NEAR(r[0].persona.value, (r[0].prompt_line.value + r[0].line_line.value) / 2, 1e-9);
    CHECK_NEAR(r[0].prompt_line.value, (r[0].drift[0] + r[0].drift[1] + r[0].drift[2]) / 3, 1e-9);
    CHECK(r[0].overall.lo <= r[0].overall.value && r[0].overall.value <= r[0].overall.hi);
    eval_report one = {&cfg, &s, &r[0], 1, NULL, false}, two = {&cfg, &s, &r[1], 1, NULL, false};
    char *j1 = eval_report_json(&one), *j2 = eval_report_json(&two);
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    /* a reference table: within the tolerance, and outside it */
    cfg.ref[0][0] = r[0].overall.value + 1.0;
    cfg.n_ref[0] = 1;
    cfg.tolerance = 2.0;
    CHECK(eval_report_within(&one, 0));
    cfg.ref[0][0] = r[0].overall.value + 3.0;
    CHECK(!eval_report_within(&one, 0));
    /* one value per checkpoint, in order */
    eval_result both[2] = {r[0], r[1]};
    both[1].overall.value += 10;
    eval_report pair = {&cfg, &s, both, 2, NULL, false};
    cfg.ref[0][0] = r[0].overall.value;
    cfg.ref[0][1] = r[0].overall.value + 10;
    cfg.n_ref[0] = 2;
    CHECK(eval_report_within(&pair, 0) && eval_report_within(&pair, 1));
    cfg.ref[0][1] = r[0].overall.value;
    CHECK(eval_report_within(&pair, 0) && !eval_report_within(&pair, 1));
    free(j1);
    free(j2);
    eval_result_free(&r[0]);
    eval_result_free(&r[1]);
    eval_set_free(&s);
    core_cfg_free(&eval_schema, &cfg);
}

/* The command as a user meets it: the table, the reports, the reference and the errors. */
static void test_cli(void)
{
    char *exe = core_exe_dir();
    char *base = core_sprintf("%s/../troupe eval --bench configs/eval/default.yaml --set "
                              "data.corpus=%s --set data.personas=%s --set model=model/tiny.yaml "
                              "--set data.items=4 --set persona.dialogues=1 --set persona.turns=2 "
                              "--set dialogue.max_new=16 --set latency.items=2 --set bootstrap=50",
                              exe, corpus, personas);
    char *cmd, *o = NULL;
    /* two checkpoints side by side, the reports written */
    cmd = core_sprintf("%s --checkpoint %s --checkpoint %s -o %s/rep", base, ckpt, ckpt, tmpdir);
    CHECK_EQ_INT(test_run(cmd, &o), 0);
    CHECK_CONTAINS(o, "general dialogue");
    CHECK_CONTAINS(o, "report.json");
    free(cmd);
    free(o);
    char *path = core_sprintf("%s/rep/report.json", tmpdir);
    CHECK(access(path, R_OK) == 0);
    free(path);
    path = core_sprintf("%s/rep/report.md", tmpdir);
    CHECK(access(path, R_OK) == 0);
    free(path);
    /* a reference the checkpoint cannot meet: exit 1, and the table says so */
    cmd = core_sprintf("%s --set reference.overall=100 --set reference.tolerance=0.5 "
                       "--checkpoint %s -o %s/rep2 --no-plots",
                       base, ckpt, tmpdir);
    CHECK_EQ_INT(test_run(cmd, &o), 1);
    CHECK_CONTAINS(o, "OUTSIDE");
    CHECK_CONTAINS(o, "outside the reference tolerance");
    free(cmd);
    free(o);
    /* another set than the spec names */
    cmd = core_sprintf("%s --set data.sha256=%064d --checkpoint %s -o %s/rep3", base, 0, ckpt,
                       tmpdir);
    CHECK_EQ_INT(test_run(cmd, &o), 1);
    CHECK_CONTAINS(o, "not the set the benchmark names");
    free(cmd);
    free(o);
    /* an unknown metric, a missing checkpoint, no checkpoint */
    cmd = core_sprintf("%s --set metrics=paralinguistic,vibes --checkpoint %s", base, ckpt);
    CHECK_EQ_INT(test_run(cmd, &o), 2);
    CHECK_CONTAINS(o, "unknown metric 'vibes'");
    free(cmd);
    free(o);
    cmd = core_sprintf("%s --checkpoint %s/nope.h5", base, tmpdir);
    CHECK_EQ_INT(test_run(cmd, &o), 2);
    CHECK_CONTAINS(o, "nope.h5");
    free(cmd);
    free(o);
    CHECK_EQ_INT(test_run(base, &o), 2);
    CHECK_CONTAINS(o, "give at least one --checkpoint");
    free(o);
    free(base);
    free(exe);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "eval"))
        return 1;
    if (setup() != 0) {
        printf("setup failed: %s\n", core_error_message());
        return 1;
    }
    RUN(test_metrics_by_hand);
    RUN(test_corpus_set);
    RUN(test_hygiene);
    RUN(test_scores_recomputed);
    RUN(test_latency);
    RUN(test_report_deterministic);
    RUN(test_cli);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
