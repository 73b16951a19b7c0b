/*
 * appliance/ring.c - one io_uring event loop, run by one thread.
 *
 * Each ring owns: a listening socket bound with SO_REUSEPORT to the
 * configured address (the kernel spreads new connections over the rings), a
 * multishot accept on it, a registered (fixed) file table that holds every
 * connection it accepted (recv, send, shutdown and close all use the fixed
 * slot), a provided-buffer ring from which every multishot receive takes its
 * buffer, an eventfd read that wakes it for worker completions and for
 * shutdown, and one timeout every 250 ms that sweeps its connections'
 * deadlines (and, after a failed audit journal write, tries the disk again:
 * conn_journal_probe).
 *
 * Accepting: one multishot accept stays armed on the listener and yields a
 * plain descriptor per connection.  The peer's address is read from that
 * descriptor with getpeername(): a multishot accept writes every peer into
 * the one sockaddr it was given, and the kernel accepts several connections
 * in a row before user space reads it, so that address belongs to no
 * connection in particular (the rate limiter counts failed handshakes against
 * it).  The descriptor is then moved into the file table by an
 * IORING_OP_FILES_UPDATE with IORING_FILE_INDEX_ALLOC, which picks a free
 * slot and writes it back; on that completion the plain descriptor is closed
 * (the table holds its own reference) and the connection starts on its slot.
 * Two system calls per connection (getpeername, close), before a TLS
 * handshake that costs far more; it needs only what Linux 5.19 has, whereas
 * a multishot accept_direct would need IORING_OP_FIXED_FD_INSTALL (6.8) to
 * reach the address.  A full table fails the update with ENFILE: that
 * connection is closed and counted as refused.  The multishot accept ends
 * on an error (EMFILE when the process is out of descriptors, ENOMEM, ...):
 * it is armed again at the next tick, not in a tight loop; when it ends for
 * any other reason (a full completion queue) it is armed again at once.
 *
 * The loop is: submit and wait for at least one completion, then handle each
 * completion by the operation tagged in its user_data (accept, install, recv,
 * send, wake, tick).  The ring is created by the thread that runs it, as
 * IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN require (and
 * without them on kernels that refuse them).  There is no SQPOLL and no epoll.
 *
 * Shutdown: the multishot accept is cancelled and the listener closed when
 * its last completion arrives; connections accepted meanwhile are closed, and
 * the loop ends when every connection has finished and no socket is still on
 * its way into the table.
 */
#include "server.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_SQ_ENTRIES 1024
#define RING_CQ_ENTRIES 8192
#define RING_TICK_MS    250
#define LISTEN_BACKLOG  4096

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the listening socket ------------------------------------------------------- */

static int listen_address(const struct config *cfg, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, cfg->listen, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->listen, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

/* reuse_port false: a probe that fails when anyone else holds the port. */
static int open_listener(const struct config *cfg, bool reuse_port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (listen_address(cfg, &ss, &len) != 0) {
        snprintf(err, errlen, "listen %s: not a numeric address", cfg->listen);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) || /* inherited by accepts */
        bind(fd, (struct sockaddr *)&ss, len) || listen(fd, LISTEN_BACKLOG)) {
        snprintf(err, errlen, "listen %s port %u: %s", cfg->listen, cfg->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int ring_new(struct server *srv, unsigned index, struct ring **out, char *err, size_t errlen)
{
    *out = NULL;
    if (index == 0) { /* someone else on the port would silently share it with SO_REUSEPORT */
        int probe = open_listener(srv->cfg, false, err, errlen);
        if (probe < 0)
            return -1;
        close(probe);
    }
    struct ring *r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->srv = srv;
    r->index = index;
    r->wake_fd = -1;
    r->file_slots = srv->cfg->max_connections + 64;
    r->tick.tv_nsec = RING_TICK_MS * 1000000L;
    pthread_mutex_init(&r->done_lock, NULL);
    pthread_mutex_init(&r->start_lock, NULL);
    pthread_cond_init(&r->start_cond, NULL);
    r->listen_fd = open_listener(srv->cfg, true, err, errlen);
    if (r->listen_fd < 0) {
        ring_free(r);
        return -1;
    }
    r->wake_fd = eventfd(0, EFD_CLOEXEC); /* blocking: io_uring waits on it for us */
    if (r->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        ring_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void ring_free(struct ring *r)
{
    if (!r)
        return;
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    if (r->bufs_ring)
        munmap(r->bufs_ring, r->bufs_ring_size);
    if (r->bufs)
        munmap(r->bufs, (size_t)RING_BUF_COUNT * RING_BUF_SIZE);
    pthread_mutex_destroy(&r->done_lock);
    pthread_mutex_destroy(&r->start_lock);
    pthread_cond_destroy(&r->start_cond);
    free(r);
}

/* ---- set-up, on the ring's own thread ---------------------------------------------- */

static int init_uring(struct ring *r, char *err, size_t errlen)
{
    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = RING_CQ_ENTRIES;
    int rc = io_uring_queue_init_params(RING_SQ_ENTRIES, &r->uring, &p);
    if (rc == -EINVAL) { /* a kernel older than 6.1 */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = RING_CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_SQ_ENTRIES, &r->uring, &p);
    }
    if (rc == -EPERM || rc == -ENOSYS) {
        char setting[16] = "?";
        FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
        if (f) {
            if (!fgets(setting, sizeof setting, f))
                strcpy(setting, "?");
            setting[strcspn(setting, "\n")] = '\0';
            fclose(f);
        }
        if (strcmp(setting, "0") == 0)
            snprintf(err, errlen,
                     "io_uring is not permitted to this process (%s), though "
                     "kernel.io_uring_disabled is 0: a seccomp or container policy blocks it; "
                     "hudumad needs io_uring",
                     strerror(-rc));
        else
            snprintf(err, errlen,
                     "io_uring is disabled on this machine (kernel.io_uring_disabled = %s, %s); "
                     "hudumad needs it: set the sysctl kernel.io_uring_disabled to 0",
                     setting, strerror(-rc));
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
        return -1;
    }
    r->uring_ready = true;
    if (p.flags & IORING_SETUP_DEFER_TASKRUN)
        log_debug("ring ready", "ring=%u setup=single_issuer,defer_taskrun", r->index);
    else
        log_info("ring ready without single_issuer,defer_taskrun (kernel refused them)", "ring=%u",
                 r->index);
    io_uring_register_ring_fd(&r->uring); /* an optimisation only: failure is fine */
    rc = io_uring_register_files_sparse(&r->uring, r->file_slots);
    if (rc < 0) {
        snprintf(err, errlen, "cannot register %u fixed files: %s (raise the open files limit)",
                 r->file_slots, strerror(-rc));
        return -1;
    }
    return 0;
}

static int init_buffers(struct ring *r, char *err, size_t errlen)
{
    r->bufs_ring_size = RING_BUF_COUNT * sizeof(struct io_uring_buf);
    void *mem =
        mmap(NULL, r->bufs_ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *bufs = mmap(NULL, (size_t)RING_BUF_COUNT * RING_BUF_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || bufs == MAP_FAILED) {
        snprintf(err, errlen, "buffer ring: %s", strerror(errno));
        if (mem != MAP_FAILED)
            munmap(mem, r->bufs_ring_size);
        if (bufs != MAP_FAILED)
            munmap(bufs, (size_t)RING_BUF_COUNT * RING_BUF_SIZE);
        return -1;
    }
    r->bufs_ring = mem;
    r->bufs = bufs;
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)(uintptr_t)mem,
                                   .ring_entries = RING_BUF_COUNT,
                                   .bgid = RING_BUF_GROUP};
    int rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_register_buf_ring: %s", strerror(-rc));
        return -1;
    }
    io_uring_buf_ring_init(r->bufs_ring);
    int mask = io_uring_buf_ring_mask(RING_BUF_COUNT);
    for (unsigned i = 0; i < RING_BUF_COUNT; i++)
        io_uring_buf_ring_add(r->bufs_ring, r->bufs + (size_t)i * RING_BUF_SIZE, RING_BUF_SIZE,
                              (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(r->bufs_ring, RING_BUF_COUNT);
    return 0;
}

/* ---- small helpers used by conn.c ------------------------------------------------- */

struct io_uring_sqe *ring_sqe(struct ring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (!sqe) {
        io_uring_submit(&r->uring);
        sqe = io_uring_get_sqe(&r->uring);
    }
    if (!sqe) { /* the kernel always consumes submitted entries: cannot happen */
        log_error("submission queue full after submitting", "ring=%u", r->index);
        abort();
    }
    return sqe;
}

char *ring_buffer(struct ring *r, unsigned id)
{
    return r->bufs + (size_t)id * RING_BUF_SIZE;
}

void ring_buffer_recycle(struct ring *r, unsigned id)
{
    io_uring_buf_ring_add(r->bufs_ring, ring_buffer(r, id), RING_BUF_SIZE, (unsigned short)id,
                          io_uring_buf_ring_mask(RING_BUF_COUNT), 0);
    io_uring_buf_ring_advance(r->bufs_ring, 1);
}

void ring_close_slot(struct ring *r, unsigned slot)
{
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_close_direct(sqe, slot);
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_IGNORE));
}

void ring_wake(struct ring *r)
{
    uint64_t one = 1;
    ssize_t n = write(r->wake_fd, &one, sizeof one);
    (void)n; /* a full counter still wakes the ring */
}

void ring_job_done(struct ring *r, struct job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&r->done_lock);
    if (r->done_tail)
        r->done_tail->next = job;
    else
        r->done_head = job;
    r->done_tail = job;
    pthread_mutex_unlock(&r->done_lock);
    ring_wake(r);
}

/* ---- the operations the ring keeps armed ------------------------------------------ */

/* An accepted socket on its way into the fixed file table. */
struct accepted {
    int fd;   /* the plain descriptor the accept made: closed once the table has it */
    int slot; /* given fd; the kernel writes the slot it chose over it */
    struct sockaddr_storage peer;
};
/* RING_TAG keeps the operation in the low four bits: 16-byte alignment */
#define ACCEPTED_SIZE ((sizeof(struct accepted) + 15) / 16 * 16)

static void arm_accept(struct ring *r)
{
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_multishot_accept(sqe, r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_ACCEPT));
    r->accept_armed = true;
    r->accept_wanted = false;
}

/* At most one line a second: a flood of refused connections must not flood the log. */
static struct log_limit accept_log = LOG_LIMIT(1000);

static void accept_warn(struct ring *r, const char *what, int err)
{
    unsigned long long held;
    if (log_limit_pass(&accept_log, &held))
        log_warn(what, "ring=%u err=\"%s\" suppressed=%llu", r->index, strerror(err), held);
}

/* A new connection's plain descriptor: learn its peer, then ask for a slot. */
static void install(struct ring *r, int fd)
{
    if (r->draining) {
        close(fd);
        return;
    }
    struct accepted *a = aligned_alloc(16, ACCEPTED_SIZE);
    if (!a) {
        close(fd);
        log_error("connection dropped: out of memory", "ring=%u", r->index);
        return;
    }
    socklen_t len = sizeof a->peer;
    if (getpeername(fd, (struct sockaddr *)&a->peer, &len) != 0) { /* reset already */
        log_debug("connection gone before it was set up", "ring=%u err=\"%s\"", r->index,
                  strerror(errno));
        close(fd);
        free(a);
        return;
    }
    a->fd = a->slot = fd;
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_files_update(sqe, &a->slot, 1, (int)IORING_FILE_INDEX_ALLOC);
    io_uring_sqe_set_data64(sqe, RING_TAG(a, OP_INSTALL));
    r->installing++;
}

static void arm_wake(struct ring *r)
{
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_read(sqe, r->wake_fd, &r->wake_value, sizeof r->wake_value, 0);
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_WAKE));
}

static void arm_tick(struct ring *r)
{
    struct io_uring_sqe *sqe = ring_sqe(r);
    io_uring_prep_timeout(sqe, &r->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_TICK));
}

static void close_listener(struct ring *r)
{
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    r->listen_fd = -1;
}

/* Shutdown: stop accepting, let every connection finish what it started. */
static void begin_drain(struct ring *r)
{
    r->draining = true;
    r->drain_deadline_ms = r->now_ms + r->srv->cfg->drain_timeout_ms;
    if (r->accept_armed) { /* the listener closes when the accept's last completion comes */
        struct io_uring_sqe *sqe = ring_sqe(r);
        io_uring_prep_cancel64(sqe, RING_TAG(NULL, OP_ACCEPT), 0);
        io_uring_sqe_set_data64(sqe, RING_TAG(NULL, OP_IGNORE));
    } else {
        close_listener(r);
    }
    for (struct conn *c = r->conns, *next; c; c = next) {
        next = conn_next(c);
        conn_drain(c);
    }
}

/* ---- completions ------------------------------------------------------------------- */

static void on_accept(struct ring *r, int res, unsigned flags)
{
    bool more = flags & IORING_CQE_F_MORE;
    if (!more)
        r->accept_armed = false;
    if (res >= 0)
        install(r, res);
    else if (res != -ECANCELED)
        accept_warn(r, "accept failed", -res);
    if (more)
        return;
    if (r->draining)
        close_listener(r);
    else if (res >= 0)
        arm_accept(r); /* it ended without an error (a full completion queue) */
    else
        r->accept_wanted = true; /* retried at the next tick, not in a tight loop */
}

/* The file table has the connection (res 1), or has no room for it. */
static void on_install(struct ring *r, struct accepted *a, int res)
{
    r->installing--;
    close(a->fd); /* the table holds its own reference to the socket */
    if (res == 1) {
        conn_accepted(r, (unsigned)a->slot, &a->peer);
    } else {
        if (res == -ENFILE)
            metrics_event(r->srv->metrics, MET_CONN_REFUSED_LIMIT);
        accept_warn(r,
                    res == -ENFILE ? "connection refused: file table full"
                                   : "connection dropped: cannot place it in the file table",
                    res < 0 ? -res : EIO);
    }
    free(a);
}

static void on_wake(struct ring *r, int res)
{
    if (res < 0 && res != -EINTR)
        log_warn("wake read failed", "ring=%u err=\"%s\"", r->index, strerror(-res));
    arm_wake(r);
    pthread_mutex_lock(&r->done_lock);
    struct job *job = r->done_head;
    r->done_head = r->done_tail = NULL;
    pthread_mutex_unlock(&r->done_lock);
    while (job) {
        struct job *next = job->next;
        if (job->finish)
            job->finish(job);
        else
            conn_on_job_done(job->conn);
        job = next;
    }
    if (atomic_load(&r->srv->stopping) && !r->draining)
        begin_drain(r);
}

static void on_tick(struct ring *r)
{
    arm_tick(r);
    if (r->accept_wanted && !r->draining)
        arm_accept(r);
    if (r->journal)
        conn_journal_probe(r);
    bool expired = r->draining && r->now_ms >= r->drain_deadline_ms;
    for (struct conn *c = r->conns, *next; c; c = next) {
        next = conn_next(c);
        if (expired)
            conn_abort(c);
        else
            conn_sweep(c);
    }
}

static void handle(struct ring *r, const struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    switch (RING_TAG_OP(ud)) {
    case OP_ACCEPT:
        on_accept(r, cqe->res, cqe->flags);
        break;
    case OP_INSTALL:
        on_install(r, RING_TAG_PTR(ud), cqe->res);
        break;
    case OP_RECV:
        conn_on_recv(RING_TAG_PTR(ud), cqe->res, cqe->flags);
        break;
    case OP_SEND:
        conn_on_send(RING_TAG_PTR(ud), cqe->res);
        break;
    case OP_WAKE:
        on_wake(r, cqe->res);
        break;
    case OP_TICK:
        on_tick(r);
        break;
    case OP_JOURNAL:
        conn_journal_written(r, cqe->res);
        break;

    default: /* close, cancel, shutdown: nothing to do */
        break;
    }
}

static void loop(struct ring *r)
{
    r->now_ms = monotonic_ms();
    arm_accept(r);
    arm_wake(r);
    arm_tick(r);
    while (!(r->draining && r->nconns == 0 && !r->accept_armed && r->installing == 0 &&
             !(r->journal && audit_journal_busy(r->journal)))) {
        if (r->journal)
            conn_journal_flush(r);
        int rc = io_uring_submit_and_wait(&r->uring, 1);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) {
            log_error("io_uring_submit_and_wait failed", "ring=%u err=\"%s\"", r->index,
                      strerror(-rc));
            break;
        }
        r->now_ms = monotonic_ms();
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&r->uring, head, cqe)
        {
            handle(r, cqe);
            seen++;
        }
        io_uring_cq_advance(&r->uring, seen);
        if (r->journal)
            conn_journal_publish(r);
    }
    io_uring_submit(&r->uring); /* the last closes */
}

static void report_start(struct ring *r, int state, const char *err)
{
    pthread_mutex_lock(&r->start_lock);
    r->start_state = state;
    snprintf(r->start_error, sizeof r->start_error, "%s", err ? err : "");
    pthread_cond_broadcast(&r->start_cond);
    pthread_mutex_unlock(&r->start_lock);
}

void *ring_main(void *arg)
{
    struct ring *r = arg;
    char err[256];
    if (init_uring(r, err, sizeof err) != 0 || init_buffers(r, err, sizeof err) != 0) {
        if (r->uring_ready)
            io_uring_queue_exit(&r->uring);
        r->uring_ready = false;
        report_start(r, -1, err);
        return NULL;
    }
    report_start(r, 1, NULL);
    loop(r);
    io_uring_queue_exit(&r->uring);
    r->uring_ready = false;
    return NULL;
}
