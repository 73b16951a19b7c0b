/*
 * appliance/conn_journal.c - answers held for their audit leaves, and the
 * ring's audit journal that makes the leaves durable.
 *
 * An answer whose request must be recorded waits in its connection's `held`
 * queue until its leaf is durable in the ring's own journal (storage.h: the
 * ring queues the leaf, writes what is queued with one synced io_uring write
 * whenever none is in flight, and that write's completion releases the
 * answers it covered).  Any answer behind a held one waits too, so answers
 * leave in order; meanwhile the next pipelined requests are read and answered
 * into the same queue (up to HOLD_MAX), so one connection can have several
 * leaves in one write.  A close asked for while answers are held happens once
 * they have left.  An answer whose leaf could not be written never leaves: a
 * 500 storage_error takes its place and the connection closes.
 *
 * Each held answer is on two lists: its connection's (the order answers
 * leave in) and its ring's (the order leaves were queued in, which is the
 * order the journal's writes complete them).  When a write ends, its answers
 * are marked, then each connection concerned is released once, so that its
 * answers leave in one send.
 *
 * /healthz says 503 audit_unavailable while a ring's last journal write has
 * failed or an answer has waited over JOURNAL_STALL_MS for its leaf; after a
 * failure, each tick writes the journal's tail block again to try the disk
 * (conn_journal_probe), so that health comes back without a request.  The
 * ring's journal counters, which only it writes, are what /metrics shows.
 */
#include "conn_impl.h"

#include "log.h"
#include "metrics.h"
#include "register.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_STALL_MS 2000 /* an answer waiting longer for its leaf: /healthz says 503 */

/* Lines that repeat as fast as a failing disk: one a second each. */
static struct log_limit withheld_log = LOG_LIMIT(1000);
static struct log_limit journal_failed_log = LOG_LIMIT(1000);

/* ---- answers held for their audit leaves ------------------------------------------- */

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
void conn_held_drop_leaving(struct conn *c)
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
                  "conn=%u agency=%s suppressed=%llu", c->id, conn_agency_name(c), held);
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
bool conn_hold(struct conn *c, char *msg, size_t len, const struct audit_request *audit)
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

/* ---- what /healthz and /metrics say of the journals -------------------------------- */

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
bool conn_journals_healthy(const struct server *s, uint64_t now_ms, char *why, size_t whylen)
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
char *conn_metrics_text(const struct server *s, uint64_t now_ms)
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
