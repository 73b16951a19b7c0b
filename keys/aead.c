/*
 * keys/aead.c - sealing and opening personal fields.
 *
 * Envelope, as written by keys_seal():
 *
 *   version (1 byte, = 1) | key id (4 bytes, big-endian) | nonce (12) |
 *   ciphertext (as long as the plaintext) | GCM tag (16)
 *
 * The cipher is AES-256-GCM under the data-encryption key named by the key id,
 * with a fresh random 96-bit nonce per envelope.  The associated data given to
 * GCM is the 5-byte version and key id header followed by the caller's aad, so
 * neither the header nor the aad (for records: the Huduma Number) can be
 * changed without the tag failing.  The nonce is authenticated by GCM itself.
 * Random nonces keep one key safe for 2^32 envelopes; rotating to a new key id
 * is the way past that.
 *
 * keys_open() rejects, in this order: an envelope too short to hold a header
 * and a tag (KEYS_EFORMAT), an unknown version (KEYS_EFORMAT), a key id that
 * the keyring lacks (KEYS_EUNKNOWN), and a tag that does not verify
 * (KEYS_EAUTH).  On every failure the output buffer is wiped, so no plaintext
 * of an unauthenticated envelope is ever left behind.
 *
 * Each call uses its own EVP_CIPHER_CTX over the keyring's cipher, fetched
 * once; the keyring is only read (its current DEK through one atomic load),
 * so any number of threads may seal and open with one keyring at the same
 * time, also while a rotation adds a key.  The key schedule is built per call
 * and freed (wiped by OpenSSL) at its end, so that between calls the DEKs exist
 * only in the keyring's locked memory.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "keys/keyring_internal.h"

#define VERSION_AND_ID_LEN 5
#define NONCE_OFFSET       VERSION_AND_ID_LEN
#define UPDATE_CHUNK       (1 << 30) /* EVP_CipherUpdate takes an int length */

_Static_assert(VERSION_AND_ID_LEN + KEYS_NONCE_LEN == KEYS_SEAL_HEADER_LEN, "envelope header");

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wipe(void *p, size_t len)
{
    if (len > 0)
        OPENSSL_cleanse(p, len);
}

/* Feeds `len` bytes through the cipher; a NULL `out` feeds associated data. */
static bool cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        int n = len > UPDATE_CHUNK ? UPDATE_CHUNK : (int)len;
        int written;
        if (EVP_CipherUpdate(ctx, out, &written, in, n) != 1)
            return false;
        in += n;
        len -= (size_t)n;
        if (out != NULL)
            out += n;
    }
    return true;
}

/*
 * A GCM context keyed with `dek`, its nonce taken from `header`, with the
 * version and key id of `header` and then `aad` already fed as associated data.
 */
static EVP_CIPHER_CTX *gcm_start(const struct keyring *kr, const struct keys_dek *dek,
                                 const uint8_t *header, const void *aad, size_t aad_len,
                                 int encrypt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return NULL;
    if (EVP_CipherInit_ex2(ctx, kr->gcm, dek->key, header + NONCE_OFFSET, encrypt, NULL) != 1 ||
        !cipher_update(ctx, NULL, header, VERSION_AND_ID_LEN) ||
        !cipher_update(ctx, NULL, aad, aad_len)) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool gcm_finish_seal(EVP_CIPHER_CTX *ctx, uint8_t tag[KEYS_SEAL_TAG_LEN])
{
    uint8_t none[EVP_MAX_BLOCK_LENGTH];
    int written;
    return EVP_CipherFinal_ex(ctx, none, &written) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, KEYS_SEAL_TAG_LEN, tag) == 1;
}

static bool gcm_finish_open(EVP_CIPHER_CTX *ctx, const uint8_t *sealed_tag)
{
    uint8_t tag[KEYS_SEAL_TAG_LEN];
    uint8_t none[EVP_MAX_BLOCK_LENGTH];
    int written;
    memcpy(tag, sealed_tag, sizeof(tag));
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) == 1 &&
           EVP_CipherFinal_ex(ctx, none, &written) == 1;
}

int keys_seal(const struct keyring *kr, const void *aad, size_t aad_len, const void *plain,
              size_t plain_len, uint8_t *out, struct keys_err *err)
{
    const struct keys_dek *dek = keyring_current_dek(kr);
    uint8_t *ciphertext = out + KEYS_SEAL_HEADER_LEN;
    if (dek == NULL)
        return keys_fail(err, KEYS_EUNKNOWN, "the keyring has no data-encryption key yet");

    out[0] = KEYS_ENVELOPE_VERSION;
    put_be32(out + 1, dek->id);
    if (RAND_bytes(out + NONCE_OFFSET, KEYS_NONCE_LEN) != 1)
        return keys_fail_crypto(err, "generating a nonce");

    EVP_CIPHER_CTX *ctx = gcm_start(kr, dek, out, aad, aad_len, 1);
    if (ctx == NULL)
        return keys_fail_crypto(err, "starting AES-256-GCM");
    bool ok = cipher_update(ctx, ciphertext, plain, plain_len) &&
              gcm_finish_seal(ctx, ciphertext + plain_len);
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        wipe(out, keys_sealed_len(plain_len));
        return keys_fail_crypto(err, "AES-256-GCM encryption");
    }
    return KEYS_OK;
}

static int check_envelope(const struct keyring *kr, const uint8_t *sealed, size_t sealed_len,
                          const struct keys_dek **dek, struct keys_err *err)
{
    if (sealed_len < KEYS_SEAL_OVERHEAD)
        return keys_fail(err, KEYS_EFORMAT,
                         "sealed value of %zu bytes is shorter than an empty envelope (%d)",
                         sealed_len, KEYS_SEAL_OVERHEAD);
    if (sealed[0] != KEYS_ENVELOPE_VERSION)
        return keys_fail(err, KEYS_EFORMAT, "unknown envelope version %u", (unsigned)sealed[0]);
    uint32_t id = get_be32(sealed + 1);
    *dek = keyring_find_dek(kr, id);
    if (*dek == NULL)
        return keys_fail(err, KEYS_EUNKNOWN,
                         "envelope is sealed with key id %u, not in this keyring", (unsigned)id);
    return KEYS_OK;
}

int keys_open(const struct keyring *kr, const void *aad, size_t aad_len, const uint8_t *sealed,
              size_t sealed_len, uint8_t *out, size_t *out_len, struct keys_err *err)
{
    *out_len = 0;
    const struct keys_dek *dek;
    int rc = check_envelope(kr, sealed, sealed_len, &dek, err);
    if (rc != KEYS_OK)
        return rc;

    size_t text_len = sealed_len - KEYS_SEAL_OVERHEAD;
    const uint8_t *ciphertext = sealed + KEYS_SEAL_HEADER_LEN;
    EVP_CIPHER_CTX *ctx = gcm_start(kr, dek, sealed, aad, aad_len, 0);
    if (ctx == NULL)
        return keys_fail_crypto(err, "starting AES-256-GCM");
    bool decrypted = cipher_update(ctx, out, ciphertext, text_len);
    bool authentic = decrypted && gcm_finish_open(ctx, ciphertext + text_len);
    EVP_CIPHER_CTX_free(ctx);

    if (!authentic) {
        wipe(out, text_len);
        if (!decrypted)
            return keys_fail_crypto(err, "AES-256-GCM decryption");
        ERR_clear_error();
        return keys_fail(err, KEYS_EAUTH,
                         "envelope does not authenticate: wrong key, wrong associated data "
                         "or altered contents");
    }
    *out_len = text_len;
    return KEYS_OK;
}

uint32_t keys_envelope_key_id(const uint8_t *sealed, size_t sealed_len)
{
    if (sealed_len < KEYS_SEAL_OVERHEAD || sealed[0] != KEYS_ENVELOPE_VERSION)
        return 0;
    return get_be32(sealed + 1);
}
