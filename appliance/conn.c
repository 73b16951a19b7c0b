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
 * Answers are held for the audit log until their leaves are durable, in
 * order (conn_journal.c, which also says what /healthz reports of the
 * journals): conn_respond hands each answer to conn_hold, and sends it at
 * once only when nothing needs holding.
 */
#include "conn_impl.h"

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

#define OUT_CHUNK_MAX     (256 * 1024)
#define OUTPUT_HIGH_WATER (256 * 1024)
#define LINGER_MS         2000
#define AGENCY_RECHECK_MS 1000
#define SHED_MS           1000 /* idle this long: the TLS record buffers are given back */

/* Lines that repeat as fast as a flood or a failing disk: one a second each. */
static struct log_limit refused_log = LOG_LIMIT(1000);

static void conn_flush(struct conn *c);

struct conn *conn_next(const struct conn *c)
{
    return c->next;
}

static const struct config *cfg_of(const struct conn *c)
{
    return c->ring->srv->cfg;
}

const char *conn_agency_name(const struct conn *c)
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

/* Frees the connection once nothing is in flight for it. */
void conn_release(struct conn *c)
{
    if (c->state == CONN_DEAD)
        conn_held_drop_leaving(c);
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
    log_debug("connection closed", "conn=%u agency=%s", c->id, conn_agency_name(c));
    conn_destroy(c);
}

void conn_close_now(struct conn *c)
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
void conn_finish(struct conn *c, bool notify)
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

void conn_write(struct conn *c, const void *data, size_t len)
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
                  conn_agency_name(c), own_route ? own_route : route, status, seconds * 1000);
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
    log_info("request refused", "conn=%u agency=%s status=%d code=%s", c->id, conn_agency_name(c),
             status, code);
    struct http_response resp = {.status = status, .close = true};
    resp.body = error_json(code, message);
    resp.body_len = resp.body ? strlen(resp.body) : 0;
    conn_respond(c, &resp, "other", NULL);
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
        if (conn_journals_healthy(s, c->ring->now_ms, why, sizeof why))
            http_response_json(&resp, 200, strdup("{\"status\":\"ok\"}"));
        else
            http_response_json(&resp, 503, error_json("audit_unavailable", why));
    } else if (!agency_may(&c->agency, OP_METRICS)) {
        http_response_json(&resp, 403, error_json("forbidden", "this agency may not read metrics"));
    } else {
        resp.status = 200;
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp.body = conn_metrics_text(s, c->ring->now_ms);
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
             c->id, conn_agency_name(c), c->serial);
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
    log_debug("agency connected", "conn=%u agency=%s", c->id, conn_agency_name(c));
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

void conn_advance(struct conn *c)
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
                 conn_agency_name(c));
        conn_close_now(c);
        return;
    }
    conn_advance(c);
}

/* ---- deadlines and shutdown --------------------------------------------------------- */

static void conn_timeout(struct conn *c, const char *phase)
{
    metrics_event(c->ring->srv->metrics, MET_CONN_TIMEOUT);
    log_info("connection timed out", "conn=%u agency=%s phase=%s", c->id, conn_agency_name(c),
             phase);
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
