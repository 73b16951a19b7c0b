/*
 * tests/unit/test_biometrics.c - the biometric parts of storage/: template
 * parsing in both standards, the fingerprint matcher, persons and bands, the
 * index's entry codes and the 1:N index itself (in memory; the register's
 * tests drive it through RocksDB).
 *
 * What it proves:
 *   - ANSI INCITS 378-2004 records (built here from real ISO ones) are told
 *     apart from ISO ones, checked field by field and converted to ISO with
 *     the same minutiae; malformed ones are refused with the fault named;
 *     the JSON form accepts "format" and stores ISO;
 *   - the matcher scores real mated impressions (FVC2002 DB1_B, from
 *     $HUDUMA_TEST_SHARED/data/fingerprints; skipped without it) above
 *     impostors, and a finger against itself moved, turned, cut in half or
 *     with minutiae missing and added still matches;
 *   - the AVX-512 kernel and the portable one give the same pairs;
 *   - persons fuse the fingers both have, compare faces of one model only,
 *     and fall in the bands their thresholds say;
 *   - an index entry encodes and decodes to the same codes and any cut or
 *     damaged entry is refused;
 *   - a search finds a re-captured person first among 300, not after it was
 *     forgotten, and a claim sees an entry added after its search.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "storage/iso19794.h"
#include "storage/mcc_internal.h"
#include "storage/storage.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static const char *shared_dir(void)
{
    const char *s = getenv("HUDUMA_TEST_SHARED");
    return s && s[0] ? s : NULL;
}

/* Reads a real record; false when the shared data is not there. */
static bool read_real(const char *set, const char *name, struct fingerprint *fp)
{
    const char *dir = shared_dir();
    if (!dir)
        return false;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/fingerprints/%s/%s.iso", dir, set, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fp->len = (uint16_t)fread(fp->data, 1, sizeof fp->data, f);
    fclose(f);
    fp->position = 2;
    return fp->len > 0;
}

/* An ANSI INCITS 378-2004 form of a one-view ISO record (same minutiae, angles in 2 degrees). */
static size_t ansi_from_iso(const uint8_t *iso, size_t len, uint8_t *out)
{
    size_t body = len - 24; /* views onwards */
    memcpy(out, "FMR\0 20\0", 8);
    put16(out + 8, (unsigned)(body + 26));
    put16(out + 10, 0x0033); /* CBEFF owner */
    put16(out + 12, 0x0001); /* CBEFF type */
    memcpy(out + 14, iso + 12, 12);
    memcpy(out + 26, iso + 24, body);
    unsigned n = out[29];
    for (unsigned i = 0; i < n; i++) {
        uint8_t *a = out + 30 + 6 * i + 4;
        *a = (uint8_t)(((unsigned)*a * 45u + 32u) / 64u % 180u);
    }
    return body + 26;
}

static char *b64(const uint8_t *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static void expect_ansi_bad(const uint8_t *buf, size_t len, const char *part)
{
    char why[200];
    assert_int_equal(fmr_parse(buf, len, FMR_ANSI_2004, NULL, why, sizeof why), -1);
    if (!strstr(why, part))
        fail_msg("reason '%s' lacks '%s'", why, part);
}

static void test_ansi_records(void **state)
{
    (void)state;
    static struct fingerprint fp;
    if (!read_real("fvc2002-db1b", "101_1", &fp))
        skip();
    static uint8_t ansi[TEMPLATE_MAX_LEN + 8], iso[TEMPLATE_MAX_LEN], bad[TEMPLATE_MAX_LEN + 8];
    size_t n = ansi_from_iso(fp.data, fp.len, ansi);
    char why[200];
    assert_int_equal(fmr_detect(fp.data, fp.len), FMR_ISO_2005);
    assert_int_equal(fmr_detect(ansi, n), FMR_ANSI_2004);
    assert_int_equal(fmr_parse(ansi, n, FMR_ANSI_2004, NULL, why, sizeof why), 0);
    /* an ANSI record is not an ISO one, and the reverse */
    assert_int_equal(iso19794_2_check(ansi, n, why, sizeof why), -1);
    assert_int_equal(fmr_parse(fp.data, fp.len, FMR_ANSI_2004, NULL, why, sizeof why), -1);

    size_t m = fmr_ansi_to_iso(ansi, n, iso, sizeof iso, why, sizeof why);
    assert_int_equal(m, fp.len);
    assert_int_equal(iso19794_2_check(iso, m, why, sizeof why), 0);
    static struct fmr_record a, b;
    assert_int_equal(fmr_parse(fp.data, fp.len, FMR_ISO_2005, &a, why, sizeof why), 0);
    assert_int_equal(fmr_parse(iso, m, FMR_ISO_2005, &b, why, sizeof why), 0);
    assert_int_equal(a.nminutiae, b.nminutiae);
    for (unsigned i = 0; i < a.nminutiae; i++) {
        assert_int_equal(a.m[i].x, b.m[i].x);
        assert_int_equal(a.m[i].y, b.m[i].y);
        int d = (int)(uint8_t)(a.m[i].angle - b.m[i].angle);
        assert_true(d <= 1 || d >= 255); /* 2-degree units round to within one ISO unit */
    }

    /* the long length form: 0, then 4 bytes */
    memcpy(bad, ansi, 10);
    put16(bad + 8, 0);
    put16(bad + 10, 0);
    put16(bad + 12, (unsigned)(n + 4));
    memcpy(bad + 14, ansi + 10, n - 10);
    assert_int_equal(fmr_detect(bad, n + 4), FMR_ANSI_2004);
    assert_int_equal(fmr_parse(bad, n + 4, FMR_ANSI_2004, NULL, why, sizeof why), 0);
    assert_int_equal(fmr_ansi_to_iso(bad, n + 4, iso, sizeof iso, why, sizeof why), fp.len);

    memcpy(bad, ansi, n);
    bad[30 + 4] = 180;
    expect_ansi_bad(bad, n, "minutia 1 of view 1: angle 180 is above 179");
    memcpy(bad, ansi, n);
    bad[27] = 4; /* impression type 4: latent, not in ANSI 378 */
    expect_ansi_bad(bad, n, "impression type 4 is not defined by ANSI INCITS 378-2004");
    memcpy(bad, ansi, n);
    bad[25] = 1;
    expect_ansi_bad(bad, n, "the reserved byte of the header is 1");
    memcpy(bad, ansi, n);
    bad[30 + 2] |= 0x40;
    expect_ansi_bad(bad, n, "minutia 1 of view 1: the reserved bits before y are not 0");
    memcpy(bad, ansi, n);
    bad[30 + 5] = 101;
    expect_ansi_bad(bad, n, "minutia 1 of view 1: quality 101 is above 100");
    memcpy(bad, ansi, n);
    put16(bad + 8, (unsigned)n + 1);
    expect_ansi_bad(bad, n, "record length field says");
    expect_ansi_bad(ansi, n - 1, "record length field says");
    memcpy(bad, ansi, 11);
    put16(bad + 8, 11);
    expect_ansi_bad(bad, 11,
                    "truncated: CBEFF product identifier needs 4 bytes at offset 10, 1 left");
    memcpy(bad, ansi, n);
    put16(bad + 8, (unsigned)n);
    put16(bad + n - 2, 2); /* extended data of 2 bytes that are not there */
    expect_ansi_bad(bad, n, "truncated: extended data block of view 1");
    assert_int_equal(fmr_ansi_to_iso(ansi, n, iso, 10, why, sizeof why), 0);
    assert_non_null(strstr(why, "room for 10"));
}

static void test_ansi_through_json(void **state)
{
    (void)state;
    static struct fingerprint fp;
    if (!read_real("fvc2002-db2b", "103_4", &fp))
        skip();
    static uint8_t ansi[TEMPLATE_MAX_LEN + 8];
    size_t n = ansi_from_iso(fp.data, fp.len, ansi);
    char *t = b64(ansi, n);
    static struct biometrics b;
    struct st_err err;
    json_t *j = json_pack("{s:[{s:i, s:s, s:s}]}", "fingerprints", "position", 7, "template", t,
                          "format", "ansi378-2004");
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_OK);
    assert_int_equal(b.fingers[0].len, fp.len); /* kept in the ISO form */
    assert_int_equal(fmr_detect(b.fingers[0].data, b.fingers[0].len), FMR_ISO_2005);
    json_decref(j);
    /* without "format", the length field tells */
    j = json_pack("{s:[{s:i, s:s}]}", "fingerprints", "position", 7, "template", t);
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_OK);
    assert_int_equal(b.fingers[0].len, fp.len);
    json_decref(j);
    j = json_pack("{s:[{s:i, s:s, s:s}]}", "fingerprints", "position", 7, "template", t, "format",
                  "iso19794-2:2005");
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "fingerprints[0].template");
    assert_non_null(strstr(err.msg, "is not an ISO/IEC 19794-2 record: record length field"));
    json_decref(j);
    j = json_pack("{s:[{s:i, s:s, s:s}]}", "fingerprints", "position", 7, "template", t, "format",
                  "wsq");
    assert_int_equal(biometrics_from_json(j, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "fingerprints[0].format");
    json_decref(j);
    free(t);
}

/* ---- the matcher ------------------------------------------------------------------------------
 */

static struct mcc_finger *prepare(const struct fingerprint *fp)
{
    struct mcc_finger *f = NULL;
    struct st_err err;
    assert_int_equal(mcc_finger_new(fp, &f, &err), ST_OK);
    return f;
}

static void test_real_mates(void **state)
{
    (void)state;
    static struct fingerprint fp;
    struct mcc_finger *a[8], *b[8];
    char name[16];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "101_%d", i + 1);
        if (!read_real("fvc2002-db1b", name, &fp))
            skip();
        a[i] = prepare(&fp);
        snprintf(name, sizeof name, "102_%d", i + 1);
        assert_true(read_real("fvc2002-db1b", name, &fp));
        b[i] = prepare(&fp);
    }
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    unsigned mated = 0, mated_hits = 0, impostor_hits = 0, impostors = 0;
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 8; j++) {
            if (i != j) {
                mated += 2;
                mated_hits += mcc_match(a[i], a[j]) >= t.finger[0];
                mated_hits += mcc_match(b[i], b[j]) >= t.finger[0];
            }
            impostors++;
            impostor_hits += mcc_match(a[i], b[j]) >= t.finger[0];
        }
    }
    if (mated_hits < mated * 8 / 10 || impostor_hits > impostors / 20)
        fail_msg("%u of %u mated pairs and %u of %u impostor pairs reach the low band", mated_hits,
                 mated, impostor_hits, impostors);
    for (int i = 0; i < 8; i++) {
        mcc_finger_free(a[i]);
        mcc_finger_free(b[i]);
    }
}

/* Rewrites the record's minutiae: turned by `turn` (1/256 turns) about the
 * centre, moved by (dx, dy), those with x below keep_from dropped. */
static size_t transform(const struct fingerprint *in, struct fingerprint *out, unsigned turn,
                        int dx, int dy, unsigned keep_from)
{
    const uint8_t *r = in->data;
    unsigned w = get16(r + 14), h = get16(r + 16), n = r[27], kept = 0;
    double a = -2.0 * 3.14159265358979 * turn / 256.0, c = cos(a), s = sin(a);
    memcpy(out->data, r, 28);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *m = r + 28 + 6 * i;
        double x = get16(m) & 0x3fff, y = get16(m + 2) & 0x3fff;
        if (x < keep_from)
            continue;
        double u = x - w / 2.0, v = y - h / 2.0;
        double nx = w / 2.0 + u * c - v * s + dx, ny = h / 2.0 + u * s + v * c + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h)
            continue;
        uint8_t *o = out->data + 28 + 6 * kept++;
        put16(o, (get16(m) & 0xc000) | (unsigned)nx);
        put16(o + 2, (unsigned)ny);
        o[4] = (uint8_t)(m[4] + turn);
        o[5] = m[5];
    }
    out->data[27] = (uint8_t)kept;
    put16(out->data + 28 + 6 * kept, 0);
    size_t len = 30 + 6 * (size_t)kept;
    put16(out->data + 8, 0);
    put16(out->data + 10, (unsigned)len);
    out->len = (uint16_t)len;
    out->position = in->position;
    return len;
}

static void test_moved_turned_partial(void **state)
{
    (void)state;
    static struct fingerprint fp, moved;
    if (!read_real("fvc2002-db2b", "105_3", &fp))
        skip();
    char why[200];
    struct mcc_finger *orig = prepare(&fp);
    float self = mcc_match(orig, orig);
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    assert_true(self >= t.finger[2]);
    /* turned 20 degrees and moved: the same finger */
    transform(&fp, &moved, 14, 25, -18, 0);
    assert_int_equal(iso19794_2_check(moved.data, moved.len, why, sizeof why), 0);
    struct mcc_finger *m = prepare(&moved);
    float s = mcc_match(orig, m);
    if (s < 0.5f * self || s < t.finger[2])
        fail_msg("turned and moved: %.4f against itself %.4f", s, self);
    mcc_finger_free(m);
    /* half the finger cut away: partial overlap */
    transform(&fp, &moved, 0, 0, 0, get16(fp.data + 14) / 2);
    m = prepare(&moved);
    s = mcc_match(orig, m);
    if (s < t.finger[1])
        fail_msg("half the finger: %.4f", s);
    mcc_finger_free(m);
    mcc_finger_free(orig);
}

static void test_missing_and_spurious(void **state)
{
    (void)state;
    static struct fingerprint a, b, c;
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    unsigned matched = 0, impostor = 0;
    for (unsigned p = 0; p < 20; p++) {
        bio_synth_finger(7, p, 2, 0, &a);
        bio_synth_finger(7, p, 2, 3,
                         &b); /* a re-capture: moved, distorted, cut, missing, spurious */
        bio_synth_finger(7, p + 100, 2, 3, &c);
        struct mcc_finger *fa = prepare(&a), *fb = prepare(&b), *fc = prepare(&c);
        matched += mcc_match(fa, fb) >= t.finger[0];
        impostor += mcc_match(fa, fc) >= t.finger[0];
        mcc_finger_free(fa);
        mcc_finger_free(fb);
        mcc_finger_free(fc);
    }
    if (matched < 18 || impostor > 1)
        fail_msg("%u of 20 re-captures matched, %u of 20 impostors did", matched, impostor);
}

static void test_kernels_agree(void **state)
{
    (void)state;
    if (!mcc_has_avx512())
        skip();
    static struct fingerprint fa, fb;
    static struct mcc_pair x[MCC_MAX_MINUTIAE * MCC_MAX_MINUTIAE],
        y[MCC_MAX_MINUTIAE * MCC_MAX_MINUTIAE];
    for (unsigned p = 0; p < 12; p++) {
        bio_synth_finger(3, p, 2, 0, &fa);
        bio_synth_finger(3, p % 3 ? p : p + 50, 2, 1, &fb);
        struct mcc_finger *a = prepare(&fa), *b = prepare(&fb);
        unsigned n = mcc_similarities_avx512(a, b, mcc_min_common(), x);
        unsigned m = mcc_similarities_portable(a, b, y);
        assert_int_equal(n, m);
        for (unsigned i = 0; i < n; i++) {
            assert_int_equal(x[i].a, y[i].a);
            assert_int_equal(x[i].b, y[i].b);
            assert_true(x[i].lambda == y[i].lambda);
        }
        mcc_finger_free(a);
        mcc_finger_free(b);
    }
}

/* ---- persons and bands -------------------------------------------------------------------- */

static void synth_person(uint64_t person, unsigned capture, const char *model, struct biometrics *b)
{
    memset(b, 0, sizeof *b);
    bio_synth_finger(11, person, 2, capture, &b->fingers[0]);
    bio_synth_finger(11, person, 7, capture, &b->fingers[1]);
    b->nfingers = 2;
    if (model) {
        snprintf(b->face_model, sizeof b->face_model, "%s", model);
        b->face_dim = 512;
        bio_synth_face(11, person, capture, 512, 0.6f, b->face);
    }
}

static struct bio_person *person_of(const struct biometrics *b)
{
    struct bio_person *p = NULL;
    struct st_err err;
    assert_int_equal(bio_person_new(b, &p, &err), ST_OK);
    return p;
}

static void test_persons(void **state)
{
    (void)state;
    static struct biometrics b;
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    synth_person(1, 0, "arcface-r100", &b);
    struct bio_person *a = person_of(&b);
    synth_person(1, 1, "arcface-r100", &b);
    struct bio_person *again = person_of(&b);
    synth_person(2, 1, "arcface-r100", &b);
    struct bio_person *other = person_of(&b);
    synth_person(1, 2, "another-model", &b);
    b.nfingers = 1; /* only the right index */
    struct bio_person *one = person_of(&b);

    struct bio_scores s;
    bio_compare(a, again, &s);
    assert_int_equal(s.fingers, 2);
    assert_true(s.face_compared);
    assert_true(bio_band_of(&s, &t) >= BIO_BAND_MEDIUM);
    bio_compare(a, other, &s);
    assert_int_equal(s.fingers, 2);
    assert_int_equal(bio_band_of(&s, &t), BIO_BAND_NONE);
    bio_compare(a, one, &s);
    assert_int_equal(s.fingers, 1);
    assert_false(s.face_compared); /* another model: not comparable */
    assert_true(bio_band_of(&s, &t) >= BIO_BAND_LOW);

    struct bio_scores fixed = {
        .finger = t.finger[1], .fingers = 1, .face = t.face[0] - 0.01f, .face_compared = true};
    assert_int_equal(bio_band_of(&fixed, &t), BIO_BAND_MEDIUM);
    fixed.face = t.face[2];
    assert_int_equal(bio_band_of(&fixed, &t), BIO_BAND_HIGH);
    fixed.fingers = 0, fixed.face_compared = false;
    assert_int_equal(bio_band_of(&fixed, &t), BIO_BAND_NONE);
    assert_string_equal(bio_band_name(BIO_BAND_LOW), "low");

    /* an embedding with no direction cannot be compared */
    synth_person(3, 0, "arcface-r100", &b);
    memset(b.face, 0, sizeof b.face);
    struct bio_person *none = NULL;
    struct st_err err;
    assert_int_equal(bio_person_new(&b, &none, &err), ST_INVALID);
    assert_string_equal(err.field, "face.embedding");
    json_t *zero = json_pack("{s:{s:s, s:s}}", "face", "model", "m", "embedding", "AAAAAAAAAAA=");
    assert_int_equal(biometrics_from_json(zero, &b, &err), ST_INVALID);
    assert_string_equal(err.field, "face.embedding");
    assert_string_equal(err.msg, "has no direction (every value is 0)");
    json_decref(zero);

    bio_person_free(a);
    bio_person_free(again);
    bio_person_free(other);
    bio_person_free(one);
}

/* ---- index entries ----------------------------------------------------------------------------
 */

static void test_codes(void **state)
{
    (void)state;
    static struct biometrics b;
    static struct bio_codes c, d;
    static uint8_t bytes[BIO_CODES_MAX];
    synth_person(5, 0, "arcface-r100", &b);
    struct bio_person *p = person_of(&b);
    bio_codes_of(p, &c);
    assert_int_equal(c.nfingers, 2);
    assert_true(c.finger[0].n > 20);
    size_t n = bio_codes_encode(&c, bytes);
    assert_true(n <= BIO_CODES_MAX);
    assert_int_equal(bio_codes_decode(bytes, n, &d), ST_OK);
    assert_int_equal(memcmp(&c, &d, sizeof c), 0);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(bio_codes_decode(bytes, cut, &d), ST_CORRUPT);
    bytes[0] = 9; /* an unknown version */
    assert_int_equal(bio_codes_decode(bytes, n, &d), ST_CORRUPT);
    bytes[0] = 1;
    bytes[2] = 11; /* finger position 11 */
    assert_int_equal(bio_codes_decode(bytes, n, &d), ST_CORRUPT);
    bio_person_free(p);
}

/* ---- the 1:N index in memory -------------------------------------------------------------------
 */

#define GALLERY 300

static int fetch_synthetic(void *ctx, const char *subject, struct biometrics *out)
{
    (void)ctx;
    synth_person((uint64_t)atoi(subject), 0, "arcface-r100", out);
    return ST_OK;
}

static void test_index(void **state)
{
    (void)state;
    struct bioindex *ix = bioindex_new(NULL);
    assert_non_null(ix);
    static struct biometrics b;
    for (unsigned i = 0; i < GALLERY; i++) {
        char subject[16];
        snprintf(subject, sizeof subject, "%u", i);
        synth_person(i, 0, "arcface-r100", &b);
        assert_int_equal(bioindex_add(ix, subject, person_of(&b)), ST_OK);
    }
    assert_int_equal(bioindex_count(ix), GALLERY);
    struct bio_thresholds t;
    bio_thresholds_default(&t);
    synth_person(17, 1, "arcface-r100", &b);
    struct bio_person *probe = person_of(&b);
    struct bio_query q = {probe, &t, BIO_BAND_LOW, 5, fetch_synthetic, NULL, NULL};
    static struct bio_result r;
    struct st_err err;
    assert_int_equal(bioindex_search(ix, &q, &r, &err), ST_OK);
    assert_true(r.n >= 1);
    assert_string_equal(r.c[0].subject, "17");
    assert_true(r.c[0].band >= BIO_BAND_MEDIUM);
    assert_true(r.finger_listed > 0 && r.face_listed > 0);

    /* a claim sees what was added after its search */
    bioindex_forget(ix, "17");
    assert_int_equal(bioindex_count(ix), GALLERY - 1);
    assert_int_equal(bioindex_search(ix, &q, &r, &err), ST_OK);
    for (unsigned i = 0; i < r.n; i++)
        assert_string_not_equal(r.c[i].subject, "17");
    synth_person(17, 2, "arcface-r100", &b);
    assert_int_equal(bioindex_add(ix, "again-17", person_of(&b)), ST_OK);
    struct bio_claim *claim = NULL;
    assert_int_equal(bioindex_claim(ix, &q, &r, &claim), ST_OK);
    assert_non_null(claim);
    assert_true(r.n >= 1);
    assert_string_equal(r.c[0].subject, "again-17");
    /* settled under a subject, the probe is indexed: a new search finds it */
    assert_int_equal(bioindex_settle(ix, claim, "17"), ST_OK);
    synth_person(17, 3, "arcface-r100", &b);
    probe = person_of(&b);
    q.probe = probe;
    assert_int_equal(bioindex_search(ix, &q, &r, &err), ST_OK);
    bool found = false;
    for (unsigned i = 0; i < r.n; i++)
        found |= strcmp(r.c[i].subject, "17") == 0;
    assert_true(found);
    bio_person_free(probe);
    bioindex_close(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ansi_records),
        cmocka_unit_test(test_ansi_through_json),
        cmocka_unit_test(test_real_mates),
        cmocka_unit_test(test_moved_turned_partial),
        cmocka_unit_test(test_missing_and_spurious),
        cmocka_unit_test(test_kernels_agree),
        cmocka_unit_test(test_persons),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
