/* Counter-based random numbers (Philox4x32-10) and the thread helper.
 *
 * Every draw is a pure function of (key, substream, position): the key comes from the seed
 * and the purpose name, the substream from core_rng_fork's index. Work items that fork
 * their own substream by item index therefore draw the same numbers however the items are
 * spread over threads or ranks. */
#include "core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* reference: Salmon, Moraes, Dror, Shaw, SC 2011, Random123 philox4x32 constants */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void core_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* reference: SplitMix64 finaliser (Steele, Lea, Flood 2014), used to spread key bits. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void core_rng_init(core_rng *r, uint64_t seed, const char *purpose)
{
    /* FNV-1a over the purpose name: stable across platforms and releases. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)purpose; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    uint64_t k = mix64(mix64(seed) ^ h);
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    r->substream = 0;
    r->position = 0;
    r->avail = 0;
}

core_rng core_rng_fork(const core_rng *parent, uint64_t index)
{
    core_rng r = *parent;
    /* Mix so that forks of forks do not collide with plain indices. */
    r.substream = mix64(parent->substream ^ mix64(index + 1));
    r.position = 0;
    r.avail = 0;
    return r;
}

uint32_t core_rng_u32(core_rng *r)
{
    if (r->avail == 0) {
        const uint32_t ctr[4] = {(uint32_t)r->position, (uint32_t)(r->position >> 32),
                                 (uint32_t)r->substream, (uint32_t)(r->substream >> 32)};
        core_philox4x32(r->buf, ctr, r->key);
        r->position++;
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

uint64_t core_rng_u64(core_rng *r)
{
    uint64_t hi = core_rng_u32(r);
    return (hi << 32) | core_rng_u32(r);
}

double core_rng_uniform(core_rng *r)
{
    return (double)(core_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t core_rng_below(core_rng *r, uint64_t n)
{
    CORE_ASSERT(n > 0);
    /* reference: Lemire, "Fast random integer generation in an interval", 2019 */
    __uint128_t m = (__uint128_t)core_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (__uint128_t)core_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double core_rng_normal(core_rng *r)
{
    double u1 = core_rng_uniform(r);
    double u2 = core_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* ---------------------------------------------------------------- threads */

int core_threads_default(void)
{
    const char *e = getenv("TROUPE_THREADS");
    int64_t v;
    if (e && core_parse_i64(e, &v) && v >= 1 && v <= 1024)
        return (int)v;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

typedef struct range_job {
    core_range_fn fn;
    void *ctx;
    size_t begin, end;
    int tid;
} range_job;

static void *range_main(void *arg)
{
    range_job *j = arg;
    j->fn(j->ctx, j->begin, j->end, j->tid);
    return NULL;
}

core_status core_parallel_for(size_t n, int nthreads, core_range_fn fn, void *ctx)
{
    if (nthreads <= 0)
        nthreads = core_threads_default();
    if ((size_t)nthreads > n)
        nthreads = n ? (int)n : 1;
    if (nthreads == 1) {
        fn(ctx, 0, n, 0);
        return CORE_OK;
    }
    range_job jobs[nthreads];
    pthread_t th[nthreads];
    int started = 0;
    core_status st = CORE_OK;
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (range_job){fn, ctx, n * (size_t)t / (size_t)nthreads,
                              n * (size_t)(t + 1) / (size_t)nthreads, t};
        if (t == 0)
            continue; /* the calling thread takes the first range */
        if (pthread_create(&th[t], NULL, range_main, &jobs[t]) != 0) {
            st = CORE_ERR(CORE_ERR_INTERNAL, "cannot start thread %d of %d", t, nthreads);
            break;
        }
        started = t;
    }
    if (st == CORE_OK)
        range_main(&jobs[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    return st;
}
