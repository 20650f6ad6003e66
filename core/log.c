/* Logging with levels, progress reports, and the JSON-lines metrics writer. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static core_log_level log_level = CORE_LOG_WARN;
double core_progress_interval = 10.0;

void core_log_set_level(core_log_level level)
{
    log_level = level;
}
core_log_level core_log_get_level(void)
{
    return log_level;
}

double core_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void core_log(core_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level > log_level)
        return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level == CORE_LOG_INFO)
        fprintf(stderr, "%s\n", line);
    else
        fprintf(stderr, "%s: %s\n", names[level], line);
}

/* ---------------------------------------------------------------- progress */

struct core_progress {
    char label[64];
    char unit[16];
    uint64_t total, done;
    double t0, last_draw;
    bool tty;
    bool drawn;
};

core_progress *core_progress_start(const char *label, uint64_t total, const char *unit)
{
    if (log_level < CORE_LOG_INFO)
        return NULL;
    core_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL; /* progress is best effort: no report is not an error */
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "items");
    p->total = total;
    p->t0 = p->last_draw = core_now();
    p->tty = isatty(STDERR_FILENO) && getenv("TROUPE_NO_TTY") == NULL;
    return p;
}

static void format_count(char *buf, size_t n, double v)
{
    if (v >= 1e9)
        snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

static void format_secs(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void progress_draw(core_progress *p, double now, bool final)
{
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char done[32], total[32], rs[32], eta[32], els[32];
    format_count(done, sizeof done, (double)p->done);
    format_count(total, sizeof total, (double)p->total);
    if (rate < 10)
        snprintf(rs, sizeof rs, "%.2f", rate); /* slow items (training steps) */
    else
        format_count(rs, sizeof rs, rate);
    format_secs(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1);
    format_secs(els, sizeof els, el);
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    if (frac > 1)
        frac = 1;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%% %s/%s %s %s/s %s %s\033[K", p->label, bar, 100 * frac,
                done, total, p->unit, rs, final ? "in" : "ETA", final ? els : eta);
        if (final)
            fputc('\n', stderr);
    } else if (final) {
        fprintf(stderr, "%s: done, %s %s in %s (%s %s/s)\n", p->label, done, p->unit, els, rs,
                p->unit);
    } else {
        fprintf(stderr, "%s: %.0f%% (%s/%s %s), %s %s/s, ETA %s\n", p->label, 100 * frac, done,
                total, p->unit, rs, p->unit, eta);
    }
    fflush(stderr);
    p->drawn = true;
}

void core_progress_update(core_progress *p, uint64_t done)
{
    if (!p)
        return;
    p->done = done;
    double now = core_now();
    double every = p->tty ? 0.1 : core_progress_interval;
    if (now - p->last_draw >= every) {
        p->last_draw = now;
        progress_draw(p, now, false);
    }
}

void core_progress_finish(core_progress *p)
{
    if (!p)
        return;
    progress_draw(p, core_now(), true);
    free(p);
}

/* ---------------------------------------------------------------- metrics */

struct core_metrics {
    int fd;
    char *path;
};

static core_metrics *metrics_open(const char *path, int flags);

core_metrics *core_metrics_open(const char *path)
{
    return metrics_open(path, O_TRUNC);
}

core_metrics *core_metrics_append(const char *path)
{
    return metrics_open(path, O_APPEND);
}

static core_metrics *metrics_open(const char *path, int flags)
{
    core_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    m->path = strdup(path);
    m->fd = open(path, O_WRONLY | O_CREAT | flags | O_CLOEXEC, 0644);
    if (m->fd < 0 || !m->path) {
        CORE_ERR(CORE_ERR_IO, "%s: cannot create metrics file: %s", path, strerror(errno));
        if (m->fd >= 0)
            close(m->fd);
        free(m->path);
        free(m);
        return NULL;
    }
    return m;
}

core_status core_metrics_write(core_metrics *m, const json_t *record)
{
    CORE_ASSERT(json_is_object(record));
    char *s = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (!s)
        return CORE_ERR(CORE_ERR_NOMEM, "%s: cannot encode metrics record", m->path);
    size_t n = strlen(s);
    s[n] = '\n'; /* overwrite the NUL: one write() carries the record and its newline */
    ssize_t w = write(m->fd, s, n + 1);
    free(s);
    if (w != (ssize_t)(n + 1))
        return CORE_ERR(CORE_ERR_IO, "%s: cannot write metrics: %s", m->path,
                        w < 0 ? strerror(errno) : "short write");
    return CORE_OK;
}

core_status core_metrics_close(core_metrics *m)
{
    if (!m)
        return CORE_OK;
    core_status st = CORE_OK;
    if (fsync(m->fd) != 0 && errno != EINVAL)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot sync metrics: %s", m->path, strerror(errno));
    if (close(m->fd) != 0 && st == CORE_OK)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot close metrics: %s", m->path, strerror(errno));
    free(m->path);
    free(m);
    return st;
}
