/* The training loop: batches from the loader, forward and backward, gradient accumulation,
 * clipping by global norm, AdamW with warmup and cosine decay, evaluation on the validation
 * split, early stopping, best/last checkpoints with keep-last-K, metrics as JSON lines, and
 * exact resumption from a checkpoint (parameters, moments, step, RNG and data cursor). */
#include "train/train.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define F(key, type, field, lo, hi, choices, flags, help)                                  \
    {key, type, offsetof(train_cfg, field), lo, hi, choices, flags, help}
static const core_cfg_field train_fields[] = {
    F("model", CORE_CFG_STR, model, 0, 0, NULL, 0,
      "model config (path; relative to configs/, e.g. model/small.yaml)"),
    F("data.corpus", CORE_CFG_STR, corpus, 0, 0, NULL, CORE_CFG_REQUIRED,
      "a `data ingest` output folder"),
    F("data.personas", CORE_CFG_STR, personas, 0, 0, NULL, CORE_CFG_REQUIRED,
      "the personas.h5 the corpus refers to"),
    F("data.train_split", CORE_CFG_STR, train_split, 0, 0, NULL, 0,
      "train on shards whose manifest id contains this"),
    F("data.val_split", CORE_CFG_STR, val_split, 0, 0, NULL, 0,
      "evaluate on shards whose manifest id contains this"),
    F("output", CORE_CFG_STR, output, 0, 0, NULL, CORE_CFG_REQUIRED,
      "run folder: checkpoints and metrics"),
    F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of the init and the data order"),
    F("batch", CORE_CFG_INT, batch, 1, 4096, NULL, 0, "sequences per micro-batch"),
    F("accumulate", CORE_CFG_INT, accumulate, 1, 1024, NULL, 0,
      "micro-batches per optimizer step"),
    F("max_steps", CORE_CFG_INT, max_steps, 1, 1e9, NULL, 0, "optimizer steps"),
    F("optim.lr", CORE_CFG_REAL, lr, 0, 1, NULL, 0, "peak learning rate"),
    F("optim.min_lr", CORE_CFG_REAL, min_lr, 0, 1, NULL, 0, "learning rate at the end"),
    F("optim.warmup", CORE_CFG_INT, warmup, 0, 1e9, NULL, 0, "linear warmup steps"),
    F("optim.weight_decay", CORE_CFG_REAL, weight_decay, 0, 10, NULL, 0,
      "decoupled weight decay (not on norms, biases, embeddings)"),
    F("optim.beta1", CORE_CFG_REAL, beta1, 0, 1, NULL, 0, "AdamW beta1"),
    F("optim.beta2", CORE_CFG_REAL, beta2, 0, 1, NULL, 0, "AdamW beta2"),
    F("optim.eps", CORE_CFG_REAL, eps, 0, 1, NULL, 0, "AdamW epsilon"),
    F("optim.grad_clip", CORE_CFG_REAL, grad_clip, 0, 1e9, NULL, 0,
      "clip the global gradient norm to this (0: no clipping)"),
    F("eval.every", CORE_CFG_INT, eval_every, 0, 1e9, NULL, 0, "evaluate every N steps (0: never)"),
    F("eval.batches", CORE_CFG_INT, eval_batches, 1, 1e6, NULL, 0,
      "validation batches per evaluation"),
    F("eval.patience", CORE_CFG_INT, patience, 0, 1e6, NULL, 0,
      "stop after N evaluations without a better validation loss (0: never)"),
    F("checkpoint.every", CORE_CFG_INT, ckpt_every, 0, 1e9, NULL, 0,
      "save a checkpoint every N steps (0: only at the end)"),
    F("checkpoint.keep_last", CORE_CFG_INT, keep_last, 1, 1e6, NULL, 0,
      "step checkpoints kept (best.h5 and last.h5 always)"),
    F("nan_tolerance", CORE_CFG_INT, nan_tolerance, 1, 1e6, NULL, 0,
      "non-finite steps in a row before stopping with an error"),
    F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0,
      "OpenBLAS threads per rank (0: the cores divided among the ranks on the host)"),
    F("dist.bucket_mb", CORE_CFG_REAL, dist.bucket_mb, 0.0625, 4096, NULL, 0,
      "gradient all-reduce bucket size in MiB (data parallel)"),
    F("dist.deterministic", CORE_CFG_BOOL, dist.deterministic, 0, 0, NULL, 0,
      "sum gradients in a fixed tree: bitwise the same for any number of ranks"),
    F("dist.zero1", CORE_CFG_BOOL, dist.zero1, 0, 0, NULL, 0,
      "shard AdamW's moments across ranks (ZeRO stage 1)"),
    F("dist.timeout", CORE_CFG_REAL, dist.timeout, 1, 1e6, NULL, 0,
      "seconds to wait for the other ranks before stopping the job"),
};
#undef F
const core_cfg_schema train_schema = {"train", "train/default.yaml", sizeof(train_cfg),
                                      train_fields, sizeof train_fields / sizeof *train_fields,
                                      "train: the trainer"};

static void file_sha(const char *path, char **out)
{
    uint8_t h[32];
    char hex[CORE_SHA256_HEX];
    free(*out);
    *out = NULL;
    if (core_sha256_file(path, h, NULL) == CORE_OK) {
        core_hex(hex, h, 32);
        *out = core_strdup(hex);
    }
}

/* Mean loss and paralinguistic accuracy over the first `batches` validation batches. With
 * several ranks, batch i is rank i % N's; the per-batch results are exchanged and summed in
 * batch order, so every rank gets the same numbers as one rank would. */
static core_status evaluate(train_model *m, train_loader *val, int64_t batches, double *loss,
                            double *acc)
{
    const uint64_t start[4] = {0, 0, train_loader_size(val), 0};
    train_loader_seek(val, start);
    size_t nb = train_loader_batches(val);
    if ((size_t)batches < nb)
        nb = (size_t)batches;
    const int rank = train_dist_rank(), size = train_dist_size();
    double *slot = core_zalloc(nb + 2, sizeof *slot, "validation"); /* losses, correct, labelled */
    if (!slot)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < nb; i++) {
        if ((int)(i % (size_t)size) != rank) {
            train_loader_skip(val);
            continue;
        }
        const train_batch *b = train_loader_next(val);
        slot[i] = train_model_forward(m, b);
        train_model_stats s = train_model_last(m);
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
            slot[nb] += (double)s.para_correct[k];
            slot[nb + 1] += (double)s.para_count[k];
        }
    }
    core_status st = train_dist_sum(slot, nb + 2);
    double sum = 0;
    for (size_t i = 0; i < nb; i++)
        sum += slot[i];
    *loss = nb ? sum / (double)nb : NAN;
    *acc = slot[nb + 1] > 0 ? slot[nb] / slot[nb + 1] : NAN;
    free(slot);
    return st;
}

/* A test aid (docs/distributed.md): TROUPE_FAULT=kill|hang|exit:RANK:STEP makes that rank
 * die by SIGKILL, hang, or exit(3) when it starts that step (counted from 1). */
static void maybe_fault(int64_t step)
{
    const char *f = getenv("TROUPE_FAULT");
    char kind[8];
    int rank;
    long long at;
    if (!f || sscanf(f, "%7[a-z]:%d:%lld", kind, &rank, &at) != 3 || rank != train_dist_rank() ||
        at != step)
        return;
    fprintf(stderr, "troupe: TROUPE_FAULT: rank %d: %s at step %lld\n", rank, kind, at);
    if (!strcmp(kind, "kill"))
        raise(SIGKILL);
    else if (!strcmp(kind, "hang"))
        for (;;)
            pause();
    else if (!strcmp(kind, "exit"))
        _exit(3);
}

/* Deterministic mode inside a rank: the gradients of the rank's micro-batches summed as a
 * fixed pairwise tree (left + right), kept as a binary counter of partial sums. */
typedef struct tree_acc {
    float **level;
    unsigned occupied;
    int levels;
    size_t n;
} tree_acc;

static core_status tree_open(tree_acc *t, int64_t k, size_t n)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    while (((int64_t)1 << t->levels) < k)
        t->levels++;
    t->levels++;
    t->level = calloc((size_t)t->levels, sizeof *t->level);
    if (!t->level)
        return CORE_ERR(CORE_ERR_NOMEM, "gradient tree: out of memory");
    for (int i = 0; i < t->levels; i++)
        if (!(t->level[i] = core_alloc(n, sizeof(float), "gradient tree")))
            return CORE_ERR_NOMEM;
    return CORE_OK;
}

static void tree_close(tree_acc *t)
{
    for (int i = 0; t->level && i < t->levels; i++)
        free(t->level[i]);
    free(t->level);
    memset(t, 0, sizeof *t);
}

static void tree_push(tree_acc *t, const float *g)
{
    int lvl = 0;
    const float *cur = g;
    while (t->occupied & (1u << lvl)) {
        float *left = t->level[lvl];
        for (size_t i = 0; i < t->n; i++)
            left[i] += cur[i];
        cur = left;
        t->occupied &= ~(1u << lvl);
        lvl++;
    }
    if (cur != t->level[lvl])
        memcpy(t->level[lvl], cur, t->n * sizeof(float));
    t->occupied |= 1u << lvl;
}

/* The moments as a checkpoint holds them: under ZeRO-1 gathered from the ranks into a
 * temporary whole state on rank 0, else the trainer's own. Rank 0 writes; every rank learns
 * whether it worked. */
static core_status save_all(const char *path, const train_params *params, train_adamw *opt,
                            train_sync *sync, bool zero, const train_ckpt_meta *meta)
{
    core_status st = train_dist_check_same(params->data, params->count * sizeof(float),
                                           "the parameters before a checkpoint");
    if (st != CORE_OK)
        return st;
    train_adamw full = {0}, *o = opt;
    if (zero) {
        if (train_dist_rank() == 0 && (st = train_adamw_init(&full, params)) != CORE_OK)
            return train_dist_agree(st);
        if ((st = train_dist_agree(CORE_OK)) != CORE_OK)
            return st;
        if ((st = train_sync_zero_gather(sync, &full)) != CORE_OK) {
            train_adamw_free(&full);
            return st;
        }
        o = &full;
    }
    if (train_dist_rank() == 0)
        st = train_ckpt_save(path, params, o, meta);
    train_adamw_free(&full);
    return train_dist_agree(st);
}

core_status train_run(const train_cfg *cfg, const char *config_yaml, const char *resume,
                      int64_t stop_after, train_result *res)
{
    memset(res, 0, sizeof *res);
    core_status st = CORE_OK;
    train_model_cfg mc;
    train_model *m = NULL;
    train_loader *tl = NULL, *vl = NULL;
    train_adamw opt = {0};
    train_ckpt_meta meta = {0};
    train_sync *sync = NULL;
    tree_acc tree = {0};
    double *slots = NULL;
    core_metrics *metrics = NULL;
    char *index_sha = NULL, *dataset = NULL, *metrics_path = NULL, *ckdir = NULL;
    /* The checkpoint this training run started from (none for a run from scratch): it stays
     * the same through interruptions, so a resumed run ends with the same bytes. */
    char *parent = NULL;
    char path[4096];
    const int rank = train_dist_rank(), nranks = train_dist_size();
    const bool lead = rank == 0; /* writes checkpoints, metrics and progress */
    const bool zero = cfg->dist.zero1 && nranks > 1, det = cfg->dist.deterministic;
    /* Whole micro-batches per rank: the global batch is batch x accumulate for any N. */
    if (cfg->accumulate % nranks != 0)
        return CORE_ERR(CORE_ERR_CHECK,
                        "accumulate = %lld is not a multiple of the %d ranks: the global batch "
                        "(batch x accumulate sequences) is split into whole micro-batches; set "
                        "accumulate to a multiple of %d",
                        (long long)cfg->accumulate, nranks, nranks);
    if (det && ((cfg->accumulate & (cfg->accumulate - 1)) || (nranks & (nranks - 1))))
        return CORE_ERR(CORE_ERR_CHECK,
                        "dist.deterministic sums gradients in a binary tree: accumulate (%lld) "
                        "and the number of ranks (%d) must be powers of two",
                        (long long)cfg->accumulate, nranks);
    if (det && zero)
        return CORE_ERR(CORE_ERR_CHECK, "dist.deterministic and dist.zero1 cannot be combined");
    const int64_t local = cfg->accumulate / nranks, first_mb = rank * local;
    CORE_TRY(train_model_cfg_load(cfg->model, &mc));
    const int threads = train_dist_threads(cfg->threads);
    openblas_set_num_threads(threads);
    train_loader_cfg lc = {cfg->corpus, cfg->train_split, cfg->personas, (int)cfg->batch,
                           (int)mc.max_seq, (int)mc.stack, (uint64_t)cfg->seed};
    CORE_TRY(train_loader_open(&lc, &tl));
    if (cfg->eval_every > 0) {
        lc.split = cfg->val_split;
        CORE_TRY(train_loader_open(&lc, &vl));
    }
    CORE_TRY(train_model_create(&mc, (int)cfg->batch, &m));
    train_model_init(m, (uint64_t)cfg->seed);
    train_params *params = train_model_params(m), *grads = train_model_grads(m);
    if (!zero)
        CORE_TRY(train_adamw_init(&opt, params));
    CORE_TRY(train_sync_create(&cfg->dist, grads, &sync));
    train_model_set_grad_hook(m, train_sync_hook, sync);
    if (det && local > 1)
        CORE_TRY(tree_open(&tree, local, grads->count));
    slots = core_zalloc((size_t)cfg->accumulate * 4, sizeof *slots, "step statistics");
    if (!slots) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    ckdir = core_sprintf("%s/checkpoints", cfg->output);
    if (lead) {
        CORE_TRY(core_mkdir_p(cfg->output));
        CORE_TRY(core_mkdir_p(ckdir));
    }

    /* Lineage: the shard index the run reads, the manifests, the recordings. */
    snprintf(path, sizeof path, "%s/index.json", cfg->corpus);
    file_sha(path, &index_sha);
    dataset = core_sprintf("sha256:%s %s", index_sha ? index_sha : "?", path);
    size_t nman;
    const char *const *mans = train_loader_manifests(tl, &nman);
    meta.config_yaml = (char *)(uintptr_t)config_yaml;
    meta.datasets = &dataset;
    meta.n_datasets = 1;
    meta.manifests = (char **)(uintptr_t)mans;
    meta.n_manifests = nman;
    meta.recordings_sha256 = (char *)(uintptr_t)train_loader_recordings_sha256(tl);
    meta.audio_sha256 = (uint8_t *)(uintptr_t)train_loader_audio_hashes(tl, &meta.n_audio);
    meta.best_val_loss = INFINITY;
    core_rng_init(&meta.rng, (uint64_t)cfg->seed, "train.run");

    int64_t step = 0, zero_step = 0;
    if (resume) {
        char rp[4096];
        if (!strcmp(resume, "auto"))
            snprintf(rp, sizeof rp, "%s/last.h5", ckdir);
        else
            snprintf(rp, sizeof rp, "%s", resume);
        if (!strcmp(resume, "auto") && access(rp, F_OK) != 0) {
            if (lead)
                core_log(CORE_LOG_INFO, "no %s: starting from scratch", rp);
        } else {
            /* Every rank reads the checkpoint (any number of ranks may have written it). */
            train_ckpt_meta loaded = {0};
            if (zero)
                CORE_TRY(train_adamw_init(&opt, params));
            CORE_TRY(train_ckpt_load(rp, params, &opt, &loaded));
            if (zero) {
                train_sync_zero_load(sync, &opt);
                zero_step = opt.step;
                train_adamw_free(&opt);
            }
            step = loaded.step;
            meta.rng = loaded.rng;
            meta.best_val_loss = loaded.best_val_loss;
            memcpy(meta.cursor, loaded.cursor, sizeof meta.cursor);
            parent = loaded.parent_sha256 ? core_strdup(loaded.parent_sha256) : NULL;
            train_ckpt_meta_free(&loaded);
            CORE_TRY(train_loader_seek(tl, meta.cursor));
            res->resumed_from = step;
        }
    }
    CORE_TRY(train_dist_agree(CORE_OK)); /* every rank is set up (or stop all) */
    if (lead) {
        metrics_path = core_sprintf("%s/metrics.jsonl", cfg->output);
        /* A resumed run appends its lines after those of the steps it continues from. */
        metrics = res->resumed_from ? core_metrics_append(metrics_path)
                                    : core_metrics_open(metrics_path);
        if (!metrics) {
            st = core_error_code();
            goto done;
        }
        if (nranks > 1)
            core_log(CORE_LOG_INFO,
                     "data parallel: %d ranks x %d BLAS threads, per rank and step %lld "
                     "micro-batch(es) of %lld sequences, %s%s",
                     nranks, threads, (long long)local, (long long)cfg->batch,
                     det    ? "deterministic tree sum"
                     : zero ? "bucketed reduce-scatter, ZeRO-1 sharded moments"
                     : train_sync_threaded(sync) ? "bucketed all-reduce on a communication thread"
                                                 : "bucketed non-blocking all-reduce",
                     "");
    }
    train_adamw_cfg ac = {cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay};
    int bad_in_a_row = 0;
    int64_t opt_steps = zero_step; /* ZeRO-1: AdamW's step count (the bias corrections) */
    /* the loader's cursor leaves its last word to us: evaluations without improvement */
    int64_t evals_without_gain = res->resumed_from ? (int64_t)meta.cursor[3] : 0;
    /* A progress line every `every` steps (about 20 a run) at -v: step, loss, learning rate,
     * gradient norm, tokens/s and the time left. */
    const int64_t every = cfg->max_steps >= 20 ? cfg->max_steps / 20 : 1;
    double t_start = core_now();
    int64_t tokens_total = 0;
    while (step < cfg->max_steps) {
        double t0 = core_now();
        maybe_fault(step + 1);
        train_model_zero_grad(m);
        memset(slots, 0, (size_t)cfg->accumulate * 4 * sizeof *slots);
        for (int64_t a = 0; a < cfg->accumulate; a++) {
            if (a < first_mb || a >= first_mb + local) {
                train_loader_skip(tl); /* another rank's micro-batch */
                continue;
            }
            const train_batch *b = train_loader_next(tl);
            double *sl = slots + a * 4;
            sl[0] = train_model_forward(m, b);
            train_model_stats s = train_model_last(m);
            sl[1] = s.token_loss;
            sl[2] = s.para_loss;
            for (int i = 0; i < b->B * b->T; i++)
                sl[3] += b->kind[i] != TRAIN_POS_PAD;
            if (a == first_mb + local - 1)
                train_sync_arm(sync, step + 1); /* buckets go as the backward completes them */
            if (tree.level)
                train_model_zero_grad(m);
            train_model_backward(m, b);
            if (tree.level)
                tree_push(&tree, grads->data);
        }
        if (tree.level) {
            memcpy(grads->data, tree.level[tree.levels - 1], grads->count * sizeof(float));
            tree.occupied = 0;
        }
        if (train_loader_read_errors(tl)) {
            st = CORE_ERR(CORE_ERR_IO, "step %lld: shard frames could not be read (a shard "
                                       "changed or vanished while training)",
                          (long long)step + 1);
            break;
        }
        CORE_TRY(train_sync_finish(sync));
        CORE_TRY(train_dist_sum(slots, (size_t)cfg->accumulate * 4));
        double loss = 0, tok_loss = 0, para_loss = 0;
        int64_t tokens = 0;
        for (int64_t a = 0; a < cfg->accumulate; a++) {
            loss += slots[a * 4];
            tok_loss += slots[a * 4 + 1];
            para_loss += slots[a * 4 + 2];
            tokens += (int64_t)slots[a * 4 + 3];
        }
        loss /= (double)cfg->accumulate;
        double norm;
        if (zero) {
            CORE_TRY(train_sync_zero_norm(sync, 1.0f / (float)cfg->accumulate, &norm));
        } else {
            if (cfg->accumulate > 1)
                train_grad_scale(grads, 1.0f / (float)cfg->accumulate);
            norm = train_grad_norm(grads);
        }
        double lr = train_lr_at(step, cfg->warmup, cfg->max_steps, cfg->lr, cfg->min_lr);
        bool finite = isfinite(loss) && isfinite(norm);
        if (!finite) {
            res->skipped++;
            if (++bad_in_a_row >= cfg->nan_tolerance) {
                st = CORE_ERR(CORE_ERR_CHECK,
                              "step %lld: loss or gradients not finite %d steps in a row "
                              "(lower optim.lr, or check the data)",
                              (long long)step, bad_in_a_row);
                break;
            }
        } else {
            bad_in_a_row = 0;
            float clip = cfg->grad_clip > 0 && norm > cfg->grad_clip
                             ? (float)(cfg->grad_clip / norm)
                             : 1.0f;
            if (zero) {
                CORE_TRY(train_sync_zero_update(sync, params, clip, ++opt_steps, lr, &ac));
            } else {
                if (clip != 1.0f)
                    train_grad_scale(grads, clip);
                train_adamw_step(&opt, params, grads, lr, &ac);
            }
        }
        step++;
        tokens_total += tokens;
        double dt = core_now() - t0;
        res->last_loss = loss;
        if (step == 1 || res->first_loss == 0)
            res->first_loss = loss;
        if (lead) {
            json_t *rec = json_pack(
                "{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "step", (json_int_t)step, "loss", loss,
                "token_loss", tok_loss / (double)cfg->accumulate, "para_loss",
                para_loss / (double)cfg->accumulate, "lr", lr, "grad_norm", norm, "tokens_per_s",
                dt > 0 ? (double)tokens / dt : 0.0, "skipped", !finite);
            if (rec) {
                st = core_metrics_write(metrics, rec);
                json_decref(rec);
            }
        }
        CORE_TRY(train_dist_agree(st));
        if (lead && (step % every == 0 || step == cfg->max_steps)) {
            double el = core_now() - t_start, left = el / (double)(step - res->resumed_from) *
                                                     (double)(cfg->max_steps - step);
            core_log(CORE_LOG_INFO,
                     "step %lld/%lld  loss %.4f  lr %.2e  grad norm %.3f  %.0f tokens/s  ETA %.0fs",
                     (long long)step, (long long)cfg->max_steps, loss, lr, norm,
                     dt > 0 ? (double)tokens / dt : 0.0, left);
        }
        bool last = step == cfg->max_steps;
        bool interrupted = stop_after > 0 && step - res->resumed_from >= stop_after && !last;
        if (vl && cfg->eval_every > 0 && (step % cfg->eval_every == 0 || last)) {
            double vloss, vacc;
            CORE_TRY(evaluate(m, vl, cfg->eval_batches, &vloss, &vacc));
            res->val_loss = vloss;
            res->val_para_acc = vacc;
            if (res->first_val_loss == 0) {
                res->first_val_loss = vloss;
                res->first_val_para_acc = vacc;
            }
            if (lead) {
                json_t *ev = json_pack("{s:I, s:f, s:f}", "step", (json_int_t)step, "val_loss",
                                       vloss, "val_para_accuracy", vacc);
                if (ev) {
                    core_metrics_write(metrics, ev);
                    json_decref(ev);
                }
                core_log(CORE_LOG_INFO,
                         "step %lld: validation loss %.4f, paralinguistic accuracy %.3f",
                         (long long)step, vloss, vacc);
            }
            if (vloss < meta.best_val_loss) {
                meta.best_val_loss = vloss;
                evals_without_gain = 0;
                meta.step = step;
                train_loader_cursor(tl, meta.cursor);
                meta.cursor[3] = (uint64_t)evals_without_gain; /* early-stop state */
                meta.parent_sha256 = parent;
                snprintf(path, sizeof path, "%s/best.h5", ckdir);
                CORE_TRY(save_all(path, params, &opt, sync, zero, &meta));
            } else if (cfg->patience > 0 && ++evals_without_gain >= cfg->patience) {
                res->early_stopped = true;
                last = true;
            }
        }
        if ((cfg->ckpt_every > 0 && step % cfg->ckpt_every == 0) || last || interrupted) {
            meta.step = step;
            train_loader_cursor(tl, meta.cursor);
            meta.cursor[3] = (uint64_t)evals_without_gain; /* early-stop state */
            meta.parent_sha256 = parent;
            train_ckpt_step_path(path, sizeof path, ckdir, step);
            CORE_TRY(save_all(path, params, &opt, sync, zero, &meta));
            char lp[4096];
            snprintf(lp, sizeof lp, "%s/last.h5", ckdir);
            CORE_TRY(save_all(lp, params, &opt, sync, zero, &meta));
            if (lead)
                train_ckpt_prune(ckdir, cfg->keep_last);
        }
        if (last || interrupted)
            break;
    }
    res->steps = step;
    res->seconds = core_now() - t_start;
    res->tokens_per_s = res->seconds > 0 ? (double)tokens_total / res->seconds : 0;
    if (sync)
        train_sync_times(sync, &res->comm_wait_s, &res->comm_total_s);
done:;
    core_status closed = core_metrics_close(metrics);
    if (st == CORE_OK)
        st = closed;
    free(parent);
    free(index_sha);
    free(dataset);
    free(metrics_path);
    free(ckdir);
    free(slots);
    tree_close(&tree);
    train_sync_free(sync);
    train_adamw_free(&opt);
    train_model_free(m);
    train_loader_free(tl);
    train_loader_free(vl);
    core_cfg_free(&train_model_schema, &mc);
    return st;
}
