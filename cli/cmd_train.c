/* troupe train CONFIG | troupe train export CKPT --safetensors OUT */
#include "cli/cli.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_export(int argc, char **argv)
{
    const char *out = NULL;
    const cli_opt opts[] = {
        {"safetensors", 0, CLI_STR, &out, "FILE", "write the weights as safetensors"}};
    const cli_spec spec = {"train export", "troupe train export CKPT --safetensors OUT",
                           "Writes a checkpoint's parameters as a safetensors file (float32, the "
                           "names of docs/model.md),\nfor PyTorch users.",
                           opts, 1, 1, 1, NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    const char *ckpt = pos[0];
    free(pos);
    if (!out)
        return cli_usage_error("%s: --safetensors OUT is required", spec.name);
    core_status st = train_export_safetensors(ckpt, out);
    if (st == CORE_OK)
        printf("train export: wrote %s\n", out);
    return cli_fail(st);
}

static int cmd_run(int argc, char **argv)
{
    cli_config_opts c = {0};
    const char *resume = NULL;
    int64_t stop_after = 0;
    const cli_opt opts[] = {
        {"stop-after", 0, CLI_INT, &stop_after, "N",
         "stop after N steps of this run, resumable (an interruption on purpose)"},
        {"resume", 0, CLI_STR, &resume, "auto|PATH",
         "continue from OUTPUT/checkpoints/last.h5 (auto) or a checkpoint"},
        {"set", 0, CLI_LIST, &c.sets, "KEY=VALUE", "override one config key (repeatable)"},
        {"print-config", 0, CLI_FLAG, &c.print, NULL, "print the effective config and exit"},
    };
    const cli_spec spec = {"train", "troupe train CONFIG [--set KEY=VALUE]... [--resume auto|PATH]",
                           "Trains the persona-conditioned speech-language model (docs/model.md) "
                           "on the shards of\n`data ingest`: AdamW with warmup and cosine decay, "
                           "gradient clipping, validation every N\nsteps, best/last checkpoints. "
                           "`troupe train export CKPT --safetensors OUT` exports weights.",
                           opts, sizeof opts / sizeof *opts, 0, 1,
                           "Example:\n  troupe train configs/train/default.yaml --set "
                           "data.corpus=corpus --set data.personas=personas.h5 \\\n      --set "
                           "output=runs/demo --set max_steps=200"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    c.config = np ? pos[0] : NULL;
    free(pos);
    train_cfg cfg;
    bool done;
    if ((rc = cli_config_load(&train_schema, &c, &cfg, &done)) != CLI_OK || done)
        return rc;
    char *yaml = core_cfg_emit(&train_schema, &cfg);
    train_result r;
    /* Under mpirun or srun every rank runs this; without a launcher there is no MPI. */
    core_status st = yaml ? train_dist_init(&argc, &argv) : core_error_code();
    if (st == CORE_OK)
        st = train_run(&cfg, yaml, resume, stop_after, &r);
    int nranks;
    const bool lead = cli_dist_done(st, &nranks);
    if (st == CORE_OK && lead) {
        if (nranks > 1)
            printf("train: %d ranks (data parallel)\n", nranks);
        if (nranks > 1)
            printf("train: gradient exchange %.2f s in flight, %.2f s waited for (%.0f%% hidden "
                   "behind the backward)\n",
                   r.comm_total_s, r.comm_wait_s,
                   r.comm_total_s > 0 ? 100.0 * (1.0 - r.comm_wait_s / r.comm_total_s) : 0.0);
        if (r.resumed_from)
            printf("train: resumed at step %lld\n", (long long)r.resumed_from);
        printf("train: %lld steps in %.1f s (%.0f tokens/s), loss %.4f -> %.4f%s\n",
               (long long)r.steps, r.seconds, r.tokens_per_s, r.first_loss, r.last_loss,
               r.early_stopped ? " (early stop)" : "");
        if (r.first_val_loss != 0)
            printf("train: validation loss %.4f -> %.4f, paralinguistic accuracy %.3f -> %.3f\n",
                   r.first_val_loss, r.val_loss, r.first_val_para_acc, r.val_para_acc);
        if (r.skipped)
            printf("train: %lld steps skipped for non-finite loss or gradients\n",
                   (long long)r.skipped);
        printf("train: checkpoints in %s/checkpoints/, metrics in %s/metrics.jsonl\n", cfg.output,
               cfg.output);
    }
    free(yaml);
    core_cfg_free(&train_schema, &cfg);
    return cli_fail(st);
}

int cli_train_main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "export"))
        return cmd_export(argc - 1, argv + 1);
    return cmd_run(argc, argv);
}
