/* bench: cosine top-k over a persona matrix (ours), with the memory bandwidth of the same
 * machine for context. Usage: persona_knn FILE [ROWS] [QUERIES] [K]
 * Prints one "key value" per line; bench/persona.sh puts it beside numpy's figure. */
#include "persona/persona.h"

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
    if (argc < 2) {
        fprintf(stderr, "usage: persona_knn FILE [ROWS] [QUERIES] [K]\n");
        return 2;
    }
    uint64_t rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    int nq = argc > 3 ? atoi(argv[3]) : 20, k = argc > 4 ? atoi(argv[4]) : 10;
    persona_matrix m;
    double t0 = core_now();
    if (persona_matrix_load(argv[1], true, &m) != CORE_OK) {
        fprintf(stderr, "persona_knn: %s\n", core_error_message());
        return 2;
    }
    printf("load_s %.3f\n", core_now() - t0);
    if (m.n < rows) {
        fprintf(stderr, "persona_knn: %s has %llu rows, fewer than %llu\n", argv[1],
                (unsigned long long)m.n, (unsigned long long)rows);
        return 2;
    }
    m.n = rows; /* the first ROWS rows, like the numpy peer */
    printf("rows %llu\nfeatures %d\n", (unsigned long long)m.n, m.d);

    /* Read bandwidth: one pass summing the matrix, the least any exact scan must do. */
    size_t nf = (size_t)m.n * (size_t)m.d;
    double best = 1e9, sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        t0 = core_now();
        float acc[8] = {0};
        for (size_t i = 0; i + 8 <= nf; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += m.features[i + j];
        double dt = core_now() - t0;
        for (int j = 0; j < 8; j++)
            sink += acc[j];
        if (dt < best)
            best = dt;
    }
    printf("scan_one_thread_ms %.1f\nscan_gb_per_s %.2f\n", best * 1e3,
           (double)nf * 4 / best / 1e9);

    uint64_t *idx = malloc((size_t)nq * (size_t)k * sizeof *idx);
    float *sim = malloc((size_t)nq * (size_t)k * sizeof *sim);
    uint64_t *q = malloc((size_t)nq * sizeof *q);
    double *times = malloc((size_t)nq * sizeof *times);
    for (int i = 0; i < nq; i++)
        q[i] = (uint64_t)i * (m.n / (uint64_t)nq);
    persona_similar(&m, q, 1, k, idx, sim); /* warm-up: OpenBLAS threads, page faults */
    for (int i = 0; i < nq; i++) {
        t0 = core_now();
        persona_similar(&m, &q[i], 1, k, idx, sim);
        times[i] = core_now() - t0;
    }
    qsort(times, (size_t)nq, sizeof *times, cmp_d);
    printf("query_median_ms %.2f\nquery_p95_ms %.2f\n", times[nq / 2] * 1e3,
           times[(nq * 95) / 100 < nq ? (nq * 95) / 100 : nq - 1] * 1e3);
    t0 = core_now();
    persona_similar(&m, q, (size_t)nq, k, idx, sim);
    printf("batched_%d_queries_ms %.2f\nbatched_per_query_ms %.2f\n", nq, (core_now() - t0) * 1e3,
           (core_now() - t0) * 1e3 / nq);
    printf("top1_of_query0 %llu %.6f\n", (unsigned long long)idx[0], sim[0]);
    if (sink == 12345.678)
        printf("(sink)\n");
    free(idx);
    free(sim);
    free(q);
    free(times);
    persona_matrix_free(&m);
    return 0;
}
