/* The reward model's head on the final hidden states of a train_model's last forward
 * (docs/rlhf.md, "The reward model"):
 *
 *   score = w . h_EOS + b  +  c^T U o
 *
 * w, b (reward.w, reward.b): a linear term on the reply's last position. The conditioned
 * term reads c, what the reply should answer to: the model's own posteriors of the user's
 * cue (its emotion, laughter, hesitation and speed heads on the audio, TRAIN_REWARD_CUE
 * floats) and the persona's features (TRAIN_PERSONA_DIM); and o, what the reply is: the mean
 * final hidden state over its opening (the first TRAIN_REWARD_OPENING positions from BOS,
 * where a reaction to the cue stands) and over all of it (d floats each). U (reward.cond.w,
 * TRAIN_REWARD_COND x 2d) scores their pairing, so a reply's opening can be worth more
 * after one cue than after another, and a register more for one persona than another: a
 * single vector at EOS learnt neither from a few thousand pairs (docs/rlhf.md). c is taken
 * as given (no gradient into the paralinguistic heads: reward.para_aux trains those). */
#include "rlhf/rlhf.h"

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

/* c and o of row `row` (o: 2d doubles). Returns the reply's first position; *n_open and
 * *n_all count the positions the two halves of o average (0: no reply). */
static int cond_inputs(train_model *m, const train_batch *b, int row, float *c, double *o,
                       int *n_open, int *n_all)
{
    const size_t d = (size_t)train_model_config(m)->d_model, T = (size_t)b->T;
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
    memset(o, 0, 2 * d * sizeof *o);
    for (int t = 0; t < k; t++) {
        const float *h = hid + ((size_t)row * T + (size_t)(first + t)) * d;
        for (size_t i = 0; i < d; i++) {
            if (t < TRAIN_REWARD_OPENING)
                o[i] += h[i];
            o[d + i] += h[i];
        }
    }
    *n_open = k < TRAIN_REWARD_OPENING ? k : TRAIN_REWARD_OPENING;
    *n_all = k;
    for (size_t i = 0; i < d && k; i++) {
        o[i] /= *n_open;
        o[d + i] /= k;
    }
    return first;
}

void rlhf_reward_scores(train_model *m, const train_batch *b, double *s)
{
    const size_t d2 = 2 * (size_t)train_model_config(m)->d_model;
    const float *U = train_params_get(train_model_params(m), "reward.cond.w");
    double *o = core_alloc(d2, sizeof *o, "reward head");
    CORE_ASSERT(o != NULL);
    float c[TRAIN_REWARD_COND];
    for (int row = 0; row < b->B; row++) {
        int n_open, n_all;
        s[row] = rlhf_reward_linear(m, b, row, rlhf_reward_last_pos(b, row));
        cond_inputs(m, b, row, c, o, &n_open, &n_all);
        for (int j = 0; j < TRAIN_REWARD_COND && n_all; j++) {
            double uo = 0;
            for (size_t i = 0; i < d2; i++)
                uo += (double)U[(size_t)j * d2 + i] * o[i];
            s[row] += c[j] * uo;
        }
    }
    free(o);
}

void rlhf_reward_backward(train_model *m, const train_batch *b, const double *g, float *dhidden)
{
    const size_t d = (size_t)train_model_config(m)->d_model, d2 = 2 * d, T = (size_t)b->T;
    train_params *P = train_model_params(m), *G = train_model_grads(m);
    const float *w = train_params_get(P, "reward.w"), *U = train_params_get(P, "reward.cond.w");
    float *gw = train_params_get(G, "reward.w"), *gb = train_params_get(G, "reward.b");
    float *gU = train_params_get(G, "reward.cond.w");
    const float *hid = train_model_hidden(m);
    double *o = core_alloc(2 * d2, sizeof *o, "reward head"), *dout = o + d2;
    CORE_ASSERT(o != NULL);
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
        /* c^T U o: dU = g c o^T, and d o = g U^T c, spread evenly over the positions each
         * half of o averages */
        int n_open, n_all;
        const int first = cond_inputs(m, b, row, c, o, &n_open, &n_all);
        if (!n_all)
            continue;
        memset(dout, 0, d2 * sizeof *dout);
        for (int j = 0; j < TRAIN_REWARD_COND; j++) {
            const double gc = g[row] * c[j];
            for (size_t k = 0; k < d2; k++) {
                gU[(size_t)j * d2 + k] += (float)(gc * o[k]);
                dout[k] += gc * U[(size_t)j * d2 + k];
            }
        }
        for (int t = 0; t < n_all; t++) {
            float *dh = dhidden + ((size_t)row * T + (size_t)(first + t)) * d;
            for (size_t k = 0; k < d; k++)
                dh[k] += (float)((t < n_open ? dout[k] / n_open : 0.0) + dout[d + k] / n_all);
        }
    }
    free(o);
}
