/*
 * appliance/audit_signer.c - who signs checkpoints: the register's audit
 * signing key, through keys/.
 *
 * The key is ECDSA P-256, made inside the TPM at `huduma init` and never out
 * of it (docs/keys.md).  keys_sign_checkpoint() signs the SHA-256 of a note's
 * text (in hudumad the key process does, for the network process, which cannot
 * reach the TPM, and only for a log that grows from the last tree it signed,
 * which the consistency proof handed along shows); its r || s becomes the DER ECDSA-Sig-Value a
 * signed note carries (keys_sig_to_der), and keys_public_pem() gives the public key whose
 * SHA-256(SubjectPublicKeyInfo)[:4] is the note's key id.  The checkpointer
 * sees only a struct audit_signer, so it does not depend on who holds the key.
 */
#include "audit_impl.h"

#include "keys/keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the register's audit signing key (keys.h) --------------------------------------- */

static int keys_sign(void *ctx, const char *text, size_t textlen,
                     const uint8_t (*proof)[AUDIT_HASH_LEN], size_t nproof, uint8_t *sig,
                     size_t *len, char *err, size_t errlen)
{
    struct audit_keys_signer *ks = ctx;
    uint8_t raw[KEYS_SIG_RAW_LEN], der[KEYS_SIG_DER_MAX];
    struct keys_err kerr;
    _Static_assert(AUDIT_HASH_LEN == KEYS_DIGEST_LEN, "one hash size");
    if (keys_sign_checkpoint(ks->holder, text, textlen, proof, nproof, raw, &kerr) != KEYS_OK)
        return audit_errorf(err, errlen, "the audit signing key did not sign: %s", kerr.msg);
    size_t n = keys_sig_to_der(raw, der);
    if (n == 0 || n > *len)
        return audit_errorf(err, errlen, "the signature could not be DER-encoded");
    memcpy(sig, der, n);
    *len = n;
    return 0;
}

int audit_keys_signer(struct keyholder *h, struct audit_keys_signer *ks, struct audit_signer *out,
                      char *err, size_t errlen)
{
    _Static_assert(sizeof ks->pem >= KEYS_PUBKEY_PEM_MAX, "room for the PEM");
    struct keys_err kerr;
    ks->holder = h;
    if (keys_public_pem(h, ks->pem, &kerr) != KEYS_OK)
        return audit_errorf(err, errlen, "the audit signing key's public key is unavailable: %s",
                            kerr.msg);
    ks->pem[sizeof ks->pem - 1] = '\0';
    *out = (struct audit_signer){keys_sign, ks, ks->pem};
    return 0;
}
