/* Eval reports (docs/eval.md): JSON (troupe.eval-report/1), Markdown, the plain-text table of
 * `troupe eval`, the reference check, and SVG plots drawn by gnuplot.
 *
 * Nothing here reads the clock or depends on the thread count: the same results give the same
 * bytes, plots included (gnuplot's svg terminal writes no date; the script goes in on stdin
 * with its data inline as `$name << EOD` blocks, gnuplot runs with -d so no init file of the
 * user's changes the drawing). Reals in the JSON are rounded to 6 significant digits, NaN is
 * null. The wall time of a run (eval_result.seconds) is never written. */
#include "eval/eval.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------- a growable string */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool failed;
} sbuf;

__attribute__((format(printf, 2, 0))) static void sb_vadd(sbuf *b, const char *fmt, va_list ap)
{
    if (b->failed)
        return;
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap2);
    va_end(ap2);
    if (len < 0) {
        b->failed = true;
        return;
    }
    if (!b->p || b->n + (size_t)len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + (size_t)len + 1)
            cap *= 2;
        char *np = core_realloc(b->p, cap, 1, "eval report");
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
        vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    }
    b->n += (size_t)len;
}

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(b, fmt, ap);
    va_end(ap);
}

/* The text (caller frees), or NULL with CORE_ERR_NOMEM recorded. */
static char *sb_take(sbuf *b)
{
    if (!b->failed && !b->p)
        sb_add(b, "%s", "");
    if (b->failed) {
        free(b->p);
        CORE_ERR(CORE_ERR_NOMEM, "eval report: out of memory");
        return NULL;
    }
    return b->p;
}

/* ---------------------------------------------------------------- shared helpers */

enum { N_SCORES = 4 };
static const char *const score_keys[N_SCORES] = {"overall", "dialogue", "paralinguistic",
                                                 "persona"};
static const char *const score_titles[N_SCORES] = {"overall", "general dialogue", "paralinguistic",
                                                   "persona"};

static double cfg_ref(const eval_cfg *c, int s, size_t i)
{
    return eval_cfg_reference(c, s, i);
}

static eval_ci result_score(const eval_result *x, int s)
{
    switch (s) {
    case 0: return x->overall;
    case 1: return x->dialogue;
    case 2: return x->paralinguistic;
    default: return x->persona;
    }
}

/* Whether the spec gives any reference value for any of the n checkpoints. */
static bool has_reference(const eval_cfg *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < N_SCORES; s++)
            if (!isnan(cfg_ref(c, s, i)))
                return true;
    return false;
}

static double tolerance(const eval_cfg *c)
{
    return isfinite(c->tolerance) && c->tolerance > 0 ? c->tolerance : 0;
}

static bool within_one(double ref, double measured, double tol)
{
    /* a hair of slack so that 63.0 against 61.0 +- 2.0 is within despite binary fractions */
    return isfinite(measured) && fabs(measured - ref) <= tol + 1e-9;
}

bool eval_report_within(const eval_report *r, size_t i)
{
    CORE_ASSERT(r && r->cfg && i < r->n);
    double tol = tolerance(r->cfg);
    for (int s = 0; s < N_SCORES; s++) {
        double ref = cfg_ref(r->cfg, s, i);
        if (!isnan(ref) && !within_one(ref, result_score(&r->results[i], s).value, tol))
            return false;
    }
    return true;
}

static const char *str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* Dimension `name` of a result when it has labelled items, else NULL. */
static const eval_dim *find_dim(const eval_result *x, const char *name)
{
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        if (x->dims[k].n > 0 && x->dims[k].name && !strcmp(x->dims[k].name, name))
            return &x->dims[k];
    return NULL;
}

/* The dimensions any result measured, in train_para_names order; returns how many. */
static int report_dims(const eval_report *r, const char *names[TRAIN_N_HEADS_PARA])
{
    int n = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        for (size_t i = 0; i < r->n; i++)
            if (find_dim(&r->results[i], train_para_names[k])) {
                names[n++] = train_para_names[k];
                break;
            }
    return n;
}

/* The first result's dimension `name` (classes, n and the majority baseline are properties
 * of the set, the same for every checkpoint scored on it). */
static const eval_dim *first_dim(const eval_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++) {
        const eval_dim *d = find_dim(&r->results[i], name);
        if (d)
            return d;
    }
    return NULL;
}

static int turns_of(const eval_result *x)
{
    return x->drift_turns < 0                ? 0
           : x->drift_turns > EVAL_MAX_TURNS ? EVAL_MAX_TURNS
                                             : x->drift_turns;
}

/* ---------------------------------------------------------------- JSON */

typedef struct jb {
    bool failed;
} jb;

static void put(jb *b, json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        b->failed = true;
}

static void push(jb *b, json_t *a, json_t *v)
{
    if (!v || json_array_append_new(a, v) != 0)
        b->failed = true;
}

/* A real rounded to 6 significant digits (printed by json_dumps with JSON_REAL_PRECISION(6)
 * as the same digits); null when not finite. */
static json_t *jreal(double v)
{
    if (!isfinite(v))
        return json_null();
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", v);
    double r = strtod(buf, NULL);
    return json_real(r == 0 ? 0.0 : r); /* no "-0.0" */
}

static json_t *jint(int64_t v)
{
    return json_integer((json_int_t)v);
}

/* Strings must be UTF-8 for jansson: anything else keeps its ASCII and turns the rest to '?'. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (v)
        return v;
    char *c = core_strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(c);
    free(c);
    return v;
}

/* {value, lo, hi}, or null when the score was not measured. */
static json_t *jci(jb *b, eval_ci c)
{
    if (!isfinite(c.value))
        return json_null();
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(b, o, "value", jreal(c.value));
    put(b, o, "lo", jreal(c.lo));
    put(b, o, "hi", jreal(c.hi));
    return o;
}

static json_t *json_spec(jb *b, const eval_cfg *c)
{
    json_t *o = json_object(), *w = json_object();
    if (!o || !w) {
        json_decref(o);
        json_decref(w);
        return NULL;
    }
    put(b, o, "name", jstr(c->name));
    put(b, o, "seed", jint(c->seed));
    put(b, o, "bootstrap", jint(c->bootstrap));
    put(b, o, "candidates", jint(c->candidates));
    put(b, w, "dialogue", jreal(c->weight_dialogue));
    put(b, w, "paralinguistic", jreal(c->weight_paralinguistic));
    put(b, w, "persona", jreal(c->weight_persona));
    put(b, o, "weights", w);
    return o;
}

static json_t *json_set(jb *b, const eval_set *s)
{
    json_t *o = json_object(), *t = json_array();
    if (!o || !t) {
        json_decref(o);
        json_decref(t);
        return NULL;
    }
    put(b, o, "source", jstr(s->source));
    put(b, o, "sha256", jstr(s->sha256));
    put(b, o, "items", jint((int64_t)s->n));
    put(b, o, "skipped", jint((int64_t)s->skipped));
    for (size_t i = 0; i < s->n_skipped_tasks; i++)
        push(b, t, jstr(s->skipped_tasks[i]));
    put(b, o, "skipped_tasks", t);
    return o;
}

static json_t *json_para(jb *b, const eval_result *x)
{
    json_t *o = json_object(), *dims = json_array();
    if (!o || !dims) {
        json_decref(o);
        json_decref(dims);
        return NULL;
    }
    put(b, o, "score", jci(b, x->paralinguistic));
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const eval_dim *d = &x->dims[k];
        if (d->n == 0 || !d->name)
            continue;
        json_t *dj = json_object();
        if (!dj) {
            b->failed = true;
            break;
        }
        put(b, dj, "name", jstr(d->name));
        put(b, dj, "classes", jint(d->classes));
        put(b, dj, "n", jint((int64_t)d->n));
        put(b, dj, "accuracy", jci(b, d->accuracy));
        put(b, dj, "macro_f1", jreal(d->macro_f1));
        put(b, dj, "majority", jreal(d->majority));
        push(b, dims, dj);
    }
    put(b, o, "dimensions", dims);
    return o;
}

static json_t *json_dialogue(jb *b, const eval_result *x)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(b, o, "score", jci(b, x->dialogue));
    put(b, o, "hits1", jci(b, x->hits1));
    put(b, o, "candidates", jint(x->candidates));
    put(b, o, "perplexity", jreal(x->perplexity));
    put(b, o, "cue_fit", jci(b, x->cue_fit));
    put(b, o, "items", jint((int64_t)x->dialogue_items));
    return o;
}

static json_t *json_persona(jb *b, const eval_result *x)
{
    json_t *o = json_object(), *d = json_array();
    if (!o || !d) {
        json_decref(o);
        json_decref(d);
        return NULL;
    }
    put(b, o, "score", jci(b, x->persona));
    put(b, o, "prompt_line", jci(b, x->prompt_line));
    put(b, o, "line_line", jci(b, x->line_line));
    put(b, o, "dialogues", jint((int64_t)x->drift_dialogues));
    put(b, o, "turns", jint(x->drift_turns));
    for (int t = 0; t < turns_of(x); t++)
        push(b, d, jreal(x->drift[t]));
    put(b, o, "drift", d);
    return o;
}

static json_t *json_latency(jb *b, const eval_result *x)
{
    json_t *o = json_object(), *h = json_object(), *e = json_array(), *c = json_array();
    if (!o || !h || !e || !c) {
        json_decref(o);
        json_decref(h);
        json_decref(e);
        json_decref(c);
        return NULL;
    }
    put(b, o, "n", jint((int64_t)x->latency_n));
    put(b, o, "p50_ms", jreal(x->latency_p50_ms));
    put(b, o, "p95_ms", jreal(x->latency_p95_ms));
    put(b, o, "max_ms", jreal(x->latency_max_ms));
    put(b, o, "rtf", jreal(x->rtf));
    put(b, o, "machine", jstr(x->machine));
    put(b, o, "threads", jint(x->threads));
    for (int k = 0; k <= EVAL_LAT_BINS; k++)
        push(b, e, jreal(x->lat_edges_ms[k]));
    for (int k = 0; k < EVAL_LAT_BINS; k++)
        push(b, c, jint((int64_t)x->lat_hist[k]));
    put(b, h, "edges_ms", e);
    put(b, h, "counts", c);
    put(b, o, "histogram", h);
    return o;
}

static json_t *json_reference(jb *b, const eval_report *r, size_t i)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(b, o, "tolerance", jreal(tolerance(r->cfg)));
    for (int s = 0; s < N_SCORES; s++) {
        double ref = cfg_ref(r->cfg, s, i);
        if (isnan(ref))
            continue;
        double m = result_score(&r->results[i], s).value;
        json_t *e = json_object();
        if (!e) {
            b->failed = true;
            break;
        }
        put(b, e, "reference", jreal(ref));
        put(b, e, "measured", jreal(m));
        put(b, e, "diff", jreal(m - ref));
        put(b, e, "within", json_boolean(within_one(ref, m, tolerance(r->cfg))));
        put(b, o, score_keys[s], e);
    }
    put(b, o, "within", json_boolean(eval_report_within(r, i)));
    return o;
}

static json_t *json_checkpoint(jb *b, const eval_report *r, size_t i)
{
    const eval_result *x = &r->results[i];
    json_t *o = json_object(), *hy = json_object();
    if (!o || !hy) {
        json_decref(o);
        json_decref(hy);
        return NULL;
    }
    put(b, o, "checkpoint", jstr(x->checkpoint));
    put(b, o, "sha256", jstr(x->checkpoint_sha256));
    put(b, o, "step", jint(x->step));
    put(b, o, "params", jint(x->params));
    put(b, o, "items", jint((int64_t)x->items));
    put(b, hy, "checked", jint((int64_t)x->hygiene_checked));
    put(b, hy, "refused", jint((int64_t)x->hygiene_refused));
    put(b, hy, "lineage_hashes", jint((int64_t)x->lineage_hashes));
    put(b, o, "hygiene", hy);
    put(b, o, "overall", jci(b, x->overall));
    put(b, o, "paralinguistic", json_para(b, x));
    put(b, o, "dialogue", json_dialogue(b, x));
    put(b, o, "persona", json_persona(b, x));
    if (x->has_latency)
        put(b, o, "latency", json_latency(b, x));
    if (has_reference(r->cfg, r->n))
        put(b, o, "reference", json_reference(b, r, i));
    return o;
}

char *eval_report_json(const eval_report *r)
{
    CORE_ASSERT(r && r->cfg && r->set && (r->n == 0 || r->results));
    jb b = {0};
    json_t *root = json_object(), *cks = json_array();
    if (!root || !cks) {
        json_decref(root);
        json_decref(cks);
        CORE_ERR(CORE_ERR_NOMEM, "eval report: out of memory");
        return NULL;
    }
    put(&b, root, "format", json_string("troupe.eval-report/1"));
    put(&b, root, "spec", json_spec(&b, r->cfg));
    put(&b, root, "set", json_set(&b, r->set));
    for (size_t i = 0; i < r->n; i++)
        push(&b, cks, json_checkpoint(&b, r, i));
    put(&b, root, "checkpoints", cks);
    char *text =
        b.failed ? NULL
                 : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text) {
        CORE_ERR(CORE_ERR_NOMEM, "eval report: out of memory building the JSON");
        return NULL;
    }
    char *out = core_sprintf("%s\n", text); /* a text file ends with a newline */
    free(text);
    return out;
}

/* ---------------------------------------------------------------- tables */

/* Cells of a table, row 0 the header; unset cells are empty. */
typedef struct grid {
    size_t rows, cols;
    char **c;
    bool failed;
} grid;

static bool grid_init(grid *g, size_t rows, size_t cols)
{
    memset(g, 0, sizeof *g);
    g->rows = rows;
    g->cols = cols;
    g->c = core_zalloc(rows * cols > 0 ? rows * cols : 1, sizeof *g->c, "eval report table");
    g->failed = !g->c;
    return g->c != NULL;
}

__attribute__((format(printf, 4, 5))) static void grid_set(grid *g, size_t row, size_t col,
                                                           const char *fmt, ...)
{
    CORE_ASSERT(row < g->rows && col < g->cols);
    if (g->failed)
        return;
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(&b, fmt, ap);
    va_end(ap);
    if (b.failed || !b.p) {
        free(b.p);
        g->failed = true;
        return;
    }
    free(g->c[row * g->cols + col]);
    g->c[row * g->cols + col] = b.p;
}

static const char *grid_at(const grid *g, size_t row, size_t col)
{
    const char *s = g->c ? g->c[row * g->cols + col] : NULL;
    return s ? s : "";
}

static void grid_free(grid *g)
{
    for (size_t i = 0; g->c && i < g->rows * g->cols; i++)
        free(g->c[i]);
    free(g->c);
    memset(g, 0, sizeof *g);
}

/* Columns a UTF-8 string takes on a terminal (one per code point: no wide characters here). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Column 0 left-aligned, the rest right-aligned. */
static void grid_markdown(sbuf *b, const grid *g)
{
    if (g->failed) {
        b->failed = true;
        return;
    }
    for (size_t r = 0; r < g->rows; r++) {
        sb_add(b, "|");
        for (size_t c = 0; c < g->cols; c++) {
            sb_add(b, " ");
            for (const char *p = grid_at(g, r, c); *p; p++) {
                if (*p == '|')
                    sb_add(b, "\\|");
                else if (*p == '\n' || *p == '\r')
                    sb_add(b, " ");
                else
                    sb_add(b, "%c", *p);
            }
            sb_add(b, " |");
        }
        sb_add(b, "\n");
        if (r == 0) {
            sb_add(b, "|");
            for (size_t c = 0; c < g->cols; c++)
                sb_add(b, c == 0 ? " --- |" : " ---: |");
            sb_add(b, "\n");
        }
    }
}

static void grid_text(sbuf *b, const grid *g)
{
    if (g->failed) {
        b->failed = true;
        return;
    }
    size_t w[32] = {0};
    CORE_ASSERT(g->cols <= 32);
    for (size_t r = 0; r < g->rows; r++)
        for (size_t c = 0; c < g->cols; c++) {
            size_t x = text_width(grid_at(g, r, c));
            w[c] = x > w[c] ? x : w[c];
        }
    for (size_t r = 0; r < g->rows; r++) {
        sbuf line = {0};
        for (size_t c = 0; c < g->cols; c++) {
            const char *s = grid_at(g, r, c);
            int pad = (int)(w[c] - text_width(s));
            if (c > 0)
                sb_add(&line, "  ");
            if (c == 0)
                sb_add(&line, "%s%*s", s, pad, "");
            else
                sb_add(&line, "%*s%s", pad, "", s);
        }
        if (line.failed) {
            b->failed = true;
        } else if (line.p) {
            size_t n = line.n; /* no trailing blanks */
            while (n > 0 && line.p[n - 1] == ' ')
                n--;
            sb_add(b, "%.*s\n", (int)n, line.p);
        }
        free(line.p);
    }
}

#define DASH "\xe2\x80\x94" /* — (not measured) */

/* "61.2 [58.0, 64.1]", "61.2" without an interval, "—" when not measured. */
static void fmt_ci(char *out, size_t n, eval_ci c)
{
    if (!isfinite(c.value))
        snprintf(out, n, DASH);
    else if (isfinite(c.lo) && isfinite(c.hi))
        snprintf(out, n, "%.1f [%.1f, %.1f]", c.value, c.lo, c.hi);
    else
        snprintf(out, n, "%.1f", c.value);
}

static void fmt_num(char *out, size_t n, double v, int decimals, const char *unit)
{
    if (!isfinite(v))
        snprintf(out, n, DASH);
    else
        snprintf(out, n, "%.*f%s", decimals, v, unit);
}

/* The main table: checkpoint, step, the four scores and latency p95. */
static void main_grid(grid *g, const eval_report *r)
{
    static const char *const head[7] = {"checkpoint",       "step",           "overall",
                                        "general dialogue", "paralinguistic", "persona",
                                        "latency p95"};
    if (!grid_init(g, r->n + 1, 7))
        return;
    for (int c = 0; c < 7; c++)
        grid_set(g, 0, (size_t)c, "%s", head[c]);
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        char cell[96];
        grid_set(g, i + 1, 0, "%s", str_or(x->checkpoint, "?"));
        grid_set(g, i + 1, 1, "%lld", (long long)x->step);
        for (int s = 0; s < N_SCORES; s++) {
            static const int col[N_SCORES] = {2, 3, 4, 5}; /* overall, dialogue, para, persona */
            fmt_ci(cell, sizeof cell, result_score(x, s));
            grid_set(g, i + 1, (size_t)col[s], "%s", cell);
        }
        fmt_num(cell, sizeof cell, x->has_latency ? x->latency_p95_ms : NAN, 1, " ms");
        grid_set(g, i + 1, 6, "%s", cell);
    }
}

/* "overall 61.0 (diff +0.2, tolerance 2.0), ... -> within" */
static void reference_line(sbuf *b, const eval_report *r, size_t i)
{
    double tol = tolerance(r->cfg);
    sb_add(b, "reference:");
    const char *sep = " ";
    for (int s = 0; s < N_SCORES; s++) {
        double ref = cfg_ref(r->cfg, s, i);
        if (isnan(ref))
            continue;
        double m = result_score(&r->results[i], s).value;
        double diff = fabs(m - ref) < 0.05 ? 0.0 : m - ref; /* no "-0.0" */
        if (isfinite(m))
            sb_add(b, "%s%s %.1f (diff %+.1f, tolerance %.1f)", sep, score_titles[s], ref, diff,
                   tol);
        else
            sb_add(b, "%s%s %.1f (not measured)", sep, score_titles[s], ref);
        sep = ", ";
    }
    sb_add(b, " -> %s", eval_report_within(r, i) ? "within" : "OUTSIDE");
}

static void set_line(sbuf *b, const eval_set *s, bool md)
{
    sb_add(b, "%s%.12s%s, %zu items", md ? "sha256 `" : "sha256 ", s->sha256, md ? "`" : "", s->n);
    if (s->skipped) {
        sb_add(b, " (%zu skipped: no closed label set for", s->skipped);
        for (size_t k = 0; k < s->n_skipped_tasks; k++)
            sb_add(b, "%s%s", k ? ", " : " ", s->skipped_tasks[k]);
        sb_add(b, ")");
    }
}

char *eval_report_table(const eval_report *r)
{
    CORE_ASSERT(r && r->cfg && r->set && (r->n == 0 || r->results));
    sbuf b = {0};
    sb_add(&b, "eval %s on %s: ", str_or(r->cfg->name, "(unnamed)"),
           str_or(r->set->source, "(unknown set)"));
    set_line(&b, r->set, false);
    sb_add(&b, "\n\n");
    grid g;
    main_grid(&g, r);
    grid_text(&b, &g);
    grid_free(&g);
    if (has_reference(r->cfg, r->n)) {
        sb_add(&b, "\n");
        for (size_t i = 0; i < r->n; i++) {
            sb_add(&b, "%s: ", str_or(r->results[i].checkpoint, "?"));
            reference_line(&b, r, i);
            sb_add(&b, "\n");
        }
    }
    return sb_take(&b);
}

/* ---------------------------------------------------------------- Markdown */

static void md_dimensions(sbuf *b, const eval_report *r)
{
    const char *names[TRAIN_N_HEADS_PARA];
    int nd = report_dims(r, names);
    sb_add(b, "## Paralinguistic comprehension\n\n");
    if (nd == 0) {
        sb_add(b, "Not measured.\n\n");
        return;
    }
    sb_add(b, "Accuracy (95%% interval) and macro-F1 per dimension, beside the accuracy of always "
              "answering the most frequent class.\n\n");
    grid g;
    size_t cols = 3 + 2 * r->n + 1;
    if (!grid_init(&g, (size_t)nd + 1, cols)) {
        b->failed = true;
        return;
    }
    grid_set(&g, 0, 0, "dimension");
    grid_set(&g, 0, 1, "classes");
    grid_set(&g, 0, 2, "n");
    for (size_t i = 0; i < r->n; i++) {
        const char *ck = str_or(r->results[i].checkpoint, "?");
        grid_set(&g, 0, 3 + 2 * i, "%s accuracy", ck);
        grid_set(&g, 0, 4 + 2 * i, "%s macro-F1", ck);
    }
    grid_set(&g, 0, cols - 1, "majority class");
    for (int k = 0; k < nd; k++) {
        const eval_dim *d0 = first_dim(r, names[k]);
        char cell[96];
        grid_set(&g, (size_t)k + 1, 0, "%s", names[k]);
        grid_set(&g, (size_t)k + 1, 1, "%d", d0->classes);
        grid_set(&g, (size_t)k + 1, 2, "%zu", d0->n);
        for (size_t i = 0; i < r->n; i++) {
            const eval_dim *d = find_dim(&r->results[i], names[k]);
            fmt_ci(cell, sizeof cell, d ? d->accuracy : (eval_ci){NAN, NAN, NAN});
            grid_set(&g, (size_t)k + 1, 3 + 2 * i, "%s", cell);
            fmt_num(cell, sizeof cell, d ? d->macro_f1 : NAN, 1, "");
            grid_set(&g, (size_t)k + 1, 4 + 2 * i, "%s", cell);
        }
        fmt_num(cell, sizeof cell, d0->majority, 1, "");
        grid_set(&g, (size_t)k + 1, cols - 1, "%s", cell);
    }
    grid_markdown(b, &g);
    grid_free(&g);
    sb_add(b, "\n");
}

static void md_dialogue(sbuf *b, const eval_report *r)
{
    sb_add(b, "## General dialogue\n\n");
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        any |= isfinite(r->results[i].dialogue.value) || isfinite(r->results[i].hits1.value);
    if (!any) {
        sb_add(b, "Not measured.\n\n");
        return;
    }
    grid g;
    if (!grid_init(&g, r->n + 1, 6)) {
        b->failed = true;
        return;
    }
    static const char *const head[6] = {"checkpoint", "items",   "hits@1",
                                        "perplexity", "cue fit", "score"};
    for (int c = 0; c < 6; c++)
        grid_set(&g, 0, (size_t)c, "%s", head[c]);
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        char cell[96];
        grid_set(&g, i + 1, 0, "%s", str_or(x->checkpoint, "?"));
        grid_set(&g, i + 1, 1, "%zu", x->dialogue_items);
        fmt_ci(cell, sizeof cell, x->hits1);
        if (isfinite(x->hits1.value))
            grid_set(&g, i + 1, 2, "%s of %d", cell, x->candidates);
        else
            grid_set(&g, i + 1, 2, "%s", cell);
        fmt_num(cell, sizeof cell, x->perplexity, 2, "");
        grid_set(&g, i + 1, 3, "%s", cell);
        fmt_ci(cell, sizeof cell, x->cue_fit);
        grid_set(&g, i + 1, 4, "%s", cell);
        fmt_ci(cell, sizeof cell, x->dialogue);
        grid_set(&g, i + 1, 5, "%s", cell);
    }
    grid_markdown(b, &g);
    grid_free(&g);
    sb_add(b, "\n");
}

static void md_persona(sbuf *b, const eval_report *r)
{
    sb_add(b, "## Persona consistency\n\n");
    int T = 0;
    bool any = false;
    for (size_t i = 0; i < r->n; i++) {
        int t = turns_of(&r->results[i]);
        T = t > T ? t : T;
        any |= isfinite(r->results[i].persona.value) || t > 0;
    }
    if (!any) {
        sb_add(b, "Not measured.\n\n");
        return;
    }
    grid g;
    if (!grid_init(&g, r->n + 1, 5)) {
        b->failed = true;
        return;
    }
    static const char *const head[5] = {"checkpoint", "dialogues", "prompt-line", "line-line",
                                        "score"};
    for (int c = 0; c < 5; c++)
        grid_set(&g, 0, (size_t)c, "%s", head[c]);
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        char cell[96];
        grid_set(&g, i + 1, 0, "%s", str_or(x->checkpoint, "?"));
        grid_set(&g, i + 1, 1, "%zu", x->drift_dialogues);
        fmt_ci(cell, sizeof cell, x->prompt_line);
        grid_set(&g, i + 1, 2, "%s", cell);
        fmt_ci(cell, sizeof cell, x->line_line);
        grid_set(&g, i + 1, 3, "%s", cell);
        fmt_ci(cell, sizeof cell, x->persona);
        grid_set(&g, i + 1, 4, "%s", cell);
    }
    grid_markdown(b, &g);
    grid_free(&g);
    sb_add(b, "\n");
    if (T == 0)
        return;
    sb_add(b, "Drift: the judge's persona score at each turn of self-play.\n\n");
    if (!grid_init(&g, r->n + 1, (size_t)T + 1)) {
        b->failed = true;
        return;
    }
    grid_set(&g, 0, 0, "checkpoint");
    for (int t = 0; t < T; t++)
        grid_set(&g, 0, (size_t)t + 1, "turn %d", t + 1);
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        grid_set(&g, i + 1, 0, "%s", str_or(x->checkpoint, "?"));
        for (int t = 0; t < T; t++) {
            char cell[32];
            fmt_num(cell, sizeof cell, t < turns_of(x) ? x->drift[t] : NAN, 1, "");
            grid_set(&g, i + 1, (size_t)t + 1, "%s", cell);
        }
    }
    grid_markdown(b, &g);
    grid_free(&g);
    sb_add(b, "\n");
}

static void md_latency(sbuf *b, const eval_report *r)
{
    sb_add(b, "## Latency\n\n");
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->results[i].has_latency;
    if (n == 0) {
        sb_add(b, "Not measured.\n\n");
        return;
    }
    sb_add(b, "First-token latency of streamed replies (a measurement on this machine, not "
              "deterministic).\n\n");
    grid g;
    if (!grid_init(&g, n + 1, 9)) {
        b->failed = true;
        return;
    }
    static const char *const head[9] = {"checkpoint", "parameters", "n",       "p50",    "p95",
                                        "max",        "RTF",        "machine", "threads"};
    for (int c = 0; c < 9; c++)
        grid_set(&g, 0, (size_t)c, "%s", head[c]);
    size_t row = 1;
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        if (!x->has_latency)
            continue;
        char cell[64];
        grid_set(&g, row, 0, "%s", str_or(x->checkpoint, "?"));
        grid_set(&g, row, 1, "%lld", (long long)x->params);
        grid_set(&g, row, 2, "%zu", x->latency_n);
        fmt_num(cell, sizeof cell, x->latency_p50_ms, 1, " ms");
        grid_set(&g, row, 3, "%s", cell);
        fmt_num(cell, sizeof cell, x->latency_p95_ms, 1, " ms");
        grid_set(&g, row, 4, "%s", cell);
        fmt_num(cell, sizeof cell, x->latency_max_ms, 1, " ms");
        grid_set(&g, row, 5, "%s", cell);
        fmt_num(cell, sizeof cell, x->rtf, 3, "");
        grid_set(&g, row, 6, "%s", cell);
        grid_set(&g, row, 7, "%s", str_or(x->machine, "?"));
        grid_set(&g, row, 8, "%d", x->threads);
        row++;
    }
    grid_markdown(b, &g);
    grid_free(&g);
    sb_add(b, "\n");
}

char *eval_report_markdown(const eval_report *r)
{
    CORE_ASSERT(r && r->cfg && r->set && (r->n == 0 || r->results));
    const eval_cfg *c = r->cfg;
    sbuf b = {0};
    sb_add(&b, "# Evaluation: %s\n\n", str_or(c->name, "(unnamed)"));
    sb_add(&b, "Set: %s, ", str_or(r->set->source, "(unknown)"));
    set_line(&b, r->set, true);
    sb_add(&b, ".\n\n");
    grid g;
    main_grid(&g, r);
    grid_markdown(&b, &g);
    grid_free(&g);
    sb_add(&b,
           "\nScores are 0-100 with 95%% bootstrap intervals (%lld resamples, seed %lld); "
           "overall is the weighted mean of general dialogue (%g), paralinguistic (%g) and "
           "persona (%g) over those measured; " DASH " means not measured.\n\n",
           (long long)c->bootstrap, (long long)c->seed, c->weight_dialogue,
           c->weight_paralinguistic, c->weight_persona);
    if (has_reference(c, r->n)) {
        for (size_t i = 0; i < r->n; i++) {
            sb_add(&b, "- `%s` ", str_or(r->results[i].checkpoint, "?"));
            reference_line(&b, r, i);
            sb_add(&b, "\n");
        }
        sb_add(&b, "\n");
    }
    md_dimensions(&b, r);
    md_dialogue(&b, r);
    md_persona(&b, r);
    md_latency(&b, r);
    sb_add(&b, "## Hygiene\n\n");
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        sb_add(&b, "- `%s`: ", str_or(x->checkpoint, "?"));
        if (c->hygiene)
            sb_add(&b,
                   "%zu items checked against the checkpoint's lineage of %zu audio hashes, %zu "
                   "refused.\n",
                   x->hygiene_checked, x->lineage_hashes, x->hygiene_refused);
        else
            sb_add(&b, "hygiene check off (%zu items not checked against the lineage).\n",
                   x->items);
    }
    sb_add(&b,
           "\nDefinitions of every score: docs/eval.md. Plots (drawn when gnuplot is installed): "
           "plots/*.svg.\n");
    return sb_take(&b);
}

/* ---------------------------------------------------------------- plots (gnuplot) */

/* The gnuplot executable on PATH (malloc'd), or NULL. */
static char *find_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *cand = core_sprintf("%.*s/gnuplot", (int)len, len ? p : ".");
        struct stat sb;
        if (cand && stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        if (!e)
            return NULL;
        p = e + 1;
    }
}

/* A gnuplot single-quoted string: no escapes inside, '' stands for ', control characters
 * become blanks. */
static void gp_quote(sbuf *b, const char *s)
{
    sb_add(b, "'");
    for (; s && *s; s++) {
        if (*s == '\'')
            sb_add(b, "''");
        else if ((unsigned char)*s < 0x20)
            sb_add(b, " ");
        else
            sb_add(b, "%c", *s);
    }
    sb_add(b, "'");
}

static void gp_num(sbuf *b, double v)
{
    if (isfinite(v))
        sb_add(b, " %.10g", v);
    else
        sb_add(b, " NaN"); /* undefined: a gap in the line */
}

static void gp_head(sbuf *b, const char *out, const char *title)
{
    sb_add(b, "set terminal svg size 800,450 dynamic enhanced font 'sans,11'\n"
              "set encoding utf8\nset output ");
    gp_quote(b, out);
    sb_add(b, "\nset title ");
    gp_quote(b, title);
    sb_add(b, " noenhanced\nset grid ytics lc rgb '#dddddd'\nset key below noenhanced\n");
}

/* Feeds `script` to gnuplot on stdin (from an unlinked temporary file, so a gnuplot that dies
 * early cannot block us or raise SIGPIPE); its messages go to another one, quoted in the
 * error. `what` names the plot in messages. */
static core_status run_gnuplot(const char *exe, const char *script, size_t len, const char *what)
{
    core_status st = CORE_OK;
    FILE *in = tmpfile(), *err = tmpfile();
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    if (!in || !err) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot create a temporary file for gnuplot: %s", what,
                      strerror(errno));
        goto done;
    }
    if (fwrite(script, 1, len, in) != len || fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0) {
        st =
            CORE_ERR(CORE_ERR_IO, "%s: cannot write the gnuplot script: %s", what, strerror(errno));
        goto done;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        st = CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory starting gnuplot", what);
        goto done;
    }
    fa_ok = true;
    if (posix_spawn_file_actions_adddup2(&fa, fileno(in), 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, fileno(err), 1) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, fileno(err), 2) != 0) {
        st = CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory starting gnuplot", what);
        goto done;
    }
    /* -d: no ~/.gnuplot or system init file, so the plot depends on the script alone */
    char arg0[] = "gnuplot", arg1[] = "-d";
    char *const argv[] = {arg0, arg1, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    if (rc != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot run %s: %s", what, exe, strerror(rc));
        goto done;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            st = CORE_ERR(CORE_ERR_INTERNAL, "%s: waiting for gnuplot: %s", what, strerror(errno));
            goto done;
        }
    char msg[512] = "";
    fflush(err);
    if (fseek(err, 0, SEEK_SET) == 0) {
        size_t n = fread(msg, 1, sizeof msg - 1, err);
        msg[n] = '\0';
        for (char *p = msg; *p; p++) /* one line in the error message */
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        st = CORE_ERR(CORE_ERR_INTERNAL, "%s: gnuplot failed (%s %d): %s", what,
                      WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                      msg[0] ? msg : "no message");
    else if (msg[0])
        core_log(CORE_LOG_DEBUG, "%s: gnuplot said: %s", what, msg);
done:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (in)
        fclose(in);
    if (err)
        fclose(err);
    return st;
}

/* The body of one plot after gp_head; `false` when there is nothing to draw. */
typedef bool (*plot_fn)(sbuf *b, const eval_report *r);

static bool plot_paralinguistic(sbuf *b, const eval_report *r)
{
    const char *names[TRAIN_N_HEADS_PARA];
    int nd = report_dims(r, names);
    if (nd == 0 || r->n == 0)
        return false;
    double w = 0.8 / (double)r->n;
    sb_add(b,
           "set ylabel 'accuracy (%%)'\nset yrange [0:100]\nset xrange [-0.6:%d.4]\n"
           "set style fill solid 0.8 noborder\nset xtics (",
           nd - 1);
    for (int k = 0; k < nd; k++) {
        sb_add(b, "%s", k ? ", " : "");
        gp_quote(b, names[k]);
        sb_add(b, " %d", k);
    }
    sb_add(b, ")\n");
    for (size_t i = 0; i < r->n; i++) {
        sb_add(b, "$acc%zu << EOD\n", i); /* x accuracy lo hi */
        for (int k = 0; k < nd; k++) {
            const eval_dim *d = find_dim(&r->results[i], names[k]);
            eval_ci a = d ? d->accuracy : (eval_ci){NAN, NAN, NAN};
            gp_num(b, k - 0.4 + w * ((double)i + 0.5));
            gp_num(b, a.value);
            gp_num(b, a.lo);
            gp_num(b, a.hi);
            sb_add(b, "\n");
        }
        sb_add(b, "EOD\n");
    }
    sb_add(b, "$majority << EOD\n");
    for (int k = 0; k < nd; k++) {
        gp_num(b, k);
        gp_num(b, first_dim(r, names[k])->majority);
        sb_add(b, "\n");
    }
    sb_add(b, "EOD\nplot ");
    for (size_t i = 0; i < r->n; i++) {
        sb_add(b, "$acc%zu using 1:2:(%.6g) with boxes lc %zu title ", i, w, i + 1);
        gp_quote(b, str_or(r->results[i].checkpoint, "?"));
        sb_add(b,
               ", \\\n  $acc%zu using 1:2:3:4 with yerrorbars lc rgb '#333333' pt 7 ps 0 notitle, "
               "\\\n  ",
               i);
    }
    sb_add(b, "$majority using 1:2:($1-0.45):($1+0.45) with xerrorbars lc rgb 'black' lw 2 pt 0 "
              "title 'majority class'\n");
    return true;
}

static bool plot_drift(sbuf *b, const eval_report *r)
{
    int T = 0;
    for (size_t i = 0; i < r->n; i++)
        T = turns_of(&r->results[i]) > T ? turns_of(&r->results[i]) : T;
    if (T == 0)
        return false;
    sb_add(b,
           "set xlabel 'turn'\nset ylabel 'judge persona score'\nset yrange [0:100]\n"
           "set xrange [0.5:%d.5]\nset xtics 1\n",
           T);
    for (size_t i = 0; i < r->n; i++) {
        sb_add(b, "$drift%zu << EOD\n", i);
        for (int t = 0; t < turns_of(&r->results[i]); t++) {
            gp_num(b, t + 1);
            gp_num(b, r->results[i].drift[t]);
            sb_add(b, "\n");
        }
        sb_add(b, "EOD\n");
    }
    const char *sep = "plot ";
    for (size_t i = 0; i < r->n; i++) {
        if (turns_of(&r->results[i]) == 0)
            continue;
        sb_add(b, "%s$drift%zu using 1:2 with linespoints lw 2 pt 7 lc %zu title ", sep, i, i + 1);
        gp_quote(b, str_or(r->results[i].checkpoint, "?"));
        sep = ", \\\n  ";
    }
    sb_add(b, "\n");
    return true;
}

static bool plot_latency(sbuf *b, const eval_report *r)
{
    bool any = false, logx = false;
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        if (!x->has_latency)
            continue;
        any = true;
        /* bins spread over decades (log-spaced edges) read better on a log axis */
        if (x->lat_edges_ms[0] > 0 && x->lat_edges_ms[EVAL_LAT_BINS] / x->lat_edges_ms[0] >= 100)
            logx = true;
    }
    if (!any)
        return false;
    sb_add(b,
           "set xlabel 'first-token latency (ms)'\nset ylabel 'replies'\nset yrange [0:*]\n"
           "set offsets 0, 0, graph 0.08, 0\n"
           "set style fill transparent solid 0.4 border\n%s",
           logx ? "set logscale x\n" : "");
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        if (!x->has_latency)
            continue;
        sb_add(b, "$lat%zu << EOD\n", i); /* centre count width */
        for (int k = 0; k < EVAL_LAT_BINS; k++) {
            double lo = x->lat_edges_ms[k], hi = x->lat_edges_ms[k + 1];
            if (!(hi > lo) || !isfinite(lo) || !isfinite(hi))
                continue;
            gp_num(b, (lo + hi) / 2);
            gp_num(b, (double)x->lat_hist[k]);
            gp_num(b, hi - lo);
            sb_add(b, "\n");
        }
        sb_add(b, "EOD\n");
        /* the 95th percentile as a dashed mark as high as the tallest bar */
        uint64_t top = 1;
        for (int k = 0; k < EVAL_LAT_BINS; k++)
            top = x->lat_hist[k] > top ? x->lat_hist[k] : top;
        sb_add(b, "$p95_%zu << EOD\n", i);
        gp_num(b, x->latency_p95_ms);
        gp_num(b, (double)top);
        sb_add(b, "\nEOD\n");
    }
    const char *sep = "plot ";
    for (size_t i = 0; i < r->n; i++) {
        const eval_result *x = &r->results[i];
        if (!x->has_latency)
            continue;
        sb_add(b, "%s$lat%zu using 1:2:3 with boxes lc %zu title ", sep, i, i + 1);
        gp_quote(b, str_or(x->checkpoint, "?"));
        sep = ", \\\n  ";
        if (isfinite(x->latency_p95_ms)) {
            sb_add(b, "%s$p95_%zu using 1:2 with impulses lw 2 dt 2 lc %zu title ", sep, i, i + 1);
            char *t = core_sprintf("%s p95", str_or(x->checkpoint, "?"));
            if (!t)
                b->failed = true;
            gp_quote(b, t ? t : "");
            free(t);
        }
    }
    sb_add(b, "\n");
    return true;
}

/* Points of one training curve. */
typedef struct series {
    double *x, *y;
    size_t n, cap;
} series;

static bool series_push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        double *nx = core_realloc(s->x, nc, sizeof *nx, "training curve");
        if (!nx)
            return false;
        s->x = nx;
        double *ny = core_realloc(s->y, nc, sizeof *ny, "training curve");
        if (!ny)
            return false;
        s->y = ny;
        s->cap = nc;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return true;
}

static void series_free(series *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* A data block of at most 4000 points (every k-th and the last) so long runs stay small. */
static void gp_series(sbuf *b, const char *name, const series *s)
{
    enum { MAX_POINTS = 4000 };
    size_t stride = s->n > MAX_POINTS ? (s->n + MAX_POINTS - 1) / MAX_POINTS : 1;
    sb_add(b, "$%s << EOD\n", name);
    for (size_t k = 0; k < s->n; k++)
        if (k % stride == 0 || k + 1 == s->n) {
            gp_num(b, s->x[k]);
            gp_num(b, s->y[k]);
            sb_add(b, "\n");
        }
    sb_add(b, "EOD\n");
}

static bool number_of(const json_t *o, const char *key, double *v)
{
    const json_t *j = json_object_get(o, key);
    if (!json_is_number(j))
        return false;
    *v = json_number_value(j);
    return isfinite(*v);
}

/* Reads the curves of a metrics.jsonl (train/trainer.c: "step" with "loss" every step,
 * "val_loss" and "val_para_accuracy" (0-1) at each evaluation). Unreadable logs and lines
 * that are not JSON objects (a crash's half line) are skipped: the plot is a convenience. */
static bool read_curves(const char *path, series out[3])
{
    char *text = NULL;
    size_t len = 0;
    if (core_file_read(path, (size_t)1 << 30, &text, &len) != CORE_OK) {
        core_log(CORE_LOG_WARN, "eval report: training curves skipped: %s", core_error_message());
        return false;
    }
    bool ok = true;
    for (char *line = text; ok && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        json_t *j = json_loads(line, JSON_DECODE_ANY, NULL);
        double step, v;
        if (json_is_object(j) && number_of(j, "step", &step)) {
            if (number_of(j, "loss", &v))
                ok &= series_push(&out[0], step, v);
            if (number_of(j, "val_loss", &v))
                ok &= series_push(&out[1], step, v);
            if (number_of(j, "val_para_accuracy", &v))
                ok &= series_push(&out[2], step, 100 * v);
        }
        json_decref(j);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return ok;
}

static bool plot_training(sbuf *b, const eval_report *r)
{
    if (!r->metrics_logs)
        return false;
    static const char *const suffix[3] = {"loss", "validation loss",
                                          "validation paralinguistic accuracy"};
    sbuf plot = {0};
    const char *sep = "plot ";
    bool any_acc = false;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->metrics_logs[i])
            continue;
        series s[3] = {{0}};
        if (!read_curves(r->metrics_logs[i], s)) {
            for (int k = 0; k < 3; k++)
                series_free(&s[k]);
            continue;
        }
        for (int k = 0; k < 3; k++) {
            if (s[k].n == 0)
                continue;
            char name[32];
            snprintf(name, sizeof name, "train%zu_%d", i, k);
            gp_series(b, name, &s[k]);
            static const char *const style[3] = {"lines lw 1.5", "linespoints lw 2 pt 7 ps 0.6",
                                                 "linespoints lw 2 dt 2 pt 5 ps 0.6"};
            sb_add(&plot, "%s$%s using 1:2 %swith %s lc %zu title ", sep, name,
                   k == 2 ? "axes x1y2 " : "", style[k], i + 1);
            char *t = core_sprintf("%s %s", str_or(r->results[i].checkpoint, "?"), suffix[k]);
            if (!t)
                plot.failed = true;
            gp_quote(&plot, t ? t : "");
            free(t);
            sep = ", \\\n  ";
            any_acc |= k == 2;
        }
        for (int k = 0; k < 3; k++)
            series_free(&s[k]);
    }
    bool drawn = plot.p != NULL;
    if (plot.failed)
        b->failed = true;
    if (drawn) {
        sb_add(b, "set xlabel 'step'\nset ylabel 'loss'\n");
        if (any_acc)
            sb_add(b, "set y2label 'validation paralinguistic accuracy (%%)'\n"
                      "set y2range [0:100]\nset y2tics\nset ytics nomirror\n");
        sb_add(b, "%s\n", plot.p);
    }
    free(plot.p);
    return drawn;
}

/* Draws one plot into dir/plots/<name>.svg through a temporary name; removes an older one when
 * there is nothing to draw. */
static core_status write_plot(const char *exe, const eval_report *r, const char *plots,
                              const char *name, const char *title, plot_fn fn)
{
    core_status st = CORE_OK;
    char *path = core_sprintf("%s/%s.svg", plots, name), *tmp = NULL;
    sbuf b = {0};
    if (!path)
        return CORE_ERR_NOMEM;
    tmp = core_tmp_path(path);
    if (!tmp) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    gp_head(&b, tmp, title);
    if (!fn(&b, r)) {
        if (unlink(path) != 0 && errno != ENOENT)
            core_log(CORE_LOG_WARN, "%s: cannot remove the older plot: %s", path, strerror(errno));
        goto done;
    }
    sb_add(&b, "unset output\n");
    if (b.failed) {
        st = CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory building the plot", path);
        goto done;
    }
    st = run_gnuplot(exe, b.p, b.n, path);
    if (st != CORE_OK)
        goto done;
    struct stat sb;
    if (stat(tmp, &sb) != 0 || sb.st_size == 0) {
        st = CORE_ERR(CORE_ERR_INTERNAL, "%s: gnuplot wrote nothing", path);
        goto done;
    }
    if (rename(tmp, path) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                      strerror(errno));
done:
    if (st != CORE_OK && tmp)
        unlink(tmp);
    free(b.p);
    free(tmp);
    free(path);
    return st;
}

core_status eval_report_write(const eval_report *r, const char *dir)
{
    CORE_ASSERT(r && dir);
    core_status st = CORE_OK;
    char *json = NULL, *md = NULL, *path = NULL, *plots = NULL, *exe = NULL;
    plots = core_sprintf("%s/plots", dir);
    if (!plots)
        return CORE_ERR_NOMEM;
    CORE_TRY(core_mkdir_p(dir));
    if (!r->no_plots)
        CORE_TRY(core_mkdir_p(plots));
    json = eval_report_json(r);
    md = eval_report_markdown(r);
    if (!json || !md) {
        st = core_error_code() != CORE_OK ? core_error_code() : CORE_ERR_NOMEM;
        goto done;
    }
    path = core_sprintf("%s/report.json", dir);
    if (!path) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    CORE_TRY(core_file_write_atomic(path, json, strlen(json)));
    free(path);
    path = core_sprintf("%s/report.md", dir);
    if (!path) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    CORE_TRY(core_file_write_atomic(path, md, strlen(md)));
    if (r->no_plots)
        goto done;
    exe = find_gnuplot();
    if (!exe) {
        core_log(CORE_LOG_WARN,
                 "%s: gnuplot is not on PATH: plots skipped (Debian: apt-get "
                 "install gnuplot-nox)",
                 plots);
        goto done;
    }
    CORE_TRY(write_plot(exe, r, plots, "paralinguistic",
                        "Paralinguistic comprehension: accuracy per dimension",
                        plot_paralinguistic));
    CORE_TRY(
        write_plot(exe, r, plots, "drift", "Persona consistency over self-play turns", plot_drift));
    CORE_TRY(write_plot(exe, r, plots, "latency", "First-token latency", plot_latency));
    CORE_TRY(write_plot(exe, r, plots, "training", "Training curves", plot_training));
done:
    free(exe);
    free(path);
    free(plots);
    free(json);
    free(md);
    return st;
}
