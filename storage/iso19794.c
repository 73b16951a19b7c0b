/*
 * storage/iso19794.c - finger minutiae records: ISO/IEC 19794-2:2005 and ANSI
 * INCITS 378-2004, checked front to back, and ANSI converted to ISO.
 *
 * A record is refused at its first fault, with a reason that names the part
 * and, where it helps, the byte offset.  The two layouts (all big-endian):
 *
 *   header                ISO (24 bytes)            ANSI (26 or 30 bytes)
 *     format id           "FMR\0"                   "FMR\0"
 *     version             " 20\0"                   " 20\0"
 *     record length       4 bytes                   2 bytes, or 0 then 4 bytes
 *     CBEFF product id    -                         4 bytes (owner, type)
 *     capture equipment   2 (4 bits compliance, 12 bits id)
 *     image width, height 2 + 2, not zero
 *     x, y resolution     2 + 2 pixels per centimetre, not zero
 *     finger views        1, at least 1
 *     reserved            1, zero
 *   per finger view:
 *     finger position (1, 0-10), view number (high 4 bits) and impression
 *     type (low 4 bits: ISO 0-9, ANSI 0-3, 8 or 9), finger quality (1, 0-100),
 *     number of minutiae (1), then per minutia 6 bytes: type (top 2 bits: 01
 *     ridge ending, 10 bifurcation, 00 other; 11 is reserved) with a 14-bit x
 *     (2), 2 reserved zero bits with a 14-bit y (2), angle (1: ISO 360/256
 *     degrees, ANSI 2 degrees so 0-179), quality (1, 0-100); x must lie within
 *     the image width and y within its height; then the view's extended data:
 *     a block length (2), and that many bytes of areas, each a type code (2,
 *     not zero) and a length (2, at least 4, counting these 4 bytes), which
 *     must tile the block exactly.
 *   No two views may share a finger position and view number, and the record
 *   must end exactly after the last view.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "storage/iso19794.h"
#include "storage/storage.h"

#define ISO_HEADER_LEN        24
#define ANSI_HEADER_LEN       26
#define ANSI_LONG_HEADER_LEN  30
#define VIEW_HEADER_LEN       4
#define MINUTIA_LEN           6
#define AREA_HEADER_LEN       4
#define FINGER_POSITION_MAX   10
#define QUALITY_MAX           100
#define MINUTIA_TYPE_RESERVED 3
#define ANSI_ANGLE_MAX        179
#define MAX_VIEWS             255

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t off;
    char *why;
    size_t whylen;
    enum fmr_format format;
    unsigned width;
    unsigned height;
    struct fmr_record *rec;
    uint8_t seen[FINGER_POSITION_MAX + 1][2]; /* view numbers 0-15 seen, per position */
};

__attribute__((format(printf, 2, 3))) static int bad(struct reader *r, const char *fmt, ...)
{
    if (r->why != NULL && r->whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t left(const struct reader *r)
{
    return r->len - r->off;
}

/* 0 when n bytes remain at the current offset; otherwise names `what` (a format). */
__attribute__((format(printf, 3, 4))) static int need(struct reader *r, size_t n, const char *what,
                                                      ...)
{
    if (left(r) >= n) {
        return 0;
    }
    char name[64];
    va_list ap;
    va_start(ap, what);
    vsnprintf(name, sizeof name, what, ap);
    va_end(ap);
    return bad(r, "truncated: %s needs %zu bytes at offset %zu, %zu left", name, n, r->off,
               left(r));
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static unsigned long be32(const uint8_t *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

static const char *format_name(enum fmr_format f)
{
    return f == FMR_ANSI_2004 ? "ANSI INCITS 378-2004" : "ISO/IEC 19794-2:2005";
}

enum fmr_format fmr_detect(const uint8_t *buf, size_t len)
{
    if (buf == NULL || len < 12) {
        return FMR_ISO_2005;
    }
    if (be16(buf + 8) != 0) {
        return FMR_ANSI_2004; /* a 2-byte length: ISO's would need a record of 64 KiB */
    }
    return be16(buf + 10) == 0 ? FMR_ANSI_2004 : FMR_ISO_2005;
}

/* ---- the header --------------------------------------------------------------------- */

static int check_ids(struct reader *r)
{
    if (need(r, 4, "format id") != 0) {
        return -1;
    }
    if (memcmp(r->buf, "FMR\0", 4) != 0) {
        return bad(r, "bad format id: expected \"FMR\\0\"");
    }
    r->off = 4;
    if (need(r, 4, "version") != 0) {
        return -1;
    }
    if (memcmp(r->buf + 4, " 20\0", 4) != 0) {
        return bad(r, "bad version: expected \" 20\\0\" (%s)", format_name(r->format));
    }
    r->off = 8;
    return 0;
}

static int check_length_value(struct reader *r, unsigned long total)
{
    if (total != r->len) {
        return bad(r, "record length field says %lu bytes but %zu were given", total, r->len);
    }
    return 0;
}

static int check_length(struct reader *r)
{
    if (r->format == FMR_ISO_2005) {
        if (need(r, 4, "record length") != 0) {
            return -1;
        }
        r->off = 12;
        return check_length_value(r, be32(r->buf + 8));
    }
    if (need(r, 2, "record length") != 0) {
        return -1;
    }
    unsigned short_len = be16(r->buf + 8);
    r->off = 10;
    if (short_len != 0) {
        return check_length_value(r, short_len);
    }
    if (need(r, 4, "long record length") != 0) {
        return -1;
    }
    r->off = 14;
    return check_length_value(r, be32(r->buf + 10));
}

static int check_image(struct reader *r)
{
    if (r->format == FMR_ANSI_2004) {
        if (need(r, 4, "CBEFF product identifier") != 0) {
            return -1;
        }
        r->off += 4;
    }
    if (need(r, 12, "rest of the record header") != 0) {
        return -1;
    }
    const uint8_t *h = r->buf + r->off;
    r->width = be16(h + 2);
    r->height = be16(h + 4);
    if (r->width == 0) {
        return bad(r, "image width is 0");
    }
    if (r->height == 0) {
        return bad(r, "image height is 0");
    }
    if (be16(h + 6) == 0) {
        return bad(r, "x resolution is 0");
    }
    if (be16(h + 8) == 0) {
        return bad(r, "y resolution is 0");
    }
    if (h[10] == 0) {
        return bad(r, "the record has no finger views");
    }
    if (h[11] != 0) {
        return bad(r, "the reserved byte of the header is %u, not 0", h[11]);
    }
    if (r->rec != NULL) {
        r->rec->format = r->format;
        r->rec->width = (uint16_t)r->width;
        r->rec->height = (uint16_t)r->height;
        r->rec->xres = (uint16_t)be16(h + 6);
        r->rec->yres = (uint16_t)be16(h + 8);
        r->rec->nviews = h[10];
    }
    r->off += 12;
    return 0;
}

/* ---- finger views ------------------------------------------------------------------- */

static uint8_t iso_angle(unsigned ansi_units)
{
    /* ANSI counts 2 degrees, ISO 360/256 degrees: iso = ansi * 2 * 256 / 360, rounded */
    return (uint8_t)(((ansi_units * 64u) + 22u) / 45u);
}

static int check_minutia(struct reader *r, unsigned m, unsigned v, struct fmr_minutia *out)
{
    if (need(r, MINUTIA_LEN, "minutia %u of view %u", m, v) != 0) {
        return -1;
    }
    const uint8_t *p = r->buf + r->off;
    unsigned type = p[0] >> 6;
    unsigned x = be16(p) & 0x3fff;
    unsigned y = be16(p + 2) & 0x3fff;
    if (type == MINUTIA_TYPE_RESERVED) {
        return bad(r, "minutia %u of view %u has the reserved type 11 at offset %zu", m, v, r->off);
    }
    if (p[2] >> 6 != 0) {
        return bad(r, "minutia %u of view %u: the reserved bits before y are not 0", m, v);
    }
    if (x >= r->width) {
        return bad(r, "minutia %u of view %u: x %u lies outside the image width %u", m, v, x,
                   r->width);
    }
    if (y >= r->height) {
        return bad(r, "minutia %u of view %u: y %u lies outside the image height %u", m, v, y,
                   r->height);
    }
    if (r->format == FMR_ANSI_2004 && p[4] > ANSI_ANGLE_MAX) {
        return bad(r, "minutia %u of view %u: angle %u is above 179 (2-degree units)", m, v, p[4]);
    }
    if (p[5] > QUALITY_MAX) {
        return bad(r, "minutia %u of view %u: quality %u is above 100", m, v, p[5]);
    }
    if (out != NULL) {
        *out = (struct fmr_minutia){
            .x = (uint16_t)x,
            .y = (uint16_t)y,
            .angle = r->format == FMR_ANSI_2004 ? iso_angle(p[4]) : p[4],
            .type = (uint8_t)type,
            .quality = p[5],
        };
    }
    r->off += MINUTIA_LEN;
    return 0;
}

static int check_area(struct reader *r, unsigned v, size_t end)
{
    if (end - r->off < AREA_HEADER_LEN) {
        return bad(r, "view %u: %zu bytes of extended data left at offset %zu, too few for an area",
                   v, end - r->off, r->off);
    }
    const uint8_t *p = r->buf + r->off;
    unsigned type = be16(p), len = be16(p + 2);
    if (type == 0) {
        return bad(r, "view %u: extended data area at offset %zu has the reserved type 0", v,
                   r->off);
    }
    if (len < AREA_HEADER_LEN) {
        return bad(r, "view %u: extended data area at offset %zu has length %u, below 4", v, r->off,
                   len);
    }
    if (len > end - r->off) {
        return bad(r, "view %u: extended data area at offset %zu runs %zu bytes past its block", v,
                   r->off, len - (end - r->off));
    }
    r->off += len;
    return 0;
}

static int check_extended(struct reader *r, unsigned v)
{
    if (need(r, 2, "extended data length of view %u", v) != 0) {
        return -1;
    }
    unsigned n = be16(r->buf + r->off);
    r->off += 2;
    if (need(r, n, "extended data block of view %u", v) != 0) {
        return -1;
    }
    size_t end = r->off + n;
    while (r->off < end) {
        if (check_area(r, v, end) != 0) {
            return -1;
        }
    }
    return 0;
}

static bool impression_ok(enum fmr_format f, unsigned t)
{
    return f == FMR_ISO_2005 ? t <= 9 : (t <= 3 || t == 8 || t == 9);
}

static int check_view_header(struct reader *r, unsigned v, const uint8_t *p)
{
    if (p[0] > FINGER_POSITION_MAX) {
        return bad(r, "view %u: finger position %u is not 0-10", v, p[0]);
    }
    if (!impression_ok(r->format, p[1] & 0x0f)) {
        return bad(r, "view %u: impression type %u is not defined by %s", v, p[1] & 0x0f,
                   format_name(r->format));
    }
    if (p[2] > QUALITY_MAX) {
        return bad(r, "view %u: finger quality %u is above 100", v, p[2]);
    }
    unsigned number = p[1] >> 4;
    uint8_t *seen = r->seen[p[0]];
    if (seen[number / 8] & (1u << (number % 8))) {
        return bad(r, "view %u repeats finger position %u with view number %u", v, p[0], number);
    }
    seen[number / 8] |= (uint8_t)(1u << (number % 8));
    return 0;
}

static int check_view(struct reader *r, unsigned v)
{
    if (need(r, VIEW_HEADER_LEN, "the header of view %u", v) != 0) {
        return -1;
    }
    const uint8_t *p = r->buf + r->off;
    if (check_view_header(r, v, p) != 0) {
        return -1;
    }
    unsigned count = p[3];
    bool first = v == 1 && r->rec != NULL;
    if (first) {
        r->rec->position = p[0];
        r->rec->quality = p[2];
        r->rec->nminutiae = (uint16_t)count;
    }
    r->off += VIEW_HEADER_LEN;
    for (unsigned m = 1; m <= count; m++) {
        if (check_minutia(r, m, v, first ? &r->rec->m[m - 1] : NULL) != 0) {
            return -1;
        }
    }
    return check_extended(r, v);
}

int fmr_parse(const uint8_t *buf, size_t len, enum fmr_format format, struct fmr_record *rec,
              char *why, size_t whylen)
{
    struct reader r = {.buf = buf, .len = len, .why = why, .whylen = whylen, .rec = rec};
    r.format = format == FMR_ANSI_2004 ? FMR_ANSI_2004 : FMR_ISO_2005;
    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    if (rec != NULL) {
        memset(rec, 0, sizeof *rec);
    }
    if (buf == NULL) {
        r.len = 0;
    }
    if (r.len > TEMPLATE_MAX_LEN) {
        return bad(&r, "oversized: %zu bytes, at most %d", len, TEMPLATE_MAX_LEN);
    }
    if (check_ids(&r) != 0 || check_length(&r) != 0 || check_image(&r) != 0) {
        return -1;
    }
    unsigned views = r.buf[r.off - 2];
    for (unsigned v = 1; v <= views; v++) {
        if (check_view(&r, v) != 0) {
            return -1;
        }
    }
    if (r.off != r.len) {
        return bad(&r, "%zu trailing bytes after the record's end at offset %zu", left(&r), r.off);
    }
    return 0;
}

int iso19794_2_check(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
    return fmr_parse(buf, len, FMR_ISO_2005, NULL, why, whylen);
}

/* ---- ANSI to ISO ---------------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Copies one ANSI view (already checked) at in[*ioff] to out[*ooff], minus extended data. */
static void convert_view(const uint8_t *in, size_t *ioff, uint8_t *out, size_t *ooff)
{
    const uint8_t *v = in + *ioff;
    unsigned count = v[3];
    memcpy(out + *ooff, v, VIEW_HEADER_LEN);
    *ioff += VIEW_HEADER_LEN;
    *ooff += VIEW_HEADER_LEN;
    for (unsigned m = 0; m < count; m++) {
        memcpy(out + *ooff, in + *ioff, MINUTIA_LEN);
        out[*ooff + 4] = iso_angle(in[*ioff + 4]);
        *ioff += MINUTIA_LEN;
        *ooff += MINUTIA_LEN;
    }
    *ioff += 2 + be16(in + *ioff); /* the ANSI extended data, dropped */
    put16(out + *ooff, 0);
    *ooff += 2;
}

size_t fmr_ansi_to_iso(const uint8_t *in, size_t len, uint8_t *out, size_t max, char *why,
                       size_t whylen)
{
    if (fmr_parse(in, len, FMR_ANSI_2004, NULL, why, whylen) != 0) {
        return 0;
    }
    size_t ioff = be16(in + 8) != 0 ? ANSI_HEADER_LEN : ANSI_LONG_HEADER_LEN;
    unsigned views = in[ioff - 2];
    size_t need_len = ISO_HEADER_LEN;
    for (size_t off = ioff, v = 0; v < views; v++) {
        unsigned count = in[off + 3];
        off += VIEW_HEADER_LEN + MINUTIA_LEN * (size_t)count;
        off += 2 + be16(in + off);
        need_len += VIEW_HEADER_LEN + MINUTIA_LEN * (size_t)count + 2;
    }
    if (need_len > max) {
        if (why != NULL && whylen > 0) {
            snprintf(why, whylen, "the ISO form would need %zu bytes, room for %zu", need_len, max);
        }
        return 0;
    }
    memcpy(out, "FMR\0 20\0", 8);
    put16(out + 8, (unsigned)(need_len >> 16));
    put16(out + 10, (unsigned)(need_len & 0xffff));
    memcpy(out + 12, in + ioff - 12, 12); /* equipment, size, resolution, views, reserved */
    size_t ooff = ISO_HEADER_LEN;
    for (unsigned v = 0; v < views; v++) {
        convert_view(in, &ioff, out, &ooff);
    }
    return ooff;
}
