/*
 * appliance/register.c - the register handle and the machinery every change
 * shares: opening the keys and the database, the transaction runner with its
 * retries, issuing Huduma Numbers, writing a record version with its history,
 * and the secondary indexes (documents, blocking keys, biometrics due).
 *
 * A change is a function run inside reg_in_txn(): it reads what it depends on
 * with locking reads, stages its writes, and is committed (WAL synced) only if
 * it returns REG_OK.  When RocksDB reports lock contention the whole function
 * runs again on a fresh transaction, so change functions keep no state outside
 * the transaction (a serial drawn by a failed attempt is a gap, never reused).
 */
#include "register_impl.h"

#include "hn.h"
#include "normalize.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TXN_ATTEMPTS 8
#define EAT_OFFSET   (3 * 3600)

int reg_fail(struct reg_result *res, int code, const char *field, const char *fmt, ...)
{
    if (!res)
        return code;
    res->code = code;
    snprintf(res->field, sizeof res->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    return code;
}

int reg_from_st(struct reg_result *res, int st_rc, const struct st_err *err)
{
    int code;
    switch (st_rc) {
    case ST_OK:
        return REG_OK;
    case ST_INVALID:
        code = REG_EINVALID;
        break;
    case ST_CONFLICT:
        code = REG_ECONFLICT;
        break;
    case ST_NOT_FOUND:
        code = REG_ENOTFOUND;
        break;
    case ST_BUSY:
        code = REG_EBUSY;
        break;
    default:
        code = REG_ESTORAGE;
    }
    return reg_fail(res, code, err->field, "%s", err->msg);
}

/* ---- paths, init, open ------------------------------------------------------- */

static void path_join(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Removes what a failed init made of the database. */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int create_database(const char *db_path, struct keyholder *keys, struct reg_result *res)
{
    struct keys_err kerr;
    struct keyring *kr;
    if (keys_keyring(keys, &kr, &kerr) != KEYS_OK)
        return reg_fail(res, REG_EKEYS, NULL, "%s", kerr.msg);
    struct store_options so = {.create = true, .sync = true};
    struct store *st = NULL;
    struct st_err err;
    int rc = store_open(db_path, &so, kr, &st, &err);
    if (rc == ST_OK)
        rc = store_deks_create(st, keys, &err);
    store_close(st);
    keys_close(kr);
    if (rc != ST_OK)
        nftw(db_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

int reg_init(const char *dir, const struct keys_options *ko, struct keyholder **keys_out,
             struct reg_result *res)
{
    char db_path[4096];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return reg_fail(res, REG_ESTORAGE, NULL, "cannot create %s: %s", dir, strerror(errno));
    path_join(db_path, sizeof db_path, dir, "db");
    if (access(db_path, F_OK) == 0)
        return reg_fail(res, REG_ECONFLICT, NULL, "a register already exists in %s", dir);
    struct keys_err kerr;
    struct keyholder *keys = NULL;
    int krc = keys_create(dir, ko, &keys, &kerr);
    if (krc == KEYS_EEXIST)
        return reg_fail(res, REG_ECONFLICT, NULL, "%s", kerr.msg);
    if (krc != KEYS_OK)
        return reg_fail(res, REG_EKEYS, NULL, "%s", kerr.msg);
    int rc = create_database(db_path, keys, res);
    if (rc != REG_OK) {
        keys_destroy(dir, keys, NULL);
        keys_holder_close(keys);
        return rc;
    }
    if (keys_out)
        *keys_out = keys;
    else
        keys_holder_close(keys);
    return REG_OK;
}

static int open_keys(struct reg *r, const struct reg_options *opt, struct reg_result *res)
{
    struct keys_err kerr;
    if (!opt || !opt->keys)
        return reg_fail(res, REG_EKEYS, NULL, "the register was opened without its key holder");
    if (keys_keyring(opt->keys, &r->kr, &kerr) != KEYS_OK)
        return reg_fail(res, REG_EKEYS, NULL, "%s", kerr.msg);
    return REG_OK;
}

int reg_open(const char *dir, const struct reg_options *opt, struct reg **out,
             struct reg_result *res)
{
    char db_path[4096];
    path_join(db_path, sizeof db_path, dir, "db");
    if (access(db_path, F_OK) != 0)
        return reg_fail(res, REG_ENOTFOUND, NULL,
                        "no register in %s (create one with `huduma init`)", dir);
    struct reg *r = calloc(1, sizeof *r);
    if (!r)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    if (open_keys(r, opt, res) != REG_OK) {
        free(r);
        return res ? res->code : REG_EKEYS;
    }
    struct store_options so = {.create = false, .sync = opt->sync};
    struct st_err err;
    int rc = store_open(db_path, &so, r->kr, &r->st, &err);
    if (rc == ST_OK)
        rc = store_deks_load(r->st, opt->keys, &err);
    if (rc == ST_OK && hn_scheme_new(keys_hn_key(r->kr), &r->hn) != 0)
        rc = ST_CRYPTO, snprintf(err.msg, sizeof err.msg, "cannot set up the number scheme"),
        err.field[0] = '\0';
    if (rc != ST_OK) {
        reg_close(r);
        return reg_from_st(res, rc, &err);
    }
    pthread_mutex_init(&r->hn_lock, NULL);
    reg_bio_init(r, opt->bio);
    r->fixed_now = opt->now;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&r->event_seq, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    *out = r;
    return REG_OK;
}

void reg_close(struct reg *r)
{
    if (!r)
        return;
    if (r->hn) {
        hn_scheme_free(r->hn);
        pthread_mutex_destroy(&r->hn_lock);
        reg_bio_close(r);
    }
    store_close(r->st);
    keys_close(r->kr);
    free(r);
}

uint64_t reg_numbers_issued(struct reg *r)
{
    return store_serials_issued(r->st);
}

struct store *reg_store(struct reg *r)
{
    return r->st;
}

/* ---- time ----------------------------------------------------------------------- */

int64_t reg_now(const struct reg *r)
{
    return r->fixed_now ? r->fixed_now : (int64_t)time(NULL);
}

struct date reg_today(const struct reg *r)
{
    time_t t = (time_t)(reg_now(r) + EAT_OFFSET);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (struct date){.year = (int16_t)(tm.tm_year + 1900),
                         .month = (uint8_t)(tm.tm_mon + 1),
                         .day = (uint8_t)tm.tm_mday};
}

/* ---- transactions ---------------------------------------------------------------- */

int reg_in_txn(struct reg *r, txn_fn fn, void *ctx, struct reg_result *res)
{
    for (int attempt = 0; attempt < TXN_ATTEMPTS; attempt++) {
        struct store_txn *tx;
        struct st_err err;
        int rc = store_txn_begin(r->st, &tx, &err);
        if (rc != ST_OK)
            return reg_from_st(res, rc, &err);
        rc = fn(r, tx, ctx, res);
        if (rc != REG_OK) {
            store_txn_rollback(tx);
            if (rc != REG_EBUSY)
                return rc;
        } else {
            rc = store_txn_commit(tx, &err);
            if (rc == ST_OK) {
                res->code = REG_OK;
                return REG_OK;
            }
            if (rc != ST_BUSY)
                return reg_from_st(res, rc, &err);
        }
        usleep(1000u << (attempt < 6 ? attempt : 6));
    }
    return reg_fail(res, REG_EBUSY, NULL, "the register is busy with conflicting changes; retry");
}

/* ---- index keys ---------------------------------------------------------------- */

void key_enrolment(struct idx_key *k, const char *enrolment_id)
{
    size_t n = strnlen(enrolment_id, ID_MAX_LEN);
    k->b[0] = 'E';
    memcpy(k->b + 1, enrolment_id, n);
    k->len = 1 + n;
}

void key_document(struct reg *r, struct idx_key *k, enum doc_type type, const char *number)
{
    char folded[DOC_NUMBER_MAX_LEN + 1], text[64];
    docnum_fold(number, folded, sizeof folded);
    int n = snprintf(text, sizeof text, "%s:%s", doc_type_name(type), folded);
    k->b[0] = 'D';
    keys_index_mac(r->kr, "document", text, (size_t)n, (uint8_t *)k->b + 1);
    k->len = 1 + KEYS_MAC_LEN;
}

/* Names folded to letters and sorted (a swapped surname still matches), date, sex. */
void key_blocking(struct reg *r, struct idx_key *k, const struct person *p)
{
    char a[NAME_MAX_LEN * 2 + 1], b[NAME_MAX_LEN * 2 + 1], dob[11], text[320];
    name_fold(p->surname, a, sizeof a, true);
    name_fold(p->first_name, b, sizeof b, true);
    date_format(&p->dob, p->dob_year_only, dob);
    int swap = strcmp(a, b) > 0;
    int n = snprintf(text, sizeof text, "%s|%s|%s|%s", swap ? b : a, swap ? a : b, dob,
                     sex_name(p->sex));
    k->b[0] = 'B';
    keys_index_mac(r->kr, "blocking", text, (size_t)n, (uint8_t *)k->b + 1);
    k->len = 1 + KEYS_MAC_LEN;
}

void key_due(struct idx_key *k, const struct date *due, const char *hn)
{
    k->len =
        (size_t)snprintf(k->b, sizeof k->b, "U%04d%02d%02d%s", due->year, due->month, due->day, hn);
}

/* ---- numbers, records, history ---------------------------------------------------- */

int issue_number(struct reg *r, struct store_txn *tx, char hn[HN_LEN + 1], struct reg_result *res)
{
    uint64_t serial = store_alloc_serial(r->st);
    pthread_mutex_lock(&r->hn_lock);
    int rc = hn_from_serial(r->hn, serial, hn);
    pthread_mutex_unlock(&r->hn_lock);
    if (rc != 0)
        return reg_fail(res, REG_ESTORAGE, NULL, "the Huduma Number space is exhausted");
    struct st_err err;
    rc = store_txn_put_serial(tx, serial, hn, &err);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

int load_person(struct reg *r, struct store_txn *tx, const char *hn, struct person *p,
                struct reg_result *res)
{
    if (!hn_is_well_formed(hn))
        return reg_fail(res, REG_EINVALID, "huduma_number",
                        "'%.20s' is not a Huduma Number (12 digits with a valid check digit)",
                        hn ? hn : "");
    char *val = NULL;
    size_t vlen = 0;
    struct st_err err;
    int rc = tx ? store_txn_get_locked(tx, CF_PERSONS, hn, HN_LEN, &val, &vlen, &err)
                : store_get(r->st, CF_PERSONS, hn, HN_LEN, &val, &vlen, &err);
    if (rc != ST_OK)
        return reg_from_st(res, rc, &err);
    if (!val)
        return reg_fail(res, REG_ENOTFOUND, "huduma_number", "no person has this number");
    rc = person_unseal(r->kr, hn, val, vlen, p, &err);
    free(val);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

static json_t *change_json(struct reg *r, const char *kind, const struct change_note *note)
{
    json_t *c = json_pack("{s:s, s:I}", "kind", kind, "at", (json_int_t)reg_now(r));
    if (note && note->reason)
        json_object_set_new(c, "reason", json_string(note->reason));
    if (note && note->officer)
        json_object_set_new(c, "officer", json_string(note->officer));
    if (note && note->evidence)
        json_object_set_new(c, "evidence", json_string(note->evidence));
    return c;
}

int idx_get_locked(struct store_txn *tx, const struct idx_key *k, char **val, size_t *vlen,
                   struct reg_result *res)
{
    struct st_err err;
    int rc = store_txn_get_locked(tx, CF_INDEXES, k->b, k->len, val, vlen, &err);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

int put_sealed_json(struct reg *r, struct store_txn *tx, enum store_cf cf, const void *key,
                    size_t klen, const char *aad, json_t *obj, struct reg_result *res)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    char *sealed;
    size_t slen, tlen = strlen(text);
    struct st_err err;
    int rc = blob_seal(r->kr, aad, text, tlen, &sealed, &slen, &err);
    explicit_bzero(text, tlen);
    free(text);
    if (rc == ST_OK) {
        rc = store_txn_put(tx, cf, key, klen, sealed, slen, &err);
        free(sealed);
    }
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

static int put_history(struct reg *r, struct store_txn *tx, const struct person *p,
                       const char *kind, const struct change_note *note, struct reg_result *res)
{
    json_t *entry =
        json_pack("{s:o, s:o}", "record", person_to_json(p), "change", change_json(r, kind, note));
    char key[HN_LEN + 4];
    memcpy(key, p->hn, HN_LEN);
    for (int i = 0; i < 4; i++)
        key[HN_LEN + i] = (char)(p->version >> (24 - 8 * i));
    return put_sealed_json(r, tx, CF_HISTORY, key, sizeof key, p->hn, entry, res);
}

static int put_event(struct reg *r, struct store_txn *tx, const struct person *p, const char *kind,
                     struct reg_result *res)
{
    uint64_t seq = atomic_fetch_add(&r->event_seq, 1);
    char key[8 + HN_LEN];
    for (int i = 0; i < 8; i++)
        key[i] = (char)(seq >> (56 - 8 * i));
    memcpy(key + 8, p->hn, HN_LEN);
    char val[96];
    int n = snprintf(val, sizeof val, "{\"type\":\"%s\",\"version\":%u,\"at\":%lld}", kind,
                     p->version, (long long)reg_now(r));
    struct st_err err;
    int rc = store_txn_put(tx, CF_EVENTS, key, sizeof key, val, (size_t)n, &err);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

int write_version(struct reg *r, struct store_txn *tx, const struct person *p, const char *kind,
                  const struct change_note *note, struct reg_result *res)
{
    char *sealed;
    size_t slen;
    struct st_err err;
    int rc = person_seal(r->kr, p, p->hn, &sealed, &slen, &err);
    if (rc != ST_OK)
        return reg_from_st(res, rc, &err);
    rc = store_txn_put(tx, CF_PERSONS, p->hn, HN_LEN, sealed, slen, &err);
    free(sealed);
    if (rc != ST_OK)
        return reg_from_st(res, rc, &err);
    rc = put_history(r, tx, p, kind, note, res);
    return rc == REG_OK ? put_event(r, tx, p, kind, res) : rc;
}

/* ---- blocking-key lists --------------------------------------------------------- */

/* Returns a copy of `list` without the line `entry` (NUL-terminated). */
static char *list_without(const char *list, size_t len, const char *entry, size_t *out_len)
{
    char *out = malloc(len + 1);
    size_t n = 0, elen = strlen(entry);
    for (size_t i = 0; out && i < len;) {
        const char *nl = memchr(list + i, '\n', len - i);
        size_t line = nl ? (size_t)(nl - (list + i)) : len - i;
        if (!(line == elen && memcmp(list + i, entry, elen) == 0)) {
            memcpy(out + n, list + i, line);
            n += line;
            out[n++] = '\n';
        }
        i += line + 1;
    }
    *out_len = n;
    return out;
}

int block_add(struct reg *r, struct store_txn *tx, const struct person *p, const char *entry,
              struct reg_result *res)
{
    struct idx_key k;
    key_blocking(r, &k, p);
    char *val = NULL;
    size_t vlen = 0;
    struct st_err err;
    int rc = idx_get_locked(tx, &k, &val, &vlen, res);
    if (rc != REG_OK)
        return rc;
    size_t elen = strlen(entry);
    char *list = realloc(val, vlen + elen + 1);
    if (!list) {
        free(val);
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    }
    memcpy(list + vlen, entry, elen);
    list[vlen + elen] = '\n';
    rc = store_txn_put(tx, CF_INDEXES, k.b, k.len, list, vlen + elen + 1, &err);
    free(list);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

int block_remove(struct reg *r, struct store_txn *tx, const struct person *p, const char *entry,
                 struct reg_result *res)
{
    struct idx_key k;
    key_blocking(r, &k, p);
    char *val = NULL;
    size_t vlen = 0, nlen = 0;
    struct st_err err;
    int rc = idx_get_locked(tx, &k, &val, &vlen, res);
    if (rc != REG_OK || !val)
        return rc;
    char *list = list_without(val, vlen, entry, &nlen);
    free(val);
    if (!list)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    rc = nlen ? store_txn_put(tx, CF_INDEXES, k.b, k.len, list, nlen, &err)
              : store_txn_delete(tx, CF_INDEXES, k.b, k.len, &err);
    free(list);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

/* ---- document index ---------------------------------------------------------------- */

/* Refusals name the document by its position, never by its number: messages end up in logs. */
static int doc_field(struct reg_result *res, int i, int code, const char *msg)
{
    char field[40];
    snprintf(field, sizeof field, "documents[%d].number", i);
    return reg_fail(res, code, field, "%s", msg);
}

/* Points every document of p at `owner` (an HN or "P<enrolment id>"), refusing
 * a number another owner holds.  Locks are taken in key order, so concurrent
 * claims cannot deadlock. */
int docs_claim(struct reg *r, struct store_txn *tx, const struct person *p, const char *owner,
               struct reg_result *res)
{
    struct idx_key keys[PERSON_MAX_DOCS];
    for (int i = 0; i < p->ndocs; i++) {
        key_document(r, &keys[i], p->docs[i].type, p->docs[i].number);
        for (int j = 0; j < i; j++)
            if (memcmp(keys[i].b, keys[j].b, keys[i].len) == 0)
                return doc_field(res, i, REG_EINVALID, "the same document is listed twice");
    }
    int order[PERSON_MAX_DOCS];
    for (int i = 0; i < p->ndocs; i++) {
        int j = i;
        while (j > 0 && memcmp(keys[order[j - 1]].b, keys[i].b, keys[i].len) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    struct st_err err;
    size_t olen = strlen(owner);
    for (int o = 0; o < p->ndocs; o++) {
        int i = order[o];
        char *val = NULL;
        size_t vlen = 0;
        int rc = idx_get_locked(tx, &keys[i], &val, &vlen, res);
        if (rc != REG_OK)
            return rc;
        int mine = val && vlen == olen && memcmp(val, owner, olen) == 0;
        free(val);
        if (val && !mine)
            return doc_field(res, i, REG_ECONFLICT,
                             "this document number is already linked to another person");
        if (!val && (rc = store_txn_put(tx, CF_INDEXES, keys[i].b, keys[i].len, owner, olen,
                                        &err)) != ST_OK)
            return reg_from_st(res, rc, &err);
    }
    return REG_OK;
}

int docs_release(struct reg *r, struct store_txn *tx, const struct person *p, const char *owner,
                 struct reg_result *res)
{
    struct st_err err;
    size_t olen = strlen(owner);
    for (int i = 0; i < p->ndocs; i++) {
        struct idx_key k;
        key_document(r, &k, p->docs[i].type, p->docs[i].number);
        char *val = NULL;
        size_t vlen = 0;
        int rc = idx_get_locked(tx, &k, &val, &vlen, res);
        if (rc != REG_OK)
            return rc;
        int mine = val && vlen == olen && memcmp(val, owner, olen) == 0;
        free(val);
        if (mine && (rc = store_txn_delete(tx, CF_INDEXES, k.b, k.len, &err)) != ST_OK)
            return reg_from_st(res, rc, &err);
    }
    return REG_OK;
}

/* ---- biometrics due ---------------------------------------------------------------- */

static bool awaits_capture(const struct person *p)
{
    return p && p->hn[0] && p->status != STATUS_DECEASED &&
           (p->bio_status == BIO_EXEMPT_UNDER_6 || p->bio_status == BIO_DUE);
}

/* Keeps the 'U' entry of a person in step with their record. */
int due_index_update(struct reg *r, struct store_txn *tx, const struct person *before,
                     const struct person *after, struct reg_result *res)
{
    (void)r;
    struct st_err err;
    struct idx_key k;
    int rc = ST_OK;
    if (awaits_capture(before)) {
        struct date d = sixth_birthday(before);
        key_due(&k, &d, before->hn);
        rc = store_txn_delete(tx, CF_INDEXES, k.b, k.len, &err);
    }
    if (rc == ST_OK && awaits_capture(after)) {
        struct date d = sixth_birthday(after);
        key_due(&k, &d, after->hn);
        rc = store_txn_put(tx, CF_INDEXES, k.b, k.len, "", 0, &err);
    }
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}
