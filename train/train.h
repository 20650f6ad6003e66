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
 * exactly zero, so padding influences nothing. Writes out (B,T,C), preatt (B,NH,T,T):
 * the scaled scores q.k / sqrt(hs) at attended entries and 0 elsewhere, and att
 * (B,NH,T,T): the softmax over attended entries, 0 elsewhere (rows of padded queries
 * are all 0). */
void train_attention_forward(float *out, float *preatt, float *att, const float *qkv,
                             const uint8_t *valid, int B, int T, int C, int NH);
/* Gradient of train_attention_forward, accumulated into dqkv (B,T,3C). dpreatt and datt
 * (B,NH,T,T) are scratch, overwritten (with dL/dpreatt and dL/datt). */
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

#endif
