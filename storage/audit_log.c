/*
 * storage/audit_log.c - the audit log's Merkle tree in RocksDB: appending
 * leaves, the root at any size, inclusion and consistency proofs, tiles, the
 * index by subject, and a few named values beside the tree.
 *
 * What is stored (keys in storage.h): each leaf with its leaf hash, and
 * the hash of every complete subtree whose height is a multiple of 8.  Those
 * are exactly the hashes of c2sp.org/tlog-tiles: level-0 tiles are the leaf
 * hashes, a level-L tile the stored nodes of height 8L.  Any other node is
 * folded from at most 128 stored hashes one tile level below it, so a proof
 * costs a handful of short iterator walks and an append writes one key per
 * leaf (plus one per subject and one per 256 leaves).
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
#include "storage/store_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit_log {
    struct store *st;
    rocksdb_transactiondb_t *db;
    rocksdb_column_family_handle_t *cf;
    pthread_mutex_t append_lock; /* one append at a time; guards `edge` */
    struct audit_range edge;
    pthread_mutex_t head_lock; /* guards size and root */
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
};

static int fail(struct st_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct st_err *err, int code, const char *fmt, ...)
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

static void be64_put(uint64_t v, unsigned char *p)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The key of a stored hash: a leaf (height 0) or a node (height 8, 16, ...). */
static size_t hash_key(unsigned height, uint64_t index, unsigned char key[10])
{
    if (height == 0) {
        key[0] = AUDIT_KEY_LEAF;
        be64_put(index, key + 1);
        return 9;
    }
    key[0] = AUDIT_KEY_NODE;
    key[1] = (unsigned char)height;
    be64_put(index, key + 2);
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

/* ---- reading stored hashes ------------------------------------------------------------ */

static rocksdb_iterator_t *iterator(struct audit_log *log)
{
    return rocksdb_transactiondb_create_iterator_cf(log->db, store_read_options(log->st), log->cf);
}

static const char *what_at(unsigned height)
{
    return height == 0 ? "leaf" : "tree node";
}

/* Reads `count` consecutive stored hashes of `height` (0 or a multiple of 8)
 * starting at `first`: leaf hashes for height 0. */
static int read_hashes(struct audit_log *log, unsigned height, uint64_t first, uint64_t count,
                       uint8_t (*out)[AUDIT_HASH_LEN], struct st_err *err)
{
    unsigned char key[10];
    size_t klen = hash_key(height, first, key);
    rocksdb_iterator_t *it = iterator(log);
    rocksdb_iter_seek(it, (const char *)key, klen);
    int rc = ST_OK;
    for (uint64_t i = 0; i < count && rc == ST_OK; i++, rocksdb_iter_next(it)) {
        size_t len = 0, vlen = 0;
        const unsigned char *k =
            rocksdb_iter_valid(it) ? (const unsigned char *)rocksdb_iter_key(it, &len) : NULL;
        unsigned char want[10];
        hash_key(height, first + i, want);
        if (!k || len != klen || memcmp(k, want, klen) != 0) {
            rc = fail(err, ST_CORRUPT, "audit log: %s %llu of height %u is missing",
                      what_at(height), (unsigned long long)(first + i), height);
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        if (vlen < AUDIT_HASH_LEN || (height > 0 && vlen != AUDIT_HASH_LEN)) {
            rc = fail(err, ST_CORRUPT, "audit log: %s %llu of height %u is malformed",
                      what_at(height), (unsigned long long)(first + i), height);
            break;
        }
        memcpy(out[i], v, AUDIT_HASH_LEN);
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr) {
        int io = store_rocks_fail(rerr, "audit log read failed", err);
        return rc == ST_OK ? io : rc;
    }
    return rc;
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

static int get_value(struct audit_log *log, const unsigned char *key, size_t klen, char **val,
                     size_t *vlen, struct st_err *err)
{
    char *rerr = NULL;
    *val = rocksdb_transactiondb_get_cf(log->db, store_read_options(log->st), log->cf,
                                        (const char *)key, klen, vlen, &rerr);
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
        rc = fail(err, ST_CORRUPT, "audit log: the stored tree size is malformed");
    else if (rc == ST_OK && val)
        *size = be64_get((const unsigned char *)val);
    free(val);
    return rc;
}

/* Leaf `index` is stored (1), absent (0), or the read failed (< 0). */
static int leaf_present(struct audit_log *log, uint64_t index, struct st_err *err)
{
    unsigned char key[10];
    char *val = NULL;
    size_t vlen = 0;
    int rc = get_value(log, key, hash_key(0, index, key), &val, &vlen, err);
    free(val);
    return rc != ST_OK ? rc : val != NULL;
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

static int check_ends(struct audit_log *log, uint64_t size, struct st_err *err)
{
    int beyond = leaf_present(log, size, err);
    if (beyond < 0)
        return beyond;
    if (beyond)
        return fail(err, ST_CORRUPT,
                    "audit log: leaf %llu is stored beyond the recorded tree size %llu",
                    (unsigned long long)size, (unsigned long long)size);
    int last = size ? leaf_present(log, size - 1, err) : 1;
    if (last < 0)
        return last;
    if (!last)
        return fail(err, ST_CORRUPT, "audit log: leaf %llu, the last of the tree, is missing",
                    (unsigned long long)(size - 1));
    return ST_OK;
}

int audit_log_open(struct store *st, struct audit_log **out, struct st_err *err)
{
    struct audit_log *log = calloc(1, sizeof *log);
    if (!log)
        return fail(err, ST_NOMEM, "out of memory");
    log->st = st;
    log->db = store_rocks(st);
    log->cf = store_cf_handle(st, CF_AUDIT);
    pthread_mutex_init(&log->append_lock, NULL);
    pthread_mutex_init(&log->head_lock, NULL);
    uint64_t size = 0;
    int rc = load_size(log, &size, err);
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
    size_t klen = hash_key(height, index, key);
    rocksdb_writebatch_put_cf(b->wb, b->cf, (const char *)key, klen, (const char *)hash,
                              AUDIT_HASH_LEN);
}

static void stage_leaf(struct batch_ctx *b, struct audit_range *edge, const struct audit_leaf *l)
{
    uint64_t index = edge->size;
    unsigned char value[AUDIT_HASH_LEN + AUDIT_LEAF_MAX], key[10];
    audit_leaf_hash(l->data, l->len, value);
    if (l->len)
        memcpy(value + AUDIT_HASH_LEN, l->data, l->len);
    size_t klen = hash_key(0, index, key);
    rocksdb_writebatch_put_cf(b->wb, b->cf, (const char *)key, klen, (const char *)value,
                              AUDIT_HASH_LEN + l->len);
    if (l->subject) {
        unsigned char skey[1 + AUDIT_SUBJECT_LEN + 8];
        skey[0] = AUDIT_KEY_SUBJECT;
        memcpy(skey + 1, l->subject, AUDIT_SUBJECT_LEN);
        be64_put(index, skey + 1 + AUDIT_SUBJECT_LEN);
        rocksdb_writebatch_put_cf(b->wb, b->cf, (const char *)skey, sizeof skey, "", 0);
    }
    audit_range_push_cb(edge, value, keep_node, b);
}

static int write_batch(struct audit_log *log, rocksdb_writebatch_t *wb, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_transactiondb_write(log->db, store_write_options(log->st), wb, &rerr);
    return rerr ? store_rocks_fail(rerr, "audit log write failed", err) : ST_OK;
}

int audit_log_append(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                     uint64_t *first, struct st_err *err)
{
    for (size_t i = 0; i < n; i++)
        if ((!leaves[i].data && leaves[i].len) || leaves[i].len > AUDIT_LEAF_MAX)
            return fail(err, ST_INVALID, "an audit leaf is at most %d bytes", AUDIT_LEAF_MAX);
    pthread_mutex_lock(&log->append_lock);
    struct audit_range edge = log->edge;
    struct batch_ctx b = {rocksdb_writebatch_create(), log->cf};
    *first = edge.size;
    for (size_t i = 0; i < n; i++)
        stage_leaf(&b, &edge, &leaves[i]);
    unsigned char key[34], size[8];
    be64_put(edge.size, size);
    rocksdb_writebatch_put_cf(b.wb, b.cf, (const char *)key, meta_key(AUDIT_META_SIZE, key),
                              (const char *)size, sizeof size);
    int rc = n ? write_batch(log, b.wb, err) : ST_OK;
    rocksdb_writebatch_destroy(b.wb);
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
        return fail(err, ST_INVALID, "the tree has fewer than %llu leaves",
                    (unsigned long long)size);
    if (size == 0) {
        audit_empty_root(root);
        return ST_OK;
    }
    return range_hash(log, 0, size, root, err);
}

int audit_log_leaf(struct audit_log *log, uint64_t index, char **data, size_t *len,
                   struct st_err *err)
{
    unsigned char key[10];
    char *val = NULL;
    size_t vlen = 0;
    *data = NULL;
    *len = 0;
    int rc = get_value(log, key, hash_key(0, index, key), &val, &vlen, err);
    if (rc != ST_OK)
        return rc;
    if (!val)
        return fail(err, ST_NOT_FOUND, "no audit leaf %llu", (unsigned long long)index);
    if (vlen < AUDIT_HASH_LEN) {
        free(val);
        return fail(err, ST_CORRUPT, "audit log: leaf %llu is malformed",
                    (unsigned long long)index);
    }
    memmove(val, val + AUDIT_HASH_LEN, vlen - AUDIT_HASH_LEN);
    *data = val;
    *len = vlen - AUDIT_HASH_LEN;
    return ST_OK;
}

int audit_log_scan(struct audit_log *log, uint64_t start, uint64_t end, audit_leaf_fn fn, void *ctx,
                   struct st_err *err)
{
    unsigned char key[10];
    size_t klen = hash_key(0, start, key);
    rocksdb_iterator_t *it = iterator(log);
    int rc = ST_OK;
    for (rocksdb_iter_seek(it, (const char *)key, klen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t len, vlen;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &len);
        if (len != 9 || k[0] != AUDIT_KEY_LEAF)
            break;
        uint64_t index = be64_get(k + 1);
        if (index >= end)
            break;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (vlen < AUDIT_HASH_LEN) {
            rc = fail(err, ST_CORRUPT, "audit log: leaf %llu is malformed",
                      (unsigned long long)index);
            break;
        }
        if (fn(ctx, index, v + AUDIT_HASH_LEN, vlen - AUDIT_HASH_LEN) != 0)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr)
        return store_rocks_fail(rerr, "audit log read failed", err);
    return rc;
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
        return fail(p->err, ST_INVALID, "a proof longer than %d hashes", AUDIT_PROOF_MAX);
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
        return fail(err, ST_INVALID, "the tree has fewer than %llu leaves",
                    (unsigned long long)size);
    if (index >= size)
        return fail(err, ST_INVALID, "leaf %llu is not in a tree of %llu leaves",
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
        return fail(err, ST_INVALID, "the tree has fewer than %llu leaves", (unsigned long long)n);
    if (m > n)
        return fail(err, ST_INVALID, "a tree of %llu leaves is not a prefix of one of %llu",
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
        return fail(err, ST_INVALID, "a tile is 1-%d hashes wide", AUDIT_TILE_WIDTH);
    /* level 7 is the last whose hashes each cover fewer than 2^64 leaves */
    unsigned height = level * AUDIT_TILE_HEIGHT;
    uint64_t size = current_size(log);
    uint64_t first = index * AUDIT_TILE_WIDTH, end = first + width; /* at `height` */
    if (level > 7 || index > UINT64_MAX / AUDIT_TILE_WIDTH - 1 || end > (size >> height))
        return fail(err, ST_NOT_FOUND, "the tree does not reach the end of that tile");
    return read_hashes(log, height, first, width, (uint8_t(*)[AUDIT_HASH_LEN])out, err);
}

/* ---- the index by subject ------------------------------------------------------------------ */

int audit_log_by_subject(struct audit_log *log, const uint8_t subject[AUDIT_SUBJECT_LEN],
                         audit_index_fn fn, void *ctx, struct st_err *err)
{
    unsigned char prefix[1 + AUDIT_SUBJECT_LEN];
    prefix[0] = AUDIT_KEY_SUBJECT;
    memcpy(prefix + 1, subject, AUDIT_SUBJECT_LEN);
    rocksdb_iterator_t *it = iterator(log);
    for (rocksdb_iter_seek(it, (const char *)prefix, sizeof prefix); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t len;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &len);
        if (len != sizeof prefix + 8 || memcmp(k, prefix, sizeof prefix) != 0)
            break;
        if (fn(ctx, be64_get(k + sizeof prefix)) != 0)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    return rerr ? store_rocks_fail(rerr, "audit log read failed", err) : ST_OK;
}

/* ---- named values ---------------------------------------------------------------------------- */

int audit_log_meta_get(struct audit_log *log, const char *name, char **val, size_t *len,
                       struct st_err *err)
{
    *val = NULL;
    if (!meta_name_ok(name))
        return fail(err, ST_INVALID, "a name of 1-32 bytes is needed");
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
        return fail(err, ST_INVALID, "a name of 1-32 bytes other than \"size\" is needed");
    unsigned char key[34];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, log->cf, (const char *)key, meta_key(name, key), val, len);
    int rc = write_batch(log, wb, err);
    rocksdb_writebatch_destroy(wb);
    return rc;
}
