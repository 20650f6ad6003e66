/* bench: data-parallel training steps under mpirun (or alone), one BLAS thread per rank.
 * Usage: dist_step MODEL_YAML B T ACCUMULATE STEPS BUCKET_MB
 * A step is ACCUMULATE micro-batches of B x T split over the ranks, the gradient exchange
 * (bucketed non-blocking all-reduce started from the backward) and AdamW. Prints "key value"
 * lines from rank 0: step time and tokens/s, the exchange's time in flight and the part of it
 * the step waited for, the same exchange alone (no compute), and a raw bucketed and a single
 * MPI_Allreduce of the same bytes measured in the same run; bench/dist.sh compares. */
#include "train/train.h"
#include "bench/bench_batch.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: dist_step MODEL_YAML B T ACCUMULATE STEPS BUCKET_MB\n");
        return 2;
    }
    if (train_dist_init(&argc, &argv) != CORE_OK) {
        fprintf(stderr, "dist_step: %s\n", core_error_message());
        return 2;
    }
    const int B = atoi(argv[2]), T = atoi(argv[3]), acc = atoi(argv[4]), steps = atoi(argv[5]);
    const double bucket_mb = atof(argv[6]);
    const int rank = train_dist_rank(), size = train_dist_size();
    if (acc % size) {
        fprintf(stderr, "dist_step: ACCUMULATE must be a multiple of the ranks\n");
        train_dist_abort(2);
    }
    openblas_set_num_threads(1);
    train_model_cfg mc;
    train_model *m;
    if (core_cfg_load(&train_model_schema, argv[1], NULL, 0, &mc) != CORE_OK ||
        train_model_create(&mc, B, &m) != CORE_OK) {
        fprintf(stderr, "dist_step: %s\n", core_error_message());
        train_dist_abort(2);
    }
    train_model_init(m, 1);
    train_params *params = train_model_params(m), *grads = train_model_grads(m);
    train_adamw opt;
    train_adamw_init(&opt, params);
    train_adamw_cfg ac = {0.9, 0.95, 1e-8, 0.1};
    train_dist_cfg dc = {bucket_mb, false, false, 600};
    train_sync *sync;
    if (train_sync_create(&dc, grads, &sync) != CORE_OK) {
        fprintf(stderr, "dist_step: %s\n", core_error_message());
        train_dist_abort(2);
    }
    train_model_set_grad_hook(m, train_sync_hook, sync);
    const int local = acc / size;
    train_batch b = bench_batch(B, T, (int)mc.stack, 1 + (uint64_t)rank);
    double *times = malloc((size_t)steps * sizeof *times);
    double backward = 0;
    double wait0 = 0, comm0 = 0;
    for (int s = -1; s < steps; s++) { /* one warm-up step */
        if (s == 0)
            train_sync_times(sync, &wait0, &comm0);
        train_dist_barrier();
        double t0 = core_now();
        train_model_zero_grad(m);
        for (int a = 0; a < local; a++) {
            train_model_forward(m, &b);
            if (a == local - 1)
                train_sync_arm(sync, s + 2);
            double tb = core_now();
            train_model_backward(m, &b);
            if (s >= 0 && a == local - 1)
                backward += core_now() - tb;
        }
        if (train_sync_finish(sync) != CORE_OK) {
            fprintf(stderr, "dist_step: %s\n", core_error_message());
            train_dist_abort(1);
        }
        train_grad_scale(grads, 1.0f / (float)acc);
        train_adamw_step(&opt, params, grads, 1e-4, &ac);
        if (s >= 0)
            times[s] = core_now() - t0;
    }
    double wait, comm;
    train_sync_times(sync, &wait, &comm);
    wait = (wait - wait0) / steps;
    comm = (comm - comm0) / steps;
    backward /= steps;
    qsort(times, (size_t)steps, sizeof *times, cmp_d);
    double med = times[steps / 2];
    /* The exchange alone: every range complete at once, no compute to hide behind. */
    double alone = 1e30;
    for (int r = 0; r < 5 && size > 1; r++) {
        train_dist_barrier();
        double w0, c0, w1, c1;
        train_sync_times(sync, &w0, &c0);
        train_sync_arm(sync, 1000 + r);
        train_sync_hook(sync, 0, grads->count);
        train_sync_finish(sync);
        train_sync_times(sync, &w1, &c1);
        if (c1 - c0 < alone)
            alone = c1 - c0;
    }
    double raw_b, raw_s, lat;
    float *x = calloc(grads->count, sizeof *x);
    train_dist_bench_raw(x, grads->count, bucket_mb, 5, &raw_b, &raw_s, &lat);
    if (rank == 0) {
        printf("ranks %d\n", size);
        printf("comm_thread %d\n", train_sync_threaded(sync));
        printf("params %zu\n", params->count);
        printf("grad_mb %.2f\n", (double)grads->count * 4 / 1048576.0);
        printf("step_ms %.1f\n", med * 1e3);
        printf("tokens_per_s %.0f\n", (double)acc * B * T / med);
        printf("backward_ms %.1f\n", backward * 1e3);
        printf("exchange_in_flight_ms %.2f\n", comm * 1e3);
        printf("exchange_waited_ms %.2f\n", wait * 1e3);
        if (size > 1) {
            printf("exchange_alone_ms %.2f\n", alone * 1e3);
            printf("raw_bucketed_allreduce_ms %.2f\n", raw_b * 1e3);
            printf("raw_single_allreduce_ms %.2f\n", raw_s * 1e3);
            printf("allreduce_latency_us %.1f\n", lat * 1e6);
        }
    }
    free(x);
    free(times);
    bench_batch_free(&b);
    train_sync_free(sync);
    train_adamw_free(&opt);
    train_model_free(m);
    core_cfg_free(&train_model_schema, &mc);
    train_dist_finalize();
    return 0;
}
