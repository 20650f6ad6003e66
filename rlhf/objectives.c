/* The RLHF objectives as functions of log-probabilities and scores, with their gradients:
 * Bradley-Terry reward loss, DPO (sigmoid, ipo, hinge) and the GRPO per-token loss, written
 * after TRL's RewardTrainer, DPOTrainer and GRPOTrainer (same formulas, same metric names;
 * docs/rlhf.md). tests/test_rlhf_objectives.c checks them against finite differences and a
 * fixture written by PyTorch (scripts/make_rlhf_fixture.py). */
#include "rlhf/rlhf.h"

#include <math.h>
#include <string.h>

/* log(sigmoid(x)) without overflow, and its derivative sigmoid(-x) */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }
static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

int rlhf_dpo_loss_parse(const char *name)
{
    static const char *const names[] = {"sigmoid", "ipo", "hinge"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i]))
            return i;
    return -1;
}

double rlhf_dpo(int type, double beta, double label_smoothing, double pc, double pr, double rc,
                double rr, double *dpc, double *dpr)
{
    /* logits = (pi_c - pi_r) - (ref_c - ref_r) */
    const double logits = (pc - pr) - (rc - rr);
    double loss, dlogits;
    switch (type) {
    case RLHF_DPO_IPO: {
        /* (logits - 1 / (2 beta))^2: IPO (Azar et al. 2023), as TRL writes it */
        double e = logits - 1.0 / (2.0 * beta);
        loss = e * e;
        dlogits = 2.0 * e;
        break;
    }
    case RLHF_DPO_HINGE: {
        /* relu(1 - beta logits) (SLiC) */
        double h = 1.0 - beta * logits;
        loss = h > 0 ? h : 0;
        dlogits = h > 0 ? -beta : 0;
        break;
    }
    default: {
        /* -(1 - eps) log sigma(beta logits) - eps log sigma(-beta logits) (conservative DPO) */
        double z = beta * logits, eps = label_smoothing;
        loss = -(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z);
        dlogits = beta * (-(1.0 - eps) * sigmoid(-z) + eps * sigmoid(z));
        break;
    }
    }
    if (dpc)
        *dpc = dlogits;
    if (dpr)
        *dpr = -dlogits;
    return loss;
}

double rlhf_bradley_terry(double sc, double sr, double margin, double center, double *dsc,
                          double *dsr)
{
    /* -log sigma(s_c - s_r - margin) + center (s_c + s_r)^2 */
    double x = sc - sr - margin;
    double loss = -log_sigmoid(x) + center * (sc + sr) * (sc + sr);
    double g = -sigmoid(-x), gc = 2.0 * center * (sc + sr);
    if (dsc)
        *dsc = g + gc;
    if (dsr)
        *dsr = -g + gc;
    return loss;
}

void rlhf_group_advantages(const double *reward, int G, bool scale, double *adv, double *std_out)
{
    double mean = 0, var = 0;
    for (int i = 0; i < G; i++)
        mean += reward[i];
    mean /= G;
    for (int i = 0; i < G; i++)
        var += (reward[i] - mean) * (reward[i] - mean);
    /* torch.std: the unbiased estimate, as TRL uses */
    double std = G > 1 ? sqrt(var / (G - 1)) : 0;
    for (int i = 0; i < G; i++)
        adv[i] = scale ? (reward[i] - mean) / (std + 1e-4) : reward[i] - mean;
    if (std_out)
        *std_out = std;
}

double rlhf_grpo_token(double logp, double logp_old, double logp_ref, double adv, double eps_low,
                       double eps_high, double beta, double *dlogp, bool *clipped, double *kl)
{
    /* -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) + beta k3, r = exp(logp - logp_old) */
    double r = exp(logp - logp_old);
    double rc = r < 1.0 - eps_low ? 1.0 - eps_low : r > 1.0 + eps_high ? 1.0 + eps_high : r;
    double l1 = r * adv, l2 = rc * adv;
    double loss, g;
    if (l1 <= l2) { /* the unclipped term is the minimum */
        loss = -l1;
        g = -l1; /* d(r A)/dlogp = r A */
        if (clipped)
            *clipped = false;
    } else {
        loss = -l2;
        g = rc == r ? -l1 : 0.0; /* clamped: no gradient through the ratio */
        if (clipped)
            *clipped = rc != r;
    }
    /* k3 = exp(ref - logp) - (ref - logp) - 1 >= 0 (Schulman's estimator of KL(pi || ref)) */
    double dref = logp_ref - logp;
    double k3 = exp(dref) - dref - 1.0;
    if (kl)
        *kl = k3;
    loss += beta * k3;
    g += beta * (1.0 - exp(dref));
    if (dlogp)
        *dlogp = g;
    return loss;
}
