/* rlhf/prefs.c: preference pairs: the troupe.prefs/1 YAML of human feedback, synthetic pairs
 * for the embedded corpus labelled by the judge, their HDF5 form (prefs.h5) and its reader.
 *
 * Design. Both producers collect pairs into one in-memory `batch` (owned strings, token
 * and frame blocks) and write it with one function, so the two kinds of prefs.h5 differ only
 * in their provenance columns. A prefs.h5 is self-contained like a shard: the user's turn
 * is stored as log-mel frames, the texts as UTF-8 byte tokens. docs/rlhf.md has the layout. */
#include "rlhf/rlhf.h"
#include "data/data.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[] = {"out_of_character", "wrong_tone",     "ignored_cue",
                                           "taboo",            "wrong_language", "other",
                                           NULL};
_Static_assert(sizeof reason_names / sizeof *reason_names == RLHF_N_REASONS + 1,
               "RLHF_N_REASONS counts reason_names");

const char *const *rlhf_prefs_reasons(void)
{
    return reason_names;
}

int rlhf_prefs_reason_index(const char *reason)
{
    for (int k = 0; reason && reason_names[k]; k++)
        if (!strcmp(reason_names[k], reason))
            return k;
    return -1;
}

static const char *const speed_names[] = {"slow", "normal", "fast", NULL};
/* persona_emotions' order (the cue's emotion index), NULL-terminated */
static const char *const emotion_names[] = {"neutral", "calm",    "happy",   "excited",
                                            "sad",     "angry",   "fearful", "surprised",
                                            "tender",  "serious", NULL};
static const char *const lang_names[] = {"en", "zh", NULL};

/* ---------------------------------------------------------------- the in-memory batch */

typedef struct pair_rec {
    char *persona_id, *reason, *source, *recording, *annotator, *consent, *licence;
    data_cue cue;
    int lang, turn, split;
    bool synthetic;
    size_t mel_off, frames;
    size_t hist_off, n_hist, chosen_off, n_chosen, rejected_off, n_rejected;
} pair_rec;

typedef struct batch {
    pair_rec *p;
    size_t n, cap;
    float *mel; /* [frames, 80] */
    size_t frames, mel_cap;
    int32_t *tok;
    size_t n_tok, tok_cap;
} batch;

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pair_rec *r = &b->p[i];
        char *s[] = {r->persona_id, r->reason,  r->source, r->recording,
                     r->annotator,  r->consent, r->licence};
        for (size_t k = 0; k < sizeof s / sizeof *s; k++)
            free(s[k]);
    }
    free(b->p);
    free(b->mel);
    free(b->tok);
    memset(b, 0, sizeof *b);
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = core_realloc(*p, c, size, "prefs");
    if (!np)
        return false;
    *p = np;
    *cap = c;
    return true;
}

/* Appends tokens (bytes of `text`, or n ints); returns the offset, or SIZE_MAX on NOMEM. */
static size_t add_text(batch *b, const char *text, size_t *n)
{
    size_t len = strlen(text);
    if (!grow((void **)&b->tok, &b->tok_cap, b->n_tok + len + 1, sizeof *b->tok))
        return SIZE_MAX;
    size_t at = b->n_tok;
    for (size_t i = 0; i < len; i++)
        b->tok[at + i] = (unsigned char)text[i];
    b->n_tok += len;
    *n = len;
    return at;
}

static size_t add_tokens(batch *b, const int32_t *t, size_t n)
{
    if (!grow((void **)&b->tok, &b->tok_cap, b->n_tok + n + 1, sizeof *b->tok))
        return SIZE_MAX;
    size_t at = b->n_tok;
    memcpy(b->tok + at, t, n * sizeof *t);
    b->n_tok += n;
    return at;
}

static size_t add_frames(batch *b, const float *mel, size_t frames)
{
    if (!grow((void **)&b->mel, &b->mel_cap, (b->frames + frames + 1) * TRAIN_N_MELS,
              sizeof *b->mel))
        return SIZE_MAX;
    size_t at = b->frames;
    memcpy(b->mel + at * TRAIN_N_MELS, mel, frames * TRAIN_N_MELS * sizeof *mel);
    b->frames += frames;
    return at;
}

static pair_rec *add_pair(batch *b)
{
    if (!grow((void **)&b->p, &b->cap, b->n + 1, sizeof *b->p))
        return NULL;
    pair_rec *r = &b->p[b->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static char *dup_or_empty(const char *s)
{
    return core_strdup(s ? s : "");
}

/* ---------------------------------------------------------------- writing prefs.h5 */

static core_status write_strs_col(hid_t f, const char *name, const batch *b, size_t field)
{
    const char **col = core_alloc(b->n ? b->n : 1, sizeof *col, name);
    if (!col)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < b->n; i++)
        col[i] = *(char *const *)((const char *)&b->p[i] + field);
    core_status st = core_h5_write_strs(f, name, col, b->n);
    free(col);
    return st;
}

static core_status write_tok_col(hid_t f, const char *name, const batch *b, size_t off_field,
                                 size_t n_field)
{
    size_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        total += *(const size_t *)((const char *)&b->p[i] + n_field);
    int32_t *t = core_alloc(total ? total : 1, sizeof *t, name);
    uint64_t *off = core_alloc(b->n + 1, sizeof *off, name);
    core_status st = CORE_OK;
    if (!t || !off) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    off[0] = 0;
    for (size_t i = 0; i < b->n; i++) {
        size_t o = *(const size_t *)((const char *)&b->p[i] + off_field);
        size_t n = *(const size_t *)((const char *)&b->p[i] + n_field);
        memcpy(t + off[i], b->tok + o, n * sizeof *t);
        off[i + 1] = off[i] + n;
    }
    char oname[128];
    snprintf(oname, sizeof oname, "%s_offsets", name);
    hsize_t d = total, od = b->n + 1;
    CORE_TRY(core_h5_write(f, name, CORE_H5_I32, 1, &d, t));
    CORE_TRY(core_h5_write(f, oname, CORE_H5_U64, 1, &od, off));
done:
    free(t);
    free(off);
    return st;
}

/* Writes the batch as prefs.h5 at path, atomically. */
static core_status batch_write(const batch *b, const char *path, const char *const *inputs,
                               size_t n_inputs, const char *producer)
{
    core_h5_out out;
    core_status st = core_h5_create(&out, path);
    if (st != CORE_OK)
        return st;
    float *mel = NULL;
    uint64_t *off = NULL;
    int32_t *ints = NULL;
    uint8_t *syn = NULL;
    CORE_TRY(core_h5_write_header(out.file, RLHF_PREFS_FORMAT, NULL, inputs, n_inputs));
    CORE_TRY(core_h5_attr_set_str(out.file, "producer", producer));
    CORE_TRY(core_h5_attr_set_str(out.file, "judge", RLHF_JUDGE_VERSION));
    const size_t n = b->n;
    size_t frames = 0; /* pairs of one ranked list share their frames in the batch, not here */
    for (size_t i = 0; i < n; i++)
        frames += b->p[i].frames;
    mel = core_alloc(frames ? frames : 1, TRAIN_N_MELS * sizeof *mel, "prefs");
    off = core_alloc(n + 1, sizeof *off, "prefs");
    ints = core_alloc(n ? n * 4 : 1, sizeof *ints, "prefs");
    syn = core_alloc(n ? n : 1, 1, "prefs");
    if (!mel || !off || !ints || !syn) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(mel + off[i] * TRAIN_N_MELS, b->mel + b->p[i].mel_off * TRAIN_N_MELS,
               b->p[i].frames * TRAIN_N_MELS * sizeof *mel);
        off[i + 1] = off[i] + b->p[i].frames;
    }
    hsize_t md[2] = {off[n], TRAIN_N_MELS}, od = n + 1, nd = n, cd[2] = {n, 4};
    CORE_TRY(core_h5_write(out.file, "/mel", CORE_H5_F32, 2, md, mel));
    CORE_TRY(core_h5_write(out.file, "/mel_offsets", CORE_H5_U64, 1, &od, off));
    CORE_TRY(write_tok_col(out.file, "/tokens/history", b, offsetof(pair_rec, hist_off),
                           offsetof(pair_rec, n_hist)));
    CORE_TRY(write_tok_col(out.file, "/tokens/chosen", b, offsetof(pair_rec, chosen_off),
                           offsetof(pair_rec, n_chosen)));
    CORE_TRY(write_tok_col(out.file, "/tokens/rejected", b, offsetof(pair_rec, rejected_off),
                           offsetof(pair_rec, n_rejected)));
    for (size_t i = 0; i < n; i++) {
        ints[i * 4 + 0] = b->p[i].cue.emotion;
        ints[i * 4 + 1] = b->p[i].cue.laughter;
        ints[i * 4 + 2] = b->p[i].cue.hesitation;
        ints[i * 4 + 3] = b->p[i].cue.speed;
    }
    CORE_TRY(core_h5_write(out.file, "/cue", CORE_H5_I32, 2, cd, ints));
    {
        static const char *const cue_cols[] = {"emotion", "laughter", "hesitation", "speed"};
        hid_t ds = H5Dopen2(out.file, "/cue", H5P_DEFAULT);
        st = core_h5_attr_set_strs(ds, "columns", cue_cols, 4);
        H5Dclose(ds);
        if (st != CORE_OK)
            goto done;
    }
    static const struct {
        const char *name;
        size_t field;
    } icols[] = {{"/lang", offsetof(pair_rec, lang)},
                 {"/turn", offsetof(pair_rec, turn)},
                 {"/split", offsetof(pair_rec, split)}};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++)
            ints[i] = *(const int *)((const char *)&b->p[i] + icols[k].field);
        CORE_TRY(core_h5_write(out.file, icols[k].name, CORE_H5_I32, 1, &nd, ints));
    }
    CORE_TRY(write_strs_col(out.file, "/persona_id", b, offsetof(pair_rec, persona_id)));
    CORE_TRY(write_strs_col(out.file, "/reason", b, offsetof(pair_rec, reason)));
    CORE_TRY(write_strs_col(out.file, "/provenance/source_sha256", b, offsetof(pair_rec, source)));
    CORE_TRY(
        write_strs_col(out.file, "/provenance/recording_id", b, offsetof(pair_rec, recording)));
    CORE_TRY(write_strs_col(out.file, "/provenance/annotator", b, offsetof(pair_rec, annotator)));
    CORE_TRY(write_strs_col(out.file, "/provenance/consent_ref", b, offsetof(pair_rec, consent)));
    CORE_TRY(write_strs_col(out.file, "/provenance/licence", b, offsetof(pair_rec, licence)));
    for (size_t i = 0; i < n; i++)
        syn[i] = b->p[i].synthetic;
    CORE_TRY(core_h5_write(out.file, "/provenance/synthetic", CORE_H5_U8, 1, &nd, syn));
done:
    free(mel);
    free(off);
    free(ints);
    free(syn);
    if (st != CORE_OK) {
        core_h5_abort(&out);
        return st;
    }
    return core_h5_commit(&out);
}

/* ---------------------------------------------------------------- human feedback (YAML) */

typedef struct checker {
    const core_yaml_doc *doc;
    persona_problems *probs;
    int bad;
} checker;

/* persona_problems' appender is private to persona/; this is the same list discipline. */
static void probs_add(persona_problems *p, const char *msg)
{
    if (!p)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        char **ni = realloc(p->items, cap * sizeof *ni);
        if (!ni)
            return;
        p->items = ni;
        p->cap = cap;
    }
    char *s = core_strdup(msg);
    if (s)
        p->items[p->n++] = s;
}

static void note(checker *c, core_status st)
{
    if (st == CORE_OK)
        return;
    c->bad++;
    probs_add(c->probs, core_error_message());
}

#define PROBLEM(c, at, on_key, ...)                                                                \
    note((c), core_yaml_error((c)->doc, (at), (on_key), CORE_ERR_SCHEMA, __VA_ARGS__))

/* Every unknown key and every missing required key of `map`. */
static bool check_map(checker *c, const core_yaml_node *map, const char *what,
                      const char *const *allowed, const char *const *required)
{
    if (!map || map->kind != CORE_YAML_MAP) {
        PROBLEM(c, map, false, "'%s' must be a map", what);
        return false;
    }
    size_t na = 0;
    while (allowed[na])
        na++;
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < na && !ok; k++)
            ok = !strcmp(map->items[i]->key, allowed[k]);
        if (!ok) {
            const char *s = core_suggest(map->items[i]->key, allowed, na);
            if (s)
                PROBLEM(c, map->items[i], true, "unknown key '%s.%s' (did you mean '%s'?)", what,
                        map->items[i]->key, s);
            else
                PROBLEM(c, map->items[i], true, "unknown key '%s.%s'", what, map->items[i]->key);
        }
    }
    for (size_t k = 0; required && required[k]; k++)
        if (!core_yaml_get(map, required[k]))
            PROBLEM(c, map, false, "missing key '%s.%s'", what, required[k]);
    return true;
}

/* A non-empty string member, or NULL (with a problem when required). */
static const char *get_str(checker *c, const core_yaml_node *map, const char *key,
                           const char *what, bool required)
{
    const core_yaml_node *n = core_yaml_get(map, key);
    if (!n)
        return NULL; /* check_map reported it when required */
    if (n->kind != CORE_YAML_SCALAR || n->len == 0) {
        if (required || n->kind != CORE_YAML_NULL)
            PROBLEM(c, n, false, "'%s.%s' must be a non-empty string", what, key);
        return NULL;
    }
    return n->str;
}

static int get_enum(checker *c, const core_yaml_node *map, const char *key, const char *what,
                    const char *const *values, int dflt)
{
    const char *v = get_str(c, map, key, what, false);
    if (!v)
        return dflt;
    for (int k = 0; values[k]; k++)
        if (!strcmp(values[k], v))
            return k;
    size_t nv = 0;
    while (values[nv])
        nv++;
    const char *s = core_suggest(v, values, nv);
    PROBLEM(c, core_yaml_get(map, key), false, "'%s.%s' is '%s', not one of the known values%s%s%s",
            what, key, v, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    return dflt;
}

static bool get_bool(checker *c, const core_yaml_node *map, const char *key, const char *what)
{
    const core_yaml_node *n = core_yaml_get(map, key);
    bool v = false;
    if (n && core_yaml_bool(c->doc, n, key, &v) != CORE_OK) {
        (void)what;
        note(c, CORE_ERR_SCHEMA);
    }
    return v;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const char *const top_keys[] = {"schema", "producer", "created_at", "items", NULL};
static const char *const item_keys[] = {"persona_id", "context", "chosen",    "rejected",
                                        "ranked",     "reason",  "annotator", "split",
                                        NULL};
static const char *const item_required[] = {"persona_id", "context", "reason", "annotator", NULL};
static const char *const ctx_keys[] = {"history", "audio", "lang", "turn", "cue", NULL};
static const char *const ctx_required[] = {"audio", "lang", "turn", "cue", NULL};
static const char *const audio_keys[] = {"path", "sha256", NULL};
static const char *const cue_keys[] = {"emotion", "laughter", "hesitation", "speed", NULL};
static const char *const cue_required[] = {"emotion", "speed", NULL};
static const char *const ann_keys[] = {"pseudonym", "consent_ref", "licence", NULL};
static const char *const split_names[] = {"train", "validation", NULL};

core_status rlhf_prefs_ingest(const char *yaml_path, const char *personas_h5, const char *out_h5,
                              persona_problems *probs, rlhf_prefs_stats *stats)
{
    rlhf_prefs_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    double t0 = core_now();
    core_yaml_doc *doc = NULL;
    rlhf_personas *pers = NULL;
    data_logmel *lm = NULL;
    batch b = {0};
    char *dir = NULL, *input0 = NULL, *input1 = NULL;
    const char *producer = NULL;
    core_status st = core_yaml_load(yaml_path, NULL, &doc);
    if (st != CORE_OK) {
        probs_add(probs, core_error_message());
        return st;
    }
    CORE_TRY(rlhf_personas_load(personas_h5, &pers));
    lm = data_logmel_create();
    if (!lm) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    {
        char *tmp = core_strdup(yaml_path);
        dir = tmp ? core_strdup(dirname(tmp)) : NULL;
        free(tmp);
    }
    checker c = {doc, probs, 0};
    const core_yaml_node *root = core_yaml_root(doc);
    if (!check_map(&c, root, "file", top_keys, top_keys))
        goto checked;
    const char *schema = get_str(&c, root, "schema", "file", true);
    if (schema && strcmp(schema, RLHF_PREFS_FORMAT) != 0)
        PROBLEM(&c, core_yaml_get(root, "schema"), false, "'schema' is '%s', expected '%s'",
                schema, RLHF_PREFS_FORMAT);
    producer = get_str(&c, root, "producer", "file", true);
    const char *created = get_str(&c, root, "created_at", "file", true);
    int64_t tcreated;
    if (created && !data_time_parse(created, &tcreated))
        PROBLEM(&c, core_yaml_get(root, "created_at"), false,
                "'created_at' '%s' is not YYYY-MM-DDTHH:MM:SSZ", created);
    const core_yaml_node *items = core_yaml_get(root, "items");
    if (items && (items->kind != CORE_YAML_SEQ || items->n == 0)) {
        PROBLEM(&c, items, false, "'items' must be a non-empty list");
        items = NULL;
    }
    for (size_t i = 0; items && i < items->n; i++) {
        const core_yaml_node *it = items->items[i];
        char what[64];
        snprintf(what, sizeof what, "items[%zu]", i);
        stats->items++;
        if (!check_map(&c, it, what, item_keys, item_required))
            continue;
        int bad0 = c.bad;
        /* persona */
        const char *pid = get_str(&c, it, "persona_id", what, true);
        data_persona_style style;
        uint64_t id = 0;
        if (pid) {
            char *end;
            id = strtoull(pid, &end, 10);
            if (*end || !rlhf_personas_style(pers, id, &style))
                PROBLEM(&c, core_yaml_get(it, "persona_id"), false,
                        "'%s.persona_id' '%s' is not a persona of %s", what, pid, personas_h5);
        }
        /* context */
        char wctx[80], waud[96], wcue[96], wann[80];
        snprintf(wctx, sizeof wctx, "%s.context", what);
        snprintf(waud, sizeof waud, "%s.audio", wctx);
        snprintf(wcue, sizeof wcue, "%s.cue", wctx);
        snprintf(wann, sizeof wann, "%s.annotator", what);
        const core_yaml_node *ctx = core_yaml_get(it, "context");
        const char *history = NULL, *apath = NULL, *asha = NULL;
        int lang = 0;
        int64_t turn = 0;
        data_cue cue = {0, false, false, 1};
        if (ctx && check_map(&c, ctx, wctx, ctx_keys, ctx_required)) {
            history = get_str(&c, ctx, "history", wctx, false);
            lang = get_enum(&c, ctx, "lang", wctx, lang_names, 0);
            const core_yaml_node *tn = core_yaml_get(ctx, "turn");
            if (tn && core_yaml_int(doc, tn, "turn", 0, 2, &turn) != CORE_OK)
                note(&c, CORE_ERR_SCHEMA);
            const core_yaml_node *au = core_yaml_get(ctx, "audio");
            if (au && check_map(&c, au, waud, audio_keys, audio_keys)) {
                apath = get_str(&c, au, "path", waud, true);
                asha = get_str(&c, au, "sha256", waud, true);
                if (apath && (apath[0] == '/' || strstr(apath, ".."))) {
                    PROBLEM(&c, core_yaml_get(au, "path"), false,
                            "'%s.path' '%s' must be relative and stay inside the file's folder",
                            waud, apath);
                    apath = NULL;
                }
                if (asha && !is_hex64(asha)) {
                    PROBLEM(&c, core_yaml_get(au, "sha256"), false,
                            "'%s.sha256' is not 64 lowercase hex digits", waud);
                    asha = NULL;
                }
            }
            const core_yaml_node *cn = core_yaml_get(ctx, "cue");
            if (cn && check_map(&c, cn, wcue, cue_keys, cue_required)) {
                cue.emotion = get_enum(&c, cn, "emotion", wcue, emotion_names, 0);
                cue.speed = get_enum(&c, cn, "speed", wcue, speed_names, 1);
                cue.laughter = get_bool(&c, cn, "laughter", wcue);
                cue.hesitation = get_bool(&c, cn, "hesitation", wcue);
            }
        }
        /* replies: chosen + rejected, or ranked (best first) */
        const core_yaml_node *ch = core_yaml_get(it, "chosen"), *rj = core_yaml_get(it, "rejected"),
                             *rk = core_yaml_get(it, "ranked");
        const char *replies[16];
        size_t nrep = 0;
        if (rk && (ch || rj)) {
            PROBLEM(&c, rk, true, "'%s' has 'ranked' and 'chosen'/'rejected': give one or the other",
                    what);
        } else if (rk) {
            if (rk->kind != CORE_YAML_SEQ || rk->n < 2 || rk->n > 16)
                PROBLEM(&c, rk, false, "'%s.ranked' must list 2 to 16 replies, best first", what);
            else
                for (size_t k = 0; k < rk->n; k++) {
                    if (rk->items[k]->kind != CORE_YAML_SCALAR || rk->items[k]->len == 0)
                        PROBLEM(&c, rk->items[k], false, "'%s.ranked[%zu]' must be a non-empty string",
                                what, k);
                    else
                        replies[nrep++] = rk->items[k]->str;
                }
        } else if (!ch || !rj) {
            PROBLEM(&c, it, false, "'%s' needs 'chosen' and 'rejected', or 'ranked'", what);
        } else {
            const char *a = get_str(&c, it, "chosen", what, true);
            const char *r = get_str(&c, it, "rejected", what, true);
            if (a && r && !strcmp(a, r))
                PROBLEM(&c, rj, false, "'%s.rejected' is the same text as 'chosen'", what);
            if (a && r) {
                replies[nrep++] = a;
                replies[nrep++] = r;
            }
        }
        const char *reason = get_str(&c, it, "reason", what, true);
        if (reason && rlhf_prefs_reason_index(reason) < 0) {
            const char *s = core_suggest(reason, reason_names, RLHF_N_REASONS);
            PROBLEM(&c, core_yaml_get(it, "reason"), false,
                    "'%s.reason' is '%s', not one of the known reasons%s%s%s", what, reason,
                    s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
        int split = get_enum(&c, it, "split", what, split_names, 0);
        const core_yaml_node *an = core_yaml_get(it, "annotator");
        const char *pseud = NULL, *consent = NULL, *lic = NULL;
        if (an && check_map(&c, an, wann, ann_keys, ann_keys)) {
            pseud = get_str(&c, an, "pseudonym", wann, true);
            consent = get_str(&c, an, "consent_ref", wann, true);
            lic = get_str(&c, an, "licence", wann, true);
        }
        /* the audio: exists, its hash matches, it decodes */
        float *mel = NULL;
        size_t frames = 0;
        char full[4096];
        if (apath && asha) {
            snprintf(full, sizeof full, "%s/%s", dir ? dir : ".", apath);
            uint8_t h[32];
            char hex[CORE_SHA256_HEX];
            const core_yaml_node *au = core_yaml_get(ctx, "audio");
            if (core_sha256_file(full, h, NULL) != CORE_OK) {
                PROBLEM(&c, core_yaml_get(au, "path"), false, "'%s.path': cannot read %s", waud,
                        full);
            } else {
                core_hex(hex, h, 32);
                if (strcmp(hex, asha) != 0)
                    PROBLEM(&c, core_yaml_get(au, "sha256"), false,
                            "'%s.sha256' does not match %s (its sha256 is %s)", waud, full, hex);
                else if (data_audio_logmel_file(full, lm, &mel, &frames) != CORE_OK)
                    PROBLEM(&c, core_yaml_get(au, "path"), false, "'%s.path': %s", waud,
                            core_error_message());
            }
        }
        if (c.bad != bad0 || nrep < 2) {
            free(mel);
            continue;
        }
        /* every (better, worse) pair of the ranking */
        size_t mel_off = add_frames(&b, mel, frames);
        free(mel);
        size_t nh = 0, hoff = add_text(&b, history ? history : "", &nh);
        if (mel_off == SIZE_MAX || hoff == SIZE_MAX) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        for (size_t x = 0; x < nrep; x++)
            for (size_t y = x + 1; y < nrep; y++) {
                pair_rec *r = add_pair(&b);
                if (!r) {
                    st = CORE_ERR_NOMEM;
                    goto done;
                }
                r->persona_id = dup_or_empty(pid);
                r->reason = dup_or_empty(reason);
                r->source = dup_or_empty(asha);
                r->recording = dup_or_empty(apath);
                r->annotator = dup_or_empty(pseud);
                r->consent = dup_or_empty(consent);
                r->licence = dup_or_empty(lic);
                r->cue = cue;
                r->lang = lang;
                r->turn = (int)turn;
                r->split = split;
                r->synthetic = false;
                r->mel_off = mel_off;
                r->frames = frames;
                r->hist_off = hoff;
                r->n_hist = nh;
                r->chosen_off = add_text(&b, replies[x], &r->n_chosen);
                r->rejected_off = add_text(&b, replies[y], &r->n_rejected);
                if (r->chosen_off == SIZE_MAX || r->rejected_off == SIZE_MAX) {
                    st = CORE_ERR_NOMEM;
                    goto done;
                }
                stats->pairs++;
                stats->per_split[split]++;
                stats->reasons[rlhf_prefs_reason_index(reason)]++;
            }
    }
checked:
    if (c.bad) {
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s: %d problem%s (the first: %s)", yaml_path, c.bad,
                      c.bad == 1 ? "" : "s",
                      probs && probs->n ? probs->items[0] : "see the problem list");
        goto done;
    }
    {
        uint8_t h[32];
        char hex[CORE_SHA256_HEX];
        CORE_TRY(core_sha256_file(yaml_path, h, NULL));
        core_hex(hex, h, 32);
        input0 = core_sprintf("sha256:%s %s", hex, yaml_path);
        CORE_TRY(core_sha256_file(personas_h5, h, NULL));
        core_hex(hex, h, 32);
        input1 = core_sprintf("sha256:%s %s", hex, personas_h5);
        const char *inputs[2] = {input0, input1};
        CORE_TRY(batch_write(&b, out_h5, inputs, 2, producer ? producer : ""));
    }
done:
    stats->wall_seconds = core_now() - t0;
    batch_free(&b);
    free(dir);
    free(input0);
    free(input1);
    data_logmel_free(lm);
    rlhf_personas_free(pers);
    core_yaml_free(doc);
    return st;
}

/* ---------------------------------------------------------------- synthetic pairs */

/* How many dialogue turns each dialogue id has (max /turn + 1), for turn kinds. */
typedef struct dlg_count {
    char *id;
    int turns;
} dlg_count;

static int cmp_dlg(const void *a, const void *b)
{
    return strcmp(((const dlg_count *)a)->id, ((const dlg_count *)b)->id);
}

/* Sentences of the corpus reply found verbatim in replies generated for `topic`. */
static int topic_overlap(const data_persona_style *p, const data_cue *cue, int lang, int topic,
                         int kind, const char *reply, core_rng *r)
{
    enum { K = 12 };
    char gen[K][DATA_DIALOGUE_REPLY_MAX]; /* 24 KiB of stack */
    for (int k = 0; k < K; k++)
        data_dialogue_reply(p, cue, lang, topic, kind, r, gen[k], sizeof gen[k]);
    int hits = 0;
    const char *s = reply;
    while (*s) {
        /* one sentence: up to and including its end mark */
        const char *e = s;
        size_t len = 0;
        for (; *e; e++) {
            if (lang == DATA_LANG_EN && (*e == '.' || *e == '!' || *e == '?') &&
                (e[1] == ' ' || !e[1])) {
                len = (size_t)(e - s) + 1;
                break;
            }
            if (lang == DATA_LANG_ZH &&
                (!strncmp(e, "。", 3) || !strncmp(e, "！", 3) || !strncmp(e, "？", 3))) {
                len = (size_t)(e - s) + 3;
                break;
            }
        }
        if (!len)
            len = strlen(s);
        if (len > 12) { /* long enough to be content, not a stock phrase */
            char sent[1024];
            snprintf(sent, sizeof sent, "%.*s", (int)(len < sizeof sent ? len : sizeof sent - 1),
                     s);
            for (int k = 0; k < K; k++)
                if (strstr(gen[k], sent)) {
                    hits++;
                    break;
                }
        }
        s += len;
        while (*s == ' ')
            s++;
    }
    return hits;
}

static float flip01(float x)
{
    return x < 0.5f ? 0.9f : 0.1f;
}

enum { PERT_STYLE, PERT_CUE, PERT_TABOO, PERT_LANG, N_PERT };

/* One rejected candidate of perturbation kind `k` for the reply `chosen`, whose first
 * chosen_open bytes are its opening (rlhf_judge_opening); writes it into buf. The cue and
 * taboo kinds edit `chosen` (a minimal pair: the reply's content is shared, so only the
 * defect tells the two apart); the style and language kinds write a new reply of the same
 * topic, since register and language run through every sentence. */
static void candidate(int k, const data_persona_style *p, const data_cue *cue, int lang,
                      int topic, int kind, core_rng *r, const char *chosen, size_t chosen_open,
                      char *buf, size_t cap)
{
    switch (k) {
    case PERT_STYLE: {
        data_persona_style q = *p;
        q.formality = flip01(p->formality);
        q.energy = flip01(p->energy);
        q.warmth = flip01(p->warmth);
        data_dialogue_reply(&q, cue, lang, topic, kind, r, buf, cap);
        break;
    }
    case PERT_CUE: {
        static const data_cue cues[] = {{5, false, false, 1}, {4, false, false, 1},
                                        {0, true, false, 1},  {0, false, true, 1},
                                        {2, false, false, 1}, {0, false, false, 2},
                                        {0, false, false, 0}, {0, false, false, 1}};
        enum { NC = sizeof cues / sizeof *cues };
        data_reply_plan a, b;
        data_dialogue_plan(p, cue, kind, &a);
        int start = (int)core_rng_below(r, NC);
        data_cue c2 = cues[start];
        for (int i = 0; i < NC; i++) {
            c2 = cues[(start + i) % NC];
            data_dialogue_plan(p, &c2, kind, &b);
            if (b.reaction_set != a.reaction_set)
                break;
        }
        /* the opening (reaction or opener) of a reply to the other cue, then the rest of
         * the chosen reply */
        char gen[DATA_DIALOGUE_REPLY_MAX];
        data_dialogue_reply(p, &c2, lang, topic, kind, r, gen, sizeof gen);
        const size_t open_gen = rlhf_judge_opening(p, lang, gen);
        snprintf(buf, cap, "%.*s%s", (int)open_gen, gen, chosen + chosen_open);
        break;
    }
    case PERT_TABOO: {
        static const char *const en[] = {"Shut up and listen. ", "Whatever. ",
                                         "Don't be stupid. "};
        static const char *const zh[] = {"闭嘴，听我说。", "你懂什么。", "笨蛋，"};
        const char *t = (lang == DATA_LANG_ZH ? zh : en)[core_rng_below(r, 3)];
        snprintf(buf, cap, "%s%s", t, chosen);
        break;
    }
    default:
        data_dialogue_reply(p, cue, 1 - lang, topic, kind, r, buf, cap);
        break;
    }
}

core_status rlhf_prefs_synth(const char *corpus_dir, const char *personas_h5, uint64_t seed,
                             const char *out_h5, rlhf_prefs_stats *stats)
{
    rlhf_prefs_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    double t0 = core_now();
    core_status st = CORE_OK;
    rlhf_personas *pers = NULL;
    json_t *index = NULL;
    batch b = {0};
    dlg_count *dc = NULL;
    size_t ndc = 0, dcap = 0;
    char *inputs[2] = {NULL, NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", corpus_dir);
    json_error_t jerr;
    index = json_load_file(path, 0, &jerr);
    if (!index)
        return CORE_ERR(CORE_ERR_IO, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    {
        uint8_t h[32];
        char hex[CORE_SHA256_HEX];
        CORE_TRY(core_sha256_file(path, h, NULL));
        core_hex(hex, h, 32);
        inputs[0] = core_sprintf("sha256:%s %s", hex, path);
        CORE_TRY(core_sha256_file(personas_h5, h, NULL));
        core_hex(hex, h, 32);
        inputs[1] = core_sprintf("sha256:%s %s", hex, personas_h5);
    }
    CORE_TRY(rlhf_personas_load(personas_h5, &pers));
    json_t *shards = json_object_get(index, "shards"), *js;
    size_t si;
    /* pass 1: turns per dialogue */
    json_array_foreach(shards, si, js)
    {
        const char *p = json_string_value(json_object_get(js, "path"));
        if (!p)
            continue;
        snprintf(path, sizeof path, "%s/shards/%s", corpus_dir, p);
        data_shard s;
        CORE_TRY(data_shard_read(path, false, &s));
        for (size_t i = 0; i < s.n; i++) {
            if (!grow((void **)&dc, &dcap, ndc + 1, sizeof *dc)) {
                data_shard_free(&s);
                st = CORE_ERR_NOMEM;
                goto done;
            }
            dc[ndc].id = s.dialogue[i];
            dc[ndc].turns = s.turn[i] + 1;
            s.dialogue[i] = NULL;
            ndc++;
        }
        data_shard_free(&s);
    }
    if (ndc)
        qsort(dc, ndc, sizeof *dc, cmp_dlg);
    /* pass 2: pairs */
    size_t u_index = 0;
    json_array_foreach(shards, si, js)
    {
        const char *p = json_string_value(json_object_get(js, "path"));
        const char *m = json_string_value(json_object_get(js, "manifest"));
        if (!p || !m)
            continue;
        int split = strstr(m, "validation") ? 1 : strstr(m, "train") ? 0 : -1;
        if (split < 0)
            continue;
        snprintf(path, sizeof path, "%s/shards/%s", corpus_dir, p);
        data_shard s;
        CORE_TRY(data_shard_read(path, true, &s));
        for (size_t i = 0; i < s.n; i++, u_index++) {
            stats->items++;
            core_rng r;
            core_rng_init(&r, seed, "rlhf.synth_prefs");
            r = core_rng_fork(&r, u_index);
            char *end;
            uint64_t id = strtoull(s.persona[i], &end, 10);
            data_persona_style style;
            if (!*s.persona[i] || *end || !rlhf_personas_style(pers, id, &style)) {
                stats->skipped++;
                continue;
            }
            /* the reply, the cue and the turn kind */
            size_t nr = s.roff[i + 1] - s.roff[i];
            char reply[DATA_DIALOGUE_REPLY_MAX * 2];
            if (nr >= sizeof reply) {
                stats->skipped++;
                continue;
            }
            for (size_t k = 0; k < nr; k++)
                reply[k] = (char)s.resp[s.roff[i] + k];
            reply[nr] = '\0';
            data_cue cue = {s.emotion[i] >= 0 && s.emotion[i] < 10 ? s.emotion[i] : 0,
                            s.spans[i * s.span_w + 0] != 0, s.spans[i * s.span_w + 1] != 0,
                            s.speed[i] >= 0 && s.speed[i] <= 2 ? s.speed[i] : 1};
            int lang = s.language[i] == 1 ? DATA_LANG_ZH : DATA_LANG_EN;
            int turns = s.turn[i] + 1;
            dlg_count key = {s.dialogue[i], 0};
            for (dlg_count *d = ndc ? bsearch(&key, dc, ndc, sizeof *dc, cmp_dlg) : NULL;
                 d && d >= dc && !strcmp(d->id, key.id); d--)
                turns = d->turns > turns ? d->turns : turns;
            for (dlg_count *d = ndc ? bsearch(&key, dc, ndc, sizeof *dc, cmp_dlg) : NULL;
                 d && d < dc + ndc && !strcmp(d->id, key.id); d++)
                turns = d->turns > turns ? d->turns : turns;
            int kind = data_dialogue_turn_kind(s.turn[i] < 0 ? 0 : s.turn[i], turns);
            rlhf_judge_item it = {&style, cue, lang, kind, reply};
            rlhf_judge_score sc;
            rlhf_judge(&it, &sc);
            if (sc.total < 0.99) { /* not a reply the rules made: no safe "chosen" */
                stats->skipped++;
                continue;
            }
            /* the topic: the one whose replies share the most sentences with this one */
            int topic = -1, best = 0;
            for (int t = 0; t < data_dialogue_n_topics(); t++) {
                int h = topic_overlap(&style, &cue, lang, t, kind, reply, &r);
                if (h > best) {
                    best = h;
                    topic = t;
                }
            }
            if (topic >= 0)
                stats->topics_recovered++;
            else
                topic = data_dialogue_pick_topic(&style, &r);
            /* a perturbation kind, a few candidates of it, the lowest-scored kept; a kind
             * whose candidates all score as high as the corpus reply gives way to the next */
            double u = core_rng_uniform(&r);
            int k0 = u < 0.4 ? PERT_STYLE : u < 0.7 ? PERT_CUE : u < 0.85 ? PERT_TABOO : PERT_LANG;
            char cand[DATA_DIALOGUE_REPLY_MAX + 64], worst[DATA_DIALOGUE_REPLY_MAX + 64];
            double worst_total = 2;
            const char *worst_reason = NULL;
            const size_t reply_open = rlhf_judge_opening(&style, lang, reply);
            for (int kk = 0; kk < N_PERT && worst_total >= sc.total; kk++) {
                int k = (k0 + kk) % N_PERT;
                for (int c = 0; c < 4; c++) {
                    candidate(k, &style, &cue, lang, topic, kind, &r, reply, reply_open, cand,
                              sizeof cand);
                    rlhf_judge_item ci = {&style, cue, lang, kind, cand};
                    rlhf_judge_score cs;
                    rlhf_judge(&ci, &cs);
                    if (cs.total < worst_total) {
                        worst_total = cs.total;
                        worst_reason = cs.reason;
                        snprintf(worst, sizeof worst, "%s", cand);
                    }
                }
            }
            if (worst_total >= sc.total || !worst_reason ||
                rlhf_prefs_reason_index(worst_reason) < 0) {
                stats->skipped++;
                continue;
            }
            pair_rec *pr = add_pair(&b);
            if (!pr) {
                st = CORE_ERR_NOMEM;
                data_shard_free(&s);
                goto done;
            }
            pr->persona_id = dup_or_empty(s.persona[i]);
            pr->reason = dup_or_empty(worst_reason);
            pr->source = dup_or_empty(s.audio_sha[i]);
            pr->recording = dup_or_empty(s.recording[i]);
            pr->annotator = dup_or_empty(RLHF_JUDGE_VERSION);
            pr->consent = dup_or_empty(s.consent[i]);
            pr->licence = dup_or_empty(s.licence[i]);
            pr->cue = cue;
            pr->lang = lang;
            pr->turn = kind;
            pr->split = split;
            pr->synthetic = true;
            pr->frames = s.moff[i + 1] - s.moff[i];
            pr->mel_off = add_frames(&b, s.mel + s.moff[i] * TRAIN_N_MELS, pr->frames);
            pr->n_hist = s.hoff[i + 1] - s.hoff[i];
            pr->hist_off = add_tokens(&b, s.hist + s.hoff[i], pr->n_hist);
            pr->chosen_off = add_text(&b, reply, &pr->n_chosen);
            pr->rejected_off = add_text(&b, worst, &pr->n_rejected);
            if (pr->mel_off == SIZE_MAX || pr->hist_off == SIZE_MAX ||
                pr->chosen_off == SIZE_MAX || pr->rejected_off == SIZE_MAX) {
                st = CORE_ERR_NOMEM;
                data_shard_free(&s);
                goto done;
            }
            stats->pairs++;
            stats->per_split[split]++;
            stats->reasons[rlhf_prefs_reason_index(worst_reason)]++;
        }
        data_shard_free(&s);
    }
    if (b.n == 0) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: no train or validation utterance gave a pair",
                      corpus_dir);
        goto done;
    }
    CORE_TRY(batch_write(&b, out_h5, (const char *const *)inputs, 2, "troupe rlhf synth-prefs"));
done:
    stats->wall_seconds = core_now() - t0;
    for (size_t i = 0; i < ndc; i++)
        free(dc[i].id);
    free(dc);
    batch_free(&b);
    free(inputs[0]);
    free(inputs[1]);
    rlhf_personas_free(pers);
    json_decref(index);
    return st;
}

/* ---------------------------------------------------------------- the reader */

struct rlhf_prefs {
    rlhf_pair *pairs;
    int *split;
    uint8_t *synthetic;
    size_t n;
    float *mel, *persona; /* [frames, 80], [n, TRAIN_PERSONA_DIM] */
    int32_t *hist, *chosen, *rejected;
    char **persona_id, **reason, **annotator, **licence, **source, **consents;
    size_t n_consents;
    char *id;
};

void rlhf_prefs_free(rlhf_prefs *p)
{
    if (!p)
        return;
    free(p->pairs);
    free(p->split);
    free(p->synthetic);
    free(p->mel);
    free(p->persona);
    free(p->hist);
    free(p->chosen);
    free(p->rejected);
    core_strs_free(p->persona_id, p->n);
    core_strs_free(p->reason, p->n);
    core_strs_free(p->annotator, p->n);
    core_strs_free(p->licence, p->n);
    core_strs_free(p->source, p->n);
    core_strs_free(p->consents, p->n_consents);
    free(p->id);
    free(p);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a token column and its offsets, checking them against n rows and the tokens. */
static core_status read_tok(hid_t f, const char *path, const char *name, size_t n, int32_t **t,
                            uint64_t **off)
{
    int rank;
    hsize_t d[8], od[8];
    char oname[128];
    snprintf(oname, sizeof oname, "%s_offsets", name);
    core_status st = core_h5_read(f, name, CORE_H5_I32, &rank, d, (void **)t);
    if (st == CORE_OK)
        st = core_h5_read(f, oname, CORE_H5_U64, &rank, od, (void **)off);
    if (st != CORE_OK)
        return st;
    if (od[0] != n + 1 || (*off)[n] != d[0] || (*off)[0] != 0)
        return CORE_ERR(CORE_ERR_FORMAT, "%s: %s does not match its offsets", path, name);
    for (size_t i = 0; i < n; i++)
        if ((*off)[i + 1] < (*off)[i])
            return CORE_ERR(CORE_ERR_FORMAT, "%s: %s has decreasing offsets", path, oname);
    return CORE_OK;
}

core_status rlhf_prefs_open(const char *prefs_h5, const char *personas_h5, rlhf_prefs **out)
{
    *out = NULL;
    rlhf_prefs *p = core_zalloc(1, sizeof *p, "prefs");
    if (!p)
        return CORE_ERR_NOMEM;
    hid_t f = H5I_INVALID_HID, pf = H5I_INVALID_HID, feat = H5I_INVALID_HID;
    persona_matrix pm = {0};
    uint64_t *moff = NULL, *hoff = NULL, *coff = NULL, *roff = NULL;
    int32_t *cue = NULL, *lang = NULL, *turn = NULL;
    char **consent = NULL;
    size_t n = 0, k;
    int rank;
    hsize_t d[8];
    core_status st = core_h5_open(prefs_h5, &f);
    if (st != CORE_OK) {
        free(p);
        return st;
    }
    CORE_TRY(core_h5_check_format(f, prefs_h5, RLHF_PREFS_FORMAT));
    CORE_TRY(core_h5_read_strs(f, "/persona_id", &p->persona_id, &n));
    p->n = n;
    CORE_TRY(core_h5_read_strs(f, "/reason", &p->reason, &k));
    if (k != n)
        goto bad;
    CORE_TRY(core_h5_read_strs(f, "/provenance/annotator", &p->annotator, &k));
    if (k != n)
        goto bad;
    CORE_TRY(core_h5_read_strs(f, "/provenance/licence", &p->licence, &k));
    if (k != n)
        goto bad;
    CORE_TRY(core_h5_read_strs(f, "/provenance/source_sha256", &p->source, &k));
    if (k != n)
        goto bad;
    CORE_TRY(core_h5_read_strs(f, "/provenance/consent_ref", &consent, &k));
    if (k != n) {
        core_strs_free(consent, k);
        consent = NULL;
        goto bad;
    }
    CORE_TRY(core_h5_read(f, "/provenance/synthetic", CORE_H5_U8, &rank, d, (void **)&p->synthetic));
    if (d[0] != n)
        goto bad;
    CORE_TRY(core_h5_read(f, "/split", CORE_H5_I32, &rank, d, (void **)&p->split));
    if (d[0] != n)
        goto bad;
    CORE_TRY(core_h5_read(f, "/lang", CORE_H5_I32, &rank, d, (void **)&lang));
    if (d[0] != n)
        goto bad;
    CORE_TRY(core_h5_read(f, "/turn", CORE_H5_I32, &rank, d, (void **)&turn));
    if (d[0] != n)
        goto bad;
    CORE_TRY(core_h5_read(f, "/cue", CORE_H5_I32, &rank, d, (void **)&cue));
    if (rank != 2 || d[0] != n || d[1] != 4)
        goto bad;
    CORE_TRY(core_h5_read(f, "/mel_offsets", CORE_H5_U64, &rank, d, (void **)&moff));
    if (d[0] != n + 1)
        goto bad;
    CORE_TRY(core_h5_read(f, "/mel", CORE_H5_F32, &rank, d, (void **)&p->mel));
    if (rank != 2 || d[1] != TRAIN_N_MELS || d[0] != moff[n])
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (moff[i + 1] < moff[i])
            goto bad;
    CORE_TRY(read_tok(f, prefs_h5, "/tokens/history", n, &p->hist, &hoff));
    CORE_TRY(read_tok(f, prefs_h5, "/tokens/chosen", n, &p->chosen, &coff));
    CORE_TRY(read_tok(f, prefs_h5, "/tokens/rejected", n, &p->rejected, &roff));
    /* persona features, as the training loader reads them */
    CORE_TRY(persona_matrix_load(personas_h5, false, &pm));
    CORE_TRY(core_h5_open(personas_h5, &pf));
    feat = H5Dopen2(pf, "/features", H5P_DEFAULT);
    if (feat < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no /features dataset", personas_h5);
        goto done;
    }
    p->persona = core_zalloc(n ? n : 1, TRAIN_PERSONA_DIM * sizeof(float), "prefs personas");
    p->pairs = core_zalloc(n ? n : 1, sizeof *p->pairs, "prefs pairs");
    if (!p->persona || !p->pairs) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rlhf_pair *x = &p->pairs[i];
        char *end;
        unsigned long long id = strtoull(p->persona_id[i], &end, 10);
        long row = *p->persona_id[i] && !*end ? persona_matrix_find(&pm, id) : -1;
        if (row < 0) {
            st = CORE_ERR(CORE_ERR_CHECK, "%s: pair %zu: persona '%s' is not in %s", prefs_h5, i,
                          p->persona_id[i], personas_h5);
            goto done;
        }
        float *feat_row = p->persona + i * TRAIN_PERSONA_DIM;
        CORE_TRY(core_h5_read_rows(feat, CORE_H5_F32, (hsize_t)row, 1, feat_row));
        x->persona_id = id;
        x->persona = feat_row;
        x->history = p->hist + hoff[i];
        x->n_history = hoff[i + 1] - hoff[i];
        x->mel = p->mel + moff[i] * TRAIN_N_MELS;
        x->frames = moff[i + 1] - moff[i];
        x->chosen = p->chosen + coff[i];
        x->n_chosen = coff[i + 1] - coff[i];
        x->rejected = p->rejected + roff[i];
        x->n_rejected = roff[i + 1] - roff[i];
        x->cue = (data_cue){cue[i * 4] >= 0 && cue[i * 4] < 10 ? cue[i * 4] : 0,
                            cue[i * 4 + 1] != 0, cue[i * 4 + 2] != 0,
                            cue[i * 4 + 3] >= 0 && cue[i * 4 + 3] <= 2 ? cue[i * 4 + 3] : 1};
        x->lang = lang[i] == 1 ? DATA_LANG_ZH : DATA_LANG_EN;
        x->turn = turn[i];
        x->reason = p->reason[i];
    }
    /* the distinct consent references */
    p->consents = core_alloc(n ? n : 1, sizeof *p->consents, "prefs consents");
    if (!p->consents) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    qsort(consent, n, sizeof *consent, cmp_strp);
    for (size_t i = 0; i < n; i++) {
        if (p->n_consents && !strcmp(p->consents[p->n_consents - 1], consent[i]))
            continue;
        p->consents[p->n_consents++] = consent[i];
        consent[i] = NULL;
    }
    {
        uint8_t h[32];
        char hex[CORE_SHA256_HEX];
        CORE_TRY(core_sha256_file(prefs_h5, h, NULL));
        core_hex(hex, h, 32);
        p->id = core_sprintf("sha256:%s %s", hex, prefs_h5);
    }
    goto done;
bad:
    st = CORE_ERR(CORE_ERR_FORMAT, "%s: columns disagree on the number of pairs", prefs_h5);
done:
    if (feat >= 0)
        H5Dclose(feat);
    core_h5_close(pf);
    core_h5_close(f);
    persona_matrix_free(&pm);
    free(moff);
    free(hoff);
    free(coff);
    free(roff);
    free(cue);
    free(lang);
    free(turn);
    core_strs_free(consent, consent ? n : 0);
    if (st != CORE_OK) {
        rlhf_prefs_free(p);
        return st;
    }
    *out = p;
    return CORE_OK;
}

size_t rlhf_prefs_count(const rlhf_prefs *p)
{
    return p ? p->n : 0;
}

const rlhf_pair *rlhf_prefs_get(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return &p->pairs[i];
}

int rlhf_prefs_split(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return p->split[i];
}

const char *rlhf_prefs_id(const rlhf_prefs *p)
{
    return p->id;
}

const char *const *rlhf_prefs_consents(const rlhf_prefs *p, size_t *n)
{
    *n = p->n_consents;
    return (const char *const *)p->consents;
}

const char *rlhf_prefs_annotator(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return p->annotator[i];
}

const char *rlhf_prefs_licence(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return p->licence[i];
}

const char *rlhf_prefs_source(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return p->source[i];
}

bool rlhf_prefs_synthetic(const rlhf_prefs *p, size_t i)
{
    CORE_ASSERT(p && i < p->n);
    return p->synthetic[i] != 0;
}
