/* The eval run: paralinguistic comprehension, general dialogue, persona consistency over
 * self-play, streaming latency and the weighted overall score of one checkpoint
 * (docs/eval.md defines every number). */
#include "data/data.h"
#include "eval/internal.h"
#include "rlhf/rlhf.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the spec */

#define F(key, type, field, lo, hi, choices, flags, help)                                         \
    {key, type, offsetof(eval_cfg, field), lo, hi, choices, flags, help}
static const core_cfg_field fields[] = {
    F("name", CORE_CFG_STR, name, 0, 0, NULL, 0, "the benchmark's name, printed with the table"),
    F("model", CORE_CFG_STR, model, 0, 0, NULL, CORE_CFG_NULLABLE,
      "model config of the checkpoints (null: the one each checkpoint's training config names)"),
    F("data.corpus", CORE_CFG_STR, corpus, 0, 0, NULL, CORE_CFG_NULLABLE,
      "a `troupe data ingest` output folder holding the eval split"),
    F("data.split", CORE_CFG_STR, split, 0, 0, NULL, 0,
      "shards whose manifest id contains this are the eval set"),
    F("data.personas", CORE_CFG_STR, personas, 0, 0, NULL, CORE_CFG_NULLABLE,
      "the personas.h5 the corpus refers to"),
    F("data.stepeval", CORE_CFG_STR, stepeval, 0, 0, NULL, CORE_CFG_NULLABLE,
      "a StepEval-style items file (JSON or JSON lines) instead of a corpus"),
    F("data.sha256", CORE_CFG_STR, set_sha256, 0, 0, NULL, CORE_CFG_NULLABLE,
      "the eval set's expected hash (null: not checked)"),
    F("data.items", CORE_CFG_INT, items, 0, 1e9, NULL, 0, "score the first N items (0: all)"),
    F("metrics", CORE_CFG_STRLIST, metrics, 1, 4, NULL, 0,
      "any of paralinguistic, dialogue, persona, latency"),
    F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of distractors, self-play, bootstrap"),
    F("bootstrap", CORE_CFG_INT, bootstrap, 0, 1e6, NULL, 0,
      "bootstrap resamples for the 95% intervals (0: none)"),
    F("dialogue.candidates", CORE_CFG_INT, candidates, 2, 100, NULL, 0,
      "replies ranked per item: the reference and candidates-1 distractors"),
    F("dialogue.max_new", CORE_CFG_INT, max_new, 1, 4096, NULL, 0, "reply bytes generated at most"),
    F("dialogue.items", CORE_CFG_INT, dialogue_items, 0, 1e9, NULL, 0,
      "score general dialogue on the first N items (0: all); every item is a distractor"),
    F("persona.dialogues", CORE_CFG_INT, drift_dialogues, 0, 1e6, NULL, 0,
      "self-play dialogues for the drift curve"),
    F("persona.turns", CORE_CFG_INT, drift_turns, 1, EVAL_MAX_TURNS, NULL, 0,
      "turns per self-play dialogue"),
    F("latency.items", CORE_CFG_INT, latency_items, 0, 1e9, NULL, 0,
      "items whose first-token latency is measured (0: all)"),
    F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0,
      "items scored in parallel, each on one core (0: every core); latency is timed alone after"),
    F("weights.dialogue", CORE_CFG_REAL, weight_dialogue, 0, 1, NULL, 0,
      "weight of general dialogue in the overall score"),
    F("weights.paralinguistic", CORE_CFG_REAL, weight_paralinguistic, 0, 1, NULL, 0,
      "weight of paralinguistic comprehension"),
    F("weights.persona", CORE_CFG_REAL, weight_persona, 0, 1, NULL, 0,
      "weight of persona consistency"),
    F("hygiene", CORE_CFG_BOOL, hygiene, 0, 0, NULL, 0,
      "refuse items whose audio the checkpoint's lineage lists"),
    F("reference.overall", CORE_CFG_STRLIST, ref_overall_s, 0, 8, NULL, 0,
      "published overall score: one value, or one per --checkpoint in order ([]: none)"),
    F("reference.dialogue", CORE_CFG_STRLIST, ref_dialogue_s, 0, 8, NULL, 0,
      "published general dialogue score(s) ([]: none)"),
    F("reference.paralinguistic", CORE_CFG_STRLIST, ref_paralinguistic_s, 0, 8, NULL, 0,
      "published paralinguistic score(s) ([]: none)"),
    F("reference.persona", CORE_CFG_STRLIST, ref_persona_s, 0, 8, NULL, 0,
      "published persona consistency score(s) ([]: none)"),
    F("reference.tolerance", CORE_CFG_REAL, tolerance, 0, 100, NULL, 0,
      "allowed absolute difference to the reference, in score points"),
};
#undef F
const core_cfg_schema eval_schema = {"eval", "eval/default.yaml", sizeof(eval_cfg), fields,
                                     sizeof fields / sizeof *fields,
                                     "eval: a benchmark spec (eval set, metrics, seeds, reference)"};

core_status eval_cfg_finish(eval_cfg *cfg)
{
    const core_strlist *l[4] = {&cfg->ref_overall_s, &cfg->ref_dialogue_s,
                                &cfg->ref_paralinguistic_s, &cfg->ref_persona_s};
    static const char *const keys[4] = {"overall", "dialogue", "paralinguistic", "persona"};
    for (int k = 0; k < 4; k++) {
        cfg->n_ref[k] = 0;
        for (size_t i = 0; i < l[k]->n && i < 8; i++) {
            double v;
            if (!core_parse_f64(l[k]->items[i], &v) || v > 100)
                return CORE_ERR(CORE_ERR_SCHEMA,
                                "reference.%s: '%s' is not a score (a number up to 100, or "
                                "negative for none)",
                                keys[k], l[k]->items[i]);
            cfg->ref[k][cfg->n_ref[k]++] = v < 0 ? NAN : v;
        }
    }
    return CORE_OK;
}

double eval_cfg_reference(const eval_cfg *cfg, int s, size_t i)
{
    if (s < 0 || s > 3 || cfg->n_ref[s] == 0)
        return NAN;
    if (cfg->n_ref[s] == 1)
        return cfg->ref[s][0];
    return i < (size_t)cfg->n_ref[s] ? cfg->ref[s][i] : NAN;
}

void eval_result_free(eval_result *r)
{
    if (!r)
        return;
    free(r->checkpoint);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- decoding helpers */

typedef struct ctx {
    const eval_cfg *cfg;
    const eval_set *set;
    int max_seq;
    train_infer *s;
    rlhf_personas *pers; /* the judge's personas: NULL in a pass that judges nothing */
    float *logits; /* max_seq x TRAIN_VOCAB */
    int32_t *tok;  /* max_seq + 1 tokens */
    int32_t *hist; /* self-play history */
    size_t hist_cap;
    int32_t *reply; /* max_new + 1 */
    size_t *pool;   /* distractor indices */
    char *texts;    /* self-play replies, turns x (max_new + 1) */
} ctx;

/* Returns from a helper when a step fails. */
#define RET_ON(expr)                                                                               \
    do {                                                                                           \
        core_status st_ = (expr);                                                                  \
        if (st_ != CORE_OK)                                                                        \
            return st_;                                                                            \
    } while (0)

/* The greedy reply after a context (rlhf_reply at temperature 0 draws nothing). */
static core_status greedy(ctx *c, int budget, int *n_out)
{
    core_rng rng;
    bool eos;
    core_rng_init(&rng, 0, "eval.greedy");
    return rlhf_reply(c->s, budget, 0, 0, &rng, c->reply, n_out, &eos);
}

/* Log-probability of the reply (its bytes and EOS) after the context already pushed (length
 * L): BOS + bytes pushed as one chunk, then the cache is cut back to L. *ntok the targets
 * scored (the reply is cut to what max_seq leaves). */
static core_status reply_logp(ctx *c, const int32_t *reply, size_t n, double *logp, int *ntok)
{
    const int L = train_infer_length(c->s);
    int room = c->max_seq - L - 1; /* bytes that fit after BOS */
    if (room < 0)
        room = 0;
    if ((int)n > room)
        n = (size_t)room;
    c->tok[0] = DATA_TOK_BOS;
    memcpy(c->tok + 1, reply, n * sizeof *reply);
    RET_ON(train_infer_push_tokens(c->s, c->tok, (int)n + 1, c->logits));
    double sum = 0;
    for (size_t j = 0; j <= n; j++) {
        const float *z = c->logits + j * TRAIN_VOCAB;
        const int32_t target = j < n ? reply[j] : DATA_TOK_EOS;
        double mx = z[0];
        for (int v = 1; v < TRAIN_VOCAB; v++)
            mx = z[v] > mx ? z[v] : mx;
        double se = 0;
        for (int v = 0; v < TRAIN_VOCAB; v++)
            se += exp((double)z[v] - mx);
        sum += (double)z[target] - mx - log(se);
    }
    train_infer_truncate(c->s, L);
    *logp = sum;
    *ntok = (int)n + 1;
    return CORE_OK;
}

static void text_of(const int32_t *t, int n, char *buf, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < n && k + 1 < cap; i++)
        buf[k++] = (char)(t[i] > 0 && t[i] < 256 ? t[i] : '?');
    buf[k] = '\0';
}

static bool same_tokens(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void machine_name(char *buf, size_t n)
{
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                const char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ')
                        p++;
                    snprintf(model, sizeof model, "%s", p);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    snprintf(buf, n, "%s, %d cores", model, core_threads_default());
}

/* ---------------------------------------------------------------- bootstrap of composites */

/* Paralinguistic score of the items idx[0..n): mean over dimensions (with labelled items
 * among them) of the accuracy, in 0-100. */
static double para_score(const eval_set *set, const int32_t *pred, const size_t *idx, size_t n)
{
    double sum = 0;
    int dims = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        size_t lab = 0, ok = 0;
        for (size_t i = 0; i < n; i++) {
            const int32_t t = set->items[idx[i]].labels[k];
            if (t < 0)
                continue;
            lab++;
            ok += pred[idx[i] * TRAIN_N_HEADS_PARA + (size_t)k] == t;
        }
        if (lab) {
            sum += 100.0 * (double)ok / (double)lab;
            dims++;
        }
    }
    return dims ? sum / dims : NAN;
}

static double mean_of(const double *x, const size_t *idx, size_t n)
{
    if (!n)
        return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[idx ? idx[i] : i];
    return s / (double)n;
}

static double combine(const eval_cfg *cfg, double dlg, double para, double pers)
{
    double w[3] = {cfg->weight_dialogue, cfg->weight_paralinguistic, cfg->weight_persona};
    double v[3] = {dlg, para, pers}, s = 0, ws = 0;
    for (int k = 0; k < 3; k++)
        if (!isnan(v[k]) && w[k] > 0) {
            s += w[k] * v[k];
            ws += w[k];
        }
    return ws > 0 ? s / ws : NAN;
}

/* The paralinguistic and overall intervals: every replicate resamples the items of each
 * part independently (items, dialogue items, self-play dialogues). */
static void bootstrap_composites(const eval_cfg *cfg, const eval_set *set, const int32_t *pred,
                                 const size_t *para_items, size_t n_para, const double *dlg,
                                 size_t n_dlg, const double *pers, size_t n_pers, eval_result *r)
{
    const int B = (int)cfg->bootstrap;
    if (B <= 0)
        return;
    size_t nmax = n_para > n_dlg ? n_para : n_dlg;
    nmax = nmax > n_pers ? nmax : n_pers;
    size_t *idx = core_alloc(nmax ? nmax : 1, sizeof *idx, "bootstrap");
    size_t *jdx = core_alloc(nmax ? nmax : 1, sizeof *jdx, "bootstrap");
    double *ps = core_alloc((size_t)B, sizeof *ps, "bootstrap");
    double *os = core_alloc((size_t)B, sizeof *os, "bootstrap");
    if (!idx || !jdx || !ps || !os)
        goto done;
    core_rng rng;
    core_rng_init(&rng, (uint64_t)cfg->seed, "eval.bootstrap.overall");
    int np = 0, no = 0;
    for (int b = 0; b < B; b++) {
        double p = NAN, d = NAN, q = NAN;
        if (n_para) {
            for (size_t i = 0; i < n_para; i++)
                jdx[i] = para_items[core_rng_below(&rng, n_para)];
            p = para_score(set, pred, jdx, n_para);
        }
        if (n_dlg) {
            for (size_t i = 0; i < n_dlg; i++)
                idx[i] = core_rng_below(&rng, n_dlg);
            d = 100 * mean_of(dlg, idx, n_dlg);
        }
        if (n_pers) {
            for (size_t i = 0; i < n_pers; i++)
                idx[i] = core_rng_below(&rng, n_pers);
            q = mean_of(pers, idx, n_pers);
        }
        if (!isnan(p))
            ps[np++] = p;
        double o = combine(cfg, d, p, q);
        if (!isnan(o))
            os[no++] = o;
    }
    if (np) {
        r->paralinguistic.lo = eval_quantile(ps, (size_t)np, 0.025);
        r->paralinguistic.hi = eval_quantile(ps, (size_t)np, 0.975);
    }
    if (no) {
        r->overall.lo = eval_quantile(os, (size_t)no, 0.025);
        r->overall.hi = eval_quantile(os, (size_t)no, 0.975);
    }
done:
    free(idx);
    free(jdx);
    free(ps);
    free(os);
}

static eval_ci scaled(eval_ci c)
{
    return (eval_ci){100 * c.value, 100 * c.lo, 100 * c.hi};
}

/* ---------------------------------------------------------------- the run */

static bool wants(const eval_cfg *cfg, const char *metric)
{
    for (size_t i = 0; i < cfg->metrics.n; i++)
        if (!strcmp(cfg->metrics.items[i], metric))
            return true;
    return false;
}

static core_status check_metrics(const eval_cfg *cfg)
{
    static const char *const known[] = {"paralinguistic", "dialogue", "persona", "latency"};
    for (size_t i = 0; i < cfg->metrics.n; i++) {
        bool ok = false;
        for (int k = 0; k < 4; k++)
            ok |= !strcmp(cfg->metrics.items[i], known[k]);
        if (!ok)
            return CORE_ERR(CORE_ERR_SCHEMA,
                            "metrics: unknown metric '%s' (paralinguistic, dialogue, persona, "
                            "latency)",
                            cfg->metrics.items[i]);
    }
    return CORE_OK;
}

/* Lineage hygiene: every item's audio hash looked up among the checkpoint's. */
static core_status hygiene(const eval_cfg *cfg, const eval_set *set, const char *ckpt,
                           const train_ckpt_meta *meta, eval_result *r)
{
    r->lineage_hashes = meta->n_audio;
    if (!cfg->hygiene)
        return CORE_OK;
    if (meta->n_audio == 0)
        return CORE_ERR(CORE_ERR_CHECK,
                        "%s: the checkpoint's lineage lists no audio hashes "
                        "(/lineage/audio_sha256), so held-out hygiene cannot be checked; "
                        "retrain with this version, or set hygiene: false to score anyway",
                        ckpt);
    const char *first = NULL;
    for (size_t i = 0; i < set->n; i++) {
        uint8_t h[32];
        if (!core_unhex(h, 32, set->items[i].audio_sha256))
            return CORE_ERR(CORE_ERR_FORMAT, "eval item %s: audio_sha256 '%s' is not a SHA-256",
                            set->items[i].id, set->items[i].audio_sha256);
        r->hygiene_checked++;
        if (train_hashes_contain(meta->audio_sha256, meta->n_audio, h)) {
            r->hygiene_refused++;
            if (!first)
                first = set->items[i].id;
        }
    }
    if (r->hygiene_refused)
        return CORE_ERR(CORE_ERR_CHECK,
                        "%s: %zu of %zu eval items were in its training data (first: %s); "
                        "refusing to score a held-out set the checkpoint has seen",
                        ckpt, r->hygiene_refused, r->hygiene_checked, first);
    return CORE_OK;
}

/* What scoring one item found. */
typedef struct item_out {
    int32_t pred[TRAIN_N_HEADS_PARA];
    bool judged;  /* in the dialogue scores */
    double hit, cue, nll;
    int ntok, cands;
} item_out;

/* One self-play dialogue's judge scores. */
typedef struct dlg_out {
    bool ok;
    double turn[EVAL_MAX_TURNS], prompt_line, line_line;
} dlg_out;

/* The shared state of a run's workers. */
typedef struct pool_job {
    ctx *w;         /* [workers] */
    size_t n;       /* tasks */
    size_t next;    /* the next task (atomic) */
    item_out *items;
    dlg_out *dlgs;
    const size_t *starts; /* self-play: the opening items */
    core_status *st;      /* [workers] */
    bool selfplay;
} pool_job;

/* Scores item i: heads, greedy reply judged for the cue, and response selection. */
static core_status score_item(ctx *c, size_t i, item_out *o)
{
    const eval_cfg *cfg = c->cfg;
    const eval_set *set = c->set;
    const eval_item *it = &set->items[i];
    int budget;
    RET_ON(train_infer_push_context(c->s, it->has_persona ? it->persona : NULL, it->history,
                                    it->n_history, it->mel, it->frames, (int)cfg->max_new, false,
                                    &budget, NULL));
    RET_ON(train_infer_para(c->s, o->pred, NULL));
    data_persona_style style;
    const bool known = c->pers && it->has_persona && it->n_reply &&
                       (cfg->dialogue_items <= 0 || i < (size_t)cfg->dialogue_items) &&
                       rlhf_personas_style(c->pers, it->persona_id, &style);
    if (!known)
        return CORE_OK;
    const int L = train_infer_length(c->s);
    /* fit to the cue: the judge's reaction check on the greedy reply */
    int nr = 0;
    RET_ON(greedy(c, budget, &nr));
    char text[4200];
    text_of(c->reply, nr, text, sizeof text);
    rlhf_judge_item ji = {&style, it->cue, it->lang, it->turn_kind, text};
    rlhf_judge_score sc;
    rlhf_judge(&ji, &sc);
    o->cue = sc.reaction;
    train_infer_truncate(c->s, L);
    /* response selection: the reference among distractors of the same language */
    size_t np = 0;
    const size_t n = set->n;
    for (size_t j = 0; j < n; j++)
        if (j != i && set->items[j].n_reply && set->items[j].lang == it->lang &&
            !same_tokens(set->items[j].reply, set->items[j].n_reply, it->reply, it->n_reply))
            c->pool[np++] = j;
    core_rng rng;
    core_rng_init(&rng, (uint64_t)cfg->seed, "eval.candidates");
    rng = core_rng_fork(&rng, i);
    const size_t want = (size_t)cfg->candidates - 1, k = want < np ? want : np;
    for (size_t a = 0; a < k; a++) { /* partial Fisher-Yates */
        size_t b = a + (size_t)core_rng_below(&rng, np - a);
        size_t t = c->pool[a];
        c->pool[a] = c->pool[b];
        c->pool[b] = t;
    }
    double ref, best = -INFINITY;
    int nt;
    RET_ON(reply_logp(c, it->reply, it->n_reply, &ref, &nt));
    for (size_t a = 0; a < k; a++) {
        const eval_item *d = &set->items[c->pool[a]];
        double lp;
        int dn;
        RET_ON(reply_logp(c, d->reply, d->n_reply, &lp, &dn));
        best = lp / dn > best ? lp / dn : best;
    }
    o->judged = true;
    o->nll = -ref;
    o->ntok = nt;
    o->hit = ref / nt > best ? 1.0 : 0.0; /* ties count against */
    o->cands = (int)k + 1;
    return CORE_OK;
}

/* One self-play dialogue from the opening item s0: the persona answers `turns` user turns;
 * the first is s0's, the others held-out utterances in its language drawn by `ur` (their
 * audio, cue and words). */
static core_status selfplay(ctx *c, const eval_item *s0, core_rng ur, dlg_out *o)
{
    const eval_cfg *cfg = c->cfg;
    const eval_set *set = c->set;
    const int turns = (int)cfg->drift_turns;
    data_persona_style style;
    if (!rlhf_personas_style(c->pers, s0->persona_id, &style))
        return CORE_OK;
    size_t nh = s0->n_history < c->hist_cap / 2 ? s0->n_history : 0;
    memcpy(c->hist, s0->history, nh * sizeof *c->hist);
    rlhf_judge_item ji[EVAL_MAX_TURNS];
    rlhf_judge_score sc[EVAL_MAX_TURNS];
    const eval_item *user = s0;
    for (int t = 0; t < turns; t++) {
        if (t > 0) {
            const eval_item *u = NULL;
            for (int tries = 0; tries < 64 && !u; tries++) {
                const eval_item *x = &set->items[core_rng_below(&ur, set->n)];
                if (x != s0 && x->lang == s0->lang && x->frames)
                    u = x;
            }
            user = u ? u : s0;
        }
        int budget, nr = 0;
        RET_ON(train_infer_push_context(c->s, s0->persona, c->hist, nh, user->mel,
                                        user->frames, (int)cfg->max_new, false, &budget, NULL));
        RET_ON(greedy(c, budget, &nr));
        char *tx = c->texts + (size_t)t * ((size_t)cfg->max_new + 1);
        text_of(c->reply, nr, tx, (size_t)cfg->max_new + 1);
        ji[t] = (rlhf_judge_item){&style, user->cue, s0->lang, data_dialogue_turn_kind(t, turns),
                                  tx};
        /* the next turn's history, as the corpus writes it: "... || user words || reply"
         * (the words' last quarter of the buffer at most; a reply fits in max_seq) */
        static const int32_t sep[4] = {' ', '|', '|', ' '};
        const size_t tn = user->n_transcript < c->hist_cap / 4 ? user->n_transcript
                                                                : c->hist_cap / 4;
        const size_t need = 8 + tn + (size_t)nr;
        if (nh + need > c->hist_cap) { /* keep the most recent part */
            size_t keep = c->hist_cap / 2 > need ? c->hist_cap / 2 - need : 0;
            keep = keep < nh ? keep : nh;
            memmove(c->hist, c->hist + (nh - keep), keep * sizeof *c->hist);
            nh = keep;
        }
        if (nh) {
            memcpy(c->hist + nh, sep, sizeof sep);
            nh += 4;
        }
        memcpy(c->hist + nh, user->transcript + (user->n_transcript - tn), tn * sizeof *c->hist);
        nh += tn;
        memcpy(c->hist + nh, sep, sizeof sep);
        nh += 4;
        memcpy(c->hist + nh, c->reply, (size_t)nr * sizeof *c->hist);
        nh += (size_t)nr;
    }
    o->line_line = rlhf_judge_dialogue(ji, (size_t)turns, sc);
    double mean = 0;
    for (int t = 0; t < turns; t++) {
        o->turn[t] = sc[t].total;
        mean += sc[t].total;
    }
    o->prompt_line = mean / turns;
    o->ok = true;
    return CORE_OK;
}

/* A worker: takes the next task until none is left or one failed. */
static void pool_main(void *arg, size_t begin, size_t end, int tid)
{
    pool_job *J = arg;
    ctx *c = &J->w[tid];
    (void)begin;
    (void)end;
    core_status st = CORE_OK;
    for (;;) {
        size_t i = __atomic_fetch_add(&J->next, 1, __ATOMIC_RELAXED);
        if (i >= J->n)
            break;
        if (J->selfplay) {
            core_rng rng;
            core_rng_init(&rng, (uint64_t)c->cfg->seed, "eval.selfplay.users");
            st = selfplay(c, &c->set->items[J->starts[i]], core_rng_fork(&rng, i), &J->dlgs[i]);
        } else
            st = score_item(c, i, &J->items[i]);
        if (st != CORE_OK) {
            __atomic_store_n(&J->next, J->n, __ATOMIC_RELAXED); /* the others stop too */
            break;
        }
        if (tid == 0 && !J->selfplay)
            core_log(CORE_LOG_DEBUG, "eval: item %zu of %zu", i + 1, J->n);
    }
    J->st[tid] = st;
}

static core_status run_pool(pool_job *J, int workers)
{
    J->next = 0;
    for (int t = 0; t < workers; t++)
        J->st[t] = CORE_OK;
    core_status st = core_parallel_for((size_t)workers, workers, pool_main, J);
    for (int t = 0; t < workers && st == CORE_OK; t++)
        st = J->st[t];
    return st;
}

static void ctx_free(ctx *c)
{
    train_infer_free(c->s);
    free(c->logits);
    free(c->tok);
    free(c->hist);
    free(c->reply);
    free(c->pool);
    free(c->texts);
}

/* The model config a checkpoint's training config names (its `model` key), malloc'd; NULL
 * with the error set when it names none. */
static char *model_of(const char *ckpt, const char *config_yaml)
{
    core_yaml_doc *doc = NULL;
    char *model = NULL;
    if (config_yaml &&
        core_yaml_parse(ckpt, config_yaml, strlen(config_yaml), NULL, &doc) == CORE_OK) {
        const core_yaml_node *root = core_yaml_root(doc);
        const core_yaml_node *m = root && root->kind == CORE_YAML_MAP
                                      ? core_yaml_get(root, "model")
                                      : NULL;
        const char *v;
        if (m && core_yaml_str(doc, m, "model", &v) == CORE_OK)
            model = core_strdup(v);
    }
    core_yaml_free(doc);
    if (!model)
        CORE_ERR(CORE_ERR_SCHEMA,
                 "%s: its training config names no model; give the spec's model (--set "
                 "model=model/small.yaml)",
                 ckpt);
    return model;
}

core_status eval_run(const eval_cfg *cfg, const eval_set *set, const char *checkpoint,
                     eval_result *r)
{
    memset(r, 0, sizeof *r);
    const double t_start = core_now();
    const eval_ci none = {NAN, NAN, NAN};
    r->paralinguistic = r->hits1 = r->cue_fit = r->dialogue = none;
    r->prompt_line = r->line_line = r->persona = r->overall = none;
    r->perplexity = NAN;
    for (int t = 0; t < EVAL_MAX_TURNS; t++)
        r->drift[t] = NAN;
    r->checkpoint = core_strdup(checkpoint);
    if (!r->checkpoint)
        return CORE_ERR_NOMEM;
    core_status st = CORE_OK;
    const size_t n = set->n;
    const int W = cfg->threads > 0 ? (int)cfg->threads : core_threads_default();
    train_ckpt_meta meta = {0};
    train_model_cfg mc = {0};
    bool mc_loaded = false;
    train_model *m = NULL;
    rlhf_personas *pers = NULL;
    ctx *w = core_zalloc((size_t)W, sizeof *w, "eval workers");
    core_status *wst = core_zalloc((size_t)W, sizeof *wst, "eval workers");
    item_out *io = core_zalloc(n ? n : 1, sizeof *io, "eval");
    dlg_out *dl = NULL;
    size_t *para_items = core_alloc(n ? n : 1, sizeof(size_t), "eval"), *starts = NULL;
    int32_t *pred = core_alloc(n ? n : 1, TRAIN_N_HEADS_PARA * sizeof(int32_t), "eval");
    int32_t *truth = core_alloc(n ? n : 1, sizeof(int32_t), "eval");
    int32_t *pk = core_alloc(n ? n : 1, sizeof(int32_t), "eval");
    double *dlg = core_alloc(n ? n : 1, sizeof(double), "eval");
    double *hit = core_alloc(n ? n : 1, sizeof(double), "eval");
    double *cue = core_alloc(n ? n : 1, sizeof(double), "eval");
    double *lat = core_alloc(n ? n : 1, sizeof(double), "eval");
    double *pers_v = NULL, *pl = NULL, *ll = NULL;
    size_t n_para = 0, n_dlg = 0, n_lat = 0, n_pers = 0;
    if (!w || !wst || !io || !para_items || !pred || !truth || !pk || !dlg || !hit || !cue ||
        !lat) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    CORE_TRY(check_metrics(cfg));
    {
        uint8_t h[32];
        CORE_TRY(core_sha256_file(checkpoint, h, NULL));
        core_hex(r->checkpoint_sha256, h, 32);
    }
    CORE_TRY(train_ckpt_load(checkpoint, NULL, NULL, &meta));
    r->step = meta.step;
    CORE_TRY(hygiene(cfg, set, checkpoint, &meta, r));

    if (cfg->model)
        st = train_model_cfg_load(cfg->model, &mc);
    else {
        char *model = model_of(checkpoint, meta.config_yaml);
        st = model ? train_model_cfg_load(model, &mc) : core_error_code();
        free(model);
    }
    if (st != CORE_OK)
        goto done;
    mc_loaded = true;
    CORE_TRY(train_model_create(&mc, 1, &m));
    CORE_TRY(train_ckpt_load(checkpoint, train_model_params(m), NULL, NULL));
    r->params = (int64_t)train_model_params(m)->count;
    const bool w_para = wants(cfg, "paralinguistic"), w_dlg = wants(cfg, "dialogue"),
               w_pers = wants(cfg, "persona"), w_lat = wants(cfg, "latency");
    if (cfg->personas && (w_dlg || w_pers))
        CORE_TRY(rlhf_personas_load(cfg->personas, &pers));
    /* workers: one decoder each over the shared weights, one BLAS thread each */
    const size_t T = (size_t)mc.max_seq;
    for (int t = 0; t < W; t++) {
        ctx *c = &w[t];
        /* the item pass judges replies only for the dialogue scores */
        *c = (ctx){.cfg = cfg, .set = set, .max_seq = (int)mc.max_seq, .pers = w_dlg ? pers : NULL};
        CORE_TRY(train_infer_create(m, &c->s));
        c->logits = core_alloc(T, TRAIN_VOCAB * sizeof(float), "eval");
        c->tok = core_alloc(T + 1, sizeof(int32_t), "eval");
        c->reply = core_alloc((size_t)cfg->max_new + 1, sizeof(int32_t), "eval");
        c->pool = core_alloc(n ? n : 1, sizeof(size_t), "eval");
        c->hist_cap = T * 4;
        c->hist = core_alloc(c->hist_cap, sizeof(int32_t), "eval");
        c->texts = core_alloc((size_t)cfg->drift_turns, (size_t)cfg->max_new + 1, "eval");
        if (!c->logits || !c->tok || !c->reply || !c->pool || !c->hist || !c->texts) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
    }
    openblas_set_num_threads(1);
    r->threads = 1;
    machine_name(r->machine, sizeof r->machine);

    /* pass 1, items in parallel: heads, cue fit, response selection */
    if (w_para || w_dlg) {
        pool_job J = {.w = w, .n = n, .items = io, .st = wst};
        CORE_TRY(run_pool(&J, W));
    }
    double nll = 0;
    uint64_t nll_tok = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(pred + i * TRAIN_N_HEADS_PARA, io[i].pred, sizeof io[i].pred);
        bool labelled = false;
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
            labelled |= set->items[i].labels[k] >= 0;
        if (w_para && labelled)
            para_items[n_para++] = i;
        if (w_dlg && io[i].judged) {
            hit[n_dlg] = io[i].hit;
            cue[n_dlg] = io[i].cue;
            dlg[n_dlg] = 0.5 * (io[i].hit + io[i].cue);
            nll += io[i].nll;
            nll_tok += (uint64_t)io[i].ntok;
            if (r->candidates == 0 || io[i].cands < r->candidates)
                r->candidates = io[i].cands;
            n_dlg++;
        }
    }
    r->items = n;

    /* pass 2, alone on its core: streaming latency, the audio pushed position by position */
    if (w_lat) {
        const size_t lat_items = cfg->latency_items > 0 && (size_t)cfg->latency_items < n
                                     ? (size_t)cfg->latency_items
                                     : n;
        double audio_compute = 0, audio_seconds = 0;
        ctx *c = &w[0];
        for (size_t i = 0; i < lat_items; i++) {
            const eval_item *it = &set->items[i];
            int budget, nr;
            double audio_s;
            CORE_TRY(train_infer_push_context(c->s, it->has_persona ? it->persona : NULL,
                                              it->history, it->n_history, it->mel, it->frames,
                                              (int)cfg->max_new, true, &budget, &audio_s));
            /* the end of the audio to the first reply token sampled */
            const double t_end = core_now();
            CORE_TRY(greedy(c, 1, &nr));
            lat[n_lat++] = 1000 * (core_now() - t_end);
            audio_compute += audio_s;
            audio_seconds += (double)it->frames / 100.0;
        }
        if (n_lat) {
            r->has_latency = true;
            r->latency_n = n_lat;
            r->latency_p50_ms = eval_quantile(lat, n_lat, 0.5);
            r->latency_p95_ms = eval_quantile(lat, n_lat, 0.95);
            r->latency_max_ms = eval_quantile(lat, n_lat, 1.0);
            r->rtf = audio_seconds > 0 ? audio_compute / audio_seconds : NAN;
            double top = r->latency_max_ms > 0 ? r->latency_max_ms * 1.0001 : 1;
            for (int b = 0; b <= EVAL_LAT_BINS; b++)
                r->lat_edges_ms[b] = top * b / EVAL_LAT_BINS;
            for (size_t a = 0; a < n_lat; a++) {
                int b = (int)(lat[a] / top * EVAL_LAT_BINS);
                r->lat_hist[b < 0 ? 0 : b >= EVAL_LAT_BINS ? EVAL_LAT_BINS - 1 : b]++;
            }
        }
    }

    /* pass 3, dialogues in parallel: self-play for the drift curve */
    if (w_pers && pers && cfg->drift_dialogues > 0) {
        const int turns = (int)cfg->drift_turns;
        starts = core_alloc(n ? n : 1, sizeof *starts, "eval");
        if (!starts) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        data_persona_style style;
        size_t ns = 0;
        for (size_t i = 0; i < n; i++)
            if (set->items[i].has_persona && set->items[i].turn <= 0 &&
                rlhf_personas_style(pers, set->items[i].persona_id, &style))
                starts[ns++] = i;
        core_rng rng;
        core_rng_init(&rng, (uint64_t)cfg->seed, "eval.selfplay");
        for (size_t a = 0; a + 1 < ns; a++) {
            size_t b = a + (size_t)core_rng_below(&rng, ns - a);
            size_t t = starts[a];
            starts[a] = starts[b];
            starts[b] = t;
        }
        const size_t nd = ns < (size_t)cfg->drift_dialogues ? ns : (size_t)cfg->drift_dialogues;
        dl = core_zalloc(nd ? nd : 1, sizeof *dl, "eval");
        pers_v = core_alloc(nd ? nd : 1, sizeof *pers_v, "eval");
        pl = core_alloc(nd ? nd : 1, sizeof *pl, "eval");
        ll = core_alloc(nd ? nd : 1, sizeof *ll, "eval");
        if (!dl || !pers_v || !pl || !ll) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        for (int t = 0; t < W; t++)
            w[t].pers = pers;
        pool_job J = {.w = w, .n = nd, .dlgs = dl, .starts = starts, .st = wst, .selfplay = true};
        CORE_TRY(run_pool(&J, W));
        double judge_turn[EVAL_MAX_TURNS] = {0};
        for (size_t d = 0; d < nd; d++) {
            if (!dl[d].ok)
                continue;
            for (int t = 0; t < turns; t++)
                judge_turn[t] += dl[d].turn[t];
            pl[n_pers] = dl[d].prompt_line;
            ll[n_pers] = dl[d].line_line;
            pers_v[n_pers] = 50 * (pl[n_pers] + ll[n_pers]);
            n_pers++;
        }
        if (n_pers) {
            r->drift_dialogues = n_pers;
            r->drift_turns = turns;
            for (int t = 0; t < turns; t++)
                r->drift[t] = 100 * judge_turn[t] / (double)n_pers;
            r->prompt_line = scaled(eval_bootstrap_mean(pl, n_pers, (int)cfg->bootstrap, 0.95,
                                                        (uint64_t)cfg->seed, "eval.bootstrap.pl"));
            r->line_line = scaled(eval_bootstrap_mean(ll, n_pers, (int)cfg->bootstrap, 0.95,
                                                      (uint64_t)cfg->seed, "eval.bootstrap.ll"));
            r->persona = eval_bootstrap_mean(pers_v, n_pers, (int)cfg->bootstrap, 0.95,
                                             (uint64_t)cfg->seed, "eval.bootstrap.persona");
        }
    }

    /* paralinguistic: per dimension */
    if (w_para && n_para) {
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
            size_t mm = 0;
            for (size_t a = 0; a < n_para; a++) {
                const size_t i = para_items[a];
                if (set->items[i].labels[k] < 0)
                    continue;
                truth[mm] = set->items[i].labels[k];
                pk[mm] = pred[i * TRAIN_N_HEADS_PARA + (size_t)k];
                mm++;
            }
            eval_dim *d = &r->dims[k];
            d->name = train_para_names[k];
            d->classes = train_para_classes[k];
            d->n = mm;
            d->accuracy = none;
            d->macro_f1 = d->majority = NAN;
            if (!mm)
                continue;
            r->n_dims++;
            double *okv = core_alloc(mm, sizeof *okv, "eval");
            uint64_t counts[16] = {0};
            if (!okv) {
                st = CORE_ERR_NOMEM;
                goto done;
            }
            for (size_t a = 0; a < mm; a++) {
                okv[a] = truth[a] == pk[a];
                if (truth[a] < 16)
                    counts[truth[a]]++;
            }
            char purpose[64];
            snprintf(purpose, sizeof purpose, "eval.bootstrap.para.%d", k);
            d->accuracy = scaled(eval_bootstrap_mean(okv, mm, (int)cfg->bootstrap, 0.95,
                                                     (uint64_t)cfg->seed, purpose));
            free(okv);
            d->macro_f1 = 100 * eval_macro_f1(truth, pk, mm, d->classes);
            uint64_t top = 0;
            for (int v = 0; v < 16; v++)
                top = counts[v] > top ? counts[v] : top;
            d->majority = 100.0 * (double)top / (double)mm;
        }
        r->paralinguistic.value = para_score(set, pred, para_items, n_para);
    }
    /* general dialogue */
    if (w_dlg && n_dlg) {
        r->dialogue_items = n_dlg;
        r->hits1 = scaled(eval_bootstrap_mean(hit, n_dlg, (int)cfg->bootstrap, 0.95,
                                              (uint64_t)cfg->seed, "eval.bootstrap.hits1"));
        r->cue_fit = scaled(eval_bootstrap_mean(cue, n_dlg, (int)cfg->bootstrap, 0.95,
                                                (uint64_t)cfg->seed, "eval.bootstrap.cue"));
        r->dialogue = scaled(eval_bootstrap_mean(dlg, n_dlg, (int)cfg->bootstrap, 0.95,
                                                 (uint64_t)cfg->seed, "eval.bootstrap.dialogue"));
        r->perplexity = nll_tok ? exp(nll / (double)nll_tok) : NAN;
    }
    /* overall: the weighted mean of what was measured */
    r->overall.value = combine(cfg, r->dialogue.value, r->paralinguistic.value, r->persona.value);
    bootstrap_composites(cfg, set, pred, para_items, n_para, dlg, n_dlg, pers_v, n_pers, r);
done:
    r->seconds = core_now() - t_start;
    if (w)
        for (int t = 0; t < W; t++)
            ctx_free(&w[t]);
    free(w);
    free(wst);
    free(io);
    free(dl);
    free(starts);
    train_ckpt_meta_free(&meta);
    train_model_free(m);
    rlhf_personas_free(pers);
    if (mc_loaded)
        core_cfg_free(&train_model_schema, &mc);
    free(pred);
    free(truth);
    free(pk);
    free(para_items);
    free(dlg);
    free(hit);
    free(cue);
    free(lat);
    free(pers_v);
    free(pl);
    free(ll);
    return st;
}
