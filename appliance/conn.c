/*
 * appliance/conn.c - one client connection: TLS over memory buffers, HTTP
 * requests in order, responses out, deadlines, and an orderly close.
 *
 * Bytes received by the ring go into the TLS read buffer (a memory BIO) and
 * the ring's buffer is given back at once; OpenSSL decrypts them into `in`,
 * which is fed to the HTTP glue.  Everything OpenSSL writes (handshake,
 * responses, close_notify) collects in the TLS write buffer (a memory BIO),
 * which is the send queue: one io_uring send is in flight at a time, and when
 * it completes the next chunk goes out.
 *
 *   HANDSHAKE --agency known--> OPEN --close / error / idle--> CLOSING
 *   CLOSING (close_notify flushed) --> LINGER (write side shut, reading and
 *   discarding until the peer closes or 2 s pass) --> DEAD
 *
 * A connection is freed only once nothing refers to it: no receive armed, no
 * send in flight, no request at a worker.  close_now() cancels what is in
 * flight and the last completion frees it.  Requests are handled one at a
 * time: the next pipelined request is parsed only after the response to the
 * previous one is queued, and not while more than OUTPUT_HIGH_WATER bytes
 * wait to be sent.
 *
 * Answers are held for the audit log: an answer whose request must be
 * recorded waits in the connection's `held` queue until its leaf is durable
 * in the ring's own journal (storage.h: the ring queues the leaf, writes what
 * is queued with one synced io_uring write whenever none is in flight, and
 * that write's completion releases the answers it covered), and any answer
 * behind a held one waits too, so answers leave in order.  Meanwhile the next
 * pipelined requests are read and answered into the same queue (up to
 * HOLD_MAX), so one connection can have several leaves in one write.  A close asked for while
 * answers are held happens once they have left.  An answer whose leaf could not be written never
 * leaves: a 500 storage_error takes its place and the connection closes.
 * /healthz says 503 audit_unavailable while a ring's last journal write has
 * failed or an answer has waited over JOURNAL_STALL_MS for its leaf; after a
 * failure, each tick writes the journal's tail block again to try the disk
 * (conn_journal_probe), so that health comes back without a request.
 */
#include "server.h"

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "register.h"
#include "strbuf.h"
#include "tls.h"
#include "kernel-bpf/kernel-bpf.h"

#include <errno.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CONN_IN_SIZE      (16 * 1024)
#define OUT_CHUNK_MAX     (256 * 1024)
#define OUTPUT_HIGH_WATER (256 * 1024)
#define LINGER_MS         2000
#define AGENCY_RECHECK_MS 1000
#define JOURNAL_STALL_MS  2000 /* an answer waiting longer for its leaf: /healthz says 503 */
#define HOLD_MAX          64   /* answers held for their audit leaves, per connection */
#define SHED_MS           1000 /* idle this long: the TLS record buffers are given back */

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

/* Lines that repeat as fast as a flood or a failing disk: one a second each. */
static struct log_limit refused_log = LOG_LIMIT(1000);
static struct log_limit withheld_log = LOG_LIMIT(1000);
static struct log_limit journal_failed_log = LOG_LIMIT(1000);

static void conn_advance(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_close_now(struct conn *c);

struct conn *conn_next(const struct conn *c)
{
    return c->next;
}

static const struct config *cfg_of(const struct conn *c)
{
    return c->ring->srv->cfg;
}

static const char *agency_name(const struct conn *c)
{
    return c->agency.name[0] ? c->agency.name : "-";
}

/* ---- life and death ---------------------------------------------------------------- */

static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = ring_sqe(c->ring);
    io_uring_prep_recv_multishot(sqe, (int)c->slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = RING_BUF_GROUP;
    io_uring_sqe_set_data64(sqe, RING_TAG(c, OP_RECV));
    c->recv_armed = true;
}

static void conn_destroy(struct conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl); /* frees both BIOs */
    httpconn_free(c->http);
    if (c->out) {
        explicit_bzero(c->out, c->out_cap);
        free(c->out);
    }
    explicit_bzero(c, sizeof *c);
    free(c);
}

void conn_accepted(struct ring *r, unsigned slot, const struct sockaddr_storage *peer)
{
    struct server *s = r->srv;
    if (r->draining) {
        ring_close_slot(r, slot);
        return;
    }
    if (atomic_fetch_add(&s->connections, 1) >= (int)s->cfg->max_connections) {
        atomic_fetch_sub(&s->connections, 1);
        ring_close_slot(r, slot);
        metrics_event(s->metrics, MET_CONN_REFUSED_LIMIT);
        unsigned long long held;
        if (log_limit_pass(&refused_log, &held))
            log_warn("connection refused: max_connections open",
                     "ring=%u max_connections=%u suppressed=%llu", r->index,
                     s->cfg->max_connections, held);
        return;
    }
    struct conn *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (c) {
        memset(c, 0, sizeof *c);
        c->ssl = SSL_new(s->tls);
        BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
        if (c->ssl && rbio && wbio) {
            SSL_set_bio(c->ssl, rbio, wbio); /* the SSL owns them from here */
            c->rbio = rbio;
            c->wbio = wbio;
        } else {
            BIO_free(rbio);
            BIO_free(wbio);
        }
        c->http = httpconn_new(&s->limits);
    }
    if (!c || !c->rbio || !c->http) {
        if (c)
            conn_destroy(c);
        atomic_fetch_sub(&s->connections, 1);
        ring_close_slot(r, slot);
        log_error("connection dropped: out of memory", "ring=%u", r->index);
        return;
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait for more", not end of stream */
    SSL_set_accept_state(c->ssl);
    c->ring = r;
    c->slot = slot;
    c->peer = *peer;
    c->id = atomic_fetch_add(&s->next_conn_id, 1) + 1;
    c->state = CONN_HANDSHAKE;
    c->accepted_ms = c->idle_since_ms = r->now_ms;
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->nconns++;
    metrics_connections(s->metrics, 1);
    arm_recv(c);
    log_debug("connection accepted", "conn=%u ring=%u", c->id, r->index);
}

static void held_drop_leaving(struct conn *c);

/* Frees the connection once nothing is in flight for it. */
static void conn_release(struct conn *c)
{
    if (c->state == CONN_DEAD)
        held_drop_leaving(c);
    if (c->state != CONN_DEAD || c->recv_armed || c->send_inflight || c->busy || c->nheld)
        return;
    struct ring *r = c->ring;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->nconns--;
    ring_close_slot(r, c->slot);
    atomic_fetch_sub(&r->srv->connections, 1);
    metrics_connections(r->srv->metrics, -1);
    log_debug("connection closed", "conn=%u agency=%s", c->id, agency_name(c));
    conn_destroy(c);
}

static void conn_close_now(struct conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    c->state = CONN_DEAD;
    if ((c->recv_armed || c->send_inflight) && !c->cancel_sent) {
        struct io_uring_sqe *sqe = ring_sqe(c->ring);
        io_uring_prep_cancel_fd(sqe, (int)c->slot,
                                IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_IGNORE));
        c->cancel_sent = true;
    }
    conn_release(c);
}

/* Everything is sent: shut our side, then read until the peer closes, so that
 * unread bytes of theirs do not turn our last response into a reset. */
static void conn_linger(struct conn *c)
{
    c->state = CONN_LINGER;
    if (c->peer_eof || !c->recv_armed) {
        conn_close_now(c);
        return;
    }
    struct io_uring_sqe *sqe = ring_sqe(c->ring);
    io_uring_prep_shutdown(sqe, (int)c->slot, SHUT_WR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_IGNORE));
    c->linger_until_ms = c->ring->now_ms + LINGER_MS;
}

/* Orderly close: close_notify (when asked and the handshake is done), flush, linger. */
static void conn_finish(struct conn *c, bool notify)
{
    if (c->state != CONN_HANDSHAKE && c->state != CONN_OPEN)
        return;
    if (c->nheld) { /* after the held answers (held_release) */
        c->hold_close = true;
        return;
    }
    if (notify && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    c->state = CONN_CLOSING;
    conn_flush(c);
}

/* ---- bytes out ---------------------------------------------------------------------- */

static void submit_send(struct conn *c)
{
    struct io_uring_sqe *sqe = ring_sqe(c->ring);
    io_uring_prep_send(sqe, (int)c->slot, c->out + c->out_off, c->out_len - c->out_off,
                       MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, RING_TAG(c, OP_SEND));
    c->send_inflight = true;
    c->send_since_ms = c->ring->now_ms;
}

static void conn_flush(struct conn *c)
{
    if (c->send_inflight || c->state == CONN_DEAD || c->state == CONN_LINGER)
        return;
    size_t pending = BIO_ctrl_pending(c->wbio);
    if (pending == 0) {
        if (c->state == CONN_CLOSING)
            conn_linger(c);
        return;
    }
    size_t chunk = pending < OUT_CHUNK_MAX ? pending : OUT_CHUNK_MAX;
    if (chunk > c->out_cap) {
        char *grown = malloc(chunk);
        if (!grown) {
            log_error("connection dropped: out of memory", "conn=%u", c->id);
            conn_close_now(c);
            return;
        }
        free(c->out);
        c->out = grown;
        c->out_cap = chunk;
    }
    int n = BIO_read(c->wbio, c->out, (int)chunk);
    if (n <= 0) {
        conn_close_now(c);
        return;
    }
    c->out_off = 0;
    c->out_len = (size_t)n;
    submit_send(c);
}

/* SSL_get_error() needs the thread's error queue empty before each TLS call;
 * it nearly always is, and clearing an empty queue still walks all of it. */
static void clear_tls_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

static void conn_write(struct conn *c, const void *data, size_t len)
{
    if (len == 0 || c->state == CONN_DEAD)
        return;
    clear_tls_errors();
    if (SSL_write(c->ssl, data, (int)len) <= 0) {
        char why[200];
        log_warn("tls write failed", "conn=%u err=\"%s\"", c->id, tls_error_text(why, sizeof why));
        conn_close_now(c);
    }
}

void conn_on_send(struct conn *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_DEAD) {
        conn_release(c);
        return;
    }
    if (res <= 0) {
        log_debug("send failed", "conn=%u err=\"%s\"", c->id, strerror(res ? -res : EPIPE));
        conn_close_now(c);
        return;
    }
    c->out_off += (size_t)res;
    if (c->out_off < c->out_len) {
        submit_send(c);
        return;
    }
    if (c->state == CONN_OPEN)
        conn_advance(c); /* it may have stopped at the high-water mark */
    else
        conn_flush(c);
}

/* ---- responses ---------------------------------------------------------------------- */

/* The path for logs, as a template: the version segment ("v1") and segments
 * of lower-case letters, '-' and '_' are kept; anything else (numbers,
 * identifiers, upper case, long words) becomes {id}, so no Huduma Number,
 * document number or enrolment id is ever logged. */
static const char *route_template(const char *path, char *out, size_t len)
{
    size_t j = 0, n;
    out[0] = '\0';
    if (path[0] != '/') {
        snprintf(out, len, "other");
        return out;
    }
    unsigned position = 1;
    for (const char *seg = path + 1;; seg += n + 1, position++) {
        n = strcspn(seg, "/");
        bool version = position == 1 && n >= 2 && n <= 3 && seg[0] == 'v';
        bool plain = n > 0 && n <= 32;
        for (size_t i = 0; i < n && plain; i++) {
            char ch = seg[i];
            bool digit = ch >= '0' && ch <= '9';
            version = version && (i == 0 || digit);
            plain = (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '_';
        }
        plain = plain || version;
        int w = snprintf(out + j, len - j, "/%.*s",
                         n == 0  ? 0
                         : plain ? (int)n
                                 : 4,
                         n == 0  ? ""
                         : plain ? seg
                                 : "{id}");
        if (w < 0 || (size_t)w >= len - j)
            break;
        j += (size_t)w;
        if (seg[n] == '\0')
            break;
    }
    return out;
}

static double elapsed_seconds(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *reason_phrase(int status)
{
    const char *text = http_status_str((enum http_status)status);
    return strcmp(text, "<unknown>") == 0 ? "Unknown" : text;
}

static void wipe_response(struct http_response *resp)
{
    if (resp->body) {
        explicit_bzero(resp->body, resp->body_len);
        free(resp->body);
    }
    resp->body = NULL;
    resp->body_len = 0;
}

static bool conn_hold(struct conn *c, char *msg, size_t len, const struct audit_request *audit);

/* The status line and headers of an answer into b, without printf (it is
 * on every answer's path).  The header types are the daemon's own, so a
 * 256-byte buffer always holds it; a spoiled one is not sent. */
static void format_head(struct strbuf *b, int status, const char *type, size_t body_len, bool close)
{
    strbuf_put(b, "HTTP/1.1 ");
    strbuf_uint(b, (unsigned)status);
    strbuf_put(b, " ");
    strbuf_put(b, reason_phrase(status));
    strbuf_put(b, "\r\nContent-Type: ");
    strbuf_put(b, type);
    strbuf_put(b, "\r\nContent-Length: ");
    strbuf_uint(b, body_len);
    strbuf_put(b, close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
}

/* Queues the response to the current request (req NULL: to bytes that were
 * not a request), holds it when it waits for an audit leaf (`audit`, NULL
 * for the front end's own answers) or for held answers before it, logs it,
 * counts it when the server answered it itself (own_route), and moves on to
 * the next request. */
static void conn_respond(struct conn *c, struct http_response *resp, const char *own_route,
                         const struct audit_request *audit)
{
    const struct http_request *req = httpconn_request(c->http);
    int status = resp->status >= 100 && resp->status <= 599 ? resp->status : 500;
    bool head = req && req->verb == HTTP_VERB_HEAD;
    bool close = resp->close || !req || !req->keep_alive || c->ring->draining;
    size_t body_len = resp->body ? resp->body_len : 0;
    char header[256];
    struct strbuf hb = STRBUF(header);
    format_head(&hb, status, resp->content_type ? resp->content_type : "application/json", body_len,
                close);
    size_t n = hb.len;
    size_t total = n + (head ? 0 : body_len);
    char *msg = hb.spoiled ? NULL : malloc(total);
    if (hb.spoiled) { /* a content type of the daemon's own too long: cannot happen */
        log_error("connection dropped: an answer's head does not fit", "conn=%u", c->id);
        conn_close_now(c);
    } else if (msg) { /* one buffer, so that a small response is one TLS record */
        memcpy(msg, header, n);
        if (!head && body_len)
            memcpy(msg + n, resp->body, body_len);
        if (!conn_hold(c, msg, total, audit)) {
            conn_write(c, msg, total);
            explicit_bzero(msg, total);
            free(msg);
        }
    } else if (c->nheld || (audit && audit->wanted)) {
        log_error("connection dropped: out of memory", "conn=%u", c->id);
        conn_close_now(c); /* an answer without its record, or out of order: none */
    } else {
        conn_write(c, header, n);
        if (!head)
            conn_write(c, resp->body, body_len);
    }
    wipe_response(resp);

    double seconds = c->request_started ? elapsed_seconds(&c->request_t0) : 0;
    if (own_route)
        metrics_request(c->ring->srv->metrics, own_route, status, seconds);
    enum log_level level = status >= 500 ? LOG_ERROR : LOG_DEBUG;
    if (level >= log_get_level()) { /* the route template only for a line that is written */
        char route[128];
        route_template(req ? req->path : "", route, sizeof route);
        log_event(level, "request", "conn=%u agency=%s route=%s status=%d ms=%.3f", c->id,
                  agency_name(c), own_route ? own_route : route, status, seconds * 1000);
    }

    httpconn_next(c->http);
    c->request_started = false;
    c->idle_since_ms = c->ring->now_ms;
    c->shed = false;
    if (close)
        conn_finish(c, true);
}

static char *error_json(const char *code, const char *message)
{
    char *text = NULL;
    if (asprintf(&text, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message) < 0)
        return NULL;
    return text;
}

/* ---- answers held for their audit leaves ---------------------------------------------- */

struct held {
    struct held *next;         /* the connection's held answers, in order */
    struct held *journal_next; /* the ring's answers waiting for its journal */
    struct conn *conn;
    bool durable; /* its leaf is durable (or it had none): it may leave */
    int rc;       /* ST_OK, or why its leaf was not written */
    char *msg;    /* the answer's bytes */
    size_t len;
    uint64_t since_ms; /* when its leaf was queued (ring.now_ms) */
};

static const char withheld[] =
    "{\"error\":{\"code\":\"storage_error\",\"message\":\"the access could not be "
    "recorded in the audit log, so it is not answered\"}}";

static struct held *held_pop(struct conn *c)
{
    struct held *h = c->held_head;
    c->held_head = h->next;
    if (!c->held_head)
        c->held_tail = NULL;
    c->nheld--;
    return h;
}

static void held_free(struct held *h)
{
    if (h->msg) /* none for an answer withheld before its leaf was queued */
        explicit_bzero(h->msg, h->len);
    free(h->msg);
    free(h);
}

/* A dead connection's answers whose leaves are done go nowhere. */
static void held_drop_leaving(struct conn *c)
{
    while (c->held_head && c->held_head->durable)
        held_free(held_pop(c));
}

/* In place of an answer whose leaf could not be written: a 500 storage_error,
 * after which the connection sends nothing more and closes. */
static void send_withheld(struct conn *c)
{
    char head[160];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\n\r\n",
                     sizeof withheld - 1);
    conn_write(c, head, (size_t)n);
    conn_write(c, withheld, sizeof withheld - 1);
    unsigned long long held;
    if (log_limit_pass(&withheld_log, &held))
        log_error("answer withheld: its audit leaf could not be written",
                  "conn=%u agency=%s suppressed=%llu", c->id, agency_name(c), held);
    c->held_failed = true;
}

/* Sends the held answers whose turn it is; closes once they are gone when asked. */
static void held_release(struct conn *c)
{
    if (c->state == CONN_DEAD) {
        conn_release(c);
        return;
    }
    while (c->held_head && c->held_head->durable) {
        struct held *h = held_pop(c);
        if (c->held_failed) {
            /* after a withheld answer, nothing more is sent */
        } else if (h->rc != ST_OK) {
            send_withheld(c);
            c->hold_close = true;
        } else {
            conn_write(c, h->msg, h->len);
        }
        held_free(h);
    }
    if (!c->nheld && c->hold_close) {
        c->hold_close = false;
        conn_finish(c, true);
    }
    conn_advance(c);
}

/* ---- the ring's audit journal ------------------------------------------------------ */

static void journal_submit(struct ring *r, const struct audit_journal_write *w)
{
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_write(sqe, audit_journal_fd(r->journal), w->buf, (unsigned)w->len,
                        w->file_offset);
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_JOURNAL));
}

void conn_journal_flush(struct ring *r)
{
    struct audit_journal_write w;
    if (audit_journal_prepare(r->journal, &w))
        journal_submit(r, &w);
}

/* After a failed write, when no leaf is queued to try the disk again, a
 * write of the tail's block as it already is: once one succeeds the journal
 * is no longer failed, and /healthz says so without waiting for a request,
 * which a load balancer that believed /healthz would never send. */
void conn_journal_probe(struct ring *r)
{
    struct audit_journal_write w;
    if (r->draining || !atomic_load_explicit(&r->journal_failed, memory_order_relaxed) ||
        audit_journal_queued(r->journal) > 0)
        return;
    if (audit_journal_prepare_probe(r->journal, &w))
        journal_submit(r, &w);
}

/* Only this ring writes its counters: a relaxed load and store is enough. */
static void bump(_Atomic uint64_t *counter, uint64_t by)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static void journal_count(struct ring *r, bool ok, size_t leaves)
{
    bump(&r->journal_writes, 1);
    bump(ok ? &r->journal_leaves_durable : &r->journal_leaves_failed, leaves);
    if (!ok)
        bump(&r->journal_write_failures, 1);
}

/* The write ended: its leaves are durable (or not), and so their answers may
 * leave (or are withheld).  Each connection is released once, after all of
 * its answers in the write are marked, so that they leave in one send. */
void conn_journal_written(struct ring *r, int res)
{
    struct audit *log = r->srv->audit;
    size_t n = audit_journal_inflight(r->journal);
    struct audit_chunk *chunk = NULL;
    struct st_err err;
    int rc = audit_journal_complete(r->journal, res, &chunk, &err);
    atomic_store_explicit(&r->journal_failed, rc != ST_OK, memory_order_relaxed);
    journal_count(r, rc == ST_OK, n);
    unsigned long long held;
    if (rc != ST_OK && log_limit_pass(&journal_failed_log, &held)) {
        char clean[300];
        log_error("audit journal write failed: its answers are withheld",
                  "ring=%u error=\"%s\" suppressed=%llu", r->index,
                  log_clean(err.msg, clean, sizeof clean), held);
    }
    if (chunk)
        audit_push(log, chunk);
    struct conn *release = NULL;
    for (size_t i = 0; i < n && r->journal_head; i++) {
        struct held *h = r->journal_head;
        r->journal_head = h->journal_next;
        if (!r->journal_head)
            r->journal_tail = NULL;
        h->durable = true;
        h->rc = rc;
        if (!h->conn->release_next && release != h->conn) {
            h->conn->release_next = release ? release : h->conn; /* self: the list's end */
            release = h->conn;
        }
    }
    while (release) {
        struct conn *c = release;
        release = c->release_next == c ? NULL : c->release_next;
        c->release_next = NULL;
        held_release(c);
    }
}

void conn_journal_publish(struct ring *r)
{
    uint64_t since = r->journal_head ? r->journal_head->since_ms : 0;
    atomic_store_explicit(&r->journal_waiting_since_ms, since, memory_order_relaxed);
}

/* Holds an answer (taking msg) when its leaf must be written first, or when
 * answers before it are held; false when it may leave at once. */
static bool conn_hold(struct conn *c, char *msg, size_t len, const struct audit_request *audit)
{
    struct audit *log = c->ring->srv->audit;
    bool record = audit && audit->wanted && audit_enabled(log) && c->ring->journal;
    if (!record && !c->nheld)
        return false;
    struct held *h = calloc(1, sizeof *h);
    if (!h) {
        explicit_bzero(msg, len);
        free(msg);
        log_error("connection dropped: out of memory", "conn=%u", c->id);
        conn_close_now(c); /* no answer without its record */
        return true;
    }
    if (record && audit_submit(log, c->ring->journal, audit) != 0) {
        explicit_bzero(msg, len); /* its leaf could not even be queued: never sent */
        free(msg);
        msg = NULL, len = 0;
        record = false;
        h->rc = ST_NOMEM;
    }
    if (h->rc != ST_OK && !c->nheld) { /* its turn is now */
        free(h);
        if (!c->held_failed)
            send_withheld(c);
        conn_finish(c, true);
        return true;
    }
    h->conn = c;
    h->msg = msg;
    h->len = len;
    h->durable = !record;
    if (c->held_tail)
        c->held_tail->next = h;
    else
        c->held_head = h;
    c->held_tail = h;
    c->nheld++;
    if (record) {
        struct ring *r = c->ring;
        h->since_ms = r->now_ms;
        if (r->journal_tail)
            r->journal_tail->journal_next = h;
        else
            r->journal_head = h;
        r->journal_tail = h;
    }
    return true;
}

/* The bytes were not an acceptable request: answer with close. */
static void conn_refuse(struct conn *c)
{
    int status = httpconn_error_status(c->http);
    const char *code = httpconn_error_code(c->http);
    const struct config *cfg = cfg_of(c);
    char message[160];
    switch (status) {
    case 413:
        snprintf(message, sizeof message, "the body is larger than %u bytes", cfg->max_body_bytes);
        break;
    case 414:
        snprintf(message, sizeof message, "the path is longer than %d bytes", HTTP_MAX_PATH);
        break;
    case 431:
        snprintf(message, sizeof message,
                 "the header section is larger than %u bytes or has more than %u headers",
                 cfg->max_header_bytes, cfg->max_headers);
        break;
    case 503:
        snprintf(message, sizeof message, "the server is short of memory");
        break;
    default:
        snprintf(message, sizeof message, "the request is not valid HTTP/1.1");
        break;
    }
    if (status == 400)
        metrics_event(c->ring->srv->metrics, MET_HTTP_MALFORMED);
    log_info("request refused", "conn=%u agency=%s status=%d code=%s", c->id, agency_name(c),
             status, code);
    struct http_response resp = {.status = status, .close = true};
    resp.body = error_json(code, message);
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    conn_respond(c, &resp, "other", NULL);
}

/* How long ring r's oldest held answer has waited for its leaf; 0: none waits. */
static uint64_t journal_wait_ms(const struct ring *r, uint64_t now_ms)
{
    uint64_t since = atomic_load_explicit(&r->journal_waiting_since_ms, memory_order_relaxed);
    return since && now_ms > since ? now_ms - since : 0;
}

/* Whether every ring can still record accesses.  A journal whose last write
 * failed, or an answer that has waited longer than JOURNAL_STALL_MS for its
 * leaf (a disk that no longer completes writes, or a journal with no room),
 * means that no answer which needs the log can leave: `why` says which. */
static bool journals_healthy(const struct server *s, uint64_t now_ms, char *why, size_t whylen)
{
    for (unsigned i = 0; i < s->nrings; i++) {
        struct ring *r = s->rings[i];
        if (atomic_load_explicit(&r->journal_failed, memory_order_relaxed)) {
            snprintf(why, whylen,
                     "the audit journal's last write failed (ring %u): accesses cannot be "
                     "recorded, so they are not answered",
                     i);
            return false;
        }
        uint64_t waited = journal_wait_ms(r, now_ms);
        if (waited > JOURNAL_STALL_MS) {
            snprintf(why, whylen,
                     "an answer has waited %llu ms for its audit leaf (ring %u): the audit "
                     "journal's disk is not completing writes",
                     (unsigned long long)waited, i);
            return false;
        }
    }
    return true;
}

/* The /metrics text: the server's counters, then the audit log's. */
static char *metrics_text(const struct server *s, uint64_t now_ms)
{
    struct metrics_journal *j = calloc(s->nrings ? s->nrings : 1, sizeof *j);
    if (!j)
        return NULL;
    for (unsigned i = 0; i < s->nrings; i++) {
        struct ring *r = s->rings[i];
        j[i] = (struct metrics_journal){
            .failed = atomic_load_explicit(&r->journal_failed, memory_order_relaxed),
            .oldest_wait_ms = journal_wait_ms(r, now_ms),
            .writes = atomic_load_explicit(&r->journal_writes, memory_order_relaxed),
            .write_failures =
                atomic_load_explicit(&r->journal_write_failures, memory_order_relaxed),
            .leaves_durable =
                atomic_load_explicit(&r->journal_leaves_durable, memory_order_relaxed),
            .leaves_failed = atomic_load_explicit(&r->journal_leaves_failed, memory_order_relaxed),
        };
    }
    char *audit = metrics_audit_text(s->audit, j, s->nrings);
    free(j);
    char *text = audit ? metrics_render(s->metrics, reg_numbers_issued(s->reg), audit) : NULL;
    free(audit);
    return text;
}

/* /healthz and /metrics: answered by the server itself, behind the same mTLS. */
static void conn_serve_own(struct conn *c, const struct http_request *req, const char *route)
{
    struct server *s = c->ring->srv;
    struct http_response resp = {0};
    char why[200];
    if (req->verb != HTTP_VERB_GET && req->verb != HTTP_VERB_HEAD) {
        http_response_json(&resp, 405,
                           error_json("method_not_allowed", "this route answers GET and HEAD"));
    } else if (strcmp(route, "/healthz") == 0) {
        if (journals_healthy(s, c->ring->now_ms, why, sizeof why))
            http_response_json(&resp, 200, strdup("{\"status\":\"ok\"}"));
        else
            http_response_json(&resp, 503, error_json("audit_unavailable", why));
    } else if (!agency_may(&c->agency, OP_METRICS)) {
        http_response_json(&resp, 403, error_json("forbidden", "this agency may not read metrics"));
    } else {
        resp.status = 200;
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp.body = metrics_text(s, c->ring->now_ms);
        resp.body_len = resp.body ? strlen(resp.body) : 0;
        if (!resp.body)
            resp.status = 503;
    }
    conn_respond(c, &resp, route, NULL);
}

/* A connection outlives a revocation by at most a second: the agency is looked
 * up again before a request when the last look-up is older than that. */
static bool agency_still_valid(struct conn *c)
{
    if (c->ring->now_ms - c->agency_checked_ms < AGENCY_RECHECK_MS)
        return true;
    c->agency_checked_ms = c->ring->now_ms;
    struct agency now;
    if (agencies_lookup_serial(c->ring->srv->agencies, c->serial, &now)) {
        c->agency = now; /* roles may have changed too */
        return true;
    }
    log_info("agency refused: certificate revoked while connected", "conn=%u agency=%s serial=%s",
             c->id, agency_name(c), c->serial);
    metrics_event(c->ring->srv->metrics, MET_HANDSHAKE_REFUSED);
    return false;
}

static void conn_dispatch(struct conn *c)
{
    struct server *s = c->ring->srv;
    const struct http_request *req = httpconn_request(c->http);
    if (!agency_still_valid(c)) {
        conn_finish(c, true); /* no request is served */
        return;
    }
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/metrics") == 0) {
        conn_serve_own(c, req, req->path[1] == 'h' ? "/healthz" : "/metrics");
        return;
    }
    if (api_is_blocking(req)) {
        c->busy = true;
        c->job.ring = c->ring;
        c->job.conn = c;
        c->job.agency = &c->agency;
        c->job.req = req;
        memset(&c->job.resp, 0, sizeof c->job.resp);
        server_submit(s, &c->job);
        return;
    }
    struct http_response resp = {0};
    struct audit_request audit;
    api_handle_audited(s->api, &c->agency, req, &resp, &audit);
    conn_respond(c, &resp, NULL, &audit);
}

void conn_on_job_done(struct conn *c)
{
    c->busy = false;
    if (c->state == CONN_DEAD) {
        wipe_response(&c->job.resp);
        conn_release(c);
        return;
    }
    conn_respond(c, &c->job.resp, NULL, &c->job.audit);
    conn_advance(c);
}

/* ---- bytes in ------------------------------------------------------------------------ */

/* A refused handshake counts against its source at the XDP rate limiter,
 * which bans a source that keeps failing (kernel-bpf/ratelimit_guard.c). */
static void note_refused_handshake(struct conn *c)
{
    struct rl_guard_ban ban;
    char err[256], clean[256];
    int rc = rl_handshake_failed(c->ring->srv->ratelimit, (const struct sockaddr *)&c->peer, &ban,
                                 err, sizeof err);
    if (rc > 0)
        log_warn("source banned: repeated failed handshakes",
                 "conn=%u source=%s failures=%u seconds=%u", c->id, ban.source, ban.failures,
                 ban.seconds);
    else if (rc < 0)
        log_warn("cannot ban a source", "conn=%u error=\"%s\"", c->id,
                 log_clean(err, clean, sizeof clean));
}

/* True when the peer is an agency in good standing; otherwise closes. */
static bool conn_handshake(struct conn *c)
{
    struct server *s = c->ring->srv;
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc != 1) {
        if (SSL_get_error(c->ssl, rc) == SSL_ERROR_WANT_READ)
            return false;
        char why[200];
        long verify = SSL_get_verify_result(c->ssl);
        if (verify != X509_V_OK)
            snprintf(why, sizeof why, "%s", X509_verify_cert_error_string(verify));
        else
            tls_error_text(why, sizeof why);
        char clean[200];
        if (verify == X509_V_ERR_CERT_REVOKED) { /* tls_check_peers(): certificate_revoked */
            ERR_clear_error();
            if (!tls_peer_serial(c->ssl, c->serial, sizeof c->serial))
                strcpy(c->serial, "-");
            log_info("agency refused: unknown or revoked certificate", "conn=%u serial=%s", c->id,
                     c->serial);
        } else {
            log_info("tls handshake refused", "conn=%u reason=\"%s\"", c->id,
                     log_clean(why, clean, sizeof clean));
        }
        metrics_event(s->metrics, MET_HANDSHAKE_REFUSED);
        note_refused_handshake(c);
        conn_finish(c, false); /* the alert goes out, then the connection closes */
        return false;
    }
    if (!tls_peer_serial(c->ssl, c->serial, sizeof c->serial))
        strcpy(c->serial, "-");
    if (!agencies_lookup_serial(s->agencies, c->serial, &c->agency)) {
        memset(&c->agency, 0, sizeof c->agency);
        log_info("agency refused: unknown or revoked certificate", "conn=%u serial=%s", c->id,
                 c->serial);
        metrics_event(s->metrics, MET_HANDSHAKE_REFUSED);
        note_refused_handshake(c);
        conn_finish(c, true);
        return false;
    }
    metrics_event(s->metrics, MET_HANDSHAKE_OK);
    c->state = CONN_OPEN;
    c->idle_since_ms = c->agency_checked_ms = c->ring->now_ms;
    log_debug("agency connected", "conn=%u agency=%s", c->id, agency_name(c));
    return true;
}

/* Decrypts the next piece of plaintext into `in`; false when there is none yet. */
static bool conn_read_plain(struct conn *c)
{
    clear_tls_errors();
    int n = SSL_read(c->ssl, c->in, (int)sizeof c->in);
    if (n > 0) {
        c->in_pos = 0;
        c->in_len = (size_t)n;
        return true;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
        return false;
    if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: answer what came before it */
        c->peer_eof = true;
        return false;
    }
    char why[200], clean[200];
    log_info("tls read failed", "conn=%u err=\"%s\"", c->id,
             log_clean(tls_error_text(why, sizeof why), clean, sizeof clean));
    conn_close_now(c);
    return false;
}

static void conn_advance(struct conn *c)
{
    if (c->state == CONN_HANDSHAKE && !conn_handshake(c)) {
        conn_flush(c);
        return;
    }
    bool starved = false; /* stopped for want of bytes, not for a busy worker or full output */
    while (c->state == CONN_OPEN && !c->busy && !c->hold_close && c->nheld < HOLD_MAX) {
        if (BIO_ctrl_pending(c->wbio) + (c->out_len - c->out_off) > OUTPUT_HIGH_WATER)
            break;
        if (c->in_pos == c->in_len && !conn_read_plain(c)) {
            starved = true;
            break;
        }
        if (c->state != CONN_OPEN)
            break;
        size_t used;
        enum http_step step =
            httpconn_feed(c->http, c->in + c->in_pos, c->in_len - c->in_pos, &used);
        c->in_pos += used;
        if (!c->request_started && httpconn_in_request(c->http)) {
            c->request_started = true;
            c->request_start_ms = c->ring->now_ms;
            clock_gettime(CLOCK_MONOTONIC, &c->request_t0);
        }
        if (step == HTTP_STEP_REQUEST)
            conn_dispatch(c);
        else if (step == HTTP_STEP_ERROR)
            conn_refuse(c);
        else if (httpconn_take_continue(c->http))
            conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    if (c->state == CONN_OPEN && !c->busy &&
        ((c->peer_eof && starved) || (c->ring->draining && !c->request_started)))
        conn_finish(c, true);
    conn_flush(c);
}

void conn_on_recv(struct conn *c, int res, unsigned flags)
{
    struct ring *r = c->ring;
    bool more = flags & IORING_CQE_F_MORE;
    if (!more)
        c->recv_armed = false;
    if (flags & IORING_CQE_F_BUFFER) {
        unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN)) {
            BIO_write(c->rbio, ring_buffer(r, id), res);
            c->shed = false; /* reading them takes the record buffers again */
        }
        ring_buffer_recycle(r, id); /* its bytes are in the TLS buffer (or discarded) */
    }
    if (c->state == CONN_DEAD) {
        conn_release(c);
        return;
    }
    if (res == -ENOBUFS) { /* every buffer was in use: receive again */
        log_debug("receive buffers exhausted; receiving again", "conn=%u", c->id);
        if (!c->recv_armed)
            arm_recv(c);
        return;
    }
    if (res == 0) {
        c->peer_eof = true;
        if (c->state == CONN_LINGER)
            conn_close_now(c);
        else if (c->state == CONN_HANDSHAKE)
            conn_close_now(c);
        else
            conn_advance(c);
        return;
    }
    if (res < 0) {
        if (res != -ECONNRESET)
            log_debug("receive failed", "conn=%u err=\"%s\"", c->id, strerror(-res));
        conn_close_now(c);
        return;
    }
    if (!c->recv_armed)
        arm_recv(c);
    if (c->state != CONN_HANDSHAKE && c->state != CONN_OPEN)
        return; /* closing: the peer's bytes are read and dropped */
    const struct config *cfg = cfg_of(c);
    size_t backlog_max = (size_t)cfg->max_header_bytes + cfg->max_body_bytes + OUTPUT_HIGH_WATER;
    if (BIO_ctrl_pending(c->rbio) > backlog_max) {
        log_info("connection closed: too much unread input", "conn=%u agency=%s", c->id,
                 agency_name(c));
        conn_close_now(c);
        return;
    }
    conn_advance(c);
}

/* ---- deadlines and shutdown --------------------------------------------------------- */

static void conn_timeout(struct conn *c, const char *phase)
{
    metrics_event(c->ring->srv->metrics, MET_CONN_TIMEOUT);
    log_info("connection timed out", "conn=%u agency=%s phase=%s", c->id, agency_name(c), phase);
    if (strcmp(phase, "idle") == 0)
        conn_finish(c, true);
    else
        conn_close_now(c);
}

void conn_sweep(struct conn *c)
{
    const struct config *cfg = cfg_of(c);
    uint64_t now = c->ring->now_ms;
    switch (c->state) {
    case CONN_HANDSHAKE:
        if (now - c->accepted_ms >= cfg->handshake_timeout_ms)
            conn_timeout(c, "handshake");
        break;
    case CONN_OPEN:
        if (c->busy || c->nheld)
            break;
        if (c->send_inflight) {
            if (now - c->send_since_ms >= cfg->idle_timeout_ms)
                conn_timeout(c, "send");
        } else if (c->request_started) {
            if (now - c->request_start_ms >= cfg->request_timeout_ms)
                conn_timeout(c, "request");
        } else if (now - c->idle_since_ms >= cfg->idle_timeout_ms) {
            conn_timeout(c, "idle");
        } else if (now - c->idle_since_ms >= SHED_MS && !c->shed) {
            /* wiped first (CLEANSE_PLAINTEXT); kept while data waits in them */
            if (SSL_free_buffers(c->ssl) == 1) {
                c->shed = true;
                metrics_event(c->ring->srv->metrics, MET_TLS_BUFFERS_SHED);
            }
        }
        break;
    case CONN_CLOSING:
        if (c->send_inflight && now - c->send_since_ms >= cfg->idle_timeout_ms)
            conn_close_now(c);
        break;
    case CONN_LINGER:
        if (now >= c->linger_until_ms)
            conn_close_now(c);
        break;
    case CONN_DEAD:
        break;
    }
}

void conn_drain(struct conn *c)
{
    if (c->state == CONN_HANDSHAKE)
        conn_close_now(c);
    else if (c->state == CONN_OPEN && !c->busy)
        conn_advance(c);
}

void conn_abort(struct conn *c)
{
    conn_close_now(c);
}
