/* Optimisation: AdamW with decoupled weight decay, the global gradient norm and scaling, and
 * the learning-rate schedule (linear warmup, cosine decay).
 *
 * train_adamw_step follows torch.optim.AdamW (torch 1.13, the single-tensor path) operation
 * by operation in float32, with the scalars (decay factor, bias corrections) computed in
 * double and rounded once, as PyTorch does; tests/test_train_optim.c checks ten steps against
 * a fixture written by torch itself (scripts/make_adamw_fixture.py). */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

core_status train_adamw_init(train_adamw *o, const train_params *params)
{
    memset(o, 0, sizeof *o);
    train_param_spec *specs =
        core_alloc(params->n_views ? params->n_views : 1, sizeof *specs, "AdamW moment layout");
    if (!specs)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < params->n_views; i++) {
        const train_param_view *v = &params->views[i];
        specs[i].name = v->name;
        specs[i].rank = v->rank;
        memcpy(specs[i].shape, v->shape, sizeof specs[i].shape);
    }
    core_status st = train_params_init(&o->m, specs, params->n_views);
    if (st == CORE_OK)
        st = train_params_init(&o->v, specs, params->n_views);
    free(specs);
    if (st != CORE_OK) {
        core_error_prefix("AdamW moments");
        train_adamw_free(o);
    }
    return st;
}

void train_adamw_free(train_adamw *o)
{
    if (!o)
        return;
    train_params_free(&o->m);
    train_params_free(&o->v);
    o->step = 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

bool train_adamw_decays(const char *name)
{
    return !strstr(name, "ln") && !ends_with(name, ".b") && strncmp(name, "wte", 3) != 0 &&
           strncmp(name, "wpe", 3) != 0;
}

/* reference: Loshchilov & Hutter 2019, Algorithm 2, as torch.optim.AdamW computes it:
 *   p <- p * (1 - lr wd)                        (decoupled decay, before the update)
 *   m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  t from 1. */
void train_adamw_update(const train_params *layout, float *p, const float *g, float *m, float *v,
                        size_t lo, size_t hi, int64_t t_step, double lr, const train_adamw_cfg *cfg)
{
    const double t = (double)t_step;
    const float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2;
    const float a1 = (float)(1.0 - cfg->beta1), a2 = (float)(1.0 - cfg->beta2);
    const float bc2_sqrt = (float)sqrt(1.0 - pow(cfg->beta2, t));
    const float neg_step_size = (float)(-(lr / (1.0 - pow(cfg->beta1, t))));
    const float eps = (float)cfg->eps;
    const float decay = (float)(1.0 - lr * cfg->weight_decay);
    for (size_t k = 0; k < layout->n_views; k++) {
        const train_param_view *pv = &layout->views[k];
        size_t a = pv->offset > lo ? pv->offset : lo;
        size_t e = pv->offset + pv->count < hi ? pv->offset + pv->count : hi;
        if (a >= e)
            continue;
        const bool wd = cfg->weight_decay != 0.0 && train_adamw_decays(pv->name);
        for (size_t i = a - lo; i < e - lo; i++) {
            float pi = wd ? p[i] * decay : p[i];
            m[i] = m[i] * b1 + a1 * g[i];
            v[i] = v[i] * b2 + a2 * g[i] * g[i];
            float denom = sqrtf(v[i]) / bc2_sqrt + eps;
            p[i] = pi + neg_step_size * m[i] / denom;
        }
    }
}

void train_adamw_step(train_adamw *o, train_params *params, const train_params *grads, double lr,
                      const train_adamw_cfg *cfg)
{
    CORE_ASSERT(params->count == grads->count && params->count == o->m.count &&
                params->count == o->v.count && params->n_views == o->m.n_views);
    o->step++;
    train_adamw_update(params, params->data, grads->data, o->m.data, o->v.data, 0, params->count,
                       o->step, lr, cfg);
}

double train_grad_norm(const train_params *grads)
{
    double sum = 0.0;
    for (size_t k = 0; k < grads->n_views; k++) {
        const float *g = grads->data + grads->views[k].offset;
        for (size_t i = 0; i < grads->views[k].count; i++)
            sum += (double)g[i] * (double)g[i];
    }
    return sqrt(sum);
}

void train_grad_scale(train_params *grads, float s)
{
    for (size_t k = 0; k < grads->n_views; k++) {
        float *g = grads->data + grads->views[k].offset;
        for (size_t i = 0; i < grads->views[k].count; i++)
            g[i] *= s;
    }
}

/* Step `step` counts from 0: warmup steps 0..warmup-1 take lr_max (step + 1) / warmup, so
 * the first step already moves and the last warmup step reaches lr_max; then
 * lr_min + (lr_max - lr_min) (1 + cos(pi (step - warmup) / (total - warmup))) / 2 until
 * `total`, and lr_min from there on. */
double train_lr_at(int64_t step, int64_t warmup, int64_t total, double lr_max, double lr_min)
{
    if (step < warmup)
        return lr_max * (double)(step + 1) / (double)warmup;
    if (step >= total)
        return lr_min;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * progress));
}
