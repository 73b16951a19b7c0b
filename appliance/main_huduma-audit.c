/*
 * appliance/main_huduma-audit.c - `huduma-audit`, the auditors' offline
 * verifier of the appliance's audit log (docs/audit.md).
 *
 *   huduma-audit --key KEY.pem [--state FILE] checkpoint CHECKPOINT
 *   huduma-audit --key KEY.pem [--state FILE] audit CHECKPOINT ENTRIES
 *                [--leaf-hashes FILE] [--previous ENTRIES]
 *   huduma-audit --key KEY.pem --state FILE consistency CHECKPOINT PROOF
 *   huduma-audit --key KEY.pem inclusion CHECKPOINT PROOF ENTRY
 *   huduma-audit tile-paths SIZE
 *
 * It needs nothing but the log's public key (PEM) and files the auditor
 * fetched (GET /v1/audit/checkpoint, /entries, /proof/..., /tile/0/...): no
 * network, no database, no appliance.  It prints one verdict line, "OK: ..."
 * or "FAIL: first bad index N: ..." (or "FAIL: ..." when no index can be
 * named), and exits 0 (verified), 1 (the log failed) or 2 (usage, unreadable
 * files).  With --state, a checkpoint that verifies (checkpoint, audit,
 * consistency) becomes the new state, written atomically: the next run checks
 * that the log only grew from it.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_VERIFIED 0
#define EXIT_FAILED   1
#define EXIT_USAGE    2
#define FILE_MAX      (512L * 1024 * 1024)

static const char usage[] =
    "usage: huduma-audit --key KEY.pem [--state FILE] checkpoint CHECKPOINT\n"
    "       huduma-audit --key KEY.pem [--state FILE] audit CHECKPOINT ENTRIES\n"
    "                    [--leaf-hashes FILE] [--previous ENTRIES]\n"
    "       huduma-audit --key KEY.pem --state FILE consistency CHECKPOINT PROOF\n"
    "       huduma-audit --key KEY.pem inclusion CHECKPOINT PROOF ENTRY\n"
    "       huduma-audit tile-paths SIZE\n"
    "\n"
    "Verifies the appliance's audit log offline with its public key (docs/audit.md):\n"
    "  checkpoint   the checkpoint's signature (and, with --state, that the tree did\n"
    "               not shrink since the last one verified)\n"
    "  audit        the full audit: signature, the root recomputed from ENTRIES (one\n"
    "               leaf per line, GET /v1/audit/entries), and with --state that the\n"
    "               entries verified before are unchanged; names the first bad index\n"
    "               with --leaf-hashes (the level-0 tiles, concatenated) or --previous\n"
    "               (the entries of the last audit)\n"
    "  consistency  the log's consistency proof (GET /v1/audit/proof/consistency)\n"
    "               from the --state checkpoint to CHECKPOINT\n"
    "  inclusion    that ENTRY (a file holding one leaf) is in CHECKPOINT's tree, by\n"
    "               the proof of GET /v1/audit/proof/inclusion\n"
    "  tile-paths   the level-0 tile paths (under /v1/audit/tile/) of a tree of SIZE\n"
    "--state FILE keeps the last checkpoint verified; a verified one replaces it.\n"
    "Exit status: 0 verified, 1 the log failed, 2 usage or unreadable input.\n";

struct args {
    const char *key, *state, *leaf_hashes, *previous;
    const char *pos[4];
    int npos;
};

/* Reads a whole file (NUL added, not counted); NULL with a message. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "huduma-audit: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *grown = (long)cap * 2 <= FILE_MAX ? realloc(buf, cap * 2 + 1) : NULL;
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        fprintf(stderr, "huduma-audit: %s: cannot read it (or larger than %ld bytes)\n", path,
                FILE_MAX);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int write_state(const char *path, const char *text, size_t len)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "huduma-audit: cannot write the state %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char **opt = strcmp(argv[i], "--key") == 0           ? &a->key
                           : strcmp(argv[i], "--state") == 0       ? &a->state
                           : strcmp(argv[i], "--leaf-hashes") == 0 ? &a->leaf_hashes
                           : strcmp(argv[i], "--previous") == 0    ? &a->previous
                                                                   : NULL;
        if (opt && i + 1 < argc && !*opt) {
            *opt = argv[++i];
            continue;
        }
        if (opt || argv[i][0] == '-' || a->npos == 4) {
            fprintf(stderr, "huduma-audit: unexpected argument \"%s\"\n%s", argv[i], usage);
            return -1;
        }
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}

static int report(const struct audit_verdict *v)
{
    if (v->ok)
        printf("OK: %s\n", v->reason);
    else if (v->has_index)
        printf("FAIL: first bad index %llu: %s\n", (unsigned long long)v->first_bad, v->reason);
    else
        printf("FAIL: %s\n", v->reason);
    return v->ok ? EXIT_VERIFIED : EXIT_FAILED;
}

/* Loads the key, the checkpoint and the state into c (buffers in bufs[0..2]). */
static int load_common(const struct args *a, const char *checkpoint, struct audit_check *c,
                       struct audit_key **key, char **bufs)
{
    size_t len;
    char *pem = slurp(a->key, &len), err[256];
    if (!pem)
        return -1;
    int rc = audit_key_from_pem(pem, len, key, err, sizeof err);
    free(pem);
    if (rc != 0) {
        fprintf(stderr, "huduma-audit: %s: %s\n", a->key, err);
        return -1;
    }
    c->key = *key;
    if (!(bufs[0] = slurp(checkpoint, &c->checkpoint_len)))
        return -1;
    c->checkpoint = bufs[0];
    if (a->state && access(a->state, F_OK) == 0) {
        if (!(bufs[1] = slurp(a->state, &c->state_len)))
            return -1;
        c->state = bufs[1];
    }
    return 0;
}

static int load_entries(const char *path, struct audit_entries *e)
{
    size_t len;
    char *text = slurp(path, &len), err[256];
    if (!text)
        return -1;
    int rc = audit_entries_parse(text, len, e, err, sizeof err);
    free(text);
    if (rc != 0)
        fprintf(stderr, "huduma-audit: %s: %s\n", path, err);
    return rc;
}

static int load_proof(const char *path, bool inclusion, struct audit_proof *p)
{
    size_t len;
    char *text = slurp(path, &len), err[256];
    if (!text)
        return -1;
    int rc = audit_proof_parse(text, len, inclusion, p, err, sizeof err);
    free(text);
    if (rc != 0)
        fprintf(stderr, "huduma-audit: %s: %s\n", path, err);
    return rc;
}

/* After a verified checkpoint: it becomes the state. */
static int keep_state(const struct args *a, const struct audit_check *c, int code)
{
    if (code != EXIT_VERIFIED || !a->state)
        return code;
    return write_state(a->state, c->checkpoint, c->checkpoint_len) == 0 ? code : EXIT_USAGE;
}

static int cmd_checkpoint(const struct args *a, struct audit_check *c)
{
    struct audit_verdict v;
    audit_check_full(c, &v);
    return keep_state(a, c, report(&v));
}

static int cmd_audit(const struct args *a, struct audit_check *c)
{
    struct audit_entries entries = {0}, previous = {0};
    char *hashes = NULL;
    size_t hlen = 0;
    int code = EXIT_USAGE;
    if (load_entries(a->pos[2], &entries) != 0 ||
        (a->previous && load_entries(a->previous, &previous) != 0) ||
        (a->leaf_hashes && !(hashes = slurp(a->leaf_hashes, &hlen))))
        goto out;
    if (hlen % AUDIT_HASH_LEN != 0) {
        fprintf(stderr, "huduma-audit: %s: not a whole number of 32-byte hashes\n", a->leaf_hashes);
        goto out;
    }
    c->entries = &entries;
    c->previous = a->previous ? &previous : NULL;
    c->leaf_hashes = (const uint8_t *)hashes;
    c->nleaf_hashes = hlen / AUDIT_HASH_LEN;
    struct audit_verdict v;
    audit_check_full(c, &v);
    code = keep_state(a, c, report(&v));
out:
    audit_entries_free(&entries);
    audit_entries_free(&previous);
    free(hashes);
    return code;
}

static int cmd_consistency(const struct args *a, struct audit_check *c)
{
    struct audit_proof p;
    if (!a->state) {
        fprintf(stderr, "huduma-audit consistency: --state is required\n");
        return EXIT_USAGE;
    }
    if (load_proof(a->pos[2], false, &p) != 0)
        return EXIT_USAGE;
    struct audit_verdict v;
    audit_check_consistency(c, &p, &v);
    return keep_state(a, c, report(&v));
}

static int cmd_inclusion(const struct args *a, struct audit_check *c)
{
    struct audit_proof p;
    size_t len;
    if (load_proof(a->pos[2], true, &p) != 0)
        return EXIT_USAGE;
    char *entry = slurp(a->pos[3], &len);
    if (!entry)
        return EXIT_USAGE;
    if (len && entry[len - 1] == '\n') /* a line as fetched */
        len--;
    struct audit_verdict v;
    audit_check_inclusion(c, &p, entry, len, &v);
    free(entry);
    return report(&v);
}

/* "000", "x001/234", ...: c2sp.org/tlog-tiles index encoding. */
static void tile_index(unsigned long long n, char *out, size_t outlen)
{
    char groups[8][5];
    int k = 0;
    do {
        snprintf(groups[k++], sizeof groups[0], "%03llu", n % 1000);
        n /= 1000;
    } while (n);
    size_t at = 0;
    for (int i = k - 1; i >= 0; i--)
        at += (size_t)snprintf(out + at, outlen - at, "%s%s%s", i < k - 1 ? "/" : "",
                               i > 0 ? "x" : "", groups[i]);
}

static int cmd_tile_paths(const struct args *a)
{
    char *end;
    unsigned long long size = strtoull(a->pos[1], &end, 10);
    if (*end || !a->pos[1][0]) {
        fprintf(stderr, "huduma-audit tile-paths: SIZE must be a whole number\n");
        return EXIT_USAGE;
    }
    for (unsigned long long t = 0; t * 256 < size; t++) {
        char idx[64];
        tile_index(t, idx, sizeof idx);
        unsigned long long width = size - t * 256 < 256 ? size - t * 256 : 256;
        if (width == 256)
            printf("0/%s\n", idx);
        else
            printf("0/%s.p/%llu\n", idx, width);
    }
    return EXIT_VERIFIED;
}

int main(int argc, char **argv)
{
    struct args a;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return EXIT_VERIFIED;
    }
    if (parse_args(argc, argv, &a) != 0)
        return EXIT_USAGE;
    static const struct {
        const char *name;
        int npos;
        int (*run)(const struct args *a, struct audit_check *c);
    } cmds[] = {{"checkpoint", 2, cmd_checkpoint},
                {"audit", 3, cmd_audit},
                {"consistency", 3, cmd_consistency},
                {"inclusion", 4, cmd_inclusion}};
    if (a.npos == 2 && strcmp(a.pos[0], "tile-paths") == 0)
        return cmd_tile_paths(&a);
    for (size_t i = 0; a.npos > 0 && i < sizeof cmds / sizeof *cmds; i++) {
        if (strcmp(a.pos[0], cmds[i].name) != 0)
            continue;
        if (a.npos != cmds[i].npos || !a.key) {
            fprintf(stderr, "huduma-audit %s: wrong arguments\n%s", a.pos[0], usage);
            return EXIT_USAGE;
        }
        struct audit_check c = {0};
        struct audit_key *key = NULL;
        char *bufs[2] = {NULL, NULL};
        int code =
            load_common(&a, a.pos[1], &c, &key, bufs) == 0 ? cmds[i].run(&a, &c) : EXIT_USAGE;
        audit_key_free(key);
        free(bufs[0]);
        free(bufs[1]);
        return code;
    }
    fprintf(stderr, "huduma-audit: give a command\n%s", usage);
    return EXIT_USAGE;
}
