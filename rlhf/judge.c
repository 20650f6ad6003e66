/* rlhf/judge.c: the persona-consistency judge (troupe-judge/1), a rule-based score of a reply
 * against a persona's style and the user's cue, and the personas.h5 roles it reads.
 *
 * Design. The corpus's replies follow fixed rules (docs/corpus-replies.md):
 * data_dialogue_plan() gives the structure a reply must have, data_dialogue_phrase() the
 * exact paraphrases of each phrase set under a register and energy. The judge parses a reply
 * back into that structure: a reaction clause (and a second comfort sentence) or a register
 * opener at the start, a closer at the end, the persona's catchphrases wherever they are,
 * and what is left, the content (and the optional light remark). Phrases are matched with
 * '!' and '.' (and their full-width forms) folded together, trying the persona's register
 * first and then the others, so a phrase in the wrong register or with the wrong end
 * punctuation is still recognised and blamed on tone or energy. Then each check compares
 * what was found with the plan. docs/rlhf.md states the checks, weights and reasons. */
#include "rlhf/rlhf.h"
#include "data/data.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- personas */

enum { MAX_LIST = 10 }; /* as many list items as data synth uses */

typedef struct role_lists {
    char cbuf[2048], dbuf[1024];
    const char *cps[MAX_LIST], *doms[MAX_LIST];
    int ncp, ndm;
} role_lists;

typedef struct id_row {
    uint64_t id, row;
} id_row;

struct rlhf_personas {
    data_persona_rows rows;
    role_lists *roles; /* [rows.n_roles] */
    id_row *by_id;     /* [rows.n], sorted by id */
};

static int cmp_id_row(const void *a, const void *b)
{
    uint64_t x = ((const id_row *)a)->id, y = ((const id_row *)b)->id;
    return x < y ? -1 : x > y;
}

void rlhf_personas_free(rlhf_personas *p)
{
    if (!p)
        return;
    data_persona_rows_free(&p->rows);
    free(p->roles);
    free(p->by_id);
    free(p);
}

core_status rlhf_personas_load(const char *personas_h5, rlhf_personas **out)
{
    *out = NULL;
    rlhf_personas *p = core_zalloc(1, sizeof *p, "personas");
    if (!p)
        return CORE_ERR_NOMEM;
    core_status st = data_persona_rows_load(personas_h5, &p->rows);
    if (st != CORE_OK) {
        free(p);
        return st;
    }
    p->roles = core_zalloc(p->rows.n_roles ? p->rows.n_roles : 1, sizeof *p->roles, "roles");
    p->by_id = core_alloc(p->rows.n ? p->rows.n : 1, sizeof *p->by_id, "persona ids");
    if (!p->roles || !p->by_id) {
        rlhf_personas_free(p);
        return CORE_ERR_NOMEM;
    }
    for (size_t r = 0; r < p->rows.n_roles; r++) {
        role_lists *l = &p->roles[r];
        l->ncp = data_persona_split_list(p->rows.catch[r], l->cbuf, sizeof l->cbuf, l->cps,
                                         MAX_LIST);
        l->ndm = data_persona_split_list(p->rows.domains[r], l->dbuf, sizeof l->dbuf, l->doms,
                                         MAX_LIST);
    }
    for (uint64_t i = 0; i < p->rows.n; i++)
        p->by_id[i] = (id_row){p->rows.ids[i], i};
    qsort(p->by_id, p->rows.n, sizeof *p->by_id, cmp_id_row);
    *out = p;
    return CORE_OK;
}

bool rlhf_personas_style(const rlhf_personas *p, uint64_t persona_id, data_persona_style *out)
{
    if (!p || p->rows.n == 0)
        return false;
    id_row key = {persona_id, 0};
    const id_row *hit = bsearch(&key, p->by_id, p->rows.n, sizeof *p->by_id, cmp_id_row);
    if (!hit)
        return false;
    int32_t role = p->rows.role[hit->row];
    const float *s = p->rows.style + (size_t)role * 7;
    const role_lists *l = &p->roles[role];
    *out = (data_persona_style){p->rows.role_id[role], s[0], s[1], s[2], s[3], s[4], s[5], s[6],
                                l->cps, l->ncp, l->doms, l->ndm};
    return true;
}

int rlhf_personas_language(const rlhf_personas *p, uint64_t persona_id)
{
    if (!p || p->rows.n == 0)
        return -1;
    id_row key = {persona_id, 0};
    const id_row *hit = bsearch(&key, p->by_id, p->rows.n, sizeof *p->by_id, cmp_id_row);
    return hit ? p->rows.lang[hit->row] : -1;
}

/* ---------------------------------------------------------------- text helpers */

enum { TXT = 4096 };

/* '!' -> '.', '！' -> '。' (same byte lengths, so offsets carry over). */
static void fold(char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '!')
            s[i] = '.';
        else if (!strncmp(s + i, "！", 3)) {
            memcpy(s + i, "。", 3);
            i += 2;
        }
    }
}

/* Removes bytes [a, b) of s, and one space left dangling (English). */
static void cut(char *s, size_t a, size_t b)
{
    size_t n = strlen(s);
    if (b < n && s[b] == ' ' && (a == 0 || s[a - 1] == ' '))
        b++;
    else if (b == n && a > 0 && s[a - 1] == ' ')
        a--;
    memmove(s + a, s + b, n - b + 1);
}

static bool has_contraction(const char *s)
{
    for (size_t i = 1; s[i]; i++)
        if (s[i] == '\'' && isalpha((unsigned char)s[i - 1]) && isalpha((unsigned char)s[i + 1]))
            return true;
    return false;
}

/* 你 not followed by 好 (the word 你好 quoted in a tone drill stays in every register). */
static bool has_informal_you(const char *s)
{
    for (const char *p = s; (p = strstr(p, "你")) != NULL; p += 3)
        if (strncmp(p + 3, "好", 3) != 0)
            return true;
    return false;
}

/* Sentence ends: English '.', '!' or '?' at the end or before a space; Mandarin 。！？. */
static int count_sentences(const char *s, int lang)
{
    int n = 0;
    for (size_t i = 0; s[i]; i++) {
        if (lang == DATA_LANG_EN) {
            if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && (s[i + 1] == ' ' || !s[i + 1]))
                n++;
        } else if (!strncmp(s + i, "。", 3) || !strncmp(s + i, "！", 3) ||
                   !strncmp(s + i, "？", 3)) {
            n++;
            i += 2;
        }
    }
    return n;
}

/* The end of the first sentence of s: its end mark, or NULL when it has none. */
static const char *first_end(const char *s, int lang)
{
    for (size_t i = 0; s[i]; i++) {
        if (lang == DATA_LANG_EN) {
            if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && (s[i + 1] == ' ' || !s[i + 1]))
                return s + i;
        } else if (!strncmp(s + i, "。", 3) || !strncmp(s + i, "！", 3) ||
                   !strncmp(s + i, "？", 3)) {
            return s + i;
        }
    }
    return NULL;
}

/* 1 when the sentence ending at e exclaims, 0 when it is a statement, -1 a question. */
static int exclaims(const char *e)
{
    if (!e)
        return -1;
    if (*e == '!' || !strncmp(e, "！", 3))
        return 1;
    if (*e == '?' || !strncmp(e, "？", 3))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- taboos */

/* Rude phrases no persona says (English compared without case). docs/rlhf.md lists them. */
static const char *const taboos_en[] = {"shut up", "stupid", "idiot", "whatever.",
                                        "not my problem", "figure it out yourself", NULL};
static const char *const taboos_zh[] = {"闭嘴", "笨蛋", "你懂什么", "白痴", "关我什么事",
                                        "烦不烦", NULL};

static bool has_taboo(const char *s)
{
    char low[TXT];
    size_t n = 0;
    for (; s[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)s[n]);
    low[n] = '\0';
    for (int k = 0; taboos_en[k]; k++)
        if (strstr(low, taboos_en[k]))
            return true;
    for (int k = 0; taboos_zh[k]; k++)
        if (strstr(s, taboos_zh[k]))
            return true;
    return false;
}

const char *const *rlhf_judge_taboos(int lang)
{
    return lang == DATA_LANG_ZH ? taboos_zh : taboos_en;
}

/* ---------------------------------------------------------------- parsing a reply */

static const float reg_formality[3] = {0.2f, 0.5f, 0.8f};

/* A phrase found in the reply. */
typedef struct found {
    int set, reg; /* -1 when none */
    bool punct_ok; /* its end punctuation is the persona's energy rule's */
} found;

typedef struct parsed {
    found react, more, opener, closer;
    int foreign_react; /* reaction phrases after the start */
    int own_catch, foreign_catch;
    char rest[TXT];   /* content and remark: the reply without the above */
    char plain[TXT];  /* the reply without catchphrases */
} parsed;

/* The length of paraphrase (set, reg, i) at s (folded), 0 when it is not there. `at_end`
 * requires it to end the text. The persona's energy applies. */
static size_t match_at(const data_persona_style *p, int set, int reg, int lang, int i,
                       const char *folded, bool at_end, char *phrase, size_t cap)
{
    data_persona_style q = *p;
    q.formality = reg_formality[reg];
    if (i >= data_dialogue_phrase_count(&q, (data_phrase_set)set, lang))
        return 0;
    data_dialogue_phrase(&q, (data_phrase_set)set, lang, i, phrase, cap);
    char f[512];
    snprintf(f, sizeof f, "%s", phrase);
    fold(f);
    size_t n = strlen(f);
    if (n == 0 || strncmp(folded, f, n) != 0)
        return 0;
    if (at_end && folded[n])
        return 0;
    if (lang == DATA_LANG_EN && folded[n] && folded[n] != ' ')
        return 0;
    return n;
}

/* The longest paraphrase of the sets [s0, s1) at the start of `folded` (persona's register
 * first); fills *fd and returns its length, 0 when none. orig: the unfolded text. */
static size_t match_sets(const data_persona_style *p, int lang, int s0, int s1, const char *orig,
                         const char *folded, found *fd)
{
    data_reply_plan pl;
    data_dialogue_plan(p, NULL, 0, &pl);
    const int order[3] = {pl.reg, (pl.reg + 1) % 3, (pl.reg + 2) % 3};
    size_t best = 0;
    char phrase[512];
    fd->set = fd->reg = -1;
    for (int k = 0; k < 3; k++)
        for (int s = s0; s < s1; s++)
            for (int i = 0; i < 4; i++) {
                size_t n = match_at(p, s, order[k], lang, i, folded, false, phrase, sizeof phrase);
                if (n > best) {
                    best = n;
                    fd->set = s;
                    fd->reg = order[k];
                    fd->punct_ok = strncmp(orig, phrase, n) == 0;
                }
            }
    return best;
}

/* A closer or farewell ending the text: its start, or -1. */
static long match_closer(const data_persona_style *p, int lang, const char *orig,
                         const char *folded, found *fd)
{
    data_reply_plan pl;
    data_dialogue_plan(p, NULL, 0, &pl);
    const int order[3] = {pl.reg, (pl.reg + 1) % 3, (pl.reg + 2) % 3};
    size_t len = strlen(folded);
    char phrase[512];
    fd->set = fd->reg = -1;
    for (int k = 0; k < 3; k++)
        for (int s = DATA_PHRASES_CLOSER; s <= DATA_PHRASES_FAREWELL; s++)
            for (int i = 0; i < 4; i++) {
                data_persona_style q = *p;
                q.formality = reg_formality[order[k]];
                if (i >= data_dialogue_phrase_count(&q, (data_phrase_set)s, lang))
                    continue;
                data_dialogue_phrase(&q, (data_phrase_set)s, lang, i, phrase, sizeof phrase);
                char f[512];
                snprintf(f, sizeof f, "%s", phrase);
                fold(f);
                size_t n = strlen(f);
                if (n == 0 || n > len || strcmp(folded + len - n, f) != 0)
                    continue;
                size_t at = len - n;
                if (lang == DATA_LANG_EN && at > 0 && folded[at - 1] != ' ')
                    continue;
                fd->set = s;
                fd->reg = order[k];
                fd->punct_ok = strcmp(orig + at, phrase) == 0;
                return (long)at;
            }
    return -1;
}

/* Removes every catchphrase of the persona from t (as the corpus writes it: control
 * characters as spaces, trimmed, with an added end mark when it has none), counting those
 * in the reply's language and those in another. */
static void strip_catchphrases(const data_persona_style *p, int lang, char *t, int *own,
                               int *foreign)
{
    for (int c = 0; c < p->n_catchphrases && p->catchphrases; c++) {
        const char *cp = p->catchphrases[c];
        if (!cp)
            continue;
        char clean[512];
        size_t n = 0;
        for (size_t i = 0; cp[i] && n + 1 < sizeof clean; i++)
            clean[n++] = (unsigned char)cp[i] < 0x20 ? ' ' : cp[i];
        clean[n] = '\0';
        while (n > 0 && clean[n - 1] == ' ')
            clean[--n] = '\0';
        const char *c0 = clean;
        while (*c0 == ' ')
            c0++;
        size_t m = strlen(c0);
        if (m == 0)
            continue;
        int script = strlen(cp) <= 400 ? data_dialogue_script(cp) : -1;
        char *at;
        while ((at = strstr(t, c0)) != NULL) {
            size_t a = (size_t)(at - t), b = a + m;
            if (t[b] == '.' && (b + 1 == strlen(t) || t[b + 1] == ' '))
                b++;
            else if (!strncmp(t + b, "。", 3))
                b += 3;
            cut(t, a, b);
            if (script == lang)
                (*own)++;
            else
                (*foreign)++;
        }
    }
}

/* Cuts the start of t: a reaction (and a second comfort sentence) or an opener, setting
 * react, more and opener (set -1 where none). */
static void cut_opening(const data_persona_style *p, int lang, char *t, found *react, found *more,
                        found *opener)
{
    char f[TXT];
    more->set = more->reg = -1;
    snprintf(f, sizeof f, "%s", t);
    fold(f);
    size_t n = match_sets(p, lang, DATA_PHRASES_COMFORT_SHORT, DATA_PHRASES_OPENER, t, f, react);
    if (react->set == DATA_PHRASES_COMFORT_MORE) /* not an opening set on its own */
        react->set = -1, react->reg = -1, n = 0;
    if (n) {
        cut(t, 0, n);
        snprintf(f, sizeof f, "%s", t);
        fold(f);
        n = match_sets(p, lang, DATA_PHRASES_COMFORT_MORE, DATA_PHRASES_COMFORT_MORE + 1, t, f,
                       more);
        if (n) {
            cut(t, 0, n);
            snprintf(f, sizeof f, "%s", t);
            fold(f);
        }
    }
    n = match_sets(p, lang, DATA_PHRASES_OPENER, DATA_PHRASES_OPENER + 1, t, f, opener);
    if (n)
        cut(t, 0, n);
}

size_t rlhf_judge_opening(const data_persona_style *p, int lang, const char *reply)
{
    CORE_ASSERT(p != NULL && reply != NULL);
    char t[TXT];
    snprintf(t, sizeof t, "%s", reply);
    const size_t n0 = strlen(t);
    found react, more, opener;
    cut_opening(p, lang, t, &react, &more, &opener);
    return n0 - strlen(t);
}

static void parse(const rlhf_judge_item *it, parsed *ps)
{
    const data_persona_style *p = it->persona;
    const int lang = it->lang;
    memset(ps, 0, sizeof *ps);
    ps->react.set = ps->more.set = ps->opener.set = ps->closer.set = -1;
    char t[TXT], f[TXT];
    snprintf(t, sizeof t, "%s", it->reply ? it->reply : "");
    strip_catchphrases(p, lang, t, &ps->own_catch, &ps->foreign_catch);
    snprintf(ps->plain, sizeof ps->plain, "%s", t);
    cut_opening(p, lang, t, &ps->react, &ps->more, &ps->opener);
    snprintf(f, sizeof f, "%s", t);
    fold(f);
    long at = match_closer(p, lang, t, f, &ps->closer);
    if (at >= 0) {
        cut(t, (size_t)at, strlen(t));
        snprintf(f, sizeof f, "%s", t);
        fold(f);
    }
    /* reaction phrases anywhere else, at sentence starts */
    for (size_t i = 0; f[i]; i++) {
        bool start = i > 0 && (lang == DATA_LANG_EN ? f[i - 1] == ' '
                                                    : (i >= 3 && (!strncmp(f + i - 3, "。", 3) ||
                                                                  !strncmp(f + i - 3, "？", 3))));
        if (!start)
            continue;
        found fd;
        if (match_sets(p, lang, DATA_PHRASES_COMFORT_SHORT, DATA_PHRASES_OPENER, t + i, f + i,
                       &fd))
            ps->foreign_react++;
    }
    snprintf(ps->rest, sizeof ps->rest, "%s", t);
}

/* ---------------------------------------------------------------- the checks */

/* Weights of the total (docs/rlhf.md), in check order. */
enum { C_LANGUAGE, C_REACTION, C_TONE, C_ENERGY, C_LENGTH, C_CLOSER, C_CATCHPHRASE, N_CHECKS };
static const double weights[N_CHECKS] = {0.15, 0.25, 0.20, 0.10, 0.10, 0.10, 0.10};
static const char *const reasons[N_CHECKS] = {"wrong_language",   "ignored_cue",
                                              "wrong_tone",       "out_of_character",
                                              "out_of_character", "out_of_character",
                                              "out_of_character"};

static int sibling(int set)
{
    switch (set) {
    case DATA_PHRASES_COMFORT_SHORT: return DATA_PHRASES_COMFORT;
    case DATA_PHRASES_COMFORT: return DATA_PHRASES_COMFORT_SHORT;
    case DATA_PHRASES_JOKE: return DATA_PHRASES_LAUGH_ACK;
    case DATA_PHRASES_LAUGH_ACK: return DATA_PHRASES_JOKE;
    default: return -2;
    }
}

void rlhf_judge(const rlhf_judge_item *it, rlhf_judge_score *out)
{
    CORE_ASSERT(it != NULL && it->persona != NULL && out != NULL);
    CORE_ASSERT(it->lang == DATA_LANG_EN || it->lang == DATA_LANG_ZH);
    memset(out, 0, sizeof *out);
    data_cue cue = it->cue;
    if (cue.emotion < 0 || cue.emotion > 9)
        cue.emotion = 0;
    if (cue.speed < 0 || cue.speed > 2)
        cue.speed = 1;
    const int turn = it->turn < 0 ? 0 : it->turn;
    const int lang = it->lang;
    data_reply_plan pl;
    data_dialogue_plan(it->persona, &cue, turn, &pl);
    parsed *ps = malloc(sizeof *ps);
    CORE_ASSERT(ps != NULL);
    parse(it, ps);
    double s[N_CHECKS];

    /* language: the reply (catchphrases aside) is in the cue's language */
    {
        bool non_ascii = false, latin = false, han = false;
        for (const unsigned char *c = (const unsigned char *)ps->plain; *c; c++) {
            non_ascii |= *c >= 0x80;
            latin |= isalpha(*c) != 0;
        }
        han = data_dialogue_script(ps->plain) == DATA_LANG_ZH;
        s[C_LANGUAGE] = lang == DATA_LANG_EN ? (!non_ascii && latin) : (han && !latin);
    }

    /* reaction: the expected set at the start, and no other reaction phrase */
    {
        const int e = pl.reaction_set, got = ps->react.set;
        double r;
        if (e < 0)
            r = got < 0 ? 1.0 : 0.0;
        else
            r = got == e ? 1.0 : got == sibling(e) ? 0.5 : 0.0;
        if (r > 0 && e >= 0 && pl.comfort_more != (ps->more.set >= 0))
            r -= 0.25;
        if (ps->foreign_react > 0)
            r *= 0.5;
        s[C_REACTION] = r;
    }

    /* tone: the opener rule, the register of every phrase found, and the register's words */
    {
        double opener = pl.opener ? ps->opener.reg == pl.reg : ps->opener.set < 0;
        const found *fs[4] = {&ps->react, &ps->more, &ps->opener, &ps->closer};
        int m = 0, ok = 0;
        for (int k = 0; k < 4; k++)
            if (fs[k]->set >= 0) {
                m++;
                ok += fs[k]->reg == pl.reg;
            }
        double phrases = m ? (double)ok / m : 1.0;
        double words;
        if (lang == DATA_LANG_EN)
            words = pl.reg == DATA_REGISTER_FORMAL ? !has_contraction(ps->plain) : 1.0;
        else if (pl.reg == DATA_REGISTER_FORMAL)
            words = !has_informal_you(ps->plain);
        else
            words = strstr(ps->plain, "您") == NULL;
        s[C_TONE] = (opener + phrases + words) / 3.0;
    }

    /* energy: the phrases' end marks, and the content's exclamation rule */
    {
        const found *fs[4] = {&ps->react, &ps->more, &ps->opener, &ps->closer};
        int m = 0, ok = 0;
        for (int k = 0; k < 4; k++)
            if (fs[k]->set >= 0) {
                m++;
                ok += fs[k]->punct_ok;
            }
        bool any_bang = strchr(ps->rest, '!') || strstr(ps->rest, "！");
        int first = exclaims(first_end(ps->rest, lang));
        double content;
        if (pl.energy == DATA_ENERGY_HIGH) {
            /* only the first content sentence exclaims (a question stays one) */
            int bangs = 0;
            for (const char *c = ps->rest; *c; c++)
                bangs += *c == '!' || !strncmp(c, "！", 3);
            content = first != 0 && bangs <= 1;
        } else {
            content = !any_bang;
        }
        s[C_ENERGY] = m ? 0.5 * content + 0.5 * (double)ok / m : content;
    }

    /* length: content sentences (and the optional remark) as the plan allows */
    {
        int n = count_sentences(ps->rest, lang);
        /* the remark is one sentence, except one English remark of potion_brewing that is
         * two ("Try not to taste it to test it. That's how I lost my eyebrows.") */
        int lo = pl.n_content,
            hi = pl.n_content + (pl.p_remark > 0 ? (lang == DATA_LANG_EN ? 2 : 1) : 0);
        int d = n < lo ? lo - n : n > hi ? n - hi : 0;
        s[C_LENGTH] = 1.0 / (1.0 + d);
    }

    /* closer: a closer (turns 0, 1) or farewell (closing turn) iff warmth > 0.6 */
    {
        const int e = pl.closer_set, got = ps->closer.set;
        s[C_CLOSER] = e < 0 ? got < 0 : got == e ? 1.0 : got >= 0 ? 0.5 : 0.0;
    }

    /* catchphrase: optional; at most one, and only in the reply's language */
    s[C_CATCHPHRASE] = ps->foreign_catch > 0 ? 0.0 : ps->own_catch > 1 ? 0.5 : 1.0;

    out->language = s[C_LANGUAGE];
    out->reaction = s[C_REACTION];
    out->tone = s[C_TONE];
    out->energy = s[C_ENERGY];
    out->length = s[C_LENGTH];
    out->closer = s[C_CLOSER];
    out->catchphrase = s[C_CATCHPHRASE];
    out->taboo = has_taboo(ps->plain);
    free(ps);
    if (out->taboo) {
        out->total = 0;
        out->reason = "taboo";
        return;
    }
    double total = 0, worst = 0;
    out->reason = "ok";
    for (int k = 0; k < N_CHECKS; k++) {
        total += weights[k] * s[k];
        double loss = weights[k] * (1.0 - s[k]);
        if (loss > worst + 1e-12) {
            worst = loss;
            out->reason = reasons[k];
        }
    }
    /* a reply in the wrong language is useless whatever else holds, and that is why it
     * fails (its other checks read phrases of the wrong language) */
    out->total = s[C_LANGUAGE] > 0 ? total : 0.0;
    if (s[C_LANGUAGE] <= 0)
        out->reason = reasons[C_LANGUAGE];
}

/* ---------------------------------------------------------------- dialogues */

/* Register and energy as observed, independent of the persona: 1 formal / 0 informal / -1
 * unknown; 1 the first content sentence exclaims / 0 it does not / -1 unknown. */
static void observe(const rlhf_judge_item *it, int *formal, int *high)
{
    parsed *ps = malloc(sizeof *ps);
    CORE_ASSERT(ps != NULL);
    parse(it, ps);
    *formal = -1;
    if (it->lang == DATA_LANG_EN) {
        if (has_contraction(ps->plain))
            *formal = 0;
        else if (ps->opener.reg == DATA_REGISTER_FORMAL || ps->closer.reg == DATA_REGISTER_FORMAL)
            *formal = 1;
    } else {
        if (strstr(ps->plain, "您"))
            *formal = 1;
        else if (has_informal_you(ps->plain))
            *formal = 0;
    }
    *high = exclaims(first_end(ps->rest, it->lang));
    free(ps);
}

double rlhf_judge_dialogue(const rlhf_judge_item *items, size_t n, rlhf_judge_score *scores)
{
    int pf = -1, ph = -1, cmp = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (scores)
            rlhf_judge(&items[i], &scores[i]);
        int f, h;
        observe(&items[i], &f, &h);
        if (i > 0 && f >= 0 && pf >= 0) {
            cmp++;
            bad += f != pf;
        }
        if (i > 0 && h >= 0 && ph >= 0) {
            cmp++;
            bad += h != ph;
        }
        if (f >= 0)
            pf = f;
        if (h >= 0)
            ph = h;
    }
    return cmp ? 1.0 - (double)bad / cmp : 1.0;
}
