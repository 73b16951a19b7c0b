/*
 * tests/unit/test_http.c - the HTTP/1.1 parser glue (appliance/httpconn.c).
 *
 * Covers: a stream of pipelined requests (GET with a query, POST with a
 * Content-Length body, POST with a chunked body, HTTP/1.0) gives the same
 * requests in the same order whether it is fed at once, split at every byte
 * boundary, or one byte at a time; chunked bodies with extensions and
 * trailers; the limits (header bytes and count -> 431, body -> 413 at once
 * from Content-Length and while a chunked body grows, path -> 414); malformed
 * input -> 400; keep-alive rules; Expect: 100-continue; header look-up; and
 * http_response_json().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/server.h"

#define MAX_SEEN 8

/* A request as the API would see it, flattened so two can be compared. */
struct seen {
    enum http_verb verb;
    char path[HTTP_MAX_PATH + 1];
    char query[HTTP_MAX_PATH + 1];
    char headers[4096]; /* "name: value\n" ... */
    char body[1024];
    size_t body_len;
    bool keep_alive;
};

struct run {
    struct seen seen[MAX_SEEN];
    int count;
    int error; /* status, 0 if none */
};

static const struct http_limits default_limits = {8192, 64, 1024 * 1024};

static void record(struct run *run, const struct http_request *req)
{
    assert_true(run->count < MAX_SEEN);
    struct seen *s = &run->seen[run->count++];
    memset(s, 0, sizeof *s);
    s->verb = req->verb;
    strcpy(s->path, req->path);
    strcpy(s->query, req->query);
    size_t used = 0;
    for (unsigned i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        int n = snprintf(s->headers + used, sizeof s->headers - used, "%.*s: %.*s\n",
                         (int)h->name_len, h->name, (int)h->value_len, h->value);
        assert_true(n > 0 && (size_t)n < sizeof s->headers - used);
        used += (size_t)n;
    }
    assert_true(req->body_len < sizeof s->body);
    memcpy(s->body, req->body, req->body_len);
    assert_int_equal(req->body[req->body_len], '\0');
    s->body_len = req->body_len;
    s->keep_alive = req->keep_alive;
}

/* Feeds one piece, answering every complete request at once. */
static void feed(struct httpconn *h, struct run *run, const char *data, size_t len)
{
    size_t off = 0;
    while (!run->error) {
        size_t used;
        enum http_step step = httpconn_feed(h, data + off, len - off, &used);
        off += used;
        if (step == HTTP_STEP_REQUEST) {
            record(run, httpconn_request(h));
            httpconn_next(h);
        } else if (step == HTTP_STEP_ERROR) {
            run->error = httpconn_error_status(h);
        } else {
            assert_int_equal(off, len);
            return;
        }
        if (off == len && step == HTTP_STEP_REQUEST)
            return;
    }
}

static void parse_split(const char *text, size_t len, const size_t *cuts, size_t ncuts,
                        const struct http_limits *limits, struct run *run)
{
    memset(run, 0, sizeof *run);
    struct httpconn *h = httpconn_new(limits ? limits : &default_limits);
    assert_non_null(h);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        feed(h, run, text + from, to - from);
        from = to;
    }
    httpconn_free(h);
}

static void parse(const char *text, const struct http_limits *limits, struct run *run)
{
    parse_split(text, strlen(text), NULL, 0, limits, run);
}

static void assert_same(const struct run *a, const struct run *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->error, b->error);
    for (int i = 0; i < a->count; i++) {
        assert_int_equal(a->seen[i].verb, b->seen[i].verb);
        assert_string_equal(a->seen[i].path, b->seen[i].path);
        assert_string_equal(a->seen[i].query, b->seen[i].query);
        assert_string_equal(a->seen[i].headers, b->seen[i].headers);
        assert_int_equal(a->seen[i].body_len, b->seen[i].body_len);
        assert_memory_equal(a->seen[i].body, b->seen[i].body, a->seen[i].body_len);
        assert_int_equal(a->seen[i].keep_alive, b->seen[i].keep_alive);
    }
}

static const char pipeline[] = "GET /v1/persons/571829116142?fields=names HTTP/1.1\r\n"
                               "Host: localhost\r\n"
                               "X-Purpose: kyc\r\n"
                               "\r\n"
                               "POST /v1/verify HTTP/1.1\r\n"
                               "Host: localhost\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 27\r\n"
                               "\r\n"
                               "{\"hn\":\"571829116142\",\"x\":1}"
                               "POST /v1/enrolments HTTP/1.1\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "\r\n"
                               "4\r\n{\"a\"\r\n"
                               "3;ext=1\r\n:1}\r\n"
                               "0\r\n"
                               "X-Trailer: t\r\n"
                               "\r\n"
                               "HEAD /healthz HTTP/1.0\r\n"
                               "\r\n";

static void test_pipeline_in_one_piece(void **state)
{
    (void)state;
    struct run run;
    parse(pipeline, NULL, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(run.count, 4);
    assert_int_equal(run.seen[0].verb, HTTP_VERB_GET);
    assert_string_equal(run.seen[0].path, "/v1/persons/571829116142");
    assert_string_equal(run.seen[0].query, "fields=names");
    assert_string_equal(run.seen[0].headers, "Host: localhost\nX-Purpose: kyc\n");
    assert_int_equal(run.seen[0].body_len, 0);
    assert_true(run.seen[0].keep_alive);
    assert_int_equal(run.seen[1].verb, HTTP_VERB_POST);
    assert_string_equal(run.seen[1].path, "/v1/verify");
    assert_int_equal(run.seen[1].body_len, 27);
    assert_memory_equal(run.seen[1].body, "{\"hn\":\"571829116142\",\"x\":1}", 27);
    assert_string_equal(run.seen[2].path, "/v1/enrolments");
    assert_int_equal(run.seen[2].body_len, 7);
    assert_memory_equal(run.seen[2].body, "{\"a\":1}", 7);
    assert_int_equal(run.seen[3].verb, HTTP_VERB_HEAD);
    assert_false(run.seen[3].keep_alive); /* HTTP/1.0 without keep-alive */
}

static void test_pipeline_split_at_every_byte(void **state)
{
    (void)state;
    size_t len = strlen(pipeline);
    struct run whole, split;
    parse(pipeline, NULL, &whole);
    for (size_t cut = 0; cut <= len; cut++) {
        parse_split(pipeline, len, &cut, 1, NULL, &split);
        assert_same(&whole, &split);
    }
    for (size_t a = 1; a < len; a += 7) { /* two cuts */
        for (size_t b = a; b <= len; b += 5) {
            size_t cuts[2] = {a, b};
            parse_split(pipeline, len, cuts, 2, NULL, &split);
            assert_same(&whole, &split);
        }
    }
    size_t *each = malloc(len * sizeof *each); /* one byte at a time */
    for (size_t i = 0; i < len; i++)
        each[i] = i + 1;
    parse_split(pipeline, len, each, len - 1, NULL, &split);
    free(each);
    assert_same(&whole, &split);
}

static void test_pipelined_requests_wait_for_next(void **state)
{
    (void)state;
    struct httpconn *h = httpconn_new(&default_limits);
    const char two[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    size_t used;
    assert_int_equal(httpconn_feed(h, two, strlen(two), &used), HTTP_STEP_REQUEST);
    assert_int_equal(used, 19);
    assert_string_equal(httpconn_request(h)->path, "/a");
    /* not answered yet: the parser stays put */
    size_t again;
    assert_int_equal(httpconn_feed(h, two + used, strlen(two) - used, &again), HTTP_STEP_REQUEST);
    assert_int_equal(again, 0);
    assert_string_equal(httpconn_request(h)->path, "/a");
    httpconn_next(h);
    assert_null(httpconn_request(h));
    assert_int_equal(httpconn_feed(h, two + used, strlen(two) - used, &again), HTTP_STEP_REQUEST);
    assert_string_equal(httpconn_request(h)->path, "/b");
    httpconn_free(h);
}

static void test_chunked_bodies(void **state)
{
    (void)state;
    struct run run;
    parse("POST /v1/verify HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "1\r\na\r\n"
          "A\r\n0123456789\r\n"
          "0\r\n\r\n",
          NULL, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(run.count, 1);
    assert_int_equal(run.seen[0].body_len, 11);
    assert_memory_equal(run.seen[0].body, "a0123456789", 11);

    parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NULL, &run);
    assert_int_equal(run.count, 1);
    assert_int_equal(run.seen[0].body_len, 0);

    parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", NULL, &run);
    assert_int_equal(run.error, 400);
}

static void test_limit_header_bytes(void **state)
{
    (void)state;
    struct http_limits lim = {1024, 64, 4096};
    char text[2048];
    /* counted: the target, the names and the values (1 + 5 + 1019 > 1024) */
    snprintf(text, sizeof text, "GET / HTTP/1.1\r\nX-Big: %0*d\r\n\r\n", 1019, 0);
    struct run run;
    parse(text, &lim, &run);
    assert_int_equal(run.error, 431);
    assert_int_equal(run.count, 0);
    snprintf(text, sizeof text, "GET / HTTP/1.1\r\nX-Big: %0*d\r\n\r\n", 1018, 0);
    parse(text, &lim, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(run.count, 1);
}

static void test_limit_header_count(void **state)
{
    (void)state;
    struct http_limits lim = {8192, 4, 4096};
    struct run run;
    parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &lim, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(run.count, 1);
    parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", &lim, &run);
    assert_int_equal(run.error, 431);
    struct httpconn *h = httpconn_new(&lim);
    size_t used;
    const char *text = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    assert_int_equal(httpconn_feed(h, text, strlen(text), &used), HTTP_STEP_ERROR);
    assert_string_equal(httpconn_error_code(h), "too_many_headers");
    httpconn_free(h);
}

static void test_limit_body(void **state)
{
    (void)state;
    struct http_limits lim = {8192, 64, 10};
    struct run run;
    parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", &lim, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(run.seen[0].body_len, 10);
    /* refused from the header alone: no body byte needs to arrive */
    parse("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", &lim, &run);
    assert_int_equal(run.error, 413);
    parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n", &lim, &run);
    assert_int_equal(run.error, 413);
    parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
          &lim, &run);
    assert_int_equal(run.error, 413);
}

static void test_limit_path(void **state)
{
    (void)state;
    char text[HTTP_MAX_PATH + 64];
    struct run run;
    snprintf(text, sizeof text, "GET /%0*d HTTP/1.1\r\n\r\n", HTTP_MAX_PATH - 1, 0);
    parse(text, NULL, &run);
    assert_int_equal(run.error, 0);
    assert_int_equal(strlen(run.seen[0].path), HTTP_MAX_PATH);
    snprintf(text, sizeof text, "GET /%0*d HTTP/1.1\r\n\r\n", HTTP_MAX_PATH, 0);
    parse(text, NULL, &run);
    assert_int_equal(run.error, 414);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",              /* no colon */
        "GET / HTTP/1.1\rX\n\r\n",                       /* line end */
        "G\x01T / HTTP/1.1\r\n\r\n",                     /* method */
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",         /* space in a name */
        "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", /* length */
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "CONNECT host:443 HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\nbogus\r\n\r\n",          /* the second one */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* TLS spoken to plain HTTP */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct run run;
        parse(bad[i], NULL, &run);
        if (run.error != 400)
            fail_msg("case %zu: error %d", i, run.error);
    }
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct run run;
    parse("GET / HTTP/1.1\r\n\r\n", NULL, &run);
    assert_true(run.seen[0].keep_alive);
    parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", NULL, &run);
    assert_false(run.seen[0].keep_alive);
    parse("GET / HTTP/1.0\r\n\r\n", NULL, &run);
    assert_false(run.seen[0].keep_alive);
    parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL, &run);
    assert_true(run.seen[0].keep_alive);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct httpconn *h = httpconn_new(&default_limits);
    const char head[] = "POST /v1/enrolments HTTP/1.1\r\nContent-Length: 2\r\n"
                        "Expect: 100-Continue\r\n\r\n";
    size_t used;
    assert_false(httpconn_in_request(h));
    assert_int_equal(httpconn_feed(h, head, strlen(head), &used), HTTP_STEP_MORE);
    assert_true(httpconn_in_request(h));
    assert_true(httpconn_take_continue(h));
    assert_false(httpconn_take_continue(h));
    assert_int_equal(httpconn_feed(h, "{}", 2, &used), HTTP_STEP_REQUEST);
    assert_false(httpconn_take_continue(h));
    httpconn_next(h);
    assert_false(httpconn_in_request(h));
    httpconn_free(h);
}

static void test_header_get(void **state)
{
    (void)state;
    struct httpconn *h = httpconn_new(&default_limits);
    const char text[] = "GET /x HTTP/1.1\r\nX-Purpose:   kyc  \r\nx-empty:\r\nHOST: a\r\n\r\n";
    size_t used, len = 99;
    assert_int_equal(httpconn_feed(h, text, strlen(text), &used), HTTP_STEP_REQUEST);
    const struct http_request *req = httpconn_request(h);
    const char *v = http_header_get(req, "x-purpose", &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "kyc", 3);
    v = http_header_get(req, "X-Empty", &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    assert_non_null(http_header_get(req, "host", NULL));
    assert_null(http_header_get(req, "X-Purpos", &len));
    assert_null(http_header_get(req, "X-Purpose-Long", &len));
    httpconn_free(h);
}

static void test_response_json(void **state)
{
    (void)state;
    struct http_response resp = {.close = true};
    http_response_json(&resp, 201, strdup("{\"ok\":true}"));
    assert_int_equal(resp.status, 201);
    assert_null(resp.content_type);
    assert_int_equal(resp.body_len, 11);
    assert_true(resp.close); /* left as the caller set it */
    free(resp.body);
    http_response_json(&resp, 204, NULL);
    assert_int_equal(resp.body_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_in_one_piece),
        cmocka_unit_test(test_pipeline_split_at_every_byte),
        cmocka_unit_test(test_pipelined_requests_wait_for_next),
        cmocka_unit_test(test_chunked_bodies),
        cmocka_unit_test(test_limit_header_bytes),
        cmocka_unit_test(test_limit_header_count),
        cmocka_unit_test(test_limit_body),
        cmocka_unit_test(test_limit_path),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_header_get),
        cmocka_unit_test(test_response_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
