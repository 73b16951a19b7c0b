/*
 * keys/mac.c - keyed hashes for index keys.
 *
 * keys_index_mac() computes HMAC-SHA-256 (RFC 2104) under the keyring's index
 * key over
 *
 *   domain || 0x00 || data
 *
 * and keeps the first 16 bytes.  The domain ("document", "enrolment", ...)
 * keeps equal values of different kinds apart, and the zero byte keeps the
 * domain and the data from sliding into each other.
 *
 * HMAC's first step is the same for every message: SHA-256 over the key XOR
 * ipad, and over the key XOR opad.  keyring_prepare_mac() does it once, when
 * the index key is set, and keeps the two SHA-256 states in the keyring's
 * locked mapping beside the key (they are as secret as the key: each lets
 * anyone compute the MAC).  A call copies them to the stack, hashes the
 * message (one or two SHA-256 blocks for an index key or a Huduma Number) and
 * wipes the copies.  That is the low-level SHA-256 API: the EVP interface
 * keeps its prepared states in OpenSSL's ordinary heap, and building a fresh
 * EVP_MAC_CTX per call (as this file did before) cost about ten times as much
 * on the audit log's path, where every answer hashes its subject.  Concurrent
 * callers only read the prepared states.
 */
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3.0 in favour of EVP, kept
 * in 3.x, and the only interface whose state can live in our locked memory. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>

#include <openssl/crypto.h>

#include "keys/keyring_internal.h"

_Static_assert(KEYS_MAC_LEN <= SHA256_DIGEST_LENGTH, "truncated MAC");
_Static_assert(KEYS_INDEX_KEY_LEN <= SHA256_CBLOCK, "an index key longer than a block is hashed");

#define IPAD 0x36
#define OPAD 0x5c

void keyring_prepare_mac(struct keyring *kr)
{
    uint8_t pad[SHA256_CBLOCK];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (uint8_t)((i < KEYS_INDEX_KEY_LEN ? kr->index_key[i] : 0) ^ IPAD);
    SHA256_Init(&kr->mac_inner);
    SHA256_Update(&kr->mac_inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= IPAD ^ OPAD;
    SHA256_Init(&kr->mac_outer);
    SHA256_Update(&kr->mac_outer, pad, sizeof pad);
    OPENSSL_cleanse(pad, sizeof pad);
}

void keys_index_mac(const struct keyring *kr, const char *domain, const void *data, size_t len,
                    uint8_t out[KEYS_MAC_LEN])
{
    static const uint8_t separator = 0x00;
    uint8_t inner_hash[SHA256_DIGEST_LENGTH], full[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx = kr->mac_inner;
    SHA256_Update(&ctx, domain, strlen(domain));
    SHA256_Update(&ctx, &separator, 1);
    if (len > 0)
        SHA256_Update(&ctx, data, len);
    SHA256_Final(inner_hash, &ctx);
    ctx = kr->mac_outer;
    SHA256_Update(&ctx, inner_hash, sizeof inner_hash);
    SHA256_Final(full, &ctx);
    memcpy(out, full, KEYS_MAC_LEN);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    OPENSSL_cleanse(inner_hash, sizeof inner_hash);
    OPENSSL_cleanse(full, sizeof full);
}
