/*
 * appliance/register.h - the register's rules: enrolment, deduplication,
 * corrections, births, deaths, documents and the biometrics-due list.
 *
 * Everything that changes the register goes through here, and each call is one
 * transaction in storage/ (committed durably before it returns).  Inputs are
 * the JSON shapes of docs/record.md and docs/cli.md; every refusal names the
 * field to blame and changes nothing.
 */
#ifndef HUDUMA_REGISTER_H
#define HUDUMA_REGISTER_H

#include "storage/storage.h"

#include <jansson.h>

enum reg_code {
    REG_OK = 0,
    REG_EINVALID = -1,  /* bad input: field and msg say what */
    REG_ECONFLICT = -2, /* a uniqueness rule: document already linked, already deceased... */
    REG_ENOTFOUND = -3, /* no such person, enrolment or document */
    REG_EBUSY = -4,     /* contention persisted through retries */
    REG_ESTORAGE = -5,  /* RocksDB, I/O or a record that fails authentication */
    REG_EKEYS = -6,     /* the key hierarchy could not be used (TPM, PIN, PCRs, files) */
};

struct reg_result {
    int code;
    char field[64];
    char msg[256];
};

enum enrol_outcome {
    ENROL_ASSIGNED,    /* a new Huduma Number */
    ENROL_REPLAYED,    /* this enrolment id was seen before: same answer, nothing created */
    ENROL_PENDING,     /* possible duplicate: held for adjudication */
    ENROL_REFUSED_DUP, /* adjudicated earlier as the same person as `hn` */
};

#define ENROL_MAX_CANDIDATES 8

/* What made a candidate: biometric scores (when `biometric`), or names,
 * date of birth and sex alone. */
struct candidate_score {
    bool biometric;
    enum bio_band band;
    struct bio_scores scores;
};

struct enrol_answer {
    enum enrol_outcome outcome;
    bool pending_replayed; /* ENROL_PENDING for an enrolment id seen before */
    char hn[HN_LEN + 1];
    char enrolment_id[ID_MAX_LEN + 1];
    unsigned ncandidates;
    /* a Huduma Number, or "pending:<enrolment id>" for another held enrolment */
    char candidates[ENROL_MAX_CANDIDATES][ID_MAX_LEN + 10];
    struct candidate_score scores[ENROL_MAX_CANDIDATES];
};

/* Who changed a record, why, and on what evidence. */
struct change_note {
    const char *reason;
    const char *officer;
    const char *evidence;
};

struct reg;
struct keyholder;
struct keys_options;

/* Biometric decisions (docs/biometrics.md; hudumad.conf [biometrics]). */
struct bio_settings {
    struct bio_thresholds thresholds;
    enum bio_band dedup_band;    /* a candidate this good holds an enrolment (medium) */
    enum bio_band verify_band;   /* a verification this good is a match (medium) */
    enum bio_band identify_band; /* candidates an identification reports (low) */
    unsigned identify_max;       /* at most this many (10) */
};
void bio_settings_default(struct bio_settings *s);
/* One `name = value` of [biometrics] (docs/configuration.md); -1 with why. */
int bio_settings_key(struct bio_settings *s, const char *name, const char *value, char *why,
                     size_t len);
/* The thresholds of each modality must rise from low to high; -1 with why. */
int bio_settings_check(const struct bio_settings *s, char *why, size_t len);

struct reg_options {
    bool sync;   /* sync the WAL on commit (default true; tests of speed may not) */
    int64_t now; /* 0: the real clock; otherwise a fixed "now" (unix seconds) for tests */
    const struct bio_settings *bio; /* NULL: the defaults */
    struct keyholder *keys;         /* required: where the master key is (keys.h); the caller's */
};

/*
 * Creates a new register in dir: its key hierarchy (dir/keys, keys_create():
 * the master key sealed in the TPM, or a plain file with
 * ko->insecure_software_key) and its database (dir/db) with the first
 * data-encryption key.  Nothing is left behind on failure.  On success
 * *keys (when not NULL) is the open key holder, for ca_init() and the like.
 */
int reg_init(const char *dir, const struct keys_options *ko, struct keyholder **keys,
             struct reg_result *res);
int reg_open(const char *dir, const struct reg_options *opt, struct reg **out,
             struct reg_result *res);
void reg_close(struct reg *r);

/* Enrols a person (record: docs/record.md; biometrics and parent refs allowed). */
int reg_enrol(struct reg *r, const json_t *record, struct enrol_answer *ans,
              struct reg_result *res);
/* Registers a birth: a child under 6 linked to its mother (and father when known). */
int reg_birth(struct reg *r, const json_t *record, struct enrol_answer *ans,
              struct reg_result *res);

/* Reads the current record. */
int reg_get(struct reg *r, const char *hn, struct person *p, struct reg_result *res);

/* Applies `changes` (members of the record to replace; null removes an optional one). */
int reg_correct(struct reg *r, const char *hn, const json_t *changes,
                const struct change_note *note, uint32_t *new_version, struct reg_result *res);

/* Every version of a record, oldest first, with the note of the change that made it. */
typedef int (*reg_history_fn)(void *ctx, const struct person *p, const json_t *change);
int reg_history(struct reg *r, const char *hn, reg_history_fn fn, void *ctx,
                struct reg_result *res);

/* Records a death.  The record stays; its status becomes deceased. */
int reg_death(struct reg *r, const char *hn, const char *date, const char *certificate,
              const struct change_note *note, struct reg_result *res);

/* Records a document issued to a person (doc: {"type","number","issuer","issued","expires"}). */
int reg_issue_document(struct reg *r, const char *hn, const json_t *doc, const char *officer,
                       struct reg_result *res);
/* Documents issued to a person, as a new JSON array. */
int reg_documents(struct reg *r, const char *hn, json_t **out, struct reg_result *res);

/* Finds the person holding a document number; type NULL tries every type. */
int reg_lookup_document(struct reg *r, const char *type, const char *number, char hn[HN_LEN + 1],
                        struct reg_result *res);

/* People whose biometrics are due on or before `as_of` (YYYY-MM-DD, NULL: today). */
typedef int (*reg_due_fn)(void *ctx, const char *hn, const char *due_date);
int reg_due_biometrics(struct reg *r, const char *as_of, reg_due_fn fn, void *ctx,
                       struct reg_result *res);

/* The answer already given to an enrolment id. */
int reg_enrolment_status(struct reg *r, const char *enrolment_id, struct enrol_answer *ans,
                         struct reg_result *res);

/* Pending enrolments with their candidates. */
typedef int (*reg_pending_fn)(void *ctx, const struct enrol_answer *pending);
int reg_pending(struct reg *r, reg_pending_fn fn, void *ctx, struct reg_result *res);

/* Decides a pending enrolment: same person as `same_as` (refused), or different (assigned). */
int reg_adjudicate(struct reg *r, const char *enrolment_id, const char *same_as,
                   const struct change_note *note, struct enrol_answer *ans,
                   struct reg_result *res);

/* The answer as JSON: outcome, enrolment_id, huduma_number, candidates (when pending and asked). */
json_t *enrol_answer_json(const struct enrol_answer *a, bool with_candidates);

/* 1:1 biometric verification of a person against a probe (biometrics JSON as
 * in docs/record.md): the scores of what both have, their band, and whether
 * that band reaches the verification band.  Nothing compared (no biometrics
 * on record, none in common) is no match. */
struct bio_verdict {
    bool compared;
    bool match;
    enum bio_band band;
    struct bio_scores scores;
};
int reg_verify_biometrics(struct reg *r, const char *hn, const json_t *probe, struct bio_verdict *v,
                          struct reg_result *res);

/* 1:N identification: the numbered persons most like the probe, best first
 * (at most reg_identify_max(), at least the identification band). */
struct reg_candidate {
    char hn[HN_LEN + 1];
    enum bio_band band;
    struct bio_scores scores;
};
int reg_identify(struct reg *r, const json_t *probe, struct reg_candidate *out, unsigned *n,
                 struct reg_result *res);
unsigned reg_identify_max(const struct reg *r);

/* Huduma Numbers issued so far (a serial lost to a failed change counts too). */
uint64_t reg_numbers_issued(struct reg *r);

/* The register's database, for what lives beside the register in it (the
 * audit log); its keyring is store_keyring(reg_store(r)). */
struct store *reg_store(struct reg *r);

#endif
