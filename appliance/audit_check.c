/*
 * appliance/audit_check.c - what `huduma-audit` verifies, with nothing but
 * the log's public key: the checkpoint's signature, its consistency with the
 * last checkpoint the auditor verified (the state), the root recomputed from
 * the entries, the inclusion of an entry; and, when something fails, the
 * first index from which the log cannot be trusted.
 *
 * Trust is built only from what verifies:
 *   - a checkpoint signed by the key gives a root for its size;
 *   - the state is a checkpoint verified before (and its signature is checked
 *     again), so its root is trusted too;
 *   - entries are trusted up to where their recomputed roots match a trusted
 *     root; the log's level-0 tiles (leaf hashes) are trusted when they hash
 *     to a trusted root; the auditor's copy of the entries of the last audit
 *     ("previous") when it hashes to the state's root.
 * The first bad index is the first entry that disagrees with trusted leaf
 * hashes: a changed or removed entry shows there, and a rewritten history
 * shows where the current entries leave the previous copy.  When nothing
 * trusted reaches that far, the verdict says how far the proof goes instead.
 *
 * Entries come as the API serves them: one leaf per line.  Proofs come as
 * the API's JSON, hashes in base64; both parsers are strict and fuzzed.
 */
#include "audit_impl.h"
#include "keys/keys.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_LINE_MAX 65536

static void verdict(struct audit_verdict *v, bool ok, bool has_index, uint64_t index,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void verdict(struct audit_verdict *v, bool ok, bool has_index, uint64_t index,
                    const char *fmt, ...)
{
    v->ok = ok;
    v->has_index = has_index;
    v->first_bad = index;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof v->reason, fmt, ap);
    va_end(ap);
}

/* ---- entries --------------------------------------------------------------------------- */

int audit_entries_parse(const char *text, size_t len, struct audit_entries *e, char *err,
                        size_t errlen)
{
    memset(e, 0, sizeof *e);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines += len && text[len - 1] != '\n';
    e->leaf = calloc(lines ? lines : 1, sizeof *e->leaf);
    e->len = calloc(lines ? lines : 1, sizeof *e->len);
    if (!e->leaf || !e->len) {
        audit_entries_free(e);
        return audit_errorf(err, errlen, "out of memory");
    }
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        if (n > ENTRY_LINE_MAX) {
            audit_entries_free(e);
            return audit_errorf(err, errlen, "entry %zu is longer than %d bytes", e->n,
                                ENTRY_LINE_MAX);
        }
        e->leaf[e->n] = malloc(n ? n : 1);
        if (!e->leaf[e->n]) {
            audit_entries_free(e);
            return audit_errorf(err, errlen, "out of memory");
        }
        memcpy(e->leaf[e->n], text + at, n);
        e->len[e->n++] = n;
        at += n + 1;
    }
    return 0;
}

void audit_entries_free(struct audit_entries *e)
{
    for (size_t i = 0; e->leaf && i < e->n; i++)
        free(e->leaf[i]);
    free(e->leaf);
    free(e->len);
    memset(e, 0, sizeof *e);
}

/* ---- proofs ------------------------------------------------------------------------------ */

static int u64_member(json_t *o, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int proof_object(json_t *o, bool inclusion, struct audit_proof *p, char *err, size_t errlen)
{
    const char *a = inclusion ? "index" : "first", *b = inclusion ? "tree_size" : "second";
    if (json_object_size(o) != 3 || !json_object_get(o, "hashes"))
        return audit_errorf(err, errlen, "the proof must have exactly %s, %s and hashes", a, b);
    if (u64_member(o, a, &p->a) || u64_member(o, b, &p->b))
        return audit_errorf(err, errlen, "the proof's %s and %s must be whole numbers", a, b);
    json_t *hashes = json_object_get(o, "hashes");
    if (!json_is_array(hashes) || json_array_size(hashes) > AUDIT_PROOF_MAX)
        return audit_errorf(err, errlen, "the proof's hashes must be a list of at most %d",
                            AUDIT_PROOF_MAX);
    size_t i;
    json_t *h;
    json_array_foreach(hashes, i, h)
    {
        if (!json_is_string(h) || audit_b64_decode(json_string_value(h), json_string_length(h),
                                                   p->hashes[i], AUDIT_HASH_LEN) != AUDIT_HASH_LEN)
            return audit_errorf(err, errlen, "hash %zu of the proof is not the base64 of 32 bytes",
                                i);
    }
    p->n = json_array_size(hashes);
    return 0;
}

int audit_proof_parse(const char *text, size_t len, bool inclusion, struct audit_proof *p,
                      char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc = json_is_object(o) ? proof_object(o, inclusion, p, err, errlen)
                               : audit_errorf(err, errlen, "the proof is not one JSON object");
    json_decref(o);
    if (rc != 0)
        memset(p, 0, sizeof *p);
    return rc;
}

/* ---- the pieces of a verdict --------------------------------------------------------------- */

struct signed_cp {
    struct audit_note note;
    enum audit_sig_result sig;
};

static const char *sig_words(enum audit_sig_result r)
{
    return r == AUDIT_SIG_BAD ? "carries a signature by the log's key that does not verify"
                              : "carries no signature by the log's key";
}

/* Parses a checkpoint and checks its signature; -1 with the verdict when malformed. */
static int read_checkpoint(const struct audit_check *c, const char *text, size_t len,
                           const char *what, struct signed_cp *out, struct audit_verdict *v)
{
    char why[256];
    if (audit_note_parse(text, len, &out->note, why, sizeof why) != 0) {
        verdict(v, false, false, 0, "%s is not a signed checkpoint: %s", what, why);
        return -1;
    }
    out->sig = audit_note_verify(text, &out->note, c->key);
    return 0;
}

/* The state: a checkpoint this key signed.  0 none, 1 read, -1 (verdict set). */
static int read_state(const struct audit_check *c, struct signed_cp *st, struct audit_verdict *v)
{
    if (!c->state)
        return 0;
    if (read_checkpoint(c, c->state, c->state_len, "the state file", st, v) != 0)
        return -1;
    if (st->sig != AUDIT_SIG_OK) {
        verdict(v, false, false, 0, "the state file %s: it is not a checkpoint of this log",
                sig_words(st->sig));
        return -1;
    }
    return 1;
}

static uint8_t (*leaf_hashes_of(const struct audit_entries *e))[AUDIT_HASH_LEN]
{
    uint8_t(*h)[AUDIT_HASH_LEN] = calloc(e->n ? e->n : 1, AUDIT_HASH_LEN);
    for (size_t i = 0; h && i < e->n; i++)
        audit_leaf_hash(e->leaf[i], e->len[i], h[i]);
    return h;
}

/* Root of the first n hashes (n <= count). */
static void root_of(const uint8_t (*h)[AUDIT_HASH_LEN], uint64_t n, uint8_t root[AUDIT_HASH_LEN])
{
    struct audit_range r;
    audit_range_init(&r);
    for (uint64_t i = 0; i < n; i++)
        audit_range_push(&r, h[i]);
    audit_range_root(&r, root);
}

/* Hashes that are trusted, leaf by leaf, for the first `n`: NULL when none are. */
struct trusted {
    const uint8_t (*h)[AUDIT_HASH_LEN];
    uint64_t n;
    const char *whence;
};

/* The first index in [0, limit) where the entries differ from trusted hashes
 * (an entry missing counts as differing); limit when none does. */
static uint64_t first_difference(const uint8_t (*mine)[AUDIT_HASH_LEN], uint64_t count,
                                 const struct trusted *t, uint64_t limit)
{
    for (uint64_t i = 0; i < limit; i++)
        if (i >= count || i >= t->n || memcmp(mine[i], t->h[i], AUDIT_HASH_LEN) != 0)
            return i;
    return limit;
}

/* Leaf hashes that hash to root at size n: from the tiles or the previous entries. */
static bool trust_if(const uint8_t (*h)[AUDIT_HASH_LEN], uint64_t count, uint64_t n,
                     const uint8_t root[AUDIT_HASH_LEN], const char *whence, struct trusted *t)
{
    uint8_t r[AUDIT_HASH_LEN];
    if (!h || count < n)
        return false;
    root_of(h, n, r);
    if (memcmp(r, root, AUDIT_HASH_LEN) != 0)
        return false;
    *t = (struct trusted){h, n, whence};
    return true;
}

/* ---- the full audit ------------------------------------------------------------------------ */

struct audit_run {
    const struct audit_check *c;
    struct signed_cp cp, st;
    bool have_state;
    uint8_t (*mine)[AUDIT_HASH_LEN]; /* hashes of the entries */
    uint8_t (*prev)[AUDIT_HASH_LEN]; /* hashes of the previous entries */
    uint64_t count, nprev;
};

/* The first entry that differs from trusted leaf hashes: the previous copy
 * when it hashes to the state's root, the log's leaf hashes when they hash to
 * the signed root (or the state's).  False when nothing trusted shows one. */
static bool locate(struct audit_run *r, uint64_t *k, const char **whence)
{
    const struct audit_check *c = r->c;
    const uint8_t(*tiles)[AUDIT_HASH_LEN] = (const uint8_t(*)[AUDIT_HASH_LEN])c->leaf_hashes;
    struct trusted t[2];
    int nt = 0;
    if (r->have_state &&
        trust_if((const uint8_t(*)[AUDIT_HASH_LEN])r->prev, r->nprev, r->st.note.cp.size,
                 r->st.note.cp.root, "the copy of the entries verified before", &t[nt]))
        nt++;
    if (r->cp.sig == AUDIT_SIG_OK &&
        trust_if(tiles, c->nleaf_hashes, r->cp.note.cp.size, r->cp.note.cp.root,
                 "the log's leaf hashes, which hash to the signed root", &t[nt]))
        nt++;
    else if (r->have_state &&
             trust_if(tiles, c->nleaf_hashes, r->st.note.cp.size, r->st.note.cp.root,
                      "the log's leaf hashes, which hash to the root verified before", &t[nt]))
        nt++;
    bool found = false;
    for (int i = 0; i < nt; i++) {
        uint64_t d =
            first_difference((const uint8_t(*)[AUDIT_HASH_LEN])r->mine, r->count, &t[i], t[i].n);
        if (d < t[i].n && (!found || d < *k)) {
            *k = d;
            *whence = t[i].whence;
            found = true;
        }
    }
    return found;
}

static void located(struct audit_run *r, uint64_t k, const char *whence, struct audit_verdict *v)
{
    verdict(v, false, true, k, "entry %llu %s: its hash is not the one in %s",
            (unsigned long long)k,
            k >= r->count ? "is missing (the log served fewer entries)" : "was changed or removed",
            whence);
}

/* The entries against the state's root: the log before n0 must be unchanged. */
static bool check_history(struct audit_run *r, struct audit_verdict *v)
{
    uint64_t n0 = r->st.note.cp.size, k;
    uint8_t root[AUDIT_HASH_LEN];
    if (r->count >= n0) {
        root_of((const uint8_t(*)[AUDIT_HASH_LEN])r->mine, n0, root);
        if (memcmp(root, r->st.note.cp.root, AUDIT_HASH_LEN) == 0)
            return true;
    }
    const char *whence;
    if (locate(r, &k, &whence)) {
        located(r, k, whence, v);
        char more[160];
        snprintf(more, sizeof more, "; the log verified before (tree size %llu) was %s",
                 (unsigned long long)n0, k >= r->count ? "cut short" : "rewritten from there");
        strncat(v->reason, more, sizeof v->reason - strlen(v->reason) - 1);
        return false;
    }
    verdict(v, false, false, 0,
            "the first %llu entries do not hash to the root verified before: the log was "
            "rewritten or cut short before index %llu (give --previous with the entries of "
            "that audit, or --leaf-hashes, to name the first changed one)",
            (unsigned long long)n0, (unsigned long long)n0);
    return false;
}

/* The entries against the checkpoint's root; names the first bad index. */
static bool check_root(struct audit_run *r, struct audit_verdict *v)
{
    uint64_t n = r->cp.note.cp.size, k;
    uint8_t root[AUDIT_HASH_LEN];
    if (r->count >= n) {
        root_of((const uint8_t(*)[AUDIT_HASH_LEN])r->mine, n, root);
        if (memcmp(root, r->cp.note.cp.root, AUDIT_HASH_LEN) == 0)
            return true;
    }
    const char *whence;
    if (locate(r, &k, &whence)) {
        located(r, k, whence, v);
        return false;
    }
    uint64_t from = r->have_state ? r->st.note.cp.size : 0;
    verdict(v, false, r->have_state, from,
            "the %llu entries do not hash to the signed root of tree size %llu%s; %s",
            (unsigned long long)r->count, (unsigned long long)n,
            r->count < n ? " (fewer entries than the tree holds)" : "",
            r->c->leaf_hashes
                ? "the leaf hashes given do not hash to it either"
                : "give --leaf-hashes (the level-0 tiles) to name the first bad entry");
    return false;
}

/* No valid signature: how far the trusted state still vouches for the entries. */
static void unsigned_verdict(struct audit_run *r, struct audit_verdict *v)
{
    char head[200];
    snprintf(head, sizeof head, "the checkpoint of tree size %llu %s",
             (unsigned long long)r->cp.note.cp.size, sig_words(r->cp.sig));
    if (!r->have_state) {
        verdict(v, false, true, 0, "%s; nothing of the log can be trusted", head);
        return;
    }
    uint64_t n0 = r->st.note.cp.size;
    if (r->c->entries && !check_history(r, v)) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", v->reason);
        verdict(v, false, v->has_index, v->first_bad, "%s; and %s", head, inner);
        return;
    }
    verdict(v, false, true, n0,
            "%s; the log is vouched for only up to the tree of size %llu verified before: "
            "entries from %llu on are not",
            head, (unsigned long long)n0, (unsigned long long)n0);
}

static void run_full(struct audit_run *r, struct audit_verdict *v)
{
    const struct audit_check *c = r->c;
    if (r->have_state && strcmp(r->st.note.cp.origin, r->cp.note.cp.origin) != 0) {
        verdict(v, false, false, 0, "the checkpoint is of another log (%s, not %s)",
                r->cp.note.cp.origin, r->st.note.cp.origin);
        return;
    }
    if (r->cp.sig != AUDIT_SIG_OK) {
        unsigned_verdict(r, v);
        return;
    }
    uint64_t n = r->cp.note.cp.size, n0 = r->have_state ? r->st.note.cp.size : 0;
    if (r->have_state && n < n0) {
        verdict(v, false, true, n,
                "the signed tree has %llu entries, fewer than the %llu verified before: "
                "entries from %llu on were removed",
                (unsigned long long)n, (unsigned long long)n0, (unsigned long long)n);
        return;
    }
    if (!c->entries) {
        verdict(v, true, false, 0, "the checkpoint of tree size %llu is signed by the log's key",
                (unsigned long long)n);
        return;
    }
    if (r->have_state && !check_history(r, v))
        return;
    if (!check_root(r, v))
        return;
    verdict(v, true, false, 0,
            "%llu entries verified: they hash to the signed root of tree size %llu%s",
            (unsigned long long)n, (unsigned long long)n,
            r->have_state ? ", which extends the tree verified before" : "");
}

void audit_check_full(const struct audit_check *c, struct audit_verdict *v)
{
    struct audit_run r = {.c = c};
    memset(v, 0, sizeof *v);
    if (read_checkpoint(c, c->checkpoint, c->checkpoint_len, "the checkpoint", &r.cp, v) != 0)
        return;
    int st = read_state(c, &r.st, v);
    if (st < 0)
        return;
    r.have_state = st == 1;
    if (c->entries) {
        r.mine = leaf_hashes_of(c->entries);
        r.count = c->entries->n;
    }
    if (c->previous) {
        r.prev = leaf_hashes_of(c->previous);
        r.nprev = c->previous->n;
    }
    if ((c->entries && !r.mine) || (c->previous && !r.prev))
        verdict(v, false, false, 0, "out of memory");
    else
        run_full(&r, v);
    free(r.mine);
    free(r.prev);
}

/* ---- proofs from the log --------------------------------------------------------------------- */

void audit_check_consistency(const struct audit_check *c, const struct audit_proof *p,
                             struct audit_verdict *v)
{
    struct signed_cp cp, st;
    memset(v, 0, sizeof *v);
    if (read_checkpoint(c, c->checkpoint, c->checkpoint_len, "the checkpoint", &cp, v) != 0)
        return;
    int have = read_state(c, &st, v);
    if (have < 0)
        return;
    if (cp.sig != AUDIT_SIG_OK) {
        verdict(v, false, have == 1, have == 1 ? st.note.cp.size : 0,
                "the checkpoint of tree size %llu %s", (unsigned long long)cp.note.cp.size,
                sig_words(cp.sig));
        return;
    }
    if (have == 0) {
        verdict(v, true, false, 0,
                "the checkpoint of tree size %llu is signed; there is no earlier one to compare",
                (unsigned long long)cp.note.cp.size);
        return;
    }
    uint64_t n0 = st.note.cp.size, n = cp.note.cp.size;
    if (strcmp(st.note.cp.origin, cp.note.cp.origin) != 0)
        verdict(v, false, false, 0, "the checkpoint is of another log (%s)", cp.note.cp.origin);
    else if (n < n0)
        verdict(v, false, true, n,
                "the signed tree has %llu entries, fewer than the %llu verified before: entries "
                "from %llu on were removed",
                (unsigned long long)n, (unsigned long long)n0, (unsigned long long)n);
    else if (p->a != n0 || p->b != n)
        verdict(v, false, false, 0, "the proof is from %llu to %llu, not from %llu to %llu",
                (unsigned long long)p->a, (unsigned long long)p->b, (unsigned long long)n0,
                (unsigned long long)n);
    else if (!keys_merkle_consistency(n0, n, st.note.cp.root, cp.note.cp.root, p->hashes, p->n))
        verdict(v, false, false, 0,
                "the tree of size %llu does not extend the tree of size %llu verified before: "
                "the log was rewritten or forked (run the full audit with --previous to name the "
                "first changed entry)",
                (unsigned long long)n, (unsigned long long)n0);
    else
        verdict(v, true, false, 0,
                "the tree of size %llu extends the tree of size %llu verified before",
                (unsigned long long)n, (unsigned long long)n0);
}

void audit_check_inclusion(const struct audit_check *c, const struct audit_proof *p,
                           const char *leaf, size_t len, struct audit_verdict *v)
{
    struct signed_cp cp;
    memset(v, 0, sizeof *v);
    if (read_checkpoint(c, c->checkpoint, c->checkpoint_len, "the checkpoint", &cp, v) != 0)
        return;
    uint64_t n = cp.note.cp.size;
    if (cp.sig != AUDIT_SIG_OK) {
        verdict(v, false, false, 0, "the checkpoint of tree size %llu %s", (unsigned long long)n,
                sig_words(cp.sig));
        return;
    }
    if (p->b != n) {
        verdict(v, false, false, 0,
                "the proof is for a tree of %llu entries, the checkpoint's has %llu",
                (unsigned long long)p->b, (unsigned long long)n);
        return;
    }
    uint8_t h[AUDIT_HASH_LEN];
    audit_leaf_hash(leaf, len, h);
    if (keys_merkle_inclusion(p->a, n, h, p->hashes, p->n, cp.note.cp.root))
        verdict(v, true, false, 0, "entry %llu is in the signed tree of size %llu",
                (unsigned long long)p->a, (unsigned long long)n);
    else
        verdict(v, false, true, p->a,
                "entry %llu as given is not in the signed tree of size %llu (changed, or the "
                "proof is wrong)",
                (unsigned long long)p->a, (unsigned long long)n);
}
