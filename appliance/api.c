/*
 * appliance/api.c - the v1 JSON API's front door: the route table, routing,
 * the per-agency permission check, the purpose every request must carry,
 * and the request metrics.
 *
 * `routes` below is the one list of what the API serves (docs/openapi.yaml
 * describes exactly these): method, path template, the operation the caller's
 * roles must grant, the handler, whether it changes the register (and so
 * blocks on a synced commit), and the query parameters it accepts.  A request
 * goes through, in order:
 *
 *   route      no template matches the path: 404 not_found; a template
 *              matches but not for this method: 405 method_not_allowed
 *   permission agency_may(caller, route->op), else 403 forbidden
 *   purpose    the X-Purpose header, 3-128 printable ASCII characters, else
 *              400 purpose_required (absent) or invalid_field (malformed)
 *   input      the path parameter percent-decoded, the query checked, a POST
 *              body parsed as one JSON object (400 invalid_json)
 *   handler    api_enrol.c, api_records.c, api_verify.c, api_identify.c,
 *              audit_api.c
 *
 * Every request that reaches a route (refused or not) is described for the
 * audit log (api_handle_audited): agency, operation, purpose, the person it
 * concerned (handlers name them with api_audit_subject(); the {hn} of a
 * person route by default), status and a transaction id drawn here.  Only the
 * auditors' own reads of the log (operation "audit") are not recorded; an
 * agency refused them is.
 *
 * Nothing here keeps state between requests: api_handle() runs on many
 * threads at once.
 */
#include "api_impl.h"

#include "audit.h"
#include "hn.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct route routes[] = {
    {HTTP_VERB_POST, "/v1/enrolments", OP_ENROL, api_enrol, true, ""},
    {HTTP_VERB_GET, "/v1/enrolments/{enrolment_id}", OP_ENROL, api_enrolment_status, false, ""},
    {HTTP_VERB_POST, "/v1/births", OP_BIRTH, api_birth, true, ""},
    {HTTP_VERB_GET, "/v1/persons/{hn}", OP_READ, api_person, false, ""},
    {HTTP_VERB_POST, "/v1/persons/{hn}/corrections", OP_CORRECT, api_correct, true, ""},
    {HTTP_VERB_GET, "/v1/persons/{hn}/history", OP_HISTORY, api_history, false, ""},
    {HTTP_VERB_POST, "/v1/persons/{hn}/death", OP_DEATH, api_death, true, ""},
    {HTTP_VERB_POST, "/v1/persons/{hn}/documents", OP_DOCUMENT, api_issue_document, true, ""},
    {HTTP_VERB_GET, "/v1/persons/{hn}/documents", OP_LOOKUP, api_documents, false, ""},
    {HTTP_VERB_GET, "/v1/documents/{number}", OP_LOOKUP, api_lookup, false, "type"},
    {HTTP_VERB_GET, "/v1/biometrics/due", OP_DUE, api_due, false, "as_of,limit"},
    {HTTP_VERB_GET, "/v1/adjudications", OP_ADJUDICATE, api_adjudications, false, ""},
    {HTTP_VERB_POST, "/v1/adjudications/{enrolment_id}", OP_ADJUDICATE, api_adjudicate, true, ""},
    {HTTP_VERB_POST, "/v1/verify", OP_VERIFY, api_verify, false, ""},
    {HTTP_VERB_POST, "/v1/identify", OP_IDENTIFY, api_identify, true, ""},
    {HTTP_VERB_GET, "/v1/persons/{hn}/accesses", OP_ACCESS_HISTORY, api_accesses, false, "limit"},
    {HTTP_VERB_GET, "/v1/audit/checkpoint", OP_AUDIT, api_audit_checkpoint, false, ""},
    {HTTP_VERB_GET, "/v1/audit/entries", OP_AUDIT, api_audit_entries, false, "start,end"},
    {HTTP_VERB_GET, "/v1/audit/proof/inclusion", OP_AUDIT, api_audit_inclusion, false,
     "index,size"},
    {HTTP_VERB_GET, "/v1/audit/proof/consistency", OP_AUDIT, api_audit_consistency, false,
     "first,second"},
    {HTTP_VERB_GET, "/v1/audit/tile/{tile_path}", OP_AUDIT, api_audit_tile, false, ""},
};
#define NROUTES (sizeof routes / sizeof *routes)

int api_new(struct reg *r, struct metrics *m, struct api **out)
{
    if (!r || !out)
        return -1;
    struct api *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->reg = r;
    a->metrics = m;
    *out = a;
    return 0;
}

void api_free(struct api *a)
{
    free(a);
}

void api_set_audit(struct api *a, struct audit *audit)
{
    a->audit = audit;
}

/* ---- routing ------------------------------------------------------------------- */

/* Matches a path against a template; the {parameter} segment (at most one) is
 * returned raw, still percent-encoded.  A parameter named *_path that ends
 * the template takes the rest of the path, slashes and all (tile paths). */
static bool path_match(const char *tmpl, const char *path, const char **param, size_t *plen)
{
    *param = NULL;
    *plen = 0;
    while (*tmpl) {
        if (*tmpl == '{') {
            const char *close = strchr(tmpl, '}');
            bool rest = close[1] == '\0' && close - tmpl > 6 && memcmp(close - 5, "_path", 5) == 0;
            size_t n = rest ? strlen(path) : strcspn(path, "/");
            if (n == 0)
                return false;
            *param = path;
            *plen = n;
            path += n;
            tmpl = strchr(tmpl, '}') + 1;
            continue;
        }
        if (*tmpl++ != *path++)
            return false;
    }
    return *path == '\0';
}

/* The route for this method and path; *path_known tells a 405 from a 404. */
static const struct route *route_find(const struct http_request *req, bool *path_known,
                                      const char **param, size_t *plen)
{
    *path_known = false;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_match(routes[i].path, req->path, param, plen))
            continue;
        *path_known = true;
        if (routes[i].verb == req->verb)
            return &routes[i];
    }
    return NULL;
}

bool api_is_blocking(const struct http_request *req)
{
    bool known;
    const char *param;
    size_t plen;
    const struct route *rt = route_find(req, &known, &param, &plen);
    if (rt && rt->op == OP_VERIFY && req->body)
        /* matching biometrics takes about a millisecond: not on the network thread */
        return memmem(req->body, req->body_len, "\"biometrics\"", 12) != NULL;
    return rt && rt->blocking;
}

/* Allowed methods of a path, for the 405 message ("GET, POST"). */
static void allowed_methods(const struct http_request *req, char *out, size_t outlen)
{
    bool get = false, post = false;
    const char *param;
    size_t plen;
    for (size_t i = 0; i < NROUTES; i++) {
        if (path_match(routes[i].path, req->path, &param, &plen)) {
            get |= routes[i].verb == HTTP_VERB_GET;
            post |= routes[i].verb == HTTP_VERB_POST;
        }
    }
    snprintf(out, outlen, "%s%s%s", get ? "GET" : "", get && post ? ", " : "", post ? "POST" : "");
}

/* ---- checks before the handler ------------------------------------------------------ */

static int check_permission(struct api_call *c)
{
    if (!c->caller || c->caller->revoked)
        return api_fail(c, AE_FORBIDDEN, NULL, "no agency is known for this client");
    if (!agency_may(c->caller, c->route->op))
        return api_fail(c, AE_FORBIDDEN, NULL, "this agency's roles do not grant the %s operation",
                        operation_name(c->route->op));
    return 0;
}

static int check_purpose(struct api_call *c)
{
    size_t len = 0;
    const char *v = http_header_get(c->req, "X-Purpose", &len);
    while (v && len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (v && len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (!v || len == 0)
        return api_fail(c, AE_PURPOSE_REQUIRED, "X-Purpose",
                        "every request must state its purpose in the X-Purpose header");
    bool printable = len >= API_PURPOSE_MIN && len <= API_PURPOSE_MAX;
    for (size_t i = 0; printable && i < len; i++)
        printable = v[i] >= 0x20 && v[i] <= 0x7e;
    if (!printable)
        return api_fail(c, AE_INVALID_FIELD, "X-Purpose",
                        "must be %d-%d printable ASCII characters", API_PURPOSE_MIN,
                        API_PURPOSE_MAX);
    memcpy(c->purpose, v, len);
    c->purpose[len] = '\0';
    return 0;
}

/* The name between the braces of the route's template, for error fields. */
static void param_name(const struct route *rt, char *out, size_t outlen)
{
    const char *open = strchr(rt->path, '{');
    size_t n = open ? strcspn(open + 1, "}") : 0;
    snprintf(out, outlen, "%.*s", (int)n, open ? open + 1 : "");
}

static int decode_param(struct api_call *c, const char *raw, size_t len)
{
    if (!raw)
        return 0;
    char name[32];
    param_name(c->route, name, sizeof name);
    if (api_url_decode(raw, len, false, c->param, sizeof c->param) != 0)
        return api_fail(c, AE_INVALID_FIELD, name, "must be 1-%d bytes, percent-encoded",
                        API_PARAM_MAX);
    return 0;
}

static const char *json_fault(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        return "is not valid UTF-8";
    case json_error_premature_end_of_input:
        return "ends before the JSON value does";
    case json_error_end_of_input_expected:
        return "has data after the JSON value";
    case json_error_duplicate_key:
        return "repeats a member of an object";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "holds a NUL character";
    case json_error_numeric_overflow:
        return "holds a number out of range";
    case json_error_stack_overflow:
        return "is nested too deeply";
    default:
        return "is not valid JSON";
    }
}

/* Parses a POST body.  jansson's own error text quotes the input, so only the
 * kind of fault and its position are reported. */
static int parse_body(struct api_call *c)
{
    if (c->route->verb != HTTP_VERB_POST)
        return 0;
    if (!c->req->body || c->req->body_len == 0)
        return api_fail(c, AE_INVALID_JSON, NULL, "the request needs a JSON object as its body");
    json_error_t e;
    c->body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!c->body && json_error_code(&e) == json_error_out_of_memory)
        return api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
    if (!c->body)
        return api_fail(c, AE_INVALID_JSON, NULL, "the body %s (line %d, column %d)",
                        json_fault(&e), e.line, e.column);
    if (!json_is_object(c->body))
        return api_fail(c, AE_INVALID_JSON, NULL, "the body must be a JSON object");
    return 0;
}

/* ---- the entry point ------------------------------------------------------------------ */

/* The purpose as stated, for the record of a request refused before its
 * purpose was checked: printable ASCII only, at most API_PURPOSE_MAX. */
static void stated_purpose(const struct http_request *req, char *out, size_t outlen)
{
    size_t len = 0, n = 0;
    const char *v = http_header_get(req, "X-Purpose", &len);
    for (size_t i = 0; v && i < len && n + 1 < outlen && n < API_PURPOSE_MAX; i++)
        if (v[i] >= 0x20 && v[i] <= 0x7e && (n || v[i] != ' '))
            out[n++] = v[i];
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* s, cut to fit out (of `size` bytes): snprintf's "%s" without its cost,
 * for the copies every request makes. */
static void copy_text(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; n + 1 < size && s[n]; n++)
        out[n] = s[n];
    out[n] = '\0';
}

/* What the audit log records of a request: every route's but the auditors'
 * own reads of the log (an agency refused the log is recorded). */
static void audit_out(const struct api_call *c, struct audit_request *out)
{
    const struct route *rt = c->route;
    out->wanted = rt->op != OP_AUDIT || c->resp->status == 403;
    copy_text(out->agency, sizeof out->agency, c->caller ? c->caller->name : "-");
    out->op = operation_name(rt->op);
    if (c->purpose[0])
        copy_text(out->purpose, sizeof out->purpose, c->purpose);
    else
        stated_purpose(c->req, out->purpose, sizeof out->purpose);
    copy_text(out->hn, sizeof out->hn, c->subject);
    copy_text(out->txid, sizeof out->txid, c->txid);
    out->status = c->resp->status;
}

void api_audit_subject(struct api_call *c, const char *hn)
{
    if (hn && hn_is_well_formed(hn))
        copy_text(c->subject, sizeof c->subject, hn);
}

static const struct route *dispatch(struct api *a, const struct agency *caller,
                                    const struct http_request *req, struct http_response *resp,
                                    struct audit_request *out)
{
    bool known;
    const char *raw;
    size_t rawlen;
    const struct route *rt = route_find(req, &known, &raw, &rawlen);
    if (rt && !a) {
        api_reply_error(resp, AE_INTERNAL_ERROR, NULL, "the API is not set up");
        return rt;
    }
    if (!rt) {
        char allowed[16];
        allowed_methods(req, allowed, sizeof allowed);
        char msg[64];
        snprintf(msg, sizeof msg, "this path answers %s only", allowed);
        api_reply_error(resp, known ? AE_METHOD_NOT_ALLOWED : AE_NOT_FOUND, NULL,
                        known ? msg : "no such route");
        return NULL;
    }
    struct api_call c = {.api = a, .caller = caller, .req = req, .route = rt, .resp = resp};
    if (audit_txid(c.txid) != 0) {
        api_reply_error(resp, AE_INTERNAL_ERROR, NULL, "no random transaction id could be drawn");
        return rt;
    }
    if (check_permission(&c) == 0 && check_purpose(&c) == 0 && decode_param(&c, raw, rawlen) == 0 &&
        api_query_check(&c) == 0 && parse_body(&c) == 0)
        rt->fn(&c);
    json_decref(c.body);
    if (!c.subject[0] && strstr(rt->path, "{hn}") && raw && rawlen <= HN_LEN) {
        char hn[HN_LEN + 1]; /* raw: a refused request's parameter is not decoded */
        memcpy(hn, raw, rawlen);
        hn[rawlen] = '\0';
        api_audit_subject(&c, hn);
    }
    if (out)
        audit_out(&c, out);
    return rt;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

void api_handle_audited(struct api *a, const struct agency *caller, const struct http_request *req,
                        struct http_response *resp, struct audit_request *out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    resp->status = 0;
    resp->content_type = NULL;
    resp->body = NULL;
    resp->body_len = 0;
    if (out)
        memset(out, 0, sizeof *out);
    const struct route *rt = dispatch(a, caller, req, resp, out);
    if (resp->status == 0)
        api_reply_error(resp, AE_INTERNAL_ERROR, NULL, "the request was not answered");
    if (out)
        out->status = resp->status;
    if (a && a->metrics)
        metrics_request(a->metrics, rt ? rt->path : "other", resp->status, seconds_since(&t0));
}

void api_handle(struct api *a, const struct agency *caller, const struct http_request *req,
                struct http_response *resp)
{
    api_handle_audited(a, caller, req, resp, NULL);
}
