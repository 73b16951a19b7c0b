/*
 * appliance/load_http.c - the bytes huduma-load sends and the minimal parse of
 * what comes back (see load.h).
 *
 * A request is composed once, whole, and then sent as often as needed.  A
 * response is parsed just enough to delimit it on a keep-alive connection and
 * to count it: the status line ("HTTP/1.x NNN"), then the headers up to the
 * blank line, of which only Content-Length, Connection and Transfer-Encoding
 * matter.  Content-Length must be given (a body delimited by the end of the
 * connection, or chunked, cannot be counted on a kept-alive connection, and
 * neither server under test sends one), except where HTTP says there is no
 * body: 1xx, 204, 304 and answers to HEAD.  Repeated Content-Length headers
 * must agree.  Header names are compared without regard to case.
 */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- requests ---------------------------------------------------------------------- */

static bool has_header(const char *const *headers, unsigned n, const char *name)
{
    size_t len = strlen(name);
    for (unsigned i = 0; i < n; i++)
        if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
            return true;
    return false;
}

char *load_request_compose(const char *method, const char *path, const char *host,
                           const char *const *headers, unsigned nheaders, const char *body,
                           size_t body_len, size_t *len)
{
    size_t cap = strlen(method) + strlen(path) + strlen(host) + body_len + 128;
    for (unsigned i = 0; i < nheaders; i++)
        cap += strlen(headers[i]) + 2;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    size_t n = (size_t)snprintf(text, cap, "%s %s HTTP/1.1\r\n", method, path);
    if (!has_header(headers, nheaders, "Host"))
        n += (size_t)snprintf(text + n, cap - n, "Host: %s\r\n", host);
    for (unsigned i = 0; i < nheaders; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s\r\n", headers[i]);
    bool wants_length = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    if (wants_length && !has_header(headers, nheaders, "Content-Length"))
        n += (size_t)snprintf(text + n, cap - n, "Content-Length: %zu\r\n", body_len);
    n += (size_t)snprintf(text + n, cap - n, "\r\n");
    if (body_len)
        memcpy(text + n, body, body_len);
    *len = n + body_len;
    return text;
}

/* ---- responses --------------------------------------------------------------------- */

static const char *find_blank_line(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return buf + i + 1;
    return NULL;
}

/* "HTTP/1.x NNN" then a space or the end of the line; sets status and close. */
static int parse_status_line(const char *p, const char *eol, struct load_response *r)
{
    if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    if (eol - p > 12 && p[12] != ' ')
        return -1;
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (r->status < 100)
        return -1;
    r->close = p[7] == '0';
    return 0;
}

static bool name_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* True when the comma-separated list [v, end) holds `token` (any case). */
static bool has_token(const char *v, const char *end, const char *token)
{
    size_t tlen = strlen(token);
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *s = v;
        while (v < end && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
            return true;
    }
    return false;
}

/* One header line [p, eol): records what matters; -1 with *why when refused. */
static int parse_header(const char *p, const char *eol, struct load_response *r, long long *length,
                        const char **why)
{
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p) {
        *why = "a header line without a name";
        return -1;
    }
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1, *end = eol;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (name_is(p, name_len, "Content-Length")) {
        long long n = 0;
        if (v == end || end - v > 15) {
            *why = "a malformed Content-Length";
            return -1;
        }
        for (const char *d = v; d < end; d++) {
            if (*d < '0' || *d > '9') {
                *why = "a malformed Content-Length";
                return -1;
            }
            n = n * 10 + (*d - '0');
        }
        if (*length >= 0 && *length != n) {
            *why = "Content-Length headers that disagree";
            return -1;
        }
        *length = n;
    } else if (name_is(p, name_len, "Transfer-Encoding")) {
        *why = "Transfer-Encoding (only Content-Length is supported)";
        return -1;
    } else if (name_is(p, name_len, "Connection")) {
        if (has_token(v, end, "close"))
            r->close = true;
        else if (has_token(v, end, "keep-alive"))
            r->close = false;
    }
    return 0;
}

static enum load_parse refuse(const char **why, const char *text)
{
    *why = text;
    return LOAD_PARSE_ERROR;
}

enum load_parse load_response_parse(const char *buf, size_t len, bool head, struct load_response *r,
                                    const char **why)
{
    size_t scan = len < LOAD_MAX_HEADER_BYTES ? len : LOAD_MAX_HEADER_BYTES;
    const char *end = find_blank_line(buf, scan);
    if (!end)
        return len >= LOAD_MAX_HEADER_BYTES ? refuse(why, "a header section over 64 KiB")
                                            : LOAD_PARSE_MORE;
    memset(r, 0, sizeof *r);
    r->header_len = (size_t)(end - buf);
    const char *p = buf, *eol = memchr(p, '\r', (size_t)(end - p));
    if (!eol || eol[1] != '\n' || parse_status_line(p, eol, r) != 0)
        return refuse(why, "a malformed status line");
    long long length = -1;
    for (p = eol + 2; p < end - 2; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n')
            return refuse(why, "a header line not ended by CRLF");
        if (parse_header(p, eol, r, &length, why) != 0)
            return LOAD_PARSE_ERROR;
    }
    if (r->status < 200)
        return r->status == 101 ? refuse(why, "a protocol switch") : LOAD_PARSE_INTERIM;
    if (head || r->status == 204 || r->status == 304)
        r->body_len = 0;
    else if (length < 0)
        return refuse(why, "no Content-Length");
    else
        r->body_len = (size_t)length;
    return len - r->header_len >= r->body_len ? LOAD_PARSE_DONE : LOAD_PARSE_MORE;
}
