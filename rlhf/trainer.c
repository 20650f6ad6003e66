/* The RLHF runs: reward model, DPO and GRPO from an SFT checkpoint (docs/rlhf.md). One loop
 * for the three: items (preference pairs, or prompts for GRPO) in a seeded order per epoch,
 * `batch` items per micro-batch, `accumulate` micro-batches per step split over the MPI
 * ranks as the trainer of train/ splits them, gradients through train_model_backward_ext and
 * the same bucketed exchange, AdamW with warmup and cosine decay, metrics named as TRL names
 * them, checkpoints with lineage (the SFT checkpoint as parent, the preference data as
 * dataset) that resume exactly. */
#include "data/data.h"
#include "rlhf/rlhf.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- configs */

#define F(key, type, field, lo, hi, choices, flags, help)                                  \
    {key, type, offsetof(rlhf_cfg, field), lo, hi, choices, flags, help}
#define COMMON                                                                                 \
    F("init", CORE_CFG_STR, init, 0, 0, NULL, CORE_CFG_REQUIRED,                             \
      "the SFT checkpoint to start from (troupe train's last.h5 or best.h5)"),                 \
        F("model", CORE_CFG_STR, model, 0, 0, NULL, 0,                                       \
          "the model config of that checkpoint (relative to configs/)"),                       \
        F("data.prefs", CORE_CFG_STR, prefs, 0, 0, NULL, CORE_CFG_REQUIRED,                  \
          "preference data (rlhf synth-prefs or ingest-prefs output)"),                        \
        F("data.personas", CORE_CFG_STR, personas, 0, 0, NULL, CORE_CFG_REQUIRED,            \
          "the personas.h5 the preference data refers to"),                                    \
        F("output", CORE_CFG_STR, output, 0, 0, NULL, CORE_CFG_REQUIRED,                     \
          "run folder: checkpoints and metrics"),                                              \
        F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of the order and sampling"),  \
        F("batch", CORE_CFG_INT, batch, 1, 4096, NULL, 0, "items per micro-batch"),          \
        F("accumulate", CORE_CFG_INT, accumulate, 1, 1024, NULL, 0,                          \
          "micro-batches per step (a multiple of the ranks)"),                                 \
        F("max_steps", CORE_CFG_INT, max_steps, 1, 1e9, NULL, 0, "optimizer steps"),         \
        F("optim.lr", CORE_CFG_REAL, lr, 0, 1, NULL, 0, "peak learning rate"),               \
        F("optim.min_lr", CORE_CFG_REAL, min_lr, 0, 1, NULL, 0, "learning rate at the end"), \
        F("optim.warmup", CORE_CFG_INT, warmup, 0, 1e9, NULL, 0, "linear warmup steps"),     \
        F("optim.weight_decay", CORE_CFG_REAL, weight_decay, 0, 10, NULL, 0,                 \
          "decoupled weight decay"),                                                           \
        F("optim.grad_clip", CORE_CFG_REAL, grad_clip, 0, 1e9, NULL, 0,                      \
          "clip the global gradient norm (0: off)"),                                           \
        F("eval.every", CORE_CFG_INT, eval_every, 0, 1e9, NULL, 0,                           \
          "evaluate on the held-out items every N steps (0: only at the end)"),                \
        F("eval.items", CORE_CFG_INT, eval_items, 1, 1e6, NULL, 0, "held-out items evaluated"), \
        F("eval.generate", CORE_CFG_INT, eval_generate, 0, 1e6, NULL, 0,                     \
          "held-out contexts answered (greedy) and scored by the judge (0: none)"),            \
        F("eval.max_new", CORE_CFG_INT, max_new, 1, 4096, NULL, 0,                           \
          "reply bytes generated at most (eval and GRPO)"),                                    \
        F("checkpoint.every", CORE_CFG_INT, ckpt_every, 0, 1e9, NULL, 0,                     \
          "save every N steps (0: only at the end)"),                                          \
        F("checkpoint.keep_last", CORE_CFG_INT, keep_last, 1, 1e6, NULL, 0,                  \
          "step checkpoints kept"),                                                            \
        F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0,                                \
          "OpenBLAS threads per rank (0: cores / ranks on the host)"),                         \
        F("dist.bucket_mb", CORE_CFG_REAL, dist.bucket_mb, 0.0625, 4096, NULL, 0,            \
          "gradient all-reduce bucket size in MiB"),                                           \
        F("dist.timeout", CORE_CFG_REAL, dist.timeout, 1, 1e6, NULL, 0,                      \
          "seconds to wait for the other ranks")

static const core_cfg_field reward_fields[] = {
    COMMON,
    F("reward.margin", CORE_CFG_REAL, margin, -100, 100, NULL, 0,
      "margin the chosen score must beat the rejected one by"),
    F("reward.center", CORE_CFG_REAL, center, 0, 100, NULL, 0,
      "reward centring coefficient: + center (s_c + s_r)^2"),
    F("reward.para_aux", CORE_CFG_REAL, para_aux, 0, 100, NULL, 0,
      "weight of the paralinguistic losses (the user's cue) kept as an auxiliary task"),
    F("reward.backbone_lr", CORE_CFG_REAL, backbone_lr, 0, 1, NULL, 0,
      "the learning rate of the SFT model's weights as a fraction of the reward head's "
      "(optim.lr); 0 keeps them as they are and trains the head alone"),
    F("reward.reply_aux", CORE_CFG_REAL, reply_aux, 0, 100, NULL, 0,
      "weight of the head's auxiliary loss: the user's cue read off the chosen reply's "
      "opening (0: off)"),
};
static const core_cfg_field dpo_fields[] = {
    COMMON,
    F("dpo.loss", CORE_CFG_ENUM, loss, 0, 0, "sigmoid|ipo|hinge", 0, "DPO loss type"),
    F("dpo.beta", CORE_CFG_REAL, beta, 1e-6, 1e6, NULL, 0, "DPO beta (strength of the reference)"),
    F("dpo.label_smoothing", CORE_CFG_REAL, label_smoothing, 0, 0.5, NULL, 0,
      "conservative DPO: assumed chance a label is flipped (sigmoid loss)"),
};
static const core_cfg_field grpo_fields[] = {
    COMMON,
    F("grpo.group", CORE_CFG_INT, group, 2, 256, NULL, 0, "replies sampled per prompt (G)"),
    F("grpo.temperature", CORE_CFG_REAL, temperature, 0.01, 10, NULL, 0, "sampling temperature"),
    F("grpo.top_k", CORE_CFG_INT, top_k, 0, 260, NULL, 0, "sample among the k likeliest (0: all)"),
    F("grpo.epsilon", CORE_CFG_REAL, epsilon, 0, 1, NULL, 0, "clip the ratio below at 1 - epsilon"),
    F("grpo.epsilon_high", CORE_CFG_REAL, epsilon_high, 0, 10, NULL, 0,
      "clip the ratio above at 1 + epsilon_high"),
    F("grpo.beta", CORE_CFG_REAL, beta, 0, 100, NULL, 0, "weight of the k3 KL to the reference"),
    F("grpo.iterations", CORE_CFG_INT, iterations, 1, 64, NULL, 0,
      "optimizer updates per batch of rollouts (the ratio moves from 1 after the first)"),
    F("grpo.turns", CORE_CFG_INT, turns, 1, 16, NULL, 0,
      "turns per rollout: each reply joins the history of the next turn, and the judge also "
      "scores consistency across them"),
    F("grpo.reward", CORE_CFG_ENUM, reward_source, 0, 0, "judge|model|both", 0,
      "what rewards a reply: the judge, the reward model, or their sum"),
    F("grpo.reward_model", CORE_CFG_STR, reward_model, 0, 0, NULL, CORE_CFG_NULLABLE,
      "a `rlhf reward` checkpoint (for reward: model or both)"),
    F("grpo.target_len", CORE_CFG_INT, target_len, 1, 4096, NULL, 0,
      "replies longer than this many bytes are penalised"),
    F("grpo.length_penalty", CORE_CFG_REAL, length_penalty, 0, 100, NULL, 0,
      "penalty per byte beyond target_len, over target_len"),
    F("grpo.repetition_penalty", CORE_CFG_REAL, repetition_penalty, 0, 100, NULL, 0,
      "penalty times the share of repeated 4-byte sequences"),
    F("grpo.eos_penalty", CORE_CFG_REAL, eos_penalty, 0, 100, NULL, 0,
      "penalty when the reply does not end (no EOS within max_new)"),
};
#undef F
#undef COMMON

const core_cfg_schema rlhf_reward_schema = {"rlhf.reward", "rlhf/reward.yaml", sizeof(rlhf_cfg),
                                            reward_fields,
                                            sizeof reward_fields / sizeof *reward_fields,
                                            "rlhf reward: the reward model (Bradley-Terry)"};
const core_cfg_schema rlhf_dpo_schema = {"rlhf.dpo", "rlhf/dpo.yaml", sizeof(rlhf_cfg), dpo_fields,
                                         sizeof dpo_fields / sizeof *dpo_fields,
                                         "rlhf dpo: direct preference optimisation"};
const core_cfg_schema rlhf_grpo_schema = {"rlhf.grpo", "rlhf/grpo.yaml", sizeof(rlhf_cfg),
                                          grpo_fields, sizeof grpo_fields / sizeof *grpo_fields,
                                          "rlhf grpo: group relative policy optimisation"};

const core_cfg_schema *rlhf_schema(int mode)
{
    return mode == RLHF_REWARD ? &rlhf_reward_schema
           : mode == RLHF_DPO  ? &rlhf_dpo_schema
                               : &rlhf_grpo_schema;
}

/* ---------------------------------------------------------------- generation */

core_status rlhf_reply(train_infer *s, int budget, double temperature, int top_k, core_rng *rng,
                       int32_t *out, int *n_out, bool *eos)
{
    float logits[TRAIN_VOCAB];
    *n_out = 0;
    *eos = false;
    core_status st = train_infer_push(s, TRAIN_POS_TOKEN, NULL, DATA_TOK_BOS, logits);
    for (int i = 0; i < budget && st == CORE_OK; i++) {
        /* bytes and EOS only: BOS, USER and ASSISTANT are never a reply's */
        logits[DATA_TOK_BOS] = logits[DATA_TOK_USER] = logits[DATA_TOK_ASSISTANT] = -INFINITY;
        int32_t tok = temperature <= 0 ? train_sample(logits, TRAIN_VOCAB, 0, 0, 1.0, rng)
                                       : train_sample(logits, TRAIN_VOCAB, temperature, top_k,
                                                      1.0, rng);
        if (tok == DATA_TOK_EOS) {
            *eos = true;
            break;
        }
        out[(*n_out)++] = tok;
        if (i + 1 < budget)
            st = train_infer_push(s, TRAIN_POS_TOKEN, NULL, tok, logits);
    }
    return st;
}

core_status rlhf_generate(train_infer *s, const float *persona, const int32_t *history,
                          size_t n_history, const float *mel, size_t frames, int max_new,
                          double temperature, int top_k, core_rng *rng, int32_t *out, int *n_out,
                          bool *eos)
{
    int budget; /* what the layout leaves for the reply */
    *n_out = 0;
    *eos = false;
    /* the context as chunks through the cache (docs/inference.md), then the reply token by
     * token */
    core_status st = train_infer_push_context(s, persona, history, n_history, mel, frames,
                                              max_new, false, &budget, NULL);
    return st == CORE_OK ? rlhf_reply(s, budget, temperature, top_k, rng, out, n_out, eos) : st;
}

/* The bytes of a reply as a C string (cap >= n + 1). */
static void reply_text(const int32_t *tok, int n, char *buf, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < n && k + 1 < cap; i++)
        buf[k++] = (char)(tok[i] > 0 && tok[i] < 256 ? tok[i] : '?');
    buf[k] = '\0';
}

/* ---------------------------------------------------------------- the run */

enum { HIST_CAP = 8192 };

/* GRPO: one micro-batch's rollouts, kept for the `iterations` updates of the step. */
typedef struct rollouts {
    train_batch b;
    double *adv;    /* [rows] */
    double *old_lp; /* [rows * T] the sampling policy's log-probs */
    double *ref_lp; /* [rows * T] the reference's */
    int *ntok;      /* [rows] */
} rollouts;

typedef struct run {
    const rlhf_cfg *cfg;
    int mode;
    train_model_cfg mc;
    train_model *m, *ref, *rm; /* policy (or reward model), GRPO's reference and reward model */
    double rm_mean, rm_std;
    train_adamw opt;
    train_sync *sync;
    rlhf_prefs *prefs;
    rlhf_personas *personas;
    size_t *train_idx, n_train, *val_idx, n_val;
    size_t *order;
    uint64_t order_epoch; /* epoch of `order`, plus one (0: none yet) */
    double *ref_c, *ref_r; /* DPO: reference log-probs per pair */
    train_batch b;         /* one micro-batch of pairs */
    int max_rows;
    train_infer *inf;
    int32_t *gen; /* a generated reply */
    float *dloss, *dhidden;
    rollouts *ro; /* GRPO: one per local micro-batch */
    int64_t local;
} run;

/* The train item at global position pos: epochs of seeded shuffles of the train split. */
static size_t item_at(run *R, uint64_t pos)
{
    uint64_t epoch = pos / R->n_train;
    if (R->order_epoch != epoch + 1) {
        core_rng r;
        core_rng_init(&r, (uint64_t)R->cfg->seed, "rlhf.shuffle");
        r = core_rng_fork(&r, epoch);
        memcpy(R->order, R->train_idx, R->n_train * sizeof *R->order);
        for (size_t i = R->n_train; i > 1; i--) {
            size_t j = (size_t)core_rng_below(&r, i), t = R->order[i - 1];
            R->order[i - 1] = R->order[j];
            R->order[j] = t;
        }
        R->order_epoch = epoch + 1;
    }
    return R->order[pos % R->n_train];
}

/* The context both replies of pair p keep when max_seq cuts: the cut the longer reply
 * needs (history first, then audio), so chosen and rejected see the same history and audio
 * and differ only in the reply. *frames is the user's frames kept (from the start). */
static void pair_context(const run *R, const rlhf_pair *p, size_t *hist, size_t *frames)
{
    size_t a, r;
    const size_t longer = p->n_chosen > p->n_rejected ? p->n_chosen : p->n_rejected;
    train_sequence_length(p->n_history, p->frames, longer, (int)R->mc.max_seq, (int)R->mc.stack,
                          hist, &a, &r);
    const size_t f = a * (size_t)R->mc.stack;
    *frames = f < p->frames ? f : p->frames;
}

/* Lays pairs idx[0..n) out in R->b as rows 2i (chosen) and 2i + 1 (rejected). */
static void layout_pairs(run *R, const size_t *idx, int n)
{
    train_batch *b = &R->b;
    enum { MAX_PAIRS = 64 };
    CORE_ASSERT(n <= MAX_PAIRS);
    size_t hist[MAX_PAIRS], frames[MAX_PAIRS];
    int T = 0;
    for (int i = 0; i < n; i++) {
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, idx[i]);
        pair_context(R, p, &hist[i], &frames[i]);
        size_t h, a, r;
        for (int c = 0; c < 2; c++) {
            int len = train_sequence_length(hist[i], frames[i], c ? p->n_rejected : p->n_chosen,
                                            (int)R->mc.max_seq, (int)R->mc.stack, &h, &a, &r);
            T = len > T ? len : T;
        }
    }
    b->B = 2 * n;
    b->T = T;
    for (int i = 0; i < n; i++) {
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, idx[i]);
        for (int c = 0; c < 2; c++)
            train_sequence_layout(b, 2 * i + c, p->persona, p->history + (p->n_history - hist[i]),
                                  hist[i], p->mel, frames[i], c ? p->rejected : p->chosen,
                                  c ? p->n_rejected : p->n_chosen, (int)R->mc.max_seq,
                                  (int)R->mc.stack);
    }
    /* the user's cue as the paralinguistic labels it gives (emotion, laughter, hesitation,
     * speed; the rest unknown): the reward model's auxiliary loss */
    for (int i = 0; i < n; i++) {
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, idx[i]);
        for (int c = 0; c < 2; c++) {
            int32_t *l = b->labels + (size_t)(2 * i + c) * TRAIN_N_HEADS_PARA;
            for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
                l[k] = -1;
            l[0] = p->cue.emotion;
            l[1] = p->cue.laughter;
            l[2] = p->cue.hesitation;
            l[3] = p->cue.speed;
        }
    }
}

/* The next batch of this rank's share of pairs list[0..n) (list NULL: 0..n-1; pair i is
 * rank i % N's), from *at on: up to `batch` of them into idx, laid out in R->b and run
 * forward. Returns how many; 0 when this rank has none left. */
static int next_pairs(run *R, const size_t *list, size_t n, size_t *at, size_t *idx)
{
    const int rank = train_dist_rank(), size = train_dist_size();
    int k = 0;
    for (; *at < n && k < (int)R->cfg->batch; (*at)++)
        if ((int)(*at % (size_t)size) == rank)
            idx[k++] = list ? list[*at] : *at;
    if (k) {
        layout_pairs(R, idx, k);
        train_model_forward(R->m, &R->b);
    }
    return k;
}

/* The DPO reference: log-probs of every pair under the SFT model, computed once (pairs
 * shared over the ranks) and kept in OUTPUT/reference-logps.h5, keyed by the hashes of the
 * checkpoint and the preference data, so no reference model stays in memory. */
static core_status reference_logps(run *R, const char *init_id)
{
    const rlhf_cfg *cfg = R->cfg;
    const size_t n = rlhf_prefs_count(R->prefs);
    char *path = core_sprintf("%s/reference-logps.h5", cfg->output);
    char *key = core_sprintf("%s | %s", init_id, rlhf_prefs_id(R->prefs));
    core_status st = CORE_OK;
    hid_t f = H5I_INVALID_HID;
    char *stored = NULL;
    double *c = NULL, *r = NULL;
    R->ref_c = core_zalloc(n ? n : 1, sizeof(double), "reference log-probs");
    R->ref_r = core_zalloc(n ? n : 1, sizeof(double), "reference log-probs");
    if (!R->ref_c || !R->ref_r || !path || !key) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    if (access(path, R_OK) == 0 && core_h5_open(path, &f) == CORE_OK &&
        core_h5_attr_get_str(f, "key", &stored) == CORE_OK && !strcmp(stored, key)) {
        int rank;
        hsize_t dc[8], dr[8];
        if (core_h5_read(f, "chosen", CORE_H5_F64, &rank, dc, (void **)&c) == CORE_OK &&
            core_h5_read(f, "rejected", CORE_H5_F64, &rank, dr, (void **)&r) == CORE_OK &&
            dc[0] == n && dr[0] == n) {
            memcpy(R->ref_c, c, n * sizeof(double));
            memcpy(R->ref_r, r, n * sizeof(double));
            if (train_dist_rank() == 0)
                core_log(CORE_LOG_INFO, "reference log-probs read from %s", path);
            goto done;
        }
    }
    const int rank = train_dist_rank();
    size_t idx[64], at = 0;
    int k;
    double lp[128];
    while ((k = next_pairs(R, NULL, n, &at, idx)) > 0) {
        train_model_seq_logps(R->m, &R->b, lp, NULL);
        for (int j = 0; j < k; j++) {
            R->ref_c[idx[j]] = lp[2 * j];
            R->ref_r[idx[j]] = lp[2 * j + 1];
        }
    }
    /* one rank wrote each slot, the others left 0: the sums are exact */
    CORE_TRY(train_dist_sum(R->ref_c, n));
    CORE_TRY(train_dist_sum(R->ref_r, n));
    if (rank == 0) {
        core_h5_out out = {0};
        hsize_t dim = n;
        CORE_TRY(core_h5_create(&out, path));
        st = core_h5_attr_set_str(out.file, "key", key);
        if (st == CORE_OK)
            st = core_h5_write(out.file, "chosen", CORE_H5_F64, 1, &dim, R->ref_c);
        if (st == CORE_OK)
            st = core_h5_write(out.file, "rejected", CORE_H5_F64, 1, &dim, R->ref_r);
        if (st == CORE_OK)
            st = core_h5_commit(&out);
        else
            core_h5_abort(&out);
    }
done:
    core_h5_close(f);
    free(stored);
    free(c);
    free(r);
    free(path);
    free(key);
    return st;
}

/* Greedy replies to the first eval.generate held-out contexts, scored by the judge. */
static core_status judge_eval(run *R, double *mean)
{
    const rlhf_cfg *cfg = R->cfg;
    const size_t n = R->n_val < (size_t)cfg->eval_generate ? R->n_val : (size_t)cfg->eval_generate;
    double sums[2] = {0, 0};
    const int rank = train_dist_rank(), size = train_dist_size();
    char text[8192];
    core_status st = CORE_OK;
    for (size_t i = 0; i < n && st == CORE_OK; i++) {
        if ((int)(i % (size_t)size) != rank)
            continue;
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, R->val_idx[i]);
        data_persona_style style;
        if (!rlhf_personas_style(R->personas, p->persona_id, &style))
            continue;
        core_rng rng;
        core_rng_init(&rng, 1, "rlhf.eval");
        int nn;
        bool eos;
        st = rlhf_generate(R->inf, p->persona, p->history, p->n_history, p->mel,
                           p->frames, (int)cfg->max_new, 0, 0, &rng, R->gen, &nn, &eos);
        if (st != CORE_OK)
            break;
        reply_text(R->gen, nn, text, sizeof text);
        rlhf_judge_item it = {&style, p->cue, p->lang, p->turn, text};
        rlhf_judge_score sc;
        rlhf_judge(&it, &sc);
        sums[0] += sc.total;
        sums[1] += 1;
    }
    core_status ex = train_dist_sum(sums, 2);
    *mean = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    return st != CORE_OK ? st : ex;
}

/* The judge's score of a pair's chosen (c = 0) or rejected (c = 1) reply. */
static double judge_reply(run *R, const rlhf_pair *p, int c)
{
    data_persona_style style;
    if (!rlhf_personas_style(R->personas, p->persona_id, &style))
        return NAN;
    char text[8192];
    reply_text(c ? p->rejected : p->chosen, (int)(c ? p->n_rejected : p->n_chosen), text,
               sizeof text);
    rlhf_judge_item it = {&style, p->cue, p->lang, p->turn, text};
    rlhf_judge_score sc;
    rlhf_judge(&it, &sc);
    return sc.total;
}

/* Held-out pair numbers: DPO's rewards/accuracies (or the reward model's accuracy) overall,
 * over the pairs only the user's audio decides (reason ignored_cue) and the rest, and per
 * reason; the judge's mean score of the reply the model prefers of each pair: the likelier
 * per byte (DPO, GRPO) or the higher scored (reward model). NaN where no pair counts. */
typedef struct pair_numbers {
    double acc, judge_pick, cue, text, reason[RLHF_N_REASONS];
    size_t n_reason[RLHF_N_REASONS];
} pair_numbers;

/* Keeps pair_eval's accuracies in a result's before (first = true) or after fields. */
static void keep_numbers(rlhf_result *res, const pair_numbers *pn, bool first)
{
    *(first ? &res->first_accuracy_cue : &res->accuracy_cue) = pn->cue;
    *(first ? &res->first_accuracy_text : &res->accuracy_text) = pn->text;
    memcpy(first ? res->first_accuracy_reason : res->accuracy_reason, pn->reason,
           sizeof pn->reason);
    memcpy(res->eval_pairs_reason, pn->n_reason, sizeof pn->n_reason);
}

static core_status pair_eval(run *R, pair_numbers *out)
{
    const rlhf_cfg *cfg = R->cfg;
    const size_t n = R->n_val < (size_t)cfg->eval_items ? R->n_val : (size_t)cfg->eval_items;
    enum { S_RIGHT, S_N, S_JUDGE, S_NJUDGE, S_REASON, N_S = S_REASON + 2 * RLHF_N_REASONS };
    double sums[N_S] = {0}, v[128];
    int ntok[128];
    size_t idx[64], at = 0;
    int k;
    while ((k = next_pairs(R, R->val_idx, n, &at, idx)) > 0) {
        if (R->mode == RLHF_REWARD)
            rlhf_reward_scores(R->m, &R->b, v);
        else
            train_model_seq_logps(R->m, &R->b, v, ntok);
        for (int j = 0; j < k; j++) {
            double a = v[2 * j], b = v[2 * j + 1], pa = a, pb = b;
            if (R->mode == RLHF_DPO) {
                a = cfg->beta * (a - R->ref_c[idx[j]]);
                b = cfg->beta * (b - R->ref_r[idx[j]]);
            }
            if (R->mode != RLHF_REWARD) { /* per byte (and EOS) */
                pa /= ntok[2 * j] > 0 ? ntok[2 * j] : 1;
                pb /= ntok[2 * j + 1] > 0 ? ntok[2 * j + 1] : 1;
            }
            const rlhf_pair *pp = rlhf_prefs_get(R->prefs, idx[j]);
            const int k_why = rlhf_prefs_reason_index(pp->reason);
            const int why = k_why >= 0 ? k_why : RLHF_N_REASONS - 1; /* else "other" */
            sums[S_RIGHT] += a > b;
            sums[S_N] += 1;
            sums[S_REASON + 2 * why] += a > b;
            sums[S_REASON + 2 * why + 1] += 1;
            double js = judge_reply(R, pp, pa >= pb ? 0 : 1);
            if (!isnan(js)) {
                sums[S_JUDGE] += js;
                sums[S_NJUDGE] += 1;
            }
        }
    }
    core_status st = train_dist_sum(sums, N_S);
    const int cue = rlhf_prefs_reason_index("ignored_cue");
    double text_right = 0, text_n = 0;
    for (int r = 0; r < RLHF_N_REASONS; r++) {
        const double right = sums[S_REASON + 2 * r], cnt = sums[S_REASON + 2 * r + 1];
        out->reason[r] = cnt > 0 ? right / cnt : NAN;
        out->n_reason[r] = (size_t)cnt;
        if (r != cue) {
            text_right += right;
            text_n += cnt;
        }
    }
    out->acc = sums[S_N] > 0 ? sums[S_RIGHT] / sums[S_N] : NAN;
    out->judge_pick = sums[S_NJUDGE] > 0 ? sums[S_JUDGE] / sums[S_NJUDGE] : NAN;
    out->text = text_n > 0 ? text_right / text_n : NAN;
    out->cue = out->reason[cue];
    return st;
}

/* Share of a reply's 4-byte sequences that already occurred earlier in it. */
static double repetition(const int32_t *t, int n)
{
    if (n < 8)
        return 0;
    int rep = 0;
    for (int i = 4; i + 4 <= n; i++)
        for (int j = 0; j < i; j++)
            if (!memcmp(t + i, t + j, 4 * sizeof *t)) {
                rep++;
                break;
            }
    return (double)rep / (double)(n - 7);
}

/* Step metrics as sums over items; names per mode in emit(). Exchanged per micro-batch. */
enum { K_LOSS, K_A, K_B, K_C, K_D, K_E, K_F, K_G, K_H, K_I, K_G2, K_N, N_SUM };
enum { K_MIN = N_SUM, K_MAX, N_SLOTS };

/* DPO or reward: one micro-batch of pairs, forward, objective, backward. */
static void pairs_step(run *R, const size_t *items, int n, double global, int64_t step,
                       bool last_local, double *sl)
{
    const rlhf_cfg *cfg = R->cfg;
    train_batch *b = &R->b;
    layout_pairs(R, items, n);
    train_model_forward(R->m, b);
    const size_t NT = (size_t)b->B * (size_t)b->T;
    double v[128];
    if (R->mode == RLHF_DPO) {
        memset(R->dloss, 0, NT * sizeof(float));
        train_model_seq_logps(R->m, b, v, NULL);
        for (int i = 0; i < n; i++) {
            double pc = v[2 * i], pr = v[2 * i + 1], gc, gr;
            double rc = R->ref_c[items[i]], rr = R->ref_r[items[i]];
            sl[K_LOSS] += rlhf_dpo(rlhf_dpo_loss_parse(cfg->loss), cfg->beta, cfg->label_smoothing,
                                   pc, pr, rc, rr, &gc, &gr);
            double wc = cfg->beta * (pc - rc), wr = cfg->beta * (pr - rr);
            sl[K_A] += wc;      /* rewards/chosen */
            sl[K_B] += wr;      /* rewards/rejected */
            sl[K_C] += wc > wr; /* rewards/accuracies */
            sl[K_D] += pc;      /* logps/chosen */
            sl[K_E] += pr;      /* logps/rejected */
            /* token loss = -log p: d objective / d loss_t = -d objective / d logp */
            for (int c = 0; c < 2; c++) {
                float g = (float)(-(c ? gr : gc) / global);
                for (int t = 0; t < b->T; t++) {
                    size_t k = (size_t)(2 * i + c) * (size_t)b->T + (size_t)t;
                    if (b->targets[k] >= 0)
                        R->dloss[k] = g;
                }
            }
        }
        sl[K_N] += n;
        if (last_local)
            train_sync_arm(R->sync, step);
        train_model_backward_ext(R->m, b, R->dloss, 0.0f, NULL);
        return;
    }
    rlhf_reward_scores(R->m, b, v);
    const size_t d = (size_t)R->mc.d_model;
    memset(R->dhidden, 0, NT * d * sizeof(float));
    double g[128];
    /* the head's gradients first: the backward reports the tail (with the head) as done */
    for (int i = 0; i < n; i++) {
        double gc, gr;
        sl[K_LOSS] += rlhf_bradley_terry(v[2 * i], v[2 * i + 1], cfg->margin, cfg->center, &gc, &gr);
        sl[K_A] += v[2 * i] > v[2 * i + 1]; /* accuracy */
        sl[K_B] += v[2 * i] - v[2 * i + 1]; /* margin */
        sl[K_C] += v[2 * i] + v[2 * i + 1]; /* sum of rewards */
        sl[K_D] += v[2 * i] * v[2 * i] + v[2 * i + 1] * v[2 * i + 1];
        for (int c = 0; c < 2; c++) {
            sl[K_MIN] = fmin(sl[K_MIN], v[2 * i + c]);
            sl[K_MAX] = fmax(sl[K_MAX], v[2 * i + c]);
        }
        g[2 * i] = gc / global;
        g[2 * i + 1] = gr / global;
    }
    rlhf_reward_backward(R->m, b, g, R->dhidden);
    if (cfg->reply_aux > 0) /* rows 0, 2, 4, ...: the chosen replies */
        sl[K_E] += rlhf_reward_aux(R->m, b, 2, cfg->reply_aux / global, R->dhidden);
    sl[K_N] += n;
    if (last_local)
        train_sync_arm(R->sync, step);
    train_model_backward_ext(R->m, b, NULL, (float)(cfg->para_aux * (double)b->B / global),
                             R->dhidden);
}

/* GRPO, phase 1 for one micro-batch: G replies per prompt over `turns` turns, their
 * rewards, group advantages, and the sampling policy's and the reference's log-probs. */
static core_status rollout(run *R, rollouts *ro, const size_t *items, int n, int64_t step,
                           int micro, double *sl)
{
    const rlhf_cfg *cfg = R->cfg;
    const int Gn = (int)cfg->group, rows = n * Gn, max_new = (int)cfg->max_new;
    const int turns = (int)cfg->turns;
    core_status st = CORE_OK;
    double reward[1024];
    int32_t *replies = core_alloc((size_t)rows, (size_t)max_new * sizeof(int32_t), "rollouts");
    int32_t *hists = core_alloc((size_t)rows, HIST_CAP * sizeof(int32_t), "rollouts");
    size_t *nh = core_zalloc((size_t)rows, sizeof(size_t), "rollouts");
    int64_t *ends = core_alloc((size_t)rows * 16, sizeof(int64_t), "rollouts");
    int *nr = core_zalloc((size_t)rows, sizeof(int), "rollouts");
    char *texts = core_alloc((size_t)turns, (size_t)max_new + 1, "rollouts");
    if (!replies || !hists || !nh || !nr || !texts || !ends) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < (size_t)rows * 16; i++)
        ends[i] = -1;
    for (int i = 0; i < n && st == CORE_OK; i++) {
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, items[i]);
        data_persona_style style;
        const bool known = rlhf_personas_style(R->personas, p->persona_id, &style);
        for (int g = 0; g < Gn && st == CORE_OK; g++) {
            const int row = i * Gn + g;
            /* one stream per (step, micro-batch, prompt, reply): the same for any ranks */
            core_rng rng;
            core_rng_init(&rng, (uint64_t)cfg->seed, "rlhf.grpo.sample");
            rng = core_rng_fork(&rng, (((uint64_t)step * 1024 + (uint64_t)micro) * 4096 +
                                       (uint64_t)i) * 256 + (uint64_t)g);
            int32_t *h = hists + (size_t)row * HIST_CAP, *reply = replies + (size_t)row * max_new;
            size_t k = p->n_history < HIST_CAP ? p->n_history : HIST_CAP;
            memcpy(h, p->history + (p->n_history - k), k * sizeof *h);
            rlhf_judge_item it[16];
            rlhf_judge_score sc[16];
            bool eos = false;
            for (int t = 0; t < turns && st == CORE_OK; t++) {
                if (t > 0) {
                    /* the reply joins the history as the corpus writes it ("... || reply");
                     * the user's turn comes again (its words are not known, only its audio) */
                    static const char sep[] = " || ";
                    if (k + 4 + (size_t)nr[row] > HIST_CAP)
                        k = 0;
                    for (int c = 0; k && c < 4; c++)
                        h[k++] = (unsigned char)sep[c];
                    memcpy(h + k, reply, (size_t)nr[row] * sizeof *h);
                    k += (size_t)nr[row];
                    /* where that turn's reply ends in the history: the reward model scores
                     * each turn there */
                    if (nr[row] > 0 && t - 1 < 15)
                        ends[(size_t)row * 16 + (size_t)(t - 1)] = (int64_t)k - 1;
                }
                st = rlhf_generate(R->inf, p->persona, h, k, p->mel, p->frames, max_new,
                                   cfg->temperature, (int)cfg->top_k, &rng, reply, &nr[row], &eos);
                char *tx = texts + (size_t)t * ((size_t)max_new + 1);
                reply_text(reply, nr[row], tx, (size_t)max_new + 1);
                /* turn kinds: the opening is followed by follow-ups */
                const int kind = t == 0 ? p->turn : p->turn == 0 ? 1 : p->turn;
                it[t] = (rlhf_judge_item){&style, p->cue, p->lang, kind, tx};
            }
            nh[row] = k;
            double r = 0;
            if (known && strcmp(cfg->reward_source, "model") != 0) {
                double cons = rlhf_judge_dialogue(it, (size_t)turns, sc), mean = 0;
                for (int t = 0; t < turns; t++)
                    mean += sc[t].total;
                mean /= turns;
                r += turns > 1 ? 0.5 * mean + 0.5 * cons : mean;
                sl[K_H] += sc[turns - 1].total; /* the judge on the final turn */
            }
            const int len = nr[row];
            if (len > cfg->target_len)
                r -= cfg->length_penalty * (double)(len - cfg->target_len) / (double)cfg->target_len;
            r -= cfg->repetition_penalty * repetition(reply, len);
            if (!eos)
                r -= cfg->eos_penalty;
            reward[row] = r;
            sl[K_E] += len;
            sl[K_MIN] = fmin(sl[K_MIN], len);
            sl[K_MAX] = fmax(sl[K_MAX], len);
            sl[K_F] += !eos;
        }
    }
    if (st != CORE_OK)
        goto done;
    /* the final turn's sequences */
    train_batch *b = &ro->b;
    int T = 0;
    for (int row = 0; row < rows; row++) {
        size_t a1, a2, a3;
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, items[row / Gn]);
        int len = train_sequence_length(nh[row], p->frames, (size_t)nr[row], (int)R->mc.max_seq,
                                        (int)R->mc.stack, &a1, &a2, &a3);
        T = len > T ? len : T;
    }
    b->B = rows;
    b->T = T;
    for (int row = 0; row < rows; row++) {
        const rlhf_pair *p = rlhf_prefs_get(R->prefs, items[row / Gn]);
        train_sequence_layout(b, row, p->persona, hists + (size_t)row * HIST_CAP, nh[row], p->mel,
                              p->frames, replies + (size_t)row * max_new, (size_t)nr[row],
                              (int)R->mc.max_seq, (int)R->mc.stack);
    }
    for (int i = 0; i < rows * TRAIN_N_HEADS_PARA; i++)
        b->labels[i] = -1;
    if (R->rm) {
        /* the reward model's normalised score of every turn: at the final reply's EOS, and
         * (multi-turn) at the end of each earlier reply in the history, as far as the
         * layout kept it; the reward is their mean */
        double s[1024];
        train_model_forward(R->rm, b);
        rlhf_reward_scores(R->rm, b, s);
        const double sd = R->rm_std > 0 ? R->rm_std : 1.0;
        for (int row = 0; row < rows; row++) {
            const rlhf_pair *p = rlhf_prefs_get(R->prefs, items[row / Gn]);
            size_t kept, a1, a2;
            train_sequence_length(nh[row], p->frames, (size_t)nr[row], (int)R->mc.max_seq,
                                  (int)R->mc.stack, &kept, &a1, &a2);
            double sum = (s[row] - R->rm_mean) / sd;
            int count = 1;
            for (int t = 0; t < 16; t++) {
                int64_t j = ends[(size_t)row * 16 + (size_t)t];
                if (j < 0 || (size_t)j < nh[row] - kept)
                    continue; /* no such turn, or cut from the history */
                const int pos = 1 + (int)((size_t)j - (nh[row] - kept));
                sum += (rlhf_reward_linear(R->rm, b, row, pos) - R->rm_mean) / sd;
                count++;
            }
            reward[row] += sum / count;
            sl[K_G2] += count; /* turns scored by the reward model */
        }
    }
    sl[K_I] += n; /* groups */
    for (int i = 0; i < n; i++) {
        double std;
        rlhf_group_advantages(reward + i * Gn, Gn, true, ro->adv + i * Gn, &std);
        sl[K_B] += std;        /* reward_std, per group */
        sl[K_C] += std == 0;   /* frac_reward_zero_std */
    }
    for (int row = 0; row < rows; row++)
        sl[K_A] += reward[row]; /* reward */
    const size_t NT = (size_t)rows * (size_t)T;
    train_model_forward(R->ref, b);
    const float *lr = train_model_token_losses(R->ref);
    for (size_t i = 0; i < NT; i++)
        ro->ref_lp[i] = -lr[i];
    train_model_forward(R->m, b);
    const float *lp = train_model_token_losses(R->m);
    for (size_t i = 0; i < NT; i++)
        ro->old_lp[i] = -lp[i];
    for (int row = 0; row < rows; row++) {
        ro->ntok[row] = 0;
        for (int t = 0; t < T; t++)
            ro->ntok[row] += b->targets[(size_t)row * (size_t)T + (size_t)t] >= 0;
    }
    sl[K_N] += rows;
done:
    free(replies);
    free(hists);
    free(nh);
    free(ends);
    free(nr);
    free(texts);
    return st;
}

/* GRPO, phase 2 for one micro-batch: the clipped objective with the k3 KL, mean over each
 * reply's tokens then over the step's replies (`global`), and its backward. */
static void grpo_backward(run *R, rollouts *ro, double global, int64_t step, bool last_local,
                          double *sl)
{
    const rlhf_cfg *cfg = R->cfg;
    train_batch *b = &ro->b;
    train_model_forward(R->m, b);
    const float *losses = train_model_token_losses(R->m);
    const int T = b->T;
    memset(R->dloss, 0, (size_t)b->B * (size_t)T * sizeof(float));
    for (int row = 0; row < b->B; row++) {
        if (!ro->ntok[row])
            continue;
        double seq = 0, kl = 0, clipped = 0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)row * (size_t)T + (size_t)t;
            if (b->targets[i] < 0)
                continue;
            double g, k3;
            bool c;
            seq += rlhf_grpo_token(-losses[i], ro->old_lp[i], ro->ref_lp[i], ro->adv[row],
                                   cfg->epsilon, cfg->epsilon_high, cfg->beta, &g, &c, &k3);
            kl += k3;
            clipped += c;
            R->dloss[i] = (float)(-g / ro->ntok[row] / global);
        }
        sl[K_LOSS] += seq / ro->ntok[row];
        sl[K_D] += kl / ro->ntok[row]; /* kl */
        sl[K_G] += clipped / ro->ntok[row]; /* clip_ratio */
    }
    if (last_local)
        train_sync_arm(R->sync, step);
    train_model_backward_ext(R->m, b, R->dloss, 0.0f, NULL);
}

static core_status save(run *R, const char *path, const train_ckpt_meta *meta)
{
    train_params *P = train_model_params(R->m);
    core_status st = train_dist_check_same(P->data, P->count * sizeof(float),
                                           "the parameters before a checkpoint");
    if (st == CORE_OK && train_dist_rank() == 0)
        st = train_ckpt_save(path, P, &R->opt, meta);
    return train_dist_agree(st);
}

static void free_run(run *R)
{
    train_model_free(R->m);
    train_model_free(R->ref);
    train_model_free(R->rm);
    train_adamw_free(&R->opt);
    train_sync_free(R->sync);
    rlhf_prefs_free(R->prefs);
    rlhf_personas_free(R->personas);
    free(R->train_idx);
    free(R->val_idx);
    free(R->order);
    free(R->ref_c);
    free(R->ref_r);
    train_batch_free(&R->b);
    train_infer_free(R->inf);
    free(R->gen);
    free(R->dloss);
    free(R->dhidden);
    for (int64_t j = 0; R->ro && j < R->local; j++) {
        train_batch_free(&R->ro[j].b);
        free(R->ro[j].adv);
        free(R->ro[j].old_lp);
        free(R->ro[j].ref_lp);
        free(R->ro[j].ntok);
    }
    free(R->ro);
}

/* Writes one step's metrics: TRL's names for each mode. */
static void emit(core_metrics *mx, int mode, int64_t step, double lr, double norm,
                 const double *t, double seconds)
{
    const double n = t[K_N] > 0 ? t[K_N] : 1;
    json_t *j = json_pack("{s:I, s:f, s:f, s:f, s:f}", "step", (json_int_t)step, "loss",
                          t[K_LOSS] / n, "lr", lr, "grad_norm", norm, "seconds", seconds);
    if (!j)
        return;
    if (mode == RLHF_DPO) {
        json_object_set_new(j, "rewards/chosen", json_real(t[K_A] / n));
        json_object_set_new(j, "rewards/rejected", json_real(t[K_B] / n));
        json_object_set_new(j, "rewards/margins", json_real((t[K_A] - t[K_B]) / n));
        json_object_set_new(j, "rewards/accuracies", json_real(t[K_C] / n));
        json_object_set_new(j, "logps/chosen", json_real(t[K_D] / n));
        json_object_set_new(j, "logps/rejected", json_real(t[K_E] / n));
    } else if (mode == RLHF_REWARD) {
        json_object_set_new(j, "accuracy", json_real(t[K_A] / n));
        json_object_set_new(j, "margin", json_real(t[K_B] / n));
        json_object_set_new(j, "mean_reward", json_real(t[K_C] / (2 * n)));
        json_object_set_new(j, "min_reward", json_real(t[K_MIN]));
        json_object_set_new(j, "max_reward", json_real(t[K_MAX]));
        json_object_set_new(j, "reply_cue_loss", json_real(t[K_E] / n));
    } else {
        json_object_set_new(j, "reward", json_real(t[K_A] / n));
        json_object_set_new(j, "reward_std", json_real(t[K_B] / (t[K_I] > 0 ? t[K_I] : 1)));
        json_object_set_new(j, "frac_reward_zero_std", json_real(t[K_C] / (t[K_I] > 0 ? t[K_I] : 1)));
        json_object_set_new(j, "kl", json_real(t[K_D] / n));
        json_object_set_new(j, "clip_ratio", json_real(t[K_G] / n));
        json_object_set_new(j, "completions/mean_length", json_real(t[K_E] / n));
        json_object_set_new(j, "completions/min_length", json_real(t[K_MIN]));
        json_object_set_new(j, "completions/max_length", json_real(t[K_MAX]));
        json_object_set_new(j, "completions/clipped_ratio", json_real(t[K_F] / n));
        json_object_set_new(j, "judge", json_real(t[K_H] / n));
        if (t[K_G2] > 0) /* replies scored by the reward model: turns scored per reply */
            json_object_set_new(j, "reward_model/turns_per_reply", json_real(t[K_G2] / n));
    }
    core_metrics_write(mx, j);
    json_decref(j);
}

/* ---------------------------------------------------------------- rlhf_run */

static void file_id(const char *path, char **out)
{
    uint8_t h[32];
    char hex[CORE_SHA256_HEX];
    *out = NULL;
    if (core_sha256_file(path, h, NULL) == CORE_OK) {
        core_hex(hex, h, 32);
        *out = core_sprintf("sha256:%s %s", hex, path);
    }
}

core_status rlhf_run(int mode, const rlhf_cfg *cfg, const char *config_yaml, const char *resume,
                     int64_t stop_after, rlhf_result *res)
{
    memset(res, 0, sizeof *res);
    res->judge_before = res->judge_after = res->first_accuracy = res->accuracy = NAN;
    res->gen_judge_before = res->gen_judge_after = NAN;
    res->first_accuracy_cue = res->first_accuracy_text = res->accuracy_cue = NAN;
    res->accuracy_text = NAN;
    for (int r = 0; r < RLHF_N_REASONS; r++)
        res->first_accuracy_reason[r] = res->accuracy_reason[r] = NAN;
    run R = {0};
    R.cfg = cfg;
    R.mode = mode;
    core_status st = CORE_OK;
    train_ckpt_meta init = {0}, meta = {0};
    core_metrics *mx = NULL;
    char *init_id = NULL, *ckdir = NULL, *mpath = NULL, **datasets = NULL;
    uint8_t *lin_audio = NULL;
    size_t n_datasets = 0;
    double *slots = NULL;
    char path[4096];
    const int rank = train_dist_rank(), nranks = train_dist_size();
    const bool lead = rank == 0;
    if (cfg->accumulate % nranks != 0)
        return CORE_ERR(CORE_ERR_CHECK,
                        "accumulate = %lld is not a multiple of the %d ranks: the global batch "
                        "(batch x accumulate items) is split into whole micro-batches",
                        (long long)cfg->accumulate, nranks);
    if (mode == RLHF_DPO && rlhf_dpo_loss_parse(cfg->loss) < 0)
        return CORE_ERR(CORE_ERR_CHECK, "dpo.loss: '%s' is not sigmoid, ipo or hinge", cfg->loss);
    const int pair_rows = mode == RLHF_GRPO ? (int)(cfg->batch * cfg->group) : (int)(2 * cfg->batch);
    if (pair_rows > 1024 || (mode != RLHF_GRPO && cfg->batch > 64))
        return CORE_ERR(CORE_ERR_RANGE, "batch: at most 64 pairs or 1024 rollouts per micro-batch");
    R.local = cfg->accumulate / nranks;
    const int64_t first_mb = rank * R.local;

    /* the model, as the SFT checkpoint has it */
    CORE_TRY(train_model_cfg_load(cfg->model, &R.mc));
    R.mc.reward_head = mode == RLHF_REWARD;
    const int threads = train_dist_threads(cfg->threads);
    openblas_set_num_threads(threads);
    R.max_rows = pair_rows;
    CORE_TRY(train_model_create(&R.mc, R.max_rows, &R.m));
    train_model_init(R.m, (uint64_t)cfg->seed); /* the reward head's start; the rest is loaded */
    train_params *P = train_model_params(R.m), *Gr = train_model_grads(R.m);
    CORE_TRY(train_ckpt_load_init(cfg->init, P, mode == RLHF_REWARD ? "reward." : NULL));
    /* reward.backbone_lr: the reward head's views, the last of the block, train at optim.lr,
     * the rest at that times backbone_lr (0: not at all) */
    const double backbone = mode == RLHF_REWARD ? cfg->backbone_lr : 1.0;
    const size_t head = backbone != 1.0 ? train_params_find(P, "reward.w")->offset : 0;
    CORE_TRY(train_ckpt_load(cfg->init, NULL, NULL, &init)); /* its lineage */
    file_id(cfg->init, &init_id);
    if (!init_id) {
        st = core_error_code();
        goto done;
    }
    if (mode == RLHF_GRPO) {
        train_model_cfg mc0 = R.mc;
        CORE_TRY(train_model_create(&mc0, R.max_rows, &R.ref));
        CORE_TRY(train_ckpt_load_init(cfg->init, train_model_params(R.ref), NULL));
        if (strcmp(cfg->reward_source, "judge") != 0) {
            if (!cfg->reward_model) {
                st = CORE_ERR(CORE_ERR_CHECK, "grpo.reward = %s needs grpo.reward_model",
                              cfg->reward_source);
                goto done;
            }
            train_model_cfg mr = R.mc;
            mr.reward_head = true;
            CORE_TRY(train_model_create(&mr, R.max_rows, &R.rm));
            train_ckpt_meta rmeta = {0};
            CORE_TRY(train_ckpt_load(cfg->reward_model, train_model_params(R.rm), NULL, &rmeta));
            R.rm_mean = rmeta.has_reward_norm ? rmeta.reward_mean : 0;
            R.rm_std = rmeta.has_reward_norm ? rmeta.reward_std : 1;
            train_ckpt_meta_free(&rmeta);
        }
    }
    CORE_TRY(train_adamw_init(&R.opt, P));
    CORE_TRY(train_sync_create(&cfg->dist, Gr, &R.sync));
    train_model_set_grad_hook(R.m, train_sync_hook, R.sync);
    CORE_TRY(train_infer_create(R.m, &R.inf));

    /* the data */
    CORE_TRY(rlhf_prefs_open(cfg->prefs, cfg->personas, &R.prefs));
    CORE_TRY(rlhf_personas_load(cfg->personas, &R.personas));
    const size_t n_items = rlhf_prefs_count(R.prefs);
    R.train_idx = core_alloc(n_items ? n_items : 1, sizeof(size_t), "rlhf items");
    R.val_idx = core_alloc(n_items ? n_items : 1, sizeof(size_t), "rlhf items");
    R.order = core_alloc(n_items ? n_items : 1, sizeof(size_t), "rlhf items");
    if (!R.train_idx || !R.val_idx || !R.order) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        if (rlhf_prefs_split(R.prefs, i) == 0)
            R.train_idx[R.n_train++] = i;
        else
            R.val_idx[R.n_val++] = i;
    }
    if (R.n_train == 0) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: no training items (split 0)", cfg->prefs);
        goto done;
    }
    bool b_ok = train_batch_alloc(&R.b, 2 * (int)cfg->batch, (int)R.mc.max_seq, (int)R.mc.stack);
    R.gen = core_alloc((size_t)cfg->max_new + 1, sizeof(int32_t), "generation");
    R.dloss = core_alloc((size_t)R.max_rows * (size_t)R.mc.max_seq, sizeof(float), "rlhf");
    if (mode == RLHF_REWARD)
        R.dhidden = core_alloc((size_t)R.max_rows * (size_t)R.mc.max_seq,
                               (size_t)R.mc.d_model * sizeof(float), "rlhf");
    if (!b_ok || !R.gen || !R.dloss || (mode == RLHF_REWARD && !R.dhidden)) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    if (mode == RLHF_GRPO) {
        R.ro = calloc((size_t)R.local, sizeof *R.ro);
        if (!R.ro) {
            st = CORE_ERR(CORE_ERR_NOMEM, "rlhf: out of memory");
            goto done;
        }
        const size_t NT = (size_t)R.max_rows * (size_t)R.mc.max_seq;
        for (int64_t j = 0; j < R.local; j++) {
            bool ok = train_batch_alloc(&R.ro[j].b, R.max_rows, (int)R.mc.max_seq, (int)R.mc.stack);
            R.ro[j].adv = core_alloc((size_t)R.max_rows, sizeof(double), "rollouts");
            R.ro[j].old_lp = core_alloc(NT, sizeof(double), "rollouts");
            R.ro[j].ref_lp = core_alloc(NT, sizeof(double), "rollouts");
            R.ro[j].ntok = core_alloc((size_t)R.max_rows, sizeof(int), "rollouts");
            if (!ok || !R.ro[j].adv || !R.ro[j].old_lp || !R.ro[j].ref_lp ||
                !R.ro[j].ntok) {
                st = CORE_ERR_NOMEM;
                goto done;
            }
        }
    }
    ckdir = core_sprintf("%s/checkpoints", cfg->output);
    if (lead) {
        CORE_TRY(core_mkdir_p(cfg->output));
        CORE_TRY(core_mkdir_p(ckdir));
    }
    CORE_TRY(train_dist_agree(CORE_OK));

    /* lineage: the SFT checkpoint is the parent; its data, and the preference data */
    datasets = core_alloc(init.n_datasets + 1, sizeof *datasets, "lineage");
    if (!datasets) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < init.n_datasets; i++)
        datasets[n_datasets++] = init.datasets[i];
    datasets[n_datasets++] = (char *)(uintptr_t)rlhf_prefs_id(R.prefs);
    meta.config_yaml = (char *)(uintptr_t)config_yaml;
    meta.datasets = datasets;
    meta.n_datasets = n_datasets;
    meta.manifests = init.manifests;
    meta.n_manifests = init.n_manifests;
    meta.recordings_sha256 = init.recordings_sha256;
    /* the audio trained on: the parent's and that of the training pairs */
    {
        size_t np = rlhf_prefs_count(R.prefs), k = init.n_audio;
        lin_audio = core_alloc(init.n_audio + np + 1, 32, "lineage");
        if (!lin_audio) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        if (init.n_audio)
            memcpy(lin_audio, init.audio_sha256, init.n_audio * 32);
        for (size_t i = 0; i < np; i++) {
            const char *src = rlhf_prefs_source(R.prefs, i);
            if (rlhf_prefs_split(R.prefs, i) == 0 && src && core_unhex(lin_audio + k * 32, 32, src))
                k++;
        }
        meta.audio_sha256 = lin_audio;
        meta.n_audio = train_hashes_unique(lin_audio, k);
    }
    meta.best_val_loss = INFINITY;
    core_rng_init(&meta.rng, (uint64_t)cfg->seed, "rlhf.run");
    /* parent_sha256 holds only the hex */
    char parent_hex[CORE_SHA256_HEX];
    snprintf(parent_hex, sizeof parent_hex, "%.64s", init_id + 7);
    meta.parent_sha256 = parent_hex;

    if (mode == RLHF_DPO)
        CORE_TRY(reference_logps(&R, init_id));
    /* before: the SFT model's held-out numbers */
    if (R.n_val) {
        pair_numbers pn;
        CORE_TRY(pair_eval(&R, &pn));
        res->first_accuracy = pn.acc;
        res->judge_before = pn.judge_pick;
        keep_numbers(res, &pn, true);
    }
    if (mode == RLHF_GRPO)
        res->first_accuracy = NAN; /* no reference log-probs: only the pick counts */
    if (mode != RLHF_REWARD && cfg->eval_generate > 0 && R.n_val)
        CORE_TRY(judge_eval(&R, &res->gen_judge_before));

    int64_t step = 0;
    if (resume) {
        char rp[4096];
        if (!strcmp(resume, "auto"))
            snprintf(rp, sizeof rp, "%s/last.h5", ckdir);
        else
            snprintf(rp, sizeof rp, "%s", resume);
        if (strcmp(resume, "auto") != 0 || access(rp, F_OK) == 0) {
            train_ckpt_meta got = {0};
            CORE_TRY(train_ckpt_load(rp, P, &R.opt, &got));
            step = got.step;
            meta.rng = got.rng;
            memcpy(meta.cursor, got.cursor, sizeof meta.cursor);
            train_ckpt_meta_free(&got);
            res->resumed_from = step;
        }
    }
    if (lead) {
        mpath = core_sprintf("%s/metrics.jsonl", cfg->output);
        mx = res->resumed_from ? core_metrics_append(mpath) : core_metrics_open(mpath);
        if (!mx) {
            st = core_error_code();
            goto done;
        }
        json_t *j = json_pack("{s:s, s:I, s:I, s:f, s:f}", "event", "start", "train_items",
                              (json_int_t)R.n_train, "held_out_items", (json_int_t)R.n_val,
                              "held_out_accuracy", isnan(res->first_accuracy) ? -1.0 : res->first_accuracy,
                              "judge_preferred", isnan(res->judge_before) ? -1.0 : res->judge_before);
        if (j) {
            core_metrics_write(mx, j);
            json_decref(j);
        }
    }
    slots = core_alloc((size_t)cfg->accumulate, N_SLOTS * sizeof(double), "step metrics");
    if (!slots) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    train_adamw_cfg ac = {0.9, 0.95, 1e-8, cfg->weight_decay};
    const int64_t every = cfg->max_steps >= 20 ? cfg->max_steps / 20 : 1;
    const double t_start = core_now();
    const double global = (double)(cfg->batch * cfg->accumulate) *
                          (mode == RLHF_GRPO ? (double)cfg->group : 1.0);
    size_t items[64];
    /* GRPO: the mean reward over the run's first and last `window` steps (up to 10, at most
     * half the steps this run makes, so the two do not overlap); recent holds the last ones */
    enum { REWARD_WINDOW = 10 };
    double recent[REWARD_WINDOW] = {0};
    int64_t window = (cfg->max_steps - step) / 2;
    window = window < 1 ? 1 : window > REWARD_WINDOW ? REWARD_WINDOW : window;
    res->reward_window = (int)window;
    while (step < cfg->max_steps) {
        const double t0 = core_now();
        const double lr = train_lr_at(step, cfg->warmup, cfg->max_steps, cfg->lr, cfg->min_lr);
        for (int64_t a = 0; a < cfg->accumulate; a++) {
            double *sl = slots + a * N_SLOTS;
            memset(sl, 0, N_SLOTS * sizeof *sl);
            sl[K_MIN] = INFINITY;
            sl[K_MAX] = -INFINITY;
        }
        double norm = 0;
        const int iters = mode == RLHF_GRPO ? (int)cfg->iterations : 1;
        if (mode == RLHF_GRPO)
            for (int64_t j = 0; j < R.local; j++) {
                for (int i = 0; i < (int)cfg->batch; i++)
                    items[i] = item_at(&R, meta.cursor[0] + (uint64_t)((first_mb + j) * cfg->batch + i));
                CORE_TRY(rollout(&R, &R.ro[j], items, (int)cfg->batch, step + 1,
                                 (int)(first_mb + j), slots + (first_mb + j) * N_SLOTS));
            }
        for (int it = 0; it < iters; it++) {
            train_model_zero_grad(R.m);
            for (int64_t j = 0; j < R.local; j++) {
                double *sl = slots + (first_mb + j) * N_SLOTS;
                const bool last_local = j == R.local - 1;
                if (mode == RLHF_GRPO) {
                    sl[K_LOSS] = sl[K_D] = sl[K_G] = 0; /* of the last iteration */
                    grpo_backward(&R, &R.ro[j], global, step + 1, last_local, sl);
                } else {
                    for (int i = 0; i < (int)cfg->batch; i++)
                        items[i] = item_at(&R, meta.cursor[0] +
                                                   (uint64_t)((first_mb + j) * cfg->batch + i));
                    pairs_step(&R, items, (int)cfg->batch, global, step + 1, last_local, sl);
                }
            }
            CORE_TRY(train_sync_finish(R.sync));
            if (backbone == 0.0) /* the head's gradients only: the backbone's are dropped */
                memset(Gr->data, 0, head * sizeof *Gr->data);
            norm = train_grad_norm(Gr);
            if (!isfinite(norm)) {
                st = CORE_ERR(CORE_ERR_CHECK, "step %lld: gradients not finite (lower optim.lr)",
                              (long long)step + 1);
                goto done;
            }
            if (cfg->grad_clip > 0 && norm > cfg->grad_clip)
                train_grad_scale(Gr, (float)(cfg->grad_clip / norm));
            if (backbone == 1.0) {
                train_adamw_step(&R.opt, P, Gr, lr, &ac);
            } else { /* the backbone [0, head) and the head [head, count) at their rates */
                R.opt.step++;
                if (backbone > 0.0)
                    train_adamw_update(P, P->data, Gr->data, R.opt.m.data, R.opt.v.data, 0, head,
                                       R.opt.step, lr * backbone, &ac);
                train_adamw_update(P, P->data + head, Gr->data + head, R.opt.m.data + head,
                                   R.opt.v.data + head, head, P->count, R.opt.step, lr, &ac);
            }
        }
        meta.cursor[0] += (uint64_t)(cfg->batch * cfg->accumulate);
        /* the step's metrics: slots exchanged (one rank per micro-batch) and summed in order */
        double *mins = core_alloc((size_t)cfg->accumulate * 2, sizeof(double), "metrics");
        if (!mins) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        for (int64_t a = 0; a < cfg->accumulate; a++) { /* min/max: not a sum; sent apart */
            double *sl = slots + a * N_SLOTS;
            bool mine = a >= first_mb && a < first_mb + R.local;
            mins[2 * a] = mine ? sl[K_MIN] : 0;
            mins[2 * a + 1] = mine ? sl[K_MAX] : 0;
            if (!mine)
                memset(sl, 0, N_SUM * sizeof *sl);
        }
        st = train_dist_sum(slots, (size_t)cfg->accumulate * N_SLOTS);
        if (st == CORE_OK)
            st = train_dist_sum(mins, (size_t)cfg->accumulate * 2);
        double tot[N_SLOTS] = {0};
        tot[K_MIN] = INFINITY;
        tot[K_MAX] = -INFINITY;
        for (int64_t a = 0; a < cfg->accumulate; a++) {
            for (int k = 0; k < N_SUM; k++)
                tot[k] += slots[a * N_SLOTS + k];
            tot[K_MIN] = fmin(tot[K_MIN], mins[2 * a]);
            tot[K_MAX] = fmax(tot[K_MAX], mins[2 * a + 1]);
        }
        free(mins);
        if (st != CORE_OK)
            goto done;
        step++;
        const double nn = tot[K_N] > 0 ? tot[K_N] : 1;
        res->last_loss = tot[K_LOSS] / nn;
        if (step == res->resumed_from + 1)
            res->first_loss = res->last_loss;
        if (mode == RLHF_GRPO) { /* means over the first and the last `window` steps */
            const double rw = tot[K_A] / nn;
            const int64_t k = step - res->resumed_from;
            recent[(k - 1) % window] = rw;
            if (k <= window)
                res->first_reward = (res->first_reward * (double)(k - 1) + rw) / (double)k;
            const int64_t w = k < window ? k : window;
            double sum = 0;
            for (int64_t i = 0; i < w; i++)
                sum += recent[i];
            res->last_reward = sum / (double)w;
            res->last_kl = tot[K_D] / nn;
        }
        if (mode == RLHF_REWARD) { /* the scores' mean and std, for normalisation */
            meta.has_reward_norm = true;
            meta.reward_mean = tot[K_C] / (2 * nn);
            double var = tot[K_D] / (2 * nn) - meta.reward_mean * meta.reward_mean;
            meta.reward_std = var > 0 ? sqrt(var) : 0;
        }
        if (lead) {
            emit(mx, mode, step, lr, norm, tot, core_now() - t0);
            if (step % every == 0 || step == cfg->max_steps)
                core_log(CORE_LOG_INFO, "step %lld/%lld  loss %.4f  lr %.2e  grad norm %.3f  %.1fs",
                         (long long)step, (long long)cfg->max_steps, res->last_loss, lr, norm,
                         core_now() - t0);
        }
        const bool last = step == cfg->max_steps;
        const bool interrupted = stop_after > 0 && step - res->resumed_from >= stop_after && !last;
        if (R.n_val && ((cfg->eval_every > 0 && step % cfg->eval_every == 0) || last)) {
            double gen = NAN;
            pair_numbers pn;
            CORE_TRY(pair_eval(&R, &pn));
            double acc = pn.acc, pick = pn.judge_pick;
            keep_numbers(res, &pn, false);
            if (mode == RLHF_GRPO)
                acc = NAN;
            if (mode != RLHF_REWARD && cfg->eval_generate > 0)
                CORE_TRY(judge_eval(&R, &gen));
            res->accuracy = acc;
            res->judge_after = pick;
            res->gen_judge_after = gen;
            if (lead) {
                const char *acc_key =
                    mode == RLHF_DPO ? "eval/rewards/accuracies" : "eval/accuracy";
                json_t *j = json_pack("{s:I, s:f, s:f, s:f}", "step", (json_int_t)step, acc_key,
                                      isnan(acc) ? -1.0 : acc, "eval/judge_preferred",
                                      isnan(pick) ? -1.0 : pick, "eval/judge_generated",
                                      isnan(gen) ? -1.0 : gen);
                for (int r = 0; j && r < RLHF_N_REASONS && mode != RLHF_GRPO; r++)
                    if (!isnan(pn.reason[r])) {
                        char key[64];
                        snprintf(key, sizeof key, "%s/%s", acc_key, rlhf_prefs_reasons()[r]);
                        json_object_set_new(j, key, json_real(pn.reason[r]));
                    }
                if (j) {
                    core_metrics_write(mx, j);
                    json_decref(j);
                }
                core_log(CORE_LOG_INFO,
                         "step %lld: held-out accuracy %.3f, judge of the preferred reply %.3f, "
                         "of greedy replies %.3f",
                         (long long)step, acc, pick, gen);
            }
        }
        if ((cfg->ckpt_every > 0 && step % cfg->ckpt_every == 0) || last || interrupted) {
            meta.step = step;
            train_ckpt_step_path(path, sizeof path, ckdir, step);
            CORE_TRY(save(&R, path, &meta));
            char lp[4096];
            snprintf(lp, sizeof lp, "%s/last.h5", ckdir);
            CORE_TRY(save(&R, lp, &meta));
            if (lead)
                train_ckpt_prune(ckdir, cfg->keep_last);
        }
        if (last || interrupted)
            break;
    }
    res->steps = step;
    res->seconds = core_now() - t_start;
done:;
    core_status closed = core_metrics_close(mx);
    if (st == CORE_OK)
        st = closed;
    free(slots);
    free(datasets);
    free(init_id);
    free(ckdir);
    free(mpath);
    train_ckpt_meta_free(&init);
    free(lin_audio);
    free_run(&R);
    core_cfg_free(&train_model_schema, &R.mc);
    return st;
}
