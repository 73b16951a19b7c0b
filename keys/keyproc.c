/*
 * keys/keyproc.c - hudumad's key process, in the manner of OpenBSD relayd's
 * privilege separation: the only process that talks to the TPM and holds the
 * master key.
 *
 * keyproc_start() forks before the daemon starts any thread or opens the
 * register; the two ends of a SOCK_SEQPACKET socketpair are all they share.
 * The child keeps only the socket and stdio (close_range), names itself
 * "hudumad-keys", dies with its parent (PR_SET_PDEATHSIG), inherits the
 * daemon's "no core dumps" and blocked SIGTERM/SIGINT, gives up every
 * capability it inherited (it needs none: the TPM device and the swtpm
 * socket are opened as their owner or group allows), then unseals the
 * master key (keys_open_holder: PCRs, PIN, names) and says so, once, with a
 * READY message carrying the outcome.  From then on it answers one request at
 * a time (the table is in keyproc_internal.h), each checked by
 * kp_check_request() before anything else looks at it; a malformed one is
 * answered with an error and logged, never acted on.  It never wraps a
 * secret for the network process and unwraps for it only DEKs (which that
 * process needs for every record) and the TLS server key; the agency CA key
 * and the master key never leave it.  When the socket closes (the daemon
 * exits or dies) it wipes everything and exits.
 *
 * The message buffers live in locked memory, since DEKs pass through them,
 * and are wiped after every exchange.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keys/keyproc_internal.h"

#define READY_TIMEOUT_MS (120 * 1000) /* a hardware TPM with a PIN may be slow */
#define STOP_GRACE_MS    5000

struct keyproc {
    int fd;
    pid_t pid; /* the child, in the parent */
    pid_t parent;
    keys_log_fn log;
    char register_dir[PATH_MAX];
    char tcti[256];
    char pin_file[PATH_MAX];
    struct keys_options opts;
    /* in the child */
    struct kp_msg *buf; /* [0] request, [1] reply: one locked mapping */
    size_t buf_map_len;
    bool buf_locked;
    uint64_t signatures;
};

static void say(struct keyproc *kp, int level, const char *event, const char *detail)
{
    if (kp->log != NULL)
        kp->log(level, event, detail);
}

static int copy_options(struct keyproc *kp, const char *dir, const struct keys_options *o,
                        struct keys_err *err)
{
    static const struct keys_options none = {0};
    o = o ? o : &none;
    kp->opts = *o;
    if (snprintf(kp->register_dir, sizeof(kp->register_dir), "%s", dir) >=
            (int)sizeof(kp->register_dir) ||
        snprintf(kp->tcti, sizeof(kp->tcti), "%s", o->tcti ? o->tcti : "") >=
            (int)sizeof(kp->tcti) ||
        snprintf(kp->pin_file, sizeof(kp->pin_file), "%s", o->pin_file ? o->pin_file : "") >=
            (int)sizeof(kp->pin_file))
        return keys_fail(err, KEYS_EIO, "a key option is too long");
    kp->opts.tcti = o->tcti ? kp->tcti : NULL;
    kp->opts.pin_file = o->pin_file ? kp->pin_file : NULL;
    return KEYS_OK;
}

/* ---- the child ----------------------------------------------------------------------- */

static void become_key_process(struct keyproc *kp)
{
    prctl(PR_SET_NAME, "hudumad-keys", 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (kp->fd != 3) {
        dup2(kp->fd, 3);
        close(kp->fd);
        kp->fd = 3;
    }
    close_range(4, ~0u, 0);
}

static void reply_keyring(struct keyholder *h, struct kp_msg *out, struct keys_err *err)
{
    struct keyring *kr;
    int rc = keys_keyring(h, &kr, err);
    if (rc != KEYS_OK) {
        kp_put_error(out, rc, err->msg);
        return;
    }
    memcpy(out->data, kr->index_key, 32);
    memcpy(out->data + 32, kr->hn_key, KEYS_HN_KEY_LEN);
    out->len = KP_KEYRING_LEN;
    keys_close(kr);
}

/* DEK requests go through a scratch keyring, from which the DEK is copied out. */
static void reply_dek(struct keyholder *h, const struct kp_msg *in, struct kp_msg *out,
                      struct keys_err *err)
{
    struct keyring *kr;
    int rc = keys_keyring(h, &kr, err);
    if (rc == KEYS_OK && in->op == KP_OP_DEK_CREATE)
        rc = keys_dek_create(h, kr, in->arg, out->data + KEYS_DEK_LEN, err);
    else if (rc == KEYS_OK)
        rc = keys_dek_unwrap(h, kr, in->arg, in->data, in->len, err);
    if (rc == KEYS_OK) {
        memcpy(out->data, keyring_find_dek(kr, in->arg)->key, KEYS_DEK_LEN);
        out->len = in->op == KP_OP_DEK_CREATE ? KEYS_DEK_LEN + KEYS_WRAPPED_DEK_LEN : KEYS_DEK_LEN;
    } else {
        kp_put_error(out, rc, err->msg);
    }
    keys_close(kr);
}

static void reply_tls(struct keyholder *h, const struct kp_msg *in, struct kp_msg *out,
                      struct keys_err *err)
{
    struct keys_buf *key;
    int rc = keys_secret_unwrap(h, KEYS_SECRET_TLS_SERVER_KEY, in->data, in->len, &key, err);
    if (rc != KEYS_OK) {
        kp_put_error(out, rc, err->msg);
        return;
    }
    kp_put(out, keys_buf_data(key), keys_buf_len(key));
    keys_buf_free(key);
}

static void reply_sign(struct keyproc *kp, struct keyholder *h, const struct kp_msg *in,
                       struct kp_msg *out, struct keys_err *err)
{
    /* checked by kp_check_request: arg hashes of proof, then a body */
    size_t at = (size_t)in->arg * KEYS_DIGEST_LEN;
    int rc =
        keys_sign_checkpoint(h, (const char *)in->data + at, in->len - at,
                             (const uint8_t(*)[KEYS_DIGEST_LEN])in->data, in->arg, out->data, err);
    if (rc != KEYS_OK) {
        kp_put_error(out, rc, err->msg);
        say(kp, 2, "cannot sign", err->msg);
        return;
    }
    out->len = KEYS_SIG_RAW_LEN;
    kp->signatures++;
    char detail[64];
    snprintf(detail, sizeof(detail), "signatures=%llu", (unsigned long long)kp->signatures);
    say(kp, 0, "signed a checkpoint with the TPM key", detail);
}

static void answer(struct keyproc *kp, struct keyholder *h, const struct kp_msg *in,
                   struct kp_msg *out)
{
    struct keys_err err = {{0}};
    kp_init(out, (enum kp_op)in->op, in->seq, in->arg);
    switch ((enum kp_op)in->op) {
    case KP_OP_KEYRING:
        reply_keyring(h, out, &err);
        break;
    case KP_OP_DEK_CREATE:
    case KP_OP_DEK_UNWRAP:
        reply_dek(h, in, out, &err);
        break;
    case KP_OP_TLS_UNWRAP:
        reply_tls(h, in, out, &err);
        break;
    case KP_OP_SIGN_CHECKPOINT:
        reply_sign(kp, h, in, out, &err);
        break;
    case KP_OP_PUBKEY:
        if (keys_public_pem(h, (char *)out->data, &err) == KEYS_OK)
            out->len = (uint32_t)strlen((char *)out->data);
        else
            kp_put_error(out, KEYS_EPEER, err.msg);
        break;
    case KP_OP_READY:
    case KP_OP_END:
        kp_put_error(out, KEYS_EPEER, "not a request");
        break;
    }
}

/* Answers requests until the parent closes its end; returns the exit status. */
static int serve_requests(struct keyproc *kp, struct keyholder *h)
{
    struct kp_msg *in = &kp->buf[0], *out = &kp->buf[1];
    for (;;) {
        struct keys_err err = {{0}};
        size_t n = 0;
        int rc = kp_recv(kp->fd, in, &n, -1, &err);
        if (rc != KEYS_OK || n == 0)
            return rc == KEYS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
        if (kp_check_request(in, n, &err) != KEYS_OK) {
            say(kp, 2, "refused a request from the network process", err.msg);
            kp_init(out, n >= KP_HEADER_LEN ? (enum kp_op)in->op : KP_OP_END,
                    n >= KP_HEADER_LEN ? in->seq : 0, n >= KP_HEADER_LEN ? in->arg : 0);
            kp_put_error(out, KEYS_EPEER, err.msg);
        } else {
            answer(kp, h, in, out);
        }
        rc = kp_send(kp->fd, out, &err);
        OPENSSL_cleanse(kp->buf, 2 * sizeof(struct kp_msg));
        if (rc != KEYS_OK)
            return EXIT_FAILURE;
    }
}

int keyproc_serve(struct keyproc *kp)
{
    struct keys_err err = {{0}};
    struct keyholder *h = NULL;
    become_key_process(kp);
    if (keys_drop_privileges(&err) != KEYS_OK)
        say(kp, 2, "the key process keeps capabilities", err.msg);
    int status = EXIT_FAILURE;
    kp->buf = secmem_alloc(2 * sizeof(struct kp_msg), &kp->buf_map_len, &kp->buf_locked);
    int rc = kp->buf ? keys_open_holder(kp->register_dir, &kp->opts, &h, &err)
                     : keys_fail(&err, KEYS_ENOMEM, "out of locked memory");
    struct kp_msg ready;
    kp_init(&ready, KP_OP_READY, 0, 0);
    if (rc != KEYS_OK)
        kp_put_error(&ready, rc, err.msg);
    if (kp_send(kp->fd, &ready, &err) == KEYS_OK && rc == KEYS_OK) {
        say(kp, 1, "key process ready", "the master key is unsealed in the key process only");
        status = serve_requests(kp, h);
    }
    keys_holder_close(h);
    secmem_free(kp->buf, kp->buf_map_len, kp->buf_locked);
    close(kp->fd);
    free(kp);
    return status;
}

/* ---- the parent ---------------------------------------------------------------------- */

int keyproc_start(const char *register_dir, const struct keys_options *o, keys_log_fn log,
                  struct keyproc **out, bool *in_child, struct keys_err *err)
{
    *in_child = false;
    struct keyproc *kp = calloc(1, sizeof(*kp));
    if (kp == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");
    kp->log = log;
    kp->parent = getpid();
    int sv[2];
    int rc = copy_options(kp, register_dir, o, err);
    if (rc == KEYS_OK && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        rc = keys_fail(err, KEYS_EIO, "socketpair: %s", strerror(errno));
    pid_t pid = rc == KEYS_OK ? fork() : -1;
    if (rc == KEYS_OK && pid < 0) {
        rc = keys_fail(err, KEYS_EIO, "cannot start the key process: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
    }
    if (rc != KEYS_OK) {
        free(kp);
        return rc;
    }
    kp->fd = pid == 0 ? sv[1] : sv[0];
    close(pid == 0 ? sv[0] : sv[1]);
    kp->pid = pid;
    *in_child = pid == 0;
    *out = kp;
    return KEYS_OK;
}

int keyproc_ready(struct keyproc *kp, struct keyholder **holder, struct keys_err *err)
{
    struct kp_msg m;
    size_t n = 0;
    int rc = kp_recv(kp->fd, &m, &n, READY_TIMEOUT_MS, err);
    if (rc == KEYS_OK && n == 0)
        return keys_fail(err, KEYS_EPEER, "the key process exited before unsealing the master key");
    if (rc == KEYS_OK)
        rc = kp_check_reply(&m, n, KP_OP_READY, 0, 0, err);
    if (rc == KEYS_OK && m.status != KEYS_OK) {
        rc = m.status;
        keys_fail(err, rc, "%.*s", (int)m.len, (const char *)m.data);
    }
    if (rc == KEYS_OK)
        rc = remote_new(kp->fd, holder, err);
    return rc;
}

void keyproc_stop(struct keyproc *kp)
{
    if (kp == NULL)
        return;
    close(kp->fd);
    int waited = 0, status;
    while (waitpid(kp->pid, &status, WNOHANG) == 0) {
        if (waited >= STOP_GRACE_MS) {
            kill(kp->pid, SIGKILL);
            waitpid(kp->pid, &status, 0);
            break;
        }
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
        waited += 10;
    }
    free(kp);
}
