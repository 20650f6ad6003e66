/* The reward model's head on the final hidden states of a train_model's last forward
 * (docs/rlhf.md, "The reward model"):
 *
 *   score = w . h_EOS + b  +  c^T U o  +  q^T Q g,
 *   o = [mean_{t < 24} f_t ; mean_t f_t],  f_t = tanh(V h_t + a) at each reply position t
 *   (BOS on),  g = G [h_0; h_1; ...; h_15] / 16 + g_b  (the opening's states side by side)
 *
 * w, b (reward.w, reward.b): a linear term on the reply's last position. The conditioned
 * term reads c, what the reply should answer to: the model's own posteriors of the user's
 * cue (its emotion, laughter, hesitation and speed heads on the audio, TRAIN_REWARD_CUE
 * floats) and the persona's features (TRAIN_PERSONA_DIM); and o, what the reply is: features
 * of each reply position (V, a: reward.feat.w (d, d), reward.feat.b (d)), averaged over the
 * opening (the first TRAIN_REWARD_OPENING positions, where a reaction to the cue stands) and
 * over the whole reply. U (reward.cond.w, TRAIN_REWARD_COND x 2d) scores their pairing, so
 * a reply's opening can be worth more after one cue than after another, and a register more
 * for one persona than another: a single vector at EOS learnt neither from a few thousand
 * pairs, nor did a bilinear term on the plain mean of the states (docs/rlhf.md). c is taken
 * as given (no gradient into the paralinguistic heads: reward.para_aux trains those).
 *
 * q^T Q g: q, the cue posteriors alone (c's first TRAIN_REWARD_CUE floats); g (d), a linear
 * read of the first TRAIN_REWARD_OPEN_POS reply positions' states in order (G:
 * reward.open.w (d, 16 d), g_b: reward.open.b; zeros past a shorter reply); Q:
 * reward.open.cue.w (TRAIN_REWARD_CUE, d). A mean over positions loses which words the
 * reaction is made of, and pairing it with the persona as well let the pairs' few thousand
 * examples be learnt by heart (docs/rlhf.md). g also feeds the auxiliary loss of
 * rlhf_reward_aux: the cue a chosen reply answers, read off g (A: reward.aux.w, reward.aux.b). */
#include "rlhf/rlhf.h"

#include <math.h>
#include <string.h>

int rlhf_reward_last_pos(const train_batch *b, int row)
{
    int last = 0;
    for (int t = 0; t < b->T; t++)
        if (b->kind[(size_t)row * (size_t)b->T + (size_t)t] != TRAIN_POS_PAD)
            last = t;
    return last;
}

double rlhf_reward_linear(train_model *m, const train_batch *b, int row, int pos)
{
    const size_t d = (size_t)train_model_config(m)->d_model;
    const float *w = train_params_get(train_model_params(m), "reward.w");
    const float *bias = train_params_get(train_model_params(m), "reward.b");
    const float *h = train_model_hidden(m) + ((size_t)row * (size_t)b->T + (size_t)pos) * d;
    double v = bias[0];
    for (size_t k = 0; k < d; k++)
        v += (double)w[k] * h[k];
    return v;
}

/* Scratch of one row: the per-position features (T x d), their gradient (T x d), o (2d)
 * and its gradient (2d); the opening's states side by side (x, 16 d) and their gradient,
 * g (d) and its gradient (d). */
typedef struct scratch {
    float *f, *dz, *x, *dx, *g, *dg;
    double *o, *dout;
} scratch;

static scratch scratch_alloc(size_t T, size_t d)
{
    scratch s;
    const size_t X = TRAIN_REWARD_OPEN_POS * d;
    s.f = core_alloc(2 * T * d + 2 * X + 2 * d, sizeof(float), "reward head");
    s.o = core_alloc(4 * d, sizeof(double), "reward head");
    CORE_ASSERT(s.f != NULL && s.o != NULL);
    s.dz = s.f + T * d;
    s.x = s.dz + T * d;
    s.dx = s.x + X;
    s.g = s.dx + X;
    s.dg = s.g + d;
    s.dout = s.o + 2 * d;
    return s;
}

static void scratch_free(scratch *s)
{
    free(s->f);
    free(s->o);
}

/* Row `row`'s reply: its first position (-1: none) into *first; returns its length. */
static int reply_span(const train_batch *b, int row, int *first)
{
    const size_t T = (size_t)b->T;
    int k = 0;
    *first = -1;
    for (size_t t = 0; t < T; t++)
        if (b->targets[(size_t)row * T + t] >= 0) {
            *first = *first < 0 ? (int)t : *first;
            k++;
        }
    return k;
}

/* x and g of row `row`, whose reply starts at `first` and is k long: g = G x + g_b, x the
 * first 16 reply positions' states over 16 (zero past the reply): the mean of a linear read
 * per position. Unscaled, Adam's first steps on G's 16 d inputs moved g by tens and the
 * scores with it. */
static void open_read(train_model *m, const train_batch *b, int row, int first, int k, scratch *s)
{
    const size_t d = (size_t)train_model_config(m)->d_model;
    const train_params *P = train_model_params(m);
    const int n_x = k < TRAIN_REWARD_OPEN_POS ? k : TRAIN_REWARD_OPEN_POS;
    memset(s->x, 0, TRAIN_REWARD_OPEN_POS * d * sizeof *s->x);
    const float *h0 =
        train_model_hidden(m) + ((size_t)row * (size_t)b->T + (size_t)(first < 0 ? 0 : first)) * d;
    for (size_t i = 0; i < (size_t)n_x * d; i++)
        s->x[i] = h0[i] / (float)TRAIN_REWARD_OPEN_POS;
    train_linear_forward(s->g, s->x, train_params_get(P, "reward.open.w"),
                         train_params_get(P, "reward.open.b"), 1, (int)(TRAIN_REWARD_OPEN_POS * d),
                         (int)d);
}

/* c, the features f and o, x and g of row `row`. Returns the reply's first position; *n_open
 * and *n_all count the positions the two halves of o average (0: no reply). */
static int cond_inputs(train_model *m, const train_batch *b, int row, float *c, scratch *s,
                       int *n_open, int *n_all)
{
    const size_t d = (size_t)train_model_config(m)->d_model, T = (size_t)b->T;
    const train_params *P = train_model_params(m);
    const float *V = train_params_get(P, "reward.feat.w"),
                *a = train_params_get(P, "reward.feat.b");
    const float *pp = train_model_para_probs(m), *hid = train_model_hidden(m);
    for (int k = 0, off = 0, j = 0; k < 4; k++) {
        const int K = train_para_classes[k];
        const float *p = pp + (size_t)b->B * (size_t)off + (size_t)row * (size_t)K;
        for (int i = 0; i < K; i++)
            c[j++] = p[i];
        off += K;
    }
    memcpy(c + TRAIN_REWARD_CUE, b->persona + (size_t)row * TRAIN_PERSONA_DIM,
           TRAIN_PERSONA_DIM * sizeof *c);
    int first;
    const int k = reply_span(b, row, &first);
    memset(s->o, 0, 2 * d * sizeof *s->o);
    if (k) /* F = tanh(H V^T + a) over the reply's k positions (contiguous in the row) */
        train_linear_forward(s->f, hid + ((size_t)row * T + (size_t)first) * d, V, a, k, (int)d,
                             (int)d);
    for (int t = 0; t < k; t++) {
        float *f = s->f + (size_t)t * d;
        for (size_t i = 0; i < d; i++) {
            f[i] = tanhf(f[i]);
            if (t < TRAIN_REWARD_OPENING)
                s->o[i] += f[i];
            s->o[d + i] += f[i];
        }
    }
    open_read(m, b, row, first, k, s);
    *n_open = k < TRAIN_REWARD_OPENING ? k : TRAIN_REWARD_OPENING;
    *n_all = k;
    for (size_t i = 0; i < d && k; i++) {
        s->o[i] /= *n_open;
        s->o[d + i] /= k;
    }
    return first;
}

/* With s->dg set: back through g = G x + g_b into G, g_b and the hidden states of the
 * reply's first positions (row `row`, whose reply starts at `first` and is k long; open_read's
 * arguments). */
static void open_backward(train_model *m, const train_batch *b, int row, int first, int k,
                          scratch *s, float *dhidden)
{
    const size_t d = (size_t)train_model_config(m)->d_model, X = TRAIN_REWARD_OPEN_POS * d;
    const int n = k < TRAIN_REWARD_OPEN_POS ? k : TRAIN_REWARD_OPEN_POS;
    train_params *G = train_model_grads(m);
    memset(s->dx, 0, X * sizeof *s->dx);
    train_linear_backward(
        s->dx, train_params_get(G, "reward.open.w"), train_params_get(G, "reward.open.b"), s->dg,
        s->x, train_params_get(train_model_params(m), "reward.open.w"), 1, (int)X, (int)d);
    float *dh = dhidden + ((size_t)row * (size_t)b->T + (size_t)first) * d;
    for (size_t i = 0; i < (size_t)n * d; i++)
        dh[i] += s->dx[i] / (float)TRAIN_REWARD_OPEN_POS;
}

void rlhf_reward_scores(train_model *m, const train_batch *b, double *out)
{
    const size_t d = (size_t)train_model_config(m)->d_model, d2 = 2 * d;
    const float *U = train_params_get(train_model_params(m), "reward.cond.w");
    const float *Q = train_params_get(train_model_params(m), "reward.open.cue.w");
    scratch s = scratch_alloc((size_t)b->T, d);
    float c[TRAIN_REWARD_COND];
    for (int row = 0; row < b->B; row++) {
        int n_open, n_all;
        out[row] = rlhf_reward_linear(m, b, row, rlhf_reward_last_pos(b, row));
        cond_inputs(m, b, row, c, &s, &n_open, &n_all);
        for (int j = 0; j < TRAIN_REWARD_COND && n_all; j++) {
            double uo = 0;
            for (size_t i = 0; i < d2; i++)
                uo += (double)U[(size_t)j * d2 + i] * s.o[i];
            out[row] += c[j] * uo;
        }
        for (int j = 0; j < TRAIN_REWARD_CUE && n_all; j++) {
            double qg = 0;
            for (size_t i = 0; i < d; i++)
                qg += (double)Q[(size_t)j * d + i] * s.g[i];
            out[row] += c[j] * qg;
        }
    }
    scratch_free(&s);
}

void rlhf_reward_backward(train_model *m, const train_batch *b, const double *g, float *dhidden)
{
    const size_t d = (size_t)train_model_config(m)->d_model, d2 = 2 * d, T = (size_t)b->T;
    train_params *P = train_model_params(m), *G = train_model_grads(m);
    const float *w = train_params_get(P, "reward.w"), *U = train_params_get(P, "reward.cond.w");
    const float *V = train_params_get(P, "reward.feat.w");
    const float *Q = train_params_get(P, "reward.open.cue.w");
    float *gQ = train_params_get(G, "reward.open.cue.w");
    float *gw = train_params_get(G, "reward.w"), *gb = train_params_get(G, "reward.b");
    float *gU = train_params_get(G, "reward.cond.w"), *gV = train_params_get(G, "reward.feat.w");
    float *ga = train_params_get(G, "reward.feat.b");
    const float *hid = train_model_hidden(m);
    scratch s = scratch_alloc(T, d);
    float c[TRAIN_REWARD_COND];
    for (int row = 0; row < b->B; row++) {
        if (g[row] == 0.0)
            continue;
        const size_t at = (size_t)row * T + (size_t)rlhf_reward_last_pos(b, row);
        for (size_t k = 0; k < d; k++) {
            dhidden[at * d + k] += (float)(g[row] * w[k]);
            gw[k] += (float)(g[row] * hid[at * d + k]);
        }
        gb[0] += (float)g[row];
        /* c^T U o: dU = g c o^T and d o = g U^T c; each position's features get their share
         * of d o, then back through tanh and V to V, a and the hidden state. The inputs are
         * recomputed rather than kept from rlhf_reward_scores (a stateless head; the
         * features are one small GEMM per row) */
        int n_open, n_all;
        const int first = cond_inputs(m, b, row, c, &s, &n_open, &n_all);
        if (!n_all)
            continue;
        memset(s.dout, 0, d2 * sizeof *s.dout);
        for (int j = 0; j < TRAIN_REWARD_COND; j++) {
            const double gc = g[row] * c[j];
            for (size_t k = 0; k < d2; k++) {
                gU[(size_t)j * d2 + k] += (float)(gc * s.o[k]);
                s.dout[k] += gc * U[(size_t)j * d2 + k];
            }
        }
        /* dZ = dF (1 - F^2), then the linear layer's backward into V, a and H */
        for (int t = 0; t < n_all; t++) {
            const float *f = s.f + (size_t)t * d;
            float *dz = s.dz + (size_t)t * d;
            for (size_t i = 0; i < d; i++) {
                const double df = (t < n_open ? s.dout[i] / n_open : 0.0) + s.dout[d + i] / n_all;
                dz[i] = (float)(df * (1.0 - (double)f[i] * f[i]));
            }
        }
        const size_t pos = (size_t)row * T + (size_t)first;
        train_linear_backward(dhidden + pos * d, gV, ga, s.dz, hid + pos * d, V, n_all, (int)d,
                              (int)d);
        /* q^T Q g is Q g's dot with q: the linear layer's backward with d(Q g) = g q, then
         * back through G */
        float gq[TRAIN_REWARD_CUE];
        for (int j = 0; j < TRAIN_REWARD_CUE; j++)
            gq[j] = (float)(g[row] * c[j]);
        memset(s.dg, 0, d * sizeof *s.dg);
        train_linear_backward(s.dg, gQ, NULL, gq, s.g, Q, 1, (int)d, TRAIN_REWARD_CUE);
        open_backward(m, b, row, first, n_all, &s, dhidden);
    }
    scratch_free(&s);
}

double rlhf_reward_aux(train_model *m, const train_batch *b, int stride, double weight,
                       float *dhidden)
{
    const size_t d = (size_t)train_model_config(m)->d_model;
    const float *A = train_params_get(train_model_params(m), "reward.aux.w");
    const float *ab = train_params_get(train_model_params(m), "reward.aux.b");
    float *gA = train_params_get(train_model_grads(m), "reward.aux.w");
    float *gab = train_params_get(train_model_grads(m), "reward.aux.b");
    scratch s = scratch_alloc((size_t)b->T, d);
    double loss = 0;
    for (int row = 0; row < b->B; row += stride) {
        const int32_t *lab = b->labels + (size_t)row * TRAIN_N_HEADS_PARA;
        int first;
        const int n_all = reply_span(b, row, &first);
        if (!n_all)
            continue;
        open_read(m, b, row, first, n_all, &s);
        /* z = A g + a_b: one softmax per cue head, cross-entropy against the pair's cue */
        float z[TRAIN_REWARD_CUE], dz[TRAIN_REWARD_CUE] = {0};
        bool any = false;
        train_linear_forward(z, s.g, A, ab, 1, (int)d, TRAIN_REWARD_CUE);
        for (int k = 0, off = 0; k < 4; off += train_para_classes[k], k++) {
            const int K = train_para_classes[k], y = lab[k];
            if (y < 0 || y >= K)
                continue;
            double mx = z[off], sum = 0;
            for (int i = 1; i < K; i++)
                mx = fmax(mx, z[off + i]);
            for (int i = 0; i < K; i++)
                sum += exp(z[off + i] - mx);
            loss += mx + log(sum) - z[off + y];
            for (int i = 0; i < K; i++)
                dz[off + i] = (float)(weight * (exp(z[off + i] - mx) / sum - (i == y)));
            any = true;
        }
        if (!dhidden || !any)
            continue;
        memset(s.dg, 0, d * sizeof *s.dg);
        train_linear_backward(s.dg, gA, gab, dz, s.g, A, 1, (int)d, TRAIN_REWARD_CUE);
        open_backward(m, b, row, first, n_all, &s, dhidden);
    }
    scratch_free(&s);
    return loss;
}
