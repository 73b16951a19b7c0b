/*
 * keys/wrap.c - secrets wrapped by the master key.
 *
 * A wrapped secret (a DEK in RocksDB, the TLS server key and the agency CA
 * key on disk, the software signing key) is
 *
 *   "HUDUMAW1" (8) | nonce (12) | ciphertext | GCM tag (16)
 *
 * AES-256-GCM under the key-encryption key, HKDF-SHA-256(master, "huduma
 * kek"), with a fresh random nonce.  The associated data is the magic
 * followed by a label naming what is wrapped: "huduma dek <id>" for DEK <id>,
 * "huduma tls server key", "huduma agency ca key", "huduma audit signing key".
 * So a wrapped DEK copied under another key id, or the CA key presented as
 * the TLS key, does not unwrap: the key process relies on this to unwrap for
 * the network process only what that process may have.
 *
 * keys_unwrap() checks the length and the magic before the tag, and leaves
 * no plaintext in `out` when any check fails.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "keys/keyring_internal.h"

#define MAGIC_LEN  8
#define NONCE_LEN  12
#define TAG_LEN    16
#define TEXT_START (MAGIC_LEN + NONCE_LEN)

_Static_assert(TEXT_START + TAG_LEN == KEYS_WRAP_OVERHEAD, "wrap overhead");
_Static_assert(sizeof(KEYS_WRAP_MAGIC) - 1 == MAGIC_LEN, "wrap magic");

void keys_dek_label(uint32_t id, char out[KEYS_LABEL_MAX])
{
    snprintf(out, KEYS_LABEL_MAX, "huduma dek %u", (unsigned)id);
}

const char *keys_secret_label(enum keys_secret what)
{
    switch (what) {
    case KEYS_SECRET_TLS_SERVER_KEY:
        return "huduma tls server key";
    case KEYS_SECRET_AGENCY_CA_KEY:
        return "huduma agency ca key";
    }
    return NULL;
}

bool keys_is_wrapped(const void *data, size_t len)
{
    return len >= KEYS_WRAP_OVERHEAD && memcmp(data, KEYS_WRAP_MAGIC, MAGIC_LEN) == 0;
}

/* A GCM context keyed with `kek` and the nonce, the magic and `label` fed as AAD. */
static EVP_CIPHER_CTX *start(const uint8_t kek[32], const uint8_t *nonce, const char *label,
                             int encrypt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;
    if (ctx == NULL || EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), kek, nonce, encrypt, NULL) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)KEYS_WRAP_MAGIC, MAGIC_LEN) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)label, (int)strlen(label)) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int keys_wrap(const uint8_t kek[32], const char *label, const void *plain, size_t len, uint8_t *out,
              struct keys_err *err)
{
    if (len > KEYS_WRAPPED_MAX - KEYS_WRAP_OVERHEAD)
        return keys_fail(err, KEYS_EFORMAT, "a secret of %zu bytes is too large to wrap", len);
    memcpy(out, KEYS_WRAP_MAGIC, MAGIC_LEN);
    if (RAND_bytes(out + MAGIC_LEN, NONCE_LEN) != 1)
        return keys_fail_crypto(err, "generating a nonce");
    EVP_CIPHER_CTX *ctx = start(kek, out + MAGIC_LEN, label, 1);
    uint8_t none[EVP_MAX_BLOCK_LENGTH];
    int n;
    bool ok = ctx != NULL &&
              (len == 0 || EVP_CipherUpdate(ctx, out + TEXT_START, &n, plain, (int)len) == 1) &&
              EVP_CipherFinal_ex(ctx, none, &n) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + TEXT_START + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, len + KEYS_WRAP_OVERHEAD);
        return keys_fail_crypto(err, "wrapping a secret");
    }
    return KEYS_OK;
}

int keys_unwrap(const uint8_t kek[32], const char *label, const uint8_t *wrapped, size_t len,
                uint8_t *out, size_t *out_len, struct keys_err *err)
{
    *out_len = 0;
    if (len < KEYS_WRAP_OVERHEAD || len > KEYS_WRAPPED_MAX)
        return keys_fail(err, KEYS_EFORMAT, "a wrapped secret of %zu bytes cannot be (%d-%d)", len,
                         KEYS_WRAP_OVERHEAD, KEYS_WRAPPED_MAX);
    if (memcmp(wrapped, KEYS_WRAP_MAGIC, MAGIC_LEN) != 0)
        return keys_fail(err, KEYS_EFORMAT, "not a wrapped secret (bad magic)");
    size_t text_len = len - KEYS_WRAP_OVERHEAD;
    uint8_t tag[TAG_LEN], none[EVP_MAX_BLOCK_LENGTH];
    memcpy(tag, wrapped + TEXT_START + text_len, TAG_LEN);
    EVP_CIPHER_CTX *ctx = start(kek, wrapped + MAGIC_LEN, label, 0);
    int n;
    bool ok = ctx != NULL &&
              (text_len == 0 ||
               EVP_CipherUpdate(ctx, out, &n, wrapped + TEXT_START, (int)text_len) == 1) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1 &&
              EVP_CipherFinal_ex(ctx, none, &n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        if (text_len > 0)
            OPENSSL_cleanse(out, text_len);
        ERR_clear_error();
        return keys_fail(err, KEYS_EAUTH,
                         "the wrapped %s does not unwrap: another master key, another kind of "
                         "secret, or altered bytes",
                         label + (strncmp(label, "huduma ", 7) == 0 ? 7 : 0));
    }
    *out_len = text_len;
    return KEYS_OK;
}
