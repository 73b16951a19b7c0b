/*
 * storage/record_json.c - the person record's JSON form, both ways.
 *
 * The sole codec for docs/record.md: person_from_json() and person_to_json().
 * Tables describe every member once: its JSON name, its kind and where it lives
 * in struct person.  Nested objects (place_of_birth, citizenship, residence,
 * parents, death, enrolment) have tables of their own whose offsets are still
 * into struct person; each element of "documents" is described by a table over
 * struct id_document.  Decoding walks a table, checking each member's type,
 * UTF-8, control characters, byte length and shape, and keeps the JSON path of
 * the member in hand so that an error names it (e.g. "documents[1].number").
 * Encoding walks the same tables and leaves out whatever is empty.
 *
 * Checks are syntax only; register rules (required members, known counties,
 * dates in the past, biometrics by age) are the appliance's.  Two input-only
 * members are checked and then dropped, for the appliance to read from the
 * JSON itself: parents.mother_enrolment / father_enrolment and biometrics
 * (decoded by biometrics_from_json()).  Enum names come from the *_name()
 * functions of record_types.c in both directions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"
#include "storage/record_table.h"

#define PATH_MAX_LEN 160
#define ECHO_MAX     32 /* bytes of a bad value quoted back in a message */
#define DATE_LEN     10
#define TIME_LEN     20

_Static_assert(sizeof(enum sex) == sizeof(int) && sizeof(enum citizenship) == sizeof(int) &&
                   sizeof(enum marital_status) == sizeof(int) &&
                   sizeof(enum person_status) == sizeof(int) &&
                   sizeof(enum biometric_status) == sizeof(int) &&
                   sizeof(enum doc_type) == sizeof(int),
               "record enums are stored as int");

struct dec {
    bool strict;
    struct st_err *err;
    char path[PATH_MAX_LEN];
};

/* ---- errors and paths ------------------------------------------------------ */

static void copy_bounded(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

__attribute__((format(printf, 2, 3))) static int fail(struct dec *d, const char *fmt, ...)
{
    if (d->err != NULL) {
        copy_bounded(d->err->field, sizeof d->err->field, d->path);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err->msg, sizeof d->err->msg, fmt, ap);
        va_end(ap);
    }
    return ST_INVALID;
}

/* Quotes a bad value (valid UTF-8, no controls) back, cut at ECHO_MAX bytes. */
static void echo(char out[ECHO_MAX + 4], const char *s)
{
    size_t n = strlen(s);
    if (n <= ECHO_MAX) {
        memcpy(out, s, n + 1);
        return;
    }
    n = ECHO_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
        n--;
    }
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
}

/* Appends s to the path (printable ASCII, truncated) and returns the old end. */
static size_t path_append(struct dec *d, const char *s)
{
    size_t mark = strlen(d->path);
    size_t i = mark;
    for (; *s != '\0' && i < sizeof d->path - 1; s++, i++) {
        d->path[i] = (*s < 0x20 || *s > 0x7e) ? '?' : *s;
    }
    d->path[i] = '\0';
    return mark;
}

static size_t path_member(struct dec *d, const char *name)
{
    size_t mark = strlen(d->path);
    if (mark > 0) {
        path_append(d, ".");
    }
    path_append(d, name);
    return mark;
}

static size_t path_index(struct dec *d, size_t i)
{
    char idx[24];
    snprintf(idx, sizeof idx, "[%zu]", i);
    return path_append(d, idx);
}

static void path_pop(struct dec *d, size_t mark)
{
    d->path[mark] = '\0';
}

/* ---- text checks ----------------------------------------------------------- */

/* ---- enums, dates and times ---------------------------------------------- */

/* "a, b or c": every name of the enum. */
static void enum_list(name_fn names, char *out, size_t size)
{
    const char *prev = NULL;
    size_t used = 0;
    out[0] = '\0';
    for (int v = 0; v < ENUM_SCAN; v++) {
        const char *n = names(v);
        if (n == NULL) {
            continue;
        }
        if (prev != NULL) {
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", prev);
        }
        prev = n;
        used = used < size ? used : size - 1;
    }
    if (prev != NULL) {
        snprintf(out + used, size - used, "%s%s", used ? " or " : "", prev);
    }
}

static bool date_shaped(const char *s, size_t len)
{
    if (len == 4) {
        return record_all_digits(s, 4);
    }
    return len == DATE_LEN && record_all_digits(s, 4) && s[4] == '-' &&
           record_all_digits(s + 5, 2) && s[7] == '-' && record_all_digits(s + 8, 2);
}

/* Parses "YYYY-MM-DDTHH:MM:SSZ"; -1 when not shaped so, -2 when impossible. */
static int time_parse(const char *s, size_t len, int64_t *t)
{
    if (len != TIME_LEN || !date_shaped(s, DATE_LEN) || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z' || !record_all_digits(s + 11, 2) ||
        !record_all_digits(s + 14, 2) || !record_all_digits(s + 17, 2)) {
        return -1;
    }
    char day[DATE_LEN + 1];
    memcpy(day, s, DATE_LEN);
    day[DATE_LEN] = '\0';
    struct date dt;
    int hh = (s[11] - '0') * 10 + s[12] - '0';
    int mm = (s[14] - '0') * 10 + s[15] - '0';
    int ss = (s[17] - '0') * 10 + s[18] - '0';
    if (date_parse(day, &dt, NULL) != 0 || hh > 23 || mm > 59 || ss > 59) {
        return -2;
    }
    struct tm tm = {.tm_year = dt.year - 1900,
                    .tm_mon = dt.month - 1,
                    .tm_mday = dt.day,
                    .tm_hour = hh,
                    .tm_min = mm,
                    .tm_sec = ss};
    *t = (int64_t)timegm(&tm);
    return 0;
}

static json_t *time_json(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || tm.tm_year < 1800 - 1900 ||
        tm.tm_year > 9999 - 1900) {
        return NULL;
    }
    char out[TIME_LEN + 1];
    snprintf(out, sizeof out, "%04u-%02u-%02uT%02u:%02u:%02uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u);
    return json_string(out);
}

/* ---- decoding ------------------------------------------------------------------ */

static int decode_table(struct dec *d, const json_t *obj, const struct table *t, void *base);

static const char *string_or_fail(struct dec *d, const json_t *v, size_t *len, int *rc)
{
    if (!json_is_string(v)) {
        *rc = fail(d, "expected a string");
        return NULL;
    }
    const char *s = json_string_value(v);
    const char *why = record_text_problem(s, json_string_length(v));
    if (why != NULL) {
        *rc = fail(d, "%s", why);
        return NULL;
    }
    *len = json_string_length(v);
    return s;
}

static int decode_string(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    int rc = ST_OK;
    size_t len;
    const char *s = string_or_fail(d, v, &len, &rc);
    if (s == NULL) {
        return rc;
    }
    const char *why = f->shape ? f->shape(s, len) : NULL;
    if (why != NULL) {
        return fail(d, "%s", why);
    }
    if (len > f->size - 1) {
        return fail(d, "must be at most %zu bytes", f->size - 1);
    }
    if (len < f->min) {
        return fail(d, "must not be empty");
    }
    memcpy(base + f->off, s, len);
    base[f->off + len] = '\0';
    return ST_OK;
}

static int decode_enum(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    int rc = ST_OK;
    size_t len;
    const char *s = string_or_fail(d, v, &len, &rc);
    if (s == NULL) {
        return rc;
    }
    int e = record_enum_value(f->names, s);
    if (e < 0) {
        char bad[ECHO_MAX + 4], list[200];
        echo(bad, s);
        enum_list(f->names, list, sizeof list);
        return fail(d, "unknown value '%s': expected %s", bad, list);
    }
    memcpy(base + f->off, &e, sizeof e);
    return ST_OK;
}

static int decode_date(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    int rc = ST_OK;
    size_t len;
    const char *s = string_or_fail(d, v, &len, &rc);
    if (s == NULL) {
        return rc;
    }
    bool year_only = false;
    bool *flag = f->kind == K_DOB ? &year_only : NULL;
    struct date dt;
    if (!date_shaped(s, len) || (len == 4 && flag == NULL)) {
        return fail(d, flag ? "expected a date YYYY-MM-DD or YYYY" : "expected a date YYYY-MM-DD");
    }
    if (date_parse(s, &dt, flag) != 0) {
        return fail(d, "%s is not a date", s);
    }
    memcpy(base + f->off, &dt, sizeof dt);
    if (flag != NULL) {
        memcpy(base + f->flag, &year_only, sizeof year_only);
    }
    return ST_OK;
}

static int decode_time(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    int rc = ST_OK;
    size_t len;
    const char *s = string_or_fail(d, v, &len, &rc);
    if (s == NULL) {
        return rc;
    }
    int64_t t;
    rc = time_parse(s, len, &t);
    if (rc == -1) {
        return fail(d, "expected a time YYYY-MM-DDTHH:MM:SSZ");
    }
    if (rc == -2) {
        return fail(d, "%s is not a time", s);
    }
    memcpy(base + f->off, &t, sizeof t);
    return ST_OK;
}

static int decode_u32(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    if (!json_is_integer(v)) {
        return fail(d, "expected an integer");
    }
    json_int_t i = json_integer_value(v);
    if (i < 0 || i > (json_int_t)UINT32_MAX) {
        return fail(d, "must be an integer from 0 to %lu", (unsigned long)UINT32_MAX);
    }
    uint32_t u = (uint32_t)i;
    memcpy(base + f->off, &u, sizeof u);
    return ST_OK;
}

static int decode_ref(struct dec *d, const json_t *v)
{
    char scratch[ID_MAX_LEN + 1];
    struct field f = {.kind = K_STRING, .size = sizeof scratch, .min = 1};
    return decode_string(d, &f, v, scratch);
}

static int decode_biometrics(struct dec *d, const json_t *v)
{
    struct biometrics *b = malloc(sizeof *b);
    struct st_err e = {0};
    if (b == NULL) {
        if (d->err != NULL) {
            *d->err = (struct st_err){.msg = "out of memory"};
        }
        return ST_NOMEM;
    }
    int rc = biometrics_from_json(v, b, &e);
    free(b);
    if (rc == ST_INVALID) {
        if (e.field[0] != '\0') {
            path_member(d, e.field);
        }
        return fail(d, "%s", e.msg);
    }
    return rc;
}

static int decode_documents(struct dec *d, const json_t *v, struct person *p)
{
    if (!json_is_array(v)) {
        return fail(d, "expected an array");
    }
    if (json_array_size(v) > PERSON_MAX_DOCS) {
        return fail(d, "must hold at most %d documents", PERSON_MAX_DOCS);
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *doc = json_array_get(v, i);
        size_t mark = path_index(d, i);
        int rc = json_is_object(doc) ? decode_table(d, doc, &record_document_table, &p->docs[i])
                                     : fail(d, "expected an object");
        path_pop(d, mark);
        if (rc != ST_OK) {
            return rc;
        }
        p->ndocs = (uint8_t)(i + 1);
    }
    return ST_OK;
}

static int decode_field(struct dec *d, const struct field *f, const json_t *v, char *base)
{
    switch (f->kind) {
    case K_STRING:
        return decode_string(d, f, v, base);
    case K_ENUM:
        return decode_enum(d, f, v, base);
    case K_DATE:
    case K_DOB:
        return decode_date(d, f, v, base);
    case K_TIME:
        return decode_time(d, f, v, base);
    case K_U32:
        return decode_u32(d, f, v, base);
    case K_OBJECT:
        return json_is_object(v) ? decode_table(d, v, f->sub, base) : fail(d, "expected an object");
    case K_DOCUMENTS:
        return decode_documents(d, v, (struct person *)(void *)base);
    case K_REF:
        return decode_ref(d, v);
    case K_BIOMETRICS:
        return decode_biometrics(d, v);
    }
    return fail(d, "cannot be decoded");
}

static bool known(const struct table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->fields[i].name, key) == 0) {
            return true;
        }
    }
    return false;
}

static int refuse_unknown(struct dec *d, const json_t *obj, const struct table *t)
{
    const char *key;
    json_t *v;
    /* json_object_foreach() does not take a const object; it only reads. */
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!known(t, key)) {
            path_member(d, key);
            return fail(d, "unknown member");
        }
    }
    return ST_OK;
}

static int decode_table(struct dec *d, const json_t *obj, const struct table *t, void *base)
{
    if (d->strict && refuse_unknown(d, obj, t) != ST_OK) {
        return ST_INVALID;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        const json_t *v = json_object_get(obj, f->name);
        size_t mark = path_member(d, f->name);
        int rc = ST_OK;
        if (v == NULL || json_is_null(v)) {
            rc = f->required ? fail(d, "is required") : ST_OK;
        } else {
            rc = decode_field(d, f, v, base);
        }
        if (rc != ST_OK) {
            return rc;
        }
        path_pop(d, mark);
    }
    return ST_OK;
}

int person_from_json(const json_t *obj, bool strict, struct person *p, struct st_err *err)
{
    struct dec d = {.strict = strict, .err = err};
    if (err != NULL) {
        *err = (struct st_err){0};
    }
    if (p == NULL) {
        return fail(&d, "no person to decode into");
    }
    memset(p, 0, sizeof *p);
    if (!json_is_object(obj)) {
        return fail(&d, "expected an object");
    }
    int rc = decode_table(&d, obj, &record_person_table, p);
    if (rc != ST_OK) {
        memset(p, 0, sizeof *p);
    }
    return rc;
}

/* ---- encoding ------------------------------------------------------------------ */

static int encode_table(json_t *obj, const struct table *t, const char *base);

/* Each encoder sets *out to the member's value, or leaves it NULL to omit it. */
static int encode_string(const struct field *f, const char *base, json_t **out)
{
    const char *s = base + f->off;
    size_t len = strnlen(s, f->size);
    if (len == 0) {
        return 0;
    }
    *out = len < f->size ? json_stringn(s, len) : NULL;
    return *out ? 0 : -1;
}

static int encode_enum(const struct field *f, const char *base, json_t **out)
{
    int e;
    memcpy(&e, base + f->off, sizeof e);
    const char *name = f->names(e);
    if (name == NULL) {
        return e == 0 ? 0 : -1;
    }
    *out = json_string(name);
    return *out ? 0 : -1;
}

static int encode_date(const struct field *f, const char *base, json_t **out)
{
    struct date dt;
    bool year_only = false;
    memcpy(&dt, base + f->off, sizeof dt);
    if (f->kind == K_DOB) {
        memcpy(&year_only, base + f->flag, sizeof year_only);
    }
    if (!date_is_set(&dt)) {
        return 0;
    }
    char s[DATE_LEN + 1];
    date_format(&dt, year_only, s);
    *out = s[0] ? json_string(s) : NULL;
    return *out ? 0 : -1;
}

static int encode_time(const struct field *f, const char *base, json_t **out)
{
    int64_t t;
    memcpy(&t, base + f->off, sizeof t);
    if (t == 0) {
        return 0;
    }
    *out = time_json(t);
    return *out ? 0 : -1;
}

static int encode_u32(const struct field *f, const char *base, json_t **out)
{
    uint32_t u;
    memcpy(&u, base + f->off, sizeof u);
    if (u == 0) {
        return 0;
    }
    *out = json_integer((json_int_t)u);
    return *out ? 0 : -1;
}

static int encode_object(const struct field *f, const char *base, json_t **out)
{
    json_t *obj = json_object();
    if (obj == NULL || encode_table(obj, f->sub, base) != 0) {
        json_decref(obj);
        return -1;
    }
    if (json_object_size(obj) == 0) {
        json_decref(obj);
        return 0;
    }
    *out = obj;
    return 0;
}

static int encode_documents(const struct person *p, json_t **out)
{
    if (p->ndocs == 0) {
        return 0;
    }
    json_t *arr = p->ndocs <= PERSON_MAX_DOCS ? json_array() : NULL;
    for (size_t i = 0; arr != NULL && i < p->ndocs; i++) {
        json_t *doc = json_object();
        if (doc == NULL ||
            encode_table(doc, &record_document_table, (const char *)&p->docs[i]) != 0 ||
            json_array_append_new(arr, doc) != 0) {
            json_decref(doc);
            json_decref(arr);
            arr = NULL;
        }
    }
    *out = arr;
    return arr ? 0 : -1;
}

static int encode_field(const struct field *f, const char *base, json_t **out)
{
    switch (f->kind) {
    case K_STRING:
        return encode_string(f, base, out);
    case K_ENUM:
        return encode_enum(f, base, out);
    case K_DATE:
    case K_DOB:
        return encode_date(f, base, out);
    case K_TIME:
        return encode_time(f, base, out);
    case K_U32:
        return encode_u32(f, base, out);
    case K_OBJECT:
        return encode_object(f, base, out);
    case K_DOCUMENTS:
        return encode_documents((const struct person *)(const void *)base, out);
    case K_REF:
    case K_BIOMETRICS:
        return 0; /* input only */
    }
    return -1;
}

static int encode_table(json_t *obj, const struct table *t, const char *base)
{
    for (size_t i = 0; i < t->n; i++) {
        json_t *v = NULL;
        if (encode_field(&t->fields[i], base, &v) != 0) {
            return -1;
        }
        if (v != NULL && json_object_set_new(obj, t->fields[i].name, v) != 0) {
            return -1;
        }
    }
    return 0;
}

json_t *person_to_json(const struct person *p)
{
    json_t *obj = p ? json_object() : NULL;
    if (obj != NULL && encode_table(obj, &record_person_table, (const char *)p) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
