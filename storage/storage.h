/*
 * storage/storage.h - the door to the register's storage.
 *
 * The register lives in one RocksDB TransactionDB with these column families:
 *
 *   persons     HN -> sealed person record (current version)
 *   history     HN | version(BE32) -> sealed snapshot of that version + change note
 *   indexes     keyed-hash secondary indexes (documents, blocking keys, enrolment
 *               ids, biometrics due), see storage/register.c
 *   events      event seq(BE64) -> life event (enrolled, corrected, birth, death,
 *               document issued), no personal fields
 *   documents   HN | seq(BE32) -> sealed issued-document record
 *   pending     enrolment id -> sealed record held for adjudication
 *   biometrics  HN -> sealed biometric templates
 *   metadata    schema version, Huduma Number issue counter, creation time
 *
 * Every logical change is one transaction (one WriteBatch) committed with a
 * synced WAL before it is acknowledged.  Concurrent committers are grouped by
 * RocksDB's write thread, so one fsync serves many changes.  Keys that a change
 * depends on (a document number, an enrolment id, a blocking key, the person
 * itself) are locked with GetForUpdate, so two concurrent changes can never both
 * claim the same document or enrolment id.
 *
 * Personal fields are sealed with AES-256-GCM by keys/ with the HN as
 * associated data; records are encoded as versioned JSON (see docs/record.md)
 * so that a later field never breaks older records.
 */
#ifndef HUDUMA_STORAGE_H
#define HUDUMA_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct keyring;

/* ---- the person record ------------------------------------------------ */

#define HN_LEN 12 /* digits of a Huduma Number, check digit included */
#define NAME_MAX_LEN 64
#define TEXT_MAX_LEN 128
#define ID_MAX_LEN 64
#define DOC_NUMBER_MAX_LEN 32
#define PERSON_MAX_DOCS 8
#define PERSON_MAX_FINGERS 10
#define TEMPLATE_MAX_LEN 4096
#define FACE_MAX_DIM 1024

enum sex { SEX_UNSET = 0, SEX_FEMALE, SEX_MALE, SEX_INTERSEX };

enum citizenship {
    CIT_UNSET = 0,
    CIT_KENYAN_BIRTH,
    CIT_KENYAN_REGISTRATION,
    CIT_FOREIGN,
};

enum marital_status {
    MARITAL_UNSET = 0,
    MARITAL_NEVER_MARRIED,
    MARITAL_MARRIED,
    MARITAL_DIVORCED,
    MARITAL_SEPARATED,
    MARITAL_WIDOWED,
};

enum person_status {
    STATUS_ACTIVE = 0,
    STATUS_PENDING_ADJUDICATION,
    STATUS_DECEASED,
    STATUS_REVOKED,
};

enum biometric_status {
    BIO_UNSET = 0,
    BIO_CAPTURED,
    BIO_EXEMPT_UNDER_6, /* a child: captured when they turn 6 */
    BIO_EXEMPT,         /* exempt with a reason (e.g. no fingers) */
    BIO_DUE,            /* turned 6, not yet captured */
};

enum doc_type {
    DOC_UNSET = 0,
    DOC_BIRTH_CERTIFICATE,
    DOC_NATIONAL_ID,
    DOC_PASSPORT,
    DOC_ALIEN_ID,
    DOC_REFUGEE_ID,
    DOC_DRIVING_LICENCE,
    DOC_KRA_PIN,
    DOC_NHIF,
    DOC_NSSF,
    DOC_WORK_PERMIT,
    DOC_STUDENT_ID,
    DOC_TYPE_COUNT,
};

/* A calendar date; day and month are 0 when only the year is known. */
struct date {
    int16_t year;
    uint8_t month;
    uint8_t day;
};

struct id_document {
    enum doc_type type;
    char number[DOC_NUMBER_MAX_LEN + 1];
    char issuer[TEXT_MAX_LEN + 1];
    struct date issued;
    struct date expires; /* year 0: no expiry */
};

struct enrolment_meta {
    char id[ID_MAX_LEN + 1];      /* the kit's enrolment id (idempotency key) */
    char officer[ID_MAX_LEN + 1]; /* registration officer */
    char centre[ID_MAX_LEN + 1];  /* centre or kit */
    int64_t captured_at;          /* unix seconds */
};

struct fingerprint {
    uint8_t position; /* ISO/IEC 19794-2 finger position, 1..10 */
    uint16_t len;
    uint8_t data[TEMPLATE_MAX_LEN];
};

struct biometrics {
    uint8_t nfingers;
    struct fingerprint fingers[PERSON_MAX_FINGERS];
    char face_model[ID_MAX_LEN + 1]; /* empty: no face */
    uint16_t face_dim;
    float face[FACE_MAX_DIM];
};

struct person {
    char hn[HN_LEN + 1]; /* empty while pending adjudication */
    uint32_t version;    /* 1 at enrolment, +1 per correction or event */

    char surname[NAME_MAX_LEN + 1];
    char first_name[NAME_MAX_LEN + 1];
    char other_names[NAME_MAX_LEN + 1];
    enum sex sex;
    struct date dob;
    bool dob_year_only;

    char birth_county[4];  /* "001".."047", or empty when born abroad */
    char birth_country[3]; /* ISO 3166-1 alpha-2 when born abroad */

    enum citizenship citizenship;
    char nationality[3]; /* ISO 3166-1 alpha-2, for foreign nationals */

    char res_county[4];
    char res_sub_county[NAME_MAX_LEN + 1];
    char res_ward[NAME_MAX_LEN + 1];
    char res_village[NAME_MAX_LEN + 1];

    enum marital_status marital;
    char phone[20]; /* E.164 */
    char email[TEXT_MAX_LEN + 1];

    char mother_hn[HN_LEN + 1];
    char father_hn[HN_LEN + 1];

    uint8_t ndocs;
    struct id_document docs[PERSON_MAX_DOCS];

    enum person_status status;
    enum biometric_status bio_status;
    char bio_exemption[TEXT_MAX_LEN + 1];

    struct date death_date; /* year 0 while alive */
    char death_certificate[DOC_NUMBER_MAX_LEN + 1];

    struct enrolment_meta enrolment;
    int64_t updated_at;
};

/* ---- errors ------------------------------------------------------------- */

enum st_status {
    ST_OK = 0,
    ST_NOT_FOUND = -1,
    ST_CONFLICT = -2, /* a uniqueness rule would break (document, enrolment id) */
    ST_BUSY = -3,     /* lock timeout or deadlock: safe to retry */
    ST_IO = -4,       /* RocksDB or the file system failed */
    ST_CORRUPT = -5,  /* a stored value does not decode or authenticate */
    ST_CRYPTO = -6,
    ST_INVALID = -7, /* caller error */
    ST_NOMEM = -8,
};

/* What failed; `field` names the record field (JSON path) when one is to blame. */
struct st_err {
    char field[64];
    char msg[256];
};

/* ---- the database ------------------------------------------------------- */

struct store;

struct store_options {
    bool create;         /* create the database if missing */
    bool sync;           /* sync the WAL at every commit (production: true) */
    size_t cache_mb;     /* block cache, 0 for the default */
    int lock_timeout_ms; /* GetForUpdate wait, 0 for the default */
};

int store_open(const char *dir, const struct store_options *opt, struct keyring *kr,
               struct store **out, struct st_err *err);
void store_close(struct store *st);
struct keyring *store_keyring(struct store *st);

/* Column families, for the register code in appliance/ and for tests. */
enum store_cf {
    CF_PERSONS = 0,
    CF_HISTORY,
    CF_INDEXES,
    CF_EVENTS,
    CF_DOCUMENTS,
    CF_PENDING,
    CF_BIOMETRICS,
    CF_METADATA,
    CF_COUNT,
};
const char *store_cf_name(enum store_cf cf);

/* How many serials were handed out (numbers issued, gaps included). */
uint64_t store_serials_issued(struct store *st);

/* ---- transactions: one logical change each ------------------------------ */

struct store_txn;

int store_txn_begin(struct store *st, struct store_txn **out, struct st_err *err);
/* Reads a key and locks it until commit or rollback.  *val is malloc'd (NULL when
 * absent, with ST_OK returned). */
int store_txn_get_locked(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                         char **val, size_t *vlen, struct st_err *err);
int store_txn_put(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                  const void *val, size_t vlen, struct st_err *err);
int store_txn_delete(struct store_txn *tx, enum store_cf cf, const void *key, size_t klen,
                     struct st_err *err);
/* Commits (WAL synced when opened with sync) and frees the transaction. */
int store_txn_commit(struct store_txn *tx, struct st_err *err);
void store_txn_rollback(struct store_txn *tx);

/* Plain read of the latest committed value; *val malloc'd. */
int store_get(struct store *st, enum store_cf cf, const void *key, size_t klen, char **val,
              size_t *vlen, struct st_err *err);

/* Ordered scan of keys starting with `prefix`; the callback returns non-zero to stop. */
typedef int (*store_scan_fn)(void *ctx, const char *key, size_t klen, const char *val,
                             size_t vlen);
int store_scan(struct store *st, enum store_cf cf, const void *prefix, size_t plen,
               store_scan_fn fn, void *ctx, struct st_err *err);

/*
 * Huduma Number serials: a counter, never reused.  store_alloc_serial() hands
 * out the next value (thread-safe); the change that uses it records it with
 * store_txn_put_serial() so that a restart resumes after the highest serial
 * ever committed.  A serial taken by a change that then fails is a gap.
 */
uint64_t store_alloc_serial(struct store *st);
int store_txn_put_serial(struct store_txn *tx, uint64_t serial, const char *hn,
                         struct st_err *err);

/* ---- the record's JSON form (docs/record.md) ------------------------------- */

/*
 * Decodes the JSON form of a person into *p (which it zeroes first, and zeroes
 * again on failure).  Checks syntax only: types, enum names, byte lengths,
 * UTF-8 without control characters, possible dates, the shapes of document
 * numbers, phone numbers, e-mail addresses and Huduma Numbers, and biometrics
 * (through biometrics_from_json(), then dropped).  Register rules (required
 * fields, known counties, biometrics by age) are the appliance's.  Output-only
 * members (huduma_number, version, status, ...) are decoded too; which members
 * a client may send is for the API to decide.  A null member counts as absent.
 * parents.mother_enrolment / father_enrolment are checked but have no place in
 * struct person: the appliance reads them from the JSON.  Unknown members are
 * refused when `strict` (API input) and ignored otherwise (stored records
 * written by a later version).  On failure returns ST_INVALID with err->field
 * the JSON path (e.g. "documents[1].number") and err->msg a sentence.
 */
int person_from_json(const json_t *obj, bool strict, struct person *p, struct st_err *err);
/* Encodes *p as a new JSON object (caller json_decref()s), omitting empty fields and
 * without the "v" member (the sealing layer adds it).  NULL when out of memory or
 * when *p holds a value with no JSON form (an unknown enum value, bad UTF-8). */
json_t *person_to_json(const struct person *p);

/* Decodes biometrics ({"fingerprints": [...], "face": {...}}); see docs/record.md.
 * Zeroes *b first.  Every template must be an ISO/IEC 19794-2:2005 record.
 * Unknown members are always refused; err->field is relative to obj. */
int biometrics_from_json(const json_t *obj, struct biometrics *b, struct st_err *err);
json_t *biometrics_to_json(const struct biometrics *b); /* NULL when out of memory */

/* "YYYY-MM-DD", or "YYYY" (month = day = 0, *year_only set) when year_only is not
 * NULL; years 1800-9999, real calendar dates.  0 or -1 (*d untouched). */
int date_parse(const char *s, struct date *d, bool *year_only);
/* "YYYY-MM-DD", "YYYY" when year_only or the month is 0, "" when unset. */
void date_format(const struct date *d, bool year_only, char out[11]);
bool date_is_set(const struct date *d);
int date_cmp(const struct date *a, const struct date *b);

/* The names of docs/record.md; NULL for an UNSET or unknown value. */
const char *sex_name(enum sex v);
const char *citizenship_name(enum citizenship v);
const char *marital_name(enum marital_status v);
const char *status_name(enum person_status v);
const char *bio_status_name(enum biometric_status v);
const char *doc_type_name(enum doc_type v);
enum doc_type doc_type_from_name(const char *s); /* DOC_UNSET when unknown */

/* ---- sealed records ------------------------------------------------------ */

/* Encodes and seals a person (AAD: the HN, or the enrolment id when pending). */
int person_seal(struct keyring *kr, const struct person *p, const char *aad, char **out,
                size_t *out_len, struct st_err *err);
int person_unseal(struct keyring *kr, const char *aad, const char *sealed, size_t len,
                  struct person *p, struct st_err *err);

/* Seals / unseals an arbitrary byte string (history notes, documents, biometrics). */
int blob_seal(struct keyring *kr, const char *aad, const void *plain, size_t len, char **out,
              size_t *out_len, struct st_err *err);
int blob_unseal(struct keyring *kr, const char *aad, const char *sealed, size_t len, char **out,
                size_t *out_len, struct st_err *err);

#endif
