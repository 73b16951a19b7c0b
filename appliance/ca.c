/*
 * appliance/ca.c - the appliance's agency certificate authority: its key and
 * self-signed certificate (<register dir>/ca/), the daemon's server
 * certificate (<register dir>/tls/), and the issuing of certificates, plus
 * the durable file writes the agency registry (agency.c) shares.
 *
 * Every key is ECDSA P-256; every certificate is X.509 v3, signed with
 * SHA-256, with a random 159-bit serial (positive, at most 20 bytes, as
 * RFC 5280 asks) and a subject and authority key identifier.  Files are
 * written whole or not at all: a temporary file beside the target, fsync,
 * rename (RENAME_NOREPLACE, or link, where an existing file must not be
 * replaced), fsync of the directory.  A key file is the last file of its pair to be written, so
 * a key on disk always has its certificate beside it.  ca_init() holds an
 * flock on the ca directory, so two concurrent runs cannot make two CAs.
 *
 * The CA key and the server key never touch the disk in the clear: they are
 * written as DER PKCS#8 wrapped by the master key (keys.h, each bound to its
 * kind), and ca_load() has the key holder unwrap the CA key into locked
 * memory.  The agencies' client keys are plain PEM: they are handed to the
 * agency and leave the appliance.
 */
#include "agency.h"
#include "ca.h"
#include "register.h"

#include "keys/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define CA_DAYS          3652 /* ten years */
#define SERVER_DAYS      730
#define BACKDATE_SECONDS 300 /* tolerates a little clock skew at the client */
#define SERIAL_BITS      159

/* ---- errors and files ----------------------------------------------------------- */

int ca_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ca_ssl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ca_err(err, errlen, "%s: %s", what, why ? why : "OpenSSL refused");
    ERR_clear_error();
    return -1;
}

int ca_path_join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int ca_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void parent_of(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, size, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
}

int ca_dir_ensure(const char *dir, mode_t mode, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    if (mkdir(dir, mode) == 0) {
        parent_of(dir, parent, sizeof parent);
        if (chmod(dir, mode) != 0 || ca_dir_sync(parent) != 0)
            return ca_err(err, errlen, "%s: %s", dir, strerror(errno));
        return 0;
    }
    struct stat st;
    if (errno != EEXIST || stat(dir, &st) != 0)
        return ca_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ca_err(err, errlen, "%s: not a directory", dir);
    if ((st.st_mode & 077 & ~mode) && chmod(dir, st.st_mode & 07777 & (~077 | mode)) != 0)
        return ca_err(err, errlen, "%s: %s", dir, strerror(errno));
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The temporary file: ".<name>.XXXXXX" in the target's directory. */
static int temp_beside(const char *path, char *tmp, size_t size, char *dir, size_t dirsize)
{
    parent_of(path, dir, dirsize);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int n = snprintf(tmp, size, "%s/.%s.XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkostemp(tmp, O_CLOEXEC);
}

/* rename(2) that refuses an existing target: renameat2 with RENAME_NOREPLACE,
 * or link(2) where the filesystem does not offer it.  1 when the target exists. */
static int rename_noreplace(const char *tmp, const char *path)
{
    int rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        rc = link(tmp, path);
        int saved = errno;
        if (rc == 0)
            unlink(tmp);
        errno = saved;
    }
    if (rc != 0 && errno == EEXIST)
        return 1;
    return rc == 0 ? 0 : -1;
}

static int put_in_place(const char *tmp, const char *path, bool exclusive)
{
    if (exclusive)
        return rename_noreplace(tmp, path);
    return rename(tmp, path) == 0 ? 0 : -1;
}

int ca_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                    char *err, size_t errlen)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd = temp_beside(path, tmp, sizeof tmp, dir, sizeof dir);
    if (fd < 0)
        return ca_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        return ca_err(err, errlen, "cannot write %s: %s", path, strerror(saved));
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return ca_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    }
    int rc = put_in_place(tmp, path, exclusive);
    if (rc != 0) {
        int saved = errno;
        unlink(tmp);
        return rc == 1 ? 1 : ca_err(err, errlen, "cannot write %s: %s", path, strerror(saved));
    }
    if (ca_dir_sync(dir) != 0)
        return ca_err(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
    return 0;
}

/* ---- keys and certificates ------------------------------------------------------ */

EVP_PKEY *ca_new_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int ok = bn != NULL;
    do
        ok = ok && BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
    while (ok && BN_is_zero(bn));
    ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int set_name(X509_NAME *name, const struct cert_spec *spec)
{
    const unsigned char *o = (const unsigned char *)spec->organisation;
    const unsigned char *cn = (const unsigned char *)spec->common_name;
    if (o && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, o, -1, -1, 0))
        return -1;
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) ? 0 : -1;
}

struct ext {
    int nid;
    const char *value;
};

static const struct ext CA_EXTS[] = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {0, NULL},
};

static const struct ext SERVER_EXTS[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {0, NULL},
};

static const struct ext CLIENT_EXTS[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "clientAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {0, NULL},
};

static int add_exts(X509 *x, X509 *issuer, enum cert_kind kind)
{
    const struct ext *e = kind == CERT_CA       ? CA_EXTS
                          : kind == CERT_SERVER ? SERVER_EXTS
                                                : CLIENT_EXTS;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    for (; e->value; e++) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, e->nid, e->value);
        int ok = ext && X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (!ok)
            return -1;
    }
    return 0;
}

static int set_validity(X509 *x, int days)
{
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS))
        return -1;
    return X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ? 0 : -1;
}

X509 *ca_issue(const struct cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
               EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    bool ok = x && X509_set_version(x, X509_VERSION_3) && set_random_serial(x) == 0 &&
              set_name(X509_get_subject_name(x), spec) == 0 &&
              X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                             : X509_get_subject_name(x)) &&
              set_validity(x, spec->days) == 0 && X509_set_pubkey(x, subject_key) &&
              add_exts(x, issuer ? issuer : x, spec->kind) == 0 &&
              X509_sign(x, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX_MAX + 1])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (!hex || strlen(hex) > CA_SERIAL_HEX_MAX) {
        OPENSSL_free(hex);
        return -1;
    }
    memcpy(out, hex, strlen(hex) + 1);
    OPENSSL_free(hex);
    return 0;
}

/* ---- PEM files ------------------------------------------------------------------ */

static int write_bio(const char *path, BIO *bio, mode_t mode, bool exclusive, char *err,
                     size_t errlen)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0)
        return ca_err(err, errlen, "%s: nothing to write", path);
    return ca_write_atomic(path, data, (size_t)len, mode, exclusive, err, errlen);
}

int ca_write_key(const char *path, EVP_PKEY *key, bool exclusive, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_secmem()); /* cleansed when freed */
    if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        return ca_ssl_err(err, errlen, "cannot encode a private key");
    }
    int rc = write_bio(path, bio, 0600, exclusive, err, errlen);
    BIO_free(bio);
    return rc;
}

int ca_write_sealed_key(const char *path, EVP_PKEY *key, struct keyholder *keys, int what,
                        bool exclusive, char *err, size_t errlen)
{
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(key, &der);
    if (n <= 0)
        return ca_ssl_err(err, errlen, "cannot encode a private key");
    uint8_t *wrapped = NULL;
    size_t len = 0;
    struct keys_err kerr;
    int rc = keys_secret_wrap(keys, (enum keys_secret)what, der, (size_t)n, &wrapped, &len, &kerr);
    OPENSSL_clear_free(der, (size_t)n);
    if (rc != KEYS_OK)
        return ca_err(err, errlen, "cannot wrap %s: %s", path, kerr.msg);
    rc = ca_write_atomic(path, wrapped, len, 0600, exclusive, err, errlen);
    free(wrapped);
    return rc;
}

int ca_write_cert(const char *path, X509 *cert, bool exclusive, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_X509(bio, cert)) {
        BIO_free(bio);
        return ca_ssl_err(err, errlen, "cannot encode a certificate");
    }
    int rc = write_bio(path, bio, 0644, exclusive, err, errlen);
    BIO_free(bio);
    return rc;
}

/* The CA key, wrapped by the master key: `keys` unwraps it into locked
 * memory.  A CA key in the clear is refused. */
static EVP_PKEY *read_key(const char *path, struct keyholder *keys, char *why, size_t whylen)
{
    uint8_t buf[KEYS_WRAPPED_MAX + 1];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    EVP_PKEY *key = NULL;
    struct keys_buf *der = NULL;
    struct keys_err kerr;
    if (!keys_is_wrapped(buf, n)) {
        snprintf(why, whylen,
                 "not a key wrapped by the master key (a CA key in the clear is "
                 "refused)");
    } else if (!keys || n > KEYS_WRAPPED_MAX ||
               keys_secret_unwrap(keys, KEYS_SECRET_AGENCY_CA_KEY, buf, n, &der, &kerr) !=
                   KEYS_OK) {
        snprintf(why, whylen, "%s", keys ? kerr.msg : "it is wrapped, and no key holder was given");
    } else {
        const unsigned char *p = keys_buf_data(der);
        key = d2i_AutoPrivateKey(NULL, &p, (long)keys_buf_len(der));
        keys_buf_free(der);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return key;
}

static X509 *read_cert(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return cert;
}

int ca_load(const char *register_dir, struct keyholder *keys, EVP_PKEY **key, X509 **cert,
            char *err, size_t errlen)
{
    char dir[PATH_MAX], kpath[PATH_MAX], cpath[PATH_MAX];
    if (ca_path_join(dir, sizeof dir, register_dir, CA_DIR) != 0 ||
        ca_path_join(kpath, sizeof kpath, dir, CA_KEY_FILE) != 0 ||
        ca_path_join(cpath, sizeof cpath, dir, CA_CERT_FILE) != 0)
        return ca_err(err, errlen, "register directory path too long");
    if (access(kpath, F_OK) != 0)
        return ca_err(err, errlen, "%s: %s (create the CA with `huduma ca init`)", kpath,
                      strerror(errno));
    char why[600] = "";
    *key = read_key(kpath, keys, why, sizeof why);
    *cert = *key ? read_cert(cpath) : NULL;
    if (!*key && why[0])
        return ca_err(err, errlen, "%s: %s", kpath, why);
    if (!*key || !*cert || X509_check_private_key(*cert, *key) != 1) {
        bool key_bad = !*key;
        EVP_PKEY_free(*key);
        X509_free(*cert);
        *key = NULL, *cert = NULL;
        return ca_ssl_err(err, errlen, key_bad ? kpath : cpath);
    }
    return 0;
}

/* ---- ca_init -------------------------------------------------------------------- */

static int present(const char *path, bool *yes, char *err, size_t errlen)
{
    struct stat st;
    *yes = stat(path, &st) == 0;
    if (!*yes && errno != ENOENT)
        return ca_err(err, errlen, "%s: %s", path, strerror(errno));
    return 0;
}

/* Issues a key and certificate pair: certificate first, key last. */
static int issue_pair(const char *dir, const char *keyname, const char *certname,
                      const struct cert_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
                      struct keyholder *keys, char *err, size_t errlen)
{
    char kpath[PATH_MAX], cpath[PATH_MAX];
    if (ca_path_join(kpath, sizeof kpath, dir, keyname) != 0 ||
        ca_path_join(cpath, sizeof cpath, dir, certname) != 0)
        return ca_err(err, errlen, "register directory path too long");
    EVP_PKEY *key = ca_new_key();
    X509 *cert = key ? ca_issue(spec, key, issuer, issuer ? issuer_key : key) : NULL;
    int rc = cert ? 0 : ca_ssl_err(err, errlen, "cannot issue a certificate");
    if (rc == 0)
        rc = ca_write_cert(cpath, cert, false, err, errlen);
    if (rc == 0)
        rc = ca_write_sealed_key(kpath, key, keys,
                                 spec->kind == CERT_CA ? KEYS_SECRET_AGENCY_CA_KEY
                                                       : KEYS_SECRET_TLS_SERVER_KEY,
                                 false, err, errlen);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Creates the CA if its key is absent; *created says whether it did. */
static int ensure_ca(const char *ca_dir, struct keyholder *keys, bool *created, char *err,
                     size_t errlen)
{
    static const struct cert_spec spec = {CERT_CA, "Huduma appliance agency CA", "Huduma appliance",
                                          CA_DAYS};
    char kpath[PATH_MAX], cpath[PATH_MAX];
    bool have_key, have_cert;
    if (ca_path_join(kpath, sizeof kpath, ca_dir, CA_KEY_FILE) != 0 ||
        ca_path_join(cpath, sizeof cpath, ca_dir, CA_CERT_FILE) != 0)
        return ca_err(err, errlen, "register directory path too long");
    if (present(kpath, &have_key, err, errlen) || present(cpath, &have_cert, err, errlen))
        return -1;
    *created = !have_key;
    if (have_key && !have_cert)
        return ca_err(err, errlen, "%s is missing but %s is present", cpath, kpath);
    return have_key ? 0
                    : issue_pair(ca_dir, CA_KEY_FILE, CA_CERT_FILE, &spec, NULL, NULL, keys, err,
                                 errlen);
}

/* Issues the server certificate if absent, or anew for a CA made just now. */
static int ensure_server(const char *register_dir, struct keyholder *keys, bool renew, char *err,
                         size_t errlen)
{
    static const struct cert_spec spec = {CERT_SERVER, "localhost", "Huduma appliance",
                                          SERVER_DAYS};
    char dir[PATH_MAX], kpath[PATH_MAX], cpath[PATH_MAX];
    bool have_key, have_cert;
    if (ca_path_join(dir, sizeof dir, register_dir, TLS_DIR) != 0 ||
        ca_path_join(kpath, sizeof kpath, dir, SERVER_KEY_FILE) != 0 ||
        ca_path_join(cpath, sizeof cpath, dir, SERVER_CERT_FILE) != 0)
        return ca_err(err, errlen, "register directory path too long");
    if (ca_dir_ensure(dir, 0700, err, errlen) != 0 || present(kpath, &have_key, err, errlen) ||
        present(cpath, &have_cert, err, errlen))
        return -1;
    if (have_key && !have_cert && !renew)
        return ca_err(err, errlen, "%s is missing but %s is present", cpath, kpath);
    if (have_key && !renew)
        return 0;
    EVP_PKEY *ca_key = NULL;
    X509 *ca_cert = NULL;
    if (ca_load(register_dir, keys, &ca_key, &ca_cert, err, errlen) != 0)
        return -1;
    int rc = issue_pair(dir, SERVER_KEY_FILE, SERVER_CERT_FILE, &spec, ca_cert, ca_key, keys, err,
                        errlen);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return rc;
}

/* Opens and exclusively locks a directory; returns the descriptor, -1 on error. */
static int lock_dir(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX) == 0)
        return fd;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    return ca_err(err, errlen, "cannot lock %s: %s", dir, strerror(saved));
}

int ca_init(const char *register_dir, struct keyholder *keys, char *err, size_t errlen)
{
    char ca_dir[PATH_MAX];
    struct stat st;
    if (stat(register_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ca_err(err, errlen, "%s: not a register directory", register_dir);
        return REG_ENOTFOUND;
    }
    if (ca_path_join(ca_dir, sizeof ca_dir, register_dir, CA_DIR) != 0) {
        ca_err(err, errlen, "register directory path too long");
        return REG_ESTORAGE;
    }
    int lock = ca_dir_ensure(ca_dir, 0700, err, errlen) == 0 ? lock_dir(ca_dir, err, errlen) : -1;
    if (lock < 0)
        return REG_ESTORAGE;
    bool created = false;
    int rc = ensure_ca(ca_dir, keys, &created, err, errlen);
    if (rc == 0)
        rc = ensure_server(register_dir, keys, created, err, errlen);
    close(lock); /* releases the lock */
    return rc == 0 ? 0 : REG_ESTORAGE;
}
