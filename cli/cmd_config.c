/* troupe config: list the config kinds, print a kind's effective config, check a file. */
#include "cli/cli.h"
#include "eval/eval.h"
#include "data/data.h"
#include "rlhf/rlhf.h"
#include "train/train.h"
#include "data/data.h"
#include "persona/persona.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const core_cfg_schema *const kinds[] = {
    &persona_author_schema, &persona_expand_schema, &data_synth_schema, &train_model_schema,
    &train_schema,          &rlhf_reward_schema,    &rlhf_dpo_schema,   &rlhf_grpo_schema,
    &eval_schema,
    NULL, /* the list ends here; modules add their kinds above this line */
};

const core_cfg_schema *const *cli_config_kinds(size_t *n)
{
    *n = 0;
    while (kinds[*n])
        (*n)++;
    return kinds;
}

const core_cfg_schema *cli_config_kind(const char *name)
{
    size_t n;
    const core_cfg_schema *const *k = cli_config_kinds(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k[i]->kind, name))
            return k[i];
    return NULL;
}

static int unknown_kind(const char *cmd, const char *name)
{
    size_t n;
    const core_cfg_schema *const *k = cli_config_kinds(&n);
    const char *names[64];
    for (size_t i = 0; i < n && i < 64; i++)
        names[i] = k[i]->kind;
    const char *s = core_suggest(name, names, n < 64 ? n : 64);
    if (s)
        return cli_usage_error("%s: unknown config kind '%s' (did you mean '%s'?)", cmd, name, s);
    return cli_usage_error("%s: unknown config kind '%s' (see 'troupe config kinds')", cmd, name);
}

static int cmd_kinds(int argc, char **argv)
{
    static const cli_spec spec = {"config kinds",
                                  "troupe config kinds",
                                  "Lists the config kinds, their defaults files and what they "
                                  "configure.",
                                  NULL,
                                  0,
                                  0,
                                  0,
                                  NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    size_t n;
    const core_cfg_schema *const *k = cli_config_kinds(&n);
    const char *dir = core_config_dir();
    printf("config directory: %s\n", dir ? dir : "(not found; set TROUPE_CONFIG_DIR)");
    for (size_t i = 0; i < n; i++)
        printf("  %-16s %-28s %s\n", k[i]->kind, k[i]->defaults ? k[i]->defaults : "-", k[i]->help);
    return CLI_OK;
}

static int cmd_show(int argc, char **argv)
{
    cli_config_opts c = {0};
    bool keys = false;
    const cli_opt opts[] = {
        {"config", 'c', CLI_STR, &c.config, "FILE", "YAML config layered over the defaults"},
        {"set", 0, CLI_LIST, &c.sets, "KEY=VALUE", "override one key (repeatable)"},
        {"keys", 0, CLI_FLAG, &keys, NULL, "list every key with its type, range and help"},
    };
    const cli_spec spec = {"config show",
                           "troupe config show KIND [--config FILE] [--set KEY=VALUE]...",
                           "Prints the effective config of KIND as YAML: the shipped defaults, "
                           "then FILE, then each --set,\nchecked against the kind's schema. The "
                           "same text is stored in every output file.",
                           opts,
                           sizeof opts / sizeof *opts,
                           1,
                           1,
                           "Example:\n  troupe config show persona.expand --set seed=7"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    const core_cfg_schema *s = cli_config_kind(pos[0]);
    if (!s) {
        rc = unknown_kind(spec.name, pos[0]);
        goto done;
    }
    if (keys) {
        static const char *tn[] = {"int", "real", "bool", "string", "enum", "list"};
        for (size_t i = 0; i < s->n_fields; i++) {
            const core_cfg_field *f = &s->fields[i];
            char range[128] = "";
            if (f->type == CORE_CFG_INT || f->type == CORE_CFG_REAL)
                snprintf(range, sizeof range, "[%g, %g]", f->min, f->max);
            else if (f->choices)
                snprintf(range, sizeof range, "{%s}", f->choices);
            printf("%-32s %-6s %-24s %s%s\n", f->key, tn[f->type], range, f->help,
                   f->flags & CORE_CFG_REQUIRED ? " (required)" : "");
        }
        rc = CLI_OK;
        goto done;
    }
    void *cfg = calloc(1, s->size);
    if (!cfg) {
        rc = cli_usage_error("out of memory");
        goto done;
    }
    c.print = true;
    bool printed;
    rc = cli_config_load(s, &c, cfg, &printed);
    free(cfg);
done:
    free(pos);
    cli_list_free(&c.sets); /* when the config was not loaded */
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    const char *kind = NULL;
    const cli_opt opts[] = {
        {"kind", 'k', CLI_STR, &kind, "KIND", "the config kind (see 'troupe config kinds')"},
    };
    const cli_spec spec = {"config check",
                           "troupe config check --kind KIND FILE...",
                           "Checks each FILE against the schema of KIND, layered over the "
                           "defaults, and reports the\nfirst problem of each with its line and "
                           "column. Exit 2 if any file is bad.",
                           opts,
                           sizeof opts / sizeof *opts,
                           1,
                           1024,
                           NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    if (!kind) {
        free(pos);
        return cli_usage_error("%s: --kind is required", spec.name);
    }
    const core_cfg_schema *s = cli_config_kind(kind);
    if (!s) {
        free(pos);
        return unknown_kind(spec.name, kind);
    }
    void *cfg = calloc(1, s->size);
    rc = CLI_OK;
    for (size_t i = 0; cfg && i < np; i++) {
        core_status st = core_cfg_load(s, pos[i], NULL, 0, cfg);
        if (st != CORE_OK) {
            int e = cli_fail(st);
            if (e > rc)
                rc = e;
        } else {
            printf("%s: ok (%s)\n", pos[i], kind);
            core_cfg_free(s, cfg);
        }
    }
    free(cfg);
    free(pos);
    return rc;
}

int cli_config_main(int argc, char **argv)
{
    static const cli_command cmds[] = {
        {"kinds", cmd_kinds, "list the config kinds and their defaults files"},
        {"show", cmd_show, "print the effective config of a kind (defaults + file + --set)"},
        {"check", cmd_check, "check config files against their kind's schema"},
    };
    return cli_dispatch("config",
                        "Every stage reads a typed YAML config: shipped defaults under configs/, "
                        "your file over them,\nthen --set overrides. Unknown keys, wrong types "
                        "and out-of-range values are errors.",
                        cmds, sizeof cmds / sizeof *cmds, argc, argv);
}
