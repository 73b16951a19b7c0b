/*
 * tests/fuzz/fuzz_iso19794.c - libFuzzer target for the ISO/IEC 19794-2 check.
 *
 * Feeds the input to iso19794_2_check() as one finger minutiae record, with
 * and without room for a reason.  The two calls must agree, and a refusal must
 * leave a terminated, non-empty reason.  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/iso19794.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[160];
    char tiny[8];
    int rc = iso19794_2_check(data, size, why, sizeof why);
    if (rc != 0 && rc != -1) {
        abort();
    }
    if (rc == -1 && (memchr(why, '\0', sizeof why) == NULL || why[0] == '\0')) {
        abort();
    }
    if (iso19794_2_check(data, size, NULL, 0) != rc ||
        iso19794_2_check(data, size, tiny, sizeof tiny) != rc) {
        abort();
    }
    return 0;
}
