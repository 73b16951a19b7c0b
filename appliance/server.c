/*
 * appliance/server.c - hudumad's server: the rings, the worker pool, and the
 * signals that stop them.
 *
 * server_run() starts one ring thread per configured thread (each sets up its
 * own io_uring and reports back), then the main thread waits for SIGTERM or
 * SIGINT by reading a signalfd through a small io_uring of its own.  On a
 * signal it sets the stop flag and wakes every ring; each ring stops
 * accepting, lets its connections finish (bounded by drain_timeout_ms) and
 * returns.  The workers stop when the rings are gone: by then no request can
 * be at a worker, since a ring waits for its connections' jobs.
 *
 * The worker pool runs the requests that change the register (they wait for
 * a synced commit): a mutex-and-condition queue of jobs; each finished job
 * goes back to its ring through ring_job_done().  Answers waiting for their
 * audit leaf never leave their ring: its own journal write releases them
 * (conn_journal.c); the audit fold wakes the rings after it syncs, in case one waited
 * for room in its journal (server_audit_synced).
 */
#include "server.h"

#include "api.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct workpool {
    struct server *srv;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    bool stop;
    unsigned nthreads, started;
    pthread_t *threads;
};

/* ---- the worker pool ------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    struct workpool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->ready, &p->lock);
        struct job *job = p->head;
        if (job) {
            p->head = job->next;
            if (!p->head)
                p->tail = NULL;
        }
        pthread_mutex_unlock(&p->lock);
        if (!job)
            return NULL; /* stopped and nothing left */
        api_handle_audited(p->srv->api, job->agency, job->req, &job->resp, &job->audit);
        ring_job_done(job->ring, job);
    }
}

void server_audit_synced(void *server)
{
    struct server *s = server;
    for (unsigned i = 0; i < s->nrings; i++)
        if (s->rings[i] && s->rings[i]->journal)
            ring_wake(s->rings[i]);
}

void server_submit(struct server *s, struct job *job)
{
    struct workpool *p = s->pool;
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
}

static int pool_start(struct workpool *p, char *err, size_t errlen)
{
    for (; p->started < p->nthreads; p->started++) {
        int rc = pthread_create(&p->threads[p->started], NULL, worker_main, p);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(rc));
            return -1;
        }
        char name[16];
        snprintf(name, sizeof name, "hudumad-work%u", p->started % 1000u);
        pthread_setname_np(p->threads[p->started], name);
    }
    return 0;
}

static void pool_stop(struct workpool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    p->started = 0;
}

/* ---- life of the server --------------------------------------------------------- */

int server_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE); /* sends use MSG_NOSIGNAL; this is belt and braces */
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The handshake's question (tls_check_peers): an agency holds this serial and
 * is not revoked. */
static bool agency_in_good_standing(void *agencies, const char *serial)
{
    struct agency a;
    return agencies_lookup_serial(agencies, serial, &a);
}

int server_new(const struct config *cfg, struct reg *reg, struct agencies *agencies,
               struct api *api, struct metrics *metrics, struct server **out, char *err,
               size_t errlen)
{
    *out = NULL;
    struct server *s = calloc(1, sizeof *s);
    struct workpool *p = calloc(1, sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->limits.max_header_bytes = cfg->max_header_bytes;
    s->limits.max_headers = cfg->max_headers;
    s->limits.max_body_bytes = cfg->max_body_bytes;
    s->reg = reg;
    s->agencies = agencies;
    s->api = api;
    s->metrics = metrics;
    s->pool = p;
    p->srv = s;
    p->nthreads = cfg->workers;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    p->threads = calloc(p->nthreads, sizeof *p->threads);
    s->nrings = cfg->threads ? cfg->threads : online_cpus();
    s->rings = calloc(s->nrings, sizeof *s->rings);
    if (!p->threads || !s->rings) {
        snprintf(err, errlen, "out of memory");
        server_free(s);
        return -1;
    }
    if (tls_context_new(cfg, &s->tls, err, errlen) != 0) {
        server_free(s);
        return -1;
    }
    s->peer_check = (struct tls_peer_check){agency_in_good_standing, agencies};
    tls_check_peers(s->tls, &s->peer_check);
    char why[128];
    if (tls_kernel_available(why, sizeof why))
        log_info("kernel TLS available; TLS in user space over memory buffers", NULL);
    else
        log_info("kernel TLS unavailable; TLS in user space over memory buffers", "reason=\"%s\"",
                 why);
    for (unsigned i = 0; i < s->nrings; i++) {
        if (ring_new(s, i, &s->rings[i], err, errlen) != 0) {
            server_free(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

static int wait_started(struct ring *r, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->start_lock);
    while (r->start_state == 0)
        pthread_cond_wait(&r->start_cond, &r->start_lock);
    int state = r->start_state;
    if (state < 0)
        snprintf(err, errlen, "%s", r->start_error);
    pthread_mutex_unlock(&r->start_lock);
    return state < 0 ? -1 : 0;
}

/* Reads SIGTERM or SIGINT from a signalfd through a small io_uring. */
static int wait_for_signal(char *err, size_t errlen)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -1;
    }
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
        close(fd);
        return -1;
    }
    struct signalfd_siginfo info;
    bool armed = false;
    for (;;) {
        if (!armed) { /* one read at a time: a wake-up without a completion keeps it */
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            io_uring_prep_read(sqe, fd, &info, sizeof info, 0);
            armed = true;
        }
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc >= 0)
            rc = io_uring_peek_cqe(&ring, &cqe);
        if (rc == -EINTR || rc == -EAGAIN) /* woken with nothing, e.g. by SIGSTOP and SIGCONT */
            continue;
        if (rc < 0) {
            snprintf(err, errlen, "waiting for signals: %s", strerror(-rc));
            break;
        }
        int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        armed = false;
        if (res == (int)sizeof info) {
            log_info("shutting down", "signal=%s", strsignal((int)info.ssi_signo));
            break;
        }
    }
    io_uring_queue_exit(&ring);
    close(fd);
    return rc < 0 ? -1 : 0;
}

int server_run(struct server *s, char *err, size_t errlen)
{
    server_block_signals();
    int rc = pool_start(s->pool, err, errlen);
    unsigned started = 0;
    for (; rc == 0 && started < s->nrings; started++) {
        struct ring *r = s->rings[started];
        int e = pthread_create(&r->thread, NULL, ring_main, r);
        if (e != 0) {
            snprintf(err, errlen, "cannot start ring thread: %s", strerror(e));
            rc = -1;
            break;
        }
        char name[16];
        snprintf(name, sizeof name, "hudumad-ring%u", started % 1000u);
        pthread_setname_np(r->thread, name);
        rc = wait_started(r, err, errlen);
    }
    if (rc == 0) {
        const struct config *cfg = s->cfg;
        bool v6 = strchr(cfg->listen, ':') != NULL;
        log_info("listening", "addr=%s%s%s:%u threads=%u workers=%u tls=1.3 client_cert=required",
                 v6 ? "[" : "", cfg->listen, v6 ? "]" : "", cfg->port, s->nrings, cfg->workers);
        rc = wait_for_signal(err, errlen);
    }
    atomic_store(&s->stopping, true);
    for (unsigned i = 0; i < started; i++)
        ring_wake(s->rings[i]);
    for (unsigned i = 0; i < started; i++)
        pthread_join(s->rings[i]->thread, NULL);
    pool_stop(s->pool);
    if (rc == 0)
        log_info("stopped", "connections=%d", atomic_load(&s->connections));
    return rc;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; s->rings && i < s->nrings; i++)
        ring_free(s->rings[i]);
    free(s->rings);
    if (s->pool) {
        pthread_mutex_destroy(&s->pool->lock);
        pthread_cond_destroy(&s->pool->ready);
        free(s->pool->threads);
        free(s->pool);
    }
    SSL_CTX_free(s->tls);
    free(s);
}
