/*
 * tests/bench/bench_reads.c - random point reads of person records from an
 * existing register, the read figure of docs/BENCHMARKS.md.
 *
 *   bench_reads DIR ACKS [--threads T] [--reads N] [--seed S] [--max-seconds S]
 *               [--mode person|unseal|raw]
 *
 * DIR is a register made by `huduma init` and filled by `huduma import`; ACKS
 * is that import's `--acks` output ("<line>\t<enrolment id>\t<outcome>\t<hn>"),
 * from which every assigned Huduma Number is taken ("-": stdin).  T threads
 * (default 2) then read N records in all (default 1000000), each thread
 * drawing numbers uniformly at random from its own seeded generator, and stop
 * early when the time limit (default 300 s) passes.  The register is opened
 * as the appliance opens it (synced WAL, its block cache and filters), and
 * JSON memory is wiped when freed, as the `huduma` tool does.
 *
 * Modes say how much of a read is timed:
 *   person  reg_get(): RocksDB point read, AES-256-GCM open, JSON decode into
 *           struct person (the cost of reading a person record; the default)
 *   unseal  RocksDB point read and AES-256-GCM open, no decode
 *   raw     the RocksDB point read alone, through the register's own options
 *
 * Every read must find its record (and, in person mode, the record must carry
 * the number it was read under); any failure ends the run with exit status 1.
 * The last line on stdout is machine-readable (one line):
 *
 *   reads_per_sec=NNN threads=T count=N mode=M seconds=S p50_us=X p99_us=Y
 *   cpu_us_per_read=C
 *
 * p50 and p99 are percentiles of the time of one read; C is the reading
 * threads' CPU time per read, the cost of a read whatever else the machine is
 * running.  Before it come "people=N" (the numbers found in ACKS) and, in the
 * unseal and raw modes, "value_bytes_mean=B" (mean size of the sealed records
 * read).
 */
#include "appliance/register.h"
#include "keys/keys.h"
#include "storage/storage.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum mode { MODE_PERSON, MODE_UNSEAL, MODE_RAW };

static const char *const mode_names[] = {"person", "unseal", "raw"};

struct bench {
    enum mode mode;
    struct reg *reg;    /* person mode */
    struct store *st;   /* unseal and raw modes */
    struct keyring *kr; /* unseal mode */
    struct keyholder *keys;
    char (*hns)[HN_LEN + 1];
    size_t nhns;
    double deadline;
    _Atomic int failed;
};

struct worker {
    struct bench *b;
    pthread_t tid;
    uint64_t seed;
    size_t quota;
    size_t done;
    uint64_t value_bytes; /* sealed bytes read (unseal and raw modes) */
    double cpu_s;         /* CPU time of this thread while reading */
    uint32_t *lat_ns;     /* one per read */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* JSON trees hold personal data: wipe every block jansson frees (as `huduma` does). */
static void wiping_free(void *p)
{
    if (p) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

static void fail_read(struct bench *b, const char *hn, const char *what)
{
    if (atomic_exchange(&b->failed, 1) == 0)
        fprintf(stderr, "bench_reads: reading %s: %s\n", hn, what);
}

static int read_one(struct bench *b, const char *hn, struct person *p, uint64_t *value_bytes)
{
    if (b->mode == MODE_PERSON) {
        struct reg_result res = {0};
        if (reg_get(b->reg, hn, p, &res) != REG_OK) {
            fail_read(b, hn, res.msg);
            return -1;
        }
        if (strcmp(p->hn, hn) != 0) {
            fail_read(b, hn, "the record carries another number");
            return -1;
        }
        return 0;
    }
    char *val = NULL, *text = NULL;
    size_t vlen = 0, tlen = 0;
    struct st_err err;
    int st = store_get(b->st, CF_PERSONS, hn, HN_LEN, &val, &vlen, &err);
    if (st != ST_OK || !val) {
        fail_read(b, hn, st != ST_OK ? err.msg : "not found");
        return -1;
    }
    *value_bytes += vlen;
    int rc = 0;
    if (b->mode == MODE_UNSEAL) {
        if (blob_unseal(b->kr, hn, val, vlen, &text, &tlen, &err) != ST_OK) {
            fail_read(b, hn, err.msg);
            rc = -1;
        } else {
            explicit_bzero(text, tlen);
            free(text);
        }
    }
    free(val);
    return rc;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    struct person *p = malloc(sizeof *p);
    if (!p) {
        fail_read(b, "-", "out of memory");
        return NULL;
    }
    uint64_t s = w->seed;
    double cpu0 = thread_cpu_s();
    for (w->done = 0; w->done < w->quota; w->done++) {
        if ((w->done & 1023) == 0 && (now_s() > b->deadline || atomic_load(&b->failed)))
            break;
        const char *hn = b->hns[next_rand(&s) % b->nhns];
        uint64_t t0 = now_ns();
        if (read_one(b, hn, p, &w->value_bytes) != 0)
            break;
        uint64_t dt = now_ns() - t0;
        w->lat_ns[w->done] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    }
    w->cpu_s = thread_cpu_s() - cpu0;
    explicit_bzero(p, sizeof *p);
    free(p);
    return NULL;
}

/* Every assigned number of an acks file, in file order. */
static int load_hns(const char *path, struct bench *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_reads: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) >= 0) {
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        char *tab3 = tab2 ? strchr(tab2 + 1, '\t') : NULL;
        if (!tab3 || strncmp(tab2 + 1, "assigned\t", 9) != 0)
            continue;
        char *hn = tab3 + 1;
        if (strlen(hn) < HN_LEN || (hn[HN_LEN] != '\n' && hn[HN_LEN] != '\0'))
            continue;
        if (b->nhns == cap) {
            cap = cap ? cap * 2 : 65536;
            void *n = realloc(b->hns, cap * sizeof *b->hns);
            if (!n) {
                fprintf(stderr, "bench_reads: out of memory\n");
                free(line);
                return -1;
            }
            b->hns = n;
        }
        memcpy(b->hns[b->nhns], hn, HN_LEN);
        b->hns[b->nhns++][HN_LEN] = '\0';
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (b->nhns == 0) {
        fprintf(stderr, "bench_reads: no assigned Huduma Numbers in %s\n", path);
        return -1;
    }
    return 0;
}

static int open_target(const char *dir, struct bench *b)
{
    char path[4096];
    struct keys_err kerr;
    struct keys_options ko = {.tcti = getenv("HUDUMA_TCTI")};
    if (keys_open_holder(dir, &ko, &b->keys, &kerr) != KEYS_OK) {
        fprintf(stderr, "bench_reads: %s\n", kerr.msg);
        return -1;
    }
    if (b->mode == MODE_PERSON) {
        struct reg_options o = {.sync = true, .keys = b->keys};
        struct reg_result res = {0};
        if (reg_open(dir, &o, &b->reg, &res) != REG_OK) {
            fprintf(stderr, "bench_reads: %s\n", res.msg);
            return -1;
        }
        return 0;
    }
    if (keys_keyring(b->keys, &b->kr, &kerr) != KEYS_OK) {
        fprintf(stderr, "bench_reads: %s\n", kerr.msg);
        return -1;
    }
    struct store_options so = {.create = false, .sync = true};
    struct st_err err;
    snprintf(path, sizeof path, "%s/db", dir);
    if (store_open(path, &so, b->kr, &b->st, &err) != ST_OK ||
        store_deks_load(b->st, b->keys, &err) != ST_OK) {
        fprintf(stderr, "bench_reads: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_reads DIR ACKS [--threads T] [--reads N] [--seed S] "
                    "[--max-seconds S] [--mode person|unseal|raw]\n");
    exit(2);
}

static unsigned long long num_arg(const char *name, const char *v, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (!v || errno || *end || n == 0 || n > max) {
        fprintf(stderr, "bench_reads: %s wants a number from 1 to %llu\n", name, max);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    json_set_alloc_funcs(malloc, wiping_free);
    const char *pos[2];
    int npos = 0;
    unsigned threads = 2;
    size_t reads = 1000000;
    uint64_t seed = 1;
    double max_seconds = 300;
    struct bench b = {.mode = MODE_PERSON};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)num_arg(argv[i++], v, 64);
        else if (strcmp(argv[i], "--reads") == 0)
            reads = (size_t)num_arg(argv[i++], v, 100000000);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = num_arg(argv[i++], v, UINT64_MAX);
        else if (strcmp(argv[i], "--max-seconds") == 0)
            max_seconds = (double)num_arg(argv[i++], v, 86400);
        else if (strcmp(argv[i], "--mode") == 0 && v) {
            size_t m = 0;
            while (m < 3 && strcmp(v, mode_names[m]) != 0)
                m++;
            if (m == 3)
                usage();
            b.mode = (enum mode)m;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] == '-')
            usage();
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            usage();
    }
    if (npos != 2)
        usage();
    if (load_hns(pos[1], &b) != 0 || open_target(pos[0], &b) != 0)
        return 1;

    struct worker *w = calloc(threads, sizeof *w);
    if (!w)
        return 1;
    for (unsigned t = 0; t < threads; t++) {
        w[t].b = &b;
        w[t].seed = seed * 1000003u + t;
        w[t].quota = reads / threads + (t < reads % threads);
        w[t].lat_ns = malloc((w[t].quota ? w[t].quota : 1) * sizeof *w[t].lat_ns);
        if (!w[t].lat_ns) {
            fprintf(stderr, "bench_reads: out of memory\n");
            return 1;
        }
    }
    double t0 = now_s();
    b.deadline = t0 + max_seconds;
    for (unsigned t = 0; t < threads; t++)
        pthread_create(&w[t].tid, NULL, run_worker, &w[t]);
    size_t done = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        done += w[t].done;
    }
    double secs = now_s() - t0;

    uint32_t *lat = malloc((done ? done : 1) * sizeof *lat);
    size_t n = 0;
    uint64_t value_bytes = 0;
    double cpu_s = 0;
    for (unsigned t = 0; t < threads; t++) {
        if (lat)
            memcpy(lat + n, w[t].lat_ns, w[t].done * sizeof *lat);
        n += w[t].done;
        value_bytes += w[t].value_bytes;
        cpu_s += w[t].cpu_s;
        free(w[t].lat_ns);
    }
    double p50 = 0, p99 = 0;
    if (lat && done) {
        qsort(lat, done, sizeof *lat, cmp_u32);
        p50 = lat[done / 2] / 1e3;
        p99 = lat[done * 99 / 100] / 1e3;
    }
    free(lat);
    free(w);
    reg_close(b.reg);
    store_close(b.st);
    keys_close(b.kr);
    keys_holder_close(b.keys);
    free(b.hns);
    if (atomic_load(&b.failed))
        return 1;
    if (done < reads)
        fprintf(stderr, "bench_reads: time limit reached after %zu of %zu reads\n", done, reads);
    printf("people=%zu\n", b.nhns);
    if (b.mode != MODE_PERSON && done)
        printf("value_bytes_mean=%.0f\n", (double)value_bytes / (double)done);
    printf("reads_per_sec=%.0f threads=%u count=%zu mode=%s seconds=%.2f p50_us=%.1f "
           "p99_us=%.1f cpu_us_per_read=%.1f\n",
           secs > 0 ? done / secs : 0.0, threads, done, mode_names[b.mode], secs, p50, p99,
           done ? cpu_s * 1e6 / (double)done : 0.0);
    return 0;
}
