/* The metrics of docs/eval.md: accuracy, macro-F1, quantiles, bootstrap intervals. */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double eval_accuracy(const int32_t *truth, const int32_t *pred, size_t n)
{
    if (n == 0)
        return 0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += truth[i] == pred[i];
    return (double)ok / (double)n;
}

double eval_macro_f1(const int32_t *truth, const int32_t *pred, size_t n, int k)
{
    if (n == 0 || k <= 0)
        return 0;
    uint64_t *tp = calloc((size_t)k * 3, sizeof *tp);
    if (!tp)
        return NAN;
    uint64_t *fp = tp + k, *fn = tp + 2 * k;
    for (size_t i = 0; i < n; i++) {
        int t = truth[i], p = pred[i];
        if (t == p && t >= 0 && t < k)
            tp[t]++;
        else {
            if (p >= 0 && p < k)
                fp[p]++;
            if (t >= 0 && t < k)
                fn[t]++;
        }
    }
    double sum = 0;
    int classes = 0;
    for (int c = 0; c < k; c++) {
        uint64_t d = 2 * tp[c] + fp[c] + fn[c];
        if (d == 0)
            continue; /* neither in the truth nor predicted */
        sum += 2.0 * (double)tp[c] / (double)d;
        classes++;
    }
    free(tp);
    return classes ? sum / classes : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double eval_quantile(const double *x, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double v = s[lo] + (pos - (double)lo) * (s[hi] - s[lo]);
    free(s);
    return v;
}

eval_ci eval_bootstrap_mean(const double *x, size_t n, int B, double level, uint64_t seed,
                            const char *purpose)
{
    eval_ci ci = {NAN, NAN, NAN};
    if (n == 0)
        return ci;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    ci.value = sum / (double)n;
    if (B <= 0)
        return ci;
    double *means = malloc((size_t)B * sizeof *means);
    if (!means)
        return ci;
    core_rng r;
    core_rng_init(&r, seed, purpose);
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += x[core_rng_below(&r, n)];
        means[b] = s / (double)n;
    }
    double a = (1 - level) / 2;
    ci.lo = eval_quantile(means, (size_t)B, a);
    ci.hi = eval_quantile(means, (size_t)B, 1 - a);
    free(means);
    return ci;
}
