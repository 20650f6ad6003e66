/* Incremental decoding with a key/value cache (docs/inference.md): one position at a time
 * through the model of docs/model.md, each position attending to the cached keys and values
 * of the positions pushed before it. The arithmetic is the forward pass's (the same layer
 * functions for LayerNorm, linear layers and GELU; the attention written out for one query
 * in the order of train_attention_forward), so pushing a sequence position by position gives
 * the logits of train_model_forward on it, within float rounding (tests/test_train_infer.c).
 *
 * train_infer_push_tokens and train_infer_push_audio append several token or audio positions
 * at once: the same layers over n rows (chunk_forward), so every matrix product is a GEMM
 * (n rows through the weights once), and the attention of the chunk a GEMM per head over the
 * cached keys with a causal cut.
 *
 * Memory: keys and values of every layer for max_seq positions (2 L max_seq d floats), the
 * final hidden state of each audio position (max_seq d, so that train_infer_truncate can
 * rebuild the pooled sum) and a few vectors; train_infer_push never allocates. The chunk
 * scratch (about 15 d + max_seq floats per row) is grown by train_infer_push_tokens and
 * train_infer_push_audio to the largest chunk seen, at most max_seq rows. */
#include "train/train.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct infer_layer {
    const float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw,
        *fcprojb;
} infer_layer;

struct train_infer {
    int d, L, NH, S, F, max_seq;
    int n;       /* positions pushed */
    int n_audio; /* audio positions pushed */
    const float *wte, *wpe, *persw, *persb, *audw, *audb, *lnfw, *lnfb;
    const float *paraw[TRAIN_N_HEADS_PARA], *parab[TRAIN_N_HEADS_PARA];
    infer_layer *layer;    /* [L] */
    float *kc, *vc;        /* [L, max_seq, d] */
    float *x, *h, *qkv;    /* (d), (d), (3d) */
    float *atty, *tmp, *z; /* (d) each */
    float *fch, *fchg;     /* (4d) */
    float *att;            /* (max_seq) */
    float *pool;           /* (d) sum of z over the audio positions, in push order */
    float *pooled;         /* (d) */
    float stat[2];         /* LayerNorm mean and rstd (unused) */
    float *zaud;           /* [max_seq, d] z of each audio position (rows of others unused) */
    uint8_t *is_audio;     /* [max_seq] */
    /* chunk scratch of the chunked pushes, for up to `cap` rows: X, H, ATTY, TMP (cap,d),
     * QKV (cap,3d), FCH, FCHG (cap,4d), mean and rstd (cap), scores (cap,max_seq) */
    int cap;
    float *cbuf;
    float *cx, *ch, *cqkv, *catty, *ctmp, *cfch, *cfchg, *cmean, *crstd, *catt;
    /* train_infer_push_context's audio positions, zero-padded: (max_seq, F) */
    float *ctx_audio;
};

/* The view `name`, which must exist with `count` floats (the model laid it out). */
static const float *param(const train_params *p, const char *name, size_t count)
{
    const train_param_view *v = train_params_find(p, name);
    CORE_ASSERT(v && v->count == count);
    return p->data + v->offset;
}

core_status train_infer_create(const train_model *m, train_infer **out)
{
    *out = NULL;
    CORE_ASSERT(m);
    const train_model_cfg *c = train_model_config(m);
    /* train_model_params takes a non-const model only because it also serves training;
     * nothing here writes through it */
    const train_params *p = train_model_params((train_model *)(uintptr_t)m);
    train_infer *s = core_zalloc(1, sizeof *s, "inference state");
    if (!s)
        return CORE_ERR_NOMEM;
    s->d = (int)c->d_model;
    s->L = (int)c->n_layers;
    s->NH = (int)c->n_heads;
    s->S = (int)c->stack;
    s->F = s->S * TRAIN_N_MELS;
    s->max_seq = (int)c->max_seq;
    const size_t d = (size_t)s->d, F = (size_t)s->F;
    size_t cache;
    if (core_mul_overflows((size_t)s->L * (size_t)s->max_seq, d, &cache)) {
        core_status st = CORE_ERR(CORE_ERR_NOMEM, "inference: a cache of %d x %d x %d overflows",
                                  s->L, s->max_seq, s->d);
        free(s);
        return st;
    }
    s->layer = core_zalloc((size_t)s->L, sizeof *s->layer, "inference layers");
    s->kc = core_alloc(cache, sizeof(float), "inference key cache");
    s->vc = core_alloc(cache, sizeof(float), "inference value cache");
    s->x = core_alloc(16 * d, sizeof(float), "inference scratch");
    s->att = core_alloc((size_t)s->max_seq, sizeof(float), "inference scratch");
    if (!s->layer || !s->kc || !s->vc || !s->x || !s->att) {
        train_infer_free(s);
        return CORE_ERR_NOMEM;
    }
    s->h = s->x + d;
    s->qkv = s->h + d;        /* 3d */
    s->atty = s->qkv + 3 * d; /* d */
    s->tmp = s->atty + d;
    s->z = s->tmp + d;
    s->fch = s->z + d;        /* 4d */
    s->fchg = s->fch + 4 * d; /* 4d, ends at 16d */
    s->pool = core_zalloc(2 * d, sizeof(float), "inference pooling");
    if (!s->pool) {
        train_infer_free(s);
        return CORE_ERR_NOMEM;
    }
    s->pooled = s->pool + d;
    s->zaud = core_alloc((size_t)s->max_seq, d * sizeof(float), "inference audio states");
    s->is_audio = core_zalloc((size_t)s->max_seq, 1, "inference position kinds");
    if (!s->zaud || !s->is_audio) {
        train_infer_free(s);
        return CORE_ERR_NOMEM;
    }

    s->wte = param(p, "wte", TRAIN_VOCAB * d);
    s->wpe = param(p, "wpe", (size_t)s->max_seq * d);
    s->persw = param(p, "persona.w", d * TRAIN_PERSONA_DIM);
    s->persb = param(p, "persona.b", d);
    s->audw = param(p, "audio.w", d * F);
    s->audb = param(p, "audio.b", d);
    char name[64];
    for (int l = 0; l < s->L; l++) {
        infer_layer *w = &s->layer[l];
#define P(field, suffix, count)                                                                    \
    do {                                                                                           \
        snprintf(name, sizeof name, "h.%d.%s", l, suffix);                                         \
        w->field = param(p, name, count);                                                          \
    } while (0)
        P(ln1w, "ln1.w", d);
        P(ln1b, "ln1.b", d);
        P(qkvw, "attn.qkv.w", 3 * d * d);
        P(qkvb, "attn.qkv.b", 3 * d);
        P(projw, "attn.proj.w", d * d);
        P(projb, "attn.proj.b", d);
        P(ln2w, "ln2.w", d);
        P(ln2b, "ln2.b", d);
        P(fcw, "mlp.fc.w", 4 * d * d);
        P(fcb, "mlp.fc.b", 4 * d);
        P(fcprojw, "mlp.proj.w", 4 * d * d);
        P(fcprojb, "mlp.proj.b", d);
#undef P
    }
    s->lnfw = param(p, "lnf.w", d);
    s->lnfb = param(p, "lnf.b", d);
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const size_t K = (size_t)train_para_classes[k];
        snprintf(name, sizeof name, "para.%s.w", train_para_names[k]);
        s->paraw[k] = param(p, name, K * d);
        snprintf(name, sizeof name, "para.%s.b", train_para_names[k]);
        s->parab[k] = param(p, name, K);
    }
    train_infer_reset(s);
    *out = s;
    return CORE_OK;
}

void train_infer_free(train_infer *s)
{
    if (!s)
        return;
    free(s->layer);
    free(s->kc);
    free(s->vc);
    free(s->x);
    free(s->att);
    free(s->pool);
    free(s->zaud);
    free(s->is_audio);
    free(s->cbuf);
    free(s->ctx_audio);
    free(s);
}

void train_infer_reset(train_infer *s)
{
    s->n = 0;
    s->n_audio = 0;
    memset(s->pool, 0, (size_t)s->d * sizeof *s->pool);
}

int train_infer_length(const train_infer *s)
{
    return s->n;
}

void train_infer_truncate(train_infer *s, int length)
{
    CORE_ASSERT(length >= 0);
    if (length >= s->n)
        return;
    int removed_audio = 0;
    for (int t = length; t < s->n; t++)
        removed_audio += s->is_audio[t];
    s->n = length;
    if (removed_audio == 0)
        return;
    /* rebuild the sum in push order, so that it is bit for bit the running sum of a decoder
     * that never saw the removed positions (subtracting would leave rounding behind) */
    const size_t D = (size_t)s->d;
    memset(s->pool, 0, D * sizeof *s->pool);
    s->n_audio = 0;
    for (int t = 0; t < length; t++) {
        if (!s->is_audio[t])
            continue;
        const float *z = s->zaud + (size_t)t * D;
        for (size_t c = 0; c < D; c++)
            s->pool[c] += z[c];
        s->n_audio++;
    }
}

core_status train_infer_push(train_infer *s, int kind, const float *persona_or_frames,
                             int32_t token, float *logits_out)
{
    const int d = s->d, NH = s->NH;
    const size_t D = (size_t)d, hs = D / (size_t)NH, t = (size_t)s->n;
    if (s->n >= s->max_seq)
        return CORE_ERR(CORE_ERR_LIMIT, "inference: the sequence is full (max_seq = %d positions)",
                        s->max_seq);
    /* embedding */
    const float *e;
    switch (kind) {
    case TRAIN_POS_PERSONA:
    case TRAIN_POS_AUDIO:
        if (!persona_or_frames)
            return CORE_ERR(CORE_ERR_RANGE, "inference: a %s position needs its features",
                            kind == TRAIN_POS_PERSONA ? "persona" : "audio");
        if (kind == TRAIN_POS_PERSONA)
            train_linear_forward(s->tmp, persona_or_frames, s->persw, s->persb, 1,
                                 TRAIN_PERSONA_DIM, d);
        else
            train_linear_forward(s->tmp, persona_or_frames, s->audw, s->audb, 1, s->F, d);
        e = s->tmp;
        break;
    case TRAIN_POS_TOKEN:
        if (token < 0 || token >= TRAIN_VOCAB)
            return CORE_ERR(CORE_ERR_RANGE, "inference: token %ld is outside [0, %d)", (long)token,
                            TRAIN_VOCAB);
        e = s->wte + (size_t)token * D;
        break;
    default: return CORE_ERR(CORE_ERR_RANGE, "inference: position kind %d cannot be pushed", kind);
    }
    const float *pe = s->wpe + t * D;
    for (size_t c = 0; c < D; c++)
        s->x[c] = e[c] + pe[c];

    /* blocks: the query at t attends to the cached keys 0..t (its own included) */
    const float scale = 1.0f / sqrtf((float)hs);
    for (int l = 0; l < s->L; l++) {
        const infer_layer *w = &s->layer[l];
        float *kc = s->kc + (size_t)l * (size_t)s->max_seq * D;
        float *vc = s->vc + (size_t)l * (size_t)s->max_seq * D;
        train_layernorm_forward(s->h, &s->stat[0], &s->stat[1], s->x, w->ln1w, w->ln1b, 1, d);
        train_linear_forward(s->qkv, s->h, w->qkvw, w->qkvb, 1, d, 3 * d);
        memcpy(kc + t * D, s->qkv + D, D * sizeof(float));
        memcpy(vc + t * D, s->qkv + 2 * D, D * sizeof(float));
        for (size_t hh = 0; hh < (size_t)NH; hh++) {
            const float *q = s->qkv + hh * hs;
            /* scores of the keys 0..t: scale * K (t+1, hs) @ q (hs) */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(t + 1), (int)hs, scale, kc + hh * hs, d,
                        q, 1, 0.0f, s->att, 1);
            float maxv = -INFINITY;
            for (size_t t2 = 0; t2 <= t; t2++)
                if (s->att[t2] > maxv)
                    maxv = s->att[t2];
            float sum = 0.0f;
            for (size_t t2 = 0; t2 <= t; t2++) {
                s->att[t2] = expf(s->att[t2] - maxv);
                sum += s->att[t2];
            }
            float inv = 1.0f / sum; /* sum >= 1: the maximum contributes exp(0) */
            for (size_t t2 = 0; t2 <= t; t2++)
                s->att[t2] *= inv;
            /* out (hs) = V^T (hs, t+1) @ att (t+1) */
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)(t + 1), (int)hs, 1.0f, vc + hh * hs, d,
                        s->att, 1, 0.0f, s->atty + hh * hs, 1);
        }
        train_linear_forward(s->tmp, s->atty, w->projw, w->projb, 1, d, d);
        train_residual_forward(s->x, s->x, s->tmp, D); /* x becomes res2 */
        train_layernorm_forward(s->h, &s->stat[0], &s->stat[1], s->x, w->ln2w, w->ln2b, 1, d);
        train_linear_forward(s->fch, s->h, w->fcw, w->fcb, 1, d, 4 * d);
        train_gelu_forward(s->fchg, s->fch, 4 * D);
        train_linear_forward(s->tmp, s->fchg, w->fcprojw, w->fcprojb, 1, 4 * d, d);
        train_residual_forward(s->x, s->x, s->tmp, D);
    }
    train_layernorm_forward(s->z, &s->stat[0], &s->stat[1], s->x, s->lnfw, s->lnfb, 1, d);
    s->is_audio[t] = kind == TRAIN_POS_AUDIO;
    if (kind == TRAIN_POS_AUDIO) {
        for (size_t c = 0; c < D; c++)
            s->pool[c] += s->z[c];
        memcpy(s->zaud + t * D, s->z, D * sizeof(float));
        s->n_audio++;
    }
    if (logits_out) /* tied LM head: wte (V,d) @ z (d) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, TRAIN_VOCAB, d, 1.0f, s->wte, d, s->z, 1, 0.0f,
                    logits_out, 1);
    s->n++;
    return CORE_OK;
}

/* Makes the chunk scratch hold at least `rows` rows (rows <= max_seq), growing to twice the
 * old capacity at least, so that a run of growing chunks reallocates a few times only. */
static core_status chunk_reserve(train_infer *s, int rows)
{
    if (rows <= s->cap)
        return CORE_OK;
    int cap = s->cap > rows / 2 ? 2 * s->cap : rows;
    if (cap > s->max_seq)
        cap = s->max_seq;
    const size_t D = (size_t)s->d, C = (size_t)cap;
    const size_t per_row = 15 * D + 2 + (size_t)s->max_seq;
    float *buf = core_alloc(C, per_row * sizeof(float), "inference chunk scratch");
    if (!buf)
        return CORE_ERR_NOMEM;
    free(s->cbuf);
    s->cbuf = buf;
    s->cap = cap;
    s->cx = buf;
    s->ch = s->cx + C * D;
    s->catty = s->ch + C * D;
    s->ctmp = s->catty + C * D;
    s->cqkv = s->ctmp + C * D;      /* 3d per row */
    s->cfch = s->cqkv + C * 3 * D;  /* 4d */
    s->cfchg = s->cfch + C * 4 * D; /* 4d */
    s->cmean = s->cfchg + C * 4 * D;
    s->crstd = s->cmean + C;
    s->catt = s->crstd + C; /* (cap, max_seq), ends at C * per_row */
    return CORE_OK;
}

/* Fails with CORE_ERR_LIMIT, changing nothing, unless n more positions fit. */
static core_status chunk_check_room(const train_infer *s, int n)
{
    if (n > s->max_seq - s->n)
        return CORE_ERR(CORE_ERR_LIMIT,
                        "inference: %d positions after %d cached overflow max_seq = %d", n, s->n,
                        s->max_seq);
    return CORE_OK;
}

/* The common part of a chunk: the n rows of s->cx (n >= 1, the chunk scratch reserved) hold
 * the input embeddings of positions t0 = s->n .. t0+n-1 (their wpe rows included); runs
 * them through every block, the keys and values entering the cache, then lnf. Token rows
 * (audio false): logits_out (n, V), may be NULL, gets the LM head. Audio rows (audio true,
 * logits_out NULL): the final states go to zaud and into the pooled sum, row after row as n
 * single pushes add them. The chunk's positions are then pushed. */
static void chunk_forward(train_infer *s, int n, float *logits_out, bool audio)
{
    const int d = s->d, NH = s->NH, t0 = s->n, T = t0 + n; /* T: positions after the chunk */
    const size_t D = (size_t)d, hs = D / (size_t)NH, N = (size_t)n;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int l = 0; l < s->L; l++) {
        const infer_layer *w = &s->layer[l];
        float *kc = s->kc + (size_t)l * (size_t)s->max_seq * D;
        float *vc = s->vc + (size_t)l * (size_t)s->max_seq * D;
        train_layernorm_forward(s->ch, s->cmean, s->crstd, s->cx, w->ln1w, w->ln1b, n, d);
        train_linear_forward(s->cqkv, s->ch, w->qkvw, w->qkvb, n, d, 3 * d);
        for (size_t i = 0; i < N; i++) {
            const float *qkv = s->cqkv + i * 3 * D;
            memcpy(kc + ((size_t)t0 + i) * D, qkv + D, D * sizeof(float));
            memcpy(vc + ((size_t)t0 + i) * D, qkv + 2 * D, D * sizeof(float));
        }
        for (size_t hh = 0; hh < (size_t)NH; hh++) {
            /* scores (n,T) = scale * Q (n,hs) @ K (T,hs)^T: GEMM M=n, N=T, K=hs; row i keeps
             * the keys 0..t0+i and the rest is zeroed after the softmax (causal) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, T, (int)hs, scale,
                        s->cqkv + hh * hs, 3 * d, kc + hh * hs, d, 0.0f, s->catt, T);
            for (size_t i = 0; i < N; i++) {
                float *a = s->catt + i * (size_t)T;
                const size_t last = (size_t)t0 + i; /* the query's own position */
                float maxv = -INFINITY;
                for (size_t t2 = 0; t2 <= last; t2++)
                    if (a[t2] > maxv)
                        maxv = a[t2];
                float sum = 0.0f;
                for (size_t t2 = 0; t2 <= last; t2++) {
                    a[t2] = expf(a[t2] - maxv);
                    sum += a[t2];
                }
                float inv = 1.0f / sum; /* sum >= 1: the maximum contributes exp(0) */
                for (size_t t2 = 0; t2 <= last; t2++)
                    a[t2] *= inv;
                for (size_t t2 = last + 1; t2 < (size_t)T; t2++)
                    a[t2] = 0.0f;
            }
            /* out (n,hs) = att (n,T) @ V (T,hs): GEMM M=n, N=hs, K=T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)hs, T, 1.0f, s->catt, T,
                        vc + hh * hs, d, 0.0f, s->catty + hh * hs, d);
        }
        train_linear_forward(s->ctmp, s->catty, w->projw, w->projb, n, d, d);
        train_residual_forward(s->cx, s->cx, s->ctmp, N * D);
        train_layernorm_forward(s->ch, s->cmean, s->crstd, s->cx, w->ln2w, w->ln2b, n, d);
        train_linear_forward(s->cfch, s->ch, w->fcw, w->fcb, n, d, 4 * d);
        train_gelu_forward(s->cfchg, s->cfch, N * 4 * D);
        train_linear_forward(s->ctmp, s->cfchg, w->fcprojw, w->fcprojb, n, 4 * d, d);
        train_residual_forward(s->cx, s->cx, s->ctmp, N * D);
    }
    if (audio) { /* z (n,d) straight into the stored states; no LM head */
        CORE_ASSERT(!logits_out);
        float *z = s->zaud + (size_t)t0 * D;
        train_layernorm_forward(z, s->cmean, s->crstd, s->cx, s->lnfw, s->lnfb, n, d);
        for (size_t i = 0; i < N; i++)
            for (size_t c = 0; c < D; c++)
                s->pool[c] += z[i * D + c];
        s->n_audio += n;
    } else if (logits_out) { /* tied LM head: (n,V) = z (n,d) @ wte (V,d)^T */
        train_layernorm_forward(s->ch, s->cmean, s->crstd, s->cx, s->lnfw, s->lnfb, n, d);
        train_linear_forward(logits_out, s->ch, s->wte, NULL, n, d, TRAIN_VOCAB);
    }
    memset(s->is_audio + t0, audio ? 1 : 0, N);
    s->n = T;
}

core_status train_infer_push_tokens(train_infer *s, const int32_t *tokens, int n, float *logits_out)
{
    CORE_ASSERT(n >= 0);
    if (n == 0)
        return CORE_OK;
    CORE_ASSERT(tokens);
    core_status st = chunk_check_room(s, n);
    if (st != CORE_OK)
        return st;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= TRAIN_VOCAB)
            return CORE_ERR(CORE_ERR_RANGE,
                            "inference: token %ld (chunk index %d) is outside [0, %d)",
                            (long)tokens[i], i, TRAIN_VOCAB);
    st = chunk_reserve(s, n);
    if (st != CORE_OK)
        return st;
    const size_t D = (size_t)s->d, t0 = (size_t)s->n;
    for (size_t i = 0; i < (size_t)n; i++) { /* x = wte[token] + wpe[t] */
        const float *e = s->wte + (size_t)tokens[i] * D;
        const float *pe = s->wpe + (t0 + i) * D;
        float *x = s->cx + i * D;
        for (size_t c = 0; c < D; c++)
            x[c] = e[c] + pe[c];
    }
    chunk_forward(s, n, logits_out, false);
    return CORE_OK;
}

core_status train_infer_push_audio(train_infer *s, const float *frames, int n)
{
    CORE_ASSERT(n >= 0);
    if (n == 0)
        return CORE_OK;
    core_status st = chunk_check_room(s, n);
    if (st != CORE_OK)
        return st;
    if (!frames)
        return CORE_ERR(CORE_ERR_RANGE, "inference: %d audio positions need their frames", n);
    st = chunk_reserve(s, n);
    if (st != CORE_OK)
        return st;
    const int d = s->d;
    const size_t D = (size_t)d, t0 = (size_t)s->n;
    /* x (n,d) = frames (n,F) @ audio.w (d,F)^T + audio.b, then + wpe[t] (as a push adds them) */
    train_linear_forward(s->cx, frames, s->audw, s->audb, n, s->F, d);
    for (size_t i = 0; i < (size_t)n; i++) {
        const float *pe = s->wpe + (t0 + i) * D;
        float *x = s->cx + i * D;
        for (size_t c = 0; c < D; c++)
            x[c] = x[c] + pe[c];
    }
    chunk_forward(s, n, NULL, true);
    return CORE_OK;
}

core_status train_infer_para(train_infer *s, int32_t cls[TRAIN_N_HEADS_PARA], float *probs)
{
    const size_t D = (size_t)s->d;
    if (s->n_audio == 0) {
        memset(s->pooled, 0, D * sizeof *s->pooled);
    } else {
        const float inv = 1.0f / (float)s->n_audio;
        for (size_t c = 0; c < D; c++)
            s->pooled[c] = s->pool[c] * inv;
    }
    float lg[TRAIN_PARA_CLASSES];
    int off = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const int K = train_para_classes[k];
        float *z = lg + off;
        train_linear_forward(z, s->pooled, s->paraw[k], s->parab[k], 1, s->d, K);
        int best = 0;
        for (int c = 1; c < K; c++)
            if (z[c] > z[best])
                best = c;
        cls[k] = best;
        if (probs) {
            double sum = 0.0;
            for (int c = 0; c < K; c++)
                sum += exp((double)z[c] - (double)z[best]);
            for (int c = 0; c < K; c++)
                probs[off + c] = (float)(exp((double)z[c] - (double)z[best]) / sum);
        }
        off += K;
    }
    return CORE_OK;
}

/* ---------------------------------------------------------------- sampling */

typedef struct scored {
    float v;
    int i;
} scored;

/* Descending by value, ties by the lower index: a total order, so the result is the same
 * whatever qsort does. */
static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int32_t argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int32_t train_sample(const float *logits, int n, double temperature, int top_k, double top_p,
                     core_rng *rng)
{
    CORE_ASSERT(logits && n > 0);
    if (!(temperature > 0.0) || top_k == 1)
        return argmax(logits, n);
    scored *sc = malloc((size_t)n * sizeof *sc);
    double *p = malloc((size_t)n * sizeof *p);
    if (!sc || !p) { /* no memory for the ranking: the most likely token */
        free(sc);
        free(p);
        return argmax(logits, n);
    }
    for (int i = 0; i < n; i++)
        sc[i] = (scored){logits[i], i};
    qsort(sc, (size_t)n, sizeof *sc, cmp_scored);
    int keep = top_k > 0 && top_k < n ? top_k : n;
    double sum = 0.0;
    for (int i = 0; i < keep; i++) {
        p[i] = exp(((double)sc[i].v - (double)sc[0].v) / temperature);
        sum += p[i];
    }
    if (top_p > 0.0 && top_p < 1.0) { /* the smallest prefix holding top_p of the mass */
        double cum = 0.0;
        int k = 0;
        while (k < keep) {
            cum += p[k++] / sum;
            if (cum >= top_p)
                break;
        }
        keep = k;
        sum = 0.0;
        for (int i = 0; i < keep; i++)
            sum += p[i];
    }
    double u = core_rng_uniform(rng) * sum, cum = 0.0;
    int32_t pick = sc[keep - 1].i;
    for (int i = 0; i < keep; i++) {
        cum += p[i];
        if (u < cum) {
            pick = sc[i].i;
            break;
        }
    }
    free(sc);
    free(p);
    return pick;
}

core_status train_infer_push_context(train_infer *s, const float *persona,
                                     const int32_t *history, size_t n_history, const float *mel,
                                     size_t frames, int max_new, bool stream, int *reply_budget,
                                     double *audio_seconds)
{
    static const float zero_persona[TRAIN_PERSONA_DIM];
    size_t h, a, r;
    train_sequence_length(n_history, frames, max_new > 0 ? (size_t)max_new : 0, s->max_seq,
                          s->S, &h, &a, &r);
    const size_t per = (size_t)s->F; /* floats per audio position */
    if (a && !s->ctx_audio) {
        s->ctx_audio = core_alloc((size_t)s->max_seq, per * sizeof(float), "inference context");
        if (!s->ctx_audio)
            return CORE_ERR_NOMEM;
    }
    /* the first `a` positions of `stack` frames, the last one padded with zeros */
    if (a) {
        const size_t kept = frames < a * (size_t)s->S ? frames : a * (size_t)s->S;
        memcpy(s->ctx_audio, mel, kept * TRAIN_N_MELS * sizeof(float));
        memset(s->ctx_audio + kept * TRAIN_N_MELS, 0,
               (a * per - kept * TRAIN_N_MELS) * sizeof(float));
    }
    core_status st;
    train_infer_reset(s);
    if ((st = train_infer_push(s, TRAIN_POS_PERSONA, persona ? persona : zero_persona, 0, NULL)))
        return st;
    if (h && (st = train_infer_push_tokens(s, history + (n_history - h), (int)h, NULL)))
        return st;
    const double t0 = core_now();
    if (stream)
        for (size_t k = 0; k < a && st == CORE_OK; k++)
            st = train_infer_push(s, TRAIN_POS_AUDIO, s->ctx_audio + k * per, 0, NULL);
    else if (a)
        st = train_infer_push_audio(s, s->ctx_audio, (int)a);
    if (audio_seconds)
        *audio_seconds = core_now() - t0;
    *reply_budget = (int)r;
    return st;
}
