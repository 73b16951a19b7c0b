/*
 * tests/fuzz/fuzz_audit_checkpoint.c - libFuzzer target for the signed
 * checkpoint parser (appliance/audit_note.c): C2SP signed-note and
 * tlog-checkpoint text as huduma-audit and hudumad read it.
 *
 * Promises checked on every input, any broken one aborts:
 *   - audit_note_parse() accepts only a note whose text it can write back:
 *     audit_checkpoint_text() of what it parsed is the first three lines of
 *     the input, byte for byte (origin, canonical size, canonical base64);
 *   - the text length it reports ends at a newline followed by the blank line,
 *     and every signature it keeps has a name, a key id and 1 or more bytes;
 *   - audit_note_verify() with a fixed key never claims a signature it cannot
 *     check: an input the fuzzer made is never AUDIT_SIG_OK (no one but the
 *     test holds that key's private half, and it never signs here).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/audit.h"

static struct audit_key *key;

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    check(pkey && b && PEM_write_bio_PUBKEY(b, pkey));
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    check(audit_key_from_pem(pem, (size_t)n, &key, NULL, 0) == 0);
    BIO_free(b);
    EVP_PKEY_free(pkey);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audit_note n;
    char err[256];
    if (audit_note_parse((const char *)data, size, &n, err, sizeof err) != 0) {
        check(err[0] != '\0');
        return 0;
    }
    check(n.text_len >= 6 && n.text_len < size && data[n.text_len - 1] == '\n' &&
          data[n.text_len] == '\n');
    char text[AUDIT_NOTE_MAX];
    int len = audit_checkpoint_text(&n.cp, text, sizeof text);
    check(len > 0 && (size_t)len <= n.text_len && memcmp(text, data, (size_t)len) == 0);
    check(n.nsigs >= 1 && n.nsigs <= AUDIT_NOTE_SIGS);
    for (size_t i = 0; i < n.nsigs; i++)
        check(n.sigs[i].name[0] && n.sigs[i].len >= 1 && n.sigs[i].len <= AUDIT_SIG_MAX);
    check(audit_note_verify((const char *)data, &n, key) != AUDIT_SIG_OK);
    return 0;
}
