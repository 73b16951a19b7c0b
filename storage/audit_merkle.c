/*
 * storage/audit_merkle.c - the arithmetic of RFC 9162's Merkle tree, with no
 * database: leaf and node hashes, the right edge of a growing tree (a
 * "compact range").
 *
 * Hashes are SHA-256 through one EVP_MD_CTX per thread (kept under a
 * pthread key and freed when the thread ends), because the fold thread hashes
 * every leaf and a context per call would cost an allocation each time.
 *
 * The compact range keeps, for each set bit h of the size, the hash of the
 * complete subtree of 2^h leaves that bit stands for.  Pushing a leaf is a
 * binary increment: equal-height peaks merge (node hash of left and right)
 * while the carry runs.  The root folds the peaks from the smallest up, each
 * larger one on the left, which is MTH's split at the largest power of two.
 *
 * The verifiers of RFC 9162 sections 2.1.3.2 and 2.1.4.2 are keys/merkle.c's
 * (keys_merkle_inclusion, keys_merkle_consistency), called directly by
 * whoever checks a proof: the audit signing key's holder (a larger tree is
 * signed only with a consistency proof from the last one), huduma-audit and
 * the tests.
 */
#include "storage/audit_internal.h"

#include "keys/keys.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void free_ctx(void *p)
{
    EVP_MD_CTX_free(p);
}

static void init_once(void)
{
    pthread_key_create(&ctx_key, free_ctx);
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* This thread's digest context; NULL only when out of memory. */
static EVP_MD_CTX *thread_ctx(void)
{
    pthread_once(&ctx_once, init_once);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (ctx && pthread_setspecific(ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

/* SHA-256(prefix || a || b); b may be NULL. */
static void sha256_parts(uint8_t prefix, const void *a, size_t alen, const void *b, size_t blen,
                         uint8_t out[AUDIT_HASH_LEN])
{
    EVP_MD_CTX *ctx = thread_ctx();
    unsigned int n = 0;
    bool ok = ctx && sha256_md && EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1 &&
              EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
              (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
              (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1;
    if (!ok) /* out of memory only: a zero hash verifies nothing */
        memset(out, 0, AUDIT_HASH_LEN);
}

void audit_leaf_hash(const void *leaf, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
    sha256_parts(0x00, leaf, len, NULL, 0, out);
}

void audit_node_hash(const uint8_t left[AUDIT_HASH_LEN], const uint8_t right[AUDIT_HASH_LEN],
                     uint8_t out[AUDIT_HASH_LEN])
{
    sha256_parts(0x01, left, AUDIT_HASH_LEN, right, AUDIT_HASH_LEN, out);
}

void audit_empty_root(uint8_t out[AUDIT_HASH_LEN])
{
    unsigned int n = 0;
    pthread_once(&ctx_once, init_once);
    if (!sha256_md || EVP_Digest("", 0, out, &n, sha256_md, NULL) != 1)
        memset(out, 0, AUDIT_HASH_LEN);
}

/* ---- the compact range ------------------------------------------------------------- */

void audit_range_init(struct audit_range *r)
{
    memset(r, 0, sizeof *r);
}

void audit_range_push_cb(struct audit_range *r, const uint8_t leaf_hash[AUDIT_HASH_LEN],
                         audit_node_fn fn, void *ctx)
{
    uint8_t carry[AUDIT_HASH_LEN];
    memcpy(carry, leaf_hash, AUDIT_HASH_LEN);
    uint64_t index = r->size; /* of the carried node at its height */
    unsigned h = 0;
    while (r->size >> h & 1) {
        audit_node_hash(r->peak[h], carry, carry);
        h++;
        index >>= 1;
        if (fn)
            fn(ctx, h, index, carry);
    }
    memcpy(r->peak[h], carry, AUDIT_HASH_LEN);
    r->size++;
}

void audit_range_push(struct audit_range *r, const uint8_t leaf_hash[AUDIT_HASH_LEN])
{
    audit_range_push_cb(r, leaf_hash, NULL, NULL);
}

void audit_range_root(const struct audit_range *r, uint8_t root[AUDIT_HASH_LEN])
{
    if (r->size == 0) {
        audit_empty_root(root);
        return;
    }
    bool have = false;
    for (unsigned h = 0; h < 64; h++) {
        if (!(r->size >> h & 1))
            continue;
        if (have)
            audit_node_hash(r->peak[h], root, root);
        else
            memcpy(root, r->peak[h], AUDIT_HASH_LEN);
        have = true;
    }
}

/* The proofs this tree gives are checked by keys/merkle.c's verifiers. */
_Static_assert(AUDIT_HASH_LEN == KEYS_DIGEST_LEN, "one hash size");
