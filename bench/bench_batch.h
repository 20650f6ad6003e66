/* A synthetic batch laid out like the loader's, for the benchmarks: persona, 64 history
 * tokens, a quarter of the positions audio, BOS, the reply to the end; labels on every head.
 * Include after train/train.h. */
#ifndef TROUPE_BENCH_BATCH_H
#define TROUPE_BENCH_BATCH_H
#include <stdlib.h>

static inline train_batch bench_batch(int B, int T, int stack, uint64_t seed)
{
    const int F = stack * TRAIN_N_MELS;
    train_batch b;
    if (!train_batch_alloc(&b, B, T, stack))
        abort();
    core_rng r;
    core_rng_init(&r, seed, "bench.batch");
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < TRAIN_PERSONA_DIM; j++)
            b.persona[i * TRAIN_PERSONA_DIM + j] = (float)core_rng_normal(&r) * 0.1f;
        int t = 0, audio = T / 4;
        b.kind[i * T + t++] = TRAIN_POS_PERSONA;
        for (int k = 0; k < 64 && t < T; k++, t++) {
            b.kind[i * T + t] = TRAIN_POS_TOKEN;
            b.tokens[i * T + t] = (int32_t)core_rng_below(&r, 256);
        }
        for (int k = 0; k < audio && t < T; k++, t++) {
            b.kind[i * T + t] = TRAIN_POS_AUDIO;
            for (int f = 0; f < F; f++)
                b.frames[((size_t)i * T + t) * F + f] = (float)core_rng_normal(&r);
        }
        for (; t < T; t++) {
            b.kind[i * T + t] = TRAIN_POS_TOKEN;
            b.tokens[i * T + t] = t == 64 + audio + 1 ? 256 : (int32_t)core_rng_below(&r, 256);
            b.targets[i * T + t] = t + 1 < T ? (int32_t)core_rng_below(&r, 256) : 257;
        }
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
            b.labels[i * TRAIN_N_HEADS_PARA + k] = (int32_t)core_rng_below(&r, 2);
    }
    return b;
}

static inline void bench_batch_free(train_batch *b) { train_batch_free(b); }
#endif
