/*
 * tests/bench/bench_mcc.c - accuracy and speed of the fingerprint matcher on
 * real minutiae records, the fingerprint figures of docs/BENCHMARKS.md.
 *
 *   bench_mcc DIR... [--threads T] [--seconds S] [--scores FILE]
 *
 * Each DIR holds records named FINGER_IMPRESSION.iso (ISO/IEC 19794-2:2005,
 * as in FVC2002 DB1_B).  Protocol (that of the reference figures beside
 * them): within one DIR every ordered pair of different records is compared;
 * pairs of the same finger are genuine, pairs of different fingers impostor.
 * Printed per DIR: the counts, the EER (where the false match and false
 * non-match rates cross: their mean at the threshold where they are
 * closest), FNMR at FMR <= 1% and <= 0.1% (the lowest threshold that keeps
 * the false matches within the rate; ties at the threshold count as
 * non-matches), and the score thresholds that give FMR 1%, 0.1% and 0.01%
 * on the impostors.  Then speed: T threads (default 2) compare impostor pairs of
 * the first DIR over and over for S seconds (default 3); the last line is
 * machine-readable:
 *
 *   comparisons_per_sec=N threads=T seconds=S cpu_us_per_comparison=C
 *
 * C is the comparing threads' CPU time per comparison: the cost of one
 * comparison whatever else the machine runs (the wall-clock rate N depends
 * on it).
 * --scores FILE writes every score ("dir genuine|impostor score").
 */
#include "storage/mcc_internal.h"
#include "storage/storage.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RECORDS 4096

struct record {
    unsigned finger, impression;
    struct mcc_finger *f;
};

struct set {
    const char *dir;
    unsigned n;
    struct record r[MAX_RECORDS];
};

static int load_file(const char *path, struct fingerprint *fp)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(fp->data, 1, sizeof fp->data, f);
    fclose(f);
    fp->len = (uint16_t)n;
    fp->position = 0;
    return 0;
}

static int load_set(struct set *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "bench_mcc: cannot open %s\n", dir);
        return -1;
    }
    s->dir = dir;
    s->n = 0;
    struct dirent *e;
    static struct fingerprint fp;
    while ((e = readdir(d)) && s->n < MAX_RECORDS) {
        unsigned fi, im;
        char ext[8];
        if (sscanf(e->d_name, "%u_%u.%7s", &fi, &im, ext) != 3 || strcmp(ext, "iso") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct st_err err;
        if (load_file(path, &fp) != 0 || mcc_finger_new(&fp, &s->r[s->n].f, &err) != ST_OK) {
            fprintf(stderr, "bench_mcc: %s: %s\n", path, err.msg);
            closedir(d);
            return -1;
        }
        s->r[s->n].finger = fi;
        s->r[s->n].impression = im;
        s->n++;
    }
    closedir(d);
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Fraction of v[0..n) (sorted) at or above t. */
static double at_or_above(const float *v, size_t n, float t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (double)(n - lo) / (double)n;
}

/* The lowest threshold whose FMR is at most rate: just above the impostor score
 * that would break it. */
static float threshold_for(const float *imp, size_t ni, double rate)
{
    size_t allowed = (size_t)(rate * (double)ni + 1e-9);
    if (allowed >= ni)
        return 0.0f;
    return nextafterf(imp[ni - 1 - allowed], 2.0f);
}

static void report(const struct set *s, float *gen, size_t ng, float *imp, size_t ni)
{
    qsort(gen, ng, sizeof *gen, cmp_float);
    qsort(imp, ni, sizeof *imp, cmp_float);
    double eer = 1.0, best = 2.0;
    for (size_t i = 0; i <= ng; i++) {
        float t = i < ng ? gen[i] : nextafterf(gen[ng - 1], 2.0f);
        double fnmr = 1.0 - at_or_above(gen, ng, t), fmr = at_or_above(imp, ni, t);
        double gap = fnmr > fmr ? fnmr - fmr : fmr - fnmr;
        if (gap < best)
            best = gap, eer = (fnmr + fmr) / 2;
    }
    float t1 = threshold_for(imp, ni, 0.01), t01 = threshold_for(imp, ni, 0.001);
    float t001 = threshold_for(imp, ni, 0.0001);
    printf("%s: %zu genuine, %zu impostor: EER %.2f%%  FNMR@FMR=1%% %.2f%%  FNMR@FMR=0.1%% "
           "%.2f%%\n",
           s->dir, ng, ni, 100 * eer, 100 * (1 - at_or_above(gen, ng, t1)),
           100 * (1 - at_or_above(gen, ng, t01)));
    printf("   thresholds: FMR 1%% at %.4f, 0.1%% at %.4f, 0.01%% at %.4f;"
           " genuine median %.4f, impostor median %.4f\n",
           t1, t01, t001, gen[ng / 2], imp[ni / 2]);
}

static void evaluate(const struct set *s, FILE *scores)
{
    float *gen = malloc(sizeof(float) * s->n * s->n), *imp = malloc(sizeof(float) * s->n * s->n);
    size_t ng = 0, ni = 0;
    for (unsigned i = 0; i < s->n; i++) {
        for (unsigned j = 0; j < s->n; j++) {
            if (i == j)
                continue;
            float v = mcc_match(s->r[i].f, s->r[j].f);
            bool genuine = s->r[i].finger == s->r[j].finger;
            if (genuine)
                gen[ng++] = v;
            else
                imp[ni++] = v;
            if (scores)
                fprintf(scores, "%s %s %.6f\n", s->dir, genuine ? "genuine" : "impostor", v);
        }
    }
    report(s, gen, ng, imp, ni);
    free(gen);
    free(imp);
}

/* ---- speed ------------------------------------------------------------------------- */

struct runner {
    const struct set *s;
    double seconds;
    unsigned long count;
    double cpu;
    float sink;
    unsigned seed;
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct runner *r = arg;
    const struct set *s = r->s;
    double t0 = now(), end = t0 + r->seconds, c0 = thread_cpu();
    unsigned i = r->seed % s->n, j = (r->seed * 7 + 1) % s->n;
    while (now() < end) {
        for (int k = 0; k < 256; k++) {
            j = (j + 1) % s->n;
            if (j == 0)
                i = (i + 1) % s->n;
            if (s->r[i].finger == s->r[j].finger)
                continue;
            r->sink += mcc_match(s->r[i].f, s->r[j].f);
            r->count++;
        }
    }
    r->cpu = thread_cpu() - c0;
    return NULL;
}

static void speed(const struct set *s, unsigned threads, double seconds)
{
    struct runner r[64];
    pthread_t t[64];
    double t0 = now();
    for (unsigned i = 0; i < threads; i++) {
        r[i] = (struct runner){.s = s, .seconds = seconds, .seed = i * 7919 + 1};
        pthread_create(&t[i], NULL, run, &r[i]);
    }
    unsigned long total = 0;
    double cpu = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += r[i].count;
        cpu += r[i].cpu;
    }
    double el = now() - t0;
    printf("comparisons_per_sec=%.0f threads=%u seconds=%.2f cpu_us_per_comparison=%.3f\n",
           (double)total / el, threads, el, cpu * 1e6 / (double)total);
}

int main(int argc, char **argv)
{
    static struct set sets[8];
    unsigned nsets = 0, threads = 2;
    double seconds = 3;
    FILE *scores = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--scores") == 0 && i + 1 < argc)
            scores = fopen(argv[++i], "w");
        else if (nsets < 8)
            nsets += load_set(&sets[nsets], argv[i]) == 0;
        else
            return 2;
    }
    if (nsets == 0 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: bench_mcc DIR... [--threads T] [--seconds S] [--scores FILE]\n");
        return 2;
    }
    for (unsigned i = 0; i < nsets; i++)
        evaluate(&sets[i], scores);
    if (scores)
        fclose(scores);
    if (seconds > 0)
        speed(&sets[0], threads, seconds);
    return 0;
}
