/*
 * appliance/audit.h - the sealed audit log as the appliance and its auditors
 * see it (docs/audit.md): what a leaf says, signed checkpoints, the daemon's
 * side (which requests append a leaf, the checkpointer), administrative acts
 * recorded by the `huduma` tool, and the offline checks of `huduma-audit`.
 *
 *   audit_leaf.c    a leaf: one line of JSON, its fields, parsing it back
 *   audit_note.c    checkpoints in the C2SP tlog-checkpoint form inside a
 *                   signed note; ECDSA P-256 signatures (note type 0x02)
 *   audit_signer.c  the register's audit signing key (keys/) as a signer
 *   audit.c         the daemon: leaves of requests into the rings' journals,
 *                   the fold, the checkpointer, administrative acts and their spool
 *   audit_api.c     the auditor routes and the resident's access history
 *   audit_check.c   what huduma-audit verifies, and its verdicts
 *
 * The Merkle tree itself is storage's (storage.h, "the audit log").
 */
#ifndef HUDUMA_AUDIT_H
#define HUDUMA_AUDIT_H

#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reg;
struct keyring;

/* ---- a leaf (audit_leaf.c) ------------------------------------------------------ */

#define AUDIT_AGENCY_MAX  64
#define AUDIT_OP_MAX      32
#define AUDIT_PURPOSE_MAX 128
#define AUDIT_TARGET_MAX  64
#define AUDIT_TXID_LEN    32        /* hex digits */
#define AUDIT_BY_CLI      "@cli"    /* the agency of an act done with the huduma tool */
#define AUDIT_BY_DAEMON   "@daemon" /* ... and of one hudumad did itself */

/* What a leaf says.  Strings are printable ASCII (others are replaced by '?'). */
struct audit_record {
    int64_t time_ms; /* Unix time, milliseconds */
    char agency[AUDIT_AGENCY_MAX + 1];
    char op[AUDIT_OP_MAX + 1];
    char purpose[AUDIT_PURPOSE_MAX + 1];
    bool has_subject;
    uint8_t subject[AUDIT_SUBJECT_LEN]; /* keyed hash of a Huduma Number */
    char target[AUDIT_TARGET_MAX + 1];  /* administrative acts: what was acted on ("" none) */
    int result;                         /* HTTP status of the answer (200 for acts) */
    char txid[AUDIT_TXID_LEN + 1];
};

/* The leaf: one line of JSON, members in a fixed order,
 *   {"v":1,"time":"2026-11-26T09:12:44.123Z","agency":"kra","op":"verify",
 *    "purpose":"...","subject":"<32 hex>","result":200,"txid":"<32 hex>"}
 * ("subject" and "target" only when set).  Returns its length, or -1 when it
 * does not fit in outlen. */
int audit_leaf_format(const struct audit_record *r, char *out, size_t outlen);
/* Parses a leaf back, strictly (docs/audit.md): -1 with a reason when it is
 * not exactly such a line. */
int audit_leaf_parse(const char *leaf, size_t len, struct audit_record *r, char *err,
                     size_t errlen);
/* The subject of a Huduma Number: HMAC-SHA-256 under the keyring's index key
 * (an HKDF subkey of the master key), domain "audit subject", 16 bytes. */
void audit_subject_of(const struct keyring *kr, const char *hn, uint8_t out[AUDIT_SUBJECT_LEN]);
/* 32 random hex digits. */
int audit_txid(char out[AUDIT_TXID_LEN + 1]);
void audit_hex(const uint8_t *b, size_t n, char *out); /* 2n digits and a NUL */

/* ---- checkpoints and signed notes (audit_note.c) ---------------------------------- */

#define AUDIT_ORIGIN_MAX 128
#define AUDIT_NOTE_MAX   8192 /* a checkpoint with its signatures */
#define AUDIT_SIG_MAX    160  /* a DER ECDSA signature (P-521 at most) */
#define AUDIT_NOTE_SIGS  32   /* signature lines read from one note */

struct audit_checkpoint {
    char origin[AUDIT_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[AUDIT_HASH_LEN];
};

/* One signature line of a note: its key name, key id and signature bytes. */
struct audit_note_sig {
    char name[AUDIT_ORIGIN_MAX + 1];
    uint8_t key_id[4];
    size_t len;
    uint8_t sig[AUDIT_SIG_MAX];
};

/* A note: the checkpoint its text holds, the text's length (what is signed,
 * final newline included) and its signature lines. */
struct audit_note {
    struct audit_checkpoint cp;
    size_t text_len;
    size_t nsigs;
    struct audit_note_sig sigs[AUDIT_NOTE_SIGS];
};

/* Whoever signs: sign() gets the note text (the checkpoint's three lines)
 * and writes a DER ECDSA signature over its SHA-256 into sig (*len in: room,
 * out: length); 0 or -1 with err.  It is handed the text, not a digest, and
 * the consistency proof from the tree it signed last (nproof hashes; none the
 * first time), so that the register's key can see what it signs and refuse a
 * log that does not grow from the last one (keys.h, keys_sign_checkpoint).  pem is the public key
 * (SubjectPublicKeyInfo), for the key id and for auditors.
 * audit_keys_signer() makes one of the register's key in the TPM. */
struct audit_signer {
    int (*sign)(void *ctx, const char *text, size_t len, const uint8_t (*proof)[AUDIT_HASH_LEN],
                size_t nproof, uint8_t *sig, size_t *siglen, char *err, size_t errlen);
    void *ctx;
    const char *pem;
};

/* Canonical base64 (RFC 4648 section 4) of exactly n characters into out;
 * the length decoded, or -1. */
int audit_b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax);
/* "<origin>\n<size>\n<base64 root>\n": the checkpoint's note text. */
int audit_checkpoint_text(const struct audit_checkpoint *cp, char *out, size_t outlen);
/* The signed note: text, blank line, "— <origin> <base64(key id || sig)>\n".
 * Returns its length, or -1 with err. */
int audit_checkpoint_sign(const struct audit_checkpoint *cp, const struct audit_signer *s,
                          const uint8_t (*proof)[AUDIT_HASH_LEN], size_t nproof, char *out,
                          size_t outlen, char *err, size_t errlen);
/* Parses a signed checkpoint without checking any signature (c2sp.org/signed-note
 * and c2sp.org/tlog-checkpoint rules).  -1 with err naming what is wrong. */
int audit_note_parse(const char *text, size_t len, struct audit_note *n, char *err, size_t errlen);

/* The key an auditor trusts: a public key PEM (ECDSA P-256, P-384 or P-521). */
struct audit_key;
int audit_key_from_pem(const char *pem, size_t len, struct audit_key **out, char *err,
                       size_t errlen);
void audit_key_free(struct audit_key *k);
/* The note key id: SHA-256(DER SubjectPublicKeyInfo)[:4], as hex (8 digits). */
void audit_key_id_hex(const struct audit_key *k, char out[9]);

enum audit_sig_result {
    AUDIT_SIG_OK = 0,
    AUDIT_SIG_MISSING = -1, /* no signature line by this key (name = origin, key id) */
    AUDIT_SIG_BAD = -2,     /* a line by this key whose signature does not verify */
};
/* Checks the note's signature by key k, whose name must be the origin. */
enum audit_sig_result audit_note_verify(const char *text, const struct audit_note *n,
                                        const struct audit_key *k);

/* ---- signers (audit_signer.c) ------------------------------------------------------- */

struct keyholder;

/* The register's audit signing key, through its key holder (keys.h): made in
 * the TPM at `huduma init` and never out of it; in hudumad the key process
 * signs.  The holder must outlive the signer; pem is kept in `out`. */
struct audit_keys_signer {
    struct keyholder *holder;
    char pem[256];
};
int audit_keys_signer(struct keyholder *h, struct audit_keys_signer *ks, struct audit_signer *out,
                      char *err, size_t errlen);

/* ---- the daemon (audit.c) ------------------------------------------------------------- */

/* What the API tells about one request (api_handle_audited). */
struct audit_request {
    bool wanted; /* false: nothing to record (no route, or an auditor's read) */
    char agency[AUDIT_AGENCY_MAX + 1];
    const char *op;
    char purpose[AUDIT_PURPOSE_MAX + 1];
    char hn[16]; /* the Huduma Number the request was about, "" none */
    int status;
    char txid[AUDIT_TXID_LEN + 1];
};

struct audit_options {
    bool enabled;                      /* false: no leaves (benchmarks only; logged loudly) */
    unsigned checkpoint_ms;            /* how often to sign a grown tree (default 1000) */
    unsigned journal_mb;               /* each ring's journal (default AUDIT_JOURNAL_MB) */
    char origin[AUDIT_ORIGIN_MAX + 1]; /* "" : huduma.appliance/audit/<log id> */
};

struct audit;

/* Opens the log of an open register, with its signer, and appends the spool;
 * records a change of the configuration (config_sha256: hex digest of the
 * file, or "defaults").  Refuses a log whose last signed checkpoint it cannot
 * reproduce. */
int audit_open(const char *register_dir, struct reg *r, const struct audit_options *o,
               const struct audit_signer *signer, const char *config_sha256, struct audit **out,
               char *err, size_t errlen);
/* Starts the fold and the checkpointer, and opens a journal for each of
 * nrings rings (when logging is on); after_sync(ctx) runs on the fold's
 * thread after each sync (a journal may have room again). */
int audit_start(struct audit *a, unsigned nrings, void (*after_sync)(void *ctx), void *ctx,
                char *err, size_t errlen);
/* After the rings stopped: folds what they wrote, signs a last checkpoint
 * and stops both threads. */
void audit_stop(struct audit *a);
void audit_close(struct audit *a);
bool audit_enabled(const struct audit *a);

/* Ring `ring`'s journal (NULL when logging is off). */
struct audit_journal *audit_journal_of(struct audit *a, unsigned ring);
/* Makes the request's leaf and queues it in journal j (its ring's thread);
 * the ring writes it (storage.h, the audit journal).  -1: out of memory. */
int audit_submit(struct audit *a, struct audit_journal *j, const struct audit_request *req);
/* A chunk a ring's journal wrote, for the fold. */
void audit_push(struct audit *a, struct audit_chunk *c);

/* For the API (audit_api.c): the log, once every leaf written so far is in its
 * tree; `durable` when the tree itself is read (its size, hashes, entries and
 * proofs), which must be synced to be the tree a crash leaves.  The index by
 * subject needs only the fold: the leaves are durable in their journals. */
struct audit_log *audit_log_of(struct audit *a, bool durable);
const struct keyring *audit_keyring(struct audit *a);
/* The latest signed checkpoint (malloc'd text); NULL before the first. */
char *audit_latest_checkpoint(struct audit *a, size_t *len);
/* What /metrics shows of the log (appliance/metrics_audit.c); any thread. */
struct audit_metrics {
    bool enabled;
    uint64_t tree_leaves;         /* in the tree now (folded; synced or not) */
    uint64_t checkpoint_leaves;   /* the tree size the latest checkpoint signs; 0: none */
    uint64_t checkpoint_failures; /* checkpoints not signed or not stored, since start */
    struct audit_fold_stats fold; /* this process's fold: leaves, folds, syncs, failures */
};
void audit_metrics(struct audit *a, struct audit_metrics *out);

/* ---- administrative acts (audit.c) ---------------------------------------------------- */

/* Records an act of the operator (op: agency_add, agency_revoke, key_rotate,
 * ...; target: what it acted on) in the register's spool
 * (<register>/audit/spool, one file per act, fsync'd).  Whoever holds the
 * register next appends it: hudumad within its checkpoint interval (and at
 * start), or the tool through audit_spool_flush() when no daemon holds it
 * (audit_register_busy).  Each spooled act is appended exactly once. */
int audit_admin_record(const char *register_dir, const char *op, const char *target,
                       const char *purpose, char *err, size_t errlen);
/* Records a `huduma` command that opened the register r (op: its name;
 * subject: hn when it is a Huduma Number), appending at once with whatever
 * the spool holds. */
int audit_cli_record(struct reg *r, const char *register_dir, const char *op, const char *hn,
                     const char *purpose, int result, char *err, size_t errlen);
/* True while a process (hudumad) holds the register's database. */
bool audit_register_busy(const char *register_dir);
/* Appends what the spool holds: to the register's log, opening its database
 * (no keys are needed: acts name no person); to an open log. */
int audit_spool_flush(const char *register_dir, unsigned *appended, char *err, size_t errlen);
int audit_spool_drain(const char *register_dir, struct audit_log *log, unsigned *appended,
                      char *err, size_t errlen);

/* ---- the routes (audit_api.c) ---------------------------------------------------------- */

/* A c2sp.org/tlog-tiles path under /v1/audit/tile/: "<L>/<N>[.p/<W>]" or
 * "entries/<N>[.p/<W>]", N in 3-digit groups, all but the last prefixed with
 * 'x' and the first not "x000"; W 1-255 (a full tile: 256).  0 or -1. */
int audit_tile_path(const char *path, bool *entries, unsigned *level, uint64_t *index,
                    unsigned *width);

/* ---- what huduma-audit checks (audit_check.c) ------------------------------------------ */

/* Entries as auditors fetch them: one leaf per line (GET /v1/audit/entries). */
struct audit_entries {
    size_t n;
    char **leaf;
    size_t *len;
};
int audit_entries_parse(const char *text, size_t len, struct audit_entries *e, char *err,
                        size_t errlen);
void audit_entries_free(struct audit_entries *e);

/* A proof as the API serves it (JSON): inclusion {"index","tree_size","hashes"}
 * or consistency {"first","second","hashes"}. */
struct audit_proof {
    uint64_t a, b; /* index and tree size, or first and second */
    size_t n;
    uint8_t hashes[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
};
int audit_proof_parse(const char *text, size_t len, bool inclusion, struct audit_proof *p,
                      char *err, size_t errlen);

/* A verdict: ok, or the first index at which the log cannot be trusted and why. */
struct audit_verdict {
    bool ok;
    bool has_index;
    uint64_t first_bad; /* when has_index */
    char reason[512];
};

struct audit_check {
    const struct audit_key *key;
    const char *checkpoint; /* the signed checkpoint to check (text) */
    size_t checkpoint_len;
    const char *state; /* the last checkpoint verified before, NULL none */
    size_t state_len;
    const struct audit_entries *entries;  /* the log's entries, NULL: none */
    const struct audit_entries *previous; /* the entries verified with `state`, NULL none */
    const uint8_t *leaf_hashes;           /* level-0 tiles concatenated, NULL none */
    size_t nleaf_hashes;
};
/* The full audit: the checkpoint's signature; its consistency with `state`
 * (same origin, not smaller, and when entries are given, the first
 * state-size entries hash to the state's root); the root recomputed from the
 * entries; and where that fails, the first bad index, found with what is
 * trusted (previous entries, or the log's leaf hashes once they hash to a
 * trusted root). */
void audit_check_full(const struct audit_check *c, struct audit_verdict *v);
/* Consistency of the checkpoint with `state`, by a proof from the log. */
void audit_check_consistency(const struct audit_check *c, const struct audit_proof *p,
                             struct audit_verdict *v);
/* Inclusion of one entry (index in the proof) in the checkpoint's tree. */
void audit_check_inclusion(const struct audit_check *c, const struct audit_proof *p,
                           const char *leaf, size_t len, struct audit_verdict *v);

#endif
