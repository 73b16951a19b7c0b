/*
 * tests/fuzz/fuzz_keys_file.c - libFuzzer target for the files of the key
 * hierarchy that keys/ parses: <register>/keys/hierarchy
 * (tpm_hierarchy_decode(), the TPM structures inside it unmarshalled by
 * tss2-mu) and wrapped secrets (keys_unwrap()).
 *
 * The input is the bytes of a file.  Decoding must either succeed with every
 * field inside its documented range (a PCR mask of PCRs 0-23, SHA-256 names,
 * a signing handle in its range, a sealed object that cannot leave its TPM),
 * and then re-encode to exactly the same bytes, or fail with a message and a
 * zeroed result.  Unwrapping the same bytes as a secret (under a fixed key)
 * must fail cleanly and leave no plaintext: nobody can forge a tag.  Any
 * broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/tpm_internal.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void hierarchy(const uint8_t *data, size_t size)
{
    struct tpm_hierarchy h;
    struct keys_err err = {{0}};
    if (tpm_hierarchy_decode(data, size, &h, &err) != KEYS_OK) {
        check(err.msg[0] != '\0' && all_zero(&h, sizeof h));
        return;
    }
    check(h.pcr_mask != 0 && h.pcr_mask >> KEYS_PCR_COUNT == 0);
    check(h.sign_handle >= TPM_SIGN_HANDLE_FIRST && h.sign_handle <= TPM_SIGN_HANDLE_LAST);
    check(h.srk_name.size == 34 && h.sign_name.size == 34);
    check((h.sealed_pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) == 0);
    uint8_t again[TPM_HIERARCHY_MAX];
    size_t len = 0;
    check(tpm_hierarchy_encode(&h, again, sizeof again, &len, &err) == KEYS_OK);
    check(len == size && memcmp(again, data, size) == 0);
}

static void wrapped(const uint8_t *data, size_t size)
{
    static const uint8_t kek[32] = {7};
    uint8_t *out = malloc(size + 1);
    check(out != NULL);
    memset(out, 0, size + 1);
    size_t n = 1;
    struct keys_err err = {{0}};
    check(keys_unwrap(kek, "huduma tls server key", data, size, out, &n, &err) != KEYS_OK);
    check(n == 0 && err.msg[0] != '\0' && all_zero(out, size + 1));
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hierarchy(data, size);
    wrapped(data, size);
    return 0;
}
