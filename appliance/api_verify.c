/*
 * appliance/api_verify.c - POST /v1/verify: does a Huduma Number's record
 * agree with what an agency was told?  The answer is a yes or no per claim,
 * an overall match, the record's status and a random transaction id; never
 * any member of the record itself.
 *
 * Claims are checked for shape first (a malformed claim is refused before the
 * register is read), then compared against one point read of the record:
 *   surname, first_name, other_names  equal after name_fold() on both sides
 *                                     (case, white space, Latin diacritics)
 *   date_of_birth                     equal as written: a year-only record
 *                                     matches only a year-only claim
 *   sex                               equal
 *   phone                             equal (E.164)
 *   email                             equal, ASCII case ignored
 *   document {type, number}           the register's document index names
 *                                     this person for it (a document shown at
 *                                     enrolment or issued since): one more
 *                                     point read, only when claimed
 *   biometrics {fingerprints, face}    (beside the claims, or alone) the
 *                                     person's stored templates matched 1:1
 *                                     (register_bio.c): match or no match and
 *                                     the score band, never a template
 * Nothing is written.  A verification with claims only stays a read on the
 * network thread; one with biometrics (about a millisecond of matching) runs
 * on the worker pool (api_is_blocking()).
 */
#include "api_impl.h"

#include "hn.h"
#include "normalize.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#define FOLD_MAX (NAME_MAX_LEN * 2 + 1)

struct claim_rule {
    const char *name;
    /* 0 when the claim is well formed, else -1 with the error sent */
    int (*check)(struct api_call *c, const char *field, const json_t *v);
    /* 1 match, 0 no match, -1 error sent */
    int (*match)(struct api_call *c, const struct person *p, const json_t *v);
};

/* ---- shapes -------------------------------------------------------------------------- */

/* Control characters other than the white space that name_fold() collapses. */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && !strchr("\t\n\r", *s)) || *s == 0x7f)
            return true;
    return false;
}

static int text_check(struct api_call *c, const char *field, const json_t *v, size_t min,
                      size_t max)
{
    if (!json_is_string(v))
        return api_fail(c, AE_INVALID_FIELD, field, "expected a string");
    size_t n = json_string_length(v);
    if (n < min || n > max || has_control(json_string_value(v)))
        return api_fail(c, AE_INVALID_FIELD, field, "expected %zu-%zu bytes of text", min, max);
    return 0;
}

static int name_check(struct api_call *c, const char *field, const json_t *v)
{
    return text_check(c, field, v, 1, NAME_MAX_LEN);
}

static int other_names_check(struct api_call *c, const char *field, const json_t *v)
{
    return text_check(c, field, v, 0, NAME_MAX_LEN);
}

static int dob_check(struct api_call *c, const char *field, const json_t *v)
{
    struct date d;
    bool year_only;
    if (!json_is_string(v) || date_parse(json_string_value(v), &d, &year_only) != 0)
        return api_fail(c, AE_INVALID_FIELD, field, "expected a date YYYY-MM-DD or YYYY");
    return 0;
}

static int sex_check(struct api_call *c, const char *field, const json_t *v)
{
    for (int s = SEX_FEMALE; s <= SEX_INTERSEX; s++)
        if (json_is_string(v) && strcmp(json_string_value(v), sex_name((enum sex)s)) == 0)
            return 0;
    return api_fail(c, AE_INVALID_FIELD, field, "expected female, male or intersex");
}

static int phone_check(struct api_call *c, const char *field, const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t digits = strspn(s + (*s == '+'), "0123456789");
    if (*s != '+' || s[1 + digits] != '\0' || digits < 8 || digits > 15)
        return api_fail(c, AE_INVALID_FIELD, field, "expected an E.164 number: + and 8-15 digits");
    return 0;
}

static int email_check(struct api_call *c, const char *field, const json_t *v)
{
    if (text_check(c, field, v, 3, TEXT_MAX_LEN) != 0)
        return -1;
    if (!strchr(json_string_value(v), '@'))
        return api_fail(c, AE_INVALID_FIELD, field, "expected an e-mail address");
    return 0;
}

static bool docnum_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= DOC_NUMBER_MAX_LEN &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/ ") == n;
}

static int document_check(struct api_call *c, const char *field, const json_t *v)
{
    char sub[64];
    if (!json_is_object(v))
        return api_fail(c, AE_INVALID_FIELD, field, "expected an object {type, number}");
    const char *name;
    json_t *m;
    json_object_foreach((json_t *)v, name, m)
    {
        if (strcmp(name, "type") != 0 && strcmp(name, "number") != 0) {
            snprintf(sub, sizeof sub, "%s.%s", field, api_safe_name(name) ? name : "");
            return api_fail(c, AE_INVALID_FIELD, sub, "unknown member");
        }
    }
    const json_t *type = json_object_get(v, "type"), *number = json_object_get(v, "number");
    snprintf(sub, sizeof sub, "%s.type", field);
    if (!json_is_string(type) || doc_type_from_name(json_string_value(type)) == DOC_UNSET)
        return api_fail(c, AE_INVALID_FIELD, sub, "expected a document type (docs/record.md)");
    snprintf(sub, sizeof sub, "%s.number", field);
    if (!json_is_string(number) || !docnum_ok(json_string_value(number)))
        return api_fail(c, AE_INVALID_FIELD, sub,
                        "expected 1-%d letters, digits, '-', '/' or spaces", DOC_NUMBER_MAX_LEN);
    return 0;
}

/* ---- comparisons ------------------------------------------------------------------------ */

static int names_equal(const char *claimed, const char *recorded)
{
    char a[FOLD_MAX], b[FOLD_MAX];
    name_fold(claimed, a, sizeof a, false);
    name_fold(recorded, b, sizeof b, false);
    return strcmp(a, b) == 0;
}

static int surname_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    return names_equal(json_string_value(v), p->surname);
}

static int first_name_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    return names_equal(json_string_value(v), p->first_name);
}

static int other_names_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    return names_equal(json_string_value(v), p->other_names);
}

static int dob_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    struct date d;
    bool year_only = false;
    date_parse(json_string_value(v), &d, &year_only);
    return year_only == p->dob_year_only && date_cmp(&d, &p->dob) == 0;
}

static int sex_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    const char *recorded = sex_name(p->sex);
    return recorded && strcmp(json_string_value(v), recorded) == 0;
}

static int phone_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    return p->phone[0] && strcmp(json_string_value(v), p->phone) == 0;
}

static int email_match(struct api_call *c, const struct person *p, const json_t *v)
{
    (void)c;
    return p->email[0] && strcasecmp(json_string_value(v), p->email) == 0;
}

static int document_match(struct api_call *c, const struct person *p, const json_t *v)
{
    char holder[HN_LEN + 1];
    struct reg_result res = {0};
    int rc = reg_lookup_document(c->api->reg, json_string_value(json_object_get(v, "type")),
                                 json_string_value(json_object_get(v, "number")), holder, &res);
    if (rc == REG_ENOTFOUND)
        return 0;
    if (rc != REG_OK)
        return api_reg_fail(c, &res);
    return strcmp(holder, p->hn) == 0;
}

static const struct claim_rule claim_rules[] = {
    {"surname", name_check, surname_match},
    {"first_name", name_check, first_name_match},
    {"other_names", other_names_check, other_names_match},
    {"date_of_birth", dob_check, dob_match},
    {"sex", sex_check, sex_match},
    {"phone", phone_check, phone_match},
    {"email", email_check, email_match},
    {"document", document_check, document_match},
};
#define NRULES (sizeof claim_rules / sizeof *claim_rules)

static const struct claim_rule *rule_for(const char *name)
{
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(claim_rules[i].name, name) == 0)
            return &claim_rules[i];
    return NULL;
}

/* ---- the request ------------------------------------------------------------------------- */

static const char *const verify_members[] = {"huduma_number", "claims", "biometrics", NULL};

/* "claims.<name>", the field an error names ("claims" when the name is not
 * safe to echo; api_safe_name() bounds it to 32 characters).  Made for every
 * claim, so without printf. */
static void claim_field(const char *name, char out[64])
{
    memcpy(out, "claims", 6);
    size_t n = 6;
    if (api_safe_name(name)) {
        size_t len = strlen(name);
        out[n++] = '.';
        memcpy(out + n, name, len);
        n += len;
    }
    out[n] = '\0';
}

/* Checks the body's shape: a well-formed number and at least one well-formed
 * claim, or biometrics (whose shape the register checks), or both. */
static int read_request(struct api_call *c, const char **hn, const json_t **claims)
{
    if (api_body_only(c, verify_members) || api_body_string(c, "huduma_number", true, hn))
        return -1;
    if (!hn_is_well_formed(*hn))
        return api_fail(c, AE_INVALID_FIELD, "huduma_number",
                        "expected a Huduma Number (12 digits with a valid check digit)");
    *claims = json_object_get(c->body, "claims");
    if (!*claims && json_object_get(c->body, "biometrics"))
        return 0;
    if (!json_is_object(*claims) || json_object_size(*claims) == 0)
        return api_fail(c, AE_INVALID_FIELD, "claims",
                        "expected an object with at least one claim (or biometrics)");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)*claims, name, v)
    {
        char field[64];
        const struct claim_rule *rule = rule_for(name);
        claim_field(name, field);
        if (!rule)
            return api_fail(c, AE_INVALID_FIELD, field, "unknown claim");
        if (rule->check(c, field, v) != 0)
            return -1;
    }
    return 0;
}

/* Each claim's result, in the request's order (names are the rules' own). */
struct verdicts {
    size_t n;
    const char *name[NRULES];
    bool match[NRULES];
};

/* Compares every claim; *all is true when every one matched.  -1 when an error was sent. */
static int compare(struct api_call *c, const struct person *p, const json_t *claims,
                   struct verdicts *out, bool *all)
{
    out->n = 0;
    *all = true;
    if (!claims)
        return 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)claims, name, v)
    {
        const struct claim_rule *rule = rule_for(name);
        int m = rule->match(c, p, v);
        if (m < 0)
            return -1;
        if (out->n == NRULES) /* duplicates are refused at parsing: cannot happen */
            return api_fail(c, AE_INTERNAL_ERROR, NULL, "too many claims");
        out->name[out->n] = rule->name;
        out->match[out->n++] = m == 1;
        *all &= m == 1;
    }
    return 0;
}

/* Transaction ids come from a per-thread pool of random bytes, refilled by
 * RAND_bytes 4 KiB at a time: OpenSSL's DRBG costs nearly as much for 16
 * bytes as for 4096, and per request it was several percent of a
 * verification.  The ids are not secret (every answer carries one); the pool
 * only spares calls. */
#define TXID_POOL 4096
static _Thread_local unsigned char txid_pool[TXID_POOL];
static _Thread_local size_t txid_used = TXID_POOL;

static int transaction_id(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    if (txid_used + 16 > TXID_POOL) {
        if (RAND_bytes(txid_pool, TXID_POOL) != 1)
            return -1;
        txid_used = 0;
    }
    const unsigned char *b = txid_pool + txid_used;
    txid_used += 16;
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

/* The biometric part of the answer: {"match", "band", "fingers_compared",
 * "face_compared"}; *all loses a no match.  -1 when an error was sent. */
static int compare_biometrics(struct api_call *c, const char *hn, struct bio_verdict *v, bool *all)
{
    const json_t *probe = json_object_get(c->body, "biometrics");
    struct reg_result res = {0};
    if (reg_verify_biometrics(c->api->reg, hn, probe, v, &res) != REG_OK)
        return api_reg_fail(c, &res);
    *all &= v->match;
    return 0;
}

/* {"transaction_id", "huduma_number", "match", "claims": {name: bool, ...},
 * "status"[, "biometrics"]}: members in this order, compact. */
static void write_answer(struct strbuf *t, const char *txid, const struct person *p, bool all,
                         const struct verdicts *claims, const struct bio_verdict *bio)
{
    strbuf_put(t, "{\"transaction_id\":");
    api_text_string(t, txid);
    strbuf_put(t, ",\"huduma_number\":");
    api_text_string(t, p->hn);
    strbuf_put(t, ",\"match\":");
    api_text_bool(t, all);
    strbuf_put(t, ",\"claims\":{");
    for (size_t i = 0; i < claims->n; i++) {
        strbuf_put(t, i ? ",\"" : "\"");
        strbuf_put(t, claims->name[i]);
        strbuf_put(t, "\":");
        api_text_bool(t, claims->match[i]);
    }
    strbuf_put(t, "},\"status\":");
    api_text_string(t, status_name(p->status));
    if (bio) {
        strbuf_put(t, ",\"biometrics\":{\"match\":");
        api_text_bool(t, bio->match);
        strbuf_put(t, ",\"band\":");
        api_text_string(t, bio_band_name(bio->band));
        strbuf_put(t, ",\"fingers_compared\":");
        strbuf_uint(t, bio->scores.fingers);
        strbuf_put(t, ",\"face_compared\":");
        api_text_bool(t, bio->scores.face_compared);
        strbuf_put(t, "}");
    }
    strbuf_put(t, "}");
}

void api_verify(struct api_call *c)
{
    const char *hn = NULL;
    const json_t *claims = NULL;
    if (read_request(c, &hn, &claims) != 0)
        return;
    api_audit_subject(c, hn);
    struct person p;
    struct reg_result res = {0};
    int rc = reg_get(c->api->reg, hn, &p, &res);
    if (rc == REG_ENOTFOUND) {
        api_fail(c, AE_NOT_FOUND, "huduma_number", "no person has this number");
        return;
    }
    if (rc != REG_OK) {
        api_reg_fail(c, &res);
        return;
    }
    bool all;
    char txid[sizeof c->txid];
    struct verdicts verdicts;
    struct bio_verdict bio;
    bool with_bio = json_object_get(c->body, "biometrics") != NULL;
    if (compare(c, &p, claims, &verdicts, &all) == 0 &&
        (!with_bio || compare_biometrics(c, hn, &bio, &all) == 0)) {
        if (transaction_id(txid) != 0) {
            api_fail(c, AE_INTERNAL_ERROR, NULL, "no random transaction id could be drawn");
        } else {
            memcpy(c->txid, txid, sizeof c->txid); /* the answer's id is the leaf's */
            char text[API_TEXT_BYTES];
            struct strbuf t = STRBUF(text);
            write_answer(&t, txid, &p, all, &verdicts, with_bio ? &bio : NULL);
            api_reply_text(c, 200, &t);
        }
    }
    explicit_bzero(&p, sizeof p);
}
