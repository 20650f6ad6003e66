/* A small corpus for the training tests, made from nothing: two authored roles expanded to
 * personas.h5, ten synthetic dialogues (espeak-ng and sox) signed into train/validation/test
 * batches, and those ingested into shards. Include after core/core.h and tests/runner.h. */
#ifndef TROUPE_TESTS_TRAIN_CORPUS_H
#define TROUPE_TESTS_TRAIN_CORPUS_H
#include "data/data.h"
#include "persona/persona.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>

/* Writes TMPDIR/personas.h5 and TMPDIR/corpus of `dialogues` dialogues (their paths into
 * personas and corpus); returns 0 on success. test_train_corpus: 10 dialogues. */
static inline int test_train_corpus_n(const char *tmpdir, int dialogues, char *personas,
                                      size_t np, char *corpus, size_t nc)
{
    char *roles = core_sprintf("%s/roles", tmpdir);
    core_mkdir_p(roles);
    const char *langs[2] = {"\"en\"", "\"en\", \"zh\""};
    for (int i = 0; i < 2; i++) {
        char *p = core_sprintf("%s/loader-%d.yaml", roles, i);
        FILE *f = fopen(p, "w");
        fprintf(f,
                "schema: \"troupe.role/1\"\nid: \"loader-%d\"\nnames: {en: \"T\", zh: \"测\"}\n"
                "archetype: \"assistant\"\noccupation: \"support\"\n"
                "description: \"A patient engineer who explains one step at a time.\"\n"
                "languages: [%s]\n"
                "traits: {openness: 0.6, conscientiousness: 0.9, extraversion: 0.3, "
                "agreeableness: 0.8, neuroticism: 0.1}\n"
                "style: {formality: 0.7, warmth: 0.8, energy: 0.4, verbosity: 0.5, humour: 0.3, "
                "empathy: 0.9, assertiveness: 0.4}\n"
                "prosody: {pitch_offset_st: -1.0, pitch_range_st: 5, speech_rate_wpm: 135, "
                "pause_rate_pm: 14, loudness_db: -1}\n"
                "emotion: {baseline: \"calm\", range: [\"calm\"]}\nscenes: [\"office\"]\n"
                "catchphrases: [\"One step at a time.\"]\ntaboos: [\"never rude\"]\n"
                "domains: [\"networking\"]\nprovenance: {author: \"t\", licence: \"CC0-1.0\", "
                "created_at: \"2026-11-23T00:00:00Z\", parent: null}\n",
                i, langs[i]);
        fclose(f);
        free(p);
    }
    persona_set set;
    persona_expand_cfg ec;
    const char *esets[] = {"axes=language"};
    snprintf(personas, np, "%s/personas.h5", tmpdir);
    persona_build_stats bs;
    if (persona_set_load(roles, &set, NULL) != CORE_OK ||
        core_cfg_load(&persona_expand_schema, NULL, esets, 1, &ec) != CORE_OK ||
        persona_build(&ec, NULL, &set, NULL, 0, personas, &bs) != CORE_OK)
        return 1;
    persona_set_free(&set);
    core_cfg_free(&persona_expand_schema, &ec);
    free(roles);
    data_synth_cfg sc;
    char dsets[32];
    snprintf(dsets, sizeof dsets, "dialogues=%d", dialogues);
    const char *ssets[] = {dsets, "problems=false", "splits.validation=0.2",
                           "splits.test=0.2"};
    char *out = core_sprintf("%s/synth", tmpdir);
    data_synth_stats ss;
    if (core_cfg_load(&data_synth_schema, NULL, ssets, 4, &sc) != CORE_OK ||
        data_synth(&sc, personas, out, &ss) != CORE_OK)
        return 1;
    core_cfg_free(&data_synth_schema, &sc);
    char *b[3] = {core_sprintf("%s/train", out), core_sprintf("%s/validation", out),
                  core_sprintf("%s/test", out)};
    char *kr = core_sprintf("%s/keyring.yaml", out), *rv = core_sprintf("%s/revocations", out);
    data_options o = {.keyring = kr, .revocations = rv};
    data_purposes_parse("training", &o.use.purposes);
    memcpy(o.use.territory, "GB", 3);
    o.use.allow_synthetic = true;
    data_time_parse("2026-11-23T12:00:00Z", &o.use.at);
    snprintf(corpus, nc, "%s/corpus", tmpdir);
    data_ingest_stats is;
    core_status st = data_ingest((const char *const *)b, 3, &o, corpus, 2, &is);
    for (int k = 0; k < 3; k++)
        free(b[k]);
    free(kr);
    free(rv);
    free(out);
    return st != CORE_OK;
}
static inline int test_train_corpus(const char *tmpdir, char *personas, size_t np, char *corpus,
                                    size_t nc)
{
    return test_train_corpus_n(tmpdir, 10, personas, np, corpus, nc);
}
/* An SFT checkpoint: the tiny model trained `steps` steps on the corpus's train split into
 * TMPDIR/sft; its path in ckpt. Returns 0 on success. */
static inline int test_train_sft(const char *tmpdir, const char *corpus, const char *personas,
                                 int steps, char *ckpt, size_t n)
{
    char s1[600], s2[600], s3[600], s4[64];
    snprintf(s1, sizeof s1, "data.corpus=%s", corpus);
    snprintf(s2, sizeof s2, "data.personas=%s", personas);
    snprintf(s3, sizeof s3, "output=%s/sft", tmpdir);
    snprintf(s4, sizeof s4, "max_steps=%d", steps);
    const char *sets[] = {s1, s2, s3, s4, "model=model/tiny.yaml", "batch=8", "eval.every=0",
                          "checkpoint.every=0", "optim.lr=0.003", "optim.warmup=5", "threads=1"};
    train_cfg c;
    if (core_cfg_load(&train_schema, NULL, sets, sizeof sets / sizeof *sets, &c) != CORE_OK)
        return 1;
    train_result r;
    core_status st = train_run(&c, "sft\n", NULL, 0, &r);
    core_cfg_free(&train_schema, &c);
    snprintf(ckpt, n, "%s/sft/checkpoints/last.h5", tmpdir);
    return st != CORE_OK;
}
#endif
