/* troupe eval --bench SPEC --checkpoint C [--checkpoint C2 ...] [-o DIR]: scores
 * checkpoints side by side and writes the report (docs/eval.md). */
#include "cli/cli.h"
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A run's metrics log next to its checkpoints: RUN/checkpoints/X.h5 -> RUN/metrics.jsonl. */
static char *metrics_log_of(const char *ckpt)
{
    char *p = core_strdup(ckpt);
    if (!p)
        return NULL;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            free(p);
            return NULL;
        }
        *slash = '\0';
    }
    char *m = core_sprintf("%s/metrics.jsonl", p);
    free(p);
    if (m && access(m, R_OK) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

int cli_eval_main(int argc, char **argv)
{
    cli_config_opts c = {0};
    cli_list ckpts = {0}, logs = {0};
    const char *out = "eval-report";
    bool no_plots = false;
    const cli_opt opts[] = {
        {"bench", 'b', CLI_STR, &c.config, "SPEC", "benchmark spec (configs/eval/*.yaml)"},
        {"checkpoint", 0, CLI_LIST, &ckpts, "CKPT", "a checkpoint to score (repeatable: side by side)"},
        {"metrics-log", 0, CLI_LIST, &logs, "FILE",
         "training metrics.jsonl for the curves, one per --checkpoint (default: the run's own, "
         "RUN/metrics.jsonl for RUN/checkpoints/*.h5)"},
        {"output", 'o', CLI_STR, &out, "DIR", "report folder (default eval-report)"},
        {"no-plots", 0, CLI_FLAG, &no_plots, NULL, "write report.json and report.md only"},
        {"set", 0, CLI_LIST, &c.sets, "KEY=VALUE", "override one spec key (repeatable)"},
        {"print-config", 0, CLI_FLAG, &c.print, NULL, "print the effective spec and exit"},
    };
    const cli_spec spec = {
        "eval",
        "troupe eval --bench SPEC --checkpoint CKPT [--checkpoint CKPT]... [-o DIR]",
        "Scores checkpoints on a held-out set (docs/eval.md): paralinguistic comprehension\n"
        "(accuracy and macro-F1 per dimension), general dialogue (hits@1 among candidates,\n"
        "perplexity, fit to the user's cue), persona consistency over multi-turn self-play (a\n"
        "drift curve), streaming latency, and a weighted overall score with bootstrap 95%\n"
        "intervals. Refuses items whose audio a checkpoint trained on. Prints the table, writes\n"
        "DIR/report.json, DIR/report.md and DIR/plots/*.svg, and exits 1 when a score is outside\n"
        "the spec's reference tolerance.",
        opts,
        sizeof opts / sizeof *opts,
        0,
        0,
        "Example:\n  troupe eval --bench configs/eval/demo.yaml --set data.corpus=demo-out/synth-corpus "
        "\\\n      --set data.personas=demo-out/personas.h5 --checkpoint "
        "demo-out/run/checkpoints/last.h5 -o demo-out/eval"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc)) {
        cli_list_free(&ckpts);
        cli_list_free(&logs);
        return rc;
    }
    free(pos);
    eval_cfg cfg;
    bool done;
    if ((rc = cli_config_load(&eval_schema, &c, &cfg, &done)) != CLI_OK || done) {
        cli_list_free(&ckpts);
        cli_list_free(&logs);
        return rc;
    }
    core_status st = eval_cfg_finish(&cfg);
    eval_set set = {0};
    eval_result *res = NULL;
    char **mlogs = NULL;
    size_t nres = 0;
    if (st != CORE_OK)
        goto fail;
    if (ckpts.n == 0) {
        rc = cli_usage_error("eval: give at least one --checkpoint");
        goto out;
    }
    if (logs.n && logs.n != ckpts.n) {
        rc = cli_usage_error("eval: %zu --metrics-log for %zu --checkpoint: give one each or none",
                             logs.n, ckpts.n);
        goto out;
    }
    if (cfg.stepeval)
        st = eval_set_from_stepeval(cfg.stepeval, &set);
    else if (!cfg.corpus || !cfg.personas)
        st = CORE_ERR(CORE_ERR_USAGE, "eval: the spec names no eval set: set data.corpus and "
                                      "data.personas, or data.stepeval");
    else
        st = eval_set_from_corpus(cfg.corpus, cfg.split, cfg.personas, &set);
    if (st != CORE_OK)
        goto fail;
    if (cfg.items > 0)
        eval_set_truncate(&set, (size_t)cfg.items);
    if (cfg.set_sha256 && strcmp(cfg.set_sha256, set.sha256) != 0) {
        st = CORE_ERR(CORE_ERR_CHECK,
                      "eval: the eval set (%s, %zu items) has sha256 %s, the spec '%s' expects %s: "
                      "not the set the benchmark names",
                      set.source, set.n, set.sha256, cfg.name, cfg.set_sha256);
        goto fail;
    }
    core_log(CORE_LOG_INFO, "eval: %s, %zu items, sha256 %s", set.source, set.n, set.sha256);
    res = core_zalloc(ckpts.n, sizeof *res, "eval");
    mlogs = core_zalloc(ckpts.n, sizeof *mlogs, "eval");
    if (!res || !mlogs) {
        st = CORE_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ckpts.n; i++) {
        st = eval_run(&cfg, &set, ckpts.items[i], &res[i]);
        nres = i + 1;
        if (st != CORE_OK)
            goto fail;
        mlogs[i] = logs.n ? core_strdup(logs.items[i]) : metrics_log_of(ckpts.items[i]);
        core_log(CORE_LOG_INFO, "eval: %s scored in %.1f s", ckpts.items[i], res[i].seconds);
    }
    {
        eval_report rep = {&cfg, &set, res, ckpts.n, (const char *const *)mlogs, no_plots};
        char *table = eval_report_table(&rep);
        if (table)
            fputs(table, stdout);
        free(table);
        st = eval_report_write(&rep, out);
        if (st != CORE_OK)
            goto fail;
        printf("report: %s/report.json, %s/report.md\n", out, out);
        if (!no_plots) { /* the plots drawn: a part not measured has none */
            static const char *const names[] = {"paralinguistic", "drift", "latency", "training"};
            char list[256] = "";
            for (int k = 0; k < 4; k++) {
                char *p = core_sprintf("%s/plots/%s.svg", out, names[k]);
                if (p && access(p, R_OK) == 0)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             *list ? "," : "", names[k]);
                free(p);
            }
            if (*list)
                printf("plots:  %s/plots/{%s}.svg\n", out, list);
        }
        rc = CLI_OK;
        for (size_t i = 0; i < ckpts.n; i++)
            if (!eval_report_within(&rep, i)) {
                fprintf(stderr, "troupe: eval: %s is outside the reference tolerance of '%s'\n",
                        ckpts.items[i], cfg.name);
                rc = CLI_FAILED;
            }
    }
    goto out;
fail:
    rc = cli_fail(st);
out:
    for (size_t i = 0; i < nres; i++)
        eval_result_free(&res[i]);
    free(res);
    if (mlogs)
        for (size_t i = 0; i < ckpts.n; i++)
            free(mlogs[i]);
    free(mlogs);
    eval_set_free(&set);
    core_cfg_free(&eval_schema, &cfg);
    cli_list_free(&ckpts);
    cli_list_free(&logs);
    return rc;
}
