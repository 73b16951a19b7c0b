/*
 * appliance/strbuf.h - text appended to a fixed buffer the caller owns, for
 * what is written on every request's path without printf: an answer's head
 * (conn.c) and the verify answer (api_reply.c's JSON tokens on top).
 *
 * A piece that does not fit is not written at all and spoils the buffer, as
 * does a caller that finds a piece unfit (strbuf_spoil): a spoiled buffer
 * takes nothing more, and its owner must not send what it holds.  Nothing is
 * ever cut in the middle, and the text is not NUL-terminated (len says how
 * long it is).
 */
#ifndef HUDUMA_STRBUF_H
#define HUDUMA_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *buf;
    size_t cap, len;
    bool spoiled;
};

/* A strbuf over a char array (not a pointer). */
#define STRBUF(array) ((struct strbuf){.buf = (array), .cap = sizeof(array)})

void strbuf_put(struct strbuf *b, const char *s);
void strbuf_uint(struct strbuf *b, unsigned long long v); /* in decimal */
void strbuf_spoil(struct strbuf *b);

#endif
