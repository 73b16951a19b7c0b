/*
 * keys/keyring.c - the keyring: where it lives, how its keys are derived.
 *
 * A keyring is one struct in locked memory (secmem.c).  Every key in it comes
 * from the 32-byte master key through HKDF-SHA-256 (RFC 5869, empty salt), one
 * expansion per key with its own info string:
 *
 *   "huduma dek <id>"         32-byte AES-256-GCM data-encryption key <id>
 *   "huduma index mac"        32-byte HMAC-SHA-256 key for index keys
 *   "huduma hn permutation"   16-byte key of the Huduma Number permutation
 *
 * The first DEK has id 1.  The AES-256-GCM cipher and the HMAC algorithm are
 * fetched from OpenSSL once, when the keyring is made, so that the per-record
 * paths (aead.c, mac.c) do not look them up by name on every call.  Nothing in
 * a keyring changes after creation, which is what makes it safe to share
 * between threads.  keys_close() wipes the whole mapping before unmapping it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keys/keyring_internal.h"

#define INFO_DEK_PREFIX     "huduma dek "
#define INFO_INDEX_MAC      "huduma index mac"
#define INFO_HN_PERMUTATION "huduma hn permutation"

/* ---- errors ------------------------------------------------------------ */

int keys_fail(struct keys_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int keys_fail_crypto(struct keys_err *err, const char *what)
{
    char reason[160] = "no reason given";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    return keys_fail(err, KEYS_ECRYPTO, "%s failed: %s", what, reason);
}

/* ---- allocation --------------------------------------------------------- */

static int fetch_algorithms(struct keyring *kr, struct keys_err *err)
{
    kr->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (kr->gcm == NULL)
        return keys_fail_crypto(err, "fetching AES-256-GCM");
    kr->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (kr->hmac == NULL)
        return keys_fail_crypto(err, "fetching HMAC");
    return KEYS_OK;
}

int keyring_alloc(struct keyring **out, struct keys_err *err)
{
    size_t map_len;
    bool locked;
    struct keyring *kr = secmem_alloc(sizeof(*kr), &map_len, &locked);
    if (kr == NULL)
        return keys_fail(err, KEYS_ENOMEM, "cannot map locked memory for the keyring: %s",
                         strerror(errno));
    kr->map_len = map_len;
    kr->mem_locked = locked;

    int rc = fetch_algorithms(kr, err);
    if (rc != KEYS_OK) {
        keys_close(kr);
        return rc;
    }
    *out = kr;
    return KEYS_OK;
}

void keys_close(struct keyring *kr)
{
    if (kr == NULL)
        return;
    EVP_CIPHER_free(kr->gcm);
    EVP_MAC_free(kr->hmac);
    secmem_free(kr, kr->map_len, kr->mem_locked);
}

/* ---- derivation ---------------------------------------------------------- */

static int hkdf_expand(EVP_KDF *kdf, const uint8_t master[KEYS_MASTER_LEN], const char *info,
                       uint8_t *out, size_t out_len, struct keys_err *err)
{
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL)
        return keys_fail_crypto(err, "HKDF context");

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, KEYS_MASTER_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, out, out_len, params) > 0;
    EVP_KDF_CTX_free(ctx);
    return ok ? KEYS_OK : keys_fail_crypto(err, "HKDF-SHA-256");
}

static int derive_dek(EVP_KDF *kdf, const uint8_t master[KEYS_MASTER_LEN], uint32_t id,
                      struct keys_dek *dek, struct keys_err *err)
{
    char info[sizeof(INFO_DEK_PREFIX) + 10];
    snprintf(info, sizeof(info), INFO_DEK_PREFIX "%u", (unsigned)id);
    dek->id = id;
    return hkdf_expand(kdf, master, info, dek->key, sizeof(dek->key), err);
}

int keyring_derive(struct keyring *kr, const uint8_t master[KEYS_MASTER_LEN], struct keys_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL)
        return keys_fail_crypto(err, "fetching HKDF");

    int rc = derive_dek(kdf, master, KEYS_FIRST_DEK_ID, &kr->deks[0], err);
    if (rc == KEYS_OK)
        rc = hkdf_expand(kdf, master, INFO_INDEX_MAC, kr->index_key, sizeof(kr->index_key), err);
    if (rc == KEYS_OK)
        rc = hkdf_expand(kdf, master, INFO_HN_PERMUTATION, kr->hn_key, sizeof(kr->hn_key), err);
    EVP_KDF_free(kdf);
    if (rc != KEYS_OK)
        return rc;

    kr->dek_count = 1;
    kr->current = 0;
    return KEYS_OK;
}

/* ---- the public constructors -------------------------------------------- */

int keys_from_master(const uint8_t master[KEYS_MASTER_LEN], struct keyring **out,
                     struct keys_err *err)
{
    struct keyring *kr;
    int rc = keyring_alloc(&kr, err);
    if (rc != KEYS_OK)
        return rc;
    rc = keyring_derive(kr, master, err);
    if (rc != KEYS_OK) {
        keys_close(kr);
        return rc;
    }
    *out = kr;
    return KEYS_OK;
}

/* The file is read straight into the locked keyring, so the master key never
 * sits in ordinary memory; the copy is wiped as soon as the keys are derived. */
int keys_open_file(const char *path, struct keyring **out, struct keys_err *err)
{
    struct keyring *kr;
    int rc = keyring_alloc(&kr, err);
    if (rc != KEYS_OK)
        return rc;

    rc = keyfile_read(path, kr->scratch, err);
    if (rc == KEYS_OK)
        rc = keyring_derive(kr, kr->scratch + KEYS_FILE_MAGIC_LEN, err);
    OPENSSL_cleanse(kr->scratch, sizeof(kr->scratch));
    if (rc != KEYS_OK) {
        keys_close(kr);
        return rc;
    }
    *out = kr;
    return KEYS_OK;
}

/* ---- accessors ----------------------------------------------------------- */

const struct keys_dek *keyring_find_dek(const struct keyring *kr, uint32_t id)
{
    for (size_t i = 0; i < kr->dek_count; i++) {
        if (kr->deks[i].id == id)
            return &kr->deks[i];
    }
    return NULL;
}

bool keyring_memory_locked(const struct keyring *kr)
{
    return kr->mem_locked;
}

const uint8_t *keys_hn_key(const struct keyring *kr)
{
    return kr->hn_key;
}

uint32_t keys_current_id(const struct keyring *kr)
{
    return kr->deks[kr->current].id;
}
