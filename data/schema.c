/* The closed schemas of manifests, consent records, revocation lists and keyrings, and the
 * declarative checker that turns every deviation into an SCH-001 or SCH-002 result. */
#include "data/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- schemas */

#define END {NULL, T_STR, 0, NULL, NULL}
#define COLLECTION                                                                         \
    "licensed_voice_actor|employee_session|crowdsourced_consented|"                        \
    "proprietary_microexpression_session|open_licensed_corpus|public_domain_corpus|synthetic"
#define PURPOSES                                                                           \
    "training|generative_training|inference_input|data_mining|evaluation|voice_cloning|"   \
    "speaker_identification|emotion_inference|paralinguistic_modelling|"                   \
    "synthetic_data_generation|redistribution_raw|redistribution_derived|research_only|"    \
    "commercial"
#define PERMISSION "allowed|notAllowed|constrained"

static const dfield producer[] = {{"organisation", T_STR, F_REQ, NULL, NULL},
                                  {"role", T_STR, F_REQ, NULL, NULL}, END};
static const dfield controller[] = {{"organisation", T_STR, F_REQ, NULL, NULL},
                                    {"jurisdiction", T_TERR, F_REQ, NULL, NULL}, END};
static const dfield taxonomy[] = {{"id", T_STR, F_REQ, NULL, NULL},
                                  {"version", T_STR, F_REQ, NULL, NULL}, END};
static const dfield batch[] = {
    {"title", T_STR, F_REQ, NULL, NULL},
    {"collection_method", T_ENUM, F_REQ, COLLECTION, NULL},
    {"collection_start", T_TIME, F_REQ, NULL, NULL},
    {"collection_end", T_TIME, F_REQ, NULL, NULL},
    {"languages", T_STRS, F_REQ, NULL, NULL},
    {"taxonomy", T_MAP, F_REQ, NULL, taxonomy},
    END};
static const dfield licence[] = {
    {"id", T_STR, F_REQ, NULL, NULL},
    {"path", T_STR, F_NULL, NULL, NULL},
    {"sha256", T_HASH, F_NULL, NULL, NULL},
    {"use_class", T_ENUM, F_REQ, "commercial|non-commercial|academic-only", NULL},
    END};
static const dfield contract[] = {
    {"id", T_STR, F_REQ, NULL, NULL},
    {"sha256", T_HASH, F_REQ, NULL, NULL},
    {"term_start", T_TIME, F_REQ, NULL, NULL},
    {"term_end", T_TIME, F_REQ, NULL, NULL},
    {"territory_include", T_TERRS, F_REQ, NULL, NULL},
    {"territory_exclude", T_TERRS, F_REQ, NULL, NULL},
    END};
static const dfield tmd[] = {{"ai_training", T_ENUM, F_REQ, PERMISSION, NULL},
                             {"ai_generative_training", T_ENUM, F_REQ, PERMISSION, NULL},
                             {"ai_inference", T_ENUM, F_REQ, PERMISSION, NULL},
                             {"data_mining", T_ENUM, F_REQ, PERMISSION, NULL}, END};
static const dfield consent_ref[] = {{"id", T_STR, F_REQ, NULL, NULL},
                                     {"path", T_STR, F_REQ, NULL, NULL},
                                     {"sha256", T_HASH, F_REQ, NULL, NULL}, END};
static const dfield integrity[] = {{"merkle_root", T_HASH, F_REQ, NULL, NULL},
                                   {"record_count", T_INT, F_REQ, NULL, NULL}, END};
static const dfield transcript[] = {{"text", T_TEXT, F_REQ, NULL, NULL},
                                    {"source", T_ENUM, F_REQ, "human|machine|script", NULL},
                                    {"sha256", T_HASH, F_REQ, NULL, NULL}, END};
static const dfield label_fields[] = {{"label", T_STR, F_REQ, NULL, NULL},
                               {"start_sample", T_INT, F_REQ, NULL, NULL},
                               {"end_sample", T_INT, F_REQ, NULL, NULL},
                               {"annotator", T_STR, F_NULL, NULL, NULL},
                               {"method", T_ENUM, F_REQ, "human|machine", NULL}, END};
static const dfield dialogue[] = {{"dialogue_id", T_STR, F_REQ, NULL, NULL},
                                  {"turn", T_INT, F_REQ, NULL, NULL},
                                  {"persona_id", T_STR, F_NULL, NULL, NULL},
                                  {"history", T_TEXT, F_NULL, NULL, NULL},
                                  {"response", T_TEXT, F_NULL, NULL, NULL}, END};
const dfield data__recording_schema[] = {
    {"recording_id", T_STR, F_REQ, NULL, NULL},
    {"path", T_STR, F_REQ, NULL, NULL},
    {"media_type", T_STR, F_REQ, NULL, NULL},
    {"bytes", T_INT, F_REQ, NULL, NULL},
    {"sha256", T_HASH, F_REQ, NULL, NULL},
    {"sample_rate", T_INT, F_REQ, NULL, NULL},
    {"channels", T_INT, F_REQ, NULL, NULL},
    {"bit_depth", T_INT, F_REQ, NULL, NULL},
    {"duration_samples", T_INT, F_REQ, NULL, NULL},
    {"speaker_id", T_STR, F_REQ, NULL, NULL},
    {"consent_id", T_STR, F_NULL, NULL, NULL},
    {"licence", T_STR, F_REQ, NULL, NULL},
    {"contract_id", T_STR, F_NULL, NULL, NULL},
    {"collection_method", T_ENUM, F_REQ, COLLECTION, NULL},
    {"digital_source_type", T_ENUM, F_REQ, "digitalCapture|trainedAlgorithmicMedia", NULL},
    {"recorded_at", T_TIME, F_REQ, NULL, NULL},
    {"recorded_in", T_TERR, F_REQ, NULL, NULL},
    {"language", T_LANG, F_REQ, NULL, NULL},
    {"transcript", T_MAP, F_REQ, NULL, transcript},
    {"labels", T_MAPS, F_REQ, NULL, label_fields},
    {"dialogue", T_MAP, F_NULL, NULL, dialogue},
    END};
const dfield data__manifest_schema[] = {
    {"schema", T_ENUM, F_REQ, "troupe.manifest/1", NULL},
    {"manifest_id", T_STR, F_REQ, NULL, NULL},
    {"manifest_version", T_SEMVER, F_REQ, NULL, NULL},
    {"created_at", T_TIME, F_REQ, NULL, NULL},
    {"producer", T_MAP, F_REQ, NULL, producer},
    {"controller", T_MAP, F_REQ, NULL, controller},
    {"batch", T_MAP, F_REQ, NULL, batch},
    {"licences", T_MAPS, F_REQ, NULL, licence},
    {"contracts", T_MAPS, F_REQ, NULL, contract},
    {"training_mining_default", T_MAP, F_REQ, NULL, tmd},
    {"consent_records", T_MAPS, F_REQ, NULL, consent_ref},
    {"integrity", T_MAP, F_REQ, NULL, integrity},
    /* recordings are checked one by one with data__recording_schema, so that a bad entry
     * excludes that recording only */
    {"recordings", T_MAPS, F_REQ, NULL, NULL},
    END};

static const dfield status_entry[] = {
    {"status", T_ENUM, F_REQ,
     "given|renewed|requested|refused|withdrawn|revoked|expired|suspended|invalidated", NULL},
    {"at", T_TIME, F_REQ, NULL, NULL}, END};
static const dfield form[] = {{"id", T_STR, F_REQ, NULL, NULL},
                              {"language", T_LANG, F_REQ, NULL, NULL},
                              {"path", T_STR, F_REQ, NULL, NULL},
                              {"sha256", T_HASH, F_REQ, NULL, NULL}, END};
static const dfield replica[] = {{"allowed", T_BOOL, F_REQ, NULL, NULL},
                                 {"description", T_TEXT, F_NULL, NULL, NULL}, END};
static const dfield biometric[] = {{"allowed", T_BOOL, F_REQ, NULL, NULL},
                                   {"legal_basis", T_STR, F_NULL, NULL, NULL}, END};
static const dfield scope[] = {
    {"purposes_allowed", T_STRS, F_REQ, NULL, NULL},
    {"purposes_prohibited", T_STRS, F_REQ, NULL, NULL},
    {"digital_replica", T_MAP, F_REQ, NULL, replica},
    {"biometric", T_MAP, F_REQ, NULL, biometric},
    {"commercial", T_BOOL, F_REQ, NULL, NULL},
    {"territory_include", T_TERRS, F_REQ, NULL, NULL},
    {"territory_exclude", T_TERRS, F_REQ, NULL, NULL},
    {"term_start", T_TIME, F_REQ, NULL, NULL},
    {"term_end", T_TIME, F_REQ, NULL, NULL},
    {"on_expiry", T_STR, F_REQ, NULL, NULL},
    END};
static const dfield revocation[] = {{"revocable", T_BOOL, F_REQ, NULL, NULL},
                                    {"channel", T_STR, F_REQ, NULL, NULL},
                                    {"effect_on_models", T_STR, F_REQ, NULL, NULL}, END};
const dfield data__consent_schema[] = {
    {"schema", T_ENUM, F_REQ, "troupe.consent/1", NULL},
    {"consent_id", T_STR, F_REQ, NULL, NULL},
    {"subject", T_STR, F_REQ, NULL, NULL},
    {"created_at", T_TIME, F_REQ, NULL, NULL},
    {"status", T_ENUM, F_REQ,
     "given|renewed|requested|refused|withdrawn|revoked|expired|suspended|invalidated", NULL},
    {"status_history", T_MAPS, F_REQ, NULL, status_entry},
    {"legal_basis", T_STR, F_REQ, NULL, NULL},
    {"method", T_STR, F_REQ, NULL, NULL},
    {"form", T_MAP, F_REQ, NULL, form},
    {"signatory", T_ENUM, F_REQ, "subject|guardian|estate", NULL},
    {"subject_is_minor", T_BOOL, F_REQ, NULL, NULL},
    {"guardian_ref", T_STR, F_NULL, NULL, NULL},
    {"representation", T_ENUM, F_REQ, "none|counsel|union", NULL},
    {"compensation_ref", T_STR, F_NULL, NULL, NULL},
    {"scope", T_MAP, F_REQ, NULL, scope},
    {"revocation", T_MAP, F_REQ, NULL, revocation},
    END};

static const dfield rev_entry[] = {
    {"entry_id", T_STR, F_REQ, NULL, NULL},
    {"scope", T_ENUM, F_REQ, "consent|speaker|recording|contract|manifest|licence|key", NULL},
    {"target", T_STR, F_REQ, NULL, NULL},
    {"kind", T_ENUM, F_REQ,
     "withdrawn|revoked|expired|suspended|reinstated|erasure_request|licence_terminated|"
     "key_compromise",
     NULL},
    {"purposes", T_STRS, F_REQ, NULL, NULL},
    {"effective_at", T_TIME, F_REQ, NULL, NULL},
    {"required_actions", T_STRS, F_REQ, NULL, NULL},
    {"deadline", T_TIME, F_NULL, NULL, NULL},
    END};
const dfield data__revocations_schema[] = {
    {"schema", T_ENUM, F_REQ, "troupe.revocations/1", NULL},
    {"list_id", T_STR, F_REQ, NULL, NULL},
    {"issuer", T_STR, F_REQ, NULL, NULL},
    {"sequence", T_INT, F_REQ, NULL, NULL},
    {"this_update", T_TIME, F_REQ, NULL, NULL},
    {"next_update", T_TIME, F_REQ, NULL, NULL},
    {"previous_list_sha256", T_HASH, F_REQ | F_NULL, NULL, NULL},
    {"entries", T_MAPS, F_REQ, NULL, rev_entry},
    END};

static const dfield key_entry[] = {
    {"keyid", T_STR, F_REQ, NULL, NULL},
    {"public_key", T_STR, F_REQ, NULL, NULL},
    {"owner", T_STR, F_REQ, NULL, NULL},
    {"roles", T_STRS, F_REQ, "licensor|curator|controller", NULL},
    {"not_before", T_TIME, F_REQ, NULL, NULL},
    {"not_after", T_TIME, F_REQ, NULL, NULL},
    {"revoked_at", T_TIME, F_REQ | F_NULL, NULL, NULL},
    END};
const dfield data__keyring_schema[] = {
    {"schema", T_ENUM, F_REQ, "troupe.keyring/1", NULL},
    {"keys", T_MAPS, F_REQ, NULL, key_entry},
    END};

/* ---------------------------------------------------------------- the checker */

static bool choice_in(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, v, n))
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

static bool is_hash(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static bool is_lang(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz");
    if (n < 2 || n > 3)
        return false;
    if (!s[n])
        return true;
    /* one subtag: a script (-Hans) or a region (-CN) */
    const char *t = s + n + 1;
    if (s[n] != '-')
        return false;
    size_t m = strlen(t);
    if (m == 2)
        return t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z';
    if (m == 4)
        return t[0] >= 'A' && t[0] <= 'Z' && strspn(t + 1, "abcdefghijklmnopqrstuvwxyz") == 3;
    return false;
}

static bool is_terr(const char *s)
{
    return strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

static bool is_semver(const char *s)
{
    int a, b, c, n = 0;
    return sscanf(s, "%d.%d.%d%n", &a, &b, &c, &n) == 3 && s[n] == '\0' && a >= 0 && b >= 0 &&
           c >= 0;
}

typedef struct sctx {
    const core_yaml_doc *doc;
    const char *path, *target;
    data_results *out;
    int problems;
} sctx;

static void problem(sctx *c, const char *code, const core_yaml_node *at, bool on_key,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(sctx *c, const char *code, const core_yaml_node *at, bool on_key,
                    const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    data_results_add(c->out, code, DATA_FAIL, c->target, "%s:%d:%d: %s", c->path,
                     on_key ? at->key_line : at->line, on_key ? at->key_col : at->col, msg);
    c->problems++;
}

static void check_map(sctx *c, const core_yaml_node *map, const dfield *f, const char *where);

static void check_scalar(sctx *c, const core_yaml_node *v, const dfield *f, const char *what)
{
    if (v->kind != CORE_YAML_SCALAR) {
        problem(c, "SCH-001", v, false, "'%s' must be a string", what);
        return;
    }
    const char *s = v->str;
    int64_t i;
    bool b;
    switch (f->type) {
    case T_STR:
        if (!*s)
            problem(c, "SCH-001", v, false, "'%s' must not be empty", what);
        break;
    case T_TEXT:
        break;
    case T_INT:
        if (!core_parse_i64(s, &i) || i < 0)
            problem(c, "SCH-001", v, false, "'%s' must be a non-negative integer, not '%s'", what,
                    s);
        break;
    case T_BOOL:
        if (!core_parse_bool(s, &b))
            problem(c, "SCH-001", v, false, "'%s' must be \"true\" or \"false\", not '%s'", what,
                    s);
        break;
    case T_TIME:
        if (!data_time_parse(s, &i))
            problem(c, "SCH-002", v, false,
                    "'%s' is '%s', not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)", what, s);
        break;
    case T_HASH:
        if (!is_hash(s))
            problem(c, "SCH-002", v, false, "'%s' must be 64 lowercase hex digits", what);
        break;
    case T_ENUM:
        if (!choice_in(f->choices, s))
            problem(c, "SCH-001", v, false, "'%s' is '%s', not one of {%s}", what, s, f->choices);
        break;
    case T_LANG:
        if (!is_lang(s))
            problem(c, "SCH-001", v, false, "'%s' is '%s', not a BCP 47 language tag", what, s);
        break;
    case T_TERR:
        if (!is_terr(s))
            problem(c, "SCH-001", v, false, "'%s' is '%s', not an ISO 3166-1 alpha-2 code", what,
                    s);
        break;
    case T_SEMVER:
        if (!is_semver(s))
            problem(c, "SCH-001", v, false, "'%s' is '%s', not a SemVer version", what, s);
        break;
    default:
        break;
    }
}

static void check_value(sctx *c, const core_yaml_node *v, const dfield *f, const char *what)
{
    if (v->kind == CORE_YAML_NULL) {
        if (!(f->flags & F_NULL))
            problem(c, "SCH-001", v, false, "'%s' must not be null", what);
        return;
    }
    switch (f->type) {
    case T_MAP:
        if (v->kind != CORE_YAML_MAP)
            problem(c, "SCH-001", v, false, "'%s' must be a map", what);
        else if (f->sub)
            check_map(c, v, f->sub, what);
        return;
    case T_MAPS:
    case T_STRS:
    case T_TERRS:
        if (v->kind != CORE_YAML_SEQ) {
            problem(c, "SCH-001", v, false, "'%s' must be a list", what);
            return;
        }
        for (size_t i = 0; i < v->n; i++) {
            char item[160];
            snprintf(item, sizeof item, "%s[%zu]", what, i);
            const core_yaml_node *it = v->items[i];
            if (f->type == T_MAPS) {
                if (it->kind != CORE_YAML_MAP)
                    problem(c, "SCH-001", it, false, "'%s' must be a map", item);
                else if (f->sub)
                    check_map(c, it, f->sub, item);
            } else {
                dfield one = {f->key, f->type == T_TERRS ? T_TERR : T_STR, 0, f->choices, NULL};
                if (f->choices)
                    one.type = T_ENUM;
                check_scalar(c, it, &one, item);
            }
        }
        return;
    default:
        check_scalar(c, v, f, what);
    }
}

static void check_map(sctx *c, const core_yaml_node *map, const dfield *f, const char *where)
{
    const char *names[64];
    size_t nf = 0;
    for (; f[nf].key && nf < 63; nf++)
        names[nf] = f[nf].key;
    for (size_t i = 0; i < map->n; i++) {
        const core_yaml_node *m = map->items[i];
        bool known = false;
        for (size_t j = 0; j < nf && !known; j++)
            known = !strcmp(m->key, f[j].key);
        if (known)
            continue;
        const char *s = core_suggest(m->key, names, nf);
        problem(c, "SCH-001", m, true, "unknown key '%s%s%s'%s%s%s", where ? where : "",
                where ? "." : "", m->key, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    }
    for (size_t j = 0; j < nf; j++) {
        char what[200];
        snprintf(what, sizeof what, "%s%s%s", where ? where : "", where ? "." : "", f[j].key);
        const core_yaml_node *v = core_yaml_get(map, f[j].key);
        if (!v) {
            if (f[j].flags & F_REQ || !(f[j].flags & F_NULL))
                problem(c, "SCH-001", map, false, "missing key '%s'", what);
            continue;
        }
        check_value(c, v, &f[j], what);
    }
}

int data__schema_check(const core_yaml_doc *doc, const core_yaml_node *node,
                       const dfield *fields, const char *path, const char *target,
                       data_results *out)
{
    sctx c = {doc, path, target, out, 0};
    if (node->kind != CORE_YAML_MAP)
        problem(&c, "SCH-001", node, false, "must be a map of keys");
    else
        check_map(&c, node, fields, NULL);
    return c.problems;
}

/* ---------------------------------------------------------------- typed reads */

const char *data__str(const core_yaml_node *map, const char *key)
{
    const core_yaml_node *v = core_yaml_get(map, key);
    return v && v->kind == CORE_YAML_SCALAR ? v->str : NULL;
}

int64_t data__int(const core_yaml_node *map, const char *key, int64_t dflt)
{
    const char *s = data__str(map, key);
    int64_t v;
    return s && core_parse_i64(s, &v) ? v : dflt;
}

bool data__bool(const core_yaml_node *map, const char *key)
{
    const char *s = data__str(map, key);
    bool b = false;
    return s && core_parse_bool(s, &b) && b;
}

int64_t data__time(const core_yaml_node *map, const char *key, int64_t dflt)
{
    const char *s = data__str(map, key);
    int64_t t;
    return s && data_time_parse(s, &t) ? t : dflt;
}

bool data__list_has(const core_yaml_node *list, const char *value)
{
    if (!list || list->kind != CORE_YAML_SEQ)
        return false;
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->kind == CORE_YAML_SCALAR && !strcmp(list->items[i]->str, value))
            return true;
    return false;
}

/* Span labels, and utterance labels as dimension:value (docs/governance.md). */
bool data__label_known(const char *label)
{
    static const char *const spans =
        "laughter|hesitation|filler|breath|sigh|cough|crying|whisper|shout|singing|pause";
    static const char *const dims[][2] = {
        {"emotion:", "neutral|calm|happy|excited|sad|angry|fearful|surprised|tender|serious"},
        {"speed:", "slow|normal|fast"},
        {"pitch:", "low|mid|high"},
        {"gender:", "female|male|unspecified"},
    };
    if (choice_in(spans, label))
        return true;
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        size_t n = strlen(dims[i][0]);
        if (!strncmp(label, dims[i][0], n) && choice_in(dims[i][1], label + n))
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- results and time */

bool data_results_add(data_results *r, const char *code, data_severity sev, const char *target,
                      const char *fmt, ...)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        data_result *ni = realloc(r->items, cap * sizeof *ni);
        if (!ni)
            return false;
        r->items = ni;
        r->cap = cap;
    }
    data_result *x = &r->items[r->n];
    snprintf(x->code, sizeof x->code, "%s", code);
    x->sev = sev;
    x->target = strdup(target ? target : "");
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->explanation = strdup(msg);
    if (!x->target || !x->explanation) {
        free(x->target);
        free(x->explanation);
        return false;
    }
    r->n++;
    return true;
}

void data_results_free(data_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].target);
        free(r->items[i].explanation);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int cmp_result(const void *a, const void *b)
{
    const data_result *x = a, *y = b;
    if (x->sev != y->sev)
        return (int)x->sev - (int)y->sev;
    int c = strcmp(x->code, y->code);
    if (c)
        return c;
    c = strcmp(x->target, y->target);
    return c ? c : strcmp(x->explanation, y->explanation);
}

void data_results_sort(data_results *r)
{
    if (r->n > 1)
        qsort(r->items, r->n, sizeof *r->items, cmp_result);
}

bool data_time_parse(const char *s, int64_t *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (!s || strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    time_t v = timegm(&tm);
    /* timegm normalises 31 February into March: a round trip catches it. */
    char back[32];
    data_time_format((int64_t)v, back);
    if (strncmp(back, s, 10) != 0)
        return false;
    *t = (int64_t)v;
    return true;
}

void data_time_format(int64_t t, char *buf)
{
    time_t v = (time_t)t;
    struct tm tm;
    gmtime_r(&v, &tm);
    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
