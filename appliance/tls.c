/*
 * appliance/tls.c - the TLS context of hudumad (see tls.h).
 *
 * TLS 1.3 only; the client must present a certificate that chains to the
 * appliance's agency CA and to nothing else (the CA file is the whole trust
 * store, and the names sent in the CertificateRequest).  No session tickets
 * and no session cache: every connection is a full handshake, so every
 * connection is checked against the agency registry (a revocation takes
 * effect at the next connection).  That check runs inside the handshake, in
 * the certificate verify callback (tls_check_peers()), so a revoked agency
 * is answered with a certificate_revoked alert rather than a handshake that
 * completes and a connection that is then closed.  Connections run OpenSSL over memory BIOs
 * (conn.c); the kernel TLS probe only tells the operator whether the kernel
 * could carry the record layer.
 *
 * The server key `huduma init` writes is wrapped by the master key
 * (keys.h): read_key() hands it to the key holder set at start-up (in
 * hudumad, the key process unwraps it) and takes the DER key out of locked
 * memory.  A PEM key an operator puts in [tls] key is read as it is.
 */
#include "tls.h"

#include "keys/keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static struct keyholder *key_holder; /* set once, before any thread (tls_use_key_holder) */
static char unwrap_error[600];

const char *tls_error_text(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (last)
        ERR_error_string_n(last, buf, len);
    return buf;
}

static int refuse(char *err, size_t errlen, const char *what, const char *path, const char *why)
{
    char ssl[200];
    tls_error_text(ssl, sizeof ssl);
    snprintf(err, errlen, "tls %s %s: %s%s%s", what, path, why, ssl[0] ? ": " : "", ssl);
    return -1;
}

static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    if (access(path, R_OK) == 0)
        return 0;
    snprintf(err, errlen, "tls %s %s: cannot read: %s", what, path, strerror(errno));
    return -1;
}

static int check_validity(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (!cert)
        return refuse(err, errlen, "cert", path, "no certificate");
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        return refuse(err, errlen, "cert", path, "not valid yet");
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        return refuse(err, errlen, "cert", path, "expired");
    return 0;
}

void tls_use_key_holder(struct keyholder *h)
{
    key_holder = h;
}

static EVP_PKEY *unwrap_key(const uint8_t *data, size_t len, const char **why)
{
    struct keys_err kerr;
    struct keys_buf *der = NULL;
    if (!key_holder) {
        *why = "is wrapped by the master key, and no key holder can unwrap it here";
        return NULL;
    }
    if (keys_secret_unwrap(key_holder, KEYS_SECRET_TLS_SERVER_KEY, data, len, &der, &kerr) !=
        KEYS_OK) {
        snprintf(unwrap_error, sizeof unwrap_error, "cannot be unwrapped: %s", kerr.msg);
        *why = unwrap_error;
        return NULL;
    }
    const unsigned char *p = keys_buf_data(der);
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)keys_buf_len(der));
    keys_buf_free(der);
    if (!key)
        *why = "unwraps to something that is not a private key";
    return key;
}

/* A PEM private key, or one wrapped by the master key (as `huduma init`
 * writes it), which the key holder unwraps into locked memory. */
static EVP_PKEY *read_key(const char *path, const char **why)
{
    uint8_t buf[KEYS_WRAPPED_MAX + 1];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    *why = "not a PEM private key";
    EVP_PKEY *key = NULL;
    if (keys_is_wrapped(buf, n)) {
        key = n <= KEYS_WRAPPED_MAX ? unwrap_key(buf, n, why) : NULL;
    } else {
        BIO *in = BIO_new_file(path, "r");
        key = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
        BIO_free(in);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return key;
}

/* The key is read on its own, so that "not a key" and "not this certificate's
 * key" are told apart. */
static int use_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    const char *why;
    EVP_PKEY *key = read_key(path, &why);
    if (!key)
        return refuse(err, errlen, "key", path, why);
    int rc = 0;
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1)
        rc = refuse(err, errlen, "key", path, "does not match the certificate");
    else if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        rc = refuse(err, errlen, "key", path, "cannot be used");
    EVP_PKEY_free(key);
    return rc;
}

static int configure(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        return refuse(err, errlen, "context", "", "TLS 1.3 is not available");
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        return refuse(err, errlen, "cert", cfg->tls_cert, "not a PEM certificate");
    if (use_key(ctx, cfg->tls_key, err, errlen) != 0)
        return -1;
    if (check_validity(ctx, cfg->tls_cert, err, errlen) != 0)
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1)
        return refuse(err, errlen, "ca", cfg->tls_ca, "not a PEM certificate");
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);
    if (!names)
        return refuse(err, errlen, "ca", cfg->tls_ca, "no certificate in it");
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 2);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* CLEANSE_PLAINTEXT: a request's decrypted bytes (names, dates of birth)
     * are wiped from OpenSSL's record buffer once SSL_read has handed them
     * over, and when the connection is freed; our own copies are wiped by
     * conn.c and httpconn.c.  TLS keeps no plaintext of what is sent.
     * No SSL_MODE_RELEASE_BUFFERS: with CLEANSE_PLAINTEXT it wipes and frees
     * the whole record buffer (16 KiB) every time a read drains it (perf of
     * pipelined verifications: wiping took 2.5% of the daemon's time with the
     * mode, 1.0% without); a connection idle for a while gives its buffers
     * back instead (conn.c, conn_sweep). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT);
    return 0;
}

int tls_context_new(const struct config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    if (readable("cert", cfg->tls_cert, err, errlen) ||
        readable("key", cfg->tls_key, err, errlen) || readable("ca", cfg->tls_ca, err, errlen))
        return -1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return refuse(err, errlen, "context", "", "cannot be created");
    if (configure(ctx, cfg, err, errlen) != 0) {
        SSL_CTX_free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

static bool serial_text(X509 *peer, char *out, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    bool ok = hex && strlen(hex) < len;
    if (ok)
        strcpy(out, hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return ok;
}

/* OpenSSL's verdict on the chain stands; a leaf that passed it is then asked
 * about (depth 0 is the client's own certificate). */
static int verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct tls_peer_check *check = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (!check)
        return 1;
    char serial[64];
    X509 *leaf = X509_STORE_CTX_get_current_cert(store);
    if (leaf && serial_text(leaf, serial, sizeof serial) &&
        check->in_good_standing(check->arg, serial))
        return 1;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REVOKED);
    return 0;
}

void tls_check_peers(SSL_CTX *ctx, const struct tls_peer_check *check)
{
    SSL_CTX_set_app_data(ctx, (void *)check);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer);
}

bool tls_peer_serial(SSL *ssl, char *out, size_t len)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    return peer && serial_text(peer, out, len);
}

bool tls_kernel_available(char *why, size_t len)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int server = -1;
    bool ok = false;
    if (listener < 0 || client < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) ||
        listen(listener, 1) || getsockname(listener, (struct sockaddr *)&addr, &addr_len) ||
        connect(client, (struct sockaddr *)&addr, sizeof addr) ||
        (server = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        snprintf(why, len, "loopback probe failed: %s", strerror(errno));
    } else if (setsockopt(server, SOL_TCP, TCP_ULP, "tls", 4) != 0) {
        snprintf(why, len, "%s",
                 errno == ENOENT || errno == ENOPROTOOPT
                     ? "the kernel has no TLS upper-layer protocol"
                     : strerror(errno));
    } else {
        ok = true;
    }
    if (server >= 0)
        close(server);
    if (client >= 0)
        close(client);
    if (listener >= 0)
        close(listener);
    return ok;
}
