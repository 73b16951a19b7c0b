/*
 * keys/holder.c - key holders: which kind a register has, and the operations
 * every kind offers (keys.h), each dispatched to the TPM holder
 * (tpm_holder.c), the software holder (soft.c) or the key process
 * (keyproc_client.c).
 *
 * A local holder keeps, in one locked and never-dumped page: the master key,
 * the key-encryption key HKDF(master, "huduma kek") that wraps DEKs and
 * secrets (wrap.c), and the signing key's authValue HKDF(master, "huduma
 * signing auth").  The kind of a register is told by its files: keys/hierarchy
 * (TPM) or keys/master.key (software, only opened with the insecure flag).
 * One mutex per holder serialises TPM conversations and key-process requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "keys/keyproc_internal.h"
#include "keys/tpm_internal.h"

#define INFO_KEK          "huduma kek"
#define INFO_SIGNING_AUTH "huduma signing auth"

void keys_path(char *out, size_t len, const char *register_dir, const char *file)
{
    if (file == NULL)
        snprintf(out, len, "%s/%s", register_dir, KEYS_DIR);
    else
        snprintf(out, len, "%s/%s/%s", register_dir, KEYS_DIR, file);
}

void keys_tcti_default(const char *register_dir, char *out, size_t len)
{
    int n = access("/dev/tpmrm0", R_OK | W_OK) == 0
                ? snprintf(out, len, "device:/dev/tpmrm0")
                : snprintf(out, len, "swtpm:path=%s/tpm/swtpm.sock", register_dir);
    if (n < 0 || (size_t)n >= len)
        snprintf(out, len, "swtpm:path=(the register directory's path is too long)");
}

int holder_new(enum holder_kind kind, const char *register_dir, struct keyholder **out,
               struct keys_err *err)
{
    struct keyholder *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");
    h->kind = kind;
    h->fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    if (register_dir != NULL && snprintf(h->register_dir, sizeof(h->register_dir), "%s",
                                         register_dir) >= (int)sizeof(h->register_dir)) {
        free(h);
        return keys_fail(err, KEYS_EIO, "register directory path too long");
    }
    if (kind != HOLDER_REMOTE) {
        h->sec = secmem_alloc(sizeof(*h->sec), &h->sec_map_len, &h->sec_locked);
        if (h->sec == NULL) {
            free(h);
            return keys_fail(err, KEYS_ENOMEM, "cannot map locked memory: %s", strerror(errno));
        }
    }
    *out = h;
    return KEYS_OK;
}

int holder_set_master(struct keyholder *h, const uint8_t master[KEYS_MASTER_LEN],
                      struct keys_err *err)
{
    memcpy(h->sec->master, master, KEYS_MASTER_LEN);
    int rc = keys_hkdf(master, INFO_KEK, h->sec->kek, sizeof(h->sec->kek), err);
    if (rc == KEYS_OK)
        rc = keys_hkdf(master, INFO_SIGNING_AUTH, h->sec->signing_auth,
                       sizeof(h->sec->signing_auth), err);
    return rc;
}

void keys_holder_close(struct keyholder *h)
{
    if (h == NULL)
        return;
    if (h->kind == HOLDER_REMOTE)
        remote_close(h);
    secmem_free(h->sec, h->sec_map_len, h->sec_locked);
    free(h->hier);
    EVP_PKEY_free(h->soft_signer);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- create, open, destroy ------------------------------------------------------------- */

static bool exists(const char *register_dir, const char *file)
{
    char path[PATH_MAX];
    keys_path(path, sizeof(path), register_dir, file);
    return access(path, F_OK) == 0;
}

static int make_keys_dir(const char *register_dir, bool *made, struct keys_err *err)
{
    char path[PATH_MAX];
    keys_path(path, sizeof(path), register_dir, NULL);
    *made = mkdir(path, 0700) == 0;
    if (!*made && errno != EEXIST)
        return keys_fail(err, KEYS_EIO, "cannot create %s: %s", path, strerror(errno));
    if (exists(register_dir, KEYS_HIERARCHY_FILE) || exists(register_dir, KEYS_MASTER_FILE))
        return keys_fail(err, KEYS_EEXIST,
                         "%s already holds a key hierarchy; it is never "
                         "replaced",
                         path);
    return chmod(path, 0700) == 0 ? KEYS_OK
                                  : keys_fail(err, KEYS_EIO, "%s: %s", path, strerror(errno));
}

static void remove_files(const char *register_dir, bool dir_too)
{
    static const char *const files[] = {KEYS_HIERARCHY_FILE, KEYS_MASTER_FILE, KEYS_SIGNING_FILE,
                                        KEYS_PUBLIC_FILE};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        keys_path(path, sizeof(path), register_dir, files[i]);
        unlink(path);
    }
    keys_path(path, sizeof(path), register_dir, NULL);
    if (dir_too)
        rmdir(path);
}

static void set_tcti(struct keyholder *h, const struct keys_options *o)
{
    if (o->tcti != NULL && o->tcti[0] != '\0')
        snprintf(h->tcti, sizeof(h->tcti), "%s", o->tcti);
    else
        keys_tcti_default(h->register_dir, h->tcti, sizeof(h->tcti));
}

int keys_create(const char *register_dir, const struct keys_options *o, struct keyholder **out,
                struct keys_err *err)
{
    static const struct keys_options none = {0};
    o = o ? o : &none;
    if (o->insecure_software_key && o->pin_file != NULL)
        return keys_fail(err, KEYS_EDENIED, "a PIN needs a TPM; the software key has none");
    bool made = false;
    int rc = make_keys_dir(register_dir, &made, err);
    if (rc != KEYS_OK)
        return rc;
    struct keyholder *h;
    rc = holder_new(o->insecure_software_key ? HOLDER_SOFTWARE : HOLDER_TPM, register_dir, &h, err);
    if (rc == KEYS_OK) {
        set_tcti(h, o);
        rc = h->kind == HOLDER_TPM ? tpm_holder_create(h, o, err) : soft_create(h, err);
        if (rc != KEYS_OK)
            keys_holder_close(h);
    }
    if (rc != KEYS_OK) {
        remove_files(register_dir, made);
        return rc;
    }
    *out = h;
    return KEYS_OK;
}

static int kind_of(const char *register_dir, const struct keys_options *o, enum holder_kind *kind,
                   struct keys_err *err)
{
    char path[PATH_MAX];
    keys_path(path, sizeof(path), register_dir, NULL);
    bool tpm = exists(register_dir, KEYS_HIERARCHY_FILE);
    bool soft = exists(register_dir, KEYS_MASTER_FILE);
    if (!tpm && !soft)
        return keys_fail(err, KEYS_EUNKNOWN,
                         "no key hierarchy in %s (a register is made with "
                         "`huduma init`)",
                         path);
    if (tpm && o->insecure_software_key)
        return keys_fail(err, KEYS_EDENIED,
                         "this register's master key is sealed in a TPM; "
                         "--insecure-software-key is only for registers "
                         "made without one");
    if (!tpm && !o->insecure_software_key)
        return keys_fail(err, KEYS_EDENIED,
                         "this register's master key is a plain file (%s/%s), made with "
                         "--insecure-software-key: it is not protected by any TPM; pass "
                         "--insecure-software-key to use it anyway",
                         path, KEYS_MASTER_FILE);
    *kind = tpm ? HOLDER_TPM : HOLDER_SOFTWARE;
    return KEYS_OK;
}

int keys_open_holder(const char *register_dir, const struct keys_options *o, struct keyholder **out,
                     struct keys_err *err)
{
    static const struct keys_options none = {0};
    o = o ? o : &none;
    enum holder_kind kind;
    struct keyholder *h;
    int rc = kind_of(register_dir, o, &kind, err);
    if (rc == KEYS_OK)
        rc = holder_new(kind, register_dir, &h, err);
    if (rc != KEYS_OK)
        return rc;
    set_tcti(h, o);
    rc = kind == HOLDER_TPM ? tpm_holder_open(h, o, err) : soft_open(h, err);
    if (rc != KEYS_OK) {
        keys_holder_close(h);
        return rc;
    }
    *out = h;
    return KEYS_OK;
}

int keys_destroy(const char *register_dir, struct keyholder *h, struct keys_err *err)
{
    int rc = KEYS_OK;
    if (h != NULL && h->kind == HOLDER_TPM && h->hier != NULL) {
        pthread_mutex_lock(&h->lock);
        rc = tpm_holder_destroy(h, err);
        pthread_mutex_unlock(&h->lock);
    }
    remove_files(register_dir, true);
    return rc;
}

void keys_holder_info(const struct keyholder *h, struct keys_info *out)
{
    memset(out, 0, sizeof(*out));
    out->software = h->kind == HOLDER_SOFTWARE;
    out->remote = h->kind == HOLDER_REMOTE;
    if (h->hier != NULL) {
        out->has_pin = h->hier->has_pin;
        out->pcr_mask = h->hier->pcr_mask;
        out->signing_handle = h->hier->sign_handle;
    }
    snprintf(out->tcti, sizeof(out->tcti), "%s", h->kind == HOLDER_TPM ? h->tcti : "");
}

/* ---- keys ----------------------------------------------------------------------------------- */

int keys_keyring(struct keyholder *h, struct keyring **out, struct keys_err *err)
{
    if (h->kind == HOLDER_REMOTE)
        return remote_keyring(h, out, err);
    return keys_from_master(h->sec->master, out, err);
}

int keys_dek_create(struct keyholder *h, struct keyring *kr, uint32_t id,
                    uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], struct keys_err *err)
{
    if (id == 0)
        return keys_fail(err, KEYS_EFORMAT, "key id 0 is not a data-encryption key");
    if (h->kind == HOLDER_REMOTE)
        return remote_dek_create(h, kr, id, wrapped, err);
    uint8_t dek[KEYS_DEK_LEN];
    char label[KEYS_LABEL_MAX];
    keys_dek_label(id, label);
    int rc = RAND_priv_bytes(dek, sizeof(dek)) == 1 ? KEYS_OK
                                                    : keys_fail_crypto(err, "generating a DEK");
    if (rc == KEYS_OK)
        rc = keys_wrap(h->sec->kek, label, dek, sizeof(dek), wrapped, err);
    if (rc == KEYS_OK && kr != NULL)
        rc = keys_add_dek(kr, id, dek, err);
    OPENSSL_cleanse(dek, sizeof(dek));
    return rc;
}

int keys_dek_unwrap(struct keyholder *h, struct keyring *kr, uint32_t id, const uint8_t *wrapped,
                    size_t len, struct keys_err *err)
{
    if (len != KEYS_WRAPPED_DEK_LEN)
        return keys_fail(err, KEYS_EFORMAT, "wrapped DEK %u has %zu bytes, not %d", (unsigned)id,
                         len, KEYS_WRAPPED_DEK_LEN);
    if (h->kind == HOLDER_REMOTE)
        return remote_dek_unwrap(h, kr, id, wrapped, err);
    uint8_t dek[KEYS_DEK_LEN];
    char label[KEYS_LABEL_MAX];
    size_t n = 0;
    keys_dek_label(id, label);
    int rc = keys_unwrap(h->sec->kek, label, wrapped, len, dek, &n, err);
    if (rc == KEYS_OK)
        rc = keys_add_dek(kr, id, dek, err);
    OPENSSL_cleanse(dek, sizeof(dek));
    return rc;
}

/* ---- secrets ----------------------------------------------------------------------------- */

int keys_secret_wrap(struct keyholder *h, enum keys_secret what, const void *plain, size_t len,
                     uint8_t **out, size_t *out_len, struct keys_err *err)
{
    const char *label = keys_secret_label(what);
    if (label == NULL)
        return keys_fail(err, KEYS_EFORMAT, "unknown kind of secret %d", (int)what);
    if (h->kind == HOLDER_REMOTE)
        return keys_fail(err, KEYS_EDENIED, "the network process cannot wrap secrets");
    if (len > KEYS_WRAPPED_MAX - KEYS_WRAP_OVERHEAD)
        return keys_fail(err, KEYS_EFORMAT, "a secret of %zu bytes is too large to wrap", len);
    uint8_t *buf = malloc(len + KEYS_WRAP_OVERHEAD);
    if (buf == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");
    int rc = keys_wrap(h->sec->kek, label, plain, len, buf, err);
    if (rc != KEYS_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len + KEYS_WRAP_OVERHEAD;
    return KEYS_OK;
}

int keys_secret_unwrap(struct keyholder *h, enum keys_secret what, const uint8_t *wrapped,
                       size_t len, struct keys_buf **out, struct keys_err *err)
{
    const char *label = keys_secret_label(what);
    if (label == NULL)
        return keys_fail(err, KEYS_EFORMAT, "unknown kind of secret %d", (int)what);
    if (len < KEYS_WRAP_OVERHEAD || len > KEYS_WRAPPED_MAX)
        return keys_fail(err, KEYS_EFORMAT, "a wrapped secret of %zu bytes cannot be", len);
    if (h->kind == HOLDER_REMOTE)
        return remote_secret_unwrap(h, what, wrapped, len, out, err);
    struct keys_buf *b = keys_buf_new(len - KEYS_WRAP_OVERHEAD);
    if (b == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of locked memory");
    size_t n = 0;
    int rc = keys_unwrap(h->sec->kek, label, wrapped, len, keys_buf_mut(b), &n, err);
    if (rc != KEYS_OK) {
        keys_buf_free(b);
        return rc;
    }
    *out = b;
    return KEYS_OK;
}

/* ---- signing ------------------------------------------------------------------------------ */

int holder_sign_locked(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                       uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    return h->kind == HOLDER_TPM ? tpm_holder_sign(h, digest, sig, err)
                                 : soft_sign(h, digest, sig, err);
}

int keys_sign_digest(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                     uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err)
{
    if (h->kind == HOLDER_REMOTE)
        return keys_fail(err, KEYS_EDENIED,
                         "the key process signs checkpoints only (keys_sign_checkpoint)");
    pthread_mutex_lock(&h->lock);
    int rc = holder_sign_locked(h, digest, sig, err);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int keys_public_pem(struct keyholder *h, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err)
{
    if (h->kind == HOLDER_REMOTE)
        return remote_public_pem(h, pem, err);
    memcpy(pem, h->pem, KEYS_PUBKEY_PEM_MAX);
    return KEYS_OK;
}
