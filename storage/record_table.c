/*
 * storage/record_table.c - the rows of the person record (see record_table.h):
 * each member's name, kind and place in struct person, the shape each string
 * must have, and the names of each enum (from record_types.c).
 */
#include "storage/record_table.h"

#include <string.h>

#define EMAIL_MIN_LEN    3
#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15

/* ---- text ---------------------------------------------------------------------- */

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

const char *record_text_problem(const char *s, size_t len)
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

/* ---- shapes -------------------------------------------------------------------- */

bool record_all_digits(const char *s, size_t len)
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
    return len == HN_LEN && record_all_digits(s, len) ? NULL : "must be 12 digits";
}

static const char *county_shape(const char *s, size_t len)
{
    return len == 3 && record_all_digits(s, len) ? NULL : "must be a county code of 3 digits";
}

static const char *alpha2_shape(const char *s, size_t len)
{
    bool ok = len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
    return ok ? NULL : "must be an ISO 3166-1 alpha-2 code (2 capital letters)";
}

static const char *phone_shape(const char *s, size_t len)
{
    bool ok = len >= 1 + PHONE_MIN_DIGITS && len <= 1 + PHONE_MAX_DIGITS && s[0] == '+' &&
              s[1] != '0' && record_all_digits(s + 1, len - 1);
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

/* ---- enums ---------------------------------------------------------------------- */

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

int record_enum_value(name_fn names, const char *s)
{
    for (int v = 0; v < ENUM_SCAN; v++) {
        const char *n = names(v);
        if (n != NULL && strcmp(n, s) == 0) {
            return v;
        }
    }
    return -1;
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
const struct table record_document_table = TABLE(document_fields);

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

const struct table record_person_table = TABLE(person_fields);
