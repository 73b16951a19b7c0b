/*
 * storage/record_table.h - the person record described once, for its codecs
 * (private to storage/).
 *
 * Every member of docs/record.md is a row: its name, its kind and where it
 * lives in struct person (or struct id_document for the elements of
 * "documents").  record_json.c walks these tables to read and write the
 * record's JSON form (the API's), record_cbor.c to read and write its CBOR
 * form (the form at rest).  Nested objects have tables of their own whose
 * offsets are still into struct person.
 */
#ifndef HUDUMA_STORAGE_RECORD_TABLE_H
#define HUDUMA_STORAGE_RECORD_TABLE_H

#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENUM_SCAN 64 /* above the largest value of any record enum */

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

/* The person record, and one element of its "documents". */
extern const struct table record_person_table;
extern const struct table record_document_table;

/* The value of the enum whose name is s, or -1. */
int record_enum_value(name_fn names, const char *s);

/* NULL when the len bytes at s are valid UTF-8 without control characters,
 * else the complaint ("is not valid UTF-8", ...). */
const char *record_text_problem(const char *s, size_t len);

/* Unix times the record can hold: years 1800 to 9999. */
#define RECORD_TIME_MIN (-5364662400LL) /* 1800-01-01T00:00:00Z */
#define RECORD_TIME_MAX 253402300799LL  /* 9999-12-31T23:59:59Z */

/* The date y-m-d, checked as date_parse() checks "YYYY-MM-DD"; m and d both
 * 0 is the year-only date "YYYY", allowed only where year_only is given. */
int date_from_parts(int y, int m, int d, struct date *out, bool *year_only);

/* True when the len bytes at s are all ASCII digits. */
bool record_all_digits(const char *s, size_t len);

/* ---- the form at rest (record_cbor.c) ---- */

#define RECORD_FORMAT_JSON 1 /* JSON text with "v": 1; read, no longer written */
#define RECORD_FORMAT_CBOR 2 /* a CBOR map that opens with "v": 2 */

/* Encodes p; *out is malloc'd (the caller wipes and frees it).  ST_INVALID
 * when p cannot be encoded (too many documents), ST_NOMEM. */
int person_to_cbor(const struct person *p, uint8_t **out, size_t *out_len);

/* Decodes the CBOR form into *p (zeroed first, and again on failure).
 * ST_CORRUPT, with what and where in err, when buf is anything else. */
int person_from_cbor(const uint8_t *buf, size_t len, struct person *p, struct st_err *err);

#endif
