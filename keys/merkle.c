/*
 * keys/merkle.c - the verification of RFC 9162 proofs: inclusion (2.1.3.2)
 * and consistency (2.1.4.2), over SHA-256 with the RFC's domain separation
 * (leaf 0x00 || leaf, node 0x01 || left || right).
 *
 * It lives in keys/ because the audit signing key needs it: the holder that
 * signs checkpoints accepts a larger tree only with a consistency proof from
 * the last one it signed (checkpoint.c).  The audit log (storage/) and the
 * auditors' verifier (huduma-audit) check proofs with the same code, through
 * audit_verify_inclusion() and audit_verify_consistency().
 *
 * The verifiers follow the RFC step by step; the only additions are the
 * trivial cases it leaves to the caller (an index outside the tree, m == n,
 * m == 0), answered as keys.h states.  Each call hashes with one EVP_MD_CTX
 * of its own (at most 64 node hashes a proof).
 */
#include <string.h>

#include <openssl/evp.h>

#include "keys/keys.h"

#define HASH KEYS_DIGEST_LEN

/* SHA-256(0x01 || left || right) into out (which may alias either side). */
static bool node_hash(EVP_MD_CTX *ctx, const uint8_t left[HASH], const uint8_t right[HASH],
                      uint8_t out[HASH])
{
    static const uint8_t node_prefix = 0x01;
    unsigned n = 0;
    return EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, &node_prefix, 1) == 1 && EVP_DigestUpdate(ctx, left, HASH) == 1 &&
           EVP_DigestUpdate(ctx, right, HASH) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
}

static void shift_until_lsb_or_zero(uint64_t *fn, uint64_t *sn)
{
    while (!(*fn & 1) && *fn != 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

static bool inclusion(EVP_MD_CTX *ctx, uint64_t index, uint64_t size, const uint8_t leaf_hash[HASH],
                      const uint8_t path[][HASH], size_t npath, const uint8_t root[HASH])
{
    if (index >= size)
        return false;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[HASH];
    memcpy(r, leaf_hash, HASH);
    for (size_t i = 0; i < npath; i++) {
        if (sn == 0)
            return false;
        bool ok;
        if ((fn & 1) || fn == sn) {
            ok = node_hash(ctx, path[i], r, r);
            if (!(fn & 1))
                shift_until_lsb_or_zero(&fn, &sn);
        } else {
            ok = node_hash(ctx, r, path[i], r);
        }
        if (!ok)
            return false;
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, HASH) == 0;
}

static bool consistency(EVP_MD_CTX *ctx, uint64_t m, uint64_t n, const uint8_t old_root[HASH],
                        const uint8_t new_root[HASH], const uint8_t path[][HASH], size_t npath)
{
    if (m > n)
        return false;
    if (m == n)
        return npath == 0 && memcmp(old_root, new_root, HASH) == 0;
    if (m == 0) /* the empty tree is a prefix of every tree */
        return npath == 0;
    if (npath == 0)
        return false;
    /* Step 1: when m is a power of two, the old root is the first hash. */
    bool pow2 = (m & (m - 1)) == 0;
    const uint8_t *first = pow2 ? old_root : path[0];
    size_t next = pow2 ? 0 : 1;
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) { /* step 3 */
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[HASH], sr[HASH];
    memcpy(fr, first, HASH);
    memcpy(sr, first, HASH);
    for (size_t i = next; i < npath; i++) {
        if (sn == 0)
            return false;
        bool ok;
        if ((fn & 1) || fn == sn) {
            ok = node_hash(ctx, path[i], fr, fr) && node_hash(ctx, path[i], sr, sr);
            if (!(fn & 1))
                shift_until_lsb_or_zero(&fn, &sn);
        } else {
            ok = node_hash(ctx, sr, path[i], sr);
        }
        if (!ok)
            return false;
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, old_root, HASH) == 0 && memcmp(sr, new_root, HASH) == 0;
}

bool keys_merkle_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[KEYS_DIGEST_LEN],
                           const uint8_t path[][KEYS_DIGEST_LEN], size_t npath,
                           const uint8_t root[KEYS_DIGEST_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && inclusion(ctx, index, size, leaf_hash, path, npath, root);
    EVP_MD_CTX_free(ctx);
    return ok;
}

bool keys_merkle_consistency(uint64_t m, uint64_t n, const uint8_t old_root[KEYS_DIGEST_LEN],
                             const uint8_t new_root[KEYS_DIGEST_LEN],
                             const uint8_t path[][KEYS_DIGEST_LEN], size_t npath)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && consistency(ctx, m, n, old_root, new_root, path, npath);
    EVP_MD_CTX_free(ctx);
    return ok;
}
