/*
 * storage/record_types.c - calendar dates and the names of the record's enums.
 *
 * Owns date_parse(), date_format(), date_is_set(), date_cmp() and every
 * *_name() function declared in storage.h, plus doc_type_from_name().
 *
 * Each enum has exactly one table, indexed by value, holding the names used in
 * the JSON form (docs/record.md).  The codec in record_json.c finds a value
 * from its name by asking these functions, so each name is spelled once.  A
 * value without a name (an UNSET value, or one out of range) yields NULL.
 *
 * Dates are "YYYY-MM-DD" (or "YYYY" where the caller allows a year alone),
 * years 1800-9999, checked against the Gregorian calendar with leap years.
 */
#include <stdio.h>
#include <string.h>

#include "storage/storage.h"
#include "storage/record_table.h"

#define DATE_YEAR_MIN 1800
#define DATE_YEAR_MAX 9999

static const char *const sex_names[] = {
    [SEX_FEMALE] = "female",
    [SEX_MALE] = "male",
    [SEX_INTERSEX] = "intersex",
};

static const char *const citizenship_names[] = {
    [CIT_KENYAN_BIRTH] = "birth",
    [CIT_KENYAN_REGISTRATION] = "registration",
    [CIT_FOREIGN] = "foreign",
};

static const char *const marital_names[] = {
    [MARITAL_NEVER_MARRIED] = "never_married",
    [MARITAL_MARRIED] = "married",
    [MARITAL_DIVORCED] = "divorced",
    [MARITAL_SEPARATED] = "separated",
    [MARITAL_WIDOWED] = "widowed",
};

static const char *const status_names[] = {
    [STATUS_ACTIVE] = "active",
    [STATUS_PENDING_ADJUDICATION] = "pending_adjudication",
    [STATUS_DECEASED] = "deceased",
    [STATUS_REVOKED] = "revoked",
};

static const char *const bio_status_names[] = {
    [BIO_CAPTURED] = "captured",
    [BIO_EXEMPT_UNDER_6] = "exempt_under_6",
    [BIO_EXEMPT] = "exempt",
    [BIO_DUE] = "due",
};

static const char *const doc_type_names[DOC_TYPE_COUNT] = {
    [DOC_BIRTH_CERTIFICATE] = "birth_certificate",
    [DOC_NATIONAL_ID] = "national_id",
    [DOC_PASSPORT] = "passport",
    [DOC_ALIEN_ID] = "alien_id",
    [DOC_REFUGEE_ID] = "refugee_id",
    [DOC_DRIVING_LICENCE] = "driving_licence",
    [DOC_KRA_PIN] = "kra_pin",
    [DOC_NHIF] = "nhif",
    [DOC_NSSF] = "nssf",
    [DOC_WORK_PERMIT] = "work_permit",
    [DOC_STUDENT_ID] = "student_id",
};

#define COUNT(t) (sizeof(t) / sizeof((t)[0]))

static const char *table_name(const char *const *table, size_t n, long v)
{
    if (v < 0 || (unsigned long)v >= n) {
        return NULL;
    }
    return table[v];
}

const char *sex_name(enum sex v)
{
    return table_name(sex_names, COUNT(sex_names), (long)v);
}

const char *citizenship_name(enum citizenship v)
{
    return table_name(citizenship_names, COUNT(citizenship_names), (long)v);
}

const char *marital_name(enum marital_status v)
{
    return table_name(marital_names, COUNT(marital_names), (long)v);
}

const char *status_name(enum person_status v)
{
    return table_name(status_names, COUNT(status_names), (long)v);
}

const char *bio_status_name(enum biometric_status v)
{
    return table_name(bio_status_names, COUNT(bio_status_names), (long)v);
}

const char *doc_type_name(enum doc_type v)
{
    return table_name(doc_type_names, COUNT(doc_type_names), (long)v);
}

enum doc_type doc_type_from_name(const char *s)
{
    if (s == NULL) {
        return DOC_UNSET;
    }
    for (size_t i = 0; i < COUNT(doc_type_names); i++) {
        if (doc_type_names[i] != NULL && strcmp(doc_type_names[i], s) == 0) {
            return (enum doc_type)i;
        }
    }
    return DOC_UNSET;
}

/* ---- dates ---------------------------------------------------------------- */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n ASCII digits; -1 when any is not a digit. */
static int read_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int date_from_parts(int y, int m, int day, struct date *d, bool *year_only)
{
    if (y < DATE_YEAR_MIN || y > DATE_YEAR_MAX) {
        return -1;
    }
    if (m == 0 && day == 0) {
        if (year_only == NULL) {
            return -1;
        }
        *d = (struct date){.year = (int16_t)y};
        *year_only = true;
        return 0;
    }
    if (m < 1 || m > 12 || day < 1 || day > days_in_month(y, m)) {
        return -1;
    }
    *d = (struct date){.year = (int16_t)y, .month = (uint8_t)m, .day = (uint8_t)day};
    if (year_only != NULL) {
        *year_only = false;
    }
    return 0;
}

int date_parse(const char *s, struct date *d, bool *year_only)
{
    if (s == NULL || d == NULL) {
        return -1;
    }
    size_t n = strlen(s);
    if (n == 4) {
        int y = read_digits(s, 4);
        return y < 0 ? -1 : date_from_parts(y, 0, 0, d, year_only);
    }
    if (n != 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }
    int y = read_digits(s, 4), m = read_digits(s + 5, 2), day = read_digits(s + 8, 2);
    if (y < 0 || m < 1 || day < 1) {
        return -1; /* "0000"-style parts are not a full date */
    }
    return date_from_parts(y, m, day, d, year_only);
}

void date_format(const struct date *d, bool year_only, char out[11])
{
    out[0] = '\0';
    if (d == NULL || d->year <= 0 || d->year > DATE_YEAR_MAX) {
        return;
    }
    unsigned y = (unsigned)d->year % 10000u;
    if (year_only || d->month == 0) {
        snprintf(out, 11, "%04u", y);
        return;
    }
    snprintf(out, 11, "%04u-%02u-%02u", y, d->month % 100u, d->day % 100u);
}

bool date_is_set(const struct date *d)
{
    return d != NULL && d->year != 0;
}

int date_cmp(const struct date *a, const struct date *b)
{
    if (a->year != b->year) {
        return a->year < b->year ? -1 : 1;
    }
    if (a->month != b->month) {
        return a->month < b->month ? -1 : 1;
    }
    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }
    return 0;
}
