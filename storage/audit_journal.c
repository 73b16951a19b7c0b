/*
 * storage/audit_journal.c - where an audit leaf becomes durable: a
 * preallocated, circular file written by one thread (a network ring of
 * hudumad), one synced write at a time, read back only after a crash.
 *
 * Why: an answer may leave only once its leaf is durable.  Handing every
 * leaf to a thread of the log's and back cost the request threads more than
 * the leaf itself (wake-ups, a third busy thread on two cores); so each
 * request thread keeps a journal of its own and makes its leaves durable
 * with its own io_uring, and the Merkle tree in RocksDB is folded from the
 * written leaves behind it (audit_fold.c), off the answer's path.
 *
 * The file: `capacity` bytes (a multiple of 4096), used as a ring of laps.
 * A position is a linear byte offset that only grows; its place in the file
 * is offset % capacity.  Records are 8-byte aligned:
 *
 *   crc32(LE32) magic(LE32) seq(LE64) len(LE16) flags(1) 0(5) subject(16) leaf(len) pad
 *
 * crc32 (zlib's) covers everything after itself up to the end of the leaf;
 * seq numbers the journal's records from 0 without a gap; flags bit 0 says
 * the subject is set.  A record never crosses the end of the file: a WRAP
 * record (or less than a header's room) ends the lap, and the next record
 * is at the start of the file.  Reading from a known position and sequence
 * number (the fold's mark in the log), records are taken while each is
 * whole, checksummed and the next in sequence: the first that is not is
 * where the journal ends.  What lies beyond it (an older lap) is never read
 * as new, since its sequence numbers do not follow.  A torn write is the
 * exception: the whole records it left past a lost block carry the numbers
 * the next writes will use, so a journal reopened after a crash erases what
 * lies beyond its tail, as far as one write reaches, before writing.
 *
 * Writing: leaves are queued in memory (audit_journal_add); a write takes
 * as many as fit (audit_journal_prepare) behind the last durable record,
 * rewriting the partial block it ends in, padded to whole blocks so that
 * the file can be opened O_DIRECT; the caller writes that buffer at that
 * offset (O_DSYNC: durable when it completes) and reports the result
 * (audit_journal_complete), which hands the written leaves back as a chunk
 * for the fold.  One write at a time: two in flight could rewrite the same
 * block out of order.  A write never reaches into what the fold has not
 * yet made durable in the log: audit_journal_reclaim() says how far it has.
 * A failed write drops its leaves (their answers are withheld) and the next
 * write starts at the same place.
 */
#include "storage/audit_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK      AUDIT_JOURNAL_BLOCK
#define HEAD       40          /* a record's header: crc, magic, seq, len, flags, subject */
#define MAGIC_LEAF 0x314a4448u /* "HDJ1" */
#define MAGIC_WRAP 0x574a4448u /* "HDJW" */
#define WRITE_MAX  (1u << 20)  /* bytes of records in one write */
/* a write's reach from the tail's block: that block, WRITE_MAX of records, the last one's spill */
#define WBUF_SIZE   (WRITE_MAX + 2 * BLOCK)
#define QUEUED_HEAD (2 + 1 + AUDIT_SUBJECT_LEN) /* a queued leaf: len, flags, subject */
#define CHUNK_MAX   256                         /* leaves in one chunk read back after a crash */

struct audit_journal {
    int fd;
    unsigned index;
    uint64_t capacity;
    uint64_t tail;              /* linear offset after the last durable record */
    uint64_t seq;               /* the next record's sequence number */
    _Atomic uint64_t reclaimed; /* records before this are in the log, durably */
    unsigned char *tail_block;  /* the durable bytes of the block `tail` is in */
    unsigned char *queue;       /* leaves waiting: QUEUED_HEAD then the leaf, each */
    size_t qlen, qcap, qn;
    bool busy;                  /* a write is in flight */
    unsigned char *wbuf;        /* its buffer (BLOCK aligned) */
    size_t wlen, wqbytes, wn;   /* its length; the queue bytes and leaves it took */
    uint64_t wtail, wseq;       /* tail and seq once it is durable */
    struct audit_chunk *wchunk; /* its leaves, for the fold */
};

static void le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t le_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static size_t record_size(size_t len)
{
    return (HEAD + len + 7) & ~(size_t)7;
}

static uint64_t floor_block(uint64_t v)
{
    return v & ~(uint64_t)(BLOCK - 1);
}

static uint64_t ceil_block(uint64_t v)
{
    return floor_block(v + BLOCK - 1);
}

/* The linear offset of the next lap's start. */
static uint64_t next_lap(uint64_t at, uint64_t capacity)
{
    return (at / capacity + 1) * capacity;
}

/* Writes a record at p (zeroed padding included); subject may be NULL. */
static void put_record(unsigned char *p, uint32_t magic, uint64_t seq, const void *leaf, size_t len,
                       const uint8_t *subject)
{
    size_t size = record_size(len);
    memset(p, 0, size);
    le_put(p + 4, magic, 4);
    le_put(p + 8, seq, 8);
    le_put(p + 16, len, 2);
    p[18] = subject ? 1 : 0;
    if (subject)
        memcpy(p + 24, subject, AUDIT_SUBJECT_LEN);
    if (len)
        memcpy(p + HEAD, leaf, len);
    le_put(p, crc32(0L, p + 4, (uInt)(HEAD - 4 + len)), 4);
}

/* ---- opening ------------------------------------------------------------------------- */

static int make_file(const char *path, uint64_t capacity, struct st_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return audit_fail(err, ST_IO, "cannot create the audit journal %s: %s", path,
                          strerror(errno));
    /* written with zeros, not only allocated: a direct write over allocated but
     * unwritten blocks must convert them, which io_uring cannot do without
     * handing the write to a kernel worker; over written blocks it need not */
    int e = posix_fallocate(fd, 0, (off_t)capacity);
    static const unsigned char zeros[1 << 16];
    for (uint64_t at = 0; e == 0 && at < capacity; at += sizeof zeros)
        if (pwrite(fd, zeros, sizeof zeros, (off_t)at) != (ssize_t)sizeof zeros)
            e = errno ? errno : EIO;
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    close(fd);
    if (e != 0)
        return audit_fail(err, ST_IO, "cannot make room for the audit journal %s: %s", path,
                          strerror(e));
    return ST_OK;
}

/* What lies beyond the tail may be the whole records of a write a crash tore
 * (its first block lost, later ones on the disk), numbered with the very
 * sequence numbers the next writes will use: a later crash after shorter
 * writes could read them back as new.  They are erased, durably, before
 * anything is written: from the tail to where one write can reach (WBUF_SIZE
 * bytes from the tail's block, never past the lap's end), keeping the durable
 * bytes of the tail's own block. */
static int erase_beyond_tail(struct audit_journal *j, const char *path, struct st_err *err)
{
    uint64_t from = j->tail;
    size_t keep = (size_t)(from % BLOCK); /* the durable bytes before the tail, in its block */
    if (j->capacity - from % j->capacity < HEAD) { /* the next write starts the next lap */
        from = next_lap(from, j->capacity);
        keep = 0;
    }
    uint64_t start = floor_block(from);
    uint64_t lap_end = next_lap(from, j->capacity);
    uint64_t end = start + WBUF_SIZE < lap_end ? start + WBUF_SIZE : lap_end;
    size_t len = (size_t)(end - start);
    memset(j->wbuf, 0, len);
    memcpy(j->wbuf, j->tail_block, keep);
    ssize_t n = pwrite(j->fd, j->wbuf, len, (off_t)(start % j->capacity));
    if (n != (ssize_t)len)
        return audit_fail(err, ST_IO, "cannot erase the audit journal %s beyond its tail: %s", path,
                          n < 0 ? strerror(errno) : "short write");
    return ST_OK;
}

int audit_journal_open(const char *path, unsigned index, uint64_t capacity,
                       struct audit_journal_pos *at, struct audit_journal **out, struct st_err *err)
{
    *out = NULL;
    if (capacity < 16 * BLOCK || capacity % BLOCK)
        return audit_fail(err, ST_INVALID,
                          "an audit journal is a multiple of 4096 bytes, 64 KiB at least");
    struct stat st;
    bool fresh = stat(path, &st) != 0 || (uint64_t)st.st_size != capacity;
    if (fresh) { /* new, or of another size: every record in it was folded (the caller's rule) */
        int rc = make_file(path, capacity, err);
        if (rc != ST_OK)
            return rc;
        at->offset = 0;
    }
    struct audit_journal *j = calloc(1, sizeof *j);
    if (!j)
        return audit_fail(err, ST_NOMEM, "out of memory");
    j->fd = open(path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
    if (j->fd < 0 && errno == EINVAL) /* a file system without direct I/O */
        j->fd = open(path, O_RDWR | O_DSYNC | O_CLOEXEC);
    j->tail_block = aligned_alloc(BLOCK, BLOCK);
    j->wbuf = aligned_alloc(BLOCK, WBUF_SIZE);
    if (j->fd < 0 || !j->tail_block || !j->wbuf) {
        int rc = j->fd < 0 ? audit_fail(err, ST_IO, "cannot open the audit journal %s: %s", path,
                                        strerror(errno))
                           : audit_fail(err, ST_NOMEM, "out of memory");
        audit_journal_close(j);
        return rc;
    }
    j->index = index;
    j->capacity = capacity;
    j->tail = at->offset;
    j->seq = at->seq;
    atomic_store(&j->reclaimed, at->offset);
    memset(j->tail_block, 0, BLOCK);
    if (at->offset % BLOCK &&
        pread(j->fd, j->tail_block, BLOCK, (off_t)(floor_block(at->offset) % capacity)) != BLOCK) {
        int rc =
            audit_fail(err, ST_IO, "cannot read the audit journal %s: %s", path, strerror(errno));
        audit_journal_close(j);
        return rc;
    }
    if (!fresh) { /* a fresh file is all zeros */
        int rc = erase_beyond_tail(j, path, err);
        if (rc != ST_OK) {
            audit_journal_close(j);
            return rc;
        }
    }
    *out = j;
    return ST_OK;
}

void audit_journal_close(struct audit_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->tail_block);
    free(j->wbuf);
    audit_chunk_free(j->wchunk); /* closed with a write in flight */
    if (j->queue)
        explicit_bzero(j->queue, j->qcap);
    free(j->queue);
    free(j);
}

int audit_journal_fd(const struct audit_journal *j)
{
    return j->fd;
}

unsigned audit_journal_index(const struct audit_journal *j)
{
    return j->index;
}

/* ---- writing ------------------------------------------------------------------------- */

/* HUDUMA_FAULT_JOURNAL_ADD=N (test builds): every Nth add runs out of memory. */
static struct store_fault add_fault = STORE_FAULT("JOURNAL_ADD");

int audit_journal_add(struct audit_journal *j, const void *leaf, size_t len, const uint8_t *subject)
{
    if (len > AUDIT_LEAF_MAX)
        return ST_INVALID;
    if (store_fault(&add_fault))
        return ST_NOMEM; /* as when the queue cannot grow, below */
    size_t need = j->qlen + QUEUED_HEAD + len;
    if (need > j->qcap) {
        size_t cap = j->qcap ? j->qcap : 16384;
        while (cap < need)
            cap *= 2;
        unsigned char *q = realloc(j->queue, cap);
        if (!q)
            return ST_NOMEM;
        j->queue = q;
        j->qcap = cap;
    }
    unsigned char *p = j->queue + j->qlen;
    le_put(p, len, 2);
    p[2] = subject ? 1 : 0;
    memset(p + 3, 0, AUDIT_SUBJECT_LEN);
    if (subject)
        memcpy(p + 3, subject, AUDIT_SUBJECT_LEN);
    memcpy(p + QUEUED_HEAD, leaf, len);
    j->qlen = need;
    j->qn++;
    return ST_OK;
}

size_t audit_journal_queued(const struct audit_journal *j)
{
    return j->qn;
}

bool audit_journal_busy(const struct audit_journal *j)
{
    return j->busy;
}

size_t audit_journal_inflight(const struct audit_journal *j)
{
    return j->busy ? j->wn : 0;
}

/* May the bytes up to linear offset `end` (rounded to a block) be written? */
static bool has_room(const struct audit_journal *j, uint64_t end)
{
    uint64_t reclaimed = atomic_load_explicit(&j->reclaimed, memory_order_acquire);
    return ceil_block(end) - floor_block(reclaimed) <= j->capacity;
}

/* The leaves the write took, out of the queue, as a chunk for the fold. */
static struct audit_chunk *chunk_of_queue(struct audit_journal *j, size_t n, size_t bytes)
{
    size_t total = sizeof(struct audit_chunk) + n * sizeof(struct audit_leaf) + bytes;
    struct audit_chunk *c = malloc(total);
    if (!c)
        return NULL;
    c->next = NULL;
    c->bytes = total;
    c->journal = j->index;
    c->n = n;
    unsigned char *data = (unsigned char *)(c->leaves + n);
    memcpy(data, j->queue, bytes);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)le_get(data + at, 2);
        c->leaves[i] =
            (struct audit_leaf){data + at + QUEUED_HEAD, len, data[at + 2] ? data + at + 3 : NULL};
        at += QUEUED_HEAD + len;
    }
    return c;
}

static void queue_drop(struct audit_journal *j, size_t n, size_t bytes)
{
    if (bytes == 0) /* a probe's write took none (and the queue may not exist yet) */
        return;
    memmove(j->queue, j->queue + bytes, j->qlen - bytes);
    explicit_bzero(j->queue + j->qlen - bytes, bytes);
    j->qlen -= bytes;
    j->qn -= n;
}

bool audit_journal_prepare(struct audit_journal *j, struct audit_journal_write *w)
{
    if (j->busy || !j->qn)
        return false;
    if (j->capacity - j->tail % j->capacity < HEAD) { /* no room for a header: the lap ends */
        j->tail = next_lap(j->tail, j->capacity);
        memset(j->tail_block, 0, BLOCK);
    }
    uint64_t start = floor_block(j->tail), at = j->tail, seq = j->seq;
    size_t qat = 0, n = 0;
    bool wrap = false;
    memcpy(j->wbuf, j->tail_block, (size_t)(j->tail - start));
    while (n < j->qn && at - j->tail < WRITE_MAX) {
        const unsigned char *q = j->queue + qat;
        size_t len = (size_t)le_get(q, 2), size = record_size(len);
        if (at % j->capacity + size > j->capacity) { /* not in this lap */
            if (n == 0 && has_room(j, at + HEAD)) {  /* end the lap; the leaves follow */
                put_record(j->wbuf + (at - start), MAGIC_WRAP, seq, NULL, 0, NULL);
                at += HEAD;
                wrap = true;
            }
            break;
        }
        if (!has_room(j, at + size))
            break;
        put_record(j->wbuf + (at - start), MAGIC_LEAF, seq++, q + QUEUED_HEAD, len,
                   q[2] ? q + 3 : NULL);
        at += size;
        qat += QUEUED_HEAD + len;
        n++;
    }
    if (at == j->tail)
        return false; /* no room until the fold catches up */
    j->wchunk = n ? chunk_of_queue(j, n, qat) : NULL;
    if (n && !j->wchunk)
        return false; /* out of memory: tried again at the next turn */
    size_t len = (size_t)(ceil_block(at) - start);
    memset(j->wbuf + (at - start), 0, len - (size_t)(at - start));
    j->busy = true;
    j->wlen = len;
    j->wqbytes = qat;
    j->wn = n;
    j->wtail = wrap ? next_lap(j->tail, j->capacity) : at;
    j->wseq = seq;
    w->buf = j->wbuf;
    w->len = len;
    w->file_offset = start % j->capacity;
    w->leaves = n;
    return true;
}

bool audit_journal_prepare_probe(struct audit_journal *j, struct audit_journal_write *w)
{
    uint64_t start = floor_block(j->tail);
    if (j->busy || !has_room(j, start + BLOCK))
        return false;
    size_t used = (size_t)(j->tail - start);
    memcpy(j->wbuf, j->tail_block, used);
    memset(j->wbuf + used, 0, BLOCK - used);
    j->wchunk = NULL;
    j->busy = true;
    j->wlen = BLOCK;
    j->wqbytes = 0;
    j->wn = 0;
    j->wtail = j->tail;
    j->wseq = j->seq;
    w->buf = j->wbuf;
    w->len = BLOCK;
    w->file_offset = start % j->capacity;
    w->leaves = 0;
    return true;
}

/* HUDUMA_FAULT_JOURNAL_WRITE=N (test builds): every Nth write fails, as with EIO. */
static struct store_fault write_fault = STORE_FAULT("JOURNAL_WRITE");

int audit_journal_complete(struct audit_journal *j, long res, struct audit_chunk **chunk,
                           struct st_err *err)
{
    *chunk = NULL;
    if (!j->busy)
        return audit_fail(err, ST_INVALID, "no audit journal write is in flight");
    j->busy = false;
    if (store_fault(&write_fault))
        res = -EIO;
    int rc = ST_OK;
    if (res != (long)j->wlen) {
        rc = audit_fail(err, ST_IO, "audit journal write failed: %s",
                        res < 0 ? strerror((int)-res) : "short write");
        audit_chunk_free(j->wchunk);
    } else {
        *chunk = j->wchunk;
        uint64_t start = floor_block(j->tail);
        j->tail = j->wtail;
        j->seq = j->wseq;
        memset(j->tail_block, 0, BLOCK);
        if (j->tail % BLOCK && j->tail - start < j->wlen)
            memcpy(j->tail_block, j->wbuf + (floor_block(j->tail) - start), j->tail % BLOCK);
        if (*chunk) {
            (*chunk)->end.offset = j->tail;
            (*chunk)->end.seq = j->seq;
        }
    }
    j->wchunk = NULL;
    queue_drop(j, j->wn, j->wqbytes); /* written, or dropped with the failure */
    j->wn = 0;
    return rc;
}

struct audit_journal_pos audit_journal_tail(const struct audit_journal *j)
{
    return (struct audit_journal_pos){j->tail, j->seq};
}

void audit_journal_reclaim(struct audit_journal *j, uint64_t offset)
{
    uint64_t old = atomic_load(&j->reclaimed);
    while (offset > old && !atomic_compare_exchange_weak(&j->reclaimed, &old, offset))
        ;
}

int audit_journal_write_sync(struct audit_journal *j, struct audit_chunk **chunk,
                             struct st_err *err)
{
    *chunk = NULL;
    struct audit_journal_write w;
    if (!audit_journal_prepare(j, &w))
        return j->qn ? audit_fail(err, ST_BUSY, "the audit journal is full") : ST_OK;
    ssize_t n = pwrite(j->fd, w.buf, w.len, (off_t)w.file_offset);
    return audit_journal_complete(j, n < 0 ? -errno : (long)n, chunk, err);
}

void audit_chunk_free(struct audit_chunk *c)
{
    if (!c)
        return;
    explicit_bzero(c, c->bytes);
    free(c);
}

/* ---- reading back after a crash ------------------------------------------------------- */

struct scan {
    const unsigned char *map;
    uint64_t capacity;
    struct audit_journal_pos at;
};

/* The record at s->at: 1 a leaf (*len, *subject set), 2 a lap's end, 0 the journal's end. */
static int next_record(const struct scan *s, size_t *len, const unsigned char **leaf,
                       const uint8_t **subject)
{
    uint64_t place = s->at.offset % s->capacity;
    if (s->capacity - place < HEAD)
        return 2;
    const unsigned char *p = s->map + place;
    uint32_t magic = (uint32_t)le_get(p + 4, 4);
    *len = (size_t)le_get(p + 16, 2);
    if (le_get(p + 8, 8) != s->at.seq || (magic != MAGIC_LEAF && magic != MAGIC_WRAP) ||
        *len > AUDIT_LEAF_MAX || place + record_size(*len) > s->capacity ||
        (magic == MAGIC_WRAP && *len) ||
        (uint32_t)le_get(p, 4) != (uint32_t)crc32(0L, p + 4, (uInt)(HEAD - 4 + *len)))
        return 0;
    if (magic == MAGIC_WRAP)
        return 2;
    *leaf = p + HEAD;
    *subject = p[18] & 1 ? p + 24 : NULL;
    return 1;
}

static struct audit_chunk *chunk_new(unsigned journal)
{
    size_t total = sizeof(struct audit_chunk) +
                   CHUNK_MAX * (sizeof(struct audit_leaf) + AUDIT_SUBJECT_LEN + AUDIT_LEAF_MAX);
    struct audit_chunk *c = malloc(total);
    if (c) {
        c->next = NULL;
        c->bytes = total;
        c->journal = journal;
        c->n = 0;
    }
    return c;
}

int audit_journal_scan(const char *path, unsigned index, struct audit_journal_pos *at,
                       audit_chunk_fn fn, void *ctx, struct st_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return audit_fail(err, ST_IO, "cannot open the audit journal %s: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < BLOCK || st.st_size % BLOCK) {
        close(fd);
        return audit_fail(err, ST_CORRUPT, "the audit journal %s is not a whole number of blocks",
                          path);
    }
    struct scan s = {.capacity = (uint64_t)st.st_size, .at = *at};
    s.map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (s.map == MAP_FAILED)
        return audit_fail(err, ST_IO, "cannot read the audit journal %s: %s", path,
                          strerror(errno));
    struct audit_chunk *c = chunk_new(index);
    int rc = c ? ST_OK : audit_fail(err, ST_NOMEM, "out of memory");
    unsigned char *data = c ? (unsigned char *)(c->leaves + CHUNK_MAX) : NULL;
    size_t used = 0;
    for (uint64_t walked = 0; rc == ST_OK && walked <= s.capacity;) {
        size_t len = 0;
        const unsigned char *leaf = NULL;
        const uint8_t *subject = NULL;
        int kind = next_record(&s, &len, &leaf, &subject);
        if (kind == 0)
            break;
        uint64_t from = s.at.offset;
        if (kind == 2) {
            s.at.offset = next_lap(s.at.offset, s.capacity);
        } else {
            unsigned char *d = data + used;
            memcpy(d, subject ? subject : (const uint8_t *)"", subject ? AUDIT_SUBJECT_LEN : 0);
            memcpy(d + AUDIT_SUBJECT_LEN, leaf, len);
            c->leaves[c->n++] = (struct audit_leaf){d + AUDIT_SUBJECT_LEN, len, subject ? d : NULL};
            used += AUDIT_SUBJECT_LEN + len;
            s.at.offset += record_size(len);
            s.at.seq++;
        }
        walked += s.at.offset - from;
        if (c->n == CHUNK_MAX) {
            c->end = s.at;
            rc = fn(ctx, c);
            explicit_bzero(data, used);
            c->n = 0;
            used = 0;
        }
    }
    if (rc == ST_OK && c && c->n) {
        c->end = s.at;
        rc = fn(ctx, c);
    }
    if (c)
        explicit_bzero(data, used);
    free(c);
    munmap((void *)s.map, (size_t)st.st_size);
    if (rc == ST_OK)
        *at = s.at;
    return rc;
}
