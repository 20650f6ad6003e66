/* The troupe command line: option parsing, help text, exit codes, and the command groups.
 * This is the only code that prints errors or chooses an exit status.
 *
 * Dependencies: cli -> core and every module's public header. */
#ifndef TROUPE_CLI_H
#define TROUPE_CLI_H

#include "core/core.h"
#include "persona/persona.h"

/* Exit codes: 0 ok, 1 the work failed (bad data, failed check), 2 usage or unreadable
 * input (bad arguments, a missing or malformed file or config). */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef enum cli_opt_kind {
    CLI_FLAG, /* bool */
    CLI_STR,  /* const char * */
    CLI_INT,  /* int64_t */
    CLI_LIST, /* cli_list: repeatable */
} cli_opt_kind;

typedef struct cli_list {
    const char **items;
    size_t n;
} cli_list;

typedef struct cli_opt {
    const char *name; /* long name without dashes */
    char short_name;  /* 0 if none */
    cli_opt_kind kind;
    void *dest;
    const char *metavar;
    const char *help;
} cli_opt;

typedef struct cli_spec {
    const char *name;    /* "persona build": the prefix of every message */
    const char *usage;   /* "troupe persona build --roles DIR -o FILE [options]" */
    const char *summary; /* one paragraph on what the command does */
    const cli_opt *opts;
    size_t n_opts;
    size_t min_pos, max_pos; /* positional argument counts */
    const char *epilog;      /* examples, printed after the options */
} cli_spec;

/* Parses argv[1..] against `spec`: options anywhere, "--" ends them. -h/--help prints the
 * help and sets *exit_now = CLI_OK; errors print one line and set *exit_now = CLI_USAGE.
 * -v/--verbose and -q/--quiet are accepted by every command. Positional arguments are
 * returned in *pos (pointers into argv; the array is malloc'd). Returns true to go on. */
bool cli_parse(const cli_spec *spec, int argc, char **argv, const char ***pos, size_t *npos,
               int *exit_now);
void cli_list_free(cli_list *l);

/* Prints "troupe: <message>" for a failed status and returns its exit code. */
int cli_fail(core_status st);
/* After a run that may be one rank of several under mpirun: a failure stops the whole job
 * (the others may be waiting for this rank); otherwise MPI is finalised. Returns whether
 * this rank reports the result (rank 0); *nranks gets the number of ranks. */
bool cli_dist_done(core_status st, int *nranks);
int cli_exit_code(core_status st);
/* Prints the first `max` problems of a list (one "troupe: <problem>" line each) and how many
 * more there are; returns the count. */
int cli_print_problems(const persona_problems *p, size_t max);
/* Prints "troupe: <formatted>" and returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A group's commands and the dispatcher that picks one (or prints the group's help). */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;
int cli_dispatch(const char *group, const char *summary, const cli_command *cmds, size_t n,
                 int argc, char **argv);

/* Config kinds the CLI knows, for `troupe config` and --print-config. */
const core_cfg_schema *cli_config_kind(const char *name);
const core_cfg_schema *const *cli_config_kinds(size_t *n);

/* The options every configurable command takes: --config FILE, --set KEY=VALUE (repeated),
 * --print-config. */
typedef struct cli_config_opts {
    const char *config;
    cli_list sets;
    bool print;
} cli_config_opts;
#define CLI_CONFIG_OPTS(c)                                                                         \
    {"config", 'c', CLI_STR, &(c).config, "FILE", "YAML config layered over the defaults"},        \
        {"set",     0,           CLI_LIST,                                                         \
         &(c).sets, "KEY=VALUE", "override one config key (repeatable), e.g. --set seed=7"},       \
    {                                                                                              \
        "print-config", 0, CLI_FLAG, &(c).print, NULL,                                             \
            "print the effective config as YAML and exit"                                          \
    }
/* Loads the config for `schema` from `c` (and frees c->sets). Returns CLI_OK to go on, or
 * an exit code after printing the error; with --print-config it prints the config, frees
 * it and sets *done (the caller then exits with CLI_OK). */
int cli_config_load(const core_cfg_schema *schema, cli_config_opts *c, void *out, bool *done);

/* Groups. */
int cli_config_main(int argc, char **argv);
int cli_persona_main(int argc, char **argv);
int cli_data_main(int argc, char **argv);
int cli_train_main(int argc, char **argv);
int cli_rlhf_main(int argc, char **argv);
/* troupe eval (cli/cmd_eval.c). */
int cli_eval_main(int argc, char **argv);
/* troupe rlhf synth-prefs, ingest-prefs and judge (cli/cmd_rlhf_data.c); argv[1] is the
 * command. cli_rlhf_main hands it every command that is not a training run. */
int cli_rlhf_data_main(int argc, char **argv);
int cli_generate_main(int argc, char **argv);

#endif
