/* The reward model's target, end to end (issue 8, docs/rlhf.md "How far it gets"): from
 * nothing, the shipped roles are composed and expanded, a corpus ten times the demo's is
 * synthesised (3,000 dialogues, espeak-ng and sox) and ingested, the `mini` model is trained
 * on it (SFT), the judge labels the synthetic preference pairs, and the reward model trained
 * from the SFT checkpoint with the defaults of configs/rlhf/reward.yaml must rank >= 90% of
 * the held-out pairs right, every held-out pair counted.
 *
 * Too long for `make test` (about 16 minutes on 2 cores): `make test-long` runs it, and
 * .ci/run runs `make test-long` last. Runs the troupe binary, the two
 * training runs under mpirun -np 2 (as make demo does); needs openmpi-bin, espeak-ng, sox.
 * TROUPE_LONG_KEEP=1 keeps the working folder (its path is printed). */
#include "core/core.h"
#include "tests/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the held-out accuracy the issue asks of the reward model */
#define TARGET 0.90

static char tmpdir[256], troupe[4096];

/* Runs one stage: the troupe binary with `args` (taken and freed), `launcher` before it;
 * prints the time it took, the output lines that start with `show` (NULL: none) and, on
 * failure, the command and all its output. The output goes to *out (malloc'd) when out is
 * not NULL. Returns whether the command succeeded. */
static bool stage(const char *what, const char *launcher, const char *show, char *args, char **out)
{
    char *cmd = core_sprintf("%s%s %s", launcher, troupe, args);
    char *o = NULL;
    double t0 = core_now();
    int rc = test_run(cmd, &o);
    printf("  %s: %.0f s\n", what, core_now() - t0);
    if (rc != 0)
        printf("  %s\n  exit %d:\n%s\n", cmd, rc, o ? o : "");
    for (const char *l = o; rc == 0 && show && l && *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (!strncmp(l, show, strlen(show)))
            printf("    %.*s\n", (int)n, l);
        l = e ? e + 1 : l + n;
    }
    fflush(stdout);
    CHECK_EQ_INT(rc, 0);
    if (out)
        *out = o;
    else
        free(o);
    free(cmd);
    free(args);
    return rc == 0;
}

static void test_reward_model_reaches_the_target_on_the_10x_corpus(void)
{
    const char *d = tmpdir;
    if (!stage("compose the roles", "", NULL, core_sprintf("persona author -o %s/roles", d),
               NULL) ||
        !stage("expand them into personas.h5", "", NULL,
               core_sprintf("persona build --roles %s/roles -o %s/personas.h5", d, d), NULL) ||
        !stage("synthesise 3,000 dialogues", "", "data synth: 3000",
               core_sprintf("data synth --personas %s/personas.h5 -o %s/synth "
                            "--set dialogues=3000 --set problems=false",
                            d, d),
               NULL) ||
        !stage("ingest them", "", NULL,
               core_sprintf("data ingest %s/synth/train %s/synth/validation %s/synth/test "
                            "--keyring %s/synth/keyring.yaml --revocations %s/synth/revocations "
                            "--purpose training,paralinguistic_modelling --territory GB "
                            "--allow-synthetic --at 2026-11-23T12:00:00Z -o %s/corpus",
                            d, d, d, d, d, d),
               NULL))
        return;
    /* SFT: 1,500 steps of 16 sequences (8 a rank), lr 0.003 */
    if (!stage("SFT, mpirun -np 2", TEST_MPIRUN "-np 2 ", "train: ",
               core_sprintf("train --set model=model/mini.yaml --set data.corpus=%s/corpus "
                            "--set data.personas=%s/personas.h5 --set output=%s/sft "
                            "--set batch=8 --set accumulate=2 --set max_steps=1500 "
                            "--set optim.lr=0.003 --set optim.warmup=50 --set eval.every=500 "
                            "--set checkpoint.every=0 --set threads=1",
                            d, d, d),
               NULL) ||
        !stage("label the synthetic preference pairs", "", "rlhf synth-prefs: ",
               core_sprintf("rlhf synth-prefs --corpus %s/corpus --personas %s/personas.h5 "
                            "--seed 1 -o %s/prefs.h5",
                            d, d, d),
               NULL))
        return;
    /* the reward model: configs/rlhf/reward.yaml's defaults for 3,000 steps of 8 pairs (4 a
     * rank); eval.items covers every held-out pair */
    char *o = NULL;
    if (!stage("reward model, mpirun -np 2", TEST_MPIRUN "-np 2 ", "rlhf reward: ",
               core_sprintf("rlhf reward %s/rlhf/reward.yaml --set model=model/mini.yaml "
                            "--set init=%s/sft/checkpoints/last.h5 --set data.prefs=%s/prefs.h5 "
                            "--set data.personas=%s/personas.h5 --set output=%s/reward "
                            "--set batch=4 --set accumulate=2 --set max_steps=3000 "
                            "--set optim.warmup=2 --set eval.every=500 --set eval.items=100000 "
                            "--set checkpoint.every=0 --set threads=1",
                            core_config_dir(), d, d, d, d),
               &o))
        return;
    const char *h = strstr(o, "held-out accuracy ");
    double before = -1, after = -1, text = -1, cue = -1;
    CHECK(h != NULL);
    if (h)
        CHECK_EQ_INT(sscanf(h,
                            "held-out accuracy %lf -> %lf (pairs the reply's text decides "
                            "%*f -> %lf, pairs only the user's audio decides %*f -> %lf",
                            &before, &after, &text, &cue),
                     4);
    printf("    held-out accuracy %.3f (target %.2f; text decides %.3f, audio decides %.3f)\n",
           after, TARGET, text, cue);
    CHECK(after >= TARGET);
    CHECK(after > before);
    free(o);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "long"))
        return 1;
    if (!test_troupe_binary(troupe, sizeof troupe))
        return 1;
    printf("  working folder %s\n", tmpdir);
    RUN(test_reward_model_reaches_the_target_on_the_10x_corpus);
    const char *keep = getenv("TROUPE_LONG_KEEP");
    if (!keep || strcmp(keep, "1"))
        core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
