/*
 * appliance/audit_api.c - the audit log's routes (docs/api.md, docs/audit.md).
 *
 * For auditors (operation "audit"; these reads are not themselves recorded):
 *   GET /v1/audit/checkpoint                 the latest signed checkpoint, text
 *   GET /v1/audit/entries?start=&end=        leaves [start, end), one per line
 *   GET /v1/audit/proof/inclusion?index=&size=
 *   GET /v1/audit/proof/consistency?first=&second=
 *   GET /v1/audit/tile/<L>/<N>[.p/<W>]       c2sp.org/tlog-tiles hash tiles
 *   GET /v1/audit/tile/entries/<N>[.p/<W>]   ... and entry bundles
 * so /v1/audit is a tlog-tiles prefix: a mirror fetches checkpoint and tiles
 * and needs nothing else.  Proof hashes are base64, as in checkpoints.
 *
 * For registrars (operation "access_history", recorded like any access):
 *   GET /v1/persons/{hn}/accesses?limit=     who accessed this person, when,
 *                                            for what, with what result
 * found through the log's subject index (the keyed hash of the number), the
 * most recent `limit` (1000 by default), oldest first.
 *
 * Entries are served as the database holds them, in index order: a leaf
 * that is missing is missing from the answer too, and the auditor's
 * recomputation, not the server, says so.
 */
#include "api_impl.h"

#include "audit.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRIES_MAX      1000
#define ACCESSES_DEFAULT 1000
#define ACCESSES_MAX     10000
#define CONTENT_TEXT     "text/plain; charset=utf-8"
#define CONTENT_LINES    "application/x-ndjson"
#define CONTENT_BINARY   "application/octet-stream"

static struct audit *audit_or_fail(struct api_call *c)
{
    if (!c->api->audit)
        api_fail(c, AE_BUSY, NULL, "the audit log is not open");
    return c->api->audit;
}

static void reply_bytes(struct api_call *c, const char *type, char *body, size_t len)
{
    if (!body) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = type;
    c->resp->body = body;
    c->resp->body_len = len;
}

static int st_fail(struct api_call *c, int rc, const struct st_err *err)
{
    if (rc == ST_NOT_FOUND)
        return api_fail(c, AE_NOT_FOUND, NULL, "%s", err->msg);
    if (rc == ST_INVALID)
        return api_fail(c, AE_INVALID_FIELD, NULL, "%s", err->msg);
    return api_fail(c, AE_STORAGE_ERROR, NULL, "the audit log could not be read");
}

/* A query parameter as an unsigned decimal: 1 found, 0 absent, -1 (error sent). */
static int query_u64(struct api_call *c, const char *name, uint64_t *out)
{
    char text[24], *end;
    int found = api_query(c, name, text, sizeof text);
    if (found <= 0)
        return found;
    if (!text[0] || strspn(text, "0123456789") != strlen(text) || strlen(text) > 19)
        return api_fail(c, AE_INVALID_FIELD, name, "expected a whole number");
    *out = strtoull(text, &end, 10);
    return 1;
}

static uint64_t tree_size(struct audit *a)
{
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
    audit_log_head(audit_log_of(a, true), &size, root);
    return size;
}

/* ---- checkpoint ------------------------------------------------------------------------- */

void api_audit_checkpoint(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    if (!a)
        return;
    size_t len = 0;
    char *text = audit_latest_checkpoint(a, &len);
    if (!text)
        api_fail(c, AE_BUSY, NULL, "no checkpoint has been signed yet");
    else
        reply_bytes(c, CONTENT_TEXT, text, len);
}

/* ---- entries ----------------------------------------------------------------------------- */

struct lines {
    char *buf;
    size_t len, cap;
    bool oom;
};

static int add_line(void *ctx, uint64_t index, const char *data, size_t len)
{
    (void)index;
    struct lines *l = ctx;
    if (l->len + len + 1 > l->cap) {
        size_t cap = (l->cap + len + 1) * 2;
        char *grown = realloc(l->buf, cap);
        if (!grown) {
            l->oom = true;
            return 1;
        }
        l->buf = grown;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, len);
    l->len += len;
    l->buf[l->len++] = '\n';
    return 0;
}

void api_audit_entries(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    uint64_t start = 0, end = 0;
    if (!a)
        return;
    int has_start = query_u64(c, "start", &start), has_end = query_u64(c, "end", &end);
    if (has_start < 0 || has_end < 0)
        return;
    uint64_t size = tree_size(a);
    if (!has_end)
        end = start + ENTRIES_MAX < start ? UINT64_MAX : start + ENTRIES_MAX;
    if (end < start || end - start > ENTRIES_MAX) {
        api_fail(c, AE_INVALID_FIELD, "end", "expected start <= end <= start + %d", ENTRIES_MAX);
        return;
    }
    if (end > size)
        end = size;
    struct lines l = {malloc(4096), 0, 4096, false};
    struct st_err err;
    int rc = l.buf && start < end
                 ? audit_log_scan(audit_log_of(a, true), start, end, add_line, &l, &err)
                 : ST_OK;
    if (rc != ST_OK || l.oom || !l.buf) {
        free(l.buf);
        if (rc != ST_OK)
            st_fail(c, rc, &err);
        else
            api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    reply_bytes(c, CONTENT_LINES, l.buf, l.len);
}

/* ---- proofs ------------------------------------------------------------------------------- */

static json_t *hashes_json(uint8_t path[][AUDIT_HASH_LEN], size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        char b64[64];
        EVP_EncodeBlock((unsigned char *)b64, path[i], AUDIT_HASH_LEN);
        if (json_array_append_new(list, json_string(b64)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static int two_numbers(struct api_call *c, const char *a, const char *b, uint64_t *x, uint64_t *y)
{
    int fa = query_u64(c, a, x);
    if (fa < 0)
        return -1;
    int fb = query_u64(c, b, y);
    if (fb < 0)
        return -1;
    if (!fa || !fb)
        return api_fail(c, AE_INVALID_FIELD, fa ? b : a, "is required");
    return 0;
}

void api_audit_inclusion(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    uint64_t index, size;
    if (!a || two_numbers(c, "index", "size", &index, &size) != 0)
        return;
    uint8_t path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t n;
    struct st_err err;
    int rc = audit_log_inclusion(audit_log_of(a, true), index, size, path, &n, &err);
    if (rc != ST_OK) {
        st_fail(c, rc, &err);
        return;
    }
    api_reply(c, 200,
              json_pack("{s:I, s:I, s:o*}", "index", (json_int_t)index, "tree_size",
                        (json_int_t)size, "hashes", hashes_json(path, n)));
}

void api_audit_consistency(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    uint64_t first, second;
    if (!a || two_numbers(c, "first", "second", &first, &second) != 0)
        return;
    uint8_t path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t n;
    struct st_err err;
    int rc = audit_log_consistency(audit_log_of(a, true), first, second, path, &n, &err);
    if (rc != ST_OK) {
        st_fail(c, rc, &err);
        return;
    }
    api_reply(c, 200,
              json_pack("{s:I, s:I, s:o*}", "first", (json_int_t)first, "second",
                        (json_int_t)second, "hashes", hashes_json(path, n)));
}

/* ---- tiles --------------------------------------------------------------------------------- */

/* One 3-digit group, with or without its 'x'. */
static bool group(const char *s, size_t n, bool x, uint64_t *v)
{
    if (n != (x ? 4u : 3u) || (x && s[0] != 'x'))
        return false;
    s += x;
    if (strspn(s, "0123456789") < 3)
        return false;
    *v = (uint64_t)(s[0] - '0') * 100 + (uint64_t)(s[1] - '0') * 10 + (uint64_t)(s[2] - '0');
    return true;
}

static bool width_of(const char *s, unsigned *w)
{
    size_t n = strlen(s);
    if (n < 1 || n > 3 || strspn(s, "0123456789") != n || s[0] == '0')
        return false;
    *w = (unsigned)atoi(s);
    return *w >= 1 && *w <= 255;
}

int audit_tile_path(const char *path, bool *entries, unsigned *level, uint64_t *index,
                    unsigned *width)
{
    const char *slash = strchr(path, '/');
    if (!slash)
        return -1;
    size_t n = (size_t)(slash - path);
    *entries = n == 7 && memcmp(path, "entries", 7) == 0;
    *level = 0;
    if (!*entries) {
        if (n < 1 || n > 2 || strspn(path, "0123456789") < n || (n == 2 && path[0] == '0'))
            return -1;
        *level = (unsigned)atoi(path);
        if (*level > 63)
            return -1;
    }
    uint64_t v = 0, g;
    const char *seg = slash + 1;
    for (int groups = 0;; groups++) {
        const char *next = strchr(seg, '/');
        size_t len = next ? (size_t)(next - seg) : strlen(seg);
        if (groups == 7 || v > UINT64_MAX / 1000)
            return -1;
        if (seg[0] == 'x') {
            if (!next || !group(seg, len, true, &g) || (groups == 0 && g == 0))
                return -1;
            v = v * 1000 + g;
            seg = next + 1;
            continue;
        }
        bool partial = len == 5 && memcmp(seg + 3, ".p", 2) == 0;
        if (!group(seg, partial ? 3 : len, false, &g) || v * 1000 > UINT64_MAX - g)
            return -1;
        *index = v * 1000 + g;
        *width = 256;
        if (partial)
            return next && width_of(next + 1, width) ? 0 : -1;
        return next ? -1 : 0;
    }
}

/* A bundle entry: big-endian uint16 length, then the leaf. */
static int add_entry(void *ctx, uint64_t index, const char *data, size_t len)
{
    (void)index;
    struct lines *l = ctx;
    if (len > 0xffff || l->len + len + 2 > l->cap) {
        l->oom = true; /* the buffer was sized for leaves of AUDIT_LEAF_MAX bytes */
        return 1;
    }
    l->buf[l->len++] = (char)(len >> 8);
    l->buf[l->len++] = (char)(len & 0xff);
    memcpy(l->buf + l->len, data, len);
    l->len += len;
    return 0;
}

static void entries_bundle(struct api_call *c, struct audit *a, uint64_t index, unsigned width)
{
    uint64_t first = index * AUDIT_TILE_WIDTH;
    if (index > UINT64_MAX / AUDIT_TILE_WIDTH - 1 || first + width > tree_size(a)) {
        api_fail(c, AE_NOT_FOUND, NULL, "the tree does not reach the end of that bundle");
        return;
    }
    size_t cap = (size_t)width * (AUDIT_LEAF_MAX + 2);
    struct lines l = {malloc(cap), 0, cap, false};
    struct st_err err;
    int rc = l.buf
                 ? audit_log_scan(audit_log_of(a, true), first, first + width, add_entry, &l, &err)
                 : ST_NOMEM;
    if (rc == ST_OK && !l.oom) {
        reply_bytes(c, CONTENT_BINARY, l.buf, l.len);
        return;
    }
    free(l.buf);
    if (rc == ST_OK || rc == ST_NOMEM)
        api_fail(c, AE_STORAGE_ERROR, NULL, "an entry of the bundle does not fit its format");
    else
        st_fail(c, rc, &err);
}

void api_audit_tile(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    bool entries;
    unsigned level, width;
    uint64_t index;
    if (!a)
        return;
    if (audit_tile_path(c->param, &entries, &level, &index, &width) != 0) {
        api_fail(c, AE_INVALID_FIELD, "tile_path",
                 "expected <L>/<N>[.p/<W>] or entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)");
        return;
    }
    if (entries) {
        entries_bundle(c, a, index, width);
        return;
    }
    uint8_t *tile = malloc((size_t)width * AUDIT_HASH_LEN);
    struct st_err err;
    int rc =
        tile ? audit_log_tile(audit_log_of(a, true), level, index, width, tile, &err) : ST_NOMEM;
    if (rc == ST_OK) {
        reply_bytes(c, CONTENT_BINARY, (char *)tile, (size_t)width * AUDIT_HASH_LEN);
        return;
    }
    free(tile);
    if (rc == ST_NOMEM)
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
    else
        st_fail(c, rc, &err);
}

/* ---- a person's access history ------------------------------------------------------------- */

struct recent {
    uint64_t *idx; /* a ring of the last `limit` indices */
    size_t limit, seen;
};

static int keep_recent(void *ctx, uint64_t index)
{
    struct recent *r = ctx;
    r->idx[r->seen++ % r->limit] = index;
    return 0;
}

static json_t *access_json(struct audit *a, uint64_t index)
{
    char *leaf;
    size_t len;
    struct st_err err;
    struct audit_record rec;
    if (audit_log_leaf(audit_log_of(a, true), index, &leaf, &len, &err) != ST_OK)
        return json_pack("{s:I, s:s}", "index", (json_int_t)index, "error", "leaf unreadable");
    int rc = audit_leaf_parse(leaf, len, &rec, NULL, 0);
    free(leaf);
    if (rc != 0)
        return json_pack("{s:I, s:s}", "index", (json_int_t)index, "error", "leaf malformed");
    char when[32];
    time_t secs = (time_t)(rec.time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s}", "index", (json_int_t)index, "time",
                     when, "agency", rec.agency, "operation", rec.op, "purpose", rec.purpose,
                     "result", rec.result, "transaction_id", rec.txid);
}

static int read_limit(struct api_call *c, size_t *limit)
{
    uint64_t v = ACCESSES_DEFAULT;
    int found = query_u64(c, "limit", &v);
    if (found < 0)
        return -1;
    if (found && (v < 1 || v > ACCESSES_MAX))
        return api_fail(c, AE_INVALID_FIELD, "limit", "expected an integer from 1 to %d",
                        ACCESSES_MAX);
    *limit = (size_t)v;
    return 0;
}

void api_accesses(struct api_call *c)
{
    struct audit *a = audit_or_fail(c);
    size_t limit = ACCESSES_DEFAULT;
    if (!a || api_param_hn(c) != 0 || read_limit(c, &limit) != 0)
        return;
    uint8_t subject[AUDIT_SUBJECT_LEN];
    audit_subject_of(audit_keyring(a), c->param, subject);
    struct recent r = {calloc(limit, sizeof *r.idx), limit, 0};
    struct st_err err;
    int rc = r.idx ? audit_log_by_subject(audit_log_of(a, false), subject, keep_recent, &r, &err)
                   : ST_NOMEM;
    json_t *list = rc == ST_OK ? json_array() : NULL;
    size_t n = r.seen < limit ? r.seen : limit;
    for (size_t i = 0; list && i < n; i++) {
        size_t at = r.seen <= limit ? i : (r.seen + i) % limit;
        json_array_append_new(list, access_json(a, r.idx[at]));
    }
    free(r.idx);
    if (rc != ST_OK && rc != ST_NOMEM) {
        st_fail(c, rc, &err);
        return;
    }
    if (!list) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    api_reply(c, 200,
              json_pack("{s:s, s:o, s:b}", "huduma_number", c->param, "accesses", list, "truncated",
                        r.seen > limit));
}
