/*
 * appliance/agency.c - agencies: roles and what they permit, the registry of
 * agencies on disk, and the daemon's view of it (docs/agencies.md).
 *
 * Permissions live in one table, ROLES below: each role grants a set of
 * operations and a reach over a record's members (nothing, the members its
 * policy names, or all).  An agency holds one or more roles; it may do what
 * any of them grants.
 *
 * The registry is <register dir>/agencies/<name>.json, one small file per
 * agency, never edited in place: `huduma agency add` renames a new file
 * into place with RENAME_NOREPLACE (which refuses a name already taken, even
 * by a concurrent add) and `huduma agency revoke` replaces it by rename().
 * Both change the directory, so the daemon's agencies_lookup_serial() notices
 * with one stat() of the directory per call and reloads.  The directory's timestamps are
 * coarse (a clock tick), so a snapshot whose directory changed in the same
 * tick as it was read is "racy" and is read again at the next look-up, which
 * is how a change made just after a load is never missed.  A file that cannot
 * be read or parsed is skipped (its agency is refused) and reported by
 * `huduma agency list` after the others.
 *
 * Functions return 0 or a negative enum reg_code (register.h): REG_EINVALID
 * for bad input, REG_ECONFLICT for a name taken, REG_ENOTFOUND for no such
 * agency, REG_ESTORAGE for files and cryptography.
 */
#include "agency.h"
#include "ca.h"
#include "register.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <jansson.h>
#include <openssl/x509.h>

#define AGENCIES_DIR    "agencies"
#define CLIENT_DAYS     365
#define AGENCY_FILE_MAX 65536
#define ATTR_LEN_MAX    31

/* ---- roles and permissions ------------------------------------------------------ */

#define OP(x) (1u << OP_##x)

enum reach {
    READ_NOTHING, /* no member of a record */
    READ_POLICY,  /* the members listed in the agency's attributes */
    READ_ALL,     /* every member */
};

static const struct role_def {
    const char *name;
    unsigned bit;
    unsigned ops;
    enum reach reach;
} ROLES[] = {
    {"registration", ROLE_REGISTRATION,
     OP(ENROL) | OP(CORRECT) | OP(BIRTH) | OP(DEATH) | OP(DOCUMENT) | OP(READ) | OP(LOOKUP) |
         OP(DUE),
     READ_ALL},
    {"verifier", ROLE_VERIFIER, OP(VERIFY), READ_NOTHING},
    {"kyc", ROLE_KYC, OP(VERIFY) | OP(READ), READ_POLICY},
    {"adjudicator", ROLE_ADJUDICATOR, OP(ADJUDICATE) | OP(READ), READ_ALL},
    {"auditor", ROLE_AUDITOR, OP(AUDIT), READ_NOTHING},
    {"operator", ROLE_OPERATOR, OP(METRICS) | OP(DUE), READ_NOTHING},
    {"registrar", ROLE_REGISTRAR, OP(READ) | OP(HISTORY) | OP(LOOKUP) | OP(ACCESS_HISTORY),
     READ_ALL},
    {"identification", ROLE_IDENTIFICATION, OP(IDENTIFY), READ_NOTHING},
};
#define NROLES (sizeof ROLES / sizeof *ROLES)
#define ROLE_NAMES                                                                                 \
    "registration, verifier, kyc, adjudicator, auditor, operator, registrar, identification"

static const char *const OP_NAMES[OP_COUNT] = {
    [OP_ENROL] = "enrol",       [OP_READ] = "read",
    [OP_CORRECT] = "correct",   [OP_HISTORY] = "history",
    [OP_BIRTH] = "birth",       [OP_DEATH] = "death",
    [OP_DOCUMENT] = "document", [OP_LOOKUP] = "lookup",
    [OP_DUE] = "due",           [OP_ADJUDICATE] = "adjudicate",
    [OP_VERIFY] = "verify",     [OP_METRICS] = "metrics",
    [OP_AUDIT] = "audit",       [OP_ACCESS_HISTORY] = "access_history",
    [OP_IDENTIFY] = "identify",
};

/* The top-level members of a record (docs/record.md) a kyc policy may name. */
static const char *const MEMBERS[] = {
    "surname",     "first_name", "other_names",      "sex",   "date_of_birth", "place_of_birth",
    "citizenship", "residence",  "marital_status",   "phone", "email",         "parents",
    "documents",   "status",     "biometric_status", "death",
};
#define NMEMBERS (sizeof MEMBERS / sizeof *MEMBERS)

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *operation_name(enum operation op)
{
    return (unsigned)op < OP_COUNT ? OP_NAMES[op] : "unknown";
}

bool agency_may(const struct agency *a, enum operation op)
{
    if (!a || a->revoked || (unsigned)op >= OP_COUNT)
        return false;
    for (size_t i = 0; i < NROLES; i++)
        if ((a->roles & ROLES[i].bit) && (ROLES[i].ops & (1u << op)))
            return true;
    return false;
}

static enum reach agency_reach(const struct agency *a)
{
    enum reach r = READ_NOTHING;
    for (size_t i = 0; i < NROLES; i++)
        if ((a->roles & ROLES[i].bit) && ROLES[i].reach > r)
            r = ROLES[i].reach;
    return r;
}

static bool has_attr(const struct agency *a, const char *member)
{
    for (unsigned i = 0; i < a->nattrs && i < AGENCY_MAX_ATTRS; i++)
        if (strcmp(a->attrs[i], member) == 0)
            return true;
    return false;
}

bool agency_may_read_attr(const struct agency *a, const char *member)
{
    if (!a || a->revoked || !member || !agency_may(a, OP_READ))
        return false;
    switch (agency_reach(a)) {
    case READ_ALL:
        return true;
    case READ_POLICY:
        return has_attr(a, member);
    default:
        return false;
    }
}

/* ---- parsing names, roles and attributes ---------------------------------------- */

static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > AGENCY_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static const struct role_def *role_by_name(const char *s, size_t n)
{
    for (size_t i = 0; i < NROLES; i++)
        if (strlen(ROLES[i].name) == n && strncmp(ROLES[i].name, s, n) == 0)
            return &ROLES[i];
    return NULL;
}

static bool member_known(const char *s, size_t n)
{
    for (size_t i = 0; i < NMEMBERS; i++)
        if (strlen(MEMBERS[i]) == n && strncmp(MEMBERS[i], s, n) == 0)
            return true;
    return false;
}

/* Calls fn for each item of a comma-separated list; an empty item is an error. */
typedef int (*item_fn)(void *ctx, const char *item, size_t len, char *err, size_t errlen);

static int split_list(const char *text, const char *what, item_fn fn, void *ctx, char *err,
                      size_t errlen)
{
    for (const char *p = text;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0)
            return fail(REG_EINVALID, err, errlen, "an empty %s in the list '%s'", what, text);
        int rc = fn(ctx, p, n, err, errlen);
        if (rc != 0)
            return rc;
        p += n;
        if (!*p)
            return 0;
    }
}

static int add_role(void *ctx, const char *s, size_t n, char *err, size_t errlen)
{
    const struct role_def *r = role_by_name(s, n);
    if (!r)
        return fail(REG_EINVALID, err, errlen, "unknown role '%.*s' (roles: %s)",
                    (int)(n > 48 ? 48 : n), s, ROLE_NAMES);
    *(unsigned *)ctx |= r->bit;
    return 0;
}

int roles_parse(const char *text, unsigned *roles, char *err, size_t errlen)
{
    *roles = 0;
    if (!text || !*text)
        return fail(REG_EINVALID, err, errlen, "no role given (roles: %s)", ROLE_NAMES);
    return split_list(text, "role", add_role, roles, err, errlen);
}

static int add_attr(void *ctx, const char *s, size_t n, char *err, size_t errlen)
{
    struct agency *a = ctx;
    int shown = (int)(n > 48 ? 48 : n);
    if (!member_known(s, n))
        return fail(REG_EINVALID, err, errlen,
                    "'%.*s' is not a member of a record (docs/record.md)", shown, s);
    for (unsigned i = 0; i < a->nattrs; i++)
        if (strlen(a->attrs[i]) == n && strncmp(a->attrs[i], s, n) == 0)
            return fail(REG_EINVALID, err, errlen, "attribute '%.*s' listed twice", shown, s);
    if (a->nattrs == AGENCY_MAX_ATTRS)
        return fail(REG_EINVALID, err, errlen, "more than %d attributes", AGENCY_MAX_ATTRS);
    memcpy(a->attrs[a->nattrs], s, n);
    a->attrs[a->nattrs++][n] = '\0';
    return 0;
}

/* Fills a new agency's name, roles and attributes after checking them. */
static int agency_describe(struct agency *a, const char *name, unsigned roles, const char *attrs,
                           char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!name || !name_valid(name))
        return fail(REG_EINVALID, err, errlen,
                    "an agency name is 2-%d characters a-z, 0-9 and '-', starting with a "
                    "letter",
                    AGENCY_NAME_MAX);
    unsigned known = 0;
    for (size_t i = 0; i < NROLES; i++)
        known |= ROLES[i].bit;
    if (roles == 0 || (roles & ~known))
        return fail(REG_EINVALID, err, errlen, "give at least one role (roles: %s)", ROLE_NAMES);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->roles = roles;
    bool listed = attrs && *attrs;
    if (listed && !(roles & ROLE_KYC))
        return fail(REG_EINVALID, err, errlen, "attributes are for the kyc role only");
    if (!listed && (roles & ROLE_KYC))
        return fail(REG_EINVALID, err, errlen,
                    "a kyc agency needs the attributes it may read (--attributes)");
    return listed ? split_list(attrs, "attribute", add_attr, a, err, errlen) : 0;
}

/* ---- the registry file ---------------------------------------------------------- */

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static int parse_time(const char *s, int64_t *t)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    *t = (int64_t)timegm(&tm);
    return 0;
}

static json_t *agency_to_json(const struct agency *a)
{
    json_t *roles = json_array(), *attrs = json_array();
    for (size_t i = 0; i < NROLES; i++)
        if (a->roles & ROLES[i].bit)
            json_array_append_new(roles, json_string(ROLES[i].name));
    for (unsigned i = 0; i < a->nattrs; i++)
        json_array_append_new(attrs, json_string(a->attrs[i]));
    char created[32];
    iso_time(a->created_at, created);
    return json_pack("{s:s, s:o, s:o, s:s, s:b, s:s, s:n}", "name", a->name, "roles", roles,
                     "attributes", attrs, "serial", a->serial, "revoked", a->revoked, "created_at",
                     created, "revoked_at");
}

static bool serial_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= CA_SERIAL_HEX_MAX && strspn(s, "0123456789ABCDEF") == n;
}

static int roles_from_json(const json_t *arr, unsigned *roles)
{
    size_t i;
    const json_t *v;
    *roles = 0;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        const struct role_def *r = s ? role_by_name(s, strlen(s)) : NULL;
        if (!r)
            return -1;
        *roles |= r->bit;
    }
    return *roles ? 0 : -1;
}

static int attrs_from_json(const json_t *arr, struct agency *a)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || add_attr(a, s, strlen(s), NULL, 0) != 0)
            return -1;
    }
    return 0;
}

/* Reads and checks an agency's file; any doubt is a refusal. */
static int agency_from_json(json_t *j, struct agency *a)
{
    const char *name = NULL, *serial = NULL, *created = NULL;
    json_t *roles = NULL, *attrs = NULL;
    int revoked = 0;
    memset(a, 0, sizeof *a);
    if (json_unpack(j, "{s:s, s:o, s:o, s:s, s:b, s:s}", "name", &name, "roles", &roles,
                    "attributes", &attrs, "serial", &serial, "revoked", &revoked, "created_at",
                    &created) != 0 ||
        !json_is_array(roles) || !json_is_array(attrs))
        return -1;
    if (!name_valid(name) || !serial_valid(serial) || parse_time(created, &a->created_at))
        return -1;
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->serial, sizeof a->serial, "%s", serial);
    a->revoked = revoked;
    if (roles_from_json(roles, &a->roles) != 0 || attrs_from_json(attrs, a) != 0)
        return -1;
    return 0;
}

static int write_registry_file(const char *path, const json_t *j, bool exclusive, char *err,
                               size_t errlen)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return fail(REG_ESTORAGE, err, errlen, "out of memory");
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return fail(REG_ESTORAGE, err, errlen, "out of memory");
    }
    memcpy(line + len, "\n", 2);
    int rc = ca_write_atomic(path, line, len + 1, 0644, exclusive, err, errlen);
    free(line);
    return rc;
}

static json_t *load_json_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    json_t *j = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= AGENCY_FILE_MAX)
        j = json_loadfd(fd, JSON_REJECT_DUPLICATES, NULL);
    if (fd >= 0)
        close(fd);
    return j;
}

/* ---- reading the registry directory --------------------------------------------- */

struct registry {
    struct agency *v;
    size_t n, cap;
    unsigned nbad;                       /* files skipped as unreadable or malformed */
    char first_bad[AGENCY_NAME_MAX + 8]; /* the first of them */
};

static int registry_push(struct registry *r, const struct agency *a)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        struct agency *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -1;
        r->v = v, r->cap = cap;
    }
    r->v[r->n++] = *a;
    return 0;
}

/* "<name>.json" with a valid name; the name is copied into stem. */
static bool agency_file_name(const char *file, char stem[AGENCY_NAME_MAX + 1])
{
    size_t n = strlen(file);
    if (n < 6 || n - 5 > AGENCY_NAME_MAX || strcmp(file + n - 5, ".json") != 0)
        return false;
    memcpy(stem, file, n - 5);
    stem[n - 5] = '\0';
    return name_valid(stem);
}

/* Reads one file into r; -1 when the file is unreadable or names another agency. */
static int registry_read_one(DIR *d, const char *file, const char *stem, struct registry *r)
{
    json_t *j = load_json_at(dirfd(d), file);
    struct agency a;
    int rc = j && agency_from_json(j, &a) == 0 && strcmp(a.name, stem) == 0 ? 0 : -1;
    json_decref(j);
    if (rc == 0 && registry_push(r, &a) != 0)
        return -2;
    return rc;
}

/* Reads every agency file of dir.  A file that cannot be read or parsed is
 * skipped (its agency is then unknown, so refused) and counted in r->nbad. */
static int registry_read(const char *dir, struct registry *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0
                               : fail(REG_ESTORAGE, err, errlen, "%s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    char stem[AGENCY_NAME_MAX + 1];
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !agency_file_name(e->d_name, stem))
            continue;
        int one = registry_read_one(d, e->d_name, stem, r);
        if (one == -2)
            rc = fail(REG_ESTORAGE, err, errlen, "out of memory");
        else if (one == -1 && r->nbad++ == 0)
            snprintf(r->first_bad, sizeof r->first_bad, "%.*s", AGENCY_NAME_MAX + 5, e->d_name);
    }
    if (rc == 0 && errno != 0)
        rc = fail(REG_ESTORAGE, err, errlen, "%s: %s", dir, strerror(errno));
    closedir(d);
    if (rc != 0)
        free(r->v), r->v = NULL, r->n = 0;
    return rc;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const struct agency *)x)->name, ((const struct agency *)y)->name);
}

static int by_serial(const void *x, const void *y)
{
    return strcmp(((const struct agency *)x)->serial, ((const struct agency *)y)->serial);
}

static int agencies_dir(const char *register_dir, char *buf, size_t size, char *err, size_t errlen)
{
    if (!register_dir || ca_path_join(buf, size, register_dir, AGENCIES_DIR) != 0)
        return fail(REG_EINVALID, err, errlen, "register directory path too long");
    return 0;
}

/* ---- operator side: add, revoke, list ------------------------------------------- */

struct add_paths {
    char dir[PATH_MAX];  /* the registry */
    char file[PATH_MAX]; /* the agency's registry file */
    char key[PATH_MAX];  /* <out_dir>/<name>.key */
    char cert[PATH_MAX]; /* <out_dir>/<name>.crt */
};

static int add_paths(struct add_paths *p, const char *register_dir, const char *name,
                     const char *out_dir, char *err, size_t errlen)
{
    char file[AGENCY_NAME_MAX + 8], key[AGENCY_NAME_MAX + 8], cert[AGENCY_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.json", name);
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(cert, sizeof cert, "%s.crt", name);
    if (agencies_dir(register_dir, p->dir, sizeof p->dir, err, errlen) != 0 ||
        ca_path_join(p->file, sizeof p->file, p->dir, file) != 0 ||
        ca_path_join(p->key, sizeof p->key, out_dir, key) != 0 ||
        ca_path_join(p->cert, sizeof p->cert, out_dir, cert) != 0)
        return fail(REG_EINVALID, err, errlen, "directory path too long");
    return 0;
}

/* Refuses a name already registered, a missing out_dir, or certificate files already there. */
static int refuse_existing(const struct add_paths *p, const char *name, const char *out_dir,
                           char *err, size_t errlen)
{
    struct stat st;
    if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(REG_EINVALID, err, errlen, "%s: not a directory", out_dir);
    if (access(p->file, F_OK) == 0)
        return fail(REG_ECONFLICT, err, errlen, "an agency named '%s' already exists", name);
    const char *files[] = {p->key, p->cert};
    for (size_t i = 0; i < 2; i++)
        if (access(files[i], F_OK) == 0)
            return fail(REG_ECONFLICT, err, errlen, "%s already exists; move it away first",
                        files[i]);
    return 0;
}

struct issued {
    EVP_PKEY *key;
    X509 *cert;
};

/* Issues the agency's key and client certificate; records its serial. */
static int issue_client(const char *register_dir, struct keyholder *keys, struct agency *a,
                        struct issued *out, char *err, size_t errlen)
{
    const struct cert_spec spec = {CERT_CLIENT, a->name, "Huduma agency", CLIENT_DAYS};
    EVP_PKEY *ca_key = NULL;
    X509 *ca_cert = NULL;
    if (ca_load(register_dir, keys, &ca_key, &ca_cert, err, errlen) != 0)
        return REG_ESTORAGE;
    out->key = ca_new_key();
    out->cert = out->key ? ca_issue(&spec, out->key, ca_cert, ca_key) : NULL;
    int rc = out->cert && ca_serial_hex(out->cert, a->serial) == 0
                 ? 0
                 : ca_ssl_err(err, errlen, "cannot issue the agency's certificate");
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    a->created_at = (int64_t)time(NULL);
    return rc == 0 ? 0 : REG_ESTORAGE;
}

/* Claims the name: creates the registry file, refusing one already there. */
static int claim(const struct add_paths *p, const struct agency *a, char *err, size_t errlen)
{
    json_t *j = agency_to_json(a);
    int rc = j ? write_registry_file(p->file, j, true, err, errlen) : -1;
    json_decref(j);
    if (rc == 1)
        return fail(REG_ECONFLICT, err, errlen, "an agency named '%s' already exists", a->name);
    return rc == 0 ? 0 : REG_ESTORAGE;
}

/* Writes the certificate and key for the agency; on failure, undoes the claim. */
static int deliver(const struct add_paths *p, const struct issued *is, char *err, size_t errlen)
{
    int rc = ca_write_cert(p->cert, is->cert, true, err, errlen);
    if (rc == 0) {
        rc = ca_write_key(p->key, is->key, true, err, errlen);
        if (rc != 0)
            unlink(p->cert);
    }
    if (rc == 1)
        fail(0, err, errlen, "%s or %s appeared meanwhile; nothing was added", p->cert, p->key);
    if (rc != 0) {
        unlink(p->file);
        ca_dir_sync(p->dir);
    }
    return rc == 0 ? 0 : rc == 1 ? REG_ECONFLICT : REG_ESTORAGE;
}

int agency_add(const char *register_dir, struct keyholder *keys, const char *name, unsigned roles,
               const char *attrs, const char *out_dir, char *err, size_t errlen)
{
    struct agency a;
    struct add_paths p;
    struct issued is = {NULL, NULL};
    int rc = agency_describe(&a, name, roles, attrs, err, errlen);
    out_dir = out_dir ? out_dir : ".";
    if (rc == 0)
        rc = add_paths(&p, register_dir, name, out_dir, err, errlen);
    if (rc == 0)
        rc = refuse_existing(&p, name, out_dir, err, errlen);
    if (rc == 0)
        rc = issue_client(register_dir, keys, &a, &is, err, errlen);
    if (rc == 0 && ca_dir_ensure(p.dir, 0755, err, errlen) != 0)
        rc = REG_ESTORAGE;
    if (rc == 0)
        rc = claim(&p, &a, err, errlen);
    if (rc == 0)
        rc = deliver(&p, &is, err, errlen);
    X509_free(is.cert);
    EVP_PKEY_free(is.key);
    return rc;
}

static int load_agency_file(const char *path, const char *name, json_t **j, struct agency *a,
                            char *err, size_t errlen)
{
    json_error_t jerr;
    *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!*j && access(path, F_OK) != 0)
        return fail(REG_ENOTFOUND, err, errlen, "no agency named '%s'", name);
    if (!*j || agency_from_json(*j, a) != 0) {
        json_decref(*j);
        *j = NULL;
        return fail(REG_ESTORAGE, err, errlen, "%s: unreadable or malformed agency file", path);
    }
    return 0;
}

int agency_revoke(const char *register_dir, const char *name, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX], file[AGENCY_NAME_MAX + 8];
    if (!name || !name_valid(name))
        return fail(REG_ENOTFOUND, err, errlen, "no agency named '%.48s'", name ? name : "");
    snprintf(file, sizeof file, "%s.json", name);
    if (agencies_dir(register_dir, dir, sizeof dir, err, errlen) != 0 ||
        ca_path_join(path, sizeof path, dir, file) != 0)
        return fail(REG_EINVALID, err, errlen, "register directory path too long");
    json_t *j;
    struct agency a;
    int rc = load_agency_file(path, name, &j, &a, err, errlen);
    if (rc != 0 || a.revoked) {
        json_decref(j);
        return rc; /* revoking twice changes nothing */
    }
    char now[32];
    iso_time((int64_t)time(NULL), now);
    json_object_set_new(j, "revoked", json_true());
    json_object_set_new(j, "revoked_at", json_string(now));
    rc = write_registry_file(path, j, false, err, errlen) == 0 ? 0 : REG_ESTORAGE;
    json_decref(j);
    /* The rename moved the directory's times already; touching it is belt and braces. */
    if (rc == 0)
        utimensat(AT_FDCWD, dir, NULL, 0);
    return rc;
}

int agency_list(const char *register_dir, int (*fn)(void *ctx, const struct agency *a), void *ctx,
                char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct registry r;
    int rc = agencies_dir(register_dir, dir, sizeof dir, err, errlen);
    if (rc == 0)
        rc = registry_read(dir, &r, err, errlen);
    if (rc != 0)
        return rc;
    if (r.n)
        qsort(r.v, r.n, sizeof *r.v, by_name);
    for (size_t i = 0; i < r.n && rc == 0; i++)
        rc = fn(ctx, &r.v[i]);
    free(r.v);
    if (rc == 0 && r.nbad)
        rc = fail(REG_ESTORAGE, err, errlen,
                  "%s/%s%s: unreadable or malformed agency file; hudumad refuses its agency", dir,
                  r.first_bad, r.nbad > 1 ? " (and others)" : "");
    return rc;
}

/* ---- daemon side: the registry in memory ---------------------------------------- */

/* What a stat() of the registry directory says; any difference means reload. */
struct dir_stamp {
    bool present;
    dev_t dev;
    ino_t ino;
    nlink_t nlink;
    off_t size;
    struct timespec mtim, ctim;
};

struct agencies {
    pthread_rwlock_t lock;
    char dir[PATH_MAX];
    struct dir_stamp stamp; /* of the directory as last loaded */
    bool stale;             /* load again at the next look-up, whatever the stamp */
    struct agency *v;       /* sorted by serial */
    size_t n;
};

static void stamp_take(const char *dir, struct dir_stamp *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (stat(dir, &st) != 0)
        return;
    *s = (struct dir_stamp){true,       st.st_dev,  st.st_ino, st.st_nlink,
                            st.st_size, st.st_mtim, st.st_ctim};
}

static bool ts_equal(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool ts_before(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static bool stamp_equal(const struct dir_stamp *a, const struct dir_stamp *b)
{
    if (a->present != b->present)
        return false;
    return !a->present ||
           (a->dev == b->dev && a->ino == b->ino && a->nlink == b->nlink && a->size == b->size &&
            ts_equal(a->mtim, b->mtim) && ts_equal(a->ctim, b->ctim));
}

/* Loads the registry into ag (the caller holds the write lock, or ag is not
 * shared yet).  On failure ag knows no agency, so every caller is refused. */
static int reload(struct agencies *ag, char *err, size_t errlen)
{
    struct timespec start;
    clock_gettime(CLOCK_REALTIME_COARSE, &start);
    struct dir_stamp st;
    stamp_take(ag->dir, &st);
    struct registry r = {0};
    int rc = st.present ? registry_read(ag->dir, &r, err, errlen) : 0;
    free(ag->v);
    ag->v = r.v, ag->n = r.n;
    if (ag->n)
        qsort(ag->v, ag->n, sizeof *ag->v, by_serial);
    ag->stamp = st;
    /* A change later in the same clock tick would leave the times as they are. */
    ag->stale = rc != 0 || !ts_before(st.mtim, start) || !ts_before(st.ctim, start);
    return rc;
}

int agencies_open(const char *register_dir, struct agencies **out, char *err, size_t errlen)
{
    *out = NULL;
    struct agencies *ag = calloc(1, sizeof *ag);
    if (!ag)
        return fail(REG_ESTORAGE, err, errlen, "out of memory");
    int rc = agencies_dir(register_dir, ag->dir, sizeof ag->dir, err, errlen);
    if (rc == 0 && pthread_rwlock_init(&ag->lock, NULL) != 0)
        rc = fail(REG_ESTORAGE, err, errlen, "cannot create a lock");
    else if (rc == 0 && (rc = reload(ag, err, errlen)) != 0)
        pthread_rwlock_destroy(&ag->lock);
    if (rc != 0) {
        free(ag->v);
        free(ag);
        return rc;
    }
    *out = ag;
    return 0;
}

void agencies_close(struct agencies *ag)
{
    if (!ag)
        return;
    pthread_rwlock_destroy(&ag->lock);
    free(ag->v);
    free(ag);
}

/* The agency holding this serial; refused when revoked or when two files claim it. */
static bool find_serial(const struct agencies *ag, const char *serial, struct agency *out)
{
    struct agency key;
    snprintf(key.serial, sizeof key.serial, "%s", serial);
    const struct agency *a = ag->n ? bsearch(&key, ag->v, ag->n, sizeof *ag->v, by_serial) : NULL;
    if (!a || a->revoked)
        return false;
    if ((a > ag->v && strcmp(a[-1].serial, serial) == 0) ||
        (a + 1 < ag->v + ag->n && strcmp(a[1].serial, serial) == 0))
        return false;
    if (out)
        *out = *a;
    return true;
}

/* Upper-cases a serial into out; false when it is not 1-40 hex digits. */
static bool serial_normalise(const char *serial, char out[CA_SERIAL_HEX_MAX + 1])
{
    size_t n = strnlen(serial, CA_SERIAL_HEX_MAX + 1);
    if (n > CA_SERIAL_HEX_MAX)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (serial[i] >= 'a' && serial[i] <= 'f') ? (char)(serial[i] - 'a' + 'A') : serial[i];
    return serial_valid(out);
}

bool agencies_lookup_serial(struct agencies *ag, const char *serial_text, struct agency *out)
{
    char serial[CA_SERIAL_HEX_MAX + 1];
    if (!ag || !serial_text || !serial_normalise(serial_text, serial))
        return false;
    struct dir_stamp now;
    stamp_take(ag->dir, &now);
    pthread_rwlock_rdlock(&ag->lock);
    bool fresh = !ag->stale && stamp_equal(&now, &ag->stamp);
    bool found = fresh && find_serial(ag, serial, out);
    pthread_rwlock_unlock(&ag->lock);
    if (fresh)
        return found;
    pthread_rwlock_wrlock(&ag->lock);
    if (ag->stale || !stamp_equal(&now, &ag->stamp))
        reload(ag, NULL, 0);
    found = find_serial(ag, serial, out);
    pthread_rwlock_unlock(&ag->lock);
    return found;
}
