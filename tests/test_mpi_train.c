/* Tests of data-parallel training under mpirun -np 2 (docs/distributed.md): 2 ranks equal
 * 1 rank with the same global batch (within float reassociation; bitwise in deterministic
 * mode, also over the TCP transport), ZeRO-1 equals plain data parallel, a rank killed by
 * SIGKILL stops the job with its name and the run resumes (with a different number of
 * ranks) to a byte-identical checkpoint, a hung rank stops the job within the timeout;
 * DPO (rlhf/) on 2 ranks equals 1 rank.
 * Runs the troupe binary; needs mpirun (openmpi-bin), espeak-ng and sox. */
#include "train/train.h"
#include "tests/runner.h"
#include "tests/train_corpus.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256], personas[400], corpus[400], troupe[4096];

/* Runs `troupe train` for `steps` steps into TMPDIR/name with `np` ranks (0: no mpirun),
 * extra words (--set ... or environment) in `pre` and `post`. Returns the exit code. */
static int train(const char *name, int np, const char *pre, const char *post, int steps,
                 char **out)
{
    char launcher[512] = "";
    if (np > 0)
        snprintf(launcher, sizeof launcher, TEST_MPIRUN "-np %d ", np);
    char *cmd = core_sprintf(
        "%s %s%s train --set data.corpus=%s --set data.personas=%s --set output=%s/%s "
        "--set model=model/tiny.yaml --set batch=2 --set accumulate=2 --set max_steps=%d "
        "--set eval.every=4 --set eval.batches=2 --set checkpoint.every=2 --set optim.lr=0.003 "
        "--set optim.warmup=2 --set threads=1 --set dist.bucket_mb=0.25 %s",
        pre, launcher, troupe, corpus, personas, tmpdir, name, steps, post);
    char *o = NULL;
    int rc = test_run(cmd, &o);
    if (rc != 0 && !out)
        printf("  %s\n  exit %d:\n%s\n", cmd, rc, o ? o : "");
    free(cmd);
    if (out)
        *out = o;
    else
        free(o);
    return rc;
}

static train_model *tiny(void)
{
    train_model_cfg mc;
    char *p = core_sprintf("%s/model/tiny.yaml", core_config_dir());
    train_model *m = NULL;
    if (core_cfg_load(&train_model_schema, p, NULL, 0, &mc) == CORE_OK) {
        train_model_create(&mc, 1, &m);
        core_cfg_free(&train_model_schema, &mc);
    }
    free(p);
    return m;
}

/* The largest relative difference between the parameters of two runs' last.h5. */
static double max_rel_diff(const char *a, const char *b)
{
    train_model *ma = tiny(), *mb = tiny();
    double worst = INFINITY;
    char *pa = core_sprintf("%s/%s/checkpoints/last.h5", tmpdir, a);
    char *pb = core_sprintf("%s/%s/checkpoints/last.h5", tmpdir, b);
    train_ckpt_meta x = {0}, y = {0};
    if (ma && mb && train_ckpt_load(pa, train_model_params(ma), NULL, &x) == CORE_OK &&
        train_ckpt_load(pb, train_model_params(mb), NULL, &y) == CORE_OK) {
        const train_params *p = train_model_params(ma), *q = train_model_params(mb);
        worst = 0;
        for (size_t i = 0; i < p->count; i++) {
            double d = fabs((double)p->data[i] - q->data[i]);
            double s = fmax(fmax(fabs(p->data[i]), fabs(q->data[i])), 1e-2);
            if (d / s > worst)
                worst = d / s;
        }
    }
    train_ckpt_meta_free(&x);
    train_ckpt_meta_free(&y);
    train_model_free(ma);
    train_model_free(mb);
    free(pa);
    free(pb);
    return worst;
}

/* Whether two runs' last.h5 hold bitwise the same training state: parameters, AdamW moments
 * and step, data cursor, RNG and best validation loss. (The files differ in the config they
 * record: the output folder.) */
static bool same_state(const char *a, const char *b)
{
    train_model *ma = tiny(), *mb = tiny();
    train_adamw oa = {0}, ob = {0};
    train_ckpt_meta x = {0}, y = {0};
    char *pa = core_sprintf("%s/%s/checkpoints/last.h5", tmpdir, a);
    char *pb = core_sprintf("%s/%s/checkpoints/last.h5", tmpdir, b);
    bool same = false;
    if (ma && mb && train_adamw_init(&oa, train_model_params(ma)) == CORE_OK &&
        train_adamw_init(&ob, train_model_params(mb)) == CORE_OK &&
        train_ckpt_load(pa, train_model_params(ma), &oa, &x) == CORE_OK &&
        train_ckpt_load(pb, train_model_params(mb), &ob, &y) == CORE_OK) {
        const size_t n = train_model_params(ma)->count * sizeof(float);
        same = !memcmp(train_model_params(ma)->data, train_model_params(mb)->data, n) &&
               !memcmp(oa.m.data, ob.m.data, n) && !memcmp(oa.v.data, ob.v.data, n) &&
               oa.step == ob.step && x.step == y.step && !memcmp(x.cursor, y.cursor, sizeof x.cursor) &&
               !memcmp(&x.rng, &y.rng, sizeof x.rng) && x.best_val_loss == y.best_val_loss;
    }
    train_ckpt_meta_free(&x);
    train_ckpt_meta_free(&y);
    train_adamw_free(&oa);
    train_adamw_free(&ob);
    train_model_free(ma);
    train_model_free(mb);
    free(pa);
    free(pb);
    return same;
}

static void test_two_ranks_equal_one_rank_within_reassociation(void)
{
    CHECK_EQ_INT(train("one", 0, "", "", 6, NULL), 0);
    CHECK_EQ_INT(train("two", 2, "", "", 6, NULL), 0);
    double d = max_rel_diff("one", "two");
    printf("  largest relative parameter difference after 6 steps, 1 vs 2 ranks: %.3g\n", d);
    CHECK(d < 1e-3);
    }

static void test_deterministic_mode_is_bitwise_independent_of_ranks(void)
{
    const char *det = "--set dist.deterministic=true";
    CHECK_EQ_INT(train("det-one", 0, "", det, 6, NULL), 0);
    CHECK_EQ_INT(train("det-two", 2, "", det, 6, NULL), 0);
    CHECK(same_state("det-one", "det-two"));
    /* the same over the TCP transport (what `--mca btl tcp,self` selects) */
    CHECK_EQ_INT(train("det-tcp", 2, "OMPI_MCA_btl=tcp,self", det, 6, NULL), 0);
    CHECK(same_state("det-one", "det-tcp"));
}

static void test_zero1_equals_plain_data_parallel(void)
{
    CHECK_EQ_INT(train("zero", 2, "", "--set dist.zero1=true", 6, NULL), 0);
    double d = max_rel_diff("two", "zero");
    printf("  largest relative parameter difference, ZeRO-1 vs plain data parallel: %.3g\n", d);
    CHECK(d < 1e-3);
    /* the checkpoint holds the whole optimizer state: resuming it without ZeRO works */
    CHECK_EQ_INT(train("zero", 0, "", "--resume auto", 8, NULL), 0);
}

static void test_killed_rank_stops_the_job_and_the_run_resumes_identically(void)
{
    const char *det = "--set dist.deterministic=true";
    char *out = NULL;
    double t0 = core_now();
    int rc = train("killed", 2, "TROUPE_FAULT=kill:1:5", det, 6, &out);
    double dt = core_now() - t0;
    CHECK(rc != 0);
    CHECK(dt < 60);
    CHECK_CONTAINS(out, "rank 1");
    free(out);
    /* step 4's checkpoint survived; resume with one rank instead of two */
    char *p = core_sprintf("%s/killed/checkpoints/step-00000004.h5", tmpdir);
    CHECK(access(p, F_OK) == 0);
    free(p);
    CHECK_EQ_INT(train("killed", 0, "", "--set dist.deterministic=true --resume auto", 6, &out), 0);
    CHECK_CONTAINS(out, "resumed at step 4");
    free(out);
    CHECK(same_state("det-two", "killed"));
}

static void test_hung_rank_stops_the_job_naming_it(void)
{
    char *out = NULL;
    double t0 = core_now();
    int rc = train("hung", 2, "TROUPE_FAULT=hang:1:3", "--set dist.timeout=3", 6, &out);
    double dt = core_now() - t0;
    CHECK(rc != 0);
    CHECK(dt < 60);
    CHECK_CONTAINS(out, "rank 1 (last seen at step 2) did not arrive within 3 s");
    free(out);
}

/* DPO from the "one" run's checkpoint, with 0 (no mpirun) or np ranks. */
static int dpo(const char *name, int np)
{
    char launcher[512] = "";
    if (np > 0)
        snprintf(launcher, sizeof launcher, TEST_MPIRUN "-np %d ", np);
    char *cmd = core_sprintf(
        "%s%s rlhf dpo --set init=%s/one/checkpoints/last.h5 --set data.prefs=%s/prefs.h5 "
        "--set data.personas=%s --set output=%s/%s --set model=model/tiny.yaml --set batch=2 "
        "--set accumulate=2 --set max_steps=4 --set threads=1 --set eval.generate=0 "
        "--set eval.every=0 --set checkpoint.every=0 --set optim.lr=0.001 "
        "--set dist.bucket_mb=0.25",
        launcher, troupe, tmpdir, tmpdir, personas, tmpdir, name);
    char *o = NULL;
    int rc = test_run(cmd, &o);
    if (rc != 0)
        printf("  %s\n  exit %d:\n%s\n", cmd, rc, o ? o : "");
    free(cmd);
    free(o);
    return rc;
}

static void test_dpo_two_ranks_equal_one_rank(void)
{
    char *cmd = core_sprintf("%s rlhf synth-prefs --corpus %s --personas %s -o %s/prefs.h5",
                             troupe, corpus, personas, tmpdir);
    char *o = NULL;
    CHECK_EQ_INT(test_run(cmd, &o), 0);
    free(o);
    free(cmd);
    CHECK_EQ_INT(dpo("dpo-one", 0), 0);
    CHECK_EQ_INT(dpo("dpo-two", 2), 0);
    double d = max_rel_diff("dpo-one", "dpo-two");
    printf("  largest relative parameter difference after 4 DPO steps, 1 vs 2 ranks: %.3g\n", d);
    CHECK(d < 1e-3);
}

static void test_accumulate_must_split_into_whole_micro_batches(void)
{
    char *out = NULL;
    CHECK_EQ_INT(train("odd", 2, "", "--set accumulate=3", 2, &out), 1);
    CHECK_CONTAINS(out, "accumulate = 3 is not a multiple of the 2 ranks");
    free(out);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "mpi"))
        return 1;
    if (!test_troupe_binary(troupe, sizeof troupe))
        return 1;
    if (test_train_corpus(tmpdir, personas, sizeof personas, corpus, sizeof corpus) != 0) {
        printf("cannot make the test corpus: %s\n", core_error_message());
        return 1;
    }
    RUN(test_two_ranks_equal_one_rank_within_reassociation);
    RUN(test_deterministic_mode_is_bitwise_independent_of_ranks);
    RUN(test_zero1_equals_plain_data_parallel);
    RUN(test_killed_rank_stops_the_job_and_the_run_resumes_identically);
    RUN(test_hung_rank_stops_the_job_naming_it);
    RUN(test_accumulate_must_split_into_whole_micro_batches);
    RUN(test_dpo_two_ranks_equal_one_rank);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
