/*
 * tests/unit/test_api.c - the v1 JSON API (appliance/api*.c) driven through
 * api_handle() with hand-built requests, fake agencies and a real register in
 * a temporary directory (WAL sync off, "now" fixed at 2026-12-01T00:00:00Z).
 *
 * Covers: enrolment (201), idempotent replay (200, same number), the answer
 * to an enrolment id, verification (all claims true; one wrong claim; case,
 * accent and white-space variations; year-only dates; document claims;
 * deceased status; unknown and malformed numbers), per-agency permissions
 * (verifier may not read, kyc reads only its attributes, registrar reads all),
 * purposes, malformed JSON, invalid fields, unknown routes and methods,
 * document conflicts, documents issued and looked up, corrections and
 * history, deaths, births and the biometrics-due list, the adjudication flow,
 * fingerprints, api_is_blocking(), the request metrics, and that the API
 * operations of docs/openapi.yaml (all but the front end's, `x-served-by:
 * front-end`) and the route table of appliance/api.c are the same set, each
 * of them answered (when run from the repository root).  The
 * agency policy (agency.c), the request/response helpers (httpconn.c) and the
 * metrics (metrics.c) are the real ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "appliance/api.h"
#include "appliance/api_impl.h" /* api_text_*, white-box */
#include "appliance/hn.h"
#include "appliance/metrics.h"
#include "appliance/register.h"
#include "keys/keys.h"
#include "tests/unit/scratch_dir.h"

#define NOW 1796083200 /* 2026-12-01T00:00:00Z */

/* ---- fixture ----------------------------------------------------------------------------- */

static char dir[256];
static struct reg *reg;
static struct keyholder *keys; /* a pure unit test: a plain-file master key */
static struct metrics *metrics;
static struct api *api;

static const struct agency registration = {.name = "kit-office", .roles = ROLE_REGISTRATION};
static const struct agency verifier = {.name = "bank", .roles = ROLE_VERIFIER};
static const struct agency kyc = {.name = "kra",
                                  .roles = ROLE_KYC,
                                  .nattrs = 3,
                                  .attrs = {"surname", "first_name", "date_of_birth"}};
static const struct agency registrar = {.name = "registrar", .roles = ROLE_REGISTRAR};
static const struct agency adjudicator = {.name = "nrb-adj", .roles = ROLE_ADJUDICATOR};
static const struct agency operator_ = {.name = "ops", .roles = ROLE_OPERATOR};
static const struct agency everything = {.name = "all", .roles = 0x7f};

static int setup(void **state)
{
    (void)state;
    if (scratch_dir_make(dir, sizeof dir, "test_api") != 0)
        return -1;
    struct reg_result res = {0};
    static const struct keys_options software = {.insecure_software_key = true};
    if (reg_init(dir, &software, &keys, &res) != REG_OK) {
        fprintf(stderr, "register: %s: %s\n", res.field, res.msg);
        return -1;
    }
    struct reg_options o = {.sync = false, .now = NOW, .keys = keys};
    if (reg_open(dir, &o, &reg, &res) != REG_OK) {
        fprintf(stderr, "register: %s: %s\n", res.field, res.msg);
        return -1;
    }
    metrics = metrics_new();
    return metrics ? api_new(reg, metrics, &api) : -1;
}

static int teardown(void **state)
{
    (void)state;
    api_free(api);
    metrics_free(metrics);
    reg_close(reg);
    keys_holder_close(keys);
    return scratch_dir_remove(dir);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct answer {
    int status;
    char *text;
    json_t *j;
};

static void answer_free(struct answer *a)
{
    json_decref(a->j);
    free(a->text);
    memset(a, 0, sizeof *a);
}

static void set_header(struct http_request *req, const char *name, const char *value)
{
    struct http_header *h = &req->headers[req->nheaders++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* Sends one request; purpose NULL sends none.  path may hold "?query". */
static struct answer send_req(const struct agency *who, enum http_verb verb, const char *path,
                              const char *body, const char *purpose)
{
    static struct http_request req;
    memset(&req, 0, sizeof req);
    req.verb = verb;
    const char *q = strchr(path, '?');
    snprintf(req.path, sizeof req.path, "%.*s", (int)(q ? q - path : (long)strlen(path)), path);
    snprintf(req.query, sizeof req.query, "%s", q ? q + 1 : "");
    if (purpose)
        set_header(&req, "X-Purpose", purpose);
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    struct http_response resp = {0};
    api_handle(api, who, &req, &resp);
    struct answer a = {resp.status, resp.body, NULL};
    assert_non_null(resp.body);
    assert_null(resp.content_type);
    assert_int_equal(resp.body_len, strlen(resp.body));
    a.j = json_loads(resp.body, 0, NULL);
    if (!a.j)
        fail_msg("the answer is not JSON: %s", resp.body);
    return a;
}

static struct answer get(const struct agency *who, const char *path)
{
    return send_req(who, HTTP_VERB_GET, path, NULL, "identity check for a service");
}

static struct answer post(const struct agency *who, const char *path, const char *body)
{
    return send_req(who, HTTP_VERB_POST, path, body, "registration at a Huduma centre");
}

/* Posts a JSON value (consumed). */
static struct answer post_json(const struct agency *who, const char *path, json_t *body)
{
    assert_non_null(body);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct answer a = post(who, path, text);
    free(text);
    return a;
}

static const char *str(const struct answer *a, const char *key)
{
    const char *s = json_string_value(json_object_get(a->j, key));
    if (!s)
        fail_msg("no string '%s' in %s", key, a->text);
    return s;
}

static void expect_status(const struct answer *a, int status)
{
    if (a->status != status)
        fail_msg("expected %d, got %d: %s", status, a->status, a->text);
}

/* Checks an error answer: status, code and (when not NULL) field; consumes it. */
static void expect_error(struct answer a, int status, const char *code, const char *field)
{
    expect_status(&a, status);
    json_t *e = json_object_get(a.j, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *f = json_string_value(json_object_get(e, "field"));
    if (!c || strcmp(c, code) != 0)
        fail_msg("expected code %s: %s", code, a.text);
    if (!json_is_string(json_object_get(e, "message")))
        fail_msg("no message: %s", a.text);
    if (field && (!f || strcmp(f, field) != 0))
        fail_msg("expected field %s: %s", field, a.text);
    answer_free(&a);
}

/* ---- records ------------------------------------------------------------------------------- */

static json_t *record(const char *id, const char *surname, const char *first, const char *dob,
                      const char *docnum)
{
    json_t *r = json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s},"
        " s:s, s:s, s:[{s:s, s:s, s:s, s:s}], s:s}",
        "enrolment", "id", id, "officer", "OFF-1187", "centre", "KIT0042", "captured_at",
        "2026-11-26T09:12:44Z", "surname", surname, "first_name", first, "other_names", "Grace",
        "sex", "female", "date_of_birth", dob, "place_of_birth", "county", "042", "citizenship",
        "type", "birth", "residence", "county", "047", "sub_county", "Westlands", "phone",
        "+254712345678", "email", "akinyi@example.ke", "documents", "type", "national_id", "number",
        docnum, "issuer", "NRB", "issued", "2008-05-02", "biometric_exemption",
        "fingers injured at capture");
    assert_non_null(r);
    return r;
}

/* Enrols a new person and returns their number. */
static void enrol(const char *id, const char *surname, const char *first, const char *dob,
                  const char *docnum, char hn[HN_LEN + 1])
{
    struct answer a =
        post_json(&registration, "/v1/enrolments", record(id, surname, first, dob, docnum));
    expect_status(&a, 201);
    assert_string_equal(str(&a, "outcome"), "assigned");
    assert_string_equal(str(&a, "enrolment_id"), id);
    assert_true(hn_is_well_formed(str(&a, "huduma_number")));
    snprintf(hn, HN_LEN + 1, "%s", str(&a, "huduma_number"));
    answer_free(&a);
}

/* A well-formed number that no one holds. */
static void unissued_number(char hn[HN_LEN + 1])
{
    memcpy(hn, "10000000000", 11);
    hn[11] = verhoeff_check_digit(hn, 11);
    hn[12] = '\0';
    assert_true(hn_is_well_formed(hn));
}

static struct answer verify(const struct agency *who, const char *hn, json_t *claims)
{
    return post_json(who, "/v1/verify",
                     json_pack("{s:s, s:o}", "huduma_number", hn, "claims", claims));
}

static bool claim(const struct answer *a, const char *name)
{
    json_t *v = json_object_get(json_object_get(a->j, "claims"), name);
    if (!json_is_boolean(v))
        fail_msg("no claim result '%s': %s", name, a->text);
    return json_is_true(v);
}

static bool matched(const struct answer *a)
{
    json_t *v = json_object_get(a->j, "match");
    if (!json_is_boolean(v))
        fail_msg("no match: %s", a->text);
    return json_is_true(v);
}

/* ---- enrolment and verification ---------------------------------------------------------------
 */

/* The verify answer's writer (strbuf.h, api_text_*): tokens only, and a bad
 * string or an overflow spoils the whole text rather than produce bad JSON
 * or cut a piece in the middle. */
static void test_api_text(void **state)
{
    (void)state;
    char buf[API_TEXT_BYTES];
    struct strbuf t = STRBUF(buf);
    strbuf_put(&t, "{\"n\":");
    strbuf_uint(&t, 0);
    strbuf_put(&t, ",\"m\":");
    strbuf_uint(&t, 18446744073709551615ull);
    strbuf_put(&t, ",\"s\":");
    api_text_string(&t, "active");
    strbuf_put(&t, ",\"b\":");
    api_text_bool(&t, false);
    strbuf_put(&t, "}");
    const char *want = "{\"n\":0,\"m\":18446744073709551615,\"s\":\"active\",\"b\":false}";
    assert_false(t.spoiled);
    assert_int_equal(t.len, strlen(want));
    assert_memory_equal(t.buf, want, t.len);

    const char *spoilers[] = {"say \"hi\"", "back\\slash", "tab\there", "caf\xc3\xa9", NULL};
    for (size_t i = 0; i < sizeof spoilers / sizeof *spoilers; i++) {
        struct strbuf u = STRBUF(buf);
        api_text_string(&u, spoilers[i]);
        assert_true(u.spoiled);
    }

    /* exactly full is fine; one byte more spoils, and the piece is not cut */
    char small[8];
    struct strbuf f = STRBUF(small);
    strbuf_put(&f, "1234");
    strbuf_put(&f, "5678");
    assert_false(f.spoiled);
    assert_int_equal(f.len, 8);
    strbuf_put(&f, "9");
    assert_true(f.spoiled);
    assert_int_equal(f.len, 8);
    struct strbuf g = STRBUF(small);
    strbuf_put(&g, "12345");
    strbuf_put(&g, "6789");
    assert_true(g.spoiled);
    assert_int_equal(g.len, 5);
    strbuf_put(&g, "x"); /* a spoiled buffer takes nothing more */
    assert_int_equal(g.len, 5);
}

static void test_verify_claims(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], other[HN_LEN + 1];
    enrol("T1-0001", "Wanjirũ", "Akinyi", "1990-04-12", "23456789", hn);
    enrol("T1-0002", "Kamau", "Peter", "1980-01-02", "34567890", other);

    struct answer a =
        verify(&verifier, hn,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "surname", "Wanjirũ",
                         "first_name", "Akinyi", "other_names", "Grace", "date_of_birth",
                         "1990-04-12", "sex", "female", "document", "type", "national_id", "number",
                         "23456789", "phone", "+254712345678", "email", "AKINYI@example.ke"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    const char *names[] = {"surname", "first_name", "other_names", "date_of_birth",
                           "sex",     "document",   "phone",       "email"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_true(claim(&a, names[i]));
    assert_string_equal(str(&a, "status"), "active");
    assert_string_equal(str(&a, "huduma_number"), hn);
    const char *tx = str(&a, "transaction_id");
    assert_int_equal(strlen(tx), 32);
    assert_int_equal(strspn(tx, "0123456789abcdef"), 32);
    assert_null(strstr(a.text, "Akinyi")); /* never the record */
    assert_null(strstr(a.text, "1990"));
    assert_int_equal(json_object_size(a.j), 5);
    /* written by hand (api_text): exactly what jansson makes of it, compact, in order */
    char *again = json_dumps(a.j, JSON_COMPACT);
    assert_non_null(again);
    assert_string_equal(a.text, again);
    free(again);
    assert_non_null(strstr(a.text, "{\"transaction_id\":"));
    assert_non_null(strstr(a.text, ",\"claims\":{\"surname\":true,\"first_name\":true,"));
    char first_tx[33];
    snprintf(first_tx, sizeof first_tx, "%s", tx);
    answer_free(&a);

    /* one wrong claim */
    a = verify(&verifier, hn,
               json_pack("{s:s, s:s, s:s}", "surname", "Wanjiru", "first_name", "Njeri",
                         "date_of_birth", "1990-04-12"));
    expect_status(&a, 200);
    assert_false(matched(&a));
    assert_true(claim(&a, "surname"));
    assert_false(claim(&a, "first_name"));
    assert_true(claim(&a, "date_of_birth"));
    assert_string_not_equal(str(&a, "transaction_id"), first_tx);
    answer_free(&a);

    /* case, accents and white space are folded */
    a = verify(&verifier, hn,
               json_pack("{s:s, s:s, s:s}", "surname", "  WANJIRU ", "first_name", "akÍnyi",
                         "other_names", " grace\t"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    answer_free(&a);

    /* a full date is not a year; other claims that do not hold */
    a = verify(&verifier, hn,
               json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "date_of_birth", "1990", "sex", "male",
                         "document", "type", "national_id", "number", "34567890", "phone",
                         "+254700000000"));
    expect_status(&a, 200);
    assert_false(matched(&a));
    assert_false(claim(&a, "date_of_birth"));
    assert_false(claim(&a, "sex"));
    assert_false(claim(&a, "document"));
    assert_false(claim(&a, "phone"));
    answer_free(&a);

    /* a kyc agency verifies too */
    a = verify(&kyc, other, json_pack("{s:s}", "first_name", "PETER"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    answer_free(&a);
}

static void test_verify_year_only(void **state)
{
    (void)state;
    char hn[HN_LEN + 1];
    enrol("T2-0001", "Chebet", "Ruth", "1985", "45678901", hn);
    struct answer a = verify(&verifier, hn, json_pack("{s:s}", "date_of_birth", "1985"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    answer_free(&a);
    a = verify(&verifier, hn, json_pack("{s:s}", "date_of_birth", "1985-01-01"));
    expect_status(&a, 200);
    assert_false(matched(&a));
    answer_free(&a);
}

static void test_verify_refusals(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], nobody[HN_LEN + 1];
    enrol("T3-0001", "Mutua", "James", "1975-06-30", "56789012", hn);
    unissued_number(nobody);

    expect_error(verify(&verifier, nobody, json_pack("{s:s}", "surname", "Mutua")), 404,
                 "not_found", "huduma_number");
    expect_error(verify(&verifier, "123456789012", json_pack("{s:s}", "surname", "Mutua")), 400,
                 "invalid_field", "huduma_number");
    expect_error(verify(&verifier, hn, json_object()), 400, "invalid_field", "claims");
    expect_error(verify(&verifier, hn, json_pack("{s:s}", "shoe_size", "9")), 400, "invalid_field",
                 "claims.shoe_size");
    expect_error(verify(&verifier, hn, json_pack("{s:s}", "date_of_birth", "1975-02-30")), 400,
                 "invalid_field", "claims.date_of_birth");
    expect_error(verify(&verifier, hn, json_pack("{s:s}", "sex", "f")), 400, "invalid_field",
                 "claims.sex");
    expect_error(verify(&verifier, hn, json_pack("{s:i}", "surname", 7)), 400, "invalid_field",
                 "claims.surname");
    expect_error(verify(&verifier, hn, json_pack("{s:s}", "surname", "")), 400, "invalid_field",
                 "claims.surname");
    expect_error(verify(&verifier, hn,
                        json_pack("{s:{s:s, s:s}}", "document", "type", "visa", "number", "1")),
                 400, "invalid_field", "claims.document.type");
    expect_error(
        verify(&verifier, hn,
               json_pack("{s:{s:s, s:s}}", "document", "type", "passport", "number", "A#1")),
        400, "invalid_field", "claims.document.number");
    expect_error(verify(&verifier, hn, json_pack("{s:s}", "phone", "0712345678")), 400,
                 "invalid_field", "claims.phone");
    expect_error(post(&verifier, "/v1/verify", "{\"huduma_number\":\"x\",\"claims\":{},\"n\":1}"),
                 400, "invalid_field", "n");
    expect_error(post(&verifier, "/v1/verify", "{\"claims\":{\"sex\":\"male\"}}"), 400,
                 "invalid_field", "huduma_number");
    /* a refusal never quotes what was sent */
    struct answer a = verify(&verifier, hn, json_pack("{s:s}", "date_of_birth", "Mutua-1975"));
    expect_status(&a, 400);
    assert_null(strstr(a.text, "Mutua"));
    answer_free(&a);
}

static void test_deceased(void **state)
{
    (void)state;
    char hn[HN_LEN + 1];
    enrol("T4-0001", "Odhiambo", "Tom", "1950-03-03", "67890123", hn);
    char path[64];
    snprintf(path, sizeof path, "/v1/persons/%s/death", hn);
    struct answer a = post(&registration, path,
                           "{\"date\":\"2026-10-01\",\"certificate\":\"D-123\","
                           "\"officer\":\"OFF-9\"}");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "status"), "deceased");
    answer_free(&a);

    a = verify(&verifier, hn, json_pack("{s:s}", "surname", "Odhiambo"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    assert_string_equal(str(&a, "status"), "deceased");
    answer_free(&a);

    expect_error(post(&registration, path,
                      "{\"date\":\"2026-10-01\",\"certificate\":\"D-123\",\"officer\":\"OFF-9\"}"),
                 409, "already_deceased", NULL);
    expect_error(post(&registration, path, "{\"date\":\"2026-10-01\",\"officer\":\"OFF-9\"}"), 400,
                 "invalid_field", "certificate");
    expect_error(post(&registration, path,
                      "{\"date\":\"2027-10-01\",\"certificate\":\"D\",\"officer\":\"O\"}"),
                 400, "invalid_field", "date");
    snprintf(path, sizeof path, "/v1/persons/%s/documents", hn);
    expect_error(post(&registration, path,
                      "{\"type\":\"passport\",\"number\":\"AK000001\",\"issuer\":\"DIS\","
                      "\"issued\":\"2026-01-05\",\"officer\":\"OFF-9\"}"),
                 409, "not_active", NULL);
}

/* ---- permissions and purposes -----------------------------------------------------------------
 */

static void test_permissions(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], path[64];
    enrol("T5-0001", "Naliaka", "Mercy", "1995-09-09", "78901234", hn);
    snprintf(path, sizeof path, "/v1/persons/%s", hn);

    expect_error(get(&verifier, path), 403, "forbidden", NULL);
    expect_error(get(NULL, path), 403, "forbidden", NULL);
    struct agency revoked = registrar;
    revoked.revoked = true;
    expect_error(get(&revoked, path), 403, "forbidden", NULL);

    struct answer a = get(&kyc, path);
    expect_status(&a, 200);
    assert_int_equal(json_object_size(a.j), 5);
    assert_string_equal(str(&a, "huduma_number"), hn);
    assert_string_equal(str(&a, "status"), "active");
    assert_string_equal(str(&a, "surname"), "Naliaka");
    assert_string_equal(str(&a, "first_name"), "Mercy");
    assert_string_equal(str(&a, "date_of_birth"), "1995-09-09");
    answer_free(&a);

    a = get(&registrar, path);
    expect_status(&a, 200);
    assert_string_equal(str(&a, "phone"), "+254712345678");
    assert_non_null(json_object_get(a.j, "residence"));
    assert_non_null(json_object_get(a.j, "documents"));
    assert_null(json_object_get(a.j, "biometrics"));
    answer_free(&a);

    expect_error(
        post_json(&verifier, "/v1/enrolments", record("T5-0002", "X", "Y", "1990-01-01", "1")), 403,
        "forbidden", NULL);
    expect_error(verify(&registration, hn, json_pack("{s:s}", "surname", "Naliaka")), 403,
                 "forbidden", NULL);
    expect_error(get(&registration, "/v1/adjudications"), 403, "forbidden", NULL);
    snprintf(path, sizeof path, "/v1/persons/%s/history", hn);
    expect_error(get(&kyc, path), 403, "forbidden", NULL);
    expect_error(get(&registration, path), 403, "forbidden", NULL);
    a = get(&operator_, "/v1/biometrics/due");
    expect_status(&a, 200);
    answer_free(&a);
    expect_error(get(&operator_, "/v1/documents/78901234"), 403, "forbidden", NULL);
    expect_error(get(&kyc, "/v1/documents/78901234"), 403, "forbidden", NULL);
}

static void test_purpose(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], path[64];
    enrol("T6-0001", "Kiprono", "Felix", "1988-11-11", "89012345", hn);
    snprintf(path, sizeof path, "/v1/persons/%s", hn);

    expect_error(send_req(&registrar, HTTP_VERB_GET, path, NULL, NULL), 400, "purpose_required",
                 NULL);
    expect_error(send_req(&registrar, HTTP_VERB_GET, path, NULL, "   "), 400, "purpose_required",
                 NULL);
    expect_error(send_req(&verifier, HTTP_VERB_POST, "/v1/verify", "{", NULL), 400,
                 "purpose_required", NULL);
    expect_error(send_req(&registrar, HTTP_VERB_GET, path, NULL, "ab"), 400, "invalid_field",
                 "X-Purpose");
    expect_error(send_req(&registrar, HTTP_VERB_GET, path, NULL, "loan\x01 check"), 400,
                 "invalid_field", "X-Purpose");
    char longp[140];
    memset(longp, 'p', 129);
    longp[129] = '\0';
    expect_error(send_req(&registrar, HTTP_VERB_GET, path, NULL, longp), 400, "invalid_field",
                 "X-Purpose");
    longp[128] = '\0';
    struct answer a = send_req(&registrar, HTTP_VERB_GET, path, NULL, longp);
    expect_status(&a, 200);
    answer_free(&a);
    a = send_req(&registrar, HTTP_VERB_GET, path, NULL, "  KYC   ");
    expect_status(&a, 200);
    answer_free(&a);
}

/* ---- input and routing --------------------------------------------------------------------------
 */

static void test_malformed_input(void **state)
{
    (void)state;
    expect_error(post(&registration, "/v1/enrolments", "{\"surname\": "), 400, "invalid_json",
                 NULL);
    expect_error(post(&registration, "/v1/enrolments", ""), 400, "invalid_json", NULL);
    expect_error(post(&registration, "/v1/enrolments", "[1, 2]"), 400, "invalid_json", NULL);
    expect_error(post(&registration, "/v1/enrolments", "{\"a\":1,\"a\":2}"), 400, "invalid_json",
                 NULL);
    expect_error(post(&registration, "/v1/enrolments", "{} {}"), 400, "invalid_json", NULL);
    expect_error(post(&verifier, "/v1/verify", "{\"Wanjiku\" \"x\"}"), 400, "invalid_json", NULL);
    struct answer a = post(&verifier, "/v1/verify", "{\"claims\": Wanjiku}");
    expect_status(&a, 400);
    assert_null(strstr(a.text, "Wanjiku"));
    answer_free(&a);

    json_t *r = record("T7-0001", "Achieng", "Mary", "1992-02-02", "90123456");
    json_object_set_new(r, "sex", json_string("unknown"));
    expect_error(post_json(&registration, "/v1/enrolments", r), 400, "invalid_field", "sex");
    r = record("T7-0002", "Achieng", "Mary", "1992-02-02", "90123457");
    json_object_set_new(r, "status", json_string("active"));
    expect_error(post_json(&registration, "/v1/enrolments", r), 400, "invalid_field", "status");
    r = record("T7-0003", "Achieng", "Mary", "1992-02-02", "90123458");
    json_object_set_new(r, "dna", json_string("ACGT"));
    expect_error(post_json(&registration, "/v1/enrolments", r), 400, "invalid_field", "dna");
    r = record("T7-0004", "Achieng", "Mary", "1992-02-02", "90123459");
    json_object_del(r, "biometric_exemption");
    expect_error(post_json(&registration, "/v1/enrolments", r), 400, "invalid_field", "biometrics");
    /* a refusal never quotes back what was sent */
    static const struct {
        const char *member, *value, *field;
    } echoes[] = {
        {"sex", "Femalexx", "sex"},
        {"date_of_birth", "1992-02-30", "date_of_birth"},
        {"marital_status", "Engaged to Otieno", "marital_status"},
        {"Wanjiku", "x", NULL},
    };
    for (size_t i = 0; i < sizeof echoes / sizeof *echoes; i++) {
        r = record("T7-0005", "Achieng", "Mary", "1992-02-02", "90123460");
        json_object_set_new(r, echoes[i].member, json_string(echoes[i].value));
        a = post_json(&registration, "/v1/enrolments", r);
        expect_status(&a, 400);
        json_t *e = json_object_get(a.j, "error");
        if (strstr(a.text, echoes[i].value) || (!echoes[i].field && strstr(a.text, "Wanjiku")))
            fail_msg("echoed: %s", a.text);
        if (echoes[i].field)
            assert_string_equal(json_string_value(json_object_get(e, "field")), echoes[i].field);
        answer_free(&a);
    }
    r = record("T7-0006", "Achieng", "Mary", "1992-02-02", "90123461");
    json_object_set_new(r, "residence", json_pack("{s:s}", "county", "099"));
    a = post_json(&registration, "/v1/enrolments", r);
    expect_status(&a, 400);
    assert_null(strstr(a.text, "099"));
    assert_non_null(strstr(a.text, "(001-047)"));
    answer_free(&a);
    r = record("T7 0007", "Achieng", "Mary", "1992-02-02", "90123462");
    a = post_json(&registration, "/v1/enrolments", r);
    expect_status(&a, 400);
    if (!strstr(a.text, "'-', '_' and '.'"))
        fail_msg("a quoted character was cut: %s", a.text);
    answer_free(&a);

    expect_error(get(&registrar, "/v1/persons/12345"), 400, "invalid_field", "hn");
    expect_error(get(&registration, "/v1/enrolments/bad%20id"), 400, "invalid_field",
                 "enrolment_id");
    expect_error(get(&registration, "/v1/documents/A%2"), 400, "invalid_field", "number");
    expect_error(get(&registration, "/v1/documents/A%00B"), 400, "invalid_field", "number");
}

static void test_routes(void **state)
{
    (void)state;
    expect_error(get(&everything, "/v1/nothing"), 404, "not_found", NULL);
    expect_error(get(&everything, "/v2/verify"), 404, "not_found", NULL);
    expect_error(get(&everything, "/v1/verify/"), 404, "not_found", NULL);
    expect_error(get(&everything, "/v1/persons/"), 404, "not_found", NULL);
    expect_error(get(&everything, "/"), 404, "not_found", NULL);
    expect_error(get(&everything, "/healthz"), 404, "not_found", NULL);
    expect_error(get(&everything, "/v1/verify"), 405, "method_not_allowed", NULL);
    expect_error(post(&everything, "/v1/persons/123456789012", "{}"), 405, "method_not_allowed",
                 NULL);
    expect_error(send_req(&everything, HTTP_VERB_DELETE, "/v1/persons/123456789012", NULL, "abc"),
                 405, "method_not_allowed", NULL);
    expect_error(send_req(&everything, HTTP_VERB_PUT, "/v1/enrolments", "{}", "abc"), 405,
                 "method_not_allowed", NULL);
    /* a route's answer does not depend on the caller for 404/405 */
    expect_error(get(NULL, "/v1/nothing"), 404, "not_found", NULL);
    expect_error(get(&everything, "/v1/adjudications?x=1"), 400, "invalid_field", "x");
    expect_error(get(&everything, "/v1/biometrics/due?limit=0"), 400, "invalid_field", "limit");
    expect_error(get(&everything, "/v1/biometrics/due?as_of=2026-02-30"), 400, "invalid_field",
                 "as_of");

    static const struct {
        enum http_verb verb;
        const char *path;
        bool blocking;
    } cases[] = {
        {HTTP_VERB_POST, "/v1/enrolments", true},
        {HTTP_VERB_POST, "/v1/births", true},
        {HTTP_VERB_POST, "/v1/persons/123456789012/corrections", true},
        {HTTP_VERB_POST, "/v1/persons/123456789012/death", true},
        {HTTP_VERB_POST, "/v1/persons/123456789012/documents", true},
        {HTTP_VERB_POST, "/v1/adjudications/KIT-1", true},
        {HTTP_VERB_POST, "/v1/verify", false},
        {HTTP_VERB_GET, "/v1/persons/123456789012", false},
        {HTTP_VERB_GET, "/v1/persons/123456789012/documents", false},
        {HTTP_VERB_GET, "/v1/persons/123456789012/history", false},
        {HTTP_VERB_GET, "/v1/enrolments/KIT-1", false},
        {HTTP_VERB_GET, "/v1/documents/A1", false},
        {HTTP_VERB_GET, "/v1/biometrics/due", false},
        {HTTP_VERB_GET, "/v1/adjudications", false},
        {HTTP_VERB_GET, "/v1/enrolments", false},
        {HTTP_VERB_GET, "/nowhere", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct http_request req = {.verb = cases[i].verb};
        snprintf(req.path, sizeof req.path, "%s", cases[i].path);
        if (api_is_blocking(&req) != cases[i].blocking)
            fail_msg("api_is_blocking(%s)", cases[i].path);
    }
}

/* ---- enrolment ids, documents, corrections ----------------------------------------------------
 */

static void test_replay(void **state)
{
    (void)state;
    char hn[HN_LEN + 1];
    enrol("T8-0001", "Mwangi", "John", "1970-07-07", "11223344", hn);
    struct answer a = post_json(&registration, "/v1/enrolments",
                                record("T8-0001", "Mwangi", "John", "1970-07-07", "11223344"));
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "already_enrolled");
    assert_string_equal(str(&a, "huduma_number"), hn);
    answer_free(&a);

    a = get(&registration, "/v1/enrolments/T8-0001");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "assigned");
    assert_string_equal(str(&a, "huduma_number"), hn);
    answer_free(&a);
    expect_error(get(&registration, "/v1/enrolments/T8-9999"), 404, "not_found", "enrolment_id");
}

static void test_documents(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], other[HN_LEN + 1], path[80];
    enrol("T9-0001", "Omondi", "Brian", "1999-05-05", "22334455", hn);
    enrol("T9-0002", "Njoroge", "Lucy", "1998-04-04", "22334456", other);

    expect_error(post_json(&registration, "/v1/enrolments",
                           record("T9-0003", "Otieno", "Paul", "1997-03-03", "22-334-455")),
                 409, "document_linked", "documents[0].number");

    snprintf(path, sizeof path, "/v1/persons/%s/documents", hn);
    const char *passport = "{\"type\":\"passport\",\"number\":\"AK123456\",\"issuer\":\"DIS\","
                           "\"issued\":\"2025-01-05\",\"expires\":\"2035-01-04\","
                           "\"officer\":\"OFF-3\"}";
    struct answer a = post(&registration, path, passport);
    expect_status(&a, 201);
    assert_string_equal(str(&a, "outcome"), "recorded");
    answer_free(&a);
    a = post(&registration, path, passport);
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "already_recorded");
    answer_free(&a);
    expect_error(post(&registration, path,
                      "{\"type\":\"passport\",\"number\":\"AK1\",\"issuer\":\"DIS\","
                      "\"issued\":\"2025-01-05\"}"),
                 400, "invalid_field", "officer");
    expect_error(post(&registration, path,
                      "{\"type\":\"visa\",\"number\":\"AK1\",\"issued\":\"2025-01-05\","
                      "\"officer\":\"O\"}"),
                 400, "invalid_field", "type");

    snprintf(path, sizeof path, "/v1/persons/%s/documents", other);
    expect_error(post(&registration, path, passport), 409, "document_linked", "number");

    snprintf(path, sizeof path, "/v1/persons/%s/documents", hn);
    a = get(&registrar, path);
    expect_status(&a, 200);
    assert_int_equal(json_array_size(json_object_get(a.j, "documents")), 1);
    answer_free(&a);

    a = get(&registration, "/v1/documents/ak-123456?type=passport");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "huduma_number"), hn);
    answer_free(&a);
    a = get(&registrar, "/v1/documents/22334456");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "huduma_number"), other);
    answer_free(&a);
    expect_error(get(&registration, "/v1/documents/ZZ999"), 404, "not_found", "number");
    expect_error(get(&registration, "/v1/documents/AK123456?type=visa"), 400, "invalid_field",
                 "type");

    /* documents issued count for verification too */
    a = verify(&verifier, hn,
               json_pack("{s:{s:s, s:s}}", "document", "type", "passport", "number", "ak 123456"));
    expect_status(&a, 200);
    assert_true(matched(&a));
    answer_free(&a);
    a = verify(&verifier, other,
               json_pack("{s:{s:s, s:s}}", "document", "type", "passport", "number", "AK123456"));
    expect_status(&a, 200);
    assert_false(matched(&a));
    answer_free(&a);
}

static void test_corrections_and_history(void **state)
{
    (void)state;
    char hn[HN_LEN + 1], path[80], nobody[HN_LEN + 1];
    enrol("T10-0001", "Wekesa", "Ann", "1993-08-08", "33445566", hn);
    snprintf(path, sizeof path, "/v1/persons/%s/corrections", hn);

    struct answer a = post(&registration, path,
                           "{\"changes\":{\"phone\":\"+254700000001\"},\"reason\":\"new line\","
                           "\"officer\":\"OFF-7\",\"evidence\":\"form C12\"}");
    expect_status(&a, 200);
    assert_int_equal(json_integer_value(json_object_get(a.j, "version")), 2);
    assert_string_equal(str(&a, "huduma_number"), hn);
    answer_free(&a);

    expect_error(post(&registration, path,
                      "{\"changes\":{\"phone\":\"+254700000002\"},\"reason\":\"r\","
                      "\"officer\":\"O\"}"),
                 400, "invalid_field", "evidence");
    expect_error(post(&registration, path,
                      "{\"changes\":{\"sex\":\"x\"},\"reason\":\"r\",\"officer\":\"O\","
                      "\"evidence\":\"e\"}"),
                 400, "invalid_field", "changes.sex");
    expect_error(post(&registration, path,
                      "{\"changes\":{\"status\":\"revoked\"},\"reason\":\"r\",\"officer\":\"O\","
                      "\"evidence\":\"e\"}"),
                 400, "invalid_field", "changes.status");
    expect_error(post(&registration, path,
                      "{\"changes\":[],\"reason\":\"r\",\"officer\":\"O\",\"evidence\":\"e\"}"),
                 400, "invalid_field", "changes");
    expect_error(post(&registration, path,
                      "{\"changes\":{\"documents\":[{\"type\":\"national_id\",\"number\":"
                      "\"23456789\",\"issued\":\"2008-05-02\"}]},\"reason\":\"r\","
                      "\"officer\":\"O\",\"evidence\":\"e\"}"),
                 409, "document_linked", "changes.documents[0].number");
    unissued_number(nobody);
    snprintf(path, sizeof path, "/v1/persons/%s/corrections", nobody);
    expect_error(post(&registration, path,
                      "{\"changes\":{\"phone\":\"+254700000001\"},\"reason\":\"r\","
                      "\"officer\":\"O\",\"evidence\":\"e\"}"),
                 404, "not_found", "hn");
    snprintf(path, sizeof path, "/v1/persons/%s", nobody);
    expect_error(get(&registrar, path), 404, "not_found", "hn");

    snprintf(path, sizeof path, "/v1/persons/%s/history", hn);
    a = get(&registrar, path);
    expect_status(&a, 200);
    json_t *versions = json_object_get(a.j, "versions");
    assert_int_equal(json_array_size(versions), 2);
    json_t *v1 = json_array_get(versions, 0), *v2 = json_array_get(versions, 1);
    assert_int_equal(json_integer_value(json_object_get(v1, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(v2, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v2, "record"), "phone")),
                        "+254700000001");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(v2, "change"), "evidence")), "form C12");
    answer_free(&a);
}

/* ---- births, due biometrics, adjudication, fingerprints ----------------------------------------
 */

static void test_births_and_due(void **state)
{
    (void)state;
    char mother[HN_LEN + 1];
    enrol("T11-0001", "Atieno", "Grace", "1991-01-15", "44556677", mother);
    json_t *child = json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s},"
        " s:[{s:s, s:s, s:s}], s:{s:s}}",
        "enrolment", "id", "T11-0002", "officer", "OFF-2", "centre", "KIT0042", "captured_at",
        "2026-11-26T10:00:00Z", "surname", "Atieno", "first_name", "Baraka", "sex", "male",
        "date_of_birth", "2021-03-01", "place_of_birth", "county", "042", "citizenship", "type",
        "birth", "residence", "county", "047", "documents", "type", "birth_certificate", "number",
        "BC-778899", "issued", "2021-03-10", "parents", "mother", mother);
    struct answer a = post_json(&registration, "/v1/births", child);
    expect_status(&a, 201);
    char hn[HN_LEN + 1];
    snprintf(hn, sizeof hn, "%s", str(&a, "huduma_number"));
    answer_free(&a);

    a = get(&operator_, "/v1/biometrics/due?as_of=2027-03-02");
    expect_status(&a, 200);
    json_t *due = json_object_get(a.j, "due"), *e;
    size_t i;
    bool found = false;
    json_array_foreach(due, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "huduma_number")), hn) == 0) {
            found = true;
            assert_string_equal(json_string_value(json_object_get(e, "due")), "2027-03-01");
        }
    }
    assert_true(found);
    assert_false(json_is_true(json_object_get(a.j, "truncated")));
    answer_free(&a);

    a = get(&operator_, "/v1/biometrics/due");
    expect_status(&a, 200);
    assert_int_equal(json_array_size(json_object_get(a.j, "due")), 0);
    answer_free(&a);
    a = get(&operator_, "/v1/biometrics/due?as_of=2027-03-02&limit=1");
    expect_status(&a, 200);
    assert_int_equal(json_array_size(json_object_get(a.j, "due")), 1);
    answer_free(&a);

    expect_error(post(&registration, "/v1/births", "{\"surname\":\"A\"}"), 400, "invalid_field",
                 NULL);
}

static void test_adjudication(void **state)
{
    (void)state;
    char first[HN_LEN + 1];
    enrol("T12-0001", "Kariuki", "Esther", "1984-12-12", "55667788", first);
    struct answer a = post_json(&registration, "/v1/enrolments",
                                record("T12-0002", "Kariuki", "Esther", "1984-12-12", "55667799"));
    expect_status(&a, 202);
    assert_string_equal(str(&a, "outcome"), "pending_adjudication");
    json_t *cands = json_object_get(a.j, "candidates");
    assert_int_equal(json_array_size(cands), 1);
    assert_string_equal(json_string_value(json_array_get(cands, 0)), first);
    assert_null(json_object_get(a.j, "huduma_number"));
    answer_free(&a);
    /* a resubmission is held still */
    a = post_json(&registration, "/v1/enrolments",
                  record("T12-0002", "Kariuki", "Esther", "1984-12-12", "55667799"));
    expect_status(&a, 202);
    answer_free(&a);

    a = get(&adjudicator, "/v1/adjudications");
    expect_status(&a, 200);
    json_t *pending = json_object_get(a.j, "pending"), *p;
    size_t i;
    bool listed = false;
    json_array_foreach(pending, i, p) listed |=
        strcmp(json_string_value(json_object_get(p, "enrolment_id")), "T12-0002") == 0;
    assert_true(listed);
    answer_free(&a);

    expect_error(post(&adjudicator, "/v1/adjudications/T12-0002",
                      "{\"decision\":\"maybe\",\"officer\":\"ADJ-1\",\"reason\":\"r\"}"),
                 400, "invalid_field", "decision");
    expect_error(post(&adjudicator, "/v1/adjudications/T12-0002",
                      "{\"decision\":\"same_person\",\"officer\":\"ADJ-1\",\"reason\":\"r\"}"),
                 400, "invalid_field", "huduma_number");
    expect_error(post(&adjudicator, "/v1/adjudications/T12-0002",
                      "{\"decision\":\"different\",\"officer\":\"ADJ-1\"}"),
                 400, "invalid_field", "reason");
    expect_error(post(&adjudicator, "/v1/adjudications/T12-9999",
                      "{\"decision\":\"different\",\"officer\":\"ADJ-1\",\"reason\":\"r\"}"),
                 404, "not_found", "enrolment_id");

    a = post(&adjudicator, "/v1/adjudications/T12-0002",
             "{\"decision\":\"different\",\"officer\":\"ADJ-1\",\"reason\":\"twins\"}");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "assigned");
    char second[HN_LEN + 1];
    snprintf(second, sizeof second, "%s", str(&a, "huduma_number"));
    assert_string_not_equal(second, first);
    answer_free(&a);
    expect_error(post(&adjudicator, "/v1/adjudications/T12-0002",
                      "{\"decision\":\"different\",\"officer\":\"ADJ-1\",\"reason\":\"r\"}"),
                 409, "already_decided", "enrolment_id");

    a = post_json(&registration, "/v1/enrolments",
                  record("T12-0003", "Kariuki", "Esther", "1984-12-12", "55667800"));
    expect_status(&a, 202);
    assert_int_equal(json_array_size(json_object_get(a.j, "candidates")), 2);
    answer_free(&a);
    char nobody[HN_LEN + 1], body[200];
    unissued_number(nobody);
    snprintf(body, sizeof body,
             "{\"decision\":\"same_person\",\"huduma_number\":\"%s\",\"officer\":\"A\","
             "\"reason\":\"r\"}",
             nobody);
    expect_error(post(&adjudicator, "/v1/adjudications/T12-0003", body), 400, "invalid_field",
                 "huduma_number");
    snprintf(body, sizeof body,
             "{\"decision\":\"same_person\",\"huduma_number\":\"%s\",\"officer\":\"ADJ-1\","
             "\"reason\":\"same fingerprints\"}",
             first);
    a = post(&adjudicator, "/v1/adjudications/T12-0003", body);
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "refused_duplicate");
    assert_string_equal(str(&a, "huduma_number"), first);
    answer_free(&a);

    a = get(&registration, "/v1/enrolments/T12-0003");
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "refused_duplicate");
    answer_free(&a);
    a = post_json(&registration, "/v1/enrolments",
                  record("T12-0003", "Kariuki", "Esther", "1984-12-12", "55667800"));
    expect_status(&a, 200);
    assert_string_equal(str(&a, "outcome"), "refused_duplicate");
    answer_free(&a);
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* A valid ISO/IEC 19794-2:2005 record: one view of finger 2 with 4 minutiae. */
static size_t make_template(uint8_t *buf)
{
    memset(buf, 0, 64);
    memcpy(buf, "FMR\0 20\0", 8);
    put16(buf + 14, 300);
    put16(buf + 16, 400);
    put16(buf + 18, 197);
    put16(buf + 20, 197);
    buf[22] = 1;
    uint8_t *v = buf + 24;
    v[0] = 2, v[2] = 60, v[3] = 4;
    uint8_t *m = v + 4;
    for (unsigned i = 0; i < 4; i++, m += 6) {
        put16(m, (i % 2 ? 0x8000u : 0x4000u) | (10 + 20 * i));
        put16(m + 2, 20 + 30 * i);
        m[4] = (uint8_t)(i * 40);
        m[5] = 50;
    }
    put16(m, 0);
    size_t len = (size_t)(m + 2 - buf);
    put16(buf + 8, 0);
    put16(buf + 10, (unsigned)len);
    return len;
}

static void test_fingerprints(void **state)
{
    (void)state;
    uint8_t tmpl[64];
    size_t len = make_template(tmpl);
    char b64[128];
    EVP_EncodeBlock((unsigned char *)b64, tmpl, (int)len);

    json_t *r = record("T13-0001", "Jeptoo", "Faith", "2000-10-10", "66778899");
    json_object_del(r, "biometric_exemption");
    json_object_set_new(
        r, "biometrics",
        json_pack("{s:[{s:i, s:s}]}", "fingerprints", "position", 2, "template", b64));
    struct answer a = post_json(&registration, "/v1/enrolments", r);
    expect_status(&a, 201);
    answer_free(&a);

    r = record("T13-0002", "Jeptoo", "Hope", "2001-10-10", "66778800");
    json_object_del(r, "biometric_exemption");
    json_object_set_new(
        r, "biometrics",
        json_pack("{s:[{s:i, s:s}]}", "fingerprints", "position", 2, "template", "Rk1SACAyMAAA"));
    a = post_json(&registration, "/v1/enrolments", r);
    expect_status(&a, 400);
    const char *f = json_string_value(json_object_get(json_object_get(a.j, "error"), "field"));
    assert_non_null(f);
    assert_memory_equal(f, "biometrics", 10);
    answer_free(&a);
}

static void test_metrics(void **state)
{
    (void)state;
    char *text = metrics_render(metrics, 0, NULL);
    assert_non_null(text);
    /* counted by route template, never by the path with its number */
    assert_non_null(strstr(text, "route=\"/v1/verify\",status=\"200\""));
    assert_non_null(strstr(text, "route=\"/v1/persons/{hn}\",status=\"403\""));
    assert_non_null(strstr(text, "route=\"other\",status=\"404\""));
    assert_null(strstr(text, "/v1/persons/1"));
    free(text);
}

/* ---- the spec
 * ------------------------------------------------------------------------------------ */

/* Replaces each {parameter} of a spec path with a value of the right shape. */
static void fill_path(const char *tmpl, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *t = tmpl; *t && o + 16 < outlen; t++) {
        if (*t != '{') {
            out[o++] = *t;
            continue;
        }
        const char *end = strchr(t, '}');
        const char *v = strncmp(t, "{hn}", 4) == 0 ? "123456789012" : "ABC-1";
        o += (size_t)snprintf(out + o, outlen - o, "%s", v);
        t = end;
    }
    out[o] = '\0';
}

/* A route: a method ("GET", "POST", ...) and a path template.  served_by is the
 * spec's x-served-by ("api" when absent); the route table leaves it empty. */
struct route_id {
    char method[8];
    char path[128];
    char served_by[16];
};
#define ROUTES_MAX 64

static const struct route_id *route_lookup(const struct route_id *set, int n, const char *method,
                                           const char *path)
{
    for (int i = 0; i < n; i++)
        if (strcmp(set[i].method, method) == 0 && strcmp(set[i].path, path) == 0)
            return &set[i];
    return NULL;
}

static enum http_verb verb_of(const char *method)
{
    static const struct {
        const char *name;
        enum http_verb verb;
    } verbs[] = {{"GET", HTTP_VERB_GET},
                 {"POST", HTTP_VERB_POST},
                 {"PUT", HTTP_VERB_PUT},
                 {"DELETE", HTTP_VERB_DELETE},
                 {"HEAD", HTTP_VERB_HEAD}};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        if (strcmp(method, verbs[i].name) == 0)
            return verbs[i].verb;
    return HTTP_VERB_OTHER;
}

/* The operations under `paths:` of docs/openapi.yaml, read in the file's own
 * layout: a path two spaces in, its methods four, an operation's members six.
 * -1 when the file cannot be opened. */
static int spec_operations(const char *file, struct route_id *ops)
{
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[512], path[128] = "";
    int n = 0;
    struct route_id *op = NULL; /* the operation whose members follow */
    bool in_paths = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "paths:", 6) == 0) {
            in_paths = true;
            continue;
        }
        if (in_paths && line[0] != ' ' && line[0] != '\n' && line[0] != '#')
            in_paths = false;
        if (!in_paths)
            continue;
        char key[16], value[16];
        if (strncmp(line, "  /", 3) == 0) {
            sscanf(line + 2, "%127[^:]", path);
            op = NULL;
        } else if (strncmp(line, "    ", 4) == 0 && line[4] != ' ' &&
                   sscanf(line + 4, "%15[a-z]", key) == 1 &&
                   strcmp(line + 4 + strlen(key), ":\n") == 0) {
            op = NULL; /* a member of the path item (parameters, summary, ...) or a method */
            for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
                if (strcmp(key, methods[i]) != 0)
                    continue;
                if (n == ROUTES_MAX) {
                    fclose(f);
                    fail_msg("more than %d operations in %s", ROUTES_MAX, file);
                }
                op = &ops[n++];
                for (size_t k = 0; k <= strlen(key); k++)
                    op->method[k] = (char)(key[k] >= 'a' && key[k] <= 'z' ? key[k] - 32 : key[k]);
                snprintf(op->path, sizeof op->path, "%s", path);
                snprintf(op->served_by, sizeof op->served_by, "api");
            }
        } else if (op && sscanf(line, "      x-served-by: %15[^ \n]", value) == 1) {
            size_t len = strlen(value);
            if (len >= 2 && (value[0] == '\'' || value[0] == '"') && value[len - 1] == value[0]) {
                value[len - 1] = '\0';
                memmove(value, value + 1, len - 1);
            }
            snprintf(op->served_by, sizeof op->served_by, "%s", value);
        }
    }
    fclose(f);
    return n;
}

/* The API's route table as written in appliance/api.c: the entries
 * {HTTP_VERB_X, "/path", ...} of `routes[] = { ... };`, one a line.
 * -1 when the file cannot be opened. */
static int table_routes(const char *file, struct route_id *routes)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    bool in_table = false, found = false;
    while (fgets(line, sizeof line, f)) {
        if (!in_table) {
            in_table = found = strstr(line, " routes[] = {") != NULL;
            continue;
        }
        if (strncmp(line, "};", 2) == 0)
            break;
        const char *e = strstr(line, "{HTTP_VERB_");
        if (!e)
            continue;
        struct route_id *rt = &routes[n];
        if (n == ROUTES_MAX ||
            sscanf(e, "{HTTP_VERB_%7[A-Z], \"%127[^\"]\"", rt->method, rt->path) != 2) {
            fclose(f);
            fail_msg("%s: an entry of routes[] this test cannot read: %s", file, line);
        }
        rt->served_by[0] = '\0';
        n++;
    }
    fclose(f);
    if (!found)
        fail_msg("%s: no route table (static const struct route routes[] = {...})", file);
    return n;
}

/* docs/openapi.yaml and the API describe the same routes (when run from the
 * repository root):
 *   - every operation of the spec but those marked `x-served-by: front-end`
 *     is in the route table of appliance/api.c, and api_handle() answers it
 *     (neither "no such route" nor 405);
 *   - every entry of that route table is such an operation of the spec, and
 *     neither list repeats a route;
 *   - the front end's operations (/healthz, /metrics: appliance/conn.c answers
 *     them) are not in the table and api_handle() does not know them;
 *   - on the paths of the API's operations, every method the spec does not
 *     list is 405, so the compiled table has no method the text lacks there.
 * The table is read from the source, as tests/integration/daemon_openapi.sh
 * does, since api.h does not list it; the probes through api_handle() tie that
 * text to the compiled table. */
static void test_spec_routes_answer(void **state)
{
    (void)state;
    static struct route_id spec[ROUTES_MAX], table[ROUTES_MAX];
    int nspec = spec_operations("docs/openapi.yaml", spec);
    if (nspec < 0)
        skip();
    int ntable = table_routes("appliance/api.c", table);
    if (ntable < 0)
        skip();
    if (ntable == 0)
        fail_msg("appliance/api.c: routes[] holds no {HTTP_VERB_..., \"/...\"} entry");
    char filled[256];
    int api_ops = 0;
    for (int i = 0; i < nspec; i++) {
        const struct route_id *op = &spec[i];
        if (route_lookup(spec, i, op->method, op->path))
            fail_msg("docs/openapi.yaml lists %s %s twice", op->method, op->path);
        bool in_table = route_lookup(table, ntable, op->method, op->path) != NULL;
        fill_path(op->path, filled, sizeof filled);
        if (strcmp(op->served_by, "front-end") == 0) {
            if (in_table)
                fail_msg("%s %s is marked x-served-by: front-end but is in appliance/api.c's table",
                         op->method, op->path);
            struct answer a = send_req(&everything, verb_of(op->method), filled, NULL, NULL);
            if (a.status != 404 || json_object_get(json_object_get(a.j, "error"), "field"))
                fail_msg("%s %s (front end): api_handle() knows it: %s", op->method, op->path,
                         a.text);
            answer_free(&a);
            continue;
        }
        if (strcmp(op->served_by, "api") != 0)
            fail_msg("%s %s: x-served-by '%s' is neither api nor front-end", op->method, op->path,
                     op->served_by);
        api_ops++;
        if (!in_table)
            fail_msg("%s %s is in docs/openapi.yaml but not in appliance/api.c's route table",
                     op->method, op->path);
        enum http_verb verb = verb_of(op->method);
        if (verb == HTTP_VERB_OTHER)
            fail_msg("%s %s: the front end parses no such method", op->method, op->path);
        struct answer a =
            send_req(&everything, verb, filled, verb == HTTP_VERB_POST ? "{}" : NULL, "spec check");
        json_t *e = json_object_get(a.j, "error");
        bool no_route = a.status == 404 && !json_object_get(e, "field");
        if (no_route || a.status == 405)
            fail_msg("%s %s: %s", op->method, op->path, a.text);
        answer_free(&a);
    }
    for (int i = 0; i < ntable; i++) {
        const struct route_id *rt = &table[i];
        if (route_lookup(table, i, rt->method, rt->path))
            fail_msg("appliance/api.c's route table lists %s %s twice", rt->method, rt->path);
        const struct route_id *op = route_lookup(spec, nspec, rt->method, rt->path);
        if (!op || strcmp(op->served_by, "api") != 0)
            fail_msg(
                "%s %s is served (appliance/api.c) but is no API operation of docs/openapi.yaml",
                rt->method, rt->path);
    }
    assert_int_equal(api_ops, ntable);

    static const char *const other[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
    for (int i = 0; i < nspec; i++) {
        if (strcmp(spec[i].served_by, "api") != 0)
            continue;
        fill_path(spec[i].path, filled, sizeof filled);
        for (size_t m = 0; m < sizeof other / sizeof *other; m++) {
            if (route_lookup(spec, nspec, other[m], spec[i].path))
                continue;
            enum http_verb verb = verb_of(other[m]);
            bool with_body = verb == HTTP_VERB_POST || verb == HTTP_VERB_PUT;
            struct answer a =
                send_req(&everything, verb, filled, with_body ? "{}" : NULL, "spec check");
            if (a.status != 405)
                fail_msg("%s %s (not in the spec): %s", other[m], spec[i].path, a.text);
            answer_free(&a);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_text),
        cmocka_unit_test(test_verify_claims),
        cmocka_unit_test(test_verify_year_only),
        cmocka_unit_test(test_verify_refusals),
        cmocka_unit_test(test_deceased),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_purpose),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_corrections_and_history),
        cmocka_unit_test(test_births_and_due),
        cmocka_unit_test(test_adjudication),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_spec_routes_answer),
    };
    return cmocka_run_group_tests_name("api", tests, setup, teardown);
}
