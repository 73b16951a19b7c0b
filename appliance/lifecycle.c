/*
 * appliance/lifecycle.c - keeping a record true for a lifetime: reads,
 * corrections with their history, deaths, documents issued, look-up by
 * document number, and the list of children whose biometrics fall due.
 *
 * A correction is a merge: the members given replace the record's (null
 * removes an optional one), the result passes the same rules as an
 * enrolment, and the indexes that depend on changed members (documents,
 * blocking key, biometrics due) move with it in the same transaction.  Every
 * version is kept in the history column family with who changed it, why, and
 * on what evidence.
 */
#include "register_impl.h"

#include "hn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Members a correction may not touch: the register sets them. */
static const char *const fixed_members[] = {
    "huduma_number", "version", "status", "biometric_status", "death", "updated_at", "enrolment"};

static void present_status(struct reg *r, struct person *p)
{
    struct date today = reg_today(r);
    if (p->bio_status == BIO_EXEMPT_UNDER_6 && age_years(&p->dob, &today) >= 6)
        p->bio_status = BIO_DUE;
}

int reg_get(struct reg *r, const char *hn, struct person *p, struct reg_result *res)
{
    int rc = load_person(r, NULL, hn, p, res);
    if (rc == REG_OK) {
        present_status(r, p);
        res->code = REG_OK;
    }
    return rc;
}

/* ---- corrections ------------------------------------------------------------------- */

struct correction {
    const char *hn;
    const json_t *changes;
    const struct change_note *note;
    uint32_t version;
    struct bio_person *indexed; /* new biometrics, for the index after the commit */
};

static int merge_changes(struct reg *r, const struct person *cur, const json_t *changes,
                         struct person *next, struct biometrics **bio, struct reg_result *res)
{
    json_t *obj = person_to_json(cur);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)changes, name, v)
    {
        if (strcmp(name, "biometrics") == 0)
            continue;
        if (json_is_null(v))
            json_object_del(obj, name);
        else
            json_object_set(obj, name, v);
    }
    struct st_err err = {0};
    int st = person_from_json(obj, true, next, &err);
    json_decref(obj);
    if (st != ST_OK)
        return reg_from_st(res, st, &err);
    json_t *b = json_object_get(changes, "biometrics");
    if (b && !json_is_null(b)) {
        *bio = calloc(1, sizeof **bio);
        st = *bio ? biometrics_from_json(b, *bio, &err) : ST_NOMEM;
        if (st != ST_OK)
            return reg_from_st(res, st, &err);
    }
    (void)r;
    return REG_OK;
}

struct reclaim {
    struct reg *r;
    struct store_txn *tx;
    const char *hn;
    int st;
    struct st_err err;
};

/* Links the number of a document issued to the person to them again if it is free. */
static int reclaim_one(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct reclaim *w = ctx;
    (void)k, (void)kl;
    char *text, *val = NULL;
    size_t tlen;
    if (blob_unseal(w->r->kr, w->hn, v, vl, &text, &tlen, &w->err) != ST_OK)
        return 0;
    json_t *d = json_loadb(text, tlen, 0, NULL);
    free(text);
    const char *number = json_string_value(json_object_get(d, "number"));
    enum doc_type type = doc_type_from_name(json_string_value(json_object_get(d, "type")));
    if (number && type != DOC_UNSET) {
        struct idx_key key;
        key_document(w->r, &key, type, number);
        w->st = store_txn_get_locked(w->tx, CF_INDEXES, key.b, key.len, &val, NULL, &w->err);
        if (w->st == ST_OK && !val)
            w->st = store_txn_put(w->tx, CF_INDEXES, key.b, key.len, w->hn, HN_LEN, &w->err);
        free(val);
    }
    json_decref(d);
    return w->st != ST_OK;
}

static int reindex(struct reg *r, struct store_txn *tx, const struct person *old,
                   const struct person *next, struct reg_result *res)
{
    char entry[HN_LEN + 2];
    snprintf(entry, sizeof entry, "H%s", old->hn);
    int rc = docs_release(r, tx, old, old->hn, res);
    if (rc == REG_OK)
        rc = docs_claim(r, tx, next, next->hn, res);
    /* Documents issued to the person stay theirs, whatever the record lists now. */
    struct reclaim w = {.r = r, .tx = tx, .hn = next->hn, .st = ST_OK};
    int st = rc == REG_OK
                 ? store_scan(r->st, CF_DOCUMENTS, next->hn, HN_LEN, reclaim_one, &w, &w.err)
                 : ST_OK;
    if (st == ST_OK)
        st = w.st;
    if (st != ST_OK)
        rc = reg_from_st(res, st, &w.err);
    struct idx_key a, b;
    key_blocking(r, &a, old);
    key_blocking(r, &b, next);
    if (rc == REG_OK && memcmp(a.b, b.b, a.len) != 0) {
        rc = block_remove(r, tx, old, entry, res);
        if (rc == REG_OK)
            rc = block_add(r, tx, next, entry, res);
    }
    return rc == REG_OK ? due_index_update(r, tx, old, next, res) : rc;
}

static int correct_txn(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    struct correction *c = ctx;
    struct person *cur = malloc(sizeof *cur), *next = malloc(sizeof *next);
    struct biometrics *bio = NULL;
    int rc = cur && next ? load_person(r, tx, c->hn, cur, res)
                         : reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    if (rc == REG_OK)
        rc = merge_changes(r, cur, c->changes, next, &bio, res);
    if (rc == REG_OK) {
        /* what the register owns carries over */
        memcpy(next->hn, cur->hn, sizeof next->hn);
        next->enrolment = cur->enrolment;
        next->status = cur->status;
        next->death_date = cur->death_date;
        memcpy(next->death_certificate, cur->death_certificate, sizeof next->death_certificate);
        next->bio_status = cur->bio_status;
        next->version = cur->version + 1;
        next->updated_at = reg_now(r);
        rc = check_person(r, next, bio, RULES_CORRECT, res);
    }
    if (rc == REG_OK) {
        derive_bio_status(r, next, bio);
        rc = reindex(r, tx, cur, next, res);
    }
    if (rc == REG_OK && bio)
        rc = put_sealed_json(r, tx, CF_BIOMETRICS, next->hn, HN_LEN, next->hn,
                             biometrics_to_json(bio), res);
    bio_person_free(c->indexed); /* from an attempt that was retried */
    c->indexed = NULL;
    if (rc == REG_OK && bio)
        rc = reg_bio_prepare(bio, &c->indexed, res);
    if (rc == REG_OK && c->indexed)
        rc = reg_bio_stage(r, tx, next->hn, c->indexed, res);
    if (rc == REG_OK)
        rc = write_version(r, tx, next, "correction", c->note, res);
    if (rc == REG_OK)
        c->version = next->version;
    if (bio)
        explicit_bzero(bio, sizeof *bio);
    free(bio);
    if (cur)
        explicit_bzero(cur, sizeof *cur);
    if (next)
        explicit_bzero(next, sizeof *next);
    free(cur);
    free(next);
    return rc;
}

int reg_correct(struct reg *r, const char *hn, const json_t *changes,
                const struct change_note *note, uint32_t *new_version, struct reg_result *res)
{
    int rc = check_note(note, true, res);
    if (rc != REG_OK)
        return rc;
    if (!json_is_object(changes) || json_object_size(changes) == 0)
        return reg_fail(res, REG_EINVALID, "changes", "must be an object with at least one member");
    for (size_t i = 0; i < sizeof fixed_members / sizeof *fixed_members; i++)
        if (json_object_get(changes, fixed_members[i]))
            return reg_fail(res, REG_EINVALID, fixed_members[i],
                            "is set by the register and cannot be corrected");
    struct correction c = {hn, changes, note, 0, NULL};
    rc = reg_in_txn(r, correct_txn, &c, res);
    if (rc == REG_OK && new_version)
        *new_version = c.version;
    if (rc == REG_OK)
        reg_bio_indexed(r, hn, c.indexed); /* new biometrics replace the index entry */
    else
        bio_person_free(c.indexed);
    return rc;
}

/* ---- history ------------------------------------------------------------------------ */

struct history_walk {
    struct reg *r;
    const char *hn;
    reg_history_fn fn;
    void *ctx;
    int rc;
    struct reg_result *res;
};

static int history_one(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct history_walk *w = ctx;
    (void)key, (void)klen;
    char *text;
    size_t tlen;
    struct st_err err;
    int st = blob_unseal(w->r->kr, w->hn, val, vlen, &text, &tlen, &err);
    if (st != ST_OK) {
        w->rc = reg_from_st(w->res, st, &err);
        return 1;
    }
    json_t *entry = json_loadb(text, tlen, 0, NULL);
    explicit_bzero(text, tlen);
    free(text);
    struct person p;
    if (!entry || person_from_json(json_object_get(entry, "record"), false, &p, &err) != ST_OK) {
        json_decref(entry);
        w->rc = reg_fail(w->res, REG_ESTORAGE, NULL, "history of %s is damaged", w->hn);
        return 1;
    }
    int stop = w->fn(w->ctx, &p, json_object_get(entry, "change"));
    json_decref(entry);
    return stop;
}

int reg_history(struct reg *r, const char *hn, reg_history_fn fn, void *ctx, struct reg_result *res)
{
    struct person p;
    int rc = load_person(r, NULL, hn, &p, res);
    if (rc != REG_OK)
        return rc;
    struct history_walk w = {r, hn, fn, ctx, REG_OK, res};
    struct st_err err;
    int st = store_scan(r->st, CF_HISTORY, hn, HN_LEN, history_one, &w, &err);
    if (st != ST_OK)
        return reg_from_st(res, st, &err);
    if (w.rc == REG_OK)
        res->code = REG_OK;
    return w.rc;
}

/* ---- deaths ---------------------------------------------------------------------------- */

struct death {
    const char *hn;
    struct date date;
    const char *certificate;
    const struct change_note *note;
};

static int death_txn(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    struct death *d = ctx;
    struct person p;
    int rc = load_person(r, tx, d->hn, &p, res);
    if (rc != REG_OK)
        return rc;
    if (p.status == STATUS_DECEASED)
        return reg_fail(res, REG_ECONFLICT, "huduma_number",
                        "this person is already recorded as deceased");
    if (date_cmp(&d->date, &p.dob) < 0)
        return reg_fail(res, REG_EINVALID, "date", "is before the date of birth");
    struct person before = p;
    p.status = STATUS_DECEASED;
    p.death_date = d->date;
    snprintf(p.death_certificate, sizeof p.death_certificate, "%s", d->certificate);
    p.version++;
    p.updated_at = reg_now(r);
    rc = due_index_update(r, tx, &before, &p, res);
    return rc == REG_OK ? write_version(r, tx, &p, "death", d->note, res) : rc;
}

int reg_death(struct reg *r, const char *hn, const char *date, const char *certificate,
              const struct change_note *note, struct reg_result *res)
{
    struct death d = {.hn = hn, .certificate = certificate, .note = note};
    bool year_only = false;
    struct date today = reg_today(r);
    if (!date || date_parse(date, &d.date, &year_only) != 0 || year_only)
        return reg_fail(res, REG_EINVALID, "date", "expected a date YYYY-MM-DD");
    if (date_cmp(&d.date, &today) > 0)
        return reg_fail(res, REG_EINVALID, "date", "is in the future");
    if (!certificate || !certificate[0])
        return reg_fail(res, REG_EINVALID, "certificate", "is required");
    if (strlen(certificate) > DOC_NUMBER_MAX_LEN)
        return reg_fail(res, REG_EINVALID, "certificate", "must be at most %d bytes",
                        DOC_NUMBER_MAX_LEN);
    /* The record codec reads the certificate back with the document-number shape. */
    if (strspn(certificate, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/") !=
        strlen(certificate))
        return reg_fail(res, REG_EINVALID, "certificate",
                        "may contain only letters, digits, - and /");
    int rc = check_note(note, false, res);
    return rc == REG_OK ? reg_in_txn(r, death_txn, &d, res) : rc;
}

/* ---- documents issued ------------------------------------------------------------------ */

struct issue {
    const char *hn;
    struct person holder; /* only ndocs=1 and docs[0] are used, for docs_claim */
    json_t *doc;
};

struct count_walk {
    uint32_t n;
};

static int count_one(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ((struct count_walk *)ctx)->n++;
    return 0;
}

static int issue_txn(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    struct issue *is = ctx;
    struct person p;
    int rc = load_person(r, tx, is->hn, &p, res);
    if (rc != REG_OK)
        return rc;
    if (p.status != STATUS_ACTIVE)
        return reg_fail(res, REG_ECONFLICT, "huduma_number",
                        "the person is %s: no document is issued", status_name(p.status));
    memcpy(is->holder.hn, p.hn, sizeof p.hn);
    rc = docs_claim(r, tx, &is->holder, p.hn, res);
    if (rc != REG_OK)
        return rc;
    struct count_walk cw = {0};
    struct st_err err;
    int st = store_scan(r->st, CF_DOCUMENTS, p.hn, HN_LEN, count_one, &cw, &err);
    if (st != ST_OK)
        return reg_from_st(res, st, &err);
    char key[HN_LEN + 4];
    memcpy(key, p.hn, HN_LEN);
    for (int i = 0; i < 4; i++)
        key[HN_LEN + i] = (char)(cw.n >> (24 - 8 * i));
    return put_sealed_json(r, tx, CF_DOCUMENTS, key, sizeof key, p.hn, json_incref(is->doc), res);
}

int reg_issue_document(struct reg *r, const char *hn, const json_t *doc, const char *officer,
                       struct reg_result *res)
{
    struct issue *is = calloc(1, sizeof *is);
    if (!is)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    is->hn = hn;
    /* Decode through the record codec so documents have one set of rules. */
    json_t *wrap = json_pack("{s:[O]}", "documents", doc);
    struct st_err err = {0};
    int st = wrap ? person_from_json(wrap, true, &is->holder, &err) : ST_INVALID;
    json_decref(wrap);
    int rc = st == ST_OK ? REG_OK : reg_from_st(res, st, &err);
    if (rc == REG_EINVALID && strncmp(res->field, "documents[0].", 13) == 0)
        memmove(res->field, res->field + 13, strlen(res->field + 13) + 1);
    if (rc == REG_OK && (!officer || !officer[0]))
        rc = reg_fail(res, REG_EINVALID, "officer", "is required");
    if (rc == REG_OK && !date_is_set(&is->holder.docs[0].issued))
        rc = reg_fail(res, REG_EINVALID, "issued", "is required");
    struct date today = reg_today(r);
    if (rc == REG_OK && date_cmp(&is->holder.docs[0].issued, &today) > 0)
        rc = reg_fail(res, REG_EINVALID, "issued", "is in the future");
    if (rc == REG_OK && date_is_set(&is->holder.docs[0].expires) &&
        date_cmp(&is->holder.docs[0].expires, &is->holder.docs[0].issued) <= 0)
        rc = reg_fail(res, REG_EINVALID, "expires", "is not after the issue date");
    if (rc == REG_OK) {
        is->doc = json_deep_copy(doc);
        json_object_set_new(is->doc, "officer", json_string(officer));
        json_object_set_new(is->doc, "recorded_at", json_integer(reg_now(r)));
        rc = reg_in_txn(r, issue_txn, is, res);
        if (rc == REG_ECONFLICT && strncmp(res->field, "documents[0].", 13) == 0)
            memmove(res->field, res->field + 13, strlen(res->field + 13) + 1);
        json_decref(is->doc);
    }
    free(is);
    return rc;
}

struct docs_walk {
    struct reg *r;
    const char *hn;
    json_t *arr;
};

static int doc_one(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct docs_walk *w = ctx;
    (void)k, (void)kl;
    char *text;
    size_t tlen;
    struct st_err err;
    if (blob_unseal(w->r->kr, w->hn, v, vl, &text, &tlen, &err) == ST_OK) {
        json_t *d = json_loadb(text, tlen, 0, NULL);
        if (d)
            json_array_append_new(w->arr, d);
        free(text);
    }
    return 0;
}

int reg_documents(struct reg *r, const char *hn, json_t **out, struct reg_result *res)
{
    struct person p;
    int rc = load_person(r, NULL, hn, &p, res);
    if (rc != REG_OK)
        return rc;
    struct docs_walk w = {r, hn, json_array()};
    struct st_err err;
    int st = store_scan(r->st, CF_DOCUMENTS, hn, HN_LEN, doc_one, &w, &err);
    if (st != ST_OK) {
        json_decref(w.arr);
        return reg_from_st(res, st, &err);
    }
    *out = w.arr;
    res->code = REG_OK;
    return REG_OK;
}

int reg_lookup_document(struct reg *r, const char *type, const char *number, char hn[HN_LEN + 1],
                        struct reg_result *res)
{
    if (!number || !number[0] || strlen(number) > DOC_NUMBER_MAX_LEN)
        return reg_fail(res, REG_EINVALID, "number", "expected a document number of 1-%d bytes",
                        DOC_NUMBER_MAX_LEN);
    enum doc_type only = DOC_UNSET;
    if (type && (only = doc_type_from_name(type)) == DOC_UNSET)
        return reg_fail(res, REG_EINVALID, "type", "unknown document type '%.32s'", type);
    for (int t = 1; t < DOC_TYPE_COUNT; t++) {
        if (only != DOC_UNSET && t != (int)only)
            continue;
        struct idx_key k;
        key_document(r, &k, (enum doc_type)t, number);
        char *val = NULL;
        size_t vlen = 0;
        struct st_err err;
        int st = store_get(r->st, CF_INDEXES, k.b, k.len, &val, &vlen, &err);
        if (st != ST_OK)
            return reg_from_st(res, st, &err);
        int found = val && vlen == HN_LEN;
        if (found)
            memcpy(hn, val, HN_LEN), hn[HN_LEN] = '\0';
        free(val);
        if (found) {
            res->code = REG_OK;
            return REG_OK;
        }
    }
    return reg_fail(res, REG_ENOTFOUND, "number", "no person holds that document");
}

/* ---- biometrics due ------------------------------------------------------------------- */

struct due_walk {
    char limit[16]; /* YYYYMMDD */
    reg_due_fn fn;
    void *ctx;
};

static int due_one(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct due_walk *w = ctx;
    (void)v, (void)vl;
    if (kl != 1 + 8 + HN_LEN || memcmp(k + 1, w->limit, 8) > 0)
        return 1;
    char hn[HN_LEN + 1], date[11];
    memcpy(hn, k + 9, HN_LEN);
    hn[HN_LEN] = '\0';
    snprintf(date, sizeof date, "%.4s-%.2s-%.2s", k + 1, k + 5, k + 7);
    return w->fn(w->ctx, hn, date);
}

int reg_due_biometrics(struct reg *r, const char *as_of, reg_due_fn fn, void *ctx,
                       struct reg_result *res)
{
    struct date d = reg_today(r);
    bool year_only = false;
    if (as_of && (date_parse(as_of, &d, &year_only) != 0 || year_only))
        return reg_fail(res, REG_EINVALID, "as_of", "expected a date YYYY-MM-DD");
    struct due_walk w = {.fn = fn, .ctx = ctx};
    snprintf(w.limit, sizeof w.limit, "%04d%02d%02d", d.year, d.month, d.day);
    struct st_err err;
    int st = store_scan(r->st, CF_INDEXES, "U", 1, due_one, &w, &err);
    if (st != ST_OK)
        return reg_from_st(res, st, &err);
    res->code = REG_OK;
    return REG_OK;
}
