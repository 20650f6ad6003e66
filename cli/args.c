/* Option parsing, help text, exit codes and group dispatch for the troupe CLI. */
#include "cli/cli.h"
#include "train/train.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool opt_verbose_flag, opt_quiet_flag;

int cli_exit_code(core_status st)
{
    switch (st) {
    case CORE_OK: return CLI_OK;
    case CORE_ERR_USAGE:
    case CORE_ERR_IO:
    case CORE_ERR_PARSE:
    case CORE_ERR_SCHEMA:
    case CORE_ERR_RANGE:
    case CORE_ERR_LIMIT:
    case CORE_ERR_FORMAT: return CLI_USAGE;
    case CORE_ERR_NOMEM:
    case CORE_ERR_CHECK:
    case CORE_ERR_CRYPTO:
    case CORE_ERR_INTERNAL: return CLI_FAILED;
    }
    return CLI_FAILED;
}

int cli_fail(core_status st)
{
    if (st == CORE_OK)
        return CLI_OK;
    const char *msg = core_error_message();
    fprintf(stderr, "troupe: %s\n", msg[0] ? msg : core_status_name(st));
    if (core_log_get_level() >= CORE_LOG_DEBUG)
        fprintf(stderr, "troupe: (raised at %s, %s)\n", core_error_site(),
                core_status_name(core_error_code()));
    return cli_exit_code(st);
}

int cli_print_problems(const persona_problems *p, size_t max)
{
    for (size_t i = 0; i < p->n && i < max; i++)
        fprintf(stderr, "troupe: %s\n", p->items[i]);
    if (p->n > max)
        fprintf(stderr, "troupe: ... and %zu more problems\n", p->n - max);
    return (int)p->n;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("troupe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

void cli_list_free(cli_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static const cli_opt common_opts[] = {
    {"help", 'h', CLI_FLAG, NULL, NULL, "show this help"},
    {"verbose", 'v', CLI_FLAG, &opt_verbose_flag, NULL, "more output (twice: debug)"},
    {"quiet", 'q', CLI_FLAG, &opt_quiet_flag, NULL, "errors only"},
};

static void print_help(const cli_spec *spec)
{
    printf("usage: %s\n", spec->usage);
    if (spec->summary)
        printf("\n%s\n", spec->summary);
    printf("\nOptions:\n");
    for (int pass = 0; pass < 2; pass++) {
        const cli_opt *opts = pass ? common_opts : spec->opts;
        size_t n = pass ? sizeof common_opts / sizeof *common_opts : spec->n_opts;
        for (size_t i = 0; i < n; i++) {
            char left[64];
            const cli_opt *o = &opts[i];
            if (o->short_name)
                snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                         o->metavar ? " " : "", o->metavar ? o->metavar : "");
            else
                snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
            printf("  %-28s %s\n", left, o->help);
        }
    }
    if (spec->epilog)
        printf("\n%s\n", spec->epilog);
}

static const cli_opt *find_long(const cli_spec *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->n_opts; i++)
        if (strlen(spec->opts[i].name) == len && !strncmp(spec->opts[i].name, name, len))
            return &spec->opts[i];
    for (size_t i = 0; i < sizeof common_opts / sizeof *common_opts; i++)
        if (strlen(common_opts[i].name) == len && !strncmp(common_opts[i].name, name, len))
            return &common_opts[i];
    return NULL;
}

static const cli_opt *find_short(const cli_spec *spec, char c)
{
    for (size_t i = 0; i < spec->n_opts; i++)
        if (spec->opts[i].short_name == c)
            return &spec->opts[i];
    for (size_t i = 0; i < sizeof common_opts / sizeof *common_opts; i++)
        if (common_opts[i].short_name == c)
            return &common_opts[i];
    return NULL;
}

static bool store(const cli_spec *spec, const cli_opt *o, const char *value, int *exit_now)
{
    switch (o->kind) {
    case CLI_FLAG:
        if (o->dest)
            *(bool *)o->dest = true;
        return true;
    case CLI_STR: *(const char **)o->dest = value; return true;
    case CLI_INT: {
        int64_t v;
        if (!core_parse_i64(value, &v)) {
            *exit_now = cli_usage_error("%s: --%s expects an integer, not '%s'", spec->name,
                                        o->name, value);
            return false;
        }
        *(int64_t *)o->dest = v;
        return true;
    }
    case CLI_LIST: {
        cli_list *l = o->dest;
        const char **items = realloc(l->items, (l->n + 1) * sizeof *items);
        if (!items) {
            *exit_now = cli_usage_error("out of memory");
            return false;
        }
        l->items = items;
        l->items[l->n++] = value;
        return true;
    }
    }
    return false;
}

bool cli_parse(const cli_spec *spec, int argc, char **argv, const char ***pos, size_t *npos,
               int *exit_now)
{
    const char *cmd = spec->name;
    const char **p = calloc((size_t)argc + 1, sizeof *p);
    size_t np = 0;
    bool only_pos = false, help = false;
    int verbose = 0;
    *exit_now = CLI_OK;
    if (!p) {
        *exit_now = cli_usage_error("out of memory");
        return false;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            p[np++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        const cli_opt *o;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(spec, name, len);
            if (!o) {
                const char *names[64];
                size_t n = 0;
                for (size_t k = 0; k < spec->n_opts && n < 60; k++)
                    names[n++] = spec->opts[k].name;
                for (size_t k = 0; k < 3; k++)
                    names[n++] = common_opts[k].name;
                char word[64];
                snprintf(word, sizeof word, "%.*s", (int)len, name);
                const char *s = core_suggest(word, names, n);
                if (s)
                    *exit_now = cli_usage_error("%s: unknown option '--%s' (did you mean '--%s'?)",
                                                cmd, word, s);
                else
                    *exit_now =
                        cli_usage_error("%s: unknown option '--%s' (see --help)", cmd, word);
                goto fail;
            }
            if (eq) {
                if (o->kind == CLI_FLAG) {
                    *exit_now = cli_usage_error("%s: --%s takes no value", cmd, o->name);
                    goto fail;
                }
                value = eq + 1;
            }
        } else {
            o = find_short(spec, a[1]);
            if (!o || a[2] != '\0') {
                *exit_now = cli_usage_error("%s: unknown option '%s' (see --help)", cmd, a);
                goto fail;
            }
        }
        if (o->kind != CLI_FLAG && !value) {
            if (i + 1 >= argc) {
                *exit_now = cli_usage_error("%s: --%s needs a value (%s)", cmd, o->name,
                                            o->metavar ? o->metavar : "VALUE");
                goto fail;
            }
            value = argv[++i];
        }
        if (o == &common_opts[0])
            help = true;
        else if (o == &common_opts[1])
            verbose++;
        if (!store(spec, o, value, exit_now))
            goto fail;
    }
    if (help) {
        print_help(spec);
        *exit_now = CLI_OK;
        goto fail;
    }
    if (opt_quiet_flag)
        core_log_set_level(CORE_LOG_ERROR);
    else if (verbose)
        core_log_set_level(verbose > 1 ? CORE_LOG_DEBUG : CORE_LOG_INFO);
    if (np < spec->min_pos || np > spec->max_pos) {
        if (spec->min_pos == spec->max_pos && spec->min_pos == 0)
            *exit_now = cli_usage_error("%s: unexpected argument '%s' (see --help)", cmd, p[0]);
        else
            *exit_now =
                cli_usage_error("%s: expected %s%zu argument%s, got %zu (usage: %s)", cmd,
                                spec->min_pos == spec->max_pos ? "" : "at least ", spec->min_pos,
                                spec->min_pos == 1 ? "" : "s", np, spec->usage);
        goto fail;
    }
    *pos = p;
    *npos = np;
    return true;
fail:
    free(p);
    for (size_t i = 0; i < spec->n_opts; i++)
        if (spec->opts[i].kind == CLI_LIST)
            cli_list_free(spec->opts[i].dest);
    return false;
}

int cli_dispatch(const char *group, const char *summary, const cli_command *cmds, size_t n,
                 int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        printf("usage: troupe %s <command> [options]\n\n%s\n\nCommands:\n", group, summary);
        for (size_t i = 0; i < n; i++)
            printf("  %-12s %s\n", cmds[i].name, cmds[i].summary);
        printf("\nRun 'troupe %s <command> --help' for a command's options.\n", group);
        return sub ? CLI_OK : CLI_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cmds[i].name, sub))
            return cmds[i].run(argc - 1, argv + 1);
    const char *names[32];
    for (size_t i = 0; i < n && i < 32; i++)
        names[i] = cmds[i].name;
    const char *s = core_suggest(sub, names, n < 32 ? n : 32);
    if (s)
        return cli_usage_error("%s: unknown command '%s' (did you mean '%s'?)", group, sub, s);
    return cli_usage_error("%s: unknown command '%s' (see 'troupe %s --help')", group, sub, group);
}

int cli_config_load(const core_cfg_schema *schema, cli_config_opts *c, void *out, bool *done)
{
    *done = false;
    core_status st = core_cfg_load(schema, c->config, c->sets.items, c->sets.n, out);
    cli_list_free(&c->sets);
    if (st != CORE_OK)
        return cli_fail(st);
    if (c->print) {
        char *y = core_cfg_emit(schema, out);
        if (!y) {
            core_cfg_free(schema, out);
            return cli_fail(core_error_code());
        }
        fputs(y, stdout);
        free(y);
        core_cfg_free(schema, out);
        *done = true;
    }
    return CLI_OK;
}

bool cli_dist_done(core_status st, int *nranks)
{
    *nranks = train_dist_size();
    if (st != CORE_OK && *nranks > 1) {
        /* the other ranks may be waiting for this one: stop the whole job */
        cli_fail(st);
        train_dist_abort(1);
    }
    const bool lead = train_dist_rank() == 0;
    train_dist_finalize();
    return lead;
}
