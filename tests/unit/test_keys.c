/*
 * tests/unit/test_keys.c - the keyring: envelopes, data-encryption keys and
 * their rotation, wrapped secrets, the key file, index MACs.
 *
 * Pinned values (the HN key, an index MAC) were computed independently from
 * RFC 5869 and RFC 2104 for the master key 00 01 02 .. 1f; they guard against
 * any change to the derivation, which would make existing registers
 * unreadable.  DEKs are random per register and stored wrapped; here DEK 1
 * is given fixed bytes (PINNED_DEK1) so that envelopes can be checked against
 * their specification with OpenSSL alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "keys/keyring_internal.h"
#include "keys/keys.h"
#include "tests/unit/scratch_dir.h"

static const uint8_t PINNED_DEK1[32] = {
    0xc9, 0xcf, 0x35, 0x2e, 0xc0, 0x10, 0xc3, 0x74, 0xfc, 0xc4, 0x90, 0x30, 0x67, 0x21, 0x59, 0x03,
    0x2f, 0x87, 0x18, 0xec, 0x66, 0xc2, 0x47, 0x45, 0xe7, 0x94, 0xdc, 0x55, 0x67, 0xa4, 0xd0, 0xce,
};
static const uint8_t PINNED_HN_KEY[16] = {
    0xc6, 0x93, 0x9e, 0x35, 0x5e, 0x1d, 0x95, 0xc6, 0xa1, 0xc3, 0xf9, 0xc7, 0xf2, 0x42, 0xe6, 0xb4,
};
/* HMAC-SHA-256(index key, "document" 00 "A1234567"), first 16 bytes. */
static const uint8_t PINNED_DOCUMENT_MAC[16] = {
    0x8c, 0xa2, 0x71, 0xd6, 0x1c, 0x9d, 0x19, 0xa5, 0x68, 0x84, 0x01, 0xd3, 0xfe, 0x60, 0xce, 0x36,
};

static const char HN[] = "HN-0000-1234-5678";
static const char RECORD[] = "{\"v\":1,\"names\":{\"given\":\"Wanjiru\",\"family\":\"Kamau\"}}";

/* ---- helpers ---------------------------------------------------------------- */

static void counting_master(uint8_t master[KEYS_MASTER_LEN])
{
    for (int i = 0; i < KEYS_MASTER_LEN; i++)
        master[i] = (uint8_t)i;
}

/* DEK 1 of the test keyrings: PINNED_DEK1 for fill 0, `fill` bytes otherwise. */
static void add_dek1(struct keyring *kr, uint8_t fill)
{
    uint8_t dek[KEYS_DEK_LEN];
    struct keys_err err;
    if (fill == 0)
        memcpy(dek, PINNED_DEK1, sizeof(dek));
    else
        memset(dek, fill, sizeof(dek));
    assert_int_equal(keys_add_dek(kr, 1, dek, &err), KEYS_OK);
}

static struct keyring *keyring_with_master_byte(uint8_t fill)
{
    uint8_t master[KEYS_MASTER_LEN];
    struct keyring *kr = NULL;
    struct keys_err err;
    if (fill == 0)
        counting_master(master);
    else
        memset(master, fill, sizeof(master));
    assert_int_equal(keys_from_master(master, &kr, &err), KEYS_OK);
    assert_non_null(kr);
    assert_int_equal(keys_current_id(kr), 0);
    add_dek1(kr, fill);
    return kr;
}

static struct keyring *test_keyring(void)
{
    return keyring_with_master_byte(0);
}

/* Seals RECORD under HN; the caller frees the result. */
static uint8_t *seal_record(const struct keyring *kr, size_t *len)
{
    struct keys_err err;
    *len = keys_sealed_len(strlen(RECORD));
    uint8_t *sealed = malloc(*len);
    assert_non_null(sealed);
    assert_int_equal(keys_seal(kr, HN, strlen(HN), RECORD, strlen(RECORD), sealed, &err), KEYS_OK);
    return sealed;
}

static int open_record(const struct keyring *kr, const char *aad, const uint8_t *sealed, size_t len,
                       uint8_t *out, size_t *out_len)
{
    struct keys_err err = {{0}};
    int rc = keys_open(kr, aad, strlen(aad), sealed, len, out, out_len, &err);
    if (rc != KEYS_OK)
        assert_true(strlen(err.msg) > 0);
    return rc;
}

static void assert_all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[i], 0);
}

/* Opening `sealed` (with HN as aad) must fail with `want`, leaving no plaintext. */
static void assert_open_fails(const struct keyring *kr, const uint8_t *sealed, size_t len, int want)
{
    uint8_t out[256];
    size_t out_len = 12345;
    assert_true(len <= sizeof(out) + KEYS_SEAL_OVERHEAD);
    memset(out, 0, sizeof(out));
    assert_int_equal(open_record(kr, HN, sealed, len, out, &out_len), want);
    assert_int_equal(out_len, 0);
    assert_all_zero(out, sizeof(out));
}

/*
 * AES-256-GCM with an explicit associated-data string, outside keys/: lets the
 * tests check the envelope against its specification.  Returns 1 on success,
 * which for decryption means that the tag verified.
 */
static int gcm_raw(int encrypt, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad,
                   size_t ad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;
    int ok = ctx != NULL && EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, encrypt, NULL);
    ok = ok && EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len);
    ok = ok && (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len));
    if (!encrypt)
        ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    uint8_t none[32];
    ok = ok && EVP_CipherFinal_ex(ctx, none, &n) == 1;
    if (encrypt)
        ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* ---- temporary directory fixture ------------------------------------------------ */

struct tmp {
    char dir[64];
    char path[128];
};

static int make_tmp(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    if (scratch_dir_make(t->dir, sizeof t->dir, "test_keys") != 0) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/master.key", t->dir);
    *state = t;
    return 0;
}

static int remove_tmp(void **state)
{
    struct tmp *t = *state;
    int rc = scratch_dir_remove(t->dir);
    free(t);
    return rc;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static void write_key_file(const char *path, const char *magic, size_t key_len, mode_t mode)
{
    uint8_t buf[KEYS_FILE_LEN + 8];
    assert_true(KEYS_FILE_MAGIC_LEN + key_len <= sizeof(buf));
    memcpy(buf, magic, KEYS_FILE_MAGIC_LEN);
    memset(buf + KEYS_FILE_MAGIC_LEN, 0x5a, key_len);
    write_file(path, buf, KEYS_FILE_MAGIC_LEN + key_len, mode);
}

static int open_key_file(const char *path, struct keys_err *err)
{
    struct keyring *kr = NULL;
    memset(err, 0, sizeof(*err));
    int rc = keys_open_file(path, &kr, err);
    if (rc == KEYS_OK)
        keys_close(kr);
    else
        assert_true(strlen(err->msg) > 0);
    return rc;
}

/* ---- envelopes ------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    uint8_t out[sizeof(RECORD)];
    size_t out_len = 0;

    assert_int_equal(len, strlen(RECORD) + KEYS_SEAL_OVERHEAD);
    assert_int_equal(open_record(kr, HN, sealed, len, out, &out_len), KEYS_OK);
    assert_int_equal(out_len, strlen(RECORD));
    assert_memory_equal(out, RECORD, out_len);

    free(sealed);
    keys_close(kr);
}

static void test_envelope_header_and_fresh_nonce(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *a = seal_record(kr, &len);
    uint8_t *b = seal_record(kr, &len);

    assert_int_equal(keys_current_id(kr), 1);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1] | a[2] | a[3], 0);
    assert_int_equal(a[4], 1);
    assert_memory_not_equal(a + 5, b + 5, 12);
    assert_memory_not_equal(a + KEYS_SEAL_HEADER_LEN, b + KEYS_SEAL_HEADER_LEN,
                            len - KEYS_SEAL_HEADER_LEN);

    free(a);
    free(b);
    keys_close(kr);
}

/* Associated data is version | key id | caller's aad, under the pinned DEK 1. */
static void test_envelope_matches_specification(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    size_t text_len = len - KEYS_SEAL_OVERHEAD;
    uint8_t ad[5 + sizeof(HN)];
    uint8_t out[sizeof(RECORD)];
    uint8_t tag[16];

    memcpy(ad, sealed, 5);
    memcpy(ad + 5, HN, strlen(HN));
    memcpy(tag, sealed + len - 16, 16);
    assert_true(gcm_raw(0, PINNED_DEK1, sealed + 5, ad, 5 + strlen(HN),
                        sealed + KEYS_SEAL_HEADER_LEN, text_len, out, tag));
    assert_memory_equal(out, RECORD, text_len);

    /* Without the header in the associated data the tag does not verify. */
    assert_false(gcm_raw(0, PINNED_DEK1, sealed + 5, (const uint8_t *)HN, strlen(HN),
                         sealed + KEYS_SEAL_HEADER_LEN, text_len, out, tag));
    free(sealed);
    keys_close(kr);
}

/* An envelope whose header differs from the one its tag covers is refused. */
static void test_header_is_authenticated(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t text_len = strlen(RECORD);
    uint8_t sealed[sizeof(RECORD) - 1 + KEYS_SEAL_OVERHEAD];
    uint8_t ad[5 + sizeof(HN)];
    uint8_t *nonce = sealed + 5, *text = sealed + KEYS_SEAL_HEADER_LEN;

    /* Tag computed for key id 2, envelope labelled key id 1 (same key bytes). */
    const uint8_t claimed[5] = {1, 0, 0, 0, 1}, covered[5] = {1, 0, 0, 0, 2};
    memcpy(sealed, claimed, 5);
    memset(nonce, 0x42, 12);
    memcpy(ad, covered, 5);
    memcpy(ad + 5, HN, strlen(HN));
    assert_true(gcm_raw(1, PINNED_DEK1, nonce, ad, 5 + strlen(HN), (const uint8_t *)RECORD,
                        text_len, text, text + text_len));
    assert_open_fails(kr, sealed, sizeof(sealed), KEYS_EAUTH);

    /* The same envelope with the header it was made for opens. */
    memcpy(ad, claimed, 5);
    assert_true(gcm_raw(1, PINNED_DEK1, nonce, ad, 5 + strlen(HN), (const uint8_t *)RECORD,
                        text_len, text, text + text_len));
    uint8_t out[sizeof(RECORD)];
    size_t out_len;
    assert_int_equal(open_record(kr, HN, sealed, sizeof(sealed), out, &out_len), KEYS_OK);
    assert_memory_equal(out, RECORD, text_len);
    keys_close(kr);
}

static void flip_and_expect(size_t offset, int want)
{
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    sealed[offset] ^= 0x01;
    assert_open_fails(kr, sealed, len, want);
    free(sealed);
    keys_close(kr);
}

static void test_tampered_ciphertext(void **state)
{
    (void)state;
    flip_and_expect(KEYS_SEAL_HEADER_LEN, KEYS_EAUTH);
    flip_and_expect(KEYS_SEAL_HEADER_LEN + strlen(RECORD) - 1, KEYS_EAUTH);
}

static void test_tampered_tag(void **state)
{
    (void)state;
    flip_and_expect(KEYS_SEAL_HEADER_LEN + strlen(RECORD), KEYS_EAUTH);
    flip_and_expect(keys_sealed_len(strlen(RECORD)) - 1, KEYS_EAUTH);
}

static void test_tampered_header(void **state)
{
    (void)state;
    flip_and_expect(0, KEYS_EFORMAT);  /* version 1 -> 0 */
    flip_and_expect(4, KEYS_EUNKNOWN); /* key id 1 -> 0 */
    flip_and_expect(1, KEYS_EUNKNOWN); /* key id 1 -> 0x01000001 */
    flip_and_expect(5, KEYS_EAUTH);    /* nonce */
    flip_and_expect(16, KEYS_EAUTH);   /* nonce */
}

static void test_wrong_aad(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    uint8_t out[sizeof(RECORD)];
    size_t out_len = 1;

    assert_int_equal(open_record(kr, "HN-0000-1234-5679", sealed, len, out, &out_len), KEYS_EAUTH);
    assert_int_equal(out_len, 0);
    assert_int_equal(open_record(kr, "", sealed, len, out, &out_len), KEYS_EAUTH);
    assert_int_equal(open_record(kr, "HN-0000-1234-567", sealed, len, out, &out_len), KEYS_EAUTH);
    free(sealed);
    keys_close(kr);
}

static void test_wrong_key(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keyring *other = keyring_with_master_byte(0xee);
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);

    assert_int_equal(keys_current_id(other), keys_current_id(kr));
    assert_open_fails(other, sealed, len, KEYS_EAUTH);
    free(sealed);
    keys_close(other);
    keys_close(kr);
}

static void test_truncated_envelope(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);

    assert_open_fails(kr, sealed, 0, KEYS_EFORMAT);
    assert_open_fails(kr, sealed, 1, KEYS_EFORMAT);
    assert_open_fails(kr, sealed, KEYS_SEAL_HEADER_LEN, KEYS_EFORMAT);
    assert_open_fails(kr, sealed, KEYS_SEAL_OVERHEAD - 1, KEYS_EFORMAT);
    assert_open_fails(kr, sealed, KEYS_SEAL_OVERHEAD, KEYS_EAUTH);
    assert_open_fails(kr, sealed, len - 1, KEYS_EAUTH);
    free(sealed);
    keys_close(kr);
}

static void test_unknown_key_id(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    struct keys_err err = {{0}};
    uint8_t out[sizeof(RECORD)];
    size_t out_len;

    sealed[1] = 0x7f; /* key id 0x7f000001 */
    assert_open_fails(kr, sealed, len, KEYS_EUNKNOWN);
    assert_int_equal(keys_open(kr, HN, strlen(HN), sealed, len, out, &out_len, &err),
                     KEYS_EUNKNOWN);
    assert_non_null(strstr(err.msg, "2130706433"));
    free(sealed);
    keys_close(kr);
}

static void test_empty_plaintext(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keys_err err;
    uint8_t sealed[KEYS_SEAL_OVERHEAD];
    uint8_t out[1] = {0};
    size_t out_len = 99;

    assert_int_equal(keys_seal(kr, HN, strlen(HN), NULL, 0, sealed, &err), KEYS_OK);
    assert_int_equal(keys_open(kr, HN, strlen(HN), sealed, sizeof(sealed), out, &out_len, &err),
                     KEYS_OK);
    assert_int_equal(out_len, 0);

    /* The tag still covers the aad. */
    assert_int_equal(keys_open(kr, "x", 1, sealed, sizeof(sealed), out, &out_len, &err),
                     KEYS_EAUTH);

    /* No aad at all. */
    assert_int_equal(keys_seal(kr, NULL, 0, NULL, 0, sealed, &err), KEYS_OK);
    assert_int_equal(keys_open(kr, NULL, 0, sealed, sizeof(sealed), out, &out_len, NULL), KEYS_OK);
    keys_close(kr);
}

static void test_null_err_is_allowed(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    uint8_t tiny[3] = {1, 0, 0};
    uint8_t out[1];
    size_t out_len;
    assert_int_equal(keys_open(kr, NULL, 0, tiny, sizeof(tiny), out, &out_len, NULL), KEYS_EFORMAT);
    keys_close(NULL);
    keys_close(kr);
}

/* ---- derived keys and index MACs ------------------------------------------------- */

static void test_pinned_derivation(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keyring *other = keyring_with_master_byte(0xee);
    uint8_t mac[KEYS_MAC_LEN];

    assert_memory_equal(keys_hn_key(kr), PINNED_HN_KEY, KEYS_HN_KEY_LEN);
    assert_memory_not_equal(keys_hn_key(other), PINNED_HN_KEY, KEYS_HN_KEY_LEN);
    keys_index_mac(kr, "document", "A1234567", 8, mac);
    assert_memory_equal(mac, PINNED_DOCUMENT_MAC, KEYS_MAC_LEN);
    keys_close(other);
    keys_close(kr);
}

static void test_index_mac_deterministic_and_separated(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keyring *again = test_keyring();
    struct keyring *other = keyring_with_master_byte(0xee);
    uint8_t a[KEYS_MAC_LEN], b[KEYS_MAC_LEN];

    keys_index_mac(kr, "document", "A1234567", 8, a);
    keys_index_mac(again, "document", "A1234567", 8, b);
    assert_memory_equal(a, b, KEYS_MAC_LEN);

    keys_index_mac(kr, "enrolment", "A1234567", 8, b);
    assert_memory_not_equal(a, b, KEYS_MAC_LEN);
    keys_index_mac(other, "document", "A1234567", 8, b);
    assert_memory_not_equal(a, b, KEYS_MAC_LEN);
    keys_index_mac(kr, "document", "A1234568", 8, b);
    assert_memory_not_equal(a, b, KEYS_MAC_LEN);

    /* The separator keeps the domain and data from sliding into each other. */
    keys_index_mac(kr, "ab", "c", 1, a);
    keys_index_mac(kr, "a", "bc", 2, b);
    assert_memory_not_equal(a, b, KEYS_MAC_LEN);

    /* Empty data is a value too, distinct from the empty domain. */
    keys_index_mac(kr, "document", NULL, 0, a);
    keys_index_mac(kr, "", "document", 8, b);
    assert_memory_not_equal(a, b, KEYS_MAC_LEN);

    keys_close(other);
    keys_close(again);
    keys_close(kr);
}

/* The prepared HMAC states give what OpenSSL's own HMAC gives, for messages
 * of every length from empty to several blocks, under both kinds of keyring
 * (derived from a master key, and given its index key as it is). */
static void test_index_mac_is_hmac_sha256(void **state)
{
    (void)state;
    uint8_t index_key[KEYS_INDEX_KEY_LEN], hn_key[KEYS_HN_KEY_LEN] = {0};
    for (size_t i = 0; i < sizeof index_key; i++)
        index_key[i] = (uint8_t)(0xa5 ^ (i * 7));
    struct keyring *derived = test_keyring(), *given = NULL;
    struct keys_err err;
    assert_int_equal(keyring_from_parts(index_key, hn_key, &given, &err), KEYS_OK);
    struct keyring *rings[] = {derived, given};
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 31 + 1);
    for (size_t k = 0; k < 2; k++) {
        const uint8_t *key = rings[k]->index_key;
        for (size_t len = 0; len + sizeof "subject" <= sizeof msg; len += 1 + len / 8) {
            uint8_t whole[sizeof msg], want[EVP_MAX_MD_SIZE], got[KEYS_MAC_LEN];
            memcpy(whole, "subject", sizeof "subject"); /* the domain and its zero byte */
            memcpy(whole + sizeof "subject", msg, len);
            unsigned want_len = 0;
            assert_non_null(HMAC(EVP_sha256(), key, KEYS_INDEX_KEY_LEN, whole,
                                 sizeof "subject" + len, want, &want_len));
            keys_index_mac(rings[k], "subject", msg, len, got);
            assert_memory_equal(got, want, KEYS_MAC_LEN);
        }
    }
    keys_close(given);
    keys_close(derived);
}

/* ---- the key file ---------------------------------------------------------------- */

static void test_key_file_created_0600_and_never_overwritten(void **state)
{
    struct tmp *t = *state;
    struct keys_err err = {{0}};
    struct stat st;
    uint8_t first[KEYS_FILE_LEN], now[KEYS_FILE_LEN];

    assert_int_equal(keys_create_file(t->path, &err), KEYS_OK);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, KEYS_FILE_LEN);

    FILE *f = fopen(t->path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(first, 1, sizeof(first), f), sizeof(first));
    fclose(f);
    assert_memory_equal(first, "HUDUMAK1", 8);

    assert_int_equal(keys_create_file(t->path, &err), KEYS_EEXIST);
    assert_true(strlen(err.msg) > 0);
    f = fopen(t->path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(now, 1, sizeof(now), f), sizeof(now));
    fclose(f);
    assert_memory_equal(first, now, sizeof(now));
}

static void test_key_file_mode_ignores_umask(void **state)
{
    struct tmp *t = *state;
    struct keys_err err;
    struct stat st;
    mode_t old = umask(0277);
    int rc = keys_create_file(t->path, &err);
    umask(old);
    assert_int_equal(rc, KEYS_OK);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

/* A keyring opened from the file equals one built from the file's master key. */
static void test_key_file_opens_to_its_master(void **state)
{
    struct tmp *t = *state;
    struct keys_err err;
    struct keyring *from_file = NULL, *from_bytes = NULL;
    uint8_t file[KEYS_FILE_LEN];

    assert_int_equal(keys_create_file(t->path, &err), KEYS_OK);
    assert_int_equal(keys_open_file(t->path, &from_file, &err), KEYS_OK);
    assert_all_zero(from_file->scratch, sizeof(from_file->scratch));
    FILE *f = fopen(t->path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(file, 1, sizeof(file), f), sizeof(file));
    fclose(f);
    assert_int_equal(keys_from_master(file + 8, &from_bytes, &err), KEYS_OK);
    add_dek1(from_file, 0x33);
    add_dek1(from_bytes, 0x33);

    size_t len;
    uint8_t *sealed = seal_record(from_file, &len);
    uint8_t out[sizeof(RECORD)];
    size_t out_len;
    assert_int_equal(open_record(from_bytes, HN, sealed, len, out, &out_len), KEYS_OK);
    assert_memory_equal(keys_hn_key(from_file), keys_hn_key(from_bytes), KEYS_HN_KEY_LEN);
    assert_int_equal(keys_current_id(from_file), 1);

    free(sealed);
    keys_close(from_bytes);
    keys_close(from_file);
}

static void test_key_file_wrong_format(void **state)
{
    struct tmp *t = *state;
    struct keys_err err;

    write_key_file(t->path, "HUDUMAX1", KEYS_MASTER_LEN, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);
    assert_non_null(strstr(err.msg, "magic"));

    write_key_file(t->path, "-----BEG", KEYS_MASTER_LEN, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);

    write_key_file(t->path, "HUDUMAK2", KEYS_MASTER_LEN, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);
    assert_non_null(strstr(err.msg, "version"));

    write_key_file(t->path, "HUDUMAK1", KEYS_MASTER_LEN - 1, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);
    write_key_file(t->path, "HUDUMAK1", KEYS_MASTER_LEN + 1, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);
    write_file(t->path, "HUD", 3, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);
    write_file(t->path, "", 0, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_EFORMAT);

    write_key_file(t->path, "HUDUMAK1", KEYS_MASTER_LEN, 0600);
    assert_int_equal(open_key_file(t->path, &err), KEYS_OK);
}

static void test_key_file_readable_by_others_refused(void **state)
{
    struct tmp *t = *state;
    struct keys_err err;
    const mode_t refused[] = {0644, 0604, 0640, 0660, 0602, 0610};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        write_key_file(t->path, "HUDUMAK1", KEYS_MASTER_LEN, refused[i]);
        assert_int_equal(open_key_file(t->path, &err), KEYS_EIO);
        assert_non_null(strstr(err.msg, "group or others"));
    }
    write_key_file(t->path, "HUDUMAK1", KEYS_MASTER_LEN, 0400);
    assert_int_equal(open_key_file(t->path, &err), KEYS_OK);
}

static void test_key_file_missing_or_not_a_file(void **state)
{
    struct tmp *t = *state;
    struct keys_err err;
    assert_int_equal(open_key_file(t->path, &err), KEYS_EIO);
    assert_int_equal(chmod(t->dir, 0700), 0);
    assert_int_equal(open_key_file(t->dir, &err), KEYS_EIO);

    char missing_dir[192];
    snprintf(missing_dir, sizeof(missing_dir), "%s/absent/master.key", t->dir);
    assert_int_equal(keys_create_file(missing_dir, &err), KEYS_EIO);
}

/* ---- memory and threads ---------------------------------------------------------- */

/* AddressSanitizer intercepts mlock() and turns it into a no-op that succeeds. */
#if defined(__SANITIZE_ADDRESS__)
#define MLOCK_IS_REAL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MLOCK_IS_REAL 0
#endif
#endif
#ifndef MLOCK_IS_REAL
#define MLOCK_IS_REAL 1
#endif

static void test_memlock_limit_is_not_fatal(void **state)
{
    (void)state;
    struct rlimit saved, none;
    assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &saved), 0);
    none = saved;
    none.rlim_cur = 0;
    assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &none), 0);

    struct keyring *kr = test_keyring();
    assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &saved), 0);
    if (MLOCK_IS_REAL && geteuid() != 0)
        assert_false(keyring_memory_locked(kr));
    size_t len;
    uint8_t *sealed = seal_record(kr, &len);
    free(sealed);
    keys_close(kr);
}

#define THREADS                 8
#define THREADS_DURING_ROTATION 4
#define ROUNDS                  500

static void *seal_and_open_many(void *arg)
{
    const struct keyring *kr = arg;
    uint8_t sealed[64 + KEYS_SEAL_OVERHEAD], plain[64], out[64];
    char aad[32];
    for (int i = 0; i < ROUNDS; i++) {
        size_t n = (size_t)i % sizeof(plain), out_len = 0;
        memset(plain, i, n);
        snprintf(aad, sizeof(aad), "HN-%d-%p", i, (void *)&aad);
        uint8_t m1[KEYS_MAC_LEN], m2[KEYS_MAC_LEN];
        keys_index_mac(kr, "document", aad, strlen(aad), m1);
        keys_index_mac(kr, "document", aad, strlen(aad), m2);
        if (keys_seal(kr, aad, strlen(aad), plain, n, sealed, NULL) != KEYS_OK ||
            keys_open(kr, aad, strlen(aad), sealed, keys_sealed_len(n), out, &out_len, NULL) !=
                KEYS_OK ||
            out_len != n || memcmp(out, plain, n) != 0 || memcmp(m1, m2, sizeof(m1)) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_use_of_one_keyring(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, seal_and_open_many, kr), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failed;
        assert_int_equal(pthread_join(threads[i], &failed), 0);
        assert_null(failed);
    }
    keys_close(kr);
}

/* ---- data-encryption keys and rotation -------------------------------------------- */

static void test_dek_table_rules(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keys_err err = {{0}};
    uint8_t dek[KEYS_DEK_LEN];
    memset(dek, 0x77, sizeof(dek));
    assert_int_equal(keys_add_dek(kr, 0, dek, &err), KEYS_EFORMAT);
    assert_int_equal(keys_add_dek(kr, 1, dek, &err), KEYS_EEXIST);     /* other bytes */
    assert_int_equal(keys_add_dek(kr, 1, PINNED_DEK1, &err), KEYS_OK); /* the same again */
    assert_int_equal(keys_use_dek(kr, 9, &err), KEYS_EUNKNOWN);
    for (uint32_t id = 2; id <= KEYS_MAX_DEKS; id++) {
        dek[0] = (uint8_t)id;
        assert_int_equal(keys_add_dek(kr, id, dek, &err), KEYS_OK);
    }
    dek[0] = 0;
    assert_int_equal(keys_add_dek(kr, KEYS_MAX_DEKS + 1, dek, &err), KEYS_EFULL);
    assert_int_equal(keys_current_id(kr), 1); /* adding never switches */
    assert_true(keys_has_dek(kr, KEYS_MAX_DEKS));
    assert_false(keys_has_dek(kr, KEYS_MAX_DEKS + 1));
    keys_close(kr);

    /* No DEK yet: nothing can be sealed. */
    uint8_t master[KEYS_MASTER_LEN] = {0}, sealed[KEYS_SEAL_OVERHEAD];
    assert_int_equal(keys_from_master(master, &kr, &err), KEYS_OK);
    assert_int_equal(keys_seal(kr, NULL, 0, NULL, 0, sealed, &err), KEYS_EUNKNOWN);
    keys_close(kr);
}

/* After a switch new envelopes name the new key, and old ones still open. */
static void test_rotation_keeps_old_envelopes_readable(void **state)
{
    (void)state;
    struct keyring *kr = test_keyring();
    struct keys_err err;
    size_t len;
    uint8_t *old = seal_record(kr, &len);
    uint8_t dek2[KEYS_DEK_LEN];
    memset(dek2, 0x42, sizeof(dek2));
    assert_int_equal(keys_add_dek(kr, 2, dek2, &err), KEYS_OK);
    assert_int_equal(keys_use_dek(kr, 2, &err), KEYS_OK);
    assert_int_equal(keys_current_id(kr), 2);
    uint8_t *fresh = seal_record(kr, &len);
    assert_int_equal(keys_envelope_key_id(old, len), 1);
    assert_int_equal(keys_envelope_key_id(fresh, len), 2);
    assert_int_equal(keys_envelope_key_id(fresh, KEYS_SEAL_OVERHEAD - 1), 0);
    uint8_t out[sizeof(RECORD)];
    size_t out_len;
    assert_int_equal(open_record(kr, HN, old, len, out, &out_len), KEYS_OK);
    assert_int_equal(open_record(kr, HN, fresh, len, out, &out_len), KEYS_OK);
    assert_memory_equal(out, RECORD, out_len);
    free(old);
    free(fresh);
    keys_close(kr);
}

struct rotating {
    struct keyring *kr;
    atomic_bool stop;
};

static void *rotate_while_others_seal(void *arg)
{
    struct rotating *r = arg;
    uint8_t dek[KEYS_DEK_LEN];
    for (uint32_t id = 2; id <= KEYS_MAX_DEKS && !atomic_load(&r->stop); id++) {
        memset(dek, (int)id, sizeof(dek));
        if (keys_add_dek(r->kr, id, dek, NULL) != KEYS_OK ||
            keys_use_dek(r->kr, id, NULL) != KEYS_OK)
            return (void *)1;
        usleep(200);
    }
    return NULL;
}

/* Threads seal and open while another adds keys and switches between them. */
static void test_rotation_under_concurrent_use(void **state)
{
    (void)state;
    struct rotating r = {.kr = test_keyring()};
    pthread_t rot, threads[THREADS_DURING_ROTATION];
    for (int i = 0; i < THREADS_DURING_ROTATION; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, seal_and_open_many, r.kr), 0);
    assert_int_equal(pthread_create(&rot, NULL, rotate_while_others_seal, &r), 0);
    for (int i = 0; i < THREADS_DURING_ROTATION; i++) {
        void *failed;
        assert_int_equal(pthread_join(threads[i], &failed), 0);
        assert_null(failed);
    }
    atomic_store(&r.stop, true);
    void *failed;
    assert_int_equal(pthread_join(rot, &failed), 0);
    assert_null(failed);
    keys_close(r.kr);
}

/* ---- wrapped secrets --------------------------------------------------------------- */

static void test_wrapped_secrets_are_bound_to_their_label(void **state)
{
    (void)state;
    uint8_t kek[32], other[32], wrapped[64 + KEYS_WRAP_OVERHEAD], out[64];
    size_t n;
    struct keys_err err;
    memset(kek, 1, sizeof(kek));
    memset(other, 2, sizeof(other));
    assert_int_equal(keys_wrap(kek, "huduma dek 7", PINNED_DEK1, 32, wrapped, &err), KEYS_OK);
    assert_true(keys_is_wrapped(wrapped, 32 + KEYS_WRAP_OVERHEAD));
    assert_memory_equal(wrapped, KEYS_WRAP_MAGIC, 8);
    assert_null(memmem(wrapped, 32 + KEYS_WRAP_OVERHEAD, PINNED_DEK1, 8));
    assert_int_equal(
        keys_unwrap(kek, "huduma dek 7", wrapped, 32 + KEYS_WRAP_OVERHEAD, out, &n, &err), KEYS_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(out, PINNED_DEK1, 32);
    n = 99;
    assert_int_equal(
        keys_unwrap(kek, "huduma dek 8", wrapped, 32 + KEYS_WRAP_OVERHEAD, out, &n, &err),
        KEYS_EAUTH);
    assert_int_equal(n, 0);
    assert_all_zero(out, 32);
    assert_int_equal(
        keys_unwrap(other, "huduma dek 7", wrapped, 32 + KEYS_WRAP_OVERHEAD, out, &n, &err),
        KEYS_EAUTH);
    wrapped[20] ^= 1;
    assert_int_equal(
        keys_unwrap(kek, "huduma dek 7", wrapped, 32 + KEYS_WRAP_OVERHEAD, out, &n, &err),
        KEYS_EAUTH);
    wrapped[20] ^= 1;
    wrapped[0] ^= 1;
    assert_int_equal(
        keys_unwrap(kek, "huduma dek 7", wrapped, 32 + KEYS_WRAP_OVERHEAD, out, &n, &err),
        KEYS_EFORMAT);
    assert_int_equal(
        keys_unwrap(kek, "huduma dek 7", wrapped, KEYS_WRAP_OVERHEAD - 1, out, &n, &err),
        KEYS_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_envelope_header_and_fresh_nonce),
        cmocka_unit_test(test_envelope_matches_specification),
        cmocka_unit_test(test_header_is_authenticated),
        cmocka_unit_test(test_tampered_ciphertext),
        cmocka_unit_test(test_tampered_tag),
        cmocka_unit_test(test_tampered_header),
        cmocka_unit_test(test_wrong_aad),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_truncated_envelope),
        cmocka_unit_test(test_unknown_key_id),
        cmocka_unit_test(test_empty_plaintext),
        cmocka_unit_test(test_null_err_is_allowed),
        cmocka_unit_test(test_pinned_derivation),
        cmocka_unit_test(test_index_mac_deterministic_and_separated),
        cmocka_unit_test(test_index_mac_is_hmac_sha256),
        cmocka_unit_test_setup_teardown(test_key_file_created_0600_and_never_overwritten, make_tmp,
                                        remove_tmp),
        cmocka_unit_test_setup_teardown(test_key_file_mode_ignores_umask, make_tmp, remove_tmp),
        cmocka_unit_test_setup_teardown(test_key_file_opens_to_its_master, make_tmp, remove_tmp),
        cmocka_unit_test_setup_teardown(test_key_file_wrong_format, make_tmp, remove_tmp),
        cmocka_unit_test_setup_teardown(test_key_file_readable_by_others_refused, make_tmp,
                                        remove_tmp),
        cmocka_unit_test_setup_teardown(test_key_file_missing_or_not_a_file, make_tmp, remove_tmp),
        cmocka_unit_test(test_memlock_limit_is_not_fatal),
        cmocka_unit_test(test_concurrent_use_of_one_keyring),
        cmocka_unit_test(test_dek_table_rules),
        cmocka_unit_test(test_rotation_keeps_old_envelopes_readable),
        cmocka_unit_test(test_rotation_under_concurrent_use),
        cmocka_unit_test(test_wrapped_secrets_are_bound_to_their_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
