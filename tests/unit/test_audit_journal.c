/*
 * tests/unit/test_audit_journal.c - the audit journals and the fold
 * (storage/audit_journal.c, storage/audit_fold.c), on real files and a real
 * RocksDB.
 *
 * A journal must give back, after a "crash" (reading the file afresh from a
 * mark), exactly the leaves whose writes completed, in order, with their
 * subjects: across partial blocks rewritten by the next write, across the
 * end of the file (laps), and not one more: a torn or corrupted record ends
 * it, a failed write leaves nothing, a probe write (after a failed one)
 * changes nothing, and records of an older lap are never read as new.  A write never overwrites
 * what the fold has not reclaimed. The fold must put every pushed leaf in the tree, mark each
 * journal's position in the same batch, and let the journal reuse the space only once that is
 * synced (and a settle of a log that folded nothing since its last sync costs no fsync);
 * after a crash, what a journal holds beyond its mark is folded in, once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage.h"
#include "tests/unit/scratch_dir.h"

#define CAP (16 * AUDIT_JOURNAL_BLOCK) /* the smallest journal: 64 KiB */

struct fx {
    char dir[256], path[300];
    struct audit_journal *j;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(scratch_dir_make(f->dir, sizeof f->dir, "test_audit_journal"), 0);
    snprintf(f->path, sizeof f->path, "%s/ring-0", f->dir);
    struct audit_journal_pos at = {0, 0};
    struct st_err err;
    assert_int_equal(audit_journal_open(f->path, 0, CAP, &at, &f->j, &err), ST_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    audit_journal_close(f->j);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

/* Leaf i: "leaf <i>" padded to a length that varies with i; subject every 3rd. */
static size_t leaf_of(unsigned i, char *out, uint8_t subject[AUDIT_SUBJECT_LEN], bool *has)
{
    size_t len = (size_t)snprintf(out, 600, "leaf %u ", i);
    size_t want = 20 + (i * 37) % 400;
    for (; len < want; len++)
        out[len] = (char)('a' + (i + len) % 26);
    memset(subject, (int)(i & 0xff), AUDIT_SUBJECT_LEN);
    *has = i % 3 == 0;
    return len;
}

static void add(struct fx *f, unsigned i)
{
    char leaf[600];
    uint8_t subject[AUDIT_SUBJECT_LEN];
    bool has;
    size_t len = leaf_of(i, leaf, subject, &has);
    assert_int_equal(audit_journal_add(f->j, leaf, len, has ? subject : NULL), ST_OK);
}

/* Writes what is queued; the chunk's leaves must be `first`.. in order. */
static struct audit_journal_pos write_all(struct fx *f, unsigned first, unsigned n)
{
    struct st_err err;
    struct audit_chunk *c = NULL;
    unsigned done = 0;
    while (done < n) {
        assert_int_equal(audit_journal_write_sync(f->j, &c, &err), ST_OK);
        for (size_t k = 0; c && k < c->n; k++) {
            char leaf[600];
            uint8_t subject[AUDIT_SUBJECT_LEN];
            bool has;
            size_t len = leaf_of(first + done, leaf, subject, &has);
            assert_int_equal(c->leaves[k].len, len);
            assert_memory_equal(c->leaves[k].data, leaf, len);
            assert_true((c->leaves[k].subject != NULL) == has);
            done++;
        }
        audit_chunk_free(c);
    }
    assert_int_equal(audit_journal_queued(f->j), 0);
    return audit_journal_tail(f->j);
}

struct seen {
    unsigned first, n;
    struct audit_journal_pos last_end;
};

/* A scan's chunks must be leaves first, first + 1, ... */
static int check_chunk(void *ctx, struct audit_chunk *c)
{
    struct seen *s = ctx;
    for (size_t k = 0; k < c->n; k++) {
        char leaf[600];
        uint8_t subject[AUDIT_SUBJECT_LEN];
        bool has;
        size_t len = leaf_of(s->first + s->n, leaf, subject, &has);
        assert_int_equal(c->leaves[k].len, len);
        assert_memory_equal(c->leaves[k].data, leaf, len);
        assert_true((c->leaves[k].subject != NULL) == has);
        if (has)
            assert_memory_equal(c->leaves[k].subject, subject, AUDIT_SUBJECT_LEN);
        s->n++;
    }
    s->last_end = c->end;
    return 0;
}

static unsigned scan_from(struct fx *f, struct audit_journal_pos from, unsigned first,
                          struct audit_journal_pos *end)
{
    struct seen s = {first, 0, from};
    struct st_err err;
    *end = from;
    assert_int_equal(audit_journal_scan(f->path, 0, end, check_chunk, &s, &err), ST_OK);
    return s.n;
}

static void test_write_and_read_back(void **state)
{
    struct fx *f = *state;
    struct audit_journal_pos start = audit_journal_tail(f->j), end;
    for (unsigned i = 0; i < 7; i++)
        add(f, i);
    struct audit_journal_pos mid = write_all(f, 0, 7);
    for (unsigned i = 7; i < 30; i++) /* the next write rewrites mid's partial block */
        add(f, i);
    struct audit_journal_pos tail = write_all(f, 7, 23);
    assert_int_equal(scan_from(f, start, 0, &end), 30);
    assert_int_equal(end.offset, tail.offset);
    assert_int_equal(end.seq, 30);
    assert_int_equal(scan_from(f, mid, 7, &end), 23); /* from a mark */
    assert_int_equal(end.offset, tail.offset);
}

static void test_corruption_ends_the_journal(void **state)
{
    struct fx *f = *state;
    struct audit_journal_pos start = audit_journal_tail(f->j), end;
    for (unsigned i = 0; i < 10; i++)
        add(f, i);
    struct audit_journal_pos mid = write_all(f, 0, 10);
    for (unsigned i = 10; i < 20; i++)
        add(f, i);
    write_all(f, 10, 10);
    /* a byte of leaf 12's record changes (a torn write): 10 and 11 remain */
    int fd = open(f->path, O_RDWR);
    char leaf[600];
    uint8_t subject[AUDIT_SUBJECT_LEN];
    bool has;
    uint64_t at = mid.offset;
    for (unsigned i = 10; i < 12; i++)
        at += (40 + leaf_of(i, leaf, subject, &has) + 7) & ~7ul;
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, (off_t)at + 45), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)at + 45), 1);
    close(fd);
    assert_int_equal(scan_from(f, start, 0, &end), 12);
    assert_int_equal(end.offset, at);
    assert_int_equal(end.seq, 12);
}

static void test_failed_write_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct audit_journal_pos start = audit_journal_tail(f->j), end;
    for (unsigned i = 0; i < 5; i++)
        add(f, i);
    write_all(f, 0, 5);
    for (unsigned i = 100; i < 104; i++) /* these fail */
        add(f, i);
    struct audit_journal_write w;
    assert_true(audit_journal_prepare(f->j, &w));
    assert_int_equal(w.leaves, 4);
    assert_true(audit_journal_busy(f->j));
    assert_false(audit_journal_prepare(f->j, &w)); /* one write at a time */
    struct audit_chunk *c = NULL;
    struct st_err err;
    assert_int_equal(audit_journal_complete(f->j, -EIO, &c, &err), ST_IO);
    assert_null(c);
    assert_non_null(strstr(err.msg, "write failed"));
    assert_int_equal(audit_journal_queued(f->j), 0);
    for (unsigned i = 5; i < 9; i++)
        add(f, i);
    write_all(f, 5, 4);
    assert_int_equal(scan_from(f, start, 0, &end), 9); /* 0..8: numbers without a gap */
    assert_int_equal(end.seq, 9);
}

/* Writes what a probe prepared (as the ring does), and completes it with `res`
 * (0: the bytes written). */
static int probe(struct fx *f, long res, struct audit_journal_write *w)
{
    assert_true(audit_journal_prepare_probe(f->j, w));
    assert_int_equal(w->leaves, 0);
    assert_int_equal(w->len, AUDIT_JOURNAL_BLOCK);
    assert_int_equal(w->file_offset % AUDIT_JOURNAL_BLOCK, 0);
    ssize_t n = pwrite(audit_journal_fd(f->j), w->buf, w->len, (off_t)w->file_offset);
    assert_int_equal(n, (ssize_t)w->len);
    struct audit_chunk *c = NULL;
    struct st_err err;
    int rc = audit_journal_complete(f->j, res ? res : (long)n, &c, &err);
    assert_null(c);
    return rc;
}

static void read_file(const char *path, unsigned char *out)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, out, CAP, 0), CAP);
    close(fd);
}

/* A probe, at an empty journal or after records, rewrites the tail's block as
 * it is: the file is unchanged byte for byte, the tail does not move, a
 * failed probe changes nothing, and the next writes carry on without a gap. */
static void test_probe_rewrites_the_tail_block(void **state)
{
    struct fx *f = *state;
    static unsigned char before[CAP], after[CAP];
    struct audit_journal_pos start = audit_journal_tail(f->j), end;
    struct audit_journal_write w;
    read_file(f->path, before);
    assert_int_equal(probe(f, 0, &w), ST_OK); /* empty: the block at 0, zeros */
    read_file(f->path, after);
    assert_memory_equal(before, after, CAP);
    for (unsigned i = 0; i < 5; i++)
        add(f, i);
    struct audit_journal_pos tail = write_all(f, 0, 5);
    assert_true(tail.offset % AUDIT_JOURNAL_BLOCK != 0); /* a partial block to rewrite */
    read_file(f->path, before);
    assert_int_equal(probe(f, 0, &w), ST_OK);
    assert_int_equal(w.file_offset, tail.offset - tail.offset % AUDIT_JOURNAL_BLOCK);
    read_file(f->path, after);
    assert_memory_equal(before, after, CAP);
    assert_int_equal(audit_journal_tail(f->j).offset, tail.offset);
    assert_int_equal(audit_journal_tail(f->j).seq, tail.seq);
    assert_int_equal(probe(f, -EIO, &w), ST_IO); /* the disk still failing */
    assert_int_equal(audit_journal_tail(f->j).offset, tail.offset);
    assert_true(audit_journal_prepare_probe(f->j, &w)); /* one write at a time */
    assert_false(audit_journal_prepare_probe(f->j, &w));
    add(f, 5);
    assert_false(audit_journal_prepare(f->j, &w));
    struct audit_chunk *c = NULL;
    struct st_err err;
    assert_int_equal(audit_journal_complete(f->j, AUDIT_JOURNAL_BLOCK, &c, &err), ST_OK);
    for (unsigned i = 6; i < 9; i++)
        add(f, i);
    write_all(f, 5, 4);
    assert_int_equal(scan_from(f, start, 0, &end), 9);
    assert_int_equal(end.seq, 9);
}

/* Many laps, the fold reclaiming as it goes; a scan from any mark gives
 * exactly what followed it, and never an older lap's records. */
static void test_laps_and_room(void **state)
{
    struct fx *f = *state;
    unsigned next = 0;
    struct audit_journal_pos marks[160];
    unsigned firsts[160];
    for (unsigned round = 0; round < 160; round++) {
        marks[round] = audit_journal_tail(f->j);
        firsts[round] = next;
        unsigned n = 10 + round % 7;
        for (unsigned i = 0; i < n; i++)
            add(f, next + i);
        write_all(f, next, n);
        next += n;
        if (round >= 2) /* the fold is two writes behind */
            audit_journal_reclaim(f->j, marks[round - 1].offset);
    }
    struct audit_journal_pos tail = audit_journal_tail(f->j), end;
    assert_true(tail.offset > 4 * CAP); /* several laps */
    assert_int_equal(scan_from(f, marks[158], firsts[158], &end), next - firsts[158]);
    assert_int_equal(end.offset, tail.offset);
    assert_int_equal(end.seq, next);
    /* nothing reclaimed past marks[158]: the next writes fill what is left, then stop */
    unsigned queued = 0;
    struct st_err err;
    struct audit_chunk *c = NULL;
    int rc = ST_OK;
    for (unsigned i = 0; rc == ST_OK && i < 2000; i++) {
        add(f, next + queued++);
        rc = audit_journal_write_sync(f->j, &c, &err);
        audit_chunk_free(c);
    }
    assert_int_equal(rc, ST_BUSY);
    assert_true(audit_journal_tail(f->j).offset - marks[158].offset <= CAP);
    audit_journal_reclaim(f->j, audit_journal_tail(f->j).offset); /* room again */
    assert_int_equal(audit_journal_write_sync(f->j, &c, &err), ST_OK);
    audit_chunk_free(c);
}

static void test_reopen_continues(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < 9; i++)
        add(f, i);
    struct audit_journal_pos at = write_all(f, 0, 9), end;
    audit_journal_close(f->j);
    struct st_err err;
    assert_int_equal(audit_journal_open(f->path, 0, CAP, &at, &f->j, &err), ST_OK);
    for (unsigned i = 9; i < 15; i++)
        add(f, i);
    write_all(f, 9, 6);
    assert_int_equal(scan_from(f, (struct audit_journal_pos){0, 0}, 0, &end), 15);
    /* another size: made anew, from offset 0 */
    audit_journal_close(f->j);
    at = end;
    assert_int_equal(audit_journal_open(f->path, 0, 2 * CAP, &at, &f->j, &err), ST_OK);
    assert_int_equal(at.offset, 0);
    assert_int_equal(at.seq, 15);
    assert_int_equal(
        audit_journal_open(f->path, 0, 1000, &at, &(struct audit_journal *){NULL}, &err),
        ST_INVALID);
}

/* ---- the fold ------------------------------------------------------------------------------ */

static int syncs_seen;
static void after_sync(void *ctx)
{
    (void)ctx;
    __atomic_add_fetch(&syncs_seen, 1, __ATOMIC_SEQ_CST);
}

static void test_fold(void **state)
{
    struct fx *f = *state;
    char dbdir[320];
    snprintf(dbdir, sizeof dbdir, "%s/db", f->dir);
    struct audit_log *log;
    struct audit_folder *fold;
    struct st_err err;
    assert_int_equal(audit_log_open(dbdir, true, false, &log, &err), ST_OK);
    assert_int_equal(audit_folder_start(log, after_sync, NULL, &fold, &err), ST_OK);
    audit_folder_attach(fold, f->j);
    unsigned next = 0;
    for (unsigned round = 0; round < 40; round++) { /* more than a lap: needs reclaiming */
        for (unsigned i = 0; i < 20; i++)
            add(f, next + i);
        next += 20;
        struct audit_chunk *c = NULL;
        int rc;
        while ((rc = audit_journal_write_sync(f->j, &c, &err)) == ST_BUSY)
            assert_int_equal(audit_folder_settle(fold, true, &err),
                             ST_OK); /* room follows a sync */
        assert_int_equal(rc, ST_OK);
        if (c)
            audit_folder_push(fold, c);
    }
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
    assert_int_equal(audit_folder_settle(fold, false, &err), ST_OK); /* folded, maybe unsynced */
    audit_log_head(log, &size, root);
    assert_int_equal(size, next);
    assert_int_equal(audit_folder_settle(fold, true, &err), ST_OK);
    audit_log_head(log, &size, root);
    assert_int_equal(size, next);
    assert_true(__atomic_load_n(&syncs_seen, __ATOMIC_SEQ_CST) >= 1);
    struct audit_fold_stats synced, idle;
    audit_folder_stats(fold, &synced);
    for (int i = 0; i < 3; i++) /* as the checkpointer of an idle log asks, each second */
        assert_int_equal(audit_folder_settle(fold, true, &err), ST_OK);
    audit_folder_stats(fold, &idle);
    assert_int_equal(idle.syncs, synced.syncs); /* nothing folded since: no fsync */
    char *leaf, want[600];
    size_t len;
    uint8_t subject[AUDIT_SUBJECT_LEN];
    bool has;
    assert_int_equal(audit_log_leaf(log, 777, &leaf, &len, &err), ST_OK);
    assert_int_equal(len, leaf_of(777, want, subject, &has));
    assert_memory_equal(leaf, want, len);
    free(leaf);
    /* the mark names where the journal's unfolded records begin: its end */
    char name[32], *val = NULL;
    audit_journal_mark_name(0, name);
    assert_string_equal(name, "journal.0");
    assert_int_equal(audit_log_meta_get(log, name, &val, &len, &err), ST_OK);
    struct audit_journal_pos mark;
    assert_int_equal(audit_journal_mark_get(val, len, &mark), ST_OK);
    free(val);
    assert_int_equal(mark.offset, audit_journal_tail(f->j).offset);
    assert_int_equal(mark.seq, next);
    struct audit_fold_stats st;
    audit_folder_stats(fold, &st);
    assert_int_equal(st.leaves, next);
    assert_int_equal(st.failed, 0);
    add(f, next); /* one more, written and pushed: the stop folds it */
    struct audit_chunk *c = NULL;
    assert_int_equal(audit_journal_write_sync(f->j, &c, &err), ST_OK);
    audit_folder_push(fold, c);
    struct audit_fold_stats final;
    audit_folder_stop(fold, &final);
    assert_int_equal(final.leaves, next + 1);
    assert_true(final.syncs > st.syncs);
    audit_log_head(log, &size, root);
    assert_int_equal(size, next + 1);
    audit_log_close(log);
}

/* A crash after the journal wrote 30 leaves and the fold took only 10: reopened,
 * the log gets the other 20 from the journal, in order, and nothing twice. */
static void test_recover_after_crash(void **state)
{
    struct fx *f = *state;
    char dbdir[320];
    snprintf(dbdir, sizeof dbdir, "%s/db", f->dir);
    struct audit_log *log;
    struct st_err err;
    assert_int_equal(audit_log_open(dbdir, true, true, &log, &err), ST_OK);
    for (unsigned i = 0; i < 10; i++)
        add(f, i);
    struct audit_chunk *c = NULL;
    assert_int_equal(audit_journal_write_sync(f->j, &c, &err), ST_OK);
    char name[32];
    unsigned char val[16];
    audit_journal_mark_name(0, name);
    audit_journal_mark_put(&c->end, val);
    struct audit_mark m = {name, val, sizeof val};
    uint64_t first, leaves = 0;
    assert_int_equal(audit_log_fold(log, c->leaves, c->n, &m, 1, &first, &err), ST_OK);
    assert_int_equal(audit_log_sync(log, &err), ST_OK);
    audit_chunk_free(c);
    for (unsigned i = 10; i < 30; i++)
        add(f, i);
    write_all(f, 10, 20); /* written, never folded: the crash */
    audit_log_close(log);
    assert_int_equal(audit_log_open(dbdir, false, true, &log, &err), ST_OK);
    assert_int_equal(audit_journal_recover(log, f->path, 0, &leaves, &err), ST_OK);
    assert_int_equal(leaves, 20);
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
    audit_log_head(log, &size, root);
    assert_int_equal(size, 30);
    for (unsigned i = 0; i < 30; i += 7) {
        char *leaf, want[600];
        size_t len;
        uint8_t subject[AUDIT_SUBJECT_LEN];
        bool has;
        assert_int_equal(audit_log_leaf(log, i, &leaf, &len, &err), ST_OK);
        assert_int_equal(len, leaf_of(i, want, subject, &has));
        assert_memory_equal(leaf, want, len);
        free(leaf);
    }
    struct audit_journal_pos mark;
    assert_int_equal(audit_journal_mark(log, 0, &mark, &err), ST_OK);
    assert_int_equal(mark.offset, audit_journal_tail(f->j).offset);
    assert_int_equal(mark.seq, 30);
    leaves = 0; /* again: nothing more */
    assert_int_equal(audit_journal_recover(log, f->path, 0, &leaves, &err), ST_OK);
    assert_int_equal(leaves, 0);
    audit_log_head(log, &size, root);
    assert_int_equal(size, 30);
    audit_log_close(log);
}

/* Leaf i of the torn-write test: "torn <i>" padded with x to len bytes. */
static void add_sized(struct fx *f, unsigned i, size_t len)
{
    char leaf[AUDIT_LEAF_MAX];
    size_t n = (size_t)snprintf(leaf, sizeof leaf, "torn %u ", i);
    memset(leaf + n, 'x', len > n ? len - n : 0);
    assert_int_equal(audit_journal_add(f->j, leaf, len, NULL), ST_OK);
}

static int count_chunk(void *ctx, struct audit_chunk *c)
{
    *(unsigned *)ctx += (unsigned)c->n;
    return 0;
}

/* A write torn by a crash (its first block never reached the disk, the rest
 * did) leaves whole records beyond the tail, numbered as the next writes will
 * be.  When the next writes end exactly where one of those records begins (a
 * block boundary), a second crash there would read it back as new, and
 * everything after it: records whose answers never left.  Reopened, the
 * journal erases what lies beyond its tail, so exactly the new writes come
 * back. */
static void test_torn_write_is_erased_on_reopen(void **state)
{
    struct fx *f = *state;
    struct st_err err;
    for (unsigned i = 0; i < 10; i++)
        add(f, i);
    struct audit_journal_pos t0 = write_all(f, 0, 10), end;
    /* records (40-byte head, 8-aligned) that end exactly at a block boundary */
    uint64_t boundary = (t0.offset / AUDIT_JOURNAL_BLOCK + 2) * AUDIT_JOURNAL_BLOCK;
    size_t lens[64], k = 0, used = 0, gap = (size_t)(boundary - t0.offset);
    while (gap - used > 600)
        lens[k++] = 200, used += 240;
    lens[k++] = gap - used - 40;
    for (size_t i = 0; i < k; i++)
        add_sized(f, 10 + (unsigned)i, lens[i]);
    for (unsigned i = 0; i < 20; i++) /* and more, beyond the boundary */
        add_sized(f, 10 + (unsigned)k + i, 200);
    struct audit_journal_write w;
    assert_true(audit_journal_prepare(f->j, &w));
    assert_true(w.file_offset + w.len > boundary + AUDIT_JOURNAL_BLOCK);
    int fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    size_t rest = w.len - AUDIT_JOURNAL_BLOCK;
    assert_int_equal(pwrite(fd, (const char *)w.buf + AUDIT_JOURNAL_BLOCK, rest,
                            (off_t)(w.file_offset + AUDIT_JOURNAL_BLOCK)),
                     (ssize_t)rest);
    close(fd);
    audit_journal_close(f->j); /* the crash: the write never completed */
    f->j = NULL;
    unsigned n = 0;
    end = t0;
    assert_int_equal(audit_journal_scan(f->path, 0, &end, count_chunk, &n, &err), ST_OK);
    assert_int_equal(n, 0); /* its first record was in the lost block */
    struct audit_journal_pos at = t0;
    assert_int_equal(audit_journal_open(f->path, 0, CAP, &at, &f->j, &err), ST_OK);
    for (size_t i = 0; i < k; i++) /* the same leaves again: they end at the boundary */
        add_sized(f, 10 + (unsigned)i, lens[i]);
    struct audit_chunk *c = NULL;
    assert_int_equal(audit_journal_write_sync(f->j, &c, &err), ST_OK);
    audit_chunk_free(c);
    struct audit_journal_pos tail = audit_journal_tail(f->j);
    assert_int_equal(tail.offset, boundary);
    audit_journal_close(f->j); /* the second crash */
    f->j = NULL;
    n = 0;
    end = t0;
    assert_int_equal(audit_journal_scan(f->path, 0, &end, count_chunk, &n, &err), ST_OK);
    assert_int_equal(n, k);
    assert_int_equal(end.offset, tail.offset);
    assert_int_equal(end.seq, 10 + k);
    at = tail;
    assert_int_equal(audit_journal_open(f->path, 0, CAP, &at, &f->j, &err), ST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write_is_erased_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_ends_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_rewrites_the_tail_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_laps_and_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_after_crash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
