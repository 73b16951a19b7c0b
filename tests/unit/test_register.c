/*
 * tests/unit/test_register.c - the register's rules (appliance/register.h).
 *
 * Each test works on a register of its own, created in a fresh directory and
 * opened with a fixed "now" (2026-06-01T09:00:00Z) so that ages and dates do
 * not depend on the day the tests run.  Covers:
 *   - enrolment: a well-formed Huduma Number, the record read back field by
 *     field, version 1, active, biometrics captured;
 *   - idempotency: a replayed enrolment id gets the same answer and creates
 *     nothing, also after a restart (the persons are counted in the database);
 *   - the document rule: a number already linked (typed with '-', in other
 *     case) is refused with the field to blame, and nothing is written;
 *   - demographic deduplication (case, swapped names, accents), the pending
 *     list and adjudication both ways, with the documents a refusal releases;
 *   - the record rules, each refused with its field and nothing written;
 *   - corrections with their history and change notes, refused corrections,
 *     and the document index following a corrected number;
 *   - births (mother by number or by enrolment id), the children whose
 *     biometrics fall due, and refused births;
 *   - deaths (the record stays readable; a death certificate the record could
 *     not be read back with is refused), documents issued and look-up by
 *     document number, with issued numbers kept through corrections;
 *   - capture at 6: a child becomes due, and a correction with fingerprints
 *     takes it off the due list;
 *   - encryption at rest: no name, phone or document number appears in any
 *     file of the database, in the write-ahead log or after a flush to SST;
 *   - the write-ahead logs stay few: eight sessions, seven of which write
 *     nothing, leave at most two (RocksDB would keep one per session);
 *   - concurrency: parallel enrolments get distinct numbers; of several
 *     enrolments racing for one document number exactly one succeeds; one
 *     enrolment submitted by several threads at once gets one number; one
 *     person enrolled at several kits at once gets one number, the rest held.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <rocksdb/c.h>

#include "appliance/hn.h"
#include "appliance/register.h"
#include "appliance/register_impl.h"
#include "keys/keys.h"
#include "storage/store_internal.h"
#include "tests/unit/register_fixture.h"
#include "tests/unit/rocks_options.h"

#define NOW_2026_06_01 1780304400 /* 2026-06-01T09:00:00Z (12:00 in Nairobi) */
#define NOW_2026_08_01 1785574800 /* 2026-08-01T09:00:00Z */
#define CAPTURED_AT    "2026-06-01T08:30:00Z"

/* ---- fixture: one register per test ------------------------------------------------ */

static int setup(void **state)
{
    return fx_setup(state, "test_register", NOW_2026_06_01);
}

static int teardown(void **state)
{
    return fx_teardown(state);
}

/* ---- building records ---------------------------------------------------------------- */

/* A small valid ISO/IEC 19794-2:2005 record (one view, three minutiae), base64. */
static json_t *fingerprint_template(unsigned seed)
{
    enum { NMIN = 3, LEN = 24 + 4 + 6 * NMIN + 2 };
    const unsigned width = 256, height = 360;
    uint8_t rec[LEN] = {0};
    memcpy(rec, "FMR\0", 4);
    memcpy(rec + 4, " 20\0", 4);
    rec[8] = 0, rec[9] = 0, rec[10] = 0, rec[11] = LEN;
    /* capture equipment 0; width, height, x and y resolution (197 px/cm) */
    rec[14] = (uint8_t)(width >> 8), rec[15] = (uint8_t)width;
    rec[16] = (uint8_t)(height >> 8), rec[17] = (uint8_t)height;
    rec[19] = 197, rec[21] = 197;
    rec[22] = 1; /* one finger view */
    uint8_t *v = rec + 24;
    v[0] = 2, v[1] = 0, v[2] = 60, v[3] = NMIN; /* right index, live scan, quality 60 */
    for (unsigned i = 0; i < NMIN; i++) {
        uint8_t *m = v + 4 + 6 * i;
        unsigned x = (seed * 37 + i * 71) % width, y = (seed * 53 + i * 97) % height;
        m[0] = (uint8_t)(0x40 | x >> 8), m[1] = (uint8_t)x; /* type 01: ridge ending */
        m[2] = (uint8_t)(y >> 8), m[3] = (uint8_t)y;
        m[4] = (uint8_t)(seed + i * 40), m[5] = 80;
    }
    /* extended data length 0: the last two bytes stay zero */
    char text[(LEN + 2) / 3 * 4 + 1];
    EVP_EncodeBlock((unsigned char *)text, rec, LEN);
    return json_string(text);
}

static json_t *biometrics(unsigned seed)
{
    return json_pack("{s:[{s:i, s:o}]}", "fingerprints", "position", 2, "template",
                     fingerprint_template(seed));
}

static unsigned seed_of(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static json_t *national_id(const char *number)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "type", "national_id", "number", number, "issuer",
                     "NRB", "issued", "2008-05-02");
}

/* A valid adult: born in Kisumu, living in Nairobi, with one national id and a fingerprint. */
static json_t *adult(const char *id, const char *surname, const char *first, const char *sex,
                     const char *dob, const char *doc)
{
    json_t *rec =
        json_pack("{s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s},"
                  " s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:[o]}",
                  "enrolment", "id", id, "officer", "OFF-1187", "centre", "KIT0042", "captured_at",
                  CAPTURED_AT, "surname", surname, "first_name", first, "sex", sex, "date_of_birth",
                  dob, "place_of_birth", "county", "042", "citizenship", "type", "birth",
                  "residence", "county", "047", "sub_county", "Westlands", "ward", "Parklands",
                  "village", "Highridge", "marital_status", "married", "phone", "+254712345678",
                  "email", "akinyi@example.ke", "documents", national_id(doc));
    assert_non_null(rec);
    json_object_set_new(rec, "biometrics", biometrics(seed_of(id)));
    return rec;
}

/* A young child: a birth certificate, no biometrics, no phone. */
static json_t *child(const char *id, const char *surname, const char *first, const char *sex,
                     const char *dob, const char *certificate)
{
    json_t *rec = adult(id, surname, first, sex, dob, "0");
    json_object_del(rec, "biometrics");
    json_object_del(rec, "marital_status");
    json_object_del(rec, "phone");
    json_object_del(rec, "email");
    json_object_set_new(
        rec, "documents",
        json_pack("[{s:s, s:s}]", "type", "birth_certificate", "number", certificate));
    return rec;
}

static json_t *sub(json_t *rec, const char *member)
{
    json_t *o = json_object_get(rec, member);
    assert_non_null(o);
    return o;
}

/* A well-formed Huduma Number that, in registers this small, nobody holds. */
static void unissued_hn(char out[HN_LEN + 1])
{
    memcpy(out, "10000000000", HN_LEN - 1);
    out[HN_LEN - 1] = verhoeff_check_digit(out, HN_LEN - 1);
    out[HN_LEN] = '\0';
    assert_true(hn_is_well_formed(out));
}

/* ---- calling the register ------------------------------------------------------------ */

static void expect(int rc, const struct reg_result *res, int code, const char *field,
                   const char *what)
{
    if (rc != code || (field && strcmp(res->field, field) != 0))
        fail_msg("%s: got %d, field '%s' (%s); expected %d, field '%s'", what, rc, res->field,
                 res->msg, code, field ? field : "(any)");
    assert_int_equal(res->code, code);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != REG_OK)                                                                         \
            fail_msg("%s: %d, field '%s': %s", #call, rc_, res.field, res.msg);                    \
    } while (0)

static const char *enrolment_id(const json_t *rec)
{
    return json_string_value(json_object_get(json_object_get(rec, "enrolment"), "id"));
}

/* Enrols (or registers the birth of) rec, which it frees, expecting a new number. */
static void assigned(struct reg *r, json_t *rec, bool birth, char hn[HN_LEN + 1])
{
    struct enrol_answer ans;
    struct reg_result res = {0};
    OK(birth ? reg_birth(r, rec, &ans, &res) : reg_enrol(r, rec, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_ASSIGNED);
    assert_string_equal(ans.enrolment_id, enrolment_id(rec));
    assert_true(hn_is_well_formed(ans.hn));
    assert_int_equal(ans.ncandidates, 0);
    memcpy(hn, ans.hn, HN_LEN + 1);
    json_decref(rec);
}

/* Enrols rec (freed), expecting the register to answer, whatever the answer. */
static void submit(struct reg *r, json_t *rec, struct enrol_answer *ans)
{
    struct reg_result res = {0};
    OK(reg_enrol(r, rec, ans, &res));
    json_decref(rec);
}

static void enrol_ok(struct reg *r, json_t *rec, char hn[HN_LEN + 1])
{
    assigned(r, rec, false, hn);
}

static void enrolment_unknown(struct reg *r, const char *id)
{
    struct enrol_answer ans;
    struct reg_result res = {0};
    expect(reg_enrolment_status(r, id, &ans, &res), &res, REG_ENOTFOUND, "enrolment.id", id);
}

/* Submits rec (freed), expecting a refusal naming `field`, and that nothing was kept. */
static void refused(struct reg *r, json_t *rec, bool birth, int code, const char *field)
{
    char id[ID_MAX_LEN + 1] = "";
    if (enrolment_id(rec))
        snprintf(id, sizeof id, "%s", enrolment_id(rec));
    struct enrol_answer ans;
    struct reg_result res = {0};
    int rc = birth ? reg_birth(r, rec, &ans, &res) : reg_enrol(r, rec, &ans, &res);
    char *text = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
    expect(rc, &res, code, field, text);
    free(text);
    assert_true(res.msg[0] != '\0');
    if (id[0])
        enrolment_unknown(r, id);
    json_decref(rec);
}

static void get(struct reg *r, const char *hn, struct person *p)
{
    struct reg_result res = {0};
    OK(reg_get(r, hn, p, &res));
    assert_string_equal(p->hn, hn);
}

static void lookup_is(struct reg *r, const char *type, const char *number, const char *hn)
{
    char found[HN_LEN + 1] = "";
    struct reg_result res = {0};
    if (hn) {
        OK(reg_lookup_document(r, type, number, found, &res));
        assert_string_equal(found, hn);
    } else {
        expect(reg_lookup_document(r, type, number, found, &res), &res, REG_ENOTFOUND, "number",
               number);
    }
}

static const struct change_note CORRECTION = {
    .reason = "surname changed on marriage",
    .officer = "OFF-2001",
    .evidence = "marriage certificate MC-2026-0042",
};

static const struct change_note ADJUDICATION = {
    .reason = "fingerprints compared by the adjudicator",
    .officer = "ADJ-0007",
};

static const struct change_note DEATH_NOTE = {
    .reason = "death registration",
    .officer = "REG-0009",
};

/* ---- collecting answers -------------------------------------------------------------- */

#define LIST_MAX 64

struct due_list {
    int n;
    char hn[LIST_MAX][HN_LEN + 1];
    char date[LIST_MAX][11];
};

static int due_collect(void *ctx, const char *hn, const char *due_date)
{
    struct due_list *l = ctx;
    if (l->n < LIST_MAX) {
        snprintf(l->hn[l->n], sizeof l->hn[0], "%s", hn);
        snprintf(l->date[l->n], sizeof l->date[0], "%s", due_date);
        l->n++;
    }
    return 0;
}

/* The due date listed for hn as of `as_of`, or NULL when hn is not listed. */
static const char *due_date(struct reg *r, const char *as_of, const char *hn)
{
    static struct due_list l;
    memset(&l, 0, sizeof l);
    struct reg_result res = {0};
    OK(reg_due_biometrics(r, as_of, due_collect, &l, &res));
    for (int i = 1; i < l.n; i++)
        assert_true(strcmp(l.date[i - 1], l.date[i]) <= 0); /* in date order */
    for (int i = 0; i < l.n; i++)
        if (strcmp(l.hn[i], hn) == 0)
            return l.date[i];
    return NULL;
}

struct history {
    int n;
    uint32_t version[LIST_MAX];
    char surname[LIST_MAX][NAME_MAX_LEN + 1];
    struct person last;
    json_t *change[LIST_MAX];
};

static int history_collect(void *ctx, const struct person *p, const json_t *change)
{
    struct history *h = ctx;
    if (h->n < LIST_MAX) {
        h->version[h->n] = p->version;
        snprintf(h->surname[h->n], sizeof h->surname[0], "%s", p->surname);
        h->change[h->n] = json_deep_copy(change);
        h->last = *p;
        h->n++;
    }
    return 0;
}

static void history_of(struct reg *r, const char *hn, struct history *h)
{
    memset(h, 0, sizeof *h);
    struct reg_result res = {0};
    OK(reg_history(r, hn, history_collect, h, &res));
}

static void history_free(struct history *h)
{
    for (int i = 0; i < h->n; i++)
        json_decref(h->change[i]);
    h->n = 0;
}

static const char *change_str(const struct history *h, int i, const char *member)
{
    return json_string_value(json_object_get(h->change[i], member));
}

struct pending_list {
    int n;
    struct enrol_answer a[LIST_MAX];
};

static int pending_collect(void *ctx, const struct enrol_answer *a)
{
    struct pending_list *l = ctx;
    if (l->n < LIST_MAX)
        l->a[l->n++] = *a;
    return 0;
}

static const struct enrol_answer *pending_find(const struct pending_list *l, const char *id)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->a[i].enrolment_id, id) == 0)
            return &l->a[i];
    return NULL;
}

static bool has_candidate(const struct enrol_answer *a, const char *c)
{
    for (unsigned i = 0; i < a->ncandidates; i++)
        if (strcmp(a->candidates[i], c) == 0)
            return true;
    return false;
}

/* ---- reading the database behind the register's back (after reg_close) -------------- */

struct raw_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_column_family_handle_t *cf[CF_COUNT + 1];
};

static void raw_open(const char *dir, bool read_only, struct raw_db *d)
{
    char path[128];
    snprintf(path, sizeof path, "%s/db", dir);
    const char *names[CF_COUNT + 1] = {"default"};
    const rocksdb_options_t *cf_opts[CF_COUNT + 1];
    d->opts = rocksdb_options_create();
    /* No compression: whatever a flush writes to SST is there byte for byte. */
    rocksdb_options_set_compression(d->opts, rocksdb_no_compression);
    for (int i = 0; i <= CF_COUNT; i++) {
        if (i > 0)
            names[i] = store_cf_name((enum store_cf)(i - 1));
        cf_opts[i] = d->opts;
    }
    char *err = NULL;
    d->db = read_only ? rocksdb_open_for_read_only_column_families(d->opts, path, CF_COUNT + 1,
                                                                   names, cf_opts, d->cf, 0, &err)
                      : rocksdb_open_column_families(d->opts, path, CF_COUNT + 1, names, cf_opts,
                                                     d->cf, &err);
    if (err)
        fail_msg("cannot open %s: %s", path, err);
}

static void raw_close(struct raw_db *d)
{
    for (int i = 0; i <= CF_COUNT; i++)
        rocksdb_column_family_handle_destroy(d->cf[i]);
    rocksdb_close(d->db);
    rocksdb_options_destroy(d->opts);
}

/* Number of keys in a column family (cf: index into CF_*, +1 for "default"). */
static int raw_count(struct raw_db *d, enum store_cf cf)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(d->db, ro, d->cf[cf + 1]);
    int n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
        n++;
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return n;
}

/* Closes the register and counts the keys of every column family; `again`: reopens it. */
static void count_stored(struct fx *f, int n[CF_COUNT], bool again)
{
    reg_close(f->r);
    f->r = NULL;
    struct raw_db d;
    raw_open(f->dir, true, &d);
    for (int cf = 0; cf < CF_COUNT; cf++)
        n[cf] = raw_count(&d, (enum store_cf)cf);
    raw_close(&d);
    if (again)
        fx_reopen(f, NOW_2026_06_01);
}

/* ---- the write-ahead logs ------------------------------------------------------------- */

static int count_wal_files(const char *register_dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/db", register_dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".log") == 0;
    }
    closedir(d);
    return n;
}

/* A daemon that only answers verifications writes nothing to the register;
 * restarted again and again, it must not leave a write-ahead log each time. */
static void test_few_write_ahead_logs(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1];
    json_t *rec = adult("KIT0001-000301", "Mwangi", "Wanjiru", "female", "1990-02-14", "30111222");
    enrol_ok(f->r, rec, hn);
    for (int i = 0; i < 7; i++)
        fx_reopen(f, NOW_2026_06_01);
    int n = count_wal_files(f->dir);
    if (n > 2)
        fail_msg("%d write-ahead logs after 8 sessions", n);
    struct person p;
    get(f->r, hn, &p); /* and nothing was lost on the way */
    assert_string_equal(p.surname, "Mwangi");
}

/* The register grows with the population: it keeps a share of the open
 * files limit as it is at open (never under OPEN_FILES_MIN) open, not every
 * file it has. */
static void test_open_files_bounded(void **state)
{
    struct fx *f = *state;
    char db[160];
    snprintf(db, sizeof db, "%s/db", f->dir);
    struct rlimit old;
    const rlim_t limits[] = {1024, 300};
    const long want[] = {(1024 - OPEN_FILES_RESERVE) * OPEN_FILES_REGISTER_PERCENT / 100,
                         OPEN_FILES_MIN};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rocks_lower_open_files(limits[i], &old), 0);
        fx_reopen(f, NOW_2026_06_01);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        assert_int_equal(rocks_option(db, "max_open_files"), want[i]);
    }
}

/* ---- enrolment -------------------------------------------------------------------------- */

static void test_enrol_assigns_number(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1], hn2[HN_LEN + 1];
    json_t *rec = adult("KIT0042-000001", "Otieno", "Akinyi", "female", "1990-04-12", "23456789");
    json_object_set_new(rec, "other_names", json_string("Grace"));
    enrol_ok(f->r, rec, hn);

    struct person p;
    get(f->r, hn, &p);
    assert_int_equal(p.version, 1);
    assert_int_equal(p.status, STATUS_ACTIVE);
    assert_int_equal(p.bio_status, BIO_CAPTURED);
    assert_string_equal(p.surname, "Otieno");
    assert_string_equal(p.first_name, "Akinyi");
    assert_string_equal(p.other_names, "Grace");
    assert_int_equal(p.sex, SEX_FEMALE);
    char dob[11];
    date_format(&p.dob, p.dob_year_only, dob);
    assert_string_equal(dob, "1990-04-12");
    assert_string_equal(p.birth_county, "042");
    assert_string_equal(p.birth_country, "");
    assert_int_equal(p.citizenship, CIT_KENYAN_BIRTH);
    assert_string_equal(p.res_county, "047");
    assert_string_equal(p.res_sub_county, "Westlands");
    assert_string_equal(p.res_ward, "Parklands");
    assert_string_equal(p.res_village, "Highridge");
    assert_int_equal(p.marital, MARITAL_MARRIED);
    assert_string_equal(p.phone, "+254712345678");
    assert_string_equal(p.email, "akinyi@example.ke");
    assert_int_equal(p.ndocs, 1);
    assert_int_equal(p.docs[0].type, DOC_NATIONAL_ID);
    assert_string_equal(p.docs[0].number, "23456789");
    assert_string_equal(p.docs[0].issuer, "NRB");
    assert_string_equal(p.enrolment.id, "KIT0042-000001");
    assert_string_equal(p.enrolment.officer, "OFF-1187");
    assert_string_equal(p.enrolment.centre, "KIT0042");
    assert_int_equal(p.enrolment.captured_at, NOW_2026_06_01 - 1800);
    assert_int_equal(p.updated_at, NOW_2026_06_01);
    assert_int_equal(p.death_date.year, 0);
    assert_string_equal(p.mother_hn, "");

    /* The record's JSON form carries no biometrics. */
    json_t *out = person_to_json(&p);
    assert_null(json_object_get(out, "biometrics"));
    assert_string_equal(json_string_value(json_object_get(out, "biometric_status")), "captured");
    json_decref(out);

    struct enrol_answer a;
    struct reg_result res = {0};
    OK(reg_enrolment_status(f->r, "KIT0042-000001", &a, &res));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    assert_string_equal(a.hn, hn);
    lookup_is(f->r, NULL, "23456789", hn);
    lookup_is(f->r, "national_id", "23456789", hn);

    /* A second person gets another number. */
    enrol_ok(f->r, adult("KIT0042-000002", "Kiprop", "Kibet", "male", "1985-11-30", "11223344"),
             hn2);
    assert_string_not_equal(hn, hn2);
    get(f->r, hn2, &p);
    assert_string_equal(p.surname, "Kiprop");
    assert_int_equal(p.sex, SEX_MALE);

    /* Reads of numbers that are malformed or unissued. */
    char none[HN_LEN + 1];
    unissued_hn(none);
    expect(reg_get(f->r, none, &p, &res), &res, REG_ENOTFOUND, "huduma_number", "unissued");
    char bad[HN_LEN + 1];
    memcpy(bad, hn, sizeof bad);
    bad[HN_LEN - 1] = (char)('0' + (bad[HN_LEN - 1] - '0' + 1) % 10);
    expect(reg_get(f->r, bad, &p, &res), &res, REG_EINVALID, "huduma_number", "bad check digit");
    expect(reg_get(f->r, "17212496164", &p, &res), &res, REG_EINVALID, "huduma_number",
           "11 digits");
}

static void test_enrol_is_idempotent(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1], hn2[HN_LEN + 1], hn3[HN_LEN + 1];
    json_t *rec = adult("KIT0042-000101", "Mutua", "Mwende", "female", "1992-07-01", "24681357");
    struct enrol_answer a;
    struct reg_result res = {0};
    OK(reg_enrol(f->r, rec, &a, &res));
    assert_int_equal(a.outcome, ENROL_ASSIGNED);
    memcpy(hn, a.hn, sizeof hn);

    for (int i = 0; i < 2; i++) {
        memset(&a, 0x5a, sizeof a);
        OK(reg_enrol(f->r, rec, &a, &res));
        assert_int_equal(a.outcome, ENROL_REPLAYED);
        assert_false(a.pending_replayed);
        assert_string_equal(a.hn, hn);
        assert_string_equal(a.enrolment_id, "KIT0042-000101");
    }
    struct person p;
    get(f->r, hn, &p);
    assert_int_equal(p.version, 1);
    lookup_is(f->r, NULL, "24681357", hn);

    /* Only that exact id has an answer: not a longer one that starts the same way. */
    char longer[ID_MAX_LEN + 8];
    memset(longer, 'K', ID_MAX_LEN);
    longer[ID_MAX_LEN] = '\0';
    json_t *long_rec = adult(longer, "Mutua", "Kyalo", "male", "1991-07-01", "24681358");
    enrol_ok(f->r, long_rec, hn2);
    OK(reg_enrolment_status(f->r, longer, &a, &res));
    assert_string_equal(a.hn, hn2);
    strcat(longer, "X");
    enrolment_unknown(f->r, longer);
    enrolment_unknown(f->r, "KIT0042-00010");

    /* Another enrolment id with the same document is still refused. */
    json_t *other =
        adult("KIT0042-000102", "Njoroge", "Wambui", "female", "1993-01-01", "24681357");
    refused(f->r, other, false, REG_ECONFLICT, "documents[0].number");
    lookup_is(f->r, NULL, "24681357", hn);

    struct history h;
    history_of(f->r, hn, &h);
    assert_int_equal(h.n, 1);
    history_free(&h);
    int n[CF_COUNT];
    count_stored(f, n, true);
    assert_int_equal(n[CF_PERSONS], 2);
    assert_int_equal(n[CF_HISTORY], 2);
    assert_int_equal(n[CF_BIOMETRICS], 2);
    assert_int_equal(n[CF_PENDING], 0);

    /* After a restart: the same answer, and the next number is a new one. */
    OK(reg_enrol(f->r, rec, &a, &res));
    assert_int_equal(a.outcome, ENROL_REPLAYED);
    assert_string_equal(a.hn, hn);
    json_decref(rec);
    enrol_ok(f->r, adult("KIT0042-000103", "Chege", "Kamau", "male", "1979-02-14", "13572468"),
             hn3);
    assert_string_not_equal(hn3, hn);
    assert_string_not_equal(hn3, hn2);
    count_stored(f, n, false);
    assert_int_equal(n[CF_PERSONS], 3);
}

static void test_document_rule(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1], hn2[HN_LEN + 1];
    json_t *rec = adult("KIT0042-000201", "Onyango", "Achieng", "female", "1987-09-09", "23456789");
    json_array_append_new(sub(rec, "documents"),
                          json_pack("{s:s, s:s, s:s}", "type", "passport", "number", "AK123456",
                                    "issued", "2019-03-01"));
    enrol_ok(f->r, rec, hn);

    /* The same national id typed with a hyphen. */
    refused(f->r, adult("KIT0042-000202", "Barasa", "Wafula", "male", "1980-01-01", "2345-6789"),
            false, REG_ECONFLICT, "documents[0].number");
    /* The same passport in lower case, behind a number nobody holds. */
    rec = adult("KIT0042-000203", "Barasa", "Wafula", "male", "1980-01-01", "99887766");
    json_array_append_new(sub(rec, "documents"),
                          json_pack("{s:s, s:s}", "type", "passport", "number", "ak-123456"));
    refused(f->r, rec, false, REG_ECONFLICT, "documents[1].number");
    lookup_is(f->r, NULL, "99887766", NULL); /* its claim was not kept */

    /* The same document twice in one record. */
    rec = adult("KIT0042-000204", "Barasa", "Wafula", "male", "1980-01-01", "55667788");
    json_array_append_new(sub(rec, "documents"), national_id("5566/7788"));
    refused(f->r, rec, false, REG_EINVALID, "documents[1].number");

    /* Look-ups fold the number the same way. */
    lookup_is(f->r, NULL, "23-45-67-89", hn);
    lookup_is(f->r, "passport", "ak123456", hn);
    lookup_is(f->r, "national_id", "AK123456", NULL);
    struct reg_result res = {0};
    char out[HN_LEN + 1];
    expect(reg_lookup_document(f->r, "dna_profile", "AK123456", out, &res), &res, REG_EINVALID,
           "type", "unknown type");
    expect(reg_lookup_document(f->r, NULL, "", out, &res), &res, REG_EINVALID, "number",
           "empty number");

    /* Numbers are unique per type: the same digits as a passport are another document. */
    rec = adult("KIT0042-000205", "Barasa", "Wafula", "male", "1980-01-01", "55667788");
    json_array_append_new(sub(rec, "documents"),
                          json_pack("{s:s, s:s}", "type", "passport", "number", "23456789"));
    enrol_ok(f->r, rec, hn2);
    lookup_is(f->r, "passport", "23456789", hn2);
    lookup_is(f->r, "national_id", "23456789", hn);
    int n[CF_COUNT];
    count_stored(f, n, false);
    assert_int_equal(n[CF_PERSONS], 2);
}

/* ---- deduplication and adjudication ------------------------------------------------------ */

static void test_demographic_dedup(void **state)
{
    struct fx *f = *state;
    char a[HN_LEN + 1], b[HN_LEN + 1], e[HN_LEN + 1], other[HN_LEN + 1];
    struct enrol_answer ans;
    struct reg_result res = {0};
    enrol_ok(f->r, adult("KIT-A", "Wanjiru", "Grace", "female", "1988-03-15", "30000001"), a);

    /* Not duplicates: another date of birth, or another sex. */
    enrol_ok(f->r, adult("KIT-X", "Wanjiru", "Grace", "female", "1988-03-16", "30000091"), other);
    enrol_ok(f->r, adult("KIT-Y", "Wanjiru", "Grace", "intersex", "1988-03-15", "30000092"), other);

    /* Other case: held, with the first person as candidate. */
    json_t *rb = adult("KIT-B", "WANJIRU", "grace", "female", "1988-03-15", "30000002");
    OK(reg_enrol(f->r, rb, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_false(ans.pending_replayed);
    assert_string_equal(ans.hn, "");
    assert_int_equal(ans.ncandidates, 1);
    assert_string_equal(ans.candidates[0], a);
    OK(reg_enrol(f->r, rb, &ans, &res)); /* a resubmission: the same answer, candidates too */
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_true(ans.pending_replayed);
    assert_int_equal(ans.ncandidates, 1);
    assert_string_equal(ans.candidates[0], a);
    json_decref(rb);
    OK(reg_enrolment_status(f->r, "KIT-B", &ans, &res));
    assert_int_equal(ans.outcome, ENROL_PENDING);
    /* Its document is held for it: not found, and not free for another. */
    lookup_is(f->r, NULL, "30000002", NULL);
    refused(f->r, adult("KIT-Z", "Kariuki", "Peter", "male", "1970-01-01", "30000002"), false,
            REG_ECONFLICT, "documents[0].number");

    /* Surname and first name swapped; then with an accent. */
    submit(f->r, adult("KIT-C", "Grace", "Wanjiru", "female", "1988-03-15", "30000003"), &ans);
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_int_equal(ans.ncandidates, 2);
    assert_true(has_candidate(&ans, a));
    assert_true(has_candidate(&ans, "pending:KIT-B"));
    json_t *rd = adult("KIT-D", "Wanjirú", "Grace", "female", "1988-03-15", "30000004");
    OK(reg_enrol(f->r, rd, &ans, &res));
    json_decref(rd);
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_int_equal(ans.ncandidates, 3);
    assert_true(has_candidate(&ans, a));
    assert_true(has_candidate(&ans, "pending:KIT-B"));
    assert_true(has_candidate(&ans, "pending:KIT-C"));

    static struct pending_list pl;
    memset(&pl, 0, sizeof pl);
    OK(reg_pending(f->r, pending_collect, &pl, &res));
    assert_int_equal(pl.n, 3);
    const struct enrol_answer *pb = pending_find(&pl, "KIT-B");
    assert_non_null(pb);
    assert_int_equal(pb->outcome, ENROL_PENDING);
    assert_int_equal(pb->ncandidates, 1);
    assert_string_equal(pb->candidates[0], a);
    assert_non_null(pending_find(&pl, "KIT-C"));
    assert_non_null(pending_find(&pl, "KIT-D"));

    /* B is a different person: a new number, with its document. */
    OK(reg_adjudicate(f->r, "KIT-B", NULL, &ADJUDICATION, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_ASSIGNED);
    assert_true(hn_is_well_formed(ans.hn));
    assert_string_not_equal(ans.hn, a);
    memcpy(b, ans.hn, sizeof b);
    OK(reg_enrolment_status(f->r, "KIT-B", &ans, &res));
    assert_int_equal(ans.outcome, ENROL_ASSIGNED);
    assert_string_equal(ans.hn, b);
    struct person p;
    get(f->r, b, &p);
    assert_string_equal(p.surname, "WANJIRU");
    assert_int_equal(p.version, 1);
    assert_int_equal(p.status, STATUS_ACTIVE);
    assert_int_equal(p.bio_status, BIO_CAPTURED);
    lookup_is(f->r, NULL, "30000002", b);
    struct history h;
    history_of(f->r, b, &h);
    assert_int_equal(h.n, 1);
    assert_string_equal(change_str(&h, 0, "kind"), "adjudicated");
    assert_string_equal(change_str(&h, 0, "officer"), "ADJ-0007");
    history_free(&h);
    expect(reg_adjudicate(f->r, "KIT-B", NULL, &ADJUDICATION, &ans, &res), &res, REG_ENOTFOUND,
           "enrolment.id", "decided twice");

    /* C is the same person as A: refused, and its document released. */
    OK(reg_adjudicate(f->r, "KIT-C", a, &ADJUDICATION, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_REFUSED_DUP);
    assert_string_equal(ans.hn, a);
    OK(reg_enrolment_status(f->r, "KIT-C", &ans, &res));
    assert_int_equal(ans.outcome, ENROL_REFUSED_DUP);
    assert_string_equal(ans.hn, a);
    json_t *rc = adult("KIT-C", "Grace", "Wanjiru", "female", "1988-03-15", "30000003");
    OK(reg_enrol(f->r, rc, &ans, &res)); /* a resubmission gets the refusal again */
    json_decref(rc);
    assert_int_equal(ans.outcome, ENROL_REFUSED_DUP);
    assert_string_equal(ans.hn, a);
    lookup_is(f->r, NULL, "30000003", NULL);
    enrol_ok(f->r, adult("KIT-E", "Kariuki", "Peter", "male", "1970-01-01", "30000003"), e);
    lookup_is(f->r, NULL, "30000003", e);

    /* Only D is left; the blocking list now names A and B, and D still pending. */
    memset(&pl, 0, sizeof pl);
    OK(reg_pending(f->r, pending_collect, &pl, &res));
    assert_int_equal(pl.n, 1);
    assert_string_equal(pl.a[0].enrolment_id, "KIT-D");
    submit(f->r, adult("KIT-F", "grace", "WANJIRU", "female", "1988-03-15", "30000006"), &ans);
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_int_equal(ans.ncandidates, 3);
    assert_true(has_candidate(&ans, a));
    assert_true(has_candidate(&ans, b));
    assert_true(has_candidate(&ans, "pending:KIT-D"));
    assert_false(has_candidate(&ans, "pending:KIT-C"));

    /* Adjudication against an unknown person changes nothing. */
    char none[HN_LEN + 1];
    unissued_hn(none);
    expect(reg_adjudicate(f->r, "KIT-D", none, &ADJUDICATION, &ans, &res), &res, REG_ENOTFOUND,
           "huduma_number", "unknown same_as");
    struct change_note no_officer = {.reason = "checked"};
    expect(reg_adjudicate(f->r, "KIT-D", NULL, &no_officer, &ans, &res), &res, REG_EINVALID,
           "officer", "no officer");
    OK(reg_enrolment_status(f->r, "KIT-D", &ans, &res));
    assert_int_equal(ans.outcome, ENROL_PENDING);

    /* A, X, Y, B and E have numbers. */
    int n[CF_COUNT];
    count_stored(f, n, true);
    assert_int_equal(n[CF_PERSONS], 5);
    assert_int_equal(n[CF_PENDING], 2);

    /* same_person may name only a candidate: E is a person, but no search put
     * E forward for F (A, B, pending D) nor for D (A, pending B, pending C). */
    expect(reg_adjudicate(f->r, "KIT-F", e, &ADJUDICATION, &ans, &res), &res, REG_EINVALID,
           "huduma_number", "same_as not a candidate");
    expect(reg_adjudicate(f->r, "KIT-D", e, &ADJUDICATION, &ans, &res), &res, REG_EINVALID,
           "huduma_number", "same_as not a candidate");
    OK(reg_enrolment_status(f->r, "KIT-F", &ans, &res));
    assert_int_equal(ans.outcome, ENROL_PENDING);
    /* A held candidate decided since counts as the person it became: D was
     * held beside pending B, and B is now number b. */
    OK(reg_adjudicate(f->r, "KIT-D", b, &ADJUDICATION, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_REFUSED_DUP);
    assert_string_equal(ans.hn, b);
    OK(reg_adjudicate(f->r, "KIT-F", b, &ADJUDICATION, &ans, &res));
    assert_int_equal(ans.outcome, ENROL_REFUSED_DUP);
    count_stored(f, n, false);
    assert_int_equal(n[CF_PERSONS], 5);
    assert_int_equal(n[CF_PENDING], 0);
}

/* ---- the record rules ------------------------------------------------------------------- */

static json_t *valid(const char *id)
{
    return adult(id, "Ruto", "Chebet", "female", "1995-12-24", "87654321");
}

static void test_rules(void **state)
{
    struct fx *f = *state;
    struct reg *r = f->r;
    json_t *rec;

    rec = valid("R-01");
    json_object_del(rec, "surname");
    refused(r, rec, false, REG_EINVALID, "surname");

    rec = valid("R-02");
    json_object_set_new(rec, "surname", json_string(""));
    refused(r, rec, false, REG_EINVALID, "surname");

    rec = valid("R-03");
    json_object_set_new(sub(rec, "place_of_birth"), "county", json_string("048"));
    refused(r, rec, false, REG_EINVALID, "place_of_birth.county");

    rec = valid("R-04");
    json_object_set_new(sub(rec, "residence"), "county", json_string("000"));
    refused(r, rec, false, REG_EINVALID, "residence.county");

    rec = valid("R-05");
    json_object_set_new(rec, "date_of_birth", json_string("2023-02-29"));
    refused(r, rec, false, REG_EINVALID, "date_of_birth");

    rec = valid("R-06");
    json_object_set_new(rec, "date_of_birth", json_string("2026-06-02"));
    refused(r, rec, false, REG_EINVALID, "date_of_birth");

    rec = valid("R-07");
    json_object_set_new(rec, "date_of_birth", json_string("1879-12-31"));
    refused(r, rec, false, REG_EINVALID, "date_of_birth");

    rec = valid("R-08");
    json_object_del(rec, "documents");
    refused(r, rec, false, REG_EINVALID, "documents");

    rec = valid("R-09");
    json_object_set_new(rec, "documents", json_array());
    refused(r, rec, false, REG_EINVALID, "documents");

    rec = valid("R-10");
    json_object_del(rec, "biometrics");
    refused(r, rec, false, REG_EINVALID, "biometrics");

    rec = valid("R-11");
    json_object_set_new(rec, "biometrics", json_null());
    refused(r, rec, false, REG_EINVALID, "biometrics");

    rec = child("R-12", "Ruto", "Kiptoo", "male", "2022-05-01", "BC-2022-000001");
    json_object_set_new(rec, "biometrics", biometrics(12));
    refused(r, rec, false, REG_EINVALID, "biometrics");

    rec = child("R-13", "Ruto", "Kiptoo", "male", "2022-05-01", "BC-2022-000001");
    json_object_set_new(rec, "biometric_exemption", json_string("too young"));
    refused(r, rec, false, REG_EINVALID, "biometric_exemption");

    rec = valid("R-14");
    json_object_set_new(rec, "citizenship", json_pack("{s:s}", "type", "foreign"));
    refused(r, rec, false, REG_EINVALID, "citizenship.nationality");

    rec = valid("R-15");
    json_object_set_new(rec, "citizenship",
                        json_pack("{s:s, s:s}", "type", "foreign", "nationality", "KE"));
    refused(r, rec, false, REG_EINVALID, "citizenship.nationality");

    rec = valid("R-16");
    json_object_set_new(rec, "citizenship",
                        json_pack("{s:s, s:s}", "type", "birth", "nationality", "UG"));
    refused(r, rec, false, REG_EINVALID, "citizenship.nationality");

    rec = valid("R-17");
    json_object_set_new(rec, "place_of_birth", json_pack("{s:s}", "country", "KE"));
    refused(r, rec, false, REG_EINVALID, "place_of_birth.country");

    rec = valid("R-18");
    json_object_set_new(rec, "huduma_number", json_string("172124961642"));
    refused(r, rec, false, REG_EINVALID, "huduma_number");

    rec = valid("R-19");
    json_object_set_new(rec, "status", json_string("active"));
    refused(r, rec, false, REG_EINVALID, "status");

    char long_name[NAME_MAX_LEN + 2];
    memset(long_name, 'a', NAME_MAX_LEN + 1);
    long_name[0] = 'K';
    long_name[NAME_MAX_LEN + 1] = '\0';
    rec = valid("R-20");
    json_object_set_new(rec, "surname", json_string(long_name));
    refused(r, rec, false, REG_EINVALID, "surname");

    rec = valid("R-21");
    json_object_set_new(rec, "dna", json_string("ACGT"));
    refused(r, rec, false, REG_EINVALID, "dna");

    rec = valid("R-22");
    json_object_set_new(sub(rec, "residence"), "gps", json_string("-1.2921,36.8219"));
    refused(r, rec, false, REG_EINVALID, "residence.gps");

    rec = valid("R-23");
    json_object_set_new(sub(rec, "biometrics"), "dna", json_string("ACGT"));
    refused(r, rec, false, REG_EINVALID, "biometrics.dna");

    rec = valid("R-24");
    json_object_set_new(rec, "sex", json_integer(1));
    refused(r, rec, false, REG_EINVALID, "sex");

    rec = valid("R-25");
    json_object_set_new(rec, "sex", json_string("f"));
    refused(r, rec, false, REG_EINVALID, "sex");

    rec = valid("R-26");
    json_object_set_new(rec, "surname", json_string("Ru\nto"));
    refused(r, rec, false, REG_EINVALID, "surname");

    rec = valid("R-27");
    json_object_set_new(rec, "phone", json_string("0712345678"));
    refused(r, rec, false, REG_EINVALID, "phone");

    rec = valid("R-28");
    json_object_set_new(json_array_get(sub(rec, "documents"), 0), "expires",
                        json_string("2008-05-01"));
    refused(r, rec, false, REG_EINVALID, "documents[0].expires");

    rec = valid("R-29");
    json_object_set_new(sub(rec, "enrolment"), "captured_at", json_string("2026-06-02T09:00:00Z"));
    refused(r, rec, false, REG_EINVALID, "enrolment.captured_at");

    rec = valid("R 30");
    refused(r, rec, false, REG_EINVALID, "enrolment.id");

    rec = valid("R-31");
    json_object_del(sub(rec, "enrolment"), "id");
    refused(r, rec, false, REG_EINVALID, "enrolment.id");

    rec = valid("R-32");
    json_object_set_new(rec, "parents", json_pack("{s:s}", "mother", "123456789012"));
    refused(r, rec, false, REG_EINVALID, "parents.mother");

    refused(r, json_string("not a record"), false, REG_EINVALID, "");

    /* None of them left a trace: the document is free, nobody is stored. */
    lookup_is(r, NULL, "87654321", NULL);
    int n[CF_COUNT];
    count_stored(f, n, true);
    for (int cf = 0; cf < CF_COUNT; cf++)
        if (cf != CF_METADATA && n[cf] != 0)
            fail_msg("refused enrolments left %d keys in %s", n[cf], store_cf_name(cf));
    r = f->r;

    /* An exemption with a reason is accepted, under a refused enrolment id. */
    char hn[HN_LEN + 1];
    rec = valid("R-10");
    json_object_del(rec, "biometrics");
    json_object_set_new(rec, "biometric_exemption", json_string("no fingers since an accident"));
    enrol_ok(r, rec, hn);
    struct person p;
    get(r, hn, &p);
    assert_int_equal(p.bio_status, BIO_EXEMPT);
    assert_string_equal(p.bio_exemption, "no fingers since an accident");
    assert_null(due_date(r, "2100-01-01", hn));

    /* A foreign national born abroad, with a year-only date of birth. */
    rec = adult("R-40", "Museveni", "Akello", "female", "1961", "AL000123");
    json_object_set_new(rec, "citizenship",
                        json_pack("{s:s, s:s}", "type", "foreign", "nationality", "UG"));
    json_object_set_new(rec, "place_of_birth", json_pack("{s:s}", "country", "UG"));
    json_object_set_new(json_array_get(sub(rec, "documents"), 0), "type", json_string("alien_id"));
    enrol_ok(r, rec, hn);
    get(r, hn, &p);
    assert_int_equal(p.citizenship, CIT_FOREIGN);
    assert_string_equal(p.nationality, "UG");
    assert_string_equal(p.birth_country, "UG");
    assert_true(p.dob_year_only);
    assert_int_equal(p.dob.year, 1961);
}

/* ---- corrections and history ------------------------------------------------------------ */

static void test_corrections(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1];
    enrol_ok(f->r, adult("KIT-K1", "Otieno", "Akinyi", "female", "1990-04-12", "23456789"), hn);
    fx_reopen(f, NOW_2026_06_01 + 86400); /* corrected the next day */
    struct reg_result res = {0};
    uint32_t version = 0;

    json_t *ch = json_pack("{s:s}", "surname", "Odhiambo");
    OK(reg_correct(f->r, hn, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 2);
    struct person p;
    get(f->r, hn, &p);
    assert_int_equal(p.version, 2);
    assert_string_equal(p.surname, "Odhiambo");
    assert_string_equal(p.first_name, "Akinyi");
    assert_int_equal(p.updated_at, NOW_2026_06_01 + 86400);
    assert_string_equal(p.enrolment.id, "KIT-K1");
    assert_int_equal(p.bio_status, BIO_CAPTURED);
    assert_int_equal(p.status, STATUS_ACTIVE);

    struct history h;
    history_of(f->r, hn, &h);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.version[0], 1);
    assert_int_equal(h.version[1], 2);
    assert_string_equal(h.surname[0], "Otieno");
    assert_string_equal(h.surname[1], "Odhiambo");
    assert_string_equal(change_str(&h, 0, "kind"), "enrolment");
    assert_string_equal(change_str(&h, 0, "officer"), "OFF-1187");
    assert_int_equal(json_integer_value(json_object_get(h.change[0], "at")), NOW_2026_06_01);
    assert_string_equal(change_str(&h, 1, "kind"), "correction");
    assert_string_equal(change_str(&h, 1, "reason"), "surname changed on marriage");
    assert_string_equal(change_str(&h, 1, "officer"), "OFF-2001");
    assert_string_equal(change_str(&h, 1, "evidence"), "marriage certificate MC-2026-0042");
    assert_int_equal(json_integer_value(json_object_get(h.change[1], "at")),
                     NOW_2026_06_01 + 86400);
    history_free(&h);

    /* Refusals, each leaving the record at version 2. */
    struct change_note no_evidence = {.reason = "typo", .officer = "OFF-2001"};
    struct change_note empty_evidence = {.reason = "typo", .officer = "OFF-2001", .evidence = ""};
    struct change_note no_reason = {.officer = "OFF-2001", .evidence = "form 12"};
    ch = json_pack("{s:s}", "first_name", "Akinyii");
    expect(reg_correct(f->r, hn, ch, &no_evidence, &version, &res), &res, REG_EINVALID, "evidence",
           "no evidence");
    expect(reg_correct(f->r, hn, ch, &empty_evidence, &version, &res), &res, REG_EINVALID,
           "evidence", "empty evidence");
    expect(reg_correct(f->r, hn, ch, &no_reason, &version, &res), &res, REG_EINVALID, "reason",
           "no reason");
    json_decref(ch);

    static const char *const fixed[][2] = {
        {"status", "{'status': 'deceased'}"},
        {"huduma_number", "{'huduma_number': '172124961642'}"},
        {"version", "{'version': 9}"},
        {"biometric_status", "{'biometric_status': 'exempt'}"},
        {"enrolment", "{'enrolment': {'id': 'KIT-OTHER'}}"},
        {"death", "{'death': {'date': '2026-01-01', 'certificate': 'X1'}}"},
        {"place_of_birth.county", "{'place_of_birth': {'county': '999'}}"},
        {"residence.county", "{'residence': {'county': '048'}}"},
        {"surname", "{'surname': null}"},
        {"surname", "{'surname': 7}"},
        {"dna", "{'dna': 'ACGT'}"},
        {"date_of_birth", "{'date_of_birth': '2027-01-01'}"},
        {"documents", "{'documents': []}"},
        {"documents", "{'documents': null}"},
        {"changes", "{}"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s", fixed[i][1]);
        for (char *c = text; *c; c++)
            *c = *c == '\'' ? '"' : *c;
        ch = json_loads(text, 0, NULL);
        assert_non_null(ch);
        version = 77;
        expect(reg_correct(f->r, hn, ch, &CORRECTION, &version, &res), &res, REG_EINVALID,
               fixed[i][0], text);
        assert_int_equal(version, 77);
        json_decref(ch);
    }
    get(f->r, hn, &p);
    assert_int_equal(p.version, 2);
    assert_string_equal(p.surname, "Odhiambo");
    assert_string_equal(p.birth_county, "042");
    history_of(f->r, hn, &h);
    assert_int_equal(h.n, 2);
    history_free(&h);

    /* null removes an optional member. */
    ch = json_pack("{s:n, s:s}", "phone", "marital_status", "widowed");
    OK(reg_correct(f->r, hn, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 3);
    get(f->r, hn, &p);
    assert_string_equal(p.phone, "");
    assert_int_equal(p.marital, MARITAL_WIDOWED);
    assert_string_equal(p.email, "akinyi@example.ke");

    char none[HN_LEN + 1];
    unissued_hn(none);
    ch = json_pack("{s:s}", "surname", "Odhiambo");
    expect(reg_correct(f->r, none, ch, &CORRECTION, &version, &res), &res, REG_ENOTFOUND,
           "huduma_number", "unknown person");
    json_decref(ch);
    expect(reg_history(f->r, none, history_collect, &h, &res), &res, REG_ENOTFOUND, "huduma_number",
           "history of an unknown person");
}

static void test_correction_moves_documents(void **state)
{
    struct fx *f = *state;
    char a[HN_LEN + 1], b[HN_LEN + 1], c[HN_LEN + 1];
    enrol_ok(f->r, adult("KIT-M1", "Kamau", "John", "male", "1975-05-05", "11111111"), a);
    enrol_ok(f->r, adult("KIT-M2", "Mwangi", "Mary", "female", "1982-08-08", "22222222"), b);
    struct reg_result res = {0};
    uint32_t version;

    json_t *ch = json_pack("{s:[o]}", "documents", national_id("33333333"));
    OK(reg_correct(f->r, a, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 2);
    lookup_is(f->r, NULL, "11111111", NULL);
    lookup_is(f->r, NULL, "33333333", a);
    struct person p;
    get(f->r, a, &p);
    assert_int_equal(p.ndocs, 1);
    assert_string_equal(p.docs[0].number, "33333333");

    /* The released number can be enrolled again. */
    enrol_ok(f->r, adult("KIT-M3", "Otieno", "Paul", "male", "1991-01-01", "1111-1111"), c);
    lookup_is(f->r, NULL, "11111111", c);

    /* A correction may not take another person's document. */
    ch = json_pack("{s:[o]}", "documents", national_id("2222/2222"));
    version = 0;
    expect(reg_correct(f->r, a, ch, &CORRECTION, &version, &res), &res, REG_ECONFLICT,
           "documents[0].number", "another's document");
    json_decref(ch);
    assert_int_equal(version, 0);
    get(f->r, a, &p);
    assert_int_equal(p.version, 2);
    assert_string_equal(p.docs[0].number, "33333333");
    lookup_is(f->r, NULL, "33333333", a);
    lookup_is(f->r, NULL, "22222222", b);

    /* Keeping one's own number and adding another. */
    ch = json_pack("{s:[o, {s:s, s:s}]}", "documents", national_id("33333333"), "type", "kra_pin",
                   "number", "A001234567Z");
    OK(reg_correct(f->r, a, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 3);
    lookup_is(f->r, NULL, "33333333", a);
    lookup_is(f->r, "kra_pin", "a001234567z", a);

    /* A correction of the names moves the person's blocking entry with them. */
    ch = json_pack("{s:s}", "surname", "Kamau-Njoroge");
    OK(reg_correct(f->r, a, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    struct enrol_answer ans;
    submit(f->r, adult("KIT-M4", "KAMAU NJOROGE", "john", "male", "1975-05-05", "44444444"), &ans);
    assert_int_equal(ans.outcome, ENROL_PENDING);
    assert_int_equal(ans.ncandidates, 1);
    assert_string_equal(ans.candidates[0], a);
    char d[HN_LEN + 1];
    enrol_ok(f->r, adult("KIT-M5", "Kamau", "John", "male", "1975-05-05", "55555555"), d);
}

/* ---- births ---------------------------------------------------------------------------------- */

static json_t *birth(const char *id, const char *first, const char *dob, const char *bc,
                     const char *mother, const char *father)
{
    json_t *rec = child(id, "Achieng", first, "female", dob, bc);
    json_t *parents = json_object();
    if (mother)
        json_object_set_new(parents, "mother", json_string(mother));
    if (father)
        json_object_set_new(parents, "father", json_string(father));
    json_object_set_new(rec, "parents", parents);
    return rec;
}

static void test_births(void **state)
{
    struct fx *f = *state;
    char mother[HN_LEN + 1], father[HN_LEN + 1], kid[HN_LEN + 1], kid2[HN_LEN + 1];
    enrol_ok(f->r, adult("KIT-P1", "Achieng", "Mercy", "female", "1994-02-02", "40000001"), mother);
    enrol_ok(f->r, adult("KIT-P2", "Ouma", "Brian", "male", "1990-10-10", "40000002"), father);

    assigned(f->r, birth("BIRTH-0001", "Imani", "2026-01-10", "BC-2026-000123", mother, father),
             true, kid);
    struct person p;
    get(f->r, kid, &p);
    assert_string_equal(p.mother_hn, mother);
    assert_string_equal(p.father_hn, father);
    assert_int_equal(p.bio_status, BIO_EXEMPT_UNDER_6);
    assert_int_equal(p.status, STATUS_ACTIVE);
    assert_int_equal(p.version, 1);
    assert_int_equal(p.docs[0].type, DOC_BIRTH_CERTIFICATE);
    lookup_is(f->r, "birth_certificate", "BC-2026-000123", kid);
    struct history h;
    history_of(f->r, kid, &h);
    assert_int_equal(h.n, 1);
    assert_string_equal(change_str(&h, 0, "kind"), "birth");
    history_free(&h);

    /* Due on the 6th birthday, not before. */
    assert_null(due_date(f->r, "2032-01-09", kid));
    assert_string_equal(due_date(f->r, "2032-01-10", kid), "2032-01-10");
    assert_string_equal(due_date(f->r, "2040-12-31", kid), "2032-01-10");
    assert_null(due_date(f->r, NULL, kid));
    assert_null(due_date(f->r, "2040-12-31", mother));
    struct reg_result res = {0};
    expect(reg_due_biometrics(f->r, "2032", due_collect, &(struct due_list){0}, &res), &res,
           REG_EINVALID, "as_of", "year-only as_of");
    expect(reg_due_biometrics(f->r, "2032-02-30", due_collect, &(struct due_list){0}, &res), &res,
           REG_EINVALID, "as_of", "impossible as_of");

    /* The mother by her enrolment id. */
    json_t *rec = birth("BIRTH-0002", "Zawadi", "2025-11-20", "BC-2025-000777", NULL, NULL);
    json_object_set_new(sub(rec, "parents"), "mother_enrolment", json_string("KIT-P1"));
    assigned(f->r, rec, true, kid2);
    get(f->r, kid2, &p);
    assert_string_equal(p.mother_hn, mother);
    assert_string_equal(p.father_hn, "");
    assert_string_equal(due_date(f->r, "2031-11-20", kid2), "2031-11-20");

    /* Born on 29 February: due on 1 March of a common year, not a day earlier. */
    char leap[HN_LEN + 1];
    assigned(f->r, birth("BIRTH-0013", "Baraka", "2024-02-29", "BC-2024-000229", mother, NULL),
             true, leap);
    assert_null(due_date(f->r, "2030-02-28", leap));
    assert_string_equal(due_date(f->r, "2030-03-01", leap), "2030-03-01");

    /* Refused births. */
    char none[HN_LEN + 1];
    unissued_hn(none);
    refused(f->r, birth("BIRTH-0003", "Neema", "2026-02-01", "BC-2026-000200", father, NULL), true,
            REG_EINVALID, "parents.mother");
    refused(f->r, birth("BIRTH-0004", "Neema", "2026-02-01", "BC-2026-000201", none, NULL), true,
            REG_EINVALID, "parents.mother");
    refused(f->r, birth("BIRTH-0005", "Neema", "2026-02-01", "BC-2026-000202", NULL, NULL), true,
            REG_EINVALID, "parents.mother");
    refused(f->r, birth("BIRTH-0006", "Neema", "2026-02-01", "BC-2026-000203", mother, mother),
            true, REG_EINVALID, "parents.father");
    refused(f->r, birth("BIRTH-0007", "Neema", "2019-03-01", "BC-2026-000204", mother, NULL), true,
            REG_EINVALID, "date_of_birth");
    refused(f->r, birth("BIRTH-0008", "Neema", "1993-03-01", "BC-2026-000205", mother, NULL), true,
            REG_EINVALID, "date_of_birth");
    rec = birth("BIRTH-0009", "Neema", "2026-02-01", "BC-2026-000206", NULL, NULL);
    json_object_set_new(sub(rec, "parents"), "mother_enrolment", json_string("KIT-NOBODY"));
    refused(f->r, rec, true, REG_EINVALID, "parents.mother_enrolment");
    rec = birth("BIRTH-0010", "Neema", "2026-02-01", "BC-2026-000207", mother, NULL);
    json_object_set_new(sub(rec, "parents"), "mother_enrolment", json_string("KIT-P1"));
    refused(f->r, rec, true, REG_EINVALID, "parents.mother_enrolment");
    rec = birth("BIRTH-0011", "Neema", "2026-02-01", "BC-2026-000208", mother, NULL);
    json_object_set_new(rec, "biometrics", biometrics(11));
    refused(f->r, rec, true, REG_EINVALID, "biometrics");
    refused(f->r, birth("BIRTH-0012", "Neema", "2026-02-01", "BC-2026-000123", mother, NULL), true,
            REG_ECONFLICT, "documents[0].number");
    for (int i = 200; i <= 208; i++) {
        char bc[32];
        snprintf(bc, sizeof bc, "BC-2026-000%d", i);
        lookup_is(f->r, NULL, bc, NULL);
    }
}

/* ---- deaths ---------------------------------------------------------------------------------- */

static void test_deaths(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1], q[HN_LEN + 1], kid[HN_LEN + 1];
    struct reg_result res = {0};
    enrol_ok(f->r, adult("KIT-D1", "Omondi", "Tom", "male", "1950-06-06", "50000001"), hn);
    enrol_ok(f->r, adult("KIT-D2", "Nyambura", "Ann", "female", "1990-03-03", "50000002"), q);
    enrol_ok(f->r, child("KIT-D3", "Nyambura", "Baby", "female", "2024-04-04", "BC-2024-000001"),
             kid);

    OK(reg_death(f->r, hn, "2026-05-20", "DC-2026-0042", &DEATH_NOTE, &res));
    struct person p;
    get(f->r, hn, &p);
    assert_int_equal(p.status, STATUS_DECEASED);
    char date[11];
    date_format(&p.death_date, false, date);
    assert_string_equal(date, "2026-05-20");
    assert_string_equal(p.death_certificate, "DC-2026-0042");
    assert_int_equal(p.version, 2);
    assert_string_equal(p.surname, "Omondi");
    json_t *out = person_to_json(&p);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "deceased");
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "death"), "date")),
                        "2026-05-20");
    json_decref(out);
    struct history h;
    history_of(f->r, hn, &h);
    assert_int_equal(h.n, 2);
    assert_string_equal(change_str(&h, 1, "kind"), "death");
    assert_string_equal(change_str(&h, 1, "officer"), "REG-0009");
    assert_int_equal(h.last.status, STATUS_DECEASED);
    history_free(&h);
    lookup_is(f->r, NULL, "50000001", hn); /* the record and its documents stay */

    expect(reg_death(f->r, hn, "2026-05-21", "DC-2026-0043", &DEATH_NOTE, &res), &res,
           REG_ECONFLICT, "huduma_number", "second death");
    get(f->r, hn, &p);
    assert_string_equal(p.death_certificate, "DC-2026-0042");
    assert_int_equal(p.version, 2);

    /* Refused deaths leave the person alive at version 1. */
    expect(reg_death(f->r, q, "1990-03-02", "DC-2026-0050", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "date", "before birth");
    expect(reg_death(f->r, q, "2026-06-02", "DC-2026-0050", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "date", "in the future");
    expect(reg_death(f->r, q, "2026-02-30", "DC-2026-0050", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "date", "impossible date");
    expect(reg_death(f->r, q, "2026", "DC-2026-0050", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "date", "year only");
    expect(reg_death(f->r, q, "2026-05-01", "", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "certificate", "no certificate");
    expect(reg_death(f->r, q, "2026-05-01", "DC 2026 0050", &DEATH_NOTE, &res), &res, REG_EINVALID,
           "certificate", "certificate with spaces");
    expect(reg_death(f->r, q, "2026-05-01", "DC-2026-0050", &(struct change_note){0}, &res), &res,
           REG_EINVALID, "reason", "no note");
    get(f->r, q, &p);
    assert_int_equal(p.status, STATUS_ACTIVE);
    assert_int_equal(p.version, 1);

    /* Documents are not issued to the dead. */
    json_t *doc = json_pack("{s:s, s:s, s:s}", "type", "passport", "number", "AK0000001", "issued",
                            "2026-05-30");
    expect(reg_issue_document(f->r, hn, doc, "OFF-3003", &res), &res, REG_ECONFLICT,
           "huduma_number", "document to the dead");
    json_decref(doc);

    /* A child who dies leaves the list of biometrics due. */
    assert_string_equal(due_date(f->r, "2030-04-04", kid), "2030-04-04");
    OK(reg_death(f->r, kid, "2026-05-31", "DC-2026-0051", &DEATH_NOTE, &res));
    assert_null(due_date(f->r, "2030-04-04", kid));
    get(f->r, kid, &p);
    assert_int_equal(p.status, STATUS_DECEASED);
    assert_int_equal(p.bio_status, BIO_EXEMPT_UNDER_6);
}

/* ---- documents issued -------------------------------------------------------------------- */

static void test_documents_issued(void **state)
{
    struct fx *f = *state;
    char hn[HN_LEN + 1], q[HN_LEN + 1];
    struct reg_result res = {0};
    enrol_ok(f->r, adult("KIT-I1", "Kiptoo", "Daniel", "male", "1983-12-12", "60000001"), hn);
    enrol_ok(f->r, adult("KIT-I2", "Chepkoech", "Faith", "female", "1986-06-16", "60000002"), q);

    json_t *passport =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "passport", "number", "AK7654321", "issuer",
                  "Department of Immigration", "issued", "2026-05-01", "expires", "2036-04-30");
    OK(reg_issue_document(f->r, hn, passport, "OFF-3003", &res));
    lookup_is(f->r, NULL, "AK7654321", hn);
    lookup_is(f->r, "passport", "ak7654321", hn);
    lookup_is(f->r, "national_id", "AK7654321", NULL);

    json_t *licence = json_pack("{s:s, s:s, s:s}", "type", "driving_licence", "number", "DL-998877",
                                "issued", "2026-05-15");
    OK(reg_issue_document(f->r, hn, licence, "OFF-3004", &res));
    json_decref(licence);

    json_t *docs = NULL;
    OK(reg_documents(f->r, hn, &docs, &res));
    assert_int_equal(json_array_size(docs), 2);
    json_t *d0 = json_array_get(docs, 0), *d1 = json_array_get(docs, 1);
    assert_string_equal(json_string_value(json_object_get(d0, "type")), "passport");
    assert_string_equal(json_string_value(json_object_get(d0, "number")), "AK7654321");
    assert_string_equal(json_string_value(json_object_get(d0, "issuer")),
                        "Department of Immigration");
    assert_string_equal(json_string_value(json_object_get(d0, "officer")), "OFF-3003");
    assert_string_equal(json_string_value(json_object_get(d1, "type")), "driving_licence");
    assert_string_equal(json_string_value(json_object_get(d1, "officer")), "OFF-3004");
    json_decref(docs);

    /* The same number for another person, and bad documents, are refused. */
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_ECONFLICT, "number",
           "same passport to another");
    json_object_set_new(passport, "number", json_string("AK-7654321"));
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_ECONFLICT, "number",
           "same passport typed with a hyphen");
    json_object_set_new(passport, "number", json_string("AK1111111"));
    expect(reg_issue_document(f->r, q, passport, NULL, &res), &res, REG_EINVALID, "officer",
           "no officer");
    json_object_del(passport, "issued");
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_EINVALID, "issued",
           "no issue date");
    json_object_set_new(passport, "issued", json_string("2026-05-01"));
    json_object_set_new(passport, "type", json_string("dna_profile"));
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_EINVALID, "type",
           "unknown type");
    json_object_set_new(passport, "type", json_string("passport"));
    json_object_set_new(passport, "expires", json_string("2020-01-01"));
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_EINVALID, "expires",
           "expires before issued");
    json_object_set_new(passport, "issued", json_string("2026-06-02"));
    json_object_set_new(passport, "expires", json_string("2036-06-01"));
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_EINVALID, "issued",
           "issued tomorrow");
    json_object_set_new(passport, "issued", json_string("2026-05-01"));
    char none[HN_LEN + 1];
    unissued_hn(none);
    json_object_set_new(passport, "expires", json_string("2036-01-01"));
    expect(reg_issue_document(f->r, none, passport, "OFF-3003", &res), &res, REG_ENOTFOUND,
           "huduma_number", "unknown person");
    json_decref(passport);
    lookup_is(f->r, NULL, "AK1111111", NULL);

    OK(reg_documents(f->r, q, &docs, &res));
    assert_int_equal(json_array_size(docs), 0);
    json_decref(docs);
    expect(reg_documents(f->r, none, &docs, &res), &res, REG_ENOTFOUND, "huduma_number",
           "documents of nobody");

    /* An issued number is taken for enrolments too. */
    json_t *rec = adult("KIT-I3", "Kiprono", "Eliud", "male", "1984-11-05", "60000003");
    json_array_append_new(sub(rec, "documents"),
                          json_pack("{s:s, s:s}", "type", "passport", "number", "ak7654321"));
    refused(f->r, rec, false, REG_ECONFLICT, "documents[1].number");
    lookup_is(f->r, NULL, "60000003", NULL);

    /* An issued document stays linked when the record lists it and then stops listing it. */
    uint32_t version;
    json_t *ch = json_pack("{s:[o, {s:s, s:s}]}", "documents", national_id("60000001"), "type",
                           "passport", "number", "AK7654321");
    OK(reg_correct(f->r, hn, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    lookup_is(f->r, NULL, "AK7654321", hn);
    ch = json_pack("{s:[o]}", "documents", national_id("60000001"));
    OK(reg_correct(f->r, hn, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 3);
    lookup_is(f->r, NULL, "AK7654321", hn);
    OK(reg_documents(f->r, hn, &docs, &res));
    assert_int_equal(json_array_size(docs), 2);
    json_decref(docs);
    passport = json_pack("{s:s, s:s, s:s}", "type", "passport", "number", "AK7654321", "issued",
                         "2026-05-20");
    expect(reg_issue_document(f->r, q, passport, "OFF-3003", &res), &res, REG_ECONFLICT, "number",
           "issued passport dropped from the holder's record");
    json_decref(passport);
}

/* ---- capture at six ------------------------------------------------------------------------ */

static void test_capture_at_six(void **state)
{
    struct fx *f = *state;
    char kid[HN_LEN + 1], twin[HN_LEN + 1];
    struct reg_result res = {0};
    uint32_t version;
    enrol_ok(f->r, child("KIT-S1", "Wekesa", "Amani", "male", "2020-07-15", "BC-2020-000715"), kid);
    enrol_ok(f->r, child("KIT-S2", "Wekesa", "Baraka", "male", "2020-07-15", "BC-2020-000716"),
             twin);
    struct person p;
    get(f->r, kid, &p);
    assert_int_equal(p.bio_status, BIO_EXEMPT_UNDER_6);
    assert_null(due_date(f->r, "2026-07-14", kid));
    assert_string_equal(due_date(f->r, "2026-07-15", kid), "2026-07-15");

    /* Not before the 6th birthday. */
    json_t *ch = json_object();
    json_object_set_new(ch, "biometrics", biometrics(6));
    expect(reg_correct(f->r, kid, ch, &CORRECTION, &version, &res), &res, REG_EINVALID,
           "biometrics", "capture at 5");

    /* Six weeks later the children are due. */
    fx_reopen(f, NOW_2026_08_01);
    get(f->r, kid, &p);
    assert_int_equal(p.bio_status, BIO_DUE);
    assert_int_equal(p.version, 1);
    assert_string_equal(due_date(f->r, NULL, kid), "2026-07-15");
    assert_string_equal(due_date(f->r, NULL, twin), "2026-07-15");

    OK(reg_correct(f->r, kid, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_int_equal(version, 2);
    get(f->r, kid, &p);
    assert_int_equal(p.bio_status, BIO_CAPTURED);
    assert_null(due_date(f->r, NULL, kid));
    assert_null(due_date(f->r, "2100-01-01", kid));
    assert_string_equal(due_date(f->r, NULL, twin), "2026-07-15");
    get(f->r, twin, &p);
    assert_int_equal(p.bio_status, BIO_DUE);

    /* A correction without biometrics keeps the twin due. */
    ch = json_pack("{s:s}", "first_name", "Baraka Junior");
    OK(reg_correct(f->r, twin, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    assert_string_equal(due_date(f->r, NULL, twin), "2026-07-15");
    int n[CF_COUNT];
    count_stored(f, n, false);
    assert_int_equal(n[CF_BIOMETRICS], 1);
}

/* ---- encryption at rest ---------------------------------------------------------------------- */

static const char *const SECRETS[] = {
    "Zxqvwanjikuplaintext", /* surname */
    "Qjxplaintextakinyi",   /* first name */
    "+254799887766",        /* phone */
    "ZQX987654321",         /* document number */
    "Pxqzvillageplaintext", /* village */
    "Kqzchildplaintext",    /* a child's first name */
    "Zxqvcorrectedplain",   /* a corrected surname */
    "ZQXPASSPORT4242",      /* a document issued */
};
#define N_SECRETS (sizeof SECRETS / sizeof *SECRETS)
#define CLEAR_ID  "KITZQX-CLEARID-000001"
/* Keys in an SST block are stored after the prefix they share with the key
 * before them, so the proof looks for the part of the id no other key has. */
#define CLEAR_ID_TAIL "CLEARID-000001"

static struct {
    int files, sst_files;
    bool found[N_SECRETS];
    bool found_id;
} scan;

static bool contains(const char *buf, size_t len, const char *needle)
{
    return memmem(buf, len, needle, strlen(needle)) != NULL;
}

static int scan_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    char *buf = malloc((size_t)sb->st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb->st_size, fp) : 0;
    fclose(fp);
    if (!buf)
        return -1;
    scan.files++;
    size_t plen = strlen(path);
    if (plen > 4 && strcmp(path + plen - 4, ".sst") == 0 && n > 0)
        scan.sst_files++;
    for (size_t i = 0; i < N_SECRETS; i++)
        scan.found[i] |= contains(buf, n, SECRETS[i]);
    scan.found_id |= contains(buf, n, CLEAR_ID_TAIL);
    free(buf);
    return 0;
}

static void scan_dir(const char *dir)
{
    memset(&scan, 0, sizeof scan);
    char path[128];
    snprintf(path, sizeof path, "%s/db", dir);
    assert_int_equal(nftw(path, scan_one, 16, FTW_PHYS), 0);
    assert_true(scan.files > 0);
    for (size_t i = 0; i < N_SECRETS; i++)
        if (scan.found[i])
            fail_msg("'%s' is stored in clear", SECRETS[i]);
    /* The enrolment id is an index key in clear: the scan does read the data. */
    assert_true(scan.found_id);
}

static void test_encryption_at_rest(void **state)
{
    struct fx *f = *state;
    struct reg_result res = {0};
    char mother[HN_LEN + 1], kid[HN_LEN + 1], other[HN_LEN + 1];
    json_t *rec = adult(CLEAR_ID, SECRETS[0], SECRETS[1], "female", "1991-09-19", SECRETS[3]);
    json_object_set_new(rec, "phone", json_string(SECRETS[2]));
    json_object_set_new(sub(rec, "residence"), "village", json_string(SECRETS[4]));
    enrol_ok(f->r, rec, mother);

    assigned(f->r,
             birth("KITZQX-BIRTH-1", SECRETS[5], "2025-05-05", "BC-2025-424242", mother, NULL),
             true, kid);
    /* A second enrolment of the mother, held for adjudication. */
    struct enrol_answer ans;
    rec = adult("KITZQX-000002", SECRETS[1], SECRETS[0], "female", "1991-09-19", "ZQX55555");
    json_object_set_new(rec, "phone", json_string(SECRETS[2]));
    OK(reg_enrol(f->r, rec, &ans, &res));
    json_decref(rec);
    assert_int_equal(ans.outcome, ENROL_PENDING);

    enrol_ok(f->r, adult("KITZQX-000003", "Kimani", "Joseph", "male", "1977-07-07", "70000001"),
             other);
    json_t *ch = json_pack("{s:s}", "surname", SECRETS[6]);
    uint32_t version;
    OK(reg_correct(f->r, other, ch, &CORRECTION, &version, &res));
    json_decref(ch);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "type", "passport", "number", SECRETS[7], "issued",
                            "2026-05-01");
    OK(reg_issue_document(f->r, other, doc, "OFF-3003", &res));
    json_decref(doc);
    OK(reg_death(f->r, other, "2026-05-30", "DC-2026-0099", &DEATH_NOTE, &res));

    /* Everything is in the write-ahead log after a close. */
    reg_close(f->r);
    f->r = NULL;
    scan_dir(f->dir);

    /* Flushed to uncompressed SST files, still nothing in clear. */
    struct raw_db d;
    raw_open(f->dir, false, &d);
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i <= CF_COUNT; i++) {
        char *err = NULL;
        rocksdb_flush_cf(d.db, fo, d.cf[i], &err);
        if (err)
            fail_msg("flush: %s", err);
    }
    rocksdb_flushoptions_destroy(fo);
    assert_int_equal(raw_count(&d, CF_PERSONS), 3);
    raw_close(&d);
    scan_dir(f->dir);
    assert_true(scan.sst_files > 0);

    /* And the register still reads it all back. */
    fx_reopen(f, NOW_2026_06_01);
    struct person p;
    get(f->r, mother, &p);
    assert_string_equal(p.surname, SECRETS[0]);
    assert_string_equal(p.phone, SECRETS[2]);
    get(f->r, kid, &p);
    assert_string_equal(p.first_name, SECRETS[5]);
    lookup_is(f->r, "passport", SECRETS[7], other);
    lookup_is(f->r, NULL, SECRETS[3], mother);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

#define WORKERS    8 /* each enrols PER_WORKER distinct people */
#define PER_WORKER 50
#define RACERS     8 /* one document number, different people */
#define REPLAYERS  4 /* one enrolment, submitted again and again */
#define TWINS      4 /* one person, enrolled at several kits */
#define THREADS    (WORKERS + RACERS + REPLAYERS + TWINS)

struct job {
    struct reg *r;
    pthread_barrier_t *start;
    int n;
    json_t *rec[PER_WORKER];
    int rc[PER_WORKER];
    struct enrol_answer ans[PER_WORKER];
    struct reg_result res[PER_WORKER];
};

static void *worker(void *arg)
{
    struct job *j = arg;
    pthread_barrier_wait(j->start);
    for (int i = 0; i < j->n; i++)
        j->rc[i] = reg_enrol(j->r, j->rec[i], &j->ans[i], &j->res[i]);
    return NULL;
}

/* Letters for n, so that names differ in what deduplication compares. */
static void letters(unsigned n, char out[4])
{
    out[0] = (char)('a' + n % 26);
    out[1] = (char)('a' + n / 26 % 26);
    out[2] = (char)('a' + n / 676 % 26);
    out[3] = '\0';
}

static int cmp_hn(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void job_failed(int t, int i, const struct job *j)
{
    fail_msg("thread %d, enrolment %d: %d %s: %s", t, i, j->rc[i], j->res[i].field, j->res[i].msg);
}

static void test_concurrency(void **state)
{
    struct fx *f = *state;
    static struct job jobs[THREADS];
    memset(jobs, 0, sizeof jobs);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        struct job *j = &jobs[t];
        j->r = f->r;
        j->start = &start;
        j->n = t < WORKERS ? PER_WORKER : 1;
        for (int i = 0; i < j->n; i++) {
            char id[32], surname[32], doc[32], dob[16], l[4];
            unsigned k = (unsigned)(t * PER_WORKER + i);
            letters(k, l);
            snprintf(id, sizeof id, "KIT%02d-%05d", t, i);
            snprintf(surname, sizeof surname, "Mwangi%s", l);
            snprintf(dob, sizeof dob, "19%02u-%02u-%02u", 50 + k % 40, 1 + k % 12, 1 + k % 28);
            snprintf(doc, sizeof doc, "C%02d%05d", t, i);
            if (t >= WORKERS && t < WORKERS + RACERS)
                snprintf(doc, sizeof doc, "RACE-0001");
            if (t >= WORKERS + RACERS && t < WORKERS + RACERS + REPLAYERS)
                j->rec[i] =
                    adult("KIT-REPLAYED", "Korir", "Edna", "female", "1999-09-09", "REPLAY-0001");
            else if (t >= WORKERS + RACERS + REPLAYERS)
                j->rec[i] = adult(id, "Kiplagat", "Eunice", "female", "1998-08-08", doc);
            else
                j->rec[i] = adult(id, surname, "Njeri", k % 2 ? "female" : "male", dob, doc);
        }
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);

    static char hns[WORKERS * PER_WORKER + 3][HN_LEN + 1];
    int n = 0, race_won = 0, replay_assigned = 0, twin_assigned = 0;
    char race_winner[HN_LEN + 1] = "", replayed[HN_LEN + 1] = "", twin[HN_LEN + 1] = "";
    for (int t = 0; t < THREADS; t++) {
        struct job *j = &jobs[t];
        for (int i = 0; i < j->n; i++) {
            if (j->rc[i] != REG_OK && (t < WORKERS || t >= WORKERS + RACERS))
                job_failed(t, i, j);
            if (t < WORKERS) {
                assert_int_equal(j->ans[i].outcome, ENROL_ASSIGNED);
            } else if (t < WORKERS + RACERS) {
                if (j->rc[i] != REG_OK) {
                    expect(j->rc[i], &j->res[i], REG_ECONFLICT, "documents[0].number", "racer");
                    enrolment_unknown(f->r, enrolment_id(j->rec[i]));
                    continue;
                }
                assert_int_equal(j->ans[i].outcome, ENROL_ASSIGNED);
                race_won++;
                memcpy(race_winner, j->ans[i].hn, HN_LEN + 1);
            } else if (t < WORKERS + RACERS + REPLAYERS) {
                if (j->ans[i].outcome == ENROL_ASSIGNED) {
                    replay_assigned++;
                    memcpy(hns[n++], j->ans[i].hn, HN_LEN + 1);
                } else {
                    assert_int_equal(j->ans[i].outcome, ENROL_REPLAYED);
                }
                if (!replayed[0])
                    memcpy(replayed, j->ans[i].hn, HN_LEN + 1);
                assert_string_equal(j->ans[i].hn, replayed);
                continue;
            } else {
                if (j->ans[i].outcome == ENROL_PENDING)
                    continue; /* checked below, once the first one's number is known */
                assert_int_equal(j->ans[i].outcome, ENROL_ASSIGNED);
                twin_assigned++;
                memcpy(twin, j->ans[i].hn, HN_LEN + 1);
            }
            assert_true(hn_is_well_formed(j->ans[i].hn));
            memcpy(hns[n++], j->ans[i].hn, HN_LEN + 1);
        }
    }
    assert_int_equal(race_won, 1);
    assert_int_equal(replay_assigned, 1);
    assert_int_equal(twin_assigned, 1);
    for (int t = WORKERS + RACERS + REPLAYERS; t < THREADS; t++)
        if (jobs[t].ans[0].outcome == ENROL_PENDING)
            assert_true(has_candidate(&jobs[t].ans[0], twin));

    /* Every number issued is distinct. */
    assert_int_equal(n, WORKERS * PER_WORKER + 3);
    qsort(hns, (size_t)n, sizeof hns[0], cmp_hn);
    for (int i = 1; i < n; i++)
        if (strcmp(hns[i - 1], hns[i]) == 0)
            fail_msg("number %s issued twice", hns[i]);
    lookup_is(f->r, NULL, "RACE0001", race_winner);
    lookup_is(f->r, NULL, "REPLAY0001", replayed);
    lookup_is(f->r, NULL, "C0700049", jobs[7].ans[49].hn);
    struct person p;
    get(f->r, jobs[3].ans[17].hn, &p);
    assert_string_equal(p.enrolment.id, "KIT03-00017");
    assert_string_equal(p.docs[0].number, "C0300017");
    static struct pending_list pl;
    memset(&pl, 0, sizeof pl);
    struct reg_result res = {0};
    OK(reg_pending(f->r, pending_collect, &pl, &res));
    assert_int_equal(pl.n, TWINS - 1);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < jobs[t].n; i++)
            json_decref(jobs[t].rec[i]);

    int counts[CF_COUNT];
    count_stored(f, counts, false);
    assert_int_equal(counts[CF_PERSONS], WORKERS * PER_WORKER + 3);
    assert_int_equal(counts[CF_HISTORY], WORKERS * PER_WORKER + 3);
    assert_int_equal(counts[CF_PENDING], TWINS - 1);
}

/* ---- busy transactions ------------------------------------------------------------- */

/* A change that finds the register busy `busy_for` times: each attempt writes
 * its attempt number first, so a retry that kept an abandoned attempt's
 * write would show. */
struct flaky {
    int calls, busy_for;
};

static int flaky_change(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res)
{
    (void)r;
    struct flaky *f = ctx;
    char attempt[16];
    int n = snprintf(attempt, sizeof attempt, "attempt %d", ++f->calls);
    struct st_err err;
    if (store_txn_put(tx, CF_METADATA, "test.flaky", 10, attempt, (size_t)n, &err) != ST_OK)
        return reg_fail(res, REG_ESTORAGE, NULL, "%s", err.msg);
    if (f->calls <= f->busy_for)
        return reg_fail(res, REG_EBUSY, NULL, "busy, as the test asks");
    return REG_OK;
}

static void test_busy_change_is_retried(void **state)
{
    struct fx *f = *state;
    struct flaky flaky = {0, 2};
    struct reg_result res = {0};
    assert_int_equal(reg_in_txn(f->r, flaky_change, &flaky, &res), REG_OK);
    assert_int_equal(flaky.calls, 3);
    char *val = NULL;
    size_t len = 0;
    struct st_err err;
    assert_int_equal(store_get(reg_store(f->r), CF_METADATA, "test.flaky", 10, &val, &len, &err),
                     ST_OK);
    assert_non_null(val);
    assert_int_equal(len, strlen("attempt 3"));
    assert_memory_equal(val, "attempt 3", len); /* the attempt that committed */
    free(val);
    /* busy for good: a bounded number of attempts, then a clear refusal */
    struct flaky stuck = {0, 1000};
    res = (struct reg_result){0};
    assert_int_equal(reg_in_txn(f->r, flaky_change, &stuck, &res), REG_EBUSY);
    assert_true(stuck.calls > 1 && stuck.calls < 100);
    assert_non_null(strstr(res.msg, "busy"));
    assert_int_equal(store_get(reg_store(f->r), CF_METADATA, "test.flaky", 10, &val, &len, &err),
                     ST_OK);
    assert_memory_equal(val, "attempt 3", len); /* no busy attempt was committed */
    free(val);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enrol_assigns_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrol_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_document_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demographic_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_correction_moves_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_births, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deaths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documents_issued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_at_six, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encryption_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_few_write_ahead_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_files_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_change_is_retried, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
