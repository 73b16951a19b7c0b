/*
 * storage/audit_fold.c - the fold: the leaves the journals made durable,
 * appended to the log's Merkle tree behind the answers, many at a time.
 *
 * Writers (hudumad's rings) push each chunk their journal wrote; the thread
 * takes everything queued, waiting FOLD_DELAY_MS for company first unless
 * someone waits on it, and appends it in one unsynced WriteBatch that also
 * records, for each journal, how far its records are now in the tree (the
 * mark "journal.<index>": where reading must resume after a crash).  At
 * most every SYNC_MS, and whenever asked (audit_folder_settle with `synced`:
 * before a checkpoint is signed, before the tree is read for an auditor), it
 * syncs the log (when it folded anything since the last sync: a settle of an
 * idle log costs no fsync); only then may each journal reuse the space of what was
 * folded, since a crash before the sync rolls the tree back to the last sync
 * and the journal must still hold what followed.
 *
 * Progress is counted in chunks, `pushed` so far and `folded` into the
 * tree; a settle that wants a sync also takes a ticket (`sync_asked`).  The
 * thread syncs while tickets are outstanding, and a sync answers every
 * ticket taken before its turn began (`sync_done`): it covers all that turn
 * and the turns before it folded.
 *
 * A failed append leaves the chunks queued and is tried again after
 * RETRY_MS: the leaves are durable in their journals whatever happens, so
 * nothing is lost; the tree only lags, and a settle reports the failure.
 */
#include "storage/audit_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FOLD_DELAY_MS 10  /* gather this long before a fold nobody waits for */
#define SYNC_MS       200 /* sync at least this often while folding */
#define RETRY_MS      100 /* after a failed append */

struct journal_state {
    struct audit_journal *journal;   /* attached: reclaimed after each sync */
    bool seen;                       /* a chunk of it was folded */
    struct audit_journal_pos folded; /* its position after the last fold */
};

struct audit_folder {
    struct audit_log *log;
    void (*after_sync)(void *ctx);
    void *ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready, settled;
    struct audit_chunk *head, *tail;
    bool sleeping, stop;
    uint64_t pushed, folded;        /* chunks: pushed, and in the tree */
    uint64_t sync_asked, sync_done; /* settle tickets for a sync: taken, answered */
    unsigned waiting;               /* settles waiting: fold what is queued at once */
    int last_rc;                    /* of the last append or sync */
    struct audit_fold_stats stats;
    struct journal_state journals[AUDIT_JOURNALS_MAX];
    struct audit_leaf *leaves; /* the fold's list, kept between folds */
    size_t leaves_cap;
    struct timespec last_sync;
    bool unsynced; /* the thread's own: it folded since its last sync */
};

static uint64_t ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
}

static void sleep_ms(unsigned ms)
{
    struct timespec pause = {0, (long)ms * 1000000L};
    nanosleep(&pause, NULL);
}

/* ---- marks -------------------------------------------------------------------------- */

void audit_journal_mark_name(unsigned index, char out[32])
{
    snprintf(out, 32, "journal.%u", index);
}

void audit_journal_mark_put(const struct audit_journal_pos *at, unsigned char out[16])
{
    store_be64_put(at->offset, out);
    store_be64_put(at->seq, out + 8);
}

int audit_journal_mark_get(const void *val, size_t len, struct audit_journal_pos *at)
{
    if (len != 16)
        return ST_CORRUPT;
    at->offset = store_be64_get(val);
    at->seq = store_be64_get((const unsigned char *)val + 8);
    return ST_OK;
}

int audit_journal_mark(struct audit_log *log, unsigned index, struct audit_journal_pos *at,
                       struct st_err *err)
{
    char name[32], *val = NULL;
    size_t len = 0;
    audit_journal_mark_name(index, name);
    *at = (struct audit_journal_pos){0, 0};
    int rc = audit_log_meta_get(log, name, &val, &len, err);
    if (rc == ST_OK && val && audit_journal_mark_get(val, len, at) != ST_OK) {
        snprintf(err->msg, sizeof err->msg, "the mark %s is malformed", name);
        rc = ST_CORRUPT;
    }
    free(val);
    return rc;
}

/* ---- after a crash: what a journal holds beyond its mark ----------------------------------- */

struct refold {
    struct audit_log *log;
    uint64_t *leaves;
    struct st_err *err;
};

static int refold_chunk(void *ctx, struct audit_chunk *c)
{
    struct refold *rf = ctx;
    char name[32];
    unsigned char val[16];
    audit_journal_mark_name(c->journal, name);
    audit_journal_mark_put(&c->end, val);
    struct audit_mark m = {name, val, sizeof val};
    uint64_t first;
    int rc = audit_log_fold(rf->log, c->leaves, c->n, &m, 1, &first, rf->err);
    if (rc == ST_OK)
        *rf->leaves += c->n;
    return rc;
}

int audit_journal_recover(struct audit_log *log, const char *path, unsigned index, uint64_t *leaves,
                          struct st_err *err)
{
    struct audit_journal_pos at;
    int rc = audit_journal_mark(log, index, &at, err);
    struct refold rf = {log, leaves, err};
    if (rc == ST_OK)
        rc = audit_journal_scan(path, index, &at, refold_chunk, &rf, err);
    return rc;
}

/* ---- the thread ------------------------------------------------------------------------ */

/* What one turn of the thread took: its chunks, and what to answer after. */
struct turn {
    struct audit_chunk *list;
    uint64_t taken;   /* pushed when the chunks were taken */
    uint64_t tickets; /* sync tickets taken by then */
    bool sync;        /* a ticket is outstanding, or the thread stops */
};

/* Fold (and sync) without waiting for company: the thread stops, a sync is
 * asked for, or a settle waits and there is something to fold. */
static bool hurried(const struct audit_folder *f)
{
    return f->stop || f->sync_asked > f->sync_done || (f->waiting > 0 && f->head);
}

/* Waits for chunks (or a settle, or the stop); takes every queued one. */
static void take(struct audit_folder *f, struct turn *t)
{
    pthread_mutex_lock(&f->lock);
    while (!f->head && !hurried(f)) {
        f->sleeping = true;
        pthread_cond_wait(&f->ready, &f->lock);
        f->sleeping = false;
    }
    if (f->head && !hurried(f)) {
        pthread_mutex_unlock(&f->lock);
        sleep_ms(FOLD_DELAY_MS);
        pthread_mutex_lock(&f->lock);
    }
    t->list = f->head;
    f->head = f->tail = NULL;
    t->taken = f->pushed;
    t->tickets = f->sync_asked;
    t->sync = f->stop || f->sync_asked > f->sync_done;
    pthread_mutex_unlock(&f->lock);
}

static int fold(struct audit_folder *f, struct audit_chunk *list, struct st_err *err)
{
    size_t n = 0;
    for (struct audit_chunk *c = list; c; c = c->next)
        n += c->n;
    if (n > f->leaves_cap) {
        struct audit_leaf *grown = realloc(f->leaves, n * sizeof *grown);
        if (!grown) {
            snprintf(err->msg, sizeof err->msg, "out of memory");
            return ST_NOMEM;
        }
        f->leaves = grown;
        f->leaves_cap = n;
    }
    struct journal_state *js = f->journals;
    size_t i = 0, nmarks = 0;
    struct audit_mark marks[AUDIT_JOURNALS_MAX] = {{0}};
    char names[AUDIT_JOURNALS_MAX][32];
    unsigned char vals[AUDIT_JOURNALS_MAX][16];
    unsigned last[AUDIT_JOURNALS_MAX]; /* per journal: its last chunk's end, in order */
    struct audit_journal_pos ends[AUDIT_JOURNALS_MAX];
    bool marked[AUDIT_JOURNALS_MAX] = {false};
    for (struct audit_chunk *c = list; c; c = c->next) {
        memcpy(f->leaves + i, c->leaves, c->n * sizeof c->leaves[0]);
        i += c->n;
        unsigned j = c->journal % AUDIT_JOURNALS_MAX;
        if (!marked[j]) {
            marked[j] = true;
            last[nmarks++] = j;
        }
        ends[j] = c->end;
    }
    for (size_t k = 0; k < nmarks; k++) {
        unsigned j = last[k];
        audit_journal_mark_name(j, names[k]);
        audit_journal_mark_put(&ends[j], vals[k]);
        marks[k] = (struct audit_mark){names[k], vals[k], sizeof vals[k]};
    }
    uint64_t first;
    int rc = audit_log_fold(f->log, f->leaves, n, marks, nmarks, &first, err);
    if (rc == ST_OK)
        for (size_t k = 0; k < nmarks; k++) {
            js[last[k]].folded = ends[last[k]];
            js[last[k]].seen = true;
        }
    return rc;
}

static int sync_and_reclaim(struct audit_folder *f, struct st_err *err)
{
    int rc = audit_log_sync(f->log, err);
    if (rc != ST_OK)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &f->last_sync);
    pthread_mutex_lock(&f->lock);
    f->stats.syncs++;
    for (unsigned j = 0; j < AUDIT_JOURNALS_MAX; j++)
        if (f->journals[j].seen && f->journals[j].journal)
            audit_journal_reclaim(f->journals[j].journal, f->journals[j].folded.offset);
    pthread_mutex_unlock(&f->lock);
    if (f->after_sync)
        f->after_sync(f->ctx);
    return ST_OK;
}

/* The outcome of a turn: rc, and whether the fold (and the sync) happened. */
static void record(struct audit_folder *f, int rc, const struct st_err *err, const struct turn *t,
                   bool folded, bool synced)
{
    pthread_mutex_lock(&f->lock);
    f->last_rc = rc;
    if (rc != ST_OK) {
        f->stats.failed++;
        snprintf(f->stats.last_error, sizeof f->stats.last_error, "%s", err->msg);
    }
    if (folded && t->taken > f->folded)
        f->folded = t->taken;
    if (synced && t->tickets > f->sync_done) /* a sync covers everything folded before it */
        f->sync_done = t->tickets;
    pthread_cond_broadcast(&f->settled);
    pthread_mutex_unlock(&f->lock);
}

/* Puts chunks that could not be folded back at the head of the queue. */
static void requeue(struct audit_folder *f, struct audit_chunk *list)
{
    struct audit_chunk *end = list;
    while (end->next)
        end = end->next;
    pthread_mutex_lock(&f->lock);
    end->next = f->head;
    f->head = list;
    if (!f->tail)
        f->tail = end;
    pthread_mutex_unlock(&f->lock);
}

static void *folder_main(void *arg)
{
    struct audit_folder *f = arg;
    for (;;) {
        struct turn t;
        take(f, &t);
        struct audit_chunk *list = t.list;
        struct st_err err = {0};
        int rc = list ? fold(f, list, &err) : ST_OK;
        size_t n = 0, chunks = 0;
        for (struct audit_chunk *c = list; c; c = c->next)
            n += c->n, chunks++;
        if (rc != ST_OK) {
            record(f, rc, &err, &t, false, false);
            requeue(f, list);
            sleep_ms(RETRY_MS);
            continue;
        }
        pthread_mutex_lock(&f->lock);
        f->stats.chunks += chunks;
        f->stats.leaves += n;
        f->stats.folds += list ? 1 : 0;
        bool stop = f->stop && !f->head;
        pthread_mutex_unlock(&f->lock);
        while (list) {
            struct audit_chunk *next = list->next;
            audit_chunk_free(list);
            list = next;
        }
        f->unsynced |= t.list != NULL;
        bool sync = t.sync || ms_since(&f->last_sync) >= SYNC_MS;
        if (sync && f->unsynced) /* else there is nothing to sync: an idle log costs no fsync */
            rc = sync_and_reclaim(f, &err);
        if (sync && rc == ST_OK)
            f->unsynced = false;
        record(f, rc, &err, &t, true, sync && rc == ST_OK);
        if (stop && rc == ST_OK)
            return NULL;
        if (rc != ST_OK)
            sleep_ms(RETRY_MS);
    }
}

/* ---- the rest ------------------------------------------------------------------------------ */

int audit_folder_start(struct audit_log *log, void (*after_sync)(void *ctx), void *ctx,
                       struct audit_folder **out, struct st_err *err)
{
    struct audit_folder *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return ST_NOMEM;
    }
    f->log = log;
    f->after_sync = after_sync;
    f->ctx = ctx;
    clock_gettime(CLOCK_MONOTONIC, &f->last_sync);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->ready, NULL);
    pthread_cond_init(&f->settled, NULL);
    int e = pthread_create(&f->thread, NULL, folder_main, f);
    if (e != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot start the audit fold: %s", strerror(e));
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->ready);
        pthread_cond_destroy(&f->settled);
        free(f);
        return ST_IO;
    }
    pthread_setname_np(f->thread, "hudumad-fold");
    *out = f;
    return ST_OK;
}

void audit_folder_attach(struct audit_folder *f, struct audit_journal *j)
{
    pthread_mutex_lock(&f->lock);
    f->journals[audit_journal_index(j) % AUDIT_JOURNALS_MAX].journal = j;
    pthread_mutex_unlock(&f->lock);
}

void audit_folder_push(struct audit_folder *f, struct audit_chunk *c)
{
    c->next = NULL;
    pthread_mutex_lock(&f->lock);
    if (f->tail)
        f->tail->next = c;
    else
        f->head = c;
    f->tail = c;
    f->pushed++;
    bool wake = f->sleeping;
    pthread_mutex_unlock(&f->lock);
    if (wake)
        pthread_cond_signal(&f->ready);
}

static bool settled(const struct audit_folder *f, uint64_t target, uint64_t ticket)
{
    return f->folded >= target && f->sync_done >= ticket;
}

int audit_folder_settle(struct audit_folder *f, bool synced, struct st_err *err)
{
    pthread_mutex_lock(&f->lock);
    uint64_t target = f->pushed;
    uint64_t ticket = synced ? ++f->sync_asked : 0;
    f->waiting++;
    pthread_cond_signal(&f->ready);
    while (!settled(f, target, ticket) && f->last_rc == ST_OK)
        pthread_cond_wait(&f->settled, &f->lock);
    f->waiting--;
    int rc = ST_OK;
    if (!settled(f, target, ticket)) {
        rc = f->last_rc;
        snprintf(err->msg, sizeof err->msg, "%s", f->stats.last_error);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void audit_folder_stop(struct audit_folder *f, struct audit_fold_stats *final)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    pthread_cond_signal(&f->ready);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    if (final)
        *final = f->stats;
    while (f->head) { /* only when the last folds failed: the journals keep them */
        struct audit_chunk *next = f->head->next;
        audit_chunk_free(f->head);
        f->head = next;
    }
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->ready);
    pthread_cond_destroy(&f->settled);
    free(f->leaves);
    free(f);
}

void audit_folder_stats(struct audit_folder *f, struct audit_fold_stats *out)
{
    pthread_mutex_lock(&f->lock);
    *out = f->stats;
    pthread_mutex_unlock(&f->lock);
}
