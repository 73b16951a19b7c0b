/*
 * tests/fuzz/fuzz_audit_entries.c - libFuzzer target for the audit log's
 * entries as auditors receive them (one leaf per line) and for the leaf
 * parser (appliance/audit_check.c, appliance/audit_leaf.c).
 *
 * Promises checked on every input, any broken one aborts:
 *   - a leaf that audit_leaf_parse() accepts writes back with
 *     audit_leaf_format() into a leaf that parses to the same record;
 *   - the full audit of the entries against a checkpoint signed over exactly
 *     them (a key made at start) passes, and fails once the last entry is
 *     changed, naming its index (found through the entries' own leaf hashes,
 *     which hash to the signed root).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/audit.h"

static EVP_PKEY *pkey;
static char pem[512];
static struct audit_key *key;

static void check(int ok)
{
    if (!ok)
        abort();
}

static int sign(void *ctx, const char *text, size_t textlen, const uint8_t (*proof)[AUDIT_HASH_LEN],
                size_t nproof, uint8_t *sig, size_t *len, char *err, size_t errlen)
{
    (void)ctx, (void)proof, (void)nproof, (void)err, (void)errlen;
    uint8_t digest[32];
    SHA256((const unsigned char *)text, textlen, digest);
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(pkey, NULL);
    int ok = p && EVP_PKEY_sign_init(p) == 1 &&
             EVP_PKEY_CTX_set_signature_md(p, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(p, sig, len, digest, 32) == 1;
    EVP_PKEY_CTX_free(p);
    return ok ? 0 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pkey = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    check(pkey && b && PEM_write_bio_PUBKEY(b, pkey));
    char *data;
    long n = BIO_get_mem_data(b, &data);
    check(n > 0 && n < (long)sizeof pem);
    memcpy(pem, data, (size_t)n);
    BIO_free(b);
    check(audit_key_from_pem(pem, strlen(pem), &key, NULL, 0) == 0);
    return 0;
}

static void leaf_round_trip(const char *leaf, size_t len)
{
    struct audit_record r, again;
    if (audit_leaf_parse(leaf, len, &r, NULL, 0) != 0)
        return;
    char out[AUDIT_LEAF_MAX];
    int n = audit_leaf_format(&r, out, sizeof out);
    check(n > 0 && audit_leaf_parse(out, (size_t)n, &again, NULL, 0) == 0);
    check(again.time_ms == r.time_ms && again.result == r.result &&
          again.has_subject == r.has_subject && strcmp(again.agency, r.agency) == 0 &&
          strcmp(again.op, r.op) == 0 && strcmp(again.purpose, r.purpose) == 0 &&
          strcmp(again.target, r.target) == 0 && strcmp(again.txid, r.txid) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audit_entries e;
    if (audit_entries_parse((const char *)data, size, &e, NULL, 0) != 0)
        return 0;
    uint8_t(*h)[32] = calloc(e.n + 1, 32);
    check(h != NULL);
    struct audit_range r;
    audit_range_init(&r);
    for (size_t i = 0; i < e.n; i++) {
        leaf_round_trip(e.leaf[i], e.len[i]);
        audit_leaf_hash(e.leaf[i], e.len[i], h[i]);
        audit_range_push(&r, h[i]);
    }
    struct audit_checkpoint cp = {.size = e.n};
    strcpy(cp.origin, "fuzz.test/log");
    audit_range_root(&r, cp.root);
    struct audit_signer s = {sign, NULL, pem};
    char note[AUDIT_NOTE_MAX];
    int len = audit_checkpoint_sign(&cp, &s, NULL, 0, note, sizeof note, NULL, 0);
    check(len > 0);
    struct audit_check c = {.key = key,
                            .checkpoint = note,
                            .checkpoint_len = (size_t)len,
                            .entries = &e,
                            .leaf_hashes = (const uint8_t *)h,
                            .nleaf_hashes = e.n};
    struct audit_verdict v;
    audit_check_full(&c, &v);
    check(v.ok);
    if (e.n > 0) {
        size_t last = e.n - 1;
        char *changed = malloc(e.len[last] + 1);
        check(changed != NULL);
        memcpy(changed, e.leaf[last], e.len[last]);
        changed[e.len[last]] = 'x'; /* one byte longer: never the same leaf */
        char *kept = e.leaf[last];
        e.leaf[last] = changed;
        e.len[last]++;
        audit_check_full(&c, &v);
        check(!v.ok && v.has_index && v.first_bad == last);
        e.leaf[last] = kept;
        e.len[last]--;
        free(changed);
    }
    free(h);
    audit_entries_free(&e);
    return 0;
}
