/*
 * tests/fuzz/fuzz_keys_checkpoint.c - libFuzzer target for the checkpoint
 * bodies the key process agrees to sign (keys/checkpoint.c), which come from
 * the network process and so are untrusted.
 *
 * The input is a body.  When checkpoint_parse() accepts it, writing the
 * parsed origin, size and root back out must give the input byte for byte
 * (only the canonical form is accepted, so one checkpoint has one text and
 * one signature covers one meaning); when it refuses, it says why.  Any
 * broken promise aborts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keys/keyproc_internal.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct checkpoint cp;
    struct keys_err err = {{0}};
    if (checkpoint_parse((const char *)data, size, &cp, &err) != KEYS_OK) {
        check(err.msg[0] != '\0');
        return 0;
    }
    char root[64], again[KEYS_CHECKPOINT_MAX + 64];
    check(EVP_EncodeBlock((unsigned char *)root, cp.root, KEYS_DIGEST_LEN) == 44);
    int n = snprintf(again, sizeof again, "%s\n%" PRIu64 "\n%s\n", cp.origin, cp.size, root);
    check(n > 0 && (size_t)n == size && memcmp(again, data, size) == 0);
    return 0;
}
