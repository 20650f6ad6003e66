/* Strict YAML: libyaml's event parser turned into a tree that refuses anchors, aliases,
 * tags, merge keys, duplicate keys and multiple documents, within size, depth and node
 * limits. A file with an anchor is refused at the anchor, before any alias can expand, so
 * an alias bomb costs no more than reading its first lines. */
#include "core.h"
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

struct core_yaml_doc {
    char *path;
    core_yaml_node *root;
    arena_block *blocks;
    size_t nodes;
    core_yaml_limits lim;
    yaml_parser_t parser;
    const char *text;
    size_t text_len;
    bool hide_positions;
};

void core__yaml_hide_positions(core_yaml_doc *doc)
{
    doc->hide_positions = true;
}

static void *arena_alloc(core_yaml_doc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) {
            CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory parsing YAML", d->path);
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void core_yaml_free(core_yaml_doc *doc)
{
    if (!doc)
        return;
    for (arena_block *b = doc->blocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(doc->path);
    free(doc);
}

const core_yaml_node *core_yaml_root(const core_yaml_doc *doc)
{
    return doc->root;
}
const char *core_yaml_path(const core_yaml_doc *doc)
{
    return doc->path;
}

static core_status vfail(const char *path, int line, int col, core_status code, const char *fmt,
                         va_list ap) __attribute__((format(printf, 5, 0)));
static core_status vfail(const char *path, int line, int col, core_status code, const char *fmt,
                         va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0)
        return CORE_ERR(code, "%s:%d:%d: %s", path, line, col, msg);
    return CORE_ERR(code, "%s: %s", path, msg);
}

static core_status fail_at(const core_yaml_doc *d, int line, int col, core_status code,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static core_status fail_at(const core_yaml_doc *d, int line, int col, core_status code,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_status st = vfail(d->path, line, col, code, fmt, ap);
    va_end(ap);
    return st;
}

core_status core_yaml_error(const core_yaml_doc *doc, const core_yaml_node *at, bool on_key,
                            core_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int line = at && !doc->hide_positions ? (on_key ? at->key_line : at->line) : 0;
    int col = at ? (on_key ? at->key_col : at->col) : 0;
    core_status st = vfail(doc->path, line, col, code, fmt, ap);
    va_end(ap);
    return st;
}

static core_status parser_fail(core_yaml_doc *d)
{
    yaml_parser_t *p = &d->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. */
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < d->text_len; i++) {
            if (d->text[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)d->text[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        return fail_at(d, line, col, CORE_ERR_PARSE, "%s (byte %zu)", problem, p->problem_offset);
    }
    if (p->error == YAML_MEMORY_ERROR)
        return CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory parsing YAML", d->path);
    if (p->context)
        return fail_at(d, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                       CORE_ERR_PARSE, "%s %s", problem, p->context);
    return fail_at(d, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                   CORE_ERR_PARSE, "%s", problem);
}

static core_status next_event(core_yaml_doc *d, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&d->parser, ev))
        return parser_fail(d);
    return CORE_OK;
}

static bool is_null_text(const char *s)
{
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static core_status parse_node(core_yaml_doc *d, yaml_event_t *ev, int depth, core_yaml_node **out);

static int key_cmp(const void *a, const void *b)
{
    const core_yaml_node *x = *(core_yaml_node *const *)a, *y = *(core_yaml_node *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->key_line - y->key_line);
}

static core_status check_duplicates(core_yaml_doc *d, core_yaml_node *map)
{
    if (map->n < 2)
        return CORE_OK;
    if (map->n <= 16) {
        for (size_t i = 1; i < map->n; i++)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(map->items[i]->key, map->items[j]->key))
                    return fail_at(d, map->items[i]->key_line, map->items[i]->key_col,
                                   CORE_ERR_SCHEMA, "duplicate key '%s' (first defined at line %d)",
                                   map->items[i]->key, map->items[j]->key_line);
        return CORE_OK;
    }
    /* Large maps: sort a copy by key so the check stays O(n log n). */
    core_yaml_node **s = core_alloc(map->n, sizeof *s, d->path);
    if (!s)
        return CORE_ERR_NOMEM;
    memcpy(s, map->items, map->n * sizeof *s);
    qsort(s, map->n, sizeof *s, key_cmp);
    core_status st = CORE_OK;
    for (size_t i = 1; i < map->n; i++)
        if (!strcmp(s[i]->key, s[i - 1]->key)) {
            const core_yaml_node *later = s[i], *first = s[i - 1];
            if (first->key_line > later->key_line ||
                (first->key_line == later->key_line && first->key_col > later->key_col)) {
                const core_yaml_node *t = later;
                later = first;
                first = t;
            }
            st = fail_at(d, later->key_line, later->key_col, CORE_ERR_SCHEMA,
                         "duplicate key '%s' (first defined at line %d)", later->key,
                         first->key_line);
            break;
        }
    free(s);
    return st;
}

static core_yaml_node *new_node(core_yaml_doc *d, core_yaml_kind kind, const yaml_mark_t *m)
{
    if (++d->nodes > d->lim.max_nodes) {
        fail_at(d, (int)m->line + 1, (int)m->column + 1, CORE_ERR_LIMIT, "more than %zu YAML nodes",
                d->lim.max_nodes);
        return NULL;
    }
    core_yaml_node *n = arena_alloc(d, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* Collects the members of a sequence or map until its end event. */
static core_status parse_children(core_yaml_doc *d, core_yaml_node *node, int depth)
{
    core_status st = CORE_OK;
    size_t cap = 0;
    core_yaml_node **tmp = NULL;
    bool is_map = node->kind == CORE_YAML_MAP;
    for (;;) {
        yaml_event_t ev;
        CORE_TRY(next_event(d, &ev));
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        const char *key = NULL;
        int key_line = 0, key_col = 0;
        if (is_map) {
            /* The key: a plain or quoted scalar, never a collection, alias or tag. */
            key_line = (int)ev.start_mark.line + 1;
            key_col = (int)ev.start_mark.column + 1;
            if (ev.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                st = fail_at(d, key_line, key_col, CORE_ERR_SCHEMA,
                             ev.type == YAML_ALIAS_EVENT ? "aliases are not allowed"
                                                         : "map keys must be plain strings");
                goto done;
            }
            if (ev.data.scalar.anchor || ev.data.scalar.tag) {
                yaml_event_delete(&ev);
                st = fail_at(d, key_line, key_col, CORE_ERR_SCHEMA,
                             "anchors and tags are not allowed");
                goto done;
            }
            char *k = arena_alloc(d, ev.data.scalar.length + 1);
            if (!k) {
                yaml_event_delete(&ev);
                st = CORE_ERR_NOMEM;
                goto done;
            }
            memcpy(k, ev.data.scalar.value, ev.data.scalar.length);
            k[ev.data.scalar.length] = '\0';
            bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            yaml_event_delete(&ev);
            if (plain && !strcmp(k, "<<")) {
                st = fail_at(d, key_line, key_col, CORE_ERR_SCHEMA, "merge keys are not allowed");
                goto done;
            }
            key = k;
            CORE_TRY(next_event(d, &ev));
        }
        core_yaml_node *child = NULL;
        st = parse_node(d, &ev, depth + 1, &child);
        if (st != CORE_OK)
            goto done;
        child->key = key;
        child->key_line = key_line;
        child->key_col = key_col;
        if (node->n == cap) {
            cap = cap ? 2 * cap : 8;
            core_yaml_node **nt = core_realloc(tmp, cap, sizeof *tmp, d->path);
            if (!nt) {
                st = CORE_ERR_NOMEM;
                goto done;
            }
            tmp = nt;
        }
        tmp[node->n++] = child;
    }
    if (node->n) {
        node->items = arena_alloc(d, node->n * sizeof *node->items);
        if (!node->items) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        memcpy(node->items, tmp, node->n * sizeof *tmp);
    }
    if (is_map)
        st = check_duplicates(d, node);
done:
    free(tmp);
    return st;
}

/* Consumes `ev` (and, for collections, everything up to the matching end event). */
static core_status parse_node(core_yaml_doc *d, yaml_event_t *ev, int depth, core_yaml_node **out)
{
    core_status st = CORE_OK;
    const yaml_mark_t m = ev->start_mark;
    if (depth > d->lim.max_depth) {
        yaml_event_delete(ev);
        return fail_at(d, (int)m.line + 1, (int)m.column + 1, CORE_ERR_LIMIT,
                       "nested deeper than %d levels", d->lim.max_depth);
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        st = fail_at(d, (int)m.line + 1, (int)m.column + 1, CORE_ERR_SCHEMA,
                     "aliases are not allowed (*%s)", (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT: {
        if (ev->data.scalar.anchor || ev->data.scalar.tag) {
            st = fail_at(d, (int)m.line + 1, (int)m.column + 1, CORE_ERR_SCHEMA,
                         ev->data.scalar.anchor ? "anchors are not allowed (&%s)"
                                                : "tags are not allowed (%s)",
                         ev->data.scalar.anchor ? (const char *)ev->data.scalar.anchor
                                                : (const char *)ev->data.scalar.tag);
            break;
        }
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        const char *v = (const char *)ev->data.scalar.value;
        core_yaml_node *n =
            new_node(d, plain && is_null_text(v) ? CORE_YAML_NULL : CORE_YAML_SCALAR, &m);
        char *s = n ? arena_alloc(d, ev->data.scalar.length + 1) : NULL;
        if (!s) {
            st = core_error_code() ? core_error_code() : CORE_ERR_NOMEM;
            break;
        }
        memcpy(s, v, ev->data.scalar.length);
        s[ev->data.scalar.length] = '\0';
        n->str = s;
        n->len = ev->data.scalar.length;
        n->quoted = !plain;
        *out = n;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *anchor =
            map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        const yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
        if (anchor || tag) {
            st = fail_at(d, (int)m.line + 1, (int)m.column + 1, CORE_ERR_SCHEMA,
                         anchor ? "anchors are not allowed (&%s)" : "tags are not allowed (%s)",
                         anchor ? (const char *)anchor : (const char *)tag);
            break;
        }
        core_yaml_node *n = new_node(d, map ? CORE_YAML_MAP : CORE_YAML_SEQ, &m);
        if (!n) {
            st = core_error_code();
            break;
        }
        yaml_event_delete(ev);
        st = parse_children(d, n, depth);
        if (st == CORE_OK)
            *out = n;
        return st;
    }
    default:
        st =
            fail_at(d, (int)m.line + 1, (int)m.column + 1, CORE_ERR_PARSE, "unexpected YAML event");
        break;
    }
    yaml_event_delete(ev);
    return st;
}

core_status core_yaml_parse(const char *name, const char *text, size_t len,
                            const core_yaml_limits *limits, core_yaml_doc **doc)
{
    *doc = NULL;
    core_yaml_doc *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(name))) {
        free(d);
        return CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory", name);
    }
    d->lim = (core_yaml_limits){16u << 20, 64, 1000000};
    if (limits) {
        if (limits->max_bytes)
            d->lim.max_bytes = limits->max_bytes;
        if (limits->max_depth)
            d->lim.max_depth = limits->max_depth;
        if (limits->max_nodes)
            d->lim.max_nodes = limits->max_nodes;
    }
    d->text = text;
    d->text_len = len;
    core_status st = CORE_OK;
    if (len > d->lim.max_bytes) {
        st = CORE_ERR(CORE_ERR_LIMIT, "%s: %zu bytes, more than the limit of %zu", name, len,
                      d->lim.max_bytes);
        core_yaml_free(d);
        return st;
    }
    if (!yaml_parser_initialize(&d->parser)) {
        core_yaml_free(d);
        return CORE_ERR(CORE_ERR_NOMEM, "%s: cannot start the YAML parser", name);
    }
    yaml_parser_set_input_string(&d->parser, (const unsigned char *)text, len);
    int docs = 0;
    for (bool end = false; !end;) {
        yaml_event_t ev;
        CORE_TRY(next_event(d, &ev));
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: end = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                st = fail_at(d, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                             CORE_ERR_SCHEMA, "multiple YAML documents are not allowed");
                yaml_event_delete(&ev);
                goto done;
            }
            if (ev.data.document_start.tag_directives.start !=
                ev.data.document_start.tag_directives.end) {
                st = fail_at(d, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                             CORE_ERR_SCHEMA, "%%TAG directives are not allowed");
                yaml_event_delete(&ev);
                goto done;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            CORE_TRY(parse_node(d, &ev, 1, &d->root));
            continue; /* parse_node consumed the event */
        default: break;
        }
        yaml_event_delete(&ev);
    }
    if (!d->root) {
        /* An empty file is an empty map: a config that sets nothing. */
        yaml_mark_t m = {0, 0, 0};
        d->root = new_node(d, CORE_YAML_MAP, &m);
        if (!d->root)
            st = CORE_ERR_NOMEM;
    }
done:
    yaml_parser_delete(&d->parser);
    d->text = NULL;
    if (st != CORE_OK) {
        core_yaml_free(d);
        return st;
    }
    *doc = d;
    return CORE_OK;
}

core_status core_yaml_load(const char *path, const core_yaml_limits *limits, core_yaml_doc **doc)
{
    *doc = NULL;
    size_t max = limits && limits->max_bytes ? limits->max_bytes : 16u << 20;
    char *text;
    size_t len;
    core_status st = core_file_read(path, max, &text, &len);
    if (st != CORE_OK)
        return st;
    st = core_yaml_parse(path, text, len, limits, doc);
    free(text);
    return st;
}

/* ---------------------------------------------------------------- typed access */

const core_yaml_node *core_yaml_get(const core_yaml_node *map, const char *key)
{
    if (!map || map->kind != CORE_YAML_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->items[i]->key, key))
            return map->items[i];
    return NULL;
}

core_status core_yaml_check_keys(const core_yaml_doc *doc, const core_yaml_node *map,
                                 const char *const *allowed)
{
    size_t na = 0;
    while (allowed[na])
        na++;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->items[i]->key;
        bool ok = false;
        for (size_t j = 0; j < na && !ok; j++)
            ok = !strcmp(k, allowed[j]);
        if (ok)
            continue;
        const char *s = core_suggest(k, allowed, na);
        if (s)
            return core_yaml_error(doc, map->items[i], true, CORE_ERR_SCHEMA,
                                   "unknown key '%s' (did you mean '%s'?)", k, s);
        return core_yaml_error(doc, map->items[i], true, CORE_ERR_SCHEMA, "unknown key '%s'", k);
    }
    return CORE_OK;
}

static const char *kind_name(core_yaml_kind k)
{
    switch (k) {
    case CORE_YAML_NULL: return "null";
    case CORE_YAML_SCALAR: return "a scalar";
    case CORE_YAML_SEQ: return "a list";
    case CORE_YAML_MAP: return "a map";
    }
    return "?";
}

core_status core_yaml_expect(const core_yaml_doc *doc, const core_yaml_node *node,
                             core_yaml_kind kind, const char *what)
{
    if (node->kind == kind)
        return CORE_OK;
    return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA, "'%s' must be %s, not %s", what,
                           kind_name(kind), kind_name(node->kind));
}

core_status core_yaml_str(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                          const char **out)
{
    core_status st = core_yaml_expect(doc, node, CORE_YAML_SCALAR, what);
    if (st == CORE_OK)
        *out = node->str;
    return st;
}

core_status core_yaml_int(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                          int64_t min, int64_t max, int64_t *out)
{
    if (node->kind != CORE_YAML_SCALAR)
        return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA, "'%s' must be an integer, not %s",
                               what, kind_name(node->kind));
    int64_t v;
    if (!core_parse_i64(node->str, &v))
        return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA,
                               "'%s' must be an integer, not '%s'", what, node->str);
    if (v < min || v > max)
        return core_yaml_error(doc, node, false, CORE_ERR_RANGE,
                               "'%s' is %lld, outside [%lld, %lld]", what, (long long)v,
                               (long long)min, (long long)max);
    *out = v;
    return CORE_OK;
}

core_status core_yaml_real(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                           double min, double max, double *out)
{
    if (node->kind != CORE_YAML_SCALAR)
        return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA, "'%s' must be a number, not %s",
                               what, kind_name(node->kind));
    double v;
    if (!core_parse_f64(node->str, &v))
        return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA, "'%s' must be a number, not '%s'",
                               what, node->str);
    if (v < min || v > max)
        return core_yaml_error(doc, node, false, CORE_ERR_RANGE, "'%s' is %g, outside [%g, %g]",
                               what, v, min, max);
    *out = v;
    return CORE_OK;
}

core_status core_yaml_bool(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                           bool *out)
{
    if (node->kind != CORE_YAML_SCALAR || !core_parse_bool(node->str, out))
        return core_yaml_error(doc, node, false, CORE_ERR_SCHEMA,
                               "'%s' must be true or false, not %s%s%s", what,
                               node->kind == CORE_YAML_SCALAR ? "'" : "",
                               node->kind == CORE_YAML_SCALAR ? node->str : kind_name(node->kind),
                               node->kind == CORE_YAML_SCALAR ? "'" : "");
    return CORE_OK;
}
