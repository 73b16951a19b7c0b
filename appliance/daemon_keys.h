/*
 * appliance/daemon_keys.h - hudumad's keys at start-up (appliance/daemon_keys.c):
 * the key process forked before anything else, the master key unsealed in it,
 * the remote key holder through which the register, the TLS context and the
 * audit log reach their keys, and (daemon_keys_confine) the network process
 * cut off from the TPM and left without capabilities.
 */
#ifndef HUDUMA_DAEMON_KEYS_H
#define HUDUMA_DAEMON_KEYS_H

#include "config.h"

#include "keys/keys.h"

#include <stdbool.h>

struct daemon_keys {
    struct keys_options opt;
    struct keyproc *kp;
    struct keyholder *holder; /* remote: asks the key process */
};

/* The key options of the configuration ([keys]), then of the environment
 * (HUDUMA_TCTI, HUDUMA_PIN_FILE) for what it leaves empty. */
void daemon_keys_options(const struct config *cfg, bool insecure_software_key,
                         struct keys_options *o);

/*
 * Forks the key process and waits until it has unsealed the master key.
 * Returns 0 in the daemon (dk->holder is ready), 1 in the key process once it
 * is done serving (main must return *exit_status), -1 when the master key
 * could not be unsealed (logged; nothing of the register was touched).
 */
int daemon_keys_start(const struct config *cfg, bool insecure_software_key, struct daemon_keys *dk,
                      int *exit_status);

/*
 * The network process, after daemon_keys_start() and after whatever needs a
 * capability (the XDP rate limiter), before any thread: hides the TPM from
 * it (not with --insecure-software-key: there is none) and drops every
 * capability.  Logs what it did, or at warning level what it could not do;
 * the daemon goes on either way.
 */
void daemon_keys_confine(const struct config *cfg, const struct daemon_keys *dk);
void daemon_keys_stop(struct daemon_keys *dk);

#endif
