/* Roles: the troupe.role/1 schema, checked with every problem reported at once; role
 * YAML output; and role sets read from a folder. */
#include "persona/persona.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const persona_archetypes[PERSONA_N_ARCHETYPES] = {
    "assistant", "support_agent", "in_car_helper", "tutor",
    "companion", "narrator",      "game_character"};
const char *const persona_languages[PERSONA_N_LANGUAGES] = {"en", "zh", "ja", "ko",
                                                            "es", "fr", "de"};
const char *const persona_emotions[PERSONA_N_EMOTIONS] = {
    "neutral", "calm",    "happy",     "excited", "sad",
    "angry",   "fearful", "surprised", "tender",  "serious"};
const char *const persona_scenes[PERSONA_N_SCENES] = {
    "in_car", "call_centre", "bedtime",  "classroom", "game",      "office",
    "home",   "outdoor",     "hospital", "retail",    "broadcast", "museum"};
const char *const persona_traits[PERSONA_N_TRAITS] = {
    "openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"};
const char *const persona_styles[PERSONA_N_STYLE] = {
    "formality", "warmth", "energy", "verbosity", "humour", "empathy", "assertiveness"};
const char *const persona_prosody[PERSONA_N_PROSODY] = {
    "pitch_offset_st", "pitch_range_st", "speech_rate_wpm", "pause_rate_pm", "loudness_db"};
const char *const persona_pacing[PERSONA_N_PACING] = {"slow", "normal", "fast"};
const char *const persona_registers[PERSONA_N_REGISTERS] = {"casual", "neutral", "formal"};
const float persona_prosody_min[PERSONA_N_PROSODY] = {-12, 1, 80, 0, -12};
const float persona_prosody_max[PERSONA_N_PROSODY] = {12, 24, 260, 60, 12};

#define ROLE_MAX_BYTES (64u << 10)

void persona_problems_free(persona_problems *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static void problems_add(persona_problems *p, const char *msg)
{
    if (!p)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        char **ni = realloc(p->items, cap * sizeof *ni);
        if (!ni)
            return; /* the status still reports failure; only the list is short */
        p->items = ni;
        p->cap = cap;
    }
    char *s = strdup(msg);
    if (s)
        p->items[p->n++] = s;
}

void persona_role_free(persona_role *r)
{
    if (!r)
        return;
    char **strs[] = {&r->id,           &r->name_en,          &r->name_zh,
                     &r->occupation,   &r->description,      &r->author,
                     &r->licence,      &r->created_at,       &r->parent,
                     &r->deriv_method, &r->deriv_occupation, &r->deriv_background,
                     &r->deriv_quirk,  &r->deriv_variation,  &r->path};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    core_strlist_free(&r->catchphrases);
    core_strlist_free(&r->taboos);
    core_strlist_free(&r->domains);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- checking */

typedef struct checker {
    const core_yaml_doc *doc;
    persona_problems *probs;
    int bad;
} checker;

static void note(checker *c, core_status st)
{
    if (st == CORE_OK)
        return;
    c->bad++;
    problems_add(c->probs, core_error_message());
}

static core_status problem(checker *c, const core_yaml_node *at, bool on_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static core_status problem(checker *c, const core_yaml_node *at, bool on_key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    core_status st = core_yaml_error(c->doc, at, on_key, CORE_ERR_SCHEMA, "%s", msg);
    note(c, st);
    return st;
}

/* Records every unknown key and every missing required key of `map`. */
static void check_keys(checker *c, const core_yaml_node *map, const char *section,
                       const char *const *allowed, size_t n_allowed, size_t n_required)
{
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->items[i]->key;
        bool ok = false;
        for (size_t j = 0; j < n_allowed && !ok; j++)
            ok = !strcmp(k, allowed[j]);
        if (ok)
            continue;
        const char *s = core_suggest(k, allowed, n_allowed);
        if (s)
            problem(c, map->items[i], true, "unknown key '%s%s%s' (did you mean '%s'?)",
                    section ? section : "", section ? "." : "", k, s);
        else
            problem(c, map->items[i], true, "unknown key '%s%s%s'", section ? section : "",
                    section ? "." : "", k);
    }
    for (size_t j = 0; j < n_required; j++)
        if (!core_yaml_get(map, allowed[j]))
            problem(c, map, false, "missing key '%s%s%s'", section ? section : "",
                    section ? "." : "", allowed[j]);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A string of min..max characters; *out is a copy. NULL node: nothing (missing is
 * reported by check_keys). */
static void get_str(checker *c, const core_yaml_node *n, const char *what, size_t min, size_t max,
                    char **out)
{
    if (!n)
        return;
    const char *v;
    core_status st = core_yaml_str(c->doc, n, what, &v);
    if (st != CORE_OK) {
        note(c, st);
        return;
    }
    size_t len = utf8_chars(v);
    if (len < min || len > max) {
        problem(c, n, false, "'%s' has %zu characters, expected %zu to %zu", what, len, min, max);
        return;
    }
    *out = core_strdup(v);
    if (!*out)
        note(c, CORE_ERR_NOMEM);
}

static int vocab_index(const char *v, const char *const *vocab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v, vocab[i]))
            return (int)i;
    return -1;
}

static int get_enum(checker *c, const core_yaml_node *n, const char *what, const char *const *vocab,
                    size_t nv)
{
    if (!n)
        return -1;
    const char *v;
    core_status st = core_yaml_str(c->doc, n, what, &v);
    if (st != CORE_OK) {
        note(c, st);
        return -1;
    }
    int i = vocab_index(v, vocab, nv);
    if (i < 0) {
        const char *s = core_suggest(v, vocab, nv);
        if (s)
            problem(c, n, false, "'%s' is '%s', not one of the known values (did you mean '%s'?)",
                    what, v, s);
        else
            problem(c, n, false, "'%s' is '%s', not one of the known values (see docs/persona.md)",
                    what, v);
    }
    return i;
}

/* A list of 1..max distinct vocabulary items, as a bit mask. */
static uint32_t get_enum_set(checker *c, const core_yaml_node *n, const char *what,
                             const char *const *vocab, size_t nv, size_t max)
{
    if (!n)
        return 0;
    core_status st = core_yaml_expect(c->doc, n, CORE_YAML_SEQ, what);
    if (st != CORE_OK) {
        note(c, st);
        return 0;
    }
    if (n->n < 1 || n->n > max) {
        problem(c, n, false, "'%s' has %zu items, expected 1 to %zu", what, n->n, max);
        return 0;
    }
    uint32_t mask = 0;
    for (size_t i = 0; i < n->n; i++) {
        int k = get_enum(c, n->items[i], what, vocab, nv);
        if (k < 0)
            continue;
        if (mask & (1u << k))
            problem(c, n->items[i], false, "'%s' lists '%s' twice", what, vocab[k]);
        mask |= 1u << k;
    }
    return mask;
}

static void get_strlist(checker *c, const core_yaml_node *n, const char *what, size_t max_items,
                        size_t min_len, size_t max_len, bool token, core_strlist *out)
{
    if (!n)
        return;
    core_status st = core_yaml_expect(c->doc, n, CORE_YAML_SEQ, what);
    if (st != CORE_OK) {
        note(c, st);
        return;
    }
    if (n->n < 1 || n->n > max_items) {
        problem(c, n, false, "'%s' has %zu items, expected 1 to %zu", what, n->n, max_items);
        return;
    }
    out->items = core_zalloc(n->n, sizeof *out->items, what);
    if (!out->items) {
        note(c, CORE_ERR_NOMEM);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        char *s = NULL;
        get_str(c, n->items[i], what, min_len, max_len, &s);
        if (!s)
            continue;
        if (token)
            for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
                    problem(c, n->items[i], false,
                            "'%s' item '%s' must be lowercase letters and '_'", what, s);
                    break;
                }
        out->items[out->n++] = s;
    }
}

static void get_numbers(checker *c, const core_yaml_node *map, const char *section,
                        const char *const *names, size_t n, const float *min, const float *max,
                        float *out)
{
    if (!map)
        return;
    core_status st = core_yaml_expect(c->doc, map, CORE_YAML_MAP, section);
    if (st != CORE_OK) {
        note(c, st);
        return;
    }
    check_keys(c, map, section, names, n, n);
    for (size_t i = 0; i < n; i++) {
        const core_yaml_node *v = core_yaml_get(map, names[i]);
        if (!v)
            continue;
        char what[96];
        snprintf(what, sizeof what, "%s.%s", section, names[i]);
        double d;
        st = core_yaml_real(c->doc, v, what, min ? min[i] : 0.0, max ? max[i] : 1.0, &d);
        if (st == CORE_OK)
            out[i] = (float)d;
        note(c, st);
    }
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static bool valid_timestamp(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SSZ */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    int mo = atoi(s + 5), d = atoi(s + 8), h = atoi(s + 11), mi = atoi(s + 14), se = atoi(s + 17);
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
}

static const char *const top_keys[] = {
    "schema",       "id",     "names",   "archetype",  "occupation", "description",
    "languages",    "traits", "style",   "prosody",    "emotion",    "scenes",
    "catchphrases", "taboos", "domains", "provenance", "derivation"};
#define N_TOP 17
#define N_TOP_REQUIRED 16

static void check_role(checker *c, const char *path, persona_role *r)
{
    const core_yaml_node *root = core_yaml_root(c->doc);
    if (root->kind != CORE_YAML_MAP) {
        problem(c, root, false, "a role must be a map of keys");
        return;
    }
    check_keys(c, root, NULL, top_keys, N_TOP, N_TOP_REQUIRED);
    const core_yaml_node *n;
    if ((n = core_yaml_get(root, "schema"))) {
        const char *v;
        core_status st = core_yaml_str(c->doc, n, "schema", &v);
        note(c, st);
        if (st == CORE_OK && strcmp(v, "troupe.role/1"))
            problem(c, n, false, "'schema' is '%s', expected 'troupe.role/1'", v);
    }
    if ((n = core_yaml_get(root, "id"))) {
        get_str(c, n, "id", 3, 64, &r->id);
        r->id_line = n->line;
        r->id_col = n->col;
        if (r->id && !valid_id(r->id))
            problem(c, n, false, "'id' '%s' must be 3-64 characters of a-z, 0-9 and '-'", r->id);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base);
        if (r->id && (bl < 5 || strncmp(base, r->id, bl - 5) || strlen(r->id) != bl - 5 ||
                      strcmp(base + bl - 5, ".yaml")))
            problem(c, n, false, "'id' '%s' does not match the file name '%s'", r->id, base);
    }
    if ((n = core_yaml_get(root, "names"))) {
        core_status st = core_yaml_expect(c->doc, n, CORE_YAML_MAP, "names");
        note(c, st);
        if (st == CORE_OK) {
            static const char *const nk[] = {"en", "zh"};
            check_keys(c, n, "names", nk, 2, 2);
            get_str(c, core_yaml_get(n, "en"), "names.en", 1, 80, &r->name_en);
            get_str(c, core_yaml_get(n, "zh"), "names.zh", 1, 80, &r->name_zh);
        }
    }
    r->archetype = get_enum(c, core_yaml_get(root, "archetype"), "archetype", persona_archetypes,
                            PERSONA_N_ARCHETYPES);
    get_str(c, core_yaml_get(root, "occupation"), "occupation", 1, 80, &r->occupation);
    get_str(c, core_yaml_get(root, "description"), "description", 20, 600, &r->description);
    r->languages = get_enum_set(c, core_yaml_get(root, "languages"), "languages", persona_languages,
                                PERSONA_N_LANGUAGES, 4);
    get_numbers(c, core_yaml_get(root, "traits"), "traits", persona_traits, PERSONA_N_TRAITS, NULL,
                NULL, r->traits);
    get_numbers(c, core_yaml_get(root, "style"), "style", persona_styles, PERSONA_N_STYLE, NULL,
                NULL, r->style);
    get_numbers(c, core_yaml_get(root, "prosody"), "prosody", persona_prosody, PERSONA_N_PROSODY,
                persona_prosody_min, persona_prosody_max, r->prosody);
    r->emotion_baseline = -1;
    if ((n = core_yaml_get(root, "emotion"))) {
        core_status st = core_yaml_expect(c->doc, n, CORE_YAML_MAP, "emotion");
        note(c, st);
        if (st == CORE_OK) {
            static const char *const ek[] = {"baseline", "range"};
            check_keys(c, n, "emotion", ek, 2, 2);
            r->emotion_baseline = get_enum(c, core_yaml_get(n, "baseline"), "emotion.baseline",
                                           persona_emotions, PERSONA_N_EMOTIONS);
            r->emotion_range = get_enum_set(c, core_yaml_get(n, "range"), "emotion.range",
                                            persona_emotions, PERSONA_N_EMOTIONS, 10);
            if (r->emotion_baseline >= 0 && r->emotion_range &&
                !(r->emotion_range & (1u << r->emotion_baseline)))
                problem(c, core_yaml_get(n, "range"), false,
                        "'emotion.range' must include the baseline '%s'",
                        persona_emotions[r->emotion_baseline]);
        }
    }
    r->scenes = get_enum_set(c, core_yaml_get(root, "scenes"), "scenes", persona_scenes,
                             PERSONA_N_SCENES, 12);
    get_strlist(c, core_yaml_get(root, "catchphrases"), "catchphrases", 8, 2, 120, false,
                &r->catchphrases);
    get_strlist(c, core_yaml_get(root, "taboos"), "taboos", 8, 2, 160, false, &r->taboos);
    get_strlist(c, core_yaml_get(root, "domains"), "domains", 10, 2, 40, true, &r->domains);
    if ((n = core_yaml_get(root, "provenance"))) {
        core_status st = core_yaml_expect(c->doc, n, CORE_YAML_MAP, "provenance");
        note(c, st);
        if (st == CORE_OK) {
            static const char *const pk[] = {"author", "licence", "created_at", "parent"};
            check_keys(c, n, "provenance", pk, 4, 4);
            get_str(c, core_yaml_get(n, "author"), "provenance.author", 1, 120, &r->author);
            get_str(c, core_yaml_get(n, "licence"), "provenance.licence", 1, 64, &r->licence);
            const core_yaml_node *t = core_yaml_get(n, "created_at");
            get_str(c, t, "provenance.created_at", 20, 20, &r->created_at);
            if (t && t->kind == CORE_YAML_SCALAR && !valid_timestamp(t->str))
                problem(c, t, false,
                        "'provenance.created_at' '%s' is not an RFC 3339 UTC time "
                        "(YYYY-MM-DDTHH:MM:SSZ)",
                        t->str);
            const core_yaml_node *p = core_yaml_get(n, "parent");
            if (p && p->kind != CORE_YAML_NULL) {
                get_str(c, p, "provenance.parent", 3, 64, &r->parent);
                if (r->parent && r->id && !strcmp(r->parent, r->id))
                    problem(c, p, false, "'provenance.parent' is the role itself");
            }
        }
    }
    if ((n = core_yaml_get(root, "derivation"))) {
        core_status st = core_yaml_expect(c->doc, n, CORE_YAML_MAP, "derivation");
        note(c, st);
        if (st == CORE_OK) {
            static const char *const dk[] = {"method",     "seed",  "index",    "occupation",
                                             "background", "quirk", "variation"};
            check_keys(c, n, "derivation", dk, 7, 7);
            r->has_derivation = true;
            get_str(c, core_yaml_get(n, "method"), "derivation.method", 1, 64, &r->deriv_method);
            get_str(c, core_yaml_get(n, "occupation"), "derivation.occupation", 1, 80,
                    &r->deriv_occupation);
            get_str(c, core_yaml_get(n, "background"), "derivation.background", 1, 200,
                    &r->deriv_background);
            get_str(c, core_yaml_get(n, "quirk"), "derivation.quirk", 1, 200, &r->deriv_quirk);
            get_str(c, core_yaml_get(n, "variation"), "derivation.variation", 1, 200,
                    &r->deriv_variation);
            const core_yaml_node *v;
            if ((v = core_yaml_get(n, "seed")))
                note(c, core_yaml_int(c->doc, v, "derivation.seed", INT64_MIN, INT64_MAX,
                                      &r->deriv_seed));
            if ((v = core_yaml_get(n, "index")))
                note(c,
                     core_yaml_int(c->doc, v, "derivation.index", 0, INT64_MAX, &r->deriv_index));
            if (!r->parent)
                problem(c, n, true, "a derived role needs 'provenance.parent'");
        }
    }
}

core_status persona_role_load(const char *path, persona_role *out, persona_problems *probs)
{
    memset(out, 0, sizeof *out);
    core_yaml_doc *doc;
    core_yaml_limits lim = {ROLE_MAX_BYTES, 16, 4096};
    core_status st = core_yaml_load(path, &lim, &doc);
    if (st != CORE_OK) {
        problems_add(probs, core_error_message());
        return st;
    }
    checker c = {doc, probs, 0};
    char last[2048] = "";
    check_role(&c, path, out);
    if (c.bad)
        snprintf(last, sizeof last, "%s", core_error_message());
    core_yaml_free(doc);
    if (c.bad) {
        persona_role_free(out);
        return CORE_ERR(CORE_ERR_SCHEMA, "%s", last);
    }
    out->path = core_strdup(path);
    if (!out->path) {
        persona_role_free(out);
        return CORE_ERR_NOMEM;
    }
    return CORE_OK;
}

/* ---------------------------------------------------------------- output */

static void emit_mask(core_yw *w, uint32_t mask, const char *const *vocab, size_t n)
{
    core_yw_seq_begin(w, true);
    for (size_t i = 0; i < n; i++)
        if (mask & (1u << i))
            core_yw_str(w, vocab[i]);
    core_yw_seq_end(w);
}

static void emit_list(core_yw *w, const core_strlist *l)
{
    core_yw_seq_begin(w, true);
    for (size_t i = 0; i < l->n; i++)
        core_yw_str(w, l->items[i]);
    core_yw_seq_end(w);
}

static void emit_numbers(core_yw *w, const char *key, const char *const *names, size_t n,
                         const float *v)
{
    core_yw_key(w, key);
    core_yw_map_begin(w, true);
    for (size_t i = 0; i < n; i++) {
        core_yw_key(w, names[i]);
        core_yw_real(w, v[i]);
    }
    core_yw_map_end(w);
}

char *persona_role_emit(const persona_role *r)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    core_yw_map_begin(w, false);
    core_yw_key(w, "schema");
    core_yw_str(w, "troupe.role/1");
    core_yw_key(w, "id");
    core_yw_str(w, r->id);
    core_yw_key(w, "names");
    core_yw_map_begin(w, true);
    core_yw_key(w, "en");
    core_yw_str(w, r->name_en);
    core_yw_key(w, "zh");
    core_yw_str(w, r->name_zh);
    core_yw_map_end(w);
    core_yw_key(w, "archetype");
    core_yw_str(w, persona_archetypes[r->archetype]);
    core_yw_key(w, "occupation");
    core_yw_str(w, r->occupation);
    core_yw_key(w, "description");
    core_yw_str(w, r->description);
    core_yw_key(w, "languages");
    emit_mask(w, r->languages, persona_languages, PERSONA_N_LANGUAGES);
    emit_numbers(w, "traits", persona_traits, PERSONA_N_TRAITS, r->traits);
    emit_numbers(w, "style", persona_styles, PERSONA_N_STYLE, r->style);
    emit_numbers(w, "prosody", persona_prosody, PERSONA_N_PROSODY, r->prosody);
    core_yw_key(w, "emotion");
    core_yw_map_begin(w, true);
    core_yw_key(w, "baseline");
    core_yw_str(w, persona_emotions[r->emotion_baseline]);
    core_yw_key(w, "range");
    emit_mask(w, r->emotion_range, persona_emotions, PERSONA_N_EMOTIONS);
    core_yw_map_end(w);
    core_yw_key(w, "scenes");
    emit_mask(w, r->scenes, persona_scenes, PERSONA_N_SCENES);
    core_yw_key(w, "catchphrases");
    emit_list(w, &r->catchphrases);
    core_yw_key(w, "taboos");
    emit_list(w, &r->taboos);
    core_yw_key(w, "domains");
    emit_list(w, &r->domains);
    core_yw_key(w, "provenance");
    core_yw_map_begin(w, false);
    core_yw_key(w, "author");
    core_yw_str(w, r->author);
    core_yw_key(w, "licence");
    core_yw_str(w, r->licence);
    core_yw_key(w, "created_at");
    core_yw_str(w, r->created_at);
    core_yw_key(w, "parent");
    if (r->parent)
        core_yw_str(w, r->parent);
    else
        core_yw_null(w);
    core_yw_map_end(w);
    if (r->has_derivation) {
        core_yw_key(w, "derivation");
        core_yw_map_begin(w, false);
        core_yw_key(w, "method");
        core_yw_str(w, r->deriv_method);
        core_yw_key(w, "seed");
        core_yw_int(w, r->deriv_seed);
        core_yw_key(w, "index");
        core_yw_int(w, r->deriv_index);
        core_yw_key(w, "occupation");
        core_yw_str(w, r->deriv_occupation);
        core_yw_key(w, "background");
        core_yw_str(w, r->deriv_background);
        core_yw_key(w, "quirk");
        core_yw_str(w, r->deriv_quirk);
        core_yw_key(w, "variation");
        core_yw_str(w, r->deriv_variation);
        core_yw_map_end(w);
    }
    core_yw_map_end(w);
    return core_yw_finish(w);
}

/* ---------------------------------------------------------------- sets */

void persona_set_free(persona_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        persona_role_free(&set->roles[i]);
    free(set->roles);
    set->roles = NULL;
    set->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_role(const void *a, const void *b)
{
    return strcmp(((const persona_role *)a)->id, ((const persona_role *)b)->id);
}

long persona_set_find(const persona_set *set, const char *id)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(set->roles[mid].id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

size_t persona_set_root(const persona_set *set, size_t i)
{
    for (int depth = 0; set->roles[i].parent && depth < 64; depth++) {
        long p = persona_set_find(set, set->roles[i].parent);
        CORE_ASSERT(p >= 0);
        i = (size_t)p;
    }
    return i;
}

typedef struct load_job {
    char **paths;
    persona_role *roles;
    persona_problems *probs; /* one list per file, merged in order afterwards */
    core_status *st;
} load_job;

static void load_range(void *ctx, size_t begin, size_t end, int tid)
{
    load_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        j->st[i] = persona_role_load(j->paths[i], &j->roles[i], &j->probs[i]);
}

core_status persona_set_load(const char *dir, persona_set *set, persona_problems *probs)
{
    memset(set, 0, sizeof *set);
    DIR *d = opendir(dir);
    if (!d) {
        core_status st = CORE_ERR(CORE_ERR_IO, "%s: cannot open roles folder: %m", dir);
        problems_add(probs, core_error_message());
        return st;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    core_status st = CORE_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **np = core_realloc(paths, cap, sizeof *np, dir);
            if (!np) {
                st = CORE_ERR_NOMEM;
                break;
            }
            paths = np;
        }
        if (!(paths[n] = core_sprintf("%s/%s", dir, e->d_name))) {
            st = CORE_ERR_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (st == CORE_OK && n == 0)
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s: no role files (*.yaml) in this folder", dir);
    if (st != CORE_OK) {
        problems_add(probs, core_error_message());
        goto done;
    }
    qsort(paths, n, sizeof *paths, cmp_str);

    persona_role *roles = core_zalloc(n, sizeof *roles, dir);
    persona_problems *fp = core_zalloc(n, sizeof *fp, dir);
    core_status *fst = core_zalloc(n, sizeof *fst, dir);
    if (!roles || !fp || !fst) {
        free(roles);
        free(fp);
        free(fst);
        st = CORE_ERR_NOMEM;
        goto done;
    }
    load_job job = {paths, roles, fp, fst};
    st = core_parallel_for(n, 0, load_range, &job);
    size_t good = 0;
    char first_bad[2048] = "";
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < fp[i].n; k++)
            problems_add(probs, fp[i].items[k]);
        persona_problems_free(&fp[i]);
        if (fst[i] == CORE_OK)
            roles[good++] = roles[i];
        else if (!first_bad[0] && fp[i].n == 0)
            snprintf(first_bad, sizeof first_bad, "%s: could not be read", paths[i]);
    }
    bool bad = good != n;
    free(fp);
    free(fst);
    set->roles = roles;
    set->n = good;
    qsort(set->roles, set->n, sizeof *set->roles, cmp_role);
    /* Across files: duplicate ids, then parents that exist and never loop. */
    for (size_t i = 1; i < set->n; i++)
        if (!strcmp(set->roles[i].id, set->roles[i - 1].id)) {
            const persona_role *r = &set->roles[i];
            CORE_ERR(CORE_ERR_SCHEMA, "%s:%d:%d: duplicate id '%s' (also in %s)", r->path,
                     r->id_line, r->id_col, r->id, set->roles[i - 1].path);
            problems_add(probs, core_error_message());
            bad = true;
        }
    for (size_t i = 0; i < set->n; i++) {
        const persona_role *r = &set->roles[i];
        size_t at = i;
        for (int depth = 0; set->roles[at].parent; depth++) {
            long p = persona_set_find(set, set->roles[at].parent);
            if (p < 0 && at == i) {
                CORE_ERR(CORE_ERR_SCHEMA, "%s: parent '%s' does not exist in %s", r->path,
                         r->parent, dir);
                problems_add(probs, core_error_message());
                bad = true;
                break;
            }
            if (p < 0)
                break; /* reported on the role that names it */
            if (depth >= 32 || (size_t)p == i) {
                CORE_ERR(CORE_ERR_SCHEMA, "%s: parent chain of '%s' loops", r->path, r->id);
                problems_add(probs, core_error_message());
                bad = true;
                break;
            }
            at = (size_t)p;
        }
    }
    if (bad) {
        persona_set_free(set);
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s: %zu problem%s in the roles (first: %s)", dir,
                      probs ? probs->n : 0, probs && probs->n == 1 ? "" : "s",
                      probs && probs->n ? probs->items[0] : first_bad);
    }
done:
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return st;
}

core_status persona_set_digest(const persona_set *set, char hex[CORE_SHA256_HEX])
{
    size_t cap = set->n * 160 + 1, n = 0;
    char *lines = core_alloc(cap, 1, "set digest");
    if (!lines)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < set->n; i++) {
        uint8_t h[CORE_SHA256_BYTES];
        char hx[CORE_SHA256_HEX];
        core_status st = core_sha256_file(set->roles[i].path, h, NULL);
        if (st != CORE_OK) {
            free(lines);
            return st;
        }
        core_hex(hx, h, sizeof h);
        const char *base = strrchr(set->roles[i].path, '/');
        base = base ? base + 1 : set->roles[i].path;
        int w = snprintf(lines + n, cap - n, "%s %.80s\n", hx, base);
        n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    uint8_t h[CORE_SHA256_BYTES];
    core_sha256(h, lines, n);
    core_hex(hex, h, sizeof h);
    free(lines);
    return CORE_OK;
}
