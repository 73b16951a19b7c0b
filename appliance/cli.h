/*
 * appliance/cli.h - what the `huduma` subcommands share: option parsing,
 * reading JSON input, printing answers and errors, and exit codes.
 */
#ifndef HUDUMA_CLI_H
#define HUDUMA_CLI_H

#include "register.h"

#include <jansson.h>
#include <stdio.h>

/* Exit codes of `huduma` (docs/cli.md). */
enum cli_exit {
    EXIT_OKAY = 0,
    EXIT_USAGE = 1,
    EXIT_INVALID = 2,  /* the input was refused: nothing changed */
    EXIT_CONFLICT = 3, /* a rule of the register: nothing changed */
    EXIT_NOTFOUND = 4,
    EXIT_STORAGE = 5, /* database, keys or I/O */
    EXIT_BUSY = 6,
};

/* Named options after the subcommand: --name value, or --flag. */
struct cli_args {
    int npos;
    const char *pos[8];
    int nopt;
    const char *opt_name[16];
    const char *opt_value[16]; /* NULL for a flag */
};

int cli_parse(int argc, char **argv, const char *const *flags, struct cli_args *a,
              const char **bad);
const char *cli_opt(const struct cli_args *a, const char *name);
bool cli_flag(const struct cli_args *a, const char *name);

/* Reads one JSON value from a file ("-" or NULL: stdin); prints a clear error on failure. */
json_t *cli_read_json(const char *path);

int cli_exit_code(int reg_code);
int cli_report(const struct reg_result *res);
void cli_print_json(json_t *obj); /* prints and decrefs */
json_t *cli_answer_json(const struct enrol_answer *a);

/* `huduma ratelimit ...` (appliance/cli_ratelimit.c); a->pos[0] is the subcommand. */
int cli_ratelimit(const struct cli_args *a);

/* Keys (appliance/cli_keys.c): the key options of the flags before the
 * command (or the environment); opening a register's key holder (0, or an
 * exit code after printing why); `huduma keys status|rotate|public`. */
struct keyholder;
void cli_keys_set(const char *tcti, const char *pin_file, bool insecure_software_key);
struct keys_options *cli_keys_options(void);
int cli_keys_open(const char *dir, struct keyholder **out);
int cli_keys(const char *dir, const struct cli_args *a);

/* Bulk import of a JSON-lines file (appliance/import.c). */
int cli_import(struct reg *r, const char *path, int threads, const char *officer, bool acks);

#endif
