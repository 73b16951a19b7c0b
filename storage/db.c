/*
 * storage/db.c - the register's RocksDB database: opening it, column families,
 * transactions, reads, scans and the Huduma Number serial counter.
 *
 * The database is a pessimistic TransactionDB.  A logical change (an
 * enrolment, a correction, a death) is one transaction: the keys it depends on
 * are read with GetForUpdate, which locks them, so concurrent changes that
 * touch the same document number or enrolment id serialise on that key and
 * nothing else.  Commit writes the transaction's WriteBatch to the WAL, synced
 * when the store was opened with `sync`; RocksDB's write thread groups the
 * commits of concurrent callers so that one fsync serves them all.
 *
 * Serials: the highest serial ever committed is found at open from the
 * metadata keys "serial/<BE64>", and handed out from an atomic counter.
 */
#include "storage/storage.h"
#include "storage/store_internal.h"

#include <limits.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SCHEMA_KEY        "schema"
#define SCHEMA_VERSION    "1"
#define SERIAL_PREFIX     "serial/"
#define SERIAL_PREFIX_LEN 7

static const char *const cf_names[CF_COUNT] = {
    [CF_PERSONS] = "persons",       [CF_HISTORY] = "history",     [CF_INDEXES] = "indexes",
    [CF_EVENTS] = "events",         [CF_DOCUMENTS] = "documents", [CF_PENDING] = "pending",
    [CF_BIOMETRICS] = "biometrics", [CF_METADATA] = "metadata",
};

struct store {
    rocksdb_transactiondb_t *db;
    rocksdb_options_t *opts;
    rocksdb_transactiondb_options_t *txdb_opts;
    rocksdb_transaction_options_t *tx_opts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_column_family_handle_t *cf[CF_COUNT + 1]; /* +1: "default" */
    struct keyring *kr;
    _Atomic uint64_t next_serial;
};

struct store_txn {
    struct store *st;
    rocksdb_transaction_t *t;
};

const char *store_cf_name(enum store_cf cf)
{
    return (unsigned)cf < CF_COUNT ? cf_names[cf] : "?";
}

static void set_err(struct st_err *err, const char *fmt, const char *detail)
{
    if (!err)
        return;
    err->field[0] = '\0';
    snprintf(err->msg, sizeof err->msg, fmt, detail ? detail : "");
}

/* Maps a RocksDB error string to a status, fills err, and frees the string. */
static int rocks_fail(char *rerr, const char *what, struct st_err *err)
{
    int rc = ST_IO;
    if (strstr(rerr, "Timed out") || strstr(rerr, "timed out") || strstr(rerr, "Deadlock") ||
        strncmp(rerr, "Resource busy", 13) == 0 || strncmp(rerr, "Operation aborted", 17) == 0 ||
        strncmp(rerr, "Busy", 4) == 0 || strncmp(rerr, "Operation failed. Try again", 27) == 0)
        rc = ST_BUSY;
    else if (strncmp(rerr, "Corruption", 10) == 0)
        rc = ST_CORRUPT;
    if (err) {
        err->field[0] = '\0';
        snprintf(err->msg, sizeof err->msg, "%s: %s", what, rerr);
    }
    rocksdb_free(rerr);
    return rc;
}

/* RocksDB keeps every table file of a database open unless told otherwise
 * (max_open_files -1).  The register grows with the population and the audit
 * log with every access, for as long as the appliance runs: in time their
 * files would pass the process's descriptor limit, and every flush,
 * compaction and table read after that would fail with EMFILE.  So each gets
 * a share of the limit as it stands when it opens (hudumad raises its soft
 * limit to the hard one first); past its share, RocksDB's table cache closes
 * the files least recently read. */
int store_open_files_budget(unsigned percent)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return OPEN_FILES_MIN;
    unsigned long long have = lim.rlim_cur == RLIM_INFINITY ? (unsigned long long)INT_MAX
                                                            : (unsigned long long)lim.rlim_cur;
    unsigned long long budget =
        have > OPEN_FILES_RESERVE ? (have - OPEN_FILES_RESERVE) * percent / 100 : 0;
    if (budget < OPEN_FILES_MIN)
        return OPEN_FILES_MIN;
    return budget > INT_MAX ? INT_MAX : (int)budget;
}

static void set_table_options(struct store *st, size_t cache_mb)
{
    st->table = rocksdb_block_based_options_create();
    st->cache = rocksdb_cache_create_lru((cache_mb ? cache_mb : 256) * 1024 * 1024);
    rocksdb_block_based_options_set_block_cache(st->table, st->cache);
    rocksdb_block_based_options_set_filter_policy(st->table,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(st->table, 1);
    rocksdb_options_set_block_based_table_factory(st->opts, st->table);
}

static void set_db_options(struct store *st, const struct store_options *o)
{
    st->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->opts, o->create);
    rocksdb_options_set_create_missing_column_families(st->opts, 1);
    rocksdb_options_increase_parallelism(st->opts, 2);
    rocksdb_options_set_max_background_jobs(st->opts, 2);
    rocksdb_options_set_paranoid_checks(st->opts, 1);
    rocksdb_options_set_keep_log_file_num(st->opts, KEEP_INFO_LOGS); /* one a session */
    rocksdb_options_set_max_open_files(st->opts,
                                       store_open_files_budget(OPEN_FILES_REGISTER_PERCENT));
    rocksdb_options_set_compression(st->opts, rocksdb_lz4_compression);
    set_table_options(st, o->cache_mb);

    st->txdb_opts = rocksdb_transactiondb_options_create();
    rocksdb_transactiondb_options_set_transaction_lock_timeout(
        st->txdb_opts, o->lock_timeout_ms ? o->lock_timeout_ms : 2000);

    st->tx_opts = rocksdb_transaction_options_create();
    rocksdb_transaction_options_set_deadlock_detect(st->tx_opts, 1);
    rocksdb_transaction_options_set_lock_timeout(st->tx_opts,
                                                 o->lock_timeout_ms ? o->lock_timeout_ms : 2000);

    st->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->wopts, o->sync);
    st->ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(st->ropts, 1);
}

static void free_handles(struct store *st)
{
    for (int i = 0; i <= CF_COUNT; i++)
        if (st->cf[i])
            rocksdb_column_family_handle_destroy(st->cf[i]);
    if (st->db)
        rocksdb_transactiondb_close(st->db);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->table)
        rocksdb_block_based_options_destroy(st->table);
    if (st->cache)
        rocksdb_cache_destroy(st->cache);
    if (st->txdb_opts)
        rocksdb_transactiondb_options_destroy(st->txdb_opts);
    if (st->tx_opts)
        rocksdb_transaction_options_destroy(st->tx_opts);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
}

static int open_families(struct store *st, const char *dir, struct st_err *err)
{
    const char *names[CF_COUNT + 1];
    const rocksdb_options_t *cf_opts[CF_COUNT + 1];
    names[0] = "default";
    cf_opts[0] = st->opts;
    for (int i = 0; i < CF_COUNT; i++) {
        names[i + 1] = cf_names[i];
        cf_opts[i + 1] = st->opts;
    }
    rocksdb_column_family_handle_t *handles[CF_COUNT + 1] = {0};
    char *rerr = NULL;
    st->db = rocksdb_transactiondb_open_column_families(st->opts, st->txdb_opts, dir, CF_COUNT + 1,
                                                        names, cf_opts, handles, &rerr);
    if (rerr)
        return rocks_fail(rerr, "cannot open the register", err);
    st->cf[CF_COUNT] = handles[0];
    for (int i = 0; i < CF_COUNT; i++)
        st->cf[i] = handles[i + 1];
    return ST_OK;
}

/* A new register gets its schema version; an existing one must have ours,
 * and gets it written again: the write flush_logs needs at every open. */
static int check_schema(struct store *st, struct st_err *err)
{
    char *val = NULL;
    size_t vlen = 0;
    int rc = store_get(st, CF_METADATA, SCHEMA_KEY, strlen(SCHEMA_KEY), &val, &vlen, err);
    if (rc != ST_OK)
        return rc;
    bool same = !val || (vlen == strlen(SCHEMA_VERSION) && memcmp(val, SCHEMA_VERSION, vlen) == 0);
    free(val);
    if (!same) {
        set_err(err, "the register was written by a newer or unknown schema (not version %s)",
                SCHEMA_VERSION);
        return ST_CORRUPT;
    }
    char *rerr = NULL;
    rocksdb_transactiondb_put_cf(st->db, st->wopts, st->cf[CF_METADATA], SCHEMA_KEY,
                                 strlen(SCHEMA_KEY), SCHEMA_VERSION, strlen(SCHEMA_VERSION), &rerr);
    return rerr ? rocks_fail(rerr, "cannot write the schema version", err) : ST_OK;
}

/* Keeps the write-ahead logs few.  A TransactionDB runs with two-phase
 * commit enabled, and there RocksDB 7.8 deletes a log only when a flush job
 * (not the flush of what recovery found) has moved past it: a register whose
 * memtables never fill would keep every log of every session, one more at
 * each start, all read again at every open.  So each open flushes the
 * metadata family, which holds at least the schema version just written:
 * the logs of the sessions before are deleted, and a register keeps two. */
static int flush_logs(struct store *st, struct st_err *err)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *rerr = NULL;
    rocksdb_transactiondb_flush_cf(st->db, fo, st->cf[CF_METADATA], &rerr);
    rocksdb_flushoptions_destroy(fo);
    return rerr ? rocks_fail(rerr, "cannot flush the register's metadata", err) : ST_OK;
}

/* Finds the highest serial recorded, so a restart never issues one twice. */
static void load_serial(struct store *st)
{
    unsigned char last[SERIAL_PREFIX_LEN + 8];
    memcpy(last, SERIAL_PREFIX, SERIAL_PREFIX_LEN);
    memset(last + SERIAL_PREFIX_LEN, 0xff, 8);
    rocksdb_iterator_t *it =
        rocksdb_transactiondb_create_iterator_cf(st->db, st->ropts, st->cf[CF_METADATA]);
    rocksdb_iter_seek_for_prev(it, (const char *)last, sizeof last);
    uint64_t next = 0;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == sizeof last && memcmp(k, SERIAL_PREFIX, SERIAL_PREFIX_LEN) == 0)
            next = store_be64_get((const unsigned char *)k + SERIAL_PREFIX_LEN) + 1;
    }
    rocksdb_iter_destroy(it);
    atomic_store(&st->next_serial, next);
}

int store_open(const char *dir, const struct store_options *opt, struct keyring *kr,
               struct store **out, struct st_err *err)
{
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        set_err(err, "out of memory%s", NULL);
        return ST_NOMEM;
    }
    st->kr = kr;
    set_db_options(st, opt);
    int rc = open_families(st, dir, err);
    if (rc == ST_OK)
        rc = check_schema(st, err);
    if (rc == ST_OK)
        rc = flush_logs(st, err);
    if (rc != ST_OK) {
        free_handles(st);
        free(st);
        return rc;
    }
    load_serial(st);
    *out = st;
    return ST_OK;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    free_handles(st);
    free(st);
}

struct keyring *store_keyring(struct store *st)
{
    return st->kr;
}

uint64_t store_alloc_serial(struct store *st)
{
    return atomic_fetch_add(&st->next_serial, 1);
}

uint64_t store_serials_issued(struct store *st)
{
    return atomic_load(&st->next_serial);
}

/* ---- transactions ---------------------------------------------------------- */

int store_txn_begin(struct store *st, struct store_txn **out, struct st_err *err)
{
    struct store_txn *tx = malloc(sizeof *tx);
    if (!tx) {
        set_err(err, "out of memory%s", NULL);
        return ST_NOMEM;
    }
    tx->st = st;
    tx->t = rocksdb_transaction_begin(st->db, st->wopts, st->tx_opts, NULL);
    *out = tx;
    return ST_OK;
}

int store_txn_get_locked(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                         char **val, size_t *vlen, struct st_err *err)
{
    char *rerr = NULL;
    size_t len = 0;
    *val = rocksdb_transaction_get_for_update_cf(tx->t, tx->st->ropts, tx->st->cf[cf], key, klen,
                                                 &len, 1, &rerr);
    if (rerr)
        return rocks_fail(rerr, "read for update failed", err);
    if (vlen)
        *vlen = len;
    return ST_OK;
}

int store_txn_put(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                  const void *val, size_t vlen, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_transaction_put_cf(tx->t, tx->st->cf[cf], key, klen, val, vlen, &rerr);
    return rerr ? rocks_fail(rerr, "write failed", err) : ST_OK;
}

int store_txn_delete(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                     struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_transaction_delete_cf(tx->t, tx->st->cf[cf], key, klen, &rerr);
    return rerr ? rocks_fail(rerr, "delete failed", err) : ST_OK;
}

int store_txn_put_serial(struct store_txn *tx, uint64_t serial, const char *hn, struct st_err *err)
{
    unsigned char key[SERIAL_PREFIX_LEN + 8];
    memcpy(key, SERIAL_PREFIX, SERIAL_PREFIX_LEN);
    store_be64_put(serial, key + SERIAL_PREFIX_LEN);
    return store_txn_put(tx, CF_METADATA, key, sizeof key, hn, strlen(hn), err);
}

int store_txn_commit(struct store_txn *tx, struct st_err *err)
{
    char *rerr = NULL;
    rocksdb_transaction_commit(tx->t, &rerr);
    int rc = rerr ? rocks_fail(rerr, "commit failed", err) : ST_OK;
    rocksdb_transaction_destroy(tx->t);
    free(tx);
    return rc;
}

void store_txn_rollback(struct store_txn *tx)
{
    if (!tx)
        return;
    char *rerr = NULL;
    rocksdb_transaction_rollback(tx->t, &rerr);
    rocksdb_free(rerr);
    rocksdb_transaction_destroy(tx->t);
    free(tx);
}

/* ---- reads ------------------------------------------------------------------ */

int store_get(struct store *st, enum store_cf cf, const void *key, size_t klen, char **val,
              size_t *vlen, struct st_err *err)
{
    char *rerr = NULL;
    size_t len = 0;
    *val = rocksdb_transactiondb_get_cf(st->db, st->ropts, st->cf[cf], key, klen, &len, &rerr);
    if (rerr)
        return rocks_fail(rerr, "read failed", err);
    if (vlen)
        *vlen = len;
    return ST_OK;
}

int store_scan(struct store *st, enum store_cf cf, const void *prefix, size_t plen,
               store_scan_fn fn, void *ctx, struct st_err *err)
{
    rocksdb_iterator_t *it =
        rocksdb_transactiondb_create_iterator_cf(st->db, st->ropts, st->cf[cf]);
    rocksdb_iter_seek(it, prefix, plen);
    int stop = 0;
    for (; !stop && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < plen || memcmp(k, prefix, plen) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vlen);
        stop = fn(ctx, k, klen, v, vlen);
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr)
        return rocks_fail(rerr, "scan failed", err);
    return ST_OK;
}

/* ---- for the other files of storage/ (store_internal.h) ------------------------------ */

rocksdb_transactiondb_t *store_rocks(struct store *st)
{
    return st->db;
}

rocksdb_column_family_handle_t *store_cf_handle(struct store *st, enum store_cf cf)
{
    return st->cf[cf];
}

rocksdb_readoptions_t *store_read_options(struct store *st)
{
    return st->ropts;
}

rocksdb_writeoptions_t *store_write_options(struct store *st)
{
    return st->wopts;
}

int store_rocks_fail(char *rerr, const char *what, struct st_err *err)
{
    return rocks_fail(rerr, what, err);
}
