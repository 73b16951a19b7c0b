/*
 * tests/unit/test_dedup.c - biometric deduplication, verification and
 * identification through the register (appliance/register_bio.c, enrol.c),
 * on a real RocksDB register in a temporary directory.
 *
 * What it proves:
 *   - a person enrolled again under another name, date of birth and
 *     document is held for adjudication with the first number as a
 *     candidate, its finger and face scores beside it; a stranger is not;
 *   - adjudication both ways: "same person" refuses the enrolment and takes
 *     it out of the index; "different" gives it a number under which the
 *     index then finds it;
 *   - the index is persisted: after a restart a duplicate is still caught,
 *     and two enrolments of one person at the same moment never both get a
 *     number;
 *   - 1:1 verification matches a genuine probe and refuses an impostor's,
 *     and identification names the person first;
 *   - no template and no embedding lies in plaintext anywhere under the
 *     register's directory.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "appliance/register.h"
#include "keys/keys.h"
#include "tests/unit/register_fixture.h"

#define NOW         1780304400 /* 2026-06-01T09:00:00Z */
#define CAPTURED_AT "2026-06-01T08:30:00Z"
#define FACE_MODEL  "synth-face-512"

static int setup(void **state)
{
    return fx_setup(state, "test_dedup", NOW);
}

static int teardown(void **state)
{
    return fx_teardown(state);
}

/* ---- records ------------------------------------------------------------------------------ */

static json_t *b64(const void *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* A synthetic person's biometrics as JSON: two index fingers and a face. */
static json_t *biometrics(uint64_t person, unsigned capture)
{
    static struct fingerprint fp;
    static float face[512];
    json_t *fingers = json_array();
    static const unsigned positions[] = {2, 7};
    for (int i = 0; i < 2; i++) {
        bio_synth_finger(42, person, positions[i], capture, &fp);
        json_array_append_new(fingers, json_pack("{s:i, s:o}", "position", positions[i], "template",
                                                 b64(fp.data, fp.len)));
    }
    bio_synth_face(42, person, capture, 512, 0.6f, face);
    return json_pack("{s:o, s:{s:s, s:o}}", "fingerprints", fingers, "face", "model", FACE_MODEL,
                     "embedding", b64(face, sizeof face));
}

static json_t *record(const char *id, const char *surname, const char *first, const char *dob,
                      const char *doc, json_t *bio)
{
    json_t *rec = json_pack(
        "{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:[{s:s, s:s}],"
        " s:o}",
        "enrolment", "id", id, "officer", "OFF-1187", "centre", "KIT0042", "captured_at",
        CAPTURED_AT, "surname", surname, "first_name", first, "sex", "female", "date_of_birth", dob,
        "place_of_birth", "county", "042", "citizenship", "type", "birth", "residence", "county",
        "047", "documents", "type", "national_id", "number", doc, "biometrics", bio);
    assert_non_null(rec);
    return rec;
}

static struct enrol_answer enrol(struct fx *f, json_t *rec)
{
    struct enrol_answer a;
    struct reg_result res = {0};
    if (reg_enrol(f->r, rec, &a, &res) != REG_OK)
        fail_msg("enrol: %s: %s", res.field, res.msg);
    json_decref(rec);
    return a;
}

static int candidate(const struct enrol_answer *a, const char *name)
{
    for (unsigned i = 0; i < a->ncandidates; i++)
        if (strcmp(a->candidates[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- deduplication ----------------------------------------------------------------------------
 */

static void test_duplicate_held(void **state)
{
    struct fx *f = *state;
    struct enrol_answer a =
        enrol(f, record("DD-1", "Wanjiru", "Grace", "1985-03-02", "11111111", biometrics(1, 0)));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    char first[HN_LEN + 1];
    memcpy(first, a.hn, sizeof first);

    /* the same person, another name, date of birth and document */
    struct enrol_answer b =
        enrol(f, record("DD-2", "Achieng", "Mercy", "1987-11-20", "22222222", biometrics(1, 1)));
    assert_int_equal(b.outcome, ENROL_PENDING);
    int k = candidate(&b, first);
    assert_true(k >= 0);
    assert_true(b.scores[k].biometric);
    assert_int_equal(b.scores[k].scores.fingers, 2);
    assert_true(b.scores[k].scores.face_compared);
    assert_true(b.scores[k].band >= BIO_BAND_MEDIUM);
    json_t *j = enrol_answer_json(&b, true);
    json_t *scores = json_object_get(j, "candidate_scores");
    assert_int_equal(json_array_size(scores), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(scores, 0), "candidate")),
                        first);
    assert_non_null(json_object_get(json_array_get(scores, 0), "finger_score"));
    json_decref(j);

    /* a stranger passes */
    struct enrol_answer c =
        enrol(f, record("DD-3", "Kamau", "Joy", "1990-01-01", "33333333", biometrics(2, 0)));
    assert_int_equal(c.outcome, ENROL_ASSIGNED);
}

struct queue {
    unsigned n;
    struct enrol_answer a[8];
};

static int collect(void *ctx, const struct enrol_answer *p)
{
    struct queue *q = ctx;
    if (q->n < 8)
        q->a[q->n++] = *p;
    return 0;
}

static void test_adjudication_both_ways(void **state)
{
    struct fx *f = *state;
    struct reg_result res = {0};
    struct enrol_answer a =
        enrol(f, record("AJ-1", "Otieno", "Akinyi", "1979-07-07", "44444444", biometrics(3, 0)));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    struct enrol_answer b =
        enrol(f, record("AJ-2", "Odhiambo", "Atieno", "1981-02-14", "55555555", biometrics(3, 1)));
    assert_int_equal(b.outcome, ENROL_PENDING);

    /* the queue shows the candidate with its scores */
    struct queue q = {0};
    assert_int_equal(reg_pending(f->r, collect, &q, &res), REG_OK);
    assert_int_equal(q.n, 1);
    int k = candidate(&q.a[0], a.hn);
    assert_true(k >= 0 && q.a[0].scores[k].biometric && q.a[0].scores[k].scores.fingers == 2);

    /* same person: refused, and no longer a candidate for anyone */
    struct change_note note = {.reason = "same fingers and face", .officer = "ADJ-7"};
    struct enrol_answer d;
    assert_int_equal(reg_adjudicate(f->r, "AJ-2", a.hn, &note, &d, &res), REG_OK);
    assert_int_equal(d.outcome, ENROL_REFUSED_DUP);
    struct enrol_answer c =
        enrol(f, record("AJ-3", "Omondi", "Awuor", "1983-05-05", "66666666", biometrics(3, 2)));
    assert_int_equal(c.outcome, ENROL_PENDING);
    assert_true(candidate(&c, a.hn) >= 0);
    assert_int_equal(candidate(&c, "pending:AJ-2"), -1);

    /* different: a number, under which the index then finds the enrolment */
    note.reason = "twins, documents checked";
    assert_int_equal(reg_adjudicate(f->r, "AJ-3", NULL, &note, &d, &res), REG_OK);
    assert_int_equal(d.outcome, ENROL_ASSIGNED);
    struct enrol_answer e =
        enrol(f, record("AJ-4", "Onyango", "Adhiambo", "1984-06-06", "77777777", biometrics(3, 3)));
    assert_int_equal(e.outcome, ENROL_PENDING);
    assert_true(candidate(&e, a.hn) >= 0);
    assert_true(candidate(&e, d.hn) >= 0);
}

static void test_restart_keeps_index(void **state)
{
    struct fx *f = *state;
    struct enrol_answer a =
        enrol(f, record("RS-1", "Mutua", "Nduku", "1970-10-10", "88888888", biometrics(4, 0)));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    fx_reopen(f, NOW);
    struct enrol_answer b =
        enrol(f, record("RS-2", "Musyoka", "Mwikali", "1972-12-12", "99999999", biometrics(4, 1)));
    assert_int_equal(b.outcome, ENROL_PENDING);
    assert_true(candidate(&b, a.hn) >= 0);
}

struct racer {
    struct fx *f;
    int n;
    struct enrol_answer a;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char id[16], doc[16], name[16];
    snprintf(id, sizeof id, "RC-%d", r->n);
    snprintf(doc, sizeof doc, "1200000%d", r->n);
    snprintf(name, sizeof name, "Racer%c", 'A' + r->n);
    json_t *rec = record(id, name, "Same", r->n % 2 ? "1991-01-01" : "1992-02-02", doc,
                         biometrics(5, (unsigned)r->n));
    struct reg_result res = {0};
    r->rc = reg_enrol(r->f->r, rec, &r->a, &res);
    json_decref(rec);
    return NULL;
}

static void test_concurrent_duplicates(void **state)
{
    struct fx *f = *state;
    struct racer r[2] = {{f, 0, {0}, 0}, {f, 1, {0}, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, race, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r[0].rc, REG_OK);
    assert_int_equal(r[1].rc, REG_OK);
    /* one of them may get a number; the other is held with it as a candidate */
    assert_false(r[0].a.outcome == ENROL_ASSIGNED && r[1].a.outcome == ENROL_ASSIGNED);
}

/* ---- verification and identification ------------------------------------------------------ */

static void test_verify_and_identify(void **state)
{
    struct fx *f = *state;
    struct enrol_answer a =
        enrol(f, record("VI-1", "Chebet", "Faith", "1995-04-04", "31313131", biometrics(6, 0)));
    struct enrol_answer s =
        enrol(f, record("VI-2", "Kiprop", "Brian", "1996-05-05", "41414141", biometrics(7, 0)));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    assert_int_equal(s.outcome, ENROL_ASSIGNED);
    struct reg_result res = {0};
    struct bio_verdict v;
    json_t *genuine = biometrics(6, 4), *impostor = biometrics(8, 0);
    json_object_del(genuine, "face"); /* fingers only */
    assert_int_equal(reg_verify_biometrics(f->r, a.hn, genuine, &v, &res), REG_OK);
    assert_true(v.compared && v.match);
    assert_int_equal(v.scores.fingers, 2);
    assert_true(v.band >= BIO_BAND_MEDIUM);
    assert_int_equal(reg_verify_biometrics(f->r, a.hn, impostor, &v, &res), REG_OK);
    assert_true(v.compared);
    assert_false(v.match);
    assert_int_equal(v.band, BIO_BAND_NONE);

    struct reg_candidate c[BIO_MAX_CANDIDATES];
    unsigned n = 0;
    assert_int_equal(reg_identify(f->r, genuine, c, &n, &res), REG_OK);
    assert_true(n >= 1);
    assert_string_equal(c[0].hn, a.hn);
    assert_int_equal(reg_identify(f->r, impostor, c, &n, &res), REG_OK);
    assert_int_equal(n, 0);
    /* a probe that is no biometrics at all */
    json_t *bad = json_pack("{s:[{s:i, s:s}]}", "fingerprints", "position", 2, "template", "AAAA");
    assert_int_equal(reg_identify(f->r, bad, c, &n, &res), REG_EINVALID);
    assert_string_equal(res.field, "biometrics.fingerprints[0].template");
    json_decref(bad);
    json_decref(genuine);
    json_decref(impostor);
}

/* ---- nothing in plaintext -------------------------------------------------------------------- */

static const uint8_t *needle;
static size_t needle_len;
static const char *found_in;

static int scan_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || sb->st_size == 0)
        return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    uint8_t *buf = malloc((size_t)sb->st_size);
    size_t n = buf ? fread(buf, 1, (size_t)sb->st_size, fp) : 0;
    fclose(fp);
    if (n >= needle_len && memmem(buf, n, needle, needle_len))
        found_in = path;
    free(buf);
    return found_in != NULL;
}

static void test_nothing_in_plaintext(void **state)
{
    struct fx *f = *state;
    json_t *bio = biometrics(9, 0);
    char text[64];
    snprintf(text, sizeof text, "%.40s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(bio, "fingerprints"), 0), "template")) +
                 40);
    struct enrol_answer a =
        enrol(f, record("PT-1", "Njeri", "Wambui", "1988-08-08", "51515151", bio));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    reg_close(f->r); /* everything written out */
    f->r = NULL;
    static struct fingerprint fp;
    static float face[512];
    bio_synth_finger(42, 9, 2, 0, &fp);
    bio_synth_face(42, 9, 0, 512, 0.6f, face);
    const struct {
        const void *p;
        size_t n;
    } secrets[] = {{fp.data + 28, 36}, {text, strlen(text)}, {face, 64}};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        needle = secrets[i].p;
        needle_len = secrets[i].n;
        found_in = NULL;
        nftw(f->dir, scan_file, 16, FTW_PHYS);
        if (found_in)
            fail_msg("biometric data %zu lies in plaintext in %s", i, found_in);
    }
    fx_reopen(f, NOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_duplicate_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adjudication_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_and_identify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_in_plaintext, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
