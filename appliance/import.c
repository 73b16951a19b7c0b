/*
 * appliance/import.c - bulk import of a JSON-lines file: one operation a line
 * ({"op":"enrol"|"birth","record":{...}} or {"op":"death","enrolment_ref" or
 * "huduma_number", "date", "certificate"}), as a kit uploads a day's work.
 *
 * Worker threads take lines from one reader and call the register directly;
 * their commits are synced and grouped by RocksDB, so throughput grows with
 * the threads while every line is durable before it is counted.  Enrolments
 * run first, then births (which name mothers enrolled in the same file), then
 * deaths.  With `acks`, each line's outcome is printed on stdout as it
 * commits ("<line>\t<enrolment id>\t<outcome>\t<hn>"); a progress line goes
 * to stderr.  A refused line is reported with its number and field and does
 * not stop the others.  A line the register calls busy (concurrent lines
 * kept changing the biometric index or the keys it locks) committed nothing;
 * it is tried again after a growing pause, up to BUSY_TRIES times.  Only a
 * line still busy after that stops the import.
 */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_TRIES     12 /* attempts of a line the register calls busy */
#define BUSY_PAUSE_MS  1  /* before the second; doubled each time, at most BUSY_PAUSE_MAX */
#define BUSY_PAUSE_MAX 200

enum phase { PHASE_ENROL, PHASE_BIRTH, PHASE_DEATH, PHASE_COUNT };

struct line {
    long no;
    char *text;
};

struct import {
    struct reg *r;
    const char *officer;
    bool acks;
    /* the lines of the current phase */
    struct line *lines;
    size_t nlines;
    _Atomic size_t next;
    /* counts */
    _Atomic long done, assigned, pending, replayed, deaths, refused, busy_retries;
    _Atomic int fatal;
    pthread_mutex_t out_lock;
    double started;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int line_fail(struct reg_result *res, int code, const char *field, const char *msg)
{
    res->code = code;
    snprintf(res->field, sizeof res->field, "%s", field);
    snprintf(res->msg, sizeof res->msg, "%s", msg);
    return code;
}

static void say_refused(struct import *im, long no, const struct reg_result *res)
{
    pthread_mutex_lock(&im->out_lock);
    fprintf(stderr, "huduma import: line %ld: %s%s%s\n", no, res->field, res->field[0] ? ": " : "",
            res->msg);
    pthread_mutex_unlock(&im->out_lock);
}

static void ack(struct import *im, long no, const char *id, const char *outcome, const char *hn)
{
    if (!im->acks)
        return;
    pthread_mutex_lock(&im->out_lock);
    fprintf(stdout, "%ld\t%s\t%s\t%s\n", no, id, outcome, hn && hn[0] ? hn : "-");
    fflush(stdout);
    pthread_mutex_unlock(&im->out_lock);
}

static int do_death(struct import *im, const json_t *op, struct reg_result *res, char *hn)
{
    const char *ref = json_string_value(json_object_get(op, "enrolment_ref"));
    const char *num = json_string_value(json_object_get(op, "huduma_number"));
    struct enrol_answer a;
    if (ref) {
        int rc = reg_enrolment_status(im->r, ref, &a, res);
        if (rc != REG_OK)
            return rc;
        if (!a.hn[0] || a.outcome == ENROL_REFUSED_DUP)
            return line_fail(res, REG_ENOTFOUND, "enrolment_ref",
                             "that enrolment has no Huduma Number");
        num = a.hn;
    }
    if (!num)
        return line_fail(res, REG_EINVALID, "huduma_number",
                         "a death needs huduma_number or enrolment_ref");
    snprintf(hn, HN_LEN + 1, "%s", num);
    struct change_note note = {.reason = "death registration", .officer = im->officer};
    return reg_death(im->r, hn, json_string_value(json_object_get(op, "date")),
                     json_string_value(json_object_get(op, "certificate")), &note, res);
}

static void count_answer(struct import *im, const struct enrol_answer *a)
{
    if (a->outcome == ENROL_ASSIGNED)
        atomic_fetch_add(&im->assigned, 1);
    else if (a->outcome == ENROL_PENDING && !a->pending_replayed)
        atomic_fetch_add(&im->pending, 1);
    else
        atomic_fetch_add(&im->replayed, 1);
}

static const char *outcome_word(const struct enrol_answer *a)
{
    static const char *const words[] = {"assigned", "already_enrolled", "pending", "refused"};
    return words[a->outcome];
}

/* One attempt at a line's operation. */
static int apply_line(struct import *im, const struct line *ln, struct reg_result *res)
{
    json_error_t jerr;
    json_t *op = json_loads(ln->text, JSON_REJECT_DUPLICATES, &jerr);
    int rc;
    if (!op) {
        rc = line_fail(res, REG_EINVALID, "", jerr.text);
    } else {
        const char *kind = json_string_value(json_object_get(op, "op"));
        struct enrol_answer a;
        char hn[HN_LEN + 1] = "";
        if (kind && strcmp(kind, "death") == 0) {
            rc = do_death(im, op, res, hn);
            if (rc == REG_OK) {
                atomic_fetch_add(&im->deaths, 1);
                ack(im, ln->no, "-", "death", hn);
            }
        } else {
            json_t *rec = json_object_get(op, "record");
            bool birth = kind && strcmp(kind, "birth") == 0;
            rc = birth ? reg_birth(im->r, rec, &a, res) : reg_enrol(im->r, rec, &a, res);
            if (rc == REG_OK) {
                count_answer(im, &a);
                ack(im, ln->no, a.enrolment_id, outcome_word(&a), a.hn);
            }
        }
        json_decref(op);
    }
    return rc;
}

static void import_line(struct import *im, const struct line *ln)
{
    struct reg_result res = {0};
    int rc = apply_line(im, ln, &res);
    long pause_ms = BUSY_PAUSE_MS;
    for (int tries = 1; rc == REG_EBUSY && tries < BUSY_TRIES; tries++) {
        struct timespec pause = {pause_ms / 1000, pause_ms % 1000 * 1000000L};
        nanosleep(&pause, NULL);
        pause_ms = pause_ms * 2 > BUSY_PAUSE_MAX ? BUSY_PAUSE_MAX : pause_ms * 2;
        atomic_fetch_add(&im->busy_retries, 1);
        res = (struct reg_result){0};
        rc = apply_line(im, ln, &res);
    }
    if (rc == REG_EINVALID || rc == REG_ECONFLICT || rc == REG_ENOTFOUND) {
        atomic_fetch_add(&im->refused, 1);
        say_refused(im, ln->no, &res);
    } else if (rc != REG_OK) {
        say_refused(im, ln->no, &res);
        atomic_store(&im->fatal, cli_exit_code(rc));
    }
    atomic_fetch_add(&im->done, 1);
}

static void *worker(void *arg)
{
    struct import *im = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&im->next, 1);
        if (i >= im->nlines || atomic_load(&im->fatal))
            return NULL;
        import_line(im, &im->lines[i]);
    }
}

static void progress(struct import *im, bool last)
{
    long done = atomic_load(&im->done);
    double secs = now_s() - im->started;
    fprintf(stderr,
            "\rimported %ld lines: %ld assigned, %ld pending, %ld replayed, %ld deaths, "
            "%ld refused (%.0f/s)%s",
            done, atomic_load(&im->assigned), atomic_load(&im->pending), atomic_load(&im->replayed),
            atomic_load(&im->deaths), atomic_load(&im->refused), secs > 0 ? done / secs : 0.0,
            last ? "\n" : "");
    long busy = atomic_load(&im->busy_retries);
    if (last && busy > 0)
        fprintf(stderr, "%ld lines were tried again because the register was busy\n", busy);
}

static void run_phase(struct import *im, int threads)
{
    pthread_t tid[64];
    atomic_store(&im->next, 0);
    int n = threads < 64 ? threads : 64;
    for (int t = 0; t < n; t++)
        pthread_create(&tid[t], NULL, worker, im);
    struct timespec tick = {0, 250 * 1000 * 1000};
    while (atomic_load(&im->next) < im->nlines && !atomic_load(&im->fatal)) {
        nanosleep(&tick, NULL);
        progress(im, false);
    }
    for (int t = 0; t < n; t++)
        pthread_join(tid[t], NULL);
}

static enum phase phase_of(const char *text)
{
    if (strstr(text, "\"op\":\"death\"") || strstr(text, "\"op\": \"death\""))
        return PHASE_DEATH;
    if (strstr(text, "\"op\":\"birth\"") || strstr(text, "\"op\": \"birth\""))
        return PHASE_BIRTH;
    return PHASE_ENROL;
}

struct phases {
    struct line *v[PHASE_COUNT];
    size_t n[PHASE_COUNT], cap[PHASE_COUNT];
};

static int read_lines(FILE *f, struct phases *ph)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        no++;
        if (len <= 1)
            continue;
        enum phase p = phase_of(buf);
        if (ph->n[p] == ph->cap[p]) {
            ph->cap[p] = ph->cap[p] ? ph->cap[p] * 2 : 1024;
            struct line *nv = realloc(ph->v[p], ph->cap[p] * sizeof *nv);
            if (!nv)
                return free(buf), -1;
            ph->v[p] = nv;
        }
        ph->v[p][ph->n[p]++] = (struct line){no, strdup(buf)};
    }
    free(buf);
    return 0;
}

int cli_import(struct reg *r, const char *path, int threads, const char *officer, bool acks)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "huduma import: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_INVALID; /* as enrol and the other commands that read a file */
    }
    struct phases ph = {0};
    int rd = read_lines(f, &ph);
    if (f != stdin)
        fclose(f);
    struct import im = {.r = r, .officer = officer, .acks = acks, .started = now_s()};
    pthread_mutex_init(&im.out_lock, NULL);
    for (int p = 0; rd == 0 && p < PHASE_COUNT && !atomic_load(&im.fatal); p++) {
        im.lines = ph.v[p];
        im.nlines = ph.n[p];
        run_phase(&im, threads);
    }
    progress(&im, true);
    for (int p = 0; p < PHASE_COUNT; p++) {
        for (size_t i = 0; i < ph.n[p]; i++)
            free(ph.v[p][i].text);
        free(ph.v[p]);
    }
    pthread_mutex_destroy(&im.out_lock);
    if (rd != 0)
        return fprintf(stderr, "huduma import: out of memory\n"), EXIT_STORAGE;
    if (atomic_load(&im.fatal))
        return atomic_load(&im.fatal);
    return atomic_load(&im.refused) ? EXIT_INVALID : EXIT_OKAY;
}
