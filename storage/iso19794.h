/*
 * storage/iso19794.h - finger minutiae records: ISO/IEC 19794-2:2005 and
 * ANSI INCITS 378-2004, checked field by field, and ANSI converted to ISO.
 *
 * Private to storage/: biometrics_json.c refuses any fingerprint template that
 * these checks do not accept and stores every template in the ISO form; the
 * matcher (mcc.c) reads the minutiae of a stored record with fmr_parse().
 */
#ifndef HUDUMA_ISO19794_H
#define HUDUMA_ISO19794_H

#include <stddef.h>
#include <stdint.h>

enum fmr_format {
    FMR_ISO_2005 = 1,  /* ISO/IEC 19794-2:2005: 24-byte header, angles in 360/256 degrees */
    FMR_ANSI_2004 = 2, /* ANSI INCITS 378-2004: 26-byte header, angles in 2 degrees */
};

#define FMR_MAX_MINUTIAE 255

struct fmr_minutia {
    uint16_t x, y;   /* pixels from the top left corner */
    uint8_t angle;   /* ISO units: 360/256 degrees, counter-clockwise from the x axis */
    uint8_t type;    /* 0 other, 1 ridge ending, 2 bifurcation */
    uint8_t quality; /* 0-100, 0 when not reported */
};

/* What the matcher needs of a record: the header and the first finger view. */
struct fmr_record {
    enum fmr_format format;
    uint16_t width, height; /* image size, pixels */
    uint16_t xres, yres;    /* pixels per centimetre */
    uint8_t nviews;
    uint8_t position;   /* finger position of the first view, 0-10 */
    uint8_t quality;    /* finger quality of the first view, 0-100 */
    uint16_t nminutiae; /* of the first view */
    struct fmr_minutia m[FMR_MAX_MINUTIAE];
};

/*
 * Returns 0 when buf[0..len) is exactly one well-formed ISO/IEC 19794-2:2005
 * finger minutiae record of at most TEMPLATE_MAX_LEN bytes, else -1 with a
 * one-line reason written to `why` (which may be NULL).
 */
int iso19794_2_check(const uint8_t *buf, size_t len, char *why, size_t whylen);

/*
 * Which of the two formats the record's length field says it is: the ISO
 * length field is 4 bytes (its first two zero for any record under 64 KiB),
 * the ANSI one 2 bytes (never zero), or 0 followed by 4 bytes.  Records
 * shorter than 12 bytes are called ISO (and then refused as truncated).
 */
enum fmr_format fmr_detect(const uint8_t *buf, size_t len);

/* Checks a record of the given format completely, as iso19794_2_check() does;
 * when rec is not NULL, fills it. */
int fmr_parse(const uint8_t *buf, size_t len, enum fmr_format format, struct fmr_record *rec,
              char *why, size_t whylen);

/*
 * Converts a well-formed ANSI INCITS 378-2004 record into an ISO/IEC
 * 19794-2:2005 one in out (room for `max` bytes; the ISO form is 2 bytes
 * shorter, or 6 with the long length field, less any extended data): same
 * views and minutiae, angles rounded to the nearest ISO unit.  Extended data
 * (ridge counts, cores and deltas, vendor data) is dropped, because its ANSI
 * and ISO encodings differ and the matcher does not use it.  Returns the ISO
 * length, or 0 with a reason when the input is refused.
 */
size_t fmr_ansi_to_iso(const uint8_t *in, size_t len, uint8_t *out, size_t max, char *why,
                       size_t whylen);

#endif
