/*
 * appliance/normalize.c - folding names and document numbers for comparison.
 *
 * Names arrive as UTF-8 typed by registration officers at kits, in any case,
 * with stray spaces and sometimes accents.  Comparison and the deduplication
 * blocking key use the folded form: ASCII letters lower-cased, the Latin-1
 * Supplement and Latin Extended-A letters mapped to their base letters (a
 * table, so no locale is involved), other code points kept as they are.
 */
#include "normalize.h"

#include <stdint.h>
#include <string.h>

/* Base letters for U+00C0..U+017F; '\0' for code points that are not letters. */
static const char latin_base[] =
    /* C0 */ "aaaaaaaceeeeiiii"
             /* D0 */ "dnooooo\0ouuuuyts"
             /* E0 */ "aaaaaaaceeeeiiii"
             /* F0 */ "dnooooo\0ouuuuyty"
             /* 100 */ "aaaaaaccccccccdd"
             /* 110 */ "ddeeeeeeeeeegggg"
             /* 120 */ "gggghhhhiiiiiiii"
             /* 130 */ "iiiijjkkklllllll"
             /* 140 */ "lllnnnnnnnnnoooo"
             /* 150 */ "oooorrrrrrssssss"
             /* 160 */ "ssttttttuuuuuuuu"
             /* 170 */ "uuuuwwyyyzzzzzzs";

/* Decodes one UTF-8 sequence; returns its length (1 for a stray byte). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
        *cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        return 2;
    }
    if ((s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        *cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return 3;
    }
    if ((s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
        (s[3] & 0xc0) == 0x80) {
        *cp = 0x10000; /* beyond the BMP: kept verbatim */
        return 4;
    }
    *cp = 0xfffd;
    return 1;
}

static int is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xa0;
}

struct sink {
    char *out;
    size_t len, cap;
    int overflow;
};

static void put(struct sink *s, const char *bytes, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->overflow = 1;
        return;
    }
    memcpy(s->out + s->len, bytes, n);
    s->len += n;
}

size_t name_fold(const char *in, char *out, size_t outlen, bool letters_only)
{
    struct sink s = {out, 0, outlen, 0};
    int pending_space = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p && !s.overflow) {
        uint32_t cp;
        size_t n = utf8_next(p, &cp);
        if (is_space(cp)) {
            pending_space = s.len > 0;
        } else {
            char c = 0;
            if (cp < 0x80 && ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'))
                c = (char)(cp | 0x20);
            else if (cp >= 0xc0 && cp < 0xc0 + sizeof latin_base - 1)
                c = latin_base[cp - 0xc0];
            int letter = c != 0 || cp >= 0x180;
            if (letters_only && !letter) {
                p += n;
                continue;
            }
            if (pending_space && !letters_only)
                put(&s, " ", 1);
            pending_space = 0;
            if (cp == 0xdf)
                put(&s, "ss", 2);
            else if (c)
                put(&s, &c, 1);
            else
                put(&s, (const char *)p, n);
        }
        p += n;
    }
    if (s.overflow || outlen == 0)
        return 0;
    out[s.len] = '\0';
    return s.len;
}

size_t docnum_fold(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '-' || c == '/')
            continue;
        if (n + 2 > outlen)
            return 0;
        out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    if (outlen == 0)
        return 0;
    out[n] = '\0';
    return n;
}
