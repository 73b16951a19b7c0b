/*
 * keys/mac.c - keyed hashes for index keys.
 *
 * keys_index_mac() computes HMAC-SHA-256 under the keyring's index key over
 *
 *   domain || 0x00 || data
 *
 * and keeps the first 16 bytes.  The domain ("document", "enrolment", ...)
 * keeps equal values of different kinds apart, and the zero byte keeps the
 * domain and the data from sliding into each other.  Each call has its own
 * EVP_MAC_CTX over the HMAC algorithm fetched with the keyring, so concurrent
 * callers share nothing mutable.  The key is given to OpenSSL on every call
 * rather than kept in a prepared context, so that between calls the index key
 * exists only in the keyring's locked memory.
 *
 * The function cannot report an error.  OpenSSL fails here only when it cannot
 * allocate; `out` is then all zeros.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "keys/keyring_internal.h"

#define SHA256_LEN 32

_Static_assert(KEYS_MAC_LEN <= SHA256_LEN, "truncated MAC");

static bool hmac_sha256(const struct keyring *kr, const char *domain, const void *data, size_t len,
                        uint8_t full[SHA256_LEN])
{
    static const uint8_t separator = 0x00;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t full_len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(kr->hmac);
    bool ok = ctx != NULL && EVP_MAC_init(ctx, kr->index_key, sizeof(kr->index_key), params) == 1 &&
              EVP_MAC_update(ctx, (const uint8_t *)domain, strlen(domain)) == 1 &&
              EVP_MAC_update(ctx, &separator, 1) == 1 &&
              (len == 0 || EVP_MAC_update(ctx, data, len) == 1) &&
              EVP_MAC_final(ctx, full, &full_len, SHA256_LEN) == 1 && full_len == SHA256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

void keys_index_mac(const struct keyring *kr, const char *domain, const void *data, size_t len,
                    uint8_t out[KEYS_MAC_LEN])
{
    uint8_t full[SHA256_LEN];
    if (hmac_sha256(kr, domain, data, len, full)) {
        memcpy(out, full, KEYS_MAC_LEN);
    } else {
        memset(out, 0, KEYS_MAC_LEN);
        ERR_clear_error();
    }
    OPENSSL_cleanse(full, sizeof(full));
}
