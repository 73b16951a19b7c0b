/*
 * appliance/keyctl.h - rotating the data-encryption key: the re-encryption
 * loop that `huduma keys rotate` and hudumad share, and hudumad's control
 * socket through which `huduma keys` reaches a running daemon
 * (appliance/keyctl.c; docs/keys.md).
 *
 * The control socket, <register_dir>/control.sock (mode 0600, the daemon's
 * owner only), takes one line per connection and answers lines of key=value
 * pairs:
 *
 *   status   event=status current=2 running=1 target=2 pass=1 done=120 total=3000 resealed=90
 *   rotate   event=rotated key=3               (or event=error msg="...")
 *            event=progress pass=1 done=... total=... resealed=...   (every 0.5 s)
 *            event=done key=3 resealed=3000    (the re-encryption finished)
 *
 * A client that leaves early stops nothing: the re-encryption runs on in the
 * daemon's background thread, and resumes after a restart.
 */
#ifndef HUDUMA_KEYCTL_H
#define HUDUMA_KEYCTL_H

#include "register.h"

#include <stdbool.h>
#include <stddef.h>

#define KEYCTL_SOCKET "control.sock"

struct keyholder;
struct store_rekey;

typedef void (*keyctl_progress_fn)(void *ctx, const struct store_rekey *st);

/* Runs re-encryption steps until none is left, `stop` (may be NULL) says so,
 * or a step fails; `pause_us` between steps leaves room for other writers.
 * `progress` (may be NULL) is called about every half second and at the end. */
int keyctl_rekey_run(struct reg *r, unsigned pause_us, bool (*stop)(void *ctx),
                     keyctl_progress_fn progress, void *ctx, struct reg_result *res);

/* ---- hudumad ---- */

struct keyctl;
/* Starts the background re-encryption (resuming one left unfinished) and the
 * control socket.  `r` and `keys` must outlive keyctl_stop(). */
int keyctl_start(const char *register_dir, struct reg *r, struct keyholder *keys,
                 struct keyctl **out, char *err, size_t errlen);
/* Stops both threads (a re-encryption in progress keeps its progress). */
void keyctl_stop(struct keyctl *kc);

/* ---- huduma ---- */

/* Sends `command` to the hudumad of register_dir and calls `line` for each
 * line of its answer (a non-zero return stops reading).  Returns 0, 1 when no
 * daemon listens there, -1 with err on any other failure. */
int keyctl_ask(const char *register_dir, const char *command,
               int (*line)(void *ctx, const char *text), void *ctx, char *err, size_t errlen);

#endif
