/* Tests of the troupe command line as a user meets it: exit codes, one-line errors that
 * name the file, line and column, suggestions, help at every level, and --print-config. */
#include "core/core.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static char troupe[4096];

/* Runs troupe with `args` (shell words); returns the exit code, output in *out. */
static int run(const char *args, char **out)
{
    char *cmd = core_sprintf("%s %s", troupe, args);
    int rc = test_run(cmd, out);
    free(cmd);
    return rc;
}

static char *write_file(const char *name, const char *text)
{
    char *p = core_sprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_version_lists_every_library(void)
{
    char *o;
    CHECK_EQ_INT(run("--version", &o), 0);
    CHECK_CONTAINS(o, "troupe " TROUPE_VERSION);
    const char *libs[] = {"OpenBLAS", "HDF5",    "libsndfile", "libsamplerate", "FFTW", "libsodium",
                          "libyaml",  "jansson", "MPI"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
        CHECK_CONTAINS(o, libs[i]);
    free(o);
}

static void test_help_at_every_level(void)
{
    char *o;
    CHECK_EQ_INT(run("--help", &o), 0);
    CHECK_CONTAINS(o, "persona");
    free(o);
    CHECK_EQ_INT(run("persona --help", &o), 0);
    CHECK_CONTAINS(o, "similar");
    free(o);
    CHECK_EQ_INT(run("persona build --help", &o), 0);
    CHECK_CONTAINS(o, "--roles DIR");
    CHECK_CONTAINS(o, "--print-config");
    free(o);
    CHECK_EQ_INT(run("config show --help", &o), 0);
    free(o);
    CHECK_EQ_INT(run("", &o), 2); /* no group: usage, exit 2 */
    free(o);
}

static void test_usage_errors_exit_2_with_suggestions(void)
{
    char *o;
    CHECK_EQ_INT(run("persnoa", &o), 2);
    CHECK_STR(o, "troupe: unknown group 'persnoa' (did you mean 'persona'?)\n");
    free(o);
    CHECK_EQ_INT(run("persona biuld", &o), 2);
    CHECK_STR(o, "troupe: persona: unknown command 'biuld' (did you mean 'build'?)\n");
    free(o);
    CHECK_EQ_INT(run("persona build --rols x -o y", &o), 2);
    CHECK_STR(o, "troupe: persona build: unknown option '--rols' (did you mean '--roles'?)\n");
    free(o);
    CHECK_EQ_INT(run("persona similar x.h5 '#1' -k", &o), 2);
    CHECK_CONTAINS(o, "--k needs a value");
    free(o);
    CHECK_EQ_INT(run("persona similar x.h5 '#1' -k ten", &o), 2);
    CHECK_CONTAINS(o, "--k expects an integer, not 'ten'");
    free(o);
}

static void test_config_errors_name_file_line_and_column(void)
{
    char *p = write_file("x.yaml", "seed: 3\ndedup:\n  treshold: 0.5\n");
    char *args = core_sprintf("config check --kind persona.expand %s", p), *o;
    CHECK_EQ_INT(run(args, &o), 2);
    char *want = core_sprintf("troupe: %s:3:3: unknown key 'dedup.treshold' (did you mean "
                              "'threshold'?)\n",
                              p);
    CHECK_STR(o, want);
    free(want);
    free(o);
    free(args);
    free(p);
    p = write_file("y.yaml", "seed: 3\nthreads: many\n");
    args = core_sprintf("persona build --roles r -o o.h5 --config %s", p);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "y.yaml:2:10: 'threads' must be an integer, not 'many'");
    free(o);
    free(args);
    free(p);
    p = write_file("z.yaml", "seed: [1, 2\n");
    args = core_sprintf("config check --kind persona.author %s", p);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "z.yaml:2:1: did not find expected ',' or ']'");
    free(o);
    free(args);
    free(p);
    CHECK_EQ_INT(run("config show persona.expand --set dedup.threshold=2", &o), 2);
    CHECK_STR(o, "troupe: --set dedup.threshold=2: 'dedup.threshold' is 2, outside [0.5, 1]\n");
    free(o);
    CHECK_EQ_INT(run("config check --kind persona.expand /nonexistent/c.yaml", &o), 2);
    CHECK_STR(o, "troupe: /nonexistent/c.yaml: cannot open: No such file or directory\n");
    free(o);
}

static void test_print_config_shows_the_effective_layers(void)
{
    char *p = write_file("layer.yaml", "seed: 11\ndedup: {threshold: 0.95}\n");
    char *args = core_sprintf("persona build --config %s --set threads=2 --print-config", p), *o;
    CHECK_EQ_INT(run(args, &o), 0);
    CHECK_CONTAINS(o, "seed: 11\n");
    CHECK_CONTAINS(o, "dedup:\n  threshold: 0.95\n");
    CHECK_CONTAINS(o, "threads: 2\n");
    CHECK_CONTAINS(o, "max_rows_per_role: 4096\n"); /* from the shipped defaults */
    free(o);
    free(args);
    free(p);
    CHECK_EQ_INT(run("config kinds", &o), 0);
    CHECK_CONTAINS(o, "persona.expand");
    CHECK_CONTAINS(o, "persona/expand.yaml");
    free(o);
}

static void test_bad_data_exits_1_and_unreadable_input_exits_2(void)
{
    char *d = core_sprintf("%s/roles", tmpdir);
    core_mkdir_p(d);
    char *p = core_sprintf("%s/roles/broken.yaml", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("schema: \"troupe.role/1\"\nid: \"broken\"\nnames: {en: \"B\", zhh: \"x\"}\n", f);
    fclose(f);
    char *args = core_sprintf("persona validate %s", d), *o;
    CHECK_EQ_INT(run(args, &o), 1);
    CHECK_CONTAINS(o, "broken.yaml:3:18: unknown key 'names.zhh' (did you mean 'zh'?)");
    CHECK_CONTAINS(o, "broken.yaml:1:1: missing key 'archetype'");
    free(o);
    free(args);
    CHECK_EQ_INT(run("persona stats /nonexistent/p.h5", &o), 2);
    CHECK_STR(o, "troupe: /nonexistent/p.h5: cannot open: No such file or directory\n");
    free(o);
    char *h = write_file("fake.h5", "not an hdf5 file");
    args = core_sprintf("persona show %s 1", h);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "fake.h5: not a readable HDF5 file");
    free(o);
    free(args);
    free(h);
    free(p);
    free(d);
}

static void test_data_commands_sign_verify_and_refuse_bad_use(void)
{
    char *o, *args;
    char *keys = core_sprintf("%s/k", tmpdir);
    args = core_sprintf("data keygen --owner 'Test Org' --roles licensor,curator -o %s "
                        "--valid-from 2026-01-01T00:00:00Z",
                        keys);
    CHECK_EQ_INT(run(args, &o), 0);
    free(o);
    free(args);
    /* the secret is never overwritten */
    args = core_sprintf("data keygen --owner x --roles curator -o %s", keys);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "k.secret: cannot create: File exists");
    free(o);
    free(args);
    char *kr = core_sprintf("%s/keyring.yaml", tmpdir);
    char *cmd = core_sprintf("(echo 'schema: \"troupe.keyring/1\"'; echo 'keys:'; cat %s.pub.yaml) > %s",
                             keys, kr);
    CHECK_EQ_INT(system(cmd), 0);
    free(cmd);
    char *doc = write_file("list.yaml", "schema: \"troupe.revocations/1\"\n");
    args = core_sprintf("data sign %s --key %s.secret", doc, keys);
    CHECK_EQ_INT(run(args, &o), 0);
    free(o);
    free(args);
    args = core_sprintf("data verify %s --keyring %s", doc, kr);
    CHECK_EQ_INT(run(args, &o), 0);
    CHECK_CONTAINS(o, "1 valid signature");
    CHECK_CONTAINS(o, "Test Org  [ licensor curator]");
    free(o);
    /* one byte changed: exit 1 with the check code */
    FILE *f = fopen(doc, "a");
    fputs("# edited\n", f);
    fclose(f);
    CHECK_EQ_INT(run(args, &o), 1);
    CHECK_CONTAINS(o, "SIG-001");
    free(o);
    free(args);
    args = core_sprintf("data ingest %s --keyring %s --purpose trainig --territory GB -o x",
                        tmpdir, kr);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "unknown purpose 'trainig' (did you mean 'training'?)");
    free(o);
    free(args);
    args = core_sprintf("data audit %s --keyring %s --purpose training --territory gb", tmpdir, kr);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "--territory 'gb' is not an ISO 3166-1 alpha-2 code");
    free(o);
    free(args);
    char *bad = write_file("bad-keyring.yaml", "schema: \"troupe.keyring/1\"\nkeys: [{keyid: 1}]\n");
    args = core_sprintf("data audit %s --keyring %s --purpose training --territory GB", tmpdir, bad);
    CHECK_EQ_INT(run(args, &o), 2);
    CHECK_CONTAINS(o, "bad-keyring.yaml:2:");
    free(o);
    free(args);
    free(bad);
    free(doc);
    free(kr);
    free(keys);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "cli"))
        return 1;
    char *exe = core_exe_dir();
    snprintf(troupe, sizeof troupe, "%s/../troupe", exe);
    free(exe);
    if (access(troupe, X_OK) != 0) {
        printf("cannot find the troupe binary at %s\n", troupe);
        return 1;
    }
    RUN(test_version_lists_every_library);
    RUN(test_help_at_every_level);
    RUN(test_usage_errors_exit_2_with_suggestions);
    RUN(test_config_errors_name_file_line_and_column);
    RUN(test_print_config_shows_the_effective_layers);
    RUN(test_bad_data_exits_1_and_unreadable_input_exits_2);
    RUN(test_data_commands_sign_verify_and_refuse_bad_use);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
