/*
 * appliance/tls.h - hudumad's TLS: the server context (TLS 1.3 only, mutual
 * TLS against the agency CA), the peer certificate's serial, and whether the
 * kernel could take over the record layer (kernel TLS).
 */
#ifndef HUDUMA_TLS_H
#define HUDUMA_TLS_H

#include "config.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct keyholder;

/* The key holder that unwraps a server key wrapped by the master key (keys.h);
 * set once at start-up, before tls_context_new(). */
void tls_use_key_holder(struct keyholder *h);

/* Loads cert, key and CA of the configuration and checks that they can be
 * used: readable, PEM (or, for the key, wrapped by the master key), the key
 * matches the certificate, the certificate is within its validity period.
 * Returns 0, or -1 with err. */
int tls_context_new(const struct config *cfg, SSL_CTX **out, char *err, size_t errlen);

/* Has the handshake ask, of every client certificate that chains to the
 * agency CA, whether its serial (upper-case hex, as tls_peer_serial()) is
 * that of an agency in good standing; when `in_good_standing` says no, the
 * handshake fails with a certificate_revoked alert and
 * SSL_get_verify_result() gives X509_V_ERR_CERT_REVOKED.  `check` must
 * outlive the context. */
struct tls_peer_check {
    bool (*in_good_standing)(void *arg, const char *serial);
    void *arg;
};
void tls_check_peers(SSL_CTX *ctx, const struct tls_peer_check *check);

/* The serial of the peer's certificate in upper-case hex (BN_bn2hex); false
 * when there is no certificate or it does not fit. */
bool tls_peer_serial(SSL *ssl, char *out, size_t len);

/* Drains this thread's OpenSSL error queue into buf (one line, may be ""). */
const char *tls_error_text(char *buf, size_t len);

/* Tries the kernel's TLS upper-layer protocol on a loopback connection.
 * True when the kernel offers it; false with the reason otherwise. */
bool tls_kernel_available(char *why, size_t len);

#endif
