/*
 * appliance/httpconn.c - HTTP/1.1 requests out of a byte stream, with the
 * maintained http-parser library, and the two helpers of http.h.
 *
 * One httpconn per connection.  Bytes are fed as they arrive, split anywhere.
 * The request target and the header names and values are copied, piece by
 * piece as the parser reports them, into one arena of max_header_bytes, so a
 * request whose header section does not fit is refused (431) without ever
 * growing; the body goes into its own buffer, refused past max_body_bytes
 * (413, at once when Content-Length says so).  When a message is complete
 * the parser is paused, so pipelined requests come out one at a time: the
 * caller answers, calls httpconn_next(), and feeds the rest.
 *
 * Requests carry personal data: the arena and the body are wiped when the
 * request is done with and when the connection goes.
 */
#include "server.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum last_piece { PIECE_NONE, PIECE_FIELD, PIECE_VALUE };

struct httpconn {
    http_parser parser;
    struct http_limits limits;
    struct http_request req;
    char *arena; /* max_header_bytes: request target, header names and values */
    size_t arena_len;
    size_t url_len;
    enum last_piece last;
    char *body;
    size_t body_cap;
    bool in_request, complete, expect_continue, continue_taken;
    int error_status;
    const char *error_code;
};

static int fail(struct httpconn *h, int status, const char *code)
{
    if (!h->error_status) {
        h->error_status = status;
        h->error_code = code;
    }
    return -1;
}

static int append(struct httpconn *h, const char *at, size_t len)
{
    if (len > h->limits.max_header_bytes - h->arena_len)
        return fail(h, 431, "headers_too_large");
    memcpy(h->arena + h->arena_len, at, len);
    h->arena_len += len;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct httpconn *h = p->data;
    h->in_request = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct httpconn *h = p->data;
    h->url_len += len;
    return append(h, at, len);
}

/* RFC 9110 token characters; this build of http-parser also lets spaces through. */
static bool is_token(const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)at[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch && strchr("!#$%&'*+-.^_`|~", ch))))
            return false;
    }
    return true;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpconn *h = p->data;
    if (!is_token(at, len))
        return fail(h, 400, "malformed_request");
    if (h->last != PIECE_FIELD) {
        if (h->req.nheaders >= h->limits.max_headers)
            return fail(h, 431, "too_many_headers");
        struct http_header *hd = &h->req.headers[h->req.nheaders++];
        hd->name = h->arena + h->arena_len;
        hd->name_len = 0;
        hd->value = h->arena + h->arena_len; /* empty until a value comes */
        hd->value_len = 0;
        h->last = PIECE_FIELD;
    }
    h->req.headers[h->req.nheaders - 1].name_len += len;
    return append(h, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpconn *h = p->data;
    struct http_header *hd = &h->req.headers[h->req.nheaders - 1];
    if (h->last != PIECE_VALUE) {
        hd->value = h->arena + h->arena_len;
        hd->value_len = 0;
        h->last = PIECE_VALUE;
    }
    hd->value_len += len;
    return append(h, at, len);
}

static enum http_verb verb_of(unsigned method)
{
    switch (method) {
    case HTTP_GET:
        return HTTP_VERB_GET;
    case HTTP_POST:
        return HTTP_VERB_POST;
    case HTTP_PUT:
        return HTTP_VERB_PUT;
    case HTTP_DELETE:
        return HTTP_VERB_DELETE;
    case HTTP_HEAD:
        return HTTP_VERB_HEAD;
    default:
        return HTTP_VERB_OTHER;
    }
}

/* Splits the request target into path and query (a fragment is dropped). */
static int split_target(struct httpconn *h)
{
    const char *url = h->arena; /* the target opens the arena */
    size_t len = h->url_len;
    if (len == 1 && url[0] == '*') {
        strcpy(h->req.path, "*");
        return 0;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (len > UINT16_MAX || http_parser_parse_url(url, len, 0, &u) != 0)
        return fail(h, 400, "malformed_request");
    const char *path = "/";
    size_t path_len = 1;
    if (u.field_set & (1u << UF_PATH)) {
        path = url + u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
    }
    if (path_len > HTTP_MAX_PATH)
        return fail(h, 414, "uri_too_long");
    memcpy(h->req.path, path, path_len);
    h->req.path[path_len] = '\0';
    if (u.field_set & (1u << UF_QUERY)) {
        size_t qlen = u.field_data[UF_QUERY].len;
        if (qlen > HTTP_MAX_PATH)
            return fail(h, 414, "uri_too_long");
        memcpy(h->req.query, url + u.field_data[UF_QUERY].off, qlen);
        h->req.query[qlen] = '\0';
    }
    return 0;
}

static bool body_reserve(struct httpconn *h, size_t need)
{
    if (need <= h->body_cap)
        return true;
    size_t cap = h->body_cap ? h->body_cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > h->limits.max_body_bytes + 1)
        cap = h->limits.max_body_bytes + 1;
    char *grown = malloc(cap);
    if (!grown)
        return false;
    if (h->body) {
        memcpy(grown, h->body, h->req.body_len);
        explicit_bzero(h->body, h->body_cap);
        free(h->body);
    }
    h->body = grown;
    h->body_cap = cap;
    return true;
}

static int on_headers_complete(http_parser *p)
{
    struct httpconn *h = p->data;
    for (unsigned i = 0; i < h->req.nheaders; i++) { /* trailing white space is not the value */
        struct http_header *hd = &h->req.headers[i];
        while (hd->value_len &&
               (hd->value[hd->value_len - 1] == ' ' || hd->value[hd->value_len - 1] == '\t'))
            hd->value_len--;
    }
    if (split_target(h) != 0)
        return -1;
    h->req.verb = verb_of(p->method);
    h->req.keep_alive = http_should_keep_alive(p) != 0;
    if (p->method == HTTP_CONNECT)
        return fail(h, 400, "malformed_request");
    if (p->content_length != UINT64_MAX && p->content_length > 0 && !(p->flags & F_CHUNKED)) {
        if (p->content_length > h->limits.max_body_bytes)
            return fail(h, 413, "body_too_large");
        if (!body_reserve(h, (size_t)p->content_length + 1))
            return fail(h, 503, "out_of_memory");
    }
    size_t len;
    const char *expect = http_header_get(&h->req, "Expect", &len);
    h->expect_continue = expect && len == 12 && strncasecmp(expect, "100-continue", 12) == 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpconn *h = p->data;
    if (len > h->limits.max_body_bytes - h->req.body_len)
        return fail(h, 413, "body_too_large");
    if (!body_reserve(h, h->req.body_len + len + 1))
        return fail(h, 503, "out_of_memory");
    memcpy(h->body + h->req.body_len, at, len);
    h->req.body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpconn *h = p->data;
    if (h->body) {
        h->body[h->req.body_len] = '\0';
        h->req.body = h->body;
    } else {
        h->req.body = "";
    }
    if (p->upgrade)
        h->req.keep_alive = false; /* the parser stops here: answer, then close */
    h->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct httpconn *httpconn_new(const struct http_limits *limits)
{
    struct httpconn *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->limits = *limits;
    if (h->limits.max_headers > HTTP_MAX_HEADERS)
        h->limits.max_headers = HTTP_MAX_HEADERS;
    h->arena = malloc(h->limits.max_header_bytes ? h->limits.max_header_bytes : 1);
    if (!h->arena) {
        free(h);
        return NULL;
    }
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    return h;
}

static void forget_request(struct httpconn *h)
{
    explicit_bzero(h->arena, h->arena_len);
    if (h->body) {
        explicit_bzero(h->body, h->body_cap);
        free(h->body);
    }
    h->body = NULL;
    h->body_cap = 0;
    explicit_bzero(&h->req, sizeof h->req);
    h->arena_len = h->url_len = 0;
    h->last = PIECE_NONE;
    h->in_request = h->complete = h->expect_continue = h->continue_taken = false;
}

void httpconn_free(struct httpconn *h)
{
    if (!h)
        return;
    forget_request(h);
    free(h->arena);
    free(h);
}

enum http_step httpconn_feed(struct httpconn *h, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (h->error_status)
        return HTTP_STEP_ERROR;
    if (h->complete)
        return HTTP_STEP_REQUEST;
    if (len == 0)
        return HTTP_STEP_MORE; /* a zero length would tell the parser "end of stream" */
    *used = http_parser_execute(&h->parser, &settings, data, len);
    if (h->complete)
        return HTTP_STEP_REQUEST;
    if (HTTP_PARSER_ERRNO(&h->parser) != HPE_OK || h->error_status) {
        if (HTTP_PARSER_ERRNO(&h->parser) == HPE_HEADER_OVERFLOW)
            fail(h, 431, "headers_too_large");
        fail(h, 400, "malformed_request");
        return HTTP_STEP_ERROR;
    }
    if (*used < len) { /* stopped without a reason: never trust the rest */
        fail(h, 400, "malformed_request");
        return HTTP_STEP_ERROR;
    }
    return HTTP_STEP_MORE;
}

const struct http_request *httpconn_request(const struct httpconn *h)
{
    return h->complete ? &h->req : NULL;
}

int httpconn_error_status(const struct httpconn *h)
{
    return h->error_status;
}

const char *httpconn_error_code(const struct httpconn *h)
{
    return h->error_code ? h->error_code : "malformed_request";
}

bool httpconn_in_request(const struct httpconn *h)
{
    return h->in_request;
}

bool httpconn_take_continue(struct httpconn *h)
{
    if (!h->expect_continue || h->continue_taken || h->complete || h->error_status)
        return false;
    h->continue_taken = true;
    return true;
}

void httpconn_next(struct httpconn *h)
{
    forget_request(h);
    if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED) /* an error stays an error */
        http_parser_pause(&h->parser, 0);
}

/* ---- http.h ---------------------------------------------------------------------- */

const char *http_header_get(const struct http_request *req, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    for (unsigned i = 0; i < req->nheaders; i++) {
        const struct http_header *hd = &req->headers[i];
        if (hd->name_len == name_len && strncasecmp(hd->name, name, name_len) == 0) {
            if (len)
                *len = hd->value_len;
            return hd->value;
        }
    }
    return NULL;
}

void http_response_json(struct http_response *resp, int status, char *text)
{
    resp->status = status;
    resp->content_type = NULL;
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
}
