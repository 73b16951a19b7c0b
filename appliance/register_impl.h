/*
 * appliance/register_impl.h - what the register's files share and nobody else
 * sees: the handle, index keys, the transaction runner and the rules.
 *
 * Index keys (column family "indexes"), one byte of kind then:
 *   'E' enrolment id              -> "A<hn>" assigned, "P" pending, "S<hn>" same as hn
 *   'D' mac(type ":" number)      -> "<hn>" or "P<enrolment id>" (held for a pending one)
 *   'B' mac(blocking key)         -> lines "H<hn>" / "P<enrolment id>", the people sharing it
 *   'U' YYYYMMDD <hn>             -> "" : biometrics due on that date
 * Document numbers and blocking keys are keyed hashes (keys_index_mac), so
 * the index discloses neither numbers nor names.
 */
#ifndef HUDUMA_REGISTER_IMPL_H
#define HUDUMA_REGISTER_IMPL_H

#include "register.h"

#include "keys/keys.h"

#include <pthread.h>
#include <stdatomic.h>

struct hn_scheme;

struct reg {
    struct store *st;
    struct keyring *kr;
    struct hn_scheme *hn;
    pthread_mutex_t hn_lock;
    int64_t fixed_now;
    _Atomic uint64_t event_seq;
    /* biometrics (register_bio.c) */
    pthread_mutex_t bio_lock;
    struct bioindex *bio; /* opened on first use */
    struct bio_settings bio_set;
};

#define IDX_KEY_MAX (1 + ID_MAX_LEN + HN_LEN + 8)

struct idx_key {
    size_t len;
    char b[IDX_KEY_MAX];
};

void key_enrolment(struct idx_key *k, const char *enrolment_id);
void key_document(struct reg *r, struct idx_key *k, enum doc_type type, const char *number);
void key_blocking(struct reg *r, struct idx_key *k, const struct person *p);
void key_due(struct idx_key *k, const struct date *due, const char *hn);

/* Time, as the register sees it (EAT, UTC+3, for "today"). */
int64_t reg_now(const struct reg *r);
struct date reg_today(const struct reg *r);

/* Runs fn inside a transaction, retrying on lock contention; commits on REG_OK. */
typedef int (*txn_fn)(struct reg *r, struct store_txn *tx, void *ctx, struct reg_result *res);
int reg_in_txn(struct reg *r, txn_fn fn, void *ctx, struct reg_result *res);

int reg_fail(struct reg_result *res, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int reg_from_st(struct reg_result *res, int st_rc, const struct st_err *err);

/* Loads a person (locked for update when tx is given). */
int load_person(struct reg *r, struct store_txn *tx, const char *hn, struct person *p,
                struct reg_result *res);
/* Writes the person's current version, its history entry and an event. */
int write_version(struct reg *r, struct store_txn *tx, const struct person *p, const char *kind,
                  const struct change_note *note, struct reg_result *res);
/* Locked read of an index key (*val malloc'd, NULL when absent). */
int idx_get_locked(struct store_txn *tx, const struct idx_key *k, char **val, size_t *vlen,
                   struct reg_result *res);
/* Seals a JSON value (taken over: decref'd) under `aad` and stages it at cf/key. */
int put_sealed_json(struct reg *r, struct store_txn *tx, enum store_cf cf, const void *key,
                    size_t klen, const char *aad, json_t *obj, struct reg_result *res);
int issue_number(struct reg *r, struct store_txn *tx, char hn[HN_LEN + 1], struct reg_result *res);

/* Blocking-key lists and document/due indexes. */
int block_add(struct reg *r, struct store_txn *tx, const struct person *p, const char *entry,
              struct reg_result *res);
int block_remove(struct reg *r, struct store_txn *tx, const struct person *p, const char *entry,
                 struct reg_result *res);
int docs_claim(struct reg *r, struct store_txn *tx, const struct person *p, const char *owner,
               struct reg_result *res);
int docs_release(struct reg *r, struct store_txn *tx, const struct person *p, const char *owner,
                 struct reg_result *res);
int due_index_update(struct reg *r, struct store_txn *tx, const struct person *before,
                     const struct person *after, struct reg_result *res);

/* ---- biometrics (register_bio.c) ---- */
void reg_bio_init(struct reg *r, const struct bio_settings *s);
void reg_bio_close(struct reg *r);
/* Prepares stored or sent biometrics for comparison (errors name "biometrics..."). */
int reg_bio_prepare(const struct biometrics *bio, struct bio_person **out, struct reg_result *res);
/* The deduplication search of an enrolment and its claim (docs: bioindex_claim);
 * the claim holds probe until reg_bio_settle(), which takes it over. */
int reg_bio_dedup(struct reg *r, const struct bio_person *probe, struct bio_result *found,
                  struct bio_claim **claim, struct reg_result *res);
void reg_bio_settle(struct reg *r, struct bio_claim *claim, const char *subject);
/* Index entries staged in a transaction, and the in-memory index told after
 * its commit (reg_bio_indexed takes p over). */
int reg_bio_stage(struct reg *r, struct store_txn *tx, const char *subject,
                  const struct bio_person *p, struct reg_result *res);
int reg_bio_unstage(struct reg *r, struct store_txn *tx, const char *subject,
                    struct reg_result *res);
void reg_bio_indexed(struct reg *r, const char *subject, struct bio_person *p);
void reg_bio_unindexed(struct reg *r, const char *subject);
/* A person's stored biometrics (REG_ENOTFOUND when none). */
int reg_stored_biometrics(struct reg *r, const char *hn, struct biometrics *out,
                          struct reg_result *res);

/* ---- rules (validate.c) ---- */
enum rule_mode { RULES_ENROL, RULES_BIRTH, RULES_CORRECT };
int age_years(const struct date *dob, const struct date *today);
struct date sixth_birthday(const struct person *p);
int check_person(struct reg *r, const struct person *p, const struct biometrics *bio,
                 enum rule_mode mode, struct reg_result *res);
void derive_bio_status(struct reg *r, struct person *p, const struct biometrics *bio);
int check_note(const struct change_note *note, bool need_evidence, struct reg_result *res);

#endif
