/* Status codes, the thread-local error message, and checked allocation. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Thread_local char err_msg[2048];
static _Thread_local char err_site[128];
static _Thread_local core_status err_code;

const char *core_status_name(core_status st)
{
    switch (st) {
    case CORE_OK: return "OK";
    case CORE_ERR_USAGE: return "USAGE";
    case CORE_ERR_IO: return "IO";
    case CORE_ERR_PARSE: return "PARSE";
    case CORE_ERR_SCHEMA: return "SCHEMA";
    case CORE_ERR_RANGE: return "RANGE";
    case CORE_ERR_LIMIT: return "LIMIT";
    case CORE_ERR_FORMAT: return "FORMAT";
    case CORE_ERR_NOMEM: return "NOMEM";
    case CORE_ERR_CHECK: return "CHECK";
    case CORE_ERR_CRYPTO: return "CRYPTO";
    case CORE_ERR_INTERNAL: return "INTERNAL";
    }
    return "UNKNOWN";
}

core_status core__error_set(const char *src_file, int src_line, core_status code, const char *fmt,
                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    snprintf(err_site, sizeof err_site, "%s:%d", src_file, src_line);
    err_code = code;
    return code;
}

void core_error_prefix(const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof err_msg / 2)
        pl = sizeof err_msg / 2;
    memcpy(err_msg, prefix, pl);
    memcpy(err_msg + pl, ": ", 2);
    size_t room = sizeof err_msg - pl - 3, ol = strlen(old);
    if (ol > room)
        ol = room;
    memcpy(err_msg + pl + 2, old, ol);
    err_msg[pl + 2 + ol] = '\0';
}

const char *core_error_message(void)
{
    return err_msg;
}
const char *core_error_site(void)
{
    return err_site;
}
core_status core_error_code(void)
{
    return err_code;
}

void core_error_clear(void)
{
    err_msg[0] = '\0';
    err_site[0] = '\0';
    err_code = CORE_OK;
}

_Noreturn void core__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "troupe: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

bool core_mul_overflows(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return true;
    *out = r;
    return false;
}

/* Large buffers (whole matrices) are 2 MiB aligned and asked to use huge pages: on the
 * virtual machines we measure on, first-touch page faults otherwise cost more than
 * reading the data (823 MB: 3.0 s with 4 KiB pages, 1.6 s with 2 MiB pages). */
static void *alloc_bytes(size_t bytes)
{
    if (bytes < ((size_t)32 << 20))
        return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

void *core_alloc(size_t n, size_t size, const char *what)
{
    size_t bytes;
    if (core_mul_overflows(n, size, &bytes)) {
        CORE_ERR(CORE_ERR_NOMEM, "%s: size overflows (%zu x %zu bytes)", what, n, size);
        return NULL;
    }
    void *p = alloc_bytes(bytes);
    if (!p)
        CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory allocating %zu bytes", what, bytes);
    return p;
}

void *core_zalloc(size_t n, size_t size, const char *what)
{
    size_t bytes;
    if (core_mul_overflows(n, size, &bytes)) {
        CORE_ERR(CORE_ERR_NOMEM, "%s: size overflows (%zu x %zu bytes)", what, n, size);
        return NULL;
    }
    void *p = calloc(bytes ? n : 1, bytes ? size : 1);
    if (!p)
        CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory allocating %zu bytes", what, bytes);
    return p;
}

void *core_realloc(void *p, size_t n, size_t size, const char *what)
{
    size_t bytes;
    if (core_mul_overflows(n, size, &bytes)) {
        CORE_ERR(CORE_ERR_NOMEM, "%s: size overflows (%zu x %zu bytes)", what, n, size);
        return NULL;
    }
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        CORE_ERR(CORE_ERR_NOMEM, "%s: out of memory allocating %zu bytes", what, bytes);
    return q;
}

char *core_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = core_alloc(n, 1, "string");
    if (d)
        memcpy(d, s, n);
    return d;
}

char *core_sprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : core_alloc((size_t)n + 1, 1, "string");
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}
