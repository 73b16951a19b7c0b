/*
 * storage/record_cbor.c - the person record's form at rest: CBOR (RFC 8949).
 *
 * A verification reads one record and compares a few members; decoding the
 * record's JSON (a tree of allocated nodes) cost more than the RocksDB read
 * and the AES-GCM opening together.  At rest the record is therefore a CBOR
 * map, written and read straight from and into struct person by walking the
 * same tables as the JSON codec (record_table.h), with no allocation on the
 * read path: libcbor's streaming decoder hands over one item at a time, and
 * a text string is a pointer into the buffer.
 *
 * The form: a definite-length map whose first member is "v": 2 (the record
 * format; 1 was JSON, still read by seal.c), then every non-empty member under
 * its docs/record.md name, nested objects as maps and "documents" as an array
 * of maps.  Strings are text strings, enums their names, dates the unsigned
 * integer YYYYMMDD (YYYY0000 for a year-only date of birth), times signed
 * integers of unix seconds, the version an unsigned integer.
 *
 * Decoding trusts nothing but the AES-GCM tag that let the bytes in: every
 * length is checked against its destination, every string is UTF-8 text,
 * every date, time and enum name is checked, nesting is bounded, and members it does not know are
 * skipped (a later release may add some), so a corrupt or truncated value is refused, never read
 * past.
 */
#include "storage/record_table.h"

#include <cbor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_KEY   "v"
#define ENUM_MAX_LEN 32
#define SKIP_DEPTH   8

/* ---- encoding ------------------------------------------------------------------ */

struct enc {
    uint8_t *buf;
    size_t size, used;
    bool full;
};

/* Appends what a libcbor encoder wrote; it returns 0 when out of room. */
static void put(struct enc *e, size_t n)
{
    if (n == 0) {
        e->full = true;
    }
    e->used += n;
}

static uint8_t *at(struct enc *e)
{
    return e->buf + e->used;
}

static size_t room(const struct enc *e)
{
    return e->full ? 0 : e->size - e->used;
}

static void put_text(struct enc *e, const char *s, size_t len)
{
    put(e, cbor_encode_string_start(len, at(e), room(e)));
    if (room(e) < len) {
        e->full = true;
        return;
    }
    memcpy(at(e), s, len);
    e->used += len;
}

static void put_uint(struct enc *e, uint64_t u)
{
    put(e, cbor_encode_uint(u, at(e), room(e)));
}

static void put_int(struct enc *e, int64_t v)
{
    if (v >= 0) {
        put_uint(e, (uint64_t)v);
    } else {
        put(e, cbor_encode_negint((uint64_t)(-1 - v), at(e), room(e)));
    }
}

static bool table_present(const struct table *t, const char *base);

static int enum_at(const struct field *f, const char *base)
{
    int v;
    memcpy(&v, base + f->off, sizeof v);
    return v;
}

/* Whether a member is written at all: the JSON codec's "leave out the empty". */
static bool present(const struct field *f, const char *base)
{
    switch (f->kind) {
    case K_STRING:
        return base[f->off] != '\0';
    case K_ENUM:
        return f->names(enum_at(f, base)) != NULL;
    case K_DATE:
    case K_DOB: {
        struct date dt;
        memcpy(&dt, base + f->off, sizeof dt);
        return date_is_set(&dt);
    }
    case K_TIME: {
        int64_t t;
        memcpy(&t, base + f->off, sizeof t);
        return t != 0;
    }
    case K_U32: {
        uint32_t u;
        memcpy(&u, base + f->off, sizeof u);
        return u != 0;
    }
    case K_OBJECT:
        return table_present(f->sub, base);
    case K_DOCUMENTS:
        return ((const struct person *)(const void *)base)->ndocs > 0;
    case K_REF:
    case K_BIOMETRICS:
        return false; /* input only */
    }
    return false;
}

static bool table_present(const struct table *t, const char *base)
{
    for (size_t i = 0; i < t->n; i++) {
        if (present(&t->fields[i], base)) {
            return true;
        }
    }
    return false;
}

static size_t count_present(const struct table *t, const char *base)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        n += present(&t->fields[i], base);
    }
    return n;
}

static void put_table(struct enc *e, const struct table *t, const char *base, bool versioned);

static void put_date(struct enc *e, const struct field *f, const char *base)
{
    struct date dt;
    memcpy(&dt, base + f->off, sizeof dt);
    bool year_only = false;
    if (f->kind == K_DOB) {
        memcpy(&year_only, base + f->flag, sizeof year_only);
    }
    uint64_t ymd = (uint64_t)(uint16_t)dt.year * 10000u;
    if (!year_only) {
        ymd += (uint64_t)dt.month * 100u + dt.day;
    }
    put_uint(e, ymd);
}

static void put_value(struct enc *e, const struct field *f, const char *base)
{
    switch (f->kind) {
    case K_STRING:
        put_text(e, base + f->off, strnlen(base + f->off, f->size));
        return;
    case K_ENUM: {
        const char *name = f->names(enum_at(f, base));
        put_text(e, name, strlen(name));
        return;
    }
    case K_DATE:
    case K_DOB:
        put_date(e, f, base);
        return;
    case K_TIME: {
        int64_t t;
        memcpy(&t, base + f->off, sizeof t);
        put_int(e, t);
        return;
    }
    case K_U32: {
        uint32_t u;
        memcpy(&u, base + f->off, sizeof u);
        put_uint(e, u);
        return;
    }
    case K_OBJECT:
        put_table(e, f->sub, base, false);
        return;
    case K_DOCUMENTS: {
        const struct person *p = (const struct person *)(const void *)base;
        put(e, cbor_encode_array_start(p->ndocs, at(e), room(e)));
        for (size_t i = 0; i < p->ndocs; i++) {
            put_table(e, &record_document_table, (const char *)&p->docs[i], false);
        }
        return;
    }
    case K_REF:
    case K_BIOMETRICS:
        return;
    }
}

static void put_table(struct enc *e, const struct table *t, const char *base, bool versioned)
{
    put(e, cbor_encode_map_start(count_present(t, base) + versioned, at(e), room(e)));
    if (versioned) {
        put_text(e, FORMAT_KEY, strlen(FORMAT_KEY));
        put_uint(e, RECORD_FORMAT_CBOR);
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        if (present(f, base)) {
            put_text(e, f->name, strlen(f->name));
            put_value(e, f, base);
        }
    }
}

int person_to_cbor(const struct person *p, uint8_t **out, size_t *out_len)
{
    if (p == NULL || p->ndocs > PERSON_MAX_DOCS) {
        return ST_INVALID;
    }
    /* Every string fits its array, every key and header is short: this bounds it. */
    struct enc e = {.size = 2 * sizeof *p + 4096};
    e.buf = malloc(e.size);
    if (e.buf == NULL) {
        return ST_NOMEM;
    }
    put_table(&e, &record_person_table, (const char *)p, true);
    if (e.full) {
        free(e.buf);
        return ST_INVALID;
    }
    *out = e.buf;
    *out_len = e.used;
    return ST_OK;
}

/* ---- decoding ------------------------------------------------------------------ */

enum item_type { IT_UINT, IT_NEGINT, IT_TEXT, IT_MAP, IT_ARRAY, IT_OTHER };

struct item {
    enum item_type type;
    uint64_t u;    /* IT_UINT, IT_NEGINT (the value is -1 - u), IT_MAP and IT_ARRAY (count) */
    const char *s; /* IT_TEXT: into the buffer, not NUL-terminated */
    size_t len;
};

static void on_u8(void *c, uint8_t v)
{
    *(struct item *)c = (struct item){.type = IT_UINT, .u = v};
}
static void on_u16(void *c, uint16_t v)
{
    *(struct item *)c = (struct item){.type = IT_UINT, .u = v};
}
static void on_u32(void *c, uint32_t v)
{
    *(struct item *)c = (struct item){.type = IT_UINT, .u = v};
}
static void on_u64(void *c, uint64_t v)
{
    *(struct item *)c = (struct item){.type = IT_UINT, .u = v};
}
static void on_n8(void *c, uint8_t v)
{
    *(struct item *)c = (struct item){.type = IT_NEGINT, .u = v};
}
static void on_n16(void *c, uint16_t v)
{
    *(struct item *)c = (struct item){.type = IT_NEGINT, .u = v};
}
static void on_n32(void *c, uint32_t v)
{
    *(struct item *)c = (struct item){.type = IT_NEGINT, .u = v};
}
static void on_n64(void *c, uint64_t v)
{
    *(struct item *)c = (struct item){.type = IT_NEGINT, .u = v};
}
static void on_text(void *c, cbor_data s, size_t len)
{
    *(struct item *)c = (struct item){.type = IT_TEXT, .s = (const char *)s, .len = len};
}
static void on_map(void *c, size_t n)
{
    *(struct item *)c = (struct item){.type = IT_MAP, .u = n};
}
static void on_array(void *c, size_t n)
{
    *(struct item *)c = (struct item){.type = IT_ARRAY, .u = n};
}

/* Everything the record never holds (byte strings, indefinite lengths, tags,
 * floats, simple values) arrives as IT_OTHER: the callbacks that follow leave
 * the item as next() preset it. */
static const struct cbor_callbacks item_callbacks = {
    .uint8 = on_u8,
    .uint16 = on_u16,
    .uint32 = on_u32,
    .uint64 = on_u64,
    .negint8 = on_n8,
    .negint16 = on_n16,
    .negint32 = on_n32,
    .negint64 = on_n64,
    .string = on_text,
    .map_start = on_map,
    .array_start = on_array,
    .byte_string = cbor_null_byte_string_callback,
    .byte_string_start = cbor_null_byte_string_start_callback,
    .string_start = cbor_null_string_start_callback,
    .indef_array_start = cbor_null_indef_array_start_callback,
    .indef_map_start = cbor_null_indef_map_start_callback,
    .tag = cbor_null_tag_callback,
    .float2 = cbor_null_float2_callback,
    .float4 = cbor_null_float4_callback,
    .float8 = cbor_null_float8_callback,
    .undefined = cbor_null_undefined_callback,
    .null = cbor_null_null_callback,
    .boolean = cbor_null_boolean_callback,
    .indef_break = cbor_null_indef_break_callback,
};

struct rd {
    const uint8_t *p;
    size_t left;
    struct st_err *err;
    const char *where; /* the member being read, for the error */
};

static int corrupt(struct rd *r, const char *what)
{
    if (r->err != NULL) {
        snprintf(r->err->field, sizeof r->err->field, "%s", r->where ? r->where : "");
        snprintf(r->err->msg, sizeof r->err->msg, "stored record: %s", what);
    }
    return ST_CORRUPT;
}

static int next(struct rd *r, struct item *it)
{
    *it = (struct item){.type = IT_OTHER};
    if (r->left == 0) {
        return corrupt(r, "truncated");
    }
    struct cbor_decoder_result res = cbor_stream_decode(r->p, r->left, &item_callbacks, it);
    if (res.status != CBOR_DECODER_FINISHED || res.read == 0 || res.read > r->left) {
        return corrupt(r, res.status == CBOR_DECODER_NEDATA ? "truncated" : "not CBOR");
    }
    r->p += res.read;
    r->left -= res.read;
    return ST_OK;
}

static int expect(struct rd *r, struct item *it, enum item_type type)
{
    int rc = next(r, it);
    if (rc == ST_OK && it->type != type) {
        rc = corrupt(r, "a member of the wrong type");
    }
    return rc;
}

/* Skips one item and everything in it (a member this release does not know). */
static int skip(struct rd *r, int depth)
{
    struct item it;
    int rc = next(r, &it);
    if (rc != ST_OK) {
        return rc;
    }
    if (it.type == IT_OTHER) {
        return corrupt(r, "an item the record never holds");
    }
    if (it.type != IT_MAP && it.type != IT_ARRAY) {
        return ST_OK;
    }
    if (depth >= SKIP_DEPTH) {
        return corrupt(r, "nested too deeply");
    }
    uint64_t n = it.type == IT_MAP ? 2 * it.u : it.u;
    if (n > r->left) { /* each item is at least one byte */
        return corrupt(r, "truncated");
    }
    for (uint64_t i = 0; i < n && rc == ST_OK; i++) {
        rc = skip(r, depth + 1);
    }
    return rc;
}

static int get_table(struct rd *r, const struct table *t, char *base);

static int get_string(struct rd *r, const struct field *f, char *base)
{
    struct item it;
    int rc = expect(r, &it, IT_TEXT);
    if (rc != ST_OK) {
        return rc;
    }
    if (it.len >= f->size) {
        return corrupt(r, "a string too long for its member");
    }
    if (record_text_problem(it.s, it.len) != NULL) {
        return corrupt(r, "a string that is not UTF-8 text");
    }
    memcpy(base + f->off, it.s, it.len);
    base[f->off + it.len] = '\0';
    return ST_OK;
}

static int get_enum(struct rd *r, const struct field *f, char *base)
{
    struct item it;
    int rc = expect(r, &it, IT_TEXT);
    if (rc != ST_OK) {
        return rc;
    }
    char name[ENUM_MAX_LEN];
    if (it.len >= sizeof name) {
        return corrupt(r, "an unknown enum name");
    }
    memcpy(name, it.s, it.len);
    name[it.len] = '\0';
    int v = record_enum_value(f->names, name);
    if (v < 0) {
        return corrupt(r, "an unknown enum name");
    }
    memcpy(base + f->off, &v, sizeof v);
    return ST_OK;
}

static int get_date(struct rd *r, const struct field *f, char *base)
{
    struct item it;
    int rc = expect(r, &it, IT_UINT);
    if (rc != ST_OK) {
        return rc;
    }
    unsigned y = (unsigned)(it.u / 10000u), m = (unsigned)(it.u / 100u % 100u),
             d = (unsigned)(it.u % 100u);
    bool year_only = false;
    struct date dt;
    if (it.u > 99991231u ||
        date_from_parts((int)y, (int)m, (int)d, &dt, f->kind == K_DOB ? &year_only : NULL) != 0) {
        return corrupt(r, "not a date");
    }
    memcpy(base + f->off, &dt, sizeof dt);
    if (f->kind == K_DOB) {
        memcpy(base + f->flag, &year_only, sizeof year_only);
    }
    return ST_OK;
}

static int get_time(struct rd *r, const struct field *f, char *base)
{
    struct item it;
    int rc = next(r, &it);
    if (rc != ST_OK) {
        return rc;
    }
    if ((it.type != IT_UINT && it.type != IT_NEGINT) || it.u > INT64_MAX) {
        return corrupt(r, "not a time");
    }
    int64_t t = it.type == IT_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    if (t < RECORD_TIME_MIN || t > RECORD_TIME_MAX) {
        return corrupt(r, "a time out of range");
    }
    memcpy(base + f->off, &t, sizeof t);
    return ST_OK;
}

static int get_u32(struct rd *r, const struct field *f, char *base)
{
    struct item it;
    int rc = expect(r, &it, IT_UINT);
    if (rc != ST_OK) {
        return rc;
    }
    if (it.u > UINT32_MAX) {
        return corrupt(r, "a number out of range");
    }
    uint32_t u = (uint32_t)it.u;
    memcpy(base + f->off, &u, sizeof u);
    return ST_OK;
}

static int get_documents(struct rd *r, struct person *p)
{
    struct item it;
    int rc = expect(r, &it, IT_ARRAY);
    if (rc != ST_OK) {
        return rc;
    }
    if (it.u > PERSON_MAX_DOCS) {
        return corrupt(r, "too many documents");
    }
    p->ndocs = (uint8_t)it.u;
    for (size_t i = 0; i < p->ndocs && rc == ST_OK; i++) {
        rc = get_table(r, &record_document_table, (char *)&p->docs[i]);
    }
    return rc;
}

static int get_value(struct rd *r, const struct field *f, char *base)
{
    r->where = f->name;
    switch (f->kind) {
    case K_STRING:
        return get_string(r, f, base);
    case K_ENUM:
        return get_enum(r, f, base);
    case K_DATE:
    case K_DOB:
        return get_date(r, f, base);
    case K_TIME:
        return get_time(r, f, base);
    case K_U32:
        return get_u32(r, f, base);
    case K_OBJECT:
        return get_table(r, f->sub, base);
    case K_DOCUMENTS:
        return get_documents(r, (struct person *)(void *)base);
    case K_REF:
    case K_BIOMETRICS:
        return skip(r, 0); /* never written; tolerated */
    }
    return corrupt(r, "an unknown member kind");
}

/* The member named by the len bytes at name (which hold no NUL), or NULL.
 * Members are written in table order, so the one after the last found is
 * tried first: a record written by this release decodes without a search. */
static const struct field *find(const struct table *t, size_t *cursor, const char *name, size_t len)
{
    for (size_t k = 0; k < t->n; k++) {
        size_t i = (*cursor + k) % t->n;
        const char *fn = t->fields[i].name;
        if (fn[0] == name[0] && strncmp(fn, name, len) == 0 && fn[len] == '\0') {
            *cursor = i + 1;
            return &t->fields[i];
        }
    }
    return NULL;
}

/* A map whose keys name members of t; the version key "v" is read by the caller. */
static int get_members(struct rd *r, const struct table *t, char *base, uint64_t n)
{
    int rc = ST_OK;
    size_t cursor = 0;
    for (uint64_t i = 0; i < n && rc == ST_OK; i++) {
        struct item key;
        rc = expect(r, &key, IT_TEXT);
        if (rc != ST_OK) {
            break;
        }
        if (key.len == 0 || memchr(key.s, '\0', key.len) != NULL) {
            rc = skip(r, 0); /* no member has such a name */
            continue;
        }
        const struct field *f = find(t, &cursor, key.s, key.len);
        rc = f != NULL ? get_value(r, f, base) : skip(r, 0);
    }
    return rc;
}

static int get_table(struct rd *r, const struct table *t, char *base)
{
    struct item it;
    int rc = expect(r, &it, IT_MAP);
    if (rc != ST_OK) {
        return rc;
    }
    if (it.u > r->left) {
        return corrupt(r, "truncated");
    }
    return get_members(r, t, base, it.u);
}

int person_from_cbor(const uint8_t *buf, size_t len, struct person *p, struct st_err *err)
{
    struct rd r = {.p = buf, .left = len, .err = err, .where = NULL};
    memset(p, 0, sizeof *p);
    struct item it, key, ver;
    int rc = expect(&r, &it, IT_MAP);
    if (rc == ST_OK && it.u == 0) {
        rc = corrupt(&r, "no format version");
    }
    if (rc == ST_OK) {
        rc = expect(&r, &key, IT_TEXT);
    }
    if (rc == ST_OK && (key.len != strlen(FORMAT_KEY) || memcmp(key.s, FORMAT_KEY, key.len) != 0)) {
        rc = corrupt(&r, "no format version");
    }
    if (rc == ST_OK) {
        rc = expect(&r, &ver, IT_UINT);
    }
    if (rc == ST_OK && ver.u != RECORD_FORMAT_CBOR) {
        rc = corrupt(&r, "an unknown format version");
    }
    if (rc == ST_OK) {
        rc = get_members(&r, &record_person_table, (char *)p, it.u - 1);
    }
    if (rc == ST_OK && r.left != 0) {
        r.where = NULL;
        rc = corrupt(&r, "bytes after the record");
    }
    if (rc != ST_OK) {
        explicit_bzero(p, sizeof *p);
    }
    return rc;
}
