/*
 * storage/store_internal.h - what the files of storage/ share about the
 * database and nobody else sees: the RocksDB handles behind a struct store,
 * for code that needs more than storage.h's transactions and reads (the audit
 * log writes its own WriteBatches and walks key ranges with iterators).
 *
 * The handles belong to the store: never destroy them, and use them only
 * while the store is open.  The write options sync the WAL exactly when the
 * store was opened with `sync`.
 */
#ifndef HUDUMA_STORE_INTERNAL_H
#define HUDUMA_STORE_INTERNAL_H

#include "storage/storage.h"

#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>

/* RocksDB's own info logs (LOG, LOG.old.*) kept per database: it starts a
 * new one at each open and would keep a thousand. */
#define KEEP_INFO_LOGS 10

/* How many table files a database may keep open: `percent` of the process's
 * open files limit as it is at the call, less OPEN_FILES_RESERVE for
 * everything else, and never under OPEN_FILES_MIN (RocksDB's
 * max_open_files; see db.c). */
#define OPEN_FILES_RESERVE          256
#define OPEN_FILES_MIN              64
#define OPEN_FILES_REGISTER_PERCENT 60
#define OPEN_FILES_AUDIT_PERCENT    30
int store_open_files_budget(unsigned percent);

rocksdb_transactiondb_t *store_rocks(struct store *st);
rocksdb_column_family_handle_t *store_cf_handle(struct store *st, enum store_cf cf);
rocksdb_readoptions_t *store_read_options(struct store *st);
rocksdb_writeoptions_t *store_write_options(struct store *st);
/* Maps a RocksDB error string to an ST_* status, fills err, frees the string. */
int store_rocks_fail(char *rerr, const char *what, struct st_err *err);

/* Big-endian 64-bit numbers, as keys and values store them so they sort. */
static inline void store_be64_put(uint64_t v, unsigned char *p)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t store_be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Fault injection for the tests (storage/fault.c): with HUDUMA_FAULTS
 * defined, store_fault() is true on every Nth call of a site when the
 * environment has HUDUMA_FAULT_<name>=N; without it, never. */
struct store_fault {
    const char *name;
    atomic_int every; /* -1: not read yet; 0: never */
    atomic_ulong calls;
};
#define STORE_FAULT(name)                                                                          \
    {                                                                                              \
        (name), -1, 0                                                                              \
    }
#ifdef HUDUMA_FAULTS
bool store_fault(struct store_fault *f);
#else
static inline bool store_fault(struct store_fault *f)
{
    (void)f;
    return false;
}
#endif

#endif
