/* The training loop: batches from the loader, forward and backward, gradient accumulation,
 * clipping by global norm, AdamW with warmup and cosine decay, evaluation on the validation
 * split, early stopping, best/last checkpoints with keep-last-K, metrics as JSON lines, and
 * exact resumption from a checkpoint (parameters, moments, step, RNG and data cursor). */
#include "train/train.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
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
    F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0, "OpenBLAS threads (0: all cores)"),
};
#undef F
const core_cfg_schema train_schema = {"train", "train/default.yaml", sizeof(train_cfg),
                                      train_fields, sizeof train_fields / sizeof *train_fields,
                                      "train: the trainer"};

static void ckpt_name(char *buf, size_t n, const char *dir, int64_t step)
{
    snprintf(buf, n, "%s/step-%08lld.h5", dir, (long long)step);
}

/* Keeps the newest `keep` step checkpoints. */
static void prune(const char *dir, int64_t keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "step-", 5) && strstr(e->d_name, ".h5") &&
            !strstr(e->d_name, ".tmp.")) {
            char **nn = realloc(names, (n + 1) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            names[n++] = strdup(e->d_name);
        }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* names sort by step: zero-padded */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i + (size_t)keep < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    core_strs_free(names, n);
}

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

/* Mean loss and paralinguistic accuracy over the first `batches` validation batches. */
static void evaluate(train_model *m, train_loader *val, int64_t batches, double *loss,
                     double *acc)
{
    const uint64_t start[4] = {0, 0, train_loader_size(val), 0};
    train_loader_seek(val, start);
    double sum = 0;
    int64_t count = 0, correct = 0, labelled = 0;
    size_t nb = train_loader_batches(val);
    for (int64_t i = 0; i < batches && (size_t)i < nb; i++) {
        const train_batch *b = train_loader_next(val);
        sum += train_model_forward(m, b);
        train_model_stats s = train_model_last(m);
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
            correct += s.para_correct[k];
            labelled += s.para_count[k];
        }
        count++;
    }
    *loss = count ? sum / (double)count : NAN;
    *acc = labelled ? (double)correct / (double)labelled : NAN;
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
    core_metrics *metrics = NULL;
    char *index_sha = NULL, *dataset = NULL, *metrics_path = NULL, *ckdir = NULL;
    /* The checkpoint this training run started from (none for a run from scratch): it stays
     * the same through interruptions, so a resumed run ends with the same bytes. */
    char *parent = NULL;
    char path[4096];
    const char *cdir = core_config_dir();
    if (cfg->model[0] == '/' || !cdir)
        snprintf(path, sizeof path, "%s", cfg->model);
    else
        snprintf(path, sizeof path, "%s/%s", cdir, cfg->model);
    CORE_TRY(core_cfg_load(&train_model_schema, path, NULL, 0, &mc));
    openblas_set_num_threads(cfg->threads > 0 ? (int)cfg->threads : core_threads_default());
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
    CORE_TRY(train_adamw_init(&opt, params));
    CORE_TRY(core_mkdir_p(cfg->output));
    ckdir = core_sprintf("%s/checkpoints", cfg->output);
    CORE_TRY(core_mkdir_p(ckdir));

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
    meta.best_val_loss = INFINITY;
    core_rng_init(&meta.rng, (uint64_t)cfg->seed, "train.run");

    int64_t step = 0;
    if (resume) {
        char rp[4096];
        if (!strcmp(resume, "auto"))
            snprintf(rp, sizeof rp, "%s/last.h5", ckdir);
        else
            snprintf(rp, sizeof rp, "%s", resume);
        if (!strcmp(resume, "auto") && access(rp, F_OK) != 0) {
            core_log(CORE_LOG_INFO, "no %s: starting from scratch", rp);
        } else {
            train_ckpt_meta loaded = {0};
            CORE_TRY(train_ckpt_load(rp, params, &opt, &loaded));
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
    metrics_path = core_sprintf("%s/metrics.jsonl", cfg->output);
    /* A resumed run appends its lines after those of the steps it continues from. */
    metrics = res->resumed_from ? core_metrics_append(metrics_path) : core_metrics_open(metrics_path);
    if (!metrics) {
        st = core_error_code();
        goto done;
    }
    train_adamw_cfg ac = {cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay};
    int bad_in_a_row = 0;
    /* the loader's cursor leaves its last word to us: evaluations without improvement */
    int64_t evals_without_gain = res->resumed_from ? (int64_t)meta.cursor[3] : 0;
    /* A progress line every `every` steps (about 20 a run) at -v: step, loss, learning rate,
     * gradient norm, tokens/s and the time left. */
    const int64_t every = cfg->max_steps >= 20 ? cfg->max_steps / 20 : 1;
    double t_start = core_now();
    int64_t tokens_total = 0;
    while (step < cfg->max_steps) {
        double t0 = core_now();
        train_model_zero_grad(m);
        double loss = 0, tok_loss = 0, para_loss = 0;
        int64_t tokens = 0;
        for (int64_t a = 0; a < cfg->accumulate; a++) {
            const train_batch *b = train_loader_next(tl);
            loss += train_model_forward(m, b);
            train_model_stats s = train_model_last(m);
            tok_loss += s.token_loss;
            para_loss += s.para_loss;
            for (int i = 0; i < b->B * b->T; i++)
                tokens += b->kind[i] != TRAIN_POS_PAD;
            train_model_backward(m, b);
        }
        loss /= (double)cfg->accumulate;
        if (cfg->accumulate > 1)
            train_grad_scale(grads, 1.0f / (float)cfg->accumulate);
        double norm = train_grad_norm(grads);
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
            if (cfg->grad_clip > 0 && norm > cfg->grad_clip)
                train_grad_scale(grads, (float)(cfg->grad_clip / norm));
            train_adamw_step(&opt, params, grads, lr, &ac);
        }
        step++;
        tokens_total += tokens;
        double dt = core_now() - t0;
        res->last_loss = loss;
        if (step == 1 || res->first_loss == 0)
            res->first_loss = loss;
        json_t *rec = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "step", (json_int_t)step,
                                "loss", loss, "token_loss", tok_loss / (double)cfg->accumulate,
                                "para_loss", para_loss / (double)cfg->accumulate, "lr", lr,
                                "grad_norm", norm, "tokens_per_s", dt > 0 ? (double)tokens / dt : 0.0,
                                "skipped", !finite);
        if (rec) {
            st = core_metrics_write(metrics, rec);
            json_decref(rec);
            if (st != CORE_OK)
                break;
        }
        if (step % every == 0 || step == cfg->max_steps) {
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
            evaluate(m, vl, cfg->eval_batches, &vloss, &vacc);
            res->val_loss = vloss;
            res->val_para_acc = vacc;
            if (res->first_val_loss == 0) {
                res->first_val_loss = vloss;
                res->first_val_para_acc = vacc;
            }
            json_t *ev = json_pack("{s:I, s:f, s:f}", "step", (json_int_t)step, "val_loss", vloss,
                                   "val_para_accuracy", vacc);
            if (ev) {
                core_metrics_write(metrics, ev);
                json_decref(ev);
            }
            core_log(CORE_LOG_INFO, "step %lld: validation loss %.4f, paralinguistic accuracy %.3f",
                     (long long)step, vloss, vacc);
            if (vloss < meta.best_val_loss) {
                meta.best_val_loss = vloss;
                evals_without_gain = 0;
                meta.step = step;
                train_loader_cursor(tl, meta.cursor);
                meta.cursor[3] = (uint64_t)evals_without_gain; /* early-stop state */
                meta.parent_sha256 = parent;
                snprintf(path, sizeof path, "%s/best.h5", ckdir);
                CORE_TRY(train_ckpt_save(path, params, &opt, &meta));
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
            ckpt_name(path, sizeof path, ckdir, step);
            CORE_TRY(train_ckpt_save(path, params, &opt, &meta));
            char lp[4096];
            snprintf(lp, sizeof lp, "%s/last.h5", ckdir);
            CORE_TRY(train_ckpt_save(lp, params, &opt, &meta));
            prune(ckdir, cfg->keep_last);
        }
        if (last || interrupted)
            break;
    }
    res->steps = step;
    res->seconds = core_now() - t_start;
    res->tokens_per_s = res->seconds > 0 ? (double)tokens_total / res->seconds : 0;
done:;
    core_status closed = core_metrics_close(metrics);
    if (st == CORE_OK)
        st = closed;
    free(parent);
    free(index_sha);
    free(dataset);
    free(metrics_path);
    free(ckdir);
    train_adamw_free(&opt);
    train_model_free(m);
    train_loader_free(tl);
    train_loader_free(vl);
    core_cfg_free(&train_model_schema, &mc);
    return st;
}
