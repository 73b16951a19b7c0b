/*
 * tests/fuzz/fuzz_record_json.c - libFuzzer target for the record's JSON codec.
 *
 * Parses the input as JSON and decodes it with person_from_json(), strict and
 * lenient.  Every refusal must be ST_INVALID (or ST_NOMEM) with a terminated
 * message; every success must encode, and the encoding must decode strictly
 * to the same struct person.  A "biometrics" member goes through the same
 * round trip with biometrics_from_json() / biometrics_to_json().  Any broken
 * promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

static void check_refusal(int rc, const struct st_err *err)
{
    if (rc != ST_INVALID && rc != ST_NOMEM) {
        abort();
    }
    if (memchr(err->field, '\0', sizeof err->field) == NULL ||
        memchr(err->msg, '\0', sizeof err->msg) == NULL || err->msg[0] == '\0') {
        abort();
    }
}

static void check_person(const json_t *j, bool strict)
{
    static struct person p, q;
    struct st_err err;
    int rc = person_from_json(j, strict, &p, &err);
    if (rc != ST_OK) {
        check_refusal(rc, &err);
        return;
    }
    json_t *enc = person_to_json(&p);
    if (enc == NULL) {
        abort();
    }
    if (person_from_json(enc, true, &q, &err) != ST_OK || memcmp(&p, &q, sizeof p) != 0) {
        abort();
    }
    json_decref(enc);
}

static void check_biometrics(const json_t *j)
{
    static struct biometrics b, c;
    struct st_err err;
    int rc = biometrics_from_json(j, &b, &err);
    if (rc != ST_OK) {
        check_refusal(rc, &err);
        return;
    }
    json_t *enc = biometrics_to_json(&b);
    if (enc == NULL) {
        abort();
    }
    if (biometrics_from_json(enc, &c, &err) != ST_OK || memcmp(&b, &c, sizeof b) != 0) {
        abort();
    }
    json_decref(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j == NULL) {
        return 0;
    }
    check_person(j, true);
    check_person(j, false);
    const json_t *bio = json_object_get(j, "biometrics");
    if (bio != NULL) {
        check_biometrics(bio);
    }
    json_decref(j);
    return 0;
}
