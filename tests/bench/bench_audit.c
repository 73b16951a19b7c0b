/*
 * tests/bench/bench_audit.c - durable audit leaves per second: the group
 * committer of storage/audit_commit.c against one synced write per leaf, in
 * the same run (docs/BENCHMARKS.md, "The audit log").
 *
 *   bench_audit DIR [--threads T] [--inflight K] [--seconds S]
 *
 * DIR must not exist: a fresh audit log is made there (its own RocksDB, WAL
 * synced at every write, as hudumad opens it) and removed at the end.  Leaves are
 * 260-byte lines shaped like a verification's, each with a subject.
 *   single  one thread appends one leaf per WriteBatch (audit_log_append),
 *           each synced before the next: what a log without group commit pays
 *   group   T threads each keep K leaves submitted to the committer (closed
 *           loop: a leaf that is durable is replaced by the next), which
 *           writes every leaf that arrived during the previous sync in one
 *           synced batch; the daemon's path
 * Each mode runs S seconds (default 5).  At the end the tree must hold every
 * leaf appended, and its root must be the one recomputed from the leaves read
 * back; otherwise exit status 1.  One line per mode on stdout:
 *
 *   RESULT mode=group threads=T inflight=K leaves=N seconds=S leaves_per_sec=R
 *          batches=B mean_batch=M p50_us=X p99_us=Y
 *
 * (p50 and p99: from a leaf's submission to its done(), i.e. to durable.)
 */
#include "storage/storage.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define LAT_MAX (1u << 22)

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static bool with_subject = true;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t make_leaf(uint64_t n, char *out, size_t outlen)
{
    int len =
        snprintf(out, outlen,
                 "{\"v\":1,\"time\":\"2026-11-26T16:00:20.356Z\",\"agency\":\"bench-verifier\","
                 "\"op\":\"verify\",\"purpose\":\"benchmark of the audit log\","
                 "\"subject\":\"%032llx\",\"result\":200,\"txid\":\"%032llx\"}",
                 (unsigned long long)(n * 2654435761u), (unsigned long long)n);
    return (size_t)len;
}

/* ---- one leaf per sync ---------------------------------------------------------------- */

static uint64_t run_single(struct audit_log *log, double seconds)
{
    uint64_t n = 0, first;
    struct st_err err;
    char leaf[AUDIT_LEAF_MAX];
    uint8_t subject[AUDIT_SUBJECT_LEN] = {1};
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        struct audit_leaf l = {leaf, make_leaf(n, leaf, sizeof leaf), subject};
        if (audit_log_append(log, &l, 1, &first, &err) != ST_OK) {
            fprintf(stderr, "bench_audit: %s\n", err.msg);
            exit(1);
        }
        n++;
    }
    double s = now_s() - t0;
    printf("RESULT mode=single threads=1 inflight=1 leaves=%llu seconds=%.2f leaves_per_sec=%.0f "
           "batches=%llu mean_batch=1.0\n",
           (unsigned long long)n, s, (double)n / s, (unsigned long long)n);
    return n;
}

/* ---- group commit ------------------------------------------------------------------------- */

struct slot {
    struct audit_ticket t;
    struct submitter *owner;
    double sent;
};

struct submitter {
    pthread_t tid;
    struct audit_committer *c;
    struct slot *slots;
    unsigned k;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct slot **ready; /* done, to resubmit */
    unsigned nready;
    unsigned outstanding;
    uint64_t base, made;
    double deadline;
    int failed;
};

static _Atomic uint64_t lat_n;
static uint32_t *lat_us;

static void done(struct audit_ticket *t, int rc, uint64_t index)
{
    (void)index;
    struct slot *s = (struct slot *)t;
    struct submitter *w = s->owner;
    uint64_t i = atomic_fetch_add(&lat_n, 1);
    if (i < LAT_MAX)
        lat_us[i] = (uint32_t)((now_s() - s->sent) * 1e6);
    pthread_mutex_lock(&w->lock);
    w->failed |= rc != ST_OK;
    w->ready[w->nready++] = s;
    w->outstanding--;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void submit(struct submitter *w, struct slot *s)
{
    s->t.done = done;
    s->t.len = make_leaf(w->base + w->made++, s->t.leaf, sizeof s->t.leaf);
    s->t.has_subject = with_subject;
    memset(s->t.subject, (int)(w->made & 0xff), AUDIT_SUBJECT_LEN);
    s->sent = now_s();
    audit_committer_submit(w->c, &s->t);
}

static void *submitter_main(void *arg)
{
    struct submitter *w = arg;
    pthread_mutex_lock(&w->lock);
    for (unsigned i = 0; i < w->k; i++) {
        w->outstanding++;
        pthread_mutex_unlock(&w->lock);
        submit(w, &w->slots[i]);
        pthread_mutex_lock(&w->lock);
    }
    while (w->outstanding > 0 || w->nready > 0) {
        while (w->nready == 0)
            pthread_cond_wait(&w->cond, &w->lock);
        struct slot *s = w->ready[--w->nready];
        if (now_s() >= w->deadline)
            continue;
        w->outstanding++;
        pthread_mutex_unlock(&w->lock);
        submit(w, s);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t run_group(struct audit_log *log, unsigned threads, unsigned k, double seconds,
                          uint64_t base)
{
    struct audit_committer *c;
    struct st_err err;
    if (audit_committer_start(log, NULL, NULL, &c, &err) != ST_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        exit(1);
    }
    struct submitter *w = calloc(threads, sizeof *w);
    double t0 = now_s(), c0 = cpu_s();
    for (unsigned i = 0; i < threads; i++) {
        w[i].c = c;
        w[i].k = k;
        w[i].slots = calloc(k, sizeof *w[i].slots);
        w[i].ready = calloc(k, sizeof *w[i].ready);
        w[i].base = base + ((uint64_t)i << 40);
        w[i].deadline = t0 + seconds;
        for (unsigned j = 0; j < k; j++)
            w[i].slots[j].owner = &w[i];
        pthread_mutex_init(&w[i].lock, NULL);
        pthread_cond_init(&w[i].cond, NULL);
        pthread_create(&w[i].tid, NULL, submitter_main, &w[i]);
    }
    uint64_t made = 0;
    int failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        made += w[i].made;
        failed |= w[i].failed;
        free(w[i].slots);
        free(w[i].ready);
    }
    double s = now_s() - t0, cpu = cpu_s() - c0;
    struct audit_commit_stats st;
    audit_committer_stats(c, &st);
    audit_committer_stop(c);
    free(w);
    if (failed || st.leaves != made) {
        fprintf(stderr, "bench_audit: %llu leaves made, %llu committed (%s)\n",
                (unsigned long long)made, (unsigned long long)st.leaves, st.last_error);
        exit(1);
    }
    uint64_t n = atomic_load(&lat_n) < LAT_MAX ? atomic_load(&lat_n) : LAT_MAX;
    qsort(lat_us, n, sizeof *lat_us, cmp_u32);
    printf("RESULT mode=group threads=%u inflight=%u leaves=%llu seconds=%.2f leaves_per_sec=%.0f "
           "batches=%llu mean_batch=%.1f p50_us=%u p99_us=%u cpu_us_per_leaf=%.2f\n",
           threads, k, (unsigned long long)made, s, (double)made / s,
           (unsigned long long)st.batches, st.batches ? (double)made / (double)st.batches : 0,
           n ? lat_us[n / 2] : 0, n ? lat_us[n * 99 / 100] : 0,
           made ? cpu * 1e6 / (double)made : 0);
    return made;
}

/* ---- the end: the tree holds every leaf, and its root is the leaves' ------------------------- */

struct recompute {
    struct audit_range r;
    uint64_t n;
};

static int push_leaf(void *ctx, uint64_t index, const char *data, size_t len)
{
    struct recompute *rc = ctx;
    if (index != rc->n)
        return 1;
    uint8_t h[AUDIT_HASH_LEN];
    audit_leaf_hash(data, len, h);
    audit_range_push(&rc->r, h);
    rc->n++;
    return 0;
}

static void check_tree(struct audit_log *log, uint64_t want)
{
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN], again[AUDIT_HASH_LEN];
    audit_log_head(log, &size, root);
    struct recompute rc;
    audit_range_init(&rc.r);
    rc.n = 0;
    struct st_err err;
    if (audit_log_scan(log, 0, size, push_leaf, &rc, &err) != ST_OK || rc.n != size ||
        size != want) {
        fprintf(stderr, "bench_audit: the tree holds %llu leaves, %llu read back, %llu appended\n",
                (unsigned long long)size, (unsigned long long)rc.n, (unsigned long long)want);
        exit(1);
    }
    audit_range_root(&rc.r, again);
    if (memcmp(root, again, AUDIT_HASH_LEN) != 0) {
        fprintf(stderr, "bench_audit: the root differs from the leaves' root\n");
        exit(1);
    }
    printf("tree=%llu root=verified\n", (unsigned long long)size);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    unsigned threads = 4, k = 64;
    double seconds = 5;
    const char *dir = argc > 1 ? argv[1] : NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--inflight") == 0)
            k = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--subjects") == 0)
            with_subject = strcmp(argv[i + 1], "no") != 0;
        else
            dir = NULL;
    }
    if (!dir || threads < 1 || threads > 256 || k < 1 || k > 4096 || seconds <= 0 ||
        seconds > 600) {
        fprintf(stderr, "usage: bench_audit DIR [--threads T] [--inflight K] [--seconds S]\n");
        return 2;
    }
    if (mkdir(dir, 0700) != 0) {
        fprintf(stderr, "bench_audit: %s: %s (it must not exist)\n", dir, strerror(errno));
        return 2;
    }
    struct audit_log *log;
    struct st_err err;
    if (audit_log_open(dir, true, true, &log, &err) != ST_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        return 1;
    }
    lat_us = malloc(LAT_MAX * sizeof *lat_us);
    uint64_t total = run_single(log, seconds);
    total += run_group(log, threads, k, seconds, total);
    check_tree(log, total);
    audit_log_close(log);
    free(lat_us);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
