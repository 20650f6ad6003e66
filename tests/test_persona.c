/* Tests of persona: the role schema's error paths, sets, author, expansion counts,
 * near-duplicate removal, determinism, the HDF5 layout and kNN against brute force. */
#include "persona/persona.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

#define ROLE_TEMPLATE                                                                              \
    "schema: \"troupe.role/1\"\n"                                                                  \
    "id: \"%s\"\n"                                                                                 \
    "names: {en: \"Test Role\", zh: \"测试角色\"}\n"                                           \
    "archetype: \"%s\"\n"                                                                          \
    "occupation: \"tester\"\n"                                                                     \
    "description: \"%s\"\n"                                                                        \
    "languages: [%s]\n"                                                                            \
    "traits: {openness: 0.6, conscientiousness: 0.9, extraversion: 0.3, agreeableness: 0.8, "      \
    "neuroticism: 0.1}\n"                                                                          \
    "style: {formality: 0.6, warmth: %s, energy: 0.3, verbosity: 0.4, humour: 0.2, empathy: 0.7, " \
    "assertiveness: 0.5}\n"                                                                        \
    "prosody: {pitch_offset_st: -1.0, pitch_range_st: 5, speech_rate_wpm: 135, pause_rate_pm: "    \
    "14, "                                                                                         \
    "loudness_db: -1}\n"                                                                           \
    "emotion: {baseline: \"calm\", range: [%s]}\n"                                                 \
    "scenes: [%s]\n"                                                                               \
    "catchphrases: [\"One step at a time.\", \"我们一步一步来。\"]\n"                      \
    "taboos: [\"never blames the user\"]\n"                                                        \
    "domains: [\"networking\"]\n"                                                                  \
    "provenance: {author: \"tests\", licence: \"CC-BY-4.0\", created_at: "                         \
    "\"2026-11-23T00:00:00Z\", "                                                                   \
    "parent: %s}\n"

typedef struct role_spec {
    const char *id, *archetype, *description, *languages, *warmth, *emotions, *scenes, *parent;
} role_spec;

static void write_role(const char *dir, const role_spec *s)
{
    char *path = core_sprintf("%s/%s.yaml", dir, s->id);
    FILE *f = fopen(path, "w");
    fprintf(f, ROLE_TEMPLATE, s->id, s->archetype ? s->archetype : "assistant",
            s->description ? s->description : "A patient engineer who explains one step at a time.",
            s->languages ? s->languages : "\"en\", \"zh\"", s->warmth ? s->warmth : "0.6",
            s->emotions ? s->emotions : "\"calm\", \"neutral\", \"happy\"",
            s->scenes ? s->scenes : "\"office\", \"home\"", s->parent ? s->parent : "null");
    fclose(f);
    free(path);
}

static char *make_dir(const char *name)
{
    char *d = core_sprintf("%s/%s", tmpdir, name);
    core_mkdir_p(d);
    return d;
}

static char *write_text(const char *dir, const char *name, const char *text)
{
    char *p = core_sprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

/* ---------------------------------------------------------------- schema */

static void test_role_loads_valid_file(void)
{
    char *d = make_dir("valid");
    write_role(d, &(role_spec){.id = "calm-tech"});
    char *p = core_sprintf("%s/calm-tech.yaml", d);
    persona_role r;
    CHECK_EQ_INT(persona_role_load(p, &r, NULL), CORE_OK);
    CHECK_STR(r.id, "calm-tech");
    CHECK_STR(r.name_zh, "测试角色");
    CHECK_EQ_INT(r.archetype, 0);
    CHECK_EQ_INT(r.languages, 3);
    CHECK_NEAR(r.prosody[2], 135, 0);
    CHECK_EQ_INT(r.emotion_baseline, 1);
    CHECK_EQ_INT(r.catchphrases.n, 2);
    CHECK(r.parent == NULL);
    /* Emitting and reading back gives the same role. */
    char *y = persona_role_emit(&r);
    char *p2 = write_text(d, "x.yaml", y);
    persona_role r2;
    /* the id must match the file name, so the copy goes under its own name */
    CHECK_EQ_INT(persona_role_load(p2, &r2, NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "does not match the file name 'x.yaml'");
    unlink(p2);
    free(p2);
    p2 = write_text(d, "calm-tech.yaml", y);
    CHECK_EQ_INT(persona_role_load(p2, &r2, NULL), CORE_OK);
    char *y2 = persona_role_emit(&r2);
    CHECK_STR(y, y2);
    free(y);
    free(y2);
    free(p2);
    persona_role_free(&r);
    persona_role_free(&r2);
    free(p);
    free(d);
}

static void test_role_reports_every_problem_with_line_and_column(void)
{
    char *d = make_dir("bad");
    char *p = write_text(d, "bad-role.yaml",
                         "schema: \"troupe.role/1\"\n"
                         "id: \"bad-role\"\n"
                         "names: {en: \"Bad\", zh: \"坏\"}\n"
                         "archetype: \"asistant\"\n"
                         "occupation: \"x\"\n"
                         "description: \"Too short\"\n"
                         "languages: [\"en\"]\n"
                         "traits: {openness: 1.6, conscientiousness: 0.9, extraversion: 0.3, "
                         "agreeableness: 0.8, neuroticism: 0.1}\n"
                         "style: {formality: 0.6, warmth: 0.6, energy: 0.3, verbosity: 0.4, "
                         "humour: 0.2, empathy: 0.7, assertiveness: 0.5}\n"
                         "prosody: {pitch_offset_st: -1.0, pitch_range_st: 5, speech_rate_wpm: "
                         "135, pause_rate_pm: 14, loudness_db: -1}\n"
                         "emotion: {baseline: \"calm\", range: [\"happy\"]}\n"
                         "scenes: [\"office\"]\n"
                         "catchphrases: [\"Hello there.\"]\n"
                         "taboos: [\"never rude\"]\n"
                         "domains: [\"networking\"]\n"
                         "provenance: {author: \"t\", licence: \"CC0-1.0\", created_at: "
                         "\"2026-11-23T00:00:00Z\", parent: null}\n"
                         "catchprases: [\"typo\"]\n");
    persona_role r;
    persona_problems probs = {0};
    CHECK_EQ_INT(persona_role_load(p, &r, &probs), CORE_ERR_SCHEMA);
    CHECK_EQ_INT(probs.n, 5);
    const char *want[] = {
        "bad-role.yaml:17:1: unknown key 'catchprases' (did you mean 'catchphrases'?)",
        ("bad-role.yaml:4:12: 'archetype' is 'asistant', not one of the known values (did you "
         "mean 'assistant'?)"),
        "bad-role.yaml:6:14: 'description' has 9 characters, expected 20 to 600",
        "bad-role.yaml:8:20: 'traits.openness' is 1.6, outside [0, 1]",
        "bad-role.yaml:11:36: 'emotion.range' must include the baseline 'calm'"};
    for (size_t i = 0; i < 5 && i < probs.n; i++)
        CHECK_CONTAINS(probs.items[i], want[i]);
    CHECK(r.id == NULL);
    persona_problems_free(&probs);
    free(p);
    free(d);
}

static void test_role_rejects_missing_keys_alias_bomb_huge_and_non_utf8(void)
{
    char *d = make_dir("worse");
    persona_role r;
    persona_problems probs = {0};
    char *p = write_text(d, "short.yaml", "schema: \"troupe.role/1\"\nid: \"short\"\n");
    CHECK_EQ_INT(persona_role_load(p, &r, &probs), CORE_ERR_SCHEMA);
    CHECK(probs.n >= 14);
    CHECK_CONTAINS(probs.items[0], "short.yaml:1:1: missing key 'names'");
    persona_problems_free(&probs);
    free(p);
    p = write_text(d, "bomb.yaml", "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: [*b,*b]\n");
    CHECK_EQ_INT(persona_role_load(p, &r, NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "bomb.yaml:1:4: anchors are not allowed");
    free(p);
    p = write_text(d, "latin1.yaml", "id: \"caf\xe9\"\n");
    CHECK_EQ_INT(persona_role_load(p, &r, NULL), CORE_ERR_PARSE);
    CHECK_CONTAINS(core_error_message(), "latin1.yaml:1:");
    free(p);
    char *big = malloc(70000);
    memset(big, '#', 69999);
    big[69999] = '\0';
    p = write_text(d, "huge.yaml", big);
    free(big);
    CHECK_EQ_INT(persona_role_load(p, &r, NULL), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "huge.yaml: file is 69999 bytes, more than the limit");
    free(p);
    free(d);
}

static void test_set_reports_duplicates_missing_parent_and_empty_folder(void)
{
    char *d = make_dir("set");
    write_role(d, &(role_spec){.id = "root-a"});
    write_role(d, &(role_spec){.id = "child-b", .parent = "\"root-zz\""});
    char *p = write_text(d, "dup.yaml", "");
    unlink(p);
    free(p);
    persona_set set;
    persona_problems probs = {0};
    CHECK_EQ_INT(persona_set_load(d, &set, &probs), CORE_ERR_SCHEMA);
    CHECK_EQ_INT(probs.n, 1);
    CHECK_CONTAINS(probs.items[0], "child-b.yaml: parent 'root-zz' does not exist");
    CHECK_EQ_INT(set.n, 0);
    persona_problems_free(&probs);
    char *e = make_dir("empty");
    CHECK_EQ_INT(persona_set_load(e, &set, &probs), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "no role files");
    persona_problems_free(&probs);
    char *missing = core_sprintf("%s/nope", tmpdir);
    CHECK_EQ_INT(persona_set_load(missing, &set, &probs), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "nope: cannot open roles folder");
    persona_problems_free(&probs);
    free(missing);
    free(e);
    free(d);
}

/* ---------------------------------------------------------------- author */

static persona_author_cfg author_cfg(int64_t count)
{
    persona_author_cfg c;
    const char *sets[1];
    char buf[64];
    snprintf(buf, sizeof buf, "count=%lld", (long long)count);
    sets[0] = buf;
    CHECK_EQ_INT(core_cfg_load(&persona_author_schema, NULL, sets, 1, &c), CORE_OK);
    return c;
}

static void test_author_is_deterministic_across_threads_and_records_derivation(void)
{
    char *a = make_dir("arch");
    write_role(a, &(role_spec){.id = "root-one"});
    write_role(a, &(role_spec){.id = "root-two",
                               .archetype = "narrator",
                               .scenes = "\"bedtime\", \"broadcast\", \"museum\""});
    persona_set arch;
    CHECK_EQ_INT(persona_set_load(a, &arch, NULL), CORE_OK);
    persona_author_cfg c = author_cfg(60);
    char *o1 = core_sprintf("%s/authored1", tmpdir), *o2 = core_sprintf("%s/authored2", tmpdir);
    setenv("TROUPE_THREADS", "1", 1);
    CHECK_EQ_INT(persona_author(&c, NULL, &arch, o1), CORE_OK);
    setenv("TROUPE_THREADS", "3", 1);
    CHECK_EQ_INT(persona_author(&c, NULL, &arch, o2), CORE_OK);
    unsetenv("TROUPE_THREADS");
    char *cmd = core_sprintf("diff -r %s %s >/dev/null", o1, o2);
    CHECK_EQ_INT(system(cmd), 0);
    free(cmd);
    /* Refuses to overwrite. */
    CHECK_EQ_INT(persona_author(&c, NULL, &arch, o1), CORE_ERR_USAGE);
    CHECK_CONTAINS(core_error_message(), "already exists");
    persona_set set;
    persona_problems probs = {0};
    CHECK_EQ_INT(persona_set_load(o1, &set, &probs), CORE_OK);
    CHECK_EQ_INT(set.n, 62);
    long i = persona_set_find(&set, "root-two-000001");
    CHECK(i >= 0);
    if (i >= 0) {
        const persona_role *r = &set.roles[i];
        CHECK_STR(r->parent, "root-two");
        CHECK(r->has_derivation);
        CHECK_EQ_INT(r->deriv_index, 1);
        CHECK_EQ_INT(r->archetype, 5);
        CHECK_STR(r->deriv_method, "persona author");
        CHECK(r->deriv_occupation && r->deriv_background && r->deriv_quirk);
        CHECK_EQ_INT(persona_set_root(&set, (size_t)i), (size_t)persona_set_find(&set, "root-two"));
    }
    persona_set_free(&set);
    persona_problems_free(&probs);
    persona_set_free(&arch);
    core_cfg_free(&persona_author_schema, &c);
    free(o1);
    free(o2);
    free(a);
}

/* ---------------------------------------------------------------- build */

static persona_expand_cfg expand_cfg(const char *set1, const char *set2)
{
    persona_expand_cfg c;
    const char *sets[2] = {set1, set2};
    size_t n = (set1 != NULL) + (set2 != NULL);
    CHECK_EQ_INT(core_cfg_load(&persona_expand_schema, NULL, set1 ? sets : sets + 1, n, &c),
                 CORE_OK);
    return c;
}

static void test_build_expands_every_allowed_axis_value(void)
{
    char *d = make_dir("expand");
    /* 3 scenes x 2 languages x 4 emotions x 3 pacing x 3 registers = 216 rows */
    write_role(d, &(role_spec){.id = "solo",
                               .scenes = "\"office\", \"home\", \"in_car\"",
                               .emotions = "\"calm\", \"neutral\", \"happy\", \"sad\""});
    persona_set set;
    CHECK_EQ_INT(persona_set_load(d, &set, NULL), CORE_OK);
    persona_expand_cfg c = expand_cfg(NULL, NULL);
    char *out = core_sprintf("%s/expand.h5", tmpdir);
    persona_build_stats st;
    CHECK_EQ_INT(persona_build(&c, "x: 1\n", &set, NULL, 0, out, &st), CORE_OK);
    CHECK_EQ_INT(st.rows_expanded, 216);
    CHECK_EQ_INT(st.rows_removed, 0);
    CHECK_EQ_INT(st.rows, 216);
    core_cfg_free(&persona_expand_schema, &c);
    /* Only two axes: 3 scenes x 3 pacing. */
    c = expand_cfg("axes=scene,pacing", NULL);
    /* An existing output is replaced whole, by rename, once the new one is complete. */
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_OK);
    CHECK_EQ_INT(st.rows, 9);
    int rank;
    hsize_t dims[8];
    hid_t f;
    CHECK_EQ_INT(core_h5_open(out, &f), CORE_OK);
    CHECK_EQ_INT(core_h5_shape(f, "/id", &rank, dims), CORE_OK);
    CHECK_EQ_INT(dims[0], 9);
    core_h5_close(f);
    core_cfg_free(&persona_expand_schema, &c);
    /* A cap keeps a seeded subset. */
    c = expand_cfg("max_rows_per_role=50", NULL);
    unlink(out);
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_OK);
    CHECK_EQ_INT(st.rows, 50);
    core_cfg_free(&persona_expand_schema, &c);
    persona_set_free(&set);
    free(out);
    free(d);
}

static void test_build_removes_near_duplicates_within_a_family_only(void)
{
    char *d = make_dir("dedup");
    write_role(d, &(role_spec){.id = "fam-root"});
    /* Same content as the root: every row is a duplicate of the root's. */
    write_role(d, &(role_spec){.id = "fam-copy", .parent = "\"fam-root\""});
    /* Slightly warmer: near-duplicates at 0.99 but not at 0.9999. */
    write_role(d, &(role_spec){.id = "fam-warmer", .parent = "\"fam-root\"", .warmth = "0.62"});
    /* Identical content in another family: kept. */
    write_role(d, &(role_spec){.id = "other-root"});
    persona_set set;
    CHECK_EQ_INT(persona_set_load(d, &set, NULL), CORE_OK);
    const uint64_t per_role = 2 * 2 * 3 * 3 * 3;
    persona_expand_cfg c = expand_cfg(NULL, NULL);
    char *out = core_sprintf("%s/dedup.h5", tmpdir);
    persona_build_stats st;
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_OK);
    CHECK_EQ_INT(st.families, 2);
    CHECK_EQ_INT(st.rows_expanded, 4 * per_role);
    CHECK_EQ_INT(st.rows_removed, 2 * per_role);
    core_cfg_free(&persona_expand_schema, &c);
    c = expand_cfg("dedup.threshold=1.0", NULL);
    unlink(out);
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_OK);
    CHECK(st.rows_removed >= per_role && st.rows_removed < 2 * per_role);
    core_cfg_free(&persona_expand_schema, &c);
    persona_set_free(&set);
    free(out);
    free(d);
}

static char *read_all(const char *p, size_t *n)
{
    char *b = NULL;
    CHECK_EQ_INT(core_file_read(p, 0, &b, n), CORE_OK);
    return b;
}

static void test_build_is_byte_identical_whatever_the_thread_count(void)
{
    char *a = make_dir("det-arch");
    write_role(a, &(role_spec){.id = "det-one"});
    write_role(a, &(role_spec){
                      .id = "det-two", .archetype = "tutor", .scenes = "\"classroom\", \"home\""});
    write_role(a, &(role_spec){.id = "det-three", .archetype = "companion"});
    persona_set arch, set;
    CHECK_EQ_INT(persona_set_load(a, &arch, NULL), CORE_OK);
    persona_author_cfg ac = author_cfg(200);
    char *roles = core_sprintf("%s/det-roles", tmpdir);
    CHECK_EQ_INT(persona_author(&ac, NULL, &arch, roles), CORE_OK);
    CHECK_EQ_INT(persona_set_load(roles, &set, NULL), CORE_OK);
    char *o1 = core_sprintf("%s/det1.h5", tmpdir), *o2 = core_sprintf("%s/det2.h5", tmpdir);
    persona_expand_cfg c1 = expand_cfg("threads=1", "output.chunk_rows=256");
    persona_expand_cfg c2 = expand_cfg("threads=2", "output.chunk_rows=256");
    persona_build_stats s1, s2;
    CHECK_EQ_INT(persona_build(&c1, "cfg\n", &set, NULL, 0, o1, &s1), CORE_OK);
    CHECK_EQ_INT(persona_build(&c2, "cfg\n", &set, NULL, 0, o2, &s2), CORE_OK);
    CHECK(s1.rows > 0 && s1.rows == s2.rows);
    size_t n1, n2;
    char *b1 = read_all(o1, &n1), *b2 = read_all(o2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    core_cfg_free(&persona_expand_schema, &c1);
    core_cfg_free(&persona_expand_schema, &c2);
    core_cfg_free(&persona_author_schema, &ac);
    persona_set_free(&arch);
    persona_set_free(&set);
    free(o1);
    free(o2);
    free(roles);
    free(a);
}

static void test_build_layout_reads_back_and_knn_matches_brute_force(void)
{
    char *roles = core_sprintf("%s/det-roles", tmpdir); /* from the previous test */
    persona_set set;
    CHECK_EQ_INT(persona_set_load(roles, &set, NULL), CORE_OK);
    persona_expand_cfg c = expand_cfg("output.chunk_rows=100", NULL);
    char *out = core_sprintf("%s/layout.h5", tmpdir);
    const char *inputs[] = {"sha256:abc roles"};
    persona_build_stats st;
    CHECK_EQ_INT(persona_build(&c, "seed: 1\n", &set, inputs, 1, out, &st), CORE_OK);
    hid_t f;
    CHECK_EQ_INT(core_h5_open(out, &f), CORE_OK);
    CHECK_EQ_INT(core_h5_check_format(f, out, "troupe.personas/1"), CORE_OK);
    char **names;
    size_t nn;
    CHECK_EQ_INT(core_h5_attr_get_strs(f, "feature_names", &names, &nn), CORE_OK);
    CHECK_EQ_INT(nn, PERSONA_D);
    if (nn == PERSONA_D) {
        CHECK_STR(names[0], "trait.openness");
        CHECK_STR(names[PERSONA_D - 1], "text.hash51");
    }
    core_strs_free(names, nn);
    char *cfg;
    CHECK_EQ_INT(core_h5_attr_get_str(f, "config", &cfg), CORE_OK);
    CHECK_STR(cfg, "seed: 1\n");
    free(cfg);
    int rank;
    hsize_t dims[8];
    CHECK_EQ_INT(core_h5_shape(f, "/axis/emotion", &rank, dims), CORE_OK);
    CHECK(rank == 1 && dims[0] == st.rows);
    /* the roles' own values are there, in schema units */
    float *style;
    CHECK_EQ_INT(core_h5_read(f, "/roles/style", CORE_H5_F32, &rank, dims, (void **)&style),
                 CORE_OK);
    CHECK(rank == 2 && dims[0] == set.n && dims[1] == PERSONA_N_STYLE);
    CHECK_NEAR(style[0], set.roles[0].style[0], 0);
    free(style);
    char **cps;
    size_t ncp;
    CHECK_EQ_INT(core_h5_read_strs(f, "/roles/catchphrases", &cps, &ncp), CORE_OK);
    CHECK(ncp == set.n && !strcmp(cps[0], "One step at a time. | 我们一步一步来。"));
    core_strs_free(cps, ncp);
    core_h5_close(f);

    persona_matrix m;
    CHECK_EQ_INT(persona_matrix_load(out, true, &m), CORE_OK);
    CHECK_EQ_INT(m.n, st.rows);
    CHECK_EQ_INT(m.n_roles, set.n);
    /* Every row is unit norm and its role and axis values are consistent. */
    int bad_norm = 0;
    for (uint64_t i = 0; i < m.n; i++) {
        double s = 0;
        for (int j = 0; j < m.d; j++)
            s += (double)m.features[i * PERSONA_D + j] * m.features[i * PERSONA_D + j];
        bad_norm += fabs(s - 1.0) > 1e-4;
    }
    CHECK_EQ_INT(bad_norm, 0);
    /* Row ids are unique and findable. */
    CHECK_EQ_INT(persona_matrix_find(&m, m.ids[m.n / 2]), (long)(m.n / 2));
    uint64_t q[3] = {0, m.n / 3, m.n - 1};
    uint64_t idx[3 * 7], ref_idx[7];
    float sim[3 * 7], ref_sim[7];
    CHECK_EQ_INT(persona_similar(&m, q, 3, 7, idx, sim), CORE_OK);
    for (int k = 0; k < 3; k++) {
        persona_similar_reference(&m, q[k], 7, ref_idx, ref_sim);
        for (int j = 0; j < 7; j++) {
            CHECK_NEAR(sim[k * 7 + j], ref_sim[j], 1e-5);
            /* Same row, or an exact tie within float rounding. */
            CHECK(idx[k * 7 + j] == ref_idx[j] || fabsf(sim[k * 7 + j] - ref_sim[j]) < 1e-5f);
            CHECK(idx[k * 7 + j] != q[k]);
        }
        CHECK(sim[k * 7] >= sim[k * 7 + 6]);
    }
    CHECK_EQ_INT(persona_similar(&m, q, 1, 0, idx, sim), CORE_ERR_RANGE);
    persona_stats *s = calloc(1, sizeof *s);
    CHECK_EQ_INT(persona_stats_compute(out, s), CORE_OK);
    uint64_t total = 0;
    for (int v = 0; v < PERSONA_N_PACING; v++)
        total += s->axis_counts[3][v];
    CHECK_EQ_INT(total, st.rows);
    CHECK(s->max[0] >= s->mean[0] && s->mean[0] >= s->min[0]);
    free(s);
    persona_matrix_free(&m);
    core_cfg_free(&persona_expand_schema, &c);
    persona_set_free(&set);
    free(out);
    free(roles);
}

static void test_failed_build_leaves_no_output_behind(void)
{
    char *d = make_dir("fail");
    write_role(d, &(role_spec){.id = "lonely"});
    persona_set set;
    CHECK_EQ_INT(persona_set_load(d, &set, NULL), CORE_OK);
    persona_expand_cfg c = expand_cfg(NULL, NULL);
    char *out = core_sprintf("%s/no/such/dir/p.h5", tmpdir);
    persona_build_stats st;
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "no/such/dir/p.h5");
    core_cfg_free(&persona_expand_schema, &c);
    /* Bad weights fail before anything is created. */
    c = expand_cfg("weights.axes=0", NULL);
    free(out);
    out = core_sprintf("%s/weights.h5", tmpdir);
    CHECK_EQ_INT(persona_build(&c, NULL, &set, NULL, 0, out, &st), CORE_ERR_RANGE);
    CHECK(access(out, F_OK) != 0);
    char *cmd = core_sprintf("ls -a %s | grep -c tmp", tmpdir);
    FILE *f = popen(cmd, "r");
    int count = -1;
    CHECK(fscanf(f, "%d", &count) == 1);
    pclose(f);
    CHECK_EQ_INT(count, 0);
    free(cmd);
    core_cfg_free(&persona_expand_schema, &c);
    persona_set_free(&set);
    free(out);
    free(d);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "persona"))
        return 1;
    core_log_set_level(CORE_LOG_ERROR);
    RUN(test_role_loads_valid_file);
    RUN(test_role_reports_every_problem_with_line_and_column);
    RUN(test_role_rejects_missing_keys_alias_bomb_huge_and_non_utf8);
    RUN(test_set_reports_duplicates_missing_parent_and_empty_folder);
    RUN(test_author_is_deterministic_across_threads_and_records_derivation);
    RUN(test_build_expands_every_allowed_axis_value);
    RUN(test_build_removes_near_duplicates_within_a_family_only);
    RUN(test_build_is_byte_identical_whatever_the_thread_count);
    RUN(test_build_layout_reads_back_and_knn_matches_brute_force);
    RUN(test_failed_build_leaves_no_output_behind);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
