/*
 * appliance/audit.c - the audit log on hudumad's side, and the acts the
 * `huduma` tool records in it.
 *
 * Requests.  The API says what a request was (struct audit_request, filled
 * by api_handle_audited()); audit_submit() turns it into a leaf on the
 * request's own ring (the Huduma Number into its keyed-hash subject) and
 * queues it in that ring's journal (<register>/audit/journal/ring-<n>,
 * storage.h).  The ring holds the answer until its journal write of the
 * leaf completes (conn_journal.c), so no answer leaves before its record; the
 * written leaves go to storage's fold, which appends them to the Merkle tree
 * behind the answers.  At open, whatever the journals hold beyond what the
 * tree has (a crash came first) is folded before anything else.
 *
 * Checkpoints.  A thread wakes every checkpoint_ms (1 s by default); when
 * the tree grew since the last checkpoint it signs a new one (the signer is
 * a callback, audit_signer.c: the register's key in the TPM, through the key
 * process), stores it beside the tree, and makes it the one the API serves.  At start the last
 * stored checkpoint must still describe the tree (its size within the tree, its root the tree's
 * root at that size): a log that was truncated or rewritten is refused, and hudumad does not start.
 * A failure that lasts (a TPM that will not sign, a spool that cannot be
 * read) is logged when it starts, once a minute while it lasts, and when it
 * ends (log_streak_note); /metrics counts every failed checkpoint.
 *
 * Administrative acts.  `huduma agency add | revoke`, key rotation and the
 * like may run while hudumad holds the database, which RocksDB lets one
 * process open at a time.  So an act is first written to the spool
 * (<register>/audit/spool/<time>-<random>.leaf, fsync'd), and appended by
 * whoever holds the database: the tool itself when it can open it, else
 * hudumad's checkpointer within a second.  The append also records the name
 * of the last spool file it took, in the same batch, so a file is never
 * appended twice even when a crash comes before it is removed.  hudumad
 * records a changed configuration the same way, at start.
 */
#include "audit_impl.h"

#include "hn.h"
#include "log.h"
#include "register.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_ORIGIN     "origin"
#define META_CHECKPOINT "checkpoint"
#define META_CONFIG     "config"
#define META_SPOOL      "spool"
#define SPOOL_DIR       "spool"
#define SPOOL_SUFFIX    ".leaf"
#define SPOOL_NAME_MAX  64
#define SPOOL_BATCH     256
#define JOURNAL_DIR     "journal"
#define JOURNAL_PREFIX  "ring-"
#define FAILURE_LOG_MS  60000 /* a lasting failure of the checkpointer: a line a minute */

struct audit {
    char dir[512];
    struct reg *reg;
    const struct keyring *kr;
    struct audit_log *log;
    struct audit_folder *folder;
    struct audit_journal **journals; /* one per ring */
    unsigned njournals;
    struct audit_signer signer;
    struct audit_options opt;
    char origin[AUDIT_ORIGIN_MAX + 1];

    bool opened; /* audit_open() succeeded: the log may be signed at stop */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t wake;
    bool stopping;
    uint64_t signed_size;
    bool have_checkpoint;
    uint64_t sign_failures; /* checkpoints that could not be signed or stored */
    /* the tree the signer last signed in this process, stored or not: the
     * next signature needs a consistency proof from it (keys.h) */
    uint64_t key_size;
    bool key_signed;
    char *checkpoint; /* the latest signed checkpoint served */
    size_t checkpoint_len;
    /* the checkpointer's own: a failure that lasts is logged once a minute */
    struct log_streak spool_streak, sign_streak;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the spool of administrative acts --------------------------------------------------- */

static void spool_path(const char *register_dir, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/audit/" SPOOL_DIR "%s%s", register_dir, name ? "/" : "",
             name ? name : "");
}

/* The log's own database, <register>/audit/db (made when missing). */
static int open_log(const char *register_dir, struct audit_log **log, char *err, size_t errlen)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/audit", register_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return audit_errorf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    snprintf(dir, sizeof dir, "%s/audit/db", register_dir);
    struct st_err serr;
    if (audit_log_open(dir, true, true, log, &serr) != ST_OK)
        return audit_errorf(err, errlen, "the audit log cannot be opened: %s", serr.msg);
    return 0;
}

static bool spool_name_ok(const char *name)
{
    size_t n = strlen(name), s = strlen(SPOOL_SUFFIX);
    return n > s && n <= SPOOL_NAME_MAX && strcmp(name + n - s, SPOOL_SUFFIX) == 0 &&
           strspn(name, "0123456789abcdef-") == n - s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spool's file names after `after`, sorted, at most SPOOL_BATCH (malloc'd). */
static int spool_list(const char *register_dir, const char *after, char ***names, size_t *n)
{
    char dir[600];
    spool_path(register_dir, NULL, dir, sizeof dir);
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    char **list = calloc(SPOOL_BATCH * 4, sizeof *list);
    size_t count = 0;
    struct dirent *e;
    while (list && (e = readdir(d)) && count < SPOOL_BATCH * 4)
        if (spool_name_ok(e->d_name) && strcmp(e->d_name, after) > 0)
            list[count++] = strdup(e->d_name);
    closedir(d);
    if (!list)
        return -1;
    qsort(list, count, sizeof *list, by_name);
    for (size_t i = SPOOL_BATCH; i < count; i++)
        free(list[i]);
    *names = list;
    *n = count < SPOOL_BATCH ? count : SPOOL_BATCH;
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads one spooled leaf; false when it is not one (then it is skipped). */
static bool spool_read(const char *register_dir, const char *name, char *leaf, size_t *len)
{
    char path[700];
    spool_path(register_dir, name, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, leaf, AUDIT_LEAF_MAX);
    close(fd);
    struct audit_record r;
    if (n <= 0 || audit_leaf_parse(leaf, (size_t)n, &r, NULL, 0) != 0)
        return false;
    *len = (size_t)n;
    return true;
}

/* Removes the spool files up to and including `last` (already appended). */
static void spool_remove(const char *register_dir, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[700];
        spool_path(register_dir, names[i], path, sizeof path);
        unlink(path);
    }
}

int audit_spool_drain(const char *register_dir, struct audit_log *log, unsigned *appended,
                      char *err, size_t errlen)
{
    *appended = 0;
    char *mark = NULL;
    size_t marklen = 0;
    struct st_err serr;
    if (audit_log_meta_get(log, META_SPOOL, &mark, &marklen, &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    char after[SPOOL_NAME_MAX + 1] = "";
    if (mark && marklen <= SPOOL_NAME_MAX)
        memcpy(after, mark, marklen), after[marklen] = '\0';
    free(mark);
    char **names;
    size_t n;
    if (spool_list(register_dir, after, &names, &n) != 0)
        return audit_errorf(err, errlen, "cannot read the audit spool: %s", strerror(errno));
    struct audit_leaf *leaves = calloc(n ? n : 1, sizeof *leaves);
    char(*buf)[AUDIT_LEAF_MAX] = calloc(n ? n : 1, AUDIT_LEAF_MAX);
    size_t good = 0;
    for (size_t i = 0; leaves && buf && i < n; i++) {
        size_t len;
        if (spool_read(register_dir, names[i], buf[good], &len))
            leaves[good] = (struct audit_leaf){buf[good], len, NULL}, good++;
        else
            log_warn("audit spool: a file that is not a leaf is skipped", "file=%s", names[i]);
    }
    int rc = 0;
    uint64_t first;
    if (!leaves || !buf)
        rc = audit_errorf(err, errlen, "out of memory");
    else if (n && audit_log_append_mark(log, leaves, good, META_SPOOL, names[n - 1],
                                        strlen(names[n - 1]), &first, &serr) != ST_OK)
        rc = audit_errorf(err, errlen, "%s", serr.msg);
    if (rc == 0) {
        spool_remove(register_dir, names, n);
        *appended = (unsigned)good;
    }
    free(leaves);
    free(buf);
    free_names(names, n);
    return rc;
}

static int spool_write(const char *register_dir, const char *leaf, size_t len, char *err,
                       size_t errlen)
{
    char dir[600], path[700], tmp[720], name[SPOOL_NAME_MAX + 1], rnd[AUDIT_TXID_LEN + 1];
    snprintf(dir, sizeof dir, "%s/audit", register_dir);
    mkdir(dir, 0700);
    spool_path(register_dir, NULL, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return audit_errorf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (audit_txid(rnd) != 0)
        return audit_errorf(err, errlen, "no random bytes for the spool file's name");
    rnd[16] = '\0';
    snprintf(name, sizeof name, "%020llu-%s" SPOOL_SUFFIX,
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec, rnd);
    spool_path(register_dir, name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return audit_errorf(err, errlen, "cannot write to the audit spool %s: %s", dir,
                            strerror(errno));
    bool ok = write(fd, leaf, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
        return audit_errorf(err, errlen, "cannot write to the audit spool %s: %s", dir,
                            strerror(errno));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int audit_admin_record(const char *register_dir, const char *op, const char *target,
                       const char *purpose, char *err, size_t errlen)
{
    struct audit_record r = {.time_ms = now_ms(), .result = 200};
    snprintf(r.agency, sizeof r.agency, "%s", AUDIT_BY_CLI);
    snprintf(r.op, sizeof r.op, "%s", op);
    snprintf(r.purpose, sizeof r.purpose, "%s", purpose && *purpose ? purpose : op);
    snprintf(r.target, sizeof r.target, "%s", target ? target : "");
    char leaf[AUDIT_LEAF_MAX];
    int len = audit_txid(r.txid) == 0 ? audit_leaf_format(&r, leaf, sizeof leaf) : -1;
    if (len < 0)
        return audit_errorf(err, errlen, "the act could not be written as an audit leaf");
    return spool_write(register_dir, leaf, (size_t)len, err, errlen);
}

int audit_cli_record(struct reg *r, const char *register_dir, const char *op, const char *hn,
                     const char *purpose, int result, char *err, size_t errlen)
{
    struct audit_record rec = {.time_ms = now_ms(), .result = result};
    snprintf(rec.agency, sizeof rec.agency, "%s", AUDIT_BY_CLI);
    snprintf(rec.op, sizeof rec.op, "%s", op);
    snprintf(rec.purpose, sizeof rec.purpose, "%s", purpose);
    rec.has_subject = hn && hn_is_well_formed(hn);
    if (rec.has_subject)
        audit_subject_of(store_keyring(reg_store(r)), hn, rec.subject);
    char leaf[AUDIT_LEAF_MAX];
    int n = audit_txid(rec.txid) == 0 ? audit_leaf_format(&rec, leaf, sizeof leaf) : -1;
    if (n < 0)
        return audit_errorf(err, errlen, "the command could not be written as an audit leaf");
    struct audit_log *log = NULL;
    struct st_err serr;
    struct audit_leaf l = {leaf, (size_t)n, rec.has_subject ? rec.subject : NULL};
    uint64_t first;
    unsigned drained = 0;
    int rc = open_log(register_dir, &log, err, errlen);
    if (rc == 0 && audit_log_append(log, &l, 1, &first, &serr) != ST_OK)
        rc = audit_errorf(err, errlen, "%s", serr.msg);
    if (rc == 0)
        rc = audit_spool_drain(register_dir, log, &drained, err, errlen);
    audit_log_close(log);
    return rc;
}

bool audit_register_busy(const char *register_dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/audit/db/LOCK", register_dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* RocksDB's lock */
    bool busy = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return busy;
}

int audit_spool_flush(const char *register_dir, unsigned *appended, char *err, size_t errlen)
{
    struct audit_log *log = NULL;
    *appended = 0;
    int rc = open_log(register_dir, &log, err, errlen);
    if (rc == 0)
        rc = audit_spool_drain(register_dir, log, appended, err, errlen);
    audit_log_close(log);
    return rc;
}

/* ---- checkpoints ----------------------------------------------------------------------- */

static void publish(struct audit *a, char *text, size_t len, uint64_t size)
{
    pthread_mutex_lock(&a->lock);
    free(a->checkpoint);
    a->checkpoint = text;
    a->checkpoint_len = len;
    a->signed_size = size;
    a->have_checkpoint = true;
    pthread_mutex_unlock(&a->lock);
}

/* Signs the tree when it grew since the last checkpoint (or none was signed). */
static int checkpoint_now(struct audit *a, char *err, size_t errlen)
{
    struct st_err serr;
    if (a->folder && audit_folder_settle(a->folder, true, &serr) != ST_OK)
        return audit_errorf(err, errlen, "the audit fold is failing: %s", serr.msg);
    struct audit_checkpoint cp;
    audit_log_head(a->log, &cp.size, cp.root);
    pthread_mutex_lock(&a->lock);
    bool due = !a->have_checkpoint || cp.size > a->signed_size;
    pthread_mutex_unlock(&a->lock);
    if (!due)
        return 0;
    snprintf(cp.origin, sizeof cp.origin, "%s", a->origin);
    char *text = malloc(AUDIT_NOTE_MAX);
    if (!text)
        return audit_errorf(err, errlen, "out of memory");
    uint8_t proof[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t nproof = 0;
    int len = 0;
    if (a->key_signed && a->key_size < cp.size &&
        audit_log_consistency(a->log, a->key_size, cp.size, proof, &nproof, &serr) != ST_OK)
        len = audit_errorf(err, errlen,
                           "cannot prove the log grew from the tree of %" PRIu64 " leaves: %s",
                           a->key_size, serr.msg);
    if (len == 0)
        len = audit_checkpoint_sign(&cp, &a->signer, (const uint8_t(*)[AUDIT_HASH_LEN])proof,
                                    nproof, text, AUDIT_NOTE_MAX, err, errlen);
    if (len > 0) {
        a->key_size = cp.size;
        a->key_signed = true;
    }
    if (len > 0 && audit_log_meta_put(a->log, META_CHECKPOINT, text, (size_t)len, &serr) != ST_OK)
        len = audit_errorf(err, errlen, "cannot store the checkpoint: %s", serr.msg);
    if (len < 0) {
        free(text);
        return -1;
    }
    publish(a, text, (size_t)len, cp.size);
    return 0;
}

static void drain_spool(struct audit *a)
{
    char err[300], clean[300];
    unsigned n = 0;
    unsigned long long failures;
    bool failed = audit_spool_drain(a->dir, a->log, &n, err, sizeof err) != 0;
    switch (log_streak_note(&a->spool_streak, failed, &failures)) {
    case LOG_STREAK_FAILING:
        log_error("audit: the spool of administrative acts could not be appended",
                  "error=\"%s\" failures=%llu", log_clean(err, clean, sizeof clean), failures);
        break;
    case LOG_STREAK_RECOVERED:
        log_info("audit: the spool of administrative acts is appended again", "failures=%llu",
                 failures);
        break;
    case LOG_STREAK_QUIET:
        break;
    }
    if (n)
        log_info("audit: administrative acts appended from the spool", "acts=%u", n);
}

/* The checkpoint's outcome, through its streak. */
static void note_checkpoint(struct audit *a, bool failed, const char *err)
{
    char clean[300];
    unsigned long long failures;
    switch (log_streak_note(&a->sign_streak, failed, &failures)) {
    case LOG_STREAK_FAILING:
        log_error("audit: no checkpoint could be signed", "error=\"%s\" failures=%llu",
                  log_clean(err, clean, sizeof clean), failures);
        break;
    case LOG_STREAK_RECOVERED:
        log_info("audit: checkpoints are signed again", "failures=%llu", failures);
        break;
    case LOG_STREAK_QUIET:
        break;
    }
}

static void *checkpointer_main(void *arg)
{
    struct audit *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += a->opt.checkpoint_ms / 1000;
        until.tv_nsec += (long)(a->opt.checkpoint_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        while (!a->stopping && pthread_cond_timedwait(&a->wake, &a->lock, &until) == 0)
            ;
        pthread_mutex_unlock(&a->lock);
        drain_spool(a);
        char err[300];
        bool failed = checkpoint_now(a, err, sizeof err) != 0;
        note_checkpoint(a, failed, err);
        pthread_mutex_lock(&a->lock);
        a->sign_failures += failed;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- the journals ------------------------------------------------------------------------ */

static void journal_path(const struct audit *a, unsigned index, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/audit/" JOURNAL_DIR "/" JOURNAL_PREFIX "%u", a->dir, index);
}

/* At open: what each journal holds beyond its mark (answered, not yet in the
 * tree when hudumad stopped or crashed) is folded into the tree. */
static int recover_journals(struct audit *a, char *err, size_t errlen)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/audit/" JOURNAL_DIR, a->dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT
                   ? 0
                   : audit_errorf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
    uint64_t leaves = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)) != 0)
            continue;
        unsigned long index = strtoul(e->d_name + strlen(JOURNAL_PREFIX), &end, 10);
        if (*end || index >= AUDIT_JOURNALS_MAX)
            continue;
        struct st_err serr;
        char path[700];
        journal_path(a, (unsigned)index, path, sizeof path);
        if (audit_journal_recover(a->log, path, (unsigned)index, &leaves, &serr) != ST_OK)
            rc = audit_errorf(err, errlen, "the audit journal %s cannot be folded: %s", e->d_name,
                              serr.msg);
    }
    closedir(d);
    struct st_err serr;
    if (rc == 0 && leaves && audit_log_sync(a->log, &serr) != ST_OK)
        rc = audit_errorf(err, errlen, "%s", serr.msg);
    if (rc == 0 && leaves)
        log_warn("audit: leaves the journals held beyond the tree were folded in (the last stop "
                 "was not clean)",
                 "leaves=%llu", (unsigned long long)leaves);
    return rc;
}

/* At start: a journal for each ring, from where its mark says. */
static int open_journals(struct audit *a, unsigned n, char *err, size_t errlen)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/audit/" JOURNAL_DIR, a->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return audit_errorf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    a->journals = calloc(n, sizeof *a->journals);
    if (!a->journals)
        return audit_errorf(err, errlen, "out of memory");
    a->njournals = n;
    for (unsigned i = 0; i < n; i++) {
        struct audit_journal_pos at, was;
        struct st_err serr;
        char path[700], name[32];
        unsigned char val[16];
        journal_path(a, i, path, sizeof path);
        audit_journal_mark_name(i, name);
        if (audit_journal_mark(a->log, i, &at, &serr) != ST_OK)
            return audit_errorf(err, errlen, "%s", serr.msg);
        was = at;
        if (audit_journal_open(path, i, (uint64_t)a->opt.journal_mb << 20, &at, &a->journals[i],
                               &serr) != ST_OK)
            return audit_errorf(err, errlen, "%s", serr.msg);
        audit_journal_mark_put(&at, val);
        if ((at.offset != was.offset || at.seq != was.seq || at.offset == 0) &&
            audit_log_meta_put(a->log, name, val, sizeof val, &serr) != ST_OK)
            return audit_errorf(err, errlen, "%s", serr.msg);
        audit_folder_attach(a->folder, a->journals[i]);
    }
    return 0;
}

/* ---- opening: the log, its origin, its last checkpoint, the signer ----------------------- */

static int load_origin(struct audit *a, char *err, size_t errlen)
{
    char *val = NULL;
    size_t len = 0;
    struct st_err serr;
    if (audit_log_meta_get(a->log, META_ORIGIN, &val, &len, &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    if (val && len > 0 && len <= AUDIT_ORIGIN_MAX) {
        memcpy(a->origin, val, len);
        a->origin[len] = '\0';
        free(val);
        return 0;
    }
    free(val);
    char id[AUDIT_TXID_LEN + 1];
    if (audit_txid(id) != 0)
        return audit_errorf(err, errlen, "no random bytes for the log's name");
    id[16] = '\0';
    snprintf(a->origin, sizeof a->origin, "huduma.appliance/audit/%s", id);
    if (audit_log_meta_put(a->log, META_ORIGIN, a->origin, strlen(a->origin), &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    return 0;
}

/* The last checkpoint signed must still describe the tree. */
static int check_last_checkpoint(struct audit *a, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    struct st_err serr;
    if (audit_log_meta_get(a->log, META_CHECKPOINT, &text, &len, &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    if (!text)
        return 0;
    struct audit_note note;
    char why[256];
    uint8_t root[AUDIT_HASH_LEN];
    uint64_t size;
    audit_log_head(a->log, &size, root);
    int rc = 0;
    if (audit_note_parse(text, len, &note, why, sizeof why) != 0)
        rc = audit_errorf(err, errlen, "the stored checkpoint is malformed: %s", why);
    else if (strcmp(note.cp.origin, a->origin) != 0)
        rc = audit_errorf(err, errlen, "the stored checkpoint names another log (%s)",
                          note.cp.origin);
    else if (note.cp.size > size)
        rc = audit_errorf(
            err, errlen,
            "the audit log has %llu leaves but its last checkpoint signed %llu: it was "
            "truncated",
            (unsigned long long)size, (unsigned long long)note.cp.size);
    else if (audit_log_root_at(a->log, note.cp.size, root, &serr) != ST_OK)
        rc = audit_errorf(err, errlen, "%s", serr.msg);
    else if (memcmp(root, note.cp.root, AUDIT_HASH_LEN) != 0)
        rc =
            audit_errorf(err, errlen,
                         "the audit log's first %llu leaves no longer hash to the root of its last "
                         "checkpoint: it was rewritten",
                         (unsigned long long)note.cp.size);
    if (rc == 0)
        publish(a, text, len, note.cp.size);
    else
        free(text);
    return rc;
}

static void log_signer(struct audit *a)
{
    struct audit_key *k = NULL;
    char id[9] = "?";
    if (audit_key_from_pem(a->signer.pem, strlen(a->signer.pem), &k, NULL, 0) == 0)
        audit_key_id_hex(k, id);
    audit_key_free(k);
    log_info("audit: checkpoints are signed with the register's audit signing key",
             "key_id=%s origin=%s", id, a->origin);
}

/* At start: a leaf for a configuration that differs from the last one recorded. */
static int note_config(struct audit *a, const char *sha, char *err, size_t errlen)
{
    char *last = NULL;
    size_t len = 0;
    struct st_err serr;
    if (audit_log_meta_get(a->log, META_CONFIG, &last, &len, &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    bool same = last && len == strlen(sha) && memcmp(last, sha, len) == 0;
    free(last);
    if (same)
        return 0;
    struct audit_record r = {.time_ms = now_ms(), .result = 200};
    snprintf(r.agency, sizeof r.agency, "%s", AUDIT_BY_DAEMON);
    snprintf(r.op, sizeof r.op, "config_change");
    snprintf(r.purpose, sizeof r.purpose, "hudumad started with a new configuration");
    snprintf(r.target, sizeof r.target, "%s", sha);
    char leaf[AUDIT_LEAF_MAX];
    int n = audit_txid(r.txid) == 0 ? audit_leaf_format(&r, leaf, sizeof leaf) : -1;
    struct audit_leaf l = {leaf, n > 0 ? (size_t)n : 0, NULL};
    uint64_t first;
    if (n < 0 ||
        audit_log_append_mark(a->log, &l, 1, META_CONFIG, sha, strlen(sha), &first, &serr) != ST_OK)
        return audit_errorf(err, errlen, "cannot record the configuration change: %s",
                            n < 0 ? "leaf" : serr.msg);
    log_info("audit: configuration change recorded", "leaf=%llu sha256=%s",
             (unsigned long long)first, sha);
    return 0;
}

int audit_open(const char *register_dir, struct reg *r, const struct audit_options *o,
               const struct audit_signer *signer, const char *config_sha256, struct audit **out,
               char *err, size_t errlen)
{
    struct audit *a = calloc(1, sizeof *a);
    if (!a)
        return audit_errorf(err, errlen, "out of memory");
    snprintf(a->dir, sizeof a->dir, "%s", register_dir);
    a->reg = r;
    a->opt = *o;
    a->spool_streak = (struct log_streak)LOG_STREAK(FAILURE_LOG_MS);
    a->sign_streak = (struct log_streak)LOG_STREAK(FAILURE_LOG_MS);
    if (!a->opt.checkpoint_ms)
        a->opt.checkpoint_ms = 1000;
    if (!a->opt.journal_mb)
        a->opt.journal_mb = AUDIT_JOURNAL_MB;
    a->kr = store_keyring(reg_store(r));
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = open_log(register_dir, &a->log, err, errlen);
    if (rc == 0)
        rc = recover_journals(a, err, errlen);
    if (rc == 0)
        rc = load_origin(a, err, errlen);
    if (rc == 0)
        rc = check_last_checkpoint(a, err, errlen);
    if (rc == 0) {
        a->signer = *signer;
        log_signer(a);
    }
    if (rc == 0 && a->opt.enabled)
        rc = note_config(a, config_sha256, err, errlen);
    if (rc == 0)
        drain_spool(a);
    if (rc == 0)
        rc = checkpoint_now(a, err, errlen);
    if (rc != 0) {
        audit_close(a);
        return -1;
    }
    a->opened = true;
    if (!a->opt.enabled)
        log_warn("audit: LOGGING IS OFF ([audit] enabled = false): requests leave no record", NULL);
    *out = a;
    return 0;
}

int audit_start(struct audit *a, unsigned nrings, void (*after_sync)(void *ctx), void *ctx,
                char *err, size_t errlen)
{
    struct st_err serr;
    if (audit_folder_start(a->log, after_sync, ctx, &a->folder, &serr) != ST_OK)
        return audit_errorf(err, errlen, "%s", serr.msg);
    if (a->opt.enabled && open_journals(a, nrings, err, errlen) != 0)
        return -1;
    int e = pthread_create(&a->thread, NULL, checkpointer_main, a);
    if (e != 0)
        return audit_errorf(err, errlen, "cannot start the checkpointer: %s", strerror(e));
    pthread_setname_np(a->thread, "hudumad-ckpt");
    a->thread_started = true;
    return 0;
}

void audit_stop(struct audit *a)
{
    if (!a || !a->opened)
        return;
    if (a->thread_started) { /* the checkpointer first: it settles with the fold */
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
        a->thread_started = false;
    }
    struct audit_fold_stats st = {0};
    audit_folder_stop(a->folder, &st); /* after the rings: every written leaf is folded */
    a->folder = NULL;
    if (st.chunks)
        log_info("audit: leaves written and folded",
                 "leaves=%llu writes=%llu folds=%llu syncs=%llu", (unsigned long long)st.leaves,
                 (unsigned long long)st.chunks, (unsigned long long)st.folds,
                 (unsigned long long)st.syncs);
    char err[300], clean[300];
    if (checkpoint_now(a, err, sizeof err) != 0)
        log_error("audit: no last checkpoint could be signed", "error=\"%s\"",
                  log_clean(err, clean, sizeof clean));
}

void audit_close(struct audit *a)
{
    if (!a)
        return;
    audit_stop(a);
    for (unsigned i = 0; i < a->njournals; i++)
        audit_journal_close(a->journals[i]);
    free(a->journals);
    audit_log_close(a->log);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->wake);
    free(a->checkpoint);
    free(a);
}

bool audit_enabled(const struct audit *a)
{
    return a && a->opt.enabled;
}

/* ---- requests ------------------------------------------------------------------------ */

/* src into dst (cap bytes), cut to fit; no printf: this runs for every answer. */
static void copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int audit_submit(struct audit *a, struct audit_journal *j, const struct audit_request *req)
{
    struct audit_record r = {.time_ms = now_ms(), .result = req->status};
    copy_field(r.agency, sizeof r.agency, req->agency);
    copy_field(r.op, sizeof r.op, req->op ? req->op : "unknown");
    copy_field(r.purpose, sizeof r.purpose, req->purpose);
    copy_field(r.txid, sizeof r.txid, req->txid);
    r.has_subject = req->hn[0] != '\0';
    if (r.has_subject)
        audit_subject_of(a->kr, req->hn, r.subject);
    char leaf[AUDIT_LEAF_MAX];
    int n = audit_leaf_format(&r, leaf, sizeof leaf);
    if (n < 0) /* every field is bounded to fit: not reached */
        return -1;
    return audit_journal_add(j, leaf, (size_t)n, r.has_subject ? r.subject : NULL) == ST_OK ? 0
                                                                                            : -1;
}

struct audit_journal *audit_journal_of(struct audit *a, unsigned ring)
{
    return ring < a->njournals ? a->journals[ring] : NULL;
}

void audit_push(struct audit *a, struct audit_chunk *c)
{
    audit_folder_push(a->folder, c);
}

struct audit_log *audit_log_of(struct audit *a, bool durable)
{
    struct st_err serr;
    if (a->folder && audit_folder_settle(a->folder, durable, &serr) != ST_OK) {
        char clean[300];
        log_error("audit: the tree lags its journals: the fold is failing", "error=\"%s\"",
                  log_clean(serr.msg, clean, sizeof clean));
    }
    return a->log;
}

const struct keyring *audit_keyring(struct audit *a)
{
    return a->kr;
}

char *audit_latest_checkpoint(struct audit *a, size_t *len)
{
    pthread_mutex_lock(&a->lock);
    char *copy = a->checkpoint ? malloc(a->checkpoint_len + 1) : NULL;
    if (copy) {
        memcpy(copy, a->checkpoint, a->checkpoint_len);
        copy[a->checkpoint_len] = '\0';
        *len = a->checkpoint_len;
    }
    pthread_mutex_unlock(&a->lock);
    return copy;
}

void audit_metrics(struct audit *a, struct audit_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->enabled = a->opt.enabled;
    if (a->log) {
        uint8_t root[AUDIT_HASH_LEN];
        audit_log_head(a->log, &out->tree_leaves, root);
    }
    pthread_mutex_lock(&a->lock);
    out->checkpoint_leaves = a->have_checkpoint ? a->signed_size : 0;
    out->checkpoint_failures = a->sign_failures;
    pthread_mutex_unlock(&a->lock);
    if (a->folder)
        audit_folder_stats(a->folder, &out->fold);
}
