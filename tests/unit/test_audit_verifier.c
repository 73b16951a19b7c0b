/*
 * tests/unit/test_audit_verifier.c - the appliance's side of the audit log
 * without a daemon: the leaf format, signed checkpoints (C2SP signed-note and
 * tlog-checkpoint rules), the tile paths of tlog-tiles, the proof and entry
 * parsers, and the verdicts of huduma-audit's checks.
 *
 * Checkpoints are signed here by a fresh ECDSA P-256 key through the same
 * struct audit_signer the daemon uses, and verified with its PEM; a second
 * key plays the attacker.  Roots are recomputed independently with
 * storage's compact range.  Every verdict that fails must name the index the
 * tampering started at.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/audit.h"

#define ORIGIN "example.test/audit/unit"

/* ---- a signer over an in-memory key ----------------------------------------------------- */

struct test_key {
    EVP_PKEY *pkey;
    char pem[512];
};

static void make_key(struct test_key *k)
{
    k->pkey = EVP_EC_gen("P-256");
    assert_non_null(k->pkey);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k->pkey), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    assert_true(n > 0 && n < (long)sizeof k->pem);
    memcpy(k->pem, data, (size_t)n);
    k->pem[n] = '\0';
    BIO_free(b);
}

static int sign_with(void *ctx, const char *text, size_t textlen,
                     const uint8_t (*proof)[AUDIT_HASH_LEN], size_t nproof, uint8_t *sig,
                     size_t *len, char *err, size_t errlen)
{
    (void)proof, (void)nproof, (void)err, (void)errlen;
    struct test_key *k = ctx;
    uint8_t digest[32];
    SHA256((const unsigned char *)text, textlen, digest);
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(k->pkey, NULL);
    int ok = EVP_PKEY_sign_init(p) == 1 && EVP_PKEY_CTX_set_signature_md(p, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(p, sig, len, digest, 32) == 1;
    EVP_PKEY_CTX_free(p);
    return ok ? 0 : -1;
}

static struct test_key log_key, other_key;
static struct audit_key *verifier;

static int group_setup(void **state)
{
    (void)state;
    make_key(&log_key);
    make_key(&other_key);
    return audit_key_from_pem(log_key.pem, strlen(log_key.pem), &verifier, NULL, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    audit_key_free(verifier);
    EVP_PKEY_free(log_key.pkey);
    EVP_PKEY_free(other_key.pkey);
    return 0;
}

/* A checkpoint of the first n leaf hashes, signed by k, into out. */
static size_t checkpoint_of(const uint8_t (*h)[32], uint64_t n, struct test_key *k, char *out)
{
    struct audit_range r;
    audit_range_init(&r);
    for (uint64_t i = 0; i < n; i++)
        audit_range_push(&r, h[i]);
    struct audit_checkpoint cp = {.size = n};
    snprintf(cp.origin, sizeof cp.origin, "%s", ORIGIN);
    audit_range_root(&r, cp.root);
    struct audit_signer s = {sign_with, k, k->pem};
    char err[256];
    int len = audit_checkpoint_sign(&cp, &s, NULL, 0, out, AUDIT_NOTE_MAX, err, sizeof err);
    if (len < 0)
        fail_msg("sign: %s", err);
    return (size_t)len;
}

/* ---- leaves -------------------------------------------------------------------------------- */

static void test_leaf_round_trip(void **state)
{
    (void)state;
    struct audit_record r = {.time_ms = 1796083200123, .result = 403, .has_subject = true};
    strcpy(r.agency, "kra");
    strcpy(r.op, "read");
    strcpy(r.purpose, "a \"quoted\" \\ purpose");
    memset(r.subject, 0xab, sizeof r.subject);
    strcpy(r.txid, "0123456789abcdef0123456789abcdef");
    char leaf[AUDIT_LEAF_MAX];
    int n = audit_leaf_format(&r, leaf, sizeof leaf);
    assert_true(n > 0);
    assert_string_equal(leaf, "{\"v\":1,\"time\":\"2026-12-01T00:00:00.123Z\",\"agency\":\"kra\","
                              "\"op\":\"read\",\"purpose\":\"a \\\"quoted\\\" \\\\ purpose\","
                              "\"subject\":\"abababababababababababababababab\",\"result\":403,"
                              "\"txid\":\"0123456789abcdef0123456789abcdef\"}");
    struct audit_record back;
    char err[128];
    assert_int_equal(audit_leaf_parse(leaf, (size_t)n, &back, err, sizeof err), 0);
    assert_int_equal(back.time_ms, r.time_ms);
    assert_string_equal(back.purpose, r.purpose);
    assert_true(back.has_subject);
    assert_memory_equal(back.subject, r.subject, sizeof r.subject);
    assert_int_equal(back.result, 403);
    /* an act: a target, no subject; control characters never reach the line */
    struct audit_record act = {.time_ms = 0, .result = 200};
    strcpy(act.agency, AUDIT_BY_CLI);
    strcpy(act.op, "agency_add");
    strcpy(act.purpose, "new\nline");
    strcpy(act.target, "kra");
    strcpy(act.txid, "00000000000000000000000000000000");
    n = audit_leaf_format(&act, leaf, sizeof leaf);
    assert_null(memchr(leaf, '\n', (size_t)n));
    assert_int_equal(audit_leaf_parse(leaf, (size_t)n, &back, err, sizeof err), 0);
    assert_string_equal(back.target, "kra");
    assert_string_equal(back.purpose, "new?line");
    assert_false(back.has_subject);
}

/* The leaf's time, against gmtime_r: the epoch, leap days (2000 is a leap
 * year, 2100 is not), the ends of days and years, the last representable
 * millisecond, a spread of others; the year 10000 does not fit. */
static void expect_time(int64_t ms)
{
    struct audit_record r = {.time_ms = ms, .result = 200};
    strcpy(r.agency, "kra");
    strcpy(r.op, "verify");
    strcpy(r.purpose, "p");
    strcpy(r.txid, "00000000000000000000000000000000");
    char leaf[AUDIT_LEAF_MAX], want[64];
    assert_true(audit_leaf_format(&r, leaf, sizeof leaf) > 0);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    size_t n = strftime(want, sizeof want, "{\"v\":1,\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(want + n, sizeof want - n, ".%03dZ\"", (int)(ms % 1000));
    assert_memory_equal(leaf, want, strlen(want));
    struct audit_record back;
    char err[128];
    assert_int_equal(audit_leaf_parse(leaf, strlen(leaf), &back, err, sizeof err), 0);
    assert_int_equal(back.time_ms, ms);
}

static void test_leaf_times(void **state)
{
    (void)state;
    static const int64_t fixed[] = {
        0,               /* 1970-01-01T00:00:00.000Z */
        951782400000,    /* 2000-02-29 */
        951868799999,    /* 2000-02-29T23:59:59.999Z */
        951868800000,    /* 2000-03-01 */
        1709164800500,   /* 2024-02-29 */
        1798761599999,   /* 2026-12-31T23:59:59.999Z */
        1798761600000,   /* 2027-01-01 */
        4107456000000,   /* 2100-02-28 */
        4107542400000,   /* 2100-03-01: 2100 has no leap day */
        253402300799999, /* 9999-12-31T23:59:59.999Z */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        expect_time(fixed[i]);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        expect_time((int64_t)(x % 253402300800000u));
    }
    struct audit_record r = {.time_ms = 253402300800000, .result = 200}; /* 10000-01-01 */
    char leaf[AUDIT_LEAF_MAX];
    assert_int_equal(audit_leaf_format(&r, leaf, sizeof leaf), -1);
    r.time_ms = 0;
    assert_true(audit_leaf_format(&r, leaf, sizeof leaf) > 0);
    assert_int_equal(audit_leaf_format(&r, leaf, 40), -1); /* too small: refused whole */
}

static void test_leaf_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"v\":2,\"time\":\"2026-12-01T00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\",\"purpose\":"
        "\"p\",\"result\":200,\"txid\":\"00000000000000000000000000000000\"}",
        "{\"v\":1,\"time\":\"2026-12-01 00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\",\"purpose\":"
        "\"p\",\"result\":200,\"txid\":\"00000000000000000000000000000000\"}",
        "{\"v\":1,\"time\":\"2026-12-01T00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\",\"purpose\":"
        "\"p\",\"result\":200,\"txid\":\"00000000000000000000000000000000\",\"extra\":1}",
        "{\"v\":1,\"time\":\"2026-12-01T00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\",\"purpose\":"
        "\"p\",\"subject\":\"xyz\",\"result\":200,\"txid\":\"00000000000000000000000000000000\"}",
        "{\"v\":1,\"time\":\"2026-12-01T00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\",\"purpose\":"
        "\"p\",\"result\":1000,\"txid\":\"00000000000000000000000000000000\"}",
        "{\"v\":1,\"v\":1,\"time\":\"2026-12-01T00:00:00.000Z\",\"agency\":\"a\",\"op\":\"o\","
        "\"purpose\":\"p\",\"result\":200,\"txid\":\"00000000000000000000000000000000\"}",
    };
    struct audit_record r;
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (audit_leaf_parse(bad[i], strlen(bad[i]), &r, err, sizeof err) == 0)
            fail_msg("leaf %zu was accepted", i);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

static void test_checkpoint_sign_parse_verify(void **state)
{
    (void)state;
    uint8_t h[3][32];
    for (int i = 0; i < 3; i++)
        audit_leaf_hash(&i, sizeof i, h[i]);
    char text[AUDIT_NOTE_MAX];
    size_t len = checkpoint_of((const uint8_t(*)[32])h, 3, &log_key, text);
    struct audit_note n;
    char err[256];
    assert_int_equal(audit_note_parse(text, len, &n, err, sizeof err), 0);
    assert_string_equal(n.cp.origin, ORIGIN);
    assert_int_equal(n.cp.size, 3);
    assert_int_equal(n.nsigs, 1);
    assert_string_equal(n.sigs[0].name, ORIGIN);
    assert_int_equal(audit_note_verify(text, &n, verifier), AUDIT_SIG_OK);
    /* the text is the three lines with their newlines: one byte changed breaks it */
    text[strlen(ORIGIN) + 1] = '4';
    assert_int_equal(audit_note_parse(text, len, &n, err, sizeof err), 0);
    assert_int_equal(n.cp.size, 4);
    assert_int_equal(audit_note_verify(text, &n, verifier), AUDIT_SIG_BAD);
    /* another key's signature is ignored: no signature by ours */
    len = checkpoint_of((const uint8_t(*)[32])h, 3, &other_key, text);
    assert_int_equal(audit_note_parse(text, len, &n, err, sizeof err), 0);
    assert_int_equal(audit_note_verify(text, &n, verifier), AUDIT_SIG_MISSING);
}

static void test_checkpoint_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", /* no signatures */
        "o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAAAAAA\n",
        "o\n1\nAAAA\n\n\xe2\x80\x94 o AAAAAAAA\n", /* short root */
        "o\n1\n\n\xe2\x80\x94 o AAAAAAAA\n",       /* two lines */
        "o p\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAAAAAA\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- o AAAAAAAA\n", /* no em dash */
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAA\n", /* no sig */
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAAAAAA", /* no \n */
        "o\t\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAAAAAA\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n\n\xe2\x80\x94 o AAAAAAAA\n", /* not
                                                                                              canonical
                                                                                            */
        "o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o "
        "AAAAAAAA\n",
    };
    struct audit_note n;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (audit_note_parse(bad[i], strlen(bad[i]), &n, err, sizeof err) == 0)
            fail_msg("checkpoint %zu was accepted", i);
    const char *good = "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n\n"
                       "\xe2\x80\x94 o AAAAAAAA\n\xe2\x80\x94 w BBBBBBBB\n";
    assert_int_equal(audit_note_parse(good, strlen(good), &n, err, sizeof err), 0);
    assert_int_equal(n.nsigs, 2);
    assert_int_equal(n.text_len,
                     strlen("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"));
}

/* ---- tile paths and proofs ------------------------------------------------------------------ */

static void test_tile_paths(void **state)
{
    (void)state;
    bool entries;
    unsigned level, width;
    uint64_t index;
    assert_int_equal(audit_tile_path("0/000", &entries, &level, &index, &width), 0);
    assert_false(entries);
    assert_int_equal(index, 0);
    assert_int_equal(width, 256);
    assert_int_equal(audit_tile_path("2/x001/x234/067.p/8", &entries, &level, &index, &width), 0);
    assert_int_equal(level, 2);
    assert_int_equal(index, 1234067);
    assert_int_equal(width, 8);
    assert_int_equal(audit_tile_path("entries/x005/000", &entries, &level, &index, &width), 0);
    assert_true(entries);
    assert_int_equal(index, 5000);
    static const char *const bad[] = {
        "0",           "0/",       "0/00",      "0/0000",      "0/x000/001", "0/001/002",
        "00/000",      "64/000",   "0/000.p/0", "0/000.p/256", "0/000.p/08", "0/000.p",
        "0/000.p/8/9", "0/x1/000", "entries/",  "entry/000",   "0/x001",     "-1/000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (audit_tile_path(bad[i], &entries, &level, &index, &width) == 0)
            fail_msg("tile path \"%s\" was accepted", bad[i]);
}

static void test_proof_parse(void **state)
{
    (void)state;
    const char *ok = "{\"index\":5,\"tree_size\":12,\"hashes\":["
                     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}";
    struct audit_proof p;
    char err[256];
    assert_int_equal(audit_proof_parse(ok, strlen(ok), true, &p, err, sizeof err), 0);
    assert_int_equal(p.a, 5);
    assert_int_equal(p.b, 12);
    assert_int_equal(p.n, 1);
    assert_int_equal(audit_proof_parse(ok, strlen(ok), false, &p, err, sizeof err), -1);
    static const char *const bad[] = {
        "{\"first\":1,\"second\":2}",
        "{\"first\":-1,\"second\":2,\"hashes\":[]}",
        "{\"first\":1,\"second\":2,\"hashes\":[\"AAAA\"]}",
        "{\"first\":1,\"second\":2,\"hashes\":[1]}",
        "{\"first\":1,\"second\":2,\"hashes\":[],\"x\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (audit_proof_parse(bad[i], strlen(bad[i]), false, &p, err, sizeof err) == 0)
            fail_msg("proof %zu was accepted", i);
}

/* ---- verdicts ---------------------------------------------------------------------------------
 */

#define LEAVES 300

struct world {
    struct audit_entries e;
    uint8_t h[LEAVES + 10][32];
};

/* n leaves "entry <i><tag>" as the log serves them, with their hashes. */
static void world_make(struct world *w, size_t n, const char *tag)
{
    char *text = malloc(n * 40 + 1);
    assert_non_null(text);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)sprintf(text + at, "entry %zu%s\n", i, i >= 200 ? tag : "");
    char err[128];
    assert_int_equal(audit_entries_parse(text, at, &w->e, err, sizeof err), 0);
    free(text);
    assert_int_equal(w->e.n, n);
    for (size_t i = 0; i < n; i++)
        audit_leaf_hash(w->e.leaf[i], w->e.len[i], w->h[i]);
}

static void expect(const struct audit_verdict *v, bool ok, bool has_index, uint64_t index)
{
    if (v->ok != ok || v->has_index != has_index || (has_index && v->first_bad != index))
        fail_msg("verdict %s/%s/%llu: %s, expected %s/%s/%llu", v->ok ? "ok" : "fail",
                 v->has_index ? "index" : "-", (unsigned long long)v->first_bad, v->reason,
                 ok ? "ok" : "fail", has_index ? "index" : "-", (unsigned long long)index);
}

static void test_verdicts(void **state)
{
    (void)state;
    struct world clean, regrown;
    char cp[AUDIT_NOTE_MAX], state_cp[AUDIT_NOTE_MAX], cp2[AUDIT_NOTE_MAX];
    world_make(&clean, LEAVES, "");
    size_t cplen = checkpoint_of((const uint8_t(*)[32])clean.h, LEAVES, &log_key, cp);
    struct audit_verdict v;
    struct audit_check c = {
        .key = verifier, .checkpoint = cp, .checkpoint_len = cplen, .entries = &clean.e};
    audit_check_full(&c, &v);
    expect(&v, true, false, 0);

    /* a leaf changed: named through the log's leaf hashes */
    free(clean.e.leaf[123]);
    clean.e.leaf[123] = strdup("entry 123 changed");
    clean.e.len[123] = strlen(clean.e.leaf[123]);
    c.leaf_hashes = (const uint8_t *)clean.h;
    c.nleaf_hashes = LEAVES;
    audit_check_full(&c, &v);
    expect(&v, false, true, 123);
    /* without them, no index can be named */
    c.leaf_hashes = NULL;
    audit_check_full(&c, &v);
    expect(&v, false, false, 0);
    audit_entries_free(&clean.e);

    /* a leaf removed: every later one moves up, the first moved is named */
    world_make(&clean, LEAVES, "");
    free(clean.e.leaf[77]);
    memmove(&clean.e.leaf[77], &clean.e.leaf[78], (LEAVES - 78) * sizeof *clean.e.leaf);
    memmove(&clean.e.len[77], &clean.e.len[78], (LEAVES - 78) * sizeof *clean.e.len);
    clean.e.n--;
    c.leaf_hashes = (const uint8_t *)clean.h;
    audit_check_full(&c, &v);
    expect(&v, false, true, 77);
    clean.e.leaf[clean.e.n] = NULL; /* freed once */
    audit_entries_free(&clean.e);

    /* truncated at 200 and regrown to 310: consistent in itself, caught by the state */
    world_make(&clean, LEAVES, "");
    memcpy(state_cp, cp, cplen);
    world_make(&regrown, LEAVES + 10, " again");
    size_t len2 = checkpoint_of((const uint8_t(*)[32])regrown.h, LEAVES + 10, &log_key, cp2);
    struct audit_check d = {.key = verifier,
                            .checkpoint = cp2,
                            .checkpoint_len = len2,
                            .state = state_cp,
                            .state_len = cplen,
                            .entries = &regrown.e,
                            .leaf_hashes = (const uint8_t *)regrown.h,
                            .nleaf_hashes = LEAVES + 10};
    audit_check_full(&d, &v);
    expect(&v, false, false, 0); /* the new tree's own hashes say nothing of the old one */
    d.previous = &clean.e;
    audit_check_full(&d, &v);
    expect(&v, false, true, 200);
    d.previous = NULL;
    d.entries = &clean.e; /* shrunk: the state's tree is larger than the checkpoint's */
    size_t len3 = checkpoint_of((const uint8_t(*)[32])clean.h, 250, &log_key, cp2);
    d.checkpoint_len = len3;
    audit_check_full(&d, &v);
    expect(&v, false, true, 250);

    /* signed by another key: vouched for only up to the state */
    len3 = checkpoint_of((const uint8_t(*)[32])regrown.h, LEAVES + 10, &other_key, cp2);
    d.checkpoint_len = len3;
    d.entries = &regrown.e;
    audit_check_full(&d, &v);
    expect(&v, false, false, 0); /* unsigned, and history departs somewhere before 300 */
    d.previous = &clean.e;
    audit_check_full(&d, &v);
    expect(&v, false, true, 200); /* ... at 200, by the copy verified with the state */
    d.entries = &clean.e;
    audit_check_full(&d, &v);
    expect(&v, false, true, LEAVES); /* unchanged history: vouched for up to the state */
    audit_entries_free(&regrown.e);
    audit_entries_free(&clean.e);
}

static void test_inclusion_and_consistency_checks(void **state)
{
    (void)state;
    struct world w;
    world_make(&w, 20, "");
    char cp[AUDIT_NOTE_MAX], old[AUDIT_NOTE_MAX];
    size_t len = checkpoint_of((const uint8_t(*)[32])w.h, 20, &log_key, cp);
    size_t oldlen = checkpoint_of((const uint8_t(*)[32])w.h, 13, &log_key, old);
    /* an inclusion proof for leaf 6 of 20, by hand: siblings L7, N(4,6), N(0,4), N(8,16), N(16,20)
     */
    struct audit_proof p = {.a = 6, .b = 20};
    uint8_t n01[32], n23[32];
    memcpy(p.hashes[0], w.h[7], 32);
    audit_node_hash(w.h[4], w.h[5], p.hashes[1]);
    audit_node_hash(w.h[0], w.h[1], n01);
    audit_node_hash(w.h[2], w.h[3], n23);
    audit_node_hash(n01, n23, p.hashes[2]);
    struct audit_range r;
    audit_range_init(&r);
    for (int i = 8; i < 16; i++)
        audit_range_push(&r, w.h[i]);
    audit_range_root(&r, p.hashes[3]);
    audit_range_init(&r);
    for (int i = 16; i < 20; i++)
        audit_range_push(&r, w.h[i]);
    audit_range_root(&r, p.hashes[4]);
    p.n = 5;
    struct audit_check c = {.key = verifier, .checkpoint = cp, .checkpoint_len = len};
    struct audit_verdict v;
    audit_check_inclusion(&c, &p, w.e.leaf[6], w.e.len[6], &v);
    expect(&v, true, false, 0);
    audit_check_inclusion(&c, &p, w.e.leaf[5], w.e.len[5], &v);
    expect(&v, false, true, 6);
    /* consistency: without a state nothing to compare; a wrong proof is refused */
    struct audit_proof q = {.a = 13, .b = 20, .n = 0};
    audit_check_consistency(&c, &q, &v);
    expect(&v, true, false, 0);
    c.state = old;
    c.state_len = oldlen;
    audit_check_consistency(&c, &q, &v);
    expect(&v, false, false, 0);
    audit_entries_free(&w.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_round_trip),
        cmocka_unit_test(test_leaf_times),
        cmocka_unit_test(test_leaf_parse_refuses),
        cmocka_unit_test(test_checkpoint_sign_parse_verify),
        cmocka_unit_test(test_checkpoint_parse_refuses),
        cmocka_unit_test(test_tile_paths),
        cmocka_unit_test(test_proof_parse),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_inclusion_and_consistency_checks),
    };
    return cmocka_run_group_tests_name("audit verifier (leaves, checkpoints, verdicts)", tests,
                                       group_setup, group_teardown);
}
