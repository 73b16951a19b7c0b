/*
 * tests/fuzz/fuzz_iso19794.c - libFuzzer target for the finger minutiae
 * record parsers: ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004.
 *
 * Feeds the input to fmr_parse() as either standard, with and without room
 * for a reason and for the parsed record; the calls must agree, and a
 * refusal must leave a terminated, non-empty reason.  An accepted ANSI record
 * must convert to an ISO record that the ISO check accepts, with the same
 * number of minutiae in its first view.  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/iso19794.h"
#include "storage/storage.h"

static void same_answer(const uint8_t *data, size_t size, enum fmr_format f, int rc)
{
    char tiny[8];
    if (fmr_parse(data, size, f, NULL, NULL, 0) != rc ||
        fmr_parse(data, size, f, NULL, tiny, sizeof tiny) != rc)
        abort();
}

static void check_conversion(const uint8_t *data, size_t size, const struct fmr_record *ansi)
{
    static uint8_t iso[TEMPLATE_MAX_LEN];
    static struct fmr_record back;
    char why[160];
    size_t n = fmr_ansi_to_iso(data, size, iso, sizeof iso, why, sizeof why);
    if (n == 0 || n > size)
        abort();
    if (fmr_parse(iso, n, FMR_ISO_2005, &back, why, sizeof why) != 0 ||
        back.nminutiae != ansi->nminutiae || back.position != ansi->position)
        abort();
    for (unsigned i = 0; i < back.nminutiae; i++)
        if (back.m[i].x != ansi->m[i].x || back.m[i].y != ansi->m[i].y)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fmr_record rec;
    char why[160];
    for (int f = FMR_ISO_2005; f <= FMR_ANSI_2004; f++) {
        int rc = fmr_parse(data, size, (enum fmr_format)f, &rec, why, sizeof why);
        if (rc != 0 && rc != -1)
            abort();
        if (rc == -1 && (memchr(why, '\0', sizeof why) == NULL || why[0] == '\0'))
            abort();
        same_answer(data, size, (enum fmr_format)f, rc);
        if (f == FMR_ISO_2005 && iso19794_2_check(data, size, NULL, 0) != rc)
            abort();
        if (f == FMR_ANSI_2004 && rc == 0)
            check_conversion(data, size, &rec);
    }
    enum fmr_format d = fmr_detect(data, size);
    if (d != FMR_ISO_2005 && d != FMR_ANSI_2004)
        abort();
    return 0;
}
