/*
 * tests/bench/bench_bio.c - the 1:N biometric figures of docs/BENCHMARKS.md:
 * search latency and recall for synthetic galleries of growing size, the
 * time to load the index after a restart, and the enrolment rate with
 * deduplication on.
 *
 *   bench_bio search DIR --sizes 10000,100000,1000000 [--probes P] [--threads T]
 *   bench_bio enrol DIR --people N [--threads T] [--no-biometrics]
 *
 * search: makes a register in DIR (which must not exist) and fills it, T
 * threads at a time, with synthetic people (storage/mcc_synth.c: two index
 * fingers and a 512-dimension face each), written as the register writes
 * them: the sealed biometrics in the "biometrics" column family and the
 * sealed index entry, 500 people per transaction.  At each size it searches
 * P probes (default 200), one at a time: half are re-captures of people in
 * the gallery (other impressions of the fingers, the face captured again),
 * half people who are not in it.  Per size it prints the latency of a search
 * (p50, p99: the index's shortlist, then the templates fetched from RocksDB,
 * unsealed, decoded and matched in full; wall clock, and the searching
 * thread's CPU time, which the machine's other load does not inflate), the recall (mated probes
 * whose person is among the candidates at the deduplication band; also by the fingers' shortlist
 * alone and the face's alone), and the false candidates (non-mated probes with any candidate at
 * that band).  After the last size the register is closed and opened again, and the index load
 * timed.
 *
 * enrol: makes a register in DIR and enrols N synthetic people through
 * reg_enrol() from T threads (default 2), each enrolment durable (synced
 * WAL) and, with biometrics, searched 1:N before its number is assigned; 1 in
 * 50 is a re-enrolment of an earlier person under another name, which must
 * land in adjudication.  Prints enrolments per second.
 *
 * The last line of each size or run is machine-readable, e.g.
 *   size=100000 p50_ms=... p99_ms=... recall=... finger_recall=...
 *   face_recall=... false_candidates=... probes=...
 *   enrol people=... seconds=... per_sec=... held=... caught=...
 */
#include "appliance/register.h"
#include "keys/keys.h"
#include "storage/mcc_internal.h" /* struct bio_person: one modality at a time */
#include "storage/storage.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEED         20260601
#define FACE_DIM     512
#define FACE_NOISE   0.6f
#define FACE_MODEL   "synth-face-512"
#define BATCH        500
#define NOT_ENROLLED 500000000ull /* person ids of probes from outside the gallery */

static double cpu_now(void)
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

static void synth(uint64_t person, unsigned capture, struct biometrics *b)
{
    memset(b, 0, sizeof *b);
    bio_synth_finger(SEED, person, 2, capture, &b->fingers[0]);
    bio_synth_finger(SEED, person, 7, capture, &b->fingers[1]);
    b->nfingers = 2;
    snprintf(b->face_model, sizeof b->face_model, "%s", FACE_MODEL);
    b->face_dim = FACE_DIM;
    bio_synth_face(SEED, person, capture, FACE_DIM, FACE_NOISE, b->face);
}

static void subject_of(uint64_t person, char out[16])
{
    snprintf(out, 16, "9%011llu", (unsigned long long)(person % 100000000000ull));
}

static struct reg *open_register(const char *dir, bool create, struct keyholder **keys)
{
    static const struct keys_options soft = {.insecure_software_key = true};
    struct reg_result res = {0};
    struct keys_err kerr;
    if (create && reg_init(dir, &soft, keys, &res) != REG_OK) {
        fprintf(stderr, "bench_bio: cannot make a register in %s: %s\n", dir, res.msg);
        return NULL;
    }
    if (!create && keys_open_holder(dir, &soft, keys, &kerr) != KEYS_OK) {
        fprintf(stderr, "bench_bio: keys: %s\n", kerr.msg);
        return NULL;
    }
    struct reg *r;
    struct reg_options o = {.sync = true, .keys = *keys};
    if (reg_open(dir, &o, &r, &res) != REG_OK) {
        fprintf(stderr, "bench_bio: cannot open %s: %s\n", dir, res.msg);
        return NULL;
    }
    return r;
}

/* ---- filling the gallery ------------------------------------------------------------------ */

struct filler {
    struct store *st;
    struct bioindex *ix;
    uint64_t from, to; /* people [from, to) */
    unsigned step, offset;
    int rc;
};

static int put_person(struct filler *f, struct store_txn *tx, uint64_t person,
                      struct bio_person **p)
{
    static _Thread_local struct biometrics b;
    char subject[16], *sealed = NULL;
    size_t slen;
    struct st_err err;
    synth(person, 0, &b);
    subject_of(person, subject);
    int rc = bio_person_points(&b, p, &err); /* the index needs no cylinders */
    json_t *j = rc == ST_OK ? biometrics_to_json(&b) : NULL;
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (rc == ST_OK && !text)
        rc = ST_NOMEM;
    if (rc == ST_OK)
        rc = blob_seal(store_keyring(f->st), subject, text, strlen(text), &sealed, &slen, &err);
    free(text);
    if (rc == ST_OK)
        rc = store_txn_put(tx, CF_BIOMETRICS, subject, strlen(subject), sealed, slen, &err);
    free(sealed);
    if (rc == ST_OK)
        rc = bioindex_stage_put(f->ix, tx, subject, *p, &err);
    return rc;
}

static void *fill(void *arg)
{
    struct filler *f = arg;
    struct bio_person *batch[BATCH];
    char subjects[BATCH][16];
    for (uint64_t start = f->from + f->offset * BATCH; start < f->to && f->rc == ST_OK;
         start += (uint64_t)f->step * BATCH) {
        struct store_txn *tx;
        struct st_err err;
        unsigned n = 0;
        f->rc = store_txn_begin(f->st, &tx, &err);
        for (uint64_t p = start; f->rc == ST_OK && p < start + BATCH && p < f->to; p++) {
            f->rc = put_person(f, tx, p, &batch[n]);
            subject_of(p, subjects[n++]);
        }
        if (f->rc == ST_OK)
            f->rc = store_txn_commit(tx, &err);
        else
            store_txn_rollback(tx);
        for (unsigned i = 0; i < n; i++)
            if (f->rc == ST_OK)
                bioindex_add(f->ix, subjects[i], batch[i]);
            else
                bio_person_free(batch[i]);
    }
    return NULL;
}

static int grow(struct store *st, struct bioindex *ix, uint64_t from, uint64_t to, unsigned threads)
{
    struct filler f[16];
    pthread_t t[16];
    for (unsigned i = 0; i < threads; i++) {
        f[i] = (struct filler){st, ix, from, to, threads, i, ST_OK};
        pthread_create(&t[i], NULL, fill, &f[i]);
    }
    int rc = ST_OK;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        rc = rc == ST_OK ? f[i].rc : rc;
    }
    return rc;
}

/* ---- searching --------------------------------------------------------------------------------
 */

static int fetch(void *ctx, const char *subject, struct biometrics *out)
{
    struct store *st = ctx;
    char *val = NULL, *text = NULL;
    size_t vlen = 0, tlen = 0;
    struct st_err err;
    int rc = store_get(st, CF_BIOMETRICS, subject, strlen(subject), &val, &vlen, &err);
    if (rc == ST_OK && !val)
        return ST_NOT_FOUND;
    if (rc == ST_OK)
        rc = blob_unseal(store_keyring(st), subject, val, vlen, &text, &tlen, &err);
    free(val);
    json_t *j = rc == ST_OK ? json_loadb(text, tlen, 0, NULL) : NULL;
    free(text);
    if (rc == ST_OK)
        rc = j ? biometrics_from_json(j, out, &err) : ST_CORRUPT;
    json_decref(j);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Finger-only and face-only shortlists, to tell the index's parts apart. */
static bool listed(struct bioindex *ix, struct store *st, const struct bio_person *p,
                   const struct bio_thresholds *t, const char *subject)
{
    struct bio_query q = {p, t, BIO_BAND_LOW, BIO_MAX_CANDIDATES, fetch, st, NULL};
    static _Thread_local struct bio_result r;
    struct st_err err;
    if (bioindex_search(ix, &q, &r, &err) != ST_OK)
        return false;
    for (unsigned i = 0; i < r.n; i++)
        if (strcmp(r.c[i].subject, subject) == 0)
            return true;
    return false;
}

static int measure(struct bioindex *ix, struct store *st, uint64_t size, unsigned probes,
                   enum bio_band band)
{
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    double *ms = malloc(sizeof(double) * probes), *cpu = malloc(sizeof(double) * probes);
    unsigned mated = 0, found = 0, finger_found = 0, face_found = 0, strangers = 0, false_hits = 0;
    static struct biometrics b;
    for (unsigned i = 0; i < probes; i++) {
        bool is_mated = i % 2 == 0;
        uint64_t person = is_mated ? (uint64_t)i * 7919u % size : NOT_ENROLLED + i;
        char subject[16];
        subject_of(person, subject);
        synth(person, 1 + i % 3, &b);
        struct bio_person *p;
        struct st_err err;
        if (bio_person_new(&b, &p, &err) != ST_OK)
            return -1;
        struct bio_query q = {p, &t, band, ENROL_MAX_CANDIDATES, fetch, st, NULL};
        struct bio_result r;
        double t0 = now(), c0 = cpu_now();
        if (bioindex_search(ix, &q, &r, &err) != ST_OK) {
            fprintf(stderr, "bench_bio: search: %s\n", err.msg);
            return -1;
        }
        ms[i] = (now() - t0) * 1e3;
        cpu[i] = (cpu_now() - c0) * 1e3;
        bool hit = false;
        for (unsigned k = 0; k < r.n; k++)
            hit |= strcmp(r.c[k].subject, subject) == 0;
        if (is_mated) {
            mated++;
            found += hit;
            /* the same probe with one modality only: which part of the index found it */
            struct bio_person fingers_only = *p, face_only = *p;
            fingers_only.face = NULL;
            face_only.nfingers = 0;
            finger_found += listed(ix, st, &fingers_only, &t, subject);
            face_found += listed(ix, st, &face_only, &t, subject);
        } else {
            strangers++;
            false_hits += r.n > 0;
        }
        bio_person_free(p);
    }
    qsort(ms, probes, sizeof *ms, cmp_double);
    qsort(cpu, probes, sizeof *cpu, cmp_double);
    printf("size=%llu p50_ms=%.2f p99_ms=%.2f cpu_p50_ms=%.2f cpu_p99_ms=%.2f recall=%.4f "
           "finger_recall=%.4f face_recall=%.4f false_candidates=%.4f probes=%u\n",
           (unsigned long long)size, ms[probes / 2], ms[(size_t)(probes * 0.99)], cpu[probes / 2],
           cpu[(size_t)(probes * 0.99)], (double)found / mated, (double)finger_found / mated,
           (double)face_found / mated, (double)false_hits / strangers, probes);
    fflush(stdout);
    free(ms);
    free(cpu);
    return 0;
}

static int run_search(const char *dir, const char *sizes, unsigned probes, unsigned threads)
{
    struct keyholder *keys = NULL;
    struct reg *r = open_register(dir, true, &keys);
    if (!r)
        return 1;
    struct store *st = reg_store(r);
    struct bioindex *ix;
    struct st_err err;
    if (bioindex_open(st, &ix, &err) != ST_OK)
        return 1;
    struct bio_settings s;
    bio_settings_default(&s);
    uint64_t have = 0, size = 0;
    for (const char *p = sizes; *p; p += *p == ',') {
        size = strtoull(p, (char **)&p, 10);
        double t0 = now();
        if (grow(st, ix, have, size, threads) != ST_OK) {
            fprintf(stderr, "bench_bio: filling the gallery failed\n");
            return 1;
        }
        printf("gallery of %llu: %llu people added in %.1f s (%.0f/s, %u threads)\n",
               (unsigned long long)size, (unsigned long long)(size - have), now() - t0,
               (double)(size - have) / (now() - t0), threads);
        have = size;
        if (measure(ix, st, size, probes, s.dedup_band) != 0)
            return 1;
    }
    bioindex_close(ix);
    reg_close(r);
    keys_holder_close(keys);
    r = open_register(dir, false, &keys);
    double t0 = now();
    if (!r || bioindex_open(reg_store(r), &ix, &err) != ST_OK)
        return 1;
    double load = now() - t0;
    printf("restart: index of %zu people loaded from RocksDB in %.2f s\n", bioindex_count(ix),
           load);
    printf("load people=%zu seconds=%.2f\n", bioindex_count(ix), load);
    bioindex_close(ix);
    reg_close(r);
    keys_holder_close(keys);
    return 0;
}

/* ---- enrolment with deduplication --------------------------------------------------------------
 */

static json_t *b64(const void *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *enrolment(uint64_t line, bool with_bio)
{
    /* every 50th line re-enrols the person of 49 lines before under another name */
    uint64_t person = line % 50 == 49 ? line - 49 : line;
    char id[32], doc[16], surname[32];
    snprintf(id, sizeof id, "BENCH-%llu", (unsigned long long)line);
    snprintf(doc, sizeof doc, "%08llu", (unsigned long long)(10000000 + line));
    /* names fold to letters only (normalize.c): the line number spelt in letters */
    size_t k = 0;
    for (uint64_t v = line + 1; v && k < sizeof surname - 2; v /= 26)
        surname[k++] = (char)('a' + v % 26);
    surname[k] = '\0';
    surname[0] = (char)(surname[0] - 'a' + 'A');
    json_t *rec = json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:[{s:s, s:s}]}",
        "enrolment", "id", id, "officer", "OFF-1", "centre", "BENCH", "captured_at",
        "2026-01-05T09:00:00Z", "surname", surname, "first_name", "Bench", "sex", "female",
        "date_of_birth", "1980-01-01", "place_of_birth", "county", "042", "citizenship", "type",
        "birth", "residence", "county", "047", "documents", "type", "national_id", "number", doc);
    if (!with_bio) {
        json_object_set_new(rec, "biometric_exemption",
                            json_string("benchmark without biometrics"));
        return rec;
    }
    static _Thread_local struct biometrics b;
    synth(person, line == person ? 0 : 1, &b);
    json_t *fingers = json_array();
    for (unsigned i = 0; i < b.nfingers; i++)
        json_array_append_new(fingers,
                              json_pack("{s:i, s:o}", "position", b.fingers[i].position, "template",
                                        b64(b.fingers[i].data, b.fingers[i].len)));
    json_object_set_new(rec, "biometrics",
                        json_pack("{s:o, s:{s:s, s:o}}", "fingerprints", fingers, "face", "model",
                                  FACE_MODEL, "embedding", b64(b.face, sizeof(float) * FACE_DIM)));
    return rec;
}

struct enroller {
    struct reg *r;
    uint64_t people, next_line;
    pthread_mutex_t *lock;
    uint64_t *cursor;
    bool with_bio;
    unsigned held, caught, failed;
};

static void *enrol_loop(void *arg)
{
    struct enroller *e = arg;
    for (;;) {
        pthread_mutex_lock(e->lock);
        uint64_t line = (*e->cursor)++;
        pthread_mutex_unlock(e->lock);
        if (line >= e->people)
            break;
        json_t *rec = enrolment(line, e->with_bio);
        struct enrol_answer a;
        struct reg_result res = {0};
        if (reg_enrol(e->r, rec, &a, &res) != REG_OK) {
            if (e->failed++ == 0)
                fprintf(stderr, "bench_bio: enrol: %s: %s\n", res.field, res.msg);
        } else if (a.outcome == ENROL_PENDING) {
            e->held++;
            e->caught += line % 50 == 49;
        }
        json_decref(rec);
    }
    return NULL;
}

static int run_enrol(const char *dir, uint64_t people, unsigned threads, bool with_bio)
{
    struct keyholder *keys = NULL;
    struct reg *r = open_register(dir, true, &keys);
    if (!r)
        return 1;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint64_t cursor = 0;
    struct enroller e[16];
    pthread_t t[16];
    double t0 = now();
    for (unsigned i = 0; i < threads; i++) {
        e[i] = (struct enroller){r, people, 0, &lock, &cursor, with_bio, 0, 0, 0};
        pthread_create(&t[i], NULL, enrol_loop, &e[i]);
    }
    unsigned held = 0, caught = 0, failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        held += e[i].held, caught += e[i].caught, failed += e[i].failed;
    }
    double el = now() - t0;
    printf("enrol biometrics=%s people=%llu seconds=%.2f per_sec=%.0f held=%u caught=%u of %llu "
           "re-enrolments failed=%u\n",
           with_bio ? "yes" : "no", (unsigned long long)people, el, (double)people / el, held,
           caught, (unsigned long long)(people / 50), failed);
    reg_close(r);
    keys_holder_close(keys);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *sizes = "10000,100000,1000000";
    unsigned probes = 200, threads = 2;
    uint64_t people = 10000;
    bool with_bio = true;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--probes") == 0 && i + 1 < argc)
            probes = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--people") == 0 && i + 1 < argc)
            people = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-biometrics") == 0)
            with_bio = false;
        else
            argc = 0;
    }
    if (argc < 3 || threads < 1 || threads > 16 || probes < 2) {
        fprintf(stderr, "usage: bench_bio search DIR --sizes N,N,... [--probes P] [--threads T]\n"
                        "       bench_bio enrol DIR --people N [--threads T] [--no-biometrics]\n");
        return 2;
    }
    if (strcmp(argv[1], "search") == 0)
        return run_search(argv[2], sizes, probes, threads);
    if (strcmp(argv[1], "enrol") == 0)
        return run_enrol(argv[2], people, threads, with_bio);
    fprintf(stderr, "bench_bio: search or enrol\n");
    return 2;
}
