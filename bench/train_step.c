/* bench: one training step (forward, backward, AdamW) of a model size at B x T, ours, and the
 * sgemm rate of this machine in the same run. Usage: train_step MODEL_YAML B T STEPS
 * Prints "key value" lines; bench/train.sh puts them beside PyTorch's. */
#include "train/train.h"
#include "bench/bench_batch.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: train_step MODEL_YAML B T STEPS\n");
        return 2;
    }
    int B = atoi(argv[2]), T = atoi(argv[3]), steps = atoi(argv[4]);
    train_model_cfg mc;
    if (core_cfg_load(&train_model_schema, argv[1], NULL, 0, &mc) != CORE_OK) {
        fprintf(stderr, "train_step: %s\n", core_error_message());
        return 2;
    }
    train_model *m;
    if (train_model_create(&mc, B, &m) != CORE_OK) {
        fprintf(stderr, "train_step: %s\n", core_error_message());
        return 2;
    }
    train_model_init(m, 1);
    train_adamw opt;
    train_adamw_init(&opt, train_model_params(m));
    train_adamw_cfg ac = {0.9, 0.95, 1e-8, 0.1};
    /* a batch laid out like the loader's (bench/bench_batch.h) */
    train_batch b = bench_batch(B, T, (int)mc.stack, 1);
    double *times = malloc((size_t)steps * sizeof *times);
    for (int s = -1; s < steps; s++) { /* one warm-up step */
        double t0 = core_now();
        train_model_zero_grad(m);
        train_model_forward(m, &b);
        train_model_backward(m, &b);
        train_adamw_step(&opt, train_model_params(m), train_model_grads(m), 1e-4, &ac);
        if (s >= 0)
            times[s] = core_now() - t0;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_d);
    double med = times[steps / 2];
    size_t nparams = train_model_params(m)->count;
    /* FLOPs of a step: 6 x parameters in matmuls x tokens, plus attention's 12 L T^2 d per
     * sequence (forward 4 L T^2 d, backward twice that); embeddings and heads counted in
     * the LM head's 6 V d per token. */
    double d = (double)mc.d_model, L = (double)mc.n_layers, tok = (double)B * T;
    const double F = (double)mc.stack * TRAIN_N_MELS;
    double matmul = 12 * L * d * d + (double)TRAIN_VOCAB * d + d * F;
    double flops = 6 * matmul * tok + 12 * L * (double)T * T * d * B;
    /* sgemm rate in the same run, a size like the model's MLP: the median of 21 calls, to
     * set beside the median step (the fastest call is printed too: bursts of a shared
     * machine's clock make it 10-30% above the median) */
    int M = B * T < 4096 ? B * T : 4096, K = (int)d, N = 4 * (int)d;
    float *A = calloc((size_t)M * K, sizeof(float)), *Bm = calloc((size_t)K * N, sizeof(float)),
          *C = calloc((size_t)M * N, sizeof(float));
    enum { REPS = 21 };
    double gemm_t[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = core_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, Bm, N, 0.0f,
                    C, N);
        gemm_t[rep] = core_now() - t0;
    }
    qsort(gemm_t, REPS, sizeof *gemm_t, cmp_d);
    double sgemm = 2.0 * M * N * K / gemm_t[REPS / 2], sgemm_best = 2.0 * M * N * K / gemm_t[0];
    /* Where the time goes: each layer alone at the model's shapes, forward + backward, times
     * the number of times a step calls it (6 blocks), measured in this run. */
    {
        const int Nt = B * T, Cd = (int)mc.d_model, NH = (int)mc.n_heads, Lr = (int)mc.n_layers;
        size_t big = (size_t)Nt * 4 * Cd;
        float *x = calloc(big, sizeof(float)), *y = calloc(big, sizeof(float)),
              *g = calloc(big, sizeof(float)), *dx = calloc(big, sizeof(float));
        float *w = calloc((size_t)4 * Cd * Cd + (size_t)TRAIN_VOCAB * Cd, sizeof(float)),
              *dw = calloc((size_t)4 * Cd * Cd + (size_t)TRAIN_VOCAB * Cd, sizeof(float));
        float *bias = calloc((size_t)4 * Cd, sizeof(float)), *db = calloc((size_t)4 * Cd, sizeof(float));
        float *mean = calloc((size_t)Nt, sizeof(float)), *rstd = calloc((size_t)Nt, sizeof(float));
        size_t att_n = (size_t)B * NH * T * T;
        float *att = calloc(att_n, sizeof(float));
        float *logits = calloc((size_t)Nt * TRAIN_VOCAB, sizeof(float)),
              *probs = calloc((size_t)Nt * TRAIN_VOCAB, sizeof(float)),
              *losses = calloc((size_t)Nt, sizeof(float)), *dl = calloc((size_t)Nt, sizeof(float));
        for (size_t i = 0; i < big; i++)
            x[i] = (float)(i % 97) / 97.0f - 0.5f;
        for (int i = 0; i < Nt; i++)
            dl[i] = 1.0f / (float)Nt;
        double t, part[6] = {0};
        const char *names[6] = {"linear (qkv, proj, fc, mlp proj)", "attention", "layernorm",
                                "gelu + residual", "LM head + cross-entropy", "total of parts"};
/* run once first: fresh buffers fault their pages in on first touch, which a step does not pay */
#define TIME(slot, times, expr)                                                             \
    do {                                                                                   \
        expr;                                                                              \
        t = core_now();                                                                    \
        expr;                                                                              \
        part[slot] += (core_now() - t) * (times);                                          \
    } while (0)
        TIME(0, Lr, train_linear_forward(y, x, w, bias, Nt, Cd, 3 * Cd));
        TIME(0, Lr, train_linear_backward(dx, dw, db, g, x, w, Nt, Cd, 3 * Cd));
        TIME(0, Lr, train_linear_forward(y, x, w, bias, Nt, Cd, Cd));
        TIME(0, Lr, train_linear_backward(dx, dw, db, g, x, w, Nt, Cd, Cd));
        TIME(0, Lr, train_linear_forward(y, x, w, bias, Nt, Cd, 4 * Cd));
        TIME(0, Lr, train_linear_backward(dx, dw, db, g, x, w, Nt, Cd, 4 * Cd));
        TIME(0, Lr, train_linear_forward(y, x, w, bias, Nt, 4 * Cd, Cd));
        TIME(0, Lr, train_linear_backward(dx, dw, db, g, x, w, Nt, 4 * Cd, Cd));
        /* as the model calls them: the scores in per-thread scratch */
        TIME(1, Lr, train_attention_forward(y, NULL, att, x, NULL, B, T, Cd, NH));
        TIME(1, Lr, train_attention_backward(dx, NULL, NULL, g, x, att, NULL, B, T, Cd, NH));
        TIME(2, 2 * Lr + 1, train_layernorm_forward(y, mean, rstd, x, w, bias, Nt, Cd));
        TIME(2, 2 * Lr + 1, train_layernorm_backward(dx, dw, db, g, x, w, mean, rstd, Nt, Cd));
        TIME(3, Lr, train_gelu_forward(y, x, (size_t)Nt * 4 * Cd));
        TIME(3, Lr, train_gelu_backward(dx, x, g, (size_t)Nt * 4 * Cd));
        TIME(3, 2 * Lr, train_residual_forward(y, x, g, (size_t)Nt * Cd));
        TIME(3, 2 * Lr, train_residual_backward(dx, y, g, (size_t)Nt * Cd)); /* dw is too small */
        TIME(4, 1, train_linear_forward(logits, x, w, NULL, Nt, Cd, TRAIN_VOCAB));
        TIME(4, 1, train_softmax_xent_forward(losses, probs, logits, b.targets, Nt, TRAIN_VOCAB));
        TIME(4, 1, train_softmax_xent_backward(g, probs, b.targets, dl, Nt, TRAIN_VOCAB));
        TIME(4, 1, train_linear_backward(dx, dw, NULL, g, x, w, Nt, Cd, TRAIN_VOCAB));
#undef TIME
        for (int k = 0; k < 5; k++)
            part[5] += part[k];
        for (int k = 0; k < 6; k++)
            printf("part %-34s %8.1f ms %5.1f%%\n", names[k], part[k] * 1e3,
                   100 * part[k] / med);
        free(x); free(y); free(g); free(dx); free(w); free(dw); free(bias); free(db);
        free(mean); free(rstd); free(att);
        free(logits); free(probs); free(losses); free(dl);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("params %zu\nstep_ms %.1f\ntokens_per_s %.0f\nachieved_gflops %.2f\n"
           "sgemm_gflops %.2f\nfraction_of_sgemm %.3f\nsgemm_best_gflops %.2f\n"
           "fraction_of_best_sgemm %.3f\npeak_rss_mb %ld\n",
           nparams, med * 1e3, tok / med, flops / med / 1e9, sgemm / 1e9, flops / med / sgemm,
           sgemm_best / 1e9, flops / med / sgemm_best, ru.ru_maxrss / 1024);
    return 0;
}
