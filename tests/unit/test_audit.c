/*
 * tests/unit/test_audit.c - the audit log's Merkle tree (storage/audit_*.c)
 * against RFC 9162, in a real RocksDB.
 *
 * The expected values never come from the code under test:
 *   - for sizes 1, 2, 3, 7 and 8, the leaves are the eight of the Certificate
 *     Transparency reference test data ("", 00, 10, 2021, 3031, 40414243,
 *     5051525354555657, 606162...6f) and the roots are the published ones for
 *     those leaves; the proofs are RFC 9162's PATH and PROOF worked out by hand
 *     (written out below as node expressions, e.g. N(N(L0,L1),L2));
 *   - for 1000 leaves (and every size up to it), a reference written here from
 *     the RFC's definitions (MTH, PATH, SUBPROOF as recursions over a list of
 *     leaves, hashing with OpenSSL's one-shot EVP_Digest) gives every root,
 *     every inclusion proof and every consistency proof, and the log must give
 *     the same bytes from what it stored.
 * The verifiers (RFC 9162 2.1.3.2 and 2.1.4.2) must accept all of those and
 * refuse each one changed: a flipped byte, a wrong index or size, a hash left
 * out or added.  (The journals and the fold: test_audit_journal.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage/audit_internal.h"
#include "storage/storage.h"
#include "tests/unit/rocks_options.h"
#include "tests/unit/scratch_dir.h"
#include "keys/keys.h"

#include <rocksdb/c.h>

#define HL  AUDIT_HASH_LEN
#define BIG 1000

typedef uint8_t hash_t[HL];

/* ---- the reference: RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1 as written -------------------- */

struct leafset {
    size_t n;
    unsigned char *data[BIG + 8];
    size_t len[BIG + 8];
    bool hashed[BIG + 8];
    hash_t hash[BIG + 8]; /* leaf hashes, each computed once */
};

static void sha(const void *a, size_t alen, hash_t out)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(a, alen, out, &n, EVP_sha256(), NULL), 1);
}

static void ref_leaf(const struct leafset *cd, size_t i, hash_t out)
{
    struct leafset *d = (struct leafset *)cd; /* the cache of leaf hashes only */
    if (!d->hashed[i]) {
        unsigned char buf[1 + 2048];
        buf[0] = 0x00;
        memcpy(buf + 1, d->data[i], d->len[i]);
        sha(buf, 1 + d->len[i], d->hash[i]);
        d->hashed[i] = true;
    }
    memcpy(out, d->hash[i], HL);
}

static void ref_node(const hash_t l, const hash_t r, hash_t out)
{
    unsigned char buf[1 + 2 * HL];
    buf[0] = 0x01;
    memcpy(buf + 1, l, HL);
    memcpy(buf + 1 + HL, r, HL);
    sha(buf, sizeof buf, out);
}

static size_t split(size_t n) /* the largest power of two smaller than n (n > 1) */
{
    size_t k = 1;
    while (2 * k < n)
        k *= 2;
    return k;
}

/* MTH(D[lo:hi]) */
static void ref_mth(const struct leafset *d, size_t lo, size_t hi, hash_t out)
{
    if (hi == lo) {
        sha("", 0, out);
    } else if (hi - lo == 1) {
        ref_leaf(d, lo, out);
    } else {
        size_t k = split(hi - lo);
        hash_t l, r;
        ref_mth(d, lo, lo + k, l);
        ref_mth(d, lo + k, hi, r);
        ref_node(l, r, out);
    }
}

/* PATH(m, D[lo:hi]) appended to path[*n] */
static void ref_path(const struct leafset *d, size_t m, size_t lo, size_t hi, hash_t *path,
                     size_t *n)
{
    if (hi - lo <= 1)
        return;
    size_t k = split(hi - lo);
    if (m < k) {
        ref_path(d, m, lo, lo + k, path, n);
        ref_mth(d, lo + k, hi, path[(*n)++]);
    } else {
        ref_path(d, m - k, lo + k, hi, path, n);
        ref_mth(d, lo, lo + k, path[(*n)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b) */
static void ref_subproof(const struct leafset *d, size_t m, size_t lo, size_t hi, bool b,
                         hash_t *path, size_t *n)
{
    size_t len = hi - lo;
    if (m == len) {
        if (!b)
            ref_mth(d, lo, hi, path[(*n)++]);
        return;
    }
    size_t k = split(len);
    if (m <= k) {
        ref_subproof(d, m, lo, lo + k, b, path, n);
        ref_mth(d, lo + k, hi, path[(*n)++]);
    } else {
        ref_subproof(d, m - k, lo + k, hi, false, path, n);
        ref_mth(d, lo, lo + k, path[(*n)++]);
    }
}

/* ---- a log in a temporary RocksDB ----------------------------------------------------- */

struct fx {
    char dir[128];
    struct audit_log *log;
    struct leafset d;
};

static void open_log(struct fx *f)
{
    struct st_err err = {0};
    int rc = audit_log_open(f->dir, true, false, &f->log, &err);
    if (rc != ST_OK)
        fail_msg("audit_log_open: %s", err.msg);
}

static void close_log(struct fx *f)
{
    audit_log_close(f->log);
    f->log = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(scratch_dir_make(f->dir, sizeof f->dir, "test_audit"), 0);
    open_log(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close_log(f);
    scratch_dir_remove(f->dir);
    for (size_t i = 0; i < f->d.n; i++)
        free(f->d.data[i]);
    free(f);
    return 0;
}

static void add_leaf(struct fx *f, const void *data, size_t len)
{
    f->d.data[f->d.n] = malloc(len ? len : 1);
    memcpy(f->d.data[f->d.n], data, len);
    f->d.len[f->d.n] = len;
    f->d.n++;
}

/* Appends the reference leaves [from, to) to the log as one batch. */
static void append_range(struct fx *f, size_t from, size_t to)
{
    struct audit_leaf leaves[BIG + 8];
    for (size_t i = from; i < to; i++)
        leaves[i - from] = (struct audit_leaf){f->d.data[i], f->d.len[i], NULL};
    uint64_t first = 0;
    struct st_err err = {0};
    int rc = audit_log_append(f->log, leaves, to - from, &first, &err);
    if (rc != ST_OK)
        fail_msg("append: %s", err.msg);
    assert_int_equal(first, from);
}

static void hex_to(const char *hex, hash_t out)
{
    for (int i = 0; i < HL; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

static void root_is(struct fx *f, uint64_t size, const hash_t want)
{
    hash_t got;
    struct st_err err = {0};
    if (audit_log_root_at(f->log, size, got, &err) != ST_OK)
        fail_msg("root_at %llu: %s", (unsigned long long)size, err.msg);
    assert_memory_equal(got, want, HL);
}

static void inclusion_is(struct fx *f, uint64_t index, uint64_t size, const hash_t *want,
                         size_t nwant)
{
    hash_t path[AUDIT_PROOF_MAX], root, leaf;
    size_t n = 99;
    struct st_err err = {0};
    if (audit_log_inclusion(f->log, index, size, path, &n, &err) != ST_OK)
        fail_msg("inclusion %llu/%llu: %s", (unsigned long long)index, (unsigned long long)size,
                 err.msg);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        if (memcmp(path[i], want[i], HL) != 0)
            fail_msg("inclusion %llu in %llu: hash %zu differs", (unsigned long long)index,
                     (unsigned long long)size, i);
    ref_mth(&f->d, 0, size, root);
    ref_leaf(&f->d, index, leaf);
    assert_true(keys_merkle_inclusion(index, size, leaf, path, n, root));
}

static void consistency_is(struct fx *f, uint64_t m, uint64_t size, const hash_t *want,
                           size_t nwant)
{
    hash_t path[AUDIT_PROOF_MAX], r1, r2;
    size_t n = 99;
    struct st_err err = {0};
    if (audit_log_consistency(f->log, m, size, path, &n, &err) != ST_OK)
        fail_msg("consistency %llu/%llu: %s", (unsigned long long)m, (unsigned long long)size,
                 err.msg);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        if (memcmp(path[i], want[i], HL) != 0)
            fail_msg("consistency %llu to %llu: hash %zu differs", (unsigned long long)m,
                     (unsigned long long)size, i);
    ref_mth(&f->d, 0, m, r1);
    ref_mth(&f->d, 0, size, r2);
    assert_true(keys_merkle_consistency(m, size, r1, r2, path, n));
}

/* ---- sizes 1, 2, 3, 7, 8: the CT leaves, worked by hand -------------------------------- */

static const char *const CT_LEAVES[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
/* The roots of the first 1..8 of those leaves, as published with them. */
static const char *const CT_ROOTS[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void add_ct_leaves(struct fx *f)
{
    for (int i = 0; i < 8; i++) {
        unsigned char b[16];
        size_t n = strlen(CT_LEAVES[i]) / 2;
        for (size_t j = 0; j < n; j++)
            sscanf(CT_LEAVES[i] + 2 * j, "%2hhx", &b[j]);
        add_leaf(f, b, n);
    }
}

static void test_empty_tree(void **state)
{
    struct fx *f = *state;
    uint64_t size = 9;
    hash_t root, want;
    audit_log_head(f->log, &size, root);
    assert_int_equal(size, 0);
    /* MTH({}) = SHA-256 of the empty string */
    hex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(root, want, HL);
    root_is(f, 0, want);
}

/* Each leaf appended alone: after each, the head is the published root. */
static void test_ct_roots(void **state)
{
    struct fx *f = *state;
    add_ct_leaves(f);
    for (size_t i = 0; i < 8; i++) {
        append_range(f, i, i + 1);
        uint64_t size;
        hash_t root, want;
        audit_log_head(f->log, &size, root);
        hex_to(CT_ROOTS[i], want);
        assert_int_equal(size, i + 1);
        assert_memory_equal(root, want, HL);
    }
    for (size_t i = 0; i < 8; i++) {
        hash_t want;
        hex_to(CT_ROOTS[i], want);
        root_is(f, i + 1, want);
    }
}

static void test_hand_vectors(void **state)
{
    struct fx *f = *state;
    add_ct_leaves(f);
    append_range(f, 0, 3); /* in batches of 3 and 5: where batches end must not matter */
    append_range(f, 3, 8);
    hash_t L[8], N01, N23, N45, N67, N0123, N4567, N45_6, x;
    for (int i = 0; i < 8; i++)
        ref_leaf(&f->d, (size_t)i, L[i]);
    ref_node(L[0], L[1], N01);
    ref_node(L[2], L[3], N23);
    ref_node(L[4], L[5], N45);
    ref_node(L[6], L[7], N67);
    ref_node(N01, N23, N0123);
    ref_node(N45, N67, N4567);
    ref_node(N45, L[6], N45_6);

    /* size 1: the root is L0; its path is empty */
    root_is(f, 1, L[0]);
    inclusion_is(f, 0, 1, NULL, 0);
    /* size 2: N(L0,L1) */
    root_is(f, 2, N01);
    hash_t p[4];
    memcpy(p[0], L[1], HL);
    inclusion_is(f, 0, 2, p, 1); /* PATH(0, D[2]) = [L1] */
    memcpy(p[0], L[0], HL);
    inclusion_is(f, 1, 2, p, 1); /* PATH(1, D[2]) = [L0] */
    memcpy(p[0], L[1], HL);
    consistency_is(f, 1, 2, p, 1); /* PROOF(1, D[2]) = [L1] */

    /* size 3: N(N(L0,L1),L2) */
    ref_node(N01, L[2], x);
    root_is(f, 3, x);
    memcpy(p[0], L[1], HL), memcpy(p[1], L[2], HL);
    inclusion_is(f, 0, 3, p, 2); /* [L1, L2] */
    memcpy(p[0], N01, HL);
    inclusion_is(f, 2, 3, p, 1); /* [N(L0,L1)] */
    memcpy(p[0], L[1], HL), memcpy(p[1], L[2], HL);
    consistency_is(f, 1, 3, p, 2); /* SUBPROOF(1,D[0:2],true)=[L1], then MTH(D[2:3])=L2 */
    memcpy(p[0], L[2], HL);
    consistency_is(f, 2, 3, p, 1); /* m = k = 2: [] then [L2] */

    /* size 7: N(N0123, N(N45, L6)) */
    ref_node(N0123, N45_6, x);
    root_is(f, 7, x);
    memcpy(p[0], L[1], HL), memcpy(p[1], N23, HL), memcpy(p[2], N45_6, HL);
    inclusion_is(f, 0, 7, p, 3);
    memcpy(p[0], N45, HL), memcpy(p[1], N0123, HL);
    inclusion_is(f, 6, 7, p, 2); /* L6 is alone on its level: only 2 hashes */
    memcpy(p[0], L[4], HL), memcpy(p[1], L[6], HL), memcpy(p[2], N0123, HL);
    inclusion_is(f, 5, 7, p, 3);
    memcpy(p[0], N45_6, HL);
    consistency_is(f, 4, 7, p, 1); /* a power of two: the old root is the left subtree */
    memcpy(p[0], L[2], HL), memcpy(p[1], L[3], HL), memcpy(p[2], N01, HL), memcpy(p[3], N45_6, HL);
    consistency_is(f, 3, 7, p, 4); /* [L2, L3, N01, N(N45,L6)] */

    /* size 8: N(N0123, N4567) */
    ref_node(N0123, N4567, x);
    root_is(f, 8, x);
    memcpy(p[0], L[4], HL), memcpy(p[1], N67, HL), memcpy(p[2], N0123, HL);
    inclusion_is(f, 5, 8, p, 3);
    memcpy(p[0], L[6], HL), memcpy(p[1], N45, HL), memcpy(p[2], N0123, HL);
    inclusion_is(f, 7, 8, p, 3);
    memcpy(p[0], N45, HL), memcpy(p[1], N67, HL), memcpy(p[2], N0123, HL);
    consistency_is(f, 6, 8, p, 3); /* [N45, N67, N0123] */
    memcpy(p[0], L[6], HL), memcpy(p[1], L[7], HL), memcpy(p[2], N45, HL), memcpy(p[3], N0123, HL);
    consistency_is(f, 7, 8, p, 4); /* SUBPROOF(3, D[4:8], false) = [L6, L7, N45]; then N0123 */
    memcpy(p[0], N4567, HL);
    consistency_is(f, 4, 8, p, 1);
}

/* ---- 1000 leaves against the reference ------------------------------------------------ */

static void add_big(struct fx *f)
{
    static const char pad[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop";
    for (int i = 0; i < BIG; i++) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "{\"i\":%d,\"pad\":\"%.*s\"}", i, i % 61, pad);
        add_leaf(f, buf, (size_t)n);
    }
    /* batches of uneven sizes, across tile boundaries */
    size_t at = 0, step = 1;
    while (at < BIG) {
        size_t to = at + step < BIG ? at + step : BIG;
        append_range(f, at, to);
        at = to;
        step = step * 3 % 97 + 1;
    }
}

static void test_1000_roots(void **state)
{
    struct fx *f = *state;
    add_big(f);
    for (size_t n = 0; n <= BIG; n++) {
        hash_t want;
        ref_mth(&f->d, 0, n, want);
        root_is(f, n, want);
    }
    uint64_t size;
    hash_t root, want;
    audit_log_head(f->log, &size, root);
    ref_mth(&f->d, 0, BIG, want);
    assert_int_equal(size, BIG);
    assert_memory_equal(root, want, HL);
}

static void test_1000_inclusion(void **state)
{
    struct fx *f = *state;
    add_big(f);
    static const size_t sizes[] = {1, 2, 255, 256, 257, 511, 512, 513, 768, 999, BIG};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (size_t i = 0; i < sizes[s]; i += (sizes[s] == BIG ? 1 : 7)) {
            hash_t want[AUDIT_PROOF_MAX];
            size_t n = 0;
            ref_path(&f->d, i, 0, sizes[s], want, &n);
            inclusion_is(f, i, sizes[s], want, n);
        }
    }
}

static void test_1000_consistency(void **state)
{
    struct fx *f = *state;
    add_big(f);
    static const size_t sizes[] = {2, 3, 256, 257, 600, BIG};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (size_t m = 1; m < sizes[s]; m += (sizes[s] == BIG ? 1 : 5)) {
            hash_t want[AUDIT_PROOF_MAX];
            size_t n = 0;
            ref_subproof(&f->d, m, 0, sizes[s], true, want, &n);
            consistency_is(f, m, sizes[s], want, n);
        }
    }
    /* m == n and m == 0: the empty proof */
    hash_t path[AUDIT_PROOF_MAX], r;
    size_t n = 9;
    struct st_err err;
    assert_int_equal(audit_log_consistency(f->log, BIG, BIG, path, &n, &err), ST_OK);
    assert_int_equal(n, 0);
    assert_int_equal(audit_log_consistency(f->log, 0, BIG, path, &n, &err), ST_OK);
    assert_int_equal(n, 0);
    ref_mth(&f->d, 0, BIG, r);
    assert_true(keys_merkle_consistency(BIG, BIG, r, r, path, 0));
    /* beyond the tree, or backwards: refused */
    assert_int_equal(audit_log_consistency(f->log, 5, BIG + 1, path, &n, &err), ST_INVALID);
    assert_int_equal(audit_log_consistency(f->log, 6, 5, path, &n, &err), ST_INVALID);
    assert_int_equal(audit_log_inclusion(f->log, BIG, BIG, path, &n, &err), ST_INVALID);
}

/* Every change to a good proof makes it fail. */
static void test_proofs_refuse_changes(void **state)
{
    struct fx *f = *state;
    add_big(f);
    hash_t path[AUDIT_PROOF_MAX], root, leaf, old, bad[AUDIT_PROOF_MAX + 1];
    size_t n = 0;
    struct st_err err;
    const uint64_t idx = 613, size = 977, m = 300;
    assert_int_equal(audit_log_inclusion(f->log, idx, size, path, &n, &err), ST_OK);
    ref_mth(&f->d, 0, size, root);
    ref_leaf(&f->d, idx, leaf);
    assert_true(keys_merkle_inclusion(idx, size, leaf, path, n, root));
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, path, n * HL);
        bad[i][i % HL] ^= 0x40;
        assert_false(keys_merkle_inclusion(idx, size, leaf, bad, n, root));
    }
    assert_false(keys_merkle_inclusion(idx + 1, size, leaf, path, n, root));
    assert_false(keys_merkle_inclusion(idx - 1, size, leaf, path, n, root));
    assert_false(keys_merkle_inclusion(idx, 700, leaf, path, n, root)); /* another shape */
    assert_false(keys_merkle_inclusion(idx, idx + 1, leaf, path, n, root));
    assert_false(keys_merkle_inclusion(idx, size, leaf, path, n - 1, root));
    memcpy(bad, path, n * HL);
    memcpy(bad[n], root, HL);
    assert_false(keys_merkle_inclusion(idx, size, leaf, bad, n + 1, root));
    assert_false(keys_merkle_inclusion(size, size, leaf, path, n, root));
    leaf[0] ^= 1;
    assert_false(keys_merkle_inclusion(idx, size, leaf, path, n, root));

    assert_int_equal(audit_log_consistency(f->log, m, size, path, &n, &err), ST_OK);
    ref_mth(&f->d, 0, m, old);
    assert_true(keys_merkle_consistency(m, size, old, root, path, n));
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, path, n * HL);
        bad[i][31 - i % HL] ^= 0x01;
        assert_false(keys_merkle_consistency(m, size, old, root, bad, n));
    }
    assert_false(keys_merkle_consistency(m + 1, size, old, root, path, n));
    assert_false(keys_merkle_consistency(m, 333, old, root, path, n)); /* another shape */
    assert_false(keys_merkle_consistency(m, size, old, root, path, n - 1));
    assert_false(keys_merkle_consistency(m, size, root, old, path, n));
    assert_false(keys_merkle_consistency(size, m, old, root, path, n));
    assert_false(keys_merkle_consistency(m, size, old, root, path, 0));
}

/* ---- tiles, reopening, subjects, named values ------------------------------------------ */

static void test_tiles(void **state)
{
    struct fx *f = *state;
    add_big(f);
    uint8_t tile[AUDIT_TILE_WIDTH * HL];
    struct st_err err;
    /* level 0: leaf hashes; 3 full tiles and one partial of 1000 - 768 = 232 */
    for (uint64_t t = 0; t < 4; t++) {
        unsigned w = t < 3 ? 256 : 232;
        assert_int_equal(audit_log_tile(f->log, 0, t, w, tile, &err), ST_OK);
        for (unsigned i = 0; i < w; i++) {
            hash_t want;
            ref_leaf(&f->d, t * 256 + i, want);
            assert_memory_equal(tile + i * HL, want, HL);
        }
    }
    assert_int_equal(audit_log_tile(f->log, 0, 3, 233, tile, &err), ST_NOT_FOUND);
    assert_int_equal(audit_log_tile(f->log, 0, 4, 1, tile, &err), ST_NOT_FOUND);
    /* level 1: MTH of each full level-0 tile; width 3 */
    assert_int_equal(audit_log_tile(f->log, 1, 0, 3, tile, &err), ST_OK);
    for (unsigned i = 0; i < 3; i++) {
        hash_t want;
        ref_mth(&f->d, i * 256, (i + 1) * 256, want);
        assert_memory_equal(tile + i * HL, want, HL);
    }
    assert_int_equal(audit_log_tile(f->log, 1, 0, 4, tile, &err), ST_NOT_FOUND);
    assert_int_equal(audit_log_tile(f->log, 2, 0, 1, tile, &err), ST_NOT_FOUND);
    assert_int_equal(audit_log_tile(f->log, 0, 0, 0, tile, &err), ST_INVALID);
    assert_int_equal(audit_log_tile(f->log, 9, 0, 1, tile, &err), ST_NOT_FOUND);
    assert_int_equal(audit_log_tile(f->log, 0, UINT64_MAX / 256, 1, tile, &err), ST_NOT_FOUND);
}

/* The log grows with every access for as long as the appliance runs: it
 * keeps a share of the open files limit open, not every file it ever made. */
static void test_open_files_bounded(void **state)
{
    struct fx *f = *state;
    struct rlimit old;
    close_log(f);
    assert_int_equal(rocks_lower_open_files(1024, &old), 0);
    open_log(f);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rocks_option(f->dir, "max_open_files"),
                     (1024 - OPEN_FILES_RESERVE) * OPEN_FILES_AUDIT_PERCENT / 100);
}

static void test_reopen(void **state)
{
    struct fx *f = *state;
    add_big(f);
    for (size_t i = 0; i < 3; i++) {
        close_log(f);
        open_log(f);
        uint64_t size;
        hash_t root, want;
        audit_log_head(f->log, &size, root);
        ref_mth(&f->d, 0, f->d.n, want);
        assert_int_equal(size, f->d.n);
        assert_memory_equal(root, want, HL);
        char more[32];
        int n = snprintf(more, sizeof more, "after reopen %zu", i);
        add_leaf(f, more, (size_t)n);
        append_range(f, f->d.n - 1, f->d.n);
    }
    hash_t want;
    ref_mth(&f->d, 0, f->d.n, want);
    root_is(f, f->d.n, want);
    char *leaf;
    size_t len;
    struct st_err err;
    assert_int_equal(audit_log_leaf(f->log, 1001, &leaf, &len, &err), ST_OK);
    assert_int_equal(len, strlen("after reopen 1"));
    assert_memory_equal(leaf, "after reopen 1", len);
    free(leaf);
    assert_int_equal(audit_log_leaf(f->log, 1003, &leaf, &len, &err), ST_NOT_FOUND);
}

struct seen {
    uint64_t idx[16];
    size_t n;
};

static int collect(void *ctx, uint64_t index)
{
    struct seen *s = ctx;
    s->idx[s->n++] = index;
    return s->n == 16;
}

static int scan_count(void *ctx, uint64_t index, const char *data, size_t len)
{
    (void)index, (void)data, (void)len;
    (*(size_t *)ctx)++;
    return 0;
}

static void test_subjects_and_scan(void **state)
{
    struct fx *f = *state;
    uint8_t a[AUDIT_SUBJECT_LEN], b[AUDIT_SUBJECT_LEN];
    memset(a, 0xaa, sizeof a);
    memset(b, 0xab, sizeof b);
    struct audit_leaf leaves[6] = {
        {"one", 3, a},  {"two", 3, b},  {"three", 5, NULL},
        {"four", 4, a}, {"five", 4, a}, {"six", 3, b},
    };
    uint64_t first;
    struct st_err err;
    assert_int_equal(audit_log_append(f->log, leaves, 6, &first, &err), ST_OK);
    struct seen s = {0};
    assert_int_equal(audit_log_by_subject(f->log, a, collect, &s, &err), ST_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.idx[0], 0);
    assert_int_equal(s.idx[1], 3);
    assert_int_equal(s.idx[2], 4);
    s.n = 0;
    assert_int_equal(audit_log_by_subject(f->log, b, collect, &s, &err), ST_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.idx[1], 5);
    size_t count = 0;
    assert_int_equal(audit_log_scan(f->log, 2, 5, scan_count, &count, &err), ST_OK);
    assert_int_equal(count, 3);
    /* a leaf of more than AUDIT_LEAF_MAX bytes is refused, and nothing is appended */
    static char big[AUDIT_LEAF_MAX + 1];
    struct audit_leaf bad[2] = {{"ok", 2, NULL}, {big, sizeof big, NULL}};
    assert_int_equal(audit_log_append(f->log, bad, 2, &first, &err), ST_INVALID);
    bad[1] = (struct audit_leaf){NULL, 3, NULL};
    assert_int_equal(audit_log_append(f->log, bad, 2, &first, &err), ST_INVALID);
    uint64_t size;
    hash_t root;
    audit_log_head(f->log, &size, root);
    assert_int_equal(size, 6);
}

static void test_meta(void **state)
{
    struct fx *f = *state;
    struct st_err err;
    char *v = (char *)1;
    size_t len;
    assert_int_equal(audit_log_meta_get(f->log, "checkpoint", &v, &len, &err), ST_OK);
    assert_null(v);
    assert_int_equal(audit_log_meta_put(f->log, "checkpoint", "text\n", 5, &err), ST_OK);
    assert_int_equal(audit_log_meta_get(f->log, "checkpoint", &v, &len, &err), ST_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "text\n", 5);
    free(v);
    assert_int_equal(audit_log_meta_put(f->log, "size", "x", 1, &err), ST_INVALID);
    assert_int_equal(audit_log_meta_put(f->log, "", "x", 1, &err), ST_INVALID);
}

/* The log's database opened with RocksDB alone, behind the log's back (the
 * log is closed): its column families "default" (the batches), "subjects"
 * and "nodes" (node hashes and named values). */
struct raw {
    rocksdb_options_t *o;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf[3];
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
};
enum { RAW_BATCHES, RAW_SUBJECTS, RAW_NODES };

static void raw_open(struct fx *f, struct raw *r)
{
    const char *names[3] = {"default", "subjects", "nodes"};
    r->o = rocksdb_options_create();
    const rocksdb_options_t *cfo[3] = {r->o, r->o, r->o};
    char *rerr = NULL;
    r->db = rocksdb_open_column_families(r->o, f->dir, 3, names, cfo, r->cf, &rerr);
    if (rerr)
        fail_msg("rocksdb open: %s", rerr);
    r->ro = rocksdb_readoptions_create();
    r->wo = rocksdb_writeoptions_create();
}

static void raw_close(struct raw *r)
{
    for (int i = 0; i < 3; i++)
        if (r->cf[i])
            rocksdb_column_family_handle_destroy(r->cf[i]);
    rocksdb_close(r->db);
    rocksdb_readoptions_destroy(r->ro);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_options_destroy(r->o);
}

/* Damage the appliance itself would notice on its next start: the stored size
 * says a leaf exists that does not, or a hash the right edge needs is unreadable.
 * The log is closed, and its database edited behind its back with RocksDB. */
static void rewrite_batches(struct fx *f, uint64_t index, bool remove_it)
{
    struct raw r;
    raw_open(f, &r);
    rocksdb_t *db = r.db;
    rocksdb_column_family_handle_t **cf = r.cf;
    char *rerr = NULL;
    /* the batch holding leaf `index`, found walking the batch keys */
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, r.ro, cf[RAW_BATCHES]);
    unsigned char key[9] = {AUDIT_KEY_BATCH};
    for (int i = 8; i >= 1; i--)
        key[i] = (unsigned char)(index >> (8 * (8 - i)));
    rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof key);
    assert_true(rocksdb_iter_valid(it));
    size_t klen, vlen;
    const char *k = rocksdb_iter_key(it, &klen);
    assert_int_equal(klen, 9);
    unsigned char bkey[9];
    memcpy(bkey, k, 9);
    uint64_t first = 0;
    for (int i = 1; i < 9; i++)
        first = first << 8 | bkey[i];
    const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vlen);
    unsigned char *copy = malloc(vlen);
    size_t n = 0, at = 0;
    for (uint64_t i = first; at < vlen; i++) { /* every entry but `index`, or with it cut short */
        size_t len = (size_t)v[at + 32] << 8 | v[at + 33];
        if (i != index) {
            memcpy(copy + n, v + at, 34 + len);
            n += 34 + len;
        } else if (!remove_it) {
            memcpy(copy + n, v + at, 30); /* half a hash: the batch no longer parses */
            n += 30;
        }
        at += 34 + len;
    }
    rocksdb_iter_destroy(it);
    rocksdb_put_cf(db, r.wo, cf[RAW_BATCHES], (const char *)bkey, 9, (const char *)copy, n, &rerr);
    assert_null(rerr);
    free(copy);
    raw_close(&r);
}

/* Keys of one family that begin with 'M' or 'N' (named values, node hashes). */
static size_t count_nodes(struct raw *r, int cf)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, r->ro, r->cf[cf]);
    size_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        n += klen && (k[0] == AUDIT_KEY_META || k[0] == AUDIT_KEY_NODE);
    }
    rocksdb_iter_destroy(it);
    return n;
}

/* The layout before "nodes": named values and node hashes beside the batches,
 * and no family "nodes" at all. */
static size_t make_old_layout(struct fx *f)
{
    struct raw r;
    raw_open(f, &r);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r.db, r.ro, r.cf[RAW_NODES]);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    size_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it), n++) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen), *v = rocksdb_iter_value(it, &vlen);
        rocksdb_writebatch_put_cf(wb, r.cf[RAW_BATCHES], k, klen, v, vlen);
    }
    rocksdb_iter_destroy(it);
    char *rerr = NULL;
    rocksdb_write(r.db, r.wo, wb, &rerr);
    assert_null(rerr);
    rocksdb_writebatch_destroy(wb);
    rocksdb_drop_column_family(r.db, r.cf[RAW_NODES], &rerr);
    assert_null(rerr);
    raw_close(&r);
    return n;
}

/* A log kept in the layout before "nodes" opens with the same tree, its named
 * values and node hashes moved into "nodes", none left beside the batches. */
static void test_old_layout_moved(void **state)
{
    struct fx *f = *state;
    add_big(f);
    struct st_err err;
    assert_int_equal(audit_log_meta_put(f->log, "checkpoint", "signed\n", 7, &err), ST_OK);
    uint64_t size, size2;
    hash_t root, root2;
    audit_log_head(f->log, &size, root);
    uint8_t tile[AUDIT_TILE_WIDTH * HL], tile2[AUDIT_TILE_WIDTH * HL];
    assert_int_equal(audit_log_tile(f->log, 1, 0, 3, tile, &err), ST_OK);
    close_log(f);
    size_t moved = make_old_layout(f);
    assert_true(moved >= 5); /* size, checkpoint, the level-1 tile's three hashes */

    open_log(f);
    audit_log_head(f->log, &size2, root2);
    assert_int_equal(size2, size);
    assert_memory_equal(root2, root, HL);
    assert_int_equal(audit_log_tile(f->log, 1, 0, 3, tile2, &err), ST_OK);
    assert_memory_equal(tile2, tile, 3 * HL);
    char *v;
    size_t len;
    assert_int_equal(audit_log_meta_get(f->log, "checkpoint", &v, &len, &err), ST_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(v, "signed\n", 7);
    free(v);
    close_log(f);

    struct raw r;
    raw_open(f, &r);
    assert_int_equal(count_nodes(&r, RAW_BATCHES), 0);
    assert_int_equal(count_nodes(&r, RAW_NODES), moved);
    raw_close(&r);
    open_log(f); /* for teardown */
}

static void damage_then_open(struct fx *f, uint64_t index, bool remove_it, const char *want)
{
    audit_log_close(f->log);
    f->log = NULL;
    rewrite_batches(f, index, remove_it);
    struct st_err err = {0};
    assert_int_equal(audit_log_open(f->dir, false, false, &f->log, &err), ST_CORRUPT);
    if (!strstr(err.msg, want))
        fail_msg("\"%s\" does not name %s", err.msg, want);
    f->log = NULL;
}

static void test_open_finds_missing_last_leaf(void **state)
{
    struct fx *f = *state;
    add_big(f);
    damage_then_open(f, 999, true, "leaf 999");
}

/* A leaf removed in the middle of a whole tile is not needed at open; the
 * leaves after it in its batch move up, so a tile over it finds the batch one
 * short of the next. */
static void test_missing_leaf_named_by_reads(void **state)
{
    struct fx *f = *state;
    add_big(f);
    audit_log_close(f->log);
    f->log = NULL;
    rewrite_batches(f, 100, true);
    open_log(f);
    uint8_t tile[AUDIT_TILE_WIDTH * HL];
    struct st_err err;
    assert_int_equal(audit_log_tile(f->log, 0, 0, 256, tile, &err), ST_CORRUPT);
    assert_non_null(strstr(err.msg, "is missing"));
    char *leaf;
    size_t len;
    assert_int_equal(audit_log_leaf(f->log, 100, &leaf, &len, &err), ST_OK);
    assert_memory_equal(leaf, "{\"i\":101,", 9); /* 101 moved up into 100's place */
    free(leaf);
    assert_int_equal(audit_log_tile(f->log, 1, 0, 3, tile, &err), ST_OK); /* stored above it */
}

static void test_open_finds_malformed_edge_leaf(void **state)
{
    struct fx *f = *state;
    add_big(f);
    /* 1000 = 512 + 256 + 128 + ...: the peak [768, 896) is folded from its leaves */
    damage_then_open(f, 800, false, "malformed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ct_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_1000_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_1000_inclusion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_1000_consistency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proofs_refuse_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_files_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subjects_and_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_layout_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_finds_missing_last_leaf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_finds_malformed_edge_leaf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_leaf_named_by_reads, setup, teardown),
    };
    return cmocka_run_group_tests_name("audit log (RFC 9162 tree in RocksDB)", tests, NULL, NULL);
}
