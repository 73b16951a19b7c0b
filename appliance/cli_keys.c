/*
 * appliance/cli_keys.c - `huduma` and the key hierarchy: the key options
 * every command shares, opening a register's key holder, and the `keys`
 * command (docs/keys.md, docs/cli.md).
 *
 * Key options come from the flags before the command (--tcti, --pin-file,
 * --insecure-software-key) or the environment (HUDUMA_TCTI, HUDUMA_PIN_FILE).
 * The insecure flag is said out loud on stderr every time it is used.
 *
 *   huduma keys status    the hierarchy (TPM or software, PCRs, PIN, signing
 *                         key handle), the current data-encryption key and
 *                         any re-encryption under way, as JSON
 *   huduma keys rotate    a new data-encryption key; older records are then
 *                         re-encrypted, progress on stderr.  With hudumad
 *                         running, through its control socket (the daemon
 *                         does the work, under load); otherwise here, and
 *                         an interrupted run resumes where it stopped (here,
 *                         or at the daemon's next start).  --pause-ms N
 *                         waits N ms between batches here, to spare the disk
 *   huduma keys public    the audit signing key's public key (PEM)
 */
#include "cli.h"
#include "keyctl.h"

#include "keys/keys.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct keys_options options;

void cli_keys_set(const char *tcti, const char *pin_file, bool insecure_software_key)
{
    options.tcti = tcti && tcti[0] ? tcti : NULL;
    options.pin_file = pin_file && pin_file[0] ? pin_file : NULL;
    options.insecure_software_key = insecure_software_key;
    if (insecure_software_key)
        fprintf(stderr, "huduma: WARNING: --insecure-software-key: the master key is a plain "
                        "file in the register directory, protected by no TPM\n");
}

struct keys_options *cli_keys_options(void)
{
    return &options;
}

int cli_keys_open(const char *dir, struct keyholder **out)
{
    struct keys_err err;
    if (keys_open_holder(dir, &options, out, &err) == KEYS_OK)
        return EXIT_OKAY;
    fprintf(stderr, "huduma: %s\n", err.msg);
    return EXIT_STORAGE;
}

/* ---- progress ------------------------------------------------------------------------- */

static void show_progress(const struct store_rekey *s)
{
    if (!s->running)
        return;
    unsigned pct = s->total ? (unsigned)(s->done * 100 / s->total) : 100;
    if (pct > 100)
        pct = 100;
    if (s->pass <= 1)
        fprintf(stderr, "re-encrypting under key %u: %llu of %llu records (%u%%), %llu re-sealed\n",
                (unsigned)s->target, (unsigned long long)s->done, (unsigned long long)s->total, pct,
                (unsigned long long)s->resealed);
    else
        fprintf(stderr,
                "re-encrypting under key %u: checking for records written during the "
                "walk (pass %u), %llu re-sealed\n",
                (unsigned)s->target, s->pass, (unsigned long long)s->resealed);
}

static void on_progress(void *ctx, const struct store_rekey *s)
{
    struct store_rekey *last = ctx;
    if (s->running)
        *last = *s;
    show_progress(s);
}

/* ---- offline (no daemon) -------------------------------------------------------------- */

struct offline {
    struct keyholder *keys;
    struct reg *r;
};

static int open_offline(const char *dir, struct offline *o)
{
    memset(o, 0, sizeof *o);
    int rc = cli_keys_open(dir, &o->keys);
    if (rc != EXIT_OKAY)
        return rc;
    struct reg_options ro = {.sync = true, .keys = o->keys};
    struct reg_result res = {0};
    if (reg_open(dir, &ro, &o->r, &res) != REG_OK) {
        keys_holder_close(o->keys);
        return cli_report(&res);
    }
    return EXIT_OKAY;
}

static void close_offline(struct offline *o)
{
    reg_close(o->r);
    keys_holder_close(o->keys);
}

static int rotate_offline(const char *dir, unsigned pause_ms)
{
    struct offline o;
    int rc = open_offline(dir, &o);
    if (rc != EXIT_OKAY)
        return rc;
    struct store *st = reg_store(o.r);
    struct store_rekey s, last = {0};
    struct st_err err;
    uint32_t key = 0;
    int src = store_rekey_status(st, &s, &err);
    if (src == ST_OK && s.running) {
        key = s.target;
        fprintf(stderr, "resuming the re-encryption under key %u left unfinished\n", (unsigned)key);
    } else if (src == ST_OK && (src = store_dek_rotate(st, o.keys, &key, &err)) == ST_OK) {
        fprintf(stderr, "data-encryption key %u made: new writes use it\n", (unsigned)key);
    }
    struct reg_result res = {0};
    if (src != ST_OK) {
        fprintf(stderr, "huduma keys rotate: %s\n", err.msg);
        rc = EXIT_STORAGE;
    } else if (keyctl_rekey_run(o.r, pause_ms * 1000u, NULL, on_progress, &last, &res) != REG_OK) {
        rc = cli_report(&res);
    } else {
        cli_print_json(json_pack("{s:i, s:I, s:b}", "key", (int)key, "resealed",
                                 (json_int_t)last.resealed, "daemon", 0));
    }
    close_offline(&o);
    return rc;
}

static json_t *rekey_json(const struct store_rekey *s)
{
    if (!s->running)
        return json_null();
    return json_pack("{s:i, s:i, s:I, s:I, s:I}", "target", (int)s->target, "pass", (int)s->pass,
                     "done", (json_int_t)s->done, "total", (json_int_t)s->total, "resealed",
                     (json_int_t)s->resealed);
}

static json_t *pcr_list(uint32_t mask)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < KEYS_PCR_COUNT; i++)
        if (mask & (1u << i))
            json_array_append_new(a, json_integer(i));
    return a;
}

static int status_offline(const char *dir)
{
    struct offline o;
    int rc = open_offline(dir, &o);
    if (rc != EXIT_OKAY)
        return rc;
    struct keys_info info;
    struct store_rekey s;
    struct st_err err;
    keys_holder_info(o.keys, &info);
    if (store_rekey_status(reg_store(o.r), &s, &err) != ST_OK) {
        fprintf(stderr, "huduma keys status: %s\n", err.msg);
        close_offline(&o);
        return EXIT_STORAGE;
    }
    char handle[16];
    snprintf(handle, sizeof handle, "0x%x", (unsigned)info.signing_handle);
    json_t *out = json_pack("{s:s, s:s, s:o, s:b, s:s, s:i, s:o, s:b}", "master_key",
                            info.software ? "software (insecure)" : "tpm", "tcti", info.tcti,
                            "pcrs", pcr_list(info.pcr_mask), "pin", info.has_pin,
                            "signing_key_handle", info.software ? "" : handle, "current_key",
                            (int)s.current, "rotation", rekey_json(&s), "daemon", 0);
    cli_print_json(out);
    close_offline(&o);
    return EXIT_OKAY;
}

/* ---- through the daemon ---------------------------------------------------------------- */

struct answer {
    int rc;
    unsigned key;
    unsigned long long resealed;
    json_t *status;
};

static unsigned long long field(const char *line, const char *name)
{
    char want[32];
    snprintf(want, sizeof want, " %s=", name);
    const char *p = strstr(line, want);
    return p ? strtoull(p + strlen(want), NULL, 10) : 0;
}

static int on_line(void *ctx, const char *line)
{
    struct answer *a = ctx;
    if (strncmp(line, "event=error ", 12) == 0) {
        fprintf(stderr, "huduma keys: hudumad says: %s\n", line + 12);
        a->rc = EXIT_CONFLICT;
        return 1;
    }
    if (strncmp(line, "event=rotated ", 14) == 0) {
        a->key = (unsigned)field(line, "key");
        fprintf(stderr, "data-encryption key %u made by hudumad: new writes use it\n", a->key);
    } else if (strncmp(line, "event=progress ", 15) == 0) {
        struct store_rekey s = {.running = true,
                                .target = (uint32_t)field(line, "key"),
                                .pass = (unsigned)field(line, "pass"),
                                .done = field(line, "done"),
                                .total = field(line, "total"),
                                .resealed = field(line, "resealed")};
        show_progress(&s);
    } else if (strncmp(line, "event=done ", 11) == 0) {
        a->resealed = field(line, "resealed");
        a->rc = EXIT_OKAY;
        return 1;
    } else if (strncmp(line, "event=status ", 13) == 0) {
        struct store_rekey s = {.running = field(line, "running") != 0,
                                .target = (uint32_t)field(line, "target"),
                                .pass = (unsigned)field(line, "pass"),
                                .done = field(line, "done"),
                                .total = field(line, "total"),
                                .resealed = field(line, "resealed")};
        a->status = json_pack("{s:i, s:o, s:b}", "current_key", (int)field(line, "current"),
                              "rotation", rekey_json(&s), "daemon", 1);
        a->rc = EXIT_OKAY;
        return 1;
    }
    return 0;
}

/* 1: no daemon runs; otherwise the exit code. */
static int ask_daemon(const char *dir, const char *command, struct answer *a)
{
    char err[256];
    memset(a, 0, sizeof *a);
    a->rc = EXIT_STORAGE;
    int rc = keyctl_ask(dir, command, on_line, a, err, sizeof err);
    if (rc == 1)
        return 1;
    if (rc != 0) {
        fprintf(stderr, "huduma keys: %s\n", err);
        return EXIT_STORAGE;
    }
    if (a->rc == EXIT_STORAGE)
        fprintf(stderr, "huduma keys: hudumad closed the connection before answering\n");
    return a->rc;
}

/* ---- the command ------------------------------------------------------------------------ */

static int keys_public(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/keys/signing.pem", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "huduma keys public: cannot read %s\n", path);
        return EXIT_NOTFOUND;
    }
    char buf[KEYS_PUBKEY_PEM_MAX];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    fwrite(buf, 1, n, stdout);
    return EXIT_OKAY;
}

int cli_keys(const char *dir, const struct cli_args *a)
{
    const char *sub = a->npos == 1 ? a->pos[0] : "";
    struct answer ans;
    if (strcmp(sub, "public") == 0)
        return keys_public(dir);
    if (strcmp(sub, "status") == 0) {
        int rc = ask_daemon(dir, "status", &ans);
        if (rc == 1)
            return status_offline(dir);
        if (ans.status)
            cli_print_json(ans.status);
        return rc;
    }
    if (strcmp(sub, "rotate") == 0) {
        const char *pause = cli_opt(a, "pause-ms");
        char *end = NULL;
        unsigned long ms = pause ? strtoul(pause, &end, 10) : 0;
        if (pause && (*pause == '\0' || *end != '\0' || ms > 10000)) {
            fprintf(stderr, "huduma keys rotate: --pause-ms takes 0-10000\n");
            return EXIT_USAGE;
        }
        int rc = ask_daemon(dir, "rotate", &ans);
        if (rc == 1)
            return rotate_offline(dir, (unsigned)ms);
        if (rc == EXIT_OKAY)
            cli_print_json(json_pack("{s:i, s:I, s:b}", "key", (int)ans.key, "resealed",
                                     (json_int_t)ans.resealed, "daemon", 1));
        return rc;
    }
    fprintf(stderr, "usage: huduma keys status|rotate [--pause-ms N]|public\n");
    return EXIT_USAGE;
}
