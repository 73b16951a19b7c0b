/*
 * keys/keymsg.c - the messages between the network process and the key
 * process (layout: keyproc_internal.h): building them, checking them, and
 * moving them over the SOCK_SEQPACKET socketpair.
 *
 * Checking is the key process's first defence against a network process
 * that was taken over, so it accepts exactly one shape per operation: the
 * whole fixed size, the magic, a known op, status 0, the one data length the
 * op takes (or a bounded range for a wrapped TLS key), the key id only where
 * one belongs, and all-zero padding, so that nothing can ride along unseen.
 * Replies are checked as strictly by the network process: same op, seq and
 * arg as its request, the exact length of each answer, a PEM that looks like
 * one, and error texts that are printable and short.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "keys/keyproc_internal.h"

#define PEM_HEAD "-----BEGIN PUBLIC KEY-----\n"

void kp_init(struct kp_msg *m, enum kp_op op, uint32_t seq, uint32_t arg)
{
    memset(m, 0, sizeof(*m));
    m->magic = KP_MAGIC;
    m->op = (uint16_t)op;
    m->seq = seq;
    m->arg = arg;
}

void kp_put(struct kp_msg *m, const void *data, size_t len)
{
    if (len > KP_DATA_MAX)
        len = KP_DATA_MAX;
    if (len > 0)
        memcpy(m->data, data, len);
    m->len = (uint32_t)len;
}

void kp_put_error(struct kp_msg *m, int status, const char *text)
{
    size_t n = strnlen(text, KP_ERROR_MAX);
    memset(m->data, 0, sizeof(m->data));
    for (size_t i = 0; i < n; i++)
        m->data[i] = text[i] >= 0x20 && text[i] < 0x7f ? (uint8_t)text[i] : '?';
    if (n == 0)
        m->data[n++] = '?';
    m->len = (uint32_t)n;
    m->status = (int16_t)status;
}

/* ---- checking ------------------------------------------------------------------------- */

static bool padding_is_zero(const struct kp_msg *m)
{
    for (size_t i = m->len; i < KP_DATA_MAX; i++)
        if (m->data[i] != 0)
            return false;
    return true;
}

static const char *frame_fault(const struct kp_msg *m, size_t n)
{
    if (n != KP_MSG_SIZE)
        return "not one whole message";
    if (m->magic != KP_MAGIC)
        return "bad magic";
    if (m->op < KP_OP_READY || m->op >= KP_OP_END)
        return "unknown operation";
    if (m->len > KP_DATA_MAX)
        return "data length out of range";
    if (!padding_is_zero(m))
        return "bytes after the data";
    return NULL;
}

static const char *request_fault(const struct kp_msg *m)
{
    bool id = m->arg != 0;
    switch ((enum kp_op)m->op) {
    case KP_OP_KEYRING:
    case KP_OP_PUBKEY:
        return !id && m->len == 0 ? NULL : "takes no data";
    case KP_OP_DEK_CREATE:
        return id && m->len == 0 ? NULL : "takes a key id and no data";
    case KP_OP_DEK_UNWRAP:
        return id && m->len == KEYS_WRAPPED_DEK_LEN ? NULL : "takes a key id and a wrapped DEK";
    case KP_OP_TLS_UNWRAP:
        return !id && m->len > KEYS_WRAP_OVERHEAD && m->len <= KEYS_WRAPPED_MAX
                   ? NULL
                   : "takes one wrapped key";
    case KP_OP_SIGN_CHECKPOINT: /* arg: the proof's hashes, ahead of the body */
        return m->arg <= KEYS_PROOF_MAX && m->len > m->arg * KEYS_DIGEST_LEN &&
                       m->len - m->arg * KEYS_DIGEST_LEN <= KEYS_CHECKPOINT_MAX
                   ? NULL
                   : "takes a consistency proof of at most 64 hashes and one checkpoint body";
    case KP_OP_READY:
    case KP_OP_END:
        break;
    }
    return "is not a request";
}

int kp_check_request(const struct kp_msg *m, size_t n, struct keys_err *err)
{
    const char *fault = frame_fault(m, n);
    if (fault == NULL && m->status != 0)
        fault = "a request carries no status";
    if (fault == NULL)
        fault = request_fault(m);
    if (fault != NULL)
        return keys_fail(err, KEYS_EPEER, "malformed request: %s", fault);
    return KEYS_OK;
}

static bool pem_like(const struct kp_msg *m)
{
    if (m->len < sizeof(PEM_HEAD) || m->len >= KEYS_PUBKEY_PEM_MAX ||
        memcmp(m->data, PEM_HEAD, sizeof(PEM_HEAD) - 1) != 0)
        return false;
    return memchr(m->data, '\0', m->len) == NULL;
}

static bool text_like(const struct kp_msg *m)
{
    if (m->len == 0 || m->len > KP_ERROR_MAX)
        return false;
    for (size_t i = 0; i < m->len; i++)
        if (m->data[i] < 0x20 || m->data[i] >= 0x7f)
            return false;
    return true;
}

static bool reply_length_ok(const struct kp_msg *m)
{
    switch ((enum kp_op)m->op) {
    case KP_OP_READY:
        return m->len == 0;
    case KP_OP_KEYRING:
        return m->len == KP_KEYRING_LEN;
    case KP_OP_DEK_CREATE:
        return m->len == KEYS_DEK_LEN + KEYS_WRAPPED_DEK_LEN;
    case KP_OP_DEK_UNWRAP:
        return m->len == KEYS_DEK_LEN;
    case KP_OP_TLS_UNWRAP:
        return m->len > 0 && m->len <= KEYS_WRAPPED_MAX - KEYS_WRAP_OVERHEAD;
    case KP_OP_SIGN_CHECKPOINT:
        return m->len == KEYS_SIG_RAW_LEN;
    case KP_OP_PUBKEY:
        return pem_like(m);
    case KP_OP_END:
        break;
    }
    return false;
}

int kp_check_reply(const struct kp_msg *m, size_t n, enum kp_op op, uint32_t seq, uint32_t arg,
                   struct keys_err *err)
{
    const char *fault = frame_fault(m, n);
    if (fault == NULL && (m->op != op || m->seq != seq || m->arg != arg))
        fault = "it answers another request";
    if (fault == NULL && (m->status > 0 || m->status < KEYS_EPEER))
        fault = "unknown status";
    if (fault == NULL && m->status < 0 && !text_like(m))
        fault = "an error without a readable reason";
    if (fault == NULL && m->status == 0 && !reply_length_ok(m))
        fault = "wrong data length for its operation";
    if (fault != NULL)
        return keys_fail(err, KEYS_EPEER, "malformed answer from the key process: %s", fault);
    return KEYS_OK;
}

/* ---- moving ---------------------------------------------------------------------------- */

int kp_send(int fd, const struct kp_msg *m, struct keys_err *err)
{
    for (;;) {
        ssize_t n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(*m))
            return KEYS_OK;
        if (n < 0 && errno == EINTR)
            continue;
        return keys_fail(err, KEYS_EPEER, "the key process is gone (send: %s)",
                         n < 0 ? strerror(errno) : "short write");
    }
}

int kp_recv(int fd, struct kp_msg *m, size_t *n, int timeout_ms, struct keys_err *err)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return keys_fail(err, KEYS_EPEER, "the key process did not answer in %d s",
                             timeout_ms / 1000);
        if (r < 0)
            return keys_fail(err, KEYS_EPEER, "poll: %s", strerror(errno));
        ssize_t got = recv(fd, m, sizeof(*m), MSG_TRUNC);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return keys_fail(err, KEYS_EPEER, "recv: %s", strerror(errno));
        *n = (size_t)got;
        return KEYS_OK;
    }
}
