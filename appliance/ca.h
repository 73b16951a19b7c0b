/*
 * appliance/ca.h - private to the agencies module (agency.c, ca.c): the
 * certificate machinery and the durable file writes it and the agency
 * registry share.  The public interface is appliance/agency.h.
 */
#ifndef HUDUMA_CA_H
#define HUDUMA_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_DIR           "ca"
#define CA_KEY_FILE      "ca.key"
#define CA_CERT_FILE     "ca.crt"
#define TLS_DIR          "tls"
#define SERVER_KEY_FILE  "server.key"
#define SERVER_CERT_FILE "server.crt"

#define CA_SERIAL_HEX_MAX 40 /* a 159-bit serial is at most 20 bytes */

enum cert_kind { CERT_CA, CERT_SERVER, CERT_CLIENT };

struct cert_spec {
    enum cert_kind kind;
    const char *common_name;
    const char *organisation;
    int days;
};

/* Formats a message into err (when given) and returns -1.  ca_ssl_err adds
 * the reason OpenSSL gave, and clears OpenSSL's error queue. */
int ca_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ca_ssl_err(char *err, size_t errlen, const char *what);

/* Joins dir and name into buf; -1 when it does not fit. */
int ca_path_join(char *buf, size_t size, const char *dir, const char *name);

/* Creates dir with exactly `mode` if absent (and syncs its parent); when it
 * exists, removes group and other bits that `mode` does not grant. */
int ca_dir_ensure(const char *dir, mode_t mode, char *err, size_t errlen);
int ca_dir_sync(const char *dir);

/* Writes a file durably and atomically: a temporary file beside it (named
 * ".<name>.XXXXXX"), fsync, then rename over `path` (with `exclusive`, a
 * rename or link that refuses an existing file), then fsync of the directory.
 * Returns 0, 1 when `exclusive` found the file already there, -1 on error. */
int ca_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                    char *err, size_t errlen);

/* A new ECDSA P-256 key. */
EVP_PKEY *ca_new_key(void);
/* A certificate for `subject_key`, signed by issuer/issuer_key, or self-signed
 * when issuer is NULL (then issuer_key must be subject_key). */
X509 *ca_issue(const struct cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
               EVP_PKEY *issuer_key);
/* The serial as BN_bn2hex(ASN1_INTEGER_to_BN(X509_get_serialNumber(cert))). */
int ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX_MAX + 1]);

struct keyholder;

/* Loads <register_dir>/ca/ca.key (unwrapped by `keys`) and ca.crt and checks
 * that they belong together. */
int ca_load(const char *register_dir, struct keyholder *keys, EVP_PKEY **key, X509 **cert,
            char *err, size_t errlen);

/* PEM key (PKCS#8, mode 0600) and certificate (0644) files, written atomically. */
int ca_write_key(const char *path, EVP_PKEY *key, bool exclusive, char *err, size_t errlen);
int ca_write_cert(const char *path, X509 *cert, bool exclusive, char *err, size_t errlen);
/* The key as DER PKCS#8 wrapped by the master key (keys_secret_wrap, kind
 * `what`: an enum keys_secret), mode 0600, written atomically. */
int ca_write_sealed_key(const char *path, EVP_PKEY *key, struct keyholder *keys, int what,
                        bool exclusive, char *err, size_t errlen);

#endif
