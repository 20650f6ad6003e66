/* Tests of preference data (rlhf/prefs.c): troupe.prefs/1 YAML ingest (valid files, ranked
 * lists, every problem named with file and line), synthetic pairs for a small corpus that
 * the judge orders correctly, and the prefs.h5 reader. */
#include "core/core.h"
#include "tests/runner.h"
#include "tests/train_corpus.h"
#include "rlhf/rlhf.h"

#include <sndfile.h>
#include <math.h>

static char tmp[512], personas[1024], corpus[1024];
static uint64_t a_persona; /* an id of personas.h5 */
static char wav_sha[CORE_SHA256_HEX];

/* A 0.6 s 22.05 kHz stereo sine (resampled and downmixed by the pipeline). */
static int write_wav(const char *path)
{
    SF_INFO info = {.samplerate = 22050, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        return 1;
    enum { N = 13230 };
    static short x[N * 2];
    for (int i = 0; i < N; i++)
        x[2 * i] = x[2 * i + 1] = (short)(8000 * sin(2 * M_PI * 220.0 * i / 22050.0));
    sf_writef_short(f, x, N);
    sf_close(f);
    uint8_t h[32];
    if (core_sha256_file(path, h, NULL) != CORE_OK)
        return 1;
    core_hex(wav_sha, h, 32);
    return 0;
}

static char *write_file(const char *name, const char *text)
{
    char *p = core_sprintf("%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static char *valid_yaml(void)
{
    return core_sprintf(
        "schema: \"troupe.prefs/1\"\n"
        "producer: \"acme-annotation\"\n"
        "created_at: \"2026-11-23T12:00:00Z\"\n"
        "items:\n"
        "  - persona_id: \"%llu\"\n"
        "    context:\n"
        "      history: \"My wifi stopped working. || Please restart the router.\"\n"
        "      audio: {path: \"audio/u1.wav\", sha256: \"%s\"}\n"
        "      lang: \"en\"\n"
        "      turn: \"1\"\n"
        "      cue: {emotion: \"angry\", laughter: \"false\", hesitation: \"false\", speed: "
        "\"normal\"}\n"
        "    chosen: \"I am sorry about this. Please check the cable.\"\n"
        "    rejected: \"Check the cable.\"\n"
        "    reason: \"ignored_cue\"\n"
        "    annotator: {pseudonym: \"ann-07\", consent_ref: \"consent-ann-07\", licence: "
        "\"CC-BY-4.0\"}\n"
        "  - persona_id: \"%llu\"\n"
        "    split: \"validation\"\n"
        "    context:\n"
        "      audio: {path: \"audio/u1.wav\", sha256: \"%s\"}\n"
        "      lang: \"en\"\n"
        "      turn: \"0\"\n"
        "      cue: {emotion: \"neutral\", speed: \"fast\"}\n"
        "    ranked: [\"In short: restart it.\", \"Restart it.\", \"Whatever.\"]\n"
        "    reason: \"out_of_character\"\n"
        "    annotator: {pseudonym: \"ann-09\", consent_ref: \"consent-ann-09\", licence: "
        "\"CC-BY-4.0\"}\n",
        (unsigned long long)a_persona, wav_sha, (unsigned long long)a_persona, wav_sha);
}

static void test_ingest_valid_file_writes_pairs_with_provenance(void)
{
    char *y = valid_yaml();
    char *path = write_file("prefs.yaml", y);
    char *out = core_sprintf("%s/human.h5", tmp);
    persona_problems probs = {0};
    rlhf_prefs_stats s;
    core_status st = rlhf_prefs_ingest(path, personas, out, &probs, &s);
    CHECK_EQ_INT(st, CORE_OK);
    if (st != CORE_OK)
        printf("    %s\n", core_error_message());
    CHECK_EQ_INT(probs.n, 0);
    CHECK_EQ_INT(s.items, 2);
    CHECK_EQ_INT(s.pairs, 1 + 3); /* a ranked list of 3 gives 3 pairs */
    CHECK_EQ_INT(s.per_split[1], 3);
    rlhf_prefs *p = NULL;
    st = rlhf_prefs_open(out, personas, &p);
    CHECK_EQ_INT(st, CORE_OK);
    if (p) {
        CHECK_EQ_INT(rlhf_prefs_count(p), 4);
        const rlhf_pair *x = rlhf_prefs_get(p, 0);
        CHECK_EQ_INT(x->persona_id, a_persona);
        CHECK_EQ_INT(x->cue.emotion, 5);
        CHECK_EQ_INT(x->turn, 1);
        CHECK_STR(x->reason, "ignored_cue");
        CHECK_EQ_INT(x->frames, 9600 / 160); /* 0.6 s at 16 kHz */
        CHECK_EQ_INT(x->n_chosen, strlen("I am sorry about this. Please check the cable."));
        CHECK_EQ_INT(x->chosen[0], 'I');
        CHECK(x->n_history > 0 && x->history[0] == 'M');
        CHECK(x->persona[0] != 0 || x->persona[1] != 0);
        CHECK_EQ_INT(rlhf_prefs_split(p, 0), 0);
        CHECK_EQ_INT(rlhf_prefs_split(p, 3), 1);
        CHECK_STR(rlhf_prefs_annotator(p, 0), "ann-07");
        CHECK_STR(rlhf_prefs_licence(p, 0), "CC-BY-4.0");
        CHECK_STR(rlhf_prefs_source(p, 0), wav_sha);
        CHECK(!rlhf_prefs_synthetic(p, 0));
        /* ranked: (1st, 2nd), (1st, 3rd), (2nd, 3rd) */
        const rlhf_pair *r3 = rlhf_prefs_get(p, 3);
        CHECK_EQ_INT(r3->chosen[0], 'R');
        CHECK_EQ_INT(r3->rejected[0], 'W');
        CHECK_EQ_INT(r3->cue.speed, 2);
        size_t nc;
        const char *const *c = rlhf_prefs_consents(p, &nc);
        CHECK_EQ_INT(nc, 2);
        CHECK_STR(c[0], "consent-ann-07");
        CHECK_CONTAINS(rlhf_prefs_id(p), "sha256:");
        CHECK_CONTAINS(rlhf_prefs_id(p), "human.h5");
    }
    rlhf_prefs_free(p);
    persona_problems_free(&probs);
    free(y);
    free(path);
    free(out);
}

/* One file with many problems: every one is reported, each naming the file and its line. */
static void test_ingest_reports_every_problem_with_file_and_line(void)
{
    char *y = valid_yaml();
    /* line 8: a wrong hash; line 11: an unknown emotion; line 14: a misspelt reason;
     * line 5 persona unknown (item 2 keeps its own); plus an unknown key on a new line 16 */
    char *bad = core_sprintf("%s", y);
    char *h = strstr(bad, wav_sha);
    memcpy(h, "00", 2);
    char *e = strstr(bad, "\"angry\"");
    memcpy(e, "\"angy\" ", 7);
    char *r = strstr(bad, "\"ignored_cue\"");
    memcpy(r, "\"ignored_cua\"", 13);
    char *pid = strstr(bad, "persona_id: \"");
    pid[13] = 'x';
    char *k = strstr(bad, "    annotator: {pseudonym: \"ann-07\"");
    char *with_key =
        core_sprintf("%.*s    rating: \"5\"\n%s", (int)(k - bad), bad, k);
    char *path = write_file("bad.yaml", with_key);
    char *out = core_sprintf("%s/bad.h5", tmp);
    persona_problems probs = {0};
    core_status st = rlhf_prefs_ingest(path, personas, out, &probs, NULL);
    CHECK_EQ_INT(st, CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "5 problems");
    CHECK_EQ_INT(probs.n, 5);
    const char *want[][2] = {{":5:", "persona_id"},  {":8:", "sha256"},
                             {":11:", "angy"},       {":14:", "ignored_cua"},
                             {":15:", "rating"}};
    for (size_t w = 0; w < 5; w++) {
        bool found = false;
        char line[1024];
        snprintf(line, sizeof line, "%s%s", path, want[w][0]);
        for (size_t i = 0; i < probs.n; i++)
            found |= strstr(probs.items[i], line) && strstr(probs.items[i], want[w][1]);
        if (!found)
            printf("    no problem at %s about %s\n", line, want[w][1]);
        CHECK(found);
    }
    for (size_t i = 0; i < probs.n; i++)
        CHECK_CONTAINS(probs.items[i], path);
    CHECK(access(out, F_OK) != 0); /* nothing written */
    persona_problems_free(&probs);
    /* structural problems */
    char *p2 = write_file("bad2.yaml", "schema: \"troupe.prefs/2\"\nproducer: \"x\"\n"
                                       "created_at: \"yesterday\"\nitems:\n  - persona_id: \"1\"\n");
    st = rlhf_prefs_ingest(p2, personas, out, &probs, NULL);
    CHECK_EQ_INT(st, CORE_ERR_SCHEMA);
    bool schema = false, time = false, missing = false;
    for (size_t i = 0; i < probs.n; i++) {
        schema |= strstr(probs.items[i], "bad2.yaml:1:") && strstr(probs.items[i], "troupe.prefs/2");
        time |= strstr(probs.items[i], "bad2.yaml:3:") && strstr(probs.items[i], "created_at");
        missing |= strstr(probs.items[i], "missing key 'items[0].annotator'") != NULL;
    }
    CHECK(schema && time && missing);
    persona_problems_free(&probs);
    free(p2);
    free(y);
    free(bad);
    free(with_key);
    free(path);
    free(out);
}

static void test_synth_prefs_pairs_are_ordered_by_the_judge(void)
{
    char *out = core_sprintf("%s/synth.h5", tmp), *out2 = core_sprintf("%s/synth2.h5", tmp);
    rlhf_prefs_stats s;
    rlhf_prefs *p = NULL;
    rlhf_personas *pers = NULL;
    core_status st = rlhf_prefs_synth(corpus, personas, 1, out, &s);
    CHECK_EQ_INT(st, CORE_OK);
    if (st != CORE_OK) {
        printf("    %s\n", core_error_message());
        goto end;
    }
    printf("    %zu utterances, %zu pairs (%zu train, %zu validation), %zu skipped, %zu topics "
           "recovered\n",
           s.items, s.pairs, s.per_split[0], s.per_split[1], s.skipped, s.topics_recovered);
    CHECK(s.pairs > 0 && s.pairs == s.items - s.skipped);
    CHECK_EQ_INT(s.skipped, 0);
    CHECK(s.per_split[1] > 0);
    CHECK_EQ_INT(s.topics_recovered, s.items);
    CHECK_EQ_INT(rlhf_prefs_open(out, personas, &p), CORE_OK);
    CHECK_EQ_INT(rlhf_personas_load(personas, &pers), CORE_OK);
    if (!p || !pers)
        goto end;
    CHECK_EQ_INT(rlhf_prefs_count(p), s.pairs);
    int n_reason[RLHF_N_REASONS] = {0}, n_minimal_cue = 0;
    for (size_t i = 0; i < rlhf_prefs_count(p); i++) {
        const rlhf_pair *x = rlhf_prefs_get(p, i);
        data_persona_style style;
        CHECK(rlhf_personas_style(pers, x->persona_id, &style));
        char a[4096], b[4096];
        CHECK(x->n_chosen < sizeof a && x->n_rejected < sizeof b);
        for (size_t k = 0; k < x->n_chosen; k++)
            a[k] = (char)x->chosen[k];
        a[x->n_chosen] = '\0';
        for (size_t k = 0; k < x->n_rejected; k++)
            b[k] = (char)x->rejected[k];
        b[x->n_rejected] = '\0';
        rlhf_judge_item ia = {&style, x->cue, x->lang, x->turn, a}, ib = ia;
        ib.reply = b;
        rlhf_judge_score sa, sb;
        rlhf_judge(&ia, &sa);
        rlhf_judge(&ib, &sb);
        CHECK(sa.total > sb.total);
        CHECK_NEAR(sa.total, 1.0, 1e-9);
        CHECK_STR(x->reason, sb.reason);
        CHECK_STR(rlhf_prefs_annotator(p, i), RLHF_JUDGE_VERSION);
        CHECK(rlhf_prefs_synthetic(p, i));
        CHECK(strlen(rlhf_prefs_source(p, i)) == 64);
        CHECK(x->frames > 0);
        CHECK(rlhf_prefs_split(p, i) == 0 || rlhf_prefs_split(p, i) == 1);
        for (int r = 0; rlhf_prefs_reasons()[r]; r++)
            n_reason[r] += !strcmp(x->reason, rlhf_prefs_reasons()[r]);
        /* minimal pairs: a taboo phrase goes in front of the chosen reply; another cue
         * swaps only the opening */
        if (!strcmp(x->reason, "taboo")) {
            size_t la = strlen(a), lb = strlen(b);
            CHECK(lb > la && !strcmp(b + lb - la, a));
        }
        if (!strcmp(x->reason, "ignored_cue")) {
            const size_t oa = rlhf_judge_opening(&style, x->lang, a);
            const size_t ob = rlhf_judge_opening(&style, x->lang, b);
            n_minimal_cue += !strcmp(a + oa, b + ob) && (oa > 0 || ob > 0);
        }
    }
    int n_cue = 0;
    for (int r = 0; rlhf_prefs_reasons()[r]; r++)
        if (!strcmp(rlhf_prefs_reasons()[r], "ignored_cue"))
            n_cue = n_reason[r];
    printf("    reasons:");
    for (int r = 0; rlhf_prefs_reasons()[r]; r++)
        if (n_reason[r])
            printf(" %s %d", rlhf_prefs_reasons()[r], n_reason[r]);
    printf("; ignored_cue pairs that differ only in the opening: %d of %d\n", n_minimal_cue,
           n_cue);
    CHECK(n_cue > 0);
    CHECK_EQ_INT(n_minimal_cue, n_cue);
    size_t nc;
    rlhf_prefs_consents(p, &nc);
    CHECK(nc > 0);
    /* deterministic: the same seed gives the same bytes */
    CHECK_EQ_INT(rlhf_prefs_synth(corpus, personas, 1, out2, NULL), CORE_OK);
    uint8_t h1[32], h2[32];
    core_sha256_file(out, h1, NULL);
    core_sha256_file(out2, h2, NULL);
    CHECK(memcmp(h1, h2, 32) == 0);
end:
    rlhf_prefs_free(p);
    rlhf_personas_free(pers);
    free(out);
    free(out2);
}

static void test_open_rejects_other_formats(void)
{
    rlhf_prefs *p = NULL;
    core_status st = rlhf_prefs_open(personas, personas, &p);
    CHECK_EQ_INT(st, CORE_ERR_FORMAT);
    CHECK(p == NULL);
    CHECK_CONTAINS(core_error_message(), personas);
    rlhf_prefs_free(NULL);
}

int main(void)
{
    if (!test_tmpdir(tmp, sizeof tmp, "rlhf-prefs") ||
        test_train_corpus(tmp, personas, sizeof personas, corpus, sizeof corpus) != 0) {
        printf("cannot make the test corpus: %s\n", core_error_message());
        return 1;
    }
    {
        hid_t f;
        int rank;
        hsize_t d[8];
        uint64_t *ids = NULL;
        if (core_h5_open(personas, &f) != CORE_OK ||
            core_h5_read(f, "/id", CORE_H5_U64, &rank, d, (void **)&ids) != CORE_OK)
            return 1;
        a_persona = ids[0];
        free(ids);
        core_h5_close(f);
        char *audio = core_sprintf("%s/audio", tmp), *wav = core_sprintf("%s/audio/u1.wav", tmp);
        core_mkdir_p(audio);
        if (write_wav(wav) != 0)
            return 1;
        free(audio);
        free(wav);
    }
    RUN(test_ingest_valid_file_writes_pairs_with_provenance);
    RUN(test_ingest_reports_every_problem_with_file_and_line);
    RUN(test_synth_prefs_pairs_are_ordered_by_the_judge);
    RUN(test_open_rejects_other_formats);
    core_rmtree(tmp);
    return TEST_SUMMARY();
}
