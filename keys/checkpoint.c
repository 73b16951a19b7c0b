/*
 * keys/checkpoint.c - what the audit signing key agrees to sign: checkpoints
 * of one log that only grows.
 *
 * The signing key is there so that auditors can trust the audit log even
 * when the daemon that writes it has been taken over.  A holder that signed
 * any digest it was handed would sign whatever such a daemon asked: a shorter
 * tree that leaves out its own tracks, or another root for a size already
 * signed.  So the key signs only checkpoint bodies, the three lines of
 * c2sp.org/tlog-checkpoint and nothing else:
 *
 *     <origin>\n<tree size, decimal>\n<root hash, base64 of 32 bytes>\n
 *
 * and each holder remembers the last one it signed.  It refuses a body of
 * any other form, another origin, a smaller tree, another root at the same
 * size, and a larger tree unless the request carries an RFC 9162 consistency
 * proof from the last signed tree to this one (KEYS_EDENIED): a tree that
 * does not extend the last one, a fork, is never signed.  In hudumad the
 * holder that remembers is the key process's, which the network process
 * cannot reach into; the network process's own (remote) holder only forwards
 * the body and the proof.  The memory lasts as long as the process: a daemon
 * that restarts starts afresh, and refuses at start a log that no longer
 * matches its last stored checkpoint (appliance/audit.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "keys/keyproc_internal.h"

/* The line starting at *at, without its newline; false when there is none. */
static bool next_line(const char *body, size_t len, size_t *at, const char **line, size_t *n)
{
    const char *start = body + *at;
    const char *nl = memchr(start, '\n', len - *at);
    if (!nl)
        return false;
    *line = start;
    *n = (size_t)(nl - start);
    *at += *n + 1;
    return true;
}

static bool origin_ok(const char *s, size_t n)
{
    if (n == 0 || n > KEYS_ORIGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '+')
            return false;
    return true;
}

static bool size_ok(const char *s, size_t n, uint64_t *size)
{
    if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *size = v;
    return true;
}

/* Exactly the canonical base64 of 32 bytes (44 characters, one '='). */
static bool root_ok(const char *s, size_t n, uint8_t root[KEYS_DIGEST_LEN])
{
    unsigned char raw[48], again[48];
    if (n != 44 || EVP_DecodeBlock(raw, (const unsigned char *)s, 44) != 33)
        return false;
    memcpy(root, raw, KEYS_DIGEST_LEN);
    return EVP_EncodeBlock(again, root, KEYS_DIGEST_LEN) == 44 && memcmp(again, s, 44) == 0;
}

int checkpoint_parse(const char *body, size_t len, struct checkpoint *cp, struct keys_err *err)
{
    const char *line[3];
    size_t n[3], at = 0;
    for (int i = 0; i < 3; i++)
        if (!next_line(body, len, &at, &line[i], &n[i]))
            return keys_fail(err, KEYS_EFORMAT,
                             "a checkpoint is three lines, each ending in a newline");
    if (at != len)
        return keys_fail(err, KEYS_EFORMAT, "a checkpoint is three lines and nothing after them");
    if (!origin_ok(line[0], n[0]))
        return keys_fail(err, KEYS_EFORMAT,
                         "the checkpoint's origin is not 1-%d printable characters without "
                         "spaces or '+'",
                         KEYS_ORIGIN_MAX);
    if (!size_ok(line[1], n[1], &cp->size))
        return keys_fail(err, KEYS_EFORMAT, "the checkpoint's tree size is not a decimal number");
    if (!root_ok(line[2], n[2], cp->root))
        return keys_fail(err, KEYS_EFORMAT,
                         "the checkpoint's root is not the base64 of a 32-byte hash");
    memcpy(cp->origin, line[0], n[0]);
    cp->origin[n[0]] = '\0';
    return KEYS_OK;
}

/* Against the last checkpoint this holder signed; under h->lock. */
static int may_sign(const struct keyholder *h, const struct checkpoint *cp,
                    const uint8_t (*proof)[KEYS_DIGEST_LEN], size_t nproof, struct keys_err *err)
{
    if (!h->signed_any)
        return KEYS_OK;
    if (strcmp(cp->origin, h->signed_origin) != 0)
        return keys_fail(err, KEYS_EDENIED, "refused: this key signs the log '%s' only",
                         h->signed_origin);
    if (cp->size < h->signed_size)
        return keys_fail(err, KEYS_EDENIED,
                         "refused: a tree of %" PRIu64 " leaves, smaller than the %" PRIu64
                         " already signed",
                         cp->size, h->signed_size);
    if (cp->size == h->signed_size && memcmp(cp->root, h->signed_root, KEYS_DIGEST_LEN) != 0)
        return keys_fail(err, KEYS_EDENIED,
                         "refused: another root for the tree of %" PRIu64 " leaves already signed",
                         cp->size);
    if (cp->size > h->signed_size &&
        !keys_merkle_consistency(h->signed_size, cp->size, h->signed_root, cp->root, proof, nproof))
        return keys_fail(err, KEYS_EDENIED,
                         "refused: no proof that the tree of %" PRIu64
                         " leaves extends the %" PRIu64 " already signed",
                         cp->size, h->signed_size);
    return KEYS_OK;
}

int keys_sign_checkpoint(struct keyholder *h, const char *body, size_t len,
                         const uint8_t (*proof)[KEYS_DIGEST_LEN], size_t nproof,
                         uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    if (len > KEYS_CHECKPOINT_MAX)
        return keys_fail(err, KEYS_EFORMAT, "a checkpoint is at most %d bytes",
                         KEYS_CHECKPOINT_MAX);
    if (nproof > KEYS_PROOF_MAX || (nproof && !proof))
        return keys_fail(err, KEYS_EFORMAT, "a consistency proof is at most %d hashes",
                         KEYS_PROOF_MAX);
    if (h->kind == HOLDER_REMOTE)
        return remote_sign_checkpoint(h, body, len, proof, nproof, sig, err);
    struct checkpoint cp;
    int rc = checkpoint_parse(body, len, &cp, err);
    if (rc != KEYS_OK)
        return rc;
    uint8_t digest[KEYS_DIGEST_LEN];
    SHA256((const unsigned char *)body, len, digest);
    pthread_mutex_lock(&h->lock);
    rc = may_sign(h, &cp, proof, nproof, err);
    if (rc == KEYS_OK)
        rc = holder_sign_locked(h, digest, sig, err);
    if (rc == KEYS_OK) {
        h->signed_any = true;
        memcpy(h->signed_origin, cp.origin, sizeof h->signed_origin);
        h->signed_size = cp.size;
        memcpy(h->signed_root, cp.root, KEYS_DIGEST_LEN);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}
