/*
 * appliance/config.h - hudumad's configuration: an INI file read with inih,
 * every key checked, every default documented (docs/configuration.md).
 *
 *   [server]  listen port threads workers register_dir
 *   [tls]     cert key ca            (default: under register_dir)
 *   [limits]  max_connections max_header_bytes max_headers max_body_bytes
 *             idle_timeout_ms request_timeout_ms handshake_timeout_ms
 *             drain_timeout_ms
 *   [log]     level
 *   [ratelimit] interface instance max_sources class.NAME network.NAME deny
 *             ban_after_failures ban_window_seconds ban_seconds
 *             (parsed by kernel-bpf/kernel-bpf.h; docs/ratelimit.md)
 *   [audit]   enabled checkpoint_interval_ms journal_mb   (docs/audit.md)
 *   [keys]    tcti pin_file          (docs/keys.md)
 *   [biometrics] finger_low finger_medium finger_high face_low face_medium
 *             face_high dedup_band verify_band identify_band
 *             identify_candidates    (docs/biometrics.md)
 *
 * A file is parsed completely and every fault is reported as
 * "file:line: key: why" (unknown sections and keys, keys given twice, bad
 * numbers, values out of range, lines that are not INI); nothing is applied
 * when there is any.  Whether the certificate files load and match is checked
 * by tls_context_new() (tls.h), which `hudumad --check-config` also calls.
 */
#ifndef HUDUMA_CONFIG_H
#define HUDUMA_CONFIG_H

#include "log.h"

#include "kernel-bpf/kernel-bpf.h"
#include "register.h"

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_PATH_MAX   256
#define CONFIG_ADDR_MAX   64
#define CONFIG_MAX_ERRORS 32
#define CONFIG_ERROR_LEN  320

struct config {
    /* [server] */
    char listen[CONFIG_ADDR_MAX]; /* numeric IPv4 or IPv6 address */
    unsigned port;
    unsigned threads; /* 0: one per online CPU ("auto") */
    unsigned workers;
    char register_dir[CONFIG_PATH_MAX];
    /* [tls]: empty until config_finish() derives them from register_dir */
    char tls_cert[CONFIG_PATH_MAX];
    char tls_key[CONFIG_PATH_MAX];
    char tls_ca[CONFIG_PATH_MAX];
    /* [limits] */
    unsigned max_connections;
    unsigned max_header_bytes;
    unsigned max_headers;
    unsigned max_body_bytes;
    unsigned idle_timeout_ms;
    unsigned request_timeout_ms;
    unsigned handshake_timeout_ms;
    unsigned drain_timeout_ms;
    /* [log] */
    enum log_level log_level;
    /* [ratelimit]: interface empty, rate limiting off */
    struct rl_settings ratelimit;
    /* [audit] */
    bool audit_enabled;           /* false only to measure what logging costs */
    unsigned audit_checkpoint_ms; /* how often a grown tree is signed */
    unsigned audit_journal_mb;    /* each ring's journal, MiB */
    /* [keys]: empty means the default (docs/keys.md) */
    char keys_tcti[CONFIG_PATH_MAX]; /* where the TPM is: "device:/dev/tpmrm0", "swtpm:path=..." */
    char keys_pin_file[CONFIG_PATH_MAX]; /* the PIN the master key was sealed with */
    /* [biometrics]: thresholds and bands (register.h, docs/biometrics.md) */
    struct bio_settings biometrics;
};

struct config_errors {
    unsigned count; /* may exceed CONFIG_MAX_ERRORS; only that many are kept */
    char text[CONFIG_MAX_ERRORS][CONFIG_ERROR_LEN];
};

/* The defaults, with the TLS paths derived (as after an empty file). */
void config_defaults(struct config *c);

/* Parses INI text; `name` is the file name used in messages.  Returns 0, or
 * -1 with every fault in errs (c then holds the defaults). */
int config_parse_string(const char *text, const char *name, struct config *c,
                        struct config_errors *errs);

/* Reads and parses a file (at most 1 MiB). */
int config_load(const char *path, struct config *c, struct config_errors *errs);

#endif
