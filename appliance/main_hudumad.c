/*
 * appliance/main_hudumad.c - `hudumad`, the appliance's daemon: the v1 API
 * over HTTPS with mutual TLS (docs/configuration.md).
 *
 *   hudumad [--config FILE]        serve until SIGTERM or SIGINT, then drain
 *   hudumad --check-config FILE    validate the file and its TLS files
 *   hudumad --help
 *
 * Start-up order: no core dumps (the process holds keys and personal data),
 * signals blocked before any thread exists, configuration, the key process
 * (forked first; it unseals the master key, or the daemon stops there having
 * touched nothing: daemon_keys.c), the XDP rate limiter (when [ratelimit]
 * names an interface; without CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN the
 * daemon serves anyway and logs that rate limiting is off), which is the
 * last thing that needs a capability; then this process loses its way to the
 * TPM and every capability (daemon_keys_confine), still one thread, since
 * both a user namespace and capabilities are per thread; then the register
 * (its keys asked of the key process), key rotation (keyctl.c: the control
 * socket and the background re-encryption), the agency registry, the audit
 * log (refused when it no longer extends its last signed checkpoint; its
 * fold thread and checkpointer start with the server and stop after it has
 * drained, signing a last checkpoint; the key process signs), the metrics,
 * the API and the server.
 * Everything is closed in the reverse order after the server has drained:
 * the limiter is detached and its pins removed once the server is gone.
 */
#include "agency.h"
#include "api.h"
#include "audit.h"
#include "config.h"
#include "daemon_keys.h"
#include "kernel-bpf/kernel-bpf.h"
#include "keyctl.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "register.h"
#include "server.h"
#include "tls.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: hudumad [--config FILE] [--insecure-software-key]\n"
    "       hudumad --check-config FILE [--insecure-software-key]\n"
    "       hudumad --help\n"
    "\n"
    "Serves the Huduma appliance's v1 API over HTTPS (TLS 1.3, client certificates\n"
    "issued by the appliance's agency CA) until SIGTERM or SIGINT, then finishes the\n"
    "requests in flight and exits 0.\n"
    "\n"
    "  --config FILE        the configuration (INI; every key and its default:\n"
    "                       docs/configuration.md); without it, the defaults\n"
    "  --check-config FILE  parse and validate FILE, check that the TLS certificate,\n"
    "                       key and CA load and match; print \"configuration ok\" or\n"
    "                       the errors, exit 0 or 1\n"
    "  --insecure-software-key\n"
    "                       the register's master key is a plain file, made by\n"
    "                       `huduma --insecure-software-key init` on a machine without\n"
    "                       any TPM; never on the appliance (docs/keys.md)\n"
    "  --help               this text\n";

/* A TLS key wrapped by the master key is checked by unsealing it here. */
static struct keyholder *check_holder(const struct config *cfg, bool insecure)
{
    struct keys_options o;
    struct keys_err kerr;
    struct keyholder *h = NULL;
    daemon_keys_options(cfg, insecure, &o);
    if (keys_open_holder(cfg->register_dir, &o, &h, &kerr) != KEYS_OK) {
        fprintf(stderr, "cannot unseal the master key to check the TLS key: %s\n", kerr.msg);
        return NULL;
    }
    tls_use_key_holder(h);
    return h;
}

static int check_config(const char *path, bool insecure)
{
    struct config cfg;
    struct config_errors errs;
    if (config_load(path, &cfg, &errs) != 0) {
        for (unsigned i = 0; i < errs.count && i < CONFIG_MAX_ERRORS; i++)
            fprintf(stderr, "%s\n", errs.text[i]);
        if (errs.count > CONFIG_MAX_ERRORS)
            fprintf(stderr, "%s: %u more errors\n", path, errs.count - CONFIG_MAX_ERRORS);
        return EXIT_FAILURE;
    }
    int rc = EXIT_SUCCESS;
    struct stat st;
    if (stat(cfg.register_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: register_dir %s: not a directory\n", path, cfg.register_dir);
        rc = EXIT_FAILURE;
    }
    char err[512];
    SSL_CTX *ctx;
    struct keyholder *keys = rc == EXIT_SUCCESS ? check_holder(&cfg, insecure) : NULL;
    if (tls_context_new(&cfg, &ctx, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        rc = EXIT_FAILURE;
    } else {
        SSL_CTX_free(ctx);
    }
    tls_use_key_holder(NULL);
    keys_holder_close(keys);
    if (rc == EXIT_SUCCESS)
        printf("configuration ok\n");
    return rc;
}

static int load_config(const char *path, struct config *cfg)
{
    if (!path) {
        config_defaults(cfg);
        return 0;
    }
    struct config_errors errs;
    if (config_load(path, cfg, &errs) == 0)
        return 0;
    char clean[CONFIG_ERROR_LEN];
    for (unsigned i = 0; i < errs.count && i < CONFIG_MAX_ERRORS; i++)
        log_error("invalid configuration", "error=\"%s\"",
                  log_clean(errs.text[i], clean, sizeof clean));
    return -1;
}

/* The XDP rate limiter, or NULL when rate limiting is off (and says why). */
static struct rl *start_ratelimit(const struct rl_settings *s)
{
    if (!s->interface[0]) {
        log_info("rate limiting is off", "reason=\"no interface in [ratelimit]\"");
        return NULL;
    }
    char note[768], err[512], clean[768];
    struct rl *rl = NULL;
    if (rl_start(s, &rl, note, sizeof note, err, sizeof err) != 0) {
        log_warn("rate limiting is off", "interface=%s reason=\"%s\"", s->interface,
                 log_clean(err, clean, sizeof clean));
        return NULL;
    }
    if (note[0])
        log_warn("rate limiting runs with a limitation", "interface=%s detail=\"%s\"", s->interface,
                 log_clean(note, clean, sizeof clean));
    struct rl_status st;
    rl_status(rl, &st, NULL, 0);
    log_info("rate limiting is on",
             "interface=%s mode=%s instance=%s port=%u classes=%u networks=%u denied=%u",
             s->interface, rl_mode_name(st.mode), s->instance, s->port, s->nclasses, s->nnetworks,
             s->ndeny);
    return rl;
}

/* SHA-256 of the configuration file, in hex ("defaults" without one): the
 * audit log records a start with a configuration it has not seen last. */
static void config_digest(const char *path, char out[65])
{
    snprintf(out, 65, "defaults");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return;
    static char text[1024 * 1024];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    uint8_t digest[32];
    unsigned int len = 0;
    if (EVP_Digest(text, n, digest, &len, EVP_sha256(), NULL) == 1)
        audit_hex(digest, sizeof digest, out);
}

/* The audit log: every access recorded before it is answered, checkpoints
 * signed by the register's audit signing key through the key process
 * (docs/audit.md). */
static struct audit *open_audit(const struct config *cfg, struct reg *reg, struct keyholder *keys,
                                const char *config_sha)
{
    char err[512], clean[512];
    static struct audit_keys_signer ks; /* lives as long as the daemon's key holder */
    struct audit_signer signer;
    if (audit_keys_signer(keys, &ks, &signer, err, sizeof err) != 0) {
        log_error("cannot open the audit log", "error=\"%s\"", log_clean(err, clean, sizeof clean));
        return NULL;
    }
    struct audit_options o = {.enabled = cfg->audit_enabled,
                              .checkpoint_ms = cfg->audit_checkpoint_ms,
                              .journal_mb = cfg->audit_journal_mb};
    struct audit *audit = NULL;
    if (audit_open(cfg->register_dir, reg, &o, &signer, config_sha, &audit, err, sizeof err) != 0) {
        log_error("cannot open the audit log", "error=\"%s\"", log_clean(err, clean, sizeof clean));
        return NULL;
    }
    return audit;
}

static int serve(const struct config *cfg, const char *config_sha, struct daemon_keys *dk,
                 struct rl *ratelimit)
{
    char err[512], clean[512];
    struct audit *audit = NULL;
    struct reg *reg = NULL;
    struct agencies *agencies = NULL;
    struct metrics *metrics = NULL;
    struct api *api = NULL;
    struct server *srv = NULL;
    struct keyctl *keyctl = NULL;
    int rc = EXIT_FAILURE;

    struct reg_options opt = {.sync = true, .now = 0, .keys = dk->holder, .bio = &cfg->biometrics};
    struct reg_result res = {0};
    if (reg_open(cfg->register_dir, &opt, &reg, &res) != REG_OK) {
        log_error("cannot open the register", "dir=\"%s\" error=\"%s\"",
                  log_clean(cfg->register_dir, clean, sizeof clean), res.msg);
        goto out;
    }
    if (keyctl_start(cfg->register_dir, reg, dk->holder, &keyctl, err, sizeof err) != 0)
        log_warn("key rotation (huduma keys) is unavailable", "error=\"%s\"",
                 log_clean(err, clean, sizeof clean));
    if (agencies_open(cfg->register_dir, &agencies, err, sizeof err) != 0) {
        log_error("cannot open the agency registry", "error=\"%s\"",
                  log_clean(err, clean, sizeof clean));
        goto out;
    }
    if (!(audit = open_audit(cfg, reg, dk->holder, config_sha)))
        goto out;
    metrics = metrics_new();
    if (!metrics || api_new(reg, metrics, &api) != 0) {
        log_error("cannot start the API", NULL);
        goto out;
    }
    api_set_audit(api, audit);
    metrics_ratelimit(metrics, ratelimit);
    if (server_new(cfg, reg, agencies, api, metrics, &srv, err, sizeof err) == 0) {
        srv->ratelimit = ratelimit;
        srv->audit = audit;
        if (audit_start(audit, srv->nrings, server_audit_synced, srv, err, sizeof err) != 0) {
            server_free(srv);
            srv = NULL;
        }
        for (unsigned i = 0; srv && i < srv->nrings; i++)
            srv->rings[i]->journal = audit_journal_of(audit, i);
    }
    if (!srv || server_run(srv, err, sizeof err) != 0) {
        log_error("cannot serve", "error=\"%s\"", log_clean(err, clean, sizeof clean));
        goto out;
    }
    rc = EXIT_SUCCESS;
out:
    audit_stop(audit); /* the last checkpoint; after the rings, before they are freed */
    server_free(srv);
    if (ratelimit) {
        rl_stop(ratelimit);
        log_info("rate limiting stopped: the XDP program is detached", "interface=%s",
                 cfg->ratelimit.interface);
    }
    if (api)
        api_free(api);
    metrics_free(metrics);
    if (agencies)
        agencies_close(agencies);
    audit_close(audit);
    keyctl_stop(keyctl);
    if (reg)
        reg_close(reg);
    return rc;
}

int main(int argc, char **argv)
{
    if (process_no_core_dumps() != 0) {
        perror("hudumad: cannot turn core dumps off");
        return EXIT_FAILURE;
    }
    if (server_block_signals() != 0) {
        fprintf(stderr, "hudumad: cannot block signals\n");
        return EXIT_FAILURE;
    }
    const char *config_path = NULL;
    bool insecure = false;
    for (int i = 1; i < argc; i++) /* takes --insecure-software-key out, wherever it is */
        if (strcmp(argv[i], "--insecure-software-key") == 0) {
            insecure = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
            argc--, i--;
        }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_SUCCESS;
        }
        if (strcmp(argv[i], "--check-config") == 0 && i + 1 < argc && argc == 3)
            return check_config(argv[i + 1], insecure);
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && !config_path) {
            config_path = argv[++i];
            continue;
        }
        fprintf(stderr, "hudumad: unexpected argument \"%s\"\n%s", argv[i], usage);
        return EXIT_FAILURE;
    }
    struct config cfg;
    if (load_config(config_path, &cfg) != 0)
        return EXIT_FAILURE;
    log_set_level(cfg.log_level);
    if (process_raise_open_files() != 0)
        log_warn("cannot raise the open files limit", "error=\"%s\"", strerror(errno));
    char config_sha[65];
    config_digest(config_path, config_sha);
    struct daemon_keys dk;
    int status = EXIT_FAILURE;
    int started = daemon_keys_start(&cfg, insecure, &dk, &status);
    if (started != 0)
        return started == 1 ? status : EXIT_FAILURE; /* 1: this is the key process, done */
    struct rl *ratelimit = start_ratelimit(&cfg.ratelimit);
    daemon_keys_confine(&cfg, &dk);
    status = serve(&cfg, config_sha, &dk, ratelimit);
    daemon_keys_stop(&dk);
    return status;
}
