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

#define HN_LEN             12 /* digits of a Huduma Number, check digit included */
#define NAME_MAX_LEN       64
#define TEXT_MAX_LEN       128
#define ID_MAX_LEN         64
#define DOC_NUMBER_MAX_LEN 32
#define PERSON_MAX_DOCS    8
#define PERSON_MAX_FINGERS 10
#define TEMPLATE_MAX_LEN   4096
#define FACE_MAX_DIM       1024

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
typedef int (*store_scan_fn)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen);
int store_scan(struct store *st, enum store_cf cf, const void *prefix, size_t plen,
               store_scan_fn fn, void *ctx, struct st_err *err);

/*
 * Huduma Number serials: a counter, never reused.  store_alloc_serial() hands
 * out the next value (thread-safe); the change that uses it records it with
 * store_txn_put_serial() so that a restart resumes after the highest serial
 * ever committed.  A serial taken by a change that then fails is a gap.
 */
uint64_t store_alloc_serial(struct store *st);
int store_txn_put_serial(struct store_txn *tx, uint64_t serial, const char *hn, struct st_err *err);

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

/* ---- the audit log (storage/audit_*.c; docs/audit.md) ----------------------------
 * An append-only Merkle tree of access records ("leaves") as RFC 9162 defines it:
 * leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right), the
 * empty tree's root SHA-256("").  It has a RocksDB database of its own (one
 * writer, no transactions; the daemon keeps it in <register>/audit/db):
 *
 *   'B' first(BE64)            -> a batch of leaves as appended: for each, its
 *                                 leaf hash (32 bytes), its length (BE16), itself
 *   column family "nodes":
 *   'N' height(1) index(BE64)  -> hash of the complete subtree of that height,
 *                                 for heights 8, 16, ... (the hashes of the
 *                                 c2sp.org/tlog-tiles tiles at levels 1 and up)
 *   'M' name                   -> small values: "size" (BE64), the last signed
 *                                 checkpoint, ...
 *   column family "subjects": subject(16) index(BE64) -> "", which leaves name
 *                                 a subject
 *
 * Every other hash is recomputed from those when asked for.  Appends are one
 * WriteBatch each (synced when the log was opened so), so a crash leaves the
 * tree at a batch boundary.  A log is used by one process at a time.
 */
#define AUDIT_HASH_LEN    32
#define AUDIT_SUBJECT_LEN 16
#define AUDIT_LEAF_MAX    1024
#define AUDIT_TILE_WIDTH  256
#define AUDIT_PROOF_MAX   64 /* hashes in an inclusion or consistency proof */

struct audit_log;

/* Opens the log in dir (made when missing and `create`; every append synced
 * when `sync`) and checks that its stored size and hashes hang together.
 * ST_CORRUPT names what is missing. */
int audit_log_open(const char *dir, bool create, bool sync, struct audit_log **out,
                   struct st_err *err);
void audit_log_close(struct audit_log *log);

struct audit_leaf {
    const void *data;
    size_t len;             /* 0 .. AUDIT_LEAF_MAX */
    const uint8_t *subject; /* AUDIT_SUBJECT_LEN bytes, or NULL */
};

/* Appends n leaves in one WriteBatch; *first gets the first one's index.  Any
 * thread; appends are serialised.  On failure nothing is appended. */
int audit_log_append(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                     uint64_t *first, struct st_err *err);
/* The same, setting the named value `name` (see audit_log_meta_put) in the same
 * batch: a mark of what was appended, so that an append is never repeated. */
int audit_log_append_mark(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                          const char *name, const void *val, size_t len, uint64_t *first,
                          struct st_err *err);
/* The tree as last appended: its size and root, taken together. */
void audit_log_head(struct audit_log *log, uint64_t *size, uint8_t root[AUDIT_HASH_LEN]);
/* The root of the tree when it had `size` leaves (size <= the current size). */
int audit_log_root_at(struct audit_log *log, uint64_t size, uint8_t root[AUDIT_HASH_LEN],
                      struct st_err *err);
/* Leaf `index` (malloc'd); ST_NOT_FOUND when absent. */
int audit_log_leaf(struct audit_log *log, uint64_t index, char **data, size_t *len,
                   struct st_err *err);
/* Calls fn for each leaf stored with an index in [start, end), in order; a
 * non-zero return stops the walk. */
typedef int (*audit_leaf_fn)(void *ctx, uint64_t index, const char *data, size_t len);
int audit_log_scan(struct audit_log *log, uint64_t start, uint64_t end, audit_leaf_fn fn, void *ctx,
                   struct st_err *err);
/* RFC 9162 2.1.3.1 PATH(index, D[size]) and 2.1.4.1 PROOF(m, D[n]) into
 * path[AUDIT_PROOF_MAX]; ST_INVALID when the indices make no proof. */
int audit_log_inclusion(struct audit_log *log, uint64_t index, uint64_t size,
                        uint8_t path[][AUDIT_HASH_LEN], size_t *npath, struct st_err *err);
int audit_log_consistency(struct audit_log *log, uint64_t m, uint64_t n,
                          uint8_t path[][AUDIT_HASH_LEN], size_t *npath, struct st_err *err);
/* The c2sp.org/tlog-tiles tile (level, index) of `width` hashes (1..256) into
 * out (width * 32 bytes); ST_NOT_FOUND when the tree does not reach its end. */
int audit_log_tile(struct audit_log *log, unsigned level, uint64_t index, unsigned width,
                   uint8_t *out, struct st_err *err);
/* The indices of the leaves naming `subject`, oldest first. */
typedef int (*audit_index_fn)(void *ctx, uint64_t index);
int audit_log_by_subject(struct audit_log *log, const uint8_t subject[AUDIT_SUBJECT_LEN],
                         audit_index_fn fn, void *ctx, struct st_err *err);
/* Small named values kept beside the tree (names of 1-32 bytes).  get: *val
 * malloc'd, NULL when absent.  put: written synced on its own. */
int audit_log_meta_get(struct audit_log *log, const char *name, char **val, size_t *len,
                       struct st_err *err);
int audit_log_meta_put(struct audit_log *log, const char *name, const void *val, size_t len,
                       struct st_err *err);

/* Named values set in the same batch as an append (audit_log_fold). */
struct audit_mark {
    const char *name;
    const void *val;
    size_t len;
};
/* Appends as audit_log_append does, setting the marks in the same batch,
 * without syncing: a crash may lose it whole (never in part) until the next
 * audit_log_sync().  For leaves already durable elsewhere (the journal). */
int audit_log_fold(struct audit_log *log, const struct audit_leaf *leaves, size_t n,
                   const struct audit_mark *marks, size_t nmarks, uint64_t *first,
                   struct st_err *err);
/* Makes every append so far durable. */
int audit_log_sync(struct audit_log *log, struct st_err *err);

/* ---- the audit journal (storage/audit_journal.c) -----------------------------------
 * Where a leaf becomes durable first: a circular, preallocated file per writer
 * thread, written one synced write at a time (by the caller: hudumad's rings
 * through io_uring), read back after a crash from the position the log last
 * folded.  A position: the linear offset of the next record and its number. */
#define AUDIT_JOURNAL_BLOCK 4096
#define AUDIT_JOURNAL_MB    64 /* a journal's default size */

struct audit_journal_pos {
    uint64_t offset, seq;
};

/* Leaves written, handed to the fold.  leaves[] point into the chunk itself. */
struct audit_chunk {
    struct audit_chunk *next;
    unsigned journal;             /* which journal wrote them */
    struct audit_journal_pos end; /* the journal's position after them */
    size_t n, bytes;
    struct audit_leaf leaves[];
};
void audit_chunk_free(struct audit_chunk *c);

struct audit_journal;
/* Opens (making it when missing) the journal at path, of `capacity` bytes (a
 * multiple of 4096), to write from *at: everything before *at must be folded.
 * A file of another size is made anew, and *at->offset becomes 0. */
int audit_journal_open(const char *path, unsigned index, uint64_t capacity,
                       struct audit_journal_pos *at, struct audit_journal **out,
                       struct st_err *err);
void audit_journal_close(struct audit_journal *j);
int audit_journal_fd(const struct audit_journal *j);
unsigned audit_journal_index(const struct audit_journal *j);
/* The writer's thread only.  Queues a copy of a leaf for the next write. */
int audit_journal_add(struct audit_journal *j, const void *leaf, size_t len,
                      const uint8_t *subject);
size_t audit_journal_queued(const struct audit_journal *j);
bool audit_journal_busy(const struct audit_journal *j);
size_t audit_journal_inflight(const struct audit_journal *j); /* leaves in the write in flight */
/* The next write: w->len bytes of w->buf at w->file_offset, making the first
 * w->leaves queued leaves durable.  false: nothing queued, a write in flight,
 * or no room until the fold reclaims some. */
struct audit_journal_write {
    const void *buf;
    size_t len;
    uint64_t file_offset;
    size_t leaves;
};
bool audit_journal_prepare(struct audit_journal *j, struct audit_journal_write *w);
/* A write that makes nothing new durable: the block the tail is in, as it
 * already is on disk (zeros past the tail), to learn whether the disk takes
 * writes again after one failed.  Completed like any write (w->leaves is 0).
 * false: a write in flight, or that block not yet reclaimed by the fold. */
bool audit_journal_prepare_probe(struct audit_journal *j, struct audit_journal_write *w);
/* The write's result (bytes written, or -errno).  ST_OK: its leaves are
 * durable, and *chunk (NULL when it held none) is theirs, for the fold.
 * Otherwise they are dropped, and the next write starts where it did. */
int audit_journal_complete(struct audit_journal *j, long res, struct audit_chunk **chunk,
                           struct st_err *err);
/* prepare, pwrite, complete: for tools and tests.  ST_BUSY when full. */
int audit_journal_write_sync(struct audit_journal *j, struct audit_chunk **chunk,
                             struct st_err *err);
struct audit_journal_pos audit_journal_tail(const struct audit_journal *j);
/* Any thread: the records before `offset` are durably in the log. */
void audit_journal_reclaim(struct audit_journal *j, uint64_t offset);
/* Reads the records from *at on, giving them to fn a chunk at a time (the
 * chunk is lent, not given); *at is left after the last whole record. */
typedef int (*audit_chunk_fn)(void *ctx, struct audit_chunk *c);
int audit_journal_scan(const char *path, unsigned index, struct audit_journal_pos *at,
                       audit_chunk_fn fn, void *ctx, struct st_err *err);

/* ---- the fold (storage/audit_fold.c) ------------------------------------------------
 * A thread that appends the chunks the journals wrote to the log's tree, many
 * at a time and unsynced, each journal's position marked in the same batch
 * ("journal.<index>"); it syncs the log every fraction of a second, and then
 * lets each attached journal reuse what was folded.  after_sync(ctx) runs
 * after each sync (to wake writers waiting for room). */
#define AUDIT_JOURNALS_MAX 64
struct audit_folder;
struct audit_fold_stats {
    uint64_t chunks, leaves, folds, syncs, failed;
    char last_error[256];
};
int audit_folder_start(struct audit_log *log, void (*after_sync)(void *ctx), void *ctx,
                       struct audit_folder **out, struct st_err *err);
/* The journal whose chunks carry this index may reuse what is folded. */
void audit_folder_attach(struct audit_folder *f, struct audit_journal *j);
/* Any thread; takes the chunk; never blocks on the disk. */
void audit_folder_push(struct audit_folder *f, struct audit_chunk *c);
/* Returns once everything pushed before the call is in the tree and, when
 * `synced`, durable there too; else the fold's error.  A tree read only when
 * synced can never change after a crash (the journals refold in their own
 * order, which may differ from the order the fold took). */
int audit_folder_settle(struct audit_folder *f, bool synced, struct st_err *err);
/* Folds and syncs what was pushed, then stops the thread and frees f; the
 * thread's final figures go to `final` when not NULL. */
void audit_folder_stop(struct audit_folder *f, struct audit_fold_stats *final);
void audit_folder_stats(struct audit_folder *f, struct audit_fold_stats *out);
/* The mark's name for journal `index` ("journal.<index>"), and its value. */
void audit_journal_mark_name(unsigned index, char out[32]);
void audit_journal_mark_put(const struct audit_journal_pos *at, unsigned char out[16]);
int audit_journal_mark_get(const void *val, size_t len, struct audit_journal_pos *at);
/* Where journal `index` was last folded to, from its mark; 0, 0 when none. */
int audit_journal_mark(struct audit_log *log, unsigned index, struct audit_journal_pos *at,
                       struct st_err *err);
/* After a crash: folds what the journal at path holds beyond its mark into the
 * log (unsynced; *leaves grows by how many).  The caller syncs. */
int audit_journal_recover(struct audit_log *log, const char *path, unsigned index, uint64_t *leaves,
                          struct st_err *err);

/* RFC 9162 arithmetic (storage/audit_merkle.c): pure functions, no database. */
void audit_leaf_hash(const void *leaf, size_t len, uint8_t out[AUDIT_HASH_LEN]);
void audit_node_hash(const uint8_t left[AUDIT_HASH_LEN], const uint8_t right[AUDIT_HASH_LEN],
                     uint8_t out[AUDIT_HASH_LEN]);
/* The right edge of a tree (its complete subtrees, largest first), to which
 * leaf hashes are pushed one by one: the root of any size in O(log n) memory. */
struct audit_range {
    uint64_t size;
    uint8_t peak[64][AUDIT_HASH_LEN]; /* peak[h]: the subtree of 2^h leaves, when bit h of size */
};
void audit_range_init(struct audit_range *r);
void audit_range_push(struct audit_range *r, const uint8_t leaf_hash[AUDIT_HASH_LEN]);
void audit_range_root(const struct audit_range *r, uint8_t root[AUDIT_HASH_LEN]);
/* Proofs are verified by keys_merkle_inclusion and keys_merkle_consistency
 * (keys/keys.h), the same code huduma-audit and checkpoint signing use. */

/* ---- biometric comparison (storage/mcc*.c; docs/biometrics.md) ---------------------
 * Fingers are compared with the project's own Minutia Cylinder-Code matcher
 * (Cappelli, Ferrara and Maltoni, IEEE TPAMI 2010: bit-based cylinders, LSS-R);
 * faces by the cosine of their embeddings (same model only).  A person's score
 * against another fuses the fingers both have (the mean of their scores) and
 * keeps the face score beside it; bands turn scores into the false match
 * rates measured for them (docs/biometrics.md).
 */
struct mcc_finger;

/* Prepares a finger (its ISO record, as biometrics_from_json() keeps it). */
int mcc_finger_new(const struct fingerprint *fp, struct mcc_finger **out, struct st_err *err);
void mcc_finger_free(struct mcc_finger *f);
/* Minutiae whose cylinder is valid: only they take part in matching. */
unsigned mcc_finger_cylinders(const struct mcc_finger *f);
/* Similarity of two fingers, 0 (nothing alike) to 1.  Thread-safe, no allocation. */
float mcc_match(const struct mcc_finger *a, const struct mcc_finger *b);

/* A person's biometrics prepared for comparison (every finger, the face). */
struct bio_person;
int bio_person_new(const struct biometrics *b, struct bio_person **out, struct st_err *err);
void bio_person_free(struct bio_person *p);
bool bio_person_empty(const struct bio_person *p); /* no finger and no face */

struct bio_scores {
    float finger;       /* mean score of the fingers both have, 0-1 */
    unsigned fingers;   /* how many finger positions were compared */
    float face;         /* cosine of the embeddings, -1..1 */
    bool face_compared; /* both have a face of the same model */
};
void bio_compare(const struct bio_person *a, const struct bio_person *b, struct bio_scores *s);

/* Score bands: low, medium, high are the thresholds of each modality
 * (defaults: the scores measured at a false match rate of 1%, 0.1%, 0.01%). */
enum bio_band { BIO_BAND_NONE, BIO_BAND_LOW, BIO_BAND_MEDIUM, BIO_BAND_HIGH };
struct bio_thresholds {
    float finger[3];
    float face[3];
};
void bio_thresholds_default(struct bio_thresholds *t);
/* The higher of the finger band and the face band. */
enum bio_band bio_band_of(const struct bio_scores *s, const struct bio_thresholds *t);
const char *bio_band_name(enum bio_band b); /* "none", "low", "medium", "high" */

/* ---- the 1:N biometric index (storage/bioindex*.c; docs/biometrics.md) ----------
 * Who in the register resembles a probe person: fingers through hashing of
 * their cylinders, faces through an exhaustive scan of sign codes, then the
 * shortlist compared in full with bio_compare().  Subjects are Huduma
 * Numbers, or "P" + the enrolment id of an enrolment held for adjudication.
 * Entries live sealed in the column family "indexes" ('F' + subject), staged
 * in the same transaction as the enrolment they index; the in-memory index
 * is told after the commit (bioindex_add, bioindex_forget, bioindex_settle).
 * All functions are thread-safe.
 */
#define BIO_SUBJECT_MAX    (ID_MAX_LEN + 1)
#define BIO_MAX_CANDIDATES 16

struct bioindex;
struct bio_claim;

/* Loads every stored entry (one decryption each; no template is parsed). */
int bioindex_open(struct store *st, struct bioindex **out, struct st_err *err);
void bioindex_close(struct bioindex *ix);
size_t bioindex_count(struct bioindex *ix); /* subjects indexed */

/* Stages a subject's entry, or its removal, in a transaction. */
int bioindex_stage_put(struct bioindex *ix, struct store_txn *tx, const char *subject,
                       const struct bio_person *p, struct st_err *err);
int bioindex_stage_delete(struct bioindex *ix, struct store_txn *tx, const char *subject,
                          struct st_err *err);
/* After the commit: the in-memory index follows.  bioindex_add takes p over. */
int bioindex_add(struct bioindex *ix, const char *subject, struct bio_person *p);
void bioindex_forget(struct bioindex *ix, const char *subject);

struct bio_candidate {
    char subject[BIO_SUBJECT_MAX + 1];
    struct bio_scores scores;
    enum bio_band band;
};

/* Fills *out with a subject's stored biometrics; ST_NOT_FOUND skips it. */
typedef int (*bio_fetch_fn)(void *ctx, const char *subject, struct biometrics *out);

struct bio_query {
    const struct bio_person *probe;
    const struct bio_thresholds *thresholds;
    enum bio_band min_band; /* candidates below it (and in band none) are dropped */
    unsigned max;           /* at most this many candidates, 1..BIO_MAX_CANDIDATES */
    bio_fetch_fn fetch;
    void *ctx;
    const char *exclude; /* a subject never to report, or NULL */
};

struct bio_result {
    unsigned n; /* candidates, best first: band, then finger score, then face */
    struct bio_candidate c[BIO_MAX_CANDIDATES];
    uint64_t generation; /* the index as the search saw it */
    bool stale;          /* bioindex_claim: too much was added since; search again */
    unsigned finger_listed, face_listed, compared;
    uint64_t postings; /* bucket entries read */
};

int bioindex_search(struct bioindex *ix, const struct bio_query *q, struct bio_result *r,
                    struct st_err *err);

/*
 * Concurrent enrolments: after bioindex_search() and before committing, a
 * claim compares the probe with everything added since the search (adding
 * what it finds to r) and with other open claims (waiting for a matching one
 * to settle first), then registers the probe, so that no two enrolments of
 * one person pass each other.  *out is NULL when r->stale (search again).
 * bioindex_settle() closes the claim after the transaction: the subject it
 * was committed under, or NULL when it was not; it takes the probe over.
 */
int bioindex_claim(struct bioindex *ix, const struct bio_query *q, struct bio_result *r,
                   struct bio_claim **out);
int bioindex_settle(struct bioindex *ix, struct bio_claim *c, const char *subject);

/* Synthetic biometrics for tests and benchmarks (storage/mcc_synth.c): the
 * same arguments always give the same bytes.  Impression 0 of a finger is its
 * first capture; others are re-captures (distorted, moved, cropped, minutiae
 * missing and spurious).  A face is an identity direction plus noise of the
 * given strength (0.6: a mated cosine near 0.74). */
void bio_synth_finger(uint64_t seed, uint64_t person, unsigned position, unsigned impression,
                      struct fingerprint *out);
void bio_synth_face(uint64_t seed, uint64_t person, unsigned capture, unsigned dim, float noise,
                    float *out);

/* ---- data-encryption keys and their rotation (storage/deks.c, rekey.c) ---------- */

/*
 * The DEKs that seal records are kept in the metadata family, wrapped by the
 * master key; the key holder (keys.h: the TPM, or hudumad's key process)
 * makes and unwraps them.  A rotation makes a new DEK that new writes use at
 * once; store_rekey_step() then re-seals the older records in the background,
 * resumably (progress is committed with each step); records under any older
 * key stay readable.
 */
struct keyholder;

/* A new register's first DEK (id 1); ST_CONFLICT when it has DEKs already. */
int store_deks_create(struct store *st, struct keyholder *h, struct st_err *err);
/* Unwraps every DEK into the store's keyring and makes the recorded one current. */
int store_deks_load(struct store *st, struct keyholder *h, struct st_err *err);
/* Makes DEK `id` (in the keyring) the one new writes use. */
int store_deks_use(struct store *st, uint32_t id, struct st_err *err);
/* Makes, stores and switches to a new DEK, and records a re-encryption to
 * run; ST_CONFLICT while an earlier one is still running. */
int store_dek_rotate(struct store *st, struct keyholder *h, uint32_t *new_id, struct st_err *err);

struct store_rekey {
    uint32_t current;  /* the DEK new writes use */
    bool running;      /* a re-encryption is recorded and not finished */
    uint32_t target;   /* the DEK it re-seals to */
    unsigned pass;     /* 1: re-encrypting; 2 and on: checking for stragglers */
    uint64_t done;     /* records examined in the first pass */
    uint64_t total;    /* sealed records when the rotation began */
    uint64_t resealed; /* records re-sealed so far */
};
int store_rekey_status(struct store *st, struct store_rekey *out, struct st_err *err);
/* Re-seals up to `batch` (at most 256) records in one transaction and saves
 * the progress with them; *finished when nothing is left (or nothing ran);
 * *after (may be NULL) gets the progress this step left, running false once
 * finished.  ST_BUSY when a writer held a lock: call again. */
int store_rekey_step(struct store *st, size_t batch, struct store_rekey *after, bool *finished,
                     struct st_err *err);

#endif
