/*
 * appliance/api_impl.h - what the files of the v1 API share and nobody else
 * sees: the API handle, one call in flight, the handler signature, and the
 * helpers that read a request and write an answer or a stable error.
 *
 *   api.c          the route table, routing, permissions, purposes, metrics
 *   api_reply.c    answers, errors, register results -> error codes, input helpers
 *   api_enrol.c    enrolments, births, enrolment status, adjudication, due list
 *   api_records.c  reads, corrections, history, deaths, documents, look-ups
 *   api_verify.c   POST /v1/verify
 *   api_identify.c POST /v1/identify
 *
 * A handler reads c->param (the decoded path parameter), c->body (the parsed
 * JSON object of a POST) and the query, calls the register once or twice,
 * and fills c->resp with api_reply() or one of the error helpers.  Handlers
 * never see a request that failed routing, permission or purpose checks.
 */
#ifndef HUDUMA_API_IMPL_H
#define HUDUMA_API_IMPL_H

#include "api.h"
#include "register.h"
#include "strbuf.h"

#include <jansson.h>

#define API_PARAM_MAX   128 /* bytes of a decoded path parameter or query value */
#define API_PURPOSE_MIN 3
#define API_PURPOSE_MAX 128

struct api {
    struct reg *reg;
    struct metrics *metrics;
    struct audit *audit; /* NULL: the audit routes answer 503 */
};

struct route;

/* One request being answered. */
struct api_call {
    struct api *api;
    const struct agency *caller;
    const struct http_request *req;
    const struct route *route;
    char purpose[API_PURPOSE_MAX + 1];
    char param[API_PARAM_MAX + 1]; /* the route's one path parameter, decoded ("" if none) */
    json_t *body;                  /* a POST's JSON object, NULL for a GET */
    struct http_response *resp;
    char subject[HN_LEN + 1]; /* the person the request was about, for the audit log */
    char txid[33];            /* the request's transaction id, in its audit leaf */
};

typedef void (*api_handler)(struct api_call *c);

struct route {
    enum http_verb verb;
    const char *path;  /* template, as in docs/openapi.yaml: "/v1/persons/{hn}" */
    enum operation op; /* what the caller's roles must grant (agency_may) */
    api_handler fn;
    bool blocking;     /* changes the register: run on the worker pool */
    const char *query; /* query parameters it accepts, comma-separated ("" none) */
};

/* ---- answers and errors (api_reply.c) ------------------------------------------- */

/* Stable error codes (docs/api.md). */
enum api_error {
    AE_INVALID_JSON,       /* 400 */
    AE_INVALID_FIELD,      /* 400, field named */
    AE_PURPOSE_REQUIRED,   /* 400 */
    AE_FORBIDDEN,          /* 403 */
    AE_NOT_FOUND,          /* 404 */
    AE_METHOD_NOT_ALLOWED, /* 405 */
    AE_DOCUMENT_LINKED,    /* 409 */
    AE_ALREADY_DECEASED,   /* 409 */
    AE_NOT_ACTIVE,         /* 409 */
    AE_ALREADY_DECIDED,    /* 409 */
    AE_CONFLICT,           /* 409 */
    AE_STORAGE_ERROR,      /* 500 */
    AE_INTERNAL_ERROR,     /* 500 */
    AE_BUSY,               /* 503 */
};

/* Sends obj (consumed, may be NULL after a failed json_pack) with this status. */
void api_reply(struct api_call *c, int status, json_t *obj);
/* An answer of fixed shape written straight as compact JSON text (strbuf.h),
 * for the hottest route (verify): building a jansson tree and dumping it
 * cost about as much as reading the record.  Punctuation and member names
 * are put with strbuf_put; strings go through api_text_string, which takes
 * only tokens (numbers, codes, ids) and spoils the text for anything that
 * would need escaping, so the answer becomes an internal error, never bad
 * JSON. */
#define API_TEXT_BYTES 1024
void api_text_string(struct strbuf *t, const char *token); /* NULL spoils too */
void api_text_bool(struct strbuf *t, bool b);
/* Sends t's text (wiping it) as the answer, or an internal error when t is spoiled. */
void api_reply_text(struct api_call *c, int status, struct strbuf *t);
/* Sends an error; field may be NULL.  Always returns -1, for `return api_fail(...)`. */
int api_fail(struct api_call *c, enum api_error e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends the error a register refusal maps to (409s are told apart by the caller). */
int api_reg_fail(struct api_call *c, const struct reg_result *res);
/* Fills resp with a fixed error without touching c (routing failures, OOM). */
void api_reply_error(struct http_response *resp, enum api_error e, const char *field,
                     const char *msg);

/* ---- reading input (api_reply.c) ------------------------------------------------- */

/* Refuses members of the body not in `allowed` (NULL-terminated). */
int api_body_only(struct api_call *c, const char *const *allowed);
/* A string member: *out NULL when absent and not required.  0, or -1 (error sent). */
int api_body_string(struct api_call *c, const char *name, bool required, const char **out);
/* The query parameter `name`, decoded into out; 1 found, 0 absent, -1 (error sent). */
int api_query(struct api_call *c, const char *name, char *out, size_t outlen);
/* Refuses query parameters the route does not accept.  0, or -1 (error sent). */
int api_query_check(struct api_call *c);
/* Percent-decodes [s, s+n) into out (NUL-terminated); '+' too when `plus`. -1 when bad. */
int api_url_decode(const char *s, size_t n, bool plus, char *out, size_t outlen);
/* The path parameter as a Huduma Number; -1 (error sent) when malformed. */
int api_param_hn(struct api_call *c);
/* True when s is a short [a-z0-9_] name, safe to put in an error's field. */
bool api_safe_name(const char *s);
/* Names the person a request was about in its audit leaf (a well-formed
 * number only); person routes get their {hn} without asking. */
void api_audit_subject(struct api_call *c, const char *hn);

/* A record as this caller may see it: permitted members, plus huduma_number and status. */
json_t *api_record_view(const struct agency *caller, const struct person *p);
/* An enrolment answer ({"outcome", "enrolment_id", "huduma_number"?, "candidates"?}). */
json_t *api_answer_json(const struct enrol_answer *a, bool with_candidates);

/* ---- handlers -------------------------------------------------------------------- */

void api_enrol(struct api_call *c);
void api_birth(struct api_call *c);
void api_enrolment_status(struct api_call *c);
void api_adjudications(struct api_call *c);
void api_adjudicate(struct api_call *c);
void api_due(struct api_call *c);

void api_person(struct api_call *c);
void api_correct(struct api_call *c);
void api_history(struct api_call *c);
void api_death(struct api_call *c);
void api_issue_document(struct api_call *c);
void api_documents(struct api_call *c);
void api_lookup(struct api_call *c);

void api_verify(struct api_call *c);
void api_identify(struct api_call *c);

/* audit_api.c */
void api_accesses(struct api_call *c);
void api_audit_checkpoint(struct api_call *c);
void api_audit_entries(struct api_call *c);
void api_audit_inclusion(struct api_call *c);
void api_audit_consistency(struct api_call *c);
void api_audit_tile(struct api_call *c);

#endif
