/*
 * storage/audit_log.c - the audit log's Merkle tree in RocksDB: appending
 * leaves, the root at any size, inclusion and consistency proofs, tiles, the
 * index by subject, and a few named values beside the tree.
 *
 * The log has a RocksDB database of its own (<register>/audit/db), not a
 * column family of the register's: its one writer is the fold thread
 * (audit_fold.c), which needs none of the register's transaction locking, and its index by
 * subject takes a random key per leaf, which a vector memtable absorbs at the
 * cost of an append (a skip list paid several microseconds, more than the
 * rest of a leaf).  Keys (storage.h has the layout): one key per appended
 * batch holding its leaves and their leaf hashes (column family "default");
 * the hash of every complete subtree whose height is a multiple of 8 (the
 * c2sp.org/tlog-tiles hashes above level 0), the size and named values
 * ("nodes"); and subject || index for each leaf that names a person
 * ("subjects").  The batches have a family of their own so that each flush
 * holds one range of batch keys that no other flush overlaps: RocksDB then
 * moves their files down the levels without rewriting them.  Any other node
 * is folded from at most 128 stored hashes one tile level below it.
 *
 * In memory the log keeps the tree's right edge (struct audit_range), from
 * which the next leaves' nodes and the current root follow without reading.
 * Appends are serialised by `append_lock`: a batch is built on a copy of the
 * edge, written as one WriteBatch, and only then made current, so a failed
 * write leaves the log as it was.  Readers take the published size and root
 * under `head_lock`; everything they read below that size is immutable.
 *
 * Proofs follow RFC 9162 2.1.3.1 (PATH) and 2.1.4.1 (PROOF/SUBPROOF) over
 * range hashes: MTH(D[lo:hi]) for the aligned ranges those recursions visit,
 * a stored or folded node when the range is a complete subtree, else split at
 * the largest power of two below its length, as MTH itself is defined.
 */
#include "storage/audit_internal.h"

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF_LEAVES   0 /* "default": the batches of leaves */
#define CF_SUBJECTS 1
#define CF_NODES    2 /* stored node hashes and named values */
#define CF_COUNT    3
#define ENTRY_HEAD  (AUDIT_HASH_LEN + 2) /* leaf hash, then the leaf's length (BE16) */

struct audit_log {
    rocksdb_t *db;
    rocksdb_options_t *opts, *subject_opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;      /* synced when the log was opened so */
    rocksdb_writeoptions_t *fold_wopts; /* never synced: audit_log_fold */
    rocksdb_readoptions_t *ropts;
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    pthread_mutex_t append_lock; /* one append at a time; guards `edge` and the two below */
    struct audit_range edge;
    rocksdb_writebatch_t *wb; /* cleared and reused: its buffer keeps its size */
    unsigned char *stage;     /* the batch value, reused likewise */
    size_t stage_cap;
    pthread_mutex_t head_lock; /* guards size and root */
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
};

int audit_fail(struct st_err *err, int code, const char *fmt, ...)
{
    if (err) {
        err->field[0] = '\0';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- keys ---------------------------------------------------------------------------- */

static size_t batch_key(uint64_t first, unsigned char key[9])
{
    key[0] = AUDIT_KEY_BATCH;
    store_be64_put(first, key + 1);
    return 9;
}

static size_t node_key(unsigned height, uint64_t index, unsigned char key[10])
{
    key[0] = AUDIT_KEY_NODE;
    key[1] = (unsigned char)height;
    store_be64_put(index, key + 2);
    return 10;
}

static size_t meta_key(const char *name, unsigned char key[34])
{
    size_t n = strlen(name);
    key[0] = AUDIT_KEY_META;
    memcpy(key + 1, name, n);
    return n + 1;
}

static bool meta_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= 32;
}

static rocksdb_iterator_t *iterator(struct audit_log *log, int cf)
{
    return rocksdb_create_iterator_cf(log->db, log->ropts, log->cf[cf]);
}

static int iter_done(rocksdb_iterator_t *it, int rc, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr) {
        int io = store_rocks_fail(rerr, "audit log read failed", err);
        return rc == ST_OK ? io : rc;
    }
    return rc;
}

/* ---- leaves: batches of them ---------------------------------------------------------- */

/* Called for each stored leaf of a walk, in index order. */
typedef int (*leaf_fn)(void *ctx, uint64_t index, const uint8_t *hash, const char *leaf,
                       size_t len);

struct walk {
    uint64_t start, end, expect;
    bool strict; /* every index from start to end must be there */
    leaf_fn fn;
    void *ctx;
    bool stop;
};

/* The entries of one batch value that fall in [w->start, w->end). */
static int walk_batch(struct walk *w, uint64_t first, const unsigned char *v, size_t vlen,
                      struct st_err *err)
{
    uint64_t index = first;
    for (size_t at = 0; at < vlen && !w->stop; index++) {
        size_t len = at + ENTRY_HEAD <= vlen
                         ? (size_t)v[at + AUDIT_HASH_LEN] << 8 | v[at + AUDIT_HASH_LEN + 1]
                         : 0;
        if (at + ENTRY_HEAD > vlen || at + ENTRY_HEAD + len > vlen)
            return audit_fail(err, ST_CORRUPT,
                              "audit log: the batch of leaves from %llu is malformed",
                              (unsigned long long)first);
        if (index >= w->end) {
            w->stop = true;
            break;
        }
        if (index >= w->start) {
            if (w->strict && index != w->expect)
                break; /* reported by the caller: w->expect is missing */
            w->expect = index + 1;
            if (w->fn(w->ctx, index, v + at, (const char *)v + at + ENTRY_HEAD, len) != 0)
                w->stop = true;
        }
        at += ENTRY_HEAD + len;
    }
    return ST_OK;
}

/* Walks the stored leaves of [start, end) in index order. */
static int walk_leaves(struct audit_log *log, uint64_t start, uint64_t end, bool strict, leaf_fn fn,
                       void *ctx, struct st_err *err)
{
    struct walk w = {start, end, start, strict, fn, ctx, false};
    unsigned char key[9];
    batch_key(start, key);
    rocksdb_iterator_t *it = iterator(log, CF_LEAVES);
    rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof key);
    size_t klen;
    if (!rocksdb_iter_valid(it) || rocksdb_iter_key(it, &klen)[0] != AUDIT_KEY_BATCH)
        rocksdb_iter_seek(it, (const char *)key, sizeof key);
    int rc = ST_OK;
    for (; rc == ST_OK && !w.stop && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
        if (klen != 9 || k[0] != AUDIT_KEY_BATCH || store_be64_get(k + 1) >= end)
            break;
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        rc = walk_batch(&w, store_be64_get(k + 1), (const unsigned char *)v, vlen, err);
    }
    rc = iter_done(it, rc, err);
    if (rc == ST_OK && strict && w.expect < end)
        rc = audit_fail(err, ST_CORRUPT, "audit log: leaf %llu is missing",
                        (unsigned long long)w.expect);
    return rc;
}

struct hashes_out {
    uint8_t (*out)[AUDIT_HASH_LEN];
    uint64_t first;
};

static int copy_hash(void *ctx, uint64_t index, const uint8_t *hash, const char *leaf, size_t len)
{
    (void)leaf, (void)len;
    struct hashes_out *h = ctx;
    memcpy(h->out[index - h->first], hash, AUDIT_HASH_LEN);
    return 0;
}

/* ---- reading stored hashes ------------------------------------------------------------ */

/* Reads `count` consecutive stored hashes of `height` (0 or a multiple of 8)
 * starting at `first`: leaf hashes for height 0. */
static int read_hashes(struct audit_log *log, unsigned height, uint64_t first, uint64_t count,
                       uint8_t (*out)[AUDIT_HASH_LEN], struct st_err *err)
{
    if (height == 0) {
        struct hashes_out h = {out, first};
        return walk_leaves(log, first, first + count, true, copy_hash, &h, err);
    }
    unsigned char key[10];
    size_t klen = node_key(height, first, key);
    rocksdb_iterator_t *it = iterator(log, CF_NODES);
    rocksdb_iter_seek(it, (const char *)key, klen);
    int rc = ST_OK;
    for (uint64_t i = 0; i < count && rc == ST_OK; i++, rocksdb_iter_next(it)) {
        size_t len = 0, vlen = 0;
        const unsigned char *k =
            rocksdb_iter_valid(it) ? (const unsigned char *)rocksdb_iter_key(it, &len) : NULL;
        unsigned char want[10];
        node_key(height, first + i, want);
        const char *v = k ? rocksdb_iter_value(it, &vlen) : NULL;
        if (!k || len != klen || memcmp(k, want, klen) != 0)
            rc = audit_fail(err, ST_CORRUPT, "audit log: tree node %llu of height %u is missing",
                            (unsigned long long)(first + i), height);
        else if (vlen != AUDIT_HASH_LEN)
            rc = audit_fail(err, ST_CORRUPT, "audit log: tree node %llu of height %u is malformed",
                            (unsigned long long)(first + i), height);
        else
            memcpy(out[i], v, AUDIT_HASH_LEN);
    }
    return iter_done(it, rc, err);
}

/* MTH of the complete subtree of height h at index k: one stored hash when h is
 * 0 or a multiple of 8, else folded from up to 128 stored hashes below it. */
static int node_hash(struct audit_log *log, unsigned h, uint64_t k, uint8_t out[AUDIT_HASH_LEN],
                     struct st_err *err)
{
    unsigned below = h % AUDIT_TILE_HEIGHT, base = h - below;
    uint64_t count = (uint64_t)1 << below;
    uint8_t buf[1u << (AUDIT_TILE_HEIGHT - 1)][AUDIT_HASH_LEN];
    int rc = read_hashes(log, base, k << below, count, buf, err);
    if (rc != ST_OK)
        return rc;
    for (; count > 1; count /= 2)
        for (uint64_t i = 0; i < count / 2; i++)
            audit_node_hash(buf[2 * i], buf[2 * i + 1], buf[i]);
    memcpy(out, buf[0], AUDIT_HASH_LEN);
    return ST_OK;
}

static uint64_t largest_pow2_below(uint64_t n) /* n >= 2 */
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static unsigned log2_exact(uint64_t n)
{
    unsigned h = 0;
    while ((uint64_t)1 << h < n)
        h++;
    return h;
}

/* MTH(D[lo:hi]) for the ranges RFC 9162's recursions visit (lo aligned to the
 * largest power of two not above hi - lo). */
static int range_hash(struct audit_log *log, uint64_t lo, uint64_t hi, uint8_t out[AUDIT_HASH_LEN],
                      struct st_err *err)
{
    uint64_t n = hi - lo;
    if ((n & (n - 1)) == 0 && lo % n == 0)
        return node_hash(log, log2_exact(n), lo / n, out, err);
    uint64_t k = largest_pow2_below(n);
    uint8_t left[AUDIT_HASH_LEN], right[AUDIT_HASH_LEN];
    int rc = range_hash(log, lo, lo + k, left, err);
    if (rc == ST_OK)
        rc = range_hash(log, lo + k, hi, right, err);
    if (rc == ST_OK)
        audit_node_hash(left, right, out);
    return rc;
}

/* ---- opening --------------------------------------------------------------------------- */

static void set_options(struct audit_log *log, bool create, bool sync)
{
    log->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(log->opts, create);
    rocksdb_options_set_create_missing_column_families(log->opts, 1);
    rocksdb_options_set_paranoid_checks(log->opts, 1);
    rocksdb_options_set_keep_log_file_num(log->opts, KEEP_INFO_LOGS); /* one a session */
    rocksdb_options_set_max_open_files(log->opts,
                                       store_open_files_budget(OPEN_FILES_AUDIT_PERCENT));
    rocksdb_options_set_max_background_jobs(log->opts, 1);
    /* one writer; and the vector memtable of "subjects" takes no concurrent writes */
    rocksdb_options_set_allow_concurrent_memtable_write(log->opts, 0);
    log->table = rocksdb_block_based_options_create();
    log->cache = rocksdb_cache_create_lru(32 * 1024 * 1024);
    rocksdb_block_based_options_set_block_cache(log->table, log->cache);
    rocksdb_options_set_block_based_table_factory(log->opts, log->table);
    rocksdb_options_set_compression(log->opts, rocksdb_lz4_compression);
    log->subject_opts = rocksdb_options_create_copy(log->opts);
    rocksdb_options_set_memtable_vector_rep(log->subject_opts); /* an insert is an append */
    rocksdb_options_set_compression(log->subject_opts, rocksdb_no_compression);
    log->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(log->wopts, sync);
    log->fold_wopts = rocksdb_writeoptions_create();
    log->ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(log->ropts, 1);
}

static int open_db(struct audit_log *log, const char *dir, struct st_err *err)
{
    const char *names[CF_COUNT] = {"default", "subjects", "nodes"};
    const rocksdb_options_t *cf_opts[CF_COUNT] = {log->opts, log->subject_opts, log->opts};
    char *rerr = NULL;
    log->db =
        rocksdb_open_column_families(log->opts, dir, CF_COUNT, names, cf_opts, log->cf, &rerr);
    return rerr ? store_rocks_fail(rerr, "cannot open the audit log", err) : ST_OK;
}

static int write_batch(struct audit_log *log, const rocksdb_writeoptions_t *wopts,
                       rocksdb_writebatch_t *wb, struct st_err *err);

/* A log written before "nodes" existed kept its node hashes and named values
 * beside the batches: they are moved there, in one synced write.  Kept
 * apart, the batch keys of successive flushes never overlap, so RocksDB moves
 * their files down the levels instead of rewriting them.  They leave one
 * range deletion behind, not a tombstone each: the seek at every later open
 * steps over it at once. */
static int move_nodes(struct audit_log *log, struct st_err *err)
{
    _Static_assert(AUDIT_KEY_NODE == AUDIT_KEY_META + 1 && AUDIT_KEY_BATCH < AUDIT_KEY_META,
                   "the moved keys are the range [META, NODE] and hold no batch");
    const char first = AUDIT_KEY_META, end = AUDIT_KEY_NODE + 1;
    rocksdb_iterator_t *it = iterator(log, CF_LEAVES);
    rocksdb_iter_seek(it, &first, 1);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    size_t moved = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == 0 || (unsigned char)k[0] >= (unsigned char)end)
            break;
        const char *v = rocksdb_iter_value(it, &vlen);
        rocksdb_writebatch_put_cf(wb, log->cf[CF_NODES], k, klen, v, vlen);
        moved++;
    }
    if (moved)
        rocksdb_writebatch_delete_range_cf(wb, log->cf[CF_LEAVES], &first, 1, &end, 1);
    int rc = iter_done(it, ST_OK, err);
    if (rc == ST_OK && moved) {
        rocksdb_writeoptions_t *synced = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(synced, 1);
        rc = write_batch(log, synced, wb, err);
        rocksdb_writeoptions_destroy(synced);
    }
    rocksdb_writebatch_destroy(wb);
    return rc;
}

static int get_value(struct audit_log *log, const unsigned char *key, size_t klen, char **val,
                     size_t *vlen, struct st_err *err)
{
    char *rerr = NULL;
    *val = rocksdb_get_cf(log->db, log->ropts, log->cf[CF_NODES], (const char *)key, klen, vlen,
                          &rerr);
    return rerr ? store_rocks_fail(rerr, "audit log read failed", err) : ST_OK;
}

static int load_size(struct audit_log *log, uint64_t *size, struct st_err *err)
{
    unsigned char key[34];
    char *val = NULL;
    size_t vlen = 0;
    int rc = get_value(log, key, meta_key(AUDIT_META_SIZE, key), &val, &vlen, err);
    *size = 0;
    if (rc == ST_OK && val && vlen != 8)
        rc = audit_fail(err, ST_CORRUPT, "audit log: the stored tree size is malformed");
    else if (rc == ST_OK && val)
        *size = store_be64_get((const unsigned char *)val);
    free(val);
    return rc;
}

static int count_leaf(void *ctx, uint64_t index, const uint8_t *hash, const char *leaf, size_t len)
{
    (void)index, (void)hash, (void)leaf, (void)len;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The last leaf is there, and nothing after it. */
static int check_ends(struct audit_log *log, uint64_t size, struct st_err *err)
{
    uint64_t beyond = 0;
    int rc = walk_leaves(log, size, UINT64_MAX, false, count_leaf, &beyond, err);
    if (rc == ST_OK && beyond)
        rc = audit_fail(err, ST_CORRUPT,
                        "audit log: %llu leaves are stored beyond the recorded tree "
                        "size %llu",
                        (unsigned long long)beyond, (unsigned long long)size);
    if (rc == ST_OK && size)
        rc = walk_leaves(log, size - 1, size, true, count_leaf, &beyond, err);
    return rc;
}

/* Rebuilds the right edge of a tree of `size` leaves from the stored hashes. */
static int load_edge(struct audit_log *log, uint64_t size, struct st_err *err)
{
    audit_range_init(&log->edge);
    uint64_t start = 0;
    for (int h = 63; h >= 0; h--) {
        if (!(size >> h & 1))
            continue;
        int rc = node_hash(log, (unsigned)h, start >> h, log->edge.peak[h], err);
        if (rc != ST_OK)
            return rc;
        start += (uint64_t)1 << h;
    }
    log->edge.size = size;
    return ST_OK;
}

int audit_log_open(const char *dir, bool create, bool sync, struct audit_log **out,
                   struct st_err *err)
{
    struct audit_log *log = calloc(1, sizeof *log);
    if (!log)
        return audit_fail(err, ST_NOMEM, "out of memory");
    pthread_mutex_init(&log->append_lock, NULL);
    pthread_mutex_init(&log->head_lock, NULL);
    set_options(log, create, sync);
    uint64_t size = 0;
    int rc = open_db(log, dir, err);
    if (rc == ST_OK)
        rc = move_nodes(log, err);
    if (rc == ST_OK)
        rc = load_size(log, &size, err);
    if (rc == ST_OK)
        rc = check_ends(log, size, err);
    if (rc == ST_OK)
        rc = load_edge(log, size, err);
    if (rc != ST_OK) {
        audit_log_close(log);
        return rc;
    }
    log->size = size;
    audit_range_root(&log->edge, log->root);
    *out = log;
    return ST_OK;
}

void audit_log_close(struct audit_log *log)
{
    if (!log)
        return;
    for (int i = 0; i < CF_COUNT; i++)
        if (log->cf[i])
            rocksdb_column_family_handle_destroy(log->cf[i]);
    if (log->db)
        rocksdb_close(log->db);
    rocksdb_options_destroy(log->opts);
    rocksdb_options_destroy(log->subject_opts);
    rocksdb_block_based_options_destroy(log->table);
    rocksdb_cache_destroy(log->cache);
    rocksdb_writeoptions_destroy(log->wopts);
    if (log->fold_wopts)
        rocksdb_writeoptions_destroy(log->fold_wopts);
    rocksdb_readoptions_destroy(log->ropts);
    if (log->wb)
        rocksdb_writebatch_destroy(log->wb);
    free(log->stage);
    pthread_mutex_destroy(&log->append_lock);
    pthread_mutex_destroy(&log->head_lock);
    free(log);
}

/* ---- appending ------------------------------------------------------------------------ */

struct batch_ctx {
    rocksdb_writebatch_t *wb;
    rocksdb_column_family_handle_t *cf;
};

/* A push completed a node: store it when it is the hash of a whole tile. */
static void keep_node(void *ctx, unsigned height, uint64_t index, const uint8_t hash[32])
{
    struct batch_ctx *b = ctx;
    if (height % AUDIT_TILE_HEIGHT != 0)
        return;
    unsigned char key[10];
    size_t klen = node_key(height, index, key);
    rocksdb_writebatch_put_cf(b->wb, b->cf, (const char *)key, klen, (const char *)hash,
                              AUDIT_HASH_LEN);
}

static void stage_subject(struct audit_log *log, rocksdb_writebatch_t *wb, const uint8_t *subject,
                          uint64_t index)
{
    unsigned char key[AUDIT_SUBJECT_LEN + 8];
    memcpy(key, subject, AUDIT_SUBJECT_LEN);
    store_be64_put(index, key + AUDIT_SUBJECT_LEN);
    rocksdb_writebatch_put_cf(wb, log->cf[CF_SUBJECTS], (const char *)key, sizeof key, "", 0);
}

static int write_batch(struct audit_log *log, const rocksdb_writeoptions_t *wopts,
                       rocksdb_writebatch_t *wb, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_write(log->db, wopts, wb, &rerr);
    return rerr ? store_rocks_fail(rerr, "audit log write failed", err) : ST_OK;
}

static int check_leaves(const struct audit_leaf *leaves, size_t n, struct st_err *err)
{
    for (size_t i = 0; i < n; i++)
        if ((!leaves[i].data && leaves[i].len) || leaves[i].len > AUDIT_LEAF_MAX)
            return audit_fail(err, ST_INVALID, "an audit leaf is at most %d bytes", AUDIT_LEAF_MAX);
    return ST_OK;
}

/* The leaves' batch value, in the log's staging buffer: for each, its leaf
 * hash, its length (BE16), itself; and the pushes of their hashes onto the
 * edge.  The buffer is kept from batch to batch: a fresh one would be fresh
 * pages, and faulting them in cost more than filling them. */
static unsigned char *stage_leaves(struct audit_log *log, struct batch_ctx *b,
                                   struct audit_range *edge, const struct audit_leaf *leaves,
                                   size_t n, size_t *vlen)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ENTRY_HEAD + leaves[i].len;
    if (total > log->stage_cap) {
        unsigned char *grown = realloc(log->stage, total);
        if (!grown)
            return NULL;
        log->stage = grown;
        log->stage_cap = total;
    }
    unsigned char *v = log->stage;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const struct audit_leaf *l = &leaves[i];
        audit_leaf_hash(l->data, l->len, v + at);
        v[at + AUDIT_HASH_LEN] = (unsigned char)(l->len >> 8);
        v[at + AUDIT_HASH_LEN + 1] = (unsigned char)l->len;
        if (l->len)
            memcpy(v + at + ENTRY_HEAD, l->data, l->len);
        if (l->subject)
            stage_subject(log, b->wb, l->subject, edge->size);
        audit_range_push_cb(edge, v + at, keep_node, b);
        at += ENTRY_HEAD + l->len;
    }
    *vlen = total;
    return v;
}

static int append(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                  const struct audit_mark *marks, size_t nmarks,
                  const rocksdb_writeoptions_t *wopts, uint64_t *first, struct st_err *err)
{
    if (check_leaves(leaves, n, err) != ST_OK)
        return ST_INVALID;
    for (size_t i = 0; i < nmarks; i++)
        if (!meta_name_ok(marks[i].name) || strcmp(marks[i].name, AUDIT_META_SIZE) == 0)
            return audit_fail(err, ST_INVALID,
                              "a name of 1-32 bytes other than \"size\" is needed");
    pthread_mutex_lock(&log->append_lock);
    *first = log->edge.size;
    if (!n && !nmarks) {
        pthread_mutex_unlock(&log->append_lock);
        return ST_OK;
    }
    struct audit_range edge = log->edge;
    if (!log->wb)
        log->wb = rocksdb_writebatch_create();
    rocksdb_writebatch_clear(log->wb);
    struct batch_ctx b = {log->wb, log->cf[CF_NODES]};
    size_t vlen = 0;
    unsigned char *v = n ? stage_leaves(log, &b, &edge, leaves, n, &vlen) : NULL;
    int rc = n && !v ? audit_fail(err, ST_NOMEM, "out of memory") : ST_OK;
    unsigned char key[34], size[8];
    if (rc == ST_OK && n)
        rocksdb_writebatch_put_cf(b.wb, log->cf[CF_LEAVES], (const char *)key,
                                  batch_key(*first, key), (const char *)v, vlen);
    store_be64_put(edge.size, size);
    rocksdb_writebatch_put_cf(b.wb, b.cf, (const char *)key, meta_key(AUDIT_META_SIZE, key),
                              (const char *)size, sizeof size);
    for (size_t i = 0; i < nmarks; i++)
        rocksdb_writebatch_put_cf(b.wb, b.cf, (const char *)key, meta_key(marks[i].name, key),
                                  marks[i].val, marks[i].len);
    if (rc == ST_OK)
        rc = write_batch(log, wopts, b.wb, err);
    if (rc == ST_OK) {
        uint8_t root[AUDIT_HASH_LEN];
        audit_range_root(&edge, root);
        log->edge = edge;
        pthread_mutex_lock(&log->head_lock);
        log->size = edge.size;
        memcpy(log->root, root, AUDIT_HASH_LEN);
        pthread_mutex_unlock(&log->head_lock);
    }
    pthread_mutex_unlock(&log->append_lock);
    return rc;
}

int audit_log_append(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                     uint64_t *first, struct st_err *err)
{
    return append(log, leaves, n, NULL, 0, log->wopts, first, err);
}

int audit_log_append_mark(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                          const char *name, const void *val, size_t len, uint64_t *first,
                          struct st_err *err)
{
    struct audit_mark m = {name, val, len};
    return append(log, leaves, n, &m, name ? 1 : 0, log->wopts, first, err);
}

int audit_log_fold(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                   const struct audit_mark *marks, size_t nmarks, uint64_t *first,
                   struct st_err *err)
{
    return append(log, leaves, n, marks, nmarks, log->fold_wopts, first, err);
}

int audit_log_sync(struct audit_log *log, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_flush_wal(log->db, 1, &rerr);
    return rerr ? store_rocks_fail(rerr, "audit log sync failed", err) : ST_OK;
}

/* ---- reading the tree ------------------------------------------------------------------ */

void audit_log_head(struct audit_log *log, uint64_t *size, uint8_t root[AUDIT_HASH_LEN])
{
    pthread_mutex_lock(&log->head_lock);
    *size = log->size;
    memcpy(root, log->root, AUDIT_HASH_LEN);
    pthread_mutex_unlock(&log->head_lock);
}

static uint64_t current_size(struct audit_log *log)
{
    pthread_mutex_lock(&log->head_lock);
    uint64_t n = log->size;
    pthread_mutex_unlock(&log->head_lock);
    return n;
}

int audit_log_root_at(struct audit_log *log, uint64_t size, uint8_t root[AUDIT_HASH_LEN],
                      struct st_err *err)
{
    if (size > current_size(log))
        return audit_fail(err, ST_INVALID, "the tree has fewer than %llu leaves",
                          (unsigned long long)size);
    if (size == 0) {
        audit_empty_root(root);
        return ST_OK;
    }
    return range_hash(log, 0, size, root, err);
}

struct one_leaf {
    char *data;
    size_t len;
    bool found;
};

static int copy_leaf(void *ctx, uint64_t index, const uint8_t *hash, const char *leaf, size_t len)
{
    (void)index, (void)hash;
    struct one_leaf *o = ctx;
    o->data = malloc(len ? len : 1);
    if (o->data)
        memcpy(o->data, leaf, len);
    o->len = len;
    o->found = true;
    return 1;
}

int audit_log_leaf(struct audit_log *log, uint64_t index, char **data, size_t *len,
                   struct st_err *err)
{
    struct one_leaf o = {NULL, 0, false};
    *data = NULL;
    *len = 0;
    int rc =
        index < UINT64_MAX ? walk_leaves(log, index, index + 1, false, copy_leaf, &o, err) : ST_OK;
    if (rc != ST_OK) {
        free(o.data);
        return rc;
    }
    if (!o.found)
        return audit_fail(err, ST_NOT_FOUND, "no audit leaf %llu", (unsigned long long)index);
    if (!o.data)
        return audit_fail(err, ST_NOMEM, "out of memory");
    *data = o.data;
    *len = o.len;
    return ST_OK;
}

struct scan {
    audit_leaf_fn fn;
    void *ctx;
};

static int scan_leaf(void *ctx, uint64_t index, const uint8_t *hash, const char *leaf, size_t len)
{
    (void)hash;
    struct scan *s = ctx;
    return s->fn(s->ctx, index, leaf, len);
}

int audit_log_scan(struct audit_log *log, uint64_t start, uint64_t end, audit_leaf_fn fn, void *ctx,
                   struct st_err *err)
{
    struct scan s = {fn, ctx};
    return start < end ? walk_leaves(log, start, end, false, scan_leaf, &s, err) : ST_OK;
}

/* ---- proofs ------------------------------------------------------------------------------ */

struct proof {
    struct audit_log *log;
    uint8_t (*path)[AUDIT_HASH_LEN];
    size_t n;
    struct st_err *err;
};

static int proof_add(struct proof *p, uint64_t lo, uint64_t hi)
{
    if (p->n >= AUDIT_PROOF_MAX)
        return audit_fail(p->err, ST_INVALID, "a proof longer than %d hashes", AUDIT_PROOF_MAX);
    return range_hash(p->log, lo, hi, p->path[p->n++], p->err);
}

/* PATH(m, D[lo:hi]), RFC 9162 2.1.3.1: the path of the subtree, then the sibling. */
static int path_of(struct proof *p, uint64_t m, uint64_t lo, uint64_t hi)
{
    if (hi - lo <= 1)
        return ST_OK;
    uint64_t k = largest_pow2_below(hi - lo);
    if (m < k) {
        int rc = path_of(p, m, lo, lo + k);
        return rc == ST_OK ? proof_add(p, lo + k, hi) : rc;
    }
    int rc = path_of(p, m - k, lo + k, hi);
    return rc == ST_OK ? proof_add(p, lo, lo + k) : rc;
}

/* SUBPROOF(m, D[lo:hi], b), RFC 9162 2.1.4.1. */
static int subproof(struct proof *p, uint64_t m, uint64_t lo, uint64_t hi, bool b)
{
    uint64_t n = hi - lo;
    if (m == n)
        return b ? ST_OK : proof_add(p, lo, hi);
    uint64_t k = largest_pow2_below(n);
    if (m <= k) {
        int rc = subproof(p, m, lo, lo + k, b);
        return rc == ST_OK ? proof_add(p, lo + k, hi) : rc;
    }
    int rc = subproof(p, m - k, lo + k, hi, false);
    return rc == ST_OK ? proof_add(p, lo, lo + k) : rc;
}

int audit_log_inclusion(struct audit_log *log, uint64_t index, uint64_t size,
                        uint8_t path[][AUDIT_HASH_LEN], size_t *npath, struct st_err *err)
{
    *npath = 0;
    if (size > current_size(log))
        return audit_fail(err, ST_INVALID, "the tree has fewer than %llu leaves",
                          (unsigned long long)size);
    if (index >= size)
        return audit_fail(err, ST_INVALID, "leaf %llu is not in a tree of %llu leaves",
                          (unsigned long long)index, (unsigned long long)size);
    struct proof p = {log, path, 0, err};
    int rc = path_of(&p, index, 0, size);
    *npath = rc == ST_OK ? p.n : 0;
    return rc;
}

int audit_log_consistency(struct audit_log *log, uint64_t m, uint64_t n,
                          uint8_t path[][AUDIT_HASH_LEN], size_t *npath, struct st_err *err)
{
    *npath = 0;
    if (n > current_size(log))
        return audit_fail(err, ST_INVALID, "the tree has fewer than %llu leaves",
                          (unsigned long long)n);
    if (m > n)
        return audit_fail(err, ST_INVALID, "a tree of %llu leaves is not a prefix of one of %llu",
                          (unsigned long long)m, (unsigned long long)n);
    if (m == 0 || m == n)
        return ST_OK; /* the empty proof */
    struct proof p = {log, path, 0, err};
    int rc = subproof(&p, m, 0, n, true);
    *npath = rc == ST_OK ? p.n : 0;
    return rc;
}

/* ---- tiles -------------------------------------------------------------------------------- */

int audit_log_tile(struct audit_log *log, unsigned level, uint64_t index, unsigned width,
                   uint8_t *out, struct st_err *err)
{
    if (width < 1 || width > AUDIT_TILE_WIDTH)
        return audit_fail(err, ST_INVALID, "a tile is 1-%d hashes wide", AUDIT_TILE_WIDTH);
    /* level 7 is the last whose hashes each cover fewer than 2^64 leaves */
    unsigned height = level * AUDIT_TILE_HEIGHT;
    uint64_t size = current_size(log);
    uint64_t first = index * AUDIT_TILE_WIDTH, end = first + width; /* at `height` */
    if (level > 7 || index > UINT64_MAX / AUDIT_TILE_WIDTH - 1 || end > (size >> height))
        return audit_fail(err, ST_NOT_FOUND, "the tree does not reach the end of that tile");
    return read_hashes(log, height, first, width, (uint8_t(*)[AUDIT_HASH_LEN])out, err);
}

/* ---- the index by subject ------------------------------------------------------------------ */

int audit_log_by_subject(struct audit_log *log, const uint8_t subject[AUDIT_SUBJECT_LEN],
                         audit_index_fn fn, void *ctx, struct st_err *err)
{
    rocksdb_iterator_t *it = iterator(log, CF_SUBJECTS);
    for (rocksdb_iter_seek(it, (const char *)subject, AUDIT_SUBJECT_LEN); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t len;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &len);
        if (len != AUDIT_SUBJECT_LEN + 8 || memcmp(k, subject, AUDIT_SUBJECT_LEN) != 0)
            break;
        if (fn(ctx, store_be64_get(k + AUDIT_SUBJECT_LEN)) != 0)
            break;
    }
    return iter_done(it, ST_OK, err);
}

/* ---- named values ---------------------------------------------------------------------------- */

int audit_log_meta_get(struct audit_log *log, const char *name, char **val, size_t *len,
                       struct st_err *err)
{
    *val = NULL;
    if (!meta_name_ok(name))
        return audit_fail(err, ST_INVALID, "a name of 1-32 bytes is needed");
    unsigned char key[34];
    size_t vlen = 0;
    int rc = get_value(log, key, meta_key(name, key), val, &vlen, err);
    if (len)
        *len = vlen;
    return rc;
}

int audit_log_meta_put(struct audit_log *log, const char *name, const void *val, size_t len,
                       struct st_err *err)
{
    if (!meta_name_ok(name) || strcmp(name, AUDIT_META_SIZE) == 0)
        return audit_fail(err, ST_INVALID, "a name of 1-32 bytes other than \"size\" is needed");
    unsigned char key[34];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, log->cf[CF_NODES], (const char *)key, meta_key(name, key), val,
                              len);
    int rc = write_batch(log, log->wopts, wb, err);
    rocksdb_writebatch_destroy(wb);
    return rc;
}
