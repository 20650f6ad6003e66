/* Tests of the embedded corpus generator: a small corpus audited end to end, each planted
 * problem caught by exactly the check meant for it, everything else admitted, splits
 * disjoint by voice, and byte-identical output for a seed whatever the thread count.
 * Needs espeak-ng and sox (installed by make deps). */
#include "data/data.h"
#include "persona/persona.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <unistd.h>

static char tmpdir[256];
static char personas[400];

static void write_role(const char *dir, const char *id, const char *langs)
{
    char *p = core_sprintf("%s/%s.yaml", dir, id);
    FILE *f = fopen(p, "w");
    fprintf(f,
            "schema: \"troupe.role/1\"\nid: \"%s\"\nnames: {en: \"Test\", zh: \"测试\"}\n"
            "archetype: \"assistant\"\noccupation: \"IT support engineer\"\n"
            "description: \"A patient engineer who explains one step at a time.\"\n"
            "languages: [%s]\n"
            "traits: {openness: 0.6, conscientiousness: 0.9, extraversion: 0.3, agreeableness: "
            "0.8, neuroticism: 0.1}\n"
            "style: {formality: 0.7, warmth: 0.8, energy: 0.4, verbosity: 0.5, humour: 0.3, "
            "empathy: 0.9, assertiveness: 0.4}\n"
            "prosody: {pitch_offset_st: -1.0, pitch_range_st: 5, speech_rate_wpm: 135, "
            "pause_rate_pm: 14, loudness_db: -1}\n"
            "emotion: {baseline: \"calm\", range: [\"calm\", \"neutral\"]}\n"
            "scenes: [\"office\"]\ncatchphrases: [\"One step at a time.\", \"我们一步一步来。\"]\n"
            "taboos: [\"never blames the user\"]\ndomains: [\"networking\"]\n"
            "provenance: {author: \"tests\", licence: \"CC-BY-4.0\", created_at: "
            "\"2026-11-23T00:00:00Z\", parent: null}\n",
            id, langs);
    fclose(f);
    free(p);
}

static data_synth_cfg synth_cfg(const char *threads)
{
    data_synth_cfg c;
    const char *sets[] = {"dialogues=8", "turns.min=1", "turns.max=2", threads};
    CHECK_EQ_INT(core_cfg_load(&data_synth_schema, NULL, sets, 4, &c), CORE_OK);
    return c;
}

static void test_synth_corpus_passes_audit_except_each_planted_problem(void)
{
    data_synth_cfg c = synth_cfg("threads=2");
    char *out = core_sprintf("%s/corpus", tmpdir);
    data_synth_stats s;
    core_status st = data_synth(&c, personas, out, &s);
    CHECK_EQ_INT(st, CORE_OK);
    if (st != CORE_OK) {
        printf("    %s\n", core_error_message());
        free(out);
        core_cfg_free(&data_synth_schema, &c);
        return;
    }
    CHECK_EQ_INT(s.dialogues, 8);
    CHECK_EQ_INT(s.planted, 6);
    CHECK(s.per_split[0] > 0 && s.per_split[1] > 0 && s.per_split[2] > 0);
    char *b[3] = {core_sprintf("%s/train", out), core_sprintf("%s/validation", out),
                  core_sprintf("%s/test", out)};
    data_options o = {.keyring = NULL};
    char *kr = core_sprintf("%s/keyring.yaml", out), *rv = core_sprintf("%s/revocations", out);
    o.keyring = kr;
    o.revocations = rv;
    data_purposes_parse("training,paralinguistic_modelling", &o.use.purposes);
    memcpy(o.use.territory, "GB", 3);
    o.use.allow_synthetic = true;
    o.use.horizon_days = 90;
    data_time_parse("2026-11-23T12:00:00Z", &o.use.at);
    data_audit a;
    CHECK_EQ_INT(data_audit_run((const char *const *)b, 3, &o, &a), CORE_OK);
    CHECK_EQ_INT(a.n_rec, s.utterances);
    CHECK_EQ_INT(a.excluded, 6);
    for (size_t i = 0; i < a.n_rec; i++) {
        const data_recording_outcome *r = &a.rec[i];
        const char *planted = strstr(r->recording_id, "problem-");
        if (planted) {
            const char *want = data_synth_problem_code(atoi(planted + 8));
            CHECK(!r->admitted);
            CHECK_STR(r->codes, want); /* that check and no other */
        } else if (!r->admitted) {
            printf("    %s excluded: %s (%s)\n", r->recording_id, r->codes, r->explanation);
            CHECK(r->admitted);
        }
    }
    /* Without the synthetic-speech policy flag nothing is admitted. */
    data_audit_free(&a);
    o.use.allow_synthetic = false;
    CHECK_EQ_INT(data_audit_run((const char *const *)b, 3, &o, &a), CORE_OK);
    CHECK_EQ_INT(a.admitted, 0);
    data_audit_free(&a);
    for (int k = 0; k < 3; k++)
        free(b[k]);
    free(kr);
    free(rv);
    free(out);
    core_cfg_free(&data_synth_schema, &c);
}

static void test_synth_splits_are_disjoint_by_voice(void)
{
    char *out = core_sprintf("%s/corpus", tmpdir);
    const char *names[3] = {"train", "validation", "test"};
    char *voices[3];
    for (int k = 0; k < 3; k++) {
        char *cmd = core_sprintf("grep -h 'speaker_id' %s/%s/manifest.yaml | sed 's/-donor//' | "
                                 "sort -u",
                                 out, names[k]);
        FILE *p = popen(cmd, "r");
        char buf[8192] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = '\0';
        pclose(p);
        voices[k] = strdup(buf);
        free(cmd);
        CHECK(n > 0);
    }
    /* no speaker line of validation or test appears in train */
    for (int k = 1; k < 3; k++) {
        char *save, *line = strtok_r(voices[k], "\n", &save);
        while (line) {
            CHECK(!strstr(voices[0], line));
            line = strtok_r(NULL, "\n", &save);
        }
    }
    for (int k = 0; k < 3; k++)
        free(voices[k]);
    free(out);
}

static void test_synth_is_byte_identical_whatever_the_thread_count(void)
{
    data_synth_cfg c = synth_cfg("threads=1");
    char *out = core_sprintf("%s/corpus-1", tmpdir);
    data_synth_stats s;
    CHECK_EQ_INT(data_synth(&c, personas, out, &s), CORE_OK);
    char *cmd = core_sprintf("diff -r %s/corpus %s >/dev/null", tmpdir, out);
    CHECK_EQ_INT(system(cmd), 0);
    free(cmd);
    /* and refuses to overwrite */
    CHECK_EQ_INT(data_synth(&c, personas, out, &s), CORE_ERR_USAGE);
    free(out);
    core_cfg_free(&data_synth_schema, &c);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "synth"))
        return 1;
    core_log_set_level(CORE_LOG_ERROR);
    char *roles = core_sprintf("%s/roles", tmpdir);
    core_mkdir_p(roles);
    write_role(roles, "synth-en", "\"en\"");
    write_role(roles, "synth-both", "\"en\", \"zh\"");
    write_role(roles, "synth-zh", "\"zh\"");
    persona_set set;
    persona_expand_cfg ec;
    const char *sets[] = {"axes=language,emotion"};
    snprintf(personas, sizeof personas, "%s/personas.h5", tmpdir);
    persona_build_stats bs;
    if (persona_set_load(roles, &set, NULL) != CORE_OK ||
        core_cfg_load(&persona_expand_schema, NULL, sets, 1, &ec) != CORE_OK ||
        persona_build(&ec, NULL, &set, NULL, 0, personas, &bs) != CORE_OK) {
        printf("cannot build the test personas: %s\n", core_error_message());
        return 1;
    }
    persona_set_free(&set);
    core_cfg_free(&persona_expand_schema, &ec);
    free(roles);
    RUN(test_synth_corpus_passes_audit_except_each_planted_problem);
    RUN(test_synth_splits_are_disjoint_by_voice);
    RUN(test_synth_is_byte_identical_whatever_the_thread_count);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
