/*
 * keys/keyproc_client.c - the remote key holder: the network process's side
 * of the key process (keyproc.c).
 *
 * Each operation is one request and one reply over the socketpair, under the
 * holder's mutex so that threads take turns (the audit log's signer, a key
 * rotation and start-up never interleave their messages).  Every reply is
 * checked by kp_check_reply() before its data is used.  Messages holding
 * DEKs or the TLS key sit in a locked mapping and are wiped after use.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keys/keyproc_internal.h"

#define ANSWER_TIMEOUT_MS (60 * 1000) /* a hardware TPM signs in well under this */

int remote_new(int fd, struct keyholder **out, struct keys_err *err)
{
    struct keyholder *h;
    int rc = holder_new(HOLDER_REMOTE, NULL, &h, err);
    if (rc != KEYS_OK)
        return rc;
    h->fd = fd; /* owned by the keyproc, closed by keyproc_stop() */
    *out = h;
    return KEYS_OK;
}

void remote_close(struct keyholder *h)
{
    h->fd = -1;
}

/* One exchange; on success *reply (locked memory, 2 messages) holds the
 * answer and must be released with done(). */
static int ask(struct keyholder *h, enum kp_op op, uint32_t arg, const void *data, size_t len,
               struct keys_buf **reply, struct keys_err *err)
{
    struct keys_buf *buf = keys_buf_new(2 * sizeof(struct kp_msg));
    if (buf == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    struct kp_msg *req = (struct kp_msg *)keys_buf_mut(buf), *rep = req + 1;
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    uint32_t seq = ++h->seq;
    kp_init(req, op, seq, arg);
    kp_put(req, data, len);
    int rc = h->fd < 0 ? keys_fail(err, KEYS_EPEER, "no key process") : kp_send(h->fd, req, err);
    if (rc == KEYS_OK)
        rc = kp_recv(h->fd, rep, &n, ANSWER_TIMEOUT_MS, err);
    if (rc == KEYS_OK && n == 0)
        rc = keys_fail(err, KEYS_EPEER, "the key process exited");
    if (rc == KEYS_OK)
        rc = kp_check_reply(rep, n, op, seq, arg, err);
    if (rc == KEYS_OK && rep->status != KEYS_OK)
        rc = keys_fail(err, rep->status, "%.*s", (int)rep->len, (const char *)rep->data);
    pthread_mutex_unlock(&h->lock);
    if (rc != KEYS_OK) {
        keys_buf_free(buf);
        return rc;
    }
    *reply = buf;
    return KEYS_OK;
}

static const struct kp_msg *answer_of(const struct keys_buf *buf)
{
    return (const struct kp_msg *)keys_buf_data(buf) + 1;
}

int remote_keyring(struct keyholder *h, struct keyring **out, struct keys_err *err)
{
    struct keys_buf *r;
    int rc = ask(h, KP_OP_KEYRING, 0, NULL, 0, &r, err);
    if (rc != KEYS_OK)
        return rc;
    const uint8_t *d = answer_of(r)->data;
    rc = keyring_from_parts(d, d + 32, out, err);
    keys_buf_free(r);
    return rc;
}

int remote_dek_create(struct keyholder *h, struct keyring *kr, uint32_t id,
                      uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], struct keys_err *err)
{
    struct keys_buf *r;
    int rc = ask(h, KP_OP_DEK_CREATE, id, NULL, 0, &r, err);
    if (rc != KEYS_OK)
        return rc;
    const uint8_t *d = answer_of(r)->data;
    memcpy(wrapped, d + KEYS_DEK_LEN, KEYS_WRAPPED_DEK_LEN);
    rc = kr != NULL ? keys_add_dek(kr, id, d, err) : KEYS_OK;
    keys_buf_free(r);
    return rc;
}

int remote_dek_unwrap(struct keyholder *h, struct keyring *kr, uint32_t id, const uint8_t *wrapped,
                      struct keys_err *err)
{
    struct keys_buf *r;
    int rc = ask(h, KP_OP_DEK_UNWRAP, id, wrapped, KEYS_WRAPPED_DEK_LEN, &r, err);
    if (rc != KEYS_OK)
        return rc;
    rc = keys_add_dek(kr, id, answer_of(r)->data, err);
    keys_buf_free(r);
    return rc;
}

int remote_secret_unwrap(struct keyholder *h, enum keys_secret what, const uint8_t *wrapped,
                         size_t len, struct keys_buf **out, struct keys_err *err)
{
    if (what != KEYS_SECRET_TLS_SERVER_KEY)
        return keys_fail(err, KEYS_EDENIED,
                         "the key process unwraps no such secret for the "
                         "network process");
    struct keys_buf *r;
    int rc = ask(h, KP_OP_TLS_UNWRAP, 0, wrapped, len, &r, err);
    if (rc != KEYS_OK)
        return rc;
    const struct kp_msg *m = answer_of(r);
    struct keys_buf *b = keys_buf_new(m->len);
    if (b == NULL)
        rc = keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    else
        memcpy(keys_buf_mut(b), m->data, m->len), *out = b;
    keys_buf_free(r);
    return rc;
}

/* The request's data: the proof's hashes, then the body (keyproc_internal.h). */
int remote_sign_checkpoint(struct keyholder *h, const char *body, size_t len,
                           const uint8_t (*proof)[KEYS_DIGEST_LEN], size_t nproof,
                           uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    uint8_t data[KEYS_PROOF_MAX * KEYS_DIGEST_LEN + KEYS_CHECKPOINT_MAX];
    size_t at = nproof * KEYS_DIGEST_LEN;
    if (nproof)
        memcpy(data, proof, at);
    memcpy(data + at, body, len);
    struct keys_buf *r;
    int rc = ask(h, KP_OP_SIGN_CHECKPOINT, (uint32_t)nproof, data, at + len, &r, err);
    if (rc != KEYS_OK)
        return rc;
    memcpy(sig, answer_of(r)->data, KEYS_SIG_RAW_LEN);
    keys_buf_free(r);
    return KEYS_OK;
}

int remote_public_pem(struct keyholder *h, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err)
{
    struct keys_buf *r;
    int rc = ask(h, KP_OP_PUBKEY, 0, NULL, 0, &r, err);
    if (rc != KEYS_OK)
        return rc;
    const struct kp_msg *m = answer_of(r);
    memcpy(pem, m->data, m->len);
    pem[m->len] = '\0';
    keys_buf_free(r);
    return KEYS_OK;
}
