/* Tests of eval/report.c: the JSON report's keys, values and byte stability, the Markdown and
 * plain-text tables, the reference check, and the files (SVG plots by gnuplot) of
 * eval_report_write. The results are built by hand: no model runs here. */
#include "core/core.h"
#include "eval/eval.h"
#include "runner.h"

#include <jansson.h>
#include <sys/stat.h>

/* One reference value of score k for every checkpoint. */
static void set_ref(eval_cfg *c, int k, double v)
{
    c->ref[k][0] = v;
    c->n_ref[k] = 1;
}

static eval_cfg cfg;
static eval_set set;
static eval_result res[2];
static char name_smoke[] = "smoke", task_age[] = "age", task_scene[] = "scene";
static char source[] = "corpus /tmp/corpus split test";
static char ck_a[] = "runs/a/last.h5", ck_b[] = "runs/b/step_000600.h5";
static char *skipped[2] = {task_age, task_scene};

static eval_ci ci(double v, double lo, double hi)
{
    return (eval_ci){v, lo, hi};
}

static const eval_ci none = {NAN, NAN, NAN};

/* Two checkpoints: the first measured everywhere (latency too), the second only on the
 * paralinguistic dimensions (dialogue and persona not measured). */
static eval_report fixture(void)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name_smoke;
    cfg.seed = 7;
    cfg.bootstrap = 200;
    cfg.candidates = 8;
    cfg.weight_dialogue = 0.4;
    cfg.weight_paralinguistic = 0.4;
    cfg.weight_persona = 0.2;
    cfg.hygiene = true;
    memset(cfg.n_ref, 0, sizeof cfg.n_ref);
    cfg.tolerance = 2.0;

    memset(&set, 0, sizeof set);
    set.source = source;
    memset(set.sha256, 'a', 64);
    set.n = 40;
    set.skipped = 3;
    set.skipped_tasks = skipped;
    set.n_skipped_tasks = 2;

    memset(res, 0, sizeof res);
    eval_result *a = &res[0], *b = &res[1];
    a->checkpoint = ck_a;
    memset(a->checkpoint_sha256, 'b', 64);
    a->step = 1200;
    a->params = 1234567;
    a->items = 40;
    a->hygiene_checked = 40;
    a->lineage_hashes = 500;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        a->dims[k] = b->dims[k] = (eval_dim){train_para_names[k], 2, 0, none, NAN, NAN};
    }
    a->dims[0] = (eval_dim){"emotion", 10, 40, ci(52.5, 40, 65), 100.0 / 3, 20};
    a->dims[1] = (eval_dim){"laughter", 2, 40, ci(90, 80, 97.5), 60.125, 85};
    a->n_dims = 2;
    a->paralinguistic = ci(71.25, 62.5, 80);
    a->dialogue_items = 40;
    a->candidates = 8;
    a->hits1 = ci(45, 30, 60);
    a->perplexity = 3.2109876;
    a->cue_fit = ci(60, 45, 75);
    a->dialogue = ci(52.5, 40, 65);
    a->drift_dialogues = 4;
    a->drift_turns = 4;
    a->drift[0] = 80;
    a->drift[1] = 75;
    a->drift[2] = 70.5;
    a->drift[3] = NAN;
    a->prompt_line = ci(75.2, 70, 80);
    a->line_line = ci(64.8, 60, 70);
    a->persona = ci(70, 66, 74);
    a->has_latency = true;
    a->latency_n = 20;
    a->latency_p50_ms = 41.5;
    a->latency_p95_ms = 88.25;
    a->latency_max_ms = 120;
    a->rtf = 0.42;
    for (int k = 0; k <= EVAL_LAT_BINS; k++)
        a->lat_edges_ms[k] = 10.0 * k;
    a->lat_hist[3] = 5;
    a->lat_hist[4] = 9;
    a->lat_hist[8] = 4;
    a->lat_hist[11] = 2;
    snprintf(a->machine, sizeof a->machine, "test cpu x86_64");
    a->threads = 2;
    a->overall = ci(61.25, 58.04, 64.12);
    a->seconds = 12.5;

    b->checkpoint = ck_b; /* '_' is a subscript in gnuplot's text */
    memset(b->checkpoint_sha256, 'c', 64);
    b->step = 600;
    b->params = 1234567;
    b->items = 40;
    b->hygiene_checked = 40;
    b->lineage_hashes = 300;
    b->dims[0] = (eval_dim){"emotion", 10, 40, ci(40, 27.5, 55), 25, 20};
    b->dims[1] = (eval_dim){"laughter", 2, 40, ci(85, 72.5, 95), 45.9, 85};
    b->n_dims = 2;
    b->paralinguistic = ci(62.5, 52.5, 72.5);
    b->hits1 = b->cue_fit = b->dialogue = none;
    b->perplexity = NAN;
    b->prompt_line = b->line_line = b->persona = none;
    b->overall = ci(62.5, 52.5, 72.5);
    b->seconds = 3;
    return (eval_report){&cfg, &set, res, 2, NULL, false};
}

/* Keys of object `o` in order, joined by spaces (static buffer). */
static const char *keys_of(json_t *o)
{
    static char buf[1024];
    buf[0] = '\0';
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        if (buf[0])
            strcat(buf, " ");
        strcat(buf, json_object_iter_key(it));
    }
    return buf;
}

static double num(const json_t *o, const char *path)
{
    json_t *v = json_object_get(o, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_json_has_documented_keys_in_order_and_values(void)
{
    eval_report r = fixture();
    char *text = eval_report_json(&r);
    CHECK(text != NULL);
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    CHECK(root != NULL);
    if (!root) {
        free(text);
        return;
    }
    CHECK_STR(keys_of(root), "format spec set checkpoints");
    CHECK_STR(json_string_value(json_object_get(root, "format")), "troupe.eval-report/1");
    json_t *spec = json_object_get(root, "spec");
    CHECK_STR(keys_of(spec), "name seed bootstrap candidates weights");
    CHECK_STR(keys_of(json_object_get(spec, "weights")), "dialogue paralinguistic persona");
    CHECK_NEAR(num(json_object_get(spec, "weights"), "persona"), 0.2, 0);
    json_t *s = json_object_get(root, "set");
    CHECK_STR(keys_of(s), "source sha256 items skipped skipped_tasks");
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "items")), 40);
    CHECK_STR(json_string_value(json_array_get(json_object_get(s, "skipped_tasks"), 1)), "scene");

    json_t *cks = json_object_get(root, "checkpoints");
    CHECK_EQ_INT(json_array_size(cks), 2);
    json_t *a = json_array_get(cks, 0), *b = json_array_get(cks, 1);
    CHECK_STR(keys_of(a), "checkpoint sha256 step params items hygiene overall paralinguistic "
                          "dialogue persona latency");
    CHECK_STR(
        keys_of(b),
        "checkpoint sha256 step params items hygiene overall paralinguistic dialogue persona");
    CHECK_STR(json_string_value(json_object_get(a, "checkpoint")), "runs/a/last.h5");
    CHECK_EQ_INT(json_integer_value(json_object_get(a, "params")), 1234567);
    CHECK_STR(keys_of(json_object_get(a, "hygiene")), "checked refused lineage_hashes");
    CHECK_EQ_INT(
        json_integer_value(json_object_get(json_object_get(a, "hygiene"), "lineage_hashes")), 500);
    json_t *ov = json_object_get(a, "overall");
    CHECK_STR(keys_of(ov), "value lo hi");
    CHECK_NEAR(num(ov, "value"), 61.25, 0);
    CHECK_NEAR(num(ov, "lo"), 58.04, 0);

    json_t *para = json_object_get(a, "paralinguistic");
    CHECK_STR(keys_of(para), "score dimensions");
    json_t *dims = json_object_get(para, "dimensions");
    CHECK_EQ_INT(json_array_size(dims), 2); /* only the dimensions with labelled items */
    json_t *d0 = json_array_get(dims, 0);
    CHECK_STR(keys_of(d0), "name classes n accuracy macro_f1 majority");
    CHECK_STR(json_string_value(json_object_get(d0, "name")), "emotion");
    CHECK_NEAR(num(d0, "macro_f1"), 33.3333, 0); /* 6 significant digits */
    CHECK_CONTAINS(text, "\"macro_f1\": 33.3333,");

    json_t *dia = json_object_get(a, "dialogue");
    CHECK_STR(keys_of(dia), "score hits1 candidates perplexity cue_fit items");
    CHECK_NEAR(num(dia, "perplexity"), 3.21099, 0);
    json_t *per = json_object_get(a, "persona");
    CHECK_STR(keys_of(per), "score prompt_line line_line dialogues turns drift");
    json_t *drift = json_object_get(per, "drift");
    CHECK_EQ_INT(json_array_size(drift), 4);
    CHECK_NEAR(json_number_value(json_array_get(drift, 2)), 70.5, 0);
    CHECK(json_is_null(json_array_get(drift, 3)));
    json_t *lat = json_object_get(a, "latency");
    CHECK_STR(keys_of(lat), "n p50_ms p95_ms max_ms rtf machine threads histogram");
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(lat, "histogram"), "edges_ms")),
                 EVAL_LAT_BINS + 1);
    CHECK_EQ_INT(json_integer_value(json_array_get(
                     json_object_get(json_object_get(lat, "histogram"), "counts"), 4)),
                 9);

    /* not measured: the key stays, its score is null */
    json_t *bd = json_object_get(b, "dialogue");
    CHECK(json_is_null(json_object_get(bd, "score")));
    CHECK(json_is_null(json_object_get(bd, "perplexity")));
    CHECK(json_is_null(json_object_get(json_object_get(b, "persona"), "score")));
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(b, "persona"), "drift")), 0);
    CHECK(strstr(text, "seconds") == NULL); /* timing never in the report */
    CHECK(strstr(text, "12.5") == NULL);
    CHECK(strstr(text, "reference") == NULL); /* the spec has no reference values */
    CHECK(text[strlen(text) - 1] == '\n');
    json_decref(root);
    free(text);
}

static void test_json_is_byte_identical_twice(void)
{
    eval_report r = fixture();
    char *a = eval_report_json(&r), *b = eval_report_json(&r);
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
}

static void test_json_reference_section(void)
{
    eval_report r = fixture();
    set_ref(&cfg, 0, 61.0);
    set_ref(&cfg, 1, 52.0);
    char *text = eval_report_json(&r);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(root != NULL);
    json_t *a = json_array_get(json_object_get(root, "checkpoints"), 0);
    json_t *b = json_array_get(json_object_get(root, "checkpoints"), 1);
    json_t *ref = json_object_get(a, "reference");
    CHECK_STR(keys_of(ref), "tolerance overall dialogue within");
    CHECK_NEAR(num(ref, "tolerance"), 2.0, 0);
    CHECK_NEAR(num(json_object_get(ref, "overall"), "diff"), 0.25, 0);
    CHECK(json_is_true(json_object_get(ref, "within")));
    json_t *rb = json_object_get(b, "reference");
    CHECK(json_is_null(json_object_get(json_object_get(rb, "dialogue"), "measured")));
    CHECK(json_is_false(json_object_get(rb, "within")));
    json_decref(root);
    free(text);
}

static void test_markdown_has_published_table_shape(void)
{
    eval_report r = fixture();
    char *md = eval_report_markdown(&r);
    CHECK(md != NULL);
    CHECK_CONTAINS(md, "| checkpoint | step | overall | general dialogue | paralinguistic | "
                       "persona | latency p95 |");
    CHECK_CONTAINS(md, "| runs/a/last.h5 | 1200 | 61.2 [58.0, 64.1] | 52.5 [40.0, 65.0] | "
                       "71.2 [62.5, 80.0] | 70.0 [66.0, 74.0] | 88.2 ms |");
    CHECK_CONTAINS(md, "| runs/b/step_000600.h5 | 600 | 62.5 [52.5, 72.5] | \xe2\x80\x94 |");
    CHECK_CONTAINS(md, "sha256 `aaaaaaaaaaaa`, 40 items");
    CHECK_CONTAINS(md, "| emotion | 10 | 40 | 52.5 [40.0, 65.0] | 33.3 | 40.0 [27.5, 55.0] | "
                       "25.0 | 20.0 |");
    CHECK_CONTAINS(md, "45.0 [30.0, 60.0] of 8");
    CHECK_CONTAINS(md, "| checkpoint | turn 1 | turn 2 | turn 3 | turn 4 |");
    CHECK_CONTAINS(md, "| 41.5 ms | 88.2 ms | 120.0 ms | 0.420 | test cpu x86_64 | 2 |");
    CHECK_CONTAINS(md, "40 items checked against the checkpoint's lineage of 500 audio hashes, "
                       "0 refused");
    CHECK_CONTAINS(md, "docs/eval.md");
    char *md2 = eval_report_markdown(&r);
    CHECK(md2 && !strcmp(md, md2));
    free(md);
    free(md2);
}

/* Display columns of one line (code points). */
static size_t line_width(const char *s)
{
    size_t w = 0;
    for (; *s && *s != '\n'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void test_table_is_aligned_and_shows_the_reference(void)
{
    eval_report r = fixture();
    char *t = eval_report_table(&r);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(strstr(t, "reference") == NULL);
    const char *head = strstr(t, "checkpoint");
    CHECK(head != NULL);
    if (head) {
        const char *l1 = strchr(head, '\n') + 1, *l2 = strchr(l1, '\n') + 1;
        /* the last column is right-aligned: every row ends in the same column */
        CHECK_EQ_INT(line_width(head), line_width(l1));
        CHECK_EQ_INT(line_width(head), line_width(l2));
        CHECK_CONTAINS(l1, "61.2 [58.0, 64.1]");
    }
    free(t);

    set_ref(&cfg, 0, 61.0);
    t = eval_report_table(&r);
    CHECK_CONTAINS(t, "runs/a/last.h5: reference: overall 61.0 (diff +0.2, tolerance 2.0) -> "
                      "within");
    CHECK_CONTAINS(t, "runs/b/step_000600.h5: reference: overall 61.0 (diff +1.5, tolerance "
                      "2.0) -> within");
    free(t);
    set_ref(&cfg, 1, 50.0);
    t = eval_report_table(&r);
    CHECK_CONTAINS(t, "dialogue 50.0 (not measured) -> OUTSIDE");
    free(t);
}

static void test_within_tolerance_cases(void)
{
    eval_report r = fixture();
    CHECK(eval_report_within(&r, 0)); /* no reference values */
    CHECK(eval_report_within(&r, 1));
    set_ref(&cfg, 0, 60.0);
    CHECK(eval_report_within(&r, 0)); /* 61.25: 1.25 away */
    set_ref(&cfg, 0, 59.25);
    CHECK(eval_report_within(&r, 0)); /* exactly the tolerance away */
    set_ref(&cfg, 0, 65.0);
    CHECK(!eval_report_within(&r, 0)); /* 3.75 away */
    CHECK(!eval_report_within(&r, 1)); /* 62.5: 2.5 away */
    cfg.n_ref[0] = 0;
    set_ref(&cfg, 3, 70.0);
    CHECK(eval_report_within(&r, 0));
    CHECK(!eval_report_within(&r, 1)); /* a reference value but not measured */
    cfg.n_ref[3] = 0;
    set_ref(&cfg, 2, 71.0);
    cfg.tolerance = 0.1;
    CHECK(!eval_report_within(&r, 0)); /* 0.25 away */
    cfg.tolerance = 0.25;
    CHECK(eval_report_within(&r, 0));
}

static bool file_bytes(const char *path, char **out, size_t *n)
{
    return core_file_read(path, 0, out, n) == CORE_OK;
}

static bool is_svg(const char *path)
{
    char *t = NULL;
    size_t n = 0;
    bool ok = file_bytes(path, &t, &n) && n > 0 && !strncmp(t, "<?xml", 5) && strstr(t, "<svg") &&
              strstr(t, "</svg>");
    free(t);
    return ok;
}

static bool same_bytes(const char *p, const char *q)
{
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    bool ok = file_bytes(p, &a, &na) && file_bytes(q, &b, &nb) && na == nb && !memcmp(a, b, na);
    free(a);
    free(b);
    return ok;
}

static bool have_gnuplot(void)
{
    char *out = NULL;
    int rc = test_run("command -v gnuplot", &out);
    free(out);
    return rc == 0;
}

static bool exists(const char *dir, const char *rel)
{
    char *p = core_sprintf("%s/%s", dir, rel);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0;
    free(p);
    return ok;
}

static void test_write_creates_report_and_stable_plots(void)
{
    char tmp[256];
    CHECK(test_tmpdir(tmp, sizeof tmp, "eval-report"));
    eval_report r = fixture();
    char *dir = core_sprintf("%s/out/a", tmp), *dir2 = core_sprintf("%s/out/b", tmp);
    CHECK(eval_report_write(&r, dir) == CORE_OK);
    CHECK(eval_report_write(&r, dir2) == CORE_OK);
    char *json = eval_report_json(&r), *got = NULL;
    size_t n = 0;
    char *p = core_sprintf("%s/report.json", dir);
    CHECK(file_bytes(p, &got, &n));
    CHECK(got && json && n == strlen(json) && !memcmp(got, json, n));
    free(p);
    free(got);
    free(json);
    CHECK(exists(dir, "report.md"));
    CHECK(!exists(dir, "plots/training.svg")); /* no metrics log */
    if (have_gnuplot()) {
        static const char *const plots[] = {"paralinguistic", "drift", "latency"};
        for (int k = 0; k < 3; k++) {
            char *a = core_sprintf("%s/plots/%s.svg", dir, plots[k]);
            char *b = core_sprintf("%s/plots/%s.svg", dir2, plots[k]);
            CHECK(is_svg(a));
            CHECK(same_bytes(a, b));
            free(a);
            free(b);
        }
        /* writing again into the same folder replaces the files with the same bytes */
        char *before = core_sprintf("%s/plots/drift.svg", dir2);
        CHECK(eval_report_write(&r, dir) == CORE_OK);
        char *after = core_sprintf("%s/plots/drift.svg", dir);
        CHECK(same_bytes(before, after));
        free(before);
        free(after);
        char *para = core_sprintf("%s/plots/paralinguistic.svg", dir), *t = NULL;
        CHECK(file_bytes(para, &t, &n));
        CHECK_CONTAINS(t, "runs/b/step_000600.h5"); /* legend text taken literally */
        CHECK_CONTAINS(t, "majority class");
        free(t);
        free(para);
    } else {
        printf("    (gnuplot not on PATH: plots not checked)\n");
    }
    free(dir);
    free(dir2);
    core_rmtree(tmp);
}

static void test_write_draws_training_curves_from_metrics_log(void)
{
    if (!have_gnuplot()) {
        printf("    (gnuplot not on PATH: skipped)\n");
        return;
    }
    char tmp[256];
    CHECK(test_tmpdir(tmp, sizeof tmp, "eval-report-train"));
    char *log = core_sprintf("%s/metrics.jsonl", tmp);
    const char *lines = "{\"step\": 1, \"loss\": 5.5, \"token_loss\": 5.0, \"lr\": 0.001}\n"
                        "{\"step\": 2, \"loss\": 4.75, \"token_loss\": 4.5, \"lr\": 0.001}\n"
                        "{\"step\": 2, \"val_loss\": 4.9, \"val_para_accuracy\": 0.35}\n"
                        "{\"step\": 3, \"loss\": 4.0}\n"
                        "{\"step\": 4, \"loss\": 3.5}\n"
                        "{\"step\": 4, \"val_loss\": 4.1, \"val_para_accuracy\": 0.5}\n"
                        "{\"step\": 5, \"lo"; /* a crash's half line */
    CHECK(core_file_write_atomic(log, lines, strlen(lines)) == CORE_OK);
    const char *logs[2] = {log, NULL};
    eval_report r = fixture();
    r.metrics_logs = logs;
    char *dir = core_sprintf("%s/out", tmp), *dir2 = core_sprintf("%s/out2", tmp);
    CHECK(eval_report_write(&r, dir) == CORE_OK);
    CHECK(eval_report_write(&r, dir2) == CORE_OK);
    char *a = core_sprintf("%s/plots/training.svg", dir);
    char *b = core_sprintf("%s/plots/training.svg", dir2);
    CHECK(is_svg(a));
    CHECK(same_bytes(a, b));
    char *t = NULL;
    size_t n = 0;
    CHECK(file_bytes(a, &t, &n));
    CHECK_CONTAINS(t, "runs/a/last.h5 validation loss");
    free(t);
    /* an unreadable log is skipped with a warning, the rest still written */
    logs[0] = "/nonexistent/metrics.jsonl";
    core_log_level lvl = core_log_get_level();
    core_log_set_level(CORE_LOG_ERROR);
    CHECK(eval_report_write(&r, dir) == CORE_OK);
    core_log_set_level(lvl);
    CHECK(!exists(dir, "plots/training.svg")); /* the older one removed: nothing to draw */
    free(a);
    free(b);
    free(dir);
    free(dir2);
    free(log);
    core_rmtree(tmp);
}

static void test_write_without_gnuplot_skips_plots(void)
{
    char tmp[256];
    CHECK(test_tmpdir(tmp, sizeof tmp, "eval-report-nognuplot"));
    char *old = getenv("PATH") ? core_strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent-troupe-test", 1);
    core_log_level lvl = core_log_get_level();
    core_log_set_level(CORE_LOG_ERROR); /* the warning is expected */
    eval_report r = fixture();
    CHECK(eval_report_write(&r, tmp) == CORE_OK);
    core_log_set_level(lvl);
    if (old)
        setenv("PATH", old, 1);
    else
        unsetenv("PATH");
    free(old);
    CHECK(exists(tmp, "report.json"));
    CHECK(exists(tmp, "report.md"));
    CHECK(exists(tmp, "plots"));
    CHECK(!exists(tmp, "plots/drift.svg"));
    core_rmtree(tmp);
}

static void test_write_error_names_the_path(void)
{
    char tmp[256];
    CHECK(test_tmpdir(tmp, sizeof tmp, "eval-report-err"));
    char *file = core_sprintf("%s/file", tmp), *dir = core_sprintf("%s/file/sub", tmp);
    CHECK(core_file_write_atomic(file, "x", 1) == CORE_OK);
    eval_report r = fixture();
    CHECK(eval_report_write(&r, dir) != CORE_OK);
    CHECK_CONTAINS(core_error_message(), file);
    free(file);
    free(dir);
    core_rmtree(tmp);
}

int main(void)
{
    RUN(test_json_has_documented_keys_in_order_and_values);
    RUN(test_json_is_byte_identical_twice);
    RUN(test_json_reference_section);
    RUN(test_markdown_has_published_table_shape);
    RUN(test_table_is_aligned_and_shows_the_reference);
    RUN(test_within_tolerance_cases);
    RUN(test_write_creates_report_and_stable_plots);
    RUN(test_write_draws_training_curves_from_metrics_log);
    RUN(test_write_without_gnuplot_skips_plots);
    RUN(test_write_error_names_the_path);
    return TEST_SUMMARY();
}
