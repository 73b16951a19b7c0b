/*
 * tests/unit/test_record_cbor.c - the record's form at rest (format 2, CBOR).
 *
 * Covers person_to_cbor() / person_from_cbor(): a record with every member
 * survives the round trip member for member (compared through the JSON codec,
 * which is the record's definition); the encoding is a CBOR map opening with
 * "v": 2 (checked with libcbor's own tree decoder, independently of the
 * streaming reader under test); members a later release may add are skipped;
 * every truncation and every kind of corruption is refused as ST_CORRUPT with
 * the record wiped, and no single flipped byte makes the decoder read out of
 * bounds (AddressSanitizer watches); person_seal() writes format 2 and
 * person_unseal() still reads format 1 (JSON) records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cbor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keys.h"
#include "storage/record_table.h"
#include "storage/storage.h"

/* Every member of docs/record.md that is stored. */
static const char *const full_record =
    "{\"huduma_number\": \"123456789014\", \"version\": 3,"
    " \"surname\": \"Wanjir\xc5\xa9\", \"first_name\": \"Achieng\", \"other_names\": \"Nyambura "
    "Z\","
    " \"sex\": \"female\", \"date_of_birth\": \"1988-07-15\","
    " \"place_of_birth\": {\"country\": \"UG\"},"
    " \"citizenship\": {\"type\": \"registration\", \"nationality\": \"UG\"},"
    " \"residence\": {\"county\": \"047\", \"sub_county\": \"Westlands\", \"ward\": \"Parklands\","
    "   \"village\": \"Highridge\"},"
    " \"marital_status\": \"married\", \"phone\": \"+254722000111\", \"email\": \"a@example.org\","
    " \"parents\": {\"mother\": \"234567890123\", \"father\": \"345678901234\"},"
    " \"documents\": [{\"type\": \"national_id\", \"number\": \"31234567\", \"issuer\": \"NRB\","
    "   \"issued\": \"2006-08-01\"},"
    "  {\"type\": \"passport\", \"number\": \"AK0123456\", \"issued\": \"2019-01-02\","
    "   \"expires\": \"2029-01-01\"}],"
    " \"status\": \"deceased\", \"biometric_status\": \"exempt\","
    " \"biometric_exemption\": \"fingers injured\","
    " \"death\": {\"date\": \"2026-02-03\", \"certificate\": \"DC-2026/0001\"},"
    " \"enrolment\": {\"id\": \"KIT0099-000001\", \"officer\": \"OFF-2001\", \"centre\": "
    "\"KIT0099\","
    "   \"captured_at\": \"2026-01-05T09:00:00Z\"},"
    " \"updated_at\": \"2026-02-04T10:11:12Z\"}";

static void person_of(const char *text, struct person *p)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fail_msg("bad test JSON: %s", je.text);
    }
    struct st_err err;
    memset(p, 0, sizeof *p);
    if (person_from_json(j, false, p, &err) != ST_OK) {
        fail_msg("test record refused: %s: %s", err.field, err.msg);
    }
    json_decref(j);
}

/* The two records are the same record: their JSON forms are equal. */
static void assert_same_record(const struct person *a, const struct person *b)
{
    json_t *ja = person_to_json(a), *jb = person_to_json(b);
    assert_non_null(ja);
    assert_non_null(jb);
    if (!json_equal(ja, jb)) {
        char *sa = json_dumps(ja, JSON_SORT_KEYS), *sb = json_dumps(jb, JSON_SORT_KEYS);
        fail_msg("records differ:\n%s\n%s", sa, sb);
    }
    json_decref(ja);
    json_decref(jb);
}

static void encode(const struct person *p, uint8_t **buf, size_t *len)
{
    assert_int_equal(person_to_cbor(p, buf, len), ST_OK);
    assert_true(*len > 0);
}

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

/* A map {"v": 2, <pairs written by add>} built with libcbor's tree API. */
static void build(void (*add)(cbor_item_t *map), uint8_t **buf, size_t *len)
{
    cbor_item_t *map = cbor_new_indefinite_map();
    assert_true(cbor_map_add(map, (struct cbor_pair){.key = cbor_move(cbor_build_string("v")),
                                                     .value = cbor_move(cbor_build_uint8(2))}));
    add(map);
    size_t size = 0;
    *len = cbor_serialize_alloc(map, buf, &size);
    assert_true(*len > 0);
    cbor_decref(&map);
    assert_int_equal((*buf)[0], 0xbf); /* an indefinite map, ended by 0xff */
}

static void put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    assert_true(cbor_map_add(map, (struct cbor_pair){.key = cbor_move(cbor_build_string(key)),
                                                     .value = cbor_move(value)}));
}

/* ---- round trips -------------------------------------------------------------- */

static void test_every_member_round_trips(void **state)
{
    (void)state;
    struct person p, q;
    person_of(full_record, &p);
    uint8_t *buf;
    size_t len;
    encode(&p, &buf, &len);
    assert_int_equal(person_from_cbor(buf, len, &q, NULL), ST_OK);
    assert_same_record(&p, &q);
    assert_int_equal(q.ndocs, 2);
    assert_int_equal(q.version, 3);
    assert_int_equal(q.enrolment.captured_at, 1767603600);
    free(buf);
}

static void test_year_only_and_minimal_records(void **state)
{
    (void)state;
    struct person p, q;
    person_of("{\"surname\": \"Otieno\", \"first_name\": \"Baraka\", \"sex\": \"male\","
              " \"date_of_birth\": \"1950\", \"updated_at\": \"1969-12-31T23:59:59Z\"}",
              &p);
    assert_true(p.dob_year_only);
    uint8_t *buf;
    size_t len;
    encode(&p, &buf, &len);
    assert_int_equal(person_from_cbor(buf, len, &q, NULL), ST_OK);
    assert_true(q.dob_year_only);
    assert_int_equal(q.dob.year, 1950);
    assert_int_equal(q.updated_at, -1); /* a negative time survives */
    assert_same_record(&p, &q);
    free(buf);

    memset(&p, 0, sizeof p); /* nothing but the enums' first values */
    encode(&p, &buf, &len);
    assert_int_equal(person_from_cbor(buf, len, &q, NULL), ST_OK);
    assert_true(all_zero(&q, sizeof q));
    free(buf);
}

/* The encoding is what record_cbor.c says: checked with libcbor's tree decoder. */
static void test_form_is_a_versioned_definite_map(void **state)
{
    (void)state;
    struct person p;
    person_of(full_record, &p);
    uint8_t *buf;
    size_t len;
    encode(&p, &buf, &len);
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(buf, len, &res);
    assert_non_null(root);
    assert_int_equal(res.read, len);
    assert_true(cbor_isa_map(root) && cbor_map_is_definite(root));
    struct cbor_pair *pairs = cbor_map_handle(root);
    assert_true(cbor_isa_string(pairs[0].key));
    assert_memory_equal(cbor_string_handle(pairs[0].key), "v", 1);
    assert_int_equal(cbor_get_int(pairs[0].value), RECORD_FORMAT_CBOR);
    bool saw_dob = false, saw_docs = false;
    for (size_t i = 1; i < cbor_map_size(root); i++) {
        cbor_item_t *k = pairs[i].key, *v = pairs[i].value;
        size_t kl = cbor_string_length(k);
        if (kl == 13 && memcmp(cbor_string_handle(k), "date_of_birth", 13) == 0) {
            assert_int_equal(cbor_get_int(v), 19880715);
            saw_dob = true;
        }
        if (kl == 9 && memcmp(cbor_string_handle(k), "documents", 9) == 0) {
            assert_true(cbor_isa_array(v));
            assert_int_equal(cbor_array_size(v), 2);
            saw_docs = true;
        }
    }
    assert_true(saw_dob && saw_docs);
    cbor_decref(&root);
    free(buf);
}

/* ---- what a later release may add --------------------------------------------- */

static void add_unknown(cbor_item_t *map)
{
    put(map, "surname", cbor_build_string("Kamau"));
    cbor_item_t *arr = cbor_new_definite_array(2);
    assert_true(cbor_array_push(arr, cbor_move(cbor_build_uint32(70000))));
    cbor_item_t *inner = cbor_new_definite_map(1);
    assert_true(cbor_map_add(inner, (struct cbor_pair){.key = cbor_move(cbor_build_string("a")),
                                                       .value = cbor_move(cbor_build_negint8(4))}));
    assert_true(cbor_array_push(arr, cbor_move(inner)));
    put(map, "future_member", arr);
    put(map, "first_name", cbor_build_string("Njoroge"));
}

static void test_unknown_members_are_skipped(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    build(add_unknown, &buf, &len);
    /* indefinite maps are never written, and refused */
    struct person q;
    assert_int_equal(person_from_cbor(buf, len, &q, NULL), ST_CORRUPT);
    /* the same pairs in a definite map: 0xbf ... 0xff -> 0xa4 ... */
    buf[0] = 0xa4;
    assert_int_equal(buf[len - 1], 0xff);
    assert_int_equal(person_from_cbor(buf, len - 1, &q, NULL), ST_OK);
    assert_string_equal(q.surname, "Kamau");
    assert_string_equal(q.first_name, "Njoroge");
    free(buf);
}

/* ---- refusals ------------------------------------------------------------------ */

struct bad {
    const char *what;
    const uint8_t *bytes;
    size_t len;
};

#define BAD(w, ...)                                                                                \
    {                                                                                              \
        w, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})                  \
    }

static void test_corrupt_forms_are_refused(void **state)
{
    (void)state;
    const struct bad bad[] = {
        BAD("not a map", 0x82, 0x01, 0x02),
        BAD("empty map", 0xa0),
        BAD("first key not v", 0xa1, 0x61, 'w', 0x02),
        BAD("version 1 in CBOR", 0xa1, 0x61, 'v', 0x01),
        BAD("version 3", 0xa1, 0x61, 'v', 0x03),
        BAD("version as text", 0xa1, 0x61, 'v', 0x61, '2'),
        BAD("trailing bytes", 0xa1, 0x61, 'v', 0x02, 0x00),
        BAD("count beyond the bytes", 0xa3, 0x61, 'v', 0x02),
        BAD("integer key", 0xa2, 0x61, 'v', 0x02, 0x01, 0x01),
        BAD("surname as bytes", 0xa2, 0x61, 'v', 0x02, 0x67, 's', 'u', 'r', 'n', 'a', 'm', 'e',
            0x41, 'x'),
        BAD("surname with NUL", 0xa2, 0x61, 'v', 0x02, 0x67, 's', 'u', 'r', 'n', 'a', 'm', 'e',
            0x62, 'a', 0x00),
        BAD("county too long", 0xa2, 0x61, 'v', 0x02, 0x69, 'r', 'e', 's', 'i', 'd', 'e', 'n', 'c',
            'e', 0xa1, 0x66, 'c', 'o', 'u', 'n', 't', 'y', 0x64, '0', '4', '7', '7'),
        BAD("unknown sex", 0xa2, 0x61, 'v', 0x02, 0x63, 's', 'e', 'x', 0x61, 'x'),
        BAD("30 February", 0xa2, 0x61, 'v', 0x02, 0x6d, 'd', 'a', 't', 'e', '_', 'o', 'f', '_', 'b',
            'i', 'r', 't', 'h', 0x1a, 0x01, 0x34, 0xb0, 0x56), /* 20230230 */
        BAD("version beyond 32 bits", 0xa2, 0x61, 'v', 0x02, 0x67, 'v', 'e', 'r', 's', 'i', 'o',
            'n', 0x1b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00),
        BAD("too many documents", 0xa2, 0x61, 'v', 0x02, 0x69, 'd', 'o', 'c', 'u', 'm', 'e', 'n',
            't', 's', 0x98, 0x40),
        BAD("a float", 0xa2, 0x61, 'v', 0x02, 0x61, 'z', 0xf9, 0x3c, 0x00),
        BAD("a tag", 0xa2, 0x61, 'v', 0x02, 0x61, 'z', 0xc1, 0x01),
        BAD("nested too deeply", 0xa2, 0x61, 'v', 0x02, 0x61, 'z', 0x81, 0x81, 0x81, 0x81, 0x81,
            0x81, 0x81, 0x81, 0x81, 0x81, 0x00),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct person q;
        memset(&q, 0x5a, sizeof q);
        struct st_err err = {0};
        int rc = person_from_cbor(bad[i].bytes, bad[i].len, &q, &err);
        if (rc != ST_CORRUPT) {
            fail_msg("%s: decoded (rc %d)", bad[i].what, rc);
        }
        assert_true(strncmp(err.msg, "stored record: ", 15) == 0);
        assert_true(all_zero(&q, sizeof q));
    }
}

static void test_every_truncation_is_refused(void **state)
{
    (void)state;
    struct person p, q;
    person_of(full_record, &p);
    uint8_t *buf;
    size_t len;
    encode(&p, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past them */
        assert_non_null(cut);
        memcpy(cut, buf, n);
        assert_int_equal(person_from_cbor(cut, n, &q, NULL), ST_CORRUPT);
        assert_true(all_zero(&q, sizeof q));
        free(cut);
    }
    free(buf);
}

static void test_flipped_bytes_never_read_out_of_bounds(void **state)
{
    (void)state;
    struct person p, q;
    person_of(full_record, &p);
    uint8_t *buf;
    size_t len;
    encode(&p, &buf, &len);
    size_t decoded = 0, refused = 0;
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            uint8_t *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, buf, len);
            copy[i] ^= masks[m];
            int rc = person_from_cbor(copy, len, &q, NULL);
            assert_true(rc == ST_OK || rc == ST_CORRUPT);
            if (rc == ST_OK) {
                decoded++;
                json_t *j = person_to_json(&q); /* every string is terminated in bounds */
                json_decref(j);
            } else {
                refused++;
                assert_true(all_zero(&q, sizeof q));
            }
            free(copy);
        }
    }
    /* A flip inside a text string's bytes decodes (the AES-GCM tag is what
     * catches those at rest); a flip in the structure is refused. */
    assert_true(decoded > 0);
    assert_true(refused > 0);
    free(buf);
}

/* ---- sealed records -------------------------------------------------------------- */

static struct keyring *test_keyring(void)
{
    uint8_t master[KEYS_MASTER_LEN];
    for (size_t i = 0; i < sizeof master; i++) {
        master[i] = (uint8_t)(i * 7 + 1);
    }
    struct keyring *kr = NULL;
    struct keys_err kerr;
    assert_int_equal(keys_from_master(master, &kr, &kerr), KEYS_OK);
    uint8_t dek[KEYS_DEK_LEN];
    memset(dek, 0x5a, sizeof dek); /* DEKs are random and wrapped in the register; any will do */
    assert_int_equal(keys_add_dek(kr, 1, dek, &kerr), KEYS_OK);
    return kr;
}

static void test_seal_writes_cbor_and_reads_json(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct person p, q;
    person_of(full_record, &p);
    struct st_err err;

    char *sealed;
    size_t slen;
    assert_int_equal(person_seal(kr, &p, p.hn, &sealed, &slen, &err), ST_OK);
    char *plain;
    size_t plen;
    assert_int_equal(blob_unseal(kr, p.hn, sealed, slen, &plain, &plen, &err), ST_OK);
    assert_int_equal((uint8_t)plain[0] >> 5, 5); /* CBOR major type 5: a map */
    assert_memory_equal(plain + 1, "\x61v\x02", 3);
    free(plain);
    assert_int_equal(person_unseal(kr, p.hn, sealed, slen, &q, &err), ST_OK);
    assert_same_record(&p, &q);
    /* sealed under one record's name, it does not open under another's */
    assert_int_equal(person_unseal(kr, "234567890123", sealed, slen, &q, &err), ST_CORRUPT);
    free(sealed);

    /* a record written by a release that stored format 1 (JSON) */
    json_t *j = person_to_json(&p);
    json_object_set_new(j, "v", json_integer(RECORD_FORMAT_JSON));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_int_equal(blob_seal(kr, p.hn, text, strlen(text), &sealed, &slen, &err), ST_OK);
    free(text);
    assert_int_equal(person_unseal(kr, p.hn, sealed, slen, &q, &err), ST_OK);
    assert_same_record(&p, &q);
    free(sealed);
    keys_close(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_member_round_trips),
        cmocka_unit_test(test_year_only_and_minimal_records),
        cmocka_unit_test(test_form_is_a_versioned_definite_map),
        cmocka_unit_test(test_unknown_members_are_skipped),
        cmocka_unit_test(test_corrupt_forms_are_refused),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_flipped_bytes_never_read_out_of_bounds),
        cmocka_unit_test(test_seal_writes_cbor_and_reads_json),
    };
    return cmocka_run_group_tests_name("record_cbor", tests, NULL, NULL);
}
