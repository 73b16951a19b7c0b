/*
 * keys/keyproc_internal.h - the protocol between hudumad's network process
 * and its key process (keymsg.c), and the remote holder's requests
 * (keyproc_client.c).
 *
 * Every message, either way, is exactly KP_MSG_SIZE bytes on a SOCK_SEQPACKET
 * socketpair (so one recv is one message, and a short or long one is
 * refused): a 20-byte header, then `len` bytes of data, then zeros.  One
 * request is answered by one reply with the same op, seq and arg, before the
 * next request is sent.  The key process speaks first, once: KP_OP_READY
 * with the outcome of unsealing.
 *
 *   op          request (arg, data)            reply data
 *   READY       -                              -
 *   KEYRING     0, -                           index key (32) | HN key (16)
 *   DEK_CREATE  id, -                          DEK (32) | wrapped DEK (68)
 *   DEK_UNWRAP  id, wrapped DEK (68)           DEK (32)
 *   TLS_UNWRAP  0, wrapped TLS key (37-4000)   DER private key
 *   SIGN_CHKPT  n (0-64), n consistency-proof  r || s (64), or refused
 *               hashes (32 each), then the     (keys/checkpoint.c: only a
 *               checkpoint body (1-512)        log that grows from the last)
 *   PUBKEY      0, -                           PEM public key (text)
 *
 * A reply with a negative status carries a message (text, at most 511
 * bytes) instead.
 */
#ifndef HUDUMA_KEYPROC_INTERNAL_H
#define HUDUMA_KEYPROC_INTERNAL_H

#include "keys/keyring_internal.h"

#define KP_MSG_SIZE    4096
#define KP_HEADER_LEN  20
#define KP_DATA_MAX    (KP_MSG_SIZE - KP_HEADER_LEN)
#define KP_MAGIC       0x484b5031u /* "HKP1" */
#define KP_ERROR_MAX   511
#define KP_KEYRING_LEN (32 + KEYS_HN_KEY_LEN)

_Static_assert(KEYS_WRAPPED_MAX <= KP_DATA_MAX, "a wrapped secret fits a message");
_Static_assert(KEYS_PROOF_MAX *KEYS_DIGEST_LEN + KEYS_CHECKPOINT_MAX <= KP_DATA_MAX,
               "a proof and a checkpoint fit a message");

enum kp_op {
    KP_OP_READY = 1,
    KP_OP_KEYRING,
    KP_OP_DEK_CREATE,
    KP_OP_DEK_UNWRAP,
    KP_OP_TLS_UNWRAP,
    KP_OP_SIGN_CHECKPOINT,
    KP_OP_PUBKEY,
    KP_OP_END
};

struct kp_msg {
    uint32_t magic;
    uint16_t op;
    int16_t status; /* 0 in requests; KEYS_OK or a KEYS_E* code in replies */
    uint32_t seq;
    uint32_t arg; /* a DEK id; the hashes of a consistency proof (SIGN_CHECKPOINT) */
    uint32_t len; /* bytes of data used; the rest are zero */
    uint8_t data[KP_DATA_MAX];
};
_Static_assert(sizeof(struct kp_msg) == KP_MSG_SIZE, "fixed-size messages");

/* keymsg.c */
void kp_init(struct kp_msg *m, enum kp_op op, uint32_t seq, uint32_t arg);
/* Sets the data (len <= KP_DATA_MAX); the padding stays zero. */
void kp_put(struct kp_msg *m, const void *data, size_t len);
/* An error reply carrying `text`. */
void kp_put_error(struct kp_msg *m, int status, const char *text);
/* Whether `n` bytes received in `m` are a valid request; err says why not. */
int kp_check_request(const struct kp_msg *m, size_t n, struct keys_err *err);
/* Whether they are a valid reply to request (op, seq, arg). */
int kp_check_reply(const struct kp_msg *m, size_t n, enum kp_op op, uint32_t seq, uint32_t arg,
                   struct keys_err *err);
/* Sends one message; KEYS_EPEER when the peer is gone. */
int kp_send(int fd, const struct kp_msg *m, struct keys_err *err);
/* Receives one message within `timeout_ms` (-1: no limit); *n gets its size
 * (0: the peer closed).  KEYS_EPEER on timeout or error. */
int kp_recv(int fd, struct kp_msg *m, size_t *n, int timeout_ms, struct keys_err *err);

/* keyproc_client.c: the remote holder's side of each operation. */
int remote_new(int fd, struct keyholder **out, struct keys_err *err);
void remote_close(struct keyholder *h);
int remote_keyring(struct keyholder *h, struct keyring **out, struct keys_err *err);
int remote_dek_create(struct keyholder *h, struct keyring *kr, uint32_t id,
                      uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], struct keys_err *err);
int remote_dek_unwrap(struct keyholder *h, struct keyring *kr, uint32_t id, const uint8_t *wrapped,
                      struct keys_err *err);
int remote_secret_unwrap(struct keyholder *h, enum keys_secret what, const uint8_t *wrapped,
                         size_t len, struct keys_buf **out, struct keys_err *err);
/* checkpoint.c: a checkpoint body as the signing key accepts it (three
 * lines: origin, decimal size without leading zeros, canonical base64 of a
 * 32-byte root, each ending in a newline, and nothing after). */
struct checkpoint {
    char origin[KEYS_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[KEYS_DIGEST_LEN];
};
int checkpoint_parse(const char *body, size_t len, struct checkpoint *cp, struct keys_err *err);

int remote_sign_checkpoint(struct keyholder *h, const char *body, size_t len,
                           const uint8_t (*proof)[KEYS_DIGEST_LEN], size_t nproof,
                           uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);
int remote_public_pem(struct keyholder *h, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err);

#endif
