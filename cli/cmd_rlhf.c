/* troupe rlhf reward | dpo | grpo CONFIG (the runs); synth-prefs, ingest-prefs and judge are
 * in cli/cmd_rlhf_data.c. */
#include "cli/cli.h"
#include "rlhf/rlhf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_run(int mode, const char *name, int argc, char **argv)
{
    cli_config_opts c = {0};
    const char *resume = NULL;
    int64_t stop_after = 0;
    const cli_opt opts[] = {
        {"stop-after", 0, CLI_INT, &stop_after, "N", "stop after N steps of this run, resumable"},
        {"resume", 0, CLI_STR, &resume, "auto|PATH",
         "continue from OUTPUT/checkpoints/last.h5 (auto) or a checkpoint"},
        {"set", 0, CLI_LIST, &c.sets, "KEY=VALUE", "override one config key (repeatable)"},
        {"print-config", 0, CLI_FLAG, &c.print, NULL, "print the effective config and exit"},
    };
    static const char *const about[] = {
        "Trains a reward model from an SFT checkpoint on preference pairs: Bradley-Terry on a "
        "linear head's\nscore of each reply's last position (docs/rlhf.md).",
        "Direct preference optimisation of an SFT checkpoint (sigmoid, ipo or hinge loss); "
        "reference\nlog-probs are computed once and stored (docs/rlhf.md).",
        "Group relative policy optimisation: replies sampled through the KV cache, rewarded by "
        "the\npersona-consistency judge and/or a reward model, clipped ratio, k3 KL to the SFT "
        "checkpoint (docs/rlhf.md)."};
    char usage[160];
    snprintf(usage, sizeof usage, "troupe rlhf %s CONFIG [--set KEY=VALUE]... [--resume auto|PATH]",
             name);
    char full[32];
    snprintf(full, sizeof full, "rlhf %s", name);
    const cli_spec spec = {full, usage, about[mode], opts, sizeof opts / sizeof *opts, 0, 1,
                           "Example:\n  troupe rlhf dpo configs/rlhf/dpo.yaml --set init=run/checkpoints/"
                           "last.h5 \\\n      --set data.prefs=prefs.h5 --set data.personas=personas.h5 "
                           "--set output=runs/dpo"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    c.config = np ? pos[0] : NULL;
    free(pos);
    rlhf_cfg cfg;
    bool done;
    const core_cfg_schema *schema = rlhf_schema(mode);
    if ((rc = cli_config_load(schema, &c, &cfg, &done)) != CLI_OK || done)
        return rc;
    char *yaml = core_cfg_emit(schema, &cfg);
    rlhf_result r;
    core_status st = yaml ? train_dist_init(&argc, &argv) : core_error_code();
    if (st == CORE_OK)
        st = rlhf_run(mode, &cfg, yaml, resume, stop_after, &r);
    int nranks;
    const bool lead = cli_dist_done(st, &nranks);
    if (st == CORE_OK && lead) {
        if (r.resumed_from)
            printf("rlhf %s: resumed at step %lld\n", name, (long long)r.resumed_from);
        printf("rlhf %s: %lld steps in %.1f s, loss %.4f -> %.4f\n", name, (long long)r.steps,
               r.seconds, r.first_loss, r.last_loss);
        if (!isnan(r.first_accuracy))
            printf("rlhf %s: held-out %s %.3f -> %.3f (pairs the reply's text decides %.3f -> "
                   "%.3f, pairs only the user's audio decides %.3f -> %.3f)\n",
                   name, mode == RLHF_DPO ? "rewards/accuracies" : "accuracy", r.first_accuracy,
                   r.accuracy, r.first_accuracy_text, r.accuracy_text, r.first_accuracy_cue,
                   r.accuracy_cue);
        if (!isnan(r.first_accuracy)) {
            printf("rlhf %s: per reason (held-out pairs):", name);
            for (int k = 0; k < RLHF_N_REASONS; k++)
                if (r.eval_pairs_reason[k])
                    printf(" %s %.3f -> %.3f (%zu)", rlhf_prefs_reasons()[k],
                           r.first_accuracy_reason[k], r.accuracy_reason[k],
                           r.eval_pairs_reason[k]);
            printf("\n");
        }
        if (mode == RLHF_GRPO)
            printf("rlhf grpo: mean reward (first %d steps -> last %d) %.3f -> %.3f, KL to the "
                   "reference %.4f\n",
                   r.reward_window, r.reward_window, r.first_reward, r.last_reward, r.last_kl);
        if (!isnan(r.judge_before))
            printf("rlhf %s: persona consistency (judge) of the reply the model prefers in each "
                   "held-out pair %.3f -> %.3f\n",
                   name, r.judge_before, r.judge_after);
        if (!isnan(r.gen_judge_before))
            printf("rlhf %s: persona consistency (judge) of greedy replies to held-out contexts "
                   "%.3f -> %.3f\n",
                   name, r.gen_judge_before, r.gen_judge_after);
        printf("rlhf %s: checkpoints in %s/checkpoints/, metrics in %s/metrics.jsonl\n", name,
               cfg.output, cfg.output);
    }
    free(yaml);
    core_cfg_free(schema, &cfg);
    return cli_fail(st);
}

int cli_rlhf_main(int argc, char **argv)
{
    static const char *const runs[] = {"reward", "dpo", "grpo"};
    if (argc > 1)
        for (int i = 0; i < 3; i++)
            if (!strcmp(argv[1], runs[i]))
                return cmd_run(i, runs[i], argc - 1, argv + 1);
    return cli_rlhf_data_main(argc, argv);
}
