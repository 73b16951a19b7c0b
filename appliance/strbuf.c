/*
 * appliance/strbuf.c - appending to a fixed buffer, all of a piece or none
 * (strbuf.h).
 */
#include "strbuf.h"

#include <string.h>

void strbuf_put(struct strbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->spoiled || n > b->cap - b->len) {
        b->spoiled = true;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

void strbuf_uint(struct strbuf *b, unsigned long long v)
{
    char digits[24]; /* 2^64 - 1 has 20 */
    size_t i = sizeof digits;
    digits[--i] = '\0';
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    strbuf_put(b, digits + i);
}

void strbuf_spoil(struct strbuf *b)
{
    b->spoiled = true;
}
