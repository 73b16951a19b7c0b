/*
 * appliance/main_huduma.c - `huduma`, the operator's and registrar's
 * command-line tool over the register (docs/cli.md).
 *
 * Each subcommand is one function: parse its arguments, open the register,
 * make one call into appliance/register.h, print the answer as JSON on
 * stdout, or the refusal on stderr with an exit code that says its kind.
 * JSON memory is wiped when freed, since records pass through it, and the
 * process leaves no core file (appliance/process.h).
 */
#include "agency.h"
#include "audit.h"
#include "cli.h"
#include "process.h"
#include "synth.h"

#include "keys/keys.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct command {
    const char *name;
    int (*run)(struct reg *r, const struct cli_args *a);
    bool needs_register;
    const char *usage;
    const char *help;
    const char *const *flags;
};

static const char *register_dir(const struct cli_args *a)
{
    const char *d = cli_opt(a, "dir");
    if (!d)
        d = getenv("HUDUMA_DIR");
    return d ? d : "/var/lib/huduma";
}

/* ---- subcommands ---------------------------------------------------------------- */

static int cmd_enrol_or_birth(struct reg *r, const struct cli_args *a, bool birth)
{
    json_t *rec = cli_read_json(a->npos ? a->pos[0] : "-");
    if (!rec)
        return EXIT_INVALID;
    struct enrol_answer ans;
    struct reg_result res = {0};
    int rc = birth ? reg_birth(r, rec, &ans, &res) : reg_enrol(r, rec, &ans, &res);
    json_decref(rec);
    if (rc != REG_OK)
        return cli_report(&res);
    cli_print_json(cli_answer_json(&ans));
    return EXIT_OKAY;
}

static int cmd_enrol(struct reg *r, const struct cli_args *a)
{
    return cmd_enrol_or_birth(r, a, false);
}

static int cmd_birth(struct reg *r, const struct cli_args *a)
{
    return cmd_enrol_or_birth(r, a, true);
}

static int need_hn(const struct cli_args *a)
{
    if (a->npos >= 1)
        return 0;
    fprintf(stderr, "huduma: a Huduma Number is required\n");
    return -1;
}

static int cmd_show(struct reg *r, const struct cli_args *a)
{
    if (need_hn(a))
        return EXIT_USAGE;
    struct person p;
    struct reg_result res = {0};
    json_t *docs = NULL;
    if (reg_get(r, a->pos[0], &p, &res) != REG_OK ||
        reg_documents(r, a->pos[0], &docs, &res) != REG_OK)
        return cli_report(&res);
    json_t *out = person_to_json(&p);
    json_object_set_new(out, "documents_issued", docs);
    cli_print_json(out);
    explicit_bzero(&p, sizeof p);
    return EXIT_OKAY;
}

static struct change_note note_from(const struct cli_args *a)
{
    return (struct change_note){.reason = cli_opt(a, "reason"),
                                .officer = cli_opt(a, "officer"),
                                .evidence = cli_opt(a, "evidence")};
}

static int cmd_correct(struct reg *r, const struct cli_args *a)
{
    if (need_hn(a))
        return EXIT_USAGE;
    json_t *changes = cli_read_json(a->npos > 1 ? a->pos[1] : "-");
    if (!changes)
        return EXIT_INVALID;
    struct change_note note = note_from(a);
    struct reg_result res = {0};
    uint32_t version = 0;
    int rc = reg_correct(r, a->pos[0], changes, &note, &version, &res);
    json_decref(changes);
    if (rc != REG_OK)
        return cli_report(&res);
    cli_print_json(json_pack("{s:s, s:i}", "huduma_number", a->pos[0], "version", version));
    return EXIT_OKAY;
}

static int print_version(void *ctx, const struct person *p, const json_t *change)
{
    (void)ctx;
    json_t *line = json_pack("{s:i, s:O, s:o}", "version", p->version, "change", change, "record",
                             person_to_json(p));
    json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(line);
    return 0;
}

static int cmd_history(struct reg *r, const struct cli_args *a)
{
    if (need_hn(a))
        return EXIT_USAGE;
    struct reg_result res = {0};
    if (reg_history(r, a->pos[0], print_version, NULL, &res) != REG_OK)
        return cli_report(&res);
    return EXIT_OKAY;
}

static int cmd_death(struct reg *r, const struct cli_args *a)
{
    if (need_hn(a))
        return EXIT_USAGE;
    struct change_note note = note_from(a);
    if (!note.reason)
        note.reason = "death registration";
    struct reg_result res = {0};
    if (reg_death(r, a->pos[0], cli_opt(a, "date"), cli_opt(a, "certificate"), &note, &res) !=
        REG_OK)
        return cli_report(&res);
    cli_print_json(json_pack("{s:s, s:s}", "huduma_number", a->pos[0], "status", "deceased"));
    return EXIT_OKAY;
}

static int cmd_document(struct reg *r, const struct cli_args *a)
{
    if (need_hn(a))
        return EXIT_USAGE;
    json_t *doc = cli_read_json(a->npos > 1 ? a->pos[1] : "-");
    if (!doc)
        return EXIT_INVALID;
    struct reg_result res = {0};
    int rc = reg_issue_document(r, a->pos[0], doc, cli_opt(a, "officer"), &res);
    json_decref(doc);
    if (rc != REG_OK)
        return cli_report(&res);
    cli_print_json(json_pack("{s:s, s:s}", "huduma_number", a->pos[0], "result", "recorded"));
    return EXIT_OKAY;
}

static int cmd_lookup(struct reg *r, const struct cli_args *a)
{
    if (a->npos < 1) {
        fprintf(stderr, "huduma: a document number is required\n");
        return EXIT_USAGE;
    }
    char hn[HN_LEN + 1];
    struct reg_result res = {0};
    if (reg_lookup_document(r, cli_opt(a, "type"), a->pos[0], hn, &res) != REG_OK)
        return cli_report(&res);
    cli_print_json(json_pack("{s:s}", "huduma_number", hn));
    return EXIT_OKAY;
}

static int print_due(void *ctx, const char *hn, const char *due)
{
    (void)ctx;
    printf("{\"huduma_number\":\"%s\",\"due\":\"%s\"}\n", hn, due);
    return 0;
}

static int cmd_due(struct reg *r, const struct cli_args *a)
{
    struct reg_result res = {0};
    if (reg_due_biometrics(r, cli_opt(a, "as-of"), print_due, NULL, &res) != REG_OK)
        return cli_report(&res);
    return EXIT_OKAY;
}

static int print_pending(void *ctx, const struct enrol_answer *p)
{
    (void)ctx;
    json_t *o = cli_answer_json(p);
    json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    return 0;
}

static int cmd_pending(struct reg *r, const struct cli_args *a)
{
    (void)a;
    struct reg_result res = {0};
    if (reg_pending(r, print_pending, NULL, &res) != REG_OK)
        return cli_report(&res);
    return EXIT_OKAY;
}

static int cmd_adjudicate(struct reg *r, const struct cli_args *a)
{
    const char *same = cli_opt(a, "same-as");
    if (a->npos < 1 || (!same == !cli_flag(a, "different"))) {
        fprintf(stderr, "huduma: give an enrolment id and one of --same-as HN or --different\n");
        return EXIT_USAGE;
    }
    struct change_note note = note_from(a);
    struct enrol_answer ans;
    struct reg_result res = {0};
    if (reg_adjudicate(r, a->pos[0], same, &note, &ans, &res) != REG_OK)
        return cli_report(&res);
    cli_print_json(cli_answer_json(&ans));
    return EXIT_OKAY;
}

static int cmd_status(struct reg *r, const struct cli_args *a)
{
    if (a->npos < 1) {
        fprintf(stderr, "huduma: an enrolment id is required\n");
        return EXIT_USAGE;
    }
    struct enrol_answer ans;
    struct reg_result res = {0};
    if (reg_enrolment_status(r, a->pos[0], &ans, &res) != REG_OK)
        return cli_report(&res);
    cli_print_json(cli_answer_json(&ans));
    return EXIT_OKAY;
}

static int cmd_import(struct reg *r, const struct cli_args *a)
{
    if (a->npos < 1) {
        fprintf(stderr, "huduma: a JSON-lines file is required (- for stdin)\n");
        return EXIT_USAGE;
    }
    const char *t = cli_opt(a, "threads");
    int threads = t ? atoi(t) : 16;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "huduma: --threads must be 1-64\n");
        return EXIT_USAGE;
    }
    const char *officer = cli_opt(a, "officer");
    return cli_import(r, a->pos[0], threads, officer ? officer : "bulk-import",
                      cli_flag(a, "acks"));
}

static int cmd_synth(struct reg *r, const struct cli_args *a)
{
    (void)r;
    struct synth_opts o;
    synth_opts_default(&o);
    /* Ages are taken on today's date in Kenya (EAT), as the register takes them. */
    o.as_of = (int64_t)((time(NULL) + 3 * 3600) / 86400 * 86400);
    const char *v;
    if ((v = cli_opt(a, "seed")))
        o.seed = strtoull(v, NULL, 0);
    if ((v = cli_opt(a, "count")))
        o.count = strtoull(v, NULL, 0);
    if ((v = cli_opt(a, "prefix")))
        o.kit_prefix = v;
    if ((v = cli_opt(a, "as-of"))) {
        struct date d;
        bool yo;
        if (date_parse(v, &d, &yo) != 0 || yo) {
            fprintf(stderr, "huduma: --as-of: expected a date YYYY-MM-DD\n");
            return EXIT_USAGE;
        }
        struct tm tm = {.tm_year = d.year - 1900, .tm_mon = d.month - 1, .tm_mday = d.day};
        o.as_of = (int64_t)timegm(&tm);
    }
    if (cli_flag(a, "no-biometrics"))
        o.biometrics = false;
    if (cli_flag(a, "no-events"))
        o.birth_per_mille = o.death_per_mille = o.dup_per_mille = 0;
    char err[256];
    if (synth_write(stdout, &o, err, sizeof err) != 0) {
        fprintf(stderr, "huduma synth: %s\n", err);
        return EXIT_STORAGE;
    }
    return EXIT_OKAY;
}

/* --pcrs 7 or --pcrs 0,2,7: the PCRs the master key is sealed to. */
static int parse_pcrs(const char *text, uint32_t *mask)
{
    *mask = 0;
    for (const char *p = text; p && *p;) {
        char *end;
        unsigned long n = strtoul(p, &end, 10);
        if (end == p || n >= KEYS_PCR_COUNT || (*end != ',' && *end != '\0'))
            return -1;
        *mask |= 1u << n;
        p = *end ? end + 1 : end;
    }
    return *mask ? 0 : -1;
}

static int cmd_init(struct reg *r, const struct cli_args *a)
{
    (void)r;
    struct reg_result res = {0};
    const char *dir = register_dir(a);
    struct keys_options *ko = cli_keys_options();
    if (cli_opt(a, "pcrs") && parse_pcrs(cli_opt(a, "pcrs"), &ko->pcr_mask) != 0) {
        fprintf(stderr, "huduma init: --pcrs takes PCR numbers 0-23, e.g. 7 or 0,2,7\n");
        return EXIT_USAGE;
    }
    if (cli_opt(a, "pin-file"))
        ko->pin_file = cli_opt(a, "pin-file");
    struct keyholder *keys = NULL;
    if (reg_init(dir, ko, &keys, &res) != REG_OK)
        return cli_report(&res);
    char err[512];
    int rc = ca_init(dir, keys, err, sizeof err);
    keys_holder_close(keys);
    if (rc != 0) {
        fprintf(stderr, "huduma init: the register was created, but not its CA: %s\n", err);
        return cli_exit_code(rc);
    }
    printf("initialised a new register in %s: its master key %s, its agency CA and server "
           "certificate\n",
           dir, ko->insecure_software_key ? "in a plain file (insecure)" : "sealed in the TPM");
    return EXIT_OKAY;
}

/* An act on the register recorded in its audit log (docs/audit.md): spooled
 * at once, then appended here when no hudumad holds the register (hudumad
 * appends it otherwise).  The act is done already: a failure is reported but
 * does not undo it. */
static int record_act(const char *cmd, const char *dir, const char *op, const char *target,
                      const char *purpose)
{
    char err[512];
    if (audit_admin_record(dir, op, target, purpose, err, sizeof err) != 0) {
        fprintf(stderr, "huduma %s: done, but NOT recorded in the audit log: %s\n", cmd, err);
        return EXIT_STORAGE;
    }
    unsigned n = 0;
    if (!audit_register_busy(dir) && audit_spool_flush(dir, &n, err, sizeof err) != 0)
        fprintf(stderr, "huduma %s: recorded in the audit spool, not yet in the log: %s\n", cmd,
                err);
    return EXIT_OKAY;
}

/* ---- agencies and the CA (docs/agencies.md): no database, only files -------------- */

/* Refuses options other than `allowed` (and --dir), so a misspelt one is not ignored. */
static int only_options(const struct cli_args *a, const char *cmd, const char *const *allowed)
{
    for (int i = 0; i < a->nopt; i++) {
        bool ok = strcmp(a->opt_name[i], "dir") == 0;
        for (const char *const *o = allowed; *o && !ok; o++)
            ok = strcmp(a->opt_name[i], *o) == 0;
        if (!ok) {
            fprintf(stderr, "huduma %s: unknown option --%s\n", cmd, a->opt_name[i]);
            return -1;
        }
    }
    return 0;
}

static int agency_fail(const char *cmd, int rc, const char *err)
{
    fprintf(stderr, "huduma %s: %s\n", cmd, err);
    return cli_exit_code(rc);
}

/* The names of enum role (agency.h) in bit order; each is checked against
 * roles_parse(), so a name out of step is never printed for the wrong role. */
static json_t *roles_json(unsigned roles)
{
    static const char *const names[] = {"registration", "verifier", "kyc",      "adjudicator",
                                        "auditor",      "operator", "registrar"};
    json_t *arr = json_array();
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        unsigned bit = 0;
        if ((roles & (1u << i)) && roles_parse(names[i], &bit, NULL, 0) == 0 && bit == (1u << i))
            json_array_append_new(arr, json_string(names[i]));
    }
    return arr;
}

static json_t *agency_json(const struct agency *ag)
{
    json_t *attrs = json_array();
    for (unsigned i = 0; i < ag->nattrs; i++)
        json_array_append_new(attrs, json_string(ag->attrs[i]));
    return json_pack("{s:s, s:o, s:o, s:s, s:b}", "name", ag->name, "roles", roles_json(ag->roles),
                     "attributes", attrs, "serial", ag->serial, "revoked", ag->revoked);
}

static int print_agency(void *ctx, const struct agency *ag)
{
    (void)ctx;
    json_t *line = agency_json(ag);
    json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(line);
    return 0;
}

static int keep_agency(void *ctx, const struct agency *ag)
{
    struct agency *want = ctx;
    if (strcmp(want->name, ag->name) == 0)
        *want = *ag;
    return 0;
}

static int cmd_agency_add(const struct cli_args *a)
{
    static const char *const opts[] = {"role", "attributes", "out", NULL};
    const char *roles_text = cli_opt(a, "role");
    if (only_options(a, "agency add", opts) != 0 || a->npos != 2 || !roles_text) {
        fprintf(stderr, "huduma agency add: give a NAME and --role ROLE[,ROLE...]\n");
        return EXIT_USAGE;
    }
    const char *out = cli_opt(a, "out") ? cli_opt(a, "out") : ".";
    char err[512];
    unsigned roles = 0;
    int rc = roles_parse(roles_text, &roles, err, sizeof err);
    struct keyholder *keys = NULL;
    if (rc == 0 && cli_keys_open(register_dir(a), &keys) != EXIT_OKAY)
        return EXIT_STORAGE;
    if (rc == 0)
        rc = agency_add(register_dir(a), keys, a->pos[1], roles, cli_opt(a, "attributes"), out, err,
                        sizeof err);
    keys_holder_close(keys);
    if (rc != 0)
        return agency_fail("agency add", rc, err);
    struct agency added = {.roles = roles};
    snprintf(added.name, sizeof added.name, "%s", a->pos[1]);
    agency_list(register_dir(a), keep_agency, &added, err, sizeof err);
    json_t *answer = agency_json(&added);
    json_object_set_new(answer, "certificate", json_sprintf("%s/%s.crt", out, added.name));
    json_object_set_new(answer, "key", json_sprintf("%s/%s.key", out, added.name));
    cli_print_json(answer);
    char purpose[128];
    snprintf(purpose, sizeof purpose, "huduma agency add --role %s", roles_text);
    return record_act("agency add", register_dir(a), "agency_add", a->pos[1], purpose);
}

static int cmd_agency_list(const struct cli_args *a)
{
    static const char *const opts[] = {NULL};
    if (only_options(a, "agency list", opts) != 0 || a->npos != 1) {
        fprintf(stderr, "usage: huduma agency list\n");
        return EXIT_USAGE;
    }
    char err[512];
    int rc = agency_list(register_dir(a), print_agency, NULL, err, sizeof err);
    return rc == 0 ? EXIT_OKAY : agency_fail("agency list", rc, err);
}

static int cmd_agency_revoke(const struct cli_args *a)
{
    static const char *const opts[] = {NULL};
    if (only_options(a, "agency revoke", opts) != 0 || a->npos != 2) {
        fprintf(stderr, "usage: huduma agency revoke NAME\n");
        return EXIT_USAGE;
    }
    char err[512];
    int rc = agency_revoke(register_dir(a), a->pos[1], err, sizeof err);
    if (rc != 0)
        return agency_fail("agency revoke", rc, err);
    cli_print_json(json_pack("{s:s, s:b}", "name", a->pos[1], "revoked", 1));
    return record_act("agency revoke", register_dir(a), "agency_revoke", a->pos[1],
                      "huduma agency revoke");
}

static int cmd_agency(struct reg *r, const struct cli_args *a)
{
    (void)r;
    static const struct {
        const char *name;
        int (*run)(const struct cli_args *a);
    } subs[] = {{"add", cmd_agency_add}, {"list", cmd_agency_list}, {"revoke", cmd_agency_revoke}};
    for (size_t i = 0; a->npos > 0 && i < sizeof subs / sizeof *subs; i++)
        if (strcmp(a->pos[0], subs[i].name) == 0)
            return subs[i].run(a);
    fprintf(stderr, "huduma agency: give add, list or revoke (huduma agency --help)\n");
    return EXIT_USAGE;
}

static int cmd_ca(struct reg *r, const struct cli_args *a)
{
    (void)r;
    static const char *const opts[] = {NULL};
    if (only_options(a, "ca", opts) != 0 || a->npos != 1 || strcmp(a->pos[0], "init") != 0) {
        fprintf(stderr, "usage: huduma ca init\n");
        return EXIT_USAGE;
    }
    char err[512];
    const char *dir = register_dir(a);
    struct keyholder *keys = NULL;
    if (cli_keys_open(dir, &keys) != EXIT_OKAY)
        return EXIT_STORAGE;
    int rc = ca_init(dir, keys, err, sizeof err);
    keys_holder_close(keys);
    if (rc != 0)
        return agency_fail("ca init", rc, err);
    printf("the agency CA (%s/ca) and server certificate (%s/tls) are in place\n", dir, dir);
    return EXIT_OKAY;
}

static int cmd_keys(struct reg *r, const struct cli_args *a)
{
    (void)r;
    int rc = cli_keys(register_dir(a), a);
    if (rc == EXIT_OKAY && a->npos == 1 && strcmp(a->pos[0], "rotate") == 0)
        return record_act("keys rotate", register_dir(a), "key_rotate", "data-encryption key",
                          "huduma keys rotate");
    return rc;
}

static int cmd_ratelimit(struct reg *r, const struct cli_args *a)
{
    (void)r;
    return cli_ratelimit(a);
}

/* A command that opened the register is an access like any other: recorded in
 * the audit log (agency "@cli", the person it named), with what the spool
 * holds.  A command that could not be recorded fails, though it ran. */
static int record_cli(struct reg *r, const char *name, const struct cli_args *a, int code)
{
    static const int status[] = {
        [EXIT_OKAY] = 200,     [EXIT_USAGE] = 400,   [EXIT_INVALID] = 400, [EXIT_CONFLICT] = 409,
        [EXIT_NOTFOUND] = 404, [EXIT_STORAGE] = 500, [EXIT_BUSY] = 503};
    char purpose[128], err[512];
    const char *reason = cli_opt(a, "reason");
    snprintf(purpose, sizeof purpose, "huduma %s%s%s", name, reason ? ": " : "",
             reason ? reason : "");
    int result = code >= 0 && code <= EXIT_BUSY ? status[code] : 500;
    if (audit_cli_record(r, register_dir(a), name, a->npos ? a->pos[0] : NULL, purpose, result, err,
                         sizeof err) == 0)
        return code;
    fprintf(stderr, "huduma %s: done, but NOT recorded in the audit log: %s\n", name, err);
    return code == EXIT_OKAY ? EXIT_STORAGE : code;
}

/* ---- dispatch ------------------------------------------------------------------ */

static const char *const no_flags[] = {NULL};
static const char *const import_flags[] = {"acks", "no-sync", NULL};
static const char *const synth_flags[] = {"no-biometrics", "no-events", NULL};
static const char *const adjudicate_flags[] = {"different", NULL};

static const struct command commands[] = {
    {"init", cmd_init, false, "init [--pcrs N[,N...]] [--pin-file FILE]",
     "create a new register (master key sealed in the TPM to PCRs, default 7, and an optional "
     "PIN; database; agency CA and server certificate)",
     no_flags},
    {"keys", cmd_keys, false, "keys status|rotate [--pause-ms N]|public",
     "the key hierarchy: its state, a new data-encryption key (older records re-encrypted, "
     "progress shown), the audit signing key's public key (docs/keys.md)",
     no_flags},
    {"enrol", cmd_enrol, true, "enrol [FILE|-]", "enrol a person from a JSON record", no_flags},
    {"show", cmd_show, true, "show HN", "print a person's current record", no_flags},
    {"correct", cmd_correct, true, "correct HN [FILE|-] --reason R --officer O --evidence E",
     "change fields of a record (JSON object of the members to replace)", no_flags},
    {"history", cmd_history, true, "history HN", "every version of a record, oldest first",
     no_flags},
    {"birth", cmd_birth, true, "birth [FILE|-]",
     "register a birth (a child under 6 with parents.mother)", no_flags},
    {"death", cmd_death, true,
     "death HN --date YYYY-MM-DD --certificate NUMBER --officer O [--reason R]",
     "record a death; the record stays, marked deceased", no_flags},
    {"document", cmd_document, true, "document HN [FILE|-] --officer O",
     "record a document issued to a person ({\"type\",\"number\",\"issuer\",\"issued\"})",
     no_flags},
    {"lookup", cmd_lookup, true, "lookup NUMBER [--type TYPE]",
     "find the person holding a document number", no_flags},
    {"due-biometrics", cmd_due, true, "due-biometrics [--as-of YYYY-MM-DD]",
     "children who turned 6 and await biometric capture", no_flags},
    {"pending", cmd_pending, true, "pending", "enrolments held for adjudication", no_flags},
    {"adjudicate", cmd_adjudicate, true,
     "adjudicate ENROLMENT_ID (--same-as HN | --different) --officer O --reason R",
     "decide a possible duplicate", adjudicate_flags},
    {"status", cmd_status, true, "status ENROLMENT_ID", "the answer given to an enrolment id",
     no_flags},
    {"import", cmd_import, true, "import FILE|- [--threads N] [--officer O] [--acks] [--no-sync]",
     "bulk import of a JSON-lines file of enrol/birth/death operations", import_flags},
    {"synth", cmd_synth, false,
     "synth [--seed N] [--count N] [--as-of YYYY-MM-DD] [--prefix P] [--no-biometrics] "
     "[--no-events]",
     "write synthetic test people as JSON lines for import", synth_flags},
    {"agency", cmd_agency, false,
     "agency add NAME --role ROLE[,ROLE...] [--attributes MEMBER[,MEMBER...]] [--out DIR]\n"
     "       huduma agency list\n"
     "       huduma agency revoke NAME",
     "agencies: issue a client certificate with roles, list, revoke (docs/agencies.md)", no_flags},
    {"ca", cmd_ca, false, "ca init",
     "create the agency CA and the server certificate of an existing register if absent", no_flags},
    {"ratelimit", cmd_ratelimit, false,
     "ratelimit status\n"
     "       huduma ratelimit set CLASS [--rate N] [--burst N] [--syn-rate N] [--syn-burst N]\n"
     "                                  [--network PREFIX]... [--remove-network PREFIX]...\n"
     "       huduma ratelimit ban PREFIX [--for SECONDS]\n"
     "       huduma ratelimit unban PREFIX\n"
     "       huduma ratelimit top [--count N] [--by dropped|passed]\n"
     "       (each takes --instance NAME when several hudumad run)",
     "the running daemon's XDP rate limiter: counters, rates, bans (docs/ratelimit.md)", no_flags},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static void usage(FILE *f)
{
    fprintf(f, "usage: huduma [--dir DIR] [--tcti TCTI] [--pin-file FILE] "
               "[--insecure-software-key]\n              COMMAND [ARGS]\n"
               "  DIR: $HUDUMA_DIR, else /var/lib/huduma; TCTI ($HUDUMA_TCTI): where the TPM "
               "is,\n  default /dev/tpmrm0, else DIR/tpm/swtpm.sock; FILE ($HUDUMA_PIN_FILE): "
               "the PIN (docs/keys.md)\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`huduma COMMAND --help` for a command's arguments.\n");
}

/* JSON trees hold personal data: wipe every block jansson frees. */
static void wiping_free(void *p)
{
    if (p) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

static int run(const struct command *c, int argc, char **argv)
{
    struct cli_args a;
    const char *bad = NULL;
    if (cli_parse(argc, argv, c->flags, &a, &bad) != 0) {
        fprintf(stderr, "huduma %s: bad argument '%s'\nusage: huduma %s\n", c->name, bad, c->usage);
        return EXIT_USAGE;
    }
    struct reg *r = NULL;
    struct keyholder *keys = NULL;
    if (c->needs_register) {
        int rc = cli_keys_open(register_dir(&a), &keys);
        if (rc != EXIT_OKAY)
            return rc;
        struct reg_options o = {.sync = !cli_flag(&a, "no-sync"), .keys = keys};
        struct reg_result res = {0};
        if (reg_open(register_dir(&a), &o, &r, &res) != REG_OK) {
            keys_holder_close(keys);
            return cli_report(&res);
        }
    }
    int code = c->run(r, &a);
    if (r)
        code = record_cli(r, c->name, &a, code);
    reg_close(r);
    keys_holder_close(keys);
    return code;
}

int main(int argc, char **argv)
{
    /* records and keys pass through this process: no core file of it */
    if (process_no_core_dumps() != 0) {
        perror("huduma: cannot turn core dumps off");
        return EXIT_STORAGE;
    }
    if (process_raise_open_files() != 0)
        perror("huduma: cannot raise the open files limit; going on");
    json_set_alloc_funcs(malloc, wiping_free);
    /* leading --dir, --tcti, --pin-file, --insecure-software-key apply to every command */
    const char *dir = NULL, *tcti = getenv("HUDUMA_TCTI"), *pin = getenv("HUDUMA_PIN_FILE");
    bool insecure = false;
    int i = 1;
    for (; i < argc; i++) {
        const char **value = strcmp(argv[i], "--dir") == 0        ? &dir
                             : strcmp(argv[i], "--tcti") == 0     ? &tcti
                             : strcmp(argv[i], "--pin-file") == 0 ? &pin
                                                                  : NULL;
        if (value && i + 1 < argc)
            *value = argv[++i];
        else if (strcmp(argv[i], "--insecure-software-key") == 0)
            insecure = true;
        else
            break;
    }
    if (dir)
        setenv("HUDUMA_DIR", dir, 1);
    cli_keys_set(tcti, pin, insecure);
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? EXIT_USAGE : EXIT_OKAY;
    }
    for (size_t c = 0; c < NCOMMANDS; c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        for (int j = i + 1; j < argc; j++)
            if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
                printf("usage: huduma %s\n%s\n", commands[c].usage, commands[c].help);
                return EXIT_OKAY;
            }
        return run(&commands[c], argc - i - 1, argv + i + 1);
    }
    fprintf(stderr, "huduma: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return EXIT_USAGE;
}
