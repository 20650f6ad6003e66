/* Data parallelism over MPI: the process group, bucketed non-blocking gradient sums started
 * from the backward's hook, a deterministic tree sum, heartbeats that name a rank that does
 * not arrive, and ZeRO-1 (moments sharded by bucket parts). The only file of the trainer
 * that calls MPI (docs/distributed.md).
 *
 * Every wait goes through wait_all(): MPI_Testall in a loop, which also drives Open MPI's
 * progress engine (it has no progress thread), with a deadline. MPI errors are returned
 * (MPI_ERRORS_RETURN) and turned into core errors with MPI's own text. */
#include "train/train.h"

#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_HEARTBEAT = 7701 };

static struct {
    bool active;      /* MPI_Init called by us */
    int rank, size;
    MPI_Comm comm;    /* a duplicate of MPI_COMM_WORLD, errors returned */
    bool multiple;    /* MPI_THREAD_MULTIPLE: a communication thread may run */
} world = {false, 0, 1, MPI_COMM_NULL, false};

static core_status mpi_err(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return CORE_ERR(CORE_ERR_IO, "rank %d: %s: MPI error: %s", world.rank, what, text);
}

static bool launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "TROUPE_MPI"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

core_status train_dist_init(int *argc, char ***argv)
{
    if (world.active || !launched())
        return CORE_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    /* Waiting ranks yield the core instead of spinning: on a machine with as many ranks as
     * cores, a rank waiting for a bucket must not take the core its backward needs (the
     * user's setting wins). */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided = MPI_THREAD_SINGLE;
    if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return CORE_ERR(CORE_ERR_IO, "MPI_Init_thread failed");
    if (inited)
        MPI_Query_thread(&provided);
    /* TROUPE_COMM_THREAD=0 keeps the non-blocking path (MPI_Iallreduce) instead */
    const char *ct = getenv("TROUPE_COMM_THREAD");
    world.multiple = provided == MPI_THREAD_MULTIPLE && !(ct && !strcmp(ct, "0"));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &world.comm);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(world.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(world.comm, &world.rank);
    MPI_Comm_size(world.comm, &world.size);
    world.active = true;
    return CORE_OK;
}

void train_dist_finalize(void)
{
    if (!world.active)
        return;
    MPI_Comm_free(&world.comm);
    MPI_Finalize();
    world.active = false;
    world.rank = 0;
    world.size = 1;
}

int train_dist_rank(void) { return world.rank; }
int train_dist_size(void) { return world.size; }

_Noreturn void train_dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (world.active)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

/* ---------------------------------------------------------------- waiting with a deadline */

/* Heartbeats: every rank but 0 tells rank 0 the step whose gradient exchange it has reached,
 * so that when rank 0 times out it can say which rank is missing. */
typedef struct heartbeats {
    int64_t *seen;       /* [size] last step heard from each rank (rank 0 only) */
    int64_t *in;         /* [size] receive buffers */
    MPI_Request *recv;   /* [size] */
    int64_t out[2];      /* send buffers, alternating */
    MPI_Request send[2];
    int next;
} heartbeats;

static void hb_poll(heartbeats *h)
{
    if (!h || world.rank != 0)
        return;
    for (int r = 1; r < world.size; r++) {
        int flag = 0;
        if (h->recv[r] != MPI_REQUEST_NULL &&
            MPI_Test(&h->recv[r], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) {
            h->seen[r] = h->in[r];
            MPI_Irecv(&h->in[r], 1, MPI_INT64_T, r, TAG_HEARTBEAT, world.comm, &h->recv[r]);
        }
    }
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* The error of a wait that ran past its deadline: on rank 0, the ranks it has not heard
 * from at `step`. */
static core_status timeout_error(const heartbeats *h, int64_t step, const char *what,
                                 double timeout)
{
    if (world.rank == 0 && h) {
        char missing[512] = "";
        size_t len = 0;
        int count = 0;
        for (int r = 1; r < world.size; r++)
            if (h->seen[r] < step) {
                len += (size_t)snprintf(missing + len, len < sizeof missing ? sizeof missing - len : 0,
                                        "%s%d (last seen at step %lld)", count ? ", " : "", r,
                                        (long long)h->seen[r]);
                count++;
            }
        if (count)
            return CORE_ERR(CORE_ERR_IO,
                            "%s of step %lld: rank%s %s did not arrive within %.0f s: it died or "
                            "hangs; stopping the job",
                            what, (long long)step, count > 1 ? "s" : "", missing, timeout);
        return CORE_ERR(CORE_ERR_IO,
                        "%s of step %lld: every rank arrived but the exchange did not finish "
                        "within %.0f s (network?); stopping the job",
                        what, (long long)step, timeout);
    }
    return CORE_ERR(CORE_ERR_IO,
                    "rank %d: %s of step %lld did not finish within %.0f s: another rank died "
                    "or hangs (rank 0's message names it); stopping the job",
                    world.rank, what, (long long)step, world.rank == 0 ? timeout : timeout * 1.5);
}

/* Waits for n requests. Rank 0 gives up after `timeout` seconds and names the ranks it has
 * not heard from at `step`; the others wait half as long again, so that rank 0's diagnosis
 * comes first when it is alive. */
static core_status wait_all(int n, MPI_Request *reqs, double timeout, heartbeats *h, int64_t step,
                            const char *what)
{
    const double t0 = core_now(), limit = world.rank == 0 ? timeout : timeout * 1.5;
    for (long spins = 0;; spins++) {
        int flag = 0;
        int rc = MPI_Testall(n, reqs, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, what);
        if (flag)
            return CORE_OK;
        hb_poll(h);
        if (timeout > 0 && core_now() - t0 > limit)
            break;
        if (spins < 2000)
            sched_yield();
        else
            sleep_us(50);
    }
    return timeout_error(h, step, what, timeout);
}

/* ---------------------------------------------------------------- small collectives */

core_status train_dist_agree(core_status st)
{
    if (world.size == 1)
        return st;
    double failed = st != CORE_OK;
    core_status ex = train_dist_sum(&failed, 1);
    if (st != CORE_OK)
        return st;
    if (ex != CORE_OK)
        return ex;
    if (failed > 0)
        return CORE_ERR(CORE_ERR_IO, "rank %d: stopping because another rank failed (its message "
                                     "says why)",
                        world.rank);
    return CORE_OK;
}

int train_dist_threads(int64_t threads)
{
    if (threads > 0)
        return (int)threads;
    /* the host's cores shared by the ranks on it */
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int per_host = ls ? atoi(ls) : 1;
    int t = core_threads_default() / (per_host > 0 ? per_host : 1);
    return t < 1 ? 1 : t;
}

core_status train_dist_sum(double *x, size_t n)
{
    if (world.size == 1 || n == 0)
        return CORE_OK;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, world.comm, &req);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, "all-reduce of step statistics");
    return wait_all(1, &req, 600, NULL, 0, "all-reduce of step statistics");
}

core_status train_dist_tree_sum(float *x, size_t n, double timeout)
{
    if (world.size == 1 || n == 0)
        return CORE_OK;
    if (world.size & (world.size - 1))
        return CORE_ERR(CORE_ERR_CHECK,
                        "dist.deterministic needs a power-of-two number of ranks, not %d",
                        world.size);
    float *tmp = core_alloc(n, sizeof *tmp, "tree-sum buffer");
    if (!tmp)
        return CORE_ERR_NOMEM;
    core_status st = CORE_OK;
    /* Recursive doubling: at level k, rank r and r ^ 2^k exchange and add. Float addition is
     * commutative, so both compute the same sum; the pairs form a fixed binary tree over
     * ranks, which continues the tree over micro-batches inside each rank. */
    for (int mask = 1; mask < world.size && st == CORE_OK; mask <<= 1) {
        int partner = world.rank ^ mask;
        const size_t chunk = (size_t)1 << 28;
        for (size_t off = 0; off < n && st == CORE_OK; off += chunk) {
            int cnt = (int)(n - off < chunk ? n - off : chunk);
            MPI_Request r[2];
            int rc = MPI_Irecv(tmp + off, cnt, MPI_FLOAT, partner, 7702, world.comm, &r[0]);
            if (rc == MPI_SUCCESS)
                rc = MPI_Isend(x + off, cnt, MPI_FLOAT, partner, 7702, world.comm, &r[1]);
            if (rc != MPI_SUCCESS) {
                st = mpi_err(rc, "deterministic gradient exchange");
                break;
            }
            st = wait_all(2, r, timeout, NULL, 0, "deterministic gradient exchange");
        }
        if (st == CORE_OK)
            for (size_t i = 0; i < n; i++)
                x[i] += tmp[i];
    }
    free(tmp);
    return st;
}

core_status train_dist_check_same(const void *p, size_t bytes, const char *what)
{
    if (world.size == 1)
        return CORE_OK;
    uint8_t h[32];
    core_sha256(h, p, bytes);
    uint64_t mine, lo, hi;
    memcpy(&mine, h, sizeof mine);
    int rc = MPI_Allreduce(&mine, &lo, 1, MPI_UINT64_T, MPI_MIN, world.comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(&mine, &hi, 1, MPI_UINT64_T, MPI_MAX, world.comm);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, what);
    if (lo != hi)
        return CORE_ERR(CORE_ERR_CHECK, "rank %d: the ranks disagree on %s (%016llx here)",
                        world.rank, what, (unsigned long long)mine);
    return CORE_OK;
}

/* ---------------------------------------------------------------- gradient buckets */

typedef struct bucket {
    size_t lo, hi;      /* element range of the gradient block */
    size_t remaining;   /* elements not yet final in this backward */
    bool started;
    /* ZeRO-1: this bucket's part owned by each rank, [part[r], part[r+1]) from lo */
    int *counts, *displs;
} bucket;

struct train_sync {
    train_dist_cfg cfg;
    train_params *grads;
    bucket *b;
    size_t nb;
    MPI_Request *req; /* [nb] */
    bool armed;
    int64_t step;
    heartbeats hb;
    double wait_s, comm_s, first_start;
    /* ZeRO-1: moments for the owned parts, packed in bucket order */
    float *m, *v;
    size_t owned;
    int64_t opt_step;
    bool failed; /* an exchange failed or timed out */
    /* The communication thread (plain data parallel with MPI_THREAD_MULTIPLE): blocking
     * all-reduces of the buckets in the order the backward completes them, while the
     * backward goes on. Open MPI's non-blocking all-reduce moves the same bytes 2-5x
     * slower here (docs/distributed.md). */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t *queue, q_head, q_tail; /* bucket indices to reduce; q_head: reduced */
    int comm_rc;
    bool stop;
};

static void *comm_main(void *arg)
{
    train_sync *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->q_head == s->q_tail && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop)
            break;
        const bucket *b = &s->b[s->queue[s->q_head]];
        pthread_mutex_unlock(&s->mu);
        int rc = MPI_Allreduce(MPI_IN_PLACE, s->grads->data + b->lo, (int)(b->hi - b->lo),
                               MPI_FLOAT, MPI_SUM, world.comm);
        pthread_mutex_lock(&s->mu);
        if (rc != MPI_SUCCESS && s->comm_rc == MPI_SUCCESS)
            s->comm_rc = rc;
        s->q_head++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

core_status train_sync_create(const train_dist_cfg *cfg, train_params *grads, train_sync **out)
{
    *out = NULL;
    train_sync *s = calloc(1, sizeof *s);
    if (!s)
        return CORE_ERR(CORE_ERR_NOMEM, "gradient sync: out of memory");
    s->cfg = *cfg;
    s->grads = grads;
    /* Buckets from the end of the block: the backward completes the tail first. */
    size_t per = (size_t)(cfg->bucket_mb * 1048576.0 / sizeof(float));
    if (per < 1024)
        per = 1024;
    s->nb = (grads->count + per - 1) / per;
    s->b = calloc(s->nb ? s->nb : 1, sizeof *s->b);
    s->req = calloc(s->nb ? s->nb : 1, sizeof *s->req);
    core_status st = CORE_OK;
    if (!s->b || !s->req) {
        st = CORE_ERR(CORE_ERR_NOMEM, "gradient sync: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < s->nb; i++) {
        size_t hi = grads->count - i * per;
        s->b[i].hi = hi;
        s->b[i].lo = hi > per ? hi - per : 0;
        s->req[i] = MPI_REQUEST_NULL;
    }
    if (world.rank == 0 && world.size > 1) {
        s->hb.seen = calloc((size_t)world.size, sizeof *s->hb.seen);
        s->hb.in = calloc((size_t)world.size, sizeof *s->hb.in);
        s->hb.recv = calloc((size_t)world.size, sizeof *s->hb.recv);
        if (!s->hb.seen || !s->hb.in || !s->hb.recv) {
            st = CORE_ERR(CORE_ERR_NOMEM, "gradient sync: out of memory");
            goto fail;
        }
        s->hb.recv[0] = MPI_REQUEST_NULL;
        for (int r = 1; r < world.size; r++) {
            s->hb.seen[r] = -1;
            int rc = MPI_Irecv(&s->hb.in[r], 1, MPI_INT64_T, r, TAG_HEARTBEAT, world.comm,
                               &s->hb.recv[r]);
            if (rc != MPI_SUCCESS) {
                st = mpi_err(rc, "heartbeat receive");
                goto fail;
            }
        }
    }
    s->hb.send[0] = s->hb.send[1] = MPI_REQUEST_NULL;
    if (cfg->zero1 && world.size > 1) {
        /* Rank r owns the r-th of size near-equal parts of every bucket. */
        for (size_t i = 0; i < s->nb; i++) {
            bucket *b = &s->b[i];
            b->counts = calloc((size_t)world.size, sizeof(int));
            b->displs = calloc((size_t)world.size, sizeof(int));
            if (!b->counts || !b->displs) {
                st = CORE_ERR(CORE_ERR_NOMEM, "gradient sync: out of memory");
                goto fail;
            }
            size_t n = b->hi - b->lo;
            for (int r = 0; r < world.size; r++) {
                size_t a = n * (size_t)r / (size_t)world.size,
                       e = n * (size_t)(r + 1) / (size_t)world.size;
                b->displs[r] = (int)a;
                b->counts[r] = (int)(e - a);
            }
            s->owned += (size_t)b->counts[world.rank];
        }
        s->m = core_zalloc(s->owned ? s->owned : 1, sizeof(float), "ZeRO-1 moments");
        s->v = core_zalloc(s->owned ? s->owned : 1, sizeof(float), "ZeRO-1 moments");
        if (!s->m || !s->v) {
            st = CORE_ERR_NOMEM;
            goto fail;
        }
    }
    if (world.size > 1 && world.multiple && !cfg->zero1 && !cfg->deterministic) {
        s->queue = calloc(s->nb ? s->nb : 1, sizeof *s->queue);
        if (!s->queue) {
            st = CORE_ERR(CORE_ERR_NOMEM, "gradient sync: out of memory");
            goto fail;
        }
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        s->comm_rc = MPI_SUCCESS;
        if (pthread_create(&s->thread, NULL, comm_main, s) == 0) {
            s->threaded = true;
        } else {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
        }
    }
    *out = s;
    return CORE_OK;
fail:
    train_sync_free(s);
    return st;
}

void train_sync_free(train_sync *s)
{
    if (!s)
        return;
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        const bool busy = s->q_head != s->q_tail;
        pthread_mutex_unlock(&s->mu);
        if (busy || s->failed) {
            /* stuck in an all-reduce that will not finish: the job is being aborted */
            pthread_detach(s->thread);
            s->queue = NULL; /* the thread may still read it: leave it */
            s->b = NULL;
        } else {
            pthread_join(s->thread, NULL);
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
        }
    }
    free(s->queue);
    /* After a failed exchange the job is about to be aborted: requests still in flight
     * cannot be waited for (that is what failed), so they are left to MPI_Abort. */
    if (world.active && !s->failed) {
        for (size_t i = 0; s->req && i < s->nb; i++)
            if (s->req[i] != MPI_REQUEST_NULL)
                MPI_Wait(&s->req[i], MPI_STATUS_IGNORE);
        for (int r = 1; s->hb.recv && r < world.size; r++)
            if (s->hb.recv[r] != MPI_REQUEST_NULL) {
                MPI_Cancel(&s->hb.recv[r]);
                MPI_Wait(&s->hb.recv[r], MPI_STATUS_IGNORE);
            }
        for (int k = 0; k < 2; k++)
            if (s->hb.send[k] != MPI_REQUEST_NULL)
                MPI_Wait(&s->hb.send[k], MPI_STATUS_IGNORE);
    }
    for (size_t i = 0; s->b && i < s->nb; i++) {
        free(s->b[i].counts);
        free(s->b[i].displs);
    }
    free(s->b);
    free(s->req);
    free(s->hb.seen);
    free(s->hb.in);
    free(s->hb.recv);
    free(s->m);
    free(s->v);
    free(s);
}

static core_status start_bucket(train_sync *s, size_t i)
{
    bucket *b = &s->b[i];
    b->started = true;
    if (s->first_start == 0)
        s->first_start = core_now();
    float *g = s->grads->data + b->lo;
    int rc;
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->queue[s->q_tail++] = i;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return CORE_OK;
    }
    if (s->cfg.zero1)
        rc = MPI_Ireduce_scatter(MPI_IN_PLACE, g, b->counts, MPI_FLOAT, MPI_SUM, world.comm,
                                 &s->req[i]);
    else
        rc = MPI_Iallreduce(MPI_IN_PLACE, g, (int)(b->hi - b->lo), MPI_FLOAT, MPI_SUM, world.comm,
                            &s->req[i]);
    return rc == MPI_SUCCESS ? CORE_OK : mpi_err(rc, "gradient all-reduce");
}

void train_sync_arm(train_sync *s, int64_t step)
{
    s->step = step;
    s->first_start = 0;
    if (world.size == 1 || s->cfg.deterministic)
        return;
    s->armed = true;
    if (s->threaded) { /* the thread is idle: the last finish waited for every bucket */
        pthread_mutex_lock(&s->mu);
        s->q_head = s->q_tail = 0;
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; i < s->nb; i++) {
        s->b[i].remaining = s->b[i].hi - s->b[i].lo;
        s->b[i].started = false;
    }
}

void train_sync_hook(void *sync, size_t lo, size_t hi)
{
    train_sync *s = sync;
    if (!s || !s->armed)
        return;
    /* Buckets run from the end of the block backwards: b[i] covers lower addresses as i
     * grows. Start every bucket that this range completes, in index order (the same order
     * on every rank, as MPI requires of collectives). */
    for (size_t i = 0; i < s->nb; i++) {
        bucket *b = &s->b[i];
        size_t a = lo > b->lo ? lo : b->lo, e = hi < b->hi ? hi : b->hi;
        if (a < e) {
            b->remaining -= e - a;
        }
    }
    for (size_t i = 0; i < s->nb; i++) {
        if (s->b[i].started)
            continue;
        if (s->b[i].remaining)
            break; /* keep the start order fixed: bucket i before i + 1 */
        if (start_bucket(s, i) != CORE_OK) {
            s->armed = false; /* train_sync_finish reports it */
            return;
        }
    }
    /* drive the progress of those in flight (the thread needs no help) */
    if (!s->threaded) {
        int flag;
        MPI_Testall((int)s->nb, s->req, &flag, MPI_STATUSES_IGNORE);
    }
}

core_status train_sync_finish(train_sync *s)
{
    if (world.size == 1)
        return CORE_OK;
    core_status st = CORE_OK;
    if (world.rank != 0) { /* tell rank 0 this rank has reached the exchange */
        int k = s->hb.next ^= 1;
        if (s->hb.send[k] != MPI_REQUEST_NULL)
            MPI_Wait(&s->hb.send[k], MPI_STATUS_IGNORE);
        s->hb.out[k] = s->step;
        MPI_Isend(&s->hb.out[k], 1, MPI_INT64_T, 0, TAG_HEARTBEAT, world.comm, &s->hb.send[k]);
    } else {
        hb_poll(&s->hb);
    }
    double t0 = core_now();
    if (s->cfg.deterministic) {
        st = train_dist_tree_sum(s->grads->data, s->grads->count, s->cfg.timeout);
        s->failed = st != CORE_OK;
        s->comm_s += core_now() - t0;
        s->wait_s += core_now() - t0;
        return st;
    }
    if (!s->armed)
        train_sync_arm(s, s->step);
    for (size_t i = 0; i < s->nb && st == CORE_OK; i++)
        if (!s->b[i].started)
            st = start_bucket(s, i);
    s->armed = false;
    if (st == CORE_OK && s->threaded) {
        const double limit = world.rank == 0 ? s->cfg.timeout : s->cfg.timeout * 1.5;
        pthread_mutex_lock(&s->mu);
        while (s->q_head < s->nb && s->comm_rc == MPI_SUCCESS) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000; /* look at the heartbeats every 20 ms */
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            if (s->q_head >= s->nb)
                break;
            pthread_mutex_unlock(&s->mu);
            hb_poll(&s->hb);
            const bool late = core_now() - t0 > limit;
            pthread_mutex_lock(&s->mu);
            if (late && s->q_head < s->nb) {
                st = timeout_error(&s->hb, s->step, "gradient all-reduce", s->cfg.timeout);
                break;
            }
        }
        if (st == CORE_OK && s->comm_rc != MPI_SUCCESS)
            st = mpi_err(s->comm_rc, "gradient all-reduce");
        pthread_mutex_unlock(&s->mu);
    } else if (st == CORE_OK) {
        st = wait_all((int)s->nb, s->req, s->cfg.timeout, &s->hb, s->step, "gradient all-reduce");
    }
    s->failed = st != CORE_OK;
    double t1 = core_now();
    s->wait_s += t1 - t0;
    s->comm_s += t1 - (s->first_start ? s->first_start : t0);
    return st;
}

bool train_sync_threaded(const train_sync *s) { return s->threaded; }

void train_sync_times(const train_sync *s, double *wait, double *comm_total)
{
    *wait = s->wait_s;
    *comm_total = s->comm_s;
}

/* ---------------------------------------------------------------- ZeRO-1 */

/* After MPI_Ireduce_scatter with MPI_IN_PLACE, rank r's summed part of bucket i sits at the
 * start of the bucket in the gradient block. */
static float *owned_grad(train_sync *s, size_t i) { return s->grads->data + s->b[i].lo; }

core_status train_sync_zero_norm(train_sync *s, float scale, double *norm)
{
    double sq = 0;
    for (size_t i = 0; i < s->nb; i++) {
        float *g = owned_grad(s, i);
        for (int k = 0; k < s->b[i].counts[world.rank]; k++) {
            g[k] *= scale;
            sq += (double)g[k] * (double)g[k];
        }
    }
    core_status st = train_dist_sum(&sq, 1);
    *norm = sqrt(sq);
    return st;
}

core_status train_sync_zero_update(train_sync *s, train_params *params, float clip, int64_t t,
                                   double lr, const train_adamw_cfg *cfg)
{
    size_t mo = 0;
    for (size_t i = 0; i < s->nb; i++) {
        const bucket *b = &s->b[i];
        float *g = owned_grad(s, i);
        const size_t n = (size_t)b->counts[world.rank], lo = b->lo + (size_t)b->displs[world.rank];
        if (clip != 1.0f)
            for (size_t k = 0; k < n; k++)
                g[k] *= clip;
        train_adamw_update(params, params->data + lo, g, s->m + mo, s->v + mo, lo, lo + n, t, lr,
                           cfg);
        mo += n;
    }
    s->opt_step = t;
    for (size_t i = 0; i < s->nb; i++) {
        const bucket *b = &s->b[i];
        int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, params->data + b->lo, b->counts,
                                 b->displs, MPI_FLOAT, world.comm, &s->req[i]);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, "parameter all-gather");
    }
    core_status st =
        wait_all((int)s->nb, s->req, s->cfg.timeout, &s->hb, s->step, "parameter all-gather");
    s->failed = st != CORE_OK;
    return st;
}

core_status train_sync_zero_gather(train_sync *s, train_adamw *full)
{
    size_t mo = 0;
    for (size_t i = 0; i < s->nb; i++) {
        const bucket *b = &s->b[i];
        const int n = b->counts[world.rank];
        for (int which = 0; which < 2; which++) {
            float *mine = (which ? s->v : s->m) + mo;
            float *dst = world.rank == 0 ? (which ? full->v.data : full->m.data) + b->lo : NULL;
            MPI_Request req;
            int rc = MPI_Igatherv(mine, n, MPI_FLOAT, dst, b->counts, b->displs, MPI_FLOAT, 0,
                                  world.comm, &req);
            if (rc != MPI_SUCCESS)
                return mpi_err(rc, "moment gather");
            core_status st = wait_all(1, &req, s->cfg.timeout, NULL, s->step, "moment gather");
            if (st != CORE_OK)
                return st;
        }
        mo += (size_t)n;
    }
    if (world.rank == 0)
        full->step = s->opt_step;
    return CORE_OK;
}

void train_sync_zero_load(train_sync *s, const train_adamw *full)
{
    size_t mo = 0;
    for (size_t i = 0; i < s->nb; i++) {
        const bucket *b = &s->b[i];
        const size_t n = (size_t)b->counts[world.rank], lo = b->lo + (size_t)b->displs[world.rank];
        memcpy(s->m + mo, full->m.data + lo, n * sizeof(float));
        memcpy(s->v + mo, full->v.data + lo, n * sizeof(float));
        mo += n;
    }
    s->opt_step = full->step;
}

/* ---------------------------------------------------------------- benchmark support */

core_status train_dist_bench_raw(float *x, size_t n, double bucket_mb, int reps, double *bucketed,
                                 double *single, double *latency)
{
    *bucketed = *single = *latency = 0;
    if (world.size == 1)
        return CORE_OK;
    size_t per = (size_t)(bucket_mb * 1048576.0 / sizeof(float));
    double best_b = 1e30, best_s = 1e30, best_l = 1e30;
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(world.comm);
        double t0 = core_now();
        for (size_t off = 0; off < n; off += per) {
            int cnt = (int)(n - off < per ? n - off : per);
            int rc = MPI_Allreduce(MPI_IN_PLACE, x + off, cnt, MPI_FLOAT, MPI_SUM, world.comm);
            if (rc != MPI_SUCCESS)
                return mpi_err(rc, "bucketed all-reduce");
        }
        double t1 = core_now();
        MPI_Barrier(world.comm);
        double t2 = core_now();
        int rc = MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, world.comm);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, "single all-reduce");
        double t3 = core_now();
        MPI_Barrier(world.comm);
        double t4 = core_now();
        float one = 1;
        for (int k = 0; k < 100; k++)
            MPI_Allreduce(MPI_IN_PLACE, &one, 1, MPI_FLOAT, MPI_SUM, world.comm);
        double t5 = core_now();
        best_b = t1 - t0 < best_b ? t1 - t0 : best_b;
        best_s = t3 - t2 < best_s ? t3 - t2 : best_s;
        best_l = (t5 - t4) / 100 < best_l ? (t5 - t4) / 100 : best_l;
    }
    *bucketed = best_b;
    *single = best_s;
    *latency = best_l;
    return CORE_OK;
}

void train_dist_barrier(void)
{
    if (world.active)
        MPI_Barrier(world.comm);
}
