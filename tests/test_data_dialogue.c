/* Tests of the dialogue text of the synthetic corpus (data/dialogue.h): determinism, the
 * documented reply rules of docs/corpus-replies.md (reaction clause per cue and its
 * priority, register, sentence count, fast speech, energy, closer, assertiveness, humour,
 * catchphrase script), buffer truncation, the content tables and filler segments. */
#include "data/dialogue.h"
#include "tests/runner.h"

#include <stdlib.h>

enum { SAD = 4, ANGRY = 5, FEARFUL = 6, HAPPY = 2, EXCITED = 3, NEUTRAL = 0 };

/* A persona in the neutral register and mid energy, with no closer, remark or catchphrase:
 * its replies hold only the reaction clause and the content sentences. */
static data_persona_style plain(void)
{
    data_persona_style p = {.role_id = "asst-test",
                            .formality = 0.5f,
                            .warmth = 0.3f,
                            .energy = 0.5f,
                            .verbosity = 0.5f,
                            .humour = 0.2f,
                            .empathy = 0.5f,
                            .assertiveness = 0.6f};
    return p;
}

static data_cue cue_of(int emotion, bool laughter, bool hesitation, int speed)
{
    data_cue c = {emotion, laughter, hesitation, speed};
    return c;
}

static core_rng rng_for(uint64_t seed)
{
    core_rng r;
    core_rng_init(&r, seed, "test.dialogue");
    return r;
}

static size_t reply(const data_persona_style *p, const data_cue *cue, int lang, int topic, int turn,
                    uint64_t seed, char *buf, size_t cap)
{
    core_rng r = rng_for(seed);
    return data_dialogue_reply(p, cue, lang, topic, turn, &r, buf, cap);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Index of the paraphrase of `set` that `s` starts with, or -1. */
static int phrase_prefix(const data_persona_style *p, data_phrase_set set, int lang, const char *s,
                         size_t *len)
{
    char ph[256];
    for (int i = 0; i < data_dialogue_phrase_count(p, set, lang); i++) {
        size_t n = data_dialogue_phrase(p, set, lang, i, ph, sizeof ph);
        if (n > 0 && starts_with(s, ph)) {
            if (len)
                *len = n;
            return i;
        }
    }
    return -1;
}

static bool ends_with_str(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Sentences in a reply: terminators . ! ? (en) or 。！？ (zh). */
static int sentences(const char *s, int lang)
{
    int n = 0;
    for (size_t i = 0; s[i]; i++) {
        if (lang == DATA_LANG_EN && (s[i] == '.' || s[i] == '!' || s[i] == '?'))
            n++;
        if (lang == DATA_LANG_ZH &&
            (starts_with(s + i, "。") || starts_with(s + i, "！") || starts_with(s + i, "？")))
            n++;
    }
    return n;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i];) {
        int n = u[i] < 0x80             ? 1
                : (u[i] & 0xE0) == 0xC0 ? 2
                : (u[i] & 0xF0) == 0xE0 ? 3
                : (u[i] & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (n == 0)
            return false;
        for (int k = 1; k < n; k++)
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
        i += (size_t)n;
    }
    return true;
}

/* ---------------------------------------------------------------- topics */

static void test_topics_have_unique_names_in_all_six_settings(void)
{
    const int n = data_dialogue_n_topics();
    CHECK(n >= 16);
    static const char *const settings[] = {"assistant", "support",   "in_car",
                                           "tutoring",  "companion", "game"};
    int per_setting[6] = {0};
    for (int t = 0; t < n; t++) {
        const char *name = data_dialogue_topic_name(t);
        CHECK(name != NULL && *name);
        for (const char *c = name; c && *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || *c == '_');
        for (int u = 0; u < t; u++)
            CHECK(strcmp(name, data_dialogue_topic_name(u)) != 0);
        for (int s = 0; s < 6; s++)
            if (strcmp(data_dialogue_topic_setting(t), settings[s]) == 0)
                per_setting[s]++;
    }
    for (int s = 0; s < 6; s++)
        CHECK(per_setting[s] >= 2);
    CHECK_STR(data_dialogue_topic_name(0), "router_reset");
    CHECK(data_dialogue_topic_name(-1) == NULL);
    CHECK(data_dialogue_topic_name(n) == NULL);
    CHECK(data_dialogue_topic_setting(n) == NULL);
}

static void test_pick_topic_prefers_matching_domains(void)
{
    core_rng r = rng_for(1);
    const char *ev[] = {"ev_charging", "battery_management"};
    data_persona_style p = plain();
    p.domains = ev;
    p.n_domains = 1;
    for (int i = 0; i < 50; i++)
        CHECK_STR(data_dialogue_topic_name(data_dialogue_pick_topic(&p, &r)), "charging_station");
    const char *wifi[] = {"wifi_troubleshooting"};
    p.domains = wifi;
    for (int i = 0; i < 50; i++)
        CHECK_STR(data_dialogue_topic_name(data_dialogue_pick_topic(&p, &r)), "router_reset");
    /* no domain matches: the role_id prefix names the setting */
    const char *odd[] = {"xenolinguistics"};
    p.domains = odd;
    p.role_id = "game-bard-000123";
    for (int i = 0; i < 50; i++)
        CHECK_STR(data_dialogue_topic_setting(data_dialogue_pick_topic(&p, &r)), "game");
    /* nothing to go on: every topic comes up */
    int seen[64] = {0};
    for (int i = 0; i < 2000; i++) {
        int t = data_dialogue_pick_topic(NULL, &r);
        CHECK(t >= 0 && t < data_dialogue_n_topics());
        if (t >= 0 && t < 64)
            seen[t]++;
    }
    for (int t = 0; t < data_dialogue_n_topics(); t++)
        CHECK(seen[t] > 0);
}

static void test_turn_kind_maps_first_middle_and_last(void)
{
    CHECK_EQ_INT(data_dialogue_turn_kind(0, 1), 0);
    CHECK_EQ_INT(data_dialogue_turn_kind(0, 3), 0);
    CHECK_EQ_INT(data_dialogue_turn_kind(1, 3), 1);
    CHECK_EQ_INT(data_dialogue_turn_kind(2, 3), 2);
    CHECK_EQ_INT(data_dialogue_turn_kind(1, 2), 2);
    CHECK_EQ_INT(data_dialogue_turn_kind(3, 8), 1);
    CHECK_EQ_INT(data_dialogue_turn_kind(7, 8), 2);
}

/* ---------------------------------------------------------------- determinism and variety */

static void test_same_rng_gives_same_text(void)
{
    const char *cps[] = {"Onward!", "走起！"};
    data_persona_style p = plain();
    p.humour = 0.9f;
    p.warmth = 0.9f;
    p.catchphrases = cps;
    p.n_catchphrases = 2;
    data_cue cue = cue_of(SAD, true, true, 2);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++) {
            char a[DATA_DIALOGUE_REPLY_MAX], b[DATA_DIALOGUE_REPLY_MAX];
            core_rng r1 = rng_for(99), r2 = rng_for(99);
            data_dialogue_user(lang, t, 1, &cue, &r1, a, sizeof a);
            data_dialogue_user(lang, t, 1, &cue, &r2, b, sizeof b);
            CHECK_STR(a, b);
            data_dialogue_reply(&p, &cue, lang, t, 1, &r1, a, sizeof a);
            data_dialogue_reply(&p, &cue, lang, t, 1, &r2, b, sizeof b);
            CHECK_STR(a, b);
        }
}

static void test_reply_wording_varies_but_structure_does_not(void)
{
    data_persona_style p = plain();
    p.verbosity = 0.9f;
    data_cue cue = cue_of(NEUTRAL, false, false, 1);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++) {
            char seen[8][DATA_DIALOGUE_REPLY_MAX];
            int distinct = 0;
            for (uint64_t seed = 0; seed < 40; seed++) {
                char buf[DATA_DIALOGUE_REPLY_MAX];
                reply(&p, &cue, lang, t, 0, seed, buf, sizeof buf);
                CHECK_EQ_INT(sentences(buf, lang), 3);
                bool dup = false;
                for (int k = 0; k < distinct; k++)
                    dup = dup || strcmp(seen[k], buf) == 0;
                if (!dup && distinct < 8)
                    snprintf(seen[distinct++], sizeof seen[0], "%s", buf);
            }
            CHECK(distinct >= 4);
        }
}

static void test_user_words_ignore_emotion_speed_and_laughter(void)
{
    data_cue a = cue_of(NEUTRAL, false, false, 1), b = cue_of(ANGRY, true, false, 2);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++) {
            char x[DATA_DIALOGUE_USER_MAX], y[DATA_DIALOGUE_USER_MAX];
            core_rng r1 = rng_for((uint64_t)t), r2 = rng_for((uint64_t)t);
            data_dialogue_user(lang, t, 0, &a, &r1, x, sizeof x);
            data_dialogue_user(lang, t, 0, &b, &r2, y, sizeof y);
            CHECK_STR(x, y);
        }
}

/* ---------------------------------------------------------------- reactions */

typedef struct reaction_case {
    data_cue cue;
    float empathy, humour;
    data_reaction reaction;
    int set;
    bool more;
} reaction_case;

static void test_reaction_clause_opens_reply_for_each_cue_kind(void)
{
    const reaction_case cases[] = {
        {{SAD, 0, 0, 1}, 0.2f, 0.2f, DATA_REACT_COMFORT, DATA_PHRASES_COMFORT_SHORT, false},
        {{SAD, 0, 0, 1}, 0.5f, 0.2f, DATA_REACT_COMFORT, DATA_PHRASES_COMFORT, false},
        {{FEARFUL, 0, 0, 1}, 0.9f, 0.2f, DATA_REACT_COMFORT, DATA_PHRASES_COMFORT, true},
        {{ANGRY, 0, 0, 1}, 0.5f, 0.2f, DATA_REACT_DEESCALATE, DATA_PHRASES_DEESCALATE, false},
        {{NEUTRAL, 1, 0, 1}, 0.5f, 0.9f, DATA_REACT_PLAY_ALONG, DATA_PHRASES_JOKE, false},
        {{NEUTRAL, 1, 0, 1}, 0.5f, 0.2f, DATA_REACT_PLAY_ALONG, DATA_PHRASES_LAUGH_ACK, false},
        {{NEUTRAL, 0, 1, 1}, 0.5f, 0.2f, DATA_REACT_REASSURE, DATA_PHRASES_REASSURE, false},
        {{HAPPY, 0, 0, 1}, 0.5f, 0.2f, DATA_REACT_MATCH_ENERGY, DATA_PHRASES_MATCH, false},
        {{EXCITED, 0, 0, 1}, 0.5f, 0.2f, DATA_REACT_MATCH_ENERGY, DATA_PHRASES_MATCH, false},
        {{NEUTRAL, 0, 0, 2}, 0.5f, 0.2f, DATA_REACT_BRIEF, DATA_PHRASES_BRIEF, false},
        {{NEUTRAL, 0, 0, 0}, 0.5f, 0.2f, DATA_REACT_CALM, DATA_PHRASES_CALM, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const reaction_case *c = &cases[k];
        data_persona_style p = plain();
        p.empathy = c->empathy;
        p.humour = c->humour;
        data_reply_plan plan;
        data_dialogue_plan(&p, &c->cue, 0, &plan);
        CHECK_EQ_INT(plan.reaction, c->reaction);
        CHECK_EQ_INT(plan.reaction_set, c->set);
        CHECK_EQ_INT(plan.comfort_more, c->more);
        CHECK(!plan.opener);
        for (int lang = 0; lang < 2; lang++) {
            bool used[4] = {false};
            for (int t = 0; t < data_dialogue_n_topics(); t++)
                for (uint64_t seed = 0; seed < 6; seed++) {
                    char buf[DATA_DIALOGUE_REPLY_MAX];
                    reply(&p, &c->cue, lang, t, (int)seed % 3, (uint64_t)t * 6 + seed, buf,
                          sizeof buf);
                    size_t len = 0;
                    int i = phrase_prefix(&p, (data_phrase_set)c->set, lang, buf, &len);
                    CHECK(i >= 0);
                    if (i < 0) {
                        printf("    no %d clause: %s\n", c->set, buf);
                        continue;
                    }
                    used[i] = true;
                    const char *rest = buf + len + (lang == DATA_LANG_EN ? 1 : 0);
                    bool more = phrase_prefix(&p, DATA_PHRASES_COMFORT_MORE, lang, rest, NULL) >= 0;
                    CHECK_EQ_INT(more, c->more);
                }
            for (int i = 0; i < 4; i++)
                CHECK(used[i]); /* every paraphrase is drawn */
        }
    }
}

static void test_no_reaction_clause_for_neutral_cues(void)
{
    data_persona_style p = plain();
    const int quiet[] = {0, 1, 7, 8, 9}; /* neutral, calm, surprised, tender, serious */
    for (size_t k = 0; k < sizeof quiet / sizeof *quiet; k++) {
        data_cue cue = cue_of(quiet[k], false, false, 1);
        data_reply_plan plan;
        data_dialogue_plan(&p, &cue, 0, &plan);
        CHECK_EQ_INT(plan.reaction, DATA_REACT_NONE);
        CHECK_EQ_INT(plan.reaction_set, -1);
        for (int lang = 0; lang < 2; lang++)
            for (int t = 0; t < data_dialogue_n_topics(); t++)
                for (int turn = 0; turn < 3; turn++) {
                    char buf[DATA_DIALOGUE_REPLY_MAX];
                    reply(&p, &cue, lang, t, turn, (uint64_t)k, buf, sizeof buf);
                    for (int set = 0; set < DATA_PHRASES_OPENER; set++)
                        CHECK(phrase_prefix(&p, (data_phrase_set)set, lang, buf, NULL) < 0);
                }
    }
    /* a NULL cue is a neutral one */
    char a[DATA_DIALOGUE_REPLY_MAX], b[DATA_DIALOGUE_REPLY_MAX];
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    reply(&p, NULL, DATA_LANG_ZH, 3, 1, 5, a, sizeof a);
    reply(&p, &neutral, DATA_LANG_ZH, 3, 1, 5, b, sizeof b);
    CHECK_STR(a, b);
}

static void test_reaction_priority_is_fixed(void)
{
    data_persona_style p = plain();
    data_reply_plan plan;
    const struct {
        data_cue cue;
        data_reaction want;
    } cases[] = {
        {{SAD, true, true, 2}, DATA_REACT_COMFORT},
        {{FEARFUL, true, false, 0}, DATA_REACT_COMFORT},
        {{ANGRY, true, true, 2}, DATA_REACT_DEESCALATE},
        {{HAPPY, true, true, 2}, DATA_REACT_PLAY_ALONG},
        {{EXCITED, false, true, 0}, DATA_REACT_REASSURE},
        {{HAPPY, false, false, 2}, DATA_REACT_MATCH_ENERGY},
        {{7, false, false, 2}, DATA_REACT_BRIEF},
        {{9, false, false, 0}, DATA_REACT_CALM},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        data_dialogue_plan(&p, &cases[k].cue, 1, &plan);
        CHECK_EQ_INT(plan.reaction, cases[k].want);
    }
}

static void test_every_reaction_set_has_four_paraphrases_per_language(void)
{
    data_persona_style casual = plain(), neutral = plain(), formal = plain();
    casual.formality = 0.1f;
    formal.formality = 0.9f;
    for (int set = 0; set < DATA_PHRASES_COUNT; set++)
        for (int lang = 0; lang < 2; lang++) {
            CHECK(data_dialogue_phrase_count(&casual, (data_phrase_set)set, lang) >= 4);
            CHECK(data_dialogue_phrase_count(&formal, (data_phrase_set)set, lang) >= 4);
            int n = data_dialogue_phrase_count(&neutral, (data_phrase_set)set, lang);
            CHECK(set == DATA_PHRASES_OPENER ? n == 0 : n >= 4);
        }
}

/* ---------------------------------------------------------------- style */

static void test_formality_sets_register_zh(void)
{
    data_persona_style formal = plain(), casual = plain();
    formal.formality = 0.9f;
    casual.formality = 0.1f;
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    static const char *const colloquial[] = {"咱", "哈", "呗", "嘞", "啦"};
    for (int t = 0; t < data_dialogue_n_topics(); t++)
        for (int turn = 0; turn < 3; turn++)
            for (uint64_t seed = 0; seed < 4; seed++) {
                char buf[DATA_DIALOGUE_REPLY_MAX];
                /* formal: the opener always addresses the user as 您 */
                reply(&formal, &neutral, DATA_LANG_ZH, t, turn, seed, buf, sizeof buf);
                CHECK_CONTAINS(buf, "您");
                CHECK(strstr(buf, "咱") == NULL);
                reply(&casual, &neutral, DATA_LANG_ZH, t, turn, seed, buf, sizeof buf);
                CHECK(strstr(buf, "您") == NULL);
                bool marked = false;
                for (int k = 0; k < 5; k++)
                    marked = marked || strstr(buf, colloquial[k]) != NULL;
                CHECK(marked);
                /* never 您 in the casual register, whatever the cue */
                for (int e = 0; e < 10; e++) {
                    data_cue c = cue_of(e, seed & 1, seed & 2, (int)(seed % 3));
                    reply(&casual, &c, DATA_LANG_ZH, t, turn, seed, buf, sizeof buf);
                    CHECK(strstr(buf, "您") == NULL);
                }
            }
}

static void test_formality_sets_register_en(void)
{
    data_persona_style formal = plain(), casual = plain();
    formal.formality = 0.9f;
    casual.formality = 0.1f;
    formal.warmth = casual.warmth = 0.9f;
    formal.verbosity = casual.verbosity = 0.9f;
    int contracted = 0, total = 0;
    for (int t = 0; t < data_dialogue_n_topics(); t++)
        for (int turn = 0; turn < 3; turn++)
            for (int e = 0; e < 10; e++) {
                data_cue c = cue_of(e, turn == 1, turn == 2, e % 3);
                char buf[DATA_DIALOGUE_REPLY_MAX];
                reply(&formal, &c, DATA_LANG_EN, t, turn, (uint64_t)e, buf, sizeof buf);
                CHECK(strchr(buf, '\'') == NULL); /* no contractions */
                if (strchr(buf, '\''))
                    printf("    formal: %s\n", buf);
                reply(&casual, &c, DATA_LANG_EN, t, turn, (uint64_t)e, buf, sizeof buf);
                contracted += strchr(buf, '\'') != NULL;
                total++;
            }
    CHECK(contracted > total / 2);
    /* the formal opener when there is no reaction */
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    char buf[DATA_DIALOGUE_REPLY_MAX];
    reply(&formal, &neutral, DATA_LANG_EN, 0, 0, 3, buf, sizeof buf);
    CHECK(phrase_prefix(&formal, DATA_PHRASES_OPENER, DATA_LANG_EN, buf, NULL) >= 0);
}

static void test_verbosity_sets_sentence_count(void)
{
    const float verbosity[3] = {0.1f, 0.5f, 0.9f};
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    for (int v = 0; v < 3; v++) {
        data_persona_style p = plain();
        p.verbosity = verbosity[v];
        data_reply_plan plan;
        data_dialogue_plan(&p, &neutral, 0, &plan);
        CHECK_EQ_INT(plan.n_content, v + 1);
        for (int lang = 0; lang < 2; lang++)
            for (int t = 0; t < data_dialogue_n_topics(); t++)
                for (int turn = 0; turn < 3; turn++)
                    for (uint64_t seed = 0; seed < 8; seed++) {
                        char buf[DATA_DIALOGUE_REPLY_MAX];
                        reply(&p, &neutral, lang, t, turn, seed, buf, sizeof buf);
                        CHECK_EQ_INT(sentences(buf, lang), v + 1);
                    }
    }
}

static void test_fast_speech_drops_one_sentence(void)
{
    const float verbosity[3] = {0.1f, 0.5f, 0.9f};
    const int want[3] = {1, 1, 2};
    data_cue fast = cue_of(NEUTRAL, false, false, 2), slow = cue_of(NEUTRAL, false, false, 0);
    for (int v = 0; v < 3; v++) {
        data_persona_style p = plain();
        p.verbosity = verbosity[v];
        for (int lang = 0; lang < 2; lang++)
            for (int t = 0; t < data_dialogue_n_topics(); t++)
                for (uint64_t seed = 0; seed < 4; seed++) {
                    char buf[DATA_DIALOGUE_REPLY_MAX];
                    /* the brief clause ends in a colon, so every terminator is content */
                    reply(&p, &fast, lang, t, (int)seed % 3, seed, buf, sizeof buf);
                    CHECK_EQ_INT(sentences(buf, lang), want[v]);
                    /* slow speech: one calm sentence, then the full count */
                    reply(&p, &slow, lang, t, (int)seed % 3, seed, buf, sizeof buf);
                    CHECK_EQ_INT(sentences(buf, lang), 1 + v + 1);
                }
    }
    /* fast also shortens when another reaction wins the priority */
    data_persona_style p = plain();
    p.verbosity = 0.9f;
    data_reply_plan plan;
    data_cue sad_fast = cue_of(SAD, false, false, 2);
    data_dialogue_plan(&p, &sad_fast, 0, &plan);
    CHECK_EQ_INT(plan.reaction, DATA_REACT_COMFORT);
    CHECK_EQ_INT(plan.n_content, 2);
}

static void test_energy_sets_exclamations_and_intensifiers(void)
{
    data_persona_style low = plain(), mid = plain(), high = plain();
    low.energy = 0.1f;
    high.energy = 0.9f;
    low.warmth = high.warmth = 0.9f; /* closers too */
    int intensified = 0;
    for (int t = 0; t < data_dialogue_n_topics(); t++)
        for (int turn = 0; turn < 3; turn++)
            for (uint64_t seed = 0; seed < 6; seed++) {
                char buf[DATA_DIALOGUE_REPLY_MAX];
                for (int e = 0; e < 10; e++) {
                    data_cue c = cue_of(e, seed == 1, seed == 2, (int)(seed % 3));
                    for (int lang = 0; lang < 2; lang++) {
                        reply(&low, &c, lang, t, turn, seed, buf, sizeof buf);
                        CHECK(strchr(buf, '!') == NULL && strstr(buf, "！") == NULL);
                    }
                }
                data_cue neutral = cue_of(NEUTRAL, false, false, 1);
                /* mid energy: content and closers carry no exclamation */
                reply(&mid, &neutral, DATA_LANG_EN, t, turn, seed, buf, sizeof buf);
                CHECK(strchr(buf, '!') == NULL);
                reply(&mid, &neutral, DATA_LANG_ZH, t, turn, seed, buf, sizeof buf);
                CHECK(strstr(buf, "！") == NULL && strstr(buf, "特别") == NULL &&
                      strstr(buf, "非常") == NULL);
                /* high energy: the first content sentence and the closer exclaim */
                reply(&high, &neutral, DATA_LANG_EN, t, turn, seed, buf, sizeof buf);
                char *bang = strchr(buf, '!');
                CHECK(bang != NULL && strpbrk(buf, ".!?") == bang);
                CHECK(ends_with_str(buf, "!"));
                reply(&high, &neutral, DATA_LANG_ZH, t, turn, seed, buf, sizeof buf);
                CHECK(ends_with_str(buf, "！"));
                intensified += strstr(buf, "特别") || strstr(buf, "非常") || strstr(buf, "真的很");
            }
    CHECK(intensified > 10);
    /* comfort stays sober at high energy */
    char ph[256];
    for (int i = 0; i < 4; i++) {
        data_dialogue_phrase(&high, DATA_PHRASES_COMFORT, DATA_LANG_EN, i, ph, sizeof ph);
        CHECK(strchr(ph, '!') == NULL);
    }
}

static void test_warmth_adds_closer_or_farewell(void)
{
    data_persona_style warm = plain(), cool = plain();
    warm.warmth = 0.9f;
    cool.warmth = 0.3f;
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (int turn = 0; turn < 4; turn++) {
                data_phrase_set set = turn >= 2 ? DATA_PHRASES_FAREWELL : DATA_PHRASES_CLOSER;
                char buf[DATA_DIALOGUE_REPLY_MAX], ph[256];
                bool found = false;
                reply(&warm, &neutral, lang, t, turn, 11, buf, sizeof buf);
                for (int i = 0; i < 4; i++) {
                    data_dialogue_phrase(&warm, set, lang, i, ph, sizeof ph);
                    found = found || ends_with_str(buf, ph);
                }
                CHECK(found);
                reply(&cool, &neutral, lang, t, turn, 11, buf, sizeof buf);
                for (int i = 0; i < 4; i++) {
                    data_dialogue_phrase(&cool, DATA_PHRASES_CLOSER, lang, i, ph, sizeof ph);
                    CHECK(!ends_with_str(buf, ph));
                    data_dialogue_phrase(&cool, DATA_PHRASES_FAREWELL, lang, i, ph, sizeof ph);
                    CHECK(!ends_with_str(buf, ph));
                }
            }
}

/* How many sentences of `s` start with `marker`. */
static int sentence_starts(const char *s, const char *marker)
{
    int n = starts_with(s, marker);
    static const char *const ends[] = {". ", "! ", "? ", "。", "！", "？"};
    for (size_t k = 0; k < sizeof ends / sizeof *ends; k++)
        for (const char *p = strstr(s, ends[k]); p; p = strstr(p + 1, ends[k]))
            n += starts_with(p + strlen(ends[k]), marker);
    return n;
}

static void test_assertiveness_chooses_directive_or_suggestive_frames(void)
{
    data_persona_style bold = plain(), mild = plain();
    bold.assertiveness = 0.9f;
    mild.assertiveness = 0.1f;
    bold.verbosity = mild.verbosity = 0.9f;
    static const char *const suggest[] = {"You could ", "It might help to ", "I'd suggest you ",
                                          "你可以试试", "或许可以",          "不妨"};
    static const char *const direct[] = {"Go ahead and ", "You need to ", "记得", "你要"};
    int bold_hits = 0, mild_hits = 0;
    data_cue neutral = cue_of(NEUTRAL, false, false, 1);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (int turn = 0; turn < 3; turn++)
                for (uint64_t seed = 0; seed < 4; seed++) {
                    char buf[DATA_DIALOGUE_REPLY_MAX];
                    reply(&bold, &neutral, lang, t, turn, seed, buf, sizeof buf);
                    for (size_t k = 0; k < sizeof suggest / sizeof *suggest; k++)
                        CHECK(sentence_starts(buf, suggest[k]) == 0);
                    for (size_t k = 0; k < sizeof direct / sizeof *direct; k++)
                        bold_hits += sentence_starts(buf, direct[k]) > 0;
                    reply(&mild, &neutral, lang, t, turn, seed, buf, sizeof buf);
                    for (size_t k = 0; k < sizeof direct / sizeof *direct; k++)
                        CHECK(sentence_starts(buf, direct[k]) == 0);
                    for (size_t k = 0; k < sizeof suggest / sizeof *suggest; k++)
                        mild_hits += sentence_starts(buf, suggest[k]) > 0;
                }
    CHECK(bold_hits > 50);
    CHECK(mild_hits > 50);
    /* two actions in one reply never share a frame */
    static const char *const formal_frames[] = {"Please ", "I recommend that you ",
                                                "I would ask you to ", "请您", "麻烦您"};
    data_persona_style formal = bold;
    formal.formality = 0.9f;
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (uint64_t seed = 0; seed < 4; seed++) {
                char buf[DATA_DIALOGUE_REPLY_MAX];
                reply(&formal, &neutral, lang, t, 0, seed, buf, sizeof buf);
                for (size_t k = 0; k < sizeof formal_frames / sizeof *formal_frames; k++)
                    CHECK(sentence_starts(buf, formal_frames[k]) <= 1);
            }
}

static void test_high_humour_sometimes_adds_a_remark(void)
{
    data_persona_style funny = plain(), dry = plain();
    funny.humour = 0.9f;
    funny.energy = 0.1f; /* keeps the catchphrase chance irrelevant: there are none */
    dry.humour = 0.6f;
    dry.energy = 0.1f;
    data_cue neutral = cue_of(NEUTRAL, false, false, 1), sad = cue_of(SAD, false, false, 1);
    int longer = 0, plain_count = 0;
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (uint64_t seed = 0; seed < 10; seed++) {
                char buf[DATA_DIALOGUE_REPLY_MAX];
                reply(&funny, &neutral, lang, t, 0, seed, buf, sizeof buf);
                if (sentences(buf, lang) > 2)
                    longer++;
                else
                    plain_count++;
                reply(&dry, &neutral, lang, t, 0, seed, buf, sizeof buf);
                CHECK_EQ_INT(sentences(buf, lang), 2);
                /* never a joke after comfort: comfort (1) + content (2) */
                funny.empathy = 0.5f;
                reply(&funny, &sad, lang, t, 0, seed, buf, sizeof buf);
                CHECK_EQ_INT(sentences(buf, lang), 3);
            }
    CHECK(longer > 100 && plain_count > 100);
}

static void test_catchphrase_only_in_its_own_language(void)
{
    CHECK_EQ_INT(data_dialogue_script("Onward, friend!"), DATA_LANG_EN);
    CHECK_EQ_INT(data_dialogue_script("我们一步一步来。"), DATA_LANG_ZH);
    CHECK_EQ_INT(data_dialogue_script("잠시만요, 정확히 통역해 드리겠습니다."), -1);
    CHECK_EQ_INT(data_dialogue_script("お待たせしました。"), -1);
    CHECK_EQ_INT(data_dialogue_script("¡Vamos!"), -1);
    const char *both[] = {"Onward, friend!", "走起！", "잠시만요"};
    data_persona_style p = plain();
    p.energy = 1.0f;
    p.humour = 1.0f; /* chance (1 + 1) / 2 = 1 */
    p.catchphrases = both;
    p.n_catchphrases = 3;
    for (int t = 0; t < data_dialogue_n_topics(); t++)
        for (uint64_t seed = 0; seed < 5; seed++) {
            char buf[DATA_DIALOGUE_REPLY_MAX];
            data_cue c = cue_of((int)seed, false, false, 1);
            reply(&p, &c, DATA_LANG_EN, t, 0, seed, buf, sizeof buf);
            CHECK_CONTAINS(buf, "Onward, friend!");
            CHECK(strstr(buf, "走起") == NULL && strstr(buf, "잠시") == NULL);
            reply(&p, &c, DATA_LANG_ZH, t, 0, seed, buf, sizeof buf);
            CHECK_CONTAINS(buf, "走起！");
            CHECK(strstr(buf, "Onward") == NULL && strstr(buf, "잠시") == NULL);
        }
    /* only Mandarin catchphrases: English replies never get one; a zero chance never does */
    const char *zh_only[] = {"我们一步一步来"};
    p.catchphrases = zh_only;
    p.n_catchphrases = 1;
    char buf[DATA_DIALOGUE_REPLY_MAX];
    for (uint64_t seed = 0; seed < 20; seed++) {
        reply(&p, NULL, DATA_LANG_ZH, 0, 0, seed, buf, sizeof buf);
        CHECK_CONTAINS(buf, "我们一步一步来。"); /* given its full stop */
        reply(&p, NULL, DATA_LANG_EN, 0, 0, seed, buf, sizeof buf);
        CHECK(strstr(buf, "一步") == NULL);
    }
    p.energy = p.humour = 0.0f;
    for (uint64_t seed = 0; seed < 20; seed++) {
        reply(&p, NULL, DATA_LANG_ZH, 0, 0, seed, buf, sizeof buf);
        CHECK(strstr(buf, "一步一步来") == NULL);
    }
}

/* ---------------------------------------------------------------- buffers and content */

static void check_truncations(const char *full, size_t full_len, int which, int lang, int t,
                              const data_persona_style *p, const data_cue *cue)
{
    for (size_t cap = 0; cap <= full_len + 2; cap++) {
        char buf[DATA_DIALOGUE_REPLY_MAX + 16];
        memset(buf, 'Z', sizeof buf);
        core_rng r = rng_for(42);
        size_t n = which == 0 ? data_dialogue_user(lang, t, 1, cue, &r, buf, cap)
                              : data_dialogue_reply(p, cue, lang, t, 1, &r, buf, cap);
        if (cap == 0) {
            CHECK_EQ_INT(n, 0);
            CHECK(buf[0] == 'Z');
            continue;
        }
        CHECK(n < cap);
        CHECK(buf[n] == '\0' && strlen(buf) == n);
        CHECK(buf[cap] == 'Z'); /* nothing written past cap */
        CHECK(strncmp(buf, full, n) == 0);
        CHECK(valid_utf8(buf));
        CHECK(n + 4 >= cap || n == full_len); /* cut at most one character short */
    }
}

static void test_tiny_buffers_never_overflow(void)
{
    const char *cps[] = {"Onward!", "走起！"};
    data_persona_style p = plain();
    p.warmth = 0.9f;
    p.energy = 0.9f;
    p.humour = 0.9f;
    p.catchphrases = cps;
    p.n_catchphrases = 2;
    data_cue cue = cue_of(SAD, false, true, 1);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t += 3) {
            char full[DATA_DIALOGUE_REPLY_MAX];
            core_rng r = rng_for(42);
            size_t n = data_dialogue_user(lang, t, 1, &cue, &r, full, sizeof full);
            check_truncations(full, n, 0, lang, t, &p, &cue);
            r = rng_for(42);
            n = data_dialogue_reply(&p, &cue, lang, t, 1, &r, full, sizeof full);
            check_truncations(full, n, 1, lang, t, &p, &cue);
        }
    char ph[4];
    size_t n = data_dialogue_phrase(&p, DATA_PHRASES_COMFORT, DATA_LANG_ZH, 0, ph, sizeof ph);
    CHECK_EQ_INT(n, 3); /* one Chinese character fits in 4 bytes, two do not */
    CHECK(valid_utf8(ph));
}

static int words(const char *s)
{
    int n = 0;
    for (const char *w = s; *w; w++)
        if (*w != ' ' && (w == s || w[-1] == ' '))
            n++;
    return n;
}

static void test_every_topic_and_language_gives_clean_text(void)
{
    const char *cps[] = {"Onward!", "走起！"};
    data_persona_style p = plain();
    p.catchphrases = cps;
    p.n_catchphrases = 2;
    p.humour = 0.9f;
    p.warmth = 0.9f;
    size_t longest_user = 0, longest_reply = 0;
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (int turn = 0; turn < 5; turn++)
                for (uint64_t seed = 0; seed < 6; seed++) {
                    data_cue c = cue_of((int)(seed * 3 + (uint64_t)turn) % 10, seed == 2, seed >= 3,
                                        (int)seed % 3);
                    p.formality = seed < 3 ? 0.1f : 0.9f;
                    p.verbosity = 0.9f;
                    char u[DATA_DIALOGUE_USER_MAX], r[DATA_DIALOGUE_REPLY_MAX];
                    core_rng rng = rng_for(seed * 100 + (uint64_t)t);
                    size_t nu = data_dialogue_user(lang, t, turn, &c, &rng, u, sizeof u);
                    size_t nr = data_dialogue_reply(&p, &c, lang, t, turn, &rng, r, sizeof r);
                    CHECK(nu > 0 && nr > 0);
                    longest_user = nu > longest_user ? nu : longest_user;
                    longest_reply = nr > longest_reply ? nr : longest_reply;
                    CHECK(strpbrk(u, "\n\r\t[]@#^{}") == NULL);
                    CHECK(strpbrk(r, "\n\r\t[]@#^{}") == NULL);
                    CHECK(strstr(u, "laugh") == NULL && strstr(u, "ha ha") == NULL &&
                          strstr(u, "哈哈") == NULL);
                    CHECK(strstr(r, "  ") == NULL);
                    if (lang == DATA_LANG_EN) {
                        for (size_t i = 0; i < nr; i++)
                            CHECK((unsigned char)r[i] < 0x80);
                        for (size_t i = 0; i < nu; i++)
                            CHECK((unsigned char)u[i] < 0x80);
                        /* about 2 to 6 s of speech: 3 to 14 words before fillers */
                        int w = words(u);
                        if (!c.hesitation)
                            CHECK(w >= 3 && w <= 14);
                    } else {
                        /* full-width punctuation, no Latin letters */
                        CHECK(strpbrk(u, ".,?!:;\"'abcdefghijklmnopqrstuvwxyz") == NULL);
                        CHECK(strpbrk(r, ".,?!:;\"'abcdefghijklmnopqrstuvwxyz") == NULL);
                        if (strpbrk(r, ".,?!:;\"'abcdefghijklmnopqrstuvwxyz"))
                            printf("    ascii in zh: %s\n", r);
                        size_t chars = 0;
                        for (size_t i = 0; i < nu; i++)
                            chars += ((unsigned char)u[i] & 0xC0) != 0x80;
                        if (!c.hesitation)
                            CHECK(chars >= 4 && chars <= 24);
                    }
                }
    CHECK(longest_user < DATA_DIALOGUE_USER_MAX / 2);
    CHECK(longest_reply < DATA_DIALOGUE_REPLY_MAX / 2);
}

static void test_segments_split_after_each_filler(void)
{
    char en[] = "Um... my router, uh... is broken.";
    const char *seg[8];
    int n = data_dialogue_segments(en, seg, 8);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_STR(seg[0], "Um...");
        CHECK_STR(seg[1], "my router, uh...");
        CHECK_STR(seg[2], "is broken.");
    }
    char zh[] = "嗯……我家网断了，那个……怎么办？";
    n = data_dialogue_segments(zh, seg, 8);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_STR(seg[0], "嗯…");
        CHECK_STR(seg[1], "我家网断了，那个…");
        CHECK_STR(seg[2], "怎么办？");
    }
    char capped[] = "Um... my router, uh... is broken.";
    n = data_dialogue_segments(capped, seg, 2);
    CHECK_EQ_INT(n, 2);
    if (n == 2)
        CHECK_STR(seg[1], "my router, uh... is broken.");
    char none[] = "The internet is down.", empty[] = "";
    CHECK_EQ_INT(data_dialogue_segments(none, seg, 8), 1);
    CHECK_STR(seg[0], "The internet is down.");
    CHECK_EQ_INT(data_dialogue_segments(empty, seg, 8), 0);
    CHECK_EQ_INT(data_dialogue_segments(none, seg, 0), 0);

    /* every hesitant user turn: a filler ends every segment but the last */
    data_cue hes = cue_of(NEUTRAL, false, true, 1);
    int with_mid = 0;
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++)
            for (int turn = 0; turn < 3; turn++)
                for (uint64_t seed = 0; seed < 4; seed++) {
                    char u[DATA_DIALOGUE_USER_MAX];
                    core_rng r = rng_for(seed);
                    data_dialogue_user(lang, t, turn, &hes, &r, u, sizeof u);
                    n = data_dialogue_segments(u, seg, 8);
                    CHECK(n >= 2 && n <= 3);
                    with_mid += n == 3;
                    const char *ell = lang == DATA_LANG_EN ? "..." : "…";
                    for (int i = 0; i < n; i++) {
                        CHECK(seg[i][0] != '\0' && seg[i][0] != ' ');
                        CHECK(!ends_with_str(seg[i], " "));
                        if (i < n - 1)
                            CHECK(ends_with_str(seg[i], ell));
                        else
                            CHECK(strstr(seg[i], ell) == NULL);
                    }
                }
    CHECK(with_mid > 30);
    /* no hesitation: the whole turn is one segment */
    data_cue calm = cue_of(NEUTRAL, false, false, 1);
    for (int lang = 0; lang < 2; lang++)
        for (int t = 0; t < data_dialogue_n_topics(); t++) {
            char u[DATA_DIALOGUE_USER_MAX], copy[DATA_DIALOGUE_USER_MAX];
            core_rng r = rng_for(3);
            data_dialogue_user(lang, t, 0, &calm, &r, u, sizeof u);
            snprintf(copy, sizeof copy, "%s", u);
            CHECK_EQ_INT(data_dialogue_segments(u, seg, 8), 1);
            CHECK_STR(seg[0], copy);
        }
}

static void test_filler_start_finds_the_filler_that_ends_a_segment(void)
{
    CHECK_EQ_INT(data_dialogue_filler_start("my router, uh..."), 11);
    CHECK_EQ_INT(data_dialogue_filler_start("Um..."), 0);
    CHECK_EQ_INT(data_dialogue_filler_start("no filler here"), 14);
    CHECK_EQ_INT(data_dialogue_filler_start("路由器那个…"), 9);
    CHECK_EQ_INT(data_dialogue_filler_start("嗯……"), 0);
}

int main(void)
{
    RUN(test_topics_have_unique_names_in_all_six_settings);
    RUN(test_pick_topic_prefers_matching_domains);
    RUN(test_turn_kind_maps_first_middle_and_last);
    RUN(test_same_rng_gives_same_text);
    RUN(test_reply_wording_varies_but_structure_does_not);
    RUN(test_user_words_ignore_emotion_speed_and_laughter);
    RUN(test_reaction_clause_opens_reply_for_each_cue_kind);
    RUN(test_no_reaction_clause_for_neutral_cues);
    RUN(test_reaction_priority_is_fixed);
    RUN(test_every_reaction_set_has_four_paraphrases_per_language);
    RUN(test_formality_sets_register_zh);
    RUN(test_formality_sets_register_en);
    RUN(test_verbosity_sets_sentence_count);
    RUN(test_fast_speech_drops_one_sentence);
    RUN(test_energy_sets_exclamations_and_intensifiers);
    RUN(test_warmth_adds_closer_or_farewell);
    RUN(test_assertiveness_chooses_directive_or_suggestive_frames);
    RUN(test_high_humour_sometimes_adds_a_remark);
    RUN(test_catchphrase_only_in_its_own_language);
    RUN(test_tiny_buffers_never_overflow);
    RUN(test_every_topic_and_language_gives_clean_text);
    RUN(test_segments_split_after_each_filler);
    RUN(test_filler_start_finds_the_filler_that_ends_a_segment);
    return TEST_SUMMARY();
}
