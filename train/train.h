/* train: the persona-conditioned speech-language transformer (../shared/docs/DESIGN.md §5).
 * This first brick holds the model's layers as forward/backward pairs of plain functions
 * (llm.c style) and the parameter block with named views; docs/model-layers.md gives every
 * formula and its PyTorch equivalent.
 *
 * Dependencies: train -> core.
 *
 * Layer conventions. Arguments are outputs, inputs, weights, sizes. Tensors are row-major
 * float32, shapes in the comments: N rows, C channels, OC output channels, B batch, T time,
 * NH heads, V vocabulary. Forward functions overwrite their outputs. Backward functions
 * ACCUMULATE (+=) into their gradient buffers, which the caller zeroes once per step;
 * each gradient element receives one addition per call, so calling a backward twice
 * gives exactly twice the gradients (for GEMMs, while the inner dimension fits one
 * OpenBLAS block; docs/model-layers.md). Buffers marked "scratch" are overwritten, not
 * accumulated. No layer allocates. Shape mismatches are bugs and hit CORE_ASSERT; sizes
 * are `int` as in llm.c, and every index is computed in size_t. */
#ifndef TROUPE_TRAIN_H
#define TROUPE_TRAIN_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- layers */

/* out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC); bias may be NULL. */
void train_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, int OC);
/* Gradients of train_linear_forward, accumulated: dinp (N,C), dweight (OC,C), dbias (OC).
 * dinp may be NULL (input needs no gradient); dbias may be NULL (no bias). */
void train_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, int N, int C, int OC);

#define TRAIN_LAYERNORM_EPS 1e-5f

/* LayerNorm over the last dimension (eps TRAIN_LAYERNORM_EPS, biased variance):
 * out (N,C) = (inp - mean) * rstd * weight (C) + bias (C); also writes the per-row
 * mean (N) and rstd (N) = 1 / sqrt(var + eps) that the backward needs. */
void train_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int N, int C);
/* Gradients of train_layernorm_forward, accumulated: dinp (N,C), dweight (C), dbias (C). */
void train_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, const float *mean,
                              const float *rstd, int N, int C);

/* GELU, tanh approximation (GPT-2; torch gelu(approximate="tanh")), elementwise over n. */
void train_gelu_forward(float *out, const float *inp, size_t n);
/* dinp (n) += gelu'(inp) * dout. */
void train_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* Causal multi-head self-attention over packed qkv (B,T,3C): q, k, v concatenated along the
 * last dimension, head h using channels [h*hs, (h+1)*hs) of each, hs = C / NH.
 * valid (B,T) marks real positions (1) and padding (0); NULL means all valid. Query t of
 * sequence b attends to keys t2 <= t with valid[b,t2]; outputs at padded positions are
 * exactly zero, so padding influences nothing. Writes out (B,T,C), preatt (B,NH,T,T) unless
 * NULL: the scaled scores q.k / sqrt(hs) at attended entries and 0 elsewhere, and att
 * (B,NH,T,T): the softmax over attended entries, 0 elsewhere (rows of padded queries
 * are all 0). With preatt NULL the scores live in a per-thread scratch (the model's case;
 * the same out and att bit for bit). */
void train_attention_forward(float *out, float *preatt, float *att, const float *qkv,
                             const uint8_t *valid, int B, int T, int C, int NH);
/* Gradient of train_attention_forward, accumulated into dqkv (B,T,3C). dpreatt and datt
 * (B,NH,T,T), both given or both NULL, are overwritten with dL/dpreatt and dL/datt; NULL:
 * per-thread scratch instead (the same dqkv bit for bit). */
void train_attention_backward(float *dqkv, float *dpreatt, float *datt, const float *dout,
                              const float *qkv, const float *att, const uint8_t *valid, int B,
                              int T, int C, int NH);

/* Softmax and cross-entropy per row: probs (N,V) = softmax(logits (N,V)), losses (N) =
 * -log probs[i, targets[i]]. targets (N) are in [0, V) or -1 ("ignore": loss 0; probs are
 * still written). */
void train_softmax_xent_forward(float *losses, float *probs, const float *logits,
                                const int32_t *targets, int N, int V);
/* dlogits (N,V) += (probs - onehot(target)) * dlosses[i] per row; ignored rows get nothing.
 * dlosses (N) is the upstream gradient of each row's loss (e.g. 1 / number of targets). */
void train_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *targets,
                                 const float *dlosses, int N, int V);

/* out (n) = a + b. */
void train_residual_forward(float *out, const float *a, const float *b, size_t n);
/* da (n) += dout, db (n) += dout. */
void train_residual_backward(float *da, float *db, const float *dout, size_t n);

/* The mean over the positions that mask (B,T) marks: out (B,C) = sum_t mask[b,t] *
 * inp[b,t,:] / count[b], with count (B) the number of marked positions (the caller's, so
 * that it is computed once per batch); a row with count 0 gives 0. */
void train_masked_mean_forward(float *out, const float *inp, const uint8_t *mask,
                               const float *count, int B, int T, int C);
/* dinp (B,T,C) += mask[b,t] * dout[b,:] / count[b]. */
void train_masked_mean_backward(float *dinp, const float *dout, const uint8_t *mask,
                                const float *count, int B, int T, int C);

/* ---------------------------------------------------------------- parameter block */

#define TRAIN_MAX_RANK 4

/* One named tensor: its shape and where it lies in the block. */
typedef struct train_param_spec {
    const char *name;
    int rank; /* 1..TRAIN_MAX_RANK */
    size_t shape[TRAIN_MAX_RANK];
} train_param_spec;

typedef struct train_param_view {
    char *name; /* owned */
    int rank;
    size_t shape[TRAIN_MAX_RANK];
    size_t offset; /* in floats from the start of the block */
    size_t count;  /* number of floats */
} train_param_view;

/* All of a model's parameters (or their gradients, or an optimizer moment) in one zeroed
 * allocation, with named views laid out back to back in spec order. A checkpoint writes
 * each view as a dataset of its shape. */
typedef struct train_params {
    float *data;
    size_t count; /* total floats */
    train_param_view *views;
    size_t n_views;
} train_params;

/* Lays out `n` tensors and allocates the block (zeroed). Fails with CORE_ERR_NOMEM when
 * a size overflows or memory runs out, and CORE_ERR_SCHEMA on a bad rank, an empty or
 * duplicate name; the message names the tensor. On failure *p is zeroed. Free with
 * train_params_free. */
core_status train_params_init(train_params *p, const train_param_spec *specs, size_t n);
/* The view called `name`, or NULL. */
const train_param_view *train_params_find(const train_params *p, const char *name);
/* The start of the view called `name` inside p->data; NULL if there is none. */
float *train_params_get(const train_params *p, const char *name);
/* Releases the block and views and zeroes *p. Accepts NULL and zeroed structs. */
void train_params_free(train_params *p);

/* ---------------------------------------------------------------- the model (train/model.c)
 * DESIGN.md §5; docs/model.md defines it exactly. */

enum {
    TRAIN_PERSONA_DIM = 128, /* persona feature width (personas.h5) */
    TRAIN_N_MELS = 80,
    TRAIN_VOCAB = 260, /* UTF-8 bytes 0-255, BOS 256, EOS 257, USER 258, ASSISTANT 259 */
    TRAIN_N_HEADS_PARA = 7,
    /* the reward model's cue term reads the posteriors of the first four heads (emotion,
     * laughter, hesitation, speed: the user's cue, 10 + 2 + 2 + 3 classes) */
    TRAIN_REWARD_CUE = 17,
    TRAIN_REWARD_COND = TRAIN_REWARD_CUE + TRAIN_PERSONA_DIM, /* cue posteriors, persona */
    TRAIN_REWARD_OPENING = 24, /* reply positions (BOS on) the cue term reads */
    TRAIN_REWARD_OPEN_POS = 16, /* reply positions the opening term reads side by side */
    TRAIN_REWARD_VIEWS = 10,    /* the reward head's tensors */
};
/* The paralinguistic heads, in order, and their class counts. */
extern const char *const train_para_names[TRAIN_N_HEADS_PARA]; /* emotion, laughter, hesitation, speed, pitch, gender, language */
extern const int train_para_classes[TRAIN_N_HEADS_PARA];       /* 10, 2, 2, 3, 3, 3, 7 */

typedef struct train_model_cfg {
    int64_t d_model, n_layers, n_heads, max_seq, stack; /* stack: log-mel frames per position (S) */
    double para_weight;                                  /* weight of the paralinguistic losses */
    bool reward_head; /* not in the YAML: set by `rlhf reward`; adds reward.w (1,d), reward.b (1)
                       * reward.feat.w (d,d), reward.feat.b (d), reward.cond.w
                       * (TRAIN_REWARD_COND, 2 d), reward.open.w (d, TRAIN_REWARD_OPEN_POS d),
                       * reward.open.b (d), reward.open.cue.w (TRAIN_REWARD_CUE, d),
                       * reward.aux.w (TRAIN_REWARD_CUE, d), reward.aux.b (TRAIN_REWARD_CUE) */
} train_model_cfg;
extern const core_cfg_schema train_model_schema; /* kind "model", configs/model/<size>.yaml */
/* Loads a model config named as configs name it: an absolute path or one that exists as
 * given, else relative to the shipped config directory ("model/small.yaml"). */
core_status train_model_cfg_load(const char *model, train_model_cfg *mc);

/* Kinds of positions in a sequence: [persona] [history tokens] [audio] [BOS] reply [EOS]. */
enum { TRAIN_POS_PAD = 0, TRAIN_POS_PERSONA = 1, TRAIN_POS_TOKEN = 2, TRAIN_POS_AUDIO = 3 };

/* One batch, laid out by the loader (train/loader.c). B <= the model's max batch, T <= its
 * max_seq. All arrays are [B, T] row-major unless said. */
typedef struct train_batch {
    int B, T;
    float *persona;   /* [B, TRAIN_PERSONA_DIM] */
    uint8_t *kind;    /* [B, T] TRAIN_POS_* */
    int32_t *tokens;  /* [B, T] token id at token positions, 0 elsewhere */
    float *frames;    /* [B, T, stack * TRAIN_N_MELS] stacked log-mel at audio positions */
    int32_t *targets; /* [B, T] next token to predict (the reply's tokens and EOS), -1 elsewhere */
    int32_t *labels;  /* [B, TRAIN_N_HEADS_PARA] class per head, -1 when unlabelled */
} train_batch;

typedef struct train_model train_model;
/* Allocates parameters, gradients and activations for batches up to max_B x cfg->max_seq.
 * Parameters are laid out as docs/model.md names them. */
core_status train_model_create(const train_model_cfg *cfg, int max_B, train_model **m);
void train_model_free(train_model *m); /* accepts NULL */
/* GPT-2 initialisation from the seeded stream "train.init" (docs/model.md). */
void train_model_init(train_model *m, uint64_t seed);
train_params *train_model_params(train_model *m);
train_params *train_model_grads(train_model *m);
const train_model_cfg *train_model_config(const train_model *m);
/* Forward pass; returns the loss: mean cross-entropy over the reply targets plus
 * para_weight times the sum over heads of the mean cross-entropy of labelled examples. */
float train_model_forward(train_model *m, const train_batch *b);
/* After a forward: the parts of the loss, and per head the number of labelled examples and
 * of correct argmax predictions. */
typedef struct train_model_stats {
    float loss, token_loss, para_loss;
    int64_t reply_tokens;
    int64_t para_count[TRAIN_N_HEADS_PARA], para_correct[TRAIN_N_HEADS_PARA];
} train_model_stats;
train_model_stats train_model_last(const train_model *m);
void train_model_zero_grad(train_model *m);
/* Backward of the last forward (same batch), accumulating into the gradients. */
void train_model_backward(train_model *m, const train_batch *b);
/* For RLHF. After a forward: each position's token loss, -log p(target) (N = B*T; 0 where
 * there is no target); the final hidden states, the output of the last LayerNorm (N, d);
 * and per row the sum of the reply's log-probabilities and (ntok may be NULL) their count. */
const float *train_model_token_losses(const train_model *m);
const float *train_model_hidden(const train_model *m);
/* After a forward: the paralinguistic heads' softmax on the mean of the audio positions' final
 * hidden states, head k (train_para_names order) as a [B, classes_k] block starting at
 * B times the sum of the earlier heads' classes. */
const float *train_model_para_probs(const train_model *m);
void train_model_seq_logps(const train_model *m, const train_batch *b, double *logp, int *ntok);
/* Backward of the last forward for another objective: dloss[i] is its gradient with respect
 * to position i's token loss (NULL: no token term), para_scale multiplies the
 * paralinguistic losses' gradient (0: none), dhidden (N, d) is the gradient with respect to
 * the final hidden states (NULL: none). Accumulates like train_model_backward. */
void train_model_backward_ext(train_model *m, const train_batch *b, const float *dloss,
                              float para_scale, const float *dhidden);
/* Logits of the last forward at (b, t): TRAIN_VOCAB floats. */
const float *train_model_logits(const train_model *m, int b, int t);
/* Called during a backward each time the gradients of the element range [lo, hi) of the
 * gradient block are final: the tail (lnf and heads) first, then block L-1 down to block 0,
 * the embeddings last. The ranges of one backward cover the block exactly once. Data
 * parallelism starts each bucket's all-reduce from here, while the backward goes on. */
typedef void (*train_grad_hook)(void *ctx, size_t lo, size_t hi);
void train_model_set_grad_hook(train_model *m, train_grad_hook fn, void *ctx); /* fn NULL: none */

/* ---------------------------------------------------------------- the data loader (train/loader.c) */

typedef struct train_loader_cfg {
    const char *corpus;   /* a `data ingest` output folder (index.json, shards/) */
    const char *split;    /* keep shards whose manifest id contains this (NULL: all) */
    const char *personas; /* personas.h5 the utterances' persona ids refer to */
    int batch, max_seq, stack;
    uint64_t seed;
} train_loader_cfg;
typedef struct train_loader train_loader;
/* Loads every utterance of the selected shards into memory, with its persona row. */
core_status train_loader_open(const train_loader_cfg *cfg, train_loader **l);
void train_loader_free(train_loader *l);
size_t train_loader_size(const train_loader *l);
size_t train_loader_batches(const train_loader *l); /* per epoch */
/* The next batch (owned by the loader, valid until the next call); epochs roll over. */
const train_batch *train_loader_next(train_loader *l);
/* The sequence layout of docs/model.md, shared by the loader and the RLHF data: the length
 * of [persona] [history] [audio, `stack` frames per position] [BOS] reply [EOS] once cut to
 * max_seq (history from its start first, then audio from its end, then reply from its end),
 * with the parts kept; and the example laid out in row `row` of b (b->T must hold it; the
 * row's persona, kind, tokens, frames and targets are written, labels are not). */
int train_sequence_length(size_t n_history, size_t frames, size_t n_reply, int max_seq, int stack,
                          size_t *hist, size_t *pos_audio, size_t *reply);
void train_sequence_layout(train_batch *b, int row, const float *persona, const int32_t *history,
                           size_t n_history, const float *mel, size_t frames, const int32_t *reply,
                           size_t n_reply, int max_seq, int stack);
/* Moves over the next batch without reading it (another rank's micro-batch). */
void train_loader_skip(train_loader *l);
/* Utterances whose frames could not be read from an open shard (zeros were used). */
uint64_t train_loader_read_errors(const train_loader *l);
/* The position (epoch, next batch, utterance count, 0) and going back to it; seek ignores
 * the last word, which the trainer uses for its early-stopping count. */
void train_loader_cursor(const train_loader *l, uint64_t cursor[4]);
core_status train_loader_seek(train_loader *l, const uint64_t cursor[4]);
/* Lineage: sha256 of the sorted LF-joined recording ids, and the manifests used. */
const char *train_loader_recordings_sha256(const train_loader *l);
/* The SHA-256 of every utterance's audio file ([n][32], sorted, distinct), for the lineage. */
const uint8_t *train_loader_audio_hashes(const train_loader *l, size_t *n);
const char *const *train_loader_manifests(const train_loader *l, size_t *n);

/* ---------------------------------------------------------------- optimisation (train/optim.c) */

typedef struct train_adamw_cfg {
    double beta1, beta2, eps, weight_decay;
} train_adamw_cfg;

/* AdamW (reference: Loshchilov & Hutter 2019, decoupled weight decay; as torch.optim.AdamW):
 * first and second moments in blocks laid out like the parameters. */
typedef struct train_adamw {
    train_params m, v;
    int64_t step;
} train_adamw;
core_status train_adamw_init(train_adamw *o, const train_params *params);
void train_adamw_free(train_adamw *o);
/* Whether a parameter is decayed: not norms ("ln" in the name), biases (name ends ".b"),
 * nor embeddings ("wte", "wpe"). */
bool train_adamw_decays(const char *name);
/* One step at learning rate lr. */
void train_adamw_step(train_adamw *o, train_params *params, const train_params *grads, double lr,
                      const train_adamw_cfg *cfg);
/* Global L2 norm of all gradients, and in-place scaling. */
/* The update of train_adamw_step for the elements [lo, hi) of a block laid out as `layout`
 * (weight decay per tensor name), at step t (from 1); p, g, m, v point at element lo. */
void train_adamw_update(const train_params *layout, float *p, const float *g, float *m, float *v,
                        size_t lo, size_t hi, int64_t t, double lr, const train_adamw_cfg *cfg);
double train_grad_norm(const train_params *grads);
void train_grad_scale(train_params *grads, float s);
/* Linear warmup for `warmup` steps to lr_max, then cosine decay to lr_min at `total`. */
double train_lr_at(int64_t step, int64_t warmup, int64_t total, double lr_max, double lr_min);

/* ---------------------------------------------------------------- checkpoints (train/checkpoint.c) */

/* What a checkpoint holds besides the tensors (DESIGN.md §4). Strings are owned by the
 * caller on save and malloc'd on load (free with train_ckpt_meta_free). */
typedef struct train_ckpt_meta {
    int64_t step;
    core_rng rng;           /* the trainer's generator state */
    uint64_t cursor[4];     /* the data loader's position (epoch, index, ...) */
    char *config_yaml;      /* the effective training config */
    char *parent_sha256;    /* the checkpoint the training run started from (an RLHF run's SFT
                             * checkpoint, say), or NULL; unchanged when a run resumes */
    char **datasets;        /* shard index ids ("sha256:... path") */
    size_t n_datasets;
    char **manifests;       /* manifest sha256s of the batches used */
    size_t n_manifests;
    char *recordings_sha256; /* hash of the sorted LF-joined recording ids used */
    double best_val_loss;
    bool has_reward_norm;            /* a reward model: its scores' mean and std on its data */
    double reward_mean, reward_std;
    uint8_t *audio_sha256; /* [n_audio][32] sorted, distinct: the SHA-256 of every audio file
                            * trained on (the parent's too); eval refuses items among them */
    size_t n_audio;
} train_ckpt_meta;
void train_ckpt_meta_free(train_ckpt_meta *m);
/* Sorts n 32-byte hashes in place and drops repeats; returns how many remain. */
size_t train_hashes_unique(uint8_t *h, size_t n);
/* Whether the 32-byte hash `key` is among the n sorted hashes h. */
bool train_hashes_contain(const uint8_t *h, size_t n, const uint8_t key[32]);
/* Writes `/params/<name>` for every view, `/optim/m/<name>` and `/optim/v/<name>`, the
 * step, RNG, cursor, config and `/lineage` (format troupe.checkpoint/1), to a temporary
 * name renamed into place. Same inputs, same bytes. */
core_status train_ckpt_save(const char *path, const train_params *params, const train_adamw *opt,
                            const train_ckpt_meta *meta);
/* Reads a checkpoint into already laid-out blocks; every name and shape must match (the
 * error names the tensor). opt may be NULL (weights only); params may be NULL too (the
 * metadata only: step, RNG, cursor, config, lineage). */
core_status train_ckpt_load(const char *path, train_params *params, train_adamw *opt,
                            train_ckpt_meta *meta);
/* DIR/step-NNNNNNNN.h5, and removing all but the newest `keep` of them in DIR. */
void train_ckpt_step_path(char *buf, size_t n, const char *dir, int64_t step);
void train_ckpt_prune(const char *dir, int64_t keep);
/* A batch of `rows` sequences of up to T positions (all arrays zeroed; false when out of
 * memory), and its release. */
bool train_batch_alloc(train_batch *b, int rows, int T, int stack);
void train_batch_free(train_batch *b);
/* The parameters only, as the start of another run (RLHF from an SFT checkpoint): tensors
 * whose names begin with may_miss (NULL: none) keep their values if the file lacks them. */
core_status train_ckpt_load_init(const char *path, train_params *params, const char *may_miss);
/* Writes the parameters as a safetensors file (float32, names as in the checkpoint). */
core_status train_export_safetensors(const char *ckpt_path, const char *out_path);

/* ---------------------------------------------------------------- the trainer (train/trainer.c) */

/* ---------------------------------------------------------------- data parallel (train/dist.c)
 * The only MPI code of the trainer. Without a launcher (mpirun, srun) there is one rank and
 * no MPI at all; docs/distributed.md. */

typedef struct train_dist_cfg {
    double bucket_mb;   /* gradient all-reduce bucket size in MiB */
    bool deterministic; /* reduce in a fixed tree: results bitwise independent of the ranks */
    bool zero1;         /* shard AdamW's moments across ranks (ZeRO stage 1) */
    double timeout;     /* seconds a rank waits for the others before stopping the job */
} train_dist_cfg;

/* MPI_Init when started by a launcher (Open MPI's mpirun, PMIx or Slurm's srun), with errors
 * returned rather than fatal; otherwise nothing. Safe to call more than once. */
core_status train_dist_init(int *argc, char ***argv);
void train_dist_finalize(void);
int train_dist_rank(void);
int train_dist_size(void);
/* Stops every rank of the job (MPI_Abort); without MPI, exit(code). */
_Noreturn void train_dist_abort(int code);

/* Gradient synchronisation for one model: bucketed non-blocking sums across ranks, started
 * from the backward's gradient hook so that communication overlaps compute. */
typedef struct train_sync train_sync;
core_status train_sync_create(const train_dist_cfg *cfg, train_params *grads, train_sync **out);
void train_sync_free(train_sync *s); /* accepts NULL */
/* The next backward is this rank's last of the step: start buckets as they complete. */
void train_sync_arm(train_sync *s, int64_t step);
void train_sync_hook(void *sync, size_t lo, size_t hi); /* a train_grad_hook */
/* Waits for every bucket (starting those not started): grads then hold the sum over ranks.
 * In deterministic mode the sum is a fixed pairwise tree over ranks. Times out with an error
 * that names the ranks that did not arrive. */
core_status train_sync_finish(train_sync *s);
/* Whether a communication thread runs the all-reduces (MPI_THREAD_MULTIPLE, plain data
 * parallel; TROUPE_COMM_THREAD=0 turns it off), else MPI_Iallreduce progressed by the hook. */
bool train_sync_threaded(const train_sync *s);
/* Seconds spent waiting in train_sync_finish, and in all-reduces in all, since creation. */
void train_sync_times(const train_sync *s, double *wait, double *comm_total);
/* With several ranks a failure on one (a checkpoint that could not be written) must stop all:
 * each says whether it failed (st), and every rank returns an error if any did. */
core_status train_dist_agree(core_status st);
/* OpenBLAS threads for this rank: `threads` when > 0, else the host's cores divided by the
 * ranks on that host (at least 1). */
int train_dist_threads(int64_t threads);
/* Sums x[0..n) over ranks in place, the same on every rank. With exactly one rank
 * contributing a non-zero to each slot, the result is exact. */
core_status train_dist_sum(double *x, size_t n);
/* A fixed pairwise-tree sum over ranks of a float vector (recursive doubling; n floats). */
core_status train_dist_tree_sum(float *x, size_t n, double timeout);
/* Benchmarks (bench/dist_step.c): the best over `reps` of one blocking MPI_Allreduce per
 * bucket over x[0..n), of one MPI_Allreduce of all of it, and of a 4-byte all-reduce. */
core_status train_dist_bench_raw(float *x, size_t n, double bucket_mb, int reps, double *bucketed,
                                 double *single, double *latency);
void train_dist_barrier(void);
/* Checks that `bytes` at p are the same on every rank (a hash compared across ranks). */
core_status train_dist_check_same(const void *p, size_t bytes, const char *what);

/* ZeRO-1 (dist.zero1): rank r owns part r of every bucket and keeps AdamW moments only for
 * what it owns. After train_sync_finish each rank holds the summed gradient of its parts.
 * zero_norm scales those by `scale` and returns the global norm (the same on every rank);
 * zero_update scales them by clip, applies AdamW step t to the owned parameters and
 * all-gathers the parameters. */
core_status train_sync_zero_norm(train_sync *s, float scale, double *norm);
core_status train_sync_zero_update(train_sync *s, train_params *params, float clip, int64_t t,
                                   double lr, const train_adamw_cfg *cfg);
/* Collective: the whole moments into `full` on rank 0 (allocated there; ignored elsewhere). */
core_status train_sync_zero_gather(train_sync *s, train_adamw *full);
/* This rank's parts of the moments from a whole state (after loading a checkpoint). */
void train_sync_zero_load(train_sync *s, const train_adamw *full);

typedef struct train_cfg {
    char *model, *corpus, *personas, *train_split, *val_split, *output;
    int64_t seed, batch, accumulate, max_steps;
    double lr, min_lr;
    int64_t warmup;
    double weight_decay, beta1, beta2, eps, grad_clip;
    int64_t eval_every, eval_batches, patience, ckpt_every, keep_last, nan_tolerance, threads;
    train_dist_cfg dist;
} train_cfg;
extern const core_cfg_schema train_schema; /* kind "train", configs/train/default.yaml */

typedef struct train_result {
    int64_t steps, resumed_from, skipped;
    double first_loss, last_loss;
    double first_val_loss, val_loss, first_val_para_acc, val_para_acc;
    bool early_stopped;
    double seconds, tokens_per_s;
    double comm_wait_s, comm_total_s; /* gradient exchange: time waited for, time in flight */
} train_result;

/* Trains as `cfg` says, writing OUTPUT/checkpoints/{step-N,last,best}.h5 and
 * OUTPUT/metrics.jsonl. `resume`: NULL (from scratch), "auto" (OUTPUT/checkpoints/last.h5
 * if it exists) or a checkpoint path. */
core_status train_run(const train_cfg *cfg, const char *config_yaml, const char *resume,
                      int64_t stop_after, train_result *res);
/* stop_after > 0: return after that many steps of this invocation, saving last.h5 as at the
 * end (an interruption that can be resumed; it is not part of the config). */

/* ---------------------------------------------------------------- inference (train/infer.c)
 * Incremental decoding of the model with a key/value cache; docs/inference.md. */

enum { TRAIN_PARA_CLASSES = 30 }; /* the sum of train_para_classes */

/* A decoder over a model's parameters (borrowed: the model must outlive it and its
 * weights must not change while positions are cached). It holds the keys and values of
 * every layer for max_seq positions. */
typedef struct train_infer train_infer;
core_status train_infer_create(const train_model *m, train_infer **out);
void train_infer_free(train_infer *s); /* accepts NULL */
/* Forgets every position: the next push is position 0. */
void train_infer_reset(train_infer *s);
/* Positions pushed so far. */
int train_infer_length(const train_infer *s);
/* Appends one position at index train_infer_length(s) and runs it through every block,
 * attending to the cached positions and itself (the forward of docs/model.md, causal, no
 * padding). kind TRAIN_POS_PERSONA: persona_or_frames holds TRAIN_PERSONA_DIM floats;
 * TRAIN_POS_AUDIO: stack * TRAIN_N_MELS floats (stack frames of 80 mels, frame-major);
 * TRAIN_POS_TOKEN: `token` in [0, TRAIN_VOCAB). logits_out (TRAIN_VOCAB floats, may be NULL)
 * receives the LM head's logits at this position, i.e. the scores of the next token.
 * Fails with CORE_ERR_LIMIT when max_seq positions are already cached, CORE_ERR_RANGE on a
 * bad kind, token, or missing features; a failed push changes nothing. */
core_status train_infer_push(train_infer *s, int kind, const float *persona_or_frames,
                             int32_t token, float *logits_out);
/* Appends n token positions (TRAIN_POS_TOKEN) at indices train_infer_length(s) + i as one
 * chunk: the same computation as n train_infer_push calls, with every matrix product a GEMM
 * over the n rows and each position attending causally to the cached positions, the chunk's
 * earlier ones and itself; equal to the one-by-one pushes within float rounding (summation
 * order). tokens (n) in [0, TRAIN_VOCAB). logits_out (n, TRAIN_VOCAB), may be NULL: row i
 * gets the LM head's logits at position train_infer_length(s) + i. n == 0 does nothing.
 * The chunk scratch (about 15 d + max_seq floats per row) is allocated on first use and grown
 * to the largest chunk, kept until train_infer_free. Fails with CORE_ERR_LIMIT when the
 * chunk would pass max_seq positions, CORE_ERR_RANGE on a bad token, CORE_ERR_NOMEM when the
 * scratch cannot grow; a failed call changes nothing. */
core_status train_infer_push_tokens(train_infer *s, const int32_t *tokens, int n,
                                    float *logits_out);
/* Appends n audio positions (TRAIN_POS_AUDIO) at indices train_infer_length(s) + i as one
 * chunk, through the same chunk computation as train_infer_push_tokens (and its scratch):
 * frames (n, stack * TRAIN_N_MELS), row i what train_infer_push takes for one audio position
 * (stack frames of 80 mels, frame-major). Each position's final hidden state is stored and
 * pooled as a single audio push does, so train_infer_para afterwards (and after a truncation)
 * agrees with n single pushes within float rounding. No logits (the LM head is skipped).
 * n == 0 does nothing. Fails with CORE_ERR_LIMIT when the chunk would pass max_seq
 * positions, CORE_ERR_RANGE when frames is NULL, CORE_ERR_NOMEM when the scratch cannot
 * grow; a failed call changes nothing. */
core_status train_infer_push_audio(train_infer *s, const float *frames, int n);
/* Forgets the positions >= length (0 <= length; length >= train_infer_length(s) does
 * nothing): the next push is position `length`. The cached keys and values of the earlier
 * positions are kept, so a shared context is pushed once and several continuations follow
 * it, each after a truncation back to the context. When audio positions are removed, the
 * pooled state of train_infer_para is rebuilt from the kept ones (O(length d)), bit for bit
 * that of a decoder that never pushed the removed positions. */
void train_infer_truncate(train_infer *s, int length);
/* A reply's context as the sequence layout cuts it (train_sequence_length, leaving room for
 * max_new reply bytes): a reset, then the persona (NULL: zeros), the kept history bytes as
 * one chunk, and the kept audio positions (`stack` frames each, the last padded with zeros)
 * as one chunk, or one position at a time when `stream` (as live audio arrives). The next
 * push is the reply's BOS. *reply_budget gets the reply bytes the layout leaves;
 * *audio_seconds (may be NULL) the time the audio positions took. */
core_status train_infer_push_context(train_infer *s, const float *persona,
                                     const int32_t *history, size_t n_history, const float *mel,
                                     size_t frames, int max_new, bool stream, int *reply_budget,
                                     double *audio_seconds);
/* The paralinguistic heads on the mean of the final (post-lnf) hidden states of the audio
 * positions pushed so far (0 when there are none, as in the model): cls[k] is head k's
 * argmax (ties: the lower class); probs (may be NULL), TRAIN_PARA_CLASSES floats, the
 * softmax of each head at its class offset (heads in train_para_names order). */
core_status train_infer_para(train_infer *s, int32_t cls[TRAIN_N_HEADS_PARA], float *probs);
/* Draws a token from logits[0..n): temperature <= 0 or top_k == 1 is greedy (the argmax,
 * ties to the lower index, drawing nothing); otherwise softmax(logits / temperature)
 * restricted to the top_k largest (top_k <= 0: all), then to the smallest most-likely prefix
 * whose probability reaches top_p (top_p <= 0 or >= 1: no cut), renormalised, sampled with
 * one core_rng_uniform draw from `rng`. Deterministic for a given rng state. */
int32_t train_sample(const float *logits, int n, double temperature, int top_k, double top_p,
                     core_rng *rng);

#endif
