/*
 * tests/fuzz/fuzz_bioindex.c - libFuzzer target for the biometric index's
 * stored entries (storage/bioindex_store.c) and their way into the index.
 *
 * The input is decoded as an entry; an entry that decodes must encode back
 * to exactly the same bytes, and must go into an in-memory index (once
 * under a subject, then again replacing itself) without harm; one that does
 * not decode must be refused as corrupt.  Any broken promise aborts.  The
 * index is kept across inputs (making one clears a million buckets) and made
 * anew every thousand.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/mcc_internal.h"
#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bio_codes c;
    static uint8_t again[BIO_CODES_MAX];
    int rc = bio_codes_decode(data, size, &c);
    if (rc != ST_OK) {
        if (rc != ST_CORRUPT)
            abort();
        return 0;
    }
    size_t n = bio_codes_encode(&c, again);
    if (n != size || n > BIO_CODES_MAX || memcmp(again, data, n) != 0)
        abort();
    static struct bioindex *ix;
    static unsigned uses;
    if (ix && ++uses % 1000 == 0) {
        bioindex_close(ix);
        ix = NULL;
    }
    if (!ix && !(ix = bioindex_new(NULL)))
        return 0;
    if (bioindex_insert(ix, "123456789012", &c) == ST_OK &&
        (bioindex_insert(ix, "123456789012", &c) != ST_OK || bioindex_count(ix) != 1))
        abort();
    return 0;
}
