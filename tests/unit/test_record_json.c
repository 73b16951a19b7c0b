/*
 * tests/unit/test_record_json.c - the record's JSON codec and what it leans on.
 *
 * Covers person_from_json() / person_to_json() (round trips, every class of
 * error with the JSON path it names, strict and lenient members, year-only
 * dates, null as absent, timestamps), biometrics_from_json() /
 * biometrics_to_json(), the ISO/IEC 19794-2 template check on hand-made
 * records and on the real templates of the shared folder, the date helpers
 * and the enum names.  The real templates are found under
 * $HUDUMA_TEST_SHARED/data/fingerprints; those tests are skipped when the
 * variable is unset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "storage/iso19794.h"
#include "storage/storage.h"

/* ---- helpers ------------------------------------------------------------------- */

/* Loads JSON written with ' for " (test texts have no apostrophes). */
static json_t *jload(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *c = s; *c; c++) {
        *c = *c == '\'' ? '"' : *c;
    }
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (j == NULL) {
        fail_msg("bad test JSON %s: %s", s, e.text);
    }
    free(s);
    return j;
}

static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * len, unit, len);
    }
    s[len * n] = '\0';
    return s;
}

static char *b64(const uint8_t *data, size_t n)
{
    char *s = malloc((n + 2) / 3 * 4 + 1);
    assert_non_null(s);
    EVP_EncodeBlock((unsigned char *)s, data, (int)n);
    return s;
}

static int decode(const json_t *j, bool strict, struct person *p, struct st_err *err)
{
    memset(err, 0x55, sizeof *err);
    return person_from_json(j, strict, p, err);
}

static void expect_invalid(const json_t *j, bool strict, const char *field, const char *msg)
{
    static struct person p;
    struct st_err err;
    int rc = decode(j, strict, &p, &err);
    if (rc != ST_INVALID) {
        char *text = json_dumps(j, JSON_COMPACT);
        fail_msg("accepted %s (strict %d), expected %s: %s", text, strict, field, msg);
    }
    assert_string_equal(err.field, field);
    if (strstr(err.msg, msg) == NULL) {
        fail_msg("field %s: message '%s' lacks '%s'", field, err.msg, msg);
    }
}

static void expect_ok(const json_t *j, bool strict, struct person *p)
{
    struct st_err err;
    int rc = decode(j, strict, p, &err);
    if (rc != ST_OK) {
        fail_msg("refused (strict %d): %s: %s", strict, err.field, err.msg);
    }
}

/* ---- hand-made ISO/IEC 19794-2 records ----------------------------------------- */

#define T_WIDTH  300
#define T_HEIGHT 400

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, unsigned long v)
{
    put16(p, (unsigned)(v >> 16));
    put16(p + 2, (unsigned)(v & 0xffff));
}

/* A valid one-view record with n minutiae; returns its length (buf: 24+4+6n+2). */
static size_t make_template(uint8_t *buf, unsigned n)
{
    memcpy(buf, "FMR\0 20\0", 8);
    put16(buf + 12, 0);
    put16(buf + 14, T_WIDTH);
    put16(buf + 16, T_HEIGHT);
    put16(buf + 18, 197);
    put16(buf + 20, 197);
    buf[22] = 1;
    buf[23] = 0;
    uint8_t *v = buf + 24;
    v[0] = 2;
    v[1] = 0;
    v[2] = 60;
    v[3] = (uint8_t)n;
    uint8_t *m = v + 4;
    for (unsigned i = 0; i < n; i++, m += 6) {
        put16(m, (i % 2 ? 0x8000u : 0x4000u) | (10 + i));
        put16(m + 2, 20 + 3 * i);
        m[4] = (uint8_t)(i * 7);
        m[5] = 50;
    }
    put16(m, 0);
    size_t len = (size_t)(m + 2 - buf);
    put32(buf + 8, len);
    return len;
}

static void expect_iso_bad(const uint8_t *buf, size_t len, const char *why_part)
{
    char why[200];
    assert_int_equal(iso19794_2_check(buf, len, why, sizeof why), -1);
    if (strstr(why, why_part) == NULL) {
        fail_msg("reason '%s' lacks '%s'", why, why_part);
    }
}

/* ---- a full person ------------------------------------------------------------- */

static void fill_documents(struct person *p)
{
    p->ndocs = PERSON_MAX_DOCS;
    for (int i = 0; i < PERSON_MAX_DOCS; i++) {
        struct id_document *d = &p->docs[i];
        d->type = (enum doc_type)(i % (DOC_TYPE_COUNT - 1) + 1);
        snprintf(d->number, sizeof d->number, "A-%d/2020", 1000 + i);
        if (i % 3 != 0) {
            snprintf(d->issuer, sizeof d->issuer, "Issuer %d, Nairobi", i);
        }
        d->issued = (struct date){(int16_t)(2008 + i), 5, 2};
        if (i % 2 == 0) {
            d->expires = (struct date){(int16_t)(2032 + i), 2, 29 - (i % 4 != 0)};
        }
    }
}

static void fill_person(struct person *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->hn, "123456789012");
    p->version = 7;
    strcpy(p->surname, "Otieno");
    strcpy(p->first_name, "Akinyi");
    strcpy(p->other_names, "Grace Wanj\xc4\xa9k\xc5\xa9");
    p->sex = SEX_FEMALE;
    p->dob = (struct date){1990, 4, 12};
    strcpy(p->birth_county, "042");
    strcpy(p->birth_country, "UG");
    p->citizenship = CIT_FOREIGN;
    strcpy(p->nationality, "UG");
    strcpy(p->res_county, "047");
    strcpy(p->res_sub_county, "Westlands");
    strcpy(p->res_ward, "Parklands");
    strcpy(p->res_village, "Highridge");
    p->marital = MARITAL_WIDOWED;
    strcpy(p->phone, "+254712345678");
    strcpy(p->email, "akinyi@example.ke");
    strcpy(p->mother_hn, "210987654321");
    strcpy(p->father_hn, "111111111116");
    fill_documents(p);
    p->status = STATUS_DECEASED;
    p->bio_status = BIO_EXEMPT;
    strcpy(p->bio_exemption, "no fingers since an accident in 2015");
    p->death_date = (struct date){2025, 1, 2};
    strcpy(p->death_certificate, "DC/2025-0001");
    strcpy(p->enrolment.id, "KIT0042-000001");
    strcpy(p->enrolment.officer, "OFF-1187");
    strcpy(p->enrolment.centre, "KIT0042");
    p->enrolment.captured_at = 1795684364;
    p->updated_at = 1795684400;
}

static void assert_date_equal(const struct date *a, const struct date *b)
{
    assert_int_equal(a->year, b->year);
    assert_int_equal(a->month, b->month);
    assert_int_equal(a->day, b->day);
}

static void assert_docs_equal(const struct person *a, const struct person *b)
{
    assert_int_equal(a->ndocs, b->ndocs);
    for (int i = 0; i < a->ndocs; i++) {
        assert_int_equal(a->docs[i].type, b->docs[i].type);
        assert_string_equal(a->docs[i].number, b->docs[i].number);
        assert_string_equal(a->docs[i].issuer, b->docs[i].issuer);
        assert_date_equal(&a->docs[i].issued, &b->docs[i].issued);
        assert_date_equal(&a->docs[i].expires, &b->docs[i].expires);
    }
}

static void assert_person_equal(const struct person *a, const struct person *b)
{
    assert_string_equal(a->hn, b->hn);
    assert_int_equal(a->version, b->version);
    assert_string_equal(a->surname, b->surname);
    assert_string_equal(a->first_name, b->first_name);
    assert_string_equal(a->other_names, b->other_names);
    assert_int_equal(a->sex, b->sex);
    assert_date_equal(&a->dob, &b->dob);
    assert_int_equal(a->dob_year_only, b->dob_year_only);
    assert_string_equal(a->birth_county, b->birth_county);
    assert_string_equal(a->birth_country, b->birth_country);
    assert_int_equal(a->citizenship, b->citizenship);
    assert_string_equal(a->nationality, b->nationality);
    assert_string_equal(a->res_county, b->res_county);
    assert_string_equal(a->res_sub_county, b->res_sub_county);
    assert_string_equal(a->res_ward, b->res_ward);
    assert_string_equal(a->res_village, b->res_village);
    assert_int_equal(a->marital, b->marital);
    assert_string_equal(a->phone, b->phone);
    assert_string_equal(a->email, b->email);
    assert_string_equal(a->mother_hn, b->mother_hn);
    assert_string_equal(a->father_hn, b->father_hn);
    assert_docs_equal(a, b);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->bio_status, b->bio_status);
    assert_string_equal(a->bio_exemption, b->bio_exemption);
    assert_date_equal(&a->death_date, &b->death_date);
    assert_string_equal(a->death_certificate, b->death_certificate);
    assert_string_equal(a->enrolment.id, b->enrolment.id);
    assert_string_equal(a->enrolment.officer, b->enrolment.officer);
    assert_string_equal(a->enrolment.centre, b->enrolment.centre);
    assert_int_equal(a->enrolment.captured_at, b->enrolment.captured_at);
    assert_int_equal(a->updated_at, b->updated_at);
}

/* ---- round trips ----------------------------------------------------------------- */

static void test_round_trip_full(void **state)
{
    (void)state;
    static struct person p, q, r;
    fill_person(&p);
    json_t *j = person_to_json(&p);
    assert_non_null(j);
    assert_null(json_object_get(j, "v"));
    assert_null(json_object_get(j, "biometrics"));
    assert_string_equal(json_string_value(json_object_get(j, "date_of_birth")), "1990-04-12");
    assert_string_equal(json_string_value(json_object_get(j, "updated_at")),
                        "2026-11-26T09:13:20Z");
    json_t *enr = json_object_get(j, "enrolment");
    assert_string_equal(json_string_value(json_object_get(enr, "captured_at")),
                        "2026-11-26T09:12:44Z");
    json_t *res = json_object_get(j, "residence");
    assert_string_equal(json_string_value(json_object_get(res, "county")), "047");
    assert_int_equal(json_array_size(json_object_get(j, "documents")), PERSON_MAX_DOCS);
    expect_ok(j, true, &q);
    assert_person_equal(&p, &q);

    char *text = json_dumps(j, JSON_COMPACT);
    json_t *again = json_loads(text, 0, NULL);
    assert_non_null(again);
    expect_ok(again, true, &r);
    assert_person_equal(&p, &r);
    free(text);
    json_decref(again);
    json_decref(j);
}

static const char example[] =
    "{'enrolment': {'id': 'KIT0042-000001', 'officer': 'OFF-1187', 'centre': 'KIT0042',"
    "               'captured_at': '2026-11-26T09:12:44Z'},"
    " 'surname': 'Otieno', 'first_name': 'Akinyi', 'other_names': 'Grace',"
    " 'sex': 'female', 'date_of_birth': '1990-04-12',"
    " 'place_of_birth': {'county': '042'},"
    " 'citizenship': {'type': 'birth'},"
    " 'residence': {'county': '047', 'sub_county': 'Westlands', 'ward': 'Parklands',"
    "               'village': 'Highridge'},"
    " 'marital_status': 'married', 'phone': '+254712345678', 'email': 'akinyi@example.ke',"
    " 'documents': [{'type': 'national_id', 'number': '23456789', 'issuer': 'NRB',"
    "                'issued': '2008-05-02'}]}";

static void test_round_trip_example(void **state)
{
    (void)state;
    static struct person p, q;
    json_t *j = jload(example);
    uint8_t t[128];
    char *tb = b64(t, make_template(t, 12));
    json_object_set_new(
        j, "biometrics",
        json_pack("{s:[{s:i,s:s}]}", "fingerprints", "position", 2, "template", tb));
    expect_ok(j, true, &p);
    assert_string_equal(p.surname, "Otieno");
    assert_int_equal(p.sex, SEX_FEMALE);
    assert_int_equal(p.citizenship, CIT_KENYAN_BIRTH);
    assert_int_equal(p.marital, MARITAL_MARRIED);
    assert_int_equal(p.status, STATUS_ACTIVE);
    assert_int_equal(p.ndocs, 1);
    assert_int_equal(p.docs[0].type, DOC_NATIONAL_ID);
    assert_int_equal(p.enrolment.captured_at, 1795684364);
    json_t *out = person_to_json(&p);
    assert_null(json_object_get(out, "biometrics"));
    assert_null(json_object_get(out, "huduma_number"));
    assert_string_equal(json_string_value(json_object_get(out, "status")), "active");
    expect_ok(out, true, &q);
    assert_person_equal(&p, &q);
    json_decref(out);
    json_decref(j);
    free(tb);
}

static void test_empty_person(void **state)
{
    (void)state;
    static struct person p, q;
    memset(&p, 0, sizeof p);
    json_t *j = person_to_json(&p);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1); /* status: active is never unset */
    assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
    expect_ok(j, true, &q);
    assert_person_equal(&p, &q);
    json_decref(j);
}

static void test_encode_refuses_garbage(void **state)
{
    (void)state;
    static struct person p;
    fill_person(&p);
    p.sex = (enum sex)99;
    assert_null(person_to_json(&p));
    fill_person(&p);
    p.ndocs = PERSON_MAX_DOCS + 1;
    assert_null(person_to_json(&p));
    fill_person(&p);
    memset(p.surname, 'a', sizeof p.surname); /* no terminator */
    assert_null(person_to_json(&p));
    fill_person(&p);
    strcpy(p.first_name, "\xff\xfe");
    assert_null(person_to_json(&p));
    fill_person(&p);
    p.updated_at = INT64_MAX;
    assert_null(person_to_json(&p));
}

/* ---- errors ---------------------------------------------------------------------- */

struct bad_case {
    const char *json;
    const char *field;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {"[]", "", "expected an object"},
    {"'Otieno'", "", "expected an object"},
    {"{'surname': 5}", "surname", "expected a string"},
    {"{'surname': ''}", "surname", "must not be empty"},
    {"{'first_name': 'Ak\\u0007inyi'}", "first_name", "must not contain control characters"},
    {"{'first_name': 'A\\u0000B'}", "first_name", "must not contain control characters"},
    {"{'other_names': 'Grace\\u0085'}", "other_names", "must not contain control characters"},
    {"{'other_names': 'Grace\\n'}", "other_names", "must not contain control characters"},
    {"{'sex': 'femal'}", "sex", "unknown value 'femal': expected female, male or intersex"},
    {"{'sex': 1}", "sex", "expected a string"},
    {"{'date_of_birth': '2023-02-29'}", "date_of_birth", "2023-02-29 is not a date"},
    {"{'date_of_birth': '2024-13-01'}", "date_of_birth", "2024-13-01 is not a date"},
    {"{'date_of_birth': '1900-02-29'}", "date_of_birth", "1900-02-29 is not a date"},
    {"{'date_of_birth': '2024-04-31'}", "date_of_birth", "2024-04-31 is not a date"},
    {"{'date_of_birth': '1799'}", "date_of_birth", "1799 is not a date"},
    {"{'date_of_birth': '12/04/1990'}", "date_of_birth", "expected a date YYYY-MM-DD or YYYY"},
    {"{'date_of_birth': '1990-4-12'}", "date_of_birth", "expected a date"},
    {"{'date_of_birth': 1990}", "date_of_birth", "expected a string"},
    {"{'place_of_birth': 'Kisumu'}", "place_of_birth", "expected an object"},
    {"{'place_of_birth': {'county': '42'}}", "place_of_birth.county", "3 digits"},
    {"{'place_of_birth': {'country': 'ug'}}", "place_of_birth.country", "alpha-2"},
    {"{'citizenship': {'type': 'naturalised'}}", "citizenship.type",
     "unknown value 'naturalised': expected birth, registration or foreign"},
    {"{'citizenship': {'type': 'foreign', 'nationality': 'UGA'}}", "citizenship.nationality",
     "alpha-2"},
    {"{'residence': {'county': 47}}", "residence.county", "expected a string"},
    {"{'residence': {'county': '047', 'ward': ['Parklands']}}", "residence.ward",
     "expected a string"},
    {"{'marital_status': 'single'}", "marital_status",
     "unknown value 'single': expected never_married, married, divorced, separated or widowed"},
    {"{'phone': '0712345678'}", "phone", "E.164"},
    {"{'phone': '+2547123'}", "phone", "E.164"},
    {"{'phone': '+2547123456789012'}", "phone", "E.164"},
    {"{'phone': '+254 712 345678'}", "phone", "E.164"},
    {"{'email': 'akinyi.example.ke'}", "email", "exactly one @"},
    {"{'email': 'a@b@c'}", "email", "exactly one @"},
    {"{'email': '@example.ke'}", "email", "before and after the @"},
    {"{'email': 'akinyi@'}", "email", "before and after the @"},
    {"{'email': 'a b@c.ke'}", "email", "must not contain spaces"},
    {"{'email': 'a@'}", "email", "3-128 bytes"},
    {"{'parents': {'mother': '12345'}}", "parents.mother", "must be 12 digits"},
    {"{'parents': {'father': '12345678901X'}}", "parents.father", "must be 12 digits"},
    {"{'parents': {'mother_enrolment': ''}}", "parents.mother_enrolment", "must not be empty"},
    {"{'documents': {}}", "documents", "expected an array"},
    {"{'documents': ['A1']}", "documents[0]", "expected an object"},
    {"{'documents': [{'type': 'passport', 'number': 'A1'},"
     "               {'type': 'passport', 'number': 'AB 12'}]}",
     "documents[1].number", "may contain only letters, digits, - and /"},
    {"{'documents': [{'type': 'visa', 'number': 'A1'}]}", "documents[0].type",
     "unknown value 'visa': expected birth_certificate, national_id, passport"},
    {"{'documents': [{'number': 'A1'}]}", "documents[0].type", "is required"},
    {"{'documents': [{'type': 'passport'}]}", "documents[0].number", "is required"},
    {"{'documents': [{'type': 'passport', 'number': ''}]}", "documents[0].number",
     "must not be empty"},
    {"{'documents': [{'type': 'passport', 'number': '123456789012345678901234567890123'}]}",
     "documents[0].number", "must be at most 32 bytes"},
    {"{'documents': [{'type': 'passport', 'number': 'A1', 'issued': '2021-02-30'}]}",
     "documents[0].issued", "2021-02-30 is not a date"},
    {"{'documents': [{'type': 'passport', 'number': 'A1', 'expires': '2030'}]}",
     "documents[0].expires", "expected a date YYYY-MM-DD"},
    {"{'version': -1}", "version", "must be an integer from 0 to 4294967295"},
    {"{'version': 4294967296}", "version", "must be an integer from 0 to 4294967295"},
    {"{'version': 1.5}", "version", "expected an integer"},
    {"{'version': '1'}", "version", "expected an integer"},
    {"{'huduma_number': '12345678901X'}", "huduma_number", "must be 12 digits"},
    {"{'huduma_number': '1234567890123'}", "huduma_number", "must be 12 digits"},
    {"{'status': 'alive'}", "status",
     "unknown value 'alive': expected active, pending_adjudication, deceased or revoked"},
    {"{'biometric_status': 'none'}", "biometric_status",
     "unknown value 'none': expected captured, exempt_under_6, exempt or due"},
    {"{'biometric_exemption': ''}", "biometric_exemption", "must not be empty"},
    {"{'death': {'date': '2025-02-29'}}", "death.date", "2025-02-29 is not a date"},
    {"{'death': {'certificate': 'DC 1'}}", "death.certificate", "letters, digits"},
    {"{'enrolment': {'captured_at': '2026-11-26 09:12:44'}}", "enrolment.captured_at",
     "expected a time YYYY-MM-DDTHH:MM:SSZ"},
    {"{'enrolment': {'captured_at': '2026-11-26T24:00:00Z'}}", "enrolment.captured_at",
     "2026-11-26T24:00:00Z is not a time"},
    {"{'enrolment': {'captured_at': '2026-11-26T23:59:60Z'}}", "enrolment.captured_at",
     "is not a time"},
    {"{'enrolment': {'captured_at': '2023-02-29T10:00:00Z'}}", "enrolment.captured_at",
     "is not a time"},
    {"{'enrolment': {'id': ''}}", "enrolment.id", "must not be empty"},
    {"{'enrolment': 'KIT0042-000001'}", "enrolment", "expected an object"},
    {"{'updated_at': 1795684364}", "updated_at", "expected a string"},
    {"{'biometrics': []}", "biometrics", "expected an object"},
    {"{'biometrics': {'dna': 'ACGT'}}", "biometrics.dna", "unknown member"},
    {"{'biometrics': {'fingerprints': {}}}", "biometrics.fingerprints", "expected an array"},
    {"{'biometrics': {'fingerprints': [{'position': 11, 'template': 'AAAA'}]}}",
     "biometrics.fingerprints[0].position", "from 1 to 10"},
    {"{'biometrics': {'fingerprints': [{'position': 0, 'template': 'AAAA'}]}}",
     "biometrics.fingerprints[0].position", "from 1 to 10"},
    {"{'biometrics': {'fingerprints': [{'position': '2', 'template': 'AAAA'}]}}",
     "biometrics.fingerprints[0].position", "expected an integer"},
    {"{'biometrics': {'fingerprints': [{'template': 'AAAA'}]}}",
     "biometrics.fingerprints[0].position", "is required"},
    {"{'biometrics': {'fingerprints': [{'position': 1}]}}", "biometrics.fingerprints[0].template",
     "is required"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': 'not base64!'}]}}",
     "biometrics.fingerprints[0].template", "is not valid base64"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': 'QUJD='}]}}",
     "biometrics.fingerprints[0].template", "is not valid base64"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': 'QU=D'}]}}",
     "biometrics.fingerprints[0].template", "is not valid base64"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': ''}]}}",
     "biometrics.fingerprints[0].template", "must not be empty"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': 'AAAA'}]}}",
     "biometrics.fingerprints[0].template",
     "is not an ISO/IEC 19794-2 record: truncated: format id needs 4 bytes at offset 0, 3 left"},
    {"{'biometrics': {'fingerprints': [{'position': 1, 'template': 'AAAA', 'finger': 'x'}]}}",
     "biometrics.fingerprints[0].finger", "unknown member"},
    {"{'biometrics': {'face': {'model': 'arc-v2', 'embedding': 'AADAfw=='}}}",
     "biometrics.face.embedding", "value 0 is not a finite number"},
    {"{'biometrics': {'face': {'model': 'arc-v2', 'embedding': 'AACAPwAAgH8='}}}",
     "biometrics.face.embedding", "value 1 is not a finite number"},
    {"{'biometrics': {'face': {'model': 'arc-v2', 'embedding': 'AACAPwAA'}}}",
     "biometrics.face.embedding", "whole float32 values"},
    {"{'biometrics': {'face': {'model': 'arc-v2'}}}", "biometrics.face.embedding", "is required"},
    {"{'biometrics': {'face': {'model': '', 'embedding': 'AACAPw=='}}}", "biometrics.face.model",
     "must be 1-64 bytes"},
    {"{'biometrics': {'face': {'model': 'arc v2', 'embedding': 'AACAPw=='}}}",
     "biometrics.face.model", "printable ASCII"},
    {"{'biometrics': {'face': {'model': 'm', 'embedding': 'AACAPw==', 'iris': 1}}}",
     "biometrics.face.iris", "unknown member"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        json_t *j = jload(bad_cases[i].json);
        expect_invalid(j, true, bad_cases[i].field, bad_cases[i].msg);
        expect_invalid(j, false, bad_cases[i].field, bad_cases[i].msg);
        json_decref(j);
    }
}

static void test_error_zeroes_person(void **state)
{
    (void)state;
    static struct person p;
    struct st_err err;
    memset(&p, 0x7a, sizeof p);
    json_t *j = jload("{'surname': 'Otieno', 'sex': 'femal'}");
    assert_int_equal(person_from_json(j, true, &p, &err), ST_INVALID);
    assert_string_equal(p.surname, "");
    assert_int_equal(p.sex, SEX_UNSET);
    assert_int_equal(person_from_json(j, true, &p, NULL), ST_INVALID);
    assert_int_equal(person_from_json(NULL, true, &p, &err), ST_INVALID);
    assert_string_equal(err.msg, "expected an object");
    json_decref(j);
}

/* A record from fmt (JSON with ' for ", one %s) holding n repetitions of unit. */
static void expect_length(const char *fmt, const char *unit, size_t n, bool ok, const char *field,
                          const char *msg)
{
    static struct person p;
    char *s = repeat(unit, n);
    char *text = malloc(strlen(fmt) + strlen(s) + 1);
    assert_non_null(text);
    sprintf(text, fmt, s);
    json_t *j = jload(text);
    if (ok) {
        expect_ok(j, true, &p);
    } else {
        expect_invalid(j, true, field, msg);
    }
    json_decref(j);
    free(text);
    free(s);
}

static void test_lengths(void **state)
{
    (void)state;
    const char *e_acute = "\xc3\xa9";
    expect_length("{'surname': '%s'}", "a", 64, true, NULL, NULL);
    expect_length("{'surname': '%s'}", "a", 65, false, "surname", "must be at most 64 bytes");
    /* byte lengths, not characters: 33 two-byte letters are 66 bytes */
    expect_length("{'surname': '%s'}", e_acute, 32, true, NULL, NULL);
    expect_length("{'surname': '%s'}", e_acute, 33, false, "surname", "must be at most 64 bytes");
    expect_length("{'residence': {'county': '047', 'ward': '%s'}}", "w", 65, false,
                  "residence.ward", "must be at most 64 bytes");
    expect_length("{'documents': [{'type': 'nhif', 'number': 'N1', 'issuer': '%s'}]}", "i", 129,
                  false, "documents[0].issuer", "must be at most 128 bytes");
    expect_length("{'enrolment': {'officer': '%s'}}", "o", 65, false, "enrolment.officer",
                  "must be at most 64 bytes");
    expect_length("{'biometric_exemption': '%s'}", "x", 128, true, NULL, NULL);
    expect_length("{'biometric_exemption': '%s'}", "x", 129, false, "biometric_exemption",
                  "must be at most 128 bytes");
    expect_length("{'parents': {'mother_enrolment': '%s'}}", "m", 65, false,
                  "parents.mother_enrolment", "must be at most 64 bytes");
    expect_length("{'email': 'a@%s'}", "b", 126, true, NULL, NULL);
    expect_length("{'email': 'a@%s'}", "b", 127, false, "email", "3-128 bytes");
    expect_length("{'documents': [%s{'type': 'nhif', 'number': 'N1'}]}",
                  "{'type': 'nssf', 'number': 'S1'},", PERSON_MAX_DOCS - 1, true, NULL, NULL);
    expect_length("{'documents': [%s{'type': 'nhif', 'number': 'N1'}]}",
                  "{'type': 'nssf', 'number': 'S1'},", PERSON_MAX_DOCS, false, "documents",
                  "must hold at most 8 documents");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    json_t *j = json_object();
    json_object_set_new(j, "surname", json_string_nocheck("Ot\xc3ieno"));
    expect_invalid(j, true, "surname", "is not valid UTF-8");
    json_object_set_new(j, "surname", json_string_nocheck("\xc0\xaf")); /* overlong '/' */
    expect_invalid(j, true, "surname", "is not valid UTF-8");
    json_object_set_new(j, "surname", json_string_nocheck("\xed\xa0\x80")); /* a surrogate */
    expect_invalid(j, true, "surname", "is not valid UTF-8");
    json_object_set_new(j, "surname", json_string_nocheck("\xf4\x90\x80\x80")); /* > U+10FFFF */
    expect_invalid(j, true, "surname", "is not valid UTF-8");
    json_object_set_new(j, "surname",
                        json_string_nocheck("Wanj\xc4\xa9k\xc5\xa9 \xf0\x9f\x98\x80"));
    static struct person p;
    expect_ok(j, true, &p);
    json_decref(j);
}

/* ---- strict and lenient members, nulls, year-only dates --------------------------- */

static const struct bad_case unknown_cases[] = {
    {"{'surname': 'Otieno', 'dna': 'ACGT'}", "dna", "unknown member"},
    {"{'surname': 'Otieno', 'v': 1}", "v", "unknown member"},
    {"{'surname': 'Otieno', 'residence': {'county': '047', 'gps': [-1.28, 36.82]}}",
     "residence.gps", "unknown member"},
    {"{'surname': 'Otieno', 'documents': [{'type': 'passport', 'number': 'A1', 'colour': 'blue'}]}",
     "documents[0].colour", "unknown member"},
    {"{'surname': 'Otieno', 'enrolment': {'id': 'K-1', 'gps': 'x'}}", "enrolment.gps",
     "unknown member"},
    {"{'surname': 'Otieno', 'place_of_birth': {'county': '042', 'hospital': 'x'}}",
     "place_of_birth.hospital", "unknown member"},
};

static void test_strict_unknown(void **state)
{
    (void)state;
    static struct person p;
    for (size_t i = 0; i < sizeof unknown_cases / sizeof unknown_cases[0]; i++) {
        json_t *j = jload(unknown_cases[i].json);
        expect_invalid(j, true, unknown_cases[i].field, unknown_cases[i].msg);
        expect_ok(j, false, &p);
        assert_string_equal(p.surname, "Otieno");
        json_decref(j);
    }
    json_t *j = jload("{'surname': 'Otieno', 'documents': [{'type': 'passport', 'number': 'A1',"
                      " 'colour': 'blue'}], 'residence': {'county': '047', 'gps': 1}}");
    expect_ok(j, false, &p);
    assert_int_equal(p.ndocs, 1);
    assert_string_equal(p.docs[0].number, "A1");
    assert_string_equal(p.res_county, "047");
    json_decref(j);
}

static void test_output_members_and_refs(void **state)
{
    (void)state;
    static struct person p;
    json_t *j = jload("{'huduma_number': '123456789012', 'version': 3, 'status': 'revoked',"
                      " 'biometric_status': 'due', 'death': {'date': '2025-01-02',"
                      " 'certificate': 'DC-1'}, 'updated_at': '1970-01-01T00:00:01Z',"
                      " 'parents': {'mother_enrolment': 'KIT0042-000001'}}");
    expect_ok(j, true, &p);
    assert_string_equal(p.hn, "123456789012");
    assert_int_equal(p.version, 3);
    assert_int_equal(p.status, STATUS_REVOKED);
    assert_int_equal(p.bio_status, BIO_DUE);
    assert_int_equal(p.death_date.year, 2025);
    assert_string_equal(p.death_certificate, "DC-1");
    assert_int_equal(p.updated_at, 1);
    assert_string_equal(p.mother_hn, "");
    json_decref(j);
}

static void test_null_is_absent(void **state)
{
    (void)state;
    static struct person p;
    json_t *j = jload("{'surname': null, 'sex': null, 'date_of_birth': null, 'residence': null,"
                      " 'place_of_birth': {'county': null, 'country': 'UG'}, 'documents': null,"
                      " 'version': null, 'biometrics': null, 'enrolment': {'captured_at': null},"
                      " 'first_name': 'Akinyi', 'phone': null}");
    expect_ok(j, true, &p);
    assert_string_equal(p.surname, "");
    assert_int_equal(p.sex, SEX_UNSET);
    assert_false(date_is_set(&p.dob));
    assert_string_equal(p.birth_country, "UG");
    assert_string_equal(p.first_name, "Akinyi");
    assert_int_equal(p.ndocs, 0);
    json_decref(j);
    j = jload("{'biometrics': {'fingerprints': null, 'face': null}}");
    expect_ok(j, true, &p);
    json_decref(j);
}

static void test_year_only(void **state)
{
    (void)state;
    static struct person p, q;
    json_t *j = jload("{'date_of_birth': '1957'}");
    expect_ok(j, true, &p);
    assert_int_equal(p.dob.year, 1957);
    assert_int_equal(p.dob.month, 0);
    assert_int_equal(p.dob.day, 0);
    assert_true(p.dob_year_only);
    json_t *out = person_to_json(&p);
    assert_string_equal(json_string_value(json_object_get(out, "date_of_birth")), "1957");
    expect_ok(out, true, &q);
    assert_person_equal(&p, &q);
    json_decref(out);
    json_decref(j);
    j = jload("{'date_of_birth': '2024-02-29'}");
    expect_ok(j, true, &p);
    assert_false(p.dob_year_only);
    assert_int_equal(p.dob.month, 2);
    assert_int_equal(p.dob.day, 29);
    json_decref(j);
    j = jload("{'death': {'date': '2025'}}");
    expect_invalid(j, true, "death.date", "expected a date YYYY-MM-DD");
    json_decref(j);
}

static void test_timestamps(void **state)
{
    (void)state;
    static struct person p, q;
    static const struct {
        const char *text;
        int64_t t;
    } cases[] = {
        {"1970-01-01T00:00:01Z", 1},           {"2026-11-26T09:12:44Z", 1795684364},
        {"1800-01-01T00:00:00Z", -5364662400}, {"9999-12-31T23:59:59Z", 253402300799},
        {"2024-02-29T12:00:00Z", 1709208000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_pack("{s:{s:s}}", "enrolment", "captured_at", cases[i].text);
        expect_ok(j, true, &p);
        assert_int_equal(p.enrolment.captured_at, cases[i].t);
        json_t *out = person_to_json(&p);
        json_t *enr = json_object_get(out, "enrolment");
        assert_string_equal(json_string_value(json_object_get(enr, "captured_at")), cases[i].text);
        expect_ok(out, true, &q);
        assert_int_equal(q.enrolment.captured_at, cases[i].t);
        json_decref(out);
        json_decref(j);
    }
}

/* ---- biometrics ------------------------------------------------------------------- */

static void fill_biometrics(struct biometrics *b)
{
    memset(b, 0, sizeof *b);
    b->nfingers = 3;
    for (int i = 0; i < 3; i++) {
        b->fingers[i].position = (uint8_t)(i * 3 + 1);
        b->fingers[i].len = (uint16_t)make_template(b->fingers[i].data, (unsigned)(5 + 20 * i));
    }
    strcpy(b->face_model, "arcface-r100-v2");
    b->face_dim = 512;
    for (int i = 0; i < 512; i++) {
        b->face[i] = (float)(i - 256) / 77.0f;
    }
}

static void test_biometrics_round_trip(void **state)
{
    (void)state;
    static struct biometrics b, c;
    struct st_err err;
    fill_biometrics(&b);
    json_t *j = biometrics_to_json(&b);
    assert_non_null(j);
    assert_int_equal(biometrics_from_json(j, &c, &err), ST_OK);
    assert_int_equal(c.nfingers, b.nfingers);
    for (int i = 0; i < b.nfingers; i++) {
        assert_int_equal(c.fingers[i].position, b.fingers[i].position);
        assert_int_equal(c.fingers[i].len, b.fingers[i].len);
        assert_memory_equal(c.fingers[i].data, b.fingers[i].data, b.fingers[i].len);
    }
    assert_string_equal(c.face_model, b.face_model);
    assert_int_equal(c.face_dim, b.face_dim);
    assert_memory_equal(c.face, b.face, sizeof(float) * b.face_dim);
    json_decref(j);

    memset(&b, 0, sizeof b);
    j = biometrics_to_json(&b);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    b.nfingers = PERSON_MAX_FINGERS + 1;
    assert_null(biometrics_to_json(&b));
}

static void test_biometrics_limits(void **state)
{
    (void)state;
    static struct biometrics b;
    struct st_err err;
    uint8_t t[TEMPLATE_MAX_LEN + 64];
    char *tb = b64(t, make_template(t, 4));
    json_t *arr = json_array();
    for (int i = 1; i <= PERSON_MAX_FINGERS; i++) {
        json_array_append_new(arr, json_pack("{s:i,s:s}", "position", i, "template", tb));
    }
    json_t *j = json_pack("{s:O}", "fingerprints", arr);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_OK);
    assert_int_equal(b.nfingers, PERSON_MAX_FINGERS);
    json_decref(j);

    json_array_append_new(arr, json_pack("{s:i,s:s}", "position", 1, "template", tb));
    j = json_pack("{s:O}", "fingerprints", arr);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "fingerprints");
    assert_string_equal(err.msg, "must hold at most 10 fingerprints");
    assert_int_equal(b.nfingers, 0);
    json_decref(j);

    json_array_clear(arr);
    json_array_append_new(arr, json_pack("{s:i,s:s}", "position", 4, "template", tb));
    json_array_append_new(arr, json_pack("{s:i,s:s}", "position", 4, "template", tb));
    j = json_pack("{s:O}", "fingerprints", arr);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "fingerprints[1].position");
    json_decref(j);
    json_decref(arr);
    free(tb);

    /* a template over TEMPLATE_MAX_LEN, even a well-formed one, is refused */
    size_t n = make_template(t, 255);
    memset(t + n - 2, 0, 64);
    put16(t + n - 2, 64 - 2 + (unsigned)(TEMPLATE_MAX_LEN - n));
    n = TEMPLATE_MAX_LEN + 1;
    put32(t + 8, n);
    tb = b64(t, n);
    j = json_pack("{s:[{s:i,s:s}]}", "fingerprints", "position", 1, "template", tb);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "fingerprints[0].template");
    assert_string_equal(err.msg, "must decode to at most 4096 bytes");
    json_decref(j);
    free(tb);
}

static void test_face_dimensions(void **state)
{
    (void)state;
    static struct biometrics b;
    static float f[FACE_MAX_DIM + 1];
    struct st_err err;
    for (size_t i = 0; i <= FACE_MAX_DIM; i++) {
        f[i] = 0.5f;
    }
    char *e = b64((const uint8_t *)f, sizeof(float) * FACE_MAX_DIM);
    json_t *j = json_pack("{s:{s:s,s:s}}", "face", "model", "m1", "embedding", e);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_OK);
    assert_int_equal(b.face_dim, FACE_MAX_DIM);
    assert_true(b.face[FACE_MAX_DIM - 1] == 0.5f);
    json_decref(j);
    free(e);
    e = b64((const uint8_t *)f, sizeof(float) * (FACE_MAX_DIM + 1));
    j = json_pack("{s:{s:s,s:s}}", "face", "model", "m1", "embedding", e);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "face.embedding");
    assert_string_equal(err.msg, "must decode to at most 4096 bytes");
    json_decref(j);
    free(e);
    assert_int_equal(biometrics_from_json(NULL, &b, &err), ST_INVALID);
}

/* ---- ISO/IEC 19794-2 ------------------------------------------------------------ */

static void test_iso_handmade(void **state)
{
    (void)state;
    uint8_t t[TEMPLATE_MAX_LEN + 64], u[TEMPLATE_MAX_LEN + 64];
    size_t n = make_template(t, 20);
    char why[200] = "x";
    assert_int_equal(iso19794_2_check(t, n, why, sizeof why), 0);
    assert_string_equal(why, "");
    assert_int_equal(iso19794_2_check(t, n, NULL, 0), 0);

    memcpy(u, t, n);
    u[0] = 'X';
    expect_iso_bad(u, n, "bad format id");
    memcpy(u, t, n);
    u[5] = '3';
    expect_iso_bad(u, n, "bad version");
    expect_iso_bad(t, n - 1, "record length field says 150 bytes but 149 were given");
    memcpy(u, t, n);
    u[n] = 0;
    expect_iso_bad(u, n + 1, "record length field says");
    put32(u + 8, n + 1);
    expect_iso_bad(u, n + 1, "1 trailing bytes after the record's end at offset 150");

    /* minutia 17 of view 1 starts at 24 + 4 + 16 * 6 = 124 */
    memcpy(u, t, n);
    put32(u + 8, 24 + 4 + 16 * 6 + 4);
    expect_iso_bad(u, 24 + 4 + 16 * 6 + 4,
                   "truncated: minutia 17 of view 1 needs 6 bytes at offset 124, 4 left");

    memcpy(u, t, n);
    put16(u + 28 + 6 * 3, 0x4000 | T_WIDTH);
    expect_iso_bad(u, n, "minutia 4 of view 1: x 300 lies outside the image width 300");
    memcpy(u, t, n);
    put16(u + 28 + 6 * 5 + 2, T_HEIGHT + 5);
    expect_iso_bad(u, n, "minutia 6 of view 1: y 405 lies outside the image height 400");
    memcpy(u, t, n);
    u[28] |= 0xc0;
    expect_iso_bad(u, n, "minutia 1 of view 1 has the reserved type");
    memcpy(u, t, n);
    put16(u + 14, 0);
    expect_iso_bad(u, n, "image width is 0");
    memcpy(u, t, n);
    put16(u + 16, 0);
    expect_iso_bad(u, n, "image height is 0");
    memcpy(u, t, n);
    put16(u + 20, 0);
    expect_iso_bad(u, n, "y resolution is 0");
    memcpy(u, t, n);
    u[22] = 0;
    expect_iso_bad(u, n, "no finger views");
    memcpy(u, t, n);
    u[22] = 2;
    /* each view ends with its own extended data block: view 1's runs to 150 */
    expect_iso_bad(u, n, "truncated: the header of view 2 needs 4 bytes at offset 150, 0 left");
    memcpy(u, t, n);
    u[24] = 11;
    expect_iso_bad(u, n, "view 1: finger position 11 is not 0-10");
    memcpy(u, t, n);
    u[26] = 101;
    expect_iso_bad(u, n, "view 1: finger quality 101 is above 100");
    memcpy(u, t, n);
    put16(u + n - 2, 3);
    expect_iso_bad(u, n,
                   "truncated: extended data block of view 1 needs 3 bytes at offset 150, 0 left");
    expect_iso_bad(t, 0, "truncated: format id needs 4 bytes at offset 0, 0 left");
    expect_iso_bad(NULL, 0, "truncated");
    expect_iso_bad(t, TEMPLATE_MAX_LEN + 1, "oversized: 4097 bytes");

    /* a well-formed extended data area (type 1, its length counting its 4-byte header) passes */
    memcpy(u, t, n - 2);
    put16(u + n - 2, 4);
    memcpy(u + n, "\x00\x01\x00\x04", 4);
    put32(u + 8, n + 4);
    assert_int_equal(iso19794_2_check(u, n + 4, why, sizeof why), 0);
    memcpy(u + n, "\x00\x01\x00\x03", 4);
    expect_iso_bad(u, n + 4, "view 1: extended data area at offset 150 has length 3, below 4");
    memcpy(u + n, "\x00\x00\x00\x04", 4);
    expect_iso_bad(u, n + 4, "view 1: extended data area at offset 150 has the reserved type 0");
    /* a second view of the same finger, after the first view's extended data, passes */
    size_t one = make_template(u, 3);
    u[22] = 2;
    memcpy(u + one, u + 24, one - 24); /* repeat the view with its extended data */
    u[one + 1] = 0x10;                 /* view number 1 */
    size_t two = 2 * one - 24;
    put32(u + 8, two);
    assert_int_equal(iso19794_2_check(u, two, why, sizeof why), 0);
    u[one + 1] = 0x00;
    expect_iso_bad(u, two, "view 2 repeats finger position 2 with view number 0");
}

static int check_file(const char *path, char *why, size_t whylen)
{
    uint8_t buf[TEMPLATE_MAX_LEN + 1];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return iso19794_2_check(buf, n, why, whylen);
}

/* Checks every .iso file of dir; returns how many there were. */
static int check_folder(const char *dir, int expect)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fail_msg("cannot open %s", dir);
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".iso") != 0) {
            continue;
        }
        char path[4096], why[200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int rc = check_file(path, why, sizeof why);
        if (rc != expect) {
            fail_msg("%s: %s", path, expect == 0 ? why : "accepted");
        }
        count++;
    }
    closedir(d);
    return count;
}

static const char *shared_templates(void)
{
    static char dir[4096];
    const char *shared = getenv("HUDUMA_TEST_SHARED");
    if (shared == NULL || shared[0] == '\0') {
        return NULL;
    }
    snprintf(dir, sizeof dir, "%s/data/fingerprints", shared);
    return dir;
}

static void test_iso_real_templates(void **state)
{
    (void)state;
    const char *dir = shared_templates();
    if (dir == NULL) {
        skip();
    }
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/fvc2002-db1b", dir);
    assert_int_equal(check_folder(sub, 0), 80);
    snprintf(sub, sizeof sub, "%s/fvc2002-db2b", dir);
    assert_int_equal(check_folder(sub, 0), 80);
    snprintf(sub, sizeof sub, "%s/invalid", dir);
    assert_int_equal(check_folder(sub, -1), 3);
}

static void test_real_template_through_json(void **state)
{
    (void)state;
    const char *dir = shared_templates();
    if (dir == NULL) {
        skip();
    }
    static struct person p;
    static struct biometrics b;
    struct st_err err;
    char path[4200];
    uint8_t buf[TEMPLATE_MAX_LEN];
    snprintf(path, sizeof path, "%s/fvc2002-db1b/101_1.iso", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *tb = b64(buf, n);
    json_t *j = jload(example);
    json_object_set_new(
        j, "biometrics",
        json_pack("{s:[{s:i,s:s}]}", "fingerprints", "position", 2, "template", tb));
    expect_ok(j, true, &p);
    assert_int_equal(biometrics_from_json(json_object_get(j, "biometrics"), &b, &err), ST_OK);
    assert_int_equal(b.fingers[0].len, n);
    assert_memory_equal(b.fingers[0].data, buf, n);
    json_decref(j);
    free(tb);

    snprintf(path, sizeof path, "%s/invalid/101_1_truncate_1_byte.iso", dir);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tb = b64(buf, n);
    j = json_pack("{s:{s:[{s:i,s:s}]}}", "biometrics", "fingerprints", "position", 2, "template",
                  tb);
    expect_invalid(j, false, "biometrics.fingerprints[0].template",
                   "is not an ISO/IEC 19794-2 record: record length field says 30 bytes but 29");
    json_decref(j);
    free(tb);
}

/* ---- dates and names ------------------------------------------------------------ */

static void test_dates(void **state)
{
    (void)state;
    struct date d;
    bool y;
    static const char *const good[] = {"2024-02-29", "2000-02-29", "1800-01-01",
                                       "9999-12-31", "1990-04-30", "1957"};
    static const char *const bad[] = {"2023-02-29", "1900-02-29",  "2024-13-01", "2024-00-10",
                                      "2024-01-00", "2024-04-31",  "1799-12-31", "10000-01-01",
                                      "2024-1-01",  "2024/01/01",  "",           "199",
                                      "19a7",       "2024-01-01T", " 2024-01-01"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(date_parse(good[i], &d, &y), 0);
        char out[11];
        date_format(&d, y, out);
        assert_string_equal(out, good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (date_parse(bad[i], &d, &y) != -1) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
    assert_int_equal(date_parse("1957", &d, NULL), -1);
    assert_int_equal(date_parse(NULL, &d, &y), -1);

    assert_int_equal(date_parse("1957", &d, &y), 0);
    assert_true(y);
    assert_int_equal(d.month, 0);
    struct date a = {2020, 5, 1}, b = {2020, 5, 2}, c = {2021, 1, 1}, z = {0, 0, 0};
    assert_true(date_cmp(&a, &b) < 0);
    assert_true(date_cmp(&b, &a) > 0);
    assert_true(date_cmp(&c, &b) > 0);
    assert_int_equal(date_cmp(&a, &a), 0);
    assert_true(date_is_set(&a));
    assert_false(date_is_set(&z));
    char out[11];
    date_format(&z, false, out);
    assert_string_equal(out, "");
    date_format(&a, true, out);
    assert_string_equal(out, "2020");
}

static void test_enum_names(void **state)
{
    (void)state;
    assert_string_equal(sex_name(SEX_INTERSEX), "intersex");
    assert_null(sex_name(SEX_UNSET));
    assert_null(sex_name((enum sex)42));
    assert_string_equal(citizenship_name(CIT_KENYAN_REGISTRATION), "registration");
    assert_string_equal(marital_name(MARITAL_NEVER_MARRIED), "never_married");
    assert_string_equal(status_name(STATUS_ACTIVE), "active");
    assert_string_equal(status_name(STATUS_PENDING_ADJUDICATION), "pending_adjudication");
    assert_string_equal(bio_status_name(BIO_EXEMPT_UNDER_6), "exempt_under_6");
    assert_null(bio_status_name(BIO_UNSET));
    assert_null(doc_type_name(DOC_UNSET));
    assert_null(doc_type_name(DOC_TYPE_COUNT));
    assert_string_equal(doc_type_name(DOC_DRIVING_LICENCE), "driving_licence");
    for (int t = DOC_UNSET + 1; t < DOC_TYPE_COUNT; t++) {
        assert_non_null(doc_type_name((enum doc_type)t));
        assert_int_equal(doc_type_from_name(doc_type_name((enum doc_type)t)), t);
    }
    assert_int_equal(doc_type_from_name("visa"), DOC_UNSET);
    assert_int_equal(doc_type_from_name(""), DOC_UNSET);
    assert_int_equal(doc_type_from_name(NULL), DOC_UNSET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_round_trip_example),
        cmocka_unit_test(test_empty_person),
        cmocka_unit_test(test_encode_refuses_garbage),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_zeroes_person),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_strict_unknown),
        cmocka_unit_test(test_output_members_and_refs),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_year_only),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_biometrics_round_trip),
        cmocka_unit_test(test_biometrics_limits),
        cmocka_unit_test(test_face_dimensions),
        cmocka_unit_test(test_iso_handmade),
        cmocka_unit_test(test_iso_real_templates),
        cmocka_unit_test(test_real_template_through_json),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
