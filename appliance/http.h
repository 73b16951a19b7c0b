/*
 * appliance/http.h - one HTTP/1.1 request and its response, as the network
 * front end (server) hands them to the API (api.c) and back.
 *
 * The server parses with the maintained http-parser library, enforces the
 * limits of the configuration (header bytes, header count, body bytes),
 * and only then calls the API with a complete request.  Strings in a request
 * point into the connection's buffer and live until the response is sent.
 */
#ifndef HUDUMA_HTTP_H
#define HUDUMA_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_PATH    1024

enum http_verb {
    HTTP_VERB_OTHER = 0,
    HTTP_VERB_GET,
    HTTP_VERB_POST,
    HTTP_VERB_PUT,
    HTTP_VERB_DELETE,
    HTTP_VERB_HEAD
};

struct http_header {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct http_request {
    enum http_verb verb;
    char path[HTTP_MAX_PATH + 1];  /* decoded of nothing: the path as sent, without the query */
    char query[HTTP_MAX_PATH + 1]; /* after '?', or empty */
    unsigned nheaders;
    struct http_header headers[HTTP_MAX_HEADERS];
    const char *body;
    size_t body_len;
    bool keep_alive;
};

/* Case-insensitive header look-up; NULL when absent.  *len gets the value length. */
const char *http_header_get(const struct http_request *req, const char *name, size_t *len);

struct http_response {
    int status;               /* 200, 400, ... */
    const char *content_type; /* NULL: application/json */
    char *body;               /* malloc'd; the server frees it (wiped) after sending */
    size_t body_len;
    bool close; /* close the connection after this response */
};

/* Sets a JSON body (takes ownership of `text`, a malloc'd string). */
void http_response_json(struct http_response *resp, int status, char *text);

#endif
