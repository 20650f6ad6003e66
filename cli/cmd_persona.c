/* troupe persona: validate, author, build, show, similar, stats. */
#include "cli/cli.h"
#include "persona/persona.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads a role set, printing every problem (up to a limit) on failure. */
static int load_set(const char *dir, persona_set *set)
{
    persona_problems probs = {0};
    core_status st = persona_set_load(dir, set, &probs);
    if (st != CORE_OK) {
        if (probs.n)
            cli_print_problems(&probs, 50);
        else
            cli_fail(st);
        fprintf(stderr, "troupe: %s: %zu problem%s; nothing was written\n", dir, probs.n,
                probs.n == 1 ? "" : "s");
        persona_problems_free(&probs);
        return cli_exit_code(st);
    }
    persona_problems_free(&probs);
    return CLI_OK;
}

static char *default_archetypes(void)
{
    const char *dir = core_config_dir();
    return dir ? core_sprintf("%s/personas/archetypes", dir) : NULL;
}

static int cmd_validate(int argc, char **argv)
{
    bool json = false;
    const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json, NULL, "print the result as JSON"}};
    const cli_spec spec = {"persona validate",
                           "troupe persona validate [DIR]",
                           "Checks every role file in DIR (default: the shipped archetypes) "
                           "against the troupe.role/1\nschema and the set as a whole (duplicate "
                           "ids, parents that do not exist), reporting every\nproblem with "
                           "file:line:col. Exit 1 if there is any.",
                           opts,
                           1,
                           0,
                           1,
                           NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    char *def = np ? NULL : default_archetypes();
    const char *dir = np ? pos[0] : def;
    free(pos);
    if (!dir)
        return cli_usage_error("%s: no DIR given and no configs directory found", spec.name);
    persona_set set;
    persona_problems probs = {0};
    double t0 = core_now();
    core_status st = persona_set_load(dir, &set, &probs);
    if (json) {
        json_t *o = json_object(), *arr = json_array();
        for (size_t i = 0; i < probs.n; i++)
            json_array_append_new(arr, json_string(probs.items[i]));
        json_object_set_new(o, "folder", json_string(dir));
        json_object_set_new(o, "ok", json_boolean(st == CORE_OK));
        json_object_set_new(o, "roles", json_integer(st == CORE_OK ? (json_int_t)set.n : 0));
        json_object_set_new(o, "problems", arr);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s ? s : "{}");
        free(s);
        json_decref(o);
    } else if (st == CORE_OK) {
        size_t roots = 0;
        for (size_t i = 0; i < set.n; i++)
            roots += set.roles[i].parent == NULL;
        printf("%s: %zu roles ok (%zu archetypes, %zu derived) in %.2f s\n", dir, set.n, roots,
               set.n - roots, core_now() - t0);
    } else {
        for (size_t i = 0; i < probs.n; i++)
            printf("%s\n", probs.items[i]);
        printf("%s: %zu problem%s\n", dir, probs.n, probs.n == 1 ? "" : "s");
    }
    free(def);
    persona_set_free(&set);
    persona_problems_free(&probs);
    if (st == CORE_ERR_IO)
        return CLI_USAGE;
    return st == CORE_OK ? CLI_OK : CLI_FAILED;
}

static int cmd_author(int argc, char **argv)
{
    cli_config_opts c = {0};
    const char *arch_dir = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"archetypes", 'a', CLI_STR, &arch_dir, "DIR",
         "archetype roles (default: configs/personas/archetypes)"},
        {"output", 'o', CLI_STR, &out, "DIR", "folder to create with the authored roles"},
        CLI_CONFIG_OPTS(c),
    };
    const cli_spec spec = {"persona author",
                           "troupe persona author -o DIR [--archetypes DIR]",
                           "Composes roles (count in the config; default 10,000) from the "
                           "archetypes and the vocabularies\nof occupations, backgrounds, quirks "
                           "and variations, and writes them with the archetypes into\na new "
                           "folder, one YAML file per role. Deterministic for a seed.",
                           opts,
                           sizeof opts / sizeof *opts,
                           0,
                           0,
                           "Example:\n  troupe persona author -o roles --set count=20000"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    persona_author_cfg cfg;
    bool done;
    if ((rc = cli_config_load(&persona_author_schema, &c, &cfg, &done)) != CLI_OK || done)
        return rc;
    char *def = arch_dir ? NULL : default_archetypes();
    persona_set arch = {0};
    char *yaml = NULL;
    if (!out) {
        rc = cli_usage_error("%s: -o DIR is required", spec.name);
        goto done;
    }
    if (!arch_dir && !(arch_dir = def)) {
        rc = cli_usage_error("%s: no --archetypes given and no configs directory found", spec.name);
        goto done;
    }
    double t0 = core_now();
    if ((rc = load_set(arch_dir, &arch)) != CLI_OK)
        goto done;
    yaml = core_cfg_emit(&persona_author_schema, &cfg);
    core_status st = persona_author(&cfg, yaml, &arch, out);
    if (st != CORE_OK) {
        rc = cli_fail(st);
        goto done;
    }
    printf("persona author: composed %lld roles from %zu archetypes into %s/ in %.2f s\n",
           (long long)cfg.count, arch.n, out, core_now() - t0);
done:
    free(yaml);
    free(def);
    persona_set_free(&arch);
    core_cfg_free(&persona_author_schema, &cfg);
    return rc;
}

static int cmd_build(int argc, char **argv)
{
    cli_config_opts c = {0};
    const char *roles = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"roles", 'r', CLI_STR, &roles, "DIR", "folder of roles (e.g. from persona author)"},
        {"output", 'o', CLI_STR, &out, "FILE", "personas.h5 to write"},
        CLI_CONFIG_OPTS(c),
    };
    const cli_spec spec = {"persona build",
                           "troupe persona build --roles DIR -o FILE [options]",
                           "Expands every role along the configured axes (scene, language, "
                           "emotion, pacing, register)\ninto unit-norm float32 feature rows, "
                           "removes near-duplicate rows within each family, and\nwrites the "
                           "persona matrix as HDF5 (written whole or not at all).",
                           opts,
                           sizeof opts / sizeof *opts,
                           0,
                           0,
                           "Example:\n  troupe persona build --roles roles -o personas.h5 "
                           "--set dedup.threshold=0.98"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    persona_expand_cfg cfg;
    bool done;
    if ((rc = cli_config_load(&persona_expand_schema, &c, &cfg, &done)) != CLI_OK || done)
        return rc;
    persona_set set = {0};
    char *yaml = NULL, *input = NULL;
    if (!roles || !out) {
        rc = cli_usage_error("%s: --roles DIR and -o FILE are required", spec.name);
        goto done;
    }
    double t0 = core_now();
    if ((rc = load_set(roles, &set)) != CLI_OK)
        goto done;
    double t_load = core_now() - t0;
    char hex[CORE_SHA256_HEX];
    core_status st = persona_set_digest(&set, hex);
    yaml = core_cfg_emit(&persona_expand_schema, &cfg);
    input = core_sprintf("sha256:%s %s (%zu roles)", hex, roles, set.n);
    if (st == CORE_OK && (!yaml || !input))
        st = CORE_ERR_NOMEM;
    persona_build_stats stats;
    const char *inputs[] = {input};
    if (st == CORE_OK)
        st = persona_build(&cfg, yaml, &set, inputs, 1, out, &stats);
    if (st != CORE_OK) {
        rc = cli_fail(st);
        goto done;
    }
    printf("persona build: %zu roles in %llu families -> %llu rows expanded, %llu near-duplicates "
           "removed (cosine >= %g), %llu rows x %d features\n",
           set.n, (unsigned long long)stats.families, (unsigned long long)stats.rows_expanded,
           (unsigned long long)stats.rows_removed, cfg.dedup_threshold,
           (unsigned long long)stats.rows, PERSONA_D);
    printf("persona build: wrote %s in %.2f s (reading roles %.2f s, expanding and writing "
           "%.2f s)\n",
           out, core_now() - t0, t_load, stats.seconds);
done:
    free(yaml);
    free(input);
    persona_set_free(&set);
    core_cfg_free(&persona_expand_schema, &cfg);
    return rc;
}

/* "123" is a row id; "#45" is a row index. */
static int resolve_row(const char *cmd, const persona_matrix *m, const char *arg, uint64_t *row)
{
    int64_t v;
    if (arg[0] == '#') {
        if (!core_parse_i64(arg + 1, &v) || v < 0 || (uint64_t)v >= m->n)
            return cli_usage_error("%s: row index '%s' is not in 0..%llu", cmd, arg + 1,
                                   (unsigned long long)(m->n ? m->n - 1 : 0));
        *row = (uint64_t)v;
        return CLI_OK;
    }
    char *end;
    errno = 0;
    unsigned long long id = strtoull(arg, &end, 10);
    if (errno || *end || arg[0] == '-' || !arg[0])
        return cli_usage_error("%s: '%s' is not a row id (a number, or #INDEX for a row index)",
                               cmd, arg);
    long r = persona_matrix_find(m, id);
    if (r < 0)
        return cli_usage_error("%s: no row with id %s", cmd, arg);
    *row = (uint64_t)r;
    return CLI_OK;
}

static json_t *row_json(const persona_matrix *m, uint64_t r)
{
    json_t *o = json_object();
    int32_t ro = m->role[r];
    json_object_set_new(o, "row", json_integer((json_int_t)r));
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)m->ids[r]);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "role", json_string(m->role_id[ro]));
    json_object_set_new(o, "name_en", json_string(m->role_name_en[ro]));
    json_object_set_new(o, "name_zh", json_string(m->role_name_zh[ro]));
    json_object_set_new(o, "archetype", json_string(m->role_archetype[ro]));
    json_object_set_new(o, "occupation", json_string(m->role_occupation[ro]));
    json_object_set_new(o, "parent",
                        m->role_parent[ro][0] ? json_string(m->role_parent[ro]) : json_null());
    json_t *ax = json_object();
    for (int a = 0; a < 5; a++)
        json_object_set_new(ax, persona_axis_names[a],
                            json_string(persona_axis_value(a, m->axis[a][r])));
    json_object_set_new(o, "axes", ax);
    return o;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    puts(s ? s : "{}");
    free(s);
    json_decref(o);
}

static int cmd_show(int argc, char **argv)
{
    bool json = false;
    const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json, NULL, "print the row as JSON"}};
    const cli_spec spec = {"persona show",
                           "troupe persona show FILE ID",
                           "Prints one row of a persona matrix: its role, its axis values and "
                           "its feature vector decoded\ninto feature names. ID is a row id, or "
                           "#INDEX for the row at that index.",
                           opts,
                           1,
                           2,
                           2,
                           "Example:\n  troupe persona show personas.h5 '#0'"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    persona_matrix m;
    core_status st = persona_matrix_load(pos[0], false, &m);
    if (st != CORE_OK) {
        free(pos);
        return cli_fail(st);
    }
    uint64_t r = 0;
    float feat[PERSONA_D];
    if ((rc = resolve_row(spec.name, &m, pos[1], &r)) != CLI_OK)
        goto done;
    if ((st = persona_matrix_read_row(pos[0], r, feat, PERSONA_D)) != CORE_OK) {
        rc = cli_fail(st);
        goto done;
    }
    if (json) {
        json_t *o = row_json(&m, r), *fo = json_object();
        for (int j = 0; j < PERSONA_D; j++)
            json_object_set_new(fo, persona_feature_name(j), json_real(feat[j]));
        json_object_set_new(o, "features", fo);
        print_json(o);
    } else {
        int32_t ro = m.role[r];
        printf("row %llu  id %llu\n", (unsigned long long)r, (unsigned long long)m.ids[r]);
        printf("role       %s  (%s / %s)\n", m.role_id[ro], m.role_name_en[ro], m.role_name_zh[ro]);
        printf("archetype  %s   occupation: %s   parent: %s\n", m.role_archetype[ro],
               m.role_occupation[ro], m.role_parent[ro][0] ? m.role_parent[ro] : "(archetype)");
        printf("axes      ");
        for (int a = 0; a < 5; a++)
            printf(" %s=%s", persona_axis_names[a], persona_axis_value(a, m.axis[a][r]));
        printf("\nfeatures (%d; zeros omitted):\n", PERSONA_D);
        int col = 0;
        for (int j = 0; j < PERSONA_D; j++) {
            if (feat[j] == 0.0f)
                continue;
            printf("  %-34s %+.4f%s", persona_feature_name(j), feat[j], ++col % 2 ? "" : "\n");
        }
        if (col % 2)
            printf("\n");
    }
done:
    free(pos);
    persona_matrix_free(&m);
    return rc;
}

static int cmd_similar(int argc, char **argv)
{
    bool json = false;
    int64_t k = 10;
    const cli_opt opts[] = {
        {"k", 'k', CLI_INT, &k, "K", "how many neighbours (default 10)"},
        {"json", 0, CLI_FLAG, &json, NULL, "print the result as JSON"},
    };
    const cli_spec spec = {"persona similar",
                           "troupe persona similar FILE ID... [-k K]",
                           "Finds the K rows with the highest cosine similarity to each given "
                           "row over the whole matrix\n(blocked cblas_sgemm; several IDs are "
                           "searched in one pass). ID is a row id or #INDEX.",
                           opts,
                           2,
                           2,
                           64,
                           NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    size_t nq = np - 1;
    persona_matrix m;
    double t0 = core_now();
    core_status st = persona_matrix_load(pos[0], true, &m);
    if (st != CORE_OK) {
        free(pos);
        return cli_fail(st);
    }
    double t_load = core_now() - t0;
    uint64_t q[64], *idx = NULL;
    float *sim = NULL;
    if (k < 1 || (uint64_t)k >= m.n) {
        rc = cli_usage_error("%s: -k must be between 1 and %llu", spec.name,
                             (unsigned long long)(m.n - 1));
        goto done;
    }
    for (size_t i = 0; i < nq; i++)
        if ((rc = resolve_row(spec.name, &m, pos[1 + i], &q[i])) != CLI_OK)
            goto done;
    idx = calloc(nq * (size_t)k, sizeof *idx);
    sim = calloc(nq * (size_t)k, sizeof *sim);
    if (!idx || !sim) {
        rc = cli_usage_error("out of memory");
        goto done;
    }
    t0 = core_now();
    st = persona_similar(&m, q, nq, (int)k, idx, sim);
    double t_query = core_now() - t0;
    if (st != CORE_OK) {
        rc = cli_fail(st);
        goto done;
    }
    if (json) {
        json_t *o = json_object(), *arr = json_array();
        for (size_t i = 0; i < nq; i++) {
            json_t *qo = row_json(&m, q[i]), *nn = json_array();
            for (int j = 0; j < k; j++) {
                json_t *r = row_json(&m, idx[i * (size_t)k + (size_t)j]);
                json_object_set_new(r, "cosine", json_real(sim[i * (size_t)k + (size_t)j]));
                json_array_append_new(nn, r);
            }
            json_object_set_new(qo, "neighbours", nn);
            json_array_append_new(arr, qo);
        }
        json_object_set_new(o, "rows", json_integer((json_int_t)m.n));
        json_object_set_new(o, "load_seconds", json_real(t_load));
        json_object_set_new(o, "query_seconds", json_real(t_query));
        json_object_set_new(o, "queries", arr);
        print_json(o);
    } else {
        for (size_t i = 0; i < nq; i++) {
            int32_t ro = m.role[q[i]];
            printf("query row %llu (%s", (unsigned long long)q[i], m.role_id[ro]);
            for (int a = 0; a < 5; a++)
                printf(" %s", persona_axis_value(a, m.axis[a][q[i]]));
            printf(")\n  rank  cosine   row      role                                   axes\n");
            for (int j = 0; j < k; j++) {
                uint64_t r = idx[i * (size_t)k + (size_t)j];
                printf("  %4d  %.4f  %-8llu %-38s", j + 1, sim[i * (size_t)k + (size_t)j],
                       (unsigned long long)r, m.role_id[m.role[r]]);
                for (int a = 0; a < 5; a++)
                    printf(" %s", persona_axis_value(a, m.axis[a][r]));
                printf("\n");
            }
        }
        printf("searched %llu rows in %.1f ms (%zu quer%s; loading took %.2f s)\n",
               (unsigned long long)m.n, 1e3 * t_query, nq, nq == 1 ? "y" : "ies", t_load);
    }
done:
    free(idx);
    free(sim);
    free(pos);
    persona_matrix_free(&m);
    return rc;
}

static int cmd_stats(int argc, char **argv)
{
    bool json = false;
    const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json, NULL, "print the statistics as JSON"}};
    const cli_spec spec = {"persona stats",
                           "troupe persona stats FILE",
                           "Prints the counts of rows per axis value and per archetype, the "
                           "expansion and near-duplicate\ncounts, and the distribution of every "
                           "feature (mean, std, min, max).",
                           opts,
                           1,
                           1,
                           1,
                           NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    persona_stats *s = calloc(1, sizeof *s);
    core_status st = s ? persona_stats_compute(pos[0], s) : CORE_ERR_NOMEM;
    if (st != CORE_OK) {
        free(s);
        free(pos);
        return cli_fail(st);
    }
    static const int axis_n[5] = {PERSONA_N_SCENES, PERSONA_N_LANGUAGES, PERSONA_N_EMOTIONS,
                                  PERSONA_N_PACING, PERSONA_N_REGISTERS};
    if (json) {
        json_t *o = json_object(), *axes = json_object(), *arch = json_object(),
               *feat = json_array();
        json_object_set_new(o, "file", json_string(pos[0]));
        json_object_set_new(o, "rows", json_integer((json_int_t)s->rows));
        json_object_set_new(o, "features", json_integer(s->d));
        json_object_set_new(o, "roles", json_integer((json_int_t)s->roles));
        json_object_set_new(o, "families", json_integer((json_int_t)s->families));
        json_object_set_new(o, "rows_expanded", json_integer((json_int_t)s->rows_expanded));
        json_object_set_new(o, "rows_removed", json_integer((json_int_t)s->rows_removed));
        for (int a = 0; a < 5; a++) {
            json_t *c = json_object();
            for (int v = 0; v < axis_n[a]; v++)
                json_object_set_new(c, persona_axis_value(a, v),
                                    json_integer((json_int_t)s->axis_counts[a][v]));
            json_object_set_new(axes, persona_axis_names[a], c);
        }
        for (int k = 0; k < PERSONA_N_ARCHETYPES; k++)
            json_object_set_new(arch, persona_archetypes[k],
                                json_integer((json_int_t)s->archetype_rows[k]));
        for (int j = 0; j < s->d; j++) {
            json_t *f = json_object();
            json_object_set_new(f, "name", json_string(persona_feature_name(j)));
            json_object_set_new(f, "mean", json_real(s->mean[j]));
            json_object_set_new(f, "std", json_real(s->std[j]));
            json_object_set_new(f, "min", json_real(s->min[j]));
            json_object_set_new(f, "max", json_real(s->max[j]));
            json_array_append_new(feat, f);
        }
        json_object_set_new(o, "axes", axes);
        json_object_set_new(o, "archetype_rows", arch);
        json_object_set_new(o, "feature_distribution", feat);
        print_json(o);
    } else {
        printf("%s: %llu rows x %d features, %zu roles in %llu families\n", pos[0],
               (unsigned long long)s->rows, s->d, s->roles, (unsigned long long)s->families);
        printf("expanded %llu rows, removed %llu near-duplicates (%.2f%%)\n",
               (unsigned long long)s->rows_expanded, (unsigned long long)s->rows_removed,
               s->rows_expanded ? 100.0 * (double)s->rows_removed / (double)s->rows_expanded : 0.0);
        for (int a = 0; a < 5; a++) {
            printf("%-9s", persona_axis_names[a]);
            for (int v = 0; v < axis_n[a]; v++)
                printf(" %s=%llu", persona_axis_value(a, v),
                       (unsigned long long)s->axis_counts[a][v]);
            printf("\n");
        }
        printf("archetype");
        for (int k = 0; k < PERSONA_N_ARCHETYPES; k++)
            printf(" %s=%llu", persona_archetypes[k], (unsigned long long)s->archetype_rows[k]);
        printf("\n%-34s %9s %9s %9s %9s\n", "feature", "mean", "std", "min", "max");
        for (int j = 0; j < s->d; j++)
            printf("%-34s %+9.4f %9.4f %+9.4f %+9.4f\n", persona_feature_name(j), s->mean[j],
                   s->std[j], s->min[j], s->max[j]);
    }
    free(s);
    free(pos);
    return CLI_OK;
}

int cli_persona_main(int argc, char **argv)
{
    static const cli_command cmds[] = {
        {"validate", cmd_validate, "check a folder of roles, reporting every problem"},
        {"author", cmd_author, "compose >=10,000 roles from the archetypes"},
        {"build", cmd_build, "expand roles into the persona matrix (personas.h5)"},
        {"show", cmd_show, "print one row: role, axis values, named features"},
        {"similar", cmd_similar, "cosine top-k rows over the whole matrix"},
        {"stats", cmd_stats, "counts per axis and feature distributions"},
    };
    return cli_dispatch("persona",
                        "Authored roles (YAML, schema troupe.role/1) and the persona feature "
                        "matrix that conditions\nthe voice model. See docs/persona.md.",
                        cmds, sizeof cmds / sizeof *cmds, argc, argv);
}
