/*
 * appliance/load_loop.c - huduma-load's threads: each runs one epoll loop over
 * its share of the connections (non-blocking sockets, OpenSSL on the socket,
 * TLS 1.3 with a client certificate, HTTP/1.1 keep-alive and pipelining).
 *
 * A run has three phases, the same in every thread:
 *   connect   every connection is opened and its handshake done (bounded by
 *             connect_timeout); then all threads meet at a barrier and take
 *             one common start time t0;
 *   load      from t0 to t0 + warmup + duration requests are sent; those whose
 *             intended send time falls after the warm-up are measured;
 *   grace     no more requests; answers still due may arrive for grace_ns.
 *             What is still unanswered then counts as `unanswered`, and goes
 *             into the histogram with the time it had waited so far.
 *
 * Each connection keeps the intended send times of its requests in flight in
 * a FIFO (at most `pipeline` of them); a response pops the oldest, and its
 * latency is now - intended.
 *   closed loop (rate 0): every open connection keeps `pipeline` requests in
 *     flight; a request's intended time is when it is written.
 *   open loop (rate R): thread t sends its k-th request at the intended time
 *     t0 + (k + t / threads) * threads / R, on the next connection with a free
 *     pipeline slot.  When none has one, requests wait in a backlog (just the
 *     range of k not yet sent) and go out as slots free up, their latency
 *     still counted from the intended time: a server that stalls shows in the
 *     percentiles (no coordinated omission).
 * A connection that fails is counted, its requests in flight count as
 * unanswered, and it is opened again 20 ms later while the load phase lasts.
 */
#include "load.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP_MAX   (16u * 1024 * 1024) /* the largest response accepted */
#define READ_CHUNK   (32 * 1024)
#define RETRY_NS     20000000ull
#define MAX_WAIT_NS  10000000ull
#define EPOLL_EVENTS 64

enum lc_state { LC_CLOSED, LC_CONNECTING, LC_HANDSHAKE, LC_OPEN };

struct lconn {
    int fd;
    SSL *ssl;
    enum lc_state state;
    uint32_t events;   /* registered with epoll */
    uint64_t retry_at; /* LC_CLOSED: when to open it again */
    char *out;         /* plaintext still to hand to SSL_write */
    size_t out_off, out_len, out_cap;
    char *in; /* plaintext received, not yet parsed */
    size_t in_len, in_cap;
    uint64_t *fifo; /* intended send times of the requests in flight */
    unsigned head, count;
    bool closing; /* the last response said Connection: close */
};

struct lthread {
    struct load_run *run;
    unsigned index;
    pthread_t thread;
    int epfd;
    struct lconn *conns;
    unsigned nconns;
    unsigned rr;         /* next connection to offer a request to */
    size_t next_request; /* rotation over cfg->requests */
    uint64_t t0, measure_from, measure_to, stop_at;
    uint64_t quota;                 /* requests this thread may still send */
    uint64_t interval_ns, phase_ns; /* open loop */
    uint64_t next_k;                /* open loop: the first request not yet sent */
    struct load_stats stats;
    bool started;
};

struct load_run {
    struct load_config cfg;
    struct lthread *threads;
    pthread_barrier_t ready, go;
    uint64_t t0;
    struct rusage usage0;
    bool barriers;
    atomic_uint opened; /* connections open after the connect phase, all threads */
    bool abort;         /* none was: the threads stop at once */
};

uint64_t load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *load_tls_error(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last)
        ERR_error_string_n(last, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
    return buf;
}

/* ---- one connection: open, close ------------------------------------------------------ */

static void watch(struct lthread *t, struct lconn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(t->epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
    c->events = events;
}

static bool measured(const struct lthread *t, uint64_t intended)
{
    return intended >= t->measure_from && intended < t->measure_to;
}

/* The requests still in flight on c will never be answered. */
static void drop_in_flight(struct lthread *t, struct lconn *c, uint64_t now)
{
    for (; c->count; c->count--, c->head = (c->head + 1) % t->run->cfg.pipeline) {
        uint64_t intended = c->fifo[c->head];
        if (!measured(t, intended))
            continue;
        t->stats.unanswered++;
        load_hist_add(&t->stats.hist, (now - intended) / 1000, 1);
    }
}

static void conn_close(struct lthread *t, struct lconn *c, uint64_t now, bool failed)
{
    if (c->state == LC_CLOSED)
        return;
    if (failed)
        t->stats.conn_errors++;
    drop_in_flight(t, c, now);
    if (c->ssl) {
        if (!failed && c->state == LC_OPEN)
            SSL_shutdown(c->ssl); /* close_notify, best effort */
        SSL_free(c->ssl);
    }
    close(c->fd); /* also takes it out of the epoll set */
    c->ssl = NULL;
    c->fd = -1;
    c->events = 0;
    c->state = LC_CLOSED;
    c->out_off = c->out_len = c->in_len = 0;
    c->closing = false;
    c->retry_at = now + (failed ? RETRY_NS : 0);
}

static void report_failure(struct lthread *t, const char *what)
{
    static atomic_flag said = ATOMIC_FLAG_INIT; /* one line per run, not one per connection */
    char why[256];
    load_tls_error(why, sizeof why);
    if (!atomic_flag_test_and_set(&said))
        fprintf(stderr, "huduma-load: thread %u: %s: %s\n", t->index, what, why);
}

static int conn_open(struct lthread *t, struct lconn *c)
{
    const struct load_config *cfg = &t->run->cfg;
    int one = 1;
    c->fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(cfg->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        if (c->ssl)
            SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    SSL_set_connect_state(c->ssl);
    c->state = LC_CONNECTING;
    c->events = 0;
    if (connect(c->fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) != 0 &&
        errno != EINPROGRESS) {
        report_failure(t, "connect");
        c->state = LC_HANDSHAKE; /* so that conn_close() frees it */
        return -1;
    }
    watch(t, c, EPOLLOUT);
    return 0;
}

/* ---- bytes out ---------------------------------------------------------------------- */

static bool reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *grown = realloc(*buf, n);
    if (!grown)
        return false;
    *buf = grown;
    *cap = n;
    return true;
}

/* Hands the queued plaintext to OpenSSL; false when the connection failed. */
static bool conn_flush(struct lthread *t, struct lconn *c)
{
    while (c->out_off < c->out_len) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            watch(t, c, EPOLLIN | EPOLLOUT);
            return true;
        }
        if (e == SSL_ERROR_WANT_READ)
            return true;
        report_failure(t, "write");
        return false;
    }
    c->out_off = c->out_len = 0;
    watch(t, c, EPOLLIN);
    return true;
}

/* Queues the next request on c, in flight from `intended`. */
static bool conn_queue(struct lthread *t, struct lconn *c, uint64_t intended)
{
    const struct load_config *cfg = &t->run->cfg;
    const struct load_request *req = &cfg->requests[t->next_request];
    t->next_request = (t->next_request + 1) % cfg->nrequests;
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (!reserve(&c->out, &c->out_cap, c->out_len + req->len))
        return false;
    memcpy(c->out + c->out_len, req->text, req->len);
    c->out_len += req->len;
    c->fifo[(c->head + c->count) % cfg->pipeline] = intended;
    c->count++;
    if (measured(t, intended))
        t->stats.sent++;
    if (t->quota)
        t->quota--;
    return true;
}

static bool may_send(const struct lthread *t, const struct lconn *c)
{
    return c->state == LC_OPEN && !c->closing && c->count < t->run->cfg.pipeline && t->quota > 0;
}

/* ---- bytes in ----------------------------------------------------------------------- */

static void count_response(struct lthread *t, const struct load_response *r, uint64_t intended,
                           uint64_t now)
{
    if (now >= t->measure_from && now < t->measure_to)
        t->stats.completed++;
    if (!measured(t, intended))
        return;
    t->stats.answered++;
    t->stats.status[r->status < LOAD_STATUS_MAX ? r->status : 0]++;
    load_hist_add(&t->stats.hist, (now - intended + 500) / 1000, 1);
}

/* Takes every complete response off the front of c->in; false on a protocol error. */
static bool conn_parse(struct lthread *t, struct lconn *c, uint64_t now)
{
    const struct load_config *cfg = &t->run->cfg;
    size_t off = 0;
    bool ok = true;
    while (off < c->in_len) {
        struct load_response r;
        const char *why = NULL;
        enum load_parse p = load_response_parse(c->in + off, c->in_len - off, cfg->head, &r, &why);
        if (p == LOAD_PARSE_MORE)
            break;
        if (p == LOAD_PARSE_INTERIM) {
            off += r.header_len;
            continue;
        }
        if (p == LOAD_PARSE_ERROR || c->count == 0) {
            fprintf(stderr, "huduma-load: thread %u: %s\n", t->index,
                    p == LOAD_PARSE_ERROR ? why : "a response to no request");
            t->stats.protocol_errors++;
            ok = false;
            break;
        }
        off += r.header_len + r.body_len;
        count_response(t, &r, c->fifo[c->head], now);
        c->head = (c->head + 1) % cfg->pipeline;
        c->count--;
        if (r.close) {
            c->closing = true;
            break;
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return ok;
}

enum read_result { READ_OK, READ_ENDED, READ_FAILED, READ_PROTOCOL };

/* Reads all OpenSSL has for c and takes the complete responses. */
static enum read_result conn_read(struct lthread *t, struct lconn *c, uint64_t now)
{
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK &&
            (c->in_len + READ_CHUNK > IN_CAP_MAX ||
             !reserve(&c->in, &c->in_cap, c->in_len + READ_CHUNK))) {
            fprintf(stderr, "huduma-load: thread %u: a response over 16 MiB\n", t->index);
            t->stats.protocol_errors++;
            return READ_PROTOCOL;
        }
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (n > 0) {
            c->in_len += (size_t)n;
            if (!conn_parse(t, c, now))
                return READ_PROTOCOL;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return READ_OK;
        if (c->closing) /* what was sent after the last answer is lost: unanswered */
            return READ_ENDED;
        report_failure(t, "read");
        return READ_FAILED;
    }
}

/* ---- events ------------------------------------------------------------------------ */

static void fill_closed_loop(struct lthread *t, struct lconn *c, uint64_t now)
{
    if (t->run->cfg.rate > 0 || now >= t->measure_to)
        return;
    while (may_send(t, c))
        if (!conn_queue(t, c, now))
            break;
}

static void conn_handshake(struct lthread *t, struct lconn *c, uint64_t now)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->state = LC_OPEN;
        t->stats.handshakes++;
        watch(t, c, EPOLLIN);
        if (t->started) {
            fill_closed_loop(t, c, now);
            if (!conn_flush(t, c))
                conn_close(t, c, now, true);
        }
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        watch(t, c, EPOLLIN);
    else if (e == SSL_ERROR_WANT_WRITE)
        watch(t, c, EPOLLOUT);
    else {
        report_failure(t, "tls handshake");
        conn_close(t, c, now, true);
    }
}

static void conn_event(struct lthread *t, struct lconn *c, uint32_t events, uint64_t now)
{
    if (c->state == LC_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            errno = err;
            report_failure(t, "connect");
            conn_close(t, c, now, true);
            return;
        }
        c->state = LC_HANDSHAKE;
    }
    if (c->state == LC_HANDSHAKE) {
        conn_handshake(t, c, now);
        return;
    }
    if ((events & EPOLLOUT) && !conn_flush(t, c)) {
        conn_close(t, c, now, true);
        return;
    }
    enum read_result rr = conn_read(t, c, now);
    if (rr == READ_FAILED || rr == READ_PROTOCOL) { /* a protocol error is counted as such */
        conn_close(t, c, now, rr == READ_FAILED);
        if (rr == READ_PROTOCOL)
            c->retry_at = now + RETRY_NS;
        return;
    }
    if (rr == READ_ENDED || (c->closing && c->count == 0)) { /* it said Connection: close */
        t->stats.closed_by_server++;
        conn_close(t, c, now, false);
        return;
    }
    fill_closed_loop(t, c, now);
    if (!conn_flush(t, c))
        conn_close(t, c, now, true);
}

/* ---- the open loop's schedule -------------------------------------------------------- */

static uint64_t intended_at(const struct lthread *t, uint64_t k)
{
    return t->t0 + t->phase_ns + k * t->interval_ns;
}

/* Sends every request whose time has come, while connections have room. */
static void open_loop_send(struct lthread *t, uint64_t now)
{
    unsigned n = t->nconns, tried = 0;
    while (tried < n && t->quota > 0) {
        uint64_t intended = intended_at(t, t->next_k);
        if (intended > now || intended >= t->measure_to)
            break;
        struct lconn *c = &t->conns[t->rr];
        t->rr = (t->rr + 1) % n;
        if (!may_send(t, c)) {
            tried++;
            continue;
        }
        tried = 0;
        if (!conn_queue(t, c, intended))
            break;
        uint64_t late = (now - intended) / 1000;
        if (late > t->stats.late_us_max)
            t->stats.late_us_max = late;
        t->next_k++;
    }
    for (unsigned i = 0; i < n; i++) {
        struct lconn *c = &t->conns[i];
        if (c->state == LC_OPEN && c->out_len > c->out_off && !conn_flush(t, c))
            conn_close(t, c, now, true);
    }
}

/* Requests of the schedule never sent: each waited from its intended time. */
static void open_loop_unsent(struct lthread *t, uint64_t now)
{
    for (; t->quota > 0; t->next_k++, t->quota--) {
        uint64_t intended = intended_at(t, t->next_k);
        if (intended >= t->measure_to || intended > now)
            break;
        if (!measured(t, intended))
            continue;
        t->stats.sent++;
        t->stats.unanswered++;
        load_hist_add(&t->stats.hist, (now - intended) / 1000, 1);
    }
}

/* ---- the thread ------------------------------------------------------------------- */

static void reopen_closed(struct lthread *t, uint64_t now)
{
    if (now >= t->measure_to)
        return;
    for (unsigned i = 0; i < t->nconns; i++) {
        struct lconn *c = &t->conns[i];
        if (c->state != LC_CLOSED || now < c->retry_at || conn_open(t, c) == 0)
            continue;
        if (c->state == LC_CLOSED) { /* no socket or no memory: nothing to free */
            t->stats.conn_errors++;
            c->retry_at = now + RETRY_NS;
        } else {
            conn_close(t, c, now, true);
        }
    }
}

static uint64_t wait_until(const struct lthread *t, uint64_t now)
{
    uint64_t until = now + MAX_WAIT_NS;
    if (t->run->cfg.rate > 0) { /* a request already due waits for a free slot, not the clock */
        uint64_t next = intended_at(t, t->next_k);
        if (next > now && next < until && next < t->measure_to)
            until = next;
    }
    return until < t->stop_at ? until : t->stop_at;
}

static void poll_once(struct lthread *t, uint64_t until)
{
    struct epoll_event ev[EPOLL_EVENTS];
    uint64_t now = load_now_ns();
    uint64_t wait = until > now ? until - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull),
                          .tv_nsec = (long)(wait % 1000000000ull)};
    int n = epoll_pwait2(t->epfd, ev, EPOLL_EVENTS, &ts, NULL);
    now = load_now_ns();
    for (int i = 0; i < n; i++) {
        struct lconn *c = ev[i].data.ptr;
        if (c->state != LC_CLOSED)
            conn_event(t, c, ev[i].events, now);
    }
}

static unsigned in_flight(const struct lthread *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->nconns; i++)
        n += t->conns[i].count;
    return n;
}

/* Open loop: requests due in the window but not sent yet. */
static bool backlog(const struct lthread *t, uint64_t now)
{
    uint64_t next = intended_at(t, t->next_k);
    return t->run->cfg.rate > 0 && t->quota > 0 && next < t->measure_to && next <= now;
}

static unsigned opened(const struct lthread *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->nconns; i++)
        n += t->conns[i].state == LC_OPEN;
    return n;
}

static unsigned opening(const struct lthread *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->nconns; i++)
        n += t->conns[i].state == LC_CONNECTING || t->conns[i].state == LC_HANDSHAKE;
    return n;
}

static void connect_phase(struct lthread *t)
{
    uint64_t deadline = load_now_ns() + t->run->cfg.connect_timeout_ns;
    for (unsigned i = 0; i < t->nconns; i++)
        if (conn_open(t, &t->conns[i]) != 0)
            conn_close(t, &t->conns[i], load_now_ns(), true);
    t->measure_to = UINT64_MAX; /* nothing is measured yet: see measured() */
    t->measure_from = UINT64_MAX;
    while (opening(t) > 0 && load_now_ns() < deadline) {
        uint64_t until = load_now_ns() + MAX_WAIT_NS;
        poll_once(t, until < deadline ? until : deadline);
    }
    for (unsigned i = 0; i < t->nconns; i++)
        if (t->conns[i].state != LC_OPEN) {
            t->stats.connect_failures++;
            conn_close(t, &t->conns[i], load_now_ns(), false);
        }
    t->stats.conn_errors = 0; /* failures to connect are counted on their own */
}

static void load_phase(struct lthread *t)
{
    const struct load_config *cfg = &t->run->cfg;
    t->started = true;
    for (unsigned i = 0; i < t->nconns; i++) {
        struct lconn *c = &t->conns[i];
        fill_closed_loop(t, c, t->t0);
        if (c->state == LC_OPEN && !conn_flush(t, c))
            conn_close(t, c, t->t0, true);
    }
    for (;;) {
        uint64_t now = load_now_ns();
        bool done =
            (now >= t->measure_to || t->quota == 0) && in_flight(t) == 0 && !backlog(t, now);
        if (now >= t->stop_at || done)
            break;
        if (cfg->rate > 0)
            open_loop_send(t, now);
        reopen_closed(t, now);
        poll_once(t, wait_until(t, now));
    }
    uint64_t now = load_now_ns();
    if (cfg->rate > 0)
        open_loop_unsent(t, now);
    for (unsigned i = 0; i < t->nconns; i++)
        conn_close(t, &t->conns[i], now, false);
}

static void *thread_main(void *arg)
{
    struct lthread *t = arg;
    struct load_run *run = t->run;
    connect_phase(t);
    atomic_fetch_add(&run->opened, opened(t));
    pthread_barrier_wait(&run->ready);
    pthread_barrier_wait(&run->go); /* run->t0 and run->abort are set between the two */
    if (run->abort) {
        for (unsigned i = 0; i < t->nconns; i++)
            conn_close(t, &t->conns[i], load_now_ns(), false);
        return NULL;
    }
    t->t0 = run->t0;
    t->measure_from = t->t0 + run->cfg.warmup_ns;
    t->measure_to = t->measure_from + run->cfg.duration_ns;
    t->stop_at = t->measure_to + run->cfg.grace_ns;
    load_phase(t);
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------ */

static int thread_init(struct load_run *run, unsigned i)
{
    const struct load_config *cfg = &run->cfg;
    struct lthread *t = &run->threads[i];
    t->run = run;
    t->index = i;
    t->nconns = cfg->connections / cfg->threads + (i < cfg->connections % cfg->threads);
    t->next_request = (size_t)i % cfg->nrequests;
    uint64_t share = cfg->max_requests / cfg->threads + (i < cfg->max_requests % cfg->threads);
    t->quota = cfg->max_requests ? share : UINT64_MAX;
    if (cfg->rate > 0) {
        t->interval_ns = (uint64_t)(1e9 * cfg->threads / cfg->rate);
        if (t->interval_ns == 0)
            t->interval_ns = 1;
        t->phase_ns = t->interval_ns * i / cfg->threads;
    }
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->conns = calloc(t->nconns, sizeof *t->conns);
    if (t->epfd < 0 || !t->conns)
        return -1;
    for (unsigned j = 0; j < t->nconns; j++) {
        t->conns[j].fd = -1;
        t->conns[j].fifo = calloc(cfg->pipeline, sizeof *t->conns[j].fifo);
        if (!t->conns[j].fifo)
            return -1;
    }
    return 0;
}

struct load_run *load_run_start(const struct load_config *cfg, char *err, size_t errlen)
{
    struct load_run *run = calloc(1, sizeof *run);
    if (!run || !(run->threads = calloc(cfg->threads, sizeof *run->threads))) {
        snprintf(err, errlen, "out of memory");
        free(run);
        return NULL;
    }
    run->cfg = *cfg;
    for (unsigned i = 0; i < cfg->threads; i++) {
        run->threads[i].epfd = -1;
        if (thread_init(run, i) != 0) {
            snprintf(err, errlen, "cannot set up thread %u: %s", i, strerror(errno));
            load_run_free(run);
            return NULL;
        }
    }
    pthread_barrier_init(&run->ready, NULL, cfg->threads + 1);
    pthread_barrier_init(&run->go, NULL, cfg->threads + 1);
    run->barriers = true;
    for (unsigned i = 0; i < cfg->threads; i++) {
        int rc = pthread_create(&run->threads[i].thread, NULL, thread_main, &run->threads[i]);
        if (rc != 0) { /* the process ends: the threads started wait at the barrier */
            snprintf(err, errlen, "cannot start thread %u: %s", i, strerror(rc));
            return NULL;
        }
    }
    return run;
}

static double cpu_seconds(const struct rusage *u)
{
    return (double)u->ru_utime.tv_sec + (double)u->ru_utime.tv_usec / 1e6 +
           (double)u->ru_stime.tv_sec + (double)u->ru_stime.tv_usec / 1e6;
}

int load_run_wait(struct load_run *run, uint64_t deadline_ns, struct load_stats *total,
                  double *window_s, double *client_cpu_cores)
{
    const struct load_config *cfg = &run->cfg;
    pthread_barrier_wait(&run->ready);
    run->t0 = load_now_ns();
    run->abort = atomic_load(&run->opened) == 0;
    getrusage(RUSAGE_SELF, &run->usage0);
    pthread_barrier_wait(&run->go);
    struct timespec real_limit;
    clock_gettime(CLOCK_REALTIME, &real_limit); /* pthread_timedjoin_np counts in real time */
    uint64_t left = deadline_ns > run->t0 ? deadline_ns - run->t0 : 0;
    real_limit.tv_sec += (time_t)(left / 1000000000ull);
    real_limit.tv_nsec += (long)(left % 1000000000ull);
    if (real_limit.tv_nsec >= 1000000000L) {
        real_limit.tv_sec++;
        real_limit.tv_nsec -= 1000000000L;
    }
    for (unsigned i = 0; i < cfg->threads; i++)
        if (pthread_timedjoin_np(run->threads[i].thread, NULL, &real_limit) != 0)
            return -1;
    if (run->abort)
        return -2;
    uint64_t end = load_now_ns();
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    memset(total, 0, sizeof *total);
    for (unsigned i = 0; i < cfg->threads; i++)
        load_stats_merge(total, &run->threads[i].stats);
    *window_s = (double)cfg->duration_ns / 1e9;
    double wall = (double)(end - run->t0) / 1e9;
    *client_cpu_cores = wall > 0 ? (cpu_seconds(&u) - cpu_seconds(&run->usage0)) / wall : 0;
    return 0;
}

void load_stats_merge(struct load_stats *into, const struct load_stats *from)
{
    into->sent += from->sent;
    into->answered += from->answered;
    into->unanswered += from->unanswered;
    into->completed += from->completed;
    for (unsigned i = 0; i < LOAD_STATUS_MAX; i++)
        into->status[i] += from->status[i];
    into->conn_errors += from->conn_errors;
    into->protocol_errors += from->protocol_errors;
    into->closed_by_server += from->closed_by_server;
    into->handshakes += from->handshakes;
    into->connect_failures += from->connect_failures;
    if (from->late_us_max > into->late_us_max)
        into->late_us_max = from->late_us_max;
    load_hist_merge(&into->hist, &from->hist);
}

void load_run_free(struct load_run *run)
{
    if (!run)
        return;
    for (unsigned i = 0; run->threads && i < run->cfg.threads; i++) {
        struct lthread *t = &run->threads[i];
        for (unsigned j = 0; t->conns && j < t->nconns; j++) {
            free(t->conns[j].fifo);
            free(t->conns[j].out);
            free(t->conns[j].in);
        }
        free(t->conns);
        if (t->epfd >= 0)
            close(t->epfd);
    }
    if (run->barriers) {
        pthread_barrier_destroy(&run->ready);
        pthread_barrier_destroy(&run->go);
    }
    free(run->threads);
    free(run);
}

/* ---- one blocking connection, for --show-response ------------------------------------ */

int load_connect_blocking(const struct load_config *cfg, SSL **ssl_out, uint64_t timeout_ns,
                          char *err, size_t errlen)
{
    struct timeval tv = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                         .tv_usec = (long)(timeout_ns % 1000000000ull / 1000)};
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
        connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) != 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    SSL *ssl = SSL_new(cfg->tls);
    ERR_clear_error();
    errno = 0;
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        char why[256];
        snprintf(err, errlen, "tls handshake: %s", load_tls_error(why, sizeof why));
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    *ssl_out = ssl;
    return fd;
}
