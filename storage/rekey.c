/*
 * storage/rekey.c - re-encrypting the register under a new data-encryption
 * key, in the background, resumably.
 *
 * After a rotation (storage/deks.c) new writes use the new key at once; this
 * walks every sealed value and re-seals those still under an older key.  The
 * sealed column families and the associated data of their values:
 *
 *   persons, biometrics, pending   the whole key (a Huduma Number, or the
 *                                  enrolment id of a held enrolment)
 *   history, documents             the key's first 12 bytes (the HN)
 *
 * Progress lives in the metadata value "keys/rekey":
 *
 *   u8 version (1) | BE32 target key id | u8 family | u8 pass |
 *   BE64 examined | BE64 total | BE64 re-sealed | BE64 re-sealed this pass |
 *   cursor (the last key done)
 *
 * One step reads up to EXAMINE_MAX values from the cursor on, picks up to
 * `batch` that are not under the target key, and in one transaction locks
 * each (GetForUpdate), re-checks it (a writer may have replaced it
 * meanwhile), opens it with its associated data, re-seals it under the
 * current key, and writes it back together with the advanced cursor.  A
 * writer touching the same record waits for that lock or, if it came first,
 * leaves a value this step then skips; so nothing is lost or written twice,
 * and a crash resumes from the last committed cursor.  A writer that sealed
 * under the old key just before the rotation and committed after the walk
 * passed its record leaves a straggler: so after the first pass the walk
 * starts over, and it ends only after a pass that re-sealed nothing (at most
 * MAX_PASSES).  Records under any older key remain readable throughout,
 * since every DEK stays in the keyring.
 */
#include "storage/storage.h"
#include "storage/rekey_internal.h"
#include "storage/store_internal.h"

#include "keys/keys.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REKEY_KEY     "keys/rekey"
#define STATE_VERSION 1
#define STATE_HEAD    39
#define EXAMINE_MAX   4096
#define MAX_PASSES    4
#define HN_AAD_LEN    12

struct sealed_family {
    enum store_cf cf;
    size_t aad_len; /* 0: the whole key */
};

static const struct sealed_family families[] = {
    {CF_PERSONS, 0}, {CF_HISTORY, HN_AAD_LEN}, {CF_DOCUMENTS, HN_AAD_LEN},
    {CF_PENDING, 0}, {CF_BIOMETRICS, 0},
};
#define NFAMILIES (sizeof families / sizeof *families)

struct state {
    uint32_t target;
    uint8_t family;
    uint8_t pass;
    uint64_t examined, total, resealed, pass_resealed;
    size_t cursor_len;
    char cursor[512];
};

static int fail(struct st_err *err, int rc, const char *msg)
{
    if (err) {
        err->field[0] = '\0';
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return rc;
}

/* ---- the state value ------------------------------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t encode(const struct state *s, uint8_t *out)
{
    out[0] = STATE_VERSION;
    put_be(out + 1, s->target, 4);
    out[5] = s->family;
    out[6] = s->pass;
    put_be(out + 7, s->examined, 8);
    put_be(out + 15, s->total, 8);
    put_be(out + 23, s->resealed, 8);
    put_be(out + 31, s->pass_resealed, 8);
    memcpy(out + STATE_HEAD, s->cursor, s->cursor_len);
    return STATE_HEAD + s->cursor_len;
}

static bool decode(const uint8_t *v, size_t len, struct state *s)
{
    if (len < STATE_HEAD || v[0] != STATE_VERSION || len - STATE_HEAD > sizeof s->cursor)
        return false;
    s->target = (uint32_t)get_be(v + 1, 4);
    s->family = v[5];
    s->pass = v[6];
    s->examined = get_be(v + 7, 8);
    s->total = get_be(v + 15, 8);
    s->resealed = get_be(v + 23, 8);
    s->pass_resealed = get_be(v + 31, 8);
    s->cursor_len = len - STATE_HEAD;
    memcpy(s->cursor, v + STATE_HEAD, s->cursor_len);
    return s->target != 0 && s->family <= NFAMILIES;
}

static int read_state(struct store *st, struct state *s, bool *present, struct st_err *err)
{
    char *val = NULL;
    size_t vlen = 0;
    int rc = store_get(st, CF_METADATA, REKEY_KEY, strlen(REKEY_KEY), &val, &vlen, err);
    *present = rc == ST_OK && val != NULL;
    if (*present && !decode((const uint8_t *)val, vlen, s))
        rc = fail(err, ST_CORRUPT, "the re-encryption progress record is malformed");
    free(val);
    return rc;
}

static int write_state(struct store_txn *tx, const struct state *s, struct st_err *err)
{
    uint8_t buf[STATE_HEAD + sizeof s->cursor];
    size_t n = encode(s, buf);
    return store_txn_put(tx, CF_METADATA, REKEY_KEY, strlen(REKEY_KEY), buf, n, err);
}

/* ---- counting, status ------------------------------------------------------------------- */

static uint64_t count_family(struct store *st, enum store_cf cf)
{
    rocksdb_iterator_t *it = rocksdb_transactiondb_create_iterator_cf(
        store_rocks(st), store_read_options(st), store_cf_handle(st, cf));
    uint64_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
        n++;
    rocksdb_iter_destroy(it);
    return n;
}

int store_rekey_begin(struct store *st, struct store_txn *tx, uint32_t target, struct st_err *err)
{
    struct state s = {.target = target};
    for (size_t i = 0; i < NFAMILIES; i++)
        s.total += count_family(st, families[i].cf);
    return write_state(tx, &s, err);
}

static void report(const struct state *s, uint32_t current, struct store_rekey *out)
{
    out->current = current;
    out->running = true;
    out->target = s->target;
    out->pass = s->pass + 1u;
    out->done = s->examined;
    out->total = s->total;
    out->resealed = s->resealed;
}

int store_rekey_status(struct store *st, struct store_rekey *out, struct st_err *err)
{
    struct state s;
    bool present;
    memset(out, 0, sizeof *out);
    out->current = keys_current_id(store_keyring(st));
    int rc = read_state(st, &s, &present, err);
    if (rc != ST_OK || !present)
        return rc;
    report(&s, out->current, out);
    return ST_OK;
}

/* ---- one step ---------------------------------------------------------------------------- */

struct picked {
    size_t n;
    char *keys[256];
    size_t lens[256];
    size_t examined;
    bool at_end;
    char last[512];
    size_t last_len;
};

static void picked_free(struct picked *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->keys[i]);
}

static bool pick(struct picked *p, const char *k, size_t klen)
{
    char *copy = malloc(klen ? klen : 1);
    if (!copy)
        return false;
    memcpy(copy, k, klen);
    p->keys[p->n] = copy;
    p->lens[p->n++] = klen;
    return true;
}

/* Reads from the cursor on; picks the values not under `target`. */
static int collect(struct store *st, const struct state *s, size_t batch, struct picked *p,
                   struct st_err *err)
{
    rocksdb_iterator_t *it = rocksdb_transactiondb_create_iterator_cf(
        store_rocks(st), store_read_options(st), store_cf_handle(st, families[s->family].cf));
    if (s->cursor_len == 0)
        rocksdb_iter_seek_to_first(it);
    else
        rocksdb_iter_seek(it, s->cursor, s->cursor_len);
    int rc = ST_OK;
    for (; rocksdb_iter_valid(it) && p->n < batch && p->examined < EXAMINE_MAX;
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (s->cursor_len && klen == s->cursor_len && memcmp(k, s->cursor, klen) == 0)
            continue; /* done by the last step */
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen > sizeof p->last) {
            rc = fail(err, ST_CORRUPT, "a sealed record has an overlong key");
            break;
        }
        p->examined++;
        memcpy(p->last, k, klen);
        p->last_len = klen;
        if (keys_envelope_key_id((const uint8_t *)v, vlen) != s->target && !pick(p, k, klen)) {
            rc = fail(err, ST_NOMEM, "out of memory");
            break;
        }
    }
    p->at_end = rc == ST_OK && !rocksdb_iter_valid(it);
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (rerr)
        return store_rocks_fail(rerr, "cannot read the register", err);
    return rc;
}

/* Re-seals one locked value under the current key; *done when it had to. */
static int reseal(struct store_txn *tx, struct keyring *kr, const struct sealed_family *fam,
                  const char *key, size_t klen, uint32_t target, bool *done, struct st_err *err)
{
    char *val = NULL;
    size_t vlen = 0;
    *done = false;
    int rc = store_txn_get_locked(tx, fam->cf, key, klen, &val, &vlen, err);
    if (rc != ST_OK || !val || keys_envelope_key_id((uint8_t *)val, vlen) == target) {
        free(val);
        return rc;
    }
    size_t aad_len = fam->aad_len ? fam->aad_len : klen;
    uint8_t *plain = vlen >= KEYS_SEAL_OVERHEAD ? malloc(vlen) : NULL;
    uint8_t *sealed = plain ? malloc(vlen) : NULL;
    size_t plen = 0;
    struct keys_err kerr;
    if (!sealed || klen < aad_len)
        rc = fail(err, sealed ? ST_CORRUPT : ST_NOMEM, "a sealed record cannot be re-encrypted");
    else if (keys_open(kr, key, aad_len, (uint8_t *)val, vlen, plain, &plen, &kerr) != KEYS_OK)
        rc = fail(err, ST_CORRUPT, "a sealed record does not authenticate; nothing re-encrypted");
    else if (keys_seal(kr, key, aad_len, plain, plen, sealed, &kerr) != KEYS_OK)
        rc = fail(err, ST_CRYPTO, "cannot re-seal a record");
    else if ((rc = store_txn_put(tx, fam->cf, key, klen, sealed, vlen, err)) == ST_OK)
        *done = true;
    if (plain)
        OPENSSL_cleanse(plain, vlen);
    free(plain);
    free(sealed);
    free(val);
    return rc;
}

/* Moves the cursor past what this step read; to the next family, the next pass, or the end. */
static void advance(struct state *s, const struct picked *p, uint64_t resealed, bool *finished)
{
    if (s->pass == 0)
        s->examined += p->examined;
    s->resealed += resealed;
    s->pass_resealed += resealed;
    *finished = false;
    if (!p->at_end) {
        memcpy(s->cursor, p->last, p->last_len);
        s->cursor_len = p->last_len;
        return;
    }
    s->cursor_len = 0;
    if (++s->family < NFAMILIES)
        return;
    s->family = 0;
    if (s->pass > 0 && (s->pass_resealed == 0 || s->pass + 1 >= MAX_PASSES))
        *finished = true;
    s->pass++;
    s->pass_resealed = 0;
}

int store_rekey_step(struct store *st, size_t batch, struct store_rekey *after, bool *finished,
                     struct st_err *err)
{
    struct state s;
    bool present;
    *finished = false;
    if (after) {
        memset(after, 0, sizeof *after);
        after->current = keys_current_id(store_keyring(st));
    }
    int rc = read_state(st, &s, &present, err);
    if (rc != ST_OK || !present) {
        *finished = rc == ST_OK;
        return rc;
    }
    struct keyring *kr = store_keyring(st);
    if (keys_current_id(kr) != s.target)
        return fail(err, ST_CORRUPT, "the re-encryption's target key is not the current key");
    if (batch == 0 || batch > 256)
        batch = 256;
    struct picked p = {0};
    rc = collect(st, &s, batch, &p, err);
    struct store_txn *tx = NULL;
    if (rc == ST_OK)
        rc = store_txn_begin(st, &tx, err);
    uint64_t resealed = 0;
    for (size_t i = 0; rc == ST_OK && i < p.n; i++) {
        bool done;
        rc = reseal(tx, kr, &families[s.family], p.keys[i], p.lens[i], s.target, &done, err);
        resealed += done;
    }
    advance(&s, &p, resealed, finished);
    if (rc == ST_OK)
        rc = *finished ? store_txn_delete(tx, CF_METADATA, REKEY_KEY, strlen(REKEY_KEY), err)
                       : write_state(tx, &s, err);
    if (rc == ST_OK) {
        rc = store_txn_commit(tx, err);
        tx = NULL;
    }
    if (tx)
        store_txn_rollback(tx);
    if (rc != ST_OK)
        *finished = false;
    if (rc == ST_OK && after) {
        report(&s, s.target, after);
        after->running = !*finished;
    }
    picked_free(&p);
    return rc;
}
