/*
 * keys/soft.c - the software key holder, for machines without any TPM, and
 * the public-key helpers the TPM holder shares.
 *
 * Only with the insecure software-key flag (keys_options): the master key is
 * then a plain file, <register>/keys/master.key (keyfile.c, mode 0600), and
 * the audit signing key an ECDSA P-256 key made by OpenSSL and stored wrapped
 * by the master key in <register>/keys/signing.key.  Anyone who copies the
 * register directory copies the keys with it; this is for a developer's
 * machine, never for the appliance, and every caller says so loudly.
 *
 * Signatures are made over the given SHA-256 digest (EVP_PKEY_sign with the
 * digest named) and returned as r || s, like the TPM's, so that callers never
 * see which holder signed.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keys/keyring_internal.h"

/* ---- public keys ------------------------------------------------------------------ */

int keys_pem_of(EVP_PKEY *pkey, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = bio && PEM_write_bio_PUBKEY(bio, pkey) ? BIO_get_mem_data(bio, &data) : 0;
    int rc = KEYS_OK;
    if (n <= 0 || n >= KEYS_PUBKEY_PEM_MAX)
        rc = keys_fail_crypto(err, "writing the signing key's public key as PEM");
    else
        memcpy(pem, data, (size_t)n), pem[n] = '\0';
    BIO_free(bio);
    return rc;
}

int keys_pem_from_point(const uint8_t x[32], const uint8_t y[32], char pem[KEYS_PUBKEY_PEM_MAX],
                        struct keys_err *err)
{
    uint8_t point[65];
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return keys_fail_crypto(err, "reading the TPM signing key's public point");
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = keys_pem_of(pkey, pem, err);
    EVP_PKEY_free(pkey);
    return rc;
}

/* ---- signatures -------------------------------------------------------------------- */

static int der_to_raw(const uint8_t *der, size_t len, uint8_t sig[KEYS_SIG_RAW_LEN],
                      struct keys_err *err)
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *ss = NULL;
    if (s != NULL)
        ECDSA_SIG_get0(s, &r, &ss);
    bool ok = s != NULL && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(ss, sig + 32, 32) == 32;
    ECDSA_SIG_free(s);
    return ok ? KEYS_OK : keys_fail_crypto(err, "decoding an ECDSA signature");
}

size_t keys_sig_to_der(const uint8_t sig[KEYS_SIG_RAW_LEN], uint8_t der[KEYS_SIG_DER_MAX])
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    if (s == NULL || r == NULL || ss == NULL || ECDSA_SIG_set0(s, r, ss) != 1) {
        BN_free(r);
        BN_free(ss);
        ECDSA_SIG_free(s);
        return 0;
    }
    int n = i2d_ECDSA_SIG(s, NULL);
    unsigned char *p = der;
    if (n <= 0 || n > KEYS_SIG_DER_MAX || i2d_ECDSA_SIG(s, &p) != n)
        n = 0;
    ECDSA_SIG_free(s);
    return (size_t)n;
}

int soft_sign(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
              uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    uint8_t der[KEYS_SIG_DER_MAX + 8];
    size_t len = sizeof(der);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(h->soft_signer, NULL);
    bool ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
              EVP_PKEY_sign(ctx, der, &len, digest, KEYS_DIGEST_LEN) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return keys_fail_crypto(err, "signing with the software signing key");
    return der_to_raw(der, len, sig, err);
}

/* ---- the holder ---------------------------------------------------------------------- */

static int soft_open_master(struct keyholder *h, struct keys_err *err);

static int write_signer(struct keyholder *h, EVP_PKEY *key, struct keys_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(key, &der);
    if (n <= 0)
        return keys_fail_crypto(err, "encoding the software signing key");
    uint8_t wrapped[KEYS_WRAPPED_MAX];
    char path[PATH_MAX];
    int rc = keys_wrap(h->sec->kek, KEYS_LABEL_SIGNING, der, (size_t)n, wrapped, err);
    OPENSSL_clear_free(der, (size_t)n);
    keys_path(path, sizeof(path), h->register_dir, KEYS_SIGNING_FILE);
    if (rc == KEYS_OK)
        rc = keys_write_file(path, wrapped, (size_t)n + KEYS_WRAP_OVERHEAD, 0600, true, err);
    return rc;
}

int soft_create(struct keyholder *h, struct keys_err *err)
{
    char path[PATH_MAX];
    keys_path(path, sizeof(path), h->register_dir, KEYS_MASTER_FILE);
    int rc = keys_create_file(path, err);
    if (rc == KEYS_EEXIST)
        return rc;
    if (rc == KEYS_OK)
        rc = soft_open_master(h, err);
    if (rc != KEYS_OK)
        return rc;
    h->soft_signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (h->soft_signer == NULL)
        return keys_fail_crypto(err, "generating the software signing key");
    rc = write_signer(h, h->soft_signer, err);
    return rc == KEYS_OK ? keys_pem_of(h->soft_signer, h->pem, err) : rc;
}

/* Reads the key file into locked memory, never ordinary memory. */
static int soft_open_master(struct keyholder *h, struct keys_err *err)
{
    char path[PATH_MAX];
    keys_path(path, sizeof(path), h->register_dir, KEYS_MASTER_FILE);
    struct keys_buf *file = keys_buf_new(KEYS_FILE_LEN);
    if (file == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    int rc = keyfile_read(path, keys_buf_mut(file), err);
    if (rc == KEYS_OK)
        rc = holder_set_master(h, keys_buf_data(file) + KEYS_FILE_MAGIC_LEN, err);
    keys_buf_free(file);
    return rc;
}

static int read_signer(struct keyholder *h, struct keys_err *err)
{
    char path[PATH_MAX];
    uint8_t *wrapped = NULL;
    size_t len = 0, der_len = 0;
    keys_path(path, sizeof(path), h->register_dir, KEYS_SIGNING_FILE);
    int rc = keys_read_file(path, KEYS_WRAPPED_MAX, &wrapped, &len, err);
    if (rc != KEYS_OK)
        return rc;
    struct keys_buf *der = keys_buf_new(len);
    if (der == NULL)
        rc = keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    else
        rc = keys_unwrap(h->sec->kek, KEYS_LABEL_SIGNING, wrapped, len, keys_buf_mut(der), &der_len,
                         err);
    free(wrapped);
    if (rc == KEYS_OK) {
        const unsigned char *p = keys_buf_data(der);
        h->soft_signer = d2i_AutoPrivateKey(NULL, &p, (long)der_len);
        if (h->soft_signer == NULL)
            rc = keys_fail_crypto(err, "reading the software signing key");
    }
    keys_buf_free(der);
    return rc;
}

int soft_open(struct keyholder *h, struct keys_err *err)
{
    int rc = soft_open_master(h, err);
    if (rc == KEYS_OK)
        rc = read_signer(h, err);
    if (rc == KEYS_OK)
        rc = keys_pem_of(h->soft_signer, h->pem, err);
    return rc;
}
