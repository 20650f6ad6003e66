/* The strict typed config loader: defaults file, then the user's file, then --set, each
 * layer checked against the kind's schema; and the effective config emitted as YAML. */
#include "core.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- scalar text */

bool core_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool core_parse_f64(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    /* strtod also takes "inf", "nan" and hex floats: not numbers a config should hold. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool core_parse_bool(const char *s, bool *out)
{
    /* Only the two YAML 1.2 spellings: "yes", "on" and "NO" are not booleans here. */
    if (!strcmp(s, "true"))
        *out = true;
    else if (!strcmp(s, "false"))
        *out = false;
    else
        return false;
    return true;
}

/* Damerau-Levenshtein (optimal string alignment) distance, bounded word length. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *core_suggest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    int best_d = 99;
    size_t wl = strlen(word);
    /* An abbreviation ("conf" for "config") is a likely slip too. */
    for (size_t i = 0; wl >= 3 && i < n; i++)
        if (!strncmp(candidates[i], word, wl))
            return candidates[i];
    for (size_t i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* A typo, not a different word: at most a third of the word's letters, and at least 1. */
    int limit = ((int)strlen(word) + 1) / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    return best_d <= limit ? best : NULL;
}

/* ---------------------------------------------------------------- config directory */

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *core_config_dir(void)
{
    static char found[4096];
    if (found[0])
        return found;
    const char *env = getenv("TROUPE_CONFIG_DIR");
    if (env && *env) {
        snprintf(found, sizeof found, "%s", env);
        return found;
    }
    char *exe = core_exe_dir();
    if (!exe)
        return NULL;
    /* build/troupe, build/<variant>/troupe, build/<variant>/tests/x, and PREFIX/bin. */
    static const char *rel[] = {"/../configs", "/../../configs", "/../../../configs",
                                "/../share/troupe/configs"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s%s", exe, rel[i]);
        if (is_dir(buf)) {
            char *real = realpath(buf, NULL);
            snprintf(found, sizeof found, "%s", real ? real : buf);
            free(real);
            break;
        }
    }
    free(exe);
    return found[0] ? found : NULL;
}

/* ---------------------------------------------------------------- schema walking */

static const core_cfg_field *find_field(const core_cfg_schema *s, const char *key)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (!strcmp(s->fields[i].key, key))
            return &s->fields[i];
    return NULL;
}

static bool has_prefix_section(const char *key, const char *section)
{
    size_t n = strlen(section);
    return !strncmp(key, section, n) && key[n] == '.';
}

static bool is_section(const core_cfg_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (has_prefix_section(s->fields[i].key, name))
            return true;
    return false;
}

/* Names directly under `prefix` (NULL: top level), for suggestions. */
static size_t child_names(const core_cfg_schema *s, const char *prefix, char names[][64],
                          size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *k = s->fields[i].key;
        if (prefix) {
            if (!has_prefix_section(k, prefix))
                continue;
            k += strlen(prefix) + 1;
        }
        size_t len = strcspn(k, ".");
        if (len >= 64)
            continue;
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strlen(names[j]) == len && !strncmp(names[j], k, len);
        if (!dup && n < max) {
            memcpy(names[n], k, len);
            names[n][len] = '\0';
            n++;
        }
    }
    return n;
}

static const char *suggest_child(const core_cfg_schema *s, const char *prefix, const char *word)
{
    static _Thread_local char names[128][64];
    const char *ptrs[128];
    size_t n = child_names(s, prefix, names, 128);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = names[i];
    return core_suggest(word, ptrs, n);
}

static bool choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, v, n))
            return true;
        p += len;
        if (*p == '|')
            p++;
    }
    return false;
}

static const char *suggest_choice(const char *choices, const char *v)
{
    static _Thread_local char buf[32][64];
    const char *ptrs[32];
    size_t n = 0;
    for (const char *p = choices; *p && n < 32;) {
        size_t len = strcspn(p, "|");
        if (len < 64) {
            memcpy(buf[n], p, len);
            buf[n][len] = '\0';
            ptrs[n] = buf[n];
            n++;
        }
        p += len;
        if (*p == '|')
            p++;
    }
    return core_suggest(v, ptrs, n);
}

static core_status set_from_node(const core_cfg_field *f, const core_yaml_doc *doc,
                                 const core_yaml_node *node, void *out)
{
    char *base = (char *)out + f->offset;
    core_status st = CORE_OK;
    switch (f->type) {
    case CORE_CFG_INT: {
        int64_t v;
        st = core_yaml_int(doc, node, f->key, (int64_t)f->min, (int64_t)f->max, &v);
        if (st == CORE_OK)
            *(int64_t *)base = v;
        return st;
    }
    case CORE_CFG_REAL: {
        double v;
        st = core_yaml_real(doc, node, f->key, f->min, f->max, &v);
        if (st == CORE_OK)
            *(double *)base = v;
        return st;
    }
    case CORE_CFG_BOOL: return core_yaml_bool(doc, node, f->key, (bool *)base);
    case CORE_CFG_STR:
    case CORE_CFG_ENUM: {
        char **dst = (char **)base;
        if (node->kind == CORE_YAML_NULL && (f->flags & CORE_CFG_NULLABLE)) {
            free(*dst);
            *dst = NULL;
            return CORE_OK;
        }
        const char *v;
        CORE_TRY(core_yaml_str(doc, node, f->key, &v));
        if (f->type == CORE_CFG_ENUM && !choice_ok(f->choices, v)) {
            const char *s = suggest_choice(f->choices, v);
            char list[512];
            snprintf(list, sizeof list, "%s", f->choices);
            for (char *p = list; *p; p++)
                if (*p == '|')
                    *p = ',';
            if (s)
                return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA,
                                       "'%s' must be one of {%s}, not '%s' (did you mean '%s'?)",
                                       f->key, list, v, s);
            return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA,
                                   "'%s' must be one of {%s}, not '%s'", f->key, list, v);
        }
        char *copy = core_strdup(v);
        if (!copy)
            return CORE_ERR_NOMEM;
        free(*dst);
        *dst = copy;
        return CORE_OK;
    }
    case CORE_CFG_STRLIST: {
        core_strlist *l = (core_strlist *)base;
        core_strlist nl = {0};
        if (node->kind == CORE_YAML_SCALAR && node->len > 0) {
            /* "a,b,c" from --set, or a single item */
            size_t n = 1;
            for (const char *p = node->str; *p; p++)
                n += *p == ',';
            nl.items = core_zalloc(n, sizeof *nl.items, f->key);
            if (!nl.items)
                return CORE_ERR_NOMEM;
            for (const char *p = node->str; nl.n < n;) {
                size_t len = strcspn(p, ",");
                nl.items[nl.n] = core_alloc(len + 1, 1, f->key);
                if (!nl.items[nl.n]) {
                    core_strlist_free(&nl);
                    return CORE_ERR_NOMEM;
                }
                memcpy(nl.items[nl.n], p, len);
                nl.items[nl.n++][len] = '\0';
                p += len + (p[len] == ',');
            }
        } else {
            CORE_TRY(core_yaml_expect(doc, node, CORE_YAML_SEQ, f->key));
            nl.items = core_zalloc(node->n ? node->n : 1, sizeof *nl.items, f->key);
            if (!nl.items)
                return CORE_ERR_NOMEM;
            for (size_t i = 0; i < node->n; i++) {
                const char *v;
                st = core_yaml_str(doc, node->items[i], f->key, &v);
                if (st == CORE_OK && f->choices && !choice_ok(f->choices, v))
                    st = core_yaml_error(doc, node->items[i], false, CORE_ERR_SCHEMA,
                                         "'%s' has unknown item '%s'", f->key, v);
                if (st == CORE_OK && !(nl.items[nl.n] = core_strdup(v)))
                    st = CORE_ERR_NOMEM;
                if (st != CORE_OK) {
                    core_strlist_free(&nl);
                    return st;
                }
                nl.n++;
            }
        }
        if (f->choices)
            for (size_t i = 0; i < nl.n; i++)
                if (!choice_ok(f->choices, nl.items[i])) {
                    st = core_yaml_error(doc, node, false, CORE_ERR_SCHEMA,
                                         "'%s' has unknown item '%s'", f->key, nl.items[i]);
                    core_strlist_free(&nl);
                    return st;
                }
        if ((f->max > 0 && (double)nl.n > f->max) || (double)nl.n < f->min) {
            st = core_yaml_error(doc, node, false, CORE_ERR_RANGE,
                                 "'%s' has %zu items, expected %g to %g", f->key, nl.n, f->min,
                                 f->max);
            core_strlist_free(&nl);
            return st;
        }
        core_strlist_free(l);
        *l = nl;
        return CORE_OK;
    }
    }
    CORE_ASSERT(0);
done:
    return st;
}

static core_status apply_map(const core_cfg_schema *s, const core_yaml_doc *doc,
                             const core_yaml_node *map, const char *prefix, void *out, bool *seen)
{
    core_status st = CORE_OK;
    for (size_t i = 0; i < map->n; i++) {
        const core_yaml_node *m = map->items[i];
        char full[256];
        if (prefix)
            snprintf(full, sizeof full, "%s.%s", prefix, m->key);
        else
            snprintf(full, sizeof full, "%s", m->key);
        const core_cfg_field *f = find_field(s, full);
        if (f) {
            CORE_TRY(set_from_node(f, doc, m, out));
            seen[f - s->fields] = true;
        } else if (is_section(s, full)) {
            if (m->kind != CORE_YAML_MAP)
                return core_yaml_error(doc, m, false, CORE_ERR_SCHEMA,
                                       "'%s' is a section and must be a map", full);
            CORE_TRY(apply_map(s, doc, m, full, out, seen));
        } else {
            const char *sug = suggest_child(s, prefix, m->key);
            if (sug)
                return core_yaml_error(doc, m, true, CORE_ERR_SCHEMA,
                                       "unknown key '%s' (did you mean '%s'?)", full, sug);
            return core_yaml_error(doc, m, true, CORE_ERR_SCHEMA, "unknown key '%s' in %s config",
                                   full, s->kind);
        }
    }
done:
    return st;
}

static core_status apply_doc_seen(const core_cfg_schema *s, const core_yaml_doc *doc, void *out,
                                  bool *seen)
{
    const core_yaml_node *root = core_yaml_root(doc);
    if (root->kind != CORE_YAML_MAP)
        return core_yaml_error(doc, root, false, CORE_ERR_SCHEMA,
                               "a %s config must be a map of keys", s->kind);
    return apply_map(s, doc, root, NULL, out, seen);
}

core_status core_cfg_apply_doc(const core_cfg_schema *schema, const core_yaml_doc *doc, void *out)
{
    bool *seen = core_zalloc(schema->n_fields, sizeof *seen, "config");
    if (!seen)
        return CORE_ERR_NOMEM;
    core_status st = apply_doc_seen(schema, doc, out, seen);
    free(seen);
    return st;
}

static core_status set_seen(const core_cfg_schema *s, const char *assignment, void *out, bool *seen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return CORE_ERR(CORE_ERR_USAGE, "--set %s: expected key=value", assignment);
    char key[256];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof key)
        return CORE_ERR(CORE_ERR_USAGE, "--set %s: key too long", assignment);
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    const core_cfg_field *f = find_field(s, key);
    if (!f) {
        if (is_section(s, key))
            return CORE_ERR(CORE_ERR_SCHEMA, "--set %s: '%s' is a section; set one of its keys",
                            assignment, key);
        const char *keys[256];
        size_t n = 0;
        for (size_t i = 0; i < s->n_fields && n < 256; i++)
            keys[n++] = s->fields[i].key;
        const char *sug = core_suggest(key, keys, n);
        if (sug)
            return CORE_ERR(CORE_ERR_SCHEMA, "--set %s: unknown key '%s' (did you mean '%s'?)",
                            assignment, key, sug);
        return CORE_ERR(CORE_ERR_SCHEMA, "--set %s: unknown key '%s' in %s config", assignment, key,
                        s->kind);
    }
    char name[300];
    snprintf(name, sizeof name, "--set %s", assignment);
    core_yaml_doc *doc;
    core_yaml_limits lim = {4096, 4, 1024};
    core_status st = core_yaml_parse(name, eq + 1, strlen(eq + 1), &lim, &doc);
    if (st != CORE_OK)
        return st;
    core__yaml_hide_positions(doc);
    const core_yaml_node *v = core_yaml_root(doc);
    /* An empty value parses as an empty map; mean the empty string or null instead. */
    core_yaml_node empty = {.kind = CORE_YAML_NULL, .str = "", .line = 1, .col = 1};
    if (v->kind == CORE_YAML_MAP && v->n == 0)
        v = &empty;
    st = set_from_node(f, doc, v, out);
    if (st == CORE_OK && seen)
        seen[f - s->fields] = true;
    core_yaml_free(doc);
    return st;
}

core_status core_cfg_set(const core_cfg_schema *schema, const char *assignment, void *out)
{
    return set_seen(schema, assignment, out, NULL);
}

core_status core_cfg_load(const core_cfg_schema *s, const char *user_path, const char *const *sets,
                          size_t n_sets, void *out)
{
    memset(out, 0, s->size);
    core_status st = CORE_OK;
    core_yaml_doc *doc = NULL;
    bool *seen = core_zalloc(s->n_fields, sizeof *seen, "config");
    if (!seen)
        return CORE_ERR_NOMEM;
    if (s->defaults) {
        const char *dir = core_config_dir();
        if (!dir) {
            st = CORE_ERR(CORE_ERR_IO,
                          "cannot find the configs directory for %s defaults "
                          "(set TROUPE_CONFIG_DIR)",
                          s->kind);
            goto done;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, s->defaults);
        CORE_TRY(core_yaml_load(path, NULL, &doc));
        CORE_TRY(apply_doc_seen(s, doc, out, seen));
        for (size_t i = 0; i < s->n_fields; i++)
            if (!seen[i] && !(s->fields[i].flags & CORE_CFG_REQUIRED)) {
                st = CORE_ERR(CORE_ERR_SCHEMA,
                              "%s: missing key '%s' (the defaults file must "
                              "set every key)",
                              path, s->fields[i].key);
                goto done;
            }
        core_yaml_free(doc);
        doc = NULL;
        memset(seen, 0, s->n_fields * sizeof *seen);
    }
    if (user_path) {
        CORE_TRY(core_yaml_load(user_path, NULL, &doc));
        CORE_TRY(apply_doc_seen(s, doc, out, seen));
    }
    for (size_t i = 0; i < n_sets; i++)
        CORE_TRY(set_seen(s, sets[i], out, seen));
    for (size_t i = 0; i < s->n_fields; i++)
        if (!seen[i] && (s->fields[i].flags & CORE_CFG_REQUIRED)) {
            st = CORE_ERR(CORE_ERR_SCHEMA,
                          "%s%smissing required key '%s' (set it in the config "
                          "file or with --set %s=...)",
                          user_path ? user_path : "", user_path ? ": " : "", s->fields[i].key,
                          s->fields[i].key);
            goto done;
        }
done:
    core_yaml_free(doc);
    free(seen);
    if (st != CORE_OK)
        core_cfg_free(s, out);
    return st;
}

void core_strlist_free(core_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void core_cfg_free(const core_cfg_schema *s, void *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < s->n_fields; i++) {
        char *base = (char *)cfg + s->fields[i].offset;
        if (s->fields[i].type == CORE_CFG_STR || s->fields[i].type == CORE_CFG_ENUM)
            free(*(char **)base);
        else if (s->fields[i].type == CORE_CFG_STRLIST)
            core_strlist_free((core_strlist *)base);
    }
    memset(cfg, 0, s->size);
}

/* ---------------------------------------------------------------- emitting */

char *core_cfg_emit(const core_cfg_schema *s, const void *cfg)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    core_yw_map_begin(w, false);
    /* Open sections as the dotted paths change; fields of a section are contiguous. */
    char open[8][64];
    int depth = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        const core_cfg_field *f = &s->fields[i];
        char parts[8][64];
        int np = 0;
        for (const char *p = f->key; *p && np < 8;) {
            size_t len = strcspn(p, ".");
            snprintf(parts[np++], 64, "%.*s", (int)len, p);
            p += len + (p[len] == '.');
        }
        int common = 0;
        while (common < depth && common < np - 1 && !strcmp(open[common], parts[common]))
            common++;
        for (; depth > common; depth--)
            core_yw_map_end(w);
        for (; depth < np - 1; depth++) {
            core_yw_key(w, parts[depth]);
            core_yw_map_begin(w, false);
            snprintf(open[depth], 64, "%s", parts[depth]);
        }
        core_yw_key(w, parts[np - 1]);
        const char *base = (const char *)cfg + f->offset;
        switch (f->type) {
        case CORE_CFG_INT: core_yw_int(w, *(const int64_t *)base); break;
        case CORE_CFG_REAL: core_yw_real(w, *(const double *)base); break;
        case CORE_CFG_BOOL: core_yw_bool(w, *(const bool *)base); break;
        case CORE_CFG_STR:
        case CORE_CFG_ENUM: {
            const char *v = *(char *const *)base;
            if (v)
                core_yw_str(w, v);
            else
                core_yw_null(w);
            break;
        }
        case CORE_CFG_STRLIST: {
            const core_strlist *l = (const core_strlist *)base;
            core_yw_seq_begin(w, true);
            for (size_t j = 0; j < l->n; j++)
                core_yw_str(w, l->items[j]);
            core_yw_seq_end(w);
            break;
        }
        }
    }
    for (; depth > 0; depth--)
        core_yw_map_end(w);
    core_yw_map_end(w);
    return core_yw_finish(w);
}
