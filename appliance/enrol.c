/*
 * appliance/enrol.c - enrolment and birth registration: from a kit's JSON to
 * a Huduma Number, or to the adjudication queue.
 *
 * An enrolment is checked (syntax, then rules), then in one transaction:
 *   1. its enrolment id is looked up and locked: a resubmission gets the first
 *      answer back and creates nothing;
 *   2. its document numbers are claimed: one held by another person refuses it;
 *   3. its blocking key (folded names, date of birth, sex) is looked up: anyone
 *      sharing it is a possible duplicate, and so is anyone the biometric
 *      search found (below); with any candidate the enrolment is held as
 *      pending adjudication instead of getting a number;
 *   4. otherwise a number is issued and the record, its first history entry,
 *      its biometrics, its indexes (the biometric index entry among them) and
 *      an event are written.
 * Before the transaction, an enrolment with biometrics (everyone from 6) is
 * searched 1:N against the gallery (register_bio.c): candidates in the
 * deduplication band or above come with their finger and face scores.  The
 * search claims the probe until the commit, so two enrolments of one person
 * at the same moment cannot both pass.
 * Adjudication later assigns a number to a pending enrolment or refuses it.
 */
#include "register_impl.h"

#include "hn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const output_only[] = {"huduma_number",    "version", "status",
                                          "biometric_status", "death",   "updated_at"};

struct enrolment {
    struct person p;
    struct biometrics *bio; /* NULL when none were sent */
    enum rule_mode mode;
    struct enrol_answer *ans;
    struct bio_person *probe;          /* bio prepared, NULL without biometrics */
    struct bio_result *found;          /* the biometric search's candidates */
    char subject[BIO_SUBJECT_MAX + 1]; /* what the index entry went in under ("" none) */
};

/* ---- input ------------------------------------------------------------------------ */

/* Replaces parents.<who>_enrolment by parents.<who> = the number that enrolment got. */
static int resolve_parent(struct reg *r, json_t *parents, const char *who, struct reg_result *res)
{
    char ref_name[32], field[48];
    snprintf(ref_name, sizeof ref_name, "%s_enrolment", who);
    json_t *ref = json_object_get(parents, ref_name);
    if (!ref)
        return REG_OK;
    snprintf(field, sizeof field, "parents.%s", ref_name);
    if (json_object_get(parents, who))
        return reg_fail(res, REG_EINVALID, field, "give either %s or %s, not both", who, ref_name);
    if (!json_is_string(ref))
        return reg_fail(res, REG_EINVALID, field, "expected a string");
    struct enrol_answer a;
    int rc = reg_enrolment_status(r, json_string_value(ref), &a, res);
    if (rc == REG_ENOTFOUND || (rc == REG_OK && a.outcome != ENROL_ASSIGNED))
        return reg_fail(res, REG_EINVALID, field, "enrolment '%.64s' has no Huduma Number",
                        json_string_value(ref));
    if (rc != REG_OK)
        return rc;
    json_object_set_new(parents, who, json_string(a.hn));
    json_object_del(parents, ref_name);
    return REG_OK;
}

static int decode_input(struct reg *r, const json_t *record, struct enrolment *e,
                        struct reg_result *res)
{
    if (!json_is_object(record))
        return reg_fail(res, REG_EINVALID, "", "the record must be a JSON object");
    for (size_t i = 0; i < sizeof output_only / sizeof *output_only; i++)
        if (json_object_get(record, output_only[i]))
            return reg_fail(res, REG_EINVALID, output_only[i],
                            "is set by the register and cannot be sent");
    json_t *copy = json_deep_copy(record);
    int rc = REG_OK;
    json_t *parents = json_object_get(copy, "parents");
    if (json_is_object(parents)) {
        rc = resolve_parent(r, parents, "mother", res);
        if (rc == REG_OK)
            rc = resolve_parent(r, parents, "father", res);
    }
    json_t *bio = json_incref(json_object_get(copy, "biometrics"));
    json_object_del(copy, "biometrics");
    struct st_err err = {0};
    if (rc == REG_OK) {
        int st = person_from_json(copy, true, &e->p, &err);
        if (st != ST_OK)
            rc = reg_from_st(res, st, &err);
    }
    if (rc == REG_OK && bio && !json_is_null(bio)) {
        e->bio = calloc(1, sizeof *e->bio);
        int st = e->bio ? biometrics_from_json(bio, e->bio, &err) : ST_NOMEM;
        if (st != ST_OK) {
            rc = reg_from_st(res, st, &err);
            if (strncmp(res->field, "biometrics", 10) != 0) {
                char field[64];
                snprintf(field, sizeof field, "biometrics%s%.50s", res->field[0] ? "." : "",
                         res->field);
                snprintf(res->field, sizeof res->field, "%s", field);
            }
        }
    }
    json_decref(bio);
    json_decref(copy);
    return rc;
}

static int check_enrolment_meta(struct reg *r, const struct enrolment_meta *m,
                                struct reg_result *res)
{
    if (!m->id[0])
        return reg_fail(res, REG_EINVALID, "enrolment.id", "is required");
    for (const char *c = m->id; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return reg_fail(res, REG_EINVALID, "enrolment.id",
                            "may hold only letters, digits, '-', '_' and '.'");
    if (!m->officer[0])
        return reg_fail(res, REG_EINVALID, "enrolment.officer", "is required");
    if (!m->centre[0])
        return reg_fail(res, REG_EINVALID, "enrolment.centre", "is required");
    if (m->captured_at <= 0)
        return reg_fail(res, REG_EINVALID, "enrolment.captured_at", "is required");
    if (m->captured_at > reg_now(r) + 300)
        return reg_fail(res, REG_EINVALID, "enrolment.captured_at", "is in the future");
    return REG_OK;
}

/* ---- answers ----------------------------------------------------------------------- */

static void answer_from_index(struct enrol_answer *a, const char *id, const char *val, size_t len)
{
    memset(a, 0, sizeof *a);
    snprintf(a->enrolment_id, sizeof a->enrolment_id, "%s", id);
    if (len == 1 + HN_LEN && (val[0] == 'A' || val[0] == 'S')) {
        a->outcome = val[0] == 'A' ? ENROL_ASSIGNED : ENROL_REFUSED_DUP;
        memcpy(a->hn, val + 1, HN_LEN);
    } else {
        a->outcome = ENROL_PENDING;
    }
}

int reg_enrolment_status(struct reg *r, const char *enrolment_id, struct enrol_answer *ans,
                         struct reg_result *res)
{
    /* key_enrolment() keeps ID_MAX_LEN bytes: a longer id would find a shorter one's answer. */
    if (strlen(enrolment_id) > ID_MAX_LEN)
        return reg_fail(res, REG_ENOTFOUND, "enrolment.id", "no enrolment '%.64s...'",
                        enrolment_id);
    struct idx_key k;
    key_enrolment(&k, enrolment_id);
    char *val = NULL;
    size_t vlen = 0;
    struct st_err err;
    int rc = store_get(r->st, CF_INDEXES, k.b, k.len, &val, &vlen, &err);
    if (rc != ST_OK)
        return reg_from_st(res, rc, &err);
    if (!val)
        return reg_fail(res, REG_ENOTFOUND, "enrolment.id", "no enrolment '%.64s'", enrolment_id);
    answer_from_index(ans, enrolment_id, val, vlen);
    free(val);
    return REG_OK;
}

/* Adds the biometric search's candidates (subjects: a number, or "P" + an
 * enrolment id), with their scores; a candidate already named by the
 * blocking key gets the scores. */
static void add_biometric_candidates(struct enrol_answer *a, const struct bio_result *found)
{
    for (unsigned i = 0; found && i < found->n; i++) {
        const struct bio_candidate *c = &found->c[i];
        char name[sizeof a->candidates[0]];
        if (c->subject[0] == 'P')
            snprintf(name, sizeof name, "pending:%s", c->subject + 1);
        else
            snprintf(name, sizeof name, "%s", c->subject);
        unsigned k = 0;
        while (k < a->ncandidates && strcmp(a->candidates[k], name) != 0)
            k++;
        if (k == ENROL_MAX_CANDIDATES)
            continue;
        if (k == a->ncandidates)
            memcpy(a->candidates[a->ncandidates++], name, sizeof name);
        a->scores[k] = (struct candidate_score){true, c->band, c->scores};
    }
}

/* Fills the candidates from a blocking list ("H<hn>" / "P<id>" lines). */
static void add_candidates(struct enrol_answer *a, const char *list, size_t len)
{
    for (size_t i = 0; i < len && a->ncandidates < ENROL_MAX_CANDIDATES;) {
        const char *nl = memchr(list + i, '\n', len - i);
        size_t line = nl ? (size_t)(nl - (list + i)) : len - i;
        char *c = a->candidates[a->ncandidates];
        if (line > 1 && list[i] == 'H')
            snprintf(c, sizeof a->candidates[0], "%.*s", (int)(line - 1), list + i + 1);
        else if (line > 1)
            snprintf(c, sizeof a->candidates[0], "pending:%.*s", (int)(line - 1), list + i + 1);
        if (line > 1)
            a->ncandidates++;
        i += line + 1;
    }
}

static const char *outcome_name(enum enrol_outcome o)
{
    switch (o) {
    case ENROL_ASSIGNED:
        return "assigned";
    case ENROL_REPLAYED:
        return "already_enrolled";
    case ENROL_PENDING:
        return "pending_adjudication";
    case ENROL_REFUSED_DUP:
        return "refused_duplicate";
    }
    return "unknown";
}

/* [{"candidate", "band", "finger_score", "fingers_compared", "face_score"}] for
 * the candidates the biometric search found. */
static json_t *scores_json(const struct enrol_answer *a)
{
    json_t *list = json_array();
    for (unsigned i = 0; list && i < a->ncandidates; i++) {
        const struct candidate_score *s = &a->scores[i];
        if (!s->biometric)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:i}", "candidate", a->candidates[i], "band",
                              bio_band_name(s->band), "fingers_compared", (int)s->scores.fingers);
        if (o && s->scores.fingers)
            json_object_set_new(o, "finger_score", json_real(s->scores.finger));
        if (o && s->scores.face_compared)
            json_object_set_new(o, "face_score", json_real(s->scores.face));
        json_array_append_new(list, o);
    }
    return list;
}

/* Reads back what scores_json() wrote (a held enrolment's). */
static void scores_from_json(const json_t *list, struct enrol_answer *a)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "candidate"));
        for (unsigned k = 0; name && k < a->ncandidates; k++) {
            if (strcmp(a->candidates[k], name) != 0)
                continue;
            struct candidate_score *s = &a->scores[k];
            const char *band = json_string_value(json_object_get(o, "band"));
            s->biometric = true;
            for (int b = BIO_BAND_NONE; band && b <= BIO_BAND_HIGH; b++)
                if (strcmp(band, bio_band_name((enum bio_band)b)) == 0)
                    s->band = (enum bio_band)b;
            s->scores.fingers =
                (unsigned)json_integer_value(json_object_get(o, "fingers_compared"));
            s->scores.finger = (float)json_number_value(json_object_get(o, "finger_score"));
            s->scores.face_compared = json_object_get(o, "face_score") != NULL;
            s->scores.face = (float)json_number_value(json_object_get(o, "face_score"));
        }
    }
}

/* The candidates (and their scores) a held enrolment was stored with. */
static void candidates_from_held(const json_t *held, struct enrol_answer *a)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(held, "candidates"), i, c)
    {
        if (a->ncandidates < ENROL_MAX_CANDIDATES && json_is_string(c))
            snprintf(a->candidates[a->ncandidates++], sizeof a->candidates[0], "%s",
                     json_string_value(c));
    }
    scores_from_json(json_object_get(held, "candidate_scores"), a);
}

json_t *enrol_answer_json(const struct enrol_answer *a, bool with_candidates)
{
    json_t *o = json_pack("{s:s, s:s}", "outcome", outcome_name(a->outcome), "enrolment_id",
                          a->enrolment_id);
    if (o && a->hn[0])
        json_object_set_new(o, "huduma_number", json_string(a->hn));
    if (o && a->outcome == ENROL_PENDING && with_candidates) {
        json_t *list = json_array();
        for (unsigned i = 0; i < a->ncandidates; i++)
            json_array_append_new(list, json_string(a->candidates[i]));
        json_object_set_new(o, "candidates", list);
        json_t *scores = scores_json(a);
        if (json_array_size(scores) > 0)
            json_object_set_new(o, "candidate_scores", scores);
        else
            json_decref(scores);
    }
    return o;
}

/* ---- the transaction ---------------------------------------------------------------- */

static int hold_pending(struct reg *r, struct store_txn *tx, struct enrolment *e,
                        struct reg_result *res)
{
    const char *id = e->p.enrolment.id;
    char owner[ID_MAX_LEN + 2];
    snprintf(owner, sizeof owner, "P%s", id);
    int rc = docs_claim(r, tx, &e->p, owner, res);
    if (rc == REG_OK)
        rc = block_add(r, tx, &e->p, owner, res);
    if (rc != REG_OK)
        return rc;
    json_t *held = json_pack("{s:o, s:s}", "record", person_to_json(&e->p), "mode",
                             e->mode == RULES_BIRTH ? "birth" : "enrol");
    json_t *cands = json_array();
    for (unsigned i = 0; i < e->ans->ncandidates; i++)
        json_array_append_new(cands, json_string(e->ans->candidates[i]));
    json_object_set_new(held, "candidates", cands);
    json_object_set_new(held, "candidate_scores", scores_json(e->ans));
    if (e->bio)
        json_object_set_new(held, "biometrics", biometrics_to_json(e->bio));
    rc = put_sealed_json(r, tx, CF_PENDING, id, strlen(id), id, held, res);
    snprintf(e->subject, sizeof e->subject, "P%s", id);
    if (rc == REG_OK && e->probe)
        rc = reg_bio_stage(r, tx, e->subject, e->probe, res);
    struct idx_key k;
    key_enrolment(&k, id);
    struct st_err err;
    int st = rc == REG_OK ? store_txn_put(tx, CF_INDEXES, k.b, k.len, "P", 1, &err) : ST_OK;
    e->ans->outcome = ENROL_PENDING;
    return st == ST_OK ? rc : reg_from_st(res, st, &err);
}

static int put_biometrics(struct reg *r, struct store_txn *tx, const char *hn,
                          const struct biometrics *bio, struct reg_result *res)
{
    return put_sealed_json(r, tx, CF_BIOMETRICS, hn, HN_LEN, hn, biometrics_to_json(bio), res);
}

/* Gives e->p a number and writes everything that goes with it. */
static int assign(struct reg *r, struct store_txn *tx, struct enrolment *e, const char *kind,
                  const struct change_note *note, struct reg_result *res)
{
    struct person *p = &e->p;
    int rc = issue_number(r, tx, p->hn, res);
    if (rc == REG_OK)
        rc = docs_claim(r, tx, p, p->hn, res);
    char entry[HN_LEN + 2];
    snprintf(entry, sizeof entry, "H%s", p->hn);
    if (rc == REG_OK)
        rc = block_add(r, tx, p, entry, res);
    p->version = 1;
    p->status = STATUS_ACTIVE;
    p->updated_at = reg_now(r);
    if (rc == REG_OK)
        rc = write_version(r, tx, p, kind, note, res);
    if (rc == REG_OK)
        rc = due_index_update(r, tx, NULL, p, res);
    if (rc == REG_OK && e->bio)
        rc = put_biometrics(r, tx, p->hn, e->bio, res);
    snprintf(e->subject, sizeof e->subject, "%s", p->hn);
    if (rc == REG_OK && e->probe)
        rc = reg_bio_stage(r, tx, e->subject, e->probe, res);
    if (rc != REG_OK)
        return rc;
    struct idx_key k;
    key_enrolment(&k, p->enrolment.id);
    char val[HN_LEN + 1];
    val[0] = 'A';
    memcpy(val + 1, p->hn, HN_LEN);
    struct st_err err;
    rc = store_txn_put(tx, CF_INDEXES, k.b, k.len, val, sizeof val, &err);
    e->ans->outcome = ENROL_ASSIGNED;
    memcpy(e->ans->hn, p->hn, HN_LEN + 1);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}

static int load_pending(struct reg *r, struct store_txn *tx, const char *id, json_t **held,
                        struct reg_result *res);

/* An enrolment sent again while it is held gets the candidates it was held
 * with, as its first answer had them. */
static int replay_candidates(struct reg *r, struct store_txn *tx, struct enrol_answer *a,
                             struct reg_result *res)
{
    json_t *held;
    int rc = load_pending(r, tx, a->enrolment_id, &held, res);
    if (rc == REG_OK) {
        candidates_from_held(held, a);
        json_decref(held);
    }
    return rc;
}

static int enrol_txn(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    struct enrolment *e = ctx;
    struct enrolment_meta *m = &e->p.enrolment;
    memset(e->ans, 0, sizeof *e->ans);
    snprintf(e->ans->enrolment_id, sizeof e->ans->enrolment_id, "%s", m->id);
    e->p.hn[0] = '\0';
    e->subject[0] = '\0';

    struct idx_key k;
    key_enrolment(&k, m->id);
    char *val = NULL;
    size_t vlen = 0;
    int rc = idx_get_locked(tx, &k, &val, &vlen, res);
    if (rc != REG_OK)
        return rc;
    if (val) {
        answer_from_index(e->ans, m->id, val, vlen);
        free(val);
        e->ans->pending_replayed = e->ans->outcome == ENROL_PENDING;
        if (e->ans->outcome == ENROL_ASSIGNED)
            e->ans->outcome = ENROL_REPLAYED;
        return e->ans->pending_replayed ? replay_candidates(r, tx, e->ans, res) : REG_OK;
    }

    struct idx_key bk;
    key_blocking(r, &bk, &e->p);
    rc = idx_get_locked(tx, &bk, &val, &vlen, res);
    if (rc != REG_OK)
        return rc;
    if (val) {
        add_candidates(e->ans, val, vlen);
        free(val);
    }
    add_biometric_candidates(e->ans, e->found);
    if (e->ans->ncandidates > 0)
        return hold_pending(r, tx, e, res);
    struct change_note note = {.reason = e->mode == RULES_BIRTH ? "birth" : "enrolment",
                               .officer = m->officer};
    return assign(r, tx, e, e->mode == RULES_BIRTH ? "birth" : "enrolment", &note, res);
}

/* Searches the gallery when biometrics were sent, then runs the transaction;
 * the claim the search made is settled with what was committed. */
static int enrol_searched(struct reg *r, struct enrolment *e, struct reg_result *res)
{
    struct bio_claim *claim = NULL;
    int rc = REG_OK;
    if (e->bio && (e->bio->nfingers > 0 || e->bio->face_model[0])) {
        e->found = calloc(1, sizeof *e->found);
        rc = e->found ? reg_bio_prepare(e->bio, &e->probe, res)
                      : reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
        if (rc == REG_OK)
            rc = reg_bio_dedup(r, e->probe, e->found, &claim, res);
        if (rc != REG_OK) {
            bio_person_free(e->probe);
            free(e->found);
            return rc;
        }
    }
    rc = reg_in_txn(r, enrol_txn, e, res);
    bool committed = rc == REG_OK && e->subject[0];
    reg_bio_settle(r, claim, committed ? e->subject : NULL); /* takes the probe over */
    free(e->found);
    return rc;
}

static int enrol_common(struct reg *r, const json_t *record, enum rule_mode mode,
                        struct enrol_answer *ans, struct reg_result *res)
{
    struct enrolment *e = calloc(1, sizeof *e);
    if (!e)
        return reg_fail(res, REG_ESTORAGE, NULL, "out of memory");
    e->mode = mode;
    e->ans = ans;
    int rc = decode_input(r, record, e, res);
    if (rc == REG_OK)
        rc = check_enrolment_meta(r, &e->p.enrolment, res);
    if (rc == REG_OK)
        rc = check_person(r, &e->p, e->bio, mode, res);
    if (rc == REG_OK) {
        derive_bio_status(r, &e->p, e->bio);
        rc = enrol_searched(r, e, res);
    }
    if (e->bio) {
        explicit_bzero(e->bio, sizeof *e->bio);
        free(e->bio);
    }
    explicit_bzero(&e->p, sizeof e->p);
    free(e);
    return rc;
}

int reg_enrol(struct reg *r, const json_t *record, struct enrol_answer *ans, struct reg_result *res)
{
    return enrol_common(r, record, RULES_ENROL, ans, res);
}

int reg_birth(struct reg *r, const json_t *record, struct enrol_answer *ans, struct reg_result *res)
{
    return enrol_common(r, record, RULES_BIRTH, ans, res);
}

/* ---- adjudication ------------------------------------------------------------------- */

struct decision {
    const char *id;
    const char *same_as;
    const struct change_note *note;
    struct enrol_answer *ans;
    struct bio_person *prepared; /* the held biometrics, for the index after the commit */
};

static int load_pending(struct reg *r, struct store_txn *tx, const char *id, json_t **held,
                        struct reg_result *res)
{
    char *val = NULL, *text = NULL;
    size_t vlen = 0, tlen = 0;
    struct st_err err;
    int rc = store_txn_get_locked(tx, CF_PENDING, id, strlen(id), &val, &vlen, &err);
    if (rc == ST_OK && !val)
        return reg_fail(res, REG_ENOTFOUND, "enrolment.id", "no pending enrolment '%.64s'", id);
    if (rc == ST_OK) {
        rc = blob_unseal(r->kr, id, val, vlen, &text, &tlen, &err);
        free(val);
    }
    if (rc != ST_OK)
        return reg_from_st(res, rc, &err);
    *held = json_loadb(text, tlen, 0, NULL);
    explicit_bzero(text, tlen);
    free(text);
    return *held ? REG_OK : reg_fail(res, REG_ESTORAGE, NULL, "pending record %s is damaged", id);
}

/* Whether candidate names the person `hn`: that number itself, or a held
 * enrolment ("pending:<id>") decided since as that person (assigned it, or
 * refused as a duplicate of it). */
static bool candidate_is(struct reg *r, const char *candidate, const char *hn)
{
    static const char held_prefix[] = "pending:";
    if (strcmp(candidate, hn) == 0)
        return true;
    if (strncmp(candidate, held_prefix, sizeof held_prefix - 1) != 0)
        return false;
    struct enrol_answer now;
    struct reg_result ignored;
    return reg_enrolment_status(r, candidate + sizeof held_prefix - 1, &now, &ignored) == REG_OK &&
           now.outcome != ENROL_PENDING && strcmp(now.hn, hn) == 0;
}

/* A same_person decision may name only a person the enrolment was held for:
 * anyone else would tie the enrolment to a number no search put forward. */
static int check_same_as(struct reg *r, const json_t *held, const char *same_as,
                         struct reg_result *res)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(held, "candidates"), i, c)
    {
        if (json_is_string(c) && candidate_is(r, json_string_value(c), same_as))
            return REG_OK;
    }
    return reg_fail(res, REG_EINVALID, "huduma_number",
                    "is not among the candidates this enrolment was held for");
}

static int decide_txn(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    struct decision *d = ctx;
    json_t *held;
    int rc = load_pending(r, tx, d->id, &held, res);
    if (rc != REG_OK)
        return rc;
    if (d->same_as && (rc = check_same_as(r, held, d->same_as, res)) != REG_OK) {
        json_decref(held);
        return rc;
    }
    struct enrolment e = {.ans = d->ans};
    struct st_err err;
    memset(d->ans, 0, sizeof *d->ans);
    snprintf(d->ans->enrolment_id, sizeof d->ans->enrolment_id, "%s", d->id);
    int st = person_from_json(json_object_get(held, "record"), false, &e.p, &err);
    json_t *bio = json_object_get(held, "biometrics");
    if (st == ST_OK && bio && (e.bio = calloc(1, sizeof *e.bio)))
        st = biometrics_from_json(bio, e.bio, &err);
    e.mode = strcmp(json_string_value(json_object_get(held, "mode")) ?: "", "birth") == 0
                 ? RULES_BIRTH
                 : RULES_ENROL;
    json_decref(held);
    rc = st == ST_OK ? REG_OK : reg_from_st(res, st, &err);

    char owner[ID_MAX_LEN + 2];
    snprintf(owner, sizeof owner, "P%s", d->id);
    bio_person_free(d->prepared); /* from an attempt that was retried */
    d->prepared = NULL;
    bool indexed = e.bio && (e.bio->nfingers > 0 || e.bio->face_model[0]);
    if (rc == REG_OK && indexed)
        rc = reg_bio_unstage(r, tx, owner, res);
    if (rc == REG_OK && indexed && !d->same_as)
        rc = reg_bio_prepare(e.bio, &d->prepared, res);
    e.probe = d->prepared;
    if (rc == REG_OK)
        rc = docs_release(r, tx, &e.p, owner, res);
    if (rc == REG_OK)
        rc = block_remove(r, tx, &e.p, owner, res);
    if (rc == REG_OK && (st = store_txn_delete(tx, CF_PENDING, d->id, strlen(d->id), &err)))
        rc = reg_from_st(res, st, &err);
    if (rc == REG_OK && d->same_as) {
        struct idx_key k;
        key_enrolment(&k, d->id);
        char val[HN_LEN + 1] = {'S'};
        memcpy(val + 1, d->same_as, HN_LEN);
        if ((st = store_txn_put(tx, CF_INDEXES, k.b, k.len, val, sizeof val, &err)))
            rc = reg_from_st(res, st, &err);
        d->ans->outcome = ENROL_REFUSED_DUP;
        memcpy(d->ans->hn, d->same_as, HN_LEN + 1);
    } else if (rc == REG_OK) {
        rc = assign(r, tx, &e, "adjudicated", d->note, res);
    }
    free(e.bio);
    explicit_bzero(&e.p, sizeof e.p);
    return rc;
}

int reg_adjudicate(struct reg *r, const char *enrolment_id, const char *same_as,
                   const struct change_note *note, struct enrol_answer *ans, struct reg_result *res)
{
    int rc = check_note(note, false, res);
    if (rc != REG_OK)
        return rc;
    if (same_as) {
        struct person existing;
        rc = load_person(r, NULL, same_as, &existing, res);
        if (rc != REG_OK)
            return rc;
    }
    struct decision d = {enrolment_id, same_as, note, ans, NULL};
    rc = reg_in_txn(r, decide_txn, &d, res);
    if (rc == REG_OK) {
        char held[ID_MAX_LEN + 2];
        snprintf(held, sizeof held, "P%s", enrolment_id);
        reg_bio_unindexed(r, held);
    }
    if (rc == REG_OK && d.prepared && ans->outcome == ENROL_ASSIGNED)
        reg_bio_indexed(r, ans->hn, d.prepared);
    else
        bio_person_free(d.prepared);
    return rc;
}

struct pending_walk {
    struct reg *r;
    reg_pending_fn fn;
    void *ctx;
};

static int pending_one(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct pending_walk *w = ctx;
    char id[ID_MAX_LEN + 1], *text;
    size_t tlen;
    struct st_err err;
    snprintf(id, sizeof id, "%.*s", (int)klen, key);
    if (blob_unseal(w->r->kr, id, val, vlen, &text, &tlen, &err) != ST_OK)
        return 0;
    json_t *held = json_loadb(text, tlen, 0, NULL);
    explicit_bzero(text, tlen);
    free(text);
    struct enrol_answer a = {.outcome = ENROL_PENDING};
    snprintf(a.enrolment_id, sizeof a.enrolment_id, "%s", id);
    candidates_from_held(held, &a);
    json_decref(held);
    return w->fn(w->ctx, &a);
}

int reg_pending(struct reg *r, reg_pending_fn fn, void *ctx, struct reg_result *res)
{
    struct pending_walk w = {r, fn, ctx};
    struct st_err err;
    int rc = store_scan(r->st, CF_PENDING, "", 0, pending_one, &w, &err);
    return rc == ST_OK ? REG_OK : reg_from_st(res, rc, &err);
}
