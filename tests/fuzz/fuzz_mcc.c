/*
 * tests/fuzz/fuzz_mcc.c - libFuzzer target for the fingerprint matcher on
 * whatever minutiae a well-formed record may carry (coincident points, a
 * single minutia, the image's corners, 255 of them).
 *
 * An input the ISO/IEC 19794-2 check accepts is prepared into cylinders and
 * matched against itself and against a fixed finger; the scores must be
 * numbers in [0, 1], the same both ways round for the pair with itself, and
 * the vector and portable kernels must find the same pairs.  Inputs the check
 * refuses must be refused by the matcher too.  Any broken promise aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/iso19794.h"
#include "storage/mcc_internal.h"
#include "storage/storage.h"

static struct mcc_pair x[MCC_MAX_MINUTIAE * MCC_MAX_MINUTIAE];
static struct mcc_pair y[MCC_MAX_MINUTIAE * MCC_MAX_MINUTIAE];

static void kernels_agree(const struct mcc_finger *a, const struct mcc_finger *b)
{
    if (!mcc_has_avx512())
        return;
    unsigned n = mcc_similarities_avx512(a, b, mcc_min_common(), x);
    if (n != mcc_similarities_portable(a, b, y))
        abort();
    for (unsigned i = 0; i < n; i++)
        if (x[i].a != y[i].a || x[i].b != y[i].b || x[i].lambda != y[i].lambda)
            abort();
}

static bool in_range(float s)
{
    return !isnan(s) && s >= 0.0f && s <= 1.0f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fingerprint fp, fixed;
    static struct mcc_finger *other;
    struct st_err err;
    if (!other) {
        bio_synth_finger(1, 1, 2, 0, &fixed);
        if (mcc_finger_new(&fixed, &other, &err) != ST_OK)
            abort();
    }
    if (size > TEMPLATE_MAX_LEN)
        return 0;
    memcpy(fp.data, data, size);
    fp.len = (uint16_t)size;
    fp.position = 2;
    struct mcc_finger *f = NULL;
    int rc = mcc_finger_new(&fp, &f, &err);
    bool valid = iso19794_2_check(data, size, NULL, 0) == 0;
    if (valid != (rc == ST_OK) || (rc != ST_OK && rc != ST_INVALID))
        abort();
    if (!f)
        return 0;
    float s = mcc_match(f, f), t = mcc_match(f, other), u = mcc_match(other, f);
    if (!in_range(s) || !in_range(t) || !in_range(u))
        abort();
    kernels_agree(f, other);
    kernels_agree(f, f);
    mcc_finger_free(f);
    return 0;
}
