/*
 * appliance/server.h - private to hudumad's network front end: the server
 * (server.c), its io_uring event loops (ring.c), their connections (conn.c,
 * and conn_journal.c for the answers held for their audit leaves) and the
 * HTTP/1.1 parser glue (httpconn.c).
 *
 * Shape: one ring per thread, each with its own SO_REUSEPORT listener and
 * multishot accept, its own registered (fixed) file table for the
 * connections it accepts (each moved there with its peer's address known), its own
 * provided-buffer ring for received bytes, one periodic timeout that sweeps
 * its connections' deadlines, and an eventfd through which the worker pool
 * and the main thread wake it.  A connection lives on the ring that accepted
 * it and is touched only by that ring's thread, except for the one request a
 * worker may be running for it (its `job`), which the worker hands back
 * through the ring's completion list.
 */
#ifndef HUDUMA_SERVER_H
#define HUDUMA_SERVER_H

#include "agency.h"
#include "audit.h"
#include "config.h"
#include "http.h"
#include "tls.h"

#include <liburing.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct reg;
struct api;
struct metrics;
struct agencies;
struct rl;

/* ---- the HTTP/1.1 parser glue (httpconn.c) ------------------------------------ */

struct http_limits {
    size_t max_header_bytes; /* request target + header names and values; 431 */
    unsigned max_headers;    /* 431 */
    size_t max_body_bytes;   /* 413 */
};

enum http_step {
    HTTP_STEP_MORE,    /* everything given was consumed; feed more */
    HTTP_STEP_REQUEST, /* a request is complete: httpconn_request(), then httpconn_next() */
    HTTP_STEP_ERROR,   /* answer httpconn_error_status() with Connection: close */
};

struct httpconn;

struct httpconn *httpconn_new(const struct http_limits *limits);
void httpconn_free(struct httpconn *h);
/* Parses up to len bytes and stops after each complete request; *used gets
 * the bytes consumed (the rest belongs to the next request). */
enum http_step httpconn_feed(struct httpconn *h, const char *data, size_t len, size_t *used);
const struct http_request *httpconn_request(const struct httpconn *h);
/* 400, 413, 414 or 431, and a stable code ("malformed_request", ...). */
int httpconn_error_status(const struct httpconn *h);
const char *httpconn_error_code(const struct httpconn *h);
/* True once the first byte of a request was parsed, until httpconn_next(). */
bool httpconn_in_request(const struct httpconn *h);
/* True once, when the headers asked for "Expect: 100-continue" and the body
 * is still to come. */
bool httpconn_take_continue(struct httpconn *h);
/* Forgets (and wipes) the current request and resumes parsing. */
void httpconn_next(struct httpconn *h);

/* ---- the server (server.c) ------------------------------------------------------- */

struct job {
    struct job *next;
    struct ring *ring; /* where the answer goes back */
    struct conn *conn;
    const struct agency *agency;
    const struct http_request *req;
    struct http_response resp;
    struct audit_request audit;      /* what the audit log records of it */
    void (*finish)(struct job *job); /* on the ring; NULL: conn_on_job_done(conn) */
};

struct workpool;
struct ring;

struct server {
    const struct config *cfg;
    struct http_limits limits;
    SSL_CTX *tls;
    struct tls_peer_check peer_check; /* the agency registry, asked in each handshake */
    struct reg *reg;
    struct agencies *agencies;
    struct api *api;
    struct metrics *metrics;
    struct rl *ratelimit; /* set by main before server_run; NULL: rate limiting is off */
    struct audit *audit;  /* set by main before server_run; NULL: no audit log */
    unsigned nrings;
    struct ring **rings;
    struct workpool *pool;
    atomic_int connections; /* open connections, all rings */
    atomic_uint next_conn_id;
    atomic_bool stopping;
};

/* Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
 * later; call it first in main(), before any library starts a thread. */
int server_block_signals(void);
int server_new(const struct config *cfg, struct reg *reg, struct agencies *agencies,
               struct api *api, struct metrics *metrics, struct server **out, char *err,
               size_t errlen);
/* Starts the rings and the workers, serves until SIGTERM or SIGINT, drains,
 * and returns 0; -1 with err when it could not start. */
int server_run(struct server *s, char *err, size_t errlen);
void server_free(struct server *s);
/* Queues a blocking request on the worker pool (ring thread). */
void server_submit(struct server *s, struct job *job);

/* ---- one event loop (ring.c) ------------------------------------------------------ */

enum ring_op {
    OP_ACCEPT = 1,
    OP_INSTALL,
    OP_RECV,
    OP_SEND,
    OP_WAKE,
    OP_TICK,
    OP_JOURNAL,
    OP_IGNORE
};

/* user_data of an SQE: a pointer (16-byte aligned) with the operation in its low bits */
#define RING_TAG(ptr, op) ((uint64_t)(uintptr_t)(ptr) | (uint64_t)(op))
#define RING_TAG_OP(ud)   ((unsigned)((ud)&15u))
#define RING_TAG_PTR(ud)  ((void *)(uintptr_t)((ud) & ~(uint64_t)15u))

#define RING_BUF_GROUP 0
#ifndef RING_BUF_COUNT /* a power of two; tests build with a tiny ring to reach ENOBUFS */
#define RING_BUF_COUNT 256
#endif
#define RING_BUF_SIZE (16 * 1024)

struct ring {
    struct server *srv;
    unsigned index;
    pthread_t thread;
    struct io_uring uring;
    bool uring_ready;
    int listen_fd;
    int wake_fd; /* eventfd: worker completions, stop */
    uint64_t wake_value;
    struct io_uring_buf_ring *bufs_ring;
    size_t bufs_ring_size;
    char *bufs;
    unsigned file_slots;
    struct __kernel_timespec tick;
    uint64_t now_ms; /* CLOCK_MONOTONIC, read once per batch of completions */

    struct conn *conns; /* every live connection of this ring */
    unsigned nconns;
    bool accept_armed, accept_wanted;
    unsigned installing; /* accepted sockets on their way into the file table */
    bool draining;
    uint64_t drain_deadline_ms;

    pthread_mutex_t done_lock; /* worker -> ring: finished jobs */
    struct job *done_head, *done_tail;

    /* the audit journal (NULL: no audit log) and the answers waiting for it (conn_journal.c) */
    struct audit_journal *journal;
    struct held *journal_head, *journal_tail; /* in the order their leaves were queued */
    /* What /healthz, answered on any ring, reads of this ring's journal: when
     * the oldest answer still waiting for its leaf was queued (0: none), and
     * whether the last journal write failed. */
    _Atomic uint64_t journal_waiting_since_ms;
    atomic_bool journal_failed;
    /* For /metrics, written by the ring alone: its journal writes that ended,
     * those that failed, and the leaves they made durable or failed to. */
    _Atomic uint64_t journal_writes, journal_write_failures;
    _Atomic uint64_t journal_leaves_durable, journal_leaves_failed;

    /* start-up hand-shake with server_run() */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int start_state; /* 0 starting, 1 running, -1 failed */
    char start_error[256];
};

int ring_new(struct server *srv, unsigned index, struct ring **out, char *err, size_t errlen);
void ring_free(struct ring *r);
void *ring_main(void *arg);
/* Any thread: makes the ring look at its completion list and the stop flag. */
void ring_wake(struct ring *r);
/* Worker thread: hands a finished job back to the ring that owns its connection. */
void ring_job_done(struct ring *r, struct job *job);
/* After the audit fold synced (it may have made room in the journals): wakes every ring. */
void server_audit_synced(void *server);
/* Ring thread: a free SQE (submits to make room when the queue is full). */
struct io_uring_sqe *ring_sqe(struct ring *r);
char *ring_buffer(struct ring *r, unsigned id);
void ring_buffer_recycle(struct ring *r, unsigned id);
void ring_close_slot(struct ring *r, unsigned slot);

/* ---- one connection (conn.c, conn_journal.c) ------------------------------------ */

struct conn;

/* A connection from `peer` (its own address, from getpeername) was accepted
 * into fixed file `slot`. */
void conn_accepted(struct ring *r, unsigned slot, const struct sockaddr_storage *peer);
void conn_on_recv(struct conn *c, int res, unsigned flags);
void conn_on_send(struct conn *c, int res);
void conn_on_job_done(struct conn *c);
/* The ring's audit journal: writes what is queued when no write is in flight
 * (each turn of the loop), and the end of a write (releases its answers). */
void conn_journal_flush(struct ring *r);
void conn_journal_written(struct ring *r, int res);
/* After each batch of completions: publishes how long this ring's oldest held
 * answer has waited for its leaf (ring.journal_waiting_since_ms). */
void conn_journal_publish(struct ring *r);
/* At each tick: tries the disk again after a failed journal write. */
void conn_journal_probe(struct ring *r);
/* The periodic sweep: enforces this connection's deadlines. */
void conn_sweep(struct conn *c);
/* Shutdown began: idle connections close now, busy ones after their response. */
void conn_drain(struct conn *c);
/* The drain timeout passed: close at once. */
void conn_abort(struct conn *c);
struct conn *conn_next(const struct conn *c);

#endif
