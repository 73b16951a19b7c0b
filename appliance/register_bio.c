/*
 * appliance/register_bio.c - the register's biometrics: its 1:N index, the
 * deduplication search of an enrolment, 1:1 verification of a person and
 * 1:N identification of a probe (docs/biometrics.md).
 *
 * The index (storage/bioindex*.c) is opened on first use: loading it reads
 * one sealed entry per person, which a command that never searches should
 * not pay for.  Its subjects are Huduma Numbers and, for enrolments held for
 * adjudication, "P" + the enrolment id; the templates a search compares in
 * full are fetched here from where the register keeps them sealed (the
 * "biometrics" column family by number, the held record in "pending").
 *
 * A change that stores biometrics stages the index entry in its own
 * transaction (reg_bio_stage) and tells the in-memory index after the commit
 * (reg_bio_indexed), so the index on disk is never out of step with the
 * templates.  Enrolments additionally claim (bioindex_claim) between their
 * search and their commit, so that two enrolments of one person running at
 * the same moment cannot both pass.
 */
#include "register_impl.h"

#include "hn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDENTIFY_DEFAULT 10
#define SEARCH_ATTEMPTS  4

void bio_settings_default(struct bio_settings *s)
{
    memset(s, 0, sizeof *s);
    bio_thresholds_default(&s->thresholds);
    s->dedup_band = BIO_BAND_MEDIUM;
    s->verify_band = BIO_BAND_MEDIUM;
    s->identify_band = BIO_BAND_LOW;
    s->identify_max = IDENTIFY_DEFAULT;
}

void reg_bio_init(struct reg *r, const struct bio_settings *s)
{
    pthread_mutex_init(&r->bio_lock, NULL);
    if (s)
        r->bio_set = *s;
    else
        bio_settings_default(&r->bio_set);
    if (r->bio_set.identify_max == 0 || r->bio_set.identify_max > BIO_MAX_CANDIDATES)
        r->bio_set.identify_max = IDENTIFY_DEFAULT;
}

void reg_bio_close(struct reg *r)
{
    bioindex_close(r->bio);
    r->bio = NULL;
    pthread_mutex_destroy(&r->bio_lock);
}

/* The index, loaded from the store the first time it is needed. */
static int index_of(struct reg *r, struct bioindex **out, struct reg_result *res)
{
    pthread_mutex_lock(&r->bio_lock);
    int rc = ST_OK;
    struct st_err err = {0};
    if (!r->bio)
        rc = bioindex_open(r->st, &r->bio, &err);
    *out = r->bio;
    pthread_mutex_unlock(&r->bio_lock);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

/* ---- fetching stored templates ------------------------------------------------------ */

static int unseal_json(struct reg *r, enum store_cf cf, const char *key, json_t **out,
                       struct st_err *err)
{
    char *val = NULL, *text = NULL;
    size_t vlen = 0, tlen = 0;
    int rc = store_get(r->st, cf, key, strlen(key), &val, &vlen, err);
    if (rc == ST_OK && !val)
        return ST_NOT_FOUND;
    if (rc == ST_OK)
        rc = blob_unseal(r->kr, key, val, vlen, &text, &tlen, err);
    free(val);
    if (rc != ST_OK)
        return rc;
    *out = json_loadb(text, tlen, 0, NULL);
    explicit_bzero(text, tlen);
    free(text);
    return *out ? ST_OK : ST_CORRUPT;
}

/* A subject's stored biometrics (bio_fetch_fn). */
static int fetch(void *ctx, const char *subject, struct biometrics *out)
{
    struct reg *r = ctx;
    json_t *j = NULL;
    struct st_err err;
    int rc = subject[0] == 'P' ? unseal_json(r, CF_PENDING, subject + 1, &j, &err)
                               : unseal_json(r, CF_BIOMETRICS, subject, &j, &err);
    if (rc != ST_OK)
        return rc;
    const json_t *b = subject[0] == 'P' ? json_object_get(j, "biometrics") : j;
    rc = b ? biometrics_from_json(b, out, &err) : ST_NOT_FOUND;
    json_decref(j);
    return rc;
}

int reg_stored_biometrics(struct reg *r, const char *hn, struct biometrics *out,
                          struct reg_result *res)
{
    int rc = fetch(r, hn, out);
    if (rc == ST_NOT_FOUND)
        return reg_fail(res, REG_ENOTFOUND, "huduma_number", "no biometrics are on record");
    struct st_err err = {.msg = "stored biometrics do not decode"};
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

/* ---- searching ---------------------------------------------------------------------- */

static void query_for(struct reg *r, const struct bio_person *probe, enum bio_band band,
                      unsigned max, struct bio_query *q)
{
    *q = (struct bio_query){.probe = probe,
                            .thresholds = &r->bio_set.thresholds,
                            .min_band = band,
                            .max = max,
                            .fetch = fetch,
                            .ctx = r};
}

int reg_bio_dedup(struct reg *r, const struct bio_person *probe, struct bio_result *found,
                  struct bio_claim **claim, struct reg_result *res)
{
    struct bioindex *ix;
    int rc = index_of(r, &ix, res);
    struct bio_query q;
    query_for(r, probe, r->bio_set.dedup_band, ENROL_MAX_CANDIDATES, &q);
    *claim = NULL;
    for (int attempt = 0; rc == REG_OK && attempt < SEARCH_ATTEMPTS; attempt++) {
        struct st_err err = {0};
        int st = bioindex_search(ix, &q, found, &err);
        if (st == ST_OK)
            st = bioindex_claim(ix, &q, found, claim);
        if (st != ST_OK)
            return reg_from_st(res, st, &err);
        if (*claim)
            return REG_OK;
    }
    return rc == REG_OK ? reg_fail(res, REG_EBUSY, NULL,
                                   "the biometric index changed too fast to search; retry")
                        : rc;
}

void reg_bio_settle(struct reg *r, struct bio_claim *claim, const char *subject)
{
    if (claim)
        bioindex_settle(r->bio, claim, subject);
}

/* ---- staying in step with the stored templates ----------------------------------------- */

int reg_bio_stage(struct reg *r, struct store_txn *tx, const char *subject,
                  const struct bio_person *p, struct reg_result *res)
{
    struct bioindex *ix;
    int rc = index_of(r, &ix, res);
    struct st_err err;
    int st = rc == REG_OK ? bioindex_stage_put(ix, tx, subject, p, &err) : ST_OK;
    return rc == REG_OK ? reg_from_st(res, st, &err) : rc;
}

int reg_bio_unstage(struct reg *r, struct store_txn *tx, const char *subject,
                    struct reg_result *res)
{
    struct bioindex *ix;
    int rc = index_of(r, &ix, res);
    struct st_err err;
    int st = rc == REG_OK ? bioindex_stage_delete(ix, tx, subject, &err) : ST_OK;
    return rc == REG_OK ? reg_from_st(res, st, &err) : rc;
}

void reg_bio_indexed(struct reg *r, const char *subject, struct bio_person *p)
{
    if (p && r->bio)
        bioindex_add(r->bio, subject, p);
    else
        bio_person_free(p);
}

void reg_bio_unindexed(struct reg *r, const char *subject)
{
    if (r->bio)
        bioindex_forget(r->bio, subject);
}

int reg_bio_prepare(const struct biometrics *bio, struct bio_person **out, struct reg_result *res)
{
    struct st_err err = {0};
    int rc = bio_person_new(bio, out, &err);
    if (rc == ST_INVALID) {
        char field[64];
        snprintf(field, sizeof field, "biometrics.%.50s", err.field);
        memcpy(err.field, field, sizeof field);
    }
    return reg_from_st(res, rc, &err);
}

/* ---- verification and identification ---------------------------------------------------- */

/* Decodes and prepares a probe (the JSON form of docs/record.md). */
static int probe_from_json(const json_t *j, struct bio_person **out, struct reg_result *res)
{
    struct biometrics *b = malloc(sizeof *b);
    if (!b)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    struct st_err err = {0};
    int rc = reg_from_st(res, biometrics_from_json(j, b, &err), &err);
    if (rc != REG_OK) {
        char field[64];
        snprintf(field, sizeof field, "biometrics%s%.50s", res->field[0] ? "." : "", res->field);
        memcpy(res->field, field, sizeof field);
    } else if (b->nfingers == 0 && !b->face_model[0]) {
        rc = reg_fail(res, REG_EINVALID, "biometrics", "needs a fingerprint or a face");
    }
    if (rc == REG_OK)
        rc = reg_bio_prepare(b, out, res);
    explicit_bzero(b, sizeof *b);
    free(b);
    return rc;
}

int reg_verify_biometrics(struct reg *r, const char *hn, const json_t *probe, struct bio_verdict *v,
                          struct reg_result *res)
{
    memset(v, 0, sizeof *v);
    struct bio_person *p = NULL, *stored = NULL;
    struct biometrics *b = malloc(sizeof *b);
    int rc =
        b ? probe_from_json(probe, &p, res) : reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    if (rc == REG_OK) {
        rc = reg_stored_biometrics(r, hn, b, res);
        if (rc == REG_ENOTFOUND)
            rc = REG_OK, b->nfingers = 0, b->face_model[0] = '\0'; /* nothing to compare */
    }
    if (rc == REG_OK)
        rc = reg_bio_prepare(b, &stored, res);
    if (rc == REG_OK) {
        bio_compare(p, stored, &v->scores);
        v->compared = v->scores.fingers > 0 || v->scores.face_compared;
        v->band = bio_band_of(&v->scores, &r->bio_set.thresholds);
        v->match = v->compared && v->band >= r->bio_set.verify_band;
    }
    if (b) {
        explicit_bzero(b, sizeof *b);
        free(b);
    }
    bio_person_free(p);
    bio_person_free(stored);
    return rc;
}

int reg_identify(struct reg *r, const json_t *probe, struct reg_candidate *out, unsigned *n,
                 struct reg_result *res)
{
    *n = 0;
    struct bioindex *ix;
    struct bio_person *p = NULL;
    int rc = index_of(r, &ix, res);
    if (rc == REG_OK)
        rc = probe_from_json(probe, &p, res);
    struct bio_result *found = rc == REG_OK ? malloc(sizeof *found) : NULL;
    if (rc == REG_OK && !found)
        rc = reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    if (rc == REG_OK) {
        struct bio_query q;
        /* held enrolments are not people yet: ask for more, keep the numbered */
        query_for(r, p, r->bio_set.identify_band, BIO_MAX_CANDIDATES, &q);
        struct st_err err = {0};
        rc = reg_from_st(res, bioindex_search(ix, &q, found, &err), &err);
    }
    for (unsigned i = 0; rc == REG_OK && i < found->n && *n < r->bio_set.identify_max; i++) {
        const struct bio_candidate *c = &found->c[i];
        if (!hn_is_well_formed(c->subject))
            continue;
        struct reg_candidate *o = &out[(*n)++];
        snprintf(o->hn, sizeof o->hn, "%s", c->subject);
        o->band = c->band;
        o->scores = c->scores;
    }
    free(found);
    bio_person_free(p);
    return rc;
}

unsigned reg_identify_max(const struct reg *r)
{
    return r->bio_set.identify_max;
}

/* ---- configuration ([biometrics] of hudumad.conf) ---------------------------------------- */

static int parse_score(const char *value, float lo, float hi, float *out, char *why, size_t len)
{
    char *end;
    float v = strtof(value, &end);
    if (!value[0] || *end || !(v >= lo && v <= hi)) {
        snprintf(why, len, "\"%.40s\" is not a score from %g to %g", value, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_band(const char *value, enum bio_band *out, char *why, size_t len)
{
    for (int b = BIO_BAND_LOW; b <= BIO_BAND_HIGH; b++) {
        if (strcmp(value, bio_band_name((enum bio_band)b)) == 0) {
            *out = (enum bio_band)b;
            return 0;
        }
    }
    snprintf(why, len, "\"%.40s\" is not a band (low, medium, high)", value);
    return -1;
}

int bio_settings_key(struct bio_settings *s, const char *name, const char *value, char *why,
                     size_t len)
{
    static const char *const levels[] = {"low", "medium", "high"};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "finger_%s", levels[i]);
        if (strcmp(name, key) == 0)
            return parse_score(value, 0.0f, 1.0f, &s->thresholds.finger[i], why, len);
        snprintf(key, sizeof key, "face_%s", levels[i]);
        if (strcmp(name, key) == 0)
            return parse_score(value, -1.0f, 1.0f, &s->thresholds.face[i], why, len);
    }
    if (strcmp(name, "dedup_band") == 0)
        return parse_band(value, &s->dedup_band, why, len);
    if (strcmp(name, "verify_band") == 0)
        return parse_band(value, &s->verify_band, why, len);
    if (strcmp(name, "identify_band") == 0)
        return parse_band(value, &s->identify_band, why, len);
    if (strcmp(name, "identify_candidates") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (!value[0] || *end || v < 1 || v > BIO_MAX_CANDIDATES) {
            snprintf(why, len, "\"%.40s\" is not a whole number from 1 to %d", value,
                     BIO_MAX_CANDIDATES);
            return -1;
        }
        s->identify_max = (unsigned)v;
        return 0;
    }
    snprintf(why, len,
             "unknown key (expected finger_low, finger_medium, finger_high, face_low, "
             "face_medium, face_high, dedup_band, verify_band, identify_band, "
             "identify_candidates)");
    return -1;
}

int bio_settings_check(const struct bio_settings *s, char *why, size_t len)
{
    const float *f = s->thresholds.finger, *g = s->thresholds.face;
    if (!(f[0] <= f[1] && f[1] <= f[2])) {
        snprintf(why, len, "finger_low <= finger_medium <= finger_high does not hold");
        return -1;
    }
    if (!(g[0] <= g[1] && g[1] <= g[2])) {
        snprintf(why, len, "face_low <= face_medium <= face_high does not hold");
        return -1;
    }
    return 0;
}
