/*
 * keys/keyring.c - the keyring: where it lives, how its keys get there.
 *
 * A keyring is one struct in locked memory (secmem.c).  Two of its keys come
 * from the 32-byte master key through HKDF-SHA-256 (RFC 5869, empty salt),
 * each expansion with its own info string:
 *
 *   "huduma index mac"        32-byte HMAC-SHA-256 key for index keys
 *   "huduma hn permutation"   16-byte key of the Huduma Number permutation
 *
 * They can never change: the index and every issued number depend on them.
 * The data-encryption keys are not derived: each is 32 random bytes made at
 * init or at a rotation and kept in RocksDB wrapped by the master key, and is
 * added here by keys_add_dek() when the register opens or rotates.
 *
 * Sharing between threads: the DEK table only grows.  An adder (one at a
 * time, add_lock) fills the next slot and then publishes it by raising
 * dek_count with release order; readers load dek_count with acquire order and
 * so only ever see whole keys.  `current` is one atomic index.  The AES-256-GCM
 * cipher is fetched from OpenSSL once, so that the per-record path (aead.c)
 * does not look it up by name on every call; the index key's HMAC states are
 * prepared once (mac.c) whenever the index key is set.
 * keys_close() wipes the whole mapping before unmapping it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keys/keyring_internal.h"

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
    pthread_mutex_init(&kr->add_lock, NULL);
    atomic_init(&kr->dek_count, 0);
    atomic_init(&kr->current, SIZE_MAX);

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
    pthread_mutex_destroy(&kr->add_lock);
    secmem_free(kr, kr->map_len, kr->mem_locked);
}

/* ---- derivation ---------------------------------------------------------- */

int keys_hkdf(const uint8_t master[KEYS_MASTER_LEN], const char *info, uint8_t *out, size_t len,
              struct keys_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (ctx == NULL)
        return keys_fail_crypto(err, "HKDF context");

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, KEYS_MASTER_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, out, len, params) > 0;
    EVP_KDF_CTX_free(ctx);
    return ok ? KEYS_OK : keys_fail_crypto(err, "HKDF-SHA-256");
}

int keyring_derive(struct keyring *kr, const uint8_t master[KEYS_MASTER_LEN], struct keys_err *err)
{
    int rc = keys_hkdf(master, INFO_INDEX_MAC, kr->index_key, sizeof(kr->index_key), err);
    if (rc == KEYS_OK)
        rc = keys_hkdf(master, INFO_HN_PERMUTATION, kr->hn_key, sizeof(kr->hn_key), err);
    if (rc == KEYS_OK)
        keyring_prepare_mac(kr);
    return rc;
}

/* ---- the constructors ---------------------------------------------------- */

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

int keyring_from_parts(const uint8_t index_key[KEYS_INDEX_KEY_LEN],
                       const uint8_t hn_key[KEYS_HN_KEY_LEN], struct keyring **out,
                       struct keys_err *err)
{
    struct keyring *kr;
    int rc = keyring_alloc(&kr, err);
    if (rc != KEYS_OK)
        return rc;
    memcpy(kr->index_key, index_key, KEYS_INDEX_KEY_LEN);
    memcpy(kr->hn_key, hn_key, KEYS_HN_KEY_LEN);
    keyring_prepare_mac(kr);
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

/* ---- data-encryption keys -------------------------------------------------- */

const struct keys_dek *keyring_find_dek(const struct keyring *kr, uint32_t id)
{
    size_t n = atomic_load_explicit(&((struct keyring *)kr)->dek_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (kr->deks[i].id == id)
            return &kr->deks[i];
    }
    return NULL;
}

const struct keys_dek *keyring_current_dek(const struct keyring *kr)
{
    size_t i = atomic_load_explicit(&((struct keyring *)kr)->current, memory_order_acquire);
    return i == SIZE_MAX ? NULL : &kr->deks[i];
}

int keys_add_dek(struct keyring *kr, uint32_t id, const uint8_t key[KEYS_DEK_LEN],
                 struct keys_err *err)
{
    if (id == 0)
        return keys_fail(err, KEYS_EFORMAT, "key id 0 is not a data-encryption key");
    pthread_mutex_lock(&kr->add_lock);
    int rc = KEYS_OK;
    size_t n = atomic_load_explicit(&kr->dek_count, memory_order_relaxed);
    const struct keys_dek *have = keyring_find_dek(kr, id);
    if (have != NULL && CRYPTO_memcmp(have->key, key, KEYS_DEK_LEN) != 0) {
        rc = keys_fail(err, KEYS_EEXIST, "data-encryption key %u is already in the keyring",
                       (unsigned)id);
    } else if (have == NULL && n == KEYS_MAX_DEKS) {
        rc = keys_fail(err, KEYS_EFULL, "the keyring holds %d data-encryption keys already",
                       KEYS_MAX_DEKS);
    } else if (have == NULL) {
        kr->deks[n].id = id;
        memcpy(kr->deks[n].key, key, KEYS_DEK_LEN);
        atomic_store_explicit(&kr->dek_count, n + 1, memory_order_release);
        size_t none = SIZE_MAX;
        atomic_compare_exchange_strong(&kr->current, &none, n);
    }
    pthread_mutex_unlock(&kr->add_lock);
    return rc;
}

int keys_use_dek(struct keyring *kr, uint32_t id, struct keys_err *err)
{
    const struct keys_dek *dek = keyring_find_dek(kr, id);
    if (dek == NULL)
        return keys_fail(err, KEYS_EUNKNOWN, "data-encryption key %u is not in the keyring",
                         (unsigned)id);
    atomic_store_explicit(&kr->current, (size_t)(dek - kr->deks), memory_order_release);
    return KEYS_OK;
}

bool keys_has_dek(const struct keyring *kr, uint32_t id)
{
    return keyring_find_dek(kr, id) != NULL;
}

uint32_t keys_current_id(const struct keyring *kr)
{
    const struct keys_dek *dek = keyring_current_dek(kr);
    return dek ? dek->id : 0;
}

/* ---- accessors ----------------------------------------------------------- */

bool keyring_memory_locked(const struct keyring *kr)
{
    return kr->mem_locked;
}

const uint8_t *keys_hn_key(const struct keyring *kr)
{
    return kr->hn_key;
}
