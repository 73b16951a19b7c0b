/*
 * tests/fuzz/fuzz_http.c - libFuzzer target for the HTTP/1.1 parser glue
 * (appliance/httpconn.c).
 *
 * Input: byte 0 picks the limits (the defaults, or small ones so that 413 and
 * 431 are reached), byte 1 the size of the pieces the rest is fed in; the rest
 * is the byte stream of a connection.  The stream is parsed twice, whole and
 * in pieces, answering each request at once.  Both runs must give the same
 * requests (compared field by field through a digest) and both refuse or both
 * not;
 * every request must respect the limits (path, header count and bytes, body)
 * and have terminated strings.  Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/server.h"

#define MAX_REQUESTS 64

struct outcome {
    unsigned count;
    uint64_t digest[MAX_REQUESTS];
    int error;
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

static uint64_t digest(const struct http_request *req, const struct http_limits *lim)
{
    check(memchr(req->path, '\0', sizeof req->path) && memchr(req->query, '\0', sizeof req->query));
    check(req->nheaders <= lim->max_headers);
    check(req->body_len <= lim->max_body_bytes && req->body[req->body_len] == '\0');
    size_t header_bytes = strlen(req->path);
    uint64_t h = 14695981039346656037u;
    h = mix(h, &req->verb, sizeof req->verb);
    h = mix(h, req->path, strlen(req->path) + 1);
    h = mix(h, req->query, strlen(req->query) + 1);
    for (unsigned i = 0; i < req->nheaders; i++) {
        const struct http_header *hd = &req->headers[i];
        header_bytes += hd->name_len + hd->value_len;
        h = mix(h, hd->name, hd->name_len);
        h = mix(h, ":", 1);
        h = mix(h, hd->value, hd->value_len);
        h = mix(h, "\n", 1);
        size_t len = 0;
        check(http_header_get(req, "x", &len) || 1);
    }
    check(header_bytes <= lim->max_header_bytes);
    h = mix(h, req->body, req->body_len);
    h = mix(h, &req->keep_alive, sizeof req->keep_alive);
    return h;
}

static void run(const uint8_t *data, size_t size, size_t piece, const struct http_limits *lim,
                struct outcome *out)
{
    memset(out, 0, sizeof *out);
    struct httpconn *h = httpconn_new(lim);
    check(h != NULL);
    for (size_t from = 0; from < size && !out->error;) {
        size_t len = size - from < piece ? size - from : piece;
        size_t off = 0;
        for (;;) {
            size_t used;
            enum http_step step =
                httpconn_feed(h, (const char *)data + from + off, len - off, &used);
            check(used <= len - off);
            off += used;
            if (step == HTTP_STEP_REQUEST) {
                const struct http_request *req = httpconn_request(h);
                if (out->count < MAX_REQUESTS)
                    out->digest[out->count] = digest(req, lim);
                out->count++;
                httpconn_take_continue(h);
                httpconn_next(h);
                if (off == len)
                    break;
            } else if (step == HTTP_STEP_ERROR) {
                out->error = httpconn_error_status(h);
                check(out->error == 400 || out->error == 413 || out->error == 414 ||
                      out->error == 431 || out->error == 503);
                break;
            } else {
                check(off == len);
                httpconn_take_continue(h);
                break;
            }
        }
        from += len;
    }
    httpconn_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const struct http_limits limits[] = {{8192, 64, 1024 * 1024}, {1024, 4, 64}};
    const struct http_limits *lim = &limits[data[0] & 1];
    size_t piece = 1 + data[1] % 17;
    struct outcome whole, pieces;
    run(data + 2, size - 2, size, lim, &whole);
    run(data + 2, size - 2, piece, lim, &pieces);
    /* Input with two faults may be refused for either, depending on where it
     * was split (a header counted at a piece's end before its bad byte is seen):
     * both runs must refuse, not necessarily with the same status. */
    check(whole.count == pieces.count && (whole.error == 0) == (pieces.error == 0));
    for (unsigned i = 0; i < whole.count && i < MAX_REQUESTS; i++)
        check(whole.digest[i] == pieces.digest[i]);
    return 0;
}
