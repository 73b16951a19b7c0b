/*
 * appliance/conn_impl.h - what the two halves of a connection share, and
 * nothing outside them sees: conn.c (TLS, HTTP, responses, deadlines, close)
 * and conn_journal.c (answers held for their audit leaves, the ring's audit
 * journal, and what /healthz and /metrics say of the journals).  The rest of
 * the daemon knows a connection only through server.h's conn_* calls.
 */
#ifndef HUDUMA_CONN_IMPL_H
#define HUDUMA_CONN_IMPL_H

#include "server.h"

#include <openssl/bio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CONN_IN_SIZE (16 * 1024)
#define HOLD_MAX     64 /* answers held for their audit leaves, per connection */

struct held;

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING, CONN_LINGER, CONN_DEAD };

struct conn {
    struct ring *ring;
    struct conn *prev, *next;
    unsigned slot; /* in the ring's fixed file table */
    unsigned id;   /* for logs */
    enum conn_state state;
    SSL *ssl;
    BIO *rbio, *wbio;
    struct agency agency;
    struct httpconn *http;
    char *out; /* the chunk of ciphertext being sent */
    size_t out_cap, out_off, out_len;
    bool recv_armed, send_inflight, busy, peer_eof, cancel_sent, request_started;
    uint64_t accepted_ms, idle_since_ms, request_start_ms, send_since_ms, linger_until_ms;
    uint64_t agency_checked_ms;
    char serial[64];              /* of the peer's certificate */
    struct sockaddr_storage peer; /* counted against when its handshake fails */
    struct timespec request_t0;
    struct job job;                     /* the request at a worker, when busy */
    struct held *held_head, *held_tail; /* answers waiting for audit leaves, in order */
    struct conn *release_next;          /* conn_journal_written's list (itself: its end) */
    unsigned nheld;
    bool hold_close;  /* close once the held answers have left */
    bool shed;        /* its TLS buffers were given back since bytes last came or went */
    bool held_failed; /* a leaf failed: the answers after it are dropped */
    size_t in_pos, in_len;
    char in[CONN_IN_SIZE]; /* plaintext, fed to the HTTP parser */
};

/* conn.c: the connection's life, for the held answers' release */
const char *conn_agency_name(const struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len); /* into TLS, not yet sent */
void conn_advance(struct conn *c);             /* read, answer and send what can be */
void conn_finish(struct conn *c, bool notify); /* orderly close, after the held answers */
void conn_close_now(struct conn *c);           /* abrupt close: cancel what is in flight */
void conn_release(struct conn *c); /* frees a dead connection once nothing refers to it */

/* conn_journal.c */
/* Holds an answer (taking msg) when its leaf must be written first, or when
 * answers before it are held; false when it may leave at once. */
bool conn_hold(struct conn *c, char *msg, size_t len, const struct audit_request *audit);
/* A dead connection's answers whose leaves are done go nowhere. */
void conn_held_drop_leaving(struct conn *c);
/* Whether every ring can still record accesses; `why` says why not. */
bool conn_journals_healthy(const struct server *s, uint64_t now_ms, char *why, size_t whylen);
/* The /metrics text: the server's counters, then the audit log's (NULL: out of memory). */
char *conn_metrics_text(const struct server *s, uint64_t now_ms);

#endif
