/* The tiny test runner every test program shares: CHECK* record failures with the site,
 * RUN prints one PASS/FAIL line per test, and TEST_SUMMARY prints "N passed, N failed"
 * and yields the exit status (1 on any failure). */
#ifndef TROUPE_TESTS_RUNNER_H
#define TROUPE_TESTS_RUNNER_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int tests_passed, tests_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                    \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            printf("    %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_,   \
                   b_);                                                                            \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            printf("    %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,   \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                        \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

/* The string `hay` contains `needle`. */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            printf("    %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,              \
                   h_ ? h_ : "(null)", n_);                                                        \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            printf("    %s:%d: |%s - %s| <= %g failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a,    \
                   #b, (double)(tol), a_, b_);                                                     \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define RUN(test)                                                                                  \
    do {                                                                                           \
        int before_ = test_failed_checks;                                                          \
        test();                                                                                    \
        if (test_failed_checks == before_) {                                                       \
            tests_passed++;                                                                        \
            printf("PASS %s\n", #test);                                                            \
        } else {                                                                                   \
            tests_failed++;                                                                        \
            printf("FAIL %s\n", #test);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* Makes a fresh folder /tmp/troupe-test-<name>-<6 random characters> (mkdtemp) in buf;
 * false on failure. Tests remove it at the end. */
static inline bool test_tmpdir(char *buf, size_t n, const char *name)
{
    int len = snprintf(buf, n, "/tmp/troupe-test-%s-", name);
    if (len < 0 || (size_t)len + 7 > n)
        return false;
    memset(buf + len, 'X', 6); /* mkdtemp's template: it replaces these six */
    buf[len + 6] = '\0';
    return mkdtemp(buf) != NULL;
}

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", tests_passed, tests_failed), tests_failed ? 1 : 0)

#ifdef TROUPE_CORE_H
#include <stdlib.h>
#include <unistd.h>
/* A committed fixture, `rel` under tests/fixtures/ ("layers/linear.h5"), found from the
 * test binary's folder: build/tests/ or build/<variant>/tests/. malloc'd, or NULL. */
static inline char *test_fixture_path(const char *rel)
{
    char *exe = core_exe_dir();
    if (!exe)
        return NULL;
    static const char *const ups[] = {"/../..", "/../../.."};
    char *found = NULL;
    for (size_t i = 0; i < sizeof ups / sizeof *ups && !found; i++) {
        char *p = core_sprintf("%s%s/tests/fixtures/%s", exe, ups[i], rel);
        if (p && access(p, R_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(exe);
    return found;
}

/* The troupe binary of the build the test program belongs to (build/troupe for
 * build/tests/x) into buf; false, with a message, when it or the configs are missing. */
static inline bool test_troupe_binary(char *buf, size_t n)
{
    char *exe = core_exe_dir();
    snprintf(buf, n, "%s/../troupe", exe ? exe : ".");
    free(exe);
    if (access(buf, X_OK) != 0 || !core_config_dir()) {
        printf("cannot find the troupe binary at %s or the configs\n", buf);
        return false;
    }
    return true;
}

/* mpirun's words before -np for the tests that launch the troupe binary: as root, Open MPI
 * wants both variables; shared memory without the single-copy mechanism that containers
 * often forbid */
#define TEST_MPIRUN                                                                                \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "                                   \
    "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe --bind-to none "

#include <sys/wait.h>
/* Runs a shell command, its stdout and stderr together into *out (malloc'd); returns its
 * exit code, or -1 when it did not exit normally. */
static inline int test_run(const char *cmd, char **out)
{
    char *full = core_sprintf("%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    size_t cap = 1 << 16, n = 0;
    char *buf = calloc(1, cap);
    size_t r;
    while (p && buf && (r = fread(buf + n, 1, cap - 1 - n, p)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    int st = p ? pclose(p) : -1;
    *out = buf;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
#endif

#endif
