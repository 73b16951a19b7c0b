/*
 * tests/fuzz/fuzz_record_cbor.c - libFuzzer target for the record's form at
 * rest (person_from_cbor).
 *
 * Any input either decodes or is refused as ST_CORRUPT with the record wiped.
 * A record that decodes has a JSON form (what the API serves), and is encoded
 * again, and that encoding must decode to the
 * same record (compared through person_to_json, the record's definition) and
 * encode to the same bytes.  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/record_table.h"
#include "storage/storage.h"

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct person p, q;
    struct st_err err;
    int rc = person_from_cbor(data, size, &p, &err);
    if (rc != ST_OK) {
        if (rc != ST_CORRUPT || !all_zero(&p, sizeof p) ||
            memchr(err.msg, '\0', sizeof err.msg) == NULL) {
            abort();
        }
        return 0;
    }
    uint8_t *once, *twice;
    size_t n1, n2;
    if (person_to_cbor(&p, &once, &n1) != ST_OK) {
        abort();
    }
    if (person_from_cbor(once, n1, &q, &err) != ST_OK || person_to_cbor(&q, &twice, &n2) != ST_OK) {
        abort();
    }
    json_t *a = person_to_json(&p), *b = person_to_json(&q);
    if (a == NULL || b == NULL || !json_equal(a, b) || n1 != n2 || memcmp(once, twice, n1) != 0) {
        abort();
    }
    json_decref(a);
    json_decref(b);
    free(once);
    free(twice);
    return 0;
}
