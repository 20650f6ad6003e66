/* persona build: roles expanded along the axes into unit-norm feature rows, near-duplicate
 * rows of a family removed, and everything streamed into personas.h5.
 *
 * Rows are made family by family (an archetype and every role derived from it), a batch
 * of families at a time on all threads, and written in family order, so peak memory is
 * bounded by the batch and the output is the same bytes whatever the thread count.
 *
 * Each row is three blocks with fixed norms: numeric values (traits, style, the row's
 * prosody, derived values), one-hots (archetype, baseline emotion and the five axes; every
 * group has the same weight) and a signed hashed bag of text n-grams. Two rows that differ
 * in any axis are therefore at squared distance at least 2·w_axes²/7, which is what lets
 * near-duplicate search compare only rows with the same axis values (when that bound
 * exceeds 2·(1 − threshold); otherwise whole families are compared). */
#include "persona/persona.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(key, type, field, lo, hi, choices, flags, help)                                          \
    {                                                                                              \
        key, type, offsetof(persona_expand_cfg, field), lo, hi, choices, flags, help               \
    }
static const core_cfg_field expand_fields[] = {
    F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of the row subset when capped"),
    F("axes", CORE_CFG_STRLIST, axes, 0, 5, "scene|language|emotion|pacing|register", 0,
      "axes to expand each role along"),
    F("dedup.threshold", CORE_CFG_REAL, dedup_threshold, 0.5, 1.0, NULL, 0,
      "cosine at or above which rows of a family are near-duplicates"),
    F("max_rows_per_role", CORE_CFG_INT, max_rows_per_role, 1, 1e6, NULL, 0,
      "rows kept per role at most (a seeded subset beyond that)"),
    F("output.chunk_rows", CORE_CFG_INT, chunk_rows, 64, 1 << 20, NULL, 0,
      "HDF5 chunk height of every row dataset"),
    F("output.gzip", CORE_CFG_INT, gzip, 0, 9, NULL, 0, "gzip level of /features (0: none)"),
    F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0, "threads (0: all cores)"),
    F("weights.numeric", CORE_CFG_REAL, block_weight_numeric, 0, 100, NULL, 0,
      "relative norm of the numeric block"),
    F("weights.axes", CORE_CFG_REAL, block_weight_axes, 0, 100, NULL, 0,
      "relative norm of the one-hot block"),
    F("weights.text", CORE_CFG_REAL, block_weight_text, 0, 100, NULL, 0,
      "relative norm of the hashed text block"),
    F("pacing_rate.slow", CORE_CFG_REAL, pacing_rate[0], 0.5, 1.0, NULL, 0,
      "speech-rate multiplier of the slow variant"),
    F("pacing_rate.normal", CORE_CFG_REAL, pacing_rate[1], 0.5, 1.5, NULL, 0,
      "speech-rate multiplier of the normal variant"),
    F("pacing_rate.fast", CORE_CFG_REAL, pacing_rate[2], 1.0, 1.5, NULL, 0,
      "speech-rate multiplier of the fast variant"),
};
#undef F
const core_cfg_schema persona_expand_schema = {"persona.expand",
                                               "persona/expand.yaml",
                                               sizeof(persona_expand_cfg),
                                               expand_fields,
                                               sizeof expand_fields / sizeof *expand_fields,
                                               "persona build: expand roles into the matrix"};

/* ---------------------------------------------------------------- the feature layout */

enum { AX_SCENE, AX_LANGUAGE, AX_EMOTION, AX_PACING, AX_REGISTER, N_AXES };
const char *const persona_axis_names[N_AXES] = {"scene", "language", "emotion", "pacing",
                                                "register"};
#define axis_names persona_axis_names
static const char *const *const axis_vocab[N_AXES] = {
    persona_scenes, persona_languages, persona_emotions, persona_pacing, persona_registers};
static const int axis_size[N_AXES] = {PERSONA_N_SCENES, PERSONA_N_LANGUAGES, PERSONA_N_EMOTIONS,
                                      PERSONA_N_PACING, PERSONA_N_REGISTERS};

/* Per emotion: valence and arousal in [0, 1] (placed on Russell's circumplex), and the
 * prosody it implies: pitch shift (semitones), loudness shift (dB), speech-rate factor. */
static const float emo_valence[PERSONA_N_EMOTIONS] = {0.5f, 0.6f,  0.85f, 0.85f, 0.15f,
                                                      0.1f, 0.15f, 0.6f,  0.8f,  0.4f};
static const float emo_arousal[PERSONA_N_EMOTIONS] = {0.4f,  0.2f,  0.65f, 0.9f,  0.2f,
                                                      0.85f, 0.75f, 0.8f,  0.25f, 0.45f};
static const float emo_pitch[PERSONA_N_EMOTIONS] = {0, -0.5f, 1.5f, 3,     -2,
                                                    1, 2.5f,  3.5f, -0.5f, -1};
static const float emo_loud[PERSONA_N_EMOTIONS] = {0, -1.5f, 1.5f, 3, -3, 4, -1, 2, -2.5f, 0.5f};
static const float emo_rate[PERSONA_N_EMOTIONS] = {1,     0.95f, 1.05f, 1.12f, 0.88f,
                                                   1.08f, 1.1f,  1.02f, 0.92f, 0.97f};
static const float register_formality[PERSONA_N_REGISTERS] = {-0.2f, 0, 0.2f};

static const char *const derived_names[7] = {"derived.effective_formality",
                                             "derived.effective_energy",
                                             "derived.valence",
                                             "derived.arousal",
                                             "derived.is_baseline_emotion",
                                             "derived.language_breadth",
                                             "derived.scene_breadth"};

enum {
    OFF_NUMERIC = 0,
    OFF_ONEHOT = PERSONA_N_NUMERIC,
    OFF_TEXT = PERSONA_N_NUMERIC + PERSONA_N_ONEHOT,
    ONEHOT_GROUPS = 7,
};
_Static_assert(OFF_TEXT + PERSONA_HASH_DIM == PERSONA_D, "feature layout adds up to D");
_Static_assert(PERSONA_N_NUMERIC == PERSONA_N_TRAITS + PERSONA_N_STYLE + PERSONA_N_PROSODY + 7,
               "numeric block layout");
_Static_assert(PERSONA_N_ONEHOT == PERSONA_N_ARCHETYPES + PERSONA_N_EMOTIONS + PERSONA_N_SCENES +
                                       PERSONA_N_LANGUAGES + PERSONA_N_EMOTIONS + PERSONA_N_PACING +
                                       PERSONA_N_REGISTERS,
               "one-hot block layout");

const char *persona_axis_value(int axis, int value)
{
    if (axis < 0 || axis >= N_AXES || value < 0 || value >= axis_size[axis])
        return "?";
    return axis_vocab[axis][value];
}

static char feature_names[PERSONA_D][48];

static void init_feature_names(void)
{
    if (feature_names[0][0])
        return;
    int j = 0;
    for (int i = 0; i < PERSONA_N_TRAITS; i++)
        snprintf(feature_names[j++], 48, "trait.%s", persona_traits[i]);
    for (int i = 0; i < PERSONA_N_STYLE; i++)
        snprintf(feature_names[j++], 48, "style.%s", persona_styles[i]);
    for (int i = 0; i < PERSONA_N_PROSODY; i++)
        snprintf(feature_names[j++], 48, "prosody.%s", persona_prosody[i]);
    for (int i = 0; i < 7; i++)
        snprintf(feature_names[j++], 48, "%s", derived_names[i]);
    for (int i = 0; i < PERSONA_N_ARCHETYPES; i++)
        snprintf(feature_names[j++], 48, "archetype=%s", persona_archetypes[i]);
    for (int i = 0; i < PERSONA_N_EMOTIONS; i++)
        snprintf(feature_names[j++], 48, "baseline=%s", persona_emotions[i]);
    for (int a = 0; a < N_AXES; a++)
        for (int i = 0; i < axis_size[a]; i++)
            snprintf(feature_names[j++], 48, "%s=%s", axis_names[a], axis_vocab[a][i]);
    for (int i = 0; i < PERSONA_HASH_DIM; i++)
        snprintf(feature_names[j++], 48, "text.hash%02d", i);
    CORE_ASSERT(j == PERSONA_D);
}

const char *persona_feature_name(int j)
{
    init_feature_names();
    return j >= 0 && j < PERSONA_D ? feature_names[j] : NULL;
}

static float clamp01(float x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* Splits text into tokens: lowercase ASCII words, and each non-ASCII character (CJK) on
 * its own. Calls add(token, len) for unigrams and the bigram of each adjacent pair. */
static void hash_text(const char *s, float *bag)
{
    char prev[64] = "", tok[64];
    size_t plen = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = 0;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
            while (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9')) &&
                   len < sizeof tok - 1) {
                tok[len++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
                p++;
            }
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
                p++;
        } else if (*p >= 0x80) {
            do
                tok[len++] = (char)*p++;
            while ((*p & 0xC0) == 0x80 && len < 8);
        } else {
            p++;
            continue;
        }
        uint64_t h = fnv1a(tok, len, fnv1a("u:", 2, FNV_INIT));
        bag[h % PERSONA_HASH_DIM] += (h >> 63) ? 1.0f : -1.0f;
        if (plen) {
            h = fnv1a(prev, plen, fnv1a("b:", 2, FNV_INIT));
            h = fnv1a(" ", 1, h);
            h = fnv1a(tok, len, h);
            bag[h % PERSONA_HASH_DIM] += (h >> 63) ? 1.0f : -1.0f;
        }
        memcpy(prev, tok, len);
        plen = len;
    }
}

static void scale_block(float *x, int n, float weight)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    float f = s > 0 ? weight / (float)sqrt(s) : 0.0f;
    for (int i = 0; i < n; i++)
        x[i] *= f;
}

/* What a role contributes to every one of its rows. */
typedef struct role_base {
    float text[PERSONA_HASH_DIM]; /* already scaled to the text weight */
    uint8_t values[N_AXES][16];   /* the axis values this role expands over */
    int n_values[N_AXES];
    uint64_t n_rows; /* product of n_values */
} role_base;

typedef struct weights {
    float numeric, axes, text, group; /* group: weight of one active one-hot */
} weights;

static void role_prepare(const persona_role *r, const persona_expand_cfg *cfg, const weights *w,
                         role_base *b)
{
    memset(b, 0, sizeof *b);
    hash_text(r->description, b->text);
    hash_text(r->occupation, b->text);
    for (size_t i = 0; i < r->catchphrases.n; i++)
        hash_text(r->catchphrases.items[i], b->text);
    for (size_t i = 0; i < r->domains.n; i++)
        hash_text(r->domains.items[i], b->text);
    scale_block(b->text, PERSONA_HASH_DIM, w->text);
    const uint32_t masks[N_AXES] = {r->scenes, r->languages, r->emotion_range,
                                    (1u << PERSONA_N_PACING) - 1, (1u << PERSONA_N_REGISTERS) - 1};
    bool expand[N_AXES] = {false};
    for (size_t i = 0; i < cfg->axes.n; i++)
        for (int a = 0; a < N_AXES; a++)
            if (!strcmp(cfg->axes.items[i], axis_names[a]))
                expand[a] = true;
    /* An axis not expanded takes one value: the baseline emotion, normal pacing, neutral
     * register, or the role's first scene and language. */
    const int fixed[N_AXES] = {__builtin_ctz(r->scenes), __builtin_ctz(r->languages),
                               r->emotion_baseline, 1, 1};
    b->n_rows = 1;
    for (int a = 0; a < N_AXES; a++) {
        if (expand[a]) {
            for (int v = 0; v < axis_size[a]; v++)
                if (masks[a] & (1u << v))
                    b->values[a][b->n_values[a]++] = (uint8_t)v;
        } else {
            b->values[a][b->n_values[a]++] = (uint8_t)fixed[a];
        }
        b->n_rows *= (uint64_t)b->n_values[a];
    }
}

/* The row of role `r` at axis values `v`, into out[PERSONA_D]. */
static void row_features(const persona_role *r, const role_base *b, const uint8_t v[N_AXES],
                         const persona_expand_cfg *cfg, const weights *w, float *out)
{
    memset(out, 0, PERSONA_D * sizeof *out);
    float *num = out + OFF_NUMERIC;
    int j = 0;
    for (int i = 0; i < PERSONA_N_TRAITS; i++)
        num[j++] = r->traits[i];
    for (int i = 0; i < PERSONA_N_STYLE; i++)
        num[j++] = r->style[i];
    int e = v[AX_EMOTION], pace = v[AX_PACING], reg = v[AX_REGISTER];
    float pr[PERSONA_N_PROSODY];
    memcpy(pr, r->prosody, sizeof pr);
    pr[0] += emo_pitch[e];
    pr[2] *= emo_rate[e] * (float)cfg->pacing_rate[pace];
    pr[3] /= (float)cfg->pacing_rate[pace];
    pr[4] += emo_loud[e];
    for (int i = 0; i < PERSONA_N_PROSODY; i++)
        num[j++] = clamp01((pr[i] - persona_prosody_min[i]) /
                           (persona_prosody_max[i] - persona_prosody_min[i]));
    num[j++] = clamp01(r->style[0] + register_formality[reg]);
    num[j++] = clamp01(r->style[2] + 0.3f * (emo_arousal[e] - 0.4f));
    num[j++] = emo_valence[e];
    num[j++] = emo_arousal[e];
    num[j++] = e == r->emotion_baseline ? 1.0f : 0.0f;
    num[j++] = (float)__builtin_popcount(r->languages) / 4.0f;
    num[j++] = (float)__builtin_popcount(r->scenes) / (float)PERSONA_N_SCENES;
    for (int i = 0; i < PERSONA_N_NUMERIC; i++)
        num[i] -= 0.5f; /* centre, so that the block's direction carries the values */
    scale_block(num, PERSONA_N_NUMERIC, w->numeric);
    float *oh = out + OFF_ONEHOT;
    oh[r->archetype] = w->group;
    oh += PERSONA_N_ARCHETYPES;
    oh[r->emotion_baseline] = w->group;
    oh += PERSONA_N_EMOTIONS;
    for (int a = 0; a < N_AXES; a++) {
        oh[v[a]] = w->group;
        oh += axis_size[a];
    }
    memcpy(out + OFF_TEXT, b->text, sizeof b->text);
}

static uint64_t row_id(const persona_role *r, const uint8_t v[N_AXES])
{
    uint64_t h = fnv1a(r->id, strlen(r->id), FNV_INIT);
    for (int a = 0; a < N_AXES; a++) {
        h = fnv1a("|", 1, h);
        h = fnv1a(axis_vocab[a][v[a]], strlen(axis_vocab[a][v[a]]), h);
    }
    return h;
}

/* ---------------------------------------------------------------- families */

typedef struct family_out {
    size_t *roles; /* set indices of the family's roles */
    size_t n_roles;
    /* the family's kept rows */
    float *features;
    uint64_t *ids;
    int32_t *role;
    uint8_t *axis[N_AXES];
    size_t n, cap;
    uint64_t expanded, removed;
    core_status st;
    char msg[512];
} family_out;

typedef struct build_ctx {
    const persona_expand_cfg *cfg;
    const persona_set *set;
    weights w;
    bool by_combo; /* rows that differ in an axis can never be near-duplicates */
    family_out *fam;
} build_ctx;

static int cmp_u64_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

static core_status family_build(const build_ctx *c, family_out *f)
{
    const persona_expand_cfg *cfg = c->cfg;
    core_status st = CORE_OK;
    role_base *bases = core_alloc(f->n_roles, sizeof *bases, "family roles");
    uint64_t *order = NULL;
    float *gram = NULL, *gather = NULL;
    bool *keep = NULL;
    if (!bases)
        return CORE_ERR_NOMEM;
    size_t total = 0;
    for (size_t k = 0; k < f->n_roles; k++) {
        role_prepare(&c->set->roles[f->roles[k]], cfg, &c->w, &bases[k]);
        uint64_t n = bases[k].n_rows;
        total += n < (uint64_t)cfg->max_rows_per_role ? n : (uint64_t)cfg->max_rows_per_role;
    }
    f->cap = total ? total : 1;
    f->features = core_alloc(f->cap, PERSONA_D * sizeof(float), "family rows");
    f->ids = core_alloc(f->cap, sizeof *f->ids, "family rows");
    f->role = core_alloc(f->cap, sizeof *f->role, "family rows");
    for (int a = 0; a < N_AXES; a++)
        f->axis[a] = core_alloc(f->cap, 1, "family rows");
    order = core_alloc(f->cap, 2 * sizeof *order, "family rows");
    keep = core_alloc(f->cap, sizeof *keep, "family rows");
    if (!f->features || !f->ids || !f->role || !f->axis[0] || !f->axis[1] || !f->axis[2] ||
        !f->axis[3] || !f->axis[4] || !order || !keep) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    core_rng base;
    core_rng_init(&base, (uint64_t)cfg->seed, "persona.expand.subset");
    size_t n = 0;
    for (size_t k = 0; k < f->n_roles; k++) {
        const role_base *b = &bases[k];
        const persona_role *r = &c->set->roles[f->roles[k]];
        uint64_t m = b->n_rows, take = m;
        uint64_t stride_pick = 0;
        core_rng rng = core_rng_fork(&base, f->roles[k]);
        if (m > (uint64_t)cfg->max_rows_per_role) {
            take = (uint64_t)cfg->max_rows_per_role;
            stride_pick = 1;
        }
        /* Selection sampling (Knuth's algorithm S) keeps a seeded subset in order. */
        uint64_t left_needed = take;
        for (uint64_t q = 0; q < m && left_needed; q++) {
            if (stride_pick && core_rng_below(&rng, m - q) >= left_needed)
                continue;
            left_needed--;
            uint8_t v[N_AXES];
            uint64_t rem = q;
            for (int a = N_AXES - 1; a >= 0; a--) {
                v[a] = b->values[a][rem % (uint64_t)b->n_values[a]];
                rem /= (uint64_t)b->n_values[a];
            }
            row_features(r, b, v, cfg, &c->w, f->features + n * PERSONA_D);
            f->ids[n] = row_id(r, v);
            f->role[n] = (int32_t)f->roles[k];
            uint64_t combo = 0;
            for (int a = 0; a < N_AXES; a++) {
                f->axis[a][n] = v[a];
                combo = combo * 16 + v[a];
            }
            order[2 * n] = c->by_combo ? combo : 0;
            order[2 * n + 1] = n;
            n++;
        }
    }
    f->expanded = n;
    /* Near-duplicates: within each group (same axis values, or the whole family), keep a
     * row unless an earlier kept row of the group is at cosine >= threshold. Rows are unit
     * norm, so the Gram matrix of the group holds the cosines. */
    qsort(order, n, 2 * sizeof *order, cmp_u64_pair);
    for (size_t i = 0; i < n; i++)
        keep[i] = true;
    size_t max_group = 0;
    for (size_t g0 = 0, g1; g0 < n; g0 = g1) {
        for (g1 = g0 + 1; g1 < n && order[2 * g1] == order[2 * g0]; g1++)
            ;
        if (g1 - g0 > max_group)
            max_group = g1 - g0;
    }
    const float thr = (float)cfg->dedup_threshold;
    if (max_group > 1) {
        gram = core_alloc(max_group * max_group, sizeof *gram, "gram");
        gather = core_alloc(max_group, PERSONA_D * sizeof *gather, "gram");
        if (!gram || !gather) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
    }
    for (size_t g0 = 0, g1; g0 < n; g0 = g1) {
        for (g1 = g0 + 1; g1 < n && order[2 * g1] == order[2 * g0]; g1++)
            ;
        size_t g = g1 - g0;
        if (g < 2)
            continue;
        for (size_t i = 0; i < g; i++)
            memcpy(gather + i * PERSONA_D, f->features + order[2 * (g0 + i) + 1] * PERSONA_D,
                   PERSONA_D * sizeof *gather);
        /* gram (g,g) = gather (g,D) @ gather(g,D)^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g, (int)g, PERSONA_D, 1.0f,
                    gather, PERSONA_D, gather, PERSONA_D, 0.0f, gram, (int)g);
        for (size_t j = 1; j < g; j++)
            for (size_t i = 0; i < j; i++)
                if (keep[order[2 * (g0 + i) + 1]] && gram[i * g + j] >= thr) {
                    keep[order[2 * (g0 + j) + 1]] = false;
                    break;
                }
    }
    /* Compact the kept rows in row order. */
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        if (out != i) {
            memcpy(f->features + out * PERSONA_D, f->features + i * PERSONA_D,
                   PERSONA_D * sizeof(float));
            f->ids[out] = f->ids[i];
            f->role[out] = f->role[i];
            for (int a = 0; a < N_AXES; a++)
                f->axis[a][out] = f->axis[a][i];
        }
        out++;
    }
    f->n = out;
    f->removed = n - out;
done:
    free(bases);
    free(order);
    free(keep);
    free(gram);
    free(gather);
    return st;
}

static void family_release(family_out *f)
{
    free(f->features);
    free(f->ids);
    free(f->role);
    for (int a = 0; a < N_AXES; a++)
        free(f->axis[a]);
    f->features = NULL;
    f->ids = NULL;
    f->role = NULL;
    memset(f->axis, 0, sizeof f->axis);
}

typedef struct batch_job {
    const build_ctx *c;
    size_t first;
} batch_job;

static void batch_range(void *ctx, size_t begin, size_t end, int tid)
{
    batch_job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        family_out *f = &j->c->fam[j->first + i];
        f->st = family_build(j->c, f);
        if (f->st != CORE_OK)
            snprintf(f->msg, sizeof f->msg, "%s", core_error_message());
    }
}

/* ---------------------------------------------------------------- writing */

/* Rows staged until a whole chunk can be appended to every dataset. */
typedef struct writer {
    hid_t features, ids, role, axis[N_AXES];
    size_t chunk, n;
    float *features_buf;
    uint64_t *ids_buf;
    int32_t *role_buf;
    uint8_t *axis_buf[N_AXES];
    uint64_t written;
} writer;

static core_status writer_flush(writer *w)
{
    core_status st = CORE_OK;
    if (w->n == 0)
        return CORE_OK;
    CORE_TRY(core_h5_append(w->features, CORE_H5_F32, w->n, w->features_buf));
    CORE_TRY(core_h5_append(w->ids, CORE_H5_U64, w->n, w->ids_buf));
    CORE_TRY(core_h5_append(w->role, CORE_H5_I32, w->n, w->role_buf));
    for (int a = 0; a < N_AXES; a++)
        CORE_TRY(core_h5_append(w->axis[a], CORE_H5_U8, w->n, w->axis_buf[a]));
    w->written += w->n;
    w->n = 0;
done:
    return st;
}

static core_status writer_put(writer *w, const family_out *f)
{
    core_status st = CORE_OK;
    for (size_t i = 0; i < f->n; i++) {
        memcpy(w->features_buf + w->n * PERSONA_D, f->features + i * PERSONA_D,
               PERSONA_D * sizeof(float));
        w->ids_buf[w->n] = f->ids[i];
        w->role_buf[w->n] = f->role[i];
        for (int a = 0; a < N_AXES; a++)
            w->axis_buf[a][w->n] = f->axis[a][i];
        if (++w->n == w->chunk)
            CORE_TRY(writer_flush(w));
    }
done:
    return st;
}

static core_status write_roles(hid_t file, const persona_set *set, const size_t *family_of)
{
    core_status st = CORE_OK;
    size_t n = set->n;
    const char **col = core_alloc(n, sizeof *col, "roles table");
    int32_t *fam = core_alloc(n, sizeof *fam, "roles table");
    float *num = NULL;
    if (!col || !fam) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
#define COLUMN(name, expr)                                                                         \
    do {                                                                                           \
        for (size_t i = 0; i < n; i++) {                                                           \
            const persona_role *r = &set->roles[i];                                                \
            col[i] = (expr);                                                                       \
        }                                                                                          \
        CORE_TRY(core_h5_write_strs(file, "/roles/" name, col, n));                                \
    } while (0)
    COLUMN("id", r->id);
    COLUMN("name_en", r->name_en);
    COLUMN("name_zh", r->name_zh);
    COLUMN("archetype", persona_archetypes[r->archetype]);
    COLUMN("occupation", r->occupation);
    COLUMN("parent", r->parent ? r->parent : "");
    COLUMN("author", r->author);
    COLUMN("licence", r->licence);
    COLUMN("created_at", r->created_at);
#undef COLUMN
    for (size_t i = 0; i < n; i++)
        fam[i] = (int32_t)family_of[i];
    hsize_t dim = n;
    CORE_TRY(core_h5_write(file, "/roles/family", CORE_H5_I32, 1, &dim, fam));
    /* The roles' own values, so that later stages (the synthetic corpus) can condition on
     * them without the YAML: [R, 5] traits, [R, 7] style, [R, 5] prosody in schema units. */
    num = core_alloc(n, PERSONA_N_STYLE * sizeof *num, "roles table");
    if (!num) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    const struct {
        const char *name;
        int width;
        size_t offset;
    } blocks[] = {{"/roles/traits", PERSONA_N_TRAITS, offsetof(persona_role, traits)},
                  {"/roles/style", PERSONA_N_STYLE, offsetof(persona_role, style)},
                  {"/roles/prosody", PERSONA_N_PROSODY, offsetof(persona_role, prosody)}};
    for (size_t b = 0; b < 3; b++) {
        for (size_t i = 0; i < n; i++)
            memcpy(num + i * (size_t)blocks[b].width,
                   (const char *)&set->roles[i] + blocks[b].offset,
                   (size_t)blocks[b].width * sizeof *num);
        hsize_t d2[2] = {n, (hsize_t)blocks[b].width};
        CORE_TRY(core_h5_write(file, blocks[b].name, CORE_H5_F32, 2, d2, num));
    }
    /* Catchphrases and domains: one string per role, items joined by " | ". */
    char **joined = core_zalloc(n, sizeof *joined, "roles table");
    if (!joined) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (int pass = 0; pass < 2 && st == CORE_OK; pass++) {
        for (size_t i = 0; i < n; i++) {
            const core_strlist *l = pass ? &set->roles[i].domains : &set->roles[i].catchphrases;
            size_t len = 1;
            for (size_t k = 0; k < l->n; k++)
                len += strlen(l->items[k]) + 3;
            free(joined[i]);
            joined[i] = core_alloc(len, 1, "roles table");
            if (!joined[i]) {
                st = CORE_ERR_NOMEM;
                break;
            }
            joined[i][0] = '\0';
            for (size_t k = 0; k < l->n; k++) {
                if (k)
                    strcat(joined[i], " | ");
                strcat(joined[i], l->items[k]);
            }
            col[i] = joined[i];
        }
        if (st == CORE_OK)
            st = core_h5_write_strs(file, pass ? "/roles/domains" : "/roles/catchphrases", col, n);
    }
    core_strs_free(joined, n);
done:
    free(col);
    free(fam);
    free(num);
    return st;
}

core_status persona_build(const persona_expand_cfg *cfg, const char *config_yaml,
                          const persona_set *set, const char *const *inputs, size_t n_inputs,
                          const char *out_path, persona_build_stats *stats)
{
    double t0 = core_now();
    memset(stats, 0, sizeof *stats);
    core_status st = CORE_OK;
    core_h5_out out = {.file = H5I_INVALID_HID};
    writer w = {.features = H5I_INVALID_HID, .ids = H5I_INVALID_HID, .role = H5I_INVALID_HID};
    for (int a = 0; a < N_AXES; a++)
        w.axis[a] = H5I_INVALID_HID;
    family_out *fams = NULL;
    size_t *family_of = NULL, *members = NULL, n_fam = 0;
    core_progress *prog = NULL;
    init_feature_names();
    if (set->n == 0)
        return CORE_ERR(CORE_ERR_SCHEMA, "no roles to build from");

    /* Families: each root and the roles under it, roots in id order. */
    family_of = core_alloc(set->n, sizeof *family_of, "families");
    members = core_alloc(set->n, sizeof *members, "families");
    size_t *root_family = core_alloc(set->n, sizeof *root_family, "families");
    size_t *count = core_zalloc(set->n, sizeof *count, "families");
    if (!family_of || !members || !root_family || !count) {
        free(root_family);
        free(count);
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < set->n; i++)
        if (!set->roles[i].parent)
            root_family[i] = n_fam++;
    for (size_t i = 0; i < set->n; i++) {
        family_of[i] = root_family[persona_set_root(set, i)];
        count[family_of[i]]++;
    }
    fams = core_zalloc(n_fam, sizeof *fams, "families");
    if (!fams) {
        free(root_family);
        free(count);
        st = CORE_ERR_NOMEM;
        goto done;
    }
    size_t pos = 0;
    for (size_t f = 0; f < n_fam; f++) {
        fams[f].roles = members + pos;
        pos += count[f];
    }
    for (size_t i = 0; i < set->n; i++) {
        family_out *f = &fams[family_of[i]];
        f->roles[f->n_roles++] = i;
    }
    free(root_family);
    free(count);

    build_ctx c = {.cfg = cfg, .set = set, .fam = fams};
    double wn = cfg->block_weight_numeric, wa = cfg->block_weight_axes, wt = cfg->block_weight_text,
           norm = sqrt(wn * wn + wa * wa + wt * wt);
    if (norm <= 0 || wa <= 0) {
        st = CORE_ERR(CORE_ERR_RANGE, "weights.axes must be above 0 and the weights not all 0");
        goto done;
    }
    c.w.numeric = (float)(wn / norm);
    c.w.axes = (float)(wa / norm);
    c.w.text = (float)(wt / norm);
    c.w.group = c.w.axes / sqrtf((float)ONEHOT_GROUPS);
    /* Rows that differ in one axis are at squared distance >= 2·group²; near-duplicates
     * need squared distance <= 2·(1 − threshold). */
    c.by_combo = c.w.group * c.w.group > 1.0f - (float)cfg->dedup_threshold;
    if (!c.by_combo)
        core_log(CORE_LOG_WARN,
                 "dedup.threshold %.3f is low enough that rows with different axis values can "
                 "be near-duplicates: comparing whole families (slow)",
                 cfg->dedup_threshold);

    CORE_TRY(core_h5_create(&out, out_path));
    CORE_TRY(core_h5_write_header(out.file, "troupe.personas/1", config_yaml, inputs, n_inputs));
    const char *names[PERSONA_D];
    for (int j = 0; j < PERSONA_D; j++)
        names[j] = feature_names[j];
    CORE_TRY(core_h5_attr_set_strs(out.file, "feature_names", names, PERSONA_D));
    w.chunk = (size_t)cfg->chunk_rows;
    hsize_t row_dims[1] = {PERSONA_D};
    CORE_TRY(core_h5_create_appendable(out.file, "/features", CORE_H5_F32, 2, row_dims, w.chunk,
                                       (int)cfg->gzip, &w.features));
    CORE_TRY(core_h5_create_appendable(out.file, "/id", CORE_H5_U64, 1, NULL, w.chunk, 0, &w.ids));
    CORE_TRY(
        core_h5_create_appendable(out.file, "/role", CORE_H5_I32, 1, NULL, w.chunk, 0, &w.role));
    for (int a = 0; a < N_AXES; a++) {
        char name[64];
        snprintf(name, sizeof name, "/axis/%s", axis_names[a]);
        CORE_TRY(
            core_h5_create_appendable(out.file, name, CORE_H5_U8, 1, NULL, w.chunk, 0, &w.axis[a]));
        CORE_TRY(core_h5_attr_set_strs(w.axis[a], "values", axis_vocab[a], (size_t)axis_size[a]));
    }
    w.features_buf = core_alloc(w.chunk, PERSONA_D * sizeof(float), "row buffer");
    w.ids_buf = core_alloc(w.chunk, sizeof *w.ids_buf, "row buffer");
    w.role_buf = core_alloc(w.chunk, sizeof *w.role_buf, "row buffer");
    for (int a = 0; a < N_AXES; a++)
        w.axis_buf[a] = core_alloc(w.chunk, 1, "row buffer");
    if (!w.features_buf || !w.ids_buf || !w.role_buf || !w.axis_buf[0] || !w.axis_buf[1] ||
        !w.axis_buf[2] || !w.axis_buf[3] || !w.axis_buf[4]) {
        st = CORE_ERR_NOMEM;
        goto done;
    }

    /* Our threads own the parallelism; OpenBLAS stays on one thread inside them. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int nthreads = cfg->threads > 0 ? (int)cfg->threads : core_threads_default();
    size_t batch = (size_t)nthreads * 4;
    prog = core_progress_start("persona build", n_fam, "families");
    for (size_t f0 = 0; f0 < n_fam && st == CORE_OK; f0 += batch) {
        size_t nb = n_fam - f0 < batch ? n_fam - f0 : batch;
        batch_job job = {&c, f0};
        st = core_parallel_for(nb, nthreads, batch_range, &job);
        for (size_t i = 0; i < nb; i++) {
            family_out *f = &fams[f0 + i];
            if (st == CORE_OK && f->st != CORE_OK)
                st = CORE_ERR(f->st, "%s", f->msg);
            if (st == CORE_OK)
                st = writer_put(&w, f);
            stats->rows_expanded += f->expanded;
            stats->rows_removed += f->removed;
            family_release(f);
        }
        core_progress_update(prog, f0 + nb);
    }
    openblas_set_num_threads(blas_threads);
    if (st != CORE_OK)
        goto done;
    CORE_TRY(writer_flush(&w));
    core_progress_finish(prog);
    prog = NULL;
    CORE_TRY(write_roles(out.file, set, family_of));
    CORE_TRY(core_h5_attr_set_i64(out.file, "rows_expanded", (int64_t)stats->rows_expanded));
    CORE_TRY(core_h5_attr_set_i64(out.file, "rows_removed", (int64_t)stats->rows_removed));
    CORE_TRY(core_h5_attr_set_i64(out.file, "families", (int64_t)n_fam));
    stats->rows = w.written;
    stats->roles = set->n;
    stats->families = n_fam;
done:
    core_progress_finish(prog);
    if (w.features >= 0)
        H5Dclose(w.features);
    if (w.ids >= 0)
        H5Dclose(w.ids);
    if (w.role >= 0)
        H5Dclose(w.role);
    for (int a = 0; a < N_AXES; a++) {
        if (w.axis[a] >= 0)
            H5Dclose(w.axis[a]);
        free(w.axis_buf[a]);
    }
    free(w.features_buf);
    free(w.ids_buf);
    free(w.role_buf);
    if (fams)
        for (size_t f = 0; f < n_fam; f++)
            family_release(&fams[f]);
    free(fams);
    free(members);
    free(family_of);
    if (st == CORE_OK)
        st = core_h5_commit(&out);
    else
        core_h5_abort(&out);
    stats->seconds = core_now() - t0;
    return st;
}
