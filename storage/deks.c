/*
 * storage/deks.c - the register's data-encryption keys, kept in RocksDB
 * wrapped by the master key, and their rotation.
 *
 * In the metadata column family:
 *
 *   "keys/dek/" BE32(id)  -> the DEK wrapped by the master key (keys.h;
 *                            bound to its id: a copy under another id does
 *                            not unwrap)
 *   "keys/current"        -> BE32 id of the DEK new writes use
 *   "keys/rekey"          -> a re-encryption in progress (storage/rekey.c)
 *
 * Opening a register unwraps every DEK through the key holder (in hudumad,
 * the key process) into the store's keyring, so records sealed under any
 * earlier key stay readable.  A rotation makes DEK n+1, commits it wrapped
 * together with the new "keys/current" and a "keys/rekey" record in one
 * synced transaction, and only then makes it the keyring's current key:
 * nothing is ever sealed under a key that is not durably stored.  Old DEKs
 * are kept, so backups taken before a rotation stay readable too.
 */
#include "storage/storage.h"
#include "storage/rekey_internal.h"
#include "storage/store_internal.h"

#include "keys/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEK_PREFIX     "keys/dek/"
#define DEK_PREFIX_LEN 9
#define CURRENT_KEY    "keys/current"

/* fmt has one %s, for `detail` (cut to fit: messages name no key bytes anyway). */
static int fail(struct st_err *err, int rc, const char *fmt, const char *detail)
{
    if (err) {
        char cut[150];
        snprintf(cut, sizeof cut, "%.149s", detail ? detail : "");
        err->field[0] = '\0';
        snprintf(err->msg, sizeof err->msg, fmt, cut);
    }
    return rc;
}

static void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void dek_key(uint32_t id, uint8_t key[DEK_PREFIX_LEN + 4])
{
    memcpy(key, DEK_PREFIX, DEK_PREFIX_LEN);
    be32_put(key + DEK_PREFIX_LEN, id);
}

/* Stages DEK `id` (wrapped) and makes it the current one. */
static int put_dek(struct store_txn *tx, uint32_t id, const uint8_t *wrapped, struct st_err *err)
{
    uint8_t key[DEK_PREFIX_LEN + 4], cur[4];
    dek_key(id, key);
    be32_put(cur, id);
    int rc = store_txn_put(tx, CF_METADATA, key, sizeof key, wrapped, KEYS_WRAPPED_DEK_LEN, err);
    if (rc == ST_OK)
        rc = store_txn_put(tx, CF_METADATA, CURRENT_KEY, strlen(CURRENT_KEY), cur, 4, err);
    return rc;
}

/* ---- loading -------------------------------------------------------------------------- */

struct load {
    struct keyholder *h;
    struct keyring *kr;
    unsigned count;
    uint32_t highest;
    int rc;
    struct keys_err kerr;
};

static int load_one(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct load *l = ctx;
    if (klen != DEK_PREFIX_LEN + 4) {
        l->rc = ST_CORRUPT;
        snprintf(l->kerr.msg, sizeof l->kerr.msg, "a data-encryption key entry is malformed");
        return 1;
    }
    uint32_t id = be32_get((const uint8_t *)key + DEK_PREFIX_LEN);
    int rc = keys_dek_unwrap(l->h, l->kr, id, (const uint8_t *)val, vlen, &l->kerr);
    if (rc != KEYS_OK) {
        l->rc = rc == KEYS_EPEER || rc == KEYS_ENOMEM ? ST_CRYPTO : ST_CORRUPT;
        return 1;
    }
    l->count++;
    if (id > l->highest)
        l->highest = id;
    return 0;
}

static int read_current(struct store *st, uint32_t *id, struct st_err *err)
{
    char *val = NULL;
    size_t vlen = 0;
    int rc = store_get(st, CF_METADATA, CURRENT_KEY, strlen(CURRENT_KEY), &val, &vlen, err);
    if (rc == ST_OK && (!val || vlen != 4))
        rc = fail(err, ST_CORRUPT,
                  "the register does not say which data-encryption key is "
                  "current%s",
                  NULL);
    if (rc == ST_OK)
        *id = be32_get((const uint8_t *)val);
    free(val);
    return rc;
}

int store_deks_load(struct store *st, struct keyholder *h, struct st_err *err)
{
    struct load l = {.h = h, .kr = store_keyring(st), .rc = ST_OK};
    int rc = store_scan(st, CF_METADATA, DEK_PREFIX, DEK_PREFIX_LEN, load_one, &l, err);
    if (rc != ST_OK)
        return rc;
    if (l.rc != ST_OK)
        return fail(err, l.rc, "cannot unwrap the register's data-encryption keys: %s", l.kerr.msg);
    if (l.count == 0)
        return fail(err, ST_CORRUPT, "the register has no data-encryption key%s", NULL);
    uint32_t current = 0;
    rc = read_current(st, &current, err);
    struct keys_err kerr;
    if (rc == ST_OK && keys_use_dek(store_keyring(st), current, &kerr) != KEYS_OK)
        rc = fail(err, ST_CORRUPT, "the current data-encryption key is missing: %s", kerr.msg);
    return rc;
}

/* ---- making ----------------------------------------------------------------------------- */

static int new_dek(struct store *st, struct keyholder *h, uint32_t id, struct store_txn *tx,
                   struct st_err *err)
{
    uint8_t wrapped[KEYS_WRAPPED_DEK_LEN];
    struct keys_err kerr;
    int krc = keys_dek_create(h, store_keyring(st), id, wrapped, &kerr);
    if (krc != KEYS_OK)
        return fail(err, ST_CRYPTO, "cannot make a data-encryption key: %s", kerr.msg);
    return put_dek(tx, id, wrapped, err);
}

int store_deks_create(struct store *st, struct keyholder *h, struct st_err *err)
{
    char *val = NULL;
    int rc = store_get(st, CF_METADATA, CURRENT_KEY, strlen(CURRENT_KEY), &val, NULL, err);
    bool have = val != NULL;
    free(val);
    if (rc != ST_OK)
        return rc;
    if (have)
        return fail(err, ST_CONFLICT, "the register has data-encryption keys already%s", NULL);
    struct store_txn *tx;
    rc = store_txn_begin(st, &tx, err);
    if (rc != ST_OK)
        return rc;
    rc = new_dek(st, h, 1, tx, err);
    if (rc != ST_OK) {
        store_txn_rollback(tx);
        return rc;
    }
    rc = store_txn_commit(tx, err);
    return rc == ST_OK ? store_deks_use(st, 1, err) : rc;
}

int store_deks_use(struct store *st, uint32_t id, struct st_err *err)
{
    struct keys_err kerr;
    if (keys_use_dek(store_keyring(st), id, &kerr) != KEYS_OK)
        return fail(err, ST_CRYPTO, "%s", kerr.msg);
    return ST_OK;
}

/* The highest DEK id in the register (0 when none). */
static int highest_id(struct store *st, uint32_t *out, unsigned *count, struct st_err *err)
{
    rocksdb_readoptions_t *ro = store_read_options(st);
    rocksdb_iterator_t *it = rocksdb_transactiondb_create_iterator_cf(
        store_rocks(st), ro, store_cf_handle(st, CF_METADATA));
    *out = 0;
    *count = 0;
    for (rocksdb_iter_seek(it, DEK_PREFIX, DEK_PREFIX_LEN); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != DEK_PREFIX_LEN + 4 || memcmp(k, DEK_PREFIX, DEK_PREFIX_LEN) != 0)
            break;
        uint32_t id = be32_get((const uint8_t *)k + DEK_PREFIX_LEN);
        *out = id > *out ? id : *out;
        (*count)++;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    return rerr ? store_rocks_fail(rerr, "cannot list the data-encryption keys", err) : ST_OK;
}

int store_dek_rotate(struct store *st, struct keyholder *h, uint32_t *new_id, struct st_err *err)
{
    struct store_rekey status;
    uint32_t highest;
    unsigned count;
    int rc = store_rekey_status(st, &status, err);
    if (rc == ST_OK && status.running) {
        char what[96];
        snprintf(what, sizeof what, "%u (%llu of about %llu records done)",
                 (unsigned)status.current, (unsigned long long)status.done,
                 (unsigned long long)status.total);
        return fail(err, ST_CONFLICT,
                    "a rotation to data-encryption key %s is still "
                    "re-encrypting; it resumes by itself",
                    what);
    }
    if (rc == ST_OK)
        rc = highest_id(st, &highest, &count, err);
    if (rc == ST_OK && count >= KEYS_MAX_DEKS)
        return fail(err, ST_CONFLICT,
                    "the register holds the most data-encryption keys it "
                    "can%s",
                    NULL);
    struct store_txn *tx = NULL;
    if (rc == ST_OK)
        rc = store_txn_begin(st, &tx, err);
    if (rc != ST_OK)
        return rc;
    rc = new_dek(st, h, highest + 1, tx, err);
    if (rc == ST_OK)
        rc = store_rekey_begin(st, tx, highest + 1, err);
    if (rc != ST_OK) {
        store_txn_rollback(tx);
        return rc;
    }
    rc = store_txn_commit(tx, err);
    if (rc == ST_OK)
        rc = store_deks_use(st, highest + 1, err);
    if (rc == ST_OK)
        *new_id = highest + 1;
    return rc;
}
