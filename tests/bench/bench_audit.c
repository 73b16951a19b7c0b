/*
 * tests/bench/bench_audit.c - durable audit leaves per second: the
 * journals and the fold of storage/audit_journal.c and audit_fold.c (the
 * daemon's path) against one synced write per leaf, in the same run
 * (docs/BENCHMARKS.md, "The audit log").
 *
 *   bench_audit DIR [--threads T] [--inflight K] [--seconds S]
 *
 * DIR must not exist: a fresh audit log is made there (its own RocksDB, WAL
 * synced at every write, as hudumad opens it) and removed at the end.  Leaves are
 * 260-byte lines shaped like a verification's, each with a subject.
 *   single  one thread appends one leaf per WriteBatch (audit_log_append),
 *           each synced before the next: what a log without group commit pays
 *   journal T threads each write K leaves at a time to a journal of their own
 *           (one synced write each, as a ring of hudumad does), and the fold
 *           appends what they wrote to the tree behind them; the daemon's path
 * Each mode runs S seconds (default 5).  At the end the tree must hold every
 * leaf appended, and its root must be the one recomputed from the leaves read
 * back; otherwise exit status 1.  One line per mode on stdout:
 *
 *   RESULT mode=journal threads=T inflight=K leaves=N seconds=S leaves_per_sec=R
 *          batches=B mean_batch=M p50_us=X p99_us=Y
 *
 * (p50 and p99: from a leaf's queuing to the end of its write, i.e. to durable.)
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

/* ---- the journals and the fold: the daemon's path ----------------------------------------- */

static uint32_t *lat_us; /* every leaf's latency to durable, of every writer */

struct writer {
    pthread_t tid;
    struct audit_folder *fold;
    struct audit_journal *j;
    unsigned k;
    uint64_t base, made, writes;
    double deadline;
    int failed;
    uint32_t *lat;
    size_t nlat, lat_cap;
    char error[256];
};

/* K leaves queued, one synced write, the chunk to the fold; again until the deadline. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char leaf[AUDIT_LEAF_MAX];
    uint8_t subject[AUDIT_SUBJECT_LEN];
    while (!w->failed && now_s() < w->deadline) {
        double sent = now_s();
        for (unsigned i = 0; i < w->k; i++) {
            size_t len = make_leaf(w->base + w->made + i, leaf, sizeof leaf);
            memset(subject, (int)((w->made + i) & 0xff), AUDIT_SUBJECT_LEN);
            if (audit_journal_add(w->j, leaf, len, with_subject ? subject : NULL) != ST_OK)
                w->failed = 1;
        }
        struct st_err err;
        while (!w->failed && audit_journal_queued(w->j)) {
            struct audit_chunk *c = NULL;
            int rc = audit_journal_write_sync(w->j, &c, &err);
            if (rc == ST_BUSY) /* full: the fold syncs, the journal gets room */
                rc = audit_folder_settle(w->fold, true, &err);
            else if (rc == ST_OK)
                w->writes++;
            if (rc != ST_OK) {
                w->failed = 1;
                snprintf(w->error, sizeof w->error, "%s", err.msg);
            }
            if (c)
                audit_folder_push(w->fold, c);
        }
        uint32_t us = (uint32_t)((now_s() - sent) * 1e6);
        for (unsigned i = 0; i < w->k && w->nlat < w->lat_cap; i++)
            w->lat[w->nlat++] = us;
        w->made += w->k;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t run_journals(struct audit_log *log, const char *dir, unsigned threads, unsigned k,
                             double seconds, uint64_t base)
{
    struct audit_folder *fold;
    struct st_err err;
    if (audit_folder_start(log, NULL, NULL, &fold, &err) != ST_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        exit(1);
    }
    struct writer *w = calloc(threads, sizeof *w);
    for (unsigned i = 0; i < threads; i++) { /* made before the clock starts */
        char path[600];
        snprintf(path, sizeof path, "%s/journal-%u", dir, i);
        struct audit_journal_pos at = {0, 0};
        if (audit_journal_open(path, i, (uint64_t)AUDIT_JOURNAL_MB << 20, &at, &w[i].j, &err) !=
            ST_OK) {
            fprintf(stderr, "bench_audit: %s\n", err.msg);
            exit(1);
        }
        audit_folder_attach(fold, w[i].j);
    }
    double t0 = now_s(), c0 = cpu_s();
    for (unsigned i = 0; i < threads; i++) {
        w[i].fold = fold;
        w[i].k = k;
        w[i].base = base + ((uint64_t)i << 40);
        w[i].deadline = t0 + seconds;
        w[i].lat_cap = LAT_MAX / threads;
        w[i].lat = calloc(w[i].lat_cap, sizeof *w[i].lat);
        pthread_create(&w[i].tid, NULL, writer_main, &w[i]);
    }
    uint64_t made = 0, writes = 0;
    size_t n = 0;
    int failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        made += w[i].made;
        writes += w[i].writes;
        if (w[i].failed)
            fprintf(stderr, "bench_audit: writer %u: %s\n", i, w[i].error), failed = 1;
        memcpy(lat_us + n, w[i].lat, w[i].nlat * sizeof *lat_us);
        n += w[i].nlat;
        free(w[i].lat);
    }
    double s = now_s() - t0;
    if (audit_folder_settle(fold, true, &err) != ST_OK)
        fprintf(stderr, "bench_audit: %s\n", err.msg), failed = 1;
    double cpu = cpu_s() - c0; /* the fold's share included */
    struct audit_fold_stats st;
    audit_folder_stats(fold, &st);
    audit_folder_stop(fold, NULL);
    for (unsigned i = 0; i < threads; i++)
        audit_journal_close(w[i].j);
    free(w);
    if (failed || st.leaves != made) {
        fprintf(stderr, "bench_audit: %llu leaves made, %llu folded (%s)\n",
                (unsigned long long)made, (unsigned long long)st.leaves, st.last_error);
        exit(1);
    }
    qsort(lat_us, n, sizeof *lat_us, cmp_u32);
    printf("RESULT mode=journal threads=%u inflight=%u leaves=%llu seconds=%.2f "
           "leaves_per_sec=%.0f batches=%llu mean_batch=%.1f p50_us=%u p99_us=%u "
           "cpu_us_per_leaf=%.2f\n",
           threads, k, (unsigned long long)made, s, (double)made / s, (unsigned long long)writes,
           writes ? (double)made / (double)writes : 0, n ? lat_us[n / 2] : 0,
           n ? lat_us[n * 99 / 100] : 0, made ? cpu * 1e6 / (double)made : 0);
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
    if (!dir || threads < 1 || threads > AUDIT_JOURNALS_MAX || k < 1 || k > 4096 || seconds <= 0 ||
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
    char db[600];
    snprintf(db, sizeof db, "%s/db", dir);
    if (audit_log_open(db, true, true, &log, &err) != ST_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        return 1;
    }
    lat_us = malloc(LAT_MAX * sizeof *lat_us);
    uint64_t total = run_single(log, seconds);
    total += run_journals(log, dir, threads, k, seconds, total);
    check_tree(log, total);
    audit_log_close(log);
    free(lat_us);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
