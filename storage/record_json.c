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

#define PATH_MAX_LEN     160
#define ENUM_SCAN        64 /* above the largest value of any record enum */
#define ECHO_MAX         32 /* bytes of a bad value quoted back in a message */
#define DATE_LEN         10
#define TIME_LEN         20
#define EMAIL_MIN_LEN    3
#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15

_Static_assert(sizeof(enum sex) == sizeof(int) && sizeof(enum citizenship) == sizeof(int) &&
                   sizeof(enum marital_status) == sizeof(int) &&
                   sizeof(enum person_status) == sizeof(int) &&
                   sizeof(enum biometric_status) == sizeof(int) &&
                   sizeof(enum doc_type) == sizeof(int),
               "record enums are stored as int");

enum kind {
    K_STRING,     /* char[size]: shape (when given), then byte length min..size-1 */
    K_ENUM,       /* an int-sized enum named by names() */
    K_DATE,       /* struct date, "YYYY-MM-DD" */
    K_DOB,        /* struct date, "YYYY-MM-DD" or "YYYY", and the year-only flag */
    K_TIME,       /* int64_t unix seconds, "YYYY-MM-DDTHH:MM:SSZ" */
    K_U32,        /* uint32_t */
    K_OBJECT,     /* a nested object described by sub */
    K_DOCUMENTS,  /* the documents array (struct person only) */
    K_REF,        /* an id string, checked and dropped */
    K_BIOMETRICS, /* checked by biometrics_from_json() and dropped */
};

/* Returns NULL when s (len bytes) has the right shape, else the complaint. */
typedef const char *(*shape_fn)(const char *s, size_t len);
typedef const char *(*name_fn)(int v);

struct table;

struct field {
    const char *name;
    enum kind kind;
    size_t off;  /* into the table's struct */
    size_t size; /* K_STRING: the array's size */
    size_t flag; /* K_DOB: offset of the year-only flag */
    size_t min;  /* K_STRING: fewest bytes */
    shape_fn shape;
    name_fn names;
    const struct table *sub;
    bool required; /* within its object (document elements only) */
};

struct table {
    const struct field *fields;
    size_t n;
};

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

/* Length of the UTF-8 sequence at s (n bytes left) and its code point; 0 if invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned long *cp)
{
    static const unsigned long min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80                   ? 1
                 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                 : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                               : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    *cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    if (*cp < min_cp[len] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

static const char *text_problem(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t step = utf8_next(u + i, len - i, &cp);
        if (step == 0) {
            return "is not valid UTF-8";
        }
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return "must not contain control characters";
        }
        i += step;
    }
    return NULL;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static const char *hn_shape(const char *s, size_t len)
{
    return len == HN_LEN && all_digits(s, len) ? NULL : "must be 12 digits";
}

static const char *county_shape(const char *s, size_t len)
{
    return len == 3 && all_digits(s, len) ? NULL : "must be a county code of 3 digits";
}

static const char *alpha2_shape(const char *s, size_t len)
{
    bool ok = len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
    return ok ? NULL : "must be an ISO 3166-1 alpha-2 code (2 capital letters)";
}

static const char *phone_shape(const char *s, size_t len)
{
    bool ok = len >= 1 + PHONE_MIN_DIGITS && len <= 1 + PHONE_MAX_DIGITS && s[0] == '+' &&
              s[1] != '0' && all_digits(s + 1, len - 1);
    return ok ? NULL : "must be an E.164 number: + then 8-15 digits, the first not 0";
}

static const char *email_shape(const char *s, size_t len)
{
    if (len < EMAIL_MIN_LEN || len > TEXT_MAX_LEN) {
        return "must be 3-128 bytes";
    }
    const char *at = memchr(s, '@', len);
    if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL) {
        return "must contain exactly one @";
    }
    if (at == s || at == s + len - 1) {
        return "must have text before and after the @";
    }
    if (memchr(s, ' ', len) != NULL) {
        return "must not contain spaces";
    }
    return NULL;
}

static const char *doc_number_shape(const char *s, size_t len)
{
    if (len == 0) {
        return "must not be empty";
    }
    if (len > DOC_NUMBER_MAX_LEN) {
        return "must be at most 32 bytes";
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '/';
        if (!ok) {
            return "may contain only letters, digits, - and /";
        }
    }
    return NULL;
}

/* ---- enums, dates and times ---------------------------------------------- */

static const char *sex_n(int v)
{
    return sex_name((enum sex)v);
}

static const char *citizenship_n(int v)
{
    return citizenship_name((enum citizenship)v);
}

static const char *marital_n(int v)
{
    return marital_name((enum marital_status)v);
}

static const char *status_n(int v)
{
    return status_name((enum person_status)v);
}

static const char *bio_status_n(int v)
{
    return bio_status_name((enum biometric_status)v);
}

static const char *doc_type_n(int v)
{
    return doc_type_name((enum doc_type)v);
}

static int enum_value(name_fn names, const char *s)
{
    for (int v = 0; v < ENUM_SCAN; v++) {
        const char *n = names(v);
        if (n != NULL && strcmp(n, s) == 0) {
            return v;
        }
    }
    return -1;
}

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
        return all_digits(s, 4);
    }
    return len == DATE_LEN && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) &&
           s[7] == '-' && all_digits(s + 8, 2);
}

/* Parses "YYYY-MM-DDTHH:MM:SSZ"; -1 when not shaped so, -2 when impossible. */
static int time_parse(const char *s, size_t len, int64_t *t)
{
    if (len != TIME_LEN || !date_shaped(s, DATE_LEN) || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z' || !all_digits(s + 11, 2) || !all_digits(s + 14, 2) ||
        !all_digits(s + 17, 2)) {
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

/* ---- the tables ---------------------------------------------------------------- */

#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
#define STR(T, n, m, mn, sh)                                                                       \
    {                                                                                              \
        .name = n, .kind = K_STRING, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), .min = mn,  \
        .shape = sh                                                                                \
    }
#define ENUM(T, n, m, fn)                                                                          \
    {                                                                                              \
        .name = n, .kind = K_ENUM, .off = offsetof(T, m), .names = fn                              \
    }
#define PLAIN(T, n, k, m)                                                                          \
    {                                                                                              \
        .name = n, .kind = k, .off = offsetof(T, m)                                                \
    }
#define OBJECT(n, t)                                                                               \
    {                                                                                              \
        .name = n, .kind = K_OBJECT, .sub = &t                                                     \
    }
#define TABLE(a)                                                                                   \
    {                                                                                              \
        .fields = a, .n = sizeof(a) / sizeof(a[0])                                                 \
    }

static const struct field place_fields[] = {
    STR(struct person, "county", birth_county, 0, county_shape),
    STR(struct person, "country", birth_country, 0, alpha2_shape),
};

static const struct field citizenship_fields[] = {
    ENUM(struct person, "type", citizenship, citizenship_n),
    STR(struct person, "nationality", nationality, 0, alpha2_shape),
};

static const struct field residence_fields[] = {
    STR(struct person, "county", res_county, 0, county_shape),
    STR(struct person, "sub_county", res_sub_county, 0, NULL),
    STR(struct person, "ward", res_ward, 0, NULL),
    STR(struct person, "village", res_village, 0, NULL),
};

static const struct field parents_fields[] = {
    STR(struct person, "mother", mother_hn, 0, hn_shape),
    STR(struct person, "father", father_hn, 0, hn_shape),
    {.name = "mother_enrolment", .kind = K_REF},
    {.name = "father_enrolment", .kind = K_REF},
};

static const struct field death_fields[] = {
    PLAIN(struct person, "date", K_DATE, death_date),
    STR(struct person, "certificate", death_certificate, 0, doc_number_shape),
};

static const struct field enrolment_fields[] = {
    STR(struct person, "id", enrolment.id, 1, NULL),
    STR(struct person, "officer", enrolment.officer, 1, NULL),
    STR(struct person, "centre", enrolment.centre, 1, NULL),
    PLAIN(struct person, "captured_at", K_TIME, enrolment.captured_at),
};

static const struct field document_fields[] = {
    {.name = "type",
     .kind = K_ENUM,
     .off = offsetof(struct id_document, type),
     .names = doc_type_n,
     .required = true},
    {.name = "number",
     .kind = K_STRING,
     .off = offsetof(struct id_document, number),
     .size = MEMBER_SIZE(struct id_document, number),
     .shape = doc_number_shape,
     .required = true},
    STR(struct id_document, "issuer", issuer, 0, NULL),
    PLAIN(struct id_document, "issued", K_DATE, issued),
    PLAIN(struct id_document, "expires", K_DATE, expires),
};

static const struct table place_table = TABLE(place_fields);
static const struct table citizenship_table = TABLE(citizenship_fields);
static const struct table residence_table = TABLE(residence_fields);
static const struct table parents_table = TABLE(parents_fields);
static const struct table death_table = TABLE(death_fields);
static const struct table enrolment_table = TABLE(enrolment_fields);
static const struct table document_table = TABLE(document_fields);

static const struct field person_fields[] = {
    STR(struct person, "huduma_number", hn, 0, hn_shape),
    PLAIN(struct person, "version", K_U32, version),
    STR(struct person, "surname", surname, 1, NULL),
    STR(struct person, "first_name", first_name, 1, NULL),
    STR(struct person, "other_names", other_names, 0, NULL),
    ENUM(struct person, "sex", sex, sex_n),
    {.name = "date_of_birth",
     .kind = K_DOB,
     .off = offsetof(struct person, dob),
     .flag = offsetof(struct person, dob_year_only)},
    OBJECT("place_of_birth", place_table),
    OBJECT("citizenship", citizenship_table),
    OBJECT("residence", residence_table),
    ENUM(struct person, "marital_status", marital, marital_n),
    STR(struct person, "phone", phone, 0, phone_shape),
    STR(struct person, "email", email, 0, email_shape),
    OBJECT("parents", parents_table),
    {.name = "documents", .kind = K_DOCUMENTS},
    ENUM(struct person, "status", status, status_n),
    ENUM(struct person, "biometric_status", bio_status, bio_status_n),
    STR(struct person, "biometric_exemption", bio_exemption, 1, NULL),
    {.name = "biometrics", .kind = K_BIOMETRICS},
    OBJECT("death", death_table),
    OBJECT("enrolment", enrolment_table),
    PLAIN(struct person, "updated_at", K_TIME, updated_at),
};

static const struct table person_table = TABLE(person_fields);

/* ---- decoding ------------------------------------------------------------------ */

static int decode_table(struct dec *d, const json_t *obj, const struct table *t, void *base);

static const char *string_or_fail(struct dec *d, const json_t *v, size_t *len, int *rc)
{
    if (!json_is_string(v)) {
        *rc = fail(d, "expected a string");
        return NULL;
    }
    const char *s = json_string_value(v);
    const char *why = text_problem(s, json_string_length(v));
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
    int e = enum_value(f->names, s);
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
        int rc = json_is_object(doc) ? decode_table(d, doc, &document_table, &p->docs[i])
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
    int rc = decode_table(&d, obj, &person_table, p);
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
        if (doc == NULL || encode_table(doc, &document_table, (const char *)&p->docs[i]) != 0 ||
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
    if (obj != NULL && encode_table(obj, &person_table, (const char *)p) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
