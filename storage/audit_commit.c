/*
 * storage/audit_commit.c - group commit of audit leaves: one thread, one
 * queue, one synced WriteBatch for everything that arrived while the last
 * one was being written.
 *
 * Submitters (the daemon's network and worker threads) link their ticket to
 * the queue under a mutex and signal the thread only when it sleeps, so a
 * submit is a few dozen nanoseconds and never waits for the disk.  The
 * thread takes the whole queue at once, appends it with audit_log_append()
 * (one WAL sync), then calls each ticket's done() in submission order with
 * its index (or the failure) and finally after_batch(), so that the daemon
 * wakes each network thread once per batch rather than once per request.
 * While a batch is being written, the next one collects: under load the
 * batches grow until one sync serves every request that came meanwhile.  A
 * batch that would be small waits 200 microseconds for more first: a synced
 * write costs the machine a few hundred microseconds of CPU (more on a
 * virtual disk), which a handful of leaves would otherwise each pay a share of.
 *
 * Stopping commits what is queued, then joins.  A failed batch fails every
 * ticket in it and changes nothing; the next batch is tried afresh.  The
 * reason of the last failure is kept for audit_committer_stats().
 */
#include "storage/audit_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX   4096 /* leaves per WriteBatch; the rest waits for the next */
#define BATCH_SMALL 32   /* a batch this small waits a moment for company... */
#define DELAY_US    200  /* ...this long: a WAL sync costs far more CPU than waiting */

struct audit_committer {
    struct audit_log *log;
    void (*after_batch)(void *ctx);
    void *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct audit_ticket *head, *tail;
    bool sleeping, stop;
    struct audit_leaf leaves[BATCH_MAX];
    _Atomic uint64_t batches, committed, failed, largest;
    char last_error[256]; /* under lock */
};

void audit_committer_submit(struct audit_committer *c, struct audit_ticket *t)
{
    t->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
    bool wake = c->sleeping;
    pthread_mutex_unlock(&c->lock);
    if (wake)
        pthread_cond_signal(&c->ready);
}

static size_t queued(const struct audit_committer *c)
{
    size_t n = 0;
    for (const struct audit_ticket *t = c->head; t && n < BATCH_SMALL; t = t->next)
        n++;
    return n;
}

/* Waits for tickets; takes up to BATCH_MAX of them.  NULL: stopped and empty.
 * A small batch waits DELAY_US for more: under load that turns many syncs
 * into one, and when one request comes alone it costs it a fraction of the
 * sync it waits for anyway. */
static struct audit_ticket *take(struct audit_committer *c, size_t *n)
{
    pthread_mutex_lock(&c->lock);
    while (!c->head && !c->stop) {
        c->sleeping = true;
        pthread_cond_wait(&c->ready, &c->lock);
        c->sleeping = false;
    }
    if (!c->stop && queued(c) < BATCH_SMALL) {
        pthread_mutex_unlock(&c->lock);
        struct timespec pause = {0, DELAY_US * 1000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&c->lock);
    }
    struct audit_ticket *first = c->head, *last = NULL;
    *n = 0;
    for (struct audit_ticket *t = first; t && *n < BATCH_MAX; t = t->next) {
        last = t;
        (*n)++;
    }
    if (last) {
        c->head = last->next;
        if (!c->head)
            c->tail = NULL;
        last->next = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return first;
}

static void record(struct audit_committer *c, size_t n, int rc)
{
    atomic_fetch_add(&c->batches, 1);
    atomic_fetch_add(rc == ST_OK ? &c->committed : &c->failed, n);
    uint64_t big = atomic_load(&c->largest);
    while (n > big && !atomic_compare_exchange_weak(&c->largest, &big, n))
        ;
}

static void commit(struct audit_committer *c, struct audit_ticket *list, size_t n)
{
    size_t i = 0;
    for (struct audit_ticket *t = list; t; t = t->next, i++)
        c->leaves[i] = (struct audit_leaf){t->leaf, t->len, t->has_subject ? t->subject : NULL};
    uint64_t first = 0;
    struct st_err err;
    int rc = audit_log_append(c->log, c->leaves, n, &first, &err);
    if (rc != ST_OK) {
        pthread_mutex_lock(&c->lock);
        snprintf(c->last_error, sizeof c->last_error, "%s", err.msg);
        pthread_mutex_unlock(&c->lock);
    }
    record(c, n, rc);
    i = 0;
    for (struct audit_ticket *t = list, *next; t; t = next, i++) {
        next = t->next; /* done() may free or reuse the ticket */
        t->done(t, rc, first + i);
    }
    if (c->after_batch)
        c->after_batch(c->ctx);
}

static void *committer_main(void *arg)
{
    struct audit_committer *c = arg;
    for (;;) {
        size_t n;
        struct audit_ticket *list = take(c, &n);
        if (!list)
            return NULL;
        commit(c, list, n);
    }
}

int audit_committer_start(struct audit_log *log, void (*after_batch)(void *ctx), void *ctx,
                          struct audit_committer **out, struct st_err *err)
{
    struct audit_committer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return ST_NOMEM;
    }
    c->log = log;
    c->after_batch = after_batch;
    c->ctx = ctx;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->ready, NULL);
    int e = pthread_create(&c->thread, NULL, committer_main, c);
    if (e != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot start the audit committer: %s", strerror(e));
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->ready);
        free(c);
        return ST_IO;
    }
    pthread_setname_np(c->thread, "hudumad-audit");
    *out = c;
    return ST_OK;
}

void audit_committer_stop(struct audit_committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_signal(&c->ready);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->ready);
    free(c);
}

void audit_committer_stats(struct audit_committer *c, struct audit_commit_stats *out)
{
    out->batches = atomic_load(&c->batches);
    out->leaves = atomic_load(&c->committed);
    out->failed = atomic_load(&c->failed);
    out->largest_batch = atomic_load(&c->largest);
    pthread_mutex_lock(&c->lock);
    snprintf(out->last_error, sizeof out->last_error, "%s", c->last_error);
    pthread_mutex_unlock(&c->lock);
}
