/*
 * appliance/api_reply.c - how the v1 API answers, and how it reads input.
 *
 * Answers: every body is one JSON object; an error is
 *   {"error": {"code": "<stable code>", "message": "...", "field": "..."}}
 * with the HTTP status of its code (the table below is the one place that
 * pairs them; docs/api.md lists them).  Messages are fixed sentences or the
 * register's refusals, which name the field at fault; a value a refusal quotes
 * back is cut out before it leaves (the caller's input may be personal data),
 * and every message and field is reduced to printable ASCII.  Most answers
 * are jansson objects dumped compact; verify's, the hottest, is written as
 * text (api_text_*, strbuf.h) in the same compact form, without building the objects.
 *
 * Input: the members of a body, query parameters (percent-decoded) and the
 * Huduma Number in a path, each refused with the name of what is wrong.
 * Records leave through api_record_view(), which keeps only the members the
 * calling agency may read.
 */
#include "api_impl.h"

#include "hn.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int status;
    const char *code;
} error_table[] = {
    [AE_INVALID_JSON] = {400, "invalid_json"},
    [AE_INVALID_FIELD] = {400, "invalid_field"},
    [AE_PURPOSE_REQUIRED] = {400, "purpose_required"},
    [AE_FORBIDDEN] = {403, "forbidden"},
    [AE_NOT_FOUND] = {404, "not_found"},
    [AE_METHOD_NOT_ALLOWED] = {405, "method_not_allowed"},
    [AE_DOCUMENT_LINKED] = {409, "document_linked"},
    [AE_ALREADY_DECEASED] = {409, "already_deceased"},
    [AE_NOT_ACTIVE] = {409, "not_active"},
    [AE_ALREADY_DECIDED] = {409, "already_decided"},
    [AE_CONFLICT] = {409, "conflict"},
    [AE_STORAGE_ERROR] = {500, "storage_error"},
    [AE_INTERNAL_ERROR] = {500, "internal_error"},
    [AE_BUSY] = {503, "busy"},
};

static const char oom_body[] =
    "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";

/* ---- answers ------------------------------------------------------------------------ */

/* Most answers are a few hundred bytes: they are written into a buffer on
 * the stack first (jansson's own string buffer would grow by doubling, a
 * realloc each time), then copied once into the answer's own allocation. */
#define REPLY_STACK_BYTES 2048

static char *dump_json(const json_t *obj)
{
    char buf[REPLY_STACK_BYTES];
    size_t n = json_dumpb(obj, buf, sizeof buf, JSON_COMPACT);
    if (n == 0 || n >= sizeof buf)
        return n == 0 ? NULL : json_dumps(obj, JSON_COMPACT);
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, buf, n);
        text[n] = '\0';
    }
    OPENSSL_cleanse(buf, n); /* an answer may hold personal data */
    return text;
}

static void send_json(struct http_response *resp, int status, json_t *obj)
{
    char *text = obj ? dump_json(obj) : NULL;
    json_decref(obj);
    if (!text) {
        status = 500;
        text = strdup(oom_body);
    }
    if (!text) {
        resp->status = 500;
        resp->body = NULL;
        resp->body_len = 0;
        return;
    }
    http_response_json(resp, status, text);
}

void api_reply(struct api_call *c, int status, json_t *obj)
{
    send_json(c->resp, status, obj);
}

void api_text_string(struct strbuf *t, const char *token)
{
    if (!token) { /* a name table's answer for a value it lacks */
        strbuf_spoil(t);
        return;
    }
    for (const char *p = token; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            strbuf_spoil(t);
    strbuf_put(t, "\"");
    strbuf_put(t, token);
    strbuf_put(t, "\"");
}

void api_text_bool(struct strbuf *t, bool b)
{
    strbuf_put(t, b ? "true" : "false");
}

void api_reply_text(struct api_call *c, int status, struct strbuf *t)
{
    char *text = t->spoiled ? NULL : malloc(t->len + 1);
    if (text) {
        memcpy(text, t->buf, t->len);
        text[t->len] = '\0';
        http_response_json(c->resp, status, text);
    } else if (t->spoiled) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "the answer could not be written");
    } else {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
    }
    OPENSSL_cleanse(t->buf, t->len); /* an answer may hold personal data */
    t->len = 0;
}

/* Copies s as printable ASCII (anything else becomes '?'). */
static void ascii_copy(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 1 < outlen; s++)
        out[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
    out[n] = '\0';
}

void api_reply_error(struct http_response *resp, enum api_error e, const char *field,
                     const char *msg)
{
    char m[320], f[80];
    ascii_copy(m, sizeof m, msg);
    json_t *err = json_pack("{s:s, s:s}", "code", error_table[e].code, "message", m);
    if (err && field && field[0]) {
        ascii_copy(f, sizeof f, field);
        json_object_set_new(err, "field", json_string(f));
    }
    send_json(resp, error_table[e].status, err ? json_pack("{s:o}", "error", err) : NULL);
}

int api_fail(struct api_call *c, enum api_error e, const char *field, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply_error(c->resp, e, field, msg);
    return -1;
}

static bool is_document_field(const char *field)
{
    return strcmp(field, "number") == 0 || strstr(field, "documents[") != NULL;
}

/* "<value> is not a date" (the record codec's) becomes "is not a date". */
static bool strip_dated_value(char *out, size_t outlen, const char *msg)
{
    static const char *const suffixes[] = {" is not a date", " is not a time"};
    size_t len = strlen(msg);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(msg + len - n, suffixes[i]) == 0) {
            snprintf(out, outlen, "%s", suffixes[i] + 1);
            return true;
        }
    }
    return false;
}

/* Copies msg without its 'quoted' values; a quoted single character ('-') stays. */
static void drop_quoted(char *out, size_t outlen, const char *msg)
{
    size_t o = 0;
    for (const char *m = msg; *m; m++) {
        const char *close = *m == '\'' ? strchr(m + 1, '\'') : NULL;
        size_t span = close ? (size_t)(close - m) + 1 : 1;
        if (span > 3) {
            m = close;
            continue;
        }
        if (o + span >= outlen)
            break;
        memcpy(out + o, m, span);
        o += span;
        m += span - 1;
    }
    out[o] = '\0';
}

/* Drops the spaces a removed value leaves: doubled, before ':', at either end. */
static void tidy_spaces(char *s)
{
    char *p;
    while ((p = strstr(s, "  ")) || (p = strstr(s, " :")))
        memmove(p, p + 1, strlen(p));
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    size_t lead = strspn(s, " ");
    memmove(s, s + lead, n - lead + 1);
}

/* A register message without the values it quotes back. */
static void scrub_message(char *out, size_t outlen, const char *msg)
{
    if (strip_dated_value(out, outlen, msg))
        return;
    drop_quoted(out, outlen, msg);
    tidy_spaces(out);
}

/* A field path as the register names it, or NULL when it holds more than member
 * names and indexes (an unknown member's name is the client's text). */
static const char *safe_field(const char *field)
{
    size_t n = strlen(field);
    return n && strspn(field, "abcdefghijklmnopqrstuvwxyz0123456789_.[]") == n ? field : NULL;
}

int api_reg_fail(struct api_call *c, const struct reg_result *res)
{
    char msg[sizeof res->msg];
    scrub_message(msg, sizeof msg, res->msg);
    switch (res->code) {
    case REG_EINVALID:
        return api_fail(c, AE_INVALID_FIELD, safe_field(res->field), "%s", msg);
    case REG_ECONFLICT:
        return api_fail(c, is_document_field(res->field) ? AE_DOCUMENT_LINKED : AE_CONFLICT,
                        safe_field(res->field), "%s", msg);
    case REG_ENOTFOUND:
        return api_fail(c, AE_NOT_FOUND, res->field, "not found");
    case REG_EBUSY:
        return api_fail(c, AE_BUSY, NULL, "the register is busy with conflicting changes; retry");
    default:
        return api_fail(c, AE_STORAGE_ERROR, NULL, "the register could not complete the request");
    }
}

/* ---- body members ------------------------------------------------------------------- */

bool api_safe_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n > 0 && n <= 32;
}

static bool listed(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

int api_body_only(struct api_call *c, const char *const *allowed)
{
    const char *name;
    json_t *v;
    json_object_foreach(c->body, name, v)
    {
        if (!listed(allowed, name))
            return api_fail(c, AE_INVALID_FIELD, api_safe_name(name) ? name : NULL,
                            "unknown member");
    }
    return 0;
}

int api_body_string(struct api_call *c, const char *name, bool required, const char **out)
{
    json_t *v = json_object_get(c->body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? api_fail(c, AE_INVALID_FIELD, name, "is required") : 0;
    if (!json_is_string(v))
        return api_fail(c, AE_INVALID_FIELD, name, "expected a string");
    *out = json_string_value(v);
    return 0;
}

/* ---- the query and the path ---------------------------------------------------------- */

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

int api_url_decode(const char *s, size_t n, bool plus, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        if (ch == '\0' || o + 1 >= outlen)
            return -1;
        out[o++] = ch;
    }
    if (outlen == 0 || o == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* Calls fn for each name=value pair of the query (raw, not decoded). */
typedef int (*pair_fn)(struct api_call *c, const char *name, size_t nlen, const char *value,
                       size_t vlen, void *ctx);

static int each_pair(struct api_call *c, pair_fn fn, void *ctx)
{
    const char *q = c->req->query;
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t nlen = eq ? (size_t)(eq - q) : len;
        int rc = len ? fn(c, q, nlen, eq ? eq + 1 : q + len, eq ? len - nlen - 1 : 0, ctx) : 0;
        if (rc)
            return rc;
        q += len + (q[len] == '&');
    }
    return 0;
}

struct query_find {
    const char *name;
    char *out;
    size_t outlen;
    int found;
};

static int find_pair(struct api_call *c, const char *name, size_t nlen, const char *value,
                     size_t vlen, void *ctx)
{
    struct query_find *f = ctx;
    if (nlen != strlen(f->name) || memcmp(name, f->name, nlen) != 0)
        return 0;
    if (api_url_decode(value, vlen, true, f->out, f->outlen) != 0)
        return api_fail(c, AE_INVALID_FIELD, f->name, "must be 1-%zu bytes, percent-encoded",
                        f->outlen - 1);
    f->found = 1;
    return 1;
}

int api_query(struct api_call *c, const char *name, char *out, size_t outlen)
{
    struct query_find f = {name, out, outlen, 0};
    return each_pair(c, find_pair, &f) < 0 ? -1 : f.found;
}

static int accept_pair(struct api_call *c, const char *name, size_t nlen, const char *value,
                       size_t vlen, void *ctx)
{
    (void)value, (void)vlen, (void)ctx;
    const char *list = c->route->query;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == nlen && memcmp(p, name, n) == 0)
            return 0;
        p += n + (p[n] == ',');
    }
    char shown[40];
    bool safe = nlen < sizeof shown && api_url_decode(name, nlen, true, shown, sizeof shown) == 0 &&
                api_safe_name(shown);
    return api_fail(c, AE_INVALID_FIELD, safe ? shown : NULL, "unknown query parameter");
}

int api_query_check(struct api_call *c)
{
    return each_pair(c, accept_pair, NULL) < 0 ? -1 : 0;
}

int api_param_hn(struct api_call *c)
{
    if (hn_is_well_formed(c->param))
        return 0;
    return api_fail(c, AE_INVALID_FIELD, "hn",
                    "expected a Huduma Number (12 digits with a valid check digit)");
}

/* ---- what leaves ------------------------------------------------------------------------ */

json_t *api_record_view(const struct agency *caller, const struct person *p)
{
    json_t *full = person_to_json(p), *view = json_object();
    if (!full || !view) {
        json_decref(full);
        json_decref(view);
        return NULL;
    }
    const char *name;
    json_t *v;
    json_object_foreach(full, name, v)
    {
        bool always = strcmp(name, "huduma_number") == 0 || strcmp(name, "status") == 0;
        if (always || agency_may_read_attr(caller, name))
            json_object_set(view, name, v);
    }
    json_decref(full);
    return view;
}

json_t *api_answer_json(const struct enrol_answer *a, bool with_candidates)
{
    return enrol_answer_json(a, with_candidates);
}
