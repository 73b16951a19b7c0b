/*
 * tests/fuzz/fuzz_audit_journal.c - libFuzzer target for reading an audit
 * journal back after a crash (audit_journal_scan(), storage/audit_journal.c).
 *
 * The input is one byte that picks where reading starts (in one of the first
 * laps) and with which sequence number, then the start of a 64 KiB journal
 * file (the rest zeros).  Reading must succeed and hand over
 * only leaves of at most AUDIT_LEAF_MAX bytes, numbered without a gap from
 * the start (the end's sequence number is the start's plus the leaves read),
 * never further than one lap from where it began; reading again from where it
 * ended must find nothing.  Then the leaves found, written through a
 * journal's own writer (one kept from input to input, in laps), must read
 * back identical.  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage.h"

#define CAP (16 * AUDIT_JOURNAL_BLOCK)

static void check(int ok)
{
    if (!ok)
        abort();
}

struct found {
    size_t n, bytes;
    struct audit_leaf leaves[2048];
    uint8_t data[2 * CAP];
};

static int keep(void *ctx, struct audit_chunk *c)
{
    struct found *f = ctx;
    for (size_t i = 0; i < c->n; i++) {
        const struct audit_leaf *l = &c->leaves[i];
        check(l->len <= AUDIT_LEAF_MAX && f->n < 2048);
        check(f->bytes + l->len + AUDIT_SUBJECT_LEN <= sizeof f->data);
        uint8_t *d = f->data + f->bytes;
        if (l->subject)
            memcpy(d, l->subject, AUDIT_SUBJECT_LEN);
        memcpy(d + AUDIT_SUBJECT_LEN, l->data, l->len);
        f->leaves[f->n++] =
            (struct audit_leaf){d + AUDIT_SUBJECT_LEN, l->len, l->subject ? d : NULL};
        f->bytes += AUDIT_SUBJECT_LEN + l->len;
    }
    return 0;
}

static int none(void *ctx, struct audit_chunk *c)
{
    (void)ctx;
    check(c->n == 0);
    return 0;
}

static char path[256], again[300];
static struct audit_journal *writer; /* the round trip's journal, kept: making one costs a sync */

static void files(void)
{
    if (path[0])
        return;
    const char *tmp = getenv("TMPDIR");
    if (!tmp) /* memory: the writer's synced writes cost nothing there */
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/fuzz_journal.XXXXXX", tmp);
    int fd = mkstemp(path);
    check(fd >= 0);
    close(fd);
    snprintf(again, sizeof again, "%s.again", path);
    struct audit_journal_pos at = {0, 0};
    struct st_err err;
    check(audit_journal_open(again, 0, CAP, &at, &writer, &err) == ST_OK);
    unlink(again); /* the open descriptor keeps it; nothing is left behind */
}

static void write_input(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    check(f != NULL);
    static uint8_t image[CAP];
    memset(image, 0, sizeof image);
    memcpy(image, data, size < CAP ? size : CAP);
    check(fwrite(image, 1, CAP, f) == CAP);
    fclose(f);
}

/* The leaves, written through a journal's writer, read back the same. */
static void round_trip(const struct found *f)
{
    struct audit_journal_pos from = audit_journal_tail(writer);
    struct st_err err;
    size_t written = 0;
    for (size_t i = 0; i < f->n; i++) {
        check(audit_journal_add(writer, f->leaves[i].data, f->leaves[i].len,
                                f->leaves[i].subject) == ST_OK);
        while (audit_journal_queued(writer)) { /* a write may only end a lap */
            struct audit_chunk *c = NULL;
            check(audit_journal_write_sync(writer, &c, &err) == ST_OK);
            written += c ? c->n : 0;
            audit_chunk_free(c);
            audit_journal_reclaim(writer, audit_journal_tail(writer).offset); /* reusable */
        }
    }
    check(written == f->n);
    static struct found back;
    back.n = back.bytes = 0;
    char fd_path[64];
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", audit_journal_fd(writer));
    check(audit_journal_scan(fd_path, 0, &from, keep, &back, &err) == ST_OK);
    check(back.n == f->n);
    for (size_t i = 0; i < f->n; i++) {
        check(back.leaves[i].len == f->leaves[i].len);
        check(memcmp(back.leaves[i].data, f->leaves[i].data, f->leaves[i].len) == 0);
        check((back.leaves[i].subject == NULL) == (f->leaves[i].subject == NULL));
        check(!f->leaves[i].subject ||
              memcmp(back.leaves[i].subject, f->leaves[i].subject, AUDIT_SUBJECT_LEN) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    files();
    write_input(data + 1, size - 1);
    uint8_t pick = data[0];
    struct audit_journal_pos from = {(uint64_t)(pick & 7) * CAP, (uint64_t)(pick >> 3)};
    if (pick & 0x80) /* else from the start of a lap */
        from.offset += (uint64_t)(pick & 0x78) * 8;
    struct audit_journal_pos at = from;
    static struct found f;
    f.n = f.bytes = 0;
    struct st_err err;
    check(audit_journal_scan(path, 0, &at, keep, &f, &err) == ST_OK);
    check(at.seq == from.seq + f.n);
    check(at.offset >= from.offset && at.offset - from.offset <= 2 * (uint64_t)CAP);
    struct audit_journal_pos end = at;
    check(audit_journal_scan(path, 0, &end, none, NULL, &err) == ST_OK);
    check(end.offset == at.offset && end.seq == at.seq);
    round_trip(&f);
    return 0;
}
