/*
 * keys/tpm_holder.c - the TPM key holder: creating, opening and signing with
 * the hierarchy of <register>/keys/hierarchy.
 *
 * Create (huduma init): a random master key (OpenSSL's private DRBG) is
 * sealed to the PCRs of the options and the PIN (tpm_seal.c), the signing
 * key is made resident (tpm_sign.c), and only then is the hierarchy file
 * written, with O_EXCL; when any step fails the resident key is evicted
 * again and no file is left, so an init can simply be retried.
 *
 * Open (every start): the file is read and checked, the TPM's storage key
 * must have the recorded name, the master key is unsealed (PCRs, PIN), the
 * signing key must still be the one made at init.  The TPM conversation is
 * closed before returning: the master key lives on in the holder's locked
 * page; nothing stays loaded in the TPM.
 *
 * The PIN is the first line of the PIN file (at most KEYS_PIN_MAX bytes,
 * without its line end); the TPM's authValue is SHA-256 of it, made in
 * locked memory and wiped after use.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "keys/tpm_internal.h"

#define KEYS_PIN_MAX 128

static void hierarchy_path(const struct keyholder *h, char *out, size_t len)
{
    keys_path(out, len, h->register_dir, KEYS_HIERARCHY_FILE);
}

/* ---- the PIN ------------------------------------------------------------------------------ */

/* The authValue of the PIN in `path`, in locked memory (*out), or NULL without a file. */
static int read_pin(const char *path, struct keys_buf **out, struct keys_err *err)
{
    *out = NULL;
    if (path == NULL)
        return KEYS_OK;
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = keys_read_file(path, KEYS_PIN_MAX + 2, &text, &len, err);
    if (rc != KEYS_OK)
        return keys_fail(err, KEYS_EPIN, "cannot read the PIN file %s", path);
    size_t n = 0;
    while (n < len && text[n] != '\n' && text[n] != '\r')
        n++;
    if (n == 0 || n > KEYS_PIN_MAX)
        rc = keys_fail(err, KEYS_EPIN,
                       "the PIN file %s holds no PIN on its first line, or one "
                       "longer than %d bytes",
                       path, KEYS_PIN_MAX);
    else if ((*out = keys_buf_new(SHA256_DIGEST_LENGTH)) == NULL)
        rc = keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    else
        SHA256(text, n, keys_buf_mut(*out));
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

/* ---- create ------------------------------------------------------------------------------- */

static int seal_new_master(struct keyholder *h, struct tpm_conn *c, const uint8_t *pin_auth,
                           struct tpm_hierarchy *hier, struct keys_err *err)
{
    struct keys_buf *master = keys_buf_new(KEYS_MASTER_LEN);
    if (master == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    int rc = RAND_priv_bytes(keys_buf_mut(master), KEYS_MASTER_LEN) == 1
                 ? KEYS_OK
                 : keys_fail_crypto(err, "generating the master key");
    if (rc == KEYS_OK)
        rc = tpm_seal_master(c, keys_buf_data(master), pin_auth, hier, err);
    if (rc == KEYS_OK)
        rc = holder_set_master(h, keys_buf_data(master), err);
    keys_buf_free(master);
    return rc;
}

static int write_hierarchy(struct keyholder *h, const struct tpm_hierarchy *hier,
                           struct keys_err *err)
{
    uint8_t buf[TPM_HIERARCHY_MAX];
    size_t len;
    char path[PATH_MAX], pem_path[PATH_MAX];
    int rc = tpm_hierarchy_encode(hier, buf, sizeof(buf), &len, err);
    hierarchy_path(h, path, sizeof(path));
    keys_path(pem_path, sizeof(pem_path), h->register_dir, KEYS_PUBLIC_FILE);
    if (rc == KEYS_OK)
        rc = keys_write_file(pem_path, h->pem, strlen(h->pem), 0644, false, err);
    if (rc == KEYS_OK)
        rc = keys_write_file(path, buf, len, 0600, true, err);
    if (rc != KEYS_OK)
        unlink(pem_path);
    return rc;
}

int tpm_holder_create(struct keyholder *h, const struct keys_options *o, struct keys_err *err)
{
    struct tpm_hierarchy *hier = calloc(1, sizeof(*hier));
    struct keys_buf *pin = NULL;
    struct tpm_conn c = {0};
    if (hier == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");
    hier->pcr_mask = o->pcr_mask ? o->pcr_mask : KEYS_PCR_DEFAULT_MASK;
    hier->has_pin = o->pin_file != NULL;
    int rc = hier->pcr_mask >> KEYS_PCR_COUNT
                 ? keys_fail(err, KEYS_EFORMAT, "PCRs are numbered 0 to 23")
                 : read_pin(o->pin_file, &pin, err);
    if (rc == KEYS_OK)
        rc = tpm_begin(&c, h->tcti, true, NULL, &hier->srk_name, err);
    if (rc == KEYS_OK)
        rc = seal_new_master(h, &c, pin ? keys_buf_data(pin) : NULL, hier, err);
    if (rc == KEYS_OK)
        rc = tpm_signing_create(&c, h->sec->signing_auth, hier, h->pem, err);
    if (rc == KEYS_OK && (rc = write_hierarchy(h, hier, err)) != KEYS_OK)
        tpm_signing_evict(&c, hier, NULL);
    tpm_end(&c);
    keys_buf_free(pin);
    if (rc == KEYS_OK)
        h->hier = hier;
    else
        free(hier);
    return rc;
}

/* ---- open -------------------------------------------------------------------------------- */

static int read_hierarchy(struct keyholder *h, struct tpm_hierarchy *hier, struct keys_err *err)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    hierarchy_path(h, path, sizeof(path));
    int rc = keys_read_file(path, TPM_HIERARCHY_MAX, &buf, &len, err);
    if (rc == KEYS_OK)
        rc = tpm_hierarchy_decode(buf, len, hier, err);
    free(buf);
    return rc;
}

static int unseal(struct keyholder *h, struct tpm_conn *c, const struct tpm_hierarchy *hier,
                  const uint8_t *pin_auth, struct keys_err *err)
{
    struct keys_buf *master = keys_buf_new(KEYS_MASTER_LEN);
    if (master == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    int rc = tpm_unseal_master(c, hier, pin_auth, keys_buf_mut(master), err);
    if (rc == KEYS_OK)
        rc = holder_set_master(h, keys_buf_data(master), err);
    keys_buf_free(master);
    return rc;
}

static int check_pin_given(const struct tpm_hierarchy *hier, const struct keys_options *o,
                           struct keys_err *err)
{
    if (hier->has_pin && o->pin_file == NULL)
        return keys_fail(err, KEYS_EPIN,
                         "the master key is sealed with a PIN: give the PIN file (huduma "
                         "--pin-file FILE, [keys] pin_file, or HUDUMA_PIN_FILE)");
    if (!hier->has_pin && o->pin_file != NULL)
        return keys_fail(err, KEYS_EPIN,
                         "a PIN file was given, but the master key was sealed without a PIN");
    return KEYS_OK;
}

int tpm_holder_open(struct keyholder *h, const struct keys_options *o, struct keys_err *err)
{
    struct tpm_hierarchy *hier = calloc(1, sizeof(*hier));
    struct keys_buf *pin = NULL;
    struct tpm_conn c = {0};
    if (hier == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");
    int rc = read_hierarchy(h, hier, err);
    if (rc == KEYS_OK)
        rc = check_pin_given(hier, o, err);
    if (rc == KEYS_OK)
        rc = read_pin(o->pin_file, &pin, err);
    if (rc == KEYS_OK)
        rc = tpm_begin(&c, h->tcti, true, &hier->srk_name, NULL, err);
    if (rc == KEYS_OK)
        rc = unseal(h, &c, hier, pin ? keys_buf_data(pin) : NULL, err);
    if (rc == KEYS_OK)
        rc = tpm_signing_check(&c, hier, h->pem, err);
    tpm_end(&c);
    keys_buf_free(pin);
    if (rc == KEYS_OK)
        h->hier = hier;
    else
        free(hier);
    return rc;
}

/* ---- sign, destroy ------------------------------------------------------------------------ */

int tpm_holder_sign(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                    uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    struct tpm_conn c;
    int rc = tpm_begin(&c, h->tcti, false, &h->hier->srk_name, NULL, err);
    if (rc == KEYS_OK)
        rc = tpm_sign(&c, h->hier, h->sec->signing_auth, digest, sig, err);
    tpm_end(&c);
    return rc;
}

int tpm_holder_destroy(struct keyholder *h, struct keys_err *err)
{
    struct tpm_conn c;
    int rc = tpm_begin(&c, h->tcti, false, &h->hier->srk_name, NULL, err);
    if (rc == KEYS_OK)
        rc = tpm_signing_evict(&c, h->hier, err);
    tpm_end(&c);
    return rc;
}
