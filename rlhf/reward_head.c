/* The reward model's head on the final hidden states of a train_model's last forward
 * (docs/rlhf.md, "The reward model"):
 *
 *   score = w . h_EOS + b  +  c^T U o,   o = [mean_{t < 24} f_t ; mean_t f_t],
 *   f_t = tanh(V h_t + a) at each reply position t (BOS on)
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
 * as given (no gradient into the paralinguistic heads: reward.para_aux trains those). */
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
 * and its gradient (2d). */
typedef struct scratch {
    float *f, *dz;
    double *o, *dout;
} scratch;

static scratch scratch_alloc(size_t T, size_t d)
{
    scratch s;
    s.f = core_alloc(2 * T * d, sizeof(float), "reward head");
    s.o = core_alloc(4 * d, sizeof(double), "reward head");
    CORE_ASSERT(s.f != NULL && s.o != NULL);
    s.dz = s.f + T * d;
    s.dout = s.o + 2 * d;
    return s;
}

static void scratch_free(scratch *s)
{
    free(s->f);
    free(s->o);
}

/* c, the features f and o of row `row`. Returns the reply's first position; *n_open and
 * *n_all count the positions the two halves of o average (0: no reply). */
static int cond_inputs(train_model *m, const train_batch *b, int row, float *c, scratch *s,
                       int *n_open, int *n_all)
{
    const size_t d = (size_t)train_model_config(m)->d_model, T = (size_t)b->T;
    const train_params *P = train_model_params(m);
    const float *V = train_params_get(P, "reward.feat.w"), *a = train_params_get(P, "reward.feat.b");
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
    int first = -1, k = 0;
    for (size_t t = 0; t < T; t++)
        if (b->targets[(size_t)row * T + t] >= 0) {
            first = first < 0 ? (int)t : first;
            k++;
        }
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
    *n_open = k < TRAIN_REWARD_OPENING ? k : TRAIN_REWARD_OPENING;
    *n_all = k;
    for (size_t i = 0; i < d && k; i++) {
        s->o[i] /= *n_open;
        s->o[d + i] /= k;
    }
    return first;
}

void rlhf_reward_scores(train_model *m, const train_batch *b, double *out)
{
    const size_t d = (size_t)train_model_config(m)->d_model, d2 = 2 * d;
    const float *U = train_params_get(train_model_params(m), "reward.cond.w");
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
    }
    scratch_free(&s);
}

void rlhf_reward_backward(train_model *m, const train_batch *b, const double *g, float *dhidden)
{
    const size_t d = (size_t)train_model_config(m)->d_model, d2 = 2 * d, T = (size_t)b->T;
    train_params *P = train_model_params(m), *G = train_model_grads(m);
    const float *w = train_params_get(P, "reward.w"), *U = train_params_get(P, "reward.cond.w");
    const float *V = train_params_get(P, "reward.feat.w");
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
    }
    scratch_free(&s);
}
