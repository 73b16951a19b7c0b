/*
 * appliance/agency.h - agencies, their roles and permissions, and the agency
 * certificate authority that issues their client certificates
 * (appliance/agency.c, appliance/ca.c; docs/agencies.md).
 *
 * The registry is a directory of small JSON files (<register dir>/agencies/),
 * one per agency, written atomically (temporary file, fsync, rename), so that
 * `huduma agency add | revoke` works while hudumad runs and the daemon sees a
 * revocation at once: it checks the directory's change time before trusting
 * a certificate, and reloads when it moved.  No personal data lives here.
 *
 * The CA (<register dir>/ca/ca.key, ca.crt: ECDSA P-256, self-signed) signs
 * the agencies' client certificates and the daemon's server certificate
 * (<register dir>/tls/server.key, server.crt, for localhost, 127.0.0.1, ::1).
 * Both keys are stored wrapped by the master key (keys.h); issuing a
 * certificate needs the key holder that unwraps the CA key.
 *
 * Functions returning int return 0, or a negative enum reg_code of
 * register.h, with a message in err: REG_EINVALID (bad name, role, attribute,
 * directory), REG_ECONFLICT (name taken, files in the way), REG_ENOTFOUND (no
 * such agency or register directory), REG_ESTORAGE (files, cryptography).
 */
#ifndef HUDUMA_AGENCY_H
#define HUDUMA_AGENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENCY_NAME_MAX  48 /* [a-z0-9-], starts with a letter */
#define AGENCY_MAX_ATTRS 24

/* What each grants is one table in agency.c (ROLES), documented in docs/agencies.md. */
enum role {
    ROLE_REGISTRATION = 1 << 0,   /* enrol, correct, births, deaths, documents, lookup, read */
    ROLE_VERIFIER = 1 << 1,       /* verify only */
    ROLE_KYC = 1 << 2,            /* verify + read of the attributes its policy names */
    ROLE_ADJUDICATOR = 1 << 3,    /* adjudication queue (list, decide), read */
    ROLE_AUDITOR = 1 << 4,        /* the audit log: checkpoints, entries, proofs, tiles */
    ROLE_OPERATOR = 1 << 5,       /* metrics, due-biometrics list */
    ROLE_REGISTRAR = 1 << 6,      /* full read, history, lookup, access history (residents') */
    ROLE_IDENTIFICATION = 1 << 7, /* identify: 1:N biometric search (unidentified persons) */
};

/* What a request does; each role grants a set of these. */
enum operation {
    OP_ENROL,
    OP_READ,
    OP_CORRECT,
    OP_HISTORY,
    OP_BIRTH,
    OP_DEATH,
    OP_DOCUMENT,
    OP_LOOKUP,
    OP_DUE,
    OP_ADJUDICATE,
    OP_VERIFY,
    OP_METRICS,
    OP_AUDIT,          /* the audit log: checkpoints, entries, proofs, tiles */
    OP_ACCESS_HISTORY, /* who accessed a person's record (residents' requests) */
    OP_IDENTIFY,       /* 1:N biometric identification */
    OP_COUNT
};

struct agency {
    char name[AGENCY_NAME_MAX + 1];
    unsigned roles;  /* enum role bits */
    unsigned nattrs; /* record members a kyc agency may read */
    char attrs[AGENCY_MAX_ATTRS][32];
    char serial[41]; /* hex serial of its current certificate */
    bool revoked;
    int64_t created_at;
};

struct agencies;

/* ---- daemon side --------------------------------------------------------------- */

/* Loads the registry of <register_dir>/agencies (absent: empty).  A file that
 * cannot be parsed is skipped, so its agency is refused; `huduma agency list`
 * names it. */
int agencies_open(const char *register_dir, struct agencies **out, char *err, size_t errlen);
void agencies_close(struct agencies *ag);
/* Finds the agency whose certificate has this serial (hex, as
 * BN_bn2hex(ASN1_INTEGER_to_BN(X509_get_serialNumber(cert))) gives; case does
 * not matter), reloading the registry first if its directory changed on disk
 * (one stat() per call otherwise).  Copies it out (out may be NULL); false
 * when unknown or revoked.  Thread-safe. */
bool agencies_lookup_serial(struct agencies *ag, const char *serial, struct agency *out);
/* Whether any of the agency's roles grants op (the table: docs/agencies.md). */
bool agency_may(const struct agency *a, enum operation op);
/* Whether the agency may read this top-level record member: every member for
 * registration, adjudicator and registrar; for kyc only those in attrs; none
 * for the others.  False for a revoked agency or one without OP_READ. */
bool agency_may_read_attr(const struct agency *a, const char *member);
/* "enrol", "read", ..., "due", "verify", "metrics" (x-operation in docs/openapi.yaml);
 * for logs and metrics. */
const char *operation_name(enum operation op);

/* ---- operator side (huduma agency ...) ------------------------------------------ */

struct keyholder;

/* Creates the CA and the server certificate if absent (huduma init calls it);
 * existing files are kept, except that a CA made now gets a new server
 * certificate.  Their keys are written wrapped by the master key of `keys`.
 * The register directory must exist. */
int ca_init(const char *register_dir, struct keyholder *keys, char *err, size_t errlen);
/* Parses "verifier,kyc" into role bits; -1 (REG_EINVALID) with err naming an
 * unknown role. */
int roles_parse(const char *text, unsigned *roles, char *err, size_t errlen);
/* Adds an agency: name [a-z][a-z0-9-]{1,47}; roles non-empty; attrs a comma
 * list of record members, required with kyc and refused without it.  Issues a
 * key and a one-year client certificate signed by the CA, records the agency,
 * and writes <out_dir>/<name>.crt and <name>.key (0600); out_dir NULL is ".".
 * Refuses a name already registered (revoked ones too) and files already in
 * out_dir. */
int agency_add(const char *register_dir, struct keyholder *keys, const char *name, unsigned roles,
               const char *attrs, const char *out_dir, char *err, size_t errlen);
/* Marks an agency revoked; the daemon refuses it from its next look-up.
 * Revoking a revoked agency changes nothing and succeeds. */
int agency_revoke(const char *register_dir, const char *name, char *err, size_t errlen);
/* Calls fn for each agency, sorted by name; stops at and returns the first
 * non-zero value fn returns.  Files that cannot be read or parsed are skipped,
 * then reported: REG_ESTORAGE naming the first, after fn saw all the others. */
int agency_list(const char *register_dir, int (*fn)(void *ctx, const struct agency *a), void *ctx,
                char *err, size_t errlen);

#endif
