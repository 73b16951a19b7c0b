/*
 * tests/unit/test_synth.c - the synthetic population generator (appliance/synth.c).
 *
 * Generates 20000 lines once (group setup), parses every line with jansson and
 * checks the promises of appliance/synth.h: op shapes, unique enrolment ids,
 * unique document numbers except near-duplicates, biometrics by age, valid
 * ISO/IEC 19794-2 templates, births and deaths that point at earlier
 * enrolments, county codes, and the shares of births, deaths and duplicates.
 * Near-duplicates are recognised as the generator promises they can be: same
 * sex and date of birth, same names up to case, spaces, order and accents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "appliance/synth.h"

#define LINES   20000
#define SEED    0x5eed2026ULL
#define AS_OF_Y 2026 /* the default as_of: 2026-01-01 */

/* ---- helpers ----------------------------------------------------------------- */

static char *generate(const struct synth_opts *o, size_t *len)
{
    char *buf = NULL, err[128];
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    int rc = synth_write(f, o, err, sizeof err);
    assert_int_equal(fclose(f), 0);
    if (rc)
        fail_msg("synth_write: %s", err);
    return buf;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char *path2(json_t *obj, const char *a, const char *b)
{
    return str(json_object_get(obj, a), b);
}

/* A small string -> int map (open addressing); keys are borrowed. */
struct map {
    const char **keys;
    int *vals;
    size_t cap;
};

static void map_init(struct map *m, size_t cap)
{
    m->cap = cap;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    assert_true(m->keys && m->vals);
}

static void map_free(struct map *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t map_slot(const struct map *m, const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = k; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    size_t i = h & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], k))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int map_get(const struct map *m, const char *k)
{
    size_t i = map_slot(m, k);
    return m->keys[i] ? m->vals[i] : -1;
}

static void map_put(struct map *m, const char *k, int v)
{
    size_t i = map_slot(m, k);
    m->keys[i] = k;
    m->vals[i] = v;
}

/* Date parts; day and month 0 for a year-only date. */
static void parse_date(const char *s, int *y, int *m, int *d)
{
    *y = *m = *d = 0;
    assert_non_null(s);
    int n = sscanf(s, "%4d-%2d-%2d", y, m, d);
    assert_true(n == 1 || n == 3);
}

/* Completed years at `on` ("YYYY-MM-DD..."); a year-only birth counts as 1 January. */
static int age_at(const char *dob, const char *on)
{
    int y, m, d, y2, m2, d2;
    parse_date(dob, &y, &m, &d);
    parse_date(on, &y2, &m2, &d2);
    if (!m)
        m = d = 1;
    return y2 - y - (m2 < m || (m2 == m && d2 < d));
}

/* Case, spaces and accents folded: what a near-duplicate keeps of a name. */
static void fold(const char *s, char *out, size_t cap)
{
    static const char latin1[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts"; /* U+00C0..U+00DF */
    size_t n = 0;
    while (*s == ' ')
        s++;
    for (; *s && n + 1 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == 0xc3 && s[1]) {
            unsigned char c2 = (unsigned char)*++s;
            out[n++] = latin1[(c2 - 0x80) & 0x1f];
        } else {
            out[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* Sex, date of birth and folded names, first name and surname in either order. */
static char *demo_key(json_t *rec)
{
    char a[80], b[80], o[80], *k = NULL;
    fold(str(rec, "first_name"), a, sizeof a);
    fold(str(rec, "surname"), b, sizeof b);
    fold(str(rec, "other_names") ? str(rec, "other_names") : "", o, sizeof o);
    bool ordered = strcmp(a, b) <= 0;
    assert_true(asprintf(&k, "%s|%s|%s|%s|%s", str(rec, "sex"), str(rec, "date_of_birth"),
                         ordered ? a : b, ordered ? b : a, o) > 0);
    return k;
}

/* ---- the fixture: 20000 parsed lines ----------------------------------------- */

struct fixture {
    size_t n;
    json_t **line;
    char **key;     /* demographic key of enrol lines, NULL otherwise */
    int *dup_of;    /* earlier enrol line with the same key, -1 */
    struct map ids; /* enrolment id -> line */
};

static int setup(void **state)
{
    struct synth_opts o;
    size_t len;
    synth_opts_default(&o);
    o.seed = SEED;
    o.count = LINES;
    char *buf = generate(&o, &len);
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->line = calloc(LINES, sizeof *fx->line);
    fx->key = calloc(LINES, sizeof *fx->key);
    fx->dup_of = calloc(LINES, sizeof *fx->dup_of);
    map_init(&fx->ids, 1 << 16);
    for (char *p = buf, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t jerr;
        assert_true(fx->n < LINES);
        fx->line[fx->n] = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
        if (!fx->line[fx->n])
            fail_msg("line %zu: %s", fx->n + 1, jerr.text);
        fx->n++;
    }
    free(buf);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < fx->n; i++) {
        json_decref(fx->line[i]);
        free(fx->key[i]);
    }
    map_free(&fx->ids);
    free(fx->line);
    free(fx->key);
    free(fx->dup_of);
    free(fx);
    return 0;
}

static const char *op(struct fixture *fx, size_t i)
{
    return str(fx->line[i], "op");
}

static json_t *record(struct fixture *fx, size_t i)
{
    return json_object_get(fx->line[i], "record");
}

/* ---- tests ------------------------------------------------------------------- */

static void test_deterministic(void **state)
{
    (void)state;
    struct synth_opts o;
    size_t la, lb, lc;
    synth_opts_default(&o);
    o.count = 2000;
    o.seed = 7;
    char *a = generate(&o, &la), *b = generate(&o, &lb);
    o.seed = 8;
    char *c = generate(&o, &lc);
    assert_true(la > 0 && la == lb);
    assert_memory_equal(a, b, la);
    assert_true(la != lc || memcmp(a, c, la));
    free(a);
    free(b);
    free(c);
}

static void test_rejects_bad_options(void **state)
{
    (void)state;
    struct synth_opts o;
    char err[128] = "";
    synth_opts_default(&o);
    o.count = SYNTH_MAX_COUNT + 1;
    assert_int_equal(synth_write(stdout, &o, err, sizeof err), -1);
    assert_true(err[0]);
    synth_opts_default(&o);
    o.birth_per_mille = 999;
    assert_int_equal(synth_write(stdout, &o, err, sizeof err), -1);
    synth_opts_default(&o);
    o.kit_prefix = "bad \"prefix\"";
    assert_int_equal(synth_write(stdout, &o, err, sizeof err), -1);
    synth_opts_default(&o);
    o.count = 0;
    size_t len;
    char *empty = generate(&o, &len);
    assert_int_equal(len, 0);
    free(empty);
}

static void check_enrolment(json_t *rec)
{
    json_t *e = json_object_get(rec, "enrolment");
    assert_non_null(str(e, "id"));
    assert_int_equal(strncmp(str(e, "officer"), "OFF-", 4), 0);
    assert_int_equal(strncmp(str(e, "centre"), "KIT-", 4), 0);
    const char *at = str(e, "captured_at");
    assert_true(at && strlen(at) == 20 && at[10] == 'T' && at[19] == 'Z');
    assert_true(strcmp(at, "2026-01-01") < 0);
}

static void check_person(json_t *rec)
{
    static const char *const required[] = {"surname",        "first_name",  "sex",
                                           "date_of_birth",  "citizenship", "residence",
                                           "place_of_birth", "documents",   "enrolment"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!json_object_get(rec, required[i]))
            fail_msg("record without %s", required[i]);
    const char *sex = str(rec, "sex");
    assert_true(!strcmp(sex, "female") || !strcmp(sex, "male") || !strcmp(sex, "intersex"));
    size_t nd = json_array_size(json_object_get(rec, "documents"));
    assert_true(nd >= 1 && nd <= 8);
    check_enrolment(rec);
}

static void check_birth(json_t *rec)
{
    check_person(rec);
    json_t *docs = json_object_get(rec, "documents");
    assert_int_equal(json_array_size(docs), 1);
    assert_string_equal(str(json_array_get(docs, 0), "type"), "birth_certificate");
    assert_string_equal(path2(rec, "citizenship", "type"), "birth");
    assert_non_null(path2(rec, "parents", "mother_enrolment"));
    assert_null(json_object_get(rec, "biometrics"));
    int age = age_at(str(rec, "date_of_birth"), "2026-01-01");
    assert_true(age >= 0 && age <= 2);
    assert_true(strcmp(str(rec, "date_of_birth"), path2(rec, "enrolment", "captured_at")) <= 0);
}

static void check_death(json_t *line)
{
    assert_int_equal(json_object_size(line), 4);
    assert_non_null(str(line, "enrolment_ref"));
    assert_int_equal(str(line, "certificate")[0], 'D');
    int y, m, d;
    parse_date(str(line, "date"), &y, &m, &d);
    assert_true(m >= 1 && d >= 1);
    assert_true(strcmp(str(line, "date"), "2026-01-01") <= 0);
}

static void test_op_shapes(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(fx->n, LINES);
    for (size_t i = 0; i < fx->n; i++) {
        const char *o = op(fx, i);
        assert_non_null(o);
        if (!strcmp(o, "death")) {
            check_death(fx->line[i]);
            continue;
        }
        assert_int_equal(json_object_size(fx->line[i]), 2);
        if (!strcmp(o, "birth"))
            check_birth(record(fx, i));
        else if (!strcmp(o, "enrol"))
            check_person(record(fx, i));
        else
            fail_msg("line %zu: op %s", i + 1, o);
    }
}

/* Also indexes ids and demographic keys for the tests below. */
static void test_enrolment_ids_unique(void **state)
{
    struct fixture *fx = *state;
    struct map keys;
    map_init(&keys, 1 << 16);
    for (size_t i = 0; i < fx->n; i++) {
        fx->dup_of[i] = -1;
        if (!strcmp(op(fx, i), "death"))
            continue;
        const char *id = path2(record(fx, i), "enrolment", "id");
        assert_true(strlen(id) <= 64);
        if (map_get(&fx->ids, id) >= 0)
            fail_msg("enrolment id %s repeats", id);
        map_put(&fx->ids, id, (int)i);
        if (strcmp(op(fx, i), "enrol"))
            continue;
        fx->key[i] = demo_key(record(fx, i));
        fx->dup_of[i] = map_get(&keys, fx->key[i]);
        if (fx->dup_of[i] < 0)
            map_put(&keys, fx->key[i], (int)i);
    }
    map_free(&keys);
}

static void note_number(struct fixture *fx, struct map *seen, size_t i, const char *number,
                        int *reused)
{
    int j = map_get(seen, number);
    if (j < 0) {
        map_put(seen, number, (int)i);
        return;
    }
    if (!fx->key[i] || !fx->key[j] || strcmp(fx->key[i], fx->key[j]))
        fail_msg("document %s on lines %d and %zu", number, j + 1, i + 1);
    (*reused)++;
}

static void test_documents_unique(void **state)
{
    struct fixture *fx = *state;
    struct map seen;
    int reused = 0;
    map_init(&seen, 1 << 17);
    for (size_t i = 0; i < fx->n; i++) {
        if (!strcmp(op(fx, i), "death")) {
            note_number(fx, &seen, i, str(fx->line[i], "certificate"), &reused);
            continue;
        }
        json_t *docs = json_object_get(record(fx, i), "documents"), *d;
        size_t k;
        json_array_foreach(docs, k, d) note_number(fx, &seen, i, str(d, "number"), &reused);
    }
    assert_true(reused >= 1); /* a few near-duplicates reuse the national id */
    assert_true(reused <= LINES / 100);
    map_free(&seen);
}

static bool has_fingers_or_exemption(json_t *rec)
{
    json_t *fp = json_object_get(json_object_get(rec, "biometrics"), "fingerprints");
    return json_array_size(fp) > 0 || str(rec, "biometric_exemption");
}

static void test_biometrics_by_age(void **state)
{
    struct fixture *fx = *state;
    size_t young = 0, old = 0;
    for (size_t i = 0; i < fx->n; i++) {
        if (strcmp(op(fx, i), "enrol"))
            continue;
        json_t *rec = record(fx, i);
        const char *dob = str(rec, "date_of_birth");
        int age = age_at(dob, path2(rec, "enrolment", "captured_at"));
        int later = age_at(dob, "2026-01-01");
        assert_int_equal(age < 6, later < 6);
        if (age < 6) {
            young++;
            assert_null(json_object_get(rec, "biometrics"));
            assert_null(json_object_get(rec, "biometric_exemption"));
        } else {
            old++;
            if (!has_fingers_or_exemption(rec))
                fail_msg("line %zu: aged %d without fingerprints", i + 1, age);
        }
    }
    assert_true(young > LINES / 20); /* a young population */
    assert_true(old > young);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_template(const char *b64)
{
    size_t n = strlen(b64);
    unsigned char raw[1024];
    assert_true(n > 0 && n % 4 == 0 && n / 4 * 3 <= sizeof raw);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(len > 0);
    len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    assert_true(len >= 30);
    assert_memory_equal(raw, "FMR\0 20\0", 8);
    assert_int_equal(be32(raw + 8), (uint32_t)len);
    unsigned width = raw[14] << 8 | raw[15], height = raw[16] << 8 | raw[17];
    unsigned minutiae = raw[27];
    assert_int_equal(raw[22], 1);
    assert_true(raw[26] >= 40 && raw[26] <= 100);
    assert_true(minutiae >= 12 && minutiae <= 40);
    assert_int_equal(len, 30 + 6 * (int)minutiae);
    for (unsigned i = 0; i < minutiae; i++) {
        const unsigned char *m = raw + 28 + 6 * i;
        unsigned type = m[0] >> 6, x = (m[0] & 0x3f) << 8 | m[1], y = (m[2] & 0x3f) << 8 | m[3];
        assert_true(type == 1 || type == 2);
        assert_true(x < width && y < height);
    }
    assert_int_equal(raw[len - 2] | raw[len - 1], 0);
}

static void test_templates_valid(void **state)
{
    struct fixture *fx = *state;
    size_t count = 0;
    for (size_t i = 0; i < fx->n; i++) {
        if (strcmp(op(fx, i), "enrol"))
            continue;
        json_t *fps = json_object_get(json_object_get(record(fx, i), "biometrics"), "fingerprints");
        json_t *fp;
        size_t k;
        json_array_foreach(fps, k, fp)
        {
            json_int_t pos = json_integer_value(json_object_get(fp, "position"));
            assert_true(pos >= 1 && pos <= 10);
            check_template(str(fp, "template"));
            count++;
        }
    }
    assert_true(count > LINES / 2);
}

/* The line an enrolment id names; it must be an earlier one. */
static int earlier(struct fixture *fx, size_t i, const char *id)
{
    assert_non_null(id);
    int j = map_get(&fx->ids, id);
    if (j < 0 || (size_t)j >= i)
        fail_msg("line %zu names %s, not an earlier enrolment", i + 1, id);
    assert_string_equal(op(fx, (size_t)j), "enrol");
    return j;
}

static void test_births_name_earlier_mothers(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < fx->n; i++) {
        if (strcmp(op(fx, i), "birth"))
            continue;
        json_t *rec = record(fx, i);
        json_t *mother =
            record(fx, (size_t)earlier(fx, i, path2(rec, "parents", "mother_enrolment")));
        assert_string_equal(str(mother, "sex"), "female");
        int age = age_at(str(mother, "date_of_birth"), path2(rec, "enrolment", "captured_at"));
        assert_true(age >= 18 && age <= 45);
        assert_string_equal(path2(rec, "residence", "county"),
                            path2(mother, "residence", "county"));
        const char *father = path2(rec, "parents", "father_enrolment");
        if (father)
            assert_string_equal(str(record(fx, (size_t)earlier(fx, i, father)), "sex"), "male");
    }
}

static void test_deaths_name_earlier_people(void **state)
{
    struct fixture *fx = *state;
    struct map dead;
    map_init(&dead, 1 << 12);
    for (size_t i = 0; i < fx->n; i++) {
        if (strcmp(op(fx, i), "death"))
            continue;
        const char *ref = str(fx->line[i], "enrolment_ref");
        json_t *who = record(fx, (size_t)earlier(fx, i, ref));
        assert_true(strcmp(str(fx->line[i], "date"), str(who, "date_of_birth")) > 0);
        assert_int_equal(map_get(&dead, ref), -1);
        map_put(&dead, ref, (int)i);
    }
    map_free(&dead);
}

static void check_county(const char *code)
{
    assert_non_null(code);
    assert_int_equal(strlen(code), 3);
    int v = atoi(code);
    assert_true(code[0] == '0' && v >= 1 && v <= 47);
}

static void check_country(const char *code)
{
    assert_non_null(code);
    assert_int_equal(strlen(code), 2);
    assert_string_not_equal(code, "KE");
}

static void test_counties_and_origins(void **state)
{
    struct fixture *fx = *state;
    size_t foreign = 0;
    for (size_t i = 0; i < fx->n; i++) {
        if (!strcmp(op(fx, i), "death"))
            continue;
        json_t *rec = record(fx, i);
        check_county(path2(rec, "residence", "county"));
        const char *pob = path2(rec, "place_of_birth", "county");
        if (pob)
            check_county(pob);
        else
            check_country(path2(rec, "place_of_birth", "country"));
        if (!strcmp(path2(rec, "citizenship", "type"), "foreign")) {
            foreign++;
            check_country(path2(rec, "citizenship", "nationality"));
        }
    }
    assert_true(foreign > LINES / 400 && foreign < LINES / 40);
}

static void assert_share(size_t got, unsigned per_mille, double tolerance)
{
    double want = (double)LINES * per_mille / 1000.0;
    if (got < want * (1 - tolerance) || got > want * (1 + tolerance))
        fail_msg("%zu lines, expected about %.0f", got, want);
}

static void test_shares(void **state)
{
    struct fixture *fx = *state;
    size_t births = 0, deaths = 0, dups = 0;
    for (size_t i = 0; i < fx->n; i++) {
        births += !strcmp(op(fx, i), "birth");
        deaths += !strcmp(op(fx, i), "death");
        dups += fx->dup_of[i] >= 0;
    }
    assert_share(births, 20, 0.25);
    assert_share(deaths, 3, 0.4);
    assert_share(dups, 5, 0.4);
}

int main(void)
{
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_rejects_bad_options),
    };
    const struct CMUnitTest stream[] = {
        cmocka_unit_test(test_op_shapes),
        cmocka_unit_test(test_enrolment_ids_unique), /* indexes: keep before the rest */
        cmocka_unit_test(test_documents_unique),
        cmocka_unit_test(test_biometrics_by_age),
        cmocka_unit_test(test_templates_valid),
        cmocka_unit_test(test_births_name_earlier_mothers),
        cmocka_unit_test(test_deaths_name_earlier_people),
        cmocka_unit_test(test_counties_and_origins),
        cmocka_unit_test(test_shares),
    };
    int failed = cmocka_run_group_tests(standalone, NULL, NULL);
    return failed + cmocka_run_group_tests(stream, setup, teardown);
}
