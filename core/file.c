/* Whole-file reads, atomic writes, temporary names and directories. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

core_status core_file_read(const char *path, size_t max_bytes, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CORE_ERR(CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    core_status st = CORE_OK;
    char *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = CORE_ERR(CORE_ERR_IO, "%s: is a directory, expected a file", path);
        goto done;
    }
    if (max_bytes && (uint64_t)sb.st_size > max_bytes) {
        st = CORE_ERR(CORE_ERR_LIMIT, "%s: file is %lld bytes, more than the limit of %zu", path,
                      (long long)sb.st_size, max_bytes);
        goto done;
    }
    /* Read until EOF rather than trusting st_size (pipes, /proc, growing files). */
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 4096, n = 0;
    buf = core_alloc(cap, 1, path);
    if (!buf) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (max_bytes && n >= max_bytes) {
                st = CORE_ERR(CORE_ERR_LIMIT, "%s: more than the limit of %zu bytes", path,
                              max_bytes);
                goto done;
            }
            char *nb = core_realloc(buf, cap, 2, path);
            if (!nb) {
                st = CORE_ERR_NOMEM;
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (max_bytes && n > max_bytes) {
        st = CORE_ERR(CORE_ERR_LIMIT, "%s: more than the limit of %zu bytes", path, max_bytes);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
done:
    free(buf);
    close(fd);
    return st;
}

char *core_tmp_path(const char *path)
{
    static atomic_uint counter;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    return core_sprintf("%.*s.%s.tmp.%ld.%u", dirlen, path, slash ? slash + 1 : path,
                        (long)getpid(), atomic_fetch_add(&counter, 1));
}

core_status core_file_write_atomic(const char *path, const void *data, size_t n)
{
    char *tmp = core_tmp_path(path);
    if (!tmp)
        return CORE_ERR_NOMEM;
    core_status st = CORE_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", path,
                          w < 0 ? strerror(errno) : "short write");
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (st == CORE_OK && fsync(fd) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot sync: %s", path, strerror(errno));
    if (close(fd) != 0 && st == CORE_OK)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot close: %s", path, strerror(errno));
    if (st == CORE_OK && rename(tmp, path) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != CORE_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

core_status core_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return CORE_ERR(CORE_ERR_IO, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return CORE_ERR(CORE_ERR_IO, "%s: cannot create directory: %s", buf,
                                strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return CORE_ERR(CORE_ERR_IO, "%s: exists and is not a directory", path);
    return CORE_OK;
}

char *core_exe_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return strdup(buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void core_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
