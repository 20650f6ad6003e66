/* troupe: the one command-line entry point, git style: troupe <group> <command> [options]. */
#include "cli/cli.h"

#include <cblas.h>
#include <fftw3.h>
#include <mpi.h>
#include <samplerate.h>
#include <sndfile.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} groups[] = {
    {"persona", cli_persona_main, "authored roles and the persona feature matrix"},
    {"data", cli_data_main, "licensed recordings and consent in, training shards out"},
    {"train", cli_train_main, "train the model from shards to checkpoints"},
    {"rlhf", cli_rlhf_main, "preference data, reward model, DPO and GRPO for persona consistency"},
    {"eval", cli_eval_main, "score checkpoints: dialogue, paralinguistics, persona drift, latency"},
    {"generate", cli_generate_main, "stream a turn through a checkpoint and sample the reply"},
    {"config", cli_config_main, "list, show and check YAML configs"},
};
#define N_GROUPS (sizeof groups / sizeof *groups)

static void print_help(void)
{
    printf("usage: troupe [--version] [-v|-q] <group> <command> [options]\n\n"
           "Troupe trains persona-controlled real-time voice models, from authored roles and\n"
           "consented recordings to checkpoints and benchmark tables.\n\nGroups:\n");
    for (size_t i = 0; i < N_GROUPS; i++)
        printf("  %-10s %s\n", groups[i].name, groups[i].summary);
    printf("\nOptions:\n"
           "  -h, --help      show this help\n"
           "  --version       print the version and the libraries' versions\n"
           "  -v, --verbose   more output (twice: debug)\n"
           "  -q, --quiet     errors only\n\n"
           "Run 'troupe <group> --help' for a group's commands. Exit status: 0 ok, 1 the work\n"
           "failed (bad data, failed check), 2 usage error or unreadable input.\n");
}

static void print_version(void)
{
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char sndver[128] = "";
    sf_command(NULL, SFC_GET_LIB_VERSION, sndver, sizeof sndver);
    char mpiver[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(mpiver, &len);
    mpiver[strcspn(mpiver, ",\n")] = '\0';
    printf("troupe %s\n", TROUPE_VERSION);
    printf("  OpenBLAS       %s\n", openblas_get_config());
    printf("  HDF5           %u.%u.%u\n", maj, min, rel);
    printf("  libsndfile     %s\n", sndver);
    printf("  libsamplerate  %s\n", src_get_version());
    printf("  FFTW           %s\n", fftwf_version);
    printf("  libsodium      %s\n", sodium_version_string());
    printf("  libyaml        %s\n", yaml_get_version_string());
    printf("  jansson        %s\n", jansson_version_str());
    printf("  MPI            %s\n", mpiver);
}

/* OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, as it loads: by default its idle threads spin
 * for 2^28 cycles (about 0.1 s) after each threaded GEMM, on the cores the trainer's own
 * threads need next. A spin of 2^12 cycles made the small model's training step 10-20%
 * faster on 2 cores without lowering the sgemm rate (docs/training.md). Unless the variable
 * is set, set it and start again, once; if that fails, go on with OpenBLAS's default. */
static void blas_spin_short(char **argv)
{
    if (getenv("OPENBLAS_THREAD_TIMEOUT"))
        return;
    if (setenv("OPENBLAS_THREAD_TIMEOUT", "12", 1) == 0)
        execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    blas_spin_short(argv);
    int i = 1;
    int verbose = 0;
    bool quiet = false;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) {
            print_version();
            return CLI_OK;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help();
            return CLI_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose++;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            return cli_usage_error("unknown option '%s' (see 'troupe --help')", a);
        }
    }
    core_log_set_level(quiet         ? CORE_LOG_ERROR
                       : verbose > 1 ? CORE_LOG_DEBUG
                       : verbose     ? CORE_LOG_INFO
                                     : CORE_LOG_WARN);
    if (i >= argc) {
        print_help();
        return CLI_USAGE;
    }
    const char *g = argv[i];
    if (!strcmp(g, "help")) {
        print_help();
        return CLI_OK;
    }
    for (size_t k = 0; k < N_GROUPS; k++)
        if (!strcmp(groups[k].name, g))
            return groups[k].run(argc - i, argv + i);
    const char *names[N_GROUPS];
    for (size_t k = 0; k < N_GROUPS; k++)
        names[k] = groups[k].name;
    const char *s = core_suggest(g, names, N_GROUPS);
    if (s)
        return cli_usage_error("unknown group '%s' (did you mean '%s'?)", g, s);
    return cli_usage_error("unknown group '%s' (see 'troupe --help')", g);
}
