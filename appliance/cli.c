/*
 * appliance/cli.c - the plumbing under `huduma`: argument parsing, JSON input
 * and output, and mapping the register's result codes to exit codes and
 * messages on stderr.  Messages name the field at fault and never print
 * personal data.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

int cli_parse(int argc, char **argv, const char *const *flags, struct cli_args *a, const char **bad)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || strcmp(s, "-") == 0) {
            if (a->npos == 8)
                return *bad = s, -1;
            a->pos[a->npos++] = s;
            continue;
        }
        if (a->nopt == 16)
            return *bad = s, -1;
        bool is_flag = false;
        for (const char *const *f = flags; f && *f; f++)
            is_flag |= strcmp(*f, s + 2) == 0;
        a->opt_name[a->nopt] = s + 2;
        if (!is_flag) {
            if (i + 1 >= argc)
                return *bad = s, -1;
            a->opt_value[a->nopt] = argv[++i];
        }
        a->nopt++;
    }
    return 0;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
    for (int i = 0; i < a->nopt; i++)
        if (strcmp(a->opt_name[i], name) == 0)
            return a->opt_value[i];
    return NULL;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
    for (int i = 0; i < a->nopt; i++)
        if (strcmp(a->opt_name[i], name) == 0)
            return true;
    return false;
}

json_t *cli_read_json(const char *path)
{
    FILE *f = (!path || strcmp(path, "-") == 0) ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "huduma: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (f != stdin)
        fclose(f);
    if (!v)
        fprintf(stderr, "huduma: malformed JSON at line %d, column %d: %s\n", jerr.line,
                jerr.column, jerr.text);
    return v;
}

int cli_exit_code(int reg_code)
{
    switch (reg_code) {
    case REG_OK:
        return EXIT_OKAY;
    case REG_EINVALID:
        return EXIT_INVALID;
    case REG_ECONFLICT:
        return EXIT_CONFLICT;
    case REG_ENOTFOUND:
        return EXIT_NOTFOUND;
    case REG_EBUSY:
        return EXIT_BUSY;
    default:
        return EXIT_STORAGE;
    }
}

int cli_report(const struct reg_result *res)
{
    if (res->field[0])
        fprintf(stderr, "huduma: %s: %s\n", res->field, res->msg);
    else
        fprintf(stderr, "huduma: %s\n", res->msg);
    return cli_exit_code(res->code);
}

void cli_print_json(json_t *obj)
{
    json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(obj);
}

json_t *cli_answer_json(const struct enrol_answer *a)
{
    return enrol_answer_json(a, true);
}
