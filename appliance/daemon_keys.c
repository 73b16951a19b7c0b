/*
 * appliance/daemon_keys.c - hudumad's keys at start-up (daemon_keys.h).
 *
 * Order, each step before the next may start:
 *
 *   1. fork the key process (keys/keyproc.c) while the daemon is still one
 *      thread and has opened nothing of the register;
 *   2. wait for it to unseal the master key from the TPM.  If the TPM refuses
 *      (a PCR moved: the machine booted a changed system; a wrong PIN; a
 *      sealed blob that was altered) the daemon logs the key process's reason
 *      and exits having touched nothing: the database is never opened;
 *   3. hand the remote key holder to the TLS context (tls.c unwraps the
 *      server key through it) and, through reg_options, to the register;
 *   4. (daemon_keys_confine, called by main once the XDP rate limiter, the
 *      last thing that needs a capability, is attached) hide the TPM from
 *      this, the network process (keys_forget_tpm(): a mount namespace where
 *      the TPM devices and the swtpm socket directory are covered), so that
 *      from here on only the key process can reach it, and drop every
 *      capability, without which the covers cannot be undone.  Without
 *      CAP_SYS_ADMIN (the appliance's service) the namespace is a user
 *      namespace, which leaves no capability outside it anyway: that is why
 *      it comes after the rate limiter, and why it comes before any thread.
 *
 * Both processes also give OpenSSL a secure heap (locked, never dumped,
 * cleared when freed) before the fork, so that the private keys OpenSSL
 * itself holds - the TLS server key in the network process, the software
 * signing key - live in it too.
 *
 * The key process logs through this process's log (key=value lines with
 * process=keys).  With --insecure-software-key there is no TPM: the master
 * key is a plain file, and every start says so at warning level.
 */
#include "daemon_keys.h"

#include "log.h"
#include "tls.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void keys_log(int level, const char *event, const char *detail)
{
    char clean[600];
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_WARN;
    log_event((enum log_level)level, event, "process=keys detail=\"%s\"",
              log_clean(detail, clean, sizeof clean));
}

void daemon_keys_options(const struct config *cfg, bool insecure_software_key,
                         struct keys_options *o)
{
    memset(o, 0, sizeof *o);
    o->tcti = cfg->keys_tcti[0] ? cfg->keys_tcti : getenv("HUDUMA_TCTI");
    o->pin_file = cfg->keys_pin_file[0] ? cfg->keys_pin_file : getenv("HUDUMA_PIN_FILE");
    if (o->tcti && !o->tcti[0])
        o->tcti = NULL;
    if (o->pin_file && !o->pin_file[0])
        o->pin_file = NULL;
    o->insecure_software_key = insecure_software_key;
}

#define SECURE_HEAP_BYTES (64 * 1024)
#define SECURE_HEAP_MIN   32

static void secure_heap(void)
{
    int rc = CRYPTO_secure_malloc_initialized()
                 ? 1
                 : CRYPTO_secure_malloc_init(SECURE_HEAP_BYTES, SECURE_HEAP_MIN);
    if (rc == 0)
        log_warn("OpenSSL's secure heap is unavailable: its private keys stay in ordinary memory",
                 NULL);
    else if (rc == 2)
        log_warn("OpenSSL's secure heap could not be locked in memory (RLIMIT_MEMLOCK)", NULL);
}

void daemon_keys_confine(const struct config *cfg, const struct daemon_keys *dk)
{
    struct keys_err err;
    char clean[600];
    if (dk->opt.insecure_software_key) {
        if (keys_drop_privileges(&err) == KEYS_OK)
            log_info("the network process holds no capabilities", NULL);
        else
            log_warn("the network process keeps capabilities", "reason=\"%s\"",
                     log_clean(err.msg, clean, sizeof clean));
        return;
    }
    if (keys_forget_tpm(cfg->register_dir, &dk->opt, &err) == KEYS_OK)
        log_info("the network process cannot reach the TPM: only the key process can",
                 "capabilities=none");
    else
        log_warn("the network process can still reach the TPM", "reason=\"%s\"",
                 log_clean(err.msg, clean, sizeof clean));
}

int daemon_keys_start(const struct config *cfg, bool insecure_software_key, struct daemon_keys *dk,
                      int *exit_status)
{
    struct keys_err err;
    char clean[600];
    bool child = false;
    memset(dk, 0, sizeof *dk);
    daemon_keys_options(cfg, insecure_software_key, &dk->opt);
    secure_heap();
    if (insecure_software_key)
        log_warn("INSECURE: --insecure-software-key: the master key is a plain file in the "
                 "register directory, protected by no TPM; never run the appliance like this",
                 NULL);
    if (keyproc_start(cfg->register_dir, &dk->opt, keys_log, &dk->kp, &child, &err) != KEYS_OK) {
        log_error("cannot start the key process", "error=\"%s\"",
                  log_clean(err.msg, clean, sizeof clean));
        return -1;
    }
    if (child) {
        *exit_status = keyproc_serve(dk->kp);
        return 1;
    }
    if (keyproc_ready(dk->kp, &dk->holder, &err) != KEYS_OK) {
        log_error("cannot unseal the master key: hudumad does not start, and touched nothing",
                  "error=\"%s\"", log_clean(err.msg, clean, sizeof clean));
        keyproc_stop(dk->kp);
        dk->kp = NULL;
        return -1;
    }
    tls_use_key_holder(dk->holder);
    return 0;
}

void daemon_keys_stop(struct daemon_keys *dk)
{
    tls_use_key_holder(NULL);
    keys_holder_close(dk->holder);
    dk->holder = NULL;
    keyproc_stop(dk->kp);
    dk->kp = NULL;
}
