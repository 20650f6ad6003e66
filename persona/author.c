/* persona author: composes ≥10,000 roles from the archetypes and the vocabularies of
 * occupations, backgrounds, quirks and variations (configs/persona/vocabulary.yaml).
 *
 * Role i draws everything from its own substream (seed, "persona.author", i), so the set
 * is the same for a seed whatever the thread count. Each composed role keeps its parent
 * archetype and the choices that made it under `derivation`. */
#include "persona/persona.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define F(key, type, field, lo, hi, choices, flags, help)                                          \
    {                                                                                              \
        key, type, offsetof(persona_author_cfg, field), lo, hi, choices, flags, help               \
    }
static const core_cfg_field author_fields[] = {
    F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of every random choice"),
    F("count", CORE_CFG_INT, count, 1, 1e7, NULL, 0, "roles to compose from the archetypes"),
    F("vocabulary", CORE_CFG_STR, vocabulary, 0, 0, NULL, 0,
      "occupations, backgrounds, quirks and variations (path; relative to configs/)"),
    F("jitter.traits", CORE_CFG_REAL, trait_jitter, 0, 0.5, NULL, 0,
      "standard deviation added to each trait and style value"),
    F("jitter.prosody", CORE_CFG_REAL, prosody_jitter, 0, 0.5, NULL, 0,
      "standard deviation of prosody noise, as a fraction of each target's range"),
    F("provenance.author", CORE_CFG_STR, author, 0, 0, NULL, 0, "author written into each role"),
    F("provenance.licence", CORE_CFG_STR, licence, 0, 0, NULL, 0, "licence of the composed roles"),
    F("provenance.created_at", CORE_CFG_STR, created_at, 0, 0, NULL, 0,
      "creation time written into each role (fixed, so output is reproducible)"),
};
#undef F
const core_cfg_schema persona_author_schema = {"persona.author",
                                               "persona/author.yaml",
                                               sizeof(persona_author_cfg),
                                               author_fields,
                                               sizeof author_fields / sizeof *author_fields,
                                               "persona author: compose roles from archetypes"};

/* ---------------------------------------------------------------- vocabulary */

typedef struct occupation {
    const char *en, *zh, *domain;
} occupation;

typedef struct variation {
    const char *name;
    float traits[PERSONA_N_TRAITS], style[PERSONA_N_STYLE], prosody[PERSONA_N_PROSODY];
} variation;

typedef struct vocabulary {
    core_yaml_doc *doc; /* owns the strings */
    occupation *occ[PERSONA_N_ARCHETYPES];
    size_t n_occ[PERSONA_N_ARCHETYPES];
    const char **backgrounds, **quirks;
    size_t n_backgrounds, n_quirks;
    variation *variations;
    size_t n_variations;
} vocabulary;

static void vocab_free(vocabulary *v)
{
    for (int a = 0; a < PERSONA_N_ARCHETYPES; a++)
        free(v->occ[a]);
    free(v->backgrounds);
    free(v->quirks);
    free(v->variations);
    core_yaml_free(v->doc);
    memset(v, 0, sizeof *v);
}

static core_status vocab_strings(const core_yaml_doc *doc, const core_yaml_node *n,
                                 const char *what, const char ***out, size_t *count)
{
    core_status st = core_yaml_expect(doc, n, CORE_YAML_SEQ, what);
    if (st != CORE_OK)
        return st;
    if (n->n == 0)
        return core_yaml_error(doc, n, false, CORE_ERR_SCHEMA, "'%s' is empty", what);
    *out = core_alloc(n->n, sizeof **out, what);
    if (!*out)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < n->n; i++)
        if ((st = core_yaml_str(doc, n->items[i], what, &(*out)[i])) != CORE_OK)
            return st;
    *count = n->n;
    return CORE_OK;
}

static core_status vocab_shift(const core_yaml_doc *doc, const core_yaml_node *n, const char *what,
                               const char *const *names, size_t nn, float lim, float *out)
{
    if (!n)
        return CORE_OK;
    core_status st = core_yaml_expect(doc, n, CORE_YAML_MAP, what);
    if (st != CORE_OK)
        return st;
    const char *allowed[16];
    for (size_t i = 0; i < nn; i++)
        allowed[i] = names[i];
    allowed[nn] = NULL;
    CORE_TRY(core_yaml_check_keys(doc, n, allowed));
    for (size_t i = 0; i < nn; i++) {
        const core_yaml_node *v = core_yaml_get(n, names[i]);
        double d;
        if (v) {
            CORE_TRY(core_yaml_real(doc, v, names[i], -lim, lim, &d));
            out[i] = (float)d;
        }
    }
done:
    return st;
}

static core_status vocab_load(const char *path, vocabulary *v)
{
    memset(v, 0, sizeof *v);
    core_status st = core_yaml_load(path, NULL, &v->doc);
    if (st != CORE_OK)
        return st;
    const core_yaml_doc *doc = v->doc;
    const core_yaml_node *root = core_yaml_root(doc), *n;
    static const char *const top[] = {"schema", "occupations", "backgrounds",
                                      "quirks", "variations",  NULL};
    CORE_TRY(core_yaml_expect(doc, root, CORE_YAML_MAP, "vocabulary"));
    CORE_TRY(core_yaml_check_keys(doc, root, top));
    for (int k = 0; top[k]; k++)
        if (!core_yaml_get(root, top[k])) {
            st = core_yaml_error(doc, root, false, CORE_ERR_SCHEMA, "missing key '%s'", top[k]);
            goto done;
        }
    const char *schema;
    CORE_TRY(core_yaml_str(doc, core_yaml_get(root, "schema"), "schema", &schema));
    if (strcmp(schema, "troupe.vocabulary/1")) {
        st = core_yaml_error(doc, core_yaml_get(root, "schema"), false, CORE_ERR_SCHEMA,
                             "'schema' is '%s', expected 'troupe.vocabulary/1'", schema);
        goto done;
    }
    n = core_yaml_get(root, "occupations");
    CORE_TRY(core_yaml_expect(doc, n, CORE_YAML_MAP, "occupations"));
    const char *arch[PERSONA_N_ARCHETYPES + 1];
    memcpy(arch, persona_archetypes, sizeof persona_archetypes);
    arch[PERSONA_N_ARCHETYPES] = NULL;
    CORE_TRY(core_yaml_check_keys(doc, n, arch));
    for (int a = 0; a < PERSONA_N_ARCHETYPES; a++) {
        const core_yaml_node *list = core_yaml_get(n, persona_archetypes[a]);
        if (!list || list->kind != CORE_YAML_SEQ || list->n == 0) {
            st =
                core_yaml_error(doc, list ? list : n, false, CORE_ERR_SCHEMA,
                                "'occupations.%s' must be a non-empty list", persona_archetypes[a]);
            goto done;
        }
        v->occ[a] = core_zalloc(list->n, sizeof *v->occ[a], path);
        if (!v->occ[a]) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        static const char *const ok[] = {"en", "zh", "domain", NULL};
        for (size_t i = 0; i < list->n; i++) {
            const core_yaml_node *o = list->items[i];
            CORE_TRY(core_yaml_expect(doc, o, CORE_YAML_MAP, "occupation"));
            CORE_TRY(core_yaml_check_keys(doc, o, ok));
            for (int k = 0; ok[k]; k++)
                if (!core_yaml_get(o, ok[k])) {
                    st = core_yaml_error(doc, o, false, CORE_ERR_SCHEMA, "occupation needs '%s'",
                                         ok[k]);
                    goto done;
                }
            CORE_TRY(core_yaml_str(doc, core_yaml_get(o, "en"), "en", &v->occ[a][i].en));
            CORE_TRY(core_yaml_str(doc, core_yaml_get(o, "zh"), "zh", &v->occ[a][i].zh));
            CORE_TRY(
                core_yaml_str(doc, core_yaml_get(o, "domain"), "domain", &v->occ[a][i].domain));
        }
        v->n_occ[a] = list->n;
    }
    CORE_TRY(vocab_strings(doc, core_yaml_get(root, "backgrounds"), "backgrounds", &v->backgrounds,
                           &v->n_backgrounds));
    CORE_TRY(vocab_strings(doc, core_yaml_get(root, "quirks"), "quirks", &v->quirks, &v->n_quirks));
    n = core_yaml_get(root, "variations");
    CORE_TRY(core_yaml_expect(doc, n, CORE_YAML_SEQ, "variations"));
    if (n->n == 0) {
        st = core_yaml_error(doc, n, false, CORE_ERR_SCHEMA, "'variations' is empty");
        goto done;
    }
    v->variations = core_zalloc(n->n, sizeof *v->variations, path);
    if (!v->variations) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    static const char *const vk[] = {"name", "traits", "style", "prosody", NULL};
    for (size_t i = 0; i < n->n; i++) {
        const core_yaml_node *o = n->items[i];
        variation *var = &v->variations[i];
        CORE_TRY(core_yaml_expect(doc, o, CORE_YAML_MAP, "variation"));
        CORE_TRY(core_yaml_check_keys(doc, o, vk));
        if (!core_yaml_get(o, "name")) {
            st = core_yaml_error(doc, o, false, CORE_ERR_SCHEMA, "variation needs 'name'");
            goto done;
        }
        CORE_TRY(core_yaml_str(doc, core_yaml_get(o, "name"), "name", &var->name));
        CORE_TRY(vocab_shift(doc, core_yaml_get(o, "traits"), "traits", persona_traits,
                             PERSONA_N_TRAITS, 0.5f, var->traits));
        CORE_TRY(vocab_shift(doc, core_yaml_get(o, "style"), "style", persona_styles,
                             PERSONA_N_STYLE, 0.5f, var->style));
        CORE_TRY(vocab_shift(doc, core_yaml_get(o, "prosody"), "prosody", persona_prosody,
                             PERSONA_N_PROSODY, 60.0f, var->prosody));
    }
    v->n_variations = n->n;
done:
    if (st != CORE_OK)
        vocab_free(v);
    return st;
}

/* ---------------------------------------------------------------- composing */

static float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Rounds to 3 decimals so the YAML stays readable and re-reads to the same float. */
static float round3(float x)
{
    return roundf(x * 1000.0f) / 1000.0f;
}

static char *dup_truncated(const char *s, size_t max_chars)
{
    size_t chars = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max_chars)
                break;
            chars++;
        }
    }
    char *d = core_alloc(i + 1, 1, "string");
    if (d) {
        memcpy(d, s, i);
        d[i] = '\0';
    }
    return d;
}

static core_status strlist_copy(core_strlist *dst, const core_strlist *src, size_t extra)
{
    dst->items = core_zalloc(src->n + extra, sizeof *dst->items, "list");
    if (!dst->items)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < src->n; i++) {
        if (!(dst->items[i] = core_strdup(src->items[i])))
            return CORE_ERR_NOMEM;
        dst->n++;
    }
    return CORE_OK;
}

static int popcount(uint32_t x)
{
    return __builtin_popcount(x);
}

/* Composes role `index` into *r (caller frees with persona_role_free). */
static core_status compose(const persona_author_cfg *cfg, const vocabulary *v,
                           const persona_set *arch, const core_rng *base, uint64_t index,
                           persona_role *r)
{
    memset(r, 0, sizeof *r);
    core_rng rng = core_rng_fork(base, index);
    const persona_role *p = &arch->roles[index % arch->n];
    int a = p->archetype;
    const occupation *occ = &v->occ[a][core_rng_below(&rng, v->n_occ[a])];
    const char *bg = v->backgrounds[core_rng_below(&rng, v->n_backgrounds)];
    const char *quirk = v->quirks[core_rng_below(&rng, v->n_quirks)];
    const variation *var = &v->variations[core_rng_below(&rng, v->n_variations)];

    char idbuf[80];
    snprintf(idbuf, sizeof idbuf, "%.*s-%06llu", 56, p->id, (unsigned long long)index);
    r->id = core_strdup(idbuf);
    r->name_en = core_sprintf("%s, %s", p->name_en, occ->en);
    r->name_zh = core_sprintf("%s·%s", p->name_zh, occ->zh);
    r->archetype = a;
    r->occupation = dup_truncated(occ->en, 80);
    char *desc = core_sprintf("%s Works as a %s; %s, and %s.", p->description, occ->en, bg, quirk);
    r->description = desc ? dup_truncated(desc, 600) : NULL;
    free(desc);
    if (!r->id || !r->name_en || !r->name_zh || !r->occupation || !r->description)
        return CORE_ERR_NOMEM;
    /* Names are bounded at 80 characters like the schema says. */
    char *t = dup_truncated(r->name_en, 80);
    free(r->name_en);
    r->name_en = t;
    t = dup_truncated(r->name_zh, 80);
    free(r->name_zh);
    r->name_zh = t;
    if (!r->name_en || !r->name_zh)
        return CORE_ERR_NOMEM;

    /* Languages: keep the archetype's, sometimes drop one of several. */
    r->languages = p->languages;
    if (popcount(r->languages) > 1 && core_rng_uniform(&rng) < 0.2) {
        int drop = (int)core_rng_below(&rng, (uint64_t)popcount(r->languages));
        for (int i = 0, seen = 0; i < PERSONA_N_LANGUAGES; i++)
            if (r->languages & (1u << i) && seen++ == drop)
                r->languages &= ~(1u << i);
    }
    float tj = (float)cfg->trait_jitter;
    for (int i = 0; i < PERSONA_N_TRAITS; i++)
        r->traits[i] =
            round3(clampf(p->traits[i] + var->traits[i] + tj * (float)core_rng_normal(&rng), 0, 1));
    for (int i = 0; i < PERSONA_N_STYLE; i++)
        r->style[i] =
            round3(clampf(p->style[i] + var->style[i] + tj * (float)core_rng_normal(&rng), 0, 1));
    for (int i = 0; i < PERSONA_N_PROSODY; i++) {
        float span = persona_prosody_max[i] - persona_prosody_min[i];
        float x = p->prosody[i] + var->prosody[i] +
                  (float)cfg->prosody_jitter * span * (float)core_rng_normal(&rng);
        r->prosody[i] = round3(clampf(x, persona_prosody_min[i], persona_prosody_max[i]));
    }
    r->emotion_baseline = p->emotion_baseline;
    r->emotion_range = p->emotion_range;
    if (core_rng_uniform(&rng) < 0.3)
        r->emotion_range |= 1u << core_rng_below(&rng, PERSONA_N_EMOTIONS);
    r->scenes = p->scenes;
    if (core_rng_uniform(&rng) < 0.3)
        r->scenes |= 1u << core_rng_below(&rng, PERSONA_N_SCENES);
    core_status st = CORE_OK;
    CORE_TRY(strlist_copy(&r->catchphrases, &p->catchphrases, 0));
    CORE_TRY(strlist_copy(&r->taboos, &p->taboos, 0));
    CORE_TRY(strlist_copy(&r->domains, &p->domains, 1));
    bool have = false;
    for (size_t i = 0; i < r->domains.n && !have; i++)
        have = !strcmp(r->domains.items[i], occ->domain);
    if (!have && r->domains.n < 10 &&
        !(r->domains.items[r->domains.n++] = core_strdup(occ->domain)))
        return CORE_ERR_NOMEM;
    r->author = core_strdup(cfg->author);
    r->licence = core_strdup(cfg->licence);
    r->created_at = core_strdup(cfg->created_at);
    r->parent = core_strdup(p->id);
    r->has_derivation = true;
    r->deriv_method = core_strdup("persona author");
    r->deriv_seed = cfg->seed;
    r->deriv_index = (int64_t)index;
    r->deriv_occupation = dup_truncated(occ->en, 80);
    r->deriv_background = dup_truncated(bg, 200);
    r->deriv_quirk = dup_truncated(quirk, 200);
    r->deriv_variation = dup_truncated(var->name, 200);
    if (!r->author || !r->licence || !r->created_at || !r->parent || !r->deriv_method ||
        !r->deriv_occupation || !r->deriv_background || !r->deriv_quirk || !r->deriv_variation)
        return CORE_ERR_NOMEM;
done:
    return st;
}

static core_status write_file(const char *dir, const char *id, const char *text, size_t len)
{
    char *path = core_sprintf("%s/%s.yaml", dir, id);
    if (!path)
        return CORE_ERR_NOMEM;
    core_status st = CORE_OK;
    FILE *f = fopen(path, "wbx");
    if (!f || fwrite(text, 1, len, f) != len)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && st == CORE_OK)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot close: %s", path, strerror(errno));
    free(path);
    return st;
}

typedef struct author_job {
    const persona_author_cfg *cfg;
    const vocabulary *v;
    const persona_set *arch;
    core_rng base;
    const char *dir;
    core_status *st; /* per thread */
    char (*msg)[1024];
} author_job;

static void author_range(void *ctx, size_t begin, size_t end, int tid)
{
    author_job *j = ctx;
    for (size_t i = begin; i < end && j->st[tid] == CORE_OK; i++) {
        persona_role r;
        core_status st = compose(j->cfg, j->v, j->arch, &j->base, i, &r);
        char *text = st == CORE_OK ? persona_role_emit(&r) : NULL;
        if (st == CORE_OK && !text)
            st = core_error_code();
        if (st == CORE_OK)
            st = write_file(j->dir, r.id, text, strlen(text));
        free(text);
        persona_role_free(&r);
        if (st != CORE_OK) {
            j->st[tid] = st;
            snprintf(j->msg[tid], sizeof j->msg[tid], "%s", core_error_message());
        }
    }
}

core_status persona_author(const persona_author_cfg *cfg, const char *config_yaml,
                           const persona_set *archetypes, const char *out_dir)
{
    core_status st = CORE_OK;
    vocabulary v;
    char *tmp = NULL, *vpath = NULL;
    int nthreads = core_threads_default();
    core_status tst[64] = {CORE_OK};
    char(*msgs)[1024] = NULL;
    if (nthreads > 64)
        nthreads = 64;
    if (archetypes->n == 0)
        return CORE_ERR(CORE_ERR_SCHEMA, "no archetypes to compose roles from");
    for (size_t i = 0; i < archetypes->n; i++)
        if (archetypes->roles[i].parent)
            return CORE_ERR(CORE_ERR_SCHEMA,
                            "%s: archetypes must be roots (provenance.parent: null), this one "
                            "derives from '%s'",
                            archetypes->roles[i].path, archetypes->roles[i].parent);
    struct stat sb;
    if (stat(out_dir, &sb) == 0)
        return CORE_ERR(CORE_ERR_USAGE, "%s: already exists; remove it or choose another -o",
                        out_dir);
    const char *cdir = core_config_dir();
    vpath = cfg->vocabulary[0] == '/' || !cdir ? core_strdup(cfg->vocabulary)
                                               : core_sprintf("%s/%s", cdir, cfg->vocabulary);
    if (!vpath)
        return CORE_ERR_NOMEM;
    st = vocab_load(vpath, &v);
    free(vpath);
    if (st != CORE_OK)
        return st;
    tmp = core_tmp_path(out_dir);
    msgs = calloc((size_t)nthreads, sizeof *msgs);
    if (!tmp || !msgs) {
        st = CORE_ERR(CORE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (mkdir(tmp, 0755) != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot create folder: %s", out_dir, strerror(errno));
        goto done;
    }
    /* The archetypes go in unchanged (byte for byte), so the set is self-contained. */
    for (size_t i = 0; i < archetypes->n; i++) {
        char *text;
        size_t len;
        CORE_TRY(core_file_read(archetypes->roles[i].path, 0, &text, &len));
        st = write_file(tmp, archetypes->roles[i].id, text, len);
        free(text);
        if (st != CORE_OK)
            goto done;
    }
    if (config_yaml) {
        char *p = core_sprintf("%s/.author-config.yaml", tmp);
        FILE *f = p ? fopen(p, "w") : NULL;
        if (!f || fputs(config_yaml, f) < 0 || fclose(f) != 0) {
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", out_dir, strerror(errno));
            free(p);
            goto done;
        }
        free(p);
    }
    author_job job = {.cfg = cfg, .v = &v, .arch = archetypes, .dir = tmp, .st = tst, .msg = msgs};
    core_rng_init(&job.base, (uint64_t)cfg->seed, "persona.author");
    CORE_TRY(core_parallel_for((size_t)cfg->count, nthreads, author_range, &job));
    for (int t = 0; t < nthreads; t++)
        if (tst[t] != CORE_OK) {
            st = CORE_ERR(tst[t], "%s", msgs[t]);
            goto done;
        }
    if (rename(tmp, out_dir) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename into place: %s", out_dir, strerror(errno));
done:
    if (st != CORE_OK && tmp)
        core_rmtree(tmp);
    free(tmp);
    free(msgs);
    vocab_free(&v);
    return st;
}
