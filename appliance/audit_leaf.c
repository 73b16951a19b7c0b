/*
 * appliance/audit_leaf.c - one leaf of the audit log: the record of one
 * access or administrative act, as one line of JSON.
 *
 * Writing appends the members into the caller's buffer, on the request's
 * own thread, without printf (a leaf is written for every answer): the
 * members in a fixed order, so that the same record always
 * gives the same bytes (an auditor can re-encode and compare), and every
 * string reduced to printable ASCII with '"' and '\' escaped, so that a leaf
 * is always one line and never needs more than AUDIT_LEAF_MAX bytes.
 *
 * Reading (the resident's access history, huduma-audit) is strict: jansson
 * with duplicate members refused, every member of the right type and shape,
 * no member left over; a leaf that is not exactly such a line is refused.
 *
 * The subject is a keyed hash, so the log shows which accesses concern the
 * same person without holding any Huduma Number: HMAC-SHA-256 under the
 * keyring's index key (HKDF-derived from the master key), in its own domain
 * "audit subject", truncated to 128 bits.
 */
#include "audit.h"

#include "keys/keys.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUBJECT_DOMAIN "audit subject"
#define HN_DIGITS      12

void audit_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void audit_subject_of(const struct keyring *kr, const char *hn, uint8_t out[AUDIT_SUBJECT_LEN])
{
    _Static_assert(AUDIT_SUBJECT_LEN == KEYS_MAC_LEN, "the subject is an index MAC");
    keys_index_mac(kr, SUBJECT_DOMAIN, hn, strlen(hn), out);
}

/* Transaction ids from a per-thread pool of random bytes, refilled 4 KiB at
 * a time: a DRBG call costs about as much for 16 bytes as for 4096. */
#define TXID_POOL 4096
static _Thread_local unsigned char txid_pool[TXID_POOL];
static _Thread_local size_t txid_used = TXID_POOL;

int audit_txid(char out[AUDIT_TXID_LEN + 1])
{
    if (txid_used + AUDIT_TXID_LEN / 2 > TXID_POOL) {
        if (RAND_bytes(txid_pool, TXID_POOL) != 1)
            return -1;
        txid_used = 0;
    }
    audit_hex(txid_pool + txid_used, AUDIT_TXID_LEN / 2, out);
    txid_used += AUDIT_TXID_LEN / 2;
    return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

/* Where a leaf is being written: the next byte, the room left, and whether
 * anything did not fit (then the leaf is refused whole). */
struct leaf_out {
    char *p;
    size_t left;
    bool full;
};

static void put(struct leaf_out *o, const char *s, size_t n)
{
    if (n >= o->left) { /* one byte stays for the final '\0' */
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
    o->left -= n;
}

#define PUT_LITERAL(o, lit) put((o), (lit), sizeof(lit) - 1)

_Static_assert(AUDIT_AGENCY_MAX <= AUDIT_PURPOSE_MAX && AUDIT_OP_MAX <= AUDIT_PURPOSE_MAX &&
                   AUDIT_TARGET_MAX <= AUDIT_PURPOSE_MAX && AUDIT_TXID_LEN <= AUDIT_PURPOSE_MAX,
               "put_text's buffer holds the longest field escaped");

/* s as the inside of a JSON string: printable ASCII, '"' and '\' escaped,
 * anything else '?'; at most max characters of s. */
static void put_text(struct leaf_out *o, const char *s, size_t max)
{
    char buf[2 * AUDIT_PURPOSE_MAX];
    size_t j = 0;
    for (size_t i = 0; s[i] && i < max && j + 2 <= sizeof buf; i++) {
        char ch = s[i];
        if (ch == '"' || ch == '\\')
            buf[j++] = '\\';
        buf[j++] = (ch >= 0x20 && ch <= 0x7e) ? ch : '?';
    }
    put(o, buf, j);
}

/* v in exactly `width` decimal digits, zero-padded (v < 10^width). */
static void put_digits(struct leaf_out *o, unsigned v, int width)
{
    char buf[10];
    for (int i = width - 1; i >= 0; i--, v /= 10)
        buf[i] = (char)('0' + v % 10);
    put(o, buf, (size_t)width);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) for ms >= 0 before the year 10000.  The
 * civil date of a day number is the proleptic Gregorian calendar counted in
 * 400-year eras from 0000-03-01, so that the leap day ends each year; no
 * gmtime_r, which takes the time zone lock for every leaf. */
static void put_time(struct leaf_out *o, int64_t ms)
{
    int64_t secs = ms / 1000, days = secs / 86400, in_day = secs % 86400;
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = z / 146097, doe = z % 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153; /* March = 0 */
    unsigned day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    int64_t year = yoe + era * 400 + (month <= 2);
    if (year > 9999) {
        o->full = true;
        return;
    }
    put_digits(o, (unsigned)year, 4);
    PUT_LITERAL(o, "-");
    put_digits(o, month, 2);
    PUT_LITERAL(o, "-");
    put_digits(o, day, 2);
    PUT_LITERAL(o, "T");
    put_digits(o, (unsigned)(in_day / 3600), 2);
    PUT_LITERAL(o, ":");
    put_digits(o, (unsigned)(in_day / 60 % 60), 2);
    PUT_LITERAL(o, ":");
    put_digits(o, (unsigned)(in_day % 60), 2);
    PUT_LITERAL(o, ".");
    put_digits(o, (unsigned)(ms % 1000), 3);
    PUT_LITERAL(o, "Z");
}

int audit_leaf_format(const struct audit_record *r, char *out, size_t outlen)
{
    if (r->time_ms < 0 || r->result < 0 || r->result > 999 || outlen == 0)
        return -1;
    struct leaf_out o = {out, outlen, false};
    PUT_LITERAL(&o, "{\"v\":1,\"time\":\"");
    put_time(&o, r->time_ms);
    PUT_LITERAL(&o, "\",\"agency\":\"");
    put_text(&o, r->agency, AUDIT_AGENCY_MAX);
    PUT_LITERAL(&o, "\",\"op\":\"");
    put_text(&o, r->op, AUDIT_OP_MAX);
    PUT_LITERAL(&o, "\",\"purpose\":\"");
    put_text(&o, r->purpose, AUDIT_PURPOSE_MAX);
    PUT_LITERAL(&o, "\"");
    if (r->has_subject) {
        char hex[2 * AUDIT_SUBJECT_LEN + 1];
        audit_hex(r->subject, AUDIT_SUBJECT_LEN, hex);
        PUT_LITERAL(&o, ",\"subject\":\"");
        put(&o, hex, 2 * AUDIT_SUBJECT_LEN);
        PUT_LITERAL(&o, "\"");
    }
    if (r->target[0]) {
        PUT_LITERAL(&o, ",\"target\":\"");
        put_text(&o, r->target, AUDIT_TARGET_MAX);
        PUT_LITERAL(&o, "\"");
    }
    PUT_LITERAL(&o, ",\"result\":");
    int result = r->result;
    put_digits(&o, (unsigned)result, result >= 100 ? 3 : result >= 10 ? 2 : 1);
    PUT_LITERAL(&o, ",\"txid\":\"");
    put_text(&o, r->txid, AUDIT_TXID_LEN);
    PUT_LITERAL(&o, "\"}");
    if (o.full)
        return -1;
    *o.p = '\0';
    return (int)(outlen - o.left);
}

/* ---- reading ------------------------------------------------------------------------ */

static int bad(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return -1;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

static bool hex_of(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n || strspn(s, "0123456789abcdef") != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(((s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10) << 4) |
                           (s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10));
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> Unix milliseconds; -1 when not exactly that. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = -1, used = 0;
    if (strlen(s) != 24 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
        used != 23 || s[23] != 'Z' || strspn(s, "0123456789-T:.Z") != 24)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t * 1000 + ms;
}

/* A string member of at most max bytes, printable ASCII; NULL when it is not. */
static const char *text_member(json_t *o, const char *name, size_t max, bool required)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return required ? NULL : "";
    if (!json_is_string(v) || json_string_length(v) > max || !printable(json_string_value(v)))
        return NULL;
    return json_string_value(v);
}

static int parse_object(json_t *o, struct audit_record *r, char *err, size_t errlen)
{
    static const char *const members[] = {"v",       "time",   "agency", "op",   "purpose",
                                          "subject", "target", "result", "txid", NULL};
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v)
    {
        bool known = false;
        for (const char *const *m = members; *m && !known; m++)
            known = strcmp(name, *m) == 0;
        if (!known)
            return bad(err, errlen, "the leaf has a member the format does not define");
    }
    json_t *version = json_object_get(o, "v"), *result = json_object_get(o, "result");
    if (!json_is_integer(version) || json_integer_value(version) != 1)
        return bad(err, errlen, "the leaf's \"v\" is not 1");
    const char *when = text_member(o, "time", 24, true);
    if (!when || (r->time_ms = parse_time(when)) < 0)
        return bad(err, errlen, "the leaf's \"time\" is not YYYY-MM-DDTHH:MM:SS.mmmZ");
    const char *agency = text_member(o, "agency", AUDIT_AGENCY_MAX, true);
    const char *op = text_member(o, "op", AUDIT_OP_MAX, true);
    const char *purpose = text_member(o, "purpose", AUDIT_PURPOSE_MAX, true);
    const char *target = text_member(o, "target", AUDIT_TARGET_MAX, false);
    const char *subject = text_member(o, "subject", 2 * AUDIT_SUBJECT_LEN, false);
    const char *txid = text_member(o, "txid", AUDIT_TXID_LEN, true);
    if (!agency || !op || !purpose || !target || !subject || !txid)
        return bad(err, errlen, "a text member of the leaf is missing, too long or not ASCII");
    if (!*agency || !*op)
        return bad(err, errlen, "the leaf's \"agency\" or \"op\" is empty");
    r->has_subject = *subject != '\0';
    if (r->has_subject && !hex_of(subject, r->subject, AUDIT_SUBJECT_LEN))
        return bad(err, errlen, "the leaf's \"subject\" is not 32 hex digits");
    uint8_t raw[AUDIT_TXID_LEN / 2];
    if (!hex_of(txid, raw, sizeof raw))
        return bad(err, errlen, "the leaf's \"txid\" is not 32 hex digits");
    if (!json_is_integer(result) || json_integer_value(result) < 0 ||
        json_integer_value(result) > 999)
        return bad(err, errlen, "the leaf's \"result\" is not a status 0-999");
    snprintf(r->agency, sizeof r->agency, "%s", agency);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->purpose, sizeof r->purpose, "%s", purpose);
    snprintf(r->target, sizeof r->target, "%s", target);
    snprintf(r->txid, sizeof r->txid, "%s", txid);
    r->result = (int)json_integer_value(result);
    return 0;
}

int audit_leaf_parse(const char *leaf, size_t len, struct audit_record *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (len == 0 || len > AUDIT_LEAF_MAX || memchr(leaf, '\n', len))
        return bad(err, errlen, "a leaf is one line of 1-1024 bytes");
    json_error_t je;
    json_t *o = json_loadb(leaf, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return bad(err, errlen, "the leaf is not one JSON object");
    }
    int rc = parse_object(o, r, err, errlen);
    json_decref(o);
    if (rc != 0)
        memset(r, 0, sizeof *r);
    return rc;
}
