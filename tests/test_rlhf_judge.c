/* Tests of the persona-consistency judge (rlhf/judge.c): the corpus's own replies score 1,
 * the same replies against another style or another cue score lower, hand-made replies
 * score what the rules in docs/rlhf.md give by hand, and personas.h5 roles load. */
#include "core/core.h"
#include "tests/runner.h"
#include "rlhf/rlhf.h"

static const char *const catch_pool[] = {"One step at a time.", "I'm in! Okay, I'm mostly in.",
                                         "我这店里，不许动刀动枪。", "稳住，别慌",
                                         "괜찮아요!", "¡Vamos!", "May I help you further?"};

static void random_style(core_rng *r, data_persona_style *p, const char **cps)
{
    memset(p, 0, sizeof *p);
    float *v[7] = {&p->formality, &p->warmth,  &p->energy,       &p->verbosity,
                   &p->humour,    &p->empathy, &p->assertiveness};
    for (int k = 0; k < 7; k++)
        *v[k] = (float)core_rng_uniform(r);
    int n = (int)core_rng_below(r, 4);
    for (int k = 0; k < n; k++)
        cps[k] = catch_pool[core_rng_below(r, sizeof catch_pool / sizeof *catch_pool)];
    p->catchphrases = cps;
    p->n_catchphrases = n;
}

static data_cue random_cue(core_rng *r)
{
    data_cue c = {0};
    c.emotion = core_rng_uniform(r) < 0.5 ? (int)core_rng_below(r, 10) : 0;
    c.laughter = core_rng_uniform(r) < 0.2;
    c.hesitation = core_rng_uniform(r) < 0.2;
    c.speed = core_rng_uniform(r) < 0.3 ? (core_rng_uniform(r) < 0.5 ? 0 : 2) : 1;
    return c;
}

/* The property the judge is built on: for thousands of corpus replies (random styles,
 * cues, topics, turns, languages), total is exactly 1 and the reason "ok". */
static void test_corpus_replies_score_one(void)
{
    core_rng r;
    core_rng_init(&r, 7, "test.judge");
    int bad = 0, n = 4000;
    for (int i = 0; i < n; i++) {
        data_persona_style p;
        const char *cps[4];
        random_style(&r, &p, cps);
        data_cue cue = random_cue(&r);
        int lang = (int)core_rng_below(&r, 2), topic = (int)core_rng_below(&r, 19);
        int turn = (int)core_rng_below(&r, 3);
        char reply[DATA_DIALOGUE_REPLY_MAX];
        data_dialogue_reply(&p, &cue, lang, topic, turn, &r, reply, sizeof reply);
        rlhf_judge_item it = {&p, cue, lang, turn, reply};
        rlhf_judge_score s;
        rlhf_judge(&it, &s);
        if (s.total < 1.0 - 1e-9 || strcmp(s.reason, "ok") != 0) {
            if (bad++ < 5)
                printf("    %s (total %.3f: reaction %.2f tone %.2f energy %.2f length %.2f "
                       "closer %.2f catch %.2f lang %.2f; f=%.2f w=%.2f e=%.2f v=%.2f h=%.2f "
                       "em=%.2f emo=%d laugh=%d hes=%d speed=%d turn=%d)\n",
                       reply, s.total, s.reaction, s.tone, s.energy, s.length, s.closer,
                       s.catchphrase, s.language, p.formality, p.warmth, p.energy, p.verbosity,
                       p.humour, p.empathy, cue.emotion, cue.laughter, cue.hesitation, cue.speed,
                       turn);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

static float flip(float x)
{
    return x < 0.5f ? 0.9f : 0.1f;
}

/* The same replies judged against a flipped style (formality, energy, warmth) or another
 * cue score clearly lower on average, and never higher than against their own. */
static void test_wrong_style_or_cue_scores_lower(void)
{
    core_rng r;
    core_rng_init(&r, 8, "test.judge.flip");
    double own = 0, flipped = 0, other_cue = 0;
    int n = 2000, n_cue = 0, higher = 0;
    for (int i = 0; i < n; i++) {
        data_persona_style p;
        const char *cps[4];
        random_style(&r, &p, cps);
        data_cue cue = random_cue(&r);
        int lang = (int)core_rng_below(&r, 2), topic = (int)core_rng_below(&r, 19);
        int turn = (int)core_rng_below(&r, 3);
        char reply[DATA_DIALOGUE_REPLY_MAX];
        data_dialogue_reply(&p, &cue, lang, topic, turn, &r, reply, sizeof reply);
        rlhf_judge_score s;
        rlhf_judge_item it = {&p, cue, lang, turn, reply};
        rlhf_judge(&it, &s);
        own += s.total;
        data_persona_style q = p;
        q.formality = flip(p.formality);
        q.energy = flip(p.energy);
        q.warmth = flip(p.warmth);
        it.persona = &q;
        rlhf_judge(&it, &s);
        flipped += s.total;
        higher += s.total > 1.0 + 1e-9;
        /* a cue selecting another reaction */
        data_cue c2 = random_cue(&r);
        data_reply_plan a, b;
        data_dialogue_plan(&p, &cue, turn, &a);
        data_dialogue_plan(&p, &c2, turn, &b);
        if (a.reaction_set != b.reaction_set) {
            it.persona = &p;
            it.cue = c2;
            rlhf_judge(&it, &s);
            other_cue += s.total;
            n_cue++;
        }
    }
    own /= n;
    flipped /= n;
    other_cue /= n_cue ? n_cue : 1;
    printf("    mean total: own %.3f, flipped style %.3f, other cue %.3f (%d)\n", own, flipped,
           other_cue, n_cue);
    CHECK_NEAR(own, 1.0, 1e-9);
    CHECK(flipped < 0.85);
    CHECK(other_cue < 0.85);
    CHECK(n_cue > n / 4);
    CHECK_EQ_INT(higher, 0);
}

/* formal, warm, mid energy, terse, humourless: the plan is "opener (no reaction), one
 * content sentence, closer". */
static data_persona_style butler(void)
{
    static const char *const cps[] = {"May I take your coat?", "请慢用。"};
    data_persona_style p = {"asst-test", 0.9f, 0.8f, 0.5f, 0.2f, 0.1f, 0.5f, 0.8f,
                            cps,         2,    NULL, 0};
    return p;
}

/* rlhf_judge_opening finds the whole opening: a reply with the opening of a reply to
 * another cue (same persona, topic and turn) has that cue's reaction by the judge, which is
 * what synth-prefs' minimal cue pairs rely on; a reply with no opening gives 0. */
static void test_opening_swap_carries_the_reaction(void)
{
    core_rng r;
    core_rng_init(&r, 9, "test.judge.opening");
    int n = 2000, swapped = 0, bad = 0, none = 0;
    for (int i = 0; i < n; i++) {
        data_persona_style p;
        const char *cps[4];
        random_style(&r, &p, cps);
        data_cue c1 = random_cue(&r), c2 = random_cue(&r);
        int lang = (int)core_rng_below(&r, 2), topic = (int)core_rng_below(&r, 19);
        int turn = (int)core_rng_below(&r, 3);
        data_reply_plan a, b;
        data_dialogue_plan(&p, &c1, turn, &a);
        data_dialogue_plan(&p, &c2, turn, &b);
        char r1[DATA_DIALOGUE_REPLY_MAX], r2[DATA_DIALOGUE_REPLY_MAX], x[2 * DATA_DIALOGUE_REPLY_MAX];
        data_dialogue_reply(&p, &c1, lang, topic, turn, &r, r1, sizeof r1);
        data_dialogue_reply(&p, &c2, lang, topic, turn, &r, r2, sizeof r2);
        const size_t o1 = rlhf_judge_opening(&p, lang, r1), o2 = rlhf_judge_opening(&p, lang, r2);
        if (a.reaction_set < 0 && !a.opener) {
            none++;
            bad += o1 != 0;
        }
        if (a.reaction_set == b.reaction_set)
            continue;
        snprintf(x, sizeof x, "%.*s%s", (int)o2, r2, r1 + o1);
        rlhf_judge_score s2, s1;
        rlhf_judge_item it = {&p, c2, lang, turn, x};
        rlhf_judge(&it, &s2);
        it.cue = c1;
        rlhf_judge(&it, &s1);
        swapped++;
        if (s2.reaction < 1.0 - 1e-9 || s1.reaction >= 1.0 - 1e-9) {
            if (bad++ < 5)
                printf("    %s | %s -> %s (reaction %.2f for the new cue, %.2f for the old)\n",
                       r1, r2, x, s2.reaction, s1.reaction);
        }
    }
    printf("    %d swaps, %d replies without an opening\n", swapped, none);
    CHECK(swapped > 500 && none > 50);
    CHECK_EQ_INT(bad, 0);
}

static void test_hand_made_in_character_reply_scores_one(void)
{
    data_persona_style p = butler();
    rlhf_judge_item it = {&p, {0, false, false, 1}, DATA_LANG_EN, 0,
                          "Certainly. Please unplug the router, wait thirty seconds, and plug it "
                          "back in. May I take your coat? I hope this helps."};
    rlhf_judge_score s;
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.total, 1.0, 1e-12);
    CHECK_STR(s.reason, "ok");
    CHECK(!s.taboo);
    it.lang = DATA_LANG_ZH;
    it.reply = "好的，我来为您看看。请您把路由器的电源拔掉，等三十秒再插回去。请慢用。希望能帮到您。";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.total, 1.0, 1e-12);
}

/* A casual reply from the formal butler: casual opener and closer (both the wrong register:
 * opener 0, phrases 0/2) and a contraction (words 0) make tone 0; everything else holds:
 * total = 1 - 0.20 = 0.80, reason wrong_tone. */
static void test_casual_reply_from_formal_persona_is_wrong_tone(void)
{
    data_persona_style p = butler();
    rlhf_judge_item it = {&p, {0, false, false, 1}, DATA_LANG_EN, 0,
                          "Sure thing. Just unplug the router. You've got this!"};
    rlhf_judge_score s;
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.tone, 0.0, 1e-12);
    CHECK_NEAR(s.reaction, 1.0, 1e-12);
    CHECK_NEAR(s.energy, 1.0, 1e-12);
    CHECK_NEAR(s.length, 1.0, 1e-12);
    CHECK_NEAR(s.closer, 1.0, 1e-12);
    CHECK_NEAR(s.total, 0.80, 1e-12);
    CHECK_STR(s.reason, "wrong_tone");
    /* Mandarin: 你 in a formal reply breaks only the words check: tone 2/3 */
    it.lang = DATA_LANG_ZH;
    it.reply = "好的，我来为您看看。你把路由器的电源拔掉，等三十秒再插回去。希望能帮到您。";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.tone, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.total, 1.0 - 0.20 / 3.0, 1e-12);
}

/* An angry user and no apology: reaction 0 (and the opener, expected only without a
 * reaction, is now wrong: tone 2/3): total = 1 - 0.25 - 0.2/3, reason ignored_cue. */
static void test_ignoring_an_angry_user_is_ignored_cue(void)
{
    data_persona_style p = butler();
    rlhf_judge_item it = {&p, {5, false, false, 1}, DATA_LANG_EN, 0,
                          "Certainly. Please unplug the router, wait thirty seconds, and plug it "
                          "back in. I hope this helps."};
    rlhf_judge_score s;
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.reaction, 0.0, 1e-12);
    CHECK_NEAR(s.tone, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(s.total, 1.0 - 0.25 - 0.2 / 3.0, 1e-12);
    CHECK_STR(s.reason, "ignored_cue");
    /* with the apology (formal: no contractions) it is in character */
    it.reply = "I am sorry about this, and I understand why you are frustrated. Please unplug the "
               "router, wait thirty seconds, and plug it back in. I hope this helps.";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.total, 1.0, 1e-12);
    /* the wrong laughter variant (a joke for a humourless persona) is half a reaction */
    it.cue = (data_cue){0, true, false, 1};
    it.reply = "Ha, that is the spirit! Please unplug the router, wait thirty seconds, and plug it "
               "back in. I hope this helps.";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.reaction, 0.5, 1e-12);
}

/* Length, closer, energy and catchphrase each by hand. */
static void test_length_closer_energy_catchphrase_by_hand(void)
{
    data_persona_style p = butler();
    rlhf_judge_score s;
    /* three content sentences where one is planned: distance 2 -> 1/3 */
    rlhf_judge_item it = {&p, {0, false, false, 1}, DATA_LANG_EN, 0,
                          "Certainly. Please unplug the router. The lights should turn steady "
                          "green within two minutes. It is a simple fix. I hope this helps."};
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.length, 1.0 / 3.0, 1e-12);
    CHECK_STR(s.reason, "out_of_character");
    /* a farewell in turn 0: the other closer set is half right; none at all is 0 */
    it.reply = "Certainly. Please unplug the router. Have a pleasant day.";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.closer, 0.5, 1e-12);
    it.reply = "Certainly. Please unplug the router.";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.closer, 0.0, 1e-12);
    CHECK_NEAR(s.total, 0.9, 1e-12);
    /* mid energy: an exclaimed content sentence and an exclaimed closer */
    it.reply = "Certainly. Please unplug the router! I hope this helps!";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.energy, 0.5 * 0 + 0.5 * (1.0 / 2.0), 1e-12);
    /* the persona's Mandarin catchphrase in an English reply counts against */
    it.reply = "Certainly. Please unplug the router. 请慢用。 I hope this helps.";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.catchphrase, 0.0, 1e-12);
    CHECK_NEAR(s.language, 1.0, 1e-12); /* the catchphrase itself is not judged for language */
}

static void test_taboo_and_wrong_language(void)
{
    data_persona_style p = butler();
    rlhf_judge_score s;
    rlhf_judge_item it = {&p, {0, false, false, 1}, DATA_LANG_EN, 0,
                          "Certainly. Please unplug the router, you idiot. I hope this helps."};
    rlhf_judge(&it, &s);
    CHECK(s.taboo);
    CHECK_NEAR(s.total, 0.0, 0);
    CHECK_STR(s.reason, "taboo");
    it.lang = DATA_LANG_ZH;
    it.reply = "闭嘴。请您把路由器的电源拔掉。希望能帮到您。";
    rlhf_judge(&it, &s);
    CHECK(s.taboo);
    /* a Mandarin reply to an English turn */
    it.lang = DATA_LANG_EN;
    it.reply = "好的，我来为您看看。请您把路由器的电源拔掉，等三十秒再插回去。希望能帮到您。";
    rlhf_judge(&it, &s);
    CHECK_NEAR(s.language, 0.0, 0);
    CHECK_STR(s.reason, "wrong_language");
    CHECK_NEAR(s.total, 0.0, 0); /* the language gate */
    CHECK(rlhf_judge_taboos(DATA_LANG_EN)[0] != NULL);
}

/* Consistency: a persona's corpus replies over a dialogue are steady (1); swapping in a
 * reply of the opposite register and energy breaks it. */
static void test_dialogue_consistency(void)
{
    data_persona_style p = butler(), q = butler();
    p.energy = 0.9f;     /* high: the first content sentence exclaims */
    q.formality = 0.1f;  /* casual */
    q.energy = 0.1f;     /* low */
    core_rng r;
    core_rng_init(&r, 3, "test.judge.dialogue");
    char rep[3][DATA_DIALOGUE_REPLY_MAX];
    rlhf_judge_item it[3];
    rlhf_judge_score sc[3];
    for (int t = 0; t < 3; t++) {
        data_cue c = {0, false, false, 1};
        data_dialogue_reply(&p, &c, DATA_LANG_ZH, 0, t, &r, rep[t], sizeof rep[t]);
        it[t] = (rlhf_judge_item){&p, c, DATA_LANG_ZH, t, rep[t]};
    }
    CHECK_NEAR(rlhf_judge_dialogue(it, 3, sc), 1.0, 1e-12);
    for (int t = 0; t < 3; t++)
        CHECK_NEAR(sc[t].total, 1.0, 1e-12);
    data_dialogue_reply(&q, &it[1].cue, DATA_LANG_ZH, 0, 1, &r, rep[1], sizeof rep[1]);
    double c = rlhf_judge_dialogue(it, 3, sc);
    CHECK(c < 0.6);
    CHECK(sc[1].total < 0.9);
}

static void test_personas_load_reports_missing_file(void)
{
    rlhf_personas *p = (rlhf_personas *)1;
    core_status st = rlhf_personas_load("/nonexistent/personas.h5", &p);
    CHECK(st != CORE_OK);
    CHECK(p == NULL);
    CHECK_CONTAINS(core_error_message(), "/nonexistent/personas.h5");
    rlhf_personas_free(NULL);
}

int main(void)
{
    RUN(test_corpus_replies_score_one);
    RUN(test_wrong_style_or_cue_scores_lower);
    RUN(test_opening_swap_carries_the_reaction);
    RUN(test_hand_made_in_character_reply_scores_one);
    RUN(test_casual_reply_from_formal_persona_is_wrong_tone);
    RUN(test_ignoring_an_angry_user_is_ignored_cue);
    RUN(test_length_closer_energy_catchphrase_by_hand);
    RUN(test_taboo_and_wrong_language);
    RUN(test_dialogue_consistency);
    RUN(test_personas_load_reports_missing_file);
    return TEST_SUMMARY();
}
