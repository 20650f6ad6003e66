/* The persona-conditioned speech-language transformer (DESIGN.md §5): embedding of
 * persona, token and audio positions, GPT-2 pre-LN blocks, tied LM head, paralinguistic
 * heads, and the exact backward of all of it.
 *
 * Design. Three blocks per model, as in llm.c: parameters and gradients (train_params, laid
 * out by the same spec list) and one activation block carved into named arrays for
 * max_B x max_seq positions. A batch of B x T uses the first B*T rows of every array, packed
 * with row stride T, so the layer functions see contiguous (B,T,C) tensors. Forward keeps
 * what the backward needs (per layer: its input, both LayerNorm outputs with mean and rstd,
 * qkv, the attention output and weights, the residual after attention, the MLP hidden before
 * and after GELU); the backward reuses a handful of scratch arrays. Nothing allocates after
 * train_model_create. Every formula is in docs/model.md. */
#include "train/train.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const train_para_names[TRAIN_N_HEADS_PARA] = {
    "emotion", "laughter", "hesitation", "speed", "pitch", "gender", "language"};
const int train_para_classes[TRAIN_N_HEADS_PARA] = {10, 2, 2, 3, 3, 3, 7};

enum { PARA_MAX_CLASSES = 10, PARA_TOTAL_CLASSES = 30 };

/* ---------------------------------------------------------------- config */

#define F(key, type, field, lo, hi, help)                                                          \
    {                                                                                              \
        key, type, offsetof(train_model_cfg, field), lo, hi, NULL, 0, help                         \
    }
static const core_cfg_field model_fields[] = {
    F("d_model", CORE_CFG_INT, d_model, 8, 8192, "model width d (a multiple of n_heads)"),
    F("n_layers", CORE_CFG_INT, n_layers, 1, 256, "number of transformer blocks L"),
    F("n_heads", CORE_CFG_INT, n_heads, 1, 256, "attention heads per block"),
    F("max_seq", CORE_CFG_INT, max_seq, 4, 65536,
      "longest sequence in positions (persona + history + audio + reply)"),
    F("stack", CORE_CFG_INT, stack, 1, 64, "log-mel frames stacked into one audio position"),
    F("para_weight", CORE_CFG_REAL, para_weight, 0, 1000,
      "weight of the summed paralinguistic losses"),
};
#undef F
const core_cfg_schema train_model_schema = {"model",
                                            "model/small.yaml",
                                            sizeof(train_model_cfg),
                                            model_fields,
                                            sizeof model_fields / sizeof *model_fields,
                                            "the transformer's sizes and loss weights"};

/* ---------------------------------------------------------------- the model */

/* Pointers into the parameter (or gradient) block for one layer. */
typedef struct layer_w {
    float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} layer_w;

typedef struct model_w {
    float *wte, *wpe, *persw, *persb, *audw, *audb, *lnfw, *lnfb;
    float *paraw[TRAIN_N_HEADS_PARA], *parab[TRAIN_N_HEADS_PARA];
    layer_w *layer; /* [L] */
} model_w;

/* Saved activations of one layer, each sized for max_B * max_seq rows. */
typedef struct layer_act {
    float *x;                 /* (N,d) the block's input (residual stream) */
    float *ln1, *ln1m, *ln1r; /* (N,d), (N), (N) */
    float *qkv;               /* (N,3d) */
    float *atty;              /* (N,d) attention output before the projection */
    float *att;               /* (B,NH,T,T) attention weights */
    float *res2;              /* (N,d) residual after attention */
    float *ln2, *ln2m, *ln2r; /* (N,d), (N), (N) */
    float *fch, *fchg;        /* (N,4d) MLP hidden before and after GELU */
} layer_act;

struct train_model {
    train_model_cfg cfg;
    int max_B;
    int d, L, NH, S, F; /* F = stack * TRAIN_N_MELS */
    train_params params, grads;
    model_w w, g;
    float *act; /* the activation block */
    layer_act *la;
    float *xout;               /* (N,d) the residual stream after the last block */
    float *lnf, *lnfm, *lnfr;  /* (N,d), (N), (N) */
    float *logits, *probs;     /* (N,V) */
    float *losses, *dlosses;   /* (N) */
    float *pooled;             /* (B,d) */
    float *plogits, *pprobs;   /* (B,PARA_TOTAL_CLASSES) per head at its class offset */
    float *plosses, *pdlosses; /* (B) */
    float *pcount;             /* (B) audio positions per row */
    int32_t *plabels;          /* (B) one head's labels */
    uint8_t *valid, *audio;    /* (N) */
    float *gather, *dgather;   /* (N,max(F,d)) audio frames and their output, packed */
    /* backward scratch */
    float *dres, *dln, *dqkv, *datty, *dfch, *dfchg; /* (N,d), (N,d), (N,3d), (N,d), (N,4d) */
    float *dlogits;                                  /* (N,V) */
    float *dpooled, *dplogits;                       /* (B,d), (B,PARA_MAX_CLASSES) */
    float *dpers;                                    /* (B,d) */
    int last_B, last_T;
    float para_inv[TRAIN_N_HEADS_PARA]; /* para_weight / labelled count of the last forward */
    float token_inv;                    /* 1 / reply tokens of the last forward */
    train_model_stats stats;
    train_grad_hook grad_hook; /* told each gradient range the backward has completed */
    void *grad_ctx;
};

static core_status check_cfg(const train_model_cfg *c)
{
    if (c->d_model < 8 || c->d_model > 8192)
        return CORE_ERR(CORE_ERR_RANGE, "model: d_model = %lld is outside [8, 8192]",
                        (long long)c->d_model);
    if (c->n_heads < 1 || c->d_model % c->n_heads != 0)
        return CORE_ERR(CORE_ERR_RANGE, "model: n_heads = %lld does not divide d_model = %lld",
                        (long long)c->n_heads, (long long)c->d_model);
    if (c->n_layers < 1 || c->n_layers > 256)
        return CORE_ERR(CORE_ERR_RANGE, "model: n_layers = %lld is outside [1, 256]",
                        (long long)c->n_layers);
    if (c->max_seq < 4 || c->max_seq > 65536)
        return CORE_ERR(CORE_ERR_RANGE, "model: max_seq = %lld is outside [4, 65536]",
                        (long long)c->max_seq);
    if (c->stack < 1 || c->stack > 64)
        return CORE_ERR(CORE_ERR_RANGE, "model: stack = %lld is outside [1, 64]",
                        (long long)c->stack);
    if (!(c->para_weight >= 0 && c->para_weight <= 1000))
        return CORE_ERR(CORE_ERR_RANGE, "model: para_weight = %g is outside [0, 1000]",
                        c->para_weight);
    return CORE_OK;
}

/* The tensor list of docs/model.md, names written into `names` (n * 48 bytes). Returns the
 * number of tensors. */
static size_t model_specs(const train_model_cfg *c, train_param_spec *sp, char (*names)[48])
{
    const size_t d = (size_t)c->d_model, F = (size_t)c->stack * TRAIN_N_MELS;
    size_t n = 0;
#define ADD(r, s0, s1, ...)                                                                        \
    do {                                                                                           \
        snprintf(names[n], 48, __VA_ARGS__);                                                       \
        sp[n] = (train_param_spec){names[n], r, {s0, s1, 0, 0}};                                   \
        n++;                                                                                       \
    } while (0)
    ADD(2, TRAIN_VOCAB, d, "wte");
    ADD(2, (size_t)c->max_seq, d, "wpe");
    ADD(2, d, TRAIN_PERSONA_DIM, "persona.w");
    ADD(1, d, 0, "persona.b");
    ADD(2, d, F, "audio.w");
    ADD(1, d, 0, "audio.b");
    for (int64_t l = 0; l < c->n_layers; l++) {
        long long li = (long long)l;
        ADD(1, d, 0, "h.%lld.ln1.w", li);
        ADD(1, d, 0, "h.%lld.ln1.b", li);
        ADD(2, 3 * d, d, "h.%lld.attn.qkv.w", li);
        ADD(1, 3 * d, 0, "h.%lld.attn.qkv.b", li);
        ADD(2, d, d, "h.%lld.attn.proj.w", li);
        ADD(1, d, 0, "h.%lld.attn.proj.b", li);
        ADD(1, d, 0, "h.%lld.ln2.w", li);
        ADD(1, d, 0, "h.%lld.ln2.b", li);
        ADD(2, 4 * d, d, "h.%lld.mlp.fc.w", li);
        ADD(1, 4 * d, 0, "h.%lld.mlp.fc.b", li);
        ADD(2, d, 4 * d, "h.%lld.mlp.proj.w", li);
        ADD(1, d, 0, "h.%lld.mlp.proj.b", li);
    }
    ADD(1, d, 0, "lnf.w");
    ADD(1, d, 0, "lnf.b");
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        ADD(2, (size_t)train_para_classes[k], d, "para.%s.w", train_para_names[k]);
        ADD(1, (size_t)train_para_classes[k], 0, "para.%s.b", train_para_names[k]);
    }
    if (c->reward_head) { /* the reward model's head (rlhf reward), last of all */
        ADD(2, 1, d, "reward.w");
        ADD(1, 1, 0, "reward.b");
        ADD(2, d, d, "reward.feat.w");
        ADD(1, d, 0, "reward.feat.b");
        ADD(2, TRAIN_REWARD_COND, 2 * d, "reward.cond.w");
        ADD(2, d, TRAIN_REWARD_OPEN_POS * d, "reward.open.w");
        ADD(1, d, 0, "reward.open.b");
        ADD(2, TRAIN_REWARD_CUE, d, "reward.open.cue.w");
        ADD(2, TRAIN_REWARD_CUE, d, "reward.aux.w");
        ADD(1, TRAIN_REWARD_CUE, 0, "reward.aux.b");
    }
#undef ADD
    return n;
}

/* Named pointers into a block laid out by model_specs (views in that order). */
static void bind(model_w *w, const train_params *p, int L)
{
    const train_param_view *v = p->views;
    size_t i = 0;
#define NEXT (p->data + v[i++].offset)
    w->wte = NEXT;
    w->wpe = NEXT;
    w->persw = NEXT;
    w->persb = NEXT;
    w->audw = NEXT;
    w->audb = NEXT;
    for (int l = 0; l < L; l++) {
        layer_w *lw = &w->layer[l];
        lw->ln1w = NEXT;
        lw->ln1b = NEXT;
        lw->qkvw = NEXT;
        lw->qkvb = NEXT;
        lw->projw = NEXT;
        lw->projb = NEXT;
        lw->ln2w = NEXT;
        lw->ln2b = NEXT;
        lw->fcw = NEXT;
        lw->fcb = NEXT;
        lw->fcprojw = NEXT;
        lw->fcprojb = NEXT;
    }
    w->lnfw = NEXT;
    w->lnfb = NEXT;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        w->paraw[k] = NEXT;
        w->parab[k] = NEXT;
    }
#undef NEXT
    /* a reward head (reward.w, reward.b, reward.feat.*, reward.cond.w, reward.open.*,
     * reward.aux.*) may follow; the reward model reads it by name */
    CORE_ASSERT(i == p->n_views ||
                (i + TRAIN_REWARD_VIEWS == p->n_views && !strcmp(v[i].name, "reward.w")));
}

/* Carves `n` floats for each array from the block (bump allocation); on a size overflow
 * sets *bad. With block NULL it only counts. */
typedef struct carver {
    float *block;
    size_t used;
    bool bad;
} carver;

static float *carve(carver *c, size_t a, size_t b)
{
    size_t n;
    if (core_mul_overflows(a, b, &n) || c->used + n < c->used) {
        c->bad = true;
        return NULL;
    }
    float *p = c->block ? c->block + c->used : NULL;
    c->used += n;
    return p;
}

/* Lays out every activation array; returns false on overflow. */
static bool carve_all(train_model *m, carver *c)
{
    const size_t N = (size_t)m->max_B * (size_t)m->cfg.max_seq, d = (size_t)m->d;
    const size_t B = (size_t)m->max_B, V = TRAIN_VOCAB;
    size_t att = 0;
    if (core_mul_overflows(N, (size_t)m->cfg.max_seq, &att) ||
        core_mul_overflows(att, (size_t)m->NH, &att))
        return false;
    for (int l = 0; l < m->L; l++) {
        layer_act *a = &m->la[l];
        a->x = carve(c, N, d);
        a->ln1 = carve(c, N, d);
        a->ln1m = carve(c, N, 1);
        a->ln1r = carve(c, N, 1);
        a->qkv = carve(c, N, 3 * d);
        a->atty = carve(c, N, d);
        a->att = carve(c, att, 1);
        a->res2 = carve(c, N, d);
        a->ln2 = carve(c, N, d);
        a->ln2m = carve(c, N, 1);
        a->ln2r = carve(c, N, 1);
        a->fch = carve(c, N, 4 * d);
        a->fchg = carve(c, N, 4 * d);
    }
    m->xout = carve(c, N, d);
    m->lnf = carve(c, N, d);
    m->lnfm = carve(c, N, 1);
    m->lnfr = carve(c, N, 1);
    m->logits = carve(c, N, V);
    m->probs = carve(c, N, V);
    m->losses = carve(c, N, 1);
    m->dlosses = carve(c, N, 1);
    m->pooled = carve(c, B, d);
    m->plogits = carve(c, B, PARA_TOTAL_CLASSES);
    m->pprobs = carve(c, B, PARA_TOTAL_CLASSES);
    m->plosses = carve(c, B, 1);
    m->pdlosses = carve(c, B, 1);
    m->pcount = carve(c, B, 1);
    m->gather = carve(c, N, (size_t)m->F > d ? (size_t)m->F : d);
    m->dgather = carve(c, N, d);
    m->dres = carve(c, N, d);
    m->dln = carve(c, N, d);
    m->dqkv = carve(c, N, 3 * d);
    m->datty = carve(c, N, d);
    m->dfch = carve(c, N, 4 * d);
    m->dfchg = carve(c, N, 4 * d);
    m->dlogits = carve(c, N, V);
    m->dpooled = carve(c, B, d);
    m->dplogits = carve(c, B, PARA_MAX_CLASSES);
    m->dpers = carve(c, B, d);
    return !c->bad;
}

core_status train_model_create(const train_model_cfg *cfg, int max_B, train_model **out)
{
    *out = NULL;
    core_status st = check_cfg(cfg);
    if (st != CORE_OK)
        return st;
    if (max_B < 1 || max_B > 1 << 20)
        return CORE_ERR(CORE_ERR_RANGE, "model: max batch %d is outside [1, 1048576]", max_B);
    train_model *m = core_zalloc(1, sizeof *m, "model");
    train_param_spec *specs = NULL;
    char(*names)[48] = NULL;
    if (!m)
        return CORE_ERR_NOMEM;
    m->cfg = *cfg;
    m->max_B = max_B;
    m->d = (int)cfg->d_model;
    m->L = (int)cfg->n_layers;
    m->NH = (int)cfg->n_heads;
    m->S = (int)cfg->stack;
    m->F = m->S * TRAIN_N_MELS;
    const size_t n_specs =
        6 + 12 * (size_t)m->L + 2 + 2 * TRAIN_N_HEADS_PARA + (cfg->reward_head ? TRAIN_REWARD_VIEWS : 0);
    specs = core_alloc(n_specs, sizeof *specs, "model parameter specs");
    names = core_alloc(n_specs, sizeof *names, "model parameter names");
    m->w.layer = core_zalloc((size_t)m->L, sizeof(layer_w), "model layers");
    m->g.layer = core_zalloc((size_t)m->L, sizeof(layer_w), "model layers");
    m->la = core_zalloc((size_t)m->L, sizeof(layer_act), "model activations");
    const size_t N = (size_t)max_B * (size_t)cfg->max_seq;
    m->plabels = core_alloc((size_t)max_B, sizeof *m->plabels, "model labels");
    m->valid = core_alloc(N, 1, "model mask");
    m->audio = core_alloc(N, 1, "model mask");
    if (!specs || !names || !m->w.layer || !m->g.layer || !m->la || !m->plabels || !m->valid ||
        !m->audio) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    CORE_ASSERT(model_specs(cfg, specs, names) == n_specs);
    CORE_TRY(train_params_init(&m->params, specs, n_specs));
    CORE_TRY(train_params_init(&m->grads, specs, n_specs));
    bind(&m->w, &m->params, m->L);
    bind(&m->g, &m->grads, m->L);
    carver c = {0};
    if (!carve_all(m, &c)) {
        st = CORE_ERR(CORE_ERR_NOMEM, "model: activations for %d x %lld positions overflow", max_B,
                      (long long)cfg->max_seq);
        goto done;
    }
    m->act = core_zalloc(c.used, sizeof(float), "model activations");
    if (!m->act) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    c = (carver){.block = m->act};
    CORE_ASSERT(carve_all(m, &c));
done:
    free(specs);
    free(names);
    if (st != CORE_OK) {
        train_model_free(m);
        return st;
    }
    *out = m;
    return CORE_OK;
}

void train_model_free(train_model *m)
{
    if (!m)
        return;
    train_params_free(&m->params);
    train_params_free(&m->grads);
    free(m->w.layer);
    free(m->g.layer);
    free(m->la);
    free(m->act);
    free(m->plabels);
    free(m->valid);
    free(m->audio);
    free(m);
}

train_params *train_model_params(train_model *m)
{
    return &m->params;
}
void train_model_set_grad_hook(train_model *m, train_grad_hook fn, void *ctx)
{
    m->grad_hook = fn;
    m->grad_ctx = ctx;
}

/* Tells the hook that the gradients of [first, last] (pointers into the gradient block, last
 * with `last_count` floats) are final for this backward. */
static void grads_done(const train_model *m, const float *first, const float *last,
                       size_t last_count)
{
    if (m->grad_hook)
        m->grad_hook(m->grad_ctx, (size_t)(first - m->grads.data),
                     (size_t)(last - m->grads.data) + last_count);
}

train_params *train_model_grads(train_model *m)
{
    return &m->grads;
}
const train_model_cfg *train_model_config(const train_model *m)
{
    return &m->cfg;
}
train_model_stats train_model_last(const train_model *m)
{
    return m->stats;
}

void train_model_zero_grad(train_model *m)
{
    memset(m->grads.data, 0, m->grads.count * sizeof *m->grads.data);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void train_model_init(train_model *m, uint64_t seed)
{
    core_rng root;
    core_rng_init(&root, seed, "train.init");
    const double proj_std = 0.02 / sqrt(2.0 * (double)m->L);
    for (size_t i = 0; i < m->params.n_views; i++) {
        const train_param_view *v = &m->params.views[i];
        float *p = m->params.data + v->offset;
        const char *name = v->name;
        bool norm = strstr(name, "ln1.") || strstr(name, "ln2.") || strncmp(name, "lnf.", 4) == 0;
        if (norm) {
            float val = ends_with(name, ".w") ? 1.0f : 0.0f;
            for (size_t j = 0; j < v->count; j++)
                p[j] = val;
            continue;
        }
        if (ends_with(name, ".b")) {
            memset(p, 0, v->count * sizeof *p);
            continue;
        }
        double std = 0.02;
        if (strcmp(name, "wpe") == 0)
            std = 0.01;
        else if (ends_with(name, ".attn.proj.w") || ends_with(name, ".mlp.proj.w"))
            std = proj_std;
        core_rng r = core_rng_fork(&root, (uint64_t)i);
        for (size_t j = 0; j < v->count; j++)
            p[j] = (float)(std * core_rng_normal(&r));
    }
}

/* ---------------------------------------------------------------- forward */

static void check_batch(const train_model *m, const train_batch *b)
{
    CORE_ASSERT(b->B >= 1 && b->B <= m->max_B && b->T >= 1 && b->T <= m->cfg.max_seq);
    CORE_ASSERT(b->kind && b->tokens && b->targets && b->labels && b->persona && b->frames);
}

float train_model_forward(train_model *m, const train_batch *b)
{
    check_batch(m, b);
    const int B = b->B, T = b->T, d = m->d, NH = m->NH, Fw = m->F, V = TRAIN_VOCAB;
    const size_t N = (size_t)B * (size_t)T, D = (size_t)d;
    const model_w *w = &m->w;
    float *x0 = m->la[0].x;

    /* masks, and the audio positions packed into `gather` */
    size_t na = 0;
    for (size_t i = 0; i < N; i++) {
        uint8_t k = b->kind[i];
        CORE_ASSERT(k <= TRAIN_POS_AUDIO);
        m->valid[i] = k != TRAIN_POS_PAD;
        m->audio[i] = k == TRAIN_POS_AUDIO;
        if (k == TRAIN_POS_AUDIO)
            memcpy(m->gather + na++ * (size_t)Fw, b->frames + i * (size_t)Fw,
                   (size_t)Fw * sizeof(float));
    }
    for (int bb = 0; bb < B; bb++) {
        float c = 0.0f;
        for (int t = 0; t < T; t++)
            c += m->audio[(size_t)bb * (size_t)T + (size_t)t];
        m->pcount[bb] = c;
    }

    /* embedding: persona rows (B,d) into dpers as a scratch, audio rows into dgather */
    train_linear_forward(m->dpers, b->persona, w->persw, w->persb, B, TRAIN_PERSONA_DIM, d);
    train_linear_forward(m->dgather, m->gather, w->audw, w->audb, (int)na, Fw, d);
    na = 0;
    for (size_t i = 0; i < N; i++) {
        float *x = x0 + i * D;
        const size_t t = i % (size_t)T, bb = i / (size_t)T;
        const float *e;
        switch (b->kind[i]) {
        case TRAIN_POS_PAD: memset(x, 0, D * sizeof *x); continue;
        case TRAIN_POS_PERSONA: e = m->dpers + bb * D; break;
        case TRAIN_POS_TOKEN: {
            int32_t tok = b->tokens[i];
            CORE_ASSERT(tok >= 0 && tok < V);
            e = w->wte + (size_t)tok * D;
            break;
        }
        default: e = m->dgather + na++ * D; break;
        }
        const float *pe = w->wpe + t * D;
        for (size_t c = 0; c < D; c++)
            x[c] = e[c] + pe[c];
    }

    /* blocks */
    for (int l = 0; l < m->L; l++) {
        const layer_w *lw = &w->layer[l];
        layer_act *a = &m->la[l];
        float *xnext = l + 1 < m->L ? m->la[l + 1].x : m->xout;
        train_layernorm_forward(a->ln1, a->ln1m, a->ln1r, a->x, lw->ln1w, lw->ln1b, (int)N, d);
        train_linear_forward(a->qkv, a->ln1, lw->qkvw, lw->qkvb, (int)N, d, 3 * d);
        train_attention_forward(a->atty, NULL, a->att, a->qkv, m->valid, B, T, d, NH);
        train_linear_forward(m->dln, a->atty, lw->projw, lw->projb, (int)N, d, d); /* scratch */
        train_residual_forward(a->res2, a->x, m->dln, N * D);
        train_layernorm_forward(a->ln2, a->ln2m, a->ln2r, a->res2, lw->ln2w, lw->ln2b, (int)N, d);
        train_linear_forward(a->fch, a->ln2, lw->fcw, lw->fcb, (int)N, d, 4 * d);
        train_gelu_forward(a->fchg, a->fch, N * 4 * D);
        train_linear_forward(m->dln, a->fchg, lw->fcprojw, lw->fcprojb, (int)N, 4 * d, d);
        train_residual_forward(xnext, a->res2, m->dln, N * D);
    }
    train_layernorm_forward(m->lnf, m->lnfm, m->lnfr, m->xout, w->lnfw, w->lnfb, (int)N, d);

    /* tied LM head: logits (N,V) = lnf (N,d) @ wte^T (d,V): GEMM M=N, N=V, K=d */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, V, d, 1.0f, m->lnf, d, w->wte, d,
                0.0f, m->logits, V);
    train_softmax_xent_forward(m->losses, m->probs, m->logits, b->targets, (int)N, V);
    train_model_stats s = {0};
    double tsum = 0.0;
    for (size_t i = 0; i < N; i++)
        if (b->targets[i] >= 0) {
            s.reply_tokens++;
            tsum += m->losses[i];
        }
    s.token_loss = s.reply_tokens ? (float)(tsum / (double)s.reply_tokens) : 0.0f;
    m->token_inv = s.reply_tokens ? 1.0f / (float)s.reply_tokens : 0.0f;

    /* paralinguistic heads on the mean over audio positions */
    train_masked_mean_forward(m->pooled, m->lnf, m->audio, m->pcount, B, T, d);
    double psum = 0.0;
    int off = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const int K = train_para_classes[k];
        float *lg = m->plogits + (size_t)B * (size_t)off, *pr = m->pprobs + (size_t)B * (size_t)off;
        train_linear_forward(lg, m->pooled, w->paraw[k], w->parab[k], B, d, K);
        for (int bb = 0; bb < B; bb++) {
            int32_t y = b->labels[(size_t)bb * TRAIN_N_HEADS_PARA + (size_t)k];
            CORE_ASSERT(y >= -1 && y < K);
            m->plabels[bb] = y;
        }
        train_softmax_xent_forward(m->plosses, pr, lg, m->plabels, B, K);
        double lsum = 0.0;
        for (int bb = 0; bb < B; bb++) {
            if (m->plabels[bb] < 0)
                continue;
            s.para_count[k]++;
            lsum += m->plosses[bb];
            const float *z = lg + (size_t)bb * (size_t)K;
            int best = 0;
            for (int c = 1; c < K; c++)
                if (z[c] > z[best])
                    best = c;
            s.para_correct[k] += best == m->plabels[bb];
        }
        if (s.para_count[k]) {
            psum += lsum / (double)s.para_count[k];
            m->para_inv[k] = (float)(m->cfg.para_weight / (double)s.para_count[k]);
        } else {
            m->para_inv[k] = 0.0f;
        }
        off += K;
    }
    s.para_loss = (float)psum;
    s.loss = (float)((double)s.token_loss + m->cfg.para_weight * psum);
    m->stats = s;
    m->last_B = B;
    m->last_T = T;
    return s.loss;
}

const float *train_model_logits(const train_model *m, int b, int t)
{
    CORE_ASSERT(b >= 0 && b < m->last_B && t >= 0 && t < m->last_T);
    return m->logits + ((size_t)b * (size_t)m->last_T + (size_t)t) * TRAIN_VOCAB;
}

/* ---------------------------------------------------------------- backward */

const float *train_model_token_losses(const train_model *m) { return m->losses; }
const float *train_model_hidden(const train_model *m) { return m->lnf; }
const float *train_model_para_probs(const train_model *m) { return m->pprobs; }

void train_model_seq_logps(const train_model *m, const train_batch *b, double *logp, int *ntok)
{
    CORE_ASSERT(b->B == m->last_B && b->T == m->last_T);
    for (int r = 0; r < b->B; r++) {
        double s = 0;
        int n = 0;
        for (int t = 0; t < b->T; t++) {
            size_t i = (size_t)r * (size_t)b->T + (size_t)t;
            if (b->targets[i] >= 0) {
                s -= m->losses[i];
                n++;
            }
        }
        logp[r] = s;
        if (ntok)
            ntok[r] = n;
    }
}

static void backward(train_model *m, const train_batch *b, const float *dloss, float para_scale,
                     const float *dhidden);

void train_model_backward(train_model *m, const train_batch *b)
{
    backward(m, b, NULL, 1.0f, NULL);
}

/* the address that means "no token-loss gradient at all" */
static const float dloss_none = 0.0f;

void train_model_backward_ext(train_model *m, const train_batch *b, const float *dloss,
                              float para_scale, const float *dhidden)
{
    backward(m, b, dloss ? dloss : &dloss_none, para_scale, dhidden);
}

/* dloss: NULL for the model's own loss (the mean over reply targets); else the gradient of
 * the objective with respect to each position's token loss (&dloss_none: zero everywhere).
 * para_scale multiplies the paralinguistic losses' gradients. dhidden (N,d) is added to the
 * gradient of the final LayerNorm's output. */
static void backward(train_model *m, const train_batch *b, const float *dloss, float para_scale,
                     const float *dhidden)
{
    check_batch(m, b);
    CORE_ASSERT(b->B == m->last_B && b->T == m->last_T);
    const int B = b->B, T = b->T, d = m->d, NH = m->NH, Fw = m->F, V = TRAIN_VOCAB;
    const size_t N = (size_t)B * (size_t)T, D = (size_t)d;
    const model_w *w = &m->w, *g = &m->g;

    /* token loss: mean over the targets */
    for (size_t i = 0; i < N; i++)
        m->dlosses[i] = b->targets[i] < 0 || dloss == &dloss_none ? 0.0f
                        : dloss                                    ? dloss[i]
                                                                   : m->token_inv;
    memset(m->dlogits, 0, N * (size_t)V * sizeof(float));
    train_softmax_xent_backward(m->dlogits, m->probs, b->targets, m->dlosses, (int)N, V);
    memset(m->dln, 0, N * D * sizeof(float)); /* d lnf */
    /* dlnf (N,d) += dlogits (N,V) @ wte (V,d): GEMM M=N, N=d, K=V */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, d, V, 1.0f, m->dlogits, V,
                w->wte, d, 1.0f, m->dln, d);
    /* dwte (V,d) += dlogits^T (V,N) @ lnf (N,d): GEMM M=V, N=d, K=N */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, d, (int)N, 1.0f, m->dlogits, V, m->lnf,
                d, 1.0f, g->wte, d);
    if (dhidden) /* a head outside the model (the reward head) on the final hidden states */
        for (size_t i = 0; i < N * D; i++)
            m->dln[i] += dhidden[i];

    /* paralinguistic heads */
    memset(m->dpooled, 0, (size_t)B * D * sizeof(float));
    int off = 0;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        const int K = train_para_classes[k];
        const float *pr = m->pprobs + (size_t)B * (size_t)off;
        off += K;
        if (m->para_inv[k] == 0.0f || para_scale == 0.0f)
            continue;
        for (int bb = 0; bb < B; bb++) {
            m->plabels[bb] = b->labels[(size_t)bb * TRAIN_N_HEADS_PARA + (size_t)k];
            m->pdlosses[bb] = m->para_inv[k] * para_scale;
        }
        memset(m->dplogits, 0, (size_t)B * (size_t)K * sizeof(float));
        train_softmax_xent_backward(m->dplogits, pr, m->plabels, m->pdlosses, B, K);
        train_linear_backward(m->dpooled, g->paraw[k], g->parab[k], m->dplogits, m->pooled,
                              w->paraw[k], B, d, K);
    }
    train_masked_mean_backward(m->dln, m->dpooled, m->audio, m->pcount, B, T, d);

    /* final LayerNorm into the residual stream's gradient */
    memset(m->dres, 0, N * D * sizeof(float));
    train_layernorm_backward(m->dres, g->lnfw, g->lnfb, m->dln, m->xout, w->lnfw, m->lnfm, m->lnfr,
                             (int)N, d);
    /* lnf, the paralinguistic heads (and a reward head, whose gradient the caller set
     * before the backward): the block's tail, from lnf.w to the end */
    grads_done(m, g->lnfw, m->grads.data + m->grads.count, 0);

    for (int l = m->L - 1; l >= 0; l--) {
        const layer_w *lw = &w->layer[l], *lg = &g->layer[l];
        const layer_act *a = &m->la[l];
        /* x_next = res2 + mlp: dres is both d x_next and (so far) d res2 */
        memset(m->dfchg, 0, N * 4 * D * sizeof(float));
        train_linear_backward(m->dfchg, lg->fcprojw, lg->fcprojb, m->dres, a->fchg, lw->fcprojw,
                              (int)N, 4 * d, d);
        memset(m->dfch, 0, N * 4 * D * sizeof(float));
        train_gelu_backward(m->dfch, a->fch, m->dfchg, N * 4 * D);
        memset(m->dln, 0, N * D * sizeof(float));
        train_linear_backward(m->dln, lg->fcw, lg->fcb, m->dfch, a->ln2, lw->fcw, (int)N, d, 4 * d);
        train_layernorm_backward(m->dres, lg->ln2w, lg->ln2b, m->dln, a->res2, lw->ln2w, a->ln2m,
                                 a->ln2r, (int)N, d);
        /* res2 = x + attn: dres is now d res2, both d x (so far) and d attn */
        memset(m->datty, 0, N * D * sizeof(float));
        train_linear_backward(m->datty, lg->projw, lg->projb, m->dres, a->atty, lw->projw, (int)N,
                              d, d);
        memset(m->dqkv, 0, N * 3 * D * sizeof(float));
        train_attention_backward(m->dqkv, NULL, NULL, m->datty, a->qkv, a->att, m->valid,
                                 B, T, d, NH);
        memset(m->dln, 0, N * D * sizeof(float));
        train_linear_backward(m->dln, lg->qkvw, lg->qkvb, m->dqkv, a->ln1, lw->qkvw, (int)N, d,
                              3 * d);
        train_layernorm_backward(m->dres, lg->ln1w, lg->ln1b, m->dln, a->x, lw->ln1w, a->ln1m,
                                 a->ln1r, (int)N, d);
        grads_done(m, lg->ln1w, lg->fcprojb, D); /* the whole of block l */
    }

    /* embedding: dres is d x0. Padded positions take no embedding, so get nothing. */
    memset(m->dpers, 0, (size_t)B * D * sizeof(float));
    size_t na = 0;
    for (size_t i = 0; i < N; i++) {
        const float *dx = m->dres + i * D;
        const size_t t = i % (size_t)T, bb = i / (size_t)T;
        float *dst;
        switch (b->kind[i]) {
        case TRAIN_POS_PAD: continue;
        case TRAIN_POS_PERSONA: dst = m->dpers + bb * D; break;
        case TRAIN_POS_TOKEN: dst = g->wte + (size_t)b->tokens[i] * D; break;
        default:
            dst = m->dgather + na++ * D;
            memset(dst, 0, D * sizeof *dst);
            break;
        }
        float *dpe = g->wpe + t * D;
        for (size_t c = 0; c < D; c++) {
            dst[c] += dx[c];
            dpe[c] += dx[c];
        }
    }
    train_linear_backward(NULL, g->persw, g->persb, m->dpers, b->persona, w->persw, B,
                          TRAIN_PERSONA_DIM, d);
    /* the forward left the packed audio frames in `gather` */
    train_linear_backward(NULL, g->audw, g->audb, m->dgather, m->gather, w->audw, (int)na, Fw, d);
    grads_done(m, g->wte, g->audb, D); /* the embeddings, wte (tied) last of all */
}

core_status train_model_cfg_load(const char *model, train_model_cfg *mc)
{
    char path[4096];
    const char *cdir = core_config_dir();
    if (model[0] == '/' || !cdir || access(model, R_OK) == 0)
        snprintf(path, sizeof path, "%s", model);
    else
        snprintf(path, sizeof path, "%s/%s", cdir, model);
    return core_cfg_load(&train_model_schema, path, NULL, 0, mc);
}
