/*
 * storage/iso19794.c - the ISO/IEC 19794-2:2005 finger minutiae record check.
 *
 * Walks a record front to back, refusing it at the first fault with a reason
 * that names the part and the byte offset.  The layout (all big-endian):
 *
 *   general header, 24 bytes:
 *     format id "FMR\0" (4), version " 20\0" (4), record length (4, equal to
 *     the bytes given), capture equipment (2), image width (2), image height
 *     (2), x resolution (2), y resolution (2), finger views (1, at least 1),
 *     reserved (1)
 *   per finger view:
 *     finger position (1, 0..10), view number / impression type (1),
 *     finger quality (1, 0..100), number of minutiae (1), then per minutia
 *     6 bytes: type (top 2 bits: 01 ridge ending, 10 bifurcation, 00 other)
 *     with a 14-bit x (2), 2 reserved bits with a 14-bit y (2), angle (1),
 *     quality (1); x must lie within the image width and y within its height
 *   extended data: block length (2), then that many bytes
 *
 * The record must end exactly after the extended data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "storage/iso19794.h"
#include "storage/storage.h"

#define HEADER_LEN            24
#define VIEW_HEADER_LEN       4
#define MINUTIA_LEN           6
#define FINGER_POSITION_MAX   10
#define QUALITY_MAX           100
#define MINUTIA_TYPE_RESERVED 3

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t off;
    char *why;
    size_t whylen;
    unsigned width;
    unsigned height;
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
        return bad(r, "bad version: expected \" 20\\0\" (ISO/IEC 19794-2:2005)");
    }
    r->off = 8;
    if (need(r, 4, "record length") != 0) {
        return -1;
    }
    unsigned long total = be32(r->buf + 8);
    if (total != r->len) {
        return bad(r, "record length field says %lu bytes but %zu were given", total, r->len);
    }
    r->off = 12;
    return 0;
}

static int check_image(struct reader *r)
{
    if (need(r, HEADER_LEN - 12, "rest of the record header") != 0) {
        return -1;
    }
    const uint8_t *h = r->buf;
    r->width = be16(h + 14);
    r->height = be16(h + 16);
    if (r->width == 0) {
        return bad(r, "image width is 0");
    }
    if (r->height == 0) {
        return bad(r, "image height is 0");
    }
    if (be16(h + 18) == 0) {
        return bad(r, "x resolution is 0");
    }
    if (be16(h + 20) == 0) {
        return bad(r, "y resolution is 0");
    }
    if (h[22] == 0) {
        return bad(r, "the record has no finger views");
    }
    r->off = HEADER_LEN;
    return 0;
}

static int check_minutia(struct reader *r, unsigned m, unsigned v)
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
    if (x >= r->width) {
        return bad(r, "minutia %u of view %u: x %u lies outside the image width %u", m, v, x,
                   r->width);
    }
    if (y >= r->height) {
        return bad(r, "minutia %u of view %u: y %u lies outside the image height %u", m, v, y,
                   r->height);
    }
    r->off += MINUTIA_LEN;
    return 0;
}

static int check_view(struct reader *r, unsigned v)
{
    if (need(r, VIEW_HEADER_LEN, "the header of view %u", v) != 0) {
        return -1;
    }
    const uint8_t *p = r->buf + r->off;
    if (p[0] > FINGER_POSITION_MAX) {
        return bad(r, "view %u: finger position %u is not 0-10", v, p[0]);
    }
    if (p[2] > QUALITY_MAX) {
        return bad(r, "view %u: finger quality %u is above 100", v, p[2]);
    }
    unsigned count = p[3];
    r->off += VIEW_HEADER_LEN;
    for (unsigned m = 1; m <= count; m++) {
        if (check_minutia(r, m, v) != 0) {
            return -1;
        }
    }
    return 0;
}

static int check_extended(struct reader *r)
{
    if (need(r, 2, "extended data length") != 0) {
        return -1;
    }
    unsigned n = be16(r->buf + r->off);
    r->off += 2;
    if (need(r, n, "extended data block") != 0) {
        return -1;
    }
    r->off += n;
    if (r->off != r->len) {
        return bad(r, "%zu trailing bytes after the record's end at offset %zu", left(r), r->off);
    }
    return 0;
}

int iso19794_2_check(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
    struct reader r = {.buf = buf, .len = len, .why = why, .whylen = whylen};
    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    if (buf == NULL) {
        r.len = 0;
    }
    if (r.len > TEMPLATE_MAX_LEN) {
        return bad(&r, "oversized: %zu bytes, at most %d", len, TEMPLATE_MAX_LEN);
    }
    if (check_ids(&r) != 0 || check_image(&r) != 0) {
        return -1;
    }
    unsigned views = buf[HEADER_LEN - 2];
    for (unsigned v = 1; v <= views; v++) {
        if (check_view(&r, v) != 0) {
            return -1;
        }
    }
    return check_extended(&r);
}
